/*
 * bench/win/wine_bench.c - issue 6 under Wine: dobrokerd.exe over named
 * pipes against raw named-pipe baselines measured in the same run. Prints
 * a table and writes JSON. Run by scripts/bench-wine.sh (make bench-wine).
 *
 *   wine_bench.exe [--out FILE] [--quick] [--callback-json FILE]
 *                  [--bits-port PORT] [--noop]
 *
 *  1. event latency: the sim backend hands a JobError to the loop (the
 *     event's first_seen_us, wall clock at hand-off) -> a libdobclient
 *     subscriber holds the decoded event, for 1, 4 and 8 subscribers served
 *     by one thread; baseline: a thread writing frames of the same size
 *     with a timestamp to as many named pipes at the same pace, read
 *     through overlapped I/O by the same kind of reader;
 *  3. action round trip: Act -> ActionResult with the sim answering at
 *     once, and with the bits backend against Wine's BITS service when a
 *     --bits-port (an HTTP server that answers 404) is given; Ping -> Pong;
 *     baseline: a raw request/reply ping-pong of the same sizes over a
 *     named pipe with an echo thread, interleaved round by round;
 *  4. callback return time: callback_bench.exe's JSON (--callback-json) is
 *     embedded as it is (the COM callback object alone, and in front of the
 *     real broker with 64 pipe subscribers, one of which never reads);
 *  6. a process spawn per event: CreateProcess of a trivial program (this
 *     one, --noop) and of cmd.exe /c exit, and wait.
 * Fails (exit 1) only when a measurement did not work.
 */
#include <windows.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench_util.h"
#include "dob/codec.h"
#include "dob/msg.h"
#include "dobclient.h"

static int failures;
static bool quick;

