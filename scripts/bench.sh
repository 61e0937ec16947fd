#!/bin/sh
# make bench: the native benchmarks of issue 6 (docs/performance.md).
# Builds what they need, runs build/native/bench/native_bench (dobrokerd
# with the sim backend over Unix sockets, against raw Unix-socket baselines
# measured in the same run), prints its table, and writes
# build/bench/native.json (the table also goes to build/bench/native.txt).
#   usage: scripts/bench.sh [--quick]
# Exits non-zero only when something measured did not work (events lost, a
# broker that did not start), never because of a timing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
mkdir -p build/bench
echo "==== building (make -j2 all bench-build)"
if ! make -j2 all bench-build >build/bench/build-native.log 2>&1; then
	tail -30 build/bench/build-native.log >&2
	echo "bench: the native build failed (build/bench/build-native.log)" >&2
	exit 2
fi
echo "==== native_bench"
rc=0
build/native/bench/native_bench --out build/bench/native.json "$@" \
	>build/bench/native.txt || rc=$?
cat build/bench/native.txt
exit $rc
