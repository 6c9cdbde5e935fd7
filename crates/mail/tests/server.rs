//! The IMAP + SMTP carrier against the local test mail server (ci/mailserver/start.sh):
//! Postfix + Dovecot on 127.0.0.1, any user@offrecord.test with password "offrecord".
//! These tests fail, never skip, when the server is not running.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cloned_ref_to_slice_refs
)]

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mail::{
    BatchLimits, Carrier, Cursor, DeliveryError, Endpoint, FetchError, Security, SendError,
    ServerCarrier, ServerErrorKind, ServerSettings, Severity,
};
use zeroize::Zeroizing;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The server contract, from ci/mailserver/env; panics (fails the test) when the server is
/// not listening.
fn env() -> HashMap<String, String> {
    let text = std::fs::read_to_string(repo().join("ci/mailserver/env")).unwrap();
    let env: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for key in ["OFFRECORD_MAIL_IMAP_PORT", "OFFRECORD_MAIL_SUBMISSION_PORT"] {
        let port = &env[key];
        if TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            panic!(
                "the test mail server is not running (nothing on 127.0.0.1:{port}): \
                 run `sudo ci/mailserver/start.sh` first"
            );
        }
    }
    env
}

/// A fresh address nobody used before.
fn fresh(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}@offrecord.test",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn settings(address: &str, imap: Security, smtp: Security) -> ServerSettings {
    let env = env();
    let port = |key: &str| env[key].parse::<u16>().unwrap();
    let imap_port = match imap {
        Security::Tls => port("OFFRECORD_MAIL_IMAPS_PORT"),
        _ => port("OFFRECORD_MAIL_IMAP_PORT"),
    };
    let smtp_port = match smtp {
        Security::Tls => port("OFFRECORD_MAIL_SMTPS_PORT"),
        _ => port("OFFRECORD_MAIL_SUBMISSION_PORT"),
    };
    let mut settings = ServerSettings::new(
        address,
        address,
        Zeroizing::new(env["OFFRECORD_MAIL_PASSWORD"].clone()),
        Endpoint {
            host: "127.0.0.1".to_owned(),
            port: imap_port,
            security: imap,
        },
        Endpoint {
            host: "127.0.0.1".to_owned(),
            port: smtp_port,
            security: smtp,
        },
    );
    settings.extra_ca = Some(PathBuf::from(&env["OFFRECORD_MAIL_CA"]));
    settings
}

fn plain(address: &str) -> ServerCarrier {
    ServerCarrier::open(settings(address, Security::Plain, Security::Plain)).unwrap()
}

fn mail(n: usize) -> Vec<u8> {
    format!(
        "From: <x@offrecord.test>\r\nSubject: test {n}\r\nMessage-ID: <{n}.{}@offrecord.test>\r\n\r\nbody {n}\r\n",
        fresh("id")
    )
    .into_bytes()
}

/// Fetches until `count` mails arrived after `cursor` (delivery is asynchronous).
fn fetch_until(
    carrier: &mut ServerCarrier,
    cursor: Option<&Cursor>,
    count: usize,
) -> Vec<mail::FetchedMail> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut cursor = cursor.cloned();
    let mut got = Vec::new();
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} mails arrived",
            got.len()
        );
        let batch = carrier.fetch(cursor.as_ref()).unwrap();
        cursor = Some(batch.cursor.clone());
        got.extend(batch.mails);
        if got.len() < count && !batch.more {
            carrier.wait(Duration::from_secs(2)).unwrap();
        }
    }
    got
}

fn body_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}

