#!/bin/sh
# Builds tests/fuzz/pbc_unknown_fields.c standalone with every file
# instrumented (protobuf-c's runtime from its source, the generated code,
# proto/*.c, tests/support/wire.c) under MemorySanitizer and under
# AddressSanitizer, and runs it: the decode path must draw no report, and the
# --control case (an unknown_fields pointer never written, protobuf-c issue
# #690) must draw one, which shows the build would see the defect.
#   usage: pbc-sanitize.sh PBC_SRC_DIR GEN_DIR      (make fuzz-pbc-check)
set -eu
src=${1:?protobuf-c source dir}
gen=${2:?generated code dir}
out=build/fuzz/pbc-sanitize
mkdir -p "$out"
status=0
for san in memory address; do
	case $san in
	memory) flags="-fsanitize=memory -fsanitize-memory-track-origins=2" ;;
	address) flags="-fsanitize=address" ;;
	esac
	bin=$out/pbc_unknown_fields-$san
	echo "  CC (${san}) pbc_unknown_fields"
	clang -std=c11 -g -O1 -fno-omit-frame-pointer $flags \
		-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
		-Iproto/include -I"$gen" -I"$src" -Itests/support -w \
		-o "$bin" tests/fuzz/pbc_unknown_fields.c tests/support/wire.c proto/*.c \
		"$gen"/dobroker.pb-c.c "$src"/protobuf-c/protobuf-c.c
	if ! "$bin" >"$out/$san.log" 2>&1; then
		cat "$out/$san.log" >&2
		echo "pbc-sanitize: $san: the decode path drew a report" >&2
		status=1
	else
		echo "  $san: $(tail -n 1 "$out/$san.log")"
	fi
	if "$bin" --control >"$out/$san-control.log" 2>&1 ||
	   ! grep -q "Sanitizer" "$out/$san-control.log"; then
		cat "$out/$san-control.log" >&2
		echo "pbc-sanitize: $san: the control case drew no report" >&2
		status=1
	else
		echo "  $san: control reported: $(grep -m1 -o '[A-Za-z]*Sanitizer: [A-Za-z-]*' "$out/$san-control.log")"
	fi
done
exit $status
