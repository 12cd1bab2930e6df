#!/usr/bin/env bash
# Case 10: the client's /etc/resolv.conf (a bind mount in its namespace,
# rewritten in place) names the stub while it runs, is restored byte for
# byte after SIGTERM, and after SIGKILL on the next start.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
conf=/etc/netns/$ns_cl/resolv.conf
cp "$conf" "$E2E_DIR/resolv.orig"

e2e_start_client
cmp -s "$conf" "$E2E_DIR/resolv.orig" && fail "resolv.conf unchanged while the tunnel is up"
grep -q "^nameserver 100.100.111." "$conf" || fail "resolv.conf: $(cat "$conf")"
e2e_stop cl TERM || fail "the client did not exit cleanly"
cmp "$conf" "$E2E_DIR/resolv.orig" || fail "resolv.conf not restored after SIGTERM: $(cat "$conf")"
on cl ip link show tun-fz >/dev/null 2>&1 && fail "tun-fz left behind after SIGTERM"
on cl ip rule | grep -q 0x2021fd00 && fail "the routing rule left behind after SIGTERM"
echo "restored after SIGTERM"

mv "$E2E_DIR/cl.log" "$E2E_DIR/cl-1.log"
e2e_start_client
e2e_stop cl KILL || true
grep -q "^nameserver 100.100.111." "$conf" || fail "SIGKILL: resolv.conf already restored?"
mv "$E2E_DIR/cl.log" "$E2E_DIR/cl-2.log"
# The next start puts the system's servers back first (so its own
# upstream is the real one), then the stub again.
e2e_start_client
# (Rarely, under load, the first query right after the start fails fast;
# not yet understood: it is printed, and two more tries are allowed.)
for try in 1 2 3; do
  answer=$(on cl dig +time=3 other.corp.test A 2>&1 || true)
  grep -q "198.18.0.80" <<<"$answer" && break
  echo "query $try after the restart failed: $(grep -E "status:|SERVER:|timed out|refused" <<<"$answer" | tr '\n' ' ')"
  [ "$try" = 3 ] && fail "after a crash the stub does not forward to the system's resolver: $answer"
  sleep 1
done
e2e_stop cl TERM || fail "the client did not exit cleanly"
cmp "$conf" "$E2E_DIR/resolv.orig" || fail "resolv.conf not restored after SIGKILL and a restart: $(cat "$conf")"
echo "restored after SIGKILL and a restart"
echo "PASS"