fn doveadm(args: &[&str]) -> String {
    let out = Command::new(repo().join("ci/mailserver/doveadm"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "doveadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn send_fetch_cursor_delete() {
    let alice = fresh("alice");
    let bob = fresh("bob");
    let mut a = plain(&alice);
    let mut b = plain(&bob);
    a.check().unwrap();
    for n in 0..3 {
        a.send(&alice, &[bob.clone(), alice.clone()], &mail(n))
            .unwrap();
    }
    let mails = fetch_until(&mut b, None, 3);
    // Postfix delivers concurrently: the mailbox order need not be the sending order.
    let mut bodies = mails.iter().map(|m| body_of(&m.raw)).collect::<Vec<_>>();
    bodies.sort();
    assert_eq!(bodies, ["body 0\r\n", "body 1\r\n", "body 2\r\n"]);
    // Cursors are text and resume after the mail they come with.
    let after_first: Cursor = mails[0].cursor.to_string().parse().unwrap();
    assert!(after_first.to_string().starts_with("imap:"));
    let rest = b.fetch(Some(&after_first)).unwrap();
    assert_eq!(rest.mails.len(), 2);
    assert_eq!(rest.mails[0].id, mails[1].id);
    assert!(b.fetch(Some(&rest.cursor)).unwrap().mails.is_empty());

    // A second device of bob, own cursor, reads the same mails: no flag is state.
    let mut b2 = plain(&bob);
    assert_eq!(fetch_until(&mut b2, None, 3).len(), 3);
    // Alice got her own copy (BCC-self).
    assert_eq!(fetch_until(&mut a, None, 3).len(), 3);

    // Delete is an erasure on the server, and idempotent.
    b.delete(&mails[1].id).unwrap();
    b.delete(&mails[1].id).unwrap();
    b2.delete(&mails[1].id).unwrap();
    let left = b2.fetch(None).unwrap();
    assert_eq!(left.mails.len(), 2);
    assert!(left.mails.iter().all(|m| m.id != mails[1].id));
    let uids = doveadm(&["search", "-u", &bob, "mailbox", "INBOX", "all"]);
    assert_eq!(uids.lines().count(), 2, "{uids}");
}

#[test]
fn batches_are_bounded() {
    let alice = fresh("alice");
    let mut a = plain(&alice);
    for n in 0..5 {
        a.send(&alice, &[alice.clone()], &mail(n)).unwrap();
    }
    fetch_until(&mut a, None, 5);
    let mut a = plain(&alice).with_batch_limits(BatchLimits {
        max_mails: 2,
        max_bytes: 1 << 20,
    });
    let mut cursor = None;
    let mut sizes = Vec::new();
    loop {
        let batch = a.fetch(cursor.as_ref()).unwrap();
        sizes.push(batch.mails.len());
        cursor = Some(batch.cursor);
        if !batch.more {
            break;
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    // A byte bound smaller than one mail still returns one mail per batch.
    let mut a = plain(&alice).with_batch_limits(BatchLimits {
        max_mails: 100,
        max_bytes: 1,
    });
    let batch = a.fetch(None).unwrap();
    assert_eq!(batch.mails.len(), 1);
    assert!(batch.more);
}

#[test]
fn uidvalidity_change_restarts_from_the_beginning() {
    let alice = fresh("alice");
    let mut a = plain(&alice);
    for n in 0..2 {
        a.send(&alice, &[alice.clone()], &mail(n)).unwrap();
    }
    let mails = fetch_until(&mut a, None, 2);
    let cursor = mails[1].cursor.clone();
    assert!(a.fetch(Some(&cursor)).unwrap().mails.is_empty());
    a.disconnect();
    let validity = cursor
        .to_string()
        .split(':')
        .nth(1)
        .unwrap()
        .parse::<u32>()
        .unwrap();
    doveadm(&[
        "mailbox",
        "update",
        "-u",
        &alice,
        "--uid-validity",
        &(validity + 1000).to_string(),
        "INBOX",
    ]);
    let batch = a.fetch(Some(&cursor)).unwrap();
    assert_eq!(
        batch.mails.len(),
        2,
        "a new UIDVALIDITY means everything again"
    );
    assert!(
        batch
            .cursor
            .to_string()
            .starts_with(&format!("imap:{}:", validity + 1000))
    );
    // A mail id of the old validity names nothing any more: deleting it deletes nothing.
    a.delete(&mails[0].id).unwrap();
    assert_eq!(a.fetch(None).unwrap().mails.len(), 2);
}

#[test]
fn smtp_refusals_are_temporary_or_permanent() {
    let alice = fresh("alice");
    let bob = fresh("bob");
    let mut a = plain(&alice);
    let rejected = fresh("rejected");
    let tempfail = fresh("tempfail");

    let error = a.send(&alice, &[rejected.clone()], &mail(0)).unwrap_err();
    assert_eq!(error.severity(), Severity::Permanent, "{error:?}");
    let SendError::Recipients { delivered, failed } = &error else {
        panic!("{error:?}")
    };
    assert!(delivered.is_empty());
    assert!(
        matches!(failed[0].error, DeliveryError::Refused { code: 550, .. }),
        "{failed:?}"
    );

    let error = a
        .send(
            &alice,
            &[bob.clone(), tempfail.clone(), "x@example.com".to_owned()],
            &mail(1),
        )
        .unwrap_err();
    assert_eq!(error.severity(), Severity::Temporary, "{error:?}");
    let recipients = [bob.clone(), tempfail.clone(), "x@example.com".to_owned()];
    assert_eq!(error.retryable(&recipients), [tempfail.as_str()]);
    let SendError::Recipients { delivered, failed } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(delivered, &[bob.clone()]);
    assert_eq!(failed.len(), 2);
    assert!(
        matches!(failed[1].error, DeliveryError::Refused { code: 554, .. }),
        "{failed:?}"
    );
    // Bob got it once.
    let mut b = plain(&bob);
    assert_eq!(fetch_until(&mut b, None, 1).len(), 1);

    // A wrong password: nothing sent, temporary (the outbox keeps the mail).
    let mut wrong = settings(&alice, Security::Plain, Security::Plain);
    wrong.password = Zeroizing::new("wrong".to_owned());
    let mut w = ServerCarrier::open(wrong).unwrap();
    let error = w.send(&alice, &[bob.clone()], &mail(2)).unwrap_err();
    assert_eq!(error.severity(), Severity::Temporary);
    let SendError::Server(server) = &error else {
        panic!("{error:?}")
    };
    assert!(
        matches!(server.kind(), ServerErrorKind::Login(_)),
        "{server:?}"
    );
    let FetchError::Server(server) = w.fetch(None).unwrap_err() else {
        panic!()
    };
    assert!(
        matches!(server.kind(), ServerErrorKind::Login(_)),
        "{server:?}"
    );
}

#[test]
fn tls_and_starttls_with_the_test_ca() {
    let alice = fresh("alice");
    for (imap, smtp) in [
        (Security::Tls, Security::Tls),
        (Security::StartTls, Security::StartTls),
    ] {
        let mut a = ServerCarrier::open(settings(&alice, imap, smtp)).unwrap();
        a.check().unwrap();
        a.send(&alice, &[alice.clone()], &mail(0)).unwrap();
    }
    let mut a = ServerCarrier::open(settings(&alice, Security::Tls, Security::Tls)).unwrap();
    assert_eq!(fetch_until(&mut a, None, 2).len(), 2);

    // Without the test CA the certificate is not trusted.
    let mut untrusted = settings(&alice, Security::Tls, Security::StartTls);
    untrusted.extra_ca = None;
    let mut u = ServerCarrier::open(untrusted).unwrap();
    let error = u.check().unwrap_err();
    assert!(matches!(error.kind(), ServerErrorKind::Tls(_)), "{error:?}");
    let error = u.send(&alice, &[alice.clone()], &mail(1)).unwrap_err();
    let SendError::Server(server) = &error else {
        panic!("{error:?}")
    };
    assert!(
        matches!(server.kind(), ServerErrorKind::Tls(_)),
        "{server:?}"
    );
}

#[test]
fn plain_is_refused_beyond_loopback() {
    // 192.0.2.1 is TEST-NET-1: nothing is ever contacted, the rule applies before connecting.
    let mut s = settings(&fresh("alice"), Security::Plain, Security::Plain);
    s.imap.host = "192.0.2.1".to_owned();
    s.smtp.host = "192.0.2.1".to_owned();
    let address = s.address.clone();
    let mut c = ServerCarrier::open(s).unwrap();
    let FetchError::Server(error) = c.fetch(None).unwrap_err() else {
        panic!()
    };
    assert!(
        matches!(error.kind(), ServerErrorKind::PlainNotLoopback),
        "{error:?}"
    );
    let SendError::Server(error) = c.send(&address, &[address.clone()], &mail(0)).unwrap_err()
    else {
        panic!()
    };
    assert!(
        matches!(error.kind(), ServerErrorKind::PlainNotLoopback),
        "{error:?}"
    );
}

#[test]
fn wait_idles_until_mail_and_survives_a_kick() {
    let alice = fresh("alice");
    let bob = fresh("bob");
    let mut b = plain(&bob);
    let batch = b.fetch(None).unwrap();
    assert!(batch.mails.is_empty());
    // Nothing new: wait times out.
    let started = Instant::now();
    b.wait(Duration::from_millis(800)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(700));

    // Mail arrives while waiting: IDLE returns early.
    let sender = std::thread::spawn({
        let (alice, bob) = (alice.clone(), bob.clone());
        move || {
            std::thread::sleep(Duration::from_millis(300));
            plain(&alice).send(&alice, &[bob], &mail(0)).unwrap();
        }
    });
    let started = Instant::now();
    b.wait(Duration::from_secs(20)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    sender.join().unwrap();
    let batch = b.fetch(Some(&batch.cursor)).unwrap();
    assert_eq!(batch.mails.len(), 1);

    // The connection is killed mid-wait: wait returns, the next fetch reconnects, and the mail
    // sent meanwhile arrives exactly once.
    let kicker = std::thread::spawn({
        let (alice, bob) = (alice.clone(), bob.clone());
        move || {
            // Until the kick hits the waiting session (it must have been connected).
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                std::thread::sleep(Duration::from_millis(300));
                if doveadm(&["kick", &bob]).contains(&bob) {
                    break;
                }
                assert!(Instant::now() < deadline, "no session of {bob} to kick");
            }
            plain(&alice).send(&alice, &[bob], &mail(1)).unwrap();
        }
    });
    b.wait(Duration::from_secs(20)).unwrap();
    kicker.join().unwrap();
    let got = fetch_until(&mut b, Some(&batch.cursor), 1);
    assert_eq!(got.len(), 1);
    assert_eq!(body_of(&got[0].raw), "body 1\r\n");
    assert!(b.fetch(Some(&got[0].cursor)).unwrap().mails.is_empty());
}

#[test]
fn wait_polls_without_idle() {
    let alice = fresh("alice");
    let mut s = settings(&alice, Security::Plain, Security::Plain);
    s.use_idle = false;
    let mut a = ServerCarrier::open(s).unwrap();
    let batch = a.fetch(None).unwrap();
    let sender = std::thread::spawn({
        let alice = alice.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            plain(&alice)
                .send(&alice, &[alice.clone()], &mail(0))
                .unwrap();
        }
    });
    let started = Instant::now();
    a.wait(Duration::from_secs(20)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    sender.join().unwrap();
    assert_eq!(a.fetch(Some(&batch.cursor)).unwrap().mails.len(), 1);
}

#[test]
fn a_batch_goes_over_one_session_with_per_mail_results() {
    let alice = fresh("alice");
    let bob = fresh("bob");
    let rejected = fresh("rejected");
    let mut a = plain(&alice);
    let to_bob = vec![bob.clone()];
    let to_bob_and_self = vec![bob.clone(), alice.clone()];
    let partly_refused = vec![rejected.clone(), bob.clone()];
    let only_invalid = vec!["no at sign".to_owned()];
    let (m0, m1, m2, m3, m4) = (mail(0), mail(1), mail(2), mail(3), mail(4));
    let batch: Vec<(&[String], &[u8])> = vec![
        (&to_bob, &m0),
        (&partly_refused, &m1),
        (&only_invalid, &m2),
        (&to_bob_and_self, &m3),
        (&to_bob, &m4),
    ];
    let results = a.send_batch(&alice, &batch);
    assert_eq!(results.len(), 5);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let Err(SendError::Recipients { delivered, failed }) = &results[1] else {
        panic!("{:?}", results[1]);
    };
    assert_eq!(delivered, &[bob.clone()]);
    assert!(
        matches!(failed[0].error, DeliveryError::Refused { code: 550, .. }),
        "{failed:?}"
    );
    let Err(SendError::Recipients { delivered, failed }) = &results[2] else {
        panic!("{:?}", results[2]);
    };
    assert!(delivered.is_empty());
    assert!(matches!(failed[0].error, DeliveryError::InvalidAddress(_)));
    // The refusals left nothing behind: the mails after them went out normally.
    assert!(results[3].is_ok() && results[4].is_ok(), "{results:?}");
    let mut b = plain(&bob);
    let fetched = fetch_until(&mut b, None, 4);
    let mut bodies: Vec<String> = fetched.iter().map(|m| body_of(&m.raw)).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        ["body 0\r\n", "body 1\r\n", "body 3\r\n", "body 4\r\n"]
    );
    // delete_all: three of them in one go (and again: idempotent), the fourth stays.
    let ids: Vec<mail::MailId> = fetched[..3].iter().map(|m| m.id.clone()).collect();
    b.delete_all(&ids).unwrap();
    b.delete_all(&ids).unwrap();
    let left = b.fetch(None).unwrap();
    assert_eq!(left.mails.len(), 1);
    assert_eq!(left.mails[0].id, fetched[3].id);
    let uids = doveadm(&["search", "-u", &bob, "mailbox", "INBOX", "all"]);
    assert_eq!(uids.lines().count(), 1, "{uids}");
    assert_eq!(fetch_until(&mut a, None, 1).len(), 1, "the self-copy");

    // A wrong password: every mail of the batch fails, temporarily, and only one login is
    // tried.
    let mut wrong = settings(&alice, Security::Plain, Security::Plain);
    wrong.password = Zeroizing::new("wrong".to_owned());
    let mut w = ServerCarrier::open(wrong).unwrap();
    let results = w.send_batch(&alice, &batch[..2]);
    assert_eq!(results.len(), 2);
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert_eq!(error.severity(), Severity::Temporary, "{error:?}");
        assert!(matches!(error, SendError::Server(_)), "{error:?}");
    }
    let Err(SendError::Server(first)) = &results[0] else {
        panic!()
    };
    assert!(
        matches!(first.kind(), ServerErrorKind::Login(_)),
        "{first:?}"
    );
    let Err(SendError::Server(second)) = &results[1] else {
        panic!()
    };
    assert!(
        matches!(second.kind(), ServerErrorKind::Connection(why) if why.starts_with("not tried")),
        "{second:?}"
    );
}
