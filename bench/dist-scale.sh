#!/bin/bash
# dist-scale.sh -- how many workers one master takes: `herd master` (pinned to one core) with
# N simulated workers (`herd worker --simulate N`, one process on the other core: each
# registers, long-polls, heartbeats every second and posts one made-up interval per second),
# running a DURATION task that `herd bench --master` creates and follows (it polls the task
# every second, as a user would). For each N: the master's CPU (share of its one core, from
# /proc/PID/stat over the task), its peak RSS (VmHWM), the interval acknowledgement latency
# p50/p99 seen by the workers, failed posts, workers marked suspect or lost (the master's log),
# and the task's verdict. Ends with the largest N the master sustained: CPU < 100% of its core,
# no suspect or lost worker, no failed post, the task completed with every interval.
# LEVELS="100 250 500" DURATION=30 RPS=100 bench/dist-scale.sh build/herd
set -euo pipefail
HERD=$(realpath "${1:-build/herd}")
cd "$(dirname "$0")/.."
. bench/lib.sh
LEVELS=${LEVELS:-"100 250 500 1000 2000"}
DURATION=${DURATION:-30}
RPS=${RPS:-100}
MASTER_CPU=${MASTER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}

# run_level N: one master, N simulated workers, one task; prints a row; returns 1 when the
# master did not sustain N.
run_level() {
    local n=$1 dir="$BENCH_TMP/n$1" port
    mkdir -p "$dir"
    port=$(bench_free_port)
    local url="http://127.0.0.1:$port"
    bench_master "$MASTER_CPU" "$port" "$dir"
    local mpid=$MASTER_PID
    taskset -c "$CLIENT_CPU" "$HERD" worker --master "$url" --simulate "$n" --sim-rps "$RPS" \
        --log-level warn >"$dir/sim.out" 2>"$dir/sim.err" &
    local spid=$!
    BENCH_PIDS+=("$spid")
    local active
    active=$(bench_wait_workers "$url" "$n")
    local t0 c0 t1 c1
    t0=$(date +%s.%N) c0=$(bench_cpu_seconds "$mpid")
    local verdict=0
    taskset -c "$CLIENT_CPU" "$HERD" bench --master "$url" -q -c "$n" -d "${DURATION}s" \
        -o json --out "$dir/run.json" http://127.0.0.1:9/ >/dev/null 2>"$dir/bench.err" || verdict=$?
    t1=$(date +%s.%N) c1=$(bench_cpu_seconds "$mpid")
    local rss
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$mpid/status")
    kill "$spid"
    wait "$spid" 2>/dev/null || true
    kill "$mpid"
    wait "$mpid" 2>/dev/null || true
    local cpu
    cpu=$(echo "100 * ($c1 - $c0) / ($t1 - $t0)" | bc -l)
    local suspect lost
    suspect=$(grep -c " suspect: " "$dir/master.log" || true)
    lost=$(grep -c " lost: " "$dir/master.log" || true)
    local sim
    sim=$(cat "$dir/sim.out")
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$sim"; }
    local p50 p99 fails intervals expected
    p50=$(field ack_p50_ms) p99=$(field ack_p99_ms) fails=$(field post_failures)
    intervals=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["requests"])' \
        "$dir/run.json" 2>/dev/null || echo 0)
    expected=$((n * RPS * DURATION))
    printf '%6s %7s %8.1f %8.1f %9s %9s %6s %7s %6s %12s %12s %3s\n' "$n" "$active" "$cpu" \
        "$(echo "$rss / 1024" | bc -l)" "$p50" "$p99" "${fails:-?}" "$suspect" "$lost" \
        "$intervals" "$expected" "$verdict"
    [ "$active" -ge "$n" ] && [ "$suspect" -eq 0 ] && [ "$lost" -eq 0 ] && [ "${fails:-1}" -eq 0 ] &&
        [ "$intervals" -eq "$expected" ] && [ "$verdict" -eq 0 ] &&
        [ "$(echo "$cpu < 100" | bc)" -eq 1 ]
}

echo "herd master with N simulated workers, a ${DURATION}s task, ${RPS} requests per worker-second;"
echo "master on CPU $MASTER_CPU, workers and herd bench --master on CPU $CLIENT_CPU ($(nproc) cores)"
printf '%6s %7s %8s %8s %9s %9s %6s %7s %6s %12s %12s %3s\n' workers active cpu_% rss_mb \
    ack_p50ms ack_p99ms failed suspect lost requests expected rc
best=0
for n in $LEVELS; do
    if run_level "$n"; then
        best=$n
    else
        echo "the master did not sustain $n workers (logs: kept in the row's numbers above)"
        break
    fi
done
echo "largest worker count sustained on one core: $best"
