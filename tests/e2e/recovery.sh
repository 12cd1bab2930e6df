#!/usr/bin/env bash
# Case 14: recovery without a new sign-in, fz-tunnel as the D-Bus
# service on a private bus. The client's uplink is renumbered (a new
# address on its LAN, a new default route, the old address gone): a
# held TCP connection to the resource goes on, the tunnel keeps its
# address and the state comes back to connected. A new default route
# alone is a network change too. Then a stand-in for
# logind says PrepareForSleep(true), PrepareForSleep(false): the client
# starts its connections over (and the portal's: its TCP may be dead
# too) and traffic flows on a new one.
. "$(dirname "$0")/e2e-lib.sh" "$@"
fz_require_cmd dbus-daemon busctl
/usr/bin/python3 -c 'import gi' 2>/dev/null || fz_skip "needs python3-gi (logind's stand-in)"
e2e_setup
e2e_start_gateway 1
cat >"$E2E_DIR/login1.conf" <<'XML'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.login1"/>
  </policy>
</busconfig>
XML
e2e_start_bus "$E2E_DIR/login1.conf"
e2e_start_service
call Connect 'sa{sv}' "$E2E_TOKEN_CL" 1 api_url s "$E2E_URL" || fail "Connect"
e2e_wait_up svc 15 "the tunnel connected" state_is connected
e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP before the renumbering"
addrs=$(prop TunnelAddresses)
logged () { grep -c "$1" "$E2E_DIR/$2.log" || true; }
more_than () { [ "$(logged "$1" "$2")" -gt "$3" ]; }
http_ok () { [ "$(on cl curl -s --max-time 2 http://172.16.1.10/)" = "hello from res" ]; }

# Renumbered: 10.3.0.2 → 10.3.1.2, default route via the router's new
# address. The old NAT binding and the portal's TCP connection are dead.
on rtc ip addr add 10.3.1.1/24 dev lan0
on cl python3 "$e2e_src/e2e-hold.py" 172.16.1.10 7 12 >"$E2E_DIR/hold.out" 2>&1 &
hold=$!
sleep 1
changes=$(logged "the network changed" svc)
conns=$(logged "connected to gateway" svc)
t0=$(date +%s%N)
on cl ip addr add 10.3.1.2/24 dev wan0
on cl ip route replace default via 10.3.1.1
on cl ip addr del 10.3.0.2/24 dev wan0
e2e_wait_up svc 5 "the client seeing the change" more_than "the network changed" svc "$changes"
e2e_wait_up svc 20 "HTTP after the renumbering" http_ok
t1=$(date +%s%N)
echo "HTTP again $(((t1 - t0) / 1000000)) ms after the renumbering"
wait "$hold" || fail "the held connection: $(cat "$E2E_DIR/hold.out")"
cat "$E2E_DIR/hold.out"
more_than "connected to gateway" svc "$conns" || fail "no new connection to the gateway"
e2e_wait_up svc 30 "the state after the renumbering" state_is connected
[ "$(prop TunnelAddresses)" = "$addrs" ] || fail "the tunnel's addresses changed: $(prop TunnelAddresses)"
echo "renumbered: the held connection went on, same tunnel addresses, connected"

# Only the default route changes (another address of the same router):
# also a network change, and traffic flows after it.
on rtc ip addr add 10.3.1.254/24 dev lan0
changes=$(logged "the network changed" svc)
on cl ip route replace default via 10.3.1.254
e2e_wait_up svc 5 "the client seeing the new default route" \
  more_than "the network changed" svc "$changes"
e2e_wait_up svc 20 "HTTP after the new default route" http_ok
echo "a new default route: seen as a network change, HTTP again"

# Sleep and resume, as logind says it.
conns=$(logged "connected to gateway" svc)
on cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" /usr/bin/python3 - <<'PY' || fail "logind's stand-in"
import time
from gi.repository import Gio, GLib
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                      "RequestName", GLib.Variant("(su)", ("org.freedesktop.login1", 4)),
                      GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
assert reply.unpack() == (1,), reply
time.sleep(0.3)
for sleeping in (True, False):
    bus.emit_signal(None, "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                    "PrepareForSleep", GLib.Variant("(b)", (sleeping,)))
    bus.flush_sync(None)
    time.sleep(0.5)
PY
grep -q "the system is going to sleep" "$E2E_DIR/svc.log" || fail "PrepareForSleep(true) not seen"
e2e_wait_up svc 5 "the reset on resume" grep -q "resumed from sleep" "$E2E_DIR/svc.log"
e2e_wait_up svc 15 "HTTP after the resume" http_ok
e2e_wait_up svc 5 "a new connection after the resume" more_than "connected to gateway" svc "$conns"
state_is connected || fail "the state after the resume: $(prop State)"
[ "$(prop TunnelAddresses)" = "$addrs" ] || fail "the tunnel's addresses changed on resume"
# Never signed in again: one Connect, one tunnel.
[ "$(logged "connecting to ws://" svc)" = 1 ] || fail "the tunnel was started again"
echo "resumed: the connections started over, traffic flows"
e2e_stop svc TERM || fail "the service did not exit cleanly"
echo "PASS"
