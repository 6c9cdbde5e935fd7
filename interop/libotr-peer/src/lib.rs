//! Test support for OTR interop: a libotr 4.1.1 endpoint that speaks the OTR peer protocol
//! (`shared/otr-peer-protocol.md`), and a driver for any process that speaks it.
//!
//! The build script compiles `libotr_peer.c`, our own program against libotr's public API, into
//! an executable whose path is [`LIBOTR_PEER_BIN`]. [`PeerProcess`] runs such a process (that one,
//! or Offrecord's `otr-peer`), sends it one command at a time and collects the records it answers
//! with. Every `wire` record a peer prints is also queued in the peer's outbox, and [`relay`]
//! carries those queued messages between two peers until neither has anything more to say: the
//! network of a two-party test.
//!
//! ```
//! use libotr_peer::{PeerProcess, relay};
//!
//! # fn main() -> Result<(), libotr_peer::DriverError> {
//! let mut alice = PeerProcess::libotr()?;
//! let mut bob = PeerProcess::libotr()?;
//! alice.init("alice", "prpl-test", "generate", None)?;
//! bob.init("bob", "prpl-test", "generate", None)?;
//!
//! alice.command_ok(&["query", "bob"])?;
//! relay(&mut alice, &mut bob)?;
//! assert_eq!(bob.command_ok(&["status", "alice"])?.ok_value("msgstate"), Some("encrypted"));
//!
//! bob.command_ok(&["send", "alice", "hi"])?;
//! let relayed = relay(&mut alice, &mut bob)?;
//! assert_eq!(relayed.at_a.deliveries()[0].text, "hi");
//! # Ok(())
//! # }
//! ```
//!
//! Besides the peer protocol, the libotr peer has **Offrecord test extensions** for libotr's
//! trust files, answered with records that are not part of the protocol (documented in
//! `libotr_peer.c`, "Offrecord test extensions"): `write-fingerprints <file>`,
//! `read-fingerprints <file>`, `fingerprints` (records `known-fingerprint <username>
//! <accountname> <protocol> <hex> <trust>`), `write-instags <file>`, `read-instags <file>` and
//! `instags` (records `known-instag <accountname> <protocol> <hex8>`). Offrecord's `otr-peer`
//! implements the same commands, so a test can run either way. [`Reply::records`] holds these
//! records like any other.
//!
//! This is test support: its errors carry transcripts rather than being minimal, and it trusts
//! the peers it drives only as far as the framing goes (a malformed record is an error, never a
//! panic).

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Path of the libotr peer executable that the build script compiled.
pub const LIBOTR_PEER_BIN: &str = env!("LIBOTR_PEER_BIN");

/// How long [`PeerProcess::command`] waits for a command's `ok`/`err` before giving up, unless
/// changed with [`PeerProcess::set_timeout`]. Long enough for DSA key generation on a slow CI
/// machine, short enough that a hung peer fails the test instead of hanging the run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How many messages [`relay`] forwards before deciding the peers are looping.
pub const RELAY_LIMIT: usize = 1000;

/// How many transcript lines an error message quotes.
const TRANSCRIPT_TAIL: usize = 30;

// ---------------------------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------------------------

/// A field that does not follow the peer protocol's escaping rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// The field ends in a backslash that escapes nothing.
    #[error("lone backslash at the end of the field (byte {offset})")]
    LoneBackslash {
        /// Byte offset of the backslash in the escaped field.
        offset: usize,
    },
    /// `\x` is not followed by two hex digits.
    #[error("\\x at byte {offset} is not followed by two hex digits")]
    BadHex {
        /// Byte offset of the backslash in the escaped field.
        offset: usize,
    },
    /// A backslash followed by something other than `\`, `t`, `n`, `r` or `x`.
    #[error("unknown escape \\{found} at byte {offset}")]
    UnknownEscape {
        /// Byte offset of the backslash in the escaped field.
        offset: usize,
        /// The character after the backslash.
        found: char,
    },
    /// The unescaped bytes are not UTF-8 (only from [`unescape_field`]).
    #[error("the unescaped field is not UTF-8")]
    NotUtf8,
}

