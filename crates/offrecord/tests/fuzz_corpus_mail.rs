//! Replays the mail-side fuzz corpora (envelope, Autocrypt, chat control headers, incoming mail
//! processing, mail cursors and addresses) through the fuzz targets' checks, without libFuzzer.
//!
//! Every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` of the targets in
//! `fuzz/src/mail_checks.rs` (included below) goes through the same function the cargo-fuzz
//! target calls. A corpus directory that is missing or empty fails the test. See
//! `fuzz/README.md` and `docs/FUZZING.md`.
//!
//! The seed corpus and the `chat_receive` fixture database are written by the ignored test
//! `regenerate_mail_seed_corpus`:
//! `cargo test -p offrecord --test fuzz_corpus_mail -- --ignored regenerate_mail_seed_corpus`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/mail_checks.rs"]
mod mail_checks;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use chat::protocol::{Control, Kind};
use chat::{ChatKind, Context, OtrState};
use envelope::{
    Attachment, AutocryptHeader, Body, Identity, InnerPart, MailHeaders, Signing, build_encrypted,
    build_plain,
};
use mail::{Carrier, Spool};
use otr::InstanceTag;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The input files of a directory, sorted; `None` if it does not exist.
fn inputs(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && name != "README.md"
        })
        .collect();
    files.sort();
    Some(files)
}

/// Runs every corpus and regression input of `target` through its check.
fn replay(target: &str) {
    let check = mail_checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no check named {target}"));
    let corpus_dir = fuzz_dir().join("corpus").join(target);
    let corpus = inputs(&corpus_dir)
        .unwrap_or_else(|| panic!("corpus directory {} is missing", corpus_dir.display()));
    assert!(
        !corpus.is_empty(),
        "corpus directory {} is empty",
        corpus_dir.display()
    );
    let regressions = inputs(&fuzz_dir().join("regressions").join(target)).unwrap_or_default();
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs failed (panic messages above):\n{}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n")
    );
}

#[test]
fn envelope_parse() {
    replay("envelope_parse");
}

#[test]
fn autocrypt() {
    replay("autocrypt");
}

#[test]
fn chat_control() {
    replay("chat_control");
}

#[test]
fn chat_receive() {
    replay("chat_receive");
}

#[test]
fn mail_text() {
    replay("mail_text");
}

/// Every mail-side target has a test above and a fuzz target file; the otr targets are
/// `crates/otr/tests/fuzz_corpus.rs`'s, and every directory under `fuzz/corpus/` and
/// `fuzz/regressions/` belongs to one of the two lists.
#[test]
fn targets_corpora_and_fuzz_binaries_agree() {
    let this_file = include_str!("fuzz_corpus_mail.rs");
    let otr_checks = include_str!("../../../fuzz/src/checks.rs");
    let cargo_toml = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let run_all = fs::read_to_string(fuzz_dir().join("run-all.sh")).unwrap();
    for (name, _) in mail_checks::TARGETS {
        assert!(
            this_file.contains(&format!("replay(\"{name}\")")),
            "no replay test for {name}"
        );
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
        assert!(
            cargo_toml.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
    // run-all.sh runs `cargo fuzz list`, i.e. every [[bin]]: it must not pick a fixed list.
    assert!(run_all.contains("cargo fuzz list"));
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mail = mail_checks::TARGETS.iter().any(|(n, _)| *n == name);
                let otr = otr_checks.contains(&format!("(\"{name}\", "));
                assert!(mail || otr, "fuzz/{kind}/{name} is not a target");
            }
        }
    }
}

/// The fixture database still opens with this build (a schema change would make every
/// `chat_receive` input fail to open it: regenerate the seeds).
#[test]
fn chat_receive_fixture_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    fs::copy(mail_checks::fixture_dir().join("bob.db"), &path).unwrap();
    let ctx = Context::open(&path).unwrap();
    let chats = ctx.chats().unwrap();
    let otr = chats.iter().find(|c| c.kind == ChatKind::Otr).unwrap();
    assert_eq!(otr.otr_state, Some(OtrState::Active));
}

// ---------------------------------------------------------------------------------------------
// Seed corpus generator
// ---------------------------------------------------------------------------------------------

