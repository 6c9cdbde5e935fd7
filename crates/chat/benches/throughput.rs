//! The chat layer's throughput over the embedded spool carrier (issue 6, done-when 4): Alice
//! persists and sends 1,000 OTR messages, then Bob receives and stores them. Release build
//! (`cargo bench`), durable commits (WAL, `synchronous = FULL`) and a spool that syncs every
//! delivered mail, as in production.
//!
//! What is timed:
//!
//! - **send**: 1,000 `send_text` calls, each its own durable transaction (the OTR state and the
//!   queued mail, encrypted), and the outbox drained as `offrecord sync` drains it: the
//!   queued mails submitted with `Carrier::send_batch` (the spool writes and syncs them, then
//!   publishes them with one directory sync) and marked sent with one
//!   `Context::outbox_sent_all` commit. The outbox is drained every `OFFRECORD_SEND_BATCH`
//!   messages (default: once, after the last; `OFFRECORD_SEND_BATCH=1` drains after every
//!   message, the worst case, as `offrecord send` followed by a sync does).
//! - **receive**: Bob fetching the 1,000 mails, `Context::receive_batch` (decrypt, store, up to
//!   100 mails per durable commit), deleting the used-up mails from the spool
//!   (`Carrier::delete_all`), then storing the cursor, as `offrecord sync` does.
//!
//! Before the batch paths existed this bench called `send`, `outbox_sent` and `receive_mail`
//! per mail (four `fsync`s per sent message, two per received one); the work per message is
//! the same, only the number of commits and directory syncs changed.
//!
//! Run with `cargo bench -p offrecord-chat --bench throughput` (a plain `main` that prints the
//! figures; set `OFFRECORD_MESSAGES` to change the count).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::Instant;

use chat::{ChatId, Context, Direction, OtrState};
use mail::{Carrier, Cursor, Spool};

const T0: u64 = 1_790_000_000;

struct Device {
    ctx: Context,
    spool: Spool,
    cursor: Option<Cursor>,
}

impl Device {
    fn new(dir: &Path, name: &str, seed: u64) -> Device {
        let addr = format!("{name}@example.org");
        let mut ctx = Context::create(&dir.join(format!("{name}.db")), &addr).unwrap();
        ctx.seed_rng(seed);
        let spool = Spool::open(&dir.join("spool"), &addr).unwrap();
        Device {
            ctx,
            spool,
            cursor: None,
        }
    }

    /// Submits the outbox to the carrier in one batch and marks it sent in one commit;
    /// returns how many mails went out.
    fn send(&mut self) -> usize {
        let from = self.ctx.addr().to_owned();
        let out = self.ctx.outbox().unwrap();
        if out.is_empty() {
            return 0;
        }
        let batch: Vec<(&[String], &[u8])> = out
            .iter()
            .map(|m| (m.recipients.as_slice(), m.raw.as_slice()))
            .collect();
        for result in self.spool.send_batch(&from, &batch) {
            result.unwrap();
        }
        let ids: Vec<i64> = out.iter().map(|m| m.id).collect();
        self.ctx.outbox_sent_all(&ids).unwrap();
        out.len()
    }

    /// Fetches and processes everything new, deleting what may be deleted, then stores the
    /// cursor; returns the count.
    fn fetch(&mut self, now: u64) -> usize {
        let mut n = 0;
        loop {
            let batch = self.spool.fetch(self.cursor.as_ref()).unwrap();
            let raws: Vec<&[u8]> = batch.mails.iter().map(|m| m.raw.as_slice()).collect();
            let processed = self.ctx.receive_batch(&raws, now).unwrap();
            let used_up: Vec<_> = batch
                .mails
                .iter()
                .zip(processed)
                .filter(|(_, p)| p.delete_from_server)
                .map(|(m, _)| m.id.clone())
                .collect();
            self.spool.delete_all(&used_up).unwrap();
            n += batch.mails.len();
            self.ctx.set_mail_cursor(&batch.cursor.to_string()).unwrap();
            self.cursor = Some(batch.cursor);
            if !batch.more {
                return n;
            }
        }
    }
}

fn settle(a: &mut Device, b: &mut Device, now: u64) {
    for _ in 0..50 {
        let moved = a.send() + b.send() + a.fetch(now) + b.fetch(now);
        if moved == 0 {
            return;
        }
    }
    panic!("the devices did not settle");
}

fn main() {
    let count: usize = std::env::var("OFFRECORD_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Device::new(dir.path(), "alice", 1);
    let mut bob = Device::new(dir.path(), "bob", 2);
    let ka = alice.ctx.export_public_key().unwrap();
    let kb = bob.ctx.export_public_key().unwrap();
    alice.ctx.import_contact(kb.as_bytes(), None, T0).unwrap();
    bob.ctx.import_contact(ka.as_bytes(), None, T0).unwrap();
    let bob_id = alice.ctx.contact_by_addr("bob@example.org").unwrap().id;
    let (ca, _) = alice.ctx.start_otr_chat(bob_id, T0).unwrap();
    settle(&mut alice, &mut bob, T0);
    let cb: ChatId = bob
        .ctx
        .chats()
        .unwrap()
        .into_iter()
        .find(|c| c.kind == chat::ChatKind::Otr)
        .unwrap()
        .id;
    bob.ctx.accept_invitation(cb, T0).unwrap();
    settle(&mut alice, &mut bob, T0);
    assert_eq!(
        alice.ctx.chat(ca).unwrap().otr_state,
        Some(OtrState::Active)
    );
    assert_eq!(bob.ctx.chat(cb).unwrap().otr_state, Some(OtrState::Active));

    let drain_every: usize = std::env::var("OFFRECORD_SEND_BATCH")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(count);
    let text = "x".repeat(100);
    let now = T0 + 1;
    let start = Instant::now();
    let mut sent = 0;
    for i in 1..=count {
        alice.ctx.send_text(ca, &text, now).unwrap();
        if i % drain_every == 0 || i == count {
            sent += alice.send();
        }
    }
    let send = start.elapsed();
    assert_eq!(sent, count);
    assert!(alice.ctx.outbox().unwrap().is_empty());

    let start = Instant::now();
    let fetched = bob.fetch(now);
    let receive = start.elapsed();

    let got = bob
        .ctx
        .history(cb)
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == Direction::In && m.text == text)
        .count();
    assert_eq!(
        got, count,
        "bob stored {got} of {count} messages ({fetched} mails fetched)"
    );
    println!(
        "chat send_{count} {:.3} s ({:.2} ms per message: persist, encrypt, submit to the spool \
         and mark sent, outbox drained every {drain_every})",
        send.as_secs_f64(),
        send.as_secs_f64() * 1e3 / count as f64
    );
    println!(
        "chat receive_{count} {:.3} s ({:.2} ms per message: fetch, decrypt, store, delete)",
        receive.as_secs_f64(),
        receive.as_secs_f64() * 1e3 / count as f64
    );
}
