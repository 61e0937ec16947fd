/*
 * doemu/notify.c - the callbacks, made as the documentation says the
 * service makes them: JobError when a job enters ERROR (and again while it
 * stays there, at the scenario's `repeat` interval), JobTransferred, and
 * JobModification, each on whichever of four notifier threads is free, so
 * at most four notifications are in flight and a JobModification may
 * overtake or trail a JobTransferred of the same job.
 *
 * The callback is the job's last SetNotifyInterface; when the call fails
 * with a disconnected client (RPC_E_DISCONNECTED, RPC_S_SERVER_UNAVAILABLE,
 * ...) the emulator forgets it, as the service does. When a job enters
 * ERROR with no live callback (none registered, or the registered one just
 * answered with a disconnected client) and its
 * BITS_JOB_PROPERTY_NOTIFICATION_CLSID is set, that class is activated
 * (CoCreateInstance, CLSCTX_LOCAL_SERVER) and its JobError called instead;
 * the object is released after the call, not kept as the job's callback.
 */
#include <stdlib.h>
#include <string.h>

#include "doemu.h"

#include "dob/alloc.h"
#include "log.h"

#define NOTIFIERS 4
#define SAMPLES 65536 /* JobError hold times kept (the last ones) */

struct item {
	struct item *next;
	struct backend_event *ev; /* owned */
};

static struct {
	SRWLOCK lock;             /* protects the queue, stopping and stats */
	CONDITION_VARIABLE cv;
	struct item *first, *last;
	bool stopping;
	HANDLE threads[NOTIFIERS];
	struct notify_stats stats;
	uint64_t in_flight;       /* callbacks being made now */
	uint32_t hold_us[SAMPLES]; /* how long each JobError held the calling thread */
	uint64_t n_hold;
} N;

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void notify_hold_figures(uint64_t *n, uint32_t *p50, uint32_t *p99, uint32_t *max, bool reset)
{
	static uint32_t copy[SAMPLES];
	size_t k;

	AcquireSRWLockExclusive(&N.lock);
	*n = N.n_hold;
	k = N.n_hold < SAMPLES ? (size_t)N.n_hold : SAMPLES;
	memcpy(copy, N.hold_us, k * sizeof(*copy));
	if (reset)
		N.n_hold = 0;
	ReleaseSRWLockExclusive(&N.lock);
	*p50 = *p99 = *max = 0;
	if (!k)
		return;
	qsort(copy, k, sizeof(*copy), cmp_u32);
	*p50 = copy[(k - 1) / 2];
	*p99 = copy[(k * 99 - 1) / 100];
	*max = copy[k - 1];
}

static bool disconnected(HRESULT hr)
{
	return hr == RPC_E_DISCONNECTED || hr == RPC_E_SERVER_DIED || hr == RPC_E_SERVER_DIED_DNE ||
	       hr == CO_E_OBJNOTCONNECTED || hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) ||
	       hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED);
}

static ULONG flag_of(enum backend_event_kind k)
{
	switch (k) {
	case BACKEND_EV_ERROR: return BG_NOTIFY_JOB_ERROR;
	case BACKEND_EV_TRANSFERRED: return BG_NOTIFY_JOB_TRANSFERRED;
	default: return BG_NOTIFY_JOB_MODIFICATION;
	}
}

static const char *kind_name(enum backend_event_kind k)
{
	switch (k) {
	case BACKEND_EV_ERROR: return "JobError";
	case BACKEND_EV_TRANSFERRED: return "JobTransferred";
	default: return "JobModification";
	}
}

