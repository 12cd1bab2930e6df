#!/usr/bin/env bash
# The Flatpak manifest of fz-gui (data/flatpak/dev.libfz.Client.yml), as
# flatpak-builder reads it (--show-manifest), held to these rules:
#  - the app id is the desktop files', the metainfo's, the icon's and the
#    GtkApplication's, and every file meson installs for the desktop
#    (applications/, icons/, metainfo/) carries it, as Flatpak exports
#    only such names;
#  - the command is the program meson installs and the desktop files run;
#  - finish-args are exactly the allowed set: display, the tray watcher,
#    the tunnel service; so no --filesystem, --share=network,
#    --socket=session-bus/system-bus, --talk-name=org.freedesktop.secrets,
#    --device, and no name owned;
#  - every source but the checkout (type dir) is an https URL with a
#    sha256; the checkout is this source tree;
#  - the libfz module builds with -Ddaemons=false -Dportal=false and every
#    test option off, each an option meson_options.txt has.
# Then each rule is broken on purpose in a copy, one at a time, and the
# check must reject every copy.
#
#   flatpak-check.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
. "$(dirname "$0")/lib.sh"
fz_require_cmd flatpak-builder meson python3
src=$1 build=$2
manifest=$src/data/flatpak/dev.libfz.Client.yml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# From $tmp: flatpak-builder leaves its .flatpak-builder state directory
# where it runs.
manifest=$(realpath "$manifest")
(cd "$tmp" && flatpak-builder --show-manifest "$manifest") >"$tmp/manifest.json" 2>"$tmp/err" || {
  cat "$tmp/err" >&2
  echo "FAIL: flatpak-builder cannot read $manifest" >&2
  exit 1
}
meson introspect --installed "$build" >"$tmp/installed.json"
meson introspect --buildoptions "$build" >"$tmp/options.json"
grep -q '/share/applications/' "$tmp/installed.json" \
  || fz_skip "built without GTK 3 (-Dgui, tools/setup): nothing installs the app"

python3 - "$tmp" "$src" "$manifest" <<'PY'
import configparser, copy, json, os, re, sys
import xml.etree.ElementTree as ET

tmp, src, manifest_path = sys.argv[1:]
manifest = json.load(open(os.path.join(tmp, "manifest.json")))
installed = json.load(open(os.path.join(tmp, "installed.json")))
options = {o["name"]: o for o in json.load(open(os.path.join(tmp, "options.json")))}
data = os.path.join(src, "data")

ALLOWED = {
    "--share=ipc",
    "--socket=wayland",
    "--socket=fallback-x11",
    "--talk-name=org.kde.StatusNotifierWatcher",
    "--system-talk-name=dev.libfz.Tunnel",
}
FORBIDDEN = re.compile(r"^--(filesystem|share=network|socket=(session-bus|system-bus)"
                       r"|talk-name=org\.freedesktop\.secrets|device|own-name|system-own-name)")


def desktop_entry(name):
    kf = configparser.ConfigParser(interpolation=None, strict=False)
    kf.optionxform = str
    kf.read(os.path.join(data, name))
    return kf["Desktop Entry"]


def modules(mods):
    for m in mods:
        if isinstance(m, dict):
            yield m
            yield from modules(m.get("modules", []))


