//! Why an incoming message could not be decoded.
//!
//! Every variant is the peer's (or the network's) fault: these are all "invalid message" errors
//! in the sense of the style guide, raised by [`super::Message::parse`], [`super::dearmor`],
//! [`super::Encoded::decode`] and the [`super::codec::Reader`].

/// Decoding an OTR message (armor, header or body) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field: `needed` more bytes were required, only `remaining` were
    /// left.
    #[error("truncated message: expected {needed} more bytes, found {remaining}")]
    Truncated {
        /// Bytes the field being read needs.
        needed: usize,
        /// Bytes that were left in the input.
        remaining: usize,
    },
    /// A complete message was followed by `count` extra bytes.
    #[error("{count} unexpected trailing bytes after the message")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// The "Message type" byte is none of DH-Commit, DH-Key, Reveal Signature, Signature or
    /// Data.
    #[error("unknown message type 0x{0:02x}")]
    UnknownMessageType(u8),
    /// The "Protocol version" field names a version we do not speak (e.g. `1` for OTR v1).
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// The text between "?OTR:" and "." is not valid base-64 (after removing whitespace).
    #[error("invalid base-64 in armored message")]
    InvalidBase64,
    /// An armored message has no "." after its "?OTR:".
    #[error("armored message has no terminating '.'")]
    MissingTerminator,
    /// [`super::dearmor`] was given text without the "?OTR:" marker.
    #[error("not an armored OTR message (no \"?OTR:\")")]
    NotArmored,
    /// An armored message would decode to `len` bytes, more than the `limit`
    /// ([`super::MAX_ENCODED_LEN`]).
    #[error("armored message too large: {len} bytes, limit {limit}")]
    TooLarge {
        /// Decoded size the armored text announces.
        len: usize,
        /// The largest accepted decoded size.
        limit: usize,
    },
}
