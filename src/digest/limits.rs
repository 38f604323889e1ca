//! Sending controls: a global pace (messages per second, waited for) and
//! per-recipient-domain budgets (messages per minute and per hour, e.g. for
//! gmail.com). A digest whose domain has no budget left is deferred to a
//! later run, never failed or dropped. Time is passed in, so the buckets are
//! tested without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::settings::DomainLimit;

/// A token bucket: holds up to `capacity` tokens, refilled continuously at
/// `capacity / period`; starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, period: Duration, now: Instant) -> TokenBucket {
        let capacity = f64::from(capacity.max(1));
        TokenBucket {
            capacity,
            per_second: capacity / period.as_secs_f64().max(1e-9),
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = self.at.max(now);
    }

    /// Removes `n` tokens spent elsewhere (e.g. by an earlier run).
    pub fn spend(&mut self, n: u32, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - f64::from(n)).max(0.0);
    }

    /// How long until one token is available (zero if one is now).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Takes a token if one is available now.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.wait(now).is_zero() {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token now, going into debt if there is none: returns how long
    /// the caller must wait before using it. Concurrent callers are spaced
    /// out at the refill rate.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

/// A domain's minute and hour buckets.
#[derive(Debug, Clone)]
struct DomainBudget {
    minute: Option<TokenBucket>,
    hour: Option<TokenBucket>,
}

/// The answer for one message to a rate-limited domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Send it now (a token was taken).
    Send,
    /// The domain's budget is spent; try again after this long.
    DeferFor(Duration),
}

/// Every limit of a run: the global pace and the per-domain budgets.
#[derive(Debug, Clone, Default)]
pub struct SendLimits {
    pace: Option<TokenBucket>,
    domains: HashMap<String, DomainBudget>,
}

impl SendLimits {
    /// `max_per_second` 0 means no global pace.
    pub fn new(max_per_second: u32, domains: &[DomainLimit], now: Instant) -> SendLimits {
        let pace = (max_per_second > 0)
            .then(|| TokenBucket::new(max_per_second, Duration::from_secs(1), now));
        let domains = domains
            .iter()
            .map(|d| {
                (
                    d.domain.trim().to_ascii_lowercase(),
                    DomainBudget {
                        minute: d
                            .per_minute
                            .map(|n| TokenBucket::new(n, Duration::from_secs(60), now)),
                        hour: d
                            .per_hour
                            .map(|n| TokenBucket::new(n, Duration::from_secs(3600), now)),
                    },
                )
            })
            .collect();
        SendLimits { pace, domains }
    }

    /// The configured domains, lower-case.
    pub fn limited_domains(&self) -> impl Iterator<Item = &str> {
        self.domains.keys().map(String::as_str)
    }

    /// Counts `minute` and `hour` messages already sent to `domain` in the
    /// last minute and hour against its budget.
    pub fn already_sent(&mut self, domain: &str, minute: u32, hour: u32, now: Instant) {
        if let Some(b) = self.domains.get_mut(domain) {
            if let Some(m) = &mut b.minute {
                m.spend(minute, now);
            }
            if let Some(h) = &mut b.hour {
                h.spend(hour, now);
            }
        }
    }

    /// Whether a message to `address` may go now; takes from its domain's
    /// budget when it may. Domains without a limit always may.
    pub fn admit(&mut self, address: &str, now: Instant) -> Budget {
        let Some(b) = self.domains.get_mut(&domain_of(address)) else {
            return Budget::Send;
        };
        let wait = [&mut b.minute, &mut b.hour]
            .into_iter()
            .flatten()
            .map(|bucket| bucket.wait(now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Budget::DeferFor(wait);
        }
        for bucket in [&mut b.minute, &mut b.hour].into_iter().flatten() {
            bucket.try_take(now);
        }
        Budget::Send
    }

    /// How long to wait before the next message under the global pace.
    pub fn pace(&mut self, now: Instant) -> Duration {
        match &mut self.pace {
            Some(bucket) => bucket.reserve(now),
            None => Duration::ZERO,
        }
    }
}

/// The lower-case domain of an address (`""` if there is no `@`).
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_bucket_gives_its_capacity_at_once_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, secs(60.0), t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        // One token every 20 s.
        assert_eq!(b.wait(t0).as_secs(), 20);
        assert!(!b.try_take(t0 + secs(19.0)));
        assert!(b.try_take(t0 + secs(20.0)));
        // A long pause refills to the capacity, not beyond it.
        let later = t0 + secs(3600.0);
        assert!(b.try_take(later) && b.try_take(later) && b.try_take(later));
        assert!(!b.try_take(later));
    }

    #[test]
    fn reserving_spaces_concurrent_senders_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, secs(1.0), t0);
        let waits: Vec<Duration> = (0..12).map(|_| b.reserve(t0)).collect();
        assert!(waits[..10].iter().all(|w| w.is_zero()));
        assert_eq!(waits[10].as_millis(), 100);
        assert_eq!(waits[11].as_millis(), 200);
    }

    #[test]
    fn a_domain_gets_at_most_its_minute_budget_and_other_domains_are_unaffected() {
        let t0 = Instant::now();
        let limit = DomainLimit {
            domain: "Gmail.com".into(),
            per_minute: Some(5),
            per_hour: Some(7),
        };
        let mut l = SendLimits::new(0, &[limit], t0);
        let sent = (0..20)
            .filter(|i| l.admit(&format!("r{i}@gmail.com"), t0) == Budget::Send)
            .count();
        assert_eq!(sent, 5);
        assert!(matches!(
            l.admit("x@GMAIL.COM", t0),
            Budget::DeferFor(d) if d.as_secs() == 12
        ));
        assert_eq!(l.admit("x@example.org", t0), Budget::Send);
        // A minute later the minute budget is back but the hour has 2 left.
        let t1 = t0 + secs(60.0);
        let sent = (0..20)
            .filter(|i| l.admit(&format!("r{i}@gmail.com"), t1) == Budget::Send)
            .count();
        assert_eq!(sent, 2);
    }

    #[test]
    fn messages_sent_by_an_earlier_run_count_against_the_budget() {
        let t0 = Instant::now();
        let limit = DomainLimit {
            domain: "gmail.com".into(),
            per_minute: None,
            per_hour: Some(10),
        };
        let mut l = SendLimits::new(0, &[limit], t0);
        l.already_sent("gmail.com", 0, 8, t0);
        let sent = (0..5)
            .filter(|_| l.admit("a@gmail.com", t0) == Budget::Send)
            .count();
        assert_eq!(sent, 2);
    }

    #[test]
    fn the_global_pace_is_off_at_zero() {
        let t0 = Instant::now();
        let mut l = SendLimits::new(0, &[], t0);
        assert!((0..1000).all(|_| l.pace(t0).is_zero()));
        let mut l = SendLimits::new(2, &[], t0);
        assert!(l.pace(t0).is_zero() && l.pace(t0).is_zero());
        assert_eq!(l.pace(t0).as_millis(), 500);
    }

    #[test]
    fn bad_domain_limits_are_refused_by_name() {
        let bad = |domain: &str, m, h| {
            DomainLimit {
                domain: domain.into(),
                per_minute: m,
                per_hour: h,
            }
            .validate()
            .unwrap_err()
        };
        assert!(bad("a@gmail.com", Some(1), None).contains("bare domain"));
        assert!(bad("gmail.com", Some(0), None).contains("at least 1"));
        assert!(bad("gmail.com", None, None).contains("per_minute, per_hour"));
    }
}
