/*
 * callback_bench.exe - issue 6 item 4: how long the COM callback object's
 * JobError takes to return S_OK, against the cost of the one wake-up it
 * makes, measured alone in the same run. Prints a table and writes JSON.
 *
 *   callback_bench.exe [OUT.json] [CALLS]
 *
 * The callback is called the way the service calls it, with a real job
 * proxy (a BITS job of Wine's service, so AddRef/Release are a proxy's) and
 * its IBackgroundCopyError when there is one (none here: JobError's cost
 * does not depend on it). Scenarios:
 *   idle     the event workers are asleep: every call wakes one
 *   busy     the event workers are reading (the ring never empties) and a
 *            request worker is stuck in a slow call
 *   stalled  as idle, but the loop thread is stopped: nothing drains the
 *            loop's queue (a core stuck behind a subscriber)
 *   broker   the REAL broker in this process (core + Win32 loop + named
 *            pipes + the bits backend, as dobrokerd.exe runs them) with 64
 *            pipe subscribers (libdobclient), one of which never reads; the
 *            callback's pool posts into that broker's loop. A thread calls
 *            JobModification on a job the broker manages as fast as the
 *            workers take it (each one a JobModified fanned out to the 64),
 *            both request workers are stuck in a slow call, and JobError is
 *            timed meanwhile.
 * The callback touches no subscriber, no loop state and makes no RPC, so the
 * number of subscribers cannot enter into it; "broker" shows it.
 * Baselines: PostQueuedCompletionStatus alone (the loop's wake-up), and
 * WakeConditionVariable with a thread asleep on it (the callback's own
 * wake-up). Benchmarks print; they never fail on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/backend_win32.h"
#include "win32/com.h"
#include "com_tests.h"

#include "broker.h"
#include "config.h"
#include "dob/err.h"
#include "dobclient.h"
#include "log.h"

static LARGE_INTEGER freq;

static int64_t now_ticks(void)
{
	LARGE_INTEGER c;

	QueryPerformanceCounter(&c);
	return c.QuadPart;
}

struct row {
	const char *name;
	double p50, p99, p999, max;
	int n;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static struct row summarize(const char *name, int64_t *t, int n)
{
	struct row r = { name, 0, 0, 0, 0, n };
	double us = 1e6 / (double)freq.QuadPart;

	qsort(t, (size_t)n, sizeof(*t), cmp_i64);
	r.p50 = (double)t[n / 2] * us;
	r.p99 = (double)t[(int64_t)n * 99 / 100] * us;
	r.p999 = (double)t[(int64_t)n * 999 / 1000] * us;
	r.max = (double)t[n - 1] * us;
	return r;
}

/* ------------------------------------------------------------ the loop, on its own thread */

static struct tl t;
static volatile LONG loop_quit;

static bool loop_should_quit(struct tl *tl, void *arg)
{
	tl_clear(tl); /* events are not kept: only their flow matters */
	return InterlockedCompareExchange(&loop_quit, 0, 0) != 0;
}

static DWORD WINAPI loop_thread(void *arg)
{
	tl_run(&t, loop_should_quit, NULL, INFINITE);
	return 0;
}

static HANDLE loop_start(void)
{
	InterlockedExchange(&loop_quit, 0);
	return CreateThread(NULL, 0, loop_thread, NULL, 0, NULL);
}

static void loop_join(HANDLE h)
{
	InterlockedExchange(&loop_quit, 1);
	WaitForSingleObject(h, INFINITE);
	CloseHandle(h);
}

/* ------------------------------------------------------------ scenarios */

static struct com_pool *pool;

static void wait_pool_below(struct com_pool *p, uint64_t n)
{
	struct com_pool_stats st;

	for (;;) {
		com_pool_stats(p, &st);
		if (st.callbacks - st.events_posted < n)
			return;
		Sleep(1);
	}
}

static void wait_backlog_below(uint64_t n)
{
	wait_pool_below(pool, n);
}

