//! Two accounts in separate homes on one spool, driven through the binary by hand: start,
//! accept, messages both ways while the other side is offline, verification, close, read-only
//! afterwards, and no plaintext left in any file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Net, event_names};

const FROM_ALICE: [&str; 2] = [
    "plaintext-from-alice: meet at the old mill",
    "plaintext-from-alice: bring the map",
];
const FROM_BOB: &str = "plaintext-from-bob: see you there";

#[test]
fn lifecycle_on_the_spool_by_hand() {
    let net = Net::new();
    // Both homes in one directory: they share the default spool next to them.
    net.init("alice", "alice@example.org");
    net.init("bob", "bob@example.org");
    let spool = net.json("alice", &["whoami"])["spool"].clone();
    assert_eq!(net.json("bob", &["whoami"])["spool"], spool);
    assert!(spool.as_str().unwrap().ends_with("offrecord-spool"));
    net.exchange_cards("alice", "bob");
    let contacts = net.json("alice", &["contacts"]);
    assert_eq!(contacts["contacts"][0]["address"], "bob@example.org");

    // Start: pending on alice's side, with the reason.
    let started = net.json("alice", &["otr", "start", "bob@example.org"]);
    let ca = started["chat"].as_i64().unwrap().to_string();
    let shown = net.show("alice", &ca);
    assert_eq!(shown["state"], "pending");
    assert_eq!(
        shown["cant_send_reason"],
        "waiting for the contact to accept the invitation"
    );

    // The invitation travels; bob accepts; the key exchange runs by mail.
    net.sync("alice");
    let report = net.sync("bob");
    assert_eq!(event_names(&[report]), ["invitation_received"]);
    let cb = net.otr_chat("bob", "invited");
    net.ok("bob", &["otr", "accept", &cb]);
    let reports = net.settle(&["bob", "alice"]);
    assert!(!event_names(&reports).contains(&"ignored".to_owned()));
    for (home, chat) in [("alice", &ca), ("bob", &cb)] {
        let shown = net.show(home, chat);
        assert_eq!(shown["state"], "active", "{home}");
        assert_eq!(shown["can_send"], true);
        assert_eq!(shown["verification"], "chat_key");
    }

    // Bob is offline (does not sync) while alice writes.
    for text in FROM_ALICE {
        net.ok("alice", &["send", &ca, text]);
    }
    let report = net.sync("alice");
    assert_eq!(report["sent"], 2);
    let report = net.sync("bob");
    let texts: Vec<_> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, FROM_ALICE);
    assert_eq!(net.unread("bob", &cb), 2);
    let text = net.ok("bob", &["show", &cb]);
    assert!(text.contains(&format!("alice@example.org: {}", FROM_ALICE[1])));
    assert_eq!(net.unread("bob", &cb), 0, "show marks the messages seen");

    // Now alice is offline while bob answers.
    net.ok("bob", &["send", &cb, FROM_BOB]);
    net.sync("bob");
    net.sync("alice");
    let history = net.show("alice", &ca)["messages"].clone();
    let texts: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] != "info")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, [FROM_ALICE[0], FROM_ALICE[1], FROM_BOB]);

    // Both sides show the same session id words; the fingerprints match what each device says
    // of itself.
    let (sa, sb) = (net.show("alice", &ca), net.show("bob", &cb));
    assert_eq!(sa["ssid"]["words"], sb["ssid"]["words"]);
    assert_eq!(sa["ssid"]["words"].as_str().unwrap().split(' ').count(), 8);
    assert_ne!(sa["ssid"]["bold_half"], sb["ssid"]["bold_half"]);
    assert_eq!(
        sa["their_fingerprint"],
        net.json("bob", &["whoami"])["otr_fingerprint"]
    );
    assert_eq!(
        sb["their_fingerprint"],
        net.json("alice", &["whoami"])["otr_fingerprint"]
    );

    // Verification: by fingerprint on alice's side ...
    let verified = net.json("alice", &["verify", &ca, "--fingerprint"]);
    assert_eq!(verified["verification"], "fingerprint");
    // ... and with SMP from bob's side: a wrong answer fails, the right one verifies.
    for (answer, expect) in [("the new mill", "failed"), ("the old mill", "smp")] {
        net.ok(
            "bob",
            &[
                "verify",
                &cb,
                "--secret",
                "the old mill",
                "--question",
                "Where?",
            ],
        );
        net.sync("bob");
        let asked = net.sync("alice");
        assert_eq!(asked["events"][0]["event"], "smp_request", "{asked}");
        assert_eq!(asked["events"][0]["question"], "Where?");
        net.ok("alice", &["verify", &ca, "--answer", answer]);
        let reports = net.settle(&["alice", "bob"]);
        let results: Vec<_> = reports
            .iter()
            .flat_map(|r| r["events"].as_array().unwrap().clone())
            .filter(|e| e["event"] == "verification")
            .collect();
        assert_eq!(results.len(), 2, "both sides learn the result: {reports:?}");
        if expect == "smp" {
            assert_eq!(net.show("bob", &cb)["verification"], "smp");
            assert_eq!(net.show("alice", &ca)["verification"], "smp");
        } else {
            assert!(
                results
                    .iter()
                    .all(|e| e["text"].as_str().unwrap().contains(expect)),
                "{results:?}"
            );
            assert_eq!(net.show("bob", &cb)["verification"], "chat_key");
        }
    }

    // Before closing, the history is on disk (so the scan below can see plaintext).
    let mut needles: Vec<&str> = FROM_ALICE.to_vec();
    needles.push(FROM_BOB);
    assert!(!net.files_containing("alice", &needles).is_empty());

    // Close: read-only on both sides, with the reason.
    net.ok("alice", &["otr", "close", &ca]);
    net.settle(&["alice", "bob"]);
    for (home, chat, by) in [("alice", &ca, "by you"), ("bob", &cb, "by the contact")] {
        let shown = net.show(home, chat);
        assert_eq!(shown["state"], "closed");
        let err = net.fails(home, &["send", chat, "one more thing"]);
        assert_eq!(
            err,
            format!("You cannot write in this chat: the chat was closed {by}; it is read-only.")
        );
    }

    // Erasure: the plaintext is in no file of either home.
    for home in ["alice", "bob"] {
        let hits = net.files_containing(home, &needles);
        assert!(hits.is_empty(), "{home}: {hits:?}");
    }
}

#[test]
fn ordinary_one_to_one_chat_by_address() {
    let net = Net::new();
    net.init("alice", "alice@example.org");
    net.init("bob", "bob@example.org");
    net.exchange_cards("alice", "bob");
    net.ok("alice", &["send", "bob@example.org", "hello", "bob"]);
    net.sync("alice");
    let report = net.sync("bob");
    assert_eq!(report["events"][0]["event"], "incoming_message");
    assert_eq!(report["events"][0]["text"], "hello bob");
    let chats = net.chats("bob");
    assert_eq!(chats[0]["kind"], "one_to_one");
    assert_eq!(chats[0]["unread"], 1);
}
