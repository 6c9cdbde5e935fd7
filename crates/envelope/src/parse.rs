//! Parsing incoming mail: PGP/MIME (RFC 3156) with RFC 9788 protected headers, or plain MIME.
//!
//! ```text
//! raw bytes --size check--> MIME tree (mailparse, bounded depth and part count)
//!   multipart/encrypted: exactly [application/pgp-encrypted "Version: 1",
//!                                 application/octet-stream armored PGP MESSAGE]
//!     --dearmor--> packets --decrypt (our key; PKESK v3+SEIPD v1 or PKESK v6+SEIPD v2)-->
//!     plaintext + one-pass signatures --MIME--> protected headers, text, parts
//!     --verify signatures against: our key, the Autocrypt key in the same message, known keys
//!   anything else: plain mail, headers as they are, never a signature
//! ```

use mailparse::{DispositionType, MailHeader, MailHeaderMap, ParsedMail};

use crate::header::is_structural;
use crate::openpgp::{self, ReadSignature};
use crate::{
    AutocryptHeader, EnvelopeError, Fingerprint, Identity, MAX_MAIL_SIZE, MAX_MIME_DEPTH,
    MAX_MIME_PARTS, PeerKey,
};

/// Upper bound on lines starting with `--` (candidate MIME boundaries), checked before the
/// MIME parser builds its tree, so that a crafted mail cannot make it build a huge one.
const MAX_BOUNDARY_LINES: usize = 1024;

/// Where [`parse`] looks up the public key of a signature's issuer.
///
/// Implemented for slices, arrays and vectors of [`PeerKey`] (matching primary or subkey
/// fingerprints) and for closures `Fn(&Fingerprint) -> Option<PeerKey>` (for a database
/// lookup). Our own key and the Autocrypt key inside the same message are always tried too.
pub trait KnownKeys {
    /// The key whose primary key, or one of whose subkeys, has this fingerprint.
    fn find(&self, fingerprint: &Fingerprint) -> Option<PeerKey>;
}

impl KnownKeys for [PeerKey] {
    fn find(&self, fingerprint: &Fingerprint) -> Option<PeerKey> {
        self.iter()
            .find(|key| key.has_component(fingerprint))
            .cloned()
    }
}

impl<const N: usize> KnownKeys for [PeerKey; N] {
    fn find(&self, fingerprint: &Fingerprint) -> Option<PeerKey> {
        self.as_slice().find(fingerprint)
    }
}

impl KnownKeys for Vec<PeerKey> {
    fn find(&self, fingerprint: &Fingerprint) -> Option<PeerKey> {
        self.as_slice().find(fingerprint)
    }
}

impl<F: Fn(&Fingerprint) -> Option<PeerKey>> KnownKeys for F {
    fn find(&self, fingerprint: &Fingerprint) -> Option<PeerKey> {
        self(fingerprint)
    }
}

/// A valid OpenPGP signature over the (decrypted) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The primary fingerprint of the signer's key.
    pub fingerprint: Fingerprint,
    /// The intended recipients the signer named (RFC 9580 section 5.2.3.36), ours among them
    /// if the list is not empty; Delta Chat and this crate name every recipient.
    pub intended_recipients: Vec<Fingerprint>,
}

/// A non-text MIME part of an incoming mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The MIME type, lowercase, without parameters (e.g. `application/octet-stream`).
    pub content_type: String,
    /// The file name from `Content-Disposition` or the `Content-Type` `name` parameter.
    pub filename: Option<String>,
    /// The decoded content.
    pub bytes: Vec<u8>,
}