static void bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("wine_bench: FAILED: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
	failures++;
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("  .. ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
}

/* ---------------------------------------------------------------- clocks */

static LARGE_INTEGER qpf;

static int64_t mono_ns(void)
{
	LARGE_INTEGER c;

	QueryPerformanceCounter(&c);
	return (int64_t)((double)c.QuadPart * 1e9 / (double)qpf.QuadPart);
}

/* Unix time in ns, the broker's clock (GetSystemTimePreciseAsFileTime). */
static int64_t wall_ns(void)
{
	FILETIME ft;
	uint64_t t;

	GetSystemTimePreciseAsFileTime(&ft);
	t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	return ((int64_t)t - INT64_C(116444736000000000)) * 100;
}

static void wait_until_wall(int64_t t)
{
	for (;;) {
		int64_t left = t - wall_ns();

		if (left <= 0)
			return;
		Sleep(left > 2000000 ? (DWORD)(left / 1000000 - 1) : 0);
	}
}

/* ---------------------------------------------------------------- the broker */

static wchar_t broker_exe[MAX_PATH], self_exe[MAX_PATH];
static char tmproot[MAX_PATH];
static int run_no;

struct bk {
	PROCESS_INFORMATION pi;
	bool running;
	char dir[MAX_PATH], pipe[200], log[MAX_PATH + 32];
};

/* Starts dobrokerd.exe with the scenario (NULL: none) and extra flags. */
static int bk_start(struct bk *b, const char *scenario, const char *backend, const char *extra)
{
	char args[2048], scen[MAX_PATH + 32] = "";
	wchar_t cmd[4096], wargs[2048], wlog[MAX_PATH + 32];

	memset(b, 0, sizeof *b);
	snprintf(b->dir, sizeof b->dir, "%s\\run%d", tmproot, ++run_no);
	CreateDirectoryA(b->dir, NULL);
	snprintf(b->pipe, sizeof b->pipe, "\\\\.\\pipe\\dobbench-%lu-%d",
		 (unsigned long)GetCurrentProcessId(), run_no);
	snprintf(b->log, sizeof b->log, "%s\\broker.log", b->dir);
	if (scenario) {
		snprintf(scen, sizeof scen, "%s\\scenario.txt", b->dir);
		if (bench_write_file(scen, scenario, strlen(scenario)) != 0) {
			bad("cannot write %s", scen);
			return -1;
		}
	}
	snprintf(args, sizeof args,
		 "--backend %s --endpoint %s --state-dir \"%s\\state\" --max-conns 4096 "
		 "--max-jobs 100000 %s%s%s %s",
		 backend, b->pipe, b->dir, scenario ? "--scenario \"" : "", scenario ? scen : "",
		 scenario ? "\"" : "", extra ? extra : "");
	MultiByteToWideChar(CP_UTF8, 0, args, -1, wargs, 2048);
	MultiByteToWideChar(CP_UTF8, 0, b->log, -1, wlog, MAX_PATH + 32);
	swprintf(cmd, 4096, L"\"%ls\" %ls", broker_exe, wargs);
	SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
	HANDLE e = CreateFileW(wlog, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
			       CREATE_ALWAYS, 0, NULL);
	if (e == INVALID_HANDLE_VALUE) {
		bad("cannot create %s", b->log);
		return -1;
	}
	STARTUPINFOW si = { .cb = sizeof(si), .dwFlags = STARTF_USESTDHANDLES };
	si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
	si.hStdOutput = e;
	si.hStdError = e;
	BOOL ok = CreateProcessW(broker_exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &b->pi);
	CloseHandle(e);
	if (!ok) {
		bad("cannot start dobrokerd.exe (error %lu)", GetLastError());
		return -1;
	}
	b->running = true;
	for (int i = 0; i < 300; i++) {
		struct dobc *c;

		if (WaitForSingleObject(b->pi.hProcess, 0) == WAIT_OBJECT_0) {
			bad("dobrokerd.exe exited at start; see %s", b->log);
			b->running = false;
			return -1;
		}
		if ((c = bench_connect(b->pipe, "probe", DOB_ROLE_OBSERVER,
				     1u << DOB_EVENT_RESOLUTION, 200)) != NULL) {
			dobc_close(c);
			return 0;
		}
		Sleep(50);
	}
	bad("dobrokerd.exe did not answer on %s", b->pipe);
	return -1;
}

static void bk_stop(struct bk *b)
{
	if (!b->running)
		return;
	/* No console to send Ctrl-C to: the broker's state is journaled. */
	TerminateProcess(b->pi.hProcess, 0);
	WaitForSingleObject(b->pi.hProcess, 10000);
	CloseHandle(b->pi.hProcess);
	CloseHandle(b->pi.hThread);
	b->running = false;
}

static int submit(struct dobc *c, const struct bk *b, const char *url_fmt, int i)
{
	char url[256], local[MAX_PATH + 64], name[64], why[256];
	int err;

	snprintf(url, sizeof url, url_fmt, i);
	snprintf(local, sizeof local, "%s\\file-%d", b->dir, i);
	snprintf(name, sizeof name, "bench %d", i);
	err = bench_submit(c, url, local, name, 20000, why, sizeof why);
	if (err)
		bad("submit %s: %s", url, why);
	return err;
}

/* ---------------------------------------------------------------- raw pipes */

static int pipe_no;

/* A named pipe pair: server end (writer), client end (reader, overlapped). */
static int pipe_pair(HANDLE *srv, HANDLE *cli, bool overlapped_client)
{
	char name[200];

	snprintf(name, sizeof name, "\\\\.\\pipe\\dobbench-raw-%lu-%d",
		 (unsigned long)GetCurrentProcessId(), ++pipe_no);
	*srv = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, 1, 65536,
				65536, 0, NULL);
	if (*srv == INVALID_HANDLE_VALUE)
		return -1;
	*cli = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			   overlapped_client ? FILE_FLAG_OVERLAPPED : 0, NULL);
	if (*cli == INVALID_HANDLE_VALUE) {
		CloseHandle(*srv);
		return -1;
	}
	ConnectNamedPipe(*srv, NULL); /* already connected: ERROR_PIPE_CONNECTED */
	return 0;
}

static bool write_all(HANDLE h, const void *p, size_t n)
{
	DWORD put = 0;

	return WriteFile(h, p, (DWORD)n, &put, NULL) && put == n;
}

static bool read_all(HANDLE h, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		DWORD got = 0;

		if (!ReadFile(h, p, (DWORD)n, &got, NULL) || !got)
			return false;
		p += got;
		n -= got;
	}
	return true;
}

struct rawlat {
	int n;
	HANDLE srv[64], cli[64];
	size_t size;
	int count;
	int64_t t0, period;
};

