#!/bin/bash
# gateway_nodes.sh -- the gateway with 3 nodes and with 10,000 (issue 18): requests/s through
# it for roundrobin and leastconn, the 10,000/3 ratio (goal: about 1, a pick's cost does not
# grow with the nodes), gateway CPU per request, and callgrind instructions per request.
#
# The nodes are real listeners: NODES ports (default 10,000) served by a few nginx-light
# processes, PER_NGINX listen lines each (2,500: each holds its listening sockets plus the
# gateway's kept-alive connections, well under the 20,000-descriptor limit), every port a
# node of its own in the gateway (id n1..nN, checked by GET /health). 10,000 real `herd node`
# processes are bench/capacity.sh's subject; here a node is what the gateway sees: an address
# that answers. The 3-node gateway uses three of the same ports.
#
# Three gateways per algorithm: 3 nodes, NODES nodes, and NODES nodes of which 3 take
# requests (the rest at weight 0: the pick alone, with the kept-alive connections of 3 nodes).
# They run side by side (one thread each, on PROXY_CPU; nginx and wrk on SERVER_CPU /
# CLIENT_CPU), measured in alternating rounds; the medians' ratios to 3 nodes are the result. Health checks: inter 60s during the wrk runs (10,000 nodes: about 170 checks/s,
# spread over the interval), 1h under callgrind. A last phase starts a 10,000-node gateway
# with inter 10s and counts its first checks per 100 ms at the nodes (nginx's log): spread,
# not 10,000 on one tick.
set -euo pipefail
HERD=${1:-build/herd}
NODES=${NODES:-10000}
PER_NGINX=${PER_NGINX:-2500}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
PROXY_CPU=${PROXY_CPU:-1}
CALLGRIND=${CALLGRIND:-1} # 0: skip the callgrind phase
SPREAD=${SPREAD:-1}       # 0: skip the health checks' spread phase
PICK=${PICK:-1}           # 0: skip the pick-alone phase; PICK_ONLY=1: only it
PICK_ONLY=${PICK_ONLY:-0}
# node ports from here up, below the ephemeral range (32768); ports in use are skipped, and one
# taken between that look and nginx's start fails the run (move PORT_BASE away from other users)
PORT_BASE=${PORT_BASE:-21000}
cd "$(dirname "$0")/.."
. bench/lib.sh
export SERVER_CPU=${SERVER_CPU:-0} # the backends share the client's core: the proxy gets one
export CLIENT_CPU=${CLIENT_CPU:-0}
[ "$NODES" -ge 3 ] || { echo "NODES must be at least 3" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (make bench-deps)" >&2; exit 2; }

# ---- a pick alone: the balancer module under callgrind, 3 vs NODES nodes (stable on a busy
# machine: instructions, not time). 50 requests in flight, as wrk -c50 keeps; select and
# on_result per request; the count is the difference of two runs (P and 2P picks), so the
# schedule's build is left out. BASE_SRC=DIR: the same from another tree (before/after).
pick_cost() { # pick_cost SRC_DIR: prints the table
    local src=$1 bin="$BENCH_TMP/pick-$RANDOM"
    cat >"$BENCH_TMP/pick.c" <<'C'
/* pick.c -- picks per algorithm and node count, for callgrind (bench/gateway_nodes.sh) */
#include <stdio.h>
#include <stdlib.h>

#include "balance/balancer.h"

int main(int argc, char **argv)
{
    enum balance_algorithm a;
    if (argc != 4 || balancer_parse(argv[1], &a) < 0) return 2;
    size_t n = strtoul(argv[2], NULL, 10), picks = strtoul(argv[3], NULL, 10);
    struct balancer_node *nodes = calloc(n, sizeof *nodes);
    char(*ids)[24] = calloc(n, sizeof *ids);
    if (!nodes || !ids) return 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "n%zu", i + 1);
        nodes[i] = (struct balancer_node){ids[i], 10, true}; /* the gateway's weight 1 */
    }
    struct balancer_schedule *s = balancer_schedule_new(a, nodes, n, NULL);
    struct balancer b;
    balancer_init(&b, a, 1, 0);
    if (!s || balancer_use(&b, s) < 0) return 1;
    int held[50];
    for (int k = 0; k < 50; k++) held[k] = -1;
    unsigned long sum = 0;
    for (size_t k = 0; k < picks; k++) {
        int *slot = &held[k % 50];
        if (*slot >= 0) balancer_on_result(&b, *slot, true);
        *slot = balancer_select(&b, NULL, 0, NULL, 0);
        sum += (unsigned long)*slot;
    }
    printf("%lu\n", sum);
    balancer_free(&b);
    balancer_schedule_release(s);
    free(nodes);
    free(ids);
    return 0;
}
C
    cc -O2 -std=c11 -D_GNU_SOURCE -I"$src/src" "$BENCH_TMP/pick.c" "$src/src/balance/balancer.c" -o "$bin"
    local ir p=20000
    printf '%-11s %12s %12s %7s\n' balance "instr/pick_3" "instr/pick_$NODES" ratio
    for alg in roundrobin leastconn random p2c weighted; do
        local per=()
        for n in 3 "$NODES"; do
            ir=()
            for count in "$p" $((2 * p)); do
                valgrind --tool=callgrind --callgrind-out-file="$bin.out" "$bin" "$alg" "$n" "$count" >/dev/null 2>&1
                ir+=("$(awk '/^summary:/ {print $2}' "$bin.out")")
            done
            per+=("$(echo "(${ir[1]} - ${ir[0]}) / $p" | bc)")
        done
        printf '%-11s %12s %12s %7.2f\n' "$alg" "${per[0]}" "${per[1]}" "$(echo "${per[1]} / ${per[0]}" | bc -l)"
    done
}
if [ "$PICK" = 1 ] && command -v valgrind >/dev/null; then
    echo "a pick alone (balancer_select + balancer_on_result, 50 in flight), callgrind instructions:"
    pick_cost .
    if [ -n "${BASE_SRC:-}" ]; then
        echo "the same with $BASE_SRC's balancer:"
        pick_cost "$BASE_SRC"
    fi
    [ "$PICK_ONLY" = 1 ] && exit 0
    echo
