#!/usr/bin/env bash
# Case 8: changes made in fz-portal's file and applied with SIGHUP reach
# the gateway: a filter that no longer allows a port, a resource taken
# away from the policy, and an end (valid_until) given to the policy. A
# DNS record changed at the site's dnsmasq is picked up for new
# connections while an open TCP connection to the old address goes on.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
mkdir -p "$E2E_DIR/www20"
echo "hello from res .20" >"$E2E_DIR/www20/index.html"
e2e_bg http20 res python3 -m http.server --bind 172.16.1.20 --directory "$E2E_DIR/www20" 80
e2e_bg echo20 res python3 "$e2e_src/e2e-echo.py" 172.16.1.20 7
e2e_start_gateway 1
e2e_start_client

reloads () { grep -c "reloaded" "$E2E_DIR/portal.log" || true; }
reloads_above () { [ "$(reloads)" -gt "$1" ]; }
reload () {
  local before
  before=$(reloads)
  kill -HUP "${e2e_pid[portal]}"
  # (A function: the count is read again on each try.)
  e2e_wait 5 "fz-portal reloading" reloads_above "$before"
}

# The filter: tcp:80 no longer allowed; refused at once, port 7 still
# works.
e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP before the filter change"
sed -i 's/^filters = tcp:80; tcp:5201; tcp:7; udp:7; icmp$/filters = tcp:5201; tcp:7; udp:7; icmp/' \
  "$E2E_DIR/portal.conf"
reload
e2e_wait 5 "the new filter" sh -c "! ip netns exec $ns_cl curl -s --max-time 2 http://172.16.1.10/"
rc=0
on cl curl -sS --max-time 5 http://172.16.1.10/ >/dev/null 2>&1 || rc=$?
[ "$rc" = 7 ] || fail "HTTP after the filter change: curl exit $rc, not 7 (refused)"
on cl python3 "$e2e_src/e2e-udp.py" 172.16.1.10 7 || fail "UDP on an allowed port after the filter change"
echo "filter change applied"

# DNS: app.corp.test moves from .10 to .20. A connection held open to
# the old address keeps working; new ones reach the new address.
app=$(on cl dig +short app.corp.test A | tail -n 1)
on cl python3 "$e2e_src/e2e-hold.py" "$app" 7 8 >"$E2E_DIR/hold.out" 2>&1 &
hold=$!
sleep 1
sed -i 's/^172\.16\.1\.10 app\.corp\.test$/172.16.1.20 app.corp.test/' "$E2E_DIR/hosts"
kill -HUP "${e2e_pid[dnsmasq]}"
# moved: a query for the name (which makes the gateway resolve it
# again), then a new connection lands on .20.
moved () {
  on cl dig +short +time=2 app.corp.test A >/dev/null
  [ "$(on cl curl -s --max-time 2 http://app.corp.test/)" = "hello from res .20" ]
}
e2e_wait 15 "the changed DNS record" moved
wait "$hold" || fail "the connection to the old address: $(cat "$E2E_DIR/hold.out")"
cat "$E2E_DIR/hold.out"
[ "$(on cl dig +short app.corp.test A | tail -n 1)" = "$app" ] || fail "the proxy IP changed"
echo "DNS change picked up; the open connection went on"

# The resource leaves the policy: the client drops its route and the
# gateway its access.
sed -i 's/^resources = Web; App; Svc; LabB$/resources = App; Svc; LabB/' "$E2E_DIR/portal.conf"
reload
e2e_wait 5 "the client dropping the route" sh -c \
  "! ip netns exec $ns_cl ip route get 172.16.1.10 | grep -q tun-fz"
on cl ping -c 2 -W 1 172.16.1.10 >/dev/null 2>&1 && fail "ping after the resource was removed"
echo "resource removal applied"

# The access ends: the policy gets a valid_until 8 s ahead. The client
# asks again (the new access carries the end) and keeps working until
# then; after it, the DNS resources are gone.
end=$(($(date +%s) + 8))
echo "valid_until = $(date -u -d "@$end" +%FT%TZ)" >>"$E2E_DIR/portal.conf"
reload
e2e_wait 10 "access after the new end was set" sh -c \
  "[ \"\$(ip netns exec $ns_cl curl -s --max-time 2 http://app.corp.test/)\" = 'hello from res .20' ]"
[ "$(date +%s)" -lt "$end" ] || fail "too slow to check the access before its end"
e2e_wait 15 "the end of the access" grep -q "a policy ended" "$E2E_DIR/portal.log"
gone () { ! on cl curl -s --max-time 2 "http://$app/" >/dev/null; }
e2e_wait 5 "the access ending" gone
echo "the access ended $(($(date +%s) - end)) s after valid_until"
echo "PASS"
