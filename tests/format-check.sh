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
