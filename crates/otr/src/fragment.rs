//! Fragmentation of OTR messages (Protocol v3 and v2, section "Fragmentation").
//!
//! A message too long for the carrier is split into `n` pieces, each sent as
//!
//! ```text
//! v3: "?OTR|%x|%x,%hu,%hu,%s,"   sender_instance, receiver_instance, k, n, piece[k]
//! v2: "?OTR,%hu,%hu,%s,"         k, n, piece[k]
//! ```
//!
//! with `k` running from 1 to `n`. We emit the fixed-width form of the spec's example (and of
//! libotr 4.1.1): instance tags as 8 lowercase hex digits, `k` and `n` as 5 decimal digits, e.g.
//! `?OTR|5a73a599|27e31597,00001,00003,?OTR:AAMDJ+MV...,`. When parsing we accept any number of
//! leading zeros ("the instance tags and the k and n values may have leading zeroes") and
//! trailing whitespace after the final `,` (mail bodies end in newlines).
//!
//! # Reassembly over email
//!
//! The spec's receiving algorithm keeps a single `(K, N, F)` slot and forgets it on any gap,
//! which assumes in-order delivery. Email reorders, delays and duplicates messages, so
//! [`Reassembler`] departs from it deliberately. Partial messages are keyed by
//! `(format version, sender tag, receiver tag, n)` and their pieces are stored by `k`, so
//! fragments may arrive in any order. For each key the reassembler also remembers digests of
//! the pieces of the **last completed** message; a piece equal to the remembered piece with the
//! same `k` is *seen before* (it may be a late duplicate of that message, or the new message
//! may really repeat it, e.g. a common header or the `AAAAAA==.` tail).
//!
//! ```text
//!  piece p for slot k of key K        slot empty ............................ store p
//!                                     slot holds p .......................... ignore (duplicate)
//!                                     slot differs, p seen before ........... ignore (late dup)
//!                                     slot differs, slot seen before ........ replace by p
//!                                     slot differs, neither seen before ..... new message: restart
//!  after storing p: drop seen-before pieces with index > k (in arrival order they are late dups)
//!  all n slots filled ──► same pieces as the remembered message? ── yes ─► ignore (redelivery)
//!                                                                └─ no ──► concatenate 1..=n
//! ```
//!
//! What this guarantees: any order within a message; duplicates of the message being assembled
//! at any time; a whole message delivered twice yields it once; with in-order delivery, late
//! duplicates of the previous message with the same key do not disturb the next one (except a
//! duplicate of the previous message's last piece arriving just before the new last piece).
//!
//! **Limitation:** the fragment format has no message identifier. Two different messages with
//! the same `n` from the same sender instance whose fragments interleave, or reordering
//! combined with duplicates of an older message, can be mixed up or lost. A mixed-up message
//! is never authentic: the engine's decoding and MAC checks reject it. One case loses a
//! message although nothing was duplicated: when a message's piece `k` equals piece `k` of the
//! previous message with the same key (typically a short tail such as `.`) and arrives before
//! a lower piece, it is taken for a late duplicate and dropped (test
//! `out_of_order_fragments_repeating_the_previous_message_tail_are_reassembled`, ignored). Our
//! chat layer never fragments over email, where this could happen. A `1/1` fragment
//! completes at once (again unless it repeats the remembered message).
//!
//! Memory is bounded by [`ReassemblyLimits`] (the CVE-2016-2851 lesson: libotr overflowed while
//! handling fragments): nothing is allocated in proportion to a claimed `n`, buffered bytes
//! never exceed `max_total_bytes` (partials holding only seen-before pieces are evicted first,
//! then the oldest), and at most `max_pending_messages` partial messages are kept.
//!
//! The engine checks the receiver instance tag itself (spec: discard if it is neither ours nor
//! zero); this module only carries the tags.

use core::fmt;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use crate::instance::InstanceTag;

/// Prefix of an OTR v3 fragment.
const V3_PREFIX: &str = "?OTR|";
/// Prefix of an OTR v2 fragment.
const V2_PREFIX: &str = "?OTR,";
/// Length of `"?OTR|xxxxxxxx|xxxxxxxx,kkkkk,nnnnn,"` plus the closing `,`.
const V3_OVERHEAD: usize = 5 + 8 + 1 + 8 + 1 + 5 + 1 + 5 + 1 + 1;
/// Length of `"?OTR,kkkkk,nnnnn,"` plus the closing `,`.
const V2_OVERHEAD: usize = 5 + 5 + 1 + 5 + 1 + 1;
/// How many piece digests of completed messages we remember, over all keys.
const REMEMBERED_FRAGMENTS: usize = 4096;

/// Errors from building, parsing or reassembling fragments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The text does not start with `?OTR|` or `?OTR,` (after leading whitespace).
    #[error("not an OTR fragment (no \"?OTR|\" or \"?OTR,\" at offset {offset})")]
    NotAFragment {
        /// Byte offset where the prefix was expected.
        offset: usize,
    },
    /// An instance tag field is empty, not hexadecimal, or exceeds 32 bits.
    #[error("invalid instance tag at byte offset {offset}")]
    InvalidInstanceTag {
        /// Byte offset of the offending field.
        offset: usize,
    },
    /// The `k` or `n` field is empty or contains a non-decimal character.
    #[error("invalid {field} at byte offset {offset}: expected decimal digits")]
    InvalidNumber {
        /// `"k"` or `"n"`.
        field: &'static str,
        /// Byte offset of the offending field.
        offset: usize,
    },
    /// The `k` or `n` field exceeds 65535.
    #[error("{field} at byte offset {offset} exceeds 65535")]
    NumberTooLarge {
        /// `"k"` or `"n"`.
        field: &'static str,
        /// Byte offset of the offending field.
        offset: usize,
    },
    /// A field separator was missing.
    #[error("expected '{expected}' at byte offset {offset}")]
    MissingSeparator {
        /// The separator that was expected, `|` or `,`.
        expected: char,
        /// Byte offset where it was expected.
        offset: usize,
    },
    /// The fragment does not end with `,` (trailing whitespace aside).
    #[error("fragment does not end with ',' (text ends at byte offset {offset})")]
    MissingTerminator {
        /// Byte offset just past the last non-whitespace character.
        offset: usize,
    },
    /// `k == 0` or `n == 0`.
    #[error("{field} is 0; fragment numbers start at 1")]
    ZeroNumber {
        /// `"k"` or `"n"`.
        field: &'static str,
    },
    /// `k > n`.
    #[error("fragment index {index} exceeds fragment count {total}")]
    IndexExceedsTotal {
        /// `k`.
        index: u16,
        /// `n`.
        total: u16,
    },
    /// The piece between `n,` and the final `,` is empty.
    #[error("empty piece at byte offset {offset}")]
    EmptyPiece {
        /// Byte offset where the piece should start.
        offset: usize,
    },
    /// A [`Fragment`] claims a format version other than 2 or 3.
    #[error("unsupported fragment format version {version}; expected 2 or 3")]
    UnsupportedVersion {
        /// The claimed version.
        version: u16,
    },
    /// `fragment`: `max_len` leaves no room for a piece (or for the next character).
    #[error("maximum fragment length {max_len} is too small; need at least {min_len}")]
    MaxLenTooSmall {
        /// The requested maximum length.
        max_len: usize,
        /// The smallest maximum length that would make progress.
        min_len: usize,
    },
    /// `fragment`: more than 65535 fragments would be needed.
    #[error("message needs at least {needed} fragments; at most 65535 are possible")]
    TooManyFragments {
        /// Fragments needed (a lower bound).
        needed: usize,
    },
    /// `fragment`: the message contains `,`, which terminates a piece in the fragment format
    /// (libotr parses a piece as `%[^,]`). Armored OTR messages never contain commas.
    #[error("message contains ',' at byte offset {offset}; it cannot be fragmented")]
    CommaInMessage {
        /// Byte offset of the first comma.
        offset: usize,
    },
    /// Reassembly: the fragment announces more fragments than [`ReassemblyLimits::max_fragments`].
    #[error("fragment count {total} exceeds the limit of {max}")]
    FragmentCountExceedsLimit {
        /// `n` as announced.
        total: u16,
        /// The configured limit.
        max: u16,
    },
    /// Reassembly: the message being assembled would exceed
    /// [`ReassemblyLimits::max_total_bytes`]; its partial state was dropped.
    #[error("message would buffer {bytes} bytes, more than the limit of {max}")]
    MessageTooLarge {
        /// Bytes this one message would need.
        bytes: usize,
        /// The configured limit.
        max: usize,
    },
}

