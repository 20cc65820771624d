#!/bin/sh
# web-deps.sh -- the npm packages in web/package-lock.json (uPlot, embedded into herd at build
# time; playwright-core for the browser tests), installed into web/node_modules with `npm ci`
# when missing or older than the lock. Installs Debian's nodejs and npm first when there is
# no npm.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
command -v npm >/dev/null 2>&1 || "$root/scripts/install-deps.sh" nodejs npm
cd "$root/web"
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then exit 0; fi
echo "npm ci (web/)"
npm ci --no-audit --no-fund --loglevel=error
