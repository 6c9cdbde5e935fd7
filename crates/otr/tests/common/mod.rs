//! Shared test support: cached long-term keys and a two-party harness with a seeded RNG, a
//! simulated clock and a channel that can drop, duplicate, reorder and fragment; [`mixed`]: the
//! harness against libotr processes.
#![allow(dead_code)]

pub mod mixed;

use std::sync::OnceLock;

use offrecord_crypto::dsa::DsaPrivateKey;
use otr::{Config, Endpoint, InstanceTag, Output, Received};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// DSA key generation is slow; every test shares a few keys.
pub fn key(index: usize) -> DsaPrivateKey {
    static KEYS: OnceLock<Vec<[Vec<u8>; 5]>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        (0..4)
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

pub fn endpoint(index: usize, instance: u32, config: Config) -> Endpoint {
    Endpoint::new(key(index), InstanceTag::new(instance), config)
}

/// One direction of the simulated network.
#[derive(Default)]
pub struct Channel {
    pub queue: Vec<String>,
}

/// Alice ("alice", key 0) and Bob ("bob", key 1) with their channels.
pub struct Pair {
    pub alice: Endpoint,
    pub bob: Endpoint,
    pub to_alice: Channel,
    pub to_bob: Channel,
    pub rng: ChaCha20Rng,
    pub now: u64,
    /// Everything delivered to the user, per side.
    pub alice_got: Vec<Received>,
    pub bob_got: Vec<Received>,
    pub alice_events: Vec<otr::Event>,
    pub bob_events: Vec<otr::Event>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Alice,
    Bob,
}

impl Pair {
    pub fn new(seed: u64, config: Config) -> Pair {
        Pair {
            alice: endpoint(0, 0x1111_1111, config.clone()),
            bob: endpoint(1, 0x2222_2222, config),
            to_alice: Channel::default(),
            to_bob: Channel::default(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            now: 1_700_000_000,
            alice_got: Vec::new(),
            bob_got: Vec::new(),
            alice_events: Vec::new(),
            bob_events: Vec::new(),
        }
    }

    /// Queues what `from` produced onto the channel to the other side.
    pub fn absorb(&mut self, from: Side, out: Output) {
        let (got, events, channel) = match from {
            Side::Alice => (
                &mut self.alice_got,
                &mut self.alice_events,
                &mut self.to_bob,
            ),
            Side::Bob => (&mut self.bob_got, &mut self.bob_events, &mut self.to_alice),
        };
        channel
            .queue
            .extend(out.transmit.into_iter().map(|t| t.message));
        got.extend(out.received);
        events.extend(out.events);
    }

    /// Delivers one message to `to`.
    pub fn deliver(&mut self, to: Side, message: &str) {
        let out = match to {
            Side::Alice => self.alice.receive("bob", message, self.now, &mut self.rng),
            Side::Bob => self.bob.receive("alice", message, self.now, &mut self.rng),
        };
        self.absorb(to, out);
    }

    /// Delivers everything in order until both channels are empty.
    pub fn run(&mut self) {
        for _ in 0..1000 {
            if self.to_alice.queue.is_empty() && self.to_bob.queue.is_empty() {
                return;
            }
            for m in std::mem::take(&mut self.to_bob.queue) {
                self.deliver(Side::Bob, &m);
            }
            for m in std::mem::take(&mut self.to_alice.queue) {
                self.deliver(Side::Alice, &m);
            }
        }
        panic!("the conversation did not settle");
    }

    pub fn query(&mut self, from: Side) {
        let out = match from {
            Side::Alice => self.alice.query("bob"),
            Side::Bob => self.bob.query("alice"),
        };
        self.absorb(from, out);
    }

    pub fn send(&mut self, from: Side, text: &str) {
        let out = match from {
            Side::Alice => self.alice.send("bob", text, self.now, &mut self.rng),
            Side::Bob => self.bob.send("alice", text, self.now, &mut self.rng),
        }
        .expect("send");
        self.absorb(from, out);
    }

    pub fn state(&self, side: Side) -> otr::MessageState {
        let status = match side {
            Side::Alice => self.alice.status("bob", None),
            Side::Bob => self.bob.status("alice", None),
        };
        status.map_or(otr::MessageState::Plaintext, |s| s.message_state)
    }

    /// Texts delivered to `side`, in order of delivery.
    pub fn texts(&self, side: Side) -> Vec<String> {
        match side {
            Side::Alice => &self.alice_got,
            Side::Bob => &self.bob_got,
        }
        .iter()
        .map(|r| r.text.clone())
        .collect()
    }

    pub fn encrypted(&mut self) {
        self.query(Side::Alice);
        self.run();
        assert_eq!(self.state(Side::Alice), otr::MessageState::Encrypted);
        assert_eq!(self.state(Side::Bob), otr::MessageState::Encrypted);
    }

    /// Shuffles a channel with the pair's RNG.
    pub fn shuffle(&mut self, to: Side) {
        let queue = match to {
            Side::Alice => &mut self.to_alice.queue,
            Side::Bob => &mut self.to_bob.queue,
        };
        for i in (1..queue.len()).rev() {
            let j = (self.rng.next_u32() as usize) % (i + 1);
            queue.swap(i, j);
        }
    }
}

/// Delivers `msgs` from `from` (known to `to` as `from_name`) to `to` (known to `from` as
/// `to_name`) at `now`, and every answer back and forth until nothing is left to send.
pub fn deliver_all(
    from: &mut Endpoint,
    from_name: &str,
    to: &mut Endpoint,
    to_name: &str,
    msgs: Vec<String>,
    now: u64,
    rng: &mut ChaCha20Rng,
) {
    let mut to_b = msgs;
    let mut to_a: Vec<String> = Vec::new();
    while !to_b.is_empty() || !to_a.is_empty() {
        for m in core::mem::take(&mut to_b) {
            to_a.extend(
                to.receive(from_name, &m, now, rng)
                    .transmit
                    .into_iter()
                    .map(|t| t.message),
            );
        }
        for m in core::mem::take(&mut to_a) {
            to_b.extend(
                from.receive(to_name, &m, now, rng)
                    .transmit
                    .into_iter()
                    .map(|t| t.message),
            );
        }
    }
}
