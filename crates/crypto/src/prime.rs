//! Probabilistic primality testing and DSA domain-parameter generation (FIPS 186 style).
//!
//! Everything here works on public values (candidate primes), so it runs in variable time.

use std::sync::OnceLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Limb, NonZero, Odd, Word};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::num;

/// Miller-Rabin rounds with random bases: error probability at most `4^-40` for any input.
pub(crate) const MR_ROUNDS: usize = 40;

/// Upper limit (exclusive) of the small primes used for trial division and sieving.
const SIEVE_LIMIT: u32 = 2048;

/// An odd small prime with its value as a nonzero limb, for `rem_limb`.
struct SmallPrime {
    value: u32,
    limb: NonZero<Limb>,
}

/// The odd primes below [`SIEVE_LIMIT`], computed once.
fn small_primes() -> &'static [SmallPrime] {
    static PRIMES: OnceLock<Vec<SmallPrime>> = OnceLock::new();
    PRIMES.get_or_init(|| {
        let limit = SIEVE_LIMIT as usize;
        let mut composite = vec![false; limit];
        let mut primes = Vec::new();
        for n in 3..limit {
            if composite.get(n).copied().unwrap_or(true) || n % 2 == 0 {
                continue;
            }
            let mut multiple = n * n;
            while multiple < limit {
                if let Some(c) = composite.get_mut(multiple) {
                    *c = true;
                }
                multiple += n;
            }
            if let Some(limb) = NonZero::new(Limb::from(n as Word)).into_option() {
                primes.push(SmallPrime {
                    value: n as u32,
                    limb,
                });
            }
        }
        primes
    })
}

/// Whether `n` is (very probably) prime: exact for `n < 2048`, otherwise trial division by
/// the odd primes below 2048 followed by `rounds` Miller-Rabin rounds with random bases.
pub(crate) fn is_probable_prime<R>(n: &BoxedUint, rounds: usize, rng: &mut R) -> bool
where
    R: CryptoRng + ?Sized,
{
    if n.bit_width_vartime() < 12 {
        let small = n.as_words().first().copied().unwrap_or(0);
        return small == 2 || small_primes().iter().any(|p| Word::from(p.value) == small);
    }
    if !n.bit_vartime(0) {
        return false;
    }
    if small_primes()
        .iter()
        .any(|p| n.rem_limb(p.limb) == Limb::ZERO)
    {
        return false;
    }
    match Odd::new(n.clone()).into_option() {
        Some(odd) => miller_rabin(&odd, rounds, rng),
        None => false,
    }
}

/// Miller-Rabin with `rounds` uniformly random bases in `[2, n-2]`. `n` must be at least 5.
fn miller_rabin<R>(n: &Odd<BoxedUint>, rounds: usize, rng: &mut R) -> bool
where
    R: CryptoRng + ?Sized,
{
    let n_value = n.as_ref();
    let precision = n_value.bits_precision();
    let one = BoxedUint::one_with_precision(precision);
    let n_minus_1 = n_value.wrapping_sub(&one);
    // n - 1 = d * 2^s with d odd.
    let s = n_minus_1.trailing_zeros_vartime();
    let d = n_minus_1.wrapping_shr_vartime(s);
    let d_bits = d.bit_width_vartime();
    let params = BoxedMontyParams::new_vartime(n.clone());
    let bound_bits = n_minus_1.bit_width_vartime();

    'rounds: for _ in 0..rounds {
        // Uniform in [1, n-2], then reject 1.
        let base = loop {
            let candidate = num::random_below(rng, &n_minus_1, bound_bits);
            if *candidate != one {
                break candidate;
            }
        };
        let mut x = BoxedMontyForm::new((*base).clone(), &params).pow_bounded_exp(&d, d_bits);
        let value = x.retrieve();
        if value == one || value == n_minus_1 {
            continue;
        }
        for _ in 1..s {
            x = x.square();
            let value = x.retrieve();
            if value == n_minus_1 {
                continue 'rounds;
            }
            if value == one {
                return false;
            }
        }
        return false;
    }
    true
}

/// A random `bits`-bit odd number with its top bit set (public candidate for a prime).
fn random_odd_with_top_bit<R>(rng: &mut R, bits: u32) -> BoxedUint
where
    R: CryptoRng + ?Sized,
{
    let n_bytes = (bits as usize).div_ceil(8);
    let excess = n_bytes * 8 - bits as usize;
    let mut buf = Zeroizing::new(vec![0u8; n_bytes]);
    rng.fill_bytes(&mut buf);
    if let Some(top) = buf.first_mut() {
        *top &= 0xffu8 >> excess;
        *top |= 0x80u8 >> excess;
    }
    if let Some(low) = buf.last_mut() {
        *low |= 1;
    }
    num::from_be(&buf, num::precision_for_bytes(n_bytes))
}

