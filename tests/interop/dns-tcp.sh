#!/usr/bin/env bash
# DNS over TCP on a sentinel: the kernel's TCP (dig +tcp) against FzDnsTcp
# behind a TUN device in a namespace of our own, over IPv4 and IPv6, with
# answers of one segment and of many, several queries on one connection,
# and then 20 % loss each way so both sides retransmit.
#
#   dns-tcp.sh PEER_BIN
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

peer_bin=$1
fz_require_root
fz_require_cmd ip dig timeout

tmp=$(mktemp -d)
peer_pid=""
cleanup () {
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  fz_cleanup_netns
  rm -rf "$tmp"
}
trap cleanup EXIT

fz_netns_add ns dnstcp
in_ns () { ip netns exec "$ns" "$@"; }
s4=100.100.111.1 s6=fd00:2021:1111:8000:100:100:111:0

start_peer () {
  rm -f "$tmp/ready"
  ip netns exec "$ns" "$peer_bin" fztun0 "$tmp/ready" "$1" >"$tmp/peer.log" 2>&1 &
  peer_pid=$!
  for _ in $(seq 50); do [ -e "$tmp/ready" ] && break; sleep 0.1; done
  [ -e "$tmp/ready" ] || { echo "FAIL: the peer did not start" >&2; cat "$tmp/peer.log" >&2; exit 1; }
  ip -n "$ns" link set fztun0 mtu 1280 up
  ip -n "$ns" addr add 100.64.0.2/32 dev fztun0
  ip -n "$ns" addr add fd00:2021:1111::2/128 dev fztun0 nodad
  ip -n "$ns" route add 100.100.111.0/24 dev fztun0
  ip -n "$ns" route add fd00:2021:1111:8000:100:100:111:0/120 dev fztun0
}

stop_peer () {
  kill -TERM "$peer_pid"
  wait "$peer_pid" || true
  peer_pid=""
  cat "$tmp/peer.log"
}

# query SERVER NAME RECORDS: dig over TCP must list RECORDS A records.
query () {
  local out n
  out=$(in_ns dig +tcp +tries=1 +time=10 +norecurse @"$1" "$2" A) || {
    echo "FAIL: dig @$1 $2 failed" >&2; echo "$out" >&2; exit 1; }
  n=$(echo "$out" | grep -cE "^$2\.[[:space:]]+60[[:space:]]+IN[[:space:]]+A[[:space:]]+10\.0\." || true)
  if [ "$n" != "$3" ]; then
    echo "FAIL: dig @$1 $2: $n A records, want $3" >&2
    echo "$out" | head -20 >&2
    exit 1
  fi
  echo "ok: @$1 $2: $n records"
}

start_peer 0
query "$s4" one.test 1
query "$s6" one.test 1
query "$s4" n300.test 300   # about 4.8 KB: several segments
query "$s6" n1000.test 1000 # about 16 KB: more than one window's worth of segments
# Several queries on one connection.
out=$(in_ns dig +tcp +keepopen +tries=1 +time=5 @"$s4" n2.test A n3.test A n4.test A)
for q in "n2 2" "n3 3" "n4 4"; do
  set -- $q
  n=$(echo "$out" | grep -cE "^$1\.test\.[[:space:]].*IN[[:space:]]+A[[:space:]]+10\.0\." || true)
  [ "$n" = "$2" ] || { echo "FAIL: keepopen $1: $n records" >&2; echo "$out" >&2; exit 1; }
done
echo "ok: three queries on one connection"
stop_peer

# Loss: the kernel resends what we drop, we resend what it never got.
ip -n "$ns" link del fztun0 2>/dev/null || true
start_peer 20
for i in 1 2 3 4 5 6; do
  query "$s4" n200.test 200
  query "$s6" n50.test 50
done
stop_peer
grep -q "dropped [1-9]" "$tmp/peer.log" || { echo "FAIL: nothing was dropped" >&2; exit 1; }
echo "PASS"
