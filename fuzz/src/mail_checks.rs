//! What the mail-side fuzz targets check: the envelope (PGP/MIME parsing and decryption, the
//! Autocrypt header, OpenPGP public keys), the chat layer's control headers and its processing
//! of incoming mail, and the mail crate's text parsers (cursors, mail ids, addresses). Plain
//! functions `fn(&[u8])` that panic when an invariant fails.
//!
//! Like `checks.rs`, this file is compiled twice: as `offrecord_fuzz::mail_checks` for the
//! cargo-fuzz targets, and into the replay test `crates/offrecord/tests/fuzz_corpus_mail.rs`
//! (with `#[path]`), which runs every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the same function. It may only use what both builds have:
//! `offrecord_chat` (as `chat`), `offrecord_envelope` (as `envelope`), `offrecord_mail` (as
//! `mail`), `otr`, `rand_core`, `rand_chacha`, `tempfile` and `std`.
//!
//! `chat_receive` runs against a fixed device database, `fuzz/fixtures/chat_receive/bob.db`
//! (bob, with alice as a contact, a 1:1 chat and an active OTR chat with her), written with the
//! seed corpus by the replay test's ignored `regenerate_mail_seed_corpus`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use chat::{ChatKind, Context, Event};
use envelope::{AutocryptHeader, Identity, PeerKey};
use mail::{Address, Cursor, MailId};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A target's check: panics if `data` breaks an invariant.
pub type Check = fn(&[u8]);

/// Every mail-side target: its name (the directory under `fuzz/corpus/` and
/// `fuzz/regressions/`) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("envelope_parse", envelope_parse),
    ("autocrypt", autocrypt),
    ("chat_control", chat_control),
    ("chat_receive", chat_receive),
    ("mail_text", mail_text),
];

// ---------------------------------------------------------------------------------------------
// Fixed identities for the envelope targets
// ---------------------------------------------------------------------------------------------

/// The key creation time of the fixed identities, and the date of the seed mails.
pub const ENVELOPE_NOW: u64 = 1_700_000_000;

/// The envelope targets' fixed identities: bob (the receiver) and alice (a known sender).
pub struct Identities {
    /// The receiver.
    pub bob: Identity,
    /// A sender whose key bob knows.
    pub alice: Identity,
    /// Bob's known keys: alice's.
    pub known: Vec<PeerKey>,
}

/// Alice and bob, generated deterministically (seeds 1 and 2) on first use.
pub fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let generate = |addr: &str, seed: u64| {
            Identity::generate(addr, ENVELOPE_NOW, &mut ChaCha20Rng::seed_from_u64(seed))
                .unwrap_or_else(|e| panic!("fixed identity {addr}: {e}"))
        };
        let alice = generate("alice@example.org", 1);
        let bob = generate("bob@example.net", 2);
        Identities {
            known: vec![alice.public_key()],
            alice,
            bob,
        }
    })
}

/// `envelope_parse`: a raw mail through `envelope::parse` for bob, who knows alice's key.
///
/// Never panics; parsing is deterministic; a mail that was not encrypted carries no signature; a
/// signature is only reported for a key that may be checked (bob's own, alice's, or the key in
/// the mail's own Autocrypt header); `signed_autocrypt` only returns a header whose key made the
/// signature; the Message-ID has no angle brackets; the Autocrypt header's address is the outer
/// `From` address.
pub fn envelope_parse(data: &[u8]) {
    let ids = identities();
    let first = envelope::parse(data, &ids.bob, &ids.known);
    let second = envelope::parse(data, &ids.bob, &ids.known);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "parse is deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "parse is deterministic"),
        _ => panic!("parse is deterministic: {first:?} then {second:?}"),
    }
    let Ok(incoming) = first else { return };
    if !incoming.encrypted {
        assert!(incoming.signature.is_none(), "a plain mail is never signed");
    }
    if let Some(signature) = &incoming.signature {
        let by = &signature.fingerprint;
        let allowed = by == ids.bob.fingerprint()
            || by == ids.alice.fingerprint()
            || incoming
                .autocrypt
                .as_ref()
                .is_some_and(|h| h.key.fingerprint() == by);
        assert!(allowed, "signature by an unknown key {by:?}");
    }
    if let Some(header) = incoming.signed_autocrypt() {
        let signer = incoming.signature.as_ref().map(|s| &s.fingerprint);
        assert_eq!(Some(header.key.fingerprint()), signer);
    }
    if let Some(id) = &incoming.message_id {
        assert!(!id.contains('<') && !id.contains('>'), "Message-ID {id:?}");
    }
    if let Some(header) = &incoming.autocrypt {
        assert!(
            header.addr.eq_ignore_ascii_case(&incoming.outer_from),
            "Autocrypt addr {} for From {}",
            header.addr,
            incoming.outer_from
        );
    }
}

