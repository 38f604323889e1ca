//! A subscriber's profile: one sparse weight vector (plus a bias) learned
//! from the papers they marked "more like this" and "less like this",
//! computed when they mark, stored as a blob, and read by every digest run.
//!
//! Two ways to learn it are implemented and measured in
//! `docs/RANKING.md`: a Rocchio centroid (the mean of the "more" papers
//! minus a share of the mean of the "less" papers and of a background of
//! recent papers) and a linear SVM trained per subscriber (arxiv-sanity's
//! method: marked papers against recent ones), both against a
//! [`Background`] of recent papers built once and shared. They measured
//! alike, so [`Profile::build`] uses the simplest: Rocchio without a
//! background. Weights are quantized to 16 bits when the profile is
//! built, so the profile in memory is exactly the one stored.
//!
//! Marks are personal data: this module never logs, and a profile keeps no
//! paper ids, only weights. Pure: no I/O.

use super::df::DocumentFrequencies;
use super::encoding::{put_terms, put_varint, DecodeError, Reader};
use super::terms::MAX_TERM;
use super::vector::{PaperVector, Weighted, Weighting};
use crate::domain::PaperId;

/// The most terms a profile keeps (the heaviest by absolute weight).
pub const MAX_PROFILE_TERMS: usize = 256;

/// The weight of the "less" papers' centroid against the "more" papers'.
const LESS_WEIGHT: f32 = 0.5;
/// The weight of the background centroid: subtracting what every recent
/// paper has leaves what the marked papers have in particular.
const BACKGROUND_WEIGHT: f32 = 0.25;
/// The SVM's regularisation (as arxiv-sanity's `LinearSVC(C=0.1)`), with
/// classes balanced so 4 marks weigh as much as 200 background papers.
const SVM_C: f32 = 0.1;
const SVM_EPOCHS: usize = 60;

const FORMAT: u8 = 1;

/// What a subscriber said about a paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    More,
    Less,
}

/// One marked paper and its stored vector.
#[derive(Debug, Clone, Copy)]
pub struct Marked<'a> {
    pub paper: &'a PaperId,
    pub mark: Mark,
    pub vector: &'a PaperVector,
}

/// How a profile was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Rocchio,
    LinearSvm,
}

impl Method {
    fn byte(self) -> u8 {
        match self {
            Method::Rocchio => 1,
            Method::LinearSvm => 2,
        }
    }
}

/// A learned weight vector over term ids plus a bias; a paper's score is
/// `weights · paper + bias` on its unit-length weighted vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    method: Method,
    bias: f32,
    /// Multiplies each quantized weight.
    scale: f32,
    terms: Vec<(u32, i16)>,
}

