#!/usr/bin/env bash
# Figures for the whole stack in network namespaces (stack-lib.sh): fz-portal
# and coturn, fz-gateway with the resources on its LAN, fz-tunnel --headless
# as the client. Prints figures; fails only when something does not work
# at all (a daemon that does not come up, no traffic through a tunnel).
#
#   1. idle: CPU time and wake-ups (context switches of all threads) per
#      second of fz-tunnel and fz-gateway, connected, with no traffic
#   2. setup, with DELAY ms each way on the client's only link (so the
#      portal is as far as the gateway): fz-tunnel --exit's time to a
#      tunnel with its resources; the time from the first packet to a
#      resource until its reply (a new connection), then to a second
#      resource of the same gateway, and (direct paths blocked) through
#      the relay; in ms and in round trips
#   3. iperf3 TCP client -> gateway -> resource through fz-tunnel and
#      fz-gateway, then the same path with fz-wg and with wireguard-go at
#      both ends (configured with wg(8), the gateway forwarding), the MTU
#      1280 for all, and the ceiling: client -> gateway over the same
#      links without a tunnel (MTU 1500); in IPERF_ROUNDS rounds, the
#      medians in Mbit/s and their ratios
#
#   stack-bench.sh BUILD_DIR [IPERF_SECONDS [IDLE_SECONDS [SETUP_RUNS [DELAY_MS
#                  [IPERF_ROUNDS]]]]]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

bin=$1 secs=${2:-10} idle=${3:-60} runs=${4:-5} delay=${5:-25} reps=${6:-3}
fz_require_root
fz_require_cmd ip nft wg wireguard-go iperf3 ping turnserver ethtool python3 awk ss
for f in portal/fz-portal gateway/fz-gateway tunnel-service/fz-tunnel tools/fz-wg/fz-wg; do
  [ -x "$bin/$f" ] || fz_skip "no $bin/$f: build first"
done
. "$(dirname "$0")/stack-lib.sh"
wg_pids=()
cleanup () {
  local p
  for p in "${wg_pids[@]}"; do stack_stop "$p"; done
  rm -f /var/run/wireguard/fzb$$c.sock /var/run/wireguard/fzb$$g.sock
  stack_cleanup
}
trap cleanup EXIT
trap 'echo "FAIL: $0: line $LINENO: status $?" >&2' ERR

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

stack_namespaces
stack_portal
stack_gateway
stack_client "$CL" cl
ip netns exec "$CL" ping -c 2 -i 0.2 -W 5 172.20.0.10 >/dev/null \
  || fail "no reply from the resource through fz-tunnel and fz-gateway"

