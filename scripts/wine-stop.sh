#!/bin/sh
# Stops the wineserver of the project's prefix and every Wine process in it,
# and waits until they are gone. Safe to call when nothing runs.
#   usage: scripts/wine-stop.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/wine-env.sh"
[ -d "$WINEPREFIX" ] || exit 0
"$WINESERVER" -k >/dev/null 2>&1
"$WINESERVER" -w >/dev/null 2>&1
exit 0
