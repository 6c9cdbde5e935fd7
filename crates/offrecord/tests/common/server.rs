//! The local test mail server (ci/mailserver/start.sh, its contract in ci/mailserver/env) as
//! the tests over IMAP/SMTP see it. Every function fails the test when the server is down.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Net;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The server contract (ci/mailserver/env); fails the test when the server is down.
pub fn env() -> HashMap<String, String> {
    let text = std::fs::read_to_string(repo().join("ci/mailserver/env")).unwrap();
    let env: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for key in ["OFFRECORD_MAIL_IMAP_PORT", "OFFRECORD_MAIL_SUBMISSION_PORT"] {
        let port = &env[key];
        assert!(
            TcpStream::connect(format!("127.0.0.1:{port}")).is_ok(),
            "the test mail server is not running (nothing on 127.0.0.1:{port}): \
             run `sudo ci/mailserver/start.sh` first"
        );
    }
    env
}

/// A fresh address at the test domain.
pub fn fresh(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{name}-{}-{nanos}-{}@offrecord.test",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `init` (or `init-device` with `extra`) of `addr` on the test server, plain on loopback, the
/// password from the environment.
pub fn init_on_server(net: &Net, home: &str, command: &str, addr: &str, extra: &[&str]) -> Value {
    let env = env();
    let mut args = vec![
        "--json",
        command,
        addr,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        &env["OFFRECORD_MAIL_IMAP_PORT"],
        "--imap-security",
        "plain",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &env["OFFRECORD_MAIL_SUBMISSION_PORT"],
        "--smtp-security",
        "plain",
    ];
    args.extend_from_slice(extra);
    let out = net
        .cmd(home)
        .args(&args)
        .env("OFFRECORD_PASSWORD", &env["OFFRECORD_MAIL_PASSWORD"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
