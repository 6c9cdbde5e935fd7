//! Floods and limits in the chat layer (issue 7, "Floods and limits"): invitation spam,
//! oversized mail, mail stuffed with OTR lines, thousands of instance tags, a peer device that
//! restarts the key exchange in a loop, and two devices whose sessions went out of step (the
//! error-message loop cannot start: chats never answer unreadable OTR messages).
//!
//! Memory is measured with a counting global allocator (`peak_alloc`; *peak*: the highest heap
//! use above the level at the start of the measured block; *retained*: what is still allocated
//! at its end); the tests of this binary run one at a time so that the counts are their own.
//! Time bounds are generous wall-clock ceilings for the test profile; where the work can be
//! counted (mail sent in reply, chats created), the count is asserted exactly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chat::{ChatId, Event, OtrState};
use common::World;
use common::forge::{Forger, data_control};
use otr::InstanceTag;
use peak_alloc::PeakAlloc;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[derive(Debug)]
struct Usage {
    peak: usize,
    retained: isize,
    elapsed: Duration,
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let start = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let t0 = Instant::now();
    let value = f();
    let elapsed = t0.elapsed();
    let usage = Usage {
        peak: HEAP.peak_usage().saturating_sub(start),
        retained: HEAP.current_usage() as isize - start as isize,
        elapsed,
    };
    eprintln!("{usage:?}");
    (value, usage)
}

/// Feeds raw mail to device `d`; returns the events.
fn deliver(w: &mut World, d: usize, raw: &[u8]) -> Vec<Event> {
    let now = w.now;
    w.devices[d].ctx().receive_mail(raw, now).unwrap().events
}

fn outbox_len(w: &mut World, d: usize) -> usize {
    w.devices[d].ctx().outbox().unwrap().len()
}

/// Both directions of the chat still work.
fn still_talking(w: &mut World, ca: ChatId, cb: ChatId, tag: &str) {
    let now = w.now;
    w.devices[0]
        .ctx()
        .send_text(ca, &format!("{tag}: alice"), now)
        .unwrap();
    w.devices[1]
        .ctx()
        .send_text(cb, &format!("{tag}: bob"), now)
        .unwrap();
    w.settle();
    assert_eq!(
        w.received(1, cb).last().map(String::as_str),
        Some(format!("{tag}: alice").as_str())
    );
    assert_eq!(
        w.received(0, ca).last().map(String::as_str),
        Some(format!("{tag}: bob").as_str())
    );
    assert_eq!(w.state(0, ca), OtrState::Active);
    assert_eq!(w.state(1, cb), OtrState::Active);
}

/// A raw mail over the envelope's 10 MiB limit, a mail stuffed with 1.5 million one-byte
/// "OTR lines" (3 MiB), and a data mail whose one OTR message is 4 MiB: each is refused or
/// dropped with peak heap under 64 MiB (a few copies of the mail while it is decrypted and
/// parsed, never one allocation per line), nothing is answered, and the chat goes on.
#[test]
fn oversized_and_line_stuffed_mail_is_refused_with_bounded_memory() {
    let _serial = serial();
    let (mut w, ca, cb) = World::active_pair();
    let mut forger = Forger::new(&mut w, 1, 0);
    let control = data_control(&mut w, 1, cb, 0);
    let too_big = vec![b'a'; envelope::MAX_MAIL_SIZE + 1];
    let stuffed = forger.data(&control, b"x\n".repeat(1_500_000));
    let huge_line = forger.data(
        &control,
        format!("?OTR:{}.", "A".repeat(4 * MIB)).into_bytes(),
    );
    for (name, raw) in [
        ("over the size limit", too_big),
        ("1.5 million lines", stuffed),
        ("one 4 MiB OTR message", huge_line),
    ] {
        let (events, usage) = measure(|| deliver(&mut w, 0, &raw));
        assert!(
            events.iter().all(|e| matches!(e, Event::Ignored { .. })),
            "{name}: {events:?}"
        );
        assert!(usage.peak < 64 * MIB, "{name}: {usage:?}");
        assert!(usage.retained < (256 * KIB) as isize, "{name}: {usage:?}");
        assert!(usage.elapsed < Duration::from_secs(30), "{name}: {usage:?}");
        assert_eq!(outbox_len(&mut w, 0), 0, "{name}: answered");
    }
    still_talking(&mut w, ca, cb, "after oversized mail");
}

