#!/usr/bin/env bash
# A fuzzing campaign: runs the given targets (default: all) for N seconds each (default 600),
# P at a time (default 2, at `nice -n 5`), from already built binaries, and writes one line of
# figures per target to campaign/<stamp>/summary.tsv. See docs/FUZZING.md.
#
#   fuzz/campaign.sh [seconds-per-target] [target ...]
#
# Environment: CAMPAIGN_PARALLEL (default 2), CAMPAIGN_DIR (default work/campaign-<UTC stamp>),
# FUZZ_SANITIZER (none, the default, or address), CAMPAIGN_SEEDS_ONLY=1 (do not read work/<target>:
# with a large grown corpus and a slow target, loading it can take the whole run). Build first (`cargo fuzz build -s none -a`);
# the binaries are copied into the campaign directory, so rebuilding during a campaign is safe.
#
# Each target's new inputs go to <campaign>/<target>/corpus; it also reads corpus/<target>,
# regressions/<target> and work/<target> (inputs grown by earlier runs). A crash stops that target
# and leaves its input in <campaign>/<target>/crash-*.
#
# The figures: wall_s (seconds), runs and exec_per_s (libFuzzer's final stats), cov_start and
# cov_end (libFuzzer's coverage counters and features after loading the inputs, and at the end),
# new_units (inputs that added coverage), new_files/new_bytes (what is in <target>/corpus at the
# end), peak_rss_mb, crashes (crash, timeout or oom files), exit (libFuzzer's status).
set -uo pipefail
cd "$(dirname "$0")"

seconds="${1:-600}"
shift || true
parallel="${CAMPAIGN_PARALLEL:-2}"
sanitizer="${FUZZ_SANITIZER:-none}"
triple="x86_64-unknown-linux-gnu"
dir="${CAMPAIGN_DIR:-work/campaign-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$dir/bin"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    # shellcheck disable=SC2207
    targets=($(RUSTC_BOOTSTRAP=1 cargo fuzz list))
fi

for target in "${targets[@]}"; do
    cp "target/$triple/release/$target" "$dir/bin/$target"
done
git -C .. rev-parse HEAD >"$dir/commit"
git -C .. status --short -- crates fuzz/src >"$dir/dirty"
echo "sanitizer=$sanitizer seconds=$seconds parallel=$parallel seeds_only=${CAMPAIGN_SEEDS_ONLY:-}" \
    "mask_known=${OFFRECORD_FUZZ_MASK_KNOWN:-}" >"$dir/settings"

run_one() {
    local target="$1" out="$dir/$1"
    mkdir -p "$out/corpus"
    local inputs=("$out/corpus" "corpus/$target")
    [ -d "regressions/$target" ] && inputs+=("regressions/$target")
    if [ -z "${CAMPAIGN_SEEDS_ONLY:-}" ] && [ -d "work/$target" ]; then
        inputs+=("work/$target")
    fi
    local start end status=0
    start=$(date +%s)
    nice -n 5 "$dir/bin/$target" "${inputs[@]}" -max_total_time="$seconds" -timeout=60 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$out/" \
        >"$out/log" 2>&1 || status=$?
    end=$(date +%s)
    local inited done_line runs eps added rss crashes files bytes
    inited=$(grep -m1 'INITED' "$out/log" | grep -o 'cov: [0-9]* ft: [0-9]*' || echo '?')
    done_line=$(grep -E '(DONE|pulse|NEW|REDUCE) +cov' "$out/log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*' || echo '?')
    runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$out/log" | grep -o '[0-9]*$' | tail -1)
    eps=$(grep -o '^stat::average_exec_per_sec: *[0-9]*' "$out/log" | grep -o '[0-9]*$' | tail -1)
    added=$(grep -o '^stat::new_units_added: *[0-9]*' "$out/log" | grep -o '[0-9]*$' | tail -1)
    rss=$(grep -o '^stat::peak_rss_mb: *[0-9]*' "$out/log" | grep -o '[0-9]*$' | tail -1)
    crashes=$(find "$out" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
    files=$(find "$out/corpus" -type f | wc -l)
    bytes=$(du -sb "$out/corpus" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$((end - start))" \
        "${runs:-?}" "${eps:-?}" "$inited" "$done_line" "${added:-?}" "$files" "$bytes" \
        "${rss:-?}" "$crashes" "$status" >>"$dir/summary.tsv"
    echo "campaign: $target done (exit $status, $((end - start)) s, ${runs:-?} runs, $crashes crashes)"
}

printf 'target\twall_s\truns\texec_per_s\tcov_start\tcov_end\tnew_units\tnew_files\tnew_bytes\tpeak_rss_mb\tcrashes\texit\n' \
    >"$dir/summary.tsv"
echo "campaign: $dir, ${#targets[@]} targets, ${seconds}s each, $parallel at a time"
running=0
for target in "${targets[@]}"; do
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
    echo "campaign: start $target at $(date -u +%H:%M:%S)"
    run_one "$target" &
    running=$((running + 1))
done
wait
column -t -s $'\t' "$dir/summary.tsv"
