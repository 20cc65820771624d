#!/bin/sh
# install-deps.sh -- apt-get install the named Debian packages that are not installed yet.
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# The servers some packages bring (nginx, haproxy, prometheus) are peers the tests start on
# their own ports, not daemons for this machine: none is started while they are installed
# (policy-rc.d, for invoke-rc.d and deb-systemd-invoke), unless the machine has its own policy.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by herd install-deps.sh while it installs; removed after\nexit 101\n' |
        $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
