/*
 * callback_test.exe - the COM callback object and the COM worker pool,
 * in-process, against Wine's real BITS service (issue 4, test 6).
 *
 *   callback_test.exe [PORT]
 *
 * With PORT (tests/e2e/callback.sh starts tests/e2e/httpd.py and passes its
 * port): a real BITS job for a missing file (HTTP 404) is resumed and polled
 * until ERROR (Wine never calls JobError), then the callback object's JobError
 * is called with the real IBackgroundCopyJob and IBackgroundCopyError behind
 * counting wrappers. It must return S_OK having made no call on them and
 * having taken one reference on each; exactly one event must then reach the
 * loop with every field equal to what the getters return when the test calls
 * them itself; and the references must be released afterwards.
 *
 * Always (no HTTP needed; jobs without files): QueryInterface answers exactly
 * IUnknown, IBackgroundCopyCallback and IBackgroundCopyCallback2; the
 * refcount is thread-safe; events of one job are posted in callback order
 * while another job's event passes a slow read; a full ring counts a miss
 * (still S_OK) and BACKEND_EV_MISSED follows; stopping the pool releases
 * what it held; actions are run before queued reads and while reads run,
 * and a read waits behind COM_POOL_ACTION_BURST actions at most; and the
 * time JobError takes to return is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/com.h"
#include "com_tests.h"

#include "dob/alloc.h"
#include "dob/err.h"

static DWORD test_thread;
/* Worker calls into the wrappers wait for this (manual-reset) event, so the
 * test can look at the wrappers while a worker is known to be inside. */
static HANDLE gate;

/* ------------------------------------------------------------ counting wrappers */

struct cjob {
	IBackgroundCopyJob IBackgroundCopyJob_iface;
	volatile LONG refs;
	volatile LONG calls;          /* method calls other than AddRef/Release, any thread */
	volatile LONG calls_on_test;  /* ... made on the test's own thread */
	volatile LONG delay_ms;       /* slept in GetDisplayName (slow read) */
	IBackgroundCopyJob *inner;    /* owned */
};

struct cerr {
	IBackgroundCopyError IBackgroundCopyError_iface;
	volatile LONG refs;
	volatile LONG calls;
	volatile LONG calls_on_test;
	IBackgroundCopyError *inner; /* owned */
};

static void count_call(volatile LONG *calls, volatile LONG *on_test)
{
	InterlockedIncrement(calls);
	if (GetCurrentThreadId() == test_thread)
		InterlockedIncrement(on_test);
	else
		WaitForSingleObject(gate, 20000);
}

static struct cjob *cj(IBackgroundCopyJob *i)
{
	return CONTAINING_RECORD(i, struct cjob, IBackgroundCopyJob_iface);
}

static HRESULT STDMETHODCALLTYPE cj_QueryInterface(IBackgroundCopyJob *i, REFIID riid, void **ppv)
{
	if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IBackgroundCopyJob)) {
		*ppv = i;
		InterlockedIncrement(&cj(i)->refs);
		return S_OK;
	}
	*ppv = NULL;
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE cj_AddRef(IBackgroundCopyJob *i)
{
	return (ULONG)InterlockedIncrement(&cj(i)->refs);
}

static ULONG STDMETHODCALLTYPE cj_Release(IBackgroundCopyJob *i)
{
	struct cjob *j = cj(i);
	LONG n = InterlockedDecrement(&j->refs);

	if (n == 0) {
		IBackgroundCopyJob_Release(j->inner);
		free(j);
	}
	return (ULONG)n;
}

/* Forwarders: count, then call the real job. */
#define CJ(i) struct cjob *j = cj(i); count_call(&j->calls, &j->calls_on_test)
#define FWD0(name)                                                                    \
	static HRESULT STDMETHODCALLTYPE cj_##name(IBackgroundCopyJob *i)             \
	{                                                                             \
		CJ(i);                                                                \
		return IBackgroundCopyJob_##name(j->inner);                           \
	}
#define FWD1(name, T)                                                                 \
	static HRESULT STDMETHODCALLTYPE cj_##name(IBackgroundCopyJob *i, T a)        \
	{                                                                             \
		CJ(i);                                                                \
		return IBackgroundCopyJob_##name(j->inner, a);                        \
	}
#define FWD2(name, T, U)                                                              \
	static HRESULT STDMETHODCALLTYPE cj_##name(IBackgroundCopyJob *i, T a, U b)   \
	{                                                                             \
		CJ(i);                                                                \
		return IBackgroundCopyJob_##name(j->inner, a, b);                     \
	}
#define FWD3(name, T, U, V)                                                                \
	static HRESULT STDMETHODCALLTYPE cj_##name(IBackgroundCopyJob *i, T a, U b, V c)   \
	{                                                                                  \
		CJ(i);                                                                     \
		return IBackgroundCopyJob_##name(j->inner, a, b, c);                       \
	}

