//! Shared pieces of the tests against the real local mail server (ci/mailserver) and a real
//! Delta Chat (deltachat-rpc-server, ci/deltachat/install.sh):
//!
//! - [`MailServer`]: the server's contract from `ci/mailserver/env`; submitting mail through
//!   Postfix's `sendmail` and reading mailboxes with `doveadm fetch`. Fails loudly when the
//!   server is not running.
//! - [`Rpc`]: a client of deltachat-rpc-server's JSON-RPC 2.0 (one JSON object per line on
//!   stdin/stdout, positional parameters).
//! - [`Device`]: an Offrecord device (the chat layer) whose mail moves through the server.
//! - [`chatmail`]: the rules of chatmail's outgoing filter, as a checker.
#![allow(dead_code)]

pub mod chatmail;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chat::{Context, Event};
use serde_json::{Value, json};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A prefix for addresses that no other test run uses (the server is shared).
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// The local test mail server (ci/mailserver/start.sh), by its contract file.
pub struct MailServer {
    pub env: BTreeMap<String, String>,
}

impl MailServer {
    /// The running server. Panics with instructions when it is not running: these tests never
    /// skip.
    pub fn get() -> MailServer {
        let path = repo_root().join("ci/mailserver/env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the mail server contract {}: {e}",
                path.display()
            )
        });
        let env: BTreeMap<String, String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let server = MailServer { env };
        for port in [server.imap_port(), server.submission_port()] {
            let addr = format!("{}:{port}", server.host());
            if TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3)).is_err() {
                panic!(
                    "the local mail server is not running (nothing listens on {addr}); \
                     start it with `sudo ci/mailserver/start.sh` (ci/test.sh does)"
                );
            }
        }
        for tool in ["/usr/sbin/sendmail", "/usr/bin/doveadm"] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install the mail server with ci/mailserver/start.sh"
            );
        }
        server
    }

    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing in ci/mailserver/env"))
    }

    pub fn domain(&self) -> &str {
        self.var("OFFRECORD_MAIL_DOMAIN")
    }

    pub fn host(&self) -> &str {
        self.var("OFFRECORD_MAIL_HOST")
    }

    pub fn password(&self) -> &str {
        self.var("OFFRECORD_MAIL_PASSWORD")
    }

    pub fn imap_port(&self) -> u16 {
        self.var("OFFRECORD_MAIL_IMAP_PORT").parse().unwrap()
    }

    pub fn submission_port(&self) -> u16 {
        self.var("OFFRECORD_MAIL_SUBMISSION_PORT").parse().unwrap()
    }

    pub fn capture(&self) -> &str {
        self.var("OFFRECORD_MAIL_CAPTURE")
    }

    /// A fresh address on the server (any local part exists).
    pub fn addr(&self, name: &str) -> String {
        format!("{}@{}", unique(name), self.domain())
    }

    /// Submits `raw` from `from` to `recipients` with Postfix's `sendmail` (the same queue,
    /// cleanup, always_bcc and delivery as SMTP submission).
    pub fn submit(&self, from: &str, recipients: &[String], raw: &[u8]) {
        let mut child = Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(self.var("OFFRECORD_MAIL_POSTFIX_DIR"))
            .args(["-i", "-f", from, "--"])
            .args(recipients)
            .stdin(Stdio::piped())
            .spawn()
            .expect("run sendmail");
        child.stdin.take().unwrap().write_all(raw).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "sendmail failed: {status}");
    }

    fn doveadm(&self) -> Command {
        let mut cmd = Command::new("doveadm");
        cmd.arg("-c").arg(self.var("OFFRECORD_MAIL_DOVECOT_CONF"));
        cmd
    }

    /// The UIDs in `user`'s INBOX (empty if the mailbox does not exist yet).
    pub fn uids(&self, user: &str) -> Vec<u32> {
        let out = self
            .doveadm()
            .args(["fetch", "-u", user, "uid", "mailbox", "INBOX", "all"])
            .output()
            .expect("run doveadm");
        if !out.status.success() {
            return Vec::new();
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("uid: "))
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    }

    /// One stored mail of `user`'s INBOX, as Dovecot stored it (LF line ends).
    pub fn fetch(&self, user: &str, uid: u32) -> Vec<u8> {
        let out = self
            .doveadm()
            .args(["fetch", "-u", user, "text", "mailbox", "INBOX", "uid"])
            .arg(uid.to_string())
            .output()
            .expect("run doveadm");
        assert!(
            out.status.success(),
            "doveadm fetch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = out
            .stdout
            .strip_prefix(b"text:\n")
            .expect("doveadm fetch output starts with text:");
        body.strip_suffix(b"\n").unwrap_or(body).to_vec()
    }

    /// The UIDs of the mails in `user`'s INBOX by Message-ID (without angle brackets).
    pub fn by_message_id(&self, user: &str) -> HashMap<String, u32> {
        let out = self
            .doveadm()
            .args([
                "fetch",
                "-u",
                user,
                "uid hdr.message-id",
                "mailbox",
                "INBOX",
                "all",
            ])
            .output()
            .expect("run doveadm");
        assert!(out.status.success(), "doveadm fetch failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut map = HashMap::new();
        let mut uid = None;
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("uid: ") {
                uid = n.trim().parse().ok();
            } else if let (Some(id), Some(n)) = (line.strip_prefix("hdr.message-id: "), uid) {
                map.insert(id.trim().trim_matches(['<', '>']).to_owned(), n);
            }
        }
        map
    }

    /// Waits until Postfix's queue is empty (every submitted mail delivered or bounced).
    pub fn wait_delivered(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("postqueue")
                .arg("-c")
                .arg(self.var("OFFRECORD_MAIL_POSTFIX_DIR"))
                .arg("-j")
                .output()
                .expect("run postqueue");
            if out.status.success() && out.stdout.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            assert!(Instant::now() < deadline, "Postfix's queue does not drain");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// An Offrecord device (the chat layer on a temporary database) whose mail goes through the
/// server: its outbox is submitted with `sendmail`, its INBOX read with `doveadm`.
pub struct Device {
    pub name: String,
    pub ctx: Context,
    pub seen: Vec<u32>,
    /// What the test is doing now; every submitted mail is labelled with it.
    pub step: String,
    /// Every mail this device submitted: (step, Message-ID, raw), in order.
    pub sent: Vec<(String, String, Vec<u8>)>,
}

impl Device {
    pub fn create(dir: &Path, name: &str, addr: &str) -> Device {
        Device {
            name: name.to_owned(),
            ctx: Context::create(&dir.join(format!("{name}.db")), addr).unwrap(),
            seen: Vec::new(),
            step: String::new(),
            sent: Vec::new(),
        }
    }

    pub fn with_account_key(dir: &Path, name: &str, addr: &str, key: &[u8]) -> Device {
        Device {
            name: name.to_owned(),
            ctx: Context::create_device(&dir.join(format!("{name}.db")), addr, key).unwrap(),
            seen: Vec::new(),
            step: String::new(),
            sent: Vec::new(),
        }
    }

    pub fn addr(&self) -> String {
        self.ctx.addr().to_owned()
    }

    /// Submits the whole outbox; how many mails.
    pub fn flush(&mut self, server: &MailServer) -> usize {
        let out = self.ctx.outbox().unwrap();
        let from = self.addr();
        for mail in &out {
            server.submit(&from, &mail.recipients, &mail.raw);
            self.ctx.outbox_sent(mail.id).unwrap();
            self.sent
                .push((self.step.clone(), mail.message_id.clone(), mail.raw.clone()));
        }
        out.len()
    }

    /// Reads and processes every new mail in the INBOX; the events.
    pub fn receive(&mut self, server: &MailServer) -> Vec<Event> {
        let mut events = Vec::new();
        for uid in server.uids(&self.addr()) {
            if self.seen.contains(&uid) {
                continue;
            }
            self.seen.push(uid);
            let raw = server.fetch(&self.addr(), uid);
            let processed = self.ctx.receive_mail(&raw, now()).unwrap();
            events.extend(processed.events);
        }
        events
    }
}

/// Moves mail between devices until nobody has anything left to send; all events, by
/// device name.
pub fn settle(server: &MailServer, devices: &mut [&mut Device]) -> Vec<(String, Event)> {
    let mut all = Vec::new();
    for _round in 0..20 {
        let mut sent = 0;
        for device in devices.iter_mut() {
            sent += device.flush(server);
        }
        server.wait_delivered();
        for device in devices.iter_mut() {
            for event in device.receive(server) {
                all.push((device.name.clone(), event));
            }
        }
        let pending: usize = devices.iter().map(|d| d.ctx.outbox().unwrap().len()).sum();
        if sent == 0 && pending == 0 {
            return all;
        }
    }
    panic!("mail keeps flowing after 20 rounds: {all:?}");
}

/// deltachat-rpc-server, from `$DELTACHAT_RPC_SERVER` or where ci/deltachat/install.sh puts
/// it. Panics with instructions when it is missing.
pub fn rpc_server_binary() -> PathBuf {
    let path = std::env::var_os("DELTACHAT_RPC_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("ci/deltachat/bin/deltachat-rpc-server"));
    assert!(
        path.is_file(),
        "deltachat-rpc-server not found at {}: run ci/deltachat/install.sh (or set \
         DELTACHAT_RPC_SERVER to the binary)",
        path.display()
    );
    path
}

/// A running deltachat-rpc-server with its accounts in a temporary directory.
pub struct Rpc {
    child: Child,
    stdin: ChildStdin,
    responses: Receiver<Value>,
    early: HashMap<u64, Value>,
    next_id: u64,
    pub dir: tempfile::TempDir,
}

impl Rpc {
    pub fn start() -> Rpc {
        let binary = rpc_server_binary();
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("rpc-server.log")).unwrap();
        let mut child = Command::new(&binary)
            .env("DC_ACCOUNTS_PATH", dir.path().join("accounts"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, responses) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("deltachat-rpc-server wrote a non-JSON line: {line}");
                    continue;
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Rpc {
            child,
            stdin,
            responses,
            early: HashMap::new(),
            next_id: 1,
            dir,
        }
    }

    /// Calls `method` with positional `params`; the result, or the error object as `Err`.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let response = loop {
            if let Some(r) = self.early.remove(&id) {
                break r;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.responses.recv_timeout(left) {
                Ok(r) => {
                    let rid = r["id"].as_u64().unwrap_or(0);
                    if rid == id {
                        break r;
                    }
                    self.early.insert(rid, r);
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("deltachat-rpc-server: {method} timed out")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("deltachat-rpc-server exited during {method}")
                }
            }
        };
        match response.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(response["result"].clone()),
        }
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("deltachat-rpc-server: {method} failed: {e}"))
    }

    /// A new Delta Chat account on the local server (plain IMAP and SMTP on loopback),
    /// configured and running.
    pub fn account(&mut self, server: &MailServer, addr: &str) -> u64 {
        let acc = self.call("add_account", json!([])).as_u64().unwrap();
        // Keep mail in the INBOX (another device of the account reads it there).
        for (key, value) in [
            ("mvbox_move", "0"),
            ("only_fetch_mvbox", "0"),
            ("delete_server_after", "0"),
            ("bcc_self", "1"),
        ] {
            // Keys unknown to this version are fine to skip.
            let _ = self.try_call("set_config", json!([acc, key, value]));
        }
        self.call(
            "add_or_update_transport",
            json!([acc, {
                "addr": addr,
                "password": server.password(),
                "imapServer": server.host(),
                "imapPort": server.imap_port(),
                "imapSecurity": "plain",
                "imapUser": addr,
                "smtpServer": server.host(),
                "smtpPort": server.submission_port(),
                "smtpSecurity": "plain",
                "smtpUser": addr,
            }]),
        );
        self.call("start_io", json!([acc]));
        acc
    }

    /// Every message of every chat of the account, as message objects.
    pub fn all_messages(&mut self, acc: u64) -> Vec<Value> {
        let chats = self.call("get_chatlist_entries", json!([acc, null, null, null]));
        let mut out = Vec::new();
        for chat in chats.as_array().unwrap() {
            let ids = self.call("get_message_ids", json!([acc, chat, false, false]));
            for id in ids.as_array().unwrap() {
                out.push(self.call("get_message", json!([acc, id])));
            }
        }
        out
    }

    /// Waits until a message satisfying `pred` shows in any chat of the account.
    pub fn wait_for_message(
        &mut self,
        acc: u64,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(m) = self.all_messages(acc).into_iter().find(|m| pred(m)) {
                return m;
            }
            if Instant::now() > deadline {
                let shown: Vec<_> = self
                    .all_messages(acc)
                    .iter()
                    .map(|m| {
                        (
                            m["chatId"].clone(),
                            m["text"].clone(),
                            m["viewType"].clone(),
                        )
                    })
                    .collect();
                panic!(
                    "Delta Chat did not show {what} within 90 s; it shows {shown:?}; log in {}",
                    self.dir.path().display()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("OFFRECORD_KEEP_DC").is_some() {
            let kept = self.dir.path().to_owned();
            // Keep the accounts and the log for a look after a failure.
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().unwrap(),
            ));
            eprintln!("Delta Chat accounts and log kept in {}", kept.display());
        }
    }
}
