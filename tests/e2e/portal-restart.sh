#!/usr/bin/env bash
# Case 6: fz-portal stops and comes back. While it is down, an open TCP
# connection and new pings to a resource already in use keep working;
# once it is back, the client and the gateways join again and a new
# access (a resource of another site) works.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_gateway 3
e2e_start_client

e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP before the restart"
on cl python3 "$e2e_src/e2e-hold.py" 172.16.1.10 7 12 >"$E2E_DIR/hold.out" 2>&1 &
hold=$!
sleep 1
e2e_stop portal TERM || fail "fz-portal did not exit cleanly"
sleep 4
on cl ping -c 3 -i 0.2 -W 2 172.16.1.10 >/dev/null || fail "ping while the portal is down"
e2e_curl http://172.16.1.10/ >/dev/null || fail "a new TCP connection while the portal is down"
mv "$E2E_DIR/portal.log" "$E2E_DIR/portal-1.log"
e2e_start_portal
wait "$hold" || fail "the held connection: $(cat "$E2E_DIR/hold.out")"
cat "$E2E_DIR/hold.out"

e2e_wait 20 "the client joining again" grep -q "client laptop joined" "$E2E_DIR/portal.log"
e2e_wait 20 "gw3 joining again" grep -q "gateway gw3 joined" "$E2E_DIR/portal.log"
body=$(e2e_curl --max-time 15 http://172.16.2.10/) || fail "the new access after the restart"
[ "$body" = "hello from resb" ] || fail "site B body: $body"
e2e_curl http://172.16.1.10/ >/dev/null || fail "the old access after the restart"
echo "PASS"
