//! Property tests: `parse` never panics, whatever the input (random bytes, mutated valid
//! mail, mutated OpenPGP packets, mutated encrypted content), and valid content round-trips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use common::*;
use envelope::{Body, Identity, InnerPart, PeerKey, Signing, build_encrypted, parse};
use proptest::prelude::*;

struct Fixture {
    alice: Identity,
    bob: Identity,
    known: Vec<PeerKey>,
    signed: Vec<u8>,
    unsigned: Vec<u8>,
    plain: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (alice, bob) = (alice(), bob());
        let build = |signing| {
            build_encrypted(
                &alice,
                &[bob.public_key()],
                &headers("alice@example.org", &["bob@example.net"]),
                &inner("hello"),
                signing,
                &mut rng(1),
            )
            .unwrap()
        };
        let signed = build(Signing::Signed);
        let unsigned = build(Signing::Unsigned);
        let plain = envelope::build_plain(
            &alice,
            &headers("alice@example.org", &["bob@example.net"]),
            &inner("hello"),
            &mut rng(2),
        )
        .unwrap();
        Fixture {
            known: vec![alice.public_key()],
            alice,
            bob,
            signed,
            unsigned,
            plain,
        }
    })
}

/// An edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Truncate { at: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(data: &mut Vec<u8>, mutation: &Mutation) {
    if data.is_empty() {
        return;
    }
    let n = data.len();
    match mutation {
        Mutation::Flip { at, bit } => data[at % n] ^= 1 << bit,
        Mutation::Set { at, byte } => data[at % n] = *byte,
        Mutation::Delete { at, len } => {
            let at = at % n;
            data.drain(at..(at + len).min(n));
        }
        Mutation::Insert { at, bytes } => {
            let at = at % n;
            data.splice(at..at, bytes.iter().copied());
        }
        Mutation::Truncate { at } => data.truncate(at % n),
        Mutation::Duplicate { at, len } => {
            let at = at % n;
            let chunk: Vec<u8> = data[at..(at + len).min(n)].to_vec();
            data.splice(at..at, chunk);
        }
    }
}

/// Mutations that keep the ASCII armor's base64 alphabet, so they reach the packet parser.
fn mutate_base64(data: &mut [u8], mutation: &Mutation) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let find = |needle: &[u8]| data.windows(needle.len()).position(|w| w == needle);
    let (Some(start), Some(end)) = (find(b"-----\r\n\r\nw"), find(b"\r\n=")) else {
        return;
    };
    let start = start + 9;
    if start >= end {
        return;
    }
    let (at, byte) = match mutation {
        Mutation::Set { at, byte } => (*at, *byte),
        Mutation::Flip { at, bit } => (*at, 1 << bit),
        Mutation::Delete { at, len } | Mutation::Duplicate { at, len } => (*at, *len as u8),
        Mutation::Insert { at, bytes } => (*at, bytes[0]),
        Mutation::Truncate { at } => (*at, 0),
    };
    let at = start + at % (end - start);
    if data[at].is_ascii_alphanumeric() || data[at] == b'+' || data[at] == b'/' {
        data[at] = ALPHABET[usize::from(byte) % 64];
    }
}

