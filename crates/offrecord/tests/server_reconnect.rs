//! `offrecord sync --watch` over the local test mail server (ci/mailserver/start.sh) keeps an
//! IDLE session and survives losing it: its IMAP connection is killed (`doveadm kick`), and
//! Dovecot is restarted, while the contact keeps sending; every message is processed exactly
//! once. In a file of its own, because restarting Dovecot disturbs every other IMAP session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use common::Net;
use common::server::{self, init_on_server};
use serde_json::Value;

/// Runs a script of ci/mailserver; its standard output.
fn mailserver(script: &str, args: &[&str]) -> String {
    let out = Command::new(server::repo().join("ci/mailserver").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The incoming texts of `home`'s 1:1 chat with `chat` number, from its history.
fn history(net: &Net, home: &str, chat: &str) -> Vec<String> {
    net.show(home, chat)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The watcher process; killed when dropped.
struct Watcher {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_survives_a_kicked_connection_and_a_dovecot_restart() {
    let net = Net::new();
    let (alice, bob) = (server::fresh("alice"), server::fresh("bob"));
    init_on_server(&net, "alice", "init", &alice, &[]);
    init_on_server(&net, "bob", "init", &bob, &[]);
    net.exchange_cards("alice", "bob");

    // Bob watches: one IDLE session, rounds at least every 2 seconds.
    let mut child = Command::new(cargo_bin("offrecord"))
        .arg("--home")
        .arg(net.path("bob"))
        .args(["--json", "sync", "--watch", "--interval", "2"])
        .env_remove("OFFRECORD_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    let watcher = Watcher { child, lines };

    let send = |text: &str| {
        net.ok("alice", &["send", &bob, text]);
        assert_eq!(net.sync("alice")["sent"], 1);
    };
    let received = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let events: Vec<Value> = watcher
                .lines
                .lock()
                .unwrap()
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .flat_map(|r| r["events"].as_array().cloned().unwrap_or_default())
                .filter(|e| e["event"] == "incoming_message")
                .collect();
            if events.len() >= count {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the watcher got {} of {count} messages: {:?}",
                events.len(),
                watcher.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    send("message 1 before anything");
    received(1);

    // Kill its IMAP connection (retry until it was connected at that instant), then send.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kicked = mailserver("doveadm", &["kick", &bob]);
        if kicked.contains(&bob) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never had a session: {kicked}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    send("message 2 after the kick");
    send("message 3 after the kick");
    received(3);

    // Restart Dovecot while mail is in flight.
    send("message 4 before the restart");
    mailserver("restart-dovecot.sh", &[]);
    send("message 5 after the restart");
    send("message 6 after the restart");
    let events = received(6);

    // Give it a few more rounds: nothing may come twice.
    std::thread::sleep(Duration::from_secs(3));
    let events_after = received(6);
    assert_eq!(events.len(), events_after.len(), "{events_after:?}");
    let expected: Vec<String> = [
        "message 1 before anything",
        "message 2 after the kick",
        "message 3 after the kick",
        "message 4 before the restart",
        "message 5 after the restart",
        "message 6 after the restart",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut texts: Vec<String> = events_after
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    assert_eq!(texts, expected, "each message exactly once");
    drop(watcher);

    // The history agrees: each message once.
    let chat = net.chats("bob")[0]["chat"].as_i64().unwrap().to_string();
    let mut history = history(&net, "bob", &chat);
    history.sort();
    assert_eq!(history, expected);
}
