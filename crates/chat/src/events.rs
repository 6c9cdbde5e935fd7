//! The event stream a UI follows. Every call that changes state returns the events it caused.

use crate::types::{ChatId, ContactId, MsgId, OtrState, Verification};

/// Something the user may want to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message arrived (stored with `msg`, unless the chat never stores history).
    IncomingMessage {
        /// The chat.
        chat: ChatId,
        /// The stored message, if stored.
        msg: Option<MsgId>,
        /// The text.
        text: String,
    },
    /// An OTR chat changed state.
    ChatStateChanged {
        /// The chat.
        chat: ChatId,
        /// The new state.
        state: OtrState,
        /// Why, in a sentence.
        reason: String,
    },
    /// A contact invited us to an OTR chat.
    InvitationReceived {
        /// The new chat (state `Invited`).
        chat: ChatId,
        /// Who invited.
        contact: ContactId,
    },
    /// The verification level of an OTR chat changed, or a verification attempt finished.
    Verification {
        /// The chat.
        chat: ChatId,
        /// The level now.
        level: Verification,
        /// What happened, in a sentence.
        text: String,
    },
    /// The peer asks to verify with a shared secret (SMP); answer with the secret.
    SmpRequest {
        /// The chat.
        chat: ChatId,
        /// The peer's question, if any.
        question: Option<String>,
    },
    /// A mail could not be used; it was ignored (the text says why).
    Ignored {
        /// Why.
        text: String,
    },
    /// Messages were erased.
    Erased {
        /// The chat.
        chat: ChatId,
        /// How many messages.
        count: usize,
    },
}
