#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its seed corpus; new
# inputs go to a scratch folder, never into the source tree. A crash, a
# leak or a sanitizer report fails the test; the reproducer is kept in
# the build directory and its path printed. So does a run that executed
# no inputs.
#
#   run-fuzz.sh TARGET_BIN SEED_DIR SECONDS
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

bin=$1 seeds=$(realpath "$2") secs=$3
[ "$bin" = none ] && fz_skip "libFuzzer targets need clang (configure with CC=clang)"
keep=${MESON_BUILD_ROOT:-$(pwd)}/fuzz-artifacts
mkdir -p "$keep"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
rc=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$keep/$(basename "$bin")-" "$work/corpus" "$seeds" >"$work/log" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
  cat "$work/log"
  # CI keeps only the end of a long log: the reproducer itself goes last.
  for f in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log"); do
    echo "reproducer $(basename "$f") as base64 (base64 -d > crash):"
    base64 -w 76 "$f" | head -n 200
  done
  echo "FAIL: $(basename "$bin") exited $rc; reproducer in $keep" >&2
  exit 1
fi
# A run that exits 0 without fuzzing (not a libFuzzer binary, no input
# ever executed) must not pass for one that found nothing.
runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
if ! grep -qE '^#[0-9]+[[:space:]]+INITED' "$work/log" || [ "${runs:-0}" -eq 0 ]; then
  cat "$work/log"
  echo "FAIL: $(basename "$bin") executed no inputs (libFuzzer did not start, or ran 0 times)" >&2
  exit 1
fi
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$work/log"
echo "corpus: $(ls "$seeds" | wc -l) seeds, $(ls "$work/corpus" | wc -l) new inputs found"
