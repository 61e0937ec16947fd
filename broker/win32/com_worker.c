/*
 * broker/win32/com_worker.c - the COM worker pool: the ring of callbacks the
 * callback object fills, the event workers that read each job and post one
 * event per callback, and the request workers that run the backend's
 * requests. Every worker is a thread in the MTA.
 *
 * Two lanes, so a slow request (Wine's Cancel blocks for as long as a file
 * transfer runs) never delays the reading of a new error:
 *   events    a ring of preallocated slots (no allocation in the callback);
 *             event_workers threads read slots in parallel.
 *   requests  two FIFO lists of heap items, urgent (actions) and the rest
 *             (submit, attach, query, detach, enumerate, synchronous calls);
 *             request_workers threads take from both, action_workers
 *             threads from the urgent list only.
 *
 * Actions first (issue 9 item 4). An action is what a controller waits for
 * and what decides an episode; a reconcile sweep queues one read per
 * managed job, and each read is a dozen RPCs. With one FIFO an Act queued
 * behind a sweep of N jobs waited for N reads. Now:
 *   - an action worker runs actions only, so an action never waits for a
 *     read, neither queued nor running (only for earlier actions);
 *   - the request workers also take an action before any queued read, so
 *     a burst of actions uses every request worker;
 *   - reads cannot starve: a request worker takes the oldest read when
 *     COM_POOL_ACTION_BURST actions have been taken by request workers
 *     since a read was last taken while reads were waiting. Actions come
 *     from controllers (at most one in flight per episode, bounded per
 *     client), so a steady stream of them is possible in principle; the
 *     bound makes a read wait for at most that many actions, while the
 *     action worker keeps serving actions meanwhile.
 *
 * Order of events. Each slot's ring index is its callback order. Slots are
 * read in parallel, and an event is posted once every earlier slot of the
 * same job has been posted. A slot's job id is known once its worker's GetId
 * (the first getter it calls) has returned; until then the slot blocks every
 * later slot from being posted. So events of one job reach the loop in
 * callback order, while a slow read of job A delays the events of job B only
 * for as long as A's GetId takes. A slot whose GetId failed (no id) is
 * treated as a possible twin of every job: nothing after it is posted before
 * it. Posting happens under the pool lock, so two workers can never swap two
 * events of one job on their way into the loop's queue (plat_post keeps the
 * order of the calls).
 */
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/com.h"

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"

#define DEFAULT_EVENT_WORKERS 2
#define DEFAULT_REQUEST_WORKERS 2
#define DEFAULT_ACTION_WORKERS 1
#define DEFAULT_RING_SLOTS 1024
#define MAX_WORKERS 32
#define ERR_SEEN_SLOTS 256 /* jobs whose last error is kept for its repeats */

enum slot_phase {
	SLOT_QUEUED = 0,  /* waiting for an event worker */
	SLOT_READING = 1, /* GetId not back yet: blocks every later slot */
	SLOT_ID_KNOWN = 2,
	SLOT_DONE = 3,    /* read; ready to post when the order allows */
	SLOT_POSTED = 4,  /* posted (or dropped); the slot is free once head passes it */
};

struct ev_slot {
	enum com_ev kind;
	IBackgroundCopyJob *job; /* owned reference until read */
	IUnknown *extra;         /* owned reference: the error (ERROR) or file (FILE_TRANSFERRED) */
	int64_t callback_us;
	enum slot_phase phase;
	bool id_valid;
	GUID id;
	struct com_post *ready; /* owned until posted; NULL: nothing to post */
};

struct prev_cb {
	struct prev_cb *next;
	GUID job;
	IUnknown *cb; /* owned reference */
};

/* The last error read in full for a job, for its repeats (see "Repeated
 * JobErrors" above read_slot). */
struct err_seen {
	bool used;
	GUID id;
	struct backend_job job; /* owned copy of the event's job */
};

struct com_pool {
	volatile LONG refs;
	SRWLOCK prev_lock;         /* protects prev */
	struct prev_cb *prev;      /* owned list: callbacks we adopted jobs from */
	bool full_reads;           /* DOBROKER_COM_FULL_READS=1: no short read of repeats */
	SRWLOCK seen_lock;         /* protects seen, seen_next */
	struct err_seen seen[ERR_SEEN_SLOTS];
	unsigned seen_next;        /* the entry a new job replaces */
	SRWLOCK lock;              /* protects every field below except threads */
	CONDITION_VARIABLE ev_cv;  /* slots queued, misses to report, or stopping */
	CONDITION_VARIABLE req_cv; /* requests queued, or stopping */
	CONDITION_VARIABLE act_cv; /* urgent requests queued, or stopping */
	struct ev_slot *ring;      /* owned, cap slots; slot of index i is ring[i % cap] */
	size_t cap;
	uint64_t head;             /* oldest slot not yet posted */
	uint64_t take;             /* next slot for an event worker */
	uint64_t tail;             /* next free slot */
	struct com_req *req_first; /* owned list: requests that are not urgent */
	struct com_req *req_last;
	struct com_req *act_first; /* owned list: urgent requests (actions) */
	struct com_req *act_last;
	unsigned overtaken;        /* actions taken by request workers since a waiting read was */
	bool stopping;
	bool has_target;
	struct plat_loop *loop; /* borrowed */
	struct backend_sink sink;
	uint64_t missed_unreported; /* callbacks lost, not yet told to the core */
	struct com_pool_stats stats;
	/* Touched only by com_pool_new and com_pool_stop (one thread). */
	HANDLE threads[MAX_WORKERS];
	unsigned n_threads;
	bool stopped;
};

