//! The chat layer's vocabulary: ids, chat kinds and states, verification levels, erasure modes,
//! and why a chat cannot be written to.

use core::fmt;

/// A chat's id in this device's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChatId(pub i64);

/// A contact's id in this device's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactId(pub i64);

/// A message's id in this device's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub i64);

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The kind of a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatKind {
    /// The ordinary encrypted 1:1 chat with a contact (carries invitations).
    OneToOne,
    /// An Off-the-Record chat between this device and one device of the contact.
    Otr,
}

/// The lifecycle state of an OTR chat (design section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtrState {
    /// We invited; the contact has not accepted yet.
    Pending,
    /// The contact invited us; we have not answered.
    Invited,
    /// The invitation was accepted; the key exchange is running.
    Connecting,
    /// Messages can be exchanged.
    Active,
    /// One side closed the chat; it is read-only.
    Closed,
    /// The invitation was declined.
    Declined,
    /// The invitation ran out before anyone accepted it, or the key exchange never finished.
    Expired,
    /// The key exchange failed (for example a key that differs from the announced one).
    Failed,
    /// Another device of our account answered this invitation (or started it); this device
    /// only shows it.
    Elsewhere,
}

impl OtrState {
    /// The name stored in the database and shown by `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtrState::Pending => "pending",
            OtrState::Invited => "invited",
            OtrState::Connecting => "connecting",
            OtrState::Active => "active",
            OtrState::Closed => "closed",
            OtrState::Declined => "declined",
            OtrState::Expired => "expired",
            OtrState::Failed => "failed",
            OtrState::Elsewhere => "elsewhere",
        }
    }

    /// Parses [`OtrState::as_str`].
    pub fn parse(s: &str) -> Option<OtrState> {
        Some(match s {
            "pending" => OtrState::Pending,
            "invited" => OtrState::Invited,
            "connecting" => OtrState::Connecting,
            "active" => OtrState::Active,
            "closed" => OtrState::Closed,
            "declined" => OtrState::Declined,
            "expired" => OtrState::Expired,
            "failed" => OtrState::Failed,
            "elsewhere" => OtrState::Elsewhere,
            _ => return None,
        })
    }

    /// Whether the chat can never become active again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OtrState::Closed
                | OtrState::Declined
                | OtrState::Expired
                | OtrState::Failed
                | OtrState::Elsewhere
        )
    }
}

/// How strongly the peer's OTR key is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Not verified (no key exchange yet).
    None,
    /// The key exchange used exactly the fingerprint announced in the signed 1:1 chat.
    ChatKey,
    /// Verified with the Socialist Millionaires' Protocol (a shared secret).
    Smp,
    /// Verified by comparing fingerprints or the session id.
    Fingerprint,
}

impl Verification {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::None => "none",
            Verification::ChatKey => "chat_key",
            Verification::Smp => "smp",
            Verification::Fingerprint => "fingerprint",
        }
    }

    /// Parses [`Verification::as_str`].
    pub fn parse(s: &str) -> Option<Verification> {
        Some(match s {
            "none" => Verification::None,
            "chat_key" => Verification::ChatKey,
            "smp" => Verification::Smp,
            "fingerprint" => Verification::Fingerprint,
            _ => return None,
        })
    }

    /// A sentence for the user.
    pub fn describe(self) -> &'static str {
        match self {
            Verification::None => "not verified",
            Verification::ChatKey => "authenticated by the chat key",
            Verification::Smp => "verified with a shared secret",
            Verification::Fingerprint => "verified by comparing fingerprints",
        }
    }
}

/// How an OTR chat keeps its history (design section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Erasure {
    /// Kept until the chat is closed, then erased (the default).
    OnClose,
    /// Each message disappears a fixed time after it was seen.
    Timer,
    /// Never written to disk: shown once as an event, then gone.
    NeverStored,
}

impl Erasure {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Erasure::OnClose => "on_close",
            Erasure::Timer => "timer",
            Erasure::NeverStored => "never_stored",
        }
    }

    /// Parses [`Erasure::as_str`] (also accepts `on-close`, `never-stored`).
    pub fn parse(s: &str) -> Option<Erasure> {
        Some(match s.replace('-', "_").as_str() {
            "on_close" => Erasure::OnClose,
            "timer" => Erasure::Timer,
            "never_stored" => Erasure::NeverStored,
            _ => return None,
        })
    }
}

/// Why a chat cannot be written to (compare Delta Chat's `CantSendReason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CantSendReason {
    /// We invited and wait for the contact to accept.
    WaitingForAcceptance,
    /// We were invited and have not accepted.
    NotAccepted,
    /// The key exchange has not finished (the other device may be offline).
    KeyExchangeRunning,
    /// The chat was closed (by whom, in the text).
    Closed(String),
    /// The invitation was declined.
    Declined,
    /// The invitation expired.
    Expired,
    /// The key exchange failed.
    Failed(String),
    /// Another device of ours handles this chat.
    OnAnotherDevice,
    /// We have no key for the contact, so nothing can be encrypted to them.
    NoKey,
}

impl fmt::Display for CantSendReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CantSendReason::WaitingForAcceptance => {
                f.write_str("waiting for the contact to accept the invitation")
            }
            CantSendReason::NotAccepted => f.write_str("you have not accepted this invitation yet"),
            CantSendReason::KeyExchangeRunning => f.write_str(
                "the key exchange has not finished yet; it completes when the other device \
                 comes online",
            ),
            CantSendReason::Closed(by) => write!(f, "the chat was closed {by}; it is read-only"),
            CantSendReason::Declined => f.write_str("the invitation was declined"),
            CantSendReason::Expired => f.write_str("the invitation expired"),
            CantSendReason::Failed(why) => write!(f, "the key exchange failed: {why}"),
            CantSendReason::OnAnotherDevice => {
                f.write_str("this chat belongs to another of your devices")
            }
            CantSendReason::NoKey => f.write_str("there is no key for this contact"),
        }
    }
}
