#!/bin/bash
# gateway_vs_haproxy.sh -- herd gateway against HAProxy (nbthread 1, balance roundrobin,
# http-reuse always, and option forwardfor: the gateway always adds X-Forwarded-For) in front
# of the same three nginx-light backends; wrk -t1 in four shapes (issue 18): 50 and 1,000
# client connections with small answers, 10 and 50 with 1 MB answers; alternating rounds;
# prints each round and the gateway/haproxy ratios (floor: >= 1.0 in every shape), each
# proxy's CPU per request split into user and kernel time, and system calls per request.
# Then SIGKILLs one backend under load through each proxy and counts the failed requests,
# and reads the gateway's detection time from its event log.
set -euo pipefail
HERD=${1:-build/herd}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
PROXY_CPU=${PROXY_CPU:-1}
cd "$(dirname "$0")/.."
. bench/lib.sh
command -v haproxy >/dev/null || { echo "haproxy is not installed (make bench-deps)" >&2; exit 2; }

export SERVER_CPU=${SERVER_CPU:-0} # the backends share the client's core: the proxy gets one
backend_ports=() backend_pids=()
www="$BENCH_TMP/www" # "/" answers an empty page, /big.bin 1 MB
mkdir -p "$www"
: >"$www/index.html"
head -c 1048576 /dev/urandom >"$www/big.bin"
start_backend() { # start_backend INDEX
    bench_nginx "${backend_ports[$1]}" "$www"
    backend_pids[$1]=$NGINX_PID
}
for i in 0 1 2; do
    backend_ports[$i]=$(bench_free_port)
    start_backend "$i"
done

gw_port=$(bench_free_port)
ha_port=$(bench_free_port)
nodes=()
for i in 0 1 2; do nodes+=(--node "b$((i + 1))=127.0.0.1:${backend_ports[$i]}"); done
taskset -c "$PROXY_CPU" "$HERD" gateway --port "$gw_port" --threads 1 --health / \
    --log-level info "${nodes[@]}" 2>"$BENCH_TMP/gateway.log" &
gw_pid=$!
BENCH_PIDS+=($!)
bench_wait_port "$gw_port"

cat >"$BENCH_TMP/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 9000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    option forwardfor          # the gateway always appends X-Forwarded-For: the same work
frontend fe
    bind 127.0.0.1:$ha_port
    default_backend be
backend be
    balance roundrobin
    http-reuse always
    option httpchk GET /
    server b1 127.0.0.1:${backend_ports[0]} check inter 1s fastinter 200ms downinter 500ms rise 2 fall 3
    server b2 127.0.0.1:${backend_ports[1]} check inter 1s fastinter 200ms downinter 500ms rise 2 fall 3
    server b3 127.0.0.1:${backend_ports[2]} check inter 1s fastinter 200ms downinter 500ms rise 2 fall 3
CONF
taskset -c "$PROXY_CPU" haproxy -f "$BENCH_TMP/haproxy.cfg" -db >"$BENCH_TMP/haproxy.log" 2>&1 &
ha_pid=$!
BENCH_PIDS+=($!)
bench_wait_port "$ha_port"
# the same with L7 retries on another server, for the kill run only
ha_retry_port=$(bench_free_port)
sed -e "s/127.0.0.1:$ha_port/127.0.0.1:$ha_retry_port/" \
    -e 's/    balance roundrobin/    balance roundrobin\n    retry-on all-retryable-errors\n    option redispatch 1/' \
    "$BENCH_TMP/haproxy.cfg" >"$BENCH_TMP/haproxy-retry.cfg"
taskset -c "$PROXY_CPU" haproxy -f "$BENCH_TMP/haproxy-retry.cfg" -db >"$BENCH_TMP/haproxy-retry.log" 2>&1 &
BENCH_PIDS+=($!)
bench_wait_port "$ha_retry_port"

