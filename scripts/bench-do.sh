#!/bin/sh
# scripts/bench-do.sh - the DO callback path, measured under Wine (run by
# scripts/bench-wine.sh; also alone). Both cases run against the DO service
# emulator (doemu.exe, registered as DO in the test prefix), which times
# every JobError from the call to its return on its own notifier thread:
# the service's view, cross-process, marshalling included.
#   baseline  do_noop_client.exe: N jobs whose callback is a no-op object in
#             another process;
#   broker    dobrokerd.exe --backend do with SUBS reading subscribers and one
#             that never reads: N jobs submitted through the broker, whose
#             callback takes a reference, queues, returns S_OK.
# Prints the emulator's p50/p99/max hold time of each case, and the
# broker's episodes per second (first JobError called to last episode seen
# by a subscriber). Results also in build/bench/do.txt.
#   usage: scripts/bench-do.sh [N] [SUBS]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/e2e/lib.sh"
e2e_init bench-do
N=${1:-60}
SUBS=${2:-8}
T=$E2E_TMP
PIPE=dobroker-bench-do-$$
mkdir -p "$root/build/bench" "$T/state" "$T/dl"
emu() { "$WINE" "$E2E_BIN/doemu.exe" "$@" </dev/null >>"$T/doemu-ctl.log" 2>&1; }
bd_exit() {
	bd_rc=$?
	[ -n "${E2E_BROKER_PID:-}" ] && kill "$E2E_BROKER_PID" 2>/dev/null
	emu --stop --as-do
	emu --unregister --as-do --machine
	exec 9>&- 2>/dev/null
	(exit $bd_rc)
	e2e_cleanup
}
trap bd_exit EXIT
printf 'rule "*/bench/*" error http=500 after=100ms\nrepeat off\nmodifications off\n' >"$T/scn.txt"
e2e_wine_fresh
emu --register --as-do --machine --scenario "$(e2e_winpath "$T/scn.txt")" \
	--log "$(e2e_winpath "$T/doemu.log")" || { echo "bench-do: doemu.exe --register failed"; exit 2; }
figures() { # the emulator's latest hold-time line
	emu --stats --as-do
	e2e_wait 10 e2e_has "$T/doemu.log" "over the last"
	grep 'over the last' "$T/doemu.log" | tail -n 1 | tr -d '\r' | sed 's/.*JobError held/JobError held/'
}

echo "==== DO callback: baseline, a no-op callback in another process ($N jobs)"
"$WINE" "$root/build/mingw/bench/do_noop_client.exe" "$N" | tr -d '\r'
base=$(figures)
echo "     $base"
emu --stop --as-do
e2e_wait 10 e2e_has "$T/doemu.log" "stopping"

echo "==== DO callback: dobrokerd.exe --backend do, $SUBS subscribers reading, 1 never reading ($N jobs)"
e2e_broker_start broker --backend do --endpoint "\\\\.\\pipe\\$PIPE" \
	--state-dir "$(e2e_winpath "$T/state")" --sweep-interval-ms 600000 ||
	{ echo "bench-do: the broker did not start"; exit 2; }
i=0
while [ $i -lt "$SUBS" ]; do
	e2e_bg "sub$i" "$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name "sub$i" watch --json \
		--kinds error
	i=$((i + 1))
done
mkfifo "$T/stuck" && exec 9<>"$T/stuck" # a subscriber whose output nobody reads
"$WINE" "$E2E_BIN/dobctl.exe" --endpoint "$PIPE" --name stuck watch --json </dev/null >"$T/stuck" 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
e2e_wait 60 eval '[ "$(grep -c "hello from" "$T/broker.err")" -ge $((SUBS + 1)) ]'
emu --stats --as-do # reset the figures: only the broker's calls from here
i=0
while [ $i -lt "$N" ]; do
	e2e_dobctl --endpoint "$PIPE" --name app --timeout 15000 \
		submit "http://127.0.0.1:1/bench/$i" "$(e2e_winpath "$T/dl/$i")" >/dev/null 2>&1
	i=$((i + 1))
done
e2e_wait 120 eval '[ "$(e2e_jcount "$T/sub0.out" "e[\"type\"] == \"job_error\"")" -ge $N ]'
got=$(e2e_jcount "$T/sub0.out" 'e["type"] == "job_error"')
span=$(/usr/bin/python3 -c '
import json, sys
c = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
c = [e for e in c if e["type"] == "job_error"]
if len(c) > 1:
    t = [e["first_seen_us"] for e in c]
    print("%d episodes in %.0f ms after the first: %.0f episodes/s (submissions paced them)" %
          (len(c), (max(t) - min(t)) / 1000, (len(c) - 1) * 1e6 / max(1, max(t) - min(t))))
' "$T/sub0.out")
brok=$(figures)
echo "     $brok"
echo "     a subscriber got $got of $N episodes; $span"
{
	echo "DO callback hold time (emulator's view, cross-process), $N jobs"
	echo "baseline (no-op callback, another process): $base"
	echo "dobrokerd --backend do, $SUBS subscribers + 1 never reading: $brok"
	echo "$span"
} >"$root/build/bench/do.txt"
echo "copied to build/bench/do.txt"