static struct ev_slot *slot_at(struct com_pool *p, uint64_t i)
{
	return &p->ring[i % p->cap];
}

/* ------------------------------------------------------------ posted messages */

static void post_run(struct plat_msg *msg)
{
	struct com_post *m = (struct com_post *)msg;

	if (m->ev) {
		if (m->sink.event)
			m->sink.event(m->sink.ctx, m->ev);
		else
			backend_event_free(m->ev);
	} else if (m->res) {
		if (m->sink.done)
			m->sink.done(m->sink.ctx, m->res);
		else
			backend_result_free(m->res);
	}
	dob_free(m);
}

struct com_post *com_post_new_event(enum backend_event_kind kind)
{
	struct com_post *m = dob_calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->ev = dob_calloc(1, sizeof(*m->ev));
	if (!m->ev) {
		dob_free(m);
		return NULL;
	}
	m->msg.run = post_run;
	m->ev->kind = kind;
	return m;
}

struct com_post *com_post_new_result(uint64_t req, enum backend_req_kind kind)
{
	struct com_post *m = dob_calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->res = dob_calloc(1, sizeof(*m->res));
	if (!m->res) {
		dob_free(m);
		return NULL;
	}
	m->msg.run = post_run;
	m->res->req_id = req;
	m->res->kind = kind;
	return m;
}

void com_post_discard(struct com_post *m)
{
	if (!m)
		return;
	backend_event_free(m->ev);
	backend_result_free(m->res);
	dob_free(m);
}

/* Under the lock: one callback that will not become an event. */
static void count_missed_locked(struct com_pool *p)
{
	p->missed_unreported++;
	p->stats.missed++;
}

/* Under the lock. Takes m. False when the loop refused it (then a lost
 * event is counted, so the core still hears of it). */
static bool post_locked(struct com_pool *p, struct com_post *m)
{
	if (!p->has_target || p->stopping) {
		com_post_discard(m);
		return true;
	}
	m->sink = p->sink;
	if (plat_post(p->loop, m) < 0) {
		log_error("com: the loop refused a %s (out of memory); dropped",
			  m->ev ? "callback event" : "request result");
		if (m->ev && m->ev->kind == BACKEND_EV_MISSED)
			p->missed_unreported++; /* report again later */
		else if (m->ev)
			count_missed_locked(p);
		com_post_discard(m);
		return false;
	}
	if (m->ev)
		p->stats.events_posted++;
	else
		p->stats.results_posted++;
	return true;
}

void com_pool_post(struct com_pool *p, struct com_post *m)
{
	AcquireSRWLockExclusive(&p->lock);
	post_locked(p, m);
	ReleaseSRWLockExclusive(&p->lock);
}

/* ------------------------------------------------------------ event order */

/* May the done slot i be posted now? See the comment at the top. */
static bool may_post(struct com_pool *p, uint64_t i)
{
	const struct ev_slot *s = slot_at(p, i);

	for (uint64_t k = p->head; k < i; k++) {
		const struct ev_slot *e = slot_at(p, k);

		if (e->phase == SLOT_POSTED)
			continue;
		if (e->phase < SLOT_ID_KNOWN || !e->id_valid || !s->id_valid ||
		    IsEqualGUID(&e->id, &s->id))
			return false;
	}
	return true;
}

/* Under the lock: post every done slot the order allows, then free the
 * slots at the head. */
static void flush_locked(struct com_pool *p)
{
	for (uint64_t i = p->head; i < p->take; i++) {
		struct ev_slot *s = slot_at(p, i);

		if (s->phase != SLOT_DONE || !may_post(p, i))
			continue;
		if (s->ready)
			post_locked(p, s->ready);
		s->ready = NULL;
		s->phase = SLOT_POSTED;
	}
	while (p->head < p->take && slot_at(p, p->head)->phase == SLOT_POSTED)
		p->head++;
}

struct id_ctx {
	struct com_pool *p;
	uint64_t index;
};

static void on_id(void *ctx, const GUID *id)
{
	struct id_ctx *c = ctx;
	struct ev_slot *s = slot_at(c->p, c->index);

	AcquireSRWLockExclusive(&c->p->lock);
	s->id_valid = id != NULL;
	if (id)
		s->id = *id;
	s->phase = SLOT_ID_KNOWN;
	flush_locked(c->p);
	ReleaseSRWLockExclusive(&c->p->lock);
}

/* ------------------------------------------------------------ event workers */

