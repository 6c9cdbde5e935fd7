//! The OpenPGP message inside a PGP/MIME mail (RFC 9580 section 10.3): encrypting (optionally
//! signing first, one pass) and decrypting (reading the one-pass signatures on the way).
//!
//! Outgoing messages are what chatmail relays accept: PKESKs then exactly one SEIPD packet,
//! new-format packet headers, fixed (not partial) body lengths, ASCII armor with its CRC24
//! line and no `Version:` header. PKESKs are anonymous (key id 0, as Delta Chat sends them),
//! so relays do not learn which keys a message is for.

use std::io::Read;

use pgp::armor::{BlockType, Dearmor, DearmorOptions};
use pgp::composed::{
    ArmorOptions, Edata, Encryption, Message, MessageBuilder, SignedPublicSubKey, SubpacketConfig,
};
use pgp::crypto::aead::{AeadAlgorithm, ChunkSize};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::errors::Error as PgpError;
use pgp::packet::{Signature, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, KeyVersion, Password, SigningKey, Timestamp, VerifyingKey};

use crate::error::OpenPgpError;
use crate::rng::Rng06;
use crate::{BuildError, EnvelopeError, Identity};

/// Cipher for the message: AES-256 is in every OpenPGP implementation and first in the
/// preferences of Delta Chat's keys.
const SYMMETRIC: SymmetricKeyAlgorithm = SymmetricKeyAlgorithm::AES256;

/// Which SEIPD packet to send (RFC 9580 section 5.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seipd {
    /// SEIPD v1 (CFB + MDC) with v3 PKESKs: readable by every OpenPGP implementation.
    V1,
    /// SEIPD v2 (OCB, 8 KiB chunks) with v6 PKESKs, for recipients that all advertise it.
    V2,
}

/// A signature to make over the message: by whom, when, and for whom (intended recipients,
/// RFC 9580 section 5.2.3.36, so a recipient cannot re-encrypt it to a third party unnoticed).
pub(crate) struct Signer<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) created: Timestamp,
    pub(crate) intended_recipients: Vec<pgp::types::Fingerprint>,
}

/// Encrypts `plaintext` to `recipients`, signing it first if `signer` is given, and returns
/// the ASCII armor (LF line ends).
pub(crate) fn encrypt<R: rand_core::CryptoRng + ?Sized>(
    plaintext: Vec<u8>,
    recipients: &[&SignedPublicSubKey],
    signer: Option<Signer<'_>>,
    seipd: Seipd,
    rng: &mut R,
) -> Result<String, BuildError> {
    let mut rng = Rng06(rng);
    let chunk = partial_chunk_size(plaintext.len());
    let builder = MessageBuilder::from_bytes("", plaintext);
    let armored = match seipd {
        Seipd::V1 => {
            let mut builder = builder.seipd_v1(&mut rng, SYMMETRIC);
            for key in recipients {
                builder
                    .encrypt_to_key_anonymous(&mut rng, key)
                    .map_err(openpgp)?;
            }
            finish(builder, signer.as_ref(), chunk, &mut rng)?
        }
        Seipd::V2 => {
            let mut builder =
                builder.seipd_v2(&mut rng, SYMMETRIC, AeadAlgorithm::Ocb, ChunkSize::C8KiB);
            for key in recipients {
                builder
                    .encrypt_to_key_anonymous(&mut rng, key)
                    .map_err(openpgp)?;
            }
            finish(builder, signer.as_ref(), chunk, &mut rng)?
        }
    };
    Ok(armored)
}

fn finish<'a, E: Encryption>(
    mut builder: MessageBuilder<'a, pgp::composed::DummyReader, E>,
    signer: Option<&Signer<'a>>,
    chunk: u32,
    rng: &mut Rng06<'_, impl rand_core::CryptoRng + ?Sized>,
) -> Result<String, BuildError> {
    builder.partial_chunk_size(chunk).map_err(openpgp)?;
    if let Some(signer) = signer {
        let key = &signer.identity.secret_key().primary_key;
        let subpackets = signature_subpackets(key, signer).map_err(openpgp)?;
        builder.sign_with_subpackets(key, Password::empty(), key.hash_alg(), subpackets);
    }
    builder
        .to_armored_string(
            rng,
            ArmorOptions {
                headers: None,
                // Chatmail relays strip the CRC24 line before decoding; without it they would
                // strip base64 padding instead.
                include_checksum: true,
            },
        )
        .map_err(openpgp)
}

