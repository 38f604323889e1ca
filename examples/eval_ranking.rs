//! How well ranking by marks finds what a reader wants: simulated readers
//! mark 3–5 papers of one group ("more like this"), and the remaining
//! papers are ranked; the held-out papers of the same group are the
//! relevant ones. Prints precision@5 and nDCG@10 per group and overall,
//! next to two baselines (upvotes order, random order), then the cosine
//! distributions behind the thresholds in `src/ranking/day.rs`.
//!
//! ```sh
//! bash scripts/eval-ranking                       # the bundled real papers
//! bash scripts/eval-ranking --papers sample.jsonl  # plus arXiv metadata lines
//! bash scripts/eval-ranking --without-fixtures --papers sample.jsonl.gz
//! ```
//!
//! Papers: every paper in the bundled real payloads of `tests/fixtures/`
//! (Hugging Face days, arXiv API and announcement feeds), parsed by
//! paperboy's own source parsers (left out with `--without-fixtures`), plus
//! any file given with `--papers` in the arXiv metadata snapshot's
//! JSON-lines shape (`id`, `title`, `abstract`, `authors` as one string or
//! a list, `categories` space-separated, primary first), gzipped when its
//! name ends in `.gz`. `--quick` measures the default profile, pseudo-
//! relevance feedback and the baselines only.
//!
//! Groups: an arXiv primary category with at least `MIN_GROUP` papers (or,
//! failing that, its archive, `cond-mat.str-el` → `cond-mat`); and, for
//! Hugging Face papers (which carry no category), topic clusters: a word of
//! Hugging Face's own `ai_keywords` shared by at least `MIN_GROUP` papers
//! and by at most a third of them. Precision@5 divides by `min(5, held-out
//! papers)` so a small group can reach 1.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use paperboy::domain::{AnnounceType, Paper, PaperId};
use paperboy::ranking::{
    Background, DayDf, DocumentFrequencies, Features, Mark, Marked, PaperVector, Profile, Weighted,
    Weighting,
};
use paperboy::sources::{arxiv_api, arxiv_rss, hf_daily};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const MIN_GROUP: usize = 6;
/// Pseudo-relevance feedback: how many of the first ranking's top papers
/// join the marks for the second.
const PRF_PAPERS: usize = 3;

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).map(|i| {
        args.get(i + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{flag} needs a value"))
    })
}

/// A paper and what the evaluation knows about it.
struct Item {
    paper: Paper,
    /// Hugging Face's keywords, for topic clusters.
    keywords: Vec<String>,
}

fn load_fixtures() -> Vec<Item> {
    let day = NaiveDate::from_ymd_opt(2026, 6, 12).expect("a date");
    let all_types = [
        AnnounceType::New,
        AnnounceType::Cross,
        AnnounceType::Replace,
        AnnounceType::ReplaceCross,
    ];
    let mut by_id: BTreeMap<PaperId, Item> = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(FIXTURES)
        .expect("tests/fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = format!("{FIXTURES}/{name}");
        if !std::path::Path::new(&path).is_file() {
            continue;
        }
        let body = std::fs::read(&path).expect("a fixture");
        let papers: Vec<Paper> = if name.starts_with("hf_daily") {
            hf_daily::parse(&body).map(|v| v.into_iter().map(|f| f.paper).collect())
        } else if name.starts_with("arxiv_api") {
            arxiv_api::parse(&body, day).map(|v| v.into_iter().map(|f| f.paper).collect())
        } else if name.starts_with("arxiv_rss") || name.starts_with("arxiv_atom") {
            arxiv_rss::parse(&body, &all_types).map(|v| v.into_iter().map(|f| f.paper).collect())
        } else {
            continue;
        }
        .unwrap_or_default();
        for p in papers {
            let keywords = p.ai_keywords.clone();
            match by_id.get_mut(&p.id) {
                Some(item) => {
                    item.paper.merge(p);
                    for k in keywords {
                        if !item.keywords.contains(&k) {
                            item.keywords.push(k);
                        }
                    }
                }
                None => {
                    by_id.insert(p.id.clone(), Item { paper: p, keywords });
                }
            }
        }
    }
    by_id
        .into_values()
        .filter(|i| !i.paper.title.is_empty() || !i.paper.abstract_text.is_empty())
        .collect()
}

