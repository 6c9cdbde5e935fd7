//! Runs every secret-exponent operation of this crate once, with secrets of a chosen bit
//! pattern, for the constant-time test (`tests/constant_time.rs`), which runs it under
//! valgrind for several patterns and requires identical instruction counts.
//!
//! `cargo run --release -p offrecord-crypto --example ct_probe -- <0|1|2|3> <asm|portable> [check]`
//! (0: all bits zero but the lowest, 1: all ones, 2: sparse, 3: random; the implementation of
//! the Montgomery multiplication, see `group::use_assembly`). It prints the implementation
//! actually in use, so that the test can check that the assembly ran. With `check` it also
//! prints a checksum of every result, so that the test can check that both implementations
//! agree (not under valgrind: the results' minimal encodings have value-dependent lengths).
//!
//! The harness itself does the same work for every pattern (a one-digit argument; every
//! pattern's bytes computed, one selected), so that the whole program's counts can be compared.
//!
//! The secrets come from an RNG that returns the pattern: the DH private exponent (320 bits),
//! SMP's 1536-bit random exponents, the DSA nonce `k`. The top bit of each draw is cleared so
//! that every pattern is accepted on the first draw (below `q` for DSA; nonzero for DH). The
//! SMP secret `x` (a 256-bit digest) and the DSA private key are fixed public test values.

// A test harness: its inputs are constants, so failing on them is a bug in the harness.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::hint::black_box;

use offrecord_crypto::dh::{DhKeyPair, DhPublicKey};
use offrecord_crypto::dsa::DsaPrivateKey;
use offrecord_crypto::group::{Exponent, GroupElement, PublicExponent};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};

/// A "random" source that returns secrets of one bit pattern.
struct PatternRng {
    /// 0: zero, 1: ones, 2: sparse, 3: random.
    pattern: usize,
    random: ChaCha20Rng,
}

impl TryRng for PatternRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let len = dst.len();
        // Random bytes are drawn for every pattern, and every pattern's byte is computed.
        self.random.fill_bytes(dst);
        for (i, byte) in dst.iter_mut().enumerate() {
            let sparse = u8::from(i % 17 == 3) << 4;
            let candidates = [0x00, 0xff, sparse, *byte];
            *byte = candidates[self.pattern & 3];
        }
        if let Some(last) = dst.last_mut() {
            *last |= 1;
        }
        if let Some(first) = dst.first_mut().filter(|_| len > 1) {
            *first &= 0x7f;
        }
        Ok(())
    }
}

impl TryCryptoRng for PatternRng {}

/// The libotr sample DSA key (p, q, g, y, x), public test values (see `src/dsa.rs` tests).
const DSA_P: &str = "00FC07ABCF0DC916AFF6E9AE47BEF60C7AB9B4D6B2469E436630E36F8A489BE812486A09F30B71224508654940A835301ACC525A4FF133FC152CC53DCC59D65C30A54F1993FE13FE63E5823D4C746DB21B90F9B9C00B49EC7404AB1D929BA7FBA12F2E45C6E0A651689750E8528AB8C031D3561FECEE72EBB4A090D450A9B7A857";
const DSA_Q: &str = "00997BD266EF7B1F60A5C23F3A741F2AEFD07A2081";
const DSA_G: &str = "535E360E8A95EBA46A4F7DE50AD6E9B2A6DB785A66B64EB9F20338D2A3E8FB0E94725848F1AA6CC567CB83A1CC517EC806F2E92EAE71457E80B2210A189B91250779434B41FC8A8873F6DB94BEA7D177F5D59E7E114EE10A49CFD9CEF88AE43387023B672927BA74B04EB6BBB5E57597766A2F9CE3857D7ACE3E1E3BC1FC6F26";
const DSA_Y: &str = "0AC8670AD767D7A8D9D14CC1AC6744CD7D76F993B77FFD9E39DF01E5A6536EF65E775FCEF2A983E2A19BD6415500F6979715D9FD1257E1FE2B6F5E1E74B333079E7C880D39868462A93454B41877BE62E5EF0A041C2EE9C9E76BD1E12AE25D9628DECB097025DD625EF49C3258A1A3C0FF501E3DC673B76D7BABF349009B6ECF";
const DSA_X: &str = "14D0345A3562C480A039E3C72764F72D79043216";

