#!/bin/sh
# tests/e2e/broker_bits.sh - issue 4, "Tests under Wine" 1-5, end to end:
# the real dobrokerd.exe (--backend bits) under Wine against Wine's BITS
# service, dobctl.exe clients (watchers writing --json lines to files, act
# commands), and tests/e2e/httpd.py on 127.0.0.1.
#
#   1. a download of a missing file: the sweep finds the error (Wine's BITS
#      never calls JobError) and every watcher gets one JobError with
#      0x80190194, REMOTE_FILE, the broker's descriptions (Wine has none),
#      the URL and the local name;
#   2. the file put in place, resume: Resolution with the COM result, then
#      JobTransferred from the real callback, then complete: the file holds
#      the served bytes;
#   3. cancel (CANCELLED to both watchers), complete on a failed download
#      (BG_S_PARTIAL_COMPLETE, ACKNOWLEDGED), an unknown job (exit 4,
#      UNKNOWN_JOB);
#   4. two controllers race, as two `act` processes and as two
#      `watch --on-error=resume`: one OK, one ALREADY_RESOLVED, one Resume
#      served by BITS;
#   5. the broker killed (taskkill /F) with an episode pending and started
#      again on its state dir: the episode is replayed and resolved, the job
#      re-attached through GetJob, its transfer reported by the new callback;
#   6. a second broker in --mode service (its own pipe and state dir, beside
#      the first, so Wine's session and its BITS stay up) creates a client's
#      job as the client (backend submit_as): under Wine every client has
#      the broker's own token, so no impersonation is needed and the job is
#      created, served and completed; that a client whose token differs is
#      impersonated is Windows' to show (tests/windows/acceptance_test.c).
#
# What reached BITS is read from Wine's own trace of the service
# (WINEDEBUG=trace+qmgr, see e2e_wine_fresh in lib.sh), not from the broker.
# Ends with "N passed, N failed"; exits 1 when anything failed. Takes about
# 30 s (a first run also creates the Wine prefix).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init broker_bits

e2e_deadline 100 # when BITS stops answering, fail within about two minutes
T=$E2E_TMP
SWEEP_MS=500
PIPE=dobroker-e2e-$$
bits=$T/bits.log # Wine's trace of the BITS service
mkdir "$T/state" "$T/dl" || exit 2

for exe in dobrokerd.exe dobctl.exe; do
	if [ ! -f "$E2E_BIN/$exe" ]; then
		e2e_fail "build/mingw/bin/$exe exists (make CROSS=x86_64-w64-mingw32-)"
		e2e_finish
	fi
done

start_broker() { # LOGNAME (at debug: the watchers' "hello from" lines are debug lines)
	e2e_broker_start "$1" --backend bits --endpoint "\\\\.\\pipe\\$PIPE" \
		--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms "$SWEEP_MS" \
		--log-level debug
}

ctl() { # dobctl.exe on our pipe: its stdout without Windows' \r, its exit code
	ctl_ms=$(e2e_left_ms)
	[ "$ctl_ms" -lt 15000 ] || ctl_ms=15000
	if [ "$ctl_ms" -lt 1000 ]; then
		echo "     (dobctl.exe $* not run: past the script's deadline)" >&2
		return 5
	fi
	e2e_dobctl --endpoint "$PIPE" --timeout "$ctl_ms" "$@" >"$T/ctl.out"
	ctl_rc=$?
	tr -d '\r' <"$T/ctl.out"
	case $ctl_rc in
	0 | 4) ;;
	*) echo "     (dobctl.exe $* exited $ctl_rc)" ;;
	esac >&2
	return $ctl_rc
}

watcher() { # NAME [WATCH ARGS]: a --json watcher in the background
	w_name=$1
	shift
	e2e_bg "$w_name" "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name "$w_name" \
		watch --json "$@"
	e2e_wait 10 e2e_has "$T/$broker_log" "hello from '$w_name'" ||
		e2e_fail "watcher $w_name connects" "$(cat "$T/$w_name.err")"
}

submit() { # NAME FILE: prints the new job's id
	ctl --name submitter submit "http://127.0.0.1:$E2E_PORT/$2" "$(e2e_winpath "$T/dl/$2")" \
		--name "$1"
}