static DWORD WINAPI raw_writer(void *arg)
{
	struct rawlat *r = arg;
	uint8_t *buf = calloc(1, r->size);
	uint32_t len = (uint32_t)(r->size - 4);

	memset(buf + 4, 0xA5, r->size - 4);
	memcpy(buf, &len, 4); /* little-endian target */
	for (int i = 0; i < r->count; i++) {
		int64_t t;

		wait_until_wall(r->t0 + (int64_t)i * r->period);
		t = wall_ns();
		memcpy(buf + 4, &t, sizeof t);
		for (int k = 0; k < r->n; k++)
			if (!write_all(r->srv[k], buf, r->size)) {
				free(buf);
				return 1;
			}
	}
	free(buf);
	return 0;
}

/* Reads r->count frames from each client end; latency from their stamps. */
static int raw_read(struct rawlat *r, struct bvec *lat, int64_t deadline)
{
	OVERLAPPED ov[64];
	HANDLE ev[64];
	uint8_t *buf[64];
	size_t have[64];
	int got[64], left = r->n, rc = 0;

	for (int k = 0; k < r->n; k++) {
		memset(&ov[k], 0, sizeof ov[k]);
		ev[k] = ov[k].hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
		buf[k] = malloc(65536);
		have[k] = 0;
		got[k] = 0;
		if (!ReadFile(r->cli[k], buf[k], 65536, NULL, &ov[k]) &&
		    GetLastError() != ERROR_IO_PENDING) {
			bad("raw pipe read: error %lu", GetLastError());
			return -1;
		}
	}
	while (left > 0) {
		int64_t now = mono_ns();
		DWORD w;

		if (now >= deadline) {
			rc = -1;
			break;
		}
		w = WaitForMultipleObjects((DWORD)r->n, ev, FALSE,
					   (DWORD)((deadline - now) / 1000000 + 1));
		if (w >= WAIT_OBJECT_0 + (DWORD)r->n)
			continue;
		for (int k = (int)(w - WAIT_OBJECT_0); k < r->n; k++) {
			DWORD n = 0;
			size_t off = 0;
			int64_t t;

			if (WaitForSingleObject(ev[k], 0) != WAIT_OBJECT_0)
				continue;
			if (!GetOverlappedResult(r->cli[k], &ov[k], &n, FALSE)) {
				bad("raw pipe read: error %lu", GetLastError());
				rc = -1;
				left = 0;
				break;
			}
			t = wall_ns();
			have[k] += n;
			while (have[k] - off >= 4) {
				uint32_t len;
				int64_t ts;

				memcpy(&len, buf[k] + off, 4);
				if (have[k] - off < 4 + (size_t)len)
					break;
				memcpy(&ts, buf[k] + off + 4, sizeof ts);
				bvec_push(lat, t - ts);
				off += 4 + len;
				if (++got[k] == r->count)
					left--;
			}
			memmove(buf[k], buf[k] + off, have[k] - off);
			have[k] -= off;
			ResetEvent(ev[k]);
			if (got[k] < r->count &&
			    !ReadFile(r->cli[k], buf[k] + have[k], (DWORD)(65536 - have[k]), NULL,
				      &ov[k]) &&
			    GetLastError() != ERROR_IO_PENDING) {
				bad("raw pipe read: error %lu", GetLastError());
				rc = -1;
				left = 0;
				break;
			}
		}
	}
	for (int k = 0; k < r->n; k++) {
		CancelIo(r->cli[k]);
		CloseHandle(ev[k]);
		free(buf[k]);
	}
	return rc;
}

/* ---------------------------------------------------------------- results */

#define NLAT 3
static const int sub_counts[NLAT] = { 1, 4, 8 };

struct lat_row {
	int subs;
	size_t frame;
	int events;
	struct bstats broker, raw;
	bool ok;
};

struct rt_row {
	const char *name;
	size_t req, resp;
	struct bstats s, base;
	bool run;
};

struct spawn_row {
	const char *name;
	struct bstats s;
};

static struct lat_row lat_rows[NLAT];
#define RT_ROWS 3
static struct rt_row rt_rows[RT_ROWS];
static struct spawn_row spawn_rows[2];
static struct bstats poll_rows[2];

/* ---------------------------------------------------------------- 1. latency */

#define T0_MS 2500

