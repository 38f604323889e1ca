//! Crash safety: the real binary is SIGKILLed at random points of a digest
//! run to the SMTP test server, restarted each time, and what arrived is
//! counted per recipient. Every subscriber must get their digest; a copy
//! sent twice (killed after the server took the message, before paperboy
//! recorded it) must carry the same Message-ID, so a receiving server can
//! drop it.
//!
//! The suite runs a short version; `scripts/crash-test` runs the long one
//! (`crash_safety_at_scale_from_the_environment`, ignored by default) with
//! `PAPERBOY_CRASH_SUBSCRIBERS`, `PAPERBOY_CRASH_KILLS` and
//! `PAPERBOY_CRASH_SEED`.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::env::{TestEnv, HF_DAY};
use crate::support;

/// How one kill point was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KillMode {
    /// A random delay after start: often during planning and reservation.
    Early,
    /// After a random number of further messages arrived, plus jitter:
    /// somewhere in the SMTP conversation of the next ones.
    MidSend,
    /// The server stops answering the end of DATA: killed with a message
    /// in flight that the server never accepted.
    StalledData,
}

/// What a crash run measured.
pub struct CrashSummary {
    subscribers: usize,
    kills: BTreeMap<KillMode, usize>,
    runs: usize,
    messages: usize,
    recipients: usize,
    lost: usize,
    duplicates: usize,
    duplicates_with_other_message_id: usize,
    final_second_run_sent: usize,
    elapsed: Duration,
    seed: u64,
}

impl CrashSummary {
    fn table(&self) -> String {
        let kills: Vec<String> = self
            .kills
            .iter()
            .map(|(mode, n)| format!("{mode:?}={n}"))
            .collect();
        let total: usize = self.kills.values().sum();
        format!(
            "| seed | subscribers | kill points | runs | messages | recipients | lost | duplicates | dup. with other Message-ID | sent by an extra run | wall time |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n\
             | {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            self.seed,
            self.subscribers,
            total,
            kills.join(", "),
            self.runs,
            self.messages,
            self.recipients,
            self.lost,
            self.duplicates,
            self.duplicates_with_other_message_id,
            self.final_second_run_sent,
            self.elapsed.as_secs_f64(),
        )
    }
}

fn spawn_digest(env: &TestEnv) -> Child {
    env.command(&["digest", "--date", HF_DAY])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start paperboy digest")
}

/// Waits until the child exits, `arrived` messages were accepted, or
/// `limit` passed; returns whether the child exited on its own.
async fn wait_until(env: &TestEnv, child: &mut Child, arrived: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("poll paperboy").is_some() {
            return true;
        }
        if env.smtp.messages().len() >= arrived || Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn sigkill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no goodbye.
    let _ = child.kill();
    let _ = child.wait();
}

