//! Data exchange: key management, encryption and authentication of Data Messages (OTR v3,
//! "Exchanging data", "Key Management", "Computing AES keys, MAC keys", "Revealing MAC keys").
//!
//! ```text
//!  ours:   our_dh[our_keyid-1] (previous)   our_dh[our_keyid] (current, announced as next_dh)
//!  theirs: their_y[their_keyid-1] (maybe)   their_y[their_keyid]
//!  send with (our_keyid-1, their_keyid); receive with any live pair, or a retained one.
//! ```
//!
//! Beyond the spec (see "Email-tolerant receiving" in the crate docs): when a key is forgotten,
//! the *receiving* keys of its pairs are retained for a bounded number of rotations and a bounded
//! time, so that mail delayed behind later mail still decrypts; their MAC keys are revealed only
//! when they leave that window, which keeps the spec's guarantee that no revealed MAC key is ever
//! accepted. Replays are rejected per key pair by [`ReplayWindow`], in any order.

use offrecord_crypto::dh::{DhKeyPair, DhPublicKey};
use offrecord_crypto::hash::{HmacSha1Key, HmacSha1State};
use offrecord_crypto::{aes, ct, hash};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::InstanceTag;
use crate::ake::secbytes;
use crate::replay::ReplayWindow;
use crate::wire::{DataMessageHead, DataMessageRef, ProtocolVersion, finish_data_message};

/// Why a data message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// A key id is 0, which the spec forbids.
    #[error("key id 0 is invalid")]
    ZeroKeyId,
    /// The key ids name keys we do not have (too old, or never seen).
    #[error("no keys for sender key id {sender_keyid} and recipient key id {recipient_keyid}")]
    UnknownKeys {
        /// The sender's key id in the message.
        sender_keyid: u32,
        /// Our key id in the message.
        recipient_keyid: u32,
    },
    /// The MAC does not verify.
    #[error("the message authentication code does not verify")]
    BadMac,
    /// The counter was seen before (a replay or duplicate), or is zero.
    #[error("counter {counter} was already used with these keys")]
    Replay {
        /// The counter in the message.
        counter: u64,
    },
    /// The next Diffie-Hellman key in the message is invalid.
    #[error("the announced next Diffie-Hellman key is invalid")]
    BadNextKey,
}

/// Limits on how long receiving keys of forgotten key pairs are retained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionLimits {
    /// At most this many retired key pairs keep their receiving keys (0: behave like libotr).
    pub max_old_key_pairs: usize,
    /// A retired key pair's receiving keys are dropped this many seconds after retirement.
    pub max_age_secs: u64,
}

impl Default for RetentionLimits {
    /// 32 pairs, 7 days: enough for a week of email delays in an active chat.
    fn default() -> Self {
        RetentionLimits {
            max_old_key_pairs: 32,
            max_age_secs: 7 * 24 * 3600,
        }
    }
}

/// Keys of one (our key, their key) pair, derived from their shared secret.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct PairKeys {
    pub(crate) send_aes: [u8; 16],
    /// The raw sending MAC key (what a saved state holds).
    pub(crate) send_mac: [u8; 20],
    /// `send_mac` with the HMAC pads absorbed, what messages are MACed with.
    send_mac_key: HmacSha1Key,
    pub(crate) recv: ReceivingKeys,
    /// `recv.mac` with the HMAC pads absorbed, what messages are verified with while the pair
    /// is live (a retired pair, rarely used, absorbs them per message instead).
    recv_mac_key: HmacSha1Key,
    /// The top half of the last counter we sent with this pair.
    #[zeroize(skip)]
    pub(crate) send_ctr: u64,
}

/// The receiving half of a pair's keys, which is what outlives the pair.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ReceivingKeys {
    pub(crate) aes: [u8; 16],
    pub(crate) mac: [u8; 20],
    /// The extra symmetric key h2(0xFF) of this pair.
    pub(crate) extra: [u8; 32],
    #[zeroize(skip)]
    pub(crate) seen: ReplayWindow,
    /// Whether the MAC key verified a message (only those are revealed).
    #[zeroize(skip)]
    pub(crate) mac_used: bool,
}

