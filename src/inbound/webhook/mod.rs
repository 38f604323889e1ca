//! Event webhooks of the sending services operators use instead of their
//! own MTA: check that a request comes from the provider (signature or
//! shared secret, and freshness), then read its events into [`Report`]s.
//!
//! Pure like the rest of [`crate::inbound`]: each function takes the
//! request's headers and body, the configured secret and the time, and
//! returns values or a [`WebhookError`]; it never panics on any input.
//! Fetching the SNS signing certificate, answering HTTP, remembering which
//! Mailgun tokens and SNS message ids were seen (replays) and recording what
//! the reports mean are the caller's.
//!
//! - [`ses`]: Amazon SES notifications delivered by SNS (signature versions
//!   1 and 2, subscription confirmation, topic allow-list).
//! - [`postmark`]: Basic auth or a shared-secret header; Bounce,
//!   SpamComplaint and SubscriptionChange records.
//! - [`sendgrid`]: the signed event webhook (ECDSA P-256 over timestamp and
//!   body); bounce, blocked, dropped, deferred, spamreport and unsubscribe
//!   events.
//! - [`mailgun`]: HMAC-SHA256 of timestamp and token; `failed`,
//!   `complained` and `unsubscribed` events.
//!
//! [`Report`]: super::Report

use chrono::{DateTime, Duration, Utc};

use super::address;
use super::event::DeliveryKeys;
use super::keys::KeyFinder;

pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod ses;

/// How far a signed timestamp may be from now (either way) before the
/// request is refused as a replay: five minutes, as the providers suggest.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::minutes(5);

/// Webhook bodies are refused past this size: a batch of provider events
/// is kilobytes, and nothing is read from a larger one.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a webhook request was refused. [`WebhookError::is_unauthenticated`]
/// tells the caller which answer to give (401 against 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the request has no {0} header")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the credentials do not match")]
    BadCredentials,
    #[error(
        "the signed timestamp is {age_seconds} s from now, outside the {window_seconds} s window"
    )]
    Stale {
        age_seconds: i64,
        window_seconds: i64,
    },
    #[error("the SNS topic {0:?} is not one this listener accepts")]
    UnknownTopic(String),
    #[error("the signing certificate URL {0:?} is not an Amazon SNS https URL")]
    UntrustedCertificateUrl(String),
    #[error("the signing certificate cannot be used: {0}")]
    BadCertificate(String),
    #[error("the configured key cannot be used: {0}")]
    BadKey(String),
    #[error("the body is {0} bytes, more than a webhook sends")]
    TooLarge(usize),
    #[error("the body is not a valid {provider} payload: {reason}")]
    Malformed {
        provider: &'static str,
        reason: String,
    },
}

impl WebhookError {
    /// Whether the request failed authentication (answer 401, record
    /// nothing) rather than being authentic but unreadable (400).
    pub fn is_unauthenticated(&self) -> bool {
        !matches!(
            self,
            WebhookError::Malformed { .. } | WebhookError::TooLarge(_) | WebhookError::BadKey(_)
        )
    }

    fn malformed(provider: &'static str, reason: impl ToString) -> WebhookError {
        WebhookError::Malformed {
            provider,
            reason: reason.to_string(),
        }
    }
}

/// A header's value as text.
fn header<'a>(headers: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    let value = headers.get(name).ok_or(WebhookError::MissingHeader(name))?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| WebhookError::MalformedHeader(name))
}

fn check_size(body: &[u8]) -> Result<(), WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge(body.len()));
    }
    Ok(())
}

/// Refuses a signed unix timestamp further than `window` from `now`.
fn check_fresh(timestamp: i64, now: DateTime<Utc>, window: Duration) -> Result<(), WebhookError> {
    let age = now.timestamp().saturating_sub(timestamp);
    if age.saturating_abs() > window.num_seconds() {
        return Err(WebhookError::Stale {
            age_seconds: age,
            window_seconds: window.num_seconds(),
        });
    }
    Ok(())
}

/// Keys from the strings a provider echoes back: the recipient, our
/// Message-ID, and any value (custom arguments, metadata, the envelope
/// sender) that holds one of our tokens.
fn keys_from(
    finder: &KeyFinder<'_>,
    recipient: Option<&str>,
    message_id: Option<&str>,
    token_carriers: &[&str],
) -> DeliveryKeys {
    let mut keys = DeliveryKeys::default();
    for value in token_carriers {
        finder.add_token(value, &mut keys);
    }
    if let Some(id) = message_id.filter(|id| id.contains('@')) {
        keys.add_message_id(id);
    }
    if let Some(a) = recipient.and_then(address::parse) {
        keys.add_recipient(&a);
    }
    keys
}

/// Every string value in a JSON value, depth-first (custom arguments and
/// metadata nest them), at most 200.
fn strings_in(value: &serde_json::Value) -> Vec<&str> {
    fn walk<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>, depth: usize) {
        if out.len() >= 200 || depth > 8 {
            return;
        }
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out, depth + 1)),
            serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, out, depth + 1)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out, 0);
    out
}

/// Constant-time equality of two byte strings.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn freshness_allows_a_window_either_way_and_names_the_age() {
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        let w = Duration::minutes(5);
        assert!(check_fresh(1_000_000 - 300, now, w).is_ok());
        assert!(check_fresh(1_000_000 + 300, now, w).is_ok());
        assert_eq!(
            check_fresh(1_000_000 - 301, now, w),
            Err(WebhookError::Stale {
                age_seconds: 301,
                window_seconds: 300
            })
        );
        assert!(check_fresh(i64::MIN, now, w).is_err());
        assert!(check_fresh(i64::MAX, now, w).is_err());
    }

    #[test]
    fn only_authentication_failures_ask_for_a_401() {
        assert!(WebhookError::BadSignature.is_unauthenticated());
        assert!(WebhookError::MissingHeader("X").is_unauthenticated());
        assert!(!WebhookError::malformed("mailgun", "x").is_unauthenticated());
    }

    #[test]
    fn strings_are_found_in_nested_json() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":"x","b":[1,"y",{"c":"z"}],"d":null}"#).unwrap();
        let mut found = strings_in(&v);
        found.sort();
        assert_eq!(found, vec!["x", "y", "z"]);
    }
}
