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
 *
 * This file is the backend interface (requests in, start, stop, free) and
 * the model's finer steps for the DO emulator; the job model is in
 * sim_job.c, actions in sim_action.c, request handling and injected faults
 * in sim_request.c, the persist file in sim_persist.c (sim_int.h).
 */
#include "scenario.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "sim_int.h"
#include "timer.h"

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
	j = sim_job_new(spec->n_files);
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
	sim_new_guid(s, &j->id);
	j->index = ++s->submitted;
	return sim_request(b, req, BACKEND_REQ_SUBMIT, NULL, DOB_ACTION_UNSPECIFIED, j);
oom:
	dob_free(urls);
	sim_job_free(j);
	return -DOB_ENOMEM;
}

static int sim_attach(struct backend *b, uint64_t req, const struct dob_guid *job)
{
	return job ? sim_request(b, req, BACKEND_REQ_ATTACH, job, DOB_ACTION_UNSPECIFIED, NULL)
		   : -DOB_EINVAL;
}

static int sim_query(struct backend *b, uint64_t req, const struct dob_guid *job)
{
	return job ? sim_request(b, req, BACKEND_REQ_QUERY, job, DOB_ACTION_UNSPECIFIED, NULL)
		   : -DOB_EINVAL;
}

static int sim_act(struct backend *b, uint64_t req, const struct dob_guid *job,
		   enum dob_action action)
{
	return job ? sim_request(b, req, BACKEND_REQ_ACT, job, action, NULL) : -DOB_EINVAL;
}

static int sim_enumerate(struct backend *b, uint64_t req, bool all_users)
{
	static const struct dob_guid none;

	return sim_request(b, req, BACKEND_REQ_ENUMERATE, &none, DOB_ACTION_UNSPECIFIED, NULL);
}

static int sim_detach(struct backend *b, uint64_t req, const struct dob_guid *job)
{
	return job ? sim_request(b, req, BACKEND_REQ_DETACH, job, DOB_ACTION_UNSPECIFIED, NULL)
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
	j = sim_job_new(0);
	if (!j)
		return -DOB_ENOMEM;
	j->name = dob_strdup(name);
	j->owner = dob_strdup(owner ? owner : "");
	if (!j->name || !j->owner) {
		sim_job_free(j);
		return -DOB_ENOMEM;
	}
	j->type = type;
	j->state = DOB_STATE_SUSPENDED; /* CreateJob: jobs start suspended */
	j->outcome = scenario_outcome_for(s->scn, NULL, 0);
	sim_new_guid(s, &j->id);
	j->index = ++s->submitted;
	return sim_request(b, req, BACKEND_REQ_CREATE, NULL, DOB_ACTION_UNSPECIFIED, j);
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
		sim_op_free(op);
		return -DOB_ENOMEM;
	}
	return sim_request_op(b->impl, op);
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
	const struct sim_job *j = sim_find_job(s, job);
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
	bytes = sim_bytes_at(j, now_ms(s));
	for (size_t i = 0; i < j->n_files; i++) {
		f[i].url = dob_strdup(j->files[i].url);
		f[i].local = dob_strdup(j->files[i].local);
		f[i].size = j->files[i].size;
		f[i].done = sim_file_done(j, i, bytes);
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
static void cancel_all(struct sim *s)
{
	while (s->ops) {
		struct sim_op *op = s->ops;

		sim_op_unlink(s, op);
		if (op->h)
			timer_cancel(s->sink.clock.timers, op->h);
		sim_op_free(op);
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
	rc = sim_add_jobs(s);
	for (size_t i = 0; rc == 0 && i < s->scn->n_events; i++) {
		struct sim_op *op = dob_calloc(1, sizeof(*op));

		if (!op) {
			rc = -DOB_ENOMEM;
			break;
		}
		op->kind = OP_SCRIPT;
		op->ev = &s->scn->events[i];
		rc = sim_arm(s, op, s->t0 + op->ev->at_ms);
	}
	if (rc < 0) {
		cancel_all(s);
		sim_load_free(s);
		return rc;
	}
	s->started = true;
	{
		uint64_t jobs = 0;

		for (const struct sim_job *j = s->jobs; j; j = j->next)
			jobs++;
		log_info("sim: started with %s (%" PRIu64 " jobs%s, %" PRIu64 " rules, %" PRIu64
			 " timed events, %" PRIu64 " faults, seed %" PRIu64 ")",
			 s->scn->name, jobs,
			 s->loading ? " so far: loading the persist file in steps"
			 : s->scn->persist ? " after loading the persist file" : "",
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
	sim_load_free(s);
	sim_persist_close(s);
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
		sim_job_free(j);
	}
	sim_index_free(s);
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
