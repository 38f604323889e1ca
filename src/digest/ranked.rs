//! Ranking a run's papers by each subscriber's marks: the window's paper
//! vectors (read from the store, where the fetch put them) weighted by the
//! document frequencies of the last year ([`super::frequencies`]), and per
//! subscriber with marks a [`SubscriberRanking`] that planning uses to
//! order their topic sections and pick their recommendations.
//!
//! The scoring itself is [`crate::ranking`]'s (pure); this file reads the
//! vectors and the stored profiles, and builds a profile when one is
//! missing (stored then, so the next run reads it) or when a mark changes
//! ([`profile_blob`], inside the mark's transaction). It must not log
//! marks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use super::frequencies::{vectors_of, Computed, Frequencies};
use crate::domain::{Paper, PaperId, SubscriberId};
use crate::ranking::{
    reason, Day, DocumentFrequencies, Features, Less, Mark, Marked, PaperVector, Profile, Ranking,
    Weighted, Weighting, LIKE_THRESHOLD,
};
use crate::store::{DbResult, MarkVector, RankingMarks, Store};

/// A stored profile is weighted under the frequencies of the day it was
/// built (its last mark); one built longer ago than this is built again
/// from the marks when a run reads it, so its weights follow the window.
pub const PROFILE_MAX_AGE_DAYS: i64 = 30;

/// A marked paper's vector and title, for profiles and reasons.
struct MarkedPaper {
    vector: PaperVector,
    weighted: Weighted,
    title: String,
}

/// The window's papers as ranking sees them. Indexes are the window's.
pub struct RankedWindow {
    features: Features,
    df: Arc<DocumentFrequencies>,
    day: Day,
    vectors: Vec<PaperVector>,
    titles: Vec<String>,
    index: HashMap<PaperId, usize>,
    /// Marked papers outside the window, read once per run.
    outside: HashMap<PaperId, Option<MarkedPaper>>,
    /// The window's papers each paper marked "less" sinks
    /// ([`Day::near`]), computed once per run for every subscriber who
    /// marked it.
    near: HashMap<PaperId, Arc<[u32]>>,
    /// Whether vectors and profiles computed here are stored.
    computed: Computed,
}

/// The [`RankedWindow`] of a set of papers kept for many requests (the web
/// pages' `like:` searches and previews): read as the digest run reads
/// its own, and read again only when the document frequencies moved (a
/// fetch recounted a day, or the window moved on a day).
#[derive(Default)]
pub struct KeptWindow {
    held: tokio::sync::Mutex<Option<Arc<RankedWindow>>>,
}

impl KeptWindow {
    /// The window of `papers` (the same papers every call) under the
    /// document frequencies of the year ending on `today`.
    pub async fn get(
        &self,
        store: &Store,
        frequencies: &Frequencies,
        papers: &[Paper],
        today: NaiveDate,
    ) -> DbResult<Arc<RankedWindow>> {
        let df = frequencies.current(store, today).await?;
        let mut held = self.held.lock().await;
        if let Some(w) = held.as_ref().filter(|w| Arc::ptr_eq(&w.df, &df)) {
            return Ok(w.clone());
        }
        let features = Features::new();
        let computed = frequencies.computed();
        let vectors = vectors_of(store, papers, &features, &df, computed).await?;
        let (ids, titles) = ids_and_titles(papers);
        // Weighing and indexing a month of papers takes a moment: on a
        // blocking thread, so the runtime's workers keep answering.
        let w = tokio::task::spawn_blocking(move || {
            RankedWindow::of(features, df, ids, titles, vectors, computed)
        })
        .await
        .unwrap_or_else(|e| match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("weighing a window's papers: {e}"),
        });
        let w = Arc::new(w);
        *held = Some(w.clone());
        Ok(w)
    }
}

/// The ids and titles of `papers`, in order.
fn ids_and_titles(papers: &[Paper]) -> (Vec<PaperId>, Vec<String>) {
    papers
        .iter()
        .map(|p| (p.id.clone(), p.title.clone()))
        .unzip()
}

