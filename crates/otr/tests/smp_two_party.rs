//! The Socialist Millionaires' Protocol between two of our endpoints (the `Pair` harness of
//! `common`): the cases of `libotr_smp.rs`, and what only we can do (save and restore in the
//! middle of a run, crafted messages, duplicated and reordered delivery).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Pair, Side};
use otr::smp::{InvalidSmpMessage, MAX_QUESTION_LEN, SmpError};
use otr::tlv::{SMP_ABORT, SMP1, SMP1Q, SMP3, Tlv};
use otr::{
    Config, Endpoint, Event, InstanceTag, MessageEvent, MessageState, Policy, SmpEventKind,
    SmpRequestError,
};

const DOG: &str = "Wie heißt der Hund? 🐕";

fn peer_of(side: Side) -> &'static str {
    match side {
        Side::Alice => "bob",
        Side::Bob => "alice",
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Alice => Side::Bob,
        Side::Bob => Side::Alice,
    }
}

fn endpoint(p: &mut Pair, side: Side) -> &mut Endpoint {
    match side {
        Side::Alice => &mut p.alice,
        Side::Bob => &mut p.bob,
    }
}

fn events(p: &Pair, side: Side) -> &[Event] {
    match side {
        Side::Alice => &p.alice_events,
        Side::Bob => &p.bob_events,
    }
}

/// SMP events of `side`: (kind, progress, question).
fn smp(p: &Pair, side: Side) -> Vec<(SmpEventKind, u8, Option<String>)> {
    events(p, side)
        .iter()
        .filter_map(|e| match e {
            Event::Smp {
                peer,
                event,
                progress,
                question,
                ..
            } => {
                assert_eq!(peer, peer_of(side));
                Some((event.clone(), *progress, question.clone()))
            }
            _ => None,
        })
        .collect()
}

fn kinds(p: &Pair, side: Side) -> Vec<&'static str> {
    smp(p, side).iter().map(|(k, _, _)| k.name()).collect()
}

fn clear(p: &mut Pair) {
    p.alice_events.clear();
    p.bob_events.clear();
}

fn start(p: &mut Pair, side: Side, secret: &str, question: Option<&str>) {
    let (now, peer) = (p.now, peer_of(side));
    let mut rng = p.rng.clone();
    let out = endpoint(p, side)
        .smp_start(peer, None, secret.as_bytes(), question, now, &mut rng)
        .unwrap();
    p.rng = rng;
    p.absorb(side, out);
}

fn respond(p: &mut Pair, side: Side, secret: &str) {
    let (now, peer) = (p.now, peer_of(side));
    let mut rng = p.rng.clone();
    let out = endpoint(p, side)
        .smp_respond(peer, None, secret.as_bytes(), now, &mut rng)
        .unwrap();
    p.rng = rng;
    p.absorb(side, out);
}

fn abort(p: &mut Pair, side: Side) {
    let (now, peer) = (p.now, peer_of(side));
    let out = endpoint(p, side).smp_abort(peer, None, now).unwrap();
    p.absorb(side, out);
}

fn status(p: &mut Pair, side: Side) -> otr::SmpStatus {
    let peer = peer_of(side);
    endpoint(p, side).status(peer, None).unwrap().smp
}

fn expecting(p: &mut Pair) -> (u8, u8) {
    (
        status(p, Side::Alice).expecting,
        status(p, Side::Bob).expecting,
    )
}

/// The trust `side` records for the other side's key ("" untrusted).
fn trust(p: &mut Pair, side: Side) -> String {
    let peer = peer_of(side);
    let e = endpoint(p, side);
    let fp = e.status(peer, None).unwrap().their_fingerprint.unwrap();
    e.trust(peer, &fp).unwrap().to_owned()
}

fn trusts(p: &mut Pair) -> (String, String) {
    (trust(p, Side::Alice), trust(p, Side::Bob))
}

