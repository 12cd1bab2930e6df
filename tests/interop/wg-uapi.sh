#!/usr/bin/env bash
# fz-wg's configuration socket under misuse, in a network namespace
# (wg-uapi.py does the talking): a get=1 closed unread (SIGPIPE); NUL,
# CRLF, an endless line and an oversized request (answered or closed at
# once, never left hanging); its own public key as a peer (ignored, as by
# wireguard-go); a large get read slowly while other requests are
# answered; SIGTERM within a second in the middle of it, of a large set,
# and at startup. A static check keeps every GSource on fz-wg's own main
# context.
#
#   wg-uapi.sh FZ_WG_BIN
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

fzwg=$1
here=$(dirname "$0")
fz_require_root
fz_require_cmd ip wg python3 timeout
[ -c /dev/net/tun ] || fz_skip "needs /dev/net/tun"

. "$here/../wg-pair.sh"
trap wg_pair_cleanup EXIT
tmp=$wg_pair_tmp
sock=/var/run/wireguard/$ifa.sock
step () { echo "== $*"; }
hex () { base64 -d <"$1" | od -An -tx1 -v | tr -d ' \n'; }
uapi () { timeout 300 python3 "$here/wg-uapi.py" "$sock" "$@"; }

step "every GSource is attached to a context named in the call"
src=$here/../../tools/fz-wg
if grep -nE 'g_(timeout|idle|unix_signal|unix_fd|child_watch)_add|g_source_attach *\([^,]*, *NULL' \
  "$src"/*.c; then
  fail "a GSource on the global default context (above)"
fi

wg_pair_namespaces
wg_pair_start "$A" "$ifa" fz-wg
pid=$(ip netns pids "$A")

alive () {
  kill -0 "$pid" 2>/dev/null && [ -S "$sock" ] || {
    cat "$tmp/$ifa.log" >&2
    wait "${wg_pair_pids[0]}" || echo "fz-wg exit status: $?" >&2
    wg_pair_pids=()
    fail "fz-wg is gone: $1"
  }
}

step "get=1 closed unread, 50 times, 2000 peers"
uapi sigpipe "$pid"
alive "after get=1 closed unread"

step "NUL, CRLF, an endless line, a 40 MB request: answered or closed at once"
uapi never-hangs
alive "after malformed requests"

step "its own public key as a peer is ignored"
ip netns exec "$A" wg set "$ifa" private-key "$tmp/ka"
uapi own-key "$(hex "$tmp/pa")" "$(hex "$tmp/pb")" "$(hex "$tmp/kb")"
alive "after its own key as a peer"

step "a large get read slowly holds nothing up (20 000 peers)"
ip netns exec "$A" wg set "$ifa" private-key "$tmp/ka"
uapi streamed-get 20000
alive "after the large get"

# term_within_1s WHAT [SIGNAL]: SIGTERM (or SIGNAL) ends fz-wg within a
# second, status 0, socket removed.
term_within_1s () {
  local status=0 sig=${2:-TERM}
  kill -"$sig" "$pid"
  for _ in $(seq 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then fail "fz-wg still running 1 s after SIG$sig $1"; fi
  wait "${wg_pair_pids[0]}" || status=$?
  wg_pair_pids=()
  [ "$status" = 0 ] || fail "fz-wg exit status after SIG$sig $1: $status"
  [ ! -e "$sock" ] || fail "socket left behind after SIG$sig $1"
}

step "SIGTERM while a large get is half read: gone within a second, status 0"
exec 3< <(python3 -c 'import socket,sys,time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"get=1\n\n"); s.recv(1000); print("reading", flush=True); time.sleep(30)' "$sock")
read -r -t 10 _ <&3 || fail "the half-read get did not start"
term_within_1s "during a large get"
exec 3<&-

step "SIGTERM or SIGINT as soon as the socket is there, 10 times: status 0, socket removed"
for i in $(seq 10); do
  ip netns exec "$A" "$fzwg" -f "$ifa" >"$tmp/$ifa.log" 2>&1 &
  wg_pair_pids=($!)
  pid=$!
  for _ in $(seq 500); do [ -S "$sock" ] && break; sleep 0.01; done
  term_within_1s "at startup" "$([ $((i % 2)) = 0 ] && echo TERM || echo INT)"
done

step "SIGTERM while a set of 20 000 peers is applied: gone within a second"
wg_pair_start "$A" "$ifa" fz-wg
pid=$(ip netns pids "$A")
exec 3< <(uapi big-set 20000 2>&1)
read -r -t 30 _ <&3 || fail "the large set was not sent"
sleep 0.5 # well into applying it
term_within_1s "during a large set"
exec 3<&-

echo "all wg-uapi checks passed"
