//! The command line itself: errors are one sentence with status 1, `--json` parses, `demo`
//! prints every section, `sync --watch` follows the spool.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Net;
use predicates::prelude::*;

#[test]
fn bad_arguments_give_one_sentence_and_status_1() {
    let net = Net::new();
    let err = net.fails("alice", &["whoami"]);
    assert!(err.starts_with("There is no account in"), "{err}");
    net.init("alice", "alice@example.org");

    for (args, expect) in [
        (&["frobnicate"][..], "unrecognized subcommand"),
        (&["init"][..], "required"),
        (
            &["show", "abc"][..],
            "There is no chat `abc`: chats are given by their number",
        ),
        (&["show", "99"][..], "There is no chat 99"),
        (
            &["send", "bob@example.org", "hi"][..],
            "There is no contact bob@example.org",
        ),
        (
            &["otr", "start", "not-an-address"][..],
            "Not an email address",
        ),
        (
            &["init", "alice@example.org"][..],
            "already holds an account",
        ),
        (
            &["contact", "add", "/nonexistent/card"][..],
            "Cannot read /nonexistent/card",
        ),
        (&["verify", "1"][..], "required"),
        (&["sync", "--interval", "0"][..], "0"),
        (&["--bogus"][..], "unexpected argument"),
    ] {
        let err = net.fails("alice", args);
        assert!(
            err.to_lowercase().contains(&expect.to_lowercase()),
            "{args:?}: {err}"
        );
    }

    // Command-specific refusals from the chat layer are sentences too.
    net.init("bob", "bob@example.org");
    net.exchange_cards("alice", "bob");
    net.ok("alice", &["send", "bob@example.org", "hi"]);
    let one_to_one = net.chats("alice")[0]["chat"].to_string();
    let err = net.fails("alice", &["otr", "accept", &one_to_one]);
    assert!(err.contains("is an ordinary 1:1 chat"), "{err}");
    let ca = net.json("alice", &["otr", "start", "bob@example.org"])["chat"].to_string();
    let err = net.fails("alice", &["otr", "accept", &ca]);
    assert_eq!(
        err,
        "Only an invitation can be accepted; this chat is pending."
    );
    let err = net.fails("alice", &["erasure", &ca, "timer"]);
    assert!(err.contains("needs a time in seconds"), "{err}");
    let err = net.fails("alice", &["erasure", &ca, "on-close", "5"]);
    assert!(err.contains("Only the timer mode"), "{err}");
}

#[test]
fn help_is_not_an_error() {
    let net = Net::new();
    let mut assert = net.cmd("x").arg("--help").assert().success();
    for command in ["init", "otr", "show", "verify", "sync", "demo"] {
        assert = assert.stdout(predicate::str::contains(command));
    }
}

#[test]
fn json_output_parses_everywhere() {
    let net = Net::new();
    let created = net.json("alice", &["init", "alice@example.org"]);
    assert_eq!(created["address"], "alice@example.org");
    net.json("bob", &["init", "bob@example.org"]);
    let me = net.json("alice", &["whoami"]);
    let fp = me["otr_fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 44, "5 groups of 8 hex digits: {fp}");
    assert!(fp.split(' ').all(|g| {
        g.len() == 8
            && g.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    }));
    assert!(me["instance_tag"].as_str().unwrap().starts_with("0x"));
    let card = net.json("alice", &["card"]);
    assert!(card["card"].as_str().unwrap().contains("keydata="));
    net.exchange_cards("alice", "bob");
    assert_eq!(
        net.json("alice", &["contacts"])["contacts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let sent = net.json("alice", &["send", "bob@example.org", "hello"]);
    let one = sent["chat"].to_string();
    let started = net.json("alice", &["otr", "start", "bob@example.org"]);
    let ca = started["chat"].to_string();
    let erasure = net.json("alice", &["erasure", &ca, "timer", "3600"]);
    assert_eq!(erasure["erasure"], "timer");
    assert_eq!(erasure["timer_secs"], 3600);
    assert_eq!(net.json("alice", &["show", &ca])["erasure"], "timer");
    assert_eq!(net.json("alice", &["show", &one])["kind"], "one_to_one");
    assert_eq!(
        net.json("alice", &["chats"])["chats"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(net.sync("alice")["sent"], 2);
    let lifetime = net.json("alice", &["invite-lifetime", "86400"]);
    assert_eq!(lifetime["invite_lifetime_secs"], 86400);
    let key = net.path("alice.key");
    let exported = net.json("alice", &["export-account-key", key.to_str().unwrap()]);
    assert_eq!(exported["address"], "alice@example.org");
    let again = net.fails("alice", &["export-account-key", key.to_str().unwrap()]);
    assert!(again.contains("already exists"), "{again}");
}

#[test]
fn demo_prints_every_section() {
    let net = Net::new();
    let dir = net.path("demo");
    let started = Instant::now();
    let out = net.ok("unused", &["demo", "--dir", dir.to_str().unwrap()]);
    eprintln!("demo took {:?}", started.elapsed());
    for section in [
        "Three devices on one local spool",
        "Key exchange: contact cards",
        "Invitation",
        "Accept on bob's phone",
        "The OTR key exchange, by email",
        "Messages while the other side is offline",
        "Verification",
        "The session id, as both sides show it",
        "Close",
        "Read-only after close, on both sides",
        "Erasure: the plaintext is in no file of any account",
    ] {
        assert!(out.contains(section), "missing section {section:?}:\n{out}");
    }
    for phrase in [
        "accepted on another device",
        "waiting for the contact to accept the invitation",
        "reveals every MAC key",
        "asks to verify with a shared secret: \"Where did we first meet?\"",
        "bob's phone: verified with a shared secret",
        "it is read-only",
        "after close: no plaintext",
    ] {
        assert!(out.contains(phrase), "missing {phrase:?}:\n{out}");
    }
    assert!(!out.contains("PLAINTEXT FOUND"), "{out}");
    // The demo's homes are ordinary homes.
    let chats = net.json("demo/alice", &["chats"]);
    assert_eq!(chats["chats"].as_array().unwrap().len(), 2);

    // JSON: one object per section.
    let out = net.ok("unused", &["--json", "demo"]);
    let sections: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sections.len(), 11);
    assert_eq!(sections[0]["title"], "Three devices on one local spool");
}

#[test]
fn watch_follows_the_spool() {
    let net = Net::new();
    net.init("alice", "alice@example.org");
    net.init("bob", "bob@example.org");
    net.exchange_cards("alice", "bob");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("offrecord"))
        .arg("--home")
        .arg(net.path("bob"))
        .args(["--json", "sync", "--watch", "--interval", "1"])
        .env_remove("OFFRECORD_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    net.ok("alice", &["send", "bob@example.org", "are you watching?"]);
    net.sync("alice");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut arrived = false;
    while Instant::now() < deadline {
        let chats = net.chats("bob");
        if chats.first().is_some_and(|c| c["unread"] == 1) {
            arrived = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(arrived, "the watching sync never received the mail: {out}");
    let rounds: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        rounds
            .iter()
            .any(|r| r["events"][0]["text"] == "are you watching?"),
        "{out}"
    );
}
