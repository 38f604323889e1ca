//! Ranking's data kept up to date as papers arrive: the document
//! frequencies of the last [`WINDOW_DAYS`] days, summed in memory and
//! shared by the fetch, the digest run and the web pages, and the paper
//! vectors stored at fetch time (computed and stored on first use for a
//! paper that has none, so an instance upgraded with papers already stored
//! ranks at once).
//!
//! The store keeps one row per announced day (`ranking_df_days`, a
//! [`DayDf`] blob with a revision); [`Frequencies`] holds the sum of the
//! rows of the window and the revision of each row it counted. A fetch
//! recounts the days it touched, replaces their rows and adjusts the sum
//! with `remove_day` (the old row's blob) and `add_day`; reading the sum
//! ([`Frequencies::current`]) first compares the counted revisions with
//! the stored ones (one small query): days that left the window are
//! removed, new days added, and a day another process rewrote makes the
//! sum be rebuilt from the rows. So several daemons sharing one database,
//! or a `paperboy fetch` next to a daemon, agree with the store.
//!
//! A dry run reads through [`Frequencies::in_memory`]: what is missing
//! (a day's counts, a paper's vector, a subscriber's profile) is computed
//! for that run and never stored, so a dry run writes nothing.
//!
//! Logs counts and days, never who marked what.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::domain::{Paper, PaperId};
use crate::ranking::{DayDf, DocumentFrequencies, Features, PaperVector, TermCounts};
use crate::store::{DbError, DbResult, Store};

/// How many days the document frequencies cover.
pub const WINDOW_DAYS: u32 = 365;

/// Papers read per statement when backfilling vectors.
const BACKFILL_PAGE: i64 = 500;

/// The window's document frequencies, shared by clones (one per process,
/// made by `App`; a one-shot command makes its own, read from the store on
/// first use).
#[derive(Clone, Default)]
pub struct Frequencies {
    inner: Arc<tokio::sync::Mutex<Counted>>,
    computed: Computed,
}

/// What becomes of ranking data a reader finds missing and computes: a
/// window day's document frequencies, a paper's vector, a subscriber's
/// profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Computed {
    /// Stored, so the next reader finds it.
    #[default]
    Stored,
    /// Kept for this reader only: nothing is written (a dry run).
    InMemory,
}

impl std::fmt::Debug for Frequencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Frequencies")
    }
}

/// The sum and the stored revision of each day it counts.
struct Counted {
    df: Arc<DocumentFrequencies>,
    revisions: BTreeMap<NaiveDate, i64>,
    loaded: bool,
}

impl Default for Counted {
    fn default() -> Self {
        Counted {
            df: Arc::new(DocumentFrequencies::new(WINDOW_DAYS)),
            revisions: BTreeMap::new(),
            loaded: false,
        }
    }
}

/// What recounting days did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recount {
    pub days: usize,
    pub papers: usize,
}

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(what.to_string())
}

fn decode_day(blob: &[u8], day: NaiveDate) -> DbResult<DayDf> {
    DayDf::decode(blob).map_err(|e| corrupt(format!("ranking_df_days {day}: {e}")))
}

/// The first day of a window ending on `today`.
fn window_start(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_days(Days::new(u64::from(WINDOW_DAYS) - 1))
        .unwrap_or(NaiveDate::MIN)
}

impl Frequencies {
    pub fn new() -> Self {
        Self::default()
    }

    /// The same sum, read by a run that must write nothing: missing days
    /// are counted for each read and never stored, and readers keep the
    /// vectors and profiles they compute in memory ([`Frequencies::computed`]).
    pub fn in_memory(&self) -> Self {
        Frequencies {
            inner: self.inner.clone(),
            computed: Computed::InMemory,
        }
    }

    /// Whether what readers compute through these frequencies is stored.
    pub fn computed(&self) -> Computed {
        self.computed
    }