/* Each call made once the workers are asleep again. */
static void run_idle(IBackgroundCopyCallback2 *cb, IBackgroundCopyJob *job, int64_t *ticks, int n)
{
	for (int i = 0; i < n; i++) {
		wait_backlog_below(1);
		Sleep(1); /* the worker is back in its wait */
		int64_t a = now_ticks();
		IBackgroundCopyCallback2_JobError(cb, job, NULL);
		ticks[i] = now_ticks() - a;
	}
}

struct slow_req {
	struct com_req base;
	DWORD ms;
};

static void slow_run(struct com_req *r)
{
	Sleep(((struct slow_req *)r)->ms);
}

static void slow_drop(struct com_req *r)
{
}

static void run_busy(IBackgroundCopyCallback2 *cb, IBackgroundCopyJob *job, int64_t *ticks, int n)
{
	static struct slow_req stuck[2];

	for (int i = 0; i < 2; i++) { /* both request workers inside a slow "Cancel" */
		stuck[i].base.run = slow_run;
		stuck[i].base.drop = slow_drop;
		stuck[i].ms = 3000;
		com_pool_push_request(pool, &stuck[i].base);
	}
	for (int i = 0; i < n; i++) {
		if ((i & 127) == 0)
			wait_backlog_below(512); /* keep the ring from filling (not timed) */
		int64_t a = now_ticks();
		IBackgroundCopyCallback2_JobError(cb, job, NULL);
		ticks[i] = now_ticks() - a;
	}
	wait_backlog_below(1);
}

/* ------------------------------------------------------------ the real broker */

#define NSUBS 64

/* The bits backend's start, wrapped: the broker's sink is kept so that the
 * bench's own callback pool can post into the same loop, the way the
 * backend's pool does. */
static struct backend_ops shim_ops;
static int (*real_start)(struct backend *b, struct plat_loop *loop, const struct backend_sink *s);
static struct backend_sink broker_sink;
static struct plat_loop *broker_loop;

static int shim_start(struct backend *b, struct plat_loop *loop, const struct backend_sink *s)
{
	broker_sink = *s;
	broker_loop = loop;
	return real_start(b, loop, s);
}

static DWORD WINAPI broker_thread(void *arg)
{
	return (DWORD)plat_loop_run(arg);
}

struct reader {
	struct dobc *c;
	HANDLE th;
	long events;
	int err;
};

static volatile LONG readers_quit, flood_quit;

static DWORD WINAPI reader_thread(void *arg)
{
	struct reader *r = arg;

	while (!InterlockedCompareExchange(&readers_quit, 0, 0)) {
		struct dob_msg m;
		int rc = dobc_next_event(r->c, &m, 100);

		if (rc == 0) {
			r->events++;
			dob_msg_clear(&m);
		} else if (rc != -DOB_ETIMEDOUT) {
			r->err = rc;
			break;
		}
	}
	return 0;
}

struct flood {
	IBackgroundCopyCallback2 *cb;
	IBackgroundCopyJob *job;
	struct com_pool *pool;
	long calls;
};

static DWORD WINAPI flood_thread(void *arg)
{
	struct flood *f = arg;

	while (!InterlockedCompareExchange(&flood_quit, 0, 0)) {
		/* The workers read a job in about a millisecond under Wine: keep
		 * the ring (1024 slots) from filling, and leave room for the
		 * timed JobError calls. */
		if ((f->calls & 15) == 0)
			wait_pool_below(f->pool, 700);
		IBackgroundCopyCallback2_JobModification(f->cb, f->job, 0);
		f->calls++;
	}
	return 0;
}

struct broker_run {
	bool ok;
	char why[256];
	long flood_calls;
	long events_min, events_max; /* per reading subscriber */
	struct com_pool_stats pool;  /* the callback's pool at the end */
	bool stats_ok;
	uint32_t subscribers_after;  /* GetStats at the end (it never counts its caller) */
	bool silent_connected;       /* the one that never reads, at the end */
	uint32_t silent_queue;       /* its queue depth then */
	uint64_t silent_dropped;     /* events dropped for it (Gap) */
};

