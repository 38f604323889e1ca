//! Provider webhook signatures made by an independent implementation:
//! openssl makes the keys, the SNS signing certificate and every signature,
//! the way AWS, SendGrid and Mailgun do, and paperboy's readers must accept
//! exactly those and refuse any change.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use chrono::{TimeZone, Utc};
use paperboy::inbound::verp::bounce_token;
use paperboy::inbound::webhook::{mailgun, sendgrid, ses, WebhookError};
use paperboy::inbound::{Context, DeliveryKey, EventKind};
use paperboy::links::{LinkSigner, SigningKeys};

fn openssl(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (Debian package openssl) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn signer() -> LinkSigner {
    LinkSigner::new(SigningKeys::from_secrets([vec![3u8; 32]]).unwrap())
}

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:paperboy-ses";
const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem";

/// A self-signed certificate for `sns.amazonaws.com` and its key.
fn sns_certificate(dir: &Path, name: &str) -> Vec<u8> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=sns.amazonaws.com",
        ],
        None,
    );
    std::fs::read(dir.join(format!("{name}.pem"))).unwrap()
}

/// The SNS string to sign, built from AWS's documentation, and its
/// signature by openssl.
fn sns_sign(dir: &Path, key: &str, version: &str, fields: &[(&str, &str)]) -> String {
    let canonical: String = fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect();
    let digest = if version == "1" { "-sha1" } else { "-sha256" };
    b64(&openssl(
        dir,
        &["dgst", digest, "-sign", &format!("{key}.key")],
        Some(canonical.as_bytes()),
    ))
}

fn notification(dir: &Path, key: &str, version: &str, message: &str) -> String {
    let (id, ts) = (
        "6a7f8c2e-1111-5555-9999-0123456789ab",
        "2026-06-12T08:00:00.000Z",
    );
    let signature = sns_sign(
        dir,
        key,
        version,
        &[
            ("Message", message),
            ("MessageId", id),
            ("Subject", "Amazon SES Email Event Notification"),
            ("Timestamp", ts),
            ("TopicArn", TOPIC),
            ("Type", "Notification"),
        ],
    );
    serde_json::json!({
        "Type": "Notification", "MessageId": id, "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification", "Message": message, "Timestamp": ts,
        "SignatureVersion": version, "Signature": signature, "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
    })
    .to_string()
}

fn ctx(s: &LinkSigner) -> Context<'_> {
    Context {
        signer: Some(s),
        envelope_recipient: None,
        now: Utc.with_ymd_and_hms(2026, 6, 12, 8, 0, 5).unwrap(),
    }
}

#[test]
fn sns_notifications_signed_with_sha1_and_sha256_verify_and_any_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pem = sns_certificate(dir.path(), "aws");
    let other_pem = sns_certificate(dir.path(), "other");
    let s = signer();
    let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 2026));
    let message = serde_json::json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "jane@example.com", "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2026-06-12T07:59:59.000Z"},
        "mail": {"source": verp, "messageId": "0000", "destination": ["jane@example.com"]}
    })
    .to_string();
    let topics = vec![TOPIC.to_string()];
    let h = http::HeaderMap::new();
    for version in ["1", "2"] {
        let body = notification(dir.path(), "aws", version, &message);
        let parsed = ses::parse(&h, body.as_bytes()).unwrap();
        assert_eq!(parsed.certificate_url().unwrap().as_str(), CERT_URL);
        let verified = parsed.verify(&pem, &topics).unwrap();
        let ses::SnsOutcome::Notification(report) = verified.outcome(&ctx(&s)).unwrap() else {
            panic!("not a notification")
        };
        assert_eq!(
            report.event.kind(),
            EventKind::HardBounce,
            "version {version}"
        );
        assert_eq!(report.keys.best(), Some(DeliveryKey::Delivery(2026)));

        // Another certificate, a changed message, an unknown topic.
        let again = ses::parse(&h, body.as_bytes()).unwrap();
        assert_eq!(
            again.verify(&other_pem, &topics).unwrap_err(),
            WebhookError::BadSignature
        );
        let tampered = body.replace("5.1.1 user unknown", "5.1.1 user unknowN");
        let tampered = ses::parse(&h, tampered.as_bytes()).unwrap();
        assert_eq!(
            tampered.verify(&pem, &topics).unwrap_err(),
            WebhookError::BadSignature
        );
        let elsewhere = ses::parse(&h, body.as_bytes()).unwrap();
        assert!(matches!(
            elsewhere.verify(
                &pem,
                &["arn:aws:sns:eu-west-1:999999999999:other".to_string()]
            ),
            Err(WebhookError::UnknownTopic(_))
        ));
    }
    // The version decides the digest: a SHA-1 signature is not a version 2 one.
    let v1 = notification(dir.path(), "aws", "1", &message)
        .replace("\"SignatureVersion\":\"1\"", "\"SignatureVersion\":\"2\"");
    assert_eq!(
        ses::parse(&h, v1.as_bytes())
            .unwrap()
            .verify(&pem, &topics)
            .unwrap_err(),
        WebhookError::BadSignature
    );
    // A certificate served from anywhere but SNS is refused before use.
    let moved = notification(dir.path(), "aws", "2", &message)
        .replace(CERT_URL, "https://evil.example/cert.pem");
    assert!(matches!(
        ses::parse(&h, moved.as_bytes())
            .unwrap()
            .verify(&pem, &topics),
        Err(WebhookError::UntrustedCertificateUrl(_))
    ));
    assert!(matches!(
        ses::parse(
            &h,
            notification(dir.path(), "aws", "2", &message).as_bytes()
        )
        .unwrap()
        .verify(b"not a pem", &topics),
        Err(WebhookError::BadCertificate(_))
    ));
}

