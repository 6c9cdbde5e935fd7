//! The Socialist Millionaires' Protocol against libotr 4.1.1, in both roles: our [`Endpoint`]
//! in-process, libotr in a `libotr-peer` process (the `Mixed` harness of `common/mixed.rs`).
//! These tests fail, never skip, when libotr is missing.
//!
//! What they establish, each against libotr's own report (its `event smp` records, its
//! `status` fields `smp_expect` and `trust`):
//!
//! - matching secrets succeed and different secrets fail on both sides, whoever asks;
//! - a question arrives intact, non-ASCII included, in both directions;
//! - the trust of the peer's fingerprint changes as libotr changes it: `smp` on success and
//!   untrusted on failure, except on the answering side of a question, which keeps its trust;
//! - an abort from either side, at any step, is seen by both and leaves both idle;
//! - SMP succeeds after dozens of key rotations, and while data messages flow between its
//!   steps, in both directions; also in an OTR v2 session;
//! - crossing requests and a restart end as libotr ends them; a crafted SMP message is
//!   reported by libotr as cheating.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::mixed::{LIB, Mixed, OURS};
use otr::smp::{Smp, SmpSecret};
use otr::tlv::{SMP_ABORT, SMP1, Tlv};
use otr::{Event, SmpEventKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const DOG: &str = "Wie heißt der Hund? 🐕";

/// One of our SMP events: (libotr name, progress, question).
type OurEvent = (String, u8, Option<String>);
/// Both sides' SMP events of one run: ours, and libotr's fields (name, progress [, question]).
type RunEvents = (Vec<OurEvent>, Vec<Vec<String>>);

/// Our SMP events since the last `clear_logs`: (libotr name, progress, question).
fn our_smp(m: &Mixed) -> Vec<OurEvent> {
    m.events
        .iter()
        .filter_map(|e| match e {
            Event::Smp {
                peer,
                event,
                progress,
                question,
                ..
            } => {
                assert_eq!(peer, LIB);
                Some((event.name().to_owned(), *progress, question.clone()))
            }
            _ => None,
        })
        .collect()
}

/// libotr's SMP events since the last `clear_logs`: name, progress [, question].
fn lib_smp(m: &mut Mixed) -> Vec<Vec<String>> {
    m.lib()
        .events("smp")
        .into_iter()
        .map(|mut fields| {
            assert_eq!(fields.remove(0), OURS);
            fields
        })
        .collect()
}

fn ev(name: &str, progress: u8) -> OurEvent {
    (name.to_owned(), progress, None)
}

fn lib_ev(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| (*f).to_owned()).collect()
}

/// Our `smp_expect` (libotr's numbering) and libotr's.
fn expects(m: &mut Mixed) -> (u32, String) {
    let ours = m.ours.status(LIB, None).unwrap().smp.libotr_next_expected;
    (ours, m.lib().state("smp_expect"))
}

fn assert_idle(m: &mut Mixed) {
    assert_eq!(expects(m), (0, "0".to_owned()));
    let status = m.ours.status(LIB, None).unwrap().smp;
    assert!(!status.awaiting_secret && status.question.is_none());
}

/// Our trust word for libotr's key (`-` when untrusted), and libotr's for ours.
fn trusts(m: &mut Mixed) -> (String, String) {
    let lib_fp = m.ours.status(LIB, None).unwrap().their_fingerprint.unwrap();
    let ours = match m.ours.trust(LIB, &lib_fp) {
        Some(word) if !word.is_empty() => word.to_owned(),
        _ => "-".to_owned(),
    };
    (ours, m.lib().state("trust"))
}

fn we_start(m: &mut Mixed, secret: &str, question: Option<&str>) {
    let out = m
        .ours
        .smp_start(LIB, None, secret.as_bytes(), question, m.now, &mut m.rng)
        .unwrap();
    m.absorb(out);
}

fn we_respond(m: &mut Mixed, secret: &str) {
    let out = m
        .ours
        .smp_respond(LIB, None, secret.as_bytes(), m.now, &mut m.rng)
        .unwrap();
    m.absorb(out);
}

fn lib_starts(m: &mut Mixed, secret: &str, question: Option<&str>) {
    let mut command = vec!["smp", OURS, secret];
    command.extend(question);
    m.lib().cmd(&command);
}

