//! The daemon: started exactly as `paperboy serve` starts it, on port 0 with
//! the test's own shutdown signal.

use std::time::Duration;

use crate::env::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_health_checks_and_stops_on_request() {
    let env = TestEnv::new().await;
    let app = env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paperboy::app::serve(app, listener, async {
        let _ = stopped.await;
    }));
    let body: serde_json::Value = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops promptly");
    result.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_stops_cleanly_on_sigterm() {
    let env = TestEnv::new().await;
    let port = crate::support::free_port();
    env.edit_config("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let mut child = env.command(&["serve"]).spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the daemon answered /healthz");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_fetch_and_digest_jobs_on_their_cron_in_the_configured_timezone() {
    let env = TestEnv::with_config(
        "\n[schedule]\nfetch = \"* * * * * *\"\ndigest = \"* * * * * *\"\ntimezone = \"Pacific/Kiritimati\"\n",
    )
    .await;
    let app = env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paperboy::app::serve(app, listener, async {
        let _ = stopped.await;
    }));
    // UTC+14: "today" there is usually a day ahead of UTC.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Pacific::Kiritimati)
        .date_naive()
        .to_string();
    let fetched_dates = || -> Vec<String> {
        env.http
            .requests_to("/api/daily_papers")
            .iter()
            .filter_map(|r| r.query_param("date"))
            .collect()
    };
    let mut health = serde_json::Value::Null;
    for _ in 0..100 {
        health = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["last_fetch"]["date"] == today.as_str()
            && health["last_fetch"]["outcome"].is_string()
            && health["last_digest"]["outcome"].is_string()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health["last_fetch"]["outcome"], "ok", "{health}");
    assert_eq!(health["last_digest"]["outcome"], "ok", "{health}");
    assert_eq!(health["last_digest"]["date"], today.as_str(), "{health}");
    let dates = fetched_dates();
    assert!(
        dates.contains(&today),
        "fetched {dates:?}, expected {today}"
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_requests_taken_before_sigterm_get_their_mail_before_the_binary_exits() {
    let env = TestEnv::new().await;
    // A slow mail server: every confirmation takes about a second, so the
    // requests are still waiting or being mailed when the stop comes.
    env.smtp.faults().delay(Duration::from_millis(150));
    let port = crate::support::free_port();
    env.edit_config("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let mut child = env.command(&["serve"]).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the daemon answered /healthz");
    let client = paperboy::sources::client_builder().build().unwrap();
    let addresses: Vec<String> = (0..12).map(|i| format!("queued{i}@example.org")).collect();
    for email in &addresses {
        let answer = client
            .post(format!("{base}/subscribe"))
            .form(&[("email", email.as_str()), ("topics", "diffusion")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert!(answer.text().await.unwrap().contains("Check your inbox"));
    }
    let sent_before_stop = env.smtp.messages().len();
    assert!(
        sent_before_stop < addresses.len(),
        "the mails were still on their way at the stop ({sent_before_stop} sent)"
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let mut mailed: Vec<String> = env
        .smtp
        .messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    mailed.sort();
    let mut expected = addresses.clone();
    expected.sort();
    assert_eq!(
        mailed, expected,
        "every request answered 'check your inbox' was mailed"
    );
}
