#!/bin/sh
# tests/e2e/broker_do.sh - issue 11: the real dobrokerd.exe --backend do
# (and auto) under Wine against the DO service emulator (doemu.exe, a COM
# local server registered as CLSID_DeliveryOptimization in the test
# prefix), so every DO call and every callback crosses a process boundary
# through COM's marshalling. dobctl.exe clients watch (--json) and act.
#
# The reconcile sweep is set to ten minutes, far longer than the test: every
# error below reaches the broker through the emulator's cross-process
# JobError, not through a sweep.
#   1. a download failing with HTTP 404: one JobError episode with DO's
#      context (NONE), the failing file, backend "do"; the
#      emulator calls again while the job stays in ERROR and the repeats are
#      counted on the episode (a watcher connecting later sees them), never
#      sent as new episodes;
#   2. HTTP 403: context REMOTE_FILE;
#   3. every action: resume (the next attempt succeeds: JobTransferred
#      through the callback), complete (the file appears), cancel, complete
#      of a failed download (BG_S_PARTIAL_COMPLETE), suspend; an action on
#      a final job is refused by the emulator with DO_E_INVALID_STATE;
#   4. adopt of a job the emulator had before the broker started (a scenario
#      `job` line in ERROR): the episode arrives through JobError at once;
#   4b. JobError while the broker is inside Cancel on the same job: the
#      emulator holds the Cancel 8 s and the job fails 3 s after its start;
#      the episode arrives during the call, every callback is answered S_OK,
#      and the cancel's result (OK, CANCELLED) comes after;
#   5. --backend auto picks DO (the emulator) over Wine's BITS;
#   6. --do-clsid: the emulator registered under its own class (as on a
#      real Windows machine, beside the real DO), and the broker told to use
#      it: a JobError arrives through it.
# Ends with "N passed, N failed"; exits 1 when anything failed. The emulator
# is unregistered when the script exits, whatever happens.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init broker_do

e2e_deadline 150
T=$E2E_TMP
SWEEP_MS=600000
PIPE=dobroker-e2e-do-$$
PRE={6B29FC40-CA47-1067-B31D-00DD010662DA}
mkdir "$T/state" "$T/dl" || exit 2

for exe in dobrokerd.exe dobctl.exe doemu.exe doemuprx.dll; do
	if [ ! -f "$E2E_BIN/$exe" ]; then
		e2e_fail "build/mingw/bin/$exe exists (make CROSS=x86_64-w64-mingw32-)"
		e2e_finish
	fi
done

emu() { # doemu.exe ARGS: registration, stop
	"$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1
}
# Unregister first, then lib.sh's cleanup (processes, Wine, temp dir).
do_exit() {
	do_rc=$?
	emu --stop --as-do
	emu --stop
	emu --unregister --as-do --machine
	emu --unregister --machine
	(exit $do_rc)
	e2e_cleanup
}
trap do_exit EXIT

cat >"$T/scenario.txt" <<SCN
repeat 700ms..900ms
complete writes=url
rule "*/missing/*" error http=404 after=100ms
rule "*/forbidden/*" error http=403 after=100ms
rule "*/once/*" error http=503 after=100ms times=1
rule "*/race/*" error http=404 after=3s
fault cancel #5 delay=8s
job $PRE name="made before the broker" state=error http=404 description="Not Found (pre-existing)"
file $PRE http://127.0.0.1:1/missing/pre.bin $(e2e_winpath "$T/dl/pre.bin") size=64K done=1K
default ok after=200ms size=8K
SCN

start_broker() { # LOGNAME BACKEND
	e2e_broker_start "$1" --backend "$2" --endpoint "\\\\.\\pipe\\$PIPE" \
		--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms "$SWEEP_MS"
}

ctl() { # dobctl.exe on our pipe: its stdout without \r
	e2e_dobctl --endpoint "$PIPE" --timeout 15000 "$@" >"$T/ctl.out"
	ctl_rc=$?
	tr -d '\r' <"$T/ctl.out"
	return $ctl_rc
}

