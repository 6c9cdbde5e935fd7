//! libotr against libotr through the peer protocol: proves the wrapper (`libotr_peer.c`) and the
//! driver before they are used to judge Offrecord.

// Test code: a failed unwrap or index is a failed test. (clippy.toml allows these inside #[test]
// functions only, and the helpers below are plain functions.)
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use libotr_peer::{Origin, PeerProcess, Reply, relay};

const PROTOCOL: &str = "prpl-test";

fn peer(account: &str, instag: &str) -> PeerProcess {
    let mut p = PeerProcess::libotr().unwrap();
    p.set_label(account);
    let init = p.init(account, PROTOCOL, "generate", Some(instag)).unwrap();
    assert_eq!(init.ok_value("instag"), Some(instag));
    let human = init.ok_value("fingerprint").unwrap();
    assert_eq!(human.len(), 44, "{human:?}");
    p
}

/// Two peers with an encrypted session, started by alice's query.
fn encrypted_pair() -> (PeerProcess, PeerProcess) {
    let mut alice = peer("alice", "11111111");
    let mut bob = peer("bob", "22222222");
    let query = alice.command_ok(&["query", "bob"]).unwrap();
    let wires = query.wires();
    assert_eq!(wires.len(), 1);
    assert!(wires[0].1.starts_with("?OTRv23?"), "{:?}", wires[0].1);
    let relayed = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(relayed.at_a.events("gone_secure"), [["bob", "22222222"]]);
    assert_eq!(relayed.at_b.events("gone_secure"), [["alice", "11111111"]]);
    (alice, bob)
}

fn status(p: &mut PeerProcess, peer: &str, key: &str) -> String {
    p.status(peer).unwrap().ok_value(key).unwrap().to_owned()
}

fn send_and_relay(from: &mut PeerProcess, to: &mut PeerProcess, text: &str) -> (Reply, Reply) {
    let peer = to.account().unwrap().to_owned();
    let sent = from.command_ok(&["send", peer.as_str(), text]).unwrap();
    let relayed = relay(from, to).unwrap().at_b;
    (sent, relayed)
}

fn assert_delivered(at: &Reply, from: &str, text: &str) {
    let d = at.deliveries();
    assert_eq!(d.len(), 1, "{at:?}");
    assert_eq!(d[0].peer, from);
    assert_eq!(d[0].text, text);
    assert_eq!(d[0].origin, Origin::Otr);
}