/// Receiving keys of a pair whose DH keys are forgotten.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct RetainedKeys {
    pub(crate) keys: ReceivingKeys,
    /// When the pair was retired (seconds).
    #[zeroize(skip)]
    pub(crate) retired_at: u64,
}

impl PairKeys {
    /// The keys of a pair from their raw form (as derived or saved), with the HMAC pads of
    /// both MAC keys absorbed.
    pub(crate) fn new(
        send_aes: [u8; 16],
        send_mac: [u8; 20],
        recv: ReceivingKeys,
        send_ctr: u64,
    ) -> PairKeys {
        PairKeys {
            send_aes,
            send_mac_key: HmacSha1Key::new(&send_mac),
            send_mac,
            recv_mac_key: HmacSha1Key::new(&recv.mac),
            recv,
            send_ctr,
        }
    }

    /// Derives the pair's keys (spec: h1(b) = SHA-1(b || MPI(s)); MAC key = SHA-1(AES key)).
    pub(crate) fn derive(ours: &DhKeyPair, theirs: &DhPublicKey) -> PairKeys {
        let s = ours.secret().diffie_hellman(theirs);
        let secbytes = secbytes(&s);
        // We are the "high" end if our public key is numerically greater.
        let (sendbyte, recvbyte) = if ours.public() > theirs {
            (0x01u8, 0x02u8)
        } else {
            (0x02, 0x01)
        };
        let h1 = |b: u8| Zeroizing::new(hash::sha1(&[&[b], &secbytes]));
        let send_aes = first16(&h1(sendbyte));
        let recv_aes = first16(&h1(recvbyte));
        let send_mac = hash::sha1(&[&send_aes]);
        PairKeys::new(
            send_aes,
            send_mac,
            ReceivingKeys {
                mac: hash::sha1(&[&recv_aes]),
                aes: recv_aes,
                extra: hash::sha256(&[&[0xff], &secbytes]),
                seen: ReplayWindow::default(),
                mac_used: false,
            },
            0,
        )
    }
}

fn first16(h: &[u8; 20]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(h.get(..16).unwrap_or(&[0; 16]));
    out
}

/// Keys of key pairs, by (our key id, their key id), in key order: a vector without spare
/// capacity (a session has at most four live pairs and a bounded window of retired ones, where a
/// `BTreeMap` node alone has room for eleven entries) that wipes what it leaves behind, so
/// that moving entries around leaves no copy of a key in freed or spare memory.
pub(crate) struct PairMap<V: Zeroize> {
    entries: Vec<((u32, u32), V)>,
}

/// The first bytes of a data message's MAC input that stay the same from one message of a key
/// pair to the next in one direction (header, flags, key ids, the length and most of the next
/// D-H key; the counter comes later): three SHA-1 blocks, which a kept [`HmacSha1State`] has
/// absorbed already.
const MAC_PREFIX_LEN: usize = 192;

/// The MAC state of the messages a session last sent, or last received on a live pair, after
/// exactly `prefix` (the first [`MAC_PREFIX_LEN`] bytes of their MAC input: header, key ids and
/// the sender's next D-H key, public, on the wire): a message that starts with the same bytes
/// under the same pair reuses it. Absorbing the prefix costs three of a short message's five
/// inner SHA-1 compressions.
struct PrefixState {
    /// The pair whose MAC key (sending or receiving) the state is under.
    ids: (u32, u32),
    prefix: [u8; MAC_PREFIX_LEN],
    /// Wiped on drop.
    state: HmacSha1State,
}

/// A session's kept MAC prefix states, each allocated on first use: a session that never sends
/// or receives pays two pointers.
#[derive(Default)]
pub(crate) struct MacPrefixes {
    send: Option<Box<PrefixState>>,
    recv: Option<Box<PrefixState>>,
}

