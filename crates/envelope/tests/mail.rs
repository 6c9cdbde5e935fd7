//! Round trips and wire-format checks for encrypted and plain mail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use envelope::{
    Attachment, Body, BuildError, EnvelopeError, Fingerprint, InnerPart, MAX_MAIL_SIZE, PeerKey,
    Signing, build_encrypted, build_plain, parse,
};

const PKESK: u8 = 1;
const SEIPD: u8 = 18;

fn no_keys() -> Vec<PeerKey> {
    Vec::new()
}

#[test]
fn signed_round_trip() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("Hello Bob,\nlet's talk off the record.\n"),
        Signing::Signed,
        &mut rng(10),
    )
    .unwrap();

    let incoming = parse(&mail, &bob, &[alice.public_key()]).unwrap();
    assert!(incoming.encrypted);
    assert_eq!(incoming.outer_from, "alice@example.org");
    assert_eq!(
        incoming.message_id.as_deref(),
        Some("Mr.abcdef0123456789@example.org")
    );
    assert_eq!(
        incoming.date,
        Some(NOW),
        "the protected date is the real one"
    );
    let signature = incoming.signature.clone().unwrap();
    assert_eq!(&signature.fingerprint, alice.fingerprint());
    assert!(signature.intended_recipients.contains(bob.fingerprint()));
    assert!(signature.intended_recipients.contains(alice.fingerprint()));
    assert_eq!(
        incoming.text.as_deref(),
        Some("Hello Bob,\nlet's talk off the record.\n")
    );
    assert!(incoming.parts.is_empty());
    assert_eq!(incoming.header("Subject"), Some("Secret subject line"));
    assert_eq!(incoming.header("chat-version"), Some("1.0"));
    assert_eq!(
        incoming.header("Chat-Otr-Invitation"),
        Some("id=42; tag=0x0000abcd")
    );
    assert_eq!(
        incoming.header("Chat-Otr-Fingerprint"),
        Some("0123 4567 89ab")
    );
    assert_eq!(incoming.header("From"), Some("<alice@example.org>"));
    assert_eq!(incoming.header("To"), Some("<bob@example.net>"));
    assert_eq!(
        incoming.headers("HP-Outer").next(),
        Some("From: <alice@example.org>")
    );
    let autocrypt = incoming.autocrypt.clone().unwrap();
    assert_eq!(autocrypt.addr, "alice@example.org");
    assert_eq!(autocrypt.key.fingerprint(), alice.fingerprint());
    assert_eq!(
        incoming.signed_autocrypt().unwrap().key.fingerprint(),
        alice.fingerprint()
    );
    // No structural headers among the protected ones.
    assert!(incoming.header("Content-Type").is_none());
}

#[test]
fn unsigned_mail_has_no_signature() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("?OTR:AAMDdata"),
        Signing::Unsigned,
        &mut rng(11),
    )
    .unwrap();
    let incoming = parse(&mail, &bob, &[alice.public_key()]).unwrap();
    assert!(incoming.encrypted);
    assert_eq!(incoming.signature, None);
    assert_eq!(incoming.text.as_deref(), Some("?OTR:AAMDdata"));
    // The Autocrypt header is there, but nothing vouches for it.
    assert!(incoming.autocrypt.is_some());
    assert!(incoming.signed_autocrypt().is_none());
    // No signature packets at all inside: check by decrypting with the packet walker? The
    // OpenPGP layer reports none, and the parse above saw none.
}

#[test]
fn two_recipients_and_self_can_decrypt_others_cannot() {
    let (alice, bob, carol, mallory) = (alice(), bob(), carol(), mallory());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key(), carol.public_key()],
        &headers(
            "alice@example.org",
            &["bob@example.net", "carol@example.com"],
        ),
        &inner("to both of you"),
        Signing::Signed,
        &mut rng(12),
    )
    .unwrap();

    let tags: Vec<u8> = walk(&packets(&mail)).iter().map(|p| p.tag).collect();
    assert_eq!(tags, [PKESK, PKESK, PKESK, SEIPD], "bob, carol, alice");

    for reader in [&bob, &carol] {
        let incoming = parse(&mail, reader, &[alice.public_key()]).unwrap();
        assert_eq!(incoming.text.as_deref(), Some("to both of you"));
        assert_eq!(
            &incoming.signature.as_ref().unwrap().fingerprint,
            alice.fingerprint()
        );
        assert_eq!(
            incoming.header("To"),
            Some("<bob@example.net>, <carol@example.com>")
        );
    }

    // Our own sent copy: decryptable, and signed by ourselves.
    let own = parse(&mail, &alice, &no_keys()).unwrap();
    assert_eq!(own.text.as_deref(), Some("to both of you"));
    assert_eq!(&own.signature.unwrap().fingerprint, alice.fingerprint());

    assert!(matches!(
        parse(&mail, &mallory, &no_keys()),
        Err(EnvelopeError::NotForUs)
    ));
}

