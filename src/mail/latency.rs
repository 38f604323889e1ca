//! SMTP latency: a Prometheus-style histogram of how long each SMTP
//! transaction (connect or reuse, MAIL, RCPT, DATA) took, by outcome.
//!
//! It lives in the process that sends (the daemon's digest and retry jobs),
//! so `/metrics` shows the daemon's sends since it started; a hand-run
//! `paperboy digest` has its own, and its outcomes reach `/metrics` through
//! the database instead. Lock-free: sends record concurrently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How one SMTP transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Ok,
    Transient,
    Permanent,
}

impl SendOutcome {
    const ALL: [SendOutcome; 3] = [
        SendOutcome::Ok,
        SendOutcome::Transient,
        SendOutcome::Permanent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SendOutcome::Ok => "ok",
            SendOutcome::Transient => "transient",
            SendOutcome::Permanent => "permanent",
        }
    }
}

#[derive(Default)]
struct Series {
    /// Per bucket (not cumulative); the last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The histogram; shared by every clone of a mailer.
#[derive(Default)]
pub struct SendLatency {
    series: [Series; 3],
}

/// One outcome's series, read at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySeries {
    pub outcome: &'static str,
    /// Cumulative counts per bucket of [`BUCKETS`], then +Inf.
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl SendLatency {
    pub fn record(&self, outcome: SendOutcome, took: Duration) {
        let series = &self.series[outcome as usize];
        let secs = took.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        series.buckets[slot].fetch_add(1, Ordering::Relaxed);
        series.count.fetch_add(1, Ordering::Relaxed);
        series.sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Every outcome's series, including empty ones (so the families exist
    /// from the first scrape).
    pub fn snapshot(&self) -> Vec<LatencySeries> {
        SendOutcome::ALL
            .iter()
            .map(|&outcome| {
                let s = &self.series[outcome as usize];
                let mut running = 0;
                let cumulative = s
                    .buckets
                    .iter()
                    .map(|b| {
                        running += b.load(Ordering::Relaxed);
                        running
                    })
                    .collect();
                LatencySeries {
                    outcome: outcome.as_str(),
                    cumulative,
                    count: s.count.load(Ordering::Relaxed),
                    sum_seconds: s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_lands_in_its_bucket_and_every_larger_one() {
        let h = SendLatency::default();
        h.record(SendOutcome::Ok, Duration::from_millis(30));
        h.record(SendOutcome::Ok, Duration::from_secs(60));
        h.record(SendOutcome::Transient, Duration::from_millis(1));
        let snap = h.snapshot();
        let ok = &snap[0];
        assert_eq!(ok.outcome, "ok");
        assert_eq!(ok.count, 2);
        // 0.03 s is above 0.025 and within 0.05 (index 3).
        assert_eq!(&ok.cumulative[..5], &[0, 0, 0, 1, 1]);
        assert_eq!(ok.cumulative[BUCKETS.len() - 1], 1, "60 s is above 30 s");
        assert_eq!(ok.cumulative[BUCKETS.len()], 2, "+Inf holds all");
        assert!((ok.sum_seconds - 60.03).abs() < 1e-6);
        assert_eq!(snap[1].cumulative[0], 1);
        assert_eq!(snap[2].count, 0);
    }
}
