//! The local spool through the `Carrier` trait: accounts exchanging mail, cursors of several
//! devices, ordering under concurrent delivery, deletion, limits, hostile addresses and files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use mail::{
    Batch, BatchLimits, Carrier, Cursor, DeliveryError, MAX_MAIL_SIZE, MailId, ParseError,
    SendError, Severity, SkipReason, Spool, deliver_raw,
};

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
const CAROL: &str = "carol@example.org";

fn to(addresses: &[&str]) -> Vec<String> {
    addresses.iter().map(|a| a.to_string()).collect()
}

fn bodies(batch: &Batch) -> Vec<String> {
    batch
        .mails
        .iter()
        .map(|m| String::from_utf8(m.raw.clone()).unwrap())
        .collect()
}

fn mail_files(root: &Path, address: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root.join(address).join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn two_accounts_exchange_mail() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();

    alice.send(ALICE, &to(&[BOB]), b"hello bob").unwrap();
    let batch = bob.fetch(None).unwrap();
    assert_eq!(bodies(&batch), ["hello bob"]);
    assert!(batch.skipped.is_empty());
    assert!(!batch.more);
    assert!(
        alice.fetch(None).unwrap().mails.is_empty(),
        "no self-copy unless asked"
    );

    bob.send(BOB, &to(&[ALICE]), b"hello alice").unwrap();
    assert_eq!(bodies(&alice.fetch(None).unwrap()), ["hello alice"]);
    let again = bob.fetch(Some(&batch.cursor)).unwrap();
    assert!(again.mails.is_empty());
}

#[test]
fn mail_to_two_recipients_and_self_lands_in_three_mailboxes() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    // Bob and Carol have never opened their mailboxes: delivery creates them.
    let raw = b"From: alice@example.org\r\n\r\nto all\r\n";
    alice
        .send(ALICE, &to(&[BOB, "Carol@Example.ORG", ALICE]), raw)
        .unwrap();
    for address in [ALICE, BOB, CAROL] {
        let mut spool = Spool::open(dir.path(), address).unwrap();
        let batch = spool.fetch(None).unwrap();
        assert_eq!(batch.mails.len(), 1, "{address}");
        assert_eq!(batch.mails[0].raw, raw);
    }
}

#[test]
fn duplicate_recipients_get_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    alice
        .send(ALICE, &to(&[BOB, "BOB@example.org", BOB]), b"once")
        .unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    assert_eq!(bodies(&bob.fetch(None).unwrap()), ["once"]);
}

#[test]
fn addresses_are_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), "Alice@Example.Org").unwrap();
    assert_eq!(alice.address().as_str(), ALICE);
    alice.send("ALICE@example.org", &to(&[BOB]), b"x").unwrap();
    let mut bob = Spool::open(dir.path(), "bOb@EXAMPLE.org").unwrap();
    assert_eq!(bob.fetch(None).unwrap().mails.len(), 1);
}

#[test]
fn cursor_returns_each_mail_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();

    let empty = bob.fetch(None).unwrap();
    assert!(empty.mails.is_empty());
    let mut cursor = empty.cursor;

    for round in 0..3 {
        alice
            .send(ALICE, &to(&[BOB]), format!("m{round}").as_bytes())
            .unwrap();
        let batch = bob.fetch(Some(&cursor)).unwrap();
        assert_eq!(bodies(&batch), [format!("m{round}")]);
        cursor = batch.cursor;
        let again = bob.fetch(Some(&cursor)).unwrap();
        assert!(again.mails.is_empty(), "fetching twice returns nothing new");
        assert_eq!(again.cursor, cursor, "an empty batch keeps the cursor");
    }
    assert_eq!(
        bob.fetch(None).unwrap().mails.len(),
        3,
        "undeleted mail stays"
    );
}

#[test]
fn each_mail_carries_the_cursor_just_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    for body in ["a", "b", "c"] {
        alice.send(ALICE, &to(&[BOB]), body.as_bytes()).unwrap();
    }
    let batch = bob.fetch(None).unwrap();
    assert_eq!(bodies(&batch), ["a", "b", "c"]);
    assert_eq!(batch.mails[2].cursor, batch.cursor);
    // A device that committed only "a" before crashing resumes with "b".
    let resumed = bob.fetch(Some(&batch.mails[0].cursor)).unwrap();
    assert_eq!(bodies(&resumed), ["b", "c"]);
}

