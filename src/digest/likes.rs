//! `like:ID` topics: finding the paper each one names, and telling a run's
//! matcher which of its papers are similar to it.
//!
//! A paper is looked up in the store by its canonical id; an arXiv id that
//! is not stored is asked of the arXiv API once ([`ArxivLookup`], arXiv's
//! politeness rules) and the paper stored without any sighting, so the
//! next lookup finds it locally and no digest carries it as news. An id
//! arXiv does not know is remembered for the process, so it is asked once.
//! What "similar" means is [`crate::ranking`]'s (`Day::similar` at
//! [`crate::ranking::LIKE_THRESHOLD`]), on the run's vectors
//! ([`RankedWindow`]). Logs ids of papers, never who asked.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::ranked::RankedWindow;
use crate::domain::{ArxivId, Paper, PaperId};
use crate::matching::{Matcher, Query, QueryError};
use crate::sources::arxiv_api::ArxivLookup;
use crate::store::Store;

/// The most ids arXiv said it does not know, remembered so each is asked
/// once (a bound, so made-up ids cannot grow the process without end).
const MAX_UNKNOWN: usize = 10_000;

/// Finds the papers `like:` terms name. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LikeLookup {
    store: Store,
    /// `None`: the store only (no network).
    arxiv: Option<ArxivLookup>,
    unknown: Arc<Mutex<HashSet<String>>>,
    /// Whether a paper fetched from arXiv is stored (not by a dry run).
    store_fetched: bool,
}

impl LikeLookup {
    pub fn new(store: Store, arxiv: Option<ArxivLookup>) -> LikeLookup {
        LikeLookup {
            store,
            arxiv,
            unknown: Arc::default(),
            store_fetched: true,
        }
    }

    /// The same lookup, which stores nothing: a paper fetched from arXiv
    /// is used, not stored (a dry run).
    pub fn without_storing(&self) -> LikeLookup {
        LikeLookup {
            store_fetched: false,
            ..self.clone()
        }
    }

    /// The paper with canonical id `id`: stored, or fetched from arXiv and
    /// stored. `Err` says why not, for a query error.
    pub async fn paper(&self, id: &str, now: DateTime<Utc>) -> Result<Paper, String> {
        let key = PaperId::from_stored(id.to_string());
        let stored = self
            .store
            .papers_by_id(std::slice::from_ref(&key))
            .await
            .map_err(|e| format!("like:{id}: the paper could not be read ({e})"))?;
        if let Some(p) = stored.into_iter().next() {
            return Ok(p);
        }
        let arxiv_id = match ArxivId::parse(id) {
            Ok(a) if !id.starts_with("feed:") => a,
            _ => return Err(format!("like:{id}: no stored paper has this id")),
        };
        let Some(arxiv) = &self.arxiv else {
            return Err(format!("like:{id}: the paper is not stored here"));
        };
        if self.is_unknown(id) {
            return Err(format!("like:{id}: arXiv has no paper with this id"));
        }
        match arxiv.paper(&arxiv_id, now.date_naive()).await {
            Ok(Some(p)) if !self.store_fetched => Ok(p),
            Ok(Some(p)) => {
                if let Err(e) = self.store.store_looked_up(&p, now).await {
                    tracing::warn!(paper.id = %p.id, error = %e, "could not store a paper looked up for like:");
                } else {
                    tracing::info!(paper.id = %p.id, "stored a paper looked up on arXiv for like:");
                }
                Ok(p)
            }
            Ok(None) => {
                let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
                if unknown.len() < MAX_UNKNOWN {
                    unknown.insert(id.to_string());
                }
                Err(format!("like:{id}: arXiv has no paper with this id"))
            }
            Err(e) => {
                tracing::warn!(paper.id = %id, error = %e, "arXiv lookup for like: failed");
                Err(format!(
                    "like:{id}: the paper is not stored here and arXiv could not be asked ({e}); try again later"
                ))
            }
        }
    }

    fn is_unknown(&self, id: &str) -> bool {
        self.unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// The papers the `like:` terms of topic text `text` name, in order,
    /// with their ids; the first that cannot be found is a query error at
    /// the column of its id. A text without `like:` costs nothing.
    pub async fn papers(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Paper)>, QueryError> {
        if !mentions_like(text) {
            return Ok(Vec::new());
        }
        let mut out: Vec<(String, Paper)> = Vec::new();
        for (id, col) in Query::like_columns(text) {
            if out.iter().any(|(seen, _)| *seen == id) {
                continue;
            }
            match self.paper(&id, now).await {
                Ok(p) => out.push((id, p)),
                Err(message) => return Err(QueryError::at(col, message)),
            }
        }
        Ok(out)
    }

    /// Checks that every `like:` of `text` names a paper that can be found:
    /// what the forms and the CLI run after parsing a topic.
    pub async fn check(&self, text: &str, now: DateTime<Utc>) -> Result<(), QueryError> {
        self.papers(text, now).await.map(drop)
    }
}

/// Whether `text` may hold a `like:` term (any case): the cheap test that
/// keeps texts without one from being lexed again.
pub fn mentions_like(text: &str) -> bool {
    text.as_bytes()
        .windows(5)
        .any(|w| w.eq_ignore_ascii_case(b"like:"))
}

/// The ids of `like:` terms in `texts` that `matcher` does not know yet.
pub fn unknown_likes<'t>(
    texts: impl IntoIterator<Item = &'t str>,
    matcher: &Matcher,
) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for text in texts {
        if !mentions_like(text) {
            continue;
        }
        for (id, _) in Query::like_columns(text) {
            if !matcher.knows_like(&id) && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Resolves `ids` and tells `matcher` which papers of `window` each one
/// matches: the papers similar to the named paper. An id that cannot be
/// found matches nothing (logged, not an error: a stored topic must not
/// stop a run). Call it before compiling the texts that use them.
pub async fn register(
    lookup: &LikeLookup,
    ids: Vec<String>,
    matcher: &mut Matcher,
    window: &RankedWindow,
    now: DateTime<Utc>,
) {
    let found = resolve(lookup, ids, now).await;
    apply(matcher, found, window);
}

/// The papers `ids` name, `None` for one that cannot be found (logged).
pub async fn resolve(
    lookup: &LikeLookup,
    ids: Vec<String>,
    now: DateTime<Utc>,
) -> Vec<(String, Option<Paper>)> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        match lookup.paper(&id, now).await {
            Ok(paper) => found.push((id, Some(paper))),
            Err(message) => {
                tracing::warn!(paper.id = %id, reason = %message, "a like: paper was not found; the term matches nothing");
                found.push((id, None));
            }
        }
    }
    found
}

/// Tells `matcher` which papers of `window` each resolved `like:` id
/// matches (none for a paper that was not found).
pub fn apply(matcher: &mut Matcher, found: Vec<(String, Option<Paper>)>, window: &RankedWindow) {
    for (id, paper) in found {
        match paper {
            Some(paper) => matcher.set_like(&id, &paper.title, window.similar(&paper)),
            None => matcher.set_like(&id, "", []),
        }
    }
}