watcher() { # NAME [WATCH ARGS]
	w_name=$1
	shift
	e2e_bg "$w_name" "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name "$w_name" \
		watch --json "$@"
	e2e_wait 15 e2e_has "$T/$broker_log" "hello from '$w_name'" ||
		e2e_fail "watcher $w_name connects" "$(cat "$T/$w_name.err")"
}

submit() { # NAME PATH-ON-SERVER: prints the new job's id
	ctl --name submitter submit "http://127.0.0.1:1/$2" "$(e2e_winpath "$T/dl/$(basename "$2")")" \
		--name "$1"
}

IS_ERR='e["type"] == "job_error" and e["job"]["job_id"] == a[0]'
IS_RES='e["type"] == "resolution" and e["job_id"] == a[0]'
IS_XFER='e["type"] == "job_transferred" and e["job"]["job_id"] == a[0]'
err_field() { e2e_json "$T/$1.out" "$IS_ERR" "$3" "$2"; }
wait_err() { e2e_wait "${3:-15}" e2e_jhas "$T/$1.out" "$IS_ERR" "$2"; }
wait_xfer() { e2e_wait "${3:-15}" e2e_jhas "$T/$1.out" "$IS_XFER" "$2"; }
wait_res() { e2e_wait "${3:-15}" e2e_jhas "$T/$1.out" "$IS_RES" "$2"; }

echo "broker_do: dobrokerd.exe --backend do under Wine ($WINEPREFIX) against doemu.exe"
e2e_wine_fresh
if emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scenario.txt")" \
	--log "$(e2e_winpath "$T/doemu.log")"; then
	e2e_pass "doemu.exe registers as CLSID_DeliveryOptimization in the test prefix"
else
	e2e_fail "doemu.exe registers" "$(cat "$T/doemu-ctl.log")"
	e2e_finish
fi
broker_log=broker1.err
if ! start_broker broker1 do; then
	e2e_fail "dobrokerd.exe --backend do starts against the emulator" "$(cat "$T/broker1.err")"
	e2e_finish "$T/broker1.err" "$T/doemu.log"
fi
e2e_pass "dobrokerd.exe --backend do starts (COM started the emulator)"
e2e_check "the broker says it uses DO" e2e_has "$T/broker1.err" 'backend do: using DO'
watcher w1

# ---------------------------------------------------------------- 1
echo "-- 1. HTTP 404 through the cross-process JobError (sweep: ${SWEEP_MS} ms)"
job404=$(submit e2e-404 missing/a.bin)
if wait_err w1 "$job404"; then
	e2e_pass "1. a JobError arrives for $job404, with no sweep in the test's time"
else
	e2e_fail "1. a JobError arrives for $job404"
fi
e2e_eq "1. hresult, context, state, backend" \
	"$(err_field w1 "$job404" '"%s %s %s %s" % (e["error"]["hresult"], e["error"]["context"],
		e["job"]["state"], e["backend"])')" \
	"0x80190194 NONE ERROR do"
e2e_eq "1. description (the broker's text for the code; see 4)" \
	"$(err_field w1 "$job404" 'e["error"]["description"]')" "HTTP 404 (BG_E_HTTP_ERROR_404)"
e2e_eq "1. the failing file's URL" \
	"$(err_field w1 "$job404" 'e["error"]["file"]["remote_url"]')" "http://127.0.0.1:1/missing/a.bin"
ep404=$(err_field w1 "$job404" 'e["episode_id"]')
# The emulator calls JobError again every 700-900 ms while the job stays
# in ERROR: counted on the episode, not sent again.
e2e_wait 15 e2e_has "$T/broker1.err" "repeat"
sleep_until_repeats() { # a late watcher sees repeat_count >= 2
	rm -f "$T/w_late.out"
	e2e_dobctl --endpoint "$PIPE" --name w_late --timeout 5000 watch --json --job "$job404" \
		--count 1 >"$T/w_late.out" 2>/dev/null
	e2e_jhas "$T/w_late.out" "$IS_ERR"' and e["repeat_count"] >= 2' "$job404"
}
e2e_check "1. the emulator's repeated JobErrors are counted on the episode (a late watcher)" \
	e2e_wait 20 sleep_until_repeats