fn load_jsonl(path: &str) -> Vec<Item> {
    let text = if path.ends_with(".gz") {
        let out = std::process::Command::new("gzip")
            .args(["-dc", path])
            .output()
            .unwrap_or_else(|e| panic!("gzip -dc {path}: {e}"));
        assert!(out.status.success(), "gzip -dc {path} failed");
        String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{path}: not UTF-8: {e}"))
    } else {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{path}:{}: not JSON: {e}", n + 1));
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let id = s("id");
        let mut p = Paper::new(
            PaperId::from_stored(id.clone()),
            &s("title"),
            &s("abstract"),
            &format!("https://arxiv.org/abs/{id}"),
        );
        // The snapshot's one string ("A, B and C"), or a list of names.
        let joined = s("authors").replace(" and ", ", ");
        let names: Vec<&str> = match v["authors"].as_array() {
            Some(list) => list.iter().filter_map(|a| a.as_str()).collect(),
            None => joined.split(',').collect(),
        };
        p.authors = names
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        p.categories = s("categories")
            .split_whitespace()
            .map(String::from)
            .collect();
        out.push(Item {
            paper: p,
            keywords: Vec::new(),
        });
    }
    out
}

/// Groups of paper indices, named.
fn groups(items: &[Item]) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut by_cat: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        if let Some(c) = it.paper.categories.first() {
            by_cat.entry(c.clone()).or_default().push(i);
        }
    }
    let mut by_archive: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (cat, members) in &by_cat {
        if members.len() >= MIN_GROUP {
            out.push((cat.clone(), members.clone()));
        } else {
            let archive = cat.split('.').next().unwrap_or(cat).to_string();
            by_archive.entry(archive).or_default().extend(members);
        }
    }
    for (archive, members) in by_archive {
        if members.len() >= MIN_GROUP {
            out.push((format!("{archive} (archive)"), members));
        }
    }
    let with_keywords: Vec<usize> = (0..items.len())
        .filter(|&i| !items[i].keywords.is_empty())
        .collect();
    let mut by_word: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &with_keywords {
        let mut words: Vec<String> = items[i]
            .keywords
            .iter()
            .flat_map(|k| {
                k.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| {
                        let w = w.to_lowercase();
                        match w.strip_suffix('s') {
                            Some(stem) if stem.len() >= 3 => stem.to_string(),
                            _ => w,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        words.sort();
        words.dedup();
        for w in words {
            by_word.entry(w).or_default().push(i);
        }
    }
    for (word, members) in by_word {
        if members.len() >= MIN_GROUP && members.len() * 3 <= with_keywords.len() {
            out.push((format!("HF keyword \"{word}\""), members));
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Method {
    Rocchio,
    RocchioBackground,
    RocchioBm25,
    Svm,
    Prf,
    Upvotes,
    Random,
}

impl Method {
    const ALL: [Method; 7] = [
        Method::Rocchio,
        Method::RocchioBackground,
        Method::RocchioBm25,
        Method::Svm,
        Method::Prf,
        Method::Upvotes,
        Method::Random,
    ];
    const QUICK: [Method; 4] = [
        Method::Rocchio,
        Method::Prf,
        Method::Upvotes,
        Method::Random,
    ];

    fn name(self) -> &'static str {
        match self {
            Method::Rocchio => "Rocchio, tf-idf, no background (default)",
            Method::RocchioBackground => "Rocchio, tf-idf, background 0.25",
            Method::RocchioBm25 => "Rocchio, BM25 tf, no background",
            Method::Svm => "linear SVM per reader",
            Method::Prf => "Rocchio, then again with its top 3 as marks",
            Method::Upvotes => "baseline: upvotes order",
            Method::Random => "baseline: random order",
        }
    }
}

struct Corpus {
    ids: Vec<PaperId>,
    vectors: Vec<PaperVector>,
    tfidf: Vec<Weighted>,
    bm25: Vec<Weighted>,
    upvotes: Vec<i64>,
    df: DocumentFrequencies,
    /// Every paper: in production, a sample of recent papers.
    background: Background,
}

fn precision_at(ranked: &[usize], relevant: &[usize], k: usize) -> f64 {
    let hits = ranked
        .iter()
        .take(k)
        .filter(|p| relevant.contains(p))
        .count();
    hits as f64 / k.min(relevant.len()) as f64
}

fn ndcg_at(ranked: &[usize], relevant: &[usize], k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, p)| relevant.contains(p))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..k.min(relevant.len()))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    dcg / ideal
}

/// `papers`, each marked "more like this".
fn more_like<'a>(c: &'a Corpus, papers: &[usize]) -> Vec<Marked<'a>> {
    papers
        .iter()
        .map(|&i| Marked {
            paper: &c.ids[i],
            mark: Mark::More,
            vector: &c.vectors[i],
        })
        .collect()
}

