//! What a bounce, complaint or provider event says, and the keys that find
//! the delivery it is about: the one output shape of every reader in
//! [`super`] (mail and webhooks alike).

use std::fmt;

use chrono::{DateTime, Utc};

use super::status::{BounceCause, Severity, StatusCode};
use super::verp::SubscriberRef;
use crate::domain::SubscriberEmail;

/// One classified message or provider event, and how to find its delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub event: Event,
    pub keys: DeliveryKeys,
    /// When the provider says it happened (webhooks); `None` for mail, whose
    /// arrival time is the caller's clock.
    pub occurred_at: Option<DateTime<Utc>>,
}

impl Report {
    pub(crate) fn new(event: Event, keys: DeliveryKeys) -> Report {
        Report {
            event,
            keys,
            occurred_at: None,
        }
    }

    /// One line for a log or the CLI's output: the kind, the status and
    /// what the delivery was matched by. Never an address, a token or the
    /// server's words (which often quote the address).
    pub fn summary(&self) -> String {
        let mut line = self.event.kind().as_str().to_string();
        match &self.event {
            Event::Bounce(b) => {
                let mut detail = Vec::new();
                if let Some(status) = b.status {
                    detail.push(status.to_string());
                } else if let Some(code) = b.smtp_code {
                    detail.push(code.to_string());
                }
                detail.push(b.cause.as_str().to_string());
                line.push_str(&format!(" ({})", detail.join(", ")));
            }
            Event::Complaint(c) => line.push_str(&format!(" ({})", c.feedback_type)),
            Event::Unknown(why) => line.push_str(&format!(" ({why})")),
            _ => {}
        }
        match self.keys.best() {
            Some(key) => line.push_str(&format!(", matched by {}", key.kind_name())),
            None => line.push_str(", no delivery key"),
        }
        line
    }
}

/// The kind of an [`Event`], without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    HardBounce,
    SoftBounce,
    Complaint,
    AutoReply,
    UnsubscribeRequest,
    Delivered,
    Unknown,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::HardBounce => "hard bounce",
            EventKind::SoftBounce => "soft bounce",
            EventKind::Complaint => "complaint",
            EventKind::AutoReply => "auto-reply",
            EventKind::UnsubscribeRequest => "unsubscribe request",
            EventKind::Delivered => "delivered",
            EventKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a delivery, according to the message or event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The delivery failed (hard) or is delayed or failed for now (soft).
    Bounce(Bounce),
    /// The recipient reported the mail as spam (or fraud, or a virus).
    Complaint(Complaint),
    /// An out-of-office or other automatic reply (RFC 3834): nothing to do.
    AutoReply,
    /// The recipient asked to be unsubscribed: a mail to the `mailto:` of
    /// `List-Unsubscribe`, an ARF `opt-out` report, a provider's
    /// unsubscribe event.
    UnsubscribeRequest,
    /// A delivery status notification that reports success (RFC 3464
    /// `Action: delivered`, `relayed` or `expanded`): nothing to do.
    Delivered,
    /// Not recognised as any of the above.
    Unknown(Unrecognised),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Bounce(b) if b.severity == Severity::Hard => EventKind::HardBounce,
            Event::Bounce(_) => EventKind::SoftBounce,
            Event::Complaint(_) => EventKind::Complaint,
            Event::AutoReply => EventKind::AutoReply,
            Event::UnsubscribeRequest => EventKind::UnsubscribeRequest,
            Event::Delivered => EventKind::Delivered,
            Event::Unknown(_) => EventKind::Unknown,
        }
    }
}

/// Why a message or event was left unclassified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecognised {
    /// No RFC 5322 header could be read.
    NotAMessage,
    /// A message, but neither a bounce, a complaint nor an auto-reply.
    NotABounce,
    /// Looks like a bounce, but says neither which recipient failed nor
    /// how.
    NoFailureFound,
    /// An ARF report that is not a complaint about the recipient's mail:
    /// an authentication-failure report (RFC 6591) or `not-spam`.
    NotAComplaint,
    /// A provider event of a type with no action (opened, clicked …).
    IgnoredEventType,
}

