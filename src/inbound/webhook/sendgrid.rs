//! SendGrid's signed event webhook: `X-Twilio-Email-Event-Webhook-Signature`
//! is a base64 DER ECDSA P-256 signature, over SHA-256, of the
//! `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body,
//! under the account's verification key. The body is a JSON array of
//! events.

use chrono::{Duration, TimeZone, Utc};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

use super::{check_fresh, check_size, header, keys_from, WebhookError};
use crate::inbound::address;
use crate::inbound::event::{
    Bounce, Complaint, Event, FailedRecipient, FeedbackType, Report, Unrecognised,
};
use crate::inbound::keys::{Context, KeyFinder};
use crate::inbound::status::{find_reply_code, BounceCause, Severity, StatusCode};

const PROVIDER: &str = "SendGrid";
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// DER prefix of every P-256 SubjectPublicKeyInfo (id-ecPublicKey,
/// prime256v1, a 66-byte BIT STRING): DER is canonical, so a P-256 key is
/// these 26 bytes and its 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The account's webhook verification key, parsed once at startup.
#[derive(Clone, PartialEq, Eq)]
pub struct SendgridKey {
    point: Vec<u8>,
}

impl std::fmt::Debug for SendgridKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendgridKey(P-256)")
    }
}

impl SendgridKey {
    /// Reads the key as SendGrid shows it (base64 of the DER public key),
    /// or as a PEM `PUBLIC KEY` block.
    pub fn parse(text: &str) -> Result<SendgridKey, WebhookError> {
        use base64::Engine;
        let b64: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| {
                WebhookError::BadKey("the SendGrid verification key is not base64".into())
            })?;
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(SendgridKey {
                point: point.to_vec(),
            }),
            _ => Err(WebhookError::BadKey(
                "the SendGrid verification key is not an ECDSA P-256 public key".into(),
            )),
        }
    }
}

/// Verifies the signature and the freshness of the signed timestamp.
pub fn verify(
    headers: &http::HeaderMap,
    body: &[u8],
    key: &SendgridKey,
    window: Duration,
    now: chrono::DateTime<Utc>,
) -> Result<(), WebhookError> {
    use base64::Engine;
    check_size(body)?;
    let signature = header(headers, SIGNATURE_HEADER)?;
    let timestamp = header(headers, TIMESTAMP_HEADER)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| WebhookError::MalformedHeader(SIGNATURE_HEADER))?;
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &key.point)
        .verify(&signed, &signature)
        .map_err(|_| WebhookError::BadSignature)?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| WebhookError::MalformedHeader(TIMESTAMP_HEADER))?;
    check_fresh(seconds, now, window)
}

/// [`verify`], then [`read`].
pub fn verify_and_read(
    headers: &http::HeaderMap,
    body: &[u8],
    key: &SendgridKey,
    window: Duration,
    ctx: &Context<'_>,
) -> Result<Vec<Report>, WebhookError> {
    verify(headers, body, key, window, ctx.now)?;
    read(body, ctx)
}

/// Reads a batch of events, one report each (events of no interest are
/// [`Unrecognised::IgnoredEventType`]).
pub fn read(body: &[u8], ctx: &Context<'_>) -> Result<Vec<Report>, WebhookError> {
    check_size(body)?;
    let events: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| WebhookError::malformed(PROVIDER, e))?;
    let finder = ctx.finder();
    events.iter().map(|e| read_event(e, &finder)).collect()
}

fn field<'a>(event: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    event.get(name).and_then(|v| v.as_str())
}

