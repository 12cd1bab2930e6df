# The end-to-end world, sourced by every case in tests/e2e: the real
# fz-portal, coturn, three fz-gateways and a headless fz-tunnel in network
# namespaces of this run, removed again on exit (also on failure).
# E2E_KEEP=1 keeps the logs; E2E_LOG=debug makes the daemons verbose.
#
#                       pub: fz-portal + coturn on 198.18.0.1
#            (routes between the three uplinks; e2e_block_direct drops UDP)
#          /                        |                         \
#   rta (NAT) 198.18.1.2     rtb (NAT) 198.18.2.2      rtc (NAT) 198.18.3.2
#    | 10.1.0.0/24             | 10.2.0.0/24              | 10.3.0.0/24
#   gw1 .11   gw2 .12         gw3 .11                     cl .2: fz-tunnel
#    \  site A  /              | site B
#    res 172.16.1.10 (+.20)    resb 172.16.2.10
#    HTTP, iperf3, echo,       HTTP
#    dnsmasq for *.corp.test
#
# The gateways masquerade, so the resource hosts need no route back to
# the tunnel. Usage from a case:
#   . "$(dirname "$0")/e2e-lib.sh" "$@"     (args: the build root)
#   e2e_setup; e2e_start_gateway 1; e2e_start_client; ...
set -euo pipefail
e2e_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$e2e_src/../lib.sh"

e2e_build=${1:?usage: CASE BUILD_ROOT}
fz_portal=$e2e_build/portal/fz-portal
fz_gateway=$e2e_build/gateway/fz-gateway
fz_tunnel=$e2e_build/tunnel-service/fz-tunnel

E2E_PORTAL_IP=198.18.0.1
E2E_URL=ws://$E2E_PORTAL_IP:8080/
E2E_TURN_SECRET=e2e-turn-secret-$$
declare -A e2e_pid=()

fail () {
  echo "FAIL: $*" >&2
  e2e_dump_logs >&2
  exit 1
}

e2e_dump_logs () {
  local f
  for f in "$E2E_DIR"/*.log; do
    [ -s "$f" ] || continue
    echo "---- ${f##*/} (last 40 lines)"
    tail -n 40 "$f"
  done
}

# Commands run first on exit (also on failure), last added first.
e2e_exit_hooks=()