/// Framing of outgoing fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragmentFormat {
    /// `?OTR,k,n,piece,` (OTR version 2).
    V2,
    /// `?OTR|sender|receiver,k,n,piece,` (OTR version 3).
    V3 {
        /// Our instance tag.
        sender: InstanceTag,
        /// The peer's instance tag (or [`InstanceTag::ZERO`] if unknown).
        receiver: InstanceTag,
    },
}

impl FragmentFormat {
    /// Bytes of framing around each piece.
    pub const fn overhead(self) -> usize {
        match self {
            FragmentFormat::V2 => V2_OVERHEAD,
            FragmentFormat::V3 { .. } => V3_OVERHEAD,
        }
    }
}

/// Splits an armored OTR message (`"?OTR:...."`) into fragments of at most `max_len` bytes
/// each, framing included.
///
/// If `message.len() <= max_len` the message is returned unchanged as the only element.
/// Pieces are cut greedily (all but the last are as long as possible) and never inside a UTF-8
/// character.
///
/// # Errors
///
/// [`FragmentError::MaxLenTooSmall`] if `max_len` cannot carry at least one character per
/// fragment, [`FragmentError::TooManyFragments`] if more than 65535 fragments would be needed,
/// [`FragmentError::CommaInMessage`] if the message contains `,`.
pub fn fragment(
    message: &str,
    max_len: usize,
    format: FragmentFormat,
) -> Result<Vec<String>, FragmentError> {
    if message.len() <= max_len {
        return Ok(vec![message.to_owned()]);
    }
    if let Some(offset) = message.find(',') {
        return Err(FragmentError::CommaInMessage { offset });
    }
    let overhead = format.overhead();
    let payload = max_len.saturating_sub(overhead);
    if payload == 0 {
        return Err(FragmentError::MaxLenTooSmall {
            max_len,
            min_len: overhead + 1,
        });
    }
    let needed = message.len().div_ceil(payload);
    if needed > usize::from(u16::MAX) {
        return Err(FragmentError::TooManyFragments { needed });
    }

    let mut pieces: Vec<&str> = Vec::with_capacity(needed);
    let mut start = 0;
    while start < message.len() {
        let mut end = start.saturating_add(payload).min(message.len());
        while end > start && !message.is_char_boundary(end) {
            end -= 1;
        }
        let piece = match message.get(start..end) {
            Some(piece) if !piece.is_empty() => piece,
            _ => {
                let char_len = message
                    .get(start..)
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                return Err(FragmentError::MaxLenTooSmall {
                    max_len,
                    min_len: overhead + char_len,
                });
            }
        };
        pieces.push(piece);
        if pieces.len() > usize::from(u16::MAX) {
            let remaining = message.len() - end;
            return Err(FragmentError::TooManyFragments {
                needed: pieces.len() + remaining.div_ceil(payload),
            });
        }
        start = end;
    }

    // `pieces.len()` is at most 65535 (checked in the loop).
    let total = u16::try_from(pieces.len()).unwrap_or(u16::MAX);
    let (format_version, sender, receiver) = match format {
        FragmentFormat::V2 => (2, InstanceTag::ZERO, InstanceTag::ZERO),
        FragmentFormat::V3 { sender, receiver } => (3, sender, receiver),
    };
    Ok((1..=total)
        .zip(pieces)
        .map(|(index, piece)| {
            Fragment {
                format_version,
                sender,
                receiver,
                index,
                total,
                piece: piece.to_owned(),
            }
            .to_string()
        })
        .collect())
}

/// Which fragments a transport sends right away, after libotr's `OtrlFragmentPolicy`
/// (`OTRL_FRAGMENT_SEND_ALL`, `..._SEND_ALL_BUT_FIRST`, `..._SEND_ALL_BUT_LAST`).
///
/// The "kept back" fragment is handed to the caller, which sends it through another path
/// (e.g. as the return value of an IM client's outgoing-message hook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SendPolicy {
    /// Send every fragment now.
    #[default]
    All,
    /// Send all fragments except the first, which is kept back.
    AllButFirst,
    /// Send all fragments except the last, which is kept back.
    AllButLast,
}

impl SendPolicy {
    /// Splits `fragments` into `(to_send_now, kept_back)`, preserving order in both.
    ///
    /// With a single fragment, [`SendPolicy::AllButFirst`] and [`SendPolicy::AllButLast`]
    /// keep it back and send nothing now.
    pub fn split(self, mut fragments: Vec<String>) -> (Vec<String>, Vec<String>) {
        match self {
            SendPolicy::All => (fragments, Vec::new()),
            SendPolicy::AllButFirst => {
                if fragments.is_empty() {
                    return (fragments, Vec::new());
                }
                let rest = fragments.split_off(1);
                (rest, fragments)
            }
            SendPolicy::AllButLast => match fragments.pop() {
                Some(last) => (fragments, vec![last]),
                None => (fragments, Vec::new()),
            },
        }
    }
}

/// One parsed fragment (`?OTR|...` or `?OTR,...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// 3 for `?OTR|`, 2 for `?OTR,`.
    pub format_version: u16,
    /// Sender instance tag ([`InstanceTag::ZERO`] for version 2).
    pub sender: InstanceTag,
    /// Receiver instance tag ([`InstanceTag::ZERO`] for version 2).
    pub receiver: InstanceTag,
    /// `k`, 1-based index of this piece.
    pub index: u16,
    /// `n`, number of pieces.
    pub total: u16,
    /// `piece[k]`, opaque text.
    pub piece: String,
}

