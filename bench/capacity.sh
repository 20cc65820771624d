#!/bin/bash
# capacity.sh -- how many `herd node` replicas one `herd up` brings up on this machine.
# For each count: seconds until every replica is ready (herd up -d returns), RSS and PSS per
# node (PSS shares the common library pages fairly), the supervisor's CPU seconds (up to
# ready) and RSS, its CPU share over IDLE_S seconds once ready (the spread health checks),
# its descriptors, how long `herd status` takes, and how long `herd down` takes. Then larger
# counts until something breaks, and says what.
# Floors (issue 4): 500 replicas ready within 30 s; at most 4 MB RSS per node. Issue 18:
# 10,000 replicas, at most one descriptor each in the supervisor.
#
# Measured (issue 18; 2 cores shared with other sessions' benches, 24 GiB, pid_max 32768,
# ulimit -n 20000; RelWithDebInfo; one run each, rows from the commits named):
#   replicas ready_s  rss_avg_kB rss_max_kB pss_avg_kB sup_cpu_s sup_rss_kB sup_idle  sup_fds  status_s down_s
#   100      0.5      4016       4164       900        0.11      3652       1.8%      117      0.00     0.11
#   1000     4.8      4145       4336       1012       0.92      7396       9.2%      1018     0.03     1.38
#   2500     18.6     4246       4432       1111       3.40      13516      10.2%     2517     0.12     4.89
#   5000     82.7     4296       4488       1163       8.46      24944      8.6%      5170     2.40     14.39
#   (1000: 5c6aa61, the start queue; 100 and 2500: before it; 5000: with it but a turn that
#   never yielded. Before issue 18, 1000 replicas held 3,000+ descriptors; now one each.)
#   10000: not reached in that session: the start slowed to 4-10 replicas a second past ~6,000
#   (a fork in uv_spawn took 0.2 s on two cores busy with 6,000 idle herd nodes, about one
#   core of timers and long-polls, and other benches), and 36 of the first 6,000 failed to
#   spawn for a reason not logged then (it is now: a warn line per failed spawn). The
#   supervisor answered herd status during it (10,000 nodes listed in 2.3 s), held one
#   descriptor a replica, and its checks cost 9-10% of a core. A stop of 5,000-7,000 took
#   14-28 s: most replicas outlived the 10 s grace (SIGKILL), the machine being saturated.
set -uo pipefail
HERD=$(realpath "${1:-build/herd}")
COUNTS=${COUNTS:-"100 1000"}
FURTHER=${FURTHER:-"2500 5000 10000"}
IDLE_S=${IDLE_S:-5}
# 10000-19999: below the ephemeral ports (32768 and up) and below the 20000-32000 the tests
# pick their ports in (a collision fails herd up: "port ... is already in use")
BASE_PORT=${BASE_PORT:-10000}
tmp=$(mktemp -d /tmp/herd-capacity-XXXXXX)
cleanup() { "$HERD" down --state-dir "$tmp/state" >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT

ticks=$(getconf CLK_TCK)
sup_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf '%-8s %-8s %-10s %-10s %-10s %-9s %-10s %-9s %-8s %-8s %s\n' replicas ready_s rss_avg_kB \
    rss_max_kB pss_avg_kB sup_cpu_s sup_rss_kB sup_idle sup_fds status_s down_s

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
    ready_timeout: $((120 + n / 10))s
YAML
    local t0 t1 out
    t0=$(date +%s.%N)
    if ! out=$("$HERD" up -d -f "$tmp/herd.yaml" --state-dir "$tmp/state" 2>&1); then
        echo "$n: herd up failed: $(tail -n 1 <<<"$out")"
        "$HERD" down --state-dir "$tmp/state" >/dev/null 2>&1
        return 1
    fi
    t1=$(date +%s.%N)
    local sup cpu sup_rss fds idle c0 c1
    sup=$(cut -d' ' -f1 "$tmp/state/supervisor.pid")
    cpu=$(awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$sup/stat")
    c0=$(sup_ticks "$sup")
    sleep "$IDLE_S"
    c1=$(sup_ticks "$sup")
    idle=$(awk -v a="$c0" -v b="$c1" -v t="$ticks" -v s="$IDLE_S" 'BEGIN {printf "%.1f%%", (b - a) / t / s * 100}')
    sup_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$sup/status")
    fds=$(ls "/proc/$sup/fd" | wc -l)
    # every replica's RSS and PSS in one awk (a process per replica would take minutes)
    local files=()
    for f in "$tmp"/state/pids/*.pid; do
        local pid rest
        read -r pid rest <"$f"
        files+=("/proc/$pid/status" "/proc/$pid/smaps_rollup")
    done
    local mem
    mem=$(awk '/^VmRSS/ {rss += $2; count++; if ($2 > max) max = $2}
               /^Pss:/ {pss += $2}
               END {if (count) printf "%d %d %d %d", count, rss / count, max, pss / count; else print "0 0 0 0"}' \
        "${files[@]}" 2>/dev/null)
    local count rss_avg rss_max pss_avg t2 t3 t4
    read -r count rss_avg rss_max pss_avg <<<"$mem"
    t2=$(date +%s.%N)
    "$HERD" status --state-dir "$tmp/state" >/dev/null || echo "$n: herd status failed"
    t3=$(date +%s.%N)
    "$HERD" down --state-dir "$tmp/state" >/dev/null
    t4=$(date +%s.%N)
    printf '%-8s %-8.1f %-10d %-10d %-10d %-9.2f %-10s %-9s %-8s %-8.2f %.2f\n' "$count" \
        "$(echo "$t1 - $t0" | bc)" "$rss_avg" "$rss_max" "$pss_avg" "$cpu" "$sup_rss" "$idle" \
        "$fds" "$(echo "$t3 - $t2" | bc)" "$(echo "$t4 - $t3" | bc)"
}

for n in $COUNTS; do run "$n" || exit 1; done
echo "further, until something breaks:"
for n in $FURTHER; do run "$n" || break; done
