//! The data path keeps derived keys and MAC states per session (issue 6): sessions used
//! alternately, in one endpoint or in several, and sessions on different threads each
//! decrypt and authenticate correctly, and a session restored from its saved state goes on
//! where it left off.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use otr::{Config, Endpoint, InstanceTag, MessageState, ReceivedKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: u64 = 1_700_000_000;

/// Runs the AKE between `a` (named `a_name` at `b`) and `b` (named `b_name` at `a`).
fn establish(
    a: &mut Endpoint,
    a_name: &str,
    b: &mut Endpoint,
    b_name: &str,
    rng: &mut ChaCha20Rng,
) {
    let query: Vec<String> = a
        .query(b_name)
        .transmit
        .into_iter()
        .map(|t| t.message)
        .collect();
    common::deliver_all(a, a_name, b, b_name, query, NOW, rng);
    assert_eq!(
        a.status(b_name, None).unwrap().message_state,
        MessageState::Encrypted
    );
    assert_eq!(
        b.status(a_name, None).unwrap().message_state,
        MessageState::Encrypted
    );
}

fn endpoint(key: usize, tag: u32) -> Endpoint {
    Endpoint::new(common::key(key), InstanceTag::new(tag), Config::default())
}

/// A text that differs per sender, receiver and message, of a length that varies too.
fn text(who: &str, i: usize) -> String {
    let len = [1usize, 100, 0, 250, 100, 4000][i % 6];
    let mut t = format!("{who} #{i}:");
    t.extend((0..len).map(|j| char::from(b'a' + ((i + j) % 26) as u8)));
    t
}

/// Sends one message from `sender` to `peer` and delivers it to `receiver` (which knows the
/// sender as `sender_name`); asserts that exactly that text arrives, encrypted, and returns
/// the wire messages.
fn one(
    sender: &mut Endpoint,
    peer: &str,
    receiver: &mut Endpoint,
    sender_name: &str,
    text: &str,
    rng: &mut ChaCha20Rng,
) -> Vec<String> {
    let out = sender.send(peer, text, NOW, rng).unwrap();
    let wire: Vec<String> = out.transmit.into_iter().map(|t| t.message).collect();
    assert!(!wire.is_empty());
    let mut got = Vec::new();
    for m in &wire {
        let r = receiver.receive(sender_name, m, NOW, rng);
        assert!(r.transmit.is_empty(), "unexpected answer: {:?}", r.transmit);
        got.extend(r.received);
    }
    assert_eq!(got.len(), 1, "{text:?} was not delivered exactly once");
    assert_eq!(got[0].kind, ReceivedKind::Encrypted);
    assert_eq!(got[0].text, text);
    wire
}

/// Two separate endpoint pairs used in turn, in both directions (A1->B1, A2->B2, B1->A1,
/// B2->A2, ...), with one-way runs in between: every message decrypts and verifies, a message
/// of one session is refused by the other, and a replay is refused after the other session
/// has been used.
#[test]
fn two_endpoint_pairs_used_alternately() {
    let mut rng = ChaCha20Rng::seed_from_u64(61);
    let (mut a1, mut b1) = (endpoint(0, 0x1111_0001), endpoint(1, 0x2222_0001));
    let (mut a2, mut b2) = (endpoint(2, 0x1111_0002), endpoint(3, 0x2222_0002));
    establish(&mut a1, "a", &mut b1, "b", &mut rng);
    establish(&mut a2, "a", &mut b2, "b", &mut rng);
    let mut last_a1 = Vec::new();
    for i in 0..60 {
        // Both directions in turn for a while (keys rotate), then runs of one-way messages
        // (the kept prefix states are hit), always switching sessions between messages.
        let back = i < 20 && i % 2 == 1;
        if back {
            one(&mut b1, "a", &mut a1, "b", &text("b1", i), &mut rng);
            one(&mut b2, "a", &mut a2, "b", &text("b2", i), &mut rng);
        } else {
            last_a1 = one(&mut a1, "b", &mut b1, "a", &text("a1", i), &mut rng);
            one(&mut a2, "b", &mut b2, "a", &text("a2", i), &mut rng);
        }
    }
    // A message of session 1 replayed after session 2 was used: refused.
    for m in &last_a1 {
        assert!(b1.receive("a", m, NOW, &mut rng).received.is_empty());
    }
    // A message of session 1 given to session 2 (same names, other keys): not delivered.
    let stray = a1.send("b", "for b1 only", NOW, &mut rng).unwrap();
    for t in &stray.transmit {
        assert!(
            b2.receive("a", &t.message, NOW, &mut rng)
                .received
                .is_empty()
        );
    }
    // Both sessions still work afterwards.
    one(&mut a1, "b", &mut b1, "a", "after 1", &mut rng);
    one(&mut a2, "b", &mut b2, "a", "after 2", &mut rng);
    one(&mut b2, "a", &mut a2, "b", "back 2", &mut rng);
    one(&mut b1, "a", &mut a1, "b", "back 1", &mut rng);
}

