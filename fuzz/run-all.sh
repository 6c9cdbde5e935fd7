#!/usr/bin/env bash
# Builds every fuzz target and runs each for the given number of seconds (default 10), one
# after the other. Exits non-zero if any target crashes (a panic, a failed check, a sanitizer
# report, a timeout or running out of memory); the crashing input is left in
# fuzz/artifacts/<target>/. See fuzz/README.md.
#
#   fuzz/run-all.sh [seconds-per-target]
#
# Environment: FUZZ_SANITIZER (none, the default, or address: all code under test is safe Rust,
# and AddressSanitizer makes the crypto-heavy targets ten times slower), FUZZ_TARGETS (a
# space-separated subset), FUZZ_JOBS (parallel fuzzing processes per target, default 1).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-10}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"

# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module ...). The stable
# toolchain accepts them when told it is bootstrapping the compiler.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run-all: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# -a: debug assertions, which also turn on integer overflow checks.
flags=(--sanitizer "$sanitizer" --debug-assertions)

echo "run-all: building (sanitizer: $sanitizer)"
cargo fuzz build "${flags[@]}"

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
failed=()
for target in $targets; do
    # New inputs go to work/ (not committed); corpus/ and regressions/ are read.
    mkdir -p "work/$target" "artifacts/$target"
    corpora=("work/$target" "corpus/$target")
    if [ -d "regressions/$target" ]; then
        corpora+=("regressions/$target")
    fi
    log="work/$target.log"
    echo "run-all: $target for ${seconds}s"
    status=0
    cargo fuzz run "${flags[@]}" --jobs "$jobs" "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ "$status" -ne 0 ]; then
        echo "run-all: $target FAILED (exit $status); log: fuzz/$log"
        grep -E -A1 'panicked' "$log" | head -6 || true
        grep -E 'SUMMARY|Test unit written' "$log" | head -4 || true
        failed+=("$target")
    else
        echo "run-all: $target ok, ${runs:-?} runs"
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "run-all: crashes in: ${failed[*]}"
    exit 1
fi
echo "run-all: all targets ok"