# The JSON of events of one kind about one job in a watcher's file.
IS_ERR='e["type"] == "job_error" and e["job"]["job_id"] == a[0]'
IS_RES='e["type"] == "resolution" and e["job_id"] == a[0]'
IS_XFER='e["type"] == "job_transferred" and e["job"]["job_id"] == a[0]'
err_field() { e2e_json "$T/$1.out" "$IS_ERR" "$3" "$2"; }  # WATCHER JOB EXPR
res_field() { e2e_json "$T/$1.out" "$IS_RES" "$3" "$2"; }  # WATCHER JOB EXPR
wait_err() { e2e_wait "${3:-10}" e2e_jhas "$T/$1.out" "$IS_ERR" "$2"; }
wait_res() { e2e_wait "${3:-10}" e2e_jhas "$T/$1.out" "$IS_RES" "$2"; }
wait_xfer() { e2e_wait "${3:-20}" e2e_jhas "$T/$1.out" "$IS_XFER" "$2"; }

is_guid() {
	printf '%s' "$1" | grep -Eqx '\{[0-9A-F]{8}-([0-9A-F]{4}-){3}[0-9A-F]{12}\}'
}

# FILE's bytes are those served as NAME.
same_bytes() { # NAME
	cmp -s "$E2E_WWW/$1" "$T/dl/$1"
}

serve() { # NAME SIZE: random bytes for httpd.py to serve as NAME
	head -c "$2" /dev/urandom >"$E2E_WWW/$1.tmp" && mv "$E2E_WWW/$1.tmp" "$E2E_WWW/$1"
}

echo "broker_bits: dobrokerd.exe --backend bits under Wine ($WINEPREFIX), pipe $PIPE"
e2e_httpd || { e2e_fail "httpd.py starts"; e2e_finish; }
e2e_wine_fresh "$bits"
broker_log=broker1.err
if ! start_broker broker1; then
	e2e_fail "dobrokerd.exe --backend bits starts and listens" "$(cat "$T/broker1.err")"
	e2e_finish "$T/broker1.err"
fi
e2e_pass "dobrokerd.exe --backend bits starts and listens (Windows pid $E2E_BROKER_WINPID)"
# Regression (log.c): the C runtime held a redirected log in its buffer.
e2e_check "its log reaches a redirected stderr while it runs" \
	e2e_has "$T/broker1.err" 'backend bits: using BITS'
watcher w1
w1_pid=$E2E_PID
watcher w2
w2_pid=$E2E_PID

# ---------------------------------------------------------------- 1
echo "-- 1. JobError of a download of a missing file, found by the sweep"
t0=$(e2e_now_us)
jobA=$(submit e2e-a a.bin)
e2e_check "1. submit prints the new job's id ($jobA)" is_guid "$jobA"
if wait_err w1 "$jobA"; then
	e2e_pass "1. a JobError arrives"
else
	e2e_fail "1. a JobError arrives"
fi
epA=$(err_field w1 "$jobA" 'e["episode_id"]')
seen=$(err_field w1 "$jobA" 'e["first_seen_us"]')
ms=$(((${seen:-0} - t0) / 1000))
e2e_check "1. it is found within the sweep interval (${ms} ms after the submit; sweep ${SWEEP_MS} ms)" \
	test -n "$seen" -a "$ms" -ge 0 -a "$ms" -le $((SWEEP_MS + 1000))
e2e_eq "1. hresult" "$(err_field w1 "$jobA" 'e["error"]["hresult"]')" 0x80190194
e2e_eq "1. context" "$(err_field w1 "$jobA" 'e["error"]["context"]')" REMOTE_FILE
e2e_eq "1. job state" "$(err_field w1 "$jobA" 'e["job"]["state"]')" ERROR
e2e_eq "1. display name" "$(err_field w1 "$jobA" 'e["job"]["display_name"]')" e2e-a
e2e_eq "1. the file's URL" "$(err_field w1 "$jobA" 'e["error"]["file"]["remote_url"]')" \
	"http://127.0.0.1:$E2E_PORT/a.bin"
e2e_eq "1. the file's local name" "$(err_field w1 "$jobA" 'e["error"]["file"]["local_name"]')" \
	"$(e2e_winpath "$T/dl/a.bin")"
# Wine's IBackgroundCopyError::GetErrorDescription is E_NOTIMPL (through
# the proxy the broker sees RPC_X_NULL_REF_POINTER): the broker says why in
# field_errors and gives its own text.
desc=$(err_field w1 "$jobA" 'e["error"]["description"]')
e2e_check "1. description: the broker's text, as BITS gave none ('$desc')" \
	e2e_jhas "$T/w1.out" "$IS_ERR"' and "404" in e["error"]["description"] and
		any(f["field"] == "GetErrorDescription" and f["hresult"].startswith("0x8")
		    for f in e["field_errors"])' "$jobA"
