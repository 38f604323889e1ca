//! `paperboy status`: what an operator at a terminal wants to know — the
//! last fetch, digest and retention runs with their outcome, subscribers by status and
//! today's deliveries and bounces. The same facts as `GET /healthz`, and the
//! same rules: "unhealthy" when the last fetch or digest run failed (a
//! digest run that delivered nothing of what it had to send fails),
//! "degraded" when the last digest run deferred or failed some digests.
//!
//! SMTP latency is measured in memory by the daemon that sends, so status
//! reads it from the daemon's `/metrics` (when `[metrics] listen` is set)
//! rather than from the database.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use chrono::NaiveDate;

use crate::domain::SubscriberStatus;
use crate::mail::{parse_latency, LatencySeries, LATENCY_BUCKETS as BUCKETS};
use crate::store::{
    BounceCounts, DailyInbound, DbResult, DeliveryStatus, InboundCounts, Run, RunKind, Store,
};

/// A snapshot read from the store.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub last_fetch: Option<Run>,
    pub last_digest: Option<Run>,
    /// The last retention run: what it removed, as counts.
    pub last_retention: Option<Run>,
    pub subscribers: Vec<(SubscriberStatus, i64)>,
    pub today: NaiveDate,
    pub deliveries: Vec<(DeliveryStatus, i64)>,
    /// Bounces recorded on `today` (SMTP latency is only on the daemon's
    /// `/metrics`: it is measured in the process that sends).
    pub bounces: BounceCounts,
    /// Bounces and complaints that arrived later (by mail or webhook) in
    /// the last [`LATE_DAYS`] days, and the digests sent in them.
    pub late: InboundCounts,
    /// The same per UTC day, for the last [`LATE_DAYS`] days, newest first:
    /// providers judge a sender's rates day by day.
    pub late_days: Vec<DailyInbound>,
    /// The daemon's SMTP latency histogram, scraped from its `/metrics`.
    pub smtp_latency: DaemonLatency,
}

/// The period the late bounce and complaint rates are counted over.
pub const LATE_DAYS: i64 = 7;

/// The complaint rate mailbox providers ask senders to stay under, and the
/// one past which they refuse or junk their mail (Gmail's and Yahoo's
/// sender rules), as fractions.
pub const COMPLAINT_RATE_AIM: f64 = 0.001;
pub const COMPLAINT_RATE_LIMIT: f64 = 0.003;

/// The hard bounce rate at which Amazon SES puts a sending account under
/// review (it pauses it at 10 %), as a fraction; other services draw
/// their line near it.
pub const HARD_BOUNCE_RATE_LIMIT: f64 = 0.05;

/// `part` of `whole` as a fraction (0 when nothing was sent).
pub fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Where a complaint rate stands against the providers' lines.
pub fn complaint_verdict(rate: f64) -> &'static str {
    if rate >= COMPLAINT_RATE_LIMIT {
        "ABOVE the 0.3 % providers enforce"
    } else if rate >= COMPLAINT_RATE_AIM {
        "above the 0.1 % aim, under the 0.3 % limit"
    } else {
        "under the 0.1 % aim"
    }
}

/// One day's late hard bounce and complaint rates against the providers'
/// lines: `None` when no digest was sent that day (no rate to judge).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyRates {
    pub hard: Option<f64>,
    pub complaints: Option<f64>,
}

impl DailyRates {
    pub fn of(counts: &InboundCounts) -> DailyRates {
        let of = |n: i64| (counts.digests_sent > 0).then(|| rate(n, counts.digests_sent));
        DailyRates {
            hard: of(counts.hard),
            complaints: of(counts.complaints),
        }
    }

    /// Whether the complaint rate reached the providers' limit.
    pub fn complaints_over_limit(&self) -> bool {
        self.complaints.is_some_and(|r| r >= COMPLAINT_RATE_LIMIT)
    }

    /// Whether the hard bounce rate reached [`HARD_BOUNCE_RATE_LIMIT`].
    pub fn hard_over_limit(&self) -> bool {
        self.hard.is_some_and(|r| r >= HARD_BOUNCE_RATE_LIMIT)
    }
}

