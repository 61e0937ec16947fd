#!/bin/sh
# Builds dobroker natively and for Windows, then runs every test suite in
# order, each under a "==== name" heading; prints a summary table and ends
# with one line "N passed, N failed" for the whole run. What `make check` runs
# after scripts/bootstrap.sh.
#
#   suites: unit, any other Criterion binary in build/native/tests/ (e.g.
#           platform), integration (when present), interop (Python), the
#           Python package (bindings/python), the Node package
#           (bindings/node, npm ci then node --test), the README's quick
#           start (tests/quickstart.sh), the programs of
#           docs/app-developers.md (tests/app_developers.sh),
#           wine (every build/mingw/bin/*_test.exe, then tests/e2e/*.sh),
#           fuzz corpus replay, and with SAN_CHECK=1 or CI=true every
#           Criterion binary and interop again under
#           -fsanitize=address,undefined, and the ThreadSanitizer suites.
#
#   CHECK_SAN=valgrind (what `make valgrind` sets): the integration tests
#   with every process of ours under valgrind's memcheck.
#
#   CHECK_SAN=LIST (what `make check SAN=LIST` sets) runs only that
#   sanitizer variant: address,undefined (or any list without thread): the
#   Criterion binaries and interop built with it; thread: the standalone
#   TSan programs of tests/tsan/ and the integration tests against a
#   dobrokerd built with -fsanitize=thread (Criterion itself cannot run under
#   TSan).
#
# A sanitizer report anywhere in a suite's output (AddressSanitizer,
# LeakSanitizer, UBSan's "runtime error", ThreadSanitizer, valgrind's error
# summary) counts as one more failure: Criterion does not fail a test for
# what a sanitizer says after the test's result (a leak at exit, a report
# from a .fini), nor for a report in a broker it started.
#
# Every suite must end its output with a count line: Criterion's
# "[====] Synthesis: Tested: N | Passing: N | ..." or our "N passed, N failed"
# (the last such line counts). A suite that cannot run, prints no count line,
# or exits non-zero with no failure counted, counts as one failure.
# Exits 1 when anything failed. Needs no terminal and no stdin; stops every
# Wine process of the project's prefix on any exit. Logs: build/check/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 2

PY=/usr/bin/python3
CROSS=x86_64-w64-mingw32-
JOBS=${JOBS:-2}
ASAN_LIST=address,undefined
LOGS=build/check
# Per-step limits (seconds) so a hung test cannot hang CI.
BUILD_LIMIT=${CHECK_BUILD_LIMIT:-600}
# Catches a hung suite, nothing else: generous, so that a slow, loaded
# machine (the sanitizer variants of the integration tests take minutes)
# never trips it.
SUITE_LIMIT=${CHECK_SUITE_LIMIT:-1200}
VALGRIND_LIMIT=${CHECK_VALGRIND_LIMIT:-1800}

san=0
if [ "${SAN_CHECK:-0}" = 1 ] || [ "${CI:-}" = true ]; then
	san=1
fi
only_san=${CHECK_SAN:-}
# The builds below choose their variant themselves: nothing from a calling
# make (make check SAN=...) may leak into them.
unset SAN MAKEFLAGS MFLAGS MAKELEVEL

trap '"$here/wine-stop.sh"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$LOGS"
summary=$LOGS/summary
: >"$summary"
total_passed=0
total_failed=0
start=$(date +%s%3N)

# The "N M" (passed, failed) of a log's last count line; empty when none.
counts() {
	sed 's/\x1b\[[0-9;]*m//g; s/\r$//' "$1" | awk '
		/Synthesis: Tested: [0-9]+ \| Passing: [0-9]+/ {
			t = $0; sub(/.*Tested: /, "", t); sub(/[^0-9].*/, "", t)
			p = $0; sub(/.*Passing: /, "", p); sub(/[^0-9].*/, "", p)
			last = p " " (t - p)
		}
		/^[0-9]+ passed, [0-9]+ failed$/ { last = $1 " " $3 }
		# node --test --test-reporter=tap closes with "# pass N" ... "# fail N"
		/^# pass [0-9]+$/ { tap_pass = $3 }
		/^# fail [0-9]+$/ { if (tap_pass != "") last = tap_pass " " $3 }
		END { if (last != "") print last }'
}

# How many sanitizer (or valgrind) reports a log holds.
# The integration harness says "dobrokerd stopped uncleanly" for a broker
# that did not exit 0 after SIGTERM or left a report in its log.
san_reports() {
	grep -Ec '==[0-9]+==ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|^[^ ]+:[0-9]+:[0-9]+: runtime error: |==[0-9]+== (ERROR SUMMARY: [1-9]|Invalid |Conditional jump|Syscall param|Mismatched free|.* are (definitely|indirectly) lost in loss record)|^dobrokerd stopped uncleanly' "$1"
}

