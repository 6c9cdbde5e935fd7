//! Diffie-Hellman in the 1536-bit MODP group of RFC 3526 (group 5), generator `g = 2`.
//!
//! Protocol-v3, "Encoded messages": all OTR v3 Diffie-Hellman computations use this group. The
//! prime `p` is a safe prime (`q = (p-1)/2` is prime) and `2` generates the subgroup of order
//! `q`, so for a private exponent `x` in `[1, q-1]` the public value `g^x mod p` lies in
//! `[2, p-2]`.
//!
//! ```text
//!   DhSecret x (320 random bits) ──public_key()──▶ DhPublicKey g^x   (checked in [2, p-2])
//!        │                                              │
//!        └───────diffie_hellman(their g^y)──────────────┴──▶ SharedSecret s = g^xy
//! ```
//!
//! Exponentiation with a secret exponent is constant time: a fixed-window Montgomery
//! exponentiation specialised to the 24-limb modulus (`crate::mont`), and for `g^x` a
//! precomputed table of powers of `g` (no squarings at all). The only thing their timing
//! reveals is the exponent's *bound* — 320 bits for every exponent that fits in 40 bytes (all
//! that OTR generates), otherwise 1536 bits — never the exponent's value.

use core::cmp::Ordering;
use core::fmt;
use std::sync::OnceLock;

use crypto_bigint::BoxedUint;
use crypto_bigint::ctutils::CtLt;
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, modp, mpi, num};

/// Length of the modulus `p` in bytes (1536 bits).
pub const MODULUS_BYTES: usize = 192;

/// Bits of precision of group elements.
const MODULUS_BITS: u32 = 1536;

/// Bits (and bytes) of a freshly generated private exponent, as libotr draws them.
const SECRET_BITS: u32 = 320;
const SECRET_BYTES: usize = 40;

/// The RFC 3526 1536-bit MODP prime, big-endian, as printed in Protocol-v3.
const MODULUS: [u8; MODULUS_BYTES] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68, 0xc2, 0x34,
    0xc4, 0xc6, 0x62, 0x8b, 0x80, 0xdc, 0x1c, 0xd1, 0x29, 0x02, 0x4e, 0x08, 0x8a, 0x67, 0xcc, 0x74,
    0x02, 0x0b, 0xbe, 0xa6, 0x3b, 0x13, 0x9b, 0x22, 0x51, 0x4a, 0x08, 0x79, 0x8e, 0x34, 0x04, 0xdd,
    0xef, 0x95, 0x19, 0xb3, 0xcd, 0x3a, 0x43, 0x1b, 0x30, 0x2b, 0x0a, 0x6d, 0xf2, 0x5f, 0x14, 0x37,
    0x4f, 0xe1, 0x35, 0x6d, 0x6d, 0x51, 0xc2, 0x45, 0xe4, 0x85, 0xb5, 0x76, 0x62, 0x5e, 0x7e, 0xc6,
    0xf4, 0x4c, 0x42, 0xe9, 0xa6, 0x37, 0xed, 0x6b, 0x0b, 0xff, 0x5c, 0xb6, 0xf4, 0x06, 0xb7, 0xed,
    0xee, 0x38, 0x6b, 0xfb, 0x5a, 0x89, 0x9f, 0xa5, 0xae, 0x9f, 0x24, 0x11, 0x7c, 0x4b, 0x1f, 0xe6,
    0x49, 0x28, 0x66, 0x51, 0xec, 0xe4, 0x5b, 0x3d, 0xc2, 0x00, 0x7c, 0xb8, 0xa1, 0x63, 0xbf, 0x05,
    0x98, 0xda, 0x48, 0x36, 0x1c, 0x55, 0xd3, 0x9a, 0x69, 0x16, 0x3f, 0xa8, 0xfd, 0x24, 0xcf, 0x5f,
    0x83, 0x65, 0x5d, 0x23, 0xdc, 0xa3, 0xad, 0x96, 0x1c, 0x62, 0xf3, 0x56, 0x20, 0x85, 0x52, 0xbb,
    0x9e, 0xd5, 0x29, 0x07, 0x70, 0x96, 0x96, 0x6d, 0x67, 0x0c, 0x35, 0x4e, 0x4a, 0xbc, 0x98, 0x04,
    0xf1, 0x74, 0x6c, 0x08, 0xca, 0x23, 0x73, 0x27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// The group modulus `p`, big-endian, 192 bytes.
