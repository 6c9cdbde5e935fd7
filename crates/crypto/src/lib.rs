//! Cryptographic primitives for Offrecord's OTR (Off-the-Record Messaging) implementation.
//!
//! Everything OTR version 3 needs below the protocol layer, and nothing else:
//!
//! - [`mpi`]: the MPI length-prefixed integer encoding (Protocol-v3, "Data types").
//! - [`hash`]: SHA-1, SHA-256, HMAC-SHA1, HMAC-SHA256 and HMAC-SHA256-160 (AKE and data phase).
//! - [`aes`]: AES-128 in counter mode ("Data Message").
//! - [`ct`]: constant-time comparison of MACs.
//! - [`dh`]: Diffie-Hellman in the 1536-bit MODP group of RFC 3526, `g = 2` ("Encoded
//!   messages").
//! - [`dsa`]: DSA keys, fingerprints, and signatures over a hash taken as an integer mod `q`
//!   ("Public keys, signatures, and fingerprints").
//!
//! All integers that cross this API are big-endian byte strings. "Minimal" means without leading
//! zero bytes (zero is the empty string). Arithmetic with secret exponents (DH private keys, the
//! DSA private key and the per-signature nonce) is constant time: a fixed-size Montgomery
//! arithmetic specialised to the 1536-bit group (24 limbs) and to DSA-1024 (16 limbs), with
//! fixed windows over the exponent's declared length, table lookups that read every entry, and
//! precomputed tables of powers of the generators (`tests/constant_time.rs` checks under
//! valgrind that the executed instructions do not depend on the secrets). Other sizes and
//! inversions use `crypto-bigint`. Secrets are wiped on drop and their `Debug` output is
//! redacted.
//!
//! Randomness is always passed in (`R: rand_core::CryptoRng + ?Sized`); this crate never reaches
//! for a global RNG.
//!
//! # Example
//!
//! Two parties agree on a shared secret and derive an OTR data-phase key from it:
//!
//! ```
//! use offrecord_crypto::{dh::DhKeyPair, hash, mpi};
//! use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(7);
//! let alice = DhKeyPair::generate(&mut rng);
//! let bob = DhKeyPair::generate(&mut rng);
//!
//! let s_alice = alice.secret().diffie_hellman(bob.public());
//! let s_bob = bob.secret().diffie_hellman(alice.public());
//! assert_eq!(*s_alice.to_bytes(), *s_bob.to_bytes());
//!
//! // Sending AES key of the "high" end: first 16 bytes of SHA-1(0x01 || MPI(s)).
//! let mut mpi_s = Vec::new();
//! mpi::encode(&s_alice.to_bytes(), &mut mpi_s);
//! let aes_key: [u8; 16] = hash::sha1(&[&[0x01], &mpi_s])[..16].try_into().unwrap();
//!
//! let mut message = *b"hello";
//! offrecord_crypto::aes::ctr128_apply(&aes_key, &[0, 0, 0, 0, 0, 0, 0, 1], &mut message);
//! assert_ne!(&message, b"hello");
//! ```

mod error;
mod modp;
mod mont;
mod num;
mod prime;

pub mod aes;
pub mod ct;
pub mod dh;
pub mod dsa;
pub mod group;
pub mod hash;
pub mod mpi;

pub use error::CryptoError;
