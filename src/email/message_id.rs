//! Message-IDs: deterministic, so a mail sent again (a retried digest, a
//! resumed run) carries the id it had the first time and the receiving side
//! can drop the copy, while two different mails never share one.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::domain::SubscriberId;

/// Which mail to a subscriber a Message-ID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// Their digest dated this day: one per subscriber and date.
    Digest(NaiveDate),
    /// A confirmation mail claimed at this instant; the id keeps the
    /// minute, and a subscriber is sent at most one link mail per ten.
    Confirm(DateTime<Utc>),
    /// A manage-link mail claimed at this instant (as for `Confirm`).
    ManageLink(DateTime<Utc>),
    /// The welcome mail of a subscription confirmed at this instant.
    Welcome(DateTime<Utc>),
}

/// `<digest.2026-06-12.42.HASH@domain>` or
/// `<confirm.202611261805.42.HASH@domain>`: the kind of mail, its date (or
/// minute), the subscriber, and a short digest of all of them (a checksum,
/// not a secret). `domain` is the right-hand side: the `From:` address's
/// domain (see [`crate::mail::Mailer::sender_domain`]); an empty one
/// becomes `localhost`.
pub fn message_id(occasion: Occasion, subscriber: SubscriberId, domain: &str) -> String {
    let domain = domain.trim().trim_start_matches('@');
    let domain = if domain.is_empty() {
        "localhost"
    } else {
        domain
    };
    let (kind, slot) = match occasion {
        Occasion::Digest(date) => ("digest", date.format("%Y-%m-%d").to_string()),
        Occasion::Confirm(at) => ("confirm", at.format("%Y%m%d%H%M").to_string()),
        Occasion::ManageLink(at) => ("manage-link", at.format("%Y%m%d%H%M").to_string()),
        Occasion::Welcome(at) => ("welcome", at.format("%Y%m%d%H%M").to_string()),
    };
    let digest = Sha256::digest(format!("{kind}|{slot}|{subscriber}|{domain}"));
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{kind}.{slot}.{subscriber}.{hash}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ids_are_deterministic_and_distinct_per_subscriber_kind_and_day() {
        let sub = SubscriberId::new(42);
        let d = day("2026-06-12");
        let a = message_id(Occasion::Digest(d), sub, "example.org");
        assert_eq!(a, message_id(Occasion::Digest(d), sub, "example.org"));
        assert!(a.starts_with("<digest.2026-06-12.42."), "{a}");
        assert!(a.ends_with("@example.org>"), "{a}");
        assert_ne!(
            a,
            message_id(Occasion::Digest(d), SubscriberId::new(43), "example.org")
        );
        assert_ne!(
            a,
            message_id(Occasion::Digest(d.succ_opt().unwrap()), sub, "example.org")
        );
        assert_ne!(a, message_id(Occasion::Digest(d), sub, "example.net"));
        assert_eq!(
            message_id(Occasion::Digest(d), sub, " @ "),
            message_id(Occasion::Digest(d), sub, "localhost")
        );
    }

    #[test]
    fn link_mail_ids_are_stable_within_the_minute_and_differ_by_kind() {
        let sub = SubscriberId::new(42);
        let t = at("2026-11-26T18:05:30Z");
        let a = message_id(Occasion::Confirm(t), sub, "example.org");
        assert_eq!(
            a,
            message_id(
                Occasion::Confirm(at("2026-11-26T18:05:59Z")),
                sub,
                "example.org"
            )
        );
        assert!(a.starts_with("<confirm.202611261805.42."), "{a}");
        assert!(a.ends_with("@example.org>"));
        assert_ne!(a, message_id(Occasion::ManageLink(t), sub, "example.org"));
        assert_ne!(
            a,
            message_id(
                Occasion::Confirm(at("2026-11-26T18:06:00Z")),
                sub,
                "example.org"
            )
        );
    }

    #[test]
    fn ids_already_sent_keep_their_value() {
        // Digests reserved before this function existed carry ids made by
        // the same recipe: a resent one must not change.
        assert_eq!(
            message_id(
                Occasion::Digest(day("2026-06-12")),
                SubscriberId::new(42),
                "example.org"
            ),
            format!(
                "<digest.2026-06-12.42.{}@example.org>",
                &hex(&Sha256::digest("digest|2026-06-12|42|example.org"))[..12]
            )
        );
        assert_eq!(
            message_id(
                Occasion::ManageLink(at("2026-11-26T18:05:30Z")),
                SubscriberId::new(7),
                "p.example"
            ),
            format!(
                "<manage-link.202611261805.7.{}@p.example>",
                &hex(&Sha256::digest("manage-link|202611261805|7|p.example"))[..12]
            )
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
