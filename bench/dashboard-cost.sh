#!/bin/bash
# dashboard-cost.sh -- what the master's dashboard costs while a task with 40 workers runs:
# `herd master` (pinned to one core) with 40 simulated workers (`herd worker --simulate 40`,
# each posting one interval per second; pinned to the other core with the browser) running a
# duration task. Measures the master's CPU (utime+stime from /proc/PID/stat over WINDOW
# seconds) with no browser, then with one headless Chromium tab on the dashboard showing the
# task's live charts (bench/dashboard-probe.mjs); the page's load time (navigation timing);
# and the time from the end of a worker's second (its interval is due) to the page drawing
# that second: when it first showed on the chart, and when it showed its final value (all 40
# workers' intervals of it in).
# WORKERS=40 WINDOW=20 bench/dashboard-cost.sh build/herd
set -euo pipefail
HERD=$(realpath "${1:-build/herd}")
cd "$(dirname "$0")/.."
. bench/lib.sh
WORKERS=${WORKERS:-40}
WINDOW=${WINDOW:-20}
RPS=${RPS:-100}
MASTER_CPU=${MASTER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
export HERD_WEB_DIR=${HERD_WEB_DIR:-$PWD/web}

port=$(bench_free_port)
url="http://127.0.0.1:$port"
bench_master "$MASTER_CPU" "$port" "$BENCH_TMP"
mpid=$MASTER_PID
taskset -c "$CLIENT_CPU" "$HERD" worker --master "$url" --simulate "$WORKERS" --sim-rps "$RPS" \
    --log-level warn >"$BENCH_TMP/sim.out" 2>"$BENCH_TMP/sim.err" &
BENCH_PIDS+=($!)
active=$(bench_wait_workers "$url" "$WORKERS")
[ "$active" -ge "$WORKERS" ] || { echo "only $active of $WORKERS workers registered" >&2; exit 1; }

# a task long enough for both windows and the browser's start
duration=$((2 * WINDOW + 40))
task=$(curl -s -X POST "$url/api/v1/tasks" \
    -d "{\"config\": {\"url\": \"http://127.0.0.1:9/\", \"concurrency\": $WORKERS, \"duration\": \"${duration}s\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["task_id"])')
curl -s -o /dev/null -X POST "$url/api/v1/tasks/$task/start"
sleep 3 # the task's start (1 s after /start) and its first intervals

# cpu_percent SECONDS: the master's CPU over that long, % of one core
cpu_percent() {
    local t0 c0 t1 c1
    t0=$(date +%s.%N) c0=$(bench_cpu_seconds "$mpid")
    sleep "$1"
    t1=$(date +%s.%N) c1=$(bench_cpu_seconds "$mpid")
    echo "100 * ($c1 - $c0) / ($t1 - $t0)" | bc -l
}

without=$(cpu_percent "$WINDOW")

taskset -c "$CLIENT_CPU" node bench/dashboard-probe.mjs "$url/" "$task" "$WINDOW" \
    >"$BENCH_TMP/probe.out" 2>"$BENCH_TMP/probe.err" &
probe=$!
BENCH_PIDS+=("$probe")
for _ in $(seq 600); do grep -q READY "$BENCH_TMP/probe.out" && break; sleep 0.1; done
grep -q READY "$BENCH_TMP/probe.out" || { cat "$BENCH_TMP/probe.err" >&2; exit 1; }
with=$(cpu_percent "$WINDOW")
wait "$probe"
# the finished seconds' final values, from the master's report once the window is over
curl -s "$url/api/v1/tasks/$task/report?format=json" >"$BENCH_TMP/report.json"

printf 'dashboard cost: master pinned to CPU %s, %s simulated workers at %s req/s each, task %s, window %s s\n' \
    "$MASTER_CPU" "$WORKERS" "$RPS" "$task" "$WINDOW"
printf '  master CPU without a browser: %.2f%% of a core\n' "$without"
printf '  master CPU with one dashboard tab on the task: %.2f%% of a core (+%.2f)\n' "$with" \
    "$(echo "$with - $without" | bc -l)"
python3 - "$BENCH_TMP/probe.out" "$BENCH_TMP/report.json" <<'PY'
import json, statistics, sys
out = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
d = json.loads(out)
nav, probe = d["nav"], d["probe"]
print(f"  page load: response end {nav['response_end_ms']:.0f} ms, DOMContentLoaded "
      f"{nav['dom_content_loaded_ms']:.0f} ms, load {nav['load_ms']:.0f} ms, first state event "
      f"{nav['first_state_ms']:.0f} ms ({nav['resources']} files)")
timeline = json.load(open(sys.argv[2]))["timeline"]
start_ms = probe["start_us"] / 1000
first, final = [], []
for k, e in enumerate(probe["drawn"]):
    if not e or e["first_ms"] < probe["open_from_ms"]:
        continue  # drawn before the window: already there when the charts opened
    due = start_ms + (k + 1) * 1000  # the second's end: its intervals are due
    first.append(e["first_ms"] - due)
    if k < len(timeline) and e["requests"] == timeline[k]["requests"]:
        final.append(e["last_change_ms"] - due)
def row(name, v):
    if not v:
        print(f"  {name}: no second measured")
        return
    v = sorted(v)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    print(f"  {name}: p50 {p(0.5):.0f} ms, p90 {p(0.9):.0f} ms, max {v[-1]:.0f} ms over {len(v)} seconds")
row("interval to chart (second first drawn)", first)
row("interval to chart (second drawn complete)", final)
print(f"  page: {probe['events']} state events, {probe['updates']} chart updates; errors: {d['errors'] or 'none'}")
PY
