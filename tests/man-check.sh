#!/usr/bin/env bash
# The manual pages against the programs they describe: each built page
# renders without a groff or man warning, has the usual sections and
# names its program, mentions every long option that the program's
# --help lists, and lists in OPTIONS no long option that --help lacks
# (fz-gui: --help-all, GTK's and GApplication's too). fz-gui refuses
# root, so as root its help is read as nobody.
#
#   man-check.sh PROGRAM PAGE [PROGRAM PAGE]...
#   man-check.sh --missing WHAT     (skips: the pages were not built)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "${1:-}" != --missing ] || fz_skip "needs '$2' to build the manual pages (run tools/setup)"
fz_require_cmd groff man
if [ $# -lt 2 ] || [ $(($# % 2)) != 0 ]; then
  echo "usage: $0 PROGRAM PAGE [PROGRAM PAGE]..." >&2
  exit 2
fi

fail () {
  echo "FAIL: $*" >&2
  exit 1
}

tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# Every page in man/, as NAME(SECTION): what a page may point to of ours
# (also those of programs this build leaves out).
ours=" "
for src in "$(dirname "$0")"/../man/*.scd; do
  page=$(basename "$src" .scd)
  ours+="${page%.*}(${page##*.}) "
done

# long_options FILE: the distinct --long-options in FILE, one a line.
long_options () {
  grep -oE -- '--[a-z][a-z0-9-]*' "$1" | sort -u || true
}

while [ $# -gt 0 ]; do
  prog=$1 page=$2
  shift 2
  name=$(basename "$prog")
  page_name=$(basename "$page")
  [ -x "$prog" ] || fail "$prog is not a built program"
  [ -s "$page" ] || fail "$page is missing or empty"
  [ "${page_name%.*}" = "$name" ] || fail "$page_name is not the page of $name"

  # Rendering: groff's warnings (all of them), then man-db's own run.
  out=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "$page_name: groff: $out"
  [ -z "$out" ] || fail "$page_name: groff warns: $out"
  out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
    "$page" 2>&1 >/dev/null) || fail "$page_name: man -l: $out"
  [ -z "$out" ] || fail "$page_name: man -l warns: $out"

  # The text as read, in ASCII, on lines long enough that nothing is
  # hyphenated: an option broken over two lines would not be found.
  text=$tmp/$page_name.txt
  groff -man -Tascii -P-cbou -rHY=0 -rLL=1000n "$page" >"$text" 2>/dev/null
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT FILES "EXIT STATUS" \
    EXAMPLES "SEE ALSO"; do
    grep -qx "$section" "$text" || fail "$page_name: no $section section"
  done
  grep -A1 -x NAME "$text" | grep -qE "^ +$name - " || fail "$page_name: NAME is not '$name - ...'"
  for ref in $(grep -oE '\b(fz-[a-z]+|fzctl)\([18]\)' "$text" | sort -u); do
    [[ $ours == *" $ref "* ]] || fail "$page_name: refers to $ref, which is not one of our pages"
  done

  # The options as the program lists them.
  help=$tmp/$name.help
  case $name in
    fz-gui)
      # GApplication parses the options before it needs a display.
      run=(env -u DISPLAY -u WAYLAND_DISPLAY)
      if [ "$(id -u)" = 0 ]; then
        fz_require_cmd setpriv
        run=(setpriv --reuid=65534 --regid=65534 --clear-groups "${run[@]}" HOME=/nonexistent)
      fi
      "${run[@]}" "$prog" --help-all >"$help" 2>&1 \
        || fail "$name --help-all failed: $(cat "$help")"
      ;;
    *)
      "$prog" --help >"$help" 2>&1 || fail "$name --help failed: $(cat "$help")"
      ;;
  esac
  options=$(long_options "$help")
  [ -n "$options" ] || fail "$name --help lists no long option: $(cat "$help")"
  for opt in $options; do
    grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" "$text" \
      || fail "$page_name does not mention $opt (from $name --help)"
  done

  # And the other way: the page's OPTIONS invent nothing.
  sed -n '/^OPTIONS$/,/^[A-Z][A-Z ]*$/p' "$text" | sed '1d;$d' >"$tmp/$name.options"
  for opt in $(long_options "$tmp/$name.options"); do
    grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" "$help" \
      || fail "$page_name lists $opt in OPTIONS, which $name --help does not know"
  done
  echo "$page_name: renders without warnings; its $(echo "$options" | wc -w) options match $name --help"
done
