#!/usr/bin/env bash
# fz-gateway --check in a namespace of its own: a good configuration
# passes and is shown (never the token), each kind of bad input gets one
# line and status 1 (2 for the log settings), the host's lacks are named
# (no CAP_NET_ADMIN, no /dev/net/tun, forwarding off and not settable),
# and nothing is changed: no TUN, no nftables table, forwarding still
# off, no portal contacted.
#
#   gateway-check.sh FZ_GATEWAY
set -euo pipefail
. "$(dirname "$0")/lib.sh"

gw=$1
fz_require_root
fz_require_cmd ip nft unshare mount setpriv python3

tmp=$(mktemp -d)
cleanup () {
  fz_cleanup_netns
  rm -rf "$tmp"
}
trap cleanup EXIT

fail () { echo "FAIL: $*" >&2; exit 1; }

fz_netns_add ns gwchk
token=s3cr3t-t0ken-$RANDOM$RANDOM

# A listener where the portal would be: --check must not connect to it.
ip netns exec "$ns" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8443)); s.listen(); s.settimeout(30)
try:
    s.accept(); open(sys.argv[1], "w").write("contacted\n")
except socket.timeout:
    pass' "$tmp/portal" &
listener=$!

# run NAME EXPECTED_STATUS [ENV=VALUE]... [-- ARGS...]: fz-gateway --check
# in the namespace with a clean environment; output in $tmp/NAME.{out,err}.
run () {
  local name=$1 want=$2 rc=0
  shift 2
  local envs=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  args=("$@")
  ip netns exec "$ns" env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
    ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} ${LSAN_OPTIONS:+LSAN_OPTIONS=$LSAN_OPTIONS} \
    "${envs[@]}" timeout 20 "$gw" --check --state-dir "$tmp/state" "${args[@]}" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" = "$want" ] || fail "$name: status $rc, want $want: $(cat "$tmp/$name.out" "$tmp/$name.err")"
  if grep -q -- "$token" "$tmp/$name.out" "$tmp/$name.err"; then fail "$name: the token was printed"; fi
}

# one_line NAME PATTERN: a failure says so in one line on stderr, nothing on stdout.
one_line () {
  [ ! -s "$tmp/$1.out" ] || fail "$1: printed on stdout: $(cat "$tmp/$1.out")"
  [ "$(wc -l <"$tmp/$1.err")" = 1 ] || fail "$1: not one line: $(cat "$tmp/$1.err")"
  grep -q -- "$2" "$tmp/$1.err" || fail "$1: no '$2' in: $(cat "$tmp/$1.err")"
}

good=(FIREZONE_TOKEN="$token" FIREZONE_API_URL=wss://127.0.0.1:8443 FIREZONE_ID=gw-check-1
      FIREZONE_NAME=edge-1)

# The new namespace has forwarding off; a check leaves it off.
run good 0 "${good[@]}" -- --health-check-addr 127.0.0.1:8080
for want in "portal:  *wss://127.0.0.1:8443" "device id:  *gw-check-1" "name:  *edge-1" \
  "health check:  *127.0.0.1:8080" "IP forwarding:  *off (a start turns it on)" \
  "masquerade:  *when the portal asks" "configuration is valid"; do
  grep -q "$want" "$tmp/good.out" || fail "good: no '$want' in: $(cat "$tmp/good.out")"
done
[ "$(ip netns exec "$ns" sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "--check turned forwarding on"
ip -n "$ns" link show tun-fz >/dev/null 2>&1 && fail "--check created tun-fz"
ip netns exec "$ns" nft list table inet fz-gateway >/dev/null 2>&1 && fail "--check made the nft table"
[ ! -e "$tmp/state" ] || fail "--check created the state directory though FIREZONE_ID is set"

# The token as the unit passes it (a credential), forwarding on, --masquerade.
mkdir -m 0700 "$tmp/creds"
printf '%s\n' "$token" >"$tmp/creds/FIREZONE_TOKEN"
ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
run creds 0 CREDENTIALS_DIRECTORY="$tmp/creds" FIREZONE_ID=gw-check-1 -- --masquerade
grep -q "portal:  *wss://api.firezone.dev" "$tmp/creds.out" || fail "creds: not the default portal"
grep -q "IP forwarding:  *on" "$tmp/creds.out" || fail "creds: forwarding not shown on"
grep -q "masquerade:  *always" "$tmp/creds.out" || fail "creds: --masquerade not shown"
ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0

# Bad input, one line each.
run no-token 1 FIREZONE_API_URL=wss://127.0.0.1:8443
one_line no-token "FIREZONE_TOKEN"
run bad-token 1 FIREZONE_TOKEN="two words"
one_line bad-token "printable ASCII"
run bad-url 1 "${good[@]}" FIREZONE_API_URL=ftp://portal.example
one_line bad-url "is not http(s) or ws(s)"
run no-host 1 "${good[@]}" FIREZONE_API_URL=wss://
one_line no-host "portal URL"
run bad-id 1 "${good[@]}" FIREZONE_ID="a b"
one_line bad-id "FIREZONE_ID must be"
run bad-health 1 "${good[@]}" -- --health-check-addr localhost:80
one_line bad-health "is not IPv4:PORT"
run bad-health-env 1 "${good[@]}" FIREZONE_HEALTH_CHECK_ADDR="[::1]:99999"
one_line bad-health-env "is not IPv4:PORT"
run bad-log 2 "${good[@]}" RUST_LOG=loud
one_line bad-log "RUST_LOG"
run bad-format 2 "${good[@]}" FIREZONE_LOG_FORMAT=xml
one_line bad-format "FIREZONE_LOG_FORMAT"

# The device id a start would keep: read back from the state directory.
mkdir -m 0700 "$tmp/state"
printf '{"id":"kept-id-7"}' >"$tmp/state/device-id.json"
run kept-id 0 FIREZONE_TOKEN="$token"
grep -q "device id:  *kept-id-7" "$tmp/kept-id.out" || fail "kept-id: $(cat "$tmp/kept-id.out")"
# A broken one is ignored by a start, so by the check too (it says so).
printf '{"id":' >"$tmp/state/device-id.json"
run broken-id 0 FIREZONE_TOKEN="$token"
grep -q "Ignoring the device id file" "$tmp/broken-id.err" || fail "broken-id: $(cat "$tmp/broken-id.err")"
rm -r "$tmp/state"

# The host: no CAP_NET_ADMIN, no /dev/net/tun, forwarding off and not settable.
check_host () {
  local name=$1 rc=0
  shift
  ip netns exec "$ns" env -i PATH="$PATH" FIREZONE_TOKEN="$token" FIREZONE_ID=gw-check-1 \
    ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} \
    ${LSAN_OPTIONS:+LSAN_OPTIONS=$LSAN_OPTIONS} "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" = 1 ] || fail "$name: status $rc, want 1: $(cat "$tmp/$name.out" "$tmp/$name.err")"
}
check_host no-cap setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
  "$gw" --check --state-dir "$tmp/state"
one_line no-cap "CAP_NET_ADMIN"
check_host no-tun unshare --mount sh -c \
  'mount -t tmpfs none /dev/net && exec "$@"' sh "$gw" --check --state-dir "$tmp/state"
one_line no-tun "cannot open /dev/net/tun"
check_host ro-sysctl unshare --mount sh -c \
  'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"' \
  sh "$gw" --check --state-dir "$tmp/state"
one_line ro-sysctl "sysctl -w net.ipv4.ip_forward=1"

kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
[ ! -e "$tmp/portal" ] || fail "--check connected to the portal"
echo "PASS: fz-gateway --check"
