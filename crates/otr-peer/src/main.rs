//! `otr-peer`: an Offrecord OTR endpoint speaking the OTR peer protocol on stdin/stdout.

use std::io;

use anyhow::{Context, bail};
use otr_peer::peer::Peer;

const HELP: &str = "\
Usage: otr-peer

One Offrecord OTR endpoint driven by the OTR peer protocol (shared/otr-peer-protocol.md):
commands on standard input, one per line, fields separated by TAB (or, without a TAB, by
single spaces with the last field taking the rest of the line); records on standard output.
Start with `init <account> <protocol> <keyfile|generate> [instag-hex]`; `quit` exits.
";

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            print!("{HELP}");
            return Ok(());
        }
        Some("-V" | "--version") => {
            println!("otr-peer {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Some(other) => bail!("unexpected argument {other:?} (try --help)"),
    }
    let mut peer = Peer::from_os_entropy().context("cannot seed the random number generator")?;
    otr_peer::run(&mut peer, io::stdin().lock(), io::stdout().lock())
        .context("reading commands or writing records failed")
}