/// An incoming mail, decrypted and checked as far as this layer can.
///
/// What is authenticated: if [`Incoming::signature`] is `Some`, the whole inner part (headers,
/// text, parts) was signed by that key. Nothing else is: the outer headers come from the relay,
/// and an unsigned message may come from anyone who knows our public key.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    /// The address in the outer `From` header (the one the relay checked).
    pub outer_from: String,
    /// The Message-ID without angle brackets (outer header), if present.
    pub message_id: Option<String>,
    /// The sending time, seconds since the Unix epoch: the protected `Date` of an encrypted
    /// mail (the outer one is jittered), else the `Date` header; `None` if missing or invalid.
    pub date: Option<u64>,
    /// Whether the mail was PGP/MIME encrypted (and decrypted with our key).
    pub encrypted: bool,
    /// The valid signature over the encrypted content, if it was signed by a key we could
    /// check: our own, the one in the message's Autocrypt header, or a known key.
    pub signature: Option<Verified>,
    /// The sender's Autocrypt header: the protected one in encrypted mail, the outer one in
    /// plain mail; only if its `addr` is the `From` address and there is exactly one.
    /// Trust the key only if [`Incoming::signature`] was made by it
    /// ([`Incoming::signed_autocrypt`]).
    pub autocrypt: Option<AutocryptHeader>,
    /// The message headers in order, RFC 2047 decoded and unfolded, structural ones
    /// (Content-*, MIME-Version) left out: in encrypted mail the protected headers (Subject,
    /// Chat-Version, `Chat-Otr-*`, HP-Outer...), in plain mail the mail's own headers.
    pub inner_headers: Vec<(String, String)>,
    /// The text: the first `text/plain` part that is not an attachment, line breaks as `\n`.
    pub text: Option<String>,
    /// Every other leaf part, in order.
    pub parts: Vec<Part>,
}

impl Incoming {
    /// The value of the first inner header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every inner header with this name (case-insensitive), in order.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.inner_headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Autocrypt header, if the message was signed by the key it carries: the only
    /// Autocrypt keys a client should learn (design section 2).
    pub fn signed_autocrypt(&self) -> Option<&AutocryptHeader> {
        let header = self.autocrypt.as_ref()?;
        let signature = self.signature.as_ref()?;
        (&signature.fingerprint == header.key.fingerprint()).then_some(header)
    }
}

/// Parses (and, if it is PGP/MIME, decrypts and verifies) a raw incoming mail.
///
/// `known_keys` provides public keys of signers by fingerprint; see [`KnownKeys`]. Mail larger
/// than [`MAX_MAIL_SIZE`] is rejected before parsing. Never panics, whatever the input.
///
/// # Errors
///
/// [`EnvelopeError`], by cause: malformed mail, not encrypted to us, failed decryption, a
/// signature that names a key we have but does not verify, unsupported mechanisms.
pub fn parse<K: KnownKeys + ?Sized>(
    raw: &[u8],
    identity: &Identity,
    known_keys: &K,
) -> Result<Incoming, EnvelopeError> {
    let mail = parse_mime(raw)?;
    let outer_from = from_address(&mail.headers)?;
    let message_id = mail
        .headers
        .get_first_value("Message-ID")
        .and_then(|id| message_id(&id));
    let outer_date = date(&mail.headers);

    if mail.ctype.mimetype != "multipart/encrypted" {
        let content = Content::of(&mail)?;
        let autocrypt = autocrypt(&mail.headers, &outer_from);
        return Ok(Incoming {
            outer_from,
            message_id,
            date: outer_date,
            encrypted: false,
            signature: None,
            autocrypt,
            inner_headers: content.headers,
            text: content.text,
            parts: content.parts,
        });
    }

    let armored = encrypted_payload(&mail)?;
    let packets = openpgp::dearmor(&armored, MAX_MAIL_SIZE)?;
    let decrypted = openpgp::decrypt(&packets, identity, MAX_MAIL_SIZE)?;
    let inner = parse_mime(&decrypted.plaintext)?;
    let content = Content::of(&inner)?;
    let autocrypt = autocrypt(&inner.headers, &outer_from);
    let signature = verify(
        &decrypted.signatures,
        identity,
        autocrypt.as_ref().map(|header| &header.key),
        known_keys,
    )?;
    Ok(Incoming {
        outer_from,
        message_id,
        date: date(&inner.headers).or(outer_date),
        encrypted: true,
        signature,
        autocrypt,
        inner_headers: content.headers,
        text: content.text,
        parts: content.parts,
    })
}

