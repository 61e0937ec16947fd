#!/bin/sh
# make bench-wine: the benchmarks of issue 6 under Wine (docs/performance.md).
# Builds the Windows programs, then runs under the project's Wine prefix
# (scripts/wine-run.sh; DOB_WINEPREFIX selects another one):
#   1. build/mingw/bin/callback_bench.exe: the COM callback's JobError return
#      time against the one wake-up it makes, alone and in front of the real
#      broker (in-process, bits backend) with 64 pipe subscribers of which
#      one never reads, JobModified fanned out and the COM workers busy
#      (tests/wine/callback_bench.c; about 30 s);
#   2. build/mingw/bench/wine_bench.exe: dobrokerd.exe over named pipes
#      (event latency, action and ping round trips with the sim backend and
#      with Wine's BITS, process spawn per event) against raw named-pipe
#      baselines measured in the same run; callback_bench's JSON is embedded.
#   3. scripts/bench-do.sh: JobError from the DO service emulator across
#      processes, its hold time measured inside the emulator, for a no-op
#      callback in another process and for dobrokerd.exe --backend do with
#      subscribers (one never reading); build/bench/do.txt.
# Prints the tables and writes build/bench/wine.json (the tables also go to
# build/bench/wine.txt). A local HTTP server (tests/e2e/httpd.py, serving an
# empty directory: 404 for every GET) gives BITS its errors. Every Wine
# process is stopped on exit, also on failure.
#   usage: scripts/bench-wine.sh [--quick]
# Exits non-zero only when something measured did not work, never because
# of a timing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
quick=
[ "${1:-}" = --quick ] && quick=--quick

mkdir -p build/bench
echo "==== building (make -j2 CROSS=x86_64-w64-mingw32- all bench-build)"
if ! make -j2 CROSS=x86_64-w64-mingw32- all bench-build >build/bench/build-mingw.log 2>&1; then
	tail -30 build/bench/build-mingw.log >&2
	echo "bench-wine: the Windows build failed (build/bench/build-mingw.log)" >&2
	exit 2
fi

tmp=$(mktemp -d "$root/build/bench-wine.XXXXXX") || exit 2
hpid=
cleanup() {
	exec 3>&- 2>/dev/null
	[ -n "$hpid" ] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
	"$here/wine-stop.sh"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

winpath() { printf 'Z:%s' "$1" | tr / '\\'; }

# httpd.py exits when its stdin (fd 3 here) closes, or after 600 s.
mkdir "$tmp/www" && mkfifo "$tmp/hold" || exit 2
/usr/bin/python3 "$root/tests/e2e/httpd.py" "$tmp/www" 600 <"$tmp/hold" >"$tmp/port" \
	2>"$tmp/httpd.log" &
hpid=$!
exec 3>"$tmp/hold"
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(head -n 1 "$tmp/port")
[ -n "$port" ] || echo "bench-wine: httpd.py did not start: no BITS round trips" >&2

rc=0
calls=2000
[ -n "$quick" ] && calls=500
echo "==== callback_bench.exe ($calls calls per case)"
"$here/wine-run.sh" build/mingw/bin/callback_bench.exe \
	"$(winpath "$tmp/callback_bench.json")" $calls >"$tmp/callback.txt" 2>&1 || rc=$?
tr -d '\r' <"$tmp/callback.txt"
[ $rc = 0 ] || echo "bench-wine: callback_bench.exe exited $rc" >&2

echo "==== wine_bench.exe"
wrc=0
"$here/wine-run.sh" build/mingw/bench/wine_bench.exe $quick --out "$(winpath "$tmp/wine.json")" \
	--callback-json "$(winpath "$tmp/callback_bench.json")" ${port:+--bits-port "$port"} \
	>"$tmp/wine.txt" || wrc=$?
{
	tr -d '\r' <"$tmp/callback.txt"
	tr -d '\r' <"$tmp/wine.txt"
} >build/bench/wine.txt
tr -d '\r' <"$tmp/wine.txt"
[ -f "$tmp/wine.json" ] && tr -d '\r' <"$tmp/wine.json" >build/bench/wine.json &&
	echo "copied to build/bench/wine.json"
[ $wrc = 0 ] || rc=$wrc

# The DO path: JobError across processes from the DO service emulator,
# the broker against a no-op callback (scripts/bench-do.sh).
"$here/wine-stop.sh"
drc=0
if [ -n "$quick" ]; then
	sh "$here/bench-do.sh" 30 4 40 10 || drc=$?
else
	sh "$here/bench-do.sh" 60 63 || drc=$?
fi
[ $drc = 0 ] || { echo "bench-wine: bench-do.sh exited $drc" >&2; rc=$drc; }
exit $rc