/// One subscriber's ranking of the window: scores and standings, their
/// "more" papers (for reasons) and whether they want recommendations.
pub struct SubscriberRanking {
    pub ranking: Ranking,
    /// The stored papers they marked "more".
    more: Vec<PaperId>,
    pub recommendations: bool,
}

impl SubscriberRanking {
    /// Why window paper `paper` is recommended: "like ‘TITLE’, which you
    /// marked", naming the "more" paper it is closest to.
    pub fn reason(&self, window: &RankedWindow, paper: usize) -> Option<String> {
        let marked: Vec<(&str, &Weighted)> = self
            .more
            .iter()
            .filter_map(|id| window.marked(id))
            .collect();
        let vectors: Vec<&Weighted> = marked.iter().map(|&(_, w)| w).collect();
        let (i, _) = reason(window.day.vector(paper), &vectors)?;
        Some(format!("like ‘{}’, which you marked", marked[i].0))
    }
}

/// The profile blob of a subscriber's marks (their papers' stored
/// vectors) under `df`: what the transaction recording or removing a mark
/// stores, and what a run builds when a profile is missing. Marks whose
/// paper has no readable vector are left out; `None` when none is left.
pub fn profile_blob(marks: &[MarkVector], df: &DocumentFrequencies) -> Option<Vec<u8>> {
    let vectors: Vec<(&PaperId, Mark, PaperVector)> = marks
        .iter()
        .filter_map(|m| {
            let v = PaperVector::decode(m.vector.as_deref()?).ok()?;
            Some((&m.paper, m.mark, v))
        })
        .collect();
    build_blob(vectors.iter().map(|(p, m, v)| (*p, *m, v)), df)
}

/// The encoded profile of marked papers with their vectors.
fn build_blob<'a>(
    marks: impl Iterator<Item = (&'a PaperId, Mark, &'a PaperVector)>,
    df: &DocumentFrequencies,
) -> Option<Vec<u8>> {
    let marked: Vec<Marked> = marks
        .map(|(paper, mark, vector)| Marked {
            paper,
            mark,
            vector,
        })
        .collect();
    Profile::build(&marked, df).map(|p| p.encode())
}

/// The papers an import's marks name, with their vectors under the
/// document frequencies of the window ending on the import's day: each
/// imported subscriber's profile is built from them once, from all their
/// marks, as [`record_mark`] builds a marking subscriber's.
pub struct ImportVectors {
    df: Arc<DocumentFrequencies>,
    papers: Vec<PaperId>,
    vectors: Vec<PaperVector>,
}

impl ImportVectors {
    /// Reads the vectors of `papers` (computing and storing those missing,
    /// as a mark does); `Err` with the indexes of the papers that are not
    /// stored.
    pub async fn load(
        store: &Store,
        frequencies: &Frequencies,
        papers: &[PaperId],
        today: NaiveDate,
    ) -> DbResult<Result<ImportVectors, Vec<usize>>> {
        let found = store.papers_by_id(papers).await?;
        if found.len() < papers.len() {
            let stored: std::collections::HashSet<&PaperId> = found.iter().map(|p| &p.id).collect();
            let unknown = (0..papers.len())
                .filter(|&i| !stored.contains(&papers[i]))
                .collect();
            return Ok(Err(unknown));
        }
        let df = frequencies.current(store, today).await?;
        let vectors =
            vectors_of(store, &found, &Features::new(), &df, frequencies.computed()).await?;
        // `papers_by_id` keeps the order it was asked in.
        let papers = found.into_iter().map(|p| p.id).collect();
        Ok(Ok(ImportVectors {
            df,
            papers,
            vectors,
        }))
    }

    /// The profile blob of one subscriber's `marks` (indexes into the
    /// papers `load` was given).
    pub fn profile(&self, marks: &[(u32, Mark)]) -> Option<Vec<u8>> {
        let marked = marks.iter().map(|&(i, mark)| {
            let i = i as usize;
            (&self.papers[i], mark, &self.vectors[i])
        });
        build_blob(marked, &self.df)
    }
}

