//! What DKIM signing adds to building one digest mail: builds and formats
//! the same ~46 kB digest (HTML + text) unsigned, signed with a 2048-bit RSA
//! key and signed with an Ed25519 key, through the public `Mailer::format`
//! (what every send does before SMTP). Keys are made with `openssl`.
//!
//! ```sh
//! cargo run --example dkim_cost -- [--messages 300]
//! ```
//!
//! Prints the mean time per message for each; run it `--release` for
//! production figures (the dev profile compiles this crate unoptimised).

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use paperboy::domain::SubscriberEmail;
use paperboy::domain::SubscriberId;
use paperboy::email::{message_id, Occasion};
use paperboy::mail::{DkimSettings, EmailKind, MailSettings, Mailer, OutgoingEmail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u32 = match args.iter().position(|a| a == "--messages") {
        Some(i) => args
            .get(i + 1)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(300),
        None => 300,
    };
    let dir = tempfile::tempdir()?;
    let email = OutgoingEmail {
        to: SubscriberEmail::parse("ada@example.org")?,
        subject: "12 new papers on your topics — 12 Jun 2026".into(),
        html: "<p>A paper abstract with <b>highlighted</b> terms. ".repeat(900),
        text: "A paper abstract with highlighted terms.\n".repeat(1000),
        message_id: message_id(
            Occasion::Digest(NaiveDate::from_ymd_opt(2026, 6, 12).unwrap_or_default()),
            SubscriberId::new(42),
            "example.org",
        ),
        date: Utc
            .with_ymd_and_hms(2026, 6, 12, 7, 0, 0)
            .single()
            .unwrap_or_default(),
        list_unsubscribe: Some(url::Url::parse("https://example.org/unsubscribe/TOKEN")?),
        list_unsubscribe_mailto: None,
        kind: EmailKind::Digest,
    };
    println!("| signing | per message | bytes |");
    println!("|---|---|---|");
    for algorithm in [None, Some("RSA"), Some("ED25519")] {
        let dkim = match algorithm {
            None => None,
            Some(alg) => {
                let key_file = dir.path().join(format!("{alg}.key"));
                let mut cmd = std::process::Command::new("openssl");
                cmd.args(["genpkey", "-algorithm", alg]);
                if alg == "RSA" {
                    cmd.args(["-pkeyopt", "rsa_keygen_bits:2048"]);
                }
                let out = cmd.arg("-out").arg(&key_file).output()?;
                anyhow::ensure!(
                    out.status.success(),
                    "openssl: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(DkimSettings {
                    selector: "s".into(),
                    domain: "example.org".into(),
                    key_file,
                })
            }
        };
        let mailer = Mailer::from_settings(&MailSettings {
            from: "Paperboy <digest@example.org>".into(),
            outbox_dir: dir.path().join("outbox"),
            dkim,
            ..MailSettings::default()
        })?;
        let mut bytes = 0;
        let started = Instant::now();
        for _ in 0..n {
            bytes = std::hint::black_box(mailer.format(&email)?).len();
        }
        let each: Duration = started.elapsed() / n;
        println!("| {} | {each:.2?} | {bytes} |", algorithm.unwrap_or("none"));
    }
    Ok(())
}