static enum backend_event_kind event_kind(enum com_ev k)
{
	switch (k) {
	case COM_EV_ERROR: return BACKEND_EV_ERROR;
	case COM_EV_TRANSFERRED: return BACKEND_EV_TRANSFERRED;
	case COM_EV_MODIFIED:
	case COM_EV_FILE_TRANSFERRED: return BACKEND_EV_MODIFIED;
	}
	return BACKEND_EV_MODIFIED;
}

/* ------------------------------------------------------------ previous callbacks */

static bool disconnected(HRESULT hr)
{
	return hr == RPC_E_DISCONNECTED || hr == RPC_E_SERVER_DIED || hr == RPC_E_SERVER_DIED_DNE ||
	       hr == CO_E_OBJNOTCONNECTED || hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) ||
	       hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED);
}

void com_pool_set_previous(struct com_pool *p, const GUID *job, IUnknown *prev)
{
	struct prev_cb **pp, *e, *gone = NULL;

	if (prev)
		IUnknown_AddRef(prev);
	AcquireSRWLockExclusive(&p->prev_lock);
	for (pp = &p->prev; *pp && !IsEqualGUID(&(*pp)->job, job); pp = &(*pp)->next)
		;
	e = *pp;
	if (e && prev) {
		IUnknown *old = e->cb;
		e->cb = prev;
		prev = old; /* released below */
	} else if (e) {
		*pp = e->next;
		gone = e;
	} else if (prev && (e = dob_calloc(1, sizeof(*e)))) {
		e->job = *job;
		e->cb = prev;
		e->next = p->prev;
		p->prev = e;
		prev = NULL;
	}
	ReleaseSRWLockExclusive(&p->prev_lock);
	if (prev) /* replaced, or not kept (out of memory) */
		IUnknown_Release(prev);
	if (gone) {
		IUnknown_Release(gone->cb);
		dob_free(gone);
	}
}

IUnknown *com_pool_take_previous(struct com_pool *p, const GUID *job)
{
	struct prev_cb **pp, *e;
	IUnknown *cb = NULL;

	AcquireSRWLockExclusive(&p->prev_lock);
	for (pp = &p->prev; *pp && !IsEqualGUID(&(*pp)->job, job); pp = &(*pp)->next)
		;
	e = *pp;
	if (e) {
		*pp = e->next;
		cb = e->cb;
	}
	ReleaseSRWLockExclusive(&p->prev_lock);
	dob_free(e);
	return cb;
}

/* Calls the job's previous callback, if it has one, as the service called
 * ours. A callback that is gone is dropped; any other failure is only
 * logged (the service's retry is for the service's own callback). */
static void forward(struct com_pool *p, const GUID *id, enum com_ev kind, IBackgroundCopyJob *job,
		    IUnknown *extra)
{
	IUnknown *prev = NULL;
	IBackgroundCopyCallback *cb = NULL;
	IBackgroundCopyCallback2 *cb2 = NULL;
	HRESULT hr;

	AcquireSRWLockShared(&p->prev_lock);
	for (struct prev_cb *e = p->prev; e; e = e->next)
		if (IsEqualGUID(&e->job, id)) {
			prev = e->cb;
			IUnknown_AddRef(prev);
			break;
		}
	ReleaseSRWLockShared(&p->prev_lock);
	if (!prev)
		return;
	if (kind == COM_EV_FILE_TRANSFERRED)
		hr = IUnknown_QueryInterface(prev, &IID_IBackgroundCopyCallback2, (void **)&cb2);
	else
		hr = IUnknown_QueryInterface(prev, &IID_IBackgroundCopyCallback, (void **)&cb);
	if (SUCCEEDED(hr)) {
		switch (kind) {
		case COM_EV_ERROR:
			hr = IBackgroundCopyCallback_JobError(cb, job, (IBackgroundCopyError *)extra);
			break;
		case COM_EV_TRANSFERRED:
			hr = IBackgroundCopyCallback_JobTransferred(cb, job);
			break;
		case COM_EV_MODIFIED:
			hr = IBackgroundCopyCallback_JobModification(cb, job, 0);
			break;
		case COM_EV_FILE_TRANSFERRED:
			hr = IBackgroundCopyCallback2_FileTransferred(cb2, job, (IBackgroundCopyFile *)extra);
			break;
		}
	}
	if (cb)
		IBackgroundCopyCallback_Release(cb);
	if (cb2)
		IBackgroundCopyCallback2_Release(cb2);
	AcquireSRWLockExclusive(&p->lock);
	p->stats.forwarded++;
	if (disconnected(hr))
		p->stats.forward_dropped++;
	ReleaseSRWLockExclusive(&p->lock);
	if (disconnected(hr)) {
		log_info("com: the job's previous callback is gone (0x%08lX); no longer forwarding",
			 (unsigned long)hr);
		AcquireSRWLockExclusive(&p->prev_lock);
		for (struct prev_cb **pp = &p->prev; *pp; pp = &(*pp)->next)
			if ((*pp)->cb == prev) {
				struct prev_cb *e = *pp;
				*pp = e->next;
				IUnknown_Release(e->cb); /* the list's reference */
				dob_free(e);
				break;
			}
		ReleaseSRWLockExclusive(&p->prev_lock);
	} else if (FAILED(hr)) {
		log_debug("com: forwarding to the job's previous callback: 0x%08lX", (unsigned long)hr);
	}
	IUnknown_Release(prev);
}

