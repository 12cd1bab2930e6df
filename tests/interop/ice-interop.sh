#!/usr/bin/env bash
# Our ICE agent against libnice (RFC 5245 mode, regular nomination), in a
# namespace of its own: host-to-host and, through Debian's coturn, with
# relay candidates only, each in both roles. Both sides must select the
# same pair and receive each other's data on it.
#
#   ice-interop.sh FZ_ICE_PEER NICE_PEER
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fz_require_root
fz_require_cmd turnserver

fz_peer=$1 nice_peer=$2
work=$(mktemp -d)
cleanup () {
  fz_cleanup_netns
  rm -rf "$work"
}
trap cleanup EXIT
fz_netns_add NS ice
# Three addresses: ours, libnice's and the relay's (on the namespace's
# own loopback link, so nothing leaves it).
for a in 1 2 3; do ip -n "$NS" addr add "10.99.0.$a/32" dev lo; done

: >"$work/empty.conf"
ip netns exec "$NS" turnserver -c "$work/empty.conf" --pidfile "$work/turn.pid" \
  --db "$work/turn.db" --listening-ip 10.99.0.3 --relay-ip 10.99.0.3 --listening-port 3478 \
  --min-port 49152 --max-port 49999 --realm fz.test --lt-cred-mech --user fz:pa55word \
  --no-cli --no-tls --no-dtls --no-rfc5780 --log-file stdout --simple-log --verbose \
  >"$work/turn.log" 2>&1 &
for _ in $(seq 50); do
  grep -q "UDP listener opened on: 10.99.0.3:3478" "$work/turn.log" && break
  sleep 0.1
done

fail () {
  echo "FAIL: $*" >&2
  for f in "$work"/*.res "$work"/*.err; do echo "--- $f"; cat "$f"; done >&2
  exit 1
}

# run NAME FZ_ROLE RELAY_ONLY: one connection; checks agreement and data.
run () {
  local name=$1 fz_role=$2 relay=$3 fz_args=() nice_args=()
  if [ "$fz_role" = controlling ]; then fz_args+=(--controlling); else nice_args+=(--controlling); fi
  if [ "$relay" = 1 ]; then
    fz_args+=(--relay 10.99.0.3:3478 --user fz --password pa55word --relay-only)
    nice_args+=(--relay 10.99.0.3:3478 --user fz --password pa55word --relay-only)
  fi
  rm -f "$work/a2b" "$work/b2a"
  mkfifo "$work/a2b" "$work/b2a"
  ip netns exec "$NS" "$nice_peer" --bind 10.99.0.2 --result "$work/$name-nice.res" \
    --seconds 8 "${nice_args[@]}" <>"$work/a2b" >"$work/b2a" 2>"$work/$name-nice.err" &
  local nice_pid=$!
  ip netns exec "$NS" "$fz_peer" --bind 10.99.0.1 --result "$work/$name-fz.res" \
    --seconds 8 "${fz_args[@]}" <>"$work/b2a" >"$work/a2b" 2>"$work/$name-fz.err" &
  local fz_pid=$!
  wait "$nice_pid" || fail "$name: nice-peer exited $?"
  wait "$fz_pid" || fail "$name: fz-ice-peer exited $?"

  local fz_sel nice_sel
  fz_sel=$(grep '^selected ' "$work/$name-fz.res" | tail -1) || fail "$name: we selected no pair"
  nice_sel=$(grep '^selected ' "$work/$name-nice.res" | tail -1) || fail "$name: libnice selected no pair"
  local fz_ms
  read -r _ fz_local fz_remote fz_ms <<<"$fz_sel"
  read -r _ nice_local nice_remote <<<"$nice_sel"
  [ "$fz_local" = "$nice_remote" ] && [ "$fz_remote" = "$nice_local" ] ||
    fail "$name: pairs differ: ours $fz_local -> $fz_remote, libnice's $nice_local -> $nice_remote"
  if [ "$relay" = 1 ]; then
    [[ $fz_local == 10.99.0.3:* && $fz_remote == 10.99.0.3:* ]] || fail "$name: not relayed"
  else
    [[ $fz_local == 10.99.0.1:* && $fz_remote == 10.99.0.2:* ]] || fail "$name: not host to host"
  fi
  [ "$(grep -c '^received nice ' "$work/$name-fz.res")" -ge 10 ] || fail "$name: we got too little data"
  [ "$(grep -c '^received fz ' "$work/$name-nice.res")" -ge 10 ] || fail "$name: libnice got too little data"
  grep -q '^failed\|^unparsed' "$work/$name-fz.res" "$work/$name-nice.res" && fail "$name: a failure"
  echo "$name: $fz_local <-> $fz_remote after $fz_ms ms," \
    "data $(grep -c '^received' "$work/$name-fz.res") in," \
    "$(grep -c '^received' "$work/$name-nice.res") out"
}

run host-controlling controlling 0
run host-controlled controlled 0
run relay-controlling controlling 1
run relay-controlled controlled 1
echo PASS