def check(m):
    """Returns the broken rules (empty: all hold)."""
    bad = []
    app_id = m.get("id") or m.get("app-id")
    if app_id != "dev.libfz.Client":
        bad.append(f"app id {app_id!r}")
    if not os.path.exists(os.path.join(data, f"{app_id}.desktop")):
        bad.append(f"no data/{app_id}.desktop")
    meta = ET.parse(os.path.join(data, "dev.libfz.Client.metainfo.xml")).getroot()
    if meta.findtext("id") != app_id:
        bad.append(f"metainfo id {meta.findtext('id')!r} is not {app_id!r}")
    if meta.find("launchable").text != f"{app_id}.desktop":
        bad.append("metainfo launchable is not the app's desktop file")
    gui_app = open(os.path.join(src, "gui", "fz-gui-app.c")).read()
    if f'"application-id", "{app_id}"' not in gui_app:
        bad.append("GtkApplication id is not the app id")
    for dest in installed.values():
        rel = dest.split("/share/", 1)[1] if "/share/" in dest else ""
        if rel.split("/")[0] in ("applications", "icons", "metainfo"):
            if not os.path.basename(dest).startswith(app_id):
                bad.append(f"installed {rel} lacks the app id prefix (not exported)")

    cmd = m.get("command")
    bins = {os.path.basename(d) for d in installed.values() if "/bin/" in d}
    if cmd not in bins:
        bad.append(f"command {cmd!r} is not installed ({sorted(bins)})")
    for name in ("dev.libfz.Client.desktop", "dev.libfz.Client.deep-link.desktop"):
        entry = desktop_entry(name)
        if entry["Exec"].split()[0] != cmd:
            bad.append(f"{name} runs {entry['Exec']!r}, not {cmd!r}")
        if entry["Icon"] != app_id:
            bad.append(f"{name} icon {entry['Icon']!r}")
    if not os.path.exists(os.path.join(data, "icons", f"{app_id}.svg")):
        bad.append(f"no icon data/icons/{app_id}.svg")

    if m.get("runtime") != "org.gnome.Platform" or m.get("sdk") != "org.gnome.Sdk":
        bad.append(f"runtime {m.get('runtime')} / sdk {m.get('sdk')}")
    if not re.fullmatch(r"[0-9]+", str(m.get("runtime-version", ""))):
        bad.append(f"runtime-version {m.get('runtime-version')!r}")

    args = m.get("finish-args", [])
    for a in args:
        if FORBIDDEN.match(a):
            bad.append(f"forbidden finish-arg {a}")
    if len(args) != len(set(args)) or set(args) != ALLOWED:
        bad.append(f"finish-args {sorted(args)} are not exactly {sorted(ALLOWED)}")

    libfz = None
    for mod in modules(m.get("modules", [])):
        for s in mod.get("sources", []):
            if not isinstance(s, dict):
                bad.append(f"{mod['name']}: a source given as a file name")
                continue
            if s.get("type") == "dir":
                where = os.path.realpath(os.path.join(os.path.dirname(manifest_path), s["path"]))
                if where != os.path.realpath(src) or mod["name"] != "libfz":
                    bad.append(f"{mod['name']}: dir source {s['path']} is not this checkout")
                libfz = mod
                continue
            if not str(s.get("url", "")).startswith("https://"):
                bad.append(f"{mod['name']}: source {s.get('url') or s} is not an https URL")
            if not re.fullmatch(r"[0-9a-f]{64}", str(s.get("sha256", ""))):
                bad.append(f"{mod['name']}: source {s.get('url')} has no sha256")
    if libfz is None:
        bad.append("no libfz module built from the checkout")
    else:
        opts = {}
        for o in libfz.get("config-opts", []):
            k, _, v = o.partition("=")
            if not k.startswith("-D") or k[2:] not in options:
                bad.append(f"libfz: {o} is no option of meson_options.txt")
            opts[k[2:]] = v
        if libfz.get("buildsystem") != "meson":
            bad.append("libfz: not built with meson")
        for need in ("daemons", "portal"):
            if opts.get(need) != "false":
                bad.append(f"libfz: no -D{need}=false")
        if opts.get("gui") != "enabled":
            bad.append("libfz: no -Dgui=enabled")
        for name, o in options.items():
            if o["section"] == "user" and o["type"] == "boolean" \
                    and (name.endswith("_tests") or name == "bench") and opts.get(name) != "false":
                bad.append(f"libfz: -D{name}=false missing")
    return bad


bad = check(manifest)
if bad:
    print("FAIL: " + "\n  ".join(["the manifest breaks the rules:"] + bad), file=sys.stderr)
    sys.exit(1)
print(f"{manifest_path}: {len(list(modules(manifest['modules'])))} modules, finish-args "
      + " ".join(manifest["finish-args"]))


# Each rule broken in a copy: the check must see it.
def finish_arg(a):
    return lambda m: m["finish-args"].append(a)


def source(f):
    def mutate(m):
        for mod in modules(m["modules"]):
            for s in mod.get("sources", []):
                if s.get("type") != "dir":
                    f(s)
                    return
    return mutate


def libfz_opts(f):
    def mutate(m):
        mod = next(x for x in modules(m["modules"]) if x["name"] == "libfz")
        mod["config-opts"] = f(mod["config-opts"])
    return mutate


def set_key(k, v):
    return lambda m: m.__setitem__(k, v)


mutants = {
    "--filesystem=home": finish_arg("--filesystem=home"),
    "--filesystem=xdg-config/autostart": finish_arg("--filesystem=xdg-config/autostart"),
    "--share=network": finish_arg("--share=network"),
    "--socket=session-bus": finish_arg("--socket=session-bus"),
    "--socket=system-bus": finish_arg("--socket=system-bus"),
    "--talk-name=org.freedesktop.secrets": finish_arg("--talk-name=org.freedesktop.secrets"),
    "--device=all": finish_arg("--device=all"),
    "--own-name": finish_arg("--own-name=org.kde.StatusNotifierItem-2-1"),
    "--socket=x11": finish_arg("--socket=x11"),
    "no tunnel service": lambda m: m["finish-args"].remove("--system-talk-name=dev.libfz.Tunnel"),
    "app id": set_key("id", "dev.libfz.Tray"),
    "command": set_key("command", "fz-tray"),
    "runtime": set_key("runtime", "org.freedesktop.Platform"),
    "http URL": source(lambda s: s.__setitem__("url", s["url"].replace("https:", "http:"))),
    "no sha256": source(lambda s: s.pop("sha256")),
    "short sha256": source(lambda s: s.__setitem__("sha256", s["sha256"][:40])),
    "git source": source(lambda s: (s.clear(), s.update(type="git", url="https://example.org/x.git",
                                                         commit="0" * 40))),
    "daemons on": libfz_opts(lambda o: [x for x in o if x != "-Ddaemons=false"]),
    "portal on": libfz_opts(lambda o: [x for x in o if x != "-Dportal=false"]),
    "a test suite on": libfz_opts(lambda o: [x for x in o if x != "-Dgui_tests=false"]),
    "unknown option": libfz_opts(lambda o: o + ["-Dno_such_option=false"]),
}
for name, mutate in mutants.items():
    m = copy.deepcopy(manifest)
    mutate(m)
    if not check(m):
        print(f"FAIL: the check accepts a manifest with {name}", file=sys.stderr)
        sys.exit(1)
print(f"{len(mutants)} broken copies rejected")
PY