fn rank(
    c: &Corpus,
    method: Method,
    marks: &[usize],
    candidates: &[usize],
    rng: &mut StdRng,
) -> Vec<usize> {
    let mut order = candidates.to_vec();
    // A random order first, so every tie is broken at random.
    order.shuffle(rng);
    let marked = more_like(c, marks);
    let (profile, vectors) = match method {
        Method::Random => return order,
        Method::Upvotes => {
            order.sort_by_key(|&p| std::cmp::Reverse(c.upvotes[p]));
            return order;
        }
        Method::Rocchio => (Profile::build(&marked, &c.df), &c.tfidf),
        Method::RocchioBackground => (
            Profile::rocchio(&marked, &c.background, &c.df, Weighting::TfIdf),
            &c.tfidf,
        ),
        Method::RocchioBm25 => (
            Profile::rocchio(&marked, &Background::default(), &c.df, Weighting::Bm25),
            &c.bm25,
        ),
        Method::Svm => (
            Profile::linear_svm(&marked, &c.background, &c.df, Weighting::TfIdf),
            &c.tfidf,
        ),
        Method::Prf => {
            // The first ranking's top papers count as marked "more" too.
            let first = rank(c, Method::Rocchio, marks, candidates, rng);
            let more: Vec<usize> = marks
                .iter()
                .copied()
                .chain(first.into_iter().take(PRF_PAPERS))
                .collect();
            (Profile::build(&more_like(c, &more), &c.df), &c.tfidf)
        }
    };
    let profile = profile.expect("marks give a profile");
    let scores: HashMap<usize, f32> = order
        .iter()
        .map(|&p| (p, profile.score(&vectors[p])))
        .collect();
    order.sort_by(|a, b| scores[b].total_cmp(&scores[a]));
    order
}

