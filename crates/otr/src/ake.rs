//! The authenticated key exchange (OTR v3, "Authenticated Key Exchange (AKE)" and "The protocol
//! state machine": authstate).
//!
//! ```text
//!             start()                      DH-Key / Reveal-Signature
//!   None ------------------> AwaitingDhKey ---------------------------> AwaitingSig
//!    |                         |   ^  (commit collision: lower hash      |
//!    | DH-Commit / DH-Key      |   |   yields; higher hash resends)      | Signature
//!    v                         v   |                                     v
//!   AwaitingRevealSig <--------+---+                                  Complete (Bob)
//!    |
//!    | Reveal-Signature / Signature
//!    v
//!   Complete (Alice)
//! ```
//!
//! This module is the pure state machine: it knows nothing of instance tags, sessions or the
//! message state. States are values; every transition consumes the state and returns the next
//! one together with what to send, so a state cannot be used after it was left.

use core::fmt;

use offrecord_crypto::dh::{DhKeyPair, DhPublicKey, SharedSecret};
use offrecord_crypto::dsa::{DsaPrivateKey, DsaPublicKey, DsaSignature};
use offrecord_crypto::{aes, ct, hash, mpi};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::wire::codec::Reader;
use crate::wire::{Body, DhCommit, DhKey, ProtocolVersion, RevealSignature, SignatureMessage};

/// The key id our AKE Diffie-Hellman key gets (the spec's `our_keyid - 1` with `our_keyid = 2`).
pub(crate) const AKE_KEYID: u32 = 1;

/// Why an AKE message was not accepted. None of these is fatal to the session; the message is
/// ignored as the spec says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AkeError {
    /// The message is valid in some state, but not in the current one.
    #[error("unexpected {message} in authentication state {state}")]
    Unexpected {
        /// The message type received.
        message: &'static str,
        /// The authentication state it arrived in.
        state: &'static str,
    },
    /// The peer's Diffie-Hellman value is out of range or malformed.
    #[error("the peer's Diffie-Hellman value is invalid")]
    BadDhValue,
    /// The revealed key `r` does not decrypt to the committed g^x.
    #[error("the revealed key does not match the D-H commitment")]
    CommitmentMismatch,
    /// A MAC on the encrypted signature did not verify.
    #[error("the signature MAC does not verify")]
    BadMac,
    /// The decrypted signature structure is malformed.
    #[error("the encrypted signature is malformed")]
    MalformedSignature,
    /// The long-term key is not a DSA key we accept.
    #[error("the peer's long-term public key is invalid")]
    BadPublicKey,
    /// The DSA signature does not verify.
    #[error("the peer's signature does not verify")]
    BadSignature,
    /// The key id in the signature is 0.
    #[error("the peer's key id is 0")]
    ZeroKeyId,
}

/// Keys derived from the AKE's shared secret (OTR v3, "Computing AES keys, MAC keys, and the
/// secure session id").
#[derive(Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct AkeKeys {
    pub(crate) ssid: [u8; 8],
    c: [u8; 16],
    c_prime: [u8; 16],
    m1: [u8; 32],
    m2: [u8; 32],
    m1_prime: [u8; 32],
    m2_prime: [u8; 32],
}

impl AkeKeys {
    /// Length of the persisted form.
    pub(crate) const LEN: usize = 8 + 16 + 16 + 4 * 32;

