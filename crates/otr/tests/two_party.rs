//! Two in-process endpoints over a simulated channel: every AKE path, data exchange, email
//! disorder, fragmentation, TLVs, ending and persistence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Pair, Side};
use otr::{Config, Event, MessageEvent, MessageState, Policy, ReceivedKind, SendError};

fn has_event(events: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(f)
}

fn msg_event(events: &[Event], kind: MessageEvent) -> bool {
    has_event(
        events,
        |e| matches!(e, Event::Message { kind: k, .. } if *k == kind),
    )
}

#[test]
fn ake_from_either_side_gives_same_ssid_and_opposite_bold_halves() {
    for starter in [Side::Alice, Side::Bob] {
        let mut pair = Pair::new(1, Config::default());
        pair.query(starter);
        pair.run();
        let a = pair.alice.status("bob", None).unwrap();
        let b = pair.bob.status("alice", None).unwrap();
        assert_eq!(a.message_state, MessageState::Encrypted);
        assert_eq!(b.message_state, MessageState::Encrypted);
        assert_eq!(a.version, Some(3));
        let (sa, sb) = (a.ssid.unwrap(), b.ssid.unwrap());
        assert_eq!(sa.bytes, sb.bytes);
        assert_ne!(sa.first_half_bold, sb.first_half_bold);
        assert_eq!(a.their_fingerprint, Some(pair.bob.fingerprint()));
        assert_eq!(b.their_fingerprint, Some(pair.alice.fingerprint()));
        assert!(has_event(&pair.alice_events, |e| matches!(
            e,
            Event::GoneSecure { .. }
        )));
        assert!(has_event(&pair.bob_events, |e| matches!(
            e,
            Event::NewFingerprint { .. }
        )));
    }
}

#[test]
fn version_2_only_peers_use_version_2() {
    let config = Config {
        policy: Policy::ALLOW_V2,
        ..Config::default()
    };
    let mut pair = Pair::new(2, config);
    pair.encrypted();
    assert_eq!(pair.alice.status("bob", None).unwrap().version, Some(2));
    pair.send(Side::Alice, "over v2");
    pair.run();
    assert_eq!(pair.texts(Side::Bob), ["over v2"]);
}

#[test]
fn two_hundred_messages_alternating_and_streaming() {
    let mut pair = Pair::new(3, Config::default());
    pair.encrypted();
    let mut expect_bob = Vec::new();
    let mut expect_alice = Vec::new();
    for i in 0..100 {
        let t = format!("alternating {i}");
        if i % 2 == 0 {
            pair.send(Side::Alice, &t);
            expect_bob.push(t);
        } else {
            pair.send(Side::Bob, &t);
            expect_alice.push(t);
        }
        pair.run();
    }
    for i in 0..100 {
        let t = format!("stream {i}");
        pair.send(Side::Alice, &t);
        expect_bob.push(t);
    }
    pair.run();
    assert_eq!(pair.texts(Side::Bob), expect_bob);
    assert_eq!(pair.texts(Side::Alice), expect_alice);
    assert!(
        pair.bob_got
            .iter()
            .all(|r| r.kind == ReceivedKind::Encrypted)
    );
}

#[test]
fn shuffled_delivery_within_and_across_key_ids_shows_each_message_once() {
    // Heartbeats off so that only the user's messages rotate keys.
    let config = Config {
        heartbeat_interval: None,
        ..Config::default()
    };
    let mut pair = Pair::new(4, config);
    pair.encrypted();
    let mut expected = Vec::new();
    let mut held = Vec::new();
    // Five rounds: Alice writes 8, Bob answers (rotating keys). Alice's messages are held back
    // and delivered in a random order at the end, so they span several key ids.
    for round in 0..5 {
        for i in 0..8 {
            let t = format!("r{round} m{i}");
            pair.send(Side::Alice, &t);
            expected.push(t);
        }
        held.append(&mut pair.to_bob.queue);
        // Let one of them through so Bob learns Alice's next key and answers.
        let first = held.remove(held.len() - 8);
        pair.deliver(Side::Bob, &first);
        pair.send(Side::Bob, &format!("ack {round}"));
        pair.run();
    }
    pair.to_bob.queue = held.clone();
    pair.shuffle(Side::Bob);
    // Deliver everything, then every message again (email duplicates).
    let again = pair.to_bob.queue.clone();
    pair.run();
    for m in again {
        pair.deliver(Side::Bob, &m);
    }
    let mut got = pair.texts(Side::Bob);
    assert_eq!(got.len(), expected.len(), "each message exactly once");
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(msg_event(&pair.bob_events, MessageEvent::ReceivedDuplicate));
    assert!(!msg_event(
        &pair.bob_events,
        MessageEvent::ReceivedUnreadable
    ));
}

