//! Every kind of mail Offrecord sends passes chatmail's outgoing filter rules (issue 5,
//! done-when 5), checked on the copies the local mail server (ci/mailserver) blind-copies to
//! its capture mailbox: 1:1 texts, invitation, accept, decline, "taken", the OTR key exchange,
//! OTR data messages, SMP and close, from two devices on each side. The checker
//! (tests/dc/chatmail.rs) is shown to reject plain mail, an old-format packet header, an
//! armor `Version:` header and packets that are not PKESK/SKESK + one SEIPD.
//!
//! Fails (never skips) when the mail server is not running.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod dc;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chat::{Event, OtrState};
use dc::chatmail::{check_outgoing, dearmor, packets, to_crlf};
use dc::{Device, MailServer, now, settle};

/// A lifecycle that makes every kind of mail; the devices, whose `sent` lists every mail.
fn every_kind_of_mail(server: &MailServer, dir: &std::path::Path) -> Vec<Device> {
    let alice_addr = server.addr("cm-alice");
    let bob_addr = server.addr("cm-bob");
    let mut a1 = Device::create(dir, "a1", &alice_addr);
    let mut a2 = Device::with_account_key(
        dir,
        "a2",
        &alice_addr,
        &a1.ctx.export_account_key().unwrap(),
    );
    let mut b1 = Device::create(dir, "b1", &bob_addr);
    let mut b2 =
        Device::with_account_key(dir, "b2", &bob_addr, &b1.ctx.export_account_key().unwrap());
    let alice_card = a1.ctx.export_public_key().unwrap();
    let bob_card = b1.ctx.export_public_key().unwrap();
    let bob_in = |d: &mut Device| {
        d.ctx
            .import_contact(bob_card.as_bytes(), None, now())
            .unwrap()
    };
    let alice_in = |d: &mut Device| {
        d.ctx
            .import_contact(alice_card.as_bytes(), None, now())
            .unwrap()
    };
    let bob_a1 = bob_in(&mut a1);
    let bob_a2 = bob_in(&mut a2);
    let alice_b1 = alice_in(&mut b1);
    alice_in(&mut b2);
    let step = |devices: &mut [&mut Device], name: &str| {
        for d in devices.iter_mut() {
            d.step = name.to_owned();
        }
    };

    // 1:1 texts, from both devices of alice and from bob.
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "1:1 text");
    let one_a1 = a1.ctx.one_to_one_chat(bob_a1, now()).unwrap();
    a1.ctx
        .send_text(one_a1, "hello from alice's first device", now())
        .unwrap();
    let one_a2 = a2.ctx.one_to_one_chat(bob_a2, now()).unwrap();
    a2.ctx
        .send_text(one_a2, "hello from alice's second device", now())
        .unwrap();
    let one_b1 = b1.ctx.one_to_one_chat(alice_b1, now()).unwrap();
    b1.ctx.send_text(one_b1, "hello from bob", now()).unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);

    // An OTR chat: invitation, accepted by both of bob's devices (the second is told
    // "taken"), the key exchange, data both ways, SMP, close.
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "invite");
    let (otr_a, _) = a1.ctx.start_otr_chat(bob_a1, now()).unwrap();
    let events = settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    let invited = |who: &str| {
        events
            .iter()
            .find_map(|(d, e)| match e {
                Event::InvitationReceived { chat, .. } if d == who => Some(*chat),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{who} got no invitation: {events:?}"))
    };
    let (otr_b1, otr_b2) = (invited("b1"), invited("b2"));
    step(
        &mut [&mut a1, &mut a2, &mut b1, &mut b2],
        "accept, taken, AKE",
    );
    b1.ctx.accept_invitation(otr_b1, now()).unwrap();
    b1.flush(server);
    server.wait_delivered();
    b2.ctx.accept_invitation(otr_b2, now()).unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    assert_eq!(
        a1.ctx.chat(otr_a).unwrap().otr_state,
        Some(OtrState::Active)
    );
    assert_eq!(
        b1.ctx.chat(otr_b1).unwrap().otr_state,
        Some(OtrState::Active)
    );
    assert_ne!(
        b2.ctx.chat(otr_b2).unwrap().otr_state,
        Some(OtrState::Active)
    );
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "OTR data");
    a1.ctx
        .send_text(otr_a, "off the record from alice", now())
        .unwrap();
    b1.ctx
        .send_text(otr_b1, "off the record from bob", now())
        .unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "SMP");
    a1.ctx
        .smp_start(otr_a, "our secret", Some("where?"), now())
        .unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    b1.ctx.smp_respond(otr_b1, "our secret", now()).unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "close");
    b1.ctx.close_otr_chat(otr_b1, now()).unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    assert_eq!(
        a1.ctx.chat(otr_a).unwrap().otr_state,
        Some(OtrState::Closed)
    );

    // A second invitation, declined.
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "invite");
    a1.ctx.start_otr_chat(bob_a1, now()).unwrap();
    let events = settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    let declined = events
        .iter()
        .find_map(|(d, e)| match e {
            Event::InvitationReceived { chat, .. } if d == "b1" => Some(*chat),
            _ => None,
        })
        .unwrap();
    step(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "decline");
    b1.ctx.decline_invitation(declined, now()).unwrap();
    settle(server, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    vec![a1, a2, b1, b2]
}