#[must_use]
pub fn modulus() -> &'static [u8] {
    &MODULUS
}

/// Precomputed group constants, built once per process (the Montgomery arithmetic lives in
/// `crate::modp`).
struct Group {
    /// `p - 2`, the largest valid public value.
    p_minus_2: BoxedUint,
    /// `q = (p - 1) / 2`, the order of `g`.
    q: BoxedUint,
}

fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        let p = num::from_be(&MODULUS, MODULUS_BITS);
        let p_minus_2 = p.wrapping_sub(BoxedUint::from(2u8));
        let q = p.wrapping_shr_vartime(1);
        Group { p_minus_2, q }
    })
}

/// A Diffie-Hellman private exponent `x` (OTR: 320 random bits), in `[1, q-1]`.
///
/// Wiped on drop; `Debug` shows nothing of it. Not `Clone`: keep one copy of a secret.
pub struct DhSecret {
    /// The exponent. Its precision is the public bound used for exponentiation: 320 bits when
    /// the value fits in 40 bytes, 1536 bits otherwise.
    x: Zeroizing<BoxedUint>,
}

impl DhSecret {
    /// Draws a fresh exponent of 320 random bits (40 bytes, as libotr does).
    #[must_use]
    pub fn generate<R>(rng: &mut R) -> Self
    where
        R: CryptoRng + ?Sized,
    {
        let mut buf = Zeroizing::new([0u8; SECRET_BYTES]);
        loop {
            rng.fill_bytes(buf.as_mut_slice());
            let x = Zeroizing::new(num::from_be(buf.as_slice(), SECRET_BITS));
            // Zero has probability 2^-320; reject it anyway so the range invariant always holds.
            // Every nonzero 320-bit value is below q.
            if x.is_nonzero().to_bool() {
                return Self { x };
            }
        }
    }

    /// Restores an exponent from big-endian bytes (persistence). Leading zeros are ignored; the
    /// value must be in `[1, q-1]`, so at most 192 bytes.
    pub fn from_bytes(be: &[u8]) -> Result<Self, CryptoError> {
        let value = mpi::minimal(be);
        if value.len() > MODULUS_BYTES {
            return Err(CryptoError::TooLarge {
                what: "DH private exponent",
                max_bits: MODULUS_BITS as usize,
                got_bits: num::bit_len_of_bytes(value),
            });
        }
        let precision = if value.len() <= SECRET_BYTES {
            SECRET_BITS
        } else {
            MODULUS_BITS
        };
        let x = Zeroizing::new(num::from_be(value, precision));
        let in_range = x.is_nonzero() & x.ct_lt(&group().q);
        if in_range.to_bool() {
            Ok(Self { x })
        } else {
            Err(CryptoError::DhSecretOutOfRange)
        }
    }

    /// The exponent as minimal big-endian bytes, in a buffer wiped on drop.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        num::to_be_minimal_secret(&self.x)
    }

    /// `g^x mod p`, constant time in `x`.
    #[must_use]
    pub fn public_key(&self) -> DhPublicKey {
        let m = modp::modp();
        let gx = Zeroizing::new(modp::g_pow_ct(self.x.as_words(), self.x.bits_precision()));
        // In range because x is in [1, q-1] and g has order q.
        DhPublicKey {
            y: modp::boxed(&m.monty.retrieve(&gx)),
        }
    }

    /// The shared secret `s = their^x mod p`, constant time in `x`.
    #[must_use]
    pub fn diffie_hellman(&self, their: &DhPublicKey) -> SharedSecret {
        let m = modp::modp();
        let base = m.monty.enter(&modp::limbs(&their.y));
        let s = Zeroizing::new(
            m.monty
                .pow_ct(&base, self.x.as_words(), self.x.bits_precision()),
        );
        let s = Zeroizing::new(m.monty.retrieve(&s));
        let s = Zeroizing::new(modp::boxed(&s));
        SharedSecret {
            bytes: num::to_be_minimal_secret(&s),
        }
    }
}

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSecret(<redacted>)")
    }
}

