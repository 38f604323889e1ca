//! Scoring a day's papers for one subscriber: the day's weighted vectors in
//! an inverted index (term → papers), each profile scored against all of
//! them in one pass over its terms' postings, then the orderings the digest
//! needs: within a topic section, "Recommended for you" with its reasons,
//! and `like:ID` similarity.
//!
//! Paper indices are positions in the slice the [`Day`] was built from,
//! which is meant to be the same slice the matcher indexed, so an index
//! means the same paper to both. Pure: no I/O; every ordering breaks ties
//! by index, so the same inputs always give the same order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::df::DocumentFrequencies;
use super::profile::Profile;
use super::vector::{PaperVector, Weighted, Weighting};
use crate::domain::PaperId;

/// A paper whose cosine with a paper marked "less" is at least this sinks
/// below every paper that is not (measured in `docs/RANKING.md`: pairs of
/// papers from one arXiv category rarely reach it, near-duplicates and
/// papers on one narrow question do).
pub const SINK_SIMILARITY: f32 = 0.2;

/// The least score (a cosine, for the default Rocchio profile) for a paper
/// outside every topic to be recommended (see `docs/RANKING.md`).
pub const RECOMMEND_THRESHOLD: f32 = 0.1;

/// The least cosine for `like:ID` to match a paper (see `docs/RANKING.md`).
pub const LIKE_THRESHOLD: f32 = 0.1;

/// The day's papers, weighted and indexed by term.
#[derive(Debug, Clone)]
pub struct Day {
    ids: Vec<PaperId>,
    /// Each id's index (the first, should an id repeat).
    by_id: HashMap<PaperId, usize>,
    vectors: Vec<Weighted>,
    /// Each term's postings as a range of `postings`: a hash lookup (one
    /// or two memory accesses) rather than a binary search through the
    /// day's ~75,000 terms, which measured as most of a subscriber's cost.
    index: HashMap<u32, (u32, u32), BuildHasherDefault<TermIdHasher>>,
    postings: Vec<(u32, f32)>,
}

/// Term ids are already hashes; one multiply spreads them over the
/// table's bits (SipHash would cost more than the lookup it serves).
#[derive(Default, Clone, Copy)]
struct TermIdHasher(u64);

impl Hasher for TermIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Where a paper stands for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Ranked by its score.
    Ranked,
    /// Very close to a paper marked "less": after every ranked paper.
    Sunk,
    /// Marked "less" itself: never shown again.
    Removed,
}

