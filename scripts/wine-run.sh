#!/bin/sh
# Runs a Windows program under wine64 with the project's prefix
# (build/wineprefix, created quietly on first use) and WINEDEBUG=-all, and
# exits with the program's exit code.
#   usage: scripts/wine-run.sh PROGRAM.exe [ARGS...]
#
# The wineserver (and Wine's service processes) outlive the program for a few
# seconds so the next run starts fast. A caller that must leave nothing behind
# (tests, CI) runs scripts/wine-stop.sh when done, e.g. from a trap.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/wine-env.sh"

[ $# -ge 1 ] || { echo "usage: $0 PROGRAM.exe [ARGS...]" >&2; exit 2; }
[ -f "$1" ] || { echo "wine-run: no such program: $1" >&2; exit 2; }
[ -x "$WINE" ] || { echo "wine-run: $WINE not found (run scripts/bootstrap.sh)" >&2; exit 2; }

# First use: create the prefix. The lock keeps concurrent first runs from
# building it twice. Mono and Gecko are not wanted (their installers would
# ask), hence the overrides. Wine's boot-time processes inherit the
# descriptors of wineboot: /dev/null keeps them off the caller's output.
# Stopping the server afterwards makes it write the registry; system.reg is
# then the sign of a finished prefix.
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	mkdir -p "$(dirname "$WINEPREFIX")"
	exec 9>"$WINEPREFIX.lock"
	flock 9
	if [ ! -f "$WINEPREFIX/system.reg" ]; then
		log="$WINEPREFIX.log"
		"$here/wine-stop.sh"
		rm -rf "$WINEPREFIX"
		WINEDLLOVERRIDES="mscoree,mshtml=" "$WINE" wineboot --init \
			</dev/null >"$log" 2>&1 || true
		"$here/wine-stop.sh"
		if [ ! -f "$WINEPREFIX/system.reg" ]; then
			echo "wine-run: creating the Wine prefix $WINEPREFIX failed:" >&2
			cat "$log" >&2
			rm -rf "$WINEPREFIX"
			exit 2
		fi
	fi
	exec 9>&-
fi

exec "$WINE" "$@"