e2e_eq "1. ... and it is the same episode" \
	"$(e2e_json "$T/w_late.out" "$IS_ERR" 'e["episode_id"]' "$job404")" "$ep404"
e2e_eq "1. one JobError event per episode for the first watcher" \
	"$(e2e_jcount "$T/w1.out" "$IS_ERR" "$job404")" 1

# ---------------------------------------------------------------- 2
echo "-- 2. HTTP 403: context REMOTE_FILE"
job403=$(submit e2e-403 forbidden/b.bin)
wait_err w1 "$job403"
e2e_eq "2. hresult and context" \
	"$(err_field w1 "$job403" '"%s %s" % (e["error"]["hresult"], e["error"]["context"])')" \
	"0x80190193 REMOTE_FILE"

# ---------------------------------------------------------------- 3
echo "-- 3. every action"
jobonce=$(submit e2e-once once/c.bin)
wait_err w1 "$jobonce"
e2e_eq "3. HTTP 503 on the first attempt" "$(err_field w1 "$jobonce" 'e["error"]["hresult"]')" \
	0x801901F7
out=$(ctl --name fixer act "$jobonce" resume)
e2e_check "3. resume: OK ($out)" eval 'printf "%s" "$out" | grep -q "^resume $jobonce: OK"'
if wait_xfer w1 "$jobonce"; then
	e2e_pass "3. JobTransferred arrives through the cross-process callback"
else
	e2e_fail "3. JobTransferred arrives through the cross-process callback"
fi
out=$(ctl act "$jobonce" complete)
e2e_eq "3. complete" "$out" "complete $jobonce: OK, now ACKNOWLEDGED (hr=0x00000000)"
e2e_check "3. the file appears at its local path" test -s "$T/dl/c.bin"
out=$(ctl act "$job403" cancel)
e2e_eq "3. cancel" "$out" "cancel $job403: OK, now CANCELLED (hr=0x00000000)"
out=$(ctl act "$job404" complete)
e2e_check "3. complete of a failed download: partial ($out)" \
	eval 'printf "%s" "$out" | grep -q "complete $job404: .*ACKNOWLEDGED (hr=0x00200017)"'
jobsus=$(submit e2e-suspend fine/d.bin)
out=$(ctl act "$jobsus" suspend)
e2e_check "3. suspend ($out)" eval 'printf "%s" "$out" | grep -q "^suspend $jobsus: OK"'
ctl act "$jobsus" cancel >/dev/null
ctl act "$jobsus" resume >/dev/null 2>"$T/refused.err"
e2e_eq "3. an action on a job that ended is refused (exit 4: $(tr -d '\r' <"$T/refused.err"))" \
	$? 4

# ---------------------------------------------------------------- 4
echo "-- 4. adopt a job the service had before the broker"
out=$(ctl adopt "$PRE")
e2e_check "4. adopt ($out)" test -n "$out"
if wait_err w1 "$PRE"; then
	e2e_pass "4. its JobError arrives at once through the callback (at-least-once)"
else
	e2e_fail "4. its JobError arrives at once through the callback"
fi
# (its description is the broker's own text: through Wine's qmgrprxy,
# IBackgroundCopyError's string getters fail with RPC_X_NULL_REF_POINTER,
# as they do against Wine's BITS; docs/do-emulator.md)
e2e_eq "4. its error and progress, as the service had them" \
	"$(err_field w1 "$PRE" '"%s %d/%d" % (e["error"]["hresult"],
		e["job"]["progress"]["bytes_transferred"], e["job"]["progress"]["bytes_total"])')" \
	"0x80190194 1024/65536"