#[test]
fn full_session() {
    let (mut alice, mut bob) = encrypted_pair();

    // Both sides agree on the session.
    for (p, other, their) in [
        (&mut alice, "bob", "22222222"),
        (&mut bob, "alice", "11111111"),
    ] {
        assert_eq!(status(p, other, "msgstate"), "encrypted");
        assert_eq!(status(p, other, "version"), "3");
        assert_eq!(status(p, other, "their_instag"), their);
        assert_eq!(status(p, other, "trust"), "-");
        assert_eq!(status(p, other, "smp_expect"), "0");
    }
    let ssid = status(&mut alice, "bob", "ssid");
    assert_eq!(ssid.len(), 16);
    assert_eq!(ssid, status(&mut bob, "alice", "ssid"));
    let alice_fp = alice.command_ok(&["fingerprint"]).unwrap();
    let bob_sees = bob.command_ok(&["peer-fingerprint", "alice"]).unwrap();
    assert_eq!(alice_fp.ok_value("hex"), bob_sees.ok_value("hex"));
    assert_eq!(
        status(&mut bob, "alice", "fingerprint"),
        alice_fp.ok_value("hex").unwrap()
    );

    // Messages both ways, with characters that need escaping.
    let (sent, at_bob) = send_and_relay(&mut alice, &mut bob, "hello bob\twith tab\nand ü");
    assert!(sent.wires()[0].1.starts_with("?OTR:AAMD"), "{sent:?}");
    assert_delivered(&at_bob, "alice", "hello bob\twith tab\nand ü");
    let (_, at_alice) = send_and_relay(&mut bob, &mut alice, "hello alice");
    assert_delivered(&at_alice, "bob", "hello alice");

    // Fragmented: every wire message fits in 100 bytes and the text arrives whole.
    alice.command_ok(&["fragsize", "100"]).unwrap();
    bob.command_ok(&["fragsize", "100"]).unwrap();
    let long: String = (0..40).map(|i| format!("word{i} ")).collect();
    let (sent, at_bob) = send_and_relay(&mut alice, &mut bob, &long);
    let wires = sent.wires();
    assert!(wires.len() > 3, "{wires:?}");
    assert!(
        wires
            .iter()
            .all(|(_, m)| m.len() <= 100 && m.starts_with("?OTR|")),
        "{wires:?}"
    );
    assert_delivered(&at_bob, "alice", &long);
    let (_, at_alice) = send_and_relay(&mut bob, &mut alice, &long);
    assert_delivered(&at_alice, "bob", &long);

    // SMP with the same secret succeeds on both sides (fragmented too). smp_expect is libotr's
    // NextExpectedSMP: 0 = EXPECT1 (idle, and also Bob holding SMP1 until his user answers),
    // 1 = EXPECT2 (Alice sent SMP1), 2 = EXPECT3 (Bob sent SMP2), 3 = EXPECT4 (Alice sent SMP3).
    alice.command_ok(&["smp", "bob", "our secret"]).unwrap();
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "1");
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(r.at_b.events("smp"), [["alice", "ASK_FOR_SECRET", "25"]]);
    assert_eq!(status(&mut bob, "alice", "smp_expect"), "0");
    bob.command_ok(&["smp-respond", "alice", "our secret"])
        .unwrap();
    assert_eq!(status(&mut bob, "alice", "smp_expect"), "2");
    let smp2 = bob.take_outbox();
    for (_, m) in &smp2 {
        alice.command_ok(&["recv", "bob", m]).unwrap();
    }
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "3");
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(
        r.at_a.events("smp").last().unwrap(),
        &["bob", "SUCCESS", "100"]
    );
    assert_eq!(
        r.at_b.events("smp").last().unwrap(),
        &["alice", "SUCCESS", "100"]
    );
    // libotr marks the fingerprint as trusted ("smp") on a successful SMP without a question.
    for (p, other) in [(&mut alice, "bob"), (&mut bob, "alice")] {
        assert_eq!(status(p, other, "smp_expect"), "0");
        assert_eq!(status(p, other, "trust"), "smp");
    }

    // The extra symmetric key is the same on both sides.
    let key = alice
        .command_ok(&["symkey", "bob", "1", "file.txt"])
        .unwrap();
    let key = key.ok_value("key").unwrap().to_owned();
    assert_eq!(key.len(), 64);
    let r = relay(&mut alice, &mut bob).unwrap();
    let usedata = "file.txt"
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert_eq!(
        r.at_b.events("symkey"),
        [vec!["alice".to_owned(), "1".into(), usedata, key]]
    );

    // Disconnect: alice is back to plaintext, bob is told the session ended.
    alice.command_ok(&["disconnect", "bob"]).unwrap();
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(r.a_to_b, 1);
    assert!(r.at_b.tlvs().iter().any(|t| t.tlv_type == 1), "{r:?}");
    assert_eq!(status(&mut alice, "bob", "msgstate"), "plaintext");
    assert_eq!(status(&mut bob, "alice", "msgstate"), "finished");

    // bob can no longer send: libotr refuses and reports it.
    let sent = bob.command(&["send", "alice", "anyone there?"]).unwrap();
    assert!(sent.wires().is_empty(), "{sent:?}");
    assert_eq!(sent.events("msg")[0][1], "CONNECTION_ENDED", "{sent:?}");

    alice.quit().unwrap();
    bob.quit().unwrap();
}

#[test]
fn smp_wrong_secret_and_question() {
    let (mut alice, mut bob) = encrypted_pair();

    bob.command_ok(&["smp", "alice", "blue", "favourite colour?"])
        .unwrap();
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(
        r.at_a.events("smp"),
        [["bob", "ASK_FOR_ANSWER", "25", "favourite colour?"]]
    );
    alice.command_ok(&["smp-respond", "bob", "green"]).unwrap();
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(
        r.at_a.events("smp").last().unwrap(),
        &["bob", "FAILURE", "100"]
    );
    assert_eq!(
        r.at_b.events("smp").last().unwrap(),
        &["alice", "FAILURE", "100"]
    );
    assert_eq!(status(&mut alice, "bob", "trust"), "-");
    assert_eq!(status(&mut bob, "alice", "trust"), "-");

    // The right answer: only the asker's side marks the fingerprint trusted.
    bob.command_ok(&["smp", "alice", "blue", "favourite colour?"])
        .unwrap();
    relay(&mut alice, &mut bob).unwrap();
    alice.command_ok(&["smp-respond", "bob", "blue"]).unwrap();
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(
        r.at_a.events("smp").last().unwrap(),
        &["bob", "SUCCESS", "100"]
    );
    assert_eq!(
        r.at_b.events("smp").last().unwrap(),
        &["alice", "SUCCESS", "100"]
    );
    assert_eq!(status(&mut bob, "alice", "trust"), "smp");
    assert_eq!(status(&mut alice, "bob", "trust"), "-");

    // Abort halfway: the other side hears of it.
    alice.command_ok(&["smp", "bob", "x"]).unwrap();
    relay(&mut alice, &mut bob).unwrap();
    bob.command_ok(&["smp-abort", "alice"]).unwrap();
    let r = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(r.at_a.events("smp"), [["bob", "ABORT", "0"]]);
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "0");

    // The session still works.
    let (_, at_bob) = send_and_relay(&mut alice, &mut bob, "still here");
    assert_delivered(&at_bob, "alice", "still here");
}

