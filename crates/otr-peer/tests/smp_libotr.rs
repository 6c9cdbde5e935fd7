//! `otr-peer` and libotr 4.1.1 (the `libotr-peer` wrapper) run the Socialist Millionaires'
//! Protocol through the peer protocol, in both directions, and exchange libotr's trust files.
//!
//! Both programs print the same records (`event smp <peer> <NAME> <progress> [question]`,
//! `status ... trust=... smp_expect=...`, `peer-fingerprint ... trust=...`), so each step is
//! checked by running it one way, then the other way, with the same expectations.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::*;
use libotr_peer::{PeerProcess, Reply, relay};

const DOG: &str = "Wie heißt der Hund? 🐕";

fn name(p: &PeerProcess) -> String {
    p.account().unwrap().to_owned()
}

/// The `smp` events of `reply` without the peer field.
fn smp_events(reply: &Reply) -> Vec<Vec<String>> {
    reply
        .events("smp")
        .into_iter()
        .map(|mut e| {
            e.remove(0);
            e
        })
        .collect()
}

fn fields(f: &[&str]) -> Vec<String> {
    f.iter().map(|s| (*s).to_owned()).collect()
}

/// `status <other>`'s trust and smp_expect, and `peer-fingerprint <other>`'s trust.
fn trust_and_expect(p: &mut PeerProcess, other: &str) -> (String, String) {
    let s = p.status(other).unwrap();
    let pf = p.command_ok(&["peer-fingerprint", other]).unwrap();
    assert_eq!(s.ok_value("trust"), pf.ok_value("trust"));
    assert_eq!(s.ok_value("fingerprint"), pf.ok_value("hex"));
    (
        s.ok_value("trust").unwrap().to_owned(),
        s.ok_value("smp_expect").unwrap().to_owned(),
    )
}

/// One whole run: `asker` asks `secret` (with `question`), the other answers `answer`.
/// Checks every step's records and `smp_expect`; returns the outcome both reported.
fn run(
    asker: &mut PeerProcess,
    answerer: &mut PeerProcess,
    secret: &str,
    answer: &str,
    question: Option<&str>,
) -> String {
    let (a, b) = (name(asker), name(answerer));
    let mut command = vec!["smp", b.as_str(), secret];
    command.extend(question);
    let sent = asker.command_ok(&command).unwrap();
    assert!(
        sent.wires()
            .iter()
            .all(|(to, m)| to == &b && m.starts_with("?OTR:"))
    );
    assert_eq!(status(asker, &b, "smp_expect"), "1");
    let relayed = relay(asker, answerer).unwrap();
    let asked = match question {
        Some(q) => fields(&["ASK_FOR_ANSWER", "25", q]),
        None => fields(&["ASK_FOR_SECRET", "25"]),
    };
    assert_eq!(smp_events(&relayed.at_b), [asked], "{relayed:?}");
    assert_eq!(status(answerer, &a, "smp_expect"), "0");

    answerer
        .command_ok(&["smp-respond", a.as_str(), answer])
        .unwrap();
    assert_eq!(status(answerer, &a, "smp_expect"), "2");
    let relayed = relay(asker, answerer).unwrap();
    let at_asker = smp_events(&relayed.at_a);
    let at_answerer = smp_events(&relayed.at_b);
    assert_eq!(at_asker.len(), 2, "{relayed:?}");
    assert_eq!(at_asker[0], fields(&["IN_PROGRESS", "60"]));
    let outcome = at_asker[1][0].clone();
    assert_eq!(at_asker[1], fields(&[outcome.as_str(), "100"]));
    assert_eq!(at_answerer, [fields(&[outcome.as_str(), "100"])]);
    assert_no_errors(&relayed.at_a);
    assert_no_errors(&relayed.at_b);
    assert_eq!(status(asker, &b, "smp_expect"), "0");
    assert_eq!(status(answerer, &a, "smp_expect"), "0");
    outcome
}