/* One callback on cb; JobError's hold time is recorded. */
static HRESULT call(IBackgroundCopyCallback *cb, enum backend_event_kind kind,
		    IBackgroundCopyJob *job, IBackgroundCopyError *err)
{
	LARGE_INTEGER t0, t1, f;
	HRESULT hr;

	AcquireSRWLockExclusive(&N.lock);
	if (++N.in_flight > N.stats.max_in_flight)
		N.stats.max_in_flight = N.in_flight;
	ReleaseSRWLockExclusive(&N.lock);
	QueryPerformanceCounter(&t0);
	switch (kind) {
	case BACKEND_EV_ERROR:
		hr = IBackgroundCopyCallback_JobError(cb, job, err);
		QueryPerformanceCounter(&t1);
		QueryPerformanceFrequency(&f);
		AcquireSRWLockExclusive(&N.lock);
		N.hold_us[N.n_hold++ % SAMPLES] =
			(uint32_t)((t1.QuadPart - t0.QuadPart) * 1000000 / f.QuadPart);
		ReleaseSRWLockExclusive(&N.lock);
		break;
	case BACKEND_EV_TRANSFERRED:
		hr = IBackgroundCopyCallback_JobTransferred(cb, job);
		break;
	default:
		hr = IBackgroundCopyCallback_JobModification(cb, job, 0);
		break;
	}
	AcquireSRWLockExclusive(&N.lock);
	N.in_flight--;
	N.stats.calls++;
	if (kind == BACKEND_EV_ERROR)
		N.stats.job_errors++;
	if (hr != S_OK)
		N.stats.failed++;
	ReleaseSRWLockExclusive(&N.lock);
	return hr;
}

/* The job's notification class, created for one JobError: the service
 * starts the registered server when no live callback takes the call. */
static void activate(const GUID *clsid, const char *gs, IBackgroundCopyJob *job,
		     IBackgroundCopyError *err)
{
	IBackgroundCopyCallback *cb = NULL;
	WCHAR w[40];
	HRESULT hr;

	StringFromGUID2(clsid, w, 40);
	hr = CoCreateInstance(clsid, NULL, CLSCTX_LOCAL_SERVER, &IID_IBackgroundCopyCallback,
			      (void **)&cb);
	if (FAILED(hr)) {
		log_warn("notify: job %s: activating its notification class %ls failed: 0x%08lX", gs,
			 w, (unsigned long)hr);
		return;
	}
	AcquireSRWLockExclusive(&N.lock);
	N.stats.activated++;
	ReleaseSRWLockExclusive(&N.lock);
	hr = call(cb, BACKEND_EV_ERROR, job, err);
	log_info("notify: job %s: no live callback; activated its notification class %ls: "
		 "JobError answered 0x%08lX",
		 gs, w, (unsigned long)hr);
	IBackgroundCopyCallback_Release(cb);
}

static void deliver(struct backend_event *ev)
{
	IBackgroundCopyCallback *cb;
	IBackgroundCopyJob *job = NULL;
	IBackgroundCopyError *err = NULL;
	char gs[DOB_GUID_STR_LEN];
	bool by_class;
	ULONG flags;
	GUID id, clsid;
	HRESULT hr;

	emu_dob_to_guid(&ev->job.info.job_id, &id);
	dob_guid_format(&ev->job.info.job_id, gs);
	cb = ejob_callback(&id, &flags, &clsid);
	if ((flags & BG_NOTIFY_DISABLE) || !(flags & flag_of(ev->kind))) {
		if (cb)
			IBackgroundCopyCallback_Release(cb);
		return;
	}
	by_class = ev->kind == BACKEND_EV_ERROR && !IsEqualGUID(&clsid, &GUID_NULL);
	if (!cb && !by_class)
		return;
	hr = job_create(&id, &job);
	if (SUCCEEDED(hr) && ev->kind == BACKEND_EV_ERROR)
		hr = error_create(&ev->job, &err);
	if (FAILED(hr))
		goto done;
	if (cb) {
		hr = call(cb, ev->kind, job, err);
		if (disconnected(hr)) {
			log_info("notify: %s: the client's callback is gone (0x%08lX); forgotten",
				 kind_name(ev->kind), (unsigned long)hr);
			ejob_drop_callback(&id, cb);
			AcquireSRWLockExclusive(&N.lock);
			N.stats.dropped++;
			ReleaseSRWLockExclusive(&N.lock);
		} else {
			if (hr != S_OK)
				log_info("notify: %s answered 0x%08lX; the scenario's repeat calls again",
					 kind_name(ev->kind), (unsigned long)hr);
			by_class = false; /* a live callback wins over the class */
		}
	}
	if (by_class)
		activate(&clsid, gs, job, err);
done:
	if (err)
		IBackgroundCopyError_Release(err);
	if (job)
		IBackgroundCopyJob_Release(job);
	if (cb)
		IBackgroundCopyCallback_Release(cb);
}