impl MacPrefixes {
    /// Drops the states made under the keys of the pair `ids` (which is leaving its map).
    fn forget(&mut self, ids: (u32, u32)) {
        if self.send.as_ref().is_some_and(|kept| kept.ids == ids) {
            self.send = None;
        }
        if self.recv.as_ref().is_some_and(|kept| kept.ids == ids) {
            self.recv = None;
        }
    }
}

impl<V: Zeroize> PairMap<V> {
    pub(crate) fn new() -> Self {
        PairMap {
            entries: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, key: &(u32, u32)) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub(crate) fn contains_key(&self, key: &(u32, u32)) -> bool {
        self.position(key).is_ok()
    }

    pub(crate) fn get(&self, key: &(u32, u32)) -> Option<&V> {
        let at = self.position(key).ok()?;
        self.entries.get(at).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &(u32, u32)) -> Option<&mut V> {
        let at = self.position(key).ok()?;
        self.entries.get_mut(at).map(|(_, v)| v)
    }

    /// Inserts or replaces the value of `key`.
    pub(crate) fn insert(&mut self, key: (u32, u32), value: V) {
        match self.position(&key) {
            Ok(at) => {
                if let Some(slot) = self.entries.get_mut(at) {
                    slot.1 = value;
                }
            }
            Err(at) => {
                if self.entries.len() == self.entries.capacity() {
                    // Grow by hand, exactly, and wipe the old buffer after moving out of it.
                    let mut grown = Vec::with_capacity(self.entries.len().saturating_add(1));
                    grown.append(&mut self.entries);
                    self.entries.zeroize();
                    self.entries = grown;
                }
                self.entries.insert(at, (key, value));
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &(u32, u32)) -> Option<V> {
        let at = self.position(key).ok()?;
        let (_, value) = self.entries.remove(at);
        // Removing shifted the later entries down: the slot past the end keeps a stale copy.
        self.entries.spare_capacity_mut().zeroize();
        Some(value)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&(u32, u32), &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// Encrypts `out[start..]` in place with the sending keys of `pair` (the pair `ids`) and
/// returns the MAC of all of `out`, using and updating the session's kept state `kept`.
fn seal_in_place(
    pair: &PairKeys,
    kept: &mut Option<Box<PrefixState>>,
    ids: (u32, u32),
    ctr: &[u8; 8],
    out: &mut [u8],
    start: usize,
) -> [u8; 20] {
    // Expanded per message (about 60 to 90 ns with AES-NI, measured): a kept schedule is an
    // `Aes128Enc` of 704 bytes whichever backend runs, per direction, which the bound on an
    // established session's heap (issue 6: 4 KiB) cannot take.
    aes::ctr128_apply(
        &pair.send_aes,
        ctr,
        out.get_mut(start..).unwrap_or_default(),
    );
    prefixed_mac(&pair.send_mac_key, kept, ids, out)
}

/// The MAC of `mac_input` under `key`, the MAC key of the pair `ids`, reusing and updating
/// `kept` when the input is long enough to start with a whole prefix.
fn prefixed_mac(
    key: &HmacSha1Key,
    kept: &mut Option<Box<PrefixState>>,
    ids: (u32, u32),
    mac_input: &[u8],
) -> [u8; 20] {
    let (Some(prefix), Some(rest)) = (
        mac_input.first_chunk::<MAC_PREFIX_LEN>(),
        mac_input.get(MAC_PREFIX_LEN..),
    ) else {
        return key.mac(mac_input);
    };
    // The prefix is public (it is on the wire): comparing it may take variable time.
    if let Some(kept) = kept
        .as_deref()
        .filter(|k| k.ids == ids && k.prefix == *prefix)
    {
        return kept.state.finish(rest);
    }
    let mut state = key.start();
    let _ = state.absorb_blocks(prefix);
    let mac = state.finish(rest);
    match kept {
        // The allocation is reused: assigning drops (wipes) the old state in place.
        Some(kept) => {
            kept.ids = ids;
            kept.prefix = *prefix;
            kept.state = state;
        }
        None => {
            *kept = Some(Box::new(PrefixState {
                ids,
                prefix: *prefix,
                state,
            }));
        }
    }
    mac
}

/// If `mac` equals `expected` (in constant time), the decryption of `encrypted`.
fn open_with(
    aes: &[u8; 16],
    mac: [u8; 20],
    expected: &[u8; 20],
    ctr: &[u8; 8],
    encrypted: &[u8],
) -> Option<SecretBytes> {
    if !ct::eq(&mac, expected) {
        return None;
    }
    let mut plaintext = SecretBytes::new(encrypted.to_vec());
    aes::ctr128_apply(aes, ctr, &mut plaintext);
    Some(plaintext)
}

/// The header fields of the data messages of one session (protocol version and instance
/// tags, as they go on the wire).
#[derive(Clone, Copy)]
pub(crate) struct DataHeader {
    pub(crate) version: ProtocolVersion,
    pub(crate) sender_instance: InstanceTag,
    pub(crate) receiver_instance: InstanceTag,
}

/// Secret bytes, wiped on drop like `Zeroizing<Vec<u8>>`, that can also be handed on whole
/// ([`SecretBytes::into_inner`]).
///
/// Unlike `Zeroizing`, a vector that never allocated is left alone (zeroize's bulk wipe of zero
/// bytes at the dangling pointer of an empty `Vec` is a masked store to an unmapped page, which
/// costs a microcode assist, about 100 ns on x86-64 with AVX-512), and the bytes are wiped in
/// bulk (zeroize wipes a `Vec`'s elements one volatile write at a time).
pub(crate) struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub(crate) fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }

    /// The bytes, which the caller now answers for.
    pub(crate) fn into_inner(mut self) -> Vec<u8> {
        core::mem::take(&mut self.0)
    }
}

impl core::ops::Deref for SecretBytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl core::ops::DerefMut for SecretBytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        if self.0.capacity() != 0 {
            // Slices in bulk (`Vec::zeroize` writes its elements one volatile byte at a time).
            self.0.as_mut_slice().zeroize();
            self.0.spare_capacity_mut().zeroize();
        }
    }
}

/// A decrypted, authenticated data message.
pub(crate) struct Opened {
    /// The plaintext (human-readable part and TLVs).
    pub(crate) plaintext: SecretBytes,
    /// The extra symmetric key of the pair the message used.
    pub(crate) extra_key: Zeroizing<[u8; 32]>,
}

/// The data-phase keys of one encrypted session.
pub(crate) struct KeyState {
    pub(crate) our_keyid: u32,
    /// `our_dh[our_keyid - 1]`.
    pub(crate) our_previous: DhKeyPair,
    /// `our_dh[our_keyid]`.
    pub(crate) our_current: DhKeyPair,
    /// The public key of `our_current`, encoded once (every message we send announces it).
    pub(crate) our_current_public: Vec<u8>,
    pub(crate) their_keyid: u32,
    pub(crate) their_current: DhPublicKey,
    /// `their_y[their_keyid - 1]`, if known.
    pub(crate) their_previous: Option<DhPublicKey>,
    /// Derived keys of live pairs, keyed by (our key id, their key id).
    pub(crate) pairs: PairMap<PairKeys>,
    /// Receiving keys of retired pairs, keyed by (our key id, their key id).
    pub(crate) retained: PairMap<RetainedKeys>,
    /// MAC keys to reveal in the next data message we send.
    pub(crate) to_reveal: Zeroizing<Vec<u8>>,
    /// Sending counters of pairs derived from now on start above this value (raised on every
    /// save, so that a restored state never reuses a counter; see `pickle`).
    pub(crate) ctr_base: u64,
    pub(crate) limits: RetentionLimits,
    /// MAC states kept from the last message sent and received (not saved).
    pub(crate) prefixes: MacPrefixes,
}

impl KeyState {
    /// The key state right after the AKE: our AKE key becomes `our_dh[1]`, a fresh key
    /// `our_dh[2]`; their AKE key is `their_y[their_keyid]`.
    pub(crate) fn after_ake<R: CryptoRng + ?Sized>(
        our_ake_dh: DhKeyPair,
        their_keyid: u32,
        their_dh: DhPublicKey,
        limits: RetentionLimits,
        rng: &mut R,
    ) -> KeyState {
        let our_current = DhKeyPair::generate(rng);
        KeyState {
            our_keyid: crate::ake::AKE_KEYID + 1,
            our_previous: our_ake_dh,
            our_current_public: our_current.public().to_bytes(),
            our_current,
            their_keyid,
            their_current: their_dh,
            their_previous: None,
            pairs: PairMap::new(),
            retained: PairMap::new(),
            to_reveal: Zeroizing::new(Vec::new()),
            ctr_base: 0,
            limits,
            prefixes: MacPrefixes::default(),
        }
    }

