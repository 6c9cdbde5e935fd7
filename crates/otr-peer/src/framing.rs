//! The peer protocol's framing ("Framing" in `shared/otr-peer-protocol.md`): one record per
//! line, fields separated by TAB, every field escaped.
//!
//! ```text
//!   \\  backslash     \t  TAB     \n  LF     \r  CR     \xHH  the byte HH
//! ```
//!
//! Output escapes backslash, TAB, LF, CR and every other ASCII control byte, so a record is
//! always one line. Input is taken as bytes: a field may unescape to anything, and the command
//! decides whether it wants bytes (an SMP secret, symkey use data) or text (lossy UTF-8).
//!
//! For hand use, an input line without a TAB is split on single spaces, the command's last field
//! taking the rest of the line: `send bob hello world` is `send`, `bob`, `hello world`.

use core::fmt::Write as _;

/// A field that does not follow the escaping rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnescapeError {
    /// The field ends in a backslash that escapes nothing.
    #[error("a field ends in a lone backslash (byte {offset})")]
    LoneBackslash {
        /// Byte offset of the backslash in the escaped field.
        offset: usize,
    },
    /// `\x` is not followed by two hex digits.
    #[error("\\x at byte {offset} must be followed by two hex digits")]
    BadHex {
        /// Byte offset of the backslash in the escaped field.
        offset: usize,
    },
    /// A backslash followed by something other than `\`, `t`, `n`, `r` or `x`.
    #[error("unknown escape at byte {offset} (only \\\\ \\t \\n \\r \\xHH exist)")]
    UnknownEscape {
        /// Byte offset of the backslash in the escaped field.
        offset: usize,
    },
}

/// Escapes one output field. Text is UTF-8, so only ASCII bytes need escaping.
pub fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Undoes the escaping of one input field.
pub fn unescape(field: &[u8]) -> Result<Vec<u8>, UnescapeError> {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field.iter().enumerate();
    while let Some((offset, &b)) = rest.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match rest.next().map(|(_, &c)| c) {
            None => return Err(UnescapeError::LoneBackslash { offset }),
            Some(b'\\') => out.push(b'\\'),
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'x') => {
                let hi = rest.next().and_then(|(_, &h)| hex_value(h));
                let lo = rest.next().and_then(|(_, &l)| hex_value(l));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => return Err(UnescapeError::BadHex { offset }),
                }
            }
            Some(_) => return Err(UnescapeError::UnknownEscape { offset }),
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits one input line (without its line end) into its still-escaped fields.
///
/// A line with a TAB is split on every TAB. Otherwise it is split on single spaces into at most
/// `max_fields(name)` fields, where `name` is the first word (the command); `None` (an unknown
/// command) means no limit.
pub fn split_line(line: &[u8], max_fields: impl Fn(&[u8]) -> Option<usize>) -> Vec<&[u8]> {
    if line.contains(&b'\t') {
        return line.split(|&b| b == b'\t').collect();
    }
    let name = line.split(|&b| b == b' ').next().unwrap_or_default();
    let max = max_fields(name).unwrap_or(usize::MAX).max(1);
    line.splitn(max, |&b| b == b' ').collect()
}

/// One output record: its kind (`wire`, `event`, `ok`...) and its fields, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    fields: Vec<String>,
}

impl Record {
    /// A record of `kind` with no fields yet.
    pub fn new(kind: &str) -> Record {
        Record {
            fields: vec![kind.to_owned()],
        }
    }

    /// Appends a field.
    #[must_use]
    pub fn field(mut self, value: impl Into<String>) -> Record {
        self.fields.push(value.into());
        self
    }

    /// Appends fields.
    #[must_use]
    pub fn fields<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Record {
        self.fields.extend(values.into_iter().map(Into::into));
        self
    }

    /// The kind (first field).
    pub fn kind(&self) -> &str {
        self.fields.first().map_or("", String::as_str)
    }

    /// The fields after the kind, unescaped.
    pub fn args(&self) -> &[String] {
        self.fields.get(1..).unwrap_or_default()
    }

    /// The record as one line, escaped, without the line end.
    pub fn to_line(&self) -> String {
        self.fields
            .iter()
            .map(|f| escape(f))
            .collect::<Vec<_>>()
            .join("\t")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        for s in [
            "",
            "plain",
            "a\tb\nc\rd\\e",
            "\u{0}\u{1}\u{7f}x",
            "ünïcödé ✓ 日本",
            "\\x41",
        ] {
            let escaped = escape(s);
            assert!(!escaped.contains(['\t', '\n', '\r']), "{escaped:?}");
            assert_eq!(unescape(escaped.as_bytes()), Ok(s.as_bytes().to_vec()));
        }
        assert_eq!(escape("a\tb\\"), "a\\tb\\\\");
        assert_eq!(escape("\u{0}\u{1b}"), "\\x00\\x1b");
    }

    #[test]
    fn unescape_takes_any_byte() {
        assert_eq!(unescape(b"\\xff\\x00\\xAb"), Ok(vec![0xff, 0, 0xab]));
        assert_eq!(unescape(b"\xc3("), Ok(vec![0xc3, b'(']));
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(
            unescape(b"ab\\"),
            Err(UnescapeError::LoneBackslash { offset: 2 })
        );
        assert_eq!(unescape(b"\\x4"), Err(UnescapeError::BadHex { offset: 0 }));
        assert_eq!(unescape(b"\\xg0"), Err(UnescapeError::BadHex { offset: 0 }));
        assert_eq!(
            unescape(b"x\\q"),
            Err(UnescapeError::UnknownEscape { offset: 1 })
        );
    }

    #[test]
    fn splitting() {
        let max = |name: &[u8]| (name == b"send").then_some(3);
        assert_eq!(
            split_line(b"send bob hello  world", max),
            [&b"send"[..], b"bob", b"hello  world"]
        );
        assert_eq!(
            split_line(b"send\tbob\ta b\t", max),
            [&b"send"[..], b"bob", b"a b", b""]
        );
        assert_eq!(
            split_line(b"other a b c", max),
            [&b"other"[..], b"a", b"b", b"c"]
        );
        assert_eq!(split_line(b"send", max), [&b"send"[..]]);
        assert_eq!(split_line(b"", max), [&b""[..]]);
    }

    #[test]
    fn records_are_one_line() {
        let r = Record::new("deliver")
            .field("bob")
            .field("a\nb\\")
            .field("otr");
        assert_eq!(r.to_line(), "deliver\tbob\ta\\nb\\\\\totr");
        assert_eq!(r.kind(), "deliver");
        assert_eq!(r.args().len(), 3);
    }
}
