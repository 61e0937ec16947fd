/*
 * broker/core/episode_act.c - decisions on an episode, carried out: a
 * controller's Act (refused, answered ALREADY_RESOLVED, held behind the
 * decision in flight, scheduled, or sent to the backend), the default policy
 * at the episode's deadline, and the claim settled by the backend's answer,
 * its timeout or its loss (decide_claim says what each input means). The rules
 * themselves are the pure functions of decide.c.
 */
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "decide.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "episode_int.h"
#include "log.h"

static const struct dob_actor policy_actor = { 0, "policy", 0 };

static bool hr_ok(uint32_t hr)
{
	return !(hr & 0x80000000u);
}

static void policy_run(struct broker *b, struct mjob *j);

/* ---------------------------------------------------------------- deadline */

static void deadline_fired(void *arg)
{
	struct episode *ep = arg;

	ep->deadline = NULL;
	log_info("episode %llu: deadline passed, policy %s applies", (unsigned long long)ep->id,
		 dob_policy_name(ep->ev.default_policy.kind));
	policy_run(ep->b, ep->job);
}

void episode_arm_deadline(struct broker *b, struct episode *ep)
{
	int64_t left_ms;

	if (ep->deadline || !ep->ev.deadline_us)
		return;
	left_ms = (ep->ev.deadline_us - now_wall()) / 1000;
	if (left_ms < 0)
		left_ms = 0;
	if (timer_add(b->timers, plat_now_ms() + left_ms, deadline_fired, ep, &ep->deadline))
		log_error("episode %llu: cannot arm its deadline (out of memory)",
			  (unsigned long long)ep->id);
}

/* ---------------------------------------------------------------- actions */

int episode_issue_act(struct broker *b, struct mjob *j, struct episode *ep,
		      enum dob_action action, const struct dob_actor *actor,
		      enum dob_resolved_by by, uint64_t session_id, uint64_t corr, bool journaled)
{
	struct breq *q = breq_new(b, BR_ACT, &j->id);

	if (!q)
		return -DOB_ENOMEM;
	q->action = action;
	q->by = by;
	q->session_id = session_id;
	q->corr = corr;
	q->episode_id = ep ? ep->id : 0;
	if (episode_copy_actor(&q->actor, actor)) {
		breq_free(b, q);
		return -DOB_ENOMEM;
	}
	if (ep) {
		episode_claim(ep, actor, action, by, CLAIM_INFLIGHT);
		ep->claim_req = q->id;
		/* A journaled schedule being carried out: until its outcome is
		 * journaled (the decision, or the failure marks it done), a
		 * restart runs it again, so an OK'd delayed resume is never
		 * lost to a crash between sending and hearing back. */
		ep->claim_journaled = journaled;
	}
	/* The request is set up completely before it is issued: a backend
	 * may answer at once, and the episode be gone on return. */
	return breq_issue(b, q, NULL);
}

/* ---------------------------------------------------------------- policy */

static uint64_t backoff(uint32_t base, uint32_t used)
{
	uint64_t d = base;

	for (uint32_t i = 0; i < used && d < DOB_MAX_DELAY_MS; i++)
		d <<= 1;
	return d < DOB_MAX_DELAY_MS ? d : DOB_MAX_DELAY_MS;
}