/// A full run: `asker` starts with `secret`, the other answers `answer`.
fn run(p: &mut Pair, asker: Side, secret: &str, answer: &str, question: Option<&str>) {
    clear(p);
    let answerer = other(asker);
    start(p, asker, secret, question);
    assert_eq!(status(p, asker).expecting, 2);
    assert_eq!(status(p, asker).progress, 20);
    p.run();
    let asked = status(p, answerer);
    assert!(asked.awaiting_secret);
    assert_eq!(asked.question.as_deref(), question);
    assert_eq!((asked.expecting, asked.libotr_next_expected), (1, 0));
    respond(p, answerer, answer);
    assert_eq!(status(p, answerer).libotr_next_expected, 2);
    p.run();
    assert_eq!(expecting(p), (1, 1));
}

fn outcome(p: &Pair, asker: Side, kind: &SmpEventKind, question: Option<&str>) {
    let asked = match question {
        None => (SmpEventKind::AskForSecret, 25, None),
        Some(q) => (SmpEventKind::AskForAnswer, 25, Some(q.to_owned())),
    };
    assert_eq!(
        smp(p, asker),
        [
            (SmpEventKind::InProgress, 60, None),
            (kind.clone(), 100, None)
        ]
    );
    assert_eq!(smp(p, other(asker)), [asked, (kind.clone(), 100, None)]);
}

fn paired(seed: u64) -> Pair {
    let mut p = Pair::new(seed, Config::default());
    p.encrypted();
    p
}

// ---------------------------------------------------------------------------------------------
// Outcomes, questions, trust
// ---------------------------------------------------------------------------------------------

#[test]
fn both_roles_matching_and_different_secrets() {
    let mut p = paired(1);
    assert_eq!(trusts(&mut p), (String::new(), String::new()));
    run(&mut p, Side::Alice, "correct horse", "correct horse", None);
    outcome(&p, Side::Alice, &SmpEventKind::Success, None);
    assert_eq!(trusts(&mut p), ("smp".into(), "smp".into()));

    run(&mut p, Side::Bob, "correct horse", "Correct horse", None);
    outcome(&p, Side::Bob, &SmpEventKind::Failure, None);
    assert_eq!(trusts(&mut p), (String::new(), String::new()));

    run(&mut p, Side::Bob, "x", "x", None);
    outcome(&p, Side::Bob, &SmpEventKind::Success, None);
    run(&mut p, Side::Alice, "x", "y", None);
    outcome(&p, Side::Alice, &SmpEventKind::Failure, None);
}

#[test]
fn question_arrives_intact_and_only_the_asker_records_trust() {
    let mut p = paired(2);
    for side in [Side::Alice, Side::Bob] {
        let peer = peer_of(side);
        let e = endpoint(&mut p, side);
        let fp = e.status(peer, None).unwrap().their_fingerprint.unwrap();
        e.set_trust(peer, fp, "verified");
    }
    run(&mut p, Side::Alice, "Bello", "Bello", Some(DOG));
    outcome(&p, Side::Alice, &SmpEventKind::Success, Some(DOG));
    assert_eq!(trusts(&mut p), ("smp".into(), "verified".into()));

    run(&mut p, Side::Alice, "Bello", "Rex", Some(DOG));
    outcome(&p, Side::Alice, &SmpEventKind::Failure, Some(DOG));
    assert_eq!(trusts(&mut p), (String::new(), "verified".into()));

    let long = "é".repeat(MAX_QUESTION_LEN / 2);
    run(&mut p, Side::Bob, "s", "s", Some(&long));
    outcome(&p, Side::Bob, &SmpEventKind::Success, Some(&long));
    assert_eq!(trusts(&mut p), (String::new(), "smp".into()));
}

