//! Data care with the real binary, the real server and a real SQLite file:
//! `subscribers export EMAIL` / `forget EMAIL`, the manage page's "Download
//! my data" and "Delete everything about me", and the retention job moved
//! through time with an injected clock.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use paperboy::domain::{NewTopic, Preferences, SubscriberEmail, SubscriberId};
use paperboy::links::Purpose;
use paperboy::store::{DbError, Store};
use reqwest::StatusCode;

use crate::env::{TestEnv, HF_DAY};
use crate::web::Site;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_forget_erases_one_person_and_leaves_the_others_alone() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    for who in ["ada@example.org", "bob@example.org"] {
        env.ok(&[
            "subscribers",
            "add",
            who,
            "--topic",
            "diffusion OR language",
        ]);
    }
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(env.smtp.messages().len(), 2);

    let ada = json(&env.ok(&["subscribers", "export", "ada@example.org"]));
    assert_eq!(ada["subscriber"]["email"], "ada@example.org");
    assert_eq!(ada["subscriber"]["status"], "active");
    assert_eq!(ada["topics"][0]["query"], "diffusion OR language");
    assert_eq!(ada["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(ada["deliveries"][0]["digest_date"], HF_DAY);
    let sent = ada["sent_papers"].as_array().unwrap().len();
    assert!(sent > 0, "{ada}");
    for table in [
        "bounces",
        "subscription_requests",
        "paper_marks",
        "ranking_profiles",
    ] {
        assert!(ada[table].is_array(), "{table} missing: {ada}");
    }
    let bob_before = env.ok(&["subscribers", "export", "bob@example.org"]);

    let out = env.ok(&["subscribers", "forget", "ada@example.org"]);
    assert!(out.contains("forgot ada@example.org"), "{out}");
    assert!(out.contains("1 topics"), "{out}");
    assert!(out.contains(&format!("{sent} sent_papers")), "{out}");
    assert!(out.contains("kept without the address"), "{out}");

    for args in [
        ["subscribers", "export", "ada@example.org"],
        ["subscribers", "forget", "ada@example.org"],
    ] {
        let out = env.paperboy(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("no subscriber with the address ada@example.org"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        env.ok(&["subscribers", "export", "bob@example.org"]),
        bob_before
    );
    let list = env.ok(&["subscribers", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(
        list.contains("bob@example.org") && !list.contains("ada"),
        "{list}"
    );
    let exported = env.ok(&["subscribers", "export"]);
    assert!(!exported.contains("ada"), "{exported}");

    // Nothing with the address is left anywhere in the database file.
    let store = Store::open_existing(&env.dir.db_url()).await.unwrap();
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM subscribers UNION ALL SELECT COALESCE(last_error, '') FROM deliveries",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(!dump.iter().any(|s| s.contains("ada@")), "{dump:?}");
    store.close().await;

    // The same address may subscribe again, as somebody new.
    env.ok(&["subscribers", "add", "ada@example.org"]);
    let again = json(&env.ok(&["subscribers", "export", "ada@example.org"]));
    assert_eq!(again["deliveries"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_forget_refuse_bad_input_naming_it() {
    let env = TestEnv::new().await;
    env.ok(&["subscribers", "add", "bob@example.org", "--topic", "x"]);
    let before = env.ok(&["subscribers", "export", "bob@example.org"]);
    let cases: &[(&[&str], &str)] = &[
        (&["subscribers", "export", "not-an-address"], "no '@'"),
        (&["subscribers", "forget", "bob@"], "<EMAIL>"),
        (&["subscribers", "forget"], "<EMAIL>"),
        (
            &["subscribers", "forget", "nobody@example.org"],
            "no subscriber with the address nobody@example.org",
        ),
        (
            &["subscribers", "export", "nobody@example.org"],
            "no subscriber with the address nobody@example.org",
        ),
        (
            &["subscribers", "forget", "bob@example.org", "extra"],
            "unexpected argument",
        ),
    ];
    for (args, needle) in cases {
        let out = env.paperboy(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            stderr(&out)
        );
    }
    assert_eq!(
        env.ok(&["subscribers", "export", "bob@example.org"]),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_data_setting_stops_startup_naming_the_key() {
    let env = TestEnv::with_config("\n[data]\nkeep_deliveries_days = 3\n").await;
    let out = env.paperboy(&["subscribers", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("data.keep_deliveries_days = 3"),
        "{}",
        stderr(&out)
    );
    env.edit_config(
        "keep_deliveries_days = 3",
        "forget_unconfirmed_after_days = 1",
    );
    let out = env.paperboy(&["subscribers", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("data.forget_unconfirmed_after_days"),
        "{}",
        stderr(&out)
    );
}

fn manage_path(site: &Site, id: SubscriberId, version: i64) -> String {
    let token = site.signer().sign(
        Purpose::Manage,
        id,
        version,
        Purpose::Manage.default_expiry(Utc::now()),
    );
    format!("/manage/{token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manage_page_downloads_the_data_and_deletes_it_only_after_confirmation() {
    let site = Site::start().await;
    site.env.ok(&["fetch", "--date", HF_DAY]);
    for who in ["ada@example.org", "bob@example.org"] {
        site.env.ok(&[
            "subscribers",
            "add",
            who,
            "--topic",
            "diffusion OR language",
        ]);
    }
    let ada = site.subscriber("ada@example.org").await;
    let bob_before = site.env.ok(&["subscribers", "export", "bob@example.org"]);
    let manage = manage_path(&site, ada.id, ada.link_version);

    let (status, body) = site.get(&manage).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Download my data"), "{body}");
    assert!(body.contains("Delete everything about me"), "{body}");

    // Download: an attachment holding the person's data.
    let r = site
        .http
        .get(site.url(&format!("{manage}/data")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains(".json"), "{disposition}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let data = json(&r.text().await.unwrap());
    assert_eq!(data["subscriber"]["email"], "ada@example.org");
    assert_eq!(data["topics"][0]["query"], "diffusion OR language");

    // GET never deletes, nor does a POST without the confirmation.
    let delete = format!("{manage}/delete");
    let (status, body) = site.get(&delete).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Yes, delete everything about me"), "{body}");
    assert!(body.contains("1 topic;"), "{body}");
    let (status, body) = site.post_form(&delete, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Yes, delete everything about me"), "{body}");
    let (status, _) = site.post_form(&delete, &[("confirm", "yes")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(site.subscriber("ada@example.org").await.id, ada.id);

    // Confirmed: erased.
    let (status, body) = site.post_form(&delete, &[("confirm", "delete")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Everything about you is deleted"), "{body}");
    assert!(matches!(
        site.app
            .store
            .subscriber_id_by_email(&"ada@example.org".parse().unwrap())
            .await,
        Err(DbError::NotFound)
    ));

    // Every link now shows the link-error page, and nothing changes.
    let unsubscribe = site.signer().sign(
        Purpose::Unsubscribe,
        ada.id,
        ada.link_version,
        Purpose::Unsubscribe.default_expiry(Utc::now()),
    );
    for path in [
        manage.clone(),
        format!("{manage}/data"),
        delete.clone(),
        format!("/unsubscribe/{unsubscribe}"),
    ] {
        let (status, body) = site.get(&path).await;
        assert_eq!(status, StatusCode::GONE, "{path}: {body}");
        assert!(body.contains("no longer valid"), "{path}: {body}");
    }
    let (status, _) = site.post_form(&delete, &[("confirm", "delete")]).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        site.env.ok(&["subscribers", "export", "bob@example.org"]),
        bob_before
    );

    // No mail goes to the erased person: the day's digest reaches bob only.
    site.env.ok(&["digest", "--date", HF_DAY]);
    let mails = site.mails(1).await;
    assert_eq!(mails[0].rcpt_to, vec!["bob@example.org".to_string()]);
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn topics() -> Vec<NewTopic> {
    vec![NewTopic {
        name: "diffusion".into(),
        query: "diffusion".into(),
    }]
}

async fn unsubscribed(store: &Store, who: &str, when: DateTime<Utc>) -> SubscriberId {
    let email = SubscriberEmail::parse(who).unwrap();
    let id = store
        .upsert_active(&email, &topics(), when - Duration::days(90))
        .await
        .unwrap()
        .id();
    store.unsubscribe(id, 1, when).await.unwrap();
    id
}

async fn requested(store: &Store, who: &str, when: DateTime<Utc>) -> SubscriberId {
    store
        .request_subscription(
            &SubscriberEmail::parse(who).unwrap(),
            &topics(),
            &Preferences::default(),
            false,
            when,
        )
        .await
        .unwrap()
        .subscriber_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_forgets_on_time_and_only_once_a_day() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    env.ok(&[
        "subscribers",
        "add",
        "reader@example.org",
        "--topic",
        "diffusion OR language",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    let app = env.app().await;
    let store = &app.store;
    let day: NaiveDate = HF_DAY.parse().unwrap();
    // The clock: 401 days after the digest went out, at the job's hour.
    let today = day + Duration::days(401);
    let now = at(&format!("{today}T03:45:00Z"));

    unsubscribed(store, "gone@example.org", now - Duration::days(31)).await;
    unsubscribed(store, "kept@example.org", now - Duration::days(29)).await;
    requested(store, "stale@example.org", now - Duration::days(8)).await;
    requested(store, "fresh@example.org", now - Duration::days(6)).await;
    let held = unsubscribed(store, "held@example.org", now - Duration::days(20)).await;
    requested(
        store,
        "held@example.org",
        now - Duration::days(7) - Duration::minutes(1),
    )
    .await;
    assert!(store.pending_request(held).await.unwrap().is_some());

    // The start-up check runs the day's job when its hour has passed...
    let jobs = app.jobs();
    assert!(paperboy::jobs::scheduler::missed_retention(&jobs, now)
        .await
        .unwrap());
    // ... once: neither a restart nor the cron tick repeats it that day.
    assert!(
        !paperboy::jobs::scheduler::missed_retention(&jobs, now + Duration::hours(3))
            .await
            .unwrap()
    );
    let again = paperboy::jobs::retention::retention(store, &app.settings.data, today, now)
        .await
        .unwrap();
    assert_eq!(again, None);
    let run = store
        .last_run(paperboy::store::RunKind::Retention)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.target_date, today);
    let summary = run.summary.unwrap();
    assert!(summary.starts_with("erased 1 unsubscribed; deleted 1 unconfirmed addresses and 1 unconfirmed requests; pruned 1 deliveries"), "{summary}");
    assert!(!summary.contains("@"), "{summary}");

    // What the binary sees on the same file.
    let list = env.ok(&["subscribers", "list"]);
    for kept in ["reader@", "kept@", "fresh@", "held@"] {
        assert!(list.contains(kept), "{kept} missing:\n{list}");
    }
    for gone in ["gone@", "stale@"] {
        assert!(!list.contains(gone), "{gone} still there:\n{list}");
    }
    let reader = json(&env.ok(&["subscribers", "export", "reader@example.org"]));
    assert_eq!(reader["deliveries"].as_array().unwrap().len(), 0);
    assert_eq!(reader["sent_papers"].as_array().unwrap().len(), 0);
    assert_eq!(
        reader["topics"].as_array().unwrap().len(),
        1,
        "confirmed rows untouched"
    );
    let held = json(&env.ok(&["subscribers", "export", "held@example.org"]));
    assert_eq!(held["subscription_requests"].as_array().unwrap().len(), 0);
    let out = env.paperboy(&["subscribers", "export", "gone@example.org"]);
    assert!(stderr(&out).contains("no subscriber"), "{}", stderr(&out));
    // The erased person still counts as one who unsubscribed.
    let status = env.paperboy(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains("1 active, 1 pending, 3 unsubscribed"),
        "{status}"
    );
    assert!(
        status.contains(&format!("last retention: ok for {today}")),
        "{status}"
    );
    assert!(status.contains("erased 1 unsubscribed"), "{status}");
}
