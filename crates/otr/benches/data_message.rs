//! Data messages in an encrypted session: one way (Alice encrypts and encodes, Bob decodes and
//! decrypts; after the first message no key rotates) and ping-pong (alternating senders, so
//! every message rotates a D-H key on each side).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn one_way(c: &mut Criterion) {
    let mut group = c.benchmark_group("data_message");
    for (name, len) in [("one_way_100B", 100), ("one_way_10KiB", 10 * 1024)] {
        let mut pair = common::Pair::established(2);
        let text = common::text(len);
        // The first message rotates Bob's key; measure the steady state.
        pair.alice_to_bob(&text);
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| pair.alice_to_bob(&text)));
    }
    let mut pair = common::Pair::established(3);
    let text = common::text(100);
    group.throughput(Throughput::Elements(2));
    group.sample_size(20);
    // One iteration is two messages (Alice to Bob, Bob to Alice); criterion's "elements" rate
    // is per message.
    group.bench_function("ping_pong_100B_round_trip", |b| {
        b.iter(|| {
            pair.alice_to_bob(&text);
            pair.bob_to_alice(&text);
        })
    });
    group.finish();
}

criterion_group!(benches, one_way);
criterion_main!(benches);
