//! The chat layer's throughput over the embedded spool carrier (issue 6, done-when 4): Alice
//! persists and sends 1,000 OTR messages, then Bob receives and stores them. Release build
//! (`cargo bench`), durable commits (WAL, `synchronous = FULL`) and a spool that syncs every
//! delivered mail, as in production.
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

    /// Submits the outbox to the carrier; returns how many mails went out.
    fn send(&mut self) -> usize {
        let from = self.ctx.addr().to_owned();
        let out = self.ctx.outbox().unwrap();
        let n = out.len();
        for mail in out {
            self.spool.send(&from, &mail.recipients, &mail.raw).unwrap();
            self.ctx.outbox_sent(mail.id).unwrap();
        }
        n
    }

    /// Fetches and processes everything new, deleting what may be deleted; returns the count.
    fn fetch(&mut self, now: u64) -> usize {
        let mut n = 0;
        loop {
            let batch = self.spool.fetch(self.cursor.as_ref()).unwrap();
            for mail in &batch.mails {
                let processed = self.ctx.receive_mail(&mail.raw, now).unwrap();
                if processed.delete_from_server {
                    self.spool.delete(&mail.id).unwrap();
                }
                n += 1;
            }
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

    let text = "x".repeat(100);
    let now = T0 + 1;
    let start = Instant::now();
    for _ in 0..count {
        alice.ctx.send_text(ca, &text, now).unwrap();
        alice.send();
    }
    let send = start.elapsed();

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
        "chat send_{count} {:.3} s ({:.2} ms per message: persist, encrypt, submit to the spool)",
        send.as_secs_f64(),
        send.as_secs_f64() * 1e3 / count as f64
    );
    println!(
        "chat receive_{count} {:.3} s ({:.2} ms per message: fetch, decrypt, store, delete)",
        receive.as_secs_f64(),
        receive.as_secs_f64() * 1e3 / count as f64
    );
}
