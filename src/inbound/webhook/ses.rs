//! Amazon SES bounce, complaint and delivery notifications, delivered by
//! Amazon SNS to an HTTPS endpoint (or by mail, read by the classifier).
//!
//! An SNS request is trusted when (1) its `TopicArn` is one the operator
//! configured (anyone can create an SNS topic and have AWS sign for it),
//! (2) its `SigningCertURL` is an `https://sns.<region>.amazonaws.com/…pem`
//! URL, which the caller fetches over verified TLS (that fetch is the trust
//! anchor, as in AWS's own validators; the certificate's chain is not
//! checked here), and (3) the message's signature verifies with that
//! certificate: RSA PKCS#1 v1.5 over SHA-1 (`SignatureVersion` 1) or
//! SHA-256 (2), of the canonical `Name\nvalue\n` string of the fields AWS
//! lists for the message type. Replayed messages repeat their `MessageId`:
//! the caller refuses one it has seen.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
};
use serde::Deserialize;

use super::{check_size, header, strings_in, WebhookError};
use crate::inbound::address;
use crate::inbound::event::{
    Bounce, Complaint, DeliveryKeys, Event, FailedRecipient, FeedbackType, Report, Unrecognised,
};
use crate::inbound::keys::Context;
use crate::inbound::keys::KeyFinder;
use crate::inbound::status::{find_reply_code, BounceCause, Severity, StatusCode};

const PROVIDER: &str = "Amazon SNS";

/// What an SNS request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnsKind {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

/// An SNS message as received, not yet verified.
#[derive(Debug, Clone, Deserialize)]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    kind_name: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "Token")]
    token: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: String,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL", alias = "SigningCertUrl")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL", alias = "SubscribeUrl")]
    subscribe_url: Option<String>,
}

/// Parses an SNS request. The `x-amz-sns-message-type` header, when sent,
/// must agree with the body.
pub fn parse(headers: &http::HeaderMap, body: &[u8]) -> Result<SnsMessage, WebhookError> {
    check_size(body)?;
    let message: SnsMessage =
        serde_json::from_slice(body).map_err(|e| WebhookError::malformed(PROVIDER, e))?;
    message.kind()?;
    if let Ok(said) = header(headers, "x-amz-sns-message-type") {
        if said != message.kind_name {
            return Err(WebhookError::malformed(
                PROVIDER,
                "x-amz-sns-message-type and Type disagree",
            ));
        }
    }
    Ok(message)
}

impl SnsMessage {
    pub fn kind(&self) -> Result<SnsKind, WebhookError> {
        match self.kind_name.as_str() {
            "Notification" => Ok(SnsKind::Notification),
            "SubscriptionConfirmation" => Ok(SnsKind::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Ok(SnsKind::UnsubscribeConfirmation),
            other => Err(WebhookError::malformed(
                PROVIDER,
                format!("unknown Type {other:?}"),
            )),
        }
    }

    /// SNS's id of this message: the same on every retry.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// Refuses a topic the operator did not configure: check this before
    /// fetching any certificate.
    pub fn check_topic(&self, allowed: &[String]) -> Result<(), WebhookError> {
        if allowed.iter().any(|t| t == &self.topic_arn) {
            Ok(())
        } else {
            Err(WebhookError::UnknownTopic(
                self.topic_arn.chars().take(200).collect(),
            ))
        }
    }

    /// The signing certificate's URL, once validated (see
    /// [`validate_certificate_url`]): the caller fetches it (and may cache
    /// it by URL).
    pub fn certificate_url(&self) -> Result<url::Url, WebhookError> {
        validate_certificate_url(&self.signing_cert_url)
    }

    /// The string SNS signs: `Name\nvalue\n` for each field of the type, in
    /// AWS's order (`Subject` only when present).
    fn canonical(&self) -> Result<String, WebhookError> {
        let mut fields: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind()? {
            SnsKind::Notification => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
                fields.push(("Timestamp", &self.timestamp));
                fields.push(("TopicArn", &self.topic_arn));
            }
            SnsKind::SubscriptionConfirmation | SnsKind::UnsubscribeConfirmation => {
                let missing = || {
                    WebhookError::malformed(
                        PROVIDER,
                        "a confirmation without SubscribeURL or Token",
                    )
                };
                fields.push((
                    "SubscribeURL",
                    self.subscribe_url.as_deref().ok_or_else(missing)?,
                ));
                fields.push(("Timestamp", &self.timestamp));
                fields.push(("Token", self.token.as_deref().ok_or_else(missing)?));
                fields.push(("TopicArn", &self.topic_arn));
            }
        }
        fields.push(("Type", &self.kind_name));
        Ok(fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect())
    }

