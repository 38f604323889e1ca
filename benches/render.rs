//! Digests rendered per second: a typical 10-paper digest under 3 topics
//! (HTML + text parts, askama), built from synthetic papers the way the run
//! builds its view model (highlighting the matched terms in each abstract).
//! Two cases: every paper block rendered with the digest (the first digest
//! of a run to show those papers), and the blocks shared with earlier
//! digests, as the run shares them (the digest around them rendered).
//! `cargo bench --bench render`.

#[path = "synthetic/mod.rs"]
mod synthetic;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paperboy::digest::plan::{self, CompiledTopics};
use paperboy::domain::Topic;
use paperboy::email::digest::{
    self as render, DigestEntry, DigestView, FeedbackLinks, PaperBlock, PaperView, Span,
    TopicSection,
};
use paperboy::matching::{self, Field, Matcher};

/// A digest's frame (no sections) and each section's name, query and
/// paper views.
type Typical = (DigestView, Vec<(String, String, Vec<PaperView>)>);

/// Feedback links as long as real ones (a 55-character token, an arXiv id).
const FEEDBACK_MORE: &str = "https://papers.example.org/feedback/ATsEAAAAAAAAAAEAAAAAAAAAAQAAAAB95lwOoJxPhF29VAW0DgVKyKMJmQ/more?paper=2606.13681";
const FEEDBACK_LESS: &str = "https://papers.example.org/feedback/ATsEAAAAAAAAAAEAAAAAAAAAAQAAAAB95lwOoJxPhF29VAW0DgVKyKMJmQ/less?paper=2606.13681";

/// Renders the paper blocks and puts the digest together.
fn assemble((frame, sections): &Typical) -> DigestView {
    DigestView {
        sections: sections
            .iter()
            .map(|(name, query, views)| TopicSection {
                name: name.clone(),
                query: query.clone(),
                papers: views
                    .iter()
                    .map(|v| DigestEntry {
                        block: PaperBlock::render(v).expect("renders"),
                        reason: None,
                        // Every paper carries its two feedback links.
                        feedback: Some(FeedbackLinks {
                            more_url: FEEDBACK_MORE.into(),
                            less_url: FEEDBACK_LESS.into(),
                        }),
                    })
                    .collect(),
            })
            .collect(),
        ..frame.clone()
    }
}

fn typical_digest() -> Typical {
    let vocab = synthetic::Vocabulary::load();
    let mut synth = synthetic::Synth::new(&vocab, 7);
    let papers = synth.papers(300);
    let mut m = Matcher::new(&papers);
    let topics: Vec<Topic> = [
        "diffusion OR model*",
        "cat:cs.LG",
        "\"language models\" OR agent",
    ]
    .iter()
    .enumerate()
    .map(|(i, q)| Topic {
        position: i as i64,
        name: q.to_string(),
        query: q.to_string(),
    })
    .collect();
    let compiled = CompiledTopics::compile(&mut m, &topics);
    let planned = plan::candidates(&m, &papers, &compiled);
    let (kept, _) = plan::finish(&m, &papers, &compiled, planned, &Default::default(), 10);
    assert_eq!(kept.len(), 10, "the synthetic day has at least 10 matches");
    let sections = topics
        .iter()
        .map(|t| {
            let views: Vec<PaperView> = kept
                .iter()
                .filter(|k| k.topic_position == t.position)
                .map(|k| {
                    let p = &papers[k.paper];
                    let spans: Vec<Span> =
                        matching::highlight(&p.abstract_text, &k.matched, Field::Abstract)
                            .into_iter()
                            .map(|s| Span {
                                text: s.text,
                                hit: s.hit,
                            })
                            .collect();
                    let title_spans = matching::highlight(&p.title, &k.matched, Field::Title)
                        .into_iter()
                        .map(|s| Span {
                            text: s.text,
                            hit: s.hit,
                        })
                        .collect();
                    PaperView {
                        title: p.title.clone(),
                        title_spans,
                        url: p.url.clone(),
                        authors: render::shorten_authors(&p.authors, 6),
                        excerpt: render::excerpt(&spans, 420),
                        matched: k
                            .matched
                            .iter()
                            .map(|m| &*m.label)
                            .collect::<Vec<_>>()
                            .join(", "),
                        upvotes: p.upvotes,
                        code_url: None,
                        project_url: None,
                        pdf_url: Some(p.url.replace("/abs/", "/pdf/")),
                        categories: p.categories.join(", "),
                    }
                })
                .collect();
            (t.name.clone(), t.query.clone(), views)
        })
        .filter(|s| !s.2.is_empty())
        .collect();
    let frame = DigestView {
        date_label: "Friday, 12 June 2026".into(),
        short_date: "12 Jun 2026".into(),
        more_count: 4,
        total_count: 14,
        manage_url: "https://papers.example.org/manage?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .into(),
        unsubscribe_url: "https://papers.example.org/unsubscribe?t=AAAAAAAAAAAAAAAAAAAAAAAA".into(),
        site_name: "paperboy".into(),
        base_url: "https://papers.example.org/".into(),
        ..DigestView::default()
    };
    (frame, sections)
}

fn rendering(c: &mut Criterion) {
    let typical = typical_digest();
    let view = assemble(&typical);
    let size = render::render_digest(&view).map(|r| r.html.len() + r.text.len());
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        format!(
            "a 10-paper digest, its paper blocks too (html + text, {} bytes)",
            size.unwrap_or(0)
        ),
        |b| b.iter(|| render::render_digest(&assemble(black_box(&typical)))),
    );
    group.bench_function("a 10-paper digest, paper blocks shared", |b| {
        b.iter(|| render::render_digest(black_box(&view)))
    });
    group.finish();
}

criterion_group!(benches, rendering);
criterion_main!(benches);
