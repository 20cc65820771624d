#!/bin/bash
# demo.sh -- the demo until the test runner exists: start the demo cluster with herd up,
# show its status, load it with herd bench (round robin over the three replicas), kill a
# replica and watch the supervisor bring it back, then herd down.
set -euo pipefail
HERD=$(realpath "${1:-build/herd}")
cd "$(dirname "$0")/.."
state=$(mktemp -d /tmp/herd-demo-XXXXXX)
cleanup() { "$HERD" down --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
run() { echo; echo "\$ herd $*"; "$HERD" "$@" --state-dir "$state"; }
bench() { echo; echo "\$ herd bench $*"; "$HERD" bench "$@"; }

run up -d -f examples/demo-cluster.yaml
run status
urls=(http://127.0.0.1:28081/echo http://127.0.0.1:28082/echo http://127.0.0.1:28083/echo)
bench -q -n 3000 -c 12 --lb roundrobin --threshold 'errors<0.1%' "${urls[@]}"
run kill api.2
for _ in $(seq 50); do
    "$HERD" status --state-dir "$state" | grep -q '^api.2 .* ready .* 1 ' && break
    sleep 0.1
done
run status
run down
