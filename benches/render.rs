//! Digests rendered per second: a typical 10-paper digest under 3 topics
//! (HTML + text parts, askama), built from synthetic papers the way the run
//! builds its view model (highlighting the matched terms in each abstract).
//! `cargo bench --bench render`.

#[path = "synthetic/mod.rs"]
mod synthetic;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use paperboy::digest::plan::{self, CompiledTopics};
use paperboy::digest::render::{self, DigestView, PaperView, Span, TopicSection};
use paperboy::matching::{self, Field, Matcher};
use paperboy::store::Topic;

fn typical_digest() -> DigestView {
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
        .map(|t| TopicSection {
            name: t.name.clone(),
            query: t.query.clone(),
            papers: kept
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
                    PaperView {
                        title: p.title.clone(),
                        url: p.url.clone(),
                        authors: render::shorten_authors(&p.authors, 6),
                        excerpt: render::excerpt(&spans, 420),
                        matched: k
                            .matched
                            .iter()
                            .map(|m| m.label.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        upvotes: p.upvotes,
                        code_url: None,
                        project_url: None,
                        pdf_url: Some(p.url.replace("/abs/", "/pdf/")),
                        categories: p.categories.join(", "),
                    }
                })
                .collect(),
        })
        .filter(|s: &TopicSection| !s.papers.is_empty())
        .collect();
    DigestView {
        date_label: "Friday, 12 June 2026".into(),
        short_date: "12 Jun 2026".into(),
        sections,
        more_count: 4,
        total_count: 14,
        manage_url: "https://papers.example.org/manage?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .into(),
        unsubscribe_url: "https://papers.example.org/unsubscribe?t=AAAAAAAAAAAAAAAAAAAAAAAA".into(),
        site_name: "paperboy".into(),
        base_url: "https://papers.example.org/".into(),
    }
}

fn rendering(c: &mut Criterion) {
    let view = typical_digest();
    let size = render::render_digest(&view).map(|r| r.html.len() + r.text.len());
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        format!(
            "a 10-paper digest (html + text, {} bytes)",
            size.unwrap_or(0)
        ),
        |b| b.iter(|| render::render_digest(black_box(&view))),
    );
    group.finish();
}

criterion_group!(benches, rendering);
criterion_main!(benches);
