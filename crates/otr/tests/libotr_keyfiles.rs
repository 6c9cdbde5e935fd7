//! libotr's key and trust files, live against libotr 4.1.1: files libotr writes are read by
//! `otr::keyfile`, and files `otr::keyfile` writes are read by libotr (through the libotr peer's
//! test extensions `write-fingerprints`, `read-fingerprints`, `fingerprints`, `write-instags`,
//! `read-instags`, `instags`). These tests fail, never skip, when libotr is missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use common::mixed::{LIB, Lib, Mixed, OURS};
use libotr_peer::{PeerProcess, Reply};
use otr::keyfile::{
    self, FingerprintEntry, InstagEntry, PrivateKeyEntry, parse_fingerprints, parse_instags,
    write_fingerprints, write_instags,
};
use otr::{Config, Endpoint, InstanceTag};
use rand_chacha::ChaCha20Rng;

const PROTOCOL: &str = "prpl-test";

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otr-keyfiles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The records of kind `kind` of a reply, as their fields, sorted.
fn listed(reply: &Reply, kind: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = reply
        .records
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.fields.clone())
        .collect();
    rows.sort();
    rows
}

fn fingerprint_rows(entries: &[FingerprintEntry]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.username.clone(),
                e.account.clone(),
                e.protocol.clone(),
                hex::encode(e.fingerprint),
                e.trust.clone(),
            ]
        })
        .collect();
    rows.sort();
    rows
}

/// Runs messages between libotr and one more endpoint of ours, called `name` by libotr, until
/// both are quiet.
fn converse(lib: &mut Lib, name: &str, ours: &mut Endpoint, rng: &mut ChaCha20Rng, now: u64) {
    loop {
        let outbox = lib.process.take_outbox();
        if outbox.is_empty() {
            return;
        }
        for (to, message) in outbox {
            assert_eq!(to, name);
            let out = ours.receive(LIB, &message, now, rng);
            for t in out.transmit {
                lib.cmd(&["recv", name, &t.message]);
            }
        }
    }
}

