//! Relaying through a real MTA: the real binary sends digests through the
//! private Postfix instance of `scripts/postfix-test` (STARTTLS with a
//! certificate from a throwaway private CA, client policing on, virtual
//! Maildir delivery, nothing leaving the machine), the way an operator's
//! own Postfix would take them. Each test has recipients of its own (the
//! instance and its Maildir are shared by the tests running at once) and
//! reads what Postfix delivered, by `Delivered-To:`, and the `Received:`
//! header Postfix wrote: `with ESMTPS` and the cipher when the session was
//! encrypted, and the EHLO name paperboy gave.

use std::sync::Arc;
use std::time::Duration;

use crate::env::{TestEnv, HF_DAY};
use crate::support::postfix::Postfix;

/// Papers fetched and `recipients` subscribed; paperboy pointed at
/// `smtp_url` (the `PORT` in it replaced by `port`), with `mail_extra`
/// added to `[mail]`.
async fn env_through(smtp_url: &str, mail_extra: &str, recipients: &[&str]) -> TestEnv {
    let env = TestEnv::new().await;
    env.edit_config(
        &format!("smtp_url = \"{}\"", env.smtp.url()),
        &format!("smtp_url = \"{smtp_url}\"\n{mail_extra}"),
    );
    env.ok(&["fetch", "--date", HF_DAY]);
    for r in recipients {
        env.ok(&["subscribers", "add", r, "--topic", "ti:agent*"]);
    }
    env
}

