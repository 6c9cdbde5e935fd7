//! [`Cursor`] (how far one device has read a mailbox) and [`MailId`] (one stored mail).
//!
//! Both are opaque to the chat layer and persist as text: `to_string()` to store, `parse()` to
//! load. Each names its carrier kind, so a value stored for one carrier is never misread by
//! another. Text forms:
//!
//! ```text
//! spool cursor   spool:<mailbox validity, 16 hex digits>:<last stamp, 20 digits | "-">
//! spool mail id  spool:<stamp, 20 digits>
//! imap cursor    imap:<UIDVALIDITY, decimal>:<last UID returned, decimal; 0 = none yet>
//! imap mail id   imap:<UIDVALIDITY, decimal>:<UID, decimal, nonzero>
//! ```
//!
//! The spool's validity plays the role of IMAP's UIDVALIDITY (RFC 3501 section 2.3.1.1): a
//! position of another validity means nothing and reading starts again from the beginning.

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
    /// A position in one IMAP mailbox.
    Imap {
        /// The mailbox's UIDVALIDITY.
        validity: u32,
        /// The last UID returned; 0 if nothing was returned yet (UIDs are nonzero).
        last: u32,
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
            CursorKind::Spool { .. } | CursorKind::Imap { .. } => None,
        }
    }

    pub(crate) fn imap(validity: u32, last: u32) -> Cursor {
        Cursor(CursorKind::Imap { validity, last })
    }

    /// The last UID returned, if this is an IMAP cursor of the mailbox with UIDVALIDITY
    /// `validity`; 0 (start from the beginning) otherwise.
    pub(crate) fn imap_position(&self, validity: u32) -> u32 {
        match self.0 {
            CursorKind::Imap { validity: v, last } if v == validity => last,
            CursorKind::Imap { .. } | CursorKind::Spool { .. } => 0,
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
            CursorKind::Imap { validity, last } => write!(f, "imap:{validity}:{last}"),
        }
    }
}

impl FromStr for Cursor {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Cursor, ParseError> {
        const WHAT: &str = "cursor";
        let (kind, rest) = carrier_payload(WHAT, text)?;
        if kind == Kind::Imap {
            let (validity, last) = imap_pair(WHAT, rest)?;
            return Ok(Cursor::imap(validity, last));
        }
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
    /// An IMAP mail: the mailbox's UIDVALIDITY and the mail's UID.
    Imap {
        /// The mailbox's UIDVALIDITY.
        validity: u32,
        /// The mail's UID (nonzero).
        uid: u32,
    },
}

impl MailId {
    pub(crate) fn spool(stamp: Stamp) -> MailId {
        MailId(MailIdKind::Spool(stamp))
    }

    /// The spool stamp, if this is a spool mail id.
    pub(crate) fn spool_stamp(&self) -> Option<Stamp> {
        match self.0 {
            MailIdKind::Spool(stamp) => Some(stamp),
            MailIdKind::Imap { .. } => None,
        }
    }

    pub(crate) fn imap(validity: u32, uid: u32) -> MailId {
        MailId(MailIdKind::Imap { validity, uid })
    }

    /// The UIDVALIDITY and UID, if this is an IMAP mail id.
    pub(crate) fn imap_uid(&self) -> Option<(u32, u32)> {
        match self.0 {
            MailIdKind::Imap { validity, uid } => Some((validity, uid)),
            MailIdKind::Spool(_) => None,
        }
    }
}

impl fmt::Display for MailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            MailIdKind::Spool(stamp) => write!(f, "spool:{stamp}"),
            MailIdKind::Imap { validity, uid } => write!(f, "imap:{validity}:{uid}"),
        }
    }
}

impl FromStr for MailId {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<MailId, ParseError> {
        const WHAT: &str = "mail id";
        let (kind, rest) = carrier_payload(WHAT, text)?;
        if kind == Kind::Imap {
            let (validity, uid) = imap_pair(WHAT, rest)?;
            if uid == 0 {
                return Err(ParseError::Malformed {
                    what: WHAT,
                    reason: "UID 0 names no mail",
                });
            }
            return Ok(MailId::imap(validity, uid));
        }
        let stamp = Stamp::parse(rest).ok_or(ParseError::Malformed {
            what: WHAT,
            reason: "expected 20 decimal digits",
        })?;
        Ok(MailId::spool(stamp))
    }
}

/// The carrier a stored text names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spool,
    Imap,
}

/// Parses `<UIDVALIDITY>:<UID>`, both decimal `u32` without sign or leading zeros.
fn imap_pair(what: &'static str, rest: &str) -> Result<(u32, u32), ParseError> {
    let number = |text: &str| {
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        if canonical {
            text.parse::<u32>().ok()
        } else {
            None
        }
    };
    let malformed = ParseError::Malformed {
        what,
        reason: "expected <UIDVALIDITY>:<UID>, two decimal 32-bit numbers",
    };
    let (validity, uid) = rest.split_once(':').ok_or(malformed.clone())?;
    match (number(validity), number(uid)) {
        (Some(validity), Some(uid)) => Ok((validity, uid)),
        _ => Err(malformed),
    }
}

/// Checks the length and the carrier prefix; returns the carrier and what follows its prefix.
fn carrier_payload<'a>(what: &'static str, text: &'a str) -> Result<(Kind, &'a str), ParseError> {
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
        "spool" => Ok((Kind::Spool, rest)),
        "imap" => Ok((Kind::Imap, rest)),
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
            "pop3:1:2".parse::<Cursor>(),
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

    #[test]
    fn imap_forms_round_trip() {
        for cursor in [
            Cursor::imap(1, 0),
            Cursor::imap(u32::MAX, u32::MAX),
            Cursor::imap(1_795_701_875, 42),
        ] {
            assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
        }
        assert_eq!(Cursor::imap(7, 3).to_string(), "imap:7:3");
        assert_eq!(Cursor::imap(7, 3).imap_position(7), 3);
        // Another UIDVALIDITY, or a spool cursor: from the beginning.
        assert_eq!(Cursor::imap(7, 3).imap_position(8), 0);
        assert_eq!(Cursor::spool(7, None).imap_position(7), 0);
        assert_eq!(Cursor::imap(7, 3).spool_position(7), None);
        let id = MailId::imap(7, 3);
        assert_eq!(id.to_string(), "imap:7:3");
        assert_eq!(id.to_string().parse::<MailId>().unwrap(), id);
        assert_eq!(id.imap_uid(), Some((7, 3)));
        assert_eq!(id.spool_stamp(), None);
    }

    #[test]
    fn imap_garbage_is_a_typed_error() {
        for bad in [
            "imap:",
            "imap:1",
            "imap:1:",
            "imap::1",
            "imap:01:1",
            "imap:1:01",
            "imap:-1:1",
            "imap:+1:1",
            "imap:1:2:3",
            "imap:4294967296:1",
            "imap:1:4294967296",
            "imap:1:x",
        ] {
            assert!(
                matches!(bad.parse::<Cursor>(), Err(ParseError::Malformed { .. })),
                "{bad:?}"
            );
            assert!(
                matches!(bad.parse::<MailId>(), Err(ParseError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            "imap:1:0".parse::<MailId>(),
            Err(ParseError::Malformed { .. })
        ));
    }
}
