#!/bin/sh
# scripts/bench-do.sh - the DO callback path, measured under Wine (run by
# scripts/bench-wine.sh; also alone). Every case runs against the DO service
# emulator (doemu.exe, registered as DO in the test prefix), which times
# every JobError from the call to its return on its own notifier thread:
# the service's view, cross-process, marshalling included.
#   baseline  do_noop_client.exe: N jobs whose callback is a no-op object in
#             another process;
#   broker    dobrokerd.exe --backend do with SUBS reading subscribers and one
#             that never reads (do_subs.exe: one process, a thread per
#             subscriber; --max-conns 128, as they are one identity with
#             the submitting client): N jobs submitted through the broker,
#             whose callback takes a reference, queues, returns S_OK;
#   storm     dobrokerd.exe --backend do, STORM jobs failing, the emulator
#             calling JobError for each of them every second, for STORM_S
#             seconds, once per configuration of the broker's COM event
#             workers: 2 or 4 workers reading every JobError in full (2 in
#             full is what the broker did before issue 11), 2 or 4 with
#             repeats read short (2 is the default). Prints the callbacks the
#             emulator made per second, the events the broker took in per
#             second (GetStats.events_in), and the callbacks the broker lost
#             to a full ring (each one a reconcile).
# Prints the emulator's p50/p99/max hold time of the first two cases, and the
# broker's episodes per second at the slowest subscriber. Results also in
# build/bench/do.txt.
#   usage: scripts/bench-do.sh [N] [SUBS] [STORM] [STORM_S] [CONFIGS]
#   (defaults 60 jobs, 63 reading subscribers, 40 storm jobs, 20 s, and the
#   storm configurations "2:1 4:1 2:0 4:0": event workers:full reads)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init bench-do
N=${1:-60}
SUBS=${2:-63}
STORM=${3:-40}
STORM_S=${4:-20}
CONFIGS=${5:-2:1 4:1 2:0 4:0}
T=$E2E_TMP
PIPE=dobroker-bench-do-$$
mkdir -p "$root/build/bench" "$T/state" "$T/dl"
emu() { "$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1; }
bd_exit() {
	bd_rc=$?
	[ -n "${E2E_BROKER_PID:-}" ] && kill "$E2E_BROKER_PID" 2>/dev/null
	emu --stop --as-do
	emu --unregister --as-do --machine
	(exit $bd_rc)
	e2e_cleanup
}
trap bd_exit EXIT
register() { # SCENARIO-TEXT
	printf '%s' "$1" >"$T/scn.txt"
	emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scn.txt")" \
		--log "$(e2e_winpath "$T/doemu.log")" || { echo "bench-do: doemu.exe --register failed"; exit 2; }
}
figures() { # the emulator's latest hold-time line
	n0=$(grep -c 'over the last' "$T/doemu.log" 2>/dev/null)
	emu --stats --as-do
	e2e_wait 10 eval '[ "$(grep -c "over the last" "$T/doemu.log")" -gt "${n0:-0}" ]'
	grep 'over the last' "$T/doemu.log" | tail -n 1 | tr -d '\r' | sed 's/.*callbacks so far/callbacks so far/'
}
made() { printf '%s' "$1" | sed -n 's/callbacks so far: \([0-9]*\) made.*/\1/p'; }
events_in() { # GetStats.events_in (a busy broker may let one dobctl time out: again)
	for ei_try in 1 2 3 4 5; do
		e2e_dobctl --endpoint "$PIPE" --name st --timeout 20000 --json stats 2>/dev/null |
			tr -d '\r' >"$T/stats.json"
		/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["events_in"])' \
			"$T/stats.json" 2>/dev/null && return 0
	done
	echo "bench-do: GetStats failed five times" >&2
	exit 2
}
submit() { # FIRST COUNT PATH-PART
	i=$1
	while [ $i -lt $(($1 + $2)) ]; do
		e2e_dobctl --endpoint "$PIPE" --name app --timeout 15000 \
			submit "http://127.0.0.1:1/$3/$i" "$(e2e_winpath "$T/dl/$3-$i")" >/dev/null 2>&1
		i=$((i + 1))
	done
}
stop_broker() {
	kill "$E2E_BROKER_PID" 2>/dev/null
	e2e_wait 20 eval '! e2e_alive "$E2E_BROKER_PID"'
	E2E_BROKER_PID=
}
start_broker() { # NAME
	rm -rf "$T/state" && mkdir "$T/state"
	e2e_broker_start "$1" --backend do --endpoint "\\\\.\\pipe\\$PIPE" \
		--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms 600000 --max-conns 128 ||
		{ echo "bench-do: the broker did not start"; exit 2; }
}

