//! Building outgoing mail: PGP/MIME (RFC 3156) with RFC 9788 header protection, the way Delta
//! Chat sends it, or plain MIME.
//!
//! An encrypted mail looks like this on the wire (design section 7):
//!
//! ```text
//! From: <alice@example.org>
//! To: "hidden-recipients": ;
//! Date: <the real date, minus up to 6 days of random jitter>
//! Message-ID: <id@example.org>
//! Subject: [...]
//! MIME-Version: 1.0
//! Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="B"
//!
//! --B
//! Content-Type: application/pgp-encrypted
//! Content-Transfer-Encoding: 7bit
//!
//! Version: 1
//!
//! --B
//! Content-Type: application/octet-stream
//! Content-Transfer-Encoding: 7bit
//!
//! -----BEGIN PGP MESSAGE-----
//!
//! (PKESK... SEIPD, base64; CRC24 line; no Version: header)
//! -----END PGP MESSAGE-----
//!
//! --B--
//! ```
//!
//! and the encrypted (and, if [`Signing::Signed`], signed) payload is the real message:
//!
//! ```text
//! From: <alice@example.org>
//! To: <bob@example.net>
//! Date: <the real date>
//! Message-ID: <id@example.org>
//! Subject: the real subject
//! Chat-Version: 1.0
//! Autocrypt: addr=alice@example.org; prefer-encrypt=mutual; keydata=...
//! Chat-Otr-...: caller's extra headers
//! HP-Outer: From: <alice@example.org>          (RFC 9788: what the outside shows)
//! HP-Outer: To: "hidden-recipients": ;
//! HP-Outer: Date: ...
//! HP-Outer: Message-ID: <id@example.org>
//! HP-Outer: Subject: [...]
//! Content-Type: text/plain; charset="utf-8"; protected-headers="v1"; hp="cipher"
//!     (or multipart/mixed: text/plain + one attachment)
//! ```

use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use pgp::types::{KeyDetails, Timestamp};

use crate::header::{is_field_name, is_field_value, is_plain_address, is_reserved};
use crate::openpgp::{self, Seipd, Signer};
use crate::rng::{below, boundary};
use crate::{AutocryptHeader, BuildError, Identity, MAX_MAIL_SIZE, PeerKey};

/// How far into the past the outer `Date` header is moved, at most (6 days, as Delta Chat
/// does: random, so the relay does not learn the sending time from it; less than a week,
/// because some relays reject older dates).
pub const OUTER_DATE_JITTER: u64 = 6 * 24 * 60 * 60;

/// The message headers a mail is addressed with. For encrypted mail only `from` and
/// `message_id` are visible outside; `to` and `date` are protected inside (outside: `To:
/// "hidden-recipients": ;` and a jittered date).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailHeaders {
    /// Our address (`local@domain`, no display name).
    pub from: String,
    /// The recipients' addresses. May be empty (a mail only to our other devices).
    pub to: Vec<String>,
    /// The Message-ID without angle brackets, e.g. `Mr.abc123@example.org`.
    pub message_id: String,
    /// The sending time, seconds since the Unix epoch (also the signature time).
    pub date: u64,
}

/// The content of a mail: subject, extra headers, body. In encrypted mail all of it is
/// inside the encryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerPart {
    /// The subject (any text without line breaks; non-ASCII is RFC 2047 encoded).
    pub subject: String,
    /// Extra headers, written in this order after `Chat-Version` and `Autocrypt`, e.g.
    /// `("Chat-Otr-Invitation", "...")`. Names must be valid field names and not ones this
    /// crate writes itself; values must not contain line breaks.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// A mail body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A single `text/plain; charset=utf-8` part.
    Text(String),
    /// `multipart/mixed`: a `text/plain` part, then one attachment.
    Mixed {
        /// The text part (what clients without support for the attachment show).
        text: String,
        /// The attachment.
        attachment: Attachment,
    },
}

/// A non-text part of a mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The MIME type, `type/subtype` without parameters, e.g. `application/octet-stream`.
    pub content_type: String,
    /// An optional file name (`Content-Disposition: attachment; filename=...`).
    pub filename: Option<String>,
    /// The content (base64-encoded in the mail unless it is text).
    pub bytes: Vec<u8>,
}

