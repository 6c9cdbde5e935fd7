//! The `Autocrypt` header (Autocrypt Level 1, section 2.1).
//!
//! ```text
//! Autocrypt: addr=alice@example.org; prefer-encrypt=mutual; keydata=mDMEZ...
//! ```
//!
//! In encrypted mail the header travels inside the encrypted part (RFC 9788 header
//! protection, as Delta Chat sends it); in plain mail it is an ordinary header.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::header::is_plain_address;
use crate::{KeyError, MAX_KEY_SIZE, PeerKey};

/// Width of the base64 runs in `keydata`, separated by spaces so the header folds.
const KEYDATA_WORD: usize = 76;

/// The sender's encryption preference (`prefer-encrypt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreferEncrypt {
    /// `prefer-encrypt=mutual`: the sender wants encrypted mail (Delta Chat always says so).
    Mutual,
    /// The attribute is absent (or has any other value).
    NoPreference,
}

/// A parsed `Autocrypt` header: who the key belongs to, and the key.
///
/// ```
/// use envelope::{AutocryptHeader, Identity, PreferEncrypt};
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let mut rng = ChaCha20Rng::seed_from_u64(3);
/// let alice = Identity::generate("alice@example.org", 1_700_000_000, &mut rng).unwrap();
/// let header = AutocryptHeader::new("alice@example.org", alice.public_key());
/// let value = header.to_header_value().unwrap();
/// assert!(value.starts_with("addr=alice@example.org; prefer-encrypt=mutual; keydata="));
///
/// let parsed = AutocryptHeader::parse(&value).unwrap();
/// assert_eq!(parsed.addr, "alice@example.org");
/// assert_eq!(parsed.prefer_encrypt, PreferEncrypt::Mutual);
/// assert_eq!(parsed.key.fingerprint(), alice.fingerprint());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AutocryptHeader {
    /// The address the key is for (`addr`). Receivers ignore the header unless it equals the
    /// mail's `From` address.
    pub addr: String,
    /// The `prefer-encrypt` attribute.
    pub prefer_encrypt: PreferEncrypt,
    /// The key (`keydata`).
    pub key: PeerKey,
}

impl AutocryptHeader {
    /// A header for `addr` with `prefer-encrypt=mutual`, as Delta Chat sends.
    pub fn new(addr: &str, key: PeerKey) -> Self {
        Self {
            addr: addr.to_owned(),
            prefer_encrypt: PreferEncrypt::Mutual,
            key,
        }
    }

    /// Parses a header value. A leading `Autocrypt:` field name is tolerated; folding
    /// whitespace in `keydata` is ignored.
    ///
    /// As Autocrypt Level 1 requires, the header is rejected if `addr` or `keydata` is
    /// missing or an unknown attribute not starting with `_` is present.
    pub fn parse(value: &str) -> Result<Self, KeyError> {
        let value = strip_field_name(value);
        let mut addr = None;
        let mut prefer_encrypt = PreferEncrypt::NoPreference;
        let mut keydata = None;
        for attribute in value.split(';') {
            let attribute = attribute.trim();
            if attribute.is_empty() {
                continue;
            }
            let Some((name, val)) = attribute.split_once('=') else {
                return Err(KeyError::BadAutocryptHeader {
                    reason: "attribute without '='",
                });
            };
            let (name, val) = (name.trim(), val.trim());
            match name.to_ascii_lowercase().as_str() {
                "addr" => {
                    if addr.replace(val).is_some() {
                        return Err(bad("duplicate addr"));
                    }
                }
                "prefer-encrypt" => {
                    if val == "mutual" {
                        prefer_encrypt = PreferEncrypt::Mutual;
                    }
                }
                "keydata" => {
                    if keydata.replace(val).is_some() {
                        return Err(bad("duplicate keydata"));
                    }
                }
                other if other.starts_with('_') => {}
                _ => return Err(bad("unknown critical attribute")),
            }
        }
        let addr = addr.ok_or(bad("missing addr"))?;
        if !is_plain_address(addr) {
            return Err(bad("addr is not a plain address"));
        }
        let keydata = keydata.ok_or(bad("missing keydata"))?;
        // base64 needs 4 characters per 3 bytes; check before allocating.
        if keydata.len() / 4 * 3 > MAX_KEY_SIZE {
            return Err(KeyError::TooLarge {
                size: keydata.len() / 4 * 3,
                limit: MAX_KEY_SIZE,
            });
        }
        let compact: String = keydata
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = STANDARD
            .decode(compact)
            .map_err(|_| bad("keydata is not base64"))?;
        let key = PeerKey::from_bytes(&bytes)?;
        Ok(Self {
            addr: addr.to_owned(),
            prefer_encrypt,
            key,
        })
    }

