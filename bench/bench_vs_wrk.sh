#!/bin/bash
# bench_vs_wrk.sh -- herd bench and wrk, -t1 -c50, against nginx-light `return 200` (one
# worker), alternating, pinned CPUs (server on one core, the load generator on the other).
# Prints requests/s and CPU seconds per request of each, and the ratios.
# Floors (issue 3): herd/wrk requests/s >= 1.0; herd CPU s/request <= wrk's. Then large answers
# (issue 18): a 1 MB file from a second nginx, -t1 -c10, the same pairs and ratios.
# Each shape also splits the CPU per request into user and kernel time: the kernel's share is
# the TCP work both tools do alike (the same segments per request), so "floor" is the CPU ratio
# herd would have if its own code cost nothing (its kernel time over wrk's whole CPU time).
set -euo pipefail
HERD=${1:-build/herd}
PAIRS=${PAIRS:-5}
DURATION=${DURATION:-5}
cd "$(dirname "$0")/.."
. bench/lib.sh

port=$(bench_free_port)
bench_nginx "$port"
url="http://127.0.0.1:$port/"

# run_measured CMD...: runs CMD pinned to the client CPU; prints "RPS USER_SECONDS
# SYSTEM_SECONDS".
run_measured() {
    local out
    out=$( { /usr/bin/time -f 'CPU %U %S' taskset -c "${CLIENT_CPU:-0}" "$@" 2>&1; } 2>&1)
    local rps cpu
    rps=$(awk '/Requests\/sec:/ {print $2}
               /^  Requests / {for (i = 1; i <= NF; i++) if ($i ~ /\/s;$/) {sub("/s;", "", $i); print $i}}' <<<"$out" | head -n1)
    cpu=$(awk '/^CPU / {print $2, $3}' <<<"$out")
    echo "$rps $cpu"
}

# pairs CONNECTIONS URL: PAIRS alternating runs of herd bench and wrk, -t1 -cCONNECTIONS; each
# pair's requests/s and CPU microseconds per request, the ratios, then the medians.
pairs() {
    local conns=$1 url=$2 hr=() wr=() hc=() wc=() hk=() wk=() floors=()
    printf '%-5s %12s %12s %7s %14s %14s %7s %12s %12s %6s\n' pair herd_rps wrk_rps ratio \
        herd_cpu_us/req wrk_cpu_us/req ratio herd_kern_us wrk_kern_us floor
    for pair in $(seq "$PAIRS"); do
        read -r h_rps h_user h_sys < <(run_measured "$HERD" bench -q -t1 -c"$conns" -d"${DURATION}s" "$url")
        read -r w_rps w_user w_sys < <(run_measured wrk -t1 -c"$conns" -d"${DURATION}s" "$url")
        h_us=$(echo "($h_user + $h_sys) * 1000000 / ($h_rps * $DURATION)" | bc -l)
        w_us=$(echo "($w_user + $w_sys) * 1000000 / ($w_rps * $DURATION)" | bc -l)
        h_k=$(echo "$h_sys * 1000000 / ($h_rps * $DURATION)" | bc -l)
        w_k=$(echo "$w_sys * 1000000 / ($w_rps * $DURATION)" | bc -l)
        floor=$(echo "$h_k / $w_us" | bc -l)
        hr+=("$h_rps") wr+=("$w_rps") hc+=("$h_us") wc+=("$w_us") hk+=("$h_k") wk+=("$w_k") floors+=("$floor")
        printf '%-5s %12.0f %12.0f %7.3f %14.3f %14.3f %7.3f %12.3f %12.3f %6.3f\n' "$pair" "$h_rps" "$w_rps" \
            "$(echo "$h_rps / $w_rps" | bc -l)" "$h_us" "$w_us" "$(echo "$h_us / $w_us" | bc -l)" \
            "$h_k" "$w_k" "$floor"
    done
    local h w hcm wcm
    h=$(bench_median "${hr[@]}") w=$(bench_median "${wr[@]}")
    hcm=$(bench_median "${hc[@]}") wcm=$(bench_median "${wc[@]}")
    printf '%-5s %12.0f %12.0f %7.3f %14.3f %14.3f %7.3f %12.3f %12.3f %6.3f\n' median "$h" "$w" \
        "$(echo "$h / $w" | bc -l)" "$hcm" "$wcm" "$(echo "$hcm / $wcm" | bc -l)" \
        "$(bench_median "${hk[@]}")" "$(bench_median "${wk[@]}")" "$(bench_median "${floors[@]}")"
}

echo "herd bench vs wrk: -t1 -c50 -d${DURATION}s against nginx-light return 200 ($PAIRS pairs)"
pairs 50 "$url"

# Large answers: where the bytes cost (read size, copies, the parser's body callbacks).
big_port=$(bench_free_port)
mkdir -p "$BENCH_TMP/www"
head -c 1048576 /dev/urandom >"$BENCH_TMP/www/big.bin"
bench_nginx "$big_port" "$BENCH_TMP/www"
big_url="http://127.0.0.1:$big_port/big.bin"
echo
echo "large answers: 1 MB, -t1 -c10 -d${DURATION}s ($PAIRS pairs)"
pairs 10 "$big_url"

# System calls per request (strace -c -f): where the time goes is mostly the kernel's; counts
# are stable here where perf's counters are not. Small answers, -t1 -c50, 2 s under strace.
# The TCP segments on the machine per request in the same run (nstat: both directions, every
# process on the machine; run it on an otherwise idle machine).
syscalls_per_request() { # LABEL CMD...: prints "LABEL calls/request (top calls), segments"
    local label=$1 out
    shift
    nstat -n >/dev/null 2>&1 || true
    out=$(strace -c -f -o "$BENCH_TMP/strace.$label" taskset -c "${CLIENT_CPU:-0}" "$@" 2>&1)
    local requests segments
    requests=$(awk '/^  Requests / {print $2} /requests in/ {print $1}' <<<"$out" | head -n1)
    segments=$(nstat 2>/dev/null | awk '$1 == "TcpOutSegs" {print $2}')
    bench_strace_summary "$label" "$requests" "$segments" "$BENCH_TMP/strace.$label" 0.05
}
echo
echo "system calls per request (strace -c -f; -t1 -c50, 2 s)"
syscalls_per_request herd "$HERD" bench -q -t1 -c50 -d2s "$url"
syscalls_per_request wrk wrk -t1 -c50 -d2s "$url"

# User-space instructions per request (callgrind; start-up included, so a 3 s run).
instructions_per_request() { # LABEL CMD...
    local label=$1 out
    shift
    out=$(valgrind --tool=callgrind --callgrind-out-file="$BENCH_TMP/callgrind.$label" "$@" 2>&1)
    local requests
    requests=$(awk '/^  Requests / {print $2} /requests in/ {print $1}' <<<"$out" | head -n1)
    awk -v label="$label" -v n="$requests" '/^(totals|summary):/ {
        printf "%-5s %8.0f instructions/request over %d requests\n", label, $2 / n, n; exit }' \
        "$BENCH_TMP/callgrind.$label"
}
if command -v valgrind >/dev/null; then
    echo
    echo "user-space instructions per request (callgrind; -t1 -c50, 3 s)"
    instructions_per_request herd "$HERD" bench -q -t1 -c50 -d3s "$url"
    instructions_per_request wrk wrk -t1 -c50 -d3s "$url"
fi