fn percentile(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let trials: usize = arg(&args, "--trials").map_or(40, |s| s.parse().expect("a number"));
    let seed: u64 = arg(&args, "--seed").map_or(17, |s| s.parse().expect("a number"));
    let quick = args.iter().any(|a| a == "--quick");
    let methods: &[Method] = if quick { &Method::QUICK } else { &Method::ALL };
    let mut items = if args.iter().any(|a| a == "--without-fixtures") {
        Vec::new()
    } else {
        load_fixtures()
    };
    let fixture_count = items.len();
    if let Some(path) = arg(&args, "--papers") {
        let mut extra = load_jsonl(&path);
        extra.retain(|e| !items.iter().any(|i| i.paper.id == e.paper.id));
        items.extend(extra);
    }

    let features = Features::new();
    let counts: Vec<_> = items.iter().map(|i| features.counts(&i.paper)).collect();
    let mut df = DocumentFrequencies::new(365);
    df.add_day(NaiveDate::MIN, &DayDf::new(counts.iter()))
        .expect("one day");
    let vectors: Vec<PaperVector> = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
    let ids: Vec<PaperId> = items.iter().map(|i| i.paper.id.clone()).collect();
    let pairs: Vec<(&PaperId, &PaperVector)> = ids.iter().zip(&vectors).collect();
    let background = Background::new(&pairs, &df, Weighting::TfIdf);
    let corpus = Corpus {
        background,
        ids,
        tfidf: vectors
            .iter()
            .map(|v| Weighted::new(v, &df, Weighting::TfIdf))
            .collect(),
        bm25: vectors
            .iter()
            .map(|v| Weighted::new(v, &df, Weighting::Bm25))
            .collect(),
        upvotes: items
            .iter()
            .map(|i| i.paper.upvotes.unwrap_or(-1))
            .collect(),
        vectors,
        df,
    };
    let groups = groups(&items);
    println!(
        "papers: {} ({} from tests/fixtures), groups of at least {MIN_GROUP}: {}, trials per group: {trials}, seed {seed}",
        items.len(),
        fixture_count,
        groups.len()
    );
    let terms: Vec<usize> = corpus.vectors.iter().map(PaperVector::len).collect();
    let bytes: usize = corpus.vectors.iter().map(|v| v.encode().len()).sum();
    println!(
        "paper vectors: {:.0} terms on average (max {}), {:.0} bytes stored on average\n",
        terms.iter().sum::<usize>() as f64 / terms.len() as f64,
        terms.iter().max().unwrap_or(&0),
        bytes as f64 / terms.len() as f64
    );

    let mut rng = StdRng::seed_from_u64(seed);
    // method -> per group (p@5, ndcg@10) means
    let mut results: BTreeMap<Method, Vec<(f64, f64)>> = BTreeMap::new();
    let all: Vec<usize> = (0..items.len()).collect();
    for (_, members) in &groups {
        let mut sums: HashMap<Method, (f64, f64)> = HashMap::new();
        for t in 0..trials {
            let k = (3 + t % 3).min(members.len() - 3);
            let mut pool = members.clone();
            pool.shuffle(&mut rng);
            let marks: Vec<usize> = pool[..k].to_vec();
            let relevant: Vec<usize> = pool[k..].to_vec();
            let candidates: Vec<usize> =
                all.iter().copied().filter(|p| !marks.contains(p)).collect();
            for &m in methods {
                let ranked = rank(&corpus, m, &marks, &candidates, &mut rng);
                let e = sums.entry(m).or_default();
                e.0 += precision_at(&ranked, &relevant, 5);
                e.1 += ndcg_at(&ranked, &relevant, 10);
            }
        }
        for &m in methods {
            let (p, n) = sums[&m];
            results
                .entry(m)
                .or_default()
                .push((p / trials as f64, n / trials as f64));
        }
    }

    println!("| group | papers | P@5 ranked | P@5 upvotes | P@5 random | nDCG@10 ranked | nDCG@10 upvotes | nDCG@10 random |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (g, (name, members)) in groups.iter().enumerate() {
        let r = |m: Method| results[&m][g];
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            members.len(),
            r(Method::Rocchio).0,
            r(Method::Upvotes).0,
            r(Method::Random).0,
            r(Method::Rocchio).1,
            r(Method::Upvotes).1,
            r(Method::Random).1,
        );
    }
    println!("\n| method (mean over groups) | P@5 | nDCG@10 |");
    println!("|---|---:|---:|");
    for &m in methods {
        let v = &results[&m];
        let p = v.iter().map(|x| x.0).sum::<f64>() / v.len().max(1) as f64;
        let n = v.iter().map(|x| x.1).sum::<f64>() / v.len().max(1) as f64;
        println!("| {} | {p:.2} | {n:.2} |", m.name());
    }
    // Archive groups are listings (the leftovers of small categories), not
    // one interest: the means without them, beside the ones with.
    let kept: Vec<usize> = (0..groups.len())
        .filter(|&g| !groups[g].0.ends_with("(archive)"))
        .collect();
    if kept.len() < groups.len() {
        println!(
            "\n| method (mean over {} groups, archive catch-alls left out) | P@5 | nDCG@10 |",
            kept.len()
        );
        println!("|---|---:|---:|");
        for &m in methods {
            let v = &results[&m];
            let p = kept.iter().map(|&g| v[g].0).sum::<f64>() / kept.len().max(1) as f64;
            let n = kept.iter().map(|&g| v[g].1).sum::<f64>() / kept.len().max(1) as f64;
            println!("| {} | {p:.2} | {n:.2} |", m.name());
        }
    }

    // Thresholds: cosines between two papers of one group and of
    // different groups; and Rocchio scores of relevant and other papers.
    let mut group_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (g, (_, members)) in groups.iter().enumerate() {
        for &p in members {
            group_of.entry(p).or_default().push(g);
        }
    }
    let (mut same, mut different) = (Vec::new(), Vec::new());
    let grouped: Vec<usize> = group_of.keys().copied().collect();
    for (x, &a) in grouped.iter().enumerate() {
        for &b in &grouped[x + 1..] {
            let c = corpus.tfidf[a].dot(&corpus.tfidf[b]);
            if group_of[&a].iter().any(|g| group_of[&b].contains(g)) {
                same.push(c);
            } else {
                different.push(c);
            }
        }
    }
    same.sort_by(f32::total_cmp);
    different.sort_by(f32::total_cmp);
    println!("\ncosine of two papers (tf-idf) | pairs | median | 90th pct | 99th pct | max");
    println!("---|---:|---:|---:|---:|---:");
    for (name, v) in [("same group", &same), ("different groups", &different)] {
        println!(
            "{name} | {} | {:.3} | {:.3} | {:.3} | {:.3}",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
    println!("\n`like:` threshold | share of pairs at or above it that are in one group | share of same-group pairs kept");
    println!("---:|---:|---:");
    for t in [0.05f32, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3] {
        let s = same.iter().filter(|&&c| c >= t).count();
        let d = different.iter().filter(|&&c| c >= t).count();
        println!(
            "{t:.2} | {:.2} | {:.2}",
            s as f64 / (s + d).max(1) as f64,
            s as f64 / same.len().max(1) as f64
        );
    }

    // Recommendation threshold: one profile per group from 4 marks.
    let (mut rel_scores, mut other_scores) = (Vec::new(), Vec::new());
    for (_, members) in &groups {
        for _ in 0..trials {
            let mut pool = members.clone();
            pool.shuffle(&mut rng);
            let k = 4.min(members.len() - 3);
            let profile =
                Profile::build(&more_like(&corpus, &pool[..k]), &corpus.df).expect("a profile");
            for p in all.iter().filter(|p| !pool[..k].contains(p)) {
                let s = profile.score(&corpus.tfidf[*p]);
                if pool[k..].contains(p) {
                    rel_scores.push(s);
                } else {
                    other_scores.push(s);
                }
            }
        }
    }
    println!("\nrecommendation threshold (default profile, 4 marks) | precision of papers at or above it | share of the group's papers reached");
    println!("---:|---:|---:");
    for t in [0.05f32, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25] {
        let r = rel_scores.iter().filter(|&&s| s >= t).count();
        let o = other_scores.iter().filter(|&&s| s >= t).count();
        println!(
            "{t:.2} | {:.2} | {:.2}",
            r as f64 / (r + o).max(1) as f64,
            r as f64 / rel_scores.len().max(1) as f64
        );
    }
}
