//! Crash consistency (issue 7): alice and bob exchange messages in an established OTR chat on
//! the spool through `offrecord` processes, while the driver kills alice's processes with
//! SIGKILL at random instants (during `send`, `sync` and `sync --watch`) and starts them again.
//!
//! At the end, after both sides settle:
//!
//! * every text either side sent is in the sender's history exactly once and in the
//!   receiver's history exactly once (nothing lost, nothing duplicated);
//! * no used-up mail is left in either mailbox (processed OTR mail is deleted, design 5);
//! * every mail that ever entered the spool was captured (the driver copies each mailbox's
//!   `new/` before the only processes that consume it run; see [`Capture`]), decrypted with the
//!   recipient's account key, and its OTR data messages collected: no (sender, receiver,
//!   instance tags, sender keyid, recipient keyid, counter) was ever used for two different
//!   ciphertexts, and no AKE message travelled after the chat was established.
//!
//! The short version runs in `cargo test` (60 messages, at least 10 kills). The full version:
//!
//! ```sh
//! OFFRECORD_CRASH_FULL=1 cargo test -p offrecord --test crash_consistency -- --nocapture
//! ```
//!
//! (400 messages, at least 100 kills). `OFFRECORD_CRASH_SEED=<n>` replays a run (the seed is
//! printed; the short version uses a fixed seed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::Net;
use envelope::{Identity, PeerKey};
use otr::wire::{Body, Message};

/// A small deterministic RNG (splitmix64), so that a run is replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What must never carry two different ciphertexts: the sender's address, the sender's and
/// receiver's instance tags, the sender's and recipient's keyids, and the counter.
type KeyAndCounter = (String, u32, u32, u32, u32, [u8; 8]);

/// The longest any single process may run before the test fails.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// It exited with status 0.
    Ok,
    /// It exited with another status.
    Failed,
    /// The driver killed it while it ran.
    Killed,
}