/// A peer device floods its own chat with OTR messages from 6,400 other instance tags (200
/// mails of 32 D-H Commits each), and 200 data mails claim to come from 200 other devices:
/// all of it is ignored silently (design 4.7: other devices' traffic makes no noise), nothing
/// is answered, no session is created, and heap does not grow.
#[test]
fn thousands_of_instance_tags_are_ignored_silently() {
    let _serial = serial();
    let (mut w, ca, cb) = World::active_pair();
    let mut forger = Forger::new(&mut w, 1, 0);
    let control = data_control(&mut w, 1, cb, 0);
    let alice_tag = w.devices[0].ctx().instance_tag();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let key = offrecord_crypto::dsa::DsaPrivateKey::generate(&mut rng);
    let mut mallory =
        otr::Endpoint::new(key, InstanceTag::new(0x4444_4444), otr::Config::default());
    let commit = mallory
        .start_ake(
            "x",
            Some(alice_tag),
            otr::ProtocolVersion::V3,
            common::T0,
            &mut rng,
        )
        .transmit[0]
        .message
        .clone();
    let with_sender = |tag: u32| match otr::wire::Message::parse(&commit).unwrap() {
        otr::wire::Message::Encoded { mut encoded, .. } => {
            encoded.sender_instance = InstanceTag::new(tag);
            encoded.to_armored()
        }
        _ => unreachable!(),
    };
    let mut mails = Vec::new();
    for m in 0..200u32 {
        let lines: Vec<String> = (0..32)
            .map(|i| with_sender(0x5000_0000 + m * 32 + i))
            .collect();
        mails.push(forger.data(&control, lines.join("\r\n").into_bytes()));
        let mut other = control.clone();
        other.instance = Some(InstanceTag::new(0x6000_0000 + m));
        mails.push(forger.data(&other, with_sender(0x6000_0000 + m).into_bytes()));
    }
    let (events, usage) = measure(|| {
        let mut events = Vec::new();
        for raw in &mails {
            events.extend(deliver(&mut w, 0, raw));
        }
        events
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(outbox_len(&mut w, 0), 0);
    assert!(usage.retained < (256 * KIB) as isize, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(60), "{usage:?}");
    still_talking(&mut w, ca, cb, "after 6,600 instance tags");
}

/// Bob's device (running modified software) sends 100 mails that each start a new key exchange
/// (a fresh D-H Commit) and never finishes one: Alice answers each with exactly one mail, the
/// chat stays active (the running session is not replaced until an AKE completes with the
/// announced key), heap does not grow, and real messages still flow both ways.
#[test]
fn a_peer_restarting_the_key_exchange_in_a_loop_gets_one_answer_each() {
    let _serial = serial();
    let (mut w, ca, cb) = World::active_pair();
    let mut forger = Forger::new(&mut w, 1, 0);
    let control = data_control(&mut w, 1, cb, 0);
    let alice_tag = w.devices[0].ctx().instance_tag();
    let bob_tag = w.devices[1].ctx().instance_tag();
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let key = offrecord_crypto::dsa::DsaPrivateKey::generate(&mut rng);
    let mut restarter = otr::Endpoint::new(key, bob_tag, otr::Config::default());
    let mails: Vec<Vec<u8>> = (0..100)
        .map(|_| {
            let commit = restarter
                .start_ake(
                    "x",
                    Some(alice_tag),
                    otr::ProtocolVersion::V3,
                    common::T0,
                    &mut rng,
                )
                .transmit[0]
                .message
                .clone();
            forger.data(&control, commit.into_bytes())
        })
        .collect();
    for raw in &mails[..10] {
        deliver(&mut w, 0, raw);
    }
    let (events, usage) = measure(|| {
        let mut events = Vec::new();
        for raw in &mails[10..] {
            events.extend(deliver(&mut w, 0, raw));
        }
        events
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(outbox_len(&mut w, 0), 100, "one answer per restart");
    assert_eq!(w.state(0, ca), OtrState::Active);
    assert!(usage.retained < (256 * KIB) as isize, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(60), "{usage:?}");
    // The answers go to Bob's real device, which has no AKE of its own running: it answers
    // nothing that would restart the exchange, and the chat keeps working.
    still_talking(&mut w, ca, cb, "after 100 restarts");
}

/// Bob's device goes back to an old copy of its database (a restored backup): its session is
/// out of step with Alice's. With libotr's defaults each side would answer unreadable data
/// with an OTR error and errors with new key exchanges; chats never answer unreadable OTR
/// messages (and run no heartbeats), so the exchange is bounded: every mail moved is one the
/// users wrote, the world settles, and nothing is shown twice.
#[test]
fn devices_out_of_step_never_ping_pong() {
    let _serial = serial();
    let (mut w, ca, cb) = World::active_pair();
    let now = w.now;
    let old = w.dir.path().join("bob-old.db");
    w.devices[1].ctx = None;
    std::fs::copy(&w.devices[1].path, &old).unwrap();
    w.devices[1].restart();
    for i in 0..4 {
        w.devices[0]
            .ctx()
            .send_text(ca, &format!("a{i}"), now)
            .unwrap();
        w.settle();
        w.devices[1]
            .ctx()
            .send_text(cb, &format!("b{i}"), now)
            .unwrap();
        w.settle();
    }
    // Bob's device is restored from the old copy.
    w.devices[1].ctx = None;
    std::fs::copy(&old, &w.devices[1].path).unwrap();
    let _ = std::fs::remove_file(w.devices[1].path.with_extension("db-wal"));
    w.devices[1].restart();
    let before = w.received(0, ca).len();
    let mut written = 0;
    let ((), usage) = measure(|| {
        for i in 0..5 {
            w.devices[0]
                .ctx()
                .send_text(ca, &format!("late a{i}"), now)
                .unwrap();
            w.devices[1]
                .ctx()
                .send_text(cb, &format!("late b{i}"), now)
                .unwrap();
            written += 2;
            let moved = w.send(0) + w.send(1);
            assert_eq!(moved, 2, "only what the users wrote leaves");
            w.fetch(0);
            w.fetch(1);
            assert_eq!(
                outbox_len(&mut w, 0) + outbox_len(&mut w, 1),
                0,
                "no answers"
            );
        }
    });
    assert_eq!(written, 10);
    assert!(usage.elapsed < Duration::from_secs(30), "{usage:?}");
    // What arrived, arrived once; what did not is simply not shown (no error noise).
    let got = w.received(0, ca);
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "{got:?}");
    assert!(got.len() >= before);
    assert_eq!(w.state(0, ca), OtrState::Active);
}

/// One contact sends 1,000 invitations. There is no cap: each becomes one `Invited` chat,
/// announced once (`InvitationReceived`), as a contact request would be; the user sees 1,000
/// invitations from that contact until they expire after 7 days (all of them `Expired` then).
/// Processing stays linear (under 60 s in all), heap does not grow with the number of chats
/// (everything is in the database), nothing is sent back, and a second delivery of all of them
/// changes nothing.
#[test]
fn invitation_spam_from_one_contact() {
    let _serial = serial();
    let mut w = World::new();
    let a = w.account("alice");
    let b = w.account("bob");
    w.introduce(a, b);
    let alice = w.contact(b, a);
    let now = w.now;
    let n = 1000;
    for _ in 0..n {
        w.devices[b].ctx().start_otr_chat(alice, now).unwrap();
    }
    w.send(b);
    let mails = w.mailboxes[&w.devices[a].addr].clone();
    assert_eq!(mails.len(), n);
    let (events, usage) = measure(|| {
        let mut events = Vec::new();
        for raw in &mails {
            events.extend(deliver(&mut w, a, raw));
        }
        events
    });
    let invited = events
        .iter()
        .filter(|e| matches!(e, Event::InvitationReceived { .. }))
        .count();
    assert_eq!(invited, n);
    assert_eq!(w.otr_chats(a).len(), n);
    assert_eq!(outbox_len(&mut w, a), 0);
    assert!(usage.retained < (256 * KIB) as isize, "{usage:?}");
    assert!(usage.elapsed < Duration::from_secs(60), "{usage:?}");
    let again: Vec<Event> = mails
        .iter()
        .flat_map(|raw| deliver(&mut w, a, raw))
        .collect();
    assert!(again.is_empty());
    assert_eq!(w.otr_chats(a).len(), n);
    w.now += 7 * 24 * 3600 + 1;
    let now = w.now;
    w.devices[a].ctx().maintenance(now).unwrap();
    assert!(
        w.otr_chats(a)
            .iter()
            .all(|c| c.otr_state == Some(OtrState::Expired))
    );
}
