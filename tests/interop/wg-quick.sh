#!/usr/bin/env bash
# fz-wg as a new user runs it: wg-quick up/down with
# WG_QUICK_USERSPACE_IMPLEMENTATION=fz-wg against a wireguard-go peer, in
# two network namespaces. Up and ping work; wg-quick down deletes the link,
# and fz-wg must then exit within a second (no spinning), exit status 0,
# its socket removed. SIGTERM also ends it within a second.
#
#   wg-quick.sh FZ_WG_BIN
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

fzwg=$(realpath "$1")
fz_require_root
fz_require_cmd ip wg wg-quick wireguard-go ping timeout
[ -c /dev/net/tun ] || fz_skip "needs /dev/net/tun"
# With the kernel module, wg-quick never falls back to a userspace one.
[ ! -e /sys/module/wireguard ] || fz_skip "the wireguard kernel module is loaded"

. "$(dirname "$0")/../wg-pair.sh"
trap wg_pair_cleanup EXIT
tmp=$wg_pair_tmp
sock=/var/run/wireguard/$ifa.sock
comm=$(basename "$fzwg" | cut -c1-15) # as /proc/PID/comm shows it
step () { echo "== $*"; }

wg_pair_namespaces

# B: wireguard-go, configured with wg(8).
wg_pair_start "$B" "$ifb" wireguard-go
ip netns exec "$B" wg set "$ifb" private-key "$tmp/kb" listen-port 51821 \
  peer "$(cat "$tmp/pa")" allowed-ips 100.64.0.1/32
ip -n "$B" addr add 100.64.0.2/24 dev "$ifb"
ip -n "$B" link set "$ifb" mtu 1420 up

# A: a wg-quick configuration; the interface is named after the file.
conf=$tmp/$ifa.conf
(
  umask 077
  cat >"$conf" <<EOF
[Interface]
Address = 100.64.0.1/24
PrivateKey = $(cat "$tmp/ka")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$tmp/pb")
Endpoint = 192.0.2.2:51821
AllowedIPs = 100.64.0.2/32
EOF
)

wgq () {
  ip netns exec "$A" env WG_QUICK_USERSPACE_IMPLEMENTATION="$impl" \
    wg-quick "$1" "$conf" >>"$tmp/wg-quick.log" 2>&1 \
    || { cat "$tmp/wg-quick.log" >&2; fail "wg-quick $1"; }
}

# A process that exited but was not reaped yet (a daemon's new parent
# may be slow to) counts as gone.
running () {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $st != Z* ]]
}

# gone_within_1s PID: a spinning or hung fz-wg is still there.
gone_within_1s () {
  for _ in $(seq 10); do
    running "$1" || return 0
    sleep 0.1
  done
  ! running "$1"
}

up_and_ping () {
  wgq up
  [ -S "$sock" ] || fail "no configuration socket after wg-quick up"
  pid=""
  for p in $(ip netns pids "$A"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" != "$comm" ] || pid="$pid$p"
  done
  [[ $pid =~ ^[0-9]+$ ]] || fail "expected one fz-wg in A: '$pid'"
  wg_pair_ping "$A" 100.64.0.2 || fail "no ping through the tunnel after wg-quick up"
}

step "wg-quick up/down, fz-wg in the background as wg-quick starts it"
impl=$fzwg
up_and_ping
wgq down
gone_within_1s "$pid" || {
  ps -o pid,stat,pcpu,comm -p "$pid" >&2 || true
  fail "fz-wg still running 1 s after wg-quick down"
}
[ ! -e "$sock" ] || fail "socket left behind after wg-quick down"

# The same through a wrapper that keeps fz-wg in the foreground, so its
# exit status and log can be checked.
cat >"$tmp/fz-wg-fg" <<EOF
#!/bin/sh
( "$fzwg" -f "\$1"; echo \$? >"$tmp/status" ) >"$tmp/fz-wg.log" 2>&1 &
for i in \$(seq 50); do [ -S "/var/run/wireguard/\$1.sock" ] && exit 0; sleep 0.1; done
exit 1
EOF
chmod +x "$tmp/fz-wg-fg"
impl=$tmp/fz-wg-fg

step "wg-quick down: fz-wg exits with status 0, within a second"
rm -f "$tmp/status"
up_and_ping
wgq down
gone_within_1s "$pid" || fail "fz-wg still running 1 s after wg-quick down"
for _ in $(seq 10); do [ -e "$tmp/status" ] && break; sleep 0.1; done
[ "$(cat "$tmp/status" 2>/dev/null)" = 0 ] \
  || { cat "$tmp/fz-wg.log" >&2; fail "fz-wg exit status: $(cat "$tmp/status" 2>/dev/null)"; }
[ ! -e "$sock" ] || fail "socket left behind"
grep -q "went away" "$tmp/fz-wg.log" || { cat "$tmp/fz-wg.log" >&2; fail "no log line for the lost interface"; }

step "SIGTERM while up: gone within a second, status 0, socket and link removed"
rm -f "$tmp/status"
up_and_ping
kill -TERM "$pid"
gone_within_1s "$pid" || fail "fz-wg still running 1 s after SIGTERM"
for _ in $(seq 10); do [ -e "$tmp/status" ] && break; sleep 0.1; done
[ "$(cat "$tmp/status" 2>/dev/null)" = 0 ] || fail "fz-wg exit status after SIGTERM: $(cat "$tmp/status" 2>/dev/null)"
[ ! -e "$sock" ] || fail "socket left behind after SIGTERM"
if ip -n "$A" link show "$ifa" >/dev/null 2>&1; then fail "interface left behind after SIGTERM"; fi

echo "all wg-quick checks passed"
