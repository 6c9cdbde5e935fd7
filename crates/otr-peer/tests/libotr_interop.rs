//! `otr-peer` against libotr 4.1.1 (the `libotr-peer` wrapper) through the peer protocol.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::*;
use libotr_peer::relay;

#[test]
fn offrecord_queries_libotr() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    let relayed = query_and_check(&mut ours, &mut theirs);
    assert_eq!(relayed.at_a.events("new_fingerprint").len(), 1);
    assert_eq!(relayed.at_b.events("new_fingerprint").len(), 1);
    send_and_check(&mut ours, &mut theirs, "hello libotr");
    send_and_check(&mut theirs, &mut ours, "hello offrecord");
    send_and_check(&mut ours, &mut theirs, AWKWARD);
    send_and_check(&mut theirs, &mut ours, AWKWARD);
    ours.quit().unwrap();
    theirs.quit().unwrap();
}

#[test]
fn libotr_queries_offrecord() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut theirs, &mut ours);
    send_and_check(&mut theirs, &mut ours, "hello offrecord");
    send_and_check(&mut ours, &mut theirs, "hello libotr");

    // A second AKE over the encrypted session, from our side this time. libotr answers the
    // query from its master context and copies that context's PLAINTEXT state into the
    // instance's when our D-H Key arrives, so it may report gone_secure where we report
    // still_secure. Who reveals first is random: our endpoint still holds the D-H Commit it
    // made for libotr's first query, and a commit collision decides by hash.
    ours.command_ok(&["query", "bob"]).unwrap();
    let relayed = relay(&mut ours, &mut theirs).unwrap();
    let ours_saw = relayed.at_a.events("still_secure");
    assert_eq!(ours_saw.len(), 1, "{relayed:?}");
    assert_eq!(ours_saw[0][..2], ["bob", "22222222"]);
    let libotr_saw = [
        relayed.at_b.events("still_secure"),
        relayed.at_b.events("gone_secure"),
    ];
    assert_eq!(libotr_saw.concat().len(), 1, "{relayed:?}");
    assert_encrypted_pair(&mut ours, &mut theirs);
    send_and_check(&mut theirs, &mut ours, "after the second AKE");
    send_and_check(&mut ours, &mut theirs, "same here");
}

#[test]
fn fragmented_both_ways_with_libotr() {
    let mut ours = offrecord("alice", "00000100");
    let mut theirs = libotr("bob", "ffffffff");
    ours.command_ok(&["fragsize", "60"]).unwrap();
    theirs.command_ok(&["fragsize", "60"]).unwrap();
    ours.command_ok(&["query", "bob"]).unwrap();
    let relayed = relay(&mut ours, &mut theirs).unwrap();
    assert!(relayed.a_to_b > 5 && relayed.b_to_a > 5, "{relayed:?}");
    assert_encrypted_pair(&mut ours, &mut theirs);

    let long: String = (0..40).map(|i| format!("word{i} ")).collect();
    both_ways(&mut ours, &mut theirs, |from, to| {
        let sent = send_and_check(from, to, &long);
        let wires = sent.wires();
        assert!(wires.len() > 5, "{wires:?}");
        assert!(wires.iter().all(|(_, m)| m.len() <= 60), "{wires:?}");
    });
}

#[test]
fn extra_symmetric_key_with_libotr() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut ours, &mut theirs);
    both_ways(&mut ours, &mut theirs, |from, to| {
        let from_name = from.account().unwrap().to_owned();
        let to_name = to.account().unwrap().to_owned();
        let key = from
            .command_ok(&["symkey", to_name.as_str(), "1", "file.txt"])
            .unwrap()
            .ok_value("key")
            .unwrap()
            .to_owned();
        let relayed = relay(from, to).unwrap();
        assert_eq!(
            relayed.at_b.events("symkey"),
            [vec![
                from_name.clone(),
                "1".into(),
                hex::encode("file.txt"),
                key
            ]]
        );
    });
}

#[test]
fn disconnect_with_libotr() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut ours, &mut theirs);

    // We end it: libotr is told (it has no gone_insecure callback for this; it reports the
    // TLV-only message as a heartbeat and hands over the TLV).
    ours.command_ok(&["disconnect", "bob"]).unwrap();
    let relayed = relay(&mut ours, &mut theirs).unwrap();
    assert!(
        relayed.at_b.tlvs().iter().any(|t| t.tlv_type == 1),
        "{relayed:?}"
    );
    assert_eq!(status(&mut ours, "bob", "msgstate"), "plaintext");
    assert_eq!(status(&mut theirs, "alice", "msgstate"), "finished");

    // libotr ends it: we are told.
    theirs.command_ok(&["disconnect", "alice"]).unwrap();
    query_and_check(&mut theirs, &mut ours);
    theirs.command_ok(&["disconnect", "alice"]).unwrap();
    let relayed = relay(&mut theirs, &mut ours).unwrap();
    assert_eq!(relayed.at_b.events("gone_insecure"), [["bob", "22222222"]]);
    assert_eq!(status(&mut ours, "bob", "msgstate"), "finished");
    let sent = ours.command(&["send", "bob", "hello?"]).unwrap();
    assert!(!sent.ok && sent.wires().is_empty(), "{sent:?}");
    assert_eq!(sent.events("msg")[0][1], "CONNECTION_ENDED");
}

#[test]
fn save_and_load_continue_the_conversation_with_libotr() {
    let dir = temp_dir("libotr-save-load");
    let keyfile = dir.join("otr.private_key");
    let state = dir.join("alice.state");
    let (keyfile, state) = (field(&keyfile), field(&state));

    let mut ours = spawn_offrecord("alice");
    init(&mut ours, "alice", keyfile, "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut theirs, &mut ours);
    send_and_check(&mut ours, &mut theirs, "before the save");
    send_and_check(&mut theirs, &mut ours, "reply before the save");
    ours.command_ok(&["save", state]).unwrap();
    send_and_check(&mut ours, &mut theirs, "after the save, before the crash");
    theirs
        .command_ok(&["send", "alice", "while you were away"])
        .unwrap();
    drop(ours);

    let mut ours = spawn_offrecord("alice2");
    init(&mut ours, "alice", keyfile, "11111111");
    ours.command_ok(&["load", state]).unwrap();
    let relayed = relay(&mut theirs, &mut ours).unwrap();
    assert_delivered_once(&relayed.at_b, "bob", "while you were away");
    // libotr requires each counter to be larger than the last: the restored state's counters
    // start above anything the crashed process sent.
    send_and_check(&mut ours, &mut theirs, "after the load");
    send_and_check(&mut theirs, &mut ours, "welcome back");
    send_and_check(&mut ours, &mut theirs, "and once more");
    assert_encrypted_pair(&mut ours, &mut theirs);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A new AKE over an encrypted session must not send the last message again: libotr 4.1.1
/// resends only a message it held back (policy `require` in PLAINTEXT, or after the peer sent
/// an OTR error), never one that was already sent encrypted.
#[test]
fn reake_does_not_resend_delivered_messages() {
    let mut ours = offrecord("alice", "11111111");
    let mut theirs = libotr("bob", "22222222");
    query_and_check(&mut theirs, &mut ours);
    send_and_check(&mut ours, &mut theirs, "sent once");
    ours.command_ok(&["query", "bob"]).unwrap();
    let relayed = relay(&mut ours, &mut theirs).unwrap();
    assert!(relayed.at_b.deliveries().is_empty(), "{relayed:?}");
    assert!(relayed.at_a.events("msg").is_empty(), "{relayed:?}");
}