#[test]
fn every_captured_mail_passes_the_chatmail_filter() {
    let server = MailServer::get();
    let dir = tempfile::tempdir().unwrap();
    let devices = every_kind_of_mail(&server, dir.path());
    server.wait_delivered();
    let captured = server.by_message_id(server.capture());

    let mut per_step: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut total = 0;
    for d in &devices {
        for (step, message_id, raw) in &d.sent {
            let uid = captured.get(message_id).unwrap_or_else(|| {
                panic!(
                    "{}'s mail {message_id} ({step}) is not in the capture mailbox",
                    d.name
                )
            });
            let copy = server.fetch(server.capture(), *uid);
            let packets = check_outgoing(&copy).unwrap_or_else(|why| {
                panic!(
                    "{}'s {step} mail {message_id} fails the chatmail filter: {why}\n{}",
                    d.name,
                    String::from_utf8_lossy(&copy)
                )
            });
            // The captured copy is the mail as sent (plus the headers the server adds).
            assert_eq!(check_outgoing(raw).unwrap(), packets);
            per_step.entry(step.clone()).or_default().push(format!(
                "{}:{}",
                d.name,
                packets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("+")
            ));
            total += 1;
        }
    }
    for (step, mails) in &per_step {
        eprintln!("{step}: {} mails, e.g. {}", mails.len(), mails[0]);
    }
    eprintln!("{total} captured mails pass the chatmail filter rules");
    for step in [
        "1:1 text",
        "invite",
        "accept, taken, AKE",
        "OTR data",
        "SMP",
        "close",
        "decline",
    ] {
        assert!(per_step.contains_key(step), "no mail for {step}");
    }
    // Both devices of each account sent mail.
    for d in &devices {
        assert!(!d.sent.is_empty(), "{} sent nothing", d.name);
    }
}

/// Re-armors `data` the way Offrecord does (no headers, 64 columns, CRC24 line).
fn armor(data: &[u8]) -> String {
    let b64 = STANDARD.encode(data);
    let mut out = String::from("-----BEGIN PGP MESSAGE-----\r\n\r\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    let crc = crc24(data).to_be_bytes();
    out.push('=');
    out.push_str(&STANDARD.encode(&crc[1..]));
    out.push_str("\r\n-----END PGP MESSAGE-----\r\n");
    out
}

fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// `raw` with its armored message replaced by `armored`.
fn replace_armor(raw: &[u8], armored: &str) -> Vec<u8> {
    let text = String::from_utf8(to_crlf(raw)).unwrap();
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----\r\n").unwrap() + 27;
    format!("{}{}{}", &text[..start], armored, &text[end..]).into_bytes()
}

/// The armored message of a mail.
fn armor_of(raw: &[u8]) -> String {
    let text = String::from_utf8(to_crlf(raw)).unwrap();
    let start = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----\r\n").unwrap() + 27;
    text[start..end].to_owned()
}

/// The same packets with the first one's header in the old format (RFC 4880 section
/// 4.2.1): tag octet `10TTTTLL`, here with a 4-octet length (LL = 2).
fn first_packet_old_format(data: &[u8]) -> Vec<u8> {
    let tag = data[0] & 0x3F;
    let (len, header) = match data[1] {
        l @ 0..192 => (usize::from(l), 2),
        l @ 192..224 => (
            ((usize::from(l) - 192) << 8) + usize::from(data[2]) + 192,
            3,
        ),
        255 => (
            u32::from_be_bytes([data[2], data[3], data[4], data[5]]) as usize,
            6,
        ),
        _ => panic!("partial length in the first packet"),
    };
    let mut out = vec![0x80 | (tag << 2) | 2];
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&data[header..]);
    out
}

