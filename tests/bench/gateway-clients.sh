#!/usr/bin/env bash
# The gateway's memory with many clients: one real fz-gateway and
# fz-portal (stack-lib.sh), and fz-bench-clients acting as N clients at
# once from the client namespace, each with its own portal session and
# connection to the gateway, each pinging a resource behind it. Prints
# the gateway's VmRSS and VmHWM before and with the clients, and the bytes
# per client. Fails only when no client gets through.
#
#   gateway-clients.sh BUILD_DIR [CLIENTS [TIMEOUT_S]]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

bin=$1 n=${2:-1000} timeout_s=${3:-120}
fz_require_root
fz_require_cmd ip turnserver ping awk ss
for f in portal/fz-portal gateway/fz-gateway tests/bench/fz-bench-clients; do
  [ -x "$bin/$f" ] || fz_skip "no $bin/$f: build first"
done
. "$(dirname "$0")/stack-lib.sh"
sim_pid=
cleanup () {
  stack_stop "$sim_pid"
  stack_cleanup
}
trap cleanup EXIT
trap 'echo "FAIL: $0: line $LINENO: status $?" >&2' ERR

stack_namespaces
stack_portal
stack_gateway
sleep 2
read -r rss0 hwm0 < <(stack_mem "$stack_gateway_pid")

: >"$stack_work/sim.out"
ip netns exec "$CL" "$bin/tests/bench/fz-bench-clients" "$stack_api_url" \
  "$stack_sim_token" 10.10.1.2 172.20.0.10 "$n" "$timeout_s" \
  >>"$stack_work/sim.out" 2>"$stack_work/sim.log" &
sim_pid=$!
for _ in $(seq $((timeout_s * 10 + 100))); do
  grep -q '^connected' "$stack_work/sim.out" && break
  kill -0 "$sim_pid" 2>/dev/null || fail "fz-bench-clients exited"
  sleep 0.1
done
line=$(grep '^connected' "$stack_work/sim.out") || fail "fz-bench-clients said nothing"
connected=$(printf '%s\n' "$line" | awk '{ print $2 }')
[ "$connected" -gt 0 ] || fail "no client reached the resource"
sleep 2 # what the connections settle into (nominations, keepalives)
read -r rss1 hwm1 < <(stack_mem "$stack_gateway_pid")
read -r sim_rss _ < <(stack_mem "$sim_pid")
stack_stop "$sim_pid"
sim_pid=
[ "$stack_stop_rc" = 0 ] || fail "fz-bench-clients exited with status $stack_stop_rc"
stack_gateway_stop

echo "== fz-gateway memory, $line"
printf '%-22s %10s %10s\n' "" "VmRSS" "VmHWM"
printf '%-22s %7s kB %7s kB\n' "0 clients" "$rss0" "$hwm0"
printf '%-22s %7s kB %7s kB\n' "$connected clients" "$rss1" "$hwm1"
awk -v r0="$rss0" -v r1="$rss1" -v h0="$hwm0" -v h1="$hwm1" -v n="$connected" \
  -v s="$sim_rss" 'BEGIN {
  printf "%-22s %7.0f B  %7.0f B\n", "per client", (r1 - r0) * 1024 / n, (h1 - h0) * 1024 / n
  printf "(fz-bench-clients, the %d clients in one process: VmRSS %d kB, %.0f B each)\n", n, s, s * 1024 / n
}'