#[test]
fn requests_the_endpoint_refuses() {
    let mut p = Pair::new(3, Config::default());
    let (now, mut rng) = (p.now, p.rng.clone());
    // No session at all, and a plaintext one.
    assert_eq!(
        p.alice
            .smp_start("bob", None, b"s", None, now, &mut rng)
            .unwrap_err(),
        SmpRequestError::NotEncrypted(InstanceTag::ZERO)
    );
    let _ = p.alice.send("bob", "hi", now, &mut rng).unwrap();
    assert_eq!(
        p.alice.smp_abort("bob", None, now).unwrap_err(),
        SmpRequestError::NotEncrypted(InstanceTag::ZERO)
    );
    p.encrypted();
    let bob_tag = p.alice.instances("bob")[0];
    assert_eq!(
        p.alice
            .smp_start(
                "bob",
                Some(InstanceTag::new(0x999)),
                b"s",
                None,
                now,
                &mut rng
            )
            .unwrap_err(),
        SmpRequestError::NotEncrypted(InstanceTag::new(0x999))
    );
    // Nothing to answer.
    assert_eq!(
        p.alice
            .smp_respond("bob", None, b"s", now, &mut rng)
            .unwrap_err(),
        SmpRequestError::Smp(SmpError::NotAwaitingSecret { expecting: 1 })
    );
    // Bad questions: refused, nothing sent, nothing started.
    assert_eq!(
        p.alice
            .smp_start("bob", Some(bob_tag), b"s", Some("a\0b"), now, &mut rng)
            .unwrap_err(),
        SmpRequestError::Smp(SmpError::QuestionContainsNul)
    );
    let long = "q".repeat(MAX_QUESTION_LEN + 1);
    assert!(matches!(
        p.alice
            .smp_start("bob", None, b"s", Some(&long), now, &mut rng)
            .unwrap_err(),
        SmpRequestError::Smp(SmpError::QuestionTooLong { .. })
    ));
    assert_eq!(expecting(&mut p), (1, 1));
    // Asking twice: the second request replaces the first.
    start(&mut p, Side::Alice, "one", None);
    start(&mut p, Side::Alice, "two", Some("?"));
    p.run();
    assert_eq!(
        kinds(&p, Side::Bob),
        ["ASK_FOR_SECRET", "ABORT", "ASK_FOR_ANSWER"]
    );
    // The Bob side asked meanwhile refuses to answer twice.
    respond(&mut p, Side::Bob, "two");
    assert!(matches!(
        p.bob.smp_respond("alice", None, b"two", now, &mut rng),
        Err(SmpRequestError::Smp(SmpError::NotAwaitingSecret {
            expecting: 3
        }))
    ));
    p.run();
    assert_eq!(kinds(&p, Side::Alice).last(), Some(&"SUCCESS"));
}

#[test]
fn smp_in_an_otr_v2_session() {
    let config = Config {
        policy: Policy::ALLOW_V2,
        ..Config::default()
    };
    let mut p = Pair::new(4, config);
    p.encrypted();
    assert_eq!(p.alice.status("bob", None).unwrap().version, Some(2));
    run(&mut p, Side::Bob, "v2", "v2", Some(DOG));
    let kinds: Vec<_> = smp(&p, Side::Bob).into_iter().map(|e| e.0).collect();
    assert_eq!(kinds, [SmpEventKind::InProgress, SmpEventKind::Success]);
    // v2 sessions have no instance tags: the events name instance 0.
    assert!(p.alice_events.iter().any(|e| matches!(
        e,
        Event::Smp {
            instance: InstanceTag::ZERO,
            event: SmpEventKind::Success,
            ..
        }
    )));
}

// ---------------------------------------------------------------------------------------------
// Aborts
// ---------------------------------------------------------------------------------------------

