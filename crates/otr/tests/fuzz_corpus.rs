//! Replays the fuzz corpora through the fuzz targets' checks, without libFuzzer.
//!
//! Every file of `fuzz/corpus/<target>/` (seed inputs) and `fuzz/regressions/<target>/` (inputs
//! that once failed, minimized) is passed to the same function the cargo-fuzz target calls
//! (`fuzz/src/checks.rs`, included below). A corpus directory that is missing or empty fails
//! the test. See `fuzz/README.md`.
//!
//! The seed corpus is written by the ignored test `regenerate_seed_corpus`:
//! `cargo test -p otr --test fuzz_corpus -- --ignored regenerate_seed_corpus`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use checks::{Op, Pair, Side, T0};
use otr::Config;
use otr::wire::dearmor;

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
    let check = checks::TARGETS
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
fn message_parse() {
    replay("message_parse");
}

#[test]
fn encoded_decode() {
    replay("encoded_decode");
}

#[test]
fn fragment() {
    replay("fragment");
}

#[test]
fn tlv() {
    replay("tlv");
}

#[test]
fn smp() {
    replay("smp");
}

#[test]
fn keyfile() {
    replay("keyfile");
}

#[test]
fn pickle() {
    replay("pickle");
}

#[test]
fn endpoint_receive() {
    replay("endpoint_receive");
}

#[test]
fn interaction() {
    replay("interaction");
}

/// The mail-side targets (fuzz/src/mail_checks.rs). They need the chat layer, so their corpora
/// are replayed by `crates/offrecord/tests/fuzz_corpus_mail.rs`, not here.
const MAIL_TARGETS: [&str; 5] = [
    "envelope_parse",
    "autocrypt",
    "chat_control",
    "chat_receive",
    "mail_text",
];

/// Every target has a test above, a fuzz target and a corpus; no stray directories; every
/// mail-side target has its replay test in the offrecord crate.
#[test]
fn targets_corpora_and_fuzz_binaries_agree() {
    let names: Vec<&str> = checks::TARGETS.iter().map(|(name, _)| *name).collect();
    let mail_replay = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../offrecord/tests/fuzz_corpus_mail.rs"),
    )
    .unwrap();
    for name in MAIL_TARGETS {
        assert!(
            mail_replay.contains(&format!("replay(\"{name}\")")),
            "no replay test for the mail-side target {name}"
        );
    }
    let this_file = include_str!("fuzz_corpus.rs");
    for name in &names {
        assert!(
            this_file.contains(&format!("replay(\"{name}\")")),
            "no replay test for {name}"
        );
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
    }
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                assert!(
                    names.contains(&name.as_str()) || MAIL_TARGETS.contains(&name.as_str()),
                    "fuzz/{kind}/{name} is not a target"
                );
            }
        }
    }
}

