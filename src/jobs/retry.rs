//! The retry job: sends the unfinished digests (deferred, or left by a run
//! that stopped) whose retry time has come.

use chrono::{DateTime, Duration, Utc};

use crate::digest::{DigestReport, DigestRun};

/// How many days back, from today, unfinished digests are retried.
pub const RETRY_DAYS: i64 = 7;

/// Sends every unfinished digest of the last [`RETRY_DAYS`] days that is
/// due at `now`.
pub async fn retry(run: &DigestRun, now: DateTime<Utc>) -> anyhow::Result<DigestReport> {
    run.resume_unfinished(run.today(now) - Duration::days(RETRY_DAYS), now)
        .await
}