/// The signature's subpackets, with the caller's time instead of rPGP's wall clock.
fn signature_subpackets(
    key: &pgp::packet::SecretKey,
    signer: &Signer<'_>,
) -> pgp::errors::Result<SubpacketConfig> {
    let mut hashed = vec![
        Subpacket::critical(SubpacketData::SignatureCreationTime(signer.created))?,
        Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))?,
    ];
    for fp in &signer.intended_recipients {
        hashed.push(Subpacket::regular(
            SubpacketData::IntendedRecipientFingerprint(fp.clone()),
        )?);
    }
    let mut unhashed = Vec::new();
    if key.version() <= KeyVersion::V4 {
        unhashed.push(Subpacket::regular(SubpacketData::IssuerKeyId(
            key.legacy_key_id(),
        ))?);
    }
    Ok(SubpacketConfig::UserDefined { hashed, unhashed })
}

/// rPGP writes a signed message with an unknown total length as partial body chunks of this
/// size; a chunk larger than the whole message keeps the SEIPD packet one fixed-length packet,
/// which older chatmail relays require.
fn partial_chunk_size(plaintext_len: usize) -> u32 {
    // Literal, one-pass-signature and signature packets, MDC or AEAD tags: a few hundred
    // bytes plus 16 bytes per 8 KiB chunk. Be generous.
    let needed = plaintext_len
        .saturating_add(plaintext_len / 256)
        .saturating_add(4096);
    let size = needed.checked_next_power_of_two().unwrap_or(1 << 30);
    u32::try_from(size.clamp(1 << 19, 1 << 30)).unwrap_or(1 << 30)
}

fn openpgp(error: PgpError) -> BuildError {
    BuildError::OpenPgp(OpenPgpError::new(error))
}

/// A signature read from a decrypted message, with the hash rPGP computed over the data.
pub(crate) struct ReadSignature {
    signature: Signature,
    hash: Vec<u8>,
}

impl ReadSignature {
    pub(crate) fn issuer_fingerprints(&self) -> Vec<&pgp::types::Fingerprint> {
        self.signature.issuer_fingerprint()
    }

    pub(crate) fn issuer_key_ids(&self) -> Vec<&pgp::types::KeyId> {
        self.signature.issuer_key_id()
    }