    /// Verifies topic, certificate URL and signature against the PEM the
    /// caller fetched from [`SnsMessage::certificate_url`].
    pub fn verify(
        self,
        certificate_pem: &[u8],
        allowed_topics: &[String],
    ) -> Result<VerifiedSns, WebhookError> {
        use base64::Engine;
        self.check_topic(allowed_topics)?;
        self.certificate_url()?;
        let der = CertificateDer::from_pem_slice(certificate_pem)
            .map_err(|e| WebhookError::BadCertificate(format!("not a PEM certificate ({e})")))?;
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| WebhookError::BadCertificate(format!("not an X.509 certificate ({e})")))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|_| WebhookError::BadSignature)?;
        let algorithm: &dyn SignatureVerificationAlgorithm = match self.signature_version.as_str() {
            "1" => &RSA_PKCS1_SHA1,
            "2" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            other => {
                return Err(WebhookError::malformed(
                    PROVIDER,
                    format!("unknown SignatureVersion {other:?}"),
                ))
            }
        };
        cert.verify_signature(algorithm, self.canonical()?.as_bytes(), &signature)
            .map_err(|_| WebhookError::BadSignature)?;
        Ok(VerifiedSns(self))
    }
}

/// An SNS message whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedSns(SnsMessage);

/// What to do with a verified SNS message.
#[derive(Debug, Clone, PartialEq)]
pub enum SnsOutcome {
    /// A new subscription: GET this URL (validated: an SNS https URL) to
    /// confirm it, which is I/O and so the caller's.
    ConfirmSubscription { subscribe_url: url::Url },
    /// The subscription was removed: nothing to do but log it.
    Unsubscribed,
    /// An SES notification.
    Notification(Report),
}

impl VerifiedSns {
    pub fn message_id(&self) -> &str {
        &self.0.message_id
    }

    pub fn outcome(&self, ctx: &Context<'_>) -> Result<SnsOutcome, WebhookError> {
        match self.0.kind()? {
            SnsKind::SubscriptionConfirmation => {
                let url = self.0.subscribe_url.as_deref().unwrap_or("");
                Ok(SnsOutcome::ConfirmSubscription {
                    subscribe_url: validate_sns_url(url, false)?,
                })
            }
            SnsKind::UnsubscribeConfirmation => Ok(SnsOutcome::Unsubscribed),
            SnsKind::Notification => Ok(SnsOutcome::Notification(read_notification(
                &self.0.message,
                ctx,
            )?)),
        }
    }
}

/// RSA PKCS#1 v1.5 with SHA-1, which SNS's `SignatureVersion` 1 uses and
/// webpki (rightly) does not offer for certificates.
#[derive(Debug)]
struct RsaPkcs1Sha1;

static RSA_PKCS1_SHA1: RsaPkcs1Sha1 = RsaPkcs1Sha1;

/// `sha1WithRSAEncryption` (1.2.840.113549.1.1.5) with NULL parameters.
const SHA1_WITH_RSA: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        SHA1_WITH_RSA
    }
}

/// Accepts only `https://sns.<region>.amazonaws.com/….pem` (and the
/// `amazonaws.com.cn` China regions): a URL pointing anywhere else could
/// serve an attacker's certificate.
pub fn validate_certificate_url(url: &str) -> Result<url::Url, WebhookError> {
    validate_sns_url(url, true)
}

fn validate_sns_url(text: &str, pem: bool) -> Result<url::Url, WebhookError> {
    static HOST: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com(?:\.cn)?$")
            .expect("static regex")
    });
    let refuse = || WebhookError::UntrustedCertificateUrl(text.chars().take(200).collect());
    let url = url::Url::parse(text).map_err(|_| refuse())?;
    let host_ok = url.host_str().is_some_and(|h| HOST.is_match(h));
    let plain = url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && url.port().is_none_or(|p| p == 443);
    let path_ok = !pem || (url.path().ends_with(".pem") && url.query().is_none());
    if host_ok && plain && path_ok {
        Ok(url)
    } else {
        Err(refuse())
    }
}

