#!/usr/bin/env bash
# fz-wg against Debian's wireguard-go, and against itself, in two network
# namespaces joined by a veth pair, both sides configured with wg(8):
# handshake; ping and TCP both ways over IPv4 and IPv6 outer addresses;
# with and without a preshared key; the peer roaming to a new endpoint; a
# wrong preshared key failing cleanly and being reported; fz-wg moving to
# another port and marking its datagrams (fwmark) at run time; wg show counters;
# clean shutdown; background mode.
#
#   wg-interop.sh FZ_WG_BIN
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

fzwg=$1
fz_require_root
fz_require_cmd ip wg wireguard-go ping iperf3 timeout ss nft
[ -c /dev/net/tun ] || fz_skip "needs /dev/net/tun"

. "$(dirname "$0")/../wg-pair.sh"
trap wg_pair_cleanup EXIT
tmp=$wg_pair_tmp
step () { echo "== $*"; }

wg_pair_namespaces

# Both directions, both inner families, and TCP both ways.
traffic_ok () {
  wg_pair_ping "$A" 100.64.0.2 || fail "ping A -> B (IPv4 inner)"
  wg_pair_ping "$B" 100.64.0.1 || fail "ping B -> A (IPv4 inner)"
  wg_pair_ping "$A" fd00:2021:1111::2 || fail "ping A -> B (IPv6 inner)"
  wg_pair_ping "$B" fd00:2021:1111::1 || fail "ping B -> A (IPv6 inner)"
  ip netns exec "$B" timeout 20 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  sleep 0.3
  ip netns exec "$A" timeout 15 iperf3 -c 100.64.0.2 -p 5201 -n 2M >/dev/null \
    || fail "TCP A -> B"
  ip netns exec "$A" timeout 20 iperf3 -s -1 -p 5202 >/dev/null 2>&1 &
  sleep 0.3
  ip netns exec "$B" timeout 15 iperf3 -c fd00:2021:1111::1 -p 5202 -n 2M >/dev/null \
    || fail "TCP B -> A"
}

# wg show on A names a recent handshake and moving counters.
show_ok () {
  local dump
  dump=$(ip netns exec "$A" wg show "$ifa" dump | tail -n 1)
  # public-key psk endpoint allowed-ips latest-handshake rx tx keepalive
  read -r _ _ _ _ hs rx tx _ <<<"$dump"
  [ "$hs" -gt $(( $(date +%s) - 60 )) ] || fail "wg show: no recent handshake ($dump)"
  [ "$rx" -gt 10000 ] && [ "$tx" -gt 10000 ] || fail "wg show: counters did not move ($dump)"
}

for impls in "fz-wg wireguard-go" "wireguard-go fz-wg" "fz-wg fz-wg"; do
  for outer in 4 6; do
    for psk in none same; do
      set -- $impls
      step "$1 <-> $2, IPv$outer outer, preshared key: $psk"
      if [ "$psk" = same ]; then
        wg_pair "$1" "$2" "$outer" "$tmp/psk" "$tmp/psk"
      else
        wg_pair "$1" "$2" "$outer"
      fi
      traffic_ok
      [ "$1" = fz-wg ] && show_ok
      wg_pair_stop
    done
  done
done

step "multi-queue TUN: fz-wg --queues 2 on both sides"
fzwg_plain=$fzwg
printf '#!/bin/sh\nexec "%s" --queues 2 "$@"\n' "$(realpath "$fzwg_plain")" >"$tmp/fz-wg-2q"
chmod +x "$tmp/fz-wg-2q"
fzwg=$tmp/fz-wg-2q
wg_pair fz-wg fz-wg 4
traffic_ok
[ "$(ip netns exec "$A" ls "/sys/class/net/$ifa/queues" | grep -c '^tx-')" = 2 ] \
  || fail "the TUN does not have 2 queues"
wg_pair_stop
fzwg=$fzwg_plain
if "$fzwg" --queues 9 x >/dev/null 2>&1; then fail "--queues 9 accepted"; fi

