//! The harness for interop with libotr 4.1.1: our [`Endpoint`] in-process (account "ours",
//! instance tag 0x11111111, a cached key) facing one or more `libotr-peer` processes (account
//! "lib"). Everything we transmit is delivered to *every* libotr process, as email to one
//! address would be; what a libotr process transmits is delivered to us.
//!
//! Starting a libotr process is unwrapped: without libotr the tests fail, never skip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use libotr_peer::{PeerProcess, Record, Reply};
use otr::{
    Config, Endpoint, Event, InstanceTag, MessageEvent, MessageState, Output, Policy, Received,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// libotr's account, as we name our peer.
pub const LIB: &str = "lib";
/// Our account, as libotr names its peer.
pub const OURS: &str = "ours";
/// Our instance tag.
pub const OUR_TAG: u32 = 0x1111_1111;
/// The instance tag of the (first) libotr process.
pub const LIB_TAG: &str = "0abcdef0";
/// The instance tag of the second libotr process of the same account.
pub const LIB_TAG_2: &str = "0bcdef01";

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// One libotr-peer process (account "lib") and everything it printed.
pub struct Lib {
    pub process: PeerProcess,
    pub tag: InstanceTag,
    /// Every record printed by every command, except the final `ok`/`err`.
    pub records: Vec<Record>,
    /// What libotr transmitted in answer to the messages it received.
    pub answers: Vec<String>,
}

impl Lib {
    pub fn start(instag: &str, policy: &str) -> Lib {
        let mut process = PeerProcess::libotr()
            .expect("the libotr peer must run: the interop tests need libotr 4.1.1");
        process.set_label(format!("libotr-{instag}"));
        let init = process
            .init(LIB, "prpl-test", "generate", Some(instag))
            .unwrap();
        assert_eq!(init.ok_value("instag"), Some(instag));
        process.command_ok(&["policy", policy]).unwrap();
        Lib {
            process,
            tag: InstanceTag::new(u32::from_str_radix(instag, 16).unwrap()),
            records: Vec::new(),
            answers: Vec::new(),
        }
    }

    pub fn cmd(&mut self, fields: &[&str]) -> Reply {
        let reply = self.process.command(fields).unwrap();
        self.records.extend(reply.records.iter().cloned());
        assert!(
            reply.ok,
            "{fields:?} failed: {reply:?}\n{}",
            self.transcript()
        );
        reply
    }

    pub fn send(&mut self, text: &str) {
        self.cmd(&["send", OURS, text]);
    }

    pub fn recv(&mut self, message: &str) {
        let reply = self.cmd(&["recv", OURS, message]);
        self.answers
            .extend(reply.wires().into_iter().map(|(_, message)| message));
    }

    pub fn status(&mut self) -> Reply {
        self.process.status(OURS).unwrap()
    }

    pub fn state(&mut self, key: &str) -> String {
        self.status().ok_value(key).unwrap().to_owned()
    }

    pub fn fingerprint(&mut self) -> String {
        let reply = self.process.command_ok(&["fingerprint"]).unwrap();
        reply.ok_value("hex").unwrap().to_owned()
    }

    pub fn take_outbox(&mut self) -> Vec<String> {
        self.process
            .take_outbox()
            .into_iter()
            .map(|(to, message)| {
                assert_eq!(to, OURS);
                message
            })
            .collect()
    }

    /// Texts libotr showed its user.
    pub fn delivered(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.kind == "deliver")
            .map(|r| r.field(1).unwrap().to_owned())
            .collect()
    }

    /// The peer and arguments of every `event <name>` record.
    pub fn events(&self, name: &str) -> Vec<Vec<String>> {
        self.records
            .iter()
            .filter(|r| r.kind == "event" && r.field(0) == Some(name))
            .map(|r| r.fields[1..].to_vec())
            .collect()
    }

    /// The types of the TLVs libotr received.
    pub fn tlv_types(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.kind == "tlv")
            .map(|r| r.field(1).unwrap().to_owned())
            .collect()
    }

    /// The names of libotr's message events (`OTRL_MSGEVENT_*` without the prefix).
    pub fn msg_events(&self) -> Vec<String> {
        self.events("msg")
            .into_iter()
            .map(|f| f[1].clone())
            .collect()
    }

    /// The text attached to every message event called `name`.
    pub fn msg_event_texts(&self, name: &str) -> Vec<String> {
        self.events("msg")
            .into_iter()
            .filter(|f| f[1] == name)
            .map(|f| f[2].clone())
            .collect()
    }

    pub fn transcript(&self) -> String {
        self.process.transcript().join("\n")
    }
}

/// Our endpoint (account "ours") facing one or more libotr processes of account "lib".
pub struct Mixed {
    pub ours: Endpoint,
    pub libs: Vec<Lib>,
    pub rng: ChaCha20Rng,
    pub now: u64,
    /// Our transmissions not yet delivered to libotr.
    pub to_lib: Vec<String>,
    /// What we delivered to our user, and our events.
    pub got: Vec<Received>,
    pub events: Vec<Event>,
    /// Every message carried from us to libotr, and from libotr to us.
    pub carried_to_lib: Vec<String>,
    pub carried_to_us: Vec<String>,
}

impl Mixed {
    pub fn new(seed: u64, config: Config, lib_policy: &str) -> Mixed {
        Mixed::with_libs(seed, config, &[(LIB_TAG, lib_policy)])
    }