# The router counts the datagrams that go straight from a client to the
# gateway (to any of its addresses): the direct path; a relayed one goes
# to coturn.
ip netns exec "$PUB" nft -f - <<'NFT'
table ip bench {
  chain counts {
    type filter hook forward priority 0;
    ip saddr 10.10.3.2 ip daddr { 10.10.2.2, 172.20.0.0/16 } udp dport 52625 counter
    ip saddr 10.10.1.2 ip daddr { 10.10.2.2, 172.20.0.0/16 } udp dport 52625 counter
  }
}
NFT
direct_count () {
  ip netns exec "$PUB" nft list chain ip bench counts \
    | awk -v s="$1" '$3 == s { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}
# path NS SRC DST: "direct" when pings go straight to the gateway.
path () {
  local before after
  before=$(direct_count "$2")
  ip netns exec "$1" ping -c 10 -i 0.02 -W 2 "$3" >/dev/null || true
  after=$(direct_count "$2")
  [ $((after - before)) -ge 10 ] && echo direct || echo relayed
}
path_cl=$(path "$CL" 10.10.1.2 172.20.0.10)

# ---- 1. idle --------------------------------------------------------------
sleep 2
hz=$(getconf CLK_TCK)
cl_pid=${stack_client_pid[$CL]}
read -r cl_t0 cl_ns0 cl_sw0 < <(stack_proc_sample "$cl_pid")
read -r gw_t0 gw_ns0 gw_sw0 < <(stack_proc_sample "$stack_gateway_pid")
t0=$(date +%s.%N)
sleep "$idle"
read -r cl_t1 cl_ns1 cl_sw1 < <(stack_proc_sample "$cl_pid")
read -r gw_t1 gw_ns1 gw_sw1 < <(stack_proc_sample "$stack_gateway_pid")
t1=$(date +%s.%N)
echo "== idle, connected (one client, one gateway), $idle s"
printf '%-12s %14s %14s %12s\n' "" "CPU (stat)" "CPU (sched)" "wake-ups"
idle_line () {
  awk -v n="$1" -v t="$t0" -v u="$t1" -v hz="$hz" -v a0="$2" -v b0="$3" -v c0="$4" \
    -v a1="$5" -v b1="$6" -v c1="$7" 'BEGIN {
    d = u - t
    printf "%-12s %8.3f ms/s %8.3f ms/s %10.2f/s\n", n, (a1 - a0) * 1000 / hz / d, (b1 - b0) / 1e6 / d, (c1 - c0) / d
  }'
}
idle_line fz-tunnel "$cl_t0" "$cl_ns0" "$cl_sw0" "$cl_t1" "$cl_ns1" "$cl_sw1"
idle_line fz-gateway "$gw_t0" "$gw_ns0" "$gw_sw0" "$gw_t1" "$gw_ns1" "$gw_sw1"
echo

# ---- 2. setup time --------------------------------------------------------
stack_delayed_client "$delay"
# min RTT of N pings from NS to DST, in ms
min_rtt () {
  { ip netns exec "$1" ping -c "$2" -i 0.2 -W 5 "$3" || true; } \
    | awk -F'/' '/^rtt/ { split($4, a, " = "); print a[2] }'
}
# first_reply NS DST: the RTT of a first ping (the packet waits in the
# client while the connection is made), in ms
first_reply () {
  { ip netns exec "$1" ping -c 1 -W 15 "$2" || true; } \
    | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p'
}
rtt=$(min_rtt "$CD" 5 10.10.2.2)
[ -n "$rtt" ] || fail "no ping through the delay"
exit_ms=() first_ms=() second_ms=() paths=() relayed_ms=() relayed_paths=()
for r in $(seq "$runs"); do
  stack_client_id="-exit-$r" # a new device each time: nothing cached
  line=$(stack_client "$CD" cd --exit)
  [ -n "$line" ] || fail "fz-tunnel --exit printed no time"
  exit_ms+=("$(printf '%s\n' "$line" | sed -n 's/.* in \([0-9]*\) ms$/\1/p')")
  stack_client_id="-$r"
  stack_client "$CD" cd
  first=$(first_reply "$CD" 172.20.0.10)
  [ -n "$first" ] || fail "no reply from resource A through the delayed client"
  second=$(first_reply "$CD" 172.20.1.10)
  [ -n "$second" ] || fail "no reply from resource B through the delayed client"
  first_ms+=("$first") second_ms+=("$second")
  paths+=("$(path "$CD" 10.10.3.2 172.20.0.10)")
  stack_client_stop "$CD" cd
done
# The same through the relay: the router drops what goes straight
# between the delayed client and the gateway (before the counting chain).
ip netns exec "$PUB" nft -f - <<'NFT'
table ip block {
  chain direct {
    type filter hook forward priority -10;
    ip saddr 10.10.3.2 ip daddr 10.10.2.0/24 drop
    ip saddr 10.10.2.0/24 ip daddr 10.10.3.2 drop
    ip saddr 172.20.0.0/16 ip daddr 10.10.3.2 drop
  }
}
NFT
for r in $(seq "$runs"); do
  stack_client_id="-relayed-$r"
  stack_client "$CD" cd
  first=$(first_reply "$CD" 172.20.0.10)
  [ -n "$first" ] || fail "no reply from resource A through the relay"
  relayed_ms+=("$first")
  relayed_paths+=("$(path "$CD" 10.10.3.2 172.20.0.10)")
  stack_client_stop "$CD" cd
