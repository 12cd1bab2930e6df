#!/usr/bin/env bash
# Packets the Linux kernel built, checked by libfz: a TUN device in a
# namespace of our own, kernel traffic into it (ping, UDP, TCP, MLD, and
# the kernel's answers to probes libfz built), then the unit test's
# kernel-packet checks run on this fresh capture.
#
#   kernel-packets.sh CAPTURE_BIN CHECK_BIN [SAVE_AS.pcap]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

capture_bin=$1 check_bin=$2 save_as=${3:-}
fz_require_root
fz_require_cmd ip ping timeout

tmp=$(mktemp -d)
cap_pid=""
cleanup () {
  [ -n "$cap_pid" ] && kill "$cap_pid" 2>/dev/null || true
  fz_cleanup_netns
  rm -rf "$tmp"
}
trap cleanup EXIT

fz_netns_add ns kcap
ip netns exec "$ns" "$capture_bin" fztun0 "$tmp/kernel.pcap" "$tmp/ready" \
  100.64.0.1 100.64.0.2 fd00:2021:1111::1 fd00:2021:1111::2 &
cap_pid=$!
for _ in $(seq 50); do [ -e "$tmp/ready" ] && break; sleep 0.1; done
[ -e "$tmp/ready" ] || { echo "capture helper did not start" >&2; exit 1; }

# A link-local address makes the kernel send MLD reports (hop-by-hop).
ip -n "$ns" link set fztun0 addrgenmode random
ip -n "$ns" link set fztun0 mtu 1280 up
ip -n "$ns" addr add 100.64.0.1/24 dev fztun0
ip -n "$ns" addr add fd00:2021:1111::1/64 dev fztun0 nodad
sleep 1 # the kernel's own MLD reports go out on link up

# Nothing answers at .2: every packet is the kernel's first attempt.
in_ns () { ip netns exec "$ns" "$@"; }
in_ns ping -c 1 -W 1 -s 1200 100.64.0.2 >/dev/null || true
in_ns ping -c 1 -W 1 -s 1 100.64.0.2 >/dev/null || true
in_ns ping -6 -c 1 -W 1 -s 1151 fd00:2021:1111::2 >/dev/null || true
in_ns bash -c 'printf abcde > /dev/udp/100.64.0.2/5353; printf abcdef > /dev/udp/fd00:2021:1111::2/5353'
in_ns timeout 1 bash -c 'exec 3<>/dev/tcp/100.64.0.2/80' 2>/dev/null || true
in_ns timeout 1 bash -c 'exec 3<>/dev/tcp/fd00:2021:1111::2/443' 2>/dev/null || true

kill -USR1 "$cap_pid" # the kernel must answer libfz's probes
sleep 1
kill -TERM "$cap_pid"
wait "$cap_pid"
cap_pid=""

FZ_KERNEL_CAPTURE="$tmp/kernel.pcap" "$check_bin"
if [ -n "$save_as" ]; then
  cp "$tmp/kernel.pcap" "$save_as"
fi
