#!/usr/bin/env bash
# What data/ installs, checked as the system would read it: the systemd
# units (systemd-analyze verify, with ExecStart pointed at the built
# daemons: a warning fails too; each one's `systemd-analyze security`
# exposure printed), the sysusers.d file applied to an empty root and
# every unit's User= found in it, fz-tunnel's D-Bus activation file
# against its unit, and the polkit policy; the D-Bus interface, bus
# policy and polkit policy checked with xmllint (no network): the first
# and last against their DTDs, the bus policy well-formed.
#
#   data-check.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
. "$(dirname "$0")/lib.sh"
src=$1 build=$2
fz_require_cmd systemd-analyze systemd-sysusers python3 xmllint

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail () {
  echo "FAIL: $*" >&2
  exit 1
}

# dtd FILE DTD: FILE is valid against the DTD its DOCTYPE names, read
# from the local copy (dbus's and polkit's packages ship them).
dtd () {
  [ -r "$2" ] || fail "no $2 (tools/setup installs it)"
  xmllint --noout --nonet --dtdvalid "$2" "$1" || fail "$1 is not valid against $2"
  echo "$(basename "$1"): valid against $(basename "$2")"
}
dtd "$src/data/dbus/dev.libfz.Tunnel1.xml" /usr/share/xml/dbus-1/introspect.dtd
# dbus's busconfig.dtd lacks the attributes every policy uses
# (send_destination...): well-formed only; the e2e and gui suites load
# the file into a real dbus-daemon, which refuses a bad policy.
xmllint --noout --nonet "$src/data/dbus/dev.libfz.Tunnel.conf" \
  || fail "dev.libfz.Tunnel.conf is not well-formed"
dtd "$src/data/polkit/dev.libfz.tunnel.policy" /usr/share/polkit-1/policyconfig-1.dtd

# verify UNIT_FILE INSTALLED_PATH BUILT_BINARY
verify () {
  local unit=$1 path=$2 bin=$3 name out
  name=$(basename "$unit")
  grep -q "^ExecStart=$path\\b" "$unit" || fail "$name: ExecStart is not $path"
  sed "s|^ExecStart=$path|ExecStart=$bin|" "$unit" >"$tmp/$name"
  out=$(systemd-analyze verify "$tmp/$name" 2>&1) || fail "$name: $out"
  [ -z "$out" ] || fail "$name: $out"
  echo "$name: verified; $(systemd-analyze security --offline=yes "$tmp/$name" 2>&1 \
    | grep -o 'Overall exposure level.*')"
}

bindir=$(meson introspect --buildoptions "$build" | python3 -c '
import json, os, sys
o = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(os.path.join(o["prefix"], o["bindir"]))')
verify "$build/tunnel-service/fz-tunnel.service" "$bindir/fz-tunnel" \
  "$build/tunnel-service/fz-tunnel"
verify "$src/data/fz-gateway.service" /usr/bin/fz-gateway "$build/gateway/fz-gateway"
[ -x "$build/portal/fz-portal" ] \
  && verify "$src/data/fz-portal.service" /usr/bin/fz-portal "$build/portal/fz-portal"

# sysusers.d: applied to an empty root, it makes system accounts
# without a login; a unit's fixed User= must be one of them (DynamicUser=
# and root need none).
sysusers=$src/data/sysusers.d/libfz.conf
mkdir -p "$tmp/root/etc"
out=$(systemd-sysusers --root="$tmp/root" "$sysusers" 2>&1) || fail "sysusers: $out"
for unit in "$src/data/fz-gateway.service" "$src/data/fz-portal.service" \
  "$src/data/fz-tunnel.service"; do
  user=$(sed -n 's/^User=//p' "$unit")
  [ -n "$user" ] || continue
  IFS=: read -r _ _ uid gid _ home shell < <(grep "^$user:" "$tmp/root/etc/passwd") \
    || fail "$(basename "$unit"): User=$user is not in sysusers.d/libfz.conf"
  ((uid > 0 && uid < 1000)) || fail "$user: uid $uid is not a system uid"
  grep -q "^$user:x:$gid:" "$tmp/root/etc/group" || fail "$user: no group $gid"
  [ "$shell" = /usr/sbin/nologin ] || fail "$user: shell $shell"
  grep -qx "Group=$user" "$unit" || fail "$(basename "$unit"): Group= is not $user"
  grep -qx "StateDirectory=${home#/var/lib/}" "$unit" \
    || fail "$(basename "$unit"): $user's home $home is not its StateDirectory"
  echo "$(basename "$unit"): User=$user (uid $uid in an empty root) from sysusers.d"
done

# The activation file names the unit that owns the name it activates.
act=$src/data/dbus/dev.libfz.Tunnel.service
unit=$build/tunnel-service/fz-tunnel.service
grep -qx "Name=dev.libfz.Tunnel" "$act" || fail "activation file: Name"
grep -qx "SystemdService=fz-tunnel.service" "$act" || fail "activation file: SystemdService"
grep -qx "BusName=dev.libfz.Tunnel" "$unit" || fail "fz-tunnel.service: BusName"
grep -qx "Type=dbus" "$unit" || fail "fz-tunnel.service: Type"

# The policy: well-formed, the one action the service asks for, with
# the defaults the documentation gives.
python3 - "$src/data/polkit/dev.libfz.tunnel.policy" <<'PY' || fail "the polkit policy"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
actions = root.findall("action")
assert [a.get("id") for a in actions] == ["dev.libfz.tunnel.control"], actions
d = actions[0].find("defaults")
got = {k: d.find(k).text for k in ("allow_any", "allow_inactive", "allow_active")}
assert got == {"allow_any": "auth_admin", "allow_inactive": "auth_admin",
               "allow_active": "yes"}, got
assert actions[0].find("message").text and actions[0].find("description").text
PY
echo "the activation file and the polkit policy are right"
