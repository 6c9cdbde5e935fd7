//! Contact cards as vCards (RFC 6350, vCard 4.0) that carry an OpenPGP key: the way Delta
//! Chat shares contacts (a vCard attachment, "Share contact", `make_vcard` /
//! `import_vcard_contents` in its JSON-RPC API).
//!
//! A card we write looks like this (CRLF line ends, long lines folded at 75 octets with a
//! leading space, RFC 6350 section 3.2):
//!
//! ```text
//! BEGIN:VCARD
//! VERSION:4.0
//! EMAIL:alice@example.org
//! FN:alice@example.org
//! KEY:data:application/pgp-keys;base64\,xjMEZ...   (RFC 6350 section 6.8.1: a data: URI,
//!  ...                                              the binary transferable public key)
//! REV:20261126T135200Z
//! END:VCARD
//! ```
//!
//! Reading accepts every card in the text, unfolds lines, ignores property groups
//! (`item1.EMAIL`) and unknown properties, and takes the key from a `data:` URI (with the
//! comma escaped or not) or from vCard 3 style `KEY;TYPE=PGP;ENCODING=b:...` /
//! `KEY;PGP;ENCODING=BASE64:...`. Sizes are checked before anything is decoded.
//!
//! ```
//! use envelope::{Identity, parse_vcards, vcard};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::seed_from_u64(1);
//! let alice = Identity::generate("alice@example.org", 1_700_000_000, &mut rng)?;
//! let card = vcard("alice@example.org", "Alice", &alice.public_key(), 1_700_000_000)?;
//! assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"));
//! let read = parse_vcards(&card)?;
//! assert_eq!(read.len(), 1);
//! assert_eq!(read[0].addr, "alice@example.org");
//! assert_eq!(read[0].name, "Alice");
//! assert_eq!(read[0].key.as_ref().map(|k| k.fingerprint()), Some(alice.fingerprint()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::header::is_plain_address;
use crate::{KeyError, MAX_KEY_SIZE, PeerKey};

/// The largest vCard text [`parse_vcards`] reads: room for a few cards with keys (a photo
/// would not fit; we do not need photos).
pub const MAX_VCARD_SIZE: usize = 1024 * 1024;

/// The most cards [`parse_vcards`] returns from one text.
pub const MAX_VCARDS: usize = 64;

/// The longest content line (after unfolding) [`parse_vcards`] accepts: a key in base64 plus
/// the property name and parameters.
const MAX_LINE: usize = MAX_KEY_SIZE / 3 * 4 + 256;

/// Octets per physical line when folding (RFC 6350 section 3.2: "SHOULD NOT be longer than 75
/// octets, excluding the line break").
const FOLD_AT: usize = 75;

/// One contact read from a vCard.
#[derive(Clone, Debug, PartialEq)]
pub struct VcardContact {
    /// The email address (`EMAIL`), as written in the card.
    pub addr: String,
    /// The formatted name (`FN`); empty if the card has none.
    pub name: String,
    /// The OpenPGP key (`KEY`), if the card carries one that we could read.
    pub key: Option<PeerKey>,
}

/// Reading a vCard failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VcardError {
    /// The text is larger than [`MAX_VCARD_SIZE`].
    #[error("vCard text of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size of the text.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A content line is longer than any card with one key needs.
    #[error("a vCard line of {len} bytes exceeds the limit of {limit} bytes")]
    LineTooLong {
        /// The line's length after unfolding.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The text holds more than [`MAX_VCARDS`] cards.
    #[error("more than {limit} vCards in one text")]
    TooManyCards {
        /// The limit.
        limit: usize,
    },
    /// The text holds no `BEGIN:VCARD` ... `END:VCARD` block.
    #[error("no vCard found")]
    NoCard,
    /// A card has no `EMAIL`, or its address is not a plain `local@domain` address.
    #[error("vCard {index} has no usable email address")]
    NoAddress {
        /// The card's position in the text (0-based).
        index: usize,
    },
    /// A card's `KEY` is an OpenPGP key but cannot be read.
    #[error("the OpenPGP key in vCard {index} is invalid: {source}")]
    BadKey {
        /// The card's position in the text (0-based).
        index: usize,
        /// Why.
        #[source]
        source: KeyError,
    },
}

