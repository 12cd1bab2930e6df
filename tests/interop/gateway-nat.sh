#!/usr/bin/env bash
# fz-gateway's masquerade and IP forwarding (gateway/fz-gateway-nat.c) in
# namespaces of our own: the nftables table for each address family and
# its removal, names refused, forwarding turned on (and the message when
# it cannot be), then traffic: a client behind the gateway's "TUN" (a veth
# here) pings a peer that has no route back to the tunnel ranges, so a
# reply arrives only when the gateway masqueraded the request.
#
#   gateway-nat.sh CHECK_BIN
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

check=$1
fz_require_root
fz_require_cmd ip nft ping python3 unshare mount setpriv sysctl

tmp=$(mktemp -d)
cleanup () {
  fz_cleanup_netns
  rm -rf "$tmp"
}
trap cleanup EXIT

fail () { echo "FAIL: $*" >&2; exit 1; }

fz_netns_add gw gwnat
fz_netns_add cl gwcl
fz_netns_add pr gwpeer
in_gw () { ip netns exec "$gw" "$@"; }

# table_is TUN V4 V6: the table holds exactly the chain and the rules for
# those families, each excluding TUN.
table_is () {
  in_gw nft -j list table inet fz-gateway >"$tmp/table.json" \
    || fail "no table after apply $*"
  python3 - "$tmp/table.json" "$@" <<'PY' || fail "table for apply $*: $(cat "$tmp/table.json")"
import json, sys
path, tun, v4, v6 = sys.argv[1:]
items = json.load(open(path))["nftables"]
tables = [i["table"] for i in items if "table" in i]
chains = [i["chain"] for i in items if "chain" in i]
rules = [i["rule"] for i in items if "rule" in i]
assert [(t["family"], t["name"]) for t in tables] == [("inet", "fz-gateway")], tables
assert len(chains) == 1, chains
c = chains[0]
assert (c["name"], c["type"], c["hook"], c["prio"], c["policy"]) == \
    ("postrouting", "nat", "postrouting", 100, "accept"), c
want = set()
if v4 == "1": want.add(("ip", "100.64.0.0", 11))
if v6 == "1": want.add(("ip6", "fd00:2021:1111::", 107))
got = set()
for r in rules:
    e = r["expr"]
    assert len(e) == 4, e
    oif, saddr, counter, masq = e
    assert oif["match"] == {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": tun}, oif
    m = saddr["match"]
    assert m["op"] == "==", m
    got.add((m["left"]["payload"]["protocol"], m["right"]["prefix"]["addr"],
             m["right"]["prefix"]["len"]))
    assert m["left"]["payload"]["field"] == "saddr", m
    assert "counter" in counter and masq == {"masquerade": None}, e
assert len(got) == len(rules) and got == want, (got, want)
PY
  echo "ok: apply $*"
}

no_table () {
  if in_gw nft list table inet fz-gateway >/dev/null 2>&1; then
    fail "the table is still there after $*"
  fi
  echo "ok: $*: no table"
}

# ---- The table ------------------------------------------------------
# run ARGS...: the check program must succeed.
run () { in_gw "$check" "$@" || fail "gateway-nat-check $* failed"; }

run apply tun0 1 0
table_is tun0 1 0
run apply tun0 0 1
table_is tun0 0 1
run apply tun0 1 1
table_is tun0 1 1
run apply tun0 1 1
table_is tun0 1 1 # replaced, not added to
run apply fz-tun.2_x 1 0
table_is fz-tun.2_x 1 0
run apply tun0 0 0
no_table "apply with neither family"
run remove
no_table "remove when absent"
run apply tun0 1 1
run remove
no_table "remove"

# A name that is no interface name is refused before nftables sees it,
# and the table stays as it was.
run apply tun0 1 0
for bad in "" "tun 0" 'tun"0' "tun0;x" "tun/0" "tun*" . .. "sixteen-chars-xx" "tün0" \
  $'tun\n0'; do
  if in_gw "$check" apply "$bad" 1 1 2>"$tmp/err"; then
    fail "name '$bad' was taken"
  fi
  grep -q "^TUN interface name" "$tmp/err" || fail "name '$bad': $(cat "$tmp/err")"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "name '$bad': $(cat "$tmp/err")"
done
table_is tun0 1 0
echo "ok: bad names refused"

# Without CAP_NET_ADMIN: one line, and nothing printed by libnftables.
for cmd in "apply tun0 0 1" remove; do
  if in_gw setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$check" $cmd 2>"$tmp/err"; then
    fail "$cmd worked without privileges"
  fi
  grep -q "^cannot .* masquerading: it needs CAP_NET_ADMIN" "$tmp/err" \
    || fail "unprivileged $cmd: $(cat "$tmp/err")"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "unprivileged $cmd: $(cat "$tmp/err")"
done
table_is tun0 1 0
echo "ok: unprivileged: $(cat "$tmp/err")"

# nft's own reason comes back, on one line: another process holds a
# table of our name with the owner flag, so the kernel refuses to touch it.
# (nft -i keeps its netlink socket, and so the table, while it reads.)
run remove
mkfifo "$tmp/nft-in"
in_gw nft -i <"$tmp/nft-in" >"$tmp/nft-i.log" 2>&1 &
nft_pid=$!
exec 7>"$tmp/nft-in"
echo 'add table inet fz-gateway { flags owner; }' >&7
for _ in $(seq 50); do
  in_gw nft list table inet fz-gateway 2>/dev/null | grep -q "flags owner" && break
  sleep 0.1
done
in_gw nft list table inet fz-gateway | grep -q "flags owner" \
  || fail "nft -i did not create the owned table: $(cat "$tmp/nft-i.log")"
for cmd in "apply tun0 1 1" remove; do
  if in_gw "$check" $cmd 2>"$tmp/err"; then fail "$cmd changed an owned table"; fi
  grep -q "^cannot .* masquerading: nftables refused it: Error: Could not process rule: Operation not permitted$" \
    "$tmp/err" || fail "owned table, $cmd: $(cat "$tmp/err")"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "owned table, $cmd: $(cat "$tmp/err")"
done
echo "ok: nft's reason: $(cat "$tmp/err")"
exec 7>&-
wait "$nft_pid" || true
no_table "nft -i ended"

# ---- Forwarding -----------------------------------------------------
fwd () { in_gw sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding | tr '\n' ' '; }
in_gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
run forwarding
[ "$(fwd)" = "1 1 " ] || fail "forwarding after ensure: $(fwd)"
run forwarding # on already: nothing to do
[ "$(fwd)" = "1 1 " ] || fail "forwarding after a second ensure: $(fwd)"
echo "ok: forwarding turned on"

# Read-only /proc/sys: one message naming what is off and how to turn it on.
ro () {
  in_gw unshare --mount sh -c \
    'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"' \
    sh "$@"
}
in_gw sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
if ro "$check" forwarding 2>"$tmp/err"; then fail "forwarding worked on a read-only /proc/sys"; fi
grep -q "sysctl -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1$" "$tmp/err" \
  || fail "read-only message: $(cat "$tmp/err")"
grep -q "Read-only file system" "$tmp/err" || fail "read-only message: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "more than one line: $(cat "$tmp/err")"
[ "$(fwd)" = "0 0 " ] || fail "forwarding changed on a read-only /proc/sys: $(fwd)"
echo "ok: read-only: $(cat "$tmp/err")"
in_gw sysctl -qw net.ipv6.conf.all.forwarding=1
ro "$check" forwarding 2>"$tmp/err" && fail "IPv4 forwarding is off, yet ensure succeeded"
grep -q "(net.ipv4.ip_forward: Read-only file system); .* sysctl -w net.ipv4.ip_forward=1$" \
  "$tmp/err" || fail "IPv4 alone: $(cat "$tmp/err")"
echo "ok: names only IPv4 when only IPv4 is off"
if in_gw setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
  "$check" forwarding 2>"$tmp/err"; then
  fail "an unprivileged user turned forwarding on"
fi
grep -q "net.ipv4.ip_forward: Permission denied" "$tmp/err" \
  || fail "unprivileged: $(cat "$tmp/err")"
echo "ok: not root: $(cat "$tmp/err")"
run forwarding

# ---- Traffic ------------------------------------------------------
# client c0 ==== tun0 gateway up0 ==== p0 peer. The peer has no route to
# the tunnel ranges: it can answer only the gateway's own address.
ip -n "$cl" link add c0 type veth peer name tun0 netns "$gw"
ip -n "$gw" link add up0 type veth peer name p0 netns "$pr"
ip -n "$cl" link set c0 up
ip -n "$gw" link set tun0 up
ip -n "$gw" link set up0 up
ip -n "$pr" link set p0 up
ip -n "$gw" addr add 100.64.0.1/32 dev tun0
ip -n "$gw" addr add fd00:2021:1111::1/128 dev tun0 nodad
ip -n "$gw" route add 100.64.0.5/32 dev tun0
ip -n "$gw" route add fd00:2021:1111::5/128 dev tun0
ip -n "$cl" addr add 100.64.0.5/32 dev c0
ip -n "$cl" addr add fd00:2021:1111::5/128 dev c0 nodad
ip -n "$cl" route add default via 100.64.0.1 dev c0 onlink
ip -n "$cl" route add fd00:2021:1111::1/128 dev c0
ip -n "$cl" route add default via fd00:2021:1111::1 dev c0
ip -n "$gw" addr add 198.51.100.1/24 dev up0
ip -n "$gw" addr add 2001:db8:100::1/64 dev up0 nodad
ip -n "$pr" addr add 198.51.100.2/24 dev p0
ip -n "$pr" addr add 2001:db8:100::2/64 dev p0 nodad

# reaches FAMILY yes|no: whether the client's ping gets its reply.
reaches () {
  local dst=198.51.100.2
  [ "$1" = 6 ] && dst=2001:db8:100::2
  if ip netns exec "$cl" ping -"$1" -n -c 2 -i 0.3 -W 1 "$dst" >"$tmp/ping" 2>&1; then
    [ "$2" = yes ] || fail "IPv$1 reached the peer unmasqueraded: $(cat "$tmp/ping")"
  else
    [ "$2" = no ] || fail "IPv$1 did not reach the peer: $(cat "$tmp/ping")"
  fi
}

# The peer itself is reachable from the gateway, so the only thing
# missing below is the masquerade.
in_gw ping -4 -n -c 1 -W 2 198.51.100.2 >/dev/null || fail "gateway -> peer (IPv4)"
in_gw ping -6 -n -c 1 -W 2 2001:db8:100::2 >/dev/null || fail "gateway -> peer (IPv6)"

run remove
reaches 4 no
reaches 6 no
echo "ok: no masquerade: no replies"
run apply tun0 1 0
reaches 4 yes
reaches 6 no
echo "ok: IPv4 masquerade"
run apply tun0 0 1
reaches 6 yes
reaches 4 no
echo "ok: IPv6 masquerade"
run apply tun0 1 1
reaches 4 yes
reaches 6 yes
# The rules' counters saw the client's first packets (masquerade acts on
# a connection's first packet only).
in_gw nft -j list table inet fz-gateway >"$tmp/table.json"
python3 - "$tmp/table.json" <<'PY' || fail "counters: $(cat "$tmp/table.json")"
import json, sys
rules = [i["rule"] for i in json.load(open(sys.argv[1]))["nftables"] if "rule" in i]
for r in rules:
    n = [e["counter"]["packets"] for e in r["expr"] if "counter" in e][0]
    assert n >= 1, r
PY
echo "ok: both families masqueraded, counted"
# Traffic that leaves through the TUN itself is not masqueraded: with the
# uplink named as the TUN, nothing is.
run apply up0 1 1
reaches 4 no
reaches 6 no
echo "ok: nothing masqueraded out of the interface named as the TUN"
run apply tun0 0 0
no_table "the end"
echo "PASS"