/*
 * Repeated JobErrors. The service calls JobError again while a job stays in
 * ERROR (BITS after its retry delay, DO at its interval; a storm of them
 * when many jobs fail), and reading a job in full is about fifteen RPCs
 * (every getter of the job, the error and its file) plus the releases. That
 * read cost was what made the ring overflow at ~133 JobErrors/s under Wine
 * (docs/performance.md). So the last error read in full is kept per job
 * (ERR_SEEN_SLOTS jobs, the oldest replaced), and a JobError for a job
 * whose state, progress, modification time and error (context and code) are
 * what they were then is posted with the fields read then: GetId, GetState,
 * GetProgress, GetTimes and the error's GetError, five RPCs. Anything else
 * (a different error, progress made, a new modification time, a getter
 * failing) is read in full, and any other callback about the job forgets
 * what was kept. DOBROKER_COM_FULL_READS=1 in the environment reads every
 * JobError in full (to measure the difference: scripts/bench-do.sh).
 */
static void seen_forget(struct com_pool *p, const GUID *id)
{
	struct backend_job old;
	bool found = false;

	AcquireSRWLockExclusive(&p->seen_lock);
	for (unsigned k = 0; k < ERR_SEEN_SLOTS; k++)
		if (p->seen[k].used && IsEqualGUID(&p->seen[k].id, id)) {
			old = p->seen[k].job;
			p->seen[k].used = false;
			found = true;
			break;
		}
	ReleaseSRWLockExclusive(&p->seen_lock);
	if (found)
		backend_job_clear(&old);
}

static void seen_keep(struct com_pool *p, const GUID *id, const struct backend_job *j)
{
	struct backend_job copy, old;
	bool drop = false;

	if (backend_job_copy(&copy, j) < 0)
		return; /* out of memory: the next repeat is read in full */
	copy.callback_us = 0;
	copy.seq = 0;
	AcquireSRWLockExclusive(&p->seen_lock);
	unsigned k = 0;
	while (k < ERR_SEEN_SLOTS && !(p->seen[k].used && IsEqualGUID(&p->seen[k].id, id)))
		k++;
	if (k == ERR_SEEN_SLOTS)
		k = p->seen_next++ % ERR_SEEN_SLOTS;
	if (p->seen[k].used) {
		old = p->seen[k].job;
		drop = true;
	}
	p->seen[k].used = true;
	p->seen[k].id = *id;
	p->seen[k].job = copy;
	ReleaseSRWLockExclusive(&p->seen_lock);
	if (drop)
		backend_job_clear(&old);
}

/* A copy of what was kept for id, in *out; false when nothing was. */
static bool seen_copy(struct com_pool *p, const GUID *id, struct backend_job *out)
{
	bool ok = false;

	AcquireSRWLockShared(&p->seen_lock);
	for (unsigned k = 0; k < ERR_SEEN_SLOTS; k++)
		if (p->seen[k].used && IsEqualGUID(&p->seen[k].id, id)) {
			ok = backend_job_copy(out, &p->seen[k].job) == 0;
			break;
		}
	ReleaseSRWLockShared(&p->seen_lock);
	return ok;
}

/* The short read of a repeated JobError: true when *out now holds the
 * event's job (what was kept, still true of the job). */
static bool read_repeat(struct com_pool *p, IBackgroundCopyJob *job, IBackgroundCopyError *err,
			const GUID *id, struct backend_job *out)
{
	struct backend_job kept;
	BG_JOB_STATE state;
	BG_JOB_PROGRESS jp;
	BG_JOB_TIMES jt;
	BG_ERROR_CONTEXT ctx;
	HRESULT code, thr;

	if (!seen_copy(p, id, &kept))
		return false;
	bool same = SUCCEEDED(IBackgroundCopyJob_GetState(job, &state)) &&
		    state == BG_JOB_STATE_ERROR && (uint32_t)kept.info.state == (uint32_t)state &&
		    SUCCEEDED(IBackgroundCopyJob_GetProgress(job, &jp)) &&
		    jp.BytesTransferred == kept.info.progress.bytes_transferred &&
		    jp.BytesTotal == kept.info.progress.bytes_total &&
		    jp.FilesTransferred == kept.info.progress.files_transferred;
	if (same) {
		/* Wine's BITS has no GetTimes: then the progress must do. */
		thr = IBackgroundCopyJob_GetTimes(job, &jt);
		same = FAILED(thr) || com_filetime_us(&jt.ModificationTime) ==
					      kept.info.times.modification_us;
	}
	same = same && kept.has_error && SUCCEEDED(IBackgroundCopyError_GetError(err, &ctx, &code)) &&
	       (uint32_t)code == kept.error.hresult && (uint32_t)ctx == (uint32_t)kept.error.context;
	if (!same) {
		backend_job_clear(&kept);
		return false;
	}
	*out = kept;
	return true;
}