#[test]
fn duplicate_and_self_recipients_get_one_pkesk_each() {
    let alice = alice();
    let bob = bob();
    let mail = build_encrypted(
        &alice,
        &[bob.public_key(), bob.public_key(), alice.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("x"),
        Signing::Signed,
        &mut rng(13),
    )
    .unwrap();
    let tags: Vec<u8> = walk(&packets(&mail)).iter().map(|p| p.tag).collect();
    assert_eq!(tags, [PKESK, PKESK, SEIPD]);
}

#[test]
fn signer_key_learned_from_the_autocrypt_header_inside() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("first contact"),
        Signing::Signed,
        &mut rng(14),
    )
    .unwrap();
    // Bob knows no keys: the signature is still checked against the Autocrypt key inside.
    let incoming = parse(&mail, &bob, &no_keys()).unwrap();
    assert_eq!(
        &incoming.signature.unwrap().fingerprint,
        alice.fingerprint()
    );

    // A lookup function works as well as a slice.
    let alice_key = alice.public_key();
    let lookup = |fp: &Fingerprint| (fp == alice_key.fingerprint()).then(|| alice_key.clone());
    let incoming = parse(&mail, &bob, &lookup).unwrap();
    assert_eq!(
        &incoming.signature.unwrap().fingerprint,
        alice.fingerprint()
    );
}

#[test]
fn unknown_signer_without_usable_autocrypt_is_reported_as_unsigned() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("hi"),
        Signing::Signed,
        &mut rng(15),
    )
    .unwrap();
    // The outer From is not protected: a relay may rewrite it. Then the Autocrypt header
    // inside (addr=alice@...) no longer belongs to the sender and is ignored.
    let text = String::from_utf8(mail).unwrap();
    let forged = text.replacen("From: <alice@example.org>", "From: <eve@example.org>", 1);
    let incoming = parse(forged.as_bytes(), &bob, &no_keys()).unwrap();
    assert_eq!(incoming.outer_from, "eve@example.org");
    assert!(incoming.autocrypt.is_none());
    assert_eq!(incoming.signature, None, "signer unknown");
    // With Alice's key known, the signature verifies: the content is Alice's whatever the
    // outer From says; the chat layer compares.
    let incoming = parse(forged.as_bytes(), &bob, &[alice.public_key()]).unwrap();
    assert_eq!(
        &incoming.signature.unwrap().fingerprint,
        alice.fingerprint()
    );
}

#[test]
fn outer_headers_are_exactly_delta_chats() {
    let (alice, bob) = (alice(), bob());
    for seed in 0..8 {
        let mail = build_encrypted(
            &alice,
            &[bob.public_key()],
            &headers("alice@example.org", &["bob@example.net"]),
            &inner("hi"),
            Signing::Signed,
            &mut rng(100 + seed),
        )
        .unwrap();
        let top = top_headers(&mail);
        let names: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "From",
                "To",
                "Date",
                "Message-ID",
                "Subject",
                "MIME-Version",
                "Content-Type"
            ]
        );
        let value = |name: &str| top.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(value("From"), "<alice@example.org>");
        assert_eq!(value("To"), "\"hidden-recipients\": ;");
        assert_eq!(value("Subject"), "[...]");
        assert_eq!(value("MIME-Version"), "1.0");
        assert_eq!(value("Message-ID"), "<Mr.abcdef0123456789@example.org>");
        let content_type = value("Content-Type");
        assert!(
            content_type.starts_with(
                "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\""
            ),
            "{content_type}"
        );
        let date = mailparse::dateparse(&value("Date")).unwrap() as u64;
        assert!((NOW - envelope::OUTER_DATE_JITTER..=NOW).contains(&date));

        // CRLF everywhere, no bare LF or CR.
        for (i, &b) in mail.iter().enumerate() {
            if b == b'\n' {
                assert_eq!(mail[i - 1], b'\r', "bare LF at {i}");
            }
            if b == b'\r' {
                assert_eq!(mail[i + 1], b'\n', "bare CR at {i}");
            }
        }
    }
}

