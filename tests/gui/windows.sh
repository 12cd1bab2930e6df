#!/usr/bin/env bash
# fz-gui's windows alone (tests/gui/settings-probe), under Xvfb with a
# private session bus:
#  - the settings window and the About dialog appear, and screenshots of
#    them (kept in ARTIFACTS_DIR) have a sensible size and content;
#  - an invalid API URL typed into the window is shown as wrong and not
#    saved, a valid one is saved;
#  - values set with gsettings appear in the window, and start-on-login
#    writes and removes the autostart file;
#  - "Reset to Defaults" (its mnemonic) resets the keys.
# Settings live in a keyfile under a private XDG_CONFIG_HOME, so that the
# gsettings tool and the probe see the same store (the memory backend
# would give each process its own).
#
# Usage: windows.sh SETTINGS_PROBE SCHEMA_DIR ARTIFACTS_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"

[ $# = 3 ] || fz_skip "built without GTK 3 (-Dgui, tools/setup)"
fz_require_cmd xvfb-run xauth dbus-run-session xdotool import identify gsettings

if [ "${FZ_WINDOWS_INNER:-}" != 1 ]; then
  export FZ_WINDOWS_INNER=1
  exec xvfb-run -a -s '-screen 0 1024x768x24' dbus-run-session -- "$0" "$@"
fi

probe=$1
export GSETTINGS_SCHEMA_DIR=$2
artifacts=$3
tmp=$(mktemp -d)
pid=""
cleanup () {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT
fail () {
  echo "FAIL: $*" >&2
  [ ! -f "$tmp/probe.log" ] || { echo "--- probe output:" >&2; cat "$tmp/probe.log" >&2; }
  exit 1
}

export XDG_CONFIG_HOME=$tmp/config GSETTINGS_BACKEND=keyfile NO_AT_BRIDGE=1
mkdir -p "$artifacts"

# wait_for PATTERN [COUNT]: up to 10 s for COUNT matching probe lines.
wait_for () {
  for _ in $(seq 100); do
    [ "$(grep -c -- "$1" "$tmp/probe.log" 2>/dev/null || true)" -ge "${2:-1}" ] && return 0
    sleep 0.1
  done
  fail "no '$1' (x${2:-1}) from the probe"
}

# start ARGS...: the probe, until it has painted its window.
start () {
  : >"$tmp/probe.log"
  "$probe" "$@" >"$tmp/probe.log" 2>&1 &
  pid=$!
  wait_for '^shown$'
}

stop () {
  kill "$pid"
  wait "$pid" || fail "the probe exited with $?"
  pid=""
}

# dump: the window's widgets, as the probe sees them, into $tmp/dump.
dump () {
  local n
  n=$(grep -c '^dump end$' "$tmp/probe.log" || true)
  kill -USR1 "$pid"
  wait_for '^dump end$' $((n + 1))
  awk -v n="$n" '/^dump end$/ { c++; next } c == n && /^widget /' "$tmp/probe.log" >"$tmp/dump"
}

expect_widget () {
  grep -qxF "widget $1" "$tmp/dump" || { cat "$tmp/dump" >&2; fail "the window does not show '$1'"; }
}

expect_key () {
  local got
  got=$(gsettings get dev.libfz.Client "$1")
  [ "$got" = "$2" ] || fail "$1 is $got, not $2"
}

# shot TITLE NAME: screenshot of the window titled TITLE, checked and kept.
shot () {
  local id png size colours
  id=$(timeout 10 xdotool search --sync --onlyvisible --name "^$1\$" | head -n 1)
  [ -n "$id" ] || fail "no window titled '$1'"
  png=$artifacts/$2.png
  import -window "$id" "$png"
  read -r w h colours < <(identify -format '%w %h %k\n' "$png")
  [ "$w" -ge 300 ] && [ "$h" -ge 200 ] || fail "$2: ${w}x$h is too small"
  [ "$colours" -gt 16 ] || fail "$2: only $colours colours, an empty window?"
  echo "screenshot: $png (${w}x$h, $colours colours)"
  window_id=$id
}

# type_into TEXT: replaces the focused entry's text and presses Enter.
type_into () {
  xdotool windowfocus --sync "$window_id"
  xdotool key --clearmodifiers ctrl+a BackSpace
  xdotool type --delay 15 "$1"
  xdotool key Return
}

# 1. General page; gsettings changes show; start-on-login follows.
start settings 0
shot Settings settings-general
dump
expect_widget "account-slug text= error=0"
expect_widget "start-on-login active=0"
expect_widget "connect-on-start active=1"
gsettings set dev.libfz.Client account-slug 'acme_2'
gsettings set dev.libfz.Client start-on-login true
gsettings set dev.libfz.Client connect-on-start false
wait_for '^changed connect-on-start=false$'
dump
expect_widget "account-slug text=acme_2 error=0"
expect_widget "start-on-login active=1"
expect_widget "connect-on-start active=0"
autostart=$XDG_CONFIG_HOME/autostart/dev.libfz.Client.desktop
grep -qx 'Exec=fz-gui' "$autostart" || fail "start-on-login did not write $autostart"
gsettings set dev.libfz.Client start-on-login false
wait_for '^changed start-on-login=false$'
[ ! -e "$autostart" ] || fail "start-on-login off left $autostart"
# "autostart" a file, not a directory: the window says so, and stops
# saying it once the file can be handled again.
rmdir "$XDG_CONFIG_HOME/autostart"
echo 'not a directory' >"$XDG_CONFIG_HOME/autostart"
gsettings set dev.libfz.Client start-on-login true
wait_for '^changed start-on-login=true$' 2
dump
grep -q '^widget autostart-error visible=1 text=Could not change what starts on login: ' \
  "$tmp/dump" || fail "no message about the autostart file"
shot Settings settings-autostart-error
rm "$XDG_CONFIG_HOME/autostart"
gsettings set dev.libfz.Client start-on-login false
wait_for '^changed start-on-login=false$' 2
dump
expect_widget "autostart-error visible=0 text="
echo "PASS: gsettings changes shown; the autostart file follows start-on-login"
stop

# 2. Advanced page: an invalid API URL is refused, a valid one saved.
start settings 1 api-url
dump
expect_widget "api-url text=wss://api.firezone.dev error=0"
expect_widget "log-filter id=info"
window_id=$(xdotool search --sync --onlyvisible --name '^Settings$' | head -n 1)
type_into 'ftp://portal.example'
for _ in $(seq 50); do
  dump
  grep -qxF 'widget api-url text=ftp://portal.example error=1' "$tmp/dump" && break
  sleep 0.1
done
expect_widget "api-url text=ftp://portal.example error=1"
grep -q '^widget api-url-error visible=1 text=Enter a ws://' "$tmp/dump" \
  || fail "no message under the API URL"
expect_key api-url "'wss://api.firezone.dev'"
grep -q '^changed api-url' "$tmp/probe.log" && fail "an invalid API URL was saved"
shot Settings settings-invalid-api-url
type_into 'wss://portal.example:8443'
wait_for "^changed api-url='wss://portal.example:8443'\$"
expect_key api-url "'wss://portal.example:8443'"
dump
expect_widget "api-url text=wss://portal.example:8443 error=0"
expect_widget "api-url-error visible=0 text="
gsettings set dev.libfz.Client log-filter debug
wait_for '^changed log-filter=.debug.$'
dump
expect_widget "log-filter id=debug"
echo "PASS: invalid API URL refused and flagged, a valid one saved"

# 3. Reset to Defaults (Alt+R) puts the shown keys back.
gsettings set dev.libfz.Client favorite-resources "['r1']"
xdotool windowfocus --sync "$window_id"
xdotool key --clearmodifiers alt+r
wait_for "^changed api-url='wss://api.firezone.dev'\$"
wait_for "^changed log-filter='info'\$"
expect_key account-slug "''"
expect_key connect-on-start true
expect_key favorite-resources "['r1']"
dump
expect_widget "api-url text=wss://api.firezone.dev error=0"
echo "PASS: reset to defaults (favourites kept)"
stop

# 4. Closed with the focus in an entry (its Close button, Alt+C): the
# entry's focus-out comes while the window is disposed, after the
# settings are let go; the window closes and the probe lives on.
start settings 1 api-url
window_id=$(xdotool search --sync --onlyvisible --name '^Settings$' | head -n 1)
type_into 'wss://closing.example'
wait_for "^changed api-url='wss://closing.example'\$"
xdotool key --clearmodifiers ctrl+a BackSpace
xdotool type --delay 15 'wss://typed-then-closed.example'
xdotool key --clearmodifiers alt+c
wait_for '^closed$'
expect_key api-url "'wss://typed-then-closed.example'"
stop
echo "PASS: closed with the focus in an entry; what it held was applied"

# 5. The About dialog.
start about
shot 'About libfz Client' about
stop
echo "PASS: the settings window and the About dialog; screenshots in $artifacts"
