//! End to end for the feed sources: a journal's RSS feed and the bioRxiv /
//! medRxiv details API served from a real HTTP server on loopback, fetched
//! by the real binary, matched, and the digests read back from the real
//! SMTP server, both parts.

use std::time::Duration;

use serde_json::json;

use crate::env::{TestEnv, HF_DAY};
use crate::support::{self, html_part, text_part, FixtureResponse};

/// The highlight paperboy wraps matched words in (titles and abstracts),
/// opening tag.
const MARK: &str = "<mark>";

/// Both parts of the one digest `to` received, the HTML without
/// paperboy's own highlight marks (so a title reads as one string; the
/// feed's markup, escaped or not, stays for the checks).
async fn digest_parts(env: &TestEnv, to: &str) -> (String, String) {
    let mails = env.smtp.wait_for(1, Duration::from_secs(10)).await;
    let mail = mails
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == to))
        .unwrap_or_else(|| panic!("no digest for {to}"));
    let msg = support::parse(mail);
    let html = html_part(&msg).unwrap();
    assert!(
        html.matches(MARK).count() == html.matches("</mark>").count(),
        "{html}"
    );
    let html = html.replace(MARK, "").replace("</mark>", "");
    (html, text_part(&msg).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_titles_with_markup_and_hostile_titles_reach_both_parts_of_the_digest_as_text() {
    let extra = "\n[[sources]]\nname = \"journal\"\nkind = \"feed\"\nurl = \"FEED\"\nretries = 0\n";
    let env = TestEnv::with_config(extra).await;
    env.http.route(
        "/journal/rss.xml",
        FixtureResponse::fixture("synthetic/journal_feed_markup_and_hostile_titles.xml")
            .with_content_type("application/rss+xml; charset=utf-8"),
    );
    env.edit_config("FEED", &env.http.url("/journal/rss.xml"));
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "journal"]);
    assert!(
        out.contains("journal: 4 papers (4 new, 0 updated); 1 skipped, 1 unreadable date"),
        "{out}"
    );
    let status = env.ok(&["status"]);
    assert!(
        status.contains("journal: 1 skipped, 1 unreadable date"),
        "{status}"
    );

    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "polymerase",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    let (html, text) = digest_parts(&env, "ada@example.org").await;

    for part in [&html, &text] {
        assert!(
            part.contains("Structure of E. coli RNA polymerase"),
            "the journal title reads as text:\n{part}"
        );
        // The relative link was resolved against the feed's URL.
        assert!(
            part.contains(&env.http.url("/articles/2026/ecoli-polymerase")),
            "{part}"
        );
        assert!(part.contains("Polymerase fidelity under stress"), "{part}");
        // `&` as the part writes it: itself in text, a reference in HTML.
        assert!(
            ["&", "&amp;", "&#38;"]
                .iter()
                .any(|amp| part.contains(&format!("Polymerase pausing {amp} backtracking"))),
            "{part}"
        );
        assert!(
            part.contains("Polymerase kinetics with an unreadable date"),
            "{part}"
        );
        let lower = part.to_lowercase();
        for hostile in [
            "alert(",
            "<script",
            "&lt;script",
            "<iframe",
            "&lt;iframe",
            "<object",
            "&lt;object",
            "<meta http-equiv",
            "&lt;meta",
            "<blink",
            "&lt;blink",
            "&lt;i&gt;",
            "document.cookie",
            "body{display",
            "onerror",
            "evil.example",
        ] {
            assert!(
                !lower.contains(hostile),
                "{hostile:?} reached the mail:\n{part}"
            );
        }
    }
    assert!(
        !html.contains("<i>E. coli"),
        "no markup from the feed is kept"
    );
}

/// One details-API record.
fn record(
    doi: &str,
    version: u32,
    title: &str,
    category: &str,
    abstract_text: &str,
    server: &str,
) -> serde_json::Value {
    json!({
        "doi": doi,
        "title": title,
        "authors": "Okafor, A. N.; Lindqvist, M.",
        "author_corresponding": "Amara N. Okafor",
        "author_corresponding_institution": "Example Institute",
        "date": HF_DAY,
        "version": version.to_string(),
        "type": "new results",
        "license": "cc_by",
        "category": category,
        "jatsxml": "",
        "abstract": abstract_text,
        "published": "NA",
        "server": server,
    })
}

