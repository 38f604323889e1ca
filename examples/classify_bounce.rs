//! Classifies the messages named on the command line (or one on stdin) the
//! way `paperboy bounces ingest` will, and prints what was found: a way to
//! try the classifier on a bounce an operator has at hand.
//!
//!     cargo run --example classify_bounce -- bounce.eml [more.eml …]

use std::io::Read;

use chrono::Utc;
use paperboy::inbound::{classify, Context, Event};

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let inputs: Vec<(String, Vec<u8>)> = if paths.is_empty() {
        let mut raw = Vec::new();
        std::io::stdin().read_to_end(&mut raw).expect("stdin");
        vec![("-".into(), raw)]
    } else {
        paths
            .into_iter()
            .map(|p| {
                let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
                (p, raw)
            })
            .collect()
    };
    let ctx = Context {
        signer: None,
        envelope_recipient: None,
        now: Utc::now(),
    };
    for (name, raw) in inputs {
        let report = classify(&raw, &ctx);
        println!("{name}: {}", report.summary());
        if let Event::Bounce(b) = &report.event {
            println!("  format: {}", b.format);
            for r in &b.recipients {
                println!(
                    "  recipient {}: {} {:?} status {:?} reply {:?}\n    {}",
                    r.address.as_ref().map(|a| a.as_str()).unwrap_or("(none)"),
                    r.severity.as_str(),
                    r.cause,
                    r.status.map(|s| s.to_string()),
                    r.smtp_code,
                    r.diagnostic.as_deref().unwrap_or("")
                );
            }
        }
        let keys = &report.keys;
        println!(
            "  keys: delivery {:?}, subscriber {:?}, message ids {:?}, recipients {:?}",
            keys.delivery,
            keys.subscriber,
            keys.message_ids,
            keys.recipients
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
        );
    }
}
