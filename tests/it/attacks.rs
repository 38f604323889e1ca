//! The public pages and the command line used against the operator or a
//! stranger, as an attacker would: each test starts the real server (or
//! runs the real binary) and shows one abuse no longer works.

use std::time::Duration;

use reqwest::StatusCode;

use crate::env::TestEnv;
use crate::web::Site;

async fn subscriber_rows(site: &Site) -> Vec<(String, String)> {
    sqlx::query_as("SELECT email, status FROM subscribers ORDER BY id")
        .fetch_all(site.app.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_spellings_of_an_address_are_one_subscriber_and_get_one_mail() {
    let site = Site::start().await;
    let (status, _) = site.subscribe("c@example.org", "diffusion").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(site.mails(1).await[0].rcpt_to, ["c@example.org"]);

    for look_alike in [
        "c@\u{ff45}xample.org",
        "c@e\u{ff58}ample.org",
        "c@\u{1d41e}xample.org",
        "c@\u{24d4}xample.org",
        "c@EXAMPLE.org",
    ] {
        let (status, _) = site.subscribe(look_alike, "diffusion").await;
        assert_eq!(status, StatusCode::OK, "{look_alike:?}");
    }
    // One internationalised domain, typed both ways, is one subscriber too.
    site.subscribe("t22@bücher.example", "diffusion").await;
    site.subscribe("t22@xn--bcher-kva.example", "diffusion")
        .await;
    let got = site.mails(2).await;
    assert_eq!(got[1].rcpt_to, ["t22@xn--bcher-kva.example"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.env.smtp.messages().len(), 2, "a look-alike got a mail");
    assert_eq!(
        subscriber_rows(&site).await,
        [
            ("c@example.org".to_string(), "pending".to_string()),
            (
                "t22@xn--bcher-kva.example".to_string(),
                "pending".to_string()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_strict_idna_refuses_get_the_form_back_naming_what_is_wrong() {
    let site = Site::start().await;
    for (bad, says) in [
        ("me@\u{2488}wouldbeinvalid.com", "U+2488"),
        ("me@xn--0.tld", "not a valid punycode"),
        ("me@1.xn--4dbc.com", "right-to-left"),
        ("me@yy--0.tld", "third and fourth places"),
        ("me@bad.tld-2", "top-level domain"),
    ] {
        let (status, page) = site.subscribe(bad, "diffusion").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert!(page.contains(says), "{bad:?}: the page lacks {says:?}");
    }
    assert!(subscriber_rows(&site).await.is_empty());
    assert!(site.env.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_folds_look_alike_rows_into_the_oldest_confirmed_one_and_says_so() {
    let env = TestEnv::new().await;
    env.ok(&["migrate"]);
    let url = format!("sqlite://{}", env.dir.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (email, status, created, confirmed) in [
        (
            "c@\u{ff45}xample.org",
            "pending",
            "2026-01-01T00:00:00Z",
            None,
        ),
        (
            "c@example.org",
            "active",
            "2026-02-01T00:00:00Z",
            Some("2026-02-01T00:00:00Z"),
        ),
        (
            "c@\u{24d4}xample.org",
            "active",
            "2026-01-15T00:00:00Z",
            Some("2026-01-15T00:00:00Z"),
        ),
        (
            "t@bücher.example",
            "active",
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:00:00Z"),
        ),
    ] {
        sqlx::query(
            "INSERT INTO subscribers (email, status, created_at, confirmed_at, updated_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(email)
        .bind(status)
        .bind(created)
        .bind(confirmed)
        .bind(created)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let out = env.ok(&["migrate"]);
    assert!(out.contains("subscriber 3 kept"), "{out}");
    assert!(out.contains("merged into it"), "{out}");
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, email FROM subscribers ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            (3, "c@example.org".to_string()),
            (4, "t@xn--bcher-kva.example".to_string()),
        ]
    );
}