FWD2(AddFileSet, ULONG, BG_FILE_INFO *)
FWD2(AddFile, LPCWSTR, LPCWSTR)
FWD1(EnumFiles, IEnumBackgroundCopyFiles **)
FWD0(Suspend)
FWD0(Resume)
FWD0(Cancel)
FWD0(Complete)
FWD1(GetId, GUID *)
FWD1(GetType, BG_JOB_TYPE *)
FWD1(GetProgress, BG_JOB_PROGRESS *)
FWD1(GetTimes, BG_JOB_TIMES *)
FWD1(GetState, BG_JOB_STATE *)
FWD1(GetError, IBackgroundCopyError **)
FWD1(GetOwner, LPWSTR *)
FWD1(SetDisplayName, LPCWSTR)
FWD1(SetDescription, LPCWSTR)
FWD1(GetDescription, LPWSTR *)
FWD1(SetPriority, BG_JOB_PRIORITY)
FWD1(GetPriority, BG_JOB_PRIORITY *)
FWD1(SetNotifyFlags, ULONG)
FWD1(GetNotifyFlags, ULONG *)
FWD1(SetNotifyInterface, IUnknown *)
FWD1(GetNotifyInterface, IUnknown **)
FWD1(SetMinimumRetryDelay, ULONG)
FWD1(GetMinimumRetryDelay, ULONG *)
FWD1(SetNoProgressTimeout, ULONG)
FWD1(GetNoProgressTimeout, ULONG *)
FWD1(GetErrorCount, ULONG *)
FWD3(SetProxySettings, BG_JOB_PROXY_USAGE, const WCHAR *, const WCHAR *)
FWD3(GetProxySettings, BG_JOB_PROXY_USAGE *, LPWSTR *, LPWSTR *)
FWD0(TakeOwnership)

static HRESULT STDMETHODCALLTYPE cj_GetDisplayName(IBackgroundCopyJob *i, LPWSTR *p)
{
	CJ(i);
	LONG ms = j->delay_ms;
	if (ms)
		Sleep((DWORD)ms);
	return IBackgroundCopyJob_GetDisplayName(j->inner, p);
}

static IBackgroundCopyJobVtbl cjob_vtbl = {
	cj_QueryInterface, cj_AddRef, cj_Release, cj_AddFileSet, cj_AddFile, cj_EnumFiles,
	cj_Suspend, cj_Resume, cj_Cancel, cj_Complete, cj_GetId, cj_GetType, cj_GetProgress,
	cj_GetTimes, cj_GetState, cj_GetError, cj_GetOwner, cj_SetDisplayName,
	cj_GetDisplayName, cj_SetDescription, cj_GetDescription, cj_SetPriority,
	cj_GetPriority, cj_SetNotifyFlags, cj_GetNotifyFlags, cj_SetNotifyInterface,
	cj_GetNotifyInterface, cj_SetMinimumRetryDelay, cj_GetMinimumRetryDelay,
	cj_SetNoProgressTimeout, cj_GetNoProgressTimeout, cj_GetErrorCount,
	cj_SetProxySettings, cj_GetProxySettings, cj_TakeOwnership,
};

/* Wraps inner (takes a reference on it); one reference to the wrapper. */
static struct cjob *cjob_new(IBackgroundCopyJob *inner)
{
	struct cjob *j = calloc(1, sizeof(*j));

	j->IBackgroundCopyJob_iface.lpVtbl = &cjob_vtbl;
	j->refs = 1;
	j->inner = inner;
	IBackgroundCopyJob_AddRef(inner);
	return j;
}

static struct cerr *ce(IBackgroundCopyError *i)
{
	return CONTAINING_RECORD(i, struct cerr, IBackgroundCopyError_iface);
}

static HRESULT STDMETHODCALLTYPE ce_QueryInterface(IBackgroundCopyError *i, REFIID riid,
						   void **ppv)
{
	if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IBackgroundCopyError)) {
		*ppv = i;
		InterlockedIncrement(&ce(i)->refs);
		return S_OK;
	}
	*ppv = NULL;
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE ce_AddRef(IBackgroundCopyError *i)
{
	return (ULONG)InterlockedIncrement(&ce(i)->refs);
}

static ULONG STDMETHODCALLTYPE ce_Release(IBackgroundCopyError *i)
{
	struct cerr *e = ce(i);
	LONG n = InterlockedDecrement(&e->refs);

	if (n == 0) {
		IBackgroundCopyError_Release(e->inner);
		free(e);
	}
	return (ULONG)n;
}

#define CE(i) struct cerr *e = ce(i); count_call(&e->calls, &e->calls_on_test)

static HRESULT STDMETHODCALLTYPE ce_GetError(IBackgroundCopyError *i, BG_ERROR_CONTEXT *c,
					     HRESULT *code)
{
	CE(i);
	return IBackgroundCopyError_GetError(e->inner, c, code);
}

static HRESULT STDMETHODCALLTYPE ce_GetFile(IBackgroundCopyError *i, IBackgroundCopyFile **f)
{
	CE(i);
	return IBackgroundCopyError_GetFile(e->inner, f);
}

static HRESULT STDMETHODCALLTYPE ce_GetErrorDescription(IBackgroundCopyError *i, DWORD lang,
							LPWSTR *p)
{
	CE(i);
	return IBackgroundCopyError_GetErrorDescription(e->inner, lang, p);
}

