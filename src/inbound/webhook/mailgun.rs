//! Mailgun's webhooks (the JSON form): `signature.signature` is the hex
//! HMAC-SHA256 of `timestamp` followed by `token` under the domain's HTTP
//! webhook signing key. The timestamp must be fresh; the token must be seen
//! only once, which the caller checks (it needs memory).

use chrono::{Duration, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{check_fresh, check_size, keys_from, strings_in, WebhookError};
use crate::inbound::address;
use crate::inbound::event::{
    Bounce, Complaint, Event, FailedRecipient, FeedbackType, Report, Unrecognised,
};
use crate::inbound::keys::Context;
use crate::inbound::status::{find_reply_code, BounceCause, Severity, StatusCode};

const PROVIDER: &str = "Mailgun";

/// A verified Mailgun event.
#[derive(Debug, Clone, PartialEq)]
pub struct MailgunEvent {
    /// The request's one-time token: refuse a second request carrying it.
    pub token: String,
    pub report: Report,
}

#[derive(Deserialize)]
struct Payload {
    signature: Signature,
    #[serde(rename = "event-data")]
    event_data: serde_json::Value,
}

#[derive(Deserialize)]
struct Signature {
    timestamp: String,
    token: String,
    signature: String,
}

/// Verifies a webhook request's signature and freshness, then reads its
/// event. `signing_key` is the "HTTP webhook signing key" of the Mailgun
/// account.
pub fn verify_and_read(
    body: &[u8],
    signing_key: &[u8],
    window: Duration,
    ctx: &Context<'_>,
) -> Result<MailgunEvent, WebhookError> {
    check_size(body)?;
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| WebhookError::malformed(PROVIDER, e))?;
    let sig = &payload.signature;
    let expected = hex_decode(&sig.signature).ok_or(WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key)
        .map_err(|_| WebhookError::BadKey("the Mailgun signing key is empty".into()))?;
    mac.update(sig.timestamp.as_bytes());
    mac.update(sig.token.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::BadSignature)?;
    let timestamp: i64 = sig
        .timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadSignature)?;
    check_fresh(timestamp, ctx.now, window)?;
    Ok(MailgunEvent {
        token: sig.token.clone(),
        report: read_event(&payload.event_data, ctx)?,
    })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn text<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(|v| v.as_str())
}

/// Reads one `event-data` object.
fn read_event(data: &serde_json::Value, ctx: &Context<'_>) -> Result<Report, WebhookError> {
    let event = text(data, &["event"])
        .ok_or_else(|| WebhookError::malformed(PROVIDER, "event-data has no event"))?
        .to_ascii_lowercase();
    let finder = ctx.finder();
    let mut carriers: Vec<&str> = Vec::new();
    carriers.extend(text(data, &["envelope", "sender"]));
    if let Some(vars) = data.get("user-variables") {
        carriers.extend(strings_in(vars));
    }
    if let Some(headers) = data.pointer("/message/headers") {
        carriers.extend(strings_in(headers));
    }
    let recipient = text(data, &["recipient"]);
    let keys = keys_from(
        &finder,
        recipient,
        text(data, &["message", "headers", "message-id"]),
        &carriers,
    );
    let reason = text(data, &["reason"]).unwrap_or("").to_ascii_lowercase();
    let event = match (event.as_str(), reason.as_str()) {
        ("failed", "suppress-unsubscribe") | ("unsubscribed", _) => Event::UnsubscribeRequest,
        ("failed", "suppress-complaint") | ("complained", _) => Event::Complaint(Complaint {
            feedback_type: FeedbackType::Abuse,
            user_agent: None,
        }),
        ("failed", _) => Event::Bounce(bounce(data, recipient, &reason)),
        ("delivered", _) => Event::Delivered,
        _ => Event::Unknown(Unrecognised::IgnoredEventType),
    };
    let occurred_at = data
        .get("timestamp")
        .and_then(|t| t.as_f64())
        .filter(|t| t.is_finite() && t.abs() < 1e11)
        .and_then(|t| Utc.timestamp_opt(t as i64, 0).single());
    Ok(Report {
        event,
        keys,
        occurred_at,
    })
}

