//! The chat layer's use of the envelope: which mail each chat message becomes, and what an
//! incoming mail means. All OpenPGP and MIME work is in the `offrecord-envelope` crate.

use envelope::{
    Attachment, AutocryptHeader, Body, InnerPart, KnownKeys, MailHeaders, PeerKey, Signing,
};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use zeroize::Zeroizing;

pub(crate) use envelope::Identity;

use crate::error::Error;
use crate::protocol::{self, Control};

/// A key someone gave us, as we store it.
pub(crate) struct KeyInfo {
    pub(crate) fingerprint: String,
    pub(crate) addr: Option<String>,
    pub(crate) key: Vec<u8>,
}

fn key_err(e: impl std::fmt::Display) -> Error {
    Error::Key(e.to_string())
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn new_identity(addr: &str, rng: &mut ChaCha20Rng) -> Result<Identity, Error> {
    Identity::generate(addr, unix_now(), rng).map_err(key_err)
}

pub(crate) fn identity_to_bytes(id: &Identity) -> Result<Zeroizing<Vec<u8>>, Error> {
    id.to_bytes().map_err(key_err)
}

pub(crate) fn identity_from_bytes(bytes: &[u8]) -> Result<Identity, Error> {
    Identity::from_bytes(bytes).map_err(key_err)
}

pub(crate) fn identity_fingerprint(id: &Identity) -> String {
    id.fingerprint().to_hex()
}

/// Our contact card: an Autocrypt header value (`addr=...; prefer-encrypt=mutual;
/// keydata=...`), which carries the address with the key.
pub(crate) fn export_public(id: &Identity, addr: &str) -> Result<String, Error> {
    AutocryptHeader::new(addr, id.public_key())
        .to_header_value()
        .map_err(key_err)
}

/// Our contact card as a vCard with the key (what Delta Chat imports with "import vCard").
pub(crate) fn export_vcard(id: &Identity, addr: &str, now: u64) -> Result<String, Error> {
    envelope::vcard(addr, "", &id.public_key(), now).map_err(key_err)
}

/// Reads a contact card ([`export_public`]), a vCard with a key (the first card that has one,
/// as Delta Chat shares contacts), or an OpenPGP public key (armored or binary).
pub(crate) fn import_public(bytes: &[u8]) -> Result<KeyInfo, Error> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.to_ascii_uppercase().contains("BEGIN:VCARD")
    {
        let cards = envelope::parse_vcards(text).map_err(key_err)?;
        let (addr, key) = cards
            .into_iter()
            .find_map(|c| Some((c.addr, c.key?)))
            .ok_or_else(|| Error::Key("the vCard carries no OpenPGP key".into()))?;
        return Ok(KeyInfo {
            fingerprint: key.fingerprint().to_hex(),
            addr: Some(addr),
            key: key.to_bytes().map_err(key_err)?,
        });
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("keydata=")
    {
        let header = AutocryptHeader::parse(text.trim()).map_err(key_err)?;
        return Ok(KeyInfo {
            fingerprint: header.key.fingerprint().to_hex(),
            addr: Some(header.addr.clone()),
            key: header.key.to_bytes().map_err(key_err)?,
        });
    }
    let key = PeerKey::from_bytes(bytes).map_err(key_err)?;
    Ok(KeyInfo {
        fingerprint: key.fingerprint().to_hex(),
        addr: None,
        key: key.to_bytes().map_err(key_err)?,
    })
}

/// One mail to build.
pub(crate) struct Outgoing<'a> {
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) to_key: &'a [u8],
    pub(crate) text: &'a str,
    pub(crate) control: Option<&'a Control>,
    pub(crate) signed: bool,
}