/// Imports `n` subscribers, fetches the day, then kills `kills` digest runs
/// at random points and finishes with an undisturbed run.
pub async fn crash_run(n: usize, kills: usize, seed: u64) -> CrashSummary {
    let started = Instant::now();
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let topics = ["ti:agent*", "abs:attention", "all:model", "reasoning"];
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"email\": \"reader{i}@example.org\", \"topics\": [\"{}\", \"{}\"]}}\n",
                topics[i % topics.len()],
                topics[(i + 1) % topics.len()]
            )
        })
        .collect();
    let import = env.dir.path().join("subs.jsonl");
    std::fs::write(&import, lines).unwrap();
    env.ok(&["subscribers", "import", import.to_str().unwrap()]);

    let mut rng = StdRng::seed_from_u64(seed);
    let mut summary = CrashSummary {
        subscribers: n,
        kills: BTreeMap::new(),
        runs: 0,
        messages: 0,
        recipients: 0,
        lost: 0,
        duplicates: 0,
        duplicates_with_other_message_id: 0,
        final_second_run_sent: 0,
        elapsed: Duration::ZERO,
        seed,
    };
    // Spread the kill points over the run: each waits for a share of the messages.
    let step = (n / (kills + 1)).max(1);
    let mut finished_early = false;
    for i in 0..kills {
        let mode = match i % 3 {
            0 => KillMode::MidSend,
            1 => KillMode::StalledData,
            _ => KillMode::Early,
        };
        let before = env.smtp.messages().len();
        // A small delay before every SMTP reply widens the window between
        // the server taking a message and paperboy recording it.
        env.smtp
            .faults()
            .delay(Duration::from_millis(rng.random_range(0..3)));
        if mode == KillMode::StalledData {
            env.smtp
                .faults()
                .stall_from(env.smtp.messages().len() + rng.random_range(1..=step));
        }
        let mut child = spawn_digest(&env);
        summary.runs += 1;
        let exited = match mode {
            KillMode::Early => {
                let wait = Duration::from_millis(rng.random_range(0..400));
                wait_until(&env, &mut child, usize::MAX, wait).await
            }
            KillMode::MidSend => {
                let target = before + rng.random_range(1..=step);
                let exited = wait_until(&env, &mut child, target, Duration::from_secs(60)).await;
                if !exited {
                    tokio::time::sleep(Duration::from_micros(rng.random_range(0..3000))).await;
                }
                exited
            }
            KillMode::StalledData => {
                // Up to the stall, then a moment so the stalled DATA is on the wire.
                let exited =
                    wait_until(&env, &mut child, usize::MAX, Duration::from_millis(400)).await;
                if !exited {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
                }
                exited
            }
        };
        if exited {
            finished_early = true;
            env.smtp.faults().clear();
            break;
        }
        sigkill(&mut child);
        *summary.kills.entry(mode).or_default() += 1;
        env.smtp.faults().clear();
    }
    if !finished_early {
        env.ok(&["digest", "--date", HF_DAY]);
        summary.runs += 1;
    }
    // One more run must find nothing left to send.
    let settled = env.smtp.messages().len();
    env.ok(&["digest", "--date", HF_DAY]);
    summary.runs += 1;
    let all = env
        .smtp
        .wait_for(settled + 1, Duration::from_millis(300))
        .await;
    summary.final_second_run_sent = all.len() - settled;

    let mut by_recipient: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for mail in &all {
        let message = support::parse(mail);
        let id = support::header_raw(&message, "Message-ID").unwrap_or_default();
        for rcpt in &mail.rcpt_to {
            by_recipient
                .entry(rcpt.clone())
                .or_default()
                .push(id.clone());
        }
    }
    summary.messages = all.len();
    summary.recipients = by_recipient.len();
    summary.lost = (0..n)
        .filter(|i| !by_recipient.contains_key(&format!("reader{i}@example.org")))
        .count();
    for ids in by_recipient.values() {
        summary.duplicates += ids.len() - 1;
        summary.duplicates_with_other_message_id += ids.iter().filter(|id| **id != ids[0]).count();
    }
    summary.elapsed = started.elapsed();
    assert_eq!(env.smtp.panicked_connections(), 0);
    // The database agrees: one delivery per subscriber, every one recorded as sent.
    let app = env.app().await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![("sent".to_string(), n as i64)],
        "{}",
        summary.table()
    );
    summary
}