    /// The persisted form: ssid, c, c', m1, m2, m1', m2'.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(Self::LEN));
        for part in [
            &self.ssid[..],
            &self.c[..],
            &self.c_prime[..],
            &self.m1[..],
            &self.m2[..],
            &self.m1_prime[..],
            &self.m2_prime[..],
        ] {
            out.extend_from_slice(part);
        }
        out
    }

    /// Reads the persisted form.
    pub(crate) fn from_bytes(bytes: &[u8; Self::LEN]) -> AkeKeys {
        let mut keys = AkeKeys {
            ssid: [0; 8],
            c: [0; 16],
            c_prime: [0; 16],
            m1: [0; 32],
            m2: [0; 32],
            m1_prime: [0; 32],
            m2_prime: [0; 32],
        };
        let mut rest = &bytes[..];
        for part in [
            &mut keys.ssid[..],
            &mut keys.c[..],
            &mut keys.c_prime[..],
            &mut keys.m1[..],
            &mut keys.m2[..],
            &mut keys.m1_prime[..],
            &mut keys.m2_prime[..],
        ] {
            let (head, tail) = rest.split_at(part.len().min(rest.len()));
            part.copy_from_slice(head);
            rest = tail;
        }
        keys
    }

    /// h2(b) = SHA-256(b || MPI(s)) for the bytes the spec names.
    pub(crate) fn derive(s: &SharedSecret) -> AkeKeys {
        let secbytes = secbytes(s);
        let h2 = |b: u8| Zeroizing::new(hash::sha256(&[&[b], &secbytes]));
        let h0 = h2(0x00);
        let h1 = h2(0x01);
        let mut ssid = [0u8; 8];
        ssid.copy_from_slice(h0.get(..8).unwrap_or(&[0; 8]));
        let mut c = [0u8; 16];
        let mut c_prime = [0u8; 16];
        c.copy_from_slice(h1.get(..16).unwrap_or(&[0; 16]));
        c_prime.copy_from_slice(h1.get(16..).unwrap_or(&[0; 16]));
        AkeKeys {
            ssid,
            c,
            c_prime,
            m1: *h2(0x02),
            m2: *h2(0x03),
            m1_prime: *h2(0x04),
            m2_prime: *h2(0x05),
        }
    }
}

/// MPI(s): the "secbytes" every OTR key derivation hashes.
pub(crate) fn secbytes(s: &SharedSecret) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(200));
    mpi::encode(&s.to_bytes(), &mut out);
    out
}

/// The result of a completed AKE: everything the data phase starts from.
pub(crate) struct Completed {
    /// Protocol version the AKE ran in.
    pub(crate) version: ProtocolVersion,
    /// The peer's long-term key, authenticated by the AKE.
    pub(crate) their_long_term: DsaPublicKey,
    /// The peer's key id for `their_dh`.
    pub(crate) their_keyid: u32,
    /// The peer's Diffie-Hellman public key from the AKE.
    pub(crate) their_dh: DhPublicKey,
    /// Our Diffie-Hellman key pair from the AKE (key id [`AKE_KEYID`]).
    pub(crate) our_dh: DhKeyPair,
    /// The secure session id.
    pub(crate) ssid: [u8; 8],
    /// Whether we sent the Reveal Signature message (then the first half of the SSID is shown
    /// in bold).
    pub(crate) we_revealed: bool,
}

/// Waiting for the peer's D-H Key message, after sending our D-H Commit.
pub(crate) struct AwaitingDhKey {
    pub(crate) version: ProtocolVersion,
    pub(crate) our_dh: DhKeyPair,
    pub(crate) r: Zeroizing<[u8; 16]>,
    pub(crate) commit: DhCommit,
}

/// Waiting for the Reveal Signature message, after answering a D-H Commit with our D-H Key.
pub(crate) struct AwaitingRevealSig {
    pub(crate) version: ProtocolVersion,
    pub(crate) our_dh: DhKeyPair,
    pub(crate) their_commit: DhCommit,
}

/// Waiting for the Signature message, after sending Reveal Signature.
pub(crate) struct AwaitingSig {
    pub(crate) version: ProtocolVersion,
    pub(crate) our_dh: DhKeyPair,
    pub(crate) their_dh: DhPublicKey,
    pub(crate) keys: AkeKeys,
    pub(crate) reveal: RevealSignature,
}

/// The authentication state (`authstate`).
#[derive(Default)]
pub(crate) enum AuthState {
    /// No AKE in progress.
    #[default]
    None,
    /// `AUTHSTATE_AWAITING_DHKEY`.
    AwaitingDhKey(Box<AwaitingDhKey>),
    /// `AUTHSTATE_AWAITING_REVEALSIG`.
    AwaitingRevealSig(Box<AwaitingRevealSig>),
    /// `AUTHSTATE_AWAITING_SIG`.
    AwaitingSig(Box<AwaitingSig>),
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a transition produced.
pub(crate) struct Step {
    /// The next state.
    pub(crate) state: AuthState,
    /// A message to send to the peer, if any.
    pub(crate) reply: Option<Body>,
    /// The AKE completed.
    pub(crate) completed: Option<Completed>,
    /// The message was ignored, and why.
    pub(crate) ignored: Option<AkeError>,
}

impl Step {
    fn to(state: AuthState, reply: Option<Body>) -> Step {
        Step {
            state,
            reply,
            completed: None,
            ignored: None,
        }
    }

