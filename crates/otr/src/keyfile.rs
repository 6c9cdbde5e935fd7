//! libotr's key files: `otr.private_key`, `otr.fingerprints` and `otr.instance_tags`.
//!
//! These are not part of the OTR protocol; they are the files libotr 4.1.1 (and Pidgin, irssi,
//! ...) keep per user, and reading them lets a user bring an existing identity along. The long
//! term key is the DSA key of Protocol-v3 section "Public keys, signatures, and fingerprints";
//! the fingerprint is the SHA-1 over the public key's MPIs; instance tags are those of section
//! "Instance Tags". The formats were learned from files written by libotr 4.1.1 and checked by
//! reading our output back with libotr (see the test fixtures' README).
//!
//! This module only converts text; reading and writing the files (and their permissions) is the
//! caller's business.
//!
//! # `otr.private_key`
//!
//! One S-expression in libgcrypt's "advanced" layout:
//!
//! ```text
//! (privkeys
//!  (account
//! (name "alice@example.org")
//! (protocol prpl-jabber)
//! (private-key
//!  (dsa
//!   (p #00FC07...#)        big-endian hex; a 00 byte is prepended when the high bit is set
//!   (q #00997B...#)
//!   (g #535E36...#)
//!   (y #0AC867...#)
//!   (x #14D034...#)
//!   )
//!  )
//!  )
//! )
//! ```
//!
//! The parser reads every atom form libgcrypt's reader accepts except display hints (`[...]`)
//! and the `{...}` transport encoding: tokens (`prpl-jabber`), quoted strings with C escapes,
//! `#hex#`, `|base64|` and length-prefixed forms (`3:foo`, `3"foo"`, `3#...#`, `3|...|`).
//! Input size, nesting depth, node count and integer sizes are bounded ([`MAX_KEY_FILE_BYTES`],
//! [`MAX_DEPTH`], [`MAX_NODES`], [`MAX_INTEGER_BYTES`]); atoms are wiped when parsing ends.
//!
//! # `otr.fingerprints`
//!
//! One line per known peer key:
//! `username<TAB>accountname<TAB>protocol<TAB>40 hex digits<TAB>trust`, where trust is free text
//! (`verified`, `smp`, ...) and empty for an unverified key. libotr writes the last tab even when
//! trust is empty and reads lines without it.
//!
//! # `otr.instance_tags`
//!
//! Lines `accountname<TAB>protocol<TAB>%08x`; lines starting with `#` are comments.

use core::fmt;

use offrecord_crypto::CryptoError;
use offrecord_crypto::dsa::DsaPrivateKey;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::instance::InstanceTag;

/// Largest `otr.private_key` text accepted (4 MiB, about 3000 accounts).
pub const MAX_KEY_FILE_BYTES: usize = 4 << 20;
/// Deepest list nesting accepted (libotr's files nest 5 deep).
pub const MAX_DEPTH: usize = 16;
/// Most S-expression nodes (lists and atoms) accepted in one file.
pub const MAX_NODES: usize = 100_000;
/// Largest DSA value accepted, in bytes after removing leading zeros (a 8192-bit `p`).
pub const MAX_INTEGER_BYTES: usize = 1024;

/// Errors reading or writing libotr key files. Line numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// The private key text is larger than [`MAX_KEY_FILE_BYTES`].
    #[error("key file is {len} bytes long, more than the limit of {max}")]
    InputTooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The private key text is empty or only whitespace (libotr rejects it too).
    #[error("key file is empty")]
    Empty,
    /// A byte that cannot start or continue any S-expression element.
    #[error("line {line}: unexpected byte 0x{byte:02x}")]
    UnexpectedByte {
        /// Line of the byte.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// The input ends inside a list, string, hex or base64 atom that started on `line`.
    #[error("line {line}: input ends before this element is closed")]
    UnexpectedEnd {
        /// Line where the unclosed element starts.
        line: usize,
    },
    /// A `)` without a matching `(`.
    #[error("line {line}: unbalanced ')'")]
    UnbalancedParen {
        /// Line of the parenthesis.
        line: usize,
    },
    /// A backslash escape in a quoted string that libgcrypt does not define.
    #[error("line {line}: invalid escape sequence in quoted string")]
    InvalidEscape {
        /// Line of the escape.
        line: usize,
    },
    /// A `#...#` atom with a non-hex character or an odd number of digits.
    #[error("line {line}: invalid hexadecimal atom")]
    InvalidHex {
        /// Line where the atom starts.
        line: usize,
    },
    /// A `|...|` atom that is not valid base64.
    #[error("line {line}: invalid base64 atom")]
    InvalidBase64 {
        /// Line where the atom starts.
        line: usize,
    },
    /// A length prefix that is too long, or not followed by `:`, `"`, `#` or `|`.
    #[error("line {line}: invalid length prefix")]
    InvalidLength {
        /// Line of the prefix.
        line: usize,
    },
    /// A length-prefixed atom whose content has a different length.
    #[error("line {line}: atom declares {declared} bytes but holds {actual}")]
    LengthMismatch {
        /// Line of the atom.
        line: usize,
        /// Length in the prefix.
        declared: usize,
        /// Length of the content.
        actual: usize,
    },
    /// Valid S-expression syntax that libotr never writes and we do not support.
    #[error("line {line}: unsupported S-expression syntax ({construct})")]
    UnsupportedSyntax {
        /// Line of the construct.
        line: usize,
        /// `"display hint"` or `"transport encoding"`.
        construct: &'static str,
    },
    /// Lists nested deeper than [`MAX_DEPTH`].
    #[error("line {line}: lists nested deeper than {max}")]
    TooDeep {
        /// Line of the list that is too deep.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_NODES`] lists and atoms.
    #[error("line {line}: more than {max} S-expression elements")]
    TooManyNodes {
        /// Line where the limit was reached.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// Something other than whitespace follows the top-level list.
    #[error("line {line}: data after the end of the key list")]
    TrailingData {
        /// Line of the extra data.
        line: usize,
    },
    /// The top-level element is not a `(privkeys ...)` list.
    #[error("line {line}: expected (privkeys ...)")]
    NotPrivkeys {
        /// Line of the top-level element.
        line: usize,
    },
    /// An element of the wrong kind where a specific one is required.
    #[error("line {line}: expected {expected}")]
    UnexpectedElement {
        /// Line of the element.
        line: usize,
        /// What was expected, e.g. `"(account ...)"`.
        expected: &'static str,
    },
    /// A required field is missing from the list starting on `line`.
    #[error("line {line}: missing ({field} ...)")]
    MissingField {
        /// Line where the enclosing list starts.
        line: usize,
        /// The field name.
        field: &'static str,
    },
    /// A field occurs twice.
    #[error("line {line}: duplicate ({field} ...)")]
    DuplicateField {
        /// Line of the second occurrence.
        line: usize,
        /// The field name.
        field: &'static str,
    },
    /// A field is not of the form `(field value)`.
    #[error("line {line}: expected ({field} <value>)")]
    MalformedField {
        /// Line of the field.
        line: usize,
        /// The field name.
        field: &'static str,
    },
    /// A private key of another algorithm than DSA.
    #[error("line {line}: unsupported key type {algorithm:?}; only dsa is supported")]
    UnsupportedKeyType {
        /// Line of the key.
        line: usize,
        /// The algorithm name from the file (at most 32 characters).
        algorithm: String,
    },
    /// A text field is not valid UTF-8.
    #[error("line {line}: {field} is not valid UTF-8")]
    NotUtf8 {
        /// Line of the field.
        line: usize,
        /// The field name.
        field: &'static str,
    },
    /// A DSA value is zero.
    #[error("line {line}: DSA value {field} is zero")]
    ZeroValue {
        /// Line of the value.
        line: usize,
        /// `"p"`, `"q"`, `"g"`, `"y"` or `"x"`.
        field: &'static str,
    },
    /// A DSA value is longer than [`MAX_INTEGER_BYTES`].
    #[error("line {line}: DSA value {field} is {len} bytes long, more than {max}")]
    ValueTooLarge {
        /// Line of the value.
        line: usize,
        /// `"p"`, `"q"`, `"g"`, `"y"` or `"x"`.
        field: &'static str,
        /// Its length without leading zeros.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A NUL byte in a line-based file (libotr's C strings cannot hold it).
    #[error("line {line}: NUL byte")]
    NulByte {
        /// The line.
        line: usize,
    },
    /// A line of a tab-separated file has the wrong number of fields.
    #[error("line {line}: expected {expected} tab-separated fields, found {found}")]
    FieldCount {
        /// The line.
        line: usize,
        /// What was expected, e.g. `"4 or 5"`.
        expected: &'static str,
        /// How many there are.
        found: usize,
    },
    /// A fingerprint field is not 40 hexadecimal digits.
    #[error("line {line}: fingerprint must be 40 hex digits, found {len} characters")]
    InvalidFingerprint {
        /// The line.
        line: usize,
        /// Length of the field in bytes.
        len: usize,
    },
    /// An instance tag field is not 8 hexadecimal digits.
    #[error("line {line}: instance tag must be 8 hex digits, found {len} characters")]
    InvalidInstanceTag {
        /// The line.
        line: usize,
        /// Length of the field in bytes.
        len: usize,
    },
    /// An instance tag below `0x100`, which libotr ignores.
    #[error("line {line}: instance tag {value:#010x} is reserved (below 0x100)")]
    ReservedInstanceTag {
        /// The line.
        line: usize,
        /// The tag.
        value: u32,
    },
    /// Writing: a field holds a character the file format cannot carry (tab in a column,
    /// line break, NUL, or a leading `#` in an instance-tag account name).
    #[error("entry {entry}: {field} cannot be written (tab, line break, NUL or leading '#')")]
    UnrepresentableField {
        /// Index of the entry in the slice passed in.
        entry: usize,
        /// The field name.
        field: &'static str,
    },
    /// Writing: an instance tag below `0x100`.
    #[error("entry {entry}: instance tag {value:#010x} is reserved (below 0x100)")]
    ReservedInstanceTagValue {
        /// Index of the entry in the slice passed in.
        entry: usize,
        /// The tag.
        value: u32,
    },
}

// ------------------------------------------------------------------------------------------
// Private keys
// ------------------------------------------------------------------------------------------

/// One account's DSA key from `otr.private_key`.
///
/// Integers are minimal big-endian (no leading zero bytes; libgcrypt's sign byte is removed).
/// `x` is wiped on drop and redacted from `Debug`; equality compares `x` in constant time.
#[derive(Clone)]
pub struct PrivateKeyEntry {
    /// The account name (libotr's `name`, e.g. `alice@example.org`).
    pub account: String,
    /// The protocol (libotr's `protocol`, e.g. `prpl-jabber`).
    pub protocol: String,
    /// DSA prime modulus `p`.
    pub p: Vec<u8>,
    /// DSA subgroup order `q`.
    pub q: Vec<u8>,
    /// DSA generator `g`.
    pub g: Vec<u8>,
    /// DSA public value `y = g^x mod p`.
    pub y: Vec<u8>,
    /// DSA secret exponent `x`.
    pub x: Zeroizing<Vec<u8>>,
}

impl PrivateKeyEntry {
    /// Builds an entry from a DSA key.
    pub fn from_dsa_private_key(account: &str, protocol: &str, key: &DsaPrivateKey) -> Self {
        let [p, q, g, y] = key.public_key().components();
        PrivateKeyEntry {
            account: account.to_owned(),
            protocol: protocol.to_owned(),
            p,
            q,
            g,
            y,
            x: key.x_bytes(),
        }
    }

    /// Checks the values and builds the DSA key (see `DsaPrivateKey::from_components`).
    ///
    /// # Errors
    ///
    /// The crypto layer's error if the values do not form a valid DSA key.
    pub fn to_dsa_private_key(&self) -> Result<DsaPrivateKey, CryptoError> {
        DsaPrivateKey::from_components(&self.p, &self.q, &self.g, &self.y, &self.x)
    }
}

impl fmt::Debug for PrivateKeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<'a>(&'a [u8]);
        impl fmt::Debug for Hex<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        f.debug_struct("PrivateKeyEntry")
            .field("account", &self.account)
            .field("protocol", &self.protocol)
            .field("p", &Hex(&self.p))
            .field("q", &Hex(&self.q))
            .field("g", &Hex(&self.g))
            .field("y", &Hex(&self.y))
            .field("x", &format_args!("<redacted>"))
            .finish()
    }
}

