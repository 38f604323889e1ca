//! Source faults end to end through the real binary: a retried 429, a
//! truncated XML feed, an empty day with and without an announcement
//! expected, and a paper edited upstream between two fetches.

use crate::env::{hf_day, TestEnv, HF_DAY};
use crate::support::{fixture_path, FixtureResponse};

/// An arXiv announcement feed source at `/rss/cs.LG` and a Hugging Face
/// source that retries, at `/retrying/daily_papers`.
async fn env_with_more_sources() -> TestEnv {
    let env = TestEnv::new().await;
    let extra = format!(
        r#"
[[sources]]
name = "arxiv"
kind = "arxiv_rss"
url = "{rss}"
categories = ["cs.LG"]
retries = 0
timeout_secs = 5
[[sources]]
name = "retrying"
kind = "hf_daily_papers"
url = "{retrying}"
retries = 2
timeout_secs = 5
"#,
        rss = env.http.url("/rss"),
        retrying = env.http.url("/retrying/daily_papers"),
    );
    let toml = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(&env.config_path, toml + &extra).unwrap();
    env
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const EMPTY_RSS: &str = r#"<rss version="2.0"><channel><title>cs.LG updates on arXiv.org</title>
<pubDate>Fri, 12 Jun 2026 00:00:00 -0400</pubDate></channel></rss>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_and_a_500_are_retried_and_the_papers_land() {
    let env = env_with_more_sources().await;
    env.http.route_script(
        "/retrying/daily_papers",
        vec![
            FixtureResponse::status(429).with_header("Retry-After", "0"),
            FixtureResponse::status(500),
            FixtureResponse::fixture("hf_daily_papers_2026-06-12_subset_6items.json")
                .with_content_type("application/json"),
        ],
    );
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "retrying"]);
    assert!(out.contains("retrying: 6 papers (6 new"), "{out}");
    assert_eq!(env.http.requests_to("/retrying/daily_papers").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_xml_feed_fails_naming_the_source_and_stored_papers_stay_intact() {
    let env = env_with_more_sources().await;
    env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    let app = env.app().await;
    let before = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    assert!(!before.is_empty());

    let feed = std::fs::read(fixture_path(
        "arxiv_rss_2026-04-27_cs.LG_trimmed_3items.xml",
    ))
    .unwrap();
    env.http.route(
        "/rss/cs.LG",
        FixtureResponse::body(feed[..feed.len() * 2 / 3].to_vec())
            .with_content_type("application/rss+xml"),
    );
    let out = env.paperboy(&["fetch", "--date", HF_DAY, "--source", "arxiv"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("arxiv: FAILED"), "{text}");
    let after = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    assert_eq!(before, after);
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_silent_on_a_day_it_announces_is_a_warning_in_the_output_and_in_status() {
    let env = env_with_more_sources().await;
    env.http.route(
        "/api/daily_papers",
        FixtureResponse::body("[]").with_content_type("application/json"),
    );
    env.http.route(
        "/rss/cs.LG",
        FixtureResponse::body(EMPTY_RSS).with_content_type("application/rss+xml"),
    );
    // 2026-06-12 is a Friday: both Hugging Face and arXiv should have announced.
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    assert!(
        out.contains("hf: WARNING: no papers, on a day it normally announces"),
        "{out}"
    );
    let status = env.paperboy(&["status"]);
    let status_text = stdout(&status);
    assert!(
        status_text.contains("warning: no papers from hf on a day they announce"),
        "{status_text}"
    );
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "arxiv"]);
    assert!(out.contains("arxiv: WARNING"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_arxiv_feed_on_a_weekend_is_an_ordinary_empty_day() {
    let env = env_with_more_sources().await;
    env.http.route(
        "/rss/cs.LG",
        FixtureResponse::body(EMPTY_RSS).with_content_type("application/rss+xml"),
    );
    let out = env.ok(&["fetch", "--date", "2026-06-13", "--source", "arxiv"]);
    assert!(out.contains("arxiv: 0 papers"), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    let status = stdout(&env.paperboy(&["status"]));
    assert!(!status.contains("warning"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_edited_upstream_is_updated_in_place_and_never_mailed_twice() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:\"sparse attention\"",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    let first = env
        .smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(first.len(), 1);

    let app = env.app().await;
    let before = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    let original = before
        .iter()
        .find(|p| p.title.to_lowercase().contains("sparse attention"))
        .expect("a sparse attention paper in the fixture")
        .clone();
    let body =
        std::fs::read_to_string(fixture_path("hf_daily_papers_2026-06-12_full_30items.json"))
            .unwrap();
    let edited_title = format!("{} (revised)", original.title);
    let edited = body
        .replacen(
            &serde_json::to_string(&original.title).unwrap(),
            &serde_json::to_string(&edited_title).unwrap(),
            1,
        )
        .replacen("sparse attention", "sparse attention, revised", 1);
    assert_ne!(edited, body, "the fixture was edited");
    env.http.route(
        "/api/daily_papers",
        FixtureResponse::body(edited).with_content_type("application/json"),
    );
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    assert!(out.contains("0 new"), "{out}");
    assert!(!out.contains(" 0 updated"), "{out}");

    let after = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    assert_eq!(after.len(), before.len(), "updated in place, not added");
    let revised = after.iter().find(|p| p.id == original.id).unwrap();
    assert_eq!(revised.title, edited_title);

    // The same day and the next: the edited paper is not sent again.
    env.ok(&["digest", "--date", HF_DAY]);
    env.ok(&["digest", "--date", "2026-06-13"]);
    let all = env
        .smtp
        .wait_for(2, std::time::Duration::from_millis(500))
        .await;
    assert_eq!(all.len(), 1, "an edit does not make a paper new");
}