    fn ignore(state: AuthState, why: AkeError) -> Step {
        Step {
            state,
            reply: None,
            completed: None,
            ignored: Some(why),
        }
    }
}

impl AuthState {
    /// The state's name, for errors and logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            AuthState::None => "NONE",
            AuthState::AwaitingDhKey(_) => "AWAITING_DHKEY",
            AuthState::AwaitingRevealSig(_) => "AWAITING_REVEALSIG",
            AuthState::AwaitingSig(_) => "AWAITING_SIG",
        }
    }

    /// Whether an AKE is in progress.
    pub(crate) fn in_progress(&self) -> bool {
        !matches!(self, AuthState::None)
    }

    /// Starts (or restarts) an AKE: a fresh D-H Commit message, whatever the current state.
    pub(crate) fn start<R: CryptoRng + ?Sized>(version: ProtocolVersion, rng: &mut R) -> Step {
        let our_dh = DhKeyPair::generate(rng);
        let mut r = Zeroizing::new([0u8; 16]);
        rng.fill_bytes(&mut r[..]);
        let mut gxmpi = Vec::with_capacity(200);
        mpi::encode(&our_dh.public().to_bytes(), &mut gxmpi);
        let hashed_gx = hash::sha256(&[&gxmpi]).to_vec();
        aes::ctr128_apply(&r, &[0u8; 8], &mut gxmpi);
        let commit = DhCommit {
            encrypted_gx: gxmpi,
            hashed_gx,
        };
        let reply = Body::DhCommit(commit.clone());
        Step::to(
            AuthState::AwaitingDhKey(Box::new(AwaitingDhKey {
                version,
                our_dh,
                r,
                commit,
            })),
            Some(reply),
        )
    }

    /// Receiving a D-H Commit message.
    pub(crate) fn handle_dh_commit<R: CryptoRng + ?Sized>(
        self,
        version: ProtocolVersion,
        commit: DhCommit,
        rng: &mut R,
    ) -> Step {
        match self {
            AuthState::AwaitingDhKey(ours) => {
                // The trickiest transition: both sides sent a commit. The higher hash wins.
                if hash_is_higher(&ours.commit.hashed_gx, &commit.hashed_gx) {
                    let reply = Body::DhCommit(ours.commit.clone());
                    Step::to(AuthState::AwaitingDhKey(ours), Some(reply))
                } else {
                    answer_commit(version, commit, rng)
                }
            }
            AuthState::AwaitingRevealSig(mut state) => {
                // Retransmit the same D-H Key; use the new commitment from now on.
                state.their_commit = commit;
                state.version = version;
                let reply = Body::DhKey(DhKey {
                    gy: state.our_dh.public().to_bytes(),
                });
                Step::to(AuthState::AwaitingRevealSig(state), Some(reply))
            }
            AuthState::None | AuthState::AwaitingSig(_) => answer_commit(version, commit, rng),
        }
    }

    /// Receiving a D-H Key message.
    pub(crate) fn handle_dh_key<R: CryptoRng + ?Sized>(
        self,
        version: ProtocolVersion,
        key: DhKey,
        our_long_term: &DsaPrivateKey,
        rng: &mut R,
    ) -> Step {
        match self {
            AuthState::AwaitingDhKey(state) if state.version == version => {
                let Ok(their_dh) = DhPublicKey::from_bytes(&key.gy) else {
                    return Step::ignore(AuthState::AwaitingDhKey(state), AkeError::BadDhValue);
                };
                let AwaitingDhKey {
                    version, our_dh, r, ..
                } = *state;
                let s = our_dh.secret().diffie_hellman(&their_dh);
                let keys = AkeKeys::derive(&s);
                let (encrypted_signature, mac) = seal_signature(
                    our_long_term,
                    &our_dh,
                    &their_dh,
                    &keys.m1,
                    &keys.c,
                    &keys.m2,
                    rng,
                );
                let reveal = RevealSignature {
                    revealed_key: r.to_vec(),
                    encrypted_signature,
                    mac,
                };
                let reply = Body::RevealSignature(reveal.clone());
                Step::to(
                    AuthState::AwaitingSig(Box::new(AwaitingSig {
                        version,
                        our_dh,
                        their_dh,
                        keys,
                        reveal,
                    })),
                    Some(reply),
                )
            }
            AuthState::AwaitingSig(state) => {
                // Same D-H Key again: our Reveal Signature was lost; resend it.
                let same = DhPublicKey::from_bytes(&key.gy).is_ok_and(|k| k == state.their_dh);
                if same && state.version == version {
                    let reply = Body::RevealSignature(state.reveal.clone());
                    Step::to(AuthState::AwaitingSig(state), Some(reply))
                } else {
                    Step::ignore(
                        AuthState::AwaitingSig(state),
                        AkeError::Unexpected {
                            message: "D-H Key",
                            state: "AWAITING_SIG",
                        },
                    )
                }
            }
            other => {
                let state = other.name();
                Step::ignore(
                    other,
                    AkeError::Unexpected {
                        message: "D-H Key",
                        state,
                    },
                )
            }
        }
    }

    /// Receiving a Reveal Signature message.
    pub(crate) fn handle_reveal_signature<R: CryptoRng + ?Sized>(
        self,
        version: ProtocolVersion,
        reveal: RevealSignature,
        our_long_term: &DsaPrivateKey,
        rng: &mut R,
    ) -> Step {
        let AuthState::AwaitingRevealSig(state) = self else {
            let name = self.name();
            return Step::ignore(
                self,
                AkeError::Unexpected {
                    message: "Reveal Signature",
                    state: name,
                },
            );
        };
        if state.version != version {
            return Step::ignore(
                AuthState::AwaitingRevealSig(state),
                AkeError::Unexpected {
                    message: "Reveal Signature",
                    state: "AWAITING_REVEALSIG",
                },
            );
        }
        match open_reveal(&state, &reveal) {
            Err(why) => Step::ignore(AuthState::AwaitingRevealSig(state), why),
            Ok((their_dh, keys, their_long_term, their_keyid)) => {
                let AwaitingRevealSig {
                    version, our_dh, ..
                } = *state;
                let (encrypted_signature, mac) = seal_signature(
                    our_long_term,
                    &our_dh,
                    &their_dh,
                    &keys.m1_prime,
                    &keys.c_prime,
                    &keys.m2_prime,
                    rng,
                );
                let reply = Body::Signature(SignatureMessage {
                    encrypted_signature,
                    mac,
                });
                Step {
                    state: AuthState::None,
                    reply: Some(reply),
                    completed: Some(Completed {
                        version,
                        their_long_term,
                        their_keyid,
                        their_dh,
                        our_dh,
                        ssid: keys.ssid,
                        we_revealed: false,
                    }),
                    ignored: None,
                }
            }
        }
    }

    /// Receiving a Signature message.
    pub(crate) fn handle_signature(self, version: ProtocolVersion, sig: SignatureMessage) -> Step {
        let AuthState::AwaitingSig(state) = self else {
            let name = self.name();
            return Step::ignore(
                self,
                AkeError::Unexpected {
                    message: "Signature",
                    state: name,
                },
            );
        };
        if state.version != version {
            return Step::ignore(
                AuthState::AwaitingSig(state),
                AkeError::Unexpected {
                    message: "Signature",
                    state: "AWAITING_SIG",
                },
            );
        }
        let opened = open_signature(
            &sig.encrypted_signature,
            &sig.mac,
            &state.keys.c_prime,
            &state.keys.m1_prime,
            &state.keys.m2_prime,
            &state.their_dh,
            state.our_dh.public(),
        );
        match opened {
            Err(why) => Step::ignore(AuthState::AwaitingSig(state), why),
            Ok((their_long_term, their_keyid)) => {
                let AwaitingSig {
                    version,
                    our_dh,
                    their_dh,
                    keys,
                    ..
                } = *state;
                Step {
                    state: AuthState::None,
                    reply: None,
                    completed: Some(Completed {
                        version,
                        their_long_term,
                        their_keyid,
                        their_dh,
                        our_dh,
                        ssid: keys.ssid,
                        we_revealed: true,
                    }),
                    ignored: None,
                }
            }
        }
    }
}

