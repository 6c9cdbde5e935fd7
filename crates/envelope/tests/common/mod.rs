//! Helpers shared by the integration tests: identities, mail dissection, OpenPGP packet
//! walking, and a `craft` toolbox that makes mail the public API refuses to make.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envelope::{Body, Identity, InnerPart, MailHeaders};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const NOW: u64 = 1_700_000_000;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn identity(addr: &str, seed: u64) -> Identity {
    Identity::generate(addr, NOW, &mut rng(seed)).unwrap()
}

pub fn alice() -> Identity {
    identity("alice@example.org", 1)
}

pub fn bob() -> Identity {
    identity("bob@example.net", 2)
}

pub fn carol() -> Identity {
    identity("carol@example.com", 3)
}

pub fn mallory() -> Identity {
    identity("mallory@example.com", 4)
}

pub fn headers(from: &str, to: &[&str]) -> MailHeaders {
    MailHeaders {
        from: from.to_owned(),
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        message_id: "Mr.abcdef0123456789@example.org".to_owned(),
        date: NOW,
    }
}

pub fn inner(text: &str) -> InnerPart {
    InnerPart {
        subject: "Secret subject line".to_owned(),
        headers: vec![
            (
                "Chat-Otr-Invitation".to_owned(),
                "id=42; tag=0x0000abcd".to_owned(),
            ),
            (
                "Chat-Otr-Fingerprint".to_owned(),
                "0123 4567 89ab".to_owned(),
            ),
        ],
        body: Body::Text(text.to_owned()),
    }
}

/// The top-level header block of a raw mail, unfolded, in order.
pub fn top_headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with(' ') || line.starts_with('\t') {
            out.last_mut().unwrap().1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').unwrap();
            out.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    out
}

/// The body of the `application/octet-stream` part, as it is on the wire.
pub fn armored_part(raw: &[u8]) -> String {
    let mail = mailparse::parse_mail(raw).unwrap();
    assert_eq!(mail.subparts.len(), 2);
    String::from_utf8(mail.subparts[1].get_body_raw().unwrap()).unwrap()
}

/// The OpenPGP packets of an encrypted mail.
pub fn packets(raw: &[u8]) -> Vec<u8> {
    dearmor(&armored_part(raw))
}

pub fn dearmor(armored: &str) -> Vec<u8> {
    let body: String = armored
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PGP MESSAGE-----"))
        .skip(1)
        .skip_while(|l| !l.trim().is_empty())
        .skip(1)
        .take_while(|l| !l.starts_with('=') && !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).unwrap()
}

/// ASCII armor with a correct CRC24 (RFC 9580 section 6.1), CRLF line ends.
pub fn armor(packets: &[u8]) -> String {
    let mut crc: u32 = 0x00B7_04CE;
    for &byte in packets {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    let crc = crc & 0x00FF_FFFF;
    let encoded = STANDARD.encode(packets);
    let mut out = String::from("-----BEGIN PGP MESSAGE-----\r\n\r\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push_str("\r\n");
    }
    out.push('=');
    out.push_str(&STANDARD.encode(&crc.to_be_bytes()[1..]));
    out.push_str("\r\n-----END PGP MESSAGE-----\r\n\r\n");
    out
}

/// Replaces the armored message in an encrypted mail with `packets`.
pub fn with_packets(raw: &[u8], packets: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----\r\n\r\n").unwrap() + 29;
    let mut out = text[..start].to_owned();
    out.push_str(&armor(packets));
    out.push_str(&text[end..]);
    out.into_bytes()
}

/// One packet: tag, header and body as on the wire.
#[derive(Debug)]
pub struct Packet {
    pub first_octet: u8,
    pub tag: u8,
    pub partial: bool,
    pub body_offset: usize,
    pub body: Vec<u8>,
}

/// Walks new-format packet headers (RFC 9580 section 4.2.1); panics on old-format ones.
pub fn walk(packets: &[u8]) -> Vec<Packet> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < packets.len() {
        let first = packets[i];
        assert_eq!(
            first & 0xC0,
            0xC0,
            "old-format packet header {first:#04x} at {i}"
        );
        let tag = first & 0x3F;
        i += 1;
        let (len, partial) = match packets[i] {
            l @ 0..=191 => {
                i += 1;
                (usize::from(l), false)
            }
            l @ 192..=223 => {
                let len = ((usize::from(l) - 192) << 8) + usize::from(packets[i + 1]) + 192;
                i += 2;
                (len, false)
            }
            255 => {
                let len = u32::from_be_bytes(packets[i + 1..i + 5].try_into().unwrap()) as usize;
                i += 5;
                (len, false)
            }
            l => {
                // Partial body length: report it and stop, callers assert it does not happen.
                i += 1;
                (1usize << (l & 0x1F), true)
            }
        };
        out.push(Packet {
            first_octet: first,
            tag,
            partial,
            body_offset: i,
            body: packets[i..(i + len).min(packets.len())].to_vec(),
        });
        if partial {
            break;
        }
        i += len;
    }
    out
}

