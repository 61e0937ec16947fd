#!/bin/sh
# tests/e2e/do_restart.sh - issue 11: the DO service dies in the middle of a
# call and comes back, with dobrokerd.exe --backend do under Wine against
# the DO service emulator (doemu.exe) whose scenario says
# `fault cancel #1 exit` and `persist FILE` (the service keeps its jobs, not
# the callbacks).
#   1. a job fails (HTTP 404; JobError through the callback) and another
#      one is transferring slowly;
#   2. cancel of the failed job: the emulator's process dies inside Cancel;
#      the broker reports the failed decision (RPC_E_DISCONNECTED or
#      RPC_S_SERVER_UNAVAILABLE) and the episode stays pending;
#   3. cancel again: the broker reconnects (COM starts a new emulator, which
#      loads the jobs it kept), registers its callback again on every job
#      it manages, reconciles, and the cancel is carried out: Resolution OK;
#   4. the slow job ends in the new emulator and its JobTransferred reaches
#      the broker through the callback registered again (the sweep is ten
#      minutes, so nothing else can have found it).
# GetStats' service_restarts is 0 before the service dies and 1 after the
# broker reconnected (`dobctl --json stats`).
# Ends with "N passed, N failed". The emulator is unregistered at exit.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init do_restart

e2e_deadline 120
T=$E2E_TMP
PIPE=dobroker-e2e-dorestart-$$
mkdir "$T/state" "$T/dl" || exit 2
for exe in dobrokerd.exe dobctl.exe doemu.exe doemuprx.dll; do
	[ -f "$E2E_BIN/$exe" ] || { e2e_fail "build/mingw/bin/$exe exists"; e2e_finish; }
done

emu() {
	"$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1
}
do_exit() {
	do_rc=$?
	emu --stop --as-do
	emu --unregister --as-do --machine
	(exit $do_rc)
	e2e_cleanup
}
trap do_exit EXIT

cat >"$T/scenario.txt" <<SCN
persist $(e2e_winpath "$T/jobs.txt")
repeat 5s..6s
rule "*/missing/*" error http=404 after=100ms
rule "*/slow/*" ok after=8s size=64K
fault cancel #1 exit count=1
default ok after=200ms
SCN

ctl() {
	e2e_dobctl --endpoint "$PIPE" --timeout 20000 "$@" >"$T/ctl.out" 2>"$T/ctl.err"
	ctl_rc=$?
	tr -d '\r' <"$T/ctl.out"
	return $ctl_rc
}
IS_ERR='e["type"] == "job_error" and e["job"]["job_id"] == a[0]'
IS_RES='e["type"] == "resolution" and e["job_id"] == a[0]'
IS_XFER='e["type"] == "job_transferred" and e["job"]["job_id"] == a[0]'
restarts() { # GetStats' service_restarts
	ctl --name st --json stats | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["service_restarts"])'
}

echo "do_restart: the DO service emulator dies inside Cancel and comes back"
e2e_wine_fresh
emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scenario.txt")" \
	--log "$(e2e_winpath "$T/doemu.log")" || { e2e_fail "doemu.exe registers"; e2e_finish; }
if ! e2e_broker_start broker --backend do --endpoint "\\\\.\\pipe\\$PIPE" \
	--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms 600000; then
	e2e_fail "dobrokerd.exe --backend do starts" "$(cat "$T/broker.err")"
	e2e_finish "$T/broker.err" "$T/doemu.log"
fi
e2e_bg w1 "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name w1 watch --json
e2e_wait 15 e2e_has "$T/broker.err" "hello from 'w1'"

echo "-- 1. a failed job and a slow one"
jobA=$(ctl --name s submit "http://127.0.0.1:1/missing/a.bin" "$(e2e_winpath "$T/dl/a.bin")")
jobB=$(ctl --name s submit "http://127.0.0.1:1/slow/b.bin" "$(e2e_winpath "$T/dl/b.bin")")
e2e_check "1. the JobError of the failed job arrives" e2e_wait 15 e2e_jhas "$T/w1.out" "$IS_ERR" "$jobA"
e2e_eq "1. GetStats: no service restart yet" "$(restarts)" 0

echo "-- 2. the service dies inside Cancel"
ctl --name c1 act "$jobA" cancel >/dev/null
rc=$?
e2e_check "2. the cancel fails (exit $rc: $(cat "$T/ctl.out" "$T/ctl.err" | tr -d '\r' | head -n 2 | tr '\n' ' '))" \
	test "$rc" != 0
e2e_check "2. ... with the disconnect the service's death causes" \
	e2e_has "$T/broker.err" "cancel (by [^ ]* )?failed: .*(0x800706BE|0x80010108|0x800706BA)"
e2e_check "2. the emulator died inside the call" e2e_has "$T/doemu.log" "exits during a call"
e2e_check "2. the broker saw the service go away" \
	e2e_wait 10 e2e_has "$T/broker.err" "DO: the service went away"
e2e_eq "2. no Resolution: the episode is still pending" \
	"$(e2e_jcount "$T/w1.out" "$IS_RES" "$jobA")" 0

echo "-- 3. cancel again: reconnect, callbacks registered again, cancel carried out"
out=$(ctl --name c2 act "$jobA" cancel)
e2e_eq "3. cancel" "$out" "cancel $jobA: OK, now CANCELLED (hr=0x00000000)"
e2e_eq "3. COM started a second emulator" "$(grep -c ' serving (pid' "$T/doemu.log")" 2
e2e_check "3. the broker registered its callback again on both jobs" \
	e2e_has "$T/broker.err" "the service is back; our callback registered again on 2 of 2 jobs"
e2e_check "3. the Resolution reaches the watcher" \
	e2e_wait 10 e2e_jhas "$T/w1.out" "$IS_RES"' and e["hresult"] == "0x00000000"' "$jobA"
e2e_eq "3. one episode for the failed job, never a second" \
	"$(e2e_jcount "$T/w1.out" "$IS_ERR" "$jobA")" 1
e2e_check "3. GetStats counts the service restart" e2e_wait 10 eval '[ "$(restarts)" = 1 ]'

echo "-- 4. the slow job ends in the new service"
e2e_check "4. its JobTransferred arrives through the callback registered again" \
	e2e_wait 30 e2e_jhas "$T/w1.out" "$IS_XFER" "$jobB"

e2e_finish "$T/broker.err" "$T/doemu.log"
