//! Persistence of the whole endpoint state (long-term key, instance tag, every session in every
//! state, mid-AKE included) in a versioned binary format.
//!
//! Layout (all integers big-endian, DATA = 4-byte length + bytes, as in the OTR wire format):
//!
//! ```text
//! "OTRE" | format version (SHORT) | DSA key p,q,g,y,x (DATA) | instance tag (INT) |
//! peer count (INT) | per peer: name, seen_plaintext, fingerprints, master session, instances
//! ```
//!
//! An encrypted session is saved with its SMP run ([`Smp::to_bytes`], as DATA after the keys),
//! so a run continues across a save and restore.
//!
//! **Versions.** 1: the first format (no SMP state); no longer read. 2: encrypted sessions
//! carry their SMP state. The format is not released yet, so states of version 1 are refused
//! ([`PickleError::OutdatedVersion`]) rather than converted.
//!
//! Not persisted, by design: partially reassembled fragments (the sender's other fragments
//! will not come again, so a restart loses at most the message being reassembled) and the
//! message stored for retransmission (plaintext is not written to disk by this crate).
//!
//! **Counters.** Each key pair's sending counter is saved `COUNTER_LEASE` above its live value,
//! so that a state restored from this save never reuses a counter that the saving process
//! might still use before it saves again (the peer only requires counters to increase).

use offrecord_crypto::dh::{DhKeyPair, DhPublicKey, DhSecret};
use offrecord_crypto::dsa::{DsaPrivateKey, DsaPublicKey};
use zeroize::Zeroizing;

use crate::InstanceTag;
use crate::ake::{AkeKeys, AuthState, AwaitingDhKey, AwaitingRevealSig, AwaitingSig};
use crate::data::{KeyState, MacPrefixes, PairKeys, PairMap, ReceivingKeys, RetainedKeys};
use crate::endpoint::{Config, Endpoint, Peer};
use crate::replay::ReplayWindow;
use crate::session::{Encrypted, LongTermKey, MsgState, Session};
use crate::smp::Smp;
use crate::wire::codec::{Reader, put_data, put_u8, put_u16, put_u32};
use crate::wire::{DhCommit, ProtocolVersion, RevealSignature};

const MAGIC: &[u8; 4] = b"OTRE";
/// Magic of one peer's saved state ([`Endpoint::save_peer`]).
const PEER_MAGIC: &[u8; 4] = b"OTRP";
/// The current format version (2: encrypted sessions carry their SMP state).
const FORMAT_VERSION: u16 = 2;
/// The oldest format version this build reads.
const OLDEST_VERSION: u16 = 2;
/// How far above the live sending counter a saved counter starts.
const COUNTER_LEASE: u64 = 1 << 24;
/// Upper bounds on counts read from a pickle (a corrupt file must not allocate unboundedly).
const MAX_COUNT: u32 = 1 << 20;