static HRESULT STDMETHODCALLTYPE ce_GetErrorContextDescription(IBackgroundCopyError *i,
							       DWORD lang, LPWSTR *p)
{
	CE(i);
	return IBackgroundCopyError_GetErrorContextDescription(e->inner, lang, p);
}

static HRESULT STDMETHODCALLTYPE ce_GetProtocol(IBackgroundCopyError *i, LPWSTR *p)
{
	CE(i);
	return IBackgroundCopyError_GetProtocol(e->inner, p);
}

static IBackgroundCopyErrorVtbl cerr_vtbl = {
	ce_QueryInterface, ce_AddRef, ce_Release, ce_GetError, ce_GetFile,
	ce_GetErrorDescription, ce_GetErrorContextDescription, ce_GetProtocol,
};

static struct cerr *cerr_new(IBackgroundCopyError *inner)
{
	struct cerr *e = calloc(1, sizeof(*e));

	e->IBackgroundCopyError_iface.lpVtbl = &cerr_vtbl;
	e->refs = 1;
	e->inner = inner;
	IBackgroundCopyError_AddRef(inner);
	return e;
}

/* ------------------------------------------------------------ helpers */

static IBackgroundCopyManager *mgr;

static IBackgroundCopyJob *new_job(const WCHAR *name)
{
	IBackgroundCopyJob *job = NULL;
	GUID id;
	HRESULT hr = IBackgroundCopyManager_CreateJob(mgr, name, BG_JOB_TYPE_DOWNLOAD, &id, &job);

	CHECK_HR(hr, S_OK);
	return SUCCEEDED(hr) ? job : NULL;
}

static void end_job(IBackgroundCopyJob *job)
{
	if (!job)
		return;
	IBackgroundCopyJob_Cancel(job);
	IBackgroundCopyJob_Release(job);
}

static char *utf8_of(const WCHAR *w)
{
	return com_utf8(w);
}

/* ------------------------------------------------------------ QI and refcount */

static void test_query_interface(struct com_pool *pool)
{
	IBackgroundCopyCallback2 *cb;
	void *p;

	CHECK_HR(com_callback_new(pool, &cb), S_OK);
	const IID *yes[] = { &IID_IUnknown, &IID_IBackgroundCopyCallback, &IID_IBackgroundCopyCallback2 };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		p = NULL;
		CHECK_HR(IBackgroundCopyCallback2_QueryInterface(cb, yes[i], &p), S_OK);
		CHECK(p == (void *)cb);
		if (p)
			IUnknown_Release((IUnknown *)p);
	}
	const IID *no[] = { &IID_IMarshal, &IID_IAgileObject, &IID_IBackgroundCopyJob,
			    &IID_IBackgroundCopyError, &IID_IClassFactory, &IID_IDispatch };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		p = (void *)1;
		CHECK_HR(IBackgroundCopyCallback2_QueryInterface(cb, no[i], &p), E_NOINTERFACE);
		CHECK(p == NULL);
	}
	CHECK_HR(IBackgroundCopyCallback2_QueryInterface(cb, &IID_IUnknown, NULL), E_POINTER);
	/* Every QI above released what it gave: one reference left. */
	CHECK_EQ(IBackgroundCopyCallback2_AddRef(cb), 2);
	CHECK_EQ(IBackgroundCopyCallback2_Release(cb), 1);
	CHECK_EQ(IBackgroundCopyCallback2_Release(cb), 0);
}

static DWORD WINAPI hammer(void *arg)
{
	IBackgroundCopyCallback2 *cb = arg;

	for (int i = 0; i < 200000; i++) {
		IBackgroundCopyCallback2_AddRef(cb);
		IBackgroundCopyCallback2_Release(cb);
	}
	return 0;
}

static void test_refcount_threads(struct com_pool *pool)
{
	IBackgroundCopyCallback2 *cb;
	HANDLE th[4];

	CHECK_HR(com_callback_new(pool, &cb), S_OK);
	for (int i = 0; i < 4; i++)
		th[i] = CreateThread(NULL, 0, hammer, cb, 0, NULL);
	WaitForMultipleObjects(4, th, TRUE, INFINITE);
	for (int i = 0; i < 4; i++)
		CloseHandle(th[i]);
	CHECK_EQ(IBackgroundCopyCallback2_AddRef(cb), 2);
	CHECK_EQ(IBackgroundCopyCallback2_Release(cb), 1);
	IBackgroundCopyCallback2_Release(cb);
}

/* ------------------------------------------------------------ event order */

/* A worker releases its reference on a job just after it posts the event
 * (tl_run sees the event first): wait for the count to settle, bounded
 * only to catch a leak, then check it. */
static LONG refs_settled(volatile LONG *refs, LONG want)
{
	DWORD start = GetTickCount();

	while (InterlockedCompareExchange(refs, 0, 0) != want && GetTickCount() - start < 20000)
		Sleep(1); /* polling interval, not a barrier */
	return InterlockedCompareExchange(refs, 0, 0);
}

static bool same_id(const struct backend_event *ev, IBackgroundCopyJob *job)
{
	GUID id;
	struct dob_guid g;

	if (FAILED(IBackgroundCopyJob_GetId(job, &id)))
		return false;
	com_guid_to_dob(&id, &g);
	return memcmp(g.b, ev->job.info.job_id.b, DOB_GUID_LEN) == 0;
}

