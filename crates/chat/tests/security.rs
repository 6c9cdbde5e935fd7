//! Authentication failures, forward secrecy after close, and faults between the steps of
//! sending and receiving.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chat::{Event, OtrState};
use common::World;

#[test]
fn a_key_other_than_the_announced_one_fails_the_chat() {
    let mut w = World::new();
    let a = w.account("alice");
    let b = w.account("bob");
    w.introduce(a, b);
    let bob = w.contact(a, b);
    let now = w.now;
    let (ca, _) = w.devices[a].ctx().start_otr_chat(bob, now).unwrap();
    w.settle();
    let cb = w.only_otr_chat(b).id;
    w.devices[b].ctx().accept_invitation(cb, now).unwrap();
    w.send(b);
    w.fetch(a); // alice learns the announced fingerprint
    // An attacker who could rewrite what alice stored (standing in for one who swapped the
    // OTR key in transit) makes the announced fingerprint differ from the one the AKE uses.
    {
        let conn = rusqlite::Connection::open(&w.devices[a].path).unwrap();
        conn.execute(
            "UPDATE chats SET their_otr_fingerprint = ?1 WHERE id = ?2",
            rusqlite::params!["00".repeat(20), ca.0],
        )
        .unwrap();
    }
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Failed);
    let reason = w.devices[a].ctx().chat(ca).unwrap().state_reason.unwrap();
    assert!(reason.contains("announced"), "{reason}");
    assert!(w.devices[a].ctx().send_text(ca, "x", now).is_err());
}

#[test]
fn after_close_and_erasure_the_mail_cannot_be_decrypted_with_everything_on_the_device() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    let secret = "the meeting is at the old mill";
    w.devices[a].ctx().send_text(ca, secret, now).unwrap();
    w.devices[b]
        .ctx()
        .send_text(cb, &format!("ok: {secret}"), now)
        .unwrap();
    w.settle();
    w.devices[a].ctx().close_otr_chat(ca, now).unwrap();
    w.settle();
    // The attacker takes both devices' databases (with the OpenPGP and OTR long-term keys) and
    // every mail ever sent, and replays all of it into copies of the devices.
    for d in [a, b] {
        let copy = w.dir.path().join(format!("seized-{d}.db"));
        std::fs::copy(&w.devices[d].path, &copy).unwrap();
        let mut seized = chat::Context::open(&copy).unwrap();
        let addr = w.devices[d].addr.clone();
        let mut events = Vec::new();
        for raw in w.mailboxes.values().flatten() {
            events.extend(seized.receive_mail(raw, now).unwrap().events);
        }
        // Even forgetting which mail was processed does not help.
        let conn = rusqlite::Connection::open(&copy).unwrap();
        conn.execute("DELETE FROM processed_mail", []).unwrap();
        drop(conn);
        let mut seized = chat::Context::open(&copy).unwrap();
        for raw in w.mailboxes.get(&addr).into_iter().flatten() {
            events.extend(seized.receive_mail(raw, now).unwrap().events);
        }
        for e in &events {
            if let Event::IncomingMessage { text, .. } = e {
                assert!(!text.contains(secret), "recovered: {text}");
            }
        }
        for chat in seized.chats().unwrap() {
            for m in seized.history(chat.id).unwrap() {
                assert!(!m.text.contains(secret));
            }
        }
    }
}

#[test]
fn a_crash_between_sending_and_confirming_resends_without_harm() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    for i in 0..3 {
        w.devices[a]
            .ctx()
            .send_text(ca, &format!("m{i}"), now)
            .unwrap();
        // The carrier delivered the mail, then the process died before `outbox_sent`.
        let out = w.devices[a].ctx().outbox().unwrap();
        for mail in &out {
            for r in &mail.recipients {
                w.mailboxes
                    .entry(r.clone())
                    .or_default()
                    .push(mail.raw.clone());
            }
        }
        w.devices[a].restart();
        // After the restart the same mail is sent again.
        w.send(a);
        w.fetch(b);
        // The receiver dies after processing but before storing its position: it reads
        // everything again.
        w.devices[b].restart();
        w.devices[b].read = 0;
        w.fetch(b);
    }
    assert_eq!(w.received(b, cb), ["m0", "m1", "m2"]);
    assert!(w.ignored(b).is_empty(), "{:?}", w.ignored(b));
}
