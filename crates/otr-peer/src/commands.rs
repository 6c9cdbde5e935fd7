//! The peer protocol's commands ("Commands" in `shared/otr-peer-protocol.md`) and their
//! dispatch.
//!
//! Every command is a row of [`COMMANDS`]: its name, how many fields it takes (counting the
//! name; when a line is split on spaces the last one takes the rest of the line), whether it
//! needs an endpoint, and its handler. A handler appends the records it produces and returns
//! the `key=value` fields of its `ok` record, or a [`Refusal`] that becomes the `err` record;
//! [`handle_line`] adds that final record, so every command ends in exactly one `ok` or `err`.

use std::path::Path;

use offrecord_crypto::dsa::DsaPrivateKey;
use otr::keyfile::{self, FingerprintEntry, InstagEntry};
use otr::smp::SmpError;
use otr::{Endpoint, InstanceTag, Policy, SendError, SmpRequestError};

use crate::files;
use crate::framing::{self, Record};
use crate::keys;
use crate::output::{self, message_event};
use crate::peer::{Account, Peer};

/// Why a command failed: the readable sentence of its `err` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    fn new(reason: impl Into<String>) -> Refusal {
        Refusal(reason.into())
    }
}

/// What a handler returns: the `key=value` fields of its `ok` record, or why it failed.
pub type Outcome = Result<Vec<String>, Refusal>;

/// A command's fields, unescaped (the name first).
pub struct Args {
    fields: Vec<Vec<u8>>,
}

impl Args {
    /// Field `index` as text (invalid UTF-8 replaced by U+FFFD); empty if absent.
    pub fn text(&self, index: usize) -> String {
        String::from_utf8_lossy(self.bytes(index)).into_owned()
    }

    /// Field `index` as bytes; empty if absent.
    pub fn bytes(&self, index: usize) -> &[u8] {
        self.fields.get(index).map_or(&[], Vec::as_slice)
    }

    /// Field `index` as text, if present.
    pub fn optional(&self, index: usize) -> Option<String> {
        self.fields.get(index).map(|_| self.text(index))
    }

    /// How many fields there are, the name included.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The records a command printed, the last one its `ok` or `err`, and whether the process
/// should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The records, in order; the last is `ok` or `err`.
    pub records: Vec<Record>,
    /// Whether this was `quit`.
    pub quit: bool,
}

type Handler = fn(&mut Peer, &Args, &mut Vec<Record>) -> Outcome;

/// One command of the protocol.
pub struct Command {
    /// Its name.
    pub name: &'static str,
    /// Fewest fields, the name included.
    pub min_fields: usize,
    /// Most fields, the name included (the last takes the rest of a space-split line).
    pub max_fields: usize,
    /// Whether it needs an endpoint (`init` or `load` first).
    pub needs_endpoint: bool,
    /// Its usage line.
    pub usage: &'static str,
    handler: Handler,
}

const fn command(
    name: &'static str,
    fields: (usize, usize),
    needs_endpoint: bool,
    usage: &'static str,
    handler: Handler,
) -> Command {
    Command {
        name,
        min_fields: fields.0,
        max_fields: fields.1,
        needs_endpoint,
        usage,
        handler,
    }
}