/// A whole run: `we_ask` decides who starts; the other side answers `answer`. Returns
/// (our events, libotr's events).
fn run(
    m: &mut Mixed,
    we_ask: bool,
    secret: &str,
    answer: &str,
    question: Option<&str>,
) -> RunEvents {
    m.clear_logs();
    if we_ask {
        we_start(m, secret, question);
        assert_eq!(
            m.ours.status(LIB, None).unwrap().smp.libotr_next_expected,
            1
        );
        m.pump();
        let asked = if question.is_some() {
            "ASK_FOR_ANSWER"
        } else {
            "ASK_FOR_SECRET"
        };
        let mut expected = lib_ev(&[asked, "25"]);
        expected.extend(question.map(str::to_owned));
        assert_eq!(lib_smp(m), [expected]);
        m.lib().cmd(&["smp-respond", OURS, answer]);
        assert_eq!(m.lib().state("smp_expect"), "2");
    } else {
        lib_starts(m, secret, question);
        assert_eq!(m.lib().state("smp_expect"), "1");
        m.pump();
        let asked = if question.is_some() {
            SmpEventKind::AskForAnswer
        } else {
            SmpEventKind::AskForSecret
        };
        assert_eq!(
            our_smp(m),
            [(asked.name().to_owned(), 25, question.map(str::to_owned))]
        );
        let status = m.ours.status(LIB, None).unwrap().smp;
        assert!(status.awaiting_secret);
        assert_eq!(status.question.as_deref(), question);
        assert_eq!((status.expecting, status.progress), (1, 25));
        we_respond(m, answer);
        assert_eq!(
            m.ours.status(LIB, None).unwrap().smp.libotr_next_expected,
            2
        );
    }
    m.pump();
    assert_idle(m);
    (our_smp(m), lib_smp(m))
}

/// The asker sees IN_PROGRESS then the outcome; the answerer was asked, then the outcome.
fn assert_outcome(m: &mut Mixed, we_ask: bool, events: &RunEvents, outcome: &str) {
    let (ours, theirs) = events;
    let our_outcome = ours.last().unwrap();
    assert_eq!(our_outcome, &ev(outcome, 100), "{ours:?}");
    assert_eq!(
        theirs.last().unwrap(),
        &lib_ev(&[outcome, "100"]),
        "{theirs:?}"
    );
    if we_ask {
        assert_eq!(ours, &[ev("IN_PROGRESS", 60), ev(outcome, 100)]);
    } else {
        assert_eq!(theirs[0], lib_ev(&["IN_PROGRESS", "60"]));
    }
    assert_no_errors(m);
}

