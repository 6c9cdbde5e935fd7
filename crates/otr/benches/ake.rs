//! The AKE, both sides: from Alice's query until both sessions are encrypted.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn ake(c: &mut Criterion) {
    let mut group = c.benchmark_group("ake");
    group.sample_size(30);
    let mut seed = 0;
    group.bench_function("both_sides", |b| {
        b.iter_batched(
            || {
                seed += 1;
                common::Pair::new(seed)
            },
            |mut pair| {
                pair.ake();
                pair
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, ake);
criterion_main!(benches);
