#!/usr/bin/env bash
# Case 1: a CIDR resource over TCP, UDP and ICMP on the direct path (both
# ends behind NAT, nothing through the relay), and a resource of another
# site through its own gateway.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_gateway 3
e2e_start_client

e2e_check_web 30
body=$(e2e_curl http://172.16.2.10/) || fail "HTTP to site B"
[ "$body" = "hello from resb" ] || fail "site B body: $body"

direct=$(e2e_counter direct)
relayed=$(e2e_counter relayed)
echo "UDP bytes between the NATs: $direct; through the relay: $relayed"
[ "$direct" -gt 20000000 ] || fail "the data did not take the direct path"
[ "$relayed" -lt 1000000 ] || fail "the relay carried data"
# What the daemons tell their users: the path, when it changes.
grep -Eq "connected to gateway .*, direct$|connection .* is direct now$" "$E2E_DIR/cl.log" \
  || fail "the client does not say it is connected directly"
echo "PASS"