fn page(total: usize, cursor: usize, records: Vec<serde_json::Value>) -> FixtureResponse {
    let body = json!({
        "messages": [{"status": "ok", "interval": format!("{HF_DAY}/{HF_DAY}"), "cursor": cursor,
                      "count": records.len(), "total": total.to_string()}],
        "collection": records,
    });
    FixtureResponse::body(body.to_string()).with_content_type("application/json;charset=utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn biorxiv_and_medrxiv_are_fetched_by_cursor_and_matched_by_category_and_words() {
    let extra = "\n[[sources]]\nname = \"biorxiv\"\nkind = \"biorxiv\"\nserver = \"biorxiv\"\nurl = \"DETAILS\"\nretries = 0\nmin_interval_ms = 0\n\
                 \n[[sources]]\nname = \"medrxiv\"\nkind = \"biorxiv\"\nserver = \"medrxiv\"\nurl = \"DETAILS\"\nretries = 0\nmin_interval_ms = 0\n";
    let env = TestEnv::with_config(extra).await;
    env.edit_config(
        "url = \"DETAILS\"",
        &format!("url = \"{}\"", env.http.url("/details")),
    );

    // bioRxiv: a full first page and a short second one; version 1 of the
    // neuroscience preprint comes after its version 2.
    let mut first: Vec<serde_json::Value> = (0..99)
        .map(|i| {
            record(
                &format!("10.1101/2026.06.10.{:06}", 500000 + i),
                1,
                &format!("Filler genome assembly {i}"),
                "genomics",
                "An assembly.",
                "bioRxiv",
            )
        })
        .collect();
    first.insert(
        0,
        record(
            "10.1101/2026.06.09.612345",
            2,
            "Hippocampal replay predicts place-cell remapping in <i>Mus musculus</i>",
            "neuroscience",
            "Replay during sleep &amp; wake.",
            "bioRxiv",
        ),
    );
    let second = vec![
        record(
            "10.1101/2026.06.09.612345",
            1,
            "Old title of the replay preprint",
            "neuroscience",
            "Old abstract.",
            "bioRxiv",
        ),
        record(
            "10.1101/2026.06.11.777777",
            1,
            "Mitochondrial fission in dividing fibroblasts",
            "cell biology",
            "Fission imaged live.",
            "bioRxiv",
        ),
    ];
    let day = format!("{HF_DAY}/{HF_DAY}");
    env.http
        .route(&format!("/details/biorxiv/{day}/0"), page(102, 0, first))
        .route(
            &format!("/details/biorxiv/{day}/100"),
            page(102, 100, second),
        );

    // medRxiv: the second page repeats the first (the API has been seen
    // doing so) although the total promises more.
    let med: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            if i == 7 {
                record(
                    "10.1101/2026.06.08.26300007",
                    1,
                    "Measles vaccination coverage and outbreaks, 2020-2026",
                    "Epidemiology",
                    "Coverage fell.",
                    "medRxiv",
                )
            } else {
                record(
                    &format!("10.1101/2026.06.08.2630{:04}", 1000 + i),
                    1,
                    &format!("Cohort study {i}"),
                    "Public and Global Health",
                    "A cohort.",
                    "medRxiv",
                )
            }
        })
        .collect();
    env.http
        .route(
            &format!("/details/medrxiv/{day}/0"),
            page(500, 0, med.clone()),
        )
        .route(&format!("/details/medrxiv/{day}/100"), page(500, 100, med));

    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "biorxiv"]);
    assert!(out.contains("biorxiv: 101 papers (101 new"), "{out}");
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "medrxiv"]);
    assert!(out.contains("medrxiv: 100 papers (100 new"), "{out}");
    let cursors = |server: &str| -> Vec<String> {
        env.http
            .requests()
            .iter()
            .filter(|r| r.path.starts_with(&format!("/details/{server}/")))
            .map(|r| r.path.rsplit('/').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(cursors("biorxiv"), ["0", "100"]);
    assert_eq!(
        cursors("medrxiv"),
        ["0", "100"],
        "a repeated page ends the paging"
    );

    for (email, topic) in [
        ("neuro@example.org", "cat:neuroscience AND hippocampal"),
        ("cell@example.org", "cat:cell_biology fission"),
        ("epi@example.org", "cat:epidemiology AND measles"),
    ] {
        env.ok(&["subscribers", "add", email, "--topic", topic]);
    }
    env.ok(&["digest", "--date", HF_DAY]);
    let all = env.smtp.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(all.len(), 3);

    let (html, text) = digest_parts(&env, "neuro@example.org").await;
    for part in [&html, &text] {
        assert!(
            part.contains("Hippocampal replay predicts place-cell remapping in Mus musculus"),
            "the latest version's title, as text:\n{part}"
        );
        assert!(!part.contains("Old title"), "{part}");
        assert!(!part.contains("Filler genome"), "{part}");
        assert!(
            part.contains("https://www.biorxiv.org/content/10.1101/2026.06.09.612345v2"),
            "{part}"
        );
    }
    let (html, _) = digest_parts(&env, "cell@example.org").await;
    assert!(
        html.contains("Mitochondrial fission in dividing fibroblasts"),
        "{html}"
    );
    let (html, text) = digest_parts(&env, "epi@example.org").await;
    assert!(html.contains("Measles vaccination coverage"), "{html}");
    assert!(
        text.contains("https://www.medrxiv.org/content/10.1101/2026.06.08.26300007v1"),
        "{text}"
    );
    assert!(!text.contains("Cohort study"), "{text}");
}