/// No message event but heartbeats on either side (SMP messages are TLV-only data messages,
/// which both report as heartbeats).
fn assert_no_errors(m: &mut Mixed) {
    let ours = m.msg_event_names();
    assert!(
        ours.iter().all(|e| e.starts_with("LOG_HEARTBEAT")),
        "{ours:?}"
    );
    let theirs = m.lib().msg_events();
    assert!(
        theirs.iter().all(|e| e.starts_with("LOG_HEARTBEAT")),
        "{theirs:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Outcomes and trust
// ---------------------------------------------------------------------------------------------

#[test]
fn matching_secrets_succeed_and_different_ones_fail_in_both_roles() {
    let mut m = Mixed::secured(1, 3);
    assert_idle(&mut m);
    assert_eq!(trusts(&mut m), ("-".into(), "-".into()));

    // We ask, libotr answers the same secret: both succeed and both trust the other's key.
    let events = run(&mut m, true, "correct horse", "correct horse", None);
    assert_outcome(&mut m, true, &events, "SUCCESS");
    assert_eq!(trusts(&mut m), ("smp".into(), "smp".into()));

    // libotr asks, we answer something else: both fail, and both withdraw the trust.
    let events = run(&mut m, false, "correct horse", "battery staple", None);
    assert_outcome(&mut m, false, &events, "FAILURE");
    assert_eq!(trusts(&mut m), ("-".into(), "-".into()));

    // libotr asks, we answer right.
    let events = run(&mut m, false, "s3cr3t", "s3cr3t", None);
    assert_outcome(&mut m, false, &events, "SUCCESS");
    assert_eq!(trusts(&mut m), ("smp".into(), "smp".into()));

    // We ask, libotr answers wrong: a secret that differs in one byte.
    let events = run(&mut m, true, "s3cr3t", "s3cr3T", None);
    assert_outcome(&mut m, true, &events, "FAILURE");
    assert_eq!(trusts(&mut m), ("-".into(), "-".into()));

    // Empty and binary-ish secrets are secrets too.
    let events = run(&mut m, true, "", "", None);
    assert_outcome(&mut m, true, &events, "SUCCESS");
}

#[test]
fn the_question_arrives_intact_and_only_the_asker_records_trust() {
    let mut m = Mixed::secured(2, 3);
    // Both sides start from a trust set by hand, to see who changes it.
    let lib_fp = m.ours.status(LIB, None).unwrap().their_fingerprint.unwrap();
    m.ours.set_trust(LIB, lib_fp, "verified");
    m.lib().cmd(&["trust", OURS, "verified"]);

    // We ask a question (non-ASCII, with an emoji): libotr shows it exactly.
    let events = run(&mut m, true, "Bello", "Bello", Some(DOG));
    assert_outcome(&mut m, true, &events, "SUCCESS");
    assert_eq!(events.1[0], lib_ev(&["ASK_FOR_ANSWER", "25", DOG]));
    // The asker records "smp"; libotr, which answered a question, keeps its own trust.
    assert_eq!(trusts(&mut m), ("smp".into(), "verified".into()));

    // libotr asks a question: we show it exactly, answer right; only libotr records "smp".
    m.ours.set_trust(LIB, lib_fp, "verified");
    let question = "Où est né notre chat ? 猫は? ½ \u{200d}";
    let events = run(&mut m, false, "Zürich", "Zürich", Some(question));
    assert_outcome(&mut m, false, &events, "SUCCESS");
    assert_eq!(
        events.0[0],
        ("ASK_FOR_ANSWER".into(), 25, Some(question.into()))
    );
    assert_eq!(trusts(&mut m), ("verified".into(), "smp".into()));

    // A wrong answer to libotr's question: libotr (the asker) withdraws its trust; we keep
    // ours.
    let events = run(&mut m, false, "Zürich", "Zurich", Some(question));
    assert_outcome(&mut m, false, &events, "FAILURE");
    assert_eq!(trusts(&mut m), ("verified".into(), "-".into()));

    // A wrong answer to our question: we withdraw ours; libotr keeps what it had ("-").
    let events = run(&mut m, true, "Bello", "Rex", Some(DOG));
    assert_outcome(&mut m, true, &events, "FAILURE");
    assert_eq!(trusts(&mut m), ("-".into(), "-".into()));

    // An empty question is still a question (SMP1Q), in both directions.
    let events = run(&mut m, true, "x", "x", Some(""));
    assert_eq!(events.1[0], lib_ev(&["ASK_FOR_ANSWER", "25", ""]));
    let events = run(&mut m, false, "x", "x", Some(""));
    assert_eq!(
        events.0[0],
        ("ASK_FOR_ANSWER".into(), 25, Some(String::new()))
    );
}

#[test]
fn smp_in_an_otr_v2_session() {
    let mut m = Mixed::secured(3, 2);
    let events = run(&mut m, true, "v2 secret", "v2 secret", Some(DOG));
    assert_outcome(&mut m, true, &events, "SUCCESS");
    let events = run(&mut m, false, "v2 secret", "v2 secret", None);
    assert_outcome(&mut m, false, &events, "SUCCESS");
    assert_eq!(trusts(&mut m), ("smp".into(), "smp".into()));
}

// ---------------------------------------------------------------------------------------------
// Aborts, restarts, crossing requests
// ---------------------------------------------------------------------------------------------

#[test]
fn an_abort_from_either_side_is_seen_by_both() {
    let mut m = Mixed::secured(4, 3);

    // libotr aborts our request before answering it.
    m.clear_logs();
    we_start(&mut m, "s", None);
    m.pump();
    m.lib().cmd(&["smp-abort", OURS]);
    m.pump();
    assert_eq!(lib_smp(&mut m), [lib_ev(&["ASK_FOR_SECRET", "25"])]);
    assert_eq!(m.lib().tlv_types(), ["2"]);
    assert_eq!(our_smp(&m), [ev("ABORT", 0)]);
    assert_idle(&mut m);

    // We abort libotr's request before answering it.
    m.clear_logs();
    lib_starts(&mut m, "s", Some(DOG));
    m.pump();
    let out = m.ours.smp_abort(LIB, None, m.now).unwrap();
    m.absorb(out);
    m.pump();
    assert_eq!(lib_smp(&mut m), [lib_ev(&["ABORT", "0"])]);
    assert_idle(&mut m);

    // Mid-run: we abort after libotr answered (its SMP2 is in flight). libotr learns of the
    // abort; its SMP2 then reaches us out of order: we report the error and abort again.
    m.clear_logs();
    we_start(&mut m, "s", None);
    m.pump();
    m.lib().cmd(&["smp-respond", OURS, "s"]);
    let smp2 = m.lib().take_outbox();
    let out = m.ours.smp_abort(LIB, None, m.now).unwrap();
    m.absorb(out);
    m.flush_to_libs();
    for message in smp2 {
        m.deliver_to_us(&message);
    }
    m.pump();
    let ours: Vec<String> = our_smp(&m).into_iter().map(|e| e.0).collect();
    assert_eq!(ours, ["ERROR"]);
    assert_eq!(
        lib_smp(&mut m),
        [
            lib_ev(&["ASK_FOR_SECRET", "25"]),
            lib_ev(&["ABORT", "0"]),
            lib_ev(&["ABORT", "0"])
        ]
    );
    assert_idle(&mut m);

    // Mid-run the other way: libotr aborts while our SMP3 is in flight.
    m.clear_logs();
    lib_starts(&mut m, "s", None);
    m.pump();
    we_respond(&mut m, "s");
    m.flush_to_libs(); // our SMP2: libotr sends SMP3
    let smp3 = m.lib().take_outbox();
    m.lib().cmd(&["smp-abort", OURS]);
    for message in smp3 {
        m.deliver_to_us(&message); // we answer with SMP4 and succeed on our side...
    }
    m.pump(); // ...then see libotr's abort; libotr sees an SMP4 it no longer expects.
    let ours: Vec<String> = our_smp(&m).into_iter().map(|e| e.0).collect();
    assert_eq!(ours, ["ASK_FOR_SECRET", "SUCCESS", "ABORT", "ABORT"]);
    let theirs: Vec<String> = lib_smp(&mut m).into_iter().map(|e| e[0].clone()).collect();
    assert_eq!(theirs, ["IN_PROGRESS", "ERROR"]);
    assert_idle(&mut m);

    // After all that, a run still succeeds.
    let events = run(&mut m, true, "again", "again", None);
    assert_outcome(&mut m, true, &events, "SUCCESS");
}

#[test]
fn restarts_and_crossing_requests_end_as_libotr_ends_them() {
    let mut m = Mixed::secured(5, 3);

    // We restart while libotr waits for its user: libotr drops the first request (our abort
    // comes first, in its own message) and is asked again; the second run succeeds.
    m.clear_logs();
    we_start(&mut m, "first", None);
    m.pump();
    we_start(&mut m, "second", Some(DOG));
    m.pump();
    assert_eq!(
        lib_smp(&mut m),
        [
            lib_ev(&["ASK_FOR_SECRET", "25"]),
            lib_ev(&["ABORT", "0"]),
            lib_ev(&["ASK_FOR_ANSWER", "25", DOG])
        ]
    );
    m.clear_logs();
    m.lib().cmd(&["smp-respond", OURS, "second"]);
    m.pump();
    assert_eq!(our_smp(&m), [ev("IN_PROGRESS", 60), ev("SUCCESS", 100)]);
    assert_eq!(lib_smp(&mut m), [lib_ev(&["SUCCESS", "100"])]);

    // libotr restarts (it sends a new SMP1 without an abort): we are asked again.
    m.clear_logs();
    lib_starts(&mut m, "one", None);
    m.pump();
    lib_starts(&mut m, "two", Some("2?"));
    m.pump();
    assert_eq!(
        our_smp(&m),
        [
            ev("ASK_FOR_SECRET", 25),
            ("ASK_FOR_ANSWER".into(), 25, Some("2?".into()))
        ]
    );
    we_respond(&mut m, "two");
    m.pump();
    assert_eq!(our_smp(&m).last().unwrap(), &ev("SUCCESS", 100));

    // Both ask at once: each sees the other's request out of order, reports an error and
    // aborts; each then sees the other's abort. Both end idle.
    m.clear_logs();
    we_start(&mut m, "s", None);
    lib_starts(&mut m, "s", None);
    m.pump();
    let ours: Vec<String> = our_smp(&m).into_iter().map(|e| e.0).collect();
    assert_eq!(ours, ["ERROR", "ABORT"]);
    let theirs: Vec<String> = lib_smp(&mut m).into_iter().map(|e| e[0].clone()).collect();
    assert_eq!(theirs, ["ERROR", "ABORT"]);
    assert_idle(&mut m);

    // Why our abort and our new request travel in separate messages: libotr reads the SMP
    // TLVs of one message by type, not in order, so an abort sent together with a request
    // cancels the request.
    m.clear_logs();
    let session = m.ours.status(LIB, None).unwrap();
    let ssid = session.ssid.unwrap().bytes;
    let theirs = session.their_fingerprint.unwrap();
    let secret = SmpSecret::new(&m.ours.fingerprint(), &theirs, &ssid, b"together");
    let request = Smp::new()
        .start(&secret, None, &mut ChaCha20Rng::seed_from_u64(6))
        .unwrap();
    assert_eq!(request[0].kind, SMP1);
    let tlvs = [Tlv::new(SMP_ABORT, vec![]), request[0].clone()];
    let out = m
        .ours
        .send_to(LIB, session.their_instance, "", &tlvs, m.now, &mut m.rng)
        .unwrap();
    m.absorb(out);
    m.pump();
    assert_eq!(
        lib_smp(&mut m),
        [lib_ev(&["ASK_FOR_SECRET", "25"]), lib_ev(&["ABORT", "0"])]
    );
    assert_eq!(m.lib().state("smp_expect"), "0");
}

#[test]
fn a_crafted_smp_message_is_cheating_for_libotr() {
    let mut m = Mixed::secured(7, 3);
    let session = m.ours.status(LIB, None).unwrap();
    // An SMP1 whose proofs do not verify: six MPIs of value 2.
    let mut value = 6u32.to_be_bytes().to_vec();
    for _ in 0..6 {
        value.extend_from_slice(&[0, 0, 0, 1, 2]);
    }
    let out = m
        .ours
        .send_to(
            LIB,
            session.their_instance,
            "",
            &[Tlv::new(SMP1, value)],
            m.now,
            &mut m.rng,
        )
        .unwrap();
    m.absorb(out);
    m.pump();
    // libotr reports cheating and (the libotr peer, as libotr asks applications to) aborts.
    assert_eq!(lib_smp(&mut m), [lib_ev(&["CHEATED", "0"])]);
    assert_eq!(our_smp(&m), [ev("ABORT", 0)]);
    assert_idle(&mut m);
    assert_eq!(trusts(&mut m), ("-".into(), "-".into()));
}

// ---------------------------------------------------------------------------------------------
// SMP and the data exchange
// ---------------------------------------------------------------------------------------------

#[test]
fn smp_succeeds_after_many_key_rotations() {
    let mut m = Mixed::secured(8, 3);
    // 60 messages, alternating, each one acknowledged: the key pairs rotate all along.
    for i in 0..30 {
        m.send_ours(&format!("ours {i}"));
        m.pump();
        m.lib().send(&format!("lib {i}"));
        m.pump();
    }
    assert_eq!(m.texts().len(), 30);
    assert_eq!(m.lib().delivered().len(), 30);
    let events = run(&mut m, true, "after 60", "after 60", Some(DOG));
    assert_outcome(&mut m, true, &events, "SUCCESS");
    let events = run(&mut m, false, "after 60", "after 60", None);
    assert_outcome(&mut m, false, &events, "SUCCESS");
}

/// Sends one message each way and delivers them (keys rotate between SMP steps).
fn chat(m: &mut Mixed, round: &str) {
    m.send_ours(&format!("ours {round}"));
    m.lib().send(&format!("lib {round}"));
    m.pump();
}

#[test]
fn smp_runs_while_data_messages_flow() {
    let mut m = Mixed::secured(9, 3);

    // We ask; between every step both sides talk, and each SMP message is delivered together
    // with (before or after) data messages.
    we_start(&mut m, "flowing", None);
    chat(&mut m, "1"); // SMP1 and our text go out together
    m.lib().cmd(&["smp-respond", OURS, "flowing"]);
    m.lib().send("lib after SMP2");
    chat(&mut m, "2");
    chat(&mut m, "3");
    assert_eq!(our_smp(&m).last().unwrap(), &ev("SUCCESS", 100));
    assert_eq!(
        lib_smp(&mut m).last().unwrap(),
        &lib_ev(&["SUCCESS", "100"])
    );
    for round in ["1", "2", "3"] {
        assert!(
            m.texts().contains(&format!("lib {round}")),
            "{:?}",
            m.texts()
        );
        assert!(m.lib().delivered().contains(&format!("ours {round}")));
    }
    assert!(m.texts().contains(&"lib after SMP2".to_owned()));
    assert_idle(&mut m);

    // libotr asks; its SMP messages cross data messages: each of its SMP steps reaches us
    // after a data message it sent later (we accept reordered data messages; libotr does not,
    // so what we send goes in order), and libotr's texts cross our SMP2.
    m.clear_logs();
    lib_starts(&mut m, "crossing", Some(DOG));
    let smp1 = m.lib().take_outbox();
    m.lib().send("overtakes SMP1");
    for message in m.lib().take_outbox().into_iter().chain(smp1) {
        m.deliver_to_us(&message);
    }
    we_respond(&mut m, "crossing");
    m.lib().send("crosses SMP2");
    for message in m.lib().take_outbox() {
        m.deliver_to_us(&message);
    }
    m.send_ours("after SMP2");
    m.flush_to_libs();
    let smp3 = m.lib().take_outbox();
    m.lib().send("overtakes SMP3");
    for message in m.lib().take_outbox().into_iter().chain(smp3) {
        m.deliver_to_us(&message);
    }
    m.pump();
    assert_eq!(our_smp(&m).last().unwrap(), &ev("SUCCESS", 100));
    assert_eq!(
        lib_smp(&mut m).last().unwrap(),
        &lib_ev(&["SUCCESS", "100"])
    );
    for text in ["overtakes SMP1", "crosses SMP2", "overtakes SMP3"] {
        assert!(m.texts().contains(&text.to_owned()), "{:?}", m.texts());
    }
    assert!(m.lib().delivered().contains(&"after SMP2".to_owned()));
    assert_no_errors(&mut m);
    assert_eq!(trusts(&mut m), ("smp".into(), "smp".into()));
}

#[test]
fn a_new_ake_or_the_end_of_the_session_abandons_the_run() {
    let mut m = Mixed::secured(10, 3);
    we_start(&mut m, "s", None);
    m.pump();
    assert_eq!(expects(&mut m), (1, "0".to_owned()));

    // A new AKE over the encrypted session: our run is gone (its secret was bound to the old
    // session id). libotr keeps its own state; it learns of the end from our abort when its
    // answer arrives.
    m.query();
    m.pump();
    assert_eq!(m.still_secure().len(), 1);
    assert_eq!(expects(&mut m).0, 0);
    m.clear_logs();
    m.lib().cmd(&["smp-respond", OURS, "s"]);
    m.pump();
    let ours: Vec<String> = our_smp(&m).into_iter().map(|e| e.0).collect();
    assert_eq!(ours, ["ERROR"]);
    assert_eq!(lib_smp(&mut m), [lib_ev(&["ABORT", "0"])]);
    assert_idle(&mut m);

    // The peer ends the session: the run is gone on both sides.
    we_start(&mut m, "s", None);
    m.pump();
    m.lib().cmd(&["disconnect", OURS]);
    m.pump();
    assert_eq!(
        m.ours.status(LIB, None).unwrap().message_state,
        otr::MessageState::Finished
    );
    assert_idle(&mut m);
    assert_eq!(
        m.ours
            .smp_start(LIB, None, b"s", None, m.now, &mut m.rng)
            .err(),
        Some(otr::SmpRequestError::NotEncrypted(m.lib().tag))
    );
}
