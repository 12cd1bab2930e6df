#!/usr/bin/env bash
# fzctl without a service, as any user can run it: usage errors (never
# echoing what may be a token), the token checks before the bus, no
# system bus, the JSON error object, --help and --version, and the bash
# completion. The end-to-end case tests/e2e/fzctl.sh drives the service.
#   fzctl-cli.sh FZCTL COMPLETION
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fzctl=$1 completion=$2
fz_require_cmd bash python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-bus.sock
secret=SFMyNTY.g2gDaANtAAAAJDEy.c2VjcmV0
fail () {
  echo "FAIL: $*" >&2
  exit 1
}
# run WANT ARGS...: fzctl exits with WANT; $out and $err hold its output.
run () {
  local want=$1 rc=0
  shift
  out=$("$fzctl" "$@" 2>"$tmp/err") || rc=$?
  err=$(cat "$tmp/err")
  [ "$rc" = "$want" ] || fail "fzctl $*: exit status $rc, not $want ($out $err)"
  if grep -qF "$secret" <<<"$out$err"; then fail "fzctl $*: the token is shown"; fi
}

run 2
grep -q "usage: no command" <<<"$err" || fail "no command: $err"
run 2 stat
grep -q "unknown command stat" <<<"$err" || fail "unknown command: $err"
run 2 connect "$secret"
grep -q "never on the command line" <<<"$err" || fail "a token as argument: $err"
run 2 "$secret"
run 2 connect --token="$secret"
run 2 status --token-file x
run 2 internet maybe
run 2 --timeout 0 status
run 2 connect --api-url ftp://example.org/
run 2 --json stat
python3 -c 'import json, sys; d = json.loads(sys.argv[1])
assert d == {"ok": False, "error": "usage", "exit_code": 2, "message": d["message"]}, d
assert "unknown command" in d["message"], d' "$out" || fail "usage error as JSON: $out"
run 0 --help
grep -q "^Usage: fzctl" <<<"$out" || fail "--help: $out"
run 0 help
run 0 --version
grep -Eq '^fzctl [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out" || fail "--version: $out"
echo "usage errors: exit 2, nothing echoed that could be a token"

# The token is checked before the bus is asked.
printf '%s\n' "$secret" >"$tmp/token"
chmod 644 "$tmp/token"
run 10 connect --token-file "$tmp/token"
grep -q "chmod 600" <<<"$err" || fail "a world-readable token file: $err"
chmod 640 "$tmp/token"
run 10 connect --token-file "$tmp/token"
run 10 connect --token-file "$tmp/missing"
run 10 connect --token-file "$tmp"
mkfifo "$tmp/fifo"
run 10 connect --token-file "$tmp/fifo"
grep -q "not a regular file" <<<"$err" || fail "a FIFO: $err"
run 10 connect </dev/null
grep -q "empty" <<<"$err" || fail "an empty stdin: $err"
printf '%s\n\n' "$secret" >"$tmp/two-lines"
run 10 connect --token-file - <"$tmp/two-lines"
head -c 5000 /dev/zero | tr '\0' a >"$tmp/long"
run 10 connect <"$tmp/long"
grep -q "longer than 4096" <<<"$err" || fail "a long token: $err"
# A good token gets as far as the bus, which is not there.
chmod 600 "$tmp/token"
run 3 connect --token-file "$tmp/token"
run 3 connect <"$tmp/token"
echo "tokens: refused before the bus (10), a good one reaches it"

run 3 status
grep -q "cannot reach the system bus" <<<"$err" || fail "no bus: $err"
run 3 --json watch
python3 -c 'import json, sys; d = json.loads(sys.argv[1])
assert d["ok"] is False and d["error"] == "no-service" and d["exit_code"] == 3, d' "$out" \
  || fail "no bus as JSON: $out"
echo "no system bus: exit 3"

complete_line () {
  bash --norc -c 'source "$1"; read -ra COMP_WORDS <<<"$2"
    [ "${2: -1}" = " " ] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _fzctl; echo "${COMPREPLY[*]}"' _ "$completion" "$1"
}
check_completion () {
  local got
  got=$(complete_line "$1")
  [ "$got" = "$2" ] || fail "completion of '$1': '$got', not '$2'"
}
check_completion "fzctl " "status resources connect disconnect internet watch reset help"
check_completion "fzctl st" "status"
check_completion "fzctl --json re" "resources reset"
check_completion "fzctl --timeout 5 d" "disconnect"
check_completion "fzctl --timeout = 5 w" "watch"
check_completion "fzctl internet " "on off"
check_completion "fzctl internet on " ""
check_completion "fzctl status --j" "--json"
check_completion "fzctl connect --internet " "on off"
check_completion "fzctl connect --internet = o" "on off"
check_completion "fzctl connect --n" "--no-wait"
check_completion "fzctl connect --api-url " ""
check_completion "fzctl connect --acc" "--account-slug"
touch "$tmp/tok-a"
check_completion "fzctl connect --token-file $tmp/tok-" "$tmp/tok-a"
echo "bash completion: commands, options, on|off, files"
echo "PASS"
