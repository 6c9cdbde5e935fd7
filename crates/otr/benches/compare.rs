//! Our side of `bench/compare.sh`: the workloads of `bench/libotr_bench.c` (same sizes, same
//! counts) and the modular exponentiations of `bench/openssl_modexp.c` (same operands, read
//! from the file named by `OFFRECORD_OPERANDS`), printed as
//! `ours <name> <median nanoseconds per operation> <samples>`.
//!
//! Run with `cargo bench -p otr --bench compare` (a plain `main`, not criterion).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use offrecord_crypto::dh::{DhPublicKey, DhSecret};
use offrecord_crypto::group::{Exponent, GroupElement};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    let n = t.len();
    if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    }
}

/// `samples` samples (times `OFFRECORD_SCALE`, for profiling) of `per_sample` calls of `op`,
/// each call `ops_per_call` operations.
fn measure(
    name: &str,
    samples: usize,
    per_sample: usize,
    ops_per_call: usize,
    mut op: impl FnMut(),
) {
    op(); // warm-up
    let scale: usize = std::env::var("OFFRECORD_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let t = (0..samples * scale)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_sample {
                op();
            }
            start.elapsed().as_nanos() as f64 / (per_sample * ops_per_call) as f64
        })
        .collect();
    println!("ours {name} {:.0} {samples}", median(t));
}

fn hex(s: &str) -> Vec<u8> {
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_owned()
    };
    hex::decode(s).unwrap()
}

fn operands() -> Option<std::collections::BTreeMap<String, Vec<u8>>> {
    let path = std::env::var_os("OFFRECORD_OPERANDS")?;
    let text = std::fs::read_to_string(path).unwrap();
    Some(
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_owned(), hex(v.trim())))
            .collect(),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a filter) is ignored.
    let only = std::env::var("OFFRECORD_ONLY").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| w == name))
    };

    if let Some(ops) = operands() {
        let base = &ops["base"];
        if wanted("modexp_320") {
            let secret = DhSecret::from_bytes(&ops["e320"]).unwrap();
            let public = DhPublicKey::from_bytes(base).unwrap();
            let got = secret.diffie_hellman(&public).to_bytes();
            assert_eq!(
                got.as_slice(),
                ops["expect320"].as_slice(),
                "modexp 320 disagrees"
            );
            measure("modexp_320", 200, 1, 1, || {
                std::hint::black_box(secret.diffie_hellman(&public));
            });
        }
        if wanted("modexp_1536") {
            let e = Exponent::from_bytes(&ops["e1536"]).unwrap();
            let b = GroupElement::from_bytes_checked(base).unwrap();
            assert_eq!(
                b.pow_secret(&e).to_bytes(),
                ops["expect1536"],
                "modexp 1536 disagrees"
            );
            measure("modexp_1536", 50, 1, 1, || {
                std::hint::black_box(b.pow_secret(&e));
            });
        }
    } else {
        eprintln!("OFFRECORD_OPERANDS not set: skipping the modexp workloads (compare.sh sets it)");
    }

    let small = common::text(100);
    let big = common::text(10 * 1024);
    if wanted("ake") {
        let mut seed = 0;
        measure("ake", 30, 1, 1, || {
            seed += 1;
            common::Pair::new(seed).ake();
        });
    }
    if wanted("smp") {
        let mut pair = common::Pair::established(1);
        measure("smp", 10, 1, 1, || pair.smp());
    }
    if wanted("one_way_100B") {
        let mut pair = common::Pair::established(2);
        pair.alice_to_bob(&small);
        measure("one_way_100B", 30, 1000, 1, || pair.alice_to_bob(&small));
    }
    if wanted("one_way_10KiB") {
        let mut pair = common::Pair::established(3);
        pair.alice_to_bob(&big);
        measure("one_way_10KiB", 30, 100, 1, || pair.alice_to_bob(&big));
    }
    if wanted("ping_pong_100B") {
        let mut pair = common::Pair::established(4);
        measure("ping_pong_100B", 20, 5, 2, || {
            pair.alice_to_bob(&small);
            pair.bob_to_alice(&small);
        });
    }
}
