//! Floods and limits (issue 7, "Floods and limits"): fragment floods, oversized messages,
//! thousands of instance tags, a peer that restarts the AKE in a loop, and the error-message
//! loop between two endpoints that require encryption.
//!
//! Every case states a memory bound and a time bound and ends in an asserted state. Memory is
//! measured with a counting global allocator (`peak_alloc`): *peak* is the highest heap use
//! above the level at the start of the measured block, *retained* is what is still allocated at
//! its end (the growth of the endpoint's state). The tests of this binary run one at a time
//! (a lock) so that the counts are their own. Time bounds are generous wall-clock ceilings for
//! the test profile (they show the endpoint stays responsive, not how fast it is); where the
//! work can be counted (replies per input, sessions per peer) the count is asserted exactly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{Pair, Side};
use otr::wire::{Body, Message, ProtocolVersion};
use otr::{Config, Event, InstanceTag, MessageEvent, MessageState, Policy};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// One test at a time: the allocator's counts are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// What a measured block cost.
#[derive(Debug)]
struct Usage {
    /// Highest heap use above the starting level, bytes.
    peak: usize,
    /// Heap still allocated at the end above the starting level, bytes (may be negative).
    retained: isize,
    /// Wall-clock time.
    elapsed: Duration,
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let start = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let t0 = Instant::now();
    let value = f();
    let elapsed = t0.elapsed();
    let usage = Usage {
        peak: HEAP.peak_usage().saturating_sub(start),
        retained: HEAP.current_usage() as isize - start as isize,
        elapsed,
    };
    eprintln!("{usage:?}");
    (value, usage)
}

fn count(events: &[Event], kind: MessageEvent) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Message { kind: k, .. } if *k == kind))
        .count()
}

/// A v3 fragment as the spec spells it.
fn fragment(sender: u32, receiver: InstanceTag, k: u16, n: u16, piece: &str) -> String {
    format!(
        "?OTR|{sender:08x}|{:08x},{k:05},{n:05},{piece},",
        receiver.value()
    )
}

/// The pair after an AKE, with the default configuration.
fn encrypted(seed: u64, config: Config) -> Pair {
    let mut pair = Pair::new(seed, config);
    pair.encrypted();
    pair
}

/// Alice and Bob still talk in both directions.
fn still_talking(pair: &mut Pair, tag: &str) {
    let before = (pair.texts(Side::Alice).len(), pair.texts(Side::Bob).len());
    pair.send(Side::Alice, &format!("{tag}: alice"));
    pair.send(Side::Bob, &format!("{tag}: bob"));
    pair.run();
    assert_eq!(pair.state(Side::Alice), MessageState::Encrypted);
    assert_eq!(pair.state(Side::Bob), MessageState::Encrypted);
    assert_eq!(pair.texts(Side::Bob)[before.1..], [format!("{tag}: alice")]);
    assert_eq!(pair.texts(Side::Alice)[before.0..], [format!("{tag}: bob")]);
}

/// 20,000 first fragments of partial messages with 1,000 different `n` from 10,000 sender
/// instance tags, 900 bytes each (18 MB in all): Bob buffers at most the configured 1 MiB
/// (`ReassemblyLimits::max_total_bytes`) plus bookkeeping, answers nothing, shows nothing,
/// and a real fragmented message from Alice still arrives afterwards.
#[test]
fn fragment_flood_of_partial_messages_stays_within_the_reassembly_limit() {
    let _serial = serial();
    let config = Config {
        max_message_size: 400,
        ..Config::default()
    };
    let mut pair = encrypted(40, config);
    let bob_tag = pair.bob.instance_tag();
    let piece = "A".repeat(900);
    let (replies, usage) = measure(|| {
        let mut replies = 0;
        for i in 0..20_000u32 {
            let sender = 0x1000_0000 + i % 10_000;
            let n = 2 + (i % 1000) as u16;
            let f = fragment(sender, bob_tag, 1, n, &piece);
            let out = pair.bob.receive("alice", &f, pair.now, &mut pair.rng);
            replies += out.transmit.len() + out.received.len();
        }
        replies
    });
    assert_eq!(replies, 0);
    let limit = otr::fragment::ReassemblyLimits::default().max_total_bytes;
    assert!(
        usage.retained < (limit + limit / 2) as isize,
        "retained {} bytes",
        usage.retained
    );
    assert!(usage.peak < 2 * limit, "peak {} bytes", usage.peak);
    assert!(usage.elapsed < Duration::from_secs(10), "{usage:?}");
    still_talking(&mut pair, "after the fragment flood");
}