impl fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unrecognised::NotAMessage => "not an email message",
            Unrecognised::NotABounce => "not a bounce, complaint or auto-reply",
            Unrecognised::NoFailureFound => "a bounce naming no failed recipient",
            Unrecognised::NotAComplaint => "a feedback report that is not a complaint",
            Unrecognised::IgnoredEventType => "an event type with no action",
        })
    }
}

/// A failed or delayed delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounce {
    /// Hard if any recipient failed permanently.
    pub severity: Severity,
    /// The cause of the recipient that decided [`Bounce::severity`].
    pub cause: BounceCause,
    pub status: Option<StatusCode>,
    pub smtp_code: Option<u16>,
    /// Every recipient the report names, the deciding one first.
    pub recipients: Vec<FailedRecipient>,
    /// Which reader recognised it (`"rfc3464"`, `"qmail"`, `"ses"` …), for
    /// the operator's log.
    pub format: &'static str,
}

impl Bounce {
    /// Whether this bounce counts toward suspending the subscriber: a hard
    /// one whose cause is the address (see [`BounceCause::blames_recipient`]).
    pub fn blames_recipient(&self) -> bool {
        self.severity == Severity::Hard && self.cause.blames_recipient()
    }

    /// Builds a bounce from per-recipient results: the first hard one (else
    /// the first) decides. `None` when there are none.
    pub(crate) fn from_recipients(
        mut recipients: Vec<FailedRecipient>,
        format: &'static str,
    ) -> Option<Bounce> {
        let decisive = recipients
            .iter()
            .position(|r| r.severity == Severity::Hard)
            .unwrap_or(0);
        if recipients.is_empty() {
            return None;
        }
        recipients[..=decisive].rotate_right(1);
        let first = &recipients[0];
        Some(Bounce {
            severity: first.severity,
            cause: first.cause,
            status: first.status,
            smtp_code: first.smtp_code,
            format,
            recipients,
        })
    }
}

/// One recipient of a bounce report.
#[derive(Clone, PartialEq)]
pub struct FailedRecipient {
    /// `None` when the address given is not one paperboy could have sent to.
    pub address: Option<SubscriberEmail>,
    pub severity: Severity,
    pub cause: BounceCause,
    pub status: Option<StatusCode>,
    pub smtp_code: Option<u16>,
    /// The remote server's words (a DSN's `Diagnostic-Code`, the line a text
    /// bounce quotes), single-line and at most 500 characters. It often
    /// quotes the address: never log it.
    pub diagnostic: Option<String>,
}

impl fmt::Debug for FailedRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedRecipient")
            .field("address", &self.address.as_ref().map(|_| "<address>"))
            .field("severity", &self.severity)
            .field("cause", &self.cause)
            .field("status", &self.status)
            .field("smtp_code", &self.smtp_code)
            .field("diagnostic", &self.diagnostic.as_ref().map(|d| d.len()))
            .finish()
    }
}

/// A feedback report (RFC 5965) or a provider's spam-complaint event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    pub feedback_type: FeedbackType,
    /// The reporting software (`User-Agent` of the report), if given.
    pub user_agent: Option<String>,
}

/// RFC 5965 §7.3 feedback types, plus the ones in use before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackType {
    Abuse,
    Fraud,
    Virus,
    Other,
    NotSpam,
    /// RFC 6591 authentication-failure report: about the sending domain's
    /// DKIM/SPF/DMARC, not the recipient's wish.
    AuthFailure,
    /// `opt-out` / `opt-out-list` (pre-RFC ARF drafts, still sent): an
    /// unsubscribe request.
    OptOut,
    /// Anything else, lower-cased.
    Unregistered(String),
}

