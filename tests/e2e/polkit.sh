#!/usr/bin/env bash
# Case 13: who may drive fz-tunnel, with a real polkitd on the private
# system bus in the client's namespace. A user without the action
# dev.libfz.tunnel.control (uid 65534) is refused each of the four
# methods with AccessDenied and the tunnel does not change; a user that
# a rules file grants it (uid 64123, made for the test) connects,
# switches the Internet resource and disconnects; root needs no polkit;
# polkitd stopped: users are refused at once (fail closed), root still
# works; polkitd back (also between two calls) is found again; callers
# that vanish mid-call do no harm; SIGTERM while a check waits on
# polkitd answers it and exits cleanly.
. "$(dirname "$0")/e2e-lib.sh" "$@"
fz_require_cmd dbus-daemon busctl gdbus setpriv timeout useradd userdel
granted_uid=64123 granted=fz-e2e-pk
e2e_setup
e2e_polkit_world "$granted" "$granted_uid"
e2e_start_service

# as UID METHOD ARGS...: gdbus call as that user (10 s at most); prints
# the answer or the error.
as () {
  local uid=$1 method=$2
  shift 2
  setpriv --reuid="$uid" --regid=65534 --clear-groups gdbus call --address "$bus" \
    --timeout 10 --dest dev.libfz.Tunnel --object-path /dev/libfz/Tunnel \
    --method "dev.libfz.Tunnel1.$method" "$@" 2>&1
}
# refused UID METHOD ARGS...: AccessDenied, with a message naming the
# action; prints the message.
refused () {
  local out
  out=$(as "$@") && fail "uid $1 may call $2: $out"
  grep -q "org.freedesktop.DBus.Error.AccessDenied" <<<"$out" || fail "$2 by uid $1: $out"
  grep -q "$polkit_action" <<<"$out" || fail "$2 by uid $1: the message does not say why: $out"
  echo "$out"
}
ire_is () {
  [ "$(prop InternetResourceEnabled)" = "b $1" ]
}
unchanged () {
  state_is "$1" || fail "the state changed: $(prop State)"
  [ "$(prop InternetResourceEnabled)" = "b false" ] \
    || fail "InternetResourceEnabled changed: $(prop InternetResourceEnabled)"
}
connect_args=("$E2E_TOKEN_CL" "{'api_url': <'$E2E_URL'>}")

out=$(refused 65534 Connect "${connect_args[@]}")
grep -q "not authorized: $polkit_action" <<<"$out" || fail "Connect by uid 65534: $out"
refused 65534 Disconnect >/dev/null
refused 65534 Reset >/dev/null
refused 65534 SetInternetResourceEnabled true >/dev/null
sleep 0.3 # a change would be on the bus by now
unchanged disconnected
echo "uid 65534 is refused the four methods while disconnected: $out"

as "$granted_uid" SetInternetResourceEnabled true >/dev/null || fail "the granted user: on"
e2e_wait 2 "InternetResourceEnabled on" ire_is true
as "$granted_uid" SetInternetResourceEnabled false >/dev/null || fail "the granted user: off"
e2e_wait 2 "InternetResourceEnabled off" ire_is false
as "$granted_uid" Connect "${connect_args[@]}" >/dev/null || fail "the granted user: Connect"
e2e_wait_up svc 15 "the granted user's tunnel" state_is connected
echo "uid $granted_uid switches the Internet resource and connects"

for m in Disconnect Reset; do refused 65534 "$m" >/dev/null; done
refused 65534 SetInternetResourceEnabled true >/dev/null
refused 65534 Connect "${connect_args[@]}" >/dev/null
sleep 0.3
unchanged connected
echo "uid 65534 is refused the four methods while connected"

# Callers gone before the answer: it goes to a peer that is no more.
for t in 0.01 0.03 0.05 0.1 0.2 0.05 0.05 0.05; do
  timeout "$t" setpriv --reuid=65534 --regid=65534 --clear-groups gdbus call \
    --address "$bus" --dest dev.libfz.Tunnel --object-path /dev/libfz/Tunnel \
    --method dev.libfz.Tunnel1.Disconnect >/dev/null 2>&1 || true
done
kill -0 "${e2e_pid[svc]}" || fail "the service died with callers vanishing"
unchanged connected
refused 65534 Reset >/dev/null
echo "callers vanishing mid-call: the service lives on, connected"

as "$granted_uid" Disconnect >/dev/null || fail "the granted user: Disconnect"
e2e_wait 2 "the state after the granted Disconnect" state_is disconnected
echo "uid $granted_uid disconnects"

