//! `offrecord demo`: alice, bob's phone and bob's laptop (a second device of bob) on one
//! spool, through the whole lifecycle of an Off-the-Record chat, printed as a transcript.
//!
//! The devices are ordinary account homes (as `offrecord init` makes them) driven in-process
//! through the same functions the commands use, so `offrecord --home <dir>/alice chats` works
//! on a demo directory afterwards. Keys, fingerprints and session ids differ per run; the rest
//! of the transcript does not.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chat::{ChatId, Event, OtrState};
use mail::Spool;
use serde_json::json;

use crate::commands::{now, plural};
use crate::error::{Error, reason_text};
use crate::home::{Account, Home};
use crate::render;
use crate::sync::{self, SyncReport};

/// What the chat participants write (and what must be gone from every file afterwards).
const ALICE_WRITES: [&str; 3] = [
    "Are you free on Saturday? It's about the surprise party.",
    "Carol must not hear of it: 8 pm at the boathouse.",
    "Bring the blue lanterns.",
];
const BOB_WRITES: &str = "Got it, my lips are sealed. Blue lanterns it is.";
const SMP_QUESTION: &str = "Where did we first meet?";
const SMP_SECRET: &str = "the night train to Trieste";

/// Prints the transcript, section by section, as text or (with `json`) one JSON object per
/// section.
struct Transcript<'a> {
    out: &'a mut dyn Write,
    json: bool,
    number: usize,
    title: String,
    lines: Vec<String>,
}

impl Transcript<'_> {
    fn section(&mut self, title: &str) -> Result<(), Error> {
        self.flush()?;
        self.number += 1;
        self.title = title.to_owned();
        if !self.json {
            let heading = format!("== {}. {title} ", self.number);
            self.write(&format!("\n{heading:=<78}\n"))?;
        }
        Ok(())
    }

    fn line(&mut self, text: impl Into<String>) -> Result<(), Error> {
        let text = text.into();
        if self.json {
            self.lines.push(text);
            Ok(())
        } else {
            let mut out = String::new();
            for line in text.lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
            self.write(&out)
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.json && !self.title.is_empty() {
            let object = json!({
                "section": self.number,
                "title": self.title,
                "lines": self.lines,
            });
            self.write(&format!("{object}\n"))?;
            self.lines.clear();
        }
        Ok(())
    }

    fn write(&mut self, text: &str) -> Result<(), Error> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io("write", "standard output", e))
    }
}

/// One device of the demo.
struct Device {
    name: &'static str,
    account: Account,
    carrier: Spool,
}

impl Device {
    fn new(name: &'static str, account: Account, seed: u64) -> Result<Device, Error> {
        let mut account = account;
        // Invitation ids and OTR nonces from here on are reproducible; the keys made at
        // creation come from the operating system.
        account.ctx.seed_rng(seed);
        let carrier = account.carrier()?;
        Ok(Device {
            name,
            account,
            carrier,
        })
    }

    fn sync(&mut self, t: &mut Transcript<'_>) -> Result<SyncReport, Error> {
        let report = sync::sync_once(&mut self.account.ctx, &mut self.carrier, &now)?;
        let mut text = format!(
            "{} syncs: sent {}, received {}",
            self.name,
            plural(report.sent, "mail"),
            report.received
        );
        if report.deleted > 0 {
            text.push_str(&format!(" ({} used up and deleted)", report.deleted));
        }
        t.line(text)?;
        for event in &report.events {
            t.line(format!(
                "    {}",
                render::event_text(&self.account.ctx, event)
            ))?;
        }
        for failure in report.send_failures.iter().chain(&report.skipped) {
            t.line(format!("    {failure}"))?;
        }
        Ok(report)
    }

    fn state(&self, chat: ChatId) -> Result<(OtrState, String), Error> {
        let info = self.account.ctx.chat(chat)?;
        Ok((
            info.otr_state.unwrap_or(OtrState::Elsewhere),
            info.state_reason.unwrap_or_default(),
        ))
    }

