//! The command-line client over the local test mail server (ci/mailserver/start.sh: Postfix +
//! Dovecot on 127.0.0.1, any user@offrecord.test with password "offrecord"): two accounts
//! through the whole OTR lifecycle, and two devices of one account with a contact. Fails (never
//! skips) when the server is not running.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::server::{self, init_on_server};
use common::{Net, event_names};
use serde_json::Value;

/// Syncs `home` until the events of the rounds satisfy `done` (mail delivery is asynchronous);
/// the reports.
fn sync_until(net: &Net, home: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut reports = Vec::new();
    loop {
        reports.push(net.sync(home));
        if done(&reports) {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "{home}: never got there; events: {:?}",
            event_names(&reports)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Syncs the homes in turn until two rounds a second apart move no mail.
fn settle(net: &Net, homes: &[&str]) -> Vec<Value> {
    let mut all = Vec::new();
    let mut quiet = 0;
    for _ in 0..60 {
        let mut moved = 0;
        for home in homes {
            let report = net.sync(home);
            moved += report["sent"].as_u64().unwrap() + report["received"].as_u64().unwrap();
            all.push(report);
        }
        if moved == 0 {
            quiet += 1;
            if quiet == 2 {
                return all;
            }
            std::thread::sleep(Duration::from_millis(700));
        } else {
            quiet = 0;
        }
    }
    panic!("the homes {homes:?} never settled");
}

fn texts(reports: &[Value], event: &str) -> Vec<String> {
    reports
        .iter()
        .flat_map(|r| r["events"].as_array().unwrap().clone())
        .filter(|e| e["event"] == event)
        .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn two_accounts_whole_lifecycle_over_imap_and_smtp() {
    let net = Net::new();
    let (alice, bob) = (server::fresh("alice"), server::fresh("bob"));
    // Alice over TLS (IMAPS and SMTPS) with the test CA, bob in plain on loopback.
    let env = server::env();
    let out = net
        .cmd("alice")
        .args([
            "--json",
            "init",
            &alice,
            "--imap-host",
            "localhost",
            "--imap-port",
            &env["OFFRECORD_MAIL_IMAPS_PORT"],
            "--smtp-host",
            "localhost",
            "--smtp-port",
            &env["OFFRECORD_MAIL_SMTPS_PORT"],
            "--tls-ca",
            &env["OFFRECORD_MAIL_CA"],
        ])
        .env("OFFRECORD_PASSWORD", &env["OFFRECORD_MAIL_PASSWORD"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["server"]["imap"]["security"], "tls");
    let created = init_on_server(&net, "bob", "init", &bob, &[]);
    assert_eq!(created["server"]["imap"]["security"], "plain");
    assert_eq!(created["server"]["login"], bob.as_str());
    // The password is in the private config file only, never shown.
    let config = std::fs::read_to_string(net.path("bob").join("config.json")).unwrap();
    assert!(config.contains("\"kind\": \"server\""), "{config}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(net.path("bob").join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!net.ok("bob", &["whoami"]).contains("offrecord\n"));

    net.exchange_cards("alice", "bob");
    let ca = net.json("alice", &["otr", "start", &bob])["chat"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_eq!(net.sync("alice")["sent"], 1);
    sync_until(&net, "bob", |r| {
        event_names(r).contains(&"invitation_received".to_owned())
    });
    let cb = net.otr_chat("bob", "invited");
    net.ok("bob", &["otr", "accept", &cb]);
    let reports = settle(&net, &["bob", "alice"]);
    assert!(!event_names(&reports).contains(&"ignored".to_owned()));
    for (home, chat) in [("alice", &ca), ("bob", &cb)] {
        let shown = net.show(home, chat);
        assert_eq!(shown["state"], "active", "{home}");
        assert_eq!(shown["verification"], "chat_key");
    }

    // Bob is not running while alice writes; then the other way round.
    let from_alice = ["first from alice over imap", "second from alice over imap"];
    for text in from_alice {
        net.ok("alice", &["send", &ca, text]);
    }
    assert_eq!(net.sync("alice")["sent"], 2);
    let reports = sync_until(&net, "bob", |r| texts(r, "incoming_message").len() >= 2);
    // Processed OTR data mail is erased from the server.
    let deleted: u64 = reports.iter().map(|r| r["deleted"].as_u64().unwrap()).sum();
    assert!(deleted >= 2, "{reports:?}");
    // Postfix delivers concurrently: the arrival order need not be the sending order.
    let mut got = texts(&reports, "incoming_message");
    got.sort();
    assert_eq!(got, from_alice);
    net.ok("bob", &["send", &cb, "answer from bob over smtp"]);
    assert_eq!(net.sync("bob")["sent"], 1);
    let reports = sync_until(&net, "alice", |r| !texts(r, "incoming_message").is_empty());
    assert_eq!(
        texts(&reports, "incoming_message"),
        ["answer from bob over smtp"]
    );

    // SMP with a question.
    net.ok(
        "bob",
        &[
            "verify",
            &cb,
            "--secret",
            "the old mill",
            "--question",
            "Where?",
        ],
    );
    net.sync("bob");
    let asked = sync_until(&net, "alice", |r| {
        event_names(r).contains(&"smp_request".to_owned())
    });
    let request = asked
        .iter()
        .flat_map(|r| r["events"].as_array().unwrap().clone())
        .find(|e| e["event"] == "smp_request")
        .unwrap();
    assert_eq!(request["question"], "Where?");
    net.ok("alice", &["verify", &ca, "--answer", "the old mill"]);
    settle(&net, &["alice", "bob"]);
    assert_eq!(net.show("alice", &ca)["verification"], "smp");
    assert_eq!(net.show("bob", &cb)["verification"], "smp");

    // Close: read-only on both sides.
    net.ok("alice", &["otr", "close", &ca]);
    let reports = settle(&net, &["alice", "bob"]);
    for (home, chat) in [("alice", &ca), ("bob", &cb)] {
        assert_eq!(net.show(home, chat)["state"], "closed", "{home}");
    }
    let _ = reports;
}

#[test]
fn two_devices_on_one_imap_account_and_a_contact() {
    let net = Net::new();
    let (alice, bob) = (server::fresh("alice"), server::fresh("bob"));
    init_on_server(&net, "alice", "init", &alice, &[]);
    init_on_server(&net, "bob", "init", &bob, &[]);
    let key: PathBuf = net.path("bob.key");
    net.ok("bob", &["export-account-key", key.to_str().unwrap()]);
    init_on_server(
        &net,
        "bob-laptop",
        "init-device",
        &bob,
        &["--account-key", key.to_str().unwrap()],
    );
    net.exchange_cards("alice", "bob");
    let card = net.path("alice.card");
    net.ok("bob-laptop", &["contact", "add", card.to_str().unwrap()]);

    net.json("alice", &["otr", "start", &bob]);
    assert_eq!(net.sync("alice")["sent"], 1);
    for device in ["bob", "bob-laptop"] {
        sync_until(&net, device, |r| {
            event_names(r).contains(&"invitation_received".to_owned())
        });
    }
    let cp = net.otr_chat("bob", "invited");
    let cl = net.otr_chat("bob-laptop", "invited");
    net.ok("bob", &["otr", "accept", &cp]);
    settle(&net, &["bob", "alice"]);
    assert_eq!(net.show("bob", &cp)["state"], "active");
    let reports = sync_until(&net, "bob-laptop", |r| {
        r.iter()
            .flat_map(|r| r["events"].as_array().unwrap().clone())
            .any(|e| e["state"] == "elsewhere")
    });
    assert!(!event_names(&reports).contains(&"ignored".to_owned()));
    let text = net.ok("bob-laptop", &["show", &cl]);
    assert!(text.contains("accepted on another device"), "{text}");
}

#[test]
fn init_checks_the_server_settings_first() {
    let net = Net::new();
    let env = server::env();
    let addr = server::fresh("carol");
    let base = |host: &str| {
        vec![
            "init".to_owned(),
            addr.clone(),
            "--imap-host".to_owned(),
            host.to_owned(),
            "--imap-port".to_owned(),
            env["OFFRECORD_MAIL_IMAP_PORT"].clone(),
            "--imap-security".to_owned(),
            "plain".to_owned(),
            "--smtp-host".to_owned(),
            host.to_owned(),
            "--smtp-port".to_owned(),
            env["OFFRECORD_MAIL_SUBMISSION_PORT"].clone(),
            "--smtp-security".to_owned(),
            "plain".to_owned(),
        ]
    };
    let fails = |args: &[String], password: Option<&str>| {
        let mut cmd = net.cmd("carol");
        cmd.args(args).env_remove("OFFRECORD_PASSWORD");
        if let Some(password) = password {
            cmd.env("OFFRECORD_PASSWORD", password);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        common::assert_one_sentence(&err);
        assert!(
            !net.path("carol").join("account.db").exists(),
            "nothing created"
        );
        err
    };
    let err = fails(&base("127.0.0.1"), None);
    assert!(err.contains("OFFRECORD_PASSWORD"), "{err}");
    let err = fails(&base("127.0.0.1"), Some("wrong"));
    assert!(err.contains("login refused"), "{err}");
    // 192.0.2.1 (TEST-NET-1) is never contacted: plain is refused before connecting.
    let err = fails(&base("192.0.2.1"), Some("offrecord"));
    assert!(err.contains("loopback"), "{err}");
    // The password from a file works.
    let file = net.path("password");
    std::fs::write(&file, "offrecord\n").unwrap();
    let mut args = base("127.0.0.1");
    args.extend(["--password-file".to_owned(), file.display().to_string()]);
    let out = net
        .cmd("carol")
        .args(&args)
        .env_remove("OFFRECORD_PASSWORD")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("server:"));
}