#[test]
fn protected_headers_do_not_leak_outside() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("body text"),
        Signing::Signed,
        &mut rng(16),
    )
    .unwrap();
    let raw = String::from_utf8(mail).unwrap();
    for secret in [
        "Secret subject line",
        "Chat-Version",
        "Autocrypt",
        "Chat-Otr",
        "id=42",
        "bob@example.net",
        "body text",
        "HP-Outer",
        "protected-headers",
    ] {
        assert!(!raw.contains(secret), "{secret:?} is visible outside");
    }
}

#[test]
fn rfc3156_structure_and_armor_are_what_chatmail_relays_accept() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("hi"),
        Signing::Signed,
        &mut rng(17),
    )
    .unwrap();
    let parsed = mailparse::parse_mail(&mail).unwrap();
    assert_eq!(parsed.ctype.mimetype, "multipart/encrypted");
    assert_eq!(parsed.subparts.len(), 2);
    assert_eq!(
        parsed.subparts[0].ctype.mimetype,
        "application/pgp-encrypted"
    );
    assert_eq!(
        parsed.subparts[0].get_body_raw().unwrap(),
        b"Version: 1\r\n"
    );
    assert_eq!(
        parsed.subparts[1].ctype.mimetype,
        "application/octet-stream"
    );
    for part in &parsed.subparts {
        assert!(part.subparts.is_empty());
        let cte = part
            .headers
            .iter()
            .find(|h| h.get_key() == "Content-Transfer-Encoding");
        assert_eq!(
            cte.unwrap().get_value(),
            "7bit",
            "the armor must not be re-encoded"
        );
    }

    let armored = armored_part(&mail);
    assert!(armored.starts_with("-----BEGIN PGP MESSAGE-----\r\n\r\n"));
    assert!(armored.ends_with("-----END PGP MESSAGE-----\r\n\r\n"));
    assert!(!armored.contains("Version:"), "no armor headers");
    assert!(
        armored.lines().any(|l| l.len() == 5 && l.starts_with('=')),
        "CRC24 line present"
    );
}

#[test]
fn packets_are_new_format_fixed_length_pkesks_then_one_seipd() {
    let (alice, bob) = (alice(), bob());
    let v1_peer = craft::seipd_v1_only_key("old@example.com", 20);
    // SEIPD v2 (everyone advertises it) and SEIPD v1 (one recipient does not).
    for (recipient, seipd_version, pkesk_version) in [(&bob, 2u8, 6u8), (&v1_peer, 1, 3)] {
        for signing in [Signing::Signed, Signing::Unsigned] {
            let mail = build_encrypted(
                &alice,
                &[recipient.public_key()],
                &headers("alice@example.org", &["x@example.com"]),
                &inner("hi"),
                signing,
                &mut rng(18),
            )
            .unwrap();
            let packets = walk(&packets(&mail));
            assert_eq!(packets.len(), 3);
            for packet in &packets {
                assert_eq!(packet.first_octet, 0xC0 | packet.tag, "new-format header");
                assert!(!packet.partial, "no partial body lengths");
            }
            assert_eq!(packets[0].tag, PKESK);
            assert_eq!(packets[1].tag, PKESK);
            assert_eq!(packets[2].tag, SEIPD);
            assert_eq!(packets[0].body[0], pkesk_version);
            assert_eq!(packets[2].body[0], seipd_version);
            if pkesk_version == 3 {
                // Anonymous recipient: key id 0 (as Delta Chat sends).
                assert_eq!(&packets[0].body[1..9], &[0u8; 8]);
            }
            let incoming = parse(&mail, recipient, &[alice.public_key()]).unwrap();
            assert_eq!(incoming.text.as_deref(), Some("hi"));
            assert_eq!(incoming.signature.is_some(), signing == Signing::Signed);
        }
    }
}