/* Reads slot i outside the lock (only this worker touches it until DONE). */
static void read_slot(struct com_pool *p, uint64_t i)
{
	struct ev_slot *s = slot_at(p, i);
	struct id_ctx ctx = { p, i };
	struct com_post *m = com_post_new_event(event_kind(s->kind));

	if (m && s->kind == COM_EV_ERROR && s->extra && !p->full_reads) {
		IBackgroundCopyError *err = (IBackgroundCopyError *)s->extra;
		GUID jid;
		HRESULT hr = IBackgroundCopyJob_GetId(s->job, &jid);

		on_id(&ctx, SUCCEEDED(hr) ? &jid : NULL);
		if (SUCCEEDED(hr) && read_repeat(p, s->job, err, &jid, &m->ev->job)) {
			AcquireSRWLockExclusive(&p->lock);
			p->stats.repeats_short++;
			ReleaseSRWLockExclusive(&p->lock);
		} else {
			com_read_job(s->job, err, false, &m->ev->job, NULL, NULL);
			if (SUCCEEDED(hr) && m->ev->job.has_error &&
			    m->ev->job.info.state == DOB_STATE_ERROR)
				seen_keep(p, &jid, &m->ev->job);
		}
		m->ev->job.callback_us = s->callback_us;
	} else if (m) {
		IBackgroundCopyError *err = s->kind == COM_EV_ERROR ? (IBackgroundCopyError *)s->extra : NULL;
		/* A modification may be the move into TRANSIENT_ERROR or ERROR:
		 * read the error then. JobTransferred carries none. */
		bool want_error = s->kind == COM_EV_MODIFIED || s->kind == COM_EV_FILE_TRANSFERRED;

		com_read_job(s->job, err, want_error, &m->ev->job, on_id, &ctx);
		m->ev->job.callback_us = s->callback_us;
		if (s->id_valid && s->kind != COM_EV_ERROR)
			seen_forget(p, &s->id);
	} else {
		on_id(&ctx, NULL);
	}
	IBackgroundCopyJob *job = s->job;
	IUnknown *extra = s->extra;
	enum com_ev kind = s->kind;
	bool id_valid = s->id_valid;
	GUID id = s->id;

	s->job = NULL;
	s->extra = NULL;
	AcquireSRWLockExclusive(&p->lock);
	if (!m)
		count_missed_locked(p);
	s->ready = m;
	s->phase = SLOT_DONE;
	flush_locked(p);
	ReleaseSRWLockExclusive(&p->lock);
	/* Handled (and posted when the order allows): now the job's previous
	 * callback hears of it too, with the service's own arguments. */
	if (id_valid)
		forward(p, &id, kind, job, extra);
	IBackgroundCopyJob_Release(job);
	if (extra)
		IUnknown_Release(extra);
}

/* Under the lock: tell the core about lost callbacks (it reconciles every
 * job). Drops and retakes the lock to allocate. */
static void report_missed_locked(struct com_pool *p)
{
	uint64_t n = p->missed_unreported;

	p->missed_unreported = 0;
	ReleaseSRWLockExclusive(&p->lock);
	struct com_post *m = com_post_new_event(BACKEND_EV_MISSED);
	if (m) {
		m->ev->job.callback_us = com_wall_us();
		log_warn("com: %llu callback(s) could not be queued; asking for a reconcile",
			 (unsigned long long)n);
	} else {
		Sleep(10); /* out of memory: do not spin */
	}
	AcquireSRWLockExclusive(&p->lock);
	if (!m) {
		p->missed_unreported += n;
		return;
	}
	if (!post_locked(p, m)) {
		/* The loop's queue is out of memory: do not spin on it. */
		ReleaseSRWLockExclusive(&p->lock);
		Sleep(10);
		AcquireSRWLockExclusive(&p->lock);
	}
}

static void com_thread_init(void)
{
	HRESULT hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);

	if (FAILED(hr))
		log_error("com: CoInitializeEx(MTA) in a worker: 0x%08lX", (unsigned long)hr);
	win_com_init_security();
}

static unsigned __stdcall event_worker(void *arg)
{
	struct com_pool *p = arg;

	com_thread_init();
	AcquireSRWLockExclusive(&p->lock);
	for (;;) {
		while (!p->stopping && p->take == p->tail &&
		       !(p->missed_unreported && p->has_target))
			SleepConditionVariableSRW(&p->ev_cv, &p->lock, INFINITE, 0);
		if (p->stopping)
			break;
		if (p->missed_unreported && p->has_target)
			report_missed_locked(p);
		if (p->take == p->tail)
			continue;
		uint64_t i = p->take++;
		slot_at(p, i)->phase = SLOT_READING;
		ReleaseSRWLockExclusive(&p->lock);
		read_slot(p, i);
		AcquireSRWLockExclusive(&p->lock);
	}
	/* Stopping: release the callbacks nobody will read (outside the lock:
	 * a proxy's last Release may be an RPC). */
	while (p->take < p->tail) {
		struct ev_slot *s = slot_at(p, p->take++);
		IBackgroundCopyJob *job = s->job;
		IUnknown *extra = s->extra;

		s->job = NULL;
		s->extra = NULL;
		s->phase = SLOT_POSTED;
		ReleaseSRWLockExclusive(&p->lock);
		IBackgroundCopyJob_Release(job);
		if (extra)
			IUnknown_Release(extra);
		AcquireSRWLockExclusive(&p->lock);
	}
	flush_locked(p);
	ReleaseSRWLockExclusive(&p->lock);
	CoUninitialize();
	com_pool_unref(p);
	return 0;
}