    pub(crate) fn intended_recipients(&self) -> Vec<&pgp::types::Fingerprint> {
        self.signature
            .config()
            .map(|config| {
                config
                    .hashed_subpackets()
                    .filter_map(|sp| match &sp.data {
                        SubpacketData::IntendedRecipientFingerprint(fp) => Some(fp),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Verifies the signature with `key` (the same check as rPGP's `Message::verify`, done
    /// after the message has been read and parsed).
    pub(crate) fn verify(&self, key: &dyn VerifyingKey) -> bool {
        if !matches!(
            self.signature.typ(),
            Some(SignatureType::Binary | SignatureType::Text)
        ) {
            return false;
        }
        let (Some(hash_alg), Some(bytes), Some(quick)) = (
            self.signature.hash_alg(),
            self.signature.signature(),
            self.signature.signed_hash_value(),
        ) else {
            return false;
        };
        if self.hash.get(..2) != Some(&quick[..]) {
            return false;
        }
        key.verify(hash_alg, &self.hash, bytes).is_ok()
    }
}

/// The plaintext of a decrypted message and the signatures it carried.
pub(crate) struct Decrypted {
    pub(crate) plaintext: Vec<u8>,
    pub(crate) signatures: Vec<ReadSignature>,
}

/// Decodes ASCII armor (of a `PGP MESSAGE` block) into packet bytes, reading at most `limit`
/// bytes. Like [`decrypt`], catches a panic in rPGP.
pub(crate) fn dearmor(armored: &[u8], limit: usize) -> Result<Vec<u8>, EnvelopeError> {
    std::panic::catch_unwind(|| dearmor_unchecked(armored, limit))
        .unwrap_or_else(|_| Err(EnvelopeError::MalformedPgp(OpenPgpError::panicked())))
}

fn dearmor_unchecked(armored: &[u8], limit: usize) -> Result<Vec<u8>, EnvelopeError> {
    let mut dearmor = Dearmor::with_options(armored, DearmorOptions::new().set_limit(limit));
    dearmor.read_header().map_err(malformed)?;
    if !matches!(dearmor.typ, Some(BlockType::Message)) {
        return Err(EnvelopeError::Malformed {
            reason: "the encrypted part is not an armored PGP MESSAGE",
        });
    }
    let mut bytes = Vec::new();
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    dearmor
        .by_ref()
        .take(limit_u64.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| malformed(PgpError::from(e)))?;
    if bytes.len() > limit {
        return Err(EnvelopeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    Ok(bytes)
}

/// Decrypts the binary OpenPGP message `packets` with our key and reads its plaintext (at
/// most `limit` bytes) and signatures.
///
/// rPGP is the parser of attacker-controlled packets here. Inputs known to make rPGP 0.21
/// panic are refused before it sees them ([`check_packets`]); any other panic inside rPGP is
/// caught and reported as [`EnvelopeError::MalformedPgp`], so that no input crashes the
/// caller (with `panic = "abort"` the backstop cannot work, the pre-checks still do).
pub(crate) fn decrypt(
    packets: &[u8],
    identity: &Identity,
    limit: usize,
) -> Result<Decrypted, EnvelopeError> {
    check_packets(packets)?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decrypt_unchecked(packets, identity, limit)
    }))
    .unwrap_or_else(|_| Err(EnvelopeError::MalformedPgp(OpenPgpError::panicked())))
}

/// Refuses packet sequences that crash rPGP 0.21 instead of producing an error: a SEIPD v2
/// packet with an AEAD algorithm other than EAX, OCB or GCM underflows in rPGP's key setup
/// (`aead_setup_rfc9580`). Walks old- and new-format headers; everything else is left to
/// rPGP.
fn check_packets(packets: &[u8]) -> Result<(), EnvelopeError> {
    const MALFORMED: EnvelopeError = EnvelopeError::Malformed {
        reason: "truncated OpenPGP packet header",
    };
    let mut at = 0usize;
    while let Some(&first) = packets.get(at) {
        if first & 0x80 == 0 {
            return Ok(()); // Not a packet header; rPGP reports it.
        }
        // (tag, header length, body length; None = extends to the end / partial)
        let (tag, header_len, body_len) = if first & 0x40 != 0 {
            let tag = first & 0x3f;
            match *packets.get(at + 1).ok_or(MALFORMED)? {
                len @ 0..=191 => (tag, 2, Some(usize::from(len))),
                len @ 192..=223 => {
                    let second = *packets.get(at + 2).ok_or(MALFORMED)?;
                    (
                        tag,
                        3,
                        Some(((usize::from(len) - 192) << 8) + usize::from(second) + 192),
                    )
                }
                255 => {
                    let bytes = packets.get(at + 2..at + 6).ok_or(MALFORMED)?;
                    let len = bytes
                        .iter()
                        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                    (tag, 6, Some(len))
                }
                _ => (tag, 2, None), // partial body length
            }
        } else {
            let tag = (first >> 2) & 0x0f;
            let (header_len, len_bytes) = match first & 0x03 {
                0 => (2, 1),
                1 => (3, 2),
                2 => (5, 4),
                _ => (1, 0),
            };
            let len = if len_bytes == 0 {
                None
            } else {
                let bytes = packets.get(at + 1..at + 1 + len_bytes).ok_or(MALFORMED)?;
                Some(
                    bytes
                        .iter()
                        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
                )
            };
            (tag, header_len, len)
        };
        let body = at + header_len;
        if tag == 18 && packets.get(body) == Some(&2) {
            // SEIPD v2: version, cipher, AEAD algorithm, chunk size, salt.
            let aead = packets.get(body + 2).copied();
            if !matches!(aead, Some(1..=3)) {
                return Err(EnvelopeError::Unsupported {
                    what: "SEIPD v2 with an unknown AEAD algorithm",
                });
            }
        }
        match body_len {
            Some(len) => at = body.saturating_add(len),
            None => return Ok(()),
        }
    }
    Ok(())
}

fn decrypt_unchecked(
    packets: &[u8],
    identity: &Identity,
    limit: usize,
) -> Result<Decrypted, EnvelopeError> {
    let message = Message::from_bytes(packets).map_err(malformed)?;
    let Message::Encrypted { edata, .. } = &message else {
        return Err(EnvelopeError::Unsupported {
            what: "a PGP/MIME part that is not encrypted",
        });
    };
    match edata {
        Edata::SymEncryptedProtectedData { .. } => {}
        Edata::SymEncryptedData { .. } => {
            return Err(EnvelopeError::Unsupported {
                what: "encryption without integrity protection (SED)",
            });
        }
        Edata::GnupgAeadData { .. } => {
            return Err(EnvelopeError::Unsupported {
                what: "GnuPG's non-standard AEAD encryption",
            });
        }
    }

    let message = match message.decrypt(&Password::empty(), identity.secret_key()) {
        Ok(message) => message,
        Err(PgpError::MissingKey) => return Err(EnvelopeError::NotForUs),
        Err(e) => return Err(EnvelopeError::DecryptionFailed(OpenPgpError::new(e))),
    };
    let message = message
        .decompress()
        .and_then(Message::decompress)
        .map_err(|e| EnvelopeError::DecryptionFailed(OpenPgpError::new(e)))?;
    if message.is_encrypted() || message.is_compressed() {
        return Err(EnvelopeError::Unsupported {
            what: "nested encryption or compression",
        });
    }
    let (message, plaintext) = read_limited(message, limit)?;

    let mut signatures = Vec::new();
    if let Message::Signed { reader, .. } = &message {
        for index in 0..reader.num_signatures() {
            if let (Some(signature), Some(hash)) = (reader.signature(index), reader.hash(index)) {
                signatures.push(ReadSignature {
                    signature: signature.clone(),
                    hash: hash.to_vec(),
                });
            }
        }
    }
    Ok(Decrypted {
        plaintext,
        signatures,
    })
}

/// Reads the whole plaintext, failing once it exceeds `limit`. Read errors here are integrity
/// failures (MDC, AEAD tag) or corrupt inner packets.
fn read_limited(
    mut message: Message<'_>,
    limit: usize,
) -> Result<(Message<'_>, Vec<u8>), EnvelopeError> {
    let mut plaintext = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = message
            .read(&mut buf)
            .map_err(|e| EnvelopeError::DecryptionFailed(OpenPgpError::new(PgpError::from(e))))?;
        if n == 0 {
            break;
        }
        plaintext.extend_from_slice(buf.get(..n).unwrap_or_default());
        if plaintext.len() > limit {
            return Err(EnvelopeError::TooLarge {
                size: plaintext.len(),
                limit,
            });
        }
    }
    Ok((message, plaintext))
}

fn malformed(error: PgpError) -> EnvelopeError {
    EnvelopeError::MalformedPgp(OpenPgpError::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_covers_the_whole_message() {
        assert_eq!(partial_chunk_size(0), 1 << 19);
        assert_eq!(partial_chunk_size(100_000), 1 << 19);
        for len in [600_000, 1 << 20, 10 * 1024 * 1024] {
            let chunk = partial_chunk_size(len) as usize;
            assert!(chunk.is_power_of_two());
            assert!(chunk > len + len / 256 + 4000, "{len} -> {chunk}");
        }
    }
}