#[test]
fn the_checker_rejects_what_chatmail_rejects() {
    let server = MailServer::get();
    let dir = tempfile::tempdir().unwrap();
    let alice_addr = server.addr("cmneg-alice");
    let mut alice = Device::create(dir.path(), "alice", &alice_addr);
    let bob = Device::create(dir.path(), "bob", &server.addr("cmneg-bob"));
    let bob_id = alice
        .ctx
        .import_contact(bob.ctx.export_public_key().unwrap().as_bytes(), None, now())
        .unwrap();
    let chat = alice.ctx.one_to_one_chat(bob_id, now()).unwrap();
    alice.ctx.send_text(chat, "a real mail", now()).unwrap();
    alice.flush(&server);
    server.wait_delivered();
    let (_, message_id, raw) = alice.sent[0].clone();
    let uid = server.by_message_id(server.capture())[&message_id];
    let good = server.fetch(server.capture(), uid);
    let ok = check_outgoing(&good).unwrap();
    assert_eq!(ok.last().unwrap().tag, 18);

    // A plain mail, through the same server.
    let plain = format!(
        "From: <{alice_addr}>\r\nTo: <{}>\r\nSubject: hi\r\nMessage-ID: <plain.{}@offrecord.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n",
        bob.addr(),
        dc::unique("p")
    );
    server.submit(&alice_addr, &[bob.addr()], plain.as_bytes());
    server.wait_delivered();
    let plain_id = plain
        .split("Message-ID: <")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let uid = server.by_message_id(server.capture())[plain_id];
    let err = check_outgoing(&server.fetch(server.capture(), uid)).unwrap_err();
    assert!(err.contains("not multipart/encrypted"), "{err}");

    // The real mail's packets with an old-format header on the first packet.
    let data = dearmor(&armor_of(&raw)).unwrap();
    assert_eq!(packets(&data).unwrap(), ok);
    // Re-armoring unchanged data passes (the manipulation below is the only change).
    assert!(check_outgoing(&replace_armor(&raw, &armor(&data))).is_ok());
    let old = first_packet_old_format(&data);
    let err = check_outgoing(&replace_armor(&raw, &armor(&old))).unwrap_err();
    assert!(err.contains("old-format header"), "{err}");

    // A Version: armor header.
    let versioned = armor(&data).replacen("\r\n\r\n", "\r\nVersion: rPGP\r\n\r\n", 1);
    let err = check_outgoing(&replace_armor(&raw, &versioned)).unwrap_err();
    assert!(err.contains("Version"), "{err}");

    // Packets other than PKESK/SKESK + one SEIPD: a second SEIPD; a literal data packet.
    let mut two = data.clone();
    let seipd_at = ok.last().unwrap().offset;
    two.extend_from_slice(&data[seipd_at..]);
    let err = check_outgoing(&replace_armor(&raw, &armor(&two))).unwrap_err();
    assert!(err.contains("only PKESK (1) and SKESK (3)"), "{err}");
    let literal = [0xCB, 0x06, b'b', 0, 0, 0, 0, 0];
    let err = check_outgoing(&replace_armor(&raw, &armor(&literal))).unwrap_err();
    assert!(err.contains("not SEIPD"), "{err}");

    // A third MIME part.
    let text = String::from_utf8(to_crlf(&raw)).unwrap();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let extra = text.replace(
        &format!("--{boundary}--"),
        &format!("--{boundary}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{boundary}--"),
    );
    let err = check_outgoing(extra.as_bytes()).unwrap_err();
    assert!(err.contains("3 parts"), "{err}");
}
