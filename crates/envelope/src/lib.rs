//! The mail that carries Offrecord chats: Autocrypt keys and PGP/MIME mail, built and parsed
//! the way Delta Chat does (design sections 2, 3 and 7).
//!
//! This crate is pure: no network, no files, no clock, no global RNG. Dates and a random
//! number generator are passed in; raw RFC 5322 bytes go in and out.
//!
//! - [`Identity`]: our account's OpenPGP key (Ed25519 + Cv25519, user id `<addr>`).
//! - [`PeerKey`], [`AutocryptHeader`]: a contact's public key and how it travels.
//! - [`build_encrypted`]: PGP/MIME (RFC 3156), encrypted to the recipients and to ourselves,
//!   [`Signing::Signed`] (the ordinary chat, invitations) or [`Signing::Unsigned`] (OTR data
//!   messages, for deniability); the real headers are protected inside (RFC 9788), outside
//!   only `From`, `To: "hidden-recipients": ;`, a jittered `Date`, `Message-ID`,
//!   `Subject: [...]`.
//! - [`build_plain`]: unencrypted mail (tests, and showing what "unencrypted" is).
//! - [`vcard`], [`parse_vcards`]: contact cards as vCards with the key, as Delta Chat
//!   shares contacts.
//! - [`parse`]: decrypts (SEIPD v1 and v2), verifies signatures, returns the protected
//!   headers, text and parts as an [`Incoming`].
//!
//! # Example
//!
//! ```
//! use envelope::{
//!     Body, Identity, InnerPart, MailHeaders, PeerKey, Signing, build_encrypted, parse,
//! };
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(7);
//! let now = 1_700_000_000;
//! let alice = Identity::generate("alice@example.org", now, &mut rng)?;
//! let bob = Identity::generate("bob@example.net", now, &mut rng)?;
//!
//! // Alice sends Bob a signed, encrypted invitation with an extra protected header.
//! let mail = build_encrypted(
//!     &alice,
//!     &[bob.public_key()],
//!     &MailHeaders {
//!         from: "alice@example.org".into(),
//!         to: vec!["bob@example.net".into()],
//!         message_id: "Mr.1234@example.org".into(),
//!         date: now,
//!     },
//!     &InnerPart {
//!         subject: "Off-the-record chat".into(),
//!         headers: vec![("Chat-Otr-Invitation".into(), "v=3; tag=0x12345678".into())],
//!         body: Body::Text("Alice invites you to an off-the-record chat.".into()),
//!     },
//!     Signing::Signed,
//!     &mut rng,
//! )?;
//! let raw = String::from_utf8(mail.clone()).unwrap();
//! assert!(raw.contains("Subject: [...]\r\n"));
//! assert!(!raw.contains("Chat-Otr-Invitation"));
//!
//! // Bob reads it. He knows Alice's key already (or learns it from the signed Autocrypt
//! // header inside, `Incoming::signed_autocrypt`).
//! let known: Vec<PeerKey> = vec![alice.public_key()];
//! let incoming = parse(&mail, &bob, &known)?;
//! assert!(incoming.encrypted);
//! assert_eq!(&incoming.signature.as_ref().unwrap().fingerprint, alice.fingerprint());
//! assert_eq!(incoming.header("Subject"), Some("Off-the-record chat"));
//! assert_eq!(incoming.header("Chat-Otr-Invitation"), Some("v=3; tag=0x12345678"));
//! assert_eq!(incoming.text.as_deref(), Some("Alice invites you to an off-the-record chat."));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Randomness
//!
//! Every function that needs randomness takes `&mut R` with `R: rand_core::CryptoRng`
//! (`rand_core` 0.10, as the rest of Offrecord, e.g. `rand_chacha::ChaCha20Rng`, or an OS RNG
//! wrapper). rPGP 0.21 itself uses `rand` 0.8's traits; this crate adapts internally, so callers
//! never see them. With a seeded RNG and fixed dates, output is reproducible.

mod autocrypt;
mod build;
mod error;
mod fingerprint;
mod header;
mod key;
mod openpgp;
mod parse;
mod rng;
mod vcard;

pub use autocrypt::{AutocryptHeader, PreferEncrypt};
pub use build::{
    Attachment, Body, InnerPart, MailHeaders, OUTER_DATE_JITTER, Signing, build_encrypted,
    build_plain,
};
pub use error::{BuildError, EnvelopeError, KeyError, OpenPgpError};
pub use fingerprint::Fingerprint;
pub use key::{Identity, PeerKey};
pub use parse::{Incoming, KnownKeys, Part, Verified, parse};
pub use vcard::{MAX_VCARD_SIZE, MAX_VCARDS, VcardContact, VcardError, parse_vcards, vcard};

/// The largest mail this crate builds or parses: 10 MiB. Larger raw mail is rejected before
/// parsing; decrypted or decompressed content is held to the same limit.
pub const MAX_MAIL_SIZE: usize = 10 * 1024 * 1024;

/// How deep `multipart` parts may nest (the outer mail counts as depth 0).
pub const MAX_MIME_DEPTH: usize = 8;

/// How many MIME parts (multipart containers included) one mail or decrypted payload may have.
pub const MAX_MIME_PARTS: usize = 64;

/// The largest key (or Autocrypt `keydata`) accepted: 256 KiB.
pub const MAX_KEY_SIZE: usize = 256 * 1024;

/// The longest whitespace-free run accepted in a header value (it cannot be folded, and
/// RFC 5322 lines end at 998 characters).
pub const MAX_HEADER_WORD: usize = 900;
