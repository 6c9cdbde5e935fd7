//! What the endpoint hands back to the application: messages to transmit, text to show, and
//! events (the sans-IO counterpart of libotr's callbacks).

use zeroize::Zeroizing;

use crate::InstanceTag;
use crate::smp::{InvalidSmpMessage, SmpEvent};
use crate::tlv::Tlv;

/// Everything one call into the [`Endpoint`](crate::Endpoint) produced, in order of
/// occurrence within each list.
#[must_use = "wire messages in an Output must be transmitted"]
#[derive(Debug, Default)]
pub struct Output {
    /// Wire messages (or fragments) to transmit, in order.
    pub transmit: Vec<Transmit>,
    /// Text for the local user.
    pub received: Vec<Received>,
    /// TLVs (other than padding) that arrived in data messages.
    pub tlvs: Vec<ReceivedTlv>,
    /// Notifications.
    pub events: Vec<Event>,
}

impl Output {
    /// Appends everything in `other`.
    pub fn extend(&mut self, other: Output) {
        self.transmit.extend(other.transmit);
        self.received.extend(other.received);
        self.tlvs.extend(other.tlvs);
        self.events.extend(other.events);
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    pub(crate) fn message_event(&mut self, peer: &str, kind: MessageEvent, text: Option<String>) {
        self.events.push(Event::Message {
            peer: peer.to_owned(),
            kind,
            text,
        });
    }
}

/// One wire message to send to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The peer's account name.
    pub peer: String,
    /// The message or fragment, ready for the transport.
    pub message: String,
}

/// How a received text reached the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceivedKind {
    /// Decrypted from an OTR data message.
    Encrypted,
    /// Plaintext that carried a whitespace tag (removed).
    TaggedPlaintext,
    /// Plaintext that was not OTR at all.
    Plaintext,
}

/// Text for the local user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The peer's account name.
    pub peer: String,
    /// The peer's instance tag (ZERO for plaintext and OTR v2).
    pub instance: InstanceTag,
    /// The text (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
    /// How it arrived.
    pub kind: ReceivedKind,
}

/// A TLV that arrived in a data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedTlv {
    /// The peer's account name.
    pub peer: String,
    /// The peer's instance tag.
    pub instance: InstanceTag,
    /// The record.
    pub tlv: Tlv,
}

/// libotr's message events (`OTRL_MSGEVENT_*`), plus what this crate adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageEvent {
    /// Encryption is required; the message was stored and a query sent instead.
    EncryptionRequired,
    /// A message could not be encrypted.
    EncryptionError,
    /// The peer ended the private conversation; the message was not sent.
    ConnectionEnded,
    /// The AKE failed (the text says why).
    SetupError,
    /// We received our own OTR message back.
    MsgReflected,
    /// A stored message was sent after the session became encrypted.
    MsgResent,
    /// An encrypted message arrived while no private session existed.
    ReceivedNotInPrivate,
    /// An encrypted message could not be read.
    ReceivedUnreadable,
    /// A malformed OTR message arrived.
    ReceivedMalformed,
    /// A heartbeat arrived.
    HeartbeatReceived,
    /// A heartbeat was sent.
    HeartbeatSent,
    /// The peer sent an OTR error message (text attached).
    ReceivedGeneralError,
    /// A plaintext message arrived while encrypted or while encryption is required (text
    /// attached; it is not delivered as a normal message).
    ReceivedUnencrypted,
    /// An OTR message of an unrecognized type arrived.
    ReceivedUnrecognized,
    /// A message for another instance of our account arrived and was ignored.
    ReceivedForOtherInstance,
    /// A data message that was already received (email duplicate or replay) was ignored.
    /// Not a libotr event: libotr reports these as unreadable.
    ReceivedDuplicate,
}

impl MessageEvent {
    /// libotr's name without the `OTRL_MSGEVENT_` prefix (the peer protocol's names).
    pub fn name(self) -> &'static str {
        match self {
            MessageEvent::EncryptionRequired => "ENCRYPTION_REQUIRED",
            MessageEvent::EncryptionError => "ENCRYPTION_ERROR",
            MessageEvent::ConnectionEnded => "CONNECTION_ENDED",
            MessageEvent::SetupError => "SETUP_ERROR",
            MessageEvent::MsgReflected => "MSG_REFLECTED",
            MessageEvent::MsgResent => "MSG_RESENT",
            MessageEvent::ReceivedNotInPrivate => "RCVDMSG_NOT_IN_PRIVATE",
            MessageEvent::ReceivedUnreadable => "RCVDMSG_UNREADABLE",
            MessageEvent::ReceivedMalformed => "RCVDMSG_MALFORMED",
            MessageEvent::HeartbeatReceived => "LOG_HEARTBEAT_RCVD",
            MessageEvent::HeartbeatSent => "LOG_HEARTBEAT_SENT",
            MessageEvent::ReceivedGeneralError => "RCVDMSG_GENERAL_ERR",
            MessageEvent::ReceivedUnencrypted => "RCVDMSG_UNENCRYPTED",
            MessageEvent::ReceivedUnrecognized => "RCVDMSG_UNRECOGNIZED",
            MessageEvent::ReceivedForOtherInstance => "RCVDMSG_FOR_OTHER_INSTANCE",
            MessageEvent::ReceivedDuplicate => "RCVDMSG_DUPLICATE",
        }
    }
}

