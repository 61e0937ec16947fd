/*
 * broker/core/episode_sched.c - delayed decisions (resume after a delay, the
 * policy's backed-off resumes): journaled before anyone is told, armed on a
 * timer, carried out when due, and honoured after a restart from the journal's
 * schedule records (at once when overdue).
 */
#include <stdio.h>
#include <string.h>

#include "decide.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "episode_int.h"
#include "log.h"

void sched_journal_done(struct broker *b, uint64_t episode_id, const struct dob_guid *job)
{
	struct dob_jrec r;

	memset(&r, 0, sizeof(r));
	r.type = DOB_JREC_SCHEDULE;
	r.u.schedule.episode_id = episode_id;
	r.u.schedule.decision.job_id = *job;
	r.u.schedule.decision.episode_id = episode_id;
	r.u.schedule.done = true;
	broker_journal(b, &r);
}

void sched_journal(struct broker *b, const struct sched *sc, bool done, int *rc)
{
	struct dob_jrec r;

	memset(&r, 0, sizeof(r));
	r.type = DOB_JREC_SCHEDULE;
	r.u.schedule.episode_id = sc->episode_id;
	r.u.schedule.decision.job_id = sc->job;
	r.u.schedule.decision.episode_id = sc->episode_id;
	r.u.schedule.decision.action = sc->action;
	r.u.schedule.decision.resolved_by = sc->by;
	r.u.schedule.decision.actor = sc->actor;
	r.u.schedule.decision.new_state = DOB_STATE_QUEUED;
	r.u.schedule.due_us = sc->due_us;
	r.u.schedule.done = done;
	*rc = broker_journal(b, &r);
}

static void sched_fire(void *arg)
{
	struct sched *sc = arg;
	struct broker *b = sc->b;
	struct mjob *j = jobs_find(b, &sc->job);
	struct episode *ep = j ? j->ep : NULL;
	enum claim_outcome out;
	int rc;

	sc->t = NULL;
	if (!j || (sc->episode_id && (!ep || ep->id != sc->episode_id || ep->claim_sched != sc))) {
		log_info("scheduled %s: job or episode no longer pending; not run",
			 dob_action_name(sc->action));
		sched_journal(b, sc, true, &rc);
		sched_free(b, sc);
		return;
	}
	if (!sc->episode_id)
		ep = NULL;
	if (ep) {
		ep->phase = decide_claim(ep->phase, CI_DUE, &out);
		ep->claim_sched = NULL;
	}
	rc = episode_issue_act(b, j, ep, sc->action, &sc->actor, sc->by, 0, 0, ep != NULL);
	if (rc) {
		char why[160];
		snprintf(why, sizeof(why), "the scheduled %s could not be sent: %s",
			 dob_action_name(sc->action), dob_strerror(rc));
		log_warn("job '%s': %s", j->display_name, why);
		sched_journal(b, sc, true, &rc);
		j = jobs_find(b, &sc->job);
		if (j && j->ep && j->ep->id == sc->episode_id && j->ep->phase != CLAIM_NONE)
			episode_claim_input(b, j, CI_RESULT_FAILED, 0, j->ep->ev.job.state, why);
	} else if (!ep) {
		sched_journal(b, sc, true, &rc);
	}
	sched_free(b, sc);
}

/* A delayed decision: journaled before anyone is told (the OK, or the
 * policy's log line), claimed, and honoured after a restart. NULL when it
 * could not be journaled or armed (nothing claimed then). */
struct sched *sched_new(struct broker *b, struct mjob *j, struct episode *ep,
			enum dob_action action, const struct dob_actor *actor,
			enum dob_resolved_by by, uint64_t delay_ms, int64_t due_us)
{
	struct sched *sc = dob_calloc(1, sizeof(*sc));
	int rc = 0;

	if (!sc)
		return NULL;
	sc->b = b;
	sc->job = j->id;
	sc->episode_id = ep ? ep->id : 0;
	sc->action = action;
	sc->by = by;
	sc->due_us = due_us ? due_us : now_wall() + (int64_t)delay_ms * 1000;
	if (episode_copy_actor(&sc->actor, actor))
		goto fail;
	if (!b->replaying)
		sched_journal(b, sc, false, &rc);
	if (rc || timer_add(b->timers, plat_now_ms() + (int64_t)delay_ms, sched_fire, sc, &sc->t))
		goto fail;
	sc->next = b->scheds;
	b->scheds = sc;
	if (ep) {
		episode_claim(ep, actor, action, by, CLAIM_SCHEDULED);
		ep->claim_sched = sc;
	}
	return sc;
fail:
	dob_actor_clear(&sc->actor);
	dob_free(sc);
	return NULL;
}