impl Fragment {
    /// Parses one fragment.
    ///
    /// Leading and trailing ASCII whitespace is ignored; the fragment must then start with
    /// `?OTR|` (v3) or `?OTR,` (v2) and end with `,`. Instance tags are 1 or more hex digits
    /// (either case) fitting 32 bits; `k` and `n` are 1 or more decimal digits with
    /// `1 <= k <= n <= 65535`; leading zeros are allowed everywhere. The piece is everything
    /// between the comma after `n` and the final comma and must not be empty.
    ///
    /// # Errors
    ///
    /// [`FragmentError::NotAFragment`] if the prefix is absent, otherwise the variant naming
    /// the first malformed field.
    pub fn parse(text: &str) -> Result<Fragment, FragmentError> {
        let start = text.len() - text.trim_start_matches(is_space).len();
        let end = text.trim_end_matches(is_space).len();
        let body = text.get(start..end).unwrap_or("");

        let mut cursor = Cursor {
            text: body,
            pos: 0,
            base: start,
        };
        let (format_version, sender, receiver) = if cursor.eat(V3_PREFIX) {
            let sender = cursor.hex_until('|')?;
            let receiver = cursor.hex_until(',')?;
            (3, sender, receiver)
        } else if cursor.eat(V2_PREFIX) {
            (2, InstanceTag::ZERO, InstanceTag::ZERO)
        } else {
            return Err(FragmentError::NotAFragment { offset: start });
        };
        let index = cursor.decimal_until(',', "k")?;
        let total = cursor.decimal_until(',', "n")?;

        let piece_start = cursor.pos;
        let Some(without_comma) = body.strip_suffix(',') else {
            return Err(FragmentError::MissingTerminator { offset: end });
        };
        // `None` if the only trailing comma is the one after `n`: the piece is empty.
        let piece = without_comma.get(piece_start..).unwrap_or("");
        if piece.is_empty() {
            return Err(FragmentError::EmptyPiece {
                offset: start + piece_start,
            });
        }
        let fragment = Fragment {
            format_version,
            sender,
            receiver,
            index,
            total,
            piece: piece.to_owned(),
        };
        fragment.check()?;
        Ok(fragment)
    }

    /// Checks the invariants [`Fragment::parse`] guarantees (fields are public).
    fn check(&self) -> Result<(), FragmentError> {
        if self.format_version != 2 && self.format_version != 3 {
            return Err(FragmentError::UnsupportedVersion {
                version: self.format_version,
            });
        }
        if self.index == 0 {
            return Err(FragmentError::ZeroNumber { field: "k" });
        }
        if self.total == 0 {
            return Err(FragmentError::ZeroNumber { field: "n" });
        }
        if self.index > self.total {
            return Err(FragmentError::IndexExceedsTotal {
                index: self.index,
                total: self.total,
            });
        }
        if self.piece.is_empty() {
            return Err(FragmentError::EmptyPiece { offset: 0 });
        }
        Ok(())
    }
}

impl fmt::Display for Fragment {
    /// The fixed-width wire form (`%08x` tags, `%05hu` numbers), as libotr 4.1.1 and the
    /// spec's example write it. Version 2 framing is used unless `format_version` is 3.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.format_version == 3 {
            write!(
                f,
                "?OTR|{:08x}|{:08x},{:05},{:05},{},",
                self.sender.value(),
                self.receiver.value(),
                self.index,
                self.total,
                self.piece
            )
        } else {
            write!(
                f,
                "?OTR,{:05},{:05},{},",
                self.index, self.total, self.piece
            )
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A cursor over the trimmed fragment text; `base` maps positions back to the caller's text.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, prefix: &str) -> bool {
        let matched = self
            .text
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(prefix));
        if matched {
            self.pos += prefix.len();
        }
        matched
    }

    /// Returns the field up to (not including) `sep`, and moves past `sep`.
    fn field_until(&mut self, sep: char) -> Result<(&str, usize), FragmentError> {
        let rest = self.text.get(self.pos..).unwrap_or("");
        let offset = self.base + self.pos;
        // Fields are short; a missing separator is reported where the field's digits end.
        let digits = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        match rest.get(digits..).and_then(|after| after.chars().next()) {
            Some(c) if c == sep => {
                self.pos += digits + sep.len_utf8();
                Ok((rest.get(..digits).unwrap_or(""), offset))
            }
            _ => Err(FragmentError::MissingSeparator {
                expected: sep,
                offset: offset + digits,
            }),
        }
    }

    fn hex_until(&mut self, sep: char) -> Result<InstanceTag, FragmentError> {
        let (field, offset) = self.field_until(sep)?;
        if field.is_empty() {
            return Err(FragmentError::InvalidInstanceTag { offset });
        }
        let mut value: u32 = 0;
        for c in field.chars() {
            let digit = c
                .to_digit(16)
                .ok_or(FragmentError::InvalidInstanceTag { offset })?;
            value = value
                .checked_mul(16)
                .and_then(|v| v.checked_add(digit))
                .ok_or(FragmentError::InvalidInstanceTag { offset })?;
        }
        Ok(InstanceTag::new(value))
    }

    fn decimal_until(&mut self, sep: char, field_name: &'static str) -> Result<u16, FragmentError> {
        let (field, offset) = self.field_until(sep)?;
        if field.is_empty() {
            return Err(FragmentError::InvalidNumber {
                field: field_name,
                offset,
            });
        }
        let mut value: u16 = 0;
        for c in field.chars() {
            let digit = c.to_digit(10).ok_or(FragmentError::InvalidNumber {
                field: field_name,
                offset,
            })?;
            // `digit` < 10, so the conversion cannot fail.
            let digit = u16::try_from(digit).unwrap_or(0);
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(digit))
                .ok_or(FragmentError::NumberTooLarge {
                    field: field_name,
                    offset,
                })?;
        }
        Ok(value)
    }
}

/// Memory and time bounds of a [`Reassembler`].
///
/// The defaults are chosen for **email** as the carrier:
///
/// * `max_total_bytes` = 1 MiB: OTR messages are text a human typed plus base64 overhead;
///   a megabyte of partial fragments per peer is far beyond any real message and still small.
/// * `max_pending_messages` = 16: email may deliver fragments of several messages
///   interleaved (a burst of mails sent while offline), but rarely more than a handful.
/// * `max_fragments` = 1024: with 1 KiB pieces this covers the 1 MiB limit; a larger `n`
///   can only come from a peer with a tiny limit or a malicious one.
/// * `max_age_secs` = 7 days: SMTP retries delivery for 4–5 days (RFC 5321 section
///   4.5.4.1), so the last fragment of a message can legitimately arrive days after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Upper bound on [`Reassembler::buffered_bytes`] (the sum of buffered piece lengths).
    pub max_total_bytes: usize,
    /// Upper bound on partial messages held at once.
    pub max_pending_messages: usize,
    /// Fragments announcing a larger `n` are rejected.
    pub max_fragments: u16,
    /// Partial messages whose first fragment arrived longer ago than this are dropped.
    pub max_age_secs: u64,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_total_bytes: 1 << 20,
            max_pending_messages: 16,
            max_fragments: 1024,
            max_age_secs: 7 * 24 * 60 * 60,
        }
    }
}

/// Identifies a partial message: there is no message id on the wire, so this is the best
/// available key (see the module docs for the resulting limitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct MessageKey {
    format_version: u16,
    sender: InstanceTag,
    receiver: InstanceTag,
    total: u16,
}

/// One buffered piece.
#[derive(Debug)]
struct Piece {
    text: String,
    /// The piece equals the same-index piece of the last completed message with this key,
    /// so it may be a late duplicate of that message.
    seen_before: bool,
}

/// A message being assembled.
#[derive(Debug)]
struct Partial {
    /// Pieces by `k`; only received pieces are allocated.
    pieces: BTreeMap<u16, Piece>,
    /// Sum of piece lengths.
    bytes: usize,
    /// `now` when the first fragment arrived.
    first_seen: u64,
    /// Creation order, to break ties between equal `first_seen`.
    seq: u64,
}