    /// The document frequencies of the window ending on `today`, brought up
    /// to date with the stored days first (see the module doc). In memory,
    /// the window's announced days without a stored row are counted in too.
    pub async fn current(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> DbResult<Arc<DocumentFrequencies>> {
        let df = self.stored(store, today).await?;
        if self.computed == Computed::Stored {
            return Ok(df);
        }
        let days = store.days_without_df(window_start(today), today).await?;
        if days.is_empty() {
            return Ok(df);
        }
        let mut df = (*df).clone();
        let features = Features::new();
        for d in days {
            let (_, _, day_df) = count_day(store, &features, d).await?;
            df.add_day(d, &day_df).map_err(corrupt)?;
        }
        Ok(Arc::new(df))
    }

    /// The sum of the stored rows of the window ending on `today`.
    async fn stored(&self, store: &Store, today: NaiveDate) -> DbResult<Arc<DocumentFrequencies>> {
        let mut counted = self.inner.lock().await;
        let stored: BTreeMap<NaiveDate, i64> = store
            .df_day_revisions(window_start(today), today)
            .await?
            .into_iter()
            .collect();
        if counted.loaded && stored == counted.revisions {
            return Ok(counted.df.clone());
        }
        let rewritten = stored
            .iter()
            .any(|(d, r)| counted.revisions.get(d).is_some_and(|c| c != r));
        if !counted.loaded || rewritten {
            *counted = rebuild(store, &stored).await?;
            return Ok(counted.df.clone());
        }
        let gone: Vec<NaiveDate> = counted
            .revisions
            .keys()
            .filter(|d| !stored.contains_key(d))
            .copied()
            .collect();
        let new: Vec<NaiveDate> = stored
            .keys()
            .filter(|d| !counted.revisions.contains_key(d))
            .copied()
            .collect();
        let old_rows = store.df_days(&gone).await?;
        let new_rows = store.df_days(&new).await?;
        let unchanged = old_rows.len() == gone.len()
            && old_rows
                .iter()
                .all(|r| counted.revisions.get(&r.day) == Some(&r.revision))
            && new_rows.len() == new.len();
        if !unchanged {
            // Rewritten or deleted between the two reads: count afresh.
            *counted = rebuild(store, &stored).await?;
            return Ok(counted.df.clone());
        }
        let c = &mut *counted;
        let df = Arc::make_mut(&mut c.df);
        for row in old_rows {
            df.remove_day(row.day, &decode_day(&row.blob, row.day)?)
                .map_err(corrupt)?;
            c.revisions.remove(&row.day);
        }
        for row in new_rows {
            df.add_day(row.day, &decode_day(&row.blob, row.day)?)
                .map_err(corrupt)?;
            c.revisions.insert(row.day, row.revision);
        }
        tracing::debug!(
            days.removed = gone.len(),
            days.added = new.len(),
            "document frequencies moved to the window"
        );
        Ok(c.df.clone())
    }

    /// Recounts each of `days` from the papers first announced on it,
    /// replaces its stored row, adjusts the sum, and stores the vectors of
    /// those papers (counts, weighted only when used, so they never need
    /// rewriting when the frequencies move).
    pub async fn recount_days(
        &self,
        store: &Store,
        days: &BTreeSet<NaiveDate>,
        now: DateTime<Utc>,
    ) -> DbResult<Recount> {
        let Some(&last) = days.last() else {
            return Ok(Recount::default());
        };
        // Loaded (and up to date) before it is adjusted below.
        self.current(store, last).await?;
        let features = Features::new();
        let mut recount = Recount::default();
        for &d in days {
            let (papers, counts, day_df) = count_day(store, &features, d).await?;
            let (old, revision) = store
                .replace_df_day(d, day_df.papers(), &day_df.encode(), now)
                .await?;
            let df = {
                let mut counted = self.inner.lock().await;
                let c = &mut *counted;
                let in_step = c.revisions.get(&d).copied() == old.as_ref().map(|o| o.revision);
                if in_step {
                    let df = Arc::make_mut(&mut c.df);
                    if let Some(old) = &old {
                        df.remove_day(d, &decode_day(&old.blob, d)?)
                            .map_err(corrupt)?;
                    }
                    df.add_day(d, &day_df).map_err(corrupt)?;
                    c.revisions.insert(d, revision);
                }
                // Otherwise the sum is behind the store: the next
                // `current` rebuilds it.
                c.df.clone()
            };
            let vectors: Vec<(PaperId, Vec<u8>)> = papers
                .iter()
                .zip(&counts)
                .map(|(p, c)| (p.id.clone(), PaperVector::new(c, &df).encode()))
                .collect();
            store.put_paper_vectors(&vectors).await?;
            recount.days += 1;
            recount.papers += papers.len();
        }
        Ok(recount)
    }

    /// Counts the announced days of the window ending on `today` that have
    /// no stored row, and stores a vector for every stored paper without
    /// one: what an instance upgraded with papers already stored needs
    /// once. Bounded by the window and the papers stored; logged with
    /// counts.
    pub async fn backfill(
        &self,
        store: &Store,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> DbResult<(Recount, usize)> {
        let days: BTreeSet<NaiveDate> = store
            .days_without_df(window_start(today), today)
            .await?
            .into_iter()
            .collect();
        let recount = self.recount_days(store, &days, now).await?;
        let df = self.current(store, today).await?;
        let features = Features::new();
        let mut vectors = 0;
        let mut after = String::new();
        loop {
            let papers = store.papers_without_vector(&after, BACKFILL_PAGE).await?;
            let Some(last) = papers.last() else { break };
            after = last.id.as_str().to_string();
            vectors += papers.len();
            store_vectors(store, &papers, &features, &df).await?;
        }
        if recount.days > 0 || vectors > 0 {
            tracing::info!(
                days.counted = recount.days,
                papers.counted = recount.papers,
                vectors.stored = vectors,
                "ranking data computed for papers stored before it was kept"
            );
        }
        Ok((recount, vectors))
    }
}

/// The papers first announced on `d`, their term counts and the day's
/// document frequencies.
async fn count_day(
    store: &Store,
    features: &Features,
    d: NaiveDate,
) -> DbResult<(Vec<Paper>, Vec<TermCounts>, DayDf)> {
    let papers = store.papers_first_announced(d).await?;
    let counts: Vec<TermCounts> = papers.iter().map(|p| features.counts(p)).collect();
    let day_df = DayDf::new(counts.iter());
    Ok((papers, counts, day_df))
}

/// Computes and stores the vectors of `papers`; returns them in order.
pub(crate) async fn store_vectors(
    store: &Store,
    papers: &[Paper],
    features: &Features,
    df: &DocumentFrequencies,
) -> DbResult<Vec<PaperVector>> {
    let vectors: Vec<PaperVector> = papers
        .iter()
        .map(|p| PaperVector::new(&features.counts(p), df))
        .collect();
    let blobs: Vec<(PaperId, Vec<u8>)> = papers
        .iter()
        .zip(&vectors)
        .map(|(p, v)| (p.id.clone(), v.encode()))
        .collect();
    store.put_paper_vectors(&blobs).await?;
    Ok(vectors)
}

/// The stored vectors of `papers`, in order; a paper without one (stored
/// before vectors were kept, or in a format this build cannot read) gets
/// one computed, and stored unless `computed` says in memory.
pub(crate) async fn vectors_of(
    store: &Store,
    papers: &[Paper],
    features: &Features,
    df: &DocumentFrequencies,
    computed: Computed,
) -> DbResult<Vec<PaperVector>> {
    let ids: Vec<PaperId> = papers.iter().map(|p| p.id.clone()).collect();
    let stored = store.paper_vectors(&ids).await?;
    let mut out: Vec<Option<PaperVector>> = papers
        .iter()
        .map(|p| stored.get(&p.id).and_then(|b| PaperVector::decode(b).ok()))
        .collect();
    let missing: Vec<Paper> = papers
        .iter()
        .zip(&out)
        .filter(|(_, v)| v.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    if !missing.is_empty() {
        let vectors = match computed {
            Computed::Stored => store_vectors(store, &missing, features, df).await?,
            Computed::InMemory => missing
                .iter()
                .map(|p| PaperVector::new(&features.counts(p), df))
                .collect(),
        };
        let mut vectors: HashMap<&PaperId, PaperVector> =
            missing.iter().map(|p| &p.id).zip(vectors).collect();
        for (slot, p) in out.iter_mut().zip(papers) {
            if slot.is_none() {
                *slot = vectors.remove(&p.id);
            }
        }
        tracing::info!(
            vectors.computed = missing.len(),
            stored = computed == Computed::Stored,
            "paper vectors computed for papers that had none"
        );
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

/// The sum of `stored` days' rows, read afresh.
async fn rebuild(store: &Store, stored: &BTreeMap<NaiveDate, i64>) -> DbResult<Counted> {
    let days: Vec<NaiveDate> = stored.keys().copied().collect();
    let rows = store.df_days(&days).await?;
    let mut df = DocumentFrequencies::new(WINDOW_DAYS);
    let mut revisions = BTreeMap::new();
    for row in rows {
        df.add_day(row.day, &decode_day(&row.blob, row.day)?)
            .map_err(corrupt)?;
        revisions.insert(row.day, row.revision);
    }
    tracing::debug!(
        days = revisions.len(),
        papers = df.papers(),
        "document frequencies read from the store"
    );
    Ok(Counted {
        df: Arc::new(df),
        revisions,
        loaded: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FetchedPaper;
    use crate::store::test_store;

    fn fetched(id: &str, title: &str, d: NaiveDate) -> FetchedPaper {
        FetchedPaper {
            paper: Paper::new(
                PaperId::from_stored(id.into()),
                title,
                "An abstract about surface codes and decoders.",
                "https://arxiv.org/abs/x",
            ),
            day: d,
            announce_type: None,
        }
    }

    /// Papers 1 and 2, announced on `d`.
    async fn two_papers(store: &Store, d: NaiveDate, now: DateTime<Utc>) {
        let papers = [
            fetched("1", "Surface codes", d),
            fetched("2", "Fast decoders", d),
        ];
        store.store_fetched("a", &papers, now).await.unwrap();
    }

    /// What the sum must be: the stored papers counted from scratch, each
    /// on its first day, over the window ending on `today`.
    async fn recounted(store: &Store, days: &[NaiveDate], today: NaiveDate) -> DocumentFrequencies {
        let features = Features::new();
        let mut per_day = Vec::new();
        for &d in days.iter().filter(|&&d| d >= window_start(today)) {
            let papers = store.papers_first_announced(d).await.unwrap();
            let counts: Vec<_> = papers.iter().map(|p| features.counts(p)).collect();
            per_day.push((d, DayDf::new(counts.iter())));
        }
        DocumentFrequencies::recount(WINDOW_DAYS, per_day.iter().map(|(d, df)| (*d, df))).unwrap()
    }

    #[tokio::test]
    async fn the_sum_follows_recounts_other_processes_and_the_window_exactly() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let d1: NaiveDate = "2026-06-11".parse().unwrap();
        let d2: NaiveDate = "2026-06-12".parse().unwrap();
        let ours = Frequencies::new();
        let theirs = Frequencies::new();
        two_papers(&store, d1, now).await;
        let r = ours.recount_days(&store, &[d1].into(), now).await.unwrap();
        assert_eq!(r, Recount { days: 1, papers: 2 });
        assert_eq!(theirs.current(&store, d2).await.unwrap().papers(), 2);

        // More papers for d1 (and one seen again on d2: still d1's), and d2.
        store
            .store_fetched(
                "b",
                &[
                    fetched("3", "Diffusion models", d1),
                    fetched("1", "Surface codes", d2),
                    fetched("4", "Image generation", d2),
                ],
                now,
            )
            .await
            .unwrap();
        ours.recount_days(&store, &[d1, d2].into(), now)
            .await
            .unwrap();
        let expected = recounted(&store, &[d1, d2], d2).await;
        assert_eq!(expected.papers(), 4);
        assert_eq!(*ours.current(&store, d2).await.unwrap(), expected);
        // Another process's sum counted d1 at an older revision: rebuilt.
        assert_eq!(*theirs.current(&store, d2).await.unwrap(), expected);
        let ids: Vec<PaperId> = ["1", "2", "3", "4"]
            .iter()
            .map(|i| PaperId::from_stored(i.to_string()))
            .collect();
        assert_eq!(store.paper_vectors(&ids).await.unwrap().len(), 4);

        // A year later d1 has left the window, then d2.
        let later = d1 + Days::new(u64::from(WINDOW_DAYS));
        let expected = recounted(&store, &[d1, d2], later).await;
        assert_eq!(expected.papers(), 1, "paper 4 alone is d2's");
        assert_eq!(*ours.current(&store, later).await.unwrap(), expected);
        let gone = ours.current(&store, later + Days::new(1)).await.unwrap();
        assert_eq!(*gone, DocumentFrequencies::new(WINDOW_DAYS));
    }

    #[tokio::test]
    async fn a_backfill_counts_days_and_stores_vectors_once() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        two_papers(&store, d, now).await;
        let f = Frequencies::new();
        let (recount, vectors) = f.backfill(&store, d, now).await.unwrap();
        assert_eq!(recount, Recount { days: 1, papers: 2 });
        // The day's recount stored both vectors already.
        assert_eq!(vectors, 0);
        assert_eq!(f.current(&store, d).await.unwrap().papers(), 2);
        let (recount, vectors) = f.backfill(&store, d, now).await.unwrap();
        assert_eq!((recount, vectors), (Recount::default(), 0));
    }

    /// In memory, a day without a stored row is counted for the reader and
    /// a missing vector computed, and neither is stored: what a dry run
    /// reads is what a backfill would have stored.
    #[tokio::test]
    async fn in_memory_the_missing_days_and_vectors_are_computed_and_not_stored() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        two_papers(&store, d, now).await;
        let dry = Frequencies::new().in_memory();
        let df = dry.current(&store, d).await.unwrap();
        assert_eq!(*df, recounted(&store, &[d], d).await);
        let papers = store.papers_first_announced(d).await.unwrap();
        let ids: Vec<PaperId> = papers.iter().map(|p| p.id.clone()).collect();
        let features = Features::new();
        let computed = vectors_of(&store, &papers, &features, &df, dry.computed())
            .await
            .unwrap();
        assert!(store.df_day_revisions(d, d).await.unwrap().is_empty());
        assert!(store.paper_vectors(&ids).await.unwrap().is_empty());

        // The same figures a backfill stores.
        let stored = Frequencies::new();
        stored.backfill(&store, d, now).await.unwrap();
        assert_eq!(*stored.current(&store, d).await.unwrap(), *df);
        let read = vectors_of(&store, &papers, &features, &df, Computed::Stored)
            .await
            .unwrap();
        assert_eq!(read, computed);
    }
}
