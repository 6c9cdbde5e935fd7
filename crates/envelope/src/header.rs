//! Header field rules shared by building and parsing (RFC 5322 section 3).

/// Whether `addr` is a plain `local@domain` address this crate writes into headers: printable
/// ASCII, no whitespace, no specials that would change the header's meaning, exactly one `@`
/// with something on both sides.
pub(crate) fn is_plain_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && addr.len() <= 254
        && addr.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'<' | b'>' | b',' | b';' | b':' | b'"' | b'(')
                && !matches!(b, b')' | b'[' | b']' | b'\\')
        })
}

/// Whether `name` is a valid header field name: printable ASCII except `:` (RFC 5322 `ftext`).
pub(crate) fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 76 && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Headers the envelope writes itself; callers cannot add them as extra headers.
const RESERVED: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "sender",
    "date",
    "message-id",
    "subject",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
    "content-description",
    "autocrypt",
    "autocrypt-gossip",
    "chat-version",
    "hp-outer",
];

pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// Structural headers (RFC 9787 section 1.1.1): they describe the MIME part, they are not
/// message headers, so parsing does not report them among the protected headers.
pub(crate) fn is_structural(name: &str) -> bool {
    [
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "mime-version",
    ]
    .iter()
    .any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether `value` can be written as one header field value: no CR, LF or NUL, and no
/// whitespace-free run longer than [`crate::MAX_HEADER_WORD`] bytes (it could not be folded
/// under RFC 5322's 998-character line limit).
pub(crate) fn is_field_value(value: &str) -> bool {
    !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
        && value
            .split([' ', '\t'])
            .all(|word| word.len() <= crate::MAX_HEADER_WORD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(is_plain_address("alice@example.org"));
        assert!(is_plain_address("a.b+c@sub.example"));
        for bad in [
            "",
            "alice",
            "@example.org",
            "alice@",
            "a@b@c",
            "alice @example.org",
            "<alice@example.org>",
            "alice@example.org\r\nBcc: x@y",
            "\"a\"@b",
            "ä@example.org",
        ] {
            assert!(!is_plain_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn field_names_and_values() {
        assert!(is_field_name("Chat-Otr-Invitation"));
        assert!(!is_field_name("Bad Name"));
        assert!(!is_field_name("Bad:Name"));
        assert!(!is_field_name(""));
        assert!(is_reserved("subject") && is_reserved("HP-Outer"));
        assert!(!is_reserved("Chat-Otr-Invitation"));
        assert!(is_field_value("v3; tag=0x12345678 ünïcode"));
        assert!(!is_field_value("a\r\nBcc: x@y"));
        assert!(!is_field_value(&"x".repeat(crate::MAX_HEADER_WORD + 1)));
    }
}
