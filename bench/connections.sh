#!/bin/bash
# connections.sh -- herd bench with 10,000 connections against nginx-light: connections
# achieved, errors, and herd's peak RSS (floor, issue 3: at most 64 MB).
set -euo pipefail
HERD=${1:-build/herd}
CONNS=${CONNS:-10000}
cd "$(dirname "$0")/.."
. bench/lib.sh

port=$(bench_free_port)
bench_nginx "$port"
out=$(/usr/bin/time -f 'MAXRSS %M' taskset -c "${CLIENT_CPU:-0}" "$HERD" bench -q -t1 -c"$CONNS" -d5s \
      "http://127.0.0.1:$port/" 2>&1)
grep -E '^  (Requests|Outcomes|Errors|Connections)' <<<"$out"
rss=$(awk '/^MAXRSS/ {print $2}' <<<"$out")
echo "herd bench -c $CONNS: peak RSS $rss kB ($(echo "scale=1; $rss / 1024" | bc) MB)"