/// Escapes one field: backslash, TAB, LF, CR and the other ASCII control characters become
/// `\\`, `\t`, `\n`, `\r` and `\xHH`; everything else stays literal.
pub fn escape_field(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        push_escaped_char(&mut out, c);
    }
    out
}

/// Escapes bytes that need not be UTF-8: like [`escape_field`], and every byte that is not part
/// of well-formed UTF-8 becomes `\xHH`.
pub fn escape_bytes(field: &[u8]) -> String {
    let mut out = String::with_capacity(field.len());
    for chunk in field.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped_char(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
        c => out.push(c),
    }
}

/// Undoes [`escape_bytes`]: the raw bytes of one escaped field.
pub fn unescape_bytes(field: &str) -> Result<Vec<u8>, EscapeError> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let offset = i;
        match bytes.get(i + 1) {
            None => return Err(EscapeError::LoneBackslash { offset }),
            Some(b'\\') => out.push(b'\\'),
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'x') => {
                let hi = bytes.get(i + 2).and_then(|&h| hex_digit(h));
                let lo = bytes.get(i + 3).and_then(|&l| hex_digit(l));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => return Err(EscapeError::BadHex { offset }),
                }
                i += 2;
            }
            Some(_) => {
                let found = field
                    .get(i + 1..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(EscapeError::UnknownEscape { offset, found });
            }
        }
        i += 2;
    }
    Ok(out)
}

/// Undoes [`escape_field`]: one escaped field as text, which must be UTF-8.
pub fn unescape_field(field: &str) -> Result<String, EscapeError> {
    String::from_utf8(unescape_bytes(field)?).map_err(|_| EscapeError::NotUtf8)
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Joins fields into one command or record line (without the line end), escaping each.
pub fn format_line<S: AsRef<str>>(fields: &[S]) -> String {
    fields
        .iter()
        .map(|f| escape_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join("\t")
}

// ---------------------------------------------------------------------------------------------
// Records and replies
// ---------------------------------------------------------------------------------------------

/// One output line of a peer: its kind (`wire`, `deliver`, `event`, `ok`...) and its unescaped
/// fields after the kind.
///
/// Fields are text: bytes that are not UTF-8 after unescaping (which a peer prints only for
/// text that was not UTF-8 to begin with) are replaced by U+FFFD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The first field: `ready`, `wire`, `deliver`, `tlv`, `event`, `ok` or `err`.
    pub kind: String,
    /// The other fields, unescaped.
    pub fields: Vec<String>,
}

impl Record {
    /// Parses one line (without its line end) into a record.
    pub fn parse(line: &str) -> Result<Self, EscapeError> {
        let mut fields = line
            .split('\t')
            .map(|f| unescape_bytes(f).map(|b| String::from_utf8_lossy(&b).into_owned()));
        let kind = fields.next().transpose()?.unwrap_or_default();
        let fields = fields.collect::<Result<Vec<_>, _>>()?;
        Ok(Self { kind, fields })
    }

    /// The field at `index` (0 is the first field after the kind).
    pub fn field(&self, index: usize) -> Option<&str> {
        self.fields.get(index).map(String::as_str)
    }

    /// The value of the first `key=value` field with this key.
    pub fn value(&self, key: &str) -> Option<&str> {
        key_value(&self.fields, key)
    }

    /// The record as a line, escaped again (for messages and transcripts).
    pub fn to_line(&self) -> String {
        let mut line = escape_field(&self.kind);
        for f in &self.fields {
            line.push('\t');
            line.push_str(&escape_field(f));
        }
        line
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

fn key_value<'a>(fields: &'a [String], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find_map(|f| f.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// Whether delivered text came out of the OTR layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Decrypted, or a tagged plaintext with its whitespace tag removed (`otr`).
    Otr,
    /// Not an OTR message at all (`plain`).
    Plain,
}

/// Text a peer delivered to its local user (a `deliver` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Who sent it.
    pub peer: String,
    /// The text.
    pub text: String,
    /// Whether it came out of the OTR layer.
    pub origin: Origin,
}

/// A TLV that arrived in a data message (a `tlv` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Who sent it.
    pub peer: String,
    /// The TLV type (1 disconnected, 2-7 SMP, 8 extra symmetric key...).
    pub tlv_type: u16,
    /// Its value, lowercase hex as printed.
    pub data_hex: String,
}

/// What a peer answered to one command: the records it printed, then its `ok` or `err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Every record before the final `ok`/`err`, in order.
    pub records: Vec<Record>,
    /// Whether the command ended in `ok` (else `err`).
    pub ok: bool,
    /// The fields of the final record: the command name, then `key=value`s for `ok` or the
    /// reason for `err`.
    pub fields: Vec<String>,
}

