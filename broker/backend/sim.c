/*
 * broker/backend/sim.c - the sim backend: a scripted job manager that
 * follows Delivery Optimization's documented semantics (../shared reference
 * do-api.md sections 3-6), driven by a scenario (scenario.h,
 * docs/sim-scenarios.md).
 *
 * What it models:
 *  - Jobs start SUSPENDED; a submit is create + add files + resume. Resume
 *    of a job without files answers DO_E_JOB_EMPTY and leaves it SUSPENDED.
 *  - A resume starts an attempt: QUEUED, then TRANSFERRING on the next tick,
 *    then the outcome of the first rule whose glob matches one of the job's
 *    URLs (or the default) after `after` ms: TRANSFERRED, ERROR, or
 *    TRANSIENT_ERROR followed by recovery or ERROR. Progress moves linearly
 *    during an attempt.
 *  - Every action on a final job (ACKNOWLEDGED, CANCELLED) answers
 *    DO_E_INVALID_STATE; Complete on an upload job that is not TRANSFERRED
 *    too. Complete keeps the files that finished (BG_S_PARTIAL_COMPLETE when
 *    some did not) and writes their content to their local paths.
 *  - Error context: REMOTE_FILE for HTTP 403, NONE for every other error
 *    (unless the scenario names one).
 *  - Callbacks go only to jobs whose callback the broker registered (submit
 *    or attach). JobError is called when a job enters ERROR and again at
 *    pseudo-random intervals (seeded, within the scenario's bounds) while it
 *    stays there; attaching to a job in ERROR or TRANSFERRED delivers the
 *    callback at once (BITS's at-least-once rule). TRANSIENT_ERROR never
 *    produces JobError; state changes other than into ERROR and TRANSFERRED
 *    produce JobModification when the scenario has modifications on.
 *
 * Threads and time: everything runs on the loop thread, on the core's
 * timers (sink.clock). A request is queued and answered from a timer, never
 * from inside the call: each request, transfer step, repeat and scripted
 * event is a `struct sim_op` armed on the timers. Results go to sink.done()
 * before the events the same step caused. The sink must not stop or free
 * the backend from inside its callbacks.
 */
#include "scenario.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "platform.h"
#include "timer.h"

#define HR_PATH_NOT_FOUND 0x80070003u
#define HR_FILE_NOT_FOUND 0x80070002u
#define HR_DISK_FULL 0x80070070u

struct sim_file {
	char *url;          /* owned */
	char *local;        /* owned */
	uint64_t size;
	uint64_t done;      /* settled bytes (see sim_job.moving) */
	bool completed;     /* visible to the user (after Complete) */
};

struct sim_op;

struct sim_job {
	struct sim_job *next;       /* sim.jobs; owned by the sim */
	struct dob_guid id;
	uint32_t index;             /* N-th submitted (1-based); 0 for scenario jobs */
	char *name;                 /* owned */
	char *owner;                /* owned */
	enum dob_job_type type;
	enum dob_job_state state;
	size_t n_files;
	struct sim_file *files;     /* owned array */
	int64_t created_us, modified_us, transferred_us;
	bool has_error;
	struct dob_error_info err;  /* owned strings; valid when has_error */
	const struct scn_outcome *outcome; /* borrowed from the scenario */
	uint32_t attempts;
	/* While moving, progress goes linearly from seg_b0 bytes at seg_t0 to
	 * seg_b1 at seg_t1; settle() writes it back into files[].done. */
	bool moving;
	int64_t seg_t0, seg_t1;
	uint64_t seg_b0, seg_b1;
	uint64_t gen;               /* bumped at every state change: older ops are stale */
	bool attached;              /* the broker's callback is registered */
	struct sim_op *repeat;      /* armed JobError repeat, borrowed (in sim.ops), or NULL */
};

enum op_kind {
	OP_REQUEST = 1,       /* answer a request */
	OP_START = 2,         /* QUEUED -> TRANSFERRING, the attempt's course is set */
	OP_STRIKE = 3,        /* the attempt's outcome */
	OP_TRANSIENT_END = 4, /* TRANSIENT_ERROR ends: recovery or ERROR */
	OP_REPEAT = 5,        /* JobError again */
	OP_SCRIPT = 6,        /* "at T JOB STATE" */
};

struct sim_op {
	struct sim_op *prev, *next; /* sim.ops: every armed op */
	struct sim *s;              /* borrowed */
	struct timer *h;            /* the armed timer; NULL once it fired */
	enum op_kind kind;
	struct sim_job *job;        /* borrowed (jobs live as long as the sim) */
	uint64_t gen;               /* job->gen when armed */
	bool ok;                    /* OP_STRIKE: the attempt succeeds */
	bool then_error;            /* OP_TRANSIENT_END */
	/* OP_REQUEST */
	uint64_t req;
	enum backend_req_kind rkind;
	enum dob_action action;
	struct dob_guid id;
	struct sim_job *fresh;      /* submit/create: the job to create; owned until it runs */
	char *url, *local;          /* add file: owned */
	uint64_t size;              /* add file: bytes, 0: the outcome's size */
	const struct scn_fault *fault; /* borrowed; answer its HRESULT instead */
	const struct scn_event *ev; /* OP_SCRIPT; borrowed */
};

struct sim {
	struct scenario *scn;       /* owned */
	struct backend_sink sink;   /* copy, clock included */
	bool started, stopped;
	int64_t t0;                 /* now_ms at start */
	uint64_t rng;               /* seeded: repeat intervals */
	uint64_t id_rng;            /* seed and start time: job ids never repeat across runs */
	uint32_t submitted;
	struct sim_job *jobs;       /* owned list */
	struct sim_op *ops;         /* owned list of armed ops */
	uint32_t *fault_left;       /* owned; per scenario fault, calls it still hits */
	struct backend_event **pend; /* owned; events of the running step, delivered after it */
	void (*exit_hook)(void *ctx, unsigned line); /* `fault ... exit` (sim_set_exit_hook) */
	void *exit_ctx;
	size_t n_pend, cap_pend;
};

/* ------------------------------------------------------------ basics */

static int64_t now_ms(const struct sim *s)
{
	return s->sink.clock.now_ms(s->sink.clock.ctx);
}

static int64_t wall_us(const struct sim *s)
{
	if (s->sink.clock.wall_us)
		return s->sink.clock.wall_us(s->sink.clock.ctx);
	return now_ms(s) * 1000;
}

/* xorshift64*: small, seeded, the same sequence on every platform. */
static uint64_t next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd(struct sim *s)
{
	return next(&s->rng);
}

static bool is_final(enum dob_job_state st)
{
	return st == DOB_STATE_ACKNOWLEDGED || st == DOB_STATE_CANCELLED;
}

static struct sim_job *find_job(const struct sim *s, const struct dob_guid *id)
{
	for (struct sim_job *j = s->jobs; j; j = j->next)
		if (!memcmp(&j->id, id, sizeof(*id)))
			return j;
	return NULL;
}

static struct sim_job *find_index(const struct sim *s, uint32_t index)
{
	for (struct sim_job *j = s->jobs; j; j = j->next)
		if (j->index == index)
			return j;
	return NULL;
}