#[test]
fn smp_both_directions_matching_different_and_with_a_question() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut ours, &mut theirs);
    assert_eq!(trust_and_expect(&mut ours, "bob"), ("-".into(), "0".into()));

    both_ways(&mut ours, &mut theirs, |asker, answerer| {
        let (a, b) = (name(asker), name(answerer));
        // Matching secrets: both record "smp".
        assert_eq!(run(asker, answerer, "s3cret", "s3cret", None), "SUCCESS");
        assert_eq!(trust_and_expect(asker, &b).0, "smp");
        assert_eq!(trust_and_expect(answerer, &a).0, "smp");
        // Different secrets: both withdraw the trust.
        assert_eq!(run(asker, answerer, "s3cret", "secret", None), "FAILURE");
        assert_eq!(trust_and_expect(asker, &b).0, "-");
        assert_eq!(trust_and_expect(answerer, &a).0, "-");
        // With a question: the question arrives intact; only the asker records the outcome,
        // the answering side keeps the trust it had.
        answerer.command_ok(&["trust", a.as_str()]).unwrap();
        assert_eq!(run(asker, answerer, "Bello", "Bello", Some(DOG)), "SUCCESS");
        assert_eq!(trust_and_expect(asker, &b).0, "smp");
        assert_eq!(trust_and_expect(answerer, &a).0, "verified");
        assert_eq!(run(asker, answerer, "Bello", "Rex", Some(DOG)), "FAILURE");
        assert_eq!(trust_and_expect(asker, &b).0, "-");
        assert_eq!(trust_and_expect(answerer, &a).0, "verified");
        answerer.command_ok(&["trust", a.as_str(), ""]).unwrap();
    });
    send_and_check(&mut ours, &mut theirs, "still talking");
    send_and_check(&mut theirs, &mut ours, "yes");
}

#[test]
fn smp_aborts_and_refusals_with_libotr() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut ours, &mut theirs);
    both_ways(&mut ours, &mut theirs, |asker, answerer| {
        let (a, b) = (name(asker), name(answerer));
        // The answering side aborts instead of answering: both are idle, the asker is told.
        asker.command_ok(&["smp", b.as_str(), "x"]).unwrap();
        relay(asker, answerer).unwrap();
        answerer.command_ok(&["smp-abort", a.as_str()]).unwrap();
        let relayed = relay(asker, answerer).unwrap();
        assert_eq!(smp_events(&relayed.at_a), [fields(&["ABORT", "0"])]);
        assert_eq!(status(asker, &b, "smp_expect"), "0");
        assert_eq!(status(answerer, &a, "smp_expect"), "0");
        // The asker aborts after the answer went out: the answer then arrives out of order,
        // which the asker reports as an error (and aborts again).
        asker.command_ok(&["smp", b.as_str(), "x"]).unwrap();
        relay(asker, answerer).unwrap();
        answerer
            .command_ok(&["smp-respond", a.as_str(), "x"])
            .unwrap();
        let answer = answerer.take_outbox();
        asker.command_ok(&["smp-abort", b.as_str()]).unwrap();
        let relayed = relay(asker, answerer).unwrap();
        assert_eq!(smp_events(&relayed.at_b), [fields(&["ABORT", "0"])]);
        let mut errors = Vec::new();
        for (_, message) in answer {
            let r = asker.command_ok(&["recv", b.as_str(), &message]).unwrap();
            errors.extend(smp_events(&r));
        }
        assert_eq!(errors, [fields(&["ERROR", "0"])]);
        relay(asker, answerer).unwrap();
        assert_eq!(status(asker, &b, "smp_expect"), "0");
        assert_eq!(status(answerer, &a, "smp_expect"), "0");
    });
    // SMP needs an encrypted session; both peers refuse alike.
    for p in [&mut ours, &mut theirs] {
        let r = p.command(&["smp", "nobody", "x"]).unwrap();
        assert_eq!(r.reason(), Some("no encrypted session with nobody"));
        let r = p.command(&["smp-abort", "nobody"]).unwrap();
        assert_eq!(r.reason(), Some("no encrypted session with nobody"));
    }
    // Unlike libotr, otr-peer refuses to answer a request that never came.
    let r = ours.command(&["smp-respond", "bob", "x"]).unwrap();
    assert!(!r.ok && r.wires().is_empty(), "{r:?}");
}

/// The `known-fingerprint` records of `fingerprints`, sorted.
fn known_fingerprints(p: &mut PeerProcess) -> Vec<Vec<String>> {
    let r = p.command_ok(&["fingerprints"]).unwrap();
    let mut known: Vec<Vec<String>> = r
        .records
        .iter()
        .filter(|r| r.kind == "known-fingerprint")
        .map(|r| r.fields.clone())
        .collect();
    known.sort();
    known
}

