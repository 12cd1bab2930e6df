#!/usr/bin/env bash
# The tray as a person uses it, against the real parts: fz-portal,
# fz-gateway and fz-tunnel on a private system bus with a real polkitd
# (e2e-lib's world), and a desktop session of a user made for the test
# in the client's namespace: Xvfb, a session bus, gnome-keyring as the
# Secret Service, fake-shell as the shell's tray host and notification
# server, a stand-in browser, the deep-link .desktop file.
#
# The menu is read as a shell reads it (dbusmenu GetLayout) in each
# state: loading, signed out, waiting for the browser, connecting,
# signed in with resources, favourites, the Internet resource on and
# off. The whole sign-in: the sign-in URL, fz-portal's form completed
# over HTTP as a browser would, the deep link handed to a second fz-gui
# through the .desktop file; the token then in the keyring and nowhere
# else. Clicks: copy (read back from the X clipboard), favourites, the
# Internet toggle (the service follows), sign out (the token goes);
# notifications; polkit saying no and a missing service (their dialogs
# photographed); "Disconnect and quit", and a new start that connects at
# once, in German; and fz-gui refusing to run as root.
#
# Usage: tray.sh BUILD_ROOT
. "$(dirname "$0")/../e2e/e2e-lib.sh" "$@"
gui_src=$e2e_src/../gui
fz_gui=$e2e_build/gui/fz-gui
shell=$e2e_build/tests/gui/fake-shell
[ -x "$fz_gui" ] || fz_skip "built without fz-gui (-Dgui; tools/setup installs its packages)"
fz_require_cmd Xvfb dbus-daemon gnome-keyring-daemon secret-tool xclip xdotool gsettings \
  gio import identify pkcheck curl
user=fz-e2e-gui uid=64124
password=correct-horse-$$
artifacts=${FZ_GUI_ARTIFACTS:-$e2e_build/meson-logs/gui-artifacts}

E2E_ALICE_PASSWORD_HASH=$(printf '%s' "$password" | "$fz_portal" hash-password \
  | sed -n 's/^password_hash = //p')
E2E_PORTAL_EXTRA="[resource Internet]
type = internet
sites = A
[resource Wiki]
type = dns
address = wiki.corp.test
description = http://wiki.corp.test/start
sites = A
[policy alice-more]
users = alice
resources = Internet; Wiki"
e2e_setup
e2e_start_gateway 1
e2e_polkit_world "$user" "$uid"
e2e_start_service
mkdir -p "$artifacts"

# ---- the user's desktop session ----------------------------------------

home=$E2E_DIR/home
mkdir -p "$home/.config" "$home/.local/share/applications" "$home/run"
chmod 700 "$home/run"
cat >"$home/.local/share/applications/fake-browser.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Fake browser
Exec=$gui_src/fake-browser.sh %u
MimeType=x-scheme-handler/http;x-scheme-handler/https;
DESKTOP
# The deep-link handler as installed, finding fz-gui on PATH.
cp "$e2e_src/../../data/dev.libfz.Client.deep-link.desktop" "$home/.local/share/applications/"
cat >"$home/.config/mimeapps.list" <<'MIME'
[Default Applications]
x-scheme-handler/http=fake-browser.desktop
x-scheme-handler/https=fake-browser.desktop
x-scheme-handler/firezone-fd0020211111=dev.libfz.Client.deep-link.desktop
MIME
# The icons as installed (hicolor), found through XDG_DATA_HOME.
mkdir -p "$home/.local/share/icons/hicolor/scalable/apps"
cp "$e2e_src/../../data/icons/"*.svg "$home/.local/share/icons/hicolor/scalable/apps/"
chown -R "$uid:nogroup" "$home"