done
ip netns exec "$PUB" nft delete table ip block
stack_stop "$stack_bridge_pid"
stack_bridge_pid=
# summary LABEL VALUES...: median, min, max in ms and in round trips
summary () {
  local label=$1
  shift
  printf '%s\n' "$@" | sort -n | awk -v l="$label" -v rtt="$rtt" '
    { v[NR] = $1 }
    END {
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%-34s %8.1f ms %6.2f RTT   (min %.1f, max %.1f ms; %d runs)\n", l, m, m / rtt, v[1], v[NR], NR
    }'
}
echo "== setup, $delay ms each way on the client's link (RTT to the gateway $rtt ms)"
summary "fz-tunnel --exit (tunnel up)" "${exit_ms[@]}"
summary "first packet -> reply, new gateway" "${first_ms[@]}"
summary "first packet -> reply, 2nd resource" "${second_ms[@]}"
echo "path: ${paths[*]}"
summary "first packet -> reply, relayed" "${relayed_ms[@]}"
echo "path: ${relayed_paths[*]}"
echo

# ---- 3. throughput --------------------------------------------------------
ip netns exec "$RES" iperf3 -s -D -p 5201 --pidfile "$stack_work/iperf.pid" >/dev/null \
  || fail "iperf3 -s did not start"
for _ in $(seq 30); do [ -s "$stack_work/iperf.pid" ] && break; sleep 0.1; done
ip netns exec "$GW" iperf3 -s -D -p 5202 --pidfile "$stack_work/iperf-gw.pid" >/dev/null \
  || fail "iperf3 -s on the gateway did not start"
for _ in $(seq 30); do [ -s "$stack_work/iperf-gw.pid" ] && break; sleep 0.1; done
# iperf DST STREAMS [PORT]: Mbit/s from the client namespace to DST
iperf () {
  ip netns exec "$CL" timeout $((secs + 20)) iperf3 -c "$1" -p "${3:-5201}" -t "$secs" \
    -P "$2" -J >"$stack_work/iperf.json" || { cat "$stack_work/iperf.json" >&2; return 1; }
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(round(d["end"]["sum_received"]["bits_per_second"] / 1e6))' "$stack_work/iperf.json"
}
declare -A mbit

