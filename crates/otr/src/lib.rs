//! Off-the-Record Messaging (OTR), versions 3 and 2, sans-IO, tolerant of email delivery.
//!
//! This crate implements the OTR protocol as specified in "Off-the-Record Messaging Protocol
//! version 3" (and version 2 for peers that only speak it), interoperable with libotr 4.1.1. It
//! does no I/O: text, the current time and a random number generator go in; wire messages to
//! transmit, text to show and events come out, in an [`Output`].
//!
//! # Call order
//!
//! 1. Create an [`Endpoint`] per local account with its long-term DSA key and its persistent
//!    instance tag ([`InstanceTag::generate`] once per installation).
//! 2. For every message that arrives from a peer, call [`Endpoint::receive`]; for every
//!    message the user sends, [`Endpoint::send`]. Start a conversation with
//!    [`Endpoint::query`] (or [`Endpoint::start_ake`]), end it with [`Endpoint::disconnect`].
//! 3. Transmit every [`Transmit`] of each returned [`Output`], in order; show its
//!    [`Received`] texts; react to its [`Event`]s.
//! 4. Call [`Endpoint::poll`] now and then (for example once a minute) so timers run.
//! 5. Persist with [`Endpoint::save`] after every call that changed state, *before*
//!    transmitting what it produced, and restore with [`Endpoint::restore`].
//! 6. To verify the peer, ask a question whose answer only the peer knows (or agree on a
//!    secret) with [`Endpoint::smp_start`]; the peer's application shows [`Event::Smp`] with
//!    [`SmpEventKind::AskForAnswer`] and answers with [`Endpoint::smp_respond`]. Both learn
//!    the outcome ([`SmpEventKind::Success`] or [`SmpEventKind::Failure`]) and the asker
//!    records it as the trust of the peer's fingerprint ([`Endpoint::trust`]).
//!
//! # Example
//!
//! ```
//! use otr::{Config, Endpoint, Event, InstanceTag, ReceivedKind, SmpEventKind};
//! use offrecord_crypto::dsa::DsaPrivateKey;
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(7);
//! let mut alice = Endpoint::new(
//!     DsaPrivateKey::generate(&mut rng),
//!     InstanceTag::generate(&mut rng),
//!     Config::default(),
//! );
//! let mut bob = Endpoint::new(
//!     DsaPrivateKey::generate(&mut rng),
//!     InstanceTag::generate(&mut rng),
//!     Config::default(),
//! );
//! let now = 1_700_000_000;
//!
//! // Alice asks for a private conversation; the AKE runs as the messages go back and forth.
//! let mut to_bob: Vec<String> = alice.query("bob").transmit.into_iter().map(|t| t.message).collect();
//! let mut to_alice: Vec<String> = Vec::new();
//! while !to_bob.is_empty() || !to_alice.is_empty() {
//!     for m in to_bob.drain(..) {
//!         to_alice.extend(bob.receive("alice", &m, now, &mut rng).transmit.into_iter().map(|t| t.message));
//!     }
//!     for m in to_alice.drain(..) {
//!         to_bob.extend(alice.receive("bob", &m, now, &mut rng).transmit.into_iter().map(|t| t.message));
//!     }
//! }
//! assert_eq!(alice.status("bob", None).unwrap().message_state, otr::MessageState::Encrypted);
//!
//! // Now messages are encrypted.
//! let out = alice.send("bob", "Hello, Bob", now, &mut rng).unwrap();
//! assert!(out.transmit[0].message.starts_with("?OTR:"));
//! let got = bob.receive("alice", &out.transmit[0].message, now, &mut rng);
//! assert_eq!(got.received[0].text, "Hello, Bob");
//! assert_eq!(got.received[0].kind, ReceivedKind::Encrypted);
//!
//! // Alice verifies Bob with the Socialist Millionaires' Protocol.
//! let ask = alice.smp_start("bob", None, b"Rex", Some("Our dog's name?"), now, &mut rng).unwrap();
//! let asked = bob.receive("alice", &ask.transmit[0].message, now, &mut rng);
//! assert!(asked.events.iter().any(|e| matches!(e, Event::Smp { event: SmpEventKind::AskForAnswer, .. })));
//! // Bob answers; the last two messages of the run go back and forth.
//! let mut to_alice = bob.smp_respond("alice", None, b"Rex", now, &mut rng).unwrap().transmit;
//! while let Some(m) = to_alice.pop() {
//!     for t in alice.receive("bob", &m.message, now, &mut rng).transmit {
//!         to_alice.extend(bob.receive("alice", &t.message, now, &mut rng).transmit);
//!     }
//! }
//! let bob_fp = alice.status("bob", None).unwrap().their_fingerprint.unwrap();
//! assert_eq!(alice.trust("bob", &bob_fp), Some("smp"));
//! ```
//!
//! # Email-tolerant receiving
//!
//! OTR assumes in-order delivery; email delivers late, out of order and twice. Without
//! changing the wire format, this crate accepts:
//!
//! - a data message that arrives after a later one of the same key pair (each counter is
//!   accepted once, in any order, instead of "strictly larger than the last");
//! - a data message under a key pair that was already rotated out, for as long as the pair is
//!   in the retention window ([`RetentionLimits`]: by default 32 pairs and 7 days);
//!
//! and always rejects a replayed or duplicated message (reported as
//! [`MessageEvent::ReceivedDuplicate`]).
//!
//! **Forward-secrecy cost.** The window keeps, for each retired key pair, its *receiving* AES
//! and MAC keys (never Diffie-Hellman secrets, never sending keys). Someone who seizes the
//! device while a pair is retained can decrypt messages sent to us under that pair that they
//! captured, for up to the window's age; messages we sent, and pairs older than the window, stay
//! protected. MAC keys are revealed when their pair leaves the window (not when the DH key is
//! forgotten), so a revealed MAC key is never accepted. Set
//! [`RetentionLimits::max_old_key_pairs`] to 0 for libotr's behaviour.
//!
//! # Modules
//!
//! The modules follow the spec's table of contents: [`wire`] (message formats), [`fragment`],
//! [`tlv`], [`policy`], [`instance`], [`smp`] (the Socialist Millionaires' Protocol), the AKE
//! and data exchange inside the [`Endpoint`], and [`keyfile`] (libotr's files).

pub mod ake;
mod data;
mod endpoint;
mod event;
pub mod fragment;
pub mod instance;
pub mod keyfile;
mod pickle;
pub mod policy;
mod replay;
mod session;
pub mod smp;
pub mod tlv;
pub mod wire;

pub use data::{DataError, RetentionLimits};
pub use endpoint::{Config, Endpoint, MAX_SMP_TLVS_PER_MESSAGE, SendError, SmpRequestError};
pub use event::{
    Event, MessageEvent, Output, Received, ReceivedKind, ReceivedTlv, SmpEventKind, Transmit,
};
pub use instance::InstanceTag;
pub use pickle::PickleError;
pub use policy::Policy;
pub use session::{MessageState, SessionStatus, SmpStatus, Ssid};
pub use wire::ProtocolVersion;
