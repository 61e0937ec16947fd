#!/bin/sh
# scripts/demo.sh - what `make demo` runs after scripts/bootstrap.sh: the
# real thing, narrated, in under a minute after the first build.
#
#   a web server on 127.0.0.1 (tests/e2e/httpd.py) serving an empty folder;
#   dobrokerd.exe --backend bits under Wine, driving Wine's BITS service;
#   a watcher (dobctl.exe watch) whose lines are shown as they come;
#   a download of a file the server does not have (HTTP 404) -> JobError;
#   a controller that puts the file in place, answers resume, waits for
#   JobTransferred and completes the job -> the file and its content;
#   then the DO path: the DO service emulator (doemu.exe) registered as DO in
#   the Wine prefix, dobrokerd.exe --backend do, a download that fails with
#   HTTP 503 -> JobError through the cross-process callback (no sweep),
#   answered with resume -> Resolution, JobTransferred, complete.
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

# ---------------------------------------------------------------- the DO path
emu() {
	"$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1
}
demo_exit() {
	demo_rc=$?
	emu --stop --as-do
	emu --unregister --as-do --machine
	(exit $demo_rc)
	e2e_cleanup
}
trap demo_exit EXIT

say "Now the DO path. Wine has no Delivery Optimization: the DO service emulator" \
	"(doemu.exe, a COM local server) registers as DO in this Wine prefix, with a scenario."
kill "$E2E_BROKER_PID" 2>/dev/null
e2e_wait 15 eval '! e2e_alive "$E2E_BROKER_PID"'
printf 'rule "*/report.pdf" error http=503 after=300ms times=1\nrepeat off\ndefault ok after=300ms\n' \
	>"$T/scenario.txt"
note "scenario: $(tr '\n' ';' <"$T/scenario.txt")"
emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scenario.txt")" \
	--log "$(e2e_winpath "$T/doemu.log")" || fail "doemu.exe --register failed"
mkdir "$T/state-do" || exit 2
e2e_broker_start broker-do --backend do --endpoint "\\\\.\\pipe\\$PIPE-do" \
	--state-dir "$(e2e_winpath "$T/state-do")" --sweep-interval-ms 600000 ||
	fail "dobrokerd.exe --backend do did not start"
tr -d '\r' <"$T/broker-do.err" | sed -n 's/.* info \(backend do: .*\)/   \1/p'
note "(its sweep runs every 10 minutes: what follows comes through DO's callbacks)"
shown=0
e2e_bg watcher-do "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE-do" --name watcher watch
e2e_wait 15 e2e_has "$T/broker-do.err" "hello from 'watcher'" || fail "the watcher did not connect"
show_do() {
	n=$(e2e_lines "$T/watcher-do.out")
	if [ "$n" -gt "$shown" ]; then
		sed -n "$((shown + 1)),${n}p" "$T/watcher-do.out" | tr -d '\r' | sed 's/^/   watcher | /'
		shown=$n
	fi
}
do_has() { e2e_has "$T/watcher-do.out" "$1"; }

say "Submitting a download the scenario fails once with HTTP 503"
dest=$(e2e_winpath "$T/downloads/report.pdf")
job=$(e2e_dobctl --endpoint "$PIPE-do" --name app submit "https://example.com/report.pdf" "$dest" \
	--name demo-do | tr -d '\r')
[ -n "$job" ] || fail "submit failed"
note "job $job"
say "The emulator calls the broker's IBackgroundCopyCallback::JobError across processes;" \
	"the broker returns S_OK at once and streams the episode to the watcher."
e2e_wait 20 do_has "^ERROR episode [0-9]+ \\$job" || fail "no JobError arrived"
show_do
episode=$(tr -d '\r' <"$T/watcher-do.out" | sed -n "s/^ERROR episode \([0-9]*\) .*/\1/p" | head -n 1)
say "Answering resume: dobctl.exe act $job resume --episode $episode"
out=$(e2e_dobctl --endpoint "$PIPE-do" --name controller act "$job" resume --episode "$episode" |
	tr -d '\r')
note "-> $out"
e2e_wait 20 do_has "^TRANSFERRED \\$job" || fail "the DO job did not transfer"
show_do
out=$(e2e_dobctl --endpoint "$PIPE-do" --name controller act "$job" complete | tr -d '\r')
note "complete -> $out"
say "What the emulator saw (its log):"
tr -d '\r' <"$T/doemu.log" | sed 's/^[^ ]* doemu\[[0-9]*\] /   /'

say "Done: stopping the watchers, the brokers, the emulator, Wine and the web server."
exit 0
