//! DSA as OTR uses it (Protocol-v3, "Public keys, signatures, and fingerprints").
//!
//! OTR signs short byte strings that are already hashes (e.g. the 32-byte AKE MAC `M_B`). Like
//! libotr, the input is taken as a big-endian integer and reduced mod `q` — not truncated to
//! the size of `q`, not hashed again:
//!
//! ```text
//! h = int(hash_be) mod q
//! sign:   k random in [1, q-1];  r = (g^k mod p) mod q;  s = k^-1 (h + x r) mod q
//! verify: 0 < r, s < q;  w = s^-1;  u1 = h w;  u2 = r w (mod q);  (g^u1 y^u2 mod p) mod q == r
//! ```
//!
//! Signing is constant time in `x` and `k` (Montgomery exponentiation bounded by the public
//! bit length of `q`, safegcd inversion mod `q`). Verification only handles public data and uses
//! a faster variable-time simultaneous exponentiation.
//!
//! The fingerprint of a key is SHA-1 over `MPI(p) || MPI(q) || MPI(g) || MPI(y)`.

use core::cmp::Ordering;
use core::fmt;

use crypto_bigint::ctutils::CtLt;
use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd};
use rand_core::CryptoRng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::mont::{Monty, limbs_of};
use crate::{CryptoError, hash, mpi, num, prime};

/// Largest accepted size of `p`.
const MAX_P_BITS: usize = 3072;
/// Largest accepted size of `q`.
const MAX_Q_BITS: usize = 256;
/// Sizes of generated keys (DSA-1024/160, what OTR v3 peers expect).
const GEN_P_BITS: u32 = 1024;
const GEN_Q_BITS: u32 = 160;

/// A DSA public key `(p, q, g, y)`, sanity-checked.
///
/// Holds precomputed Montgomery parameters, so build it once and reuse it for many
/// verifications. Equality compares the four components.
#[derive(Clone)]
pub struct DsaPublicKey {
    p: BoxedUint,
    q: BoxedUint,
    g: BoxedUint,
    y: BoxedUint,
    /// Montgomery parameters mod `q` (those mod `p` live in `g_monty`).
    q_params: BoxedMontyParams,
    /// `g` and `y` in Montgomery form mod `p`.
    g_monty: BoxedMontyForm,
    y_monty: BoxedMontyForm,
    /// Bit length and minimal byte length of `q`.
    q_bits: u32,
    q_len: usize,
    fingerprint: [u8; 20],
}

/// Limbs of the fast path: `p` of at most 1024 bits.
const FAST_LIMBS: usize = 16;

/// Arithmetic mod `p` with [`Monty`] (16 limbs), and `g`, `y` in its Montgomery form.
#[derive(Clone)]
struct FastP {
    monty: Monty<FAST_LIMBS>,
    g: [u64; FAST_LIMBS],
    y: [u64; FAST_LIMBS],
}

impl FastP {
    /// The fast path for `p` (odd, at least 3), if it fits in 16 limbs.
    fn new(p: &BoxedUint, g: &BoxedUint, y: &BoxedUint) -> Option<Self> {
        let monty = Monty::<FAST_LIMBS>::from_boxed(p)?;
        let g = monty.enter(&limbs_of(g));
        let y = monty.enter(&limbs_of(y));
        Some(Self { monty, g, y })
    }

    /// Back from Montgomery form to a `BoxedUint`.
    fn boxed(&self, x: &[u64; FAST_LIMBS]) -> Zeroizing<BoxedUint> {
        let plain = Zeroizing::new(self.monty.retrieve(x));
        Zeroizing::new(BoxedUint::from_words(*plain))
    }
}

/// Rejects a component of more than `max_bits` bits.
fn check_size(what: &'static str, value: &[u8], max_bits: usize) -> Result<(), CryptoError> {
    let got_bits = num::bit_len_of_bytes(value);
    if got_bits > max_bits {
        return Err(CryptoError::TooLarge {
            what,
            max_bits,
            got_bits,
        });
    }
    Ok(())
}

