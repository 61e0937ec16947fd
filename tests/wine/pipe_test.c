/*
 * pipe_test.exe - the Win32 platform's loop and named-pipe server, driven
 * through broker/platform.h by a small echo "core" (run under Wine by
 * scripts/check.sh).
 *
 * The loop runs on its own thread; the test's clients are plain blocking
 * pipe handles opened as the client library opens them (SECURITY_SQOS_PRESENT
 * | SECURITY_IDENTIFICATION). Commands, one per client write (each client
 * waits for its answer, so a command arrives in one read):
 *   E...  echo the bytes back
 *   X     answer "bye" and plat_conn_close_after_write
 *   K     plat_conn_close at once
 *   B     answer 1 MiB in one plat_conn_write (many pipe-buffers' worth),
 *         and check that a second write meanwhile gets -DOB_EAGAIN
 */
#include <process.h>
#include <stdlib.h>

#include "wtest.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"
#include "win32/win.h"

#define BIG (1024 * 1024)
#define NTHREADS_POST 4
#define NPOSTS 2000
#define NCLIENTS 100

/* ------------------------------------------------------------ the core */

struct tconn {
	struct plat_conn *c;
	uint32_t pid;
	uint8_t *fly;        /* the buffer being written (owned) */
	uint8_t *pend;       /* bytes waiting for the write to finish (owned) */
	size_t npend;
};

struct tmsg {
	struct plat_msg m;
	int thread;
	int seq;
};

static struct plat_loop *loop;
static volatile LONG n_accepted, n_closed, n_closed_hangup, n_sent, n_data, n_ticks;
static volatile LONG n_posted, post_order_bad, n_eagain, last_pid_ok = 1;
static int post_last[NTHREADS_POST];
/* Buffers handed to close/close_after_write: the platform may still use them
 * (platform.h: valid until sent or closed; neither follows a close). */
static uint8_t *graveyard[4096];
static volatile LONG n_grave;
static volatile LONG tick_ms = -1;

static void bury(uint8_t *p)
{
	if (!p)
		return;
	LONG i = InterlockedIncrement(&n_grave) - 1;
	if (i < (LONG)(sizeof(graveyard) / sizeof(graveyard[0])))
		graveyard[i] = p;
}

static void flush(struct tconn *t)
{
	if (t->fly || t->npend == 0)
		return;
	t->fly = t->pend;
	size_t n = t->npend;
	t->pend = NULL;
	t->npend = 0;
	int r = plat_conn_write(t->c, t->fly, n);
	if (r != 0) {
		printf("plat_conn_write: %d\n", r);
		dob_free(t->fly);
		t->fly = NULL;
	}
}

static void queue(struct tconn *t, const void *p, size_t n)
{
	uint8_t *b = dob_realloc(t->pend, t->npend + n);
	if (!b)
		abort();
	memcpy(b + t->npend, p, n);
	t->pend = b;
	t->npend += n;
}

static void on_accepted(void *ctx, struct plat_conn *c, const struct dob_identity *peer)
{
	struct tconn *t = calloc(1, sizeof(*t));
	t->c = c;
	t->pid = peer->pid;
	if (peer->pid != GetCurrentProcessId() || !peer->user_sid || !peer->user_sid[0])
		InterlockedExchange(&last_pid_ok, 0);
	plat_conn_set_data(c, t);
	InterlockedIncrement(&n_accepted);
}

static void drop(struct tconn *t)
{
	bury(t->fly);
	dob_free(t->pend);
	free(t);
}

static void on_data(void *ctx, struct plat_conn *c, const uint8_t *p, size_t n)
{
	struct tconn *t = plat_conn_get_data(c);
	InterlockedIncrement(&n_data);
	switch (p[0]) {
	case 'X':
		queue(t, "bye", 3);
		flush(t);
		plat_conn_set_data(c, NULL);
		plat_conn_close_after_write(c, NULL);
		drop(t);
		return;
	case 'K':
		plat_conn_set_data(c, NULL);
		plat_conn_close(c, NULL);
		drop(t);
		return;
	case 'B': {
		if (t->fly)
			abort(); /* the client waits for its answers */
		uint8_t *b = dob_malloc(BIG);
		for (size_t i = 0; i < BIG; i++)
			b[i] = (uint8_t)(i * 7 + i / 251);
		t->fly = b;
		if (plat_conn_write(c, b, BIG) != 0)
			abort();
		static const uint8_t more[1] = {'!'};
		if (plat_conn_write(c, more, 1) == -DOB_EAGAIN)
			InterlockedIncrement(&n_eagain);
		return;
	}
	default:
		queue(t, p, n);
		flush(t);
	}
}