fn assert_nothing_lost(summary: &CrashSummary, kills: usize) {
    let table = summary.table();
    println!("{table}");
    assert_eq!(summary.lost, 0, "a subscriber got no digest\n{table}");
    assert_eq!(
        summary.recipients, summary.subscribers,
        "mail to someone unknown\n{table}"
    );
    assert_eq!(
        summary.duplicates_with_other_message_id, 0,
        "a repeat carried a different Message-ID\n{table}"
    );
    assert_eq!(
        summary.final_second_run_sent, 0,
        "a finished run sent more\n{table}"
    );
    // A copy can only be repeated when a kill fell between the server's
    // 250 and paperboy's record of it: at most one per concurrent send.
    assert!(
        summary.duplicates <= kills * 2,
        "more repeats than kill points can explain\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_at_random_points_delivers_every_digest_with_stable_message_ids() {
    let seed = rand::rng().random();
    let summary = crash_run(200, 5, seed).await;
    assert!(
        summary.kills.values().sum::<usize>() >= 3,
        "too few kill points landed before the run finished\n{}",
        summary.table()
    );
    assert_nothing_lost(&summary, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/crash-test"]
async fn crash_safety_at_scale_from_the_environment() {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = var("PAPERBOY_CRASH_SUBSCRIBERS", 1000) as usize;
    let kills = var("PAPERBOY_CRASH_KILLS", 20) as usize;
    let seed = var("PAPERBOY_CRASH_SEED", rand::rng().random());
    let summary = crash_run(n, kills, seed).await;
    assert_nothing_lost(&summary, kills);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_killed_at_random_points_leaves_the_store_intact_and_hides_no_papers() {
    let env = TestEnv::new().await;
    // An ETag, so a validator saved without its papers would hide them behind a 304.
    env.http.route(
        "/api/daily_papers",
        crate::support::FixtureResponse::fixture("hf_daily_papers_2026-06-12_full_30items.json")
            .with_content_type("application/json")
            .with_etag("v1")
            .with_delay(Duration::from_millis(300)),
    );
    let mut rng = StdRng::seed_from_u64(rand::rng().random());
    let mut kills = 0;
    for i in 0..8 {
        let mut child = env
            .command(&["fetch", "--date", HF_DAY])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Even rounds die before the answer can arrive; odd ones around the
        // moment it is stored.
        let wait = Duration::from_millis(if i % 2 == 0 {
            rng.random_range(0..250)
        } else {
            rng.random_range(250..450)
        });
        if !wait_until(&env, &mut child, usize::MAX, wait).await {
            sigkill(&mut child);
            kills += 1;
        }
        // Whatever the kill interrupted, the file is consistent.
        let app = env.app().await;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
        assert_eq!(check, "ok");
        // A source's papers land together or not at all.
        let stored = app
            .store
            .papers_between(crate::env::hf_day(), crate::env::hf_day())
            .await
            .unwrap();
        let hf = stored
            .iter()
            .filter(|p| !p.title.contains("friends"))
            .count();
        assert!(hf == 0 || hf == 30, "{hf} of 30 papers stored");
        app.store.close().await;
    }
    assert!(kills >= 4, "only {kills} fetches were killed");
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    let stored = app
        .store
        .papers_between(crate::env::hf_day(), crate::env::hf_day())
        .await
        .unwrap();
    assert_eq!(stored.len(), 31, "every paper, none hidden behind a 304");
}

/// The daemon's own digest, killed mid-run: a restarted `paperboy serve`
/// must finish the day, including subscribers the killed run never reached
/// (more than one page of them), without waiting for the retry job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_digest_finishes_the_day_after_a_restart() {
    // Digests go out at midnight UTC (delivery hour 0), so today's is due
    // whatever the time of day; the retry job runs only on 1 January, so it
    // cannot be what finishes the day.
    let env = TestEnv::with_config(
        "\n[schedule]\ntimezone = \"UTC\"\ndefault_hour = 0\ndigest = \"0 0 0 * * *\"\nretry = \"0 0 0 1 1 *\"\nfetch = \"0 0 0 1 1 *\"\n",
    )
    .await;
    let today = chrono::Utc::now().date_naive();
    let body = std::fs::read_to_string(crate::support::fixture_path(
        "hf_daily_papers_2026-06-12_full_30items.json",
    ))
    .unwrap()
    .replace("2026-06-12T", &format!("{today}T"));
    env.http.route(
        "/api/daily_papers",
        crate::support::FixtureResponse::body(body).with_content_type("application/json"),
    );
    env.ok(&["fetch", "--date", &today.to_string(), "--source", "hf"]);
    let n = 520; // more than one page (500) of subscribers
    let lines: String = (0..n)
        .map(|i| format!("{{\"email\": \"reader{i}@example.org\", \"topics\": [\"all:model\"]}}\n"))
        .collect();
    let import = env.dir.path().join("subs.jsonl");
    std::fs::write(&import, lines).unwrap();
    env.ok(&["subscribers", "import", import.to_str().unwrap()]);
    // An earlier day's run, so the daemon knows it has run before and catches up.
    env.ok(&[
        "digest",
        "--date",
        &(today - chrono::Duration::days(1)).to_string(),
    ]);

    env.smtp.faults().delay(Duration::from_millis(2));
    let serve = |log: &str| {
        env.command(&["serve"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.dir.path().join(log)).unwrap())
            .spawn()
            .expect("start paperboy serve")
    };
    let mut daemon = serve("serve1.log");
    let got = env.smtp.wait_for(20, Duration::from_secs(60)).await;
    assert!(got.len() >= 20, "the daemon's catch-up digest started");
    sigkill(&mut daemon);
    let before = env.smtp.messages().len();
    assert!(before < n, "killed before the run finished");
    env.smtp.faults().clear();

    let mut daemon = serve("serve2.log");
    // Repeats of the copies in flight at the kill count as messages, so wait
    // for recipients, not messages.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut to: Vec<String> = Vec::new();
    let mut seen = before;
    while Instant::now() < deadline {
        let all = env.smtp.wait_for(seen + 1, Duration::from_secs(2)).await;
        seen = all.len();
        to = all.iter().flat_map(|m| m.rcpt_to.clone()).collect();
        to.sort();
        to.dedup();
        if to.len() >= n {
            break;
        }
    }
    sigkill(&mut daemon);
    assert_eq!(
        to.len(),
        n,
        "after the restart {} of {n} subscribers had their digest ({before} before the kill)\n{}",
        to.len(),
        std::fs::read_to_string(env.dir.path().join("serve2.log")).unwrap_or_default()
    );
}
