//! Group arithmetic for the Socialist Millionaires' Protocol (Protocol-v3, "Socialist
//! Millionaires' Protocol (SMP)" and "The SMP state machine").
//!
//! SMP computes in the same 1536-bit MODP group as the AKE ([`crate::dh`]): elements are
//! integers mod the safe prime `p`, `g1 = 2` generates the subgroup of prime order
//! `q = (p-1)/2`, and the zero-knowledge proofs' `D` values are computed mod `q`.
//!
//! ```text
//!   Exponent (secret: a2, a3, b2, b3, r2..r7, x, y)
//!       │  GroupElement::pow_secret      constant time in the exponent
//!       │  Exponent::sub_mul(r, a, c)    D = r - a·c mod q, constant time; consumes r
//!       ▼
//!   PublicExponent (c = SHA-256 output, D values: sent and received)
//!       │  GroupElement::pow_public      variable time in the exponent (verification only)
//!       ▼
//!   GroupElement (value in [1, p-1], Montgomery form; received ones checked in [2, p-2])
//! ```
//!
//! Three types keep the two kinds of exponent apart: an [`Exponent`] is secret (wiped on drop,
//! `Debug` redacted, only usable with constant-time exponentiation), a [`PublicExponent`] is a
//! value that is or will be on the wire and may be used with the faster variable-time path.
//! The only way from the first to the second is [`Exponent::sub_mul`], which produces a proof's
//! `D = r - a·c mod q` and consumes the single-use `r`.
//!
//! Constant time here means: the time of [`GroupElement::pow_secret`] depends on the exponent's
//! *precision* (1536 bits for random exponents, 256 bits for the SHA-256 secret; both public
//! facts of the protocol), never on its value. Group elements are wiped on drop as well, since
//! some of them (SMP's `g2`, `g3`) are shared secrets.

use core::cmp::Ordering;
use core::fmt;
use std::sync::OnceLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, ConcatenatingMul, NonZero, Odd};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{dh, modp, mpi, num};

/// Bits of the modulus `p`, of group elements and of SMP's random exponents.
const MODULUS_BITS: u32 = 1536;

/// Largest accepted encoding of a group element or exponent (bytes, leading zeros ignored).
pub const MAX_BYTES: usize = dh::MODULUS_BYTES;

/// Bytes of a random SMP exponent: "The random exponents are 1536-bit numbers".
const RANDOM_EXPONENT_BYTES: usize = dh::MODULUS_BYTES;

/// Bits of an exponent taken from a SHA-256 digest (the SMP secret `x`).
const DIGEST_BITS: u32 = 256;

/// Why a received group element or exponent was refused.
///
/// Both variants are the peer's fault (bad input); neither carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The encoding is longer than 1536 bits (after stripping leading zeros).
    #[error("{what} is too large: at most 1536 bits allowed, got {got_bits}")]
    TooLarge {
        /// Which kind of value: `"group element"` or `"exponent"`.
        what: &'static str,
        /// The bit length received.
        got_bits: usize,
    },
    /// A group element is outside `[2, p-2]`.
    #[error("group element is outside [2, p-2]")]
    OutOfRange,
}

/// Precomputed constants of the group, built once per process (the Montgomery arithmetic and
/// the generator's tables live in `crate::modp`).
struct Group {
    /// `p - 2`, the largest value accepted from the network.
    p_minus_2: BoxedUint,
    /// `q = (p - 1) / 2`, the order of `g1`, as a divisor.
    q: NonZero<BoxedUint>,
    /// Montgomery parameters for `p` in `crypto-bigint`'s form, for the (public) divisions.
    params: BoxedMontyParams,
}

fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        let p = num::from_be(dh::modulus(), MODULUS_BITS);
        let p_minus_2 = p.wrapping_sub(BoxedUint::from(2u8));
        let q = p.wrapping_shr_vartime(1);
        // Invariants: the RFC 3526 prime is a constant ending in 0xff (odd), and q = (p-1)/2 is
        // a 1535-bit number (nonzero).
        #[allow(clippy::expect_used)]
        let q = NonZero::new(q).into_option().expect("(p-1)/2 is nonzero");
        #[allow(clippy::expect_used)]
        let p = Odd::new(p)
            .into_option()
            .expect("the RFC 3526 prime is odd");
        Group {
            p_minus_2,
            q,
            params: BoxedMontyParams::new_vartime(p),
        }
    })
}

/// An element of the multiplicative group mod `p`: an integer in `[1, p-1]`.
///
/// Values from the network enter through [`GroupElement::from_bytes_checked`], which enforces
/// the spec's `2 <= v <= p-2`; all others are computed from the generator and checked values,
/// so they stay nonzero. Equality is constant time. Wiped on drop; `Debug` is redacted because
/// some elements (`g2`, `g3`) are secret.
#[derive(Clone)]
pub struct GroupElement {
    /// The value in Montgomery form mod `p` (24 little-endian limbs), boxed so that the
    /// protocol states holding several elements stay small.
    m: Box<modp::Limbs>,
    /// Whether this is the generator made by [`GroupElement::generator`] (a structural, public
    /// fact, never derived from the value): its powers come from the precomputed tables.
    generator: bool,
}

impl GroupElement {
    /// The generator `g1 = 2` of the subgroup of order `q`.
    #[must_use]
    pub fn generator() -> Self {
        Self {
            m: Box::new(modp::modp().g),
            generator: true,
        }
    }

    /// An element from its Montgomery form.
    fn from_monty(m: modp::Limbs) -> Self {
        Self {
            m: Box::new(m),
            generator: false,
        }
    }

    /// Parses a received big-endian value (leading zeros ignored), rejecting values longer
    /// than 192 bytes and values outside `[2, p-2]` (Protocol-v3: "Check that ... are >= 2 and
    /// <= modulus-2").
    pub fn from_bytes_checked(be: &[u8]) -> Result<Self, GroupError> {
        let value = mpi::minimal(be);
        if value.len() > MAX_BYTES {
            return Err(GroupError::TooLarge {
                what: "group element",
                got_bits: num::bit_len_of_bytes(value),
            });
        }
        let v = num::from_be(value, MODULUS_BITS);
        let two = BoxedUint::from(2u8);
        if v.cmp_vartime(&two) == Ordering::Less
            || v.cmp_vartime(&group().p_minus_2) == Ordering::Greater
        {
            return Err(GroupError::OutOfRange);
        }
        Ok(Self::from_monty(modp::modp().monty.enter(&modp::limbs(&v))))
    }