/// One line of the per-day rates: the day, what was sent, what came back,
/// and a verdict; a day past a provider's limit starts with `!` and says
/// so in capitals.
fn daily_line(f: &mut fmt::Formatter<'_>, d: &DailyInbound) -> fmt::Result {
    let c = &d.counts;
    let r = DailyRates::of(c);
    let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{:.2} %", x * 100.0));
    let mut verdict = Vec::new();
    if r.complaints_over_limit() {
        verdict.push("COMPLAINTS ABOVE THE 0.3 % LIMIT");
    } else if r.complaints.is_some_and(|x| x >= COMPLAINT_RATE_AIM) {
        verdict.push("complaints above the 0.1 % aim");
    }
    if r.hard_over_limit() {
        verdict.push("HARD BOUNCES ABOVE THE 5 % LIMIT");
    }
    if verdict.is_empty() {
        verdict.push(if c.digests_sent == 0 && c.hard + c.complaints > 0 {
            "no digest sent that day"
        } else {
            "ok"
        });
    }
    let mark = if r.complaints_over_limit() || r.hard_over_limit() {
        '!'
    } else {
        ' '
    };
    writeln!(
        f,
        "{mark} {}: {} digests sent, {} hard bounces ({}), {} complaints ({}): {}",
        d.day,
        c.digests_sent,
        c.hard,
        pct(r.hard),
        c.complaints,
        pct(r.complaints),
        verdict.join(", "),
    )
}

/// What status could learn about SMTP latency from the running daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonLatency {
    /// `[metrics] listen` is not set, so there is nowhere to ask.
    NotConfigured,
    /// The metrics listener did not answer (daemon stopped, or elsewhere).
    Unreachable(String),
    /// The histogram per outcome, since the daemon started.
    Series(Vec<LatencySeries>),
}

/// Reads the daemon's SMTP latency from its metrics listener. A wildcard
/// listen address is asked on loopback.
pub async fn scrape_latency(listen: Option<SocketAddr>) -> DaemonLatency {
    let Some(mut addr) = listen else {
        return DaemonLatency::NotConfigured;
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let url = format!("http://{addr}/metrics");
    let client = match crate::sources::client_builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(e) => return DaemonLatency::Unreachable(e.to_string()),
    };
    let text = async {
        client
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    }
    .await;
    match text {
        Ok(text) => DaemonLatency::Series(parse_latency(&text)),
        Err(e) => DaemonLatency::Unreachable(format!("{url}: {e}")),
    }
}

/// The upper bound of the bucket holding quantile `q`, in seconds
/// (`None` past the last finite bucket or with no samples).
fn quantile_bound(s: &LatencySeries, q: f64) -> Option<f64> {
    if s.count == 0 {
        return None;
    }
    let rank = (q * s.count as f64).ceil() as u64;
    let slot = s.cumulative.iter().position(|&c| c >= rank.max(1))?;
    BUCKETS.get(slot).copied()
}

fn latency_line(f: &mut fmt::Formatter<'_>, latency: &DaemonLatency) -> fmt::Result {
    match latency {
        DaemonLatency::NotConfigured => writeln!(
            f,
            "smtp latency: measured by the daemon; set [metrics] listen to read it here"
        ),
        DaemonLatency::Unreachable(why) => {
            writeln!(f, "smtp latency: daemon metrics not reachable ({why})")
        }
        DaemonLatency::Series(series) => {
            write!(f, "smtp latency (daemon, since it started):")?;
            for (i, s) in series.iter().enumerate() {
                let sep = if i == 0 { " " } else { "; " };
                write!(f, "{sep}{} {}", s.count, s.outcome)?;
                if s.count > 0 {
                    let bound = |q| {
                        quantile_bound(s, q)
                            .map_or_else(|| "> 30 s".to_string(), |b| format!("<= {b} s"))
                    };
                    write!(
                        f,
                        " (mean {:.0} ms, p50 {}, p95 {})",
                        s.sum_seconds * 1000.0 / s.count as f64,
                        bound(0.5),
                        bound(0.95)
                    )?;
                }
            }
            writeln!(f)
        }
    }
}