impl Day {
    /// Weighs and indexes the day's papers, in the matcher's order.
    pub fn new<'a>(
        papers: impl IntoIterator<Item = (PaperId, &'a PaperVector)>,
        df: &DocumentFrequencies,
        weighting: Weighting,
    ) -> Day {
        let (ids, vectors): (Vec<PaperId>, Vec<Weighted>) = papers
            .into_iter()
            .map(|(id, v)| (id, Weighted::new(v, df, weighting)))
            .unzip();
        let mut entries: Vec<(u32, u32, f32)> = Vec::new();
        for (p, v) in vectors.iter().enumerate() {
            for (&t, &w) in v.ids().iter().zip(v.weights()) {
                entries.push((t, p as u32, w));
            }
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut index: HashMap<u32, (u32, u32), BuildHasherDefault<TermIdHasher>> =
            HashMap::default();
        let mut postings = Vec::with_capacity(entries.len());
        for (i, &(t, p, w)) in entries.iter().enumerate() {
            index
                .entry(t)
                .and_modify(|r| r.1 = i as u32 + 1)
                .or_insert((i as u32, i as u32 + 1));
            postings.push((p, w));
        }
        let mut by_id = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            by_id.entry(id.clone()).or_insert(i);
        }
        Day {
            ids,
            by_id,
            vectors,
            index,
            postings,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn id(&self, paper: usize) -> &PaperId {
        &self.ids[paper]
    }

    /// The paper's weighted vector.
    pub fn vector(&self, paper: usize) -> &Weighted {
        &self.vectors[paper]
    }

    /// The index of the paper with this id, if it is one of the day's.
    pub fn position(&self, id: &PaperId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Adds `w × weight` to the score of every paper having each term of
    /// `terms`, in the order of `terms`.
    fn accumulate(&self, terms: impl Iterator<Item = (u32, f32)>, out: &mut [f32]) {
        for (t, w) in terms {
            if let Some(&(a, b)) = self.index.get(&t) {
                for &(p, x) in &self.postings[a as usize..b as usize] {
                    out[p as usize] += w * x;
                }
            }
        }
    }

    /// Every paper's score under `profile`, in `out` (resized to the day).
    pub fn scores(&self, profile: &Profile, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.len(), profile.bias());
        self.accumulate(profile.weights(), out);
    }

    /// Every paper's cosine with `v`, in `out` (resized to the day).
    pub fn cosines(&self, v: &Weighted, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.len(), 0.0);
        self.accumulate(
            v.ids().iter().copied().zip(v.weights().iter().copied()),
            out,
        );
    }

    /// The papers whose cosine with `v` is at least `threshold`, most
    /// similar first: what a `like:ID` atom matches, `v` being the paper
    /// ID's vector (which matches itself when it is one of the day's).
    pub fn similar(&self, v: &Weighted, threshold: f32) -> Vec<(usize, f32)> {
        let mut cos = Vec::new();
        self.cosines(v, &mut cos);
        let mut out: Vec<(usize, f32)> = cos
            .into_iter()
            .enumerate()
            .filter(|&(_, c)| c >= threshold && c > 0.0)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Scores the day for one subscriber: their profile, and the papers
    /// they marked "less" (ids and weighted vectors) to remove and sink by.
    pub fn rank(&self, profile: &Profile, less: &[(&PaperId, &Weighted)]) -> Ranking {
        let near: Vec<Vec<u32>> = less.iter().map(|(_, v)| self.near(v)).collect();
        let less: Vec<Less<'_>> = less
            .iter()
            .zip(&near)
            .map(|((id, _), near)| Less {
                position: self.position(id),
                near,
            })
            .collect();
        self.rank_by(profile, &less)
    }

    /// The papers a "less" paper of vector `v` sinks: those whose cosine
    /// with it is at least [`SINK_SIMILARITY`], by index. Depends on the
    /// paper alone, so a run computes it once per marked paper however
    /// many subscribers marked it.
    pub fn near(&self, v: &Weighted) -> Vec<u32> {
        let mut cos = Vec::new();
        self.cosines(v, &mut cos);
        cos.iter()
            .enumerate()
            .filter(|&(_, &c)| c >= SINK_SIMILARITY)
            .map(|(p, _)| p as u32)
            .collect()
    }

    /// [`Day::rank`] with each "less" paper's [`Day::near`] already known.
    pub fn rank_by(&self, profile: &Profile, less: &[Less<'_>]) -> Ranking {
        let mut scores = Vec::new();
        self.scores(profile, &mut scores);
        let mut standing = vec![Standing::Ranked; self.len()];
        for l in less {
            for &p in l.near {
                let s = &mut standing[p as usize];
                *s = (*s).max(Standing::Sunk);
            }
        }
        for l in less {
            if let Some(p) = l.position {
                standing[p] = Standing::Removed;
            }
        }
        Ranking { scores, standing }
    }
}

/// A paper the subscriber marked "less", as [`Day::rank_by`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Less<'a> {
    /// Its index, when it is one of the day's papers (it is removed).
    pub position: Option<usize>,
    /// The day's papers it sinks ([`Day::near`]).
    pub near: &'a [u32],
}

/// One subscriber's scores over a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    scores: Vec<f32>,
    standing: Vec<Standing>,
}

/// A paper recommended outside the subscriber's topics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    /// The day's paper.
    pub paper: usize,
    pub score: f32,
}

impl Ranking {
    pub fn score(&self, paper: usize) -> f32 {
        self.scores[paper]
    }

    pub fn standing(&self, paper: usize) -> Standing {
        self.standing[paper]
    }

    /// Orders a topic section's papers best first, before the digest's
    /// `max_papers` cap: papers marked "less" are dropped, papers close to
    /// them go last, the rest by score; equal scores by upvotes (none
    /// counts lowest), then by index.
    pub fn order(&self, section: &mut Vec<usize>, upvotes: impl Fn(usize) -> Option<i64>) {
        self.order_first(section, usize::MAX, upvotes);
    }

