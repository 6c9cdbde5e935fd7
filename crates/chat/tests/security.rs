//! Authentication failures, forward secrecy after close, and faults between the steps of
//! sending and receiving.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chat::protocol::{Control, Kind};
use chat::{Event, OtrState};
use common::World;
use common::forge::Forger;
use envelope::Signing;

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

/// Forward secrecy has a window: mail that is still on its way (or on the server, not yet
/// processed) when the receiving device is seized is readable with what the device holds,
/// because the session keys it needs are in the database until the chat is closed.
#[test]
fn mail_in_transit_is_readable_by_whoever_seizes_the_open_chat() {
    let (mut w, ca, _cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    w.devices[a].ctx().send_text(ca, "in flight", now).unwrap();
    w.send(a);
    let copy = w.dir.path().join("seized-open.db");
    w.devices[b].ctx = None;
    std::fs::copy(&w.devices[b].path, &copy).unwrap();
    w.devices[b].restart();
    let mut seized = chat::Context::open(&copy).unwrap();
    let addr = w.devices[b].addr.clone();
    let mut texts = Vec::new();
    for raw in &w.mailboxes[&addr] {
        for e in seized.receive_mail(raw, now).unwrap().events {
            if let Event::IncomingMessage { text, .. } = e {
                texts.push(text);
            }
        }
    }
    assert_eq!(texts, ["in flight"]);
}

/// Receiving OTR mail answers nothing (no heartbeats, no acknowledgements, no error replies:
/// each would be a mail and would advance nothing the user wants), and the mail is marked
/// for deletion from the server on the device it was for, not on the account's other devices.
#[test]
fn receiving_otr_mail_sends_nothing_back_and_frees_the_server_copy() {
    let (mut w, ca, c1, c2) = World::invited_on_two_devices();
    let (a, b1, b2) = (0, 1, 2);
    let now = w.now;
    w.devices[b1].ctx().accept_invitation(c1, now).unwrap();
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Active);
    for i in 0..5 {
        w.devices[a]
            .ctx()
            .send_text(ca, &format!("m{i}"), now)
            .unwrap();
    }
    w.send(a);
    let addr = w.devices[b1].addr.clone();
    let start = w.devices[b1].read;
    let mails = w.mailboxes[&addr][start..].to_vec();
    assert_eq!(mails.len(), 5);
    for raw in &mails {
        let on_phone = w.devices[b1].ctx().receive_mail(raw, now).unwrap();
        assert!(on_phone.delete_from_server);
        let on_laptop = w.devices[b2].ctx().receive_mail(raw, now).unwrap();
        assert!(!on_laptop.delete_from_server);
        assert!(on_laptop.events.is_empty(), "{:?}", on_laptop.events);
    }
    assert_eq!(w.received(b1, c1), ["m0", "m1", "m2", "m3", "m4"]);
    assert!(w.devices[b1].ctx().outbox().unwrap().is_empty());
    assert!(w.devices[b2].ctx().outbox().unwrap().is_empty());
    assert_eq!(w.state(b2, c2.id), OtrState::Elsewhere);
}

/// Deniability at the mail layer: OTR data mail is encrypted but not OpenPGP-signed; the
/// invitation, acceptance and close are signed (they bind the OTR fingerprints to the
/// accounts).
#[test]
fn data_mail_is_unsigned_and_control_mail_is_signed() {
    let (mut w, ca, _cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    w.devices[a].ctx().send_text(ca, "unsigned", now).unwrap();
    w.devices[a].ctx().close_otr_chat(ca, now).unwrap();
    w.send(a);
    let forger = Forger::new(&mut w, b, a);
    let alice_card = w.devices[a].ctx().export_public_key().unwrap();
    let alice_key = envelope::AutocryptHeader::parse(&alice_card).unwrap().key;
    let addr = w.devices[b].addr.clone();
    let mut seen = std::collections::BTreeMap::new();
    for raw in &w.mailboxes[&addr] {
        let mail =
            envelope::parse(raw, &forger.identity, std::slice::from_ref(&alice_key)).unwrap();
        assert!(mail.encrypted);
        let kind = mail
            .inner_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(chat::protocol::HEADER_KIND))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "none".into());
        let signed = mail.signature.is_some();
        assert_eq!(signed, kind != "data", "{kind}");
        *seen.entry(kind).or_insert(0) += 1;
    }
    for kind in ["invite", "data", "close"] {
        assert!(seen.contains_key(kind), "{seen:?}");
    }
}

