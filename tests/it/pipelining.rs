//! SMTP PIPELINING (RFC 2920): the real binary sends digests to the real
//! SMTP server on loopback, once with PIPELINING in its EHLO reply and once
//! without. Pipelined, `MAIL FROM`, `RCPT TO` and `DATA` reach the server
//! together (it records which commands arrived with the next one already
//! behind them); without the keyword, each waits for its reply. Either way a
//! refusal mid-pipeline settles only that digest: a 550 on `RCPT` is the
//! recipient's hard bounce, a 451 on `MAIL` marks nothing sent and the
//! retry delivers each digest once.

use std::collections::BTreeMap;

use chrono::Utc;
use paperboy::app::App;
use paperboy::store::{Delivery, DeliveryStatus};

use crate::env::{hf_day, TestEnv, HF_DAY};
use crate::support::SmtpServer;

const A: &str = "ada@example.org";
const B: &str = "bob@example.org";
const C: &str = "cy@example.org";

/// Papers fetched and A, B and C subscribed to a topic that matches; the
/// server offers PIPELINING or not.
async fn env_with(pipelining: bool) -> TestEnv {
    let env = TestEnv::new().await;
    if !pipelining {
        env.smtp.faults().without_pipelining();
    }
    env.ok(&["fetch", "--date", HF_DAY]);
    for s in [A, B, C] {
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

/// How many commands with this verb arrived pipelined.
fn pipelined(server: &SmtpServer, verb: &str) -> usize {
    server
        .pipelined_commands()
        .iter()
        .filter(|v| *v == verb)
        .count()
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
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_offering_pipelining_gets_mail_rcpt_and_data_in_one_go() {
    let env = env_with(true).await;
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
    // MAIL arrived with RCPT behind it and RCPT with DATA behind it; DATA
    // itself waited for its 354 before the message went out.
    assert_eq!(pipelined(&env.smtp, "MAIL"), 3, "{:?}", env.smtp.commands());
    assert_eq!(pipelined(&env.smtp, "RCPT"), 3);
    assert_eq!(pipelined(&env.smtp, "DATA"), 0);
    for m in env.smtp.messages() {
        let parsed = crate::support::mail::parse(&m);
        assert!(crate::support::mail::text_part(&parsed).is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_pipelining_gets_one_command_at_a_time() {
    let env = env_with(false).await;
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
    assert_eq!(
        env.smtp.pipelined_commands(),
        Vec::<String>::new(),
        "{:?}",
        env.smtp.commands()
    );
}

/// A 550 on one recipient's `RCPT`: with or without pipelining, that digest
/// fails as a hard bounce and is never retried; the others arrive once.
async fn a_550_on_rcpt_fails_only_that_digest(pipelining: bool) {
    let env = env_with(pipelining).await;
    env.smtp
        .faults()
        .rcpt(B, 550, "5.1.1 <bob@example.org>: no such user");
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("2 sent") && stdout.contains("1 failed"),
        "{stdout}"
    );
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (C, 1)]));
    assert_eq!(pipelined(&env.smtp, "MAIL") > 0, pipelining);

    let app = env.app().await;
    let b = delivery(&app, B).await;
    assert_eq!((b.status, b.smtp_code), (DeliveryStatus::Failed, Some(550)));
    for who in [A, C] {
        assert_eq!(delivery(&app, who).await.status, DeliveryStatus::Sent);
    }
    let bounces = app
        .store
        .bounce_counts(Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!((bounces.hard, bounces.soft), (1, 0));

    env.smtp.faults().clear();
    let report = app
        .digest_run()
        .resume_unfinished(hf_day(), Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(report.sent, 0, "a hard bounce is final");
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (C, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_550_on_a_pipelined_rcpt_is_a_hard_bounce_for_that_recipient_only() {
    a_550_on_rcpt_fails_only_that_digest(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_550_on_rcpt_without_pipelining_is_a_hard_bounce_for_that_recipient_only() {
    a_550_on_rcpt_fails_only_that_digest(false).await;
}

/// `MAIL FROM` refused with 451 for the whole run: nothing is marked sent,
/// nothing arrives, and once the server takes mail again the retry delivers
/// each digest once.
async fn a_451_on_mail_marks_nothing_sent(pipelining: bool) {
    let env = env_with(pipelining).await;
    env.smtp
        .faults()
        .mail(451, "4.3.0 try again later", usize::MAX);
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("3 deferred"), "{stdout}");
    assert!(received(&env.smtp).is_empty());
    // Pipelined, the server still read RCPT and DATA (and refused them: no
    // transaction) before the client gave up on the connection.
    assert_eq!(pipelined(&env.smtp, "MAIL") > 0, pipelining);

    let app = env.app().await;
    for who in [A, B, C] {
        let d = delivery(&app, who).await;
        assert_eq!(d.status, DeliveryStatus::Deferred, "{who}");
        assert!(d.sent_at.is_none(), "{who}");
    }

    env.smtp.faults().clear();
    if !pipelining {
        env.smtp.faults().without_pipelining();
    }
    let report = app
        .digest_run()
        .resume_unfinished(hf_day(), Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(report.sent, 3);
    assert_eq!(received(&env.smtp), counts(&[(A, 1), (B, 1), (C, 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_451_on_a_pipelined_mail_from_marks_nothing_sent_and_the_retry_delivers_once() {
    a_451_on_mail_marks_nothing_sent(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_451_on_mail_from_without_pipelining_marks_nothing_sent_and_the_retry_delivers_once() {
    a_451_on_mail_marks_nothing_sent(false).await;
}