    pub fn with_libs(seed: u64, config: Config, libs: &[(&str, &str)]) -> Mixed {
        Mixed {
            ours: super::endpoint(0, OUR_TAG, config),
            libs: libs
                .iter()
                .map(|(tag, policy)| Lib::start(tag, policy))
                .collect(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            now: 1_700_000_000,
            to_lib: Vec::new(),
            got: Vec::new(),
            events: Vec::new(),
            carried_to_lib: Vec::new(),
            carried_to_us: Vec::new(),
        }
    }

    /// An encrypted session in `version` (3 or 2), started by our query.
    pub fn secured(seed: u64, version: u16) -> Mixed {
        Mixed::secured_with(seed, config(version), version)
    }

    pub fn secured_with(seed: u64, config: Config, version: u16) -> Mixed {
        let mut m = Mixed::new(seed, config, lib_policy(version));
        m.query();
        m.pump();
        m.assert_secure_both(version);
        m.clear_logs();
        m
    }

    pub fn lib(&mut self) -> &mut Lib {
        &mut self.libs[0]
    }

    pub fn absorb(&mut self, out: Output) {
        self.to_lib
            .extend(out.transmit.into_iter().map(|t| t.message));
        self.got.extend(out.received);
        self.events.extend(out.events);
    }

    pub fn query(&mut self) {
        let out = self.ours.query(LIB);
        self.absorb(out);
    }

    pub fn send_ours(&mut self, text: &str) {
        let out = self.ours.send(LIB, text, self.now, &mut self.rng).unwrap();
        self.absorb(out);
    }

    pub fn deliver_to_us(&mut self, message: &str) {
        self.carried_to_us.push(message.to_owned());
        let out = self.ours.receive(LIB, message, self.now, &mut self.rng);
        self.absorb(out);
    }

    /// Gives one of our messages to every libotr process.
    pub fn deliver_to_libs(&mut self, message: &str) {
        self.carried_to_lib.push(message.to_owned());
        for lib in &mut self.libs {
            lib.recv(message);
        }
    }

    /// Delivers our pending transmissions to libotr (and nothing back).
    pub fn flush_to_libs(&mut self) {
        for m in std::mem::take(&mut self.to_lib) {
            self.deliver_to_libs(&m);
        }
    }

    /// Relays in order until everyone is quiet.
    pub fn pump(&mut self) {
        for _ in 0..200 {
            let mut moved = false;
            for i in 0..self.libs.len() {
                for m in self.libs[i].take_outbox() {
                    moved = true;
                    self.deliver_to_us(&m);
                }
            }
            if !self.to_lib.is_empty() {
                moved = true;
                self.flush_to_libs();
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    pub fn clear_logs(&mut self) {
        self.got.clear();
        self.events.clear();
        self.carried_to_lib.clear();
        self.carried_to_us.clear();
        for lib in &mut self.libs {
            lib.records.clear();
            lib.answers.clear();
        }
    }

    /// Texts we showed our user, in order.
    pub fn texts(&self) -> Vec<String> {
        self.got.iter().map(|r| r.text.clone()).collect()
    }

    /// Our message events of kind `kind`, with their texts.
    pub fn msg_events(&self, kind: MessageEvent) -> Vec<Option<String>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message { kind: k, text, .. } if *k == kind => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The names of all our message events.
    pub fn msg_event_names(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message { kind, .. } => Some(kind.name()),
                _ => None,
            })
            .collect()
    }

    pub fn gone_secure(&self) -> Vec<InstanceTag> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::GoneSecure { instance, .. } => Some(*instance),
                _ => None,
            })
            .collect()
    }

    pub fn still_secure(&self) -> Vec<(InstanceTag, bool)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StillSecure {
                    instance, is_reply, ..
                } => Some((*instance, *is_reply)),
                _ => None,
            })
            .collect()
    }

    /// Both sides encrypted in `version`, agreeing on the session id and on each other's keys
    /// and instance tags (of libotr process 0).
    pub fn assert_secure_both(&mut self, version: u16) {
        let lib_fp = self.lib().fingerprint();
        let lib_tag = self.lib().tag;
        let ours = self.ours.status(LIB, None).expect("our session");
        assert_eq!(ours.message_state, MessageState::Encrypted);
        assert_eq!(ours.version, Some(version));
        assert_eq!(ours.their_fingerprint.map(hex::encode), Some(lib_fp));
        let lib = self.lib().status();
        let transcript = self.lib().transcript();
        assert_eq!(
            lib.ok_value("msgstate"),
            Some("encrypted"),
            "{lib:?}\n{transcript}"
        );
        assert_eq!(lib.ok_value("version"), Some(version.to_string().as_str()));
        let ssid = ours.ssid.unwrap().to_hex();
        assert_eq!(lib.ok_value("ssid"), Some(ssid.as_str()));
        let our_fp = hex::encode(self.ours.fingerprint());
        assert_eq!(lib.ok_value("fingerprint"), Some(our_fp.as_str()));
        if version == 3 {
            assert_eq!(ours.their_instance, lib_tag);
            assert_eq!(lib.ok_value("their_instag"), Some("11111111"));
        } else {
            assert_eq!(ours.their_instance, InstanceTag::ZERO);
        }
    }

    pub fn our_ssid(&self) -> String {
        self.ours.status(LIB, None).unwrap().ssid.unwrap().to_hex()
    }
}

impl Drop for Mixed {
    /// A failed test shows what every libotr process saw and said.
    fn drop(&mut self) {
        if std::thread::panicking() {
            for lib in &self.libs {
                eprintln!(
                    "--- transcript of {} ---\n{}",
                    lib.process.label(),
                    lib.transcript()
                );
            }
        }
    }
}

pub fn config(version: u16) -> Config {
    match version {
        3 => Config::default(),
        _ => Config {
            policy: Policy::ALLOW_V2,
            ..Config::default()
        },
    }
}

pub fn lib_policy(version: u16) -> &'static str {
    match version {
        3 => "manual",
        _ => "v2",
    }
}