fn bounce(data: &serde_json::Value, recipient: Option<&str>, reason: &str) -> Bounce {
    let severity = match text(data, &["severity"]) {
        Some(s) if s.eq_ignore_ascii_case("temporary") => Severity::Soft,
        _ => Severity::Hard,
    };
    let status = data.get("delivery-status");
    let words: Vec<&str> = ["message", "description", "enhanced-code"]
        .iter()
        .filter_map(|k| status.and_then(|s| s.get(k)).and_then(|v| v.as_str()))
        .collect();
    let words = words.join(" ");
    let code = status
        .and_then(|s| s.get("code"))
        .and_then(|c| c.as_u64())
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .or_else(|| find_reply_code(&words));
    let enhanced = StatusCode::find_failure_in(&words);
    let cause = if reason == "suppress-bounce" {
        // Mailgun refused to send to an address that bounced before.
        BounceCause::Recipient
    } else {
        BounceCause::of_report(enhanced, None, Some(&words))
    };
    let recipient = FailedRecipient {
        address: recipient.and_then(address::parse),
        severity,
        cause,
        status: enhanced,
        smtp_code: code,
        diagnostic: (!words.trim().is_empty()).then(|| address::one_line(&words)),
    };
    Bounce::from_recipients(vec![recipient], "mailgun").expect("one recipient")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::event::{DeliveryKey, EventKind};
    use crate::inbound::verp::bounce_token;
    use crate::links::{LinkSigner, SigningKeys};

    const KEY: &[u8] = b"key-7d8c3f0a2b1e4d5c6f7a8b9c0d1e2f3a";

    fn ctx(signer: &LinkSigner, now: i64) -> Context<'_> {
        Context {
            signer: Some(signer),
            envelope_recipient: None,
            now: Utc.timestamp_opt(now, 0).unwrap(),
        }
    }

    fn signer() -> LinkSigner {
        LinkSigner::new(SigningKeys::from_secrets([vec![4u8; 32]]).unwrap())
    }

    fn sign(timestamp: &str, token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Mailgun's documented "permanent_fail" sample event, with our bounce
    /// address as the envelope sender.
    fn body(timestamp: &str, token: &str, signature: &str, sender: &str) -> String {
        format!(
            r#"{{
  "signature": {{"timestamp": "{timestamp}", "token": "{token}", "signature": "{signature}"}},
  "event-data": {{
    "event": "failed",
    "id": "G9Bn5sl1TC6nu79C8C0bwg",
    "timestamp": 1521233195.375624,
    "log-level": "error",
    "severity": "permanent",
    "reason": "bounce",
    "envelope": {{"sender": "{sender}", "transport": "smtp", "targets": "alice@example.com"}},
    "user-variables": {{"my_var_1": "Mailgun Variable #1"}},
    "delivery-status": {{"attempt-no": 1, "message": "5.1.1 The email account that you tried to reach does not exist.", "code": 550, "description": "", "session-seconds": 0.1}},
    "message": {{"headers": {{"to": "Alice <alice@example.com>", "message-id": "digest.2026-06-12.42.abc@papers.example.org", "from": "paperboy <digest@papers.example.org>", "subject": "Your papers"}}, "size": 111}},
    "recipient": "alice@example.com",
    "recipient-domain": "example.com"
  }}
}}"#
        )
    }

    #[test]
    fn a_signed_fresh_permanent_failure_is_a_hard_bounce_for_the_delivery() {
        let s = signer();
        let sender = format!("bounces+{}@papers.example.org", bounce_token(&s, 77));
        let (ts, token) = (
            "1781251200",
            "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
        );
        let raw = body(ts, token, &sign(ts, token), &sender);
        let event = verify_and_read(
            raw.as_bytes(),
            KEY,
            Duration::minutes(5),
            &ctx(&s, 1_781_251_260),
        )
        .unwrap();
        assert_eq!(event.token, token);
        assert_eq!(event.report.event.kind(), EventKind::HardBounce);
        assert_eq!(event.report.keys.best(), Some(DeliveryKey::Delivery(77)));
        let Event::Bounce(b) = &event.report.event else {
            unreachable!()
        };
        assert_eq!(b.smtp_code, Some(550));
        assert_eq!(b.cause, BounceCause::Recipient);
        assert_eq!(
            event.report.keys.message_ids,
            vec!["<digest.2026-06-12.42.abc@papers.example.org>"]
        );
        assert_eq!(
            event.report.occurred_at,
            Utc.timestamp_opt(1_521_233_195, 0).single()
        );
    }

    #[test]
    fn a_wrong_key_a_changed_body_or_a_stale_timestamp_is_refused() {
        let s = signer();
        let (ts, token) = ("1781251200", "tok");
        let raw = body(ts, token, &sign(ts, token), "x@example.org");
        let c = ctx(&s, 1_781_251_200);
        assert_eq!(
            verify_and_read(raw.as_bytes(), b"another key", Duration::minutes(5), &c),
            Err(WebhookError::BadSignature)
        );
        let forged = body("1781251201", token, &sign(ts, token), "x@example.org");
        assert_eq!(
            verify_and_read(forged.as_bytes(), KEY, Duration::minutes(5), &c),
            Err(WebhookError::BadSignature)
        );
        let late = ctx(&s, 1_781_251_200 + 3600);
        assert!(matches!(
            verify_and_read(raw.as_bytes(), KEY, Duration::minutes(5), &late),
            Err(WebhookError::Stale {
                age_seconds: 3600,
                ..
            })
        ));
        for junk in [
            "",
            "{}",
            "[]",
            "not json",
            r#"{"signature":{"timestamp":"1","token":"t","signature":"zz"},"event-data":{}}"#,
        ] {
            assert!(
                verify_and_read(junk.as_bytes(), KEY, Duration::minutes(5), &c).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn temporary_failures_complaints_and_unsubscribes_are_read_as_such() {
        let s = signer();
        let c = ctx(&s, 0);
        let read = |json: &str| read_event(&serde_json::from_str(json).unwrap(), &c).unwrap();
        let soft = read(
            r#"{"event":"failed","severity":"temporary","reason":"generic","recipient":"a@example.com","delivery-status":{"code":452,"message":"4.2.2 mailbox full"}}"#,
        );
        assert_eq!(soft.event.kind(), EventKind::SoftBounce);
        assert_eq!(
            read(r#"{"event":"complained","recipient":"a@example.com"}"#)
                .event
                .kind(),
            EventKind::Complaint
        );
        assert_eq!(
            read(r#"{"event":"unsubscribed","recipient":"a@example.com"}"#).event,
            Event::UnsubscribeRequest
        );
        assert_eq!(
            read(r#"{"event":"opened"}"#).event,
            Event::Unknown(Unrecognised::IgnoredEventType)
        );
        assert!(read_event(&serde_json::json!({"no": "event"}), &c).is_err());
    }
}