/// `autocrypt`: byte 0 even: the rest (lossy UTF-8) through `AutocryptHeader::parse`; what
/// parses is written with `to_header_value` and parses back equal. Byte 0 odd: the rest through
/// `PeerKey::from_bytes`; an accepted key serializes, armors, and both forms read back to the
/// same fingerprint.
pub fn autocrypt(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        let Ok(header) = AutocryptHeader::parse(&text) else {
            return;
        };
        let value = header
            .to_header_value()
            .unwrap_or_else(|e| panic!("an accepted header writes: {e}"));
        let again = AutocryptHeader::parse(&value)
            .unwrap_or_else(|e| panic!("a written header parses: {e}: {value}"));
        assert_eq!(again, header);
        let key = PeerKey::from_autocrypt(&value)
            .unwrap_or_else(|e| panic!("from_autocrypt reads what parse read: {e}"));
        assert_eq!(key.fingerprint(), header.key.fingerprint());
    } else {
        let Ok(key) = PeerKey::from_bytes(rest) else {
            return;
        };
        let bytes = key
            .to_bytes()
            .unwrap_or_else(|e| panic!("an accepted key serializes: {e}"));
        let again =
            PeerKey::from_bytes(&bytes).unwrap_or_else(|e| panic!("a written key reads: {e}"));
        assert_eq!(again.fingerprint(), key.fingerprint());
        assert_eq!(
            again.to_bytes().ok(),
            Some(bytes),
            "serialization is stable"
        );
        let armored = key
            .to_armored()
            .unwrap_or_else(|e| panic!("an accepted key armors: {e}"));
        let dearmored = PeerKey::from_bytes(armored.as_bytes())
            .unwrap_or_else(|e| panic!("an armored key reads: {e}"));
        assert_eq!(dearmored.fingerprint(), key.fingerprint());
    }
}

/// Splits `Name: value` lines (up to an empty line) and the rest.
fn header_lines(text: &str) -> (Vec<(String, String)>, Option<&str>) {
    let mut headers = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = after;
        if line.is_empty() {
            return (headers, Some(rest));
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        headers.push((name.to_owned(), value.to_owned()));
    }
    (headers, None)
}

/// `chat_control`: lossy UTF-8 text, `Name: value` lines, then optionally an empty line and the
/// wire part, through `protocol::Control::from_headers`. A control message read this way writes
/// its headers (and wire lines) and reads back equal.
pub fn chat_control(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (headers, wire) = header_lines(&text);
    let Ok(Some(control)) =
        chat::protocol::Control::from_headers(&headers, wire.map(str::as_bytes))
    else {
        return;
    };
    assert_eq!(control.invite_id.len(), 32);
    for line in &control.wire {
        assert!(
            !line.is_empty() && line.trim() == line,
            "wire line {line:?}"
        );
    }
    let joined = control.wire.join("\n");
    let part = (wire.is_some()).then_some(joined.as_bytes());
    let again = chat::protocol::Control::from_headers(&control.headers(), part)
        .unwrap_or_else(|e| panic!("written headers read back: {e}"));
    assert_eq!(again.as_ref(), Some(&control));
}

/// `mail_text`: byte 0 selects the parser (0 `Cursor`, 1 `MailId`, 2 `Address`, 3 all three),
/// the rest is lossy UTF-8. What parses prints, and the printed form parses back equal (for an
/// address: parsing is idempotent on its normalized form).
pub fn mail_text(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let which = selector % 4;
    if (which == 0 || which == 3)
        && let Ok(cursor) = Cursor::from_str(&text)
    {
        let printed = cursor.to_string();
        let again = Cursor::from_str(&printed)
            .unwrap_or_else(|e| panic!("a printed cursor {printed:?} parses: {e}"));
        assert_eq!(again, cursor);
        assert_eq!(again.to_string(), printed);
    }
    if (which == 1 || which == 3)
        && let Ok(id) = MailId::from_str(&text)
    {
        let printed = id.to_string();
        let again = MailId::from_str(&printed)
            .unwrap_or_else(|e| panic!("a printed mail id {printed:?} parses: {e}"));
        assert_eq!(again, id);
        assert_eq!(again.to_string(), printed);
    }
    if (which == 2 || which == 3)
        && let Ok(address) = Address::parse(&text)
    {
        let printed = address.as_str().to_owned();
        assert!(
            !printed.contains('/') && !printed.contains("..") && !printed.starts_with('.'),
            "a path-safe address: {printed:?}"
        );
        let again = Address::parse(&printed)
            .unwrap_or_else(|e| panic!("a normalized address {printed:?} parses: {e}"));
        assert_eq!(again, address);
        assert_eq!(address.to_string(), printed);
    }
}