    /// Our live key with id `id`.
    fn our_key(&self, id: u32) -> Option<&DhKeyPair> {
        if id == self.our_keyid {
            Some(&self.our_current)
        } else if Some(id) == self.our_keyid.checked_sub(1) {
            Some(&self.our_previous)
        } else {
            None
        }
    }

    /// Their live key with id `id`.
    fn their_key(&self, id: u32) -> Option<&DhPublicKey> {
        if id == self.their_keyid {
            Some(&self.their_current)
        } else if Some(id) == self.their_keyid.checked_sub(1) {
            self.their_previous.as_ref()
        } else {
            None
        }
    }

    /// The keys of a live pair, derived on first use.
    fn live_pair(&mut self, ours: u32, theirs: u32) -> Option<&mut PairKeys> {
        if !self.pairs.contains_key(&(ours, theirs)) {
            let mut keys = PairKeys::derive(self.our_key(ours)?, self.their_key(theirs)?);
            keys.send_ctr = self.ctr_base;
            self.pairs.insert((ours, theirs), keys);
        }
        self.pairs.get_mut(&(ours, theirs))
    }

    /// The (sender, recipient) key ids and keys for the next message we send.
    pub(crate) fn sending_pair(&mut self) -> Option<(u32, u32, &mut PairKeys)> {
        let ours = self.our_keyid.checked_sub(1)?;
        let theirs = self.their_keyid;
        Some((ours, theirs, self.live_pair(ours, theirs)?))
    }