impl PartialEq for PrivateKeyEntry {
    fn eq(&self, other: &Self) -> bool {
        let x_equal: bool = self.x.as_slice().ct_eq(other.x.as_slice()).into();
        self.account == other.account
            && self.protocol == other.protocol
            && self.p == other.p
            && self.q == other.q
            && self.g == other.g
            && self.y == other.y
            && x_equal
    }
}

impl Eq for PrivateKeyEntry {}

/// Parses libotr's `otr.private_key`, given as the file's bytes (or as text).
///
/// The file is not always UTF-8: libgcrypt prints a number whose bytes are all printable or
/// above 0xA0 (the first one below 0x80) as a quoted string of those raw bytes, so about one
/// key in a few hundred that libotr generates makes a file that is not UTF-8.
///
/// Accounts are returned in file order. Within an account and within `(dsa ...)` fields may come
/// in any order; unknown fields are ignored, duplicated ones rejected.
///
/// # Errors
///
/// A [`KeyFileError`] naming the line of the first problem: syntax, limits, or structure.
pub fn parse_private_keys(file: impl AsRef<[u8]>) -> Result<Vec<PrivateKeyEntry>, KeyFileError> {
    let file = file.as_ref();
    if file.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::InputTooLarge {
            len: file.len(),
            max: MAX_KEY_FILE_BYTES,
        });
    }
    let root = sexp::parse_document(file)?;
    let items = match &root.kind {
        sexp::Kind::List(items) => items,
        sexp::Kind::Atom(_) => return Err(KeyFileError::NotPrivkeys { line: root.line }),
    };
    let Some((head, accounts)) = items.split_first() else {
        return Err(KeyFileError::NotPrivkeys { line: root.line });
    };
    if head.atom() != Some(b"privkeys") {
        return Err(KeyFileError::NotPrivkeys { line: root.line });
    }
    accounts.iter().map(parse_account).collect()
}

fn parse_account(node: &sexp::Node) -> Result<PrivateKeyEntry, KeyFileError> {
    let fields = node
        .tagged_list(b"account")
        .ok_or(KeyFileError::UnexpectedElement {
            line: node.line,
            expected: "(account ...)",
        })?;
    let mut name = None;
    let mut protocol = None;
    let mut key = None;
    for field in fields {
        let Some(tag) = field.list_head() else {
            return Err(KeyFileError::UnexpectedElement {
                line: field.line,
                expected: "(name ...), (protocol ...) or (private-key ...)",
            });
        };
        match tag {
            b"name" => set_once(&mut name, field, "name")?,
            b"protocol" => set_once(&mut protocol, field, "protocol")?,
            b"private-key" => set_once(&mut key, field, "private-key")?,
            _ => {}
        }
    }
    let missing = |field| KeyFileError::MissingField {
        line: node.line,
        field,
    };
    let account = text_value(name.ok_or(missing("name"))?, "name")?;
    let protocol = text_value(protocol.ok_or(missing("protocol"))?, "protocol")?;
    let [p, q, g, y, x] = parse_private_key(key.ok_or(missing("private-key"))?)?;
    Ok(PrivateKeyEntry {
        account,
        protocol,
        p: p.to_vec(),
        q: q.to_vec(),
        g: g.to_vec(),
        y: y.to_vec(),
        x: Zeroizing::new(x.to_vec()),
    })
}

