//! Two `otr-peer` processes talking to each other through the peer protocol.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::*;
use libotr_peer::relay;

#[test]
fn ake_from_either_side_and_messages_both_ways() {
    let mut alice = offrecord("alice", "11111111");
    let mut bob = offrecord("bob", "22222222");
    let relayed = query_and_check(&mut alice, &mut bob);
    let alice_fp = alice.command_ok(&["fingerprint"]).unwrap();
    let bob_fp = bob.command_ok(&["fingerprint"]).unwrap();
    assert_eq!(
        relayed.at_a.events("new_fingerprint"),
        [["bob", bob_fp.ok_value("hex").unwrap()]]
    );
    assert_eq!(
        relayed.at_b.events("new_fingerprint"),
        [["alice", alice_fp.ok_value("hex").unwrap()]]
    );
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "0");
    assert_eq!(status(&mut alice, "bob", "trust"), "-");

    let sent = send_and_check(&mut alice, &mut bob, "hello bob");
    assert!(sent.wires()[0].1.starts_with("?OTR:AAMD"), "{sent:?}");
    send_and_check(&mut bob, &mut alice, "hello alice");
    send_and_check(&mut alice, &mut bob, AWKWARD);
    send_and_check(&mut bob, &mut alice, AWKWARD);

    // A new AKE over the encrypted session, started by the other side: still secure, and the
    // conversation goes on under the new keys.
    bob.command_ok(&["query", "alice"]).unwrap();
    let relayed = relay(&mut bob, &mut alice).unwrap();
    assert_eq!(relayed.at_a.events("still_secure").len(), 1, "{relayed:?}");
    assert_eq!(relayed.at_b.events("still_secure").len(), 1, "{relayed:?}");
    assert!(relayed.at_a.events("gone_secure").is_empty());
    assert_encrypted_pair(&mut alice, &mut bob);
    send_and_check(&mut alice, &mut bob, "after the second AKE");
    send_and_check(&mut bob, &mut alice, "still here");

    // A fresh pair where the other side asks first.
    let mut carol = offrecord("carol", "33333333");
    let mut dave = offrecord("dave", "44444444");
    query_and_check(&mut dave, &mut carol);
    send_and_check(&mut carol, &mut dave, "hi dave");
    send_and_check(&mut dave, &mut carol, "hi carol");

    alice.quit().unwrap();
    bob.quit().unwrap();
}

#[test]
fn fragmented_ake_and_messages() {
    let mut alice = offrecord("alice", "00000100");
    let mut bob = offrecord("bob", "ffffffff");
    alice.command_ok(&["fragsize", "60"]).unwrap();
    bob.command_ok(&["fragsize", "60"]).unwrap();

    let query = alice.command_ok(&["query", "bob"]).unwrap();
    assert_eq!(query.wires().len(), 1, "queries are not fragmented");
    alice.take_outbox();
    let mut to_bob = query.wires();
    // Carry the AKE by hand to check every fragment's size.
    let mut to_alice = Vec::new();
    let mut rounds = 0;
    while !to_bob.is_empty() || !to_alice.is_empty() {
        rounds += 1;
        assert!(rounds < 10, "the AKE does not finish");
        for (_, m) in to_bob.drain(..) {
            let r = bob.command_ok(&["recv", "alice", m.as_str()]).unwrap();
            to_alice.extend(r.wires());
        }
        bob.take_outbox();
        for (_, m) in to_alice.drain(..) {
            let r = alice.command_ok(&["recv", "bob", m.as_str()]).unwrap();
            to_bob.extend(r.wires());
        }
        alice.take_outbox();
        let all: Vec<_> = to_bob.iter().chain(&to_alice).collect();
        assert!(all.iter().all(|(_, m)| m.len() <= 60), "{all:?}");
        if rounds == 1 {
            assert!(to_bob.len() > 3, "the D-H Key is fragmented: {to_bob:?}");
        }
    }
    assert_encrypted_pair(&mut alice, &mut bob);

    let long: String = (0..40).map(|i| format!("word{i} ")).collect();
    both_ways(&mut alice, &mut bob, |from, to| {
        let sent = send_and_check(from, to, &long);
        let wires = sent.wires();
        assert!(wires.len() > 5, "{wires:?}");
        assert!(
            wires
                .iter()
                .all(|(_, m)| m.len() <= 60 && m.starts_with("?OTR|")),
            "{wires:?}"
        );
    });

    // Back to whole messages.
    alice.command_ok(&["fragsize", "0"]).unwrap();
    let sent = send_and_check(&mut alice, &mut bob, &long);
    assert_eq!(sent.wires().len(), 1);
}

