//! Errors, one enum per operation, sorted by whose fault they are.
//!
//! - [`KeyError`]: importing, generating or exporting OpenPGP keys.
//! - [`BuildError`]: building outgoing mail (almost always a caller mistake).
//! - [`EnvelopeError`]: parsing incoming mail (almost always the sender's or a relay's fault).
//!
//! No error carries key material. rPGP's own errors are wrapped in [`OpenPgpError`] so that
//! callers need not depend on the `pgp` crate.

use std::fmt;

use crate::Fingerprint;

/// An error reported by rPGP, the OpenPGP implementation underneath.
///
/// Its text says what rPGP did not like; it never contains secret key material.
#[derive(Debug)]
pub struct OpenPgpError(Inner);

#[derive(Debug)]
enum Inner {
    Pgp(pgp::errors::Error),
    /// rPGP panicked on the input; the panic was caught.
    Panicked,
}

impl OpenPgpError {
    pub(crate) fn new(error: pgp::errors::Error) -> Self {
        Self(Inner::Pgp(error))
    }

    pub(crate) fn panicked() -> Self {
        Self(Inner::Panicked)
    }
}

impl fmt::Display for OpenPgpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Pgp(error) => error.fmt(f),
            Inner::Panicked => f.write_str("the OpenPGP library panicked on this input"),
        }
    }
}

impl std::error::Error for OpenPgpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Inner::Pgp(error) => error.source(),
            Inner::Panicked => None,
        }
    }
}

impl From<pgp::errors::Error> for OpenPgpError {
    fn from(error: pgp::errors::Error) -> Self {
        Self::new(error)
    }
}

