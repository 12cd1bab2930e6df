#!/usr/bin/env bash
# fz-gui's desktop integration files as the desktop reads them: the three
# .desktop files pass desktop-file-validate (hints too), say what the
# tray relies on (the deep-link scheme only in the hidden handler, the
# autostart flag), and the settings schema compiles with --strict.
#
#   desktop-check.sh SOURCE_ROOT
set -euo pipefail
. "$(dirname "$0")/lib.sh"
fz_require_cmd desktop-file-validate glib-compile-schemas
data=$1/data
fail () {
  echo "FAIL: $*" >&2
  exit 1
}

for f in dev.libfz.Client.desktop dev.libfz.Client.deep-link.desktop \
  dev.libfz.Client.autostart.desktop; do
  out=$(desktop-file-validate "$data/$f" 2>&1) || fail "$f: $out"
  [ -z "$out" ] || fail "$f: $out"
  grep -qx 'Icon=dev.libfz.Client' "$data/$f" || fail "$f: Icon"
  echo "$f: valid"
done

app=$data/dev.libfz.Client.desktop
link=$data/dev.libfz.Client.deep-link.desktop
auto=$data/dev.libfz.Client.autostart.desktop
grep -qx 'Exec=fz-gui' "$app" || fail "app: Exec"
grep -q '^MimeType=' "$app" && fail "app: the deep-link scheme belongs to the hidden handler"
grep -qx 'Exec=fz-gui %u' "$link" || fail "deep link: Exec"
grep -qx 'NoDisplay=true' "$link" || fail "deep link: NoDisplay"
grep -qx 'MimeType=x-scheme-handler/firezone-fd0020211111;' "$link" || fail "deep link: MimeType"
grep -qx 'X-GNOME-Autostart-enabled=true' "$auto" || fail "autostart: X-GNOME-Autostart-enabled"
grep -Eqx 'Exec=fz-gui( .*)?' "$auto" || fail "autostart: Exec"

out=$(glib-compile-schemas --strict --dry-run "$data" 2>&1) || fail "schema: $out"
[ -z "$out" ] || fail "schema: $out"
echo "the schema compiles (--strict)"