static void policy_run(struct broker *b, struct mjob *j)
{
	struct episode *ep = j->ep;
	struct dob_policy p;
	enum dob_policy_kind kind;
	enum dob_action action;
	char reason[256];
	int rc;

	if (!ep || ep->phase != CLAIM_NONE)
		return;
	if (b->journal_full) {
		/* Its decision could not be journaled: it would come back
		 * pending after a crash and could be decided twice. */
		log_warn("episode %llu: policy not applied while the journal is full; the episode "
			 "stays pending", (unsigned long long)ep->id);
		return;
	}
	p = ep->ev.default_policy;
	kind = p.kind;
	if (kind == DOB_POLICY_RESUME) {
		if (j->resumes_used < p.max_resumes) {
			uint64_t delay = backoff(p.backoff_ms, j->resumes_used);
			j->resumes_used++;
			if ((rc = jobs_journal(b, j)))
				log_warn("job '%s': resumes_used not journaled: %s", j->display_name,
					 dob_strerror(rc));
			if (!sched_new(b, j, ep, DOB_ACTION_RESUME, &policy_actor,
				       DOB_RESOLVED_POLICY, delay, 0)) {
				log_error("episode %llu: cannot schedule the policy's resume "
					  "(journal or memory); it stays pending",
					  (unsigned long long)ep->id);
				return;
			}
			log_info("episode %llu: policy resume %u of %u in %llu ms",
				 (unsigned long long)ep->id, j->resumes_used, p.max_resumes,
				 (unsigned long long)delay);
			return;
		}
		log_info("episode %llu: resume policy exhausted (%u resumes), then %s",
			 (unsigned long long)ep->id, p.max_resumes, dob_policy_name(p.exhausted));
		kind = p.exhausted;
	}
	if (kind != DOB_POLICY_CANCEL && kind != DOB_POLICY_COMPLETE)
		return; /* NONE: stays pending until someone decides */
	action = kind == DOB_POLICY_CANCEL ? DOB_ACTION_CANCEL : DOB_ACTION_COMPLETE;
	if (backend_action_allowed(action, ep->ev.job.state, j->type, reason, sizeof(reason))) {
		log_warn("episode %llu: policy %s not applied: %s; the episode stays pending",
			 (unsigned long long)ep->id, dob_action_name(action), reason);
		return;
	}
	rc = episode_issue_act(b, j, ep, action, &policy_actor, DOB_RESOLVED_POLICY, 0, 0, false);
	if (rc) {
		log_warn("episode %llu: policy %s could not be sent: %s", (unsigned long long)ep->id,
			 dob_action_name(action), dob_strerror(rc));
		if (j->ep == ep && ep->phase != CLAIM_NONE)
			episode_unclaim(ep);
	}
}

/* ---------------------------------------------------------------- claims */

/* The episode is pending again: everyone who may see the job hears it, with
 * the decision that failed; held Acts take their turn, then the policy if
 * its deadline has passed. */
static void reopen(struct broker *b, struct mjob *j, uint32_t hr, const char *why)
{
	struct episode *ep = j->ep;
	struct held *held = ep->held;
	struct dob_resolution *f = &ep->ev.failed_decision;
	struct dob_msg m;
	uint64_t id = ep->id;

	ep->held = NULL;
	ep->held_tail = NULL;
	if (ep->claim_journaled)
		sched_journal_done(b, ep->id, &j->id); /* failed: not to be run again */
	dob_actor_clear(&f->actor);
	dob_free(f->message);
	memset(f, 0, sizeof(*f));
	ep->ev.has_failed_decision = true;
	f->job_id = j->id;
	f->episode_id = ep->id;
	f->action = ep->claim_action;
	f->resolved_by = ep->claim_by;
	episode_copy_actor(&f->actor, &ep->claimant);
	f->hresult = hr;
	f->new_state = ep->ev.job.state;
	f->message = dob_strdup(why);
	episode_unclaim(ep);
	/* Journaled as the episode's newest version (a restart replays it
	 * pending, with the failure). */
	episode_journal(b, ep);
	log_info("episode %llu: pending again: %s", (unsigned long long)ep->id, why);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_ERROR;
	m.u.job_error = ep->ev;
	m.u.job_error.replayed = true;
	router_publish(b, &m, DOB_EVENT_JOB_ERROR, j);
	episode_run_held(b, held);
	j = jobs_find(b, &f->job_id);
	if (j && j->ep && j->ep->id == id && j->ep->phase == CLAIM_NONE && !j->ep->deadline &&
	    j->ep->ev.deadline_us && now_wall() >= j->ep->ev.deadline_us)
		policy_run(b, j);
}

