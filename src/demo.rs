//! `paperboy demo`: the whole pipeline on bundled data, offline.
//!
//! Real recorded Hugging Face Daily Papers and arXiv announcement payloads
//! (compiled into the binary) go through the real parsers into a fresh
//! SQLite database; one subscriber with three topics gets the day's digest
//! through the file transport. Nothing leaves the machine.

use std::path::Path;

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use indicatif::ProgressBar;

use crate::app::App;
use crate::digest::DigestOptions;
use crate::domain::NewTopic;
use crate::domain::SubscriberEmail;
use crate::jobs::digest::digest_job;
use crate::mail::TransportKind;
use crate::settings::Settings;

/// Hugging Face Daily Papers for 2026-06-12, as recorded.
const SAMPLE_HF: &[u8] =
    include_bytes!("../tests/fixtures/hf_daily_papers_2026-06-12_full_30items.json");
const SAMPLE_DATE: &str = "2026-06-12";

pub async fn run(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut settings = Settings::default();
    settings.database.url = format!("sqlite://{}", dir.join("paperboy.db").display());
    settings.mail.transport = TransportKind::File;
    settings.mail.outbox_dir = dir.join("outbox");
    settings.security.signing_key_file = dir.join("signing.key");
    settings.sources.clear();
    settings.validate()?;
    let app = App::build(settings).await?;
    let date: NaiveDate = SAMPLE_DATE.parse().expect("valid sample date");

    let papers =
        crate::sources::hf_daily::parse(SAMPLE_HF).context("parsing the bundled sample")?;
    let stored = app
        .store
        .store_fetched("sample-hf", &papers, Utc::now())
        .await?;
    println!(
        "stored {} sample papers from Hugging Face Daily Papers ({SAMPLE_DATE})",
        papers.len()
    );
    let _ = stored;

    let email = SubscriberEmail::parse("you@example.org").expect("valid demo address");
    let topics = [
        ("LLM agents", "ti:agent* OR abs:\"llm agents\""),
        (
            "Diffusion and image generation",
            "diffusion OR \"image generation\"",
        ),
        (
            "Efficient attention and decoding",
            "\"sparse attention\" OR \"speculative decoding\" OR upvotes>=100",
        ),
    ];
    let topics: Vec<NewTopic> = topics
        .iter()
        .map(|(name, q)| NewTopic {
            name: (*name).into(),
            query: (*q).into(),
        })
        .collect();
    app.store.upsert_active(&email, &topics, Utc::now()).await?;
    println!("subscriber {email} follows:");
    for t in &topics {
        println!("  {:<34} {}", t.name, t.query);
    }

    let report = digest_job(
        &app.digest_run(),
        date,
        DigestOptions::default(),
        &ProgressBar::hidden(),
    )
    .await?;
    if report.sent == 0 && report.already_done > 0 {
        println!("\nthe digest for {SAMPLE_DATE} was already sent in an earlier demo run (each digest goes out once);");
        println!("delete {} to start over", dir.display());
    }
    let outbox = &app.settings.mail.outbox_dir;
    let mut mails: Vec<_> = std::fs::read_dir(outbox)
        .with_context(|| format!("reading {}", outbox.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    mails.sort();
    let sub = app.store.subscriber_by_email(&email).await?;
    if let Some(rendered) = app.digest_run().preview(sub, date, Utc::now()).await? {
        println!("\n---- {} ----\n{}", rendered.subject, rendered.text);
    }
    for m in &mails {
        println!("digest written to {}", m.display());
    }
    Ok(())
}
