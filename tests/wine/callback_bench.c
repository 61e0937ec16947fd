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
 * The callback touches no subscriber, no loop state and makes no RPC, so the
 * number of subscribers cannot enter into it: the loop stands for them.
 * Baselines: PostQueuedCompletionStatus alone (the loop's wake-up), and
 * WakeConditionVariable with a thread asleep on it (the callback's own
 * wake-up). Benchmarks print; they never fail on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/com.h"
#include "com_tests.h"

#include "dob/err.h"

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

static void wait_backlog_below(uint64_t n)
{
	struct com_pool_stats st;

	for (;;) {
		com_pool_stats(pool, &st);
		if (st.callbacks - st.events_posted < n)
			return;
		Sleep(1);
	}
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
	struct row rows[5];
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

	printf("callback return time (us), %d calls each, real BITS job proxy under Wine\n", n);
	/* The ratio is to the wake-up the callback itself makes (row 4). */
	printf("%-44s %9s %9s %9s %9s %9s\n", "case", "p50", "p99", "p99.9", "max", "p99/wake");
	for (int i = 0; i < 5; i++)
		printf("%-44s %9.2f %9.2f %9.2f %9.2f %9.2f\n", rows[i].name, rows[i].p50, rows[i].p99,
		       rows[i].p999, rows[i].max, rows[4].p99 > 0 ? rows[i].p99 / rows[4].p99 : 0.0);
	FILE *f = fopen(out, "w");
	if (f) {
		fprintf(f, "{\"bench\": \"callback_return\", \"unit\": \"us\", \"calls\": %d, \"rows\": [", n);
		for (int i = 0; i < 5; i++)
			fprintf(f, "%s\n  {\"name\": \"%s\", \"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
				   "\"max\": %.3f}",
				i ? "," : "", rows[i].name, rows[i].p50, rows[i].p99, rows[i].p999,
				rows[i].max);
		fprintf(f, "\n]}\n");
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