void com_pool_push_event(struct com_pool *p, enum com_ev kind, IBackgroundCopyJob *job,
			 IUnknown *extra, int64_t callback_us)
{
	/* Our own references, taken before the lock: AddRef on a proxy is
	 * local (no RPC). */
	if (job)
		IBackgroundCopyJob_AddRef(job);
	if (extra)
		IUnknown_AddRef(extra);
	AcquireSRWLockExclusive(&p->lock);
	if (!job || p->stopping || p->tail - p->head >= p->cap) {
		count_missed_locked(p);
		ReleaseSRWLockExclusive(&p->lock);
		/* The caller still holds its references: these Releases are
		 * local too. */
		if (job)
			IBackgroundCopyJob_Release(job);
		if (extra)
			IUnknown_Release(extra);
		WakeConditionVariable(&p->ev_cv);
		return;
	}
	struct ev_slot *s = slot_at(p, p->tail++);
	s->kind = kind;
	s->job = job;
	s->extra = extra;
	s->callback_us = callback_us;
	s->phase = SLOT_QUEUED;
	s->id_valid = false;
	s->ready = NULL;
	p->stats.callbacks++;
	ReleaseSRWLockExclusive(&p->lock);
	WakeConditionVariable(&p->ev_cv);
}

/* ------------------------------------------------------------ request workers */

static struct com_req *pop(struct com_req **first, struct com_req **last)
{
	struct com_req *r = *first;

	*first = r->next;
	if (!*first)
		*last = NULL;
	return r;
}

/* Under the lock: the next request for a request worker (urgent ones
 * first, within COM_POOL_ACTION_BURST; see the comment at the top), or
 * NULL. */
static struct com_req *next_request_locked(struct com_pool *p)
{
	if (p->act_first && (!p->req_first || p->overtaken < COM_POOL_ACTION_BURST)) {
		if (p->req_first) {
			p->overtaken++;
			p->stats.actions_first++;
		}
		return pop(&p->act_first, &p->act_last);
	}
	if (p->req_first) {
		p->overtaken = 0;
		return pop(&p->req_first, &p->req_last);
	}
	return NULL;
}

/* Under the lock: every queued request, for dropping. */
static struct com_req *take_all_locked(struct com_pool *p)
{
	struct com_req *all = p->act_first;

	if (p->act_last)
		p->act_last->next = p->req_first;
	else
		all = p->req_first;
	p->act_first = p->act_last = NULL;
	p->req_first = p->req_last = NULL;
	return all;
}

static void worker_exit(struct com_pool *p)
{
	struct com_req *left = take_all_locked(p);

	ReleaseSRWLockExclusive(&p->lock);
	while (left) {
		struct com_req *next = left->next;
		left->drop(left);
		left = next;
	}
	CoUninitialize();
	com_pool_unref(p);
}

static unsigned __stdcall request_worker(void *arg)
{
	struct com_pool *p = arg;
	struct com_req *r;

	com_thread_init();
	AcquireSRWLockExclusive(&p->lock);
	for (;;) {
		r = NULL;
		while (!p->stopping && !(r = next_request_locked(p)))
			SleepConditionVariableSRW(&p->req_cv, &p->lock, INFINITE, 0);
		if (!r) /* stopping */
			break;
		ReleaseSRWLockExclusive(&p->lock);
		r->run(r);
		AcquireSRWLockExclusive(&p->lock);
	}
	worker_exit(p);
	return 0;
}

static unsigned __stdcall action_worker(void *arg)
{
	struct com_pool *p = arg;

	com_thread_init();
	AcquireSRWLockExclusive(&p->lock);
	for (;;) {
		while (!p->stopping && !p->act_first)
			SleepConditionVariableSRW(&p->act_cv, &p->lock, INFINITE, 0);
		if (p->stopping)
			break;
		struct com_req *r = pop(&p->act_first, &p->act_last);
		ReleaseSRWLockExclusive(&p->lock);
		r->run(r);
		AcquireSRWLockExclusive(&p->lock);
	}
	worker_exit(p);
	return 0;
}

int com_pool_push_request(struct com_pool *p, struct com_req *r)
{
	r->next = NULL;
	AcquireSRWLockExclusive(&p->lock);
	if (p->stopping) {
		ReleaseSRWLockExclusive(&p->lock);
		return -DOB_ESTATE;
	}
	struct com_req **first = r->urgent ? &p->act_first : &p->req_first;
	struct com_req **last = r->urgent ? &p->act_last : &p->req_last;
	if (*last)
		(*last)->next = r;
	else
		*first = r;
	*last = r;
	ReleaseSRWLockExclusive(&p->lock);
	/* An action wakes an action worker and a request worker: whichever
	 * is free takes it; the other finds nothing and sleeps again. */
	if (r->urgent)
		WakeConditionVariable(&p->act_cv);
	WakeConditionVariable(&p->req_cv);
	return 0;
}

