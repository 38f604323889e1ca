//! Outgoing mail: the only module that uses `lettre`.
//!
//! Owns the `[mail]` settings, building messages with their list headers, and
//! the transports (SMTP with classified retries, or a file outbox). It must
//! not render templates or decide who gets what: callers hand it finished
//! [`OutgoingEmail`]s. Addresses and tokens are never logged.

mod message;
mod pool;
mod settings;
mod transport;

pub use message::{
    message_id, AutoSubmitted, EmailKind, ListId, ListUnsubscribe, ListUnsubscribePost,
    OutgoingEmail, Precedence,
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
    Transient { reason: String },
    /// The server refused the message for good (5xx), or the message could
    /// not be built; `reply` is the server's text.
    #[error("permanent delivery failure{}: {reply}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    Permanent { code: Option<u16>, reply: String },
}