/// Every command, in the protocol document's order, then the test extensions.
pub const COMMANDS: &[Command] = &[
    command(
        "init",
        (4, 5),
        false,
        "init <account> <protocol> <keyfile|generate> [instag-hex]",
        init,
    ),
    command("policy", (2, 2), false, "policy <flags>", policy),
    command("fragsize", (2, 2), false, "fragsize <n>", fragsize),
    command("query", (2, 2), true, "query <peer>", query),
    command("send", (3, 3), true, "send <peer> <text>", send),
    command("recv", (3, 3), true, "recv <peer> <message>", recv),
    command("smp", (3, 4), true, "smp <peer> <secret> [question]", smp),
    command(
        "smp-respond",
        (3, 3),
        true,
        "smp-respond <peer> <secret>",
        smp_respond,
    ),
    command("smp-abort", (2, 2), true, "smp-abort <peer>", smp_abort),
    command(
        "symkey",
        (3, 4),
        true,
        "symkey <peer> <use> [usedata]",
        symkey,
    ),
    command("disconnect", (2, 2), true, "disconnect <peer>", disconnect),
    command("fingerprint", (1, 1), true, "fingerprint", fingerprint),
    command(
        "peer-fingerprint",
        (2, 2),
        true,
        "peer-fingerprint <peer>",
        peer_fingerprint,
    ),
    command("trust", (2, 3), true, "trust <peer> [word]", trust),
    command("instag", (1, 1), true, "instag", instag),
    command("status", (2, 2), true, "status <peer>", status),
    command("poll", (1, 1), true, "poll", poll),
    command("seed", (2, 2), false, "seed <n>|off", seed),
    command("echo", (1, 2), false, "echo <text>", echo),
    command("quit", (1, 1), false, "quit", quit),
    command("save", (2, 2), true, "save <file>", save),
    command("load", (2, 2), false, "load <file>", load),
    command("sleep", (2, 2), false, "sleep <seconds>", sleep),
    // The libotr peer's Offrecord test extensions, for libotr's fingerprint and instance-tag
    // files (see "libotr's trust files" below).
    command(
        "write-fingerprints",
        (2, 2),
        true,
        "write-fingerprints <file>",
        write_fingerprints,
    ),
    command(
        "read-fingerprints",
        (2, 2),
        true,
        "read-fingerprints <file>",
        read_fingerprints,
    ),
    command("fingerprints", (1, 1), true, "fingerprints", fingerprints),
    command(
        "write-instags",
        (2, 2),
        true,
        "write-instags <file>",
        write_instags,
    ),
    command(
        "read-instags",
        (2, 2),
        false,
        "read-instags <file>",
        read_instags,
    ),
    command("instags", (1, 1), false, "instags", instags),
];

/// The command called `name`.
pub fn find(name: &[u8]) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name.as_bytes() == name)
}

/// The `ready` record printed once at start.
pub fn ready() -> Record {
    Record::new("ready")
        .field("impl=offrecord")
        .field(format!("version={}", env!("CARGO_PKG_VERSION")))
}

/// Runs one input line (without its line end). `None` for an empty line, which is no command.
pub fn handle_line(peer: &mut Peer, line: &[u8]) -> Option<Response> {
    if line.is_empty() {
        return None;
    }
    let raw = framing::split_line(line, |name| find(name).map(|c| c.max_fields));
    let mut fields = Vec::with_capacity(raw.len());
    for (i, field) in raw.iter().enumerate() {
        match framing::unescape(field) {
            Ok(f) => fields.push(f),
            Err(e) => {
                let name = fields.first().map_or_else(
                    || "?".to_owned(),
                    |n| String::from_utf8_lossy(n).into_owned(),
                );
                return Some(refused(&name, &format!("field {}: {e}", i + 1)));
            }
        }
    }
    let args = Args { fields };
    let name = args.text(0);
    let Some(command) = find(args.bytes(0)) else {
        let name = if name.is_empty() { "?" } else { name.as_str() };
        return Some(refused(name, "unknown command"));
    };
    if args.len() < command.min_fields || args.len() > command.max_fields {
        return Some(refused(command.name, &format!("usage: {}", command.usage)));
    }
    if command.needs_endpoint && peer.endpoint().is_none() {
        return Some(refused(
            command.name,
            "not initialised: send init (or load) first",
        ));
    }
    let mut records = Vec::new();
    let end = match (command.handler)(peer, &args, &mut records) {
        Ok(values) => Record::new("ok").field(command.name).fields(values),
        Err(Refusal(reason)) => Record::new("err").field(command.name).field(reason),
    };
    records.push(end);
    Some(Response {
        records,
        quit: command.name == "quit",
    })
}

/// The answer to a line longer than `max` bytes (which is not run).
pub fn line_too_long(max: usize) -> Response {
    refused("?", &format!("line longer than {max} bytes; ignored"))
}

fn refused(name: &str, reason: &str) -> Response {
    Response {
        records: vec![Record::new("err").field(name).field(reason)],
        quit: false,
    }
}

/// The endpoint, the generator and the time; handlers of commands that need an endpoint are
/// only called when there is one.
macro_rules! parts {
    ($peer:expr) => {
        $peer
            .parts()
            .ok_or_else(|| Refusal::new("not initialised: send init (or load) first"))?
    };
}