    /// The value as minimal big-endian bytes (ready for an MPI).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let plain = Zeroizing::new(modp::modp().monty.retrieve(&self.m));
        let mut out = vec![0u8; MAX_BYTES];
        for (chunk, limb) in out.rchunks_exact_mut(8).zip(plain.iter()) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        let leading = out.iter().take_while(|b| **b == 0).count();
        out.drain(..leading);
        out
    }

    /// `self · rhs mod p`.
    #[must_use]
    pub fn mul(&self, rhs: &Self) -> Self {
        Self::from_monty(modp::modp().monty.mul(&self.m, &rhs.m))
    }

    /// `self / divisor mod p`, i.e. `self · divisor^-1`.
    ///
    /// The inversion is variable time in `divisor`, which must therefore be a public value
    /// (in SMP every divisor is: `Qb`, `Pb` and `Qa` are all sent over the wire).
    #[must_use]
    pub fn div(&self, divisor: &Self) -> Self {
        let m = &modp::modp().monty;
        let plain = modp::boxed(&m.retrieve(&divisor.m));
        let d = BoxedMontyForm::new(plain, &group().params);
        // Invariant: a GroupElement is in [1, p-1] and p is prime, so it is invertible.
        #[allow(clippy::expect_used)]
        let inverse = d
            .invert_vartime()
            .into_option()
            .expect("nonzero elements mod a prime are invertible")
            .retrieve();
        let inverse = m.enter(&modp::limbs(&inverse));
        Self::from_monty(m.mul(&self.m, &inverse))
    }

    /// `self^e mod p` for a secret exponent, in constant time (the time depends on the
    /// exponent's public precision only). Powers of [`GroupElement::generator`] use a
    /// precomputed table (one multiplication per 4 exponent bits, no squarings).
    #[must_use]
    pub fn pow_secret(&self, e: &Exponent) -> Self {
        let bits = e.x.bits_precision();
        let m = if self.generator {
            modp::g_pow_ct(e.x.as_words(), bits)
        } else {
            modp::modp().monty.pow_ct(&self.m, e.x.as_words(), bits)
        };
        Self::from_monty(m)
    }

    /// `self^e1 · base2^e2 mod p` for secret exponents, in constant time: the products SMP
    /// sends (`g1^r4 · g2^x`, `g1^r5 · g2^r6`). When `self` is the generator its power comes
    /// from the table and only `base2^e2` costs squarings; otherwise the two share one chain
    /// of squarings.
    #[must_use]
    pub fn pow2_secret(&self, e1: &Exponent, base2: &Self, e2: &Exponent) -> Self {
        let monty = &modp::modp().monty;
        if self.generator || base2.generator {
            return self.pow_secret(e1).mul(&base2.pow_secret(e2));
        }
        let bits = e1.x.bits_precision().max(e2.x.bits_precision());
        Self::from_monty(monty.pow2_ct(&self.m, e1.x.as_words(), &base2.m, e2.x.as_words(), bits))
    }

    /// `self^e mod p` for a public exponent (a received or sent `c` or `D` value). Variable
    /// time in `e` (its bit length and zero windows), constant time in `self`.
    #[must_use]
    pub fn pow_public(&self, e: &PublicExponent) -> Self {
        Self::multi_pow_public(&[(self, e)])
    }

    /// `base1^e1 · base2^e2 · ...  mod p` for public exponents: the verifier's products such
    /// as `g1^D5 · g2^D6 · Qb^cP`.
    ///
    /// Straus's simultaneous exponentiation with 4-bit windows: one shared chain of squarings
    /// instead of one per base. Variable time in the exponents (which windows are zero), constant
    /// time in the bases, so secret bases (`g2`, `g3`) are fine. An empty product is 1.
    ///
    /// Powers of [`GroupElement::generator`] come from its precomputed table instead (no
    /// squarings): a proof check `g1^D · base^c` with a 256-bit `c` then needs only 256
    /// squarings instead of 1535.
    #[must_use]
    pub fn multi_pow_public(terms: &[(&GroupElement, &PublicExponent)]) -> Self {
        let monty = &modp::modp().monty;
        let refs: Vec<(&modp::Limbs, &[u64])> = terms
            .iter()
            .filter(|(base, _)| !base.generator)
            .map(|(base, e)| (&*base.m, e.x.as_words()))
            .collect();
        let mut acc = monty.multi_pow_vartime(&refs);
        for (_, e) in terms.iter().filter(|(base, _)| base.generator) {
            acc = monty.mul(&acc, &modp::g_pow_vartime(e.x.as_words()));
        }
        Self::from_monty(acc)
    }

    /// Whether `self == rhs`, in constant time.
    #[must_use]
    pub fn ct_eq(&self, rhs: &Self) -> bool {
        self.m.as_slice().ct_eq(rhs.m.as_slice()).into()
    }
}

impl PartialEq for GroupElement {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for GroupElement {}

impl fmt::Debug for GroupElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupElement(<redacted>)")
    }
}

impl Zeroize for GroupElement {
    fn zeroize(&mut self) {
        self.m.zeroize();
    }
}

