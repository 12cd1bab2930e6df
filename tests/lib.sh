# Shared helpers for test scripts: sourced, never run.
#
# A prerequisite that is missing makes a test skip (exit 77) on a
# developer's machine, but fail when FZ_REQUIRE_ALL=1 (CI): there a skip
# would hide a suite that never ran.

fz_skip () {
  if [ "${FZ_REQUIRE_ALL:-0}" = 1 ]; then
    echo "FAIL (FZ_REQUIRE_ALL=1): $*" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}

fz_require_root () {
  [ "$(id -u)" = 0 ] || fz_skip "needs root (network namespaces)"
  ip netns list >/dev/null 2>&1 || fz_skip "ip netns does not work here"
}

fz_require_cmd () {
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || fz_skip "needs '$c' (run tools/setup)"
  done
}

# Namespaces get names unique to this run and are removed again by
# fz_cleanup_netns (call it from an EXIT trap). FZ_NETNS_PREFIX (default
# fzt, at most 4 characters) keeps runs of different checkouts apart.
fz_netns_prefix="${FZ_NETNS_PREFIX:-fzt}$$"
fz_netns_created=""

# fz_netns_add VAR NAME: creates the namespace and stores its name in VAR
# (not through $(...): the list of created namespaces must survive).
fz_netns_add () {
  local _fz_ns="${fz_netns_prefix}$2"
  fz_netns_created="$fz_netns_created $_fz_ns"
  ip netns add "$_fz_ns"
  ip -n "$_fz_ns" link set lo up
  printf -v "$1" '%s' "$_fz_ns"
}

# Processes in our namespaces get SIGTERM, and SIGKILL if they are still
# there 3 s later: a hung one must not outlive the test.
fz_cleanup_netns () {
  local ns pid left
  for ns in $fz_netns_created; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill "$pid" 2>/dev/null || true
    done
  done
  for _ in $(seq 30); do
    left=""
    for ns in $fz_netns_created; do
      left="$left$(ip netns pids "$ns" 2>/dev/null)"
    done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for ns in $fz_netns_created; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      echo "cleanup: process $pid ignored SIGTERM; killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
}
