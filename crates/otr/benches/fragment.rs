//! Fragment reassembly: a 10 KiB data message split into 1000-byte OTR v3 fragments and put
//! back together (the fragmenting is outside the timing).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use otr::InstanceTag;
use otr::fragment::{Fragment, FragmentFormat, Reassembler, ReassemblyLimits, fragment};

fn reassembly(c: &mut Criterion) {
    let mut pair = common::Pair::established(4);
    let message = pair
        .alice
        .send("bob", &common::text(10 * 1024), common::NOW, &mut pair.rng)
        .unwrap()
        .transmit
        .remove(0)
        .message;
    let format = FragmentFormat::V3 {
        sender: InstanceTag::new(0x1111_1111),
        receiver: InstanceTag::new(0x2222_2222),
    };
    let pieces = fragment(&message, 1000, format).unwrap();
    let mut group = c.benchmark_group("fragment");
    group.bench_function("reassemble_10KiB_in_1000B", |b| {
        b.iter_batched(
            || Reassembler::new(ReassemblyLimits::default()),
            |mut reassembler| {
                let mut whole = None;
                for piece in &pieces {
                    let f = Fragment::parse(piece).unwrap();
                    whole = reassembler.push(f, common::NOW).unwrap();
                }
                assert_eq!(whole.as_deref(), Some(message.as_str()));
                reassembler
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("split_10KiB_in_1000B", |b| {
        b.iter(|| fragment(&message, 1000, format).unwrap());
    });
    group.finish();
}

criterion_group!(benches, reassembly);
criterion_main!(benches);