/// Records subscriber `id`'s `mark` on `paper` (`None`: removes their mark)
/// and rebuilds their stored profile in the same transaction, under the
/// document frequencies of the window ending on `today`. The marked papers'
/// vectors are stored first where missing. `NotFound` when the link
/// version is no longer theirs, or (marking) the paper is not stored.
#[allow(clippy::too_many_arguments)]
pub async fn record_mark(
    store: &Store,
    frequencies: &Frequencies,
    id: SubscriberId,
    link_version: i64,
    paper: &PaperId,
    mark: Option<Mark>,
    today: NaiveDate,
) -> DbResult<()> {
    let df = frequencies.current(store, today).await?;
    let mut ids = store.marked_without_vector(id).await?;
    ids.push(paper.clone());
    let papers = store.papers_by_id(&ids).await?;
    vectors_of(
        store,
        &papers,
        &Features::new(),
        &df,
        frequencies.computed(),
    )
    .await?;
    let build = move |marks: &[MarkVector]| profile_blob(marks, &df);
    let now = Utc::now();
    match mark {
        Some(mark) => {
            store
                .mark_paper(id, link_version, paper, mark, now, &build)
                .await
        }
        None => {
            store
                .unmark_paper(id, link_version, paper, now, &build)
                .await
        }
    }
}

impl RankedWindow {
    /// Vectors of `papers` (in their order) computed here, weighted by
    /// their own document frequencies, counted as one day `date`: what
    /// the tests compare the stored data with.
    #[cfg(test)]
    pub fn new(papers: &[Paper], date: NaiveDate) -> RankedWindow {
        let features = Features::new();
        let counts: Vec<_> = papers.iter().map(|p| features.counts(p)).collect();
        let mut df = DocumentFrequencies::new(365);
        // A fresh table takes any first day.
        let _ = df.add_day(date, &crate::ranking::DayDf::new(counts.iter()));
        let vectors: Vec<PaperVector> = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
        let (ids, titles) = ids_and_titles(papers);
        Self::of(
            features,
            Arc::new(df),
            ids,
            titles,
            vectors,
            Computed::Stored,
        )
    }

    /// The digest run's: the stored vectors of `papers` (in their order;
    /// computed for a paper without one, and stored unless `frequencies`
    /// keep what is computed in memory), weighted by the document
    /// frequencies of the year ending on `date`.
    pub async fn load(
        store: &Store,
        frequencies: &Frequencies,
        papers: &[Paper],
        date: NaiveDate,
    ) -> DbResult<RankedWindow> {
        let df = frequencies.current(store, date).await?;
        let features = Features::new();
        let computed = frequencies.computed();
        let vectors = vectors_of(store, papers, &features, &df, computed).await?;
        let (ids, titles) = ids_and_titles(papers);
        Ok(Self::of(features, df, ids, titles, vectors, computed))
    }

    /// The window of papers `ids` titled `titles`, with `vectors`, in
    /// that order.
    fn of(
        features: Features,
        df: Arc<DocumentFrequencies>,
        ids: Vec<PaperId>,
        titles: Vec<String>,
        vectors: Vec<PaperVector>,
        computed: Computed,
    ) -> RankedWindow {
        let day = Day::new(ids.iter().cloned().zip(&vectors), &df, Weighting::DEFAULT);
        RankedWindow {
            features,
            df,
            day,
            vectors,
            titles,
            index: ids.into_iter().enumerate().map(|(i, id)| (id, i)).collect(),
            outside: HashMap::new(),
            near: HashMap::new(),
            computed,
        }
    }

    /// The window's papers similar to `paper` (what `like:ID` matches, the
    /// paper being ID's): cosine at least [`LIKE_THRESHOLD`], most similar
    /// first; the paper itself when it is one of the window's.
    pub fn similar(&self, paper: &Paper) -> Vec<usize> {
        let own;
        let v = match self.index.get(&paper.id) {
            Some(&i) => self.day.vector(i),
            None => {
                let vector = PaperVector::new(&self.features.counts(paper), &self.df);
                own = Weighted::new(&vector, &self.df, Weighting::DEFAULT);
                &own
            }
        };
        self.day
            .similar(v, LIKE_THRESHOLD)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    }

