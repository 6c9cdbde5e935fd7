//! Mail the public API refuses to make, built with rPGP directly: forged signatures,
//! surreptitious forwarding, signatures without issuer, foreign structures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::craft::{self, created, intended, issuer, issuer_of};
use common::*;
use envelope::{AutocryptHeader, EnvelopeError, PeerKey, parse};

#[test]
fn crafted_mail_from_another_implementation_path_parses() {
    let (alice, bob) = (alice(), bob());
    let (alice_sk, bob_pk) = (craft::secret(&alice), craft::public(&bob));
    let mail = craft::mail(
        "alice@example.org",
        &craft::inner_mime("alice@example.org", "crafted hello"),
        &[&bob_pk],
        Some((&alice_sk, vec![created(), issuer(&alice_sk)])),
        1,
    );
    let incoming = parse(&mail, &bob, &[alice.public_key()]).unwrap();
    assert_eq!(incoming.text.as_deref(), Some("crafted hello\n"));
    assert_eq!(
        &incoming.signature.unwrap().fingerprint,
        alice.fingerprint()
    );
}

#[test]
fn forged_signature_naming_a_known_key_is_rejected() {
    let (alice, bob, mallory) = (alice(), bob(), mallory());
    let mallory_sk = craft::secret(&mallory);
    let alice_pk = craft::public(&alice);
    let bob_pk = craft::public(&bob);
    // Mallory signs, but names Alice as the issuer.
    let mail = craft::mail(
        "alice@example.org",
        &craft::inner_mime("alice@example.org", "send money"),
        &[&bob_pk],
        Some((&mallory_sk, vec![created(), issuer_of(&alice_pk)])),
        2,
    );
    let result = parse(&mail, &bob, &[alice.public_key()]);
    match result {
        Err(EnvelopeError::BadSignature { fingerprint }) => {
            assert_eq!(&fingerprint, alice.fingerprint());
        }
        other => panic!("expected BadSignature, got {other:?}"),
    }
    // Not knowing Alice's key, the signature is merely by an unknown signer.
    let incoming = parse(&mail, &bob, &Vec::<PeerKey>::new()).unwrap();
    assert_eq!(incoming.signature, None);
}

#[test]
fn signature_for_other_recipients_is_rejected() {
    let (alice, bob, carol) = (alice(), bob(), carol());
    let alice_sk = craft::secret(&alice);
    let (bob_pk, carol_pk) = (craft::public(&bob), craft::public(&carol));
    // Alice signed this for Carol; Carol re-encrypts it to Bob.
    let mail = craft::mail(
        "alice@example.org",
        &craft::inner_mime("alice@example.org", "for carol only"),
        &[&bob_pk],
        Some((
            &alice_sk,
            vec![created(), issuer(&alice_sk), intended(&carol_pk)],
        )),
        3,
    );
    match parse(&mail, &bob, &[alice.public_key()]) {
        Err(EnvelopeError::NotIntendedRecipient { signer }) => {
            assert_eq!(&signer, alice.fingerprint());
        }
        other => panic!("expected NotIntendedRecipient, got {other:?}"),
    }
    // Carol herself accepts it.
    let mail = craft::mail(
        "alice@example.org",
        &craft::inner_mime("alice@example.org", "for carol only"),
        &[&carol_pk],
        Some((
            &alice_sk,
            vec![created(), issuer(&alice_sk), intended(&carol_pk)],
        )),
        4,
    );
    let incoming = parse(&mail, &carol, &[alice.public_key()]).unwrap();
    assert_eq!(
        incoming.signature.unwrap().intended_recipients,
        vec![carol.fingerprint().clone()]
    );
}

