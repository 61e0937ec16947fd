/*
 * broker/backend/sim_job.c - the sim backend's job model: jobs and their
 * files, progress moving linearly during an attempt, snapshots and the
 * callbacks queued for the end of a step, the steps armed on the core's
 * timers, and the state changes they make (an attempt's start and outcome,
 * transient errors, JobError repeats, the scenario's timed events).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "sim_int.h"
#include "timer.h"

/* ------------------------------------------------------------ basics */

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

static size_t id_slot(const struct dob_guid *id, size_t cap)
{
	uint64_t h;

	memcpy(&h, id->b, sizeof(h)); /* random (version 4) ids: the bytes are the hash */
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h & (cap - 1);
}

static void index_drop(struct sim *s)
{
	dob_free(s->by_id);
	dob_free(s->by_index);
	s->by_id = s->by_index = NULL;
	s->id_cap = s->index_cap = 0;
	s->no_index = true;
}

static void id_put(struct sim_job **slots, size_t cap, struct sim_job *j)
{
	size_t i = id_slot(&j->id, cap);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = j;
}

void sim_link_job(struct sim *s, struct sim_job *j)
{
	j->next = s->jobs;
	s->jobs = j;
	s->n_linked++;
	if (s->no_index)
		return;
	if ((s->n_linked) * 2 > s->id_cap) {
		size_t cap = s->id_cap ? s->id_cap * 2 : 64;
		struct sim_job **slots = dob_calloc(cap, sizeof(*slots));

		if (!slots) {
			index_drop(s);
			return;
		}
		for (size_t i = 0; i < s->id_cap; i++)
			if (s->by_id[i])
				id_put(slots, cap, s->by_id[i]);
		dob_free(s->by_id);
		s->by_id = slots;
		s->id_cap = cap;
	}
	id_put(s->by_id, s->id_cap, j);
	if (j->index) {
		if (j->index > s->index_cap) {
			size_t cap = s->index_cap ? s->index_cap : 64;
			struct sim_job **v;

			while (cap < j->index)
				cap *= 2;
			v = dob_realloc(s->by_index, cap * sizeof(*v));
			if (!v) {
				index_drop(s);
				return;
			}
			memset(v + s->index_cap, 0, (cap - s->index_cap) * sizeof(*v));
			s->by_index = v;
			s->index_cap = cap;
		}
		s->by_index[j->index - 1] = j;
	}
}

void sim_index_free(struct sim *s)
{
	index_drop(s);
	s->no_index = false;
	s->n_linked = 0;
}

struct sim_job *sim_find_job(const struct sim *s, const struct dob_guid *id)
{
	if (s->no_index || !s->id_cap) {
		for (struct sim_job *j = s->jobs; j; j = j->next)
			if (!memcmp(&j->id, id, sizeof(*id)))
				return j;
		return NULL;
	}
	for (size_t i = id_slot(id, s->id_cap); s->by_id[i]; i = (i + 1) & (s->id_cap - 1))
		if (!memcmp(&s->by_id[i]->id, id, sizeof(*id)))
			return s->by_id[i];
	return NULL;
}

static struct sim_job *find_index(const struct sim *s, uint32_t index)
{
	if (s->no_index) {
		for (struct sim_job *j = s->jobs; j; j = j->next)
			if (j->index == index)
				return j;
		return NULL;
	}
	return index && index <= s->index_cap ? s->by_index[index - 1] : NULL;
}

