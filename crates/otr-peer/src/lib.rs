//! `otr-peer`: one Offrecord OTR endpoint driven by the OTR peer protocol
//! (`shared/otr-peer-protocol.md`), so that test scripts can run it against libotr or against
//! itself.
//!
//! The binary reads one command per line on standard input and answers each with zero or more
//! records and exactly one `ok` or `err` record on standard output, flushed after every command.
//! This library holds all of it, so tests reach it without a process:
//!
//! - [`framing`]: escaping, splitting lines into fields, output records;
//! - [`commands`]: the command table and its dispatch ([`commands::handle_line`]);
//! - [`output`]: an [`otr::Output`] as records (`wire`, `deliver`, `tlv`, `event`);
//! - [`peer`]: the process state: the endpoint, the configuration, randomness and the clock;
//! - [`keys`] and [`files`]: libotr key files and files holding secrets.
//!
//! Besides the protocol's commands it implements `save`, `load` and `sleep` (as the protocol
//! document lists), and the libotr peer's test extensions for libotr's trust files:
//! `write-fingerprints`, `read-fingerprints`, `fingerprints`, `write-instags`, `read-instags`
//! and `instags` (see [`commands`]).
//!
//! One deliberate difference from the libotr peer: `smp-respond` when no SMP request waits is
//! refused with `err` (libotr sends an answer nobody asked for, which the peer reports as an
//! error).
//!
//! ```
//! use otr_peer::{commands, peer::Peer};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut peer = Peer::new(ChaCha20Rng::seed_from_u64(1));
//! let response = commands::handle_line(&mut peer, b"echo hello world").unwrap();
//! assert_eq!(response.records[0].to_line(), "ok\techo\thello world");
//! ```

use std::io::{self, BufRead, Read, Write};

pub mod commands;
pub mod files;
pub mod framing;
pub mod keys;
pub mod output;
pub mod peer;

/// The longest command line read (64 MiB); a longer one is answered with `err` and skipped,
/// so that input without line ends cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Runs the protocol: prints `ready`, then answers every line of `input` until `quit` or the
/// end of the input. Fails only when reading or writing fails.
pub fn run<R: BufRead, W: Write>(peer: &mut peer::Peer, input: R, output: W) -> io::Result<()> {
    serve(peer, input, output, MAX_LINE_BYTES)
}

fn serve<R: BufRead, W: Write>(
    peer: &mut peer::Peer,
    mut input: R,
    mut output: W,
    max_line: usize,
) -> io::Result<()> {
    writeln!(output, "{}", commands::ready().to_line())?;
    output.flush()?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(max_line).unwrap_or(u64::MAX);
        if (&mut input).take(limit).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let response = if line.ends_with(b"\n") || line.len() < max_line {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            commands::handle_line(peer, text)
        } else {
            skip_line(&mut input)?;
            Some(commands::line_too_long(max_line))
        };
        let Some(response) = response else {
            continue;
        };
        for record in &response.records {
            writeln!(output, "{}", record.to_line())?;
        }
        output.flush()?;
        if response.quit {
            return Ok(());
        }
    }
}

/// Discards input up to and including the next line end.
fn skip_line<R: BufRead>(input: &mut R) -> io::Result<()> {
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => {
                input.consume(end + 1);
                return Ok(());
            }
            None => {
                let len = buffer.len();
                input.consume(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn runs_until_quit() {
        let mut peer = peer::Peer::new(ChaCha20Rng::seed_from_u64(1));
        let input = b"echo a\r\n\nbogus\nquit\necho never\n";
        let mut out = Vec::new();
        run(&mut peer, &input[..], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("ready\timpl=offrecord\tversion="));
        assert_eq!(
            lines[1..],
            ["ok\techo\ta", "err\tbogus\tunknown command", "ok\tquit"]
        );
    }

    #[test]
    fn overlong_lines_are_skipped() {
        let mut peer = peer::Peer::new(ChaCha20Rng::seed_from_u64(1));
        let input = b"echo 12345\necho 123456789012345\necho ok\necho 12345678";
        let mut out = Vec::new();
        serve(&mut peer, &input[..], &mut out, 11).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "ok\techo\t12345",
                "err\t?\tline longer than 11 bytes; ignored",
                "ok\techo\tok",
                "err\t?\tline longer than 11 bytes; ignored",
            ]
        );
    }

    #[test]
    fn end_of_input_without_newline() {
        let mut peer = peer::Peer::new(ChaCha20Rng::seed_from_u64(1));
        let mut out = Vec::new();
        run(&mut peer, &b"echo last"[..], &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("ok\techo\tlast\n")
        );
    }
}
