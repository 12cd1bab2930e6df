#!/usr/bin/env bash
# Case 13: a burst from the portal reaches the bus coalesced. fz-portal
# reloads with 1000 more resources for the user: the portal pushes 1000
# resource_created_or_updated messages at once; a test client on the bus
# (gdbus monitor) sees a handful of PropertiesChanged for Resources, the
# newest list last, and the service's Resources holds all 1004.
. "$(dirname "$0")/e2e-lib.sh" "$@"
fz_require_cmd dbus-daemon busctl gdbus
e2e_setup
e2e_start_gateway 1
e2e_start_bus
e2e_start_service

call Connect 'sa{sv}' "$E2E_TOKEN_CL" 1 api_url s "$E2E_URL" || fail "Connect"
e2e_wait_up svc 15 "the tunnel connected" state_is connected
# The number of resources on the bus (the head of busctl's answer).
resources () {
  prop Resources >"$E2E_DIR/resources.txt" 2>&1 || true
  cut -d' ' -f2 "$E2E_DIR/resources.txt"
}
resources_are () { [ "$(resources)" = "$1" ]; }
e2e_wait_up svc 10 "the 4 resources" resources_are 4

# 1000 CIDR resources on site A, granted by ten policies (a policy's list
# is at most 1024 characters).
{
  for i in $(seq 0 999); do
    printf '[resource B%03d]\ntype = cidr\naddress = 10.77.%d.%d/32\nsites = A\n' \
      "$i" $((i / 250)) $((i % 250 + 1))
  done
  for p in $(seq 0 9); do
    printf '[policy bulk%d]\nusers = alice\nresources = ' "$p"
    seq -f "B%03g" $((p * 100)) $((p * 100 + 99)) | paste -sd';'
  done
} >>"$E2E_DIR/portal.conf"
"$fz_portal" check-config "$E2E_DIR/portal.conf" >/dev/null || fail "the bulk config"

monitor_start
t0=$(date +%s%N)
kill -HUP "${e2e_pid[portal]}"
e2e_wait_up svc 30 "all 1004 resources on the bus" resources_are 1004
t1=$(date +%s%N)
sleep 1 # anything still coalescing
e2e_stop monitor || true
sent=$(grep -c "resource_created_or_updated" "$E2E_DIR/portal.log" || true)
changes=$(since_mark | grep "PropertiesChanged" | grep -c "'Resources'" || true)
ms=$(((t1 - t0) / 1000000))
echo "1000 resources in ${ms} ms: $changes PropertiesChanged with Resources"
[ "$changes" -ge 1 ] || fail "no PropertiesChanged for Resources"
# At most one per 100 ms, and a handful in all.
limit=$((ms / 100 + 2))
[ "$changes" -le "$limit" ] && [ "$changes" -le 30 ] \
  || fail "$changes PropertiesChanged in $ms ms (at most $limit)"
# The last one the monitor saw carries the whole, newest list.
last=$(since_mark | grep "PropertiesChanged" | grep "'Resources'" | tail -n 1)
n=$(grep -o "'name': <'B[0-9]*'>" <<<"$last" | sort -u | wc -l)
[ "$n" = 1000 ] || fail "the last PropertiesChanged lists $n bulk resources"
grep -q "'B999'" <<<"$last" || fail "the last PropertiesChanged lacks B999"

# The tunnel still works, and the routes are in.
body=$(e2e_curl http://172.16.1.10/) || fail "HTTP after the burst"
[ "$body" = "hello from res" ] || fail "HTTP body: $body"
routes=$(on cl ip route show table all)
grep -q "10.77.3.250" <<<"$routes" || fail "no route for B999"
e2e_stop svc TERM || fail "fz-tunnel did not exit 0 on SIGTERM"
echo "PASS"
