//! A second device of the contact (design 4.7): the invitation appears on both, one accepts,
//! the other shows "accepted on another device" and stays silent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Net, event_names};

/// alice, bob (phone) and bob-laptop, on an explicit spool; alice has invited bob and both of
/// bob's devices have synced. Returns alice's chat and the chats on phone and laptop.
fn invited() -> (Net, String, String, String) {
    let net = Net::new();
    let spool = net.path("shared-spool");
    let spool = spool.to_str().unwrap();
    net.ok("alice", &["init", "alice@example.org", "--spool", spool]);
    net.ok("bob", &["init", "bob@example.org", "--spool", spool]);
    let key = net.path("bob.key");
    net.ok("bob", &["export-account-key", key.to_str().unwrap()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    net.ok(
        "bob-laptop",
        &[
            "init-device",
            "bob@example.org",
            "--account-key",
            key.to_str().unwrap(),
            "--spool",
            spool,
        ],
    );
    let (phone, laptop) = (
        net.json("bob", &["whoami"]),
        net.json("bob-laptop", &["whoami"]),
    );
    assert_eq!(
        phone["fingerprint"], laptop["fingerprint"],
        "one account key"
    );
    assert_ne!(phone["otr_fingerprint"], laptop["otr_fingerprint"]);
    assert_ne!(phone["instance_tag"], laptop["instance_tag"]);

    net.exchange_cards("alice", "bob");
    let card = net.path("alice.card");
    net.ok("bob-laptop", &["contact", "add", card.to_str().unwrap()]);

    let ca = net.json("alice", &["otr", "start", "bob@example.org"])["chat"].to_string();
    net.sync("alice");
    for device in ["bob", "bob-laptop"] {
        let report = net.sync(device);
        assert_eq!(event_names(&[report]), ["invitation_received"], "{device}");
    }
    let cp = net.otr_chat("bob", "invited");
    let cl = net.otr_chat("bob-laptop", "invited");
    (net, ca, cp, cl)
}

#[test]
fn invitation_on_both_devices_accept_on_one() {
    let (net, ca, cp, cl) = invited();
    net.ok("bob", &["otr", "accept", &cp]);
    net.sync("bob");
    let report = net.sync("bob-laptop");
    assert_eq!(report["events"][0]["state"], "elsewhere");
    let text = net.ok("bob-laptop", &["show", &cl]);
    assert!(text.contains("accepted on another device"), "{text}");
    assert!(
        text.contains("this chat belongs to another of your devices"),
        "{text}"
    );

    net.settle(&["alice", "bob"]);
    assert_eq!(net.show("alice", &ca)["state"], "active");
    assert_eq!(net.show("bob", &cp)["state"], "active");
    assert_eq!(
        net.show("alice", &ca)["their_instance"],
        net.json("bob", &["whoami"])["instance_tag"]
    );

    // OTR traffic for the phone: the laptop shows nothing and reports no errors.
    net.ok("alice", &["send", &ca, "for the phone only"]);
    net.sync("alice");
    let laptop = net.sync("bob-laptop");
    assert_eq!(laptop["events"].as_array().unwrap().len(), 0, "{laptop}");
    assert_eq!(laptop["send_failures"].as_array().unwrap().len(), 0);
    assert_eq!(laptop["skipped"].as_array().unwrap().len(), 0);
    let text = net.ok("bob-laptop", &["sync"]);
    assert!(!text.to_lowercase().contains("ignored"), "{text}");
    assert!(!text.to_lowercase().contains("unreadable"), "{text}");
    let phone = net.sync("bob");
    assert_eq!(phone["events"][0]["text"], "for the phone only");

    // The close reaches the laptop too, silently.
    net.ok("alice", &["otr", "close", &ca]);
    net.sync("alice");
    net.sync("bob");
    let laptop = net.sync("bob-laptop");
    assert_eq!(laptop["events"].as_array().unwrap().len(), 0, "{laptop}");
    assert_eq!(net.show("bob", &cp)["state"], "closed");
    assert_eq!(net.show("bob-laptop", &cl)["state"], "elsewhere");
}

#[test]
fn both_devices_accept_and_the_first_wins() {
    let (net, ca, cp, cl) = invited();
    net.ok("bob", &["otr", "accept", &cp]);
    net.ok("bob-laptop", &["otr", "accept", &cl]);
    net.sync("bob");
    net.sync("bob-laptop");
    let reports = net.settle(&["alice", "bob", "bob-laptop"]);
    assert!(!event_names(&reports).contains(&"ignored".to_owned()));
    assert_eq!(net.show("alice", &ca)["state"], "active");
    assert_eq!(net.show("bob", &cp)["state"], "active");
    let laptop = net.show("bob-laptop", &cl);
    assert_eq!(laptop["state"], "elsewhere");
    assert_eq!(laptop["state_reason"], "accepted on another device");
}
