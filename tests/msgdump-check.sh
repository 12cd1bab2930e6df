#!/usr/bin/env bash
# fz-msgdump against the portal frames in tests/data/portal: each frame's
# output must match its .out file (reviewed by hand when written); bad-*
# frames must fail with exit status 1 and one line. Secrets never show.
#
#   msgdump-check.sh FZ_MSGDUMP DATA_DIR
set -uo pipefail
dump=$1 dir=$2
fail=0
declare -A outputs
# Who receives a frame, from its file name.
role_of() {
  case $1 in
    *portal-*) echo portal ;;
    *gateway*) echo gateway ;;
    *) echo client ;;
  esac
}
for f in "$dir"/*.json; do
  name=$(basename "$f" .json)
  role=$(role_of "$name")
  out=$("$dump" --role "$role" <"$f" 2>&1)
  rc=$?
  outputs[$name]=$out
  case $name in
    bad-*)
      if [ "$rc" != 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" != 1 ]; then
        echo "FAIL $name: exit $rc, output: $out"
        fail=1
      fi ;;
    *)
      [ "$rc" = 0 ] || { echo "FAIL $name: exit $rc: $out"; fail=1; }
      ;;
  esac
  if ! diff -u "$dir/$name.out" <(printf '%s\n' "$out") >/dev/null; then
    echo "FAIL $name: output differs:"
    diff -u "$dir/$name.out" <(printf '%s\n' "$out")
    fail=1
  fi
done
# PSKs, TURN/ICE passwords and flow-log tokens of these fixtures never
# reach the output.
for name in client-authorization-created client-init \
  client-authorization-created-newer-portal client-device-access-authorized \
  gateway-create-authorization-newer-portal gateway-init-newer-portal; do
  [ -n "${outputs[$name]+set}" ] || { echo "FAIL: $name.json is missing"; fail=1; continue; }
  for secret in c2VjcmV0 0123456789012345678901 abcdefghijabcdefghijab \
    Y2xpZW50LXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE= ZmxvdyBsb2dzIHRva2Vu; do
    case ${outputs[$name]} in
      *"$secret"*) echo "FAIL: a secret ($secret) was printed for $name"; fail=1 ;;
    esac
  done
done
# Nesting that overflowed json-glib's stack: one line and status 1.
deep_arrays() { head -c 80000 /dev/zero | tr '\0' '['; }
deep_objects() { yes '{"a":' | head -n 80000 | tr -d '\n'; }
for gen in deep_arrays deep_objects; do
  out=$("$gen" | "$dump" --role client 2>&1)
  rc=$?
  if [ "$rc" != 1 ] || [ "$out" != "fz-msgdump: portal frame nests deeper than 64 levels" ]; then
    echo "FAIL $gen: exit $rc, output: $(printf '%s\n' "$out" | head -3)"
    fail=1
  fi
done
[ "$fail" = 0 ] && echo "all frames as expected"
exit "$fail"