impl Reply {
    /// `(peer, message)` of every `wire` record: what the peer transmitted, in order.
    pub fn wires(&self) -> Vec<(String, String)> {
        self.of_kind("wire")
            .filter_map(|r| Some((r.field(0)?.to_owned(), r.field(1)?.to_owned())))
            .collect()
    }

    /// Every `deliver` record.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.of_kind("deliver")
            .filter_map(|r| {
                let origin = match r.field(2)? {
                    "otr" => Origin::Otr,
                    _ => Origin::Plain,
                };
                Some(Delivery {
                    peer: r.field(0)?.to_owned(),
                    text: r.field(1)?.to_owned(),
                    origin,
                })
            })
            .collect()
    }

    /// The fields after the name of every `event` record called `name`: the peer, then the
    /// event's arguments (`events("smp")` gives `[peer, "SUCCESS", "100"]`...).
    pub fn events(&self, name: &str) -> Vec<Vec<String>> {
        self.of_kind("event")
            .filter(|r| r.field(0) == Some(name))
            .map(|r| r.fields.iter().skip(1).cloned().collect())
            .collect()
    }

    /// The event names of every `event` record, in order (for quick looks and messages).
    pub fn event_names(&self) -> Vec<String> {
        self.of_kind("event")
            .filter_map(|r| r.field(0).map(str::to_owned))
            .collect()
    }

    /// Every `tlv` record.
    pub fn tlvs(&self) -> Vec<Tlv> {
        self.of_kind("tlv")
            .filter_map(|r| {
                Some(Tlv {
                    peer: r.field(0)?.to_owned(),
                    tlv_type: r.field(1)?.parse().ok()?,
                    data_hex: r.field(2)?.to_owned(),
                })
            })
            .collect()
    }

    /// The value of `key` in the `ok` record (`ok_value("msgstate")` of a `status` reply).
    /// `None` for an `err` reply.
    pub fn ok_value(&self, key: &str) -> Option<&str> {
        if !self.ok {
            return None;
        }
        key_value(self.fields.get(1..).unwrap_or_default(), key)
    }

    /// The command name the final record names.
    pub fn command(&self) -> Option<&str> {
        self.fields.first().map(String::as_str)
    }

    /// The reason of an `err` reply.
    pub fn reason(&self) -> Option<&str> {
        if self.ok {
            return None;
        }
        self.fields.get(1).map(String::as_str)
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.kind == kind)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why driving a peer process failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What the OS said.
        source: io::Error,
    },
    /// Writing to the process failed.
    #[error("{label}: cannot write a command: {source}")]
    Io {
        /// Which peer.
        label: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The process did not finish a command in time.
    #[error("{label}: no ok/err for `{command}` after {after:?}; transcript tail:\n{transcript}")]
    Timeout {
        /// Which peer.
        label: String,
        /// The command line that was sent.
        command: String,
        /// How long we waited.
        after: Duration,
        /// The last lines exchanged.
        transcript: String,
    },
    /// The process closed its output before finishing a command.
    #[error("{label}: exited ({status}) during `{command}`; transcript tail:\n{transcript}")]
    Exited {
        /// Which peer.
        label: String,
        /// The command line that was sent (empty while waiting for `ready`).
        command: String,
        /// Its exit status, if it had one yet.
        status: String,
        /// The last lines exchanged.
        transcript: String,
    },
    /// The process printed a line that is not a well-formed record.
    #[error("{label}: malformed record {line:?}: {source}")]
    Malformed {
        /// Which peer.
        label: String,
        /// The line as printed.
        line: String,
        /// What is wrong with it.
        source: EscapeError,
    },
    /// The process's first record was not `ready`.
    #[error("{label}: expected a ready record first, got {line:?}")]
    NotReady {
        /// Which peer.
        label: String,
        /// What it printed instead.
        line: String,
    },
    /// The command ended in `err` where `ok` was required ([`PeerProcess::command_ok`]).
    #[error("{label}: `{command}` failed: {reason}")]
    Refused {
        /// Which peer.
        label: String,
        /// The command line that was sent.
        command: String,
        /// The reason the peer gave.
        reason: String,
        /// The whole reply.
        reply: Box<Reply>,
    },
    /// A command needs at least its name.
    #[error("an empty command cannot be sent")]
    EmptyCommand,
    /// [`relay`] needs to know each peer's account, which [`PeerProcess::init`] or a successful
    /// `init` command through [`PeerProcess::command`] records.
    #[error("{label}: account unknown (send init first)")]
    NoAccount {
        /// Which peer.
        label: String,
    },
    /// [`relay`] forwarded [`RELAY_LIMIT`] messages without the peers going quiet.
    #[error("relay between {a} and {b} did not go quiet after {limit} messages")]
    RelayLimit {
        /// One peer.
        a: String,
        /// The other.
        b: String,
        /// How many messages were forwarded.
        limit: usize,
    },
}