static int read_events(struct dobc **subs, int n, int want, int64_t deadline, struct bvec *lat,
		       size_t *frame)
{
	HANDLE hs[64];
	int got[64], left = n, rc = 0;

	for (int i = 0; i < n; i++) {
		hs[i] = (HANDLE)dobc_poll_handle(subs[i]);
		got[i] = 0;
	}
	while (left > 0) {
		int64_t now = mono_ns();
		DWORD w;

		if (now >= deadline) {
			rc = -1;
			break;
		}
		w = WaitForMultipleObjects((DWORD)n, hs, FALSE, (DWORD)((deadline - now) / 1000000 + 1));
		if (w >= WAIT_OBJECT_0 + (DWORD)n)
			continue;
		for (int i = (int)(w - WAIT_OBJECT_0); i < n; i++) {
			struct dob_msg m;
			int r;

			if (WaitForSingleObject(hs[i], 0) != WAIT_OBJECT_0 && !dobc_pending(subs[i]))
				continue;
			r = dobc_process(subs[i]);
			while (dobc_next_event(subs[i], &m, 0) == 0) {
				if (m.type == DOB_MSG_JOB_ERROR) {
					int64_t t = wall_ns();

					bvec_push(lat, t - m.u.job_error.first_seen_us * 1000);
					if (frame && !*frame)
						*frame = (size_t)dob_frame_size(&m);
					if (++got[i] == want)
						left--;
				}
				dob_msg_clear(&m);
			}
			if (r < 0 && got[i] < want) {
				bad("subscriber %d: connection over after %d of %d events: %s", i,
				    got[i], want, dobc_strerror(r));
				return -1;
			}
		}
	}
	if (rc)
		for (int i = 0; i < n; i++)
			if (got[i] < want)
				note("subscriber %d got %d of %d events", i, got[i], want);
	return rc;
}

static void run_latency(int row, int nsubs, int events, int period_ms)
{
	struct lat_row *L = &lat_rows[row];
	const int n_jobs = 16;
	struct sb s = { 0 };
	struct bk b;
	struct bvec lat = { 0 }, rlat = { 0 };
	struct dobc *subs[64] = { 0 };
	struct dobc *ctl = NULL;
	int64_t started;

	memset(L, 0, sizeof *L);
	L->subs = nsubs;
	L->events = events;
	bench_scenario_paced(&s, events, n_jobs, period_ms, T0_MS);
	started = mono_ns();
	if (bk_start(&b, s.p, "sim", NULL) < 0)
		goto out;
	for (int i = 0; i < nsubs; i++)
		if (!(subs[i] = bench_connect(b.pipe, "bench-sub", DOB_ROLE_OBSERVER,
					    1u << DOB_EVENT_JOB_ERROR, 10000))) {
			bad("subscriber %d could not connect", i);
			goto out;
		}
	if (!(ctl = bench_connect(b.pipe, "bench-submit", DOB_ROLE_CONTROLLER,
				1u << DOB_EVENT_RESOLUTION, 10000))) {
		bad("cannot connect to submit");
		goto out;
	}
	for (int i = 1; i <= n_jobs; i++)
		if (submit(ctl, &b, "https://bench.invalid/lat/%d", i) < 0)
			goto out;
	dobc_close(ctl);
	ctl = NULL;
	if (mono_ns() - started > (int64_t)(T0_MS - 300) * 1000000)
		note("setup took %lld ms, close to the first event at %d ms",
		     (long long)((mono_ns() - started) / 1000000), T0_MS);
	if (read_events(subs, nsubs, events,
			started + (int64_t)(T0_MS + events * period_ms + 15000) * 1000000, &lat,
			&L->frame) < 0)
		bad("latency, %d subscribers: events lost", nsubs);
	else
		L->ok = true;
out:
	dobc_close(ctl);
	for (int i = 0; i < nsubs; i++)
		dobc_close(subs[i]);
	bk_stop(&b);
	L->broker = bstats_of(&lat);
	if (L->frame) {
		struct rawlat r;
		HANDLE th;

		memset(&r, 0, sizeof r);
		r.n = nsubs;
		r.size = L->frame;
		r.count = events;
		r.period = (int64_t)period_ms * 1000000;
		for (int k = 0; k < nsubs; k++)
			if (pipe_pair(&r.srv[k], &r.cli[k], true) < 0) {
				bad("raw pipe: error %lu", GetLastError());
				r.n = k;
				goto raw_out;
			}
		r.t0 = wall_ns() + 100000000;
		th = CreateThread(NULL, 0, raw_writer, &r, 0, NULL);
		if (raw_read(&r, &rlat, mono_ns() + (int64_t)(events * period_ms + 15000) * 1000000) < 0)
			bad("raw pipe latency: frames lost");
		WaitForSingleObject(th, 10000);
		CloseHandle(th);
	raw_out:
		for (int k = 0; k < r.n; k++) {
			CloseHandle(r.srv[k]);
			CloseHandle(r.cli[k]);
		}
		L->raw = bstats_of(&rlat);
	}
	bvec_free(&lat);
	bvec_free(&rlat);
	free(s.p);
}

