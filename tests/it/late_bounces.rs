//! Bounces and complaints that arrive after sending, end to end with the
//! real binary: digests go out from their own signed bounce address
//! (VERP), a delivery status notification and an ARF complaint written the
//! way Postfix and a mailbox provider write them are piped to `paperboy
//! bounces ingest`, and only the right subscriber is suspended or
//! unsubscribed. Input that cannot be read is kept, a database that cannot
//! be opened asks the MTA to retry (75), and a webhook whose signature
//! fails records nothing.

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use hmac::{KeyInit, Mac};

use crate::env::{TestEnv, HF_DAY};
use crate::support::ReceivedMail;

const NEXT_DAY: &str = "2026-06-13";

/// Three subscribers, digests sent from `bounces+{token}@papers.example.org`,
/// suspension after two hard bounces, a quarantine in the test directory.
pub(crate) async fn env_with_verp() -> TestEnv {
    let env = TestEnv::new().await;
    let quarantine = env.dir.path().join("quarantine");
    env.edit_config(
        "retries = 1\n[security]",
        &format!(
            "retries = 1\nreturn_path = \"bounces+{{token}}@papers.example.org\"\nsuspend_after_hard_bounces = 2\n[bounces]\nquarantine_dir = \"{}\"\n[security]",
            quarantine.display()
        ),
    );
    env.edit_config("[digest]\n", "[digest]\nsend_empty = true\n");
    for who in ["ada", "bob", "cy"] {
        env.ok(&[
            "subscribers",
            "add",
            &format!("{who}@example.org"),
            "--topic",
            "upvotes>=0",
        ]);
    }
    env.ok(&["fetch", "--date", HF_DAY]);
    env
}

fn ingest(env: &TestEnv, message: &[u8], recipient: Option<&str>) -> Output {
    let mut args = vec!["bounces", "ingest"];
    if let Some(r) = recipient {
        args.extend(["--recipient", r]);
    }
    let mut child = env
        .command(&args)
        .env_remove("ORIGINAL_RECIPIENT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `subscribers list` as (email, status).
fn statuses(env: &TestEnv) -> Vec<(String, String)> {
    env.ok(&["subscribers", "list"])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[2].to_string(), f[1].to_string())
        })
        .collect()
}

pub(crate) fn status_of(env: &TestEnv, email: &str) -> String {
    statuses(env)
        .into_iter()
        .find(|(e, _)| e == email)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{email} is not listed"))
}

pub(crate) fn to<'a>(mails: &'a [ReceivedMail], email: &str) -> &'a ReceivedMail {
    mails
        .iter()
        .rev()
        .find(|m| m.rcpt_to == [email.to_string()])
        .unwrap_or_else(|| panic!("no digest to {email}"))
}

/// The header block of a sent message.
fn headers_of(mail: &ReceivedMail) -> String {
    let data = String::from_utf8_lossy(&mail.data);
    data.split("\r\n\r\n").next().unwrap().to_string()
}

/// A delivery status notification as Postfix writes one, for `original`
/// refused with 550 5.1.1 for `failed_recipient`, sent to the original's
/// envelope sender.
fn postfix_dsn(original: &ReceivedMail, failed_recipient: &str) -> Vec<u8> {
    let verp = &original.mail_from;
    format!(
        "Return-Path: <>\r\n\
Received: by mx.example.net (Postfix) id 4F1A2B3C4D; Sat, 13 Jun 2026 07:02:11 +0000 (UTC)\r\n\
Date: Sat, 13 Jun 2026 07:02:11 +0000 (UTC)\r\n\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: {verp}\r\n\
Auto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\
\tboundary=\"4F1A2B3C4D.1781334131/mx.example.net\"\r\n\
Message-Id: <20260613070211.5E6F7A8B9C@mx.example.net>\r\n\
\r\n\
This is a MIME-encapsulated message.\r\n\
\r\n\
--4F1A2B3C4D.1781334131/mx.example.net\r\n\
Content-Description: Notification\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
This is the mail system at host mx.example.net.\r\n\
\r\n\
I'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients. It's attached below.\r\n\
\r\n\
<{failed_recipient}>: host mail.example.org[192.0.2.25] said: 550 5.1.1\r\n\
    <{failed_recipient}>: Recipient address rejected: User unknown in virtual\r\n\
    mailbox table (in reply to RCPT TO command)\r\n\
\r\n\
--4F1A2B3C4D.1781334131/mx.example.net\r\n\
Content-Description: Delivery report\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.net\r\n\
X-Postfix-Queue-ID: 4F1A2B3C4D\r\n\
X-Postfix-Sender: rfc822; {verp}\r\n\
Arrival-Date: Sat, 13 Jun 2026 07:02:10 +0000 (UTC)\r\n\
\r\n\
Final-Recipient: rfc822; {failed_recipient}\r\n\
Original-Recipient: rfc822;{failed_recipient}\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Remote-MTA: dns; mail.example.org\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <{failed_recipient}>: Recipient address\r\n\
    rejected: User unknown in virtual mailbox table\r\n\
\r\n\
--4F1A2B3C4D.1781334131/mx.example.net\r\n\
Content-Description: Undelivered Message Headers\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
Return-Path: <{verp}>\r\n\
{headers}\r\n\
\r\n\
--4F1A2B3C4D.1781334131/mx.example.net--\r\n",
        headers = headers_of(original),
    )
    .into_bytes()
}

