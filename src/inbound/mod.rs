//! Mail and provider events that arrive after the SMTP conversation:
//! bounces, spam complaints, automatic replies and unsubscribe requests,
//! classified into one [`Report`] shape with the keys that find the
//! delivery.
//!
//! This module is pure: it reads bytes, headers and secrets it is given and
//! returns values. It must not read the clock (time is an argument), touch
//! files or the network, or know about the store; fetching an SNS signing
//! certificate, reading stdin or a Maildir, answering HTTP and recording
//! what a report means are its callers' jobs. It depends only on
//! [`crate::domain`], [`crate::links`] (the signing keys) and external
//! crates.
//!
//! - [`classify`]: one raw RFC 5322 message → [`Report`]. RFC 5965 feedback
//!   reports ([`arf`](self)), RFC 3464 delivery status notifications, the
//!   text bounces of MTAs and providers that write no DSN, RFC 3834
//!   auto-replies, `mailto:` unsubscribe requests.
//! - [`verp`]: the signed per-delivery bounce address
//!   (`bounces+TOKEN@example.org`) and `mailto:` unsubscribe address
//!   (`unsubscribe+TOKEN@example.org`).
//! - [`webhook`]: Amazon SES (through SNS), Postmark, SendGrid and Mailgun
//!   event webhooks: signature checks and payloads → [`Report`]s.
//! - [`StatusCode`], [`Severity`], [`BounceCause`]: what a failure says and
//!   whether it blames the address.

mod address;
mod arf;
mod autoreply;
mod dsn;
mod event;
mod fields;
mod keys;
mod message;
pub mod settings;
mod status;
mod text;
pub mod verp;
pub mod webhook;

pub use event::{
    Bounce, Complaint, DeliveryKey, DeliveryKeys, Event, EventKind, FailedRecipient, FeedbackType,
    Report, Unrecognised,
};
pub use keys::Context;
pub use message::{classify, MAX_MESSAGE_BYTES};
pub use status::{BounceCause, Severity, StatusCode};
pub use verp::{SubscriberRef, TokenClaims};