/// Parses an unsigned number: decimal, or hex with `0x`.
fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        None => None,
    }
}

fn kv(key: &str, value: impl core::fmt::Display) -> String {
    format!("{key}={value}")
}

// ---------------------------------------------------------------------------------------------
// Setting up
// ---------------------------------------------------------------------------------------------

fn init(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    if peer.endpoint().is_some() {
        return Err(Refusal::new("already initialised"));
    }
    let (name, protocol, keyfile) = (args.text(1), args.text(2), args.text(3));
    if name.is_empty() || protocol.is_empty() || keyfile.is_empty() {
        return Err(Refusal::new(
            "account, protocol and keyfile must not be empty",
        ));
    }
    let instance = match args.optional(4) {
        Some(text) => Some(
            parse_instance_tag(&text)
                .ok_or_else(|| Refusal::new("instance tag must be hex, from 100 to ffffffff"))?,
        ),
        None => None,
    };
    let account = Account { name, protocol };
    let key = if keyfile == "generate" {
        DsaPrivateKey::generate(peer.rng())
    } else {
        keys::load_or_create(Path::new(&keyfile), &account, peer.rng())
            .map_err(|e| Refusal::new(e.to_string()))?
    };
    // Without a tag argument: the one read with `read-instags`, else a new one.
    let read = peer
        .instags()
        .iter()
        .find(|e| e.account == account.name && e.protocol == account.protocol)
        .map(|e| e.instag);
    let instance = instance
        .or(read)
        .unwrap_or_else(|| InstanceTag::generate(peer.rng()));
    let endpoint = Endpoint::new(key, instance, peer.config().clone());
    let values = vec![
        kv(
            "fingerprint",
            keys::human_fingerprint(&endpoint.fingerprint()),
        ),
        kv("instag", endpoint.instance_tag()),
    ];
    peer.set_initialised(endpoint, account);
    Ok(values)
}

/// An instance tag in hex (optionally `0x`-prefixed), at least `0x100`.
fn parse_instance_tag(text: &str) -> Option<InstanceTag> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tag = InstanceTag::new(u32::from_str_radix(digits, 16).ok()?);
    tag.is_valid().then_some(tag)
}

fn policy(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let text = args.text(1);
    let policy = Policy::parse(&text).ok_or_else(|| {
        Refusal::new(format!(
            "unknown policy '{text}': give a number, never/manual/opportunistic/always, \
             or a comma list of v2,v3,require,whitespace,wsstart,errstart"
        ))
    })?;
    peer.config_mut().policy = policy;
    Ok(Vec::new())
}

fn fragsize(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let size = parse_number(&args.text(1))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Refusal::new("fragment size must be a number (0: never fragment)"))?;
    peer.config_mut().max_message_size = size;
    Ok(Vec::new())
}

fn seed(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let text = args.text(1);
    if text == "off" {
        peer.seed_from_os()
            .map_err(|e| Refusal::new(format!("cannot seed from the operating system: {e}")))?;
    } else {
        let seed = parse_number(&text)
            .ok_or_else(|| Refusal::new("seed must be a number from 0 to 2^64-1, or off"))?;
        peer.seed(seed);
    }
    Ok(Vec::new())
}

fn sleep(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let seconds = parse_number(&args.text(1))
        .ok_or_else(|| Refusal::new("seconds must be a whole number"))?;
    peer.advance_clock(seconds);
    Ok(vec![kv("now", peer.now())])
}

// ---------------------------------------------------------------------------------------------
// Conversation
// ---------------------------------------------------------------------------------------------

fn query(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    records.extend(output::records(endpoint.query(&args.text(1))));
    Ok(Vec::new())
}

fn send(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, rng, now) = parts!(peer);
    let to = args.text(1);
    match endpoint.send(&to, &args.text(2), now, rng) {
        Ok(out) => {
            records.extend(output::records(out));
            Ok(Vec::new())
        }
        Err(e) => {
            if e == SendError::Finished {
                // libotr reports this as a message event (and sends nothing).
                records.push(message_event(
                    &to,
                    otr::MessageEvent::ConnectionEnded.name(),
                    None,
                ));
            }
            Err(Refusal::new(e.to_string()))
        }
    }
}