#[test]
fn small_fragments_in_v3_and_v2() {
    for policy in [Policy::MANUAL, Policy::ALLOW_V2] {
        let config = Config {
            policy,
            max_message_size: 60,
            ..Config::default()
        };
        let mut pair = Pair::new(5, config);
        pair.encrypted();
        let long = "fragmented ".repeat(40);
        pair.send(Side::Alice, &long);
        assert!(pair.to_bob.queue.len() > 5);
        let prefix = if policy == Policy::ALLOW_V2 {
            "?OTR,"
        } else {
            "?OTR|"
        };
        assert!(
            pair.to_bob
                .queue
                .iter()
                .all(|m| m.starts_with(prefix) && m.len() <= 60)
        );
        pair.shuffle(Side::Bob);
        pair.run();
        assert_eq!(pair.texts(Side::Bob), [long]);
    }
}

#[test]
fn extra_symmetric_keys_agree() {
    let mut pair = Pair::new(6, Config::default());
    pair.encrypted();
    let (key, out) = pair
        .alice
        .use_extra_symmetric_key("bob", None, 0x1234, b"file.txt", pair.now)
        .unwrap();
    pair.absorb(Side::Alice, out);
    pair.run();
    let got = pair
        .bob_events
        .iter()
        .find_map(|e| match e {
            Event::ExtraKeyUsed {
                usage,
                usedata,
                key,
                ..
            } => Some((*usage, usedata.clone(), **key)),
            _ => None,
        })
        .expect("bob saw TLV 8");
    assert_eq!(got, (0x1234, b"file.txt".to_vec(), *key));
}

#[test]
fn disconnect_finishes_the_peer_and_reveals_mac_keys() {
    let mut pair = Pair::new(7, Config::default());
    pair.encrypted();
    pair.send(Side::Bob, "one");
    pair.run();
    let out = pair.alice.disconnect("bob", None, pair.now);
    assert_eq!(out.transmit.len(), 1);
    pair.absorb(Side::Alice, out);
    pair.run();
    assert_eq!(pair.state(Side::Alice), MessageState::Plaintext);
    assert_eq!(pair.state(Side::Bob), MessageState::Finished);
    assert!(has_event(&pair.bob_events, |e| matches!(
        e,
        Event::GoneInsecure { .. }
    )));
    let err = pair
        .bob
        .send("alice", "too late", pair.now, &mut pair.rng)
        .unwrap_err();
    assert_eq!(err, SendError::Finished);
    // Bob ends his side too and is back to plaintext.
    let _ = pair.bob.disconnect("alice", None, pair.now);
    assert_eq!(pair.state(Side::Bob), MessageState::Plaintext);
}

#[test]
fn second_ake_over_an_encrypted_session_is_still_secure() {
    let mut pair = Pair::new(8, Config::default());
    pair.encrypted();
    let first = pair.alice.status("bob", None).unwrap().ssid.unwrap();
    pair.query(Side::Bob);
    pair.run();
    let second = pair.alice.status("bob", None).unwrap().ssid.unwrap();
    assert_ne!(first.bytes, second.bytes);
    assert!(has_event(&pair.alice_events, |e| matches!(
        e,
        Event::StillSecure { .. }
    )));
    pair.send(Side::Alice, "after re-key");
    pair.run();
    assert_eq!(pair.texts(Side::Bob), ["after re-key"]);
}

#[test]
fn simultaneous_queries_collide_and_still_converge() {
    let mut pair = Pair::new(9, Config::default());
    pair.query(Side::Alice);
    pair.query(Side::Bob);
    pair.run();
    assert_eq!(pair.state(Side::Alice), MessageState::Encrypted);
    assert_eq!(pair.state(Side::Bob), MessageState::Encrypted);
    let a = pair.alice.status("bob", None).unwrap().ssid.unwrap();
    let b = pair.bob.status("alice", None).unwrap().ssid.unwrap();
    assert_eq!(a.bytes, b.bytes);
}

