#!/usr/bin/env bash
# The tray as its Flatpak runs it, without Flatpak: fz-gui in a bwrap
# sandbox shaped like a Flatpak one (/.flatpak-info, a home of its own
# under ~/.var/app/dev.libfz.Client, no host applications, no network
# namespace change), its session and system buses behind xdg-dbus-proxy
# with the rules `flatpak run` derives from the manifest's finish-args
# (data/flatpak/dev.libfz.Client.yml, read by flatpak-builder) plus those
# Flatpak adds for every app. Outside: the world of e2e-lib (fz-portal,
# a gateway, fz-tunnel on a private system bus with polkitd), Xvfb, a
# session bus, fake-shell as the tray host and fake-portal as
# xdg-desktop-portal. No Secret Service runs at all.
#
# Shown: the filtered buses let through what the tray needs and no more
# (the names the sandbox sees); the menu appears in the host's tray; the
# sign-in page opens through the OpenURI portal; the deep link reaches
# the running tray from a second sandboxed fz-gui; the token goes into
# libsecret's file keyring keyed by the Secret portal (encrypted, inside
# the app's own directory); Connect reaches fz-tunnel through the
# filtered system bus; notifications go to the Notification portal;
# start on login goes to the Background portal and writes no autostart
# file anywhere; a new start reads the token back and connects.
#
# Usage: sandbox.sh BUILD_ROOT
. "$(dirname "$0")/../e2e/e2e-lib.sh" "$@"
top=$(cd "$e2e_src/../.." && pwd)
fz_gui=$e2e_build/gui/fz-gui
shell=$e2e_build/tests/gui/fake-shell
portal=$e2e_build/tests/gui/fake-portal
manifest=$top/data/flatpak/dev.libfz.Client.yml
app_id=dev.libfz.Client
[ -x "$fz_gui" ] || fz_skip "built without fz-gui (-Dgui; tools/setup installs its packages)"
fz_require_cmd Xvfb dbus-daemon xdg-dbus-proxy bwrap flatpak-builder gsettings gdbus curl python3
user=fz-e2e-box uid=64125
password=correct-horse-$$

E2E_ALICE_PASSWORD_HASH=$(printf '%s' "$password" | "$fz_portal" hash-password \
  | sed -n 's/^password_hash = //p')
e2e_setup
e2e_start_gateway 1
e2e_polkit_world "$user" "$uid"
e2e_start_service

# ---- the host side of the user's session ---------------------------------

home=$E2E_DIR/home
app_dir=$home/.var/app/$app_id
mkdir -p "$home/.config" "$home/run" "$app_dir/config" "$app_dir/data" "$app_dir/cache"
chmod 700 "$home/run"
chown -R "$uid:nogroup" "$home"
session_env=(HOME="$home" USER="$user" LOGNAME="$user" XDG_CONFIG_HOME="$home/.config"
  XDG_DATA_HOME="$home/.local/share" XDG_RUNTIME_DIR="$home/run" PATH=/usr/bin:/bin
  DBUS_SESSION_BUS_ADDRESS="unix:path=$home/run/bus" DBUS_SYSTEM_BUS_ADDRESS="$bus"
  NO_AT_BRIDGE=1 LANG=C.UTF-8)
. "$(dirname "$0")/session-lib.sh"
gui_session_start
ubg shell "$shell" watch
e2e_wait_up shell 10 "fake-shell" grep -q '^watcher: ready' "$E2E_DIR/shell.log"
ubg portal-fake "$portal"
e2e_wait_up portal-fake 10 "fake-portal" grep -q '^portal: ready' "$E2E_DIR/portal-fake.log"

# ---- the filtered buses, from the manifest ---------------------------------

(cd "$E2E_DIR" && flatpak-builder --show-manifest "$manifest") >"$E2E_DIR/manifest.json" \
  || fail "flatpak-builder cannot read $manifest"
# What `flatpak run` gives the proxies (flatpak-run.c): the finish-args'
# names, and for every app its own names and the portals.
python3 - "$E2E_DIR/manifest.json" "$E2E_DIR" <<'PY' || fail "the manifest's bus rules"
import json, os, sys
m = json.load(open(sys.argv[1]))
app = m.get("id") or m["app-id"]
session = ["--filter", f"--own={app}.*", f"--own=org.mpris.MediaPlayer2.{app}.*"]
system = ["--filter"]
info = {"session": {}, "system": {}}
for a in m.get("finish-args", []):
    k, _, v = a.partition("=")
    if k in ("--socket", "--share") and v in ("session-bus", "system-bus"):
        sys.exit(f"{a}: the whole bus, nothing to filter")
    rule = {"--talk-name": (session, "session", "talk"), "--own-name": (session, "session", "own"),
            "--system-talk-name": (system, "system", "talk"),
            "--system-own-name": (system, "system", "own")}.get(k)
    if rule:
        rule[0].append(f"--{rule[2]}={v}")
        info[rule[1]][v] = rule[2]
session += ["--call=org.freedesktop.portal.*=*",
            "--broadcast=org.freedesktop.portal.*=@/org/freedesktop/portal/*"]