step "wg showconf / setconf / syncconf round trip on fz-wg"
wg_pair fz-wg wireguard-go 4 "$tmp/psk" "$tmp/psk"
wg_pair_ping "$A" 100.64.0.2 || fail "no tunnel before setconf"
ip netns exec "$A" wg showconf "$ifa" >"$tmp/conf"
grep -q '^PrivateKey = ' "$tmp/conf" && grep -q '^PresharedKey = ' "$tmp/conf" \
  && grep -q '^Endpoint = 192.0.2.2:51821' "$tmp/conf" || fail "showconf incomplete: $(sed 's/Key = .*/Key = (hidden)/' "$tmp/conf")"
ip netns exec "$A" wg set "$ifa" peer "$(cat "$tmp/pb")" remove
[ -z "$(ip netns exec "$A" wg show "$ifa" peers)" ] || fail "peer not removed"
if wg_pair_ping "$A" 100.64.0.2; then fail "traffic without the peer"; fi
ip netns exec "$A" wg setconf "$ifa" "$tmp/conf"
ip netns exec "$A" wg showconf "$ifa" >"$tmp/conf2"
diff <(grep -v '^ListenPort' "$tmp/conf" | sort) <(grep -v '^ListenPort' "$tmp/conf2" | sort) >/dev/null \
  || fail "setconf did not restore the configuration"
wg_pair_ping "$A" 100.64.0.2 || fail "no tunnel after setconf"
ip netns exec "$A" wg syncconf "$ifa" "$tmp/conf" || fail "syncconf refused"
wg_pair_ping "$A" 100.64.0.2 || fail "no tunnel after syncconf"
wg_pair_stop

step "roaming: wireguard-go moves to a new port, fz-wg follows"
wg_pair fz-wg wireguard-go 4
wg_pair_ping "$A" 100.64.0.2 || fail "ping before roaming"
ip netns exec "$B" wg set "$ifb" listen-port 51999
wg_pair_ping "$B" 100.64.0.1 || fail "ping from the new port"
ip netns exec "$A" wg show "$ifa" endpoints | grep -q '192.0.2.2:51999' \
  || fail "fz-wg did not learn the new endpoint: $(ip netns exec "$A" wg show "$ifa" endpoints)"
wg_pair_ping "$A" 100.64.0.2 || fail "ping A -> B after roaming"
wg_pair_stop

step "fz-wg moves to another port (the old one freed) and marks its datagrams"
wg_pair fz-wg fz-wg 4
wg_pair_ping "$A" 100.64.0.2 || fail "ping before the move"
udp_ports () { ip netns exec "$A" ss -Huln | awk '{print $4}' | tr '\n' ' '; }
ip netns exec "$A" wg set "$ifa" listen-port 51998
grep -q ':51998 ' <<<"$(udp_ports)" || fail "not listening on the new port: $(udp_ports)"
if grep -q ':51820 ' <<<"$(udp_ports)"; then fail "the old port stays bound: $(udp_ports)"; fi
[ "$(ip netns exec "$A" wg show "$ifa" listen-port)" = 51998 ] || fail "wg show listen-port"
wg_pair_ping "$A" 100.64.0.2 || fail "ping A -> B from the new port"
wg_pair_ping "$B" 100.64.0.1 || fail "ping B -> A after the move"
ip netns exec "$B" wg show "$ifb" endpoints | grep -q '192.0.2.1:51998' \
  || fail "B did not follow: $(ip netns exec "$B" wg show "$ifb" endpoints)"
