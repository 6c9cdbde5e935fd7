//! The endpoint: one local account's OTR state for all its peers, and the message-handling
//! rules of OTR v3 "State transitions" (what to do with each received message and each user
//! action).
//!
//! Routing of OTR v3 messages by instance tag ("Instance Tags"):
//!
//! ```text
//!   receiver tag  = 0        -> only a D-H Commit is accepted (any of our instances)
//!                 = ours     -> session of the sender's instance (created on demand)
//!                 = other    -> RCVDMSG_FOR_OTHER_INSTANCE, ignored
//!   sender tag    < 0x100    -> malformed, ignored
//!   OTR v2                   -> the peer's instance-less "master" session
//! ```
//!
//! A D-H Commit we send before knowing the peer's instance (answering a query) lives in the
//! master session; each instance that answers with a D-H Key gets its own copy of it, so that
//! several devices of one peer can each finish their own AKE.
//!
//! # SMP
//!
//! Each encrypted session runs its own [`Smp`] ("The SMP state machine"). SMP TLVs (types 2
//! to 7) of every data message that decrypts go to it (and are still reported in
//! [`Output::tlvs`]); what it answers goes back in data messages with an empty text and the
//! IGNORE_UNREADABLE flag, one TLV per message, as libotr sends them. The run keeps going while
//! data messages flow and keys rotate; it ends, silently, when the session leaves ENCRYPTED or
//! a new AKE completes over it (see [`crate::session`]).
//!
//! At most [`MAX_SMP_TLVS_PER_MESSAGE`] SMP TLVs of one data message are handled (the others
//! are only reported): each may cost several exponentiations to verify, and one message may
//! hold a thousand of them.
//!
//! **Trust.** As libotr 4.1.1 does, the outcome of a run is recorded as the trust of the
//! peer's fingerprint (the key of that session): `"smp"` on success, untrusted (`""`) on
//! failure, by the side that asked, and by the answering side only if the request had no
//! question (the answer to a question only proves to the asker that the peer knew it).
//! Cheating, errors and aborts leave the trust alone.

use std::collections::BTreeMap;

use offrecord_crypto::dsa::DsaPrivateKey;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::InstanceTag;
use crate::ake::{AuthState, AwaitingDhKey, Completed, Step};
use crate::data::{DataError, DataHeader, KeyState, RetentionLimits, SecretBytes};
use crate::event::{
    Event, MessageEvent, Output, Received, ReceivedKind, ReceivedTlv, SmpEventKind, Transmit,
};
use crate::fragment::{self, Fragment, FragmentFormat, Reassembler, ReassemblyLimits};
use crate::policy::Policy;
use crate::session::{
    Encrypted, LongTermKey, MsgState, Session, SessionStatus, SmpSlot, SmpStatus, Ssid,
};
use crate::smp::{Smp, SmpError, SmpEvent, SmpSecret};
use crate::tlv::{self, Plaintext, Tlv};
use crate::wire::{
    self, Body, DataMessageRef, Decoded, Encoded, Incoming, Message, ProtocolVersion, Versions,
};

/// Endpoint configuration. The defaults are libotr's behaviour plus email tolerance.
#[derive(Clone, Debug)]
pub struct Config {
    /// The OTR policy (default: libotr's `OTRL_POLICY_DEFAULT`, opportunistic).
    pub policy: Policy,
    /// Largest wire message to emit; longer ones are fragmented. 0: never fragment.
    pub max_message_size: usize,
    /// Send a heartbeat after receiving a data message if nothing was sent for this many
    /// seconds (libotr: 60). `None` disables heartbeats.
    pub heartbeat_interval: Option<u64>,
    /// How long a message stored while the AKE runs may be resent when it completes (libotr:
    /// 60 seconds).
    pub resend_window_secs: u64,
    /// Retention of receiving keys of retired key pairs (email tolerance).
    pub retention: RetentionLimits,
    /// Limits on fragment reassembly, per peer.
    pub reassembly: ReassemblyLimits,
    /// Answer unreadable data messages with an OTR error message, as the spec says.
    pub reply_to_unreadable: bool,
    /// At most this many instance sessions per peer (floods of instance tags are refused).
    pub max_instances_per_peer: usize,
    /// Text sent after the query string, for clients without OTR.
    pub query_text: String,
    /// An AKE that made no progress for this many seconds is abandoned by [`Endpoint::poll`]
    /// (libotr: 60 seconds for its pending D-H Commit). Over email, where each AKE message may
    /// take hours, set this to days.
    pub ake_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: Policy::default(),
            max_message_size: 0,
            heartbeat_interval: Some(60),
            resend_window_secs: 60,
            retention: RetentionLimits::default(),
            reassembly: ReassemblyLimits::default(),
            reply_to_unreadable: true,
            max_instances_per_peer: 64,
            query_text: "An Off-the-Record private conversation was requested, but your client \
                         does not support it."
                .to_owned(),
            ake_timeout_secs: 60,
        }
    }
}

/// Why a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The peer ended the private conversation; end it too (or restart it) before writing.
    #[error("the private conversation was ended by the peer; end or restart it first")]
    Finished,
    /// No encrypted session with that instance exists.
    #[error("no encrypted session with instance {0}")]
    NoSuchSession(InstanceTag),
    /// The text contains a NUL character, which OTR uses to separate the text from TLVs (it
    /// would let the text smuggle TLVs such as "disconnected").
    #[error("the text contains a NUL character, which OTR cannot carry")]
    NulInText,
    /// The message is too large to fragment (more than 65535 fragments).
    #[error("the message is too large to send: {0}")]
    TooLarge(String),
}

/// How many SMP TLVs of one data message go to the state machine; later ones are ignored
/// (still reported in [`Output::tlvs`]). Implementations send one per message (libotr) or an
/// abort and a new request (a restart); four leaves room and bounds the work one message can
/// cause.
pub const MAX_SMP_TLVS_PER_MESSAGE: usize = 4;