/// Stores `field` in `slot` unless it is already set.
fn set_once<'a>(
    slot: &mut Option<&'a sexp::Node>,
    field: &'a sexp::Node,
    name: &'static str,
) -> Result<(), KeyFileError> {
    if slot.is_some() {
        return Err(KeyFileError::DuplicateField {
            line: field.line,
            field: name,
        });
    }
    *slot = Some(field);
    Ok(())
}

/// The single atom of `(field value)`.
fn field_value<'a>(field: &'a sexp::Node, name: &'static str) -> Result<&'a [u8], KeyFileError> {
    match field.list_items() {
        Some([_, value]) => value.atom().ok_or(KeyFileError::MalformedField {
            line: field.line,
            field: name,
        }),
        _ => Err(KeyFileError::MalformedField {
            line: field.line,
            field: name,
        }),
    }
}

fn text_value(field: &sexp::Node, name: &'static str) -> Result<String, KeyFileError> {
    let bytes = field_value(field, name)?;
    core::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| KeyFileError::NotUtf8 {
            line: field.line,
            field: name,
        })
}

/// `(private-key (dsa (p ..) (q ..) (g ..) (y ..) (x ..)))` → minimal p, q, g, y, x.
fn parse_private_key(field: &sexp::Node) -> Result<[&[u8]; 5], KeyFileError> {
    let algorithm = match field.list_items() {
        Some([_, algorithm]) => algorithm,
        _ => {
            return Err(KeyFileError::MalformedField {
                line: field.line,
                field: "private-key",
            });
        }
    };
    let Some(name) = algorithm.list_head() else {
        return Err(KeyFileError::UnexpectedElement {
            line: algorithm.line,
            expected: "(dsa ...)",
        });
    };
    if name != b"dsa" {
        let shown: String = String::from_utf8_lossy(name).chars().take(32).collect();
        return Err(KeyFileError::UnsupportedKeyType {
            line: algorithm.line,
            algorithm: shown,
        });
    }
    const NAMES: [&str; 5] = ["p", "q", "g", "y", "x"];
    let mut found: [Option<&sexp::Node>; 5] = [None; 5];
    for param in algorithm.list_items().unwrap_or(&[]).iter().skip(1) {
        let Some(tag) = param.list_head() else {
            return Err(KeyFileError::UnexpectedElement {
                line: param.line,
                expected: "(p ...), (q ...), (g ...), (y ...) or (x ...)",
            });
        };
        let position = NAMES.iter().position(|n| n.as_bytes() == tag);
        if let (Some(name), Some(slot)) = (
            position.and_then(|i| NAMES.get(i)),
            position.and_then(|i| found.get_mut(i)),
        ) {
            set_once(slot, param, name)?;
        }
    }
    let mut values: [&[u8]; 5] = [&[]; 5];
    for ((value, node), name) in values.iter_mut().zip(found).zip(NAMES) {
        let node = node.ok_or(KeyFileError::MissingField {
            line: algorithm.line,
            field: name,
        })?;
        let raw = field_value(node, name)?;
        let minimal = strip_leading_zeros(raw);
        if minimal.is_empty() {
            return Err(KeyFileError::ZeroValue {
                line: node.line,
                field: name,
            });
        }
        if minimal.len() > MAX_INTEGER_BYTES {
            return Err(KeyFileError::ValueTooLarge {
                line: node.line,
                field: name,
                len: minimal.len(),
                max: MAX_INTEGER_BYTES,
            });
        }
        *value = minimal;
    }
    Ok(values)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or(&[])
}

/// Writes `otr.private_key` in libotr 4.1.1's layout: byte for byte what libotr writes for the
/// same accounts, except that a name with a control character other than `\b \t \v \n \f \r`
/// is written as a quoted string with octal escapes where libgcrypt switches to hex. libotr
/// reads the result back.
///
/// The returned text contains the secret keys: store it with care and wipe it when done
/// (e.g. wrap it in `Zeroizing`). Values are written minimal with a `00` byte prepended when the
/// high bit is set, as libgcrypt does; a zero value (rejected by [`parse_private_keys`]) is
/// written as `#00#`.
pub fn write_private_keys(entries: &[PrivateKeyEntry]) -> String {
    let mut out = String::from("(privkeys\n");
    for entry in entries {
        out.push_str(" (account\n(name ");
        push_atom(&mut out, &entry.account);
        out.push_str(")\n(protocol ");
        push_atom(&mut out, &entry.protocol);
        out.push_str(")\n(private-key \n (dsa \n");
        for (name, value) in [
            ("p", entry.p.as_slice()),
            ("q", entry.q.as_slice()),
            ("g", entry.g.as_slice()),
            ("y", entry.y.as_slice()),
            ("x", entry.x.as_slice()),
        ] {
            out.push_str("  (");
            out.push_str(name);
            out.push_str(" #");
            push_integer_hex(&mut out, value);
            out.push_str("#)\n");
        }
        out.push_str("  )\n )\n )\n");
    }
    out.push_str(")\n");
    out
}

/// Characters libgcrypt prints as a bare token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'/' | b'_' | b':' | b'*' | b'+' | b'=')
}