    /// "chat 2 is pending (…); can write: no, …"
    fn describe(&self, chat: ChatId) -> Result<String, Error> {
        let (state, reason) = self.state(chat)?;
        let can = match self.account.ctx.cant_send_reason(chat)? {
            None => "yes".to_owned(),
            Some(r) => format!("no, {}", reason_text(&r)),
        };
        Ok(format!(
            "{}: chat {chat} is {} ({reason}); can write: {can}",
            self.name,
            render::state_label(state)
        ))
    }

    fn only_otr_chat(&self) -> Result<ChatId, Error> {
        self.account
            .ctx
            .chats()?
            .into_iter()
            .find(|c| c.kind == chat::ChatKind::Otr)
            .map(|c| c.id)
            .ok_or_else(|| Error::Demo(format!("{} shows no Off-the-Record chat", self.name)))
    }
}

fn ignored(report: &SyncReport) -> usize {
    report
        .events
        .iter()
        .filter(|e| matches!(e, Event::Ignored { .. }))
        .count()
}

/// Runs the demo in `dir` (a new temporary directory, removed afterwards, if `None`), writing
/// the transcript to `out`.
pub fn run(dir: Option<&Path>, json: bool, out: &mut dyn Write) -> Result<(), Error> {
    let temp;
    let root = match dir {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
            dir.to_path_buf()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("offrecord-demo-")
                .tempdir()
                .map_err(|e| Error::io("create", std::env::temp_dir(), e))?;
            temp.path().to_path_buf()
        }
    };
    let mut t = Transcript {
        out,
        json,
        number: 0,
        title: String::new(),
        lines: Vec::new(),
    };
    let (chat_a, chat_p) = lifecycle(&root, &mut t)?;
    if dir.is_some() {
        t.section("Try it yourself")?;
        t.line(format!(
            "The three homes are in {}; for example:\n  offrecord --home {} chats\n  \
             offrecord --home {} show {chat_a}\n  offrecord --home {} show {chat_p}",
            root.display(),
            root.join("alice").display(),
            root.join("alice").display(),
            root.join("bob-phone").display()
        ))?;
    }
    t.flush()
}