fn write_seeds(target: &str, files: &[(String, Vec<u8>)]) {
    let dir = fuzz_dir().join("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    for (name, data) in files {
        fs::write(dir.join(name), data).unwrap();
    }
}

fn seed(name: &str, data: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.to_owned(), data.into())
}

fn headers(from: &str, to: &[&str], id: &str) -> MailHeaders {
    MailHeaders {
        from: from.to_owned(),
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        message_id: id.to_owned(),
        date: mail_checks::ENVELOPE_NOW + 100,
    }
}

fn inner(text: &str, extra: &[(&str, &str)]) -> InnerPart {
    InnerPart {
        subject: "Subject line".to_owned(),
        headers: extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: Body::Text(text.to_owned()),
    }
}

fn envelope_seeds() -> Vec<(String, Vec<u8>)> {
    let ids = mail_checks::identities();
    let carol = Identity::generate(
        "carol@example.com",
        mail_checks::ENVELOPE_NOW,
        &mut ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let bob_key = ids.bob.public_key();
    let to_bob = headers(
        "alice@example.org",
        &["bob@example.net"],
        "Mr.seed1@example.org",
    );
    let otr_headers = [
        ("Chat-Otr", "data"),
        ("Chat-Otr-Invitation", "00112233445566778899aabbccddeeff"),
    ];
    let mut seeds = vec![
        seed(
            "signed.eml",
            build_encrypted(
                &ids.alice,
                std::slice::from_ref(&bob_key),
                &to_bob,
                &inner("hello bob", &[]),
                Signing::Signed,
                &mut rng,
            )
            .unwrap(),
        ),
        seed(
            "unsigned-otr-headers.eml",
            build_encrypted(
                &ids.alice,
                std::slice::from_ref(&bob_key),
                &to_bob,
                &inner("?OTR:AAMD", &otr_headers),
                Signing::Unsigned,
                &mut rng,
            )
            .unwrap(),
        ),
        seed(
            "plain.eml",
            build_plain(
                &ids.alice,
                &to_bob,
                &inner("a plain hello with \u{e9}", &[]),
                &mut rng,
            )
            .unwrap(),
        ),
        seed(
            "signed-by-unknown-carol.eml",
            build_encrypted(
                &carol,
                &[bob_key.clone(), carol.public_key()],
                &headers("carol@example.com", &["bob@example.net"], "c@example.com"),
                &inner("from carol", &[]),
                Signing::Signed,
                &mut rng,
            )
            .unwrap(),
        ),
        seed(
            "not-for-bob.eml",
            build_encrypted(
                &ids.alice,
                &[carol.public_key()],
                &headers("alice@example.org", &["carol@example.com"], "x@example.org"),
                &inner("for carol only", &[]),
                Signing::Signed,
                &mut rng,
            )
            .unwrap(),
        ),
        seed(
            "hand-written-plain.eml",
            "From: Someone <someone@example.com>\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\
             Message-ID: <abc@example.com>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n",
        ),
    ];
    let mixed = InnerPart {
        subject: "with a file".to_owned(),
        headers: Vec::new(),
        body: Body::Mixed {
            text: "see attached".to_owned(),
            attachment: Attachment {
                content_type: "application/octet-stream".to_owned(),
                filename: Some("wire.txt".to_owned()),
                bytes: b"?OTR:AAMDAAAA.\n".to_vec(),
            },
        },
    };
    seeds.push(seed(
        "signed-mixed.eml",
        build_encrypted(
            &ids.alice,
            &[bob_key],
            &to_bob,
            &mixed,
            Signing::Signed,
            &mut rng,
        )
        .unwrap(),
    ));
    seeds.push(seed(
        "plain-mixed.eml",
        build_plain(&ids.alice, &to_bob, &mixed, &mut rng).unwrap(),
    ));
    seeds
}

fn autocrypt_seeds() -> Vec<(String, Vec<u8>)> {
    let ids = mail_checks::identities();
    let header = AutocryptHeader::new("alice@example.org", ids.alice.public_key())
        .to_header_value()
        .unwrap();
    let with = |prefix: u8, body: &[u8]| {
        let mut v = vec![prefix];
        v.extend_from_slice(body);
        v
    };
    let keydata = header.split("keydata=").nth(1).unwrap();
    vec![
        seed("header-alice", with(0, header.as_bytes())),
        seed(
            "header-with-field-name-and-extra",
            with(
                0,
                format!("Autocrypt: _x=1; addr=bob@example.net; keydata={keydata}").as_bytes(),
            ),
        ),
        seed(
            "header-nopreference",
            with(
                0,
                format!("addr=a@b.c; prefer-encrypt=nopreference; keydata={keydata}").as_bytes(),
            ),
        ),
        seed(
            "header-missing-addr",
            with(0, format!("keydata={keydata}").as_bytes()),
        ),
        seed(
            "key-binary-bob",
            with(1, &ids.bob.public_key().to_bytes().unwrap()),
        ),
        seed(
            "key-armored-alice",
            with(1, ids.alice.public_key().to_armored().unwrap().as_bytes()),
        ),
    ]
}

fn chat_control_seeds() -> Vec<(String, Vec<u8>)> {
    let id = "00112233445566778899AABBCCDDEEFF";
    let mut seeds = Vec::new();
    for kind in [
        Kind::Invite,
        Kind::Accept,
        Kind::Decline,
        Kind::Taken,
        Kind::Close,
        Kind::Data,
    ] {
        let mut control = Control::new(kind, id);
        control.instance = Some(InstanceTag::new(0x1234_5678));
        control.fingerprint = Some([0xab; 20]);
        if kind != Kind::Invite {
            control.to_instance = Some(InstanceTag::new(0x0abc_def0));
        }
        let mut text: String = control
            .headers()
            .iter()
            .map(|(n, v)| format!("{n}: {v}\n"))
            .collect();
        if kind == Kind::Data {
            text.push_str("\n?OTR:AAMDAAAA.\n  ?OTR|1|2,00001,00002,abc,\n\n");
        }
        seeds.push(seed(&format!("{}.txt", kind.as_str()), text));
    }
    seeds.push(seed(
        "not-a-control.txt",
        "Subject: hello\nChat-Version: 1.0\n",
    ));
    seeds.push(seed(
        "malformed-tag.txt",
        format!("Chat-Otr: accept\nChat-Otr-Invitation: {id}\nChat-Otr-Instance: zz\n"),
    ));
    seeds
}

fn mail_text_seeds() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), "bob@example.net").unwrap();
    let mut cursors = vec![spool.fetch(None).unwrap().cursor.to_string()];
    let mut ids = Vec::new();
    for text in ["one", "two"] {
        let raw = format!("From: a@b.c\r\nTo: bob@example.net\r\n\r\n{text}\r\n");
        mail::deliver_raw(dir.path(), "bob@example.net", raw.as_bytes()).unwrap();
    }
    let batch = spool.fetch(None).unwrap();
    for fetched in &batch.mails {
        ids.push(fetched.id.to_string());
        cursors.push(fetched.cursor.to_string());
    }
    cursors.push(batch.cursor.to_string());
    let with = |prefix: u8, body: &str| {
        let mut v = vec![prefix];
        v.extend_from_slice(body.as_bytes());
        v
    };
    let mut seeds = Vec::new();
    for (i, c) in cursors.iter().enumerate() {
        seeds.push(seed(&format!("cursor-{i}"), with(0, c)));
    }
    for (i, id) in ids.iter().enumerate() {
        seeds.push(seed(&format!("mail-id-{i}"), with(1, id)));
    }
    for (i, a) in [
        "Alice@Example.ORG",
        "bob+tag@sub.example.net",
        "../../etc/passwd@x",
        "a@b",
    ]
    .iter()
    .enumerate()
    {
        seeds.push(seed(&format!("address-{i}"), with(2, a)));
    }
    seeds.push(seed("all-cursor", with(3, &cursors[1])));
    seeds
}

