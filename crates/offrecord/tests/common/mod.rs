//! Drives the `offrecord` binary on temporary directories: several homes (accounts or devices)
//! side by side, sharing the spool `offrecord-spool` next to them.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

pub struct Net {
    pub dir: tempfile::TempDir,
}

impl Net {
    pub fn new() -> Net {
        Net {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with `--home <dir>/<home>`.
    pub fn cmd(&self, home: &str) -> assert_cmd::Command {
        let mut cmd = cargo_bin_cmd!("offrecord");
        cmd.arg("--home")
            .arg(self.path(home))
            .env_remove("OFFRECORD_HOME")
            .timeout(Duration::from_secs(300));
        cmd
    }

    /// Runs a command that must succeed; its standard output.
    pub fn ok(&self, home: &str, args: &[&str]) -> String {
        let out = self.cmd(home).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "offrecord --home {home} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command with `--json`; its one JSON object.
    pub fn json(&self, home: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(home, &all);
        assert_eq!(out.trim().lines().count(), 1, "one object: {out}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Runs a command that must fail with status 1 and one sentence on standard error; the
    /// sentence.
    pub fn fails(&self, home: &str, args: &[&str]) -> String {
        let out = self.cmd(home).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_one_sentence(&err);
        err.trim().to_owned()
    }

    pub fn init(&self, home: &str, addr: &str) {
        let out = self.ok(home, &["init", addr]);
        assert!(out.contains(addr), "{out}");
    }

    /// `a` and `b` add each other's contact card.
    pub fn exchange_cards(&self, a: &str, b: &str) {
        for (me, other) in [(a, b), (b, a)] {
            let card = self.path(&format!("{other}.card"));
            std::fs::write(&card, self.ok(other, &["card"])).unwrap();
            self.ok(me, &["contact", "add", card.to_str().unwrap()]);
        }
    }

    pub fn sync(&self, home: &str) -> Value {
        self.json(home, &["sync"])
    }

    /// Syncs the homes in turn until a whole round moves no mail.
    pub fn settle(&self, homes: &[&str]) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..10 {
            let mut moved = 0;
            for home in homes {
                let report = self.sync(home);
                moved += report["sent"].as_u64().unwrap() + report["received"].as_u64().unwrap();
                all.push(report);
            }
            if moved == 0 {
                return all;
            }
        }
        panic!("the homes {homes:?} never settled");
    }

    pub fn chats(&self, home: &str) -> Vec<Value> {
        self.json(home, &["chats"])["chats"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The number of the only OTR chat of `home` in `state`.
    pub fn otr_chat(&self, home: &str, state: &str) -> String {
        let found: Vec<_> = self
            .chats(home)
            .into_iter()
            .filter(|c| c["kind"] == "otr" && c["state"] == state)
            .collect();
        assert_eq!(found.len(), 1, "{home}: {found:?}");
        found[0]["chat"].as_i64().unwrap().to_string()
    }

    /// The unread count `chats` lists for `chat`.
    pub fn unread(&self, home: &str, chat: &str) -> u64 {
        let number: i64 = chat.parse().unwrap();
        let chats = self.chats(home);
        let listed = chats.iter().find(|c| c["chat"] == number).unwrap();
        listed["unread"].as_u64().unwrap()
    }

    pub fn show(&self, home: &str, chat: &str) -> Value {
        self.json(home, &["show", chat])
    }

    /// The files under `home` that contain any of `needles`.
    pub fn files_containing(&self, home: &str, needles: &[&str]) -> Vec<String> {
        let mut hits = Vec::new();
        for file in files_under(&self.path(home)) {
            let bytes = std::fs::read(&file).unwrap();
            if needles
                .iter()
                .any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
            {
                hits.push(file.display().to_string());
            }
        }
        hits
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                todo.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

pub fn assert_one_sentence(text: &str) {
    let text = text.trim_end_matches('\n');
    assert!(!text.is_empty(), "an error message");
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(
        text.ends_with('.') && text.starts_with(|c: char| c.is_uppercase()),
        "a sentence: {text:?}"
    );
    for noise in ["panicked", "RUST_BACKTRACE", "Error {", "Some(", "error:"] {
        assert!(!text.contains(noise), "no debug output: {text:?}");
    }
}

/// The event names of sync reports.
pub fn event_names(reports: &[Value]) -> Vec<String> {
    reports
        .iter()
        .flat_map(|r| r["events"].as_array().unwrap().clone())
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}
