#!/usr/bin/env bash
# For working on the suite by hand: the world with gateways 1 and 3 and
# the client, kept until this script is stopped (SIGTERM or Ctrl-C);
# prints the namespace names and the log directory.
#
#   tests/e2e/world.sh BUILD_ROOT
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_gateway 3
e2e_start_client
for n in pub rta rtb rtc gw1 gw2 gw3 res resb cl; do
  v=ns_$n
  echo "$n: ${!v}"
done
echo "logs: $E2E_DIR"
trap 'exit 0' TERM INT
sleep infinity &
wait
