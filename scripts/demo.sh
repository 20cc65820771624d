#!/bin/bash
# demo.sh -- `make demo`: the main job on the built-in demo cluster. herd test launches three
# demo nodes and the gateway (examples/demo.yaml), checks connectivity, distribution, a
# SIGKILL under load with restart, and latency under load, prints the verdicts and writes
# the reports to reports/demo/.
set -euo pipefail
HERD=$(realpath "${1:-build/herd}")
cd "$(dirname "$0")/.."
echo "\$ herd test examples/demo.yaml"
"$HERD" test examples/demo.yaml