#[test]
fn two_devices_each_see_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut phone = Spool::open(dir.path(), BOB).unwrap();
    let mut laptop = Spool::open(dir.path(), BOB).unwrap();
    let mut phone_cursor: Option<Cursor> = None;
    let mut laptop_cursor: Option<Cursor> = None;
    let mut phone_seen = Vec::new();
    let mut laptop_seen = Vec::new();

    for i in 0..10 {
        alice
            .send(ALICE, &to(&[BOB]), format!("m{i}").as_bytes())
            .unwrap();
        // The phone fetches after every mail, the laptop every third.
        let batch = phone.fetch(phone_cursor.as_ref()).unwrap();
        phone_seen.extend(bodies(&batch));
        phone_cursor = Some(batch.cursor);
        if i % 3 == 2 {
            let batch = laptop.fetch(laptop_cursor.as_ref()).unwrap();
            laptop_seen.extend(bodies(&batch));
            laptop_cursor = Some(batch.cursor);
        }
    }
    let batch = laptop.fetch(laptop_cursor.as_ref()).unwrap();
    laptop_seen.extend(bodies(&batch));

    let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(phone_seen, expected);
    assert_eq!(laptop_seen, expected);
}

#[test]
fn deliveries_from_two_threads_have_one_stable_order() {
    const EACH: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    Spool::open(&root, CAROL).unwrap();

    // A reader polls while the writers deliver: a cursor must never step over a mail that
    // becomes visible later.
    let reader = {
        let root = root.clone();
        thread::spawn(move || {
            let mut carol = Spool::open(&root, CAROL).unwrap();
            let mut cursor: Option<Cursor> = None;
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while seen.len() < 2 * EACH && Instant::now() < deadline {
                let batch = carol.fetch(cursor.as_ref()).unwrap();
                seen.extend(bodies(&batch));
                cursor = Some(batch.cursor);
            }
            seen
        })
    };
    let writers: Vec<_> = [ALICE, BOB]
        .into_iter()
        .map(|sender| {
            let root = root.clone();
            thread::spawn(move || {
                let mut spool = Spool::open(&root, sender).unwrap();
                for i in 0..EACH {
                    let body = format!("{sender} {i:03}");
                    spool.send(sender, &to(&[CAROL]), body.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let streamed = reader.join().unwrap();

    let mut carol = Spool::open(&root, CAROL).unwrap();
    let all = bodies(&carol.fetch(None).unwrap());
    assert_eq!(all.len(), 2 * EACH);
    let missed: Vec<&String> = all.iter().filter(|b| !streamed.contains(b)).collect();
    assert!(missed.is_empty(), "the polling reader missed {missed:?}");
    assert!(
        streamed == all,
        "the polling reader saw every mail once, in order"
    );
    assert_eq!(
        bodies(&carol.fetch(None).unwrap()),
        all,
        "the order is stable"
    );
    for sender in [ALICE, BOB] {
        let own: Vec<&String> = all.iter().filter(|b| b.starts_with(sender)).collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{sender} {i:03}")).collect();
        assert_eq!(own, expected.iter().collect::<Vec<_>>(), "{sender}'s order");
    }
    let names = mail_files(&root, CAROL);
    assert_eq!(names.len(), 2 * EACH);
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 2 * EACH);
}

#[test]
fn delete_is_idempotent_and_final() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    alice.send(ALICE, &to(&[BOB]), b"keep").unwrap();
    alice.send(ALICE, &to(&[BOB]), b"erase").unwrap();

    let batch = bob.fetch(None).unwrap();
    assert_eq!(bodies(&batch), ["keep", "erase"]);
    let erase = batch.mails[1].id.clone();
    bob.delete(&erase).unwrap();
    bob.delete(&erase).unwrap();

    // Through a stored id too, and from another device.
    let stored: MailId = erase.to_string().parse().unwrap();
    let mut other_device = Spool::open(dir.path(), BOB).unwrap();
    other_device.delete(&stored).unwrap();

    assert_eq!(bodies(&bob.fetch(None).unwrap()), ["keep"]);
    assert_eq!(bodies(&other_device.fetch(None).unwrap()), ["keep"]);
    assert!(bob.fetch(Some(&batch.cursor)).unwrap().mails.is_empty());
    assert_eq!(mail_files(dir.path(), BOB).len(), 1);
}

#[test]
fn path_traversal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("spool");
    let mut alice = Spool::open(&root, ALICE).unwrap();
    let hostile = [
        "",
        ".",
        "..",
        "../x@y",
        "..@y",
        "x@..",
        "x@../../y",
        "/etc/passwd",
        "/tmp/x@y",
        "a/b@c",
        "a\\b@c",
        "a\0b@c",
        ".hidden@x",
        "x@y/..",
        "x@y\n",
    ];
    for address in hostile {
        assert!(Spool::open(&root, address).is_err(), "open {address:?}");
        assert!(
            matches!(
                deliver_raw(&root, address, b"x"),
                Err(DeliveryError::InvalidAddress(_))
            ),
            "deliver_raw {address:?}"
        );
    }
    let err = alice
        .send(ALICE, &to(&hostile), b"escape")
        .expect_err("every recipient is invalid");
    let SendError::Recipients { delivered, failed } = &err else {
        panic!("{err:?}");
    };
    assert!(delivered.is_empty());
    assert_eq!(failed.len(), hostile.len());
    assert!(
        failed
            .iter()
            .all(|f| f.error.severity() == Severity::Permanent)
    );
    assert_eq!(err.severity(), Severity::Permanent);
    assert!(err.retryable(&to(&hostile)).is_empty());

    // Nothing was created beside the root, and the root holds only Alice's mailbox.
    let beside: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(beside.len(), 1);
    let inside: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(inside, [ALICE]);
}

#[test]
fn partial_delivery_names_the_failed_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let recipients = to(&[BOB, "no at sign", CAROL]);
    let err = alice.send(ALICE, &recipients, b"x").unwrap_err();
    let SendError::Recipients { delivered, failed } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(delivered, &to(&[BOB, CAROL]));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].recipient, "no at sign");
    assert!(matches!(failed[0].error, DeliveryError::InvalidAddress(_)));
    assert_eq!(err.severity(), Severity::Permanent);
}

