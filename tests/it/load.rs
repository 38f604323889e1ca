//! Load: concurrent subscribe and manage traffic against the real
//! `paperboy serve` while a `paperboy digest` run writes to the same SQLite
//! database. Every request must succeed (no 500, no "database is locked"),
//! every write must be there afterwards, and the digest run must still send
//! each digest once. Latency is printed, never asserted on.
//!
//! The suite runs a small version; `scripts/load` runs
//! `load_at_scale_from_the_environment` with `PAPERBOY_LOAD_SUBSCRIBERS`,
//! `PAPERBOY_LOAD_CLIENTS` and `PAPERBOY_LOAD_REQUESTS` (per client).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use paperboy::domain::SubscriberId;
use paperboy::links::{LinkSigner, Purpose, SigningKeys};

use crate::env::{TestEnv, HF_DAY};
use crate::support::{self, free_port};

#[derive(Default)]
struct Latencies {
    by_kind: BTreeMap<&'static str, Vec<Duration>>,
    during_digest: usize,
    failures: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

impl Latencies {
    fn table(&self) -> String {
        let mut out = String::from(
            "| request | count | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n",
        );
        for (kind, list) in &self.by_kind {
            let mut sorted = list.clone();
            sorted.sort();
            out += &format!(
                "| {kind} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                sorted.len(),
                percentile(&sorted, 0.5),
                percentile(&sorted, 0.95),
                percentile(&sorted, 0.99),
                percentile(&sorted, 1.0),
            );
        }
        out
    }
}

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
    base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_daemon(env: &TestEnv) -> Daemon {
    let port = free_port();
    env.edit_config(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let log = env.dir.path().join("serve.log");
    let child = env
        .command(&["serve"])
        .env("PAPERBOY_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start paperboy serve");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "paperboy serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Daemon { child, log, base }
}

/// What a load run found; the assertions are the caller's.
struct LoadReport {
    latencies: Latencies,
    subscribed: Vec<String>,
    managed: BTreeMap<i64, String>,
    digests: usize,
    digest_recipients: usize,
    subscribers: usize,
    logs: String,
    elapsed: Duration,
}

async fn load_run(subscribers: usize, clients: usize, per_client: usize) -> LoadReport {
    let started = Instant::now();
    let env = TestEnv::with_config("\n[schedule]\ncatch_up = false\n").await;
    env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    let lines: String = (0..subscribers)
        .map(|i| format!("{{\"email\": \"reader{i}@example.org\", \"topics\": [\"ti:agent*\", \"all:model\"]}}\n"))
        .collect();
    let import = env.dir.path().join("subs.jsonl");
    std::fs::write(&import, lines).unwrap();
    env.ok(&["subscribers", "import", import.to_str().unwrap()]);
    let daemon = start_daemon(&env).await;
    let app = env.app().await;
    let signer = Arc::new(LinkSigner::new(
        SigningKeys::load(env.dir.path().join("signing.key")).unwrap(),
    ));
    let mut ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM subscribers ORDER BY id")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    ids.truncate(clients * per_client);

    // The digest run, slowed a little by the SMTP server so it overlaps the traffic.
    env.smtp.faults().delay(Duration::from_millis(1));
    let digest_log = env.dir.path().join("digest.log");
    let mut digest = env
        .command(&["digest", "--date", HF_DAY])
        .env("PAPERBOY_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&digest_log).unwrap())
        .spawn()
        .unwrap();
    env.smtp.wait_for(1, Duration::from_secs(30)).await;

    let digest_running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let base = daemon.base.clone();
        let signer = signer.clone();
        let running = digest_running.clone();
        let mine: Vec<i64> = ids.iter().skip(c).step_by(clients).copied().collect();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            let mut subscribed = Vec::new();
            let mut managed = BTreeMap::new();
            let manage_client = paperboy::sources::client_builder().build().unwrap();
            for r in 0..per_client {
                let (kind, request, expect) = if r % 2 == 0 {
                    // Each subscribe from its own loopback address: the per-IP allowance is not under test.
                    let ip = IpAddr::V4(Ipv4Addr::new(127, 2, c as u8, (r / 2 + 1) as u8));
                    let client = paperboy::sources::client_builder()
                        .local_address(ip)
                        .build()
                        .unwrap();
                    let email = format!("new{c}x{r}@example.org");
                    subscribed.push(email.clone());
                    let req = client.post(format!("{base}/subscribe")).form(&[
                        ("email", email.as_str()),
                        ("topics", "diffusion\nti:agent*"),
                    ]);
                    ("subscribe", req, "inbox")
                } else {
                    let Some(&id) = mine.get(r / 2 % mine.len().max(1)) else {
                        continue;
                    };
                    let token = signer.sign(
                        Purpose::Manage,
                        SubscriberId::new(id),
                        1,
                        Purpose::Manage.default_expiry(Utc::now()),
                    );
                    // Unique per save, and still matching what `all:model` matches, so a
                    // subscriber saved before the run plans them still gets a digest.
                    let topic = format!("all:model OR ti:load{c}x{r}");
                    managed.insert(id, topic.clone());
                    let req = manage_client.post(format!("{base}/manage/{token}")).form(&[
                        ("action", "save"),
                        ("topics", topic.as_str()),
                        ("frequency", "daily"),
                        ("weekday", ""),
                        ("hour", ""),
                        ("timezone", ""),
                        ("paused_until", ""),
                    ]);
                    ("manage save", req, "Saved.")
                };
                let during = running.load(std::sync::atomic::Ordering::SeqCst);
                let t = Instant::now();
                let result = request.send().await;
                let took = t.elapsed();
                match result {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        if !status.is_success() || !body.contains(expect) {
                            lat.failures.push(format!(
                                "{kind}: {status}: {}",
                                &body[..body.len().min(300)]
                            ));
                        }
                    }
                    Err(e) => lat.failures.push(format!("{kind}: {e}")),
                }
                lat.by_kind.entry(kind).or_default().push(took);
                lat.during_digest += usize::from(during);
            }
            (lat, subscribed, managed)
        }));
    }
    let mut report = LoadReport {
        latencies: Latencies::default(),
        subscribed: Vec::new(),
        managed: BTreeMap::new(),
        digests: 0,
        digest_recipients: 0,
        subscribers,
        logs: String::new(),
        elapsed: Duration::ZERO,
    };
    let watch = {
        let running = digest_running.clone();
        tokio::task::spawn_blocking(move || {
            let status = digest.wait();
            running.store(false, std::sync::atomic::Ordering::SeqCst);
            status
        })
    };
    for task in tasks {
        let (lat, subscribed, managed) = task.await.unwrap();
        for (kind, list) in lat.by_kind {
            report
                .latencies
                .by_kind
                .entry(kind)
                .or_default()
                .extend(list);
        }
        report.latencies.during_digest += lat.during_digest;
        report.latencies.failures.extend(lat.failures);
        report.subscribed.extend(subscribed);
        report.managed.extend(managed);
    }
    let status = watch.await.unwrap().unwrap();
    assert!(
        status.success(),
        "the digest run failed: {}",
        std::fs::read_to_string(&digest_log).unwrap_or_default()
    );
    env.smtp.faults().clear();
    // Confirmation mails for the new addresses arrive too; count digests only.
    let expected = subscribers + report.subscribed.len();
    let all = env.smtp.wait_for(expected, Duration::from_secs(30)).await;
    let mut digest_to: Vec<String> = Vec::new();
    for mail in &all {
        let id = support::header_raw(&support::parse(mail), "Message-ID").unwrap_or_default();
        if id.starts_with("<digest.") {
            digest_to.extend(mail.rcpt_to.clone());
        }
    }
    report.digests = digest_to.len();
    digest_to.sort();
    digest_to.dedup();
    report.digest_recipients = digest_to.len();
    report.logs = std::fs::read_to_string(&daemon.log).unwrap_or_default()
        + &std::fs::read_to_string(&digest_log).unwrap_or_default();

    assert!(
        report.latencies.failures.is_empty(),
        "{} failed requests, the first: {:?}\nlog errors:\n{}",
        report.latencies.failures.len(),
        report.latencies.failures.first(),
        report
            .logs
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .take(10)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // No lost writes: every subscribe is a row, every manage save is the current topic.
    for email in &report.subscribed {
        let found = app.store.subscriber_by_email(&email.parse().unwrap()).await;
        assert!(found.is_ok(), "subscribe of {email} was lost");
    }
    for (id, topic) in &report.managed {
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT query FROM topics WHERE subscriber_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        assert_eq!(
            &stored,
            &vec![topic.clone()],
            "subscriber {id}'s last save was lost"
        );
    }
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(check, "ok");
    report.elapsed = started.elapsed();
    drop(daemon);
    report
}

