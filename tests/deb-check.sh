#!/usr/bin/env bash
# The Debian packages as a user gets them: the source tree (git ls-files)
# built with dpkg-buildpackage, checked by lintian (errors fail, warnings
# are printed), installed with apt-get into a clean bookworm root made by
# debootstrap (cached in /var/cache/libfz), and the programs run there.
#
#   deb-check.sh SOURCE_ROOT        (as root; installs its tools with apt-get)
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)

[ "$(id -u)" = 0 ] || { echo "deb-check: needs root" >&2; exit 77; }

step_start=0
step() {
  local now
  now=$(date +%s)
  [ "$step_start" = 0 ] || echo "deb-check: ($((now - step_start)) s)"
  step_start=$now
  echo "deb-check: $*"
}

tmp=$(mktemp -d /tmp/fz-deb-XXXXXX)
root_cache=/var/cache/libfz/bookworm-minbase
mounted=""
cleanup() {
  [ -z "$mounted" ] || umount "$mounted" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

step "tools (apt-get)"
tools=(dpkg-dev debhelper lintian debootstrap fakeroot)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [ "${#missing[@]}" != 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
cd "$src"
dpkg-checkbuilddeps debian/control

step "copy the source tree"
mkdir "$tmp/libfz"
git -C "$src" ls-files -z | (cd "$src" && xargs -0 cp --parents -d -t "$tmp/libfz")

step "dpkg-buildpackage -us -uc -b"
(cd "$tmp/libfz" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
  nice -n 10 dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
  tail -n 60 "$tmp/build.log" >&2
  echo "deb-check: dpkg-buildpackage failed" >&2
  exit 1
}
changes=$(ls "$tmp"/libfz_*.changes)
ls "$tmp"/*.deb

step "lintian"
lintian --allow-root --info --display-info "$changes" >"$tmp/lintian.log" 2>&1 || true
grep -E '^[WI]: ' "$tmp/lintian.log" | grep -v '^I: ' || true
if grep -E '^E: ' "$tmp/lintian.log"; then
  echo "deb-check: lintian reports errors" >&2
  exit 1
fi

step "clean root (debootstrap, cached in $root_cache)"
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb  *\(http[^ ]*\/debian\)  *bookworm .*/\1/p' \
  /etc/apt/sources.list 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
if [ ! -f "$root_cache/.complete" ]; then
  rm -rf "$root_cache.new"
  mkdir -p "${root_cache%/*}"
  debootstrap --variant=minbase bookworm "$root_cache.new" "$mirror" \
    >"$tmp/debootstrap.log" 2>&1 || {
    tail -n 30 "$tmp/debootstrap.log" >&2
    rm -rf "$root_cache.new"
    exit 1
  }
  rm -rf "$root_cache.new/var/cache/apt/archives/"*.deb
  touch "$root_cache.new/.complete"
  rm -rf "$root_cache"
  mv "$root_cache.new" "$root_cache"
fi
# A copy: the cached root stays clean for the next run.
root="$tmp/root"
cp -a "$root_cache" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/debs"
# The packages, not their debug symbols.
find "$tmp" -maxdepth 1 -name '*.deb' ! -name '*-dbgsym_*' -exec cp -t "$root/debs" {} +
# The host's Debian suites: the packages were built against their updates.
security=${mirror%/debian}/debian-security
case $mirror in
  */debian) ;;
  *) security=http://deb.debian.org/debian-security ;;
esac
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES

step "apt-get install the packages in the clean root"
mount -t proc proc "$root/proc"
mounted="$root/proc"
debs=$(cd "$root" && printf './%s ' debs/*.deb)
# shellcheck disable=SC2086 # one word per package file
chroot "$root" env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get update -qq && apt-get install -y -qq --no-install-recommends $debs" \
  >"$tmp/install.log" 2>&1 || {
  tail -n 40 "$tmp/install.log" >&2
  echo "deb-check: installing the packages failed" >&2
  exit 1
}

step "run the installed programs"
chroot "$root" fz-gateway --version
chroot "$root" fzctl --version
chroot "$root" fz-portal --help >/dev/null
# Noninteractive, no token: none written, the gateway not started.
[ ! -e "$root/etc/fz-gateway/token" ] || { echo "a token file without a token" >&2; exit 1; }
chroot "$root" getent passwd fz-portal >/dev/null \
  || { echo "the fz-portal user was not created" >&2; exit 1; }
for f in lib/systemd/system/fz-gateway.service lib/systemd/system/fz-tunnel.service \
  lib/systemd/system/fz-portal.service usr/lib/x86_64-linux-gnu/libfz.so.0 \
  usr/share/dbus-1/system.d/dev.libfz.Tunnel.conf; do
  [ -e "$root/$f" ] || { echo "$f is not installed" >&2; exit 1; }
done
chroot "$root" dpkg-query -W 'libfz0' 'libfz-dev' 'fz-gateway' 'fz-client' 'fz-portal'

step "fz-gateway: the token from debconf"
# A preseeded answer, as an unattended install gives it: written root:root
# 0600 to the file the unit reads, and not kept in debconf's database.
echo "fz-gateway fz-gateway/token password deb-check-token" \
  | chroot "$root" debconf-set-selections
chroot "$root" env DEBIAN_FRONTEND=noninteractive dpkg-reconfigure fz-gateway
mode=$(stat -c '%U:%G %a' "$root/etc/fz-gateway/token")
[ "$mode" = "root:root 600" ] || { echo "token file is $mode" >&2; exit 1; }
[ "$(cat "$root/etc/fz-gateway/token")" = deb-check-token ] \
  || { echo "the token file does not hold the token" >&2; exit 1; }
! grep -rq deb-check-token "$root/var/cache/debconf" \
  || { echo "debconf kept the token" >&2; exit 1; }

step "fz-gateway --check with that token, as the unit passes it"
# LoadCredential=FIREZONE_TOKEN:/etc/fz-gateway/token, in a network
# namespace of its own (forwarding off there: checked, not changed).
mkdir -p "$root/dev/net" "$root/run/fz-check"
[ -c "$root/dev/net/tun" ] || mknod -m 0666 "$root/dev/net/tun" c 10 200
install -m 0600 "$root/etc/fz-gateway/token" "$root/run/fz-check/FIREZONE_TOKEN"
unshare --net chroot "$root" env CREDENTIALS_DIRECTORY=/run/fz-check \
  FIREZONE_API_URL=wss://portal.example.test fz-gateway --check >"$tmp/check.out" 2>&1 \
  || { cat "$tmp/check.out" >&2; echo "fz-gateway --check failed" >&2; exit 1; }
cat "$tmp/check.out"
grep -q "configuration is valid" "$tmp/check.out" \
  || { echo "fz-gateway --check did not say the configuration is valid" >&2; exit 1; }
if unshare --net chroot "$root" env CREDENTIALS_DIRECTORY=/run/fz-check \
  FIREZONE_API_URL=ftp://portal.example.test fz-gateway --check >"$tmp/check.out" 2>&1; then
  echo "fz-gateway --check took an ftp portal URL" >&2
  exit 1
fi
grep -q "not http(s) or ws(s)" "$tmp/check.out" \
  || { cat "$tmp/check.out" >&2; echo "fz-gateway --check: not the URL's error" >&2; exit 1; }
rm -r "$root/run/fz-check"

chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq fz-gateway \
  >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; exit 1; }
[ ! -e "$root/etc/fz-gateway/token" ] || { echo "purge left the token" >&2; exit 1; }
umount "$root/proc"
mounted=""
step "done"