/* ---------------------------------------------------------------- 3. round trips */

struct echo {
	HANDLE srv, cli, th;
	size_t req, resp;
	uint8_t *buf; /* owned */
};

static DWORD WINAPI echo_thread(void *arg)
{
	struct echo *e = arg;
	uint8_t *b = calloc(1, e->req > e->resp ? e->req : e->resp);

	while (read_all(e->srv, b, e->req) && write_all(e->srv, b, e->resp))
		;
	free(b);
	return 0;
}

static int echo_start(struct echo *e, size_t req, size_t resp)
{
	memset(e, 0, sizeof *e);
	e->req = req;
	e->resp = resp;
	e->buf = calloc(1, req > resp ? req : resp);
	if (!e->buf || pipe_pair(&e->srv, &e->cli, false) < 0)
		return -1;
	e->th = CreateThread(NULL, 0, echo_thread, e, 0, NULL);
	return e->th ? 0 : -1;
}

static int echo_round(struct echo *e, struct bvec *v)
{
	int64_t t = mono_ns();

	if (!write_all(e->cli, e->buf, e->req) || !read_all(e->cli, e->buf, e->resp)) {
		bad("raw pipe ping-pong: the echo thread is gone");
		return -1;
	}
	if (v)
		bvec_push(v, mono_ns() - t);
	return 0;
}

static void echo_stop(struct echo *e)
{
	if (e->cli)
		CloseHandle(e->cli);
	if (e->th) {
		WaitForSingleObject(e->th, 5000);
		CloseHandle(e->th);
	}
	if (e->srv)
		CloseHandle(e->srv);
	free(e->buf);
	memset(e, 0, sizeof *e);
}

/* Each JobError of the controller's job is answered with a resume; the
 * next attempt fails again and brings the next JobError. wait_ms before
 * each Act. A raw round of the same sizes follows each. */
