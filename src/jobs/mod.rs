//! The daemon's jobs and the clock that runs them: [`fetch`] (sources into
//! the store), [`digest`] (the hourly tick, and `paperboy digest`),
//! [`retry`] (unfinished digests whose time has come), [`catch_up`] (what
//! was due while the daemon was stopped), [`retention`] (the daily removal
//! of personal data past its keeping period), the [`scheduler`] that runs
//! them on their cron lines, and [`bounces`], which reads the bounce Maildir.
//!
//! Several daemons may share one database: each slot of a scheduled job
//! runs once across them ([`slots`]).
//!
//! Each job is handed the parts it uses ([`FetchJob`], a
//! [`crate::digest::DigestRun`], the schedule) and records its run in the
//! store; none of them serves pages or builds mail.

pub mod bounces;
pub mod catch_up;
pub mod digest;
pub(crate) mod fetch;
pub mod retention;
pub(crate) mod retry;
pub mod scheduler;
pub mod slots;

pub use fetch::{FetchJob, FetchSummary, SourceOutcome};
pub use scheduler::{JobKind, Jobs, TickOutcome};