#[test]
fn an_sns_subscription_confirmation_verifies_and_yields_the_url_to_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let pem = sns_certificate(dir.path(), "aws");
    let s = signer();
    let subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:paperboy-ses&Token=2336412f37";
    let (id, token, ts, msg) = (
        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "2336412f37",
        "2026-06-12T08:00:00.000Z",
        "You have chosen to subscribe to the topic.",
    );
    let signature = sns_sign(
        dir.path(),
        "aws",
        "1",
        &[
            ("Message", msg),
            ("MessageId", id),
            ("SubscribeURL", subscribe),
            ("Timestamp", ts),
            ("Token", token),
            ("TopicArn", TOPIC),
            ("Type", "SubscriptionConfirmation"),
        ],
    );
    let body = serde_json::json!({
        "Type": "SubscriptionConfirmation", "MessageId": id, "Token": token, "TopicArn": TOPIC, "Message": msg,
        "SubscribeURL": subscribe, "Timestamp": ts, "SignatureVersion": "1", "Signature": signature, "SigningCertURL": CERT_URL
    })
    .to_string();
    let mut h = http::HeaderMap::new();
    h.insert(
        "x-amz-sns-message-type",
        http::HeaderValue::from_static("SubscriptionConfirmation"),
    );
    let verified = ses::parse(&h, body.as_bytes())
        .unwrap()
        .verify(&pem, &[TOPIC.to_string()])
        .unwrap();
    assert_eq!(verified.message_id(), id);
    assert_eq!(
        verified.outcome(&ctx(&s)).unwrap(),
        ses::SnsOutcome::ConfirmSubscription {
            subscribe_url: url::Url::parse(subscribe).unwrap()
        }
    );
}

#[test]
fn a_sendgrid_batch_signed_by_openssl_with_a_p256_key_verifies() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key",
        ],
        None,
    );
    let public = openssl(
        dir.path(),
        &["ec", "-in", "ec.key", "-pubout", "-outform", "DER"],
        None,
    );
    let key = sendgrid::SendgridKey::parse(&b64(&public)).unwrap();
    let body = br#"[{"email":"gone@example.com","timestamp":1781251200,"event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 no such user","smtp-id":"<digest.2026-06-12.7.abc@papers.example.org>"}]"#;
    let timestamp = "1781251200";
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let signature = b64(&openssl(
        dir.path(),
        &["dgst", "-sha256", "-sign", "ec.key"],
        Some(&signed),
    ));
    let mut h = http::HeaderMap::new();
    h.insert(
        sendgrid::SIGNATURE_HEADER,
        http::HeaderValue::from_str(&signature).unwrap(),
    );
    h.insert(
        sendgrid::TIMESTAMP_HEADER,
        http::HeaderValue::from_static("1781251200"),
    );
    let s = signer();
    let c = Context {
        signer: Some(&s),
        envelope_recipient: None,
        now: Utc.timestamp_opt(1_781_251_230, 0).unwrap(),
    };
    let reports =
        sendgrid::verify_and_read(&h, body, &key, chrono::Duration::minutes(5), &c).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].event.kind(), EventKind::HardBounce);
    let mut changed = body.to_vec();
    changed[20] ^= 1;
    assert_eq!(
        sendgrid::verify_and_read(&h, &changed, &key, chrono::Duration::minutes(5), &c)
            .unwrap_err(),
        WebhookError::BadSignature
    );
}

