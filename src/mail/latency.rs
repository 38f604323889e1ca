//! SMTP latency: a Prometheus histogram (`prometheus-client`) of how long
//! each SMTP transaction (connect or reuse, MAIL, RCPT, DATA) took, by
//! outcome, and the reading of that histogram back out of exposition text.
//!
//! It lives in the process that sends (the daemon's digest and retry jobs),
//! so `/metrics` shows the daemon's sends since it started; a hand-run
//! `paperboy digest` has its own, and its outcomes reach `/metrics` through
//! the database instead. The metric's name, label and bucket bounds are
//! defined here once, for the exposition and for `paperboy status`, which
//! reads them back from the daemon's `/metrics`.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The histogram's name (its series add `_bucket`, `_sum` and `_count`).
pub const NAME: &str = "paperboy_smtp_send_seconds";

const HELP: &str =
    "Time per SMTP transaction (one message, one attempt) since the daemon started, by outcome";

/// Upper bounds of the buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How one SMTP transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl EncodeLabelValue for SendOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: SendOutcome,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The histogram; shared by every clone of a mailer.
#[derive(Debug)]
pub struct SendLatency {
    family: Family<OutcomeLabel, Histogram>,
}

impl Default for SendLatency {
    /// Every outcome's series exists from the start, so the first scrape
    /// already shows all three.
    fn default() -> Self {
        let family = Family::new_with_constructor(histogram as fn() -> Histogram);
        for outcome in SendOutcome::ALL {
            drop(family.get_or_create(&OutcomeLabel { outcome }));
        }
        SendLatency { family }
    }
}

/// One outcome's series, as read back from exposition text.
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
        self.family
            .get_or_create(&OutcomeLabel { outcome })
            .observe(took.as_secs_f64());
    }

    /// Adds the histogram to `registry`; the registry reads the live
    /// values at each encoding.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(NAME, HELP, self.family.clone());
    }

    /// Every outcome's series as the exposition shows them.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> Vec<LatencySeries> {
        let mut registry = Registry::default();
        self.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("writing to a String cannot fail");
        parse(&text)
    }
}

/// The [`NAME`] histogram out of a Prometheus text exposition, one series
/// per outcome (zero when absent); lines it does not understand are
/// ignored.
pub fn parse(text: &str) -> Vec<LatencySeries> {
    let mut out: Vec<LatencySeries> = SendOutcome::ALL
        .iter()
        .map(|outcome| LatencySeries {
            outcome: outcome.as_str(),
            cumulative: vec![0; BUCKETS.len() + 1],
            count: 0,
            sum_seconds: 0.0,
        })
        .collect();
    for line in text.lines() {
        let Some(rest) = line
            .strip_prefix(NAME)
            .and_then(|rest| rest.strip_prefix('_'))
        else {
            continue;
        };
        let Some((name, rest)) = rest.split_once('{') else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let label = |key: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        let Some(series) = label("outcome").and_then(|o| out.iter_mut().find(|s| s.outcome == o))
        else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        match name {
            "count" => series.count = value as u64,
            "sum" => series.sum_seconds = value,
            "bucket" => {
                let slot = match label("le").as_deref() {
                    Some("+Inf") => Some(BUCKETS.len()),
                    Some(le) => le
                        .parse::<f64>()
                        .ok()
                        .and_then(|le| BUCKETS.iter().position(|b| (b - le).abs() < 1e-9)),
                    None => None,
                };
                if let Some(slot) = slot {
                    series.cumulative[slot] = value as u64;
                }
            }
            _ => {}
        }
    }
    out
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

    #[test]
    fn the_exposition_keeps_the_metric_name_labels_and_bucket_bounds() {
        let h = SendLatency::default();
        h.record(SendOutcome::Permanent, Duration::from_millis(40));
        let mut registry = Registry::default();
        h.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("# TYPE paperboy_smtp_send_seconds histogram\n"),
            "{text}"
        );
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30",
            "+Inf",
        ] {
            for outcome in ["ok", "transient", "permanent"] {
                let line = format!(
                    "paperboy_smtp_send_seconds_bucket{{outcome=\"{outcome}\",le=\"{le}\"}} "
                );
                assert!(text.contains(&line), "no {line:?} in {text}");
            }
        }
        assert!(text
            .contains("paperboy_smtp_send_seconds_bucket{outcome=\"permanent\",le=\"0.05\"} 1\n"));
        assert!(text.contains("paperboy_smtp_send_seconds_count{outcome=\"permanent\"} 1\n"));
        assert!(text.contains("paperboy_smtp_send_seconds_count{outcome=\"ok\"} 0\n"));
    }
}