#[test]
fn an_abort_from_either_side_at_every_step_is_seen_by_both() {
    let mut p = paired(5);
    // (steps taken before the abort, who aborts). Before Bob has seen the request, only Alice
    // can abort it.
    for steps in 0..4 {
        for aborter in [Side::Alice, Side::Bob] {
            if steps == 0 && aborter == Side::Bob {
                continue;
            }
            clear(&mut p);
            start(&mut p, Side::Alice, "s", None);
            if steps >= 1 {
                p.run(); // Bob is asked
            }
            if steps >= 2 {
                respond(&mut p, Side::Bob, "s"); // SMP2 in flight
            }
            if steps >= 3 {
                let smp2 = std::mem::take(&mut p.to_alice.queue);
                for m in smp2 {
                    p.deliver(Side::Alice, &m); // SMP3 in flight
                }
            }
            // The abort overtakes what is in flight (Alice's request itself excepted).
            if steps == 0 {
                abort(&mut p, aborter);
            } else {
                let in_flight = (
                    std::mem::take(&mut p.to_alice.queue),
                    std::mem::take(&mut p.to_bob.queue),
                );
                abort(&mut p, aborter);
                p.run();
                p.to_alice.queue.extend(in_flight.0);
                p.to_bob.queue.extend(in_flight.1);
            }
            p.run();
            let what = format!("abort by {aborter:?} after {steps} steps");
            assert!(
                kinds(&p, other(aborter)).contains(&"ABORT"),
                "{what}: {:?}",
                kinds(&p, other(aborter))
            );
            assert_eq!(expecting(&mut p), (1, 1), "{what}");
            for side in [Side::Alice, Side::Bob] {
                let seen = kinds(&p, side);
                assert!(!seen.contains(&"SUCCESS"), "{what}: {seen:?}");
                assert!(!status(&mut p, side).awaiting_secret, "{what}");
            }
        }
    }
    // And then a run succeeds.
    run(&mut p, Side::Bob, "s", "s", None);
    outcome(&p, Side::Bob, &SmpEventKind::Success, None);
}

