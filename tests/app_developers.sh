#!/bin/sh
# Runs the three programs of docs/app-developers.md as printed there (its
# first ```c, ```python and ```js blocks), against a real native broker
# playing examples/scenarios/failing-downloads.txt: the C one built with the
# page's own cc line, the Python one with the package of bindings/python,
# the Node one with the package of bindings/node. Each must receive the
# JobError of a download submitted with dobctl, answer resume (OK), print the
# Resolution naming itself, and exit 0.
#
#   sh tests/app_developers.sh   (after `make all pygen` and npm ci in
#                                 bindings/node; make check does both)
#
# The programs use the default endpoint: XDG_RUNTIME_DIR points at a temp
# directory. Every process started here is stopped on any exit. Prints
# "ok ..."/"FAIL ..." per check and a closing "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 2
HANG=30 # seconds: only a hang takes this long
DOC=docs/app-developers.md

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dob-appdev.XXXXXX") || exit 2
passed=0 failed=0
broker=
cleanup() {
	[ -n "$broker" ] && kill -9 "$broker" 2>/dev/null
	[ -s "$tmp/prog.pid" ] && kill -9 "$(cat "$tmp/prog.pid")" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

check() {
	what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok $what"
	else
		failed=$((failed + 1))
		echo "FAIL $what"
	fi
}

# The first block of a kind (```c, ```python, ```js).
block() {
	awk -v kind="$1" '$0 == "```" kind { b = 1; next } b && /^```$/ { exit } b { print }' "$DOC"
}

mkdir -p "$tmp/run" "$tmp/state"
export XDG_RUNTIME_DIR="$tmp/run" XDG_STATE_HOME="$tmp/state"

build/native/bin/dobrokerd --scenario examples/scenarios/failing-downloads.txt --log-level debug \
	>"$tmp/broker.log" 2>&1 &
broker=$!
i=0
while ! build/native/bin/dobctl ping >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge $((HANG * 100)) ] || ! kill -0 $broker 2>/dev/null; then
		cat "$tmp/broker.log"
		echo "0 passed, 1 failed"
		exit 1
	fi
	sleep 0.01
done

# run NAME CMD...: CMD (the page's program) in the background; a failing
# download submitted; the program must exit 0 having printed the error,
# an OK resume and the resolution by my-app.
run() {
	name=$1
	shift
	out=$tmp/$name.out
	"$@" >"$out" 2>&1 </dev/null &
	prog=$!
	echo $prog >"$tmp/prog.pid"
	job=$(build/native/bin/dobctl submit "https://downloads.example.com/missing/$name.zip" \
		"$tmp/$name.zip")
	i=0
	while kill -0 $prog 2>/dev/null && [ $i -lt $((HANG * 100)) ]; do
		i=$((i + 1))
		sleep 0.01
	done
	kill -9 $prog 2>/dev/null
	wait $prog
	rc=$?
	: >"$tmp/prog.pid"
	check "$name: exits 0 (exit $rc)" [ "$rc" = 0 ]
	check "$name: prints the JobError of $job" \
		grep -q "^error $job 0x80190194 HTTP 404 (BG_E_HTTP_ERROR_404)$" "$out"
	check "$name: its resume is OK" grep -Eq '^resume: (STATUS_)?OK$' "$out"
	check "$name: prints the Resolution by my-app" grep -q "^resolved $job by my-app$" "$out"
	[ "$failed" = 0 ] || { echo "--- $name printed:"; cat "$out"; }
}

# C, built with the page's command (its file names moved to the temp dir).
block c >"$tmp/my-app.c"
cc_line=$(awk '/^```sh$/ { b = 1; next } b && /^```$/ { b = 0 } b' "$DOC" |
	sed -n '/^cc /,/-o my-app$/p' | tr -d '\\\n')
check "the page has a C program and its cc line" [ -s "$tmp/my-app.c" -a -n "$cc_line" ]
cc_line=$(echo "$cc_line" | sed "s| my-app.c | $tmp/my-app.c |; s|-o my-app\$|-o $tmp/my-app|")
check "the C program builds: $cc_line" sh -c "$cc_line -Wall -Wextra -Werror"
[ -x "$tmp/my-app" ] && run c "$tmp/my-app"

# Python, with the package of this tree (and the code make pygen generated).
block python >"$tmp/my_app.py"
check "the page has a Python program" [ -s "$tmp/my_app.py" ]
PYTHONPATH="$root/bindings/python" run python /usr/bin/python3 "$tmp/my_app.py"

# Node, with the package of this tree as node_modules/dobroker.
mkdir -p "$tmp/node/node_modules"
block js >"$tmp/node/my-app.js"
ln -s "$root/bindings/node" "$tmp/node/node_modules/dobroker"
check "the page has a Node program" [ -s "$tmp/node/my-app.js" ]
if [ -d bindings/node/node_modules/protobufjs ]; then
	run node node "$tmp/node/my-app.js"
else
	check "bindings/node/node_modules is installed (npm ci)" false
fi

kill $broker
wait $broker
st=$?
broker=
check "the broker stops with exit 0" [ "$st" = 0 ]
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