static volatile LONG n_sent_cancelled; /* sent(-DOB_ECLOSED) after the test let go */

static void on_sent(void *ctx, struct plat_conn *c, int status)
{
	struct tconn *t = plat_conn_get_data(c);
	if (!t) { /* closed by the test: the write reports anyway (platform.h) */
		if (status == -DOB_ECLOSED)
			InterlockedIncrement(&n_sent_cancelled);
		return;
	}
	InterlockedIncrement(&n_sent);
	dob_free(t->fly);
	t->fly = NULL;
	flush(t);
}

static void on_closed(void *ctx, struct plat_conn *c, int err)
{
	struct tconn *t = plat_conn_get_data(c);
	if (err == -DOB_ECLOSED || err == 0)
		InterlockedIncrement(&n_closed_hangup);
	InterlockedIncrement(&n_closed);
	if (t)
		drop(t);
}

static void on_posted(void *ctx, void *msg)
{
	struct tmsg *m = msg;
	if (m->thread < 0) { /* a bare wake-up */
		free(m);
		return;
	}
	if (m->seq != post_last[m->thread] + 1)
		InterlockedIncrement(&post_order_bad);
	post_last[m->thread] = m->seq;
	InterlockedIncrement(&n_posted);
	free(m);
}

static int64_t on_next_timeout(void *ctx)
{
	return tick_ms;
}

static void on_tick(void *ctx)
{
	InterlockedIncrement(&n_ticks);
}

static const struct plat_handlers handlers = {
	.accepted = on_accepted,
	.data = on_data,
	.sent = on_sent,
	.closed = on_closed,
	.posted = on_posted,
	.next_timeout_ms = on_next_timeout,
	.tick = on_tick,
};

static volatile LONG loop_rc = 12345;

static unsigned __stdcall loop_thread(void *arg)
{
	InterlockedExchange(&loop_rc, plat_loop_run(loop));
	return 0;
}

/* ------------------------------------------------------------ clients */

static char pipe_name[200];

static int echo(HANDLE h, const char *s)
{
	size_t n = strlen(s);
	char back[256];
	if (!wt_write_all(h, s, n) || !wt_read_all(h, back, n))
		return 0;
	return memcmp(back, s, n) == 0;
}

/* True when the next read sees the end of the pipe. */
static int at_eof(HANDLE h)
{
	char b[8];
	DWORD got = 0;
	BOOL ok = ReadFile(h, b, sizeof(b), &got, NULL);
	DWORD e = GetLastError();
	return !ok && (e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA);
}

static unsigned __stdcall poster(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 1; i <= NPOSTS; i++) {
		struct tmsg *m = malloc(sizeof(*m));
		m->thread = id;
		m->seq = i;
		while (plat_post(loop, m) != 0)
			Sleep(1);
	}
	return 0;
}

static volatile LONG clients_ok, clients_done;

static unsigned __stdcall client(void *arg)
{
	int id = (int)(intptr_t)arg;
	HANDLE h = wt_connect(pipe_name, 20000);
	int ok = h != INVALID_HANDLE_VALUE;
	for (int i = 0; ok && i < 10; i++) {
		char msg[64];
		snprintf(msg, sizeof(msg), "E client %d message %d", id, i);
		ok = echo(h, msg);
		if (i == 0)
			Sleep(200); /* keep all of them connected at once */
	}
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	if (ok)
		InterlockedIncrement(&clients_ok);
	InterlockedIncrement(&clients_done);
	return 0;
}

/* ------------------------------------------------------------ tests */

static void test_echo_and_identity(void)
{
	HANDLE a = wt_connect(pipe_name, 5000), b = wt_connect(pipe_name, 5000);
	CHECK(a != INVALID_HANDLE_VALUE);
	CHECK(b != INVALID_HANDLE_VALUE);
	CHECK(echo(a, "E hello from a"));
	CHECK(echo(b, "E hello from b"));
	CHECK(echo(a, "E again a"));
	WAIT_FOR(n_accepted >= 2, 2000);
	CHECK_EQ(n_accepted, 2);
	CHECK(last_pid_ok);
	WAIT_FOR(n_sent >= 3, 2000); /* the client may read before sent() runs */
	CHECK(n_sent >= 3);

	/* Peer hang-up -> closed(-DOB_ECLOSED), exactly once per conn. */
	LONG before = n_closed;
	CloseHandle(a);
	WAIT_FOR(n_closed >= before + 1, 3000);
	CHECK_EQ(n_closed, before + 1);
	CHECK_EQ(n_closed_hangup, before + 1);
	CHECK(echo(b, "E b still served"));
	CloseHandle(b);
	WAIT_FOR(n_closed >= before + 2, 3000);
	CHECK_EQ(n_closed, before + 2);
}

