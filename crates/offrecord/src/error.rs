//! The client's errors. Each one displays as one sentence for the user (no `Debug`, no chain
//! of causes on separate lines): `main` prints it and exits with status 1.

use std::io;
use std::path::PathBuf;

use chat::{CantSendReason, ChatId};

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- The user asked for something impossible ---
    /// The home directory holds no account yet.
    #[error(
        "There is no account in {}; create one with `offrecord init <address>` (or pass --home).",
        .home.display()
    )]
    NoAccount {
        /// The home directory.
        home: PathBuf,
    },
    /// The home directory already holds an account.
    #[error("The directory {} already holds an account; use another --home for another account.", .home.display())]
    AccountExists {
        /// The home directory.
        home: PathBuf,
    },
    /// No home directory was given and none can be found.
    #[error("Cannot find a home directory for the account; pass --home or set $OFFRECORD_HOME.")]
    NoHome,
    /// A chat argument is neither a chat number nor (where allowed) an address.
    #[error(
        "There is no chat `{0}`: chats are given by their number, as `offrecord chats` lists them."
    )]
    NotAChat(String),
    /// A command for OTR chats was given a 1:1 chat.
    #[error("Chat {0} is an ordinary 1:1 chat, not an Off-the-Record chat.")]
    NotAnOtrChat(ChatId),
    /// An argument is invalid; the text says why (a full sentence).
    #[error("{0}")]
    InvalidArgument(String),

    /// The demo found the system misbehaving (what, in the text).
    #[error("The demo failed: {0}.")]
    Demo(String),

    // --- The chat layer refused or failed ---
    /// A chat-layer error, shown as a sentence.
    #[error("{}", chat_sentence(.0))]
    Chat(#[from] chat::Error),

    // --- The environment: files, the spool ---
    /// A file operation failed.
    #[error("Cannot {action} {}: {}.", .path.display(), io_sentence(.source))]
    Io {
        /// What was being done ("read", "create"...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The account's configuration file is unreadable.
    #[error("The configuration file {} is not valid: {reason}.", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The spool mailbox could not be opened.
    #[error("Cannot open the mailbox of {addr} in the spool {}: {}.", .root.display(), causes(.source))]
    Spool {
        /// The account address.
        addr: String,
        /// The spool root.
        root: PathBuf,
        /// Why.
        source: mail::OpenError,
    },
    /// The mail server settings do not work (checked by `init`).
    #[error("Cannot use the mail server: {}.", causes(.0))]
    Server(#[from] mail::ServerError),
    /// Reading or deleting mail failed.
    #[error("Cannot read the mailbox: {}.", causes(.0))]
    Fetch(#[from] mail::FetchError),
    /// The stored mail cursor is unreadable.
    #[error(
        "The stored mail position is unreadable ({0}); the database may come from a newer version."
    )]
    Cursor(#[from] mail::ParseError),
}

impl Error {
    /// Whether this is a write to a closed pipe (`offrecord demo | head`): nothing to report.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// One sentence for a chat-layer error: capitalized, ending with a full stop, and with a hint
/// where the user can do something about it.
fn chat_sentence(error: &chat::Error) -> String {
    match error {
        chat::Error::CannotSend(reason) => {
            format!("You cannot write in this chat: {}.", reason_text(reason))
        }
        chat::Error::UnknownChat(id) => {
            format!("There is no chat {id}; `offrecord chats` lists the chats with their numbers.")
        }
        chat::Error::UnknownContact(who) => format!(
            "There is no contact {who}; add one from their contact card with `offrecord contact add <file>`."
        ),
        chat::Error::NoAccount => {
            "The database holds no account; create one with `offrecord init <address>`.".to_owned()
        }
        other => sentence(&other.to_string()),
    }
}

/// A [`CantSendReason`] as the end of a sentence (no full stop).
pub fn reason_text(reason: &CantSendReason) -> String {
    let text = reason.to_string();
    text.trim_end_matches('.').to_owned()
}

/// `text` with a capital first letter and a full stop at the end.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// An error and its sources on one line, joined with ": ".
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = inner.source();
    }
    text.trim_end_matches('.').to_owned()
}

/// An I/O error in lowercase, without the "(os error N)" suffix.
fn io_sentence(error: &io::Error) -> String {
    let text = match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::AlreadyExists => "it already exists".to_owned(),
        _ => {
            let full = error.to_string();
            full.split(" (os error")
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_one_sentence() {
        let errors = [
            Error::NoAccount {
                home: "/tmp/x".into(),
            },
            Error::NotAChat("abc".into()),
            Error::Chat(chat::Error::CannotSend(CantSendReason::Closed(
                "by you".into(),
            ))),
            Error::Chat(chat::Error::InvalidState(
                "only an invitation can be accepted".into(),
            )),
            Error::io(
                "read",
                "/nonexistent",
                io::Error::from(io::ErrorKind::NotFound),
            ),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.ends_with('.'), "{text}");
            assert!(text.starts_with(|c: char| c.is_uppercase()), "{text}");
        }
    }

    #[test]
    fn closed_chat_says_read_only() {
        let e = Error::Chat(chat::Error::CannotSend(CantSendReason::Closed(
            "by the contact".into(),
        )));
        assert_eq!(
            e.to_string(),
            "You cannot write in this chat: the chat was closed by the contact; it is read-only."
        );
    }
}