/// Whether an encrypted mail is also signed with our OpenPGP key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// Sign, then encrypt (one pass, as Delta Chat does): the recipient learns that our
    /// account key sent exactly this content, and can prove it to others. For the ordinary
    /// chat, invitations and acceptances.
    Signed,
    /// Encrypt only. For OTR data messages: an OpenPGP signature on them would destroy OTR's
    /// deniability (design section 4.4).
    Unsigned,
}

/// Builds an encrypted PGP/MIME mail (full RFC 5322 bytes, CRLF line ends) from `identity`
/// to `to` and always to ourselves (so our other devices can read it).
///
/// The mail is sent as SEIPD v2 (PKESK v6, AES-256-OCB) when every recipient key, ours
/// included, advertises SEIPD v2, and as SEIPD v1 (PKESK v3, AES-256) otherwise: the rule
/// Delta Chat follows. Randomness (session key, ECDH ephemerals, padding of the date, MIME
/// boundaries) comes from `rng` only.
///
/// # Errors
///
/// [`BuildError`] for invalid addresses, headers or attachments, for a recipient key without
/// a usable encryption subkey, and for a mail larger than [`MAX_MAIL_SIZE`].
pub fn build_encrypted<R: rand_core::CryptoRng + ?Sized>(
    identity: &Identity,
    to: &[PeerKey],
    headers: &MailHeaders,
    inner: &InnerPart,
    signing: Signing,
    rng: &mut R,
) -> Result<Vec<u8>, BuildError> {
    validate(headers, inner)?;

    let mut recipients: Vec<&PeerKey> = Vec::with_capacity(to.len() + 1);
    for key in to.iter().chain(std::iter::once(identity.peer_key())) {
        if !recipients
            .iter()
            .any(|known| known.fingerprint() == key.fingerprint())
        {
            recipients.push(key);
        }
    }
    let subkeys = recipients
        .iter()
        .map(|key| {
            key.encryption_subkey(headers.date)
                .ok_or_else(|| BuildError::NoEncryptionKey {
                    fingerprint: key.fingerprint().clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let seipd = if recipients.iter().all(|key| key.supports_seipd_v2()) {
        Seipd::V2
    } else {
        Seipd::V1
    };

    let outer_date = headers.date.saturating_sub(below(rng, OUTER_DATE_JITTER));
    let plaintext = mime_entity(
        identity,
        headers,
        inner,
        Exposure::Encrypted { outer_date },
        rng,
    )?;
    if plaintext.len() > MAX_MAIL_SIZE {
        return Err(BuildError::TooLarge {
            size: plaintext.len(),
            limit: MAX_MAIL_SIZE,
        });
    }

    let signer = match signing {
        Signing::Signed => Some(Signer {
            identity,
            created: timestamp(headers.date)?,
            intended_recipients: recipients
                .iter()
                .map(|key| key.public_key().fingerprint())
                .collect(),
        }),
        Signing::Unsigned => None,
    };
    let armored = openpgp::encrypt(plaintext, &subkeys, signer, seipd, rng)?;
    // CRLF line ends, and an empty line after the END line: chatmail relays look for
    // "-----END PGP MESSAGE-----\r\n\r\n" at the end of the part.
    let mut armored = armored.replace('\n', "\r\n");
    armored.push_str("\r\n");

    let mail = MimePart::raw(BodyPart::Multipart(vec![
        MimePart::raw(BodyPart::Text("Version: 1\r\n".into()))
            .header(
                "Content-Type",
                ContentType::new("application/pgp-encrypted"),
            )
            .transfer_encoding("7bit"),
        MimePart::raw(BodyPart::Text(armored.into()))
            .header("Content-Type", ContentType::new("application/octet-stream"))
            .transfer_encoding("7bit"),
    ]))
    .header(
        "From",
        Address::new_address(None::<&str>, headers.from.as_str()),
    )
    .header("To", hidden_recipients())
    .header("Date", Date::new(unix_i64(outer_date)?))
    .header("Message-ID", MessageId::new(headers.message_id.as_str()))
    .header("Subject", Raw::new("[...]"))
    .header("MIME-Version", Raw::new("1.0"))
    .header(
        "Content-Type",
        ContentType::new("multipart/encrypted")
            .attribute("protocol", "application/pgp-encrypted")
            .attribute("boundary", boundary(rng)),
    );
    finish(mail)
}

/// Builds an unencrypted mail (full RFC 5322 bytes, CRLF line ends): every header, the
/// subject, `Chat-Version` and our `Autocrypt` header in the open.
///
/// Rare: Delta Chat drops unencrypted mail by default, and OTR control messages never travel
/// unencrypted. Used for tests and for showing what "unencrypted" looks like. `rng` only
/// draws the MIME boundary of a [`Body::Mixed`].
pub fn build_plain<R: rand_core::CryptoRng + ?Sized>(
    identity: &Identity,
    headers: &MailHeaders,
    inner: &InnerPart,
    rng: &mut R,
) -> Result<Vec<u8>, BuildError> {
    validate(headers, inner)?;
    let entity = mime_entity(identity, headers, inner, Exposure::Plain, rng)?;
    if entity.len() > MAX_MAIL_SIZE {
        return Err(BuildError::TooLarge {
            size: entity.len(),
            limit: MAX_MAIL_SIZE,
        });
    }
    Ok(entity)
}

/// Whether the headers of the MIME entity are the mail's only headers or protected ones.
enum Exposure {
    Plain,
    Encrypted { outer_date: u64 },
}

/// The MIME entity with the message headers: the whole mail for plain mail, the encrypted
/// payload for encrypted mail.
fn mime_entity<R: rand_core::CryptoRng + ?Sized>(
    identity: &Identity,
    headers: &MailHeaders,
    inner: &InnerPart,
    exposure: Exposure,
    rng: &mut R,
) -> Result<Vec<u8>, BuildError> {
    let (content_type, contents) = match &inner.body {
        Body::Text(text) => (
            ContentType::new("text/plain").attribute("charset", "utf-8"),
            BodyPart::Text(crlf(text).into()),
        ),
        Body::Mixed { text, attachment } => {
            let mut part = MimePart::new(
                ContentType::new(attachment.content_type.to_ascii_lowercase()),
                BodyPart::Binary(attachment.bytes.as_slice().into()),
            );
            part = match &attachment.filename {
                Some(name) => part.attachment(name.as_str()),
                None => part.header("Content-Disposition", ContentType::new("attachment")),
            };
            (
                ContentType::new("multipart/mixed").attribute("boundary", boundary(rng)),
                BodyPart::Multipart(vec![MimePart::new("text/plain", crlf(text)), part]),
            )
        }
    };

    let autocrypt = AutocryptHeader::new(&headers.from, identity.public_key())
        .to_header_value()
        .map_err(|_| BuildError::BadHeaderValue {
            name: "Autocrypt".to_owned(),
        })?;
    let mut part = MimePart::raw(contents).header(
        "From",
        Address::new_address(None::<&str>, headers.from.as_str()),
    );
    if !headers.to.is_empty() {
        part = part.header(
            "To",
            Address::new_list(
                headers
                    .to
                    .iter()
                    .map(|addr| Address::new_address(None::<&str>, addr.as_str()))
                    .collect(),
            ),
        );
    }
    part = part
        .header("Date", Date::new(unix_i64(headers.date)?))
        .header("Message-ID", MessageId::new(headers.message_id.as_str()))
        .header("Subject", Text::new(inner.subject.as_str()))
        .header("Chat-Version", Raw::new("1.0"))
        .header("Autocrypt", Raw::new(autocrypt));
    for (name, value) in &inner.headers {
        part = part.header(name.as_str(), Text::new(value.as_str()));
    }
    let content_type = match exposure {
        Exposure::Plain => {
            part = part.header("MIME-Version", Raw::new("1.0"));
            content_type
        }
        Exposure::Encrypted { outer_date } => {
            let outer_date = Date::new(unix_i64(outer_date)?).to_rfc822();
            for value in [
                format!("From: <{}>", headers.from),
                "To: \"hidden-recipients\": ;".to_owned(),
                format!("Date: {outer_date}"),
                format!("Message-ID: <{}>", headers.message_id),
                "Subject: [...]".to_owned(),
            ] {
                part = part.header("HP-Outer", Raw::new(value));
            }
            content_type
                .attribute("protected-headers", "v1")
                .attribute("hp", "cipher")
        }
    };
    Ok(finish_part(part.header("Content-Type", content_type)))
}

fn finish(mail: MimePart<'_>) -> Result<Vec<u8>, BuildError> {
    let bytes = finish_part(mail);
    if bytes.len() > MAX_MAIL_SIZE {
        return Err(BuildError::TooLarge {
            size: bytes.len(),
            limit: MAX_MAIL_SIZE,
        });
    }
    Ok(bytes)
}

fn finish_part(part: MimePart<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    part.write_part(&mut out);
    out
}

/// The empty group Delta Chat puts in the outer `To` (written verbatim: mail-builder would
/// drop the space before `;`).
fn hidden_recipients() -> Raw<'static> {
    Raw::new("\"hidden-recipients\": ;")
}

/// Text with every line break as CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn timestamp(seconds: u64) -> Result<Timestamp, BuildError> {
    u32::try_from(seconds)
        .map(Timestamp::from_secs)
        .map_err(|_| BuildError::DateOutOfRange { seconds })
}

fn unix_i64(seconds: u64) -> Result<i64, BuildError> {
    // OpenPGP timestamps end in 2106; refuse anything later everywhere for consistency.
    timestamp(seconds)?;
    i64::try_from(seconds).map_err(|_| BuildError::DateOutOfRange { seconds })
}

fn validate(headers: &MailHeaders, inner: &InnerPart) -> Result<(), BuildError> {
    if !is_plain_address(&headers.from) {
        return Err(BuildError::BadAddress { field: "from" });
    }
    if !headers.to.iter().all(|addr| is_plain_address(addr)) {
        return Err(BuildError::BadAddress { field: "to" });
    }
    let id = &headers.message_id;
    if id.is_empty()
        || id.len() > 250
        || !id.contains('@')
        || !id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>'))
    {
        return Err(BuildError::BadMessageId);
    }
    timestamp(headers.date)?;
    if !is_field_value(&inner.subject) {
        return Err(BuildError::BadHeaderValue {
            name: "Subject".to_owned(),
        });
    }
    for (name, value) in &inner.headers {
        if !is_field_name(name) {
            return Err(BuildError::BadHeaderName { name: name.clone() });
        }
        if is_reserved(name) {
            return Err(BuildError::ReservedHeader { name: name.clone() });
        }
        if !is_field_value(value) {
            return Err(BuildError::BadHeaderValue { name: name.clone() });
        }
    }
    if let Body::Mixed { attachment, .. } = &inner.body {
        if !is_mime_type(&attachment.content_type) {
            return Err(BuildError::BadAttachment {
                reason: "content type is not type/subtype",
            });
        }
        if let Some(name) = &attachment.filename
            && (name.is_empty() || name.len() > 255 || name.chars().any(char::is_control))
        {
            return Err(BuildError::BadAttachment {
                reason: "file name is empty, too long or has control characters",
            });
        }
    }
    Ok(())
}

/// `type/subtype`, both RFC 2045 tokens.
fn is_mime_type(value: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    match value.split_once('/') {
        Some((kind, sub)) => token(kind) && token(sub) && value.len() <= 127,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types() {
        assert!(is_mime_type("application/x-otr"));
        assert!(is_mime_type("image/svg+xml"));
        assert!(!is_mime_type("application"));
        assert!(!is_mime_type("application/x; y=z"));
        assert!(!is_mime_type("a/b/c"));
    }

    #[test]
    fn crlf_normalizes() {
        assert_eq!(crlf("a\nb\r\nc"), "a\r\nb\r\nc");
    }
}
