# shellcheck shell=sh
# tests/e2e/lib.sh - helpers shared by the end-to-end scripts under Wine
# (tests/e2e/broker_*.sh) and scripts/demo.sh. Sourced, after setting root
# to the top of the checkout:
#
#   root=$(cd "$(dirname "$0")/../.." && pwd)
#   . "$root/tests/e2e/lib.sh"
#   e2e_init NAME             temp dir build/e2e-NAME.XXXXXX, traps, Wine
#
# What a script starts through these helpers (e2e_bg, e2e_httpd,
# e2e_broker_start, and Wine itself) is stopped when the script exits, for
# whatever reason: background processes by their pid, then the wineserver of
# the prefix (scripts/wine-stop.sh), then the temp dir is removed (kept,
# with its logs, when the script fails or E2E_KEEP=1). The Wine prefix is
# the project's (scripts/wine-env.sh: build/wineprefix, or DOB_WINEPREFIX).
#
# Run on its own (scripts/check.sh runs every tests/e2e/*.sh), this file
# tests itself without Wine: httpd.py (200 with the bytes, 404, a range), the
# path and JSON helpers and the counters; it ends with "N passed, N failed".

E2E_PY=/usr/bin/python3
E2E_PASSED=0
E2E_FAILED=0
E2E_TMP=
E2E_PIDS=
E2E_HTTPD_PID=
E2E_WINE=0 # 1 once e2e_wine_fresh ran: stop the wineserver at exit