// ---------------------------------------------------------------------------------------------
// The process driver
// ---------------------------------------------------------------------------------------------

/// A running peer-protocol process: one OTR endpoint.
///
/// Records arrive on a reader thread, so every wait has a deadline ([`DEFAULT_TIMEOUT`]). The
/// process is killed when this is dropped.
#[derive(Debug)]
pub struct PeerProcess {
    label: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<io::Result<String>>,
    ready: Record,
    account: Option<String>,
    outbox: VecDeque<(String, String)>,
    transcript: Vec<String>,
    timeout: Duration,
}

impl PeerProcess {
    /// Starts the libotr peer ([`LIBOTR_PEER_BIN`]) and waits for its `ready` record.
    pub fn libotr() -> Result<Self, DriverError> {
        Self::spawn(LIBOTR_PEER_BIN, NO_ARGS)
    }

    /// Starts any peer-protocol program with these arguments and waits for its `ready` record.
    /// Its stderr goes to ours.
    pub fn spawn<P, A>(program: P, args: &[A]) -> Result<Self, DriverError>
    where
        P: AsRef<OsStr>,
        A: AsRef<OsStr>,
    {
        let program = program.as_ref();
        let label = Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy()
            .into_owned();
        let spawn_error = |source| DriverError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        };
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(spawn_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(io::Error::other("no pipes to the child")));
        };
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        let text = String::from_utf8_lossy(&line).into_owned();
                        if sender.send(Ok(text)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = sender.send(Err(e));
                        break;
                    }
                }
            }
        });
        let mut peer = Self {
            label,
            child,
            stdin,
            lines,
            ready: Record {
                kind: String::new(),
                fields: Vec::new(),
            },
            account: None,
            outbox: VecDeque::new(),
            transcript: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        };
        let first = peer.next_record("")?;
        if first.kind != "ready" {
            return Err(DriverError::NotReady {
                label: peer.label.clone(),
                line: first.to_line(),
            });
        }
        peer.ready = first;
        Ok(peer)
    }

    /// Names this peer in errors and transcripts (default: the program's file name).
    pub fn set_label(&mut self, label: impl Into<String>) {
        self.label = label.into();
    }

    /// The name used in errors.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Changes how long a command may take.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The `ready` record the process started with (`impl=...`, `version=...`).
    pub fn ready(&self) -> &Record {
        &self.ready
    }

    /// The account given to the last successful `init`, if any.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// `(peer, message)` of every `wire` record not yet relayed or taken, oldest first.
    pub fn outbox(&self) -> &VecDeque<(String, String)> {
        &self.outbox
    }

    /// Empties the outbox, returning what it held (to drop, reorder or tamper with messages).
    pub fn take_outbox(&mut self) -> Vec<(String, String)> {
        self.outbox.drain(..).collect()
    }

    /// Every line sent (`> `) and received (`< `) so far.
    pub fn transcript(&self) -> &[String] {
        &self.transcript
    }

    /// Sends one command (the fields are escaped and joined by TAB) and reads records until its
    /// `ok` or `err`. An `err` is a successful [`Reply`] with `ok == false`.
    pub fn command<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<Reply, DriverError> {
        if fields.is_empty() {
            return Err(DriverError::EmptyCommand);
        }
        let line = format_line(fields);
        self.transcript.push(format!("> {line}"));
        let written = self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.write_all(b"\n"))
            .and_then(|()| self.stdin.flush());
        if let Err(source) = written {
            if source.kind() == io::ErrorKind::BrokenPipe {
                return Err(self.exited(&line));
            }
            return Err(DriverError::Io {
                label: self.label.clone(),
                source,
            });
        }

        let mut records = Vec::new();
        let deadline = Instant::now() + self.timeout;
        loop {
            let record = self.next_record_until(&line, deadline)?;
            match record.kind.as_str() {
                "ok" | "err" => {
                    let reply = Reply {
                        records,
                        ok: record.kind == "ok",
                        fields: record.fields,
                    };
                    if reply.ok && fields.first().map(AsRef::as_ref) == Some("init") {
                        self.account = fields.get(1).map(|a| a.as_ref().to_owned());
                    }
                    return Ok(reply);
                }
                "wire" => {
                    if let (Some(peer), Some(message)) = (record.field(0), record.field(1)) {
                        self.outbox.push_back((peer.to_owned(), message.to_owned()));
                    }
                    records.push(record);
                }
                _ => records.push(record),
            }
        }
    }

    /// Like [`command`](Self::command), but an `err` reply is a [`DriverError::Refused`].
    pub fn command_ok<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<Reply, DriverError> {
        let reply = self.command(fields)?;
        if reply.ok {
            return Ok(reply);
        }
        Err(DriverError::Refused {
            label: self.label.clone(),
            command: format_line(fields),
            reason: reply.reason().unwrap_or_default().to_owned(),
            reply: Box::new(reply),
        })
    }

    /// `init <account> <protocol> <keyfile|generate> [instag]`, which must succeed.
    pub fn init(
        &mut self,
        account: &str,
        protocol: &str,
        keyfile: &str,
        instag: Option<&str>,
    ) -> Result<Reply, DriverError> {
        let mut fields = vec!["init", account, protocol, keyfile];
        fields.extend(instag);
        self.command_ok(&fields)
    }

    /// `status <peer>`, which must succeed.
    pub fn status(&mut self, peer: &str) -> Result<Reply, DriverError> {
        self.command_ok(&["status", peer])
    }

    /// Sends `quit` and waits for the process to exit.
    pub fn quit(mut self) -> Result<ExitStatus, DriverError> {
        self.command_ok(&["quit"])?;
        self.child.wait().map_err(|source| DriverError::Io {
            label: self.label.clone(),
            source,
        })
    }

    fn next_record(&mut self, command: &str) -> Result<Record, DriverError> {
        let deadline = Instant::now() + self.timeout;
        self.next_record_until(command, deadline)
    }

    fn next_record_until(
        &mut self,
        command: &str,
        deadline: Instant,
    ) -> Result<Record, DriverError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = match self.lines.recv_timeout(wait) {
            Ok(Ok(line)) => line,
            Ok(Err(source)) => {
                return Err(DriverError::Io {
                    label: self.label.clone(),
                    source,
                });
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(DriverError::Timeout {
                    label: self.label.clone(),
                    command: command.to_owned(),
                    after: self.timeout,
                    transcript: self.transcript_tail(),
                });
            }
            Err(RecvTimeoutError::Disconnected) => return Err(self.exited(command)),
        };
        self.transcript.push(format!("< {line}"));
        Record::parse(&line).map_err(|source| DriverError::Malformed {
            label: self.label.clone(),
            line,
            source,
        })
    }

    fn exited(&mut self, command: &str) -> DriverError {
        // Give a process that is exiting a moment to be reaped, for a useful status.
        let mut status = None;
        for _ in 0..20 {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        DriverError::Exited {
            label: self.label.clone(),
            command: command.to_owned(),
            status: status.map_or_else(|| "still running".to_owned(), |s| s.to_string()),
            transcript: self.transcript_tail(),
        }
    }

    fn transcript_tail(&self) -> String {
        let start = self.transcript.len().saturating_sub(TRANSCRIPT_TAIL);
        self.transcript.get(start..).unwrap_or_default().join("\n")
    }

    /// Removes and returns the oldest queued wire message addressed to `to`.
    fn pop_wire_to(&mut self, to: &str) -> Option<String> {
        let index = self.outbox.iter().position(|(peer, _)| peer == to)?;
        self.outbox.remove(index).map(|(_, message)| message)
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Relaying
// ---------------------------------------------------------------------------------------------

/// What each side printed while [`relay`] fed it the other's messages.
///
/// `at_a` and `at_b` gather the records of every `recv` at that side, in order, as one
/// [`Reply`] (always `ok`, `fields == ["recv"]`), so that its helpers apply:
/// `relayed.at_b.deliveries()`, `relayed.at_a.events("smp")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// Records printed by the first peer.
    pub at_a: Reply,
    /// Records printed by the second peer.
    pub at_b: Reply,
    /// How many messages went from the first peer to the second.
    pub a_to_b: usize,
    /// How many messages went from the second peer to the first.
    pub b_to_a: usize,
}

/// Carries queued `wire` messages between two peers until both are quiet: each message `a`
/// addressed to `b`'s account is given to `b` as `recv <a's account> <message>`, and the other
/// way round; whatever that makes them send is carried too. Messages to anyone else stay in the
/// outboxes. Each round drains one side's queue in order, then the other's.
pub fn relay(a: &mut PeerProcess, b: &mut PeerProcess) -> Result<Relayed, DriverError> {
    let no_account = |p: &PeerProcess| DriverError::NoAccount {
        label: p.label.clone(),
    };
    let a_account = a.account.clone().ok_or_else(|| no_account(a))?;
    let b_account = b.account.clone().ok_or_else(|| no_account(b))?;
    let empty = || Reply {
        records: Vec::new(),
        ok: true,
        fields: vec!["recv".to_owned()],
    };
    let mut relayed = Relayed {
        at_a: empty(),
        at_b: empty(),
        a_to_b: 0,
        b_to_a: 0,
    };
    loop {
        let mut moved = false;
        while let Some(message) = a.pop_wire_to(&b_account) {
            let reply = b.command_ok(&["recv", a_account.as_str(), message.as_str()])?;
            relayed.at_b.records.extend(reply.records);
            relayed.a_to_b += 1;
            moved = true;
            check_limit(&relayed, a, b)?;
        }
        while let Some(message) = b.pop_wire_to(&a_account) {
            let reply = a.command_ok(&["recv", b_account.as_str(), message.as_str()])?;
            relayed.at_a.records.extend(reply.records);
            relayed.b_to_a += 1;
            moved = true;
            check_limit(&relayed, a, b)?;
        }
        if !moved {
            return Ok(relayed);
        }
    }
}

fn check_limit(relayed: &Relayed, a: &PeerProcess, b: &PeerProcess) -> Result<(), DriverError> {
    if relayed.a_to_b + relayed.b_to_a >= RELAY_LIMIT {
        return Err(DriverError::RelayLimit {
            a: a.label.clone(),
            b: b.label.clone(),
            limit: RELAY_LIMIT,
        });
    }
    Ok(())
}

/// Arguments for [`PeerProcess::spawn`] when there are none.
pub const NO_ARGS: &[&OsStr] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        let samples = [
            "",
            "plain",
            "a\tb\nc\rd\\e",
            "\u{1}\u{7f}x",
            "ünïcödé ✓",
            "\\x41",
        ];
        for s in samples {
            let escaped = escape_field(s);
            assert!(!escaped.contains(['\t', '\n', '\r']), "{escaped:?}");
            assert_eq!(unescape_field(&escaped).as_deref(), Ok(s));
        }
        assert_eq!(escape_field("a\tb\\"), "a\\tb\\\\");
        assert_eq!(escape_field("\u{0}"), "\\x00");
    }

    #[test]
    fn bytes_round_trip() {
        let raw = [b'o', 0xff, 0xc3, 0xa9, 0x80, b'\n'];
        let escaped = escape_bytes(&raw);
        assert_eq!(escaped, "o\\xffé\\x80\\n");
        assert_eq!(unescape_bytes(&escaped), Ok(raw.to_vec()));
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(
            unescape_field("ab\\"),
            Err(EscapeError::LoneBackslash { offset: 2 })
        );
        assert_eq!(
            unescape_field("\\x4"),
            Err(EscapeError::BadHex { offset: 0 })
        );
        assert_eq!(
            unescape_field("\\xg0"),
            Err(EscapeError::BadHex { offset: 0 })
        );
        assert_eq!(
            unescape_field("x\\q"),
            Err(EscapeError::UnknownEscape {
                offset: 1,
                found: 'q'
            })
        );
        assert_eq!(unescape_field("\\xff"), Err(EscapeError::NotUtf8));
        assert_eq!(unescape_field("\\x41\\x42"), Ok("AB".to_owned()));
    }

    #[test]
    fn records_parse() {
        let r = Record::parse("ok\tstatus\tmsgstate=encrypted\tssid=0a").unwrap();
        assert_eq!(r.kind, "ok");
        assert_eq!(r.value("msgstate"), Some("encrypted"));
        assert_eq!(r.value("msg"), None);
        assert_eq!(r.to_line(), "ok\tstatus\tmsgstate=encrypted\tssid=0a");
        let w = Record::parse("wire\tbob\t?OTR:AAM\\n").unwrap();
        assert_eq!(w.fields, ["bob", "?OTR:AAM\n"]);
    }

    #[test]
    fn reply_helpers() {
        let records = [
            "wire\tbob\tm1",
            "deliver\tbob\thello\totr",
            "deliver\tbob\tplain one\tplain",
            "tlv\tbob\t8\t00000001",
            "event\tsmp\tbob\tSUCCESS\t100",
            "event\tgone_secure\tbob\t00000100",
        ]
        .iter()
        .map(|l| Record::parse(l).unwrap())
        .collect();
        let reply = Reply {
            records,
            ok: true,
            fields: vec!["recv".into(), "key=v=w".into()],
        };
        assert_eq!(reply.wires(), [("bob".to_owned(), "m1".to_owned())]);
        let d = reply.deliveries();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].origin, Origin::Otr);
        assert_eq!(d[1].origin, Origin::Plain);
        assert_eq!(reply.events("smp"), [["bob", "SUCCESS", "100"]]);
        assert_eq!(reply.event_names(), ["smp", "gone_secure"]);
        assert_eq!(reply.tlvs()[0].tlv_type, 8);
        assert_eq!(reply.ok_value("key"), Some("v=w"));
        assert_eq!(reply.command(), Some("recv"));
        assert_eq!(reply.reason(), None);
    }
}