static void act_rounds(struct rt_row *row, const char *backend, const char *scenario,
		       const char *extra, const char *url_fmt, int rounds, int warm,
		       int event_timeout_ms, struct rt_row *ping_row)
{
	struct bvec v = { 0 }, base = { 0 }, pv = { 0 }, pbase = { 0 };
	struct echo e;
	struct bk b;
	struct dobc *c = NULL;
	struct dob_action_result res;

	memset(&e, 0, sizeof e);
	row->run = true;
	if (bk_start(&b, scenario, backend, extra) < 0)
		goto out;
	if (!(c = bench_connect(b.pipe, "bench-controller", DOB_ROLE_CONTROLLER,
			      1u << DOB_EVENT_JOB_ERROR, 10000))) {
		bad("%s: cannot connect", row->name);
		goto out;
	}
	if (submit(c, &b, url_fmt, 1) < 0)
		goto out;
	for (int i = 0; i < rounds + warm; i++) {
		struct dob_msg ev;
		struct dob_guid job;
		int64_t t;
		int r = dobc_next_event(c, &ev, event_timeout_ms);

		if (r < 0) {
			bad("%s: no JobError after %d actions: %s", row->name, i, dobc_strerror(r));
			goto out;
		}
		if (ev.type != DOB_MSG_JOB_ERROR) {
			dob_msg_clear(&ev);
			i--;
			continue;
		}
		job = ev.u.job_error.job.job_id;
		Sleep(1);
		t = mono_ns();
		r = dobc_act(c, &job, ev.u.job_error.episode_id, DOB_ACTION_RESUME, 0, &res, 20000);
		t = mono_ns() - t;
		if (r == 0 && !e.buf) {
			bench_act_sizes(&job, ev.u.job_error.episode_id, &res, &row->req, &row->resp);
			if (echo_start(&e, row->req, row->resp) < 0) {
				bad("raw pipe ping-pong: error %lu", GetLastError());
				r = -DOB_EIO;
			}
		}
		dob_msg_clear(&ev);
		if (r == 0 || r == -DOB_EREMOTE)
			dobc_action_result_clear(&res);
		if (r != 0) {
			bad("%s: act %d: %s (%s)", row->name, i, dobc_strerror(r),
			    dobc_last_error(c)->message);
			goto out;
		}
		Sleep(1);
		if (echo_round(&e, i >= warm ? &base : NULL) < 0)
			goto out;
		if (i >= warm)
			bvec_push(&v, t);
	}
	if (ping_row) {
		struct echo pe;

		bench_ping_sizes(&ping_row->req, &ping_row->resp);
		ping_row->run = true;
		if (echo_start(&pe, ping_row->req, ping_row->resp) == 0) {
			for (int i = 0; i < rounds + warm; i++) {
				int64_t t = mono_ns(), us;

				if (dobc_ping(c, &us, 10000) != 0) {
					bad("ping: %s", dobc_last_error(c)->message);
					break;
				}
				t = mono_ns() - t;
				if (echo_round(&pe, i >= warm ? &pbase : NULL) < 0)
					break;
				if (i >= warm)
					bvec_push(&pv, t);
			}
			echo_stop(&pe);
		}
		ping_row->s = bstats_of(&pv);
		ping_row->base = bstats_of(&pbase);
	}
out:
	dobc_close(c);
	bk_stop(&b);
	echo_stop(&e);
	row->s = bstats_of(&v);
	row->base = bstats_of(&base);
	bvec_free(&v);
	bvec_free(&base);
	bvec_free(&pv);
	bvec_free(&pbase);
}

static void run_round_trips(int bits_port)
{
	static const char sim_scen[] =
		"# wine_bench: every attempt fails at once; a resume starts the next\n"
		"seed 1\nrepeat off\nmodifications on\ndefault error http=404 after=0\n";
	int rounds = quick ? 200 : 1000;

	rt_rows[0].name = "Act -> ActionResult (sim)";
	rt_rows[1].name = "Ping -> Pong (no backend)";
	rt_rows[2].name = "Act -> ActionResult (bits: Wine's BITS)";
	note("action round trip, sim backend, %d rounds", rounds);
	act_rounds(&rt_rows[0], "sim", sim_scen, "--rate-limit 0", "https://bench.invalid/act/%d",
		   rounds, rounds / 10, 10000, &rt_rows[1]);
	if (bits_port > 0) {
		char url[128];
		int n = quick ? 10 : 30;

		/* Wine's BITS never calls JobError: the sweep finds each error,
		 * so each round waits for it (not timed: only Act -> ActionResult
		 * is). The server answers 404 to every GET. */
		snprintf(url, sizeof url, "http://127.0.0.1:%d/missing-%%d", bits_port);
		note("action round trip, bits backend, %d rounds", n);
		act_rounds(&rt_rows[2], "bits", NULL, "--sweep-interval-ms 100 --rate-limit 0", url, n,
			   2, 30000, NULL);
	}
}

/* ---------------------------------------------------------------- 6. spawn */

static void run_spawn(int n)
{
	wchar_t cmd[MAX_PATH + 64], sys[MAX_PATH], cmdexe[MAX_PATH + 32];
	struct bvec v[2] = { { 0 }, { 0 } };

	spawn_rows[0].name = "CreateProcess trivial .exe + wait";
	spawn_rows[1].name = "CreateProcess cmd.exe /c exit + wait";
	GetSystemDirectoryW(sys, MAX_PATH);
	swprintf(cmdexe, MAX_PATH + 32, L"%ls\\cmd.exe", sys);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < n + 2; i++) {
			STARTUPINFOW si = { .cb = sizeof(si) };
			PROCESS_INFORMATION pi;
			DWORD code = 99;
			int64_t t;

			if (k == 0)
				swprintf(cmd, MAX_PATH + 64, L"\"%ls\" --noop", self_exe);
			else
				swprintf(cmd, MAX_PATH + 64, L"cmd.exe /c exit 0");
			t = mono_ns();
			if (!CreateProcessW(k == 0 ? self_exe : cmdexe, cmd, NULL, NULL, FALSE, 0, NULL,
					    NULL, &si, &pi)) {
				bad("spawn (%s): error %lu", spawn_rows[k].name, GetLastError());
				break;
			}
			WaitForSingleObject(pi.hProcess, INFINITE);
			GetExitCodeProcess(pi.hProcess, &code);
			CloseHandle(pi.hProcess);
			CloseHandle(pi.hThread);
			t = mono_ns() - t;
			if (code != 0) {
				bad("spawn (%s): exit code %lu", spawn_rows[k].name, code);
				break;
			}
			if (i >= 2) /* the first ones warm Wine's caches */
				bvec_push(&v[k], t);
		}
		spawn_rows[k].s = bstats_of(&v[k]);
		bvec_free(&v[k]);
	}
}

