#!/usr/bin/env bash
# Each translation in po/ is complete and well-formed against the
# template the build made from the sources: every message translated,
# none fuzzy, none missing, printf formats matching (msgfmt --check).
#
# Usage: po-check.sh PO_DIR BUILT_POT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
fz_require_cmd msgfmt msgcmp
po_dir=$1 pot=$2
[ -s "$pot" ] || { echo "FAIL: no template at $pot" >&2; exit 1; }
n=0
for lang in $(grep -v '^#' "$po_dir/LINGUAS"); do
  po=$po_dir/$lang.po
  stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$po" 2>&1) \
    || { echo "FAIL: $lang: $stats" >&2; exit 1; }
  if grep -Eq 'fuzzy|untranslated' <<<"$stats"; then
    echo "FAIL: $lang: $stats" >&2
    exit 1
  fi
  msgcmp --use-untranslated "$po" "$pot" || { echo "FAIL: $lang lacks messages above" >&2; exit 1; }
  echo "$lang: $stats"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL: no translation in $po_dir/LINGUAS" >&2; exit 1; }