/* ------------------------------------------------------------ synchronous calls */

struct sync_call {
	struct com_req req; /* first member */
	void (*fn)(void *ctx);
	void *ctx;
	HANDLE done;        /* manual-reset event */
	volatile LONG ran;
	volatile LONG refs; /* the waiter's and the request's */
};

static void sync_put(struct sync_call *c)
{
	if (InterlockedDecrement(&c->refs) == 0) {
		CloseHandle(c->done);
		dob_free(c);
	}
}

static void sync_run(struct com_req *r)
{
	struct sync_call *c = (struct sync_call *)r;

	c->fn(c->ctx);
	InterlockedExchange(&c->ran, 1);
	SetEvent(c->done);
	sync_put(c);
}

static void sync_drop(struct com_req *r)
{
	struct sync_call *c = (struct sync_call *)r;

	SetEvent(c->done);
	sync_put(c);
}

int com_pool_run_sync(struct com_pool *p, void (*fn)(void *ctx), void *ctx, DWORD timeout_ms)
{
	struct sync_call *c = dob_calloc(1, sizeof(*c));

	if (!c)
		return -DOB_ENOMEM;
	c->done = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!c->done) {
		dob_free(c);
		return -DOB_ENOMEM;
	}
	c->req.run = sync_run;
	c->req.drop = sync_drop;
	c->fn = fn;
	c->ctx = ctx;
	c->refs = 2;
	int rc = com_pool_push_request(p, &c->req);
	if (rc < 0) {
		CloseHandle(c->done);
		dob_free(c);
		return rc;
	}
	DWORD w = WaitForSingleObject(c->done, timeout_ms);
	if (w != WAIT_OBJECT_0)
		rc = -DOB_ETIMEDOUT;
	else if (!InterlockedCompareExchange(&c->ran, 0, 0))
		rc = -DOB_ESTATE; /* dropped: the pool stopped */
	sync_put(c);
	return rc;
}

/* ------------------------------------------------------------ Wine's proxy release race */

/*
 * Under Wine 8.0 a proxy's last Release (proxy_manager_destroy) asks the
 * service to drop its references through the apartment's IRemUnknown proxy
 * for that service (ifproxy_release_public_refs), which every proxy manager
 * of the service looks up in the apartment's list and releases again when
 * it is destroyed. When nothing else holds that IRemUnknown proxy, two
 * threads releasing proxies at once race: one brings it to zero and frees
 * it, while the other's lookup (find_proxy_manager) still finds it in the
 * list and takes a reference on the dying object (its "refs != 0" test
 * never fails after an increment; later Wine checks with a compare-and-swap,
 * proxy_manager_addref_if_alive), then calls it: IRemUnknown_Release on
 * freed memory. A proxy that keeps the IRemUnknown cached (This->remunk,
 * set when the proxy asked the service a QueryInterface) holds it above
 * zero, so the race cannot start. docs/do-emulator.md "A crash in Wine's
 * combase" has the evidence; tests/wine/com_release_race.c the pattern
 * without the broker.
 */
static const GUID no_such_interface = { /* {6F1A33B5-9E0B-4B47-A5C1-0D8C4E5BB0A1} */
	0x6f1a33b5, 0x9e0b, 0x4b47, { 0xa5, 0xc1, 0x0d, 0x8c, 0x4e, 0x5b, 0xb0, 0xa1 }
};

void com_hold_rem_unknown(IUnknown *proxy)
{
	IUnknown *u = NULL;

	if (SUCCEEDED(IUnknown_QueryInterface(proxy, &no_such_interface, (void **)&u)) && u)
		IUnknown_Release(u);
}

/* ------------------------------------------------------------ the pool */

void com_pool_ref(struct com_pool *p)
{
	InterlockedIncrement(&p->refs);
}

void com_pool_unref(struct com_pool *p)
{
	if (!p || InterlockedDecrement(&p->refs) != 0)
		return;
	/* No thread is left: nothing to lock against. Slots still holding
	 * references were released by the event workers on their way out. */
	for (uint64_t i = p->head; i < p->tail; i++)
		com_post_discard(slot_at(p, i)->ready);
	/* Previous callbacks still held (the process is on its way out): not
	 * released here, where there may be no apartment; see keep_mta. */
	while (p->prev) {
		struct prev_cb *e = p->prev;
		p->prev = e->next;
		dob_free(e);
	}
	for (unsigned k = 0; k < ERR_SEEN_SLOTS; k++)
		if (p->seen[k].used)
			backend_job_clear(&p->seen[k].job);
	dob_free(p->ring);
	dob_free(p);
}

static int start_thread(struct com_pool *p, unsigned(__stdcall *fn)(void *))
{
	com_pool_ref(p);
	uintptr_t h = _beginthreadex(NULL, 0, fn, p, 0, NULL);
	if (!h) {
		com_pool_unref(p);
		log_error("com: cannot start a COM worker thread");
		return -DOB_ENOMEM;
	}
	p->threads[p->n_threads++] = (HANDLE)h;
	return 0;
}