/* ---------------------------------------------------------------- report */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (p) {
		n = (long)fread(p, 1, (size_t)n, f);
		p[n] = '\0';
	}
	fclose(f);
	return p;
}

static void print_report(const char *callback_json)
{
	printf("\n== 1. event latency (us): sim hand-off -> decoded at a libdobclient subscriber; "
	       "baseline: raw named pipe one-way, same size, same fan-out, same pace\n");
	printf("%5s %6s %7s | %8s %8s %8s | %8s %8s %8s | %6s %6s\n", "subs", "frame", "events",
	       "p50", "p99", "p99.9", "raw p50", "raw p99", "raw99.9", "x p50", "x p99");
	for (int i = 0; i < NLAT; i++) {
		const struct lat_row *L = &lat_rows[i];

		if (!L->events)
			continue;
		printf("%5d %6zu %7d | %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f | %6.2f %6.2f%s\n",
		       L->subs, L->frame, L->events, L->broker.p50, L->broker.p99, L->broker.p999,
		       L->raw.p50, L->raw.p99, L->raw.p999, bratio(L->broker.p50, L->raw.p50),
		       bratio(L->broker.p99, L->raw.p99), L->ok ? "" : "  FAILED");
	}
	printf("\n== 3. request round trips (us); baseline: raw named-pipe ping-pong of the same "
	       "sizes, interleaved round by round\n");
	printf("%-40s %4s %4s | %8s %8s %8s | %8s %8s | %6s %6s\n", "", "req", "resp", "p50",
	       "p99", "max", "raw p50", "raw p99", "x p50", "x p99");
	for (int i = 0; i < RT_ROWS; i++) {
		const struct rt_row *R = &rt_rows[i];

		if (!R->run)
			continue;
		printf("%-40s %4zu %4zu | %8.1f %8.1f %8.1f | %8.1f %8.1f | %6.2f %6.2f   (n=%zu)\n",
		       R->name, R->req, R->resp, R->s.p50, R->s.p99, R->s.max, R->base.p50,
		       R->base.p99, bratio(R->s.p50, R->base.p50), bratio(R->s.p99, R->base.p99),
		       R->s.n);
	}
	printf("\n== 4. callback return time: %s\n",
	       callback_json ? "callback_bench.exe's table above (embedded in the JSON)"
			     : "not run (no --callback-json)");
	printf("\n== 6. the alternatives\n");
	for (int i = 0; i < 2; i++)
		printf("  polling every %d s: detection latency mean %.0f ms, p99 %.0f ms (simulated "
		       "in virtual time, not measured)\n",
		       i ? 5 : 1, poll_rows[i].mean / 1000, poll_rows[i].p99 / 1000);
	for (int i = 0; i < 2; i++)
		printf("  %-40s p50 %8.0f us  p99 %8.0f us  (per event, n=%zu)\n", spawn_rows[i].name,
		       spawn_rows[i].s.p50, spawn_rows[i].s.p99, spawn_rows[i].s.n);
}

