#!/bin/sh
# build-image.sh -- builds the herd container image with podman, from a local debootstrap base.
#
# usage: deploy/build-image.sh [-t TAG] [--herd BIN] [--base NAME] [--rebuild-base]
#
# Machines with a registry can build deploy/Containerfile as it is (FROM debian:bookworm-slim):
#   podman build -f deploy/Containerfile -t herd:0.1.0 .
# Where no registry is reachable, this script first makes the base image from a debootstrap
# rootfs of the machine's configured Debian mirror (the runtime libraries included), imports it
# as NAME (default localhost/herd-base:bookworm, kept and reused by later runs) and builds the
# Containerfile FROM it. The herd binary copied in is BIN (default build/herd, `make build`).
#
# Environment: HERD_PODMAN (default "podman --runtime runc": crun refuses hybrid cgroups),
# CONTAINERS_CONF (default: a file of this script's that empties default_ulimits), DEBIAN_MIRROR
# and DEBIAN_SUITE (default: the first URIs line of /etc/apt/sources.list.d/debian.sources, and
# bookworm).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
tag=localhost/herd:latest
bin=$root/build/herd
base=localhost/herd-base:bookworm
rebuild_base=0
# the runtime libraries of herd (ldd build/herd; libssl3 is opened with dlopen for TLS)
packages=libuv1,libyaml-0-2,libjansson4,libsqlite3-0,libssl3,ca-certificates

usage() {
    sed -n 's/^# usage: /usage: /p' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    -t | --tag) [ $# -ge 2 ] || usage; tag=$2; shift 2 ;;
    --herd) [ $# -ge 2 ] || usage; bin=$2; shift 2 ;;
    --base) [ $# -ge 2 ] || usage; base=$2; shift 2 ;;
    --rebuild-base) rebuild_base=1; shift ;;
    -h | --help) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

if [ ! -x "$bin" ]; then
    echo "build-image.sh: --herd '$bin': not an executable file (run 'make build' first)" >&2
    exit 2
fi
PODMAN=${HERD_PODMAN:-podman --runtime runc}
if [ -z "${CONTAINERS_CONF:-}" ]; then
    CONTAINERS_CONF=$(mktemp /tmp/herd-containers.XXXXXX)
    conf_tmp=$CONTAINERS_CONF
    printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
fi
export CONTAINERS_CONF
rootfs=""
context=""
cleanup() {
    [ -n "$rootfs" ] && rm -rf "$rootfs"
    [ -n "$context" ] && rm -rf "$context"
    [ -n "${conf_tmp:-}" ] && rm -f "$conf_tmp"
    return 0
}
trap cleanup EXIT INT TERM

mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
# the base is reused while it was made from the same suite and packages
want="$suite $packages"
have=$($PODMAN image inspect --format '{{index .Config.Labels "org.herd.base"}}' "$base" 2>/dev/null || true)
if [ "$rebuild_base" = 1 ] || [ "$have" != "$want" ]; then
    command -v debootstrap >/dev/null || {
        echo "build-image.sh: debootstrap is not installed (apt-get install debootstrap)" >&2
        exit 1
    }
    echo "build-image.sh: making the base $base: debootstrap $suite from $mirror" >&2
    rootfs=$(mktemp -d /var/tmp/herd-rootfs.XXXXXX)
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
        >"$rootfs.log" 2>&1 || {
        tail -20 "$rootfs.log" >&2
        echo "build-image.sh: debootstrap failed (log: $rootfs.log)" >&2
        exit 1
    }
    rm -f "$rootfs.log"
    # an image holds no package lists or caches
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | $PODMAN import --quiet \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
        --change "LABEL org.herd.base=\"$want\"" \
        --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf "$rootfs"
    rootfs=""
else
    echo "build-image.sh: reusing the base $base" >&2
fi

# the build context: the Containerfile and the binary, nothing else of the tree
context=$(mktemp -d /var/tmp/herd-context.XXXXXX)
cp "$here/Containerfile" "$context/Containerfile"
mkdir -p "$context/build"
cp "$bin" "$context/build/herd"
old=$($PODMAN image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
$PODMAN build --quiet --build-arg BASE="$base" -f "$context/Containerfile" -t "$tag" "$context" \
    >/dev/null
new=$($PODMAN image inspect --format '{{.Id}}' "$tag")
# the image this tag named before, untagged now: removed unless something still uses it
if [ -n "$old" ] && [ "$old" != "$new" ]; then
    $PODMAN rmi "$old" >/dev/null 2>&1 || true
fi
echo "build-image.sh: built $tag ($("$bin" --version), base $base)" >&2