    /// [`Ranking::order`] keeping only the first `keep`: the same papers
    /// in the same order, without sorting those that would be cut.
    pub fn order_first(
        &self,
        section: &mut Vec<usize>,
        keep: usize,
        upvotes: impl Fn(usize) -> Option<i64>,
    ) {
        section.retain(|&p| self.standing[p] != Standing::Removed);
        let cmp = |&a: &usize, &b: &usize| {
            self.standing[a]
                .cmp(&self.standing[b])
                .then(self.scores[b].total_cmp(&self.scores[a]))
                .then(upvotes(b).cmp(&upvotes(a)))
                .then(a.cmp(&b))
        };
        if keep < section.len() {
            if keep == 0 {
                section.clear();
                return;
            }
            section.select_nth_unstable_by(keep - 1, cmp);
            section.truncate(keep);
        }
        section.sort_by(cmp);
    }

    /// "Recommended for you": among `candidates` (the day's papers that
    /// matched none of the subscriber's topics and were never sent to
    /// them), the best `limit` scoring at least `threshold`, best first;
    /// never a paper marked "less" or close to one.
    pub fn recommend(
        &self,
        candidates: impl IntoIterator<Item = usize>,
        limit: usize,
        threshold: f32,
    ) -> Vec<Recommendation> {
        let mut out: Vec<Recommendation> = candidates
            .into_iter()
            .filter(|&p| self.standing[p] == Standing::Ranked && self.scores[p] >= threshold)
            .map(|p| Recommendation {
                paper: p,
                score: self.scores[p],
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.paper.cmp(&b.paper))
                .then(Ordering::Equal)
        });
        out.dedup_by_key(|r| r.paper);
        out.truncate(limit);
        out
    }
}

