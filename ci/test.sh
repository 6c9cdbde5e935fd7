#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this). Works on a fresh Debian
# machine with Rust: installs the system packages the tests need first (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install-deps.sh
bash ci/deltachat/install.sh

echo "== format"
cargo fmt --all --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

if [ -x fuzz/run-all.sh ]; then
    echo "== fuzz targets (brief run; corpora are also replayed by cargo test)"
    bash fuzz/run-all.sh "${FUZZ_SECONDS:-10}"
fi

echo "== mail server (Postfix + Dovecot on 127.0.0.1, ci/mailserver/README.md)"
MAILSERVER_SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    MAILSERVER_SUDO=(sudo)
fi
trap '"${MAILSERVER_SUDO[@]}" bash ci/mailserver/stop.sh' EXIT
"${MAILSERVER_SUDO[@]}" bash ci/mailserver/start.sh

echo "== tests"
cargo test --workspace --locked
