#!/bin/sh
# systemd.sh -- e2e.systemd: deploy/systemd's units pass `systemd-analyze verify` without a
# word (a warning fails too): herd-master.service, and herd-worker@.service as an instance.
# ExecStart names /usr/local/bin/herd, where docs/deploy.md installs it; verify checks that the
# command exists, so the copies checked name this build's herd (HERD_BIN) instead. A copy with a
# mistake in it must be reported, or the check proves nothing on this machine.
# Exit 77 (skip) when systemd-analyze is not installed or cannot run.
set -eu
src=${HERD_SOURCE_DIR:?HERD_SOURCE_DIR: the repository}
bin=${HERD_BIN:?HERD_BIN: the herd binary}
units=$src/deploy/systemd
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "e2e.systemd: skipped: systemd-analyze is not installed (apt-get install systemd)"
    exit 77
fi
if ! systemd-analyze --version >/dev/null 2>&1; then
    echo "e2e.systemd: skipped: systemd-analyze cannot run here"
    exit 77
fi
dir=$(mktemp -d /tmp/herd-e2e-systemd.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM

fail() {
    echo "e2e.systemd: FAILED: $*" >&2
    exit 1
}

# verify UNIT_PATH: its output (stdout and stderr) and exit code in $out and $rc
verify() {
    rc=0
    out=$(cd "$dir" && systemd-analyze verify --man=no "$1" 2>&1) || rc=$?
}

for unit in herd-master.service herd-worker@.service; do
    [ -f "$units/$unit" ] || fail "$units/$unit is missing"
    grep -q '^ExecStart=/usr/local/bin/herd ' "$units/$unit" ||
        fail "$unit: ExecStart does not run /usr/local/bin/herd (docs/deploy.md installs it there)"
    sed "s|/usr/local/bin/herd|$bin|g" "$units/$unit" >"$dir/$unit"
done
for unit in herd-master.service herd-worker@w1.service; do
    verify "$dir/$unit"
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
        fail "systemd-analyze verify $unit: exit $rc: $out"
    fi
    rc=0
    out=$(cd "$dir" && systemd-analyze security --offline=yes --threshold=20 "$dir/$unit" 2>&1) ||
        rc=$?
    level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: *//p')
    if [ "$rc" -ne 0 ] || [ -z "$level" ]; then
        fail "systemd-analyze security $unit: exit $rc (more than 2.0 exposed?): $level"
    fi
    echo "e2e.systemd: $unit: verified; exposure $level"
done

# the negative control: a misspelt key and a missing command are reported
sed 's/^RestartSec=/RestartSecs=/' "$dir/herd-master.service" >"$dir/herd-broken.service"
sed -i "s|$bin|/nonexistent/herd|" "$dir/herd-broken.service"
verify "$dir/herd-broken.service"
case $out in
*"Unknown key 'RestartSecs'"*"/nonexistent/herd"*) ;;
*) fail "a broken unit was not reported as such (exit $rc): $out" ;;
esac
[ "$rc" -ne 0 ] || fail "a unit whose command is missing verified with exit 0"
echo "e2e.systemd: passed"