out = sys.argv[2]
open(os.path.join(out, "session-rules"), "w").write("\n".join(session) + "\n")
open(os.path.join(out, "system-rules"), "w").write("\n".join(system) + "\n")
with open(os.path.join(out, "flatpak-info"), "w") as f:
    f.write(f"[Application]\nname={app}\nruntime=runtime/{m['runtime']}/x86_64/"
            f"{m['runtime-version']}\n\n[Context]\n")
    shared = [a.split("=", 1)[1] for a in m["finish-args"] if a.startswith("--share=")]
    sockets = [a.split("=", 1)[1] for a in m["finish-args"] if a.startswith("--socket=")]
    f.write(f"shared={';'.join(shared)};\nsockets={';'.join(sockets)};\n")
    for bus, title in (("session", "Session Bus Policy"), ("system", "System Bus Policy")):
        f.write(f"\n[{title}]\n" + "".join(f"{n}={p}\n" for n, p in info[bus].items()))
PY
mapfile -t session_rules <"$E2E_DIR/session-rules"
mapfile -t system_rules <"$E2E_DIR/system-rules"
echo "session bus rules: ${session_rules[*]}"
echo "system bus rules: ${system_rules[*]}"
box_run=$E2E_DIR/box-run
mkdir -p "$box_run"
chown "$uid:nogroup" "$box_run"
chmod 700 "$box_run"
ubg proxy xdg-dbus-proxy "unix:path=$home/run/bus" "$box_run/session-bus" "${session_rules[@]}" \
  "$bus" "$box_run/system-bus" "${system_rules[@]}"
e2e_wait_up proxy 10 "xdg-dbus-proxy" test -S "$box_run/system-bus"
e2e_wait_up proxy 10 "xdg-dbus-proxy" test -S "$box_run/session-bus"

# ---- the sandbox ------------------------------------------------------------

# box CMD...: CMD as the user in a sandbox like `flatpak run`'s: the host's
# /usr as the runtime (but none of its applications, as no browser is
# in a runtime), the build tree read-only as /app, of the home only the
# app's directory, the proxies' sockets as the buses.
rt=/run/user/$uid
box_env=(HOME="$home" USER="$user" LOGNAME="$user" FLATPAK_ID="$app_id"
  XDG_CONFIG_HOME="$app_dir/config" XDG_DATA_HOME="$app_dir/data"
  XDG_CACHE_HOME="$app_dir/cache" XDG_RUNTIME_DIR="$rt" XDG_DATA_DIRS=/usr/share
  DBUS_SESSION_BUS_ADDRESS="unix:path=$rt/bus"
  DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
  "DISPLAY=:$(gui_display)" PATH="$e2e_build/gui:/usr/bin:/bin" NO_AT_BRIDGE=1 LANG=C.UTF-8
  GSETTINGS_SCHEMA_DIR="$e2e_build/gui" FZ_GUI_LOCALEDIR="$e2e_build/po"
  ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}"
  LSAN_OPTIONS="${LSAN_OPTIONS:-}" G_DEBUG=fatal-criticals)
box_args=(--die-with-parent --unshare-pid --unshare-ipc --unshare-uts
  --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin
  --symlink usr/lib /lib --symlink usr/lib64 /lib64 --ro-bind /etc /etc
  --proc /proc --dev /dev --tmpfs /tmp --tmpfs /usr/share/applications
  --ro-bind "$top" "$top" --dir "$home" --bind "$app_dir" "$app_dir"
  --dir "$rt" --ro-bind "$box_run/session-bus" "$rt/bus"
  --dir /run/dbus --ro-bind "$box_run/system-bus" /run/dbus/system_bus_socket)
[ -d /tmp/.X11-unix ] && box_args+=(--ro-bind /tmp/.X11-unix /tmp/.X11-unix)
box () {
  ip netns exec "$ns_cl" setpriv --reuid="$uid" --regid=65534 --clear-groups \
    env -i bwrap "${box_args[@]}" --ro-bind "$E2E_DIR/flatpak-info" /.flatpak-info \
    -- env -i "${box_env[@]}" "$@"
}
boxbg () {
  local name=$1
  shift
  ip netns exec "$ns_cl" setpriv --reuid="$uid" --regid=65534 --clear-groups \
    env -i bwrap "${box_args[@]}" --ro-bind "$E2E_DIR/flatpak-info" /.flatpak-info \
    -- env -i "${box_env[@]}" "$@" >"$E2E_DIR/$name.log" 2>&1 </dev/null &
  e2e_pid[$name]=$!
}
chmod 644 "$E2E_DIR/flatpak-info"

# What the sandbox sees of each bus: the allowed names, not the rest.
names () {
  box gdbus call --"$1" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.ListNames
}
seen=$(names session) || fail "ListNames on the filtered session bus"
for n in org.kde.StatusNotifierWatcher org.freedesktop.portal.Desktop; do
  grep -q "'$n'" <<<"$seen" || fail "the sandbox does not see $n: $seen"
