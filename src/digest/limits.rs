//! Sending controls: a global pace (messages per second, waited for) and
//! per-recipient-domain budgets (messages per minute and per hour, e.g. for
//! gmail.com). A digest whose domain has no budget left is deferred to a
//! later run, never failed or dropped.
//!
//! The budgets are token buckets kept in the database (the store's
//! `take_budgets` and `reserve_pace`), not in memory: every run, in this
//! daemon or in any other sharing the database, draws from the same
//! buckets, so N daemons never send N times a budget, and a later run
//! starts from what earlier ones left.

use std::collections::HashMap;
use std::time::Duration;

use crate::settings::DomainLimit;
use crate::store::BucketSpec;

/// The buckets the settings name: the global pace and each limited
/// domain's minute and hour budgets. A bucket's scope names its capacity,
/// so a limit the operator changes starts as a new, full bucket.
#[derive(Debug, Clone, Default)]
pub struct SendLimits {
    pace: Option<BucketSpec>,
    domains: HashMap<String, Vec<BucketSpec>>,
}

impl SendLimits {
    /// `max_per_second` 0 means no global pace.
    pub fn new(max_per_second: u32, domains: &[DomainLimit]) -> SendLimits {
        let pace = (max_per_second > 0).then(|| BucketSpec {
            scope: format!("pace:{max_per_second}"),
            capacity: max_per_second,
            period: Duration::from_secs(1),
        });
        let domains = domains
            .iter()
            .map(|d| {
                let domain = d.domain.trim().to_ascii_lowercase();
                let mut specs = Vec::new();
                if let Some(n) = d.per_minute {
                    specs.push(BucketSpec {
                        scope: format!("minute:{domain}:{n}"),
                        capacity: n,
                        period: Duration::from_secs(60),
                    });
                }
                if let Some(n) = d.per_hour {
                    specs.push(BucketSpec {
                        scope: format!("hour:{domain}:{n}"),
                        capacity: n,
                        period: Duration::from_secs(3600),
                    });
                }
                (domain, specs)
            })
            .filter(|(_, specs)| !specs.is_empty())
            .collect();
        SendLimits { pace, domains }
    }

    /// The budgets of `address`'s domain, when it has any.
    pub fn domain_budget(&self, address: &str) -> Option<(String, &[BucketSpec])> {
        let domain = domain_of(address);
        let specs = self.domains.get(&domain)?;
        Some((domain, specs))
    }

    /// The global pace, when `max_per_second` is set.
    pub fn pace(&self) -> Option<&BucketSpec> {
        self.pace.as_ref()
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

    #[test]
    fn each_limited_domain_gets_its_buckets_and_the_pace_is_off_at_zero() {
        let limit = DomainLimit {
            domain: "Gmail.com".into(),
            per_minute: Some(5),
            per_hour: Some(7),
        };
        let l = SendLimits::new(0, &[limit]);
        assert!(l.pace().is_none());
        let (domain, specs) = l.domain_budget("x@GMAIL.COM").unwrap();
        assert_eq!(domain, "gmail.com");
        let scopes: Vec<&str> = specs.iter().map(|s| s.scope.as_str()).collect();
        assert_eq!(scopes, ["minute:gmail.com:5", "hour:gmail.com:7"]);
        assert!(l.domain_budget("x@example.org").is_none());
        let l = SendLimits::new(2, &[]);
        assert_eq!(l.pace().map(|p| p.capacity), Some(2));
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