static void new_guid(struct sim *s, struct dob_guid *g)
{
	do {
		uint64_t a = next(&s->id_rng), b = next(&s->id_rng);

		memcpy(g->b, &a, 8);
		memcpy(g->b + 8, &b, 8);
		g->b[7] = (uint8_t)((g->b[7] & 0x0F) | 0x40); /* version 4 (Data3 is little-endian) */
		g->b[8] = (uint8_t)((g->b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	} while (find_job(s, g));
}

static void job_free(struct sim_job *j)
{
	if (!j)
		return;
	dob_free(j->name);
	dob_free(j->owner);
	for (size_t i = 0; i < j->n_files; i++) {
		dob_free(j->files[i].url);
		dob_free(j->files[i].local);
	}
	dob_free(j->files);
	dob_error_info_clear(&j->err);
	dob_free(j);
}

/* A job with n_files zeroed files; strings are filled in by the caller. */
static struct sim_job *job_new(size_t n_files)
{
	struct sim_job *j = dob_calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	if (n_files) {
		j->files = dob_calloc(n_files, sizeof(*j->files));
		if (!j->files) {
			dob_free(j);
			return NULL;
		}
		j->n_files = n_files;
	}
	return j;
}

/* ------------------------------------------------------------ progress */

static uint64_t total_bytes(const struct sim_job *j)
{
	uint64_t t = 0;

	for (size_t i = 0; i < j->n_files; i++)
		t += j->files[i].size;
	return t;
}

static uint64_t settled_bytes(const struct sim_job *j)
{
	uint64_t t = 0;

	for (size_t i = 0; i < j->n_files; i++)
		t += j->files[i].done;
	return t;
}

static uint64_t bytes_at(const struct sim_job *j, int64_t t)
{
	if (!j->moving)
		return settled_bytes(j);
	if (t >= j->seg_t1 || j->seg_t1 <= j->seg_t0)
		return j->seg_b1;
	if (t <= j->seg_t0)
		return j->seg_b0;
	/* double: sizes up to 2^50 times durations up to 2^32 overflow u64 */
	return j->seg_b0 + (uint64_t)((double)(j->seg_b1 - j->seg_b0) *
				      (double)(t - j->seg_t0) / (double)(j->seg_t1 - j->seg_t0));
}

/* Bytes of file i when the job has moved `bytes` (files fill in order). */
static uint64_t file_done(const struct sim_job *j, size_t i, uint64_t bytes)
{
	for (size_t k = 0; k < i; k++)
		bytes -= bytes < j->files[k].size ? bytes : j->files[k].size;
	return bytes < j->files[i].size ? bytes : j->files[i].size;
}

static void settle(struct sim *s, struct sim_job *j)
{
	uint64_t b;

	if (!j->moving)
		return;
	b = bytes_at(j, now_ms(s));
	for (size_t i = 0; i < j->n_files; i++)
		j->files[i].done = file_done(j, i, b);
	j->moving = false;
}

/* Progress from now to `target` bytes over dur ms. */
static void move(struct sim *s, struct sim_job *j, uint64_t target, int64_t dur)
{
	settle(s, j);
	j->seg_t0 = now_ms(s);
	j->seg_t1 = j->seg_t0 + dur;
	j->seg_b0 = settled_bytes(j);
	j->seg_b1 = target < j->seg_b0 ? j->seg_b0 : target;
	j->moving = true;
}

static void finish_files(struct sim_job *j)
{
	j->moving = false;
	for (size_t i = 0; i < j->n_files; i++)
		j->files[i].done = j->files[i].size;
}

/* ------------------------------------------------------------ snapshots */

static int snapshot(struct sim *s, const struct sim_job *j, struct backend_job *out)
{
	uint64_t b = bytes_at(j, now_ms(s));
	int rc = -DOB_ENOMEM;

	memset(out, 0, sizeof(*out));
	out->info.job_id = j->id;
	out->info.type = j->type;
	out->info.state = j->state;
	out->info.progress.bytes_total = total_bytes(j);
	out->info.progress.bytes_transferred = b;
	out->info.progress.files_total = (uint32_t)j->n_files;
	for (size_t i = 0; i < j->n_files; i++)
		if (file_done(j, i, b) == j->files[i].size)
			out->info.progress.files_transferred++;
	out->info.times.creation_us = j->created_us;
	out->info.times.modification_us = j->modified_us;
	out->info.times.transfer_completion_us = j->transferred_us;
	out->callback_us = wall_us(s);
	if (s->sink.clock.seq)
		out->seq = s->sink.clock.seq(s->sink.clock.ctx);
	out->info.display_name = dob_strdup(j->name);
	out->info.owner = dob_strdup(j->owner);
	if (!out->info.display_name || !out->info.owner)
		goto fail;
	if (j->has_error) {
		if (dob_error_info_copy(&out->error, &j->err) < 0)
			goto fail;
		out->has_error = true;
	}
	return 0;
fail:
	backend_job_clear(out);
	return rc;
}

/* Queues a callback for delivery at the end of the current step. Only jobs
 * with the broker's callback registered get one. */
static void note(struct sim *s, const struct sim_job *j, enum backend_event_kind kind)
{
	struct backend_event *ev;

	if (!j->attached || s->stopped)
		return;
	if (s->n_pend == s->cap_pend) {
		size_t cap = s->cap_pend ? 2 * s->cap_pend : 4;
		struct backend_event **p = dob_realloc(s->pend, cap * sizeof(*p));

		if (!p)
			goto oom;
		s->pend = p;
		s->cap_pend = cap;
	}
	ev = dob_calloc(1, sizeof(*ev));
	if (!ev)
		goto oom;
	ev->kind = kind;
	if (snapshot(s, j, &ev->job) < 0) {
		dob_free(ev);
		goto oom;
	}
	s->pend[s->n_pend++] = ev;
	return;
oom:
	/* A JobError lost here comes again with the next repeat, as DO does. */
	log_warn("sim: out of memory: a callback (kind %d) was not delivered", (int)kind);
}

static void flush(struct sim *s)
{
	for (size_t i = 0; i < s->n_pend; i++) {
		struct backend_event *ev = s->pend[i];

		s->pend[i] = NULL;
		if (s->stopped)
			backend_event_free(ev);
		else
			s->sink.event(s->sink.ctx, ev);
	}
	s->n_pend = 0;
}

/* ------------------------------------------------------------ ops */

static void op_fire(void *arg);

static void op_free(struct sim_op *op)
{
	if (!op)
		return;
	job_free(op->fresh);
	dob_free(op->url);
	dob_free(op->local);
	dob_free(op);
}

static void op_unlink(struct sim *s, struct sim_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		s->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

/* Arms op at due (absolute ms). On failure op is freed. */
static int arm(struct sim *s, struct sim_op *op, int64_t due)
{
	int rc;

	op->s = s;
	op->next = s->ops;
	op->prev = NULL;
	if (s->ops)
		s->ops->prev = op;
	s->ops = op;
	rc = timer_add(s->sink.clock.timers, due, op_fire, op, &op->h);
	if (rc < 0) {
		op_unlink(s, op);
		op_free(op);
	}
	return rc;
}

/* Arms a job step at now + delay, tied to the job's current generation. */
static void arm_step(struct sim *s, struct sim_job *j, enum op_kind kind, int64_t delay,
		     bool ok, bool then_error)
{
	struct sim_op *op = dob_calloc(1, sizeof(*op));

	if (op) {
		op->kind = kind;
		op->job = j;
		op->gen = j->gen;
		op->ok = ok;
		op->then_error = then_error;
		if (arm(s, op, now_ms(s) + delay) == 0)
			return;
	}
	log_warn("sim: out of memory: a step of job %u is lost", (unsigned)j->index);
}

static void arm_repeat(struct sim *s, struct sim_job *j)
{
	struct sim_op *op;
	int64_t span;

	if (!s->scn->repeat || (j->repeat && j->repeat->gen == j->gen))
		return;
	span = s->scn->repeat_max_ms - s->scn->repeat_min_ms + 1;
	op = dob_calloc(1, sizeof(*op));
	if (!op) {
		log_warn("sim: out of memory: JobError repeats stop for a job");
		return;
	}
	op->kind = OP_REPEAT;
	op->job = j;
	op->gen = j->gen;
	if (arm(s, op, now_ms(s) + s->scn->repeat_min_ms + (int64_t)(rnd(s) % (uint64_t)span)) == 0)
		j->repeat = op;
}

static void persist(struct sim *s);

/* ------------------------------------------------------------ states */

static const char *scheme_protocol(const char *url)
{
	if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8))
		return "http";
	if (!strncmp(url, "file:", 5))
		return "file";
	return "";
}

/* Sets the job's error from a scenario error; the failing file is the
 * first one not finished. */
static void set_error(struct sim *s, struct sim_job *j, const struct scn_error *e)
{
	struct dob_error_info *x = &j->err;
	const char *desc = e->description;
	char buf[64];

	dob_error_info_clear(x);
	j->has_error = true;
	x->hresult = e->hresult;
	if (e->context >= 0)
		x->context = (enum dob_error_context)e->context;
	else /* DO: REMOTE_FILE for HTTP 403 only, NONE for everything else */
		x->context = e->hresult == DOB_HTTP_E(403) ? DOB_CONTEXT_REMOTE_FILE : DOB_CONTEXT_NONE;
	if (!desc)
		desc = backend_hresult_name(e->hresult);
	if (!desc) {
		snprintf(buf, sizeof(buf), "error 0x%08X", (unsigned)e->hresult);
		desc = buf;
	}
	x->description = dob_strdup(desc);
	x->context_description = dob_strdup(e->context_description);
	if (j->n_files) {
		uint64_t b = bytes_at(j, now_ms(s));
		size_t i = 0;

		while (i + 1 < j->n_files && file_done(j, i, b) == j->files[i].size)
			i++;
		x->has_file = true;
		x->file.remote_url = dob_strdup(j->files[i].url);
		x->file.local_name = dob_strdup(j->files[i].local);
		x->file.progress.bytes_total = j->files[i].size;
		x->file.progress.bytes_transferred = file_done(j, i, b);
		x->protocol = dob_strdup(e->protocol ? e->protocol : scheme_protocol(j->files[i].url));
	} else {
		x->protocol = dob_strdup(e->protocol);
	}
	if (!x->description || !x->context_description || !x->protocol ||
	    (x->has_file && (!x->file.remote_url || !x->file.local_name)))
		log_warn("sim: out of memory: error text of a job is incomplete");
}

/* Moves j to st (the service's word on it) and queues the callback DO
 * would make. */
static void set_state(struct sim *s, struct sim_job *j, enum dob_job_state st)
{
	settle(s, j);
	j->state = st;
	j->gen++;
	j->modified_us = wall_us(s);
	if (st != DOB_STATE_ERROR && st != DOB_STATE_TRANSIENT_ERROR && j->has_error) {
		dob_error_info_clear(&j->err);
		j->has_error = false;
	}
	switch (st) {
	case DOB_STATE_ERROR:
		note(s, j, BACKEND_EV_ERROR);
		if (j->attached)
			arm_repeat(s, j);
		break;
	case DOB_STATE_TRANSFERRED:
		j->transferred_us = j->modified_us;
		note(s, j, BACKEND_EV_TRANSFERRED);
		break;
	default:
		if (s->scn->modifications)
			note(s, j, BACKEND_EV_MODIFIED);
		break;
	}
	persist(s); /* on disk before anyone hears of it */
}

/* Resume: a new attempt. */
static void begin_attempt(struct sim *s, struct sim_job *j)
{
	settle(s, j);
	j->attempts++;
	set_state(s, j, DOB_STATE_QUEUED);
	arm_step(s, j, OP_START, 0, false, false);
}

static void enter_transient(struct sim *s, struct sim_job *j, const struct scn_error *e,
			    int64_t for_ms, bool then_error)
{
	settle(s, j);
	set_error(s, j, e);
	set_state(s, j, DOB_STATE_TRANSIENT_ERROR);
	arm_step(s, j, OP_TRANSIENT_END, for_ms, false, then_error);
}

static void op_start(struct sim *s, struct sim_job *j)
{
	const struct scn_outcome *o = j->outcome;
	bool fails = (o->kind == SCN_ERROR || o->kind == SCN_TRANSIENT) &&
		     (o->times == 0 || j->attempts <= o->times);
	uint64_t cur, target;

	set_state(s, j, DOB_STATE_TRANSFERRING);
	if (o->kind == SCN_HANG)
		return; /* no progress, no end */
	cur = settled_bytes(j);
	target = total_bytes(j);
	if (fails) /* moves up to `bytes` (if given), then strikes */
		target = o->has_bytes ? (o->bytes < cur ? cur : o->bytes > target ? target : o->bytes)
				      : cur;
	move(s, j, target, o->after_ms);
	arm_step(s, j, OP_STRIKE, o->after_ms, !fails, false);
}

static void op_strike(struct sim *s, struct sim_job *j, bool ok)
{
	const struct scn_outcome *o = j->outcome;

	settle(s, j);
	if (ok) {
		finish_files(j);
		set_state(s, j, DOB_STATE_TRANSFERRED);
	} else if (o->kind == SCN_TRANSIENT) {
		enter_transient(s, j, &o->err, o->for_ms, o->then_error);
	} else {
		set_error(s, j, &o->err);
		set_state(s, j, DOB_STATE_ERROR);
	}
}

static void op_transient_end(struct sim *s, struct sim_job *j, bool then_error)
{
	if (j->state != DOB_STATE_TRANSIENT_ERROR)
		return;
	if (then_error) {
		set_state(s, j, DOB_STATE_ERROR); /* keeps the error */
		return;
	}
	set_state(s, j, DOB_STATE_TRANSFERRING);
	move(s, j, total_bytes(j), j->outcome->after_ms);
	arm_step(s, j, OP_STRIKE, j->outcome->after_ms, true, false);
}

static void op_repeat(struct sim *s, struct sim_op *op)
{
	struct sim_job *j = op->job;

	if (j->repeat == op)
		j->repeat = NULL;
	if (op->gen != j->gen || j->state != DOB_STATE_ERROR || !j->attached)
		return;
	note(s, j, BACKEND_EV_ERROR);
	arm_repeat(s, j);
}

static void op_script(struct sim *s, const struct scn_event *ev)
{
	struct sim_job *j = ev->job.who == SCN_WHO_INDEX ? find_index(s, ev->job.index)
							  : find_job(s, &ev->job.id);

	if (!j) {
		log_info("sim: %s:%u: the job does not exist at %" PRId64 " ms; event skipped",
			 s->scn->name, ev->line, ev->at_ms);
		return;
	}
	if (is_final(j->state)) {
		log_info("sim: %s:%u: job is %s (final); event skipped", s->scn->name, ev->line,
			 dob_state_name(j->state));
		return;
	}
	if (j->n_files == 0 && ev->state != DOB_STATE_SUSPENDED && ev->state != DOB_STATE_CANCELLED &&
	    ev->state != DOB_STATE_ACKNOWLEDGED) {
		log_info("sim: %s:%u: the job has no file, it cannot be %s; event skipped",
			 s->scn->name, ev->line, scenario_state_word(ev->state));
		return;
	}
	switch (ev->state) {
	case DOB_STATE_ERROR:
		settle(s, j);
		set_error(s, j, &ev->err);
		set_state(s, j, DOB_STATE_ERROR);
		break;
	case DOB_STATE_TRANSIENT_ERROR:
		enter_transient(s, j, &ev->err, ev->for_ms, ev->then_error);
		break;
	case DOB_STATE_TRANSFERRED:
		finish_files(j);
		set_state(s, j, DOB_STATE_TRANSFERRED);
		break;
	case DOB_STATE_QUEUED:
	case DOB_STATE_TRANSFERRING:
		begin_attempt(s, j);
		break;
	default: /* suspended, cancelled, acknowledged: someone else acted */
		if (j->state != ev->state)
			set_state(s, j, ev->state);
		break;
	}
}

/* ------------------------------------------------------------ complete */

static uint32_t hr_of(int err)
{
	switch (err) {
	case -DOB_ENOTFOUND: return HR_PATH_NOT_FOUND;
	case -DOB_EACCES: return DOB_E_ACCESSDENIED;
	case -DOB_ENOSPC: return HR_DISK_FULL;
	case -DOB_ENOMEM: return 0x8007000Eu;
	default: return DOB_E_FAIL;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The local path of a file:// URL (percent-decoded; "file:///C:/x" gives
 * "C:/x"), or NULL when memory runs out. */
static char *file_url_path(const char *url)
{
	const char *p;
	char *out, *o;

	p = url + 7;
	if (!strncmp(p, "localhost/", 10))
		p += 9;
	if (p[0] == '/' && p[1] && p[2] == ':')
		p++; /* a drive letter */
	out = o = dob_malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			*o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static int remove_if_present(const char *path)
{
	int rc = plat_file_remove(path);

	return rc == -DOB_ENOTFOUND ? 0 : rc;
}

/* Writes buf to path through a temporary file renamed over it, so the file
 * appears whole or not at all. */
static int write_whole(const char *path, const void *buf, size_t n)
{
	size_t len = strlen(path) + sizeof(".sim-tmp");
	struct plat_file *f = NULL;
	char *tmp = dob_malloc(len);
	int rc;

	if (!tmp)
		return -DOB_ENOMEM;
	snprintf(tmp, len, "%s.sim-tmp", path);
	rc = remove_if_present(tmp);
	if (rc == 0)
		rc = plat_file_open_append(tmp, &f);
	if (rc == 0) {
		rc = plat_file_write(f, buf, n, false);
		plat_file_close(f);
		if (rc == 0)
			rc = plat_file_replace(tmp, path);
		if (rc < 0)
			plat_file_remove(tmp);
	}
	dob_free(tmp);
	return rc;
}

/* Writes what Complete writes for file f (enum scn_writes). Returns 0 or
 * the HRESULT of the failure, with msg saying what failed. */
static uint32_t write_content(struct sim *s, const struct sim_file *f, char *msg, size_t len)
{
	char *src = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc;

	if (s->scn->writes == SCN_WRITES_NOTHING)
		return 0;
	if (s->scn->writes == SCN_WRITES_SOURCE && !strncmp(f->url, "file://", 7)) {
		src = file_url_path(f->url);
		if (!src)
			return hr_of(-DOB_ENOMEM);
		rc = plat_file_read_all(src, &buf, &n);
		if (rc < 0) {
			snprintf(msg, len, "complete: cannot read the source %s: %s", src,
				 dob_strerror(rc));
			dob_free(src);
			return rc == -DOB_ENOTFOUND ? HR_FILE_NOT_FOUND : hr_of(rc);
		}
		dob_free(src);
	} else {
		n = strlen(f->url) + 1;
		buf = dob_malloc(n);
		if (!buf)
			return hr_of(-DOB_ENOMEM);
		memcpy(buf, f->url, n - 1);
		buf[n - 1] = '\n';
	}
	rc = write_whole(f->local, buf, n);
	dob_free(buf);
	if (rc < 0) {
		snprintf(msg, len, "complete: cannot write %s: %s", f->local, dob_strerror(rc));
		return hr_of(rc);
	}
	return 0;
}

/* ------------------------------------------------------------ actions */

static uint32_t refuse_final(const struct sim_job *j, enum dob_action a, char *msg, size_t len)
{
	snprintf(msg, len, "%s refused: the job is %s (final)", dob_action_name(a),
		 dob_state_name(j->state));
	return DOB_DO_E_INVALID_STATE;
}

static uint32_t act_complete(struct sim *s, struct sim_job *j, char *msg, size_t len)
{
	bool partial = false;

	if (j->type != DOB_JOB_DOWNLOAD && j->state != DOB_STATE_TRANSFERRED) {
		snprintf(msg, len, "complete is not allowed on an upload job until it is "
			 "TRANSFERRED (an upload can never be partially completed)");
		return DOB_DO_E_INVALID_STATE;
	}
	settle(s, j);
	if (j->type == DOB_JOB_DOWNLOAD) {
		for (size_t i = 0; i < j->n_files; i++) {
			struct sim_file *f = &j->files[i];
			uint32_t hr;

			if (f->done != f->size) {
				partial = true; /* unfinished files are dropped */
				continue;
			}
			hr = write_content(s, f, msg, len);
			if (hr) /* the job stays as it is, as BITS does when renames fail */
				return hr;
			f->completed = true;
		}
	}
	set_state(s, j, DOB_STATE_ACKNOWLEDGED);
	if (partial) {
		snprintf(msg, len, "partial complete: unfinished files were dropped");
		return DOB_BG_S_PARTIAL_COMPLETE;
	}
	return DOB_S_OK;
}

static uint32_t do_action(struct sim *s, struct sim_job *j, enum dob_action a, char *msg,
			  size_t len)
{
	if (a < DOB_ACTION_CANCEL || a > DOB_ACTION_MAX) {
		snprintf(msg, len, "unknown action %d", (int)a);
		return DOB_E_INVALIDARG;
	}
	if (is_final(j->state))
		return refuse_final(j, a, msg, len);
	switch (a) {
	case DOB_ACTION_CANCEL:
		set_state(s, j, DOB_STATE_CANCELLED);
		return DOB_S_OK;
	case DOB_ACTION_SUSPEND:
		if (j->state != DOB_STATE_SUSPENDED)
			set_state(s, j, DOB_STATE_SUSPENDED);
		return DOB_S_OK;
	case DOB_ACTION_COMPLETE:
		return act_complete(s, j, msg, len);
	default: /* RESUME, RESUME_AFTER_DELAY (the broker did the waiting) */
		if (j->n_files == 0) {
			snprintf(msg, len, "resume refused: the job has no file");
			return DOB_DO_E_JOB_EMPTY;
		}
		if (j->state == DOB_STATE_SUSPENDED || j->state == DOB_STATE_ERROR ||
		    j->state == DOB_STATE_TRANSIENT_ERROR)
			begin_attempt(s, j);
		return DOB_S_OK; /* running or transferred: nothing to do */
	}
}

/* A file added to a job that exists (the emulator's AddFileWithRanges).
 * The job's outcome is chosen again from all its URLs. */
static uint32_t add_file(struct sim *s, struct sim_job *j, struct sim_op *op, char *msg,
			 size_t len)
{
	struct sim_file *files;
	const char **urls;

	if (is_final(j->state)) {
		snprintf(msg, len, "add file refused: the job is %s (final)", dob_state_name(j->state));
		return DOB_DO_E_INVALID_STATE;
	}
	if (j->n_files >= DOB_MAX_FILES) {
		snprintf(msg, len, "add file refused: the job has %u files already",
			 (unsigned)j->n_files);
		return DOB_E_INVALIDARG;
	}
	files = dob_realloc(j->files, (j->n_files + 1) * sizeof(*files));
	if (!files)
		return hr_of(-DOB_ENOMEM);
	j->files = files;
	urls = dob_calloc(j->n_files + 1, sizeof(*urls));
	if (!urls)
		return hr_of(-DOB_ENOMEM);
	settle(s, j);
	memset(&files[j->n_files], 0, sizeof(*files));
	files[j->n_files].url = op->url;
	files[j->n_files].local = op->local;
	op->url = op->local = NULL;
	j->n_files++;
	for (size_t i = 0; i < j->n_files; i++)
		urls[i] = j->files[i].url;
	j->outcome = scenario_outcome_for(s->scn, urls, j->n_files);
	dob_free(urls);
	j->files[j->n_files - 1].size = op->size ? op->size : j->outcome->size;
	j->modified_us = wall_us(s);
	if (s->scn->modifications)
		note(s, j, BACKEND_EV_MODIFIED);
	persist(s);
	return DOB_S_OK;
}

/* ------------------------------------------------------------ requests */

/* An injected fault answers the request. `exit`: the service goes away
 * during the call (the hook, e.g. the DO emulator ending its process), or,
 * in-process, answers RPC_E_DISCONNECTED and forgets every callback, as a
 * restarted service does. */
static void fault_answer(struct sim *s, const struct sim_op *op, struct backend_result *r,
			 char *msg, size_t len)
{
	const struct scn_fault *f = op->fault;

	r->hresult = f->hresult;
	if (f->effect != SCN_FAULT_EXIT) {
		snprintf(msg, len, "injected fault (%s:%u)%s", s->scn->name, f->line,
			 op->rkind == BACKEND_REQ_SUBMIT || op->rkind == BACKEND_REQ_CREATE
				 ? ": nothing created" : "");
		return;
	}
	log_info("sim: %s:%u: the service goes away during request %" PRIu64 " (injected)",
		 s->scn->name, f->line, op->req);
	if (s->exit_hook)
		s->exit_hook(s->exit_ctx, f->line); /* does not return */
	r->err = -DOB_EBACKEND;
	for (struct sim_job *j = s->jobs; j; j = j->next)
		j->attached = false;
	snprintf(msg, len, "injected fault (%s:%u): the service went away and forgot every callback",
		 s->scn->name, f->line);
}

/* Every job of the simulator (EnumJobs with BG_JOB_ENUM_ALL_USERS: the sim
 * has no users of its own; the core shows each caller only its own). */
static int enumerate_jobs(struct sim *s, struct backend_result *r)
{
	size_t n = 0;

	for (const struct sim_job *j = s->jobs; j; j = j->next)
		n++;
	if (!n)
		return 0;
	if (!(r->jobs = dob_calloc(n, sizeof(*r->jobs))))
		return -DOB_ENOMEM;
	for (const struct sim_job *j = s->jobs; j; j = j->next) {
		if (snapshot(s, j, &r->jobs[r->n_jobs]) < 0)
			return -DOB_ENOMEM;
		r->n_jobs++;
	}
	return 0;
}

static void answer(struct sim *s, struct sim_op *op)
{
	struct backend_result *r = dob_calloc(1, sizeof(*r));
	struct sim_job *j = NULL;
	char msg[256] = "";
	char gb[DOB_GUID_STR_LEN];

	if (!r) {
		log_warn("sim: out of memory: request %" PRIu64 " is never answered", op->req);
		return;
	}
	r->req_id = op->req;
	r->kind = op->rkind;
	if (op->rkind == BACKEND_REQ_SUBMIT) {
		if (op->fault) {
			fault_answer(s, op, r, msg, sizeof(msg));
		} else {
			j = op->fresh;
			op->fresh = NULL;
			j->next = s->jobs;
			s->jobs = j;
			j->created_us = j->modified_us = wall_us(s);
			j->attached = true;
			if (j->n_files == 0) {
				r->hresult = DOB_DO_E_JOB_EMPTY;
				snprintf(msg, sizeof(msg), "job created, but resume refused: no file");
				persist(s);
			} else {
				begin_attempt(s, j);
			}
		}
	} else if (op->rkind == BACKEND_REQ_CREATE) {
		if (op->fault) {
			fault_answer(s, op, r, msg, sizeof(msg));
		} else {
			j = op->fresh;
			op->fresh = NULL;
			j->next = s->jobs;
			s->jobs = j;
			j->created_us = j->modified_us = wall_us(s);
			persist(s);
		}
	} else if (op->rkind == BACKEND_REQ_ENUMERATE) {
		if (op->fault) {
			r->hresult = op->fault->hresult;
			snprintf(msg, sizeof(msg), "injected fault (%s:%u)", s->scn->name,
				 op->fault->line);
		} else if (enumerate_jobs(s, r) < 0) {
			r->err = -DOB_ENOMEM;
		}
	} else if (!(j = find_job(s, &op->id))) {
		dob_guid_format(&op->id, gb);
		r->err = -DOB_ENOTFOUND;
		r->hresult = DOB_DO_E_JOB_NOT_FOUND;
		snprintf(msg, sizeof(msg), "no job %s in the simulator", gb);
	} else if (op->fault) {
		fault_answer(s, op, r, msg, sizeof(msg));
	} else {
		switch (op->rkind) {
		case BACKEND_REQ_ATTACH:
			if (is_final(j->state)) {
				r->hresult = DOB_DO_E_INVALID_STATE;
				snprintf(msg, sizeof(msg), "attach refused: the job is %s (final)",
					 dob_state_name(j->state));
				break;
			}
			j->attached = true;
			/* At least once: a callback registered late still gets it. */
			if (j->state == DOB_STATE_ERROR) {
				note(s, j, BACKEND_EV_ERROR);
				arm_repeat(s, j);
			} else if (j->state == DOB_STATE_TRANSFERRED) {
				note(s, j, BACKEND_EV_TRANSFERRED);
			}
			break;
		case BACKEND_REQ_DETACH:
			j->attached = false;
			if (is_final(j->state)) {
				r->hresult = DOB_DO_E_INVALID_STATE;
				snprintf(msg, sizeof(msg), "the job is %s (final)", dob_state_name(j->state));
			}
			break;
		case BACKEND_REQ_ACT:
			r->hresult = do_action(s, j, op->action, msg, sizeof(msg));
			break;
		case BACKEND_REQ_ADD_FILE:
			r->hresult = add_file(s, j, op, msg, sizeof(msg));
			break;
		default: /* QUERY */
			break;
		}
	}
	if (j) {
		if (snapshot(s, j, &r->job) == 0)
			r->has_job = true;
		else
			r->err = r->err ? r->err : -DOB_ENOMEM;
	}
	if (msg[0] && !(r->message = dob_strdup(msg)))
		log_warn("sim: out of memory: the message of request %" PRIu64 " is lost", op->req);
	s->sink.done(s->sink.ctx, r);
}

static void op_fire(void *arg)
{
	struct sim_op *op = arg;
	struct sim *s = op->s;
	struct sim_job *j = op->job;

	op->h = NULL;
	op_unlink(s, op);
	switch (op->kind) {
	case OP_REQUEST:
		answer(s, op);
		break;
	case OP_REPEAT:
		op_repeat(s, op);
		break;
	case OP_SCRIPT:
		op_script(s, op->ev);
		break;
	default:
		if (op->gen != j->gen)
			break; /* the job moved on since this step was armed */
		if (op->kind == OP_START)
			op_start(s, j);
		else if (op->kind == OP_STRIKE)
			op_strike(s, j, op->ok);
		else
			op_transient_end(s, j, op->then_error);
		break;
	}
	op_free(op);
	flush(s);
}

static enum scn_req req_of(enum backend_req_kind k, enum dob_action a)
{
	switch (k) {
	case BACKEND_REQ_SUBMIT:
	case BACKEND_REQ_CREATE:
	case BACKEND_REQ_ADD_FILE: return SCN_REQ_SUBMIT;
	case BACKEND_REQ_ATTACH: return SCN_REQ_ATTACH;
	case BACKEND_REQ_QUERY: return SCN_REQ_QUERY;
	case BACKEND_REQ_DETACH: return SCN_REQ_DETACH;
	case BACKEND_REQ_ENUMERATE: return SCN_REQ_ANY; /* only `fault any` hits it */
	default: break;
	}
	switch (a) {
	case DOB_ACTION_CANCEL: return SCN_REQ_CANCEL;
	case DOB_ACTION_COMPLETE: return SCN_REQ_COMPLETE;
	case DOB_ACTION_SUSPEND: return SCN_REQ_SUSPEND;
	case DOB_ACTION_RESUME:
	case DOB_ACTION_RESUME_AFTER_DELAY: return SCN_REQ_RESUME;
	default: return SCN_REQ_ACT;
	}
}

static int request_op(struct sim *s, struct sim_op *op);

/* The first fault (with calls left) for this request on this job. */
static const struct scn_fault *match_fault(struct sim *s, enum scn_req r,
					   const struct dob_guid *id, uint32_t index)
{
	for (size_t i = 0; i < s->scn->n_faults; i++) {
		const struct scn_fault *f = &s->scn->faults[i];
		bool req_ok = f->req == SCN_REQ_ANY || f->req == r ||
			      (f->req == SCN_REQ_ACT && r >= SCN_REQ_CANCEL && r <= SCN_REQ_ACT);
		bool job_ok = f->job.who == SCN_WHO_ANY ||
			      (f->job.who == SCN_WHO_ID && id && !memcmp(&f->job.id, id, sizeof(*id))) ||
			      (f->job.who == SCN_WHO_INDEX && index && f->job.index == index);

		if (!req_ok || !job_ok || (f->count && s->fault_left[i] == 0))
			continue;
		if (f->count)
			s->fault_left[i]--;
		return f;
	}
	return NULL;
}

/* Queues a request; fresh (submit) passes to the op. */
static int request(struct backend *b, uint64_t req, enum backend_req_kind kind,
		   const struct dob_guid *id, enum dob_action action, struct sim_job *fresh)
{
	struct sim_op *op = dob_calloc(1, sizeof(*op));

	if (!op) {
		job_free(fresh);
		return -DOB_ENOMEM;
	}
	op->req = req;
	op->rkind = kind;
	op->action = action;
	op->fresh = fresh;
	if (fresh)
		op->id = fresh->id;
	else
		op->id = *id;
	return request_op(b->impl, op);
}

/* Queues a request op (filled in by the caller), which it takes. */
static int request_op(struct sim *s, struct sim_op *op)
{
	const struct sim_job *known;
	enum backend_req_kind kind = op->rkind;
	enum dob_action action = op->action;
	uint64_t req = op->req;
	const struct sim_job *fresh = op->fresh;
	int64_t due;

	if (!s->started || s->stopped) {
		op_free(op);
		return -DOB_ESTATE;
	}
	op->kind = OP_REQUEST;
	known = fresh ? fresh : find_job(s, &op->id);
	op->fault = match_fault(s, req_of(kind, action), &op->id, known ? known->index : 0);
	due = now_ms(s);
	if (op->fault && op->fault->effect == SCN_FAULT_HANG) {
		/* A call that never returns: accepted, never answered. */
		log_info("sim: %s:%u: request %" PRIu64 " hangs (injected)", s->scn->name,
			 op->fault->line, req);
		op_free(op);
		return 0;
	}
	if (op->fault && op->fault->effect == SCN_FAULT_DELAY) {
		due += op->fault->delay_ms;
		op->fault = NULL; /* carried out, late */
	}
	return arm(s, op, due);
}

/* ------------------------------------------------------------ persistence */

/* The real service keeps its jobs when the broker dies; with `persist FILE`
 * the sim does too: every state change rewrites FILE as `job`/`file` lines
 * of the scenario grammar (through a temporary file and a rename), and a
 * start loads it back. */

struct text {
	char *b;      /* owned */
	size_t n, cap;
	bool oom;
};

static void put(struct text *t, const char *p, size_t n)
{
	if (t->oom)
		return;
	if (t->n + n > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		char *b;

		while (cap < t->n + n)
			cap *= 2;
		b = dob_realloc(t->b, cap);
		if (!b) {
			t->oom = true;
			return;
		}
		t->b = b;
		t->cap = cap;
	}
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void puts_(struct text *t, const char *str)
{
	put(t, str, strlen(str));
}

static void put_quoted(struct text *t, const char *str)
{
	puts_(t, "\"");
	for (const char *c = str ? str : ""; *c; c++) {
		const char *esc = *c == '"' ? "\\\"" : *c == '\\' ? "\\\\" : *c == '\n' ? "\\n" :
				  *c == '\r' ? "\\r" : *c == '\t' ? "\\t" : NULL;

		if (esc)
			puts_(t, esc);
		else
			put(t, c, 1);
	}
	puts_(t, "\"");
}

static void put_job(struct text *t, const struct sim_job *j)
{
	char gb[DOB_GUID_STR_LEN];
	char num[160];

	dob_guid_format(&j->id, gb);
	puts_(t, "job ");
	puts_(t, gb);
	puts_(t, " name=");
	put_quoted(t, j->name);
	puts_(t, " owner=");
	put_quoted(t, j->owner);
	snprintf(num, sizeof(num), " type=%s state=%s attempts=%u", scenario_type_word(j->type),
		 scenario_state_word(j->state), (unsigned)j->attempts);
	puts_(t, num);
	if (j->has_error) {
		snprintf(num, sizeof(num), " hresult=0x%08X context=%s description=",
			 (unsigned)j->err.hresult, scenario_context_word(j->err.context));
		puts_(t, num);
		put_quoted(t, j->err.description);
		puts_(t, " context-description=");
		put_quoted(t, j->err.context_description);
		puts_(t, " protocol=");
		put_quoted(t, j->err.protocol);
	}
	puts_(t, "\n");
	for (size_t i = 0; i < j->n_files; i++) {
		puts_(t, "file ");
		puts_(t, gb);
		puts_(t, " ");
		put_quoted(t, j->files[i].url);
		puts_(t, " ");
		put_quoted(t, j->files[i].local);
		snprintf(num, sizeof(num), " size=%" PRIu64 " done=%" PRIu64 "\n", j->files[i].size,
			 j->files[i].done);
		puts_(t, num);
	}
}

static void persist(struct sim *s)
{
	struct text t = { 0 };
	int rc;

	if (!s->scn->persist || !s->started)
		return;
	puts_(&t, "# dobroker sim: the jobs of the simulated service (rewritten on every change)\n");
	for (const struct sim_job *j = s->jobs; j; j = j->next) /* newest first */
		put_job(&t, j);
	rc = t.oom ? -DOB_ENOMEM : write_whole(s->scn->persist, t.b, t.n);
	if (rc < 0)
		log_warn("sim: cannot keep the jobs in %s: %s", s->scn->persist, dob_strerror(rc));
	dob_free(t.b);
}

/* ------------------------------------------------------------ backend ops */

static int sim_submit(struct backend *b, uint64_t req, const struct dob_submit_job *spec)
{
	struct sim *s = b->impl;
	const char **urls = NULL;
	struct sim_job *j;

	if (!spec || spec->n_files > DOB_MAX_FILES || (spec->n_files && !spec->files))
		return -DOB_EINVAL;
	if (!s->started || s->stopped)
		return -DOB_ESTATE;
	j = job_new(spec->n_files);
	if (!j)
		return -DOB_ENOMEM;
	j->name = dob_strdup(spec->display_name);
	j->owner = dob_strdup("");
	j->type = spec->type;
	j->state = DOB_STATE_SUSPENDED; /* CreateJob: jobs start suspended */
	urls = spec->n_files ? dob_calloc(spec->n_files, sizeof(*urls)) : NULL;
	if (!j->name || !j->owner || (spec->n_files && !urls))
		goto oom;
	for (size_t i = 0; i < spec->n_files; i++) {
		j->files[i].url = dob_strdup(spec->files[i].remote_url);
		j->files[i].local = dob_strdup(spec->files[i].local_path);
		if (!j->files[i].url || !j->files[i].local)
			goto oom;
		urls[i] = j->files[i].url;
	}
	j->outcome = scenario_outcome_for(s->scn, urls, spec->n_files);
	for (size_t i = 0; i < spec->n_files; i++)
		j->files[i].size = j->outcome->size;
	dob_free(urls);
	new_guid(s, &j->id);
	j->index = ++s->submitted;
	return request(b, req, BACKEND_REQ_SUBMIT, NULL, DOB_ACTION_UNSPECIFIED, j);
oom:
	dob_free(urls);
	job_free(j);
	return -DOB_ENOMEM;
}

static int sim_attach(struct backend *b, uint64_t req, const struct dob_guid *job)
{
	return job ? request(b, req, BACKEND_REQ_ATTACH, job, DOB_ACTION_UNSPECIFIED, NULL)
		   : -DOB_EINVAL;
}

static int sim_query(struct backend *b, uint64_t req, const struct dob_guid *job)
{
	return job ? request(b, req, BACKEND_REQ_QUERY, job, DOB_ACTION_UNSPECIFIED, NULL)
		   : -DOB_EINVAL;
}

static int sim_act(struct backend *b, uint64_t req, const struct dob_guid *job,
		   enum dob_action action)
{
	return job ? request(b, req, BACKEND_REQ_ACT, job, action, NULL) : -DOB_EINVAL;
}

static int sim_enumerate(struct backend *b, uint64_t req, bool all_users)
{
	static const struct dob_guid none;

	return request(b, req, BACKEND_REQ_ENUMERATE, &none, DOB_ACTION_UNSPECIFIED, NULL);
}

static int sim_detach(struct backend *b, uint64_t req, const struct dob_guid *job)
{
	return job ? request(b, req, BACKEND_REQ_DETACH, job, DOB_ACTION_UNSPECIFIED, NULL)
		   : -DOB_EINVAL;
}

/* ------------------------------------------------------------ the model's finer steps */

int sim_create(struct backend *b, uint64_t req, const char *name, enum dob_job_type type,
	       const char *owner)
{
	struct sim *s = b->impl;
	struct sim_job *j;

	if (!name || (unsigned)type > DOB_JOB_TYPE_MAX)
		return -DOB_EINVAL;
	if (!s->started || s->stopped)
		return -DOB_ESTATE;
	j = job_new(0);
	if (!j)
		return -DOB_ENOMEM;
	j->name = dob_strdup(name);
	j->owner = dob_strdup(owner ? owner : "");
	if (!j->name || !j->owner) {
		job_free(j);
		return -DOB_ENOMEM;
	}
	j->type = type;
	j->state = DOB_STATE_SUSPENDED; /* CreateJob: jobs start suspended */
	j->outcome = scenario_outcome_for(s->scn, NULL, 0);
	new_guid(s, &j->id);
	j->index = ++s->submitted;
	return request(b, req, BACKEND_REQ_CREATE, NULL, DOB_ACTION_UNSPECIFIED, j);
}

int sim_add_file(struct backend *b, uint64_t req, const struct dob_guid *job, const char *url,
		 const char *local, uint64_t size)
{
	struct sim_op *op;

	if (!job || !url || !local)
		return -DOB_EINVAL;
	op = dob_calloc(1, sizeof(*op));
	if (!op)
		return -DOB_ENOMEM;
	op->req = req;
	op->rkind = BACKEND_REQ_ADD_FILE;
	op->id = *job;
	op->size = size;
	op->url = dob_strdup(url);
	op->local = dob_strdup(local);
	if (!op->url || !op->local) {
		op_free(op);
		return -DOB_ENOMEM;
	}
	return request_op(b->impl, op);
}

void sim_set_exit_hook(struct backend *b, void (*fn)(void *ctx, unsigned line), void *ctx)
{
	struct sim *s = b->impl;

	s->exit_hook = fn;
	s->exit_ctx = ctx;
}

int sim_read_files(struct backend *b, const struct dob_guid *job, struct sim_file_info **out,
		   size_t *n)
{
	struct sim *s = b->impl;
	const struct sim_job *j = find_job(s, job);
	struct sim_file_info *f;
	uint64_t bytes;

	*out = NULL;
	*n = 0;
	if (!j)
		return -DOB_ENOTFOUND;
	if (!j->n_files)
		return 0;
	f = dob_calloc(j->n_files, sizeof(*f));
	if (!f)
		return -DOB_ENOMEM;
	bytes = bytes_at(j, now_ms(s));
	for (size_t i = 0; i < j->n_files; i++) {
		f[i].url = dob_strdup(j->files[i].url);
		f[i].local = dob_strdup(j->files[i].local);
		f[i].size = j->files[i].size;
		f[i].done = file_done(j, i, bytes);
		f[i].completed = j->files[i].completed;
		if (!f[i].url || !f[i].local) {
			sim_file_info_free(f, j->n_files);
			return -DOB_ENOMEM;
		}
	}
	*out = f;
	*n = j->n_files;
	return 0;
}

void sim_file_info_free(struct sim_file_info *f, size_t n)
{
	if (!f)
		return;
	for (size_t i = 0; i < n; i++) {
		dob_free(f[i].url);
		dob_free(f[i].local);
	}
	dob_free(f);
}

/* Adds a job the service has at start (a scenario `job`, or one kept in
 * the persist file). */
static int add_job(struct sim *s, const struct scn_job *sj)
{
	const char **urls = NULL;
	struct sim_job *j = job_new(sj->n_files);
	bool running = sj->state == DOB_STATE_QUEUED || sj->state == DOB_STATE_TRANSFERRING;

	if (!j)
		return -DOB_ENOMEM;
	j->next = s->jobs;
	s->jobs = j;
	j->id = sj->id;
	j->type = sj->type;
	j->state = sj->state;
	j->attempts = sj->attempts ? sj->attempts : running ? 1 : 0;
	j->created_us = j->modified_us = wall_us(s);
	j->name = dob_strdup(sj->name);
	j->owner = dob_strdup(sj->owner);
	urls = sj->n_files ? dob_calloc(sj->n_files, sizeof(*urls)) : NULL;
	if (!j->name || !j->owner || (sj->n_files && !urls)) {
		dob_free(urls);
		return -DOB_ENOMEM;
	}
	for (size_t k = 0; k < sj->n_files; k++) {
		j->files[k].url = dob_strdup(sj->files[k].url);
		j->files[k].local = dob_strdup(sj->files[k].path);
		j->files[k].size = sj->files[k].size;
		j->files[k].done = sj->files[k].done;
		j->files[k].completed = sj->state == DOB_STATE_ACKNOWLEDGED &&
					sj->files[k].done == sj->files[k].size;
		urls[k] = sj->files[k].url;
		if (!j->files[k].url || !j->files[k].local) {
			dob_free(urls);
			return -DOB_ENOMEM;
		}
	}
	/* the rules of the running scenario, also for jobs from the persist file */
	j->outcome = scenario_outcome_for(s->scn, urls, sj->n_files);
	dob_free(urls);
	if (sj->state == DOB_STATE_TRANSFERRED)
		j->transferred_us = j->created_us;
	if (sj->has_error)
		set_error(s, j, &sj->err);
	if (running)
		arm_step(s, j, OP_START, 0, false, false);
	return 0;
}

/* Jobs kept in the persist file by an earlier run come first; then the
 * scenario's jobs that the file does not have. */
static int add_jobs(struct sim *s)
{
	struct scenario *kept = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	char err[384];
	int rc = 0;

	if (s->scn->persist) {
		rc = plat_file_read_all(s->scn->persist, &buf, &n);
		if (rc == -DOB_ENOTFOUND) {
			rc = 0;
		} else if (rc < 0) {
			log_error("sim: cannot read the jobs kept in %s: %s", s->scn->persist,
				  dob_strerror(rc));
			return rc;
		} else {
			rc = scenario_parse((const char *)buf, n, s->scn->persist, &kept, err,
					    sizeof(err));
			dob_free(buf);
			if (rc < 0) {
				log_error("sim: %s (remove the file to start afresh)", err);
				return rc;
			}
		}
	}
	for (size_t i = 0; kept && rc == 0 && i < kept->n_jobs; i++)
		rc = add_job(s, &kept->jobs[i]);
	scenario_free(kept);
	for (size_t i = 0; rc == 0 && i < s->scn->n_jobs; i++)
		if (!find_job(s, &s->scn->jobs[i].id))
			rc = add_job(s, &s->scn->jobs[i]);
	return rc;
}

static void cancel_all(struct sim *s)
{
	while (s->ops) {
		struct sim_op *op = s->ops;

		op_unlink(s, op);
		if (op->h)
			timer_cancel(s->sink.clock.timers, op->h);
		op_free(op);
	}
	for (struct sim_job *j = s->jobs; j; j = j->next)
		j->repeat = NULL;
}

static int sim_start(struct backend *b, struct plat_loop *loop, const struct backend_sink *sink)
{
	struct sim *s = b->impl;
	int rc;

	if (s->started)
		return -DOB_ESTATE;
	if (!sink || !sink->event || !sink->done || !sink->clock.timers || !sink->clock.now_ms) {
		log_error("sim: start needs a sink with event, done and a clock (timers, now_ms)");
		return -DOB_EINVAL;
	}
	s->sink = *sink;
	s->t0 = now_ms(s);
	/* A broker restarted with the same scenario must not hand out the ids
	 * of the jobs its journal still holds: the start time goes in. */
	s->id_rng = (s->rng ^ (uint64_t)wall_us(s) * 0x9E3779B97F4A7C15ULL) | 1;
	rc = add_jobs(s);
	for (size_t i = 0; rc == 0 && i < s->scn->n_events; i++) {
		struct sim_op *op = dob_calloc(1, sizeof(*op));

		if (!op) {
			rc = -DOB_ENOMEM;
			break;
		}
		op->kind = OP_SCRIPT;
		op->ev = &s->scn->events[i];
		rc = arm(s, op, s->t0 + op->ev->at_ms);
	}
	if (rc < 0) {
		cancel_all(s);
		return rc;
	}
	s->started = true;
	{
		uint64_t jobs = 0;

		for (const struct sim_job *j = s->jobs; j; j = j->next)
			jobs++;
		log_info("sim: started with %s (%" PRIu64 " jobs%s, %" PRIu64 " rules, %" PRIu64
			 " timed events, %" PRIu64 " faults, seed %" PRIu64 ")",
			 s->scn->name, jobs, s->scn->persist ? " after loading the persist file" : "",
			 (uint64_t)s->scn->n_rules, (uint64_t)s->scn->n_events,
			 (uint64_t)s->scn->n_faults, s->scn->seed);
	}
	return 0;
}

static void sim_stop(struct backend *b)
{
	struct sim *s = b->impl;

	if (s->stopped)
		return;
	s->stopped = true;
	if (s->started)
		cancel_all(s);
	for (size_t i = 0; i < s->n_pend; i++)
		backend_event_free(s->pend[i]);
	s->n_pend = 0;
}

static void sim_free(struct backend *b)
{
	struct sim *s;

	if (!b)
		return;
	s = b->impl;
	sim_stop(b);
	while (s->jobs) {
		struct sim_job *j = s->jobs;

		s->jobs = j->next;
		job_free(j);
	}
	dob_free(s->pend);
	dob_free(s->fault_left);
	scenario_free(s->scn);
	dob_free(s);
	dob_free(b);
}

static const struct backend_ops sim_ops = {
	.name = "sim",
	.kind = DOB_BACKEND_SIM,
	.start = sim_start,
	.stop = sim_stop,
	.free = sim_free,
	.submit = sim_submit,
	.attach = sim_attach,
	.query = sim_query,
	.act = sim_act,
	.detach = sim_detach,
	.enumerate = sim_enumerate,
	.status_of = backend_status_of,
	.hresult_name = backend_hresult_name,
};

int sim_backend_from_scenario(struct backend **out, struct scenario *scn)
{
	struct backend *b = NULL;
	struct sim *s = NULL;

	*out = NULL;
	if (!scn)
		return -DOB_EINVAL;
	b = dob_calloc(1, sizeof(*b));
	s = dob_calloc(1, sizeof(*s));
	if (!b || !s)
		goto oom;
	if (scn->n_faults) {
		s->fault_left = dob_calloc(scn->n_faults, sizeof(*s->fault_left));
		if (!s->fault_left)
			goto oom;
		for (size_t i = 0; i < scn->n_faults; i++)
			s->fault_left[i] = scn->faults[i].count;
	}
	s->scn = scn;
	s->rng = scn->seed ^ 0x9E3779B97F4A7C15ULL;
	if (!s->rng)
		s->rng = 0x9E3779B97F4A7C15ULL;
	b->ops = &sim_ops;
	b->impl = s;
	*out = b;
	return 0;
oom:
	dob_free(s);
	dob_free(b);
	scenario_free(scn);
	return -DOB_ENOMEM;
}

int sim_backend_new(struct backend **out, const char *scenario_path, char *errbuf, size_t errlen)
{
	struct scenario *scn = NULL;
	int rc;

	*out = NULL;
	if (scenario_path && scenario_path[0])
		rc = scenario_load(scenario_path, &scn, errbuf, errlen);
	else
		rc = scenario_parse("", 0, "(default scenario)", &scn, errbuf, errlen);
	if (rc < 0)
		return rc;
	rc = sim_backend_from_scenario(out, scn);
	if (rc < 0 && errbuf && errlen)
		snprintf(errbuf, errlen, "sim: out of memory");
	return rc;
}
