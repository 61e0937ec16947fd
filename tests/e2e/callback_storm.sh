#!/bin/sh
# tests/e2e/callback_storm.sh - issue 11, in make check: a callback storm
# through dobrokerd.exe --backend do under Wine (the DO service emulator):
# 30 failing jobs whose JobError is called again every second, 300 calls at
# least, at most four in flight. Every callback must be answered S_OK, every
# episode delivered exactly once with its repeats counted, and the broker
# must stay up (the storm that crashed it inside Wine's combase). A callback
# lost to a full ring is reported, not failed (the broker reconciles it; the
# ring's headroom depends on the machine's load): the longer
# tests/e2e/stress/do_storm.sh fails on it.
here=$(cd "$(dirname "$0")" && pwd)
DO_STORM_NAME=callback_storm DO_STORM_JOBS=30 DO_STORM_CALLS=300 DO_STORM_LOSSLESS=0 \
	exec sh "$here/stress/do_storm.sh"
