//! When a digest that failed for now is tried again, and when paperboy
//! stops trying: a backoff that doubles from ten minutes up to five hours
//! and twenty minutes, within a horizon counted from the digest's
//! reservation. Pure, so the policy is tested without a clock.

use chrono::{DateTime, Duration, Utc};

/// The retry policy of transient failures (4xx, refused, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `[digest] retry_horizon_hours`: how long after its reservation a
    /// digest is still retried.
    horizon: Duration,
}

/// What to do with a digest that just failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again from this instant.
    At(DateTime<Utc>),
    /// Past the horizon: record it as failed.
    GiveUp,
}

impl RetryPolicy {
    pub fn new(horizon: Duration) -> RetryPolicy {
        RetryPolicy { horizon }
    }

    /// For a digest reserved at `reserved_at` that had been tried
    /// `attempts` times before this failure at `now`.
    pub fn after_transient(
        &self,
        reserved_at: DateTime<Utc>,
        attempts: i64,
        now: DateTime<Utc>,
    ) -> Retry {
        if now - reserved_at > self.horizon {
            return Retry::GiveUp;
        }
        let attempts = attempts + 1;
        Retry::At(now + Duration::minutes(5 * (1i64 << attempts.clamp(0, 6))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_wait_doubles_from_ten_minutes_and_stops_growing() {
        let policy = RetryPolicy::new(Duration::hours(24));
        let reserved = at("2026-06-12T07:00:00Z");
        let now = at("2026-06-12T08:00:00Z");
        let waits: Vec<i64> = (0..9)
            .map(
                |attempts| match policy.after_transient(reserved, attempts, now) {
                    Retry::At(t) => (t - now).num_minutes(),
                    Retry::GiveUp => -1,
                },
            )
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 320, 320, 320]);
    }

    #[test]
    fn a_digest_past_the_horizon_is_given_up() {
        let policy = RetryPolicy::new(Duration::hours(24));
        let reserved = at("2026-06-12T07:00:00Z");
        assert!(matches!(
            policy.after_transient(reserved, 3, at("2026-06-13T07:00:00Z")),
            Retry::At(_)
        ));
        assert_eq!(
            policy.after_transient(reserved, 3, at("2026-06-13T07:00:01Z")),
            Retry::GiveUp
        );
    }
}