    /// Reads (once per run) the marked papers of `marks` that are not in
    /// the window, with their stored vectors.
    async fn load_outside(&mut self, store: &Store, marked: Vec<PaperId>) -> DbResult<()> {
        let mut missing: Vec<PaperId> = marked
            .into_iter()
            .filter(|id| !self.index.contains_key(id) && !self.outside.contains_key(id))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let loaded = store.papers_by_id(&missing).await?;
        let vectors = vectors_of(store, &loaded, &self.features, &self.df, self.computed).await?;
        for (p, vector) in loaded.into_iter().zip(vectors) {
            let weighted = Weighted::new(&vector, &self.df, Weighting::DEFAULT);
            self.outside.insert(
                p.id.clone(),
                Some(MarkedPaper {
                    vector,
                    weighted,
                    title: p.title,
                }),
            );
        }
        for id in missing {
            self.outside.entry(id).or_insert(None);
        }
        Ok(())
    }

    /// The rankings of a page's subscribers with marks (see
    /// [`Store::ranking_marks_in_range`]), each by their stored profile; a
    /// subscriber without a readable one, or whose profile was built more
    /// than [`PROFILE_MAX_AGE_DAYS`] ago, gets one built from their marks
    /// under the run's frequencies (stored, unless the window keeps what
    /// it computes in memory).
    pub async fn rank_page(
        &mut self,
        store: &Store,
        page: HashMap<SubscriberId, RankingMarks>,
    ) -> DbResult<HashMap<SubscriberId, SubscriberRanking>> {
        let marked: Vec<PaperId> = page
            .values()
            .flat_map(|m| m.marks.iter().map(|(id, _)| id.clone()))
            .collect();
        self.load_outside(store, marked).await?;
        for marks in page.values() {
            for (id, mark) in &marks.marks {
                if *mark == Mark::Less && !self.near.contains_key(id) {
                    if let Some(v) = self.weighted(id) {
                        let near = self.day.near(v).into();
                        self.near.insert(id.clone(), near);
                    }
                }
            }
        }
        let (Some(&first), Some(&last)) = (page.keys().min(), page.keys().max()) else {
            return Ok(HashMap::new());
        };
        let built_since = Utc::now() - chrono::Duration::days(PROFILE_MAX_AGE_DAYS);
        let mut profiles = store
            .ranking_profiles_in_range(first, last, built_since)
            .await?;
        let mut out = HashMap::with_capacity(page.len());
        for (id, marks) in page {
            let stored = profiles.remove(&id).and_then(|b| Profile::decode(&b).ok());
            let profile = match stored {
                Some(p) => p,
                None => {
                    let built = self.build_profile(&marks);
                    if self.computed == Computed::Stored {
                        let blob = built.as_ref().map(Profile::encode);
                        store
                            .put_ranking_profile(id, blob.as_deref(), Utc::now())
                            .await?;
                    }
                    match built {
                        Some(p) => p,
                        None => continue,
                    }
                }
            };
            if let Some(r) = self.rank_with(&marks, &profile) {
                out.insert(id, r);
            }
        }
        Ok(out)
    }

    /// The title and weighted vector of a marked paper, in the window or
    /// read from outside it; `None` when it is not stored.
    fn marked(&self, id: &PaperId) -> Option<(&str, &Weighted)> {
        match self.index.get(id) {
            Some(&i) => Some((&self.titles[i], self.day.vector(i))),
            None => self
                .outside
                .get(id)
                .and_then(|p| p.as_ref())
                .map(|p| (p.title.as_str(), &p.weighted)),
        }
    }

    /// The weighted vector of a marked paper ([`RankedWindow::marked`]).
    fn weighted(&self, id: &PaperId) -> Option<&Weighted> {
        self.marked(id).map(|(_, w)| w)
    }