void episode_claim_input(struct broker *b, struct mjob *j, enum claim_input in, uint32_t hr,
			 enum dob_job_state state, const char *why)
{
	static const struct dob_actor job_actor = { 0, "service", 0 };
	struct episode *ep = j->ep;
	enum claim_outcome out;
	struct dob_actor actor;
	enum dob_resolved_by by;
	enum dob_action action;

	if (!ep)
		return;
	ep->phase = decide_claim(ep->phase, in, &out);
	switch (out) {
	case CO_NONE:
	case CO_KEEP:
	case CO_RUN:
		break;
	case CO_RESOLVE:
		/* The claimant's copy outlives ep (freed by the resolution). */
		memset(&actor, 0, sizeof(actor));
		episode_copy_actor(&actor, &ep->claimant);
		by = ep->claim_by;
		action = ep->claim_action;
		if (ep->claim_sched)
			sched_free(b, ep->claim_sched);
		episode_resolve(b, j, by, action, &actor, hr, state, why);
		dob_actor_clear(&actor);
		break;
	case CO_RESOLVE_LEFT:
		if (ep->claim_sched) {
			int rc;
			sched_journal(b, ep->claim_sched, true, &rc);
			sched_free(b, ep->claim_sched);
		}
		episode_resolve(b, j, DOB_RESOLVED_JOB_LEFT_ERROR, DOB_ACTION_UNSPECIFIED,
				&job_actor, 0, state, why);
		break;
	case CO_REOPEN:
		reopen(b, j, hr, why);
		break;
	}
}

/* ---------------------------------------------------------------- Act */

static void reply_resolved(struct session *s, uint64_t corr, uint64_t episode_id,
			   const struct dob_actor *winner, enum dob_action action,
			   enum dob_resolved_by by, enum dob_job_state state)
{
	struct dob_msg m;
	char text[256];

	snprintf(text, sizeof(text), "episode %llu %s: %s by %s (session %llu)",
		 (unsigned long long)episode_id,
		 by == DOB_RESOLVED_JOB_LEFT_ERROR ? "ended" : "was decided",
		 by == DOB_RESOLVED_JOB_LEFT_ERROR ? "the job left the error state"
						   : dob_action_name(action),
		 winner->client_name ? winner->client_name : "", (unsigned long long)winner->session_id);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_ACTION_RESULT;
	m.correlation_id = corr;
	m.u.action_result.status = DOB_STATUS_ALREADY_RESOLVED;
	m.u.action_result.message = text;
	m.u.action_result.new_state = state;
	m.u.action_result.winner = *winner;
	m.u.action_result.winner_action = action;
	session_reply(s, &m);
}

static void hold(struct session *s, uint64_t corr, const struct dob_act *a, struct episode *ep)
{
	struct held *h = dob_calloc(1, sizeof(*h));

	if (!h) {
		session_reply_action(s->b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0,
				     ep->ev.job.state, "broker out of memory");
		return;
	}
	h->session_id = s->id;
	h->corr = corr;
	h->act = *a;
	h->act.episode_id = ep->id; /* it answers the episode it waited on */
	if (!ep->held_tail)
		ep->held_tail = &ep->held;
	*ep->held_tail = h;
	ep->held_tail = &h->next;
	s->inflight++;
	log_debug("episode %llu: %s by %s held until the %s by %s is known",
		  (unsigned long long)ep->id, dob_action_name(a->action), s->client_name,
		  dob_action_name(ep->claim_action),
		  ep->claimant.client_name ? ep->claimant.client_name : "");
}

void episode_run_held(struct broker *b, struct held *h)
{
	while (h) {
		struct held *next = h->next;
		struct session *s = session_find(b, h->session_id);

		if (s) {
			if (s->inflight)
				s->inflight--;
			if (s->state == SESS_ACTIVE)
				episode_on_act(s, h->corr, &h->act);
		}
		dob_free(h);
		h = next;
	}
}

