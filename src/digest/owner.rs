//! Who is sending, and for how long a claim holds.
//!
//! A claim on a delivery (or on a job's slot, see `crate::jobs::slots`) is
//! stamped with this process's identity and a lease: an instant until which
//! the claim holds. The claimant renews the lease while it works (every
//! third of its length); a claim whose lease has passed belongs to a
//! process that died, hangs or lost the database, and another process, on
//! this host or any other sharing the database, takes it over. Liveness is
//! never asked of the operating system: there is no `/proc` check, which
//! could not see a process on another host. On SQLite every claimant runs
//! on the same machine, and the same columns and statements apply.

use std::sync::OnceLock;
use std::time::Duration;

/// This process's identity: `host:pid:nonce`, the nonce drawn at start, so
/// that a reused pid, or the same pid on another host, is another owner.
pub fn this_process() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let nonce: u64 = rand::random();
        format!("{host}:{}:{nonce:016x}", std::process::id())
    })
}

/// How often a lease of length `lease` is renewed: a third of it, so two
/// renewals can be late before the claim lapses.
pub fn renew_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// A spawned task (a lease's renewal) that stops when this is dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

/// Renews a lease of length `lease` every third of it (the first renewal
/// a third of a lease from now) until the returned guard is dropped:
/// `renew` is handed the instant the lease now runs until and answers
/// whether the claimant still holds it; once it does not, renewing stops.
/// A renewal that fails (the database) is the caller's to log, and the
/// next one is tried all the same.
pub fn keep_renewing<F, Fut>(lease: Duration, mut renew: F) -> AbortOnDrop
where
    F: FnMut(chrono::DateTime<chrono::Utc>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    AbortOnDrop(tokio::spawn(async move {
        let mut every = tokio::time::interval(renew_every(lease));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if !renew(chrono::Utc::now() + span(lease)).await {
                return;
            }
        }
    }))
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A lease's length as a span of wall-clock time.
pub fn span(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_names_the_host_and_pid_and_is_stable_within_the_process() {
        let me = this_process();
        assert_eq!(me, this_process());
        let parts: Vec<&str> = me.rsplitn(3, ':').collect();
        assert_eq!(parts.len(), 3, "{me}");
        assert_eq!(parts[1], std::process::id().to_string());
        assert_eq!(parts[0].len(), 16, "{me}");
        assert!(!parts[2].is_empty(), "{me}");
        assert_eq!(
            renew_every(Duration::from_secs(60)),
            Duration::from_secs(20)
        );
    }
}