/// An RFC 5965 abuse report as a mailbox provider's feedback loop sends
/// it: to the operator's report address (no token there), with the whole
/// original as it was delivered (its Return-Path added by the receiver).
fn arf_complaint(original: &ReceivedMail) -> Vec<u8> {
    let mut out = format!(
        "From: Feedback Loop <fbl@mail.example.net>\r\n\
Date: Sat, 13 Jun 2026 09:12:44 +0000\r\n\
Subject: FW: complaint about a message from papers.example.org\r\n\
To: fbl-reports@papers.example.org\r\n\
Message-ID: <fbl-20260613-0912@mail.example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report;\r\n\
\tboundary=\"part1_13d.2e68ed54_boundary\"\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: text/plain; charset=\"US-ASCII\"\r\n\
Content-Transfer-Encoding: 7bit\r\n\
\r\n\
This is an email abuse report for an email message received from IP\r\n\
192.0.2.1 on Sat, 13 Jun 2026 07:02:10 +0000.\r\n\
For more information about this format please see\r\n\
http://www.mipassoc.org/arf/.\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: abuse\r\n\
User-Agent: SomeGenerator/1.0\r\n\
Version: 1\r\n\
Original-Mail-From: <{verp}>\r\n\
Arrival-Date: Sat, 13 Jun 2026 07:02:10 +0000\r\n\
Reporting-MTA: dns; mail.example.net\r\n\
Source-IP: 192.0.2.1\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: inline\r\n\
\r\n\
Return-Path: <{verp}>\r\n",
        verp = original.mail_from
    )
    .into_bytes();
    out.extend_from_slice(&original.data);
    out.extend_from_slice(b"\r\n--part1_13d.2e68ed54_boundary--\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dsn_suspends_after_the_configured_count_and_an_arf_complaint_unsubscribes_only_their_subscriber(
) {
    let env = env_with_verp().await;
    env.ok(&["digest", "--date", HF_DAY]);
    let day1 = env.smtp.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(day1.len(), 3);

    // Every digest leaves from its own bounce address.
    let mut senders: Vec<&str> = day1.iter().map(|m| m.mail_from.as_str()).collect();
    for s in &senders {
        assert!(
            s.starts_with("bounces+") && s.ends_with("@papers.example.org"),
            "MAIL FROM:<{s}> is not the VERP address"
        );
        let token = &s["bounces+".len()..s.find('@').unwrap()];
        assert!(
            token.len() >= 21
                && token
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }
    senders.sort();
    senders.dedup();
    assert_eq!(senders.len(), 3, "one bounce address per delivery");

    // A hard bounce for ada's digest: counted, not yet suspended (2 needed).
    let out = ingest(
        &env,
        &postfix_dsn(to(&day1, "ada@example.org"), "ada@example.org"),
        Some(&to(&day1, "ada@example.org").mail_from),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("counted: hard bounce (5.1.1"),
        "{}",
        text(&out)
    );
    assert_eq!(status_of(&env, "ada@example.org"), "active");

    // The next day's digests.
    env.ok(&["digest", "--date", NEXT_DAY]);
    let all = env.smtp.wait_for(6, Duration::from_secs(30)).await;
    assert_eq!(all.len(), 6);
    let ada2 = to(&all, "ada@example.org");
    assert_ne!(ada2.mail_from, to(&day1, "ada@example.org").mail_from);

    // The second bounce comes to ada's bounce address but its body names
    // bob: the signed address decides, the body's addresses are not trusted.
    let out = ingest(
        &env,
        &postfix_dsn(ada2, "bob@example.org"),
        Some(&ada2.mail_from),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("suspended: hard bounce"),
        "{}",
        text(&out)
    );
    assert_eq!(status_of(&env, "ada@example.org"), "suspended");
    assert_eq!(status_of(&env, "bob@example.org"), "active");

    // A complaint about bob's digest, sent to the feedback-loop address:
    // the token in the returned original's Return-Path finds him.
    let bob = to(&all, "bob@example.org");
    let out = ingest(
        &env,
        &arf_complaint(bob),
        Some("fbl-reports@papers.example.org"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("unsubscribed: complaint (abuse)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        statuses(&env),
        vec![
            ("ada@example.org".to_string(), "suspended".to_string()),
            ("bob@example.org".to_string(), "unsubscribed".to_string()),
            ("cy@example.org".to_string(), "active".to_string()),
        ]
    );

    // The same complaint again changes nothing more.
    let out = ingest(&env, &arf_complaint(bob), None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status_of(&env, "cy@example.org"), "active");

    // `paperboy status` shows the late reports and the complaint rate.
    let status = env.paperboy(&["status", "--date", NEXT_DAY]);
    let shown = text(&status);
    assert!(
        shown.contains("late bounces and complaints, last 7 days: 2 hard, 0 soft, 2 complaints"),
        "{shown}"
    );
    assert!(
        shown.contains("ABOVE the 0.3 % providers enforce"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailto_unsubscribe_of_a_digest_piped_to_ingest_unsubscribes_only_its_subscriber() {
    let env = env_with_verp().await;
    env.ok(&["digest", "--date", HF_DAY]);
    let sent = env.smtp.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(sent.len(), 3);

    // The https URL first (one-click), then the mailto: form on the
    // bounce address's domain.
    let cy = to(&sent, "cy@example.org");
    let parsed = cy.parsed();
    let header = crate::support::header_raw(&parsed, "List-Unsubscribe").unwrap();
    let header: String = header.split_whitespace().collect::<Vec<_>>().join(" ");
    let (url, mailto) = header
        .split_once(", ")
        .unwrap_or_else(|| panic!("one form only: {header}"));
    assert!(
        url.starts_with("<https://papers.example.org/") && url.ends_with('>'),
        "{header}"
    );
    let address = mailto
        .strip_prefix("<mailto:")
        .and_then(|m| m.strip_suffix('>'))
        .unwrap_or_else(|| panic!("no mailto: in {header}"));
    assert!(
        address.starts_with("unsubscribe+") && address.ends_with("@papers.example.org"),
        "{address}"
    );
    assert_eq!(
        crate::support::header_raw(&parsed, "List-Unsubscribe-Post")
            .unwrap()
            .trim(),
        "List-Unsubscribe=One-Click"
    );
    // Each subscriber has their own address.
    let ada =
        crate::support::header_raw(&to(&sent, "ada@example.org").parsed(), "List-Unsubscribe")
            .unwrap();
    assert!(!ada.contains(address), "{ada}");

    // What a mail client sends to it, as the MTA pipes it.
    let request = format!(
        "From: cy@example.org\r\nTo: {address}\r\nSubject: unsubscribe\r\nDate: Fri, 12 Jun 2026 08:00:00 +0000\r\nMessage-ID: <req-1@example.org>\r\n\r\nThis message was sent to unsubscribe.\r\n"
    );
    let out = ingest(&env, request.as_bytes(), Some(address));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unsubscribed"), "{}", text(&out));
    assert_eq!(
        statuses(&env),
        vec![
            ("ada@example.org".to_string(), "active".to_string()),
            ("bob@example.org".to_string(), "active".to_string()),
            ("cy@example.org".to_string(), "unsubscribed".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_input_is_kept_and_a_database_that_cannot_be_opened_asks_for_a_retry() {
    let env = env_with_verp().await;
    let garbage: &[u8] = b"\x00\xff this is not a mail message\r\nat all\x1b\r\n";
    let out = ingest(&env, garbage, None);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("not an email message"), "{err}");
    let kept = err
        .split("kept in ")
        .nth(1)
        .unwrap_or_else(|| panic!("stderr does not say where: {err}"))
        .trim();
    assert_eq!(std::fs::read(kept).unwrap(), garbage, "kept byte for byte");

    // A bounce that matches no delivery is kept too.
    let stranger = ReceivedMail {
        mail_from: "bounces@papers.example.org".into(),
        rcpt_to: vec!["zed@example.org".into()],
        data: b"From: x@example.org\r\nMessage-ID: <nope@example.org>\r\n\r\nhi\r\n".to_vec(),
        auth: None,
    };
    let out = ingest(&env, &postfix_dsn(&stranger, "zed@example.org"), None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("unmatched: hard bounce"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("kept in"), "{}", text(&out));

    // The database is not where the settings say: exit 75 so that the MTA
    // keeps the message and retries, a line saying why, and no new empty
    // database in its place.
    let missing = env.dir.path().join("moved").join("paperboy.sqlite3");
    let mut child = env
        .command(&["bounces", "ingest"])
        .env(
            "PAPERBOY__DATABASE__URL",
            format!("sqlite://{}", missing.display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(garbage).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(text(&out).contains("EX_TEMPFAIL"), "{}", text(&out));
    assert!(
        text(&out).contains("there is no database"),
        "{}",
        text(&out)
    );
    assert!(!missing.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_a_bad_signature_is_refused_and_records_nothing() {
    let env = env_with_verp().await;
    env.ok(&["digest", "--date", HF_DAY]);
    let sent = env.smtp.wait_for(3, Duration::from_secs(30)).await;
    let key_file = env.dir.path().join("mailgun.key");
    std::fs::write(&key_file, "key-0123456789abcdef\n").unwrap();
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        format!(
            "{config}\n[bounces.webhooks.mailgun]\nsigning_key_file = \"{}\"\n",
            key_file.display()
        ),
    )
    .unwrap();

    let app = env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/mailgun", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(paperboy::app::serve(app.clone(), listener, async {
        let _ = stopped.await;
    }));

    let bob = to(&sent, "bob@example.org");
    let body = |key: &[u8], token: &str| {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        let signature: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        serde_json::json!({
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {
                "event": "complained",
                "recipient": "bob@example.org",
                "envelope": {"sender": bob.mail_from},
                "message": {"headers": {"message-id": "whatever@example.org"}}
            }
        })
        .to_string()
    };
    let http = paperboy::sources::client_builder().build().unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM inbound_reports")
            .fetch_one(app.store.pool())
            .await
            .unwrap()
    };

    let forged = http
        .post(&url)
        .header("content-type", "application/json")
        .body(body(
            b"not-the-key",
            "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6aa",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.text().await.unwrap().contains("signature"));
    assert_eq!(count().await, 0, "a refused request records nothing");
    assert_eq!(status_of(&env, "bob@example.org"), "active");

    let too_big = http
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    assert_eq!(count().await, 0);

    let genuine = http
        .post(&url)
        .header("content-type", "application/json")
        .body(body(
            b"key-0123456789abcdef",
            "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed00",
        ))
        .send()
        .await
        .unwrap();
    let status = genuine.status();
    let answer = genuine.text().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("unsubscribed: complaint"), "{answer}");
    assert_eq!(count().await, 1);
    assert_eq!(status_of(&env, "bob@example.org"), "unsubscribed");
    assert_eq!(status_of(&env, "ada@example.org"), "active");

    // An unconfigured provider is not there.
    let none = http
        .post(url.replace("mailgun", "postmark"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("daemon stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reads_bounces_from_a_maildir_and_files_them_in_cur() {
    let env = env_with_verp().await;
    env.ok(&["digest", "--date", HF_DAY]);
    let sent = env.smtp.wait_for(3, Duration::from_secs(30)).await;
    let maildir = env.dir.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let cy = to(&sent, "cy@example.org");
    std::fs::write(maildir.join("new/1781334131.M1P1.mx"), arf_complaint(cy)).unwrap();
    std::fs::write(maildir.join("new/1781334132.M2P1.mx"), b"garbage\x00").unwrap();
    env.edit_config(
        "[bounces]\n",
        &format!("[bounces]\nmaildir = \"{}\"\n", maildir.display()),
    );
    let out = env.ok(&["bounces", "poll"]);
    assert!(out.contains("2 message(s) handled, 1 flagged"), "{out}");
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0);
    let mut cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cur.sort();
    assert_eq!(
        cur,
        vec!["1781334131.M1P1.mx:2,S", "1781334132.M2P1.mx:2,F"]
    );
    assert_eq!(status_of(&env, "cy@example.org"), "unsubscribed");
    assert_eq!(status_of(&env, "ada@example.org"), "active");
}

/// The Postfix lines a document shows for the bounce address: the
/// main.cf settings, the transport map's entries and the master.cf service
/// (its continuation lines joined, as master.cf reads them), from the
/// fenced block that defines the `paperboy-bounces` service.
#[derive(Debug, PartialEq)]
struct PostfixLines {
    main: Vec<(String, String)>,
    transport: Vec<(String, String)>,
    master: String,
}

fn postfix_lines(doc: &str) -> PostfixLines {
    let block = doc
        .split("```")
        .skip(1)
        .step_by(2)
        .find(|b| b.contains("paperboy-bounces unix"))
        .expect("a block with the paperboy-bounces service");
    let mut lines = PostfixLines {
        main: Vec::new(),
        transport: Vec::new(),
        master: String::new(),
    };
    let mut section = "";
    for line in block
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if let Some(comment) = line.strip_prefix('#') {
            for name in ["main.cf", "transport", "master.cf"] {
                if comment.contains(name) {
                    section = name;
                }
            }
            continue;
        }
        match section {
            "main.cf" => {
                let (k, v) = line.split_once('=').expect("name = value");
                lines.main.push((k.trim().into(), v.trim().into()));
            }
            "transport" => {
                let (k, v) = line.split_once(char::is_whitespace).expect("key value");
                lines.transport.push((k.into(), v.trim().into()));
            }
            "master.cf" => {
                if !lines.master.is_empty() {
                    lines.master.push(' ');
                }
                lines.master.push_str(line);
            }
            _ => panic!("a line before any file comment: {line}"),
        }
    }
    lines
}

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Through the private Postfix of `scripts/postfix-test`, set up with the
/// very lines README and deploy/README show (only the paths and the user
/// differ): a digest relayed by Postfix arrives with its bounce address as
/// `Return-Path:`; when the digest cannot be delivered (re-sent to a
/// mailbox that does not exist), the delivery status notification Postfix
/// itself writes goes to that address, its transport pipes it to
/// `paperboy bounces ingest`, and the subscriber is suspended, nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_pipes_its_own_dsn_for_a_digest_to_ingest_with_the_documented_lines_and_suspends() {
    let pf = crate::support::postfix::Postfix::from_env();
    let dir = std::env::var("PAPERBOY_POSTFIX_DIR").expect("PAPERBOY_POSTFIX_DIR");
    let env = TestEnv::new().await;
    env.edit_config(
        &format!("smtp_url = \"{}\"", env.smtp.url()),
        &format!(
            "smtp_url = \"smtp://127.0.0.1:{}?tls=none\"\nreturn_path = \"bounces+{{token}}@example.org\"\nsuspend_after_hard_bounces = 1",
            pf.port
        ),
    );
    let quarantine = env.dir.path().join("quarantine");
    env.edit_config(
        "[security]",
        &format!(
            "[bounces]\nquarantine_dir = \"{}\"\n[security]",
            quarantine.display()
        ),
    );

    // The documented lines, the same in both documents.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = postfix_lines(&std::fs::read_to_string(root.join("README.md")).unwrap());
    let deploy = postfix_lines(&std::fs::read_to_string(root.join("deploy/README.md")).unwrap());
    assert_eq!(
        readme, deploy,
        "README and deploy/README show the same lines"
    );
    assert!(readme
        .transport
        .iter()
        .any(|(k, v)| k == "bounces@example.org" && v == "paperboy-bounces:"));
    // Applied to this instance: its own transport file, the test's binary
    // and config, and `nobody` for the `paperboy` user (who owns the
    // test's files, as paperboy owns its database).
    let transport_file = format!("{dir}/etc/paperboy-transport");
    let mut settings = Vec::new();
    for (k, v) in &readme.main {
        assert!(
            k != "transport_maps" || v == "hash:/etc/postfix/transport",
            "{v}"
        );
        let v = v.replace("/etc/postfix/transport", &transport_file);
        settings.push(format!("{k} = {v}"));
    }
    let transport: String = readme
        .transport
        .iter()
        .map(|(k, v)| format!("{k} {v}\n"))
        .collect();
    std::fs::write(&transport_file, transport).unwrap();
    // The binary in the test's directory, which `nobody` may enter: the
    // build's own directory may sit under one only its owner can (a fresh
    // clone in a private temporary directory, or a home directory).
    // (A copy, not a link: the directory is handed to `nobody` below.)
    let bin = env.dir.path().join("paperboy");
    std::fs::copy(env!("CARGO_BIN_EXE_paperboy"), &bin).unwrap();
    let mut master = readme.master.clone();
    for (from, to) in [
        ("user=paperboy", "user=nobody".to_string()),
        ("/usr/local/bin/paperboy", bin.display().to_string()),
        (
            "/etc/paperboy/paperboy.toml",
            env.config_path.display().to_string(),
        ),
    ] {
        assert!(master.contains(from), "{master}");
        master = master.replace(from, &to);
    }
    let conf = format!("{dir}/etc");
    let mut postconf = vec!["-c", &conf, "-e"];
    postconf.extend(settings.iter().map(String::as_str));
    run("postconf", &postconf);
    run("postmap", &["-c", &conf, &format!("hash:{transport_file}")]);
    run(
        "postconf",
        &[
            "-c",
            &conf,
            "-M",
            &format!("paperboy-bounces/unix={master}"),
        ],
    );
    run("postfix", &["-c", &conf, "reload"]);

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let reader = format!("reader-{stamp:x}@example.org");
    let other = format!("other-{stamp:x}@example.net");
    env.ok(&["fetch", "--date", HF_DAY]);
    for r in [&reader, &other] {
        env.ok(&["subscribers", "add", r, "--topic", "ti:agent*"]);
    }
    env.ok(&["digest", "--date", HF_DAY]);
    let got = pf.wait_for(&reader, 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1);
    let digest = String::from_utf8_lossy(&got[0]).into_owned();
    let return_path = digest
        .lines()
        .find_map(|l| l.strip_prefix("Return-Path: <"))
        .and_then(|l| l.strip_suffix('>'))
        .unwrap_or_else(|| panic!("no Return-Path in\n{digest}"))
        .to_string();
    assert!(
        return_path.starts_with("bounces+") && return_path.ends_with("@example.org"),
        "{return_path}"
    );
    // From here on the pipe, as `nobody`, is the only one to open the
    // database (the tests run as root).
    run(
        "chown",
        &[
            "-R",
            "nobody:nogroup",
            &env.dir.path().display().to_string(),
        ],
    );

    // The same digest handed to Postfix again, for a mailbox that does not
    // exist (local submission: refused at delivery, not at RCPT): Postfix
    // bounces it to the envelope sender, the bounce address, which its
    // transport pipes to paperboy.
    let mut sendmail = std::process::Command::new("sendmail")
        .args(["-C", &conf, "-f", &return_path, "--"])
        .arg(format!("unknown-{stamp:x}@example.org"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("Postfix's sendmail");
    sendmail.stdin.take().unwrap().write_all(&got[0]).unwrap();
    assert!(sendmail.wait().unwrap().success());
    let token = return_path
        .strip_prefix("bounces+")
        .and_then(|r| r.split('@').next())
        .unwrap()
        .to_ascii_lowercase();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let piped = loop {
        let log = std::fs::read_to_string(&pf.log).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| {
            l.contains("relay=paperboy-bounces") && l.to_ascii_lowercase().contains(&token)
        }) {
            break line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Postfix did not pipe the bounce to paperboy; its log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(piped.contains("status=sent"), "{piped}");
    assert!(
        pf.wait_for(&return_path, 1, Duration::from_millis(1))
            .is_empty(),
        "the bounce went to the pipe, not the mailbox"
    );
    assert_eq!(status_of(&env, &reader), "suspended");
    assert_eq!(status_of(&env, &other), "active");
}