# ---------------------------------------------------------------- 4b
echo "-- 4b. JobError while the broker is inside Cancel on the same job"
jobrace=$(submit e2e-race race/f.bin) # the fifth job: fault cancel #5 delay=8s
ctl --name racer act "$jobrace" cancel >"$T/race.out" 2>&1 &
race_pid=$!
if wait_err w1 "$jobrace" 20; then
	e2e_pass "4b. the JobError arrives"
else
	e2e_fail "4b. the JobError arrives"
fi
e2e_check "4b. ... while the Cancel is still inside the service" e2e_alive "$race_pid"
wait "$race_pid"
e2e_check "4b. then the cancel answers OK, CANCELLED ($(tr -d '\r' <"$T/race.out"))" \
	e2e_has "$T/race.out" "^cancel $jobrace: OK, now CANCELLED"
e2e_eq "4b. one episode for it" "$(e2e_jcount "$T/w1.out" "$IS_ERR" "$jobrace")" 1
emu --stats --as-do
e2e_wait 10 e2e_has "$T/doemu.log" "callbacks so far"
e2e_check "4b. the emulator was answered S_OK by every callback so far" \
	e2e_has "$T/doemu.log" "callbacks so far: [0-9]+ made \\([0-9]+ JobError\\), 0 not S_OK"

# ---------------------------------------------------------------- 5
echo "-- 5. --backend auto finds DO (the emulator)"
kill "$E2E_BROKER_PID" 2>/dev/null
e2e_wait 15 eval '! e2e_alive "$E2E_BROKER_PID"'
broker_log=broker2.err
if start_broker broker2 auto; then
	e2e_check "5. auto: using DO" e2e_has "$T/broker2.err" 'backend auto: using DO'
else
	e2e_fail "5. dobrokerd.exe --backend auto starts" "$(cat "$T/broker2.err")"
fi

# ---------------------------------------------------------------- 6
echo "-- 6. --do-clsid: the emulator under its own class"
kill "$E2E_BROKER_PID" 2>/dev/null
e2e_wait 15 eval '! e2e_alive "$E2E_BROKER_PID"'
EMU_CLSID={C95E7682-6FE9-4E6A-AEC0-7A04AA315973}
"$WINE" "$E2E_BIN/dobrokerd.exe" --do-clsid not-a-guid </dev/null >"$T/badclsid.out" 2>&1
e2e_eq "6. --do-clsid with a bad GUID is refused (exit code)" $? 2
e2e_check "6. ... saying why ($(tr -d '\r' <"$T/badclsid.out" | head -n 1))" \
	e2e_has "$T/badclsid.out" "do-clsid: 'not-a-guid' is not a GUID"
e2e_check "6. doemu.exe registers under its own class" \
	emu --register --machine --scenario "$(e2e_winpath "$T/scenario.txt")" \
	--log "$(e2e_winpath "$T/doemu-own.log")"
broker_log=broker3.err
rm -rf "$T/state" && mkdir "$T/state"
if e2e_broker_start broker3 --do-clsid "$EMU_CLSID" --endpoint "\\\\.\\pipe\\$PIPE" \
	--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms "$SWEEP_MS"; then
	e2e_check "6. the broker names the class it uses" \
		e2e_has "$T/broker3.err" "backend do: on the class $EMU_CLSID"
	watcher w3
	job6=$(submit e2e-own missing/e.bin)
	if wait_err w3 "$job6"; then
		e2e_pass "6. a JobError arrives from the emulator's own class"
	else
		e2e_fail "6. a JobError arrives from the emulator's own class"
	fi
	e2e_check "6. it was the second emulator (its log names the job)" \
		e2e_has "$T/doemu-own.log" "$job6"
else
	e2e_fail "6. dobrokerd.exe --do-clsid starts" "$(cat "$T/broker3.err")"
fi

e2e_finish "$T/broker1.err" "$T/broker2.err" "$T/broker3.err" "$T/doemu.log" "$T/doemu-own.log"