static void write_json(const char *path, const char *callback_json)
{
	FILE *f = fopen(path, "w");
	struct bjson j;

	if (!f) {
		bad("cannot write %s", path);
		return;
	}
	bj_begin(&j, f);
	bj_str(&j, "bench", "wine");
	bj_bool(&j, "quick", quick);
	bj_arr(&j, "latency");
	for (int i = 0; i < NLAT; i++) {
		const struct lat_row *L = &lat_rows[i];

		bj_obj(&j, NULL);
		bj_int(&j, "subscribers", L->subs);
		bj_int(&j, "frame_bytes", (int64_t)L->frame);
		bj_int(&j, "events", L->events);
		bj_bool(&j, "ok", L->ok);
		bj_stats(&j, "broker", &L->broker);
		bj_stats(&j, "raw_pipe", &L->raw);
		bj_num(&j, "ratio_p50", bratio(L->broker.p50, L->raw.p50));
		bj_num(&j, "ratio_p99", bratio(L->broker.p99, L->raw.p99));
		bj_close(&j);
	}
	bj_close(&j);
	bj_arr(&j, "round_trip");
	for (int i = 0; i < RT_ROWS; i++) {
		if (!rt_rows[i].run)
			continue;
		bj_obj(&j, NULL);
		bj_str(&j, "name", rt_rows[i].name);
		bj_int(&j, "request_bytes", (int64_t)rt_rows[i].req);
		bj_int(&j, "reply_bytes", (int64_t)rt_rows[i].resp);
		bj_stats(&j, "rtt", &rt_rows[i].s);
		bj_stats(&j, "raw_pipe", &rt_rows[i].base);
		bj_num(&j, "ratio_p50", bratio(rt_rows[i].s.p50, rt_rows[i].base.p50));
		bj_num(&j, "ratio_p99", bratio(rt_rows[i].s.p99, rt_rows[i].base.p99));
		bj_close(&j);
	}
	bj_close(&j);
	bj_obj(&j, "alternatives");
	bj_stats(&j, "polling_1s_simulated", &poll_rows[0]);
	bj_stats(&j, "polling_5s_simulated", &poll_rows[1]);
	bj_stats(&j, "spawn_trivial_exe_wait", &spawn_rows[0].s);
	bj_stats(&j, "spawn_cmd_exe_wait", &spawn_rows[1].s);
	bj_close(&j);
	bj_int(&j, "failures", failures);
	if (callback_json) {
		/* callback_bench.exe's own JSON object, as it wrote it. */
		fputs(",\n  \"callback_return\": ", f);
		fputs(callback_json, f);
	}
	bj_end(&j);
	fclose(f);
	printf("\nwrote %s\n", path);
}

int main(int argc, char **argv)
{
	const char *out = "wine.json", *cb_path = NULL;
	char *callback_json = NULL;
	int bits_port = 0;
	wchar_t *slash;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--noop"))
			return 0;
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--callback-json") && i + 1 < argc)
			cb_path = argv[++i];
		else if (!strcmp(argv[i], "--bits-port") && i + 1 < argc)
			bits_port = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: wine_bench.exe [--out FILE] [--quick] "
					"[--callback-json FILE] [--bits-port PORT]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	QueryPerformanceFrequency(&qpf);
	GetModuleFileNameW(NULL, self_exe, MAX_PATH);
	wcscpy(broker_exe, self_exe);
	slash = wcsrchr(broker_exe, L'\\');
	if (slash)
		slash[1] = 0;
	/* build/mingw/bench/ -> build/mingw/bin/dobrokerd.exe */
	wcscat(broker_exe, L"..\\bin\\dobrokerd.exe");
	GetTempPathA(MAX_PATH, tmproot);
	snprintf(tmproot + strlen(tmproot), MAX_PATH - strlen(tmproot), "dobbench-%lu",
		 (unsigned long)GetCurrentProcessId());
	CreateDirectoryA(tmproot, NULL);
	if (cb_path && !(callback_json = slurp(cb_path)))
		note("no callback_bench JSON at %s", cb_path);

	printf("wine_bench: dobrokerd.exe (named pipes) vs raw named pipes, same run%s\n",
	       quick ? " (--quick)" : "");
	int events = quick ? 300 : 1500, period_ms = 2;
	for (int i = 0; i < NLAT; i++) {
		note("latency, %d subscribers, %d events, one per %d ms", sub_counts[i], events,
		     period_ms);
		run_latency(i, sub_counts[i], events, period_ms);
	}
	run_round_trips(bits_port);
	note("process spawn");
	run_spawn(quick ? 10 : 30);
	bench_polling(poll_rows);
	print_report(callback_json);
	write_json(out, callback_json);
	free(callback_json);
	if (failures)
		printf("wine_bench: %d measurement(s) FAILED (see stderr)\n", failures);
	return failures ? 1 : 0;
}