/// Fragments announcing `n` = 65,535 (and every `k`) are refused before anything is buffered
/// (`ReassemblyLimits::max_fragments` = 1024): nothing is allocated in proportion to `n` (the
/// CVE-2016-2851 lesson), each is reported as malformed.
#[test]
fn fragments_with_a_huge_count_are_refused_without_buffering() {
    let _serial = serial();
    let mut pair = encrypted(41, Config::default());
    let bob_tag = pair.bob.instance_tag();
    let alice_tag = pair.alice.instance_tag().value();
    let ((malformed, replies), usage) = measure(|| {
        let (mut malformed, mut replies) = (0, 0);
        for k in 1..=10_000u16 {
            let f = fragment(alice_tag, bob_tag, k, u16::MAX, "AAAA");
            let out = pair.bob.receive("alice", &f, pair.now, &mut pair.rng);
            malformed += count(&out.events, MessageEvent::ReceivedMalformed);
            replies += out.transmit.len() + out.received.len();
        }
        (malformed, replies)
    });
    assert_eq!(malformed, 10_000);
    assert_eq!(replies, 0);
    assert!(usage.retained < (16 * KIB) as isize, "{usage:?}");
    assert!(usage.peak < 64 * KIB, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(10), "{usage:?}");
    still_talking(&mut pair, "after fragments with a huge n");
}

/// Oversized input, 10 MiB each: an armored message (refused by its announced size before
/// decoding, `wire::MAX_ENCODED_LEN` = 1 MiB), a single 10 MiB fragment and a 10 MiB message
/// in 1,000 fragments (refused by `max_total_bytes`, the partial dropped), and a data message
/// whose ciphertext is over the limit (refused; a data message that large never decrypts).
/// Peak heap stays under four times the input (a fragment is copied while it is parsed),
/// retained heap under what the reassembler may buffer, each is reported as malformed, and
/// the session goes on.
#[test]
fn oversized_messages_are_refused_with_bounded_memory() {
    let _serial = serial();
    let mut pair = encrypted(42, Config::default());
    let bob_tag = pair.bob.instance_tag();
    let alice_tag = pair.alice.instance_tag().value();
    let size = 10 * MIB;
    let armored = format!("?OTR:{}.", "A".repeat(size));
    let single = fragment(alice_tag, bob_tag, 1, 2, &"A".repeat(size));
    let pieces: Vec<String> = (1..=1000u16)
        .map(|k| fragment(alice_tag, bob_tag, k, 1000, &"B".repeat(size / 1000)))
        .collect();
    // Alice's own 10 MiB text: she can send it, Bob refuses it unread.
    let big_text = "x".repeat(size);
    let out = pair
        .alice
        .send("bob", &big_text, pair.now, &mut pair.rng)
        .unwrap();
    let big_data = out.transmit[0].message.clone();
    assert!(big_data.len() > size);
    drop(big_text);
    let mut results = Vec::new();
    for (name, inputs) in [
        ("armored", vec![armored]),
        ("one fragment", vec![single]),
        ("1000 fragments", pieces),
        ("data message", vec![big_data]),
    ] {
        let (malformed, usage) = measure(|| {
            let mut malformed = 0;
            for m in &inputs {
                let out = pair.bob.receive("alice", m, pair.now, &mut pair.rng);
                assert!(out.transmit.is_empty() && out.received.is_empty(), "{name}");
                malformed += count(&out.events, MessageEvent::ReceivedMalformed);
            }
            malformed
        });
        assert!(malformed >= 1, "{name}: not reported");
        assert!(usage.peak < 4 * size, "{name}: {usage:?}");
        // At most what the reassembler may buffer (pieces of a partial under the limit).
        let limit = otr::fragment::ReassemblyLimits::default().max_total_bytes;
        assert!(
            usage.retained < (limit + 64 * KIB) as isize,
            "{name}: {usage:?}"
        );
        assert!(usage.elapsed < Duration::from_secs(10), "{name}: {usage:?}");
        results.push(name);
    }
    assert_eq!(results.len(), 4);
    still_talking(&mut pair, "after oversized messages");
}