fn read_event(e: &serde_json::Value, finder: &KeyFinder<'_>) -> Result<Report, WebhookError> {
    let object = e
        .as_object()
        .ok_or_else(|| WebhookError::malformed(PROVIDER, "an event is not an object"))?;
    let kind = field(e, "event")
        .ok_or_else(|| WebhookError::malformed(PROVIDER, "an event has no \"event\""))?
        .to_ascii_lowercase();
    // Custom arguments come back as top-level fields: any may hold a token.
    let carriers: Vec<&str> = object.values().filter_map(|v| v.as_str()).collect();
    let email = field(e, "email");
    let keys = keys_from(finder, email, field(e, "smtp-id"), &carriers);
    let reason = field(e, "reason").unwrap_or("");
    let event = match kind.as_str() {
        "bounce" => {
            // "bounce" is permanent; "blocked" (and "expired") are not.
            let hard = field(e, "type").is_none_or(|t| t.eq_ignore_ascii_case("bounce"));
            Event::Bounce(bounce(e, email, hard, reason))
        }
        "blocked" | "deferred" => Event::Bounce(bounce(e, email, false, reason)),
        "dropped" => match reason.to_ascii_lowercase().as_str() {
            "bounced address" | "invalid" | "invalid address" => {
                Event::Bounce(bounce(e, email, true, reason))
            }
            "spam reporting address" => Event::Complaint(Complaint {
                feedback_type: FeedbackType::Abuse,
                user_agent: None,
            }),
            "unsubscribed address" => Event::UnsubscribeRequest,
            _ => Event::Unknown(Unrecognised::IgnoredEventType),
        },
        "spamreport" => Event::Complaint(Complaint {
            feedback_type: FeedbackType::Abuse,
            user_agent: None,
        }),
        "unsubscribe" | "group_unsubscribe" => Event::UnsubscribeRequest,
        "delivered" => Event::Delivered,
        _ => Event::Unknown(Unrecognised::IgnoredEventType),
    };
    let occurred_at = e
        .get("timestamp")
        .and_then(|t| t.as_i64())
        .and_then(|t| Utc.timestamp_opt(t, 0).single());
    Ok(Report {
        event,
        keys,
        occurred_at,
    })
}

