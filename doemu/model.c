/*
 * doemu/model.c - the model thread: the sim backend (broker/backend/sim.c)
 * on its own timers, and synchronous calls into it from the COM methods.
 *
 * The sim answers every request from a timer on this thread (sink.done);
 * a caller queues a work item, and waits on its own event until the answer
 * for its request id arrives. A scenario `fault ... hang` never answers: the
 * COM method then blocks for good, which is the fault it rehearses. The
 * sim's callbacks (sink.event) go to the notifier threads (notify.c).
 */
#include <string.h>

#include "doemu.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "platform.h"
#include "timer.h"

struct work {
	struct work *next;           /* model.queue */
	void (*run)(struct work *w); /* on the model thread */
	/* a request */
	uint64_t req;
	enum backend_req_kind kind;
	struct dob_guid id;
	enum dob_action action;
	bool on;
	char *name, *url, *local;    /* borrowed from the waiting caller */
	enum dob_job_type type;
	uint64_t size;
	/* a direct read */
	struct sim_file_info *files;
	size_t n_files;
	/* the answer */
	int rc;
	struct backend_result *res;  /* owned */
	bool answered;
	HANDLE done;                 /* auto-reset event: answered */
	struct work *wait_next;      /* model.waiting: requests the sim has not answered */
};

static struct {
	SRWLOCK lock;                /* protects queue, waiting, stopping */
	CONDITION_VARIABLE cv;
	struct work *queue, *queue_last;
	struct work *waiting;
	bool stopping;
	HANDLE thread;
	struct timers *timers;       /* the model thread's */
	struct backend *sim;         /* the model thread's */
	uint64_t next_req;
} M;

static int64_t clock_now(void *ctx)
{
	return plat_now_ms();
}

static int64_t clock_wall(void *ctx)
{
	return plat_wall_us();
}

/* `fault ... exit`: the service dies in the middle of a call, as a crash
 * would (no other clean-up: the clients' calls fail with RPC_S_CALL_FAILED,
 * RPC_E_DISCONNECTED or RPC_S_SERVER_UNAVAILABLE, and COM starts a fresh
 * emulator on the next activation, which knows no callback). */
static void on_exit_fault(void *ctx, unsigned line)
{
	log_warn("scenario line %u: the service exits during a call (injected)", line);
	/* The class object is withdrawn first: Wine's COM would otherwise keep
	 * handing out the dead process's endpoint (RPC_S_SERVER_UNAVAILABLE)
	 * instead of starting the service again, as Windows does. */
	server_revoke();
	TerminateProcess(GetCurrentProcess(), 3);
}

static void on_event(void *ctx, struct backend_event *ev)
{
	notify_push(ev);
}

/* On the model thread: the sim answered request r->req_id. */
static void on_done(void *ctx, struct backend_result *r)
{
	struct work **pp, *w = NULL;

	AcquireSRWLockExclusive(&M.lock);
	for (pp = &M.waiting; *pp; pp = &(*pp)->wait_next)
		if ((*pp)->req == r->req_id) {
			w = *pp;
			*pp = w->wait_next;
			break;
		}
	ReleaseSRWLockExclusive(&M.lock);
	if (!w) {
		backend_result_free(r);
		return;
	}
	w->res = r;
	w->answered = true;
	SetEvent(w->done);
}

static void run_request(struct work *w)
{
	struct backend *b = M.sim;

	AcquireSRWLockExclusive(&M.lock);
	w->wait_next = M.waiting;
	M.waiting = w;
	ReleaseSRWLockExclusive(&M.lock);
	switch (w->kind) {
	case BACKEND_REQ_CREATE:
		w->rc = sim_create(b, w->req, w->name, w->type, "");
		break;
	case BACKEND_REQ_ADD_FILE:
		w->rc = sim_add_file(b, w->req, &w->id, w->url, w->local, w->size);
		break;
	case BACKEND_REQ_QUERY:
		w->rc = b->ops->query(b, w->req, &w->id);
		break;
	case BACKEND_REQ_ACT:
		w->rc = b->ops->act(b, w->req, &w->id, w->action);
		break;
	case BACKEND_REQ_ATTACH:
		w->rc = b->ops->attach(b, w->req, &w->id);
		break;
	case BACKEND_REQ_DETACH:
		w->rc = b->ops->detach(b, w->req, &w->id);
		break;
	default:
		w->rc = -DOB_EINVAL;
		break;
	}
	if (w->rc < 0) { /* refused at once: nothing will answer */
		struct work **pp;

		AcquireSRWLockExclusive(&M.lock);
		for (pp = &M.waiting; *pp; pp = &(*pp)->wait_next)
			if (*pp == w) {
				*pp = w->wait_next;
				break;
			}
		ReleaseSRWLockExclusive(&M.lock);
		w->answered = true;
		SetEvent(w->done);
	}
}

static void run_files(struct work *w)
{
	w->rc = sim_read_files(M.sim, &w->id, &w->files, &w->n_files);
	w->answered = true;
	SetEvent(w->done);
}

static DWORD WINAPI model_thread(void *arg)
{
	AcquireSRWLockExclusive(&M.lock);
	while (!M.stopping) {
		struct work *w = M.queue;

		if (w) {
			M.queue = w->next;
			if (!M.queue)
				M.queue_last = NULL;
			ReleaseSRWLockExclusive(&M.lock);
			w->run(w);
			timers_run(M.timers, plat_now_ms());
			AcquireSRWLockExclusive(&M.lock);
			continue;
		}
		int64_t t = timers_next_timeout(M.timers, plat_now_ms());
		if (t != 0)
			SleepConditionVariableSRW(&M.cv, &M.lock, t < 0 ? INFINITE : (DWORD)t, 0);
		ReleaseSRWLockExclusive(&M.lock);
		timers_run(M.timers, plat_now_ms());
		AcquireSRWLockExclusive(&M.lock);
	}
	ReleaseSRWLockExclusive(&M.lock);
	return 0;
}

