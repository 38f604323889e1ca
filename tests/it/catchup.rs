//! Catch-up after downtime, with the clock as an argument: a digest whose
//! time passed while the daemon was stopped is sent once at start, and
//! never on a fresh install or twice.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use paperboy::jobs::catch_up::CatchUp;
use paperboy::store::RunKind;

use crate::env::{hf_day, TestEnv};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Records that the daemon ran fetch and digest for `day`.
async fn ran_on(env_app: &paperboy::app::App, day: NaiveDate) {
    for kind in [RunKind::Fetch, RunKind::Digest] {
        let t = at("2026-06-11T07:00:00Z");
        let id = env_app.store.start_run(kind, day, t).await.unwrap();
        env_app.store.finish_run(id, "ok", "", t).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_missed_while_stopped_is_caught_up_once_at_start() {
    let env = TestEnv::new().await;
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:\"sparse attention\"",
    ]);
    let app = env.app().await;
    let day = hf_day();
    ran_on(&app, day.pred_opt().unwrap()).await;

    // Stopped before 01:30 and 07:00 on the day, started at 09:00.
    let done = app
        .jobs()
        .catch_up(at("2026-06-12T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        done,
        CatchUp {
            fetched: Some(day),
            digest: Some(day),
        }
    );
    let got = env.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["ada@example.org"]);
    assert!(app.store.has_run(RunKind::Digest, day).await.unwrap());

    // A restart later that day catches up the ticks of the hours it was
    // down, but ada's hour was already covered: nothing more is sent.
    let again = app
        .jobs()
        .catch_up(at("2026-06-12T11:00:00Z"))
        .await
        .unwrap();
    assert_eq!(again.fetched, None);
    // A restart within the same hour has no tick to catch up at all.
    let same_hour = app
        .jobs()
        .catch_up(at("2026-06-12T11:30:00Z"))
        .await
        .unwrap();
    assert_eq!(same_hour, CatchUp::default());
    assert_eq!(env.smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_caught_up_before_the_scheduled_time_or_on_a_fresh_database() {
    let env = TestEnv::new().await;
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:\"sparse attention\"",
    ]);
    let app = env.app().await;

    // Fresh: never ran, so nothing was missed.
    let done = app
        .jobs()
        .catch_up(at("2026-06-12T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(done, CatchUp::default());
    assert!(app.store.last_run(RunKind::Digest).await.unwrap().is_none());

    // Ran yesterday; started today before the fetch (01:30) and before
    // ada's delivery hour (the default, 07:00): the hourly tick catches up
    // but nobody's hour came.
    ran_on(&app, hf_day().pred_opt().unwrap()).await;
    let done = app
        .jobs()
        .catch_up(at("2026-06-12T01:00:00Z"))
        .await
        .unwrap();
    assert_eq!(done.fetched, None);

    // After the fetch time, the fetch is caught up; still before 07:00.
    let done = app
        .jobs()
        .catch_up(at("2026-06-12T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(done.fetched, Some(hf_day()));
    assert!(env.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_catches_up_when_it_starts() {
    let env = TestEnv::new().await;
    let app = env.app().await;
    let tz = app.settings.schedule.timezone;
    let due = paperboy::jobs::catch_up::last_due_day(&app.settings.schedule.digest, tz, Utc::now())
        .unwrap();
    ran_on(&app, due.pred_opt().unwrap()).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(paperboy::app::serve(app.clone(), listener, async {
        let _ = stopped.await;
    }));
    // Polls until the catch-up recorded its digest run; the deadline only
    // turns a hang into a failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !app.store.has_run(RunKind::Digest, due).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "no digest run for {due} after start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), daemon)
        .await
        .expect("daemon stops")
        .unwrap()
        .unwrap();
}
