#!/bin/sh
# Runs the README's quick start ("First contact") as written, and the
# shipped examples it leads to. The quick start: the four
# commands of its first ```sh block, one after the other in one shell at the
# top of the tree, against the native build. Between two commands it waits
# for what a person would see before typing the next one (the broker's
# socket; the JobError line), never for a fixed time. Then it checks what the
# README says is seen: every line of its ```text block, with job ids,
# sessions and pids left out of the comparison, and that the watcher exits 0
# after its three events. The examples: a broker starts with each scenario
# of examples/scenarios/ and with examples/dobrokerd.conf (answers a ping,
# stops with exit 0 on SIGTERM), and every option the configuration file
# names, commented or not, is one `dobrokerd --help` lists.
#
#   sh tests/quickstart.sh        (after `make`; make check runs it)
#
# The broker gets a socket and a state directory of its own through
# XDG_RUNTIME_DIR and XDG_STATE_HOME (the commands name neither). Every
# process started here is stopped on any exit. Prints "ok ..."/"FAIL ..." per
# check and a closing "N passed, N failed"; exits 1 when a check failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 2
HANG=30 # seconds: only a hang takes this long

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dob-quickstart.XXXXXX") || exit 2
passed=0 failed=0
cleanup() {
	# timeout passes SIGTERM on to the script; the broker and the watcher
	# are its background children and are killed by their own pids.
	[ -s "$tmp/sh.pid" ] && kill "$(cat "$tmp/sh.pid")" 2>/dev/null
	for f in "$tmp/broker.pid" "$tmp/watch.pid"; do
		[ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

check() { # check WHAT COMMAND...
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

finish() {
	if [ "$failed" != 0 ] && [ -f "$tmp/out" ]; then
		echo "--- what the commands printed:"
		cat "$tmp/out"
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

# The first ```sh block after "## First contact", and the first ```text one.
block() {
	awk -v kind="$1" '/^## First contact/ { f = 1 }
		f && $0 == "```" kind { b = 1; next }
		b && /^```$/ { exit }
		b { print }' README.md
}
block sh >"$tmp/cmds"
block text >"$tmp/expected"
n=$(wc -l <"$tmp/cmds")
check "README: the quick start has four commands (has $n)" [ "$n" = 4 ]
check "README: the quick start shows what is seen" [ -s "$tmp/expected" ]
[ "$n" = 4 ] || finish

# Every path the commands name exists.
for p in $(grep -o '[a-z./]*/[a-z./-]*' "$tmp/cmds" | grep -v '^//\|^/tmp' | sort -u); do
	case $p in build/*) ;; *) check "README names $p, which exists" [ -e "$p" ] ;; esac
done
for p in build/native/bin/dobrokerd build/native/bin/dobctl; do
	check "$p is built" [ -x "$p" ]
done

mkdir -p "$tmp/run" "$tmp/state"
export XDG_RUNTIME_DIR="$tmp/run" XDG_STATE_HOME="$tmp/state"
sock=$XDG_RUNTIME_DIR/dobroker.sock

# The script: each command as written, and the waits a person does by eye.
{
	echo 'set -u'
	echo "wait_for() { i=0; while ! eval \"\$1\"; do i=\$((i + 1)); [ \$i -lt $((HANG * 100)) ] || { echo \"quickstart: timed out: \$1\"; exit 1; }; sleep 0.01; done; }"
	sed -n 1p "$tmp/cmds"
	echo "echo \$! >'$tmp/broker.pid'"
	echo "wait_for '[ -S \"$sock\" ] && build/native/bin/dobctl ping >/dev/null 2>&1'"
	sed -n 2p "$tmp/cmds"
	echo "watch=\$!; echo \$watch >'$tmp/watch.pid'"
	sed -n 3p "$tmp/cmds"
	echo "echo \"job=\$job\" >'$tmp/job'"
	echo "wait_for 'grep -q \"^ERROR episode\" \"$tmp/out\"'"
	sed -n 4p "$tmp/cmds"
	echo "echo \"act exit \$?\" >'$tmp/act.rc'"
	echo "wait \$watch; echo \"watch exit \$?\" >'$tmp/watch.rc'"
} >"$tmp/qs.sh"

sh -c 'echo $$ >"$1"; exec timeout -k 5 "$2" sh "$3"' sh "$tmp/sh.pid" $((HANG * 3)) "$tmp/qs.sh" \
	>"$tmp/out" 2>&1 </dev/null
rc=$?
check "the commands ran to their end (exit $rc)" [ "$rc" = 0 ]

# The broker stops cleanly on SIGTERM (what `kill %1` sends).
if [ -s "$tmp/broker.pid" ]; then
	bpid=$(cat "$tmp/broker.pid")
	kill "$bpid" 2>/dev/null
	i=0
	while kill -0 "$bpid" 2>/dev/null && [ $i -lt $((HANG * 100)) ]; do
		i=$((i + 1))
		sleep 0.01
	done
	check "the broker stops on SIGTERM" sh -c "! kill -0 $bpid 2>/dev/null"
fi

job=$(sed -n 's/^job=//p' "$tmp/job" 2>/dev/null)
check "submit printed a job id ($job)" sh -c "echo '$job' | grep -Eq '^\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}$'"
check "act exits 0" grep -qx 'act exit 0' "$tmp/act.rc"
check "the watcher exits 0 after its three events" grep -qx 'watch exit 0' "$tmp/watch.rc"

# Each line the README shows, with ids, sessions and pids made neutral.
norm() {
	sed -E 's/\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}/{JOB}/g; s/session [0-9]+/session N/g; s/pid [0-9]+/pid N/g' "$1"
}
norm "$tmp/out" >"$tmp/out.norm"
norm "$tmp/expected" >"$tmp/expected.norm"
while IFS= read -r line; do
	check "seen: $(printf '%.60s' "$line")..." grep -qxF "$line" "$tmp/out.norm"
done <"$tmp/expected.norm"
check "the job of the events is the one submitted" grep -q "^RESOLVED episode 1 $job resume by controller" "$tmp/out"
check "no line beyond the ones the README shows" \
	sh -c "[ \$(grep -vc '^quickstart:' '$tmp/out.norm') = \$(wc -l <'$tmp/expected.norm') ]"

# Every file or folder the README links to, and every path in backquotes
# that starts with a folder of the tree, exists.
for p in $( (grep -o '](\([A-Za-z0-9_./-]*\))' README.md | sed 's/^](//; s/)$//'
	grep -o '`\(bindings\|examples\|docs\|tests\|scripts\|proto\|client\|broker\)/[A-Za-z0-9_./-]*`' README.md |
		tr -d '`') | sed 's/#.*//' | grep -v '^$' | sort -u); do
	case $p in *NAME* | *'<'*) continue ;; esac
	check "README names $p, which exists" [ -e "$p" ]
done

# ---------------------------------------------------------------- examples
# starts ARGS...: a broker with ARGS on a socket of its own answers a ping
# and stops with exit 0 on SIGTERM.
n_ex=0
starts() {
	n_ex=$((n_ex + 1))
	d=$tmp/ex$n_ex
	mkdir -p "$d"
	build/native/bin/dobrokerd "$@" --endpoint "$d/s" --state-dir "$d/state" >"$d/log" 2>&1 &
	pid=$!
	echo $pid >"$tmp/broker.pid"
	i=0
	while ! build/native/bin/dobctl --endpoint "$d/s" ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge $((HANG * 100)) ] || ! kill -0 $pid 2>/dev/null; then
			cat "$d/log"
			kill -9 $pid 2>/dev/null
			wait $pid 2>/dev/null
			return 1
		fi
		sleep 0.01
	done
	kill $pid
	wait $pid
	st=$?
	[ $st = 0 ] || { cat "$d/log"; echo "exit $st"; }
	[ $st = 0 ]
}
for sc in examples/scenarios/*.txt; do
	check "a broker plays $sc" starts --scenario "$sc"
done
check "a broker starts with examples/dobrokerd.conf" starts --config examples/dobrokerd.conf
build/native/bin/dobrokerd --help >"$tmp/help" 2>&1
for key in $(sed -n 's/^#\{0,1\} *\([a-z][a-z-]*\) = .*/\1/p' examples/dobrokerd.conf); do
	check "examples/dobrokerd.conf: $key is an option" grep -q -- "^  --$key " "$tmp/help"
done
finish