/// Parses a MIME entity within this crate's limits.
fn parse_mime(raw: &[u8]) -> Result<ParsedMail<'_>, EnvelopeError> {
    if raw.len() > MAX_MAIL_SIZE {
        return Err(EnvelopeError::TooLarge {
            size: raw.len(),
            limit: MAX_MAIL_SIZE,
        });
    }
    let boundary_lines = raw.windows(3).filter(|w| w == b"\n--").count();
    if boundary_lines > MAX_BOUNDARY_LINES {
        return Err(EnvelopeError::TooComplex {
            what: "boundary lines",
            found: boundary_lines,
            limit: MAX_BOUNDARY_LINES,
        });
    }
    let mail = mailparse::parse_mail(raw).map_err(|_| EnvelopeError::Malformed {
        reason: "not a valid MIME message",
    })?;

    // Depth-first walk: (part, depth).
    let mut stack = vec![(&mail, 0usize)];
    let mut parts = 0usize;
    while let Some((part, depth)) = stack.pop() {
        if depth > MAX_MIME_DEPTH {
            return Err(EnvelopeError::TooComplex {
                what: "nesting depth",
                found: depth,
                limit: MAX_MIME_DEPTH,
            });
        }
        parts += 1;
        if parts > MAX_MIME_PARTS {
            return Err(EnvelopeError::TooComplex {
                what: "part count",
                found: parts,
                limit: MAX_MIME_PARTS,
            });
        }
        stack.extend(part.subparts.iter().map(|sub| (sub, depth + 1)));
    }
    Ok(mail)
}

/// The armored OpenPGP message of an RFC 3156 `multipart/encrypted` mail, checking the
/// structure chatmail relays enforce.
fn encrypted_payload(mail: &ParsedMail<'_>) -> Result<Vec<u8>, EnvelopeError> {
    let protocol_ok = mail
        .ctype
        .params
        .get("protocol")
        .is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-encrypted"));
    if !protocol_ok {
        return Err(EnvelopeError::Unsupported {
            what: "multipart/encrypted with a protocol other than application/pgp-encrypted",
        });
    }
    let [control, payload] = mail.subparts.as_slice() else {
        return Err(EnvelopeError::Malformed {
            reason: "multipart/encrypted must have exactly two parts",
        });
    };
    if control.ctype.mimetype != "application/pgp-encrypted"
        || !body_bytes(control)?
            .split(|&b| b == b'\n')
            .any(|line| line.trim_ascii() == b"Version: 1")
    {
        return Err(EnvelopeError::Malformed {
            reason: "first part must be application/pgp-encrypted with Version: 1",
        });
    }
    if payload.ctype.mimetype != "application/octet-stream" {
        return Err(EnvelopeError::Malformed {
            reason: "second part must be application/octet-stream",
        });
    }
    body_bytes(payload)
}

