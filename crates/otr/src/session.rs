//! One OTR session: the state kept per (peer, peer instance) (OTR v3, "The protocol state
//! machine": msgstate and authstate).
//!
//! ```text
//!                 AKE completes                 TLV 1 received
//!   PLAINTEXT ------------------> ENCRYPTED -------------------> FINISHED
//!       ^                            |                              |
//!       +---- user ends session -----+------- user ends session ----+
//! ```
//!
//! The SMP state machine ([`Smp`]) lives inside the ENCRYPTED state, so it cannot outlive it:
//! leaving ENCRYPTED drops any run ("If at any point MSGSTATE_ENCRYPTED becomes unset, SMP
//! must abandon its state"), and so does a new AKE over an encrypted session, which replaces
//! the state with a fresh one (the run's secret was bound to the old session id and maybe to
//! another long-term key, so its outcome would say nothing about the new session).

use offrecord_crypto::dsa::DsaPublicKey;

use crate::wire::codec::put_data;

use crate::InstanceTag;
use crate::ake::AuthState;
use crate::data::KeyState;
use crate::smp::Smp;
use crate::wire::ProtocolVersion;

/// The message state (`msgstate`), as reported to applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageState {
    /// Outgoing messages are sent in the clear (or refused, by policy).
    Plaintext,
    /// Outgoing messages are encrypted.
    Encrypted,
    /// The peer ended the session; outgoing messages are refused.
    Finished,
}

impl MessageState {
    /// The lowercase name used by the peer protocol.
    pub fn name(self) -> &'static str {
        match self {
            MessageState::Plaintext => "plaintext",
            MessageState::Encrypted => "encrypted",
            MessageState::Finished => "finished",
        }
    }
}

/// The peer's long-term DSA public key as a session keeps it: its four components as the
/// pickle writes them (DATA p, q, g, y) and its fingerprint.
///
/// The key's arithmetic form ([`DsaPublicKey`], with precomputed Montgomery parameters, a few
/// kilobytes) is needed only to verify the AKE signature; an established session needs no more
/// than what it shows and saves, about 450 bytes.
#[derive(Clone)]
pub(crate) struct LongTermKey {
    fingerprint: [u8; 20],
    encoded: Box<[u8]>,
}

impl LongTermKey {
    pub(crate) fn new(key: &DsaPublicKey) -> LongTermKey {
        let components = key.components();
        let mut encoded = Vec::with_capacity(components.iter().map(|c| 4 + c.len()).sum());
        for part in &components {
            put_data(&mut encoded, part);
        }
        LongTermKey {
            fingerprint: key.fingerprint(),
            encoded: encoded.into_boxed_slice(),
        }
    }

    /// The fingerprint (SHA-1 of the key's encoding, as libotr computes it).
    pub(crate) fn fingerprint(&self) -> [u8; 20] {
        self.fingerprint
    }

    /// DATA p, DATA q, DATA g, DATA y.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

/// The state of an encrypted session.
pub(crate) struct Encrypted {
    pub(crate) version: ProtocolVersion,
    pub(crate) their_long_term: LongTermKey,
    pub(crate) ssid: [u8; 8],
    pub(crate) we_revealed: bool,
    pub(crate) keys: KeyState,
    /// The SMP run of this session (idle until someone starts one).
    pub(crate) smp: SmpSlot,
}

/// The SMP state machine of a session, on the heap only while a run is underway: an idle
/// session does not carry the state machine's kilobyte (its largest state holds several group
/// elements inline).
///
/// Reading an idle slot sees an idle [`Smp`]; writing boxes one. Call [`SmpSlot::settle`]
/// after a step that may have ended the run.
#[derive(Default)]
pub(crate) struct SmpSlot {
    run: Option<Box<Smp>>,
}

/// What an idle slot reads as.
static IDLE_SMP: std::sync::LazyLock<Smp> = std::sync::LazyLock::new(Smp::new);

impl SmpSlot {
    /// Frees the state machine if it is back to idle.
    pub(crate) fn settle(&mut self) {
        if self.run.as_ref().is_some_and(|smp| !smp.is_in_progress()) {
            self.run = None;
        }
    }
}

impl From<Smp> for SmpSlot {
    fn from(smp: Smp) -> SmpSlot {
        let mut slot = SmpSlot {
            run: Some(Box::new(smp)),
        };
        slot.settle();
        slot
    }
}

impl core::ops::Deref for SmpSlot {
    type Target = Smp;