impl StatusReport {
    /// Reads the report; `today` is the digest day in the schedule's timezone.
    pub async fn gather(store: &Store, today: NaiveDate) -> DbResult<StatusReport> {
        Ok(StatusReport {
            last_fetch: store.last_run(RunKind::Fetch).await?,
            last_digest: store.last_run(RunKind::Digest).await?,
            last_retention: store.last_run(RunKind::Retention).await?,
            subscribers: store.subscriber_counts().await?,
            today,
            deliveries: store.delivery_counts(today).await?,
            bounces: store.bounce_counts(today).await?,
            late: store
                .inbound_counts(chrono::Utc::now() - chrono::Duration::days(LATE_DAYS))
                .await?,
            late_days: store
                .inbound_counts_per_day(chrono::Utc::now().date_naive(), LATE_DAYS as u32)
                .await?,
            smtp_latency: DaemonLatency::NotConfigured,
        })
    }

    /// The kinds of run whose last run was `degraded`: it delivered, but
    /// deferred or failed some digests.
    pub fn degraded_runs(&self) -> Vec<&'static str> {
        let degraded = |r: &Option<Run>| {
            r.as_ref()
                .is_some_and(|r| r.outcome.as_deref() == Some("degraded"))
        };
        let mut out = Vec::new();
        if degraded(&self.last_fetch) {
            out.push("fetch");
        }
        if degraded(&self.last_digest) {
            out.push("digest");
        }
        out
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
        run_line(f, "last retention", &self.last_retention)?;
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
        let late = &self.late;
        let complaints = rate(late.complaints, late.digests_sent);
        writeln!(
            f,
            "late bounces and complaints, last {LATE_DAYS} days: {} hard, {} soft, {} complaints, {} unsubscribe requests, {} unmatched; {} digests sent: hard bounce rate {:.2} %, complaint rate {:.2} % ({})",
            late.hard,
            late.soft,
            late.complaints,
            late.unsubscribe_requests,
            late.unmatched,
            late.digests_sent,
            rate(late.hard, late.digests_sent) * 100.0,
            complaints * 100.0,
            complaint_verdict(complaints),
        )?;
        if !self.late_days.is_empty() {
            writeln!(
                f,
                "late rates per day (UTC; reports received that day per digest sent that day; complaints: aim under 0.1 %, limit 0.3 %; hard bounces: limit 5 %):"
            )?;
            for day in &self.late_days {
                daily_line(f, day)?;
            }
        }
        latency_line(f, &self.smtp_latency)?;
        let failed = self.failed_runs();
        let degraded = self.degraded_runs();
        if failed.is_empty() && degraded.is_empty() {
            write!(f, "status: ok")
        } else if failed.is_empty() {
            write!(
                f,
                "status: degraded (last {} deferred or failed digests)",
                degraded.join(" and ")
            )
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

    /// The status line for `latency`, without the newline.
    fn to_line(latency: &DaemonLatency) -> String {
        struct Line<'a>(&'a DaemonLatency);
        impl fmt::Display for Line<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                latency_line(f, self.0)
            }
        }
        Line(latency).to_string().trim_end().to_string()
    }
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

        let run = store
            .start_run(RunKind::Digest, day, Utc::now())
            .await
            .unwrap();
        store
            .finish_run(
                run,
                "degraded",
                "1000 sent, 0 deferred, 1000 failed; most frequent reply (1000): 552 5.3.4 Message file too big",
                Utc::now(),
            )
            .await
            .unwrap();
        let report = StatusReport::gather(&store, day).await.unwrap();
        assert!(report.failed_runs().is_empty());
        assert_eq!(report.degraded_runs(), vec!["digest"]);
        let text = report.to_string();
        assert!(text.contains("552 5.3.4 Message file too big"), "{text}");
        assert!(
            text.ends_with("status: degraded (last digest deferred or failed digests)"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn status_shows_each_days_rates_and_flags_a_day_past_a_providers_limit() {
        let (store, _dir) = crate::store::test_store().await;
        let day: NaiveDate = "2026-06-12".parse().unwrap();
        let mut report = StatusReport::gather(&store, day).await.unwrap();
        assert_eq!(report.late_days.len(), LATE_DAYS as usize);
        let on = |d: u32, digests_sent, hard, complaints| DailyInbound {
            day: NaiveDate::from_ymd_opt(2026, 6, d).unwrap(),
            counts: InboundCounts {
                hard,
                complaints,
                digests_sent,
                ..Default::default()
            },
        };
        report.late_days = vec![
            on(12, 2000, 1, 1),
            on(11, 2000, 0, 4),
            on(10, 1000, 3, 7),
            on(9, 100, 6, 0),
            on(8, 0, 0, 1),
            on(7, 0, 0, 0),
        ];
        let text = report.to_string();
        let line = |d: &str| {
            text.lines()
                .find(|l| l[1..].starts_with(&format!(" {d}:")))
                .unwrap_or_else(|| panic!("no line for {d} in\n{text}"))
        };
        assert_eq!(
            line("2026-06-12"),
            "  2026-06-12: 2000 digests sent, 1 hard bounces (0.05 %), 1 complaints (0.05 %): ok"
        );
        assert_eq!(
            line("2026-06-11"),
            "  2026-06-11: 2000 digests sent, 0 hard bounces (0.00 %), 4 complaints (0.20 %): complaints above the 0.1 % aim"
        );
        assert_eq!(
            line("2026-06-10"),
            "! 2026-06-10: 1000 digests sent, 3 hard bounces (0.30 %), 7 complaints (0.70 %): COMPLAINTS ABOVE THE 0.3 % LIMIT"
        );
        assert_eq!(
            line("2026-06-09"),
            "! 2026-06-09: 100 digests sent, 6 hard bounces (6.00 %), 0 complaints (0.00 %): HARD BOUNCES ABOVE THE 5 % LIMIT"
        );
        assert!(line("2026-06-08").ends_with("1 complaints (n/a): no digest sent that day"));
        assert!(line("2026-06-07").ends_with("(n/a): ok"));
        // Exactly at the limit is past it.
        assert!(DailyRates::of(&on(1, 1000, 0, 3).counts).complaints_over_limit());
        assert!(!DailyRates::of(&on(1, 1001, 0, 3).counts).complaints_over_limit());
    }

    #[test]
    fn the_daemons_latency_histogram_is_read_back_from_its_metrics_text() {
        let latency = crate::mail::SendLatency::default();
        for ms in [3, 4, 40, 40, 40, 40, 40, 40, 40, 200] {
            latency.record(crate::mail::SendOutcome::Ok, Duration::from_millis(ms));
        }
        latency.record(crate::mail::SendOutcome::Transient, Duration::from_secs(2));
        let text = crate::web::metrics::Metrics::new(Some(&latency)).render(&Default::default());
        let parsed = parse_latency(&text);
        let read: Vec<(&str, u64)> = parsed.iter().map(|s| (s.outcome, s.count)).collect();
        assert_eq!(read, [("ok", 10), ("transient", 1), ("permanent", 0)]);
        // Cumulative per bucket: 2 within 5 ms, 9 within 50 ms, all within 250 ms.
        assert_eq!(
            parsed[0].cumulative,
            [2, 2, 2, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10]
        );
        assert!((parsed[0].sum_seconds - 0.487).abs() < 1e-6);
        assert_eq!(parsed[1].cumulative[..8], [0; 8]);
        assert_eq!(parsed[1].cumulative[8..], [1; 5]);
        assert!((parsed[1].sum_seconds - 2.0).abs() < 1e-6);
        assert_eq!(parsed[2].cumulative, [0; 13]);
        assert_eq!(quantile_bound(&parsed[0], 0.5), Some(0.05));
        assert_eq!(quantile_bound(&parsed[0], 0.95), Some(0.25));
        let line = to_line(&DaemonLatency::Series(parsed));
        assert!(
            line.contains("10 ok (mean 49 ms, p50 <= 0.05 s, p95 <= 0.25 s)"),
            "{line}"
        );
        assert!(line.contains("1 transient (mean 2000 ms"), "{line}");
        assert!(line.contains("0 permanent"), "{line}");
    }

    #[tokio::test]
    async fn a_daemon_that_does_not_answer_is_reported_not_fatal() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        assert!(matches!(
            scrape_latency(Some(addr)).await,
            DaemonLatency::Unreachable(_)
        ));
        assert_eq!(scrape_latency(None).await, DaemonLatency::NotConfigured);
    }
}