/// Everything on top of the public API: raw rPGP access for crafting mail.
pub mod craft {
    use pgp::composed::{
        ArmorOptions, Deserializable, MessageBuilder, SignedPublicKey, SignedSecretKey,
        SubpacketConfig,
    };
    use pgp::crypto::sym::SymmetricKeyAlgorithm;
    use pgp::packet::{Subpacket, SubpacketData};
    use pgp::types::{KeyDetails, Password, SigningKey, Timestamp};

    use super::*;

    /// A `rand_core` 0.6 RNG over ChaCha20 from `rand_core` 0.10, for calling rPGP directly.
    pub struct Rng06(pub ChaCha20Rng);

    impl rand_core_06::RngCore for Rng06 {
        fn next_u32(&mut self) -> u32 {
            rand_core::Rng::next_u32(&mut self.0)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::Rng::next_u64(&mut self.0)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rand_core::Rng::fill_bytes(&mut self.0, dest);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core_06::CryptoRng for Rng06 {}

    pub fn secret(identity: &Identity) -> SignedSecretKey {
        let bytes = identity.to_bytes().unwrap();
        SignedSecretKey::from_bytes(&bytes[..]).unwrap()
    }

    pub fn public(identity: &Identity) -> SignedPublicKey {
        secret(identity).to_public_key()
    }

    /// A key as older Delta Chat versions (and most other clients) make them: it does not
    /// advertise SEIPD v2, so mail to it is SEIPD v1. Made with rPGP's key builder rather
    /// than ours, so loading it also tests foreign keys.
    pub fn seipd_v1_only_key(addr: &str, seed: u64) -> Identity {
        use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder};
        use pgp::crypto::ecc_curve::ECCCurve;

        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(format!("<{addr}>"))
            .created_at(Timestamp::from_secs(NOW as u32))
            .subkey(
                SubkeyParamsBuilder::default()
                    .key_type(KeyType::ECDH(ECCCurve::Curve25519Legacy))
                    .can_encrypt(EncryptionCaps::All)
                    .created_at(Timestamp::from_secs(NOW as u32))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let key = params.generate(Rng06(rng(seed))).unwrap();
        let bytes = pgp::ser::Serialize::to_bytes(&key).unwrap();
        Identity::from_bytes(&bytes).unwrap()
    }

    /// A complete PGP/MIME mail around `plaintext`, encrypted (SEIPD v1) to `recipients` and
    /// signed by `signer` with exactly the given hashed subpackets (issuer fingerprint
    /// included only if the caller adds it).
    pub fn mail(
        from: &str,
        plaintext: &[u8],
        recipients: &[&SignedPublicKey],
        signer: Option<(&SignedSecretKey, Vec<Subpacket>)>,
        seed: u64,
    ) -> Vec<u8> {
        let mut rng = Rng06(rng(seed));
        let mut builder = MessageBuilder::from_bytes("", plaintext.to_vec())
            .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
        for key in recipients {
            builder
                .encrypt_to_key(&mut rng, &key.public_subkeys[0])
                .unwrap();
        }
        if let Some((key, hashed)) = &signer {
            builder.sign_with_subpackets(
                &key.primary_key,
                Password::empty(),
                key.primary_key.hash_alg(),
                SubpacketConfig::UserDefined {
                    hashed: hashed.clone(),
                    unhashed: vec![],
                },
            );
        }
        let armored = builder
            .to_armored_string(&mut rng, ArmorOptions::default())
            .unwrap()
            .replace('\n', "\r\n");
        format!(
            "From: <{from}>\r\n\
             To: \"hidden-recipients\": ;\r\n\
             Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
             Message-ID: <crafted@example.org>\r\n\
             Subject: [...]\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"B\"\r\n\
             \r\n\
             --B\r\n\
             Content-Type: application/pgp-encrypted\r\n\
             \r\n\
             Version: 1\r\n\
             \r\n\
             --B\r\n\
             Content-Type: application/octet-stream\r\n\
             \r\n\
             {armored}\r\n\
             --B--\r\n"
        )
        .into_bytes()
    }

    /// An unencrypted OpenPGP message (literal data, optionally signed by `signer`, optionally
    /// compressed): what a SEIPD packet contains.
    pub fn inner_packets(
        plaintext: &[u8],
        signer: Option<&SignedSecretKey>,
        compress: bool,
        seed: u64,
    ) -> Vec<u8> {
        let mut builder = MessageBuilder::from_bytes("", plaintext.to_vec());
        if let Some(key) = signer {
            builder.sign_with_subpackets(
                &key.primary_key,
                Password::empty(),
                key.primary_key.hash_alg(),
                SubpacketConfig::UserDefined {
                    hashed: vec![created(), issuer(key)],
                    unhashed: vec![],
                },
            );
        }
        if compress {
            builder.compression(pgp::types::CompressionAlgorithm::ZLIB);
        }
        builder.to_vec(Rng06(rng(seed))).unwrap()
    }

    /// PKESK + SEIPD (v1 or v2) around arbitrary packet bytes: lets tests put any (mutated)
    /// content behind a valid encryption layer, as an attacker who knows our key can.
    pub fn encrypt_packets(
        inner: &[u8],
        recipient: &SignedPublicKey,
        v2: bool,
        seed: u64,
    ) -> Vec<u8> {
        use pgp::crypto::aead::{AeadAlgorithm, ChunkSize};
        use pgp::packet::{PublicKeyEncryptedSessionKey, SymEncryptedProtectedData};
        use pgp::ser::Serialize;

        let mut rng = Rng06(rng(seed));
        let alg = SymmetricKeyAlgorithm::AES128;
        let session_key = alg.new_session_key(&mut rng);
        let subkey = &recipient.public_subkeys[0];
        let (pkesk, seipd) = if v2 {
            (
                PublicKeyEncryptedSessionKey::from_session_key_v6(&mut rng, &session_key, subkey)
                    .unwrap(),
                SymEncryptedProtectedData::encrypt_seipdv2(
                    &mut rng,
                    alg,
                    AeadAlgorithm::Ocb,
                    ChunkSize::default(),
                    session_key.as_ref(),
                    inner,
                )
                .unwrap(),
            )
        } else {
            (
                PublicKeyEncryptedSessionKey::from_session_key_v3(
                    &mut rng,
                    &session_key,
                    alg,
                    subkey,
                )
                .unwrap(),
                SymEncryptedProtectedData::encrypt_seipdv1(
                    &mut rng,
                    alg,
                    session_key.as_ref(),
                    inner,
                )
                .unwrap(),
            )
        };
        let mut out = pgp::packet::Packet::from(pkesk).to_bytes().unwrap();
        out.extend(pgp::packet::Packet::from(seipd).to_bytes().unwrap());
        out
    }

    pub fn created() -> Subpacket {
        Subpacket::critical(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
            NOW as u32,
        )))
        .unwrap()
    }

    pub fn issuer(key: &SignedSecretKey) -> Subpacket {
        Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint())).unwrap()
    }

    pub fn issuer_of(key: &SignedPublicKey) -> Subpacket {
        Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint())).unwrap()
    }

    pub fn intended(key: &SignedPublicKey) -> Subpacket {
        Subpacket::regular(SubpacketData::IntendedRecipientFingerprint(
            key.fingerprint(),
        ))
        .unwrap()
    }

    /// A minimal inner MIME entity.
    pub fn inner_mime(from: &str, text: &str) -> Vec<u8> {
        format!(
            "From: <{from}>\r\nSubject: crafted\r\nChat-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        )
        .into_bytes()
    }
}
