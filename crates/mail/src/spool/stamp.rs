//! The spool's delivery stamps: file names in `new/` and positions in cursors.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Number of decimal digits in a stamp's text form (enough for `u64::MAX`), so that file-name
/// order is numeric order.
const DIGITS: usize = 20;

/// The position of one mail in one spool mailbox: unix time of delivery in nanoseconds, made
/// strictly increasing per mailbox by assigning it under the mailbox's exclusive lock (see
/// `mailbox.rs`). Its text form, 20 zero-padded digits, is the mail's file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The current time, or 0 if the clock is before 1970 (the lock-protected "last stamp"
    /// still makes the next stamp larger than every earlier one).
    pub(crate) fn now() -> Stamp {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Stamp(nanos)
    }

    /// The stamp right after this one, `None` at the end of the stamp space (year 2554).
    pub(crate) fn next(self) -> Option<Stamp> {
        self.0.checked_add(1).map(Stamp)
    }

    /// Reads the exact text form: 20 ASCII digits, nothing else.
    pub(crate) fn parse(text: &str) -> Option<Stamp> {
        if text.len() != DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().map(Stamp)
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:020}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_sorts() {
        for n in [0, 1, 9, 10, 1_700_000_000_000_000_000, u64::MAX] {
            let s = Stamp(n);
            assert_eq!(s.to_string().len(), DIGITS);
            assert_eq!(Stamp::parse(&s.to_string()), Some(s));
        }
        assert!(Stamp(9).to_string() < Stamp(10).to_string());
    }

    #[test]
    fn parse_is_strict() {
        for bad in [
            "",
            "1",
            "0000000000000000000a",
            "+0000000000000000001",
            "000000000000000000001",
            "99999999999999999999",
            " 0000000000000000001",
        ] {
            assert_eq!(Stamp::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn next_saturates_to_none() {
        assert_eq!(Stamp(1).next(), Some(Stamp(2)));
        assert_eq!(Stamp(u64::MAX).next(), None);
    }
}