static DWORD WINAPI notifier(void *arg)
{
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	AcquireSRWLockExclusive(&N.lock);
	for (;;) {
		while (!N.stopping && !N.first)
			SleepConditionVariableSRW(&N.cv, &N.lock, INFINITE, 0);
		if (N.stopping)
			break;
		struct item *it = N.first;
		N.first = it->next;
		if (!N.first)
			N.last = NULL;
		ReleaseSRWLockExclusive(&N.lock);
		deliver(it->ev);
		backend_event_free(it->ev);
		dob_free(it);
		AcquireSRWLockExclusive(&N.lock);
	}
	ReleaseSRWLockExclusive(&N.lock);
	CoUninitialize();
	return 0;
}

void notify_push(struct backend_event *ev)
{
	struct item *it = dob_calloc(1, sizeof(*it));

	if (!it) {
		log_warn("notify: out of memory: a %s is not made", kind_name(ev->kind));
		backend_event_free(ev);
		return;
	}
	it->ev = ev;
	AcquireSRWLockExclusive(&N.lock);
	/* A JobError for a job that still has one waiting is not queued twice:
	 * the service calls again after the last call, not in a pile (and the
	 * queue stays bounded however slow the clients are). */
	if (ev->kind == BACKEND_EV_ERROR)
		for (struct item *q = N.first; q; q = q->next)
			if (q->ev->kind == BACKEND_EV_ERROR &&
			    !memcmp(&q->ev->job.info.job_id, &ev->job.info.job_id,
				    sizeof(ev->job.info.job_id))) {
				N.stats.coalesced++;
				ReleaseSRWLockExclusive(&N.lock);
				backend_event_free(ev);
				dob_free(it);
				return;
			}
	if (N.last)
		N.last->next = it;
	else
		N.first = it;
	N.last = it;
	ReleaseSRWLockExclusive(&N.lock);
	WakeConditionVariable(&N.cv);
}

int notify_start(void)
{
	for (int i = 0; i < NOTIFIERS; i++) {
		N.threads[i] = CreateThread(NULL, 0, notifier, NULL, 0, NULL);
		if (!N.threads[i])
			return -1;
	}
	return 0;
}

void notify_stop(void)
{
	struct notify_stats st;

	notify_get_stats(&st);
	log_info("callbacks: %llu made (%llu JobError), %llu not S_OK, %llu clients gone, "
		 "%llu classes activated, %llu repeats folded into one waiting, at most %llu in "
		 "flight",
		 (unsigned long long)st.calls, (unsigned long long)st.job_errors,
		 (unsigned long long)st.failed, (unsigned long long)st.dropped,
		 (unsigned long long)st.activated, (unsigned long long)st.coalesced,
		 (unsigned long long)st.max_in_flight);
	AcquireSRWLockExclusive(&N.lock);
	N.stopping = true;
	ReleaseSRWLockExclusive(&N.lock);
	WakeAllConditionVariable(&N.cv);
	for (int i = 0; i < NOTIFIERS; i++)
		if (N.threads[i]) {
			/* a notifier stuck in a client's callback is left behind */
			WaitForSingleObject(N.threads[i], 5000);
			CloseHandle(N.threads[i]);
			N.threads[i] = NULL;
		}
}

void notify_get_stats(struct notify_stats *out)
{
	AcquireSRWLockShared(&N.lock);
	*out = N.stats;
	ReleaseSRWLockShared(&N.lock);
}