/// Why saved state could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// The bytes do not start with the endpoint-state magic.
    #[error("not an OTR endpoint state (bad magic)")]
    BadMagic,
    /// The format version is newer than this build understands.
    #[error("unsupported state format version {found} (this build reads up to {supported})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The format version is older than this build reads (saved before the format changed,
    /// while it was unreleased); the state cannot be restored.
    #[error(
        "state format version {found} is no longer supported (this build reads {oldest} to {supported})"
    )]
    OutdatedVersion {
        /// The version in the file.
        found: u16,
        /// The oldest version this build reads.
        oldest: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The state ended early or has bytes after its end.
    #[error("corrupt endpoint state: {0}")]
    Corrupt(String),
    /// A key in the state is invalid.
    #[error("corrupt endpoint state: invalid key ({0})")]
    BadKey(&'static str),
}

impl From<crate::wire::DecodeError> for PickleError {
    fn from(e: crate::wire::DecodeError) -> Self {
        PickleError::Corrupt(e.to_string())
    }
}

impl Endpoint {
    /// Saves the whole state. The result holds secret keys: store it as securely as the
    /// long-term key.
    pub fn save(&self) -> Zeroizing<Vec<u8>> {
        let capacity = 1024 + self.peers.values().map(|p| peer_capacity(p)).sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(capacity));
        out.extend_from_slice(MAGIC);
        put_u16(&mut out, FORMAT_VERSION);
        let [p, q, g, y] = self.key.public_key().components();
        for part in [&p, &q, &g, &y] {
            put_data(&mut out, part);
        }
        put_data(&mut out, &self.key.x_bytes());
        put_u32(&mut out, self.instance.value());
        put_count(&mut out, self.peers.len());
        for (name, peer) in &self.peers {
            put_data(&mut out, name.as_bytes());
            save_peer(&mut out, peer);
        }
        out
    }

    /// Saves everything about one peer (its sessions in every state, known fingerprints), but
    /// not our long-term key: for applications that keep one record per conversation and
    /// load it on demand. `None` if there is no state for `peer`.
    pub fn save_peer(&self, peer: &str) -> Option<Zeroizing<Vec<u8>>> {
        let state = self.peers.get(peer)?;
        let mut out = Zeroizing::new(Vec::with_capacity(64 + peer_capacity(state)));
        out.extend_from_slice(PEER_MAGIC);
        put_u16(&mut out, FORMAT_VERSION);
        save_peer(&mut out, state);
        Some(out)
    }

    /// Replaces the state of `peer` with one saved by [`Endpoint::save_peer`].
    pub fn restore_peer(&mut self, peer: &str, bytes: &[u8]) -> Result<(), PickleError> {
        let mut r = Reader::new(bytes);
        if r.read_bytes(4)? != PEER_MAGIC {
            return Err(PickleError::BadMagic);
        }
        check_version(r.read_u16()?)?;
        let state = read_peer(&mut r, &self.config)?;
        r.expect_end()?;
        self.peers.insert(peer.to_owned(), Box::new(state));
        Ok(())
    }

    /// Forgets everything about `peer` (its sessions are dropped and their keys wiped).
    pub fn forget_peer(&mut self, peer: &str) {
        self.peers.remove(peer);
    }

    /// Restores a state saved by [`Endpoint::save`] (possibly by another process), with the
    /// given configuration.
    pub fn restore(bytes: &[u8], config: Config) -> Result<Endpoint, PickleError> {
        let mut r = Reader::new(bytes);
        if r.read_bytes(4)? != MAGIC {
            return Err(PickleError::BadMagic);
        }
        check_version(r.read_u16()?)?;
        let (p, q, g, y) = (
            r.read_data()?,
            r.read_data()?,
            r.read_data()?,
            r.read_data()?,
        );
        let x = Zeroizing::new(r.read_data()?.to_vec());
        let key = DsaPrivateKey::from_components(p, q, g, y, &x)
            .map_err(|_| PickleError::BadKey("long-term DSA key"))?;
        let instance = InstanceTag::new(r.read_u32()?);
        let mut endpoint = Endpoint::new(key, instance, config);
        for _ in 0..read_count(&mut r)? {
            let name = read_string(&mut r)?;
            let peer = read_peer(&mut r, &endpoint.config)?;
            endpoint.peers.insert(name, Box::new(peer));
        }
        r.expect_end()?;
        Ok(endpoint)
    }
}

fn check_version(found: u16) -> Result<(), PickleError> {
    if found > FORMAT_VERSION {
        Err(PickleError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        })
    } else if found < OLDEST_VERSION {
        Err(PickleError::OutdatedVersion {
            found,
            oldest: OLDEST_VERSION,
            supported: FORMAT_VERSION,
        })
    } else {
        Ok(())
    }
}

/// An upper bound on the saved size of a peer's state, so that the wiped output buffer is
/// allocated once and never grows (growing would leave unwiped copies of secrets behind).
fn peer_capacity(peer: &Peer) -> usize {
    let session = |s: &Session| {
        let keys = match &s.msg {
            MsgState::Encrypted(e) => {
                (e.keys.pairs.len() + e.keys.retained.len()) * (200 + 16 * ReplayWindow::MAX_RANGES)
                    + e.keys.to_reveal.len()
            }
            _ => 0,
        };
        // Fixed parts: timestamps, AKE state, DH keys, long-term key, SMP state.
        16 * 1024 + keys
    };
    256 + peer
        .fingerprints
        .values()
        .map(|t| 32 + t.len())
        .sum::<usize>()
        + session(&peer.master)
        + peer.instances.values().map(|s| session(s)).sum::<usize>()
}

