//! Errors of the chat layer, sorted by whose fault they are.

use crate::types::{CantSendReason, ChatId};

/// Everything that can go wrong in the chat layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- The caller asked for something impossible ---
    /// There is no account in this database yet.
    #[error("this database holds no account; create one first")]
    NoAccount,
    /// An account already exists in this database.
    #[error("this database already holds the account {0}")]
    AccountExists(String),
    /// No such contact.
    #[error("no contact {0}")]
    UnknownContact(String),
    /// No such chat.
    #[error("no chat {0}")]
    UnknownChat(ChatId),
    /// The chat cannot be written to; the reason says why.
    #[error("{0}")]
    CannotSend(CantSendReason),
    /// The operation does not apply to this chat in its current state.
    #[error("{0}")]
    InvalidState(String),
    /// An argument is invalid (an address, a key, a timer...).
    #[error("{0}")]
    InvalidArgument(String),

    // --- Input from the network or a file was bad ---
    /// A mail could not be read (malformed, not encrypted to us, bad signature...).
    #[error("unreadable mail: {0}")]
    Mail(String),
    /// A key could not be read.
    #[error("invalid key: {0}")]
    Key(String),

    // --- Local storage ---
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database was written by a newer version of Offrecord.
    #[error("the database has schema version {found}; this version reads up to {supported}")]
    NewerDatabase {
        /// The database's schema version.
        found: u32,
        /// The newest this build understands.
        supported: u32,
    },
    /// Stored state is corrupt.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
}
