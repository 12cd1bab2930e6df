#!/usr/bin/env bash
# Every C file follows the repository's .clang-format.
#   format-check.sh SOURCE_ROOT
set -euo pipefail
. "$(dirname "$0")/lib.sh"
fz_require_cmd clang-format
cd "$1"
mapfile -t files < <(find libfz tests tools gateway tunnel-service gui portal \
  -name '*.[ch]' 2>/dev/null | sort)
clang-format --dry-run --Werror "${files[@]}"
echo "${#files[@]} files formatted"

# clang-format would turn a quark name like fz-ip-error-quark into
# "fz - ip - error - quark"; every G_DEFINE_QUARK stays fenced and named.
bad=$(grep -rn --include='*.c' '^G_DEFINE_QUARK' libfz portal tools gateway tunnel-service gui 2>/dev/null \
  | grep -Ev 'G_DEFINE_QUARK \(fz-[a-z0-9-]+-error-quark, fz_[a-z0-9_]+_error\)$' || true)
if [ -n "$bad" ]; then
  echo "error domains must be named fz-THING-error-quark:" >&2
  echo "$bad" >&2
  exit 1
fi