/// The text of a `text/plain` part. UTF-8 (and US-ASCII) bodies are taken byte for byte, so
/// that nothing (a leading byte-order mark, say) is lost; other charsets are converted.
fn text_body(part: &ParsedMail<'_>) -> Result<String, EnvelopeError> {
    let undecodable = || EnvelopeError::Malformed {
        reason: "undecodable text part",
    };
    let charset = part.ctype.charset.to_ascii_lowercase();
    if matches!(charset.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii")
        && let Ok(text) = String::from_utf8(body_bytes(part)?)
    {
        return Ok(text);
    }
    part.get_body().map_err(|_| undecodable())
}

/// Undoes `format=flowed` (RFC 3676 section 4.2), which older Delta Chat versions send:
/// removes space-stuffing and joins soft line breaks (a line ending in a space), deleting
/// that space too if `delsp=yes`. The signature separator `-- ` is never joined.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_prefix(' ').unwrap_or(line);
        let last = lines.peek().is_none();
        match line.strip_suffix(' ') {
            Some(rest) if !last && line != "-- " => {
                out.push_str(if delsp { rest } else { line });
            }
            _ => {
                out.push_str(line);
                if !last {
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn body_bytes(part: &ParsedMail<'_>) -> Result<Vec<u8>, EnvelopeError> {
    part.get_body_raw().map_err(|_| EnvelopeError::Malformed {
        reason: "undecodable transfer encoding",
    })
}

/// Headers, text and other parts of a MIME entity.
struct Content {
    headers: Vec<(String, String)>,
    text: Option<String>,
    parts: Vec<Part>,
}

impl Content {
    fn of(mail: &ParsedMail<'_>) -> Result<Self, EnvelopeError> {
        let headers = mail
            .headers
            .iter()
            .filter(|h| !is_structural(&h.get_key_ref()))
            .map(|h| (h.get_key(), h.get_value()))
            .collect();

        let mut text = None;
        let mut parts = Vec::new();
        // Depth-first, in order: push children reversed.
        let mut stack = vec![mail];
        while let Some(part) = stack.pop() {
            if part.ctype.mimetype.starts_with("multipart/") {
                stack.extend(part.subparts.iter().rev());
                continue;
            }
            let disposition = part.get_content_disposition();
            if text.is_none()
                && part.ctype.mimetype == "text/plain"
                && disposition.disposition != DispositionType::Attachment
            {
                let body = text_body(part)?.replace("\r\n", "\n");
                let param_is = |name: &str, value: &str| {
                    part.ctype
                        .params
                        .get(name)
                        .is_some_and(|v| v.eq_ignore_ascii_case(value))
                };
                text = Some(if param_is("format", "flowed") {
                    unflow(&body, param_is("delsp", "yes"))
                } else {
                    body
                });
                continue;
            }
            parts.push(Part {
                content_type: part.ctype.mimetype.clone(),
                filename: disposition
                    .params
                    .get("filename")
                    .or_else(|| part.ctype.params.get("name"))
                    .cloned(),
                bytes: body_bytes(part)?,
            });
        }
        Ok(Self {
            headers,
            text,
            parts,
        })
    }
}

/// The single address in the `From` header.
fn from_address(headers: &[MailHeader<'_>]) -> Result<String, EnvelopeError> {
    const BAD_FROM: EnvelopeError = EnvelopeError::Malformed {
        reason: "missing or invalid From",
    };
    let header = headers.get_first_header("From").ok_or(BAD_FROM)?;
    let info = mailparse::addrparse_header(header)
        .map_err(|_| BAD_FROM)?
        .extract_single_info()
        .ok_or(BAD_FROM)?;
    let addr = info.addr.trim();
    if addr.is_empty()
        || !addr.contains('@')
        || addr.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(BAD_FROM);
    }
    Ok(addr.to_owned())
}

/// The id inside a `Message-ID` value (RFC 5322 `msg-id`: `<id-left@id-right>`, perhaps with
/// folding white space around it): the part between the first `<` and the next `>`, or the whole
/// trimmed value when it has no brackets. `None` when empty or when it holds brackets, white
/// space or control characters (a mangled header; found by fuzzing: `<id>\r\0`).
fn message_id(value: &str) -> Option<String> {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    let id = match trimmed.split_once('<') {
        Some((_, rest)) => rest.split_once('>').map(|(inside, _)| inside)?,
        None => trimmed,
    };
    let clean = !id.is_empty()
        && !id
            .chars()
            .any(|c| c == '<' || c == '>' || c.is_whitespace() || c.is_control());
    clean.then(|| id.to_owned())
}

fn date(headers: &[MailHeader<'_>]) -> Option<u64> {
    let value = headers.get_first_value("Date")?;
    let seconds = mailparse::dateparse(&value).ok()?;
    u64::try_from(seconds).ok()
}

/// The one Autocrypt header for `from`; none if absent, malformed, for another address, or
/// ambiguous (Autocrypt Level 1, section 2.3).
fn autocrypt(headers: &[MailHeader<'_>], from: &str) -> Option<AutocryptHeader> {
    let mut found: Option<AutocryptHeader> = None;
    for value in headers.get_all_values("Autocrypt") {
        let Ok(header) = AutocryptHeader::parse(&value) else {
            continue;
        };
        if !header.addr.eq_ignore_ascii_case(from) {
            continue;
        }
        if found.replace(header).is_some() {
            return None;
        }
    }
    found
}

/// Checks the message's signatures. A signature by a key we have (ours, the Autocrypt key in
/// the message, a known key) must verify; signatures by unknown keys are skipped.
fn verify<K: KnownKeys + ?Sized>(
    signatures: &[ReadSignature],
    identity: &Identity,
    autocrypt: Option<&PeerKey>,
    known: &K,
) -> Result<Option<Verified>, EnvelopeError> {
    let mut verified = None;
    for signature in signatures {
        let issuer_fps: Vec<Fingerprint> = signature
            .issuer_fingerprints()
            .into_iter()
            .map(Fingerprint::from_pgp)
            .collect();
        let issuer_ids = signature.issuer_key_ids();
        let anonymous = issuer_fps.is_empty() && issuer_ids.is_empty();

        let mut candidates: Vec<PeerKey> = vec![identity.public_key()];
        candidates.extend(autocrypt.cloned());
        candidates.extend(issuer_fps.iter().filter_map(|fp| known.find(fp)));

        let mut outcome: Option<Result<&Fingerprint, &Fingerprint>> = None;
        'candidates: for candidate in &candidates {
            for (fp, key_id, component) in candidate.signing_components() {
                let named = issuer_fps.contains(&fp) || issuer_ids.iter().any(|id| **id == key_id);
                if !named && !anonymous {
                    continue;
                }
                if signature.verify(component) {
                    outcome = Some(Ok(candidate.fingerprint()));
                    break 'candidates;
                }
                if named {
                    outcome = Some(Err(candidate.fingerprint()));
                }
            }
        }
        match outcome {
            Some(Ok(signer)) => {
                let intended: Vec<Fingerprint> = signature
                    .intended_recipients()
                    .into_iter()
                    .map(Fingerprint::from_pgp)
                    .collect();
                if !intended.is_empty() && !intended.contains(identity.fingerprint()) {
                    return Err(EnvelopeError::NotIntendedRecipient {
                        signer: signer.clone(),
                    });
                }
                verified.get_or_insert(Verified {
                    fingerprint: signer.clone(),
                    intended_recipients: intended,
                });
            }
            Some(Err(fingerprint)) => {
                return Err(EnvelopeError::BadSignature {
                    fingerprint: fingerprint.clone(),
                });
            }
            None => {}
        }
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_unwrapped_or_refused() {
        assert_eq!(
            message_id(" <Mr.1@example.org> ").as_deref(),
            Some("Mr.1@example.org")
        );
        assert_eq!(
            message_id("Mr.1@example.org").as_deref(),
            Some("Mr.1@example.org")
        );
        assert_eq!(
            message_id("<Mr.1@example.org>\r\0").as_deref(),
            Some("Mr.1@example.org")
        );
        assert_eq!(message_id("(c) <a@b> <c@d>").as_deref(), Some("a@b"));
        assert_eq!(message_id("<>"), None);
        assert_eq!(message_id("<a@b"), None);
        assert_eq!(message_id("a b@c"), None);
        assert_eq!(message_id("a\0b"), None);
    }

    #[test]
    fn format_flowed_is_undone() {
        assert_eq!(unflow("Hello \nworld\nnext", false), "Hello world\nnext");
        assert_eq!(unflow("Hel\nlo", true), "Hel\nlo");
        assert_eq!(unflow("Hel \nlo", true), "Hello");
        assert_eq!(unflow(" From me\n>quoted", false), "From me\n>quoted");
        assert_eq!(unflow("-- \nsig", false), "-- \nsig");
        assert_eq!(unflow("trailing ", false), "trailing ");
    }

    #[test]
    fn flowed_text_part_is_unflowed() {
        let mail = b"From: <a@example.org>\r\n\
            Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no\r\n\r\n\
            A long line that was \r\nwrapped by the sender.\r\n";
        let mail = parse_mime(mail).unwrap();
        let content = Content::of(&mail).unwrap();
        assert_eq!(
            content.text.as_deref(),
            Some("A long line that was wrapped by the sender.\n")
        );
    }
}
