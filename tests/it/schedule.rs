//! Delivery at each subscriber's local hour, driven through the daemon's own
//! tick functions with the instant as an argument: no sleeping on the wall
//! clock. Mail goes to the real SMTP server on loopback.

use std::time::Duration;

use chrono::{DateTime, Utc};
use paperboy::app::App;
use paperboy::domain::{Frequency, NewTopic, Preferences, SubscriberId};
use paperboy::jobs::digest::digest_tick;
use paperboy::jobs::scheduler::{tick, JobKind, TickOutcome};
use paperboy::store::RunKind;
use tokio_util::sync::CancellationToken;

use crate::env::{hf_day, TestEnv, HF_DAY};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn topic() -> [NewTopic; 1] {
    [NewTopic {
        name: "t".into(),
        query: "ti:\"sparse attention\"".into(),
    }]
}

/// An active subscriber to the sparse-attention topic with `prefs`.
async fn subscriber(app: &App, email: &str, prefs: Preferences) -> SubscriberId {
    let id = app
        .store
        .upsert_active(&email.parse().unwrap(), &topic(), Utc::now())
        .await
        .unwrap()
        .id();
    app.store
        .save_preferences(id, 1, &topic(), &prefs, Utc::now())
        .await
        .unwrap();
    id
}

fn at_hour(hour: u32, tz: chrono_tz::Tz) -> Preferences {
    Preferences {
        delivery_hour: Some(hour),
        timezone: Some(tz),
        ..Preferences::default()
    }
}