/// Reads one SES notification (the SNS `Message`, or the body of a
/// notification SNS delivered by mail). `notificationType` (topic
/// notifications) and `eventType` (configuration-set event publishing) are
/// both understood.
pub fn read_notification(message: &str, ctx: &Context<'_>) -> Result<Report, WebhookError> {
    let n: serde_json::Value = serde_json::from_str(message.trim())
        .map_err(|e| WebhookError::malformed("Amazon SES", e))?;
    let kind = n
        .get("notificationType")
        .or_else(|| n.get("eventType"))
        .and_then(|v| v.as_str())
        .ok_or_else(|| WebhookError::malformed("Amazon SES", "no notificationType or eventType"))?;
    let finder = ctx.finder();
    let mut keys = mail_keys(&n, &finder);
    let (event, detail) = match kind {
        "Bounce" => {
            let b = n.get("bounce").unwrap_or(&serde_json::Value::Null);
            let bounce = ses_bounce(b)?;
            for r in &bounce.recipients {
                if let Some(a) = &r.address {
                    keys.add_recipient(a);
                }
            }
            (Event::Bounce(bounce), b)
        }
        "DeliveryDelay" => {
            let d = n.get("deliveryDelay").unwrap_or(&serde_json::Value::Null);
            let bounce = delay(d)?;
            for r in &bounce.recipients {
                if let Some(a) = &r.address {
                    keys.add_recipient(a);
                }
            }
            (Event::Bounce(bounce), d)
        }
        "Complaint" => {
            let c = n.get("complaint").unwrap_or(&serde_json::Value::Null);
            for r in c
                .get("complainedRecipients")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(a) = r
                    .get("emailAddress")
                    .and_then(|v| v.as_str())
                    .and_then(address::parse)
                {
                    keys.add_recipient(&a);
                }
            }
            let feedback_type = c
                .get("complaintFeedbackType")
                .and_then(|v| v.as_str())
                .map(FeedbackType::parse)
                .unwrap_or(FeedbackType::Abuse);
            let event = if feedback_type.is_complaint() {
                Event::Complaint(Complaint {
                    feedback_type,
                    user_agent: c
                        .get("userAgent")
                        .and_then(|v| v.as_str())
                        .map(|u| address::one_line(u).chars().take(100).collect()),
                })
            } else if feedback_type == FeedbackType::OptOut {
                Event::UnsubscribeRequest
            } else {
                Event::Unknown(Unrecognised::NotAComplaint)
            };
            (event, c)
        }
        "Delivery" => (
            Event::Delivered,
            n.get("delivery").unwrap_or(&serde_json::Value::Null),
        ),
        _ => (
            Event::Unknown(Unrecognised::IgnoredEventType),
            &serde_json::Value::Null,
        ),
    };
    let occurred_at = detail
        .get("timestamp")
        .and_then(|v| v.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    Ok(Report {
        event,
        keys,
        occurred_at,
    })
}

/// Keys from the notification's `mail` object: the envelope sender we
/// used (our bounce address), the original headers when SES includes them,
/// the common headers' Message-ID, and event-publishing tags.
fn mail_keys(n: &serde_json::Value, finder: &KeyFinder<'_>) -> DeliveryKeys {
    let mut keys = DeliveryKeys::default();
    let mail = n.get("mail").unwrap_or(&serde_json::Value::Null);
    if let Some(source) = mail.get("source").and_then(|v| v.as_str()) {
        finder.add_token(source, &mut keys);
    }
    for h in mail
        .get("headers")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .take(200)
    {
        if let (Some(name), Some(value)) = (
            h.get("name").and_then(|v| v.as_str()),
            h.get("value").and_then(|v| v.as_str()),
        ) {
            finder.returned_header(name, value, &mut keys);
        }
    }
    if let Some(id) = mail
        .pointer("/commonHeaders/messageId")
        .and_then(|v| v.as_str())
    {
        keys.add_message_id(id);
    }
    if let Some(tags) = mail.get("tags") {
        for value in strings_in(tags) {
            finder.add_token(value, &mut keys);
        }
    }
    keys
}

/// What SES says about one recipient of a bounce or a delay: the entries
/// of `bouncedRecipients` and `delayedRecipients` share these fields.
struct Reported<'a> {
    email: Option<&'a str>,
    status: Option<StatusCode>,
    diagnostic: &'a str,
}

/// The first 100 entries of `list` (an array of recipients), each read by
/// `read`.
fn recipients<'a>(
    list: Option<&'a serde_json::Value>,
    read: impl Fn(Reported<'a>) -> FailedRecipient,
) -> Vec<FailedRecipient> {
    list.and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .take(100)
        .map(|r| {
            let field = |key: &str| r.get(key).and_then(|v| v.as_str());
            read(Reported {
                email: field("emailAddress"),
                status: field("status").and_then(StatusCode::parse),
                diagnostic: field("diagnosticCode").unwrap_or(""),
            })
        })
        .collect()
}