fn recv(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, rng, now) = parts!(peer);
    records.extend(output::records(endpoint.receive(
        &args.text(1),
        &args.text(2),
        now,
        rng,
    )));
    Ok(Vec::new())
}

fn symkey(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let usage = parse_number(&args.text(2))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| Refusal::new("use must be a number from 0 to 4294967295"))?;
    let (endpoint, _, now) = parts!(peer);
    let who = args.text(1);
    let (key, out) = endpoint
        .use_extra_symmetric_key(&who, None, usage, args.bytes(3), now)
        .map_err(|e| match e {
            SendError::NoSuchSession(_) => Refusal::new(format!("no encrypted session with {who}")),
            e => Refusal::new(format!("cannot use the extra symmetric key: {e}")),
        })?;
    records.extend(output::records(out));
    Ok(vec![kv("key", hex::encode(*key))])
}

fn disconnect(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, now) = parts!(peer);
    let who = args.text(1);
    // Every instance, as libotr's otrl_message_disconnect_all_instances does.
    let instances = endpoint.instances(&who);
    for instance in instances.into_iter().chain([InstanceTag::ZERO]) {
        records.extend(output::records(endpoint.disconnect(
            &who,
            Some(instance),
            now,
        )));
    }
    Ok(Vec::new())
}

fn poll(peer: &mut Peer, _args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, now) = parts!(peer);
    records.extend(output::records(endpoint.poll(now)));
    Ok(Vec::new())
}

// ---------------------------------------------------------------------------------------------
// SMP
// ---------------------------------------------------------------------------------------------

/// The refusal for an SMP request the endpoint turned down. Without an encrypted session the
/// sentence is the libotr peer's.
fn smp_refusal(who: &str, e: SmpRequestError) -> Refusal {
    match e {
        SmpRequestError::NotEncrypted(_) => {
            Refusal::new(format!("no encrypted session with {who}"))
        }
        SmpRequestError::Smp(SmpError::NotAwaitingSecret { .. }) => Refusal::new(format!(
            "no SMP request from {who} is waiting for an answer"
        )),
        e => Refusal::new(e.to_string()),
    }
}

/// `smp <peer> <secret> [question]`: the secret is taken as bytes, the question as text.
fn smp(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, rng, now) = parts!(peer);
    let who = args.text(1);
    let question = args.optional(3);
    let out = endpoint
        .smp_start(&who, None, args.bytes(2), question.as_deref(), now, rng)
        .map_err(|e| smp_refusal(&who, e))?;
    records.extend(output::records(out));
    Ok(Vec::new())
}

/// `smp-respond <peer> <secret>`. Unlike libotr, which answers even when no request waits
/// (and the peer then reports an error), this refuses with `err`.
fn smp_respond(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, rng, now) = parts!(peer);
    let who = args.text(1);
    let out = endpoint
        .smp_respond(&who, None, args.bytes(2), now, rng)
        .map_err(|e| smp_refusal(&who, e))?;
    records.extend(output::records(out));
    Ok(Vec::new())
}

