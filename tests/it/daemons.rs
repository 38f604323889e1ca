//! Several daemons, one database: three `paperboy digest` processes
//! (separate processes, as on three hosts) share one PostgreSQL database
//! and one digest run to the test SMTP server. One of them is SIGKILLed at
//! several points of the run and a fresh process joins in its place (a
//! host restarting); the others go on, and take over the killed one's
//! claims once their leases pass (`lease_seconds = 2` in the test config).
//!
//! Every subscriber gets exactly one digest. The one allowed exception is a
//! digest the killed process handed to the server and had not recorded:
//! it is sent again with the same Message-ID, and there are at most as
//! many of those as sends were in flight (`concurrency` per kill). The
//! ledger holds no paper twice for anyone.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::env::{TestEnv, HF_DAY};
use crate::support;

/// `[digest] concurrency` of each process: sends in flight per process.
const CONCURRENCY: usize = 4;

fn spawn_daemon(env: &TestEnv) -> Child {
    env.command(&["digest", "--date", HF_DAY])
        .env("PAPERBOY__DIGEST__CONCURRENCY", CONCURRENCY.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start paperboy digest")
}

/// Waits until `arrived` messages were accepted or `limit` passed.
async fn wait_for_messages(env: &TestEnv, arrived: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while env.smtp.messages().len() < arrived && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_share_one_run_and_survive_a_killed_one() {
    let n = 1500;
    let env = TestEnv::on_postgres().await;
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

    let started = Instant::now();
    let mut daemons: Vec<Child> = (0..3).map(|_| spawn_daemon(&env)).collect();
    // Kill points: while the daemons plan and reserve, then twice while
    // they send. Each time the oldest daemon dies and a new one joins.
    let kill_after: [Option<usize>; 3] = [None, Some(n / 3), Some(2 * n / 3)];
    let mut kills = 0;
    for point in kill_after {
        match point {
            None => tokio::time::sleep(Duration::from_millis(300)).await,
            Some(m) => wait_for_messages(&env, m, Duration::from_secs(40)).await,
        }
        let mut victim = daemons.remove(0);
        if victim.try_wait().unwrap().is_none() {
            // SIGKILL: no destructor, no flush, no goodbye.
            let _ = victim.kill();
            kills += 1;
        }
        let _ = victim.wait();
        daemons.push(spawn_daemon(&env));
    }
    for mut daemon in daemons {
        let status = daemon.wait().unwrap();
        assert!(status.success(), "a surviving daemon failed: {status}");
    }
    let elapsed = started.elapsed();
    let all = env.smtp.wait_for(n, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = if env.smtp.messages().len() > all.len() {
        env.smtp.messages()
    } else {
        all
    };

    let mut by_recipient: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for mail in &all {
        let id = support::header_raw(&support::parse(mail), "Message-ID").unwrap_or_default();
        for rcpt in &mail.rcpt_to {
            by_recipient
                .entry(rcpt.clone())
                .or_default()
                .push(id.clone());
        }
    }
    let lost: Vec<usize> = (0..n)
        .filter(|i| !by_recipient.contains_key(&format!("reader{i}@example.org")))
        .collect();
    let resends: usize = by_recipient.values().map(|ids| ids.len() - 1).sum();
    let other_ids: usize = by_recipient
        .values()
        .map(|ids| ids.iter().filter(|id| **id != ids[0]).count())
        .sum();
    eprintln!(
        "{n} subscribers, 3 daemons, {kills} killed: {} messages, {resends} resent with \
         the same Message-ID, {:.1} s",
        all.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        lost.is_empty(),
        "{} subscribers got no digest: {lost:?}",
        lost.len()
    );
    assert_eq!(other_ids, 0, "a second digest with another Message-ID");
    assert!(
        resends <= kills * CONCURRENCY,
        "{resends} resends for {kills} kills of {CONCURRENCY} sends in flight"
    );

    // The database agrees: one delivery per subscriber, all sent, nothing
    // held; no paper twice in anyone's ledger.
    let statuses = support::database::texts(
        &env.db_url,
        "SELECT status || ':' || COUNT(*) FROM deliveries GROUP BY status",
    )
    .await;
    assert_eq!(statuses, [format!("sent:{n}")]);
    let twice = support::database::texts(
        &env.db_url,
        "SELECT subscriber_id || ':' || paper_id FROM sent_papers
         GROUP BY subscriber_id, paper_id HAVING COUNT(*) > 1",
    )
    .await;
    assert!(twice.is_empty(), "papers twice in a ledger: {twice:?}");
    let ledger_deliveries = support::database::texts(
        &env.db_url,
        "SELECT COUNT(DISTINCT delivery_id)::text FROM sent_papers",
    )
    .await;
    assert_eq!(ledger_deliveries, [n.to_string()]);
}