e2e_check "1. context description: the broker's text ('$(err_field w1 "$jobA" \
	'e["error"]["context_description"]')')" \
	e2e_jhas "$T/w1.out" "$IS_ERR"' and e["error"]["context_description"] != ""' "$jobA"
e2e_eq "1. backend, replayed, repeats" \
	"$(err_field w1 "$jobA" '"%s %s %d" % (e["backend"], e["replayed"], e["repeat_count"])')" \
	"bits False 0"
e2e_eq "1. the second watcher gets the same episode" "$(err_field w2 "$jobA" 'e["episode_id"]')" \
	"$epA"
e2e_eq "1. one JobError per episode, though the sweep reads the job every ${SWEEP_MS} ms" \
	"$(e2e_jcount "$T/w1.out" "$IS_ERR" "$jobA")" 1

# ---------------------------------------------------------------- 2
echo "-- 2. the file put in place, resume, JobTransferred, complete"
serve a.bin 200000
out=$(ctl --name fixer act "$jobA" resume --episode "${epA:-0}")
e2e_check "2. act resume: OK ($out)" \
	eval 'printf "%s" "$out" | grep -q "^resume $jobA: OK, now [A-Z]* (hr=0x00000000)$"'
wait_res w1 "$jobA"
e2e_eq "2. Resolution: episode, action, by, actor, COM result" \
	"$(res_field w1 "$jobA" '"%d %s %s %s %s" % (e["episode_id"], e["action"],
		e["resolved_by"], e["actor"]["client_name"], e["hresult"])')" \
	"$epA resume controller fixer 0x00000000"
wait_res w2 "$jobA"
e2e_eq "2. the second watcher gets the Resolution" "$(res_field w2 "$jobA" 'e["action"]')" resume
if wait_xfer w1 "$jobA"; then
	e2e_pass "2. JobTransferred arrives (the broker sends it only from the callback)"
else
	e2e_fail "2. JobTransferred arrives (the broker sends it only from the callback)"
fi
# Wine's BITS never fills the job's BytesTotal (BG_SIZE_UNKNOWN throughout).
e2e_eq "2. JobTransferred: state, bytes and files transferred" \
	"$(e2e_json "$T/w1.out" "$IS_XFER" '"%s %d %d/%d" % (e["job"]["state"],
		e["job"]["progress"]["bytes_transferred"], e["job"]["progress"]["files_transferred"],
		e["job"]["progress"]["files_total"])' "$jobA")" \
	"TRANSFERRED 200000 1/1"
e2e_check "2. before complete, the file is not at its local path" test ! -e "$T/dl/a.bin"
out=$(ctl act "$jobA" complete)
e2e_eq "2. act complete" "$out" "complete $jobA: OK, now ACKNOWLEDGED (hr=0x00000000)"
e2e_check "2. the file is at its local path with the served bytes" same_bytes a.bin
# Downloads that succeed at once: BITS may call JobTransferred before the
# broker has the submit's result (regression: such a callback was dropped,
# and BITS never calls it again).
quick=
for k in 1 2 3 4 5 6; do
	serve "q$k.bin" 3000
	quick="$quick $(submit "e2e-q$k" "q$k.bin")"
done
lost=
for j in $quick; do
	wait_xfer w1 "$j" 10 || lost="$lost $j"
done
e2e_check "2. six downloads that succeed at once: every JobTransferred arrives${lost:+ (lost:$lost)}" \
	test -z "$lost"
for j in $quick; do
	ctl act "$j" complete >/dev/null
done

# ---------------------------------------------------------------- 3
echo "-- 3. cancel, complete of a failed download, unknown job"
jobB=$(submit e2e-b b.bin)
jobC=$(submit e2e-c c.bin)
wait_err w1 "$jobB" && wait_err w1 "$jobC" && wait_err w2 "$jobB"
epB=$(err_field w1 "$jobB" 'e["episode_id"]')
epC=$(err_field w1 "$jobC" 'e["episode_id"]')
e2e_check "3. two more JobErrors (episodes ${epB:-none}, ${epC:-none})" test -n "$epB" -a -n "$epC"
out=$(ctl act "$jobB" cancel --episode "${epB:-0}")
e2e_check "3. act cancel: OK, now CANCELLED ($out)" \
	eval 'printf "%s" "$out" | grep -q "^cancel $jobB: OK, now CANCELLED "'