impl FeedbackType {
    pub fn parse(value: &str) -> FeedbackType {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "abuse" => FeedbackType::Abuse,
            "fraud" => FeedbackType::Fraud,
            "virus" => FeedbackType::Virus,
            "other" => FeedbackType::Other,
            "not-spam" => FeedbackType::NotSpam,
            "auth-failure" | "dkim" | "spf" => FeedbackType::AuthFailure,
            "opt-out" | "opt-out-list" | "optout" => FeedbackType::OptOut,
            _ => FeedbackType::Unregistered(v.chars().take(40).collect()),
        }
    }

    /// Whether the recipient objects to the mail (unsubscribe at once).
    pub fn is_complaint(&self) -> bool {
        matches!(
            self,
            FeedbackType::Abuse
                | FeedbackType::Fraud
                | FeedbackType::Virus
                | FeedbackType::Other
                | FeedbackType::Unregistered(_)
        )
    }
}

impl fmt::Display for FeedbackType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedbackType::Abuse => "abuse",
            FeedbackType::Fraud => "fraud",
            FeedbackType::Virus => "virus",
            FeedbackType::Other => "other",
            FeedbackType::NotSpam => "not-spam",
            FeedbackType::AuthFailure => "auth-failure",
            FeedbackType::OptOut => "opt-out",
            FeedbackType::Unregistered(s) => s,
        })
    }
}

/// Everything found that can lead to the delivery or subscriber a report
/// is about, strongest first in [`DeliveryKeys::best`].
#[derive(Clone, Default, PartialEq)]
pub struct DeliveryKeys {
    /// The delivery id from a verified bounce-address token (VERP): the
    /// report was sent to, or quotes, an address only that delivery had.
    pub delivery: Option<i64>,
    /// The subscriber from a verified `unsubscribe+TOKEN@` address or a
    /// `List-Unsubscribe` link token quoted in the returned headers.
    pub subscriber: Option<SubscriberRef>,
    /// `Message-ID`s of the returned original, as written (`<…@…>`). Our
    /// Message-IDs are predictable, so this finds a delivery but proves
    /// nothing.
    pub message_ids: Vec<String>,
    /// Failed or complaining recipients named in the report (DSN
    /// `Final-Recipient`/`Original-Recipient`, ARF `Original-Rcpt-To`,
    /// the addresses a text bounce lists, a provider event's address).
    pub recipients: Vec<SubscriberEmail>,
}

impl fmt::Debug for DeliveryKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryKeys")
            .field("delivery", &self.delivery)
            .field("subscriber", &self.subscriber)
            .field("message_ids", &self.message_ids.len())
            .field("recipients", &self.recipients.len())
            .finish()
    }
}

/// One way to find the delivery, from [`DeliveryKeys::best`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKey<'a> {
    Delivery(i64),
    Subscriber(SubscriberRef),
    MessageId(&'a str),
    Recipient(&'a SubscriberEmail),
}

impl DeliveryKey<'_> {
    /// Log-safe name of the key kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            DeliveryKey::Delivery(_) => "bounce address",
            DeliveryKey::Subscriber(_) => "subscriber token",
            DeliveryKey::MessageId(_) => "message id",
            DeliveryKey::Recipient(_) => "recipient address",
        }
    }

    /// Whether the key was signed by us (a bounce-address or link token),
    /// rather than read from content anyone could write.
    pub fn is_verified(&self) -> bool {
        matches!(self, DeliveryKey::Delivery(_) | DeliveryKey::Subscriber(_))
    }
}

