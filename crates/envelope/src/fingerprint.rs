//! OpenPGP key fingerprints (RFC 9580 section 5.5.4).

use std::fmt;

use crate::KeyError;

/// The fingerprint of an OpenPGP key: 20 bytes for v4 keys (SHA-1), 32 for v6 keys.
///
/// It is shown as uppercase hexadecimal without spaces, as Delta Chat stores and compares
/// fingerprints (`Display`, [`Fingerprint::to_hex`]).
///
/// ```
/// use envelope::Fingerprint;
///
/// let fp = Fingerprint::from_hex("1234 5678 9abc def0 1234 5678 9ABC DEF0 1234 5678").unwrap();
/// assert_eq!(fp.to_string(), "123456789ABCDEF0123456789ABCDEF012345678");
/// assert_eq!(fp.as_bytes().len(), 20);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(Vec<u8>);

impl Fingerprint {
    /// Parses 40 or 64 hexadecimal digits (either case); spaces and colons are ignored.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| !matches!(b, b' ' | b':' | b'\t'))
            .collect();
        if digits.len() != 40 && digits.len() != 64 {
            return Err(KeyError::BadFingerprint {
                digits: digits.len(),
            });
        }
        let bytes = digits
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Some(hex_value(*hi)? << 4 | hex_value(*lo)?),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or(KeyError::BadFingerprint {
                digits: digits.len(),
            })?;
        Ok(Self(bytes))
    }

    /// The raw fingerprint bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Uppercase hexadecimal, no spaces (what Delta Chat stores and shows).
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(self.0.len() * 2);
        for byte in &self.0 {
            for nibble in [byte >> 4, byte & 0x0f] {
                out.push(
                    DIGITS
                        .get(usize::from(nibble))
                        .map_or('0', |&d| char::from(d)),
                );
            }
        }
        out
    }

    pub(crate) fn from_pgp(fp: &pgp::types::Fingerprint) -> Self {
        Self(fp.as_bytes().to_vec())
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let hex = "00FF10AB00FF10AB00FF10AB00FF10AB00FF10AB";
        let fp = Fingerprint::from_hex(hex).unwrap();
        assert_eq!(fp.to_hex(), hex);
        assert_eq!(Fingerprint::from_hex(&hex.to_lowercase()).unwrap(), fp);
    }

    #[test]
    fn rejects_bad_hex() {
        assert!(Fingerprint::from_hex("00").is_err());
        assert!(Fingerprint::from_hex(&"g".repeat(40)).is_err());
    }
}