#[test]
fn a_mailgun_signature_made_by_openssl_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    let (timestamp, token) = (
        "1781251200",
        "3ba54a5bb4e3f0a7d5d8ab1e8f8c8e4f9a2b3c4d5e6f7a8b9c",
    );
    let out = openssl(
        dir.path(),
        &["dgst", "-sha256", "-hmac", key],
        Some(format!("{timestamp}{token}").as_bytes()),
    );
    let signature = String::from_utf8(out)
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let body = format!(
        r#"{{"signature":{{"timestamp":"{timestamp}","token":"{token}","signature":"{signature}"}},"event-data":{{"event":"complained","recipient":"ada@example.com","timestamp":1781251199.5}}}}"#
    );
    let s = signer();
    let c = Context {
        signer: Some(&s),
        envelope_recipient: None,
        now: Utc.timestamp_opt(1_781_251_201, 0).unwrap(),
    };
    let event = mailgun::verify_and_read(
        body.as_bytes(),
        key.as_bytes(),
        chrono::Duration::minutes(5),
        &c,
    )
    .unwrap();
    assert_eq!(event.report.event.kind(), EventKind::Complaint);
    assert_eq!(event.token, token);
    let first = if signature.starts_with('0') { "1" } else { "0" };
    let wrong = body.replace(&signature, &format!("{first}{}", &signature[1..]));
    assert!(mailgun::verify_and_read(
        wrong.as_bytes(),
        key.as_bytes(),
        chrono::Duration::minutes(5),
        &c
    )
    .is_err());
}

// Over HTTP, with the real binary: `paperboy serve` receives each
// provider's requests at `POST /webhooks/{provider}`, and only a request
// that proves itself is recorded and acted on.

mod over_http {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::{b64, openssl, sns_certificate, sns_sign, CERT_URL, TOPIC};
    use crate::env::{TestEnv, HF_DAY};
    use crate::late_bounces::{env_with_verp, status_of, to};
    use crate::support::http::{FixtureResponse, FixtureServer};
    use crate::support::ReceivedMail;