/// One endpoint with two sessions (Alice with Bob and with Carol), used in turn: the sessions
/// of one endpoint keep their states apart too.
#[test]
fn one_endpoint_two_sessions_used_alternately() {
    let mut rng = ChaCha20Rng::seed_from_u64(62);
    let mut alice = endpoint(0, 0x1111_0003);
    let mut bob = endpoint(1, 0x2222_0003);
    let mut carol = endpoint(2, 0x3333_0003);
    establish(&mut alice, "alice", &mut bob, "bob", &mut rng);
    establish(&mut alice, "alice", &mut carol, "carol", &mut rng);
    for i in 0..40 {
        one(
            &mut alice,
            "bob",
            &mut bob,
            "alice",
            &text("to bob", i),
            &mut rng,
        );
        one(
            &mut alice,
            "carol",
            &mut carol,
            "alice",
            &text("to carol", i),
            &mut rng,
        );
        if i % 3 == 0 {
            one(
                &mut bob,
                "alice",
                &mut alice,
                "bob",
                &text("from bob", i),
                &mut rng,
            );
        }
        one(
            &mut carol,
            "alice",
            &mut alice,
            "carol",
            &text("from carol", i),
            &mut rng,
        );
    }
}

/// Two threads, each with its own pair of endpoints, exchanging messages at the same time.
#[test]
fn two_threads_each_with_its_own_pair() {
    let run = |seed: u64, keys: (usize, usize)| {
        move || {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut a = endpoint(keys.0, 0x1111_0000 + seed as u32);
            let mut b = endpoint(keys.1, 0x2222_0000 + seed as u32);
            establish(&mut a, "a", &mut b, "b", &mut rng);
            for i in 0..300 {
                one(
                    &mut a,
                    "b",
                    &mut b,
                    "a",
                    &text(&format!("t{seed}"), i),
                    &mut rng,
                );
                if i % 50 == 49 {
                    one(&mut b, "a", &mut a, "b", &text("back", i), &mut rng);
                }
            }
        }
    };
    let first = std::thread::spawn(run(1, (0, 1)));
    let second = std::thread::spawn(run(2, (2, 3)));
    first.join().unwrap();
    second.join().unwrap();
}

/// A session saved after messages (so with kept states) and restored into a fresh endpoint
/// derives its keyed MAC keys again and goes on in both directions.
#[test]
fn a_restored_session_goes_on() {
    let mut rng = ChaCha20Rng::seed_from_u64(63);
    let (mut a, mut b) = (endpoint(0, 0x1111_0004), endpoint(1, 0x2222_0004));
    establish(&mut a, "a", &mut b, "b", &mut rng);
    for i in 0..5 {
        one(&mut a, "b", &mut b, "a", &text("a", i), &mut rng);
        one(&mut b, "a", &mut a, "b", &text("b", i), &mut rng);
    }
    one(&mut a, "b", &mut b, "a", "kept", &mut rng);
    let saved_a = a.save_peer("b").unwrap();
    let saved_b = b.save_peer("a").unwrap();
    let mut a2 = endpoint(0, 0x1111_0004);
    a2.restore_peer("b", &saved_a).unwrap();
    let mut b2 = endpoint(1, 0x2222_0004);
    b2.restore_peer("a", &saved_b).unwrap();
    for i in 0..5 {
        one(&mut a2, "b", &mut b2, "a", &text("a2", i), &mut rng);
        one(&mut a2, "b", &mut b2, "a", &text("a2 again", i), &mut rng);
        one(&mut b2, "a", &mut a2, "b", &text("b2", i), &mut rng);
    }
}
