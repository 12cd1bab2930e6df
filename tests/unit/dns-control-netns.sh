#!/usr/bin/env bash
# fz-dns-control's etc-resolv-conf mode where /etc/resolv.conf is a bind
# mount, as `ip netns exec` makes it from /etc/netns/NS/resolv.conf: set
# and revert must rewrite it in place (rename over a mount point fails
# with EBUSY). The helper also sees /etc as an overlay, so that the
# backup it writes beside /etc/resolv.conf stays out of the host's /etc.
#   dns-control-netns.sh DNS_CONTROL_HELPER
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
helper=$1
fz_require_root
fz_require_cmd ip mount cmp stat

tmp=$(mktemp -d)
ns=""
cleanup () {
  [ -n "$ns" ] && rm -rf "/etc/netns/$ns"
  fz_cleanup_netns
  rm -rf "$tmp"
}
trap cleanup EXIT
fz_netns_add ns dns
mkdir -p "/etc/netns/$ns" "$tmp/upper" "$tmp/work"
live=/etc/netns/$ns/resolv.conf
printf '# from the host\nnameserver 192.0.2.53\noptions edns0 trust-ad\n' > "$live"
cp -p "$live" "$tmp/original"
touch "$tmp/bind"
inode=$(stat -c %i "$live")
host_backup_before=$(stat -c %i /etc/resolv.conf.before-libfz 2>/dev/null || echo none)

# in_ns CMD...: runs CMD in the namespace with ip netns exec's bind mount
# of $live on /etc/resolv.conf, over an overlay of /etc.
in_ns () {
  ip netns exec "$ns" sh -ec '
    t=$1; shift
    mount --bind /etc/resolv.conf "$t/bind"
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$t/upper,workdir=$t/work" /etc
    mount --bind "$t/bind" /etc/resolv.conf
    exec "$@"' sh "$tmp" "$@"
}

fail () { echo "FAIL: $*" >&2; exit 1; }
# The backup as the namespace sees it (the overlay's upper directory may
# also hold whiteouts).
backup_is () { in_ns cat /etc/resolv.conf.before-libfz | cmp "$1" -; }
no_backup () { in_ns test ! -e /etc/resolv.conf.before-libfz; }

# The setup is what it claims: a rename over the file fails.
if in_ns sh -c 'echo x > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf' \
    2>"$tmp/mv.err"; then
  fail "rename over the bind-mounted /etc/resolv.conf worked; the test proves nothing"
fi
grep -q "busy" "$tmp/mv.err" || fail "rename failed otherwise: $(cat "$tmp/mv.err")"
rm -f "$tmp/upper/resolv.conf.new"

expected () {
  printf '# BEGIN libfz DNS configuration\n'
  printf '# Written by the libfz tunnel service; the original is /etc/resolv.conf.before-libfz.\n'
  printf '# To keep your own edits, delete the first line.\n'
  printf 'nameserver %s\n' "$@"
}

in_ns "$helper" set /etc/resolv.conf corp.example 100.100.111.1 fd00:2021:1111:8000:100:100:111:1
{ expected 100.100.111.1 fd00:2021:1111:8000:100:100:111:1; echo "search corp.example"; } \
  > "$tmp/want"
cmp "$tmp/want" "$live" || fail "resolv.conf after set differs"
in_ns cat /etc/resolv.conf | cmp "$tmp/want" - || fail "the namespace sees another file"
[ "$(stat -c %i "$live")" = "$inode" ] || fail "resolv.conf was replaced, not rewritten"
backup_is "$tmp/original" || fail "backup differs"

# A second set keeps the original as the backup.
in_ns "$helper" set /etc/resolv.conf - 100.100.111.2
expected 100.100.111.2 > "$tmp/want"
cmp "$tmp/want" "$live" || fail "resolv.conf after the second set differs"
backup_is "$tmp/original" || fail "backup was replaced"

in_ns "$helper" revert /etc/resolv.conf
cmp "$tmp/original" "$live" || fail "revert did not restore the original byte for byte"
[ "$(stat -c %i "$live")" = "$inode" ] || fail "revert replaced the file"
no_backup || fail "backup left after revert"

# A crashed run (set, no revert), then the next start recovers.
in_ns "$helper" set /etc/resolv.conf corp.example 100.100.111.1
head -n 1 "$live" | grep -qx '# BEGIN libfz DNS configuration' || fail "set did not write"
in_ns "$helper" recover /etc/resolv.conf
cmp "$tmp/original" "$live" || fail "recover did not restore the original"
no_backup || fail "backup left after recover"

host_backup_after=$(stat -c %i /etc/resolv.conf.before-libfz 2>/dev/null || echo none)
[ "$host_backup_before" = "$host_backup_after" ] || fail "the host's /etc was written"
echo "ok: set, set again, revert and recover in place on a bind-mounted resolv.conf"