session_env=(HOME="$home" USER="$user" LOGNAME="$user" XDG_CONFIG_HOME="$home/.config"
  XDG_DATA_HOME="$home/.local/share" XDG_DATA_DIRS="$home/.local/share:/usr/share"
  XDG_RUNTIME_DIR="$home/run" PATH="$e2e_build/gui:/usr/bin:/bin"
  DBUS_SESSION_BUS_ADDRESS="unix:path=$home/run/bus" DBUS_SYSTEM_BUS_ADDRESS="$bus"
  GSETTINGS_SCHEMA_DIR="$e2e_build/gui" GSETTINGS_BACKEND=keyfile NO_AT_BRIDGE=1
  LANG=C.UTF-8
  FZ_GUI_LOCALEDIR="$e2e_build/po"
  ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}"
  LSAN_OPTIONS="${LSAN_OPTIONS:-}" G_DEBUG=fatal-criticals)
. "$(dirname "$0")/session-lib.sh"
gui_session_start
printf '%s' "keyring-$$" >"$E2E_DIR/keyring-pass"
ubg_stdin=$E2E_DIR/keyring-pass ubg keyring gnome-keyring-daemon --foreground --unlock \
  --components=secrets
secrets_up () {
  u gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets | grep -q true
}
e2e_wait_up keyring 10 "gnome-keyring on the session bus" secrets_up
ubg shell "$shell" watch
e2e_wait_up shell 10 "fake-shell" grep -q '^watcher: ready' "$E2E_DIR/shell.log"

u gsettings set dev.libfz.Client auth-url "http://$E2E_PORTAL_IP:8080"
u gsettings set dev.libfz.Client api-url "$E2E_URL"
u gsettings set dev.libfz.Client account-slug e2e

# ---- reading and clicking the menu --------------------------------------

# has LINE: the menu has this line (indentation included).
has () {
  local m
  m=$(menu) || return 1
  grep -qxF -- "$1" <<<"$m"
}
click () {
  u "$shell" click "$1" >/dev/null || fail "click '$1'"
}
icon_is () {
  u "$shell" item | grep -q "\"IconName\" : \"$1\""
}
notified () {
  grep -qF "notify: $1" "$E2E_DIR/shell.log"
}
# window NAME: a window whose title is NAME is mapped; prints its id.
window () {
  u xdotool search --onlyvisible --name "^$1\$" | head -n 1 | grep .
}
photo () {
  local id
  id=$(window "$1") || fail "no window '$1'"
  u import -window "$id" "$home/$2.png" || fail "screenshot of '$1'"
  cp "$home/$2.png" "$artifacts/$2.png"
  local size colours
  size=$(identify -format '%w %h' "$artifacts/$2.png")
  colours=$(identify -format '%k' "$artifacts/$2.png")
  [ "${size% *}" -ge 200 ] && [ "${size#* }" -ge 80 ] && [ "$colours" -gt 4 ] \
    || fail "screenshot of '$1': ${size// /x}, $colours colours"
  echo "screenshot: $artifacts/$2.png (${size// /x}, $colours colours)"
}

# ---- loading, then signed out -------------------------------------------

# The service stopped for a moment: the tray shows that it waits for it.
e2e_exit_hooks+=("kill -CONT ${e2e_pid[svc]} ${e2e_pid[portal]} 2>/dev/null")
kill -STOP "${e2e_pid[svc]}"
ubg gui "$fz_gui"
e2e_wait_up gui 10 "the tray's item" grep -q '^registered ' "$E2E_DIR/shell.log"
wait_top "loading" "Loading… (off)" "--" "About"
icon_is dev.libfz.Client-busy || fail "the loading icon"
kill -CONT "${e2e_pid[svc]}"
wait_top "signed out" "Sign In" "--" "About"
icon_is dev.libfz.Client-signed-out || fail "the signed-out icon"
has "Quit" || fail "no Quit when signed out"

# ---- the sign-in ----------------------------------------------------------

# sign_in_round LABEL N: the whole sign-in once more: click LABEL (Sign
# In, in the menu's language), the browser's Nth page, the form, and the
# deep link through the desktop.
sign_in_round () {
  click "$1"
  e2e_wait 10 "the browser asked for sign-in page $2" browser_opened "$2"
  browser_sign_in "$(sed -n "${2}p" "$home/browser.log")"
  u gio open "$link" || fail "gio open of the deep link"
}

