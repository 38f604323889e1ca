//! The SMTP fault matrix: the real binary sends digests to the real SMTP
//! server on loopback while it misbehaves (down, 421/451/452, connection
//! dropped mid-DATA, 550 for some recipients, replies slower than the
//! timeout). Transient faults defer the digest and a later retry (the
//! daemon's retry job, run here in-process with a clock moved forward)
//! delivers it; permanent ones are recorded as failed and hard bounces
//! suspend; every test counts what the server received per recipient.
//! Also DKIM: a signed digest verifies with an independent verifier.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use paperboy::app::App;
use paperboy::domain::SubscriberStatus;
use paperboy::store::{Delivery, DeliveryStatus};

use crate::env::{hf_day, TestEnv, HF_DAY};
use crate::support::{self, SmtpServer};

const A: &str = "ada@example.org";
const B: &str = "bob@example.org";
const C: &str = "cy@example.org";

/// Papers fetched and `subscribers` added, each with a topic that matches.
async fn env_with(subscribers: &[&str]) -> TestEnv {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    for s in subscribers {
        env.ok(&["subscribers", "add", s, "--topic", "ti:agent*"]);
    }
    env
}

/// Messages the server accepted, per recipient.
fn received(server: &SmtpServer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in server.messages() {
        for r in m.rcpt_to {
            *out.entry(r).or_default() += 1;
        }
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

async fn delivery(app: &App, email: &str) -> Delivery {
    let sub = app
        .store
        .subscriber_by_email(&email.parse().unwrap())
        .await
        .unwrap();
    app.store
        .delivery_for(sub.id, hf_day())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no delivery for {email}"))
}

/// Runs the daemon's retry job as if at `at`.
async fn retry_at(app: &App, at: DateTime<Utc>) -> paperboy::digest::DigestReport {
    app.digest_run()
        .resume_unfinished(hf_day(), at)
        .await
        .unwrap()
}

/// Runs `paperboy digest` for the fixture day, which must exit non-zero
/// (something was deferred or failed); returns stdout and stderr.
fn digest_with_problems(env: &TestEnv) -> (String, String) {
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_run_time_defers_every_digest_and_the_retry_delivers_each_once() {
    let port = support::free_port();
    let env = env_with(&[A, B, C]).await;
    env.edit_config(&env.smtp.url(), &format!("smtp://127.0.0.1:{port}"));
    let (stdout, _) = digest_with_problems(&env);
    assert!(stdout.contains("3 deferred"), "{stdout}");

    let app = env.app().await;
    for who in [A, B, C] {
        let d = delivery(&app, who).await;
        assert_eq!(d.status, DeliveryStatus::Deferred, "{who}");
        assert_eq!(d.smtp_code, None);
    }
    // Not due yet: the backoff holds the retry back even once the server is up.
    let server = SmtpServer::start_on(port).await.unwrap();
    assert_eq!(retry_at(&app, Utc::now()).await.sent, 0);
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(2)).await;
    assert_eq!((report.sent, report.deferred, report.failed), (3, 0, 0));
    assert_eq!(
        retry_at(&app, Utc::now() + chrono::Duration::hours(3))
            .await
            .sent,
        0
    );
    let got = server.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(received(&server), counts(&[(A, 1), (B, 1), (C, 1)]));
    let bounces = app
        .store
        .bounce_counts(Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!((bounces.hard, bounces.soft), (0, 0), "no reply, no bounce");
}

/// A 4xx to MAIL FROM on every attempt: all three digests are deferred, the
/// next retry (still failing) defers them again with a doubled pause, and
/// once the server recovers each arrives exactly once.
async fn a_4xx_to_mail_from_is_deferred_with_growing_backoff_then_delivered_once(
    code: u16,
    text: &str,
) {
    let env = env_with(&[A, B, C]).await;
    env.smtp.faults().mail(code, text, usize::MAX);
    let before = Utc::now();
    let (stdout, stderr) = digest_with_problems(&env);
    let after = Utc::now();
    assert!(stdout.contains("3 deferred"), "{stdout}\n{stderr}");
    assert!(received(&env.smtp).is_empty());

    let app = env.app().await;
    for who in [A, B, C] {
        let d = delivery(&app, who).await;
        assert_eq!(d.status, DeliveryStatus::Deferred);
        assert!(d.last_error.unwrap().contains(&code.to_string()));
        let next = d.next_attempt_at.unwrap();
        assert!(
            next >= before + chrono::Duration::minutes(10)
                && next <= after + chrono::Duration::minutes(10),
            "first pause is 10 minutes: {next} vs {before}..{after}"
        );
    }
    let before = Utc::now();
    let report = retry_at(&app, before + chrono::Duration::hours(1)).await;
    let after = Utc::now();
    assert_eq!((report.sent, report.deferred), (0, 3));
    for who in [A, B, C] {
        let next = delivery(&app, who).await.next_attempt_at.unwrap();
        assert!(
            next >= before + chrono::Duration::minutes(20)
                && next <= after + chrono::Duration::minutes(20),
            "second pause is 20 minutes: {next}"
        );
    }
    let bounces = app
        .store
        .bounce_counts(Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!(
        (bounces.hard, bounces.soft),
        (0, 6),
        "two deferrals of three digests"
    );

    env.smtp.faults().clear();
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(2)).await;
    assert_eq!((report.sent, report.deferred, report.failed), (3, 0, 0));
    assert_eq!(
        retry_at(&app, Utc::now() + chrono::Duration::hours(3))
            .await
            .sent,
        0
    );
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_closing_the_connection_is_deferred_and_retried_until_delivered_once() {
    a_4xx_to_mail_from_is_deferred_with_growing_backoff_then_delivered_once(
        421,
        "4.3.2 service shutting down",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_451_is_deferred_and_retried_until_delivered_once() {
    a_4xx_to_mail_from_is_deferred_with_growing_backoff_then_delivered_once(
        451,
        "4.7.1 greylisted, try later",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_452_for_one_recipient_defers_only_that_digest_and_the_rest_of_the_run_goes_on() {
    let env = env_with(&[A, B, C]).await;
    // Two refusals: the first attempt and the in-run retry (mail.retries = 1).
    env.smtp
        .faults()
        .rcpt_times(B, 452, "4.2.2 <bob@example.org> mailbox full", 2);
    let (stdout, stderr) = digest_with_problems(&env);
    assert!(
        stdout.contains("2 sent") && stdout.contains("1 deferred"),
        "{stdout}"
    );
    assert!(!stderr.contains(B), "an address in the logs: {stderr}");
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (C, 1)]));

    let app = env.app().await;
    assert_eq!(delivery(&app, B).await.status, DeliveryStatus::Deferred);
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(1)).await;
    assert_eq!(report.sent, 1);
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_data_is_retried_and_each_digest_arrives_once() {
    let env = env_with(&[A, B, C]).await;
    // One drop: the in-run retry on a fresh connection delivers it.
    env.smtp.faults().drop_during_data(1);
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
    assert!(
        env.smtp.connections() >= 2,
        "the dropped connection was replaced"
    );

    // More drops than in-run attempts: deferred, then delivered by the retry job.
    let env = env_with(&[A, B, C]).await;
    env.smtp.faults().drop_during_data(100);
    let (stdout, _) = digest_with_problems(&env);
    assert!(stdout.contains("3 deferred"), "{stdout}");
    assert!(received(&env.smtp).is_empty());
    env.smtp.faults().clear();
    let app = env.app().await;
    assert_eq!(
        retry_at(&app, Utc::now() + chrono::Duration::hours(1))
            .await
            .sent,
        3
    );
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_550_for_some_recipients_fails_only_them_as_hard_bounces_and_is_never_retried() {
    let env = env_with(&[A, B, C]).await;
    env.smtp
        .faults()
        .rcpt(B, 550, "5.1.1 <bob@example.org>: no such user")
        .data_end(554, "5.7.1 <cy@example.org> rejected as spam", 1);
    let (stdout, stderr) = digest_with_problems(&env);
    assert!(
        stdout.contains("1 sent") && stdout.contains("2 failed"),
        "{stdout}"
    );
    for who in [A, B, C] {
        assert!(!stderr.contains(who), "an address in the logs: {stderr}");
    }
    // The 554 hits whichever of A and C reached the end of DATA first.
    let app = env.app().await;
    let b = delivery(&app, B).await;
    assert_eq!((b.status, b.smtp_code), (DeliveryStatus::Failed, Some(550)));
    assert!(b.last_error.unwrap().contains("no such user"));
    let (a, c) = (delivery(&app, A).await, delivery(&app, C).await);
    let (rejected, delivered) = if a.status == DeliveryStatus::Failed {
        ((a, A), (c, C))
    } else {
        ((c, C), (a, A))
    };
    assert_eq!(rejected.0.smtp_code, Some(554), "{}", rejected.1);
    assert_eq!(delivered.0.status, DeliveryStatus::Sent, "{}", delivered.1);
    assert_eq!(received(&env.smtp), counts(&[(delivered.1, 1)]));
    let bounces = app
        .store
        .bounce_counts(Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!((bounces.hard, bounces.soft), (2, 0));

    env.smtp.faults().clear();
    let report = retry_at(&app, Utc::now() + chrono::Duration::days(1)).await;
    assert_eq!(report.sent + report.failed + report.deferred, 0);
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(received(&env.smtp), counts(&[(delivered.1, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_slower_than_the_timeout_defer_the_digest_and_the_retry_delivers_it_once() {
    let env = env_with(&[A, B]).await;
    env.edit_config("timeout_secs = 5", "timeout_secs = 1");
    // The server reads each message but never answers its final dot.
    env.smtp.faults().stall_from(1);
    let (stdout, _) = digest_with_problems(&env);
    assert!(stdout.contains("2 deferred"), "{stdout}");
    assert!(received(&env.smtp).is_empty());

    // And a server too slow even to greet.
    env.smtp.faults().clear().delay(Duration::from_secs(3));
    let app = env.app().await;
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(1)).await;
    assert_eq!((report.sent, report.deferred), (0, 2));

    env.smtp.faults().clear();
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(2)).await;
    assert_eq!(report.sent, 2);
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_accepted_after_the_client_gave_up_is_resent_with_the_same_message_id() {
    // SMTP's one unavoidable duplicate (RFC 1047): the server took the mail
    // but its 250 came after our timeout. The retry carries the same
    // Message-ID, so the receiving side can drop the copy.
    let env = env_with(&[A, B]).await;
    env.edit_config("timeout_secs = 5", "timeout_secs = 1");
    env.smtp.faults().late_accept(1, Duration::from_secs(4));
    env.ok(&["digest", "--date", HF_DAY]);
    let got = received(&env.smtp);
    assert_eq!(got.values().sum::<usize>(), 3, "{got:?}");
    assert_eq!(got.values().filter(|&&n| n == 2).count(), 1, "{got:?}");
    for (who, n) in &got {
        let ids: std::collections::BTreeSet<String> = env
            .smtp
            .messages()
            .iter()
            .filter(|m| m.rcpt_to.contains(who))
            .map(|m| support::header_raw(&support::parse(m), "Message-ID").unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "{who} got {n} copies with ids {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_past_the_retry_horizon_fail_the_digest_and_nothing_else() {
    let env = env_with(&[A, B]).await;
    env.smtp.faults().rcpt(B, 451, "4.7.1 try again later");
    let (stdout, _) = digest_with_problems(&env);
    assert!(
        stdout.contains("1 sent") && stdout.contains("1 deferred"),
        "{stdout}"
    );
    let app = env.app().await;
    // Within the horizon (24 h by default): deferred again.
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(1)).await;
    assert_eq!(report.deferred, 1);
    // Reserved more than retry_horizon_hours ago: the next failure is final.
    let pool = sqlx::SqlitePool::connect(&env.dir.db_url()).await.unwrap();
    let long_ago = (Utc::now() - chrono::Duration::hours(25))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    sqlx::query("UPDATE deliveries SET created_at = ?")
        .bind(long_ago)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = retry_at(&app, Utc::now() + chrono::Duration::hours(3)).await;
    assert_eq!((report.sent, report.deferred, report.failed), (0, 0, 1));
    let b = delivery(&app, B).await;
    assert_eq!(b.status, DeliveryStatus::Failed);
    assert!(b.last_error.unwrap().starts_with("gave up after retries"));
    assert_eq!(
        retry_at(&app, Utc::now() + chrono::Duration::days(1))
            .await
            .failed,
        0
    );
    assert_eq!(received(&env.smtp), counts(&[(A, 1)]));
    let sub = app
        .store
        .subscriber_by_email(&B.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        sub.status,
        SubscriberStatus::Active,
        "giving up is no hard bounce"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_bounces_in_a_row_suspend_a_subscriber_until_reactivated() {
    let env = env_with(&[A, B]).await;
    env.edit_config(
        "retries = 1\n",
        "retries = 1\nsuspend_after_hard_bounces = 2\n",
    );
    env.edit_config("concurrency = 2\n", "concurrency = 2\nsend_empty = true\n");
    env.smtp.faults().rcpt(B, 550, "5.1.1 no such user");
    for day in ["2026-06-12", "2026-06-13"] {
        let out = env.paperboy(&["digest", "--date", day]);
        assert!(!out.status.success());
    }
    let list = env.ok(&["subscribers", "list"]);
    let line = list.lines().find(|l| l.contains(B)).unwrap();
    assert!(line.contains("\tsuspended\t"), "{list}");
    let status = String::from_utf8_lossy(&env.paperboy(&["status"]).stdout).into_owned();
    assert!(
        status.contains("1 active, 0 pending, 0 unsubscribed, 1 suspended"),
        "{status}"
    );
    assert!(status.contains(": 2 hard (5xx), 0 soft (4xx)"), "{status}");

    // Suspended: no digest is even attempted.
    env.ok(&["digest", "--date", "2026-06-14"]);
    let rcpt_b = |env: &TestEnv| {
        env.smtp
            .commands()
            .iter()
            .filter(|c| c.to_lowercase() == format!("rcpt to:<{B}>"))
            .count()
    };
    assert_eq!(
        rcpt_b(&env),
        2,
        "one attempt per run (a 5xx is final), then none"
    );

    env.smtp.faults().clear();
    env.ok(&["subscribers", "reactivate", B]);
    let again = env.paperboy(&["subscribers", "reactivate", B]);
    assert!(
        !again.status.success(),
        "only a suspended subscriber can be reactivated"
    );
    env.ok(&["digest", "--date", "2026-06-15"]);
    assert_eq!(rcpt_b(&env), 3);
    assert_eq!(received(&env.smtp)[B], 1);
    assert_eq!(received(&env.smtp)[A], 4);
}

/// Writes a private key in PKCS#8 PEM with openssl: `RSA` (2048 bits) or `ED25519`.
fn generate_key(algorithm: &str, path: &std::path::Path) {
    let mut args = vec!["genpkey", "-algorithm", algorithm];
    if algorithm == "RSA" {
        args.extend(["-pkeyopt", "rsa_keygen_bits:2048"]);
    }
    let out = std::process::Command::new("openssl")
        .args(args)
        .arg("-out")
        .arg(path)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Verifies `message` with dkimpy, answering its DNS query with `txt`.
fn dkimpy_verifies(dir: &std::path::Path, message: &[u8], dns_name: &str, txt: &str) -> String {
    let msg = dir.join("signed.eml");
    std::fs::write(&msg, message).unwrap();
    let script = r#"
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
name, txt = sys.argv[2].encode(), sys.argv[3].encode()
def dns(q, timeout=5):
    return txt if q.rstrip(b'.') == name else None
print('verified' if dkim.verify(msg, dnsfunc=dns) else 'FAILED')
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&msg)
        .arg(dns_name)
        .arg(txt)
        .output()
        .expect("python3 with dkimpy (installed by scripts/test) must be available");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_signed_with_an_rsa_key_carries_a_dkim_signature_over_the_list_headers_that_verifies(
) {
    signed_digest_verifies("RSA", "rsa").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_signed_with_an_ed25519_key_verifies() {
    signed_digest_verifies("ED25519", "ed25519").await;
}

async fn signed_digest_verifies(algorithm: &str, k: &str) {
    let env = env_with(&[A]).await;
    let key = env.dir.path().join("dkim.key");
    generate_key(algorithm, &key);
    let toml = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        format!(
            "{toml}\n[mail.dkim]\nselector = \"pb2026\"\ndomain = \"papers.example.org\"\nkey_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let check = env.ok(&["check"]);
    let line = check
        .lines()
        .find(|l| l.starts_with("dkim key: ok"))
        .unwrap_or_else(|| panic!("{check}"));
    assert!(
        line.contains("pb2026._domainkey.papers.example.org"),
        "{line}"
    );
    let txt = &line[line.find('"').unwrap() + 1..line.rfind('"').unwrap()];
    assert!(txt.starts_with(&format!("v=DKIM1; k={k}; p=")), "{txt}");

    env.ok(&["digest", "--date", HF_DAY]);
    let got = env.smtp.messages();
    assert_eq!(got.len(), 1);
    let msg = support::parse(&got[0]);
    let sig: String = support::header_raw(&msg, "DKIM-Signature")
        .expect("a DKIM-Signature header")
        .split_whitespace()
        .collect();
    let h = sig
        .split(';')
        .find_map(|t| t.trim().strip_prefix("h="))
        .unwrap_or_else(|| panic!("no h= in {sig}"));
    let signed: Vec<&str> = h.split(':').collect();
    for needed in [
        "from",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(signed.contains(&needed), "{needed} not in h={h}");
    }
    assert!(sig.contains("d=papers.example.org"), "{sig}");
    assert!(sig.contains(&format!("a={k}-sha256")), "{sig}");
    assert_eq!(
        dkimpy_verifies(
            env.dir.path(),
            &got[0].data,
            "pb2026._domainkey.papers.example.org",
            txt
        ),
        "verified"
    );
    // From is signed twice (the second time as absent); the headers that
    // say how to read the body and which list it is are signed too.
    assert_eq!(signed.iter().filter(|h| **h == "from").count(), 2, "h={h}");
    for needed in ["content-type", "mime-version", "list-id"] {
        assert!(signed.contains(&needed), "{needed} not in h={h}");
    }
    // The same check fails when the message was altered in transit: its
    // subject, a second From added above the first, its list or its MIME
    // version changed.
    let raw = String::from_utf8_lossy(&got[0].data).into_owned();
    assert_eq!(raw.matches("\r\nList-Id: ").count(), 1, "{raw}");
    assert_eq!(raw.matches("\r\nMIME-Version: 1.0\r\n").count(), 1, "{raw}");
    for tampered in [
        raw.replacen("Subject: ", "Subject: X", 1),
        format!("From: \"Your bank\" <security@bank.example>\r\n{raw}"),
        raw.replacen("\r\nList-Id: ", "\r\nList-Id: other ", 1),
        raw.replacen("\r\nMIME-Version: 1.0\r\n", "\r\nMIME-Version: 1.1\r\n", 1),
    ] {
        assert_eq!(
            dkimpy_verifies(
                env.dir.path(),
                tampered.as_bytes(),
                "pb2026._domainkey.papers.example.org",
                txt
            ),
            "FAILED",
            "{}",
            &tampered[..tampered.find("\r\n\r\n").unwrap_or(tampered.len())]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_dkim_key_fails_check_and_startup_naming_the_file() {
    let env = TestEnv::new().await;
    let key = env.dir.path().join("dkim.key");
    let toml = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        format!(
            "{toml}\n[mail.dkim]\nselector = \"pb\"\ndomain = \"papers.example.org\"\nkey_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    for content in [
        None,
        Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
    ] {
        if let Some(c) = content {
            std::fs::write(&key, c).unwrap();
        }
        let out = env.paperboy(&["check"]);
        assert!(!out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("mail.dkim.key_file"), "{text}");
        assert!(text.contains(&key.display().to_string()), "{text}");
        let out = env.paperboy(&["digest", "--date", HF_DAY]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("mail.dkim.key_file"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_metrics_show_smtp_latency_by_outcome_and_todays_bounces() {
    let port = support::free_port();
    let env = env_with(&[A, B, C]).await;
    let toml = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        format!("{toml}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n[schedule]\ncatch_up = false\n"),
    )
    .unwrap();
    env.smtp
        .faults()
        .rcpt(B, 550, "5.1.1 no such user")
        .rcpt_times(C, 451, "4.7.1 later", 2);
    // The digest runs in the daemon's process, as the scheduler runs it.
    let app = std::sync::Arc::new(App::build(env.settings()).await.unwrap());
    let report = app
        .digest_run()
        .run(
            hf_day(),
            Default::default(),
            Utc::now(),
            &indicatif::ProgressBar::hidden(),
        )
        .await
        .unwrap();
    assert_eq!((report.sent, report.failed, report.deferred), (1, 1, 1));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(paperboy::app::serve(app, listener, async {
        let _ = stopped.await;
    }));
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        match reqwest::get(&url).await {
            Ok(r) => break r.text().await.unwrap(),
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    for needle in [
        "# TYPE paperboy_smtp_send_seconds histogram",
        // A: one transaction; C: two 451s (first try and in-run retry); B: one 550.
        "paperboy_smtp_send_seconds_count{outcome=\"ok\"} 1\n",
        "paperboy_smtp_send_seconds_count{outcome=\"transient\"} 2\n",
        "paperboy_smtp_send_seconds_count{outcome=\"permanent\"} 1\n",
        "paperboy_smtp_send_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 1\n",
        "paperboy_bounces_today{kind=\"hard\"} 1\n",
        "paperboy_bounces_today{kind=\"soft\"} 1\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains('@'), "no addresses:\n{text}");
    // `paperboy status` at a terminal reads the same histogram from the daemon.
    let status = tokio::task::block_in_place(|| env.ok(&["status"]));
    assert!(
        status.contains("smtp latency (daemon, since it started): 1 ok (mean "),
        "{status}"
    );
    assert!(status.contains("; 2 transient (mean "), "{status}");
    assert!(status.contains("; 1 permanent (mean "), "{status}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("daemon stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_rejecting_the_sender_fails_the_run_but_suspends_nobody() {
    let env = env_with(&[A, B]).await;
    env.edit_config(
        "retries = 1\n",
        "retries = 1\nsuspend_after_hard_bounces = 1\n",
    );
    env.smtp.faults().mail(
        550,
        "5.7.1 <digest@papers.example.org>: Sender address rejected: not owned by user",
        usize::MAX,
    );
    let (stdout, _) = digest_with_problems(&env);
    assert!(stdout.contains("2 failed"), "{stdout}");
    let list = env.ok(&["subscribers", "list"]);
    assert_eq!(list.matches("\tactive\t").count(), 2, "{list}");
    let app = env.app().await;
    let bounces = app
        .store
        .bounce_counts(Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!(bounces.hard, 2, "still counted as bounces");
}
