#!/usr/bin/env bash
# The gui suite's first case: a desktop shell's view of a tray menu.
# tray-probe-app (GTK 3 + Ayatana AppIndicator) runs under Xvfb with a
# private session bus; fake-shell owns org.kde.StatusNotifierWatcher,
# reads the item and its dbusmenu layout, and clicks items. Checks the
# labels, enabled flags, submenu and separator, that clicks reach the
# app's handlers, that the app learns when the watcher goes away
# (connection-changed) and a restarted watcher gets the item again, and that
# "Quit" ends the app (which then leaves the watcher's list).
#
# Usage: tray-probe.sh FAKE_SHELL TRAY_PROBE_APP
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"

[ $# = 2 ] || fz_skip "built without GTK 3 or Ayatana AppIndicator (-Dgui, tools/setup)"
fz_require_cmd xvfb-run xauth dbus-run-session python3

# Outside: give ourselves a display and a session bus of our own.
if [ "${FZ_TRAY_PROBE_INNER:-}" != 1 ]; then
  export FZ_TRAY_PROBE_INNER=1
  exec xvfb-run -a dbus-run-session -- "$0" "$@"
fi

shell="$1"
app="$2"
tmp="$(mktemp -d)"
pids=()
cleanup () {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for FILE PATTERN [COUNT]: up to 10 s for COUNT matching lines.
wait_for () {
  local n="${3:-1}"
  for _ in $(seq 100); do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$n" ] && return 0
    sleep 0.1
  done
  echo "FAIL: no '$2' (x$n) in $(basename "$1"):" >&2
  cat "$1" >&2
  return 1
}

# No accessibility bus: GTK would activate at-spi on our private bus.
export NO_AT_BRIDGE=1
export FAKE_SHELL_TIMEOUT=10

"$shell" watch >"$tmp/watch1.log" 2>&1 &
watcher=$!
pids+=("$watcher")
wait_for "$tmp/watch1.log" '^watcher: ready'

"$app" >"$tmp/app.log" 2>&1 &
app_pid=$!
pids+=("$app_pid")
wait_for "$tmp/watch1.log" '^registered '
wait_for "$tmp/app.log" '^connection: registered$'

"$shell" item >"$tmp/item.json"
"$shell" layout >"$tmp/layout.json"
python3 - "$tmp/item.json" "$tmp/layout.json" <<'PY'
import json, sys
item = json.load(open(sys.argv[1]))
layout = json.load(open(sys.argv[2]))
for k, v in {"Id": "fz-tray-probe", "Category": "ApplicationStatus",
             "Status": "Active", "Title": "libfz tray probe"}.items():
    assert item[k] == v, (k, item[k])
assert item["Menu"] == item["path"] + "/Menu", item

def row(n):
    return (n["type"], n["label"], n["enabled"], n["visible"], n["children-display"])
top = [row(n) for n in layout["children"]]
want = [
    ("standard", "Probe status: idle", False, True, ""),
    ("standard", "Say _Hello", True, True, ""),
    ("standard", "_More", True, True, "submenu"),
    ("separator", "", True, True, ""),
    ("standard", "_Quit", True, True, ""),
]
assert top == want, top
sub = [row(n) for n in layout["children"][2]["children"]]
assert sub == [("standard", "Sub item", True, True, "")], sub
assert layout["children"][1]["text"] == "Say Hello"
print("layout: %d items, submenu with %d, as expected" % (len(top), len(sub)))
PY

"$shell" click "Say Hello"
wait_for "$tmp/app.log" '^activated: hello$'
"$shell" click "Sub item"
wait_for "$tmp/app.log" '^activated: sub$'
if "$shell" click "No such item" 2>"$tmp/err"; then
  echo "FAIL: clicking a missing label succeeded" >&2
  exit 1
fi
grep -q "no menu item labelled 'No such item'" "$tmp/err"

# A shell that restarts: the app registers again with the new watcher.
kill "$watcher"
wait "$watcher"
wait_for "$tmp/app.log" '^connection: lost$'
"$shell" watch >"$tmp/watch2.log" 2>&1 &
watcher=$!
pids+=("$watcher")
wait_for "$tmp/watch2.log" '^registered '
wait_for "$tmp/app.log" '^connection: registered$' 2
"$shell" click "Say Hello"
wait_for "$tmp/app.log" '^activated: hello$' 2

"$shell" click "Quit"
wait_for "$tmp/app.log" '^activated: quit$'
rc=0
wait "$app_pid" || rc=$?
[ "$rc" = 0 ] || { echo "FAIL: tray-probe-app exited with $rc" >&2; cat "$tmp/app.log" >&2; exit 1; }
wait_for "$tmp/watch2.log" '^unregistered '
echo "PASS: menu read, clicks delivered, re-registered after a watcher restart, quit"