#[test]
fn whitespace_tag_and_error_message_start_the_ake() {
    let mut pair = Pair::new(10, Config::default()); // opportunistic
    pair.send(Side::Alice, "hello in the clear");
    assert!(pair.to_bob.queue[0].contains(" \t  \t\t\t\t \t \t \t  "));
    pair.run();
    assert_eq!(pair.state(Side::Bob), MessageState::Encrypted);
    assert_eq!(pair.bob_got[0].kind, ReceivedKind::TaggedPlaintext);
    assert_eq!(pair.texts(Side::Bob), ["hello in the clear"]);

    let mut pair = Pair::new(11, Config::default());
    pair.deliver(Side::Alice, "?OTR Error: something went wrong");
    assert!(msg_event(
        &pair.alice_events,
        MessageEvent::ReceivedGeneralError
    ));
    pair.run();
    assert_eq!(pair.state(Side::Alice), MessageState::Encrypted);
}

#[test]
fn require_encryption_stores_the_message_and_sends_it_once_secure() {
    let config = Config {
        policy: Policy::ALWAYS,
        ..Config::default()
    };
    let mut pair = Pair::new(12, config);
    pair.send(Side::Alice, "secret first words");
    assert!(pair.to_bob.queue[0].starts_with("?OTRv"));
    assert!(msg_event(
        &pair.alice_events,
        MessageEvent::EncryptionRequired
    ));
    pair.run();
    assert_eq!(pair.texts(Side::Bob), ["secret first words"]);
    // Like libotr: a held-back message goes out once secure, with no "resent" event.
    assert!(!msg_event(&pair.alice_events, MessageEvent::MsgResent));
}

#[test]
fn unreadable_data_is_reported_and_answered_with_an_error() {
    let mut pair = Pair::new(13, Config::default());
    pair.encrypted();
    pair.send(Side::Alice, "hi");
    let mut m = pair.to_bob.queue.pop().unwrap();
    // Corrupt a base64 character in the middle of the ciphertext.
    let mid = m.len() / 2;
    let c = if &m[mid..mid + 1] == "A" { "B" } else { "A" };
    m.replace_range(mid..mid + 1, c);
    pair.deliver(Side::Bob, &m);
    assert!(pair.texts(Side::Bob).is_empty());
    assert!(
        msg_event(&pair.bob_events, MessageEvent::ReceivedUnreadable)
            || msg_event(&pair.bob_events, MessageEvent::ReceivedMalformed)
    );
}

#[test]
fn save_and_restore_at_every_step_continues_the_conversation() {
    let config = Config::default();
    let mut pair = Pair::new(14, config.clone());
    pair.query(Side::Alice);
    // Run the AKE one message at a time, saving and restoring both sides between messages.
    for _ in 0..20 {
        pair.alice = otr::Endpoint::restore(&pair.alice.save(), config.clone()).unwrap();
        pair.bob = otr::Endpoint::restore(&pair.bob.save(), config.clone()).unwrap();
        if let Some(m) = pair.to_bob.queue.first().cloned() {
            pair.to_bob.queue.remove(0);
            pair.deliver(Side::Bob, &m);
        } else if let Some(m) = pair.to_alice.queue.first().cloned() {
            pair.to_alice.queue.remove(0);
            pair.deliver(Side::Alice, &m);
        } else {
            break;
        }
    }
    assert_eq!(pair.state(Side::Alice), MessageState::Encrypted);
    for i in 0..5 {
        pair.send(Side::Alice, &format!("a{i}"));
        pair.send(Side::Bob, &format!("b{i}"));
        pair.alice = otr::Endpoint::restore(&pair.alice.save(), config.clone()).unwrap();
        pair.bob = otr::Endpoint::restore(&pair.bob.save(), config.clone()).unwrap();
        pair.run();
    }
    assert_eq!(pair.texts(Side::Bob), ["a0", "a1", "a2", "a3", "a4"]);
    assert_eq!(pair.texts(Side::Alice), ["b0", "b1", "b2", "b3", "b4"]);
}

