#!/usr/bin/env bash
# Case 13: DNS control through a real systemd-resolved (unpacked by
# tools/setup, not installed) on the private system bus in the client's
# namespace, as on a desktop: resolv.conf names resolved's stub, resolved
# has its own upstream. With FIREZONE_DNS_CONTROL unset the service picks
# systemd-resolved; tun-fz gets the sentinels, "~.", DefaultRoute, no
# DNSSEC/DoT/LLMNR/mDNS; the stub forwards what is no resource to
# resolved's upstream (read over D-Bus, not the stub: that would loop);
# queries through resolved give proxy IPs for resources and upstream
# answers for the rest; a name that becomes a resource is not served from
# resolved's cache; Disconnect reverts the link. Then the headless client
# picks and reverts the same way, and asked for resolved when it is not
# there, fails at start with an error that says so.
. "$(dirname "$0")/e2e-lib.sh" "$@"
fz_require_cmd dbus-daemon busctl setpriv unshare
rdir=/var/cache/libfz/systemd-resolved
[ -x "$rdir/lib/systemd/systemd-resolved" ] \
  || fz_skip "needs systemd-resolved unpacked in $rdir (run tools/setup)"
e2e_setup
e2e_start_gateway 1
conf=/etc/netns/$ns_cl/resolv.conf
echo "nameserver 127.0.0.53" >"$conf"

# resolved's upstream: a server of its own, with answers it may cache.
on pub ip addr add 198.18.0.54/32 dev lo
e2e_bg dnsmasq-up pub dnsmasq -k --no-resolv --no-hosts --listen-address=198.18.0.54 \
  --bind-interfaces --log-facility=- --local-ttl=300 \
  --address=/other.corp.test/198.18.0.80 --address=/new.corp.test/198.18.0.81

# The package's bus policy, for the user resolved runs as here (nobody:
# the host has no systemd-resolve user, and resolved, like its unit,
# runs unprivileged with its ambient capabilities).
sed 's/user="systemd-resolve"/user="nobody"/' \
  "$rdir/usr/share/dbus-1/system.d/org.freedesktop.resolve1.conf" >"$E2E_DIR/resolve1.conf"
e2e_start_bus "$E2E_DIR/resolve1.conf"
# Its own /run/systemd (a tmpfs in a mount namespace of its own): the
# host's is untouched.
cat >"$E2E_DIR/run-resolved.sh" <<SH
set -e
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/resolve /run/systemd/resolved.conf.d
chown 65534:65534 /run/systemd/resolve
printf '[Resolve]\nDNS=198.18.0.54\n' >/run/systemd/resolved.conf.d/e2e.conf
exec setpriv --reuid=65534 --regid=65534 --clear-groups \
  --inh-caps=+net_bind_service,+net_raw,+setpcap \
  --ambient-caps=+net_bind_service,+net_raw,+setpcap \
  env SYSTEMD_LOG_LEVEL=debug DBUS_SYSTEM_BUS_ADDRESS=$bus "$rdir/lib/systemd/systemd-resolved"
SH
e2e_bg resolved cl unshare -m --propagation private sh "$E2E_DIR/run-resolved.sh"
resolved_on_bus () {
  bctl status org.freedesktop.resolve1 >/dev/null 2>&1
}
e2e_wait_up resolved 10 "systemd-resolved on the bus" resolved_on_bus
e2e_wait_up resolved 10 "systemd-resolved's stub" e2e_resolves cl 127.0.0.53 other.corp.test
resolvectl () {
  on cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" "$rdir/usr/bin/resolvectl" "$@"
}
stub () { on cl dig +short +time=2 +tries=1 @127.0.0.53 "$1" A | tail -n 1; }
in_proxy_range () {
  python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("100.96.0.0/11"))' "$1"
}
# calls METHOD: how many calls of METHOD resolved has had.
calls () { grep -c "member=$1 " "$E2E_DIR/resolved.log" || true; }
flushes () { grep -c "Flushed all caches" "$E2E_DIR/resolved.log" || true; }
link_set () { resolvectl status tun-fz | grep -q "DNS Domain: ~."; }
echo "systemd-resolved $(cat "$rdir/.version") runs; its stub answers"

e2e_start_service FIREZONE_DNS_CONTROL=
grep -q "DNS control: systemd-resolved" "$E2E_DIR/svc.log" || fail "resolved not picked"
call Connect 'sa{sv}' "$E2E_TOKEN_CL" 1 api_url s "$E2E_URL" || fail "Connect"
e2e_wait_up svc 15 "the tunnel connected" state_is connected
e2e_wait_up svc 5 "tun-fz's DNS in resolved" link_set
status=$(resolvectl status tun-fz)
echo "$status"
grep -Eq "DNS Servers: 100\.100\.111\.1( |$)" <<<"$status" || fail "no sentinel on tun-fz"
grep -q "+DefaultRoute" <<<"$status" || fail "tun-fz is no default route"
grep -q -- "-LLMNR -mDNS -DNSOverTLS DNSSEC=no" <<<"$status" || fail "tun-fz's protocols"
for m in SetLinkDNS SetLinkDomains SetLinkDefaultRoute SetLinkDNSSEC SetLinkDNSOverTLS \
  FlushCaches; do
  [ "$(calls "$m")" -ge 1 ] || fail "resolved had no $m"
