#!/usr/bin/env bash
# Case 13: fzctl against fz-tunnel's D-Bus service on a private system bus
# in the client's namespace: status and resources as text and JSON, the
# Internet resource switched, connect from a token file and from stdin, a
# token the portal refuses, a world-readable token file, connect while
# connected, disconnect twice, reset, --no-wait, two watchers (text and
# JSON) seeing it all, an unprivileged caller, a stopped (SIGSTOP)
# service and Ctrl-C, no service at all, the token in no output or log,
# and the bash completion.
. "$(dirname "$0")/e2e-lib.sh" "$@"
fz_require_cmd dbus-daemon busctl setpriv bash
fzctl_bin=$e2e_build/tunnel-service/fzctl
completion=$e2e_src/../../data/completions/fzctl
[ -x "$fzctl_bin" ] || fail "fzctl is not built under $e2e_build"
e2e_setup
e2e_start_gateway 1
e2e_start_gateway 3
e2e_start_bus
e2e_start_service

# fz ARGS...: fzctl on the private bus; sets $rc, $out (stdout) and $err
# (stderr), and keeps both in fzctl.out for the token check at the end.
fz () {
  rc=0
  out=$(DBUS_SYSTEM_BUS_ADDRESS=$bus "$fzctl_bin" "$@" 2>"$E2E_DIR/stderr") || rc=$?
  err=$(cat "$E2E_DIR/stderr")
  printf '%s\n%s\n' "$out" "$err" >>"$E2E_DIR/fzctl.out"
}
# expect RC WHAT: the last fz exited with RC.
expect () {
  [ "$rc" = "$1" ] || fail "$2: exit status $rc, not $1; stdout: $out; stderr: $err"
}
# The interpreter itself: a version manager's python3 wrapper may take a
# second or more to start, and the checks below run it often.
py=$(python3 -c 'import sys; print(sys.executable)')
# json PYTHON: runs PYTHON with d, the last fz's stdout parsed as JSON.
json () {
  "$py" -S -c "import json, sys; d = json.loads(sys.argv[1]); $1" "$out" \
    || fail "JSON check '$1' on: $out"
}
# A token in a file only its owner may read.
token_file=$E2E_DIR/token
printf '%s\n' "$E2E_TOKEN_CL" >"$token_file"
chmod 600 "$token_file"
wrong=$("$fz_portal" new-token | sed -n 's/^token: //p')
wrong_file=$E2E_DIR/wrong-token
printf '%s\n' "$wrong" >"$wrong_file"
chmod 600 "$wrong_file"

# Two watchers from the start: text and JSON lines.
e2e_bg watch cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" "$fzctl_bin" watch
e2e_bg watchj cl env DBUS_SYSTEM_BUS_ADDRESS="$bus" "$fzctl_bin" --json watch
e2e_wait_up watch 10 "fzctl watch's first lines" grep -q "State: disconnected" \
  "$E2E_DIR/watch.log"
e2e_wait_up watchj 10 "fzctl --json watch's first line" grep -q '"event":"initial"' \
  "$E2E_DIR/watchj.log"

# Disconnected: status and resources, both forms.
fz status
expect 0 "status"
grep -Eq '^State: +disconnected$' <<<"$out" || fail "status: $out"
grep -Eq '^Internet resource: +off$' <<<"$out" || fail "status: $out"
grep -Eq '^Resources: +none$' <<<"$out" || fail "status: $out"
grep -Eq '^Version: +[0-9]' <<<"$out" || fail "status: $out"
fz --json status
expect 0 "status --json"
json 'assert list(d) == ["state", "internet_resource_enabled", "tunnel_addresses",
  "resources", "last_error", "device_id", "version"], list(d)
assert d["state"] == "disconnected" and d["resources"] == [] and d["tunnel_addresses"] == []
assert d["internet_resource_enabled"] is False and d["device_id"] and d["version"]'
fz resources
expect 0 "resources"
[ "$out" = "No resources." ] || fail "resources while disconnected: $out"
fz resources --json
json 'assert d == {"resources": []}, d'
fz disconnect
expect 5 "disconnect while disconnected"
grep -q "not connected" <<<"$err" || fail "disconnect: $err"
fz --json disconnect
expect 5 "disconnect --json while disconnected"
json 'assert d["ok"] is False and d["error"] == "not-connected" and d["exit_code"] == 5, d'
echo "disconnected: status, resources, disconnect (5) as text and JSON"