#[test]
fn restored_state_never_reuses_a_counter() {
    let config = Config {
        heartbeat_interval: None,
        ..Config::default()
    };
    let mut pair = Pair::new(15, config.clone());
    pair.encrypted();
    let saved = pair.alice.save();
    // The live process keeps sending after the save...
    for i in 0..3 {
        pair.send(Side::Alice, &format!("live {i}"));
    }
    // ...then dies; a new process restores the older save and sends with the same keys.
    let mut restored = otr::Endpoint::restore(&saved, config).unwrap();
    let out = restored
        .send("bob", "restored", pair.now, &mut pair.rng)
        .unwrap();
    pair.to_bob
        .queue
        .extend(out.transmit.into_iter().map(|t| t.message));
    let ctrs: Vec<[u8; 8]> = pair
        .to_bob
        .queue
        .iter()
        .map(|m| match otr::wire::Message::parse(m).unwrap() {
            otr::wire::Message::Encoded { encoded, .. } => match encoded.body {
                otr::wire::Body::Data(d) => d.ctr,
                _ => panic!("not data"),
            },
            _ => panic!("not encoded"),
        })
        .collect();
    let mut unique = ctrs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ctrs.len(), "a counter was reused: {ctrs:?}");
    pair.run();
    assert_eq!(pair.texts(Side::Bob).len(), 4);
}

#[test]
fn messages_for_another_instance_are_ignored_silently() {
    let mut pair = Pair::new(16, Config::default());
    pair.encrypted();
    // A third endpoint of Bob's account (another device) sees Alice's traffic for Bob.
    let mut bob2 = common::endpoint(2, 0x3333_3333, Config::default());
    pair.send(Side::Alice, "for bob's first device");
    let m = pair.to_bob.queue[0].clone();
    let out = bob2.receive("alice", &m, pair.now, &mut pair.rng);
    assert!(out.transmit.is_empty());
    assert!(out.received.is_empty());
    assert!(out.events.iter().all(|e| matches!(
        e,
        Event::Message {
            kind: MessageEvent::ReceivedForOtherInstance,
            ..
        }
    )));
}

#[test]
fn one_account_with_two_instances_holds_two_sessions() {
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(17);
    let now = 1_700_000_000;
    let mut alice = common::endpoint(0, 0x1111_1111, Config::default());
    let mut bob1 = common::endpoint(1, 0x2222_2222, Config::default());
    let mut bob2 = common::endpoint(2, 0x3333_3333, Config::default());
    // Alice's query reaches both of Bob's devices; each answers; Alice's messages to each
    // device reach both devices (like email to one address).
    let mut to_alice: Vec<String> = Vec::new();
    let mut to_bobs: Vec<String> = alice
        .query("bob")
        .transmit
        .into_iter()
        .map(|t| t.message)
        .collect();
    for _ in 0..10 {
        for m in std::mem::take(&mut to_bobs) {
            for b in [&mut bob1, &mut bob2] {
                to_alice.extend(
                    b.receive("alice", &m, now, &mut rng)
                        .transmit
                        .into_iter()
                        .map(|t| t.message),
                );
            }
        }
        for m in std::mem::take(&mut to_alice) {
            to_bobs.extend(
                alice
                    .receive("bob", &m, now, &mut rng)
                    .transmit
                    .into_iter()
                    .map(|t| t.message),
            );
        }
    }
    let instances = alice.instances("bob");
    assert_eq!(instances.len(), 2);
    for inst in &instances {
        assert_eq!(
            alice.status("bob", Some(*inst)).unwrap().message_state,
            MessageState::Encrypted
        );
    }
    for (inst, b, text) in [
        (otr::InstanceTag::new(0x2222_2222), &mut bob1, "to one"),
        (otr::InstanceTag::new(0x3333_3333), &mut bob2, "to two"),
    ] {
        let out = alice
            .send_to("bob", inst, text, &[], now, &mut rng)
            .unwrap();
        let got = b.receive("alice", &out.transmit[0].message, now, &mut rng);
        assert_eq!(got.received[0].text, text);
    }
}

#[test]
fn a_one_sided_burst_shares_one_key_pair_until_the_peer_answers() {
    // Forward secrecy advances only when both sides write: every message of a burst that the
    // peer does not answer is under the same key pair (and heartbeats, which would answer,
    // are off here as in the chat layer).
    let config = Config {
        heartbeat_interval: None,
        ..Config::default()
    };
    let mut pair = Pair::new(18, config);
    pair.encrypted();
    let keyids = |queue: &[String]| -> Vec<(u32, u32)> {
        queue
            .iter()
            .map(|m| match otr::wire::Message::parse(m).unwrap() {
                otr::wire::Message::Encoded { encoded, .. } => match encoded.body {
                    otr::wire::Body::Data(d) => (d.sender_keyid, d.recipient_keyid),
                    _ => panic!("not data"),
                },
                _ => panic!("not encoded"),
            })
            .collect()
    };
    for i in 0..10 {
        pair.send(Side::Alice, &format!("burst {i}"));
    }
    let burst = keyids(&pair.to_bob.queue);
    assert!(burst.iter().all(|k| *k == burst[0]), "{burst:?}");
    pair.run();
    assert!(
        pair.to_alice.queue.is_empty(),
        "receiving sent nothing back"
    );
    // Bob answers; Alice's next message uses a new key pair.
    pair.send(Side::Bob, "answer");
    pair.run();
    pair.send(Side::Alice, "after the answer");
    let after = keyids(&pair.to_bob.queue);
    assert_ne!(after[0], burst[0]);
    pair.run();
}