#[test]
fn extra_symmetric_key_agrees() {
    let mut alice = offrecord("alice", "11111111");
    let mut bob = offrecord("bob", "22222222");
    query_and_check(&mut alice, &mut bob);
    both_ways(&mut alice, &mut bob, |from, to| {
        let from_name = from.account().unwrap().to_owned();
        let usedata = (from_name == "alice").then_some("file.txt");
        let to_name = to.account().unwrap().to_owned();
        let mut command = vec!["symkey", to_name.as_str(), "0x10"];
        command.extend(usedata);
        let reply = from.command_ok(&command).unwrap();
        let key = reply.ok_value("key").unwrap().to_owned();
        assert_eq!(key.len(), 64);
        assert_eq!(reply.wires().len(), 1);
        let relayed = relay(from, to).unwrap();
        let usedata_hex = hex::encode(usedata.unwrap_or_default());
        assert_eq!(
            relayed.at_b.events("symkey"),
            [vec![
                from_name.clone(),
                "16".into(),
                usedata_hex.clone(),
                key
            ]]
        );
        let tlvs = relayed.at_b.tlvs();
        assert_eq!(tlvs.len(), 1);
        assert_eq!(tlvs[0].tlv_type, 8);
        assert_eq!(tlvs[0].data_hex, format!("00000010{usedata_hex}"));
        assert!(relayed.at_b.deliveries().is_empty());
    });
    // Not without an encrypted session.
    let mut carol = offrecord("carol", "33333333");
    let refused = carol.command(&["symkey", "alice", "1"]).unwrap();
    assert_eq!(refused.reason(), Some("no encrypted session with alice"));
}

#[test]
fn disconnect_finishes_the_other_side() {
    let mut alice = offrecord("alice", "11111111");
    let mut bob = offrecord("bob", "22222222");
    query_and_check(&mut alice, &mut bob);

    alice.command_ok(&["disconnect", "bob"]).unwrap();
    let relayed = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(relayed.a_to_b, 1);
    assert_eq!(
        relayed.at_b.events("gone_insecure"),
        [["alice", "11111111"]]
    );
    assert!(
        relayed.at_b.tlvs().iter().any(|t| t.tlv_type == 1),
        "{relayed:?}"
    );
    assert_eq!(status(&mut alice, "bob", "msgstate"), "plaintext");
    assert_eq!(status(&mut bob, "alice", "msgstate"), "finished");

    // bob may not write into the ended conversation.
    let sent = bob.command(&["send", "alice", "anyone there?"]).unwrap();
    assert!(!sent.ok);
    assert!(sent.wires().is_empty(), "{sent:?}");
    assert_eq!(sent.events("msg"), [["alice", "CONNECTION_ENDED", "", "0"]]);

    // bob ends it too; then a new AKE works again.
    bob.command_ok(&["disconnect", "alice"]).unwrap();
    assert!(
        bob.take_outbox().is_empty(),
        "nothing to send from FINISHED"
    );
    assert_eq!(status(&mut bob, "alice", "msgstate"), "plaintext");
    let relayed = query_and_check(&mut bob, &mut alice);
    assert!(
        relayed.at_a.events("new_fingerprint").is_empty(),
        "{relayed:?}"
    );
    send_and_check(&mut alice, &mut bob, "again");
}