/// A random prime of exactly `bits` bits (`bits >= 12`).
pub(crate) fn random_prime<R>(rng: &mut R, bits: u32) -> BoxedUint
where
    R: CryptoRng + ?Sized,
{
    loop {
        let candidate = random_odd_with_top_bit(rng, bits);
        if is_probable_prime(&candidate, MR_ROUNDS, rng) {
            return candidate;
        }
    }
}

/// DSA domain primes: `q` prime of `n_bits` bits and `p` prime of `l_bits` bits with
/// `p ≡ 1 (mod 2q)`. `l_bits` must be a multiple of the limb size and larger than `n_bits + 1`.
///
/// Like FIPS 186's procedure, `p` candidates are `X - (X mod 2q) + 1` for a random `l_bits`-bit
/// `X`; here the following `4 * l_bits` candidates `+ 2q, + 4q, ...` are sieved incrementally
/// with the small primes before Miller-Rabin, and a fresh `q` is drawn if none is prime.
pub(crate) fn generate_pq<R>(rng: &mut R, l_bits: u32, n_bits: u32) -> (BoxedUint, BoxedUint)
where
    R: CryptoRng + ?Sized,
{
    let primes = small_primes();
    loop {
        let q = random_prime(rng, n_bits);
        let two_q = num::from_be(&num::to_be_minimal(&q), l_bits).wrapping_shl_vartime(1);
        let Some(two_q_nz) = NonZero::new(two_q.clone()).into_option() else {
            continue;
        };
        let x = random_odd_with_top_bit(rng, l_bits);
        let c = x.rem_vartime(&two_q_nz);
        let mut candidate = x.wrapping_sub(&c).wrapping_add(Limb::ONE);
        if candidate.bit_width_vartime() != l_bits {
            continue;
        }
        let mut residues: Vec<(u32, u32, u32)> = primes
            .iter()
            .map(|p| {
                let r = candidate.rem_limb(p.limb).0 as u32;
                let step = two_q.rem_limb(p.limb).0 as u32;
                (p.value, r, step)
            })
            .collect();
        for _ in 0..4 * l_bits {
            let sieved = residues.iter().all(|(_, r, _)| *r != 0);
            if sieved && is_probable_prime(&candidate, MR_ROUNDS, rng) {
                return (candidate, q);
            }
            let (next, overflow) = candidate.overflowing_add(&two_q);
            if overflow.to_bool() {
                break;
            }
            candidate = next;
            for (p, r, step) in &mut residues {
                *r = (*r + *step) % *p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(0x5eed)
    }

    #[test]
    fn small_numbers_are_classified_exactly() {
        let mut rng = rng();
        let primes = [2u32, 3, 5, 7, 11, 13, 2039, 4093, 4099, 65537];
        let composites = [0u32, 1, 4, 9, 15, 2047, 4095, 65535];
        for p in primes {
            assert!(
                is_probable_prime(&BoxedUint::from(p), MR_ROUNDS, &mut rng),
                "{p}"
            );
        }
        for c in composites {
            assert!(
                !is_probable_prime(&BoxedUint::from(c), MR_ROUNDS, &mut rng),
                "{c}"
            );
        }
    }

    #[test]
    fn large_known_values() {
        let mut rng = rng();
        // 2^127 - 1 is a Mersenne prime; 2^128 + 1 = 59649589127497217 * 5704689200685129054721.
        let m127 = BoxedUint::max(128).wrapping_shr_vartime(1);
        assert!(is_probable_prime(&m127, MR_ROUNDS, &mut rng));
        let f7 = BoxedUint::one_with_precision(192)
            .wrapping_shl_vartime(128)
            .wrapping_add(Limb::ONE);
        assert!(!is_probable_prime(&f7, MR_ROUNDS, &mut rng));
        // A strong pseudoprime to bases 2..=37 that trial division up to 2048 misses:
        // 3825123056546413051 = 149491 * 747451 * 34233211.
        let spsp = BoxedUint::from(3_825_123_056_546_413_051u64);
        assert!(!is_probable_prime(&spsp, MR_ROUNDS, &mut rng));
        // The OTR group prime and its Sophie Germain half.
        let p = num::from_be(crate::dh::modulus(), 1536);
        assert!(is_probable_prime(&p, 8, &mut rng));
        assert!(is_probable_prime(&p.wrapping_shr_vartime(1), 8, &mut rng));
        assert!(!is_probable_prime(
            &p.wrapping_sub(Limb::from(2u8)),
            8,
            &mut rng
        ));
    }

    #[test]
    fn random_prime_has_exact_size() {
        let mut rng = rng();
        let q = random_prime(&mut rng, 64);
        assert_eq!(q.bit_width_vartime(), 64);
        assert!(is_probable_prime(&q, MR_ROUNDS, &mut rng));
    }
}
