//! A world of accounts and devices that pass raw mail to each other in memory (the way Delta
//! Chat's tests do), with a clock, and helpers to shuffle, duplicate and delay mail.
#![allow(dead_code)]

pub mod forge;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chat::{ChatId, Context, Event, OtrState};

pub const T0: u64 = 1_790_000_000;

pub struct Device {
    pub name: String,
    pub addr: String,
    pub path: PathBuf,
    pub ctx: Option<Context>,
    /// How far this device has read its account's mailbox.
    pub read: usize,
    pub events: Vec<Event>,
}

impl Device {
    pub fn ctx(&mut self) -> &mut Context {
        self.ctx.as_mut().expect("device is running")
    }

    /// Closes and reopens the database (a restart of the app).
    pub fn restart(&mut self) {
        self.ctx = None;
        self.ctx = Some(Context::open(&self.path).expect("reopen"));
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub now: u64,
    pub mailboxes: BTreeMap<String, Vec<Vec<u8>>>,
    pub devices: Vec<Device>,
    seed: u64,
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            now: T0,
            mailboxes: BTreeMap::new(),
            devices: Vec::new(),
            seed: 1,
        }
    }

    /// A new account (first device); returns its device index.
    pub fn account(&mut self, name: &str) -> usize {
        let addr = format!("{name}@example.org");
        let path = self.dir.path().join(format!("{name}.db"));
        let mut ctx = Context::create(&path, &addr).unwrap();
        self.seed += 1;
        ctx.seed_rng(self.seed);
        self.devices.push(Device {
            name: name.to_owned(),
            addr,
            path,
            ctx: Some(ctx),
            read: 0,
            events: Vec::new(),
        });
        self.devices.len() - 1
    }

    /// A second device of the account on device `of`.
    pub fn second_device(&mut self, of: usize, name: &str) -> usize {
        let key = self.devices[of].ctx().export_account_key().unwrap();
        let path = self.dir.path().join(format!("{name}.db"));
        let addr = self.devices[of].addr.clone();
        let mut ctx = Context::create_device(&path, &addr, &key).unwrap();
        self.seed += 1;
        ctx.seed_rng(self.seed);
        let addr = ctx.addr().to_owned();
        // Contacts are per device: copy the first device's contacts.
        self.devices.push(Device {
            name: name.to_owned(),
            addr,
            path,
            ctx: Some(ctx),
            read: 0,
            events: Vec::new(),
        });
        self.devices.len() - 1
    }

    /// Both sides import each other's public key.
    pub fn introduce(&mut self, a: usize, b: usize) {
        let ka = self.devices[a].ctx().export_public_key().unwrap();
        let kb = self.devices[b].ctx().export_public_key().unwrap();
        let now = self.now;
        self.devices[a]
            .ctx()
            .import_contact(kb.as_bytes(), None, now)
            .unwrap();
        self.devices[b]
            .ctx()
            .import_contact(ka.as_bytes(), None, now)
            .unwrap();
    }

    /// Moves a device's outbox into the recipients' mailboxes.
    pub fn send(&mut self, d: usize) -> usize {
        let out = self.devices[d].ctx().outbox().unwrap();
        let n = out.len();
        for mail in out {
            for r in &mail.recipients {
                self.mailboxes
                    .entry(r.clone())
                    .or_default()
                    .push(mail.raw.clone());
            }
            self.devices[d].ctx().outbox_sent(mail.id).unwrap();
        }
        n
    }

    /// Processes every new mail in a device's mailbox.
    pub fn fetch(&mut self, d: usize) -> usize {
        let addr = self.devices[d].addr.clone();
        let mails = self.mailboxes.get(&addr).cloned().unwrap_or_default();
        let start = self.devices[d].read;
        let now = self.now;
        for raw in &mails[start..] {
            let processed = self.devices[d].ctx().receive_mail(raw, now).unwrap();
            self.devices[d].events.extend(processed.events);
        }
        self.devices[d].read = mails.len();
        mails.len() - start
    }

    /// Sends and fetches on every device until nothing moves.
    pub fn settle(&mut self) {
        for _ in 0..50 {
            let mut moved = 0;
            for d in 0..self.devices.len() {
                if self.devices[d].ctx.is_some() {
                    moved += self.send(d);
                }
            }
            for d in 0..self.devices.len() {
                if self.devices[d].ctx.is_some() {
                    moved += self.fetch(d);
                }
            }
            if moved == 0 {
                return;
            }
        }
        panic!("the world did not settle");
    }

    pub fn contact(&mut self, d: usize, addr_of: usize) -> chat::ContactId {
        let addr = self.devices[addr_of].addr.clone();
        self.devices[d].ctx().contact_by_addr(&addr).unwrap().id
    }

    /// The OTR chats of a device.
    pub fn otr_chats(&mut self, d: usize) -> Vec<chat::ChatInfo> {
        self.devices[d]
            .ctx()
            .chats()
            .unwrap()
            .into_iter()
            .filter(|c| c.kind == chat::ChatKind::Otr)
            .collect()
    }

    pub fn only_otr_chat(&mut self, d: usize) -> chat::ChatInfo {
        let chats = self.otr_chats(d);
        assert_eq!(chats.len(), 1, "{chats:?}");
        chats.into_iter().next().unwrap()
    }

    pub fn state(&mut self, d: usize, chat: ChatId) -> OtrState {
        self.devices[d].ctx().chat(chat).unwrap().otr_state.unwrap()
    }

    /// Texts of received messages of a chat.
    pub fn received(&mut self, d: usize, chat: ChatId) -> Vec<String> {
        self.devices[d]
            .ctx()
            .history(chat)
            .unwrap()
            .into_iter()
            .filter(|m| m.direction == chat::Direction::In)
            .map(|m| m.text)
            .collect()
    }

    /// Texts of in/out messages of a chat.
    pub fn texts(&mut self, d: usize, chat: ChatId) -> Vec<String> {
        self.devices[d]
            .ctx()
            .history(chat)
            .unwrap()
            .into_iter()
            .filter(|m| m.direction != chat::Direction::Info)
            .map(|m| m.text)
            .collect()
    }

    /// Events of the `Ignored` kind a device reported.
    pub fn ignored(&self, d: usize) -> Vec<String> {
        self.devices[d]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Ignored { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// Sets up alice (0) and bob (1) with an active OTR chat; returns the chat ids.
    pub fn active_pair() -> (World, ChatId, ChatId) {
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
        w.settle();
        assert_eq!(w.state(a, ca), OtrState::Active);
        assert_eq!(w.state(b, cb), OtrState::Active);
        (w, ca, cb)
    }

    /// Alice (0) invites bob, who has a phone (1) and a laptop (2); both of bob's devices hold
    /// the invitation. Returns the world, alice's chat, and the chat on the phone and laptop.
    pub fn invited_on_two_devices() -> (World, ChatId, ChatId, chat::ChatInfo) {
        let mut w = World::new();
        let a = w.account("alice");
        let b1 = w.account("bob");
        let b2 = w.second_device(b1, "bob-laptop");
        w.introduce(a, b1);
        let ka = w.devices[a].ctx().export_public_key().unwrap();
        let now = w.now;
        w.devices[b2]
            .ctx()
            .import_contact(ka.as_bytes(), None, now)
            .unwrap();
        let bob = w.contact(a, b1);
        let (ca, _) = w.devices[a].ctx().start_otr_chat(bob, now).unwrap();
        w.settle();
        let c1 = w.only_otr_chat(b1).id;
        let c2 = w.only_otr_chat(b2);
        (w, ca, c1, c2)
    }
}