# step KIND NAME CMD...: runs CMD (stdin closed, output shown and logged) and
# records its result. KIND is "build" (exit status only) or "tests" (counts).
step() {
	kind=$1 name=$2
	shift 2
	log=$LOGS/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log
	echo "==== $name"
	t0=$(date +%s%3N)
	{ "$@" </dev/null 2>&1; echo $? >"$log.rc"; } | tee "$log"
	rc=$(cat "$log.rc" 2>/dev/null || echo 125)
	ms=$(($(date +%s%3N) - t0))
	p=- f=-
	if [ "$kind" = build ]; then
		if [ "$rc" = 0 ]; then result=ok; else result="FAILED (exit $rc)"; f=1; fi
	else
		c=$(counts "$log")
		if [ -z "$c" ]; then
			result="no count line (exit $rc)"; p=0 f=1
		else
			p=${c% *} f=${c#* }
			r=$(san_reports "$log")
			if [ "$r" != 0 ]; then
				result="$r sanitizer report(s)"; f=$((f + 1))
			elif [ "$f" != 0 ]; then
				result=FAILED
			elif [ "$rc" != 0 ]; then
				result="exit $rc"; f=1
			else
				result=ok
			fi
		fi
	fi
	[ "$p" = - ] || total_passed=$((total_passed + p))
	[ "$f" = - ] || total_failed=$((total_failed + f))
	printf '%s|%s|%s|%s|%s\n' "$name" "$result" "$p" "$f" "$ms" >>"$summary"
}

# Runs a test binary, or says it is missing (a build failure shows up here).
run_bin() {
	if [ ! -x "$1" ]; then
		echo "missing: $1 (did the build fail?)"
		return 127
	fi
	timeout -k 10 "$SUITE_LIMIT" "$@"
}

# Runs a Windows test program, then stops Wine so no Wine process outlives
# the step (nor holds its output open).
run_wine() {
	timeout -k 10 "$SUITE_LIMIT" "$here/wine-run.sh" "$@"
	rc=$?
	"$here/wine-stop.sh"
	return $rc
}

run_e2e() {
	timeout -k 10 "$SUITE_LIMIT" sh "$1"
	rc=$?
	"$here/wine-stop.sh"
	return $rc
}

# The Criterion binaries of a build directory: unit (always expected), any
# other one the Makefile makes there (e.g. platform), then integration
# (expected once tests/integration/ has sources).
criterion_suites() {
	step tests "unit$2" run_bin "$1/tests/unit"
	for bin in "$1"/tests/*; do
		case ${bin##*/} in unit | integration) continue ;; esac
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		step tests "${bin##*/}$2" run_bin "$bin"
	done
	if [ -e "$1/tests/integration" ] || ls tests/integration/*.c >/dev/null 2>&1; then
		step tests "integration$2" run_bin "$1/tests/integration"
	fi
}

# make fuzz-replay. tests/fuzz/run.sh prints no count line of its own (when
# it does, that one counts): every corpus input replayed counts as passed
# when the replay succeeds, and a failed replay as one failure.
fuzz_replay() {
	out=$LOGS/fuzz-replay.out
	build fuzz-replay >"$out" 2>&1
	rc=$?
	cat "$out"
	if [ -z "$(counts "$out")" ]; then
		if [ "$rc" = 0 ]; then
			n=$(sed -n 's/.*FUZZ-REPLAY .* (\([0-9]*\) inputs)$/\1/p' "$out" |
				awk '{ n += $1 } END { print n + 0 }')
			echo "fuzz replay: $n corpus inputs replayed, no crash"
			echo "$n passed, 0 failed"
		else
			echo "fuzz replay: failed"
			echo "0 passed, 1 failed"
		fi
	fi
	return $rc
}

# The Node package (bindings/node): npm ci when node_modules was not made
# from the committed package-lock.json (nothing is fetched when it was; the
# types are then generated again, as npm ci's "prepare" does), then node's
# own test runner, whose TAP summary ("# pass N", "# fail N") is the count.
node_suite() {
	dir=bindings/node
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "node or npm is missing: run scripts/bootstrap.sh"
		return 127
	fi
	if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.dobroker-lock"; then
		(cd "$dir" && npm ci --no-audit --no-fund) || return 1
		cp "$dir/package-lock.json" "$dir/node_modules/.dobroker-lock"
	else
		(cd "$dir" && node scripts/gen-types.js) || return 1
	fi
	(cd "$dir" && timeout -k 10 "$SUITE_LIMIT" node --test --test-reporter=tap test/*.test.js)
}

# -k: one target that does not build fails the step but does not keep the
# others from being built and their suites from running.
build() {
	timeout -k 10 "$BUILD_LIMIT" make -k --no-print-directory "$@"
}

# ---------------------------------------------------------------- summary
finish() {
	ms=$(($(date +%s%3N) - start))
	echo "==== summary"
	awk -F'|' -v ms="$ms" -v tp="$total_passed" -v tf="$total_failed" '
		BEGIN { printf "%-34s %-26s %7s %7s %8s\n", "suite", "result", "passed", "failed", "time" }
		{ printf "%-34s %-26s %7s %7s %7.2fs\n", $1, $2, $3, $4, $5 / 1000 }
		END { printf "%-34s %-26s %7d %7d %7.2fs\n", "total", "", tp, tf, ms / 1000 }' "$summary"
	echo "$total_passed passed, $total_failed failed"
	[ "$total_failed" = 0 ]
	exit
}

# ASan/UBSan (or another list without thread): every Criterion binary and
# interop, built with -fsanitize=$1.
asan_suites() {
	sandir=build/native-san-$(echo "$1" | tr , -)
	step build "build native $1" build -j"$JOBS" SAN="$1" all tests
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	criterion_suites "$sandir" " ($1)"
	# The sanitized interop_tool against Python's frames: cheap, and the
	# only run of the codec on bytes from another implementation.
	export INTEROP_TOOL="$sandir/bin/interop_tool"
	step tests "interop ($1)" timeout -k 10 "$SUITE_LIMIT" "$PY" tests/interop/interop.py
	unset INTEROP_TOOL ASAN_OPTIONS UBSAN_OPTIONS
}

# ThreadSanitizer: Criterion aborts under TSan, so the standalone programs
# of tests/tsan/ (built with -fsanitize=thread), then the (uninstrumented)
# integration tests against dobrokerd and dobctl built with it.
tsan_suites() {
	tdir=build/native-san-thread
	step build "build native thread" build -j"$JOBS" SAN=thread all tsan-build
	export TSAN_OPTIONS=halt_on_error=1
	for prog in "$tdir"/tests/tsan/*; do
		[ -f "$prog" ] && [ -x "$prog" ] || continue
		step tests "tsan ${prog##*/}" run_bin "$prog"
	done
	# Less the rate-limit flood: a TSan broker reads too slowly to reach
	# the frames-per-second limit it checks.
	export DOB_IT_BINDIR="$tdir/bin"
	step tests "integration (thread: dobrokerd)" run_bin build/native/tests/integration \
		--filter '!(limits/max_size_frame_flood*)'
	unset TSAN_OPTIONS DOB_IT_BINDIR
}

