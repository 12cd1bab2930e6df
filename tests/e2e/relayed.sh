#!/usr/bin/env bash
# Case 4: direct UDP between the NATs is blocked, so coturn carries the
# connection: TCP, UDP and ICMP to the CIDR resource still work, and the
# bytes went through the relay.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_block_direct
e2e_start_gateway 1
e2e_start_client

e2e_check_web 60

direct=$(e2e_counter direct)
relayed=$(e2e_counter relayed)
echo "UDP bytes between the NATs: $direct; through the relay: $relayed"
[ "$relayed" -gt 20000000 ] || fail "the relay did not carry the data"
grep -q "connected to gateway .*, relayed$" "$E2E_DIR/cl.log" || fail "the client does not say it connected relayed"
grep -q "client .* connected, relayed$" "$E2E_DIR/gw1.log" || fail "the gateway does not say it connected relayed"
echo "PASS"