e2e_wine_fresh
register 'rule "*/bench/*" error http=500 after=100ms
repeat off
modifications off
'

echo "==== DO callback: baseline, a no-op callback in another process ($N jobs)"
"$WINE" "$root/build/mingw/bench/do_noop_client.exe" "$N" | tr -d '\r'
base=$(figures)
echo "     $base"
emu --stop --as-do
e2e_wait 10 e2e_has "$T/doemu.log" "stopping"

echo "==== DO callback: dobrokerd.exe --backend do, $SUBS subscribers reading, 1 never reading ($N jobs)"
start_broker broker
e2e_bg subs "$WINE" "$root/build/mingw/bench/do_subs.exe" "$PIPE" "$SUBS" "$N" 300
e2e_wait 120 e2e_has "$T/subs.out" "connected" ||
	{ echo "bench-do: the subscribers did not connect: $(cat "$T/subs.out" "$T/subs.err")"; exit 2; }
figures >/dev/null # reset the figures: only the broker's calls from here
submit 0 "$N" bench
e2e_wait 300 e2e_has "$T/subs.out" "readers got"
subs=$(grep 'readers got' "$T/subs.out" | tr -d '\r')
brok=$(figures)
echo "     $brok"
echo "     $subs"
stop_broker
emu --stop --as-do

# The storm: the emulator is registered again with a scenario of its own.
emu --unregister --as-do --machine
register 'rule "*/storm/*" error http=500 after=50ms
repeat 1s..1s
modifications off
'
storm_rows=""
for cfg in $CONFIGS; do
	set -- $(printf '%s' "$cfg" | tr : ' ')
	what="$1 event workers, $([ "$2" = 1 ] && echo "every JobError read in full" || echo "repeats read short")"
	echo "==== DO callback storm: $STORM jobs, JobError each every second, ${STORM_S} s; $what"
	export DOBROKER_COM_EVENT_WORKERS=$1 DOBROKER_COM_FULL_READS=$2
	start_broker "storm$1$2"
	unset DOBROKER_COM_EVENT_WORKERS DOBROKER_COM_FULL_READS
	submit 0 "$STORM" storm
	f0=$(figures)
	in0=$(events_in)
	t0=$(date +%s%3N)
	sleep "$STORM_S" # the measured interval (a benchmark, not a test)
	f1=$(figures)
	in1=$(events_in)
	t1=$(date +%s%3N)
	lost=$(sed -n 's/.*com: \([0-9]*\) callback(s) could not be queued.*/\1/p' "$T/storm$1$2.err" |
		awk '{ s += $1 } END { print s + 0 }')
	row=$(awk -v m0="$(made "$f0")" -v m1="$(made "$f1")" -v i0="$in0" -v i1="$in1" \
		-v ms="$((t1 - t0))" -v lost="$lost" -v what="$what" 'BEGIN {
		printf "%s: callbacks %.1f/s, events taken in %.1f/s, %d callbacks lost (ring full)",
			what, (m1 - m0) * 1000 / ms, (i1 - i0) * 1000 / ms, lost }')
	echo "     $row"
	storm_rows="$storm_rows
$row"
	stop_broker
	emu --stop --as-do
	e2e_wait 10 eval '[ "$(grep -c "stopping" "$T/doemu.log")" -ge 1 ]'
done
{
	echo "DO callback hold time (emulator's view, cross-process), $N jobs"
	echo "baseline (no-op callback, another process): $base"
	echo "dobrokerd --backend do, $SUBS subscribers + 1 never reading: $brok"
	echo "$subs"
	echo "storm ($STORM jobs, JobError every second each, ${STORM_S} s):$storm_rows"
} >"$root/build/bench/do.txt"
echo "copied to build/bench/do.txt"