void sim_new_guid(struct sim *s, struct dob_guid *g)
{
	do {
		uint64_t a = next(&s->id_rng), b = next(&s->id_rng);

		memcpy(g->b, &a, 8);
		memcpy(g->b + 8, &b, 8);
		g->b[7] = (uint8_t)((g->b[7] & 0x0F) | 0x40); /* version 4 (Data3 is little-endian) */
		g->b[8] = (uint8_t)((g->b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	} while (sim_find_job(s, g));
}

void sim_job_free(struct sim_job *j)
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
struct sim_job *sim_job_new(size_t n_files)
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

uint64_t sim_bytes_at(const struct sim_job *j, int64_t t)
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
uint64_t sim_file_done(const struct sim_job *j, size_t i, uint64_t bytes)
{
	for (size_t k = 0; k < i; k++)
		bytes -= bytes < j->files[k].size ? bytes : j->files[k].size;
	return bytes < j->files[i].size ? bytes : j->files[i].size;
}

void sim_settle(struct sim *s, struct sim_job *j)
{
	uint64_t b;

	if (!j->moving)
		return;
	b = sim_bytes_at(j, now_ms(s));
	for (size_t i = 0; i < j->n_files; i++)
		j->files[i].done = sim_file_done(j, i, b);
	j->moving = false;
}

/* Progress from now to `target` bytes over dur ms. */
static void move(struct sim *s, struct sim_job *j, uint64_t target, int64_t dur)
{
	sim_settle(s, j);
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

int sim_snapshot(struct sim *s, const struct sim_job *j, struct backend_job *out)
{
	uint64_t b = sim_bytes_at(j, now_ms(s));
	int rc = -DOB_ENOMEM;

	memset(out, 0, sizeof(*out));
	out->info.job_id = j->id;
	out->info.type = j->type;
	out->info.state = j->state;
	out->info.progress.bytes_total = total_bytes(j);
	out->info.progress.bytes_transferred = b;
	out->info.progress.files_total = (uint32_t)j->n_files;
	for (size_t i = 0; i < j->n_files; i++)
		if (sim_file_done(j, i, b) == j->files[i].size)
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
void sim_note(struct sim *s, const struct sim_job *j, enum backend_event_kind kind)
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
	if (sim_snapshot(s, j, &ev->job) < 0) {
		dob_free(ev);
		goto oom;
	}
	s->pend[s->n_pend++] = ev;
	return;
oom:
	/* A JobError lost here comes again with the next repeat, as DO does. */
	log_warn("sim: out of memory: a callback (kind %d) was not delivered", (int)kind);
}

void sim_flush(struct sim *s)
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

void sim_op_free(struct sim_op *op)
{
	if (!op)
		return;
	sim_job_free(op->fresh);
	dob_free(op->url);
	dob_free(op->local);
	dob_free(op);
}

void sim_op_unlink(struct sim *s, struct sim_op *op)
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
int sim_arm(struct sim *s, struct sim_op *op, int64_t due)
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
		sim_op_unlink(s, op);
		sim_op_free(op);
	}
	return rc;
}

/* Arms a job step at now + delay, tied to the job's current generation. */
void sim_arm_step(struct sim *s, struct sim_job *j, enum op_kind kind, int64_t delay,
		  bool ok, bool then_error)
{
	struct sim_op *op = dob_calloc(1, sizeof(*op));

	if (op) {
		op->kind = kind;
		op->job = j;
		op->gen = j->gen;
		op->ok = ok;
		op->then_error = then_error;
		if (sim_arm(s, op, now_ms(s) + delay) == 0)
			return;
	}
	log_warn("sim: out of memory: a step of job %u is lost", (unsigned)j->index);
}

void sim_arm_repeat(struct sim *s, struct sim_job *j)
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
	if (sim_arm(s, op, now_ms(s) + s->scn->repeat_min_ms + (int64_t)(rnd(s) % (uint64_t)span)) == 0)
		j->repeat = op;
}

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
void sim_set_error(struct sim *s, struct sim_job *j, const struct scn_error *e)
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
		uint64_t b = sim_bytes_at(j, now_ms(s));
		size_t i = 0;

		while (i + 1 < j->n_files && sim_file_done(j, i, b) == j->files[i].size)
			i++;
		x->has_file = true;
		x->file.remote_url = dob_strdup(j->files[i].url);
		x->file.local_name = dob_strdup(j->files[i].local);
		x->file.progress.bytes_total = j->files[i].size;
		x->file.progress.bytes_transferred = sim_file_done(j, i, b);
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
void sim_set_state(struct sim *s, struct sim_job *j, enum dob_job_state st)
{
	sim_settle(s, j);
	j->state = st;
	j->gen++;
	j->modified_us = wall_us(s);
	if (st != DOB_STATE_ERROR && st != DOB_STATE_TRANSIENT_ERROR && j->has_error) {
		dob_error_info_clear(&j->err);
		j->has_error = false;
	}
	switch (st) {
	case DOB_STATE_ERROR:
		sim_note(s, j, BACKEND_EV_ERROR);
		if (j->attached)
			sim_arm_repeat(s, j);
		break;
	case DOB_STATE_TRANSFERRED:
		j->transferred_us = j->modified_us;
		sim_note(s, j, BACKEND_EV_TRANSFERRED);
		break;
	default:
		if (s->scn->modifications)
			sim_note(s, j, BACKEND_EV_MODIFIED);
		break;
	}
	sim_persist(s, j); /* on disk before anyone hears of it */
}

