//! Where the first search of a range of days goes on the papers pages:
//! times reading the range from the store (`Store::listed_papers`),
//! indexing it (`Matcher::new`) and compiling and matching two queries,
//! each `--runs` times, over the last `--days` days of a database filled
//! by `examples/pages_corpus.rs`.
//!
//!     cargo run --release --example pages_corpus -- --db sqlite:///tmp/pb.db
//!     cargo run --release --example pages_cold -- --db sqlite:///tmp/pb.db --days 30
//!
//! `scripts/bench-pages-cold` runs both on a fresh corpus.

use std::time::Instant;

use anyhow::Context as _;
use chrono::Duration;
use paperboy::matching::{Matcher, Query};
use paperboy::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut db = None;
    let mut days = 30i64;
    let mut runs = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--db" => db = Some(value),
            "--days" => days = value.parse().context("--days")?,
            "--runs" => runs = value.parse().context("--runs")?,
            _ => anyhow::bail!("usage: pages_cold --db URL [--days N] [--runs N]"),
        }
    }
    let store = Store::open(&db.context("--db URL is required")?, 4).await?;
    let to = store
        .latest_announced_day()
        .await?
        .context("the database has no papers")?;
    let from = to - Duration::days(days - 1);
    let queries = [
        Query::parse("abs:\"language models\"")?,
        Query::parse("(model* OR learn* OR data*) AND NOT cat:cs.CV")?,
    ];
    println!("| run | papers | read (ms) | index (ms) | typical query (ms) | heavy query (ms) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for run in 1..=runs {
        let t = Instant::now();
        let listing = store.listed_papers(from, to).await?;
        let read = t.elapsed();
        let t = Instant::now();
        let mut matcher = Matcher::new(&listing.papers);
        let index = t.elapsed();
        let mut q_ms = Vec::new();
        for q in &queries {
            let t = Instant::now();
            let c = matcher.compile(q);
            let hits = matcher.matches(&c);
            std::hint::black_box(hits);
            q_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "| {run} | {} | {:.0} | {:.0} | {:.1} | {:.1} |",
            listing.papers.len(),
            read.as_secs_f64() * 1e3,
            index.as_secs_f64() * 1e3,
            q_ms[0],
            q_ms[1]
        );
    }
    Ok(())
}
