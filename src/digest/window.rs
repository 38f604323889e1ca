//! The papers a digest can carry: those announced on its date and the days
//! before it, in mail order (most upvoted first), with the matcher that
//! indexes them and lookups by id.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{Duration, NaiveDate};

use super::frequencies::Frequencies;
use super::plan;
use super::ranked::RankedWindow;
use crate::domain::{Paper, PaperId};
use crate::matching::Matcher;
use crate::store::{DbResult, Store};

/// How far back a weekly digest looks (the ledger keeps out what an
/// earlier digest already carried).
pub(crate) const WEEK_DAYS: i64 = 7;

/// A window of papers for one run.
pub(crate) struct Window {
    /// In mail order; a plan's paper indexes point here.
    pub papers: Vec<Paper>,
    /// The same papers, shared by the jobs: one copy of each per run.
    pub shared: Vec<Arc<Paper>>,
    pub matcher: Matcher,
    pub ids: Vec<PaperId>,
    pub index: HashMap<PaperId, usize>,
    /// The papers' vectors for ranking, made when a subscriber with marks
    /// is first planned against the window.
    pub ranked: Option<RankedWindow>,
}

impl Window {
    /// The window of `papers`, in any order.
    pub fn new(mut papers: Vec<Paper>) -> Window {
        plan::sort_for_mail(&mut papers);
        let matcher = Matcher::new(&papers);
        let ids: Vec<PaperId> = papers.iter().map(|p| p.id.clone()).collect();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Window {
            shared: papers.iter().cloned().map(Arc::new).collect(),
            papers,
            matcher,
            ids,
            index,
            ranked: None,
        }
    }

    /// The window's [`RankedWindow`], read on first use (`date`: the run's).
    pub async fn ranked(
        &mut self,
        store: &Store,
        frequencies: &Frequencies,
        date: NaiveDate,
    ) -> DbResult<&mut RankedWindow> {
        if self.ranked.is_none() {
            self.ranked = Some(RankedWindow::load(store, frequencies, &self.papers, date).await?);
        }
        Ok(self.ranked.as_mut().expect("read just above"))
    }

    /// The papers of `date` and the `days` before it.
    pub async fn load(store: &Store, date: NaiveDate, days: i64) -> anyhow::Result<Window> {
        let papers = store
            .papers_between(date - Duration::days(days), date)
            .await
            .with_context(|| format!("loading the papers of {date} and {days} days before"))?;
        Ok(Window::new(papers))
    }
}
