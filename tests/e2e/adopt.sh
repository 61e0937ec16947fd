#!/bin/sh
# tests/e2e/adopt.sh - issue 11: adopting without stealing. An app
# (adopt_probe.exe) makes a job and registers a callback of its own; the
# broker adopts the job (dobctl adopt), which registers the broker's
# callback (the service keeps one per job: the last one wins). The broker
# read the app's callback first (GetNotifyInterface) and forwards every
# notification to it after handling it, so the app keeps hearing of its job:
#   A. with Wine's real BITS: the app's job transfers, the broker's watcher
#      gets JobTransferred from the broker's callback, and the app gets
#      JobTransferred too (BITS called only the broker);
#   B. with the DO service emulator (registered as DO in the prefix): the
#      app's job fails (HTTP 404), the watcher gets the JobError episode
#      through the cross-process callback, and the app gets JobError
#      (0x80190194) forwarded.
# Ends with "N passed, N failed". The emulator is unregistered at exit.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init adopt

e2e_deadline 120
T=$E2E_TMP
PIPE=dobroker-e2e-adopt-$$
mkdir "$T/state" "$T/dl" || exit 2
for exe in dobrokerd.exe dobctl.exe doemu.exe doemuprx.dll adopt_probe.exe; do
	[ -f "$E2E_BIN/$exe" ] || { e2e_fail "build/mingw/bin/$exe exists"; e2e_finish; }
done

emu() {
	"$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1
}
do_exit() {
	do_rc=$?
	exec 8>&- 2>/dev/null
	emu --stop --as-do
	emu --unregister --as-do --machine
	(exit $do_rc)
	e2e_cleanup
}
trap do_exit EXIT

IS_ERR='e["type"] == "job_error" and e["job"]["job_id"] == a[0]'
IS_XFER='e["type"] == "job_transferred" and e["job"]["job_id"] == a[0]'

# probe NAME bits|do URL: starts adopt_probe.exe fed from a fifo (fd 8);
# its output is $T/NAME.out; sets JOB.
probe() {
	mkfifo "$T/$1.in" || return 1
	"$WINE" "$E2E_BIN/adopt_probe.exe" "$2" "$3" "$(e2e_winpath "$T/dl/$1.bin")" \
		<"$T/$1.in" >"$T/$1.out" 2>"$T/$1.err" &
	E2E_PIDS="$E2E_PIDS $!"
	exec 8>"$T/$1.in"
	e2e_wait 20 e2e_has "$T/$1.out" '^JOB ' || return 1
	JOB=$(sed -n 's/^JOB \(.*\)\r*$/\1/p' "$T/$1.out" | tr -d '\r' | head -n 1)
}
say() { # NAME COMMAND EXPECTED-REGEX: sends a command, waits for the answer
	echo "$2" >&8
	e2e_wait 70 e2e_has "$T/$1.out" "$3"
}
broker() { # NAME BACKEND
	rm -rf "$T/state" && mkdir "$T/state"
	e2e_broker_start "$1" --backend "$2" --endpoint "\\\\.\\pipe\\$PIPE" \
		--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms 600000 || return 1
	BROKER=$E2E_BROKER_PID
	e2e_bg "w_$1" "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name "w_$1" watch --json
	e2e_wait 15 e2e_has "$T/$1.err" "hello from 'w_$1'"
}
adopt() {
	e2e_dobctl --endpoint "$PIPE" --timeout 15000 adopt "$1" </dev/null >"$T/adopt.out" 2>&1
}

echo "adopt: the broker adopts an app's job without taking its notifications away"
e2e_httpd || { e2e_fail "httpd.py starts"; e2e_finish; }
e2e_wine_fresh
head -c 30000 /dev/urandom >"$E2E_WWW/a.bin"

echo "-- A. Wine's BITS"
broker b1 bits || { e2e_fail "A. the broker starts" "$(cat "$T/b1.err")"; e2e_finish; }
if probe pa bits "http://127.0.0.1:$E2E_PORT/a.bin"; then
	e2e_pass "A. the app made its job $JOB with its own callback"
	e2e_check "A. adopt" adopt "$JOB"
	e2e_check "A. the broker found the app's callback" \
		e2e_has "$T/b1.err" "BITS: the job had a callback of its own"
	e2e_check "A. the service now calls the broker's callback (last one wins)" \
		say pa owner '^OWNER other'
	say pa resume '^RESUMED 0x00000000'
	e2e_check "A. the broker's watcher gets JobTransferred" \
		e2e_wait 30 e2e_jhas "$T/w_b1.out" "$IS_XFER" "$JOB"
	e2e_check "A. the app gets JobTransferred too (forwarded)" say pa wait '^GOT transferred'
	echo quit >&8
else
	e2e_fail "A. adopt_probe.exe makes its job" "$(cat "$T/pa.out" "$T/pa.err")"
fi
exec 8>&-
kill "$BROKER" 2>/dev/null
e2e_wait 15 eval '! e2e_alive "$BROKER"'

echo "-- B. the DO service emulator"
printf 'rule "*/missing/*" error http=404 after=200ms\nrepeat off\ndefault ok after=200ms\n' \
	>"$T/scenario.txt"
emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scenario.txt")" \
	--log "$(e2e_winpath "$T/doemu.log")"
broker b2 do || { e2e_fail "B. the broker starts" "$(cat "$T/b2.err")"; e2e_finish; }
if probe pb do "http://127.0.0.1:1/missing/b.bin"; then
	e2e_pass "B. the app made its DO job $JOB with its own callback"
	e2e_check "B. adopt" adopt "$JOB"
	e2e_check "B. the broker found the app's callback" \
		e2e_has "$T/b2.err" "DO: the job had a callback of its own"
	say pb resume '^RESUMED 0x00000000'
	e2e_check "B. the broker's watcher gets the JobError episode" \
		e2e_wait 30 e2e_jhas "$T/w_b2.out" "$IS_ERR" "$JOB"
	e2e_check "B. the app gets JobError too (forwarded, 0x80190194)" \
		say pb wait '^GOT error 0x80190194'
	echo quit >&8
else
	e2e_fail "B. adopt_probe.exe makes its job" "$(cat "$T/pb.out" "$T/pb.err")"
fi

e2e_finish "$T/b1.err" "$T/b2.err" "$T/pa.out" "$T/pb.out" "$T/doemu.log"