/// Two chat contexts passing mail in memory.
struct Pair {
    alice: Context,
    bob: Context,
    now: u64,
}

impl Pair {
    /// Moves alice's and bob's outboxes to the other side until nothing moves; returns the
    /// mails alice sent (raw).
    fn settle(&mut self) -> Vec<Vec<u8>> {
        let mut from_alice = Vec::new();
        for _ in 0..20 {
            let mut moved = 0;
            for mail in self.alice.outbox().unwrap() {
                self.bob.receive_mail(&mail.raw, self.now).unwrap();
                self.alice.outbox_sent(mail.id).unwrap();
                from_alice.push(mail.raw);
                moved += 1;
            }
            for mail in self.bob.outbox().unwrap() {
                self.alice.receive_mail(&mail.raw, self.now).unwrap();
                self.bob.outbox_sent(mail.id).unwrap();
                moved += 1;
            }
            if moved == 0 {
                return from_alice;
            }
        }
        panic!("did not settle");
    }
}

/// Writes `fuzz/fixtures/chat_receive/{bob.db,now}` and the `chat_receive` seeds: mails alice
/// sends bob after the snapshot (1:1 text, OTR data messages, a second invitation, a close).
fn chat_receive_seeds() -> Vec<(String, Vec<u8>)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb) = (tmp.path().join("alice.db"), tmp.path().join("bob.db"));
    let mut alice = Context::create(&pa, "alice@example.org").unwrap();
    let mut bob = Context::create(&pb, "bob@example.net").unwrap();
    alice.seed_rng(1);
    bob.seed_rng(2);
    let (ka, kb) = (
        alice.export_public_key().unwrap(),
        bob.export_public_key().unwrap(),
    );
    alice.import_contact(kb.as_bytes(), None, now).unwrap();
    bob.import_contact(ka.as_bytes(), None, now).unwrap();
    let mut pair = Pair { alice, bob, now };
    let bob_contact = pair.alice.contact_by_addr("bob@example.net").unwrap().id;
    let one_to_one = pair.alice.one_to_one_chat(bob_contact, now).unwrap();
    pair.alice.send_text(one_to_one, "hello bob", now).unwrap();
    let (ca, _) = pair.alice.start_otr_chat(bob_contact, now).unwrap();
    pair.settle();
    let cb = pair
        .bob
        .chats()
        .unwrap()
        .into_iter()
        .find(|c| c.kind == ChatKind::Otr)
        .unwrap()
        .id;
    pair.bob.accept_invitation(cb, now).unwrap();
    pair.settle();
    assert_eq!(
        pair.alice.chat(ca).unwrap().otr_state,
        Some(OtrState::Active)
    );
    assert_eq!(pair.bob.chat(cb).unwrap().otr_state, Some(OtrState::Active));

    // Snapshot bob.
    let Pair { alice, bob, now } = pair;
    drop(bob);
    let fixture = mail_checks::fixture_dir();
    fs::create_dir_all(&fixture).unwrap();
    fs::copy(&pb, fixture.join("bob.db")).unwrap();
    fs::write(fixture.join("now"), format!("{now}\n")).unwrap();

    // Alice's mails after the snapshot, as bob would receive them (bob's copy stays at the
    // snapshot: every seed is checked against a fresh copy of it).
    let mut alice = alice;
    let mut seeds = Vec::new();
    let take = |alice: &mut Context, label: &str, seeds: &mut Vec<(String, Vec<u8>)>| {
        for (i, mail) in alice.outbox().unwrap().into_iter().enumerate() {
            seeds.push(seed(&format!("{label}-{i}.eml"), mail.raw));
            alice.outbox_sent(mail.id).unwrap();
        }
    };
    for (i, text) in mail_checks::GENUINE_OTR_TEXTS.iter().enumerate() {
        alice.send_text(ca, text, now + 1).unwrap();
        take(&mut alice, &format!("otr-data-{i}"), &mut seeds);
    }
    alice
        .send_text(one_to_one, "a plain 1:1 text", now + 1)
        .unwrap();
    take(&mut alice, "one-to-one", &mut seeds);
    alice.start_otr_chat(bob_contact, now + 2).unwrap();
    take(&mut alice, "second-invitation", &mut seeds);
    alice.close_otr_chat(ca, now + 3).unwrap();
    take(&mut alice, "close", &mut seeds);
    seeds
}

/// Rewrites the mail-side seed corpora and the `chat_receive` fixture. Review the diff.
#[test]
#[ignore = "writes fuzz/corpus and fuzz/fixtures; run by hand"]
fn regenerate_mail_seed_corpus() {
    write_seeds("envelope_parse", &envelope_seeds());
    write_seeds("autocrypt", &autocrypt_seeds());
    write_seeds("chat_control", &chat_control_seeds());
    write_seeds("mail_text", &mail_text_seeds());
    write_seeds("chat_receive", &chat_receive_seeds());
}