/// Control messages must be signed by the contact's key: an unsigned invitation, and a
/// "close" signed by another key (sent from the contact's address), are refused with a
/// reason, and the chat is unchanged.
#[test]
fn unsigned_or_wrongly_signed_control_mail_is_refused() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let mut forger = Forger::new(&mut w, b, a);
    let mut invite = Control::new(Kind::Invite, "00112233445566778899aabbccddeeff");
    invite.instance = Some(w.devices[b].ctx().instance_tag());
    invite.fingerprint = Some(w.devices[b].ctx().otr_fingerprint());
    let raw = forger.mail(&invite, "hi", None, Signing::Unsigned);
    let now = w.now;
    let events = w.devices[a].ctx().receive_mail(&raw, now).unwrap().events;
    assert!(
        matches!(&events[..], [Event::Ignored { text }] if text.contains("not signed")),
        "{events:?}"
    );
    // Mallory signs a "close" of the real chat with her own key, from Bob's address.
    let m = w.account("mallory");
    let mut mallory = Forger::new(&mut w, m, a);
    mallory.from = w.devices[b].addr.clone();
    let invite_id = w.devices[a].ctx().chat(ca).unwrap().invite_id.unwrap();
    let mut close = Control::new(Kind::Close, &invite_id);
    close.instance = Some(w.devices[b].ctx().instance_tag());
    let raw = mallory.mail(&close, "bye", None, Signing::Signed);
    let events = w.devices[a].ctx().receive_mail(&raw, now).unwrap().events;
    assert!(
        events.iter().all(|e| matches!(e, Event::Ignored { .. })) && !events.is_empty(),
        "{events:?}"
    );
    assert_eq!(w.state(a, ca), OtrState::Active);
    w.devices[b].ctx().send_text(cb, "still here", now).unwrap();
    w.settle();
    assert_eq!(w.received(a, ca), ["still here"]);
}

/// An invitation signed by a key we have never seen, from the address of a known contact, is
/// not attached to that contact: it arrives from a new contact (same address, the new key's
/// fingerprint), which the user can tell apart by its fingerprint. (Autocrypt learns keys on
/// first sight; see "Known limitations".)
#[test]
fn an_invitation_from_a_new_key_for_a_known_address_is_a_separate_contact() {
    let mut w = World::new();
    let a = w.account("alice");
    let b = w.account("bob");
    w.introduce(a, b);
    let bob = w.contact(a, b);
    // Mallory has her own key but uses Bob's address.
    let path = w.dir.path().join("mallory.db");
    let mut ctx = chat::Context::create(&path, "bob@example.org").unwrap();
    ctx.seed_rng(77);
    let card = w.devices[a].ctx().export_public_key().unwrap();
    let now = w.now;
    let alice_there = ctx.import_contact(card.as_bytes(), None, now).unwrap();
    ctx.start_otr_chat(alice_there, now).unwrap();
    let mut events = Vec::new();
    for mail in ctx.outbox().unwrap() {
        events.extend(
            w.devices[a]
                .ctx()
                .receive_mail(&mail.raw, now)
                .unwrap()
                .events,
        );
    }
    let contact = events
        .iter()
        .find_map(|e| match e {
            Event::InvitationReceived { contact, .. } => Some(*contact),
            _ => None,
        })
        .expect("the invitation is shown");
    assert_ne!(contact, bob);
    let shown = w.devices[a].ctx().contact(contact).unwrap();
    assert_eq!(shown.addr, "bob@example.org");
    assert_eq!(shown.fingerprint, ctx.fingerprint());
    assert_ne!(
        shown.fingerprint,
        w.devices[a].ctx().contact(bob).unwrap().fingerprint
    );
}

