#!/usr/bin/env bash
# libfz as a user gets it: installed into a scratch DESTDIR, a program that
# includes <fz/fz.h> compiles and links through pkg-config, and runs.
#
#   install-check.sh BUILD_ROOT CC [CFLAGS...]
set -euo pipefail
build=$1 cc=$2
shift 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(dirname "$(find "$tmp/root" -name libfz.pc | head -n 1)")
[ -n "$pc" ] || { echo "libfz.pc was not installed" >&2; exit 1; }
[ -f "$(find "$tmp/root" -path '*/include/fz/fz.h' | head -n 1)" ] || {
  echo "fz/fz.h was not installed" >&2; exit 1; }

cat > "$tmp/user.c" <<'C'
#include <fz/fz.h>
#include <stdio.h>
#include <string.h>

int
main (void)
{
  FzIpAddr a;
  if (strcmp (fz_version (), FZ_VERSION_STRING) != 0 || !fz_ip_addr_parse (&a, "100.64.0.1"))
    return 1;
  printf ("libfz %s from pkg-config\n", fz_version ());
  return 0;
}
C
# The .pc file names the configured prefix; a copy points it into DESTDIR
# (GLib's own .pc stays as the system has it).
mkdir "$tmp/pc"
sed "s|^prefix=|prefix=$tmp/root|" "$pc/libfz.pc" > "$tmp/pc/libfz.pc"
export PKG_CONFIG_PATH="$tmp/pc"
# shellcheck disable=SC2046
"$cc" "$@" -o "$tmp/user" "$tmp/user.c" $(pkg-config --cflags --libs libfz)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir libfz)" "$tmp/user"