done
for n in org.freedesktop.Notifications org.kde.StatusNotifierHost; do
  ! grep -q "'$n" <<<"$seen" || fail "the sandbox sees $n: $seen"
done
seen=$(names system) || fail "ListNames on the filtered system bus"
grep -q "'dev.libfz.Tunnel'" <<<"$seen" || fail "the sandbox does not see the service: $seen"
! grep -q "'org.freedesktop.PolicyKit1'" <<<"$seen" || fail "the sandbox sees polkitd: $seen"
box gdbus call --session --dest org.freedesktop.Notifications \
  --object-path /org/freedesktop/Notifications \
  --method org.freedesktop.Notifications.GetCapabilities >/dev/null 2>&1 \
  && fail "the sandbox reaches the host's notification server directly"
echo "filtered buses: the watcher, the portals and the service; not the notification server or polkitd"

# Settings as the sandbox keeps them: GSettings' keyfile in the app's
# directory (no dconf in a sandbox).
box gsettings set $app_id auth-url "http://$E2E_PORTAL_IP:8080" || fail "gsettings in the sandbox"
box gsettings set $app_id api-url "$E2E_URL"
box gsettings set $app_id account-slug e2e
grep -q "account-slug='e2e'" "$app_dir/config/glib-2.0/settings/keyfile" \
  || fail "the settings are not in the app's keyfile"

# ---- the tray -------------------------------------------------------------------

click () {
  u "$shell" click "$1" >/dev/null || fail "click '$1'"
}
portal_saw () {
  grep -qF -- "$1" "$E2E_DIR/portal-fake.log"
}

boxbg gui fz-gui
e2e_wait_up gui 15 "the tray's item" grep -q '^registered ' "$E2E_DIR/shell.log"
wait_top "signed out" "Sign In" "--" "About"
echo "tray: registered with the host's watcher through the filtered bus, menu read"
# At start, the Background portal: may run without a window, no autostart.
e2e_wait 10 "RequestBackground at start" portal_saw "background: autostart=false commandline=fz-gui"

# ---- the sign-in ---------------------------------------------------------------

click "Sign In"
opened () { grep -q '^openuri: ' "$E2E_DIR/portal-fake.log"; }
e2e_wait 10 "the OpenURI portal asked for the sign-in page" opened
url=$(sed -n 's/^openuri: //p' "$E2E_DIR/portal-fake.log" | head -n 1)
[[ $url =~ ^http://$E2E_PORTAL_IP:8080/e2e\?as=gui-client\&nonce=[0-9a-f]{64}\&state=[0-9a-f]{64}$ ]] \
  || fail "the sign-in URL: $url"
wait_top "waiting for the browser" "Waiting for browser… (off)" "Cancel sign-in" "--"
echo "sign-in page: opened through the OpenURI portal"

# The browser (on the host): the form, then the deep link.
browser_sign_in "$url"

# The desktop runs the exported deep-link entry: `flatpak run ... fz-gui
# LINK`, a second sandboxed fz-gui that hands it to the first.
box timeout 20 fz-gui "$link" || fail "a second sandboxed fz-gui with the link: $?"
wait_top "signed in" "Signed in as Alice (off)" "Sign out" "--"
state_is connected || fail "the service is $(prop State)"
echo "Connect: reached fz-tunnel through the filtered system bus (connected)"
e2e_wait 10 "the Connected notification through the portal" portal_saw "notify: Connected | "
grep -qF "notify: " "$E2E_DIR/shell.log" && fail "a notification bypassed the portal"
echo "notification: through the Notification portal"

# The token: libsecret's file backend, keyed by the Secret portal, in the
# app's own data directory, encrypted.
portal_saw "secret: retrieved" || fail "libsecret did not ask the Secret portal"
keyring=$app_dir/data/keyrings/default.keyring
[ -s "$keyring" ] || fail "no keyring file at $keyring"
if grep -rlF -e "$fragment" "$E2E_DIR" 2>/dev/null; then
  fail "the token is written in the files above"
fi
echo "token: in the portal-keyed file keyring, encrypted, nowhere else"

# ---- start on login ---------------------------------------------------------------

box gsettings set $app_id start-on-login true
e2e_wait 10 "RequestBackground with autostart" portal_saw "background: autostart=true commandline=fz-gui"
[ ! -e "$home/.config/autostart/$app_id.desktop" ] && [ ! -e "$app_dir/config/autostart" ] \
  || fail "an autostart file was written"
echo "start on login: asked of the Background portal, no file written"

# ---- quit -------------------------------------------------------------------------

click "Disconnect and quit"
e2e_wait 10 "the service disconnected" state_is disconnected
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"
echo "quit: disconnected"

# A new start reads the token back through the portal and connects.
boxbg gui fz-gui
wait_top "signed in again" "Signed in as Alice (off)" "Sign out" "--"
e2e_wait 10 "connected at start" state_is connected
click "Disconnect and quit"
e2e_wait 10 "the service disconnected" state_is disconnected
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"
echo "restart: the token read back from the file keyring, connected at once"
