//! Wire formats: how OTR v2/v3 messages look as text and as bytes.
//!
//! Follows "Details of the protocol" in the OTR v3 spec (`Protocol-v3.html`, and the same
//! sections of `Protocol-v2.html`):
//!
//! | spec section | here |
//! | --- | --- |
//! | Unencoded messages / OTR Query Messages | [`Query`], [`Versions`] |
//! | Unencoded messages / Tagged plaintext messages | [`whitespace_tag`] |
//! | Unencoded messages / OTR Error Messages | [`error_message`] |
//! | Encoded messages ("?OTR:" + base-64 + ".") | [`armor`], [`dearmor`] |
//! | Encoded messages / Data types | [`codec`] |
//! | D-H Commit ... Data Message | [`Encoded`], [`Body`] and its message types |
//! | Fragmentation (detection only) | [`Message::Fragment`]; reassembly is `crate::fragment` |
//!
//! Everything starts with [`Message::parse`], which classifies one incoming string:
//!
//! ```text
//!   incoming &str
//!        |
//!        +-- contains "?OTR|" / "?OTR,"  --> Message::Fragment   (crate::fragment reassembles)
//!        +-- contains "?OTR:"            --> Message::Encoded    (dearmor + Encoded::decode)
//!        +-- contains "?OTR Error:"      --> Message::Error
//!        +-- contains "?OTR?" / "?OTRv"  --> Message::Query
//!        +-- contains the whitespace tag --> Message::Plaintext { whitespace_tag: Some(..) }
//!        +-- otherwise                   --> Message::Plaintext { whitespace_tag: None }
//! ```
//!
//! The checks run in that order: the spec asks for fragments to be recognised before any other
//! "?OTR" marker (section "Fragmentation"), and an armored message is recognised before the
//! plain-text forms because its base-64 can never contain them.
//!
//! Decoding never panics and never allocates more than the input justifies: every length field
//! is checked against the bytes that remain before anything is copied, armored messages are
//! limited to [`MAX_ENCODED_LEN`] decoded bytes, and trailing bytes are an error.
//!
//! ```
//! use otr::wire::{Message, Query, Versions};
//!
//! let offer = Versions { v1: false, v2: true, v3: true };
//! let text = Query::message(offer);
//! assert_eq!(text, "?OTRv23?");
//! assert_eq!(Message::parse(&text).unwrap(), Message::Query { versions: offer });
//! ```

mod armor;
pub mod codec;
mod encoded;
mod error;
mod otr_error;
mod query;
mod whitespace;

pub use armor::{MAX_ENCODED_LEN, armor, dearmor};
pub use encoded::{
    Body, DataMessage, DhCommit, DhKey, Encoded, FLAG_IGNORE_UNREADABLE, RevealSignature,
    SignatureMessage,
};
pub(crate) use encoded::{DataMessageHead, DataMessageRef, Decoded, finish_data_message};
pub use error::DecodeError;
pub use otr_error::error_message;
pub use query::Query;
pub use whitespace::whitespace_tag;

/// OTR protocol versions this crate speaks on the wire.
///
/// Version 1 is only ever *offered* by peers (see [`Versions::v1`]); its messages are rejected
/// with [`DecodeError::UnsupportedVersion`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ProtocolVersion {
    /// OTR version 2 (`0x0002` on the wire, no instance tags).
    V2,
    /// OTR version 3 (`0x0003` on the wire, with sender and receiver instance tags).
    V3,
}

impl ProtocolVersion {
    /// The version number as carried in the "Protocol version (SHORT)" field.
    pub const fn number(self) -> u16 {
        match self {
            ProtocolVersion::V2 => 2,
            ProtocolVersion::V3 => 3,
        }
    }

    /// The version with this wire number, if we speak it.
    pub const fn from_number(number: u16) -> Option<Self> {
        match number {
            2 => Some(ProtocolVersion::V2),
            3 => Some(ProtocolVersion::V3),
            _ => None,
        }
    }