#[test]
fn fingerprints_libotr_writes_are_read_with_their_trust() {
    let dir = temp_dir("libotr-writes-fingerprints");
    let file = dir.join("otr.fingerprints");

    // "ours" is verified by SMP (libotr records "smp").
    let mut m = Mixed::secured(1, 3);
    let out = m
        .ours
        .smp_start(LIB, None, b"shared", None, m.now, &mut m.rng)
        .unwrap();
    m.absorb(out);
    m.pump();
    m.lib().cmd(&["smp-respond", OURS, "shared"]);
    m.pump();
    assert_eq!(m.lib().state("trust"), "smp");

    // "ours2" is trusted by hand with a word of the user's; "ours3" is only seen.
    let now = m.now;
    let mut ours2 = common::endpoint(1, 0x2222_2222, Config::default());
    let mut ours3 = common::endpoint(2, 0x3333_3333, Config::default());
    for (name, endpoint) in [("ours2", &mut ours2), ("ours3", &mut ours3)] {
        m.libs[0].cmd(&["query", name]);
        converse(&mut m.libs[0], name, endpoint, &mut m.rng, now);
    }
    m.lib().cmd(&["trust", "ours2", "checked by phone, 2024"]);

    m.lib().cmd(&["write-fingerprints", path_str(&file)]);
    let entries = parse_fingerprints(&text(&file)).unwrap();
    let expected = |username: &str, endpoint: &Endpoint, trust: &str| FingerprintEntry {
        username: username.into(),
        account: LIB.into(),
        protocol: PROTOCOL.into(),
        fingerprint: endpoint.fingerprint(),
        trust: trust.into(),
    };
    let mut want = vec![
        expected(OURS, &m.ours, "smp"),
        expected("ours2", &ours2, "checked by phone, 2024"),
        expected("ours3", &ours3, ""),
    ];
    let mut got = entries.clone();
    got.sort_by(|a, b| a.username.cmp(&b.username));
    want.sort_by(|a, b| a.username.cmp(&b.username));
    assert_eq!(got, want);
    // What libotr holds in memory is what we read from its file.
    let listing = m.lib().cmd(&["fingerprints"]);
    assert_eq!(
        listed(&listing, "known-fingerprint"),
        fingerprint_rows(&entries)
    );
    // Written back by us, the file is the same text (modulo line order).
    let mut ours_text: Vec<String> = write_fingerprints(&entries)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut libotr_text: Vec<String> = text(&file).lines().map(str::to_owned).collect();
    ours_text.sort();
    libotr_text.sort();
    assert_eq!(ours_text, libotr_text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fingerprints_we_write_are_read_by_libotr() {
    let dir = temp_dir("we-write-fingerprints");
    let file = dir.join("otr.fingerprints");
    let mut m = Mixed::new(2, Config::default(), "manual");
    let entry = |username: &str, account: &str, protocol: &str, fp: [u8; 20], trust: &str| {
        FingerprintEntry {
            username: username.into(),
            account: account.into(),
            protocol: protocol.into(),
            fingerprint: fp,
            trust: trust.into(),
        }
    };
    let entries = vec![
        entry(OURS, LIB, PROTOCOL, m.ours.fingerprint(), "verified"),
        entry("jörg@example.de", LIB, PROTOCOL, [0xab; 20], "smp"),
        entry("carol smith", LIB, PROTOCOL, [0x01; 20], ""),
        entry("dave", LIB, PROTOCOL, [0x02; 20], "a trust\twith a tab"),
        entry("erin", "other@example.org", "prpl-irc", [0xfe; 20], "x"),
    ];
    std::fs::write(&file, write_fingerprints(&entries).unwrap()).unwrap();
    m.lib().cmd(&["read-fingerprints", path_str(&file)]);
    let listing = m.lib().cmd(&["fingerprints"]);
    assert_eq!(
        listed(&listing, "known-fingerprint"),
        fingerprint_rows(&entries)
    );

    // libotr uses what it read: once we talk, it knows our key and its trust.
    m.query();
    m.pump();
    m.assert_secure_both(3);
    assert!(m.lib().events("new_fingerprint").is_empty());
    assert_eq!(m.lib().state("trust"), "verified");
    let pf = m.lib().cmd(&["peer-fingerprint", OURS]);
    assert_eq!(
        pf.ok_value("hex"),
        Some(hex::encode(m.ours.fingerprint()).as_str())
    );
    assert_eq!(pf.ok_value("trust"), Some("verified"));

    // And libotr writes them back as it read them.
    let back = dir.join("back.fingerprints");
    m.lib().cmd(&["write-fingerprints", path_str(&back)]);
    let mut reread = parse_fingerprints(&text(&back)).unwrap();
    let mut want = entries;
    reread.sort_by(|a, b| a.username.cmp(&b.username));
    want.sort_by(|a, b| a.username.cmp(&b.username));
    assert_eq!(reread, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn instance_tags_both_ways() {
    let dir = temp_dir("instags");

    // libotr writes: a fixed tag, and one it generated.
    let mut fixed = Lib::start("0abcdef0", "manual");
    let file = dir.join("libotr.instance_tags");
    fixed.cmd(&["write-instags", path_str(&file)]);
    assert_eq!(
        parse_instags(&text(&file)).unwrap(),
        [InstagEntry {
            account: LIB.into(),
            protocol: PROTOCOL.into(),
            instag: InstanceTag::new(0x0abc_def0),
        }]
    );
    let mut generated = PeerProcess::libotr().unwrap();
    let init = generated.init("gen", PROTOCOL, "generate", None).unwrap();
    let tag = init.ok_value("instag").unwrap().to_owned();
    generated
        .command_ok(&["write-instags", path_str(&file)])
        .unwrap();
    let parsed = parse_instags(&text(&file)).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].instag.to_string(), tag);
    assert!(parsed[0].instag.is_valid());

    // We write: libotr reads every entry and uses the one of its account.
    let entries = vec![
        InstagEntry {
            account: "jörg@example.de".into(),
            protocol: "3com".into(),
            instag: InstanceTag::new(0xffff_ffff),
        },
        InstagEntry {
            account: "mine".into(),
            protocol: PROTOCOL.into(),
            instag: InstanceTag::new(0x1234_5678),
        },
        InstagEntry {
            account: "low".into(),
            protocol: PROTOCOL.into(),
            instag: InstanceTag::new(0x100),
        },
    ];
    let ours = dir.join("ours.instance_tags");
    std::fs::write(&ours, write_instags(&entries).unwrap()).unwrap();
    let mut reader = PeerProcess::libotr().unwrap();
    reader
        .command_ok(&["read-instags", path_str(&ours)])
        .unwrap();
    let listing = reader.command_ok(&["instags"]).unwrap();
    let mut want: Vec<Vec<String>> = entries
        .iter()
        .map(|e| vec![e.account.clone(), e.protocol.clone(), e.instag.to_string()])
        .collect();
    want.sort();
    assert_eq!(listed(&listing, "known-instag"), want);
    let init = reader.init("mine", PROTOCOL, "generate", None).unwrap();
    assert_eq!(init.ok_value("instag"), Some("12345678"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn private_keys_both_ways() {
    let dir = temp_dir("private-keys");
    let file = dir.join("otr.private_key");

    // libotr generates a key into the file; we read it and find the same fingerprint.
    let mut libotr = PeerProcess::libotr().unwrap();
    libotr
        .init("made-by-libotr", PROTOCOL, path_str(&file), None)
        .unwrap();
    let libotr_fp = libotr.command_ok(&["fingerprint"]).unwrap();
    let entries = keyfile::parse_private_keys(std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].account.as_str(), entries[0].protocol.as_str()),
        ("made-by-libotr", PROTOCOL)
    );
    let key = entries[0].to_dsa_private_key().unwrap();
    assert_eq!(
        Some(hex::encode(key.public_key().fingerprint()).as_str()),
        libotr_fp.ok_value("hex")
    );

    // We add a key of ours; libotr reads both from our file.
    let ours = common::key(3);
    let mut all = entries;
    all.push(PrivateKeyEntry::from_dsa_private_key(
        "made-by-us",
        PROTOCOL,
        &ours,
    ));
    std::fs::write(&file, keyfile::write_private_keys(&all)).unwrap();
    for (account, fp) in [
        ("made-by-us", ours.public_key().fingerprint()),
        ("made-by-libotr", key.public_key().fingerprint()),
    ] {
        let mut reader = PeerProcess::libotr().unwrap();
        reader
            .init(account, PROTOCOL, path_str(&file), None)
            .unwrap();
        let seen = reader.command_ok(&["fingerprint"]).unwrap();
        assert_eq!(
            seen.ok_value("hex"),
            Some(hex::encode(fp).as_str()),
            "{account}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