fn smp_abort(peer: &mut Peer, args: &Args, records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, now) = parts!(peer);
    let who = args.text(1);
    let out = endpoint
        .smp_abort(&who, None, now)
        .map_err(|e| smp_refusal(&who, e))?;
    records.extend(output::records(out));
    Ok(Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Identity and status
// ---------------------------------------------------------------------------------------------

fn fingerprint(peer: &mut Peer, _args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    let fp = endpoint.fingerprint();
    Ok(vec![
        kv("human", keys::human_fingerprint(&fp)),
        kv("hex", hex::encode(fp)),
    ])
}

/// The fingerprint of `who`'s key in the session `send` would use.
fn active_fingerprint(endpoint: &Endpoint, who: &str) -> Result<[u8; 20], Refusal> {
    endpoint
        .status(who, None)
        .and_then(|s| s.their_fingerprint)
        .ok_or_else(|| Refusal::new(format!("no active fingerprint for {who}")))
}

/// The trust word of a fingerprint, `-` when untrusted or unknown.
fn trust_word(endpoint: &Endpoint, who: &str, fp: &[u8; 20]) -> String {
    match endpoint.trust(who, fp) {
        Some(word) if !word.is_empty() => word.to_owned(),
        _ => "-".to_owned(),
    }
}

fn peer_fingerprint(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    let who = args.text(1);
    let fp = active_fingerprint(endpoint, &who)?;
    Ok(vec![
        kv("hex", hex::encode(fp)),
        kv("trust", trust_word(endpoint, &who, &fp)),
    ])
}

fn trust(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    let who = args.text(1);
    let fp = active_fingerprint(endpoint, &who)?;
    let word = args.optional(2).unwrap_or_else(|| "verified".to_owned());
    endpoint.set_trust(&who, fp, &word);
    Ok(Vec::new())
}

fn instag(peer: &mut Peer, _args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    Ok(vec![kv("instag", endpoint.instance_tag())])
}

/// libotr's `nextExpected` while no SMP runs: `OTRL_SMP_EXPECT1`, which is 0 in its enum (the
/// libotr peer prints 0 here too, also when it has no session).
const SMP_EXPECT1: u32 = 0;

fn status(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    let who = args.text(1);
    let Some(s) = endpoint.status(&who, None) else {
        return Ok(vec![
            kv("msgstate", "none"),
            kv("version", 0),
            kv("their_instag", InstanceTag::ZERO),
            kv("our_instag", endpoint.instance_tag()),
            kv("fingerprint", "-"),
            kv("trust", "-"),
            kv("smp_expect", SMP_EXPECT1),
            kv("ssid", "-"),
        ]);
    };
    let (fp, trust) = match &s.their_fingerprint {
        Some(fp) => (hex::encode(fp), trust_word(endpoint, &who, fp)),
        None => ("-".to_owned(), "-".to_owned()),
    };
    Ok(vec![
        kv("msgstate", s.message_state.name()),
        kv("version", s.version.unwrap_or(0)),
        kv("their_instag", s.their_instance),
        kv("our_instag", s.our_instance),
        kv("fingerprint", fp),
        kv("trust", trust),
        kv("smp_expect", s.smp.libotr_next_expected),
        kv(
            "ssid",
            s.ssid.map_or_else(|| "-".to_owned(), |ssid| ssid.to_hex()),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// libotr's trust files (test extensions shared with the libotr peer)
// ---------------------------------------------------------------------------------------------
//
//   write-fingerprints <file>  every known fingerprint of every peer, with its trust, as
//                              libotr's otr.fingerprints      -> ok entries=<n>
//   read-fingerprints <file>   records the entries of our account and protocol as known, with
//                              their trust (others are left) -> ok imported=<n> ignored=<n>
//   fingerprints               known-fingerprint <peer> <account> <protocol> <hex> <trust>
//   write-instags <file>       the tags read earlier, with ours for our account -> ok entries=<n>
//   read-instags <file>        remembers the file's tags; a later init without an instance
//                              tag takes the one of its account -> ok entries=<n>
//   instags                    known-instag <account> <protocol> <hex8>, as write-instags
//                              would write them

/// The account `init` named (the files are keyed by account and protocol).
fn account(peer: &Peer) -> Result<Account, Refusal> {
    peer.account()
        .cloned()
        .ok_or_else(|| Refusal::new("account unknown: send init first"))
}

/// Every known fingerprint, as lines of libotr's file for our account.
fn fingerprint_entries(endpoint: &Endpoint, account: &Account) -> Vec<FingerprintEntry> {
    endpoint
        .peers()
        .flat_map(|who| {
            endpoint
                .fingerprints(who)
                .into_iter()
                .map(move |(fingerprint, trust)| FingerprintEntry {
                    username: who.to_owned(),
                    account: account.name.clone(),
                    protocol: account.protocol.clone(),
                    fingerprint,
                    trust: trust.to_owned(),
                })
        })
        .collect()
}

fn read_text(path: &str) -> Result<String, Refusal> {
    let bytes =
        std::fs::read(path).map_err(|e| Refusal::new(format!("cannot read {path}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Refusal::new(format!("cannot read {path}: not UTF-8")))
}

fn write_fingerprints(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let account = account(peer)?;
    let (endpoint, _, _) = parts!(peer);
    let path = args.text(1);
    let entries = fingerprint_entries(endpoint, &account);
    let text = keyfile::write_fingerprints(&entries)
        .map_err(|e| Refusal::new(format!("cannot write {path}: {e}")))?;
    files::write_private(Path::new(&path), text.as_bytes())
        .map_err(|e| Refusal::new(format!("cannot write {path}: {e}")))?;
    Ok(vec![kv("entries", entries.len())])
}

fn read_fingerprints(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let account = account(peer)?;
    let (endpoint, _, _) = parts!(peer);
    let path = args.text(1);
    let entries = keyfile::parse_fingerprints(&read_text(&path)?)
        .map_err(|e| Refusal::new(format!("cannot read {path}: {e}")))?;
    let (ours, others): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| e.account == account.name && e.protocol == account.protocol);
    for entry in &ours {
        endpoint.set_trust(&entry.username, entry.fingerprint, &entry.trust);
    }
    Ok(vec![
        kv("imported", ours.len()),
        kv("ignored", others.len()),
    ])
}

fn fingerprints(peer: &mut Peer, _args: &Args, records: &mut Vec<Record>) -> Outcome {
    let account = account(peer)?;
    let (endpoint, _, _) = parts!(peer);
    records.extend(
        fingerprint_entries(endpoint, &account)
            .into_iter()
            .map(|e| {
                Record::new("known-fingerprint")
                    .field(e.username)
                    .field(e.account)
                    .field(e.protocol)
                    .field(hex::encode(e.fingerprint))
                    .field(e.trust)
            }),
    );
    Ok(Vec::new())
}

/// The tags read with `read-instags`, with ours (once there is an endpoint) in place of any
/// read for our account.
fn instag_entries(peer: &Peer) -> Vec<InstagEntry> {
    let ours = peer
        .account()
        .zip(peer.endpoint())
        .map(|(a, e)| InstagEntry {
            account: a.name.clone(),
            protocol: a.protocol.clone(),
            instag: e.instance_tag(),
        });
    let mut entries: Vec<InstagEntry> = peer
        .instags()
        .iter()
        .filter(|e| {
            ours.as_ref()
                .is_none_or(|o| e.account != o.account || e.protocol != o.protocol)
        })
        .cloned()
        .collect();
    entries.extend(ours);
    entries
}

fn write_instags(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    account(peer)?;
    let path = args.text(1);
    let entries = instag_entries(peer);
    let text = keyfile::write_instags(&entries)
        .map_err(|e| Refusal::new(format!("cannot write {path}: {e}")))?;
    files::write_private(Path::new(&path), text.as_bytes())
        .map_err(|e| Refusal::new(format!("cannot write {path}: {e}")))?;
    Ok(vec![kv("entries", entries.len())])
}

fn read_instags(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let path = args.text(1);
    let entries = keyfile::parse_instags(&read_text(&path)?)
        .map_err(|e| Refusal::new(format!("cannot read {path}: {e}")))?;
    let count = entries.len();
    peer.set_instags(entries);
    Ok(vec![kv("entries", count)])
}

fn instags(peer: &mut Peer, _args: &Args, records: &mut Vec<Record>) -> Outcome {
    records.extend(instag_entries(peer).into_iter().map(|e| {
        Record::new("known-instag")
            .field(e.account)
            .field(e.protocol)
            .field(e.instag.to_string())
    }));
    Ok(Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Persistence and process control
// ---------------------------------------------------------------------------------------------

fn save(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let (endpoint, _, _) = parts!(peer);
    let path = args.text(1);
    let state = endpoint.save();
    files::write_private(Path::new(&path), &state)
        .map_err(|e| Refusal::new(format!("cannot write {path}: {e}")))?;
    Ok(Vec::new())
}

fn load(peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    let path = args.text(1);
    let bytes = files::read_private(Path::new(&path))
        .map_err(|e| Refusal::new(format!("cannot read {path}: {e}")))?;
    // The configuration in force stays: it is the process's, not the saved state's.
    let endpoint = Endpoint::restore(&bytes, peer.config().clone())
        .map_err(|e| Refusal::new(format!("cannot load {path}: {e}")))?;
    let values = vec![
        kv(
            "fingerprint",
            keys::human_fingerprint(&endpoint.fingerprint()),
        ),
        kv("instag", endpoint.instance_tag()),
    ];
    peer.replace_endpoint(endpoint);
    Ok(values)
}

fn echo(_peer: &mut Peer, args: &Args, _records: &mut Vec<Record>) -> Outcome {
    Ok((1..args.len()).map(|i| args.text(i)).collect())
}

fn quit(_peer: &mut Peer, _args: &Args, _records: &mut Vec<Record>) -> Outcome {
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    fn lines(peer: &mut Peer, line: &str) -> Vec<String> {
        handle_line(peer, line.as_bytes())
            .unwrap()
            .records
            .iter()
            .map(Record::to_line)
            .collect()
    }

    fn peer() -> Peer {
        Peer::new(ChaCha20Rng::seed_from_u64(9))
    }

    #[test]
    fn every_command_is_listed_once_with_sane_arity() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(
                c.min_fields >= 1 && c.min_fields <= c.max_fields,
                "{}",
                c.name
            );
            assert!(c.usage.starts_with(c.name), "{}", c.name);
            assert!(COMMANDS.iter().skip(i + 1).all(|d| d.name != c.name));
        }
    }

    #[test]
    fn bad_input_gets_err() {
        let mut p = peer();
        assert_eq!(
            lines(&mut p, "nonsense"),
            ["err\tnonsense\tunknown command"]
        );
        assert_eq!(lines(&mut p, "\tx"), ["err\t?\tunknown command"]);
        assert_eq!(
            lines(&mut p, "send bob"),
            ["err\tsend\tusage: send <peer> <text>"]
        );
        assert_eq!(
            lines(&mut p, "send bob hi"),
            ["err\tsend\tnot initialised: send init (or load) first"]
        );
        assert!(lines(&mut p, "echo\ta\\q")[0].starts_with("err\techo\tfield 2: unknown escape"));
        assert!(lines(&mut p, "\\q")[0].starts_with("err\t?\tfield 1:"));
        assert!(lines(&mut p, "policy sometimes")[0].starts_with("err\tpolicy\tunknown policy"));
        assert!(lines(&mut p, "fragsize -5")[0].starts_with("err\tfragsize"));
        assert!(lines(&mut p, "seed x")[0].starts_with("err\tseed"));
        assert!(lines(&mut p, "init a b generate ff")[0].starts_with("err\tinit\tinstance tag"));
        assert!(lines(&mut p, "load /nonexistent/state")[0].starts_with("err\tload\tcannot read"));
        assert!(handle_line(&mut p, b"").is_none());
        // Invalid UTF-8 is taken lossily.
        let r = handle_line(&mut p, b"echo \xff\xfeok").unwrap();
        assert_eq!(r.records[0].to_line(), "ok\techo\t\u{fffd}\u{fffd}ok");
    }

    #[test]
    fn settings_before_init() {
        let mut p = peer();
        assert_eq!(lines(&mut p, "policy always"), ["ok\tpolicy"]);
        assert_eq!(p.config().policy, Policy::ALWAYS);
        assert_eq!(lines(&mut p, "fragsize 0x40"), ["ok\tfragsize"]);
        assert_eq!(p.config().max_message_size, 64);
        assert_eq!(lines(&mut p, "seed 5"), ["ok\tseed"]);
        assert_eq!(lines(&mut p, "seed off"), ["ok\tseed"]);
        assert_eq!(lines(&mut p, "echo a b\\tc"), ["ok\techo\ta b\\tc"]);
        assert_eq!(lines(&mut p, "echo"), ["ok\techo"]);
        let quit = handle_line(&mut p, b"quit").unwrap();
        assert!(quit.quit);
    }

    #[test]
    fn numbers_and_tags() {
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("0x1F"), Some(31));
        assert_eq!(parse_number("+1"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("99999999999999999999"), None);
        assert_eq!(parse_instance_tag("100"), Some(InstanceTag::new(0x100)));
        assert_eq!(
            parse_instance_tag("0xFFFFFFFF"),
            Some(InstanceTag::new(u32::MAX))
        );
        assert_eq!(parse_instance_tag("ff"), None);
        assert_eq!(parse_instance_tag("100000000"), None);
        assert_eq!(parse_instance_tag("-100"), None);
    }
}
