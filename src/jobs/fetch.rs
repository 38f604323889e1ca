//! A fetch run: every configured source (or one) for a date, into the store.
//!
//! Each source is fetched and stored on its own: one failing source is
//! reported and the others still land. A source's papers are stored in one
//! transaction before its HTTP validators are saved, so a crash can never
//! leave papers hidden behind a `304 Not Modified`.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::bail;
use chrono::{DateTime, NaiveDate, Utc};

use crate::app::App;
use crate::sources::{calendar, Validators};

/// What one source did in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOutcome {
    pub source: String,
    pub fetched: usize,
    pub new_papers: usize,
    pub updated_papers: usize,
    pub not_modified: bool,
    pub error: Option<String>,
    /// The source answered with no papers on a day it normally announces
    /// (see [`crate::sources::calendar`]): worth an operator's look.
    pub silent: bool,
    /// Items the source's parser had to leave out.
    pub skipped: usize,
    /// Items kept under the fetch day because their date could not be read.
    pub unreadable_dates: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchSummary {
    pub sources: Vec<SourceOutcome>,
}

impl FetchSummary {
    pub fn failed(&self) -> usize {
        self.sources.iter().filter(|s| s.error.is_some()).count()
    }

    /// Sources that announced nothing on a day they should have.
    pub fn silent(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter(|s| s.silent)
            .map(|s| s.source.as_str())
            .collect()
    }

    pub fn new_papers(&self) -> usize {
        self.sources.iter().map(|s| s.new_papers).sum()
    }

    /// `name: N skipped, M unreadable dates` for each source that had any,
    /// joined with `; ` (empty when none had).
    pub fn item_problems(&self) -> String {
        self.sources
            .iter()
            .filter_map(|s| s.item_problems().map(|p| format!("{}: {p}", s.source)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl SourceOutcome {
    /// `N skipped, M unreadable dates`, or `None` when both are zero.
    pub fn item_problems(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.skipped > 0 {
            parts.push(format!("{} skipped", self.skipped));
        }
        if self.unreadable_dates > 0 {
            parts.push(format!(
                "{} unreadable date{}",
                self.unreadable_dates,
                if self.unreadable_dates == 1 { "" } else { "s" }
            ));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Fetches `date` from every source, or only from `only`.
pub async fn run_fetch(
    app: &App,
    date: NaiveDate,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<FetchSummary> {
    if let Some(name) = only {
        if !app.sources.iter().any(|s| s.name() == name) {
            let known: Vec<&str> = app.sources.iter().map(|s| s.name()).collect();
            bail!(
                "no source named {name:?}; configured sources: {}",
                known.join(", ")
            );
        }
    }
    let stored = app.store.validators().await?;
    let validators: HashMap<String, Validators> = stored
        .into_iter()
        .map(|(url, (etag, last_modified))| {
            (
                url,
                Validators {
                    etag,
                    last_modified,
                },
            )
        })
        .collect();
    let mut summary = FetchSummary::default();
    for source in app
        .sources
        .iter()
        .filter(|s| only.is_none_or(|n| s.name() == n))
    {
        let started = Instant::now();
        let mut outcome = SourceOutcome {
            source: source.name().to_string(),
            fetched: 0,
            new_papers: 0,
            updated_papers: 0,
            not_modified: false,
            error: None,
            silent: false,
            skipped: 0,
            unreadable_dates: 0,
        };
        match source.fetch(date, &validators).await {
            Ok(report) => {
                outcome.fetched = report.papers.len();
                outcome.not_modified = report.not_modified;
                outcome.skipped = report.skipped.len();
                outcome.unreadable_dates = report.unreadable_dates.len();
                match app
                    .store
                    .store_fetched(source.name(), &report.papers, now)
                    .await
                {
                    Ok(r) => {
                        outcome.new_papers = r.new_papers;
                        outcome.updated_papers = r.updated_papers;
                        for (url, v) in &report.validators {
                            app.store
                                .save_validator(
                                    url,
                                    v.etag.as_deref(),
                                    v.last_modified.as_deref(),
                                    now,
                                )
                                .await?;
                        }
                    }
                    Err(e) => {
                        outcome.error = Some(format!("storing papers from {}: {e}", source.name()))
                    }
                }
                if report.papers.is_empty() && !report.not_modified {
                    if calendar::expects_announcement(source.kind(), date) {
                        outcome.silent = true;
                        tracing::warn!(source = source.name(), fetch.date = %date, "source returned no papers on a day it normally announces");
                    } else {
                        tracing::info!(source = source.name(), fetch.date = %date, "source returned no papers (not an announcement day)");
                    }
                }
            }
            Err(e) => outcome.error = Some(e.to_string()),
        }
        match &outcome.error {
            None => tracing::info!(
                source = source.name(),
                fetch.date = %date,
                papers.fetched = outcome.fetched,
                papers.new = outcome.new_papers,
                papers.updated = outcome.updated_papers,
                items.skipped = outcome.skipped,
                dates.unreadable = outcome.unreadable_dates,
                not_modified = outcome.not_modified,
                duration_ms = started.elapsed().as_millis() as u64,
                "source fetched"
            ),
            Some(e) => {
                tracing::error!(source = source.name(), fetch.date = %date, error = %e, "source failed")
            }
        }
        summary.sources.push(outcome);
    }
    Ok(summary)
}