for w in w1 w2; do
	wait_res "$w" "$jobB"
	e2e_eq "3. $w: Resolution cancel, CANCELLED" \
		"$(res_field "$w" "$jobB" '"%s %s %s" % (e["episode_id"], e["action"], e["new_state"])')" \
		"$epB cancel CANCELLED"
done
# do-api.md section 9: Wine's Complete works from any state, moves the
# finished files (none here), answers BG_S_PARTIAL_COMPLETE and sets
# ACKNOWLEDGED.
out=$(ctl act "$jobC" complete --episode "${epC:-0}")
e2e_eq "3. act complete on a failed download: BG_S_PARTIAL_COMPLETE" "$out" \
	"complete $jobC: OK, now ACKNOWLEDGED (hr=0x00200017)"
wait_res w2 "$jobC"
e2e_eq "3. its Resolution: the COM result and ACKNOWLEDGED" \
	"$(res_field w2 "$jobC" '"%s %s %s" % (e["action"], e["hresult"], e["new_state"])')" \
	"complete 0x00200017 ACKNOWLEDGED"
e2e_check "3. no file is left at its local path" test ! -e "$T/dl/c.bin"
ctl act '{0DDBA110-0000-4000-8000-00000000E2E0}' cancel >"$T/unknown.out" 2>"$T/unknown.err"
rc=$?
e2e_eq "3. act on an unknown job: exit 4" "$rc" 4
e2e_check "3. ... and UNKNOWN_JOB ($(tr -d '\r' <"$T/unknown.err"))" e2e_has "$T/unknown.err" UNKNOWN_JOB
ctl act "$jobB" cancel >/dev/null 2>"$T/gone.err"
rc=$?
e2e_check "3. act on the cancelled job, no longer managed: exit 4, UNKNOWN_JOB" \
	eval '[ $rc = 4 ] && e2e_has "$T/gone.err" UNKNOWN_JOB'

# ---------------------------------------------------------------- 4
echo "-- 4. two controllers race"
jobD=$(submit e2e-d d.bin)
wait_err w1 "$jobD"
epD=$(err_field w1 "$jobD" 'e["episode_id"]')
ptrD=$(e2e_bits_job_ptr "$bits" "$jobD")
e2e_check "4. the BITS trace names the job's object ($ptrD)" test -n "$ptrD"
serve d.bin 5000
mark=$(e2e_lines "$bits")
# Two act processes at once.
e2e_bg r1 "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name racer1 act "$jobD" resume \
	--episode "${epD:-0}"
r1=$E2E_PID
e2e_bg r2 "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name racer2 act "$jobD" resume \
	--episode "${epD:-0}"
r2=$E2E_PID
wait "$r1"
rc1=$?
wait "$r2"
rc2=$?
e2e_eq "4. act racers: one exits 0, the other 4" "$(printf '%s\n' "$rc1" "$rc2" | sort | tr '\n' ' ')" \
	"0 4 "
if [ "$rc1" = 0 ]; then win=racer1 lose=r2; else win=racer2 lose=r1; fi
e2e_check "4. the loser is told ALREADY_RESOLVED and who won ($(tr -d '\r' <"$T/$lose.err"))" \
	e2e_has "$T/$lose.err" "ALREADY_RESOLVED.*won by \"$win\""
e2e_eq "4. one decision in the broker's log" \
	"$(grep -c "episode $epD: resolved by controller" "$T/broker1.err")" 1
e2e_eq "4. BITS served one Resume (its own trace)" "$(e2e_bits_calls "$bits" "$mark" Resume "$ptrD")" 1
wait_res w1 "$jobD"
e2e_eq "4. one Resolution, naming the winner" \
	"$(e2e_jcount "$T/w1.out" "$IS_RES" "$jobD") $(res_field w1 "$jobD" 'e["actor"]["client_name"]')" \
	"1 $win"

