# A test user's desktop session for the gui suite: sourced by a case
# after e2e-lib.sh once it has set $uid (the user), $home (its home, with
# run/ for XDG_RUNTIME_DIR) and session_env (the session's environment).

# u CMD...: CMD as the user in the session (and the client's namespace).
u () {
  ip netns exec "$ns_cl" setpriv --reuid="$uid" --regid=65534 --clear-groups \
    env -i "${session_env[@]}" "$@"
}

# ubg NAME CMD...: a long-running process of the session, its output in
# NAME.log; stdin from $ubg_stdin (default: nothing). Not through u():
# $! must be the process itself (ip, setpriv and env exec it), so that
# a signal reaches it.
ubg () {
  local name=$1
  shift
  ip netns exec "$ns_cl" setpriv --reuid="$uid" --regid=65534 --clear-groups \
    env -i "${session_env[@]}" "$@" >"$E2E_DIR/$name.log" 2>&1 <"${ubg_stdin:-/dev/null}" &
  e2e_pid[$name]=$!
}

# gui_session_start: Xvfb (its DISPLAY added to session_env) and a
# session bus at $home/run/bus that activates nothing: what runs is what
# the test starts (a stopped service must not come back by activation).
gui_session_start () {
  # As at boot (systemd-tmpfiles' x11.conf): root's and sticky, for every
  # user's X socket; else the test user's Xvfb would make it its own.
  [ -d /tmp/.X11-unix ] || install -d -o root -g root -m 1777 /tmp/.X11-unix
  ubg xvfb Xvfb -displayfd 1 -nolisten tcp -screen 0 1280x800x24
  # The display number's line: where /tmp/.X11-unix cannot be used Xvfb
  # first says so (and listens on its abstract socket all the same, which
  # a sandbox in the same network namespace shares).
  gui_display () { grep -xm1 '[0-9][0-9]*' "$E2E_DIR/xvfb.log"; }
  e2e_wait_up xvfb 10 "Xvfb" gui_display
  session_env+=(DISPLAY=":$(gui_display)")
  cat >"$E2E_DIR/session.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$home/run/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
  ubg sbus dbus-daemon --config-file="$E2E_DIR/session.conf" --nofork
  e2e_wait_up sbus 10 "the session bus" test -S "$home/run/bus"
}

# browser_sign_in URL: what the browser and the user do with the sign-in
# page: GET it, post the form with the password; sets $link (the deep
# link the portal redirects to), $nonce, $state, $fragment and $token
# (what the tray must store). The link stays in variables: no file.
# Needs $password (alice's) and the e2e world's portal.
browser_sign_in () {
  local url=$1 page headers
  nonce=$(sed -E 's/.*nonce=([0-9a-f]+).*/\1/' <<<"$url")
  state=$(sed -E 's/.*state=([0-9a-f]+).*/\1/' <<<"$url")
  page=$(u curl -sS --max-time 10 "$url") || fail "GET the sign-in page"
  grep -q "name=\"state\" value=\"$state\"" <<<"$page" || fail "the page lost the state"
  headers=$(u curl -sS --max-time 20 -o /dev/null -D - \
    --data-urlencode as=gui-client --data-urlencode "state=$state" \
    --data-urlencode "nonce=$nonce" --data-urlencode username=alice \
    --data-urlencode "password=$password" "http://$E2E_PORTAL_IP:8080/e2e/sign_in") \
    || fail "POST the sign-in form"
  link=$(sed -n 's/^[Ll]ocation: //p' <<<"$headers" | tr -d '\r')
  [[ $link == firezone-fd0020211111://handle_client_sign_in_callback\?* ]] \
    || fail "the portal's answer is no deep link"
  fragment=$(python3 -c 'import sys, urllib.parse as u
q = u.parse_qs(u.urlsplit(sys.argv[1]).query); print(q["fragment"][0])' "$link")
  token=$nonce$fragment
}

# menu: the tray's menu as fake-shell ($shell) reads it over dbusmenu.
menu () {
  u env FAKE_SHELL_TIMEOUT=5 "$shell" menu
}
# top_is LINE...: the menu starts with these lines.
top_is () {
  local m want
  m=$(menu) || return 1
  want=$(printf '%s\n' "$@")
  [ "$(head -n "$#" <<<"$m")" = "$want" ]
}
# wait_top WHAT LINE...: within 20 s the menu starts with these lines;
# else the menu as it is, and the test fails.
wait_top () {
  local what=$1
  shift
  for _ in $(seq 100); do
    top_is "$@" && { echo "menu: $what"; return 0; }
    sleep 0.2
  done
  { echo "the menu now:"; menu; } >&2 || true
  fail "the menu: $what: not within 20 s"
}
