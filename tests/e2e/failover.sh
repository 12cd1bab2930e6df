#!/usr/bin/env bash
# Case 5: two gateways serve site A. SIGTERM of the one in use: its
# goodbye sends the client to the other, and traffic flows again within
# 2 s.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_gateway 2
e2e_start_client

e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP before the failover"
# Which gateway did the portal pick? Its LAN address is what the
# resource sees (the gateways masquerade).
used=$(sed -n 's/^172\.16\.1\.\([12]\) .*"GET \/ HTTP.*/\1/p' "$E2E_DIR/http.log" | tail -n 1)
[ -n "$used" ] || fail "no request from a gateway in the HTTP log"
other=$((3 - used))
echo "the client uses gw$used"

# Pings every 50 ms from before the SIGTERM; the first reply after it
# tells when traffic flowed again.
on cl ping -D -i 0.05 -W 1 -w 10 172.16.1.10 >"$E2E_DIR/ping.out" 2>&1 &
ping_pid=$!
sleep 1
t_kill=$(date +%s.%N)
e2e_stop "gw$used" TERM || fail "gw$used did not exit cleanly on SIGTERM"
sleep 4
e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP after the failover"
grep -q "^172\.16\.1\.$other .*GET / HTTP" "$E2E_DIR/http.log" || fail "gw$other did not carry the request"
wait "$ping_pid" || true

gap=$(python3 - "$E2E_DIR/ping.out" "$t_kill" <<'PY'
import re, sys
t_kill = float(sys.argv[2])
times = [float(m.group(1)) for m in
         (re.match(r"\[(\d+\.\d+)\] \d+ bytes from", l) for l in open(sys.argv[1])) if m]
after = [t for t in times if t > t_kill]
before = [t for t in times if t <= t_kill]
if not before or not after:
    print("none")
else:
    # The longest silence that contains the kill.
    print("%.2f" % (after[0] - before[-1]))
PY
)
echo "replies stopped for $gap s around the SIGTERM of gw$used"
[ "$gap" != none ] || fail "no replies before or after: $(tail -n 3 "$E2E_DIR/ping.out")"
python3 -c 'import sys; sys.exit(float(sys.argv[1]) > 2.0)' "$gap" || fail "no traffic for $gap s (> 2 s)"
echo "PASS"
