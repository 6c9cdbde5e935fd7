#!/usr/bin/env bash
# Runs Offrecord's OTR workloads, the same workloads with libotr 4.1.1 in-process, and
# OpenSSL's constant-time modexp on the same operands, in one run on this machine, and prints
# the medians and the ratios (ours / libotr, ours / OpenSSL) next to the targets of issue 6.
#
# Usage: bench/compare.sh [--install]
#   --install  apt-get install what is missing (libotr5-dev libgcrypt20-dev libssl-dev gcc)
# Environment: CARGO_TARGET_DIR as usual; OFFRECORD_ONLY=ake,smp,... runs only those of ours.
# Not part of CI: the workspace builds and tests without libssl-dev.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${OFFRECORD_BENCH_WORK:-$root/target/bench-compare}
mkdir -p "$work"

need=()
[ -e /usr/include/libotr/proto.h ] || need+=(libotr5-dev)
[ -e /usr/include/gcrypt.h ] || need+=(libgcrypt20-dev)
[ -e /usr/include/openssl/bn.h ] || need+=(libssl-dev)
command -v gcc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    if [ "${1:-}" = --install ]; then
        apt-get update -q && apt-get install -y -q "${need[@]}"
    else
        echo "compare.sh needs: ${need[*]} (Debian packages); rerun with --install (as root)" >&2
        exit 1
    fi
fi

echo "== building" >&2
gcc -O2 -std=c11 -Wall -Wextra -o "$work/libotr_bench" "$root/bench/libotr_bench.c" \
    -lotr -lgcrypt -lgpg-error
gcc -O2 -std=c11 -Wall -Wextra -o "$work/openssl_modexp" "$root/bench/openssl_modexp.c" -lcrypto
python3 "$root/bench/operands.py" "$work/operands.txt"
(cd "$root" && cargo bench -p otr --bench compare --no-run) >&2

echo "== machine" >&2
model=$(lscpu | sed -n 's/^Model name: *//p')
echo "cpu: $model, $(nproc) cores; $(. /etc/os-release && echo "$PRETTY_NAME"); $(uname -r)"
echo "libotr $(dpkg-query -W -f '${Version}' libotr5 2>/dev/null || echo '?'), \
OpenSSL $(openssl version 2>/dev/null | awk '{print $2}' || echo '?'), $(rustc --version)"

# The three programs run one after the other, ROUNDS times interleaved, and each figure is the
# median over the rounds of the per-round medians: on a shared machine the load changes from
# minute to minute, and interleaving spreads it over both sides.
rounds=${ROUNDS:-3}
echo "== running $rounds rounds (about a minute per round)" >&2
results="$work/results.txt"
: >"$results"
(cd "$root" && cargo bench -q -p otr --bench compare --no-run) >&2
for round in $(seq "$rounds"); do
    echo "-- round $round" >&2
    "$work/openssl_modexp" "$work/operands.txt" | tee -a "$results" >&2
    "$work/libotr_bench" "$work" | tee -a "$results" >&2
    (cd "$root" && OFFRECORD_OPERANDS="$work/operands.txt" cargo bench -q -p otr --bench compare) \
        | tee -a "$results" >&2
done

python3 - "$results" <<'PY'
import sys
import statistics
runs = {}
for line in open(sys.argv[1]):
    who, name, ns, _ = line.split()
    runs.setdefault((who, name), []).append(float(ns))
medians = {k: statistics.median(v) for k, v in runs.items()}
print(f"medians over {max(len(v) for v in runs.values())} interleaved rounds")

def fmt(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"

rows = [
    ("AKE (both sides)", "ake", "libotr", 0.33),
    ("SMP (both sides)", "smp", "libotr", 0.5),
    ("ping-pong message, 100 B (rotates keys)", "ping_pong_100B", "libotr", 0.5),
    ("one-way message, 100 B", "one_way_100B", "libotr", 0.5),
    ("one-way message, 10 KiB", "one_way_10KiB", "libotr", 0.75),
    ("modexp, 320-bit exponent", "modexp_320", "openssl", 1.5),
    ("modexp, 1536-bit exponent", "modexp_1536", "openssl", None),
]
print(f"| {'workload':<40} | {'ours':>9} | {'reference':>17} | {'ratio':>6} | {'target':>7} |")
print(f"|{'-' * 42}|{'-' * 11}|{'-' * 19}|{'-' * 8}|{'-' * 9}|")
for label, name, ref, target in rows:
    ours = medians.get(("ours", name))
    theirs = medians.get((ref, name))
    ratio = ours / theirs if ours and theirs else None
    ok = "" if ratio is None or target is None else (" ok" if ratio <= target else " MISS")
    tgt = f"<= {target}" if target else "-"
    print(f"| {label:<40} | {fmt(ours):>9} | {ref + ' ' + fmt(theirs):>17} | "
          f"{(f'{ratio:.2f}' if ratio else '-'):>6} | {tgt:>7} |{ok}")
PY
