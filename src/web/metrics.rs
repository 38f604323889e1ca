//! `GET /metrics` in the Prometheus text exposition format (version
//! 0.0.4), served on its own `[metrics] listen` address so it need not be
//! exposed with the public pages. Values come from
//! [`crate::store::MetricsSnapshot`]; nothing here carries an address.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;

use crate::mail::{LatencySeries, Mailer, LATENCY_BUCKETS};
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
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<MetricsState>>) -> Response {
    let today = Utc::now().with_timezone(&state.timezone).date_naive();
    match state.store.metrics_snapshot(today).await {
        Ok(snapshot) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&snapshot, state.mailer.smtp_latency().as_deref()),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading metrics from the database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Label values are escaped as the format requires (\\, \", \n).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders a snapshot, and the daemon's SMTP send times when it sends over
/// SMTP, as exposition text.
pub fn render(s: &MetricsSnapshot, smtp_latency: Option<&[LatencySeries]>) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "paperboy_paper_sightings_total",
        "counter",
        "Papers listed by each source, summed over days.",
    );
    for (source, n) in &s.papers_by_source {
        let _ = writeln!(
            out,
            "paperboy_paper_sightings_total{{source=\"{}\"}} {n}",
            label(source)
        );
    }
    family(
        &mut out,
        "paperboy_papers",
        "gauge",
        "Distinct papers stored.",
    );
    let _ = writeln!(out, "paperboy_papers {}", s.papers);
    family(
        &mut out,
        "paperboy_digests",
        "gauge",
        "Digest deliveries by status (sent, deferred, failed, sending, pending).",
    );
    for (status, n) in &s.deliveries_by_status {
        let _ = writeln!(out, "paperboy_digests{{status=\"{}\"}} {n}", label(status));
    }
    family(
        &mut out,
        "paperboy_subscribers",
        "gauge",
        "Subscribers by status.",
    );
    for (status, n) in &s.subscribers_by_status {
        let _ = writeln!(
            out,
            "paperboy_subscribers{{status=\"{}\"}} {n}",
            label(status)
        );
    }
    family(
        &mut out,
        "paperboy_unsubscribes_today",
        "gauge",
        "Unsubscribes recorded today (schedule timezone day, UTC timestamps).",
    );
    let _ = writeln!(out, "paperboy_unsubscribes_today {}", s.unsubscribes_today);
    family(
        &mut out,
        "paperboy_bounces_today",
        "gauge",
        "SMTP bounces recorded today: hard = 5xx (permanent), soft = 4xx (deferred).",
    );
    let _ = writeln!(
        out,
        "paperboy_bounces_today{{kind=\"hard\"}} {}",
        s.bounces_today.hard
    );
    let _ = writeln!(
        out,
        "paperboy_bounces_today{{kind=\"soft\"}} {}",
        s.bounces_today.soft
    );
    if let Some(series) = smtp_latency {
        family(
            &mut out,
            "paperboy_smtp_send_seconds",
            "histogram",
            "Time per SMTP transaction (one message, one attempt) since the daemon started, by outcome.",
        );
        for s in series {
            for (i, n) in s.cumulative.iter().enumerate() {
                let le = LATENCY_BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "paperboy_smtp_send_seconds_bucket{{outcome=\"{}\",le=\"{le}\"}} {n}",
                    s.outcome
                );
            }
            let _ = writeln!(
                out,
                "paperboy_smtp_send_seconds_sum{{outcome=\"{}\"}} {}",
                s.outcome, s.sum_seconds
            );
            let _ = writeln!(
                out,
                "paperboy_smtp_send_seconds_count{{outcome=\"{}\"}} {}",
                s.outcome, s.count
            );
        }
    }
    family(
        &mut out,
        "paperboy_last_run_success",
        "gauge",
        "1 when the last run of the kind ended ok or partial, 0 when it failed or did not finish.",
    );
    for (kind, _, outcome) in &s.last_runs {
        let ok = matches!(outcome.as_deref(), Some("ok" | "partial"));
        let _ = writeln!(
            out,
            "paperboy_last_run_success{{kind=\"{}\"}} {}",
            label(kind),
            u8::from(ok)
        );
    }
    family(
        &mut out,
        "paperboy_last_run_finished_timestamp_seconds",
        "gauge",
        "When the last run of the kind finished (Unix time).",
    );
    for (kind, finished, _) in &s.last_runs {
        if let Some(t) = finished {
            let _ = writeln!(
                out,
                "paperboy_last_run_finished_timestamp_seconds{{kind=\"{}\"}} {}",
                label(kind),
                t.timestamp()
            );
        }
    }
    out
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
        };
        let latency = crate::mail::SendLatency::default();
        latency.record(
            crate::mail::SendOutcome::Ok,
            std::time::Duration::from_millis(40),
        );
        let text = render(&s, Some(&latency.snapshot()));
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
        assert!(text.contains("paperboy_last_run_success{kind=\"digest\"} 0"));
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
