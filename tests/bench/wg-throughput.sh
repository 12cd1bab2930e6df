#!/usr/bin/env bash
# Throughput through fz-wg and through wireguard-go on the same bench: two
# network namespaces over veth, iperf3 TCP with 1 and 4 streams, each
# implementation talking to itself. Prints Mbit/s and the ratio; figures,
# never a verdict on speed.
#
#   wg-throughput.sh FZ_WG_BIN [SECONDS]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

fzwg=$1 secs=${2:-10}
fz_require_root
fz_require_cmd ip wg wireguard-go iperf3 timeout python3
. "$(dirname "$0")/../wg-pair.sh"
trap wg_pair_cleanup EXIT
wg_pair_namespaces

declare -A mbit
for impl in wireguard-go fz-wg; do
  wg_pair "$impl" "$impl" 4
  wg_pair_ping "$A" 100.64.0.2 || fail "no tunnel through $impl"
  for streams in 1 4; do
    mbit[$impl.$streams]=$(wg_pair_iperf "$secs" "$streams")
  done
  wg_pair_stop
done

printf '%-22s %12s %12s\n' "iperf3 TCP, ${secs} s" "1 stream" "4 streams"
for impl in wireguard-go fz-wg; do
  printf '%-22s %7s Mbit/s %5s Mbit/s\n' "$impl" "${mbit[$impl.1]}" "${mbit[$impl.4]}"
done
python3 -c 'import sys
a1, a4, b1, b4 = map(float, sys.argv[1:])
print("%-22s %11.2fx %11.2fx" % ("fz-wg / wireguard-go", b1 / a1, b4 / a4))' \
  "${mbit[wireguard-go.1]}" "${mbit[wireguard-go.4]}" "${mbit[fz-wg.1]}" "${mbit[fz-wg.4]}"
