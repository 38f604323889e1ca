//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4),
//! served on its own `[metrics] listen` address so it need not be exposed
//! with the public pages. The families are registered once, when the
//! listener starts, and encoded by `prometheus-client`; each scrape sets
//! the gauges from [`crate::store::MetricsSnapshot`], and the SMTP latency
//! histogram is the mailer's own, live. Nothing here carries an address.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::mail::{Mailer, SendLatency};
use crate::store::{MetricsSnapshot, Store};

/// What `/metrics` reads: the store, the mailer's SMTP send times, and the
/// operator's timezone (whose day "today" counts).
pub struct MetricsState {
    pub store: Store,
    pub mailer: Mailer,
    pub timezone: chrono_tz::Tz,
}

/// The metrics listener's routes.
pub fn router(state: Arc<MetricsState>) -> Router {
    let metrics = Arc::new(Metrics::new(state.mailer.smtp_latency()));
    Router::new()
        .route("/metrics", get(metrics_page))
        .with_state((state, metrics))
}

async fn metrics_page(
    State((state, metrics)): State<(Arc<MetricsState>, Arc<Metrics>)>,
) -> Response {
    let today = Utc::now().with_timezone(&state.timezone).date_naive();
    let since = Utc::now() - chrono::Duration::days(crate::status::LATE_DAYS);
    let snapshot = async {
        let mut snapshot = state.store.metrics_snapshot(today).await?;
        snapshot.late = state.store.inbound_counts(since).await?;
        snapshot.late_days = state
            .store
            .inbound_counts_per_day(Utc::now().date_naive(), crate::status::LATE_DAYS as u32)
            .await?;
        Ok::<_, crate::store::DbError>(snapshot)
    }
    .await;
    match snapshot {
        Ok(snapshot) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            metrics.render(&snapshot),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading metrics from the database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DayLabel {
    day: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DayKindLabel {
    day: String,
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LineLabel {
    line: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    kind: String,
    outcome: String,
}

/// The outcomes a run can end with: a fetch is `partial` when some sources
/// failed; a digest run is `degraded` when it deferred or failed some
/// digests, and `failed` when it broke off or delivered none.
const OUTCOMES: [&str; 4] = ["ok", "partial", "degraded", "failed"];

impl KindLabel {
    fn new(kind: &str) -> Self {
        KindLabel {
            kind: kind.to_string(),
        }
    }
}

/// Every family `/metrics` shows, registered once.
pub struct Metrics {
    /// Held while a scrape sets the families and encodes them, so two
    /// scrapes never interleave their values.
    registry: Mutex<Registry>,
    paper_sightings: Family<SourceLabel, Counter>,
    papers: Gauge,
    digests: Family<StatusLabel, Gauge>,
    subscribers: Family<StatusLabel, Gauge>,
    unsubscribes_today: Gauge,
    bounces_today: Family<KindLabel, Gauge>,
    late_reports: Family<KindLabel, Gauge>,
    late_digests_sent: Gauge,
    late_rates: Family<KindLabel, Gauge<f64, AtomicU64>>,
    complaint_rate_lines: Family<LineLabel, Gauge<f64, AtomicU64>>,
    daily_digests_sent: Family<DayLabel, Gauge>,
    daily_reports: Family<DayKindLabel, Gauge>,
    daily_rates: Family<DayKindLabel, Gauge<f64, AtomicU64>>,
    daily_over_limit: Family<DayKindLabel, Gauge>,
    last_run_success: Family<KindLabel, Gauge>,
    last_run_outcome: Family<OutcomeLabel, Gauge>,
    last_run_finished: Family<KindLabel, Gauge>,
}

impl Metrics {
    /// Registers the families, with the daemon's SMTP send times when it
    /// sends over SMTP. The order here is the order of the exposition.
    pub fn new(smtp_latency: Option<&SendLatency>) -> Metrics {
        let paper_sightings = Family::<SourceLabel, Counter>::default();
        let papers = Gauge::default();
        let digests = Family::<StatusLabel, Gauge>::default();
        let subscribers = Family::<StatusLabel, Gauge>::default();
        let unsubscribes_today = Gauge::default();
        let bounces_today = Family::<KindLabel, Gauge>::default();
        let late_reports = Family::<KindLabel, Gauge>::default();
        let late_digests_sent = Gauge::default();
        let late_rates = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
        let complaint_rate_lines = Family::<LineLabel, Gauge<f64, AtomicU64>>::default();
        let daily_digests_sent = Family::<DayLabel, Gauge>::default();
        let daily_reports = Family::<DayKindLabel, Gauge>::default();
        let daily_rates = Family::<DayKindLabel, Gauge<f64, AtomicU64>>::default();
        let daily_over_limit = Family::<DayKindLabel, Gauge>::default();
        let last_run_success = Family::<KindLabel, Gauge>::default();
        let last_run_outcome = Family::<OutcomeLabel, Gauge>::default();
        let last_run_finished = Family::<KindLabel, Gauge>::default();

        let mut registry = Registry::default();
        // The counter's name gets `_total` from the library.
        registry.register(
            "paperboy_paper_sightings",
            "Papers listed by each source, summed over days",
            paper_sightings.clone(),
        );
        registry.register("paperboy_papers", "Distinct papers stored", papers.clone());
        registry.register(
            "paperboy_digests",
            "Digest deliveries by status (sent, deferred, failed, sending, pending)",
            digests.clone(),
        );
        registry.register(
            "paperboy_subscribers",
            "Subscribers by status",
            subscribers.clone(),
        );
        registry.register(
            "paperboy_unsubscribes_today",
            "Unsubscribes recorded today (schedule timezone day, UTC timestamps)",
            unsubscribes_today.clone(),
        );
        registry.register(
            "paperboy_bounces_today",
            "SMTP bounces recorded today: hard = 5xx (permanent), soft = 4xx (deferred)",
            bounces_today.clone(),
        );
        registry.register(
            "paperboy_late_reports_7d",
            "Reports that arrived after sending (by mail or webhook) in the last 7 days: hard and soft bounces, complaints, unsubscribe requests, and those that matched no delivery (unmatched)",
            late_reports.clone(),
        );
        registry.register(
            "paperboy_digests_sent_7d",
            "Digests sent in the last 7 days: the denominator of the late rates",
            late_digests_sent.clone(),
        );
        registry.register(
            "paperboy_late_rate_7d",
            "Late hard bounces and complaints in the last 7 days per digest sent in them (0.001 = 0.1 %)",
            late_rates.clone(),
        );
        registry.register(
            "paperboy_complaint_rate_line",
            "The complaint rates mailbox providers publish: stay under aim (0.1 %), never reach limit (0.3 %)",
            complaint_rate_lines.clone(),
        );
        registry.register(
            "paperboy_digests_sent_daily",
            "Digests sent on each of the last 7 UTC days (day = YYYY-MM-DD): the denominators of the daily rates",
            daily_digests_sent.clone(),
        );
        registry.register(
            "paperboy_late_reports_daily",
            "Late reports received on each of the last 7 UTC days, by kind (hard, soft, complaint, unsubscribe, unmatched)",
            daily_reports.clone(),
        );
        registry.register(
            "paperboy_late_rate_daily",
            "Late hard bounces and complaints received on a UTC day per digest sent that day (0.001 = 0.1 %); absent for a day with no digest sent",
            daily_rates.clone(),
        );
        registry.register(
            "paperboy_late_rate_over_limit_daily",
            "1 when the day's rate reached the providers' limit (complaint: 0.3 %, hard: 5 %), else 0",
            daily_over_limit.clone(),
        );
        if let Some(latency) = smtp_latency {
            latency.register(&mut registry);
        }
        registry.register(
            "paperboy_last_run_success",
            "1 when the last run of the kind ended ok (or partial, for a fetch), 0 when it was degraded, failed or did not finish",
            last_run_success.clone(),
        );
        registry.register(
            "paperboy_last_run_outcome",
            "1 for the outcome of the last run of the kind (ok, partial, degraded, failed), 0 for the others",
            last_run_outcome.clone(),
        );
        registry.register(
            "paperboy_last_run_finished_timestamp_seconds",
            "When the last run of the kind finished (Unix time)",
            last_run_finished.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            paper_sightings,
            papers,
            digests,
            subscribers,
            unsubscribes_today,
            bounces_today,
            late_reports,
            late_digests_sent,
            late_rates,
            complaint_rate_lines,
            daily_digests_sent,
            daily_reports,
            daily_rates,
            daily_over_limit,
            last_run_success,
            last_run_outcome,
            last_run_finished,
        }
    }

    /// Sets the families from `s` and encodes every family as exposition
    /// text. Labels a snapshot no longer has (a source removed from the
    /// config) disappear with it.
    pub fn render(&self, s: &MetricsSnapshot) -> String {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        self.paper_sightings.clear();
        for (source, n) in &s.papers_by_source {
            // The total lives in the database; the counter mirrors it.
            self.paper_sightings
                .get_or_create(&SourceLabel {
                    source: source.clone(),
                })
                .inner()
                .store(u64::try_from(*n).unwrap_or(0), Ordering::Relaxed);
        }
        self.papers.set(s.papers);
        self.digests.clear();
        for (status, n) in &s.deliveries_by_status {
            self.digests
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n);
        }
        self.subscribers.clear();
        for (status, n) in &s.subscribers_by_status {
            self.subscribers
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n);
        }
        self.unsubscribes_today.set(s.unsubscribes_today);
        self.bounces_today
            .get_or_create(&KindLabel::new("hard"))
            .set(s.bounces_today.hard);
        self.bounces_today
            .get_or_create(&KindLabel::new("soft"))
            .set(s.bounces_today.soft);
        let late = &s.late;
        for (kind, n) in [
            ("hard", late.hard),
            ("soft", late.soft),
            ("complaint", late.complaints),
            ("unsubscribe", late.unsubscribe_requests),
            ("unmatched", late.unmatched),
        ] {
            self.late_reports
                .get_or_create(&KindLabel::new(kind))
                .set(n);
        }
        self.late_digests_sent.set(late.digests_sent);
        for (kind, n) in [("hard", late.hard), ("complaint", late.complaints)] {
            self.late_rates
                .get_or_create(&KindLabel::new(kind))
                .set(crate::status::rate(n, late.digests_sent));
        }
        for (line, value) in [
            ("aim", crate::status::COMPLAINT_RATE_AIM),
            ("limit", crate::status::COMPLAINT_RATE_LIMIT),
        ] {
            self.complaint_rate_lines
                .get_or_create(&LineLabel {
                    line: line.to_string(),
                })
                .set(value);
        }
        self.daily_digests_sent.clear();
        self.daily_reports.clear();
        self.daily_rates.clear();
        self.daily_over_limit.clear();
        for d in &s.late_days {
            let day = d.day.to_string();
            let label = |kind: &str| DayKindLabel {
                day: day.clone(),
                kind: kind.to_string(),
            };
            let c = &d.counts;
            self.daily_digests_sent
                .get_or_create(&DayLabel { day: day.clone() })
                .set(c.digests_sent);
            for (kind, n) in [
                ("hard", c.hard),
                ("soft", c.soft),
                ("complaint", c.complaints),
                ("unsubscribe", c.unsubscribe_requests),
                ("unmatched", c.unmatched),
            ] {
                self.daily_reports.get_or_create(&label(kind)).set(n);
            }
            let rates = crate::status::DailyRates::of(c);
            for (kind, rate, over) in [
                ("hard", rates.hard, rates.hard_over_limit()),
                ("complaint", rates.complaints, rates.complaints_over_limit()),
            ] {
                if let Some(rate) = rate {
                    self.daily_rates.get_or_create(&label(kind)).set(rate);
                }
                self.daily_over_limit
                    .get_or_create(&label(kind))
                    .set(i64::from(over));
            }
        }
        self.last_run_success.clear();
        self.last_run_outcome.clear();
        self.last_run_finished.clear();
        for (kind, finished, outcome) in &s.last_runs {
            let ok = matches!(outcome.as_deref(), Some("ok" | "partial"));
            self.last_run_success
                .get_or_create(&KindLabel::new(kind))
                .set(i64::from(ok));
            for state in OUTCOMES {
                self.last_run_outcome
                    .get_or_create(&OutcomeLabel {
                        kind: kind.clone(),
                        outcome: state.to_string(),
                    })
                    .set(i64::from(outcome.as_deref() == Some(state)));
            }
            if let Some(t) = finished {
                self.last_run_finished
                    .get_or_create(&KindLabel::new(kind))
                    .set(t.timestamp());
            }
        }
        let mut out = String::new();
        prometheus_text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_line_belongs_to_a_declared_family_and_labels_are_escaped() {
        let s = MetricsSnapshot {
            papers_by_source: vec![("we\"ird\\src".into(), 3)],
            papers: 2,
            deliveries_by_status: vec![("sent".into(), 5)],
            subscribers_by_status: vec![("active".into(), 4)],
            unsubscribes_today: 1,
            bounces_today: crate::store::BounceCounts { hard: 2, soft: 7 },
            last_runs: vec![("digest".into(), None, Some("failed".into()))],
            late: crate::store::InboundCounts::default(),
            late_days: vec![
                crate::store::DailyInbound {
                    day: chrono::NaiveDate::from_ymd_opt(2026, 6, 12).unwrap(),
                    counts: crate::store::InboundCounts {
                        hard: 1,
                        complaints: 4,
                        digests_sent: 1000,
                        ..Default::default()
                    },
                },
                crate::store::DailyInbound {
                    day: chrono::NaiveDate::from_ymd_opt(2026, 6, 11).unwrap(),
                    counts: crate::store::InboundCounts {
                        complaints: 1,
                        ..Default::default()
                    },
                },
            ],
        };
        let latency = crate::mail::SendLatency::default();
        latency.record(
            crate::mail::SendOutcome::Ok,
            std::time::Duration::from_millis(40),
        );
        let text = Metrics::new(Some(&latency)).render(&s);
        assert!(
            text.contains("paperboy_bounces_today{kind=\"hard\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("paperboy_bounces_today{kind=\"soft\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("paperboy_smtp_send_seconds_bucket{outcome=\"ok\",le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("paperboy_smtp_send_seconds_bucket{outcome=\"ok\",le=\"0.025\"} 0"),
            "{text}"
        );
        assert!(text.contains("paperboy_smtp_send_seconds_count{outcome=\"ok\"} 1"));
        assert!(
            text.contains(r#"paperboy_paper_sightings_total{source="we\"ird\\src"} 3"#),
            "{text}"
        );
        assert!(text.contains("paperboy_digests{status=\"sent\"} 5"));
        for line in [
            r#"paperboy_digests_sent_daily{day="2026-06-12"} 1000"#,
            r#"paperboy_late_reports_daily{day="2026-06-12",kind="complaint"} 4"#,
            r#"paperboy_late_rate_daily{day="2026-06-12",kind="complaint"} 0.004"#,
            r#"paperboy_late_rate_daily{day="2026-06-12",kind="hard"} 0.001"#,
            r#"paperboy_late_rate_over_limit_daily{day="2026-06-12",kind="complaint"} 1"#,
            r#"paperboy_late_rate_over_limit_daily{day="2026-06-12",kind="hard"} 0"#,
            r#"paperboy_late_reports_daily{day="2026-06-11",kind="complaint"} 1"#,
            r#"paperboy_late_rate_over_limit_daily{day="2026-06-11",kind="complaint"} 0"#,
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
        assert!(
            !text.contains(r#"paperboy_late_rate_daily{day="2026-06-11""#),
            "no rate for a day with nothing sent: {text}"
        );
        assert!(text.contains("paperboy_last_run_success{kind=\"digest\"} 0"));
        assert!(text.contains("paperboy_last_run_outcome{kind=\"digest\",outcome=\"failed\"} 1"));
        assert!(text.contains("paperboy_last_run_outcome{kind=\"digest\",outcome=\"degraded\"} 0"));
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| declared.contains(f))
                .unwrap_or(name);
            assert!(declared.contains(&family), "undeclared {name}");
        }
    }
}