impl Partial {
    /// Eviction order: partials holding only possible late duplicates go first, then the
    /// oldest.
    fn eviction_rank(&self) -> (bool, u64, u64) {
        let has_new_piece = self.pieces.values().any(|piece| !piece.seen_before);
        (has_new_piece, self.first_seen, self.seq)
    }
}

/// Digests of the pieces of the last message completed under one key.
#[derive(Debug)]
struct Completed {
    /// `digests[k - 1]` is the digest of piece `k`.
    digests: Vec<u64>,
    completed_at: u64,
    seq: u64,
}

/// Reassembles fragments from **one** peer (the engine keeps one per peer).
///
/// Fragments may arrive in any order and more than once; see the module docs for the exact
/// rules, their limits, and the memory bounds. Besides [`Reassembler::buffered_bytes`], the
/// bookkeeping holds at most `max_pending_messages * max_fragments` piece entries and at most
/// 4096 eight-byte digests of completed messages.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    partials: HashMap<MessageKey, Partial>,
    buffered: usize,
    next_seq: u64,
    completed: HashMap<MessageKey, Completed>,
    completed_digests: usize,
}

/// What to do with an incoming piece, given the slot it addresses.
enum SlotAction {
    Insert,
    Ignore,
    Replace,
    Restart,
}

impl Reassembler {
    /// Creates an empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            partials: HashMap::new(),
            buffered: 0,
            next_seq: 0,
            completed: HashMap::new(),
            completed_digests: 0,
        }
    }

    /// The limits this reassembler enforces.
    pub fn limits(&self) -> ReassemblyLimits {
        self.limits
    }

    /// Feeds one fragment received at time `now` (seconds, any epoch, the same clock as
    /// [`Reassembler::expire`]). Returns `Ok(Some(message))` when it completes a message.
    ///
    /// Expired partial messages are dropped first; then the rules of the module docs apply.
    /// Duplicates and suspected late duplicates return `Ok(None)`.
    ///
    /// # Errors
    ///
    /// Invalid fields ([`FragmentError::ZeroNumber`], [`FragmentError::IndexExceedsTotal`],
    /// [`FragmentError::EmptyPiece`], [`FragmentError::UnsupportedVersion`]),
    /// [`FragmentError::FragmentCountExceedsLimit`] if `n > max_fragments`,
    /// [`FragmentError::MessageTooLarge`] if this message alone would exceed
    /// `max_total_bytes` (its partial state is dropped).
    pub fn push(&mut self, fragment: Fragment, now: u64) -> Result<Option<String>, FragmentError> {
        fragment.check()?;
        if fragment.total > self.limits.max_fragments {
            return Err(FragmentError::FragmentCountExceedsLimit {
                total: fragment.total,
                max: self.limits.max_fragments,
            });
        }
        self.expire(now);

        let key = MessageKey {
            format_version: fragment.format_version,
            sender: fragment.sender,
            receiver: fragment.receiver,
            total: fragment.total,
        };
        let index = fragment.index;
        let digest = piece_digest(index, &fragment.piece);
        let seen_before = self
            .completed
            .get(&key)
            .and_then(|completed| completed.digests.get(usize::from(index - 1)))
            == Some(&digest);

        if fragment.total == 1 {
            if seen_before {
                return Ok(None);
            }
            if fragment.piece.len() > self.limits.max_total_bytes {
                return Err(FragmentError::MessageTooLarge {
                    bytes: fragment.piece.len(),
                    max: self.limits.max_total_bytes,
                });
            }
            self.remember(key, vec![digest], now);
            return Ok(Some(fragment.piece));
        }

        let action = match self
            .partials
            .get(&key)
            .and_then(|partial| partial.pieces.get(&index))
        {
            None => SlotAction::Insert,
            Some(slot) if slot.text == fragment.piece => SlotAction::Ignore,
            Some(_) if seen_before => SlotAction::Ignore,
            Some(slot) if slot.seen_before => SlotAction::Replace,
            Some(_) => SlotAction::Restart,
        };
        match action {
            SlotAction::Ignore => return Ok(None),
            SlotAction::Restart => self.remove(&key),
            SlotAction::Replace => self.remove_pieces(&key, |k, _| k == index),
            SlotAction::Insert => {}
        }
        // In order of arrival, a possible late duplicate above this index cannot belong to
        // the message now being assembled.
        self.remove_pieces(&key, |k, piece| k > index && piece.seen_before);

        let already = self.partials.get(&key).map_or(0, |partial| partial.bytes);
        let would_be = already.saturating_add(fragment.piece.len());
        if would_be > self.limits.max_total_bytes {
            self.remove(&key);
            return Err(FragmentError::MessageTooLarge {
                bytes: would_be,
                max: self.limits.max_total_bytes,
            });
        }
        if !self.partials.contains_key(&key) {
            while self.partials.len() >= self.limits.max_pending_messages.max(1) {
                if !self.evict_one(&key) {
                    break;
                }
            }
            let seq = self.bump_seq();
            self.partials.insert(
                key,
                Partial {
                    pieces: BTreeMap::new(),
                    bytes: 0,
                    first_seen: now,
                    seq,
                },
            );
        }
        // Terminates: evicting every other partial leaves `would_be <= max_total_bytes`.
        while self.buffered.saturating_add(fragment.piece.len()) > self.limits.max_total_bytes {
            if !self.evict_one(&key) {
                break;
            }
        }

        let piece_len = fragment.piece.len();
        let complete = match self.partials.get_mut(&key) {
            Some(partial) => {
                partial.pieces.insert(
                    index,
                    Piece {
                        text: fragment.piece,
                        seen_before,
                    },
                );
                partial.bytes += piece_len;
                partial.pieces.len() == usize::from(fragment.total)
            }
            None => return Ok(None),
        };
        self.buffered += piece_len;
        if !complete {
            return Ok(None);
        }

        let Some(partial) = self.partials.remove(&key) else {
            return Ok(None);
        };
        self.buffered = self.buffered.saturating_sub(partial.bytes);
        let digests: Vec<u64> = partial
            .pieces
            .iter()
            .map(|(k, piece)| piece_digest(*k, &piece.text))
            .collect();
        if self
            .completed
            .get(&key)
            .is_some_and(|completed| completed.digests == digests)
        {
            // Every piece repeats the last message completed under this key: a redelivery.
            return Ok(None);
        }
        self.remember(key, digests, now);
        let mut message = String::with_capacity(partial.bytes);
        for piece in partial.pieces.values() {
            message.push_str(&piece.text);
        }
        Ok(Some(message))
    }

    /// Says that the message [`Reassembler::push`] just completed with `fragment` was not a
    /// valid OTR message: a partial left over from a message that lost a piece was completed
    /// by the first piece of the next one. Forgets that partial and starts a new one from
    /// `fragment`, so one lost fragment costs one message, not every later one with the same
    /// fragment count.
    pub fn resync(
        &mut self,
        fragment: Fragment,
        now: u64,
    ) -> Result<Option<String>, FragmentError> {
        let key = MessageKey {
            format_version: fragment.format_version,
            sender: fragment.sender,
            receiver: fragment.receiver,
            total: fragment.total,
        };
        self.completed.remove(&key);
        self.remove(&key);
        self.push(fragment, now)
    }

    /// Drops partial messages whose first fragment arrived more than `max_age_secs` before
    /// `now`, and forgets completed messages older than that.
    pub fn expire(&mut self, now: u64) {
        let max_age = self.limits.max_age_secs;
        let expired: Vec<MessageKey> = self
            .partials
            .iter()
            .filter(|(_, partial)| now.saturating_sub(partial.first_seen) > max_age)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            self.remove(&key);
        }
        let mut forgotten = 0;
        self.completed.retain(|_, completed| {
            let keep = now.saturating_sub(completed.completed_at) <= max_age;
            if !keep {
                forgotten += completed.digests.len();
            }
            keep
        });
        self.completed_digests = self.completed_digests.saturating_sub(forgotten);
    }

    /// Bytes of pieces currently buffered (never more than `max_total_bytes`).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Number of partial messages currently held.
    pub fn pending_messages(&self) -> usize {
        self.partials.len()
    }

    /// Forgets all partial and completed messages.
    pub fn clear(&mut self) {
        self.partials.clear();
        self.completed.clear();
        self.completed_digests = 0;
        self.buffered = 0;
    }

    fn bump_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        seq
    }

    fn remove(&mut self, key: &MessageKey) {
        if let Some(partial) = self.partials.remove(key) {
            self.buffered = self.buffered.saturating_sub(partial.bytes);
        }
    }

    /// Removes the pieces of `key`'s partial message selected by `select`.
    fn remove_pieces(&mut self, key: &MessageKey, select: impl Fn(u16, &Piece) -> bool) {
        let Some(partial) = self.partials.get_mut(key) else {
            return;
        };
        let mut freed = 0;
        partial.pieces.retain(|k, piece| {
            let remove = select(*k, piece);
            if remove {
                freed += piece.text.len();
            }
            !remove
        });
        partial.bytes = partial.bytes.saturating_sub(freed);
        self.buffered = self.buffered.saturating_sub(freed);
    }

    /// Evicts one partial message other than `keep` (see [`Partial::eviction_rank`]);
    /// false if there was none.
    fn evict_one(&mut self, keep: &MessageKey) -> bool {
        let victim = self
            .partials
            .iter()
            .filter(|(key, _)| *key != keep)
            .min_by_key(|(_, partial)| partial.eviction_rank())
            .map(|(key, _)| *key);
        match victim {
            Some(key) => {
                self.remove(&key);
                true
            }
            None => false,
        }
    }

    /// Records the pieces of a completed message, within the digest budget.
    fn remember(&mut self, key: MessageKey, digests: Vec<u64>, now: u64) {
        if let Some(old) = self.completed.remove(&key) {
            self.completed_digests = self.completed_digests.saturating_sub(old.digests.len());
        }
        if digests.len() > REMEMBERED_FRAGMENTS {
            return;
        }
        while self.completed_digests + digests.len() > REMEMBERED_FRAGMENTS {
            let oldest = self
                .completed
                .iter()
                .min_by_key(|(_, completed)| (completed.completed_at, completed.seq))
                .map(|(key, _)| *key);
            let Some(oldest) = oldest else { break };
            if let Some(old) = self.completed.remove(&oldest) {
                self.completed_digests = self.completed_digests.saturating_sub(old.digests.len());
            }
        }
        let seq = self.bump_seq();
        self.completed_digests += digests.len();
        self.completed.insert(
            key,
            Completed {
                digests,
                completed_at: now,
                seq,
            },
        );
    }
}

