#!/bin/sh
# tests/e2e/do_activate.sh - issue 11: the service starts the broker. A job
# fails while no broker runs; its BITS_JOB_PROPERTY_NOTIFICATION_CLSID is
# the broker's class, so the DO service emulator (doemu.exe, as DO in the
# Wine prefix) creates it, COM starts dobrokerd.exe with the options of
# `dobrokerd register-com`, and the JobError it gets is an episode a
# subscriber receives when it connects.
#   1. register-com refuses a command among the options, unregister-com
#      takes none; register-com with the broker's options;
#   2. a broker with --com-server serves its class; a job submitted through
#      it gets the class as its notification class (the emulator's log
#      says so, across processes through doemuprx.dll's Job5 proxy);
#   3. the broker is killed (taskkill /F), the emulator stopped: it kept the
#      job (persist) and its properties (FILE.props); the prefix's
#      wineserver is restarted (a reboot: Wine keeps a killed process's
#      class object registered);
#   4. a new emulator whose scenario fails the job at once: no callback is
#      alive, so it creates the broker's class; COM starts a broker (its
#      log: started by COM), the JobError is answered S_OK;
#   5. a watcher connecting afterwards receives the episode, once;
#   6. the activated broker is stopped (taskkill /F by its pid from its
#      log), the class unregistered.
# Every wait is for a condition. Ends with "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init do_activate

e2e_deadline 240
T=$E2E_TMP
PIPE=dobroker-e2e-doact-$$
CLASS='{AFF11773-A2C5-4781-BB82-E2BE343E212C}'
mkdir "$T/state" "$T/dl" || exit 2
for exe in dobrokerd.exe dobctl.exe doemu.exe doemuprx.dll; do
	[ -f "$E2E_BIN/$exe" ] || { e2e_fail "build/mingw/bin/$exe exists"; e2e_finish; }
done

emu() {
	"$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1
}
brokerd() {
	"$WINE" "$E2E_BIN/dobrokerd.exe" "$@" </dev/null >"$T/brokerd.out" 2>"$T/brokerd.err"
}
# The activated broker's Windows pid, from its log.
act_pid() {
	sed -n 's/^[^ ]* dobrokerd\[\([0-9]*\)\].*/\1/p' "$T/activated.log" 2>/dev/null | head -n 1
}
do_exit() {
	do_rc=$?
	p=$(act_pid)
	[ -n "$p" ] && "$WINE" taskkill /F /PID "$p" >/dev/null 2>&1
	emu --stop --as-do
	emu --unregister --as-do --machine
	"$WINE" "$E2E_BIN/dobrokerd.exe" unregister-com --machine </dev/null >/dev/null 2>&1
	(exit $do_rc)
	e2e_cleanup
}
trap do_exit EXIT

ctl() {
	e2e_dobctl --endpoint "$PIPE" --timeout 20000 "$@" >"$T/ctl.out" 2>"$T/ctl.err"
	ctl_rc=$?
	tr -d '\r' <"$T/ctl.out"
	return $ctl_rc
}
IS_ERR='e["type"] == "job_error" and e["job"]["job_id"] == a[0]'

echo "do_activate: a failed job starts the broker through its notification class"
e2e_wine_fresh
cat >"$T/scenario1.txt" <<SCN
persist $(e2e_winpath "$T/jobs.txt")
repeat 2s..3s
rule "*/late/*" hang size=64K
SCN
emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scenario1.txt")" \
	--log "$(e2e_winpath "$T/doemu.log")" || { e2e_fail "doemu.exe registers"; e2e_finish; }

echo "-- 1. register-com"
brokerd register-com --machine --backend do install
e2e_eq "1. register-com refuses a command among the options (exit)" "$?" 1
e2e_check "1. ... and says why" e2e_has "$T/brokerd.err" "'install' is a command, not a broker option"
brokerd unregister-com --machine extra
e2e_eq "1. unregister-com takes no arguments (exit)" "$?" 1
# The options in a config file: Wine 8's COM reads at most 260 characters
# of LocalServer32 (a longer command line is REGDB_E_CLASSNOTREG).
cat >"$T/broker.conf" <<CONF
endpoint = \\\\.\\pipe\\$PIPE
state-dir = $(e2e_winpath "$T/state")
sweep-interval-ms = 600000
log-level = debug
log-file = $(e2e_winpath "$T/activated.log")
CONF
# --machine: Wine 8's COM reads classes from the machine's key only.
brokerd register-com --machine --backend do --config "$(e2e_winpath "$T/broker.conf")"
e2e_eq "1. register-com with the broker's options (exit)" "$?" 0
e2e_check "1. ... registers dobrokerd.exe --com-server" \
	e2e_has "$T/brokerd.out" "registered the broker's class for every user: .*dobrokerd.exe\" --com-server --backend do --config"