echo "herd gateway vs haproxy $(haproxy -v | awk 'NR==1 {print $3}'), one thread each on CPU $PROXY_CPU,"
echo "3 nginx-light backends, wrk -t1 -d$DURATION, $ROUNDS alternating rounds per shape"
# cpu_ticks PID: "user system" clock ticks the process used so far
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# measure PID PORT CONNECTIONS PATH: wrk through PORT; prints "rps cpu_us_per_request
# kernel_us_per_request" of the proxy PID
measure() {
    local ub sb ua sa rps
    read -r ub sb <<<"$(cpu_ticks "$1")"
    rps=$(bench_wrk_rps -t1 -c"$3" -d"$DURATION" "http://127.0.0.1:$2$4")
    read -r ua sa <<<"$(cpu_ticks "$1")"
    local per="1000000 / $(getconf CLK_TCK) / ($rps * ${DURATION%s})"
    echo "$rps $(echo "($ua + $sa - $ub - $sb) * $per" | bc -l) $(echo "($sa - $sb) * $per" | bc -l)"
}
# shape CONNECTIONS PATH: the rounds of one shape and their medians. The kernel's part of each
# proxy's CPU per request is the TCP work both do alike (the same segments and system calls per
# request, below); "floor" is the CPU ratio the gateway would have if its own code cost nothing
# (its kernel time over HAProxy's whole CPU time).
shape() {
    echo
    echo "wrk -t1 -c$1 $2"
    printf '%-6s %12s %12s %7s %14s %14s %7s %11s %11s %6s\n' round gateway_rps haproxy_rps ratio \
        gw_cpu_us/req ha_cpu_us/req ratio gw_kern_us ha_kern_us floor
    local gw_all=() ha_all=() gwc_all=() hac_all=() gwk_all=() hak_all=() floors=() g gc gk h hc hk f
    for round in $(seq "$ROUNDS"); do
        read -r g gc gk <<<"$(measure "$gw_pid" "$gw_port" "$1" "$2")"
        read -r h hc hk <<<"$(measure "$ha_pid" "$ha_port" "$1" "$2")"
        f=$(echo "$gk / $hc" | bc -l)
        gw_all+=("$g") ha_all+=("$h") gwc_all+=("$gc") hac_all+=("$hc") gwk_all+=("$gk") hak_all+=("$hk")
        floors+=("$f")
        printf '%-6s %12s %12s %7.3f %14.2f %14.2f %7.3f %11.2f %11.2f %6.3f\n' "$round" "$g" "$h" \
            "$(echo "$g / $h" | bc -l)" "$gc" "$hc" "$(echo "$gc / $hc" | bc -l)" "$gk" "$hk" "$f"
    done
    local gm hm gcm hcm
    gm=$(bench_median "${gw_all[@]}") hm=$(bench_median "${ha_all[@]}")
    gcm=$(bench_median "${gwc_all[@]}") hcm=$(bench_median "${hac_all[@]}")
    printf '%-6s %12s %12s %7.3f %14.2f %14.2f %7.3f %11.2f %11.2f %6.3f\n' median "$gm" "$hm" \
        "$(echo "$gm / $hm" | bc -l)" "$gcm" "$hcm" "$(echo "$gcm / $hcm" | bc -l)" \
        "$(bench_median "${gwk_all[@]}")" "$(bench_median "${hak_all[@]}")" "$(bench_median "${floors[@]}")"
}
shape 50 /
shape 1000 /
shape 10 /big.bin
shape 50 /big.bin

# System calls per request of each proxy (strace -c on the running proxy; wrk -t1 -c50, 3 s,
# small answers) and the machine's TCP segments per request in the same run (nstat: every
# process, both directions; the least an HTTP proxy can do is 4: request in and out, answer in
# and out).
proxy_syscalls() { # LABEL PID PORT
    strace -c -f -p "$2" -o "$BENCH_TMP/strace.$1" 2>/dev/null &
    local strace_pid=$! out requests segments
    sleep 0.5
    nstat -n >/dev/null 2>&1 || true
    out=$(taskset -c "${CLIENT_CPU:-0}" wrk -t1 -c50 -d3s "http://127.0.0.1:$3/" 2>&1)
    segments=$(nstat 2>/dev/null | awk '$1 == "TcpOutSegs" {print $2}')
    kill -INT "$strace_pid"
    wait "$strace_pid" 2>/dev/null || true
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    bench_strace_summary "$1" "$requests" "$segments" "$BENCH_TMP/strace.$1" 0.02
}
echo
echo "system calls per proxied request (strace -c -p; wrk -t1 -c50 /, 3 s)"
proxy_syscalls gateway "$gw_pid" "$gw_port"
proxy_syscalls haproxy "$ha_pid" "$ha_port"