    /// Whether messages of this version carry sender and receiver instance tags (v3 only).
    pub const fn has_instance_tags(self) -> bool {
        matches!(self, ProtocolVersion::V3)
    }
}

/// A set of offered versions (query messages, whitespace tags).
///
/// Unknown versions offered by a peer (a "4" or "x" in a query, or the OTRv4 whitespace tag) are
/// not represented.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Versions {
    /// OTR version 1 offered (we never speak it, but it changes the query's spelling).
    pub v1: bool,
    /// OTR version 2 offered.
    pub v2: bool,
    /// OTR version 3 offered.
    pub v3: bool,
}

impl Versions {
    /// Whether `version` is in the set.
    pub const fn contains(self, version: ProtocolVersion) -> bool {
        match version {
            ProtocolVersion::V2 => self.v2,
            ProtocolVersion::V3 => self.v3,
        }
    }
}

/// One incoming string, classified.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// Not OTR at all, or plaintext carrying a whitespace tag (the tag is removed from `text`;
    /// `whitespace_tag` holds the offered versions).
    Plaintext {
        /// The text to show the user, whitespace tag removed.
        text: String,
        /// The versions offered by a whitespace tag, if the text carried one.
        whitespace_tag: Option<Versions>,
    },
    /// An OTR query message; `versions` offered. (libotr finds "?OTR?" / "?OTRv" anywhere in
    /// the text.)
    Query {
        /// The offered versions.
        versions: Versions,
    },
    /// An OTR error message; `text` is the human-readable part after "?OTR Error:" (one leading
    /// space stripped).
    Error {
        /// The human-readable details.
        text: String,
    },
    /// A base64-armored binary message "?OTR:...." ; `raw` is the decoded binary (needed to
    /// verify Data MACs, see [`Encoded::raw_data_mac_input`]).
    Encoded {
        /// The parsed message.
        encoded: Encoded,
        /// The bytes it was parsed from.
        raw: Vec<u8>,
    },
    /// A fragment ("?OTR|" v3 or "?OTR," v2); the raw string, parsed by `crate::fragment`.
    ///
    /// The string starts at the fragment marker: any text before it is dropped (the spec says
    /// "a message containing "?OTR|"", and libotr 4.1.1 looks for the marker anywhere).
    Fragment(String),
}

/// The v3 fragment marker (spec "Fragmentation").
const FRAGMENT_V3: &str = "?OTR|";
/// The v2 fragment marker (spec "Fragmentation").
const FRAGMENT_V2: &str = "?OTR,";

/// The marker of an armored message.
const ARMOR: &str = "?OTR:";

/// Where the first fragment and armor markers are in a text, found in one pass.
struct Markers {
    fragment_v3: Option<usize>,
    fragment_v2: Option<usize>,
    armor: Option<usize>,
}

impl Markers {
    /// Jumps from one '?' to the next (a byte search, fast on long base-64 that has none).
    fn find(input: &str) -> Markers {
        let mut markers = Markers {
            fragment_v3: None,
            fragment_v2: None,
            armor: None,
        };
        let mut from = 0;
        while let Some(found) = input
            .as_bytes()
            .get(from..)
            .and_then(|rest| memchr::memchr(b'?', rest))
        {
            let at = from + found;
            let rest = input.get(at..).unwrap_or_default();
            let slot = if rest.starts_with(FRAGMENT_V3) {
                &mut markers.fragment_v3
            } else if rest.starts_with(FRAGMENT_V2) {
                &mut markers.fragment_v2
            } else if rest.starts_with(ARMOR) {
                &mut markers.armor
            } else {
                from = at + 1;
                continue;
            };
            slot.get_or_insert(at);
            if markers.fragment_v3.is_some() {
                // A v3 fragment marker wins over everything else.
                break;
            }
            from = at + 1;
        }
        markers
    }
}