/* A1 (slow read), A2, B: B passes A1, and A1 comes before A2. */
static void test_order(struct tl *t, struct com_pool *pool, IBackgroundCopyCallback2 *cb)
{
	IBackgroundCopyJob *a = new_job(L"dob order A"), *b = new_job(L"dob order B");
	if (!a || !b)
		return;
	struct cjob *a1 = cjob_new(a), *a2 = cjob_new(a), *b1 = cjob_new(b);
	a1->delay_ms = 1500; /* margin for a loaded machine: B and A2 read meanwhile */
	tl_clear(t);
	SetEvent(gate);
	CHECK_HR(IBackgroundCopyCallback2_JobModification(cb, &a1->IBackgroundCopyJob_iface, 0), S_OK);
	Sleep(5);
	CHECK_HR(IBackgroundCopyCallback2_JobModification(cb, &a2->IBackgroundCopyJob_iface, 0), S_OK);
	Sleep(5);
	CHECK_HR(IBackgroundCopyCallback2_JobTransferred(cb, &b1->IBackgroundCopyJob_iface), S_OK);
	CHECK(tl_run(t, tl_has_events, (void *)3, 20000));
	if (CHECK_EQ(t->n_ev, 3)) {
		CHECK(same_id(t->ev[0], b));
		CHECK_EQ(t->ev[0]->kind, BACKEND_EV_TRANSFERRED);
		CHECK(same_id(t->ev[1], a));
		CHECK(same_id(t->ev[2], a));
		/* callback order: A1 entered the callback before A2 */
		CHECK(t->ev[1]->job.callback_us < t->ev[2]->job.callback_us);
		CHECK_EQ(t->ev[1]->kind, BACKEND_EV_MODIFIED);
		CHECK_STR(t->ev[1]->job.info.display_name, "dob order A");
		CHECK_STR(t->ev[0]->job.info.display_name, "dob order B");
	}
	CHECK_EQ(refs_settled(&a1->refs, 1), 1);
	CHECK_EQ(refs_settled(&a2->refs, 1), 1);
	CHECK_EQ(refs_settled(&b1->refs, 1), 1);
	IBackgroundCopyJob_Release(&a1->IBackgroundCopyJob_iface);
	IBackgroundCopyJob_Release(&a2->IBackgroundCopyJob_iface);
	IBackgroundCopyJob_Release(&b1->IBackgroundCopyJob_iface);
	end_job(a);
	end_job(b);
	tl_clear(t);
}

/* ------------------------------------------------------------ a full ring, then stop */

/* Lets blocked workers go on while com_pool_stop waits for them. */
static DWORD WINAPI open_gate_later(void *arg)
{
	Sleep(200);
	SetEvent(gate);
	return 0;
}

static void test_full_ring_and_stop(IBackgroundCopyJob *job)
{
	struct tl t;
	struct com_pool *pool;
	struct com_pool_opts o = { .event_workers = 2, .request_workers = 1, .ring_slots = 2 };
	struct com_pool_stats st;
	IBackgroundCopyCallback2 *cb;

	CHECK_EQ(tl_init(&t), 0);
	CHECK_EQ(com_pool_new(&pool, &o), 0);
	com_pool_set_target(pool, t.loop, &t.sink);
	CHECK_HR(com_callback_new(pool, &cb), S_OK);

	struct cjob *w = cjob_new(job);
	ResetEvent(gate); /* both workers will stop inside GetId */
	for (int i = 0; i < 3; i++)
		CHECK_HR(IBackgroundCopyCallback2_JobModification(cb, &w->IBackgroundCopyJob_iface, 0),
			 S_OK);
	/* Two slots held (one reference each); the third was refused. */
	CHECK_EQ(w->refs, 3);
	com_pool_stats(pool, &st);
	CHECK_EQ(st.callbacks, 2);
	CHECK_EQ(st.missed, 1);
	CHECK_EQ(w->calls_on_test, 0);
	SetEvent(gate);
	CHECK(tl_run(&t, tl_has_events, (void *)3, 20000));
	int errs = 0, mods = 0, missed = 0;
	for (int i = 0; i < t.n_ev; i++) {
		mods += t.ev[i]->kind == BACKEND_EV_MODIFIED;
		missed += t.ev[i]->kind == BACKEND_EV_MISSED;
		errs += t.ev[i]->kind == BACKEND_EV_ERROR;
	}
	CHECK_EQ(mods, 2);
	CHECK_EQ(missed, 1);
	CHECK_EQ(errs, 0);
	CHECK_EQ(refs_settled(&w->refs, 1), 1);

	/* Stop with two callbacks still held by blocked workers: their
	 * references are released, and nothing is posted any more. */
	tl_clear(&t);
	ResetEvent(gate);
	CHECK_HR(IBackgroundCopyCallback2_JobModification(cb, &w->IBackgroundCopyJob_iface, 0), S_OK);
	CHECK_HR(IBackgroundCopyCallback2_JobTransferred(cb, &w->IBackgroundCopyJob_iface), S_OK);
	CHECK_EQ(w->refs, 3);
	HANDLE opener = CreateThread(NULL, 0, open_gate_later, NULL, 0, NULL);
	com_pool_stop(pool, 20000);
	WaitForSingleObject(opener, INFINITE);
	CloseHandle(opener);
	CHECK_EQ(w->refs, 1);
	/* After stop: S_OK, nothing kept. */
	CHECK_HR(IBackgroundCopyCallback2_JobError(cb, &w->IBackgroundCopyJob_iface, NULL), S_OK);
	CHECK_EQ(w->refs, 1);
	tl_run(&t, NULL, NULL, 200);
	CHECK_EQ(t.n_ev, 0);
	IBackgroundCopyCallback2_Release(cb);
	com_pool_unref(pool);
	IBackgroundCopyJob_Release(&w->IBackgroundCopyJob_iface);
	tl_free(&t);
}

