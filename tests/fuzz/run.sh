#!/bin/sh
# Runs libFuzzer targets over their corpora.
#   usage: run.sh replay 0 BIN...     each file of tests/fuzz/corpus/<name>/ once
#          run.sh fuzz SECONDS BIN... fuzz each target for SECONDS, starting from
#                                     a copy of its corpus in build/fuzz/corpus-work/<name>
# <name> is the binary's name without "fuzz_". A crash (or leak, or sanitizer
# report) exits non-zero; its input is kept under build/fuzz/artifacts/.
set -eu
mode=${1:?mode: replay or fuzz}
seconds=${2:?seconds}
shift 2
[ $# -gt 0 ] || { echo "run.sh: no fuzz targets" >&2; exit 1; }
# Undefined behaviour is a crash too (the fuzz build lets UBSan recover).
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export UBSAN_OPTIONS
artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
status=0
for bin in "$@"; do
	target=$(basename "$bin")
	name=${target#fuzz_}
	corpus=tests/fuzz/corpus/$name
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		echo "run.sh: $target has no seed corpus in $corpus/" >&2
		status=1
		continue
	fi
	case $mode in
	replay)
		echo "  FUZZ-REPLAY $target ($(ls "$corpus" | wc -l) inputs)"
		# Given files, libFuzzer runs each once and exits non-zero on a crash.
		if ! "$bin" -artifact_prefix="$artifacts/$target-" "$corpus"/* >"$artifacts/$target-replay.log" 2>&1; then
			tail -n 40 "$artifacts/$target-replay.log" >&2
			echo "run.sh: $target failed on its corpus (log: $artifacts/$target-replay.log)" >&2
			status=1
		fi
		;;
	fuzz)
		work=build/fuzz/corpus-work/$target
		mkdir -p "$work"
		cp "$corpus"/* "$work"/
		echo "  FUZZ $target for ${seconds}s (corpus $work)"
		if ! "$bin" -max_total_time="$seconds" -timeout=10 -max_len=8192 \
			-print_final_stats=1 -artifact_prefix="$artifacts/$target-" "$work"; then
			echo "run.sh: $target found a crash (inputs: $artifacts/$target-*)" >&2
			status=1
		fi
		;;
	*)
		echo "run.sh: unknown mode $mode" >&2
		exit 2
		;;
	esac
done
exit $status