impl DsaPublicKey {
    /// Builds a key from big-endian components (leading zeros ignored), as read from the
    /// network. Checks: `p` odd, at most 3072 bits; `q` odd, at least 3, at most 256 bits and
    /// below `p`; `g` and `y` in `[2, p-1]`. Primality and the subgroup structure are not
    /// checked (that is the key owner's business, as in libotr).
    pub fn from_components(p: &[u8], q: &[u8], g: &[u8], y: &[u8]) -> Result<Self, CryptoError> {
        let (p, q, g, y) = (
            mpi::minimal(p),
            mpi::minimal(q),
            mpi::minimal(g),
            mpi::minimal(y),
        );
        check_size("DSA p", p, MAX_P_BITS)?;
        check_size("DSA q", q, MAX_Q_BITS)?;
        let p_bits = num::bit_len_of_bytes(p);
        if num::bit_len_of_bytes(g) > p_bits || num::bit_len_of_bytes(y) > p_bits {
            return Err(CryptoError::InvalidDsaKey("g and y must be below p"));
        }

        let p_precision = num::precision_for_bytes(p.len());
        let q_precision = num::precision_for_bytes(q.len());
        let p_value = num::from_be(p, p_precision);
        let q_value = num::from_be(q, q_precision);
        let g_value = num::from_be(g, p_precision);
        let y_value = num::from_be(y, p_precision);

        let two = BoxedUint::from(2u8);
        if q_value.cmp_vartime(&two) != Ordering::Greater || !q_value.bit_vartime(0) {
            return Err(CryptoError::InvalidDsaKey("q must be odd and at least 3"));
        }
        if q_value.cmp_vartime(&p_value) != Ordering::Less {
            return Err(CryptoError::InvalidDsaKey("q must be below p"));
        }
        let Some(p_odd) = Odd::new(p_value.clone()).into_option() else {
            return Err(CryptoError::InvalidDsaKey("p must be odd"));
        };
        for (value, message) in [
            (&g_value, "g must be in [2, p-1]"),
            (&y_value, "y must be in [2, p-1]"),
        ] {
            if value.cmp_vartime(&two) == Ordering::Less
                || value.cmp_vartime(&p_value) != Ordering::Less
            {
                return Err(CryptoError::InvalidDsaKey(message));
            }
        }
        let Some(q_odd) = Odd::new(q_value.clone()).into_option() else {
            return Err(CryptoError::InvalidDsaKey("q must be odd and at least 3"));
        };

        let p_params = BoxedMontyParams::new_vartime(p_odd);
        let q_params = BoxedMontyParams::new_vartime(q_odd);
        let g_monty = BoxedMontyForm::new(g_value.clone(), &p_params);
        let y_monty = BoxedMontyForm::new(y_value.clone(), &p_params);

        let mut encoded = Vec::with_capacity(16 + p.len() + q.len() + g.len() + y.len());
        for part in [p, q, g, y] {
            mpi::encode(part, &mut encoded);
        }
        let fingerprint = hash::sha1(&[&encoded]);

        Ok(Self {
            q_bits: q_value.bit_width_vartime(),
            q_len: q.len(),
            p: p_value,
            q: q_value,
            g: g_value,
            y: y_value,
            q_params,
            g_monty,
            y_monty,
            fingerprint,
        })
    }

    /// `(p, q, g, y)` as minimal big-endian bytes.
    #[must_use]
    pub fn components(&self) -> [Vec<u8>; 4] {
        [&self.p, &self.q, &self.g, &self.y].map(num::to_be_minimal)
    }

    /// The OTR fingerprint: SHA-1 over `MPI(p) || MPI(q) || MPI(g) || MPI(y)`.
    #[must_use]
    pub fn fingerprint(&self) -> [u8; 20] {
        self.fingerprint
    }

    /// Length of `q` in bytes (20 for DSA-1024/160); signature halves have this length.
    #[must_use]
    pub fn q_len(&self) -> usize {
        self.q_len
    }

    /// Verifies `sig` over `hash_be`, taken as a big-endian integer reduced mod `q`.
    ///
    /// `r` and `s` may carry leading zeros; values outside `[1, q-1]` fail.
    #[must_use]
    pub fn verify(&self, hash_be: &[u8], sig: &DsaSignature) -> bool {
        let (Some(r), Some(s)) = (self.parse_scalar(&sig.r), self.parse_scalar(&sig.s)) else {
            return false;
        };
        let h = self.reduce_hash(hash_be);
        let s_monty = BoxedMontyForm::new(s, &self.q_params);
        let Some(w) = s_monty.invert_vartime().into_option() else {
            return false;
        };
        let u1 = BoxedMontyForm::new(h, &self.q_params).mul(&w).retrieve();
        let u2 = BoxedMontyForm::new(r.clone(), &self.q_params)
            .mul(&w)
            .retrieve();
        // The fast path's parameters are cheap to derive (no allocation), so a public key does
        // not carry them: it is held by every session.
        let v = match self.fast() {
            Some(fast) => {
                let v = fast
                    .monty
                    .multi_pow_vartime(&[(&fast.g, u1.as_words()), (&fast.y, u2.as_words())]);
                (*fast.boxed(&v)).clone()
            }
            None => pow2_vartime(&self.g_monty, &u1, &self.y_monty, &u2).retrieve(),
        };
        v.rem_vartime(self.q_nz()) == r
    }