# The Internet resource, shown by the next status at once.
fz internet on
expect 0 "internet on"
fz status
grep -Eq '^Internet resource: +on$' <<<"$out" || fail "status after internet on: $out"
fz --json internet off
expect 0 "internet off"
json 'assert d == {"ok": True, "internet_resource_enabled": False}, d'
fz --json status
json 'assert d["internet_resource_enabled"] is False, d'
fz internet maybe
expect 2 "internet maybe"

# Tokens refused before the bus: on the command line, a file others may
# read, an empty stdin.
fz connect "$E2E_TOKEN_CL"
expect 2 "a token on the command line"
chmod 644 "$token_file"
fz connect --token-file "$token_file" --api-url "$E2E_URL"
expect 10 "a world-readable token file"
grep -q "chmod 600" <<<"$err" || fail "world-readable token file: $err"
chmod 600 "$token_file"
fz connect --api-url "$E2E_URL" </dev/null
expect 10 "an empty stdin"
state_is disconnected || fail "a refused token reached the service"
echo "tokens on argv, in a world-readable file, or empty: refused (2, 10)"

# A token the portal does not know: sign-in required.
fz connect --api-url "$E2E_URL" <"$wrong_file"
expect 7 "a wrong token"
grep -q "refused the token" <<<"$err" || fail "a wrong token: $err"
fz --json connect --token-file "$wrong_file" --api-url "$E2E_URL"
expect 7 "a wrong token (--json)"
json 'assert d["error"] == "sign-in-required" and d["exit_code"] == 7, d'
e2e_wait_up svc 5 "the state after a wrong token" state_is disconnected
echo "a wrong token: exit 7, $err"

# The right token from the file.
fz connect --token-file "$token_file" --api-url "$E2E_URL"
expect 0 "connect --token-file"
[ "$out" = "Connected." ] || fail "connect: $out"
fz status
grep -Eq '^State: +connected$' <<<"$out" || fail "status connected: $out"
grep -Eq '^Resources: +4 \(App, LabB, Svc, Web\)$' <<<"$out" || fail "status: $out"
grep -Eq '^Tunnel addresses: +100\.[0-9.]+' <<<"$out" || fail "status: $out"
fz --json status
json 'assert d["state"] == "connected" and d["last_error"] == "", d
assert sorted(r["name"] for r in d["resources"]) == ["App", "LabB", "Svc", "Web"], d
assert any(a.startswith("100.") for a in d["tunnel_addresses"]), d'
fz resources
expect 0 "resources"
grep -Eq '^NAME +TYPE +ADDRESS +SITE +STATUS$' <<<"$out" || fail "resources: $out"
grep -Eq '^Web +cidr +172\.16\.1\.10/32 +A +[a-z]+$' <<<"$out" || fail "resources: $out"
grep -Eq '^App +dns +app\.corp\.test +A +[a-z]+$' <<<"$out" || fail "resources: $out"
[ "$(wc -l <<<"$out")" = 5 ] || fail "resources: $out"
fz --json resources
json 'rs = d["resources"]
assert [r["name"] for r in rs] == ["App", "LabB", "Svc", "Web"], rs
web = rs[3]
assert (web["type"], web["address"], web["site_name"]) == ("cidr", "172.16.1.10/32", "A"), web
assert rs[0]["type"] == "dns" and rs[0]["address"] == "app.corp.test", rs[0]
assert rs[1]["site_name"] == "B" and rs[1]["address"] == "172.16.2.0/24", rs[1]
for r in rs:
    assert set(r) == {"id", "name", "type", "address", "address_description",
                      "site_name", "site_status", "can_be_disabled"}, r
    assert r["id"] and r["site_status"] in ("online", "offline", "unknown"), r'