/// A notification for the application.
#[derive(Debug)]
pub enum Event {
    /// A session became encrypted (an AKE completed in a plaintext or finished session).
    GoneSecure {
        /// The peer.
        peer: String,
        /// The peer's instance.
        instance: InstanceTag,
    },
    /// A session left the encrypted state because the peer ended it (TLV 1 received).
    GoneInsecure {
        /// The peer.
        peer: String,
        /// The peer's instance.
        instance: InstanceTag,
    },
    /// A new AKE completed over an encrypted session.
    StillSecure {
        /// The peer.
        peer: String,
        /// The peer's instance.
        instance: InstanceTag,
        /// Whether we started that AKE (libotr's `is_reply`).
        is_reply: bool,
    },
    /// The peer authenticated with a long-term key never seen for it before.
    NewFingerprint {
        /// The peer.
        peer: String,
        /// SHA-1 fingerprint of the key.
        fingerprint: [u8; 20],
    },
    /// A libotr-style message event.
    Message {
        /// The peer.
        peer: String,
        /// Which event.
        kind: MessageEvent,
        /// Text attached to the event (the unencrypted message, an error text...).
        text: Option<String>,
    },
    /// The peer used the extra symmetric key (TLV 8).
    ExtraKeyUsed {
        /// The peer.
        peer: String,
        /// The peer's instance.
        instance: InstanceTag,
        /// The 4-byte use indicator.
        usage: u32,
        /// Use-specific data.
        usedata: Vec<u8>,
        /// The key.
        key: Zeroizing<[u8; 32]>,
    },
    /// A step of the Socialist Millionaires' Protocol (libotr's `handle_smp_event`).
    Smp {
        /// The peer.
        peer: String,
        /// The peer's instance (the session the run belongs to).
        instance: InstanceTag,
        /// What happened.
        event: SmpEventKind,
        /// libotr's progress percentage: 25 asked, 60 in progress, 100 finished, 0 for aborts
        /// and errors.
        progress: u8,
        /// The peer's question, with [`SmpEventKind::AskForAnswer`] only.
        question: Option<String>,
    },
    /// The AKE ignored a message (not an error for the user; useful for diagnostics).
    AkeIgnored {
        /// The peer.
        peer: String,
        /// Why.
        reason: crate::ake::AkeError,
    },
}

/// What happened in an SMP run: libotr's `OtrlSMPEvent` values (without `NONE`).
///
/// After [`SmpEventKind::Cheated`] and [`SmpEventKind::Error`] the run is over and an abort has
/// already been sent to the peer (what libotr leaves to the application).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmpEventKind {
    /// The peer started SMP without a question: ask the user for the shared secret, then call
    /// [`Endpoint::smp_respond`](crate::Endpoint::smp_respond).
    AskForSecret,
    /// The peer started SMP with a question (in the event): ask the user for the answer,
    /// then call [`Endpoint::smp_respond`](crate::Endpoint::smp_respond).
    AskForAnswer,
    /// Our SMP3 is on its way; the outcome comes with the peer's last message.
    InProgress,
    /// The secrets are equal: the peer is who the user thinks.
    Success,
    /// The secrets differ.
    Failure,
    /// The peer aborted SMP (reported even when no run was underway here, as libotr does).
    Abort,
    /// A message from the peer failed a check of the protocol; the run is over.
    Cheated(InvalidSmpMessage),
    /// An SMP message arrived out of order; the run is over.
    Error {
        /// The SMP message number that was expected (1 to 4).
        expected: u8,
        /// The TLV type that arrived.
        received: u16,
    },
}

impl SmpEventKind {
    /// libotr's name without the `OTRL_SMPEVENT_` prefix (the peer protocol's names).
    pub fn name(&self) -> &'static str {
        match self {
            SmpEventKind::AskForSecret => "ASK_FOR_SECRET",
            SmpEventKind::AskForAnswer => "ASK_FOR_ANSWER",
            SmpEventKind::InProgress => "IN_PROGRESS",
            SmpEventKind::Success => "SUCCESS",
            SmpEventKind::Failure => "FAILURE",
            SmpEventKind::Abort => "ABORT",
            SmpEventKind::Cheated(_) => "CHEATED",
            SmpEventKind::Error { .. } => "ERROR",
        }
    }

    /// The event kind and the question (for [`SmpEventKind::AskForAnswer`]) of a state
    /// machine event.
    pub(crate) fn from_smp(event: SmpEvent) -> (SmpEventKind, Option<String>) {
        match event {
            SmpEvent::AskForSecret { question: None } => (SmpEventKind::AskForSecret, None),
            SmpEvent::AskForSecret {
                question: Some(question),
            } => (SmpEventKind::AskForAnswer, Some(question)),
            SmpEvent::InProgress => (SmpEventKind::InProgress, None),
            SmpEvent::Success => (SmpEventKind::Success, None),
            SmpEvent::Failure => (SmpEventKind::Failure, None),
            SmpEvent::Aborted => (SmpEventKind::Abort, None),
            SmpEvent::Cheated(why) => (SmpEventKind::Cheated(why), None),
            SmpEvent::Error { expected, received } => {
                (SmpEventKind::Error { expected, received }, None)
            }
        }
    }
}