/* ------------------------------------------------------------ actions first */

/* A request that records when a worker took it, and may wait on a gate. */
#define LANE_REQS 64
static volatile LONG lane_seq;
static volatile LONG lane_order[LANE_REQS];   /* 0: not run yet */
static HANDLE lane_started[LANE_REQS];        /* manual-reset */
static HANDLE lane_done[LANE_REQS];           /* manual-reset */

struct lane_req {
	struct com_req base; /* first member */
	int id;
	HANDLE gate; /* borrowed, or NULL */
};

static void lane_run(struct com_req *r)
{
	struct lane_req *q = (struct lane_req *)r;

	lane_order[q->id] = InterlockedIncrement(&lane_seq);
	SetEvent(lane_started[q->id]);
	if (q->gate)
		WaitForSingleObject(q->gate, INFINITE);
	SetEvent(lane_done[q->id]);
	free(q);
}

static void lane_drop(struct com_req *r)
{
	SetEvent(lane_done[((struct lane_req *)r)->id]);
	free(r);
}

static void lane_push(struct com_pool *pool, int id, bool urgent, HANDLE wait_on)
{
	struct lane_req *q = calloc(1, sizeof(*q));

	q->base.run = lane_run;
	q->base.drop = lane_drop;
	q->base.urgent = urgent;
	q->id = id;
	q->gate = wait_on;
	CHECK_EQ(com_pool_push_request(pool, &q->base), 0);
}

static bool lane_wait(HANDLE *ev, int id)
{
	return WaitForSingleObject(ev[id], 20000) == WAIT_OBJECT_0;
}

/* Issue 9 item 4: an action never waits behind reads, queued or running,
 * and reads still get their turn (one request worker, one action worker,
 * so the order of taking is the order of running). */
static void test_actions_first(void)
{
	struct com_pool *pool;
	struct com_pool_opts o = { .event_workers = 1, .request_workers = 1, .action_workers = 1 };
	struct com_pool_stats st;
	HANDLE read_gate = CreateEventW(NULL, TRUE, FALSE, NULL);
	HANDLE act_gate = CreateEventW(NULL, TRUE, FALSE, NULL);
	enum { R0 = 0, R1, R2, A1, A2, A3, R4, R5, A_FIRST };
	const int n_burst = 24; /* more than COM_POOL_ACTION_BURST */

	for (int i = 0; i < LANE_REQS; i++) {
		lane_order[i] = 0;
		lane_started[i] = CreateEventW(NULL, TRUE, FALSE, NULL);
		lane_done[i] = CreateEventW(NULL, TRUE, FALSE, NULL);
	}
	lane_seq = 0;
	CHECK_EQ(com_pool_new(&pool, &o), 0);

	/* A read in progress (the request worker is inside it), two queued:
	 * an action is run meanwhile, the reads still waiting. */
	lane_push(pool, R0, false, read_gate);
	CHECK(lane_wait(lane_started, R0));
	lane_push(pool, R1, false, NULL);
	lane_push(pool, R2, false, NULL);
	lane_push(pool, A1, true, NULL);
	CHECK(lane_wait(lane_done, A1));
	CHECK_EQ(lane_order[R1], 0);
	CHECK_EQ(lane_order[R2], 0);

	/* The action worker busy too: a new action is queued behind R1 and R2
	 * and is taken before them when the request worker is free. */
	lane_push(pool, A2, true, act_gate);
	CHECK(lane_wait(lane_started, A2));
	lane_push(pool, A3, true, NULL);
	SetEvent(read_gate);
	CHECK(lane_wait(lane_done, R2));
	CHECK(lane_order[A3] > 0 && lane_order[A3] < lane_order[R1]);
	CHECK(lane_order[R1] < lane_order[R2]);
	com_pool_stats(pool, &st);
	CHECK_EQ(st.actions_first, 1);

	/* Reads do not starve: behind a stream of actions, the waiting read
	 * is taken after COM_POOL_ACTION_BURST of them. */
	ResetEvent(read_gate);
	lane_push(pool, R4, false, read_gate);
	CHECK(lane_wait(lane_started, R4));
	lane_push(pool, R5, false, NULL);
	for (int i = 0; i < n_burst; i++)
		lane_push(pool, A_FIRST + i, true, NULL);
	SetEvent(read_gate);
	CHECK(lane_wait(lane_done, R5));
	for (int i = 0; i < n_burst; i++)
		CHECK(lane_wait(lane_done, A_FIRST + i));
	CHECK_EQ(lane_order[R5] - lane_order[R4], COM_POOL_ACTION_BURST + 1);
	int before = 0;
	for (int i = 0; i < n_burst; i++)
		before += lane_order[A_FIRST + i] < lane_order[R5];
	CHECK_EQ(before, COM_POOL_ACTION_BURST);

	/* Stop with an action still running: it finishes (the gate opens
	 * while stop waits); nothing queued is left behind. */
	SetEvent(act_gate);
	CHECK(lane_wait(lane_done, A2));
	com_pool_stop(pool, 20000);
	com_pool_unref(pool);
	for (int i = 0; i < LANE_REQS; i++) {
		CloseHandle(lane_started[i]);
		CloseHandle(lane_done[i]);
	}
	CloseHandle(read_gate);
	CloseHandle(act_gate);
}