fn hex_fingerprint(p: &mut PeerProcess) -> String {
    let r = p.command_ok(&["fingerprint"]).unwrap();
    r.ok_value("hex").unwrap().to_owned()
}

#[test]
fn trust_files_written_by_one_are_read_by_the_other() {
    let dir = temp_dir("trust-files");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();

    // Offrecord's alice verifies libotr's bob by SMP.
    let mut alice = offrecord("alice", "11111111");
    let mut bob = libotr("bob", "22222222");
    query_and_check(&mut alice, &mut bob);
    assert_eq!(run(&mut alice, &mut bob, "s", "s", None), "SUCCESS");
    let (alice_fp, bob_fp) = (hex_fingerprint(&mut alice), hex_fingerprint(&mut bob));

    // libotr's file, read by a new Offrecord "bob": it knows alice's key as verified by SMP,
    // and says so once it talks to her.
    bob.command_ok(&["write-fingerprints", &path("libotr.fingerprints")])
        .unwrap();
    let mut bob2 = offrecord("bob", "33333333");
    let read = bob2
        .command_ok(&["read-fingerprints", &path("libotr.fingerprints")])
        .unwrap();
    assert_eq!(read.ok_value("imported"), Some("1"));
    let expected = [fields(&["alice", "bob", PROTOCOL, &alice_fp, "smp"])];
    assert_eq!(known_fingerprints(&mut bob), expected);
    assert_eq!(known_fingerprints(&mut bob2), expected);
    let relayed = query_and_check(&mut bob2, &mut alice);
    assert!(relayed.at_a.events("new_fingerprint").is_empty());
    assert_eq!(status(&mut bob2, "alice", "fingerprint"), alice_fp);
    assert_eq!(trust_and_expect(&mut bob2, "alice").0, "smp");

    // Offrecord's file, read by a new libotr "alice": it knows bob's key as verified, and the
    // key of the Offrecord "bob" as seen but untrusted; it says so once it talks to bob.
    alice
        .command_ok(&["write-fingerprints", &path("offrecord.fingerprints")])
        .unwrap();
    let mut alice2 = libotr("alice", "44444444");
    alice2
        .command_ok(&["read-fingerprints", &path("offrecord.fingerprints")])
        .unwrap();
    let bob2_fp = hex_fingerprint(&mut bob2);
    let mut expected = vec![
        fields(&["bob", "alice", PROTOCOL, &bob_fp, "smp"]),
        fields(&["bob", "alice", PROTOCOL, &bob2_fp, ""]),
    ];
    expected.sort();
    assert_eq!(known_fingerprints(&mut alice), expected);
    assert_eq!(known_fingerprints(&mut alice2), expected);
    alice2.command_ok(&["query", "bob"]).unwrap();
    let relayed = relay(&mut alice2, &mut bob).unwrap();
    assert_eq!(relayed.at_a.events("gone_secure").len(), 1, "{relayed:?}");
    // No new fingerprint: libotr knew bob's key from our file.
    assert!(relayed.at_a.events("new_fingerprint").is_empty());
    assert_eq!(status(&mut alice2, "bob", "fingerprint"), bob_fp);
    assert_eq!(trust_and_expect(&mut alice2, "bob").0, "smp");

    // Instance tags both ways: a peer initialised without an instance tag after reading the
    // other's file takes the tag the file gives its account.
    alice
        .command_ok(&["write-instags", &path("offrecord.instags")])
        .unwrap();
    bob.command_ok(&["write-instags", &path("libotr.instags")])
        .unwrap();
    let mut alice3 = spawn_libotr("alice3");
    alice3
        .command_ok(&["read-instags", &path("offrecord.instags")])
        .unwrap();
    let init = alice3.init("alice", PROTOCOL, "generate", None).unwrap();
    assert_eq!(init.ok_value("instag"), Some("11111111"));
    let mut bob3 = spawn_offrecord("bob3");
    bob3.command_ok(&["read-instags", &path("libotr.instags")])
        .unwrap();
    let init = bob3.init("bob", PROTOCOL, "generate", None).unwrap();
    assert_eq!(init.ok_value("instag"), Some("22222222"));
    for p in [&mut alice3, &mut bob3] {
        let r = p.command_ok(&["instags"]).unwrap();
        assert_eq!(r.records.len(), 1, "{r:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