impl Drop for GroupElement {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for GroupElement {}

/// A secret exponent: SMP's `a2`, `a3`, `b2`, `b3`, `r2`..`r7` (1536 random bits, kept as
/// drawn) and the secrets `x`, `y` (a SHA-256 digest taken as a 256-bit integer).
///
/// Not `Clone`; wiped on drop; `Debug` shows nothing of it. Its precision (1536 or 256 bits)
/// is the public bound for constant-time exponentiation.
pub struct Exponent {
    x: Zeroizing<BoxedUint>,
}

impl Exponent {
    /// Draws 1536 random bits (192 bytes), as the spec prescribes for SMP's random exponents.
    /// The value is not reduced mod `q`: exponentiation of elements of the order-`q` subgroup
    /// gives the same result either way.
    #[must_use]
    pub fn random<R>(rng: &mut R) -> Self
    where
        R: CryptoRng + ?Sized,
    {
        let mut buf = Zeroizing::new([0u8; RANDOM_EXPONENT_BYTES]);
        rng.fill_bytes(buf.as_mut_slice());
        Self {
            x: Zeroizing::new(num::from_be(buf.as_slice(), MODULUS_BITS)),
        }
    }

    /// A SHA-256 digest taken as a big-endian 256-bit integer (SMP's secret `x` or `y`).
    #[must_use]
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self {
            x: Zeroizing::new(num::from_be(digest, DIGEST_BITS)),
        }
    }

    /// Restores an exponent from big-endian bytes (leading zeros ignored, at most 192 bytes),
    /// with 1536 bits of precision. No reduction, no range check: any such value is a valid
    /// exponent.
    pub fn from_bytes(be: &[u8]) -> Result<Self, GroupError> {
        let value = mpi::minimal(be);
        if value.len() > MAX_BYTES {
            return Err(GroupError::TooLarge {
                what: "exponent",
                got_bits: num::bit_len_of_bytes(value),
            });
        }
        Ok(Self {
            x: Zeroizing::new(num::from_be(value, MODULUS_BITS)),
        })
    }

    /// The exponent as minimal big-endian bytes, in a buffer wiped on drop.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        num::to_be_minimal_secret(&self.x)
    }

    /// A zero-knowledge proof's response `D = r - a·c mod q`, where `self` is the one-time
    /// random `r` (consumed: publishing two `D` values for the same `r` would reveal `a`), `a`
    /// the secret whose knowledge is proven, and `c` the public challenge hash.
    ///
    /// Constant time in `r` and `a`.
    #[must_use]
    pub fn sub_mul(self, a: &Exponent, c: &PublicExponent) -> PublicExponent {
        let q = &group().q;
        let r = widen(&self.x);
        let a = widen(&a.x);
        let product = Zeroizing::new(a.concatenating_mul(&c.x));
        let ac = Zeroizing::new(product.rem(q));
        let r = Zeroizing::new(r.rem(q));
        PublicExponent {
            x: r.sub_mod(&ac, q),
        }
    }
}

/// A copy of `x` with (at least) 1536 bits of precision, wiped on drop.
fn widen(x: &BoxedUint) -> Zeroizing<BoxedUint> {
    let mut wide = Zeroizing::new(BoxedUint::zero_with_precision(
        MODULUS_BITS.max(x.bits_precision()),
    ));
    // Copy limb by limb into the (zero) wider buffer: no unwiped intermediate copies.
    for (dst, src) in wide.as_mut_limbs().iter_mut().zip(x.as_limbs()) {
        *dst = *src;
    }
    wide
}

impl fmt::Debug for Exponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Exponent(<redacted>)")
    }
}

impl ZeroizeOnDrop for Exponent {}

/// A public exponent: a challenge `c` (a SHA-256 hash as an integer) or a proof's `D` value,
/// reduced mod `q`.
///
/// Received values are bounded to 1536 bits and reduced mod `q` (honest peers send values below
/// `q`; the reduction does not change `g1^D`, since `g1` has order `q`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicExponent {
    x: BoxedUint,
}

