/*
 * broker/backend/sim_request.c - the sim backend's requests: each is queued
 * as a step on the timers and answered from there (never from inside the
 * call), after the scenario's injected faults had their say (an HRESULT, a
 * delay, a call that hangs, the service going away).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "sim_int.h"

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
		if (sim_snapshot(s, j, &r->jobs[r->n_jobs]) < 0)
			return -DOB_ENOMEM;
		r->n_jobs++;
	}
	return 0;
}

/* A submit or create that runs: the op's job joins the service's jobs. */
static struct sim_job *take_fresh(struct sim *s, struct sim_op *op)
{
	struct sim_job *j = op->fresh;

	op->fresh = NULL;
	sim_link_job(s, j);
	j->created_us = j->modified_us = wall_us(s);
	return j;
}

void sim_answer(struct sim *s, struct sim_op *op)
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
	if (s->load_failed) {
		/* A service that could not start answers nothing else. */
		r->err = -DOB_EBACKEND;
		snprintf(msg, sizeof(msg), "the simulated service could not load its jobs: %.190s",
			 s->load_error);
	} else if (op->rkind == BACKEND_REQ_SUBMIT) {
		if (op->fault) {
			fault_answer(s, op, r, msg, sizeof(msg));
		} else {
			j = take_fresh(s, op);
			j->attached = true;
			if (j->n_files == 0) {
				r->hresult = DOB_DO_E_JOB_EMPTY;
				snprintf(msg, sizeof(msg), "job created, but resume refused: no file");
				sim_persist(s, j);
			} else {
				sim_begin_attempt(s, j);
			}
		}
	} else if (op->rkind == BACKEND_REQ_CREATE) {
		if (op->fault) {
			fault_answer(s, op, r, msg, sizeof(msg));
		} else {
			j = take_fresh(s, op);
			sim_persist(s, j);
		}
	} else if (op->rkind == BACKEND_REQ_ENUMERATE) {
		if (op->fault) {
			r->hresult = op->fault->hresult;
			snprintf(msg, sizeof(msg), "injected fault (%s:%u)", s->scn->name,
				 op->fault->line);
		} else if (enumerate_jobs(s, r) < 0) {
			r->err = -DOB_ENOMEM;
		}
	} else if (!(j = sim_find_job(s, &op->id))) {
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
				sim_note(s, j, BACKEND_EV_ERROR);
				sim_arm_repeat(s, j);
			} else if (j->state == DOB_STATE_TRANSFERRED) {
				sim_note(s, j, BACKEND_EV_TRANSFERRED);
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
			r->hresult = sim_do_action(s, j, op->action, msg, sizeof(msg));
			break;
		case BACKEND_REQ_ADD_FILE:
			r->hresult = sim_do_add_file(s, j, op, msg, sizeof(msg));
			break;
		default: /* QUERY */
			break;
		}
	}
	if (j) {
		if (sim_snapshot(s, j, &r->job) == 0)
			r->has_job = true;
		else
			r->err = r->err ? r->err : -DOB_ENOMEM;
	}
	if (msg[0] && !(r->message = dob_strdup(msg)))
		log_warn("sim: out of memory: the message of request %" PRIu64 " is lost", op->req);
	s->sink.done(s->sink.ctx, r);
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
int sim_request(struct backend *b, uint64_t req, enum backend_req_kind kind,
		const struct dob_guid *id, enum dob_action action, struct sim_job *fresh)
{
	struct sim_op *op = dob_calloc(1, sizeof(*op));

	if (!op) {
		sim_job_free(fresh);
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
	return sim_request_op(b->impl, op);
}

/* Queues a request op (filled in by the caller), which it takes. */
int sim_request_op(struct sim *s, struct sim_op *op)
{
	const struct sim_job *known;
	enum backend_req_kind kind = op->rkind;
	enum dob_action action = op->action;
	uint64_t req = op->req;
	const struct sim_job *fresh = op->fresh;
	int64_t due;

	if (!s->started || s->stopped) {
		sim_op_free(op);
		return -DOB_ESTATE;
	}
	op->kind = OP_REQUEST;
	known = fresh ? fresh : sim_find_job(s, &op->id);
	op->fault = match_fault(s, req_of(kind, action), &op->id, known ? known->index : 0);
	due = now_ms(s);
	if (op->fault && op->fault->effect == SCN_FAULT_HANG) {
		/* A call that never returns: accepted, never answered. */
		log_info("sim: %s:%u: request %" PRIu64 " hangs (injected)", s->scn->name,
			 op->fault->line, req);
		sim_op_free(op);
		return 0;
	}
	if (op->fault && op->fault->effect == SCN_FAULT_DELAY) {
		due += op->fault->delay_ms;
		op->fault = NULL; /* carried out, late */
	}
	return sim_arm(s, op, due);
}