    /// The marked papers of `marks` that are stored: id, mark, vector,
    /// title and index in the window (if there).
    fn found<'a>(
        &'a self,
        marks: &'a RankingMarks,
    ) -> Vec<(&'a PaperId, Mark, &'a PaperVector, &'a str, Option<usize>)> {
        let mut found = Vec::new();
        for (id, mark) in &marks.marks {
            if let Some(&i) = self.index.get(id) {
                found.push((
                    id,
                    *mark,
                    &self.vectors[i],
                    self.titles[i].as_str(),
                    Some(i),
                ));
            } else if let Some(Some(p)) = self.outside.get(id) {
                found.push((id, *mark, &p.vector, p.title.as_str(), None));
            }
        }
        found
    }

    /// A profile built from `marks`; `None` when none of the marked papers
    /// is stored any more.
    fn build_profile(&self, marks: &RankingMarks) -> Option<Profile> {
        let found = self.found(marks);
        let marked: Vec<Marked> = found
            .iter()
            .map(|&(paper, mark, vector, _, _)| Marked {
                paper,
                mark,
                vector,
            })
            .collect();
        Profile::build(&marked, &self.df)
    }

    /// One subscriber's ranking from their marks, with a profile built from
    /// them; `None` when none of the marked papers is stored any more.
    pub fn rank(&self, marks: &RankingMarks) -> Option<SubscriberRanking> {
        let profile = self.build_profile(marks)?;
        self.rank_with(marks, &profile)
    }

    /// One subscriber's ranking by `profile`, their "less" papers removed
    /// or sinking their neighbours; `None` when none of the marked papers
    /// is stored any more.
    fn rank_with(&self, marks: &RankingMarks, profile: &Profile) -> Option<SubscriberRanking> {
        let found = self.found(marks);
        if found.is_empty() {
            return None;
        }
        // Each "less" paper's neighbours: known for every one of a page
        // `rank_page` ranks, computed here for a subscriber ranked alone.
        let near: Vec<(Option<usize>, Cow<'_, [u32]>)> = found
            .iter()
            .filter(|f| f.1 == Mark::Less)
            .filter_map(|&(id, ..)| {
                let near = match self.near.get(id) {
                    Some(near) => Cow::Borrowed(&**near),
                    None => Cow::Owned(self.day.near(self.weighted(id)?)),
                };
                Some((self.day.position(id), near))
            })
            .collect();
        let less: Vec<Less<'_>> = near
            .iter()
            .map(|(position, near)| Less {
                position: *position,
                near,
            })
            .collect();
        let ranking = self.day.rank_by(profile, &less);
        let more = found
            .iter()
            .filter(|f| f.1 == Mark::More)
            .map(|&(id, ..)| id.clone())
            .collect();
        Some(SubscriberRanking {
            ranking,
            more,
            recommendations: marks.recommendations,
        })
    }
}