#[test]
fn late_messages_are_readable_only_within_the_retention_window() {
    // The forward-secrecy cost of email tolerance is bounded: receiving keys of retired key
    // pairs are kept for at most `RetentionLimits` (32 pairs, 7 days); a message older than
    // that can no longer be decrypted, by us or by whoever seizes the device.
    let config = Config {
        heartbeat_interval: None,
        ..Config::default()
    };
    let mut pair = Pair::new(19, config);
    pair.encrypted();
    let rounds = |pair: &mut Pair, n: usize| {
        for i in 0..n {
            pair.send(Side::Alice, &format!("a{i}"));
            pair.run();
            pair.send(Side::Bob, &format!("b{i}"));
            pair.run();
        }
    };
    // Held for a few key rotations: still readable.
    pair.send(Side::Alice, "held briefly");
    let brief = pair.to_bob.queue.pop().unwrap();
    rounds(&mut pair, 3);
    pair.deliver(Side::Bob, &brief);
    assert_eq!(pair.texts(Side::Bob).last().unwrap(), "held briefly");
    // Held past 32 retired pairs: unreadable.
    pair.send(Side::Alice, "held too long");
    let long = pair.to_bob.queue.pop().unwrap();
    rounds(&mut pair, 40);
    let out = pair.bob.receive("alice", &long, pair.now, &mut pair.rng);
    assert!(out.received.is_empty());
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::Message {
            kind: MessageEvent::ReceivedUnreadable,
            ..
        }
    )));
    // Held past 7 days: unreadable, whatever the number of pairs.
    pair.send(Side::Alice, "held a week");
    let week = pair.to_bob.queue.pop().unwrap();
    rounds(&mut pair, 2);
    pair.now += 7 * 24 * 3600 + 1;
    let _ = pair.bob.poll(pair.now);
    let out = pair.bob.receive("alice", &week, pair.now, &mut pair.rng);
    assert!(out.received.is_empty(), "{:?}", out.received);
}

#[test]
fn closing_reveals_every_mac_key_that_authenticated_the_peers_messages() {
    // Deniability: after the session ends, every MAC key that authenticated a message Bob sent
    // is published (in the data messages Alice sent, the last one the disconnect), so anyone
    // could have made those MACs.
    let config = Config {
        heartbeat_interval: None,
        ..Config::default()
    };
    let mut pair = Pair::new(20, config);
    pair.encrypted();
    let data = |m: &str| match otr::wire::Message::parse(m).unwrap() {
        otr::wire::Message::Encoded { encoded, .. } => match &encoded.body {
            otr::wire::Body::Data(d) => (encoded.clone(), d.clone()),
            _ => panic!("not data"),
        },
        _ => panic!("not encoded"),
    };
    let (mut from_bob, mut from_alice) = (Vec::new(), Vec::new());
    for i in 0..5 {
        pair.send(Side::Bob, &format!("b{i}"));
        from_bob.extend(pair.to_alice.queue.clone());
        pair.run();
        pair.send(Side::Alice, &format!("a{i}"));
        from_alice.extend(pair.to_bob.queue.clone());
        pair.run();
    }
    let out = pair.alice.disconnect("bob", None, pair.now);
    from_alice.extend(out.transmit.iter().map(|t| t.message.clone()));
    let revealed: Vec<Vec<u8>> = from_alice
        .iter()
        .flat_map(|m| {
            let (_, d) = data(m);
            assert_eq!(d.old_mac_keys.len() % 20, 0);
            d.old_mac_keys
                .chunks(20)
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!revealed.is_empty());
    for m in &from_bob {
        let (encoded, d) = data(m);
        let input = encoded.data_mac_input().unwrap();
        assert!(
            revealed
                .iter()
                .any(|k| offrecord_crypto::hash::hmac_sha1(k, &[&input]) == d.mac),
            "the MAC key of a message from Bob was not revealed"
        );
    }
}
