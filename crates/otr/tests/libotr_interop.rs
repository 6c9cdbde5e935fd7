//! Interoperability with libotr 4.1.1, driven through the `libotr-peer` process (our own C
//! program against libotr's public API). These tests fail, never skip, when libotr is missing:
//! the `libotr-peer` build script refuses to build without it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use libotr_peer::{PeerProcess, Reply};
use otr::{Config, Endpoint, Event, MessageState, Output, Policy, Received, ReceivedKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Our endpoint (account "ours") facing a libotr endpoint (account "lib").
struct Mixed {
    ours: Endpoint,
    lib: PeerProcess,
    rng: ChaCha20Rng,
    now: u64,
    /// Our pending transmissions to libotr.
    to_lib: Vec<String>,
    got: Vec<Received>,
    events: Vec<Event>,
    /// Everything libotr printed.
    lib_records: Vec<libotr_peer::Record>,
}

impl Mixed {
    fn new(seed: u64, config: Config, lib_policy: &str) -> Mixed {
        let mut lib = PeerProcess::libotr().unwrap();
        lib.init("lib", "prpl-test", "generate", Some("0abcdef0"))
            .unwrap();
        lib.command_ok(&["policy", lib_policy]).unwrap();
        Mixed {
            ours: common::endpoint(0, 0x1111_1111, config),
            lib,
            rng: ChaCha20Rng::seed_from_u64(seed),
            now: 1_700_000_000,
            to_lib: Vec::new(),
            got: Vec::new(),
            events: Vec::new(),
            lib_records: Vec::new(),
        }
    }

    fn absorb(&mut self, out: Output) {
        self.to_lib
            .extend(out.transmit.into_iter().map(|t| t.message));
        self.got.extend(out.received);
        self.events.extend(out.events);
    }

    fn lib(&mut self, fields: &[&str]) -> Reply {
        let reply = self.lib.command(fields).unwrap();
        self.lib_records.extend(reply.records.iter().cloned());
        reply
    }

    /// Relays until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..200 {
            let from_lib: Vec<String> =
                self.lib.take_outbox().into_iter().map(|(_, m)| m).collect();
            let to_lib = std::mem::take(&mut self.to_lib);
            if from_lib.is_empty() && to_lib.is_empty() {
                return;
            }
            for m in from_lib {
                let out = self.ours.receive("lib", &m, self.now, &mut self.rng);
                self.absorb(out);
            }
            for m in to_lib {
                self.lib(&["recv", "ours", &m]);
            }
        }
        panic!("no quiescence");
    }

    fn lib_status(&mut self) -> Reply {
        self.lib.status("ours").unwrap()
    }

    fn lib_delivered(&self) -> Vec<String> {
        self.lib_records
            .iter()
            .filter(|r| r.kind == "deliver")
            .map(|r| r.field(1).unwrap_or_default().to_owned())
            .collect()
    }

    fn assert_secure_both(&mut self, version: &str) {
        let ours = self.ours.status("lib", None).expect("our session");
        assert_eq!(ours.message_state, MessageState::Encrypted);
        let lib = self.lib_status();
        assert_eq!(lib.ok_value("msgstate"), Some("encrypted"), "{:?}", lib);
        assert_eq!(lib.ok_value("version"), Some(version));
        let ssid = ours.ssid.unwrap().to_hex();
        assert_eq!(lib.ok_value("ssid"), Some(ssid.as_str()));
        let our_fp = hex::encode(self.ours.fingerprint());
        assert_eq!(lib.ok_value("fingerprint"), Some(our_fp.as_str()));
    }

    fn send_ours(&mut self, text: &str) {
        let out = self
            .ours
            .send("lib", text, self.now, &mut self.rng)
            .unwrap();
        self.absorb(out);
    }
}

#[test]
fn ake_started_by_us_and_by_libotr_in_v3() {
    let mut m = Mixed::new(1, Config::default(), "manual");
    let out = m.ours.query("lib");
    m.absorb(out);
    m.pump();
    m.assert_secure_both("3");
    m.send_ours("hello libotr");
    m.pump();
    m.lib(&["send", "ours", "hello offrecord"]);
    m.pump();
    assert_eq!(m.lib_delivered(), ["hello libotr"]);
    assert_eq!(m.got.last().unwrap().text, "hello offrecord");
    assert_eq!(m.got.last().unwrap().kind, ReceivedKind::Encrypted);

    let mut m = Mixed::new(2, Config::default(), "manual");
    m.lib(&["query", "ours"]);
    m.pump();
    m.assert_secure_both("3");
}

#[test]
fn ake_in_v2_both_ways() {
    let config = Config {
        policy: Policy::ALLOW_V2,
        ..Config::default()
    };
    for we_start in [true, false] {
        let mut m = Mixed::new(3, config.clone(), "v2");
        if we_start {
            let out = m.ours.query("lib");
            m.absorb(out);
        } else {
            m.lib(&["query", "ours"]);
        }
        m.pump();
        m.assert_secure_both("2");
        m.send_ours("v2 text");
        m.lib(&["send", "ours", "v2 reply"]);
        m.pump();
        assert_eq!(m.lib_delivered(), ["v2 text"]);
        assert_eq!(m.got.last().unwrap().text, "v2 reply");
    }
}
