//! Internal glue between big-endian byte strings and `crypto_bigint::BoxedUint`.
//!
//! `crypto-bigint`'s own `to_be_bytes` returns an unwiped buffer, so secrets are written through
//! [`write_be`] into `Zeroizing` buffers instead.

use crypto_bigint::ctutils::CtLt;
use crypto_bigint::{BoxedUint, Limb, Word};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::mpi;

/// Bytes per machine word (limb).
const WORD_BYTES: usize = core::mem::size_of::<Word>();

/// Bits of precision (a whole number of limbs, at least one) to hold `len` bytes.
pub(crate) fn precision_for_bytes(len: usize) -> u32 {
    let limbs = len.div_ceil(WORD_BYTES).max(1);
    u32::try_from(limbs.saturating_mul(Limb::BITS as usize)).unwrap_or(u32::MAX)
}

/// Bit length of a big-endian byte string (leading zeros ignored).
pub(crate) fn bit_len_of_bytes(value_be: &[u8]) -> usize {
    let value = mpi::minimal(value_be);
    match value.first() {
        None => 0,
        Some(first) => (value.len() - 1).saturating_mul(8) + (8 - first.leading_zeros() as usize),
    }
}

/// Parses big-endian bytes into a `BoxedUint` of `bits_precision` bits. The caller has checked
/// that the value fits; if it did not, it would be truncated to its low bits (never a panic).
pub(crate) fn from_be(value_be: &[u8], bits_precision: u32) -> BoxedUint {
    BoxedUint::from_be_slice_truncated(value_be, bits_precision)
}

/// Parses a public big-endian value with a precision chosen from its minimal length.
pub(crate) fn from_be_public(value_be: &[u8]) -> BoxedUint {
    let value = mpi::minimal(value_be);
    from_be(value, precision_for_bytes(value.len()))
}

/// Writes `x mod 256^out.len()` big-endian into `out` (zero-padded on the left), in time that
/// depends only on the lengths.
pub(crate) fn write_be(x: &BoxedUint, out: &mut [u8]) {
    let words = x.as_words();
    for (i, byte) in out.iter_mut().rev().enumerate() {
        let word = words.get(i / WORD_BYTES).copied().unwrap_or(0);
        *byte = (word >> (8 * (i % WORD_BYTES))) as u8;
    }
}

/// `x` as exactly `len` big-endian bytes (public values only; e.g. DSA signature halves).
pub(crate) fn to_be_padded(x: &BoxedUint, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    write_be(x, &mut out);
    out
}

/// Minimal big-endian bytes of a public value.
pub(crate) fn to_be_minimal(x: &BoxedUint) -> Vec<u8> {
    let mut out = to_be_padded(x, x.as_words().len() * WORD_BYTES);
    let leading = out.iter().take_while(|b| **b == 0).count();
    out.drain(..leading);
    out
}

/// Minimal big-endian bytes of a secret value, in a buffer that is wiped on drop.
///
/// Finding the minimal length necessarily reveals the number of leading zero bytes.
pub(crate) fn to_be_minimal_secret(x: &BoxedUint) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; x.as_words().len() * WORD_BYTES]);
    write_be(x, &mut out);
    let leading = out.iter().take_while(|b| **b == 0).count();
    // `drain` moves the bytes within the same allocation; `Zeroizing<Vec>` wipes the whole
    // capacity on drop, including the stale tail.
    out.drain(..leading);
    out
}

/// A uniformly random integer in `[1, bound - 1]` by rejection sampling, with the precision of
/// `bound`. `bound_bits` is the bit length of `bound` (public) and must be at least 2.
///
/// Only the number of rejected draws leaks, which is independent of the value returned.
pub(crate) fn random_below<R>(
    rng: &mut R,
    bound: &BoxedUint,
    bound_bits: u32,
) -> Zeroizing<BoxedUint>
where
    R: CryptoRng + ?Sized,
{
    let n_bytes = (bound_bits as usize).div_ceil(8);
    let excess = n_bytes * 8 - bound_bits as usize;
    let top_mask = 0xffu8 >> excess;
    let mut buf = Zeroizing::new(vec![0u8; n_bytes]);
    loop {
        rng.fill_bytes(&mut buf);
        if let Some(top) = buf.first_mut() {
            *top &= top_mask;
        }
        let candidate = Zeroizing::new(from_be(&buf, bound.bits_precision()));
        let in_range = candidate.is_nonzero() & candidate.ct_lt(bound);
        if in_range.to_bool() {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn byte_round_trips() {
        let x = from_be(&[0, 0, 1, 2, 3], 128);
        assert_eq!(x.bits_precision(), 128);
        assert_eq!(to_be_minimal(&x), [1, 2, 3]);
        assert_eq!(*to_be_minimal_secret(&x), [1, 2, 3]);
        assert_eq!(to_be_padded(&x, 5), [0, 0, 1, 2, 3]);
        assert_eq!(to_be_padded(&x, 2), [2, 3]);
        assert!(to_be_minimal(&BoxedUint::zero()).is_empty());
        assert_eq!(from_be_public(&[]), BoxedUint::zero());
        let long: Vec<u8> = (1..=70u8).collect();
        assert_eq!(to_be_minimal(&from_be_public(&long)), long);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len_of_bytes(&[]), 0);
        assert_eq!(bit_len_of_bytes(&[0, 0]), 0);
        assert_eq!(bit_len_of_bytes(&[0, 1]), 1);
        assert_eq!(bit_len_of_bytes(&[0x80, 0]), 16);
        assert_eq!(bit_len_of_bytes(&[0, 0x7f, 0]), 15);
        assert_eq!(precision_for_bytes(0), Limb::BITS);
        assert_eq!(precision_for_bytes(192), 1536);
        assert_eq!(precision_for_bytes(20), 192);
    }

    #[test]
    fn random_below_stays_in_range() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let bound = BoxedUint::from(11u8);
        let mut seen = [false; 11];
        for _ in 0..500 {
            let k = random_below(&mut rng, &bound, 4);
            let v = to_be_minimal(&k);
            let v = *v.first().unwrap_or(&0) as usize;
            assert!((1..11).contains(&v));
            seen[v] = true;
        }
        assert!(seen[1..].iter().all(|s| *s));
    }
}