void sched_free(struct broker *b, struct sched *sc)
{
	struct sched **pp;

	if (!sc)
		return;
	for (pp = &b->scheds; *pp; pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	if (sc->t)
		timer_cancel(b->timers, sc->t);
	if (sc->episode_id) {
		struct mjob *j = jobs_find(b, &sc->job);
		if (j && j->ep && j->ep->claim_sched == sc)
			j->ep->claim_sched = NULL;
	}
	dob_actor_clear(&sc->actor);
	dob_free(sc);
}

size_t sched_count_session(const struct broker *b, uint64_t session_id)
{
	size_t n = 0;

	for (const struct sched *sc = b->scheds; sc; sc = sc->next)
		if (sc->by == DOB_RESOLVED_CONTROLLER && sc->actor.session_id == session_id)
			n++;
	return n;
}

/* ---------------------------------------------------------------- restart */

int episode_replay_schedule(struct broker *b, const struct dob_jrec *r)
{
	struct dob_jrec *v;
	size_t k;

	/* Only the newest record of an episode counts. */
	for (k = 0; k < b->n_restored; k++)
		if (b->restored[k].u.schedule.episode_id == r->u.schedule.episode_id)
			break;
	if (k < b->n_restored) {
		dob_jrec_clear(&b->restored[k]);
		b->restored[k] = b->restored[--b->n_restored];
	}
	if (r->u.schedule.done)
		return 0;
	v = dob_realloc(b->restored, (b->n_restored + 1) * sizeof(*v));
	if (!v)
		return -DOB_ENOMEM;
	b->restored = v;
	memset(&v[b->n_restored], 0, sizeof(v[0]));
	v[b->n_restored].type = DOB_JREC_SCHEDULE;
	v[b->n_restored].u.schedule.episode_id = r->u.schedule.episode_id;
	v[b->n_restored].u.schedule.due_us = r->u.schedule.due_us;
	v[b->n_restored].u.schedule.decision = r->u.schedule.decision;
	v[b->n_restored].u.schedule.decision.message = NULL;
	if (episode_copy_actor(&v[b->n_restored].u.schedule.decision.actor,
			       &r->u.schedule.decision.actor))
		return -DOB_ENOMEM;
	b->n_restored++;
	return 0;
}

bool episode_schedule_record(const struct episode *ep, struct dob_jrec *r)
{
	const struct sched *sc = ep->claim_sched;

	if (!(ep->phase == CLAIM_SCHEDULED && sc) && !ep->claim_journaled)
		return false;
	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_SCHEDULE;
	r->u.schedule.episode_id = ep->id;
	r->u.schedule.decision.job_id = ep->job->id;
	r->u.schedule.decision.episode_id = ep->id;
	r->u.schedule.decision.new_state = DOB_STATE_QUEUED;
	if (sc && ep->phase == CLAIM_SCHEDULED) {
		r->u.schedule.decision.action = sc->action;
		r->u.schedule.decision.resolved_by = sc->by;
		r->u.schedule.decision.actor = sc->actor;
		r->u.schedule.due_us = sc->due_us;
	} else {
		/* Sent, no answer yet: run again at once after a restart. */
		r->u.schedule.decision.action = ep->claim_action;
		r->u.schedule.decision.resolved_by = ep->claim_by;
		r->u.schedule.decision.actor = ep->claimant;
		r->u.schedule.due_us = now_wall();
	}
	return true;
}

void episode_restore_schedules(struct broker *b)
{
	int64_t now = now_wall();

	for (size_t k = 0; k < b->n_restored; k++) {
		const struct dob_jrec *r = &b->restored[k];
		const struct dob_resolution *d = &r->u.schedule.decision;
		struct mjob *j = jobs_find(b, &d->job_id);
		int64_t left = (r->u.schedule.due_us - now) / 1000;

		if (!j || !j->ep || j->ep->id != r->u.schedule.episode_id)
			continue; /* decided, or the job is gone, since */
		if (left < 0)
			left = 0; /* overdue: at once */
		if ((uint64_t)left > DOB_MAX_DELAY_MS)
			left = DOB_MAX_DELAY_MS;
		/* The journal already has it: not journaled again. */
		b->replaying = true;
		if (!sched_new(b, j, j->ep, d->action, &d->actor, d->resolved_by, (uint64_t)left,
			       r->u.schedule.due_us))
			log_error("episode %llu: the journaled %s could not be re-armed (out of "
				  "memory); it stays pending",
				  (unsigned long long)j->ep->id, dob_action_name(d->action));
		else
			log_info("episode %llu: journaled %s by %s honoured, in %lld ms",
				 (unsigned long long)j->ep->id, dob_action_name(d->action),
				 d->actor.client_name ? d->actor.client_name : "", (long long)left);
		b->replaying = false;
	}
	for (size_t k = 0; k < b->n_restored; k++)
		dob_jrec_clear(&b->restored[k]);
	dob_free(b->restored);
	b->restored = NULL;
	b->n_restored = 0;
}