/// Why an SMP request of the user ([`Endpoint::smp_start`], [`Endpoint::smp_respond`],
/// [`Endpoint::smp_abort`]) could not be carried out. After `NotEncrypted` and `Smp` nothing
/// changed and nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpRequestError {
    /// SMP runs only in an encrypted session, and there is none with that instance.
    #[error("no encrypted session with instance {0}")]
    NotEncrypted(InstanceTag),
    /// The state machine refused: no request to answer, or an unusable question.
    #[error(transparent)]
    Smp(#[from] SmpError),
    /// The SMP message could not be sent (too large to fragment).
    #[error("the SMP message could not be sent: {0}")]
    Send(#[from] SendError),
}

/// The last message the user sent, kept for possible retransmission after an AKE.
///
/// As in libotr, it is resent only if it was held back (encryption required while not yet
/// encrypted) or if the peer answered with an OTR error (it could not read it); a message
/// that went out encrypted is never sent twice just because a new AKE completed.
struct Stored {
    text: Zeroizing<String>,
    at: u64,
    /// Send it when the next AKE completes.
    resend: bool,
    /// Whether it went out before (then the resend is reported as `MsgResent`).
    sent: bool,
}

/// Everything kept about one peer (one remote account).
pub(crate) struct Peer {
    /// The instance-less session: OTR v2, plaintext state, and our D-H Commit to instance 0.
    pub(crate) master: Session,
    /// One session per remote instance (OTR v3).
    /// (Boxed: a map node has room for eleven entries, and a session is several hundred bytes.)
    pub(crate) instances: BTreeMap<InstanceTag, Box<Session>>,
    /// Fragments being reassembled.
    pub(crate) reassembler: Reassembler,
    /// Whether we received a plaintext message since entering plaintext (stop tagging).
    pub(crate) seen_plaintext: bool,
    /// Long-term key fingerprints seen for this peer, with their trust word (empty: untrusted).
    pub(crate) fingerprints: BTreeMap<[u8; 20], String>,
    stored: Option<Stored>,
}

impl Peer {
    pub(crate) fn new(limits: ReassemblyLimits) -> Peer {
        Peer {
            master: Session::new(InstanceTag::ZERO),
            instances: BTreeMap::new(),
            reassembler: Reassembler::new(limits),
            seen_plaintext: false,
            fingerprints: BTreeMap::new(),
            stored: None,
        }
    }

    /// The session to use when the application names no instance: the most recently secured
    /// encrypted one, else the most recently secured finished one, else the master.
    fn best(&self) -> InstanceTag {
        let pick = |want: fn(&Session) -> bool| {
            self.instances
                .values()
                .map(|s| &**s)
                .chain(core::iter::once(&self.master))
                .filter(|s| want(s))
                .max_by_key(|s| s.secured_at)
                .map(|s| s.their_instance)
        };
        pick(|s| matches!(s.msg, MsgState::Encrypted(_)))
            .or_else(|| pick(|s| matches!(s.msg, MsgState::Finished { .. })))
            .unwrap_or(InstanceTag::ZERO)
    }

    fn session(&self, instance: InstanceTag) -> Option<&Session> {
        if instance == InstanceTag::ZERO {
            Some(&self.master)
        } else {
            self.instances.get(&instance).map(|s| &**s)
        }
    }

    fn session_mut(&mut self, instance: InstanceTag) -> Option<&mut Session> {
        if instance == InstanceTag::ZERO {
            Some(&mut self.master)
        } else {
            self.instances.get_mut(&instance).map(|s| &mut **s)
        }
    }
}

/// One local OTR account: its long-term key, its instance tag, and every session with every
/// peer. See the crate documentation for the call order.
pub struct Endpoint {
    pub(crate) key: DsaPrivateKey,
    pub(crate) instance: InstanceTag,
    pub(crate) config: Config,
    /// (Boxed, like the sessions, so that a map node holds pointers, not eleven peers.)
    pub(crate) peers: BTreeMap<String, Box<Peer>>,
    /// The binary form of the last data message sent or armored message received (public:
    /// ciphertext and AKE messages), kept so that the next one needs no allocation.
    scratch: Vec<u8>,
}

/// Messages up to this size (binary) leave their buffer for the next one.
const MAX_KEPT_SCRATCH: usize = 64 * 1024;

impl Endpoint {
    /// An endpoint with the given long-term key and instance tag.
    ///
    /// `instance` should be valid (`>= 0x100`) and persistent for this installation.
    pub fn new(key: DsaPrivateKey, instance: InstanceTag, config: Config) -> Endpoint {
        Endpoint {
            key,
            instance,
            config,
            peers: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Our instance tag.
    pub fn instance_tag(&self) -> InstanceTag {
        self.instance
    }

    /// Our long-term key.
    pub fn private_key(&self) -> &DsaPrivateKey {
        &self.key
    }

    /// The fingerprint of our long-term key.
    pub fn fingerprint(&self) -> [u8; 20] {
        self.key.public_key().fingerprint()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the configuration (for example the policy) from now on.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    fn peer_mut(&mut self, peer: &str) -> &mut Peer {
        let limits = self.config.reassembly;
        self.peers
            .entry(peer.to_owned())
            .or_insert_with(|| Box::new(Peer::new(limits)))
    }

    /// The versions our policy allows, as offered in queries and whitespace tags.
    fn offered_versions(&self) -> Versions {
        Versions {
            v1: false,
            v2: self.config.policy.contains(Policy::ALLOW_V2),
            v3: self.config.policy.contains(Policy::ALLOW_V3),
        }
    }

    fn version_allowed(&self, version: ProtocolVersion) -> bool {
        match version {
            ProtocolVersion::V2 => self.config.policy.contains(Policy::ALLOW_V2),
            ProtocolVersion::V3 => self.config.policy.contains(Policy::ALLOW_V3),
        }
    }

    /// The best version both sides offer, if any.
    fn pick_version(&self, theirs: Versions) -> Option<ProtocolVersion> {
        let ours = self.offered_versions();
        if ours.v3 && theirs.v3 {
            Some(ProtocolVersion::V3)
        } else if ours.v2 && theirs.v2 {
            Some(ProtocolVersion::V2)
        } else {
            None
        }
    }

    /// The OTR query message our policy produces ("User requests to start an OTR
    /// conversation").
    pub fn query_message(&self) -> String {
        let mut text = wire::Query::message(self.offered_versions());
        if !self.config.query_text.is_empty() {
            text.push('\n');
            text.push_str(&self.config.query_text);
        }
        text
    }

    /// Asks `peer` to start an OTR conversation (sends a query message).
    pub fn query(&mut self, peer: &str) -> Output {
        let mut out = Output::default();
        out.transmit.push(Transmit {
            peer: peer.to_owned(),
            message: self.query_message(),
        });
        out
    }

    /// Starts the AKE ourselves by sending a D-H Commit, optionally addressed to one known
    /// instance of the peer (OTR v3; the chat layer does this after an invitation names the
    /// inviting device's instance).
    pub fn start_ake<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &str,
        their_instance: Option<InstanceTag>,
        version: ProtocolVersion,
        now: u64,
        rng: &mut R,
    ) -> Output {
        let mut out = Output::default();
        let target = their_instance.unwrap_or(InstanceTag::ZERO);
        let step = AuthState::start(version, rng);
        let max = self.config.max_instances_per_peer;
        let p = self.peer_mut(peer);
        if target != InstanceTag::ZERO && !p.instances.contains_key(&target) {
            if p.instances.len() >= max {
                out.message_event(
                    peer,
                    MessageEvent::SetupError,
                    Some("too many instances".into()),
                );
                return out;
            }
            p.instances.insert(target, Box::new(Session::new(target)));
        }
        if let Some(session) = p.session_mut(target) {
            session.auth = step.state;
            session.auth_since = now;
        }
        if let Some(body) = step.reply {
            self.transmit_body(&mut out, peer, version, target, body);
        }
        out
    }

    /// Handles one incoming message (or fragment) from `peer` at time `now` (seconds).
    ///
    /// Never fails: what cannot be used is reported as events.
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &str,
        text: &str,
        now: u64,
        rng: &mut R,
    ) -> Output {
        let mut out = Output::default();
        if !self.config.policy.allows_otr() {
            out.received.push(Received {
                peer: peer.to_owned(),
                instance: InstanceTag::ZERO,
                text: text.to_owned(),
                kind: ReceivedKind::Plaintext,
            });
            return out;
        }
        self.receive_message(&mut out, peer, text, now, rng, true);
        out
    }

    fn receive_message<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        text: &str,
        now: u64,
        rng: &mut R,
        allow_fragment: bool,
    ) {
        // The buffer is taken, not borrowed: handling the message needs all of `self`.
        let mut raw = core::mem::take(&mut self.scratch);
        match Incoming::parse(text, &mut raw) {
            Ok(Incoming::Message(message)) => {
                self.receive_unarmored(out, peer, message, now, rng, allow_fragment);
            }
            Ok(Incoming::Encoded(decoded)) => self.receive_encoded(out, peer, decoded, now, rng),
            Err(e) => {
                out.message_event(peer, MessageEvent::ReceivedMalformed, Some(e.to_string()));
            }
        }
        if raw.capacity() <= MAX_KEPT_SCRATCH {
            self.scratch = raw;
        }
    }

    /// Handles what is not an armored message.
    fn receive_unarmored<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        message: Message,
        now: u64,
        rng: &mut R,
        allow_fragment: bool,
    ) {
        match message {
            Message::Fragment(raw) => {
                if allow_fragment {
                    self.receive_fragment(out, peer, &raw, now, rng);
                } else {
                    out.message_event(
                        peer,
                        MessageEvent::ReceivedMalformed,
                        Some("a fragment contained a fragment".into()),
                    );
                }
            }
            Message::Plaintext {
                text,
                whitespace_tag,
            } => self.receive_plaintext(out, peer, text, whitespace_tag, now, rng),
            Message::Query { versions } => {
                if let Some(version) = self.pick_version(versions) {
                    let _ = self.peer_mut(peer);
                    out.extend(self.start_ake(peer, None, version, now, rng));
                }
            }
            Message::Error { text } => {
                // The peer could not read what we sent: offer the last message again once a
                // new AKE completes.
                if let Some(stored) = self.peers.get_mut(peer).and_then(|p| p.stored.as_mut()) {
                    stored.resend = true;
                }
                out.message_event(peer, MessageEvent::ReceivedGeneralError, Some(text));
                if self.config.policy.contains(Policy::ERROR_START_AKE) {
                    out.transmit.push(Transmit {
                        peer: peer.to_owned(),
                        message: self.query_message(),
                    });
                }
            }
            Message::Encoded { encoded, raw } => {
                // (`Incoming::parse` returns armored messages decoded, not this.)
                let decoded = Encoded::decode_borrowed(&raw).unwrap_or(Decoded::Other(encoded));
                self.receive_encoded(out, peer, decoded, now, rng);
            }
        }
    }

    fn receive_fragment<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        raw: &str,
        now: u64,
        rng: &mut R,
    ) {
        let fragment = match Fragment::parse(raw) {
            Ok(f) => f,
            Err(e) => {
                out.message_event(peer, MessageEvent::ReceivedMalformed, Some(e.to_string()));
                return;
            }
        };
        if fragment.format_version == 3 {
            if !fragment.sender.is_valid() || !fragment.receiver.is_valid_receiver() {
                out.message_event(
                    peer,
                    MessageEvent::ReceivedMalformed,
                    Some("invalid instance tag in fragment".into()),
                );
                return;
            }
            if fragment.receiver != InstanceTag::ZERO && fragment.receiver != self.instance {
                out.message_event(peer, MessageEvent::ReceivedForOtherInstance, None);
                return;
            }
        }
        let complete = self.peer_mut(peer).reassembler.push(fragment.clone(), now);
        match complete {
            Ok(Some(message)) => {
                let mut first = Output::default();
                self.receive_message(&mut first, peer, &message, now, rng, false);
                let garbage = first.received.is_empty()
                    && first.events.iter().any(|e| {
                        matches!(
                            e,
                            Event::Message {
                                kind: MessageEvent::ReceivedMalformed
                                    | MessageEvent::ReceivedUnreadable,
                                ..
                            }
                        )
                    });
                if !(garbage && fragment.total > 1) {
                    out.extend(first);
                    return;
                }
                // A partial that lost a piece was completed by the first piece of the next
                // message: the result is garbage. Start over from this piece, so that one lost
                // fragment costs one message, not every later one.
                out.message_event(
                    peer,
                    MessageEvent::ReceivedMalformed,
                    Some("a fragmented message lost a piece".into()),
                );
                let again = self.peer_mut(peer).reassembler.resync(fragment, now);
                if let Ok(Some(message)) = again {
                    self.receive_message(out, peer, &message, now, rng, false);
                }
            }
            Ok(None) => {}
            Err(e) => {
                out.message_event(peer, MessageEvent::ReceivedMalformed, Some(e.to_string()));
            }
        }
    }

    fn receive_plaintext<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        text: String,
        tag: Option<Versions>,
        now: u64,
        rng: &mut R,
    ) {
        let policy = self.config.policy;
        let start_version = tag.and_then(|v| self.pick_version(v));
        let p = self.peer_mut(peer);
        p.seen_plaintext = true;
        let best = p.best();
        let state = p
            .session(best)
            .map_or(MsgState::Plaintext.public(), |s| s.msg.public());
        let warn =
            state != crate::MessageState::Plaintext || policy.contains(Policy::REQUIRE_ENCRYPTION);
        if warn {
            out.message_event(peer, MessageEvent::ReceivedUnencrypted, Some(text));
        } else {
            out.received.push(Received {
                peer: peer.to_owned(),
                instance: InstanceTag::ZERO,
                text,
                kind: if tag.is_some() {
                    ReceivedKind::TaggedPlaintext
                } else {
                    ReceivedKind::Plaintext
                },
            });
        }
        if policy.contains(Policy::WHITESPACE_START_AKE)
            && let Some(version) = start_version
        {
            out.extend(self.start_ake(peer, None, version, now, rng));
        }
    }

    fn receive_encoded<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        decoded: Decoded<'_>,
        now: u64,
        rng: &mut R,
    ) {
        match decoded {
            Decoded::Data {
                version,
                sender_instance,
                receiver_instance,
                data,
                mac_input,
            } => {
                let header = (version, sender_instance, receiver_instance);
                if let Some(their_instance) = self.accept_encoded(out, peer, header, false) {
                    self.receive_data(
                        out,
                        peer,
                        version,
                        their_instance,
                        &data,
                        mac_input,
                        now,
                        rng,
                    );
                }
            }
            Decoded::Other(encoded) => {
                let header = (
                    encoded.version,
                    encoded.sender_instance,
                    encoded.receiver_instance,
                );
                let commit = matches!(encoded.body, Body::DhCommit(_));
                if let Some(their_instance) = self.accept_encoded(out, peer, header, commit) {
                    self.receive_ake(
                        out,
                        peer,
                        encoded.version,
                        their_instance,
                        encoded.body,
                        now,
                        rng,
                    );
                }
            }
        }
    }

    /// Checks the header of an encoded message (version allowed, instance tags) and makes sure
    /// a session for the sending instance exists. Returns that instance, or `None` (reported)
    /// if the message is not for us.
    fn accept_encoded(
        &mut self,
        out: &mut Output,
        peer: &str,
        (version, sender, receiver): (ProtocolVersion, InstanceTag, InstanceTag),
        commit: bool,
    ) -> Option<InstanceTag> {
        if !self.version_allowed(version) {
            return None;
        }
        let their_instance = match version {
            ProtocolVersion::V2 => InstanceTag::ZERO,
            ProtocolVersion::V3 => {
                if !sender.is_valid() || !receiver.is_valid_receiver() {
                    out.message_event(
                        peer,
                        MessageEvent::ReceivedMalformed,
                        Some("invalid instance tag".into()),
                    );
                    return None;
                }
                if sender == self.instance && receiver != self.instance {
                    // Our own message came back (a relay reflecting it).
                    out.message_event(peer, MessageEvent::MsgReflected, None);
                    return None;
                }
                if receiver == InstanceTag::ZERO && !commit {
                    out.message_event(peer, MessageEvent::ReceivedForOtherInstance, None);
                    return None;
                }
                if receiver != InstanceTag::ZERO && receiver != self.instance {
                    out.message_event(peer, MessageEvent::ReceivedForOtherInstance, None);
                    return None;
                }
                sender
            }
        };
        let max = self.config.max_instances_per_peer;
        let p = match self.peers.get_mut(peer) {
            Some(p) => &mut **p,
            None => self.peer_mut(peer),
        };
        if their_instance != InstanceTag::ZERO && !p.instances.contains_key(&their_instance) {
            if p.instances.len() >= max {
                out.message_event(
                    peer,
                    MessageEvent::ReceivedMalformed,
                    Some(format!("more than {max} instances")),
                );
                return None;
            }
            p.instances
                .insert(their_instance, Box::new(Session::new(their_instance)));
        }
        Some(their_instance)
    }

    #[allow(clippy::too_many_arguments)]
    fn receive_ake<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        version: ProtocolVersion,
        their_instance: InstanceTag,
        body: Body,
        now: u64,
        rng: &mut R,
    ) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        // A D-H Key (or a colliding D-H Commit) may answer the commit we sent to instance 0:
        // give this instance its own copy of that AKE state.
        let inherit = matches!(body, Body::DhKey(_) | Body::DhCommit(_));
        if inherit && their_instance != InstanceTag::ZERO {
            let needs = p
                .instances
                .get(&their_instance)
                .is_some_and(|s| !s.auth.in_progress());
            if needs
                && let AuthState::AwaitingDhKey(master) = &p.master.auth
                && master.version == version
            {
                let copy = copy_awaiting_dh_key(master);
                if let Some(s) = p.instances.get_mut(&their_instance) {
                    s.auth = AuthState::AwaitingDhKey(Box::new(copy));
                }
            }
        }
        let Some(session) = p.session_mut(their_instance) else {
            return;
        };
        let auth = core::mem::take(&mut session.auth);
        let before = auth.name();
        let step: Step = match body {
            Body::DhCommit(c) => auth.handle_dh_commit(version, c, rng),
            Body::DhKey(k) => auth.handle_dh_key(version, k, &self.key, rng),
            Body::RevealSignature(r) => auth.handle_reveal_signature(version, r, &self.key, rng),
            Body::Signature(s) => auth.handle_signature(version, s),
            Body::Data(_) => return,
        };
        session.auth = step.state;
        if session.auth.name() != before || step.reply.is_some() {
            session.auth_since = now;
        }
        if let Some(reason) = step.ignored {
            out.event(Event::AkeIgnored {
                peer: peer.to_owned(),
                reason,
            });
        }
        if let Some(reply) = step.reply {
            self.transmit_body(out, peer, version, their_instance, reply);
        }
        if let Some(completed) = step.completed {
            self.go_encrypted(out, peer, their_instance, completed, now, rng);
        }
    }

    /// The AKE completed: enter (or re-enter) MSGSTATE_ENCRYPTED.
    fn go_encrypted<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        their_instance: InstanceTag,
        completed: Completed,
        now: u64,
        rng: &mut R,
    ) {
        let limits = self.config.retention;
        let resend_window = self.config.resend_window_secs;
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let fingerprint = completed.their_long_term.fingerprint();
        if let std::collections::btree_map::Entry::Vacant(slot) = p.fingerprints.entry(fingerprint)
        {
            slot.insert(String::new());
            out.event(Event::NewFingerprint {
                peer: peer.to_owned(),
                fingerprint,
            });
        }
        let stored = p.stored.take();
        let Some(session) = p.session_mut(their_instance) else {
            return;
        };
        let was_encrypted = matches!(session.msg, MsgState::Encrypted(_));
        let keys = KeyState::after_ake(
            completed.our_dh,
            completed.their_keyid,
            completed.their_dh,
            limits,
            rng,
        );
        session.msg = MsgState::Encrypted(Box::new(Encrypted {
            version: completed.version,
            their_long_term: LongTermKey::new(&completed.their_long_term),
            ssid: completed.ssid,
            we_revealed: completed.we_revealed,
            keys,
            smp: SmpSlot::default(),
        }));
        session.secured_at = now.max(session.secured_at.saturating_add(1));
        // The AKE messages we just sent count as sending (libotr: no heartbeat right after).
        session.last_sent = now;
        out.event(if was_encrypted {
            Event::StillSecure {
                peer: peer.to_owned(),
                instance: their_instance,
                is_reply: completed.we_revealed,
            }
        } else {
            Event::GoneSecure {
                peer: peer.to_owned(),
                instance: their_instance,
            }
        });
        if let Some(stored) = stored
            && stored.resend
            && now.saturating_sub(stored.at) <= resend_window
        {
            let text = stored.text.clone();
            let sent = self
                .send_data(out, peer, their_instance, text.as_bytes(), &[], 0, now)
                .is_ok();
            if sent && stored.sent {
                out.message_event(peer, MessageEvent::MsgResent, Some(text.to_string()));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn receive_data<R: CryptoRng + ?Sized>(
        &mut self,
        out: &mut Output,
        peer: &str,
        version: ProtocolVersion,
        their_instance: InstanceTag,
        data: &DataMessageRef<'_>,
        mac_input: &[u8],
        now: u64,
        rng: &mut R,
    ) {
        let ignore_unreadable = data.flags & wire::FLAG_IGNORE_UNREADABLE != 0;
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        // Borrowed apart: SMP outcomes update the trust while the session is in use.
        let fingerprints = &mut p.fingerprints;
        let session = if their_instance == InstanceTag::ZERO {
            Some(&mut p.master)
        } else {
            p.instances.get_mut(&their_instance).map(|s| &mut **s)
        };
        let Some(session) = session else {
            return;
        };
        let opened = match session.encrypted_mut() {
            Some(enc) if enc.version == version => enc.keys.open(data, mac_input, now, rng),
            _ => {
                if !ignore_unreadable {
                    out.message_event(peer, MessageEvent::ReceivedNotInPrivate, None);
                    self.reply_error(
                        out,
                        peer,
                        "You sent encrypted data to a peer who wasn't expecting it.",
                    );
                }
                return;
            }
        };
        let mut opened = match opened {
            Ok(o) => o,
            Err(DataError::Replay { .. }) => {
                out.message_event(peer, MessageEvent::ReceivedDuplicate, None);
                return;
            }
            Err(e) => {
                if !ignore_unreadable {
                    out.message_event(peer, MessageEvent::ReceivedUnreadable, Some(e.to_string()));
                    self.reply_error(
                        out,
                        peer,
                        "You transmitted an unreadable encrypted message.",
                    );
                }
                return;
            }
        };
        session.last_received = now;
        // Without a NUL the whole plaintext is the readable part: it moves on as it is (and
        // on to the application below), no copy made.
        let bytes = core::mem::replace(&mut opened.plaintext, SecretBytes::new(Vec::new()));
        let mut plaintext = if memchr::memchr(0, &bytes).is_some() {
            Plaintext::parse(&bytes)
        } else {
            let bytes = bytes.into_inner();
            Plaintext {
                message: bytes,
                tlvs: Vec::new(),
                trailing_garbage: 0,
            }
        };
        let heartbeat = plaintext.is_heartbeat();
        if heartbeat {
            out.message_event(peer, MessageEvent::HeartbeatReceived, None);
        } else {
            // The text moves into what the application gets: no copy is left behind.
            let text = match String::from_utf8(core::mem::take(&mut plaintext.message)) {
                Ok(text) => text,
                Err(e) => {
                    let bytes = Zeroizing::new(e.into_bytes());
                    String::from_utf8_lossy(&bytes).into_owned()
                }
            };
            out.received.push(Received {
                peer: peer.to_owned(),
                instance: their_instance,
                text,
                kind: ReceivedKind::Encrypted,
            });
        }
        let mut disconnected = false;
        let mut smp_replies = Vec::new();
        let mut smp_tlvs = 0usize;
        for t in &plaintext.tlvs {
            match t.kind {
                tlv::PADDING => continue,
                tlv::DISCONNECTED => disconnected = true,
                tlv::SMP1..=tlv::SMP1Q => {
                    smp_tlvs += 1;
                    // Beyond the limit a TLV is only reported (below).
                    let within = smp_tlvs <= MAX_SMP_TLVS_PER_MESSAGE;
                    if let Some(enc) = session.encrypted_mut().filter(|_| within) {
                        let (replies, event) = handle_smp(enc, fingerprints, t, rng);
                        smp_replies.extend(replies);
                        if let Some(event) = event {
                            let progress = event.progress();
                            let (event, question) = SmpEventKind::from_smp(event);
                            out.event(Event::Smp {
                                peer: peer.to_owned(),
                                instance: their_instance,
                                event,
                                progress,
                                question,
                            });
                        }
                    }
                }
                tlv::EXTRA_SYMMETRIC_KEY => {
                    let (usage, usedata) = match t.value.split_first_chunk::<4>() {
                        Some((u, rest)) => (u32::from_be_bytes(*u), rest.to_vec()),
                        None => (0, Vec::new()),
                    };
                    out.event(Event::ExtraKeyUsed {
                        peer: peer.to_owned(),
                        instance: their_instance,
                        usage,
                        usedata,
                        key: opened.extra_key.clone(),
                    });
                }
                _ => {}
            }
            out.tlvs.push(ReceivedTlv {
                peer: peer.to_owned(),
                instance: their_instance,
                tlv: t.clone(),
            });
        }
        if disconnected {
            if let MsgState::Encrypted(enc) = core::mem::take(&mut session.msg) {
                session.msg = MsgState::Finished {
                    version: enc.version,
                    their_long_term: enc.their_long_term.clone(),
                };
            }
            out.event(Event::GoneInsecure {
                peer: peer.to_owned(),
                instance: their_instance,
            });
            return;
        }
        // Like libotr, answer only messages with a readable part (a heartbeat never triggers
        // another heartbeat), and only if nothing else goes back (an SMP reply rotates keys
        // just as well).
        let heartbeat_due = self
            .config
            .heartbeat_interval
            .filter(|_| !heartbeat && smp_replies.is_empty())
            .is_some_and(|interval| session.last_sent.saturating_add(interval) < now);
        if !smp_replies.is_empty() {
            // Replies are a few kilobytes: fragmenting them cannot fail.
            let _ = self.send_smp(out, peer, their_instance, smp_replies, now);
        }
        if heartbeat_due {
            let sent = self.send_data(
                out,
                peer,
                their_instance,
                b"",
                &[],
                wire::FLAG_IGNORE_UNREADABLE,
                now,
            );
            if sent.is_ok() {
                out.message_event(peer, MessageEvent::HeartbeatSent, None);
            }
        }
    }

    fn reply_error(&self, out: &mut Output, peer: &str, text: &str) {
        if self.config.reply_to_unreadable {
            out.transmit.push(Transmit {
                peer: peer.to_owned(),
                message: wire::error_message(text),
            });
        }
    }

    /// Sends `text` to `peer` as the spec's "User types a message to be sent" says: encrypted
    /// in the best encrypted session, otherwise as the policy allows.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &str,
        text: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<Output, SendError> {
        // (A lookup first: `peer_mut` allocates the key to look it up.)
        let best = match self.peers.get(peer) {
            Some(p) => p.best(),
            None => self.peer_mut(peer).best(),
        };
        self.send_to(peer, best, text, &[], now, rng)
    }

    /// Sends `text` and `tlvs` to one instance of `peer` (`InstanceTag::ZERO`: the instance-less
    /// session, which is where plaintext and OTR v2 live).
    pub fn send_to<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &str,
        instance: InstanceTag,
        text: &str,
        tlvs: &[Tlv],
        now: u64,
        _rng: &mut R,
    ) -> Result<Output, SendError> {
        if memchr::memchr(0, text.as_bytes()).is_some() {
            return Err(SendError::NulInText);
        }
        let mut out = Output::default();
        let policy = self.config.policy;
        let versions = self.offered_versions();
        let p = match self.peers.get_mut(peer) {
            Some(p) => &mut **p,
            None => self.peer_mut(peer),
        };
        let state = p
            .session(instance)
            .map(|s| s.msg.public())
            .ok_or(SendError::NoSuchSession(instance))?;
        match state {
            crate::MessageState::Encrypted => {
                self.send_data(&mut out, peer, instance, text.as_bytes(), tlvs, 0, now)?;
                if let Some(p) = self.peers.get_mut(peer) {
                    keep_sent(&mut p.stored, text, now);
                }
                Ok(out)
            }
            // Like libotr, a message written after the peer ended the session is refused, not
            // kept: it must not go out later in a session the user did not write it for.
            crate::MessageState::Finished => Err(SendError::Finished),
            crate::MessageState::Plaintext => {
                if !policy.allows_otr() {
                    out.transmit.push(Transmit {
                        peer: peer.to_owned(),
                        message: text.to_owned(),
                    });
                    return Ok(out);
                }
                if policy.contains(Policy::REQUIRE_ENCRYPTION) {
                    p.stored = Some(Stored {
                        text: Zeroizing::new(text.to_owned()),
                        at: now,
                        resend: true,
                        sent: false,
                    });
                    out.message_event(peer, MessageEvent::EncryptionRequired, None);
                    out.transmit.push(Transmit {
                        peer: peer.to_owned(),
                        message: self.query_message(),
                    });
                    return Ok(out);
                }
                let mut message = text.to_owned();
                if policy.contains(Policy::SEND_WHITESPACE_TAG) && !p.seen_plaintext {
                    message.push_str(&wire::whitespace_tag(versions));
                }
                out.transmit.push(Transmit {
                    peer: peer.to_owned(),
                    message,
                });
                Ok(out)
            }
        }
    }

    /// Encrypts one data message in an encrypted session and queues it (fragmented as needed).
    #[allow(clippy::too_many_arguments)]
    fn send_data(
        &mut self,
        out: &mut Output,
        peer: &str,
        instance: InstanceTag,
        message: &[u8],
        tlvs: &[Tlv],
        flags: u8,
        now: u64,
    ) -> Result<Zeroizing<[u8; 32]>, SendError> {
        let our_instance = self.instance;
        let session = self
            .peers
            .get_mut(peer)
            .and_then(|p| p.session_mut(instance))
            .ok_or(SendError::NoSuchSession(instance))?;
        let enc = session
            .encrypted_mut()
            .ok_or(SendError::NoSuchSession(instance))?;
        let version = enc.version;
        let header = DataHeader {
            version,
            sender_instance: header_tag(version, our_instance),
            receiver_instance: header_tag(version, instance),
        };
        // The TLVs, if any, with the NUL that separates them from the readable part.
        let tlvs = SecretBytes::new(if tlvs.is_empty() {
            Vec::new()
        } else {
            Plaintext::encode(&[], tlvs)
        });
        // The encoding goes to the kept buffer: it holds only ciphertext once `seal` returns.
        let mut bytes = core::mem::take(&mut self.scratch);
        let extra = enc.keys.seal(header, flags, message, &tlvs, &mut bytes);
        let armored = extra.is_some().then(|| wire::armor(&bytes));
        if bytes.capacity() <= MAX_KEPT_SCRATCH {
            self.scratch = bytes;
        }
        let (Some(extra), Some(armored)) = (extra, armored) else {
            return Err(SendError::NoSuchSession(instance));
        };
        session.last_sent = now;
        self.push_armored(
            out,
            peer,
            version,
            header_tag(version, our_instance),
            header_tag(version, instance),
            armored,
        )?;
        Ok(extra)
    }

    /// Wraps an AKE body in its header and queues it.
    fn transmit_body(
        &self,
        out: &mut Output,
        peer: &str,
        version: ProtocolVersion,
        their_instance: InstanceTag,
        body: Body,
    ) {
        let encoded = Encoded {
            version,
            sender_instance: header_tag(version, self.instance),
            receiver_instance: header_tag(version, their_instance),
            body,
        };
        // AKE messages are a few hundred bytes: fragmenting them cannot fail.
        let _ = self.push_encoded(out, peer, &encoded);
    }

    /// Armors, fragments (if configured) and queues one encoded message.
    fn push_encoded(
        &self,
        out: &mut Output,
        peer: &str,
        encoded: &Encoded,
    ) -> Result<(), SendError> {
        self.push_armored(
            out,
            peer,
            encoded.version,
            encoded.sender_instance,
            encoded.receiver_instance,
            encoded.to_armored(),
        )
    }

    /// Fragments (if configured) and queues one armored message.
    fn push_armored(
        &self,
        out: &mut Output,
        peer: &str,
        version: ProtocolVersion,
        sender: InstanceTag,
        receiver: InstanceTag,
        armored: String,
    ) -> Result<(), SendError> {
        let max = self.config.max_message_size;
        if max == 0 || armored.len() <= max {
            out.transmit.push(Transmit {
                peer: peer.to_owned(),
                message: armored,
            });
            return Ok(());
        }
        let format = match version {
            ProtocolVersion::V2 => FragmentFormat::V2,
            ProtocolVersion::V3 => FragmentFormat::V3 { sender, receiver },
        };
        let pieces = fragment::fragment(&armored, max, format)
            .map_err(|e| SendError::TooLarge(e.to_string()))?;
        out.transmit
            .extend(pieces.into_iter().map(|message| Transmit {
                peer: peer.to_owned(),
                message,
            }));
        Ok(())
    }

    /// Uses the extra symmetric key (TLV 8) with the best encrypted session of `peer`: sends
    /// the TLV with `usage` and `usedata` and returns the key (OTR v3, "Extra symmetric key").
    pub fn use_extra_symmetric_key(
        &mut self,
        peer: &str,
        instance: Option<InstanceTag>,
        usage: u32,
        usedata: &[u8],
        now: u64,
    ) -> Result<(Zeroizing<[u8; 32]>, Output), SendError> {
        let instance = match instance {
            Some(i) => i,
            None => self
                .peers
                .get(peer)
                .map(|p| p.best())
                .ok_or(SendError::NoSuchSession(InstanceTag::ZERO))?,
        };
        let mut value = usage.to_be_bytes().to_vec();
        value.extend_from_slice(usedata);
        let mut out = Output::default();
        let key = self.send_data(
            &mut out,
            peer,
            instance,
            b"",
            &[Tlv::new(tlv::EXTRA_SYMMETRIC_KEY, value)],
            wire::FLAG_IGNORE_UNREADABLE,
            now,
        )?;
        Ok((key, out))
    }

    /// The user asks to verify the peer with the Socialist Millionaires' Protocol: starts a run
    /// in the encrypted session with `instance` of `peer` (`None`: the session [`Self::send`]
    /// would use) comparing `secret`, optionally showing the peer `question` (SMP1Q). The
    /// secret compared is the spec's hash of our fingerprint, the peer's, the session id and
    /// `secret` ("User requests to begin SMP"). A run already underway is abandoned and the
    /// peer told so first.
    ///
    /// The outcome arrives later as [`Event::Smp`] events: [`SmpEventKind::InProgress`], then
    /// [`SmpEventKind::Success`] or [`SmpEventKind::Failure`] (or an abort, cheating or an
    /// error).
    pub fn smp_start<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &str,
        instance: Option<InstanceTag>,
        secret: &[u8],
        question: Option<&str>,
        now: u64,
        rng: &mut R,
    ) -> Result<Output, SmpRequestError> {
        let ours = self.fingerprint();
        let (instance, enc) = self.encrypted_session(peer, instance)?;
        let theirs = enc.their_long_term.fingerprint();
        let secret = SmpSecret::new(&ours, &theirs, &enc.ssid, secret);
        let tlvs = enc.smp.start(&secret, question, rng);
        enc.smp.settle();
        let tlvs = tlvs?;
        let mut out = Output::default();
        self.send_smp(&mut out, peer, instance, tlvs, now)?;
        Ok(out)
    }

    /// The user's answer to the peer's SMP request ([`SmpEventKind::AskForSecret`] or
    /// [`SmpEventKind::AskForAnswer`]) in the session with `instance` of `peer` (`None`: the
    /// session [`Self::send`] would use; when the peer has several instances, pass the one
    /// the request's [`Event::Smp`] names). The secret compared is the spec's hash of the
    /// peer's fingerprint (the initiator's), ours, the session id and `secret`.
    pub fn smp_respond<R: CryptoRng + ?Sized>(
        &mut self,
        peer: &str,
        instance: Option<InstanceTag>,
        secret: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Output, SmpRequestError> {
        let ours = self.fingerprint();
        let (instance, enc) = self.encrypted_session(peer, instance)?;
        if !enc.smp.is_awaiting_secret() {
            return Err(SmpError::NotAwaitingSecret {
                expecting: enc.smp.expecting(),
            }
            .into());
        }
        let theirs = enc.their_long_term.fingerprint();
        let secret = SmpSecret::new(&theirs, &ours, &enc.ssid, secret);
        let tlvs = enc.smp.respond(&secret, rng);
        enc.smp.settle();
        let tlvs = tlvs?;
        let mut out = Output::default();
        self.send_smp(&mut out, peer, instance, tlvs, now)?;
        Ok(out)
    }

    /// The user aborts SMP in the session with `instance` of `peer` (`None`: the session
    /// [`Self::send`] would use): the run, if any, is forgotten and the peer is sent an abort
    /// (in every state, as the spec says).
    pub fn smp_abort(
        &mut self,
        peer: &str,
        instance: Option<InstanceTag>,
        now: u64,
    ) -> Result<Output, SmpRequestError> {
        let (instance, enc) = self.encrypted_session(peer, instance)?;
        let tlvs = enc.smp.abort();
        enc.smp.settle();
        let mut out = Output::default();
        self.send_smp(&mut out, peer, instance, tlvs, now)?;
        Ok(out)
    }

    /// The encrypted session with `instance` of `peer` (`None`: the best one), and its tag.
    fn encrypted_session(
        &mut self,
        peer: &str,
        instance: Option<InstanceTag>,
    ) -> Result<(InstanceTag, &mut Encrypted), SmpRequestError> {
        let p = self.peers.get_mut(peer);
        let instance = instance
            .or_else(|| p.as_ref().map(|p| p.best()))
            .unwrap_or(InstanceTag::ZERO);
        p.and_then(|p| p.session_mut(instance))
            .and_then(Session::encrypted_mut)
            .map(|enc| (instance, enc))
            .ok_or(SmpRequestError::NotEncrypted(instance))
    }

    /// Sends SMP TLVs, each in its own data message with an empty text and the
    /// IGNORE_UNREADABLE flag. One per message because libotr reads the SMP TLVs of a message
    /// in a fixed order of types, not in the order they were written: an abort followed by a
    /// new request in one message would cancel the request.
    fn send_smp(
        &mut self,
        out: &mut Output,
        peer: &str,
        instance: InstanceTag,
        tlvs: Vec<Tlv>,
        now: u64,
    ) -> Result<(), SendError> {
        for t in tlvs {
            self.send_data(
                out,
                peer,
                instance,
                b"",
                core::slice::from_ref(&t),
                wire::FLAG_IGNORE_UNREADABLE,
                now,
            )?;
        }
        Ok(())
    }

    /// Ends the private conversation with one instance of `peer`, or with every instance if
    /// `None` (as libotr's disconnect does): sends TLV 1 revealing every MAC key not yet
    /// revealed, then forgets the keys ("User requests to end an OTR conversation"). A finished
    /// session becomes plaintext.
    pub fn disconnect(&mut self, peer: &str, instance: Option<InstanceTag>, now: u64) -> Output {
        let mut out = Output::default();
        let targets: Vec<InstanceTag> = match instance {
            Some(i) => vec![i],
            None => self
                .peers
                .get(peer)
                .map(|p| {
                    core::iter::once(InstanceTag::ZERO)
                        .chain(p.instances.keys().copied())
                        .collect()
                })
                .unwrap_or_default(),
        };
        for instance in targets {
            self.disconnect_one(&mut out, peer, instance, now);
        }
        if let Some(p) = self.peers.get_mut(peer) {
            p.seen_plaintext = false;
        }
        out
    }

    fn disconnect_one(&mut self, out: &mut Output, peer: &str, instance: InstanceTag, now: u64) {
        let Some(session) = self
            .peers
            .get_mut(peer)
            .and_then(|p| p.session_mut(instance))
        else {
            return;
        };
        match session.msg.public() {
            crate::MessageState::Encrypted => {
                if let Some(enc) = session.encrypted_mut() {
                    let all = enc.keys.reveal_all();
                    enc.keys.to_reveal = all;
                }
                let _ = self.send_data(
                    out,
                    peer,
                    instance,
                    b"",
                    &[Tlv::new(tlv::DISCONNECTED, Vec::new())],
                    wire::FLAG_IGNORE_UNREADABLE,
                    now,
                );
                if let Some(s) = self
                    .peers
                    .get_mut(peer)
                    .and_then(|p| p.session_mut(instance))
                {
                    s.msg = MsgState::Plaintext;
                }
            }
            crate::MessageState::Finished => session.msg = MsgState::Plaintext,
            crate::MessageState::Plaintext => {}
        }
    }

    /// Lets timers run: expires retained keys, partial fragments and stored messages.
    pub fn poll(&mut self, now: u64) -> Output {
        let resend = self.config.resend_window_secs;
        let ake_timeout = self.config.ake_timeout_secs;
        for p in self.peers.values_mut() {
            p.reassembler.expire(now);
            if p.stored
                .as_ref()
                .is_some_and(|s| now.saturating_sub(s.at) > resend)
            {
                p.stored = None;
            }
            for s in
                core::iter::once(&mut p.master).chain(p.instances.values_mut().map(|s| &mut **s))
            {
                if s.auth.in_progress() && now.saturating_sub(s.auth_since) > ake_timeout {
                    s.auth = AuthState::None;
                }
                if let Some(enc) = s.encrypted_mut() {
                    enc.keys.expire(now);
                }
            }
        }
        Output::default()
    }

    /// The status of one session with `peer` (`None` for the instance: the best one).
    pub fn status(&self, peer: &str, instance: Option<InstanceTag>) -> Option<SessionStatus> {
        let p = self.peers.get(peer)?;
        let instance = instance.unwrap_or_else(|| p.best());
        let s = p.session(instance)?;
        let (version, fingerprint, ssid) = match &s.msg {
            MsgState::Plaintext => (None, None, None),
            MsgState::Encrypted(e) => (
                Some(e.version.number()),
                Some(e.their_long_term.fingerprint()),
                Some(Ssid {
                    bytes: e.ssid,
                    first_half_bold: e.we_revealed,
                }),
            ),
            MsgState::Finished {
                version,
                their_long_term,
            } => (
                Some(version.number()),
                Some(their_long_term.fingerprint()),
                None,
            ),
        };
        let smp = match &s.msg {
            MsgState::Encrypted(e) => SmpStatus::of(&e.smp),
            MsgState::Plaintext | MsgState::Finished { .. } => SmpStatus::of(&Smp::new()),
        };
        Some(SessionStatus {
            message_state: s.msg.public(),
            version,
            their_instance: s.their_instance,
            our_instance: self.instance,
            their_fingerprint: fingerprint,
            ssid,
            ake_in_progress: s.auth.in_progress(),
            smp,
        })
    }

    /// The instances of `peer` we have sessions with (not counting the instance-less one).
    pub fn instances(&self, peer: &str) -> Vec<InstanceTag> {
        self.peers
            .get(peer)
            .map(|p| p.instances.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The trust word recorded for a fingerprint of `peer` (empty if untrusted), if the
    /// fingerprint is known.
    pub fn trust(&self, peer: &str, fingerprint: &[u8; 20]) -> Option<&str> {
        self.peers
            .get(peer)?
            .fingerprints
            .get(fingerprint)
            .map(String::as_str)
    }

    /// The peers this endpoint keeps state for (sessions or known fingerprints), in order.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }

    /// The fingerprints known for `peer` (seen in an AKE, or recorded with
    /// [`Self::set_trust`]) with their trust words (empty: untrusted), in byte order. With
    /// [`Self::peers`], this is what libotr's `otr.fingerprints` file holds for one account
    /// ([`crate::keyfile::write_fingerprints`]).
    pub fn fingerprints(&self, peer: &str) -> Vec<([u8; 20], &str)> {
        self.peers
            .get(peer)
            .map(|p| {
                p.fingerprints
                    .iter()
                    .map(|(fp, word)| (*fp, word.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records `word` as the trust of a fingerprint of `peer`: a fingerprint verified by hand
    /// (libotr's applications write `"verified"`), or an empty word to revoke the trust. The
    /// outcome of an SMP run is recorded without this call (`"smp"`, see the module
    /// documentation). A fingerprint not seen before becomes known, as when importing libotr's
    /// `otr.fingerprints`.
    pub fn set_trust(&mut self, peer: &str, fingerprint: [u8; 20], word: &str) {
        self.peer_mut(peer)
            .fingerprints
            .insert(fingerprint, word.to_owned());
    }
}

/// Hands a received SMP TLV to the session's state machine and records the outcome of a
/// finished run as the trust of the peer's fingerprint, as libotr does (see the module
/// documentation). Returns the TLVs to send back and the event.
fn handle_smp<R: CryptoRng + ?Sized>(
    enc: &mut Encrypted,
    fingerprints: &mut BTreeMap<[u8; 20], String>,
    t: &Tlv,
    rng: &mut R,
) -> (Vec<Tlv>, Option<SmpEvent>) {
    let records_trust = !enc.smp.is_answering_question();
    let (replies, event) = enc.smp.handle(t, rng);
    enc.smp.settle();
    let trust = match event {
        Some(SmpEvent::Success) => Some("smp"),
        Some(SmpEvent::Failure) => Some(""),
        _ => None,
    };
    if let Some(word) = trust.filter(|_| records_trust) {
        fingerprints.insert(enc.their_long_term.fingerprint(), word.to_owned());
    }
    (replies, event)
}

/// The instance tag to put in a header: v2 headers carry none.
/// Keeps `text`, just sent encrypted, as the message to resend if the peer could not read it.
/// The previous one is wiped and its buffer reused (no allocation when it is large enough).
fn keep_sent(stored: &mut Option<Stored>, text: &str, now: u64) {
    match stored {
        Some(old) => {
            // Wipes the text in bulk (its spare capacity never holds any: it is wiped before
            // every reuse) and reuses the buffer.
            old.text.as_mut_str().zeroize();
            old.text.clear();
            old.text.push_str(text);
            old.at = now;
            old.resend = false;
            old.sent = true;
        }
        None => {
            *stored = Some(Stored {
                text: Zeroizing::new(text.to_owned()),
                at: now,
                resend: false,
                sent: true,
            });
        }
    }
}

fn header_tag(version: ProtocolVersion, tag: InstanceTag) -> InstanceTag {
    match version {
        ProtocolVersion::V2 => InstanceTag::ZERO,
        ProtocolVersion::V3 => tag,
    }
}

/// A copy of the master session's pending D-H Commit for one instance that answered it.
fn copy_awaiting_dh_key(state: &AwaitingDhKey) -> AwaitingDhKey {
    AwaitingDhKey {
        version: state.version,
        our_dh: state.our_dh.duplicate(),
        r: state.r.clone(),
        commit: state.commit.clone(),
    }
}
