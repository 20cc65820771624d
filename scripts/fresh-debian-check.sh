#!/bin/bash
# fresh-debian-check.sh -- runs the README's two commands (`apt-get update && apt-get install -y
# make && make demo`, then `make test`) on a clean Debian 12 made with debootstrap, from a clone
# of this checkout's HEAD: what a newcomer's fresh machine does. Needs root.
#
#   scripts/fresh-debian-check.sh [DIR]     (default DIR: /tmp/herd-fresh-debian, reused)
#
# Uses the machine's configured Debian mirror. Prints each command's exit code and the CTest
# summary; exits non-zero when either command failed. Everything it mounts is unmounted on the
# way out; the root file system is left in DIR/root for inspection.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/herd-fresh-debian}
root=$work/root

mirror() { # the first Debian mirror apt is configured with
    local m=""
    if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
        m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mnt() { mount "$@"; mounted+=("${!#}"); }

command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
mkdir -p "$work"
if [ ! -x "$root/bin/bash" ]; then
    echo "debootstrap bookworm into $root ($(mirror))"
    debootstrap --variant=minbase bookworm "$root" "$(mirror)" >"$work/debootstrap.log" 2>&1
fi
# what a real machine has and a bare chroot lacks: name resolution, /etc/hosts, a root that
# is a mount point (ip netns needs it), and the machine's own CA certificates (a proxy's)
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
mnt --bind "$root" "$root"
mnt -t proc proc "$root/proc"
mnt -t sysfs sys "$root/sys"
mnt --bind /dev "$root/dev"
mnt -t devpts -o newinstance devpts "$root/dev/pts"
mnt -t tmpfs tmpfs "$root/tmp"

rm -rf "$root/herd"
git clone -q "$repo" "$root/herd"
echo "testing $(git -C "$root/herd" log --oneline -1)"

run() { # NAME COMMAND: runs COMMAND in the chroot, output in $work/NAME.out
    local name=$1 start rc
    shift
    start=$(date +%s)
    set +e
    env -i HOME=/root TERM=dumb LANG=C.UTF-8 NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$root" /bin/bash -c "cd /herd && $*" >"$work/$name.out" 2>&1
    rc=$?
    set -e
    echo "$name: exit $rc in $(($(date +%s) - start)) s ($work/$name.out)"
    grep -E "verdict:|tests passed" "$work/$name.out" || tail -5 "$work/$name.out"
    return $rc
}

status=0
run demo 'apt-get update && apt-get install -y make && make demo' || status=1
run test 'make test' || status=1
exit $status
