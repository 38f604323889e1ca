//! A day of synthetic papers as the Hugging Face Daily Papers API returns
//! it (`kind = "hf_daily_papers"`, the shape of
//! `tests/fixtures/hf_daily_papers_2026-06-12_full_30items.json`), for the
//! end-to-end benchmarks that need more papers than the recorded day has.
//! The papers come from `benches/synthetic` (the bundled real papers'
//! vocabulary at its real frequencies), deterministic for a seed and date.
//!
//! Ids are `YYMM.NNNNN` with `NNNNN` = (day of month − 1) × 3000 + i, so
//! the days of a month never share an id (hence at most 3000 papers).
//!
//! cargo run --release --example synthetic_feed -- --date 2026-06-12 [--papers 1000] [--seed 1] [--out FILE]

#[path = "../benches/synthetic/mod.rs"]
mod synthetic;

use std::io::Write as _;

use chrono::{Datelike, NaiveDate};
use serde_json::json;

/// Papers a day can hold without its ids running into the next day's.
const MAX_PAPERS: usize = 3000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let date: NaiveDate = arg("--date")
        .expect("--date YYYY-MM-DD")
        .parse()
        .expect("--date: a date like 2026-06-12");
    let papers: usize = arg("--papers").map_or(1000, |v| v.parse().expect("--papers: a number"));
    assert!(
        (1..=MAX_PAPERS).contains(&papers),
        "--papers: 1 to {MAX_PAPERS}"
    );
    let seed: u64 = arg("--seed").map_or(1, |v| v.parse().expect("--seed: a number"));

    let vocab = synthetic::Vocabulary::load();
    // Each date its own papers for the same seed.
    let mut synth = synthetic::Synth::new(&vocab, seed ^ (date.num_days_from_ce() as u64) << 20);
    let day = format!("{date}T00:00:00.000Z");
    let prefix = format!("{:02}{:02}", date.year() % 100, date.month());
    let first = (date.day0() as usize) * MAX_PAPERS;
    let items: Vec<serde_json::Value> = (0..papers)
        .map(|i| {
            let p = synth.paper(i);
            let id = format!("{prefix}.{:05}", first + i);
            let authors: Vec<_> = p.authors.iter().map(|a| json!({ "name": a })).collect();
            json!({
                "paper": {
                    "id": id,
                    "authors": authors,
                    "publishedAt": day,
                    "submittedOnDailyAt": day,
                    "title": p.title,
                    "summary": p.abstract_text,
                    "upvotes": p.upvotes.unwrap_or(0),
                },
                "publishedAt": day,
                "title": p.title,
                "summary": p.abstract_text,
                "numComments": 0,
            })
        })
        .collect();
    let body = serde_json::to_vec(&items).expect("JSON");
    match arg("--out") {
        Some(path) => std::fs::write(&path, body).unwrap_or_else(|e| panic!("writing {path}: {e}")),
        None => std::io::stdout().lock().write_all(&body).expect("stdout"),
    }
}