    /// `paperboy serve` as a child process, stopped when dropped.
    struct Daemon {
        child: std::process::Child,
        base: String,
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Daemon {
        /// Starts the daemon of `env` (its schedule never fires while the
        /// test runs, no catch-up) with `vars` set, and waits for /healthz.
        async fn start(env: &TestEnv, vars: &[(&str, &Path)]) -> Daemon {
            let port = crate::support::free_port();
            env.edit_config("127.0.0.1:0", &format!("127.0.0.1:{port}"));
            let config = std::fs::read_to_string(&env.config_path).unwrap();
            std::fs::write(
                &env.config_path,
                format!("{config}\n[schedule]\ncatch_up = false\nfetch = \"0 0 0 1 1 *\"\ndigest = \"0 0 0 1 1 *\"\n"),
            )
            .unwrap();
            let mut cmd = env.command(&["serve"]);
            for proxy in [
                "HTTPS_PROXY",
                "https_proxy",
                "HTTP_PROXY",
                "http_proxy",
                "ALL_PROXY",
                "all_proxy",
                "NO_PROXY",
                "no_proxy",
                "SSL_CERT_DIR",
            ] {
                cmd.env_remove(proxy);
            }
            for (k, v) in vars {
                cmd.env(k, v);
            }
            let child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let daemon = Daemon {
                child,
                base: format!("http://127.0.0.1:{port}"),
            };
            let client = http_client();
            for _ in 0..150 {
                if client
                    .get(format!("{}/healthz", daemon.base))
                    .send()
                    .await
                    .is_ok()
                {
                    return daemon;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("paperboy serve did not answer on {}", daemon.base);
        }

        fn url(&self, provider: &str) -> String {
            format!("{}/webhooks/{provider}", self.base)
        }
    }

    fn http_client() -> reqwest::Client {
        paperboy::sources::client_builder()
            .no_proxy()
            .build()
            .unwrap()
    }

    /// Posts `body` with `headers`; returns the status and the answer.
    async fn post(url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
        let mut request = http_client()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// The reports recorded, as (kind, action), oldest first.
    async fn recorded(env: &TestEnv) -> Vec<(String, String)> {
        let pool = sqlx::SqlitePool::connect(&env.db_url).await.unwrap();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT kind, action FROM inbound_reports ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows
    }

    fn statuses(env: &TestEnv) -> [String; 3] {
        ["ada", "bob", "cy"].map(|w| status_of(env, &format!("{w}@example.org")))
    }

    /// The Message-ID of a sent digest, with its angle brackets.
    fn message_id(mail: &ReceivedMail) -> String {
        let data = String::from_utf8_lossy(&mail.data);
        data.lines()
            .find_map(|l| {
                l.strip_prefix("Message-ID: ")
                    .or_else(|| l.strip_prefix("Message-Id: "))
            })
            .expect("a Message-ID")
            .trim()
            .to_string()
    }

    /// The three subscribers' digests of the day, sent.
    async fn sent_digests(env: &TestEnv) -> Vec<ReceivedMail> {
        env.ok(&["digest", "--date", HF_DAY]);
        env.smtp.wait_for(3, Duration::from_secs(30)).await
    }

    /// What every provider test ends with: nothing was recorded for the
    /// refused and malformed requests; the hard bounce for ada was
    /// counted (she stays active: two are needed), the complaint about
    /// bob unsubscribed him and nobody else.
    async fn assert_acted_on(env: &TestEnv, bounce_answer: &str, complaint_answer: &str) {
        assert!(
            bounce_answer.contains("counted: hard bounce"),
            "{bounce_answer}"
        );
        assert!(
            complaint_answer.contains("unsubscribed: complaint"),
            "{complaint_answer}"
        );
        let acted_on: Vec<(String, String)> = recorded(env)
            .await
            .into_iter()
            .filter(|(kind, _)| kind == "hard" || kind == "complaint")
            .collect();
        assert_eq!(
            acted_on,
            vec![
                ("hard".to_string(), "counted".to_string()),
                ("complaint".to_string(), "unsubscribed".to_string())
            ]
        );
        assert_eq!(statuses(env), ["active", "unsubscribed", "active"]);
    }

    /// A private CA whose leaf certifies `sns.eu-west-1.amazonaws.com`:
    /// `ca.pem`, `sns.pem`, `sns.key` in `dir`.
    fn sns_host_certificate(dir: &Path) {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=paperboy test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(dir, &ca, None);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "sns.key",
            "-out",
            "sns.csr",
            "-subj",
            "/CN=sns.eu-west-1.amazonaws.com",
        ]);
        openssl(dir, &csr, None);
        std::fs::write(
            dir.join("sns.ext"),
            "subjectAltName=DNS:sns.eu-west-1.amazonaws.com\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "sns.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "sns.ext",
                "-out",
                "sns.pem",
            ],
            None,
        );
    }