#[test]
fn save_and_load_in_a_new_process_continue_the_conversation() {
    let dir = temp_dir("save-load");
    let keyfile = dir.join("otr.private_key");
    let state = dir.join("alice.state");
    let (keyfile, state) = (field(&keyfile), field(&state));

    let mut alice = spawn_offrecord("alice");
    init(&mut alice, "alice", keyfile, "11111111");
    let mut bob = offrecord("bob", "22222222");
    query_and_check(&mut alice, &mut bob);
    send_and_check(&mut alice, &mut bob, "before the save");
    send_and_check(&mut bob, &mut alice, "reply before the save");
    let ssid = status(&mut alice, "bob", "ssid");

    alice.command_ok(&["save", state]).unwrap();
    // alice goes on after saving: the restored state must not reuse these counters.
    send_and_check(&mut alice, &mut bob, "after the save, before the crash");
    send_and_check(&mut alice, &mut bob, "another one");
    // bob writes while alice is down; the message waits in bob's outbox.
    bob.command_ok(&["send", "alice", "while you were away"])
        .unwrap();
    drop(alice);

    let mut alice = spawn_offrecord("alice2");
    // Same key file (same account): the key is read back, not generated.
    init(&mut alice, "alice", keyfile, "11111111");
    let loaded = alice.command_ok(&["load", state]).unwrap();
    assert_eq!(loaded.ok_value("instag"), Some("11111111"));
    assert_eq!(status(&mut alice, "bob", "msgstate"), "encrypted");
    assert_eq!(status(&mut alice, "bob", "ssid"), ssid);

    let relayed = relay(&mut bob, &mut alice).unwrap();
    assert_delivered_once(&relayed.at_b, "bob", "while you were away");
    send_and_check(&mut alice, &mut bob, "after the load");
    send_and_check(&mut bob, &mut alice, "welcome back");
    send_and_check(&mut alice, &mut bob, "and once more");
    assert_encrypted_pair(&mut alice, &mut bob);

    // A second process loading the same state again gets the same identity.
    let mut again = spawn_offrecord("alice3");
    let loaded = again.command_ok(&["load", state]).unwrap();
    assert_eq!(loaded.ok_value("instag"), Some("11111111"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SMP between two `otr-peer` processes, with the answering process saved, killed and loaded
/// again between the request and its answer, and the asking one between the answer and the
/// outcome.
#[test]
fn smp_survives_a_save_and_load_in_the_middle_of_a_run() {
    let dir = temp_dir("smp-save-load");
    let (alice_state, bob_state) = (dir.join("alice.state"), dir.join("bob.state"));
    let (alice_state, bob_state) = (field(&alice_state), field(&bob_state));
    let question = "Wie heißt der Hund? 🐕";

    let mut alice = offrecord("alice", "11111111");
    let mut bob = offrecord("bob", "22222222");
    query_and_check(&mut alice, &mut bob);
    alice
        .command_ok(&["smp", "bob", "Bello", question])
        .unwrap();
    let relayed = relay(&mut alice, &mut bob).unwrap();
    assert_eq!(
        relayed.at_b.events("smp"),
        [["alice", "ASK_FOR_ANSWER", "25", question]]
    );
    bob.command_ok(&["save", bob_state]).unwrap();
    drop(bob);

    let mut bob = spawn_offrecord("bob2");
    bob.command_ok(&["load", bob_state]).unwrap();
    assert_eq!(status(&mut bob, "alice", "smp_expect"), "0");
    bob.command_ok(&["smp-respond", "alice", "Bello"]).unwrap();
    assert_eq!(status(&mut bob, "alice", "smp_expect"), "2");
    // alice takes the SMP2 and answers with SMP3, then is saved and replaced.
    let smp2 = bob.take_outbox();
    for (_, message) in smp2 {
        alice.command_ok(&["recv", "bob", &message]).unwrap();
    }
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "3");
    alice.command_ok(&["save", alice_state]).unwrap();
    let smp3 = alice.take_outbox();
    drop(alice);
    let mut alice = spawn_offrecord("alice2");
    alice.command_ok(&["load", alice_state]).unwrap();
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "3");
    let mut outcome = Vec::new();
    for (_, message) in smp3 {
        let r = bob.command_ok(&["recv", "alice", &message]).unwrap();
        outcome.extend(r.events("smp"));
    }
    assert_eq!(outcome, [["alice", "SUCCESS", "100"]]);
    // The loaded processes have no account until init; relay needs one to address messages.
    let smp4 = bob.take_outbox();
    for (_, message) in smp4 {
        let r = alice.command_ok(&["recv", "bob", &message]).unwrap();
        assert_eq!(r.events("smp"), [["bob", "SUCCESS", "100"]]);
    }
    // The asker trusts the answer; the answering side of a question records nothing.
    let alice_view = alice.command_ok(&["peer-fingerprint", "bob"]).unwrap();
    assert_eq!(alice_view.ok_value("trust"), Some("smp"));
    let bob_view = bob.command_ok(&["peer-fingerprint", "alice"]).unwrap();
    assert_eq!(bob_view.ok_value("trust"), Some("-"));
    assert_eq!(status(&mut alice, "bob", "smp_expect"), "0");
    assert_eq!(status(&mut bob, "alice", "smp_expect"), "0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_file_is_written_and_reused() {
    let dir = temp_dir("keyfile");
    let keyfile = dir.join("otr.private_key");
    let keyfile = field(&keyfile);
    let mut first = spawn_offrecord("first");
    let made = first.init("alice", PROTOCOL, keyfile, None).unwrap();
    let text = std::fs::read_to_string(keyfile).unwrap();
    assert!(text.starts_with("(privkeys"), "{text}");
    assert_ne!(made.ok_value("instag"), None);

    let mut other = spawn_offrecord("other");
    let other_made = other.init("bob", PROTOCOL, keyfile, None).unwrap();
    assert_ne!(
        made.ok_value("fingerprint"),
        other_made.ok_value("fingerprint")
    );

    let mut second = spawn_offrecord("second");
    let read = second.init("alice", PROTOCOL, keyfile, None).unwrap();
    assert_eq!(made.ok_value("fingerprint"), read.ok_value("fingerprint"));
    // libotr reads the file we wrote.
    let mut libotr = spawn_libotr("libotr");
    let by_libotr = libotr.init("bob", PROTOCOL, keyfile, None).unwrap();
    assert_eq!(
        other_made.ok_value("fingerprint"),
        by_libotr.ok_value("fingerprint")
    );
    // We read a key libotr generated and wrote into the file (with the two it read).
    let mut libotr = spawn_libotr("libotr2");
    let carol = libotr.init("carol", PROTOCOL, keyfile, None).unwrap();
    let mut ours = spawn_offrecord("carol");
    let read = ours.init("carol", PROTOCOL, keyfile, None).unwrap();
    assert_eq!(carol.ok_value("fingerprint"), read.ok_value("fingerprint"));
    let mut ours = spawn_offrecord("alice again");
    let read = ours.init("alice", PROTOCOL, keyfile, None).unwrap();
    assert_eq!(made.ok_value("fingerprint"), read.ok_value("fingerprint"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seeded_runs_are_reproducible() {
    let fingerprint = || {
        let mut p = spawn_offrecord("seeded");
        p.command_ok(&["seed", "7"]).unwrap();
        let init = p.init("alice", PROTOCOL, "generate", None).unwrap();
        (
            init.ok_value("fingerprint").unwrap().to_owned(),
            init.ok_value("instag").unwrap().to_owned(),
        )
    };
    assert_eq!(fingerprint(), fingerprint());
    let mut p = spawn_offrecord("unseeded");
    p.command_ok(&["seed", "7"]).unwrap();
    p.command_ok(&["seed", "off"]).unwrap();
    let init = p.init("alice", PROTOCOL, "generate", None).unwrap();
    assert_ne!(init.ok_value("fingerprint").unwrap(), fingerprint().0);
}

#[test]
fn plaintext_policies() {
    let mut alice = offrecord("alice", "11111111");
    let mut bob = offrecord("bob", "22222222");
    // Manual (the default): plaintext goes out unchanged and arrives as plain.
    let sent = alice.command_ok(&["send", "bob", "just text"]).unwrap();
    assert_eq!(sent.wires(), [("bob".to_owned(), "just text".to_owned())]);
    let relayed = relay(&mut alice, &mut bob).unwrap();
    let d = relayed.at_b.deliveries();
    assert_eq!(
        (d[0].text.as_str(), d[0].origin),
        ("just text", libotr_peer::Origin::Plain)
    );
    assert_eq!(status(&mut bob, "alice", "msgstate"), "plaintext");
    assert_eq!(status(&mut bob, "carol", "msgstate"), "none");

    // Opportunistic on both sides: the whitespace tag starts the AKE.
    alice.command_ok(&["policy", "opportunistic"]).unwrap();
    bob.command_ok(&["policy", "v2,v3,whitespace,wsstart,errstart"])
        .unwrap();
    alice.command_ok(&["send", "bob", "tagged"]).unwrap();
    let relayed = relay(&mut alice, &mut bob).unwrap();
    let d = relayed.at_b.deliveries();
    assert_eq!(
        (d[0].text.as_str(), d[0].origin),
        ("tagged", libotr_peer::Origin::Otr)
    );
    assert_encrypted_pair(&mut alice, &mut bob);

    // Always: nothing leaves in the clear before the AKE.
    let mut carol = offrecord("carol", "33333333");
    carol.command_ok(&["policy", "always"]).unwrap();
    let sent = carol.command_ok(&["send", "alice", "secret"]).unwrap();
    assert_eq!(sent.events("msg")[0][1], "ENCRYPTION_REQUIRED");
    assert!(
        sent.wires().iter().all(|(_, m)| !m.contains("secret")),
        "{sent:?}"
    );
}

#[test]
fn commands_fail_cleanly() {
    let mut p = spawn_offrecord("p");
    for bad in [
        vec!["nonsense"],
        vec!["send", "bob", "hi"],
        vec!["status", "bob"],
        vec!["init", "x", "y"],
        vec!["init", "x", "y", "generate", "ff"],
        vec!["init", "", "y", "generate"],
        vec!["policy", "sometimes"],
        vec!["fragsize", "-5"],
        vec!["seed", "x"],
        vec!["sleep", "soon"],
        vec!["load", "/nonexistent/otr-peer-state"],
    ] {
        let reply = p.command(&bad).unwrap();
        assert!(!reply.ok, "{bad:?} -> {reply:?}");
        assert!(!reply.reason().unwrap_or_default().is_empty());
    }
    init(&mut p, "alice", "generate", "00000abc");
    for bad in [
        vec!["init", "alice", PROTOCOL, "generate"],
        vec!["send", "bob"],
        vec!["symkey", "bob", "one"],
        vec!["symkey", "bob", "1"],
        vec!["peer-fingerprint", "nobody"],
        vec!["trust", "nobody"],
        vec!["save", "/nonexistent/dir/state"],
    ] {
        let reply = p.command(&bad).unwrap();
        assert!(!reply.ok, "{bad:?} -> {reply:?}");
    }
    for smp in [
        vec!["smp", "bob", "secret"],
        vec!["smp", "bob", "secret", "question?"],
        vec!["smp-respond", "bob", "secret"],
        vec!["smp-abort", "bob"],
    ] {
        // SMP runs only in an encrypted session.
        let reply = p.command(&smp).unwrap();
        assert_eq!(
            reply.reason(),
            Some("no encrypted session with bob"),
            "{smp:?}"
        );
    }
    for garbage in [
        "?OTR:AAMD",
        "?OTR:AAMDxxxx.",
        "?OTR|1|2,3",
        "?OTR|00000100|00000abc,00001,00002,abc,",
        "?OTR Error: oops",
        "?OTR:%%%.",
        "?OTRv23?",
        "",
    ] {
        p.command_ok(&["recv", "bob", garbage]).unwrap();
    }
    p.command_ok(&["sleep", "3600"]).unwrap();
    p.command_ok(&["poll"]).unwrap();
    assert_eq!(
        p.command_ok(&["echo", AWKWARD]).unwrap().fields,
        ["echo", AWKWARD]
    );
    p.quit().unwrap();
}

#[test]
fn raw_lines_never_crash_the_peer() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let mut child = Command::new(OTR_PEER_BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut read_line = || {
        let mut line = Vec::new();
        stdout.read_until(b'\n', &mut line).unwrap();
        line
    };
    assert!(read_line().starts_with(b"ready\t"));
    let inputs: &[&[u8]] = &[
        b"echo \xff\xfe\xc3(",
        b"echo\t\\xff\\x00\\x7f",
        b"\xff\xff",
        b"\t\t\t",
        b"echo\t\\",
        b"echo\t\\x4",
        b"echo\t\\q",
        b"init\talice\tprpl\tgenerate\t\\xff",
        b"init alice prpl generate 100",
        b"recv bob \x00\x01\x02\xff?OTR:\xff.",
        b"send\tbob\t\xff\xfe",
        b"echo \\\\ \\t",
        b"echo with\r",
    ];
    for input in inputs {
        stdin.write_all(input).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        // Records up to and including one ok/err, each a single line of valid UTF-8.
        loop {
            let line = read_line();
            assert!(line.ends_with(b"\n"), "{input:?}: the peer died");
            let text = std::str::from_utf8(&line).expect("records are UTF-8");
            let kind = text.split('\t').next().unwrap();
            if kind == "ok" || kind == "err" {
                break;
            }
        }
    }
    stdin.write_all(b"echo \\\\ \\t\nquit\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(read_line(), b"ok\techo\t\\\\ \\t\n");
    assert_eq!(read_line(), b"ok\tquit\n");
    assert!(child.wait().unwrap().success());
}
