//! Memory held by an established, idle session (issue 6, done-when 3): at most 4 KiB of heap,
//! and its saved state at most 2 KiB.
//!
//! A counting global allocator (`peak_alloc`) gives the bytes live on the heap. The heap held by
//! a session is measured as the growth of Alice's endpoint when it gains one more peer with an
//! established session: Bob's endpoint and every message are dropped before the second reading,
//! and a first session warms up the process-wide caches (group parameters). The whole file is
//! one test, so no other test thread allocates while it measures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use otr::{Config, Endpoint, InstanceTag, MessageState};
use peak_alloc::PeakAlloc;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const NOW: u64 = 1_700_000_000;
/// The bounds of issue 6.
const MAX_SESSION_HEAP: usize = 4096;
const MAX_SAVED_STATE: usize = 2048;

/// Establishes a session between `alice` and a fresh peer `name`, exchanges `rounds`
/// alternating messages of 100 bytes, and drops the peer. Returns the size of Alice's saved
/// state for that peer.
fn session_with(alice: &mut Endpoint, name: &str, rounds: usize, rng: &mut ChaCha20Rng) -> usize {
    let mut bob = Endpoint::new(
        common::key(1),
        InstanceTag::new(0x2222_2222),
        Config::default(),
    );
    let query: Vec<String> = alice
        .query(name)
        .transmit
        .into_iter()
        .map(|t| t.message)
        .collect();
    common::deliver_all(alice, "alice", &mut bob, name, query, NOW, rng);
    assert_eq!(
        alice.status(name, None).unwrap().message_state,
        MessageState::Encrypted
    );
    let text = "x".repeat(100);
    for i in 0..rounds {
        let (sender, receiver, s, r) = if i % 2 == 0 {
            (&mut *alice, &mut bob, name, "alice")
        } else {
            (&mut bob, &mut *alice, "alice", name)
        };
        let out = sender.send(s, &text, NOW, rng).unwrap();
        for t in out.transmit {
            let got = receiver.receive(r, &t.message, NOW, rng);
            assert_eq!(got.received.len(), 1, "message {i} was not delivered");
        }
    }
    alice.save_peer(name).unwrap().len()
}

struct Measured {
    heap: usize,
    saved: usize,
}

/// The heap one more session holds in Alice's endpoint, and its saved state, after `rounds`
/// messages: the smallest heap growth over four sessions (another thread of the test harness
/// may allocate while one is measured, which only ever adds), and the largest saved state.
fn measure(rounds: usize) -> Measured {
    let mut rng = ChaCha20Rng::seed_from_u64(rounds as u64);
    let mut alice = Endpoint::new(
        common::key(0),
        InstanceTag::new(0x1111_1111),
        Config::default(),
    );
    // Warm-up: process-wide caches, and the first peer's map node.
    session_with(&mut alice, "warm-up", rounds, &mut rng);
    let mut heap = Vec::new();
    let mut saved = 0;
    for i in 0..4 {
        let before = HEAP.current_usage();
        saved = saved.max(session_with(
            &mut alice,
            &format!("peer{i}"),
            rounds,
            &mut rng,
        ));
        heap.push(HEAP.current_usage().saturating_sub(before));
    }
    eprintln!("heap growth per session after {rounds} messages: {heap:?}");
    Measured {
        heap: heap.into_iter().min().unwrap(),
        saved,
    }
}

#[test]
fn an_idle_session_is_small() {
    // Just established, then one message each way: both sides' newest keys are in use and no
    // key pair has been retired yet. This is the state the bounds of issue 6 are about.
    let m = measure(2);
    eprintln!(
        "established, one message each way: {} bytes of heap, {} bytes of saved state",
        m.heap, m.saved
    );
    assert!(
        m.heap <= MAX_SESSION_HEAP,
        "an idle session holds {} bytes of heap, more than {MAX_SESSION_HEAP}",
        m.heap
    );
    assert!(
        m.saved <= MAX_SAVED_STATE,
        "an idle session saves {} bytes, more than {MAX_SAVED_STATE}",
        m.saved
    );

    // After a chat in which every message rotated keys, the email-tolerance window keeps the
    // receiving keys of retired pairs (by default up to 32 pairs for up to 7 days; see
    // `RetentionLimits`): each costs about 120 bytes of heap and 100 bytes of saved state on
    // top of the bounds above. A full window must stay within that.
    const PER_RETAINED_HEAP: usize = 128;
    const PER_RETAINED_SAVED: usize = 112;
    let window = otr::RetentionLimits::default().max_old_key_pairs;
    for rounds in [8, 100] {
        let m = measure(rounds);
        eprintln!(
            "after {rounds} alternating messages: {} bytes of heap, {} bytes of saved state",
            m.heap, m.saved
        );
        assert!(
            m.heap <= MAX_SESSION_HEAP + window * PER_RETAINED_HEAP,
            "{rounds}: {} bytes of heap",
            m.heap
        );
        assert!(
            m.saved <= MAX_SAVED_STATE + window * PER_RETAINED_SAVED,
            "{rounds}: {} bytes saved",
            m.saved
        );
    }
}