/// A bare token if libgcrypt would print one, else a quoted string.
fn push_atom(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let is_token = bytes.first().is_some_and(|b| !b.is_ascii_digit())
        && bytes.iter().all(|&b| is_token_byte(b));
    if is_token {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                out.push_str(&format!("\\{:03o}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Uppercase hex of the minimal value, with a `00` sign byte when the high bit is set.
fn push_integer_hex(out: &mut String, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let minimal = strip_leading_zeros(value);
    if minimal.first().is_none_or(|&b| b >= 0x80) {
        out.push_str("00");
    }
    for &b in minimal {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(
                HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
}

// ------------------------------------------------------------------------------------------
// Fingerprints
// ------------------------------------------------------------------------------------------

/// One line of `otr.fingerprints`: a peer's key fingerprint as seen from one of our accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FingerprintEntry {
    /// The peer (libotr's context `username`).
    pub username: String,
    /// Our account.
    pub account: String,
    /// The protocol.
    pub protocol: String,
    /// SHA-1 over the peer's DSA public key MPIs.
    pub fingerprint: [u8; 20],
    /// Trust level; empty means not verified (libotr uses e.g. `verified` and `smp`).
    pub trust: String,
}

/// Parses `otr.fingerprints`.
///
/// Empty lines are skipped and a `\r` before the line break is ignored. A line has 4 or 5
/// tab-separated fields; everything after the fourth tab is the trust (as libotr reads it). The
/// fingerprint is 40 hex digits in either case.
///
/// # Errors
///
/// [`KeyFileError::FieldCount`], [`KeyFileError::InvalidFingerprint`] or
/// [`KeyFileError::NulByte`] with the line number. (libotr silently skips such lines; we report
/// them so that a damaged trust store is noticed.)
pub fn parse_fingerprints(text: &str) -> Result<Vec<FingerprintEntry>, KeyFileError> {
    let mut entries = Vec::new();
    for (line, content) in lines(text) {
        if content.is_empty() {
            continue;
        }
        if content.contains('\0') {
            return Err(KeyFileError::NulByte { line });
        }
        let fields: Vec<&str> = content.splitn(5, '\t').collect();
        let (username, account, protocol, hex, trust) = match fields.as_slice() {
            [u, a, p, f] => (*u, *a, *p, *f, ""),
            [u, a, p, f, t] => (*u, *a, *p, *f, *t),
            _ => {
                return Err(KeyFileError::FieldCount {
                    line,
                    expected: "4 or 5",
                    found: fields.len(),
                });
            }
        };
        let fingerprint = decode_hex_exact::<20>(hex).ok_or(KeyFileError::InvalidFingerprint {
            line,
            len: hex.len(),
        })?;
        entries.push(FingerprintEntry {
            username: username.to_owned(),
            account: account.to_owned(),
            protocol: protocol.to_owned(),
            fingerprint,
            trust: trust.to_owned(),
        });
    }
    Ok(entries)
}

/// Writes `otr.fingerprints` as libotr does (lowercase hex, the trust column always present).
///
/// # Errors
///
/// [`KeyFileError::UnrepresentableField`] if a name contains a tab, or any field a line break
/// or NUL (the trust may contain tabs).
pub fn write_fingerprints(entries: &[FingerprintEntry]) -> Result<String, KeyFileError> {
    let mut out = String::new();
    for (index, entry) in entries.iter().enumerate() {
        for (name, value) in [
            ("username", &entry.username),
            ("account", &entry.account),
            ("protocol", &entry.protocol),
        ] {
            check_column(index, name, value, false)?;
            out.push_str(value);
            out.push('\t');
        }
        check_column(index, "trust", &entry.trust, true)?;
        for b in entry.fingerprint {
            out.push_str(&format!("{b:02x}"));
        }
        out.push('\t');
        out.push_str(&entry.trust);
        out.push('\n');
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Instance tags
// ------------------------------------------------------------------------------------------

/// One line of `otr.instance_tags`: our instance tag for one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstagEntry {
    /// Our account.
    pub account: String,
    /// The protocol.
    pub protocol: String,
    /// Our instance tag for this account (at least `0x100`).
    pub instag: InstanceTag,
}

/// Parses `otr.instance_tags`.
///
/// Empty lines and lines starting with `#` are skipped; a `\r` before the line break is ignored.
/// Each other line is `account<TAB>protocol<TAB>tag` with the tag as exactly 8 hex digits (either
/// case), as libotr requires.
///
/// # Errors
///
/// [`KeyFileError::FieldCount`], [`KeyFileError::InvalidInstanceTag`],
/// [`KeyFileError::ReservedInstanceTag`] or [`KeyFileError::NulByte`] with the line number
/// (libotr silently skips such lines).
pub fn parse_instags(text: &str) -> Result<Vec<InstagEntry>, KeyFileError> {
    let mut entries = Vec::new();
    for (line, content) in lines(text) {
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if content.contains('\0') {
            return Err(KeyFileError::NulByte { line });
        }
        let fields: Vec<&str> = content.split('\t').collect();
        let [account, protocol, hex] = fields.as_slice() else {
            return Err(KeyFileError::FieldCount {
                line,
                expected: "3",
                found: fields.len(),
            });
        };
        let value = decode_hex_exact::<4>(hex).map(u32::from_be_bytes).ok_or(
            KeyFileError::InvalidInstanceTag {
                line,
                len: hex.len(),
            },
        )?;
        let instag = InstanceTag::new(value);
        if !instag.is_valid() {
            return Err(KeyFileError::ReservedInstanceTag { line, value });
        }
        entries.push(InstagEntry {
            account: (*account).to_owned(),
            protocol: (*protocol).to_owned(),
            instag,
        });
    }
    Ok(entries)
}

/// Writes `otr.instance_tags` as libotr does: a comment line, then `%08x` tags.
///
/// # Errors
///
/// [`KeyFileError::UnrepresentableField`] if a name contains a tab, line break or NUL, or the
/// account starts with `#` (libotr would read the line as a comment);
/// [`KeyFileError::ReservedInstanceTagValue`] for a tag below `0x100`.
pub fn write_instags(entries: &[InstagEntry]) -> Result<String, KeyFileError> {
    let mut out =
        String::from("# OTR instance tags. Each device has its own: do not copy this file.\n");
    for (index, entry) in entries.iter().enumerate() {
        check_column(index, "account", &entry.account, false)?;
        check_column(index, "protocol", &entry.protocol, false)?;
        if entry.account.starts_with('#') {
            return Err(KeyFileError::UnrepresentableField {
                entry: index,
                field: "account",
            });
        }
        if !entry.instag.is_valid() {
            return Err(KeyFileError::ReservedInstanceTagValue {
                entry: index,
                value: entry.instag.value(),
            });
        }
        out.push_str(&format!(
            "{}\t{}\t{:08x}\n",
            entry.account,
            entry.protocol,
            entry.instag.value()
        ));
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Line-file helpers
// ------------------------------------------------------------------------------------------

/// `(line number, content without "\r\n" / "\n")`.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().map(|(index, raw)| {
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        (index + 1, content)
    })
}

fn check_column(
    entry: usize,
    field: &'static str,
    value: &str,
    tabs_allowed: bool,
) -> Result<(), KeyFileError> {
    let bad = value
        .chars()
        .any(|c| matches!(c, '\n' | '\r' | '\0') || (c == '\t' && !tabs_allowed));
    if bad {
        return Err(KeyFileError::UnrepresentableField { entry, field });
    }
    Ok(())
}

/// Exactly `2 * N` hex digits (either case).
fn decode_hex_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *byte = (hex_value(*high)? << 4) | hex_value(*low)?;
    }
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

// ------------------------------------------------------------------------------------------
// S-expressions
// ------------------------------------------------------------------------------------------

/// A small reader for libgcrypt's advanced S-expression syntax (Rivest's draft, as libgcrypt
/// implements it), enough for libotr's key file. No recursion beyond [`MAX_DEPTH`], no panics.
mod sexp {
    use zeroize::Zeroizing;

    use super::{KeyFileError, MAX_DEPTH, MAX_NODES, hex_value, is_token_byte};

    /// Longest length prefix (in digits) accepted; larger atoms cannot fit the input anyway.
    const MAX_LENGTH_DIGITS: usize = 9;

    /// A list or an atom, with the line where it starts.
    pub(super) struct Node {
        pub(super) line: usize,
        pub(super) kind: Kind,
    }

    pub(super) enum Kind {
        /// Atom bytes, wiped on drop (the key file holds the secret exponent).
        Atom(Zeroizing<Vec<u8>>),
        List(Vec<Node>),
    }

    impl Node {
        pub(super) fn atom(&self) -> Option<&[u8]> {
            match &self.kind {
                Kind::Atom(bytes) => Some(bytes.as_slice()),
                Kind::List(_) => None,
            }
        }

        pub(super) fn list_items(&self) -> Option<&[Node]> {
            match &self.kind {
                Kind::List(items) => Some(items),
                Kind::Atom(_) => None,
            }
        }

        /// The atom at the head of a list.
        pub(super) fn list_head(&self) -> Option<&[u8]> {
            self.list_items()?.first()?.atom()
        }

        /// The items after the head if this is a list headed by `tag`.
        pub(super) fn tagged_list(&self, tag: &[u8]) -> Option<&[Node]> {
            let (head, rest) = self.list_items()?.split_first()?;
            (head.atom()? == tag).then_some(rest)
        }
    }

    struct Parser<'a> {
        input: &'a [u8],
        pos: usize,
        line: usize,
        nodes: usize,
    }

    /// Parses exactly one element surrounded by optional whitespace.
    pub(super) fn parse_document(input: &[u8]) -> Result<Node, KeyFileError> {
        let mut parser = Parser {
            input,
            pos: 0,
            line: 1,
            nodes: 0,
        };
        parser.skip_whitespace();
        if parser.peek().is_none() {
            return Err(KeyFileError::Empty);
        }
        let node = parser.value(0)?;
        parser.skip_whitespace();
        if parser.peek().is_some() {
            return Err(KeyFileError::TrailingData { line: parser.line });
        }
        Ok(node)
    }

    fn is_whitespace(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.input.get(self.pos).copied()
        }

        /// Consumes one byte, counting lines.
        fn bump(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
            }
            Some(b)
        }

        fn skip_whitespace(&mut self) {
            while self.peek().is_some_and(is_whitespace) {
                self.bump();
            }
        }

        fn value(&mut self, depth: usize) -> Result<Node, KeyFileError> {
            let line = self.line;
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                return Err(KeyFileError::TooManyNodes {
                    line,
                    max: MAX_NODES,
                });
            }
            let Some(first) = self.peek() else {
                return Err(KeyFileError::UnexpectedEnd { line });
            };
            let kind = match first {
                b'(' => {
                    if depth >= MAX_DEPTH {
                        return Err(KeyFileError::TooDeep {
                            line,
                            max: MAX_DEPTH,
                        });
                    }
                    self.bump();
                    let mut items = Vec::new();
                    loop {
                        self.skip_whitespace();
                        match self.peek() {
                            None => return Err(KeyFileError::UnexpectedEnd { line }),
                            Some(b')') => {
                                self.bump();
                                break;
                            }
                            Some(_) => items.push(self.value(depth + 1)?),
                        }
                    }
                    Kind::List(items)
                }
                b')' => return Err(KeyFileError::UnbalancedParen { line }),
                b'0'..=b'9' => Kind::Atom(self.length_prefixed()?),
                b'"' | b'#' | b'|' => Kind::Atom(self.delimited(None)?),
                b'[' => {
                    return Err(KeyFileError::UnsupportedSyntax {
                        line,
                        construct: "display hint",
                    });
                }
                b'{' => {
                    return Err(KeyFileError::UnsupportedSyntax {
                        line,
                        construct: "transport encoding",
                    });
                }
                b if is_token_byte(b) => {
                    let start = self.pos;
                    while self.peek().is_some_and(is_token_byte) {
                        self.bump();
                    }
                    let token = self.input.get(start..self.pos).unwrap_or(&[]);
                    Kind::Atom(Zeroizing::new(token.to_vec()))
                }
                byte => return Err(KeyFileError::UnexpectedByte { line, byte }),
            };
            Ok(Node { line, kind })
        }

        /// `N:bytes`, `N"..."`, `N#..#` or `N|..|`.
        fn length_prefixed(&mut self) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
            let line = self.line;
            let mut declared: usize = 0;
            let mut digits = 0;
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                digits += 1;
                if digits > MAX_LENGTH_DIGITS {
                    return Err(KeyFileError::InvalidLength { line });
                }
                declared = declared * 10 + usize::from(d - b'0');
                self.bump();
            }
            match self.peek() {
                Some(b':') => {
                    self.bump();
                    let end = self
                        .pos
                        .checked_add(declared)
                        .filter(|&end| end <= self.input.len())
                        .ok_or(KeyFileError::UnexpectedEnd { line })?;
                    let bytes = self.input.get(self.pos..end).unwrap_or(&[]);
                    let atom = Zeroizing::new(bytes.to_vec());
                    while self.pos < end {
                        self.bump();
                    }
                    Ok(atom)
                }
                Some(b'"' | b'#' | b'|') => self.delimited(Some(declared)),
                _ => Err(KeyFileError::InvalidLength { line }),
            }
        }

        /// A quoted string, hex or base64 atom; checks `declared` length if given.
        fn delimited(
            &mut self,
            declared: Option<usize>,
        ) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
            let line = self.line;
            let atom = match self.bump() {
                Some(b'"') => self.quoted(line)?,
                Some(b'#') => self.hex(line)?,
                Some(b'|') => self.base64(line)?,
                _ => return Err(KeyFileError::UnexpectedEnd { line }),
            };
            if let Some(declared) = declared
                && declared != atom.len()
            {
                return Err(KeyFileError::LengthMismatch {
                    line,
                    declared,
                    actual: atom.len(),
                });
            }
            Ok(atom)
        }

        /// After the opening `"`.
        fn quoted(&mut self, line: usize) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
            let mut out = Zeroizing::new(Vec::new());
            loop {
                let Some(b) = self.bump() else {
                    return Err(KeyFileError::UnexpectedEnd { line });
                };
                match b {
                    b'"' => return Ok(out),
                    b'\\' => {
                        let escape_line = self.line;
                        let invalid = KeyFileError::InvalidEscape { line: escape_line };
                        let Some(e) = self.bump() else {
                            return Err(KeyFileError::UnexpectedEnd { line });
                        };
                        match e {
                            b'b' => out.push(0x08),
                            b't' => out.push(b'\t'),
                            b'v' => out.push(0x0b),
                            b'n' => out.push(b'\n'),
                            b'f' => out.push(0x0c),
                            b'r' => out.push(b'\r'),
                            b'"' | b'\'' | b'\\' => out.push(e),
                            b'0'..=b'7' => {
                                let mut value = u32::from(e - b'0');
                                for _ in 0..2 {
                                    let d = self
                                        .bump()
                                        .filter(|d| (b'0'..=b'7').contains(d))
                                        .ok_or(invalid.clone())?;
                                    value = value * 8 + u32::from(d - b'0');
                                }
                                out.push(u8::try_from(value).map_err(|_| invalid)?);
                            }
                            b'x' => {
                                let high =
                                    self.bump().and_then(hex_value).ok_or(invalid.clone())?;
                                let low = self.bump().and_then(hex_value).ok_or(invalid)?;
                                out.push((high << 4) | low);
                            }
                            // Line continuation: backslash, then \n, \r, \n\r or \r\n.
                            b'\n' => {
                                if self.peek() == Some(b'\r') {
                                    self.bump();
                                }
                            }
                            b'\r' => {
                                if self.peek() == Some(b'\n') {
                                    self.bump();
                                }
                            }
                            _ => return Err(invalid),
                        }
                    }
                    other => out.push(other),
                }
            }
        }

        /// After the opening `#`: hex digits, whitespace allowed between them.
        fn hex(&mut self, line: usize) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
            let mut out = Zeroizing::new(Vec::new());
            let mut high: Option<u8> = None;
            loop {
                let Some(b) = self.bump() else {
                    return Err(KeyFileError::UnexpectedEnd { line });
                };
                if b == b'#' {
                    return match high {
                        None => Ok(out),
                        Some(_) => Err(KeyFileError::InvalidHex { line }),
                    };
                }
                if is_whitespace(b) {
                    continue;
                }
                let nibble = hex_value(b).ok_or(KeyFileError::InvalidHex { line })?;
                match high.take() {
                    None => high = Some(nibble),
                    Some(h) => out.push((h << 4) | nibble),
                }
            }
        }

        /// After the opening `|`: base64, whitespace allowed, padding optional.
        fn base64(&mut self, line: usize) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
            let mut text = Zeroizing::new(Vec::new());
            loop {
                let Some(b) = self.bump() else {
                    return Err(KeyFileError::UnexpectedEnd { line });
                };
                if b == b'|' {
                    break;
                }
                if !is_whitespace(b) {
                    text.push(b);
                }
            }
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            base64::Engine::decode(&engine, text.as_slice())
                .map(Zeroizing::new)
                .map_err(|_| KeyFileError::InvalidBase64 { line })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use offrecord_crypto::dsa::DsaPublicKey;
    use proptest::prelude::*;

    /// The libotr sample of x/crypto/otr's `otr_test.go` (BSD-3-Clause), see the README there.
    const GO_SAMPLE: &str = include_str!("../tests/data/keyfile/go-otr-test.private_key");
    /// Written by libotr 4.1.1 `otrl_privkey_generate` (see the README).
    const LIBOTR_KEYS: &str = include_str!("../tests/data/keyfile/libotr-4.1.1.private_key");
    const LIBOTR_FINGERPRINTS: &str =
        include_str!("../tests/data/keyfile/libotr-4.1.1.fingerprints");
    const LIBOTR_INSTAGS: &str = include_str!("../tests/data/keyfile/libotr-4.1.1.instance_tags");

    fn fingerprint_hex(entry: &PrivateKeyEntry) -> String {
        let public = DsaPublicKey::from_components(&entry.p, &entry.q, &entry.g, &entry.y).unwrap();
        hex::encode(public.fingerprint())
    }

    fn entry(account: &str, protocol: &str, fill: u8) -> PrivateKeyEntry {
        PrivateKeyEntry {
            account: account.to_owned(),
            protocol: protocol.to_owned(),
            p: vec![fill; 128],
            q: vec![0x12; 20],
            g: vec![0x7f, fill],
            y: vec![0x80, 0],
            x: Zeroizing::new(vec![0x01, 0x02, 0x03]),
        }
    }

    #[test]
    fn go_sample_parses_to_the_known_fingerprint() {
        let keys = parse_private_keys(GO_SAMPLE).unwrap();
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(key.account, "foo@example.com");
        assert_eq!(key.protocol, "prpl-jabber");
        // libgcrypt's leading 00 sign bytes are removed.
        assert_eq!((key.p.len(), key.p[0]), (128, 0xfc));
        assert_eq!(
            hex::encode(&key.q),
            "997bd266ef7b1f60a5c23f3a741f2aefd07a2081"
        );
        assert_eq!((key.g.len(), key.g[0]), (128, 0x53));
        assert_eq!((key.y.len(), key.y[0]), (128, 0x0a));
        assert_eq!(
            hex::encode(&*key.x),
            "14d0345a3562c480a039e3c72764f72d79043216"
        );
        // shared/vectors/otr3-known-answers.md, "DSA fingerprints" (libotr 4.1.1).
        assert_eq!(
            fingerprint_hex(key),
            "1a1b5d1824fa5498a63da1881e4c110ca75665bd"
        );
        // g^x = y: the values form a DSA key.
        let dsa = key.to_dsa_private_key().unwrap();
        assert_eq!(
            &PrivateKeyEntry::from_dsa_private_key("foo@example.com", "prpl-jabber", &dsa),
            key
        );
    }

    /// libgcrypt may print a number as a quoted string of raw bytes (see
    /// `parse_private_keys`); such a file is not UTF-8 and must still be read. Here the Go
    /// sample's `x` (bytes d0 34, a0 39: not UTF-8) is written that way.
    #[test]
    fn quoted_raw_bytes_that_are_not_utf8_are_read() {
        let hex_x = "#14D0345A3562C480A039E3C72764F72D79043216#";
        let raw_x = hex::decode(hex_x.trim_matches('#')).unwrap();
        let mut quoted = vec![b'"'];
        for &b in &raw_x {
            if b == b'"' || b == b'\\' {
                quoted.push(b'\\');
            }
            quoted.push(b);
        }
        quoted.push(b'"');
        let at = GO_SAMPLE.find(hex_x).unwrap();
        let mut file = GO_SAMPLE.as_bytes()[..at].to_vec();
        file.extend_from_slice(&quoted);
        file.extend_from_slice(&GO_SAMPLE.as_bytes()[at + hex_x.len()..]);
        assert!(core::str::from_utf8(&file).is_err());

        let keys = parse_private_keys(&file).unwrap();
        assert_eq!(keys, parse_private_keys(GO_SAMPLE).unwrap());
        assert_eq!(&*keys[0].x, raw_x.as_slice());
    }

    /// A file libotr 4.1.1 really wrote with a raw-byte string (see the fixtures' README).
    #[test]
    fn libotr_file_with_raw_bytes_is_read() {
        let file = include_bytes!("../tests/data/keyfile/libotr-4.1.1-raw-bytes.private_key");
        assert!(
            String::from_utf8(file.to_vec()).is_err(),
            "the fixture is not UTF-8"
        );
        let keys = parse_private_keys(file).unwrap();
        let accounts: Vec<&str> = keys.iter().map(|k| k.account.as_str()).collect();
        assert_eq!(accounts.len(), 3, "{accounts:?}");
        assert!(accounts.contains(&"carol"), "{accounts:?}");
        for key in &keys {
            // g^x = y for every key, the one with the raw-byte x included.
            key.to_dsa_private_key().unwrap();
        }
    }

    #[test]
    fn libotr_file_parses_with_libotr_fingerprints() {
        let keys = parse_private_keys(LIBOTR_KEYS).unwrap();
        // Fingerprints as libotr 4.1.1 `otrl_privkey_fingerprint_raw` reports them.
        let expected = [
            (
                "tab\there\nnewline",
                "prpl jabber",
                "d51ffe65247481b325fec51f3fc6d1b9ea3d1619",
            ),
            (
                "bob \"quoted\" \\back",
                "prpl-irc",
                "57b6dbcf660e3d21142673514c0e9cd8ac8125e5",
            ),
            (
                "alice@example.org",
                "prpl-jabber",
                "7dd9d2e44ef231b80eae15e67f4a260290f9564e",
            ),
            (
                "jörg@example.de",
                "3com",
                "02fa45975ec730d4c9da0e42fc8e5cdee3926024",
            ),
            (
                "ctl\u{1}char",
                "xmpp",
                "8c2de4369a4e0fa9eaa7d2230426bdd79ba659e4",
            ),
        ];
        assert_eq!(keys.len(), expected.len());
        for (key, (account, protocol, fingerprint)) in keys.iter().zip(expected) {
            assert_eq!(key.account, account);
            assert_eq!(key.protocol, protocol);
            assert_eq!(fingerprint_hex(key), fingerprint);
            assert!(key.to_dsa_private_key().is_ok());
        }
    }

    #[test]
    fn writing_reproduces_libotr_layout() {
        let keys = parse_private_keys(LIBOTR_KEYS).unwrap();
        // Byte for byte, except that libgcrypt writes a name with a control character in hex.
        let expected = LIBOTR_KEYS.replace("(name #63746C0163686172#)", "(name \"ctl\\001char\")");
        assert_ne!(expected, LIBOTR_KEYS);
        assert_eq!(write_private_keys(&keys), expected);
        assert_eq!(parse_private_keys(&expected).unwrap(), keys);
        assert_eq!(
            write_private_keys(&parse_private_keys(GO_SAMPLE).unwrap()),
            GO_SAMPLE
        );
        assert_eq!(write_private_keys(&[]), "(privkeys\n)\n");
        assert_eq!(parse_private_keys("(privkeys\n)\n").unwrap(), vec![]);
    }

    #[test]
    fn integers_get_a_sign_byte_when_the_high_bit_is_set() {
        let mut e = entry("a", "b", 0x80);
        e.q = vec![0, 0, 0x12];
        let text = write_private_keys(&[e]);
        assert!(text.contains("(p #0080808080"));
        assert!(text.contains("(q #12#)"));
        assert!(text.contains("(g #7F80#)"));
        assert!(text.contains("(y #008000#)"));
        assert!(text.contains("(x #010203#)"));
        let back = parse_private_keys(&text).unwrap();
        assert_eq!(back[0].q, vec![0x12]);
    }

    #[test]
    fn debug_redacts_the_secret_exponent() {
        let key = &parse_private_keys(GO_SAMPLE).unwrap()[0];
        let debug = format!("{key:?}");
        assert!(debug.contains("<redacted>"));
        assert!(!debug.to_lowercase().contains("14d0345a"));
        assert!(debug.contains("997bd266"));
    }

    #[test]
    fn all_libgcrypt_atom_forms_are_read() {
        // Fields reordered, an unknown field, verbatim, base64, octal and \x escapes, a line
        // continuation, whitespace inside hex (all accepted by libotr 4.1.1 as well).
        let text = "(privkeys (account (future-field 1:x) (protocol |cHJwbC1qYWJiZXI=|)\n\
                    (private-key (dsa (x 1:\x01) (y #00 80#) (g 2#7f01#) (q \"\\x12\") (p #0A#)))\n\
                    (name \"b\\157b \\\"q\\\"\\\\ ba\\\n\\'ck\\'\")))";
        let keys = parse_private_keys(text).unwrap();
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert_eq!(k.account, "bob \"q\"\\ ba'ck'");
        assert_eq!(k.protocol, "prpl-jabber");
        assert_eq!((k.p.as_slice(), k.q.as_slice()), (&[0x0a][..], &[0x12][..]));
        assert_eq!(
            (k.g.as_slice(), k.y.as_slice()),
            (&[0x7f, 0x01][..], &[0x80][..])
        );
        assert_eq!(k.x.as_slice(), &[0x01]);
        let verbatim = "(privkeys (account (name 3:a\nb) (protocol 3\"p-q\") (private-key (dsa \
                        (p #01#) (q #01#) (g #01#) (y #01#) (x 4|AQID|)))))";
        let err = parse_private_keys(verbatim).unwrap_err();
        assert_eq!(
            err,
            KeyFileError::LengthMismatch {
                line: 2,
                declared: 4,
                actual: 3
            }
        );
        let keys = parse_private_keys(verbatim.replace("4|AQID|", "3|AQID|")).unwrap();
        assert_eq!(keys[0].account, "a\nb");
        assert_eq!(keys[0].x.as_slice(), &[1, 2, 3]);
    }

    fn minimal(name: &str) -> String {
        format!(
            "(privkeys (account (name {name}) (protocol p) (private-key (dsa (p #01#) (q #01#) \
             (g #01#) (y #01#) (x #01#)))))"
        )
    }

    #[test]
    fn malformed_files_are_rejected_with_line_numbers() {
        use KeyFileError as E;
        let deep = format!("{}{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        let many = format!("(privkeys {})", "a ".repeat(MAX_NODES));
        let dsa = "(dsa (p #01#) (q #01#) (g #01#) (y #01#) (x #01#))";
        let account = |body: &str| format!("(privkeys\n(account\n{body}))");
        let cases: Vec<(String, KeyFileError)> = vec![
            ("".into(), E::Empty),
            (" \n\t".into(), E::Empty),
            (format!("{}\n)", minimal("a")), E::TrailingData { line: 2 }),
            (
                format!("{} (privkeys)", minimal("a")),
                E::TrailingData { line: 1 },
            ),
            (")".into(), E::UnbalancedParen { line: 1 }),
            ("(privkeys\n(account".into(), E::UnexpectedEnd { line: 2 }),
            (minimal("\"abc"), E::UnexpectedEnd { line: 1 }),
            (minimal("\"a\\qb\""), E::InvalidEscape { line: 1 }),
            (minimal("\"a\\8\""), E::InvalidEscape { line: 1 }),
            (minimal("\"\\400\""), E::InvalidEscape { line: 1 }),
            (minimal("\"\\xg0\""), E::InvalidEscape { line: 1 }),
            (minimal("#ABC#"), E::InvalidHex { line: 1 }),
            (minimal("#AG#"), E::InvalidHex { line: 1 }),
            (minimal("|*|"), E::InvalidBase64 { line: 1 }),
            (minimal("12"), E::InvalidLength { line: 1 }),
            (minimal("1234567890:a"), E::InvalidLength { line: 1 }),
            (minimal("999:abc"), E::UnexpectedEnd { line: 1 }),
            (
                minimal("[hint]abc"),
                E::UnsupportedSyntax {
                    line: 1,
                    construct: "display hint",
                },
            ),
            (
                minimal("{KDE6YSk=}"),
                E::UnsupportedSyntax {
                    line: 1,
                    construct: "transport encoding",
                },
            ),
            (
                minimal("a;b"),
                E::UnexpectedByte {
                    line: 1,
                    byte: b';',
                },
            ),
            (
                minimal("#FF#"),
                E::NotUtf8 {
                    line: 1,
                    field: "name",
                },
            ),
            (
                minimal("(a)"),
                E::MalformedField {
                    line: 1,
                    field: "name",
                },
            ),
            (
                minimal("a b"),
                E::MalformedField {
                    line: 1,
                    field: "name",
                },
            ),
            (
                deep,
                E::TooDeep {
                    line: 1,
                    max: MAX_DEPTH,
                },
            ),
            (
                many,
                E::TooManyNodes {
                    line: 1,
                    max: MAX_NODES,
                },
            ),
            ("privkeys".into(), E::NotPrivkeys { line: 1 }),
            ("()".into(), E::NotPrivkeys { line: 1 }),
            ("\n(keys)".into(), E::NotPrivkeys { line: 2 }),
            (
                "(privkeys (acct))".into(),
                E::UnexpectedElement {
                    line: 1,
                    expected: "(account ...)",
                },
            ),
            (
                account("(protocol p)\n(private-key x)"),
                E::MissingField {
                    line: 2,
                    field: "name",
                },
            ),
            (
                account(&format!("(name a)\n(private-key {dsa})")),
                E::MissingField {
                    line: 2,
                    field: "protocol",
                },
            ),
            (
                account("(name a) (protocol p)"),
                E::MissingField {
                    line: 2,
                    field: "private-key",
                },
            ),
            (
                account(&format!(
                    "(name a) (protocol p)\n(name b) (private-key {dsa})"
                )),
                E::DuplicateField {
                    line: 4,
                    field: "name",
                },
            ),
            (
                account("(name a) (protocol p) (private-key (rsa (n #01#) (e #01#)))"),
                E::UnsupportedKeyType {
                    line: 3,
                    algorithm: "rsa".into(),
                },
            ),
            (
                account(
                    "(name a) (protocol p) (private-key\n(dsa (p #01#) (q #01#) (g #01#) (y #01#)))",
                ),
                E::MissingField {
                    line: 4,
                    field: "x",
                },
            ),
            (
                account("(name a) (protocol p) (private-key (dsa (p #01#) (p #01#)))"),
                E::DuplicateField {
                    line: 3,
                    field: "p",
                },
            ),
            (
                account(
                    "(name a) (protocol p) (private-key (dsa (p #01#) (q #0000#) (g #01#) (y #01#) (x #01#)))",
                ),
                E::ZeroValue {
                    line: 3,
                    field: "q",
                },
            ),
            (
                account(&format!(
                    "(name a) (protocol p) (private-key (dsa (p #00{}#) (q #01#) (g #01#) (y #01#) (x #01#)))",
                    "AB".repeat(MAX_INTEGER_BYTES + 1)
                )),
                E::ValueTooLarge {
                    line: 3,
                    field: "p",
                    len: MAX_INTEGER_BYTES + 1,
                    max: MAX_INTEGER_BYTES,
                },
            ),
            (
                account("(name a) (protocol p) x"),
                E::UnexpectedElement {
                    line: 3,
                    expected: "(name ...), (protocol ...) or (private-key ...)",
                },
            ),
        ];
        for (text, error) in cases {
            assert_eq!(
                parse_private_keys(&text).map(|_| ()),
                Err(error),
                "{text:.80}"
            );
        }
        let huge = " ".repeat(MAX_KEY_FILE_BYTES + 1);
        assert_eq!(
            parse_private_keys(&huge).map(|_| ()),
            Err(E::InputTooLarge {
                len: MAX_KEY_FILE_BYTES + 1,
                max: MAX_KEY_FILE_BYTES
            })
        );
    }

    #[test]
    fn fingerprints_file_round_trips_libotr_bytes() {
        let entries = parse_fingerprints(LIBOTR_FINGERPRINTS).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].username, "bob@example.net");
        assert_eq!(entries[0].account, "alice@example.org");
        assert_eq!(entries[0].protocol, "prpl-jabber");
        assert_eq!(
            hex::encode(entries[0].fingerprint),
            "00112233445566778899aabbccddeeff00112233"
        );
        assert_eq!(entries[0].trust, "");
        assert_eq!(
            hex::encode(entries[1].fingerprint),
            "1a1b5d1824fa5498a63da1881e4c110ca75665bd"
        );
        assert_eq!(entries[1].trust, "verified");
        assert_eq!(entries[2].username, "carol smith");
        assert_eq!(entries[2].account, "jörg@example.de");
        assert_eq!(entries[2].trust, "smp");
        assert_eq!(write_fingerprints(&entries).unwrap(), LIBOTR_FINGERPRINTS);
    }

    #[test]
    fn fingerprints_file_variants_and_errors() {
        // No trust column, uppercase hex, CRLF, blank lines, a tab inside the trust.
        let text = "u\ta\tp\t1A1B5D1824FA5498A63DA1881E4C110CA75665BD\r\n\n\
                    v\ta\tp\t1a1b5d1824fa5498a63da1881e4c110ca75665bd\tx\ty";
        let entries = parse_fingerprints(text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].trust, "");
        assert_eq!(entries[0].fingerprint, entries[1].fingerprint);
        assert_eq!(entries[1].trust, "x\ty");
        assert_eq!(
            parse_fingerprints(&write_fingerprints(&entries).unwrap()).unwrap(),
            entries
        );
        assert_eq!(parse_fingerprints("").unwrap(), vec![]);

        use KeyFileError as E;
        let fp = "1a1b5d1824fa5498a63da1881e4c110ca75665bd";
        let cases = [
            (
                "\n# comment\n".to_owned(),
                E::FieldCount {
                    line: 2,
                    expected: "4 or 5",
                    found: 1,
                },
            ),
            (
                format!("u\ta\t{fp}\n"),
                E::FieldCount {
                    line: 1,
                    expected: "4 or 5",
                    found: 3,
                },
            ),
            (
                format!("u\ta\tp\t{}\n", &fp[..38]),
                E::InvalidFingerprint { line: 1, len: 38 },
            ),
            (
                format!("u\ta\tp\t{fp}00\n"),
                E::InvalidFingerprint { line: 1, len: 42 },
            ),
            (
                format!("u\ta\tp\t{}zz\n", &fp[..38]),
                E::InvalidFingerprint { line: 1, len: 40 },
            ),
            (
                format!("u\ta\tp\t{}é\n", &fp[..38]),
                E::InvalidFingerprint { line: 1, len: 40 },
            ),
            (format!("u\0\ta\tp\t{fp}\n"), E::NulByte { line: 1 }),
        ];
        for (text, error) in cases {
            assert_eq!(parse_fingerprints(&text), Err(error), "{text:?}");
        }
        let mut bad = entries[0].clone();
        bad.username = "a\tb".into();
        assert_eq!(
            write_fingerprints(&[entries[0].clone(), bad]),
            Err(E::UnrepresentableField {
                entry: 1,
                field: "username"
            })
        );
        let mut bad = entries[0].clone();
        bad.trust = "line\nbreak".into();
        assert_eq!(
            write_fingerprints(&[bad]),
            Err(E::UnrepresentableField {
                entry: 0,
                field: "trust"
            })
        );
    }

    #[test]
    fn instance_tag_file() {
        let entries = parse_instags(LIBOTR_INSTAGS).unwrap();
        assert_eq!(
            entries,
            vec![
                InstagEntry {
                    account: "jörg@example.de".into(),
                    protocol: "3com".into(),
                    instag: InstanceTag::new(0xcee8c2d9),
                },
                InstagEntry {
                    account: "alice@example.org".into(),
                    protocol: "prpl-jabber".into(),
                    instag: InstanceTag::new(0x2d14cfb0),
                },
            ]
        );
        let written = write_instags(&entries).unwrap();
        assert!(written.starts_with('#'));
        assert!(written.ends_with("alice@example.org\tprpl-jabber\t2d14cfb0\n"));
        assert_eq!(parse_instags(&written).unwrap(), entries);
        let upper = parse_instags("a\tp\tABCDEF12\r\n").unwrap();
        assert_eq!(upper[0].instag, InstanceTag::new(0xabcdef12));

        use KeyFileError as E;
        let cases = [
            ("a\tp\t1ff\n", E::InvalidInstanceTag { line: 1, len: 3 }),
            (
                "\na\tp\t0x000200\n",
                E::InvalidInstanceTag { line: 2, len: 8 },
            ),
            (
                "a\tp\t000000ff\n",
                E::ReservedInstanceTag {
                    line: 1,
                    value: 0xff,
                },
            ),
            (
                "a\tp\n",
                E::FieldCount {
                    line: 1,
                    expected: "3",
                    found: 2,
                },
            ),
            (
                "a\tp\t00000100\tx\n",
                E::FieldCount {
                    line: 1,
                    expected: "3",
                    found: 4,
                },
            ),
            ("a\0\tp\t00000100\n", E::NulByte { line: 1 }),
        ];
        for (text, error) in cases {
            assert_eq!(parse_instags(text), Err(error), "{text:?}");
        }
        let entry = |account: &str, tag| InstagEntry {
            account: account.into(),
            protocol: "p".into(),
            instag: InstanceTag::new(tag),
        };
        assert_eq!(
            write_instags(&[entry("#a", 0x100)]),
            Err(E::UnrepresentableField {
                entry: 0,
                field: "account"
            })
        );
        assert_eq!(
            write_instags(&[entry("a", 0x100), entry("a", 0xff)]),
            Err(E::ReservedInstanceTagValue {
                entry: 1,
                value: 0xff
            })
        );
    }

    fn any_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9@._-]{0,20}",
            "[0-9].{0,10}",
            ".{0,20}",
            proptest::collection::vec(0u8..0x80, 0..12)
                .prop_map(|bytes| bytes.into_iter().map(char::from).collect()),
        ]
    }

    fn any_integer() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(|mut v| {
            v[0] |= 1; // non-zero, still possibly with the high bit set
            v
        })
    }

    proptest! {
        #[test]
        fn private_keys_round_trip(
            accounts in proptest::collection::vec(
                (any_name(), any_name(), any_integer(), any_integer(), any_integer(), any_integer(), any_integer()),
                0..4,
            )
        ) {
            let entries: Vec<PrivateKeyEntry> = accounts
                .into_iter()
                .map(|(account, protocol, p, q, g, y, x)| PrivateKeyEntry {
                    account,
                    protocol,
                    p,
                    q,
                    g,
                    y,
                    x: Zeroizing::new(x),
                })
                .collect();
            let text = write_private_keys(&entries);
            prop_assert_eq!(parse_private_keys(&text).unwrap(), entries);
        }

        #[test]
        fn parse_never_panics(text in ".{0,300}") {
            let _ = parse_private_keys(&text);
            let _ = parse_fingerprints(&text);
            let _ = parse_instags(&text);
        }

        #[test]
        fn parse_never_panics_on_damaged_files(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut bytes = GO_SAMPLE.as_bytes().to_vec();
            for (position, byte) in edits {
                let i = position % bytes.len();
                // Mostly S-expression punctuation, to reach the interesting paths.
                bytes[i] = b"()#|\"\\: 0a9"[usize::from(byte) % 11];
            }
            let _ = parse_private_keys(&bytes);
        }

        #[test]
        fn line_files_round_trip(
            rows in proptest::collection::vec(("[^\t\r\n\0#]{0,10}", "[^\t\r\n\0]{0,10}", any::<[u8; 20]>(), "[^\r\n\0]{0,10}", 0x100u32..), 0..5)
        ) {
            let fingerprints: Vec<FingerprintEntry> = rows
                .iter()
                .map(|(name, protocol, fingerprint, trust, _)| FingerprintEntry {
                    username: name.clone(),
                    account: protocol.clone(),
                    protocol: name.clone(),
                    fingerprint: *fingerprint,
                    trust: trust.clone(),
                })
                .collect();
            let text = write_fingerprints(&fingerprints).unwrap();
            prop_assert_eq!(parse_fingerprints(&text).unwrap(), fingerprints);
            let instags: Vec<InstagEntry> = rows
                .iter()
                .map(|(name, protocol, _, _, tag)| InstagEntry {
                    account: name.clone(),
                    protocol: protocol.clone(),
                    instag: InstanceTag::new(*tag),
                })
                .collect();
            let text = write_instags(&instags).unwrap();
            prop_assert_eq!(parse_instags(&text).unwrap(), instags);
        }
    }
}
