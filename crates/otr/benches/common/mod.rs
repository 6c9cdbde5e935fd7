//! Shared bench support: cached long-term keys, two endpoints and an in-memory exchange that
//! delivers every transmitted message until both sides are quiet.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use offrecord_crypto::dsa::DsaPrivateKey;
use otr::{Config, Endpoint, InstanceTag, MessageState, Output};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The clock every bench uses (no timer fires: heartbeats need 60 s without sending).
pub const NOW: u64 = 1_700_000_000;

/// DSA key generation is slow and not what is measured: two keys, made once.
pub fn key(index: usize) -> DsaPrivateKey {
    static KEYS: OnceLock<Vec<[Vec<u8>; 5]>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0xbe7c);
        (0..2)
            .map(|_| {
                let k = DsaPrivateKey::generate(&mut rng);
                let [p, q, g, y] = k.public_key().components();
                [p, q, g, y, k.x_bytes().to_vec()]
            })
            .collect()
    });
    let [p, q, g, y, x] = &keys[index];
    DsaPrivateKey::from_components(p, q, g, y, x).unwrap()
}

/// Alice and Bob, each with a fixed instance tag and the default configuration.
pub struct Pair {
    pub alice: Endpoint,
    pub bob: Endpoint,
    pub rng: ChaCha20Rng,
}

fn messages(out: Output) -> Vec<String> {
    out.transmit.into_iter().map(|t| t.message).collect()
}

impl Pair {
    /// Two fresh endpoints, not yet talking.
    pub fn new(seed: u64) -> Pair {
        Pair {
            alice: Endpoint::new(key(0), InstanceTag::new(0x1111_1111), Config::default()),
            bob: Endpoint::new(key(1), InstanceTag::new(0x2222_2222), Config::default()),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// Delivers `to_bob` (and everything it causes) until both sides are quiet.
    pub fn run(&mut self, mut to_bob: Vec<String>) {
        let mut to_alice: Vec<String> = Vec::new();
        while !to_bob.is_empty() || !to_alice.is_empty() {
            for m in core::mem::take(&mut to_bob) {
                to_alice.extend(messages(self.bob.receive("alice", &m, NOW, &mut self.rng)));
            }
            for m in core::mem::take(&mut to_alice) {
                to_bob.extend(messages(self.alice.receive("bob", &m, NOW, &mut self.rng)));
            }
        }
    }

    /// The AKE, from Alice's query until both sides are encrypted.
    pub fn ake(&mut self) {
        let query = messages(self.alice.query("bob"));
        self.run(query);
        assert_eq!(
            self.alice.status("bob", None).unwrap().message_state,
            MessageState::Encrypted
        );
        assert_eq!(
            self.bob.status("alice", None).unwrap().message_state,
            MessageState::Encrypted
        );
    }

    /// A pair in an encrypted session.
    pub fn established(seed: u64) -> Pair {
        let mut pair = Pair::new(seed);
        pair.ake();
        pair
    }

    /// Alice sends `text`; Bob receives it (one wire message, no fragmentation).
    pub fn alice_to_bob(&mut self, text: &str) {
        let out = self.alice.send("bob", text, NOW, &mut self.rng).unwrap();
        for t in out.transmit {
            let got = self.bob.receive("alice", &t.message, NOW, &mut self.rng);
            assert_eq!(got.received.len(), 1);
        }
    }

    /// Bob sends `text`; Alice receives it.
    pub fn bob_to_alice(&mut self, text: &str) {
        let out = self.bob.send("alice", text, NOW, &mut self.rng).unwrap();
        for t in out.transmit {
            let got = self.alice.receive("bob", &t.message, NOW, &mut self.rng);
            assert_eq!(got.received.len(), 1);
        }
    }

    /// A whole SMP run (Alice asks with a question, Bob answers with the same secret).
    pub fn smp(&mut self) {
        let fp = self
            .alice
            .status("bob", None)
            .unwrap()
            .their_fingerprint
            .unwrap();
        self.alice.set_trust("bob", fp, "");
        let ask = self
            .alice
            .smp_start("bob", None, b"secret", Some("q?"), NOW, &mut self.rng)
            .unwrap();
        for t in ask.transmit {
            let _ = self.bob.receive("alice", &t.message, NOW, &mut self.rng);
        }
        let answer = self
            .bob
            .smp_respond("alice", None, b"secret", NOW, &mut self.rng)
            .unwrap();
        let mut to_alice = messages(answer);
        while let Some(m) = to_alice.pop() {
            for t in messages(self.alice.receive("bob", &m, NOW, &mut self.rng)) {
                to_alice.extend(messages(self.bob.receive("alice", &t, NOW, &mut self.rng)));
            }
        }
        assert_eq!(self.alice.trust("bob", &fp), Some("smp"));
    }
}

/// A text of `len` bytes (printable ASCII).
pub fn text(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}