impl Message {
    /// Classifies one incoming string, in the order drawn in the [module docs](self).
    ///
    /// Fails only for armored messages ("?OTR:") that do not decode: bad base-64, missing final
    /// ".", over [`MAX_ENCODED_LEN`], or a binary message [`Encoded::decode`] rejects.
    pub fn parse(input: &str) -> Result<Message, DecodeError> {
        let mut raw = Vec::new();
        Ok(match Incoming::parse(input, &mut raw)? {
            Incoming::Message(message) => message,
            Incoming::Encoded(decoded) => {
                let encoded = decoded.into_encoded();
                Message::Encoded { encoded, raw }
            }
        })
    }
}

/// One incoming string classified as [`Message::parse`] does, for the receive path: an armored
/// message is decoded into a buffer the caller keeps, and a Data Message's fields stay
/// borrowed from it.
pub(crate) enum Incoming<'a> {
    /// Anything but an armored message.
    Message(Message),
    /// An armored message, decoded.
    Encoded(Decoded<'a>),
}

impl<'a> Incoming<'a> {
    /// Classifies `input`; an armored message's bytes go to `raw` (cleared first).
    pub(crate) fn parse(input: &str, raw: &'a mut Vec<u8>) -> Result<Incoming<'a>, DecodeError> {
        // Spec "Fragmentation": check for fragments before any other "?OTR" marker. Like libotr,
        // "?OTR|" anywhere wins over "?OTR," anywhere.
        let markers = Markers::find(input);
        if let Some(at) = markers.fragment_v3.or(markers.fragment_v2) {
            let fragment = input.get(at..).unwrap_or(input);
            return Ok(Incoming::Message(Message::Fragment(fragment.to_owned())));
        }
        if let Some(at) = markers.armor {
            let after = input.get(at + ARMOR.len()..).unwrap_or_default();
            armor::dearmor_after_prefix_into(after, raw)?;
            return Ok(Incoming::Encoded(Encoded::decode_borrowed(raw)?));
        }
        if let Some(text) = otr_error::parse(input) {
            return Ok(Incoming::Message(Message::Error {
                text: text.to_owned(),
            }));
        }
        if let Some(versions) = query::parse(input) {
            return Ok(Incoming::Message(Message::Query { versions }));
        }
        Ok(Incoming::Message(match whitespace::strip(input) {
            Some((text, versions)) => Message::Plaintext {
                text,
                whitespace_tag: Some(versions),
            },
            None => Message::Plaintext {
                text: input.to_owned(),
                whitespace_tag: None,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::InstanceTag;

    fn versions(v1: bool, v2: bool, v3: bool) -> Versions {
        Versions { v1, v2, v3 }
    }

    #[test]
    fn protocol_version_numbers() {
        assert_eq!(ProtocolVersion::V2.number(), 2);
        assert_eq!(ProtocolVersion::V3.number(), 3);
        assert_eq!(ProtocolVersion::from_number(3), Some(ProtocolVersion::V3));
        assert_eq!(ProtocolVersion::from_number(1), None);
        assert!(versions(false, true, false).contains(ProtocolVersion::V2));
        assert!(!versions(true, true, false).contains(ProtocolVersion::V3));
    }

    #[test]
    fn plain_text_is_plaintext() {
        assert_eq!(
            Message::parse("hello ?OTR world").unwrap(),
            Message::Plaintext {
                text: "hello ?OTR world".into(),
                whitespace_tag: None
            }
        );
        assert_eq!(
            Message::parse("").unwrap(),
            Message::Plaintext {
                text: String::new(),
                whitespace_tag: None
            }
        );
    }

    #[test]
    fn queries_are_found_anywhere() {
        assert_eq!(
            Message::parse("Alice wants OTR: ?OTRv23? see https://otr.cypherpunks.ca/").unwrap(),
            Message::Query {
                versions: versions(false, true, true)
            }
        );
    }

    #[test]
    fn spec_query_table_through_parse() {
        let table = [
            ("?OTR?", versions(true, false, false)),
            ("?OTRv2?", versions(false, true, false)),
            ("?OTRv23?", versions(false, true, true)),
            ("?OTR?v2?", versions(true, true, false)),
            ("?OTRv24x?", versions(false, true, false)),
            ("?OTR?v24x?", versions(true, true, false)),
            ("?OTR?v?", versions(true, false, false)),
            ("?OTRv?", versions(false, false, false)),
        ];
        for (text, expected) in table {
            assert_eq!(
                Message::parse(text).unwrap(),
                Message::Query { versions: expected },
                "{text}"
            );
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Message::parse("?OTR Error: You sent encrypted data which was unreadable").unwrap(),
            Message::Error {
                text: "You sent encrypted data which was unreadable".into()
            }
        );
        assert_eq!(
            Message::parse(&error_message("boom")).unwrap(),
            Message::Error {
                text: "boom".into()
            }
        );
    }

    #[test]
    fn whitespace_tagged_plaintext() {
        let tag = whitespace_tag(versions(false, true, true));
        let input = format!("Hello{tag} world");
        assert_eq!(
            Message::parse(&input).unwrap(),
            Message::Plaintext {
                text: "Hello world".into(),
                whitespace_tag: Some(versions(false, true, true))
            }
        );
    }

    #[test]
    fn fragments_come_first() {
        let v3 = "?OTR|5a73a599|27e31597,00001,00003,?OTR:AAMDJ+MVmSfjFZcAAAAA,";
        assert_eq!(Message::parse(v3).unwrap(), Message::Fragment(v3.into()));
        let v2 = "?OTR,1,3,?OTR:AAEDAAAAAQAAAAEAAADAVf3Ei72ZgFeKqWvLMnuVPVCwxk,";
        assert_eq!(Message::parse(v2).unwrap(), Message::Fragment(v2.into()));
        // Text before the marker is dropped.
        assert_eq!(
            Message::parse(&format!("\r\n> {v3}")).unwrap(),
            Message::Fragment(v3.into())
        );
    }

    #[test]
    fn encoded_messages_anywhere_with_trailing_text() {
        let encoded = Encoded {
            version: ProtocolVersion::V3,
            sender_instance: InstanceTag::new(0x1234),
            receiver_instance: InstanceTag::new(0x5678),
            body: Body::DhKey(DhKey { gy: vec![1, 2, 3] }),
        };
        let text = format!("prefix {} suffix", encoded.to_armored());
        match Message::parse(&text).unwrap() {
            Message::Encoded { encoded: got, raw } => {
                assert_eq!(got, encoded);
                assert_eq!(raw, encoded.encode());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_armor_is_an_error() {
        assert_eq!(
            Message::parse("?OTR:AAMK"),
            Err(DecodeError::MissingTerminator)
        );
        assert_eq!(
            Message::parse("?OTR:AA*MK."),
            Err(DecodeError::InvalidBase64)
        );
        assert!(matches!(
            Message::parse("?OTR:AAMK."),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn oversized_armor_is_rejected() {
        let big = format!("?OTR:{}.", "A".repeat(MAX_ENCODED_LEN / 3 * 4 + 8));
        assert!(matches!(
            Message::parse(&big),
            Err(DecodeError::TooLarge {
                limit: MAX_ENCODED_LEN,
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = Message::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_otr_looking_text(
            prefix in "[ \t?OTRv23:|,. Error]{0,12}",
            body in "[A-Za-z0-9+/=\\s.?|,]{0,64}",
        ) {
            let _ = Message::parse(&format!("{prefix}{body}"));
            let _ = Message::parse(&format!("?OTR:{body}"));
            let _ = Message::parse(&format!("?OTRv{body}"));
        }
    }
}