    /// Encrypts and authenticates the plaintext `message || tlvs` (`tlvs`: empty, or a NUL
    /// and the encoded records) into an encoded data message with `header` and `flags`.
    ///
    /// The message is encoded once, into `out` (cleared first, then large enough for all of
    /// it): the plaintext is written where the encrypted message goes and encrypted there (so
    /// no other copy of it is made), and the MAC is computed over what precedes it. Returns the
    /// extra symmetric key of the pair used.
    pub(crate) fn seal(
        &mut self,
        header: DataHeader,
        flags: u8,
        message: &[u8],
        tlvs: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Zeroizing<[u8; 32]>> {
        let (ours, theirs, pair) = self.sending_pair()?;
        let ctr = pair.send_ctr.checked_add(1)?;
        let encrypted_len = message.len().checked_add(tlvs.len())?;
        u32::try_from(encrypted_len).ok()?;
        pair.send_ctr = ctr;
        let ctr = ctr.to_be_bytes();
        let extra = Zeroizing::new(pair.recv.extra);
        let old_mac_keys = SecretBytes::new(core::mem::take(&mut *self.to_reveal));
        let head = DataMessageHead {
            version: header.version,
            sender_instance: header.sender_instance,
            receiver_instance: header.receiver_instance,
            flags,
            sender_keyid: ours,
            recipient_keyid: theirs,
            next_dh: &self.our_current_public,
            ctr,
        };
        out.clear();
        // Room for the whole message before the plaintext goes in: the buffer never moves
        // while it holds plaintext, so no copy of it is left behind.
        out.reserve(head.encoded_len(encrypted_len, old_mac_keys.len()));
        head.encode(encrypted_len, out);
        let start = out.len();
        out.extend_from_slice(message);
        out.extend_from_slice(tlvs);
        let mac = seal_in_place(
            self.pairs.get(&(ours, theirs))?,
            &mut self.prefixes.send,
            (ours, theirs),
            &ctr,
            out,
            start,
        );
        finish_data_message(out, &mac, &old_mac_keys);
        Some(extra)
    }

    /// Verifies and decrypts a data message, then rotates keys as the spec says.
    ///
    /// `mac_input` is the exact received bytes the MAC covers.
    pub(crate) fn open<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &DataMessageRef<'_>,
        mac_input: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Opened, DataError> {
        let (theirs, ours) = (msg.sender_keyid, msg.recipient_keyid);
        if theirs == 0 || ours == 0 {
            return Err(DataError::ZeroKeyId);
        }
        let counter = u64::from_be_bytes(msg.ctr);
        self.expire(now);
        let live = self.our_key(ours).is_some() && self.their_key(theirs).is_some();
        let next_dh = if live && theirs == self.their_keyid {
            Some(DhPublicKey::from_bytes(msg.next_dh).map_err(|_| DataError::BadNextKey)?)
        } else {
            None
        };
        let unknown = DataError::UnknownKeys {
            sender_keyid: theirs,
            recipient_keyid: ours,
        };
        let ids = (ours, theirs);
        let (keys, live_key): (&mut ReceivingKeys, Option<&HmacSha1Key>) = if live {
            if self.live_pair(ours, theirs).is_none() {
                return Err(unknown);
            }
            match self.pairs.get_mut(&ids) {
                Some(pair) => (&mut pair.recv, Some(&pair.recv_mac_key)),
                None => return Err(unknown),
            }
        } else {
            match self.retained.get_mut(&ids) {
                Some(retained) => (&mut retained.keys, None),
                None => return Err(unknown),
            }
        };
        let mac = match live_key {
            Some(key) => prefixed_mac(key, &mut self.prefixes.recv, ids, mac_input),
            // Delayed mail on a retired pair: rare, its pads are absorbed per message.
            None => HmacSha1Key::new(&keys.mac).mac(mac_input),
        };
        let opened = open_with(&keys.aes, mac, &msg.mac, &msg.ctr, msg.encrypted_message);
        let Some(plaintext) = opened else {
            return Err(DataError::BadMac);
        };
        if !keys.seen.is_fresh(counter) {
            return Err(DataError::Replay { counter });
        }
        keys.seen.insert(counter);
        keys.mac_used = true;
        let extra_key = Zeroizing::new(keys.extra);

        if live {
            if ours == self.our_keyid {
                self.rotate_ours(now, rng);
            }
            if let Some(next) = next_dh {
                self.rotate_theirs(next, now);
            }
        }
        Ok(Opened {
            plaintext,
            extra_key,
        })
    }

    /// The peer has seen our newest key: forget `our_dh[our_keyid-1]`, make a new current key.
    fn rotate_ours<R: CryptoRng + ?Sized>(&mut self, now: u64, rng: &mut R) {
        if let Some(old) = self.our_keyid.checked_sub(1) {
            let their_ids: Vec<u32> = [Some(self.their_keyid), self.their_keyid.checked_sub(1)]
                .into_iter()
                .flatten()
                .filter(|&t| self.their_key(t).is_some())
                .collect();
            for theirs in their_ids {
                self.retire_pair(old, theirs, now);
            }
        }
        let fresh = DhKeyPair::generate(rng);
        self.our_current_public = fresh.public().to_bytes();
        self.our_previous = core::mem::replace(&mut self.our_current, fresh);
        self.our_keyid = self.our_keyid.saturating_add(1);
    }

    /// The peer announced its next key: forget `their_y[their_keyid-1]`, shift.
    fn rotate_theirs(&mut self, next: DhPublicKey, now: u64) {
        if let Some(old) = self.their_keyid.checked_sub(1)
            && self.their_previous.is_some()
        {
            for ours in [self.our_keyid, self.our_keyid.saturating_sub(1)] {
                if ours > 0 {
                    self.retire_pair(ours, old, now);
                }
            }
        }
        self.their_previous = Some(core::mem::replace(&mut self.their_current, next));
        self.their_keyid = self.their_keyid.saturating_add(1);
    }

    /// Moves the receiving keys of a pair that is about to lose one of its keys into the
    /// retention window (deriving them first if the pair was never used: a delayed message may
    /// still use it), or reveals its MAC key if retention is off.
    fn retire_pair(&mut self, ours: u32, theirs: u32, now: u64) {
        self.prefixes.forget((ours, theirs));
        if self.limits.max_old_key_pairs == 0 {
            if let Some(pair) = self.pairs.remove(&(ours, theirs))
                && pair.recv.mac_used
            {
                self.to_reveal.extend_from_slice(&pair.recv.mac);
            }
            return;
        }
        let keys = match self.pairs.remove(&(ours, theirs)) {
            Some(mut pair) => core::mem::replace(
                &mut pair.recv,
                ReceivingKeys {
                    aes: [0; 16],
                    mac: [0; 20],
                    extra: [0; 32],
                    seen: ReplayWindow::default(),
                    mac_used: false,
                },
            ),
            None => match (self.our_key(ours), self.their_key(theirs)) {
                (Some(o), Some(t)) => {
                    let mut pair = PairKeys::derive(o, t);
                    core::mem::replace(
                        &mut pair.recv,
                        ReceivingKeys {
                            aes: [0; 16],
                            mac: [0; 20],
                            extra: [0; 32],
                            seen: ReplayWindow::default(),
                            mac_used: false,
                        },
                    )
                }
                _ => return,
            },
        };
        self.retained.insert(
            (ours, theirs),
            RetainedKeys {
                keys,
                retired_at: now,
            },
        );
        self.enforce_retention(now);
    }

    /// Drops retained keys that are too many or too old, queueing used MAC keys for reveal.
    fn enforce_retention(&mut self, now: u64) {
        let max_age = self.limits.max_age_secs;
        let expired: Vec<(u32, u32)> = self
            .retained
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.retired_at) > max_age)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            self.drop_retained(key);
        }
        while self.retained.len() > self.limits.max_old_key_pairs {
            // The oldest retirement goes first (ties: lowest key ids).
            let Some(oldest) = self
                .retained
                .iter()
                .min_by_key(|(k, r)| (r.retired_at, **k))
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.drop_retained(oldest);
        }
    }

    fn drop_retained(&mut self, key: (u32, u32)) {
        if let Some(retained) = self.retained.remove(&key)
            && retained.keys.mac_used
        {
            self.to_reveal.extend_from_slice(&retained.keys.mac);
        }
    }

    /// Applies the time limits (called on every receive and by the endpoint's timer).
    pub(crate) fn expire(&mut self, now: u64) {
        self.enforce_retention(now);
    }

    /// Every MAC key that was used to verify a message and is not yet revealed: what closing a
    /// session reveals (design section 4.5), together with keys already queued.
    pub(crate) fn reveal_all(&mut self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(core::mem::take(&mut *self.to_reveal));
        for pair in self.pairs.values() {
            if pair.recv.mac_used {
                out.extend_from_slice(&pair.recv.mac);
            }
        }
        for retained in self.retained.values() {
            if retained.keys.mac_used {
                out.extend_from_slice(&retained.keys.mac);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::wire::{Decoded, Encoded};

    /// Two key states as the AKE leaves them (both sides' AKE keys have id 1).
    fn pair(seed: u64) -> (KeyState, KeyState, ChaCha20Rng) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let a = DhKeyPair::generate(&mut rng);
        let b = DhKeyPair::generate(&mut rng);
        let (a_public, b_public) = (a.public().clone(), b.public().clone());
        let limits = RetentionLimits::default();
        let alice = KeyState::after_ake(a, 1, b_public, limits, &mut rng);
        let bob = KeyState::after_ake(b, 1, a_public, limits, &mut rng);
        (alice, bob, rng)
    }

    const HEADER: DataHeader = DataHeader {
        version: ProtocolVersion::V3,
        sender_instance: InstanceTag::new(0x1234),
        receiver_instance: InstanceTag::new(0x5678),
    };

    fn open(bob: &mut KeyState, bytes: &[u8], rng: &mut ChaCha20Rng) -> Result<Vec<u8>, DataError> {
        let Ok(Decoded::Data {
            data, mac_input, ..
        }) = Encoded::decode_borrowed(bytes)
        else {
            panic!("not a data message");
        };
        bob.open(&data, mac_input, 1, rng)
            .map(|o| o.plaintext.into_inner())
    }

    #[test]
    fn kept_keys_give_what_fresh_keys_give() {
        let (mut alice, mut bob, mut rng) = pair(1);
        let mut out = Vec::new();
        for (i, len) in [100usize, 100, 0, 300, 100, 5000, 100]
            .into_iter()
            .enumerate()
        {
            let text: Vec<u8> = (0..len).map(|j| (i + j) as u8 | 1).collect();
            alice.seal(HEADER, 0, &text, &[], &mut out).unwrap();
            // Sealed without any kept state: the MAC and the ciphertext agree.
            let Ok(Decoded::Data {
                data, mac_input, ..
            }) = Encoded::decode_borrowed(&out)
            else {
                panic!("not a data message");
            };
            let pair = alice.pairs.get_mut(&(1, 1)).unwrap();
            assert_eq!(HmacSha1Key::new(&pair.send_mac).mac(mac_input), data.mac);
            let mut plain = data.encrypted_message.to_vec();
            aes::ctr128_apply(&pair.send_aes, &data.ctr, &mut plain);
            assert_eq!(plain, text);
            assert_eq!(open(&mut bob, &out, &mut rng).unwrap(), text, "message {i}");
            // A change in the part of the MAC input the kept state has absorbed is noticed.
            let mut forged = out.clone();
            forged[30] ^= 1;
            assert!(matches!(
                open(&mut bob, &forged, &mut rng),
                Err(DataError::BadMac | DataError::BadNextKey)
            ));
        }
    }

    #[test]
    fn kept_states_leave_with_their_pair() {
        let (mut alice, mut bob, mut rng) = pair(2);
        let mut out = Vec::new();
        alice.seal(HEADER, 0, b"hi", &[], &mut out).unwrap();
        open(&mut bob, &out, &mut rng).unwrap();
        assert!(
            alice
                .prefixes
                .send
                .as_ref()
                .is_some_and(|k| k.ids == (1, 1))
        );
        assert!(bob.prefixes.recv.as_ref().is_some_and(|k| k.ids == (1, 1)));
        assert!(alice.prefixes.recv.is_none() && bob.prefixes.send.is_none());
        alice.retire_pair(1, 1, 1);
        assert!(alice.prefixes.send.is_none());
        bob.retire_pair(1, 1, 1);
        assert!(bob.prefixes.recv.is_none());
    }

    #[test]
    fn an_idle_session_keeps_no_state() {
        let (alice, bob, _) = pair(3);
        assert!(alice.prefixes.send.is_none() && alice.prefixes.recv.is_none());
        assert!(bob.prefixes.send.is_none() && bob.prefixes.recv.is_none());
    }
}
