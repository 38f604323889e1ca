//! Paper vectors: the stored form (term counts, at most
//! [`MAX_PAPER_TERMS`] of them, as a compact blob) and the weighted form
//! every score is computed on (tf-idf, unit length).
//!
//! A stored vector keeps counts, not weights: inverse document frequencies
//! drift as the window of days slides, and weighting at use keeps a
//! year-old paper and today's on one scale without rewriting stored rows.
//! Which terms a vector keeps is chosen once, when it is made, by their
//! weight then. Pure: no I/O.

use super::df::DocumentFrequencies;
use super::encoding::{put_terms, put_varint, DecodeError, Reader};
use super::terms::{TermCounts, MAX_TERM};

/// The most terms a stored paper vector keeps. A typical arXiv abstract
/// has 150–300 distinct words and pairs, so this drops only a long
/// abstract's least informative ones.
pub const MAX_PAPER_TERMS: usize = 256;

const FORMAT: u8 = 1;

/// How a term count and its document frequency become a weight. Both are
/// measured in `docs/RANKING.md`; [`Weighting::DEFAULT`] is the one used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// `(1 + ln tf) × idf` (sublinear tf, as arxiv-sanity).
    TfIdf,
    /// BM25's saturating tf, `tf × (k1 + 1) / (tf + k1)` with `k1 = 1.2`,
    /// times idf; length is normalised by the unit-length scaling.
    Bm25,
}

impl Weighting {
    pub const DEFAULT: Weighting = Weighting::TfIdf;

    fn tf(self, count: u32) -> f32 {
        let tf = count as f32;
        match self {
            Weighting::TfIdf => 1.0 + tf.ln(),
            Weighting::Bm25 => tf * 2.2 / (tf + 1.2),
        }
    }
}

/// A paper's terms with their counts, ascending by term id: what the store
/// keeps per paper ([`PaperVector::encode`], about 3–4 bytes a term).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaperVector(pub(crate) Vec<(u32, u16)>);

impl PaperVector {
    /// Keeps the [`MAX_PAPER_TERMS`] terms of `counts` that weigh most
    /// under `df` (ties to the lower id, so the choice is deterministic).
    pub fn new(counts: &TermCounts, df: &DocumentFrequencies) -> Self {
        let mut terms: Vec<(u32, u16)> = counts
            .0
            .iter()
            .map(|&(id, n)| (id, n.min(u32::from(u16::MAX)) as u16))
            .collect();
        if terms.len() > MAX_PAPER_TERMS {
            let w = Weighting::DEFAULT;
            terms.sort_by(|a, b| {
                let wa = w.tf(u32::from(a.1)) * df.idf(a.0);
                let wb = w.tf(u32::from(b.1)) * df.idf(b.0);
                wb.total_cmp(&wa).then(a.0.cmp(&b.0))
            });
            terms.truncate(MAX_PAPER_TERMS);
            terms.sort_unstable();
        }
        PaperVector(terms)
    }

    /// `(term id, count)`, ascending by id.
    pub fn terms(&self) -> &[(u32, u16)] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The blob the store keeps: format byte, term count, then each term
    /// as a delta-coded id and its count, all varints.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.0.len() * 4);
        out.push(FORMAT);
        put_varint(&mut out, self.0.len() as u64);
        put_terms(&mut out, &self.0, |o, n| put_varint(o, u64::from(n)));
        out
    }

    /// Reads [`PaperVector::encode`]'s blob back; a damaged blob is an
    /// error naming the byte, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, "paper vector", FORMAT)?;
        let n = r.u32()? as usize;
        if n > MAX_PAPER_TERMS {
            return Err(r.out_of_range(1));
        }
        let terms = r.terms(n, MAX_TERM, |r| {
            let at = r.position();
            match r.u32()? {
                c @ 1..=0xffff => Ok(c as u16),
                _ => Err(r.out_of_range(at)),
            }
        })?;
        r.finish()?;
        Ok(PaperVector(terms))
    }
}

/// A weighted vector of unit length (or empty), ascending by term id: the
/// form every similarity is computed on. A cosine is then a dot product.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Weighted {
    ids: Vec<u32>,
    weights: Vec<f32>,
}

