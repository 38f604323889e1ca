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

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use super::frequencies::{vectors_of, Frequencies};
use crate::domain::{Paper, PaperId, SubscriberId};
use crate::ranking::{
    reason, Day, DayDf, DocumentFrequencies, Features, Mark, Marked, PaperVector, Profile, Ranking,
    Weighted, Weighting, LIKE_THRESHOLD,
};
use crate::store::{DbResult, MarkVector, RankingMarks, Store};

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
}

/// One subscriber's ranking of the window: scores and standings, their
/// "more" papers (for reasons) and whether they want recommendations.
pub struct SubscriberRanking {
    pub ranking: Ranking,
    /// The "more" papers: title and weighted vector.
    more: Vec<(String, Weighted)>,
    pub recommendations: bool,
}

impl SubscriberRanking {
    /// Why window paper `paper` is recommended: "like ‘TITLE’, which you
    /// marked", naming the "more" paper it is closest to.
    pub fn reason(&self, window: &RankedWindow, paper: usize) -> Option<String> {
        let marked: Vec<&Weighted> = self.more.iter().map(|(_, w)| w).collect();
        let (i, _) = reason(window.day.vector(paper), &marked)?;
        Some(format!("like ‘{}’, which you marked", self.more[i].0))
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
        let vectors = vectors_of(store, &found, &Features::new(), &df).await?;
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
    vectors_of(store, &papers, &Features::new(), &df).await?;
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
    /// their own document frequencies, counted as one day `date`: for the
    /// web pages' `like:` previews over a few days of papers.
    pub fn new(papers: &[Paper], date: NaiveDate) -> RankedWindow {
        let features = Features::new();
        let counts: Vec<_> = papers.iter().map(|p| features.counts(p)).collect();
        let mut df = DocumentFrequencies::new(365);
        // A fresh table takes any first day.
        let _ = df.add_day(date, &DayDf::new(counts.iter()));
        let vectors: Vec<PaperVector> = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
        Self::of(features, Arc::new(df), papers, vectors)
    }

    /// The digest run's: the stored vectors of `papers` (in their order;
    /// computed and stored for a paper without one), weighted by the
    /// document frequencies of the year ending on `date`.
    pub async fn load(
        store: &Store,
        frequencies: &Frequencies,
        papers: &[Paper],
        date: NaiveDate,
    ) -> DbResult<RankedWindow> {
        let df = frequencies.current(store, date).await?;
        let features = Features::new();
        let vectors = vectors_of(store, papers, &features, &df).await?;
        Ok(Self::of(features, df, papers, vectors))
    }

    fn of(
        features: Features,
        df: Arc<DocumentFrequencies>,
        papers: &[Paper],
        vectors: Vec<PaperVector>,
    ) -> RankedWindow {
        let day = Day::new(
            papers.iter().map(|p| p.id.clone()).zip(&vectors),
            &df,
            Weighting::DEFAULT,
        );
        RankedWindow {
            features,
            df,
            day,
            vectors,
            titles: papers.iter().map(|p| p.title.clone()).collect(),
            index: papers
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), i))
                .collect(),
            outside: HashMap::new(),
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
        let vectors = vectors_of(store, &loaded, &self.features, &self.df).await?;
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
    /// subscriber without a readable one gets one built from their marks
    /// and stored.
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
        let (Some(&first), Some(&last)) = (page.keys().min(), page.keys().max()) else {
            return Ok(HashMap::new());
        };
        let mut profiles = store.ranking_profiles_in_range(first, last).await?;
        let mut out = HashMap::with_capacity(page.len());
        for (id, marks) in page {
            let stored = profiles.remove(&id).and_then(|b| Profile::decode(&b).ok());
            let profile = match stored {
                Some(p) => p,
                None => {
                    let built = self.build_profile(&marks);
                    let blob = built.as_ref().map(Profile::encode);
                    store
                        .put_ranking_profile(id, blob.as_deref(), Utc::now())
                        .await?;
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
        let weighted = |id: &PaperId, at: Option<usize>| -> Option<&Weighted> {
            match at {
                Some(i) => Some(self.day.vector(i)),
                None => self
                    .outside
                    .get(id)
                    .and_then(|p| p.as_ref())
                    .map(|p| &p.weighted),
            }
        };
        let less: Vec<(&PaperId, &Weighted)> = found
            .iter()
            .filter(|f| f.1 == Mark::Less)
            .filter_map(|&(id, _, _, _, at)| Some((id, weighted(id, at)?)))
            .collect();
        let ranking = self.day.rank(profile, &less);
        let more = found
            .iter()
            .filter(|f| f.1 == Mark::More)
            .map(|&(id, _, _, title, at)| {
                let w = weighted(id, at).cloned().unwrap_or_default();
                (title.to_string(), w)
            })
            .collect();
        Some(SubscriberRanking {
            ranking,
            more,
            recommendations: marks.recommendations,
        })
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

    /// The run reads what the fetch and the marks stored, and ranks as it
    /// did when it computed everything from the window itself.
    #[tokio::test]
    async fn stored_vectors_and_the_profile_a_mark_stored_rank_as_computing_them_did() {
        let (store, _dir) = crate::store::test_store().await;
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
            .recount_days(&store, &[date].into(), now)
            .await
            .unwrap();
        let email = SubscriberEmail::parse("ada@example.org").unwrap();
        let id = store.upsert_active(&email, &[], now).await.unwrap().id();
        let version = store.subscriber_by_id(id).await.unwrap().link_version;
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
        let profiles = store.ranking_profiles_in_range(id, id).await.unwrap();
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
        let profiles = store.ranking_profiles_in_range(id, id).await.unwrap();
        assert_eq!(
            Profile::decode(&profiles[&id]).unwrap(),
            computed.build_profile(&only_more).unwrap()
        );
    }
}