/// Writes a vCard 4.0 for `addr` with display name `name` (the address if empty) and
/// OpenPGP key `key`, revised at `rev` (seconds since the Unix epoch).
///
/// # Errors
///
/// [`KeyError::BadAddress`] if `addr` is not a plain `local@domain` address; a serialization
/// failure of the key.
pub fn vcard(addr: &str, name: &str, key: &PeerKey, rev: u64) -> Result<String, KeyError> {
    if !is_plain_address(addr) {
        return Err(KeyError::BadAddress);
    }
    let name = if name.trim().is_empty() { addr } else { name };
    let key = STANDARD.encode(key.to_bytes()?);
    let mut out = String::new();
    for line in [
        "BEGIN:VCARD".to_owned(),
        "VERSION:4.0".to_owned(),
        format!("EMAIL:{}", escape(addr)),
        format!("FN:{}", escape(name)),
        format!("KEY:data:application/pgp-keys;base64\\,{key}"),
        format!("REV:{}", timestamp(rev)),
        "END:VCARD".to_owned(),
    ] {
        fold_into(&mut out, &line);
    }
    Ok(out)
}

/// Reads every card in `text`. Cards without a key are returned with `key: None` (a contact
/// we cannot write to encrypted); a key that is present but broken is an error, as is a card
/// without an address.
///
/// # Errors
///
/// [`VcardError`]: too large, no card, a card without address, a broken key.
pub fn parse_vcards(text: &str) -> Result<Vec<VcardContact>, VcardError> {
    if text.len() > MAX_VCARD_SIZE {
        return Err(VcardError::TooLarge {
            size: text.len(),
            limit: MAX_VCARD_SIZE,
        });
    }
    let mut cards = Vec::new();
    let mut current: Option<Fields> = None;
    for line in unfold(text) {
        if line.len() > MAX_LINE {
            return Err(VcardError::LineTooLong {
                len: line.len(),
                limit: MAX_LINE,
            });
        }
        let Some(property) = Property::parse(&line) else {
            continue;
        };
        match (&mut current, property.name.to_ascii_uppercase().as_str()) {
            (None, "BEGIN") if property.value.eq_ignore_ascii_case("VCARD") => {
                current = Some(Fields::default());
            }
            (Some(_), "END") if property.value.eq_ignore_ascii_case("VCARD") => {
                if let Some(fields) = current.take() {
                    if cards.len() == MAX_VCARDS {
                        return Err(VcardError::TooManyCards { limit: MAX_VCARDS });
                    }
                    cards.push(fields.finish(cards.len())?);
                }
            }
            (Some(fields), "EMAIL") if fields.addr.is_none() => {
                fields.addr = Some(unescape(property.value));
            }
            (Some(fields), "FN") if fields.name.is_none() => {
                fields.name = Some(unescape(property.value));
            }
            (Some(fields), "KEY") if fields.key.is_none() => {
                fields.key = property.pgp_key_base64().map(str::to_owned);
            }
            _ => {}
        }
    }
    if cards.is_empty() {
        return Err(VcardError::NoCard);
    }
    Ok(cards)
}

/// The properties of one card being read.
#[derive(Default)]
struct Fields {
    addr: Option<String>,
    name: Option<String>,
    key: Option<String>,
}

impl Fields {
    fn finish(self, index: usize) -> Result<VcardContact, VcardError> {
        let addr = self
            .addr
            .map(|a| a.trim().trim_start_matches("mailto:").to_owned())
            .filter(|a| is_plain_address(a))
            .ok_or(VcardError::NoAddress { index })?;
        let key = match self.key {
            None => None,
            Some(b64) => {
                let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                if compact.len() / 4 * 3 > MAX_KEY_SIZE {
                    return Err(VcardError::BadKey {
                        index,
                        source: KeyError::TooLarge {
                            size: compact.len() / 4 * 3,
                            limit: MAX_KEY_SIZE,
                        },
                    });
                }
                let bytes =
                    STANDARD
                        .decode(compact.as_bytes())
                        .map_err(|_| VcardError::BadKey {
                            index,
                            source: KeyError::BadAutocryptHeader {
                                reason: "the vCard KEY is not base64",
                            },
                        })?;
                Some(
                    PeerKey::from_bytes(&bytes)
                        .map_err(|source| VcardError::BadKey { index, source })?,
                )
            }
        };
        Ok(VcardContact {
            addr,
            name: self.name.unwrap_or_default().trim().to_owned(),
            key,
        })
    }
}

/// One content line: `[group.]name[;params]:value`.
struct Property<'a> {
    name: &'a str,
    params: Vec<&'a str>,
    value: &'a str,
}

