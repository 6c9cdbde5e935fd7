//! The rules of chatmail's outgoing mail filter (filtermail, the relay's SMTP before-queue
//! filter; read for the rules only), as a checker for captured mail.
//!
//! A mail passes if
//!
//! 1. the `From` header's address is the envelope sender (the captured copy's `Return-Path`);
//! 2. it is `multipart/encrypted` with exactly two parts, neither of them multipart:
//!    first `application/pgp-encrypted` whose body is `Version: 1` (surrounding whitespace
//!    ignored), then `application/octet-stream` holding an ASCII-armored message;
//! 3. the armor starts with `-----BEGIN PGP MESSAGE-----` CRLF, ends with
//!    `-----END PGP MESSAGE-----` (then only CRLFs), has no `Version:` armor header (outgoing
//!    mail may not carry one), and its base64 (with the CRC24 line removed) decodes;
//! 4. the packets are all in the new (OpenPGP) packet-header format (both top bits of the tag
//!    octet set; RFC 4880 section 4.2.2 / RFC 9580 section 4.2.1), every packet but the last is
//!    a PKESK (tag 1) or SKESK (tag 3), and the last is one SEIPD (tag 18), ending exactly at
//!    the end of the data.
//!
//! The filter sees the mail as it is submitted over SMTP, with CRLF line ends; Dovecot stores
//! the captured copy with LF, so bare LFs are turned back into CRLF first.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mailparse::{MailHeaderMap, ParsedMail};

/// One OpenPGP packet of a checked message: its tag and the first octet of its body (the
/// packet version for PKESK, SKESK and SEIPD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Where its header starts in the binary data.
    pub offset: usize,
    pub tag: u8,
    pub version: Option<u8>,
}

impl std::fmt::Display for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.tag {
            1 => "PKESK",
            3 => "SKESK",
            18 => "SEIPD",
            _ => "packet",
        };
        match self.version {
            Some(v) => write!(f, "{name}v{v}"),
            None => write!(f, "{name}"),
        }
    }
}

/// Checks one mail against the outgoing filter's rules; the packets on success, the first
/// broken rule on failure.
pub fn check_outgoing(raw: &[u8]) -> Result<Vec<Packet>, String> {
    let wire = to_crlf(raw);
    let mail = mailparse::parse_mail(&wire).map_err(|e| format!("not a parsable mail: {e}"))?;

    if let Some(return_path) = mail.headers.get_first_value("Return-Path") {
        let sender = angle_addr(&return_path);
        let from = mail.headers.get_first_value("From").unwrap_or_default();
        let from = angle_addr(&from);
        if !sender.eq_ignore_ascii_case(&from) {
            return Err(format!(
                "From <{from}> is not the envelope sender <{sender}>"
            ));
        }
    }

    if !mail
        .ctype
        .mimetype
        .eq_ignore_ascii_case("multipart/encrypted")
    {
        return Err(format!(
            "not multipart/encrypted but {}",
            mail.ctype.mimetype
        ));
    }
    let [first, second] = mail.subparts.as_slice() else {
        return Err(format!(
            "multipart/encrypted with {} parts, not 2",
            mail.subparts.len()
        ));
    };
    if !first.subparts.is_empty() || !second.subparts.is_empty() {
        return Err("a part of multipart/encrypted is itself multipart".into());
    }
    if !first
        .ctype
        .mimetype
        .eq_ignore_ascii_case("application/pgp-encrypted")
    {
        return Err(format!(
            "first part is {}, not application/pgp-encrypted",
            first.ctype.mimetype
        ));
    }
    let version = body(first)?;
    if version.trim() != "Version: 1" {
        return Err(format!(
            "first part says {:?}, not \"Version: 1\"",
            version.trim()
        ));
    }
    if second.ctype.mimetype != "application/octet-stream" {
        return Err(format!(
            "second part is {}, not application/octet-stream",
            second.ctype.mimetype
        ));
    }
    let armored = body(second)?;
    let data = dearmor(&armored)?;
    packets(&data)
}