impl Weighted {
    /// Weighs `v` by `weighting` and the current inverse document
    /// frequencies, then scales it to unit length.
    pub fn new(v: &PaperVector, df: &DocumentFrequencies, weighting: Weighting) -> Self {
        let ids: Vec<u32> = v.0.iter().map(|&(id, _)| id).collect();
        let weights: Vec<f32> =
            v.0.iter()
                .map(|&(id, n)| weighting.tf(u32::from(n)) * df.idf(id))
                .collect();
        Self::normalised(ids, weights)
    }

    /// Builds from ascending ids and their weights, scaled to unit length.
    pub(crate) fn normalised(ids: Vec<u32>, mut weights: Vec<f32>) -> Self {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let norm = weights
            .iter()
            .map(|&w| f64::from(w) * f64::from(w))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for w in &mut weights {
                *w = (f64::from(*w) / norm) as f32;
            }
        }
        Weighted { ids, weights }
    }

    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The dot product; for two unit vectors, their cosine similarity
    /// (0 for no shared term, 1 for the same direction).
    pub fn dot(&self, other: &Weighted) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
        while i < self.ids.len() && j < other.ids.len() {
            match self.ids[i].cmp(&other.ids[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.weights[i] * other.weights[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(n: usize) -> TermCounts {
        TermCounts((0..n as u32).map(|i| (i * 7 + 3, 1 + i % 5)).collect())
    }

    #[test]
    fn a_long_paper_keeps_its_heaviest_terms() {
        let df = DocumentFrequencies::new(365);
        let v = PaperVector::new(&counts(400), &df);
        assert_eq!(v.len(), MAX_PAPER_TERMS);
        // Equal idf: the higher counts win (80 terms each of counts 1 to 5).
        assert!(v.terms().iter().all(|&(_, n)| n >= 2));
        assert_eq!(v.terms().iter().filter(|&&(_, n)| n >= 3).count(), 240);
        assert!(v.terms().windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn damaged_blobs_are_errors_naming_what_was_wrong() {
        let v = PaperVector::new(&counts(10), &DocumentFrequencies::new(365));
        let blob = v.encode();
        assert!(matches!(
            PaperVector::decode(&blob[..blob.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut longer = blob.clone();
        longer.push(0);
        assert!(matches!(
            PaperVector::decode(&longer),
            Err(DecodeError::Trailing { extra: 1, .. })
        ));
        assert!(matches!(
            PaperVector::decode(&[]),
            Err(DecodeError::Empty { .. })
        ));
        // Two entries with the same id.
        assert!(matches!(
            PaperVector::decode(&[FORMAT, 2, 5, 1, 0, 1]),
            Err(DecodeError::Unordered { .. })
        ));
        // A count of zero.
        assert!(matches!(
            PaperVector::decode(&[FORMAT, 1, 5, 0]),
            Err(DecodeError::OutOfRange { .. })
        ));
        // An id past the term space.
        let mut big = vec![FORMAT, 1];
        put_varint(&mut big, u64::from(MAX_TERM) + 1);
        big.push(1);
        assert!(PaperVector::decode(&big).is_err());
    }

    proptest! {
        #[test]
        fn paper_vectors_round_trip_through_their_blob(
            raw in proptest::collection::btree_map(0..=MAX_TERM, 1u32..70_000, 0..300)
        ) {
            let c = TermCounts(raw.into_iter().collect());
            let v = PaperVector::new(&c, &DocumentFrequencies::new(30));
            prop_assert_eq!(PaperVector::decode(&v.encode()).unwrap(), v);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = PaperVector::decode(&bytes);
        }

        #[test]
        fn weighted_vectors_have_unit_length_and_self_cosine_one(
            raw in proptest::collection::btree_map(0..=MAX_TERM, 1u32..50, 1..300)
        ) {
            let c = TermCounts(raw.into_iter().collect());
            let v = PaperVector::new(&c, &DocumentFrequencies::new(30));
            let w = Weighted::new(&v, &DocumentFrequencies::new(30), Weighting::DEFAULT);
            prop_assert!((w.dot(&w) - 1.0).abs() < 1e-4);
        }
    }
}