# How often each proxy sleeps and is woken, and what backend b1 spends per request behind it
# (wrk -t1 -c50 /, 3 s, no strace): a wake-up is paid by the process that woke it, here nginx
# and wrk on the other core.
switches() { cat /proc/"$1"/task/*/status | awk '/_ctxt_switches/ {n += $2} END {print n}'; }
proxy_wakeups() { # LABEL PID PORT
    local s0 b0 s1 b1 out requests
    s0=$(switches "$2") b0=$(cpu_ticks "${backend_pids[0]}")
    out=$(taskset -c "${CLIENT_CPU:-0}" wrk -t1 -c50 -d3s "http://127.0.0.1:$3/" 2>&1)
    s1=$(switches "$2") b1=$(cpu_ticks "${backend_pids[0]}")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    read -r bu0 bs0 <<<"$b0"
    read -r bu1 bs1 <<<"$b1"
    printf '%-8s %6.3f context switches/request; backend b1 %.2f us CPU/request of its share\n' "$1" \
        "$(echo "($s1 - $s0) / $requests" | bc -l)" \
        "$(echo "($bu1 + $bs1 - $bu0 - $bs0) * 3 * 1000000 / $(getconf CLK_TCK) / $requests" | bc -l)"
}
echo
echo "proxy wake-ups (context switches of every thread) and backend CPU (wrk -t1 -c50 /, 3 s)"
proxy_wakeups gateway "$gw_pid" "$gw_port"
proxy_wakeups haproxy "$ha_pid" "$ha_port"

# kill_run PORT: wrk for 6 s through PORT, SIGKILL backend b2 after 2 s, restart it 3 s
# later. Sets KILL_MS (epoch ms) and RESULT: requests, failed (socket errors + non-2xx),
# socket errors, non-2xx. Runs in this shell (not in $(...)): it restarts a backend.
kill_run() {
    local out="$BENCH_TMP/wrk-kill-$1.txt"
    taskset -c "${CLIENT_CPU:-0}" wrk -t1 -c50 -d6s "http://127.0.0.1:$1/" >"$out" 2>&1 &
    local wrk_pid=$!
    sleep 2
    KILL_MS=$(date +%s%3N)
    kill -9 "${backend_pids[1]}"
    wait "${backend_pids[1]}" 2>/dev/null || true
    sleep 3
    start_backend 1 >/dev/null
    wait "$wrk_pid"
    local errors non2xx requests
    requests=$(awk '/requests in/ {print $1}' "$out")
    errors=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$out")
    RESULT="${requests:-0} $((${errors:-0} + ${non2xx:-0})) ${errors:-0} ${non2xx:-0}"
}

echo
echo "SIGKILL of backend b2 under wrk -t1 -c50 load (6 s run, kill at 2 s, restart at 5 s);"
echo "haproxy with its defaults (retries 3, on connection failures only), then with L7 retries"
printf '%-10s %10s %8s %14s %8s\n' proxy requests failed socket_errors non_2xx
kill_run "$gw_port"
gw_kill_ms=$KILL_MS
read -r req failed sock non <<<"$RESULT"
printf '%-10s %10s %8s %14s %8s\n' gateway "$req" "$failed" "$sock" "$non"
sleep 2
kill_run "$ha_port"
read -r req failed sock non <<<"$RESULT"
printf '%-10s %10s %8s %14s %8s\n' haproxy "$req" "$failed" "$sock" "$non"
sleep 2
kill_run "$ha_retry_port"
read -r req failed sock non <<<"$RESULT"
printf '%-10s %10s %8s %14s %8s   (retry-on all-retryable-errors, option redispatch)\n' \
    haproxy "$req" "$failed" "$sock" "$non"

events=$(curl -s "http://127.0.0.1:$gw_port/api/v1/cluster/events?node=b2")
python3 - "$gw_kill_ms" "$events" <<'PY'
import json, sys
kill_ms = int(sys.argv[1])
events = [e for e in json.loads(sys.argv[2])["events"] if kill_ms <= e["ts_ms"] < kill_ms + 6000]
first = next((e for e in events if e["event"] in ("ejected", "down")), None)
back = next((e for e in events if e["event"] in ("up", "readmitted")), None)
if first:
    print(f"gateway detection: b2 {first['event']} {first['ts_ms'] - kill_ms} ms after the kill ({first['detail']})")
for e in events:
    print(f"  +{e['ts_ms'] - kill_ms:6d} ms  {e['event']:<10} {e['detail']}")
if back:
    print(f"gateway readmission: b2 {back['event']} {back['ts_ms'] - kill_ms} ms after the kill (restart at ~3000 ms)")
PY