void episode_on_act(struct session *s, uint64_t corr, const struct dob_act *a)
{
	struct broker *b = s->b;
	struct dob_actor me = { s->id, s->client_name, s->ident.pid };
	const struct resolved *h = a->episode_id ? history_find(b, a->episode_id) : NULL;
	struct act_facts f;
	struct verdict v;
	struct episode *ep;
	struct mjob *j;
	char gs[DOB_GUID_STR_LEN];
	int rc;

	dob_guid_format(&a->job_id, gs);
	if (h && memcmp(&h->job, &a->job_id, sizeof(h->job)) != 0)
		h = NULL;
	j = jobs_find(b, &a->job_id);
	ep = j ? j->ep : NULL;
	memset(&f, 0, sizeof(f));
	f.job_managed = j != NULL;
	f.in_history = h != NULL;
	if (j)
		f.access = authz_can_act(&s->ident, s->role, &j->owner);
	else if (h)
		f.access = h->has_owner ? authz_can_act(&s->ident, s->role, &h->owner)
			 : s->role != DOB_ROLE_CONTROLLER ? DOB_STATUS_NOT_CONTROLLER
			 : authz_can_see_sessions(&s->ident) ? DOB_STATUS_OK : DOB_STATUS_UNKNOWN_JOB;
	else
		f.access = authz_can_act(&s->ident, s->role, &s->ident);
	f.has_episode = ep != NULL;
	f.episode_id = ep ? ep->id : 0;
	f.phase = ep ? ep->phase : CLAIM_NONE;
	f.have_state = ep || (j && j->have_last);
	f.state = ep ? ep->ev.job.state : j && j->have_last ? j->last.info.state : DOB_STATE_QUEUED;
	f.type = j ? j->type : DOB_JOB_DOWNLOAD;
	f.journal_full = b->journal_full;
	f.inflight = s->inflight + (uint32_t)sched_count_session(b, s->id);
	f.max_inflight = b->cfg.max_inflight_requests;
	decide_act(&f, a, &v);
	switch (v.kind) {
	case V_REFUSE:
		if (v.status == DOB_STATUS_UNKNOWN_JOB)
			session_reply_action(b, s->id, corr, v.status, 0, 0, "no managed job %s", gs);
		else
			session_reply_action(b, s->id, corr, v.status, 0,
					     v.status == DOB_STATUS_NOT_CONTROLLER ? 0 : f.state, "%s",
					     v.reason);
		return;
	case V_ALREADY:
		reply_resolved(s, corr, h->episode_id, &h->actor, h->action, h->by,
			       j ? f.state : h->state);
		return;
	case V_HOLD:
		hold(s, corr, a, ep);
		return;
	case V_SCHEDULE:
		if (!sched_new(b, j, ep, a->action, &me, DOB_RESOLVED_CONTROLLER, a->delay_ms, 0)) {
			session_reply_action(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, f.state,
					     "the resume could not be scheduled: %s",
					     b->journal_full ? "journal: no space left"
							     : "broker out of memory");
			return;
		}
		log_info("episode %llu: resume by %s scheduled in %u ms (journaled)",
			 ep ? (unsigned long long)ep->id : 0ULL, s->client_name, a->delay_ms);
		session_reply_action(b, s->id, corr, DOB_STATUS_OK, 0, f.state,
				     "resume scheduled in %u ms", a->delay_ms);
		return;
	case V_RUN:
		break;
	}
	s->inflight++;
	rc = episode_issue_act(b, j, ep, a->action, &me, DOB_RESOLVED_CONTROLLER, s->id, corr,
			       false);
	if (rc) {
		s->inflight--;
		if (j->ep && j->ep == ep && ep->phase != CLAIM_NONE)
			episode_unclaim(ep);
		session_reply_action(b, s->id, corr, DOB_STATUS_BACKEND_ERROR, 0, f.state,
				     "the backend could not take the %s: %s",
				     dob_action_name(a->action), dob_strerror(rc));
	}
}