    /// The fixed-size Montgomery arithmetic mod `p` when `p` has at most 1024 bits (every
    /// OTR key in practice); larger keys use `crypto-bigint`.
    fn fast(&self) -> Option<FastP> {
        FastP::new(&self.p, &self.g, &self.y)
    }

    /// `q` as a nonzero divisor.
    fn q_nz(&self) -> &NonZero<BoxedUint> {
        self.q_params.modulus().as_nz_ref()
    }

    /// `int(hash_be) mod q`, with the precision of `q`.
    fn reduce_hash(&self, hash_be: &[u8]) -> BoxedUint {
        num::from_be_public(hash_be).rem_vartime(self.q_nz())
    }

    /// A signature half as an integer in `[1, q-1]` with the precision of `q`, or `None`.
    fn parse_scalar(&self, be: &[u8]) -> Option<BoxedUint> {
        let value = mpi::minimal(be);
        if value.is_empty() || value.len() > self.q_len {
            return None;
        }
        let value = num::from_be(value, self.q.bits_precision());
        (value.cmp_vartime(&self.q) == Ordering::Less).then_some(value)
    }
}

impl PartialEq for DsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.p == other.p && self.q == other.q && self.g == other.g && self.y == other.y
    }
}

impl Eq for DsaPublicKey {}

impl fmt::Debug for DsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<'a>(&'a [u8]);
        impl fmt::Debug for Hex<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        f.debug_struct("DsaPublicKey")
            .field("p_bits", &self.p.bit_width_vartime())
            .field("q_bits", &self.q_bits)
            .field("fingerprint", &Hex(&self.fingerprint))
            .finish()
    }
}

/// `a^e1 * b^e2` in variable time (public exponents only): interleaved fixed 4-bit windows,
/// sharing the squarings between the two exponents.
fn pow2_vartime(
    a: &BoxedMontyForm,
    e1: &BoxedUint,
    b: &BoxedMontyForm,
    e2: &BoxedUint,
) -> BoxedMontyForm {
    const WINDOW: u32 = 4;
    fn table(base: &BoxedMontyForm) -> Vec<BoxedMontyForm> {
        let mut powers = Vec::with_capacity(1 << WINDOW);
        let mut current = BoxedMontyForm::one(base.params());
        for _ in 0..(1 << WINDOW) {
            let next = current.mul(base);
            powers.push(current);
            current = next;
        }
        powers
    }
    fn digit(e: &BoxedUint, window: u32) -> usize {
        (0..WINDOW).fold(0, |acc, i| {
            acc | (usize::from(e.bit_vartime(window * WINDOW + i)) << i)
        })
    }

    let tables = [table(a), table(b)];
    let bits = e1.bit_width_vartime().max(e2.bit_width_vartime());
    let mut acc: Option<BoxedMontyForm> = None;
    for window in (0..bits.div_ceil(WINDOW)).rev() {
        if let Some(value) = acc.as_mut() {
            for _ in 0..WINDOW {
                *value = value.square();
            }
        }
        for (exponent, powers) in [e1, e2].into_iter().zip(&tables) {
            let d = digit(exponent, window);
            if d == 0 {
                continue;
            }
            if let Some(factor) = powers.get(d) {
                acc = Some(match acc {
                    None => factor.clone(),
                    Some(value) => value.mul(factor),
                });
            }
        }
    }
    acc.unwrap_or_else(|| BoxedMontyForm::one(a.params()))
}

/// A DSA private key: the public key plus the secret exponent `x` in `[1, q-1]`.
///
/// `x` is wiped on drop; `Debug` shows only the public part.
pub struct DsaPrivateKey {
    public: DsaPublicKey,
    /// `x` with the precision of `q`.
    x: Zeroizing<BoxedUint>,
    /// `x` in Montgomery form mod `q`, for signing.
    x_monty: Zeroizing<BoxedMontyForm>,
    /// The fast path's arithmetic mod `p` (keys of at most 1024 bits).
    fast: Option<Box<FastP>>,
}

