#!/bin/bash
# demo.sh -- the demo until the test runner exists: start the demo cluster (three nodes
# behind the gateway) with herd up, load it through the gateway with herd bench, SIGKILL a
# replica under load (zero failed requests: the gateway retries on another node and ejects
# the dead one), watch the supervisor bring it back and the gateway readmit it, herd down.
set -euo pipefail
HERD=$(realpath "${1:-build/herd}")
cd "$(dirname "$0")/.."
state=$(mktemp -d /tmp/herd-demo-XXXXXX)
cleanup() { "$HERD" down --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
run() { echo; echo "\$ herd $*"; "$HERD" "$@" --state-dir "$state"; }
gateway=http://127.0.0.1:28090/echo

run up -d -f examples/demo-cluster.yaml
run status
echo; echo "\$ herd bench -q -n 3000 -c 12 $gateway"
"$HERD" bench -q -n 3000 -c 12 --threshold 'errors<0.1%' "$gateway"

echo; echo "\$ herd bench -d 4s -c 20 $gateway   # and, 1 s in: herd kill api.2"
"$HERD" bench -q -d 4s -c 20 --threshold 'failures<1' "$gateway" >"$state/bench.txt" 2>&1 &
bench_pid=$!
sleep 1
run kill api.2
sleep 0.5
run status
wait "$bench_pid" || { cat "$state/bench.txt"; exit 1; }
cat "$state/bench.txt"
for _ in $(seq 50); do
    "$HERD" status --state-dir "$state" | grep -q '^api.2 .* ready .* 1 .* up$' && break
    sleep 0.1
done
run status
run down