/// Importing, generating or exporting an OpenPGP key failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    // --- The key data is bad (whoever produced it is at fault).
    /// The data is not an OpenPGP key of the expected kind (public key / secret key), or its
    /// packets are malformed.
    #[error("not a valid OpenPGP key: {0}")]
    Malformed(#[source] OpenPgpError),
    /// A binding or user id self-signature of the key does not verify.
    #[error("the key's self-signatures do not verify: {0}")]
    BadSelfSignature(#[source] OpenPgpError),
    /// The key is larger than this crate accepts.
    #[error("key data of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the offered key data in bytes.
        size: usize,
        /// The limit ([`crate::MAX_KEY_SIZE`]).
        limit: usize,
    },
    /// An `Autocrypt` header is not of the form `addr=...; [prefer-encrypt=mutual;] keydata=...`
    /// (Autocrypt Level 1, section 2.1): a required attribute is missing, an unknown critical
    /// attribute is present, or `keydata` is not base64.
    #[error("invalid Autocrypt header: {reason}")]
    BadAutocryptHeader {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A fingerprint given as text is not 40 (v4) or 64 (v6) hexadecimal digits.
    #[error("invalid fingerprint: expected 40 or 64 hex digits, got {digits} characters")]
    BadFingerprint {
        /// How many characters (spaces removed) were given.
        digits: usize,
    },

    // --- The key is well formed but cannot serve as an account identity.
    /// The secret key is protected by a password; identities are stored unprotected (the
    /// database protects them), as Delta Chat does.
    #[error("the secret key is password protected")]
    PasswordProtected,
    /// The key lacks a component this crate needs: a signing-capable primary key or an
    /// encryption-capable subkey.
    #[error("the key is unusable: {reason}")]
    Unusable {
        /// What is missing.
        reason: &'static str,
    },

    // --- The caller asked for something impossible.
    /// The address for the user id is not a plain `local@domain` address.
    #[error("invalid address for the key's user id")]
    BadAddress,
    /// The creation time does not fit OpenPGP's 32-bit timestamps.
    #[error("creation time {seconds} does not fit a 32-bit OpenPGP timestamp")]
    TimeOutOfRange {
        /// The offered time, seconds since the Unix epoch.
        seconds: u64,
    },

    // --- Should not happen.
    /// rPGP failed while generating or serializing a key.
    #[error("OpenPGP operation failed: {0}")]
    OpenPgp(#[source] OpenPgpError),
}

/// Building an outgoing mail failed. Apart from [`BuildError::OpenPgp`], every variant is a
/// caller mistake that the same input will always reproduce.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An address (`from` or one of `to`) is not a plain `local@domain` address.
    #[error("invalid address in {field}")]
    BadAddress {
        /// Which field: `"from"` or `"to"`.
        field: &'static str,
    },
    /// The Message-ID is empty, has no `@`, or contains whitespace, `<`, `>` or control
    /// characters (give it without angle brackets).
    #[error("invalid Message-ID")]
    BadMessageId,
    /// The date does not fit the mail or OpenPGP formats (after year 2106).
    #[error("date {seconds} is out of range")]
    DateOutOfRange {
        /// The offered date, seconds since the Unix epoch.
        seconds: u64,
    },
    /// A header name is empty or contains characters outside printable ASCII, or `:`.
    #[error("invalid header name {name:?}")]
    BadHeaderName {
        /// The offered name.
        name: String,
    },
    /// The header is set by this crate itself (From, To, Date, Message-ID, Subject,
    /// MIME-Version, Content-*, Autocrypt, Chat-Version, HP-Outer) and may not be given as an
    /// extra header.
    #[error("header {name:?} is set by the envelope and cannot be given as an extra header")]
    ReservedHeader {
        /// The offered name.
        name: String,
    },
    /// A header value (or the subject) contains CR, LF or NUL, or a word longer than
    /// [`crate::MAX_HEADER_WORD`] bytes that cannot be folded.
    #[error("invalid value for header {name:?}")]
    BadHeaderValue {
        /// The header whose value is invalid.
        name: String,
    },
    /// An attachment content type is not a plain `type/subtype`, or its file name contains
    /// control characters.
    #[error("invalid attachment: {reason}")]
    BadAttachment {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A recipient key (or our own key) has no valid encryption-capable subkey.
    #[error("key {fingerprint} has no usable encryption subkey")]
    NoEncryptionKey {
        /// The primary fingerprint of the key.
        fingerprint: Fingerprint,
    },
    /// The finished mail would exceed [`crate::MAX_MAIL_SIZE`], so no receiver would read it.
    #[error("mail of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the mail (or of its content, if it was rejected before encryption).
        size: usize,
        /// The limit ([`crate::MAX_MAIL_SIZE`]).
        limit: usize,
    },
    /// rPGP failed to encrypt or sign. Should not happen with keys this crate accepted.
    #[error("OpenPGP operation failed: {0}")]
    OpenPgp(#[source] OpenPgpError),
}

/// Parsing an incoming mail failed.
///
/// Sorted by cause. In a chat client, [`EnvelopeError::NotForUs`] is normal traffic on a
/// shared mailbox and is ignored silently; the malformed and crypto failures are shown as
/// "unreadable message" or dropped; [`EnvelopeError::BadSignature`] and
/// [`EnvelopeError::NotIntendedRecipient`] are evidence of tampering or forwarding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    // --- Malformed mail (sender or relay at fault).
    /// The raw mail is larger than [`crate::MAX_MAIL_SIZE`]; it was not parsed. Also reported
    /// when decryption or decompression yields more than that.
    #[error("mail of at least {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size seen so far, in bytes.
        size: usize,
        /// The limit ([`crate::MAX_MAIL_SIZE`]).
        limit: usize,
    },
    /// The MIME structure is nested deeper, or has more parts, than this crate accepts
    /// ([`crate::MAX_MIME_DEPTH`], [`crate::MAX_MIME_PARTS`]).
    #[error("MIME structure too complex: {what} of {found} exceeds the limit of {limit}")]
    TooComplex {
        /// `"nesting depth"`, `"part count"` or `"boundary lines"`.
        what: &'static str,
        /// What was found.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// The mail (or the decrypted inner MIME part) is not valid RFC 5322 / MIME, lacks a
    /// `From` address, or a `multipart/encrypted` mail is not the RFC 3156 two-part
    /// structure.
    #[error("malformed mail: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The OpenPGP data in the `application/octet-stream` part is not a valid armored OpenPGP
    /// message (bad armor, bad checksum, bad packets).
    #[error("malformed OpenPGP message: {0}")]
    MalformedPgp(#[source] OpenPgpError),

    // --- Not for us, or cannot be decrypted.
    /// None of the message's session-key packets is addressed to (or decrypts with) our key:
    /// the mail was encrypted for someone else.
    #[error("the mail is not encrypted to our key")]
    NotForUs,
    /// A session key was found, but the encrypted data does not decrypt: its integrity check
    /// (MDC or AEAD tag) failed or its content is corrupt. The ciphertext was damaged or
    /// tampered with.
    #[error("decryption failed: {0}")]
    DecryptionFailed(#[source] OpenPgpError),

    // --- Authenticity.
    /// A signature names a key we know (a known key, our own, or the Autocrypt key in the same
    /// message) as its issuer, but does not verify with it: forged or damaged.
    #[error("signature by {fingerprint} does not verify")]
    BadSignature {
        /// The primary fingerprint of the key that should have made the signature.
        fingerprint: Fingerprint,
    },
    /// The signature verifies, but lists intended recipients (RFC 9580 section 5.2.3.36) and
    /// our key is not among them: a signed message for someone else was re-encrypted to us.
    #[error("signed by {signer} for other recipients")]
    NotIntendedRecipient {
        /// The primary fingerprint of the signer.
        signer: Fingerprint,
    },

    // --- Valid, but not something this crate handles.
    /// The mail uses a mechanism this crate does not support: a `multipart/encrypted` protocol
    /// other than PGP/MIME, legacy unprotected (SED) or GnuPG-AEAD encryption, an encrypted
    /// payload that is not encrypted, or nested encryption or compression.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
}