impl<'a> Property<'a> {
    fn parse(line: &'a str) -> Option<Property<'a>> {
        // The value starts at the first ':' outside a quoted parameter value.
        let mut quoted = false;
        let colon = line.char_indices().find_map(|(i, c)| match c {
            '"' => {
                quoted = !quoted;
                None
            }
            ':' if !quoted => Some(i),
            _ => None,
        })?;
        let (head, value) = (line.get(..colon)?, line.get(colon + 1..)?);
        let mut parts = head.split(';');
        let name = parts.next()?;
        // A group prefix (`item1.EMAIL`) does not change the property's meaning.
        let name = name.rsplit_once('.').map_or(name, |(_, n)| n);
        if name.is_empty() {
            return None;
        }
        Some(Property {
            name,
            params: parts.collect(),
            value,
        })
    }

    /// The base64 of an OpenPGP key in a `KEY` value, if it is one.
    fn pgp_key_base64(&self) -> Option<&'a str> {
        // vCard 4: a data: URI, with the comma escaped (as Delta Chat writes it) or not.
        for prefix in [
            "data:application/pgp-keys;base64\\,",
            "data:application/pgp-keys;base64,",
        ] {
            if let Some(head) = self.value.get(..prefix.len())
                && head.eq_ignore_ascii_case(prefix)
            {
                return self.value.get(prefix.len()..);
            }
        }
        // vCard 3: KEY;TYPE=PGP;ENCODING=b:... or KEY;PGP;ENCODING=BASE64:...
        let has = |want: &[&str]| {
            self.params
                .iter()
                .any(|p| want.iter().any(|w| p.eq_ignore_ascii_case(w)))
        };
        (has(&["PGP", "TYPE=PGP"]) && has(&["ENCODING=b", "ENCODING=BASE64"])).then_some(self.value)
    }
}

/// The logical lines of `text`: CRLF or LF line ends, a line starting with a space or tab
/// continues the previous one (the whitespace is dropped).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_owned()),
        }
    }
    lines
}

/// Appends `line` to `out`, folded at [`FOLD_AT`] octets on character boundaries, with CRLF.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > FOLD_AT {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// RFC 6350 section 3.4 escaping of a text value.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(next @ ('\\' | ',' | ';' | ':')) => out.push(next),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` (RFC 6350 section 4.3.5, UTC).
fn timestamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (days are never negative
/// here).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::Identity;

    fn key() -> PeerKey {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        Identity::generate("bob@example.net", 1_700_000_000, &mut rng)
            .unwrap()
            .public_key()
    }

    #[test]
    fn dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
        assert_eq!(timestamp(1_795_700_000), "20261126T133320Z");
    }

    #[test]
    fn lines_are_folded_and_round_trip() {
        let key = key();
        let card = vcard("bob@example.net", "Bob; the \"builder\", \\o/", &key, 0).unwrap();
        assert!(card.split("\r\n").all(|l| l.len() <= FOLD_AT));
        let read = parse_vcards(&card).unwrap();
        assert_eq!(read[0].name, "Bob; the \"builder\", \\o/");
        assert_eq!(
            read[0].key.as_ref().unwrap().fingerprint(),
            key.fingerprint()
        );
    }

    #[test]
    fn delta_chat_and_vcard3_forms() {
        let key = key();
        let b64 = STANDARD.encode(key.to_bytes().unwrap());
        for (line, addr) in [
            (
                format!("KEY:data:application/pgp-keys;base64\\,{b64}"),
                "EMAIL:bob@example.net",
            ),
            (
                format!("KEY:data:application/pgp-keys;base64,{b64}"),
                "item1.EMAIL;PREF=1:bob@example.net",
            ),
            (
                format!("KEY;TYPE=PGP;ENCODING=b:{b64}"),
                "EMAIL;TYPE=work:bob@example.net",
            ),
            (
                format!("KEY;PGP;ENCODING=BASE64:{b64}"),
                "EMAIL:bob@example.net",
            ),
        ] {
            // Unfolded, LF line ends, other properties around.
            let text = format!("BEGIN:VCARD\nVERSION:3.0\nN:;;\n{addr}\n{line}\nEND:VCARD\n");
            let read = parse_vcards(&text).unwrap();
            assert_eq!(read[0].addr, "bob@example.net");
            assert_eq!(read[0].name, "");
            assert_eq!(
                read[0].key.as_ref().unwrap().fingerprint(),
                key.fingerprint()
            );
        }
    }

    #[test]
    fn bad_cards() {
        assert!(matches!(parse_vcards("hello"), Err(VcardError::NoCard)));
        assert!(matches!(
            parse_vcards("BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n"),
            Err(VcardError::NoAddress { index: 0 })
        ));
        assert!(matches!(
            parse_vcards("BEGIN:VCARD\r\nEMAIL:a@b\r\nKEY;TYPE=PGP;ENCODING=b:AAAA\r\nEND:VCARD"),
            Err(VcardError::BadKey { index: 0, .. })
        ));
        let no_key = parse_vcards("BEGIN:VCARD\r\nEMAIL:a@b\r\nEND:VCARD").unwrap();
        assert!(no_key[0].key.is_none());
        let huge = "x".repeat(MAX_VCARD_SIZE + 1);
        assert!(matches!(
            parse_vcards(&huge),
            Err(VcardError::TooLarge { .. })
        ));
        assert!(matches!(
            vcard("not an address", "", &key(), 0),
            Err(KeyError::BadAddress)
        ));
    }
}