fn bounce(e: &serde_json::Value, email: Option<&str>, hard: bool, reason: &str) -> Bounce {
    let words = [reason, field(e, "response").unwrap_or("")].join(" ");
    let status = field(e, "status")
        .and_then(StatusCode::parse)
        .filter(|s| !s.is_success())
        .or_else(|| StatusCode::find_failure_in(&words));
    let classified = field(e, "bounce_classification").map(str::to_ascii_lowercase);
    let cause = match classified.as_deref() {
        Some("invalid address" | "mailbox unavailable") => BounceCause::Recipient,
        Some("reputation" | "content" | "frequency or volume") => BounceCause::Policy,
        Some("technical") => BounceCause::System,
        _ if reason.eq_ignore_ascii_case("bounced address") => BounceCause::Recipient,
        _ => BounceCause::of_report(status, None, Some(&words)),
    };
    let recipient = FailedRecipient {
        address: email.and_then(address::parse),
        severity: if hard { Severity::Hard } else { Severity::Soft },
        cause,
        status,
        smtp_code: find_reply_code(&words),
        diagnostic: (!words.trim().is_empty()).then(|| address::one_line(&words)),
    };
    Bounce::from_recipients(vec![recipient], "sendgrid").expect("one recipient")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::event::EventKind;
    use http::HeaderValue;

    /// SendGrid's published test vector (the same in every official
    /// library's tests): key, payload, signature and timestamp.
    const PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const PAYLOAD: &str =
        r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    const SIGNATURE: &str =
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const TIMESTAMP: &str = "1588788367";

    fn headers(signature: &str, timestamp: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
        h
    }

    fn at(seconds: i64) -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn sendgrids_published_test_vector_verifies() {
        let key = SendgridKey::parse(PUBLIC_KEY).unwrap();
        let h = headers(SIGNATURE, TIMESTAMP);
        assert_eq!(
            verify(
                &h,
                PAYLOAD.as_bytes(),
                &key,
                Duration::minutes(5),
                at(1_588_788_400)
            ),
            Ok(())
        );
    }

    #[test]
    fn a_changed_payload_timestamp_signature_or_key_is_refused() {
        let key = SendgridKey::parse(PUBLIC_KEY).unwrap();
        let now = at(1_588_788_400);
        let w = Duration::minutes(5);
        let changed = PAYLOAD.replace("test_event", "test_evenT");
        assert_eq!(
            verify(
                &headers(SIGNATURE, TIMESTAMP),
                changed.as_bytes(),
                &key,
                w,
                now
            ),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(
                &headers(SIGNATURE, "1588788368"),
                PAYLOAD.as_bytes(),
                &key,
                w,
                now
            ),
            Err(WebhookError::BadSignature)
        );
        // The libraries' "failing signature": one character changed.
        let failing = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
        assert_eq!(
            verify(
                &headers(failing, TIMESTAMP),
                PAYLOAD.as_bytes(),
                &key,
                w,
                now
            ),
            Err(WebhookError::BadSignature)
        );
        let other = SendgridKey::parse("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==").unwrap();
        assert_eq!(
            verify(
                &headers(SIGNATURE, TIMESTAMP),
                PAYLOAD.as_bytes(),
                &other,
                w,
                now
            ),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(&http::HeaderMap::new(), PAYLOAD.as_bytes(), &key, w, now),
            Err(WebhookError::MissingHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(&headers("%%%", TIMESTAMP), PAYLOAD.as_bytes(), &key, w, now),
            Err(WebhookError::MalformedHeader(SIGNATURE_HEADER))
        );
        // Authentic, but replayed a year later.
        assert!(matches!(
            verify(
                &headers(SIGNATURE, TIMESTAMP),
                PAYLOAD.as_bytes(),
                &key,
                w,
                at(1_620_000_000)
            ),
            Err(WebhookError::Stale { .. })
        ));
    }

    #[test]
    fn keys_that_are_not_p256_public_keys_are_refused_at_startup() {
        assert!(SendgridKey::parse("not base64!").is_err());
        assert!(SendgridKey::parse("AAAA").is_err());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &PUBLIC_KEY[..64],
            &PUBLIC_KEY[64..]
        );
        assert_eq!(
            SendgridKey::parse(&pem).unwrap(),
            SendgridKey::parse(PUBLIC_KEY).unwrap()
        );
        assert!(!format!("{:?}", SendgridKey::parse(PUBLIC_KEY).unwrap()).contains("MFkw"));
    }

    /// The event types of SendGrid's documented sample batch.
    #[test]
    fn a_batch_of_events_is_read_one_report_each() {
        let body = r#"[
 {"email":"example@test.com","timestamp":1513299569,"smtp-id":"<digest.2026-06-12.42.abc@papers.example.org>","event":"bounce","bounce_classification":"Invalid Address","category":"cat facts","sg_event_id":"6g4ZI7SA-xmRDv57GoPIPw==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","reason":"500 unknown recipient","status":"5.0.0","type":"bounce"},
 {"email":"example@test.com","timestamp":1513299569,"event":"bounce","reason":"421 too many connections","status":"4.0.0","type":"blocked"},
 {"email":"example@test.com","timestamp":1513299569,"event":"deferred","response":"400 try again later","attempt":"5"},
 {"email":"example@test.com","timestamp":1513299569,"event":"dropped","reason":"Bounced Address","status":"5.0.0"},
 {"email":"example@test.com","timestamp":1513299569,"event":"spamreport","sg_event_id":"x","sg_message_id":"y"},
 {"email":"example@test.com","timestamp":1513299569,"event":"group_unsubscribe","asm_group_id":10},
 {"email":"example@test.com","timestamp":1513299569,"event":"open","useragent":"Mozilla"}
]"#;
        let ctx = Context {
            signer: None,
            envelope_recipient: None,
            now: at(1_513_299_600),
        };
        let kinds: Vec<EventKind> = read(body.as_bytes(), &ctx)
            .unwrap()
            .iter()
            .map(|r| r.event.kind())
            .collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::HardBounce,
                EventKind::SoftBounce,
                EventKind::SoftBounce,
                EventKind::HardBounce,
                EventKind::Complaint,
                EventKind::UnsubscribeRequest,
                EventKind::Unknown
            ]
        );
        let first = &read(body.as_bytes(), &ctx).unwrap()[0];
        let Event::Bounce(b) = &first.event else {
            unreachable!()
        };
        assert_eq!(b.cause, BounceCause::Recipient);
        assert_eq!(
            first.keys.message_ids,
            vec!["<digest.2026-06-12.42.abc@papers.example.org>"]
        );
        assert_eq!(first.keys.recipients[0].as_str(), "example@test.com");
        for junk in ["", "{}", "[1]", "[{}]", "nul"] {
            assert!(read(junk.as_bytes(), &ctx).is_err(), "{junk}");
        }
    }
}
