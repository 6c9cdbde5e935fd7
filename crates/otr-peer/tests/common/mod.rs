//! Helpers shared by the process tests: start `otr-peer` (or the libotr peer) through the
//! `libotr-peer` crate's driver, bring two of them to an encrypted session, send and check.

// Test code: a failed unwrap or index is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use libotr_peer::{NO_ARGS, Origin, PeerProcess, Relayed, Reply, relay};

/// The protocol name every test uses.
pub const PROTOCOL: &str = "prpl-test";

/// Path of the binary under test.
pub const OTR_PEER_BIN: &str = env!("CARGO_BIN_EXE_otr-peer");

/// Starts `otr-peer` and checks its `ready` record.
pub fn spawn_offrecord(label: &str) -> PeerProcess {
    let mut p = PeerProcess::spawn(OTR_PEER_BIN, NO_ARGS).unwrap();
    p.set_label(label);
    assert_eq!(p.ready().value("impl"), Some("offrecord"));
    assert_eq!(p.ready().value("version"), Some(env!("CARGO_PKG_VERSION")));
    p
}

/// Starts the libotr peer.
pub fn spawn_libotr(label: &str) -> PeerProcess {
    let mut p = PeerProcess::libotr().unwrap();
    p.set_label(label);
    p
}

/// `init` with a fixed instance tag, checking the answer's form.
pub fn init(p: &mut PeerProcess, account: &str, keyfile: &str, instag: &str) {
    let reply = p.init(account, PROTOCOL, keyfile, Some(instag)).unwrap();
    assert_eq!(reply.ok_value("instag"), Some(instag));
    let human = reply.ok_value("fingerprint").unwrap();
    assert_human_fingerprint(human);
}

/// libotr's human form: five groups of eight uppercase hex digits.
pub fn assert_human_fingerprint(human: &str) {
    let groups: Vec<&str> = human.split(' ').collect();
    assert_eq!(groups.len(), 5, "{human:?}");
    assert!(
        groups.iter().all(|g| g.len() == 8
            && g.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))),
        "{human:?}"
    );
}

/// An Offrecord peer initialised with a generated key.
pub fn offrecord(account: &str, instag: &str) -> PeerProcess {
    let mut p = spawn_offrecord(account);
    init(&mut p, account, "generate", instag);
    p
}

/// A libotr peer initialised with a generated key.
pub fn libotr(account: &str, instag: &str) -> PeerProcess {
    let mut p = spawn_libotr(account);
    init(&mut p, account, "generate", instag);
    p
}

/// One field of a `status` answer.
pub fn status(p: &mut PeerProcess, peer: &str, key: &str) -> String {
    p.status(peer).unwrap().ok_value(key).unwrap().to_owned()
}

/// `from` queries `to`, the messages are relayed, and both sides must be encrypted with the
/// same session id and each other's fingerprints. Returns what the relay printed.
pub fn query_and_check(from: &mut PeerProcess, to: &mut PeerProcess) -> Relayed {
    let from_account = from.account().unwrap().to_owned();
    let to_account = to.account().unwrap().to_owned();
    let query = from.command_ok(&["query", to_account.as_str()]).unwrap();
    assert!(query.wires()[0].1.starts_with("?OTRv"), "{query:?}");
    let relayed = relay(from, to).unwrap();
    let from_tag = from.command_ok(&["instag"]).unwrap();
    let to_tag = to.command_ok(&["instag"]).unwrap();
    let (from_tag, to_tag) = (
        from_tag.ok_value("instag").unwrap(),
        to_tag.ok_value("instag").unwrap(),
    );
    assert_eq!(
        relayed.at_a.events("gone_secure"),
        [[to_account.as_str(), to_tag]],
        "{relayed:?}"
    );
    assert_eq!(
        relayed.at_b.events("gone_secure"),
        [[from_account.as_str(), from_tag]],
        "{relayed:?}"
    );
    assert_encrypted_pair(from, to);
    relayed
}

/// Both sides are encrypted with one session id, version 3, and each knows the other's
/// fingerprint and instance tag.
pub fn assert_encrypted_pair(a: &mut PeerProcess, b: &mut PeerProcess) {
    let a_account = a.account().unwrap().to_owned();
    let b_account = b.account().unwrap().to_owned();
    both_ways(a, b, |p, q| {
        let other = q.account().unwrap().to_owned();
        let other = other.as_str();
        let s = p.status(other).unwrap();
        assert_eq!(s.ok_value("msgstate"), Some("encrypted"), "{s:?}");
        assert_eq!(s.ok_value("version"), Some("3"));
        let q_fp = q.command_ok(&["fingerprint"]).unwrap();
        let q_tag = q.command_ok(&["instag"]).unwrap();
        assert_eq!(s.ok_value("their_instag"), q_tag.ok_value("instag"));
        assert_eq!(s.ok_value("fingerprint"), q_fp.ok_value("hex"));
        let pf = p.command_ok(&["peer-fingerprint", other]).unwrap();
        assert_eq!(pf.ok_value("hex"), q_fp.ok_value("hex"));
        assert_eq!(
            q_fp.ok_value("hex").unwrap(),
            q_fp.ok_value("human")
                .unwrap()
                .replace(' ', "")
                .to_lowercase()
        );
    });
    let a_ssid = status(a, &b_account, "ssid");
    assert_eq!(a_ssid.len(), 16, "{a_ssid}");
    assert_eq!(a_ssid, status(b, &a_account, "ssid"));
}

/// `from` sends `text` to `to`; it is relayed and must be delivered once, decrypted, with no
/// error event on either side. Returns the sender's reply.
pub fn send_and_check(from: &mut PeerProcess, to: &mut PeerProcess, text: &str) -> Reply {
    let to_account = to.account().unwrap().to_owned();
    let from_account = from.account().unwrap().to_owned();
    let sent = from
        .command_ok(&["send", to_account.as_str(), text])
        .unwrap();
    assert!(
        sent.wires().iter().all(|(_, m)| m.starts_with("?OTR")),
        "sent in the clear: {sent:?}"
    );
    let relayed = relay(from, to).unwrap();
    assert_delivered_once(&relayed.at_b, &from_account, text);
    assert_no_errors(&relayed.at_a);
    sent
}

/// `at` delivered exactly one message: `text`, from `from`, out of OTR.
pub fn assert_delivered_once(at: &Reply, from: &str, text: &str) {
    let d = at.deliveries();
    assert_eq!(d.len(), 1, "{at:?}");
    assert_eq!(d[0].peer, from);
    assert_eq!(d[0].text, text);
    assert_eq!(d[0].origin, Origin::Otr);
    assert_no_errors(at);
}

/// No message event other than heartbeats in `reply`.
pub fn assert_no_errors(reply: &Reply) {
    let bad: Vec<_> = reply
        .events("msg")
        .into_iter()
        .filter(|e| !e[1].starts_with("LOG_HEARTBEAT"))
        .collect();
    assert!(
        bad.is_empty(),
        "unexpected message events {bad:?} in {reply:?}"
    );
}

/// Runs `f(a, b)`, then `f(b, a)`.
pub fn both_ways(
    a: &mut PeerProcess,
    b: &mut PeerProcess,
    mut f: impl FnMut(&mut PeerProcess, &mut PeerProcess),
) {
    f(a, b);
    f(b, a);
}

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otr-peer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as a command field.
pub fn field(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A text that needs every kind of escaping: TAB, LF, CR, backslash, a control byte,
/// escape-looking text and non-ASCII.
pub const AWKWARD: &str = "tab\there\nnew line\r\\back\\slash \\t \\x41 \u{1b}[0m ünïcödé ✓ 日本語";