/// A scene for the tests of every place `like:ID` is matched: papers on
/// which the stored frequencies of the year and the frequencies of one
/// day's papers alone disagree about what is similar.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeSet;

    use chrono::{Days, NaiveDate, Utc};

    use super::super::frequencies::Frequencies;
    use super::RankedWindow;
    use crate::domain::{FetchedPaper, Paper, PaperId};
    use crate::store::Store;

    /// The paper `like:` names in [`disagreeing_day`].
    pub(crate) const LIKED: &str = "2606.00001";

    fn fetched(id: &str, title: &str, day: NaiveDate) -> FetchedPaper {
        FetchedPaper {
            paper: Paper::new(
                PaperId::from_stored(id.into()),
                title,
                "",
                "https://arxiv.org/abs/x",
            ),
            day,
            announce_type: None,
        }
    }

    /// Stores twenty "Quantum" papers ten days before today and three
    /// papers today, two of which share the word, and counts both days.
    /// Returns today and the ids of today's papers similar to [`LIKED`]
    /// as a digest run of today finds them; asserts that one day's
    /// frequencies alone (where "quantum" is rare) find others.
    pub(crate) async fn disagreeing_day(store: &Store) -> (NaiveDate, BTreeSet<String>) {
        let now = Utc::now();
        let today = now.date_naive();
        let earlier = today - Days::new(10);
        let background: Vec<FetchedPaper> = (0..20)
            .map(|i| fetched(&format!("2605.{i:05}"), "Quantum", earlier))
            .collect();
        store.store_fetched("a", &background, now).await.unwrap();
        let day = [
            fetched(LIKED, "Quantum error decoders", today),
            fetched("2606.00002", "Quantum sensing spins", today),
            fetched("2606.00003", "Image diffusion samplers", today),
        ];
        store.store_fetched("a", &day, now).await.unwrap();
        let frequencies = Frequencies::new();
        frequencies
            .recount_days(store, &[earlier, today].into(), now)
            .await
            .unwrap();
        let papers: Vec<Paper> = day.into_iter().map(|f| f.paper).collect();
        let similar = |w: &RankedWindow| -> BTreeSet<String> {
            w.similar(&papers[0])
                .into_iter()
                .map(|i| papers[i].id.as_str().to_string())
                .collect()
        };
        let stored = RankedWindow::load(store, &frequencies, &papers, today)
            .await
            .unwrap();
        let expected = similar(&stored);
        assert_ne!(
            expected,
            similar(&RankedWindow::new(&papers, today)),
            "the day's frequencies alone find other papers"
        );
        (today, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FetchedPaper, SubscriberEmail};

    fn paper(id: &str, title: &str, abstract_text: &str) -> Paper {
        Paper::new(
            PaperId::from_stored(id.into()),
            title,
            abstract_text,
            "https://arxiv.org/abs/x",
        )
    }

    #[test]
    fn marks_rank_the_window_and_a_less_paper_is_removed() {
        let papers = four_papers();
        let date = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
        let w = RankedWindow::new(&papers, date);
        let marks = RankingMarks {
            marks: vec![
                (papers[0].id.clone(), Mark::More),
                (papers[2].id.clone(), Mark::Less),
            ],
            recommendations: true,
        };
        let r = w.rank(&marks).unwrap();
        let mut order = vec![3, 2, 1];
        r.ranking.order(&mut order, |_| None);
        assert_eq!(
            order,
            vec![1, 3],
            "the quantum paper first, the less one gone"
        );
        assert_eq!(
            r.reason(&w, 1).as_deref(),
            Some("like ‘Surface codes for quantum error correction’, which you marked")
        );
        let none = RankingMarks {
            marks: vec![(PaperId::from_stored("gone".into()), Mark::More)],
            recommendations: true,
        };
        assert!(w.rank(&none).is_none());
    }

    fn four_papers() -> Vec<Paper> {
        vec![
            paper(
                "1",
                "Surface codes for quantum error correction",
                "Decoding surface codes on quantum hardware.",
            ),
            paper(
                "2",
                "A fast decoder for quantum surface codes",
                "Quantum error correction with surface code decoders.",
            ),
            paper(
                "3",
                "Diffusion models for image generation",
                "Diffusion models generate images.",
            ),
            paper(
                "4",
                "Faster diffusion sampling for images",
                "Distilled diffusion image generation.",
            ),
        ]
    }

    /// [`four_papers`] stored and counted on their day, and a subscriber
    /// without marks (with their link version).
    async fn one_reader(store: &Store) -> (Frequencies, NaiveDate, Vec<Paper>, SubscriberId, i64) {
        let now = Utc::now();
        let date = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
        let papers = four_papers();
        let fetched: Vec<FetchedPaper> = papers
            .iter()
            .map(|p| FetchedPaper {
                paper: p.clone(),
                day: date,
                announce_type: None,
            })
            .collect();
        store.store_fetched("test", &fetched, now).await.unwrap();
        let frequencies = Frequencies::new();
        frequencies
            .recount_days(store, &[date].into(), now)
            .await
            .unwrap();
        let email = SubscriberEmail::parse("ada@example.org").unwrap();
        let id = store.upsert_active(&email, &[], now).await.unwrap().id();
        let version = store.subscriber_by_id(id).await.unwrap().link_version;
        (frequencies, date, papers, id, version)
    }

    /// Every stored profile, however old.
    async fn stored_profiles(store: &Store, id: SubscriberId) -> HashMap<SubscriberId, Vec<u8>> {
        store
            .ranking_profiles_in_range(id, id, chrono::DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap()
    }

    /// A profile built long ago is built again from the marks when a run
    /// reads it, under the run's frequencies, and stored; a recent one is
    /// used as stored.
    #[tokio::test]
    async fn a_profile_built_more_than_thirty_days_ago_is_built_again_by_the_run() {
        let (store, _dir) = crate::store::test_store().await;
        let (frequencies, date, papers, id, version) = one_reader(&store).await;
        record_mark(
            &store,
            &frequencies,
            id,
            version,
            &papers[0].id,
            Some(Mark::More),
            date,
        )
        .await
        .unwrap();
        let mut window = RankedWindow::load(&store, &frequencies, &papers, date)
            .await
            .unwrap();
        let page = store.ranking_marks_in_range(id, id).await.unwrap();
        let current = window.build_profile(&page[&id]).unwrap();
        // A profile unlike the one the marks give now (the diffusion paper's).
        let other = RankingMarks {
            marks: vec![(papers[2].id.clone(), Mark::More)],
            recommendations: true,
        };
        let other = window.build_profile(&other).unwrap().encode();
        for (age, rebuilt) in [(29, false), (31, true)] {
            let built = Utc::now() - chrono::Duration::days(age);
            store
                .put_ranking_profile(id, Some(&other), built)
                .await
                .unwrap();
            let r = window.rank_page(&store, page.clone()).await.unwrap();
            let mut order = vec![3, 2, 1, 0];
            r[&id].ranking.order(&mut order, |_| None);
            let stored = Profile::decode(&stored_profiles(&store, id).await[&id]).unwrap();
            if rebuilt {
                assert_eq!(stored, current, "{age} days old: built again and stored");
                assert_eq!(order[..2], [0, 1], "the quantum papers first");
            } else {
                assert_eq!(stored.encode(), other, "{age} days old: used as stored");
                assert_eq!(order[..2], [2, 3], "the diffusion papers first");
            }
        }
    }

    /// The run reads what the fetch and the marks stored, and ranks as it
    /// did when it computed everything from the window itself.
    #[tokio::test]
    async fn stored_vectors_and_the_profile_a_mark_stored_rank_as_computing_them_did() {
        let (store, _dir) = crate::store::test_store().await;
        let (frequencies, date, papers, id, version) = one_reader(&store).await;
        for (paper, mark) in [(&papers[0].id, Mark::More), (&papers[2].id, Mark::Less)] {
            record_mark(&store, &frequencies, id, version, paper, Some(mark), date)
                .await
                .unwrap();
        }
        let page = store.ranking_marks_in_range(id, id).await.unwrap();
        let marks = page[&id].clone();

        let mut stored = RankedWindow::load(&store, &frequencies, &papers, date)
            .await
            .unwrap();
        let computed = RankedWindow::new(&papers, date);
        let profiles = stored_profiles(&store, id).await;
        assert_eq!(
            Profile::decode(&profiles[&id]).unwrap(),
            computed.build_profile(&marks).unwrap(),
            "the mark stored the profile the window's own data gives"
        );
        let from_store = stored
            .rank_page(&store, page)
            .await
            .unwrap()
            .remove(&id)
            .unwrap();
        let from_window = computed.rank(&marks).unwrap();
        for i in 0..papers.len() {
            assert_eq!(from_store.ranking.score(i), from_window.ranking.score(i));
            assert_eq!(
                from_store.ranking.standing(i),
                from_window.ranking.standing(i)
            );
        }
        let mut order = vec![3, 2, 1, 0];
        from_store.ranking.order(&mut order, |_| None);
        assert_eq!(
            order,
            vec![0, 1, 3],
            "the quantum papers first, the less one gone"
        );

        // Removing the "less" mark rebuilds the stored profile with it gone.
        record_mark(&store, &frequencies, id, version, &papers[2].id, None, date)
            .await
            .unwrap();
        let only_more = RankingMarks {
            marks: vec![(papers[0].id.clone(), Mark::More)],
            recommendations: true,
        };
        let profiles = stored_profiles(&store, id).await;
        assert_eq!(
            Profile::decode(&profiles[&id]).unwrap(),
            computed.build_profile(&only_more).unwrap()
        );
    }
}
