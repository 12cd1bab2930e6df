#!/usr/bin/env bash
# FzAllocation against Debian's coturn, in a namespace of its own (only
# its loopback): dual-stack and IPv6-only allocations, refresh, channel
# data to a peer and back, a permission without a channel (Data
# indications), REST (use-auth-secret) and fixed-user credentials, a wrong password, and coturn restarted under a live
# allocation.
#
#   turn-interop.sh FZ_TURN_CLIENT
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fz_require_root
fz_require_cmd turnserver

client=$1
work=$(mktemp -d)
cleanup () {
  fz_cleanup_netns
  rm -rf "$work"
}
trap cleanup EXIT
fz_netns_add NS turn
: >"$work/empty.conf"

# start_coturn NAME PORT AUTH...: coturn on 127.0.0.1 and ::1, relaying
# from the same addresses, with nothing from /etc.
start_coturn () {
  local name=$1 port=$2
  shift 2
  ip netns exec "$NS" turnserver -c "$work/empty.conf" --pidfile "$work/$name.pid" \
    --db "$work/$name.db" --listening-ip 127.0.0.1 --listening-ip ::1 \
    --listening-port "$port" --min-port 49152 --max-port 49999 --realm fz.test \
    --allow-loopback-peers --no-cli --no-tls --no-dtls --no-rfc5780 \
    --log-file stdout --simple-log --verbose "$@" >>"$work/$name.log" 2>&1 &
  echo $! >"$work/$name.bgpid"
  for _ in $(seq 50); do
    grep -q "UDP listener opened on: ::1:$port" "$work/$name.log" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  echo "FAIL: coturn $name did not start" >&2
  exit 1
}

stop_coturn () {
  kill "$(cat "$work/$1.bgpid")" 2>/dev/null || true
  wait "$(cat "$work/$1.bgpid")" 2>/dev/null || true
}

fail () {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out; do echo "--- $f"; cat "$f"; done >&2
  exit 1
}

# expect FILE REGEX WHAT: the client printed a matching line.
expect () {
  grep -Eq "$2" "$1" || fail "$3"
}

start_coturn rest 3478 --use-auth-secret --static-auth-secret s3cret-for-tests
start_coturn user 3479 --lt-cred-mech --user fz:pa55word

echo "# dual stack, REST credentials, refresh after 2 s"
ip netns exec "$NS" "$client" --server4 127.0.0.1:3478 --server6 '[::1]:3478' \
  --secret s3cret-for-tests --seconds 4 --refresh-after 2 >"$work/dual.out"
expect "$work/dual.out" '^candidate .* 127\.0\.0\.1 [0-9]+ typ host$' "no IPv4 host candidate"
expect "$work/dual.out" '^candidate .* ::1 [0-9]+ typ host$' "no IPv6 host candidate"
expect "$work/dual.out" '^candidate .* 127\.0\.0\.1 49[0-9]{3} typ relay raddr' "no IPv4 relay candidate"
expect "$work/dual.out" '^candidate .* ::1 49[0-9]{3} typ relay raddr' "no IPv6 relay candidate"
expect "$work/dual.out" '^rtt [0-9]+$' "no RTT"
[ "$(grep -c '^echo 4 ' "$work/dual.out")" -ge 5 ] || fail "fewer than 5 IPv4 echoes through the relay"
[ "$(grep -c '^echo 6 ' "$work/dual.out")" -ge 5 ] || fail "fewer than 5 IPv6 echoes through the relay"
[ "$(grep -c '^expires-in 600$' "$work/dual.out")" -ge 2 ] || fail "no refresh answered with a lifetime"
grep -q "REFRESH processed, success" "$work/rest.log" || fail "coturn saw no successful REFRESH"
grep -q "CHANNEL_BIND processed, success" "$work/rest.log" || fail "coturn bound no channel"
grep "^echo\|^rtt" "$work/dual.out" | sort | uniq -c | sort -rn | head -3

echo "# IPv6 only, fixed user"
ip netns exec "$NS" "$client" --server6 '[::1]:3479' --user fz --password pa55word \
  --seconds 2 >"$work/v6.out"
expect "$work/v6.out" '^candidate .* ::1 49[0-9]{3} typ relay' "no IPv6 relay candidate"
grep -q '^candidate .* 127\.0\.0\.1 .* typ relay' "$work/v6.out" && fail "an IPv4 relay for an IPv6-only request"
[ "$(grep -c '^echo 6 ' "$work/v6.out")" -ge 3 ] || fail "fewer than 3 echoes over IPv6"

echo "# a permission but no channel: the echoes come as Data indications"
ip netns exec "$NS" "$client" --server4 127.0.0.1:3479 --user fz --password pa55word \
  --seconds 2 --indications >"$work/ind.out"
[ "$(grep -c '^echo 4 [0-9]* indication$' "$work/ind.out")" -ge 3 ] \
  || fail "fewer than 3 echoes as Data indications"
grep -q '^echo 4 [0-9]*$' "$work/ind.out" && fail "ChannelData without a channel"
grep -q "CREATE_PERMISSION processed, success" "$work/user.log" || fail "coturn granted no permission"
grep -c '^echo 4 ' "$work/ind.out"

echo "# wrong password: one clear error, exit status 2"
rc=0
ip netns exec "$NS" "$client" --server4 127.0.0.1:3479 --user fz --password wrong \
  --seconds 10 >"$work/wrong.out" 2>"$work/wrong.err" || rc=$?
[ "$rc" = 2 ] || fail "wrong password: exit status $rc, not 2"
expect "$work/wrong.err" '^fz-turn-client: TURN server 127\.0\.0\.1:3479 rejected the username or password \(401' \
  "wrong password: no clear error"
[ "$(wc -l <"$work/wrong.err")" = 1 ] || fail "wrong password: more than one line on stderr"
grep -q wrong "$work/wrong.err" "$work/wrong.out" && fail "the password was printed"
cat "$work/wrong.err"

echo "# coturn restarted under a live allocation"
ip netns exec "$NS" "$client" --server4 127.0.0.1:3478 --secret s3cret-for-tests \
  --seconds 75 >"$work/restart.out" &
cpid=$!
wait_for () { # wait_for REGEX SECONDS: a new matching line after mark
  local t
  for t in $(seq "$(($2 * 10))"); do
    tail -n +"$mark" "$work/restart.out" | grep -Eq "$1" && return 0
    kill -0 "$cpid" 2>/dev/null || fail "client exited"
    sleep 0.1
  done
  fail "no '$1' within $2 s"
}
mark=1
wait_for '^echo 4 ' 10
stop_coturn rest
echo "coturn stopped"
mark=$(($(wc -l <"$work/restart.out") + 1))
# The next keepalive (at most 25 s away) times out after 8.1 s.
wait_for '^invalidated .* typ relay' 40
start_coturn rest 3478 --use-auth-secret --static-auth-secret s3cret-for-tests
echo "coturn started again"
mark=$(($(wc -l <"$work/restart.out") + 1))
wait_for '^candidate .* typ relay' 20
wait_for '^echo 4 ' 5
kill "$cpid"
wait "$cpid" 2>/dev/null || true
grep -E "^(failed|invalidated|candidate .* relay)" "$work/restart.out"
echo "PASS"
