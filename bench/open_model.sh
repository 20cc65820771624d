#!/bin/bash
# open_model.sh -- herd bench's open model against nginx-light:
#  1. -R 20000 -d 10s: the achieved rate (floor, issue 3: within 1% of 20000);
#  2. the same with nginx stopped (SIGSTOP) for 1 s in the middle: the corrected p99 must be
#     at least 500 ms while the uncorrected p99 stays far lower, as wrk2 reports.
set -euo pipefail
HERD=${1:-build/herd}
RATE=${RATE:-20000}
cd "$(dirname "$0")/.."
. bench/lib.sh

port=$(bench_free_port)
bench_nginx "$port"
url="http://127.0.0.1:$port/"

summary() { # JSON file -> one line
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t, c, u = r["totals"], r["latency_ms"], r["latency_uncorrected_ms"]
print(f"requests {t['requests']} in {r['elapsed_s']:.2f} s = {t['requests'] / r['config']['duration_s']:.1f}/s "
      f"(target {r['config']['rate']:.0f}/s, {100 * (t['requests'] / r['config']['duration_s'] / r['config']['rate'] - 1):+.2f}%), "
      f"failed {t['failures']}, dropped {t['dropped']}, backlog max {t['backlog_max']}, slots {t['connections_peak']}")
print(f"  corrected   p50 {c['p50']:.3f} ms  p99 {c['p99']:.3f} ms  p99.9 {c['p99.9']:.3f} ms  max {c['max']:.3f} ms")
print(f"  uncorrected p50 {u['p50']:.3f} ms  p99 {u['p99']:.3f} ms  p99.9 {u['p99.9']:.3f} ms  max {u['max']:.3f} ms")
PY
}

echo "1. herd bench -R $RATE -d 10s -c 50 (no fault)"
taskset -c "${CLIENT_CPU:-0}" "$HERD" bench -q -R "$RATE" -d 10s -c 50 -o json "$url" >"$BENCH_TMP/steady.json"
summary "$BENCH_TMP/steady.json"

echo "2. the same, nginx stopped (SIGSTOP) from 4.5 s to 5.5 s"
taskset -c "${CLIENT_CPU:-0}" "$HERD" bench -q -R "$RATE" -d 10s -c 50 -o json "$url" >"$BENCH_TMP/stall.json" &
bench_pid=$!
sleep 4.5
kill -STOP "$NGINX_PID"
sleep 1
kill -CONT "$NGINX_PID"
wait "$bench_pid"
summary "$BENCH_TMP/stall.json"