/*
 * The process keeps its MTA from the first pool on, even while no worker
 * thread exists (between two backend instances, or when every worker has
 * exited): our callback objects may outlive their pool, and tearing the MTA
 * down under an exported object is what Wine's RPC server does not survive
 * (a new apartment's callbacks were never called again).
 */
static INIT_ONCE mta_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK keep_mta(PINIT_ONCE o, void *param, void **ctx)
{
	CO_MTA_USAGE_COOKIE cookie;
	HRESULT hr = CoIncrementMTAUsage(&cookie);

	if (FAILED(hr))
		log_warn("com: CoIncrementMTAUsage: 0x%08lX", (unsigned long)hr);
	return TRUE;
}

/* The default number of event workers, or DOBROKER_COM_EVENT_WORKERS
 * (1..16) from the environment: for measuring (scripts/bench-do.sh). */
static unsigned env_workers(void)
{
	char buf[16];
	DWORD n = GetEnvironmentVariableA("DOBROKER_COM_EVENT_WORKERS", buf, sizeof(buf));
	unsigned v = n > 0 && n < sizeof(buf) ? (unsigned)strtoul(buf, NULL, 10) : 0;

	return v >= 1 && v <= 16 ? v : DEFAULT_EVENT_WORKERS;
}

int com_pool_new(struct com_pool **out, const struct com_pool_opts *o)
{
	unsigned ne = o && o->event_workers ? o->event_workers : env_workers();
	unsigned nr = o && o->request_workers ? o->request_workers : DEFAULT_REQUEST_WORKERS;
	unsigned na = o && o->action_workers ? o->action_workers : DEFAULT_ACTION_WORKERS;
	size_t cap = o && o->ring_slots ? o->ring_slots : DEFAULT_RING_SLOTS;
	int rc = 0;

	*out = NULL;
	if (ne + nr + na > MAX_WORKERS)
		return -DOB_EINVAL;
	InitOnceExecuteOnce(&mta_once, keep_mta, NULL, NULL);
	struct com_pool *p = dob_calloc(1, sizeof(*p));
	if (!p)
		return -DOB_ENOMEM;
	p->ring = dob_calloc(cap, sizeof(*p->ring));
	if (!p->ring) {
		dob_free(p);
		return -DOB_ENOMEM;
	}
	p->cap = cap;
	p->refs = 1;
	char fr[4];
	p->full_reads = GetEnvironmentVariableA("DOBROKER_COM_FULL_READS", fr, sizeof(fr)) == 1 &&
			fr[0] == '1';
	InitializeSRWLock(&p->lock);
	InitializeSRWLock(&p->prev_lock);
	InitializeSRWLock(&p->seen_lock);
	InitializeConditionVariable(&p->ev_cv);
	InitializeConditionVariable(&p->req_cv);
	InitializeConditionVariable(&p->act_cv);
	for (unsigned i = 0; i < ne && rc == 0; i++)
		rc = start_thread(p, event_worker);
	for (unsigned i = 0; i < nr && rc == 0; i++)
		rc = start_thread(p, request_worker);
	for (unsigned i = 0; i < na && rc == 0; i++)
		rc = start_thread(p, action_worker);
	if (rc < 0) {
		com_pool_stop(p, INFINITE);
		com_pool_unref(p);
		return rc;
	}
	*out = p;
	return 0;
}

void com_pool_set_target(struct com_pool *p, struct plat_loop *loop,
			 const struct backend_sink *sink)
{
	AcquireSRWLockExclusive(&p->lock);
	p->loop = loop;
	p->sink = *sink;
	p->has_target = loop != NULL;
	ReleaseSRWLockExclusive(&p->lock);
	/* Misses counted before there was a loop can be reported now. */
	WakeAllConditionVariable(&p->ev_cv);
}

void com_pool_stop(struct com_pool *p, DWORD timeout_ms)
{
	if (!p || p->stopped)
		return;
	p->stopped = true;
	AcquireSRWLockExclusive(&p->lock);
	p->stopping = true;
	p->has_target = false;
	ReleaseSRWLockExclusive(&p->lock);
	WakeAllConditionVariable(&p->ev_cv);
	WakeAllConditionVariable(&p->req_cv);
	WakeAllConditionVariable(&p->act_cv);
	if (p->n_threads == 0)
		return;
	DWORD w = WaitForMultipleObjects(p->n_threads, p->threads, TRUE, timeout_ms);
	if (w == WAIT_TIMEOUT)
		log_warn("com: a COM worker is still inside a COM call after %lu ms; "
			 "leaving it behind (it holds its own reference)",
			 (unsigned long)timeout_ms);
	for (unsigned i = 0; i < p->n_threads; i++)
		CloseHandle(p->threads[i]);
	p->n_threads = 0;
}

void com_pool_stats(struct com_pool *p, struct com_pool_stats *out)
{
	AcquireSRWLockShared(&p->lock);
	*out = p->stats;
	ReleaseSRWLockShared(&p->lock);
}