/* ------------------------------------------------------------ out of memory */

/* The worker cannot allocate the event: the callback still said S_OK, the
 * references are released, and the core hears BACKEND_EV_MISSED. */
static void test_worker_out_of_memory(struct tl *t, IBackgroundCopyCallback2 *cb,
				      IBackgroundCopyJob *job)
{
	struct cjob *w = cjob_new(job);

	SetEvent(gate);
	tl_clear(t);
	dob_alloc_fail_at(1); /* the next allocation: the event worker's message */
	CHECK_HR(IBackgroundCopyCallback2_JobError(cb, &w->IBackgroundCopyJob_iface, NULL), S_OK);
	CHECK(tl_run(t, tl_has_events, (void *)1, 10000));
	dob_alloc_fail_at(0);
	tl_run(t, NULL, NULL, 200);
	if (CHECK_EQ(t->n_ev, 1))
		CHECK_EQ(t->ev[0]->kind, BACKEND_EV_MISSED);
	CHECK_EQ(refs_settled(&w->refs, 1), 1);
	CHECK_EQ(w->calls, 0); /* nothing read for an event that cannot be sent */
	IBackgroundCopyJob_Release(&w->IBackgroundCopyJob_iface);
	tl_clear(t);
}

/* ------------------------------------------------------------ callback time */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *ticks, int n)
{
	LARGE_INTEGER f;

	QueryPerformanceFrequency(&f);
	qsort(ticks, (size_t)n, sizeof(*ticks), cmp_i64);
	double us = 1e6 / (double)f.QuadPart;
	printf("  %-44s p50 %7.2f us  p99 %7.2f us  max %8.2f us  (%d calls)\n", what,
	       (double)ticks[n / 2] * us, (double)ticks[n * 99 / 100] * us, (double)ticks[n - 1] * us,
	       n);
}

/* Printed, never asserted (benchmarks do not fail tests on timing). */
static void time_callback(struct tl *t, struct com_pool *pool, IBackgroundCopyCallback2 *cb,
			  IBackgroundCopyJob *job)
{
	enum { N = 2000 };
	static int64_t ticks[N];
	struct cjob *w = cjob_new(job);
	LARGE_INTEGER a, b;
	CONDITION_VARIABLE cv;

	SetEvent(gate);
	tl_clear(t);
	for (int i = 0; i < N; i++) {
		QueryPerformanceCounter(&a);
		IBackgroundCopyCallback2_JobModification(cb, &w->IBackgroundCopyJob_iface, 0);
		QueryPerformanceCounter(&b);
		ticks[i] = b.QuadPart - a.QuadPart;
		if ((i & 63) == 63) { /* let the workers keep up: the ring keeps room */
			struct com_pool_stats st;
			do {
				Sleep(1);
				com_pool_stats(pool, &st);
			} while (st.callbacks - st.events_posted > 256);
		}
	}
	printf("callback return time (issue 6 item 4), workers reading a real BITS job meanwhile:\n");
	report("JobModification (AddRef, queue, wake)", ticks, N);
	InitializeConditionVariable(&cv);
	for (int i = 0; i < N; i++) {
		QueryPerformanceCounter(&a);
		WakeConditionVariable(&cv);
		QueryPerformanceCounter(&b);
		ticks[i] = b.QuadPart - a.QuadPart;
	}
	report("baseline: WakeConditionVariable alone", ticks, N);
	CHECK(tl_run(t, tl_has_events, (void *)N, 120000));
	CHECK_EQ(t->ev_total, N);
	tl_clear(t);
	IBackgroundCopyJob_Release(&w->IBackgroundCopyJob_iface);
}

/* ------------------------------------------------------------ JobError on a real 404 */

static void expect_string(const struct backend_job *j, const char *field, HRESULT hr, WCHAR *w,
			  const char *got)
{
	if (SUCCEEDED(hr)) {
		char *want = utf8_of(w);
		if (!want)
			CHECK(!got || !*got);
		else if (!CHECK_STR(got, want))
			printf("  (field %s)\n", field);
		CHECK(field_error_of(j, field) == NULL);
		dob_free(want);
		CoTaskMemFree(w);
	} else {
		const struct dob_field_error *fe = field_error_of(j, field);
		if (CHECK(fe != NULL))
			CHECK_HR(fe->hresult, hr);
	}
}

