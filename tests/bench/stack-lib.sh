# The whole stack in network namespaces, for the benchmarks: sourced
# after lib.sh, never run. The caller's EXIT trap calls stack_cleanup.
#
#   pub   fz-portal and coturn on 203.0.113.1 (its lo); routes between
#         the others (plain routing, no NAT)
#   cl    a client: up0 10.10.1.2 -- pub 10.10.1.1
#   gw    the gateway: up0 10.10.2.2 -- pub 10.10.2.1; lan0 172.20.0.1/24
#         and 172.20.1.1/24
#   res   the resources on the gateway's LAN: 172.20.0.10 and 172.20.1.10,
#         default route via the gateway
#   cd    a client behind a delay: up0 10.10.3.2 -- [dl] -- pub 10.10.3.1,
#         made by stack_delayed_client; dl forwards frames each way after
#         a delay (delay-bridge.py: this kernel has no sch_netem)
#
# The portal's account: site HQ, resources A (172.20.0.0/24) and B
# (172.20.1.0/24) for everyone, a gateway token, user "bench" with a
# static client token per client namespace and one shared by simulated
# clients ($stack_sim_token).
#
# Needs: $bin (a build directory: portal/fz-portal, gateway/fz-gateway,
# tunnel-service/fz-tunnel).

fz_netns_prefix="fzb$$"
stack_work=$(mktemp -d)
stack_coturn_pid= stack_portal_pid= stack_gateway_pid= stack_bridge_pid=
declare -A stack_client_pid=()
stack_portal_ip=203.0.113.1
stack_portal_port=8080
stack_api_url="ws://$stack_portal_ip:$stack_portal_port"
stack_turn_secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