#[test]
fn sender_must_be_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    assert!(matches!(
        alice.send(BOB, &to(&[CAROL]), b"x"),
        Err(SendError::SenderMismatch { .. })
    ));
    assert!(matches!(
        alice.send("../x", &to(&[CAROL]), b"x"),
        Err(SendError::InvalidSender(_))
    ));
    assert!(matches!(
        alice.send(ALICE, &[], b"x"),
        Err(SendError::NoRecipients)
    ));
    assert!(!dir.path().join(CAROL).exists());
}

#[test]
fn oversized_mail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();

    let too_large = vec![b'x'; MAX_MAIL_SIZE + 1];
    let err = alice.send(ALICE, &to(&[BOB]), &too_large).unwrap_err();
    assert!(matches!(
        err,
        SendError::TooLarge {
            size,
            limit: MAX_MAIL_SIZE
        } if size == MAX_MAIL_SIZE + 1
    ));
    assert_eq!(err.severity(), Severity::Permanent);
    assert!(err.retryable(&to(&[BOB])).is_empty());
    assert!(bob.fetch(None).unwrap().mails.is_empty());

    let largest = vec![b'y'; MAX_MAIL_SIZE];
    alice.send(ALICE, &to(&[BOB]), &largest).unwrap();
    let batch = bob.fetch(None).unwrap();
    assert_eq!(batch.mails.len(), 1);
    assert_eq!(batch.mails[0].raw.len(), MAX_MAIL_SIZE);
}

