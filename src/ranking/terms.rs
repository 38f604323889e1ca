//! Which features a paper has: stemmed title and abstract words, pairs of
//! adjacent words, and author names, each hashed to a term id.
//!
//! Words come from the matcher's own tokenizer and stemmer, so a word means
//! the same thing here as in a topic (`transformers` and `transformer` are
//! one term; `Boglárka` is `boglarka`). Term ids are feature hashes into a
//! fixed space of [`TERM_SPACE`] ids rather than indices into a stored
//! vocabulary: an id depends only on the term's text and the hash function
//! written below, so ids are stable across runs, machines and versions with
//! no vocabulary table to store, grow, or keep in step between the fetch
//! and the digest; the document-frequency table is a flat array; and a
//! year of bigrams (millions of distinct pairs, most seen once) costs no
//! memory. The price is collisions: about one term in 500 shares its id
//! with a frequent term, which blurs that term's weight and adds a tiny
//! false overlap between papers; the evaluation in `docs/RANKING.md` is
//! measured with it. This module does no I/O and holds no state between
//! papers.

use std::collections::HashMap;

use crate::domain::Paper;
use crate::matching::{tokenize, EnglishStemmer};

/// Bits of a term id.
pub const TERM_BITS: u32 = 21;
/// How many distinct term ids there are (2,097,152).
pub const TERM_SPACE: usize = 1 << TERM_BITS;

/// The largest term id.
pub(crate) const MAX_TERM: u32 = (TERM_SPACE - 1) as u32;

/// How often one title word counts: a title is a summary written by the
/// authors, so its words say more about the paper than an abstract's.
const TITLE_WEIGHT: u32 = 2;

/// Authors beyond this many (large collaborations) are not features; the
/// last author (often the lab's head) is kept too.
const MAX_AUTHORS: usize = 10;

/// Function words: never a feature, and a bigram never spans one ("of
/// the"). Content words common in abstracts ("model", "method") stay: their
/// low inverse document frequency already weighs them down.
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "either",
    "et", "etc", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
    "here", "hers", "him", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its",
    "itself", "may", "might", "more", "most", "much", "must", "my", "neither", "no", "nor", "not",
    "of", "off", "on", "once", "one", "only", "or", "other", "our", "ours", "out", "over", "own",
    "per", "same", "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "through", "thus", "to", "too",
    "under", "until", "up", "upon", "us", "very", "via", "was", "we", "were", "what", "when",
    "where", "whether", "which", "while", "who", "whom", "why", "will", "with", "within",
    "without", "would", "yet", "you", "your",
];

/// What a hashed feature is; part of the hashed bytes, so a word and an
/// author surname with the same letters are different terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Word = 1,
    Bigram = 2,
    Author = 3,
}

/// The term id of one feature: FNV-1a (64-bit) over the kind byte and the
/// text, finished with murmur3's fmix64 so the top bits are well mixed, and
/// cut to [`TERM_BITS`]. Written out here (not `std`'s hasher, whose
/// algorithm may change between Rust releases) because stored vectors and
/// profiles depend on it: changing it requires recomputing every stored
/// vector, profile and document-frequency day.
fn term_id(kind: Kind, text: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&(kind as u8)).chain(text.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> (64 - TERM_BITS)) as u32
}

/// Every feature of one paper with its count, ascending by term id, before
/// any pruning: what [`super::df::DayDf`] counts and what
/// [`super::vector::PaperVector::new`] prunes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TermCounts(pub(crate) Vec<(u32, u32)>);

impl TermCounts {
    /// The distinct term ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().map(|&(id, _)| id)
    }

    /// How many distinct terms.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Turns papers into [`TermCounts`]. Holds the stemmer, so build one per
/// batch of papers, not one per paper.
pub struct Features {
    stemmer: EnglishStemmer,
}

impl Default for Features {
    fn default() -> Self {
        Self::new()
    }
}

impl Features {
    pub fn new() -> Self {
        Features {
            stemmer: EnglishStemmer::new(),
        }
    }

    /// The features of `paper`: title words (counted [`TITLE_WEIGHT`]
    /// times), abstract words, adjacent-word pairs of either, and the
    /// first authors' names as "surname initial" (so "G. Hinton" and
    /// "Geoffrey Hinton" are one author). Categories are not features:
    /// topics already filter on them exactly.
    pub fn counts(&self, paper: &Paper) -> TermCounts {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        self.add_text(&paper.title, TITLE_WEIGHT, &mut counts);
        self.add_text(&paper.abstract_text, 1, &mut counts);
        let n = paper.authors.len();
        for (i, name) in paper.authors.iter().enumerate() {
            if i >= MAX_AUTHORS && i + 1 != n {
                continue;
            }
            if let Some(key) = author_key(name) {
                *counts.entry(term_id(Kind::Author, &key)).or_default() += 1;
            }
        }
        let mut v: Vec<(u32, u32)> = counts.into_iter().collect();
        v.sort_unstable();
        TermCounts(v)
    }