umask_old=$(umask)
umask 077
wg genkey >"$stack_work/wg-c.key"
wg genkey >"$stack_work/wg-g.key"
umask "$umask_old"
# wg_start NS IFNAME IMPL
wg_start () {
  local ns=$1 ifname=$2 impl=$3
  if [ "$impl" = fz-wg ]; then
    ip netns exec "$ns" "$bin/tools/fz-wg/fz-wg" -f "$ifname" >"$stack_work/$ifname.log" 2>&1 &
  else
    ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 wireguard-go "$ifname" \
      >"$stack_work/$ifname.log" 2>&1 &
  fi
  wg_pids+=($!)
  for _ in $(seq 50); do
    [ -S "/var/run/wireguard/$ifname.sock" ] && return 0
    sleep 0.1
  done
  fail "$impl did not start"
}
# wg_path IMPL: a WireGuard tunnel cl <-> gw (10.99.0.1 <-> .2) over the
# same routed path, the client routing 172.20.2.0/24 (the resource host's
# third address, no portal resource) into it: the stack stays up beside
# it, so the runs can alternate.
wg_path () {
  local c=fzb$$c g=fzb$$g
  wg_start "$CL" "$c" "$1"
  wg_start "$GW" "$g" "$1"
  ip netns exec "$CL" wg set "$c" private-key "$stack_work/wg-c.key" listen-port 51820 \
    peer "$(wg pubkey <"$stack_work/wg-g.key")" endpoint 10.10.2.2:51821 \
    allowed-ips 10.99.0.2/32,172.20.2.0/24
  ip netns exec "$GW" wg set "$g" private-key "$stack_work/wg-g.key" listen-port 51821 \
    peer "$(wg pubkey <"$stack_work/wg-c.key")" allowed-ips 10.99.0.1/32
  ip -n "$CL" addr add 10.99.0.1/24 dev "$c"
  ip -n "$GW" addr add 10.99.0.2/24 dev "$g"
  ip -n "$CL" link set "$c" mtu 1280 up
  ip -n "$GW" link set "$g" mtu 1280 up
  ip -n "$CL" route add 172.20.2.0/24 dev "$c"
  ip netns exec "$CL" ping -c 2 -i 0.2 -W 5 172.20.2.10 >/dev/null \
    || fail "no reply from the resource through $1"
}
wg_stop () {
  local p
  for p in "${wg_pids[@]}"; do stack_stop "$p"; done
  wg_pids=()
}
ip -n "$GW" addr add 172.20.2.1/24 dev lan0
ip -n "$RES" addr add 172.20.2.10/24 dev lan0
# Rounds of stack, fz-wg, wireguard-go, one after the other: the figure
# is each one's median, so a slow moment of the machine hits all alike.
for r in $(seq "$reps"); do
  for streams in 1 4; do
    mbit[stack.$streams]+=" $(iperf 172.20.0.10 "$streams")" \
      || fail "iperf3 through fz-tunnel and fz-gateway failed"
  done
  for impl in fz-wg wireguard-go; do
    wg_path "$impl"
    for streams in 1 4; do
      mbit[$impl.$streams]+=" $(iperf 172.20.2.10 "$streams")" \
        || fail "iperf3 through $impl failed"
    done
    wg_stop
  done
  for streams in 1 4; do
    mbit[underlay.$streams]+=" $(iperf 10.10.2.2 "$streams" 5202)" \
      || fail "iperf3 to the gateway without a tunnel failed"
  done
done
median () {
  printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END {
    printf "%.0f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A med
for k in "${!mbit[@]}"; do med[$k]=$(median "${mbit[$k]}"); done

echo "== iperf3 TCP client -> gateway -> resource, $secs s, MTU 1280, median of $reps" \
  "(fz-tunnel: $path_cl path)"
printf '%-26s %14s %14s   %s\n' "" "1 stream" "4 streams" "(all runs, 1 / 4 streams)"
for k in stack fz-wg wireguard-go underlay; do
  name=$k
  [ "$k" = stack ] && name="fz-tunnel + fz-gateway"
  [ "$k" = underlay ] && name="no tunnel (client -> gw)"
  printf '%-26s %7s Mbit/s %7s Mbit/s   (%s /%s)\n' "$name" "${med[$k.1]}" "${med[$k.4]}" \
    "${mbit[$k.1]# }" "${mbit[$k.4]}"
done
printf '%-26s %13sx %13sx   (target >= 0.9)\n' "stack / fz-wg" \
  "$(ratio "${med[stack.1]}" "${med[fz-wg.1]}")" "$(ratio "${med[stack.4]}" "${med[fz-wg.4]}")"
printf '%-26s %13sx %13sx   (target >= 3)\n' "stack / wireguard-go" \
  "$(ratio "${med[stack.1]}" "${med[wireguard-go.1]}")" \
  "$(ratio "${med[stack.4]}" "${med[wireguard-go.4]}")"
printf '%-26s %13sx %13sx\n' "fz-wg / wireguard-go" \
  "$(ratio "${med[fz-wg.1]}" "${med[wireguard-go.1]}")" \
  "$(ratio "${med[fz-wg.4]}" "${med[wireguard-go.4]}")"
printf '%-26s %13sx %13sx\n' "stack / no tunnel" \
  "$(ratio "${med[stack.1]}" "${med[underlay.1]}")" \
  "$(ratio "${med[stack.4]}" "${med[underlay.4]}")"
stack_client_stop "$CL" cl
stack_gateway_stop
