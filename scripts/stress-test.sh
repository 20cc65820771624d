#!/bin/bash
# stress-test.sh -- the suite's flake check: `make test` RUNS times in a row (default 5) with a
# CPU-bound process beside it (a busy loop at normal priority, ended by its pid at the end),
# each run's log in LOGDIR (default /tmp/herd-stress). Prints each run's result and CTest
# summaries; exits 1 when any run failed.
#   scripts/stress-test.sh [RUNS] [LOGDIR]
set -uo pipefail
RUNS=${1:-5}
LOGDIR=${2:-/tmp/herd-stress}
cd "$(dirname "$0")/.."
mkdir -p "$LOGDIR"
sh -c 'while :; do :; done' &
burner=$!
trap 'kill "$burner" 2>/dev/null' EXIT
failed=0
for i in $(seq 1 "$RUNS"); do
    log="$LOGDIR/run-$i.log"
    start=$(date +%s)
    if make test >"$log" 2>&1; then result=pass; else result=FAIL; failed=1; fi
    echo "run $i: $result in $(($(date +%s) - start)) s ($log)"
    grep -E "tests passed|tests failed" "$log" | sed 's/^/    /'
    grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)" "$log" | sed 's/^/    /'
done
exit $failed