/// The outgoing filter's reading of the armor: the binary OpenPGP data.
pub fn dearmor(armored: &str) -> Result<Vec<u8>, String> {
    let rest = armored
        .strip_prefix("-----BEGIN PGP MESSAGE-----\r\n")
        .ok_or("the armor does not start with -----BEGIN PGP MESSAGE----- CRLF")?;
    let rest = rest
        .trim_end_matches("\r\n")
        .strip_suffix("-----END PGP MESSAGE-----")
        .ok_or("the armor does not end with -----END PGP MESSAGE-----")?;
    if rest.starts_with("Version: ") {
        return Err("the armor has a Version: header".into());
    }
    // Stricter than the filter, which only looks at the first line: no Version: among the
    // armor headers (the lines before the first empty line) at all.
    if let Some((headers, _)) = rest.split_once("\r\n\r\n")
        && headers.lines().all(|l| l.contains(": "))
        && headers.lines().any(|l| l.starts_with("Version:"))
    {
        return Err("the armor has a Version: header".into());
    }
    let rest = rest.trim_start_matches("\r\n");
    // The CRC24 line starts with the last '='.
    let rest = rest.rsplit_once('=').map_or(rest, |(left, _)| left);
    let b64: String = rest.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("the armor's base64 does not decode: {e}"))
}

/// The packet rules: new-format headers only; PKESK/SKESK packets, then exactly one SEIPD at
/// the very end.
pub fn packets(data: &[u8]) -> Result<Vec<Packet>, String> {
    let byte = |i: usize| {
        data.get(i)
            .copied()
            .ok_or_else(|| format!("packet header truncated at octet {i}"))
    };
    let mut found = Vec::new();
    let mut i = 0usize;
    while i < data.len() {
        let head = byte(i)?;
        if head & 0xC0 != 0xC0 {
            return Err(format!(
                "packet {} at octet {i} has an old-format header (tag octet {head:#04x})",
                found.len()
            ));
        }
        let tag = head & 0x3F;
        let offset = i;
        i += 1;
        // Partial body lengths: chunks of 2^n octets, each followed by another length.
        let mut version_at = None;
        while (224..255).contains(&byte(i)?) {
            version_at.get_or_insert(i + 1);
            i += 1 + (1usize << (byte(i)? & 0x1F));
        }
        let first = byte(i)?;
        let len = match first {
            0..192 => {
                i += 1;
                usize::from(first)
            }
            192..224 => {
                let len = ((usize::from(first) - 192) << 8) + usize::from(byte(i + 1)?) + 192;
                i += 2;
                len
            }
            _ => {
                let len =
                    u32::from_be_bytes([byte(i + 1)?, byte(i + 2)?, byte(i + 3)?, byte(i + 4)?]);
                i += 5;
                len as usize
            }
        };
        // The first octet of the body is the packet's version.
        let version_at = version_at.unwrap_or(i);
        found.push(Packet {
            offset,
            tag,
            version: data.get(version_at).copied(),
        });
        i += len;
        if i == data.len() {
            return if tag == 18 {
                Ok(found)
            } else {
                Err(format!("the last packet has tag {tag}, not SEIPD (18)"))
            };
        }
        if tag != 1 && tag != 3 {
            return Err(format!(
                "packet {} has tag {tag}: only PKESK (1) and SKESK (3) may precede the SEIPD",
                found.len() - 1
            ));
        }
    }
    Err(format!(
        "the packets do not end exactly at the end of the data ({} octets)",
        data.len()
    ))
}

fn body(part: &ParsedMail<'_>) -> Result<String, String> {
    part.get_body()
        .map_err(|e| format!("cannot decode a part's body: {e}"))
}

fn angle_addr(value: &str) -> String {
    let value = value.trim();
    match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].trim().to_owned(),
        _ => value.to_owned(),
    }
}

/// Bare LF to CRLF (the form of the mail on the SMTP wire).
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}