body=$(e2e_curl http://172.16.1.10/) || fail "HTTP to the CIDR resource"
[ "$body" = "hello from res" ] || fail "HTTP body: $body"
echo "connected from a token file: status, resources as text and JSON, HTTP"
# Site B's gateway gone: a request for LabB shows in both watchers.
e2e_stop gw3 TERM || fail "fz-gateway gw3 did not exit cleanly"
on cl curl -s --max-time 2 http://172.16.2.10/ >/dev/null && fail "LabB answered without a gateway"
e2e_wait_up watch 10 "fzctl watch showing LabB unreachable" grep -Eq \
  "Unreachable: [0-9a-f-]+ \(offline\)" "$E2E_DIR/watch.log"
e2e_wait_up watchj 10 "fzctl --json watch showing LabB unreachable" grep -q \
  '"event":"resource-unreachable".*"reason":"offline"' "$E2E_DIR/watchj.log"

fz connect --api-url "$E2E_URL" <"$token_file"
expect 6 "connect while connected"
grep -q "already connected" <<<"$err" || fail "connect while connected: $err"
fz internet on
fz status
grep -Eq '^Internet resource: +on$' <<<"$out" || fail "internet on while connected: $out"
fz internet off
fz reset
expect 0 "reset"
[ "$out" = "Connections reset." ] || fail "reset: $out"
e2e_wait_up svc 10 "connected after reset" state_is connected
e2e_curl http://172.16.1.10/ >/dev/null || fail "HTTP after reset"
fz disconnect
expect 0 "disconnect"
fz status
grep -Eq '^State: +disconnected$' <<<"$out" || fail "status after disconnect: $out"
fz disconnect
expect 5 "a second disconnect"
echo "connect while connected (6), internet on/off, reset, disconnect, again (5)"

# From stdin, with --json; then --no-wait.
fz --json connect --api-url "$E2E_URL" --account-slug e2e --internet off <"$token_file"
expect 0 "connect from stdin"
json 'assert d == {"ok": True, "state": "connected"}, d'
fz --json disconnect
json 'assert d == {"ok": True, "state": "disconnected"}, d'
fz connect --no-wait --token-file - --api-url "$E2E_URL" <"$token_file"
expect 0 "connect --no-wait"
e2e_wait_up svc 15 "connected after --no-wait" state_is connected
fz reset --json
json 'assert d == {"ok": True}, d'
echo "connect from stdin and --no-wait"

# Unprivileged: reading is open, changing is not.
nobody () {
  rc=0
  out=$(DBUS_SYSTEM_BUS_ADDRESS=$bus setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$fzctl_bin" "$@" 2>"$E2E_DIR/stderr") || rc=$?
  err=$(cat "$E2E_DIR/stderr")
  printf '%s\n%s\n' "$out" "$err" >>"$E2E_DIR/fzctl.out"
}
nobody status
expect 0 "status as nobody"
grep -Eq '^State: +connected$' <<<"$out" || fail "status as nobody: $out"
nobody internet on
expect 4 "internet on as nobody"
grep -q "not authorized" <<<"$err" || fail "internet on as nobody: $err"
nobody --json disconnect
expect 4 "disconnect as nobody"
json 'assert d["error"] == "not-authorized", d'
state_is connected || fail "an unprivileged disconnect changed the state"
[ "$(prop InternetResourceEnabled)" = "b false" ] || fail "an unprivileged call changed it"
echo "nobody: status 0, internet on 4, disconnect 4"

# A stuck service: the deadline, and Ctrl-C.
kill -STOP "${e2e_pid[svc]}"
t0=$(date +%s%N)
fz --timeout 2 status
t1=$(date +%s%N)
expect 9 "status of a stopped service"
grep -q "within 2 s" <<<"$err" || fail "status of a stopped service: $err"
[ $(((t1 - t0) / 1000000000)) -lt 10 ] || fail "the 2 s deadline took $(((t1 - t0) / 1000000)) ms"
DBUS_SYSTEM_BUS_ADDRESS=$bus "$fzctl_bin" internet on >/dev/null 2>&1 &
ctl=$!
sleep 0.5
kill -INT "$ctl"
rc=0
wait "$ctl" || rc=$?
kill -CONT "${e2e_pid[svc]}"
[ "$rc" = 130 ] || fail "Ctrl-C on a stuck call: exit status $rc"
echo "a stopped service: exit 9 after $(((t1 - t0) / 1000000)) ms with --timeout 2; Ctrl-C: 130"

fz disconnect
expect 0 "disconnect at the end"
e2e_wait_up svc 5 "disconnected at the end" state_is disconnected
e2e_stop svc TERM || fail "fz-tunnel did not exit cleanly"
e2e_wait_up watch 5 "the watcher seeing the service go" grep -q "Service: stopped" \
  "$E2E_DIR/watch.log"
fz status
expect 3 "status without a service"
grep -q "not running" <<<"$err" || fail "status without a service: $err"
fz --json resources
expect 3 "resources without a service"
json 'assert d["error"] == "no-service" and d["exit_code"] == 3, d'
rc=0
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$E2E_DIR/no-bus.sock "$fzctl_bin" status 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "status without a bus: exit status $rc"
echo "no service: exit 3; no bus: exit 3"

# The watchers: SIGTERM and SIGINT (Ctrl-C) end them with 0; every
# change was a line.
e2e_stop watch TERM || fail "fzctl watch did not exit 0 on SIGTERM"
e2e_stop watchj INT || fail "fzctl --json watch did not exit 0 on SIGINT"
for want in "State: disconnected" "Internet resource: on" "Internet resource: off" \
  "State: connected" "Resources: 4 \(App, LabB, Svc, Web\)" "Resources: none" \
  "Disconnected: .* \(sign-in required\)" "Service: stopped"; do
  grep -Eq "^[0-9:]{8} $want\$" "$E2E_DIR/watch.log" \
    || fail "fzctl watch printed no '$want': $(cat "$E2E_DIR/watch.log")"
done
"$py" -S - "$E2E_DIR/watchj.log" <<'PY' || fail "fzctl --json watch: $(cat "$E2E_DIR/watchj.log")"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
assert events[0]["event"] == "initial", events[0]
assert events[0]["properties"]["state"] == "disconnected", events[0]
assert all(e["time"].endswith("Z") for e in events), events
changed = [e["properties"] for e in events if e["event"] == "changed"]
states = [p["state"] for p in changed if "state" in p]
assert "connected" in states and states[-1] == "disconnected", states
assert any(len(p.get("resources", [])) == 4 for p in changed), changed
assert [p["internet_resource_enabled"] for p in changed if "internet_resource_enabled" in p][:2] \
    == [True, False], changed
gone = [e for e in events if e["event"] == "disconnected"]
assert gone and all(e["requires_sign_in"] for e in gone), gone
assert events[-1]["event"] == "service-stopped", events[-1]
PY
echo "watch: $(wc -l <"$E2E_DIR/watch.log") lines, $(wc -l <"$E2E_DIR/watchj.log") JSON events"

# The token is nowhere: not in fzctl's output, not in the service's log.
for f in fzctl.out watch.log watchj.log svc.log; do
  grep -qF "$E2E_TOKEN_CL" "$E2E_DIR/$f" && fail "the token is in $f"
  grep -qF "$wrong" "$E2E_DIR/$f" && fail "the wrong token is in $f"
done

# The bash completion loads and completes.
complete_line () {
  bash --norc -c 'source "$1"; read -ra COMP_WORDS <<<"$2"
    [ "${2: -1}" = " " ] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _fzctl; echo "${COMPREPLY[*]}"' _ "$completion" "$1"
}
[ "$(complete_line "fzctl st")" = "status" ] || fail "completion of 'st': $(complete_line "fzctl st")"
[ "$(complete_line "fzctl internet ")" = "on off" ] || fail "completion of internet"
[ "$(complete_line "fzctl --json re")" = "resources reset" ] || fail "completion of re"
grep -q -- "--token-file" <<<"$(complete_line "fzctl connect --")" \
  || fail "completion of connect's options: $(complete_line "fzctl connect --")"
[ "$(complete_line "fzctl connect --internet o")" = "on off" ] || fail "--internet's values"
bash --norc -c 'source "$1"; complete -p fzctl' _ "$completion" | grep -q "_fzctl" \
  || fail "the completion is not registered"
echo "PASS"
