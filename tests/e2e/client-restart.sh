#!/usr/bin/env bash
# Case 9: a restarted client keeps every proxy IP it handed out (the
# mappings are saved in its state directory); a client whose mappings
# are gone numbers the names anew, and the gateway, told the new
# numbers, still takes it to the right hosts.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_client

a () { on cl dig +short +time=3 +tries=2 "$1" A | tail -n 1; }
app=$(a app.corp.test)
one=$(a one.svc.corp.test)
[ "$(e2e_curl http://app.corp.test/)" = "hello from res" ] || fail "HTTP by name"
e2e_stop cl TERM || fail "the client did not exit cleanly"
[ -s "$E2E_DIR/state-cl/proxy-ips.json" ] || fail "no saved mappings"
[ "$(stat -c %a "$E2E_DIR/state-cl/proxy-ips.json")" = 600 ] || fail "the mappings file is not 0600"
mv "$E2E_DIR/cl.log" "$E2E_DIR/cl-1.log"
e2e_start_client
[ "$(a app.corp.test)" = "$app" ] || fail "app.corp.test: $(a app.corp.test), was $app"
[ "$(a one.svc.corp.test)" = "$one" ] || fail "one.svc.corp.test changed"
[ "$(e2e_curl http://app.corp.test/)" = "hello from res" ] || fail "HTTP by name after the restart"
echo "the proxy IPs survived the restart: app $app, one $one"

# Renumbered: no saved mappings, and the names asked in the other order.
e2e_stop cl TERM || fail "the client did not exit cleanly"
rm "$E2E_DIR/state-cl/proxy-ips.json"
mv "$E2E_DIR/cl.log" "$E2E_DIR/cl-2.log"
e2e_start_client
one2=$(a one.svc.corp.test)
app2=$(a app.corp.test)
echo "renumbered: app $app2 (was $app), one $one2 (was $one)"
[ "$app2" != "$app" ] || [ "$one2" != "$one" ] || fail "nothing was renumbered"
[ "$(e2e_curl http://app.corp.test/)" = "hello from res" ] || fail "app.corp.test after renumbering"
[ "$(e2e_curl http://one.svc.corp.test/)" = "hello from res" ] || fail "one.svc after renumbering"
echo "PASS"
