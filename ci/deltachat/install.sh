#!/usr/bin/env bash
# Installs Delta Chat's JSON-RPC server (deltachat-rpc-server, a static binary shipped in a PyPI
# wheel) for the Delta Chat peer test (crates/offrecord/tests/deltachat.rs).
#
# Idempotent: does nothing if the pinned version is already in place. The binary goes to
# ci/deltachat/bin/deltachat-rpc-server (ignored by git); the test looks there unless
# $DELTACHAT_RPC_SERVER names another binary.
#
# Needs python3 with pip and network access to PyPI. x86_64 and aarch64 Linux only.
set -euo pipefail
cd "$(dirname "$0")"

VERSION=2.65.0
# sha256 of the wheel per architecture (from PyPI, checked on download).
case "$(uname -m)" in
    x86_64)
        WHEEL=deltachat_rpc_server-$VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64.whl
        SHA256=f2ec9f161ad0ebd3352791a7f8a72d5a1a0e4f3babbd3f12ca8cef40ad8b8aa0
        ;;
    *)
        WHEEL=
        SHA256=
        ;;
esac

BIN=bin/deltachat-rpc-server
STAMP=bin/VERSION
if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
    echo "deltachat-rpc-server $VERSION already installed at ci/deltachat/$BIN"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$work" "deltachat-rpc-server==$VERSION"
whl=$(ls "$work"/deltachat_rpc_server-"$VERSION"-*.whl)
if [ -n "$SHA256" ]; then
    [ "$(basename "$whl")" = "$WHEEL" ] || { echo "unexpected wheel $(basename "$whl")" >&2; exit 1; }
    echo "$SHA256  $whl" | sha256sum --check --quiet -
fi
python3 - "$whl" "$work/deltachat-rpc-server" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("deltachat_rpc_server/deltachat-rpc-server"))
PY
mkdir -p bin
install -m 0755 "$work/deltachat-rpc-server" "$BIN"
echo "$VERSION" > "$STAMP"
echo "installed deltachat-rpc-server $VERSION at ci/deltachat/$BIN"