/// Why a paper is recommended: of the papers the subscriber marked "more"
/// (`marked`), the one it is most similar to, as its position in `marked`
/// and the cosine ("like ‘TITLE’, which you marked"). Ties go to the
/// earlier mark; `None` when it shares no term with any of them.
pub fn reason(paper: &Weighted, marked: &[&Weighted]) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (i, m) in marked.iter().enumerate() {
        let c = paper.dot(m);
        if c > 0.0 && best.is_none_or(|(_, b)| c > b) {
            best = Some((i, c));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Paper;
    use crate::ranking::df::DayDf;
    use crate::ranking::profile::{Mark, Marked};
    use crate::ranking::terms::Features;
    use proptest::prelude::*;

    fn id(s: &str) -> PaperId {
        PaperId::from_stored(s.into())
    }

    struct Fixture {
        ids: Vec<PaperId>,
        vectors: Vec<PaperVector>,
        df: DocumentFrequencies,
    }

    fn fixture(texts: &[(&str, &str)]) -> Fixture {
        let f = Features::new();
        let ids: Vec<PaperId> = (0..texts.len()).map(|i| id(&format!("p{i}"))).collect();
        let counts: Vec<_> = texts
            .iter()
            .zip(&ids)
            .map(|((t, a), i)| f.counts(&Paper::new(i.clone(), t, a, "https://x")))
            .collect();
        let mut df = DocumentFrequencies::new(365);
        df.add_day(chrono::NaiveDate::MIN, &DayDf::new(counts.iter()))
            .unwrap();
        let vectors = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
        Fixture { ids, vectors, df }
    }

    impl Fixture {
        fn day(&self) -> Day {
            Day::new(
                self.ids.iter().cloned().zip(&self.vectors),
                &self.df,
                Weighting::DEFAULT,
            )
        }

        fn weighted(&self, i: usize) -> Weighted {
            Weighted::new(&self.vectors[i], &self.df, Weighting::DEFAULT)
        }

        fn profile(&self, marks: &[(usize, Mark)]) -> Profile {
            let marks: Vec<Marked> = marks
                .iter()
                .map(|&(i, mark)| Marked {
                    paper: &self.ids[i],
                    mark,
                    vector: &self.vectors[i],
                })
                .collect();
            Profile::build(&marks, &self.df).unwrap()
        }
    }

    const TEXTS: &[(&str, &str)] = &[
        (
            "Quantum error correction with surface codes",
            "We decode surface codes for fault-tolerant quantum computing.",
        ),
        (
            "Decoding surface codes on noisy quantum hardware",
            "A fast decoder for surface code quantum error correction.",
        ),
        (
            "Diffusion models for image generation",
            "We train diffusion models that generate images.",
        ),
        (
            "Faster sampling for image diffusion models",
            "Distillation makes diffusion image generation faster.",
        ),
        (
            "Reinforcement learning for robot manipulation",
            "Robots learn grasping policies with reinforcement learning.",
        ),
    ];

    #[test]
    fn a_section_is_ordered_by_the_profile_and_upvotes_break_ties() {
        let fx = fixture(TEXTS);
        let day = fx.day();
        let r = day.rank(&fx.profile(&[(0, Mark::More)]), &[]);
        let mut section = vec![4, 3, 1, 2];
        r.order(&mut section, |_| None);
        assert_eq!(section[0], 1, "the quantum paper first: {section:?}");
        // The image and robot papers share no term with the quantum
        // profile, so they tie on score; upvotes decide, none lowest, then
        // the index.
        for p in [2, 3, 4] {
            assert_eq!(r.score(p), 0.0, "paper {p}");
        }
        let upvotes = |p: usize| match p {
            2 => Some(3),
            3 => None,
            4 => Some(40),
            _ => Some(0),
        };
        let mut tied = vec![2, 3, 4];
        r.order(&mut tied, upvotes);
        assert_eq!(tied, vec![4, 2, 3]);
        // Score first: the quantum paper leads even with fewer upvotes.
        let mut all = vec![4, 3, 2, 1];
        r.order(&mut all, upvotes);
        assert_eq!(all, vec![1, 4, 2, 3]);
        // Equal scores and equal upvotes: by index, whatever the input order.
        let mut same = vec![4, 3, 2];
        r.order(&mut same, |_| Some(7));
        assert_eq!(same, vec![2, 3, 4]);
    }

    #[test]
    fn a_paper_marked_less_never_comes_back_and_its_neighbours_sink() {
        let fx = fixture(TEXTS);
        let day = fx.day();
        let profile = fx.profile(&[(0, Mark::More), (2, Mark::Less)]);
        let w2 = fx.weighted(2);
        let r = day.rank(&profile, &[(&fx.ids[2], &w2)]);
        assert_eq!(r.standing(2), Standing::Removed);
        assert_eq!(
            r.standing(3),
            Standing::Sunk,
            "cos {}",
            w2.dot(&fx.weighted(3))
        );
        assert_eq!(r.standing(4), Standing::Ranked);
        let mut section = vec![2, 3, 4];
        r.order(&mut section, |_| Some(100));
        assert_eq!(section, vec![4, 3]);
        assert!(r.recommend([2, 3, 4], 5, -1.0).iter().all(|x| x.paper == 4));
    }

    #[test]
    fn a_paper_marked_less_is_never_returned_however_well_it_scores() {
        let fx = fixture(TEXTS);
        let day = fx.day();
        // "More" on one quantum paper, "less" on the other: the second
        // shares most of its words with the profile, yet never comes back.
        let profile = fx.profile(&[(0, Mark::More), (1, Mark::Less)]);
        let w1 = fx.weighted(1);
        let r = day.rank(&profile, &[(&fx.ids[1], &w1)]);
        assert_eq!(r.standing(1), Standing::Removed);
        let mut section: Vec<usize> = (0..5).collect();
        r.order(&mut section, |_| Some(1_000));
        assert!(!section.contains(&1), "{section:?}");
        assert_eq!(section.len(), 4);
        assert!(r.recommend(0..5, 5, -1.0).iter().all(|x| x.paper != 1));
        // A "less" paper that is not one of the day's removes nothing.
        let r = day.rank(&profile, &[(&id("elsewhere"), &w1)]);
        assert_eq!(r.standing(1), Standing::Sunk);
    }

    #[test]
    fn recommendations_respect_the_threshold_and_limit_and_carry_a_reason() {
        let fx = fixture(TEXTS);
        let day = fx.day();
        let r = day.rank(&fx.profile(&[(0, Mark::More), (2, Mark::More)]), &[]);
        let recs = r.recommend([1, 3, 4], 5, RECOMMEND_THRESHOLD);
        let papers: Vec<usize> = recs.iter().map(|x| x.paper).collect();
        assert!(papers.contains(&1) && papers.contains(&3), "{recs:?}");
        assert!(!papers.contains(&4));
        assert_eq!(r.recommend([1, 3, 4], 1, RECOMMEND_THRESHOLD).len(), 1);
        let (w0, w2) = (fx.weighted(0), fx.weighted(2));
        let marked = [&w0, &w2];
        assert_eq!(reason(day.vector(3), &marked).map(|r| r.0), Some(1));
        assert_eq!(reason(day.vector(1), &marked).map(|r| r.0), Some(0));
        assert_eq!(reason(&Weighted::default(), &marked), None);
    }

    #[test]
    fn like_finds_the_papers_on_the_same_subject() {
        let fx = fixture(TEXTS);
        let day = fx.day();
        let like = day.similar(&fx.weighted(2), LIKE_THRESHOLD);
        let papers: Vec<usize> = like.iter().map(|x| x.0).collect();
        assert_eq!(papers, vec![2, 3]);
        assert!(like[0].1 > 0.99);
    }

    const WORDS: &[&str] = &[
        "graph",
        "neural",
        "network",
        "quantum",
        "spin",
        "lattice",
        "protein",
        "fold",
        "image",
        "diffusion",
        "robot",
        "policy",
        "language",
        "model",
        "proof",
        "theorem",
        "galaxy",
        "cluster",
        "sparse",
        "attention",
    ];

    fn arb_texts() -> impl Strategy<Value = Vec<(String, String)>> {
        let text = |n| {
            proptest::collection::vec(proptest::sample::select(WORDS), n).prop_map(|w| w.join(" "))
        };
        proptest::collection::vec((text(1..6), text(0..25)), 2..15)
    }

    proptest! {
        /// Marking one paper makes it the best-scoring paper of the day
        /// (tied only by a paper with the same words), and scoring is
        /// deterministic.
        #[test]
        fn a_paper_scores_highest_against_itself(texts in arb_texts(), pick in any::<prop::sample::Index>()) {
            let refs: Vec<(&str, &str)> = texts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let fx = fixture(&refs);
            let me = pick.index(refs.len());
            let day = fx.day();
            let profile = fx.profile(&[(me, Mark::More)]);
            let r = day.rank(&profile, &[]);
            let mine = r.score(me);
            for p in 0..refs.len() {
                if fx.vectors[p] != fx.vectors[me] {
                    prop_assert!(r.score(p) < mine, "paper {} scores {} ≥ {}", p, r.score(p), mine);
                }
            }
            prop_assert_eq!(&day.rank(&profile, &[]), &r);
            prop_assert_eq!(&fx.day().rank(&fx.profile(&[(me, Mark::More)]), &[]), &r);
        }

        #[test]
        fn index_scores_equal_direct_dot_products(texts in arb_texts(), pick in any::<prop::sample::Index>()) {
            let refs: Vec<(&str, &str)> = texts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let fx = fixture(&refs);
            let day = fx.day();
            let profile = fx.profile(&[(pick.index(refs.len()), Mark::More)]);
            let mut scores = Vec::new();
            day.scores(&profile, &mut scores);
            for (p, s) in scores.iter().enumerate() {
                prop_assert!((s - profile.score(day.vector(p))).abs() < 1e-5);
            }
        }

        #[test]
        fn ordering_the_first_few_keeps_the_head_of_the_whole_order(
            texts in arb_texts(),
            marks in prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 1..4),
            keep in 0usize..8,
            upvotes in prop::collection::vec(prop::option::of(0i64..3), 12),
        ) {
            let refs: Vec<(&str, &str)> = texts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let fx = fixture(&refs);
            let day = fx.day();
            // One mark a paper, the first "more" (a profile needs one).
            let mut marks: Vec<(usize, Mark)> = marks
                .iter()
                .enumerate()
                .map(|(k, (i, more))| {
                    let mark = if k == 0 || *more { Mark::More } else { Mark::Less };
                    (i.index(refs.len()), mark)
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            marks.retain(|m| seen.insert(m.0));
            let less: Vec<(&PaperId, Weighted)> = marks
                .iter()
                .filter(|m| m.1 == Mark::Less)
                .map(|&(i, _)| (&fx.ids[i], fx.weighted(i)))
                .collect();
            let less: Vec<(&PaperId, &Weighted)> = less.iter().map(|(id, w)| (*id, w)).collect();
            let r = day.rank(&fx.profile(&marks), &less);
            let up = |i: usize| upvotes[i % upvotes.len()];
            let mut whole: Vec<usize> = (0..refs.len()).collect();
            r.order(&mut whole, up);
            whole.truncate(keep);
            let mut first: Vec<usize> = (0..refs.len()).collect();
            r.order_first(&mut first, keep, up);
            prop_assert_eq!(first, whole);
        }
    }
}