# Two watch --on-error=resume controllers, both connected when the error
# comes: both answer it. The file appears once one of them has its answer,
# so the resume may meet the 404 again (a new episode, answered by both
# again) before the transfer: every episode must be decided once, and BITS
# must serve exactly as many Resumes as there were decisions.
watcher c1 --on-error=resume
c1=$E2E_PID
watcher c2 --on-error=resume
c2=$E2E_PID
mark=$(e2e_lines "$bits")
jobF=$(submit e2e-f f.bin)
IS_AR='e["type"] == "action_result" and e["job_id"] == a[0]'
e2e_wait 15 e2e_jhas "$T/c1.out" "$IS_AR" "$jobF"
serve f.bin 5000
wait_xfer w1 "$jobF"
e2e_wait 15 e2e_jhas "$T/c2.out" "$IS_AR" "$jobF"
epF=$(err_field w1 "$jobF" 'e["episode_id"]')
ptrF=$(e2e_bits_job_ptr "$bits" "$jobF")
statuses=$(for c in c1 c2; do
	e2e_json "$T/$c.out" "$IS_AR"' and e["episode_id"] == int(a[1])' 'e["status"]' "$jobF" "$epF"
done | sort | tr '\n' ' ')
e2e_eq "4. watch --on-error=resume racers, both answering episode $epF: one OK, one ALREADY_RESOLVED" \
	"$statuses" "ALREADY_RESOLVED OK "
nres=$(e2e_jcount "$T/w1.out" "$IS_RES" "$jobF")
oks() {
	nok=$(($(e2e_jcount "$T/c1.out" "$IS_AR"' and e["status"] == "OK"' "$jobF") +
		$(e2e_jcount "$T/c2.out" "$IS_AR"' and e["status"] == "OK"' "$jobF")))
	[ "$nok" -ge "$nres" ]
}
e2e_wait 5 oks
e2e_eq "4. $(e2e_jcount "$T/w1.out" "$IS_ERR" "$jobF") episode(s): each decided once (Resolutions, OKs)" \
	"$nres $nok" "$(e2e_jcount "$T/w1.out" "$IS_ERR" "$jobF") $nres"
e2e_eq "4. BITS served one Resume per decision (its own trace)" \
	"$(e2e_bits_calls "$bits" "$mark" Resume "$ptrF")" "$((nres + 1))"
# Controllers answer every error: none may be around for item 5.
for c in "$c1" "$c2"; do
	e2e_ours "$c" && kill "$c"
done
wait "$c1" "$c2" 2>/dev/null

# ---------------------------------------------------------------- 5
echo "-- 5. the broker killed with an episode pending, then restarted"
jobE=$(submit e2e-e e.bin)
wait_err w1 "$jobE"
epE=$(err_field w1 "$jobE" 'e["episode_id"]')
ptrE=$(e2e_bits_job_ptr "$bits" "$jobE")
e2e_check "5. episode $epE of job $jobE is pending" test -n "$epE" -a -n "$ptrE"
# A Wine process that outlives the broker (a watcher that reconnects): with
# none left, the wineserver ends the session a few seconds later, BITS and
# its jobs with it, and on a loaded machine the new broker came too late
# (it found a fresh session and none of the jobs).
e2e_bg keepalive "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name keepalive \
	watch --reconnect --kinds resolution
e2e_wait 10 e2e_has "$T/$broker_log" "hello from 'keepalive'" ||
	e2e_fail "the keep-alive watcher connects" "$(cat "$T/keepalive.err")"
"$WINE" taskkill /F /PID "$E2E_BROKER_WINPID" >"$T/taskkill.out" 2>&1
e2e_check "5. taskkill /F /PID $E2E_BROKER_WINPID ends the broker" \
	e2e_wait 10 eval '! e2e_alive "$E2E_BROKER_PID"'
e2e_check "5. the watchers lose it: dobctl watch exits 3" \
	eval 'e2e_wait 10 eval "! e2e_alive $w1_pid && ! e2e_alive $w2_pid" &&
		{ wait "$w1_pid"; r1=$?; wait "$w2_pid"; [ "$r1$?" = 33 ]; }'
mark=$(e2e_lines "$bits")
broker_log=broker2.err
if start_broker broker2; then
	e2e_pass "5. a new broker starts on the same state dir"
else
	e2e_fail "5. a new broker starts on the same state dir" "$(cat "$T/broker2.err")"
fi
e2e_check "5. it replays its journal: 1 pending episode" \
	e2e_has "$T/broker2.err" 'records replayed, [0-9]+ jobs, 1 pending episodes'
watcher w3
wait_err w3 "$jobE"
e2e_eq "5. a new watcher gets the episode again, flagged replayed" \
	"$(err_field w3 "$jobE" '"%d %s %s" % (e["episode_id"], e["replayed"], e["error"]["hresult"])')" \
	"$epE True 0x80190194"
