#!/bin/bash
# fuzz.sh -- `make fuzz`: runs each libFuzzer target of tests/fuzz for SECONDS, one after the
# other, from its seed corpus (tests/fuzz/TARGET, never written to) plus what earlier runs
# found (BUILD/fuzz-corpus/TARGET). Prints executions and crashes per target; a crash's input
# is kept as BUILD/fuzz-artifacts/TARGET-crash-*. Exits 1 when any target crashed.
#   scripts/fuzz.sh BUILD SECONDS [TARGET...]    (default: every target BUILD has)
set -uo pipefail
BUILD=$(realpath "${1:?usage: fuzz.sh BUILD SECONDS [TARGET...]}")
SECONDS_EACH=${2:?usage: fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
cd "$(dirname "$0")/.."
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for bin in "$BUILD"/tests/fuzz/fuzz_*; do
        [ -x "$bin" ] && targets+=("${bin##*/fuzz_}")
    done
fi
mkdir -p "$BUILD/fuzz-artifacts" "$BUILD/fuzz-logs"
summary=()
failed=0
for t in "${targets[@]}"; do
    bin="$BUILD/tests/fuzz/fuzz_$t"
    [ -x "$bin" ] || { echo "fuzz.sh: no target $t in $BUILD" >&2; exit 2; }
    mkdir -p "$BUILD/fuzz-corpus/$t"
    log="$BUILD/fuzz-logs/$t.log"
    echo "fuzz: $t for ${SECONDS_EACH}s (log: $log)"
    # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: one that takes 2 GB a leak
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$BUILD/fuzz-artifacts/$t-" "$BUILD/fuzz-corpus/$t" "tests/fuzz/$t" \
        >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    if [ -z "$took" ]; then # a crash ends the run early: its length from the rate
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        [ -n "$runs" ] && [ "${rate:-0}" -gt 0 ] && took="~$((runs / rate))"
    fi
    corpus=$(ls "$BUILD/fuzz-corpus/$t" | wc -l)
    if [ $rc -eq 0 ]; then
        result="clean"
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="CRASH (exit $rc) ${artifact:-see $log}"
        grep -m3 -E "ERROR: |runtime error|property broken" "$log" | sed 's/^/    /'
    fi
    summary+=("$(printf '%-14s %12s runs %6s s  corpus %5s  %s' "$t" "${runs:-?}" \
        "${took:-?}" "$corpus" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
exit $failed
