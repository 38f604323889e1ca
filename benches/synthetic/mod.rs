//! Synthetic days and subscribers for the benchmarks, drawn from the
//! vocabulary of the bundled real papers in `tests/fixtures/`: title and
//! abstract words at their real frequencies, title bigrams as phrases, real
//! author surnames and arXiv categories. Deterministic for a given seed,
//! and independent of the `rand` crate's version: the draws come from the
//! small SplitMix64 generator below, so a workload stays the same across
//! builds that are compared side by side.
//!
//! Shared by `benches/matching.rs`, `benches/render.rs` and
//! `examples/match_scale.rs` through `#[path]`.
#![allow(dead_code)]

use std::collections::HashSet;

use paperboy::domain::Topic;
use paperboy::domain::{Paper, PaperId};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "are", "our", "which", "their", "these",
    "into", "using", "such", "than", "also", "both", "while", "over", "when", "where", "across",
    "through", "based", "via", "its", "can", "has", "have", "been", "not", "but", "they", "them",
    "more", "most", "each", "however", "between", "within", "without", "under",
];

/// Words, phrases, names and categories of the real sample papers.
pub struct Vocabulary {
    /// Abstract tokens in reading order (sampling one is sampling by frequency).
    pub abstract_tokens: Vec<String>,
    pub title_tokens: Vec<String>,
    /// Content words (no stopwords, at least 4 letters), distinct.
    pub words: Vec<String>,
    /// Adjacent content-word pairs from titles and abstracts, distinct.
    pub bigrams: Vec<(String, String)>,
    pub authors: Vec<String>,
    pub surnames: Vec<String>,
    pub categories: Vec<String>,
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn is_content(w: &str) -> bool {
    w.len() >= 4 && w.chars().all(|c| c.is_ascii_lowercase()) && !STOPWORDS.contains(&w)
}

impl Vocabulary {
    pub fn load() -> Vocabulary {
        let read = |name: &str| {
            std::fs::read_to_string(format!("{FIXTURES}/{name}"))
                .unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
        };
        let hf: serde_json::Value =
            serde_json::from_str(&read("hf_daily_papers_2026-06-12_full_30items.json"))
                .expect("the HF fixture is JSON");
        let mut v = Vocabulary {
            abstract_tokens: Vec::new(),
            title_tokens: Vec::new(),
            words: Vec::new(),
            bigrams: Vec::new(),
            authors: Vec::new(),
            surnames: Vec::new(),
            categories: Vec::new(),
        };
        let (mut words, mut bigrams, mut surnames) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for item in hf.as_array().into_iter().flatten() {
            let p = &item["paper"];
            let title = words_of(p["title"].as_str().unwrap_or_default());
            let abs = words_of(p["summary"].as_str().unwrap_or_default());
            for seq in [&title, &abs] {
                for pair in seq.windows(2) {
                    if is_content(&pair[0]) && is_content(&pair[1]) {
                        bigrams.insert((pair[0].clone(), pair[1].clone()));
                    }
                }
                words.extend(seq.iter().filter(|w| is_content(w)).cloned());
            }
            v.title_tokens.extend(title);
            v.abstract_tokens.extend(abs);
            for a in p["authors"].as_array().into_iter().flatten() {
                if let Some(name) = a["name"].as_str() {
                    v.authors.push(name.to_string());
                    if let Some(last) = words_of(name).pop() {
                        if last.len() >= 3 && last.chars().all(char::is_alphabetic) {
                            surnames.insert(last);
                        }
                    }
                }
            }
        }
        let cats = regex::Regex::new(r#"term="([a-z-]+(?:\.[A-Za-z-]+)?)""#).expect("regex");
        let mut categories = HashSet::new();
        for f in [
            "arxiv_rss_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_new_cross_replace_DOI.xml",
            "arxiv_api_2026-06_search_all-transformer_AND_cat-cs.LG_5results.xml",
            "arxiv_api_2016_classic_search_au-del_maestro_10results.xml",
        ] {
            for c in cats.captures_iter(&read(f)) {
                categories.insert(c[1].to_string());
            }
        }
        let sorted = |s: HashSet<String>| {
            let mut v: Vec<String> = s.into_iter().collect();
            v.sort();
            v
        };
        v.words = sorted(words);
        v.surnames = sorted(surnames);
        v.categories = sorted(categories);
        let mut b: Vec<(String, String)> = bigrams.into_iter().collect();
        b.sort();
        v.bigrams = b;
        assert!(v.words.len() > 500 && v.categories.len() > 5 && v.surnames.len() > 50);
        v
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a fixed, tiny generator whose
/// sequence for a seed never changes with a dependency upgrade.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `range` (multiply-shift; the bias is far below what a
    /// benchmark workload can notice).
    fn random_range(&mut self, range: std::ops::Range<usize>) -> usize {
        let width = (range.end - range.start) as u128;
        range.start + ((self.next_u64() as u128 * width) >> 64) as usize
    }

    /// A float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn random_bool(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// A deterministic generator of papers and topic queries.
pub struct Synth<'v> {
    pub vocab: &'v Vocabulary,
    rng: SplitMix,
}

impl<'v> Synth<'v> {
    pub fn new(vocab: &'v Vocabulary, seed: u64) -> Self {
        Synth {
            vocab,
            rng: SplitMix(seed),
        }
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.random_range(0..xs.len())]
    }

    fn sample_text(&mut self, tokens: &[String], len: usize) -> String {
        (0..len)
            .map(|_| self.pick(tokens).as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A paper the size of a real one: ~10-word title, ~170-word abstract
    /// sampled at real word frequencies, 2-8 real authors, 1-3 categories.
    pub fn paper(&mut self, i: usize) -> Paper {
        let v = self.vocab;
        let tlen = self.rng.random_range(6..14);
        let alen = self.rng.random_range(120..220);
        let title = self.sample_text(&v.title_tokens, tlen);
        let abs = self.sample_text(&v.abstract_tokens, alen);
        let id = format!("2606.{i:05}");
        let mut p = Paper::new(
            PaperId::from_stored(id.clone()),
            &title,
            &abs,
            &format!("https://arxiv.org/abs/{id}"),
        );
        let na = self.rng.random_range(2..9);
        p.authors = (0..na).map(|_| self.pick(&v.authors).clone()).collect();
        let nc = self.rng.random_range(1..4);
        p.categories = (0..nc).map(|_| self.pick(&v.categories).clone()).collect();
        p.upvotes = self
            .rng
            .random_bool(0.5)
            .then(|| self.rng.random_range(0..60) as i64);
        p
    }

    pub fn papers(&mut self, n: usize) -> Vec<Paper> {
        (0..n).map(|i| self.paper(i)).collect()
    }

    /// One topic query in the filter language: bare words, phrases,
    /// fields, boolean operators, groups, prefixes, categories, upvotes.
    pub fn query(&mut self) -> String {
        let v = self.vocab;
        let w = |s: &mut Self| s.pick(&v.words).clone();
        match self.rng.random_range(0..10) {
            0 => w(self),
            1 => {
                let (a, b) = self.pick(&v.bigrams).clone();
                format!("\"{a} {b}\"")
            }
            2 => format!("ti:{} AND cat:{}", w(self), self.pick(&v.categories)),
            3 => {
                let (a, b) = self.pick(&v.bigrams).clone();
                format!("abs:({} OR \"{a} {b}\")", w(self))
            }
            4 => {
                let word = w(self);
                let n = word.len().clamp(4, 6);
                format!("ti:{}*", &word[..n])
            }
            5 => format!("au:{}", self.pick(&v.surnames)),
            6 => format!("({} OR {}) -{}", w(self), w(self), w(self)),
            7 => format!("cat:{} {}", self.pick(&v.categories), w(self)),
            8 => format!("all:{} upvotes>=10", w(self)),
            _ => {
                let (a, b) = self.pick(&v.bigrams).clone();
                format!(
                    "\"{a} {b}\" OR ({} AND NOT cat:{})",
                    w(self),
                    self.pick(&v.categories)
                )
            }
        }
    }
}

/// A pool of distinct-ish topic texts and a Zipf(1) choice over it: a few
/// topics are very popular (`cat:cs.LG`, `diffusion`), most are rare. The
/// pool has one query per `share` subscriber topics, so the share of
/// distinct texts in a run is reported rather than assumed.
pub struct TopicPool {
    pub texts: Vec<String>,
    cdf: Vec<f64>,
    rng: SplitMix,
}

impl TopicPool {
    pub fn new(synth: &mut Synth<'_>, size: usize, seed: u64) -> Self {
        let texts: Vec<String> = (0..size.max(1)).map(|_| synth.query()).collect();
        let mut acc = 0.0;
        let cdf = (1..=texts.len())
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        TopicPool {
            texts,
            cdf,
            rng: SplitMix(seed),
        }
    }

    /// The index of a topic text, Zipf-distributed.
    pub fn draw(&mut self) -> usize {
        let total = *self.cdf.last().unwrap_or(&1.0);
        let x = self.rng.unit() * total;
        self.cdf
            .partition_point(|&c| c < x)
            .min(self.texts.len() - 1)
    }

    /// `n` topics for one subscriber, as the store would return them.
    pub fn subscriber_topics(&mut self, n: usize) -> Vec<Topic> {
        (0..n)
            .map(|i| {
                let k = self.draw();
                let text = &self.texts[k];
                Topic {
                    position: i as i64,
                    name: text.clone(),
                    query: text.clone(),
                }
            })
            .collect()
    }
}