fn ses_bounce(b: &serde_json::Value) -> Result<Bounce, WebhookError> {
    let bounce_type = b.get("bounceType").and_then(|v| v.as_str()).unwrap_or("");
    let sub_type = b
        .get("bounceSubType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    // Only a permanent bounce is hard; SES's "Undetermined" is not proof.
    let severity = if bounce_type == "Permanent" {
        Severity::Hard
    } else {
        Severity::Soft
    };
    let implied = match sub_type {
        "NoEmail" | "Suppressed" | "OnAccountSuppressionList" => Some(BounceCause::Recipient),
        "MailboxFull" => Some(BounceCause::MailboxFull),
        "MessageTooLarge" | "ContentRejected" | "AttachmentRejected" => Some(BounceCause::Content),
        _ => None,
    };
    let recipients = recipients(b.get("bouncedRecipients"), |r| {
        let status = r.status.filter(|s| !s.is_success());
        let quoted = StatusCode::find_failure_in(r.diagnostic);
        FailedRecipient {
            address: r.email.and_then(address::parse),
            severity,
            cause: implied
                .unwrap_or_else(|| BounceCause::of_report(status, quoted, Some(r.diagnostic))),
            status: status.or(quoted),
            smtp_code: find_reply_code(crate::inbound::fields::typed_value(r.diagnostic)),
            diagnostic: (!r.diagnostic.is_empty()).then(|| address::one_line(r.diagnostic)),
        }
    });
    Bounce::from_recipients(recipients, "ses")
        .ok_or_else(|| WebhookError::malformed("Amazon SES", "a bounce with no bouncedRecipients"))
}

fn delay(d: &serde_json::Value) -> Result<Bounce, WebhookError> {
    let recipients = recipients(d.get("delayedRecipients"), |r| FailedRecipient {
        address: r.email.and_then(address::parse),
        severity: Severity::Soft,
        cause: BounceCause::of_report(r.status, None, Some(r.diagnostic)),
        status: r.status,
        smtp_code: find_reply_code(r.diagnostic),
        diagnostic: (!r.diagnostic.is_empty()).then(|| address::one_line(r.diagnostic)),
    });
    Bounce::from_recipients(recipients, "ses")
        .ok_or_else(|| WebhookError::malformed("Amazon SES", "a delay with no delayedRecipients"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::event::{DeliveryKey, EventKind};
    use crate::inbound::verp::bounce_token;
    use crate::links::{LinkSigner, SigningKeys};
    use chrono::TimeZone;

    fn signer() -> LinkSigner {
        LinkSigner::new(SigningKeys::from_secrets([vec![8u8; 32]]).unwrap())
    }

    fn ctx(s: &LinkSigner) -> Context<'_> {
        Context {
            signer: Some(s),
            envelope_recipient: None,
            now: Utc.with_ymd_and_hms(2026, 6, 12, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn only_sns_https_pem_urls_are_accepted_for_the_certificate() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "https://sns.eu-central-2.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
            "https://sns.us-gov-west-1.amazonaws.com:443/a.pem",
        ] {
            assert!(validate_certificate_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem?redirect=1",
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "https://s3.amazonaws.com/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "",
            "not a url",
        ] {
            assert!(validate_certificate_url(bad).is_err(), "{bad}");
        }
    }

    /// AWS's documented Bounce notification example, with our bounce
    /// address as the source and our Message-ID in the headers.
    fn bounce_notification(source: &str) -> String {
        format!(
            r#"{{
  "notificationType":"Bounce",
  "bounce":{{
    "bounceType":"Permanent",
    "reportingMTA":"dns; email.example.com",
    "bouncedRecipients":[{{"emailAddress":"jane@example.com","status":"5.1.1","action":"failed","diagnosticCode":"smtp; 550 5.1.1 <jane@example.com>... User"}}],
    "bounceSubType":"General",
    "timestamp":"2016-01-27T14:59:44.101Z",
    "feedbackId":"00000138111222aa-44455566-cccc-cccc-cccc-ddddaaaa068a-000000",
    "remoteMtaIp":"127.0.2.0"
  }},
  "mail":{{
    "timestamp":"2016-01-27T14:59:38.237Z",
    "source":"{source}",
    "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
    "sourceIp": "127.0.3.0",
    "sendingAccountId":"123456789012",
    "messageId":"00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
    "destination":["jane@example.com"],
    "headersTruncated":false,
    "headers":[{{"name":"From","value":"\"John Doe\" <john@example.com>"}},{{"name":"Message-ID","value":"<digest.2026-06-12.42.abc@papers.example.org>"}}],
    "commonHeaders":{{"from":["John Doe <john@example.com>"],"date":"Wed, 27 Jan 2016 14:05:45 +0000","to":["Jane Doe <jane@example.com>"],"messageId":"digest.2026-06-12.42.abc@papers.example.org","subject":"Hello"}}
  }}
}}"#
        )
    }

    #[test]
    fn a_permanent_bounce_notification_is_a_hard_bounce_for_the_delivery_it_names() {
        let s = signer();
        let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 808));
        let report = read_notification(&bounce_notification(&verp), &ctx(&s)).unwrap();
        assert_eq!(report.event.kind(), EventKind::HardBounce);
        assert_eq!(report.keys.best(), Some(DeliveryKey::Delivery(808)));
        assert_eq!(
            report.keys.message_ids,
            vec!["<digest.2026-06-12.42.abc@papers.example.org>"]
        );
        assert_eq!(report.keys.recipients[0].as_str(), "jane@example.com");
        let Event::Bounce(b) = &report.event else {
            unreachable!()
        };
        assert_eq!((b.cause, b.smtp_code), (BounceCause::Recipient, Some(550)));
        assert_eq!(report.occurred_at.unwrap().timestamp(), 1_453_906_784);
    }

    #[test]
    fn complaints_delays_deliveries_and_other_events_are_read_as_such() {
        let s = signer();
        let c = ctx(&s);
        let kind = |json: &str| read_notification(json, &c).unwrap().event.kind();
        assert_eq!(
            kind(
                r#"{"notificationType":"Complaint","complaint":{"userAgent":"AnyCompany Feedback Loop (V0.01)","complainedRecipients":[{"emailAddress":"richard@example.com"}],"complaintFeedbackType":"abuse","arrivalDate":"2016-01-27T14:59:38.237Z","timestamp":"2016-01-27T14:59:38.237Z","feedbackId":"000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"},"mail":{"source":"john@example.com"}}"#
            ),
            EventKind::Complaint
        );
        assert_eq!(
            kind(
                r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"r@example.com"}]},"mail":{}}"#
            ),
            EventKind::Complaint
        );
        assert_eq!(
            kind(
                r#"{"eventType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull","bouncedRecipients":[{"emailAddress":"r@example.com"}]},"mail":{}}"#
            ),
            EventKind::SoftBounce
        );
        assert_eq!(
            kind(
                r#"{"eventType":"DeliveryDelay","deliveryDelay":{"delayType":"MailboxFull","delayedRecipients":[{"emailAddress":"r@example.com","status":"4.2.2","diagnosticCode":"smtp; 452 4.2.2 full"}]},"mail":{}}"#
            ),
            EventKind::SoftBounce
        );
        assert_eq!(
            kind(
                r#"{"notificationType":"Delivery","delivery":{"recipients":["r@example.com"]},"mail":{}}"#
            ),
            EventKind::Delivered
        );
        assert_eq!(
            kind(r#"{"eventType":"Open","mail":{}}"#),
            EventKind::Unknown
        );
        for junk in [
            "",
            "{}",
            "[]",
            r#"{"notificationType":"Bounce","bounce":{}}"#,
        ] {
            assert!(read_notification(junk, &c).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_canonical_string_follows_awss_field_list_for_each_type() {
        let body = br#"{"Type":"Notification","MessageId":"m","TopicArn":"t","Subject":"s","Message":"x","Timestamp":"ts","SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"https://sns.us-east-1.amazonaws.com/a.pem"}"#;
        let m = parse(&http::HeaderMap::new(), body).unwrap();
        assert_eq!(m.canonical().unwrap(), "Message\nx\nMessageId\nm\nSubject\ns\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n");
        let body = br#"{"Type":"SubscriptionConfirmation","MessageId":"m","Token":"k","TopicArn":"t","Message":"x","SubscribeURL":"u","Timestamp":"ts","SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"https://sns.us-east-1.amazonaws.com/a.pem"}"#;
        let m = parse(&http::HeaderMap::new(), body).unwrap();
        assert_eq!(m.canonical().unwrap(), "Message\nx\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n");
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-amz-sns-message-type",
            http::HeaderValue::from_static("Notification"),
        );
        assert!(parse(&h, body).is_err());
        assert!(parse(&http::HeaderMap::new(), b"{}").is_err());
    }
}
