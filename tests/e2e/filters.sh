#!/usr/bin/env bash
# Case 3: what a filter denies fails at once with an ICMP error (not a
# timeout), for TCP and UDP; a resource with no policy is neither listed
# nor routed, so it cannot be reached.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_client

e2e_curl http://172.16.1.10/ >/dev/null || fail "the allowed port"

# ms CMD...: runs CMD, prints how long it took in milliseconds and its
# status.
ms () {
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || rc=$?
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000000)) $rc"
}

read -r took rc < <(ms on cl curl -sS --max-time 10 http://172.16.1.10:8080/)
echo "TCP to a denied port: curl exit $rc after $took ms"
[ "$rc" = 7 ] || fail "TCP to a denied port: curl exit $rc, not 7 (could not connect)"
[ "$took" -lt 2000 ] || fail "TCP to a denied port took $took ms: no ICMP error"

read -r took rc < <(ms on cl python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(("172.16.1.10", 9))
s.send(b"x")
try:
    s.recv(100)
except ConnectionRefusedError:
    sys.exit(3)
except OSError as e:
    print(e)
    sys.exit(4)
')
echo "UDP to a denied port: exit $rc after $took ms"
[ "$rc" = 3 ] || [ "$rc" = 4 ] || fail "UDP to a denied port: no ICMP error (exit $rc)"
[ "$took" -lt 2000 ] || fail "UDP to a denied port took $took ms"

on cl ip route get 172.16.1.20 | grep -q tun-fz && fail "the resource with no policy is routed"
on cl curl -sS --max-time 3 http://172.16.1.20/ >/dev/null 2>&1 && fail "reached the resource with no policy"
grep -q "172.16.1.20" "$E2E_DIR/portal.log" && fail "the portal mentions the unlisted resource"
echo "PASS"
