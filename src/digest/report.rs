//! What a digest run did: counted as it goes, logged at the end, printed by
//! `paperboy digest` and recorded with the run.

/// What a run did; also what it logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestReport {
    pub papers: usize,
    pub subscribers: usize,
    pub matched: usize,
    pub sent: usize,
    /// Left for a later run: a temporary failure, or (counted in
    /// `throttled` too) a recipient domain's sending budget spent.
    pub deferred: usize,
    /// Deferred only because a `[[digest.domain_limits]]` budget was spent:
    /// the limits doing their job, not a problem.
    pub throttled: usize,
    pub failed: usize,
    /// Digests for this date that an earlier run already finished.
    pub already_done: usize,
    /// Dry run only: who would get which papers.
    pub plans: Vec<PlannedDigest>,
}

impl DigestReport {
    /// Adds the sends of `more` (sent, deferred, throttled, failed), as
    /// when a run retries unfinished digests after its own.
    pub fn add_sends(&mut self, more: &DigestReport) {
        self.sent += more.sent;
        self.deferred += more.deferred;
        self.throttled += more.throttled;
        self.failed += more.failed;
    }

    /// Whether anything was left for later or failed, beyond the digests
    /// held for a domain's sending budget.
    pub fn needs_attention(&self) -> bool {
        self.failed > 0 || self.deferred > self.throttled
    }
}

/// Dry run: one subscriber's digest as it would go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDigest {
    pub email: String,
    pub papers: Vec<DryRunPaper>,
    /// Matched papers the cap leaves out.
    pub more: usize,
}

/// Dry run: one paper of a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunPaper {
    pub id: String,
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_and_retries_need_attention_not_digests_held_by_a_budget() {
        let held = DigestReport {
            sent: 3,
            deferred: 2,
            throttled: 2,
            ..Default::default()
        };
        assert!(!held.needs_attention());
        let retried = DigestReport {
            deferred: 3,
            throttled: 2,
            ..Default::default()
        };
        assert!(retried.needs_attention());
        let failed = DigestReport {
            failed: 1,
            ..Default::default()
        };
        assert!(failed.needs_attention());
        let mut total = held.clone();
        total.add_sends(&failed);
        assert_eq!(
            (total.sent, total.deferred, total.throttled, total.failed),
            (3, 2, 2, 1)
        );
    }
}
