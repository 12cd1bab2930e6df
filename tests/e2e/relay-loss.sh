#!/usr/bin/env bash
# Case 7: with 10 % of the client's UDP lost at its router (both ways;
# there is no netem here, so nft drops at random), the client still
# connects and delivers; then, with direct UDP between the NATs blocked,
# coturn restarts, losing every allocation: the client and the gateway
# allocate again and traffic flows through the new relay.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_loss rtc 10
e2e_start_gateway 1
e2e_start_client

want=$(sha256sum <"$E2E_DIR/www/big")
got=$(e2e_curl --max-time 60 http://172.16.1.10/big | sha256sum)
[ "$got" = "$want" ] || fail "the 20 MB download with 10 % loss differs"
on cl python3 "$e2e_src/e2e-udp.py" 172.16.1.10 7 10 || fail "UDP echo with loss"
echo "delivered with 10 % loss"

e2e_block_direct
e2e_stop coturn TERM || true
mv "$E2E_DIR/coturn.log" "$E2E_DIR/coturn-1.log"
e2e_start_relay
# A new connection to the resource, now only possible through the new
# relay.
t0=$(date +%s)
e2e_wait 60 "traffic through the restarted relay" \
  on cl curl -sf --max-time 5 http://172.16.1.10/
echo "through the restarted relay after $(($(date +%s) - t0)) s"
got=$(e2e_curl --max-time 60 http://172.16.1.10/big | sha256sum)
[ "$got" = "$want" ] || fail "the 20 MB download through the new relay differs"
[ "$(e2e_counter relayed)" -gt 20000000 ] || fail "the relay did not carry the data"
echo "PASS"
