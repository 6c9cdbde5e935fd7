//! Email addresses as mailbox names.
//!
//! The spool keeps one directory per address, so an address is also a file name: parsing
//! lowercases it and refuses anything that could name another place than one directory directly
//! under the spool root (`/`, `\`, NUL, `..`, a leading dot, control characters, whitespace).
//! IMAP/SMTP use the same type for envelope addresses.

use std::fmt;
use std::path::{Component, Path};

/// The longest address accepted, in bytes after normalization: RFC 5321 section 4.5.3.1.3
/// allows a 256-byte path including the angle brackets. It also keeps the mailbox directory name
/// under the usual 255-byte file name limit.
pub const MAX_ADDRESS_LEN: usize = 254;

/// A normalized email address (lowercase), safe to use as a single path component.
///
/// ```
/// use mail::Address;
///
/// let alice = Address::parse("Alice@Example.ORG")?;
/// assert_eq!(alice.as_str(), "alice@example.org");
/// assert!(Address::parse("../../etc/passwd@x").is_err());
/// # Ok::<(), mail::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

impl Address {
    /// Normalizes (lowercases) and checks `address`.
    ///
    /// The check is deliberately narrower than RFC 5322: one `@` with something on both sides,
    /// no whitespace or control characters, no path separators, no `..`, no leading dot. What
    /// Delta Chat-compatible clients produce passes.
    pub fn parse(address: &str) -> Result<Address, AddressError> {
        if address.is_empty() {
            return Err(AddressError::Empty);
        }
        let normalized = address.to_lowercase();
        if normalized.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong {
                len: normalized.len(),
                max: MAX_ADDRESS_LEN,
            });
        }
        if let Some((position, character)) = normalized
            .char_indices()
            .find(|&(_, c)| c == '/' || c == '\\' || c.is_control() || c.is_whitespace())
        {
            return Err(AddressError::ForbiddenCharacter {
                character,
                position,
            });
        }
        if normalized.contains("..") {
            return Err(AddressError::DotDot);
        }
        if normalized.starts_with('.') {
            return Err(AddressError::LeadingDot);
        }
        let at_signs = normalized.matches('@').count();
        if at_signs != 1 {
            return Err(AddressError::AtSigns { count: at_signs });
        }
        match normalized.split_once('@') {
            Some(("", _)) | None => return Err(AddressError::EmptyLocalPart),
            Some((_, "")) => return Err(AddressError::EmptyDomain),
            Some(_) => {}
        }
        // Belt and braces: whatever the rules above miss, the result must be exactly one
        // ordinary path component, so `root.join(address)` stays directly under `root`.
        let mut components = Path::new(&normalized).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if name == normalized.as_str() => {}
            _ => return Err(AddressError::NotAFileName),
        }
        Ok(Address(normalized))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

/// Why a string is not an acceptable address. Always the caller's (or the peer's) input: a
/// permanent failure, retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The address is the empty string.
    #[error("empty address")]
    Empty,
    /// The address is longer than [`MAX_ADDRESS_LEN`].
    #[error("address is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Length in bytes after lowercasing.
        len: usize,
        /// The limit, [`MAX_ADDRESS_LEN`].
        max: usize,
    },
    /// The address contains a path separator, a control character (NUL included) or
    /// whitespace.
    #[error("address contains {character:?} at byte {position}")]
    ForbiddenCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the lowercased address.
        position: usize,
    },
    /// The address contains `..` (never valid in an address, and a path traversal).
    #[error("address contains \"..\"")]
    DotDot,
    /// The address starts with a dot (never valid, and a hidden file name).
    #[error("address starts with a dot")]
    LeadingDot,
    /// The address does not have exactly one `@`.
    #[error("address has {count} '@' signs, expected exactly one")]
    AtSigns {
        /// How many `@` it has.
        count: usize,
    },
    /// Nothing before the `@`.
    #[error("address has an empty local part")]
    EmptyLocalPart,
    /// Nothing after the `@`.
    #[error("address has an empty domain")]
    EmptyDomain,
    /// The address would not be exactly one file name on this platform.
    #[error("address is not usable as a mailbox name on this platform")]
    NotAFileName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases() {
        let a = Address::parse("Bob.Smith@Example.Org").unwrap();
        assert_eq!(a.as_str(), "bob.smith@example.org");
        assert_eq!(a, "bob.smith@EXAMPLE.org".parse().unwrap());
    }

    #[test]
    fn refuses_path_tricks() {
        let cases: &[(&str, AddressError)] = &[
            ("", AddressError::Empty),
            ("..", AddressError::DotDot),
            (".", AddressError::LeadingDot),
            (
                "../x@y",
                AddressError::ForbiddenCharacter {
                    character: '/',
                    position: 2,
                },
            ),
            ("a..b@y", AddressError::DotDot),
            ("a@..", AddressError::DotDot),
            (".a@y", AddressError::LeadingDot),
            (
                "a/b@y",
                AddressError::ForbiddenCharacter {
                    character: '/',
                    position: 1,
                },
            ),
            (
                "a\\b@y",
                AddressError::ForbiddenCharacter {
                    character: '\\',
                    position: 1,
                },
            ),
            (
                "a\0b@y",
                AddressError::ForbiddenCharacter {
                    character: '\0',
                    position: 1,
                },
            ),
            (
                "a b@y",
                AddressError::ForbiddenCharacter {
                    character: ' ',
                    position: 1,
                },
            ),
            (
                "a\nb@y",
                AddressError::ForbiddenCharacter {
                    character: '\n',
                    position: 1,
                },
            ),
            (
                "/etc/passwd",
                AddressError::ForbiddenCharacter {
                    character: '/',
                    position: 0,
                },
            ),
            ("ab", AddressError::AtSigns { count: 0 }),
            ("a@b@c", AddressError::AtSigns { count: 2 }),
            ("@b", AddressError::EmptyLocalPart),
            ("a@", AddressError::EmptyDomain),
        ];
        for (input, expected) in cases {
            assert_eq!(Address::parse(input).as_ref(), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn length_limit() {
        let ok = format!("{}@x", "a".repeat(MAX_ADDRESS_LEN - 2));
        assert!(Address::parse(&ok).is_ok());
        let long = format!("{}@x", "a".repeat(MAX_ADDRESS_LEN - 1));
        assert_eq!(
            Address::parse(&long),
            Err(AddressError::TooLong {
                len: MAX_ADDRESS_LEN + 1,
                max: MAX_ADDRESS_LEN
            })
        );
    }
}