static int call(struct work *w)
{
	int rc;

	w->done = CreateEventW(NULL, FALSE, FALSE, NULL);
	if (!w->done)
		return -DOB_ENOMEM;
	AcquireSRWLockExclusive(&M.lock);
	if (M.stopping) {
		ReleaseSRWLockExclusive(&M.lock);
		CloseHandle(w->done);
		return -DOB_ESTATE;
	}
	w->req = ++M.next_req;
	if (M.queue_last)
		M.queue_last->next = w;
	else
		M.queue = w;
	M.queue_last = w;
	ReleaseSRWLockExclusive(&M.lock);
	WakeConditionVariable(&M.cv);
	WaitForSingleObject(w->done, INFINITE); /* a hang fault hangs here, as intended */
	CloseHandle(w->done);
	rc = w->rc;
	return rc;
}

void model_answer_clear(struct model_answer *a)
{
	if (!a)
		return;
	backend_job_clear(&a->job);
	memset(a, 0, sizeof(*a));
}

static int request(struct work *w, struct model_answer *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	w->run = run_request;
	rc = call(w);
	if (rc < 0) {
		out->err = rc;
		out->hr = rc == -DOB_ENOMEM ? E_OUTOFMEMORY : E_FAIL;
		return rc;
	}
	if (!w->res) {
		out->err = -DOB_EBACKEND;
		out->hr = E_FAIL;
		return out->err;
	}
	out->err = w->res->err;
	out->hr = (HRESULT)w->res->hresult;
	if (w->res->has_job) {
		out->job = w->res->job;
		memset(&w->res->job, 0, sizeof(w->res->job));
		out->has_job = true;
	}
	if (w->res->message)
		log_debug("model: request %llu: %s", (unsigned long long)w->req, w->res->message);
	backend_result_free(w->res);
	return 0;
}

HRESULT model_hr(const struct model_answer *a)
{
	if (a->err == -DOB_ENOTFOUND)
		return DO_E_JOB_NOT_FOUND;
	if (a->err == -DOB_ENOMEM)
		return E_OUTOFMEMORY;
	if (a->err < 0 && !FAILED(a->hr))
		return E_FAIL;
	return a->hr;
}

int model_create(const char *name, enum dob_job_type type, struct model_answer *out)
{
	struct work w = { .kind = BACKEND_REQ_CREATE, .name = (char *)name, .type = type };

	return request(&w, out);
}

int model_add_file(const struct dob_guid *job, const char *url, const char *local,
		   uint64_t size, struct model_answer *out)
{
	struct work w = { .kind = BACKEND_REQ_ADD_FILE, .id = *job, .url = (char *)url,
			  .local = (char *)local, .size = size };

	return request(&w, out);
}

int model_query(const struct dob_guid *job, struct model_answer *out)
{
	struct work w = { .kind = BACKEND_REQ_QUERY, .id = *job };

	return request(&w, out);
}

int model_act(const struct dob_guid *job, enum dob_action action, struct model_answer *out)
{
	struct work w = { .kind = BACKEND_REQ_ACT, .id = *job, .action = action };

	return request(&w, out);
}

int model_attach(const struct dob_guid *job, bool on, struct model_answer *out)
{
	struct work w = { .kind = on ? BACKEND_REQ_ATTACH : BACKEND_REQ_DETACH, .id = *job };

	return request(&w, out);
}

int model_files(const struct dob_guid *job, struct sim_file_info **files, size_t *n)
{
	struct work w = { .id = *job, .run = run_files };
	int rc = call(&w);

	*files = w.files;
	*n = w.n_files;
	return rc;
}

int model_start(struct scenario *scn, const GUID *attach, size_t n)
{
	struct backend_sink sink = { 0 };
	int rc;

	rc = timers_new(&M.timers);
	if (rc < 0) {
		scenario_free(scn);
		return rc;
	}
	rc = sim_backend_from_scenario(&M.sim, scn);
	if (rc < 0)
		return rc;
	sim_set_exit_hook(M.sim, on_exit_fault, NULL);
	sink.event = on_event;
	sink.done = on_done;
	sink.clock.timers = M.timers;
	sink.clock.now_ms = clock_now;
	sink.clock.wall_us = clock_wall;
	rc = M.sim->ops->start(M.sim, NULL, &sink);
	if (rc < 0)
		return rc;
	/* Before the model thread runs any timer: the answers come from
	 * timers, with nobody waiting for them (on_done frees them). */
	for (size_t i = 0; i < n; i++) {
		struct dob_guid id;

		emu_guid_to_dob(&attach[i], &id);
		if (M.sim->ops->attach(M.sim, ++M.next_req, &id) < 0)
			log_warn("model: a job with a notification class could not be watched");
	}
	M.thread = CreateThread(NULL, 0, model_thread, NULL, 0, NULL);
	return M.thread ? 0 : -DOB_ENOMEM;
}

void model_stop(void)
{
	AcquireSRWLockExclusive(&M.lock);
	M.stopping = true;
	ReleaseSRWLockExclusive(&M.lock);
	WakeConditionVariable(&M.cv);
	if (M.thread) {
		WaitForSingleObject(M.thread, 10000);
		CloseHandle(M.thread);
		M.thread = NULL;
	}
	if (M.sim) {
		M.sim->ops->free(M.sim);
		M.sim = NULL;
	}
	timers_free(M.timers);
	M.timers = NULL;
}
