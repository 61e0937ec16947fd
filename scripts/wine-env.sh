# Sourced by wine-run.sh and wine-stop.sh: the project's Wine settings.
# The prefix lives under build/ of this checkout so tests never touch the
# user's own ~/.wine; a WINEPREFIX from the environment is deliberately
# ignored (set DOB_WINEPREFIX to use another one).
#   in:  $here = the scripts/ directory
# shellcheck shell=sh
root=$(cd "$here/.." && pwd)
WINE=${WINE:-/usr/lib/wine/wine64}
WINESERVER=${WINESERVER:-/usr/lib/wine/wineserver}
WINEPREFIX=${DOB_WINEPREFIX:-$root/build/wineprefix}
WINEDEBUG=-all
export WINEPREFIX WINEDEBUG
