//! Bounces and complaints that arrive after sending, end to end with the
//! real binary: digests go out from their own signed bounce address
//! (VERP), a delivery status notification and an ARF complaint written the
//! way Postfix and a mailbox provider write them are piped to `paperboy
//! bounces ingest`, and only the right subscriber is suspended or
//! unsubscribed. Input that cannot be read is kept, a database that cannot
//! be opened asks the MTA to retry (75), and a webhook whose signature
//! fails records nothing.

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::time::Duration;

use hmac::{KeyInit, Mac};

use crate::env::{TestEnv, HF_DAY};
use crate::support::ReceivedMail;

const NEXT_DAY: &str = "2026-06-13";

/// Three subscribers, digests sent from `bounces+{token}@papers.example.org`,
/// suspension after two hard bounces, a quarantine in the test directory.
async fn env_with_verp() -> TestEnv {
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

fn status_of(env: &TestEnv, email: &str) -> String {
    statuses(env)
        .into_iter()
        .find(|(e, _)| e == email)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{email} is not listed"))
}

fn to<'a>(mails: &'a [ReceivedMail], email: &str) -> &'a ReceivedMail {
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
    let http = reqwest::Client::new();
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

/// Through the private Postfix of `scripts/postfix-test`: a digest relayed
/// by Postfix arrives with its bounce address as `Return-Path:`, and the
/// delivery status notification Postfix itself writes when the digest
/// cannot be delivered (re-sent to a mailbox that does not exist) comes back
/// to that address and suspends the subscriber when piped to `paperboy
/// bounces ingest`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_writes_the_bounce_address_as_return_path_and_its_own_dsn_suspends() {
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

    // The same digest handed to Postfix again, for a mailbox that does not
    // exist (local submission: refused at delivery, not at RCPT): Postfix
    // bounces it to the envelope sender, the bounce address, which it
    // delivers to the Maildir.
    let mut sendmail = std::process::Command::new("sendmail")
        .args(["-C", &format!("{dir}/etc"), "-f", &return_path, "--"])
        .arg(format!("unknown-{stamp:x}@example.org"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("Postfix's sendmail");
    sendmail.stdin.take().unwrap().write_all(&got[0]).unwrap();
    assert!(sendmail.wait().unwrap().success());
    let dsn = pf.wait_for(&return_path, 1, Duration::from_secs(30));
    assert_eq!(dsn.len(), 1, "Postfix's bounce did not arrive");
    let text_of_dsn = String::from_utf8_lossy(&dsn[0]);
    assert!(
        text_of_dsn.contains("report-type=delivery-status"),
        "{text_of_dsn}"
    );

    let out = ingest(&env, &dsn[0], Some(&return_path));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("suspended: hard bounce"),
        "{}",
        text(&out)
    );
    assert_eq!(status_of(&env, &reader), "suspended");
    assert_eq!(status_of(&env, &other), "active");
}