/// The pickle seeds are states this build restores; if the format changed, regenerate them
/// (see the module docs), or the pickle target only ever sees rejected input.
#[test]
fn pickle_seeds_are_current() {
    let dir = fuzz_dir().join("corpus/pickle");
    for path in inputs(&dir).unwrap() {
        let data = fs::read(&path).unwrap();
        let restored = if data.starts_with(b"OTRP") {
            let fixture = checks::receive_fixture();
            let mut alice = otr::Endpoint::restore(&fixture.alice, Config::default()).unwrap();
            alice.restore_peer("bob", &data).map(|()| alice)
        } else {
            otr::Endpoint::restore(&data, Config::default())
        };
        if let Err(e) = restored {
            panic!(
                "{} does not restore ({e}); regenerate the seed corpus",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Seed corpus generator
// ---------------------------------------------------------------------------------------------

/// The Data Message of the v3 spec's "Fragmentation" example.
const SPEC_DATA_MESSAGE: &str = concat!(
    "?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA1g5IjD1ZGLDVQEyCgCyn9hb",
    "rL3KAbGDdzE2ZkMyTKl7XfkSxh8YJnudstiB74i4BzT0W2haClg6dMary/jo",
    "9sMudwmUdlnKpIGEKXWdvJKT+hQ26h9nzMgEditLB8vjPEWAJ6gBXvZrY6ZQ",
    "rx3gb4v0UaSMOMiR5sB7Eaulb2Yc6RmRnnlxgUUC2alosg4WIeFN951PLjSc",
    "ajVba6dqlDi+q1H5tPvI5SWMN7PCBWIJ41+WvF+5IAZzQZYgNaVLbAAAAAAA",
    "AAAEAAAAHwNiIi5Ms+4PsY/L2ipkTtquknfx6HodLvk3RAAAAAA==.",
);

/// The spec's three example fragments of that message.
const SPEC_FRAGMENTS: [&str; 3] = [
    concat!(
        "?OTR|5a73a599|27e31597,00001,00003,?OTR:AAMDJ+MVmSfjFZcAAAAA",
        "AQAAAAIAAADA1g5IjD1ZGLDVQEyCgCyn9hbrL3KAbGDdzE2ZkMyTKl7XfkSx",
        "h8YJnudstiB74i4BzT0W2haClg6dMary/jo9sMudwmUdlnKpIGEKXWdvJKT+",
        "hQ26h9nzMgEditLB8v,",
    ),
    concat!(
        "?OTR|5a73a599|27e31597,00002,00003,jPEWAJ6gBXvZrY6ZQrx3gb4v0",
        "UaSMOMiR5sB7Eaulb2Yc6RmRnnlxgUUC2alosg4WIeFN951PLjScajVba6dq",
        "lDi+q1H5tPvI5SWMN7PCBWIJ41+WvF+5IAZzQZYgNaVLbAAAAAAAAAAEAAAA",
        "HwNiIi5Ms+4PsY/L2i,",
    ),
    "?OTR|5a73a599|27e31597,00003,00003,pkTtquknfx6HodLvk3RAAAAAA==.,",
];

/// Writes `files` as `fuzz/corpus/<target>/<name>`, replacing the directory's seeds.
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

/// A full conversation between the fixed Alice and Bob, recorded message by message:
/// `(label, wire message)`.
fn transcript() -> Vec<(String, String)> {
    let mut pair = Pair::new(Config::default(), Config::default(), 1);
    let mut log = Vec::new();
    let step = |pair: &mut Pair, log: &mut Vec<(String, String)>| {
        for to in [Side::Bob, Side::Alice] {
            for message in std::mem::take(&mut pair.queues[to as usize]) {
                log.push((format!("to-{to:?}").to_lowercase(), message.clone()));
                pair.deliver(to, &message);
            }
        }
    };
    pair.query(Side::Alice);
    for _ in 0..6 {
        step(&mut pair, &mut log);
    }
    assert!(pair.in_sync());
    for (i, op) in [
        Op::Send(Side::Alice, b"hello bob".to_vec()),
        Op::Send(Side::Bob, b"hello alice".to_vec()),
        Op::FragmentSize(Side::Bob, 1024 + 200),
        Op::Send(Side::Bob, vec![7; 200]),
        Op::ExtraKey(Side::Alice),
        Op::Disconnect(Side::Alice),
    ]
    .iter()
    .enumerate()
    {
        pair.apply(op);
        let _ = i;
        step(&mut pair, &mut log);
    }
    log
}

fn ops(list: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in list {
        op.write(&mut out);
    }
    out
}

/// Regenerates `fuzz/corpus/*/` seed files (deterministic). Run it after a change that alters
/// the wire output or the state format, then review and commit the files.
#[test]
#[ignore = "writes files; run by hand to refresh the seed corpus"]
fn regenerate_seed_corpus() {
    let transcript = transcript();
    let fixture = checks::receive_fixture();

    // message_parse: text as it arrives.
    let mut files = vec![
        seed("spec-data-message.txt", SPEC_DATA_MESSAGE),
        seed("spec-fragment-1.txt", SPEC_FRAGMENTS[0]),
        seed("spec-fragment-3.txt", SPEC_FRAGMENTS[2]),
        seed(
            "v2-fragment.txt",
            "?OTR,00001,00002,?OTR:AAEDAAAAAQAAAAEAAADAVf3Ei72ZgFeKqWvLMnuVPVCwxk,",
        ),
        seed(
            "query-v23.txt",
            "?OTRv23?\nAlice has requested an Off-the-Record private conversation.",
        ),
        seed("query-v1-v2.txt", "?OTR?v2?"),
        seed(
            "error.txt",
            "?OTR Error: You transmitted an unreadable encrypted message.",
        ),
        seed(
            "whitespace-tag.txt",
            "Hello \t  \t\t\t\t \t \t \t    \t\t  \t   \t\t  \t\t world",
        ),
        seed("plaintext.txt", "just some text, no OTR here"),
        seed(
            "wrapped-armor.txt",
            "> quoted ?OTR:AAMK\n  AAAA\nAAAA. trailing",
        ),
    ];
    for (i, (label, message)) in transcript.iter().enumerate() {
        files.push(seed(
            &format!("transcript-{i:02}-{label}.txt"),
            message.as_str(),
        ));
    }
    write_seeds("message_parse", &files);

    // encoded_decode: the binary of every armored message.
    let mut files = vec![seed(
        "spec-data-message.bin",
        dearmor(SPEC_DATA_MESSAGE).unwrap(),
    )];
    for (i, (label, message)) in transcript.iter().enumerate() {
        if let Ok(binary) = dearmor(message) {
            files.push(seed(&format!("transcript-{i:02}-{label}.bin"), binary));
        }
    }
    write_seeds("encoded_decode", &files);

    // fragment: mode 0 (header: mode, limits) then lines; mode 1 (header: mode, max_len, format)
    // then a message.
    let mut spec_lines = vec![0u8, 255, 7, 16, 31];
    spec_lines.extend(SPEC_FRAGMENTS.join("\n").bytes());
    let mut reversed = vec![0u8, 64, 2, 4, 3];
    let mut lines: Vec<&str> = SPEC_FRAGMENTS.to_vec();
    lines.reverse();
    lines.push(SPEC_FRAGMENTS[0]);
    reversed.extend(lines.join("\n").bytes());
    let mut tiny = vec![0u8, 1, 1, 3, 0];
    tiny.extend(
        concat!(
            "?OTR,1,3,aaaaaaaaaaaaaaaaaaaaaa,\n",
            "?OTR,2,3,bbbbbbbbbbbbbbbbbbbbbbbb,\n",
            "?OTR|100|0,3,3,c,\n",
            "?OTR,3,3,c,",
        )
        .bytes(),
    );
    let mut split_v3 = vec![1u8, 0, 100, 1];
    split_v3.extend(SPEC_DATA_MESSAGE.bytes());
    let mut split_v2 = vec![1u8, 0, 40, 0];
    split_v2.extend("?OTR:AAIDAQ€😀é.".bytes());
    write_seeds(
        "fragment",
        &[
            seed("reassemble-spec.bin", spec_lines),
            seed("reassemble-reversed-dup.bin", reversed),
            seed("reassemble-tiny-limits.bin", tiny),
            seed("split-v3.bin", split_v3),
            seed("split-v2-utf8.bin", split_v2),
        ],
    );

    // tlv: decrypted data message plaintexts.
    write_seeds(
        "tlv",
        &[
            seed(
                "spec-example.bin",
                b"hi\x00\x00\x01\x00\x00\x00\x00\x00\x05hello".to_vec(),
            ),
            seed("text-only.bin", "no tlvs € here".as_bytes()),
            seed("heartbeat.bin", Vec::new()),
            seed("disconnect.bin", b"\x00\x00\x01\x00\x00".to_vec()),
            seed(
                "extra-key-and-padding.bin",
                b"\x00\x00\x08\x00\x08\x00\x00\x00\x01file\x00\x00\x00\x03\x00\x00\x00".to_vec(),
            ),
            seed("truncated.bin", b"x\x00\x00\x08\x00\x09abc".to_vec()),
        ],
    );

    // keyfile: selector byte (0 private keys, 1 fingerprints, 2 instance tags, 3 all) + text.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keyfile");
    let mut files = Vec::new();
    for entry in fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let selector = if name.ends_with(".private_key") {
            0u8
        } else if name.ends_with(".fingerprints") {
            1
        } else if name.ends_with(".instance_tags") {
            2
        } else {
            continue;
        };
        let mut input = vec![selector];
        input.extend(fs::read(&path).unwrap());
        files.push(seed(&format!("{name}.bin"), input));
    }
    files.sort();
    files.push(seed(
        "all-small.bin",
        [
            &[3u8][..],
            b"alice\tprpl-jabber\t00000100\n# comment\n".as_slice(),
        ]
        .concat(),
    ));
    write_seeds("keyfile", &files);

    // pickle: saved states at every stage of a conversation.
    let mut pair = Pair::new(Config::default(), Config::default(), 3);
    let mut files = vec![seed("alice-fresh.bin", pair.alice.save().to_vec())];
    pair.query(Side::Alice);
    let first = std::mem::take(&mut pair.queues[Side::Bob as usize]);
    for m in &first {
        pair.deliver(Side::Bob, m);
    }
    files.push(seed(
        "bob-awaiting-reveal-sig.bin",
        pair.bob.save().to_vec(),
    ));
    let replies = std::mem::take(&mut pair.queues[Side::Alice as usize]);
    for m in &replies {
        pair.deliver(Side::Alice, m);
    }
    files.push(seed("alice-awaiting-sig.bin", pair.alice.save().to_vec()));
    pair.drain(8);
    files.push(seed("alice-encrypted.bin", pair.alice.save().to_vec()));
    files.push(seed("bob-encrypted.bin", pair.bob.save().to_vec()));
    let encrypted_peer = pair.alice.save_peer("bob").unwrap();
    files.push(seed("peer-alice-encrypted.bin", encrypted_peer.to_vec()));
    pair.apply(&Op::Send(Side::Alice, b"x".to_vec()));
    pair.apply(&Op::Send(Side::Bob, b"y".to_vec()));
    pair.drain(8);
    pair.apply(&Op::Disconnect(Side::Alice));
    pair.drain(8);
    files.push(seed(
        "alice-after-disconnect.bin",
        pair.alice.save().to_vec(),
    ));
    files.push(seed("bob-finished.bin", pair.bob.save().to_vec()));
    files.push(seed("fixture-alice.bin", fixture.alice.clone()));
    let alice_about_bob = pair.alice.save_peer("bob").unwrap();
    files.push(seed("peer-alice-about-bob.bin", alice_about_bob.to_vec()));
    let bob_about_alice = pair.bob.save_peer("alice").unwrap();
    files.push(seed("peer-bob-about-alice.bin", bob_about_alice.to_vec()));
    write_seeds("pickle", &files);

    // endpoint_receive: messages from "bob", separated by 0xff.
    let join = |messages: &[&str]| -> Vec<u8> {
        let mut out = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            if i > 0 {
                out.push(0xff);
            }
            out.extend(m.bytes());
        }
        out
    };
    let wire: Vec<&str> = fixture.wire.iter().map(String::as_str).collect();
    let mut files = vec![
        seed("genuine-all.bin", join(&wire)),
        seed(
            "genuine-replayed.bin",
            join(&[wire[0], wire[1], wire[0], wire[1]]),
        ),
        seed(
            "genuine-reversed.bin",
            join(&wire.iter().rev().copied().collect::<Vec<_>>()),
        ),
        seed(
            "query-then-plaintext.bin",
            join(&["?OTRv3?", "hello", "?OTR Error: oops"]),
        ),
        seed(
            "spec-data-and-fragments.bin",
            join(&[
                SPEC_DATA_MESSAGE,
                SPEC_FRAGMENTS[0],
                SPEC_FRAGMENTS[1],
                SPEC_FRAGMENTS[2],
            ]),
        ),
    ];
    for (i, m) in wire.iter().enumerate() {
        files.push(seed(&format!("genuine-{i:02}.bin"), m.as_bytes()));
    }
    write_seeds("endpoint_receive", &files);

    // interaction: policy bytes, seed byte, then ops.
    let header = |alice: u8, bob: u8, seed: u8, list: &[Op]| -> Vec<u8> {
        [vec![alice, bob, seed], ops(list)].concat()
    };
    use Op::*;
    use Side::{Alice as A, Bob as B};
    let chat = [
        Send(A, b"hi".to_vec()),
        Send(B, b"hello".to_vec()),
        Send(A, b"how are you".to_vec()),
        DeliverNext(B),
        DeliverNext(A),
        DeliverNext(B),
    ];
    let files = vec![
        seed(
            "query-and-chat.bin",
            header(
                0,
                0,
                1,
                &[&[Query(A), Drain][..], &chat[..], &[Drain]].concat(),
            ),
        ),
        seed(
            "whitespace-start.bin",
            header(
                0,
                0,
                2,
                &[
                    Send(A, b"plain".to_vec()),
                    Drain,
                    Send(B, b"secret".to_vec()),
                    Drain,
                ],
            ),
        ),
        seed(
            "fragmented-shuffled-duplicated.bin",
            header(
                0,
                0,
                3,
                &[
                    FragmentSize(A, 1024 + 60),
                    FragmentSize(B, 1024 + 90),
                    Query(B),
                    Drain,
                    Send(A, vec![200; 120]),
                    Send(A, vec![3; 40]),
                    Swap(B, 0, 3),
                    Duplicate(B, 1),
                    DeliverAt(B, 2),
                    Drain,
                ],
            ),
        ),
        seed(
            "out-of-order-and-duplicates.bin",
            header(
                0,
                0,
                4,
                &[
                    Query(A),
                    Drain,
                    Send(A, b"one".to_vec()),
                    Send(A, b"two".to_vec()),
                    Send(B, b"three".to_vec()),
                    Send(A, b"four".to_vec()),
                    Duplicate(B, 0),
                    DeliverAt(B, 2),
                    DeliverNext(A),
                    Swap(B, 0, 1),
                    Drain,
                ],
            ),
        ),
        seed(
            "save-restore-mid-ake.bin",
            header(
                0,
                0,
                5,
                &[
                    Query(A),
                    DeliverNext(B),
                    SaveRestore(B),
                    DeliverNext(A),
                    SaveRestore(A),
                    Drain,
                    SaveRestore(B),
                    Send(B, b"after restore".to_vec()),
                    Drain,
                ],
            ),
        ),
        seed(
            "disconnect-and-restart.bin",
            header(
                0,
                0,
                6,
                &[
                    Query(A),
                    Drain,
                    Send(B, b"bye".to_vec()),
                    Disconnect(A),
                    Drain,
                    Send(B, b"too late".to_vec()),
                    Query(B),
                    Drain,
                    Drain,
                ],
            ),
        ),
        seed(
            "v2-only.bin",
            header(
                4,
                0,
                7,
                &[
                    Send(A, b"v2 please".to_vec()),
                    Drain,
                    Send(B, b"ok".to_vec()),
                    StartAke(B, false),
                    Drain,
                    Send(A, b"x".to_vec()),
                    Drain,
                ],
            ),
        ),
        seed(
            "heartbeat-and-time.bin",
            header(
                0,
                0,
                8,
                &[
                    Query(A),
                    Drain,
                    AdvanceTime(3600),
                    Send(A, b"late".to_vec()),
                    Drain,
                    Poll(B),
                    AdvanceTime(65535),
                    Poll(A),
                    Send(B, b"later".to_vec()),
                    Drain,
                ],
            ),
        ),
        seed(
            "drop-and-recover.bin",
            header(
                2,
                1,
                9,
                &[
                    Query(A),
                    Drain,
                    Send(A, b"lost".to_vec()),
                    Send(A, b"kept".to_vec()),
                    Drop(B, 0),
                    Drain,
                    Query(B),
                    Drain,
                    Send(A, b"again".to_vec()),
                    Drain,
                ],
            ),
        ),
        seed(
            "require-encryption.bin",
            header(
                2,
                2,
                10,
                &[
                    Send(A, b"stored".to_vec()),
                    Drain,
                    Send(B, b"reply".to_vec()),
                    Drain,
                    ExtraKey(B),
                    Drain,
                ],
            ),
        ),
        seed(
            "save-peer-state.bin",
            header(
                0,
                0,
                12,
                &[
                    Query(B),
                    DeliverNext(A),
                    SavePeer(A),
                    Drain,
                    SavePeer(B),
                    Send(A, b"kept".to_vec()),
                    SavePeer(B),
                    Drain,
                ],
            ),
        ),
        seed(
            "simultaneous-queries.bin",
            header(
                0,
                0,
                11,
                &[
                    Query(A),
                    Query(B),
                    Drain,
                    StartAke(A, true),
                    StartAke(B, true),
                    Drain,
                    Send(A, b"z".to_vec()),
                    Drain,
                ],
            ),
        ),
    ];
    write_seeds("interaction", &files);
    let _ = T0;
}
