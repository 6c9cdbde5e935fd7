//! Compiles `libotr_peer.c` against the system libotr into an executable in `OUT_DIR` and hands
//! its path to the crate as `LIBOTR_PEER_BIN`.
//!
//! A missing libotr fails the build with a message naming `ci/install-deps.sh`: the interop tests
//! must never be skipped silently.

use std::env;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const SOURCE: &str = "libotr_peer.c";
const BINARY: &str = "libotr-peer";

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=build.rs");
    match build() {
        Ok(binary) => {
            println!("cargo:rustc-env=LIBOTR_PEER_BIN={}", binary.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("\nerror: cannot build the libotr peer (interop/libotr-peer/{SOURCE})\n");
            eprintln!("{message}\n");
            eprintln!(
                "The interop tests need libotr 4.1.x and libgcrypt with their headers \
                 (Debian: libotr5-dev, libgcrypt20-dev) and a C compiler.\n\
                 Install them with:  sudo ci/install-deps.sh\n"
            );
            ExitCode::FAILURE
        }
    }
}

fn build() -> Result<PathBuf, String> {
    let out_dir = env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?;
    let manifest_dir =
        env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo did not set CARGO_MANIFEST_DIR")?;
    let source = PathBuf::from(manifest_dir).join(SOURCE);
    let binary = PathBuf::from(out_dir).join(BINARY);

    let compiler = cc::Build::new()
        .warnings(true)
        .extra_warnings(true)
        .try_get_compiler()
        .map_err(|e| format!("no C compiler found: {e}"))?;
    let mut command = compiler.to_command();
    command
        .arg("-std=c11")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .args(["-lotr", "-lgcrypt", "-lgpg-error"]);

    let output = run(&mut command)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let hint = if stderr.contains("libotr/") || stderr.contains("gcrypt.h") {
            "The libotr or libgcrypt headers are missing."
        } else if stderr.contains("-lotr") || stderr.contains("-lgcrypt") {
            "The libotr or libgcrypt libraries are missing."
        } else {
            "The C compiler failed."
        };
        return Err(format!("{hint}\n{} said:\n{stderr}", show(&command)));
    }
    // Show compiler warnings in the cargo output; the build goes on.
    for line in stderr.lines().filter(|l| l.contains("warning:")) {
        println!("cargo:warning={line}");
    }
    Ok(binary)
}

fn run(command: &mut Command) -> Result<std::process::Output, String> {
    command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", show(command)))
}

/// The command line, without the environment that `Command`'s `Debug` would also print.
fn show(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