browser_opened () {
  [ "$(wc -l <"$home/browser.log" 2>/dev/null || echo 0)" -ge "$1" ]
}
click "Sign In"
e2e_wait 10 "the browser asked to open the sign-in page" browser_opened 1
wait_top "waiting for the browser" "Waiting for browser… (off)" "Cancel sign-in" "--"
icon_is dev.libfz.Client-busy || fail "the waiting icon"
url_re="^http://$E2E_PORTAL_IP:8080/e2e\?as=gui-client&nonce=[0-9a-f]{64}&state=[0-9a-f]{64}\$"
first=$(sed -n 1p "$home/browser.log")
grep -Eq "$url_re" <<<"$first" || fail "the sign-in URL: $first"
click "Cancel sign-in"
wait_top "signed out after cancelling" "Sign In" "--"
click "Sign In"
e2e_wait 10 "the browser asked again" browser_opened 2
url=$(sed -n 2p "$home/browser.log")
grep -Eq "$url_re" <<<"$url" || fail "the second sign-in URL: $url"
nonce=$(sed -E 's/.*nonce=([0-9a-f]+).*/\1/' <<<"$url")
state=$(sed -E 's/.*state=([0-9a-f]+).*/\1/' <<<"$url")
[ "$nonce" != "$state" ] && ! grep -q "$nonce" <<<"$first" && ! grep -q "$state" <<<"$first" \
  || fail "nonce and state are not fresh random values"
echo "sign-in URL: fresh 32-byte nonce and state each time"

browser_sign_in "$url"

# A link with another state is refused, and the tray keeps waiting.
forged=$(sed -E "s/state=[0-9a-f]{64}/state=$(printf 'ab%.0s' $(seq 32))/" <<<"$link")
u timeout 20 "$fz_gui" "$forged" || fail "a second fz-gui with a link: $?"
e2e_wait 10 "a notification about the forged link" notified "Sign-in failed | "
top_is "Waiting for browser… (off)" "Cancel sign-in" || fail "a forged link changed the state"
echo "a link with another state: refused, still waiting"

# The real link, as the desktop hands it over: the portal held for a
# moment shows the connecting state.
kill -STOP "${e2e_pid[portal]}"
u gio open "$link" || fail "gio open of the deep link"
wait_top "connecting" "Connecting to portal… (off)" "Cancel sign-in" "--"
kill -CONT "${e2e_pid[portal]}"
wait_top "signed in" "Signed in as Alice (off)" "Sign out" "--"
icon_is dev.libfz.Client-signed-in || fail "the signed-in icon"
e2e_wait 10 "the Connected notification" notified "Connected | "
state_is connected || fail "the service is $(prop State)"

# The token: in the keyring, and nowhere on disk or in any log.
stored=$(u secret-tool lookup kind portal-token) || fail "no token in the keyring"
[ "$stored" = "$token" ] || fail "the keyring holds another token"
if grep -rlF -e "$fragment" "$E2E_DIR" /tmp/fz-gui* 2>/dev/null; then
  fail "the token is written in the files above"
fi
echo "token: in gnome-keyring, in no file or log"

# ---- signed in: the resources ---------------------------------------------

m=$(menu)
for line in "Resources (off)" "Internet Resource — disabled" "  Enable this resource" "  Disabled (off)" \
  "App" "  app.corp.test" "  Add to favorites" "LabB" "  172.16.2.0/24" "Web" \
  "  172.16.1.10/32" "Wiki" "  http://wiki.corp.test/start" "  Site (off)" "  A" "  B" \
  "Disconnect and quit"; do
  grep -qxF -- "$line" <<<"$m" || { echo "$m" >&2; fail "no '$line' in the signed-in menu"; }
done
echo "$m" >"$artifacts/menu-signed-in.txt"
names=$(grep -E '^[^ -]' <<<"$m" | sed -n '/^Resources (off)$/,/^About$/p')
[ "$(sed -n '2,7p' <<<"$names" | tr '\n' ,)" = "Internet Resource — disabled,App,LabB,Svc,Web,Wiki," ] \
  || fail "the resources' order: $names"