static void test_job_error_404(struct tl *t, IBackgroundCopyCallback2 *cb, int port)
{
	WCHAR url[256], local[MAX_PATH], tmp[MAX_PATH];
	IBackgroundCopyJob *job = new_job(L"dob callback_test 404");
	IBackgroundCopyError *err = NULL;
	BG_JOB_STATE state = BG_JOB_STATE_QUEUED;

	if (!job)
		return;
	GetTempPathW(MAX_PATH, tmp);
	swprintf(url, 256, L"http://127.0.0.1:%d/missing-%lu.bin", port, GetCurrentProcessId());
	swprintf(local, MAX_PATH, L"%lsdob_cb_%lu.bin", tmp, GetCurrentProcessId());
	CHECK_HR(IBackgroundCopyJob_AddFile(job, url, local), S_OK);
	CHECK_HR(IBackgroundCopyJob_Resume(job), S_OK);
	for (int i = 0; i < 300; i++) {
		IBackgroundCopyJob_GetState(job, &state);
		if (state == BG_JOB_STATE_ERROR)
			break;
		Sleep(100);
	}
	CHECK_EQ(state, BG_JOB_STATE_ERROR);
	CHECK_HR(IBackgroundCopyJob_GetError(job, &err), S_OK);
	if (!err) {
		end_job(job);
		return;
	}

	struct cjob *wj = cjob_new(job);
	struct cerr *we = cerr_new(err);
	ResetEvent(gate); /* the worker waits inside its first call */
	tl_clear(t);
	HRESULT hr = IBackgroundCopyCallback2_JobError(cb, &wj->IBackgroundCopyJob_iface,
						       &we->IBackgroundCopyError_iface);
	CHECK_HR(hr, S_OK);
	CHECK_EQ(wj->calls_on_test, 0);
	CHECK_EQ(we->calls_on_test, 0);
	CHECK_EQ(wj->refs, 2); /* one reference taken on each, still held */
	CHECK_EQ(we->refs, 2);
	SetEvent(gate);
	CHECK(tl_run(t, tl_has_events, (void *)1, 20000));
	tl_run(t, NULL, NULL, 300); /* and no second one */
	CHECK_EQ(t->n_ev, 1);
	CHECK_EQ(wj->refs, 1); /* released */
	CHECK_EQ(we->refs, 1);
	CHECK_EQ(wj->calls_on_test, 0);
	CHECK(wj->calls >= 7); /* the worker read through the wrappers */
	CHECK(we->calls >= 5);
	if (t->n_ev < 1)
		goto out;

	/* The event against the getters, called by the test itself. */
	const struct backend_event *ev = t->ev[0];
	const struct backend_job *j = &ev->job;
	CHECK_EQ(ev->kind, BACKEND_EV_ERROR);
	CHECK(j->callback_us > 0);

	GUID id;
	struct dob_guid g;
	CHECK_HR(IBackgroundCopyJob_GetId(job, &id), S_OK);
	com_guid_to_dob(&id, &g);
	CHECK(memcmp(g.b, j->info.job_id.b, DOB_GUID_LEN) == 0);
	CHECK(memcmp(&id, j->info.job_id.b, 16) == 0); /* memory order */

	WCHAR *w = NULL;
	hr = IBackgroundCopyJob_GetDisplayName(job, &w);
	expect_string(j, "GetDisplayName", hr, w, j->info.display_name);
	CHECK_STR(j->info.display_name, "dob callback_test 404");

	BG_JOB_TYPE type;
	CHECK_HR(IBackgroundCopyJob_GetType(job, &type), S_OK);
	CHECK_EQ(j->info.type, type);
	CHECK_HR(IBackgroundCopyJob_GetState(job, &state), S_OK);
	CHECK_EQ(j->info.state, state);
	CHECK_EQ(j->info.state, DOB_STATE_ERROR);

	BG_JOB_PROGRESS jp;
	CHECK_HR(IBackgroundCopyJob_GetProgress(job, &jp), S_OK);
	CHECK_EQ(j->info.progress.bytes_total, jp.BytesTotal);
	CHECK_EQ(j->info.progress.bytes_transferred, jp.BytesTransferred);
	CHECK_EQ(j->info.progress.files_total, jp.FilesTotal);
	CHECK_EQ(j->info.progress.files_transferred, jp.FilesTransferred);
	CHECK_EQ(j->info.progress.files_total, 1);

	BG_JOB_TIMES jt;
	hr = IBackgroundCopyJob_GetTimes(job, &jt);
	if (SUCCEEDED(hr)) {
		CHECK_EQ(j->info.times.creation_us, com_filetime_us(&jt.CreationTime));
		CHECK_EQ(j->info.times.modification_us, com_filetime_us(&jt.ModificationTime));
		CHECK(field_error_of(j, "GetTimes") == NULL);
	} else {
		const struct dob_field_error *fe = field_error_of(j, "GetTimes");
		if (CHECK(fe != NULL))
			CHECK_HR(fe->hresult, hr); /* Wine: E_NOTIMPL */
		CHECK_EQ(j->info.times.creation_us, 0);
	}
	w = NULL;
	hr = IBackgroundCopyJob_GetOwner(job, &w);
	expect_string(j, "GetOwner", hr, w, j->info.owner);

	/* The error */
	BG_ERROR_CONTEXT ctx;
	HRESULT code;
	CHECK(j->has_error);
	CHECK_HR(IBackgroundCopyError_GetError(err, &ctx, &code), S_OK);
	CHECK_EQ(j->error.context, ctx);
	CHECK_HR(j->error.hresult, code);
	CHECK_HR(j->error.hresult, 0x80190194); /* BG_E_HTTP_ERROR_404 */
	CHECK_EQ(j->error.context, DOB_CONTEXT_REMOTE_FILE);

	DWORD lang = LANGIDFROMLCID(GetThreadLocale());
	w = NULL;
	hr = IBackgroundCopyError_GetErrorDescription(err, lang, &w);
	expect_string(j, "GetErrorDescription", hr, w, j->error.description);
	if (FAILED(hr)) { /* Wine: E_NOTIMPL; the broker's own text instead */
		char *own = com_describe_hresult(code, lang);
		CHECK_STR(j->error.description, own);
		CHECK(j->error.description && strstr(j->error.description, "404"));
		dob_free(own);
	}
	w = NULL;
	hr = IBackgroundCopyError_GetErrorContextDescription(err, lang, &w);
	expect_string(j, "GetErrorContextDescription", hr, w, j->error.context_description);
	if (FAILED(hr)) {
		char *own = com_describe_context((uint32_t)ctx);
		CHECK_STR(j->error.context_description, own);
		dob_free(own);
	}
	w = NULL;
	hr = IBackgroundCopyError_GetProtocol(err, &w);
	expect_string(j, "GetProtocol", hr, w, j->error.protocol);

	IBackgroundCopyFile *file = NULL;
	CHECK_HR(IBackgroundCopyError_GetFile(err, &file), S_OK);
	CHECK(j->error.has_file);
	if (file) {
		w = NULL;
		hr = IBackgroundCopyFile_GetRemoteName(file, &w);
		expect_string(j, "File.GetRemoteName", hr, w, j->error.file.remote_url);
		w = NULL;
		hr = IBackgroundCopyFile_GetLocalName(file, &w);
		expect_string(j, "File.GetLocalName", hr, w, j->error.file.local_name);
		BG_FILE_PROGRESS fp;
		CHECK_HR(IBackgroundCopyFile_GetProgress(file, &fp), S_OK);
		CHECK_EQ(j->error.file.progress.bytes_total, fp.BytesTotal);
		CHECK_EQ(j->error.file.progress.bytes_transferred, fp.BytesTransferred);
		CHECK_EQ(j->error.file.progress.completed, fp.Completed != FALSE);
		IBackgroundCopyFile_Release(file);
	}
	char *want_url = utf8_of(url);
	CHECK_STR(j->error.file.remote_url, want_url);
	dob_free(want_url);
	printf("  event: state %s, error 0x%08lX context %d, \"%s\" / \"%s\", %zu field error(s)\n",
	       dob_state_name(j->info.state), (unsigned long)j->error.hresult, (int)j->error.context,
	       j->error.description ? j->error.description : "",
	       j->error.context_description ? j->error.context_description : "",
	       j->n_field_errors);
out:
	IBackgroundCopyJob_Release(&wj->IBackgroundCopyJob_iface);
	IBackgroundCopyError_Release(&we->IBackgroundCopyError_iface);
	IBackgroundCopyError_Release(err);
	end_job(job);
	tl_clear(t);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	struct tl t;
	struct com_pool *pool = NULL;
	IBackgroundCopyCallback2 *cb = NULL;

	setvbuf(stdout, NULL, _IONBF, 0);
	test_thread = GetCurrentThreadId();
	gate = CreateEventW(NULL, TRUE, TRUE, NULL);
	CHECK_HR(CoInitializeEx(NULL, COINIT_MULTITHREADED), S_OK);
	CHECK_EQ(win_com_init_security(), 0);
	HRESULT hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&mgr);
	if (!CHECK_HR(hr, S_OK))
		return wt_finish("callback_test");

	CHECK_EQ(tl_init(&t), 0);
	CHECK_EQ(com_pool_new(&pool, NULL), 0);
	com_pool_set_target(pool, t.loop, &t.sink);
	CHECK_HR(com_callback_new(pool, &cb), S_OK);

	test_query_interface(pool);
	test_refcount_threads(pool);
	test_order(&t, pool, cb);
	test_actions_first();
	IBackgroundCopyJob *job = new_job(L"dob callback_test plain");
	if (job) {
		test_full_ring_and_stop(job);
		test_worker_out_of_memory(&t, cb, job);
		time_callback(&t, pool, cb, job);
		end_job(job);
	}
	if (port > 0)
		test_job_error_404(&t, cb, port);
	else
		printf("callback_test: the JobError-on-a-real-404 test needs the HTTP server: "
		       "tests/e2e/callback.sh runs it\n");

	IBackgroundCopyCallback2_Release(cb);
	com_pool_stop(pool, 20000);
	com_pool_unref(pool);
	tl_free(&t);
	IBackgroundCopyManager_Release(mgr);
	CoUninitialize();
	CloseHandle(gate);
	return wt_finish("callback_test");
}