#[test]
fn fetch_skips_what_it_cannot_return() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut bob = Spool::open(root, BOB).unwrap();
    let new = root.join(BOB).join("new");

    deliver_raw(root, BOB, b"first").unwrap();
    // Garbage content is delivered like anything else: judging it is the chat layer's job.
    deliver_raw(root, BOB, b"\0\xff not a mail").unwrap();
    // Planted by hand, with stamps after the deliveries above: an oversized (sparse) file, a
    // directory, a symbolic link to a file outside the mailbox, and a name that is no stamp.
    let big = deliver_raw(root, BOB, b"").unwrap();
    let big_path = new.join(big.to_string().strip_prefix("spool:").unwrap());
    fs::File::options()
        .write(true)
        .open(&big_path)
        .unwrap()
        .set_len(u64::try_from(MAX_MAIL_SIZE).unwrap() + 1)
        .unwrap();
    fs::create_dir(new.join("18000000000000000000")).unwrap();
    fs::write(root.join("secret"), b"outside").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("secret"), new.join("18000000000000000001")).unwrap();
    fs::write(new.join("README"), b"not a mail").unwrap();
    fs::write(new.join("00000000000000000001"), b"too early").unwrap();

    let batch = bob.fetch(None).unwrap();
    let raws: Vec<&[u8]> = batch.mails.iter().map(|m| m.raw.as_slice()).collect();
    assert_eq!(
        raws,
        [&b"too early"[..], b"first", b"\0\xff not a mail"],
        "regular files in stamp order; the name that is no stamp is ignored"
    );
    let skipped: Vec<(String, &SkipReason)> = batch
        .skipped
        .iter()
        .map(|s| (s.id.to_string(), &s.reason))
        .collect();
    assert_eq!(skipped.len(), if cfg!(unix) { 3 } else { 2 }, "{skipped:?}");
    assert_eq!(skipped[0].0, big.to_string());
    assert!(matches!(
        skipped[0].1,
        SkipReason::TooLarge { size, limit }
            if *size == *limit + 1 && *limit == u64::try_from(MAX_MAIL_SIZE).unwrap()
    ));
    assert_eq!(skipped[1].0, "spool:18000000000000000000");
    assert!(matches!(skipped[1].1, SkipReason::NotAFile));
    #[cfg(unix)]
    {
        assert_eq!(skipped[2].0, "spool:18000000000000000001");
        assert!(
            matches!(skipped[2].1, SkipReason::NotAFile),
            "links are not followed"
        );
    }

    // The cursor is past the skipped entries: reported once.
    let again = bob.fetch(Some(&batch.cursor)).unwrap();
    assert!(again.mails.is_empty() && again.skipped.is_empty());
    // Skipped mail can be deleted like any other.
    bob.delete(&big).unwrap();
    assert!(!big_path.exists());
}

#[test]
fn batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB)
        .unwrap()
        .with_batch_limits(BatchLimits {
            max_mails: 2,
            max_bytes: 10,
        });
    for body in ["1", "2", "3", "4", "0123456789abcdef", "5"] {
        alice.send(ALICE, &to(&[BOB]), body.as_bytes()).unwrap();
    }
    let mut cursor = None;
    let mut batches = Vec::new();
    loop {
        let batch = bob.fetch(cursor.as_ref()).unwrap();
        batches.push((bodies(&batch), batch.more));
        cursor = Some(batch.cursor);
        if !batch.more {
            break;
        }
    }
    let expected: Vec<(Vec<String>, bool)> = vec![
        (to(&["1", "2"]), true),
        (to(&["3", "4"]), true),
        // Larger than max_bytes alone: still returned, by itself.
        (to(&["0123456789abcdef"]), true),
        (to(&["5"]), false),
    ];
    assert_eq!(batches, expected);
}

#[test]
fn cursor_text_round_trips_and_garbage_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    let empty = bob.fetch(None).unwrap().cursor;
    assert_eq!(empty.to_string().parse::<Cursor>().unwrap(), empty);
    alice.send(ALICE, &to(&[BOB]), b"x").unwrap();
    let batch = bob.fetch(Some(&empty)).unwrap();
    let text = batch.cursor.to_string();
    assert!(text.starts_with("spool:"), "{text}");
    let parsed: Cursor = text.parse().unwrap();
    assert_eq!(parsed, batch.cursor);
    assert!(bob.fetch(Some(&parsed)).unwrap().mails.is_empty());

    for garbage in [
        "",
        "garbage",
        "spool:",
        "spool:xyz:-",
        "spool:0000000000000000:12",
    ] {
        assert!(
            matches!(garbage.parse::<Cursor>(), Err(ParseError::Malformed { .. })),
            "{garbage:?}"
        );
    }
    assert!(matches!(
        "pop3:1:2".parse::<Cursor>(),
        Err(ParseError::UnknownCarrier { .. })
    ));
    // Another carrier's cursor parses, and is not a position in this spool.
    let imap: Cursor = "imap:1:2".parse().unwrap();
    assert_eq!(imap.to_string(), "imap:1:2");
    assert!(matches!(
        "spool:../../x".parse::<MailId>(),
        Err(ParseError::Malformed { .. })
    ));
}