/// A chat whose saved OTR session is corrupt on disk: its mail does not stop the account (the
/// chat ends as `Failed` with the reason, the mail is recorded), sending in it is refused, and
/// the other chats go on.
#[test]
fn a_corrupt_session_row_fails_that_chat_and_nothing_else() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    {
        let conn = rusqlite::Connection::open(&w.devices[a].path).unwrap();
        conn.execute(
            "UPDATE chats SET otr_session = ?1 WHERE id = ?2",
            rusqlite::params![b"garbage".to_vec(), ca.0],
        )
        .unwrap();
    }
    w.devices[b]
        .ctx()
        .send_text(cb, "into the void", now)
        .unwrap();
    w.send(b);
    w.fetch(a);
    assert_eq!(w.state(a, ca), OtrState::Failed);
    let reason = w.devices[a].ctx().chat(ca).unwrap().state_reason.unwrap();
    assert!(reason.contains("corrupt"), "{reason}");
    assert!(w.devices[a].ctx().send_text(ca, "x", now).is_err());
    // The ordinary chat still works both ways.
    let bob = w.contact(a, b);
    let one = w.devices[a].ctx().one_to_one_chat(bob, now).unwrap();
    w.devices[a]
        .ctx()
        .send_text(one, "plain chat", now)
        .unwrap();
    w.settle();
    let alice = w.contact(b, a);
    let one_b = w.devices[b].ctx().one_to_one_chat(alice, now).unwrap();
    assert_eq!(w.received(b, one_b), ["plain chat"]);
}

/// OTR garbage inside a data mail of the chat's own peer device (malformed and truncated
/// messages, bad base-64, fragment garbage, an OTR error, a query, plain text) is dropped
/// without a word: no event, nothing sent back, and the chat's next real message arrives.
#[test]
fn otr_garbage_in_a_data_mail_is_dropped_silently() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    // A real message, held back until after the garbage.
    w.devices[b].ctx().send_text(cb, "real", now).unwrap();
    let real = w.devices[b].ctx().outbox().unwrap().remove(0);
    let mut mail_events = Vec::new();
    let mut forger = Forger::new(&mut w, b, a);
    let control = common::forge::data_control(&mut w, b, cb, a);
    let bob_tag = w.devices[b].ctx().instance_tag().value();
    let lines = [
        "?OTR:AAMD.".to_owned(),
        "?OTR:!!!!.".to_owned(),
        format!("?OTR|{bob_tag:08x}|00000000,00009,00002,AAAA,"),
        "?OTR Error: you are wrong".to_owned(),
        "?OTRv3?".to_owned(),
        "just some text".to_owned(),
    ];
    let raw = forger.data(&control, lines.join("\r\n").into_bytes());
    mail_events.extend(w.devices[a].ctx().receive_mail(&raw, now).unwrap().events);
    assert!(mail_events.is_empty(), "{mail_events:?}");
    assert!(w.devices[a].ctx().outbox().unwrap().is_empty());
    // The real message still arrives afterwards.
    w.mailboxes
        .entry(w.devices[a].addr.clone())
        .or_default()
        .push(real.raw.clone());
    w.devices[b].ctx().outbox_sent(real.id).unwrap();
    w.fetch(a);
    assert_eq!(w.received(a, ca), ["real"]);
    assert_eq!(w.state(a, ca), OtrState::Active);
}

/// The account key given to a second device carries no OTR key: each device makes its own OTR
/// long-term key and instance tag, so an OTR chat is bound to one device.
#[test]
fn a_second_device_has_its_own_otr_key_and_instance_tag() {
    let mut w = World::new();
    let a = w.account("alice");
    let a2 = w.second_device(a, "alice-laptop");
    let exported = w.devices[a].ctx().export_account_key().unwrap();
    let fp = w.devices[a].ctx().otr_fingerprint();
    assert!(!exported.windows(fp.len()).any(|win| win == fp));
    assert_eq!(
        w.devices[a].ctx().fingerprint(),
        w.devices[a2].ctx().fingerprint()
    );
    assert_ne!(fp, w.devices[a2].ctx().otr_fingerprint());
    assert_ne!(
        w.devices[a].ctx().instance_tag(),
        w.devices[a2].ctx().instance_tag()
    );
}
