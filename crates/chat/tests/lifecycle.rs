//! Every lifecycle path of an OTR chat (design section 4) between in-process accounts and
//! devices passing raw mail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chat::{CantSendReason, Erasure, Error, OtrState, Verification};
use common::World;

#[test]
fn invite_accept_chat_close() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let info_a = w.devices[a].ctx().chat(ca).unwrap();
    let info_b = w.devices[b].ctx().chat(cb).unwrap();
    assert_eq!(info_a.verification, Verification::ChatKey);
    assert_eq!(info_a.ssid.unwrap().bytes, info_b.ssid.unwrap().bytes);
    assert_ne!(
        info_a.ssid.unwrap().first_half_bold,
        info_b.ssid.unwrap().first_half_bold
    );
    assert_eq!(
        info_a.their_fingerprint,
        Some(w.devices[b].ctx().otr_fingerprint())
    );

    // Bob is offline while Alice writes three messages.
    let now = w.now;
    for t in ["one", "two", "three"] {
        w.devices[a].ctx().send_text(ca, t, now).unwrap();
    }
    w.send(a);
    w.now += 3600;
    w.fetch(b);
    assert_eq!(w.texts(b, cb), ["one", "two", "three"]);
    let now = w.now;
    w.devices[b]
        .ctx()
        .send_text(cb, "back online", now)
        .unwrap();
    w.settle();
    assert_eq!(w.texts(a, ca), ["one", "two", "three", "back online"]);

    // Alice closes: both sides read-only, history erased.
    w.devices[a].ctx().close_otr_chat(ca, now).unwrap();
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Closed);
    assert_eq!(w.state(b, cb), OtrState::Closed);
    for (d, c) in [(a, ca), (b, cb)] {
        assert!(w.texts(d, c).is_empty());
        match w.devices[d].ctx().send_text(c, "too late", now) {
            Err(Error::CannotSend(CantSendReason::Closed(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(w.ignored(a).is_empty(), "{:?}", w.ignored(a));
    assert!(w.ignored(b).is_empty(), "{:?}", w.ignored(b));
}

#[test]
fn every_waiting_state_says_why() {
    let mut w = World::new();
    let a = w.account("alice");
    let b = w.account("bob");
    w.introduce(a, b);
    let bob = w.contact(a, b);
    let now = w.now;
    let (ca, _) = w.devices[a].ctx().start_otr_chat(bob, now).unwrap();
    assert_eq!(
        w.devices[a].ctx().cant_send_reason(ca).unwrap(),
        Some(CantSendReason::WaitingForAcceptance)
    );
    w.settle();
    let cb = w.only_otr_chat(b).id;
    assert_eq!(
        w.devices[b].ctx().cant_send_reason(cb).unwrap(),
        Some(CantSendReason::NotAccepted)
    );
    w.devices[b].ctx().accept_invitation(cb, now).unwrap();
    assert_eq!(
        w.devices[b].ctx().cant_send_reason(cb).unwrap(),
        Some(CantSendReason::KeyExchangeRunning)
    );
    for reason in [
        CantSendReason::WaitingForAcceptance,
        CantSendReason::NotAccepted,
        CantSendReason::KeyExchangeRunning,
        CantSendReason::Declined,
        CantSendReason::Expired,
        CantSendReason::OnAnotherDevice,
        CantSendReason::Closed("by you".into()),
        CantSendReason::Failed("x".into()),
    ] {
        assert!(reason.to_string().len() > 10);
    }
}

#[test]
fn decline_and_expiry() {
    let mut w = World::new();
    let a = w.account("alice");
    let b = w.account("bob");
    w.introduce(a, b);
    let bob = w.contact(a, b);
    let now = w.now;
    let (ca, _) = w.devices[a].ctx().start_otr_chat(bob, now).unwrap();
    w.settle();
    let cb = w.only_otr_chat(b).id;
    w.devices[b].ctx().decline_invitation(cb, now).unwrap();
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Declined);
    assert_eq!(w.state(b, cb), OtrState::Declined);

    // A second invitation nobody answers expires after 7 days on both sides.
    let (ca2, _) = w.devices[a].ctx().start_otr_chat(bob, now).unwrap();
    w.settle();
    let cb2 = w
        .otr_chats(b)
        .into_iter()
        .find(|c| c.otr_state == Some(OtrState::Invited))
        .unwrap()
        .id;
    w.now += 7 * 24 * 3600 + 1;
    let now = w.now;
    w.devices[a].ctx().maintenance(now).unwrap();
    w.devices[b].ctx().maintenance(now).unwrap();
    assert_eq!(w.state(a, ca2), OtrState::Expired);
    assert_eq!(w.state(b, cb2), OtrState::Expired);
    assert!(w.devices[b].ctx().accept_invitation(cb2, now).is_err());
}

#[test]
fn second_device_sees_the_invitation_and_stays_silent() {
    let (mut w, ca, c1, c2) = World::invited_on_two_devices();
    let (a, b1, b2, now) = (0, 1, 2, w.now);
    assert_eq!(c2.otr_state, Some(OtrState::Invited));
    w.devices[b1].ctx().accept_invitation(c1, now).unwrap();
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Active);
    assert_eq!(w.state(b1, c1), OtrState::Active);
    assert_eq!(w.state(b2, c2.id), OtrState::Elsewhere);
    let now = w.now;
    w.devices[a]
        .ctx()
        .send_text(ca, "only for bob's phone", now)
        .unwrap();
    w.settle();
    assert_eq!(w.texts(b1, c1), ["only for bob's phone"]);
    assert!(w.texts(b2, c2.id).is_empty());
    assert!(w.ignored(b2).is_empty(), "no noise: {:?}", w.ignored(b2));
}

#[test]
fn two_devices_accept_and_the_first_wins() {
    let (mut w, ca, c1, c2) = World::invited_on_two_devices();
    let (a, b1, b2, now, c2) = (0, 1, 2, w.now, c2.id);
    // Both accept before either sees the other's answer; b1's mail leaves first.
    w.devices[b1].ctx().accept_invitation(c1, now).unwrap();
    w.devices[b2].ctx().accept_invitation(c2, now).unwrap();
    w.send(b1);
    w.send(b2);
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Active);
    assert_eq!(w.state(b1, c1), OtrState::Active);
    assert_eq!(w.state(b2, c2), OtrState::Elsewhere);
    assert_eq!(
        w.devices[a].ctx().chat(ca).unwrap().their_instance,
        Some(w.devices[b1].ctx().instance_tag())
    );
}

#[test]
fn restarts_at_every_step_lose_nothing() {
    let mut w = World::new();
    let a = w.account("alice");
    let b = w.account("bob");
    w.introduce(a, b);
    let bob = w.contact(a, b);
    let now = w.now;
    let (ca, _) = w.devices[a].ctx().start_otr_chat(bob, now).unwrap();
    for _ in 0..4 {
        w.devices[a].restart();
        w.devices[b].restart();
        w.send(a);
        w.send(b);
        w.devices[a].restart();
        w.devices[b].restart();
        w.fetch(a);
        w.fetch(b);
        if let Some(c) = w
            .otr_chats(b)
            .into_iter()
            .find(|c| c.otr_state == Some(OtrState::Invited))
        {
            w.devices[b].ctx().accept_invitation(c.id, now).unwrap();
        }
    }
    w.settle();
    assert_eq!(w.state(a, ca), OtrState::Active);
    let cb = w.only_otr_chat(b).id;
    for i in 0..5 {
        w.devices[a]
            .ctx()
            .send_text(ca, &format!("m{i}"), now)
            .unwrap();
        w.devices[a].restart();
        w.send(a);
        w.devices[b].restart();
        w.fetch(b);
    }
    assert_eq!(w.texts(b, cb), ["m0", "m1", "m2", "m3", "m4"]);
}

#[test]
fn reordered_and_duplicated_mail_shows_each_message_once() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    let mut expected = Vec::new();
    for round in 0..3 {
        for i in 0..4 {
            let t = format!("r{round}m{i}");
            w.devices[a].ctx().send_text(ca, &t, now).unwrap();
            expected.push(t);
        }
        w.send(a);
        // Bob sees only the first of each round before answering.
        let addr = w.devices[b].addr.clone();
        let len = w.mailboxes[&addr].len();
        let keep: Vec<Vec<u8>> = w
            .mailboxes
            .get_mut(&addr)
            .unwrap()
            .drain(len - 3..)
            .collect();
        w.fetch(b);
        w.devices[b]
            .ctx()
            .send_text(cb, &format!("ack{round}"), now)
            .unwrap();
        w.settle();
        // The held mails come back later, reversed and twice.
        let mb = w.mailboxes.get_mut(&addr).unwrap();
        for m in keep.iter().rev().chain(keep.iter()) {
            mb.push(m.clone());
        }
    }
    w.settle();
    let mut got = w.received(b, cb);
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn erasure_modes_and_timers() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    w.devices[b]
        .ctx()
        .set_erasure(cb, Erasure::Timer, Some(60))
        .unwrap();
    w.devices[a]
        .ctx()
        .set_erasure(ca, Erasure::NeverStored, None)
        .unwrap();
    let now = w.now;
    w.devices[a].ctx().send_text(ca, "ephemeral", now).unwrap();
    w.settle();
    assert!(w.texts(a, ca).is_empty(), "never stored on alice's side");
    assert_eq!(w.texts(b, cb), ["ephemeral"]);
    // The timer starts when bob sees it.
    w.now += 3600;
    let now = w.now;
    w.devices[b].ctx().maintenance(now).unwrap();
    assert_eq!(w.texts(b, cb), ["ephemeral"]);
    w.devices[b].ctx().mark_seen(cb, now).unwrap();
    w.now += 61;
    let now = w.now;
    w.devices[b].ctx().maintenance(now).unwrap();
    assert!(w.texts(b, cb).is_empty());
}