echo "-- 2. a broker serving its class; a job gets it as its notification class"
# The same settings, but its own log (stderr) and no log-file.
if ! e2e_broker_start broker --com-server --backend do --endpoint "\\\\.\\pipe\\$PIPE" \
	--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms 600000; then
	e2e_fail "dobrokerd.exe --com-server starts" "$(tail -n 5 "$T/broker.err")"
	e2e_finish "$T/broker.err" "$T/doemu.log"
fi
e2e_check "2. the broker serves its class" \
	e2e_wait 15 e2e_has "$T/broker.err" "serving the broker's class $CLASS"
jobA=$(ctl --name s submit "http://127.0.0.1:1/late/a.bin" "$(e2e_winpath "$T/dl/a.bin")")
e2e_check "2. submit ($jobA)" test -n "$jobA"
e2e_check "2. the broker set its class on the job" \
	e2e_wait 15 e2e_has "$T/broker.err" "job $jobA: the broker's class is its notification class"
e2e_check "2. the emulator got it through Job5's proxy" \
	e2e_has "$T/doemu.log" "job $jobA: SetProperty\\(NOTIFICATION_CLSID, $CLASS\\)"

echo "-- 3. the broker killed, the service stopped"
"$WINE" taskkill /F /PID "$E2E_BROKER_WINPID" >"$T/taskkill.out" 2>&1
e2e_check "3. taskkill /F ends the broker" e2e_wait 30 eval '! e2e_alive "$E2E_BROKER_PID"'
emu --stop --as-do
e2e_check "3. the emulator stops" e2e_wait 30 e2e_has "$T/doemu.log" "callbacks: .* made"
e2e_check "3. it kept the job's notification class" \
	e2e_has "$T/jobs.txt.props" "$jobA .*clsid=$CLASS"
# As after a reboot: under Wine 8 the class object of a killed process
# stays registered in rpcss (an activation then fails with
# RPC_S_SERVER_UNAVAILABLE instead of starting the server again; Windows
# drops it with the process), so the prefix's wineserver is restarted.
"$E2E_ROOT/scripts/wine-stop.sh"

echo "-- 4. the job fails with no broker running: the service starts one"
cat >"$T/scenario2.txt" <<SCN
persist $(e2e_winpath "$T/jobs.txt")
repeat 2s..3s
rule "*/late/*" hang size=64K
# the job comes from the persist file; this line only names it for 'at'
job $jobA state=suspended
at 0s $jobA error http=404
SCN
e2e_bg emu2 "$WINE" "$E2E_BIN/doemu.exe" --as-do --scenario "$(e2e_winpath "$T/scenario2.txt")" \
	--log "$(e2e_winpath "$T/doemu2.log")"
e2e_check "4. the emulator activated the broker's class and JobError answered S_OK" \
	e2e_wait 90 e2e_has "$T/doemu2.log" \
	"job $jobA: no live callback; activated its notification class $CLASS: JobError answered 0x00000000"
e2e_check "4. COM started a broker, which serves the class" \
	e2e_wait 30 e2e_has "$T/activated.log" "serving the broker's class $CLASS \\(this broker was started by COM\\)"
e2e_check "4. ... and listens on the pipe" e2e_wait 30 e2e_has "$T/activated.log" " listening on "
e2e_check "4. the service created its class" \
	e2e_has "$T/activated.log" "the service created the broker's class"

echo "-- 5. a watcher connecting afterwards receives the episode"
e2e_bg w1 "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name w1 watch --json
e2e_check "5. the JobError of the job reaches the watcher" \
	e2e_wait 30 e2e_jhas "$T/w1.out" "$IS_ERR"' and e["error"]["hresult"] == "0x80190194"' "$jobA"
e2e_eq "5. one episode" "$(e2e_jcount "$T/w1.out" "$IS_ERR" "$jobA")" 1

echo "-- 6. the activated broker stopped, the class unregistered"
p=$(act_pid)
if [ -n "$p" ]; then "$WINE" taskkill /F /PID "$p" >"$T/taskkill2.out" 2>&1; else false; fi
e2e_eq "6. taskkill /F /PID $p ends the activated broker (exit)" "$?" 0
brokerd unregister-com --machine
e2e_eq "6. unregister-com (exit)" "$?" 0
brokerd unregister-com --machine
e2e_eq "6. unregister-com again: not registered (exit)" "$?" 1

e2e_finish "$T/broker.err" "$T/activated.log" "$T/doemu.log" "$T/doemu2.log"