#[test]
fn signature_without_issuer_is_tried_against_candidate_keys() {
    let (alice, bob) = (alice(), bob());
    let alice_sk = craft::secret(&alice);
    let bob_pk = craft::public(&bob);
    let mail = craft::mail(
        "alice@example.org",
        &craft::inner_mime("alice@example.org", "anonymous signature"),
        &[&bob_pk],
        Some((&alice_sk, vec![created()])),
        5,
    );
    // Known keys are looked up by issuer fingerprint, so none is found; the remaining
    // candidates (our own key, the Autocrypt key, absent here) do not verify it, and nothing
    // names them: reported as unsigned, not as an error.
    let incoming = parse(&mail, &bob, &[alice.public_key()]).unwrap();
    assert_eq!(incoming.signature, None);
    let incoming = parse(&mail, &bob, &Vec::<PeerKey>::new()).unwrap();
    assert_eq!(incoming.signature, None);

    // With Alice's Autocrypt header inside, her key is a candidate and verifies it.
    let autocrypt = AutocryptHeader::new("alice@example.org", alice.public_key())
        .to_header_value()
        .unwrap();
    let inner = format!(
        "From: <alice@example.org>\r\nAutocrypt: {autocrypt}\r\n\
         Content-Type: text/plain\r\n\r\nsigned, no issuer\r\n"
    );
    let mail = craft::mail(
        "alice@example.org",
        inner.as_bytes(),
        &[&bob_pk],
        Some((&alice_sk, vec![created()])),
        8,
    );
    let incoming = parse(&mail, &bob, &Vec::<PeerKey>::new()).unwrap();
    assert_eq!(
        &incoming.signature.unwrap().fingerprint,
        alice.fingerprint()
    );
}

#[test]
fn unencrypted_openpgp_payload_is_unsupported() {
    let bob = bob();
    let alice = alice();
    let alice_sk = craft::secret(&alice);
    // A mail whose "encrypted" part is a signed-only OpenPGP message.
    let mut rng = craft::Rng06(rng(6));
    let mut builder = pgp::composed::MessageBuilder::from_bytes("", b"plain".to_vec());
    builder.sign(
        &alice_sk.primary_key,
        pgp::types::Password::empty(),
        pgp::crypto::hash::HashAlgorithm::Sha256,
    );
    let packets = builder.to_vec(&mut rng).unwrap();
    let template = craft::mail("alice@example.org", b"x", &[&craft::public(&bob)], None, 7);
    let mail = with_packets(&template, &packets);
    assert!(matches!(
        parse(&mail, &bob, &Vec::<PeerKey>::new()),
        Err(EnvelopeError::Unsupported { .. })
    ));
}

/// rPGP 0.21 panics (integer underflow) on a SEIPD v2 packet with an unknown AEAD algorithm
/// once the session key is found; such packets must be refused before rPGP sees them.
#[test]
fn seipd_v2_with_unknown_aead_is_refused_not_a_panic() {
    let (alice, bob) = (alice(), bob());
    let mail = envelope::build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner("x"),
        envelope::Signing::Signed,
        &mut rng(9),
    )
    .unwrap();
    let mut packets = packets(&mail);
    let seipd = walk(&packets).pop().unwrap();
    assert_eq!(seipd.body[0], 2, "SEIPD v2");
    for aead in [0u8, 4, 100, 255] {
        packets[seipd.body_offset + 2] = aead;
        let result = parse(&with_packets(&mail, &packets), &bob, &[alice.public_key()]);
        assert!(
            matches!(result, Err(EnvelopeError::Unsupported { .. })),
            "aead {aead}: {result:?}"
        );
    }
}

/// Compressed content is held to the size limit as it is decompressed.
#[test]
fn decompression_bomb_is_refused() {
    let (alice, bob) = (alice(), bob());
    let bomb = vec![b'a'; envelope::MAX_MAIL_SIZE + 1024];
    let inner = craft::inner_packets(&bomb, None, true, 10);
    assert!(inner.len() < 100_000, "compressed to {} bytes", inner.len());
    let packets = craft::encrypt_packets(&inner, &craft::public(&bob), false, 11);
    let template = envelope::build_encrypted(
        &alice,
        &[bob.public_key()],
        &headers("alice@example.org", &["bob@example.net"]),
        &inner_part(),
        envelope::Signing::Unsigned,
        &mut rng(12),
    )
    .unwrap();
    let result = parse(
        &with_packets(&template, &packets),
        &bob,
        &Vec::<PeerKey>::new(),
    );
    assert!(
        matches!(result, Err(EnvelopeError::TooLarge { .. })),
        "{result:?}"
    );
}

fn inner_part() -> envelope::InnerPart {
    inner("x")
}