/* Times n JobError calls (1 ms apart) into ticks. */
static void run_broker(IBackgroundCopyManager *mgr, int64_t *ticks, int n, struct broker_run *out)
{
	static struct slow_req stuck[2];
	struct broker_config cfg;
	struct backend *be = NULL;
	struct broker *b = NULL;
	struct plat_handlers h;
	struct plat_loop *loop = NULL;
	struct com_pool *bp = NULL;
	IBackgroundCopyCallback2 *cb = NULL;
	IBackgroundCopyJob *job = NULL;
	struct reader rd[NSUBS];
	struct flood fl = { 0 };
	HANDLE lt = NULL, ft = NULL;
	char ep[96], dir[MAX_PATH], err[512] = "", tmp[MAX_PATH];
	int nsubs = 0, rc;

	memset(out, 0, sizeof(*out));
	memset(rd, 0, sizeof(rd));
	snprintf(ep, sizeof(ep), "\\\\.\\pipe\\dob-callback-bench-%lu",
		 (unsigned long)GetCurrentProcessId());
	GetTempPathA(sizeof(tmp), tmp);
	snprintf(dir, sizeof(dir), "%sdob-callback-bench-%lu", tmp,
		 (unsigned long)GetCurrentProcessId());
	dob_log_set_level(DOB_LOG_WARN); /* the broker's log on stderr: warnings only */
	config_defaults(&cfg);
	if (config_set(&cfg, "endpoint", ep, err, sizeof(err)) ||
	    config_set(&cfg, "state-dir", dir, err, sizeof(err)) ||
	    config_set(&cfg, "max-conns", "4096", err, sizeof(err)) ||
	    config_set(&cfg, "rate-limit", "0", err, sizeof(err)) ||
	    /* the silent subscriber's queue passes its soft limit within the
	     * run (JobModified dropped for it, with a Gap), not its hard limit */
	    config_set(&cfg, "queue-soft-limit", "32", err, sizeof(err)) ||
	    config_set(&cfg, "backend", "bits", err, sizeof(err)))
		goto fail;
	rc = win_backend_new(&be, "bits", err, sizeof(err));
	if (rc)
		goto fail;
	shim_ops = *be->ops;
	real_start = shim_ops.start;
	shim_ops.start = shim_start;
	be->ops = &shim_ops;
	rc = broker_new(&b, &cfg, be); /* takes be */
	be = NULL;
	if (rc) {
		snprintf(err, sizeof(err), "broker_new: %s", dob_strerror(rc));
		goto fail;
	}
	broker_handlers(b, &h);
	if ((rc = plat_loop_new(&loop, &h)) || (rc = broker_start(b, loop, err, sizeof(err)))) {
		if (!err[0])
			snprintf(err, sizeof(err), "start: %s", dob_strerror(rc));
		goto fail;
	}
	lt = CreateThread(NULL, 0, broker_thread, loop, 0, NULL);

	/* 64 subscribers; the first is a controller that submits the job. */
	for (nsubs = 0; nsubs < NSUBS; nsubs++) {
		struct dobc_options o = { 0 };
		char name[32];

		snprintf(name, sizeof(name), "sub-%d", nsubs);
		o.endpoint = ep;
		o.client_name = name;
		o.role = nsubs == 0 ? DOB_ROLE_CONTROLLER : DOB_ROLE_OBSERVER;
		o.connect_timeout_ms = 10000;
		rc = dobc_connect(&rd[nsubs].c, &o);
		if (rc) {
			snprintf(err, sizeof(err), "subscriber %d: connect: %s", nsubs, dob_strerror(rc));
			goto fail;
		}
	}
	{
		struct dob_file_spec file = { 0 };
		struct dob_submit_job req = { 0 };
		struct dob_job_reply rep = { 0 };
		char local[MAX_PATH + 32], name[DOB_MAX_DISPLAY_NAME + 1];
		GUID g;

		snprintf(local, sizeof(local), "%s\\never.bin", dir);
		file.remote_url = "http://127.0.0.1:9/never";
		file.local_path = local;
		/* The longest name CreateJob takes: every JobModified is about
		 * 600 bytes, so the silent subscriber's pipe fills soon. */
		memset(name, 'x', DOB_MAX_DISPLAY_NAME);
		memcpy(name, "dob callback_bench fan-out ", 27);
		name[DOB_MAX_DISPLAY_NAME] = '\0';
		req.display_name = name;
		req.n_files = 1;
		req.files = &file;
		rc = dobc_submit(rd[0].c, &req, &rep, 30000);
		if (rc || rep.status != DOB_STATUS_OK || !rep.has_job) {
			snprintf(err, sizeof(err), "SubmitJob: %s (status %d)", dob_strerror(rc),
				 (int)rep.status);
			dobc_job_reply_clear(&rep);
			goto fail;
		}
		com_dob_to_guid(&rep.job.job.job_id, &g);
		dobc_job_reply_clear(&rep);
		if (FAILED(IBackgroundCopyManager_GetJob(mgr, &g, &job))) {
			snprintf(err, sizeof(err), "GetJob of the submitted job failed");
			goto fail;
		}
	}
	/* Subscribers 0..62 read; 63 never does. */
	for (int i = 0; i < NSUBS - 1; i++)
		rd[i].th = CreateThread(NULL, 0, reader_thread, &rd[i], 0, NULL);

	/* The callback object under test, its pool posting into the broker's
	 * loop through the broker's sink. */
	if (com_pool_new(&bp, NULL) < 0 || FAILED(com_callback_new(bp, &cb))) {
		snprintf(err, sizeof(err), "cannot make the callback's pool");
		goto fail;
	}
	com_pool_set_target(bp, broker_loop, &broker_sink);
	for (int i = 0; i < 2; i++) {
		stuck[i].base.run = slow_run;
		stuck[i].base.drop = slow_drop;
		stuck[i].ms = 30000;
		com_pool_push_request(bp, &stuck[i].base);
	}
	fl.cb = cb;
	fl.job = job;
	fl.pool = bp;
	ft = CreateThread(NULL, 0, flood_thread, &fl, 0, NULL);
	Sleep(500); /* the flood under way, the silent subscriber's pipe full */
	for (int i = 0; i < n; i++) {
		/* Not timed: keep the ring from filling, so that every timed
		 * call queues its job (a full ring only counts a miss). */
		if ((i & 15) == 0)
			wait_pool_below(bp, 900);
		Sleep(1);
		int64_t a = now_ticks();
		IBackgroundCopyCallback2_JobError(cb, job, NULL);
		ticks[i] = now_ticks() - a;
	}
	InterlockedExchange(&flood_quit, 1);
	WaitForSingleObject(ft, INFINITE);
	CloseHandle(ft);
	ft = NULL;
	out->flood_calls = fl.calls;
	com_pool_stats(bp, &out->pool);
	Sleep(200); /* the last JobModified reach the readers */
	{
		/* Asked on a connection of its own: the readers' are in use. */
		struct dobc_options o = { 0 };
		struct dob_stats st = { 0 };
		struct dobc *sc = NULL;

		o.endpoint = ep;
		o.client_name = "stats";
		o.connect_timeout_ms = 10000;
		if (dobc_connect(&sc, &o) == 0 && dobc_stats(sc, &st, 10000) == 0) {
			out->subscribers_after = st.subscribers;
			for (size_t i = 0; i < st.n_sessions; i++) {
				const struct dob_subscriber_stats *ss = &st.sessions[i];

				if (ss->client_name && !strcmp(ss->client_name, "sub-63")) {
					out->silent_connected = true;
					out->silent_queue = ss->queue_depth;
					out->silent_dropped = ss->dropped;
				}
			}
			out->stats_ok = true;
		}
		dobc_stats_clear(&st);
		dobc_close(sc);
	}
	out->ok = true;
fail:
	if (!out->ok)
		snprintf(out->why, sizeof(out->why), "%s", err[0] ? err : "failed");
	if (ft) {
		InterlockedExchange(&flood_quit, 1);
		WaitForSingleObject(ft, INFINITE);
		CloseHandle(ft);
	}
	InterlockedExchange(&readers_quit, 1);
	out->events_min = -1;
	for (int i = 0; i < NSUBS; i++) {
		if (rd[i].th) {
			WaitForSingleObject(rd[i].th, INFINITE);
			CloseHandle(rd[i].th);
			if (out->events_min < 0 || rd[i].events < out->events_min)
				out->events_min = rd[i].events;
			if (rd[i].events > out->events_max)
				out->events_max = rd[i].events;
		}
	}
	if (bp)
		com_pool_stop(bp, 10000); /* the stuck requests are left behind */
	if (cb)
		IBackgroundCopyCallback2_Release(cb);
	for (int i = 0; i < nsubs && i < NSUBS; i++)
		dobc_close(rd[i].c);
	if (lt) {
		plat_loop_stop(loop);
		WaitForSingleObject(lt, INFINITE);
		CloseHandle(lt);
	}
	if (b)
		broker_shutdown(b);
	plat_loop_free(loop);
	broker_free(b);
	if (be)
		be->ops->free(be);
	com_pool_unref(bp);
	if (job) {
		IBackgroundCopyJob_Cancel(job);
		IBackgroundCopyJob_Release(job);
	}
	config_clear(&cfg);
}

