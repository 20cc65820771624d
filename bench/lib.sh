#!/bin/bash
# lib.sh -- shared helpers for the bench/ scripts: free ports, an nginx-light instance, wrk runs.
# Sourced, not run. Every process started here is stopped by bench_cleanup (trap EXIT).

BENCH_PIDS=()
BENCH_TMP=$(mktemp -d /tmp/herd-bench-XXXXXX)

bench_cleanup() {
    # `|| true`: under set -e, one process that already exited must not end the cleanup
    for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap "exit 130" INT TERM

bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}

# bench_wait_port PORT: waits until something answers HTTP on 127.0.0.1:PORT.
bench_wait_port() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.05
    done
    echo "nothing answers on port $1" >&2
    return 1
}

# bench_nginx_start DIR HTTP: nginx-light, one worker, pinned to SERVER_CPU, with the http
# block's content HTTP (its server blocks), files in DIR. Sets NGINX_PID.
bench_nginx_start() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 19000; }
http {
    keepalive_requests 1000000;
$2
}
CONF
    taskset -c "${SERVER_CPU:-1}" nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" &
    NGINX_PID=$!
    BENCH_PIDS+=("$NGINX_PID")
}

# bench_nginx PORT [ROOT]: nginx-light, one worker, `return 200` on every path, or the files
# of ROOT (sendfile). Sets NGINX_PID.
bench_nginx() {
    local location="return 200;"
    [ -n "${2:-}" ] && location="root $2;"
    bench_nginx_start "$BENCH_TMP/nginx-$1" "    access_log off;
    server {
        listen 127.0.0.1:$1 backlog=4096;
        sendfile on;
        location / { $location }
    }"
    bench_wait_port "$1"
}

# bench_wrk_rps ARGS...: runs wrk pinned to the client CPU; prints requests per second.
bench_wrk_rps() {
    taskset -c "${CLIENT_CPU:-0}" wrk "$@" 2>&1 | awk '/Requests\/sec/ {print $2}'
}

# bench_median N...: the median of the numbers.
bench_median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

# bench_cpu_seconds PID: the CPU time (user + system) the process used so far, in seconds.
bench_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}

# bench_master CPU PORT DIR: `herd master` ($HERD) pinned to CPU on 127.0.0.1:PORT, its store
# and log in DIR; waits until it answers. Sets MASTER_PID.
bench_master() {
    taskset -c "$1" "$HERD" master --listen "127.0.0.1:$2" --db "$3/herd.db" >"$3/master.log" 2>&1 &
    MASTER_PID=$!
    BENCH_PIDS+=("$MASTER_PID")
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$2/api/v1/workers" && break; sleep 0.05; done
}

# bench_wait_workers URL N: waits (up to 60 s) until the master at URL lists N active workers;
# prints how many are active at the end.
bench_wait_workers() {
    local active=0
    for _ in $(seq 600); do
        active=$(curl -s "$1/api/v1/workers" | python3 -c \
            'import json,sys; print(sum(w["state"] == "active" for w in json.load(sys.stdin)["workers"]))' \
            2>/dev/null || echo 0)
        [ "$active" -ge "$2" ] && break
        sleep 0.1
    done
    echo "$active"
}

# bench_strace_summary LABEL REQUESTS SEGMENTS STRACE_FILE MIN: one line of system calls per
# request from strace -c's table (the calls made at least MIN times a request by name), and
# the TCP segments per request.
bench_strace_summary() {
    awk -v label="$1" -v n="$2" -v segs="${3:-0}" -v min="$5" '
        $NF == "total" { total = $4; next }
        $1 ~ /^[0-9.]+$/ && NF >= 5 { c[$NF] = $4 }
        END {
            printf "%-8s %6.2f calls/request over %d requests:", label, total / n, n
            for (k in c) if (c[k] / n >= min) printf " %s %.2f", k, c[k] / n
            printf "; TCP segments/request %.2f\n", segs / n
        }' "$4"
}