/// A 64-bit digest of one piece, used only to recognise repeated pieces. A collision merely
/// makes a piece look like a possible late duplicate, which anyone able to inject fragments
/// could achieve anyway.
fn piece_digest(index: u16, piece: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    index.hash(&mut hasher);
    piece.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The Data Message of the spec's "Fragmentation" example (Protocol-v3.html), with the
    /// display line breaks removed.
    const SPEC_MESSAGE: &str = concat!(
        "?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA1g5IjD1ZGLDVQEyCgCyn9hb",
        "rL3KAbGDdzE2ZkMyTKl7XfkSxh8YJnudstiB74i4BzT0W2haClg6dMary/jo",
        "9sMudwmUdlnKpIGEKXWdvJKT+hQ26h9nzMgEditLB8vjPEWAJ6gBXvZrY6ZQ",
        "rx3gb4v0UaSMOMiR5sB7Eaulb2Yc6RmRnnlxgUUC2alosg4WIeFN951PLjSc",
        "ajVba6dqlDi+q1H5tPvI5SWMN7PCBWIJ41+WvF+5IAZzQZYgNaVLbAAAAAAA",
        "AAAEAAAAHwNiIi5Ms+4PsY/L2ipkTtquknfx6HodLvk3RAAAAAA==.",
    );

    /// The spec's three example fragments, line breaks removed.
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

    const A: InstanceTag = InstanceTag::new(0x5a73a599);
    const B: InstanceTag = InstanceTag::new(0x27e31597);

    fn v3() -> FragmentFormat {
        FragmentFormat::V3 {
            sender: A,
            receiver: B,
        }
    }

    fn parse_all(fragments: &[String]) -> Vec<Fragment> {
        fragments
            .iter()
            .map(|f| Fragment::parse(f).unwrap())
            .collect()
    }

    fn reassemble(fragments: Vec<Fragment>) -> Vec<String> {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let out: Vec<String> = fragments
            .into_iter()
            .filter_map(|f| r.push(f, 0).unwrap())
            .collect();
        out
    }

    fn frag(index: u16, total: u16, piece: &str) -> Fragment {
        Fragment {
            format_version: 3,
            sender: A,
            receiver: B,
            index,
            total,
            piece: piece.to_owned(),
        }
    }

    #[test]
    fn spec_example_parses_and_reassembles() {
        let parsed: Vec<Fragment> = SPEC_FRAGMENTS
            .iter()
            .map(|f| Fragment::parse(f).unwrap())
            .collect();
        for (i, f) in parsed.iter().enumerate() {
            assert_eq!(f.format_version, 3);
            assert_eq!(f.sender, A);
            assert_eq!(f.receiver, B);
            assert_eq!(usize::from(f.index), i + 1);
            assert_eq!(f.total, 3);
            // Our encoder reproduces the spec's text exactly.
            assert_eq!(f.to_string(), SPEC_FRAGMENTS[i]);
        }
        assert!(parsed[0].piece.starts_with("?OTR:AAMD"));
        assert_eq!(reassemble(parsed.clone()), vec![SPEC_MESSAGE.to_owned()]);
        // Any order.
        let reversed: Vec<Fragment> = parsed.into_iter().rev().collect();
        assert_eq!(reassemble(reversed), vec![SPEC_MESSAGE.to_owned()]);
    }

    #[test]
    fn spec_example_is_reproduced_by_fragment() {
        // Our greedy cutting reproduces the spec's first fragment at its length.
        let piece1 = Fragment::parse(SPEC_FRAGMENTS[0]).unwrap().piece;
        let max_len = V3_OVERHEAD + piece1.len();
        let out = fragment(SPEC_MESSAGE, max_len, v3()).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], SPEC_FRAGMENTS[0]);
        assert_eq!(reassemble(parse_all(&out)), vec![SPEC_MESSAGE.to_owned()]);
    }

    #[test]
    fn v2_format_and_short_message() {
        let out = fragment("?OTR:AAIDabcdefghij.", 20, FragmentFormat::V2).unwrap();
        assert_eq!(out, vec!["?OTR:AAIDabcdefghij.".to_owned()]);
        let message = "?OTR:AAIDabcdefghijklmnop.";
        let out = fragment(message, 25, FragmentFormat::V2).unwrap();
        assert_eq!(
            out,
            [
                "?OTR,00001,00004,?OTR:AA,",
                "?OTR,00002,00004,IDabcde,",
                "?OTR,00003,00004,fghijkl,",
                "?OTR,00004,00004,mnop.,"
            ]
        );
        assert!(out.iter().all(|f| f.len() <= 25));
        let parsed = parse_all(&out);
        assert!(parsed.iter().all(|f| f.format_version == 2
            && f.sender == InstanceTag::ZERO
            && f.receiver == InstanceTag::ZERO));
        assert_eq!(reassemble(parsed), vec![message.to_owned()]);
    }

    #[test]
    fn fragment_rejects_tiny_limits_and_too_many_pieces() {
        assert_eq!(
            fragment("?OTR:AAMD.", 5, v3()),
            Err(FragmentError::MaxLenTooSmall {
                max_len: 5,
                min_len: 37
            })
        );
        assert_eq!(
            fragment("?OTR:AAMDAAAAAAAAAAAAAAAAAAA.", 18, FragmentFormat::V2),
            Err(FragmentError::MaxLenTooSmall {
                max_len: 18,
                min_len: 19
            })
        );
        // 1 byte per fragment: 65535 fragments fit, 65536 do not.
        let ok = "x".repeat(65535);
        assert_eq!(fragment(&ok, 19, FragmentFormat::V2).unwrap().len(), 65535);
        let too_long = "x".repeat(65536);
        assert_eq!(
            fragment(&too_long, 19, FragmentFormat::V2),
            Err(FragmentError::TooManyFragments { needed: 65536 })
        );
        assert_eq!(
            fragment("?OTR Error: a, b", 10, FragmentFormat::V2),
            Err(FragmentError::CommaInMessage { offset: 13 })
        );
    }

    #[test]
    fn fragment_never_splits_a_character() {
        let message = "?OTR:ääää€€€😀😀.";
        for max_len in V2_OVERHEAD + 4..V2_OVERHEAD + 12 {
            let out = fragment(message, max_len, FragmentFormat::V2).unwrap();
            assert!(out.iter().all(|f| f.len() <= max_len));
            assert_eq!(reassemble(parse_all(&out)), vec![message.to_owned()]);
        }
        // Three bytes of payload cannot carry the 4-byte emoji.
        assert_eq!(
            fragment("😀😀😀😀😀😀", V2_OVERHEAD + 3, FragmentFormat::V2),
            Err(FragmentError::MaxLenTooSmall {
                max_len: V2_OVERHEAD + 3,
                min_len: V2_OVERHEAD + 4
            })
        );
    }

    #[test]
    fn send_policy_split() {
        let f = vec!["1".to_owned(), "2".to_owned(), "3".to_owned()];
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            SendPolicy::All.split(f.clone()),
            (s(&["1", "2", "3"]), s(&[]))
        );
        assert_eq!(
            SendPolicy::AllButFirst.split(f.clone()),
            (s(&["2", "3"]), s(&["1"]))
        );
        assert_eq!(
            SendPolicy::AllButLast.split(f.clone()),
            (s(&["1", "2"]), s(&["3"]))
        );
        assert_eq!(
            SendPolicy::AllButFirst.split(s(&["1"])),
            (s(&[]), s(&["1"]))
        );
        assert_eq!(SendPolicy::AllButLast.split(vec![]), (s(&[]), s(&[])));
    }

    #[test]
    fn parse_accepts_variable_widths_and_whitespace() {
        let f = Fragment::parse("  ?OTR|100|0,1,2,abc,\r\n").unwrap();
        assert_eq!(f.sender, InstanceTag::new(0x100));
        assert_eq!(f.receiver, InstanceTag::ZERO);
        assert_eq!((f.index, f.total), (1, 2));
        assert_eq!(f.piece, "abc");
        let f =
            Fragment::parse("?OTR|0000000ABCDEF12|FFFFFFFF,0000000001,00000065535,x,\n").unwrap();
        assert_eq!(f.sender, InstanceTag::new(0xabcdef12));
        assert_eq!(f.receiver, InstanceTag::new(0xffffffff));
        assert_eq!((f.index, f.total), (1, 65535));
        let f = Fragment::parse("?OTR,3,3,?OTR:AAIC.,").unwrap();
        assert_eq!((f.format_version, f.index, f.total), (2, 3, 3));
        assert_eq!(f.piece, "?OTR:AAIC.");
        // A piece containing commas: everything up to the final comma.
        assert_eq!(Fragment::parse("?OTR,1,2,a,b,").unwrap().piece, "a,b");
    }

    #[test]
    fn parse_rejects_illegal_fragments() {
        use FragmentError as E;
        let cases: &[(&str, FragmentError)] = &[
            ("hello", E::NotAFragment { offset: 0 }),
            ("?OTR:AAMD.", E::NotAFragment { offset: 0 }),
            ("?OTR|100|100,0,1,a,", E::ZeroNumber { field: "k" }),
            ("?OTR|100|100,1,0,a,", E::ZeroNumber { field: "n" }),
            ("?OTR,0,0,a,", E::ZeroNumber { field: "k" }),
            ("?OTR,3,2,a,", E::IndexExceedsTotal { index: 3, total: 2 }),
            (
                "?OTR,1,65536,a,",
                E::NumberTooLarge {
                    field: "n",
                    offset: 7,
                },
            ),
            (
                "?OTR,99999999999999999999,1,a,",
                E::NumberTooLarge {
                    field: "k",
                    offset: 5,
                },
            ),
            (
                "?OTR,x,1,a,",
                E::InvalidNumber {
                    field: "k",
                    offset: 5,
                },
            ),
            (
                "?OTR,1,1e,a,",
                E::InvalidNumber {
                    field: "n",
                    offset: 7,
                },
            ),
            (
                "?OTR,,1,a,",
                E::InvalidNumber {
                    field: "k",
                    offset: 5,
                },
            ),
            (
                "?OTR,+1,1,a,",
                E::MissingSeparator {
                    expected: ',',
                    offset: 5,
                },
            ),
            ("?OTR,1,1,", E::EmptyPiece { offset: 9 }),
            ("?OTR,1,1,,", E::EmptyPiece { offset: 9 }),
            ("?OTR,1,1,abc", E::MissingTerminator { offset: 12 }),
            ("?OTR,1,1,abc,def", E::MissingTerminator { offset: 16 }),
            (
                "?OTR,1 1,a,",
                E::MissingSeparator {
                    expected: ',',
                    offset: 6,
                },
            ),
            (
                "?OTR,1",
                E::MissingSeparator {
                    expected: ',',
                    offset: 6,
                },
            ),
            (
                "?OTR|100,1,1,a,",
                E::MissingSeparator {
                    expected: '|',
                    offset: 8,
                },
            ),
            ("?OTR|g00|100,1,1,a,", E::InvalidInstanceTag { offset: 5 }),
            ("?OTR||100,1,1,a,", E::InvalidInstanceTag { offset: 5 }),
            (
                "?OTR|100000000|100,1,1,a,",
                E::InvalidInstanceTag { offset: 5 },
            ),
            // OTRv4 framing has a third '|' field; it is not a v3 fragment.
            (
                "?OTR|1|100|200,1,1,a,",
                E::MissingSeparator {
                    expected: ',',
                    offset: 10,
                },
            ),
        ];
        for (text, error) in cases {
            assert_eq!(Fragment::parse(text).as_ref(), Err(error), "{text}");
        }
    }

    #[test]
    fn shuffled_and_duplicated_delivery() {
        let out = fragment(SPEC_MESSAGE, 60, v3()).unwrap();
        let n = out.len();
        assert!(n > 10);
        let parsed = parse_all(&out);
        // Reverse, interleave even/odd and deliver everything twice.
        let mut order: Vec<usize> = (0..n).rev().step_by(2).chain((0..n).step_by(2)).collect();
        order.extend((0..n).rev());
        order.extend(0..n);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut results = Vec::new();
        for i in order {
            if let Some(m) = r.push(parsed[i].clone(), 0).unwrap() {
                results.push(m);
            }
        }
        assert_eq!(results, vec![SPEC_MESSAGE.to_owned()]);
        assert_eq!(r.buffered_bytes(), 0);
        assert_eq!(r.pending_messages(), 0);
    }

    #[test]
    fn conflicting_piece_restarts_the_message() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(r.push(frag(1, 2, "old1"), 0), Ok(None));
        // Same slot, different piece: a new message with the same n.
        assert_eq!(r.push(frag(1, 2, "new1"), 0), Ok(None));
        assert_eq!(r.buffered_bytes(), 4);
        assert_eq!(
            r.push(frag(2, 2, "new2"), 0),
            Ok(Some("new1new2".to_owned()))
        );
    }

    #[test]
    fn whole_redelivery_is_suppressed_and_does_not_disturb_the_next_message() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let a = ["A1", "A2", "A3"];
        for (i, piece) in a.iter().enumerate() {
            let out = r.push(frag(i as u16 + 1, 3, piece), 0).unwrap();
            assert_eq!(out.is_some(), i == 2);
        }
        // The same three mails again, in order and in reverse: nothing is delivered.
        for (i, piece) in a.iter().enumerate() {
            assert_eq!(r.push(frag(i as u16 + 1, 3, piece), 1), Ok(None));
        }
        for (i, piece) in a.iter().enumerate().rev() {
            assert_eq!(r.push(frag(i as u16 + 1, 3, piece), 2), Ok(None));
        }
        // The next message with the same n, in order, with more late duplicates of A mixed in.
        assert_eq!(r.push(frag(1, 3, "B1"), 3), Ok(None));
        assert_eq!(r.push(frag(3, 3, "A3"), 3), Ok(None));
        assert_eq!(r.push(frag(1, 3, "A1"), 3), Ok(None));
        assert_eq!(r.push(frag(2, 3, "B2"), 3), Ok(None));
        assert_eq!(r.push(frag(2, 3, "A2"), 3), Ok(None));
        assert_eq!(r.push(frag(3, 3, "B3"), 3), Ok(Some("B1B2B3".to_owned())));
        assert_eq!(r.pending_messages(), 0);
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn pieces_repeated_by_the_next_message_are_accepted() {
        // Consecutive OTR data messages share their header (instance tags, key ids, next
        // D-H key) and often the "AAAAAA==." tail, so small pieces repeat across messages.
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let messages = [
            ["?OTR:AAMD", "HEAD", "body1", "AAAA=."],
            ["?OTR:AAMD", "HEAD", "body2", "AAAA=."],
            ["?OTR:AAMD", "HEAD", "body3", "AAAA=."],
        ];
        for pieces in messages {
            let mut out = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                out.extend(r.push(frag(i as u16 + 1, 4, piece), 0).unwrap());
            }
            assert_eq!(out, vec![pieces.concat()]);
        }
        // Reordered, with the new piece first.
        let pieces = ["?OTR:AAMD", "HEAD", "body4", "AAAA=."];
        let mut out = Vec::new();
        for i in [2, 0, 1, 3] {
            out.extend(r.push(frag(i as u16 + 1, 4, pieces[i]), 0).unwrap());
        }
        assert_eq!(out, vec![pieces.concat()]);
    }

    #[test]
    fn messages_from_different_instances_do_not_mix() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut other = frag(1, 2, "B1");
        other.sender = InstanceTag::new(0x1234);
        assert_eq!(r.push(frag(1, 2, "A1"), 0), Ok(None));
        assert_eq!(r.push(other.clone(), 0), Ok(None));
        let mut v2 = frag(1, 2, "C1");
        v2.format_version = 2;
        assert_eq!(r.push(v2, 0), Ok(None));
        assert_eq!(r.pending_messages(), 3);
        other.index = 2;
        other.piece = "B2".to_owned();
        assert_eq!(r.push(other, 0), Ok(Some("B1B2".to_owned())));
        assert_eq!(r.push(frag(2, 2, "A2"), 0), Ok(Some("A1A2".to_owned())));
    }

    #[test]
    fn single_fragment_completes_at_once() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(r.push(frag(1, 1, "whole"), 0), Ok(Some("whole".to_owned())));
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn push_validates_fields() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            r.push(frag(0, 2, "x"), 0),
            Err(FragmentError::ZeroNumber { field: "k" })
        );
        assert_eq!(
            r.push(frag(3, 2, "x"), 0),
            Err(FragmentError::IndexExceedsTotal { index: 3, total: 2 })
        );
        assert_eq!(
            r.push(frag(1, 2, ""), 0),
            Err(FragmentError::EmptyPiece { offset: 0 })
        );
        let mut bad = frag(1, 2, "x");
        bad.format_version = 4;
        assert_eq!(
            r.push(bad, 0),
            Err(FragmentError::UnsupportedVersion { version: 4 })
        );
        assert_eq!(
            r.push(frag(1, 1025, "x"), 0),
            Err(FragmentError::FragmentCountExceedsLimit {
                total: 1025,
                max: 1024
            })
        );
        assert_eq!(r.pending_messages(), 0);
    }

    #[test]
    fn memory_limits_evict_oldest_first() {
        let limits = ReassemblyLimits {
            max_total_bytes: 100,
            max_pending_messages: 3,
            max_fragments: 10,
            max_age_secs: 1000,
        };
        let mut r = Reassembler::new(limits);
        // Three partial messages (n = 2, 3, 4), 30 bytes each.
        for total in 2..=4 {
            assert_eq!(
                r.push(frag(1, total, &"a".repeat(30)), u64::from(total)),
                Ok(None)
            );
        }
        assert_eq!(r.buffered_bytes(), 90);
        // 20 more bytes: the oldest (n = 2) is evicted to stay within 100.
        assert_eq!(r.push(frag(2, 4, &"b".repeat(20)), 10), Ok(None));
        assert_eq!(r.buffered_bytes(), 80);
        assert_eq!(r.pending_messages(), 2);
        assert_eq!(r.push(frag(2, 2, "zz"), 11), Ok(None), "n = 2 was evicted");
        // A fourth message evicts the oldest remaining one (n = 3, first seen at 3).
        assert_eq!(r.pending_messages(), 3);
        assert_eq!(r.push(frag(1, 5, "c"), 12), Ok(None));
        assert_eq!(r.pending_messages(), 3);
        assert_eq!(r.buffered_bytes(), 53);
        // The message n = 4 survived all of this.
        assert_eq!(r.push(frag(3, 4, "c"), 14), Ok(None));
        assert_eq!(
            r.push(frag(4, 4, "d"), 15),
            Ok(Some(format!("{}{}cd", "a".repeat(30), "b".repeat(20))))
        );
    }

    #[test]
    fn a_message_larger_than_the_budget_is_rejected() {
        let limits = ReassemblyLimits {
            max_total_bytes: 50,
            ..ReassemblyLimits::default()
        };
        let mut r = Reassembler::new(limits);
        assert_eq!(r.push(frag(1, 3, &"a".repeat(30)), 0), Ok(None));
        assert_eq!(
            r.push(frag(2, 3, &"b".repeat(30)), 0),
            Err(FragmentError::MessageTooLarge { bytes: 60, max: 50 })
        );
        assert_eq!(r.buffered_bytes(), 0);
        assert_eq!(r.pending_messages(), 0);
        assert_eq!(
            r.push(frag(1, 1, &"c".repeat(51)), 0),
            Err(FragmentError::MessageTooLarge { bytes: 51, max: 50 })
        );
    }

    #[test]
    fn expiry_drops_old_partials() {
        let limits = ReassemblyLimits {
            max_age_secs: 100,
            ..ReassemblyLimits::default()
        };
        let mut r = Reassembler::new(limits);
        assert_eq!(r.push(frag(1, 2, "old"), 1000), Ok(None));
        assert_eq!(r.push(frag(1, 3, "young"), 1050), Ok(None));
        r.expire(1100);
        assert_eq!(r.pending_messages(), 2, "exactly max_age is still kept");
        r.expire(1101);
        assert_eq!(r.pending_messages(), 1);
        assert_eq!(r.buffered_bytes(), 5);
        // push expires too: the second half of "old" now starts a new partial message.
        assert_eq!(r.push(frag(2, 2, "er"), 1200), Ok(None));
        assert_eq!(r.pending_messages(), 1);
        assert_eq!(r.buffered_bytes(), 2);
        // A clock running backwards never expires anything.
        r.expire(0);
        assert_eq!(r.pending_messages(), 1);
        r.clear();
        assert_eq!((r.pending_messages(), r.buffered_bytes()), (0, 0));
    }

    fn armored() -> impl Strategy<Value = String> {
        "[A-Za-z0-9+/=]{0,600}".prop_map(|body| format!("?OTR:AAMD{body}."))
    }

    proptest! {
        #[test]
        fn round_trip_any_size(message in armored(), extra in 1usize..700, v3_format in any::<bool>(),
                               sender in any::<u32>(), receiver in any::<u32>(), seed in any::<u64>()) {
            let format = if v3_format {
                FragmentFormat::V3 { sender: InstanceTag::new(sender), receiver: InstanceTag::new(receiver) }
            } else {
                FragmentFormat::V2
            };
            let max_len = format.overhead() + extra;
            let out = fragment(&message, max_len, format).unwrap();
            prop_assert!(out.iter().all(|f| f.len() <= max_len));
            if out.len() == 1 && message.len() <= max_len {
                prop_assert_eq!(&out[0], &message);
                return Ok(());
            }
            let mut parsed = parse_all(&out);
            for f in &parsed {
                prop_assert_eq!(usize::from(f.total), out.len());
                prop_assert_eq!(f.format_version, if v3_format { 3 } else { 2 });
            }
            // Deterministic shuffle plus duplicates.
            let mut state = seed | 1;
            for i in (1..parsed.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                let j = usize::try_from(state % (i as u64 + 1)).unwrap();
                parsed.swap(i, j);
            }
            let dups: Vec<Fragment> = parsed.iter().step_by(3).cloned().collect();
            parsed.extend(dups);
            prop_assert_eq!(reassemble(parsed), vec![message]);
        }

        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = Fragment::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_near_fragments(
            prefix in prop::sample::select(vec!["?OTR|", "?OTR,", " ?OTR|", "?OTR"]),
            rest in "[0-9a-fA-F|, \\n\\r\\t€x]{0,40}",
        ) {
            let text = format!("{prefix}{rest}");
            if let Ok(f) = Fragment::parse(&text) {
                prop_assert!(f.index >= 1 && f.index <= f.total && !f.piece.is_empty());
                // What we parse, we re-encode to something that parses to the same fragment.
                prop_assert_eq!(Fragment::parse(&f.to_string()).unwrap(), f);
            }
        }

        #[test]
        fn in_order_stream_with_late_duplicates(
            n in 2u16..6,
            size in 1usize..4,
            raw in prop::collection::vec(prop::collection::vec(prop::sample::select(vec!['a', 'b']), 20), 2..8),
            noise in prop::collection::vec((any::<bool>(), any::<u16>(), any::<bool>()), 0..64),
        ) {
            // Messages with the same n, made of a two-letter alphabet so that pieces repeat
            // across messages; consecutive messages differ.
            let mut messages: Vec<String> = Vec::new();
            for chars in raw {
                let message: String = chars.into_iter().take(usize::from(n) * size).collect();
                if messages.last() != Some(&message) {
                    messages.push(message);
                }
            }
            let pieces = |m: &str, k: u16| -> String {
                let start = usize::from(k - 1) * size;
                m[start..start + size].to_owned()
            };
            let mut r = Reassembler::new(ReassemblyLimits::default());
            let mut noise = noise.into_iter();
            let mut out = Vec::new();
            for (mi, message) in messages.iter().enumerate() {
                for k in 1..=n {
                    if let Some((inject, idx, from_previous)) = noise.next() {
                        if inject && from_previous && mi > 0 {
                            // A late duplicate of the previous message; the one case we cannot
                            // tell apart (its last piece just before our last piece) is left out.
                            let i = idx % n + 1;
                            if !(i == n && k == n) {
                                out.extend(r.push(frag(i, n, &pieces(&messages[mi - 1], i)), 0).unwrap());
                            }
                        } else if inject && k > 1 {
                            let i = idx % (k - 1) + 1;
                            out.extend(r.push(frag(i, n, &pieces(message, i)), 0).unwrap());
                        }
                    }
                    out.extend(r.push(frag(k, n, &pieces(message, k)), 0).unwrap());
                }
            }
            prop_assert_eq!(out, messages);
        }

        #[test]
        fn reassembler_respects_limits(ops in prop::collection::vec(
            (1u16..6, 1u16..6, 0u32..3, "[a-c]{1,40}", 0u64..50), 0..200)) {
            let limits = ReassemblyLimits {
                max_total_bytes: 120,
                max_pending_messages: 3,
                max_fragments: 5,
                max_age_secs: 20,
            };
            let mut r = Reassembler::new(limits);
            let mut now = 0;
            for (index, total, sender, piece, dt) in ops {
                now += dt;
                let mut f = frag(index, total, &piece);
                f.sender = InstanceTag::new(sender);
                if let Ok(Some(m)) = r.push(f, now) {
                    prop_assert!(m.len() <= 120);
                }
                prop_assert!(r.buffered_bytes() <= 120);
                prop_assert!(r.pending_messages() <= 3);
            }
        }
    }
}