impl Profile {
    /// The profile paperboy uses for these marks: Rocchio without a
    /// background (see `docs/RANKING.md` for the measurements behind the
    /// choice), so a score is the cosine with `mean(more) − 0.5·mean(less)`
    /// and a paper marked alone scores highest against itself. `None`
    /// without any mark.
    pub fn build(marks: &[Marked<'_>], df: &DocumentFrequencies) -> Option<Profile> {
        Self::rocchio(marks, &Background::default(), df, Weighting::DEFAULT)
    }

    /// Rocchio: `mean(more) − 0.5·mean(less) − 0.25·mean(background)`,
    /// scaled to unit length, so a score is a cosine. The background
    /// centroid is subtracted only when there is a "more" mark.
    pub fn rocchio(
        marks: &[Marked<'_>],
        background: &Background,
        df: &DocumentFrequencies,
        weighting: Weighting,
    ) -> Option<Profile> {
        let (more, less) = canonical(marks, df, weighting);
        if more.is_empty() && less.is_empty() {
            return None;
        }
        let mut acc = Accumulator::default();
        acc.add_mean(&more, 1.0);
        acc.add_mean(&less, -LESS_WEIGHT);
        if !more.is_empty() {
            acc.add(&background.centroid, -BACKGROUND_WEIGHT);
        }
        Some(Self::quantized(
            Method::Rocchio,
            acc.into_terms(),
            0.0,
            true,
        ))
    }

    /// A linear SVM (L2-regularised hinge loss, dual coordinate descent as
    /// in liblinear) separating the "more" papers from the "less" papers
    /// and the background. `None` without a "more" mark.
    pub fn linear_svm(
        marks: &[Marked<'_>],
        background: &Background,
        df: &DocumentFrequencies,
        weighting: Weighting,
    ) -> Option<Profile> {
        let (more, less) = canonical(marks, df, weighting);
        if more.is_empty() {
            return None;
        }
        let mut examples: Vec<(&Weighted, f32)> = Vec::new();
        examples.extend(more.iter().map(|v| (v, 1.0)));
        examples.extend(less.iter().map(|v| (v, -1.0)));
        examples.extend(
            background
                .papers
                .iter()
                .filter(|(id, _)| !marks.iter().any(|m| m.paper == id))
                .map(|(_, v)| (v, -1.0)),
        );
        let negatives = (examples.len() - more.len()).max(1) as f32;
        let c_pos = SVM_C * negatives / more.len() as f32;

        // Local dense index over the terms the examples have.
        let mut ids: Vec<u32> = examples
            .iter()
            .flat_map(|(v, _)| v.ids().iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let local = |id: u32| ids.binary_search(&id).unwrap_or(0);
        let xs: Vec<Vec<(usize, f32)>> = examples
            .iter()
            .map(|(v, _)| {
                v.ids()
                    .iter()
                    .zip(v.weights())
                    .map(|(&id, &w)| (local(id), w))
                    .collect()
            })
            .collect();
        let mut w = vec![0f32; ids.len()];
        let mut b = 0f32; // the weight of a constant feature 1, as liblinear's bias
        let mut alpha = vec![0f32; examples.len()];
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..SVM_EPOCHS {
            // A fixed-seed shuffle: deterministic for the same marks.
            for i in (1..order.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            let mut max_step = 0f32;
            for &i in &order {
                let y = examples[i].1;
                let c = if y > 0.0 { c_pos } else { SVM_C };
                let x = &xs[i];
                let margin = x.iter().map(|&(j, v)| w[j] * v).sum::<f32>() + b;
                let g = y * margin - 1.0;
                // Unit vectors plus the bias feature: x·x = 2.
                let new = (alpha[i] - g / 2.0).clamp(0.0, c);
                let d = (new - alpha[i]) * y;
                if d != 0.0 {
                    for &(j, v) in x {
                        w[j] += d * v;
                    }
                    b += d;
                    max_step = max_step.max((new - alpha[i]).abs());
                    alpha[i] = new;
                }
            }
            if max_step < 1e-4 {
                break;
            }
        }
        let terms: Vec<(u32, f32)> = ids.into_iter().zip(w).collect();
        Some(Self::quantized(Method::LinearSvm, terms, b, false))
    }

    /// Keeps the heaviest [`MAX_PROFILE_TERMS`] terms (optionally scaled to
    /// unit length) and quantizes them.
    fn quantized(method: Method, mut terms: Vec<(u32, f32)>, bias: f32, unit: bool) -> Profile {
        terms.retain(|&(_, w)| w != 0.0 && w.is_finite());
        if terms.len() > MAX_PROFILE_TERMS {
            terms.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            terms.truncate(MAX_PROFILE_TERMS);
            terms.sort_unstable_by_key(|&(id, _)| id);
        }
        if unit {
            let norm = terms
                .iter()
                .map(|&(_, w)| f64::from(w) * f64::from(w))
                .sum::<f64>()
                .sqrt() as f32;
            if norm > 0.0 {
                for t in &mut terms {
                    t.1 /= norm;
                }
            }
        }
        let max = terms.iter().map(|&(_, w)| w.abs()).fold(0f32, f32::max);
        let scale = if max > 0.0 {
            max / f32::from(i16::MAX)
        } else {
            1.0
        };
        let terms = terms
            .into_iter()
            .map(|(id, w)| (id, (w / scale).round() as i16))
            .filter(|&(_, q)| q != 0)
            .collect();
        Profile {
            method,
            bias: if bias.is_finite() { bias } else { 0.0 },
            scale,
            terms,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// How many terms it weighs.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// `(term id, weight)`, ascending by id.
    pub fn weights(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.terms
            .iter()
            .map(|&(id, q)| (id, f32::from(q) * self.scale))
    }

    /// The score of one paper (its unit-length weighted vector).
    pub fn score(&self, paper: &Weighted) -> f32 {
        let (ids, ws) = (paper.ids(), paper.weights());
        let (mut i, mut j, mut sum) = (0, 0, 0f32);
        while i < self.terms.len() && j < ids.len() {
            match self.terms[i].0.cmp(&ids[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += f32::from(self.terms[i].1) * self.scale * ws[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum + self.bias
    }

    /// The blob the store keeps per subscriber: format byte, method byte,
    /// bias and scale (little-endian f32), term count, then delta-coded
    /// ids with zigzag-varint weights. About 4 bytes a term.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.terms.len() * 4);
        out.push(FORMAT);
        out.push(self.method.byte());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        put_varint(&mut out, self.terms.len() as u64);
        put_terms(&mut out, &self.terms, |o, q| {
            put_varint(o, u64::from(((q << 1) ^ (q >> 15)) as u16))
        });
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Profile, DecodeError> {
        let mut r = Reader::new(bytes, "profile", FORMAT)?;
        let at = r.position();
        let method = match r.varint()? {
            1 => Method::Rocchio,
            2 => Method::LinearSvm,
            _ => return Err(r.out_of_range(at)),
        };
        let bias = r.f32()?;
        let at = r.position();
        let scale = r.f32()?;
        if scale <= 0.0 {
            return Err(r.out_of_range(at));
        }
        let n = r.u32()? as usize;
        if n > MAX_PROFILE_TERMS {
            return Err(r.out_of_range(at));
        }
        let terms = r.terms(n, MAX_TERM, |r| {
            let at = r.position();
            let z = u16::try_from(r.varint()?).map_err(|_| r.out_of_range(at))?;
            match ((z >> 1) as i16) ^ -((z & 1) as i16) {
                0 => Err(r.out_of_range(at)),
                q => Ok(q),
            }
        })?;
        r.finish()?;
        Ok(Profile {
            method,
            bias,
            scale,
            terms,
        })
    }
}

/// The marked papers' weighted vectors, "more" and "less", in an order
/// that depends only on the set of marks (sorted by paper id; a paper
/// marked both ways counts as "less"), so the same marks always give the
/// same profile.
fn canonical(
    marks: &[Marked<'_>],
    df: &DocumentFrequencies,
    weighting: Weighting,
) -> (Vec<Weighted>, Vec<Weighted>) {
    let mut sorted: Vec<&Marked<'_>> = marks.iter().collect();
    sorted.sort_by(|a, b| a.paper.cmp(b.paper).then(b.mark.cmp(&a.mark)));
    sorted.dedup_by(|later, first| later.paper == first.paper);
    let (mut more, mut less) = (Vec::new(), Vec::new());
    for m in sorted {
        let v = Weighted::new(m.vector, df, weighting);
        match m.mark {
            Mark::More => more.push(v),
            Mark::Less => less.push(v),
        }
    }
    (more, less)
}

/// The most terms a background centroid keeps.
const MAX_BACKGROUND_TERMS: usize = 1024;

/// A sample of recent papers that a profile is learned against: what
/// every paper has is not what a reader likes. Built once (per day, say)
/// and shared by every profile built that day; a few hundred papers is
/// plenty.
#[derive(Debug, Clone, Default)]
pub struct Background {
    /// Sorted by id, one entry per paper (the SVM's negatives).
    papers: Vec<(PaperId, Weighted)>,
    /// Their mean, the heaviest [`MAX_BACKGROUND_TERMS`] terms (Rocchio).
    centroid: Vec<(u32, f32)>,
}

impl Background {
    pub fn new(
        papers: &[(&PaperId, &PaperVector)],
        df: &DocumentFrequencies,
        weighting: Weighting,
    ) -> Background {
        let mut sorted: Vec<&(&PaperId, &PaperVector)> = papers.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let papers: Vec<(PaperId, Weighted)> = sorted
            .iter()
            .map(|(id, v)| ((*id).clone(), Weighted::new(v, df, weighting)))
            .collect();
        let vs: Vec<Weighted> = papers.iter().map(|(_, v)| v.clone()).collect();
        let mut acc = Accumulator::default();
        acc.add_mean(&vs, 1.0);
        let mut centroid = acc.into_terms();
        if centroid.len() > MAX_BACKGROUND_TERMS {
            centroid.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            centroid.truncate(MAX_BACKGROUND_TERMS);
            centroid.sort_unstable_by_key(|&(id, _)| id);
        }
        Background { papers, centroid }
    }

    /// How many papers it holds.
    pub fn len(&self) -> usize {
        self.papers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.papers.is_empty()
    }
}

/// Sums of weighted vectors in f64, added up per term in the order the
/// vectors were given (a stable sort by term id keeps that order), so the
/// same canonical input always gives the same bits.
#[derive(Default)]
struct Accumulator(Vec<(u32, f64)>);

impl Accumulator {
    fn add_mean(&mut self, vs: &[Weighted], factor: f32) {
        if vs.is_empty() {
            return;
        }
        let k = f64::from(factor) / vs.len() as f64;
        for v in vs {
            for (&id, &w) in v.ids().iter().zip(v.weights()) {
                self.0.push((id, k * f64::from(w)));
            }
        }
    }

    fn add(&mut self, terms: &[(u32, f32)], factor: f32) {
        let k = f64::from(factor);
        self.0
            .extend(terms.iter().map(|&(id, w)| (id, k * f64::from(w))));
    }

    fn into_terms(mut self) -> Vec<(u32, f32)> {
        self.0.sort_by_key(|&(id, _)| id);
        let mut out: Vec<(u32, f64)> = Vec::new();
        for (id, w) in self.0 {
            match out.last_mut() {
                Some((last, sum)) if *last == id => *sum += w,
                _ => out.push((id, w)),
            }
        }
        out.into_iter().map(|(id, w)| (id, w as f32)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Paper;
    use crate::ranking::df::DayDf;
    use crate::ranking::terms::Features;
    use proptest::prelude::*;

    fn id(s: &str) -> PaperId {
        PaperId::from_stored(s.into())
    }

    fn vectors(texts: &[&str]) -> (Vec<PaperVector>, DocumentFrequencies) {
        let f = Features::new();
        let counts: Vec<_> = texts
            .iter()
            .map(|t| f.counts(&Paper::new(id("x"), t, "", "https://x")))
            .collect();
        let mut df = DocumentFrequencies::new(365);
        df.add_day(chrono::NaiveDate::MIN, &DayDf::new(counts.iter()))
            .unwrap();
        (
            counts.iter().map(|c| PaperVector::new(c, &df)).collect(),
            df,
        )
    }

    #[test]
    fn no_marks_no_profile() {
        let df = DocumentFrequencies::new(365);
        let none = Background::default();
        assert!(Profile::build(&[], &df).is_none());
        assert!(Profile::linear_svm(&[], &none, &df, Weighting::DEFAULT).is_none());
    }

    #[test]
    fn damaged_profile_blobs_are_errors() {
        let (v, df) = vectors(&["graph neural networks", "protein folding"]);
        let a = id("a");
        let p = Profile::build(
            &[Marked {
                paper: &a,
                mark: Mark::More,
                vector: &v[0],
            }],
            &df,
        )
        .unwrap();
        let blob = p.encode();
        assert_eq!(Profile::decode(&blob).unwrap(), p);
        assert!(Profile::decode(&blob[..blob.len() - 1]).is_err());
        let mut bad_method = blob.clone();
        bad_method[1] = 9;
        assert!(matches!(
            Profile::decode(&bad_method),
            Err(DecodeError::OutOfRange { at: 1, .. })
        ));
    }

    #[test]
    fn the_svm_ranks_papers_like_the_marked_one_above_the_background() {
        let (v, df) = vectors(&[
            "quantum error correction codes",
            "surface codes for quantum error correction",
            "image segmentation with transformers",
            "transformers for image classification",
            "language models and reasoning",
        ]);
        let ids: Vec<PaperId> = (0..5).map(|i| id(&i.to_string())).collect();
        let marks = [Marked {
            paper: &ids[0],
            mark: Mark::More,
            vector: &v[0],
        }];
        let bg: Vec<(&PaperId, &PaperVector)> = ids.iter().zip(&v).collect();
        let bg = Background::new(&bg, &df, Weighting::DEFAULT);
        let p = Profile::linear_svm(&marks, &bg, &df, Weighting::DEFAULT).unwrap();
        let w: Vec<Weighted> = v
            .iter()
            .map(|x| Weighted::new(x, &df, Weighting::DEFAULT))
            .collect();
        assert!(p.score(&w[1]) > p.score(&w[2]));
        assert!(p.score(&w[1]) > p.score(&w[4]));
    }

    fn arb_vector() -> impl Strategy<Value = PaperVector> {
        proptest::collection::btree_map(0u32..400, 1u16..6, 1..40)
            .prop_map(|m| PaperVector(m.into_iter().collect()))
    }

    proptest! {
        /// The same marks give the same profile (and blob), in any order.
        #[test]
        fn marks_are_order_independent(
            vs in proptest::collection::vec((arb_vector(), any::<bool>()), 1..10),
            bg in proptest::collection::vec(arb_vector(), 0..6),
            seed in any::<u64>(),
        ) {
            let df = DocumentFrequencies::new(365);
            let ids: Vec<PaperId> = (0..vs.len()).map(|i| id(&format!("m{i}"))).collect();
            let bg_ids: Vec<PaperId> = (0..bg.len()).map(|i| id(&format!("b{i}"))).collect();
            let marks: Vec<Marked> = vs.iter().zip(&ids).map(|((v, more), p)| Marked {
                paper: p,
                mark: if *more { Mark::More } else { Mark::Less },
                vector: v,
            }).collect();
            let background: Vec<(&PaperId, &PaperVector)> = bg_ids.iter().zip(&bg).collect();
            let mut shuffled = marks.clone();
            let mut shuffled_bg = background.clone();
            let n = shuffled.len();
            shuffled.rotate_left((seed as usize) % n);
            shuffled.reverse();
            shuffled_bg.reverse();
            let background = Background::new(&background, &df, Weighting::DEFAULT);
            let shuffled_bg = Background::new(&shuffled_bg, &df, Weighting::DEFAULT);
            for (a, b) in [
                (Profile::build(&marks, &df), Profile::build(&shuffled, &df)),
                (
                    Profile::rocchio(&marks, &background, &df, Weighting::DEFAULT),
                    Profile::rocchio(&shuffled, &shuffled_bg, &df, Weighting::DEFAULT),
                ),
                (
                    Profile::linear_svm(&marks, &background, &df, Weighting::DEFAULT),
                    Profile::linear_svm(&shuffled, &shuffled_bg, &df, Weighting::DEFAULT),
                ),
            ] {
                prop_assert_eq!(a.as_ref().map(Profile::encode), b.as_ref().map(Profile::encode));
            }
        }

        #[test]
        fn profiles_round_trip_through_their_blob(
            vs in proptest::collection::vec((arb_vector(), any::<bool>()), 1..30),
        ) {
            let df = DocumentFrequencies::new(365);
            let ids: Vec<PaperId> = (0..vs.len()).map(|i| id(&format!("m{i}"))).collect();
            let marks: Vec<Marked> = vs.iter().zip(&ids).map(|((v, more), p)| Marked {
                paper: p,
                mark: if *more { Mark::More } else { Mark::Less },
                vector: v,
            }).collect();
            let none = Background::default();
            for p in [
                Profile::build(&marks, &df),
                Profile::linear_svm(&marks, &none, &df, Weighting::DEFAULT),
            ].into_iter().flatten() {
                prop_assert!(p.len() <= MAX_PROFILE_TERMS);
                prop_assert_eq!(Profile::decode(&p.encode()).unwrap(), p);
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Profile::decode(&bytes);
        }
    }
}