// ---------------------------------------------------------------------------------------------
// chat_receive
// ---------------------------------------------------------------------------------------------

/// The texts alice sent bob in the fixture's OTR chat after it became active (the seeds carry
/// them): the only texts bob may ever show in that chat.
pub const GENUINE_OTR_TEXTS: &[&str] = &[
    "first secret: meet at the old mill",
    "second secret: bring the map",
    "third secret: a longer text that the chat layer sends as one OTR data message all the same \
     \u{e9}\u{e8}\u{fc} \u{1f600}",
    "fourth secret",
];

/// The fixture directory: `fuzz/fixtures/chat_receive/`, found from either build.
pub fn fixture_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("fixtures/chat_receive"),
        manifest.join("../../fuzz/fixtures/chat_receive"),
    ];
    for dir in &candidates {
        if dir.is_dir() {
            return dir.clone();
        }
    }
    candidates[1].clone()
}

struct ReceiveFixture {
    db: Vec<u8>,
    now: u64,
}

fn receive_fixture() -> &'static ReceiveFixture {
    static FIXTURE: OnceLock<ReceiveFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = fixture_dir();
        let db = std::fs::read(dir.join("bob.db"))
            .unwrap_or_else(|e| panic!("{}/bob.db: {e}", dir.display()));
        let now = std::fs::read_to_string(dir.join("now"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}/now is missing or not a number", dir.display()));
        ReceiveFixture { db, now }
    })
}

/// `chat_receive`: a raw mail through `Context::receive_mail` on a fresh copy of the fixture
/// database (bob, with an active OTR chat with alice), a minute after the fixture was made.
///
/// Processing never fails (bad input is reported as `Ignored`, only database failures are
/// errors); every text shown in the OTR chat is one alice really sent in it; processing the
/// same mail again shows nothing new; the OTR chat is still listed afterwards and the database
/// reopens.
pub fn chat_receive(data: &[u8]) {
    let fixture = receive_fixture();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("bob.db");
    std::fs::write(&path, &fixture.db).unwrap_or_else(|e| panic!("copy fixture: {e}"));
    let mut ctx = Context::open(&path).unwrap_or_else(|e| panic!("open fixture: {e}"));
    ctx.seed_rng(7);
    let otr_chat = ctx
        .chats()
        .unwrap_or_else(|e| panic!("chats: {e}"))
        .into_iter()
        .find(|c| c.kind == ChatKind::Otr)
        .map(|c| c.id)
        .unwrap_or_else(|| panic!("the fixture has an OTR chat"));
    let now = fixture.now + 60;

    let first = ctx
        .receive_mail(data, now)
        .unwrap_or_else(|e| panic!("receive_mail failed (bad input must be Ignored): {e}"));
    for event in &first.events {
        if let Event::IncomingMessage { chat, text, .. } = event
            && *chat == otr_chat
        {
            assert!(
                GENUINE_OTR_TEXTS.contains(&text.as_str()),
                "a text alice never sent shown in the OTR chat: {text:?}"
            );
        }
    }
    let second = ctx
        .receive_mail(data, now + 1)
        .unwrap_or_else(|e| panic!("receive_mail failed the second time: {e}"));
    let shown_again: Vec<&Event> = second
        .events
        .iter()
        .filter(|e| matches!(e, Event::IncomingMessage { .. }))
        .collect();
    assert!(
        shown_again.is_empty(),
        "the same mail shown twice: {shown_again:?}"
    );
    let chats = ctx.chats().unwrap_or_else(|e| panic!("chats after: {e}"));
    assert!(
        chats.iter().any(|c| c.id == otr_chat),
        "the OTR chat is gone"
    );
    drop(ctx);
    Context::open(&path).unwrap_or_else(|e| panic!("reopen after: {e}"));
}
