//! SMP, both sides: a whole run (question, answer, the last two messages) in an encrypted
//! session.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn smp(c: &mut Criterion) {
    let mut group = c.benchmark_group("smp");
    group.sample_size(10);
    let mut pair = common::Pair::established(1);
    group.bench_function("both_sides", |b| b.iter(|| pair.smp()));
    group.finish();
}

criterion_group!(benches, smp);
criterion_main!(benches);
