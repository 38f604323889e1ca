//! How big a broad subscriber's digest gets, and what the HTML size budget
//! (`[digest] max_html_bytes`) costs: synthetic papers shaped like the real
//! ones (`benches/synthetic`), three broad topics, each paper's view built
//! by `paperboy::email::paper_view` as the run builds it, so the excerpts,
//! highlights, authors and links are the production ones.
//!
//! For 50, 100 and 1000 papers it prints the whole digest's HTML bytes,
//! the bytes each paper adds, and, within the budget, the papers shown,
//! the HTML bytes and the time of `render_digest_within` next to one
//! `render_digest` of the whole (paper blocks rendered beforehand, as a
//! run shares them).
//!
//! cargo run --release --example digest_size -- [--budget 90000] [--runs 50]

#[path = "../benches/synthetic/mod.rs"]
mod synthetic;

use std::time::Instant;

use paperboy::digest::plan::{self, CompiledTopics};
use paperboy::domain::Topic;
use paperboy::email::digest::{
    render_digest, render_digest_within, DigestEntry, DigestView, FeedbackLinks, PaperBlock,
    TopicSection,
};
use paperboy::email::paper_view;
use paperboy::matching::Matcher;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

fn main() {
    let budget = arg("--budget", 90_000);
    let runs = arg("--runs", 50);
    let vocab = synthetic::Vocabulary::load();
    let mut synth = synthetic::Synth::new(&vocab, 11);
    let papers = synth.papers(3000);
    let mut m = Matcher::new(&papers);
    let topics: Vec<Topic> = ["model*", "learn* OR data*", "cat:cs.LG OR cat:cs.CL"]
        .iter()
        .enumerate()
        .map(|(i, q)| Topic {
            position: i as i64,
            name: format!("Topic {}", i + 1),
            query: q.to_string(),
        })
        .collect();
    let compiled = CompiledTopics::compile(&mut m, &topics);
    let planned = plan::candidates(&m, &papers, &compiled);
    println!("budget {budget} bytes; {} matching papers", planned.len());
    println!("| papers | whole HTML (bytes) | bytes / paper | shown within budget | HTML within budget, as sent with CRLF (bytes) | render_digest, whole (µs) | render_digest_within (µs) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in [50, 100, 1000] {
        let (kept, more) = plan::finish(
            &m,
            &papers,
            &compiled,
            planned.clone(),
            &Default::default(),
            n,
        );
        let sections: Vec<TopicSection> = topics
            .iter()
            .map(|t| TopicSection {
                name: t.name.clone(),
                query: t.query.clone(),
                papers: kept
                    .iter()
                    .filter(|k| k.topic_position == t.position)
                    .map(|k| {
                        let mut p = papers[k.paper].clone();
                        p.pdf_url = Some(p.url.replace("/abs/", "/pdf/"));
                        // Every paper carries its two feedback links, signed
                        // tokens of the length the run makes.
                        let feedback = |mark: &str| {
                            format!(
                                "https://papers.example.org/feedback/\
                                 ATsEAAAAAAAAAAEAAAAAAAAAAQAAAAB95lwOoJxPhF29VAW0DgVKyKMJmQ/\
                                 {mark}?paper={}",
                                p.id.as_str()
                            )
                        };
                        DigestEntry {
                            block: PaperBlock::render(&paper_view(&p, &k.matched))
                                .expect("renders"),
                            reason: None,
                            feedback: Some(FeedbackLinks {
                                more_url: feedback("more"),
                                less_url: feedback("less"),
                            }),
                        }
                    })
                    .collect(),
            })
            .filter(|s| !s.papers.is_empty())
            .collect();
        let view = DigestView {
            date_label: "Friday, 12 June 2026".into(),
            short_date: "12 Jun 2026".into(),
            sections,
            more_count: more,
            total_count: kept.len() + more,
            manage_url: "https://papers.example.org/manage/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            unsubscribe_url: "https://papers.example.org/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            view_url: "https://papers.example.org/digest/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/2026-06-12".into(),
            site_name: "paperboy".into(),
            base_url: "https://papers.example.org/".into(),
        };
        let whole = render_digest(&view).expect("renders");
        let frame = render_digest(&DigestView {
            sections: Vec::new(),
            ..view.clone()
        })
        .expect("renders");
        let within = render_digest_within(&view, budget).expect("renders");
        let shown = within.text.matches("   Abstract: ").count();
        let t_whole = median_us(runs, || {
            std::hint::black_box(render_digest(&view).expect("renders"));
        });
        let t_within = median_us(runs, || {
            std::hint::black_box(render_digest_within(&view, budget).expect("renders"));
        });
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} |",
            kept.len(),
            whole.html.len(),
            (whole.html.len() - frame.html.len()) / kept.len().max(1),
            shown,
            within.html.len() + within.html.matches('\n').count(),
            t_whole,
            t_within,
        );
    }
}