impl ZeroizeOnDrop for DhSecret {}

/// A Diffie-Hellman key pair: the secret exponent and its public value, computed once.
pub struct DhKeyPair {
    secret: DhSecret,
    public: DhPublicKey,
}

impl DhKeyPair {
    /// Generates a fresh key pair (320-bit exponent).
    #[must_use]
    pub fn generate<R>(rng: &mut R) -> Self
    where
        R: CryptoRng + ?Sized,
    {
        Self::from_secret(DhSecret::generate(rng))
    }

    /// Computes the public value for `secret`.
    #[must_use]
    pub fn from_secret(secret: DhSecret) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// Rebuilds a key pair from persisted parts without recomputing `g^x` (one modular
    /// exponentiation saved per key on every restore). The caller vouches that `public` is
    /// `g^secret`, i.e. both come from state it wrote itself; a mismatch cannot leak the secret,
    /// it only makes the peer's MAC checks fail.
    #[must_use]
    pub fn from_persisted(secret: DhSecret, public: DhPublicKey) -> Self {
        Self { secret, public }
    }

    /// A second copy of this key pair, for the rare protocol step that needs one (OTR: a D-H
    /// Commit answered by several instances of the peer). The copy is wiped on drop too.
    #[must_use]
    pub fn duplicate(&self) -> Self {
        Self {
            secret: DhSecret {
                x: Zeroizing::new((*self.secret.x).clone()),
            },
            public: self.public.clone(),
        }
    }

    /// The secret exponent.
    #[must_use]
    pub fn secret(&self) -> &DhSecret {
        &self.secret
    }

    /// The public value `g^x mod p`.
    #[must_use]
    pub fn public(&self) -> &DhPublicKey {
        &self.public
    }
}

impl fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair")
            .field("secret", &self.secret)
            .field("public", &self.public)
            .finish()
    }
}

/// A group element checked to be in `[2, p-2]` (a peer's or our own `g^x`).
///
/// Ordered numerically, which is what OTR's "high/low end" key derivation compares.
#[derive(Clone, PartialEq, Eq)]
pub struct DhPublicKey {
    /// The value, with 1536 bits of precision.
    y: BoxedUint,
}

impl DhPublicKey {
    /// Parses a big-endian value (leading zeros ignored), rejecting values below 2, above `p-2`,
    /// or longer than 192 bytes.
    pub fn from_bytes(be: &[u8]) -> Result<Self, CryptoError> {
        let value = mpi::minimal(be);
        if value.len() > MODULUS_BYTES {
            return Err(CryptoError::TooLarge {
                what: "DH public key",
                max_bits: MODULUS_BITS as usize,
                got_bits: num::bit_len_of_bytes(value),
            });
        }
        let y = num::from_be(value, MODULUS_BITS);
        let two = BoxedUint::from(2u8);
        if y.cmp_vartime(&two) == Ordering::Less
            || y.cmp_vartime(&group().p_minus_2) == Ordering::Greater
        {
            return Err(CryptoError::DhPublicKeyOutOfRange);
        }
        Ok(Self { y })
    }

    /// The value as minimal big-endian bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        num::to_be_minimal(&self.y)
    }
}

impl Ord for DhPublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.y.cmp_vartime(&other.y)
    }
}

