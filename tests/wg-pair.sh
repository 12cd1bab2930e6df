# Two network namespaces A and B joined by a veth pair (192.0.2.1/.2 and
# 2001:db8:99::1/::2), and a WireGuard tunnel between them (100.64.0.1/.2,
# fd00:2021:1111::1/::2) made by fz-wg or wireguard-go on either side,
# configured with wg(8). Sourced after lib.sh; the caller's EXIT trap calls
# wg_pair_cleanup.
#
# Needs: $fzwg (the fz-wg binary) when fz-wg is used, $fzwg_baseline for
# fz-wg-baseline (another build of it, to compare with).

wg_pair_tmp=$(mktemp -d)
wg_pair_pids=()
ifa="${fz_netns_prefix}a" ifb="${fz_netns_prefix}b" # interface names, unique to this run
veth="${fz_netns_prefix}v"

wg_pair_cleanup () {
  wg_pair_stop
  fz_cleanup_netns
  rm -f "/var/run/wireguard/$ifa.sock" "/var/run/wireguard/$ifb.sock"
  rm -rf "$wg_pair_tmp"
}

fail () { echo "FAIL: $*" >&2; exit 1; }

wg_pair_namespaces () {
  fz_netns_add A a
  fz_netns_add B b
  ip link add "${veth}a" type veth peer name "${veth}b"
  ip link set "${veth}a" netns "$A"
  ip link set "${veth}b" netns "$B"
  ip -n "$A" addr add 192.0.2.1/24 dev "${veth}a"
  ip -n "$B" addr add 192.0.2.2/24 dev "${veth}b"
  ip -n "$A" addr add 2001:db8:99::1/64 dev "${veth}a" nodad
  ip -n "$B" addr add 2001:db8:99::2/64 dev "${veth}b" nodad
  ip -n "$A" link set "${veth}a" up
  ip -n "$B" link set "${veth}b" up

  local k old
  old=$(umask)
  umask 077 # private keys: readable by root only from the start
  for k in a b; do
    wg genkey > "$wg_pair_tmp/k$k"
    wg pubkey < "$wg_pair_tmp/k$k" > "$wg_pair_tmp/p$k"
  done
  wg genpsk > "$wg_pair_tmp/psk"
  wg genpsk > "$wg_pair_tmp/psk2"
  umask "$old"
}

# wg_pair_start NS IFNAME IMPL: fz-wg or wireguard-go in the foreground,
# logging to $wg_pair_tmp/IFNAME.log; waits for its configuration socket.
wg_pair_start () {
  local ns=$1 ifname=$2 impl=$3
  if [ "$impl" = fz-wg ]; then
    ip netns exec "$ns" "$fzwg" -f "$ifname" >"$wg_pair_tmp/$ifname.log" 2>&1 &
  elif [ "$impl" = fz-wg-baseline ]; then
    ip netns exec "$ns" "$fzwg_baseline" -f "$ifname" >"$wg_pair_tmp/$ifname.log" 2>&1 &
  else
    ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 wireguard-go "$ifname" \
      >"$wg_pair_tmp/$ifname.log" 2>&1 &
  fi
  wg_pair_pids+=($!)
  for _ in $(seq 50); do
    [ -S "/var/run/wireguard/$ifname.sock" ] && return 0
    sleep 0.1
  done
  cat "$wg_pair_tmp/$ifname.log" >&2
  fail "$impl did not start"
}

wg_pair_stop () {
  local p
  for p in "${wg_pair_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${wg_pair_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  wg_pair_pids=()
}

# wg_pair IMPL_A IMPL_B OUTER(4|6) [PSK_FILE_A PSK_FILE_B]
wg_pair () {
  local impl_a=$1 impl_b=$2 outer=$3 psk_a=${4:-} psk_b=${5:-}
  local ep_b="192.0.2.2:51821"
  [ "$outer" = 6 ] && ep_b="[2001:db8:99::2]:51821"
  wg_pair_start "$A" "$ifa" "$impl_a"
  wg_pair_start "$B" "$ifb" "$impl_b"
  ip netns exec "$A" wg set "$ifa" private-key "$wg_pair_tmp/ka" listen-port 51820 \
    peer "$(cat "$wg_pair_tmp/pb")" ${psk_a:+preshared-key "$psk_a"} endpoint "$ep_b" \
    allowed-ips 100.64.0.2/32,fd00:2021:1111::2/128
  ip netns exec "$B" wg set "$ifb" private-key "$wg_pair_tmp/kb" listen-port 51821 \
    peer "$(cat "$wg_pair_tmp/pa")" ${psk_b:+preshared-key "$psk_b"} \
    allowed-ips 100.64.0.1/32,fd00:2021:1111::1/128
  ip -n "$A" addr add 100.64.0.1/24 dev "$ifa"
  ip -n "$A" addr add fd00:2021:1111::1/64 dev "$ifa" nodad
  ip -n "$B" addr add 100.64.0.2/24 dev "$ifb"
  ip -n "$B" addr add fd00:2021:1111::2/64 dev "$ifb" nodad
  ip -n "$A" link set "$ifa" mtu 1420 up
  ip -n "$B" link set "$ifb" mtu 1420 up
}

wg_pair_ping () { ip netns exec "$1" ping -c 2 -i 0.2 -W 2 "$2" >/dev/null; }

# wg_pair_iperf SECONDS STREAMS [ADDRESS]: TCP from A to B (through the
# tunnel, or to ADDRESS); prints Mbit/s received.
wg_pair_iperf () {
  local secs=$1 streams=$2 dst=${3:-100.64.0.2}
  ip netns exec "$B" timeout $((secs + 20)) iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  sleep 0.3
  ip netns exec "$A" timeout $((secs + 15)) iperf3 -c "$dst" -p 5201 -t "$secs" \
    -P "$streams" -J >"$wg_pair_tmp/iperf.json" || fail "iperf3 through the tunnel failed"
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(round(d["end"]["sum_received"]["bits_per_second"] / 1e6))' "$wg_pair_tmp/iperf.json"
}