#[test]
fn plaintext_is_gone_from_the_database_files_after_close() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    let secret = "correct horse battery staple 4711";
    w.devices[a].ctx().send_text(ca, secret, now).unwrap();
    w.settle();
    w.devices[b]
        .ctx()
        .send_text(cb, &format!("re: {secret}"), now)
        .unwrap();
    w.settle();
    let dir = w.dir.path().to_owned();
    let contains = |needle: &[u8]| -> Vec<String> {
        let mut hits = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
        hits
    };
    assert!(!contains(secret.as_bytes()).is_empty(), "stored while open");
    w.devices[a].ctx().close_otr_chat(ca, now).unwrap();
    w.settle();
    assert_eq!(w.state(b, cb), OtrState::Closed);
    assert!(
        contains(secret.as_bytes()).is_empty(),
        "{:?}",
        contains(secret.as_bytes())
    );
}

#[test]
fn hostile_mail_is_ignored_with_a_reason() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    for garbage in [
        &b""[..],
        b"not a mail at all",
        b"From: mallory@example.org\r\nSubject: hi\r\n\r\nplain",
        b"From: bob@example.org\r\nContent-Type: multipart/encrypted; boundary=x\r\n\r\n--x\r\n--x--\r\n",
    ] {
        let events = w.devices[a].ctx().receive_mail(garbage, now).unwrap().events;
        assert!(events.iter().all(|e| matches!(e, chat::Event::Ignored { .. })), "{events:?}");
    }
    // A replayed invitation (the same mail again) changes nothing.
    let addr = w.devices[b].addr.clone();
    let first = w.mailboxes[&addr][0].clone();
    let events = w.devices[b].ctx().receive_mail(&first, now).unwrap().events;
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(w.state(a, ca), OtrState::Active);
    assert_eq!(w.state(b, cb), OtrState::Active);
    w.devices[a].ctx().send_text(ca, "still fine", now).unwrap();
    w.settle();
    assert_eq!(w.texts(b, cb), ["still fine"]);
}