#[test]
fn simultaneous_requests_end_with_an_error_on_both_sides() {
    let mut p = paired(6);
    start(&mut p, Side::Alice, "s", None);
    start(&mut p, Side::Bob, "s", None);
    p.run();
    assert_eq!(kinds(&p, Side::Alice), ["ERROR", "ABORT"]);
    assert_eq!(kinds(&p, Side::Bob), ["ERROR", "ABORT"]);
    assert!(matches!(
        smp(&p, Side::Alice)[0].0,
        SmpEventKind::Error {
            expected: 2,
            received: SMP1
        }
    ));
    assert_eq!(expecting(&mut p), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// SMP and the data exchange
// ---------------------------------------------------------------------------------------------

#[test]
fn smp_succeeds_after_sixty_messages_rotated_the_keys() {
    let mut p = paired(7);
    for i in 0..30 {
        p.send(Side::Alice, &format!("a{i}"));
        p.run();
        p.send(Side::Bob, &format!("b{i}"));
        p.run();
    }
    assert_eq!(p.texts(Side::Bob).len(), 30);
    run(&mut p, Side::Alice, "sixty", "sixty", Some(DOG));
    outcome(&p, Side::Alice, &SmpEventKind::Success, Some(DOG));
    run(&mut p, Side::Bob, "sixty", "sixty", None);
    outcome(&p, Side::Bob, &SmpEventKind::Success, None);
}

#[test]
fn smp_runs_while_data_messages_flow_reordered_and_duplicated() {
    let mut p = paired(8);
    start(&mut p, Side::Alice, "flow", None);
    p.send(Side::Alice, "after SMP1");
    p.send(Side::Bob, "before SMP1 arrives");
    // Alice's text overtakes her SMP1; a duplicate of SMP1 arrives too.
    p.to_bob.queue.reverse();
    let dup = p.to_bob.queue[1].clone();
    p.to_bob.queue.push(dup);
    p.run();
    assert_eq!(kinds(&p, Side::Bob), ["ASK_FOR_SECRET"]);
    assert!(
        p.bob_events.iter().any(|e| matches!(
            e,
            Event::Message {
                kind: MessageEvent::ReceivedDuplicate,
                ..
            }
        )),
        "the duplicate is rejected by the data layer"
    );
    respond(&mut p, Side::Bob, "flow");
    for i in 0..5 {
        p.send(Side::Bob, &format!("b{i}"));
        p.send(Side::Alice, &format!("a{i}"));
    }
    p.shuffle(Side::Alice);
    p.shuffle(Side::Bob);
    p.run();
    p.send(Side::Bob, "after the outcome");
    p.run();
    assert_eq!(kinds(&p, Side::Alice), ["IN_PROGRESS", "SUCCESS"]);
    assert_eq!(kinds(&p, Side::Bob), ["ASK_FOR_SECRET", "SUCCESS"]);
    let mut got = p.texts(Side::Alice);
    got.sort();
    let mut want: Vec<String> = (0..5).map(|i| format!("b{i}")).collect();
    want.extend(["after the outcome".into(), "before SMP1 arrives".into()]);
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_save_and_restore_in_the_middle_of_a_run_continues_to_success() {
    // Both endpoints are saved and restored (into new objects, as a new process would) after
    // every step of the run, with a question; then with save_peer/restore_peer.
    for whole in [true, false] {
        let mut p = paired(9);
        let config = Config::default();
        let reload = |p: &mut Pair| {
            if whole {
                p.alice = Endpoint::restore(&p.alice.save(), config.clone()).unwrap();
                p.bob = Endpoint::restore(&p.bob.save(), config.clone()).unwrap();
            } else {
                let saved = p.alice.save_peer("bob").unwrap();
                p.alice.forget_peer("bob");
                p.alice.restore_peer("bob", &saved).unwrap();
                let saved = p.bob.save_peer("alice").unwrap();
                p.bob.forget_peer("alice");
                p.bob.restore_peer("alice", &saved).unwrap();
            }
        };
        start(&mut p, Side::Bob, "kept", Some(DOG));
        reload(&mut p);
        assert_eq!(status(&mut p, Side::Bob).expecting, 2);
        p.run();
        reload(&mut p);
        let asked = status(&mut p, Side::Alice);
        assert!(asked.awaiting_secret);
        assert_eq!(asked.question.as_deref(), Some(DOG));
        respond(&mut p, Side::Alice, "kept");
        reload(&mut p);
        assert_eq!(status(&mut p, Side::Alice).expecting, 3);
        let smp2 = std::mem::take(&mut p.to_bob.queue);
        for m in smp2 {
            p.deliver(Side::Bob, &m);
        }
        reload(&mut p);
        assert_eq!(status(&mut p, Side::Bob).expecting, 4);
        p.run();
        assert_eq!(
            kinds(&p, Side::Bob),
            ["IN_PROGRESS", "SUCCESS"],
            "whole: {whole}"
        );
        assert_eq!(kinds(&p, Side::Alice), ["ASK_FOR_ANSWER", "SUCCESS"]);
        reload(&mut p);
        assert_eq!(trusts(&mut p), (String::new(), "smp".into()));
        assert_eq!(expecting(&mut p), (1, 1));
        // The conversation goes on.
        p.send(Side::Alice, "still here");
        p.run();
        assert_eq!(p.texts(Side::Bob).last().unwrap(), "still here");
    }
}

#[test]
fn states_saved_before_smp_was_persisted_are_refused_clearly() {
    let p = paired(14);
    let mut saved = p.alice.save().to_vec();
    // "OTRE", then the format version: 2 since sessions carry their SMP state.
    assert_eq!(&saved[..6], b"OTRE\x00\x02");
    saved[5] = 1;
    assert_eq!(
        Endpoint::restore(&saved, Config::default()).err(),
        Some(otr::PickleError::OutdatedVersion {
            found: 1,
            oldest: 2,
            supported: 2
        })
    );
    saved[5] = 3;
    assert_eq!(
        Endpoint::restore(&saved, Config::default()).err(),
        Some(otr::PickleError::UnsupportedVersion {
            found: 3,
            supported: 2
        })
    );
    let mut peer = p.alice.save_peer("bob").unwrap().to_vec();
    peer[5] = 1;
    let mut alice = Endpoint::restore(&p.alice.save(), Config::default()).unwrap();
    assert!(matches!(
        alice.restore_peer("bob", &peer),
        Err(otr::PickleError::OutdatedVersion { found: 1, .. })
    ));
}

#[test]
fn leaving_encrypted_or_a_new_ake_abandons_the_run() {
    let mut p = paired(10);
    start(&mut p, Side::Alice, "s", None);
    p.run();
    assert!(status(&mut p, Side::Bob).awaiting_secret);
    // A new AKE over the session: both runs are gone, silently.
    clear(&mut p);
    p.query(Side::Bob);
    p.run();
    assert_eq!(expecting(&mut p), (1, 1));
    assert!(!status(&mut p, Side::Bob).awaiting_secret);
    assert!(kinds(&p, Side::Alice).is_empty() && kinds(&p, Side::Bob).is_empty());
    assert_eq!(
        p.bob
            .smp_respond("alice", None, b"s", p.now, &mut p.rng.clone())
            .unwrap_err(),
        SmpRequestError::Smp(SmpError::NotAwaitingSecret { expecting: 1 })
    );

    // The peer ends the session while a run is underway.
    run(&mut p, Side::Alice, "s", "s", None);
    start(&mut p, Side::Alice, "s", None);
    p.run();
    respond(&mut p, Side::Bob, "s");
    let smp2 = std::mem::take(&mut p.to_alice.queue);
    let out = p.bob.disconnect("alice", None, p.now);
    p.absorb(Side::Bob, out);
    p.run();
    assert_eq!(p.state(Side::Alice), MessageState::Finished);
    assert_eq!(p.state(Side::Bob), MessageState::Plaintext);
    assert_eq!(expecting(&mut p), (1, 1));
    // The late SMP2 cannot be read any more; nothing is reported about SMP.
    clear(&mut p);
    for m in smp2 {
        p.deliver(Side::Alice, &m);
    }
    assert!(kinds(&p, Side::Alice).is_empty());
    // A new session starts with SMP idle.
    let out = p.alice.disconnect("bob", None, p.now);
    p.absorb(Side::Alice, out);
    p.encrypted();
    assert_eq!(expecting(&mut p), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Crafted messages
// ---------------------------------------------------------------------------------------------

/// Alice sends Bob these TLVs in one data message (bypassing her state machine).
fn craft(p: &mut Pair, tlvs: &[Tlv]) {
    let instance = p.alice.instances("bob")[0];
    let out = p
        .alice
        .send_to("bob", instance, "", tlvs, p.now, &mut p.rng.clone())
        .unwrap();
    p.absorb(Side::Alice, out);
}

#[test]
fn crafted_smp_messages_are_cheating_never_success() {
    let mut p = paired(11);
    let bad = {
        let mut v = 6u32.to_be_bytes().to_vec();
        for _ in 0..6 {
            v.extend_from_slice(&[0, 0, 0, 1, 2]);
        }
        v
    };
    let mut huge_question = vec![b'q'; 60_000];
    huge_question.push(0);
    huge_question.extend_from_slice(&bad);
    let cases: Vec<(&str, Tlv)> = vec![
        ("bad proofs", Tlv::new(SMP1, bad.clone())),
        ("truncated", Tlv::new(SMP1, bad[..10].to_vec())),
        (
            "no NUL after the question",
            Tlv::new(SMP1Q, b"what?".to_vec()),
        ),
        ("huge question", Tlv::new(SMP1Q, huge_question)),
        ("empty", Tlv::new(SMP1, Vec::new())),
    ];
    for (what, tlv) in cases {
        clear(&mut p);
        craft(&mut p, &[tlv]);
        p.run();
        let bob = smp(&p, Side::Bob);
        assert_eq!(bob.len(), 1, "{what}: {bob:?}");
        assert!(
            matches!(bob[0], (SmpEventKind::Cheated(_), 0, None)),
            "{what}: {bob:?}"
        );
        // Bob sent an abort, which Alice (idle) reports.
        assert_eq!(kinds(&p, Side::Alice), ["ABORT"], "{what}");
        assert_eq!(expecting(&mut p), (1, 1), "{what}");
        assert_eq!(trusts(&mut p), (String::new(), String::new()), "{what}");
    }
    // A step out of order is an error, answered with an abort.
    clear(&mut p);
    craft(&mut p, &[Tlv::new(SMP3, bad)]);
    p.run();
    assert_eq!(
        smp(&p, Side::Bob),
        [(
            SmpEventKind::Error {
                expected: 1,
                received: SMP3
            },
            0,
            None
        )]
    );
    // A huge question is refused as such.
    clear(&mut p);
    let mut long = vec![b'q'; MAX_QUESTION_LEN + 1];
    long.push(0);
    craft(&mut p, &[Tlv::new(SMP1Q, long)]);
    p.run();
    assert!(matches!(
        &smp(&p, Side::Bob)[0].0,
        SmpEventKind::Cheated(InvalidSmpMessage::QuestionTooLong { .. })
    ));
    // Several SMP TLVs in one message are handled in the order written: an abort ends Bob's
    // own request (never delivered), then a bad request is cheating.
    clear(&mut p);
    start(&mut p, Side::Bob, "s", None);
    p.to_alice.queue.clear();
    craft(
        &mut p,
        &[
            Tlv::new(SMP_ABORT, vec![]),
            Tlv::new(SMP1, vec![0, 0, 0, 6]),
        ],
    );
    p.run();
    assert_eq!(kinds(&p, Side::Bob), ["ABORT", "CHEATED"]);
    assert_eq!(expecting(&mut p), (1, 1));

    // A message packed with SMP TLVs: only the first few are handled (each costs
    // exponentiations to verify); all are reported.
    clear(&mut p);
    let many = vec![Tlv::new(SMP1, vec![0, 0, 0, 6]); 50];
    craft(&mut p, &many);
    let message = p.to_bob.queue.remove(0);
    let out = p.bob.receive("alice", &message, p.now, &mut p.rng.clone());
    assert_eq!(out.tlvs.len(), 50);
    let cheated = out
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Smp {
                    event: SmpEventKind::Cheated(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(cheated, otr::MAX_SMP_TLVS_PER_MESSAGE);
}

/// Saved endpoints of one run, with Bob at each SMP state: idle, asked, having answered, having
/// asked himself. (Alice's saved state fits each: she only sends.)
struct Saved {
    alice: Vec<u8>,
    bob: Vec<Vec<u8>>,
}

fn saved() -> &'static Saved {
    static SAVED: std::sync::OnceLock<Saved> = std::sync::OnceLock::new();
    SAVED.get_or_init(|| {
        let mut p = paired(12);
        let mut bob = vec![p.bob.save().to_vec()];
        start(&mut p, Side::Alice, "s", None);
        p.run();
        bob.push(p.bob.save().to_vec());
        respond(&mut p, Side::Bob, "s");
        p.to_alice.queue.clear();
        bob.push(p.bob.save().to_vec());
        start(&mut p, Side::Bob, "s", Some("q"));
        p.to_alice.queue.clear();
        bob.push(p.bob.save().to_vec());
        Saved {
            alice: p.alice.save().to_vec(),
            bob,
        }
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever SMP TLV arrives in whatever state, the endpoint does not panic, never reports
    /// an outcome, and is left idle or where it was.
    #[test]
    fn arbitrary_smp_tlvs_never_panic_nor_conclude(
        state in 0usize..4,
        kind in 2u16..=7,
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
    ) {
        let s = saved();
        let config = Config::default();
        let mut alice = Endpoint::restore(&s.alice, config.clone()).unwrap();
        let mut bob = Endpoint::restore(&s.bob[state], config).unwrap();
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(13);
        let now = 1_700_000_100;
        let before = bob.status("alice", None).unwrap().smp;
        let instance = alice.instances("bob")[0];
        let out = alice
            .send_to("bob", instance, "", &[Tlv::new(kind, payload)], now, &mut rng)
            .unwrap();
        for t in out.transmit {
            let got = bob.receive("alice", &t.message, now, &mut rng);
            // The TLV reached Bob's state machine (the message was readable).
            proptest::prop_assert_eq!(got.tlvs.len(), 1, "{:?}", got.events);
            for e in &got.events {
                let concluded = matches!(
                    e,
                    Event::Smp { event: SmpEventKind::Success | SmpEventKind::Failure, .. }
                );
                proptest::prop_assert!(!concluded, "{:?}", e);
            }
        }
        let after = bob.status("alice", None).unwrap().smp;
        proptest::prop_assert!(after.expecting == 1 || after == before, "{:?}", after);
        let _ = bob.save();
    }
}