/// Answers a D-H Commit with a fresh D-H Key (entering `AWAITING_REVEALSIG`).
fn answer_commit<R: CryptoRng + ?Sized>(
    version: ProtocolVersion,
    commit: DhCommit,
    rng: &mut R,
) -> Step {
    let our_dh = DhKeyPair::generate(rng);
    let reply = Body::DhKey(DhKey {
        gy: our_dh.public().to_bytes(),
    });
    Step::to(
        AuthState::AwaitingRevealSig(Box::new(AwaitingRevealSig {
            version,
            our_dh,
            their_commit: commit,
        })),
        Some(reply),
    )
}

/// Compares two hashed g^x values as 32-byte unsigned big-endian numbers: is `ours` higher?
fn hash_is_higher(ours: &[u8], theirs: &[u8]) -> bool {
    // Lengths are checked to be 32 on decode of a valid commit; compare as numbers anyway.
    let strip = |v: &[u8]| -> Vec<u8> { mpi::minimal(v).to_vec() };
    let (a, b) = (strip(ours), strip(theirs));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b)) == core::cmp::Ordering::Greater
}

/// Builds `X = pub, keyid, sig(M)` with `M = HMAC-SHA256_m1(g^ours, g^theirs, pub, keyid)`,
/// encrypts it with `c` and MACs the DATA field with `m2` (SHA256-HMAC-160).
fn seal_signature<R: CryptoRng + ?Sized>(
    our_long_term: &DsaPrivateKey,
    our_dh: &DhKeyPair,
    their_dh: &DhPublicKey,
    m1: &[u8; 32],
    c: &[u8; 16],
    m2: &[u8; 32],
    rng: &mut R,
) -> (Vec<u8>, [u8; 20]) {
    let pubkey = encode_pubkey(our_long_term.public_key());
    let mut m_input = Vec::with_capacity(600);
    mpi::encode(&our_dh.public().to_bytes(), &mut m_input);
    mpi::encode(&their_dh.to_bytes(), &mut m_input);
    m_input.extend_from_slice(&pubkey);
    m_input.extend_from_slice(&AKE_KEYID.to_be_bytes());
    let m = hash::hmac_sha256(m1, &[&m_input]);
    let sig = our_long_term.sign(&m, rng);
    let mut x = pubkey;
    x.extend_from_slice(&AKE_KEYID.to_be_bytes());
    x.extend_from_slice(&sig.r);
    x.extend_from_slice(&sig.s);
    aes::ctr128_apply(c, &[0u8; 8], &mut x);
    let mac = mac_encrypted_signature(m2, &x);
    (x, mac)
}

