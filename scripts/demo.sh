#!/bin/sh
# scripts/demo.sh - what `make demo` runs after scripts/bootstrap.sh: the
# real thing, narrated, in under a minute after the first build.
#
#   a web server on 127.0.0.1 (tests/e2e/httpd.py) serving an empty folder;
#   dobrokerd.exe --backend bits under Wine, driving Wine's BITS service;
#   a watcher (dobctl.exe watch) whose lines are shown as they come;
#   a download of a file the server does not have (HTTP 404) -> JobError;
#   a controller that puts the file in place, answers resume, waits for
#   JobTransferred and completes the job -> the file and its content.
#
# Needs no terminal (CI=true is fine). Everything it starts (the server,
# Wine and the programs in it) is stopped on any exit. Exit status 0 when
# the download arrived with the served content, 1 otherwise.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/e2e/lib.sh"
cd "$root" || exit 2

say() {
	printf '\n== %s\n' "$1"
	[ -z "${2:-}" ] || printf '   %s\n' "$2"
}

note() { # an indented line, printed as is (Windows paths keep their backslashes)
	printf '   %s\n' "$*"
}

shown=0
# Prints the watcher's lines that were not shown yet.
show_watcher() {
	n=$(e2e_lines "$T/watcher.out")
	if [ "$n" -gt "$shown" ]; then
		sed -n "$((shown + 1)),${n}p" "$T/watcher.out" | tr -d '\r' | sed 's/^/   watcher | /'
		shown=$n
	fi
}

# Gives up with what went wrong: the logs of the broker and the server.
fail() {
	printf '\ndemo: %s\n' "$1"
	for f in broker.err watcher.err httpd.log; do
		[ -s "$T/$f" ] || continue
		echo "---- $f"
		tr -d '\r' <"$T/$f" | tail -n 20
	done
	exit 1
}

watcher_has() { # PATTERN
	e2e_has "$T/watcher.out" "$1"
}

e2e_init demo
T=$E2E_TMP
PIPE=dobroker-demo-$$
mkdir "$T/state" "$T/downloads" || exit 2

echo "dobroker demo: a failing BITS download, reported over a named pipe, fixed by a controller"

say "Building the Windows programs (make CROSS=x86_64-w64-mingw32-)"
if ! make --no-print-directory -j2 CROSS=x86_64-w64-mingw32- all >"$T/build.log" 2>&1; then
	tail -n 30 "$T/build.log"
	fail "the build failed"
fi
note "build/mingw/bin/dobrokerd.exe and dobctl.exe are ready"

say "Starting a web server on 127.0.0.1 that serves an empty folder"
e2e_httpd || fail "the web server did not start"
url=http://127.0.0.1:$E2E_PORT/hello.txt
note "$url does not exist yet: BITS will get 404 Not Found"

say "Starting Wine and the broker: dobrokerd.exe --backend bits" \
	"It creates jobs in Wine's BITS service and reads them every second (Wine's BITS never calls JobError)."
e2e_wine_fresh
e2e_broker_start broker --backend bits --endpoint "\\\\.\\pipe\\$PIPE" \
	--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms 1000 ||
	fail "the broker did not start"
tr -d '\r' <"$T/broker.err" | sed -n 's/.* info \(dobroker .* listening on .*\)/   \1/p'

say "Starting a watcher: dobctl.exe watch" \
	"It subscribes on the pipe and prints every event the broker sends it, one line each."
e2e_bg watcher "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name watcher watch
e2e_wait 15 e2e_has "$T/broker.err" "hello from 'watcher'" || fail "the watcher did not connect"
note "connected"

say "Submitting a download of the missing file: dobctl.exe submit URL PATH"
dest=$(e2e_winpath "$T/downloads/hello.txt")
job=$(e2e_dobctl --endpoint "$PIPE" --name app submit "$url" "$dest" --name demo-download |
	tr -d '\r')
[ -n "$job" ] || fail "submit failed"
note "job $job: $url -> $dest"

say "Waiting for the error: BITS gets 404, the broker's sweep finds the job in ERROR" \
	"and streams a JobError to every subscriber that may see the job."
e2e_wait 20 watcher_has "^ERROR episode [0-9]+ \\$job" || fail "no JobError arrived"
show_watcher
episode=$(tr -d '\r' <"$T/watcher.out" | sed -n "s/^ERROR episode \([0-9]*\) .*/\1/p" | head -n 1)

say "Acting as the controller: putting hello.txt in place on the server, then answering resume"
printf 'Hello from the dobroker demo.\nThis file came over HTTP through Wine'"'"'s BITS, after a 404, a JobError and a resume.\n' \
	>"$E2E_WWW/hello.txt"
note "dobctl.exe act $job resume --episode $episode"
out=$(e2e_dobctl --endpoint "$PIPE" --name controller act "$job" resume --episode "$episode" |
	tr -d '\r')
note "-> $out"
case $out in *": OK, "*) ;; *) fail "resume was refused" ;; esac

say "Waiting for the transfer: every subscriber sees the Resolution, then BITS calls" \
	"the broker's IBackgroundCopyCallback::JobTransferred and the watcher shows it."
e2e_wait 30 watcher_has "^TRANSFERRED \\$job" || fail "the job did not transfer"
show_watcher

say "Completing the job: dobctl.exe act $job complete" \
	"BITS renames its temporary file to the local name only now."
out=$(e2e_dobctl --endpoint "$PIPE" --name controller act "$job" complete | tr -d '\r')
note "-> $out"
[ -f "$T/downloads/hello.txt" ] || fail "the file is not at $T/downloads/hello.txt"

say "The downloaded file, $dest:"
sed 's/^/   | /' "$T/downloads/hello.txt"
cmp -s "$T/downloads/hello.txt" "$E2E_WWW/hello.txt" || fail "the content differs from the served file"
note "(the same bytes the web server served)"

say "The broker's log:"
tr -d '\r' <"$T/broker.err" | sed 's/^[^ ]* dobrokerd\[[0-9]*\] /   /'

say "Done: stopping the watcher, the broker, Wine and the web server."
exit 0