#[test]
fn ake_fragmented_and_trust() {
    let mut alice = peer("alice@example.org", "00000100");
    let mut bob = peer("bob@example.org", "ffffffff");
    alice.command_ok(&["fragsize", "60"]).unwrap();
    bob.command_ok(&["fragsize", "60"]).unwrap();
    alice.command_ok(&["query", "bob@example.org"]).unwrap();
    let r = relay(&mut alice, &mut bob).unwrap();
    assert!(r.a_to_b > 5 && r.b_to_a > 5, "{} {}", r.a_to_b, r.b_to_a);
    assert_eq!(
        status(&mut alice, "bob@example.org", "msgstate"),
        "encrypted"
    );
    assert_eq!(
        status(&mut bob, "alice@example.org", "their_instag"),
        "00000100"
    );

    assert_eq!(
        bob.command_ok(&["peer-fingerprint", "alice@example.org"])
            .unwrap()
            .ok_value("trust"),
        Some("-")
    );
    bob.command_ok(&["trust", "alice@example.org"]).unwrap();
    let pf = bob
        .command_ok(&["peer-fingerprint", "alice@example.org"])
        .unwrap();
    assert_eq!(pf.ok_value("trust"), Some("verified"));
    assert_eq!(status(&mut bob, "alice@example.org", "trust"), "verified");
}

#[test]
fn plaintext_and_malformed_input() {
    let mut alice = peer("alice", "11111111");
    let mut bob = peer("bob", "22222222");

    // Manual policy: plaintext goes out unchanged and arrives as plain.
    let sent = alice.command_ok(&["send", "bob", "just text"]).unwrap();
    assert_eq!(sent.wires(), [("bob".to_owned(), "just text".to_owned())]);
    let r = relay(&mut alice, &mut bob).unwrap();
    let d = r.at_b.deliveries();
    assert_eq!(
        (d[0].text.as_str(), d[0].origin),
        ("just text", Origin::Plain)
    );
    assert_eq!(status(&mut bob, "alice", "msgstate"), "plaintext");
    assert_eq!(status(&mut bob, "carol", "msgstate"), "none");

    // Bad commands get err, never a crash.
    for bad in [
        vec!["nonsense"],
        vec!["send", "bob"],
        vec!["init", "x", "y", "generate"],
        vec!["policy", "sometimes"],
        vec!["fragsize", "-5"],
        vec!["symkey", "bob", "one"],
        vec!["smp", "bob", "secret"],
        vec!["peer-fingerprint", "nobody"],
        vec!["seed", "1"],
        vec!["save", "/tmp/x"],
    ] {
        let reply = alice.command(&bad).unwrap();
        assert!(!reply.ok, "{bad:?} -> {reply:?}");
        assert!(!reply.reason().unwrap_or_default().is_empty());
    }
    for garbage in [
        "?OTR:AAMD",
        "?OTR:AAMDxxxx.",
        "?OTR|1|2,3",
        "?OTR Error: oops",
        "?OTR:%%%.",
    ] {
        alice.command_ok(&["recv", "bob", garbage]).unwrap();
    }
    assert_eq!(
        alice.command_ok(&["echo", "a\\b\tc"]).unwrap().fields,
        ["echo", "a\\b\tc"]
    );
}

#[test]
fn keyfile_is_written_and_reused() {
    let dir = std::env::temp_dir().join(format!("libotr-peer-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keyfile = dir.join("otr.private_key");
    let keyfile = keyfile.to_str().unwrap();

    let mut first = PeerProcess::libotr().unwrap();
    let made = first.init("alice", PROTOCOL, keyfile, None).unwrap();
    let text = std::fs::read_to_string(keyfile).unwrap();
    assert!(text.starts_with("(privkeys"), "{text}");
    first.quit().unwrap();

    // Another account in the same file keeps the first key.
    let mut other = PeerProcess::libotr().unwrap();
    other.init("alice2", PROTOCOL, keyfile, None).unwrap();
    drop(other);

    let mut second = PeerProcess::libotr().unwrap();
    let read = second.init("alice", PROTOCOL, keyfile, None).unwrap();
    assert_eq!(made.ok_value("fingerprint"), read.ok_value("fingerprint"));
    let fp = second.command_ok(&["fingerprint"]).unwrap();
    assert_eq!(fp.ok_value("human"), made.ok_value("fingerprint"));
    assert_eq!(
        fp.ok_value("hex").unwrap(),
        made.ok_value("fingerprint")
            .unwrap()
            .replace(' ', "")
            .to_lowercase()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