impl PublicExponent {
    /// Parses a big-endian value (leading zeros ignored) of at most 192 bytes and reduces it
    /// mod `q`.
    pub fn from_bytes(be: &[u8]) -> Result<Self, GroupError> {
        let value = mpi::minimal(be);
        if value.len() > MAX_BYTES {
            return Err(GroupError::TooLarge {
                what: "exponent",
                got_bits: num::bit_len_of_bytes(value),
            });
        }
        let x = num::from_be(value, MODULUS_BITS);
        Ok(Self {
            x: x.rem_vartime(&group().q),
        })
    }

    /// A SHA-256 digest taken as a big-endian integer (SMP's challenges `c2`, `c3`, `cP`,
    /// `cR`). It is below `2^256 < q`, so no reduction happens.
    #[must_use]
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self {
            x: num::from_be(digest, MODULUS_BITS),
        }
    }

    /// The value as minimal big-endian bytes (ready for an MPI).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        num::to_be_minimal(&self.x)
    }
}

impl fmt::Debug for PublicExponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicExponent(0x")?;
        for byte in self.to_bytes() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// Selects the implementation of the Montgomery multiplication behind every exponentiation of
/// this crate (the 1536-bit group, DH and DSA): the x86-64 MULX/ADCX/ADOX assembly (`true`),
/// which is the default when the processor reports BMI2 and ADX, or the portable Rust
/// (`false`). Returns whether the assembly is in use afterwards (never on a processor without
/// BMI2 and ADX). The environment variable `OFFRECORD_CRYPTO_NO_ASM`, when set, makes the
/// portable Rust the default instead (for comparisons: `bench/compare.sh` with and without
/// it). Both compute identical results in constant time; the switch is for tests,
/// benchmarks and the constant-time probe, which runs both under valgrind (whose emulated
/// CPUID hides ADX, so the host's `/proc/cpuinfo` flags are consulted as well).
pub fn use_assembly(on: bool) -> bool {
    crate::mont::use_asm(on)
}

/// Whether the x86-64 MULX/ADCX/ADOX assembly is in use (see [`use_assembly`]).
#[must_use]
pub fn assembly_in_use() -> bool {
    crate::mont::asm_in_use()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    fn p() -> Vec<u8> {
        dh::modulus().to_vec()
    }

    fn q_bytes() -> Vec<u8> {
        num::to_be_minimal(group().q.as_ref())
    }

    /// `p - d` (d small), big-endian.
    fn p_minus(d: u8) -> Vec<u8> {
        let mut v = p();
        *v.last_mut().unwrap() -= d;
        v
    }

    /// Square-and-multiply with `BoxedUint::mul_mod`: an independent reference.
    fn naive_pow(base: &[u8], exponent_be: &[u8]) -> Vec<u8> {
        let p = NonZero::new(num::from_be(dh::modulus(), MODULUS_BITS)).unwrap();
        let base = num::from_be(base, MODULUS_BITS);
        let mut acc = BoxedUint::one_with_precision(MODULUS_BITS);
        for byte in exponent_be {
            for bit in (0..8).rev() {
                acc = acc.mul_mod(&acc, &p);
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul_mod(&base, &p);
                }
            }
        }
        num::to_be_minimal(&acc)
    }

    #[test]
    fn generator_is_two_and_has_order_q() {
        let g = GroupElement::generator();
        assert_eq!(g.to_bytes(), [2]);
        let q = PublicExponent::from_bytes(&q_bytes()).unwrap();
        // q reduces to 0 mod q; use the raw value through a secret exponent instead.
        assert_eq!(q.to_bytes(), Vec::<u8>::new());
        let q_secret = Exponent::from_bytes(&q_bytes()).unwrap();
        assert_eq!(g.pow_secret(&q_secret).to_bytes(), [1]);
    }

    #[test]
    fn range_checks() {
        let out = Err(GroupError::OutOfRange);
        assert_eq!(GroupElement::from_bytes_checked(&[]), out);
        assert_eq!(GroupElement::from_bytes_checked(&[0]), out);
        assert_eq!(GroupElement::from_bytes_checked(&[1]), out);
        assert_eq!(GroupElement::from_bytes_checked(&[0, 0, 1]), out);
        assert_eq!(GroupElement::from_bytes_checked(&p_minus(1)), out);
        assert_eq!(GroupElement::from_bytes_checked(&p()), out);
        assert_eq!(GroupElement::from_bytes_checked(&[0xff; 192]), out);
        let mut too_long = vec![1u8];
        too_long.extend_from_slice(&p());
        assert_eq!(
            GroupElement::from_bytes_checked(&too_long),
            Err(GroupError::TooLarge {
                what: "group element",
                got_bits: 1537
            })
        );
        assert_eq!(
            GroupElement::from_bytes_checked(&[2]).unwrap().to_bytes(),
            [2]
        );
        assert_eq!(
            GroupElement::from_bytes_checked(&[0, 0, 2])
                .unwrap()
                .to_bytes(),
            [2]
        );
        assert_eq!(
            GroupElement::from_bytes_checked(&p_minus(2))
                .unwrap()
                .to_bytes(),
            p_minus(2)
        );
    }

    #[test]
    fn pow_matches_naive_reference() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let g = GroupElement::generator();
        for round in 0..4 {
            let e = Exponent::random(&mut rng);
            let e_bytes = e.to_bytes();
            let ge = g.pow_secret(&e);
            assert_eq!(
                ge.to_bytes(),
                naive_pow(&[2], &e_bytes),
                "g^e round {round}"
            );

            let mut base = [0u8; 150];
            rng.fill_bytes(&mut base);
            base[0] |= 1;
            let b = GroupElement::from_bytes_checked(&base).unwrap();
            assert_eq!(
                b.pow_secret(&e).to_bytes(),
                naive_pow(&base, &e_bytes),
                "b^e round {round}"
            );

            // Public exponents below q give the same result on either path.
            let mut d = [0u8; 191];
            rng.fill_bytes(&mut d);
            let public = PublicExponent::from_bytes(&d).unwrap();
            let secret = Exponent::from_bytes(&d).unwrap();
            assert_eq!(b.pow_public(&public), b.pow_secret(&secret));
            assert_eq!(b.pow_public(&public).to_bytes(), naive_pow(&base, &d));
        }
        // Digest-sized exponents.
        let digest = [0xa5; 32];
        let x = Exponent::from_digest(&digest);
        assert_eq!(g.pow_secret(&x).to_bytes(), naive_pow(&[2], &digest));
        let c = PublicExponent::from_digest(&digest);
        assert_eq!(g.pow_public(&c).to_bytes(), naive_pow(&[2], &digest));
        // Exponent zero.
        let zero = PublicExponent::from_bytes(&[]).unwrap();
        assert_eq!(g.pow_public(&zero).to_bytes(), [1]);
    }

    #[test]
    fn multi_pow_matches_separate_powers() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let g = GroupElement::generator();
        let a = g.pow_secret(&Exponent::random(&mut rng));
        let b = g.pow_secret(&Exponent::random(&mut rng));
        let mut d1 = [0u8; 192];
        let mut d2 = [0u8; 100];
        let mut c = [0u8; 32];
        rng.fill_bytes(&mut d1);
        rng.fill_bytes(&mut d2);
        rng.fill_bytes(&mut c);
        let d1 = PublicExponent::from_bytes(&d1).unwrap();
        let d2 = PublicExponent::from_bytes(&d2).unwrap();
        let c = PublicExponent::from_digest(&c);
        // Zero windows inside and at the top of an exponent.
        let sparse = PublicExponent::from_bytes(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f]).unwrap();
        let zero = PublicExponent::from_bytes(&[]).unwrap();
        let expected = g
            .pow_public(&d1)
            .mul(&a.pow_public(&d2))
            .mul(&b.pow_public(&c));
        assert_eq!(
            GroupElement::multi_pow_public(&[(&g, &d1), (&a, &d2), (&b, &c)]),
            expected
        );
        assert_eq!(
            GroupElement::multi_pow_public(&[(&a, &sparse)]),
            a.pow_public(&sparse)
        );
        assert_eq!(
            GroupElement::multi_pow_public(&[(&a, &zero), (&b, &c)]),
            b.pow_public(&c)
        );
        assert_eq!(
            GroupElement::multi_pow_public(&[(&a, &zero)]).to_bytes(),
            [1]
        );
        assert_eq!(GroupElement::multi_pow_public(&[]).to_bytes(), [1]);
        // The same base twice.
        assert_eq!(
            GroupElement::multi_pow_public(&[(&a, &c), (&a, &c)]),
            a.pow_public(&c).mul(&a.pow_public(&c))
        );
    }

    #[test]
    fn mul_div_round_trip() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let g = GroupElement::generator();
        let a = g.pow_secret(&Exponent::random(&mut rng));
        let b = g.pow_secret(&Exponent::random(&mut rng));
        let ab = a.mul(&b);
        assert_eq!(ab.div(&b), a);
        assert_eq!(ab.div(&a), b);
        assert_ne!(ab, a);
        assert_eq!(a.div(&a).to_bytes(), [1]);
        // p-2 = -2; (-2) / 2 = -1 = p-1.
        let minus_two = GroupElement::from_bytes_checked(&p_minus(2)).unwrap();
        assert_eq!(minus_two.div(&g).to_bytes(), p_minus(1));
    }

    #[test]
    fn sub_mul_is_a_valid_proof_response() {
        // g^D · (g^a)^c == g^r, with D = r - a·c mod q: the Schnorr check the SMP proofs use.
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let g = GroupElement::generator();
        for round in 0..4 {
            let r = Exponent::random(&mut rng);
            let a = if round == 0 {
                Exponent::from_digest(&[0xff; 32])
            } else {
                Exponent::random(&mut rng)
            };
            let mut digest = [0u8; 32];
            rng.fill_bytes(&mut digest);
            let c = PublicExponent::from_digest(&digest);
            let gr = g.pow_secret(&r);
            let ga = g.pow_secret(&a);
            let d = r.sub_mul(&a, &c);
            assert!(d.x.cmp_vartime(group().q.as_ref()) == Ordering::Less);
            assert_eq!(
                g.pow_public(&d).mul(&ga.pow_public(&c)),
                gr,
                "round {round}"
            );
        }
    }

    #[test]
    fn sub_mul_edge_cases() {
        let g = GroupElement::generator();
        // r = a·c exactly: D = 0.
        let r = Exponent::from_bytes(&[6]).unwrap();
        let a = Exponent::from_bytes(&[2]).unwrap();
        let c = PublicExponent::from_bytes(&[3]).unwrap();
        assert_eq!(r.sub_mul(&a, &c).to_bytes(), Vec::<u8>::new());
        // r < a·c: wraps to q - 1.
        let r = Exponent::from_bytes(&[5]).unwrap();
        let mut q_minus_1 = q_bytes();
        *q_minus_1.last_mut().unwrap() -= 1;
        assert_eq!(r.sub_mul(&a, &c).to_bytes(), q_minus_1);
        // r = 2^1536 - 1 (the largest 1536-bit draw), a = 1, c = 1: D = r - 1 mod q.
        let r = Exponent::from_bytes(&[0xff; 192]).unwrap();
        let gr = g.pow_secret(&r);
        let one = Exponent::from_bytes(&[1]).unwrap();
        let c1 = PublicExponent::from_bytes(&[1]).unwrap();
        let d = r.sub_mul(&one, &c1);
        assert_eq!(g.pow_public(&d).mul(&g), gr);
    }

    #[test]
    fn public_exponents_are_bounded_and_reduced() {
        let q_plus_5 = num::to_be_minimal(&group().q.as_ref().wrapping_add(BoxedUint::from(5u8)));
        assert_eq!(
            PublicExponent::from_bytes(&q_plus_5).unwrap().to_bytes(),
            [5]
        );
        assert!(
            PublicExponent::from_bytes(&[0xff; 192])
                .unwrap()
                .x
                .bit_width_vartime()
                <= 1535
        );
        assert_eq!(
            PublicExponent::from_bytes(&[1; 193]),
            Err(GroupError::TooLarge {
                what: "exponent",
                got_bits: 1537
            })
        );
        let mut padded = vec![0u8; 300];
        padded.push(9);
        assert_eq!(PublicExponent::from_bytes(&padded).unwrap().to_bytes(), [9]);
        assert!(matches!(
            Exponent::from_bytes(&[1; 193]),
            Err(GroupError::TooLarge { .. })
        ));
    }

    #[test]
    fn random_exponents_are_1536_bits_and_distinct() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let a = Exponent::random(&mut rng);
        let b = Exponent::random(&mut rng);
        assert_eq!(a.x.bits_precision(), 1536);
        assert_ne!(*a.to_bytes(), *b.to_bytes());
        assert!(a.to_bytes().len() > 180);
        assert_eq!(Exponent::from_digest(&[1; 32]).x.bits_precision(), 256);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let e = Exponent::random(&mut rng);
        let ge = GroupElement::generator().pow_secret(&e);
        let printed = format!("{e:?} {ge:?}");
        assert!(printed.contains("redacted"));
        let hex_e = hex::encode(&*e.to_bytes());
        let hex_ge = hex::encode(ge.to_bytes());
        assert!(!printed.contains(&hex_e[..16]));
        assert!(!printed.contains(&hex_ge[..16]));
        assert_eq!(
            format!("{:?}", PublicExponent::from_bytes(&[1, 2]).unwrap()),
            "PublicExponent(0x0102)"
        );
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    /// CPU time of this thread in nanoseconds (Linux), so that a loaded machine does not skew
    /// the numbers as much as wall time would.
    fn cpu_ns() -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn measure(label: &str, n: u32, mut f: impl FnMut()) {
        f();
        let start = cpu_ns();
        for _ in 0..n {
            f();
        }
        let per = (cpu_ns() - start) / u64::from(n);
        println!("{label}: {:.3} ms", per as f64 / 1e6);
    }

    #[test]
    #[ignore = "timing: cargo test --release -p offrecord-crypto group::timing -- --ignored --nocapture"]
    fn timing_exponentiations() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let g = GroupElement::generator();
        let e = Exponent::random(&mut rng);
        let b = g.pow_secret(&e);
        let d = PublicExponent::from_bytes(&e.to_bytes()).unwrap();
        let c = PublicExponent::from_digest(&[0xa5; 32]);
        let n = 40;
        measure("pow_secret, 1536-bit exponent", n, || {
            std::hint::black_box(b.pow_secret(&e));
        });
        measure("pow_public, 1535-bit exponent", n, || {
            std::hint::black_box(b.pow_public(&d));
        });
        measure("pow_public, 256-bit exponent", n, || {
            std::hint::black_box(b.pow_public(&c));
        });
        measure("multi_pow_public, one 1535-bit term", n, || {
            std::hint::black_box(GroupElement::multi_pow_public(&[(&b, &d)]));
        });
        measure("g^D b^c with multi_pow_public", n, || {
            std::hint::black_box(GroupElement::multi_pow_public(&[(&g, &d), (&b, &c)]));
        });
        measure("g^D b^c with two pow_public", n, || {
            std::hint::black_box(g.pow_public(&d).mul(&b.pow_public(&c)));
        });
        measure("g^D5 b^D6 b^c with multi_pow_public", n, || {
            std::hint::black_box(GroupElement::multi_pow_public(&[
                (&g, &d),
                (&b, &d),
                (&b, &c),
            ]));
        });
        measure("div", n, || {
            std::hint::black_box(b.div(&g));
        });
        measure("random + sub_mul", n, || {
            let r = Exponent::random(&mut rng);
            std::hint::black_box(r.sub_mul(&e, &c));
        });
    }
}
