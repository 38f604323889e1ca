//! The fetch job: every configured source (or one) for a date, into the
//! store, recorded as a run.
//!
//! Each source is fetched and stored on its own: one failing source is
//! reported and the others still land. A source's papers are stored in one
//! transaction before its HTTP validators are saved, so a crash can never
//! leave papers hidden behind a `304 Not Modified`. After a source's papers
//! are stored, the document frequencies of the days they changed are
//! recounted and those papers' vectors stored (`digest::frequencies`), for
//! ranking. It is handed the store, the sources and the shared document
//! frequencies, nothing else.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use anyhow::bail;
use chrono::{DateTime, NaiveDate, Utc};

use crate::digest::frequencies::{Frequencies, Recount};
use crate::domain::PaperId;
use crate::sources::{calendar, Source, Validators};
use crate::store::{DbResult, RunKind, Store};

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

/// What fetching uses: the store, the configured sources, and the
/// document frequencies it keeps up to date.
#[derive(Debug, Clone)]
pub struct FetchJob {
    pub store: Store,
    pub sources: Vec<Source>,
    pub frequencies: Frequencies,
}

impl FetchJob {
    pub fn new(store: Store, sources: Vec<Source>) -> FetchJob {
        FetchJob {
            store,
            sources,
            frequencies: Frequencies::new(),
        }
    }

    /// The same job, keeping the process's shared document frequencies up
    /// to date.
    pub fn with_frequencies(mut self, frequencies: Frequencies) -> FetchJob {
        self.frequencies = frequencies;
        self
    }

    /// Fetches each date in turn and records each as a fetch run.
    pub async fn run(
        &self,
        dates: &[NaiveDate],
        only: Option<&str>,
    ) -> anyhow::Result<Vec<FetchSummary>> {
        let mut out = Vec::new();
        for &date in dates {
            let run = self
                .store
                .start_run(RunKind::Fetch, date, Utc::now())
                .await?;
            let result = self.fetch(date, only, Utc::now()).await;
            let (outcome, summary) = run_outcome(&result);
            self.store
                .finish_run(run, outcome, &summary, Utc::now())
                .await?;
            out.push(result?);
        }
        Ok(out)
    }