#[test]
fn a_recreated_mailbox_restarts_old_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    alice.send(ALICE, &to(&[BOB]), b"old").unwrap();
    let old_cursor = bob.fetch(None).unwrap().cursor;

    fs::remove_dir_all(dir.path().join(BOB)).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    alice.send(ALICE, &to(&[BOB]), b"new").unwrap();
    // Whatever the new stamps are, a cursor of the old mailbox does not hide the new mail.
    assert_eq!(bodies(&bob.fetch(Some(&old_cursor)).unwrap()), ["new"]);

    // Nor does a cursor of another mailbox.
    let mut carol = Spool::open(dir.path(), CAROL).unwrap();
    alice.send(ALICE, &to(&[CAROL]), b"for carol").unwrap();
    let bob_cursor = bob.fetch(None).unwrap().cursor;
    assert_eq!(
        bodies(&carol.fetch(Some(&bob_cursor)).unwrap()),
        ["for carol"]
    );
}

#[test]
fn wait_returns_when_mail_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut bob = Spool::open(&root, BOB).unwrap();
    let cursor = bob.fetch(None).unwrap().cursor;

    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        let mut alice = Spool::open(&root, ALICE).unwrap();
        alice.send(ALICE, &to(&[BOB]), b"wake up").unwrap();
    });
    let started = Instant::now();
    let mut woke = false;
    // `wait` may return early; the caller loops on fetch, bounded here by a deadline.
    while started.elapsed() < Duration::from_secs(10) {
        bob.wait(Duration::from_secs(10)).unwrap();
        if !bob.fetch(Some(&cursor)).unwrap().mails.is_empty() {
            woke = true;
            break;
        }
    }
    sender.join().unwrap();
    assert!(woke);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn wait_times_out_and_notices_unfetched_mail() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();

    let _ = bob.fetch(None).unwrap();
    let started = Instant::now();
    bob.wait(Duration::from_millis(250)).unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // Mail that arrived between the fetch and the wait: no waiting at all.
    alice.send(ALICE, &to(&[BOB]), b"early").unwrap();
    let started = Instant::now();
    bob.wait(Duration::from_secs(30)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));

    // After fetching it, waiting blocks again even though the mail is still stored.
    let _ = bob.fetch(None).unwrap();
    let started = Instant::now();
    bob.wait(Duration::from_millis(150)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("spool");
    let mut alice = Spool::open(&root, ALICE).unwrap();
    alice.send(ALICE, &to(&[BOB]), b"private").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;

    assert_eq!(mode(&root), 0o700);
    for address in [ALICE, BOB] {
        let mailbox = root.join(address);
        for dir in [mailbox.clone(), mailbox.join("new"), mailbox.join("tmp")] {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
    }
    let names = mail_files(&root, BOB);
    assert_eq!(names.len(), 1);
    assert_eq!(mode(&root.join(BOB).join("new").join(&names[0])), 0o600);
    for (address, file) in [(BOB, "lock"), (BOB, "last"), (ALICE, "validity")] {
        let path = root.join(address).join(file);
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[test]
fn nothing_is_left_in_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    for i in 0..5 {
        alice
            .send(ALICE, &to(&[BOB, ALICE]), format!("{i}").as_bytes())
            .unwrap();
    }
    for address in [ALICE, BOB] {
        let tmp = dir.path().join(address).join("tmp");
        assert_eq!(fs::read_dir(tmp).unwrap().count(), 0);
        assert_eq!(mail_files(dir.path(), address).len(), 5);
    }
}

#[test]
fn a_batch_is_delivered_as_its_mails_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Spool::open(dir.path(), ALICE).unwrap();
    let mut bob = Spool::open(dir.path(), BOB).unwrap();
    let mut carol = Spool::open(dir.path(), CAROL).unwrap();
    // Something delivered before the batch stays first.
    alice.send(ALICE, &to(&[BOB]), b"before").unwrap();

    let to_bob = to(&[BOB]);
    let to_bob_and_self = to(&[BOB, ALICE, "BOB@example.org"]);
    let partly_bad = to(&[CAROL, "no at sign", BOB]);
    let nobody: Vec<String> = Vec::new();
    let too_large = vec![b'x'; MAX_MAIL_SIZE + 1];
    let mut batch: Vec<(&[String], &[u8])> = vec![
        (&to_bob, b"one"),
        (&to_bob_and_self, b"two"),
        (&partly_bad, b"three"),
        (&nobody, b"four"),
        (&to_bob, &too_large),
    ];
    let many: Vec<String> = (0..40).map(|i| format!("bulk {i:02}")).collect();
    batch.extend(many.iter().map(|m| (to_bob.as_slice(), m.as_bytes())));
    let results = alice.send_batch(ALICE, &batch);
    assert_eq!(results.len(), batch.len());
    assert!(results[0].is_ok() && results[1].is_ok());
    let Err(SendError::Recipients { delivered, failed }) = &results[2] else {
        panic!("{:?}", results[2]);
    };
    assert_eq!(delivered, &to(&[CAROL, BOB]), "in the caller's order");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].recipient, "no at sign");
    assert!(matches!(results[3], Err(SendError::NoRecipients)));
    assert!(matches!(results[4], Err(SendError::TooLarge { .. })));
    assert!(results[5..].iter().all(Result::is_ok));

    // Each mailbox got its mails in batch order, once each, after what was there.
    let mut expected = vec!["before", "one", "two", "three"];
    expected.extend(many.iter().map(String::as_str));
    assert_eq!(bodies(&bob.fetch(None).unwrap()), expected);
    assert_eq!(bodies(&alice.fetch(None).unwrap()), ["two"]);
    assert_eq!(bodies(&carol.fetch(None).unwrap()), ["three"]);
    for address in [ALICE, BOB, CAROL] {
        let tmp = dir.path().join(address).join("tmp");
        assert_eq!(fs::read_dir(tmp).unwrap().count(), 0, "{address}");
    }

    // A later single delivery still sorts after the batch.
    alice.send(ALICE, &to(&[BOB]), b"after").unwrap();
    let all = bob.fetch(None).unwrap();
    assert_eq!(bodies(&all).last().map(String::as_str), Some("after"));

    // delete_all removes them all (side by side), and is idempotent like delete.
    let ids: Vec<MailId> = all.mails.iter().map(|m| m.id.clone()).collect();
    bob.delete_all(&ids).unwrap();
    bob.delete_all(&ids).unwrap();
    assert!(bob.fetch(None).unwrap().mails.is_empty());
    assert!(mail_files(dir.path(), BOB).is_empty());
}