static void test_close_after_write(void)
{
	HANDLE h = wt_connect(pipe_name, 5000);
	CHECK(h != INVALID_HANDLE_VALUE);
	LONG closed_before = n_closed;
	char b[3];
	CHECK(wt_write_all(h, "X", 1));
	CHECK(wt_read_all(h, b, 3) && memcmp(b, "bye", 3) == 0);
	CHECK(at_eof(h));
	CloseHandle(h);
	Sleep(100);
	CHECK_EQ(n_closed, closed_before); /* no closed() after the core's close */
}

static void test_close_now(void)
{
	HANDLE h = wt_connect(pipe_name, 5000);
	CHECK(h != INVALID_HANDLE_VALUE);
	CHECK(echo(h, "E before"));
	LONG closed_before = n_closed;
	CHECK(wt_write_all(h, "K", 1));
	CHECK(at_eof(h));
	CloseHandle(h);
	Sleep(100);
	CHECK_EQ(n_closed, closed_before);
}

static void test_big_write(void)
{
	HANDLE h = wt_connect(pipe_name, 5000);
	CHECK(h != INVALID_HANDLE_VALUE);
	LONG sent_before = n_sent;
	CHECK(wt_write_all(h, "B", 1));
	uint8_t *b = malloc(BIG);
	CHECK(wt_read_all(h, b, BIG));
	size_t bad = 0;
	for (size_t i = 0; i < BIG; i++)
		if (b[i] != (uint8_t)(i * 7 + i / 251))
			bad++;
	CHECK_EQ(bad, 0);
	free(b);
	WAIT_FOR(n_sent >= sent_before + 1, 3000);
	CHECK_EQ(n_sent, sent_before + 1);
	CHECK_EQ(n_eagain, 1); /* one write in flight at most */
	LONG closed_before = n_closed;
	CHECK(echo(h, "E after big"));
	WAIT_FOR(n_sent >= sent_before + 2, 3000);
	CloseHandle(h);
	WAIT_FOR(n_closed >= closed_before + 1, 3000);
	CHECK_EQ(n_closed, closed_before + 1);
}

/* Reads until EOF; returns the byte count (or -1 on another error). */
static long read_to_eof(HANDLE h)
{
	static uint8_t b[65536];
	long total = 0;
	for (;;) {
		DWORD got = 0;
		if (!ReadFile(h, b, sizeof(b), &got, NULL)) {
			DWORD e = GetLastError();
			return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED ? total : -1;
		}
		total += (long)got;
	}
}

/* plat_conn_close with a write stuck in flight (the peer does not read):
 * the write is cancelled, the instance freed, the peer sees what the pipe
 * had taken, then EOF. */
static void test_close_with_write_in_flight(void)
{
	HANDLE h = wt_connect(pipe_name, 5000);
	CHECK(h != INVALID_HANDLE_VALUE);
	LONG sent_before = n_sent, closed_before = n_closed, cancelled_before = n_sent_cancelled;
	CHECK(wt_write_all(h, "B", 1));
	Sleep(100);
	CHECK(wt_write_all(h, "K", 1));
	Sleep(100);
	long got = read_to_eof(h);
	CHECK(got >= 0 && got < BIG);
	CloseHandle(h);
	Sleep(50);
	CHECK_EQ(n_sent, sent_before);
	CHECK_EQ(n_closed, closed_before);
	CHECK_EQ(n_sent_cancelled, cancelled_before + 1); /* the write reported, cancelled */
}

/* close_after_write to a peer that never reads: cut off after 5 s. */
static void test_drain_deadline(void)
{
	HANDLE h = wt_connect(pipe_name, 5000);
	CHECK(h != INVALID_HANDLE_VALUE);
	LONG closed_before = n_closed;
	CHECK(wt_write_all(h, "B", 1));
	Sleep(100);
	CHECK(wt_write_all(h, "X", 1));
	Sleep(5600);
	long got = read_to_eof(h); /* EOF comes: the server end is gone */
	CHECK(got >= 0 && got < BIG);
	CloseHandle(h);
	CHECK_EQ(n_closed, closed_before);
}

/* The value of a new handle: handle slots are reused lowest first, so a
 * leak of N handles shows as a value about 4N higher (GetProcessHandleCount
 * is a stub returning 0 under Wine). */
