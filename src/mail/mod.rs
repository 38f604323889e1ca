//! Outgoing mail: the only module that uses `lettre`.
//!
//! Owns the `[mail]` settings, building messages with their list headers, and
//! the transports (SMTP with classified retries, or a file outbox). It must
//! not render templates or decide who gets what: callers hand it finished
//! [`OutgoingEmail`]s. Addresses and tokens are never logged.

mod dkim;
mod latency;
mod message;
mod pipeline;
mod pool;
mod settings;
mod transport;

pub use dkim::{DkimSettings, DkimSigner, SIGNED_HEADERS};
pub use latency::{
    parse as parse_latency, LatencySeries, SendLatency, SendOutcome, BUCKETS as LATENCY_BUCKETS,
};
pub use message::{
    AutoSubmitted, EmailKind, ListId, ListUnsubscribe, ListUnsubscribePost, OutgoingEmail,
    Precedence, PreparedEmail,
};
pub use settings::{MailSettings, TransportKind};
pub use transport::{FileMailer, Mailer, SmtpMailer};

/// Setting up or checking a transport failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A `[mail]` value is wrong; `key` is its full name (`mail.from`).
    #[error("{key}: {reason}")]
    Config { key: &'static str, reason: String },
    /// The SMTP server could not be reached, greeted or logged into.
    #[error("SMTP check failed for {server}: {reason}")]
    Smtp { server: String, reason: String },
    /// The outbox directory cannot be created or written.
    #[error("mail outbox {path}: {reason}")]
    Outbox {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// Sending one message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (4xx reply, refused/reset connection,
    /// timeout, full disk). Already retried inside `send`.
    #[error("temporary delivery failure: {reason}")]
    Transient {
        /// The SMTP reply code (4xx) when the server answered; `None` for
        /// connection failures, timeouts and local I/O errors.
        code: Option<u16>,
        reason: String,
    },
    /// The server refused the message for good (5xx), or the message could
    /// not be built; `reply` is the server's text.
    #[error("permanent delivery failure{}: {reply}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    Permanent { code: Option<u16>, reply: String },
}

/// A server reply made fit for a log line: SMTP replies often quote the
/// recipient (`550 5.1.1 <ada@example.org>: unknown`), and logs never carry
/// an address, so every word with an `@` becomes `<address>`.
pub fn loggable_reply(reply: &str) -> String {
    reply
        .split_whitespace()
        .map(|w| if w.contains('@') { "<address>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a permanent reply blames the recipient's address, so that it
/// counts toward suspending them. lettre does not say which command a reply
/// answered, so the reply is read: a rejected sender (5xx to MAIL FROM, or a
/// reply naming the sender), a protocol, system or content problem must not
/// suspend every subscriber of a run. Only 550–554 and 556 (RFC 7504) count.
pub fn blames_recipient(code: Option<u16>, reply: &str, sender: &str) -> bool {
    if !matches!(code, Some(550..=554 | 556)) {
        return false;
    }
    let lower = reply.to_ascii_lowercase();
    if lower.contains("sender")
        || (!sender.is_empty() && lower.contains(&sender.to_ascii_lowercase()))
    {
        return false;
    }
    // The enhanced status code (RFC 3463), when the server gives one.
    let enhanced = reply.split_whitespace().find_map(|w| {
        let mut parts = w.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("5"), Some(class), Some(detail), None) => Some((class, detail)),
            _ => None,
        }
    });
    !matches!(enhanced, Some(("1", "7" | "8") | ("3" | "5" | "6", _)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_replies_about_the_recipients_address_count_toward_suspension() {
        let from = "digest@papers.example.org";
        for blamed in [
            (
                550,
                "5.1.1 <ada@example.org>: Recipient address rejected: user unknown",
            ),
            (550, "mailbox unavailable"),
            (552, "5.2.2 mailbox full"),
            (554, "5.7.1 <ada@example.org>: Relay access denied"),
            (556, "5.1.10 domain does not accept mail"),
        ] {
            assert!(
                super::blames_recipient(Some(blamed.0), blamed.1, from),
                "{blamed:?}"
            );
        }
        for not_blamed in [
            (
                550,
                "5.7.1 <digest@papers.example.org>: Sender address rejected",
            ),
            (553, "5.1.8 bad sender's system address"),
            (552, "5.3.4 message size exceeds fixed limit"),
            (554, "5.6.0 message content rejected"),
            (500, "5.5.2 syntax error"),
            (530, "5.7.0 authentication required"),
        ] {
            assert!(
                !super::blames_recipient(Some(not_blamed.0), not_blamed.1, from),
                "{not_blamed:?}"
            );
        }
        assert!(!super::blames_recipient(None, "5.1.1 unknown", from));
    }

    #[test]
    fn a_reply_quoting_the_recipient_loses_the_address_in_logs() {
        assert_eq!(
            super::loggable_reply("550 5.1.1 <ada@example.org>: mailbox   unknown"),
            "550 5.1.1 <address> mailbox unknown"
        );
    }
}
