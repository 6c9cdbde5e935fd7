//! The batch paths (issue 6): `receive_batch` processes fetched mail exactly as `receive_mail`
//! would one mail after the other (bad mail, duplicates and reordering included, over several
//! transactions), and `outbox_sent_all` empties a drained outbox.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use chat::{Event, RECEIVE_TRANSACTION_MAILS};
use common::World;

/// Alice (0) writes `n` texts; returns them and the mails they became (her outbox, then
/// emptied with one `outbox_sent_all`).
fn alice_writes(w: &mut World, chat: chat::ChatId, n: usize) -> (Vec<String>, Vec<Vec<u8>>) {
    let now = w.now;
    let texts: Vec<String> = (0..n).map(|i| format!("message {i}")).collect();
    for text in &texts {
        w.devices[0].ctx().send_text(chat, text, now).unwrap();
    }
    let out = w.devices[0].ctx().outbox().unwrap();
    assert_eq!(out.len(), n);
    let ids: Vec<i64> = out.iter().map(|m| m.id).collect();
    w.devices[0].ctx().outbox_sent_all(&ids).unwrap();
    assert!(w.devices[0].ctx().outbox().unwrap().is_empty());
    (texts, out.into_iter().map(|m| m.raw).collect())
}

#[test]
fn a_batch_is_processed_as_its_mails_one_after_the_other() {
    let (mut w, ca, cb) = World::active_pair();
    let (texts, mails) = alice_writes(&mut w, ca, 5);
    let garbage = b"From: <mallory@example.org>\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n".to_vec();
    // Reordered, with a duplicate and an unreadable mail in between.
    let batch: Vec<&[u8]> = vec![
        &mails[0], &garbage, &mails[2], &mails[0], &mails[1], &mails[4], &mails[3],
    ];
    let now = w.now;
    let processed = w.devices[1].ctx().receive_batch(&batch, now).unwrap();
    assert_eq!(processed.len(), batch.len());
    // Used-up OTR mail is to be deleted, the duplicate too (it was used up the first time).
    let delete: Vec<bool> = processed.iter().map(|p| p.delete_from_server).collect();
    assert_eq!(delete, [true, false, true, true, true, true, true]);
    assert!(
        processed[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::Ignored { .. }))
    );
    assert!(
        processed[3].events.is_empty(),
        "the duplicate changes nothing"
    );
    let mut got = w.received(1, cb);
    got.sort();
    assert_eq!(got, texts, "each text stored once, none lost to reordering");

    // The same batch again is all duplicates.
    let again = w.devices[1].ctx().receive_batch(&batch, now).unwrap();
    assert!(
        again
            .iter()
            .enumerate()
            .all(|(i, p)| i == 1 || (p.events.is_empty() && p.delete_from_server))
    );
    assert_eq!(w.received(1, cb).len(), texts.len());
    // The chat still works both ways.
    w.devices[1].ctx().send_text(cb, "still here", now).unwrap();
    w.settle();
    assert_eq!(w.received(0, ca), ["still here"]);
}

#[test]
fn a_batch_longer_than_one_transaction() {
    let (mut w, ca, cb) = World::active_pair();
    let n = RECEIVE_TRANSACTION_MAILS * 2 + 7;
    let (texts, mails) = alice_writes(&mut w, ca, n);
    let batch: Vec<&[u8]> = mails.iter().map(Vec::as_slice).collect();
    let now = w.now;
    let processed = w.devices[1].ctx().receive_batch(&batch, now).unwrap();
    assert_eq!(processed.len(), n);
    assert!(processed.iter().all(|p| p.delete_from_server));
    assert_eq!(w.received(1, cb), texts);
    // Reopened (state from the database only), the whole batch again changes nothing.
    w.devices[1].restart();
    let again = w.devices[1].ctx().receive_batch(&batch, now).unwrap();
    assert!(
        again
            .iter()
            .all(|p| p.events.is_empty() && p.delete_from_server)
    );
    assert_eq!(w.received(1, cb), texts);
    // An empty batch is fine.
    assert!(
        w.devices[1]
            .ctx()
            .receive_batch(&[], now)
            .unwrap()
            .is_empty()
    );
    w.devices[0].ctx().outbox_sent_all(&[]).unwrap();
}