    /// Fetches `date` from every source, or only from `only`, recording no
    /// run.
    pub async fn fetch(
        &self,
        date: NaiveDate,
        only: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<FetchSummary> {
        if let Some(name) = only {
            if !self.sources.iter().any(|s| s.name() == name) {
                let known: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
                bail!(
                    "no source named {name:?}; configured sources: {}",
                    known.join(", ")
                );
            }
        }
        let validators: HashMap<String, Validators> = self
            .store
            .validators()
            .await?
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
        for source in self
            .sources
            .iter()
            .filter(|s| only.is_none_or(|n| s.name() == n))
        {
            let outcome = self.fetch_source(source, date, &validators, now).await?;
            summary.sources.push(outcome);
        }
        Ok(summary)
    }

    /// Fetches one source and stores what it gave. A source that fails, or
    /// whose papers cannot be stored, is reported in its outcome; only a
    /// failure to save its validators (after its papers) is an error.
    async fn fetch_source(
        &self,
        source: &Source,
        date: NaiveDate,
        validators: &HashMap<String, Validators>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<SourceOutcome> {
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
        match source.fetch(date, validators).await {
            Ok(report) => {
                outcome.fetched = report.papers.len();
                outcome.not_modified = report.not_modified;
                outcome.skipped = report.skipped.len();
                outcome.unreadable_dates = report.unreadable_dates.len();
                let ids: Vec<PaperId> = report.papers.iter().map(|f| f.paper.id.clone()).collect();
                // Each paper's first day before this store (read failing:
                // every paper's day is recounted).
                let before = self.store.first_days(&ids).await.unwrap_or_default();
                match self
                    .store
                    .store_fetched(source.name(), &report.papers, now)
                    .await
                {
                    Ok(r) => {
                        outcome.new_papers = r.new_papers;
                        outcome.updated_papers = r.updated_papers;
                        self.update_ranking(source.name(), &ids, &before, &r.changed, now)
                            .await;
                        for (url, v) in &report.validators {
                            self.store
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
        Ok(outcome)
    }
}

impl FetchJob {
    /// After a source's papers were stored: recounts the document
    /// frequencies of each day whose papers changed (a paper new or
    /// changed, or first announced earlier than it was), which also stores
    /// those papers' vectors. A failure is logged, not fatal: the papers
    /// are stored, and a digest run computes a missing vector itself.
    async fn update_ranking(
        &self,
        source: &str,
        ids: &[PaperId],
        before: &HashMap<PaperId, NaiveDate>,
        changed: &[PaperId],
        now: DateTime<Utc>,
    ) {
        match self.recount_touched(ids, before, changed, now).await {
            Ok(r) if r.days > 0 => tracing::info!(
                source,
                days.counted = r.days,
                papers.counted = r.papers,
                "ranking data updated"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(source, error = %e, "updating the ranking data of stored papers failed")
            }
        }
    }

    /// Recounts the days the store of `ids` touched (see [`touched_days`]).
    async fn recount_touched(
        &self,
        ids: &[PaperId],
        before: &HashMap<PaperId, NaiveDate>,
        changed: &[PaperId],
        now: DateTime<Utc>,
    ) -> DbResult<Recount> {
        let after = self.store.first_days(ids).await?;
        let days = touched_days(ids, before, &after, changed);
        self.frequencies.recount_days(&self.store, &days, now).await
    }
}

/// The days whose document frequencies a store changed: the first day of
/// each changed paper, and both days of a paper whose first day moved.
fn touched_days(
    ids: &[PaperId],
    before: &HashMap<PaperId, NaiveDate>,
    after: &HashMap<PaperId, NaiveDate>,
    changed: &[PaperId],
) -> BTreeSet<NaiveDate> {
    let changed: HashSet<&PaperId> = changed.iter().collect();
    let mut days = BTreeSet::new();
    for id in ids {
        let (was, is) = (before.get(id), after.get(id));
        if was != is || changed.contains(id) {
            days.extend(was.copied());
            days.extend(is.copied());
        }
    }
    days
}

/// A fetch run's recorded outcome: `ok`, `partial` (some sources failed) or
/// `failed`, and its summary, which warns about sources that were silent on
/// a day they announce and counts the items each source skipped or could
/// not date.
pub fn run_outcome(result: &anyhow::Result<FetchSummary>) -> (&'static str, String) {
    let (outcome, summary) = match result {
        Ok(s) if s.failed() == 0 => ("ok", format!("{} new papers", s.new_papers())),
        Ok(s) => (
            "partial",
            format!(
                "{} new papers, {} sources failed",
                s.new_papers(),
                s.failed()
            ),
        ),
        Err(e) => ("failed", format!("{e:#}")),
    };
    let summary = match result {
        Ok(s) if !s.silent().is_empty() => format!(
            "{summary}; warning: no papers from {} on a day they announce",
            s.silent().join(", ")
        ),
        _ => summary,
    };
    let summary = match result.as_ref().map(FetchSummary::item_problems) {
        Ok(problems) if !problems.is_empty() => format!("{summary}; {problems}"),
        _ => summary,
    };
    (outcome, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    fn outcome(source: &str) -> SourceOutcome {
        SourceOutcome {
            source: source.into(),
            fetched: 3,
            new_papers: 2,
            updated_papers: 1,
            not_modified: false,
            error: None,
            silent: false,
            skipped: 0,
            unreadable_dates: 0,
        }
    }

    #[test]
    fn a_run_with_a_failed_source_is_partial_and_a_silent_one_is_warned_about() {
        let ok = FetchSummary {
            sources: vec![outcome("hf"), outcome("arxiv")],
        };
        assert_eq!(run_outcome(&Ok(ok)), ("ok", "4 new papers".into()));
        let mut failed = outcome("arxiv");
        failed.error = Some("timed out".into());
        failed.new_papers = 0;
        let mut silent = outcome("hf");
        silent.silent = true;
        silent.new_papers = 0;
        silent.skipped = 2;
        silent.unreadable_dates = 1;
        let partial = FetchSummary {
            sources: vec![silent, failed],
        };
        assert_eq!(
            run_outcome(&Ok(partial)),
            (
                "partial",
                "0 new papers, 1 sources failed; warning: no papers from hf on a day they \
                 announce; hf: 2 skipped, 1 unreadable date"
                    .into()
            )
        );
        let err = anyhow::anyhow!("locked").context("reading validators");
        assert_eq!(
            run_outcome(&Err(err)),
            ("failed", "reading validators: locked".into())
        );
    }

    #[test]
    fn the_days_recounted_are_those_of_changed_papers_and_both_days_of_a_moved_one() {
        let d = |s: &str| -> NaiveDate { s.parse().unwrap() };
        let id = |s: &str| PaperId::from_stored(s.to_string());
        let ids = [id("new"), id("same"), id("moved"), id("updated")];
        let before: HashMap<PaperId, NaiveDate> = [
            (id("same"), d("2026-06-01")),
            (id("moved"), d("2026-06-05")),
            (id("updated"), d("2026-05-01")),
        ]
        .into();
        let mut after = before.clone();
        after.insert(id("new"), d("2026-06-12"));
        after.insert(id("moved"), d("2026-06-02"));
        let days = touched_days(&ids, &before, &after, &[id("new"), id("updated")]);
        assert_eq!(
            days.into_iter().collect::<Vec<_>>(),
            vec![
                d("2026-05-01"),
                d("2026-06-02"),
                d("2026-06-05"),
                d("2026-06-12")
            ]
        );
    }

    #[tokio::test]
    async fn an_unknown_source_fails_the_run_naming_the_configured_ones_and_is_recorded() {
        let (store, _dir) = test_store().await;
        let job = FetchJob::new(store.clone(), Vec::new());
        let day: NaiveDate = "2026-06-12".parse().unwrap();
        let err = job.run(&[day], Some("arxiv")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "no source named \"arxiv\"; configured sources: "
        );
        let run = store.last_run(RunKind::Fetch).await.unwrap().unwrap();
        assert_eq!(run.target_date, day);
        assert_eq!(run.outcome.as_deref(), Some("failed"));
    }
}
