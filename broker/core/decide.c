/*
 * broker/core/decide.c - the decision rules of decide.h. Pure: every
 * function here is a function of its arguments.
 */
#include "decide.h"

#include <stdarg.h>
#include <stdio.h>

#include "backend.h"

static void refuse(struct verdict *v, enum dob_status st, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static void refuse(struct verdict *v, enum dob_status st, const char *fmt, ...)
{
	va_list ap;

	v->kind = V_REFUSE;
	v->status = st;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

static enum dob_action backend_action(enum dob_action a)
{
	return a == DOB_ACTION_RESUME_AFTER_DELAY ? DOB_ACTION_RESUME : a;
}

void decide_act(const struct act_facts *f, const struct dob_act *a, struct verdict *v)
{
	char why[200];

	v->kind = 0;
	v->status = DOB_STATUS_OK;
	v->reason[0] = '\0';
	if (f->access == DOB_STATUS_NOT_CONTROLLER) {
		refuse(v, f->access, "observers may not act: connect as a controller");
		return;
	}
	if (!f->job_managed) {
		/* The job may be gone because the episode's winner ended it
		 * (cancel, complete): a later Act on that episode is still told
		 * who won, if the caller could see the job. */
		if (f->in_history && f->access == DOB_STATUS_OK)
			v->kind = V_ALREADY;
		else
			refuse(v, DOB_STATUS_UNKNOWN_JOB, "no managed job");
		return;
	}
	if (f->access != DOB_STATUS_OK) {
		/* Invisible jobs are answered like missing ones. */
		refuse(v, DOB_STATUS_UNKNOWN_JOB, "no managed job");
		return;
	}
	if (a->action <= DOB_ACTION_UNSPECIFIED || a->action > DOB_ACTION_MAX) {
		refuse(v, DOB_STATUS_INVALID_ARGUMENT, "act.action: %d is not an action",
		       (int)a->action);
		return;
	}
	if (a->action == DOB_ACTION_RESUME_AFTER_DELAY &&
	    (a->delay_ms == 0 || a->delay_ms > DOB_MAX_DELAY_MS)) {
		refuse(v, DOB_STATUS_INVALID_ARGUMENT, "act.delay_ms: %u is not in 1..%u",
		       a->delay_ms, DOB_MAX_DELAY_MS);
		return;
	}
	if (a->episode_id && (!f->has_episode || f->episode_id != a->episode_id)) {
		if (f->in_history)
			v->kind = V_ALREADY;
		else
			refuse(v, DOB_STATUS_NO_EPISODE, "episode %llu is not pending for this job",
			       (unsigned long long)a->episode_id);
		return;
	}
	if (f->has_episode && f->phase != CLAIM_NONE) {
		/* Decided, but the outcome is not known yet: answer when it is. */
		if (f->inflight >= f->max_inflight)
			refuse(v, DOB_STATUS_LIMIT_EXCEEDED, "%u requests in flight (limit %u)",
			       f->inflight, f->max_inflight);
		else
			v->kind = V_HOLD;
		return;
	}
	if (f->have_state &&
	    backend_action_allowed(backend_action(a->action), f->state, f->type, why, sizeof(why))) {
		refuse(v, DOB_STATUS_FORBIDDEN_ACTION, "%s", why);
		return;
	}
	if (f->journal_full) {
		/* A decision that cannot be journaled would be replayed as
		 * pending after a crash and could be decided twice. */
		refuse(v, DOB_STATUS_UNAVAILABLE,
		       "journal: no space left; the broker takes no decisions until it has room "
		       "(the episode stays pending)");
		return;
	}
	if (f->inflight >= f->max_inflight) {
		/* Scheduled decisions count as in flight until they run. */
		refuse(v, DOB_STATUS_LIMIT_EXCEEDED, "%u requests in flight (limit %u)",
		       f->inflight, f->max_inflight);
		return;
	}
	v->kind = a->action == DOB_ACTION_RESUME_AFTER_DELAY ? V_SCHEDULE : V_RUN;
}

enum claim_phase decide_claim(enum claim_phase ph, enum claim_input in, enum claim_outcome *out)
{
	*out = CO_NONE;
	switch (ph) {
	case CLAIM_NONE:
		if (in == CI_LEFT_ERROR)
			*out = CO_RESOLVE_LEFT;
		return CLAIM_NONE;
	case CLAIM_SCHEDULED:
		if (in == CI_DUE) {
			*out = CO_RUN;
			return CLAIM_INFLIGHT;
		}
		if (in == CI_LEFT_ERROR) {
			/* Resumed (or ended) by other means before its time: the
			 * delayed resume has nothing left to do. */
			*out = CO_RESOLVE_LEFT;
			return CLAIM_NONE;
		}
		return CLAIM_SCHEDULED;
	case CLAIM_INFLIGHT:
		switch (in) {
		case CI_RESULT_OK:
			*out = CO_RESOLVE;
			return CLAIM_NONE;
		case CI_RESULT_FAILED:
			*out = CO_REOPEN;
			return CLAIM_NONE;
		case CI_TIMEOUT:
			/* The call may still run in the service: the claim stays. */
			*out = CO_KEEP;
			return CLAIM_INFLIGHT;
		case CI_LOST:
			*out = CO_KEEP;
			return CLAIM_LOST;
		default:
			/* Out of ERROR while our own action is with the backend: its
			 * result says who did it. */
			return CLAIM_INFLIGHT;
		}
	case CLAIM_LOST:
		switch (in) {
		case CI_RESULT_OK:
			*out = CO_RESOLVE;
			return CLAIM_NONE;
		case CI_RESULT_FAILED:
		case CI_READ_ERROR:
			*out = CO_REOPEN;
			return CLAIM_NONE;
		case CI_READ_OUT:
		case CI_LEFT_ERROR:
			*out = CO_RESOLVE_LEFT;
			return CLAIM_NONE;
		case CI_LOST:
			*out = CO_KEEP;
			return CLAIM_LOST;
		default:
			return CLAIM_LOST;
		}
	}
	return ph;
}

bool decide_stale(uint64_t issued, uint64_t settled)
{
	return issued < settled;
}

const char *claim_phase_name(enum claim_phase ph)
{
	switch (ph) {
	case CLAIM_NONE:
		return "pending";
	case CLAIM_SCHEDULED:
		return "scheduled";
	case CLAIM_INFLIGHT:
		return "in flight";
	case CLAIM_LOST:
		return "lost";
	}
	return "?";
}