    fn deref(&self) -> &Smp {
        self.run.as_deref().unwrap_or(&IDLE_SMP)
    }
}

impl core::ops::DerefMut for SmpSlot {
    fn deref_mut(&mut self) -> &mut Smp {
        self.run.get_or_insert_with(|| Box::new(Smp::new()))
    }
}

/// `msgstate` with the data each state carries.
#[derive(Default)]
pub(crate) enum MsgState {
    #[default]
    Plaintext,
    Encrypted(Box<Encrypted>),
    Finished {
        /// The version and key of the session that ended, kept for status display.
        version: ProtocolVersion,
        their_long_term: LongTermKey,
    },
}

impl MsgState {
    pub(crate) fn public(&self) -> MessageState {
        match self {
            MsgState::Plaintext => MessageState::Plaintext,
            MsgState::Encrypted(_) => MessageState::Encrypted,
            MsgState::Finished { .. } => MessageState::Finished,
        }
    }
}

/// Everything kept for one remote instance of a peer.
#[derive(Default)]
pub(crate) struct Session {
    pub(crate) their_instance: InstanceTag,
    pub(crate) auth: AuthState,
    pub(crate) msg: MsgState,
    /// When we last sent a data message (seconds).
    pub(crate) last_sent: u64,
    /// When we last received a data message.
    pub(crate) last_received: u64,
    /// When the session last became encrypted (for choosing the best instance).
    pub(crate) secured_at: u64,
    /// When the current AKE state was entered (for expiring a stale one).
    pub(crate) auth_since: u64,
}

impl Session {
    pub(crate) fn new(their_instance: InstanceTag) -> Session {
        Session {
            their_instance,
            ..Session::default()
        }
    }

    pub(crate) fn encrypted_mut(&mut self) -> Option<&mut Encrypted> {
        match &mut self.msg {
            MsgState::Encrypted(e) => Some(e),
            _ => None,
        }
    }
}

/// A read-only view of a session for applications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    /// The message state.
    pub message_state: MessageState,
    /// The protocol version of the current (or last) encrypted session, if any.
    pub version: Option<u16>,
    /// The peer's instance tag (ZERO for OTR v2 or no session).
    pub their_instance: InstanceTag,
    /// Our instance tag.
    pub our_instance: InstanceTag,
    /// The fingerprint of the peer's long-term key in the current (or last) session.
    pub their_fingerprint: Option<[u8; 20]>,
    /// The secure session id of the current encrypted session.
    pub ssid: Option<Ssid>,
    /// Whether an AKE is in progress.
    pub ake_in_progress: bool,
    /// Where SMP stands in this session (idle unless it is encrypted).
    pub smp: SmpStatus,
}

/// Where the Socialist Millionaires' Protocol stands in one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmpStatus {
    /// The spec's `smpstate`: the number of the next SMP message expected, 1 to 4 (1 also
    /// while a peer's request waits for our user's answer, as in the spec).
    pub expecting: u8,
    /// libotr's `nextExpected` for the same state (`expecting - 1`: 0 idle, 1 after sending
    /// SMP1, 2 after SMP2, 3 after SMP3), which the peer protocol's `status` prints.
    pub libotr_next_expected: u32,
    /// Whether a peer's request waits for [`Endpoint::smp_respond`](crate::Endpoint::smp_respond).
    pub awaiting_secret: bool,
    /// The question of that request, if it has one.
    pub question: Option<String>,
    /// Progress on libotr's scale: 0 idle, 20 after sending SMP1, 25 asked for the secret,
    /// 60 after sending SMP2 or SMP3.
    pub progress: u8,
}

impl SmpStatus {
    /// The status of `smp`.
    pub(crate) fn of(smp: &Smp) -> SmpStatus {
        SmpStatus {
            expecting: smp.expecting(),
            libotr_next_expected: smp.libotr_next_expected(),
            awaiting_secret: smp.is_awaiting_secret(),
            question: smp.pending_question().map(str::to_owned),
            progress: smp.progress(),
        }
    }
}

/// The 64-bit secure session id, with the spec's rule for which half is shown in bold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ssid {
    /// The 8 bytes.
    pub bytes: [u8; 8],
    /// Whether the first half is the bold one (we sent the Reveal Signature message);
    /// otherwise the second half is.
    pub first_half_bold: bool,
}

impl Ssid {
    /// Lowercase hex of all 8 bytes.
    pub fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The two halves as the spec displays them (`%08x`), with the bold one marked by `*`:
    /// for example `*1a2b3c4d* 5e6f7081`.
    pub fn display(&self) -> String {
        let (a, b) = self.bytes.split_at(4);
        let hex = |h: &[u8]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        if self.first_half_bold {
            format!("*{}* {}", hex(a), hex(b))
        } else {
            format!("{} *{}*", hex(a), hex(b))
        }
    }
}