    fn add_text(&self, text: &str, weight: u32, counts: &mut HashMap<u32, u32>) {
        let mut prev: Option<String> = None;
        let mut pair = String::new();
        for tok in tokenize(text) {
            if STOPWORDS.binary_search(&tok.folded.as_str()).is_ok() {
                prev = None;
                continue;
            }
            let stem = self.stemmer.stem(&tok.folded);
            // A lone digit or letter ("2", "x") carries no topic by itself,
            // but can in a pair ("gpt 4").
            let numeric = stem.chars().all(|c| c.is_ascii_digit());
            if stem.chars().count() > 1 && !numeric {
                *counts.entry(term_id(Kind::Word, &stem)).or_default() += weight;
            }
            if let Some(p) = &prev {
                pair.clear();
                pair.push_str(p);
                pair.push(' ');
                pair.push_str(&stem);
                *counts.entry(term_id(Kind::Bigram, &pair)).or_default() += weight;
            }
            prev = Some(stem);
        }
    }
}

/// "surname initial" of a display name, folded: the last word and the
/// first letter of the first (`Geoffrey E. Hinton` → `hinton g`); a
/// one-word name is itself.
fn author_key(name: &str) -> Option<String> {
    let words: Vec<String> = tokenize(name).into_iter().map(|t| t.folded).collect();
    let last = words.last()?;
    match words.first().and_then(|w| w.chars().next()) {
        Some(initial) if words.len() > 1 => Some(format!("{last} {initial}")),
        _ => Some(last.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PaperId;

    fn paper(title: &str, abs: &str, authors: &[&str]) -> Paper {
        let mut p = Paper::new(PaperId::from_stored("x".into()), title, abs, "https://x");
        p.authors = authors.iter().map(|a| a.to_string()).collect();
        p
    }

    #[test]
    fn the_stopword_list_is_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    /// Stored vectors depend on these exact ids: if this test fails, the
    /// hash changed and every stored vector, profile and day of document
    /// frequencies must be recomputed.
    #[test]
    fn term_ids_are_fixed_forever() {
        assert_eq!(term_id(Kind::Word, "transform"), 1_917_023);
        assert_eq!(term_id(Kind::Bigram, "diffus model"), 26_629);
        assert_eq!(term_id(Kind::Author, "hinton g"), 1_072_586);
    }

    #[test]
    fn words_agree_with_topic_stemming_and_folding() {
        let f = Features::new();
        let a = f.counts(&paper("Transformers", "", &[]));
        let b = f.counts(&paper("transformer", "", &[]));
        assert_eq!(a, b);
        let c = f.counts(&paper("Boglárka", "", &[]));
        let d = f.counts(&paper("boglarka", "", &[]));
        assert_eq!(c, d);
    }

    #[test]
    fn title_words_count_twice_and_bigrams_skip_stopwords() {
        let f = Features::new();
        let c = f.counts(&paper("Diffusion models", "diffusion of the models", &[]));
        let get = |kind, s: &str| {
            let id = term_id(kind, s);
            c.0.iter().find(|&&(t, _)| t == id).map(|&(_, n)| n)
        };
        assert_eq!(get(Kind::Word, "diffus"), Some(3));
        assert_eq!(get(Kind::Bigram, "diffus model"), Some(2));
        assert_eq!(get(Kind::Bigram, "diffus of"), None);
        assert_eq!(get(Kind::Word, "the"), None);
    }

    #[test]
    fn author_initials_make_name_variants_one_feature() {
        assert_eq!(
            author_key("Geoffrey E. Hinton").as_deref(),
            Some("hinton g")
        );
        assert_eq!(author_key("G. Hinton").as_deref(), Some("hinton g"));
        assert_eq!(author_key("Plato").as_deref(), Some("plato"));
        assert_eq!(author_key(" . ").as_deref(), None);
    }

    #[test]
    fn counts_are_sorted_by_term_id_and_large_collaborations_are_capped() {
        let f = Features::new();
        let authors: Vec<String> = (0..200).map(|i| format!("Author{i} Person{i}")).collect();
        let refs: Vec<&str> = authors.iter().map(String::as_str).collect();
        let c = f.counts(&paper("", "", &refs));
        assert_eq!(c.len(), MAX_AUTHORS + 1);
        assert!(c.0.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