ip netns exec "$A" nft -f - <<'EOF'
table inet fzmark {
  chain out {
    type filter hook output priority 0;
    meta mark 0x2a counter
  }
}
EOF
marked () { ip netns exec "$A" nft list chain inet fzmark out | grep -o 'packets [0-9]*' | awk '{print $2}'; }
ip netns exec "$A" wg set "$ifa" fwmark 0x2a
[ "$(ip netns exec "$A" wg show "$ifa" fwmark)" = 0x2a ] || fail "wg show fwmark"
wg_pair_ping "$A" 100.64.0.2 || fail "ping with a fwmark"
m1=$(marked)
[ "$m1" -gt 0 ] || fail "no datagram carried the fwmark"
ip netns exec "$A" wg set "$ifa" listen-port 51997
wg_pair_ping "$A" 100.64.0.2 || fail "ping from the third port"
m2=$(marked)
[ "$m2" -gt "$m1" ] || fail "the new sockets lost the fwmark ($m1, $m2)"
ip netns exec "$A" wg set "$ifa" fwmark 0
wg_pair_ping "$A" 100.64.0.2 || fail "ping without a fwmark"
[ "$(marked)" = "$m2" ] || fail "datagrams still marked after fwmark 0 ($m2, $(marked))"
wg_pair_stop

step "wrong preshared key: no tunnel, and fz-wg says why"
wg_pair fz-wg wireguard-go 4 "$tmp/psk" "$tmp/psk2"
if wg_pair_ping "$A" 100.64.0.2; then fail "ping went through with different preshared keys"; fi
grep -q 'did not authenticate' "$tmp/$ifa.log" || {
  cat "$tmp/$ifa.log" >&2
  fail "fz-wg did not report the failed handshake"
}
hs=$(ip netns exec "$A" wg show "$ifa" latest-handshakes | awk '{print $2}')
[ "$hs" = 0 ] || fail "a handshake was recorded with different preshared keys"
wg_pair_stop

step "clean shutdown: socket and interface gone after SIGTERM"
wg_pair_start "$A" "$ifa" fz-wg
kill -TERM "${wg_pair_pids[0]}"
wait "${wg_pair_pids[0]}" || fail "fz-wg exited with an error on SIGTERM"
wg_pair_pids=()
[ ! -e "/var/run/wireguard/$ifa.sock" ] || fail "socket left behind"
if ip -n "$A" link show "$ifa" >/dev/null 2>&1; then fail "interface left behind"; fi

step "background mode"
ip netns exec "$A" "$fzwg" "$ifa"
[ -S "/var/run/wireguard/$ifa.sock" ] || fail "no socket in background mode"
ip -n "$A" link show "$ifa" >/dev/null || fail "no interface in background mode"
ip netns exec "$A" wg show "$ifa" >/dev/null || fail "wg cannot talk to background fz-wg"
for p in $(ip netns pids "$A"); do kill -TERM "$p"; done
for _ in $(seq 50); do [ -e "/var/run/wireguard/$ifa.sock" ] || break; sleep 0.1; done
[ ! -e "/var/run/wireguard/$ifa.sock" ] || fail "background fz-wg left its socket"

step "bad configuration: refused with EINVAL, nothing lost"
wg_pair_start "$A" "$ifa" fz-wg
ip netns exec "$A" wg set "$ifa" private-key "$tmp/ka" listen-port 51820
uapi () {
  python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode()); print(s.recv(65536).decode())' \
    "/var/run/wireguard/$ifa.sock" "$1"
}
for bad in 'listen_port=99999' 'fwmark=-1' 'private_key=zz' 'public_key=00' \
           'nonsense' 'replace_peers=maybe' "$(cat "$tmp/ka")"; do
  reply=$(uapi "set=1"$'\n'"$bad"$'\n\n')
  grep -q '^errno=22$' <<<"$reply" || fail "'$bad' was not refused: $reply"
done
reply=$(uapi "get=2"$'\n\n')
grep -q '^errno=22$' <<<"$reply" || fail "unknown request not refused: $reply"
ip netns exec "$A" wg show "$ifa" listen-port | grep -qx 51820 || fail "listen port lost"
ip netns exec "$A" wg show "$ifa" >/dev/null || fail "fz-wg stopped answering"
grep -q 'configuration refused' "$tmp/$ifa.log" || fail "refusal not logged"
if grep -qF "$(cut -c1-20 "$tmp/ka")" "$tmp/$ifa.log"; then fail "a key reached the log"; fi
wg_pair_stop

echo "all wg interop checks passed"
