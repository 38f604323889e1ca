//! Fills a paperboy database with a synthetic corpus for the papers pages'
//! benchmark (`scripts/bench-pages`): `--papers` papers (default 100,000)
//! spread evenly over `--days` announcement days (default 100) ending on
//! `--end`, drawn from the real papers' vocabulary (see
//! `benches/synthetic`); about 3 % of each day carry Hugging Face upvotes
//! and are also listed by an `hf` source, the rest only by `rss`.
//!
//!     cargo run --release --example pages_corpus -- --db sqlite:///tmp/pb.db

#[path = "../benches/synthetic/mod.rs"]
mod synthetic;

use anyhow::Context as _;
use chrono::{Duration, NaiveDate, Utc};
use paperboy::domain::{AnnounceType, FetchedPaper, PaperId};
use paperboy::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut db = None;
    let mut papers = 100_000usize;
    let mut days = 100usize;
    let mut end: NaiveDate = "2026-06-12".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--db" => db = Some(value),
            "--papers" => papers = value.parse().context("--papers")?,
            "--days" => days = value.parse().context("--days")?,
            "--end" => end = value.parse().context("--end")?,
            _ => anyhow::bail!(
                "usage: pages_corpus --db URL [--papers N] [--days D] [--end YYYY-MM-DD]"
            ),
        }
    }
    let db = db.context("--db URL is required")?;
    let store = Store::open(&db, 4).await?;
    let vocab = synthetic::Vocabulary::load();
    let mut synth = synthetic::Synth::new(&vocab, 11);
    let per_day = papers.div_ceil(days.max(1));
    let voted = (per_day * 3).div_ceil(100);
    let started = std::time::Instant::now();
    for d in 0..days {
        let day = end - Duration::days((days - 1 - d) as i64);
        let mut rss = Vec::with_capacity(per_day);
        let mut hf = Vec::new();
        for k in 0..per_day {
            let i = d * per_day + k;
            if i >= papers {
                break;
            }
            let mut paper = synth.paper(i);
            paper.id =
                PaperId::from_stored(format!("{}.{:05}", day.format("%y%m"), 10_000 + i % 90_000));
            paper.url = format!("https://arxiv.org/abs/{}", paper.id);
            paper.upvotes = None;
            let fetched = |paper| FetchedPaper {
                paper,
                day,
                announce_type: Some(AnnounceType::New),
            };
            if k < voted {
                let mut p = paper.clone();
                p.upvotes = Some(((i * 7919) % 150) as i64);
                hf.push(fetched(p));
            }
            rss.push(fetched(paper));
        }
        store.store_fetched("hf", &hf, Utc::now()).await?;
        store.store_fetched("rss", &rss, Utc::now()).await?;
    }
    println!(
        "{} papers over {days} days ending {end} in {:.1} s",
        store.paper_count().await?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