# valgrind (make valgrind; slow, not part of make check): the integration
# tests with every process of ours under memcheck (the test processes,
# dobrokerd, dobctl; not the shell's tools nor Python). An error or a
# definite or indirect leak is a report: in a broker's log it fails the
# broker's stop (tests/integration/harness.c), and the count above finds
# both. No --error-exitcode: the broker's path check forks a probe child
# whose exit status is its answer (and which, a copy of the broker's heap,
# is silenced: --child-silent-after-fork). The crash loop runs
# DOB_CRASH_ITERATIONS lives (20 by default here); the rate-limit flood is
# left out (a broker under valgrind reads too slowly to reach the limit).
valgrind_suites() {
	export DOB_CRASH_ITERATIONS="${DOB_CRASH_ITERATIONS:-20}" DOB_IT_VALGRIND=1
	step tests "integration (valgrind)" timeout -k 10 "$VALGRIND_LIMIT" \
		valgrind -q --trace-children=yes --child-silent-after-fork=yes \
		--trace-children-skip='/bin/*,/usr/bin/*,*python*' \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		build/native/tests/integration --filter '!(limits/max_size_frame_flood*)'
	unset DOB_IT_VALGRIND
}

if [ -n "$only_san" ]; then
	case ,$only_san, in
	*,valgrind,*)
		step build "build native" build -j"$JOBS" all tests
		valgrind_suites
		;;
	*,thread,*)
		step build "build native" build -j"$JOBS" all tests
		tsan_suites
		;;
	*) asan_suites "$only_san" ;;
	esac
	finish
fi

# ---------------------------------------------------------------- builds
step build "build native" build -j"$JOBS" all tests pygen
step build "build windows" build -j"$JOBS" CROSS="$CROSS" all

# ---------------------------------------------------------------- suites
criterion_suites build/native ""
step tests "interop" timeout -k 10 "$SUITE_LIMIT" "$PY" tests/interop/interop.py
# The language packages against real native brokers and the shared samples.
step tests "python package" timeout -k 10 "$SUITE_LIMIT" "$PY" bindings/python/tests/run.py
step tests "node package" node_suite
# The README's quick start, its commands as written.
step tests "quick start" timeout -k 10 "$SUITE_LIMIT" sh tests/quickstart.sh
# The C, Python and Node programs of docs/app-developers.md, as printed.
step tests "app developers page" timeout -k 10 "$SUITE_LIMIT" sh tests/app_developers.sh

wine_ran=0
for exe in build/mingw/bin/*_test.exe; do
	[ -f "$exe" ] || continue
	wine_ran=1
	step tests "wine $(basename "$exe")" run_wine "$exe"
done
for src in tests/wine/*_test.c; do
	[ -f "$src" ] || continue
	exe=build/mingw/bin/$(basename "$src" .c).exe
	[ -f "$exe" ] || { wine_ran=1; step tests "wine $(basename "$exe")" run_bin "$exe"; }
done
[ "$wine_ran" = 1 ] || step tests "wine" run_bin "build/mingw/bin/*_test.exe"
for script in tests/e2e/*.sh; do
	[ -f "$script" ] || continue
	step tests "e2e $(basename "$script")" run_e2e "$script"
done

step tests "fuzz replay" fuzz_replay

if [ "$san" = 1 ]; then
	asan_suites "$ASAN_LIST"
	tsan_suites
fi

finish
