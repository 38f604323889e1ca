//! The trending digest: an address alone (from the form or the command
//! line) gets the day's most upvoted papers; a subscriber with topics can
//! ask for them after their topics; the ledger keeps every paper to once.

use chrono::Utc;
use reqwest::StatusCode;

use crate::env::HF_DAY;
use crate::support;
use crate::web::{link_in, Site, PUBLIC};

fn path_of(public: &str) -> String {
    public.strip_prefix(PUBLIC).unwrap().to_string()
}

/// The recorded day's papers, announced today; at most 5 top papers.
async fn site() -> (Site, String) {
    let site =
        Site::with_config(|toml| toml.replace("[digest]\n", "[digest]\ntrending_count = 5\n"))
            .await;
    site.env.ok(&["fetch", "--date", HF_DAY]);
    let today = site.app.today(Utc::now()).to_string();
    sqlx::query("UPDATE paper_sightings SET day = ?")
        .bind(&today)
        .execute(site.app.store.pool())
        .await
        .unwrap();
    (site, today)
}

/// The numbered titles of a digest's text part, in order.
fn titles(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (n, rest) = l.split_once(". ")?;
            n.parse::<usize>().ok().map(|_| rest.trim().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_alone_subscribes_to_the_days_top_papers_and_never_gets_one_twice() {
    let (site, today) = site().await;
    let (status, body) = site
        .post_form(
            "/subscribe",
            &[("email", "ada@example.org"), ("topics", "")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = site.mails(1).await.remove(0);
    let text = support::text_part(&mail.parsed()).unwrap();
    // The mail to an unconfirmed address carries nothing from the form;
    // the confirm page says what the address asked for.
    assert!(text.contains("a paper digest service"), "{text}");
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));
    let (_, page) = site.get(&path_of(&confirm)).await;
    assert!(page.contains("the day's top papers"), "{page}");
    let (status, done) = site.post_form(&path_of(&confirm), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let manage = done
        .split(&format!(r#"<a href="{PUBLIC}"#))
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no settings link in {done}"))
        .to_string();
    let (_, settings) = site.get(&manage).await;
    assert!(
        settings.contains("No topics: your digest is the top papers of the day"),
        "{settings}"
    );

    site.env.ok(&["digest", "--date", &today]);
    let digest = site.mails(2).await.remove(1);
    let text = support::text_part(&digest.parsed()).unwrap();
    let got = titles(&text);
    assert_eq!(got.len(), 5, "{text}");
    for (title, start) in got.iter().zip([
        "EvoArena",
        "MiniMax Sparse Attention",
        "Robust-U1",
        "HYDRA-X",
        "Demystifying Hidden-State",
    ]) {
        assert!(title.starts_with(start), "{title} is not {start}: {text}");
    }
    assert!(text.contains("Top papers of the day"), "{text}");
    assert!(!text.contains("more matching"), "{text}");
    // Its subject says what it is, not "on your topics".
    let subject = support::header(&digest.parsed(), "Subject").unwrap();
    assert!(subject.starts_with("Top papers of the day — "), "{subject}");

    // The next day's top papers are the next five, never the same again.
    let next = (site.app.today(Utc::now()) + chrono::Duration::days(1)).to_string();
    sqlx::query("INSERT INTO paper_sightings (paper_id, source, day, seen_at) SELECT paper_id, source, ?, seen_at FROM paper_sightings")
        .bind(&next)
        .execute(site.app.store.pool())
        .await
        .unwrap();
    site.env.ok(&["digest", "--date", &next]);
    let second = site.mails(3).await.remove(2);
    let text2 = support::text_part(&second.parsed()).unwrap();
    let again = titles(&text2);
    assert_eq!(again.len(), 5, "{text2}");
    assert!(
        again.iter().all(|t| !got.contains(t)),
        "{again:?} repeats {got:?}"
    );
    assert!(again[0].starts_with("VIA-SD"), "{text2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_papers_after_the_topics_leave_out_what_the_topics_listed() {
    let (site, today) = site().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "bob@example.org",
        "--topic",
        "ti:evoarena",
    ]);
    let bob = site.subscriber("bob@example.org").await;
    assert!(!bob.top_papers);
    site.app
        .store
        .set_top_papers(bob.id, bob.link_version, true)
        .await
        .unwrap();
    site.env.ok(&["digest", "--date", &today]);
    let digest = site.mails(1).await.remove(0);
    let text = support::text_part(&digest.parsed()).unwrap();
    let got = titles(&text);
    assert_eq!(got.len(), 6, "{text}");
    assert!(got[0].starts_with("EvoArena"), "{text}");
    assert!(got[1].starts_with("MiniMax Sparse Attention"), "{text}");
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a paper twice: {text}");
    let topic_at = text.find("ti:evoarena").unwrap();
    let top_at = text.find("Top papers of the day").unwrap();
    assert!(
        topic_at < top_at,
        "the top papers come after the topics: {text}"
    );
    let ledger: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sent_papers WHERE subscriber_id = ?")
            .bind(bob.id.get())
            .fetch_one(site.app.store.pool())
            .await
            .unwrap();
    assert_eq!(ledger, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_adds_a_trending_subscriber_without_topics() {
    let (site, today) = site().await;
    let out = site.env.ok(&["subscribers", "add", "cy@example.org"]);
    assert!(out.contains("added subscriber"), "{out}");
    let cy = site.subscriber("cy@example.org").await;
    assert!(cy.topics.is_empty());
    assert!(cy.wants_top_papers());
    site.env.ok(&["digest", "--date", &today]);
    let digest = site.mails(1).await.remove(0);
    let text = support::text_part(&digest.parsed()).unwrap();
    assert_eq!(titles(&text).len(), 5, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_trending_digest_is_headed_the_top_papers_of_the_week() {
    let (site, today) = site().await;
    let weekday = site
        .app
        .today(Utc::now())
        .format("%a")
        .to_string()
        .to_lowercase();
    site.post_form(
        "/subscribe",
        &[
            ("email", "wes@example.org"),
            ("topics", ""),
            ("frequency", "weekly"),
            ("weekday", &weekday),
        ],
    )
    .await;
    let mail = site.mails(1).await.remove(0);
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));
    let (status, _) = site.post_form(&path_of(&confirm), &[]).await;
    assert_eq!(status, StatusCode::OK);
    site.env.ok(&["digest", "--date", &today]);
    let digest = site.mails(2).await.remove(1);
    let text = support::text_part(&digest.parsed()).unwrap();
    assert!(text.contains("Top papers of the week"), "{text}");
    assert!(!text.contains("Top papers of the day"), "{text}");
    let subject = support::header(&digest.parsed(), "Subject").unwrap();
    assert!(
        subject.starts_with("Top papers of the week — "),
        "{subject}"
    );
}
