//! Modular exponentiation in the 1536-bit MODP group and DSA-1024/160, through the public API:
//! `cargo bench -p offrecord-crypto --bench modexp`.
//!
//! OpenSSL's `BN_mod_exp_mont_consttime` on the same kind of operands (1536-bit `p`, random
//! base, 320-bit and 1536-bit exponents): `benches/openssl_modexp.c`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use offrecord_crypto::dh::DhKeyPair;
use offrecord_crypto::dsa::DsaPrivateKey;
use offrecord_crypto::group::{Exponent, GroupElement, PublicExponent};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn modexp(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let ours = DhKeyPair::generate(&mut rng);
    let theirs = DhKeyPair::generate(&mut rng);
    let mut group = c.benchmark_group("modexp");

    // A general base (the peer's public key) with a 320-bit secret exponent: the DH shared
    // secret, the operation compared with OpenSSL.
    group.bench_function("dh_shared_secret_320bit_exponent", |b| {
        b.iter(|| black_box(ours.secret().diffie_hellman(black_box(theirs.public()))))
    });
    // The same with the portable Rust (when the assembly is the default here).
    if offrecord_crypto::group::assembly_in_use() {
        offrecord_crypto::group::use_assembly(false);
        group.bench_function("dh_shared_secret_320bit_exponent_portable", |b| {
            b.iter(|| black_box(ours.secret().diffie_hellman(black_box(theirs.public()))))
        });
        offrecord_crypto::group::use_assembly(true);
    }
    // g^x for a 320-bit secret: fixed-base table.
    group.bench_function("dh_keygen_fixed_base_320bit", |b| {
        b.iter(|| black_box(ours.secret().public_key()))
    });

    // SMP: 1536-bit secret exponents, on a general base and on the generator (table).
    let base = GroupElement::generator().pow_secret(&Exponent::random(&mut rng));
    let e = Exponent::random(&mut rng);
    group.bench_function("smp_pow_secret_1536bit_exponent", |b| {
        b.iter(|| black_box(base.pow_secret(black_box(&e))))
    });
    let g = GroupElement::generator();
    group.bench_function("smp_generator_pow_secret_1536bit_fixed_base", |b| {
        b.iter(|| black_box(g.pow_secret(black_box(&e))))
    });
    // A proof check: g1^D · base^c (D 1535 bits, c 256 bits), public exponents.
    let d = PublicExponent::from_bytes(&e.to_bytes()).unwrap();
    let challenge = PublicExponent::from_digest(&[0xa5; 32]);
    group.bench_function("smp_proof_check_g1_d_base_c", |b| {
        b.iter(|| {
            black_box(GroupElement::multi_pow_public(&[
                (&g, black_box(&d)),
                (&base, &challenge),
            ]))
        })
    });
    group.finish();
}

fn dsa(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let key = DsaPrivateKey::generate(&mut rng);
    let hash = [0x42u8; 32];
    let sig = key.sign(&hash, &mut rng);
    let mut group = c.benchmark_group("dsa1024");
    group.bench_function("sign", |b| {
        b.iter(|| black_box(key.sign(black_box(&hash), &mut rng)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(key.public_key().verify(black_box(&hash), &sig)))
    });
    group.finish();
}

criterion_group!(benches, modexp, dsa);
criterion_main!(benches);