fi

# NODES ports nobody listens on now, from PORT_BASE up
mapfile -t ports < <(python3 - "$PORT_BASE" "$NODES" <<'PY'
import socket, sys
port, want, found = int(sys.argv[1]), int(sys.argv[2]), 0
while found < want and port < 32768:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        found += 1
    except OSError:
        pass
    finally:
        s.close()
    port += 1
PY
)
[ "${#ports[@]}" -eq "$NODES" ] || { echo "only ${#ports[@]} free ports from $PORT_BASE" >&2; exit 1; }

echo "starting $NODES node ports on $(((NODES + PER_NGINX - 1) / PER_NGINX)) nginx-light processes"
for ((k = 0; k < NODES; k += PER_NGINX)); do
    listens=""
    for p in "${ports[@]:k:PER_NGINX}"; do listens+="        listen 127.0.0.1:$p;"$'\n'; done
    dir="$BENCH_TMP/nginx-$k"
    bench_nginx_start "$dir" "    access_log off;
    log_format checks '\$msec \$uri';
    server {
$listens
        location / { return 200; }
        location ^~ /health { access_log $dir/checks.log checks; return 200; }
    }"
    last=$((k + PER_NGINX < NODES ? k + PER_NGINX - 1 : NODES - 1))
    bench_wait_port "${ports[$k]}"
    bench_wait_port "${ports[$last]}"
done

# gateway_file FILE COUNT INTER [ACTIVE]: a gateway section with nodes n1.. on the first COUNT
# ports, the nodes past the first ACTIVE (default all) at weight 0: up, checked, taking nothing
gateway_file() {
    local active=${4:-$2}
    {
        echo "gateway:"
        echo "  health: {path: /health, inter: $3}"
        echo "  nodes:"
        for ((i = 0; i < $2; i++)); do
            echo "    - n$((i + 1))=127.0.0.1:${ports[$i]}$([ "$i" -lt "$active" ] || echo '#weight=0')"
        done
    } >"$1"
}
# the gateways compared: 3 nodes; NODES nodes all taking requests; NODES nodes of which 3 take
# requests (the others at weight 0): that one isolates the pick (the balancer must pass over
# 9,997 nodes; the kept-alive connections are those of 3 nodes, as with 3), while "all" also
# pays what NODES real nodes cost (a connection per node, each reused only when its turn comes
# back: every NODES / rps seconds, closed after 15 s idle)
variants=(3 all few)
declare -A v_count=([3]=3 [all]=$NODES [few]=$NODES) v_active=([3]=3 [all]=$NODES [few]=3)
for v in "${variants[@]}"; do
    gateway_file "$BENCH_TMP/gw-$v.yaml" "${v_count[$v]}" 60s "${v_active[$v]}"
    gateway_file "$BENCH_TMP/gw-$v-cg.yaml" "${v_count[$v]}" 1h "${v_active[$v]}"
done