/// The whole lifecycle; returns alice's chat and the chat on bob's phone.
fn lifecycle(root: &Path, t: &mut Transcript<'_>) -> Result<(ChatId, ChatId), Error> {
    let spool = root.join("spool");

    // ---------------------------------------------------------------------------------------
    t.section("Three devices on one local spool")?;
    let home = Home::new(root.join("alice"));
    let account = home.init("alice@example.org", Some(&spool))?;
    let mut alice = Device::new("alice", account, 1)?;
    let home = Home::new(root.join("bob-phone"));
    let account = home.init("bob@example.org", Some(&spool))?;
    let mut phone = Device::new("bob's phone", account, 2)?;
    let key = phone.account.ctx.export_account_key()?;
    let home = Home::new(root.join("bob-laptop"));
    let account = home.init_device("bob@example.org", &key, Some(&spool))?;
    drop(key);
    let mut laptop = Device::new("bob's laptop", account, 3)?;
    for d in [&alice, &phone, &laptop] {
        let ctx = &d.account.ctx;
        t.line(format!(
            "{:<13} {}\n    OpenPGP key      {}\n    OTR fingerprint  {}   instance tag {}",
            d.name,
            ctx.addr(),
            render::pgp_fingerprint(&ctx.fingerprint()),
            render::otr_fingerprint(&ctx.otr_fingerprint()),
            render::instance_tag(ctx.instance_tag()),
        ))?;
    }
    t.line(
        "bob's laptop was set up from bob's exported account key: the same OpenPGP key as the \
         phone, but its own OTR key and instance tag (those never leave a device).",
    )?;

    // ---------------------------------------------------------------------------------------
    t.section("Key exchange: contact cards")?;
    let alice_card = alice.account.ctx.export_public_key()?;
    let bob_card = phone.account.ctx.export_public_key()?;
    t.line(format!(
        "alice's card (what `offrecord card` prints): {}...",
        alice_card.chars().take(60).collect::<String>()
    ))?;
    let bob = alice
        .account
        .ctx
        .import_contact(bob_card.as_bytes(), None, now())?;
    t.line("alice adds bob's card; bob's phone and laptop add alice's card.")?;
    for d in [&mut phone, &mut laptop] {
        d.account
            .ctx
            .import_contact(alice_card.as_bytes(), None, now())?;
    }
    for (d, peer) in [(&alice, "bob@example.org"), (&phone, "alice@example.org")] {
        let c = d.account.ctx.contact_by_addr(peer)?;
        t.line(format!(
            "{} knows {peer} by the key {}",
            d.name,
            render::pgp_fingerprint(&c.fingerprint)
        ))?;
    }

    // ---------------------------------------------------------------------------------------
    t.section("Invitation")?;
    let (chat_a, _) = alice.account.ctx.start_otr_chat(bob, now())?;
    t.line(format!(
        "alice starts an Off-the-Record chat with bob (`offrecord otr start bob@example.org`): chat {chat_a}."
    ))?;
    t.line(alice.describe(chat_a)?)?;
    alice.sync(t)?;
    phone.sync(t)?;
    laptop.sync(t)?;
    let chat_p = phone.only_otr_chat()?;
    let chat_l = laptop.only_otr_chat()?;
    t.line("Both of bob's devices show the invitation:")?;
    t.line(format!("  {}", phone.describe(chat_p)?))?;
    t.line(format!("  {}", laptop.describe(chat_l)?))?;
    t.line("alice's side is still pending:")?;
    t.line(format!("  {}", alice.describe(chat_a)?))?;

    // ---------------------------------------------------------------------------------------
    t.section("Accept on bob's phone")?;
    phone.account.ctx.accept_invitation(chat_p, now())?;
    t.line(format!(
        "bob accepts on his phone (`offrecord otr accept {chat_p}`)."
    ))?;
    t.line(phone.describe(chat_p)?)?;
    phone.sync(t)?;
    let report = laptop.sync(t)?;
    t.line(laptop.describe(chat_l)?)?;
    t.line(format!(
        "bob's laptop reported {} and stays silent from now on.",
        plural(ignored(&report), "unreadable mail")
    ))?;

    // ---------------------------------------------------------------------------------------
    t.section("The OTR key exchange, by email")?;
    t.line(
        "The acceptance (signed, in the 1:1 chat) carries the phone's OTR fingerprint and \
         instance tag; the OTR AKE (D-H commit, D-H key, reveal signature, signature) travels \
         in OpenPGP-encrypted mail.",
    )?;
    for _ in 0..6 {
        let active = |d: &Device, c| d.state(c).map(|(s, _)| s == OtrState::Active);
        if active(&alice, chat_a)? && active(&phone, chat_p)? {
            break;
        }
        alice.sync(t)?;
        phone.sync(t)?;
    }
    for (d, c) in [(&alice, chat_a), (&phone, chat_p)] {
        let info = d.account.ctx.chat(c)?;
        t.line(format!(
            "{}: chat {c} is {}, {}",
            d.name,
            render::state_label(info.otr_state.unwrap_or(OtrState::Elsewhere)),
            info.verification.describe()
        ))?;
    }
    let info = alice.account.ctx.chat(chat_a)?;
    if info.otr_state != Some(OtrState::Active) {
        return Err(Error::Demo("the key exchange did not complete".into()));
    }
    t.line(format!(
        "alice's chat is bound to bob's phone: instance {} (bob's phone is {}, his laptop {})",
        info.their_instance
            .map(render::instance_tag)
            .unwrap_or_default(),
        render::instance_tag(phone.account.ctx.instance_tag()),
        render::instance_tag(laptop.account.ctx.instance_tag())
    ))?;

    // ---------------------------------------------------------------------------------------
    t.section("Messages while the other side is offline")?;
    t.line("bob's phone is offline (it does not sync) while alice writes:")?;
    for text in ALICE_WRITES {
        alice.account.ctx.send_text(chat_a, text, now())?;
        t.line(format!("  alice: {text}"))?;
    }
    alice.sync(t)?;
    t.line("Later bob's phone comes online:")?;
    phone.sync(t)?;
    phone.account.ctx.send_text(chat_p, BOB_WRITES, now())?;
    t.line(format!("  bob: {BOB_WRITES}"))?;
    phone.sync(t)?;
    alice.sync(t)?;
    let report = laptop.sync(t)?;
    t.line(format!(
        "bob's laptop shows none of it ({}, {} in its chat).",
        plural(ignored(&report), "unreadable mail"),
        plural(laptop.account.ctx.history(chat_l)?.len(), "note")
    ))?;

    // ---------------------------------------------------------------------------------------
    t.section("Verification")?;
    verify_smp(t, &mut alice, chat_a, &mut phone, chat_p)?;
    for (d, c) in [(&alice, chat_a), (&phone, chat_p)] {
        t.line(format!(
            "{}: {}",
            d.name,
            d.account.ctx.chat(c)?.verification.describe()
        ))?;
    }

    // ---------------------------------------------------------------------------------------
    t.section("The session id, as both sides show it")?;
    let mut shown = Vec::new();
    for (d, c) in [(&alice, chat_a), (&phone, chat_p)] {
        let info = d.account.ctx.chat(c)?;
        let ssid = info
            .ssid
            .ok_or_else(|| Error::Demo(format!("{} shows no session id", d.name)))?;
        t.line(format!(
            "{:<12} {}   {}",
            d.name,
            render::ssid_hex(&ssid),
            render::ssid_words(&ssid)
        ))?;
        shown.push(ssid.bytes);
    }
    if shown.first() != shown.get(1) {
        return Err(Error::Demo("the session ids differ".into()));
    }
    t.line(
        "The same 8 bytes and the same words on both sides; each reads out its *bold* half \
         and the other confirms it. (The demo seeds its random numbers after creating the \
         keys, so this session id repeats from run to run; real chats get fresh ones.)",
    )?;

    // ---------------------------------------------------------------------------------------
    t.section("Close")?;
    let before = scan(root, &plaintexts())?;
    alice.account.ctx.close_otr_chat(chat_a, now())?;
    t.line(format!(
        "alice closes the chat (`offrecord otr close {chat_a}`). Its last OTR message ends the \
         session (TLV \"disconnected\") and reveals every MAC key not revealed yet, so anyone \
         could have forged the conversation afterwards (the chat layer does not report how many \
         keys that was)."
    ))?;
    alice.sync(t)?;
    phone.sync(t)?;
    let report = laptop.sync(t)?;
    for (d, c) in [(&alice, chat_a), (&phone, chat_p), (&laptop, chat_l)] {
        t.line(d.describe(c)?)?;
    }
    t.line(format!(
        "bob's laptop: {}.",
        plural(ignored(&report), "unreadable mail")
    ))?;

    // ---------------------------------------------------------------------------------------
    t.section("Read-only after close, on both sides")?;
    for (d, c) in [(&mut alice, chat_a), (&mut phone, chat_p)] {
        match d.account.ctx.send_text(c, "one more thing", now()) {
            Ok(_) => return Err(Error::Demo(format!("{} could still write", d.name))),
            Err(e) => t.line(format!("{} tries to write: {}", d.name, Error::from(e)))?,
        }
    }

    // ---------------------------------------------------------------------------------------
    t.section("Erasure: the plaintext is in no file of any account")?;
    let names = [
        ("alice", "alice"),
        ("bob-phone", "bob's phone"),
        ("bob-laptop", "bob's laptop"),
    ];
    t.line(format!(
        "Every file under each account directory is scanned for the {} of the chat.",
        plural(plaintexts().len(), "message")
    ))?;
    let after = scan(root, &plaintexts())?;
    let mut found = false;
    for (dir, name) in names {
        let had = before.get(dir).map_or(0, |s| s.hits);
        let now_hits = after.get(dir).map_or(0, |s| s.hits);
        let files = after.get(dir).map_or(0, |s| s.files);
        t.line(format!(
            "{name:<13} before close: {:<27} after close: {} ({})",
            if had > 0 {
                "plaintext stored"
            } else {
                "no plaintext"
            },
            if now_hits > 0 {
                "PLAINTEXT FOUND"
            } else {
                "no plaintext"
            },
            plural(files, "file")
        ))?;
        found |= now_hits > 0;
    }
    let spool_scan = after.get("spool").cloned().unwrap_or_default();
    t.line(format!(
        "The spool holds {} (OpenPGP-encrypted; the OTR mail was deleted by the device it was \
         for); plaintext in {}.",
        plural(spool_scan.files, "file"),
        if spool_scan.hits > 0 { "some" } else { "none" }
    ))?;
    if found || spool_scan.hits > 0 {
        return Err(Error::Demo(
            "plaintext of the closed chat was found on disk".into(),
        ));
    }
    Ok((chat_a, chat_p))
}