/* ------------------------------------------------------------ baselines */

static void base_iocp(int64_t *ticks, int n)
{
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);

	for (int i = 0; i < n; i++) {
		int64_t a = now_ticks();
		PostQueuedCompletionStatus(port, 0, 1, NULL);
		ticks[i] = now_ticks() - a;
		if ((i & 255) == 255) { /* drain (not timed) */
			OVERLAPPED_ENTRY e[256];
			ULONG got;
			GetQueuedCompletionStatusEx(port, e, 256, &got, 0, FALSE);
		}
	}
	CloseHandle(port);
}

static SRWLOCK cv_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE cv = CONDITION_VARIABLE_INIT;
static volatile LONG cv_sleeping, cv_quit;

static DWORD WINAPI cv_waiter(void *arg)
{
	AcquireSRWLockExclusive(&cv_lock);
	while (!cv_quit) {
		InterlockedExchange(&cv_sleeping, 1);
		SleepConditionVariableSRW(&cv, &cv_lock, INFINITE, 0);
	}
	ReleaseSRWLockExclusive(&cv_lock);
	return 0;
}

static void base_wake(int64_t *ticks, int n)
{
	HANDLE th = CreateThread(NULL, 0, cv_waiter, NULL, 0, NULL);

	for (int i = 0; i < n; i++) {
		while (!InterlockedCompareExchange(&cv_sleeping, 0, 0))
			Sleep(0);
		Sleep(1); /* asleep in the kernel, not spinning */
		AcquireSRWLockExclusive(&cv_lock);
		InterlockedExchange(&cv_sleeping, 0);
		ReleaseSRWLockExclusive(&cv_lock);
		int64_t a = now_ticks();
		WakeConditionVariable(&cv);
		ticks[i] = now_ticks() - a;
	}
	AcquireSRWLockExclusive(&cv_lock);
	cv_quit = 1;
	ReleaseSRWLockExclusive(&cv_lock);
	WakeConditionVariable(&cv);
	WaitForSingleObject(th, INFINITE);
	CloseHandle(th);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *out = argc > 1 ? argv[1] : "callback_bench.json";
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	IBackgroundCopyManager *mgr = NULL;
	IBackgroundCopyJob *job = NULL;
	IBackgroundCopyCallback2 *cb = NULL;
	struct row rows[6];
	struct broker_run br;
	int nrows = 5;
	GUID id;

	if (n < 100)
		n = 100;
	int64_t *ticks = calloc((size_t)n, sizeof(*ticks));
	QueryPerformanceFrequency(&freq);
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	win_com_init_security();
	HRESULT hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&mgr);
	if (SUCCEEDED(hr))
		hr = IBackgroundCopyManager_CreateJob(mgr, L"dob callback_bench", BG_JOB_TYPE_DOWNLOAD,
						      &id, &job);
	if (FAILED(hr) || tl_init(&t) < 0 || com_pool_new(&pool, NULL) < 0) {
		printf("callback_bench: cannot set up (0x%08lX)\n", (unsigned long)hr);
		return 1;
	}
	com_pool_set_target(pool, t.loop, &t.sink);
	com_callback_new(pool, &cb);

	HANDLE lt = loop_start();
	run_idle(cb, job, ticks, n / 4); /* warm-up: first touches, first RPCs */
	run_idle(cb, job, ticks, n);
	rows[0] = summarize("JobError, workers idle (wakes one)", ticks, n);
	run_busy(cb, job, ticks, n);
	rows[1] = summarize("JobError, workers busy + stuck request", ticks, n);
	loop_join(lt);
	run_idle(cb, job, ticks, n);
	rows[2] = summarize("JobError, loop stalled (queue not drained)", ticks, n);
	lt = loop_start();
	base_iocp(ticks, n);
	rows[3] = summarize("baseline: PostQueuedCompletionStatus", ticks, n);
	base_wake(ticks, n);
	rows[4] = summarize("baseline: WakeConditionVariable, 1 asleep", ticks, n);
	run_broker(mgr, ticks, n, &br);
	if (br.ok)
		rows[nrows++] = summarize("JobError, real broker, 64 subs (1 silent)", ticks, n);

	printf("callback return time (us), %d calls each, real BITS job proxy under Wine\n", n);
	/* The ratio is to the wake-up the callback itself makes (row 4). */
	printf("%-44s %9s %9s %9s %9s %9s\n", "case", "p50", "p99", "p99.9", "max", "p99/wake");
	for (int i = 0; i < nrows; i++)
		printf("%-44s %9.2f %9.2f %9.2f %9.2f %9.2f\n", rows[i].name, rows[i].p50, rows[i].p99,
		       rows[i].p999, rows[i].max, rows[4].p99 > 0 ? rows[i].p99 / rows[4].p99 : 0.0);
	if (br.ok)
		printf("  real broker: bits backend, 64 pipe subscribers (63 reading: %ld..%ld events "
		       "each; 1 never reading: %s, queue %u, %llu dropped), %ld JobModification "
		       "calls fanned out meanwhile, both request workers stuck; %u subscribers at "
		       "the end; the callback's pool: %llu callbacks queued, %llu missed (ring full)\n",
		       br.events_min, br.events_max,
		       !br.stats_ok ? "(GetStats failed)"
		       : br.silent_connected ? "still connected" : "disconnected by the broker",
		       br.silent_queue, (unsigned long long)br.silent_dropped, br.flood_calls,
		       br.subscribers_after, (unsigned long long)br.pool.callbacks,
		       (unsigned long long)br.pool.missed);
	else
		printf("  real broker: not measured: %s\n", br.why);
	FILE *f = fopen(out, "w");
	if (f) {
		fprintf(f, "{\"bench\": \"callback_return\", \"unit\": \"us\", \"calls\": %d, \"rows\": [", n);
		for (int i = 0; i < nrows; i++)
			fprintf(f, "%s\n  {\"name\": \"%s\", \"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
				   "\"max\": %.3f}",
				i ? "," : "", rows[i].name, rows[i].p50, rows[i].p99, rows[i].p999,
				rows[i].max);
		fprintf(f, "\n], \"broker\": {\"ok\": %s, \"subscribers\": %d, "
			   "\"events_per_reader_min\": %ld, \"events_per_reader_max\": %ld, "
			   "\"silent_connected\": %s, \"silent_queue\": %u, \"silent_dropped\": %llu, "
			   "\"modification_calls\": %ld, \"callbacks_missed\": %llu}}\n",
			br.ok ? "true" : "false", NSUBS, br.events_min, br.events_max,
			br.silent_connected ? "true" : "false", br.silent_queue,
			(unsigned long long)br.silent_dropped, br.flood_calls,
			(unsigned long long)br.pool.missed);
		fclose(f);
		printf("wrote %s\n", out);
	}

	loop_join(lt);
	IBackgroundCopyCallback2_Release(cb);
	com_pool_stop(pool, 10000);
	com_pool_unref(pool);
	tl_free(&t);
	IBackgroundCopyJob_Cancel(job);
	IBackgroundCopyJob_Release(job);
	IBackgroundCopyManager_Release(mgr);
	free(ticks);
	return 0;
}