fail () {
  echo "FAIL: $*" >&2
  local f
  for f in "$stack_work"/*.log; do
    [ -f "$f" ] || continue
    echo "--- $(basename "$f") (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

# stack_stop PID: SIGTERM, then SIGKILL after 5 s; reaps it and leaves
# its exit status in stack_stop_rc (always returns 0: cleanup goes on).
stack_stop () {
  local pid=$1
  stack_stop_rc=0
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || stack_stop_rc=$?
  return 0
}

# stack_note_exit WHAT LOG: a daemon stopped with SIGTERM exits 0; say so
# when it did not (a crash, a sanitizer's report), with its last lines.
stack_note_exit () {
  [ "$stack_stop_rc" = 0 ] && return 0
  echo "note: $1 exited with status $stack_stop_rc after SIGTERM; its last lines:" >&2
  tail -n 20 "$2" >&2 || true
}

stack_cleanup () {
  local ns
  for ns in "${!stack_client_pid[@]}"; do stack_stop "${stack_client_pid[$ns]}"; done
  stack_stop "$stack_gateway_pid"
  stack_stop "$stack_bridge_pid"
  stack_stop "$stack_portal_pid"
  stack_stop "$stack_coturn_pid"
  fz_cleanup_netns
  rm -rf "$stack_work"
}

# stack_link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair; "-" for no
# address.
stack_link () {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  [ "$3" = - ] || ip -n "$1" addr add "$3" dev "$2"
  [ "$6" = - ] || ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

stack_namespaces () {
  fz_netns_add PUB pub
  fz_netns_add CL cl
  fz_netns_add GW gw
  fz_netns_add RES res
  ip -n "$PUB" addr add "$stack_portal_ip/32" dev lo
  ip netns exec "$PUB" sysctl -qw net.ipv4.ip_forward=1
  stack_link "$PUB" p-cl 10.10.1.1/24 "$CL" up0 10.10.1.2/24
  stack_link "$PUB" p-gw 10.10.2.1/24 "$GW" up0 10.10.2.2/24
  stack_link "$GW" lan0 172.20.0.1/24 "$RES" lan0 172.20.0.10/24
  ip -n "$GW" addr add 172.20.1.1/24 dev lan0
  ip -n "$RES" addr add 172.20.1.10/24 dev lan0
  ip -n "$CL" route add default via 10.10.1.1
  ip -n "$GW" route add default via 10.10.2.1
  ip -n "$RES" route add default via 172.20.0.1
  ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
}

# stack_new_token NAME: a token in $stack_work/NAME.token (0600); prints
# its hash.
stack_new_token () {
  local out
  out=$("$bin/portal/fz-portal" new-token)
  (umask 077 && printf '%s\n' "$out" | sed -n 's/^token: //p' >"$stack_work/$1.token")
  printf '%s\n' "$out" | sed -n 's/^token_hash = //p'
}

# stack_portal [EXTRA [portal] LINES]: coturn and fz-portal in pub.
stack_portal () {
  local gw_hash cl_hash cd_hash sim_hash
  : >"$stack_work/empty.conf"
  ip netns exec "$PUB" turnserver -c "$stack_work/empty.conf" \
    --pidfile "$stack_work/turn.pid" --db "$stack_work/turn.db" \
    --listening-ip "$stack_portal_ip" --listening-port 3478 --min-port 49152 \
    --max-port 65535 --realm fz.bench --use-auth-secret \
    --static-auth-secret "$stack_turn_secret" --no-cli --no-tls --no-dtls \
    --no-rfc5780 --log-file stdout --simple-log >"$stack_work/coturn.log" 2>&1 &
  stack_coturn_pid=$!
  gw_hash=$(stack_new_token gateway)
  cl_hash=$(stack_new_token cl)
  cd_hash=$(stack_new_token cd)
  sim_hash=$(stack_new_token sim)
  stack_sim_token="$stack_work/sim.token"
  (umask 077 && cat >"$stack_work/fz-portal.conf") <<CONF
[portal]
account_slug = bench
account_name = Bench
listen = $stack_portal_ip:$stack_portal_port
secret_file = $stack_work/fz-portal.secret
connect_limit = 100000
connections_per_address = 100000
${1:-}
[relay main]
addresses = $stack_portal_ip:3478
secret = $stack_turn_secret
[site HQ]
[gateway-token hq]
site = HQ
token_hash = $gw_hash
[user bench]
name = Bench
token_hashes = $cl_hash; $cd_hash; $sim_hash
[resource A]
type = cidr
address = 172.20.0.0/24
sites = HQ
[resource B]
type = cidr
address = 172.20.1.0/24
sites = HQ
[policy everyone]
users = *
resources = A; B
CONF
  ip netns exec "$PUB" "$bin/portal/fz-portal" --config "$stack_work/fz-portal.conf" \
    >"$stack_work/portal.out" 2>"$stack_work/portal.log" &
  stack_portal_pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$stack_work/portal.out" 2>/dev/null \
      && [ -n "$(ip netns exec "$PUB" ss -Hlun 'sport = :3478')" ] && return 0
    kill -0 "$stack_portal_pid" 2>/dev/null || fail "fz-portal exited"
    kill -0 "$stack_coturn_pid" 2>/dev/null || fail "coturn exited"
    sleep 0.1
  done
  fail "fz-portal or coturn did not start"
}

# stack_wait_log FILE REGEX SECONDS PID WHAT
stack_wait_log () {
  local i
  for i in $(seq $(($3 * 10))); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || fail "$5 exited"
    sleep 0.1
  done
  fail "$5: no '$2' in $3 s"
}

# stack_gateway: fz-gateway in gw, joined.
stack_gateway () {
  : >"$stack_work/gateway.log" # before the start: not a previous run's lines
  ip netns exec "$GW" env FIREZONE_TOKEN="$(cat "$stack_work/gateway.token")" \
    FIREZONE_API_URL="$stack_api_url" FIREZONE_NAME=bench-gw FIREZONE_ID=bench-gw \
    "$bin/gateway/fz-gateway" --state-dir "$stack_work/state-gw" \
    >>"$stack_work/gateway.log" 2>&1 &
  stack_gateway_pid=$!
  stack_wait_log "$stack_work/gateway.log" 'joined the portal' 20 "$stack_gateway_pid" \
    fz-gateway
}

stack_gateway_stop () {
  stack_stop "$stack_gateway_pid"
  stack_note_exit fz-gateway "$stack_work/gateway.log"
  stack_gateway_pid=
}

# stack_client NS NAME [ARGS]: fz-tunnel --headless in NS with the token
# NAME, waits until it is up. With --exit: runs it to the end and prints
# its line "tunnel up with N resources in T ms". Its device id is
# bench-NAME$stack_client_id (all namespaces share /etc/machine-id).
stack_client () {
  local ns=$1 name=$2
  shift 2
  : >"$stack_work/client-$name.log" # before the start: not a previous run's lines
  ip netns exec "$ns" env FIREZONE_TOKEN="$(cat "$stack_work/$name.token")" \
    FIREZONE_API_URL="$stack_api_url" FIREZONE_DNS_CONTROL=disabled \
    FIREZONE_NAME="bench-$name" FIREZONE_ID="bench-$name${stack_client_id:-}" \
    "$bin/tunnel-service/fz-tunnel" --headless --state-dir "$stack_work/state-$name" \
    "$@" >>"$stack_work/client-$name.log" 2>&1 &
  local pid=$!
  if [ "${1:-}" = --exit ]; then
    wait "$pid" || fail "fz-tunnel --exit in $name failed"
    sed -n 's/^fz-tunnel: tunnel up/tunnel up/p' "$stack_work/client-$name.log"
    return 0
  fi
  stack_client_pid[$ns]=$pid
  stack_wait_log "$stack_work/client-$name.log" 'tunnel up with' 20 "$pid" \
    "fz-tunnel in $name"
}

# stack_client_stop NS NAME
stack_client_stop () {
  stack_stop "${stack_client_pid[$1]:-}"
  stack_note_exit "fz-tunnel ($2)" "$stack_work/client-$2.log"
  unset "stack_client_pid[$1]"
}

# stack_delayed_client MS: the namespace cd, whose only link passes
# through dl, where delay-bridge.py holds each frame MS milliseconds.
stack_delayed_client () {
  local ms=$1 i
  fz_netns_add CD cd
  fz_netns_add DL dl
  stack_link "$CD" up0 10.10.3.2/24 "$DL" d-cd -
  stack_link "$DL" d-pub - "$PUB" p-cd 10.10.3.1/24
  # Frames must reach the bridge as they go on the wire: no segmentation
  # or checksum left to the hardware.
  for i in "$CD up0" "$DL d-cd" "$DL d-pub" "$PUB p-cd"; do
    set -- $i
    ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 \
      || fail "ethtool -K $2"
  done
  ip -n "$CD" route add default via 10.10.3.1
  ip netns exec "$DL" python3 "$(dirname "${BASH_SOURCE[0]}")/delay-bridge.py" \
    d-cd d-pub "$ms" 3600 >"$stack_work/bridge.log" 2>&1 &
  stack_bridge_pid=$!
  for i in $(seq 50); do
    ip netns exec "$CD" ping -c 1 -W 1 10.10.3.1 >/dev/null 2>&1 && return 0
    kill -0 "$stack_bridge_pid" 2>/dev/null || fail "delay-bridge.py exited"
  done
  fail "no way through the delay bridge"
}

# stack_proc_sample PID: "TICKS NS SWITCHES": the process's CPU time in
# clock ticks (/proc/PID/stat, utime + stime), the same summed over its
# threads in ns (schedstat: finer than ticks), and the voluntary and
# nonvoluntary context switches of all its threads: its wake-ups.
stack_proc_sample () {
  local pid=$1
  awk '{ print $14 + $15 }' "/proc/$pid/stat" | tr '\n' ' '
  cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d ", s }'
  cat /proc/"$pid"/task/*/status 2>/dev/null \
    | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# stack_mem PID: "VmRSS VmHWM" in kB.
stack_mem () {
  awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { print r, h }' "/proc/$1/status"
}
