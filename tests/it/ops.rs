//! Operating paperboy: `paperboy backup` while the daemon runs, restoring
//! that backup into a fresh place, and `paperboy status`.

use std::time::Duration;

use crate::env::{TestEnv, HF_DAY};

/// Two subscribers, the Hugging Face day fetched and its digest sent. The
/// daemon started on it must not catch up "today" (its runs are for the
/// recorded day), so catch-up is off.
async fn env_with_a_sent_digest() -> TestEnv {
    env_with_a_sent_digest_and("").await
}

/// As [`env_with_a_sent_digest`], with extra TOML in the config.
async fn env_with_a_sent_digest_and(extra: &str) -> TestEnv {
    let env = TestEnv::with_config(&format!("\n[schedule]\ncatch_up = false\n{extra}")).await;
    env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    for email in ["ada@example.org", "bob@example.org"] {
        env.ok(&[
            "subscribers",
            "add",
            email,
            "--topic",
            "ti:\"sparse attention\"",
        ]);
    }
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(env.smtp.wait_for(2, Duration::from_secs(10)).await.len(), 2);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_daemon_runs_restores_with_subscribers_and_delivery_history_intact(
) {
    let env = env_with_a_sent_digest().await;
    let subscribers = env.ok(&["subscribers", "list"]);

    // The daemon holds the database open while the backup is taken.
    let app = env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(paperboy::app::serve(app, listener, async {
        let _ = stopped.await;
    }));
    let backup = env.dir.path().join("backups").join("paperboy-1.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let backup_arg = backup.to_str().unwrap();
    let out = env.ok(&["backup", backup_arg]);
    assert!(out.contains("integrity ok"), "{out}");

    // A second backup to the same name is refused and leaves it alone.
    let before = std::fs::read(&backup).unwrap();
    let refused = env.paperboy(&["backup", backup_arg]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&backup).unwrap(), before);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("daemon stops")
        .unwrap()
        .unwrap();

    // Restore, as deploy/README.md says: copy the file to where
    // database.url points (here a fresh directory), then start.
    let restored_dir = env.dir.path().join("restored");
    std::fs::create_dir_all(&restored_dir).unwrap();
    let restored_db = restored_dir.join("paperboy.db");
    std::fs::copy(&backup, &restored_db).unwrap();
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let old_url = env.dir.db_url();
    assert!(config.contains(&old_url));
    let new_url = format!("sqlite://{}", restored_db.display());
    std::fs::write(&env.config_path, config.replace(&old_url, &new_url)).unwrap();

    assert_eq!(env.ok(&["subscribers", "list"]), subscribers);
    let status = env.ok(&["status", "--date", HF_DAY]);
    assert!(status.contains("subscribers: 2 active"), "{status}");
    assert!(
        status.contains(&format!("deliveries for {HF_DAY}: 2 sent")),
        "{status}"
    );
    // The delivery ledger came back too: running the same digest again on
    // the restored database sends nothing.
    let out = env.ok(&["digest", "--date", HF_DAY]);
    assert!(out.contains("0 sent"), "{out}");
    assert!(out.contains("2 already done"), "{out}");
    assert_eq!(env.smtp.messages().len(), 2, "no second copy was mailed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_last_runs_subscribers_and_deliveries_and_needs_an_existing_database() {
    let env = TestEnv::new().await;
    let out = env.paperboy(&["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no database"), "{err}");
    assert!(!env.dir.db_path().exists(), "status created no database");

    drop(env);
    let env = env_with_a_sent_digest().await;
    let status = env.ok(&["status", "--date", HF_DAY]);
    assert!(
        status.contains(&format!("last fetch: ok for {HF_DAY}")),
        "{status}"
    );
    assert!(
        status.contains(&format!("last digest: ok for {HF_DAY}")),
        "{status}"
    );
    assert!(status.contains("(2 sent)"), "{status}");
    assert!(
        status.contains("subscribers: 2 active, 0 pending, 0 unsubscribed, 0 suspended"),
        "{status}"
    );
    assert!(
        status.contains(&format!(
            "deliveries for {HF_DAY}: 2 sent, 0 deferred, 0 failed, 0 in flight, 0 pending"
        )),
        "{status}"
    );
    assert!(status.trim_end().ends_with("status: ok"), "{status}");
    assert!(!status.contains("@example.org"), "no addresses: {status}");
}

/// Runs the binary with stderr in a file; with `journal`, announces that
/// file as the journal stream the way systemd does. Returns stderr.
fn stderr_as_journal(env: &TestEnv, args: &[&str], journal: bool) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let path = env.dir.path().join(format!("stderr-{journal}.log"));
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let mut cmd = env.command(args);
    if journal {
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    } else {
        cmd.env(
            "JOURNAL_STREAM",
            format!("{}:{}", meta.dev(), meta.ino() + 1),
        );
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(file)
        .status()
        .unwrap();
    std::fs::read_to_string(&path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_journal_every_log_line_starts_with_its_syslog_priority() {
    let env = TestEnv::new().await;
    env.http.route(
        "/hostile/daily_papers",
        crate::support::FixtureResponse::status(500),
    );
    let log = stderr_as_journal(&env, &["fetch", "--date", HF_DAY], true);
    let lines: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            ["<3>", "<4>", "<6>", "<7>"]
                .iter()
                .any(|p| line.starts_with(p)),
            "unprefixed line {line:?} in\n{log}"
        );
    }
    assert!(lines.iter().any(|l| l.starts_with("<6>")), "{log}");
    assert!(
        lines.iter().any(|l| l.starts_with("<3>")),
        "the failed source and the command's error are errors:\n{log}"
    );
    assert!(lines.last().unwrap().starts_with("<3>error: "), "{log}");
    assert!(!log.contains("\u{1b}["), "no colour codes: {log}");

    // A JOURNAL_STREAM that names some other file is not the journal.
    let plain = stderr_as_journal(&env, &["fetch", "--date", HF_DAY], false);
    assert!(!plain.is_empty());
    assert!(
        plain.lines().all(|l| !l.starts_with('<')),
        "no prefixes:\n{plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_listener_in_prometheus_text_format() {
    let port = crate::support::free_port();
    let env =
        env_with_a_sent_digest_and(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).await;
    let app = env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(paperboy::app::serve(app, listener, async {
        let _ = stopped.await;
    }));

    // serve binds the metrics address itself: wait until it answers (the
    // deadline only turns a hang into a failure).
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let resp = loop {
        match reqwest::get(&url).await {
            Ok(r) => break r,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    for needle in [
        "# TYPE paperboy_digests gauge",
        "paperboy_digests{status=\"sent\"} 2",
        "paperboy_subscribers{status=\"active\"} 2",
        "paperboy_paper_sightings_total{source=\"hf\"} ",
        "paperboy_last_run_success{kind=\"digest\"} 1",
        "paperboy_last_run_success{kind=\"fetch\"} 1",
        "paperboy_unsubscribes_today 0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains('@'), "no addresses:\n{text}");

    // The public listener does not expose them.
    let public = reqwest::get(format!("http://{web}/metrics")).await.unwrap();
    assert_eq!(public.status(), 404);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("daemon stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_run_digests_racing_the_daemon_send_each_digest_once_without_lock_errors() {
    let env = TestEnv::with_config("\n[schedule]\ncatch_up = false\n").await;
    env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    let people = ["ada@example.org", "bob@example.org", "cy@example.org"];
    for email in people {
        env.ok(&[
            "subscribers",
            "add",
            email,
            "--topic",
            "ti:\"sparse attention\"",
        ]);
    }
    let app = env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(paperboy::app::serve(app.clone(), listener, async {
        let _ = stopped.await;
    }));

    // Two operators' hand-run digests and the daemon's own digest job, at once.
    let hand: Vec<_> = (0..2)
        .map(|_| {
            env.command(&["digest", "--date", HF_DAY])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let in_daemon = paperboy::jobs::digest::digest_job(
        &app.digest_run(),
        crate::env::hf_day(),
        Default::default(),
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .unwrap();
    for child in hand {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("locked"), "{err}");
        assert!(
            out.status.success(),
            "{}\n{err}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(in_daemon.failed, 0);

    let got = env.smtp.wait_for(3, Duration::from_secs(20)).await;
    let mut to: Vec<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, people, "each subscriber exactly once");
    // And nothing more trickles in afterwards.
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(env.smtp.messages().len(), 3);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("daemon stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_that_cannot_be_bound_stops_the_daemon_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let env = TestEnv::with_config(&format!("\n[metrics]\nlisten = \"{addr}\"\n")).await;
    let out = env.paperboy(&["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics.listen"), "{err}");
    drop(taken);
}
