//! Ranking a run's papers by each subscriber's marks: the paper vectors
//! and document frequencies of the run's window (computed once per run),
//! and per subscriber with marks a [`SubscriberRanking`] that planning
//! uses to order their topic sections and pick their recommendations.
//!
//! The scoring itself is [`crate::ranking`]'s (pure); this file only reads
//! the marked papers that are not in the window from the store and builds
//! each subscriber's profile from their marks. It must not log marks.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::domain::{Paper, PaperId, SubscriberId};
use crate::ranking::{
    reason, Day, DayDf, DocumentFrequencies, Features, Mark, Marked, PaperVector, Profile, Ranking,
    Weighted, Weighting, LIKE_THRESHOLD,
};
use crate::store::{RankingMarks, Store};

/// A marked paper's vector and title, for profiles and reasons.
struct MarkedPaper {
    vector: PaperVector,
    weighted: Weighted,
    title: String,
}

/// The window's papers as ranking sees them. Indexes are the window's.
pub struct RankedWindow {
    features: Features,
    df: DocumentFrequencies,
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

impl RankedWindow {
    /// Vectors of `papers` (the window, in its order), weighted by their
    /// own document frequencies, counted as one day `date`.
    pub fn new(papers: &[Paper], date: NaiveDate) -> RankedWindow {
        let features = Features::new();
        let counts: Vec<_> = papers.iter().map(|p| features.counts(p)).collect();
        let mut df = DocumentFrequencies::new(365);
        // A fresh table takes any first day.
        let _ = df.add_day(date, &DayDf::new(counts.iter()));
        let vectors: Vec<PaperVector> = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
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
    /// the window.
    async fn load_outside(&mut self, store: &Store, marked: Vec<PaperId>) -> anyhow::Result<()> {
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
        for p in loaded {
            let vector = PaperVector::new(&self.features.counts(&p), &self.df);
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
    /// [`Store::ranking_marks_in_range`]).
    pub async fn rank_page(
        &mut self,
        store: &Store,
        page: HashMap<SubscriberId, RankingMarks>,
    ) -> anyhow::Result<HashMap<SubscriberId, SubscriberRanking>> {
        let marked: Vec<PaperId> = page
            .values()
            .flat_map(|m| m.marks.iter().map(|(id, _)| id.clone()))
            .collect();
        self.load_outside(store, marked).await?;
        Ok(page
            .into_iter()
            .filter_map(|(id, marks)| Some((id, self.rank(&marks)?)))
            .collect())
    }

    /// One subscriber's ranking from their marks; `None` when none of the
    /// marked papers is stored any more.
    pub fn rank(&self, marks: &RankingMarks) -> Option<SubscriberRanking> {
        let mut found: Vec<(&PaperId, Mark, &PaperVector, &str, Option<usize>)> = Vec::new();
        for (id, mark) in &marks.marks {
            if let Some(&i) = self.index.get(id) {
                found.push((id, *mark, &self.vectors[i], &self.titles[i], Some(i)));
            } else if let Some(Some(p)) = self.outside.get(id) {
                found.push((id, *mark, &p.vector, &p.title, None));
            }
        }
        let marked: Vec<Marked> = found
            .iter()
            .map(|&(paper, mark, vector, _, _)| Marked {
                paper,
                mark,
                vector,
            })
            .collect();
        let profile = Profile::build(&marked, &self.df)?;
        let less: Vec<(&PaperId, &Weighted)> = found
            .iter()
            .filter(|f| f.1 == Mark::Less)
            .filter_map(|&(id, _, _, _, at)| match at {
                Some(i) => Some((id, self.day.vector(i))),
                None => self
                    .outside
                    .get(id)
                    .and_then(|p| p.as_ref())
                    .map(|p| (id, &p.weighted)),
            })
            .collect();
        let ranking = self.day.rank(&profile, &less);
        let more = found
            .iter()
            .filter(|f| f.1 == Mark::More)
            .map(|&(id, _, _, title, at)| {
                let w = match at {
                    Some(i) => self.day.vector(i).clone(),
                    None => self
                        .outside
                        .get(id)
                        .and_then(|p| p.as_ref())
                        .map(|p| p.weighted.clone())
                        .unwrap_or_default(),
                };
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
        let papers = vec![
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
        ];
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
}