static uintptr_t next_handle_value(void)
{
	HANDLE e = CreateEventW(NULL, FALSE, FALSE, NULL);
	CloseHandle(e);
	return (uintptr_t)e;
}

/* Connect and hang up many times: no handle is left behind. */
static void test_no_handle_leak(void)
{
	DWORD before = 0, after = 0;
	uintptr_t hv_before = next_handle_value();
	CHECK(GetProcessHandleCount(GetCurrentProcess(), &before));
	LONG closed_before = n_closed;
	int ok = 0;
	for (int i = 0; i < 1000; i++) {
		HANDLE h = wt_connect(pipe_name, 5000);
		if (h == INVALID_HANDLE_VALUE)
			continue;
		ok += echo(h, "E x");
		CloseHandle(h);
	}
	CHECK_EQ(ok, 1000);
	WAIT_FOR(n_closed >= closed_before + 1000, 10000);
	CHECK_EQ(n_closed - closed_before, 1000);
	Sleep(100);
	CHECK(GetProcessHandleCount(GetCurrentProcess(), &after));
	uintptr_t hv_after = next_handle_value();
	printf("handles: %lu before, %lu after 1000 connections (next value %#lx, %#lx)\n",
	       (unsigned long)before, (unsigned long)after, (unsigned long)hv_before,
	       (unsigned long)hv_after);
	CHECK(after <= before + 2);
	CHECK(hv_after <= hv_before + 4 * 8);
}

static void test_posts_in_order(void)
{
	HANDLE th[NTHREADS_POST];
	for (int i = 0; i < NTHREADS_POST; i++)
		th[i] = (HANDLE)_beginthreadex(NULL, 0, poster, (void *)(intptr_t)i, 0, NULL);
	WaitForMultipleObjects(NTHREADS_POST, th, TRUE, 20000);
	for (int i = 0; i < NTHREADS_POST; i++)
		CloseHandle(th[i]);
	WAIT_FOR(n_posted >= NTHREADS_POST * NPOSTS, 10000);
	CHECK_EQ(n_posted, NTHREADS_POST * NPOSTS);
	CHECK_EQ(post_order_bad, 0);
}

static void test_timeout_ticks(void)
{
	/* No I/O: the loop must still wake for the core's timers. */
	InterlockedExchange(&tick_ms, 20);
	struct tmsg *wake = calloc(1, sizeof(*wake));
	wake->thread = -1;
	CHECK_EQ(plat_post(loop, wake), 0); /* a wake-up: the loop re-reads the timeout */
	CHECK_EQ(plat_post(loop, NULL), -DOB_EINVAL);
	Sleep(20);
	LONG t0 = n_ticks;
	Sleep(300);
	CHECK(n_ticks - t0 >= 5);
	InterlockedExchange(&tick_ms, -1);
}

static void test_many_clients(void)
{
	HANDLE th[NCLIENTS];
	LONG acc_before = n_accepted, closed_before = n_closed;
	for (int i = 0; i < NCLIENTS; i++)
		th[i] = (HANDLE)_beginthreadex(NULL, 64 * 1024, client, (void *)(intptr_t)i, 0,
					       NULL);
	for (int i = 0; i < NCLIENTS; i += 50)
		WaitForMultipleObjects(NCLIENTS - i < 50 ? NCLIENTS - i : 50, th + i, TRUE, 60000);
	for (int i = 0; i < NCLIENTS; i++)
		CloseHandle(th[i]);
	CHECK_EQ(clients_done, NCLIENTS);
	CHECK_EQ(clients_ok, NCLIENTS);
	WAIT_FOR(n_closed >= closed_before + NCLIENTS, 10000);
	CHECK_EQ(n_accepted - acc_before, NCLIENTS);
	CHECK_EQ(n_closed - closed_before, NCLIENTS);
}

static void test_second_listener_refused(void)
{
	struct plat_loop *l2 = NULL;
	CHECK_EQ(plat_loop_new(&l2, &handlers), 0);
	struct plat_listen_opts o = {.endpoint = pipe_name};
	char err[512] = "";
	CHECK_EQ(plat_listen(l2, &o, err, sizeof(err)), -DOB_EEXIST);
	char want[512];
	snprintf(want, sizeof(want),
		 "another server is already listening on %s; refusing to start (pipe squatting "
		 "protection)",
		 pipe_name);
	CHECK_STR(err, want);
	plat_loop_free(l2);
	/* The probe was a connection to the first server: it comes and goes. */
	HANDLE h = wt_connect(pipe_name, 5000);
	CHECK(h != INVALID_HANDLE_VALUE && echo(h, "E first server still serves"));
	CloseHandle(h);
}