fn save_peer(out: &mut Vec<u8>, peer: &Peer) {
    put_u8(out, u8::from(peer.seen_plaintext));
    put_count(out, peer.fingerprints.len());
    for (fp, trust) in &peer.fingerprints {
        out.extend_from_slice(fp);
        put_data(out, trust.as_bytes());
    }
    save_session(out, &peer.master);
    put_count(out, peer.instances.len());
    for session in peer.instances.values() {
        save_session(out, session);
    }
}

fn read_peer(r: &mut Reader<'_>, config: &Config) -> Result<Peer, PickleError> {
    let limits = config.retention;
    let mut peer = Peer::new(config.reassembly);
    peer.seen_plaintext = read_bool(r)?;
    for _ in 0..read_count(r)? {
        let fp = r.read_array::<20>()?;
        let trust = read_string(r)?;
        peer.fingerprints.insert(fp, trust);
    }
    peer.master = read_session(r, limits)?;
    for _ in 0..read_count(r)? {
        let session = read_session(r, limits)?;
        peer.instances
            .insert(session.their_instance, Box::new(session));
    }
    Ok(peer)
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    put_u32(out, u32::try_from(n).unwrap_or(u32::MAX));
}

fn read_count(r: &mut Reader<'_>) -> Result<u32, PickleError> {
    let n = r.read_u32()?;
    if n > MAX_COUNT {
        return Err(PickleError::Corrupt(format!(
            "count {n} exceeds {MAX_COUNT}"
        )));
    }
    Ok(n)
}

fn read_bool(r: &mut Reader<'_>) -> Result<bool, PickleError> {
    match r.read_u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(PickleError::Corrupt(format!("boolean byte {other}"))),
    }
}