echo "menu: signed in with six resources, the Internet resource first"

clipboard_is () {
  [ "$(u timeout 5 xclip -o -selection clipboard)" = "$1" ]
}
click "Web > 172.16.1.10/32"
e2e_wait 5 "the address on the clipboard" clipboard_is 172.16.1.10/32
click "Wiki > http://wiki.corp.test/start"
e2e_wait 5 "the Wiki opened in the browser" browser_opened 3
[ "$(sed -n 3p "$home/browser.log")" = "http://wiki.corp.test/start" ] \
  || fail "the browser got $(sed -n 3p "$home/browser.log")"
echo "copy: on the clipboard; a URL description: opened in the browser"
click "Admin Portal…"
e2e_wait 5 "the Admin Portal opened in the browser" browser_opened 4
[ "$(sed -n 4p "$home/browser.log")" = "http://$E2E_PORTAL_IP:8080/e2e" ] \
  || fail "Admin Portal opened $(sed -n 4p "$home/browser.log")"
click "Help > Documentation…"
e2e_wait 5 "the documentation opened in the browser" browser_opened 5
grep -q '^https://' <(sed -n 5p "$home/browser.log") || fail "Documentation: $(sed -n 5p "$home/browser.log")"
echo "Admin Portal and Help: opened in the browser"

click "App > Add to favorites"
e2e_wait 5 "the favourites header" has "Favorite Resources (off)"
m=$(menu)
grep -qxF "Other Resources" <<<"$m" && grep -qxF "  Remove from favorites" <<<"$m" \
  && grep -qxF "  Web" <<<"$m" || { echo "$m" >&2; fail "the menu with a favourite"; }
u gsettings get dev.libfz.Client favorite-resources | grep -q "'" || fail "favourite not kept"
click "App > Remove from favorites"
e2e_wait 5 "no favourites again" has "Resources (off)"
echo "favourites: added (header, Other Resources), removed"

ire_is () {
  [ "$(prop InternetResourceEnabled)" = "b $1" ]
}
click "Internet Resource — disabled > Enable this resource"
e2e_wait 5 "the service's Internet resource on" ire_is true
e2e_wait 5 "the menu's Internet resource on" has "Internet Resource — enabled"
has "  Disable this resource" || fail "no Disable item"
click "Internet Resource — enabled > Disable this resource"
e2e_wait 5 "the service's Internet resource off" ire_is false
e2e_wait 5 "the menu's Internet resource off" has "Internet Resource — disabled"
echo "the Internet resource: switched on and off through the menu"

[ "$(u curl -sS --max-time 10 http://172.16.1.10/)" = "hello from res" ] \
  || fail "HTTP through the tunnel"
u curl -sS --max-time 3 http://172.16.2.10/ >/dev/null 2>&1 && fail "LabB answered"
e2e_wait 10 "the unreachable notification" \
  notified "Failed to connect to LabB | All Gateways in B are offline."
echo "notification: LabB's site has no gateway"

# polkit says no: the switch is refused with a dialog that says why.
# polkit_says ANSWER: pkcheck, as the user, gets ANSWER (yes or no) for
# the action: polkitd has read the rules file again.
polkit_says () {
  local rc=0
  u sh -c 'exec pkcheck --action-id dev.libfz.tunnel.control --process $$' \
    >/dev/null 2>&1 || rc=$?
  if [ "$1" = yes ]; then [ "$rc" = 0 ]; else [ "$rc" = 1 ]; fi
}
e2e_polkit_rule "$user" NO
e2e_wait 10 "polkitd reading the NO rule" polkit_says no
click "Internet Resource — disabled > Enable this resource"
e2e_wait 10 "the not-authorized dialog" window "Not allowed to control the tunnel"
photo "Not allowed to control the tunnel" not-authorized
ire_is false || fail "a refused switch changed the service"
e2e_polkit_rule "$user" YES
e2e_wait 10 "polkitd reading the YES rule" polkit_says yes