impl DsaPrivateKey {
    /// Generates a DSA-1024/160 key (FIPS 186 style: 160-bit prime `q`, 1024-bit prime `p` with
    /// `q | p-1`, `g = h^((p-1)/q) mod p != 1`, `x` uniform in `[1, q-1]`). Takes a moment.
    #[must_use]
    pub fn generate<R>(rng: &mut R) -> Self
    where
        R: CryptoRng + ?Sized,
    {
        loop {
            let (p, q) = prime::generate_pq(rng, GEN_P_BITS, GEN_Q_BITS);
            let Some(g) = find_generator(&p, &q) else {
                continue;
            };
            let Some(p_odd) = Odd::new(p.clone()).into_option() else {
                continue;
            };
            let p_params = BoxedMontyParams::new_vartime(p_odd);
            let x = num::random_below(rng, &q, GEN_Q_BITS);
            let y = BoxedMontyForm::new(g.clone(), &p_params)
                .pow_bounded_exp(&x, GEN_Q_BITS)
                .retrieve();
            let x_bytes = num::to_be_minimal_secret(&x);
            let [p, q, g, y] = [&p, &q, &g, &y].map(num::to_be_minimal);
            // Cannot fail for the values built above; retry rather than panic if it ever did.
            if let Ok(key) = Self::from_components(&p, &q, &g, &y, &x_bytes) {
                return key;
            }
        }
    }

    /// Builds a key from big-endian components (leading zeros ignored). Besides the public-key
    /// checks of [`DsaPublicKey::from_components`], `x` must be in `[1, q-1]` and satisfy
    /// `g^x mod p == y`.
    pub fn from_components(
        p: &[u8],
        q: &[u8],
        g: &[u8],
        y: &[u8],
        x: &[u8],
    ) -> Result<Self, CryptoError> {
        let public = DsaPublicKey::from_components(p, q, g, y)?;
        let x = mpi::minimal(x);
        check_size("DSA x", x, MAX_Q_BITS)?;
        if x.len() > public.q_len {
            return Err(CryptoError::InvalidDsaKey("x must be in [1, q-1]"));
        }
        let x = Zeroizing::new(num::from_be(x, public.q.bits_precision()));
        if !(x.is_nonzero() & x.ct_lt(&public.q)).to_bool() {
            return Err(CryptoError::InvalidDsaKey("x must be in [1, q-1]"));
        }
        let fast = public.fast().map(Box::new);
        let gx = Zeroizing::new(match &fast {
            Some(fast) => {
                let gx = Zeroizing::new(fast.monty.pow_ct(&fast.g, x.as_words(), public.q_bits));
                (*fast.boxed(&gx)).clone()
            }
            None => public.g_monty.pow_bounded_exp(&x, public.q_bits).retrieve(),
        });
        if *gx != public.y {
            return Err(CryptoError::DsaKeyMismatch);
        }
        let x_monty = Zeroizing::new(BoxedMontyForm::new((*x).clone(), &public.q_params));
        Ok(Self {
            public,
            x,
            x_monty,
            fast,
        })
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> &DsaPublicKey {
        &self.public
    }

    /// `x` as minimal big-endian bytes (persistence), wiped on drop.
    #[must_use]
    pub fn x_bytes(&self) -> Zeroizing<Vec<u8>> {
        num::to_be_minimal_secret(&self.x)
    }

    /// Signs `hash_be`, taken as a big-endian integer reduced mod `q` (no hashing here).
    /// Constant time in `x` and in the nonce `k`.
    #[must_use]
    pub fn sign<R>(&self, hash_be: &[u8], rng: &mut R) -> DsaSignature
    where
        R: CryptoRng + ?Sized,
    {
        let public = &self.public;
        let h = BoxedMontyForm::new(public.reduce_hash(hash_be), &public.q_params);
        loop {
            let k = num::random_below(rng, &public.q, public.q_bits);
            // Constant-time reduction: g^k mod p is secret (only r is published).
            let r = self.g_pow(&k).rem(public.q_nz());
            if !r.is_nonzero().to_bool() {
                continue;
            }
            let k_monty = Zeroizing::new(BoxedMontyForm::new((*k).clone(), &public.q_params));
            // k is in [1, q-1]; it is invertible whenever q is prime (as for every real key).
            let Some(k_inv) = k_monty.invert().into_option() else {
                continue;
            };
            let k_inv = Zeroizing::new(k_inv);
            let r_monty = BoxedMontyForm::new(r.clone(), &public.q_params);
            let xr = Zeroizing::new(self.x_monty.mul(&r_monty));
            let sum = Zeroizing::new(xr.add(&h));
            let s = k_inv.mul(&sum).retrieve();
            if !s.is_nonzero().to_bool() {
                continue;
            }
            return DsaSignature {
                r: num::to_be_padded(&r, public.q_len),
                s: num::to_be_padded(&s, public.q_len),
            };
        }
    }
}

impl DsaPrivateKey {
    /// `g^k mod p` for a secret `k` below `q`, constant time in `k` (declared length: the bit
    /// length of `q`).
    fn g_pow(&self, k: &BoxedUint) -> Zeroizing<BoxedUint> {
        let public = &self.public;
        match &self.fast {
            Some(fast) => {
                // No table of powers of g: at 80 KB per key it would cost more memory than the
                // 40 microseconds per signature it saves are worth (OTR signs once per AKE).
                let gk = Zeroizing::new(fast.monty.pow_ct(&fast.g, k.as_words(), public.q_bits));
                fast.boxed(&gk)
            }
            None => {
                let gk = Zeroizing::new(public.g_monty.pow_bounded_exp(k, public.q_bits));
                Zeroizing::new(gk.retrieve())
            }
        }
    }
}

impl fmt::Debug for DsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DsaPrivateKey")
            .field("public", &self.public)
            .field("x", &"<redacted>")
            .finish()
    }
}

