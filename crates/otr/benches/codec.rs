//! The wire codec on a Data message of 100 bytes and 10 KiB: binary encode/decode, and the
//! armored form (base64 between `?OTR:` and `.`) both ways.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use otr::wire::{Encoded, Message};

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for (name, len) in [("100B", 100), ("10KiB", 10 * 1024)] {
        let mut pair = common::Pair::established(5);
        let armored = pair
            .alice
            .send("bob", &common::text(len), common::NOW, &mut pair.rng)
            .unwrap()
            .transmit
            .remove(0)
            .message;
        let Message::Encoded { encoded, raw } = Message::parse(&armored).unwrap() else {
            panic!("not an encoded message");
        };
        group.bench_function(format!("encode_{name}"), |b| b.iter(|| encoded.encode()));
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| Encoded::decode(&raw).unwrap())
        });
        group.bench_function(format!("armor_{name}"), |b| b.iter(|| encoded.to_armored()));
        group.bench_function(format!("parse_armored_{name}"), |b| {
            b.iter(|| Message::parse(&armored).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
