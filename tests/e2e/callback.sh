#!/bin/sh
# Runs a COM test program under Wine with a local HTTP server (httpd.py):
#   tests/e2e/callback.sh [PROGRAM.exe]   (default: callback_test.exe)
# The program gets the server's port and the Windows path of the directory
# it serves (empty; the program may put files there). The server, the
# served directory and Wine's processes are gone when this script exits.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
exe=${1:-$root/build/mingw/bin/callback_test.exe}

tmp=$(mktemp -d "$root/build/e2e-com.XXXXXX") || exit 2
hpid=
cleanup() {
	exec 3>&-
	[ -n "$hpid" ] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
	"$root/scripts/wine-stop.sh"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# httpd.py exits when its stdin (this script's fd 3) closes, or after 600 s.
mkdir "$tmp/www" && mkfifo "$tmp/hold" || exit 2
/usr/bin/python3 "$here/httpd.py" "$tmp/www" 600 <"$tmp/hold" >"$tmp/port" 2>"$tmp/httpd.log" &
hpid=$!
exec 3>"$tmp/hold"
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(head -n 1 "$tmp/port")
[ -n "$port" ] || { echo "callback.sh: httpd.py did not start"; cat "$tmp/httpd.log"; exit 2; }

"$root/scripts/wine-run.sh" "$exe" "$port" "Z:$(printf '%s' "$tmp/www" | tr / '\\')"
rc=$?
[ $rc = 0 ] || { echo "callback.sh: $(basename "$exe") exited $rc; HTTP log:"; cat "$tmp/httpd.log"; }
exit $rc