/// Recipients of the mails that arrived since the last call, sorted.
fn new_recipients(env: &TestEnv) -> Vec<String> {
    let mut to: Vec<String> = env
        .smtp
        .take_messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    to.sort();
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_gets_the_digest_in_the_tick_of_their_local_hour() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    // 09:00 in Berlin and the operator's default 07:00 UTC are both 07:00Z;
    // 07:00 in Tonga (UTC+13) on 06-13 is 18:00Z on 06-12.
    let berlin = subscriber(
        &app,
        "berlin@example.org",
        at_hour(9, chrono_tz::Europe::Berlin),
    )
    .await;
    subscriber(&app, "default@example.org", Preferences::default()).await;
    let tonga = subscriber(
        &app,
        "tonga@example.org",
        at_hour(7, chrono_tz::Pacific::Tongatapu),
    )
    .await;
    // The daemon's last tick covered up to 05:30Z.
    app.store
        .set_digest_covered_until(at("2026-06-12T05:30:00Z"))
        .await
        .unwrap();

    let mut got = Vec::new();
    for hour in 6..=19 {
        let now = at(&format!("2026-06-12T{hour:02}:00:00Z"));
        digest_tick(&app.digest_run(), now).await.unwrap();
        for to in new_recipients(&env) {
            got.push((hour, to));
        }
    }
    assert_eq!(
        got,
        [
            (7, "berlin@example.org".to_string()),
            (7, "default@example.org".to_string()),
            (18, "tonga@example.org".to_string()),
        ]
    );
    // Each digest is dated by its subscriber's local date.
    let day = hf_day();
    let next = day.succ_opt().unwrap();
    assert!(app.store.delivery_for(berlin, day).await.unwrap().is_some());
    assert!(app.store.delivery_for(tonga, next).await.unwrap().is_some());
    assert!(app.store.delivery_for(tonga, day).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_tick_and_a_hand_run_digest_for_the_same_date_send_it_once() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    subscriber(&app, "ada@example.org", Preferences::default()).await; // 07:00 UTC
    subscriber(&app, "bob@example.org", at_hour(20, chrono_tz::UTC)).await;
    app.store
        .set_digest_covered_until(at("2026-06-12T06:30:00Z"))
        .await
        .unwrap();

    // The tick sends ada's at her hour ...
    digest_tick(&app.digest_run(), at("2026-06-12T07:00:00Z"))
        .await
        .unwrap();
    assert_eq!(new_recipients(&env), ["ada@example.org"]);
    // ... the hand run sends the same date to everyone else at once ...
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(new_recipients(&env), ["bob@example.org"]);
    // ... and neither the later ticks nor another hand run send one twice.
    for hour in 8..=23 {
        let now = at(&format!("2026-06-12T{hour:02}:00:00Z"));
        digest_tick(&app.digest_run(), now).await.unwrap();
    }
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(new_recipients(&env), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_arriving_while_the_same_job_still_runs_is_skipped() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    subscriber(&app, "ada@example.org", Preferences::default()).await;
    let token = CancellationToken::new();
    let lock = tokio::sync::Mutex::new(());
    let now = at("2026-06-12T09:00:00Z");

    // A run of the digest job holds its lock: the tick does nothing.
    let running = lock.lock().await;
    let outcome = tick(&app.jobs(), JobKind::Digest, &lock, &token, now).await;
    assert_eq!(outcome, TickOutcome::Skipped);
    assert!(app.store.last_run(RunKind::Digest).await.unwrap().is_none());
    assert!(env.smtp.messages().is_empty());

    // Once it finished, the next tick runs.
    drop(running);
    let outcome = tick(&app.jobs(), JobKind::Digest, &lock, &token, now).await;
    assert_eq!(outcome, TickOutcome::Ran);
    assert_eq!(new_recipients(&env), ["ada@example.org"]);

    // A stopping daemon starts nothing.
    token.cancel();
    let later = at("2026-06-12T10:00:00Z");
    let outcome = tick(&app.jobs(), JobKind::Digest, &lock, &token, later).await;
    assert_eq!(outcome, TickOutcome::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_while_a_slow_digest_tick_is_still_sending_is_skipped_and_nothing_doubles() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    subscriber(&app, "ada@example.org", Preferences::default()).await;
    // A slow server keeps the first tick busy in the middle of its send.
    env.smtp.faults().delay(Duration::from_millis(300));
    let token = CancellationToken::new();
    let lock = std::sync::Arc::new(tokio::sync::Mutex::new(()));
    let first = {
        let (app, lock, token) = (app.clone(), lock.clone(), token.clone());
        tokio::spawn(async move {
            tick(
                &app.jobs(),
                JobKind::Digest,
                &lock,
                &token,
                at("2026-06-12T09:00:00Z"),
            )
            .await
        })
    };
    // Polls until the first tick is talking SMTP; the deadline only turns a
    // hang into a failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while env.smtp.connections() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first tick never sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = tick(
        &app.jobs(),
        JobKind::Digest,
        &lock,
        &token,
        at("2026-06-12T10:00:00Z"),
    )
    .await;
    assert_eq!(second, TickOutcome::Skipped);
    assert_eq!(first.await.unwrap(), TickOutcome::Ran);
    env.smtp.faults().clear();
    assert_eq!(new_recipients(&env), ["ada@example.org"]);
    // The skipped window is covered by the next tick, which has nothing to add.
    let third = tick(
        &app.jobs(),
        JobKind::Digest,
        &lock,
        &token,
        at("2026-06-12T11:00:00Z"),
    )
    .await;
    assert_eq!(third, TickOutcome::Ran);
    assert_eq!(new_recipients(&env), Vec::<String>::new());
    assert_eq!(
        app.store.digest_covered_until().await.unwrap(),
        Some(at("2026-06-12T11:00:00Z"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_hour_missed_across_midnight_is_caught_up_late_and_once() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    let late = subscriber(&app, "late@example.org", at_hour(23, chrono_tz::UTC)).await;

    // The daemon ticks at 22:00, then is down until 01:30.
    digest_tick(&app.digest_run(), at("2026-06-12T22:00:00Z"))
        .await
        .unwrap();
    assert!(env.smtp.messages().is_empty());
    let done = app
        .jobs()
        .catch_up(at("2026-06-13T01:30:00Z"))
        .await
        .unwrap();
    assert!(done.digest.is_some());
    assert_eq!(new_recipients(&env), ["late@example.org"]);
    assert!(app
        .store
        .delivery_for(late, hf_day())
        .await
        .unwrap()
        .is_some());

    // A second start in the same hour has nothing to catch up; the next
    // ticks send nothing twice.
    let again = app
        .jobs()
        .catch_up(at("2026-06-13T01:45:00Z"))
        .await
        .unwrap();
    assert_eq!(again.digest, None);
    digest_tick(&app.digest_run(), at("2026-06-13T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(new_recipients(&env), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_subscriber_gets_the_weeks_papers_and_a_daily_one_only_the_days() {
    let env = TestEnv::new().await;
    // The papers are announced on the 12th; the digest is for five days
    // later, a Wednesday.
    env.ok(&["fetch", "--date", HF_DAY]);
    let digest_day = hf_day() + chrono::Duration::days(5);
    let app = env.app().await;
    subscriber(&app, "daily@example.org", Preferences::default()).await;
    subscriber(
        &app,
        "weekly@example.org",
        Preferences {
            frequency: Frequency::Weekly(chrono::Weekday::Wed),
            ..Preferences::default()
        },
    )
    .await;
    // The preview shows each the same as the digest would.
    let day = digest_day.to_string();
    let preview = |who| env.ok(&["preview", "--email", who, "--date", &day]);
    assert!(preview("daily@example.org").starts_with("no papers"));
    let weekly = preview("weekly@example.org");
    assert!(
        weekly.to_lowercase().contains("sparse attention"),
        "{weekly}"
    );

    env.ok(&["digest", "--date", &day]);
    let got = env.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, ["weekly@example.org"]);
    let text = crate::support::text_part(&crate::support::parse(&got[0])).unwrap();
    assert!(text.to_lowercase().contains("sparse attention"), "{text}");
}
