//! The SMTP send path alone: sends N already prepared ~44 kB digest-sized
//! messages (one per recipient) through the public `Mailer` (its pool of
//! `TCP_NODELAY` connections, PIPELINING when the server offers it) with
//! `--concurrency` sends in flight, and prints messages per second. Nothing
//! is rendered, stored or built while the clock runs, so it is the ceiling
//! the digest run's sending can reach, to compare with Postfix's
//! `smtp-source` against the same sink (`smtp-sink -p` offers no PIPELINING).
//!
//! ```sh
//! smtp-sink -u nobody -c 127.0.0.1:2525 256 &
//! cargo run --release --example smtp_send -- --server smtp://127.0.0.1:2525 --messages 5000 --concurrency 4
//! ```

use std::time::Instant;

use anyhow::Context as _;
use chrono::{NaiveDate, TimeZone, Utc};
use futures::stream::{self, StreamExt as _};
use paperboy::domain::SubscriberEmail;
use paperboy::domain::SubscriberId;
use paperboy::email::{message_id, Occasion};
use paperboy::mail::{EmailKind, MailSettings, Mailer, OutgoingEmail, TransportKind};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let server = arg(&args, "--server").unwrap_or_else(|| "smtp://127.0.0.1:2525".into());
    let messages: usize = arg(&args, "--messages").map_or(Ok(2000), |v| v.parse())?;
    let concurrency: usize = arg(&args, "--concurrency").map_or(Ok(4), |v| v.parse())?;
    let settings = MailSettings {
        from: "Paperboy <digest@papers.example.org>".into(),
        transport: TransportKind::Smtp,
        smtp_url: Some(format!("{server}?tls=none")),
        pool_size: concurrency as u32,
        ..MailSettings::default()
    };
    let mailer = Mailer::from_settings(&settings).context("[mail] settings")?;
    let date = NaiveDate::from_ymd_opt(2026, 6, 12).context("date")?;
    // A digest's shape: ~30 kB of 7bit HTML in short lines, ~13 kB of text.
    let html = "<tr><td style=\"padding:12px 0;\"><a href=\"https://arxiv.org/abs/2606.01234\">A paper title</a> with an abstract excerpt and <mark>highlighted</mark> terms.</td></tr>\n".repeat(190);
    let text = "   A paper abstract, wrapped at seventy-two columns, with its links.\n".repeat(190);
    let mut prepared = Vec::with_capacity(messages);
    for i in 0..messages {
        let email = OutgoingEmail {
            to: SubscriberEmail::parse(&format!("reader{i}@bench{}.example.org", i % 50))?,
            subject: "12 new papers on your topics — 12 Jun 2026".into(),
            html: html.clone(),
            text: text.clone(),
            message_id: message_id(
                Occasion::Digest(date),
                SubscriberId::new(i as i64),
                "papers.example.org",
            ),
            date: Utc
                .with_ymd_and_hms(2026, 6, 12, 7, 0, 0)
                .single()
                .context("time")?,
            list_unsubscribe: Some(url::Url::parse(
                "https://papers.example.org/unsubscribe/TOKEN",
            )?),
            list_unsubscribe_mailto: None,
            kind: EmailKind::Digest,
        };
        prepared.push(
            mailer
                .prepare(&email)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    let bytes = mailer.format(&OutgoingEmail {
        to: SubscriberEmail::parse("reader0@bench0.example.org")?,
        subject: String::new(),
        html: html.clone(),
        text: text.clone(),
        message_id: message_id(
            Occasion::Digest(date),
            SubscriberId::new(0),
            "papers.example.org",
        ),
        date: Utc::now(),
        list_unsubscribe: None,
        list_unsubscribe_mailto: None,
        kind: EmailKind::Digest,
    });
    let size = bytes.map(|b| b.len()).unwrap_or_default();

    let started = Instant::now();
    let failed = stream::iter(prepared.iter())
        .map(|p| mailer.send_prepared(p))
        .buffer_unordered(concurrency)
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{messages} messages of ~{size} bytes, concurrency {concurrency}: {secs:.2} s, {:.0} msgs/s, {failed} failed",
        messages as f64 / secs
    );
    Ok(())
}