#[test]
fn batches_and_single_deliveries_from_two_threads_keep_one_order() {
    const ROUNDS: usize = 20;
    const EACH: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    Spool::open(&root, CAROL).unwrap();
    let writers: Vec<_> = [ALICE, BOB]
        .into_iter()
        .map(|sender| {
            let root = root.clone();
            thread::spawn(move || {
                let mut spool = Spool::open(&root, sender).unwrap();
                let carol = to(&[CAROL]);
                for round in 0..ROUNDS {
                    let bodies: Vec<String> = (0..EACH)
                        .map(|i| format!("{sender} {round:02} {i}"))
                        .collect();
                    if round % 2 == 0 {
                        let batch: Vec<(&[String], &[u8])> = bodies
                            .iter()
                            .map(|b| (carol.as_slice(), b.as_bytes()))
                            .collect();
                        assert!(spool.send_batch(sender, &batch).iter().all(Result::is_ok));
                    } else {
                        for body in &bodies {
                            spool.send(sender, &carol, body.as_bytes()).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let mut carol = Spool::open(&root, CAROL).unwrap();
    let all = bodies(&carol.fetch(None).unwrap());
    assert_eq!(all.len(), 2 * ROUNDS * EACH);
    for sender in [ALICE, BOB] {
        let own: Vec<&String> = all.iter().filter(|b| b.starts_with(sender)).collect();
        let expected: Vec<String> = (0..ROUNDS)
            .flat_map(|r| (0..EACH).map(move |i| format!("{sender} {r:02} {i}")))
            .collect();
        assert_eq!(own, expected.iter().collect::<Vec<_>>(), "{sender}'s order");
    }
    assert_eq!(mail_files(&root, CAROL).len(), 2 * ROUNDS * EACH);
}
