#!/bin/bash
# node_vs_nginx.sh -- herd node's /health against nginx-light's `return 200` (one worker each),
# wrk -t1 -c50, alternating runs on pinned CPUs; prints each run and the herd/nginx ratio.
# Also reports the idle RSS of one herd node. Floor (issue 2): ratio >= 0.8, RSS <= 4 MB.
set -euo pipefail
HERD=${1:-build/herd}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
cd "$(dirname "$0")/.."
. bench/lib.sh

node_port=$(bench_free_port)
nginx_port=$(bench_free_port)
taskset -c "${SERVER_CPU:-1}" "$HERD" node --port "$node_port" --id bench.1 --log-level warn &
node_pid=$!
BENCH_PIDS+=("$node_pid")
bench_wait_port "$node_port"
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$node_pid/status")
bench_nginx "$nginx_port"

echo "herd node vs nginx-light, wrk -t1 -c50 -d$DURATION, $ROUNDS alternating rounds"
printf '%-6s %14s %14s %8s\n' round herd_rps nginx_rps ratio
herd_all=() nginx_all=()
for round in $(seq "$ROUNDS"); do
    h=$(bench_wrk_rps -t1 -c50 -d"$DURATION" "http://127.0.0.1:$node_port/health")
    n=$(bench_wrk_rps -t1 -c50 -d"$DURATION" "http://127.0.0.1:$nginx_port/")
    herd_all+=("$h")
    nginx_all+=("$n")
    printf '%-6s %14s %14s %8.3f\n' "$round" "$h" "$n" "$(echo "$h / $n" | bc -l)"
done
hm=$(bench_median "${herd_all[@]}")
nm=$(bench_median "${nginx_all[@]}")
loaded_rss=$(awk '/VmRSS/ {print $2}' "/proc/$node_pid/status")
printf '%-6s %14s %14s %8.3f\n' median "$hm" "$nm" "$(echo "$hm / $nm" | bc -l)"
echo "herd node RSS: idle ${idle_rss} kB, after the runs ${loaded_rss} kB (50 connections served)"