/// An address no earlier run delivered to: the instance (and its
/// Maildir) outlives a test run when started by hand.
fn fresh(local: &str, domain: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!(
        "{local}-{stamp:x}{}@{domain}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn both(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first `Received:` header of a delivered message (Postfix's own).
fn received(raw: &[u8]) -> String {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parseable message");
    crate::support::header_raw(&message, "Received").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn may_delivers_encrypted_through_postfix_whose_certificate_nobody_trusts() {
    let pf = Postfix::from_env();
    let who = [
        fresh("tlsmay-ada", "example.org"),
        fresh("tlsmay-bob", "example.net"),
    ];
    let who: Vec<&str> = who.iter().map(String::as_str).collect();
    // The default level of smtp:// is may: no ?tls=, no CA file.
    let env = env_through(&format!("smtp://127.0.0.1:{}", pf.port), "", &who).await;

    let check = env.paperboy(&["check"]);
    let text = stdout(&check);
    assert!(check.status.success(), "{}", both(&check));
    assert!(text.contains("(tls=may)"), "{text}");
    assert!(text.contains("tls: STARTTLS, TLSv1."), "{text}");
    assert!(
        text.contains("the server's certificate does not verify: unknown issuer"),
        "{text}"
    );

    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("2 sent"), "{}", both(&out));
    for &r in &who {
        let got = pf.wait_for(r, 1, Duration::from_secs(10));
        assert_eq!(got.len(), 1, "{r} has each digest exactly once");
        let header = received(&got[0]);
        assert!(header.contains("with ESMTPS"), "encrypted: {header}");
        assert!(header.contains("using TLSv1."), "{header}");
        // The EHLO name: never the machine's bare host name, which Postfix
        // (reject_non_fqdn_helo_hostname) refuses; here the machine's
        // qualified name or, failing one, the From domain.
        let helo = header
            .strip_prefix("from ")
            .and_then(|h| h.split_whitespace().next())
            .unwrap_or("");
        assert!(helo.contains('.'), "{header}");
    }
    // Postfix's client policing found nothing to complain about.
    for complaint in ["improper command pipelining", "bare <LF>", "bare newline"] {
        assert!(
            pf.log_mentioning(complaint).is_empty(),
            "{complaint}: {:?}",
            pf.log_mentioning(complaint)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_the_private_ca_in_tls_ca_file_delivers() {
    let pf = Postfix::from_env();
    let who = [fresh("tlsverify-ada", "example.org")];
    let who: Vec<&str> = who.iter().map(String::as_str).collect();
    // By name: the certificate names localhost (and 127.0.0.1).
    let env = env_through(
        &format!("smtp://localhost:{}?tls=verify", pf.port),
        &format!("tls_ca_file = \"{}\"", pf.ca_path().display()),
        &who,
    )
    .await;

    let check = env.paperboy(&["check"]);
    let text = stdout(&check);
    assert!(check.status.success(), "{}", both(&check));
    assert!(text.contains("(tls=verify)"), "{text}");
    assert!(text.contains("the server's certificate verifies"), "{text}");
    assert!(text.contains("1 from mail.tls_ca_file"), "{text}");

    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(out.status.success(), "{}", both(&out));
    let got = pf.wait_for(who[0], 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert!(received(&got[0]).contains("with ESMTPS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_is_tls_from_the_first_byte_and_verifies_by_default() {
    let pf = Postfix::from_env();
    let who = [fresh("smtps-ada", "example.org")];
    let who: Vec<&str> = who.iter().map(String::as_str).collect();
    let env = env_through(
        &format!("smtps://localhost:{}", pf.smtps_port),
        &format!("tls_ca_file = \"{}\"", pf.ca_path().display()),
        &who,
    )
    .await;
    let check = env.paperboy(&["check"]);
    let text = stdout(&check);
    assert!(check.status.success(), "{}", both(&check));
    assert!(text.contains("(tls=verify)"), "{text}");
    assert!(
        text.contains("tls: TLS from the first byte, TLSv1."),
        "{text}"
    );
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(out.status.success(), "{}", both(&out));
    let got = pf.wait_for(who[0], 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert!(received(&got[0]).contains("with ESMTPS"));
    // Without the CA the default level refuses the certificate.
    env.edit_config("tls_ca_file", "# tls_ca_file");
    let check = env.paperboy(&["check"]);
    assert!(!check.status.success());
    assert!(both(&check).contains("unknown issuer"), "{}", both(&check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_without_the_ca_fails_with_an_unknown_issuer_and_sends_nothing_in_clear() {
    let pf = Postfix::from_env();
    let who = [fresh("tlsnoca-ada", "example.org")];
    let who: Vec<&str> = who.iter().map(String::as_str).collect();
    let env = env_through(
        &format!("smtp://127.0.0.1:{}?tls=verify", pf.port),
        "",
        &who,
    )
    .await;

    let check = env.paperboy(&["check"]);
    let text = both(&check);
    assert!(!check.status.success(), "{text}");
    assert!(
        text.contains("tls=verify: the server's certificate does not verify: unknown issuer"),
        "{text}"
    );
    assert!(
        text.contains("mail.tls_ca_file"),
        "the way out is named: {text}"
    );

    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(!out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("1 deferred"), "{}", both(&out));
    let app = env.app().await;
    let sub = app
        .store
        .subscriber_by_email(&who[0].parse().unwrap())
        .await
        .unwrap();
    let d = app
        .store
        .delivery_for(sub.id, crate::env::hf_day())
        .await
        .unwrap()
        .unwrap();
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or("")
            .contains("unknown issuer"),
        "{:?}",
        d.last_error
    );
    assert!(pf
        .wait_for(who[0], 1, Duration::from_millis(500))
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_wrong_name_and_an_expired_certificate() {
    let pf = Postfix::from_env();
    let ca = format!("tls_ca_file = \"{}\"", pf.ca_path().display());
    for (port, needle) in [
        (pf.wrongname_port, "wrong name (issued for "),
        (pf.expired_port, "expired (not valid after 2020-02-01"),
    ] {
        let env = env_through(&format!("smtp://127.0.0.1:{port}?tls=verify"), &ca, &[]).await;
        let check = env.paperboy(&["check"]);
        let text = both(&check);
        assert!(!check.status.success(), "{text}");
        assert!(text.contains(needle), "{needle}: {text}");
        if port == pf.wrongname_port {
            assert!(text.contains("mail.elsewhere.example"), "{text}");
            assert!(text.contains("not for 127.0.0.1"), "{text}");
        }
        // may and encrypt still deliver over such a certificate, saying why
        // it does not verify.
        env.edit_config("?tls=verify", "?tls=encrypt");
        let check = env.paperboy(&["check"]);
        let text = both(&check);
        assert!(check.status.success(), "{text}");
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_at_may_falls_back_to_cleartext_on_a_new_connection_and_delivers() {
    let pf = Postfix::from_env();
    let who = [fresh("tlsbroken-ada", "example.org")];
    let who: Vec<&str> = who.iter().map(String::as_str).collect();
    let env = env_through(&format!("smtp://127.0.0.1:{}", pf.badtls_port), "", &who).await;

    let check = env.paperboy(&["check"]);
    let text = stdout(&check);
    assert!(check.status.success(), "{}", both(&check));
    assert!(
        text.contains("the server offers STARTTLS but the TLS handshake failed"),
        "{text}"
    );

    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(out.status.success(), "{}", both(&out));
    let got = pf.wait_for(who[0], 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    let header = received(&got[0]);
    assert!(header.contains("with ESMTP id"), "cleartext: {header}");

    // encrypt does not fall back: nothing is sent.
    let env2 = env_through(
        &format!("smtp://127.0.0.1:{}?tls=encrypt", pf.badtls_port),
        "",
        &[],
    )
    .await;
    let check = env2.paperboy(&["check"]);
    let text = both(&check);
    assert!(!check.status.success(), "{text}");
    assert!(
        text.contains("tls=encrypt: the TLS handshake failed"),
        "{text}"
    );
}

/// The delivery of `who` for the fixture day.
async fn delivery_of(env: &TestEnv, who: &str) -> paperboy::store::Delivery {
    let app = env.app().await;
    let sub = app
        .store
        .subscriber_by_email(&who.parse().unwrap())
        .await
        .unwrap();
    app.store
        .delivery_for(sub.id, crate::env::hf_day())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no delivery for {who}"))
}

/// The papers of `who`'s ledger (delivered, or on their way).
async fn ledger_of(env: &TestEnv, who: &str) -> usize {
    let app = env.app().await;
    let sub = app
        .store
        .subscriber_by_email(&who.parse().unwrap())
        .await
        .unwrap();
    let papers = app
        .store
        .papers_between(crate::env::hf_day(), crate::env::hf_day())
        .await
        .unwrap();
    let ids: Vec<&paperboy::domain::PaperId> = papers.iter().map(|p| &p.id).collect();
    app.store.already_sent(sub.id, &ids).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_552_fails_the_digest_releases_its_papers_and_a_later_digest_delivers_them() {
    let pf = Postfix::from_env();
    let who = fresh("late552-ada", "example.org");
    // This listener announces the normal SIZE, so the digest goes out, and
    // its cleanup refuses it after the data: 552 5.3.4 Message file too big.
    let env = env_through(
        &format!("smtp://127.0.0.1:{}", pf.late552_port),
        "",
        &[&who],
    )
    .await;
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    let text = both(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        stdout(&out).contains("0 sent, 0 deferred, 1 failed"),
        "{text}"
    );
    // The log line of the failure carries the reply whole, never the address.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("552 5.3.4 Error: message file too big"),
        "{stderr}"
    );
    assert!(!stderr.contains(&who), "{stderr}");

    let d = delivery_of(&env, &who).await;
    assert_eq!(d.status, paperboy::store::DeliveryStatus::Failed);
    assert_eq!(d.smtp_code, Some(552));
    assert!(d.paper_count > 0);
    assert_eq!(
        ledger_of(&env, &who).await,
        0,
        "a refused digest delivered nothing"
    );

    // Nothing delivered of what the run had to send: the run failed.
    let status = env.paperboy(&["status", "--date", HF_DAY]);
    let text = both(&status);
    assert_eq!(status.status.code(), Some(1), "{text}");
    assert!(text.contains("last digest: failed"), "{text}");
    assert!(
        text.contains("most frequent reply (1): 552 5.3.4 Error: message file too big"),
        "{text}"
    );

    // The operator fixes the limit; the next day's digest carries the
    // released papers, once.
    env.edit_config(
        &format!(":{}\"", pf.late552_port),
        &format!(":{}\"", pf.port),
    );
    let out = env.paperboy(&["digest", "--date", "2026-06-13"]);
    assert!(out.status.success(), "{}", both(&out));
    let got = pf.wait_for(&who, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(ledger_of(&env, &who).await as i64, d.paper_count);
    let status = env.paperboy(&["status"]);
    assert!(status.status.success(), "{}", both(&status));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_over_the_servers_size_is_made_to_fit_and_its_dropped_papers_wait_for_a_later_one()
{
    let pf = Postfix::from_env();
    let who = fresh("fit-ada", "example.org");
    let env = env_through(&format!("smtp://127.0.0.1:{}", pf.small_port), "", &[&who]).await;
    let check = env.paperboy(&["check"]);
    assert!(
        stdout(&check).contains(&format!("messages up to {} bytes (SIZE)", pf.small_limit)),
        "{}",
        both(&check)
    );
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(out.status.success(), "{}", both(&out));
    let got = pf.wait_for(&who, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].len() as u64 <= pf.small_limit + 2000,
        "{} bytes",
        got[0].len()
    );
    let d = delivery_of(&env, &who).await;
    assert_eq!(d.status, paperboy::store::DeliveryStatus::Sent);
    assert!(d.more_count > 0, "papers went to the \"N more\" count");
    let text = String::from_utf8_lossy(&got[0]).into_owned();
    assert!(
        text.contains(&format!("and {} more matching", d.more_count)),
        "the digest says how many more"
    );
    // Only what was delivered is in the ledger: the dropped papers wait
    // for a later digest.
    assert_eq!(ledger_of(&env, &who).await as i64, d.paper_count);

    // The next day, through the normal relay, they arrive.
    env.edit_config(&format!(":{}\"", pf.small_port), &format!(":{}\"", pf.port));
    let out = env.paperboy(&["digest", "--date", "2026-06-13"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(pf.wait_for(&who, 2, Duration::from_secs(10)).len(), 2);
    assert_eq!(
        ledger_of(&env, &who).await as i64,
        d.paper_count + d.more_count,
        "every paper delivered once, across the two digests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_that_cannot_fit_the_servers_size_is_not_sent_and_names_the_limit() {
    let pf = Postfix::from_env();
    let who = fresh("size-ada", "example.org");
    let env = env_through(&format!("smtp://127.0.0.1:{}", pf.tiny_port), "", &[&who]).await;
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(stdout(&out).contains("1 failed"), "{}", both(&out));
    let d = delivery_of(&env, &who).await;
    assert_eq!(d.status, paperboy::store::DeliveryStatus::Failed);
    let error = d.last_error.unwrap_or_default();
    assert!(
        error.contains(&format!(
            "larger than the server's limit of {} bytes",
            pf.tiny_limit
        )),
        "{error}"
    );
    assert_eq!(ledger_of(&env, &who).await, 0);
    // The body never left: this listener saw no MAIL FROM at all.
    let sessions = pf.log_mentioning("postfix/tiny/smtpd");
    assert!(
        sessions.iter().any(|l| l.contains("disconnect from")),
        "{sessions:?}"
    );
    assert!(
        !sessions.iter().any(|l| l.contains(" mail=")),
        "{sessions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_run_with_a_550_the_status_is_degraded_with_the_reply_and_exits_2() {
    let pf = Postfix::from_env();
    let good = fresh("degraded-ada", "example.org");
    // Postfix's virtual table has no "unknown…" mailbox: 550 5.1.1 at RCPT.
    let bad = fresh("unknown-bob", "example.org");
    let env = env_through(&format!("smtp://127.0.0.1:{}", pf.port), "", &[&good, &bad]).await;
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(
        stdout(&out).contains("1 sent, 0 deferred, 1 failed"),
        "{}",
        both(&out)
    );
    assert_eq!(pf.wait_for(&good, 1, Duration::from_secs(10)).len(), 1);
    assert!(pf.delivered_to(&bad).is_empty());
    let d = delivery_of(&env, &bad).await;
    assert_eq!(d.smtp_code, Some(550));

    let status = env.paperboy(&["status", "--date", HF_DAY]);
    let text = both(&status);
    assert_eq!(
        status.status.code(),
        Some(2),
        "degraded, not failed: {text}"
    );
    assert!(text.contains("last digest: degraded"), "{text}");
    assert!(
        text.contains("most frequent reply (1): 550 5.1.1 <address> Recipient address rejected: User unknown in virtual mailbox table"),
        "{text}"
    );
    assert!(!text.contains(&bad), "{text}");
    assert!(text.contains("status: degraded"), "{text}");

    // /healthz says the same. The pages alone, without the scheduler: its
    // catch-up could start a run of its own and make that the last one.
    let app = env.app().await;
    let webhooks = paperboy::web::WebhookState::load(&app.settings.bounces, app.intake()).unwrap();
    let router = paperboy::web::router(Arc::new(app.web_state()), Arc::new(webhooks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["last_digest"]["outcome"], "degraded");
    let _ = stop.send(());
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_url_delivers_encrypted_through_a_stock_debian_postfix_and_its_snakeoil_certificate(
) {
    let pf = Postfix::from_env();
    let who = [fresh("snakeoil-ada", "example.org")];
    let who: Vec<&str> = who.iter().map(String::as_str).collect();
    // What a new operator writes for the local Postfix: no ?tls=, no CA.
    let env = env_through(&format!("smtp://127.0.0.1:{}", pf.snakeoil_port), "", &who).await;

    let check = env.paperboy(&["check"]);
    let text = stdout(&check);
    assert!(check.status.success(), "{}", both(&check));
    assert!(text.contains("(tls=may)"), "{text}");
    assert!(text.contains("tls: STARTTLS, TLSv1."), "{text}");
    // Self-signed for the machine's name: an unknown issuer, or, where
    // Debian's ssl-cert linked it into /etc/ssl/certs (the system store),
    // a certificate that does not name 127.0.0.1.
    assert!(
        text.contains("the server's certificate does not verify: unknown issuer")
            || text.contains("the server's certificate does not verify: wrong name"),
        "{text}"
    );

    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("1 sent"), "{}", both(&out));
    let got = pf.wait_for(who[0], 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert!(received(&got[0]).contains("with ESMTPS"), "encrypted");

    // Asking for a verified certificate is refused, saying why.
    env.edit_config(
        &format!(":{}\"", pf.snakeoil_port),
        &format!(":{}?tls=verify\"", pf.snakeoil_port),
    );
    let check = env.paperboy(&["check"]);
    let text = both(&check);
    assert!(!check.status.success(), "{text}");
    assert!(
        text.contains("tls=verify: the server's certificate does not verify: "),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_says_ehlo_again_only_after_starttls_resets_a_refused_transaction_and_quits()
{
    let pf = Postfix::from_env();
    let ada = fresh("manners-ada", "example.org");
    let bob = fresh("unknown-manners-bob", "example.org");
    let cy = fresh("manners-cy", "example.net");
    let offset = pf.log_len();
    let env = env_through(
        &format!("smtp://127.0.0.1:{}", pf.manners_port),
        "pool_size = 1",
        &[&ada, &bob, &cy],
    )
    .await;
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(
        stdout(&out).contains("2 sent, 0 deferred, 1 failed"),
        "{}",
        both(&out)
    );
    // Postfix logs each connection's commands when it ends, as
    // `ehlo=2 starttls=1 mail=3 rcpt=2/3 data=2/3 rset=1 quit=1`.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let disconnects = loop {
        let lines = pf.log_since(offset, "postfix/manners/smtpd");
        let done: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("disconnect from"))
            .cloned()
            .collect();
        if !done.is_empty() || std::time::Instant::now() > deadline {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.contains(": connect from"))
                    .count(),
                1,
                "the whole run on one connection: {lines:?}"
            );
            break done;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(disconnects.len(), 1, "{disconnects:?}");
    let counts = format!("{} ", disconnects[0]);
    for said in [
        " ehlo=2 ",
        " starttls=1 ",
        " mail=3 ",
        " rcpt=2/3 ",
        " rset=1 ",
        " quit=1 ",
    ] {
        assert!(counts.contains(said), "{said}: {counts}");
    }
    assert_eq!(pf.wait_for(&ada, 1, Duration::from_secs(10)).len(), 1);
    assert_eq!(pf.wait_for(&cy, 1, Duration::from_secs(10)).len(), 1);
    assert!(pf.delivered_to(&bob).is_empty());
}