# e2e_init NAME: settings, temp dir, traps. Needs $root.
e2e_init() {
	E2E_ROOT=$root
	E2E_BIN=$E2E_ROOT/build/mingw/bin
	# WINE, WINESERVER, WINEPREFIX, WINEDEBUG=-all (exported); wine-env.sh
	# reads $here as the scripts/ directory.
	e2e_here_saved=${here:-}
	here=$E2E_ROOT/scripts
	. "$E2E_ROOT/scripts/wine-env.sh"
	here=$e2e_here_saved
	mkdir -p "$E2E_ROOT/build" || exit 2
	E2E_TMP=$(mktemp -d "$E2E_ROOT/build/e2e-$1.XXXXXX") || exit 2
	trap e2e_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

e2e_cleanup() {
	e2e_rc=$?
	for p in $E2E_PIDS; do
		e2e_ours "$p" && kill "$p" 2>/dev/null
	done
	if [ -n "$E2E_HTTPD_PID" ]; then
		exec 7>&- # httpd.py exits when its stdin closes
		e2e_ours "$E2E_HTTPD_PID" && kill "$E2E_HTTPD_PID" 2>/dev/null
	fi
	[ "$E2E_WINE" = 1 ] && "$E2E_ROOT/scripts/wine-stop.sh"
	for p in $E2E_PIDS $E2E_HTTPD_PID; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$E2E_TMP" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ] || [ "$e2e_rc" != 0 ]; then
			echo "kept $E2E_TMP (logs)"
		else
			rm -rf "$E2E_TMP"
		fi
	fi
	exit "$e2e_rc"
}

# ---------------------------------------------------------------- processes

# e2e_bg NAME CMD...: runs CMD in the background, stdin from /dev/null,
# stdout to $E2E_TMP/NAME.out, stderr to $E2E_TMP/NAME.err; its pid is in
# E2E_PID and is stopped at exit.
e2e_bg() {
	e2e_name=$1
	shift
	"$@" </dev/null >"$E2E_TMP/$e2e_name.out" 2>"$E2E_TMP/$e2e_name.err" &
	E2E_PID=$!
	E2E_PIDS="$E2E_PIDS $E2E_PID"
}

# e2e_ours PID: whether PID is still a child of this shell. A child that
# ended may have been reaped already and its pid given to another process
# (pids wrap quickly on a busy machine): only our own are ever signalled.
e2e_ours() {
	e2e_proc "$1" && [ "$e2e_ppid" = "$$" ]
}

# e2e_alive PID: whether our child PID still runs (a zombie does not).
e2e_alive() {
	e2e_ours "$1" && [ "$e2e_state" != Z ]
}

# e2e_proc PID: e2e_state and e2e_ppid of a process, from /proc (no ps:
# procps may be missing); 1 when there is no such process.
e2e_proc() {
	e2e_stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	e2e_stat=${e2e_stat##*) } # after the command name, which may hold anything
	e2e_state=${e2e_stat%% *}
	e2e_stat=${e2e_stat#* }
	e2e_ppid=${e2e_stat%% *}
	[ -n "$e2e_ppid" ]
}

# e2e_deadline SECONDS: from now on, no e2e_wait lasts past SECONDS from
# now (a script that goes wrong ends in bounded time: every later wait fails
# at once).
e2e_deadline() {
	E2E_DEADLINE_MS=$(($(date +%s%3N) + $1 * 1000))
}

# e2e_left_ms: milliseconds left before that deadline (0 when past; a large
# number when there is none).
e2e_left_ms() {
	e2e_left=$((${E2E_DEADLINE_MS:-$(($(date +%s%3N) + 86400000))} - $(date +%s%3N)))
	[ "$e2e_left" -gt 0 ] || e2e_left=0
	echo "$e2e_left"
}

# e2e_wait SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or
# SECONDS have passed, or the deadline (1).
e2e_wait() {
	e2e_deadline=$(($(date +%s%3N) + $1 * 1000))
	if [ -n "${E2E_DEADLINE_MS:-}" ] && [ "$E2E_DEADLINE_MS" -lt "$e2e_deadline" ]; then
		e2e_deadline=$E2E_DEADLINE_MS
	fi
	shift
	while ! "$@"; do
		[ "$(date +%s%3N)" -lt "$e2e_deadline" ] || return 1
		sleep 0.1
	done
	return 0
}

# e2e_now_us: wall clock in microseconds (what the broker's timestamps use).
e2e_now_us() {
	date +%s%6N
}

# e2e_winpath PATH: the Windows name of an absolute Unix path (drive Z:).
e2e_winpath() {
	printf 'Z:%s' "$1" | tr / '\\'
}

# e2e_has FILE PATTERN: FILE has a line matching the extended regex.
e2e_has() {
	grep -Eq -- "$2" "$1" 2>/dev/null
}

# ---------------------------------------------------------------- HTTP server

# e2e_httpd: starts tests/e2e/httpd.py on 127.0.0.1 serving $E2E_TMP/www
# (E2E_WWW); the port is in E2E_PORT. It exits when this shell's fd 7 closes
# (at exit), or after 600 s whatever happens.
e2e_httpd() {
	E2E_WWW=$E2E_TMP/www
	mkdir -p "$E2E_WWW" && mkfifo "$E2E_TMP/httpd.hold" || return 2
	"$E2E_PY" "$E2E_ROOT/tests/e2e/httpd.py" "$E2E_WWW" 600 \
		<"$E2E_TMP/httpd.hold" >"$E2E_TMP/httpd.port" 2>"$E2E_TMP/httpd.log" &
	E2E_HTTPD_PID=$!
	exec 7>"$E2E_TMP/httpd.hold"
	e2e_wait 10 test -s "$E2E_TMP/httpd.port"
	E2E_PORT=$(head -n 1 "$E2E_TMP/httpd.port")
	if [ -z "$E2E_PORT" ]; then
		echo "httpd.py did not start:"
		cat "$E2E_TMP/httpd.log"
		return 2
	fi
}

# ---------------------------------------------------------------- Wine

# e2e_wine_fresh [TRACE_FILE]: Wine ready in the prefix (created when
# missing). Call it before any other use of Wine: the prefix's wineserver is
# stopped at exit only after it. With TRACE_FILE, the wineserver is our own:
# one already running is stopped, and the first process runs with
# WINEDEBUG=trace+qmgr and its stderr appended to TRACE_FILE. Wine's
# services (BITS among them) inherit both, so TRACE_FILE gets a line for
# every call BITS serves, e.g.
#   0154:trace:qmgr:BackgroundCopyJob_Resume 00000000010A4D90.
# an account of what reached BITS that does not come from the broker.
e2e_wine_fresh() {
	E2E_WINE=1
	if [ ! -f "$WINEPREFIX/system.reg" ]; then
		"$E2E_ROOT/scripts/wine-run.sh" "$E2E_BIN/dobctl.exe" --help >/dev/null 2>&1
	fi
	if [ -n "${1:-}" ]; then
		"$E2E_ROOT/scripts/wine-stop.sh"
		WINEDEBUG=-all,trace+qmgr "$WINE" "$E2E_BIN/dobctl.exe" --help >/dev/null 2>>"$1"
	else
		"$WINE" "$E2E_BIN/dobctl.exe" --help >/dev/null 2>&1
	fi
}

# e2e_bits_job_ptr TRACE_FILE GUID: the address BITS gave the job's object.
e2e_bits_job_ptr() {
	e2e_g=$(printf '%s' "$2" | tr 'A-F' 'a-f')
	sed -n "s/.*trace:qmgr:BackgroundCopyJobConstructor created job $e2e_g:\([0-9A-Fa-f]*\).*/\1/p" "$1" |
		head -n 1
}

# e2e_bits_calls TRACE_FILE FROM_LINE METHOD PTR: how many calls of
# BackgroundCopyJob_METHOD on the job object PTR BITS served after line
# FROM_LINE of TRACE_FILE.
e2e_bits_calls() {
	tail -n +"$(($2 + 1))" "$1" | grep -c "trace:qmgr:BackgroundCopyJob_$3 $4[.,]"
}

# e2e_lines FILE: its number of lines (0 when missing).
e2e_lines() {
	if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# ---------------------------------------------------------------- the broker

# e2e_broker_start NAME ARGS...: dobrokerd.exe under Wine with ARGS
# (--endpoint, --state-dir, ...), its log (stderr) in $E2E_TMP/NAME.err.
# Waits until it listens; E2E_BROKER_PID is the Unix pid of its process,
# E2E_BROKER_WINPID its Windows pid (from its log lines). Returns 1 when it
# exited or did not listen within 20 s.
e2e_broker_start() {
	e2e_bname=$1
	shift
	# At debug: the scripts wait for the clients' "hello from" lines, which
	# are debug lines (per-connection lines are not info). A later
	# --log-level among the arguments wins.
	e2e_bg "$e2e_bname" "$WINE" "$E2E_BIN/dobrokerd.exe" --log-level debug "$@"
	E2E_BROKER_PID=$E2E_PID
	e2e_wait 20 e2e_broker_up "$E2E_TMP/$e2e_bname.err" "$E2E_BROKER_PID" || return 1
	e2e_has "$E2E_TMP/$e2e_bname.err" ' listening on ' || return 1
	E2E_BROKER_WINPID=$(sed -n 's/^[^ ]* dobrokerd\[\([0-9]*\)\].*/\1/p' "$E2E_TMP/$e2e_bname.err" | head -n 1)
}

# Listening, or gone (then e2e_broker_start fails at once).
e2e_broker_up() {
	e2e_has "$1" ' listening on ' || ! e2e_alive "$2"
}

# e2e_dobctl ARGS...: dobctl.exe under Wine (stdin from /dev/null).
e2e_dobctl() {
	"$WINE" "$E2E_BIN/dobctl.exe" "$@" </dev/null
}

# ---------------------------------------------------------------- JSON lines

# e2e_json FILE WHERE WHAT [ARG...]: prints WHAT of the first JSON line of
# FILE for which WHERE is true (Python expressions, may span lines, over the
# object `e`; the ARGs are a[0], a[1], ...); strings bare, anything else as JSON. Exit 1 when
# no line matches, 2 when any complete line is not JSON (a last line without
# its newline is still being written, and is skipped).
e2e_json() {
	e2e_jsonq first "$@"
}

# e2e_jcount FILE WHERE [ARG...]: prints how many JSON lines of FILE match.
e2e_jcount() {
	e2e_f=$1 e2e_w=$2
	shift 2
	e2e_jsonq count "$e2e_f" "$e2e_w" None "$@"
}

# e2e_jhas FILE WHERE [ARG...]: whether a JSON line of FILE matches.
e2e_jhas() {
	e2e_f=$1 e2e_w=$2
	shift 2
	e2e_jsonq first "$e2e_f" "$e2e_w" None "$@" >/dev/null
}

e2e_jsonq() {
	"$E2E_PY" - "$@" <<'EOF'
import json, sys
mode, path, where, what, a = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
try:
    with open(path, encoding="utf-8") as f:
        text = f.read()
except FileNotFoundError:
    text = ""
events = []
for n, line in enumerate(text.split("\n")[:-1], 1):
    try:
        events.append(json.loads(line))
    except ValueError as x:
        sys.stderr.write("%s:%d: not JSON (%s): %s\n" % (path, n, x, line))
        sys.exit(2)
found = 0
for e in events:
    try:
        ok = eval("(" + where + "\n)")
    except (KeyError, TypeError, IndexError):
        ok = False
    if not ok:
        continue
    found += 1
    if mode == "first":
        v = eval("(" + what + "\n)")
        print(v if isinstance(v, str) else json.dumps(v))
        sys.exit(0)
if mode == "count":
    print(found)
    sys.exit(0)
sys.exit(1)
EOF
}

# ---------------------------------------------------------------- results

# e2e_check DESCRIPTION CMD...: runs CMD; counts and prints the result.
e2e_check() {
	e2e_desc=$1
	shift
	if "$@"; then
		e2e_pass "$e2e_desc"
	else
		e2e_fail "$e2e_desc"
	fi
}

e2e_pass() {
	E2E_PASSED=$((E2E_PASSED + 1))
	echo "ok   $1"
}

# e2e_fail DESCRIPTION [DETAIL]
e2e_fail() {
	E2E_FAILED=$((E2E_FAILED + 1))
	echo "FAIL $1"
	[ -z "${2:-}" ] || printf '     %s\n' "$2"
}

# e2e_eq DESCRIPTION GOT WANT
e2e_eq() {
	if [ "$2" = "$3" ]; then
		e2e_pass "$1"
	else
		e2e_fail "$1" "got '$2', want '$3'"
	fi
}

# e2e_finish [LOG...]: the count line; on failure the LOGs are shown first.
# Exits 0 when nothing failed, else 1.
e2e_finish() {
	if [ "$E2E_FAILED" != 0 ]; then
		for e2e_log in "$@"; do
			[ -f "$e2e_log" ] || continue
			echo "---- $(basename "$e2e_log") (last 40 lines)"
			tail -n 40 "$e2e_log"
		done
	fi
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" = 0 ]
	exit
}

# ---------------------------------------------------------------- self-test

e2e_fetch() { # URL [RANGE] -> "STATUS LENGTH SHA256" of the response
	"$E2E_PY" - "$@" <<'EOF'
import hashlib, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    req.add_header("Range", sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as x:
    status, body = x.code, x.read()
print(status, len(body), hashlib.sha256(body).hexdigest())
EOF
}

e2e_selftest() {
	e2e_init lib
	echo "tests/e2e/lib.sh: the helpers and httpd.py, without Wine"
	e2e_httpd || { e2e_fail "httpd.py starts and prints its port"; e2e_finish; }
	e2e_pass "httpd.py starts and prints its port ($E2E_PORT)"
	head -c 70000 /dev/urandom >"$E2E_WWW/f.bin"
	want="200 70000 $(sha256sum <"$E2E_WWW/f.bin" | cut -d' ' -f1)"
	e2e_eq "httpd.py serves a file's bytes" "$(e2e_fetch "http://127.0.0.1:$E2E_PORT/f.bin")" "$want"
	e2e_eq "httpd.py answers 404 for a missing file" \
		"$(e2e_fetch "http://127.0.0.1:$E2E_PORT/none.bin" | cut -d' ' -f1)" 404
	want="206 100 $(tail -c +11 "$E2E_WWW/f.bin" | head -c 100 | sha256sum | cut -d' ' -f1)"
	e2e_eq "httpd.py serves a byte range" \
		"$(e2e_fetch "http://127.0.0.1:$E2E_PORT/f.bin" bytes=10-109)" "$want"
	e2e_eq "httpd.py serves nothing outside its directory" \
		"$(e2e_fetch "http://127.0.0.1:$E2E_PORT/../lib/x" | cut -d' ' -f1)" 404
	e2e_eq "e2e_winpath" "$(e2e_winpath '/a/b c/d.txt')" 'Z:\a\b c\d.txt'

	j=$E2E_TMP/events.json
	printf '%s\n' '{"type":"job_error","episode_id":3,"job":{"job_id":"{A}"}}' \
		'{"type":"resolution","job_id":"{A}","episode_id":3}' \
		'{"type":"resolution","job_id":"{B}","episode_id":4}' >"$j"
	printf '{"type":"resolution","job_id":"{A}"' >>"$j" # still being written
	e2e_eq "e2e_json: a field of the first match" \
		"$(e2e_json "$j" 'e["job"]["job_id"] == a[0]' 'e["episode_id"]' '{A}')" 3
	e2e_eq "e2e_jcount: complete lines only" \
		"$(e2e_jcount "$j" 'e["type"] == "resolution"')" 2
	e2e_check "e2e_jhas: no match is false" \
		eval '! e2e_jhas "$j" "e[\"type\"] == \"gap\""'
	echo 'not json' >>"$j"
	e2e_json "$j" True e 2>/dev/null
	e2e_eq "e2e_json: a line that is not JSON is an error (2)" $? 2

	t0=$(date +%s%3N)
	e2e_wait 1 false
	rc=$? ms=$(($(date +%s%3N) - t0))
	e2e_check "e2e_wait gives up after its time (${ms} ms)" \
		test "$rc" = 1 -a "$ms" -ge 1000 -a "$ms" -lt 3000
	e2e_check "e2e_wait returns when the condition holds" e2e_wait 5 test -s "$j"
	e2e_finish "$E2E_TMP/httpd.log"
}

case ${0##*/} in
lib.sh)
	root=$(cd "$(dirname "$0")/../.." && pwd)
	e2e_selftest
	;;
esac
