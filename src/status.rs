//! `paperboy status`: what an operator at a terminal wants to know — the
//! last fetch and digest runs with their outcome, subscribers by status and
//! today's deliveries and bounces. The same facts as `GET /healthz`, and the
//! same rule for "unhealthy": the last fetch or digest run failed.

use std::fmt;

use chrono::NaiveDate;

use crate::store::{BounceCounts, DbResult, DeliveryStatus, Run, RunKind, Store, SubscriberStatus};

/// A snapshot read from the store.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub last_fetch: Option<Run>,
    pub last_digest: Option<Run>,
    pub subscribers: Vec<(SubscriberStatus, i64)>,
    pub today: NaiveDate,
    pub deliveries: Vec<(DeliveryStatus, i64)>,
    /// Bounces recorded on `today` (SMTP latency is only on the daemon's
    /// `/metrics`: it is measured in the process that sends).
    pub bounces: BounceCounts,
}

impl StatusReport {
    /// Reads the report; `today` is the digest day in the schedule's timezone.
    pub async fn gather(store: &Store, today: NaiveDate) -> DbResult<StatusReport> {
        Ok(StatusReport {
            last_fetch: store.last_run(RunKind::Fetch).await?,
            last_digest: store.last_run(RunKind::Digest).await?,
            subscribers: store.subscriber_counts().await?,
            today,
            deliveries: store.delivery_counts(today).await?,
            bounces: store.bounce_counts(today).await?,
        })
    }

    /// The kinds of run whose last run failed; empty when healthy.
    pub fn failed_runs(&self) -> Vec<&'static str> {
        let failed = |r: &Option<Run>| {
            r.as_ref()
                .is_some_and(|r| r.outcome.as_deref() == Some("failed"))
        };
        let mut out = Vec::new();
        if failed(&self.last_fetch) {
            out.push("fetch");
        }
        if failed(&self.last_digest) {
            out.push("digest");
        }
        out
    }
}

fn run_line(f: &mut fmt::Formatter<'_>, label: &str, run: &Option<Run>) -> fmt::Result {
    match run {
        None => writeln!(f, "{label}: never"),
        Some(r) => {
            let outcome = match (&r.outcome, r.finished_at) {
                (Some(o), _) => o.as_str(),
                (None, None) => "running (or interrupted)",
                (None, Some(_)) => "unknown",
            };
            write!(
                f,
                "{label}: {} for {}, started {}",
                outcome,
                r.target_date,
                r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
            )?;
            if let Some(done) = r.finished_at {
                write!(
                    f,
                    ", took {}s",
                    (done - r.started_at).num_milliseconds().max(0) as f64 / 1000.0
                )?;
            }
            match r.summary.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => writeln!(f, " ({s})"),
                None => writeln!(f),
            }
        }
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        run_line(f, "last fetch", &self.last_fetch)?;
        run_line(f, "last digest", &self.last_digest)?;
        let count = |s: SubscriberStatus| {
            self.subscribers
                .iter()
                .find(|(k, _)| *k == s)
                .map_or(0, |(_, n)| *n)
        };
        writeln!(
            f,
            "subscribers: {} active, {} pending, {} unsubscribed, {} suspended",
            count(SubscriberStatus::Active),
            count(SubscriberStatus::Pending),
            count(SubscriberStatus::Unsubscribed),
            count(SubscriberStatus::Suspended),
        )?;
        let n = |s: DeliveryStatus| {
            self.deliveries
                .iter()
                .find(|(k, _)| *k == s)
                .map_or(0, |(_, n)| *n)
        };
        writeln!(
            f,
            "deliveries for {}: {} sent, {} deferred, {} failed, {} in flight, {} pending",
            self.today,
            n(DeliveryStatus::Sent),
            n(DeliveryStatus::Deferred),
            n(DeliveryStatus::Failed),
            n(DeliveryStatus::Sending),
            n(DeliveryStatus::Pending),
        )?;
        writeln!(
            f,
            "bounces on {}: {} hard (5xx), {} soft (4xx)",
            self.today, self.bounces.hard, self.bounces.soft
        )?;
        let failed = self.failed_runs();
        if failed.is_empty() {
            write!(f, "status: ok")
        } else {
            write!(
                f,
                "status: unhealthy (last {} failed)",
                failed.join(" and ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[tokio::test]
    async fn a_failed_last_run_makes_the_status_unhealthy_and_says_which() {
        let (store, _dir) = crate::store::test_store().await;
        let day: NaiveDate = "2026-06-12".parse().unwrap();
        let report = StatusReport::gather(&store, day).await.unwrap();
        assert!(report.failed_runs().is_empty());
        let text = report.to_string();
        assert!(text.contains("last fetch: never"), "{text}");
        assert!(
            text.contains("bounces on 2026-06-12: 0 hard (5xx), 0 soft (4xx)"),
            "{text}"
        );
        assert!(text.ends_with("status: ok"), "{text}");

        let run = store
            .start_run(RunKind::Digest, day, Utc::now())
            .await
            .unwrap();
        store
            .finish_run(run, "failed", "SMTP relay unreachable", Utc::now())
            .await
            .unwrap();
        let report = StatusReport::gather(&store, day).await.unwrap();
        assert_eq!(report.failed_runs(), vec!["digest"]);
        let text = report.to_string();
        assert!(
            text.contains("last digest: failed for 2026-06-12"),
            "{text}"
        );
        assert!(text.contains("(SMTP relay unreachable)"), "{text}");
        assert!(
            text.ends_with("status: unhealthy (last digest failed)"),
            "{text}"
        );

        let run = store
            .start_run(RunKind::Digest, day, Utc::now())
            .await
            .unwrap();
        store
            .finish_run(run, "ok", "3 sent", Utc::now())
            .await
            .unwrap();
        let report = StatusReport::gather(&store, day).await.unwrap();
        assert!(report.failed_runs().is_empty(), "a later good run heals");
    }
}
