#!/bin/sh
# The desktop's web browser in the gui suite (made the default for http
# and https by the test's mimeapps.list): notes each address it is asked
# to open, one a line, in $HOME/browser.log.
printf '%s\n' "$1" >>"$HOME/browser.log"
