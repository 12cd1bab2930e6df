#!/usr/bin/env bash
# Throughput on one bench, two network namespaces over veth, iperf3 TCP
# with 1 and 4 streams: the veth itself (the ceiling), wireguard-go, fz-wg
# and, when given, a baseline build of fz-wg (before a change), each
# tunnel talking to itself. ROUNDS rounds, the order rotating each round;
# prints each one's median Mbit/s and the ratios. Figures, never a
# verdict on speed.
#
#   wg-throughput.sh FZ_WG_BIN [SECONDS [ROUNDS [BASELINE_FZ_WG_BIN]]]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

fzwg=$1 secs=${2:-10} rounds=${3:-1} fzwg_baseline=${4:-}
fz_require_root
fz_require_cmd ip wg wireguard-go iperf3 timeout python3
. "$(dirname "$0")/../wg-pair.sh"
trap wg_pair_cleanup EXIT
wg_pair_namespaces

impls=(veth wireguard-go fz-wg)
[ -z "$fzwg_baseline" ] || impls+=(fz-wg-baseline)
declare -A runs # impl.streams -> Mbit/s of each round, space-separated

measure () {
  local impl=$1 streams
  if [ "$impl" = veth ]; then
    for streams in 1 4; do
      runs[$impl.$streams]+="$(wg_pair_iperf "$secs" "$streams" 192.0.2.2) "
    done
    return
  fi
  wg_pair "$impl" "$impl" 4
  wg_pair_ping "$A" 100.64.0.2 || fail "no tunnel through $impl"
  for streams in 1 4; do
    runs[$impl.$streams]+="$(wg_pair_iperf "$secs" "$streams") "
  done
  wg_pair_stop
}

for ((r = 0; r < rounds; r++)); do
  n=${#impls[@]}
  for ((i = 0; i < n; i++)); do
    measure "${impls[$(((i + r) % n))]}"
  done
done

args=()
for impl in "${impls[@]}"; do
  args+=("$impl" "${runs[$impl.1]}" "${runs[$impl.4]}")
done
python3 - "$secs" "$rounds" "${args[@]}" <<'PY'
import statistics, sys
secs, rounds, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
med = {}
for i in range(0, len(rest), 3):
    med[rest[i]] = [statistics.median(map(float, rest[i + k].split())) for k in (1, 2)]
print("iperf3 TCP, %s s, median of %d %-8s %12s %12s" % (secs, rounds,
      "round" if rounds == 1 else "rounds", "1 stream", "4 streams"))
for name, (one, four) in med.items():
    print("%-38s %7.0f Mbit/s %5.0f Mbit/s" % (name, one, four))
def ratio(a, b):
    print("%-38s %11.2fx %11.2fx" % (a + " / " + b, med[a][0] / med[b][0],
                                      med[a][1] / med[b][1]))
ratio("fz-wg", "wireguard-go")
ratio("fz-wg", "veth")
ratio("wireguard-go", "veth")
if "fz-wg-baseline" in med:
    ratio("fz-wg", "fz-wg-baseline")
PY