fn read_string(r: &mut Reader<'_>) -> Result<String, PickleError> {
    String::from_utf8(r.read_data()?.to_vec())
        .map_err(|_| PickleError::Corrupt("invalid UTF-8 in a name".into()))
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn read_u64(r: &mut Reader<'_>) -> Result<u64, PickleError> {
    Ok(u64::from_be_bytes(r.read_array::<8>()?))
}

fn put_version(out: &mut Vec<u8>, v: ProtocolVersion) {
    put_u16(out, v.number());
}

fn read_version(r: &mut Reader<'_>) -> Result<ProtocolVersion, PickleError> {
    let n = r.read_u16()?;
    ProtocolVersion::from_number(n)
        .ok_or_else(|| PickleError::Corrupt(format!("protocol version {n}")))
}

fn put_dh(out: &mut Vec<u8>, pair: &DhKeyPair) {
    put_data(out, &pair.secret().to_bytes());
    put_data(out, &pair.public().to_bytes());
}

/// Our own key pairs are restored with their saved public value (no exponentiation).
fn read_dh(r: &mut Reader<'_>) -> Result<DhKeyPair, PickleError> {
    let secret = DhSecret::from_bytes(r.read_data()?).map_err(|_| PickleError::BadKey("DH"))?;
    let public = read_dh_public(r)?;
    Ok(DhKeyPair::from_persisted(secret, public))
}

fn read_dh_public(r: &mut Reader<'_>) -> Result<DhPublicKey, PickleError> {
    DhPublicKey::from_bytes(r.read_data()?).map_err(|_| PickleError::BadKey("DH public"))
}

fn read_pubkey(r: &mut Reader<'_>) -> Result<DsaPublicKey, PickleError> {
    let (p, q, g, y) = (
        r.read_data()?,
        r.read_data()?,
        r.read_data()?,
        r.read_data()?,
    );
    DsaPublicKey::from_components(p, q, g, y).map_err(|_| PickleError::BadKey("DSA public"))
}

fn put_commit(out: &mut Vec<u8>, c: &DhCommit) {
    put_data(out, &c.encrypted_gx);
    put_data(out, &c.hashed_gx);
}

fn read_commit(r: &mut Reader<'_>) -> Result<DhCommit, PickleError> {
    Ok(DhCommit {
        encrypted_gx: r.read_data()?.to_vec(),
        hashed_gx: r.read_data()?.to_vec(),
    })
}

fn save_session(out: &mut Vec<u8>, s: &Session) {
    put_u32(out, s.their_instance.value());
    put_u64(out, s.last_sent);
    put_u64(out, s.last_received);
    put_u64(out, s.secured_at);
    put_u64(out, s.auth_since);
    match &s.auth {
        AuthState::None => put_u8(out, 0),
        AuthState::AwaitingDhKey(a) => {
            put_u8(out, 1);
            put_version(out, a.version);
            put_dh(out, &a.our_dh);
            out.extend_from_slice(&a.r[..]);
            put_commit(out, &a.commit);
        }
        AuthState::AwaitingRevealSig(a) => {
            put_u8(out, 2);
            put_version(out, a.version);
            put_dh(out, &a.our_dh);
            put_commit(out, &a.their_commit);
        }
        AuthState::AwaitingSig(a) => {
            put_u8(out, 3);
            put_version(out, a.version);
            put_dh(out, &a.our_dh);
            put_data(out, &a.their_dh.to_bytes());
            out.extend_from_slice(&a.keys.to_bytes()[..]);
            put_data(out, &a.reveal.revealed_key);
            put_data(out, &a.reveal.encrypted_signature);
            out.extend_from_slice(&a.reveal.mac);
        }
    }
    match &s.msg {
        MsgState::Plaintext => put_u8(out, 0),
        MsgState::Encrypted(e) => {
            put_u8(out, 1);
            put_version(out, e.version);
            out.extend_from_slice(e.their_long_term.encoded());
            out.extend_from_slice(&e.ssid);
            put_u8(out, u8::from(e.we_revealed));
            save_keys(out, &e.keys);
            put_data(out, &e.smp.to_bytes());
        }
        MsgState::Finished {
            version,
            their_long_term,
        } => {
            put_u8(out, 2);
            put_version(out, *version);
            out.extend_from_slice(their_long_term.encoded());
        }
    }
}

fn read_session(
    r: &mut Reader<'_>,
    limits: crate::data::RetentionLimits,
) -> Result<Session, PickleError> {
    let mut s = Session::new(InstanceTag::new(r.read_u32()?));
    s.last_sent = read_u64(r)?;
    s.last_received = read_u64(r)?;
    s.secured_at = read_u64(r)?;
    s.auth_since = read_u64(r)?;
    s.auth = match r.read_u8()? {
        0 => AuthState::None,
        1 => AuthState::AwaitingDhKey(Box::new(AwaitingDhKey {
            version: read_version(r)?,
            our_dh: read_dh(r)?,
            r: Zeroizing::new(r.read_array::<16>()?),
            commit: read_commit(r)?,
        })),
        2 => AuthState::AwaitingRevealSig(Box::new(AwaitingRevealSig {
            version: read_version(r)?,
            our_dh: read_dh(r)?,
            their_commit: read_commit(r)?,
        })),
        3 => AuthState::AwaitingSig(Box::new(AwaitingSig {
            version: read_version(r)?,
            our_dh: read_dh(r)?,
            their_dh: read_dh_public(r)?,
            keys: AkeKeys::from_bytes(&r.read_array::<{ AkeKeys::LEN }>()?),
            reveal: RevealSignature {
                revealed_key: r.read_data()?.to_vec(),
                encrypted_signature: r.read_data()?.to_vec(),
                mac: r.read_array::<20>()?,
            },
        })),
        other => {
            return Err(PickleError::Corrupt(format!(
                "authentication state {other}"
            )));
        }
    };
    s.msg = match r.read_u8()? {
        0 => MsgState::Plaintext,
        1 => {
            let version = read_version(r)?;
            let their_long_term = LongTermKey::new(&read_pubkey(r)?);
            let ssid = r.read_array::<8>()?;
            let we_revealed = read_bool(r)?;
            let keys = read_keys(r, limits)?;
            let smp =
                Smp::from_bytes(r.read_data()?).map_err(|e| PickleError::Corrupt(e.to_string()))?;
            MsgState::Encrypted(Box::new(Encrypted {
                version,
                their_long_term,
                ssid,
                we_revealed,
                keys,
                smp: smp.into(),
            }))
        }
        2 => MsgState::Finished {
            version: read_version(r)?,
            their_long_term: LongTermKey::new(&read_pubkey(r)?),
        },
        other => return Err(PickleError::Corrupt(format!("message state {other}"))),
    };
    Ok(s)
}

fn save_receiving(out: &mut Vec<u8>, k: &ReceivingKeys) {
    out.extend_from_slice(&k.aes);
    out.extend_from_slice(&k.mac);
    out.extend_from_slice(&k.extra);
    put_u8(out, u8::from(k.mac_used));
    let (floor, ranges) = k.seen.parts();
    put_u64(out, floor);
    put_count(out, ranges.len());
    for &(lo, hi) in ranges {
        put_u64(out, lo);
        put_u64(out, hi);
    }
}

fn read_receiving(r: &mut Reader<'_>) -> Result<ReceivingKeys, PickleError> {
    let aes = r.read_array::<16>()?;
    let mac = r.read_array::<20>()?;
    let extra = r.read_array::<32>()?;
    let mac_used = read_bool(r)?;
    let floor = read_u64(r)?;
    let n = read_count(r)?;
    let mut ranges = Vec::new();
    for _ in 0..n {
        ranges.push((read_u64(r)?, read_u64(r)?));
    }
    Ok(ReceivingKeys {
        aes,
        mac,
        extra,
        seen: ReplayWindow::from_parts(floor, ranges),
        mac_used,
    })
}

fn save_keys(out: &mut Vec<u8>, k: &KeyState) {
    put_u32(out, k.our_keyid);
    put_dh(out, &k.our_previous);
    put_dh(out, &k.our_current);
    put_u32(out, k.their_keyid);
    put_data(out, &k.their_current.to_bytes());
    match &k.their_previous {
        None => put_u8(out, 0),
        Some(key) => {
            put_u8(out, 1);
            put_data(out, &key.to_bytes());
        }
    }
    put_count(out, k.pairs.len());
    for (&(ours, theirs), pair) in k.pairs.iter() {
        put_u32(out, ours);
        put_u32(out, theirs);
        out.extend_from_slice(&pair.send_aes);
        out.extend_from_slice(&pair.send_mac);
        put_u64(
            out,
            pair.send_ctr.max(k.ctr_base).saturating_add(COUNTER_LEASE),
        );
        save_receiving(out, &pair.recv);
    }
    put_count(out, k.retained.len());
    for (&(ours, theirs), retained) in k.retained.iter() {
        put_u32(out, ours);
        put_u32(out, theirs);
        put_u64(out, retained.retired_at);
        save_receiving(out, &retained.keys);
    }
    put_data(out, &k.to_reveal);
    put_u64(out, k.ctr_base.saturating_add(COUNTER_LEASE));
}

fn read_keys(
    r: &mut Reader<'_>,
    limits: crate::data::RetentionLimits,
) -> Result<KeyState, PickleError> {
    let our_keyid = r.read_u32()?;
    let our_previous = read_dh(r)?;
    let our_current = read_dh(r)?;
    let their_keyid = r.read_u32()?;
    let their_current = read_dh_public(r)?;
    let their_previous = if read_bool(r)? {
        Some(read_dh_public(r)?)
    } else {
        None
    };
    let mut pairs = PairMap::new();
    for _ in 0..read_count(r)? {
        let ids = (r.read_u32()?, r.read_u32()?);
        let send_aes = r.read_array::<16>()?;
        let send_mac = r.read_array::<20>()?;
        let send_ctr = read_u64(r)?;
        let recv = read_receiving(r)?;
        // The HMAC pads of the MAC keys are absorbed here: they are not saved.
        pairs.insert(ids, PairKeys::new(send_aes, send_mac, recv, send_ctr));
    }
    let mut retained = PairMap::new();
    for _ in 0..read_count(r)? {
        let ids = (r.read_u32()?, r.read_u32()?);
        let retired_at = read_u64(r)?;
        let keys = read_receiving(r)?;
        retained.insert(ids, RetainedKeys { keys, retired_at });
    }
    let to_reveal = Zeroizing::new(r.read_data()?.to_vec());
    let ctr_base = read_u64(r)?;
    if our_keyid < 2 || their_keyid == 0 {
        return Err(PickleError::Corrupt("key ids out of range".into()));
    }
    Ok(KeyState {
        our_keyid,
        our_previous,
        our_current_public: our_current.public().to_bytes(),
        our_current,
        their_keyid,
        their_current,
        their_previous,
        pairs,
        retained,
        to_reveal,
        ctr_base,
        limits,
        prefixes: MacPrefixes::default(),
    })
}
