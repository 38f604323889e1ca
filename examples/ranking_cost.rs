//! What ranking costs the digest run: synthetic subscribers with 20 marks
//! each (16 "more", 4 "less") against a day of 1,000 papers. Prints the
//! time to build a profile (done when a subscriber marks, not per run), to
//! decode and score one subscriber against the whole day (what the run
//! adds per subscriber: decode the stored profile, weigh the "less" papers,
//! score every paper, order a 50-paper section, pick 5 recommendations),
//! the bytes of a stored profile and of a paper vector, and peak memory.
//!
//! ```sh
//! cargo run --release --example ranking_cost -- [--subscribers 100000] [--papers 1000] [--runs 3]
//! ```
//!
//! Papers are drawn from the vocabulary of the bundled real papers (see
//! `benches/synthetic`); marks from a pool of 5,000 earlier papers, the
//! background from 300 of them. Subscribers are processed a page of 500 at
//! a time, as the run streams them; each time is the median of `--runs`.

#[path = "../benches/synthetic/mod.rs"]
mod synthetic;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use paperboy::domain::PaperId;
use paperboy::ranking::{
    reason, Background, Day, DayDf, DocumentFrequencies, Features, Mark, Marked, PaperVector,
    Profile, Weighted, Weighting, RECOMMEND_THRESHOLD,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const PAGE: usize = 500;
const POOL: usize = 5_000;
const MORE: usize = 16;
const LESS: usize = 4;
const SECTION: usize = 50;

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .map(|i| {
            args.get(i + 1)
                .unwrap_or_else(|| panic!("{flag} needs a value"))
                .replace('_', "")
                .parse()
                .expect("a number")
        })
        .unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// This thread's time on a CPU so far (Linux; zero elsewhere): on a shared
/// machine it moves less than wall time.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Run {
    build: Duration,
    build_cpu: Duration,
    score: Duration,
    score_cpu: Duration,
    profile_bytes: usize,
    profile_terms: usize,
    recommended: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let subscribers = arg(&args, "--subscribers", 100_000);
    let n_papers = arg(&args, "--papers", 1_000);
    let runs = arg(&args, "--runs", 3).max(1);

    let vocab = synthetic::Vocabulary::load();
    let mut synth = synthetic::Synth::new(&vocab, 7);
    let pool = synth.papers(POOL);
    let today_papers: Vec<_> = synth.papers(n_papers + POOL)[POOL..].to_vec();
    let features = Features::new();

    // A window of days: the pool over 50 earlier days, then today.
    let t0 = Instant::now();
    let today = NaiveDate::from_ymd_opt(2026, 6, 12).expect("a date");
    let mut df = DocumentFrequencies::new(365);
    let pool_counts: Vec<_> = pool.iter().map(|p| features.counts(p)).collect();
    for (d, chunk) in pool_counts.chunks(POOL / 50).enumerate() {
        let day = today - Days::new(50 - d as u64);
        df.add_day(day, &DayDf::new(chunk.iter()))
            .expect("a new day");
    }
    let counts: Vec<_> = today_papers.iter().map(|p| features.counts(p)).collect();
    let today_df = DayDf::new(counts.iter());
    df.add_day(today, &today_df).expect("a new day");
    let vectors: Vec<PaperVector> = counts.iter().map(|c| PaperVector::new(c, &df)).collect();
    let fetch_time = t0.elapsed();
    let pool_vectors: Vec<PaperVector> = pool_counts
        .iter()
        .map(|c| PaperVector::new(c, &df))
        .collect();
    let pool_ids: Vec<PaperId> = (0..POOL)
        .map(|i| PaperId::from_stored(format!("pool{i}")))
        .collect();
    let vector_bytes: usize = vectors.iter().map(|v| v.encode().len()).sum();
    let day_df_bytes = today_df.encode().len();

    let bg_pairs: Vec<(&PaperId, &PaperVector)> = pool_ids
        .iter()
        .zip(&pool_vectors)
        .step_by(POOL / 300)
        .collect();
    let t0 = Instant::now();
    let background = Background::new(&bg_pairs, &df, Weighting::DEFAULT);
    let background_time = t0.elapsed();

    let t0 = Instant::now();
    let day = Day::new(
        today_papers.iter().map(|p| p.id.clone()).zip(&vectors),
        &df,
        Weighting::DEFAULT,
    );
    let day_time = t0.elapsed();
    let upvotes: Vec<Option<i64>> = today_papers.iter().map(|p| p.upvotes).collect();

    println!(
        "{subscribers} subscribers × {MORE} more + {LESS} less marks, {n_papers} papers today, marks from {POOL} earlier papers, background of {} papers, {runs} runs",
        background.len()
    );

    let mut results: Vec<Run> = Vec::new();
    for _ in 0..runs {
        let mut rng = StdRng::seed_from_u64(11);
        let (mut build, mut score) = (Duration::ZERO, Duration::ZERO);
        let (mut build_cpu, mut score_cpu) = (Duration::ZERO, Duration::ZERO);
        // The run weighs each marked paper once and reuses it for every
        // subscriber who marked it.
        let mut weighted: HashMap<usize, Weighted> = HashMap::new();
        let (mut profile_bytes, mut profile_terms, mut recommended) = (0usize, 0usize, 0usize);
        let mut scratch_section: Vec<usize> = Vec::with_capacity(SECTION);
        let mut in_section = vec![false; n_papers];
        let mut done = 0;
        while done < subscribers {
            let page = PAGE.min(subscribers - done);
            done += page;
            // Marks of the page's subscribers: indices into the pool.
            let marks: Vec<Vec<(usize, Mark)>> = (0..page)
                .map(|_| {
                    (0..MORE + LESS)
                        .map(|k| {
                            let m = if k < MORE { Mark::More } else { Mark::Less };
                            (rng.random_range(0..POOL), m)
                        })
                        .collect()
                })
                .collect();
            // When they marked: build and store each profile.
            let (t, c) = (Instant::now(), thread_cpu());
            let blobs: Vec<Vec<u8>> = marks
                .iter()
                .map(|ms| {
                    let marked: Vec<Marked> = ms
                        .iter()
                        .map(|&(i, mark)| Marked {
                            paper: &pool_ids[i],
                            mark,
                            vector: &pool_vectors[i],
                        })
                        .collect();
                    Profile::build(&marked, &df)
                        .expect("marks give a profile")
                        .encode()
                })
                .collect();
            build += t.elapsed();
            build_cpu += thread_cpu() - c;
            profile_bytes += blobs.iter().map(Vec::len).sum::<usize>();
            // The run: read each profile, weigh its "less" papers, score the
            // day, order a section, pick recommendations with reasons.
            let (t, c) = (Instant::now(), thread_cpu());
            for (blob, ms) in blobs.iter().zip(&marks) {
                let profile = Profile::decode(blob).expect("a stored profile");
                profile_terms += profile.len();
                for &(i, _) in ms {
                    weighted.entry(i).or_insert_with(|| {
                        Weighted::new(&pool_vectors[i], &df, Weighting::DEFAULT)
                    });
                }
                let less_refs: Vec<(&PaperId, &Weighted)> = ms
                    .iter()
                    .filter(|(_, m)| *m == Mark::Less)
                    .map(|&(i, _)| (&pool_ids[i], &weighted[&i]))
                    .collect();
                let ranking = day.rank(&profile, &less_refs);
                scratch_section.clear();
                let start = rng.random_range(0..n_papers.saturating_sub(SECTION).max(1));
                scratch_section.extend(start..(start + SECTION).min(n_papers));
                for &p in &scratch_section {
                    in_section[p] = true;
                }
                ranking.order(&mut scratch_section, |i| upvotes[i]);
                let recs = ranking.recommend(
                    (0..n_papers).filter(|&p| !in_section[p]),
                    5,
                    RECOMMEND_THRESHOLD,
                );
                for &p in &scratch_section {
                    in_section[p] = false;
                }
                if !recs.is_empty() {
                    let refs: Vec<&Weighted> = ms
                        .iter()
                        .filter(|(_, m)| *m == Mark::More)
                        .map(|&(i, _)| &weighted[&i])
                        .collect();
                    for r in &recs {
                        std::hint::black_box(reason(day.vector(r.paper), &refs));
                    }
                }
                recommended += recs.len();
            }
            score += t.elapsed();
            score_cpu += thread_cpu() - c;
        }
        results.push(Run {
            build,
            build_cpu,
            score,
            score_cpu,
            profile_bytes,
            profile_terms,
            recommended,
        });
    }

    let s = subscribers as f64;
    let build = median(results.iter().map(|r| r.build).collect());
    let score = median(results.iter().map(|r| r.score).collect());
    let build_cpu = median(results.iter().map(|r| r.build_cpu).collect());
    let score_cpu = median(results.iter().map(|r| r.score_cpu).collect());
    let r = &results[0];
    let per_profile = r.profile_bytes as f64 / s;
    println!();
    println!("| step | figure |");
    println!("|---|---:|");
    println!(
        "| fetch side: features, day's document frequencies, {} paper vectors | {:.1} ms |",
        n_papers,
        fetch_time.as_secs_f64() * 1e3 * n_papers as f64 / (n_papers + POOL) as f64
    );
    println!(
        "| stored paper vector | {:.0} bytes on average |",
        vector_bytes as f64 / n_papers as f64
    );
    println!("| stored day of document frequencies ({n_papers} papers) | {day_df_bytes} bytes |");
    println!(
        "| background of {} papers (once a day) | {:.2} ms |",
        background.len(),
        background_time.as_secs_f64() * 1e3
    );
    println!(
        "| profile build, per subscriber (at mark time), wall / CPU | {:.1} µs / {:.1} µs |",
        build.as_secs_f64() * 1e6 / s,
        build_cpu.as_secs_f64() * 1e6 / s
    );
    println!(
        "| profile builds, all {subscribers} | {:.2} s |",
        build.as_secs_f64()
    );
    let postings: usize = (0..day.len()).map(|p| day.vector(p).len()).sum();
    let distinct: std::collections::HashSet<u32> = (0..day.len())
        .flat_map(|p| day.vector(p).ids().iter().copied())
        .collect();
    println!(
        "| day index: distinct terms, postings per term | {}, {:.1} |",
        distinct.len(),
        postings as f64 / distinct.len().max(1) as f64
    );
    println!(
        "| day index of {n_papers} papers (once per run) | {:.1} ms |",
        day_time.as_secs_f64() * 1e3
    );
    println!("| scoring, per subscriber (decode, rank {n_papers} papers, order {SECTION}, recommend 5 with reasons), wall / CPU | {:.1} µs / {:.1} µs |", score.as_secs_f64() * 1e6 / s, score_cpu.as_secs_f64() * 1e6 / s);
    println!(
        "| scoring, all {subscribers} (one core) | {:.2} s |",
        score.as_secs_f64()
    );
    println!(
        "| stored profile | {per_profile:.0} bytes ({:.0} terms) |",
        r.profile_terms as f64 / s
    );
    println!(
        "| stored profiles at 1 M subscribers | {:.0} MB |",
        per_profile * 1e6 / 1e6
    );
    println!(
        "| recommendations per subscriber above the threshold | {:.2} |",
        r.recommended as f64 / s
    );
    println!(
        "| peak resident memory of this process | {} MB |",
        peak_rss_kib() / 1024
    );
}
