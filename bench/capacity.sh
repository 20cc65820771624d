#!/bin/bash
# capacity.sh -- how many `herd node` replicas one `herd up` brings up on this machine.
# For each count: seconds until every replica is ready (herd up -d returns), RSS and PSS per
# node (PSS shares the common library pages fairly), the supervisor's CPU seconds and RSS,
# and how long herd down takes. Then it keeps doubling until something breaks, and says what.
# Floors (issue 4): 500 replicas ready within 30 s; at most 4 MB RSS per node.
set -uo pipefail
HERD=$(realpath "${1:-build/herd}")
COUNTS=${COUNTS:-"100 250 500"}
FURTHER=${FURTHER:-"1000 2000 4000 8000"}
BASE_PORT=${BASE_PORT:-21000} # up to 32767 stays below the ephemeral ports
tmp=$(mktemp -d /tmp/herd-capacity-XXXXXX)
cleanup() { "$HERD" down --state-dir "$tmp/state" >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT

ticks=$(getconf CLK_TCK)
printf '%-8s %-9s %-13s %-13s %-13s %-12s %-9s %s\n' replicas ready_s rss_avg_kB rss_max_kB pss_avg_kB sup_cpu_s sup_rss down_s

run() {
    local n=$1
    if [ $((BASE_PORT + n)) -gt 32767 ]; then
        echo "$n: stop: ports $BASE_PORT..$((BASE_PORT + n - 1)) would reach the ephemeral range"
        return 1
    fi
    cat >"$tmp/herd.yaml" <<YAML
groups:
  api:
    command: herd node --log-level warn
    replicas: $n
    base_port: $BASE_PORT
    ready_timeout: 120s
YAML
    local t0 t1 out
    t0=$(date +%s.%N)
    if ! out=$("$HERD" up -d -f "$tmp/herd.yaml" --state-dir "$tmp/state" 2>&1); then
        echo "$n: herd up failed: $(tail -n 1 <<<"$out")"
        "$HERD" down --state-dir "$tmp/state" >/dev/null 2>&1
        return 1
    fi
    t1=$(date +%s.%N)
    local sup rss_sum=0 rss_max=0 pss_sum=0 count=0
    sup=$(cut -d' ' -f1 "$tmp/state/supervisor.pid")
    for f in "$tmp"/state/pids/*.pid; do
        local pid rss pss
        pid=$(cut -d' ' -f1 "$f")
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
        rss_sum=$((rss_sum + rss)) pss_sum=$((pss_sum + pss)) count=$((count + 1))
        [ "$rss" -gt "$rss_max" ] && rss_max=$rss
    done
    local cpu sup_rss t2 t3
    cpu=$(awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$sup/stat")
    sup_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$sup/status")
    t2=$(date +%s.%N)
    "$HERD" down --state-dir "$tmp/state" >/dev/null
    t3=$(date +%s.%N)
    printf '%-8s %-9.2f %-13d %-13d %-13d %-12.2f %-9s %.2f\n' "$count" "$(echo "$t1 - $t0" | bc)" \
        $((rss_sum / count)) "$rss_max" $((pss_sum / count)) "$cpu" "${sup_rss}kB" "$(echo "$t3 - $t2" | bc)"
}

for n in $COUNTS; do run "$n" || exit 1; done
echo "further, until something breaks:"
for n in $FURTHER; do run "$n" || break; done
