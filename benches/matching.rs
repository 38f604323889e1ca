//! Micro-benchmarks of the matching hot path on a synthetic day of 1,000
//! papers and realistic topic queries (`benches/synthetic`):
//! `cargo bench --bench matching`. The scale table is
//! `examples/match_scale.rs`.

#[path = "synthetic/mod.rs"]
mod synthetic;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use paperboy::digest::plan::{self, CompiledTopics};
use paperboy::matching::{Matcher, Query};

fn matching(c: &mut Criterion) {
    let vocab = synthetic::Vocabulary::load();
    let mut synth = synthetic::Synth::new(&vocab, 7);
    let papers = synth.papers(1_000);
    let texts: Vec<String> = (0..1_000).map(|_| synth.query()).collect();
    let queries: Vec<Query> = texts
        .iter()
        .map(|t| Query::parse(t).unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect();

    c.bench_function("index 1000 papers", |b| {
        b.iter(|| Matcher::new(black_box(&papers)))
    });

    let mut i = 0;
    c.bench_function("parse one query", |b| {
        b.iter(|| {
            i = (i + 1) % texts.len();
            Query::parse(black_box(&texts[i]))
        })
    });

    c.bench_function("compile 1000 queries, cold atom cache", |b| {
        b.iter_batched(
            || Matcher::new(&papers),
            |mut m| {
                for q in &queries {
                    black_box(m.compile(q));
                }
                m
            },
            BatchSize::LargeInput,
        )
    });

    let mut warm = Matcher::new(&papers);
    let compiled: Vec<_> = queries.iter().map(|q| warm.compile(q)).collect();
    let mut i = 0;
    c.bench_function("compile one query, warm atom cache", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            warm.compile(black_box(&queries[i]))
        })
    });
    let mut i = 0;
    c.bench_function("match one compiled query", |b| {
        b.iter(|| {
            i = (i + 1) % compiled.len();
            warm.matches(black_box(&compiled[i]))
        })
    });

    // One subscriber of a run: three topic texts, most already seen.
    let mut pool = synthetic::TopicPool::new(&mut synth, 10_000, 3);
    let subscribers: Vec<_> = (0..10_000).map(|_| pool.subscriber_topics(3)).collect();
    let mut m = Matcher::new(&papers);
    for topics in &subscribers {
        CompiledTopics::compile(&mut m, topics);
    }
    let mut i = 0;
    c.bench_function("plan one subscriber (3 topics, warm run)", |b| {
        b.iter(|| {
            i = (i + 1) % subscribers.len();
            let topics = CompiledTopics::compile(&mut m, &subscribers[i]);
            plan::candidates(&m, &papers, &topics).len()
        })
    });
}

criterion_group!(benches, matching);
criterion_main!(benches);
