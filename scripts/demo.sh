#!/bin/bash
# demo.sh -- starts three `herd node` replicas on free ports, asks each for its health and
# cluster status, prints a table, and stops them (SIGTERM, checking each exits 0).
set -euo pipefail
HERD=${1:-build/herd}
tmp=$(mktemp -d /tmp/herd-demo-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# json_field JSON NAME: the value of the first "NAME": in herd's compact JSON.
json_field() {
    sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$1" | head -n1
}

ports=()
for i in 1 2 3; do
    "$HERD" node --port 0 --id "api.$i" 2>"$tmp/api.$i.log" &
    pids+=($!)
done
for i in 1 2 3; do
    port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/api.$i.log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "api.$i did not start:"; cat "$tmp/api.$i.log"; exit 3; }
    ports+=("$port")
done

printf '%-7s %-6s %-8s %-7s %-11s %-10s %-9s %-9s %-8s\n' NODE PORT PID HEALTH MODE HEALTH_MS REQUESTS FAILED RSS_KB
for i in 0 1 2; do
    port=${ports[$i]}
    t=$(curl -s -o "$tmp/health.json" -w '%{time_total}' "http://127.0.0.1:$port/health")
    health=$(cat "$tmp/health.json")
    status=$(curl -s "http://127.0.0.1:$port/api/v1/cluster/status")
    node=$(json_field "$health" node_id)
    ok=$(json_field "$health" status)
    mode=$(json_field "$health" mode)
    total=$(json_field "$status" total_requests)
    failed=$(json_field "$status" failed_requests)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids[$i]}/status")
    printf '%-7s %-6s %-8s %-7s %-11s %-10.2f %-9s %-9s %-8s\n' "$node" "$port" "${pids[$i]}" \
        "$ok" "$mode" "$(echo "$t * 1000" | bc -l)" "$total" "$failed" "$rss"
done

echo
echo "stopping (SIGTERM):"
for i in 0 1 2; do
    kill -TERM "${pids[$i]}"
    if wait "${pids[$i]}"; then
        echo "  api.$((i + 1)) exited 0"
    else
        echo "  api.$((i + 1)) exited $?"
        exit 1
    fi
done
pids=()
