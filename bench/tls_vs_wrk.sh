#!/bin/bash
# tls_vs_wrk.sh -- herd bench and wrk over HTTPS against the same nginx-light (one worker,
# `return 200`, a self-signed certificate), alternating, pinned CPUs (nginx on one core, the
# load generator on the other). Three shapes:
#   keep-alive        -t1 -c50: TLS once per connection
#   new, resumed      -t1 -c20, a new connection per request (herd --no-keepalive, wrk
#                     'Connection: close'); both resume sessions (nginx: session cache and
#                     tickets on)
#   new, full         the same against a second nginx server that resumes nothing (no session
#                     cache, no tickets): every handshake is a full one for both; herd also
#                     with --tls-reuse off (it offers no session)
# Prints requests/s, client CPU microseconds per request, and nginx's count of resumed
# handshakes ($ssl_session_reused) for each, and the ratios herd/wrk.
# Floors (issue 18): new connections resumed: herd/wrk requests/s >= 1.0; full handshakes:
# herd's CPU per request <= wrk's.
set -euo pipefail
HERD=${1:-build/herd}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-4}
cd "$(dirname "$0")/.."
. bench/lib.sh

resumed_port=$(bench_free_port)
full_port=$(bench_free_port)
dir="$BENCH_TMP/nginx-tls"
mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 2>/dev/null
bench_nginx_start "$dir" "    log_format tls '\$ssl_session_reused';
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    server {
        listen 127.0.0.1:$resumed_port ssl backlog=4096;
        ssl_session_cache shared:HERD:10m;
        access_log $dir/resumed.log tls buffer=64k;
        location / { return 200; }
    }
    server {
        listen 127.0.0.1:$full_port ssl backlog=4096;
        ssl_session_cache off;
        ssl_session_tickets off;
        access_log $dir/full.log tls buffer=64k;
        location / { return 200; }
    }"
for _ in $(seq 100); do
    curl -sk -o /dev/null "https://127.0.0.1:$resumed_port/" && break
    sleep 0.05
done

# run_measured LOG CMD...: runs CMD pinned to the client CPU; prints "RPS CPU_SECONDS REUSED":
# nginx's resumed handshakes for this run, from LOG (flushed by a reopen signal).
run_measured() {
    local log=$1 out
    shift
    : >"$log"
    out=$( { /usr/bin/time -f 'CPU %U %S' taskset -c "${CLIENT_CPU:-0}" "$@" 2>&1; } 2>&1)
    kill -USR1 "$NGINX_PID" # reopen its logs: the buffered lines are written
    sleep 0.3
    local rps cpu reused
    rps=$(awk '/Requests\/sec:/ {print $2}
               /^  Requests / {for (i = 1; i <= NF; i++) if ($i ~ /\/s;$/) {sub("/s;", "", $i); print $i}}' <<<"$out" | head -n1)
    cpu=$(awk '/^CPU / {print $2 + $3}' <<<"$out")
    reused=$(grep -c '^r' "$log" || true)
    echo "$rps $cpu $reused"
}

# shape NAME LOG HERD_ARGS WRK_ARGS URL: HERD_ARGS and WRK_ARGS name arrays
shape() {
    local name=$1 log=$2 url=$5
    local -n herd_args=$3 wrk_args=$4
    echo
    echo "$name: herd bench ${herd_args[*]} vs wrk ${wrk_args[*]} ($PAIRS pairs, ${DURATION}s each)"
    printf '%-6s %10s %10s %7s %13s %13s %7s %12s %12s\n' pair herd_rps wrk_rps ratio \
        herd_cpu_us wrk_cpu_us ratio herd_resumed wrk_resumed
    local hr=() wr=() hc=() wc=()
    for pair in $(seq "$PAIRS"); do
        read -r h_rps h_cpu h_re < <(run_measured "$log" "$HERD" bench -q -k "${herd_args[@]}" -d"${DURATION}s" "$url")
        read -r w_rps w_cpu w_re < <(run_measured "$log" wrk "${wrk_args[@]}" -d"${DURATION}s" "$url")
        local h_us w_us
        h_us=$(echo "$h_cpu * 1000000 / ($h_rps * $DURATION)" | bc -l)
        w_us=$(echo "$w_cpu * 1000000 / ($w_rps * $DURATION)" | bc -l)
        hr+=("$h_rps") wr+=("$w_rps") hc+=("$h_us") wc+=("$w_us")
        printf '%-6s %10.0f %10.0f %7.3f %13.1f %13.1f %7.3f %12s %12s\n' "$pair" "$h_rps" "$w_rps" \
            "$(echo "$h_rps / $w_rps" | bc -l)" "$h_us" "$w_us" "$(echo "$h_us / $w_us" | bc -l)" \
            "$h_re" "$w_re"
    done
    local h w hcm wcm
    h=$(bench_median "${hr[@]}") w=$(bench_median "${wr[@]}")
    hcm=$(bench_median "${hc[@]}") wcm=$(bench_median "${wc[@]}")
    printf '%-6s %10.0f %10.0f %7.3f %13.1f %13.1f %7.3f\n' median "$h" "$w" "$(echo "$h / $w" | bc -l)" \
        "$hcm" "$wcm" "$(echo "$hcm / $wcm" | bc -l)"
}

resumed_url="https://127.0.0.1:$resumed_port/"
full_url="https://127.0.0.1:$full_port/"
echo "herd bench vs wrk over HTTPS, nginx-light on CPU ${SERVER_CPU:-1}, clients on CPU ${CLIENT_CPU:-0}"
keep_herd=(-t1 -c50) keep_wrk=(-t1 -c50)
new_herd=(-t1 -c20 --no-keepalive) new_wrk=(-t1 -c20 -H 'Connection: close')
off_herd=(-t1 -c20 --no-keepalive --tls-reuse off)
shape "keep-alive" "$dir/resumed.log" keep_herd keep_wrk "$resumed_url"
shape "new connections, resumed" "$dir/resumed.log" new_herd new_wrk "$resumed_url"
shape "new connections, full handshakes" "$dir/full.log" new_herd new_wrk "$full_url"
shape "new connections, full handshakes, herd --tls-reuse off" "$dir/full.log" off_herd new_wrk \
    "$full_url"