fn spawn(net: &Net, home: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_offrecord"))
        .arg("--home")
        .arg(net.path(home))
        .args(args)
        .env_remove("OFFRECORD_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child`, killing it with SIGKILL after `kill_after` if it still runs then.
fn finish(mut child: Child, kill_after: Option<Duration>, what: &str) -> End {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            if !status.success() {
                let out = child.wait_with_output().unwrap();
                eprintln!(
                    "crash: {what} exited with {status}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return End::Failed;
            }
            return End::Ok;
        }
        let elapsed = start.elapsed();
        if kill_after.is_some_and(|d| elapsed >= d) {
            // Child::kill sends SIGKILL on Unix.
            child.kill().unwrap();
            child.wait().unwrap();
            return End::Killed;
        }
        assert!(elapsed < PROCESS_TIMEOUT, "{what} ran for {elapsed:?}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Every mail that entered either mailbox: (recipient, file name in `new/`) -> raw mail.
///
/// A mailbox's `new/` only grows through the other account's processes and only shrinks (used
/// mail is deleted) through its own account's processes. The driver never runs both accounts at
/// once and copies a mailbox after the other account's processes ended and before its own
/// start, so no mail can pass unseen.
#[derive(Default)]
struct Capture {
    mails: BTreeMap<(String, String), Vec<u8>>,
}

impl Capture {
    fn scan(&mut self, spool: &Path, addr: &str) {
        let dir = spool.join(addr).join("new");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let key = (addr.to_owned(), name);
            if let Some(old) = self.mails.get(&key) {
                assert_eq!(old, &bytes, "{key:?} changed on disk");
            } else {
                self.mails.insert(key, bytes);
            }
        }
    }
}

/// Counts of what the driver did.
#[derive(Default, Debug)]
struct Stats {
    processes: usize,
    kills_send: usize,
    kills_sync: usize,
    kills_watch: usize,
    failed: usize,
    resent_after_kill: usize,
}

impl Stats {
    fn kills(&self) -> usize {
        self.kills_send + self.kills_sync + self.kills_watch
    }
}

/// One run: `total` messages (two thirds from alice, the victim), at least `min_kills` kills.
fn run(total: usize, min_kills: usize, seed: u64) {
    eprintln!(
        "crash: seed {seed} (replay with OFFRECORD_CRASH_SEED={seed}), {total} messages, \
         at least {min_kills} kills"
    );
    let started = Instant::now();
    let mut rng = Rng(seed);
    let net = Net::new();
    net.init("alice", "alice@example.org");
    net.init("bob", "bob@example.org");
    let spool = PathBuf::from(net.json("alice", &["whoami"])["spool"].as_str().unwrap());
    net.exchange_cards("alice", "bob");
    let ca = net.json("alice", &["otr", "start", "bob@example.org"])["chat"]
        .as_i64()
        .unwrap()
        .to_string();
    net.sync("alice");
    net.sync("bob");
    let cb = net.otr_chat("bob", "invited");
    net.ok("bob", &["otr", "accept", &cb]);
    net.settle(&["bob", "alice"]);
    for (home, chat) in [("alice", &ca), ("bob", &cb)] {
        assert_eq!(net.show(home, chat)["state"], "active", "{home}");
    }
    // The established chat: from here on, every mail is captured.
    let mut capture = Capture::default();
    capture.scan(&spool, "alice@example.org");
    capture.scan(&spool, "bob@example.org");
    let established: Vec<(String, String)> = capture.mails.keys().cloned().collect();

    // Calibrate the kill instants on uncontrolled runs.
    let t = Instant::now();
    net.ok("alice", &["send", &ca, "calibration-a"]);
    let send_time = t.elapsed();
    let t = Instant::now();
    net.sync("alice");
    let sync_time = t.elapsed();
    capture.scan(&spool, "bob@example.org");
    net.sync("bob");
    capture.scan(&spool, "alice@example.org");
    eprintln!("crash: send takes {send_time:?}, sync {sync_time:?}");
    let delay = |rng: &mut Rng, typical: Duration| {
        let max = (typical.as_micros() as u64 * 12 / 10).max(1);
        Duration::from_micros(rng.below(max))
    };

    let from_alice: Vec<String> = (0..total * 2 / 3)
        .map(|i| format!("a{i:04} {}", word(&mut rng)))
        .collect();
    let from_bob: Vec<String> = (0..total - total * 2 / 3)
        .map(|i| format!("b{i:04} {}", word(&mut rng)))
        .collect();
    let mut alice_todo: Vec<String> = from_alice.iter().rev().cloned().collect();
    let mut bob_todo: Vec<String> = from_bob.iter().rev().cloned().collect();
    let mut stats = Stats::default();

    while !alice_todo.is_empty() || !bob_todo.is_empty() || stats.kills() < min_kills {
        // Alice's phase: her processes only (bob's mailbox grows, hers shrinks).
        capture.scan(&spool, "alice@example.org");
        let mut uncertain: Vec<String> = Vec::new();
        for _ in 0..=rng.below(3) {
            match rng.below(10) {
                // send (maybe killed)
                0..=4 => {
                    let Some(text) = alice_todo.pop() else {
                        continue;
                    };
                    let kill = rng.chance(35).then(|| delay(&mut rng, send_time));
                    stats.processes += 1;
                    match finish(spawn(&net, "alice", &["send", &ca, &text]), kill, "send") {
                        End::Ok => {}
                        End::Killed => {
                            stats.kills_send += 1;
                            uncertain.push(text);
                        }
                        End::Failed => {
                            stats.failed += 1;
                            uncertain.push(text);
                        }
                    }
                }
                // sync (maybe killed)
                5..=7 => {
                    let kill = rng.chance(50).then(|| delay(&mut rng, sync_time));
                    stats.processes += 1;
                    match finish(spawn(&net, "alice", &["sync"]), kill, "sync") {
                        End::Ok => {}
                        End::Killed => stats.kills_sync += 1,
                        End::Failed => stats.failed += 1,
                    }
                }
                // sync --watch, with sends while it runs, then killed
                _ => {
                    let watch = spawn(&net, "alice", &["sync", "--watch", "--interval", "1"]);
                    stats.processes += 1;
                    for _ in 0..rng.below(3) {
                        let Some(text) = alice_todo.pop() else {
                            break;
                        };
                        stats.processes += 1;
                        match finish(spawn(&net, "alice", &["send", &ca, &text]), None, "send") {
                            End::Ok => {}
                            _ => {
                                stats.failed += 1;
                                uncertain.push(text);
                            }
                        }
                    }
                    let kill = delay(&mut rng, sync_time * 2 + Duration::from_millis(300));
                    match finish(watch, Some(kill), "sync --watch") {
                        End::Killed => stats.kills_watch += 1,
                        End::Ok => panic!("sync --watch ended by itself"),
                        End::Failed => stats.failed += 1,
                    }
                }
            }
        }
        // Whatever a killed send may have queued: in the history (sent, or it will be) or not
        // (send it again).
        if !uncertain.is_empty() {
            let history = texts(&net.show("alice", &ca), "out");
            for text in uncertain {
                match history.iter().filter(|t| **t == text).count() {
                    0 => {
                        stats.resent_after_kill += 1;
                        alice_todo.push(text);
                    }
                    1 => {}
                    n => panic!("{text:?} is {n} times in alice's history"),
                }
            }
        }
        capture.scan(&spool, "bob@example.org");

        // Bob's phase: never killed.
        for _ in 0..rng.below(3) {
            if let Some(text) = bob_todo.pop() {
                net.ok("bob", &["send", &cb, &text]);
            }
        }
        net.sync("bob");
        capture.scan(&spool, "alice@example.org");
    }

    // Settle without kills, capturing before each side runs.
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 20, "never settled");
        capture.scan(&spool, "alice@example.org");
        let a = net.sync("alice");
        capture.scan(&spool, "bob@example.org");
        let b = net.sync("bob");
        capture.scan(&spool, "alice@example.org");
        let moved: u64 = [&a, &b]
            .iter()
            .map(|r| r["sent"].as_u64().unwrap() + r["received"].as_u64().unwrap())
            .sum();
        if moved == 0 {
            break;
        }
    }

    // Used-up OTR mail is deleted from the mailbox after processing (design 5), also when the
    // processing was interrupted: no data mail is left in either mailbox.
    let identities = [
        ("alice@example.org", account_key(&net, "alice")),
        ("bob@example.org", account_key(&net, "bob")),
    ];
    for (addr, identity) in &identities {
        let left: Vec<_> = std::fs::read_dir(spool.join(addr).join("new"))
            .unwrap()
            .map(|e| e.unwrap())
            // Mail of the setup (the invitation and acceptance copies) is not OTR data.
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !established.contains(&((*addr).to_owned(), name))
            })
            .map(|e| {
                let raw = std::fs::read(e.path()).unwrap();
                let opened = envelope::parse(&raw, identity, &[] as &[PeerKey]);
                let what = match opened {
                    Ok(m) => format!(
                        "{:?} {:?} {:?}",
                        m.message_id,
                        m.header("Chat-Otr"),
                        m.header("Chat-Otr-Id")
                    ),
                    Err(err) => err.to_string(),
                };
                format!("{} ({what})", e.file_name().to_string_lossy())
            })
            .collect();
        assert!(
            left.is_empty(),
            "{addr}: {} used-up mails left in the mailbox: {left:?}",
            left.len()
        );
    }

    // Delivery: exactly once on both sides.
    let (alice_shown, bob_shown) = (net.show("alice", &ca), net.show("bob", &cb));
    for (side, shown, sent, from) in [
        ("alice", &alice_shown, &from_alice, "bob"),
        ("bob", &bob_shown, &from_bob, "alice"),
    ] {
        let out = texts(shown, "out");
        let mut expected: Vec<String> = vec![];
        if side == "alice" {
            expected.push("calibration-a".to_owned());
        }
        expected.extend(sent.iter().cloned());
        assert_eq!(
            sorted(out.clone()),
            sorted(expected.clone()),
            "{side}'s sent history"
        );
        let receiver = if side == "alice" {
            &bob_shown
        } else {
            &alice_shown
        };
        let received = texts(receiver, "in");
        assert_eq!(
            sorted(received),
            sorted(expected),
            "{from}'s received history: every text of {side} exactly once"
        );
    }

    // Wire: no (key, counter) pair for two ciphertexts, no AKE after establishment.
    let mut used: HashMap<KeyAndCounter, Vec<u8>> = HashMap::new();
    let (mut data_messages, mut repeated) = (0usize, 0usize);
    for ((to, name), raw) in &capture.mails {
        if established.contains(&(to.clone(), name.clone())) {
            continue;
        }
        let identity = &identities.iter().find(|(a, _)| a == to).unwrap().1;
        let incoming = envelope::parse(raw, identity, &[] as &[PeerKey])
            .unwrap_or_else(|e| panic!("captured mail {to}/{name} does not open: {e}"));
        assert_eq!(
            incoming.header("Chat-Otr"),
            Some("data"),
            "{to}/{name}: only data messages after establishment"
        );
        let part = incoming
            .parts
            .iter()
            .find(|p| p.content_type == chat::protocol::WIRE_CONTENT_TYPE)
            .unwrap_or_else(|| panic!("{to}/{name} has no wire part"));
        for line in String::from_utf8_lossy(&part.bytes).lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Ok(Message::Encoded { encoded, .. }) = Message::parse(line) else {
                panic!("{to}/{name}: not an encoded OTR message: {line:.60}");
            };
            let Body::Data(data) = encoded.body else {
                panic!("{to}/{name}: an AKE message after establishment");
            };
            data_messages += 1;
            let key = (
                incoming.outer_from.clone(),
                encoded.sender_instance.value(),
                encoded.receiver_instance.value(),
                data.sender_keyid,
                data.recipient_keyid,
                data.ctr,
            );
            match used.get(&key) {
                None => {
                    used.insert(key, data.encrypted_message);
                }
                Some(old) => {
                    assert_eq!(
                        old, &data.encrypted_message,
                        "counter reuse: {key:?} used for two different ciphertexts"
                    );
                    repeated += 1;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "crash: done in {elapsed:?}: {} texts from alice, {} from bob, all delivered exactly \
         once; {stats:?}, {} kills; {} mails captured, {data_messages} data messages, {} \
         distinct (keyids, counter), {repeated} identical re-sends, 0 counter reuses",
        from_alice.len() + 1,
        from_bob.len(),
        stats.kills(),
        capture.mails.len() - established.len(),
        used.len(),
    );
    assert!(stats.kills() >= min_kills);
    assert!(
        data_messages >= from_alice.len() + from_bob.len(),
        "every text travelled in a data message"
    );
}

fn word(rng: &mut Rng) -> String {
    const WORDS: [&str; 8] = [
        "mill", "map", "river", "lantern", "north", "bridge", "harbour", "orchard",
    ];
    (0..3)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The texts of `direction` ("in" or "out") in a `--json show` result.
fn texts(shown: &serde_json::Value, direction: &str) -> Vec<String> {
    shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == direction)
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn account_key(net: &Net, home: &str) -> Identity {
    let file = net.path(&format!("{home}.key"));
    net.ok(home, &["export-account-key", file.to_str().unwrap()]);
    Identity::from_bytes(&std::fs::read(&file).unwrap()).unwrap()
}

/// `OFFRECORD_CRASH_SEED` if set, else `default`.
fn seed(default: u64) -> u64 {
    match std::env::var("OFFRECORD_CRASH_SEED") {
        Ok(s) => s.parse().expect("OFFRECORD_CRASH_SEED is a number"),
        Err(_) => default,
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The short version (`cargo test`): 60 messages, at least 10 kills, a fixed seed. With
/// `OFFRECORD_CRASH_FULL=1`: 400 messages, at least 100 kills, a seed from the clock (printed).
#[test]
fn kill_9_loses_duplicates_and_reuses_nothing() {
    if std::env::var_os("OFFRECORD_CRASH_FULL").is_some() {
        run(400, 100, seed(clock_seed()));
    } else {
        run(60, 10, seed(0x0ff_5eed));
    }
}