#[test]
fn verification_with_a_shared_secret() {
    let (mut w, ca, cb) = World::active_pair();
    let (a, b) = (0, 1);
    let now = w.now;
    // Wrong answer: both sides learn it failed; the level stays "chat key".
    w.devices[a]
        .ctx()
        .smp_start(ca, "blue", Some("Colour of the boat? ⛵"), now)
        .unwrap();
    w.settle();
    let asked = w.devices[b].events.iter().find_map(|e| match e {
        chat::Event::SmpRequest { question, .. } => Some(question.clone()),
        _ => None,
    });
    assert_eq!(asked, Some(Some("Colour of the boat? ⛵".to_owned())));
    w.devices[b].ctx().smp_respond(cb, "green", now).unwrap();
    w.settle();
    assert_eq!(
        w.devices[a].ctx().chat(ca).unwrap().verification,
        Verification::ChatKey
    );
    // Right answer: verified on both sides.
    w.devices[a].ctx().smp_start(ca, "blue", None, now).unwrap();
    w.settle();
    w.devices[b].ctx().smp_respond(cb, "blue", now).unwrap();
    w.settle();
    assert_eq!(
        w.devices[a].ctx().chat(ca).unwrap().verification,
        Verification::Smp
    );
    assert_eq!(
        w.devices[b].ctx().chat(cb).unwrap().verification,
        Verification::Smp
    );
    // Messages still flow.
    w.devices[b].ctx().send_text(cb, "verified!", now).unwrap();
    w.settle();
    assert_eq!(w.received(a, ca), ["verified!"]);
}
