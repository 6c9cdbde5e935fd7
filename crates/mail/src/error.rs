//! Errors of the carrier operations, sorted by what the caller should do about them: a send
//! failure is [`Severity::Temporary`] (queue and retry later) or [`Severity::Permanent`] (tell
//! the user); fetch failures are the environment's (disk, the network) and are retried by the
//! fetch loop.

use std::io;
use std::path::{Path, PathBuf};

use crate::address::AddressError;
use crate::server::ServerError;

/// Whether retrying a failed send can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Retry later: the disk was full, the server said 4xx, the connection broke.
    Temporary,
    /// Retrying the same message cannot help: a bad address, a message too large, SMTP 5xx.
    Permanent,
}

/// A failed file-system operation of the spool, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct IoError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl IoError {
    pub(crate) fn new(action: &'static str, path: &Path, source: io::Error) -> IoError {
        IoError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// What was being done (`"create"`, `"read"`, `"lock"`, ...).
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The file or directory it was done to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operating system's error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

/// Why [`Spool::open`](crate::Spool::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The account address cannot name a mailbox (the caller's input).
    #[error("invalid account address")]
    InvalidAddress(#[from] AddressError),
    /// The mailbox could not be created or read (the environment).
    #[error("cannot open the mailbox")]
    Io(#[from] IoError),
}

/// Why one recipient did not get a mail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The recipient address cannot name a mailbox. Permanent.
    #[error("invalid recipient address")]
    InvalidAddress(#[from] AddressError),
    /// The mail could not be written into the recipient's mailbox (disk full, permissions).
    /// Temporary.
    #[error("cannot deliver into the mailbox")]
    Io(#[from] IoError),
    /// The SMTP server refused the recipient, or the mail for it: temporary for a 4xx reply,
    /// permanent for a 5xx one.
    #[error("the server refused it: {code} {reply}")]
    Refused {
        /// The SMTP reply code (`550`, `450`, ...).
        code: u16,
        /// The reply text (with the enhanced status code, if the server sent one).
        reply: String,
    },
}

impl DeliveryError {
    /// Whether retrying can help.
    pub fn severity(&self) -> Severity {
        match self {
            DeliveryError::InvalidAddress(_) => Severity::Permanent,
            DeliveryError::Io(_) => Severity::Temporary,
            DeliveryError::Refused { code, .. } if (500..600).contains(code) => Severity::Permanent,
            DeliveryError::Refused { .. } => Severity::Temporary,
        }
    }
}

/// One recipient of a send that did not get the mail.
#[derive(Debug)]
pub struct RecipientFailure {
    /// The recipient as the caller spelled it.
    pub recipient: String,
    /// Why.
    pub error: DeliveryError,
}

/// Why [`Carrier::send`](crate::Carrier::send) did not deliver to every recipient.
///
/// Every variant but [`SendError::Recipients`] means nothing was delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message is larger than the carrier accepts. Permanent.
    #[error("message is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// The message size in bytes.
        size: usize,
        /// The limit, [`MAX_MAIL_SIZE`](crate::MAX_MAIL_SIZE) for the spool.
        limit: usize,
    },
    /// The recipient list is empty (a caller bug). Permanent.
    #[error("no recipients")]
    NoRecipients,
    /// The envelope sender is not a valid address (a caller bug). Permanent.
    #[error("invalid sender address")]
    InvalidSender(#[source] AddressError),
    /// The envelope sender is not the account this carrier sends for (a caller bug; an SMTP
    /// submission server refuses this too). Permanent.
    #[error("sender {found} is not this account's address {expected}")]
    SenderMismatch {
        /// The account's (normalized) address.
        expected: String,
        /// The (normalized) sender given.
        found: String,
    },
    /// Some recipients, perhaps all, did not get the mail; the others did. Retry only the
    /// temporary failures ([`SendError::retryable`]), or the message is duplicated.
    #[error("{} of {} recipients did not get the mail", .failed.len(), .failed.len() + .delivered.len())]
    Recipients {
        /// The recipients that got it, as the caller spelled them (duplicates once).
        delivered: Vec<String>,
        /// The recipients that did not, with the reason (duplicates once).
        failed: Vec<RecipientFailure>,
    },
    /// The submission server could not be reached or used (network, TLS, login). Nothing was
    /// delivered; temporary (the outbox retries, also after the settings are fixed).
    #[error("cannot submit the mail")]
    Server(#[source] ServerError),
}

impl SendError {
    /// [`Severity::Temporary`] if retrying can help at least one recipient.
    pub fn severity(&self) -> Severity {
        match self {
            SendError::TooLarge { .. }
            | SendError::NoRecipients
            | SendError::InvalidSender(_)
            | SendError::SenderMismatch { .. } => Severity::Permanent,
            SendError::Server(_) => Severity::Temporary,
            SendError::Recipients { failed, .. } => {
                if failed
                    .iter()
                    .any(|f| f.error.severity() == Severity::Temporary)
                {
                    Severity::Temporary
                } else {
                    Severity::Permanent
                }
            }
        }
    }

    /// The recipients to send to again later: those of `recipients` (the list given to the
    /// failed send) that failed temporarily. Empty when nothing is worth retrying.
    pub fn retryable<'a>(&'a self, recipients: &'a [String]) -> Vec<&'a str> {
        match self {
            SendError::Recipients { failed, .. } => failed
                .iter()
                .filter(|f| f.error.severity() == Severity::Temporary)
                .map(|f| f.recipient.as_str())
                .collect(),
            other if other.severity() == Severity::Temporary => {
                recipients.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Why reading or waiting on the mailbox failed. The mailbox is unchanged; try again later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A file-system operation on the mailbox failed.
    #[error("cannot read the mailbox")]
    Io(#[from] IoError),
    /// The IMAP server could not be reached or used; see
    /// [`ServerError::is_transient`](crate::ServerError::is_transient).
    #[error("cannot use the mail server")]
    Server(#[source] ServerError),
}

/// Why [`Carrier::fetch`](crate::Carrier::fetch) passed over one mail in the mailbox instead of
/// returning it. The batch's cursor moves past it all the same, so it is reported once per
/// cursor; delete it or leave it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// The stored mail is larger than the carrier ever delivers.
    #[error("mail is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// The limit, [`MAX_MAIL_SIZE`](crate::MAX_MAIL_SIZE).
        limit: u64,
    },
    /// The entry is not a regular file (a directory, a symbolic link, a device...).
    #[error("not a regular file")]
    NotAFile,
    /// The file could not be read.
    #[error("unreadable")]
    Unreadable(#[source] io::Error),
}
