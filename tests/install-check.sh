#!/usr/bin/env bash
# libfz as a user gets it: installed into a scratch DESTDIR, a program that
# includes <fz/fz.h> compiles and links through pkg-config, and runs. The
# library exports exactly the functions (and variables) its installed
# headers declare, and no installed header includes an internal one.
#
#   install-check.sh BUILD_ROOT EXPORTS_PY [CFLAGS...] -- CC...
set -euo pipefail
build=$1 exports=$2
shift 2
cflags=()
while [ "$1" != -- ]; do
  cflags+=("$1")
  shift
done
shift
cc=("$@") # the compiler may be a command line: ccache clang

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

/* What a daemon does first, through the public API only: a node with its
 * key, and a socket whose port is a host candidate's. */
static int
node_and_socket (void)
{
  guint8 priv[FZ_WG_KEY_LEN] = { 1, 2, 3 }, pub[FZ_WG_KEY_LEN];
  fz_wg_clamp_private_key (priv);
  fz_wg_public_key (pub, priv);
  FzBufPool *pool = fz_buf_pool_new (2048, 16);
  FzNode *node = fz_node_new (TRUE, priv, fz_rng_system (), pool, 0);
  int bad = memcmp (fz_node_public_key (node), pub, sizeof pub) != 0;
  fz_node_free (node);
  fz_buf_pool_free (pool);

  FzUdpSocket *s = fz_udp_socket_open (4, 0, NULL);
  bad |= s == NULL || fz_udp_socket_get_port (s) == 0 || fz_udp_socket_get_family (s) != 4;
  fz_udp_socket_close (s);
  return bad;
}

int
main (void)
{
  FzIpAddr a;
  if (strcmp (fz_version (), FZ_VERSION_STRING) != 0 || !fz_ip_addr_parse (&a, "100.64.0.1"))
    return 1;
  if (node_and_socket () != 0)
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
"${cc[@]}" "${cflags[@]}" -o "$tmp/user" "$tmp/user.c" $(pkg-config --cflags --libs libfz)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir libfz)" "$tmp/user"

# The export list against the headers, as the compiler reads them.
inc=$(pkg-config --variable=includedir libfz)/fz
if grep -l '#include.*-private\.h' "$inc"/*.h; then
  echo "installed headers above include internal (-private.h) ones" >&2
  exit 1
fi
for h in "$inc"/*.h; do echo "#include <fz/${h##*/}>"; done > "$tmp/all.c"
# shellcheck disable=SC2046
"${cc[@]}" -E $(pkg-config --cflags libfz) "$tmp/all.c" |
  python3 "$exports" --preprocessed "$inc/" > "$tmp/declared"
[ -s "$tmp/declared" ] || { echo "found no declarations in $inc" >&2; exit 1; }
lib=$(pkg-config --variable=libdir libfz)/libfz.so
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
  sort -u > "$tmp/exported"
if ! diff -u --label declared --label exported "$tmp/declared" "$tmp/exported" >&2; then
  echo "libfz.so exports (+) what no installed header declares, or not (-) what one does" >&2
  exit 1
fi
echo "$(wc -l < "$tmp/exported") symbols exported, all declared in installed headers"