# The service stops: the tray says so; it comes back: the tray connects
# again with the stored token, as at start.
e2e_stop svc
e2e_wait 10 "the notification about the service" notified "The tunnel service stopped | "
wait_top "signed out without a service" "Sign In" "--"
e2e_bg svc cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" FIREZONE_DNS_CONTROL=etc-resolv-conf \
  RUST_LOG="${E2E_LOG:-info}" "$fz_tunnel" --state-dir "$E2E_DIR/state-cl"
wait_top "signed in again once the service is back" "Signed in as Alice (off)" "Sign out"
echo "the service stopped and came back: notified, connected again"

# The tray's own windows.
click "Settings"
e2e_wait 10 "the settings window" window "Settings"
photo "Settings" tray-settings
click "About"
e2e_wait 10 "the About dialog" window "About libfz Client"
photo "About libfz Client" tray-about

# ---- quit, start again (in German), sign out --------------------------------

click "Disconnect and quit"
rc=0
wait "${e2e_pid[gui]}" || rc=$?
unset "e2e_pid[gui]"
[ "$rc" = 0 ] || fail "fz-gui exited with $rc"
state_is disconnected || fail "Disconnect and quit left the service $(prop State)"
[ "$(u secret-tool lookup kind portal-token)" = "$token" ] || fail "quitting lost the token"
echo "Disconnect and quit: disconnected, the token kept"

# "Connect on start" off: the tray starts signed out with the token
# kept. A session someone else starts (root, with a token the portal
# refuses) ends with "sign in again": the tray says so but keeps its own
# token; "Sign In" then connects with that token, without the browser.
u gsettings set dev.libfz.Client connect-on-start false
ubg gui "$fz_gui"
wait_top "started with connect on start off" "Sign In" "--"
state_is disconnected || fail "the tray connected with connect on start off"
call Connect 'sa{sv}' "refused-token-$$" 1 api_url s "$E2E_URL" >/dev/null \
  || fail "root's Connect"
e2e_wait 15 "the refused session notified" notified "Disconnected | "
[ "$(u secret-tool lookup kind portal-token)" = "$token" ] \
  || fail "someone else's refused session removed the tray's token"
click "Sign In"
wait_top "signed in with the kept token" "Signed in as Alice (off)" "Sign out"
browser_opened 6 && fail "Sign In opened the browser although a token was kept"
click "Disconnect and quit"
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"
u gsettings set dev.libfz.Client connect-on-start true
echo "connect on start off: signed out at start; someone else's refusal kept our token; Sign In used it"

ubg gui env LANGUAGE=de "$fz_gui"
wait_top "started again: connected at once, in German" \
  "Angemeldet als Alice (off)" "Abmelden" "--" "Ressourcen (off)"
state_is connected || fail "the service is $(prop State)"
has "Trennen und beenden" || fail "the German Quit"
click "Abmelden"
wait_top "signed out (German)" "Anmelden" "--"
e2e_wait 10 "the service disconnected by the sign-out" state_is disconnected
token_gone () {
  ! u secret-tool lookup kind portal-token >/dev/null
}
e2e_wait 10 "the token removed by the sign-out" token_gone
echo "sign out: disconnected, the token removed"
# Cancelled while Connect waits on polkit (held with SIGSTOP): the tray
# is signed out at once, and when Connect returns the tunnel it started
# is taken down again; no token is left.
disconnects_done () {
  [ "$(grep -c "Disconnect: done" "$E2E_DIR/gui.log" || true)" -gt "$1" ]
}
done_before=$(grep -c "Disconnect: done" "$E2E_DIR/gui.log" || true)
kill -STOP "${e2e_pid[polkitd]}"
sign_in_round "Anmelden" 6
wait_top "connecting (German), Connect held by polkit" \
  "Verbindung zum Portal wird hergestellt… (off)" "Anmeldung abbrechen"