/// Rewrites the sender instance tag of an encoded message.
fn with_sender(message: &str, sender: u32) -> String {
    match Message::parse(message).unwrap() {
        Message::Encoded { mut encoded, .. } => {
            encoded.sender_instance = InstanceTag::new(sender);
            encoded.to_armored()
        }
        other => panic!("not encoded: {other:?}"),
    }
}

/// 10,000 D-H Commits and 10,000 data messages from 10,000 different sender instance tags of
/// one peer: at most `Config::max_instances_per_peer` (64) sessions are created (each answered
/// once: a D-H Key, or an error message for data it cannot read), the rest is refused as malformed, retained heap
/// stays under 2 MiB, and the established session is untouched.
#[test]
fn thousands_of_instance_tags_create_a_bounded_number_of_sessions() {
    let _serial = serial();
    let mut pair = encrypted(43, Config::default());
    let max = Config::default().max_instances_per_peer;
    // A D-H Commit to "any instance" and a data message, to be sent from many tags.
    let mut mallory = common::endpoint(2, 0x4444_4444, Config::default());
    let commit = mallory
        .start_ake("bob", None, ProtocolVersion::V3, pair.now, &mut pair.rng)
        .transmit[0]
        .message
        .clone();
    pair.send(Side::Alice, "a data message");
    let data = pair.to_bob.queue.pop().unwrap();
    let ((replies, malformed), usage) = measure(|| {
        let (mut replies, mut malformed) = (0, 0);
        for i in 0..10_000u32 {
            let tag = 0x5000_0000 + i;
            for m in [with_sender(&commit, tag), with_sender(&data, tag)] {
                let out = pair.bob.receive("alice", &m, pair.now, &mut pair.rng);
                assert!(out.received.is_empty());
                replies += out.transmit.len();
                malformed += count(&out.events, MessageEvent::ReceivedMalformed);
            }
        }
        (replies, malformed)
    });
    let instances = pair.bob.instances("alice");
    assert_eq!(instances.len(), max, "sessions per peer are capped");
    // Alice's session holds one slot; each other slot answered its commit and its data once.
    assert_eq!(replies, 2 * (max - 1));
    assert_eq!(malformed, 2 * (10_000 - (max - 1)));
    assert!(usage.retained < (2 * MIB) as isize, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(30), "{usage:?}");
    still_talking(&mut pair, "after 10,000 instance tags");
}