impl PartialOrd for DhPublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for DhPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhPublicKey(0x")?;
        for byte in self.to_bytes() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// The Diffie-Hellman shared secret `s = g^xy mod p`, kept as minimal big-endian bytes.
///
/// Wiped on drop; `Debug` shows nothing of it.
pub struct SharedSecret {
    bytes: Zeroizing<Vec<u8>>,
}

impl SharedSecret {
    /// The secret as minimal big-endian bytes (ready for `mpi::encode`), wiped on drop.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.bytes.clone()
    }

    /// Wraps a known value (tests, persistence). Leading zeros are stripped; no range check.
    #[must_use]
    pub fn from_bytes(be: &[u8]) -> Self {
        Self {
            bytes: Zeroizing::new(mpi::minimal(be).to_vec()),
        }
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

impl Zeroize for SharedSecret {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for SharedSecret {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash;
    use crypto_bigint::{NonZero, Resize};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    // Inputs and expected values: shared/vectors/otr3-known-answers.md (first section).
    const X: &str =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const Y: &str =
        "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const GX: &str = "84248d8bdc5f9a609598a467cb9c447e4587e5b70e256c7a5df7d023ae4995c1ffeb1b06448ac80215b44777eae50f4b0214b5d75d750d1459532f8ad95623872a24767863ffa071260e7e187a89e641124fa97022b1621dc44216f2c253c25e3526a02261b638115b5637cea24cf7cfa5ec49323932d59151572310c90c663e8371d2f66476a04f6387a2441808fcf45fa540ea9c9257cb7c4113187b8f985f5c6a1ac0e82d961ec0428c5ab41cb3327d11e381a90108df3e78649f1f874f92";
    const GY: &str = "86a20e753ef0bb7e42e87dcd739737e1d7cf80807bac42d7b0e7caa8d42113ffc716b0b1b5fe47238880422318180802de88656a426ce92d6c605208ae5398ead808abc4ca24e3d0aae2cdf072af8768f00a743d3e9d3d9c2f244ac70c1c1b2bf33b754fd4e11fe78ad53f54221118269501a965c394e4158db08fc833fb6667b28193680421d51993b63b92cee179609d435df39747692bfb0bdbacc8e741f6ba40316ec281bed015a2e48c4cda7e54734e8a0a2a6e545cfadceb368ea6b493";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn secret(s: &str) -> DhSecret {
        DhSecret::from_bytes(&h(s)).unwrap()
    }

    /// `MPI(s)` for the known-answer shared secret `s = (g^y)^x`.
    fn mpi_s() -> Vec<u8> {
        let gy = DhPublicKey::from_bytes(&h(GY)).unwrap();
        let s = secret(X).diffie_hellman(&gy);
        let mut out = Vec::new();
        mpi::encode(&s.to_bytes(), &mut out);
        out
    }

    /// Test-only reference: left-to-right square-and-multiply with plain `mul_mod` (no
    /// Montgomery arithmetic), over the exponent's big-endian bytes.
    fn naive_pow(base: &BoxedUint, exponent_be: &[u8]) -> BoxedUint {
        let p = NonZero::new(num::from_be(&MODULUS, MODULUS_BITS)).unwrap();
        let base = base.resize_unchecked(MODULUS_BITS);
        let mut acc = BoxedUint::one_with_precision(MODULUS_BITS);
        for byte in exponent_be {
            for bit in (0..8).rev() {
                acc = acc.mul_mod(&acc, &p);
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul_mod(&base, &p);
                }
            }
        }
        acc
    }

    #[test]
    fn modulus_is_the_spec_prime() {
        assert_eq!(modulus().len(), MODULUS_BYTES);
        assert_eq!(&modulus()[..12], &h("ffffffffffffffffc90fdaa2")[..]);
        assert_eq!(&modulus()[180..], &h("ca237327ffffffffffffffff")[..]);
        assert_eq!(
            group()
                .q
                .wrapping_shl_vartime(1)
                .wrapping_add(crypto_bigint::Limb::ONE),
            num::from_be(&MODULUS, MODULUS_BITS)
        );
    }

    #[test]
    fn known_answer_public_keys() {
        // otr3-known-answers.md: our public g^x and their public g^y.
        assert_eq!(secret(X).public_key().to_bytes(), h(GX));
        assert_eq!(secret(Y).public_key().to_bytes(), h(GY));
    }

    #[test]
    fn known_answer_data_phase_keys() {
        // otr3-known-answers.md, "Data-phase keys": we are the low end (g^x < g^y), so
        // sendbyte = 0x02, recvbyte = 0x01; AES key = first 16 bytes of SHA-1(byte || MPI(s)),
        // MAC key = SHA-1(AES key).
        let gx = DhPublicKey::from_bytes(&h(GX)).unwrap();
        let gy = DhPublicKey::from_bytes(&h(GY)).unwrap();
        assert!(gx < gy);

        // Both sides compute the same s.
        let s_ours = secret(X).diffie_hellman(&gy);
        let s_theirs = secret(Y).diffie_hellman(&gx);
        assert_eq!(*s_ours.to_bytes(), *s_theirs.to_bytes());

        let mpi_s = mpi_s();
        let send_aes = hash::sha1(&[&[0x02], &mpi_s])[..16].to_vec();
        let recv_aes = hash::sha1(&[&[0x01], &mpi_s])[..16].to_vec();
        assert_eq!(send_aes, h("9f36f8203ff10442a0b797599e0e080a"));
        assert_eq!(
            hash::sha1(&[&send_aes]).to_vec(),
            h("f494a225c891a05f36bd27fc16865053a103022e")
        );
        assert_eq!(recv_aes, h("8f252c75d6366ef98090c83168be521b"));
        assert_eq!(
            hash::sha1(&[&recv_aes]).to_vec(),
            h("1e736f1045624b7d590f580b53f018d02a7c3602")
        );
        // The toolkit's "Session id" = SHA-1(0x00 || MPI(s)).
        assert_eq!(
            hash::sha1(&[&[0x00], &mpi_s]).to_vec(),
            h("42f7f9c789ac9e0ac305c98b75e3ca31085338c2")
        );
    }

    #[test]
    fn known_answer_ake_keys() {
        // otr3-known-answers.md, "AKE-phase keys": h2(b) = SHA-256(b || MPI(s)).
        let mpi_s = mpi_s();
        let h2 = |b: u8| hash::sha256(&[&[b], &mpi_s]);
        assert_eq!(h2(0x00)[..8].to_vec(), h("ddc3cce19c5cfd14"));
        assert_eq!(
            h2(0x01)[..16].to_vec(),
            h("1ae537720cb33c988fb2407335452c8e")
        );
        assert_eq!(
            h2(0x01)[16..].to_vec(),
            h("a99b5887be3ab3eca5336588e2ea82c7")
        );
        let cases = [
            (
                0x02,
                "941437041f53676a556188cc55012fd20309da67d4d232dffee8790259657419",
            ),
            (
                0x03,
                "2c7723766224cd2a8a60dafd1cd2ad4bfc98c7e4c3212a89620c2eff73bc22ea",
            ),
            (
                0x04,
                "257ab31000e693dad6e906504a186a604824084b41648598e7f7d3e2a56d6c35",
            ),
            (
                0x05,
                "6c442c22046e488a35b3f1ec4574072f14926da3eef313acf8c08e53d62cde66",
            ),
            (
                0xff,
                "8f5161440b2484908aa912008d6b474f353365f31dd8fe261d73bafa8e77147e",
            ),
        ];
        for (b, expected) in cases {
            assert_eq!(h2(b).to_vec(), h(expected), "h2({b:#04x})");
        }
    }

    #[test]
    fn modexp_matches_naive_reference() {
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let two = BoxedUint::from(2u8);
        for round in 0..6 {
            // 320-bit exponents (the fast bounded path) and full-size ones (1536-bit path).
            let len = if round % 2 == 0 { 40 } else { 150 + round * 7 };
            let mut x = vec![0u8; len];
            rng.fill_bytes(&mut x);
            x[0] |= 1; // nonzero, and for 40-byte values the top byte is significant
            let dh = DhSecret::from_bytes(&x).unwrap();
            let public = dh.public_key();
            assert_eq!(public.y, naive_pow(&two, &x), "g^x, round {round}");

            let peer = DhKeyPair::generate(&mut rng);
            let s = dh.diffie_hellman(peer.public());
            let expected = naive_pow(&peer.public().y, &x);
            assert_eq!(
                *s.to_bytes(),
                num::to_be_minimal(&expected),
                "their^x, round {round}"
            );
        }
    }

    #[test]
    fn generated_secrets_are_320_bits_and_agree() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = DhKeyPair::generate(&mut rng);
        let b = DhKeyPair::generate(&mut rng);
        assert!(a.secret().to_bytes().len() <= 40);
        assert_eq!(a.secret().x.bits_precision(), 320);
        assert_ne!(a.public(), b.public());
        let s1 = a.secret().diffie_hellman(b.public());
        let s2 = b.secret().diffie_hellman(a.public());
        assert_eq!(*s1.to_bytes(), *s2.to_bytes());
        // Round trip through bytes keeps the key.
        let restored =
            DhKeyPair::from_secret(DhSecret::from_bytes(&a.secret().to_bytes()).unwrap());
        assert_eq!(restored.public(), a.public());
    }

    #[test]
    fn public_key_range_checks() {
        let p = MODULUS.to_vec();
        let p_minus = |d: u8| {
            let mut v = p.clone();
            *v.last_mut().unwrap() -= d;
            v
        };
        let out_of_range = Err(CryptoError::DhPublicKeyOutOfRange);
        assert_eq!(DhPublicKey::from_bytes(&[]), out_of_range);
        assert_eq!(DhPublicKey::from_bytes(&[0]), out_of_range);
        assert_eq!(DhPublicKey::from_bytes(&[0, 1]), out_of_range);
        assert_eq!(DhPublicKey::from_bytes(&p_minus(1)), out_of_range);
        assert_eq!(DhPublicKey::from_bytes(&p), out_of_range);
        assert_eq!(DhPublicKey::from_bytes(&[0xff; 192]), out_of_range);

        assert_eq!(DhPublicKey::from_bytes(&[2]).unwrap().to_bytes(), [2]);
        assert_eq!(DhPublicKey::from_bytes(&[0, 0, 2]).unwrap().to_bytes(), [2]);
        assert_eq!(
            DhPublicKey::from_bytes(&p_minus(2)).unwrap().to_bytes(),
            p_minus(2)
        );

        let mut too_long = vec![1u8];
        too_long.extend_from_slice(&p);
        assert_eq!(
            DhPublicKey::from_bytes(&too_long),
            Err(CryptoError::TooLarge {
                what: "DH public key",
                max_bits: 1536,
                got_bits: 1537,
            })
        );
        // Leading zeros do not count towards the length.
        let mut padded = vec![0u8; 10];
        padded.extend_from_slice(&h(GX));
        assert_eq!(DhPublicKey::from_bytes(&padded).unwrap().to_bytes(), h(GX));
    }

    #[test]
    fn public_keys_order_numerically() {
        let small = DhPublicKey::from_bytes(&[0x02, 0x00]).unwrap();
        let large = DhPublicKey::from_bytes(&[0x01, 0x00, 0x00]).unwrap();
        assert!(small < large);
        assert_eq!(small.cmp(&small.clone()), Ordering::Equal);
    }

    #[test]
    fn secret_range_checks() {
        assert_eq!(
            DhSecret::from_bytes(&[0, 0]).unwrap_err(),
            CryptoError::DhSecretOutOfRange
        );
        let q = num::to_be_minimal(&group().q);
        assert_eq!(
            DhSecret::from_bytes(&q).unwrap_err(),
            CryptoError::DhSecretOutOfRange
        );
        let mut q_minus_1 = q.clone();
        *q_minus_1.last_mut().unwrap() -= 1;
        let big = DhSecret::from_bytes(&q_minus_1).unwrap();
        assert_eq!(*big.to_bytes(), q_minus_1);
        // g^(q-1) = g^-1 = (p+1)/2, since g = 2.
        let half = group().q.wrapping_add(crypto_bigint::Limb::ONE);
        assert_eq!(big.public_key().y, half);
        assert!(matches!(
            DhSecret::from_bytes(&[1; 193]),
            Err(CryptoError::TooLarge { got_bits: 1537, .. })
        ));
        assert_eq!(*DhSecret::from_bytes(&[0, 0, 7]).unwrap().to_bytes(), [7]);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let pair = DhKeyPair::generate(&mut rng);
        let shared = pair.secret().diffie_hellman(pair.public());
        let secret_hex = hex::encode(&*pair.secret().to_bytes());
        let shared_hex = hex::encode(&*shared.to_bytes());
        let printed = format!("{pair:?} {shared:?}");
        assert!(printed.contains("redacted"));
        assert!(!printed.contains(&secret_hex[..16]));
        assert!(!printed.contains(&shared_hex[..16]));
        assert!(printed.contains(&hex::encode(pair.public().to_bytes())));
    }

    #[test]
    fn shared_secret_from_bytes_is_minimal() {
        let s = SharedSecret::from_bytes(&[0, 0, 5, 6]);
        assert_eq!(*s.to_bytes(), [5, 6]);
    }
}
