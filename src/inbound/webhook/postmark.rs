//! Postmark's webhooks: Postmark signs nothing, so the request proves
//! itself with a secret the operator put in the webhook's configuration:
//! HTTP Basic credentials in the webhook URL
//! (`https://user:pass@…/webhooks/postmark`) or a custom header. The body
//! is one JSON record: `Bounce`, `SpamComplaint`, `SubscriptionChange`,
//! `Delivery` …

use chrono::{DateTime, Utc};

use super::{check_size, keys_from, same_secret, strings_in, WebhookError};
use crate::inbound::address;
use crate::inbound::event::{
    Bounce, Complaint, Event, FailedRecipient, FeedbackType, Report, Unrecognised,
};
use crate::inbound::keys::Context;
use crate::inbound::status::{find_reply_code, BounceCause, Severity, StatusCode};

const PROVIDER: &str = "Postmark";

/// How a Postmark webhook request proves it is Postmark's.
#[derive(Clone)]
pub enum PostmarkAuth {
    /// HTTP Basic credentials, as in `https://user:pass@host/webhooks/postmark`.
    Basic { username: String, password: String },
    /// A custom header Postmark sends with the webhook, and its value.
    Header {
        name: http::HeaderName,
        value: String,
    },
}

impl std::fmt::Debug for PostmarkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostmarkAuth::Basic { .. } => f.write_str("PostmarkAuth::Basic(<redacted>)"),
            PostmarkAuth::Header { name, .. } => {
                write!(f, "PostmarkAuth::Header({name}: <redacted>)")
            }
        }
    }
}

/// Checks the request's credentials, in constant time.
pub fn verify(headers: &http::HeaderMap, auth: &PostmarkAuth) -> Result<(), WebhookError> {
    match auth {
        PostmarkAuth::Basic { username, password } => {
            use base64::Engine;
            let value = super::header(headers, "authorization")?;
            let encoded = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
                .ok_or(WebhookError::BadCredentials)?;
            let given = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| WebhookError::BadCredentials)?;
            let expected = format!("{username}:{password}");
            if same_secret(&given, expected.as_bytes()) {
                Ok(())
            } else {
                Err(WebhookError::BadCredentials)
            }
        }
        PostmarkAuth::Header { name, value } => {
            let given = headers
                .get(name)
                .ok_or(WebhookError::BadCredentials)?
                .as_bytes();
            if same_secret(given, value.as_bytes()) {
                Ok(())
            } else {
                Err(WebhookError::BadCredentials)
            }
        }
    }
}

/// [`verify`], then [`read`].
pub fn verify_and_read(
    headers: &http::HeaderMap,
    body: &[u8],
    auth: &PostmarkAuth,
    ctx: &Context<'_>,
) -> Result<Report, WebhookError> {
    verify(headers, auth)?;
    read(body, ctx)
}

fn field<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(|x| x.as_str())
}

/// Reads one webhook record.
pub fn read(body: &[u8], ctx: &Context<'_>) -> Result<Report, WebhookError> {
    check_size(body)?;
    let record: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::malformed(PROVIDER, e))?;
    let record_type = field(&record, "RecordType")
        .ok_or_else(|| WebhookError::malformed(PROVIDER, "no RecordType"))?
        .to_string();
    let finder = ctx.finder();
    let carriers: Vec<&str> = record.get("Metadata").map(strings_in).unwrap_or_default();
    let email = field(&record, "Email").or_else(|| field(&record, "Recipient"));
    // Postmark's MessageID is its own, not ours: not a key.
    let keys = keys_from(&finder, email, None, &carriers);
    let complaint = || {
        Event::Complaint(Complaint {
            feedback_type: FeedbackType::Abuse,
            user_agent: None,
        })
    };
    let event = match record_type.as_str() {
        "Bounce" => match field(&record, "Type").unwrap_or("") {
            "HardBounce" | "BadEmailAddress" | "ManuallyDeactivated" | "AddressChange" => {
                Event::Bounce(bounce(
                    &record,
                    email,
                    Severity::Hard,
                    BounceCause::Recipient,
                ))
            }
            "Blocked" => Event::Bounce(bounce(&record, email, Severity::Hard, BounceCause::Policy)),
            "SoftBounce" | "Transient" | "DnsError" => {
                Event::Bounce(bounce(&record, email, Severity::Soft, BounceCause::Unknown))
            }
            "SpamNotification" => {
                Event::Bounce(bounce(&record, email, Severity::Soft, BounceCause::Policy))
            }
            "SpamComplaint" => complaint(),
            "AutoResponder" => Event::AutoReply,
            "Unsubscribe" => Event::UnsubscribeRequest,
            _ => Event::Unknown(Unrecognised::IgnoredEventType),
        },
        "SpamComplaint" => complaint(),
        "SubscriptionChange" => {
            let suppressed = record
                .get("SuppressSending")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            match (
                suppressed,
                field(&record, "SuppressionReason").unwrap_or(""),
            ) {
                (false, _) => Event::Unknown(Unrecognised::IgnoredEventType),
                (true, "HardBounce") => Event::Bounce(bounce(
                    &record,
                    email,
                    Severity::Hard,
                    BounceCause::Recipient,
                )),
                (true, "SpamComplaint") => complaint(),
                (true, _) => Event::UnsubscribeRequest,
            }
        }
        "Delivery" => Event::Delivered,
        _ => Event::Unknown(Unrecognised::IgnoredEventType),
    };
    let occurred_at = ["BouncedAt", "ChangedAt", "DeliveredAt", "ReceivedAt"]
        .iter()
        .find_map(|k| field(&record, k))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    Ok(Report {
        event,
        keys,
        occurred_at,
    })
}