click "Anmeldung abbrechen"
wait_top "signed out at once after cancelling" "Anmelden" "--"
kill -CONT "${e2e_pid[polkitd]}"
e2e_wait 30 "the abandoned Connect returning" \
  grep -q "an abandoned Connect returned (connected): disconnecting" "$E2E_DIR/gui.log"
e2e_wait 10 "the abandoned Connect taken back" disconnects_done "$done_before"
state_is disconnected || fail "the service is $(prop State) after the abandoned Connect"
top_is "Anmelden" "--" || fail "the menu after the abandoned Connect: $(menu)"
e2e_wait 10 "no token after cancelling" token_gone
echo "cancelled while Connect waited on polkit: signed out, the tunnel taken down"
click "Beenden"
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"

# ---- no Secret Service ----------------------------------------------------------

# gnome-keyring stopped: the sign-in still connects, and the user is told
# that it cannot be kept; nothing is written anywhere instead.
e2e_stop keyring || true
ubg gui "$fz_gui"
wait_top "started without a Secret Service" "Sign In" "--"
sign_in_round "Sign In" 7
e2e_wait 15 "the notification that the sign-in cannot be kept" \
  notified "Your sign-in cannot be kept | "
wait_top "signed in without a keyring" "Signed in as Alice (off)" "Sign out"
if grep -rlF -e "$fragment" "$E2E_DIR" 2>/dev/null; then
  fail "without a keyring the token went into the files above"
fi
click "Disconnect and quit"
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"
ubg_stdin=$E2E_DIR/keyring-pass ubg keyring gnome-keyring-daemon --foreground --unlock \
  --components=secrets
e2e_wait_up keyring 10 "gnome-keyring back on the session bus" secrets_up
echo "no Secret Service: connected all the same, told the sign-in cannot be kept, no file"

# ---- the portal ends the session -----------------------------------------------

# Tokens now live 4 s: the next sign-in is ended by the portal, and the
# tray says so, forgets the token and offers to sign in again.
sed -i 's/^\[portal\]$/[portal]\nclient_token_lifetime = 4/' "$E2E_DIR/portal.conf"
reloads=$(grep -c "reloaded" "$E2E_DIR/portal.log" || true)
kill -HUP "${e2e_pid[portal]}"
portal_reloaded () {
  [ "$(grep -c "reloaded" "$E2E_DIR/portal.log" || true)" -gt "$reloads" ]
}
e2e_wait 10 "the portal's reload" portal_reloaded
ubg gui "$fz_gui"
wait_top "signed out after a restart" "Sign In" "--"
sign_in_round "Sign In" 8
wait_top "signed in for 4 s" "Signed in as Alice (off)" "Sign out"
e2e_wait 15 "the portal's sign-out notified" notified "Signed out | "
wait_top "signed out by the portal" "Sign In" "--"
e2e_wait 10 "the expired token removed" token_gone
echo "the portal ended the session: notified, the token removed, Sign In offered"
click "Quit"
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"

# ---- no service; root ---------------------------------------------------------

e2e_stop svc
ubg gui "$fz_gui"
e2e_wait 15 "the missing-service dialog" window "The tunnel service is not running"
photo "The tunnel service is not running" no-service
wait_top "signed out without a service" "Sign In" "--"
click "Quit"
wait "${e2e_pid[gui]}" || fail "fz-gui exited with $?"
unset "e2e_pid[gui]"

# No desktop tray: the user is told how to get one; SIGTERM ends fz-gui
# cleanly.
e2e_stop shell || true
ubg gui "$fz_gui"
e2e_wait 20 "the no-tray dialog" window "No tray icon area"
photo "No tray icon area" no-tray
e2e_stop gui || fail "fz-gui exited with $? on SIGTERM"
echo "no tray: said how to get one; SIGTERM: a clean exit"

rc=0
out=$(ip netns exec "$ns_cl" env -i "${session_env[@]}" "$fz_gui" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "must not run as root" <<<"$out" || fail "as root: $rc $out"
echo "as root: refused"
echo "PASS"