fn assert_clean(report: &LoadReport) {
    let table = report.latencies.table();
    let total: usize = report.latencies.by_kind.values().map(Vec::len).sum();
    println!(
        "{} subscribers, {} requests ({} while the digest ran), {} digests to {} recipients, {:.1} s\n{table}",
        report.subscribers,
        total,
        report.latencies.during_digest,
        report.digests,
        report.digest_recipients,
        report.elapsed.as_secs_f64()
    );
    assert!(
        report.latencies.failures.is_empty(),
        "{:#?}",
        report.latencies.failures
    );
    assert!(!report.logs.contains("locked"), "{}", report.logs);
    assert!(!report.logs.contains("panicked"), "{}", report.logs);
    // Debug logs of the daemon and the run: no address, no link token.
    for secret in ["@example.org", "/manage/", "/confirm/", "/unsubscribe/"] {
        let line = report.logs.lines().find(|l| l.contains(secret));
        assert!(line.is_none(), "a log line leaks {secret:?}: {line:?}");
    }
    assert!(report.logs.contains("DEBUG"), "debug logging was on");
    assert_eq!(report.digests, report.subscribers, "each digest once");
    assert_eq!(report.digest_recipients, report.subscribers);
    assert!(
        report.latencies.during_digest > 0,
        "no request overlapped the digest run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_and_manage_traffic_during_a_digest_run_loses_nothing_and_never_fails() {
    let report = load_run(200, 8, 10).await;
    assert_clean(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/load"]
async fn load_at_scale_from_the_environment() {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let report = load_run(
        var("PAPERBOY_LOAD_SUBSCRIBERS", 1000),
        var("PAPERBOY_LOAD_CLIENTS", 32),
        var("PAPERBOY_LOAD_REQUESTS", 40),
    )
    .await;
    assert_clean(&report);
}