/// A bounce from a record; the `Details` (the server's reply) refine the
/// cause Postmark's type implies.
fn bounce(
    record: &serde_json::Value,
    email: Option<&str>,
    severity: Severity,
    implied: BounceCause,
) -> Bounce {
    let details = field(record, "Details").unwrap_or("");
    let status = StatusCode::find_failure_in(details);
    let read = BounceCause::of_report(status, None, Some(details));
    let cause = match (implied, read) {
        // Postmark's type says the sender was refused: the words cannot
        // make it the address's fault.
        (BounceCause::Policy, _) => BounceCause::Policy,
        (_, BounceCause::Unknown) => implied,
        (_, read) => read,
    };
    let recipient = FailedRecipient {
        address: email.and_then(address::parse),
        severity,
        cause,
        status,
        smtp_code: find_reply_code(details),
        diagnostic: (!details.trim().is_empty()).then(|| address::one_line(details)),
    };
    Bounce::from_recipients(vec![recipient], "postmark").expect("one recipient")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::event::{DeliveryKey, EventKind};
    use crate::inbound::verp::bounce_token;
    use crate::links::{LinkSigner, SigningKeys};
    use chrono::TimeZone;
    use http::HeaderValue;

    fn ctx(signer: &LinkSigner) -> Context<'_> {
        Context {
            signer: Some(signer),
            envelope_recipient: None,
            now: Utc.with_ymd_and_hms(2026, 6, 12, 0, 0, 0).unwrap(),
        }
    }

    fn signer() -> LinkSigner {
        LinkSigner::new(SigningKeys::from_secrets([vec![6u8; 32]]).unwrap())
    }

    /// Postmark's documented bounce webhook sample, with our token in the
    /// metadata.
    fn bounce_sample(token_address: &str) -> String {
        format!(
            r#"{{
  "RecordType": "Bounce",
  "MessageStream": "outbound",
  "ID": 4323372036854775807,
  "Type": "HardBounce",
  "TypeCode": 1,
  "Name": "Hard bounce",
  "Tag": "Test",
  "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
  "Metadata": {{"a_key": "a_value", "paperboy_return_path": "{token_address}"}},
  "ServerID": 23,
  "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
  "Details": "Test bounce details",
  "Email": "john@example.com",
  "From": "sender@example.com",
  "BouncedAt": "2019-11-05T16:33:54.9070259Z",
  "DumpAvailable": true,
  "Inactive": true,
  "CanActivate": true,
  "Subject": "Test subject",
  "Content": "Test content"
}}"#
        )
    }

    /// Postmark's documented spam complaint webhook sample.
    const COMPLAINT: &str = r#"{
  "RecordType": "SpamComplaint",
  "MessageStream": "outbound",
  "ID": 42,
  "Type": "SpamComplaint",
  "TypeCode": 512,
  "Name": "Spam complaint",
  "Tag": "Test",
  "MessageID": "00000000-0000-0000-0000-000000000000",
  "Metadata": {"a_key": "a_value", "b_key": "b_value"},
  "ServerID": 1234,
  "Description": "",
  "Details": "Test spam complaint details",
  "Email": "john@example.com",
  "From": "sender@example.com",
  "BouncedAt": "2019-11-05T16:33:54.9070259Z",
  "DumpAvailable": true,
  "Inactive": true,
  "CanActivate": false,
  "Subject": "Test subject",
  "Content": "<Abuse report dump>"
}"#;

    fn basic(user: &str, pass: &str) -> http::HeaderMap {
        use base64::Engine;
        let mut h = http::HeaderMap::new();
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        h.insert("authorization", HeaderValue::from_str(&value).unwrap());
        h
    }

    #[test]
    fn basic_credentials_or_a_secret_header_let_a_request_in_and_nothing_else_does() {
        let auth = PostmarkAuth::Basic {
            username: "postmark".into(),
            password: "s3cret-Value".into(),
        };
        assert_eq!(verify(&basic("postmark", "s3cret-Value"), &auth), Ok(()));
        assert_eq!(
            verify(&basic("postmark", "s3cret-value"), &auth),
            Err(WebhookError::BadCredentials)
        );
        assert_eq!(
            verify(&basic("postmar", "ks3cret-Value"), &auth),
            Err(WebhookError::BadCredentials)
        );
        assert_eq!(
            verify(&http::HeaderMap::new(), &auth),
            Err(WebhookError::MissingHeader("authorization"))
        );
        let header = PostmarkAuth::Header {
            name: http::HeaderName::from_static("x-paperboy-secret"),
            value: "abc123".into(),
        };
        let mut h = http::HeaderMap::new();
        h.insert("x-paperboy-secret", HeaderValue::from_static("abc123"));
        assert_eq!(verify(&h, &header), Ok(()));
        h.insert("x-paperboy-secret", HeaderValue::from_static("abc124"));
        assert_eq!(verify(&h, &header), Err(WebhookError::BadCredentials));
        assert!(!format!("{auth:?} {header:?}").contains("s3cret"));
        assert!(!format!("{header:?}").contains("abc123"));
    }

    #[test]
    fn the_documented_samples_are_a_hard_bounce_and_a_complaint() {
        let s = signer();
        let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 55));
        let report = read(bounce_sample(&verp).as_bytes(), &ctx(&s)).unwrap();
        assert_eq!(report.event.kind(), EventKind::HardBounce);
        assert_eq!(report.keys.best(), Some(DeliveryKey::Delivery(55)));
        assert_eq!(report.keys.recipients[0].as_str(), "john@example.com");
        let Event::Bounce(b) = &report.event else {
            unreachable!()
        };
        assert!(b.blames_recipient());
        assert_eq!(report.occurred_at.unwrap().timestamp(), 1_572_971_634);

        let report = read(COMPLAINT.as_bytes(), &ctx(&s)).unwrap();
        assert_eq!(report.event.kind(), EventKind::Complaint);
        assert_eq!(
            report.keys.best(),
            Some(DeliveryKey::Recipient(&report.keys.recipients[0]))
        );
    }

    #[test]
    fn other_records_and_broken_bodies_are_told_apart() {
        let s = signer();
        let c = ctx(&s);
        let kind = |json: &str| read(json.as_bytes(), &c).unwrap().event.kind();
        assert_eq!(
            kind(r#"{"RecordType":"Bounce","Type":"Transient","Email":"a@example.com"}"#),
            EventKind::SoftBounce
        );
        assert_eq!(
            kind(r#"{"RecordType":"Bounce","Type":"AutoResponder","Email":"a@example.com"}"#),
            EventKind::AutoReply
        );
        assert_eq!(
            kind(
                r#"{"RecordType":"SubscriptionChange","Recipient":"a@example.com","SuppressSending":true,"SuppressionReason":"ManualSuppression"}"#
            ),
            EventKind::UnsubscribeRequest
        );
        assert_eq!(
            kind(
                r#"{"RecordType":"SubscriptionChange","Recipient":"a@example.com","SuppressSending":false}"#
            ),
            EventKind::Unknown
        );
        assert_eq!(kind(r#"{"RecordType":"Open"}"#), EventKind::Unknown);
        let blocked = read(br#"{"RecordType":"Bounce","Type":"Blocked","Email":"a@example.com","Details":"550 user unknown"}"#, &c).unwrap();
        let Event::Bounce(b) = &blocked.event else {
            unreachable!()
        };
        assert!(!b.blames_recipient());
        for junk in ["", "[]", "{}", "not json", r#"{"RecordType":5}"#] {
            assert!(
                matches!(
                    read(junk.as_bytes(), &c),
                    Err(WebhookError::Malformed { .. })
                ),
                "{junk}"
            );
        }
    }
}