#[test]
fn seipd_v1_peer_round_trip_both_ways() {
    let alice = alice();
    let old = craft::seipd_v1_only_key("old@example.com", 21);
    assert!(!old.public_key().supports_seipd_v2());
    let mail = build_encrypted(
        &old,
        &[alice.public_key()],
        &headers("old@example.com", &["alice@example.org"]),
        &inner("from an old client"),
        Signing::Signed,
        &mut rng(22),
    )
    .unwrap();
    assert_eq!(walk(&packets(&mail))[2].body[0], 1, "SEIPD v1");
    let incoming = parse(&mail, &alice, &no_keys()).unwrap();
    assert_eq!(incoming.text.as_deref(), Some("from an old client"));
    assert_eq!(&incoming.signature.unwrap().fingerprint, old.fingerprint());
}

#[test]
fn large_attachment_stays_fixed_length_and_round_trips() {
    let (alice, bob) = (alice(), bob());
    let bytes: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let inner = InnerPart {
        subject: "file".to_owned(),
        headers: vec![],
        body: Body::Mixed {
            text: "see attachment".to_owned(),
            attachment: Attachment {
                content_type: "application/octet-stream".to_owned(),
                filename: Some("data.bin".to_owned()),
                bytes: bytes.clone(),
            },
        },
    };
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner,
        Signing::Signed,
        &mut rng(23),
    )
    .unwrap();
    for packet in walk(&packets(&mail)) {
        assert!(
            !packet.partial,
            "partial length in a {} KiB message",
            mail.len() / 1024
        );
    }
    let incoming = parse(&mail, &bob, &no_keys()).unwrap();
    assert_eq!(incoming.text.as_deref(), Some("see attachment"));
    assert_eq!(incoming.parts.len(), 1);
    assert_eq!(incoming.parts[0].content_type, "application/octet-stream");
    assert_eq!(incoming.parts[0].filename.as_deref(), Some("data.bin"));
    assert_eq!(incoming.parts[0].bytes, bytes);
    assert!(incoming.signature.is_some());
}

#[test]
fn non_ascii_subject_headers_and_text_round_trip() {
    let (alice, bob) = (alice(), bob());
    let inner = InnerPart {
        subject: "Grüße 🙂 — «off the record»".to_owned(),
        headers: vec![("Chat-Otr-Note".to_owned(), "naïve ünïcode".to_owned())],
        body: Body::Text("Zeile 1\nZeile 2 — ✓\n".repeat(50)),
    };
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner,
        Signing::Signed,
        &mut rng(24),
    )
    .unwrap();
    let incoming = parse(&mail, &bob, &no_keys()).unwrap();
    assert_eq!(incoming.header("Subject"), Some(inner.subject.as_str()));
    assert_eq!(incoming.header("Chat-Otr-Note"), Some("naïve ünïcode"));
    let Body::Text(text) = &inner.body else {
        unreachable!()
    };
    assert_eq!(incoming.text.as_deref(), Some(text.as_str()));
}

#[test]
fn wrong_recipient_gets_a_typed_error() {
    let (alice, bob, carol) = (alice(), bob(), carol());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("for bob"),
        Signing::Signed,
        &mut rng(25),
    )
    .unwrap();
    assert!(matches!(
        parse(&mail, &carol, &[alice.public_key()]),
        Err(EnvelopeError::NotForUs)
    ));
}

#[test]
fn tampered_ciphertext_fails_cleanly() {
    let (alice, bob) = (alice(), bob());
    let v1_peer = craft::seipd_v1_only_key("old@example.com", 26);
    for recipient in [&bob, &v1_peer] {
        let mail = build_encrypted(
            &alice,
            &[recipient.public_key()],
            &headers("alice@example.org", &["x@example.com"]),
            &inner("integrity matters"),
            Signing::Signed,
            &mut rng(27),
        )
        .unwrap();
        let original = packets(&mail);
        let seipd = walk(&original).pop().unwrap();
        // Flip a bit in the middle of the ciphertext, and in its last byte (MDC / AEAD tag).
        let mid = seipd.body_offset + seipd.body.len() / 2;
        for at in [mid, original.len() - 1] {
            let mut tampered = original.clone();
            tampered[at] ^= 0x01;
            let result = parse(&with_packets(&mail, &tampered), recipient, &no_keys());
            assert!(
                matches!(result, Err(EnvelopeError::DecryptionFailed(_))),
                "flip at {at}: {result:?}"
            );
        }
        // A damaged PKESK: the session key cannot be recovered.
        let mut tampered = original.clone();
        tampered[20] ^= 0x01;
        let result = parse(&with_packets(&mail, &tampered), recipient, &no_keys());
        assert!(
            matches!(
                result,
                Err(EnvelopeError::NotForUs | EnvelopeError::DecryptionFailed(_))
            ),
            "{result:?}"
        );
        // Truncated packets.
        let result = parse(
            &with_packets(&mail, &original[..original.len() - 10]),
            recipient,
            &no_keys(),
        );
        assert!(result.is_err());
        // The untouched re-armored mail still parses: the harness is not the failure.
        assert!(parse(&with_packets(&mail, &original), recipient, &no_keys()).is_ok());
    }
}