/// Cases per property: the given default, or `ENVELOPE_FUZZ_CASES` for a deeper local run.
fn cases(default: u32) -> u32 {
    std::env::var("ENVELOPE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        let _ = parse(&bytes, &f.bob, &f.known);
    }

    #[test]
    fn random_bodies_under_plausible_headers_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        encrypted in any::<bool>(),
    ) {
        let f = fixture();
        let mut mail = b"From: <alice@example.org>\r\nMessage-ID: <x@y>\r\n".to_vec();
        if encrypted {
            mail.extend_from_slice(
                b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; \
                  boundary=\"B\"\r\n\r\n--B\r\nContent-Type: application/pgp-encrypted\r\n\r\n\
                  Version: 1\r\n--B\r\nContent-Type: application/octet-stream\r\n\r\n\
                  -----BEGIN PGP MESSAGE-----\r\n\r\n",
            );
        } else {
            mail.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n");
        }
        mail.extend_from_slice(&body);
        let _ = parse(&mail, &f.bob, &f.known);
    }

    #[test]
    fn mutated_mail_never_panics(
        which in 0usize..3,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let f = fixture();
        let mut mail = [&f.signed, &f.unsigned, &f.plain][which].clone();
        for m in &mutations {
            apply(&mut mail, m);
        }
        let _ = parse(&mail, &f.bob, &f.known);
        let _ = parse(&mail, &f.alice, &[] as &[PeerKey; 0]);
    }

    #[test]
    fn mutated_armor_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        let f = fixture();
        let mut mail = f.signed.clone();
        for m in &mutations {
            mutate_base64(&mut mail, m);
        }
        let _ = parse(&mail, &f.bob, &f.known);
    }

    #[test]
    fn mutated_packets_never_panic(
        which in 0usize..2,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let f = fixture();
        let mail = [&f.signed, &f.unsigned][which];
        let mut packets = packets(mail);
        for m in &mutations {
            apply(&mut packets, m);
        }
        let _ = parse(&with_packets(mail, &packets), &f.bob, &f.known);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    /// The decrypted content is attacker-chosen too: random and mutated inner MIME, signed
    /// and encrypted properly, must not panic the inner parser or the signature checks.
    #[test]
    fn mutated_encrypted_content_never_panics(
        mutations in prop::collection::vec(mutation(), 0..6),
        signed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let f = fixture();
        let mut inner = b"From: <alice@example.org>\r\nSubject: s\r\n\
            Content-Type: multipart/mixed; boundary=\"I\"\r\n\r\n--I\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            aGVsbG8=\r\n--I\r\nContent-Type: application/octet-stream\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\nab=3Dcd=\r\n--I--\r\n"
            .to_vec();
        for m in &mutations {
            apply(&mut inner, m);
        }
        let alice_sk = common::craft::secret(&f.alice);
        let bob_pk = common::craft::public(&f.bob);
        let signer = signed.then(|| {
            (&alice_sk, vec![common::craft::created(), common::craft::issuer(&alice_sk)])
        });
        let mail = common::craft::mail("alice@example.org", &inner, &[&bob_pk], signer, seed);
        let _ = parse(&mail, &f.bob, &f.known);
    }

    /// The OpenPGP packets inside the encryption (one-pass signature, literal data,
    /// signature, compressed data) are attacker-chosen too: mutate them behind a valid
    /// PKESK + SEIPD (v1 and v2).
    #[test]
    fn mutated_decrypted_packets_never_panic(
        mutations in prop::collection::vec(mutation(), 0..5),
        signed in any::<bool>(),
        compress in any::<bool>(),
        v2 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let f = fixture();
        let alice_sk = common::craft::secret(&f.alice);
        let bob_pk = common::craft::public(&f.bob);
        let mime = common::craft::inner_mime("alice@example.org", "inner packets");
        let mut inner = common::craft::inner_packets(
            &mime,
            signed.then_some(&alice_sk),
            compress,
            seed,
        );
        for m in &mutations {
            apply(&mut inner, m);
        }
        let packets = common::craft::encrypt_packets(&inner, &bob_pk, v2, seed);
        let result = parse(&with_packets(&f.signed, &packets), &f.bob, &f.known);
        if mutations.is_empty() {
            let incoming = result.unwrap();
            prop_assert_eq!(incoming.text.as_deref(), Some("inner packets\n"));
            prop_assert_eq!(incoming.signature.is_some(), signed);
        }
    }

    /// decode(encode(x)) == x for valid content.
    #[test]
    fn valid_content_round_trips(
        subject in "[^\r\n\u{0}]{0,120}",
        text in "[^\r\u{0}]{0,400}",
        value in "[ -~]{0,60}",
        signed in any::<bool>(),
    ) {
        let f = fixture();
        let inner = InnerPart {
            subject: subject.clone(),
            headers: vec![("Chat-Otr-Test".to_owned(), value.clone())],
            body: Body::Text(text.clone()),
        };
        let signing = if signed { Signing::Signed } else { Signing::Unsigned };
        let mail = build_encrypted(
            &f.alice,
            &[f.bob.public_key()],
            &headers("alice@example.org", &["bob@example.net"]),
            &inner,
            signing,
            &mut rng(9),
        )
        .unwrap();
        let incoming = parse(&mail, &f.bob, &f.known).unwrap();
        prop_assert_eq!(incoming.signature.is_some(), signed);
        prop_assert_eq!(incoming.header("Subject").map(str::trim), Some(subject.trim()));
        prop_assert_eq!(incoming.header("Chat-Otr-Test").map(str::trim), Some(value.trim()));
        prop_assert_eq!(incoming.text.unwrap_or_default(), text);
    }
}