/// Seed of the peer's DH key (see the check on the shared secret's length).
const PEER_SEED: u64 = 2;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("constant hex")
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let pattern = match arg.as_bytes() {
        [digit @ b'0'..=b'3'] => usize::from(digit - b'0'),
        _ => {
            eprintln!("usage: ct_probe <0|1|2|3> (got {arg:?})");
            std::process::exit(2);
        }
    };
    let want_asm = match std::env::args().nth(2).as_deref() {
        Some("asm") => true,
        Some("portable") => false,
        other => {
            eprintln!("usage: ct_probe <0|1|2|3> <asm|portable> (got {other:?})");
            std::process::exit(2);
        }
    };
    let asm = offrecord_crypto::group::use_assembly(want_asm);
    let mut sum = (std::env::args().nth(3).as_deref() == Some("check")).then(Checksum::default);
    let mut rng = PatternRng {
        pattern,
        random: ChaCha20Rng::seed_from_u64(0x5eed),
    };

    // Public inputs, the same in every run: a peer's DH key, an SMP base, a DSA key, a hash.
    let mut public_rng = ChaCha20Rng::seed_from_u64(PEER_SEED);
    let peer = DhKeyPair::generate(&mut public_rng);
    let peer_public: DhPublicKey = peer.public().clone();
    let base = GroupElement::from_bytes_checked(&peer_public.to_bytes()).expect("in range");
    let dsa = DsaPrivateKey::from_components(&h(DSA_P), &h(DSA_Q), &h(DSA_G), &h(DSA_Y), &h(DSA_X))
        .expect("valid key");
    let challenge = PublicExponent::from_digest(&[0x5a; 32]);
    // Build the generator's tables before the secrets are used (first use builds them).
    black_box(GroupElement::generator().pow_public(&challenge));

    // DH: g^x from the table, and their^x, with a 320-bit secret.
    let ours = DhKeyPair::generate(&mut rng);
    black_box(ours.public());
    sum.add_with(|| ours.public().to_bytes().to_vec());
    let shared = ours.secret().diffie_hellman(&peer_public);
    sum.add_with(|| shared.to_bytes().to_vec());
    // The MPI of s is minimal (Protocol-v3), so its length reveals a leading zero byte; that is
    // inherent to OTR. The peer's key is chosen so that no pattern gives one here.
    if shared.to_bytes().len() != 192 {
        eprintln!("s has a leading zero byte with this peer key: change PEER_SEED");
        std::process::exit(3);
    }

    // SMP: 1536-bit random exponents on the generator and on another base, the two-base
    // product, a 256-bit secret, and a proof response.
    let r = Exponent::random(&mut rng);
    let a = Exponent::random(&mut rng);
    let mut digest = [0u8; 32];
    rng.fill_bytes(&mut digest);
    let x = Exponent::from_digest(&digest);
    let g = GroupElement::generator();
    let v = black_box(g.pow_secret(&r));
    sum.add_with(|| v.to_bytes().to_vec());
    let v = black_box(base.pow_secret(&a));
    sum.add_with(|| v.to_bytes().to_vec());
    let v = black_box(base.pow_secret(&x));
    sum.add_with(|| v.to_bytes().to_vec());
    let v = black_box(g.pow2_secret(&r, &base, &x));
    sum.add_with(|| v.to_bytes().to_vec());
    let v = black_box(base.pow2_secret(&r, &base, &a));
    sum.add_with(|| v.to_bytes().to_vec());
    let v = black_box(r.sub_mul(&a, &challenge));
    sum.add_with(|| v.to_bytes().to_vec());

    // DSA: sign with the nonce k from the pattern.
    let sig = black_box(dsa.sign(&[0x42; 32], &mut rng));
    sum.add_with(|| [sig.r.as_slice(), sig.s.as_slice()].concat());
    println!("implementation: {}", if asm { "asm" } else { "portable" });
    if let Some(sum) = sum {
        println!("checksum: {:016x}", sum.0);
    }
}

/// FNV-1a over the results.
struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

trait Add {
    /// Adds the bytes `f` returns; `f` is only called when checking.
    fn add_with(&mut self, f: impl FnOnce() -> Vec<u8>);
}

impl Add for Option<Checksum> {
    fn add_with(&mut self, f: impl FnOnce() -> Vec<u8>) {
        if let Some(sum) = self {
            for b in f() {
                sum.0 = (sum.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
}