    /// An HTTPS proxy on 127.0.0.1 standing in for the way to AWS: it
    /// answers `CONNECT sns.eu-west-1.amazonaws.com:443`, speaks TLS with
    /// the test CA's certificate for that name, and passes the requests
    /// to the plain HTTP server `backend`. Returns its port and the
    /// CONNECT targets it was asked for.
    async fn sns_proxy(
        dir: &Path,
        backend: std::net::SocketAddr,
    ) -> (u16, Arc<Mutex<Vec<String>>>) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(dir.join("sns.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("sns.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    // The request head, byte by byte: the client sends its
                    // TLS hello only after our answer.
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                        let mut byte = [0u8; 1];
                        if socket.read_exact(&mut byte).await.is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split(' ').next())
                        .unwrap_or("")
                        .to_string();
                    seen.lock().unwrap().push(target.clone());
                    if target != "sns.eu-west-1.amazonaws.com:443" {
                        let _ = socket
                            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                    if socket
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        (port, targets)
    }

    /// An SNS notification of `message`, signed by `key` with version 2,
    /// its certificate at [`CERT_URL`].
    fn sns_notification(dir: &Path, key: &str, id: &str, message: &str) -> String {
        let ts = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let subject = "Amazon SES Email Event Notification";
        let signature = sns_sign(
            dir,
            key,
            "2",
            &[
                ("Message", message),
                ("MessageId", id),
                ("Subject", subject),
                ("Timestamp", &ts),
                ("TopicArn", TOPIC),
                ("Type", "Notification"),
            ],
        );
        serde_json::json!({
            "Type": "Notification", "MessageId": id, "TopicArn": TOPIC,
            "Subject": subject, "Message": message, "Timestamp": ts,
            "SignatureVersion": "2", "Signature": signature, "SigningCertURL": CERT_URL,
            "UnsubscribeURL": format!("https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55")
        })
        .to_string()
    }

    /// The `mail` object SES puts in every notification, for `digest`.
    fn ses_mail(digest: &ReceivedMail, to: &str) -> serde_json::Value {
        serde_json::json!({
            "timestamp": "2026-06-12T07:00:01.000Z",
            "messageId": "0100019012345678-9abcdef0-1234-5678-9abc-def012345678-000000",
            "source": digest.mail_from,
            "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/papers.example.org",
            "sendingAccountId": "123456789012",
            "destination": [to],
            "headersTruncated": false,
            "commonHeaders": {
                "from": ["Paperboy <digest@papers.example.org>"],
                "to": [to],
                "messageId": message_id(digest),
                "subject": "Your papers"
            }
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ses_notifications_through_sns_are_verified_with_the_certificate_fetched_over_tls() {
        let env = env_with_verp().await;
        let sent = sent_digests(&env).await;
        let pki = env.dir.path().join("pki");
        std::fs::create_dir(&pki).unwrap();
        sns_host_certificate(&pki);
        let signing_pem = sns_certificate(&pki, "aws");
        sns_certificate(&pki, "forger");
        // SNS's side: the signing certificate, and the subscription
        // confirmation endpoint.
        let sns = FixtureServer::start().await;
        sns.route(
            "/SimpleNotificationService-0000.pem",
            FixtureResponse::body(signing_pem),
        );
        sns.route(
            "/",
            FixtureResponse::body("<ConfirmSubscriptionResponse/>").with_content_type("text/xml"),
        );
        let (proxy, connects) = sns_proxy(&pki, sns.addr()).await;
        let config = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(
            &env.config_path,
            format!("{config}\n[bounces.webhooks.ses]\ntopic_arns = [\"{TOPIC}\"]\n"),
        )
        .unwrap();
        let proxy_url = PathBuf::from(format!("http://127.0.0.1:{proxy}"));
        let daemon = Daemon::start(
            &env,
            &[
                ("HTTPS_PROXY", proxy_url.as_path()),
                ("SSL_CERT_FILE", &pki.join("ca.pem")),
            ],
        )
        .await;
        let url = daemon.url("ses");
        let sns_headers = |kind: &str| {
            vec![
                ("x-amz-sns-message-type", kind.to_string()),
                ("x-amz-sns-topic-arn", TOPIC.to_string()),
            ]
        };

        // The subscription is confirmed by visiting its SubscribeURL.
        let subscribe = format!("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425c464de");
        let (id, token, ts, msg) = (
            "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "2336412f37fb687f5d51e6e2425c464de",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            format!("You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        );
        let signature = sns_sign(
            &pki,
            "aws",
            "1",
            &[
                ("Message", &msg),
                ("MessageId", id),
                ("SubscribeURL", &subscribe),
                ("Timestamp", &ts),
                ("Token", token),
                ("TopicArn", TOPIC),
                ("Type", "SubscriptionConfirmation"),
            ],
        );
        let confirmation = serde_json::json!({
            "Type": "SubscriptionConfirmation", "MessageId": id, "Token": token, "TopicArn": TOPIC,
            "Message": msg, "SubscribeURL": subscribe, "Timestamp": ts, "SignatureVersion": "1",
            "Signature": signature, "SigningCertURL": CERT_URL
        })
        .to_string();
        let (status, answer) = post(
            &url,
            &sns_headers("SubscriptionConfirmation"),
            &confirmation,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.contains("subscription confirmed"), "{answer}");
        let visits = sns.requests_to("/");
        assert_eq!(visits.len(), 1, "the SubscribeURL was visited once");
        assert_eq!(
            visits[0].query_param("Action").as_deref(),
            Some("ConfirmSubscription")
        );
        assert_eq!(visits[0].query_param("Token").as_deref(), Some(token));
        assert!(connects
            .lock()
            .unwrap()
            .iter()
            .all(|t| t == "sns.eu-west-1.amazonaws.com:443"));

        let ada = to(&sent, "ada@example.org");
        let bob = to(&sent, "bob@example.org");
        let mut bounce_mail = ses_mail(ada, "ada@example.org");
        bounce_mail["headers"] = serde_json::json!([
            {"name": "From", "value": "Paperboy <digest@papers.example.org>"},
            {"name": "To", "value": "ada@example.org"},
            {"name": "Message-ID", "value": message_id(ada)}
        ]);
        let bounce = serde_json::json!({
            "notificationType": "Bounce",
            "bounce": {
                "feedbackId": "0100019012345678-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-000000",
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{
                    "emailAddress": "ada@example.org",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                }],
                "timestamp": "2026-06-12T07:00:03.000Z",
                "reportingMTA": "dsn; a1-23.smtp-out.eu-west-1.amazonses.com",
                "remoteMtaIp": "192.0.2.25"
            },
            "mail": bounce_mail
        })
        .to_string();
        let complaint = serde_json::json!({
            "notificationType": "Complaint",
            "complaint": {
                "feedbackId": "0100019012345678-ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee-000000",
                "complaintSubType": null,
                "complainedRecipients": [{"emailAddress": "bob@example.org"}],
                "timestamp": "2026-06-12T09:12:44.000Z",
                "userAgent": "Yahoo!-Mail-Feedback/2.0",
                "complaintFeedbackType": "abuse",
                "arrivalDate": "2026-06-12T07:00:02.000Z"
            },
            "mail": ses_mail(bob, "bob@example.org")
        })
        .to_string();

        // Signed by another key, or changed after signing: 401, nothing.
        let forged = sns_notification(
            &pki,
            "forger",
            "b1a1e1c8-0000-0000-0000-000000000001",
            &bounce,
        );
        let (status, answer) = post(&url, &sns_headers("Notification"), &forged).await;
        assert_eq!(status, 401, "{answer}");
        assert!(answer.contains("signature"), "{answer}");
        let genuine =
            sns_notification(&pki, "aws", "b1a1e1c8-0000-0000-0000-000000000002", &bounce);
        let changed = genuine.replace("ada@example.org", "cy@example.org");
        let (status, answer) = post(&url, &sns_headers("Notification"), &changed).await;
        assert_eq!(status, 401, "{answer}");
        // Not JSON at all, and a signed notification whose message is not
        // SES JSON: 400 naming what was wrong.
        let (status, answer) = post(
            &url,
            &sns_headers("Notification"),
            "{\"Type\": \"Notification\",",
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer.contains("not a valid Amazon SNS payload"),
            "{answer}"
        );
        let unreadable = sns_notification(
            &pki,
            "aws",
            "b1a1e1c8-0000-0000-0000-000000000003",
            "{\"notificationType\": \"Bounce\"",
        );
        let (status, answer) = post(&url, &sns_headers("Notification"), &unreadable).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer.contains("not a valid Amazon SES payload"),
            "{answer}"
        );
        assert!(
            recorded(&env).await.is_empty(),
            "refused requests record nothing"
        );
        assert_eq!(statuses(&env), ["active", "active", "active"]);

        let (status, bounce_answer) = post(&url, &sns_headers("Notification"), &genuine).await;
        assert_eq!(status, 200, "{bounce_answer}");
        // SNS delivers at least once: the same message again is not a
        // second bounce.
        let (status, again) = post(&url, &sns_headers("Notification"), &genuine).await;
        assert_eq!((status, again.as_str()), (200, "already handled\n"));
        let complaint = sns_notification(
            &pki,
            "aws",
            "b1a1e1c8-0000-0000-0000-000000000004",
            &complaint,
        );
        let (status, complaint_answer) = post(&url, &sns_headers("Notification"), &complaint).await;
        assert_eq!(status, 200, "{complaint_answer}");
        assert_acted_on(&env, &bounce_answer, &complaint_answer).await;
        assert_eq!(
            sns.requests_to("/SimpleNotificationService-0000.pem").len(),
            1,
            "the signing certificate is fetched once and kept"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postmark_webhooks_need_the_basic_credentials_of_their_url() {
        let env = env_with_verp().await;
        let sent = sent_digests(&env).await;
        let secret = env.dir.path().join("postmark.secret");
        std::fs::write(&secret, "s3cr3t-Pm-hook\n").unwrap();
        let config = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(
            &env.config_path,
            format!(
                "{config}\n[bounces.webhooks.postmark]\nusername = \"postmark\"\nsecret_file = \"{}\"\n",
                secret.display()
            ),
        )
        .unwrap();
        let daemon = Daemon::start(&env, &[]).await;
        let url = daemon.url("postmark");
        let basic = |user: &str, password: &str| {
            vec![(
                "authorization",
                format!("Basic {}", b64(format!("{user}:{password}").as_bytes())),
            )]
        };
        let good = basic("postmark", "s3cr3t-Pm-hook");
        let _ = to(&sent, "ada@example.org");
        // Postmark's Bounce and SpamComplaint webhook records, as its
        // documentation shows them.
        let bounce = serde_json::json!({
            "RecordType": "Bounce",
            "MessageStream": "outbound",
            "ID": 4323372036854775807u64,
            "Type": "HardBounce",
            "TypeCode": 1,
            "Name": "Hard bounce",
            "Tag": "digest",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Metadata": {},
            "ServerID": 23,
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": "ada@example.org",
            "From": "digest@papers.example.org",
            "BouncedAt": "2026-06-12T07:00:03.9070259Z",
            "DumpAvailable": true,
            "Inactive": true,
            "CanActivate": true,
            "Subject": "Your papers",
            "Content": ""
        })
        .to_string();
        let complaint = serde_json::json!({
            "RecordType": "SpamComplaint",
            "MessageStream": "outbound",
            "ID": 42,
            "Type": "SpamComplaint",
            "TypeCode": 512,
            "Name": "Spam complaint",
            "Tag": "digest",
            "MessageID": "00000000-0000-0000-0000-000000000000",
            "Metadata": {},
            "ServerID": 1234,
            "Description": "",
            "Details": "",
            "Email": "bob@example.org",
            "From": "digest@papers.example.org",
            "BouncedAt": "2026-06-12T09:12:44.9070259Z",
            "DumpAvailable": true,
            "Inactive": true,
            "CanActivate": false,
            "Subject": "Your papers"
        })
        .to_string();

        for (headers, why) in [
            (vec![], "no credentials"),
            (basic("postmark", "s3cr3t-Pm-hooK"), "a wrong password"),
            (basic("other", "s3cr3t-Pm-hook"), "a wrong user"),
        ] {
            let (status, answer) = post(&url, &headers, &bounce).await;
            assert_eq!(status, 401, "{why}: {answer}");
        }
        let (status, answer) = post(&url, &good, "{\"RecordType\": \"Bounce\", \"Email\": ").await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("not a valid Postmark payload"), "{answer}");
        let (status, answer) = post(&url, &good, "{\"Email\": \"ada@example.org\"}").await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("no RecordType"), "{answer}");
        assert!(
            recorded(&env).await.is_empty(),
            "refused requests record nothing"
        );
        assert_eq!(statuses(&env), ["active", "active", "active"]);

        let (status, bounce_answer) = post(&url, &good, &bounce).await;
        assert_eq!(status, 200, "{bounce_answer}");
        let (status, complaint_answer) = post(&url, &good, &complaint).await;
        assert_eq!(status, 200, "{complaint_answer}");
        assert_acted_on(&env, &bounce_answer, &complaint_answer).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sendgrid_event_batches_need_a_fresh_ecdsa_signature_by_the_configured_key() {
        let env = env_with_verp().await;
        let sent = sent_digests(&env).await;
        let dir = env.dir.path();
        for name in ["ec.key", "other.key"] {
            openssl(
                dir,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    name,
                ],
                None,
            );
        }
        let public = openssl(
            dir,
            &["ec", "-in", "ec.key", "-pubout", "-outform", "DER"],
            None,
        );
        let config = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(
            &env.config_path,
            format!(
                "{config}\n[bounces.webhooks.sendgrid]\npublic_key = \"{}\"\n",
                b64(&public)
            ),
        )
        .unwrap();
        let daemon = Daemon::start(&env, &[]).await;
        let url = daemon.url("sendgrid");
        let signed = |key: &str, timestamp: i64, body: &str| {
            let mut data = timestamp.to_string().into_bytes();
            data.extend_from_slice(body.as_bytes());
            let signature = b64(&openssl(
                dir,
                &["dgst", "-sha256", "-sign", key],
                Some(&data),
            ));
            vec![
                ("x-twilio-email-event-webhook-signature", signature),
                (
                    "x-twilio-email-event-webhook-timestamp",
                    timestamp.to_string(),
                ),
            ]
        };
        let now = chrono::Utc::now().timestamp();
        let ada = to(&sent, "ada@example.org");
        // SendGrid's event webhook: a JSON array of events, as its
        // documentation shows them; smtp-id is the Message-ID we sent.
        let bounce = serde_json::json!([
            {
                "email": "ada@example.org",
                "timestamp": now - 5,
                "smtp-id": message_id(ada),
                "event": "bounce",
                "category": ["digest"],
                "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "status": "5.1.1",
                "type": "bounce",
                "bounce_classification": "Invalid Address",
                "tls": 1
            },
            {
                "email": "ada@example.org",
                "timestamp": now - 6,
                "smtp-id": message_id(ada),
                "event": "processed",
                "category": ["digest"],
                "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
            }
        ])
        .to_string();
        let complaint = serde_json::json!([{
            "email": "bob@example.org",
            "timestamp": now - 3,
            "smtp-id": message_id(to(&sent, "bob@example.org")),
            "event": "spamreport",
            "category": ["digest"],
            "sg_event_id": "37nvH5QBz858KGVYCM4uOA==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.1"
        }])
        .to_string();

        let (status, answer) = post(&url, &signed("other.key", now, &bounce), &bounce).await;
        assert_eq!(status, 401, "another key: {answer}");
        assert!(answer.contains("signature"), "{answer}");
        let (status, answer) = post(&url, &[], &bounce).await;
        assert_eq!(status, 401, "unsigned: {answer}");
        let mut moved = signed("ec.key", now, &bounce);
        moved[1].1 = (now + 1).to_string();
        let (status, answer) = post(&url, &moved, &bounce).await;
        assert_eq!(status, 401, "a changed timestamp: {answer}");
        let (status, answer) = post(&url, &signed("ec.key", now - 3600, &bounce), &bounce).await;
        assert_eq!(status, 401, "an hour old: {answer}");
        assert!(answer.contains("outside the 300 s window"), "{answer}");
        let broken = "[{\"email\": \"ada@example.org\", \"event\": \"bounce\"";
        let (status, answer) = post(&url, &signed("ec.key", now, broken), broken).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("not a valid SendGrid payload"), "{answer}");
        let eventless = "[{\"email\": \"ada@example.org\"}]";
        let (status, answer) = post(&url, &signed("ec.key", now, eventless), eventless).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("an event has no \"event\""), "{answer}");
        assert!(
            recorded(&env).await.is_empty(),
            "refused requests record nothing"
        );
        assert_eq!(statuses(&env), ["active", "active", "active"]);

        let (status, bounce_answer) = post(&url, &signed("ec.key", now, &bounce), &bounce).await;
        assert_eq!(status, 200, "{bounce_answer}");
        let (status, complaint_answer) =
            post(&url, &signed("ec.key", now, &complaint), &complaint).await;
        assert_eq!(status, 200, "{complaint_answer}");
        assert_acted_on(&env, &bounce_answer, &complaint_answer).await;
    }
}