/// A peer (with its real key) that runs a complete new AKE 100 times over an encrypted
/// session, then sends 1,000 D-H Commits that it never follows up: every completed AKE is
/// reported as still secure, each commit costs exactly one reply (a D-H Key, or Bob's own
/// commit under the spec's collision rule), Bob's heap does not grow with the number of
/// restarts (retained under 64 KiB from the 10th to the 100th, the harness's event log
/// included), and the session works at the end.
#[test]
fn a_peer_restarting_the_ake_in_a_loop_costs_bounded_memory_and_one_reply_each() {
    let _serial = serial();
    let mut pair = encrypted(44, Config::default());
    let bob_tag = pair.bob.instance_tag();
    let alice_tag = pair.alice.instance_tag();
    let restart = |pair: &mut Pair| {
        let out = pair.alice.start_ake(
            "bob",
            Some(bob_tag),
            ProtocolVersion::V3,
            pair.now,
            &mut pair.rng,
        );
        pair.absorb(Side::Alice, out);
        pair.run();
    };
    for _ in 0..10 {
        restart(&mut pair);
    }
    let ((), usage) = measure(|| {
        for _ in 10..100 {
            restart(&mut pair);
        }
    });
    let still = pair
        .bob_events
        .iter()
        .filter(|e| matches!(e, Event::StillSecure { .. }))
        .count();
    assert_eq!(still, 100);
    assert!(usage.retained < (64 * KIB) as isize, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(60), "{usage:?}");
    still_talking(&mut pair, "after 100 AKEs");

    // Commits that never go on, from Alice's instance (anyone can make a D-H Commit).
    let mut mallory = common::endpoint(2, alice_tag.value(), Config::default());
    let commits: Vec<String> = (0..1000)
        .map(|_| {
            mallory
                .start_ake(
                    "bob",
                    Some(bob_tag),
                    ProtocolVersion::V3,
                    pair.now,
                    &mut pair.rng,
                )
                .transmit[0]
                .message
                .clone()
        })
        .collect();
    let (replies, usage) = measure(|| {
        let mut replies = 0;
        for c in &commits {
            let out = pair.bob.receive("alice", c, pair.now, &mut pair.rng);
            for t in &out.transmit {
                match Message::parse(&t.message).unwrap() {
                    Message::Encoded { encoded, .. } => {
                        // A D-H Key, or Bob's own pending D-H Commit again when the spec's
                        // collision rule keeps Bob's (its hash of g^x is larger).
                        let body = describe(&t.message);
                        assert!(
                            matches!(encoded.body, Body::DhKey(_) | Body::DhCommit(_)),
                            "{body}"
                        );
                    }
                    other => panic!("{other:?}"),
                }
            }
            replies += out.transmit.len();
        }
        replies
    });
    assert_eq!(replies, 1000, "one reply per commit");
    assert!(usage.retained < (64 * KIB) as isize, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(60), "{usage:?}");
    assert_eq!(
        pair.bob
            .status("alice", Some(alice_tag))
            .unwrap()
            .message_state,
        MessageState::Encrypted
    );
    // Bob's pending AKE (from the last commit) does not stop Alice's messages.
    still_talking(&mut pair, "after 1,000 dangling commits");
}

/// Delivers everything until both channels are empty or `limit` messages moved; returns how
/// many moved. `tamper` may change each message in transit.
fn run_counting(pair: &mut Pair, limit: usize, tamper: &mut dyn FnMut(&str) -> String) -> usize {
    let mut moved = 0;
    while moved < limit {
        if let Some(m) = (!pair.to_bob.queue.is_empty()).then(|| pair.to_bob.queue.remove(0)) {
            let m = tamper(&m);
            pair.deliver(Side::Bob, &m);
        } else if let Some(m) =
            (!pair.to_alice.queue.is_empty()).then(|| pair.to_alice.queue.remove(0))
        {
            let m = tamper(&m);
            pair.deliver(Side::Alice, &m);
        } else {
            break;
        }
        moved += 1;
    }
    moved
}

/// Flips a base-64 character in the middle of every data message (a channel that breaks
/// every encrypted message), leaving the AKE alone.
fn break_data(m: &str) -> String {
    match Message::parse(m) {
        Ok(Message::Encoded { encoded, .. }) if matches!(encoded.body, Body::Data(_)) => {
            let mut m = m.to_owned();
            let mid = m.len() / 2;
            let c = if &m[mid..=mid] == "A" { "B" } else { "A" };
            m.replace_range(mid..=mid, c);
            m
        }
        _ => m.to_owned(),
    }
}

