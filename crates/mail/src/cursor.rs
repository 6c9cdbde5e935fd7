//! [`Cursor`] (how far one device has read a mailbox) and [`MailId`] (one stored mail).
//!
//! Both are opaque to the chat layer and persist as text: `to_string()` to store, `parse()` to
//! load. Each names its carrier kind, so a value stored for one carrier is never misread by
//! another. Text forms:
//!
//! ```text
//! spool cursor   spool:<mailbox validity, 16 hex digits>:<last stamp, 20 digits | "-">
//! spool mail id  spool:<stamp, 20 digits>
//! ```
//!
//! IMAP will add `imap:<uidvalidity>:<uid>` forms: the validity plays the role of IMAP's
//! UIDVALIDITY (RFC 3501 section 2.3.1.1) in both.

use std::fmt;
use std::str::FromStr;

use crate::spool::stamp::Stamp;

/// The longest text form [`Cursor`] or [`MailId`] parse accepts. Real ones are under 64 bytes.
const MAX_TEXT_LEN: usize = 256;

/// How far one device has read one mailbox: everything up to and including this position has
/// been returned to it.
///
/// Cursors belong to the caller, not to the carrier, so several devices (several databases of one
/// account) can read one mailbox, each at its own pace. Store the cursor in the same transaction
/// as the effects of the mail it was returned with ([`FetchedMail::cursor`](crate::FetchedMail))
/// and a crash can neither lose nor repeat a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(CursorKind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum CursorKind {
    /// A position in one spool mailbox.
    Spool {
        /// The mailbox's validity: if it changed, the mailbox was recreated and the position
        /// means nothing any more.
        validity: u64,
        /// The last stamp returned; `None` if nothing was returned yet.
        last: Option<Stamp>,
    },
}

impl Cursor {
    pub(crate) fn spool(validity: u64, last: Option<Stamp>) -> Cursor {
        Cursor(CursorKind::Spool { validity, last })
    }

    /// The spool position, if this is a spool cursor of the mailbox with `validity`; `None`
    /// (start from the beginning) otherwise.
    pub(crate) fn spool_position(&self, validity: u64) -> Option<Stamp> {
        match self.0 {
            CursorKind::Spool {
                validity: v,
                last: Some(last),
            } if v == validity => Some(last),
            CursorKind::Spool { .. } => None,
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CursorKind::Spool {
                validity,
                last: Some(last),
            } => write!(f, "spool:{validity:016x}:{last}"),
            CursorKind::Spool {
                validity,
                last: None,
            } => write!(f, "spool:{validity:016x}:-"),
        }
    }
}

impl FromStr for Cursor {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Cursor, ParseError> {
        const WHAT: &str = "cursor";
        let rest = carrier_payload(WHAT, text)?;
        let (validity, last) = rest.split_once(':').ok_or(ParseError::Malformed {
            what: WHAT,
            reason: "expected <validity>:<position>",
        })?;
        if validity.len() != 16
            || !validity
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ParseError::Malformed {
                what: WHAT,
                reason: "validity is not 16 lowercase hex digits",
            });
        }
        let validity = u64::from_str_radix(validity, 16).map_err(|_| ParseError::Malformed {
            what: WHAT,
            reason: "validity is not 16 lowercase hex digits",
        })?;
        let last = match last {
            "-" => None,
            stamp => Some(Stamp::parse(stamp).ok_or(ParseError::Malformed {
                what: WHAT,
                reason: "position is neither \"-\" nor 20 decimal digits",
            })?),
        };
        Ok(Cursor::spool(validity, last))
    }
}

/// The stable id of one stored mail within one mailbox, for [`Carrier::delete`](crate::Carrier).
///
/// Persistable like [`Cursor`]: a chat layer that must delete a mail after processing it (OTR
/// erasure) records the id in the processing transaction and deletes afterwards, retrying after
/// a crash; [`Carrier::delete`](crate::Carrier::delete) is idempotent for that reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailId(MailIdKind);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MailIdKind {
    /// A spool mail: its file name in `new/`.
    Spool(Stamp),
}

impl MailId {
    pub(crate) fn spool(stamp: Stamp) -> MailId {
        MailId(MailIdKind::Spool(stamp))
    }

    pub(crate) fn spool_stamp(&self) -> Stamp {
        match self.0 {
            MailIdKind::Spool(stamp) => stamp,
        }
    }
}

impl fmt::Display for MailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            MailIdKind::Spool(stamp) => write!(f, "spool:{stamp}"),
        }
    }
}

impl FromStr for MailId {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<MailId, ParseError> {
        const WHAT: &str = "mail id";
        let rest = carrier_payload(WHAT, text)?;
        let stamp = Stamp::parse(rest).ok_or(ParseError::Malformed {
            what: WHAT,
            reason: "expected 20 decimal digits",
        })?;
        Ok(MailId::spool(stamp))
    }
}

/// Checks the length and the carrier prefix; returns what follows `spool:`.
fn carrier_payload<'a>(what: &'static str, text: &'a str) -> Result<&'a str, ParseError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(ParseError::TooLong {
            what,
            len: text.len(),
            max: MAX_TEXT_LEN,
        });
    }
    let (kind, rest) = text.split_once(':').ok_or(ParseError::Malformed {
        what,
        reason: "no carrier prefix",
    })?;
    match kind {
        "spool" => Ok(rest),
        _ => Err(ParseError::UnknownCarrier { what }),
    }
}

/// Why a stored [`Cursor`] or [`MailId`] text could not be read back: the database holds
/// something this version did not write (corruption, or a newer version's carrier).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Longer than any value this crate writes.
    #[error("{what} is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// `"cursor"` or `"mail id"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The carrier prefix is not one this version knows.
    #[error("{what} belongs to a carrier this version does not know")]
    UnknownCarrier {
        /// `"cursor"` or `"mail id"`.
        what: &'static str,
    },
    /// The known carrier prefix is followed by something else than what that carrier writes.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// `"cursor"` or `"mail id"`.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for cursor in [
            Cursor::spool(0, None),
            Cursor::spool(
                u64::MAX,
                Some(Stamp::parse("01700000000000000001").unwrap()),
            ),
        ] {
            assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
        }
        let id = MailId::spool(Stamp::parse("01700000000000000001").unwrap());
        assert_eq!(id.to_string(), "spool:01700000000000000001");
        assert_eq!(id.to_string().parse::<MailId>().unwrap(), id);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in [
            "",
            "spool",
            "spool:",
            "spool:0123456789abcdef",
            "spool:0123456789ABCDEF:-",
            "spool:0123456789abcde:-",
            "spool:+123456789abcdef:-",
            "spool:0123456789abcdef:",
            "spool:0123456789abcdef:12",
            "spool:0123456789abcdef:-:",
            "spool:0123456789abcdef:01700000000000000001x",
            "spool:0123456789abcdef:../../etc/passwd",
        ] {
            assert!(
                matches!(bad.parse::<Cursor>(), Err(ParseError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            "imap:1:2".parse::<Cursor>(),
            Err(ParseError::UnknownCarrier { what: "cursor" })
        );
        assert!(matches!(
            "x".repeat(10_000).parse::<Cursor>(),
            Err(ParseError::TooLong { len: 10_000, .. })
        ));
        for bad in [
            "spool:../new/x",
            "spool:1",
            "spool:-",
            "1700000000000000000",
        ] {
            assert!(bad.parse::<MailId>().is_err(), "{bad:?}");
        }
    }
}