/// SHA256-HMAC-160 over the encrypted signature as a DATA field (with its 4-byte length).
fn mac_encrypted_signature(m2: &[u8; 32], encrypted: &[u8]) -> [u8; 20] {
    let len = u32::try_from(encrypted.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    hash::hmac_sha256_160(m2, &[&len, encrypted])
}

/// Alice's checks of Bob's Reveal Signature message.
fn open_reveal(
    state: &AwaitingRevealSig,
    reveal: &RevealSignature,
) -> Result<(DhPublicKey, AkeKeys, DsaPublicKey, u32), AkeError> {
    let r: [u8; 16] = reveal
        .revealed_key
        .as_slice()
        .try_into()
        .map_err(|_| AkeError::CommitmentMismatch)?;
    let r = Zeroizing::new(r);
    let mut gxmpi = state.their_commit.encrypted_gx.clone();
    aes::ctr128_apply(&r, &[0u8; 8], &mut gxmpi);
    if !ct::eq(&hash::sha256(&[&gxmpi]), &state.their_commit.hashed_gx) {
        return Err(AkeError::CommitmentMismatch);
    }
    let mut reader = Reader::new(&gxmpi);
    let gx = reader.read_mpi().map_err(|_| AkeError::BadDhValue)?;
    reader.expect_end().map_err(|_| AkeError::BadDhValue)?;
    let their_dh = DhPublicKey::from_bytes(gx).map_err(|_| AkeError::BadDhValue)?;
    let s = state.our_dh.secret().diffie_hellman(&their_dh);
    let keys = AkeKeys::derive(&s);
    let (their_long_term, their_keyid) = open_signature(
        &reveal.encrypted_signature,
        &reveal.mac,
        &keys.c,
        &keys.m1,
        &keys.m2,
        &their_dh,
        state.our_dh.public(),
    )?;
    Ok((their_dh, keys, their_long_term, their_keyid))
}

/// Verifies the MAC, decrypts `X = pub, keyid, sig`, and checks the signature over
/// `M = HMAC_m1(g^theirs, g^ours, pub, keyid)`.
fn open_signature(
    encrypted: &[u8],
    mac: &[u8; 20],
    c: &[u8; 16],
    m1: &[u8; 32],
    m2: &[u8; 32],
    their_dh: &DhPublicKey,
    our_dh: &DhPublicKey,
) -> Result<(DsaPublicKey, u32), AkeError> {
    if !ct::eq(&mac_encrypted_signature(m2, encrypted), mac) {
        return Err(AkeError::BadMac);
    }
    let mut x = encrypted.to_vec();
    aes::ctr128_apply(c, &[0u8; 8], &mut x);
    let mut reader = Reader::new(&x);
    let pub_start = x.len() - reader.remaining();
    let their_long_term = read_pubkey(&mut reader)?;
    let pub_end = x.len() - reader.remaining();
    let keyid = reader
        .read_u32()
        .map_err(|_| AkeError::MalformedSignature)?;
    if keyid == 0 {
        return Err(AkeError::ZeroKeyId);
    }
    let q_len = their_long_term.q_len();
    let r = reader
        .read_bytes(q_len)
        .map_err(|_| AkeError::MalformedSignature)?;
    let s = reader
        .read_bytes(q_len)
        .map_err(|_| AkeError::MalformedSignature)?;
    reader
        .expect_end()
        .map_err(|_| AkeError::MalformedSignature)?;
    let signature = DsaSignature {
        r: r.to_vec(),
        s: s.to_vec(),
    };
    let pubkey_bytes = x.get(pub_start..pub_end).unwrap_or_default();
    let mut m_input = Vec::with_capacity(600);
    mpi::encode(&their_dh.to_bytes(), &mut m_input);
    mpi::encode(&our_dh.to_bytes(), &mut m_input);
    m_input.extend_from_slice(pubkey_bytes);
    m_input.extend_from_slice(&keyid.to_be_bytes());
    let m = hash::hmac_sha256(m1, &[&m_input]);
    if !their_long_term.verify(&m, &signature) {
        return Err(AkeError::BadSignature);
    }
    Ok((their_long_term, keyid))
}

/// The type of an OTR DSA public key on the wire (OTR v3, "Public keys, signatures, and
/// fingerprints").
const PUBKEY_TYPE_DSA: u16 = 0x0000;

/// Encodes PUBKEY: type 0x0000, then MPIs p, q, g, y.
pub(crate) fn encode_pubkey(key: &DsaPublicKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(450);
    out.extend_from_slice(&PUBKEY_TYPE_DSA.to_be_bytes());
    for part in key.components() {
        mpi::encode(&part, &mut out);
    }
    out
}

/// Reads PUBKEY (only DSA keys exist).
pub(crate) fn read_pubkey(reader: &mut Reader<'_>) -> Result<DsaPublicKey, AkeError> {
    let kind = reader
        .read_u16()
        .map_err(|_| AkeError::MalformedSignature)?;
    if kind != PUBKEY_TYPE_DSA {
        return Err(AkeError::BadPublicKey);
    }
    let p = reader
        .read_mpi()
        .map_err(|_| AkeError::MalformedSignature)?;
    let q = reader
        .read_mpi()
        .map_err(|_| AkeError::MalformedSignature)?;
    let g = reader
        .read_mpi()
        .map_err(|_| AkeError::MalformedSignature)?;
    let y = reader
        .read_mpi()
        .map_err(|_| AkeError::MalformedSignature)?;
    DsaPublicKey::from_components(p, q, g, y).map_err(|_| AkeError::BadPublicKey)
}