impl DeliveryKeys {
    /// The strongest key: the VERP delivery, else the subscriber token,
    /// else the first Message-ID, else the first recipient.
    pub fn best(&self) -> Option<DeliveryKey<'_>> {
        self.all().next()
    }

    /// Every key, strongest first: a caller whose store has pruned the
    /// delivery can fall back to the next one.
    pub fn all(&self) -> impl Iterator<Item = DeliveryKey<'_>> {
        self.delivery
            .map(DeliveryKey::Delivery)
            .into_iter()
            .chain(self.subscriber.map(DeliveryKey::Subscriber))
            .chain(self.message_ids.iter().map(|m| DeliveryKey::MessageId(m)))
            .chain(self.recipients.iter().map(DeliveryKey::Recipient))
    }

    pub(crate) fn add_recipient(&mut self, address: &SubscriberEmail) {
        if !self
            .recipients
            .iter()
            .any(|a| a.as_str().eq_ignore_ascii_case(address.as_str()))
        {
            self.recipients.push(address.clone());
        }
    }

    pub(crate) fn add_message_id(&mut self, id: &str) {
        let id = id.trim();
        if id.is_empty() || id.len() > 250 || id.chars().any(char::is_control) {
            return;
        }
        let id = if id.starts_with('<') {
            id.to_string()
        } else {
            format!("<{id}>")
        };
        if !self.message_ids.contains(&id) {
            self.message_ids.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> SubscriberEmail {
        SubscriberEmail::parse(s).unwrap()
    }

    fn failed(address: &str, severity: Severity, cause: BounceCause) -> FailedRecipient {
        FailedRecipient {
            address: Some(email(address)),
            severity,
            cause,
            status: None,
            smtp_code: None,
            diagnostic: Some(format!("550 {address} unknown")),
        }
    }

    #[test]
    fn the_first_hard_recipient_decides_a_mixed_bounce() {
        let b = Bounce::from_recipients(
            vec![
                failed("a@example.org", Severity::Soft, BounceCause::Network),
                failed("b@example.org", Severity::Hard, BounceCause::Recipient),
            ],
            "test",
        )
        .unwrap();
        assert_eq!(b.severity, Severity::Hard);
        assert_eq!(
            b.recipients[0].address.as_ref().unwrap().as_str(),
            "b@example.org"
        );
        assert_eq!(b.recipients.len(), 2);
        assert!(b.blames_recipient());
        assert!(Bounce::from_recipients(vec![], "test").is_none());
    }

    #[test]
    fn keys_are_offered_strongest_first() {
        let mut keys = DeliveryKeys::default();
        assert_eq!(keys.best(), None);
        keys.add_recipient(&email("a@example.org"));
        keys.add_recipient(&email("A@EXAMPLE.org"));
        assert_eq!(keys.recipients.len(), 1);
        keys.add_message_id("x@y");
        assert_eq!(keys.message_ids, vec!["<x@y>".to_string()]);
        assert_eq!(keys.best(), Some(DeliveryKey::MessageId("<x@y>")));
        keys.delivery = Some(7);
        assert_eq!(keys.best(), Some(DeliveryKey::Delivery(7)));
        assert!(keys.best().unwrap().is_verified());
        assert_eq!(keys.all().count(), 3);
    }

    #[test]
    fn summaries_and_debug_output_carry_no_address() {
        let bounce = Bounce::from_recipients(
            vec![failed(
                "secret.person@example.org",
                Severity::Hard,
                BounceCause::Recipient,
            )],
            "test",
        )
        .unwrap();
        let mut keys = DeliveryKeys::default();
        keys.add_recipient(&email("secret.person@example.org"));
        let report = Report::new(Event::Bounce(bounce), keys);
        let shown = format!("{} {:?}", report.summary(), report);
        assert!(!shown.contains("secret.person"), "{shown}");
        assert!(report.summary().starts_with("hard bounce (recipient)"));
    }

    #[test]
    fn feedback_types_that_are_not_objections_do_not_unsubscribe() {
        assert!(FeedbackType::parse("Abuse").is_complaint());
        assert!(FeedbackType::parse("x-weird").is_complaint());
        assert!(!FeedbackType::parse("auth-failure").is_complaint());
        assert!(!FeedbackType::parse("not-spam").is_complaint());
        assert_eq!(FeedbackType::parse("opt-out"), FeedbackType::OptOut);
    }
}