gE=$(printf '%s' "$jobE" | tr 'A-F' 'a-f')
e2e_check "5. the job is re-attached through GetJob (BITS trace)" \
	e2e_wait 5 eval 'tail -n +$((mark + 1)) "$bits" | grep -q "BackgroundCopyManager_GetJob ($gE "'
e2e_check "5. the new broker's callback is set on it (BITS trace)" \
	e2e_wait 5 eval '[ "$(e2e_bits_calls "$bits" "$mark" SetNotifyInterface "$ptrE")" -ge 1 ]'
serve e.bin 123457
out=$(ctl --name fixer2 act "$jobE" resume --episode "${epE:-0}")
e2e_check "5. the replayed episode is resolved: resume OK ($out)" \
	eval 'printf "%s" "$out" | grep -q "^resume $jobE: OK, now "'
wait_res w3 "$jobE"
e2e_eq "5. its Resolution" "$(res_field w3 "$jobE" '"%d %s %s" % (e["episode_id"], e["action"],
	e["actor"]["client_name"])')" "$epE resume fixer2"
if wait_xfer w3 "$jobE"; then
	e2e_pass "5. JobTransferred arrives through the new broker's callback"
else
	e2e_fail "5. JobTransferred arrives through the new broker's callback"
fi
out=$(ctl act "$jobE" complete)
e2e_eq "5. act complete" "$out" "complete $jobE: OK, now ACKNOWLEDGED (hr=0x00000000)"
e2e_check "5. the file is at its local path with the served bytes" same_bytes e.bin

# ---------------------------------------------------------------- 6
echo "-- 6. --mode service: a client's job created as the client"
SPIPE=$PIPE-svc
mkdir "$T/state-svc" || exit 2
mark=$(e2e_lines "$bits")
b2_pid=$E2E_BROKER_PID
if e2e_broker_start broker3 --backend bits --endpoint "\\\\.\\pipe\\$SPIPE" \
	--state-dir "$(e2e_winpath "$T/state-svc")" --sweep-interval-ms "$SWEEP_MS" --mode service; then
	e2e_pass "6. a broker in --mode service starts beside the first"
else
	e2e_fail "6. a broker in --mode service starts beside the first" "$(cat "$T/broker3.err")"
fi
e2e_bg w4 "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$SPIPE" --name w4 watch --json
e2e_wait 10 e2e_has "$T/broker3.err" "hello from 'w4'" ||
	e2e_fail "watcher w4 connects to the service-mode broker" "$(cat "$T/w4.err")"
serve f.bin 54321
jobF=$(e2e_dobctl --endpoint "$SPIPE" --timeout 15000 --name submitter submit \
	"http://127.0.0.1:$E2E_PORT/f.bin" "$(e2e_winpath "$T/dl/f.bin")" --name e2e-f | tr -d '\r')
e2e_check "6. submit through the service-mode broker: a job id ($jobF)" is_guid "$jobF"
e2e_check "6. made as the client: its token is the broker's own under Wine, no impersonation" \
	e2e_has "$T/broker3.err" 'acting as the client: pid [0-9]+ has the broker.s own token'
e2e_check "6. the job reached BITS (CreateJob in its trace)" \
	e2e_wait 5 eval 'tail -n +$((mark + 1)) "$bits" | grep -q "BackgroundCopyManager_CreateJob"'
if wait_xfer w4 "$jobF"; then
	e2e_pass "6. JobTransferred arrives"
else
	e2e_fail "6. JobTransferred arrives"
fi
out=$(e2e_dobctl --endpoint "$SPIPE" --timeout 15000 act "$jobF" complete | tr -d '\r')
e2e_eq "6. act complete" "$out" "complete $jobF: OK, now ACKNOWLEDGED (hr=0x00000000)"
e2e_check "6. the file is at its local path with the served bytes" same_bytes f.bin
e2e_check "6. the first broker is still running" e2e_alive "$b2_pid"

# ---------------------------------------------------------------- all
bad=
for w in w1 w2 w3 w4 c1 c2; do
	e2e_jcount "$T/$w.out" True >/dev/null || bad="$bad $w"
done
e2e_check "every line the watchers printed is JSON${bad:+ (not:$bad)}" test -z "$bad"
e2e_check "the broker is still running" e2e_alive "$E2E_BROKER_PID"
e2e_finish "$T/broker1.err" "$T/broker2.err" "$T/broker3.err" "$T/httpd.log"
