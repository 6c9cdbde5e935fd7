//! The bad-input table of `docs/SECURITY.md`, OTR library rows: each kind of malformed or
//! hostile input, what the caller sees (the event), what goes back on the wire, and that the
//! encrypted session is intact afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Pair, Side};
use otr::wire::{Body, Message};
use otr::{Config, Event, InstanceTag, MessageEvent, MessageState, Output};

fn kinds(out: &Output) -> Vec<MessageEvent> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::Message { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

/// An encrypted pair and one data message from Alice to Bob, not yet delivered.
fn pair_with_data(seed: u64) -> (Pair, String) {
    let mut pair = Pair::new(seed, Config::default());
    pair.encrypted();
    pair.send(Side::Alice, "the real one");
    let data = pair.to_bob.queue.pop().unwrap();
    (pair, data)
}

/// Rewrites a data message (the MAC is not recomputed).
fn edit_data(message: &str, f: impl FnOnce(&mut otr::wire::Encoded)) -> String {
    match Message::parse(message).unwrap() {
        Message::Encoded { mut encoded, .. } => {
            f(&mut encoded);
            encoded.to_armored()
        }
        other => panic!("{other:?}"),
    }
}

/// Delivers `input` to Bob and returns the output; checks that nothing is shown.
fn to_bob(pair: &mut Pair, input: &str) -> Output {
    let out = pair.bob.receive("alice", input, pair.now, &mut pair.rng);
    assert!(out.received.is_empty(), "shown: {:?}", out.received);
    out
}

/// After the bad input, the session still carries the real message and new ones.
fn intact(pair: &mut Pair, data: &str) {
    let out = pair.bob.receive("alice", data, pair.now, &mut pair.rng);
    assert_eq!(out.received[0].text, "the real one");
    pair.send(Side::Bob, "and back");
    pair.run();
    assert_eq!(pair.texts(Side::Alice).last().unwrap(), "and back");
    assert_eq!(pair.state(Side::Bob), MessageState::Encrypted);
}

#[test]
fn malformed_encoded_message_is_reported_and_not_answered() {
    let (mut pair, data) = pair_with_data(60);
    // Truncated binary, an unknown message type, an unsupported version.
    for input in ["?OTR:AAMD.", "?OTR:AAOZAAABAAAAAQA=.", "?OTR:AAECAAAAAA==."] {
        let out = to_bob(&mut pair, input);
        assert_eq!(kinds(&out), [MessageEvent::ReceivedMalformed], "{input}");
        assert!(out.transmit.is_empty());
    }
    intact(&mut pair, &data);
}

#[test]
fn bad_base64_and_missing_terminator_are_malformed() {
    let (mut pair, data) = pair_with_data(61);
    for input in ["?OTR:!!!!.", "?OTR:AAMDAAAB", "?OTR:A===."] {
        let out = to_bob(&mut pair, input);
        assert_eq!(kinds(&out), [MessageEvent::ReceivedMalformed], "{input}");
        assert!(out.transmit.is_empty());
    }
    intact(&mut pair, &data);
}

#[test]
fn wrong_or_invalid_instance_tags_are_ignored() {
    let (mut pair, data) = pair_with_data(62);
    let other = edit_data(&data, |e| {
        e.receiver_instance = InstanceTag::new(0x0bad_0bad)
    });
    let out = to_bob(&mut pair, &other);
    assert_eq!(kinds(&out), [MessageEvent::ReceivedForOtherInstance]);
    assert!(out.transmit.is_empty());
    let invalid = edit_data(&data, |e| e.sender_instance = InstanceTag::new(0x42));
    let out = to_bob(&mut pair, &invalid);
    assert_eq!(kinds(&out), [MessageEvent::ReceivedMalformed]);
    assert!(out.transmit.is_empty());
    intact(&mut pair, &data);
}

#[test]
fn replayed_data_message_is_a_duplicate_shown_once() {
    let (mut pair, data) = pair_with_data(63);
    intact(&mut pair, &data);
    for _ in 0..3 {
        let out = to_bob(&mut pair, &data);
        assert_eq!(kinds(&out), [MessageEvent::ReceivedDuplicate]);
        assert!(out.transmit.is_empty());
    }
}

#[test]
fn bad_mac_and_unknown_key_id_are_unreadable_and_answered_with_an_otr_error() {
    let (mut pair, data) = pair_with_data(64);
    let bad_mac = edit_data(&data, |e| {
        if let Body::Data(d) = &mut e.body {
            d.mac[0] ^= 1;
        }
    });
    let unknown_key = edit_data(&data, |e| {
        if let Body::Data(d) = &mut e.body {
            d.recipient_keyid = 9999;
        }
    });
    for input in [bad_mac, unknown_key] {
        let out = to_bob(&mut pair, &input);
        assert_eq!(kinds(&out), [MessageEvent::ReceivedUnreadable]);
        // libotr's default: the peer is told with an OTR error message (the chat layer turns
        // this off: `Config::reply_to_unreadable`).
        assert_eq!(out.transmit.len(), 1);
        assert!(out.transmit[0].message.starts_with("?OTR Error:"));
    }
    intact(&mut pair, &data);
}

#[test]
fn unreadable_data_flagged_ignore_unreadable_is_dropped_silently() {
    let (mut pair, data) = pair_with_data(65);
    let bad = edit_data(&data, |e| {
        if let Body::Data(d) = &mut e.body {
            d.flags |= otr::wire::FLAG_IGNORE_UNREADABLE;
            d.mac[0] ^= 1;
        }
    });
    let out = to_bob(&mut pair, &bad);
    assert!(out.events.is_empty() && out.transmit.is_empty());
    intact(&mut pair, &data);
}

#[test]
fn data_without_a_private_session_is_not_in_private() {
    let (mut pair, data) = pair_with_data(66);
    let mut stranger = common::endpoint(2, 0x2222_2222, Config::default());
    let out = stranger.receive("alice", &data, pair.now, &mut pair.rng);
    assert_eq!(kinds(&out), [MessageEvent::ReceivedNotInPrivate]);
    assert!(out.received.is_empty());
    assert!(out.transmit[0].message.starts_with("?OTR Error:"));
}

#[test]
fn fragment_garbage_is_malformed() {
    let (mut pair, data) = pair_with_data(67);
    for input in [
        "?OTR|zz|yy,1,2,x,",
        "?OTR|11111111|22222222,00003,00002,AAAA,",
        "?OTR|11111111|22222222,00000,00002,AAAA,",
        "?OTR|11111111|22222222,00001,00002,AAAA",
        "?OTR,1,1,?OTR:AAMD.,",
    ] {
        let out = to_bob(&mut pair, input);
        assert_eq!(kinds(&out), [MessageEvent::ReceivedMalformed], "{input}");
        assert!(out.transmit.is_empty());
    }
    intact(&mut pair, &data);
}

#[test]
fn otr_error_and_plaintext_while_encrypted_are_reported_not_shown_as_private() {
    let (mut pair, data) = pair_with_data(68);
    let out = to_bob(&mut pair, "?OTR Error: something broke");
    assert_eq!(kinds(&out), [MessageEvent::ReceivedGeneralError]);
    let out = to_bob(&mut pair, "hello in the clear");
    assert_eq!(kinds(&out), [MessageEvent::ReceivedUnencrypted]);
    intact(&mut pair, &data);
}

#[test]
fn our_own_message_reflected_back_is_recognised() {
    let (mut pair, data) = pair_with_data(69);
    let out = pair.alice.receive("bob", &data, pair.now, &mut pair.rng);
    assert_eq!(kinds(&out), [MessageEvent::MsgReflected]);
    assert!(out.received.is_empty() && out.transmit.is_empty());
    intact(&mut pair, &data);
}

#[test]
fn corrupt_saved_state_is_an_error_never_a_panic() {
    let (pair, _) = pair_with_data(70);
    let saved = pair.alice.save();
    assert!(otr::Endpoint::restore(b"", Config::default()).is_err());
    assert!(otr::Endpoint::restore(b"not a state", Config::default()).is_err());
    // Every truncation and a flipped byte at every 97th position.
    for cut in (0..saved.len()).step_by(13) {
        assert!(otr::Endpoint::restore(&saved[..cut], Config::default()).is_err());
    }
    for at in (0..saved.len()).step_by(97) {
        let mut bad = saved.to_vec();
        bad[at] ^= 0x55;
        let _ = otr::Endpoint::restore(&bad, Config::default());
    }
    assert!(otr::Endpoint::restore(&saved, Config::default()).is_ok());
}

#[test]
fn text_with_a_nul_character_is_refused_when_sending() {
    // OTR separates the text from TLVs with a NUL: a text containing one could smuggle TLVs
    // (such as "disconnected") into the message.
    let (mut pair, data) = pair_with_data(71);
    let err = pair
        .alice
        .send("bob", "hi\0\x00\x01\x00\x00", pair.now, &mut pair.rng)
        .unwrap_err();
    assert_eq!(err, otr::SendError::NulInText);
    assert!(pair.to_bob.queue.is_empty());
    intact(&mut pair, &data);
}