done
grep -q "the system's resolvers, from systemd-resolved: 198.18.0.54$" "$E2E_DIR/svc.log" \
  || fail "the upstream was not read from resolved"

app=$(stub app.corp.test)
in_proxy_range "$app" || fail "app.corp.test through resolved's stub: '$app'"
out=$(resolvectl query -4 app.corp.test) || fail "resolvectl query: $out"
grep -Eq "^app\.corp\.test: 100\.96\.[0-9.]+ +-- link: tun-fz$" <<<"$out" \
  && grep -Eq "[: ] $app +-- link: tun-fz$" <<<"$out" || fail "resolvectl query: $out"
[ "$(stub other.corp.test)" = 198.18.0.80 ] || fail "other.corp.test through resolved"
[ "$(e2e_curl http://app.corp.test/)" = "hello from res" ] || fail "HTTP by name"
echo "through resolved: app.corp.test is $app, other.corp.test the upstream's"

# new.corp.test, cached by resolved (TTL 300) from the upstream, becomes
# a resource: the flush makes resolved ask the stub again.
[ "$(stub new.corp.test)" = 198.18.0.81 ] || fail "new.corp.test before it is a resource"
echo "172.16.1.10 new.corp.test" >>"$E2E_DIR/hosts"
kill -HUP "${e2e_pid[dnsmasq]}"
before=$(flushes)
sed -i 's/^resources = Web; App; Svc; LabB$/resources = Web; App; Svc; LabB; New/' \
  "$E2E_DIR/portal.conf"
printf '[resource New]\ntype = dns\naddress = new.corp.test\nsites = A\n' >>"$E2E_DIR/portal.conf"
kill -HUP "${e2e_pid[portal]}"
flushed_since () { [ "$(flushes)" -gt "$1" ]; }
e2e_wait_up svc 10 "resolved's caches flushed" flushed_since "$before"
new=$(stub new.corp.test)
in_proxy_range "$new" || fail "new.corp.test after it became a resource: '$new'"
[ "$(e2e_curl http://new.corp.test/)" = "hello from res" ] || fail "HTTP to the new resource"
echo "a new resource: resolved flushed, new.corp.test is $new"

reverts=$(calls RevertLink)
call Disconnect || fail "Disconnect"
e2e_wait_up svc 5 "the state after Disconnect" state_is disconnected
[ "$(calls RevertLink)" -gt "$reverts" ] || fail "no RevertLink"
link_gone () { ! resolvectl status | grep -q "(tun-fz)"; }
e2e_wait 5 "tun-fz leaving resolved" link_gone
[ "$(stub other.corp.test)" = 198.18.0.80 ] || fail "resolved after Disconnect"
e2e_stop svc TERM || fail "the service did not exit cleanly"
echo "Disconnect: RevertLink, resolved back to its upstream"

# Headless, with the same bus: it also picks resolved.
mkdir -p "$E2E_DIR/state-cl"
e2e_bg cl cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" FIREZONE_TOKEN="$E2E_TOKEN_CL" \
  FIREZONE_API_URL="$E2E_URL" RUST_LOG="${E2E_LOG:-info}" \
  "$fz_tunnel" --headless --state-dir "$E2E_DIR/state-cl"
e2e_wait_up cl 15 "the headless tunnel" grep -q "tunnel up" "$E2E_DIR/cl.log"
grep -q "DNS control: systemd-resolved" "$E2E_DIR/cl.log" || fail "headless: resolved not picked"
e2e_wait_up cl 5 "headless: tun-fz's DNS in resolved" link_set
in_proxy_range "$(stub app.corp.test)" || fail "headless: app.corp.test through resolved"
reverts=$(calls RevertLink)
e2e_stop cl TERM || fail "the headless client did not exit cleanly"
[ "$(calls RevertLink)" -gt "$reverts" ] || fail "headless: no RevertLink"
[ "$(stub other.corp.test)" = 198.18.0.80 ] || fail "resolved after the headless client"
echo "headless: resolved picked, the link reverted on SIGTERM"

# resolved asked for but gone: a clear error at start.
e2e_stop resolved || true
rc=0
out=$(on cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" FIREZONE_TOKEN="$E2E_TOKEN_CL" \
  FIREZONE_API_URL="$E2E_URL" FIREZONE_DNS_CONTROL=systemd-resolved \
  "$fz_tunnel" --headless --state-dir "$E2E_DIR/state-cl" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "systemd-resolved is not running" <<<"$out" \
  || fail "FIREZONE_DNS_CONTROL=systemd-resolved without resolved: rc $rc: $out"
echo "without resolved: $(tail -n 1 <<<"$out")"
echo "PASS"