#[test]
fn damaged_armor_and_structure_fail_cleanly() {
    let (alice, bob) = (alice(), bob());
    let mail = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("hi"),
        Signing::Signed,
        &mut rng(28),
    )
    .unwrap();
    let text = String::from_utf8(mail).unwrap();

    let no_version = text.replacen("\r\nVersion: 1\r\n", "\r\nVersion: 2\r\n", 1);
    assert!(matches!(
        parse(no_version.as_bytes(), &bob, &no_keys()),
        Err(EnvelopeError::Malformed { .. })
    ));
    let wrong_protocol = text.replacen(
        "protocol=\"application/pgp-encrypted\"",
        "protocol=\"application/pkcs7-mime\"",
        1,
    );
    assert!(matches!(
        parse(wrong_protocol.as_bytes(), &bob, &no_keys()),
        Err(EnvelopeError::Unsupported { .. })
    ));
    let garbage_armor = text.replacen(
        "-----BEGIN PGP MESSAGE-----",
        "-----BEGIN PGP SIGNATURE-----",
        1,
    );
    assert!(parse(garbage_armor.as_bytes(), &bob, &no_keys()).is_err());
    let no_from = text.replacen("From: <alice@example.org>\r\n", "", 1);
    assert!(matches!(
        parse(no_from.as_bytes(), &bob, &no_keys()),
        Err(EnvelopeError::Malformed { .. })
    ));
}

#[test]
fn size_limits() {
    let (alice, bob) = (alice(), bob());
    let huge = vec![b'a'; MAX_MAIL_SIZE + 1];
    assert!(matches!(
        parse(&huge, &bob, &no_keys()),
        Err(EnvelopeError::TooLarge { .. })
    ));

    let inner = InnerPart {
        subject: "too big".to_owned(),
        headers: vec![],
        body: Body::Mixed {
            text: String::new(),
            attachment: Attachment {
                content_type: "application/octet-stream".to_owned(),
                filename: None,
                bytes: vec![0u8; 8 * 1024 * 1024],
            },
        },
    };
    let result = build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner,
        Signing::Unsigned,
        &mut rng(29),
    );
    assert!(
        matches!(result, Err(BuildError::TooLarge { .. })),
        "{result:?}"
    );
}

#[test]
fn mime_nesting_is_bounded() {
    let bob = bob();
    let mut mail = String::from("From: <x@example.org>\r\n");
    for depth in 0..20 {
        mail.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n--b{depth}\r\n"
        ));
    }
    mail.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
    assert!(matches!(
        parse(mail.as_bytes(), &bob, &no_keys()),
        Err(EnvelopeError::TooComplex { .. })
    ));
}

