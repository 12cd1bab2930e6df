#!/usr/bin/env bash
# fz-gui's AppStream metainfo as a software centre reads it:
#  - appstreamcli validate --no-net --pedantic: no errors, no warnings
#    (infos and pedantic hints are listed);
#  - installed where meson installs it, next to the desktop file and the
#    icon: appstreamcli validate-tree finds the launchable;
#  - what it says matches the project: the newest release is the
#    project's version, the binary it provides is installed, its
#    categories are the desktop file's, and each screenshot URL names a
#    file in data/screenshots with the size it states.
#
#   appstream-check.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
. "$(dirname "$0")/lib.sh"
fz_require_cmd appstreamcli meson python3
src=$1 build=$2
metainfo=$src/data/dev.libfz.Client.metainfo.xml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail () {
  echo "FAIL: $*" >&2
  exit 1
}

out=$(appstreamcli validate --no-net --pedantic "$metainfo" 2>&1) || fail "validate: $out"
echo "$out"
! grep -Eq '^[EW]:' <<<"$out" || fail "validate: errors or warnings"

# The files gui/meson.build installs, under $tmp/usr/share as a
# distribution lays them out.
meson introspect --installed "$build" >"$tmp/installed.json"
meson introspect --projectinfo "$build" >"$tmp/project.json"
python3 - "$tmp" <<'PY' || fail "the installed tree"
import json, os, shutil, sys
tmp = sys.argv[1]
installed = json.load(open(os.path.join(tmp, "installed.json")))
for source, dest in installed.items():
    if "/share/" not in dest:
        continue
    rel = dest.split("/share/", 1)[1]
    if rel.split("/")[0] in ("metainfo", "applications", "icons"):
        target = os.path.join(tmp, "root", "usr", "share", rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(source, target)
PY
tree=$tmp/root/usr/share
[ -d "$tree/applications" ] || fz_skip "built without GTK 3 (-Dgui, tools/setup): nothing installs the app"
[ -f "$tree/metainfo/dev.libfz.Client.metainfo.xml" ] \
  || fail "gui/meson.build does not install the metainfo into share/metainfo"
out=$(appstreamcli validate-tree --no-net --pedantic "$tmp/root" 2>&1) || fail "validate-tree: $out"
! grep -Eq '^ *[EW]:' <<<"$out" || fail "validate-tree: $out"
echo "installed tree: the launchable and its desktop file agree"

python3 - "$metainfo" "$tmp" "$src/data" <<'PY' || fail "the metainfo's content"
import json, os, re, struct, sys, xml.etree.ElementTree as ET
metainfo, tmp, data = sys.argv[1:]
root = ET.parse(metainfo).getroot()
project = json.load(open(os.path.join(tmp, "project.json")))
installed = json.load(open(os.path.join(tmp, "installed.json")))
share = os.path.join(tmp, "root", "usr", "share")

assert root.get("type") == "desktop-application", root.get("type")
assert root.findtext("id") == "dev.libfz.Client"
license = re.search(r"license: '([^']+)'", open(os.path.join(data, "..", "meson.build")).read())
assert root.findtext("project_license") == license[1], license[1]

launchable = root.find("launchable[@type='desktop-id']").text
desktop = open(os.path.join(share, "applications", launchable)).read()
cats = next(l for l in desktop.splitlines() if l.startswith("Categories="))
assert [c.text for c in root.findall("categories/category")] \
    == [c for c in cats[len("Categories="):].split(";") if c], cats

binaries = [b.text for b in root.findall("provides/binary")]
bindir_names = {os.path.basename(d) for d in installed.values() if "/bin/" in d}
assert binaries and set(binaries) <= bindir_names, (binaries, bindir_names)

releases = root.findall("releases/release")
assert releases[0].get("version") == project["version"], \
    (releases[0].get("version"), project["version"])
dates = [r.get("date") for r in releases]
assert dates == sorted(dates, reverse=True), dates

shots = root.findall("screenshots/screenshot")
assert [s.get("type") for s in shots].count("default") == 1
for s in shots:
    img = s.find("image[@type='source']")
    path = os.path.join(data, "screenshots", os.path.basename(img.text))
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    w, h = struct.unpack(">II", head[16:24])
    assert (w, h) == (int(img.get("width")), int(img.get("height"))), (path, w, h)
    print(f"screenshot {os.path.basename(path)}: {w}x{h}, {s.findtext('caption')}")
PY
echo "the metainfo matches the project"