static enum dob_job_state guess_state(enum dob_action a, enum dob_job_state before)
{
	switch (a) {
	case DOB_ACTION_CANCEL:
		return DOB_STATE_CANCELLED;
	case DOB_ACTION_COMPLETE:
		return DOB_STATE_ACKNOWLEDGED;
	case DOB_ACTION_RESUME:
	case DOB_ACTION_RESUME_AFTER_DELAY:
		return DOB_STATE_QUEUED;
	case DOB_ACTION_SUSPEND:
		return DOB_STATE_SUSPENDED;
	default:
		return before;
	}
}

static void reply_to_actor(struct broker *b, struct breq *q, enum dob_status st, uint32_t hr,
			   enum dob_job_state state, const char *msg)
{
	if (!q->session_id || q->answered)
		return;
	session_request_done(b, q->session_id);
	session_reply_action(b, q->session_id, q->corr, st, hr, state, "%s", msg);
	q->answered = true;
}

void episode_act_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	struct mjob *j = jobs_find(b, &q->job);
	struct episode *ep = j && j->ep && j->ep->id == q->episode_id && q->episode_id &&
					     j->ep->claim_req == q->id && episode_busy(j->ep)
				     ? j->ep
				     : NULL;
	enum dob_job_state before = j && j->have_last ? j->last.info.state : DOB_STATE_ERROR;
	enum dob_job_state state;
	const char *hrname = broker_hr_name(b, r->hresult);
	char gs[DOB_GUID_STR_LEN], msg[512];
	enum dob_status st;

	dob_guid_format(&q->job, gs);
	if (q->lost && !ep)
		log_info("job %s: the %s declared lost answered after all (%s); its claim was "
			 "already settled", gs, dob_action_name(q->action),
			 r->err ? dob_strerror(r->err) : hrname ? hrname : "HRESULT");
	if (r->err == 0 && hr_ok(r->hresult)) {
		state = r->has_job ? r->job.info.state : guess_state(q->action, before);
		if (j && r->has_job) {
			jobs_set_last(j, &r->job);
		} else if (j && j->have_last) {
			j->last.info.state = state;
		}
		snprintf(msg, sizeof(msg), "%s by %s: %s", dob_action_name(q->action),
			 q->actor.client_name ? q->actor.client_name : "",
			 hrname ? hrname : r->hresult ? "success code" : "S_OK");
		/* Journal and publish the resolution first, then the OK: the
		 * applier sends them in that order (journal, publish, replies). */
		if (ep)
			episode_claim_input(b, j, CI_RESULT_OK, r->hresult, state, msg);
		reply_to_actor(b, q, DOB_STATUS_OK, r->hresult, state, msg);
		j = jobs_find(b, &q->job);
		if (j && (state == DOB_STATE_CANCELLED || state == DOB_STATE_ACKNOWLEDGED))
			jobs_remove(b, j, state == DOB_STATE_CANCELLED ? "cancelled" : "acknowledged");
		return;
	}
	/* Failed: the episode is pending again, and everyone is told. */
	if (r->err)
		snprintf(msg, sizeof(msg), "%s by %s failed: %s%s%s", dob_action_name(q->action),
			 q->actor.client_name ? q->actor.client_name : "", dob_strerror(r->err),
			 r->message ? ": " : "", r->message ? r->message : "");
	else
		snprintf(msg, sizeof(msg), "%s by %s failed: %s%s0x%08X%s%s%s",
			 dob_action_name(q->action),
			 q->actor.client_name ? q->actor.client_name : "", hrname ? hrname : "",
			 hrname ? " (" : "", r->hresult, hrname ? ")" : "",
			 r->message && *r->message ? ": " : "", r->message ? r->message : "");
	log_warn("job %s: %s", gs, msg);
	if (r->err)
		st = jobs_result_not_found(r) ? DOB_STATUS_UNKNOWN_JOB : DOB_STATUS_BACKEND_ERROR;
	else
		st = broker_status_of(b, r->hresult);
	if (st == DOB_STATUS_OK)
		st = DOB_STATUS_BACKEND_ERROR;
	if (j && r->has_job && r->job.info.state)
		jobs_set_last(j, &r->job);
	if (ep)
		episode_claim_input(b, j, CI_RESULT_FAILED, r->hresult, ep->ev.job.state, msg);
	j = jobs_find(b, &q->job);
	reply_to_actor(b, q, st, r->hresult, j && j->have_last ? j->last.info.state : before, msg);
	/* Something else finished the job while our action was in flight. */
	if (j && j->have_last && !(j->ep && episode_busy(j->ep)) &&
	    (j->last.info.state == DOB_STATE_CANCELLED ||
	     j->last.info.state == DOB_STATE_ACKNOWLEDGED))
		jobs_remove(b, j, "final");
}

