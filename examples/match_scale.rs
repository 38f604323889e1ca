//! How matching time grows with subscribers and papers: the digest run's
//! planning path (`Matcher::new`, then per subscriber
//! `plan::plan_page`: `CompiledTopics::compile` + `plan::candidate_sets`) over synthetic
//! subscribers with 3 topic queries each, drawn Zipf-wise from a pool of
//! realistic queries (see `benches/synthetic`).
//!
//! ```sh
//! cargo run --release --example match_scale -- [--subscribers 10000,100000,1000000] [--papers 100,1000] [--runs 3] [--match-only]
//! ```
//!
//! Prints a Markdown table; each time is the median of `--runs` runs.
//! "match" is wall time from the papers and subscribers' topic texts in
//! memory to every subscriber's matching papers, including parsing and
//! compiling every query; "plan" adds `plan::finish_sets` (listing and explaining up to 50
//! kept papers per subscriber, as the run does before rendering).
//! Generating the synthetic subscribers is not timed.

#[path = "../benches/synthetic/mod.rs"]
mod synthetic;

// The allocator the daemon runs with (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use paperboy::digest::plan;
use paperboy::matching::Matcher;

const PAGE: usize = 500;
const TOPICS: usize = 3;
const MAX_PAPERS: usize = 50;

fn list(args: &[String], flag: &str, default: &[usize]) -> Vec<usize> {
    match args.iter().position(|a| a == flag) {
        Some(i) => args
            .get(i + 1)
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().replace('_', "").parse().expect("a number"))
                    .collect()
            })
            .unwrap_or_else(|| panic!("{flag} needs a value")),
        None => default.to_vec(),
    }
}

/// This thread's time on a CPU so far (Linux; zero elsewhere): on a shared
/// machine it moves less than wall time.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

struct Measured {
    matching: Duration,
    matching_cpu: Duration,
    planning: Duration,
    distinct: usize,
    matched_subscribers: usize,
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn run_once(
    papers: &[paperboy::domain::Paper],
    subscribers: usize,
    pool: &mut synthetic::TopicPool,
    explain: bool,
) -> Measured {
    let mut matching = Duration::ZERO;
    let mut matching_cpu = Duration::ZERO;
    let mut explaining = Duration::ZERO;
    let mut matched_subscribers = 0;
    let no_history = HashSet::new();
    let t = Instant::now();
    let c = thread_cpu();
    let mut matcher = Matcher::new(papers);
    matching += t.elapsed();
    matching_cpu += thread_cpu() - c;
    let mut done = 0;
    while done < subscribers {
        let n = PAGE.min(subscribers - done);
        // The store hands the run one page of subscribers at a time.
        let page: Vec<Vec<paperboy::domain::Topic>> =
            (0..n).map(|_| pool.subscriber_topics(TOPICS)).collect();
        let t = Instant::now();
        let c = thread_cpu();
        let topics: Vec<&[paperboy::domain::Topic]> = page.iter().map(Vec::as_slice).collect();
        let planned = plan::plan_page(&mut matcher, &topics);
        matched_subscribers += planned.iter().filter(|(_, c)| !c.is_empty()).count();
        matching += t.elapsed();
        matching_cpu += thread_cpu() - c;
        let t = Instant::now();
        for (compiled, candidates) in planned {
            if !explain {
                continue;
            }
            let (kept, _) = plan::finish_sets(
                &matcher,
                papers,
                &compiled,
                &candidates,
                &no_history,
                MAX_PAPERS,
            );
            std::hint::black_box(kept);
        }
        explaining += t.elapsed();
        done += n;
    }
    Measured {
        matching,
        matching_cpu,
        planning: matching + explaining,
        // One cache entry per distinct text (counted here rather than in a
        // set of its own, which would share the caches with the timed part).
        distinct: matcher.text_count(),
        matched_subscribers,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let subscriber_counts = list(&args, "--subscribers", &[10_000, 100_000, 1_000_000]);
    let paper_counts = list(&args, "--papers", &[100, 1_000]);
    let runs = list(&args, "--runs", &[3])[0].max(1);
    // `--match-only`: skip the explain step (for profiling the match step).
    let explain = !args.iter().any(|a| a == "--match-only");
    let vocab = synthetic::Vocabulary::load();
    println!(
        "vocabulary: {} words, {} phrases, {} surnames, {} categories; {TOPICS} topics per subscriber; median of {runs} runs",
        vocab.words.len(),
        vocab.bigrams.len(),
        vocab.surnames.len(),
        vocab.categories.len()
    );
    println!();
    println!("| subscribers | papers | distinct topic texts | match (ms) | µs / subscriber | plan incl. explain (ms) | subscribers matched |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &papers_n in &paper_counts {
        let mut synth = synthetic::Synth::new(&vocab, 7);
        let mut papers = synth.papers(papers_n);
        // As the digest run does after loading the day's papers.
        plan::sort_for_mail(&mut papers);
        for &subs in &subscriber_counts {
            // One pool query per subscriber: with Zipf draws about a tenth
            // of a large run's topic texts are distinct.
            let mut qsynth = synthetic::Synth::new(&vocab, 11);
            let mut results = Vec::new();
            for r in 0..runs {
                let mut pool = synthetic::TopicPool::new(&mut qsynth, subs, 13 + r as u64);
                results.push(run_once(&papers, subs, &mut pool, explain));
            }
            if std::env::var_os("MATCH_SCALE_ALL").is_some() {
                let all: Vec<String> = results
                    .iter()
                    .map(|m| {
                        format!(
                            "{:.0} (cpu {:.0})",
                            m.matching.as_secs_f64() * 1e3,
                            m.matching_cpu.as_secs_f64() * 1e3
                        )
                    })
                    .collect();
                eprintln!("runs, match ms: {}", all.join(" "));
            }
            let m = median(results.iter().map(|m| m.matching).collect());
            let p = median(results.iter().map(|m| m.planning).collect());
            let first = &results[0];
            println!(
                "| {subs} | {papers_n} | {} | {:.0} | {:.2} | {:.0} | {} |",
                first.distinct,
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() * 1e6 / subs as f64,
                p.as_secs_f64() * 1e3,
                first.matched_subscribers,
            );
        }
    }
}
