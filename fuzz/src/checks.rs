//! What each fuzz target checks, as plain functions `fn(&[u8])` that panic when an invariant
//! fails.
//!
//! This file is compiled twice: as `offrecord_fuzz::checks` for the cargo-fuzz targets in
//! `fuzz/fuzz_targets/`, and into the otr crate's replay test `crates/otr/tests/fuzz_corpus.rs`
//! (with `#[path]`), which runs every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the same function. It may therefore only use what both
//! builds have: `otr`, `offrecord_crypto`, `rand_core`, `rand_chacha` and `std`.
//!
//! Structured inputs (the fragment sequence, the two-party interaction) are decoded by the small
//! [`Source`] reader below rather than by the `arbitrary` crate, so that the replay test needs no
//! dependency the otr crate does not have, and so that the meaning of a committed corpus file
//! does not change when `arbitrary` changes its encoding.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use offrecord_crypto::dsa::DsaPrivateKey;
use otr::fragment::{self, Fragment, FragmentError, FragmentFormat, Reassembler, ReassemblyLimits};
use otr::tlv::Plaintext;
use otr::wire::{Encoded, Message, Query, armor, dearmor, error_message};
use otr::{
    Config, Endpoint, Event, InstanceTag, MessageEvent, MessageState, Output, Policy,
    ProtocolVersion, ReceivedKind,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A target's check: panics if `data` breaks an invariant.
pub type Check = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/` and `fuzz/regressions/`) and its
/// check.
pub const TARGETS: &[(&str, Check)] = &[
    ("message_parse", message_parse),
    ("encoded_decode", encoded_decode),
    ("fragment", fragment),
    ("tlv", tlv),
    ("keyfile", keyfile),
    ("pickle", pickle),
    ("endpoint_receive", endpoint_receive),
    ("interaction", interaction),
    ("smp", smp),
];

// ---------------------------------------------------------------------------------------------
// Input decoding
// ---------------------------------------------------------------------------------------------

/// A reader over fuzz bytes that never fails: past the end it yields zeros.
pub struct Source<'a> {
    data: &'a [u8],
}

impl<'a> Source<'a> {
    /// Reads `data` from the start.
    pub fn new(data: &'a [u8]) -> Self {
        Source { data }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// One bit of the next byte.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A length byte, then up to that many bytes (fewer at the end of the input).
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.u8()).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed keys (DSA key generation takes seconds; these were generated once with
// `DsaPrivateKey::generate(&mut ChaCha20Rng::seed_from_u64(0xf022_5eed))`)
// ---------------------------------------------------------------------------------------------

const ALICE_KEY: [&str; 5] = [
    "b2f08dd2cfc15751a321b500540a36b182938844e67ee05e437f75fe2778a9aa983352591df8b4c48f30c29f66af\
     f79d5ed3048575f822a591ce7d707c292b7e7048d7a89e98353b8fe1898e554ab1b4c9c6c98bf7325e70c2961c8b\
     e20dcc05793bcaae1e11fc4e61af9d37bcd6452e9a3fd91c9ec6a357aeb4f5d41382ccf5",
    "d1840c1bc8f19d3ddd15a84f2c4b0040886c619d",
    "8962f05e78756cfbbda889f5f2d7b5f2acc567cba697204f4b7b3db0eb291d4dde87eece5693757c1a50330583\
     8616925e86d7af59b39be83ab861c739645c06de9b0b5def8b0b78799810cd658e2bffd9d7a179d270892a694b0e\
     1fff24177621d22c8671cbc30edb5bfdf70e197cc5d63789ae1e3082fd86db50b3bfbab073",
    "1fdfeaef9720f1363cb339543645d014c71d413e0c2c78d4cbffb2c11aab43a2442073eb31f16dba199831b677\
     f10936e2e60d691694874190b6e43c85a394aa588053a0daa0d1e7e557d0b32415bdf6e7c621aa1b25cedeec4952\
     83e33233d5bfeb7e8d16bad63c7f56bf73271a19063e0d3d38d7c99e4bf5eaafe042b418d6",
    "71de0d9b481f14b6351d7c28e921b39473a87135",
];

const BOB_KEY: [&str; 5] = [
    "bca78ee2e00afc3c51487351d13a820f8cd585458d66a43bb8a7ad3457c13637098c540507325480f38563571e\
     81da1ce6cc682a9286b8e9f2eede51eb1e69ff4e372ae51a4f47047a6550b2ccf71d9ad3fae688925679009de3eb\
     8f9c13fb7167a2eb27d347473ca529a9b8e89150e87d705c3db8177d8f2770691181b59efd",
    "e9c18d02e17e8aa4fa97b686241679c799423c7f",
    "63430afe23078b02092477a8d10b7b9cc955e16136389a99b294f7700fc5865f283d16c4d583caa061cfb0aa7a\
     370e241525095e1992d66082f0ac1fe95a31f13026fd79544c1507e2a981a9154f696243a5b13afb0efdab30ecd0\
     e2cf4e1708ce9ff5e9d3ac2ce4419ef4839d186447c7b4c9a9ae4591286509c1b3e4627e5a",
    "479ed938f351e48ab44a58a19230bfe3d01dcf922efe4e017299fa1e2933edea18e44ae14c7032ffa6f1ddaca1\
     c97d37703b40e99838305533c77c9bf57d571781191feb166afe37876ca22e352bc3b78f2729fbe304454a2349b1\
     d42ff90b74edbeba9b7324f4990d024ad82365931218221f72dde67781e37937101543d587",
    "24c1e7735c684f790d59e66b27b37b6d85b603",
];

/// Alice's instance tag.
pub const ALICE_TAG: InstanceTag = InstanceTag::new(0x0a11_ce00);
/// Bob's instance tag.
pub const BOB_TAG: InstanceTag = InstanceTag::new(0x0b0b_0b00);
/// The simulated clock starts here (seconds).
pub const T0: u64 = 1_700_000_000;

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => 0,
        })
        .collect();
    digits
        .chunks(2)
        .map(|d| d.iter().fold(0, |acc, &n| acc * 16 + n))
        .collect()
}

fn key(parts: &[&str; 5]) -> DsaPrivateKey {
    let [p, q, g, y, x] = parts.map(unhex);
    DsaPrivateKey::from_components(&p, &q, &g, &y, &x).expect("the embedded DSA key is valid")
}

/// Alice's long-term key.
pub fn alice_key() -> DsaPrivateKey {
    key(&ALICE_KEY)
}

/// Bob's long-term key.
pub fn bob_key() -> DsaPrivateKey {
    key(&BOB_KEY)
}

// ---------------------------------------------------------------------------------------------
// message_parse
// ---------------------------------------------------------------------------------------------

/// `Message::parse` on arbitrary text (bytes read as lossy UTF-8). Never panics; fails only on
/// "?OTR:" input; every variant is consistent with the input, and every `Encoded` survives
/// decode-encode-decode and armor-parse.
pub fn message_parse(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let parsed = Message::parse(&input);
    match parsed {
        Err(e) => assert!(
            input.contains("?OTR:"),
            "parse failed ({e}) on text without \"?OTR:\""
        ),
        Ok(Message::Encoded { encoded, raw }) => {
            assert!(input.contains("?OTR:"));
            assert_eq!(
                Encoded::decode(&raw).as_ref(),
                Ok(&encoded),
                "raw does not decode to the message"
            );
            check_encoded_round_trip(&encoded);
        }
        Ok(Message::Fragment(fragment)) => {
            assert!(
                fragment.starts_with("?OTR|") || fragment.starts_with("?OTR,"),
                "fragment {fragment:?} does not start with a marker"
            );
            assert!(input.ends_with(fragment.as_str()));
            check_fragment_text(&fragment);
        }
        Ok(Message::Error { text }) => {
            assert!(input.contains("?OTR Error:"));
            assert!(input.ends_with(text.as_str()));
            assert_eq!(
                Message::parse(&error_message(&text)),
                Ok(Message::Error { text: text.clone() }),
                "error message does not round-trip"
            );
        }
        Ok(Message::Query { versions }) => {
            assert!(input.contains("?OTR?") || input.contains("?OTRv"));
            assert_eq!(
                Message::parse(&Query::message(versions)),
                Ok(Message::Query { versions }),
                "query does not round-trip"
            );
        }
        Ok(Message::Plaintext {
            text,
            whitespace_tag,
        }) => match whitespace_tag {
            None => assert_eq!(text, input, "untagged plaintext was changed"),
            Some(_) => assert!(
                text.len() + 16 <= input.len(),
                "a whitespace tag was reported but not removed"
            ),
        },
    }
}

/// decode(encode(x)) == x, encode is stable, and the armored form parses back to `x`.
fn check_encoded_round_trip(encoded: &Encoded) {
    let bytes = encoded.encode();
    let again = Encoded::decode(&bytes)
        .unwrap_or_else(|e| panic!("re-encoded message does not decode: {e}\n{encoded:?}"));
    assert_eq!(&again, encoded, "decode(encode(x)) != x");
    assert_eq!(again.encode(), bytes, "encode is not stable");
    match Message::parse(&encoded.to_armored()) {
        Ok(Message::Encoded { encoded: e, raw }) => {
            assert_eq!(&e, encoded, "armored message parses to another message");
            assert_eq!(raw, bytes);
        }
        other => panic!("armored message parses as {other:?}"),
    }
    if let Some(mac_input) = encoded.data_mac_input() {
        assert_eq!(
            encoded.raw_data_mac_input(&bytes),
            Some(mac_input.as_slice()),
            "MAC input from the re-encoding differs from data_mac_input"
        );
    }
}

/// A fragment string: if it parses, its fixed-width form parses to the same fragment.
fn check_fragment_text(text: &str) {
    if let Ok(f) = Fragment::parse(text) {
        assert!(f.index >= 1 && f.index <= f.total, "{f:?}");
        assert!(!f.piece.is_empty());
        assert!(f.format_version == 2 || f.format_version == 3);
        let printed = f.to_string();
        assert_eq!(
            Fragment::parse(&printed).as_ref(),
            Ok(&f),
            "fragment does not round-trip through {printed:?}"
        );
        // Whole, unless the piece itself contains a marker ("?OTR|" anywhere wins, as in
        // libotr; real pieces are base-64 and never do).
        match Message::parse(&printed) {
            Ok(Message::Fragment(found)) => assert!(printed.ends_with(found.as_str())),
            other => panic!("{printed:?} parses as {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// encoded_decode
// ---------------------------------------------------------------------------------------------

/// `Encoded::decode` on raw bytes: decode-encode-decode, agreement with `Message::parse` of the
/// armored bytes, and armor/dearmor round trip.
pub fn encoded_decode(data: &[u8]) {
    let decoded = Encoded::decode(data);
    if let Ok(encoded) = &decoded {
        let bytes = encoded.encode();
        // Non-minimal MPIs are stored minimal, so the re-encoding can only be shorter.
        assert!(bytes.len() <= data.len(), "re-encoding grew");
        check_encoded_round_trip(encoded);
        if let Some(raw_input) = encoded.raw_data_mac_input(data) {
            assert!(data.starts_with(raw_input));
        }
    }
    let armored = armor(data);
    assert_eq!(
        dearmor(&armored).as_deref(),
        Ok(data),
        "armor/dearmor round trip"
    );
    if data.len() > otr::wire::MAX_ENCODED_LEN {
        return;
    }
    match (Message::parse(&armored), decoded) {
        (Ok(Message::Encoded { encoded, raw }), Ok(direct)) => {
            assert_eq!(encoded, direct);
            assert_eq!(raw, data);
        }
        (Err(from_text), Err(direct)) => assert_eq!(from_text, direct),
        (from_text, direct) => {
            panic!("parse(armor(x)) = {from_text:?} but decode(x) = {direct:?}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fragment
// ---------------------------------------------------------------------------------------------

/// Fragments, in two modes chosen by the first byte.
///
/// * Even: fuzz-chosen [`ReassemblyLimits`] (4 bytes), then lines of text, each parsed with
///   `Fragment::parse` and pushed into one [`Reassembler`]. Buffered bytes and pending messages
///   never exceed the limits, and every completed message is the concatenation, in index order,
///   of pieces that were pushed under the same (version, tags, n).
/// * Odd: `fragment::fragment` splits fuzz text (max length and format from 3 bytes); every
///   fragment fits, parses back to its index, and the pieces concatenate to the message, which
///   reassembles exactly once from in-order, repeated and reversed delivery.
pub fn fragment(data: &[u8]) {
    let mut src = Source::new(data);
    if src.u8() & 1 == 0 {
        fragment_reassembly(&mut src);
    } else {
        fragment_split(&mut src);
    }
}

type PieceKey = (u16, InstanceTag, InstanceTag, u16);

fn fragment_reassembly(src: &mut Source<'_>) {
    let limits = ReassemblyLimits {
        max_total_bytes: 1 + usize::from(src.u8()) * 16,
        max_pending_messages: usize::from(src.u8() % 8),
        max_fragments: u16::from(src.u8()),
        max_age_secs: u64::from(src.u8() % 32),
    };
    let mut reassembler = Reassembler::new(limits);
    // Every piece pushed, by (key, index).
    let mut pushed: HashMap<(PieceKey, u16), HashSet<String>> = HashMap::new();
    let text = String::from_utf8_lossy(src.rest()).into_owned();
    let mut now = T0;
    for line in text.split('\n') {
        now += (line.len() % 5) as u64;
        let Ok(f) = Fragment::parse(line) else {
            continue;
        };
        check_fragment_text(line);
        let key = (f.format_version, f.sender, f.receiver, f.total);
        pushed
            .entry((key, f.index))
            .or_default()
            .insert(f.piece.clone());
        let total = f.total;
        let result = reassembler.push(f, now);
        assert!(
            reassembler.buffered_bytes() <= limits.max_total_bytes,
            "buffered {} bytes, limit {}",
            reassembler.buffered_bytes(),
            limits.max_total_bytes
        );
        assert!(
            reassembler.pending_messages() <= limits.max_pending_messages.max(1),
            "{} pending messages, limit {}",
            reassembler.pending_messages(),
            limits.max_pending_messages
        );
        match result {
            Ok(Some(message)) => {
                assert!(
                    is_concatenation(&message, key, total, &pushed),
                    "reassembled {message:?} is not made of pushed pieces of {key:?}"
                );
            }
            Ok(None) => {}
            Err(
                FragmentError::FragmentCountExceedsLimit { .. }
                | FragmentError::MessageTooLarge { .. },
            ) => {}
            Err(e) => panic!("a parsed fragment was refused: {e}"),
        }
        reassembler.expire(now);
        assert!(reassembler.buffered_bytes() <= limits.max_total_bytes);
    }
}

/// Whether `message` is piece 1 + piece 2 + ... + piece `total`, each one of the pieces pushed
/// with that index under `key`.
fn is_concatenation(
    message: &str,
    key: PieceKey,
    total: u16,
    pushed: &HashMap<(PieceKey, u16), HashSet<String>>,
) -> bool {
    // Offsets into `message` reachable after pieces 1..=k.
    let mut offsets: HashSet<usize> = HashSet::from([0]);
    for k in 1..=total {
        let Some(pieces) = pushed.get(&(key, k)) else {
            return false;
        };
        let mut next = HashSet::new();
        for &offset in &offsets {
            let rest = message.get(offset..).unwrap_or_default();
            for piece in pieces {
                if rest.starts_with(piece.as_str()) {
                    next.insert(offset + piece.len());
                }
            }
        }
        if next.is_empty() {
            return false;
        }
        offsets = next;
    }
    offsets.contains(&message.len())
}

fn fragment_split(src: &mut Source<'_>) {
    let max_len = usize::from(src.u16());
    let format = match src.u8() % 3 {
        0 => FragmentFormat::V2,
        1 => FragmentFormat::V3 {
            sender: ALICE_TAG,
            receiver: BOB_TAG,
        },
        _ => FragmentFormat::V3 {
            sender: InstanceTag::new(0xffff_ffff),
            receiver: InstanceTag::ZERO,
        },
    };
    let message = String::from_utf8_lossy(src.rest()).replace(',', ";");
    let fragments = match fragment::fragment(&message, max_len, format) {
        Ok(fragments) => fragments,
        Err(FragmentError::MaxLenTooSmall { min_len, .. }) => {
            assert!(max_len < format.overhead() + 4 && min_len > max_len);
            return;
        }
        Err(FragmentError::TooManyFragments { .. }) if message.len() > 65535 => return,
        Err(e) => panic!("unexpected error {e} for a {}-byte message", message.len()),
    };
    if message.len() <= max_len {
        assert_eq!(fragments, vec![message]);
        return;
    }
    let total = fragments.len();
    let (version, sender, receiver) = match format {
        FragmentFormat::V2 => (2, InstanceTag::ZERO, InstanceTag::ZERO),
        FragmentFormat::V3 { sender, receiver } => (3, sender, receiver),
    };
    let mut joined = String::new();
    let mut parsed = Vec::new();
    for (i, text) in fragments.iter().enumerate() {
        assert!(text.len() <= max_len, "fragment longer than {max_len}");
        let f = Fragment::parse(text).unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"));
        assert_eq!(usize::from(f.index), i + 1);
        assert_eq!(usize::from(f.total), total);
        assert_eq!(
            (f.format_version, f.sender, f.receiver),
            (version, sender, receiver)
        );
        assert_eq!(&f.to_string(), text);
        joined.push_str(&f.piece);
        parsed.push(f);
    }
    assert_eq!(joined, message, "pieces do not concatenate to the message");

    let limits = ReassemblyLimits::default();
    let fits =
        total <= usize::from(limits.max_fragments) && message.len() <= limits.max_total_bytes;
    if !fits {
        return;
    }
    // In order: complete exactly at the last fragment.
    let mut reassembler = Reassembler::new(limits);
    for (i, f) in parsed.iter().enumerate() {
        let got = reassembler.push(f.clone(), T0).expect("valid fragment");
        if i + 1 == total {
            assert_eq!(
                got.as_deref(),
                Some(message.as_str()),
                "in-order reassembly"
            );
        } else {
            assert_eq!(got, None, "completed early at fragment {}", i + 1);
        }
    }
    // The whole message again: a redelivery, ignored.
    for f in &parsed {
        assert_eq!(reassembler.push(f.clone(), T0 + 1).expect("valid"), None);
    }
    // Reversed, each twice, into a fresh reassembler: once.
    let mut reassembler = Reassembler::new(limits);
    let mut completed = 0;
    for f in parsed.iter().rev() {
        for _ in 0..2 {
            if let Some(got) = reassembler.push(f.clone(), T0).expect("valid") {
                assert_eq!(got, message, "reversed reassembly");
                completed += 1;
            }
        }
    }
    assert_eq!(
        completed, 1,
        "reversed, duplicated delivery completed {completed} times"
    );
}

// ---------------------------------------------------------------------------------------------
// tlv
// ---------------------------------------------------------------------------------------------

/// `tlv::Plaintext::parse` on raw bytes, and the round trip of what parsed.
pub fn tlv(data: &[u8]) {
    let p = Plaintext::parse(data);
    assert!(!p.message.contains(&0), "message part contains NUL");
    assert!(data.starts_with(&p.message));
    assert!(p.trailing_garbage <= data.len());
    let encoded = Plaintext::encode(&p.message, &p.tlvs);
    if p.tlvs.is_empty() {
        assert_eq!(encoded, p.message);
    } else {
        let used = data.len() - p.trailing_garbage;
        assert_eq!(encoded.as_slice(), data.get(..used).unwrap_or_default());
    }
    let again = Plaintext::parse(&encoded);
    assert_eq!(again.message, p.message);
    assert_eq!(again.tlvs, p.tlvs);
    assert_eq!(again.trailing_garbage, 0);
    assert_eq!(p.is_heartbeat(), p.message.is_empty());
}

// ---------------------------------------------------------------------------------------------
// smp
// ---------------------------------------------------------------------------------------------

/// SMP messages: an honest run is driven to one of its states (first byte), then the rest of
/// the input is a sequence of TLVs (a kind byte mapped to types 2 to 7, a one-byte length, the
/// payload) handed to `Smp::handle`. Checks: no panic; a crafted message never completes a run
/// (no Success, no Failure: both need the peer's valid proofs); the state survives
/// `to_bytes`/`from_bytes` unchanged after every step.
pub fn smp(data: &[u8]) {
    use otr::smp::{Smp, SmpEvent, SmpSecret};
    use otr::tlv::Tlv;

    let mut rng = ChaCha20Rng::seed_from_u64(0x5311);
    let (&first, mut rest) = data.split_first().unwrap_or((&0, &[]));
    let secret = SmpSecret::new(&[1; 20], &[2; 20], &[3; 8], b"shared");
    let mut alice = Smp::new();
    let mut bob = Smp::new();
    let mut target = match first % 4 {
        0 => Smp::new(),
        step => {
            let smp1 = alice.start(&secret, None, &mut rng).unwrap_or_default();
            if step == 1 {
                alice
            } else {
                for t in &smp1 {
                    let _ = bob.handle(t, &mut rng);
                }
                let smp2 = bob.respond(&secret, &mut rng).unwrap_or_default();
                if step == 2 {
                    bob
                } else {
                    for t in &smp2 {
                        let _ = alice.handle(t, &mut rng);
                    }
                    alice
                }
            }
        }
    };
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, after) = tail.split_at(len);
        rest = after;
        let tlv = Tlv::new(2 + u16::from(*kind % 6), payload.to_vec());
        let (_replies, event) = target.handle(&tlv, &mut rng);
        assert!(
            !matches!(event, Some(SmpEvent::Success | SmpEvent::Failure)),
            "a crafted SMP message completed a run: {event:?}"
        );
        let saved = target.to_bytes();
        let restored = Smp::from_bytes(&saved).expect("own SMP state restores");
        assert_eq!(
            *restored.to_bytes(),
            *saved,
            "SMP state changed on a round trip"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// keyfile
// ---------------------------------------------------------------------------------------------

/// libotr key files: the three parsers on arbitrary text (first byte: which one, or all), and
/// parse-write-parse for what they accept.
pub fn keyfile(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if matches!(which % 4, 0 | 3) {
        keyfile_private_keys(&text);
    }
    if matches!(which % 4, 1 | 3) {
        keyfile_fingerprints(&text);
    }
    if matches!(which % 4, 2 | 3) {
        keyfile_instags(&text);
    }
}

fn keyfile_private_keys(text: &str) {
    use otr::keyfile::{parse_private_keys, write_private_keys};
    let Ok(entries) = parse_private_keys(text) else {
        return;
    };
    let written = write_private_keys(&entries);
    let again = parse_private_keys(&written)
        .unwrap_or_else(|e| panic!("written private keys do not parse: {e}\n{written}"));
    assert_eq!(again, entries, "private keys do not round-trip");
    for entry in entries.iter().take(4) {
        let _ = entry.to_dsa_private_key();
    }
}

fn keyfile_fingerprints(text: &str) {
    use otr::keyfile::{KeyFileError, parse_fingerprints, write_fingerprints};
    let Ok(entries) = parse_fingerprints(text) else {
        return;
    };
    match write_fingerprints(&entries) {
        Ok(written) => {
            let again = parse_fingerprints(&written)
                .unwrap_or_else(|e| panic!("written fingerprints do not parse: {e}\n{written:?}"));
            assert_eq!(again, entries, "fingerprints do not round-trip");
        }
        Err(KeyFileError::UnrepresentableField { .. }) => {}
        Err(e) => panic!("unexpected write error {e}"),
    }
}

fn keyfile_instags(text: &str) {
    use otr::keyfile::{KeyFileError, parse_instags, write_instags};
    let Ok(entries) = parse_instags(text) else {
        return;
    };
    match write_instags(&entries) {
        Ok(written) => {
            let again = parse_instags(&written)
                .unwrap_or_else(|e| panic!("written instance tags do not parse: {e}\n{written:?}"));
            assert_eq!(again, entries, "instance tags do not round-trip");
        }
        Err(KeyFileError::UnrepresentableField { .. }) => {}
        Err(e) => panic!("unexpected write error {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// pickle
// ---------------------------------------------------------------------------------------------

/// `Endpoint::restore` on arbitrary bytes never panics; what restores saves and restores again,
/// and can be used (send, receive genuine messages, poll, disconnect) without panicking. Input
/// starting with `OTRP` is one peer's state instead: `Endpoint::restore_peer` into the fixture's
/// Alice, then `save_peer` and `restore_peer` again, and the same use.
pub fn pickle(data: &[u8]) {
    let fixture = receive_fixture();
    let mut endpoint = if data.starts_with(b"OTRP") {
        let mut alice = Endpoint::restore(&fixture.alice, Config::default())
            .expect("the fixture's state restores");
        if alice.restore_peer("bob", data).is_err() {
            return;
        }
        let saved = alice
            .save_peer("bob")
            .expect("a restored peer has a state to save");
        alice
            .restore_peer("bob", &saved)
            .unwrap_or_else(|e| panic!("our own peer save does not restore: {e}"));
        alice
    } else {
        let Ok(endpoint) = Endpoint::restore(data, Config::default()) else {
            return;
        };
        let saved = endpoint.save();
        let again = Endpoint::restore(&saved, Config::default())
            .unwrap_or_else(|e| panic!("our own save does not restore: {e}"));
        assert_eq!(again.instance_tag(), endpoint.instance_tag());
        assert_eq!(again.fingerprint(), endpoint.fingerprint());
        again
    };
    exercise(&mut endpoint, fixture);
}

/// Uses a restored endpoint every way that does not need a live peer.
fn exercise(endpoint: &mut Endpoint, fixture: &ReceiveFixture) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x9c1e);
    let now = T0 + 10;
    for peer in ["bob", "alice"] {
        let _ = endpoint.status(peer, None);
        for instance in endpoint.instances(peer) {
            let _ = endpoint.status(peer, Some(instance));
        }
        if let Ok(out) = endpoint.send(peer, "probe", now, &mut rng) {
            check_output(&out, peer);
        }
        for message in &fixture.wire {
            let out = endpoint.receive(peer, message, now, &mut rng);
            check_output(&out, peer);
        }
        let out = endpoint.poll(now + 8 * 24 * 3600);
        check_output(&out, peer);
        let out = endpoint.disconnect(peer, None, now);
        check_output(&out, peer);
        if let Some(saved) = endpoint.save_peer(peer) {
            endpoint
                .restore_peer(peer, &saved)
                .unwrap_or_else(|e| panic!("our own peer save does not restore: {e}"));
        }
    }
    let _ = endpoint.save();
}

// ---------------------------------------------------------------------------------------------
// endpoint_receive
// ---------------------------------------------------------------------------------------------

/// A deterministic Alice who finished an AKE with Bob, and genuine messages Bob sent her after.
pub struct ReceiveFixture {
    /// Alice's saved state right after the AKE.
    pub alice: Vec<u8>,
    /// Bob's wire messages to Alice (data messages and fragments), in order.
    pub wire: Vec<String>,
    /// The texts those messages carry.
    pub texts: Vec<String>,
}

/// Builds the fixture once per process.
pub fn receive_fixture() -> &'static ReceiveFixture {
    static FIXTURE: OnceLock<ReceiveFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut pair = Pair::new(Config::default(), Config::default(), 7);
        pair.query(Side::Alice);
        pair.drain(64);
        assert!(pair.in_sync(), "the fixture's AKE did not complete");
        let alice = pair.alice.save().to_vec();
        let mut wire = Vec::new();
        let mut texts = Vec::new();
        for (i, text) in [
            "genuine one",
            "genuine two: é€😀",
            "genuine three, fragmented",
        ]
        .into_iter()
        .enumerate()
        {
            if i == 2 {
                pair.bob.config_mut().max_message_size = 120;
            }
            let out = pair
                .bob
                .send("alice", text, T0 + 1, &mut pair.rng)
                .expect("Bob can send");
            wire.extend(out.transmit.into_iter().map(|t| t.message));
            texts.push(text.to_owned());
        }
        let (_, out) = pair
            .bob
            .use_extra_symmetric_key("alice", None, 7, b"file", T0 + 1)
            .expect("extra key");
        wire.extend(out.transmit.into_iter().map(|t| t.message));
        let out = pair.bob.disconnect("alice", None, T0 + 2);
        wire.extend(out.transmit.into_iter().map(|t| t.message));
        ReceiveFixture { alice, wire, texts }
    })
}

/// One endpoint (Alice, restored from the fixture: encrypted with Bob) receives the messages in
/// `data` (split at `0xff` bytes, each read as lossy UTF-8) from "bob". Never panics; what it
/// transmits parses; decrypted texts are genuine and none is delivered twice.
pub fn endpoint_receive(data: &[u8]) {
    let fixture = receive_fixture();
    let mut alice =
        Endpoint::restore(&fixture.alice, Config::default()).expect("the fixture's state restores");
    let mut rng = ChaCha20Rng::seed_from_u64(0xa11ce);
    let mut delivered = HashSet::new();
    let mut now = T0 + 1;
    for chunk in data.split(|&b| b == 0xff).take(64) {
        let text = String::from_utf8_lossy(chunk);
        let out = alice.receive("bob", &text, now, &mut rng);
        check_output(&out, "bob");
        for r in &out.received {
            if r.kind == ReceivedKind::Encrypted {
                assert!(
                    fixture.texts.contains(&r.text),
                    "forged encrypted text {:?}",
                    r.text
                );
                assert!(
                    delivered.insert(r.text.clone()),
                    "{:?} delivered twice",
                    r.text
                );
            }
        }
        now += u64::from(chunk.first().copied().unwrap_or(0));
    }
}

/// What every output must satisfy: addressed to `peer`, and every transmitted message parses.
fn check_output(out: &Output, peer: &str) {
    for t in &out.transmit {
        assert_eq!(t.peer, peer);
        assert!(
            Message::parse(&t.message).is_ok(),
            "we transmitted an unparsable message {:?}",
            t.message
        );
    }
    for r in &out.received {
        assert_eq!(r.peer, peer);
    }
}

// ---------------------------------------------------------------------------------------------
// interaction
// ---------------------------------------------------------------------------------------------

/// One of the two parties.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// Alice, account "alice".
    Alice,
    /// Bob, account "bob".
    Bob,
}

impl Side {
    fn from_bit(bit: bool) -> Side {
        if bit { Side::Bob } else { Side::Alice }
    }

    fn other(self) -> Side {
        match self {
            Side::Alice => Side::Bob,
            Side::Bob => Side::Alice,
        }
    }

    /// The account name of this side.
    fn name(self) -> &'static str {
        match self {
            Side::Alice => "alice",
            Side::Bob => "bob",
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Alice => 0,
            Side::Bob => 1,
        }
    }
}

/// Operations of the interaction target, one per decoded op.
#[derive(Clone, Debug)]
pub enum Op {
    /// `from` sends a text built from the bytes.
    Send(Side, Vec<u8>),
    /// Deliver the oldest message queued for `to`.
    DeliverNext(Side),
    /// Deliver (and remove) the queued message at this index (modulo the queue length).
    DeliverAt(Side, u8),
    /// Remove the queued message at this index without delivering it.
    Drop(Side, u8),
    /// Queue a copy of the message at this index, at the end.
    Duplicate(Side, u8),
    /// Swap two queued messages.
    Swap(Side, u8, u8),
    /// `from` sends a query message.
    Query(Side),
    /// `from` starts an AKE itself (true: OTR v3, false: v2).
    StartAke(Side, bool),
    /// `from` ends the private conversation.
    Disconnect(Side),
    /// `side` saves its state and is replaced by the restored copy.
    SaveRestore(Side),
    /// `side` saves its state about the other side alone and restores it in place.
    SavePeer(Side),
    /// The clock moves on this many seconds.
    AdvanceTime(u16),
    /// `side` changes its fragment size (0: no fragmentation).
    FragmentSize(Side, u16),
    /// `side` lets its timers run.
    Poll(Side),
    /// Deliver everything queued, in order, until both queues are empty.
    Drain,
    /// `from` uses the extra symmetric key.
    ExtraKey(Side),
}

impl Op {
    /// Decodes one op; `None` at the end of the input.
    pub fn read(src: &mut Source<'_>) -> Option<Op> {
        if src.is_empty() {
            return None;
        }
        let tag = src.u8();
        let side = Side::from_bit(tag & 0x80 != 0);
        Some(match tag & 0x7f {
            0..=19 => Op::Send(side, src.bytes().to_vec()),
            20..=49 => Op::DeliverNext(side),
            50..=59 => Op::DeliverAt(side, src.u8()),
            60..=64 => Op::Drop(side, src.u8()),
            65..=69 => Op::Duplicate(side, src.u8()),
            70..=74 => Op::Swap(side, src.u8(), src.u8()),
            75..=79 => Op::Query(side),
            80..=82 => Op::StartAke(side, src.bool()),
            83..=86 => Op::Disconnect(side),
            87..=89 => Op::SaveRestore(side),
            90..=91 => Op::SavePeer(side),
            92..=96 => Op::AdvanceTime(src.u16()),
            97..=101 => Op::FragmentSize(side, src.u16()),
            102..=105 => Op::Poll(side),
            106..=120 => Op::Drain,
            _ => Op::ExtraKey(side),
        })
    }

    /// The encoding [`Op::read`] decodes (for building seed inputs).
    pub fn write(&self, out: &mut Vec<u8>) {
        let with = |side: Side, tag: u8| tag | if side == Side::Bob { 0x80 } else { 0 };
        match self {
            Op::Send(s, text) => {
                out.push(with(*s, 0));
                let len = text.len().min(255);
                out.push(len as u8);
                out.extend_from_slice(&text[..len]);
            }
            Op::DeliverNext(s) => out.push(with(*s, 20)),
            Op::DeliverAt(s, i) => out.extend([with(*s, 50), *i]),
            Op::Drop(s, i) => out.extend([with(*s, 60), *i]),
            Op::Duplicate(s, i) => out.extend([with(*s, 65), *i]),
            Op::Swap(s, a, b) => out.extend([with(*s, 70), *a, *b]),
            Op::Query(s) => out.push(with(*s, 75)),
            Op::StartAke(s, v3) => out.extend([with(*s, 80), u8::from(*v3)]),
            Op::Disconnect(s) => out.push(with(*s, 83)),
            Op::SaveRestore(s) => out.push(with(*s, 87)),
            Op::SavePeer(s) => out.push(with(*s, 90)),
            Op::AdvanceTime(secs) => {
                out.push(92);
                out.extend(secs.to_be_bytes());
            }
            Op::FragmentSize(s, size) => {
                out.push(with(*s, 97));
                out.extend(size.to_be_bytes());
            }
            Op::Poll(s) => out.push(with(*s, 102)),
            Op::Drain => out.push(106),
            Op::ExtraKey(s) => out.push(with(*s, 121)),
        }
    }
}

/// The policies an interaction may give each side (never `NEVER`: a side without OTR shows
/// raw OTR messages as text, which is not a delivery of anything sent).
const POLICIES: [Policy; 6] = [
    Policy::OPPORTUNISTIC,
    Policy::MANUAL,
    Policy::ALWAYS,
    Policy::from_bits(0x04 | 0x10 | 0x20 | 0x40),
    Policy::from_bits(0x02 | 0x10 | 0x20 | 0x40),
    Policy::from_bits(0x02 | 0x04 | 0x08 | 0x40),
];

/// Characters of sent texts (plus NUL, see `Pair::text`). No `?` (so a text is never an OTR
/// query, error, fragment or armored message) and no tab (never a whitespace tag): the peer
/// rightly treats such user text as OTR markup rather than showing it.
const ALPHABET: [char; 24] = [
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'Q', 'Z', '0', '7', '9', ' ', '.', ',', ':', '!', '\n',
    '\r', 'é', 'ß', '€', '😀', '\u{feff}',
];

fn is_fragment(message: &str) -> bool {
    message.contains("?OTR|") || message.contains("?OTR,")
}

/// Whether `OFFRECORD_FUZZ_MASK_KNOWN` is set: the interaction check then steers clear of the
/// open findings listed in fuzz/README.md, so that fuzzing can look for new ones.
fn mask_known_issues() -> bool {
    static MASK: OnceLock<bool> = OnceLock::new();
    *MASK.get_or_init(|| std::env::var_os("OFFRECORD_FUZZ_MASK_KNOWN").is_some())
}

/// Fragment sizes are at least this (smaller ones cannot carry AKE messages at all).
const MIN_FRAGMENT_SIZE: usize = 48;

/// Two endpoints, their channels, and what the checker knows.
pub struct Pair {
    /// Alice's endpoint (talks to "bob").
    pub alice: Endpoint,
    /// Bob's endpoint (talks to "alice").
    pub bob: Endpoint,
    configs: [Config; 2],
    /// Messages on their way to Alice (index 0) and to Bob (index 1).
    pub queues: [Vec<String>; 2],
    /// The shared RNG.
    pub rng: ChaCha20Rng,
    now: u64,
    /// Texts each side sent (or stored for sending), and whether one went out in plaintext.
    sent: [HashMap<String, bool>; 2],
    /// How often each side re-sent a stored text after an AKE.
    resent: [HashMap<String, usize>; 2],
    /// How often each side got each text decrypted.
    delivered: [HashMap<String, usize>; 2],
    /// Sent while both sides shared an encrypted session over empty channels, and nothing
    /// since could have lost them: must be delivered by the final drain.
    must_deliver: Vec<(Side, String)>,
    /// Whether texts sent now are guaranteed (see `must_deliver`).
    clean: bool,
    /// `now` when `clean` last became true.
    clean_since: u64,
    /// Fragments were lost or disordered; with known issues masked, never clean again.
    poisoned: bool,
    sends: usize,
}

impl Pair {
    /// Alice and Bob with the given configurations and a seeded RNG.
    pub fn new(alice: Config, bob: Config, seed: u64) -> Pair {
        Pair {
            alice: Endpoint::new(alice_key(), ALICE_TAG, alice.clone()),
            bob: Endpoint::new(bob_key(), BOB_TAG, bob.clone()),
            configs: [alice, bob],
            queues: [Vec::new(), Vec::new()],
            rng: ChaCha20Rng::seed_from_u64(seed),
            now: T0,
            sent: [HashMap::new(), HashMap::new()],
            resent: [HashMap::new(), HashMap::new()],
            delivered: [HashMap::new(), HashMap::new()],
            must_deliver: Vec::new(),
            clean: false,
            clean_since: T0,
            poisoned: false,
            sends: 0,
        }
    }

    fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        }
    }

    fn endpoint_ref(&self, side: Side) -> &Endpoint {
        match side {
            Side::Alice => &self.alice,
            Side::Bob => &self.bob,
        }
    }

    /// Both sides are encrypted in one session (same ssid) and nothing is in flight.
    pub fn in_sync(&self) -> bool {
        let a = self.alice.status("bob", None);
        let b = self.bob.status("alice", None);
        let (Some(a), Some(b)) = (a, b) else {
            return false;
        };
        a.message_state == MessageState::Encrypted
            && b.message_state == MessageState::Encrypted
            && a.ssid.is_some()
            && a.ssid.map(|s| s.bytes) == b.ssid.map(|s| s.bytes)
            && self.queues.iter().all(Vec::is_empty)
    }

    /// Whether fragments are or may be in flight (their reassembly tolerates reordering and
    /// duplication only within limits, see `otr::fragment`).
    fn fragmenting(&self) -> bool {
        self.configs.iter().any(|c| c.max_message_size != 0)
            || self.queues.iter().flatten().any(|m| is_fragment(m))
    }

    /// Something happened after which texts in flight may legitimately be lost.
    fn lossy(&mut self) {
        self.clean = false;
        self.must_deliver.clear();
        if mask_known_issues() && self.fragmenting() {
            // A partial message left in the reassembler can take the next message with the
            // same fragment count down with it (see fuzz/README.md, "Findings").
            self.poisoned = true;
        }
    }

    /// Takes `from`'s output: checks it and queues its messages for the other side.
    fn absorb(&mut self, from: Side, out: Output) {
        let to = from.other();
        check_output(&out, to.name());
        for r in &out.received {
            let Some(&plain) = self.sent[to.index()].get(&r.text) else {
                panic!(
                    "{from:?} got {:?} ({:?}), which {to:?} never sent",
                    r.text, r.kind
                );
            };
            match r.kind {
                ReceivedKind::Encrypted => {
                    let count = self.delivered[from.index()]
                        .entry(r.text.clone())
                        .or_default();
                    *count += 1;
                    let allowed = 1 + self.resent[to.index()].get(&r.text).copied().unwrap_or(0);
                    assert!(
                        *count <= allowed,
                        "{from:?} got {:?} decrypted {count} times (sent {allowed} times)",
                        r.text
                    );
                }
                ReceivedKind::Plaintext | ReceivedKind::TaggedPlaintext => assert!(
                    plain,
                    "{from:?} got {:?} as plaintext, but {to:?} only ever sent it encrypted",
                    r.text
                ),
            }
        }
        for e in &out.events {
            if let Event::Message {
                kind: MessageEvent::MsgResent,
                text: Some(text),
                ..
            } = e
            {
                *self.resent[from.index()].entry(text.clone()).or_default() += 1;
            }
        }
        self.queues[to.index()].extend(out.transmit.into_iter().map(|t| t.message));
    }

    /// Delivers one message to `to`.
    pub fn deliver(&mut self, to: Side, message: &str) {
        let peer = to.other().name();
        let now = self.now;
        let out = match to {
            Side::Alice => self.alice.receive(peer, message, now, &mut self.rng),
            Side::Bob => self.bob.receive(peer, message, now, &mut self.rng),
        };
        self.absorb(to, out);
    }

    /// `from` queries the other side.
    pub fn query(&mut self, from: Side) {
        let peer = from.other().name();
        let out = self.endpoint(from).query(peer);
        self.absorb(from, out);
    }

    /// Delivers everything in order, both ways, at most `rounds` times over.
    pub fn drain(&mut self, rounds: usize) -> bool {
        for _ in 0..rounds {
            if self.queues.iter().all(Vec::is_empty) {
                return true;
            }
            for to in [Side::Bob, Side::Alice] {
                for message in std::mem::take(&mut self.queues[to.index()]) {
                    self.deliver(to, &message);
                }
            }
        }
        self.queues.iter().all(Vec::is_empty)
    }

    fn text(&mut self, from: Side, bytes: &[u8]) -> String {
        self.sends += 1;
        let mut text = format!(
            "{}{} ",
            if from == Side::Alice { 'A' } else { 'B' },
            self.sends
        );
        // 0xff stands for NUL: `Endpoint::send` takes any `&str`, and a NUL must not change
        // what the peer is shown (the decrypted payload is `text 0x00 TLVs`).
        text.extend(bytes.iter().map(|&b| match b {
            0xff if !mask_known_issues() => '\0',
            _ => ALPHABET[usize::from(b) % ALPHABET.len()],
        }));
        text
    }

    /// Applies one operation and checks the invariants.
    pub fn apply(&mut self, op: &Op) {
        if self.in_sync() && !self.clean && !self.poisoned {
            self.clean = true;
            self.clean_since = self.now;
        }
        let now = self.now;
        match op {
            Op::Send(from, bytes) => {
                let from = *from;
                let text = self.text(from, bytes);
                let guaranteed = self.clean && self.in_sync();
                let peer = from.other().name();
                let before = self.queues[from.other().index()].len();
                let result = match from {
                    Side::Alice => self.alice.send(peer, &text, now, &mut self.rng),
                    Side::Bob => self.bob.send(peer, &text, now, &mut self.rng),
                };
                // Recorded whatever the result: a refused text may be stored and resent later.
                let plain = match &result {
                    Ok(out) => out.transmit.iter().any(|t| t.message.contains(&text)),
                    Err(_) => false,
                };
                let entry = self.sent[from.index()].entry(text.clone()).or_default();
                *entry |= plain;
                if let Ok(out) = result {
                    self.absorb(from, out);
                    let queued = self.queues[from.other().index()].len() > before;
                    if guaranteed && queued {
                        self.must_deliver.push((from, text));
                    }
                }
            }
            Op::DeliverNext(to) => {
                if !self.queues[to.index()].is_empty() {
                    let message = self.queues[to.index()].remove(0);
                    self.deliver(*to, &message);
                }
            }
            Op::DeliverAt(to, i) => {
                let queue = &mut self.queues[to.index()];
                if !queue.is_empty() {
                    let index = usize::from(*i) % queue.len();
                    let message = queue.remove(index);
                    if index != 0 && self.fragmenting() {
                        self.lossy();
                    }
                    self.deliver(*to, &message);
                }
            }
            Op::Drop(to, i) => {
                let queue = &mut self.queues[to.index()];
                if !queue.is_empty() {
                    let index = usize::from(*i) % queue.len();
                    let dropped = queue.remove(index);
                    if mask_known_issues() && is_fragment(&dropped) {
                        self.poisoned = true;
                    }
                    self.lossy();
                }
            }
            Op::Duplicate(to, i) => {
                let queue = &mut self.queues[to.index()];
                if !queue.is_empty() {
                    let index = usize::from(*i) % queue.len();
                    let copy = queue[index].clone();
                    queue.push(copy);
                    if self.fragmenting() {
                        self.lossy();
                    }
                }
            }
            Op::Swap(to, a, b) => {
                let queue = &mut self.queues[to.index()];
                if !queue.is_empty() {
                    let len = queue.len();
                    let (a, b) = (usize::from(*a) % len, usize::from(*b) % len);
                    queue.swap(a, b);
                    if a != b && self.fragmenting() {
                        self.lossy();
                    }
                }
            }
            Op::Query(from) => {
                self.lossy();
                self.query(*from);
            }
            Op::StartAke(from, v3) => {
                self.lossy();
                let version = if *v3 {
                    ProtocolVersion::V3
                } else {
                    ProtocolVersion::V2
                };
                let from = *from;
                let peer = from.other().name();
                let out = match from {
                    Side::Alice => {
                        self.alice
                            .start_ake(peer, None, version, self.now, &mut self.rng)
                    }
                    Side::Bob => self
                        .bob
                        .start_ake(peer, None, version, self.now, &mut self.rng),
                };
                self.absorb(from, out);
            }
            Op::Disconnect(from) => {
                self.lossy();
                let peer = from.other().name();
                let out = self.endpoint(*from).disconnect(peer, None, now);
                self.absorb(*from, out);
            }
            Op::SaveRestore(side) => {
                if self.fragmenting() {
                    // Partially reassembled fragments are not saved.
                    self.lossy();
                }
                let config = self.configs[side.index()].clone();
                let saved = self.endpoint_ref(*side).save();
                let restored = Endpoint::restore(&saved, config)
                    .unwrap_or_else(|e| panic!("{side:?}'s saved state does not restore: {e}"));
                *self.endpoint(*side) = restored;
            }
            Op::SavePeer(side) => {
                if self.fragmenting() {
                    self.lossy();
                }
                let peer = side.other().name();
                let endpoint = self.endpoint(*side);
                if let Some(saved) = endpoint.save_peer(peer) {
                    endpoint.restore_peer(peer, &saved).unwrap_or_else(|e| {
                        panic!("{side:?}'s saved state of {peer} does not restore: {e}")
                    });
                }
            }
            Op::AdvanceTime(secs) => {
                self.now += u64::from(*secs);
                if self.now - self.clean_since > 6 * 24 * 3600 {
                    // Old keys are retained for 7 days only.
                    self.lossy();
                }
            }
            Op::FragmentSize(side, size) => {
                let size = match usize::from(*size) {
                    0..=999 => 0,
                    n => MIN_FRAGMENT_SIZE + n % 1024,
                };
                self.configs[side.index()].max_message_size = size;
                self.endpoint(*side).config_mut().max_message_size = size;
                if size != 0 {
                    // Fragments already in flight may now interleave.
                    self.lossy();
                }
            }
            Op::Poll(side) => {
                let out = self.endpoint(*side).poll(now);
                self.absorb(*side, out);
            }
            Op::Drain => {
                self.drain(16);
            }
            Op::ExtraKey(from) => {
                let peer = from.other().name();
                if let Ok((_, out)) = self
                    .endpoint(*from)
                    .use_extra_symmetric_key(peer, None, 1, b"usedata", now)
                {
                    self.absorb(*from, out);
                }
            }
        }
    }

    /// A one-line summary (for debugging a corpus file).
    pub fn summary(&self) -> String {
        format!(
            "alice {:?}, bob {:?}, queued {}/{}, clean {}, sent {}+{}, decrypted by alice {}, \
             by bob {}, guaranteed {}",
            self.alice.status("bob", None).map(|s| s.message_state),
            self.bob.status("alice", None).map(|s| s.message_state),
            self.queues[0].len(),
            self.queues[1].len(),
            self.clean,
            self.sent[0].len(),
            self.sent[1].len(),
            self.delivered[0].len(),
            self.delivered[1].len(),
            self.must_deliver.len()
        )
    }

    /// Drains the channels and checks that every guaranteed text arrived.
    pub fn finish(&mut self) {
        // AKE collisions, heartbeats and error replies settle quickly; a conversation that
        // keeps producing messages is a livelock.
        assert!(self.drain(64), "the conversation did not settle");
        for (from, text) in &self.must_deliver {
            let to = from.other();
            assert!(
                self.delivered[to.index()].contains_key(text),
                "{text:?}, sent by {from:?} in a clean encrypted session, never reached {to:?}"
            );
        }
    }
}

/// Two endpoints driven by fuzz-chosen operations (see [`Op`]); the first 3 bytes choose each
/// side's policy and the RNG seed. Checks: no panic; every text one side shows was sent by the
/// other (plaintext only if it was sent in plaintext); no decrypted text is shown twice unless
/// the sender re-sent it (`MsgResent`); every transmitted message parses; saved states restore;
/// and texts sent while both sides share an encrypted session over a clean channel are all
/// delivered by the final drain unless something lossy happened (a drop, a new AKE, a
/// disconnect, reordering or duplication while fragmenting, 6 days passing).
pub fn interaction(data: &[u8]) {
    let mut src = Source::new(data);
    let policy = |b: u8| POLICIES[usize::from(b) % POLICIES.len()];
    let alice = Config {
        policy: policy(src.u8()),
        ..Config::default()
    };
    let bob = Config {
        policy: policy(src.u8()),
        ..Config::default()
    };
    let debug = std::env::var_os("OFFRECORD_FUZZ_DEBUG").is_some();
    if debug {
        eprintln!(
            "interaction: alice {:?}, bob {:?}",
            alice.policy, bob.policy
        );
    }
    let mut pair = Pair::new(alice, bob, u64::from(src.u8()));
    for _ in 0..256 {
        let Some(op) = Op::read(&mut src) else {
            break;
        };
        pair.apply(&op);
        if debug {
            eprintln!("  {op:?}: {}", pair.summary());
        }
    }
    pair.finish();
    if debug {
        eprintln!("interaction: {}", pair.summary());
    }
}