# Without polkitd: users refused at once, root unaffected.
e2e_stop polkitd || true
t0=$(date +%s%N)
out=$(refused 65534 SetInternetResourceEnabled true)
refused "$granted_uid" SetInternetResourceEnabled true >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
grep -qi "polkit" <<<"$out" || fail "the message does not name polkit: $out"
[ "$ms" -lt 5000 ] || fail "refusals without polkitd took $ms ms"
unchanged disconnected
echo "polkitd stopped: users refused in $ms ms: $out"
call SetInternetResourceEnabled b true || fail "root without polkitd"
e2e_wait 2 "root's switch" ire_is true
call SetInternetResourceEnabled b false || fail "root without polkitd (off)"
call Connect 'sa{sv}' "$E2E_TOKEN_CL" 1 api_url s "$E2E_URL" || fail "root: Connect"
e2e_wait_up svc 15 "root's tunnel" state_is connected
call Disconnect || fail "root: Disconnect"
e2e_wait 2 "the state after root's Disconnect" state_is disconnected
echo "polkitd stopped: root connects and disconnects"

# polkitd back (another bus name): found again.
mv "$E2E_DIR/polkitd.log" "$E2E_DIR/polkitd-1.log"
start_polkitd
as "$granted_uid" SetInternetResourceEnabled true >/dev/null \
  || fail "the granted user after polkitd came back"
e2e_wait 2 "InternetResourceEnabled on" ire_is true
as "$granted_uid" SetInternetResourceEnabled false >/dev/null || fail "granted: off"
echo "polkitd restarted: the granted user is served again"
# Replaced with no call in between: the service notices by itself, the
# first call is served.
e2e_stop polkitd || true
mv "$E2E_DIR/polkitd.log" "$E2E_DIR/polkitd-2.log"
start_polkitd
as "$granted_uid" SetInternetResourceEnabled true >/dev/null \
  || fail "the granted user's first call after polkitd was replaced"
e2e_wait 2 "InternetResourceEnabled on" ire_is true
as "$granted_uid" SetInternetResourceEnabled false >/dev/null || fail "granted: off"
echo "polkitd replaced between calls: the first call is served"

# sigterm_pending: SIGTERM while uid 65534's Connect waits on polkitd
# (stopped with SIGSTOP); fz-tunnel exits 0 at once, the sanitizers
# quiet; sets $ms, the time to exit; the caller's answer is in
# pending.out. (Not in a subshell: it waits for the service.)
sigterm_pending () {
  local pending t0
  kill -STOP "${e2e_pid[polkitd]}"
  as 65534 Connect "${connect_args[@]}" >"$E2E_DIR/pending.out" &
  pending=$!
  sleep 1
  [ ! -s "$E2E_DIR/pending.out" ] || fail "the check did not wait: $(cat "$E2E_DIR/pending.out")"
  t0=$(date +%s%N)
  e2e_stop svc TERM || fail "fz-tunnel did not exit 0 on SIGTERM with a check pending"
  ms=$((($(date +%s%N) - t0) / 1000000))
  kill -CONT "${e2e_pid[polkitd]}"
  wait "$pending" && fail "the pending Connect succeeded: $(cat "$E2E_DIR/pending.out")"
  [ "$ms" -lt 5000 ] || fail "SIGTERM with a check pending took $ms ms"
  grep -q "Sanitizer" "$E2E_DIR/svc.log" && fail "the sanitizers: $(cat "$E2E_DIR/svc.log")"
  return 0
}
# Connected: the check is cancelled and answered while the tunnel stops.
call Connect 'sa{sv}' "$E2E_TOKEN_CL" 1 api_url s "$E2E_URL" || fail "root: Connect again"
e2e_wait_up svc 15 "root's second tunnel" state_is connected
sigterm_pending
grep -q "The service is stopping" "$E2E_DIR/pending.out" \
  || fail "the pending Connect's answer: $(cat "$E2E_DIR/pending.out")"
echo "SIGTERM while connected with a check pending: answered, exit 0 in $ms ms"
# Disconnected: fz-tunnel ends at once, the check still in flight.
mv "$E2E_DIR/svc.log" "$E2E_DIR/svc-1.log"
e2e_start_service
refused 65534 Reset >/dev/null # polkit known again
sigterm_pending
echo "SIGTERM while disconnected with a check pending: exit 0 in $ms ms ($(cat "$E2E_DIR/pending.out"))"

grep -qF "$E2E_TOKEN_CL" "$E2E_DIR"/svc*.log "$E2E_DIR"/polkitd*.log \
  && fail "the token is in a log"
echo "PASS"