    /// The header value: `addr=...; prefer-encrypt=mutual; keydata=...`, with the base64
    /// `keydata` split by spaces into runs of 76 characters so that it folds.
    pub fn to_header_value(&self) -> Result<String, KeyError> {
        let encoded = STANDARD.encode(self.key.to_bytes()?);
        let mut value = format!("addr={}; ", self.addr);
        if self.prefer_encrypt == PreferEncrypt::Mutual {
            value.push_str("prefer-encrypt=mutual; ");
        }
        value.push_str("keydata=");
        for (i, chunk) in encoded.as_bytes().chunks(KEYDATA_WORD).enumerate() {
            if i > 0 {
                value.push(' ');
            }
            // base64 output is ASCII, so every chunk is valid UTF-8.
            value.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        }
        Ok(value)
    }
}

fn bad(reason: &'static str) -> KeyError {
    KeyError::BadAutocryptHeader { reason }
}

fn strip_field_name(value: &str) -> &str {
    let trimmed = value.trim_start();
    match trimmed.get(..10) {
        Some(prefix) if prefix.eq_ignore_ascii_case("autocrypt:") => {
            trimmed.get(10..).unwrap_or("")
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::Identity;

    fn key() -> PeerKey {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        Identity::generate("bob@example.net", 1_700_000_000, &mut rng)
            .unwrap()
            .public_key()
    }

    #[test]
    fn round_trip_and_folding() {
        let header = AutocryptHeader::new("bob@example.net", key());
        let value = header.to_header_value().unwrap();
        assert!(
            value
                .split(' ')
                .all(|word| word.len() <= KEYDATA_WORD + "keydata=".len())
        );
        assert_eq!(AutocryptHeader::parse(&value).unwrap(), header);
        let with_name = format!("Autocrypt: {value}");
        assert_eq!(AutocryptHeader::parse(&with_name).unwrap(), header);
        let folded = value.replace(' ', "\r\n ");
        assert_eq!(AutocryptHeader::parse(&folded).unwrap(), header);
    }

    #[test]
    fn attribute_rules() {
        let value = AutocryptHeader::new("bob@example.net", key())
            .to_header_value()
            .unwrap();
        let keydata = value.split_once("keydata=").unwrap().1;

        let ignored = format!("addr=bob@example.net; _extra=1; keydata={keydata}");
        let parsed = AutocryptHeader::parse(&ignored).unwrap();
        assert_eq!(parsed.prefer_encrypt, PreferEncrypt::NoPreference);

        let critical = format!("addr=bob@example.net; extra=1; keydata={keydata}");
        assert!(matches!(
            AutocryptHeader::parse(&critical),
            Err(KeyError::BadAutocryptHeader { .. })
        ));
        assert!(AutocryptHeader::parse(&format!("keydata={keydata}")).is_err());
        assert!(AutocryptHeader::parse("addr=bob@example.net").is_err());
        assert!(AutocryptHeader::parse("addr=bob@example.net; keydata=!!!").is_err());
        assert!(AutocryptHeader::parse("addr=bob@example.net; keydata=AAAA").is_err());
    }
}