/// Builds an encrypted mail; returns its Message-ID and bytes.
pub(crate) fn build(
    id: &Identity,
    msg: &Outgoing<'_>,
    now: u64,
    rng: &mut ChaCha20Rng,
) -> Result<(String, Vec<u8>), Error> {
    let to_key = PeerKey::from_bytes(msg.to_key).map_err(key_err)?;
    let mut token = [0u8; 16];
    rng.fill_bytes(&mut token);
    let domain = msg.from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let message_id = format!("Mr.{}@{domain}", hex::encode(token));
    let headers = MailHeaders {
        from: msg.from.to_owned(),
        to: vec![msg.to.to_owned()],
        message_id: message_id.clone(),
        date: now,
    };
    let (subject, extra, body) = match msg.control {
        None => (
            "Message".to_owned(),
            Vec::new(),
            Body::Text(msg.text.to_owned()),
        ),
        Some(control) if !control.wire.is_empty() => (
            "Off-the-Record chat".to_owned(),
            control.headers(),
            Body::Mixed {
                text: msg.text.to_owned(),
                attachment: Attachment {
                    content_type: protocol::WIRE_CONTENT_TYPE.to_owned(),
                    filename: None,
                    bytes: control.wire.join("\r\n").into_bytes(),
                },
            },
        ),
        Some(control) => (
            "Off-the-Record chat".to_owned(),
            control.headers(),
            Body::Text(msg.text.to_owned()),
        ),
    };
    let inner = InnerPart {
        subject,
        headers: extra,
        body,
    };
    let signing = if msg.signed {
        Signing::Signed
    } else {
        Signing::Unsigned
    };
    let raw = envelope::build_encrypted(id, &[to_key], &headers, &inner, signing, rng)
        .map_err(|e| Error::InvalidState(format!("cannot build mail: {e}")))?;
    Ok((message_id, raw))
}

/// An incoming mail, decrypted and interpreted.
pub(crate) struct Parsed {
    pub(crate) from: String,
    pub(crate) to: Option<String>,
    pub(crate) message_id: String,
    pub(crate) encrypted: bool,
    /// The verified signer's fingerprint (uppercase hex).
    pub(crate) signer: Option<String>,
    /// The Autocrypt key of the sender, only if the signature was made by it.
    pub(crate) autocrypt: Option<KeyInfo>,
    pub(crate) text: String,
    pub(crate) control: Option<Control>,
    /// The raw mail (kept to defer it).
    pub(crate) raw: Vec<u8>,
}

/// Parses an incoming mail. `known` finds the contacts' public keys by fingerprint, asked only
/// for the issuers of signatures (our own key is always known).
pub(crate) fn parse<K: KnownKeys + ?Sized>(
    raw: &[u8],
    id: &Identity,
    known: &K,
) -> Result<Parsed, Error> {
    let incoming = envelope::parse(raw, id, known).map_err(|e| Error::Mail(e.to_string()))?;
    let message_id = incoming
        .message_id
        .clone()
        .ok_or_else(|| Error::Mail("no Message-ID".into()))?;
    let wire_part = incoming
        .parts
        .iter()
        .find(|p| p.content_type == protocol::WIRE_CONTENT_TYPE)
        .map(|p| p.bytes.as_slice());
    let control = if incoming.encrypted {
        Control::from_headers(&incoming.inner_headers, wire_part).map_err(Error::Mail)?
    } else {
        None
    };
    let autocrypt = match incoming.signed_autocrypt() {
        Some(h) => Some(KeyInfo {
            fingerprint: h.key.fingerprint().to_hex(),
            addr: Some(h.addr.to_lowercase()),
            key: h.key.to_bytes().map_err(key_err)?,
        }),
        None => None,
    };
    let to = incoming.header("To").and_then(|v| {
        let v = v.trim();
        let inner = v
            .rsplit_once('<')
            .map_or(v, |(_, r)| r.trim_end_matches('>'));
        crate::context::normalize_addr(inner).ok()
    });
    Ok(Parsed {
        from: incoming.outer_from.to_lowercase(),
        to,
        message_id,
        encrypted: incoming.encrypted,
        signer: incoming.signature.as_ref().map(|s| s.fingerprint.to_hex()),
        autocrypt,
        text: incoming.text.clone().unwrap_or_default(),
        control,
        raw: raw.to_vec(),
    })
}