/// The error-message loop (a known OTR client bug): two endpoints with REQUIRE_ENCRYPTION and
/// ERROR_START_AKE (libotr's "always") that each answer an unreadable message with an OTR error,
/// and an error with a query. Three ways to provoke it, each must go quiet within a bounded
/// number of messages:
///
/// 1. Bob lost his session (a fresh endpoint): Alice's message is answered with an error,
///    Alice re-keys and resends it once: delivered exactly once.
/// 2. Bob ended the session without telling Alice, and both write at the same time: two AKEs
///    cross; each message arrives at most once, and one that could not be read even after its
///    single resend is reported to its sender (the peer's OTR error).
/// 3. A channel that breaks every data message: errors, re-keying and one resend, then silence
///    (an error is never answered by an error, and a message is resent at most once).
#[test]
fn two_endpoints_requiring_encryption_do_not_ping_pong_errors() {
    let _serial = serial();
    let config = Config {
        policy: Policy::ALWAYS,
        ..Config::default()
    };
    assert!(config.policy.contains(Policy::REQUIRE_ENCRYPTION));
    assert!(config.policy.contains(Policy::ERROR_START_AKE));

    // 1. Bob forgot everything.
    let mut pair = encrypted(45, config.clone());
    pair.bob = common::endpoint(1, 0x2222_2222, config.clone());
    pair.send(Side::Alice, "did you get this?");
    let moved = run_counting(&mut pair, 1000, &mut |m| m.to_owned());
    assert!(moved <= 12, "{moved} messages");
    assert_eq!(pair.texts(Side::Bob), ["did you get this?"]);
    assert_eq!(pair.state(Side::Alice), MessageState::Encrypted);
    assert_eq!(pair.state(Side::Bob), MessageState::Encrypted);

    // 2. Both sides went back to an older save and write at once.
    let mut pair = encrypted(46, config.clone());
    let (old_a, old_b) = (pair.alice.save(), pair.bob.save());
    still_talking(&mut pair, "before the stale restore");
    pair.alice = otr::Endpoint::restore(&old_a, config.clone()).unwrap();
    pair.bob = otr::Endpoint::restore(&old_b, config.clone()).unwrap();
    // Their keys still match (same save point): re-key first so that they do not.
    let out = pair.bob.disconnect("alice", None, pair.now);
    drop(out); // Alice never hears of it.
    pair.alice_got.clear();
    pair.bob_got.clear();
    pair.send(Side::Alice, "from alice");
    pair.send(Side::Bob, "from bob");
    let moved = run_counting(&mut pair, 1000, &mut |m| {
        eprintln!("{}", describe(m));
        m.to_owned()
    });
    // Observed: 21 messages, three AKEs (one per error and one per query).
    assert!(moved <= 30, "{moved} messages");
    assert_eq!(pair.state(Side::Alice), MessageState::Encrypted);
    assert_eq!(pair.state(Side::Bob), MessageState::Encrypted);
    // Each message arrives at most once. A message is resent at most once (the stored copy is
    // consumed when an AKE completes: that is what ends the loop); if the resend crossed an
    // AKE and could not be read either, its sender is shown the peer's error.
    for (to, from, text) in [
        (Side::Bob, Side::Alice, "from alice"),
        (Side::Alice, Side::Bob, "from bob"),
    ] {
        let got = pair.texts(to);
        let sender_events = match from {
            Side::Alice => &pair.alice_events,
            Side::Bob => &pair.bob_events,
        };
        assert!(
            got == [text]
                || (got.is_empty() && count(sender_events, MessageEvent::ReceivedGeneralError) > 0),
            "{text}: {got:?}"
        );
    }

    // 3. Every data message is broken in transit.
    let mut pair = encrypted(47, config.clone());
    let ((), usage) = measure(|| {
        pair.send(Side::Alice, "never readable");
        let moved = run_counting(&mut pair, 1000, &mut break_data);
        assert!(moved <= 20, "{moved} messages");
    });
    assert!(pair.to_alice.queue.is_empty() && pair.to_bob.queue.is_empty());
    assert!(pair.texts(Side::Bob).is_empty());
    assert!(count(&pair.bob_events, MessageEvent::ReceivedUnreadable) <= 2);
    assert!(usage.elapsed < Duration::from_secs(10), "{usage:?}");
    assert!(usage.retained < (64 * KIB) as isize, "{usage:?}");
}

fn describe(m: &str) -> String {
    match Message::parse(m) {
        Ok(Message::Encoded { encoded, .. }) => format!(
            "{:x}->{:x} {}",
            encoded.sender_instance.value(),
            encoded.receiver_instance.value(),
            match encoded.body {
                Body::DhCommit(_) => "commit",
                Body::DhKey(_) => "dhkey",
                Body::RevealSignature(_) => "reveal",
                Body::Signature(_) => "sig",
                Body::Data(_) => "data",
            }
        ),
        Ok(other) => format!("{other:?}").chars().take(60).collect(),
        Err(e) => e.to_string(),
    }
}