static void act_lost(void *arg)
{
	struct breq *q = arg;
	struct broker *b = q->b;
	struct mjob *j = jobs_find(b, &q->job);
	char gs[DOB_GUID_STR_LEN];

	q->timeout = NULL;
	q->lost = true;
	dob_guid_format(&q->job, gs);
	if (!j || !j->ep || j->ep->claim_req != q->id || !episode_busy(j->ep))
		return;
	log_warn("job %s: the %s by %s never answered; declared lost, reading the job to "
		 "settle episode %llu", gs, dob_action_name(q->action),
		 q->actor.client_name ? q->actor.client_name : "", (unsigned long long)j->ep->id);
	episode_claim_input(b, j, CI_LOST, 0, j->ep->ev.job.state, "lost");
	j->ep->lost_seq = broker_next_seq(b);
	jobs_read_now(b, j, j->ep->lost_seq);
}

bool episode_act_timeout(struct broker *b, struct breq *q)
{
	struct mjob *j = jobs_find(b, &q->job);
	bool claimed = j && j->ep && j->ep->claim_req == q->id && episode_busy(j->ep);
	enum dob_job_state state = j && j->have_last ? j->last.info.state : DOB_STATE_ERROR;
	char gs[DOB_GUID_STR_LEN], msg[320];

	dob_guid_format(&q->job, gs);
	log_warn("job %s: %s by %s: no answer within %u ms%s", gs, dob_action_name(q->action),
		 q->actor.client_name ? q->actor.client_name : "", b->cfg.action_timeout_ms,
		 claimed ? "; its claim on the episode is kept until the backend answers" : "");
	if (claimed) {
		snprintf(msg, sizeof(msg),
			 "the backend did not answer the %s within %u ms; the decision stays "
			 "claimed until it does: its outcome comes as a Resolution, or as the "
			 "episode's JobError again if it failed",
			 dob_action_name(q->action), b->cfg.action_timeout_ms);
		episode_claim_input(b, j, CI_TIMEOUT, 0, state, msg);
		reply_to_actor(b, q, DOB_STATUS_TIMEOUT, 0, state, msg);
		/* Declared lost after three more timeouts: the job is read
		 * again and the read settles the claim. */
		if (timer_add(b->timers, plat_now_ms() + 3 * (int64_t)b->cfg.action_timeout_ms,
			      act_lost, q, &q->timeout))
			log_error("job %s: cannot arm the lost-call timer (out of memory)", gs);
		return true;
	}
	snprintf(msg, sizeof(msg), "the backend did not carry out the %s within %u ms",
		 dob_action_name(q->action), b->cfg.action_timeout_ms);
	reply_to_actor(b, q, DOB_STATUS_TIMEOUT, 0, state, msg);
	return false;
}
