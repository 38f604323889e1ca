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
