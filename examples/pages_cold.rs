//! Where the first search of a range of days goes on the papers pages,
//! over the last `--days` days of a database filled by
//! `examples/pages_corpus.rs`, `--runs` times (then the medians):
//!
//! - one index over the range: reading the range from the store
//!   (`Store::listed_papers`), indexing it (`Matcher::new`), compiling and
//!   matching a typical and a heavy query;
//! - an index per day, as the pages cache them: reading each day
//!   (`Store::listing_days`, then `listed_papers` per day), indexing each,
//!   and the two queries matched on every day's index; then the same
//!   queries again on the built indexes (a warm search).
//!
//! ```text
//! cargo run --release --example pages_corpus -- --db sqlite:///tmp/pb.db
//! cargo run --release --example pages_cold -- --db sqlite:///tmp/pb.db --days 30
//! ```

use std::time::Instant;

use anyhow::Context as _;
use chrono::Duration;
use paperboy::matching::{Matcher, Query};
use paperboy::store::Store;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

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
    println!(
        "| index | run | papers | read (ms) | index (ms) | typical query (ms) | heavy query (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // Per way: read, index, typical, heavy, warm typical, warm heavy.
    let mut one: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut per_day: Vec<Vec<f64>> = vec![Vec::new(); 6];
    let mut papers = 0;
    for run in 1..=runs {
        let t = Instant::now();
        let listing = store.listed_papers(from, to).await?;
        let read = ms(t);
        let t = Instant::now();
        let mut matcher = Matcher::new(&listing.papers);
        let index = ms(t);
        let mut q_ms = Vec::new();
        for q in &queries {
            let t = Instant::now();
            let c = matcher.compile(q);
            std::hint::black_box(matcher.matches(&c));
            q_ms.push(ms(t));
        }
        papers = listing.papers.len();
        println!(
            "| one over the range | {run} | {papers} | {read:.0} | {index:.0} | {:.1} | {:.1} |",
            q_ms[0], q_ms[1]
        );
        for (v, x) in one.iter_mut().zip([read, index, q_ms[0], q_ms[1]]) {
            v.push(x);
        }
        drop(matcher);
        drop(listing);

        let t = Instant::now();
        let mut listings = Vec::new();
        for (d, _) in store.listing_days(from, to).await? {
            listings.push(store.listed_papers(d, d).await?);
        }
        let read = ms(t);
        let t = Instant::now();
        let mut matchers: Vec<Matcher> = listings.iter().map(|l| Matcher::new(&l.papers)).collect();
        let index = ms(t);
        let mut q_ms = Vec::new();
        for _warm in 0..2 {
            for q in &queries {
                let t = Instant::now();
                for m in &mut matchers {
                    let c = m.compile(q);
                    std::hint::black_box(m.matches(&c));
                }
                q_ms.push(ms(t));
            }
        }
        println!(
            "| per day ({} days) | {run} | {} | {read:.0} | {index:.0} | {:.1} (warm {:.2}) | {:.1} (warm {:.2}) |",
            listings.len(),
            listings.iter().map(|l| l.papers.len()).sum::<usize>(),
            q_ms[0], q_ms[2], q_ms[1], q_ms[3]
        );
        for (v, x) in per_day
            .iter_mut()
            .zip([read, index, q_ms[0], q_ms[1], q_ms[2], q_ms[3]])
        {
            v.push(x);
        }
    }
    let one: Vec<f64> = one.into_iter().map(median).collect();
    let per_day: Vec<f64> = per_day.into_iter().map(median).collect();
    println!(
        "| **one over the range, median** | | {papers} | {:.0} | {:.0} | {:.1} | {:.1} |",
        one[0], one[1], one[2], one[3]
    );
    println!(
        "| **per day, median** | | {papers} | {:.0} | {:.0} | {:.1} (warm {:.2}) | {:.1} (warm {:.2}) |",
        per_day[0], per_day[1], per_day[2], per_day[4], per_day[3], per_day[5]
    );
    Ok(())
}