fn verify_smp(
    t: &mut Transcript<'_>,
    alice: &mut Device,
    chat_a: ChatId,
    phone: &mut Device,
    chat_p: ChatId,
) -> Result<(), Error> {
    t.line(
        "The chat is already authenticated by the chat key; alice wants more: bob must prove \
         he knows a secret they share (SMP, the Socialist Millionaires' Protocol: neither side \
         learns anything but whether the secrets match).",
    )?;
    t.line(format!(
        "alice: `offrecord verify {chat_a} --secret '{SMP_SECRET}' --question '{SMP_QUESTION}'`"
    ))?;
    alice
        .account
        .ctx
        .smp_start(chat_a, SMP_SECRET, Some(SMP_QUESTION), now())?;
    alice.sync(t)?;
    let report = phone.sync(t)?;
    let asked = report
        .events
        .iter()
        .any(|e| matches!(e, Event::SmpRequest { question: Some(q), .. } if q == SMP_QUESTION));
    if !asked {
        return Err(Error::Demo(
            "bob's phone got no verification request with alice's question".into(),
        ));
    }
    t.line(format!(
        "bob: `offrecord verify {chat_p} --answer '{SMP_SECRET}'`"
    ))?;
    phone.account.ctx.smp_respond(chat_p, SMP_SECRET, now())?;
    let verified = |d: &Device, c| {
        d.account
            .ctx
            .chat(c)
            .map(|i| i.verification == chat::Verification::Smp)
    };
    for _ in 0..4 {
        if verified(alice, chat_a)? && verified(phone, chat_p)? {
            break;
        }
        phone.sync(t)?;
        alice.sync(t)?;
    }
    if !(verified(alice, chat_a)? && verified(phone, chat_p)?) {
        return Err(Error::Demo("the SMP verification did not succeed".into()));
    }
    Ok(())
}

/// What the scan looks for.
fn plaintexts() -> Vec<&'static str> {
    let mut all: Vec<&str> = ALICE_WRITES.to_vec();
    all.push(BOB_WRITES);
    all
}

/// The result of scanning one directory.
#[derive(Clone, Debug, Default)]
struct Scan {
    files: usize,
    hits: usize,
}

/// Scans every file under each directory of `root` for any of `needles`.
fn scan(root: &Path, needles: &[&str]) -> Result<std::collections::BTreeMap<String, Scan>, Error> {
    let mut result = std::collections::BTreeMap::new();
    let entries = fs::read_dir(root).map_err(|e| Error::io("read", root, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let mut scan = Scan::default();
        for file in files_under(&path)? {
            let bytes = fs::read(&file).map_err(|e| Error::io("read", &file, e))?;
            scan.files += 1;
            if needles
                .iter()
                .any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
            {
                scan.hits += 1;
            }
        }
        result.insert(entry.file_name().to_string_lossy().into_owned(), scan);
    }
    Ok(result)
}

/// Every regular file under `dir`, recursively (links are not followed).
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, e))?;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}