#[test]
fn invalid_build_input_is_refused() {
    let (alice, bob) = (alice(), bob());
    let try_build = |headers: envelope::MailHeaders, inner: InnerPart| {
        build_encrypted(
            &alice,
            &[bob.public_key()],
            &headers,
            &inner,
            Signing::Signed,
            &mut rng(30),
        )
    };
    let mut bad_inner = inner("x");
    bad_inner.headers = vec![("Subject".to_owned(), "again".to_owned())];
    assert!(matches!(
        try_build(headers("alice@example.org", &[]), bad_inner),
        Err(BuildError::ReservedHeader { .. })
    ));
    let mut bad_inner = inner("x");
    bad_inner.headers = vec![(
        "Chat-Otr-X".to_owned(),
        "a\r\nBcc: eve@example.org".to_owned(),
    )];
    assert!(matches!(
        try_build(headers("alice@example.org", &[]), bad_inner),
        Err(BuildError::BadHeaderValue { .. })
    ));
    let mut bad_inner = inner("x");
    bad_inner.headers = vec![("Bad Name".to_owned(), "v".to_owned())];
    assert!(matches!(
        try_build(headers("alice@example.org", &[]), bad_inner),
        Err(BuildError::BadHeaderName { .. })
    ));
    let mut bad_inner = inner("x");
    bad_inner.subject = "two\nlines".to_owned();
    assert!(matches!(
        try_build(headers("alice@example.org", &[]), bad_inner),
        Err(BuildError::BadHeaderValue { .. })
    ));
    assert!(matches!(
        try_build(headers("Alice <alice@example.org>", &[]), inner("x")),
        Err(BuildError::BadAddress { field: "from" })
    ));
    assert!(matches!(
        try_build(headers("alice@example.org", &["bob"]), inner("x")),
        Err(BuildError::BadAddress { field: "to" })
    ));
    let mut bad_headers = headers("alice@example.org", &[]);
    bad_headers.message_id = "<id@x>".to_owned();
    assert!(matches!(
        try_build(bad_headers, inner("x")),
        Err(BuildError::BadMessageId)
    ));
    let mut bad_headers = headers("alice@example.org", &[]);
    bad_headers.date = u64::from(u32::MAX) + 1;
    assert!(matches!(
        try_build(bad_headers, inner("x")),
        Err(BuildError::DateOutOfRange { .. })
    ));
    let mut bad_inner = inner("x");
    bad_inner.body = Body::Mixed {
        text: String::new(),
        attachment: Attachment {
            content_type: "not a type".to_owned(),
            filename: None,
            bytes: vec![],
        },
    };
    assert!(matches!(
        try_build(headers("alice@example.org", &[]), bad_inner),
        Err(BuildError::BadAttachment { .. })
    ));
}

#[test]
fn plain_mail_round_trip() {
    let (alice, bob) = (alice(), bob());
    let mail = build_plain(
        &alice,
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("not encrypted"),
        &mut rng(31),
    )
    .unwrap();
    let raw = String::from_utf8(mail.clone()).unwrap();
    assert!(raw.contains("Subject: Secret subject line\r\n"));
    assert!(raw.contains("Chat-Version: 1.0\r\n"));
    let top = top_headers(&mail);
    let autocrypt = &top.iter().find(|(n, _)| n == "Autocrypt").unwrap().1;
    assert!(autocrypt.starts_with("addr=alice@example.org; prefer-encrypt=mutual;"));
    assert!(
        top.iter()
            .any(|(n, v)| n == "To" && v == "<bob@example.net>")
    );
    assert!(!raw.contains("protected-headers"));
    assert!(!raw.contains("HP-Outer"));

    let incoming = parse(&mail, &bob, &no_keys()).unwrap();
    assert!(!incoming.encrypted);
    assert_eq!(incoming.signature, None);
    assert_eq!(incoming.outer_from, "alice@example.org");
    assert_eq!(incoming.date, Some(NOW));
    assert_eq!(incoming.text.as_deref(), Some("not encrypted"));
    assert_eq!(
        incoming.header("Chat-Otr-Invitation"),
        Some("id=42; tag=0x0000abcd")
    );
    assert_eq!(
        incoming.autocrypt.unwrap().key.fingerprint(),
        alice.fingerprint()
    );
}

#[test]
fn plain_mixed_mail_round_trip() {
    let (alice, bob) = (alice(), bob());
    let inner = InnerPart {
        subject: "s".to_owned(),
        headers: vec![],
        body: Body::Mixed {
            text: "text part".to_owned(),
            attachment: Attachment {
                content_type: "application/x-otr-test".to_owned(),
                filename: None,
                bytes: b"\x00\x01binary\xff".to_vec(),
            },
        },
    };
    let mail = build_plain(
        &alice,
        &headers("alice@example.org", &["bob@example.net"]),
        &inner,
        &mut rng(32),
    )
    .unwrap();
    let incoming = parse(&mail, &bob, &no_keys()).unwrap();
    assert_eq!(incoming.text.as_deref(), Some("text part"));
    assert_eq!(incoming.parts.len(), 1);
    assert_eq!(incoming.parts[0].content_type, "application/x-otr-test");
    assert_eq!(incoming.parts[0].bytes, b"\x00\x01binary\xff");
}

#[test]
fn output_is_reproducible_with_a_seeded_rng() {
    let (alice, bob) = (alice(), bob());
    let build = || {
        build_encrypted(
            &alice,
            &[bob.public_key()],
            &headers("alice@example.org", &["bob@example.net"]),
            &inner("same"),
            Signing::Signed,
            &mut rng(33),
        )
        .unwrap()
    };
    assert_eq!(build(), build());
}