impl ZeroizeOnDrop for DsaPrivateKey {}

/// `g = h^((p-1)/q) mod p` for the smallest `h >= 2` giving `g != 1`.
fn find_generator(p: &BoxedUint, q: &BoxedUint) -> Option<BoxedUint> {
    let p_odd = Odd::new(p.clone()).into_option()?;
    let q_wide = num::from_be(&num::to_be_minimal(q), p.bits_precision());
    let q_nz = NonZero::new(q_wide).into_option()?;
    let one = BoxedUint::one_with_precision(p.bits_precision());
    let exponent = p.wrapping_sub(&one).wrapping_div_vartime(&q_nz);
    let exponent_bits = exponent.bit_width_vartime();
    let params = BoxedMontyParams::new_vartime(p_odd);
    (2u32..1000).find_map(|h| {
        let base = num::from_be(&h.to_be_bytes(), p.bits_precision());
        let g = BoxedMontyForm::new(base, &params)
            .pow_bounded_exp(&exponent, exponent_bits)
            .retrieve();
        (g != one).then_some(g)
    })
}

/// A DSA signature: `r` and `s`, each `q_len` bytes big-endian, zero-padded on the left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsaSignature {
    /// `r = (g^k mod p) mod q`.
    pub r: Vec<u8>,
    /// `s = k^-1 (h + x r) mod q`.
    pub s: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// `alicePrivateKeyHex` from golang.org/x/crypto `otr/otr_test.go` (BSD-3): a serialized
    /// OTR private key, i.e. type 0x0000 then MPI(p), MPI(q), MPI(g), MPI(y), MPI(x).
    /// Referenced by shared/vectors/otr3-known-answers.md, "DSA fingerprints".
    const ALICE_KEY: &str = "000000000080c81c2cb2eb729b7e6fd48e975a932c638b3a9055478583afa46755683e30102447f6da2d8bec9f386bbb5da6403b0040fee8650b6ab2d7f32c55ab017ae9b6aec8c324ab5844784e9a80e194830d548fb7f09a0410df2c4d5c8bc2b3e9ad484e65412be689cf0834694e0839fb2954021521ffdffb8f5c32c14dbf2020b3ce7500000014da4591d58def96de61aea7b04a8405fe1609308d000000808ddd5cb0b9d66956e3dea5a915d9aba9d8a6e7053b74dadb2fc52f9fe4e5bcc487d2305485ed95fed026ad93f06ebb8c9e8baf693b7887132c7ffdd3b0f72f4002ff4ed56583ca7c54458f8c068ca3e8a4dfa309d1dd5d34e2a4b68e6f4338835e5e0fb4317c9e4c7e4806dafda3ef459cd563775a586dd91b1319f72621bf3f00000080b8147e74d8c45e6318c37731b8b33b984a795b3653c2cd1d65cc99efe097cb7eb2fa49569bab5aab6e8a1c261a27d0f7840a5e80b317e6683042b59b6dceca2879c6ffc877a465be690c15e4a42f9a7588e79b10faac11b1ce3741fcef7aba8ce05327a2c16d279ee1b3d77eb783fb10e3356caa25635331e26dd42b8396c4d00000001420bec691fea37ecea58a5c717142f0b804452f57";

    /// The libotr S-expression sample key in the same Go test file (account foo@example.com).
    const LIBOTR_P: &str = "00FC07ABCF0DC916AFF6E9AE47BEF60C7AB9B4D6B2469E436630E36F8A489BE812486A09F30B71224508654940A835301ACC525A4FF133FC152CC53DCC59D65C30A54F1993FE13FE63E5823D4C746DB21B90F9B9C00B49EC7404AB1D929BA7FBA12F2E45C6E0A651689750E8528AB8C031D3561FECEE72EBB4A090D450A9B7A857";
    const LIBOTR_Q: &str = "00997BD266EF7B1F60A5C23F3A741F2AEFD07A2081";
    const LIBOTR_G: &str = "535E360E8A95EBA46A4F7DE50AD6E9B2A6DB785A66B64EB9F20338D2A3E8FB0E94725848F1AA6CC567CB83A1CC517EC806F2E92EAE71457E80B2210A189B91250779434B41FC8A8873F6DB94BEA7D177F5D59E7E114EE10A49CFD9CEF88AE43387023B672927BA74B04EB6BBB5E57597766A2F9CE3857D7ACE3E1E3BC1FC6F26";
    const LIBOTR_Y: &str = "0AC8670AD767D7A8D9D14CC1AC6744CD7D76F993B77FFD9E39DF01E5A6536EF65E775FCEF2A983E2A19BD6415500F6979715D9FD1257E1FE2B6F5E1E74B333079E7C880D39868462A93454B41877BE62E5EF0A041C2EE9C9E76BD1E12AE25D9628DECB097025DD625EF49C3258A1A3C0FF501E3DC673B76D7BABF349009B6ECF";
    const LIBOTR_X: &str = "14D0345A3562C480A039E3C72764F72D79043216";

    /// Splits the serialized Go test key into its five MPIs (test-only reader).
    fn alice_components() -> Vec<Vec<u8>> {
        let bytes = h(ALICE_KEY);
        assert_eq!(&bytes[..2], [0, 0], "key type 0 = DSA");
        let mut rest = &bytes[2..];
        let mut parts = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            parts.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        assert_eq!(parts.len(), 5);
        parts
    }

    fn alice() -> DsaPrivateKey {
        let c = alice_components();
        DsaPrivateKey::from_components(&c[0], &c[1], &c[2], &c[3], &c[4]).unwrap()
    }

    fn libotr_key() -> DsaPrivateKey {
        DsaPrivateKey::from_components(
            &h(LIBOTR_P),
            &h(LIBOTR_Q),
            &h(LIBOTR_G),
            &h(LIBOTR_Y),
            &h(LIBOTR_X),
        )
        .unwrap()
    }

    #[test]
    fn known_answer_fingerprints() {
        // otr3-known-answers.md, "DSA fingerprints".
        assert_eq!(
            alice().public_key().fingerprint().to_vec(),
            h("0bb01c360424522e94ee9c346ce877a1a4288b2f")
        );
        assert_eq!(
            libotr_key().public_key().fingerprint().to_vec(),
            h("1a1b5d1824fa5498a63da1881e4c110ca75665bd")
        );
    }

    #[test]
    fn components_round_trip_minimal() {
        let key = libotr_key();
        let [p, q, g, y] = key.public_key().components();
        // The S-expression values carry a leading 0x00 byte; components are minimal.
        assert_eq!(p, h(LIBOTR_P)[1..]);
        assert_eq!(q, h(LIBOTR_Q)[1..]);
        assert_eq!(g, h(LIBOTR_G));
        assert_eq!(y, h(LIBOTR_Y));
        assert_eq!(*key.x_bytes(), h(LIBOTR_X));
        assert_eq!(key.public_key().q_len(), 20);
        let again = DsaPublicKey::from_components(&p, &q, &g, &y).unwrap();
        assert_eq!(&again, key.public_key());
        assert_ne!(alice().public_key(), key.public_key());
    }

    #[test]
    fn known_answer_signature_verifies() {
        // r, s computed independently in Python (built-in pow) for the libotr sample key with
        // nonce k = 0x0123456789abcdef0123456789abcdef01234567 over the 32-byte hash below,
        // taken as an integer mod q (it is larger than q; truncation would give another h).
        let key = libotr_key();
        let hash = h("360a798bfdfdcf14d56806950f4c0b8074efd5c0b10892cfc68b9168ea14ce1f");
        let sig = DsaSignature {
            r: h("66e9e0ebddc7403afb94aa61c9c202bcd4d3bfe9"),
            s: h("70a1f7b97156edeb4b2c158f2e5fb031e4905aa3"),
        };
        assert!(key.public_key().verify(&hash, &sig));
        // Leading zeros on r and s are tolerated.
        let padded = DsaSignature {
            r: [&[0u8][..], &sig.r].concat(),
            s: sig.s.clone(),
        };
        assert!(key.public_key().verify(&hash, &padded));
        // The hash reduced mod q verifies too (same integer mod q); a truncated one does not.
        let truncated = &hash[..20];
        assert!(!key.public_key().verify(truncated, &sig));
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for key in [alice(), libotr_key()] {
            let public = key.public_key();
            let mut hashes: Vec<Vec<u8>> = vec![
                vec![0xff; 32], // far above q
                vec![0xff; 20], // 160 bits, above q
                vec![0; 32],    // h = 0
                vec![7],
                vec![],
                public.components()[1].clone(), // h = q, i.e. 0 mod q
            ];
            for _ in 0..3 {
                let mut m = vec![0u8; 32];
                rng.fill_bytes(&mut m);
                hashes.push(m);
            }
            for hash in &hashes {
                let sig = key.sign(hash, &mut rng);
                assert_eq!(sig.r.len(), 20);
                assert_eq!(sig.s.len(), 20);
                assert!(public.verify(hash, &sig), "hash {}", hex::encode(hash));
            }
            // h and h + q are the same integer mod q.
            let sig = key.sign(&[0, 0, 7], &mut rng);
            let mut h_plus_q = public.components()[1].clone();
            *h_plus_q.last_mut().unwrap() += 7; // q ends in a byte < 0xf8 for both keys
            assert!(public.verify(&h_plus_q, &sig));
        }
    }

    #[test]
    fn tampered_signatures_fail() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let key = alice();
        let public = key.public_key();
        let hash = [0x5a; 32];
        let sig = key.sign(&hash, &mut rng);
        assert!(public.verify(&hash, &sig));

        let mut other_hash = hash;
        other_hash[31] ^= 1;
        assert!(!public.verify(&other_hash, &sig));

        for i in [0, 10, 19] {
            let mut bad = sig.clone();
            bad.r[i] ^= 0x50;
            assert!(!public.verify(&hash, &bad));
            let mut bad = sig.clone();
            bad.s[i] ^= 0x50;
            assert!(!public.verify(&hash, &bad));
        }
        let swapped = DsaSignature {
            r: sig.s.clone(),
            s: sig.r.clone(),
        };
        assert!(!public.verify(&hash, &swapped));
        assert!(!libotr_key().public_key().verify(&hash, &sig));

        // Out-of-range halves: 0, q, q + small, too long, empty.
        let q = public.components()[1].clone();
        let zero = vec![0u8; 20];
        let too_long = [&[1u8][..], &sig.r].concat();
        for bad_half in [zero, q.clone(), vec![0xff; 20], too_long, vec![]] {
            let bad_r = DsaSignature {
                r: bad_half.clone(),
                s: sig.s.clone(),
            };
            let bad_s = DsaSignature {
                r: sig.r.clone(),
                s: bad_half,
            };
            assert!(!public.verify(&hash, &bad_r));
            assert!(!public.verify(&hash, &bad_s));
        }
    }

    #[test]
    fn signatures_are_randomized() {
        let key = libotr_key();
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        let a = key.sign(&[1; 32], &mut rng);
        let b = key.sign(&[1; 32], &mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn pow2_vartime_matches_separate_pows() {
        let key = alice();
        let public = key.public_key();
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        for _ in 0..4 {
            let e1 = num::random_below(&mut rng, &public.q, public.q_bits);
            let e2 = num::random_below(&mut rng, &public.q, public.q_bits);
            let expected = public
                .g_monty
                .pow(&e1)
                .mul(&public.y_monty.pow(&e2))
                .retrieve();
            let got = pow2_vartime(&public.g_monty, &e1, &public.y_monty, &e2).retrieve();
            assert_eq!(got, expected);
        }
        let zero = BoxedUint::zero();
        let one = BoxedUint::one();
        assert_eq!(
            pow2_vartime(&public.g_monty, &zero, &public.y_monty, &zero).retrieve(),
            BoxedUint::one_with_precision(1024)
        );
        assert_eq!(
            pow2_vartime(&public.g_monty, &one, &public.y_monty, &zero).retrieve(),
            public.g
        );
    }

    #[test]
    fn public_key_sanity_checks() {
        let c = alice_components();
        let (p, q, g, y) = (&c[0], &c[1], &c[2], &c[3]);
        let ok = |p: &[u8], q: &[u8], g: &[u8], y: &[u8]| DsaPublicKey::from_components(p, q, g, y);
        assert!(ok(p, q, g, y).is_ok());
        assert!(ok(&[&[0u8, 0][..], p].concat(), q, g, y).is_ok());

        let invalid = |r: Result<DsaPublicKey, CryptoError>| {
            assert!(matches!(r, Err(CryptoError::InvalidDsaKey(_))), "{r:?}");
        };
        invalid(ok(&[], q, g, y));
        invalid(ok(p, &[], g, y));
        invalid(ok(p, q, &[], y));
        invalid(ok(p, q, g, &[]));
        invalid(ok(p, q, &[1], y));
        invalid(ok(p, q, g, &[1]));
        invalid(ok(p, q, p, y)); // g = p
        invalid(ok(p, q, g, p)); // y = p
        invalid(ok(p, q, &[0xff; 128], y)); // g > p, same length
        invalid(ok(p, q, &[1; 129], y)); // g longer than p
        let mut even_p = p.clone();
        *even_p.last_mut().unwrap() &= 0xfe;
        invalid(ok(&even_p, q, g, y));
        let mut even_q = q.clone();
        *even_q.last_mut().unwrap() &= 0xfe;
        invalid(ok(p, &even_q, g, y));
        invalid(ok(q, q, &[2], &[2])); // q not below p
        invalid(ok(p, &[1], g, y));

        assert!(matches!(
            ok(&[0xff; 385], q, g, y),
            Err(CryptoError::TooLarge {
                what: "DSA p",
                max_bits: 3072,
                got_bits: 3080
            })
        ));
        assert!(matches!(
            ok(p, &[0xff; 33], g, y),
            Err(CryptoError::TooLarge {
                what: "DSA q",
                max_bits: 256,
                ..
            })
        ));
        // Largest sizes are accepted (3072-bit p, 256-bit q; values need not be prime).
        let mut big_p = vec![0xff; 384];
        *big_p.last_mut().unwrap() = 0xfd;
        assert!(ok(&big_p, &[0xff; 32], &[2], &[3]).is_ok());
    }

    #[test]
    fn private_key_checks() {
        let c = alice_components();
        let (p, q, g, y, x) = (&c[0], &c[1], &c[2], &c[3], &c[4]);
        let mut other_x = x.clone();
        *other_x.last_mut().unwrap() ^= 1;
        assert_eq!(
            DsaPrivateKey::from_components(p, q, g, y, &other_x).unwrap_err(),
            CryptoError::DsaKeyMismatch
        );
        for bad_x in [vec![], vec![0; 20], q.clone(), vec![0xff; 20], vec![1; 21]] {
            assert!(matches!(
                DsaPrivateKey::from_components(p, q, g, y, &bad_x),
                Err(CryptoError::InvalidDsaKey(_))
            ));
        }
        assert!(matches!(
            DsaPrivateKey::from_components(p, q, g, y, &[1; 33]),
            Err(CryptoError::TooLarge { what: "DSA x", .. })
        ));
        // Leading zeros on x are fine.
        let padded = [&[0u8, 0][..], x].concat();
        assert!(DsaPrivateKey::from_components(p, q, g, y, &padded).is_ok());
    }

    #[test]
    fn debug_redacts_x() {
        let key = alice();
        let printed = format!("{key:?}");
        assert!(printed.contains("redacted"));
        assert!(printed.contains("0bb01c360424522e94ee9c346ce877a1a4288b2f"));
        assert!(!printed.contains(&hex::encode(&*key.x_bytes())[..12]));
    }

    #[test]
    fn generated_key_is_well_formed() {
        // The one key generation in the test suite.
        let mut rng = ChaCha20Rng::seed_from_u64(2024);
        let key = DsaPrivateKey::generate(&mut rng);
        let public = key.public_key();
        let [p, q, g, y] = public.components();
        assert_eq!(num::bit_len_of_bytes(&p), 1024);
        assert_eq!(num::bit_len_of_bytes(&q), 160);
        assert_eq!(public.q_len(), 20);

        let p_int = num::from_be(&p, 1024);
        let q_int = num::from_be(&q, 1024);
        let mut check_rng = ChaCha20Rng::seed_from_u64(1);
        assert!(prime::is_probable_prime(&p_int, 8, &mut check_rng));
        assert!(prime::is_probable_prime(&q_int, 8, &mut check_rng));
        let one = BoxedUint::one_with_precision(1024);
        let p_minus_1 = p_int.wrapping_sub(&one);
        let q_nz = NonZero::new(q_int).unwrap();
        assert_eq!(
            p_minus_1.rem_vartime(&q_nz),
            BoxedUint::zero_with_precision(1024)
        );
        // g has order q: g != 1 and g^q == 1.
        assert_ne!(num::from_be(&g, 1024), one);
        let g_to_q = public.g_monty.pow(&num::from_be(&q, 192)).retrieve();
        assert_eq!(g_to_q, one);

        let restored = DsaPrivateKey::from_components(&p, &q, &g, &y, &key.x_bytes()).unwrap();
        assert_eq!(restored.public_key(), public);
        let sig = key.sign(&[0xab; 32], &mut rng);
        assert!(restored.public_key().verify(&[0xab; 32], &sig));
    }
}
