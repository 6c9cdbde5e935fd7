//! Two processes on one database: `offrecord sync --watch` in one terminal and `send` in
//! another. Writers must wait for each other (busy timeout), never fail with "database is
//! locked" (found by the kill -9 crash-consistency test, where 29 of 514 `send`s racing a
//! watcher failed before writing transactions began IMMEDIATE).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::thread;

use chat::Context;

#[test]
fn two_connections_writing_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let bob_path = dir.path().join("bob.db");
    let now = 1_800_000_000;
    let mut alice = Context::create(&path, "alice@example.org").unwrap();
    let bob = Context::create(&bob_path, "bob@example.org").unwrap();
    let card = bob.export_public_key().unwrap();
    let contact = alice.import_contact(card.as_bytes(), None, now).unwrap();
    let chat = alice.one_to_one_chat(contact, now).unwrap();
    drop(alice);

    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let path = path.clone();
            thread::spawn(move || {
                let mut ctx = Context::open(&path).unwrap();
                for i in 0..60 {
                    // Reads, then writes: the pattern that failed under a deferred transaction.
                    let _ = ctx.history(chat).unwrap();
                    ctx.send_text(chat, &format!("writer {writer} message {i}"), now + i)
                        .unwrap_or_else(|e| panic!("writer {writer}, message {i}: {e}"));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let ctx = Context::open(&path).unwrap();
    let texts: Vec<String> = ctx
        .history(chat)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts.len(), 120);
    assert_eq!(ctx.outbox().unwrap().len(), 120);
}