static void test_bad_names(void)
{
	struct plat_loop *l2 = NULL;
	CHECK_EQ(plat_loop_new(&l2, &handlers), 0);
	char err[512] = "";
	struct plat_listen_opts o = {.endpoint = "\\\\.\\pipe\\a\\b"};
	CHECK_EQ(plat_listen(l2, &o, err, sizeof(err)), -DOB_EINVAL);
	CHECK(strstr(err, "invalid pipe name") != NULL);
	o.endpoint = "";
	CHECK_EQ(plat_listen(l2, &o, err, sizeof(err)), -DOB_EINVAL);
	/* Package SIDs that are not package SIDs never reach the SDDL. */
	char name[200];
	wt_unique_pipe(name, sizeof(name), "badsid");
	const char *sids[] = {"S-1-15-2-1)(A;;FA;;;WD", NULL};
	o.endpoint = name;
	o.allow_sandboxed = true;
	o.package_sids = sids;
	CHECK_EQ(plat_listen(l2, &o, err, sizeof(err)), -DOB_EINVAL);
	CHECK(strstr(err, "package SID") != NULL);
	plat_loop_free(l2);
}

/* A bare name gets the \\.\pipe\ prefix. */
static void test_bare_name(void)
{
	struct plat_loop *l2 = NULL;
	CHECK_EQ(plat_loop_new(&l2, &handlers), 0);
	char full[200];
	wt_unique_pipe(full, sizeof(full), "bare");
	struct plat_listen_opts o = {.endpoint = full + strlen("\\\\.\\pipe\\")};
	char err[512] = "";
	CHECK_EQ(plat_listen(l2, &o, err, sizeof(err)), 0);
	HANDLE h = wt_connect(full, 2000);
	CHECK(h != INVALID_HANDLE_VALUE);
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	plat_loop_free(l2); /* with a connection not yet accepted: no handler runs */
}

/* What the console control handler and SERVICE_CONTROL_STOP call. */
static unsigned __stdcall stopper(void *arg)
{
	Sleep(50);
	win_request_stop();
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	wt_unique_pipe(pipe_name, sizeof(pipe_name), "pipe");
	CHECK_EQ(plat_loop_new(&loop, &handlers), 0);
	struct plat_listen_opts o = {.endpoint = pipe_name};
	char err[512] = "";
	int r = plat_listen(loop, &o, err, sizeof(err));
	if (!CHECK_EQ(r, 0)) {
		printf("plat_listen: %s\n", err);
		return wt_finish("pipe_test");
	}
	CHECK_EQ(plat_listen(loop, &o, err, sizeof(err)), -DOB_ESTATE);
	CHECK_EQ(plat_handle_signals(loop), 0);
	HANDLE lt = (HANDLE)_beginthreadex(NULL, 0, loop_thread, NULL, 0, NULL);

	test_echo_and_identity();
	test_close_after_write();
	test_close_now();
	test_big_write();
	test_close_with_write_in_flight();
	test_drain_deadline();
	test_no_handle_leak();
	test_posts_in_order();
	test_timeout_ticks();
	test_many_clients();
	test_second_listener_refused();
	test_bad_names();
	test_bare_name();

	/* Stop from another thread (the path of Ctrl+C and of the service's
	 * stop); the loop returns 0. */
	HANDLE held = wt_connect(pipe_name, 2000); /* open at free time */
	CHECK(held != INVALID_HANDLE_VALUE && echo(held, "E held"));
	HANDLE st = (HANDLE)_beginthreadex(NULL, 0, stopper, NULL, 0, NULL);
	CHECK_EQ(WaitForSingleObject(lt, 5000), WAIT_OBJECT_0);
	CHECK_EQ(loop_rc, 0);
	WaitForSingleObject(st, 5000);
	CloseHandle(st);
	CloseHandle(lt);

	/* A stop before run: run returns at once. */
	plat_loop_stop(loop);
	CHECK_EQ(plat_loop_run(loop), 0);

	/* Free with a live connection: closed without callbacks, the client sees EOF. */
	LONG closed_before = n_closed;
	plat_loop_free(loop);
	CHECK_EQ(n_closed, closed_before);
	CHECK(at_eof(held));
	CloseHandle(held);

	for (LONG i = 0; i < n_grave && i < (LONG)(sizeof(graveyard) / sizeof(graveyard[0])); i++)
		dob_free(graveyard[i]);
	return wt_finish("pipe_test");
}