/* Resume: a new attempt. */
void sim_begin_attempt(struct sim *s, struct sim_job *j)
{
	sim_settle(s, j);
	j->attempts++;
	sim_set_state(s, j, DOB_STATE_QUEUED);
	sim_arm_step(s, j, OP_START, 0, false, false);
}

static void enter_transient(struct sim *s, struct sim_job *j, const struct scn_error *e,
			    int64_t for_ms, bool then_error)
{
	sim_settle(s, j);
	sim_set_error(s, j, e);
	sim_set_state(s, j, DOB_STATE_TRANSIENT_ERROR);
	sim_arm_step(s, j, OP_TRANSIENT_END, for_ms, false, then_error);
}

static void op_start(struct sim *s, struct sim_job *j)
{
	const struct scn_outcome *o = j->outcome;
	bool fails = (o->kind == SCN_ERROR || o->kind == SCN_TRANSIENT) &&
		     (o->times == 0 || j->attempts <= o->times);
	uint64_t cur, target;

	sim_set_state(s, j, DOB_STATE_TRANSFERRING);
	if (o->kind == SCN_HANG)
		return; /* no progress, no end */
	cur = settled_bytes(j);
	target = total_bytes(j);
	if (fails) /* moves up to `bytes` (if given), then strikes */
		target = o->has_bytes ? (o->bytes < cur ? cur : o->bytes > target ? target : o->bytes)
				      : cur;
	move(s, j, target, o->after_ms);
	sim_arm_step(s, j, OP_STRIKE, o->after_ms, !fails, false);
}

static void op_strike(struct sim *s, struct sim_job *j, bool ok)
{
	const struct scn_outcome *o = j->outcome;

	sim_settle(s, j);
	if (ok) {
		finish_files(j);
		sim_set_state(s, j, DOB_STATE_TRANSFERRED);
	} else if (o->kind == SCN_TRANSIENT) {
		enter_transient(s, j, &o->err, o->for_ms, o->then_error);
	} else {
		sim_set_error(s, j, &o->err);
		sim_set_state(s, j, DOB_STATE_ERROR);
	}
}

static void op_transient_end(struct sim *s, struct sim_job *j, bool then_error)
{
	if (j->state != DOB_STATE_TRANSIENT_ERROR)
		return;
	if (then_error) {
		sim_set_state(s, j, DOB_STATE_ERROR); /* keeps the error */
		return;
	}
	sim_set_state(s, j, DOB_STATE_TRANSFERRING);
	move(s, j, total_bytes(j), j->outcome->after_ms);
	sim_arm_step(s, j, OP_STRIKE, j->outcome->after_ms, true, false);
}

static void op_repeat(struct sim *s, struct sim_op *op)
{
	struct sim_job *j = op->job;

	if (j->repeat == op)
		j->repeat = NULL;
	if (op->gen != j->gen || j->state != DOB_STATE_ERROR || !j->attached)
		return;
	sim_note(s, j, BACKEND_EV_ERROR);
	sim_arm_repeat(s, j);
}

static void op_script(struct sim *s, const struct scn_event *ev)
{
	struct sim_job *j = ev->job.who == SCN_WHO_INDEX ? find_index(s, ev->job.index)
							  : sim_find_job(s, &ev->job.id);

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
		sim_settle(s, j);
		sim_set_error(s, j, &ev->err);
		sim_set_state(s, j, DOB_STATE_ERROR);
		break;
	case DOB_STATE_TRANSIENT_ERROR:
		enter_transient(s, j, &ev->err, ev->for_ms, ev->then_error);
		break;
	case DOB_STATE_TRANSFERRED:
		finish_files(j);
		sim_set_state(s, j, DOB_STATE_TRANSFERRED);
		break;
	case DOB_STATE_QUEUED:
	case DOB_STATE_TRANSFERRING:
		sim_begin_attempt(s, j);
		break;
	default: /* suspended, cancelled, acknowledged: someone else acted */
		if (j->state != ev->state)
			sim_set_state(s, j, ev->state);
		break;
	}
}
/* ------------------------------------------------------------ firing */

static void op_fire(void *arg)
{
	struct sim_op *op = arg;
	struct sim *s = op->s;
	struct sim_job *j = op->job;

	op->h = NULL;
	sim_op_unlink(s, op);
	if (s->loading && op->kind != OP_LOAD) {
		sim_park(s, op); /* the service is still loading its jobs */
		return;
	}
	switch (op->kind) {
	case OP_LOAD:
		sim_load_step(s);
		break;
	case OP_REQUEST:
		sim_answer(s, op);
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
	sim_op_free(op);
	sim_flush(s);
}
