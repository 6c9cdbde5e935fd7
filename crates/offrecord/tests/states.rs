//! Every state in which one cannot write says why, in `show` (text and JSON).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Net;

/// `show` of `chat` on `home` names the state and, in text and JSON, the reason.
fn says_why(net: &Net, home: &str, chat: &str, state: &str, reason: &str) {
    let shown = net.show(home, chat);
    assert_eq!(shown["state"], state, "{home} {chat}: {shown}");
    assert_eq!(shown["can_send"], false);
    assert_eq!(shown["cant_send_reason"], reason, "{home} {chat}");
    let text = net.ok(home, &["show", chat]);
    assert!(
        text.contains(&format!("can write:     no, {reason}")),
        "{text}"
    );
    let err = net.fails(home, &["send", chat, "hello?"]);
    assert_eq!(err, format!("You cannot write in this chat: {reason}."));
}

#[test]
fn show_says_why_for_every_state() {
    let net = Net::new();
    net.init("alice", "alice@example.org");
    net.init("bob", "bob@example.org");
    let spool = net.json("bob", &["whoami"])["spool"].clone();
    net.ok(
        "bob-laptop",
        &[
            "init-device",
            "bob@example.org",
            "--account-key",
            &{
                let key = net.path("bob.key");
                net.ok("bob", &["export-account-key", key.to_str().unwrap()]);
                key.to_str().unwrap().to_owned()
            },
            "--spool",
            spool.as_str().unwrap(),
        ],
    );
    net.exchange_cards("alice", "bob");

    // Pending, invited, connecting, elsewhere, active.
    let ca = net.json("alice", &["otr", "start", "bob@example.org"])["chat"].to_string();
    says_why(
        &net,
        "alice",
        &ca,
        "pending",
        "waiting for the contact to accept the invitation",
    );
    net.sync("alice");
    net.sync("bob");
    net.sync("bob-laptop");
    let cb = net.otr_chat("bob", "invited");
    says_why(
        &net,
        "bob",
        &cb,
        "invited",
        "you have not accepted this invitation yet",
    );
    net.ok("bob", &["otr", "accept", &cb]);
    says_why(
        &net,
        "bob",
        &cb,
        "connecting",
        "the key exchange has not finished yet; it completes when the other device comes online",
    );
    net.sync("bob");
    net.sync("bob-laptop");
    let cl = net.otr_chat("bob-laptop", "elsewhere");
    says_why(
        &net,
        "bob-laptop",
        &cl,
        "elsewhere",
        "this chat belongs to another of your devices",
    );
    net.settle(&["alice", "bob"]);
    let active = net.show("alice", &ca);
    assert_eq!(active["can_send"], true);
    assert!(
        net.ok("alice", &["show", &ca])
            .contains("can write:     yes")
    );

    // Closed, on both sides.
    net.ok("bob", &["otr", "close", &cb]);
    net.settle(&["alice", "bob"]);
    says_why(
        &net,
        "bob",
        &cb,
        "closed",
        "the chat was closed by you; it is read-only",
    );
    says_why(
        &net,
        "alice",
        &ca,
        "closed",
        "the chat was closed by the contact; it is read-only",
    );

    // Declined, on both sides.
    let ca = net.json("alice", &["otr", "start", "bob@example.org"])["chat"].to_string();
    net.sync("alice");
    net.sync("bob");
    let cb = net.otr_chat("bob", "invited");
    net.ok("bob", &["otr", "decline", &cb]);
    net.settle(&["bob", "alice"]);
    says_why(&net, "bob", &cb, "declined", "the invitation was declined");
    says_why(
        &net,
        "alice",
        &ca,
        "declined",
        "the invitation was declined",
    );

    // Expired: invitations of alice now live one second.
    net.ok("alice", &["invite-lifetime", "1"]);
    let ca = net.json("alice", &["otr", "start", "bob@example.org"])["chat"].to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let report = net.sync("alice");
    assert_eq!(report["events"][0]["state"], "expired", "{report}");
    says_why(&net, "alice", &ca, "expired", "the invitation expired");
}