# status PORT FIELD: a field of the gateway's status
status() {
    curl -s "http://127.0.0.1:$1/api/v1/cluster/status" |
        python3 -c "import json,sys; print(json.load(sys.stdin)['status']['$2'])" 2>/dev/null || echo 0
}
# wait_active PORT COUNT SECONDS: until COUNT nodes take requests
wait_active() {
    for _ in $(seq $(($3 * 10))); do
        [ "$(status "$1" active_nodes)" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "gateway on $1: only $(status "$1" active_nodes) of $2 nodes active" >&2
    return 1
}
# warm PORT COUNT: requests until every node was picked twice (each keeps a connection)
warm() {
    local until=$(($(status "$1" total_requests) + 2 * $2))
    while [ "$(status "$1" total_requests)" -lt "$until" ]; do
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$1/" >/dev/null 2>&1
    done
}

declare -A gw_port gw_pid
[ "$ROUNDS" -gt 0 ] || ALGS_MEASURED=0
for alg in roundrobin leastconn; do
    [ "${ALGS_MEASURED:-1}" = 1 ] || break
    for v in "${variants[@]}"; do
        port=$(bench_free_port)
        taskset -c "$PROXY_CPU" "$HERD" gateway -f "$BENCH_TMP/gw-$v.yaml" --port "$port" \
            --threads 1 --balance "$alg" --log-level warn 2>"$BENCH_TMP/gateway-$alg-$v.log" &
        gw_pid[$alg-$v]=$!
        BENCH_PIDS+=($!)
        gw_port[$alg-$v]=$port
    done
done
for key in "${!gw_port[@]}"; do
    bench_wait_port "${gw_port[$key]}"
    wait_active "${gw_port[$key]}" "${v_active[${key#*-}]}" 60
done
for key in "${!gw_port[@]}"; do warm "${gw_port[$key]}" "${v_active[${key#*-}]}"; done
[ "${ALGS_MEASURED:-1}" = 1 ] && echo "nodes ready; gateway /api/v1/cluster/nodes with $NODES nodes: $(curl -s "http://127.0.0.1:${gw_port[roundrobin-all]}/api/v1/cluster/nodes" | wc -c) bytes," \
    "/metrics: $(curl -s "http://127.0.0.1:${gw_port[roundrobin-all]}/metrics" | wc -c) bytes"

# measure PID PORT: wrk through the gateway; prints "rps cpu_us_per_request"
measure() {
    local before after rps
    before=$(bench_cpu_seconds "$1")
    rps=$(bench_wrk_rps -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$2/")
    after=$(bench_cpu_seconds "$1")
    echo "$rps $(echo "($after - $before) * 1000000 / ($rps * ${DURATION%s})" | bc -l)"
}

[ "${ALGS_MEASURED:-1}" = 1 ] && echo && echo "herd gateway, one thread on CPU $PROXY_CPU; wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS alternating rounds;" &&
    echo "3: 3 nodes; all: $NODES nodes taking requests; few: $NODES nodes, 3 taking requests (the pick alone)"
for alg in roundrobin leastconn; do
    [ "${ALGS_MEASURED:-1}" = 1 ] || break
    echo
    echo "--balance $alg: requests/s (ratio to 3), gateway CPU us per request (ratio to 3)"
    printf '%-6s %9s %9s %6s %9s %6s %8s %8s %6s %8s %6s\n' round rps_3 rps_all ratio rps_few ratio \
        cpu_3 cpu_all ratio cpu_few ratio
    declare -A all_r=() all_c=()
    for round in $(seq "$ROUNDS"); do
        declare -A r=() c=()
        for v in "${variants[@]}"; do
            read -r "r[$v]" "c[$v]" <<<"$(measure "${gw_pid[$alg-$v]}" "${gw_port[$alg-$v]}")"
            all_r[$v]+="${r[$v]} " all_c[$v]+="${c[$v]} "
        done
        printf '%-6s %9.0f %9.0f %6.3f %9.0f %6.3f %8.2f %8.2f %6.3f %8.2f %6.3f\n' "$round" \
            "${r[3]}" "${r[all]}" "$(echo "${r[all]} / ${r[3]}" | bc -l)" "${r[few]}" "$(echo "${r[few]} / ${r[3]}" | bc -l)" \
            "${c[3]}" "${c[all]}" "$(echo "${c[all]} / ${c[3]}" | bc -l)" "${c[few]}" "$(echo "${c[few]} / ${c[3]}" | bc -l)"
    done
    for v in "${variants[@]}"; do
        # shellcheck disable=SC2086
        r[$v]=$(bench_median ${all_r[$v]}) c[$v]=$(bench_median ${all_c[$v]})
    done
    printf '%-6s %9.0f %9.0f %6.3f %9.0f %6.3f %8.2f %8.2f %6.3f %8.2f %6.3f\n' median \
        "${r[3]}" "${r[all]}" "$(echo "${r[all]} / ${r[3]}" | bc -l)" "${r[few]}" "$(echo "${r[few]} / ${r[3]}" | bc -l)" \
        "${c[3]}" "${c[all]}" "$(echo "${c[all]} / ${c[3]}" | bc -l)" "${c[few]}" "$(echo "${c[few]} / ${c[3]}" | bc -l)"
done
for key in "${!gw_pid[@]}"; do kill "${gw_pid[$key]}" 2>/dev/null || true; wait "${gw_pid[$key]}" 2>/dev/null || true; done

if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
    echo
    echo "callgrind: instructions per proxied request (user space, the gateway's one thread),"
    echo "counted over wrk -t1 -c10 -d3s after every active node was picked twice; checks every 1h"
    printf '%-11s %11s %11s %6s %11s %6s\n' balance instr_3 instr_all ratio instr_few ratio
    for alg in roundrobin leastconn; do
        declare -A per=()
        for v in "${variants[@]}"; do
            port=$(bench_free_port)
            out="$BENCH_TMP/callgrind-$alg-$v.out"
            taskset -c "$PROXY_CPU" valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$HERD" gateway -f "$BENCH_TMP/gw-$v-cg.yaml" --port "$port" --threads 1 \
                --balance "$alg" --log-level warn 2>"$BENCH_TMP/callgrind-$alg-$v.log" &
            pid=$!
            BENCH_PIDS+=($pid)
            for _ in $(seq 1200); do curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/cluster/status" && break; sleep 0.1; done
            wait_active "$port" "${v_active[$v]}" 120
            warm "$port" "${v_active[$v]}"
            before=$(status "$port" total_requests)
            callgrind_control -z "$pid" >/dev/null 2>&1
            taskset -c "$CLIENT_CPU" wrk -t1 -c10 -d3s "http://127.0.0.1:$port/" >/dev/null 2>&1
            callgrind_control -d "$pid" >/dev/null 2>&1
            after=$(status "$port" total_requests)
            ir=$(cat "$out".* 2>/dev/null | awk '/^summary:/ {s += $2} END {print s + 0}')
            per[$v]=$(echo "$ir / ($after - $before)" | bc)
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
        printf '%-11s %11s %11s %6.3f %11s %6.3f\n' "$alg" "${per[3]}" "${per[all]}" \
            "$(echo "${per[all]} / ${per[3]}" | bc -l)" "${per[few]}" "$(echo "${per[few]} / ${per[3]}" | bc -l)"
    done
fi

# the first health checks of NODES static nodes, inter 10s: per 100 ms at the nodes
[ "$SPREAD" = 1 ] || exit 0
for ((k = 0; k < NODES; k += PER_NGINX)); do : >"$BENCH_TMP/nginx-$k/checks.log"; done
gateway_file "$BENCH_TMP/gw-spread.yaml" "$NODES" 10s
sed -i 's|path: /health,|path: /health-spread,|' "$BENCH_TMP/gw-spread.yaml"
port=$(bench_free_port)
start_ms=$(date +%s%3N)
taskset -c "$PROXY_CPU" "$HERD" gateway -f "$BENCH_TMP/gw-spread.yaml" --port "$port" --threads 1 \
    --log-level warn 2>"$BENCH_TMP/gateway-spread.log" &
pid=$!
BENCH_PIDS+=($pid)
bench_wait_port "$port"
sleep 12
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo
cat "$BENCH_TMP"/nginx-*/checks.log | python3 -c '
import sys, collections
start, nodes = int(sys.argv[1]), int(sys.argv[2])
times = sorted(float(l.split()[0]) for l in sys.stdin if "/health-spread" in l)
if not times:
    sys.exit("no check reached the nodes")
first = times[0]
buckets = collections.Counter(int((t - first) * 10) for t in times if t - first < 10)
print(f"first health checks of {nodes} nodes (inter 10s), at the nodes: {len(times)} checks in "
      f"{times[-1] - first:.1f} s, the first {(first * 1000 - start) / 1000:.2f} s after the start; "
      f"the busiest 100 ms of the first 10 s had {max(buckets.values())} "
      f"(evenly: {nodes / 100:.0f}; all at once: {nodes})")
' "$start_ms" "$NODES"
