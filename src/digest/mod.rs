//! A day's digests: [`DigestRun`] plans which papers each due subscriber
//! gets ([`plan`], against a `window` of papers; [`due`] says who is due
//! when), reserves each digest in the store (`reserve`), and sends them under
//! the sending limits ([`limits`]) with retries (`retry`), counting what
//! happened ([`DigestReport`]). `preview` renders one without sending.
//!
//! It is handed the store, the mailer, the link signer and its
//! [`DigestConfig`]; it must not decide when runs happen (the CLI and
//! [`crate::jobs`] do) nor build mail content itself ([`crate::email`]).

mod config;
pub(crate) mod due;
pub mod frequencies;
mod job;
pub mod likes;
pub(crate) mod limits;
pub(crate) mod owner;
pub mod plan;
mod preview;
pub mod ranked;
mod report;
mod reserve;
mod retry;
mod run;
mod send;
pub mod top_papers;
mod window;

pub use config::DigestConfig;
pub use due::When;
pub use frequencies::Frequencies;
pub use report::{DigestReport, DryRunPaper, PlannedDigest};
pub use retry::{Retry, RetryPolicy};
#[cfg(test)]
pub(crate) use run::testing;
pub use run::{DigestOptions, DigestRun};
