#!/usr/bin/env bash
# Fairness: a flood of junk UDP at the gateway's port (from its own LAN,
# for 8 s) must not starve the client's TCP transfer, its DNS queries
# answered through the gateway, or its pings.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_client
e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP before the flood"
on cl dig +short TXT app.corp.test >/dev/null || fail "TXT before the flood"

on rta python3 - 10.1.0.11 52625 8 >"$E2E_DIR/flood.out" 2>&1 <<'PY' &
import os, socket, sys, time
dst = (sys.argv[1], int(sys.argv[2]))
end = time.monotonic() + float(sys.argv[3])
junk = [os.urandom(n) for n in (32, 148, 1200)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
while time.monotonic() < end and n < 50_000_000:
    for j in junk:
        try:
            s.sendto(j, dst)
        except OSError:
            pass
    n += 3
print("sent %d junk datagrams" % n)
PY
flood=$!
sleep 1
want=$(sha256sum <"$E2E_DIR/www/big")
got=$(e2e_curl --max-time 30 http://172.16.1.10/big | sha256sum)
[ "$got" = "$want" ] || fail "the download during the flood"
for i in 1 2 3 4 5; do
  [ "$(on cl dig +short +time=2 +tries=1 TXT app.corp.test)" = '"e2e-txt-record"' ] \
    || fail "DNS query $i through the gateway during the flood"
done
on cl ping -c 5 -i 0.2 -W 2 172.16.1.10 >/dev/null || fail "ping during the flood"
kill -0 "$flood" 2>/dev/null || fail "the flood ended before the checks: $(cat "$E2E_DIR/flood.out")"
wait "$flood"
cat "$E2E_DIR/flood.out"
kill -0 "${e2e_pid[gw1]}" || fail "the gateway died"
echo "PASS"