e2e_cleanup () {
  local rc=$?
  local name i
  for ((i = ${#e2e_exit_hooks[@]} - 1; i >= 0; i--)); do
    eval "${e2e_exit_hooks[$i]}" || true
  done
  for name in "${!e2e_pid[@]}"; do
    kill "${e2e_pid[$name]}" 2>/dev/null || true
  done
  fz_cleanup_netns
  rm -rf /etc/netns/"${fz_netns_prefix}"*
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "logs kept in $E2E_DIR" >&2
  else
    rm -rf "$E2E_DIR"
  fi
}

# on NS CMD...: runs CMD in the namespace called NS (pub, rta, gw1, cl...).
on () {
  local var="ns_$1"
  shift
  ip netns exec "${!var}" "$@"
}

# e2e_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth between two
# namespaces, made in place (a name made in the root namespace first
# could collide with the host's). ADDR "-" leaves that end bare.
e2e_link () {
  local a="ns_$1" b="ns_$4"
  ip link add "$2" netns "${!a}" type veth peer name "$5" netns "${!b}"
  [ "$3" = - ] || on "$1" ip addr add "$3" dev "$2"
  [ "$6" = - ] || on "$4" ip addr add "$6" dev "$5"
  on "$1" ip link set "$2" up
  on "$4" ip link set "$5" up
}

# e2e_router ROUTER N HOST HOSTNUM: a NAT router on uplink 198.18.N.0/24
# with HOST on its LAN 10.N.0.0/24. Like a home router it drops what
# comes in unasked: left to reach the router, such a packet's conntrack
# entry makes the NAT give the next outgoing flow to that peer another
# port, and no hole punching could work. The filter table also takes
# e2e_loss's rules.
e2e_router () {
  local r=$1 n=$2
  e2e_link pub "up$n" "198.18.$n.1/24" "$r" wan0 "198.18.$n.2/24"
  e2e_link "$r" lan0 "10.$n.0.1/24" "${3}" wan0 "10.$n.0.${4}/24"
  on "$r" ip route add default via "198.18.$n.1"
  on "$r" sysctl -qw net.ipv4.ip_forward=1
  on "$r" nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan0" masquerade
  }
}
table ip filter {
  chain local_in {
    type filter hook input priority 0;
    iifname "wan0" ct state new drop
  }
  chain transit {
    type filter hook forward priority 0;
    iifname "wan0" ct state new drop
  }
}
NFT
  on "$3" ip route add default via "10.$n.0.1"
}

e2e_topology () {
  local n
  for n in pub sink rta rtb rtc gw1 gw2 gw3 res resb cl; do
    fz_netns_add "ns_$n" "$n"
  done
  on pub ip addr add "$E2E_PORTAL_IP/32" dev lo
  on pub ip addr add 198.18.0.53/32 dev lo
  # Like a server on the Internet, pub has a default route: what coturn
  # relays to a private address goes there and is lost (with no route,
  # coturn's send fails and it closes the allocation).
  e2e_link pub sink0 198.18.255.1/24 sink wan0 198.18.255.2/24
  on pub ip route add default via 198.18.255.2
  on pub sysctl -qw net.ipv4.ip_forward=1
  on pub nft -f - <<'NFT'
table ip e2e {
  counter direct {
  }
  counter relayed {
  }
  chain transit {
    type filter hook forward priority 0;
    ip saddr 198.18.3.2 ip daddr { 198.18.1.2, 198.18.2.2 } meta l4proto udp counter name direct
    ip saddr { 198.18.1.2, 198.18.2.2 } ip daddr 198.18.3.2 meta l4proto udp counter name direct
  }
  chain local_in {
    type filter hook input priority 0;
    ip saddr 198.18.3.2 meta l4proto udp counter name relayed
  }
  chain local_out {
    type filter hook output priority 0;
    ip daddr 198.18.3.2 meta l4proto udp counter name relayed
  }
}
NFT
  e2e_router rta 1 gw1 11
  e2e_router rtb 2 gw3 11
  e2e_router rtc 3 cl 2
  # gw2 shares site A's NAT: a bridge in rta.
  on rta ip link add br0 type bridge
  on rta ip link set lan0 master br0
  on rta ip addr del 10.1.0.1/24 dev lan0
  on rta ip addr add 10.1.0.1/24 dev br0
  on rta ip link set br0 up
  e2e_link rta g2 - gw2 wan0 10.1.0.12/24
  on rta ip link set g2 master br0
  on gw2 ip route add default via 10.1.0.1
  # Site A's LAN: res holds the bridge; site B's: a plain link.
  on res ip link add br0 type bridge
  on res ip addr add 172.16.1.10/24 dev br0
  on res ip addr add 172.16.1.20/24 dev br0
  on res ip link set br0 up
  e2e_link gw1 lan0 172.16.1.1/24 res g1 -
  e2e_link gw2 lan0 172.16.1.2/24 res g2 -
  on res ip link set g1 master br0
  on res ip link set g2 master br0
  e2e_link gw3 lan0 172.16.2.1/24 resb g3 172.16.2.10/24
  # Each daemon's namespace gets its own resolv.conf (ip netns exec
  # bind-mounts it): the gateways ask site A's dnsmasq, the client a
  # public server (the stub answers resource names itself).
  for n in gw1 gw2 gw3 cl; do
    local var="ns_$n"
    mkdir -p "/etc/netns/${!var}"
  done
  echo "nameserver 172.16.1.10" | tee "/etc/netns/$ns_gw1/resolv.conf" \
    >"/etc/netns/$ns_gw2/resolv.conf"
  echo "nameserver 172.16.2.10" >"/etc/netns/$ns_gw3/resolv.conf"
  printf '# the client namespace'"'"'s own\nnameserver 198.18.0.53\n' \
    >"/etc/netns/$ns_cl/resolv.conf"
}

# e2e_bg NAME NS CMD...: a long-running process of the world, its output
# in $E2E_DIR/NAME.log.
e2e_bg () {
  local name=$1 ns="ns_$2"
  shift 2
  # Not through on(): $! must be the process itself (ip and env exec
  # it), not a subshell, so that a signal reaches it.
  ip netns exec "${!ns}" "$@" >"$E2E_DIR/$name.log" 2>&1 &
  e2e_pid[$name]=$!
}

# e2e_wait SECONDS WHAT CMD...: polls CMD every 0.1 s.
e2e_wait () {
  local limit=$1 what=$2 end
  shift 2
  end=$(($(date +%s%N) + limit * 1000000000))
  while [ "$(date +%s%N)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$what: not within $limit s"
}

# e2e_wait_up NAME SECONDS WHAT CMD...: as e2e_wait, but gives up at once
# when the process NAME has exited.
e2e_wait_up () {
  local name=$1 limit=$2 what=$3 end
  shift 3
  end=$(($(date +%s%N) + limit * 1000000000))
  while [ "$(date +%s%N)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "${e2e_pid[$name]}" 2>/dev/null || fail "$what: $name exited"
    sleep 0.1
  done
  fail "$what: not within $limit s"
}

e2e_stop () {
  local name=$1 sig=${2:-TERM} pid=${e2e_pid[$1]:-}
  [ -n "$pid" ] || return 0
  kill -s "$sig" "$pid" 2>/dev/null || true
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  unset "e2e_pid[$name]"
  return "$rc"
}

e2e_resources () {
  mkdir -p "$E2E_DIR/www" "$E2E_DIR/wwwb"
  echo "hello from res" >"$E2E_DIR/www/index.html"
  echo "hello from resb" >"$E2E_DIR/wwwb/index.html"
  head -c 20000000 /dev/urandom >"$E2E_DIR/www/big"
  e2e_bg http res python3 -m http.server --bind 172.16.1.10 --directory "$E2E_DIR/www" 80
  e2e_bg httpb resb python3 -m http.server --bind 172.16.2.10 --directory "$E2E_DIR/wwwb" 80
  e2e_bg echo res python3 "$e2e_src/e2e-echo.py" 172.16.1.10 7
  e2e_bg iperf3 res iperf3 -s -B 172.16.1.10 -p 5201
  # Names in a hosts file that dnsmasq re-reads on SIGHUP (case 8).
  cat >"$E2E_DIR/hosts" <<'HOSTS'
172.16.1.10 app.corp.test
172.16.1.10 one.svc.corp.test
172.16.1.10 two.svc.corp.test
HOSTS
  e2e_bg dnsmasq res dnsmasq -k --no-resolv --no-hosts --addn-hosts="$E2E_DIR/hosts" \
    --listen-address=172.16.1.10 --bind-interfaces --log-facility=- --local-ttl=1 \
    --srv-host=_http._tcp.svc.corp.test,app.corp.test,80 \
    --txt-record=app.corp.test,"e2e-txt-record"
  # The client's own upstream resolver, for names that are no resource.
  e2e_bg dnsmasq-pub pub dnsmasq -k --no-resolv --no-hosts --listen-address=198.18.0.53 \
    --bind-interfaces --log-facility=- --address=/other.corp.test/198.18.0.80
  e2e_wait 10 "the resource's HTTP server" on res curl -sf http://172.16.1.10/
  e2e_wait 10 "site B's HTTP server" on resb curl -sf http://172.16.2.10/
  e2e_wait 10 "dnsmasq" e2e_resolves res 172.16.1.10 app.corp.test
  e2e_wait 10 "the public dnsmasq" e2e_resolves pub 198.18.0.53 other.corp.test
}

# The account: one user with a static token; site A serves Web, Quiet and
# the DNS resources, site B serves LabB. Quiet has no policy. A case may
# give alice a password (E2E_ALICE_PASSWORD_HASH, for the sign-in page)
# and add sections (E2E_PORTAL_EXTRA).
e2e_portal_config () {
  local gw_a gw_b cl
  gw_a=$("$fz_portal" new-token)
  gw_b=$("$fz_portal" new-token)
  cl=$("$fz_portal" new-token)
  E2E_TOKEN_A=$(sed -n 's/^token: //p' <<<"$gw_a")
  E2E_TOKEN_B=$(sed -n 's/^token: //p' <<<"$gw_b")
  E2E_TOKEN_CL=$(sed -n 's/^token: //p' <<<"$cl")
  cat >"$E2E_DIR/portal.conf" <<CONF
[portal]
account_slug = e2e
account_name = End to end
listen = $E2E_PORTAL_IP:8080
[relay r1]
addresses = $E2E_PORTAL_IP:3478
secret = $E2E_TURN_SECRET
[site A]
[site B]
[gateway-token a]
site = A
token_hash = $(sed -n 's/^token_hash = //p' <<<"$gw_a")
[gateway-token b]
site = B
token_hash = $(sed -n 's/^token_hash = //p' <<<"$gw_b")
[user alice]
name = Alice
token_hashes = $(sed -n 's/^token_hash = //p' <<<"$cl")
${E2E_ALICE_PASSWORD_HASH:+password_hash = $E2E_ALICE_PASSWORD_HASH}
[resource Web]
type = cidr
address = 172.16.1.10/32
sites = A
filters = tcp:80; tcp:5201; tcp:7; udp:7; icmp
[resource Quiet]
type = cidr
address = 172.16.1.20/32
sites = A
[resource App]
type = dns
address = app.corp.test
sites = A
[resource Svc]
type = dns
address = **.svc.corp.test
sites = A
[resource LabB]
type = cidr
address = 172.16.2.0/24
sites = B
[policy alice]
users = alice
resources = Web; App; Svc; LabB
${E2E_PORTAL_EXTRA:-}
CONF
  chmod 600 "$E2E_DIR/portal.conf"
  "$fz_portal" check-config "$E2E_DIR/portal.conf" >/dev/null
}

# e2e_listening NS ADDR:PORT: a UDP socket is bound there.
e2e_listening () {
  on "$1" ss -Hunl "src $2" | grep -q .
}

# e2e_resolves NS SERVER NAME [TYPE]: SERVER answers NAME from NS.
e2e_resolves () {
  [ -n "$(on "$1" dig +short +time=1 +tries=1 "@$2" "$3" "${4:-A}")" ]
}

e2e_start_portal () {
  e2e_bg portal pub "$fz_portal" --config "$E2E_DIR/portal.conf"
  e2e_wait 10 "fz-portal" on pub curl -sf "http://$E2E_PORTAL_IP:8080/healthz"
}

e2e_start_relay () {
  : >"$E2E_DIR/empty.conf"
  e2e_bg coturn pub turnserver -c "$E2E_DIR/empty.conf" --pidfile "$E2E_DIR/coturn.pid" \
    --db "$E2E_DIR/coturn.db" --listening-ip "$E2E_PORTAL_IP" --listening-port 3478 \
    --relay-ip "$E2E_PORTAL_IP" --min-port 49152 --max-port 49999 --realm e2e \
    --use-auth-secret --static-auth-secret "$E2E_TURN_SECRET" --no-cli --no-tls --no-dtls \
    --no-rfc5780 --no-multicast-peers --log-file stdout --simple-log --verbose
  e2e_wait 10 "coturn" e2e_listening pub "$E2E_PORTAL_IP:3478"
}

e2e_setup () {
  fz_require_root
  fz_require_cmd ip nft curl dig python3 turnserver dnsmasq iperf3 ping sysctl
  [ -x "$fz_portal" ] && [ -x "$fz_gateway" ] && [ -x "$fz_tunnel" ] \
    || fail "the daemons are not built under $e2e_build"
  E2E_DIR=$(mktemp -d /tmp/fz-e2e-XXXXXX)
  chmod 755 "$E2E_DIR" # dnsmasq reads its hosts file as nobody
  trap e2e_cleanup EXIT
  e2e_topology
  e2e_resources
  e2e_portal_config
  e2e_start_relay
  e2e_start_portal
}

# e2e_start_gateway N: gwN (1, 2: site A; 3: site B), ready when its
# /readyz says it joined the portal.
e2e_start_gateway () {
  local n=$1 token=$E2E_TOKEN_A ip=10.1.0.1$1
  [ "$n" = 3 ] && token=$E2E_TOKEN_B ip=10.2.0.11
  mkdir -p "$E2E_DIR/state-gw$n"
  # The namespaces share the host's /etc/machine-id; each gateway is a
  # machine of its own.
  [ -f "$E2E_DIR/machine-id-gw$n" ] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' \
    >"$E2E_DIR/machine-id-gw$n"
  e2e_bg "gw$n" "gw$n" env FZ_MACHINE_ID_PATH="$E2E_DIR/machine-id-gw$n" \
    FIREZONE_TOKEN="$token" FIREZONE_API_URL="$E2E_URL" \
    FIREZONE_NAME="gw$n" RUST_LOG="${E2E_LOG:-info}" \
    "$fz_gateway" --state-dir "$E2E_DIR/state-gw$n" --health-check-addr "$ip:8081"
  e2e_wait_up "gw$n" 15 "gateway gw$n joining" on "gw$n" curl -sf "http://$ip:8081/readyz"
}

# e2e_start_client [ARGS...]: the headless client in cl, up when it says
# so.
e2e_start_client () {
  mkdir -p "$E2E_DIR/state-cl"
  e2e_bg cl cl env FIREZONE_TOKEN="$E2E_TOKEN_CL" FIREZONE_API_URL="$E2E_URL" \
    FIREZONE_NAME=laptop FIREZONE_DNS_CONTROL=etc-resolv-conf RUST_LOG="${E2E_LOG:-info}" \
    "$fz_tunnel" --headless --state-dir "$E2E_DIR/state-cl" "$@"
  e2e_wait_up cl 15 "the client's tunnel" grep -q "tunnel up" "$E2E_DIR/cl.log"
}

# e2e_counter NAME: bytes of UDP between the client's NAT and the
# gateways' NATs (direct) or between the client's NAT and the relay
# (relayed), both ways.
e2e_counter () {
  on pub nft -j list counter ip e2e "$1" \
    | python3 -c 'import json,sys; print([o["counter"]["bytes"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])'
}

# Direct UDP between the NATs dropped: only the relay can carry traffic.
e2e_block_direct () {
  on pub nft add rule ip e2e transit ip saddr '{ 198.18.1.2, 198.18.2.2, 198.18.3.2 }' \
    ip daddr '{ 198.18.1.2, 198.18.2.2, 198.18.3.2 }' meta l4proto udp drop
}

# e2e_loss ROUTER PERCENT: random loss of UDP forwarded by ROUTER.
e2e_loss () {
  on "$1" nft add rule ip filter transit meta l4proto udp numgen random mod 100 '<' "$2" drop
}

# e2e_curl URL [CURL ARGS]: from the client, prints the body.
e2e_curl () {
  on cl curl -sS --max-time 10 "$@"
}

# e2e_check_web SECONDS: from the client, the Web resource over TCP (a
# page, then 20 MB checked byte for byte within SECONDS), UDP (echo) and
# ICMP.
e2e_check_web () {
  local body want got
  body=$(e2e_curl http://172.16.1.10/) || fail "HTTP to the CIDR resource"
  [ "$body" = "hello from res" ] || fail "HTTP body: $body"
  on cl python3 "$e2e_src/e2e-udp.py" 172.16.1.10 7 || fail "UDP echo"
  on cl ping -c 3 -i 0.2 -W 2 172.16.1.10 >/dev/null || fail "ping"
  want=$(sha256sum <"$E2E_DIR/www/big")
  got=$(e2e_curl --max-time "$1" http://172.16.1.10/big | sha256sum)
  [ "$got" = "$want" ] || fail "the 20 MB download differs"
}

# e2e_start_bus [INCLUDE...]: a private system bus in cl (the system
# bus's defaults: method calls denied, replies and signals allowed) with
# our policy file and any more policy files; $bus is its address. Also
# defines bctl (busctl on it), prop NAME, call METHOD [SIG ARGS...] and
# state_is STATE for the service's object.
e2e_start_bus () {
  bus=unix:path=$E2E_DIR/bus.sock
  local inc extra=""
  for inc in "$@"; do extra+="  <include>$inc</include>"$'\n'; done
  cat >"$E2E_DIR/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
  <include>$e2e_src/../../data/dbus/dev.libfz.Tunnel.conf</include>
$extra</busconfig>
CONF
  e2e_bg bus cl dbus-daemon --config-file="$E2E_DIR/bus.conf" --nofork --print-address
  e2e_wait_up bus 10 "the private system bus" test -S "$E2E_DIR/bus.sock"
}
bctl () {
  busctl --address="$bus" "$@"
}
prop () {
  bctl get-property dev.libfz.Tunnel /dev/libfz/Tunnel dev.libfz.Tunnel1 "$@"
}
call () {
  bctl call dev.libfz.Tunnel /dev/libfz/Tunnel dev.libfz.Tunnel1 "$@"
}
state_is () {
  [ "$(prop State)" = "s \"$1\"" ]
}

# e2e_start_service [VAR=VALUE...]: fz-tunnel as the D-Bus service
# (name svc) on $bus in cl, state in $E2E_DIR/state-cl, DNS control
# etc-resolv-conf unless given; returns once it is on the bus.
e2e_start_service () {
  mkdir -p "$E2E_DIR/state-cl"
  e2e_bg svc cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" FIREZONE_DNS_CONTROL=etc-resolv-conf \
    RUST_LOG="${E2E_LOG:-info}" "$@" "$fz_tunnel" --state-dir "$E2E_DIR/state-cl"
  e2e_wait_up svc 10 "the service on the bus" state_is disconnected
}

# monitor_start: gdbus monitor of the service into monitor.log, known to
# be listening (a switch of InternetResourceEnabled there and back was
# seen: the monitor's match may be added after it prints its header);
# sets $mark, the lines before what the caller does next.
switches_above () {
  [ "$(grep -c "InternetResourceEnabled" "$E2E_DIR/monitor.log")" -gt "$1" ]
}
monitor_start () {
  e2e_bg monitor cl stdbuf -oL gdbus monitor --address "$bus" --dest dev.libfz.Tunnel
  e2e_wait_up monitor 10 "gdbus monitor" grep -q "is owned by" "$E2E_DIR/monitor.log"
  local orig v=true seen
  orig=$(prop InternetResourceEnabled)
  [ "$orig" = "b true" ] && v=false
  # Switch until the monitor shows a switch, then back to the value the
  # service had, and wait for that one too.
  for _ in $(seq 50); do
    call SetInternetResourceEnabled b "$v" || fail "SetInternetResourceEnabled (monitor)"
    sleep 0.2
    grep -q "InternetResourceEnabled" "$E2E_DIR/monitor.log" && break
    if [ "$v" = true ]; then v=false; else v=true; fi
  done
  grep -q "InternetResourceEnabled" "$E2E_DIR/monitor.log" || fail "gdbus monitor sees nothing"
  if [ "$(prop InternetResourceEnabled)" != "$orig" ]; then
    seen=$(grep -c "InternetResourceEnabled" "$E2E_DIR/monitor.log")
    call SetInternetResourceEnabled b "${orig#b }" || fail "SetInternetResourceEnabled (back)"
    e2e_wait 5 "the monitor seeing the switch back" switches_above "$seen"
  fi
  sleep 0.5 # what the switches sent has arrived
  mark=$(wc -l <"$E2E_DIR/monitor.log")
}
# since_mark: what the monitor printed after monitor_start.
since_mark () { tail -n "+$((mark + 1))" "$E2E_DIR/monitor.log"; }

# e2e_polkit_world USER UID: a real polkitd on a private system bus
# (e2e_start_bus with polkit's policy) that grants USER (made with UID
# for the test, unless it exists under that name) the action
# dev.libfz.tunnel.control by a rules file; the action's policy file
# installed if missing. What it adds to the system goes again on exit.
# Defines polkit_up, start_polkitd and $polkit_action, $polkit_rules.
e2e_polkit_world () {
  local user=$1 uid=$2 owner
  fz_require_cmd dbus-daemon busctl gdbus setpriv timeout useradd userdel
  polkitd=/usr/lib/polkit-1/polkitd
  [ -x "$polkitd" ] || fz_skip "needs $polkitd (package polkitd; run tools/setup)"
  polkit_action=dev.libfz.tunnel.control
  local policy=/usr/share/polkit-1/actions/$polkit_action.policy
  local policy_src=$e2e_src/../../data/polkit/dev.libfz.tunnel.policy
  polkit_rules=/etc/polkit-1/rules.d/49-fz-e2e-$$.rules
  e2e_exit_hooks+=("rm -f '$polkit_rules'"
    "[ -n \"\${e2e_pid[polkitd]:-}\" ] && kill -CONT \"\${e2e_pid[polkitd]}\" 2>/dev/null")
  # The policy file is shared by the cases that run at once: each holds
  # a shared lock on its directory for its life (taken exclusively while
  # it installs), and the last to leave, the one that then gets the lock
  # exclusively, removes the file if a case installed it (the marker).
  local marker=/run/fz-e2e-polkit-policy
  exec {polkit_lock_fd}<"$(dirname "$policy")"
  flock -x "$polkit_lock_fd"
  if [ ! -e "$policy" ]; then
    install -m 644 "$policy_src" "$policy"
    : >"$marker"
  fi
  flock -s "$polkit_lock_fd"
  e2e_exit_hooks+=("flock -x -n $polkit_lock_fd && [ -e $marker ] && rm -f '$policy' $marker")
  cmp -s "$policy" "$policy_src" || fail "$policy is another version than $policy_src"
  owner=$(getent passwd "$uid" | cut -d: -f1) || true
  if [ -z "$owner" ]; then
    # The user's processes (a gui case's session) go first: userdel
    # refuses a user that still runs something.
    e2e_exit_hooks+=("pkill -KILL -U $uid 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do
      userdel '$user' 2>/dev/null && break; sleep 0.1; done")
    useradd --system --no-create-home --uid "$uid" --gid nogroup \
      --shell /usr/sbin/nologin "$user" 2>/dev/null
  elif [ "$owner" != "$user" ]; then
    fail "uid $uid is taken by $owner"
  fi
  e2e_polkit_rule "$user" YES
  cat >"$E2E_DIR/polkit.conf" <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="polkitd">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
</busconfig>
CONF
  e2e_start_bus "$E2E_DIR/polkit.conf"
  start_polkitd
}
# e2e_polkit_rule USER YES|NO: what the rules file answers for USER
# (polkitd reloads it on change).
e2e_polkit_rule () {
  cat >"$polkit_rules.tmp" <<RULES
// An e2e case of libfz: its test user and fz-tunnel.
polkit.addRule(function (action, subject) {
  if (action.id == "$polkit_action" && subject.user == "$1")
    return polkit.Result.$2;
});
RULES
  chmod 644 "$polkit_rules.tmp"
  mv "$polkit_rules.tmp" "$polkit_rules"
}
polkit_up () {
  [ "$(bctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    NameHasOwner s org.freedesktop.PolicyKit1)" = "b true" ]
}
start_polkitd () {
  # polkitd drops to its own user; the bus and its directory are open.
  # The tests' G_DEBUG=fatal-warnings is for our code, not for polkitd.
  e2e_bg polkitd cl env -u G_DEBUG DBUS_SYSTEM_BUS_ADDRESS="$bus" "$polkitd" --no-debug
  e2e_wait_up polkitd 10 "polkitd on the bus" polkit_up
}
