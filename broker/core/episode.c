/*
 * broker/core/episode.c - error episodes and the decisions that end them.
 *
 * An episode opens when a managed job is seen in ERROR without one (callback
 * or sweep), is journaled, then published as JobError. Repeated callbacks
 * count on it. It ends exactly once: a controller's action that the backend
 * carried out, the default policy at its deadline, or the job leaving ERROR
 * by itself. An action being carried out "claims" the episode so a second
 * controller is told ALREADY_RESOLVED naming the first; a failed or timed
 * out action releases the claim and the episode stays pending.
 */
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "broker_int.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

static const struct dob_actor policy_actor = { 0, "policy", 0 };

static int64_t now_wall(void)
{
	return broker_wall_us();
}

static bool hr_ok(uint32_t hr)
{
	return !(hr & 0x80000000u);
}

/* ---------------------------------------------------------------- history */

void history_add(struct broker *b, uint64_t episode_id, const struct dob_guid *job,
		 enum dob_action action, enum dob_resolved_by by, enum dob_job_state state,
		 const struct dob_actor *actor, const struct dob_identity *owner)
{
	struct resolved *h;
	size_t i;

	if (!b->hist) {
		b->hist = dob_calloc(HISTORY_MAX, sizeof(*b->hist));
		if (!b->hist)
			return;
	}
	i = (b->hist_head + b->hist_n) % HISTORY_MAX;
	if (b->hist_n == HISTORY_MAX) {
		i = b->hist_head;
		b->hist_head = (b->hist_head + 1) % HISTORY_MAX;
	} else {
		b->hist_n++;
	}
	h = &b->hist[i];
	dob_actor_clear(&h->actor);
	dob_identity_clear(&h->owner);
	h->episode_id = episode_id;
	h->job = *job;
	h->action = action;
	h->by = by;
	h->state = state;
	/* Without a copy of the owner (out of memory, or the job was gone at
	 * replay) only privileged callers are told who won. */
	h->has_owner = owner && dob_identity_copy(&h->owner, owner) == 0;
	h->actor.session_id = actor->session_id;
	h->actor.pid = actor->pid;
	h->actor.client_name = dob_strdup(actor->client_name);
}

const struct resolved *history_find(const struct broker *b, uint64_t episode_id)
{
	for (size_t k = 0; k < b->hist_n; k++) {
		const struct resolved *h = &b->hist[(b->hist_head + k) % HISTORY_MAX];
		if (h->episode_id == episode_id)
			return h;
	}
	return NULL;
}

void history_free(struct broker *b)
{
	if (!b->hist)
		return;
	for (size_t k = 0; k < HISTORY_MAX; k++) {
		dob_actor_clear(&b->hist[k].actor);
		dob_identity_clear(&b->hist[k].owner);
	}
	dob_free(b->hist);
	b->hist = NULL;
	b->hist_n = b->hist_head = 0;
}

/* ---------------------------------------------------------------- helpers */

static void ev_clear(struct dob_job_error *ev)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_ERROR;
	m.u.job_error = *ev;
	dob_msg_clear(&m);
	memset(ev, 0, sizeof(*ev));
}

struct dob_policy episode_policy(const struct broker *b, const struct mjob *j)
{
	struct dob_policy p = j->policy.kind != DOB_POLICY_UNSPECIFIED ? j->policy
								       : b->cfg.default_policy;

	if (p.deadline_ms == 0)
		p.deadline_ms = b->cfg.default_deadline_ms;
	if (p.kind == DOB_POLICY_NONE)
		p.deadline_ms = 0;
	if (p.kind == DOB_POLICY_RESUME && p.exhausted == DOB_POLICY_UNSPECIFIED)
		p.exhausted = DOB_POLICY_NONE;
	return p;
}

uint64_t episode_next_id(struct broker *b)
{
	uint64_t id = b->next_episode_id++;

	if (b->next_episode_id > b->episode_id_reserved && !b->replaying) {
		/* Reserve a block so an id is never reused, even if the episode's
		 * own record is lost to a full disk. */
		struct dob_jrec r;
		memset(&r, 0, sizeof(r));
		r.type = DOB_JREC_COUNTERS;
		r.u.counters.next_episode_id = b->next_episode_id + EPISODE_ID_BLOCK;
		if (broker_journal(b, &r) == 0)
			b->episode_id_reserved = r.u.counters.next_episode_id;
	}
	return id;
}

int episode_journal(struct broker *b, struct episode *ep)
{
	struct dob_jrec r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.type = DOB_JREC_EPISODE;
	r.u.episode.episode_id = ep->id;
	r.u.episode.event = ep->ev;
	rc = broker_journal(b, &r);
	ep->journaled = rc == 0;
	return rc;
}

bool episode_busy(const struct episode *ep)
{
	return ep->claimed && ep->claim_req != 0;
}

static void claim(struct episode *ep, const struct dob_actor *actor, enum dob_action action,
		  enum dob_resolved_by by)
{
	dob_actor_clear(&ep->claimant);
	ep->claimed = true;
	ep->claimant.session_id = actor->session_id;
	ep->claimant.pid = actor->pid;
	ep->claimant.client_name = dob_strdup(actor->client_name);
	ep->claim_action = action;
	ep->claim_by = by;
	ep->claim_req = 0;
	ep->claim_sched = NULL;
}

static void policy_run(struct broker *b, struct mjob *j);

/* The claim's action failed or timed out: the episode is open again, and
 * if its deadline has passed the policy gets its turn. */
static void release(struct broker *b, struct mjob *j, bool rerun_policy)
{
	struct episode *ep = j->ep;

	if (!ep || !ep->claimed)
		return;
	ep->claimed = false;
	ep->claim_req = 0;
	ep->claim_sched = NULL;
	dob_actor_clear(&ep->claimant);
	if (rerun_policy && !ep->deadline && ep->ev.deadline_us && now_wall() >= ep->ev.deadline_us)
		policy_run(b, j);
}

void episode_free(struct broker *b, struct episode *ep)
{
	if (!ep)
		return;
	if (ep->deadline)
		timer_cancel(b->timers, ep->deadline);
	if (ep->claim_sched)
		sched_free(b, ep->claim_sched);
	dob_actor_clear(&ep->claimant);
	ev_clear(&ep->ev);
	dob_free(ep);
}

int episode_restore(struct broker *b, struct mjob *j, uint64_t id, const struct dob_job_error *ev)
{
	struct dob_msg src, dst;
	struct episode *ep;

	memset(&src, 0, sizeof(src));
	src.type = DOB_MSG_JOB_ERROR;
	src.u.job_error = *ev;
	if (dob_msg_copy(&dst, &src))
		return -DOB_ENOMEM;
	dst.u.job_error.episode_id = id;
	dst.u.job_error.replayed = false;
	if (j->ep && j->ep->id == id) {
		/* A later version of the same episode (repeat count). */
		ev_clear(&j->ep->ev);
		j->ep->ev = dst.u.job_error;
		return 0;
	}
	if (j->ep) {
		log_warn("journal: episode %llu replaced by %llu for the same job",
			 (unsigned long long)j->ep->id, (unsigned long long)id);
		episode_free(b, j->ep);
		j->ep = NULL;
		b->n_pending--;
	}
	ep = dob_calloc(1, sizeof(*ep));
	if (!ep) {
		dob_msg_clear(&dst);
		return -DOB_ENOMEM;
	}
	ep->b = b;
	ep->job = j;
	ep->id = id;
	ep->ev = dst.u.job_error;
	ep->journaled = true;
	j->ep = ep;
	b->n_pending++;
	return 0;
}

/* ---------------------------------------------------------------- open */

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

void episode_open(struct broker *b, struct mjob *j, const struct backend_job *bj, int64_t at_us)
{
	struct episode *ep = dob_calloc(1, sizeof(*ep));
	struct dob_job_error *ev;
	struct dob_msg m;
	char gs[DOB_GUID_STR_LEN];
	int rc = 0;

	dob_guid_format(&j->id, gs);
	if (!ep)
		goto nomem;
	ev = &ep->ev;
	ep->b = b;
	ep->job = j;
	if (dob_job_info_copy(&ev->job, &bj->info))
		goto nomem;
	ev->job.job_id = j->id;
	if (!ev->job.display_name || !*ev->job.display_name) {
		dob_free(ev->job.display_name);
		if (!(ev->job.display_name = dob_strdup(j->display_name)))
			goto nomem;
	}
	if (bj->has_error) {
		if (dob_error_info_copy(&ev->error, &bj->error))
			goto nomem;
	} else if (!(ev->error.description = dob_strdup("the backend gave no error information"))) {
		goto nomem;
	}
	if (bj->n_field_errors) {
		ev->field_errors = dob_calloc(bj->n_field_errors, sizeof(*ev->field_errors));
		if (!ev->field_errors)
			goto nomem;
		for (size_t i = 0; i < bj->n_field_errors && i < DOB_MAX_FIELD_ERRORS; i++) {
			ev->field_errors[i].hresult = bj->field_errors[i].hresult;
			if (!(ev->field_errors[i].field = dob_strdup(bj->field_errors[i].field)))
				goto nomem;
			ev->n_field_errors++;
		}
	}
	ep->id = episode_next_id(b);
	ev->episode_id = ep->id;
	ev->first_seen_us = ev->last_seen_us = at_us;
	ev->backend = b->be->ops->kind;
	ev->default_policy = episode_policy(b, j);
	ev->deadline_us = ev->default_policy.deadline_ms
				  ? at_us + (int64_t)ev->default_policy.deadline_ms * 1000
				  : 0;
	j->ep = ep;
	b->n_pending++;
	/* Journaled before anyone hears of it; if the disk is full it is
	 * published anyway (never drop an error) and journaled at a later
	 * sweep. */
	rc = episode_journal(b, ep);
	log_info("job %s ('%s'): error episode %llu: %s 0x%08X%s%s", gs, j->display_name,
		 (unsigned long long)ep->id, dob_context_name(ev->error.context), ev->error.hresult,
		 rc ? "; NOT journaled: " : "", rc ? dob_strerror(rc) : "");
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_ERROR;
	m.u.job_error = *ev;
	router_publish(b, &m, DOB_EVENT_JOB_ERROR, j);
	episode_arm_deadline(b, ep);
	return;
nomem:
	log_error("job %s: out of memory opening an error episode; the next sweep retries", gs);
	episode_free(b, ep);
}

void episode_repeat(struct broker *b, struct episode *ep, int64_t at_us)
{
	ep->ev.repeat_count++;
	if (at_us > ep->ev.last_seen_us)
		ep->ev.last_seen_us = at_us;
	episode_journal(b, ep);
	log_debug("episode %llu: repeated callback (%u)", (unsigned long long)ep->id,
		  ep->ev.repeat_count);
}

void episode_send_replay(struct session *s, const struct episode *ep)
{
	struct dob_msg m;
	struct frame *f;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_ERROR;
	m.u.job_error = ep->ev;
	m.u.job_error.replayed = true;
	f = frame_encode(s->b, &m);
	if (!f) {
		/* Never skipped in silence: the subscriber reconnects and is
		 * replayed again. */
		session_fail(s, DOB_PERR_UNSPECIFIED,
			     "broker out of memory replaying episode %llu; reconnect to be "
			     "replayed every pending episode",
			     (unsigned long long)ep->id);
		return;
	}
	session_push(s, f, DOB_EVENT_JOB_ERROR, 0);
	frame_unref(f);
}

/* ---------------------------------------------------------------- resolve */

void episode_resolve(struct broker *b, struct mjob *j, enum dob_resolved_by by,
		     enum dob_action action, const struct dob_actor *actor, uint32_t hr,
		     enum dob_job_state new_state, const char *message)
{
	struct episode *ep = j->ep;
	struct dob_jrec r;
	struct dob_msg m;
	int64_t now = now_wall();
	int rc;

	if (!ep)
		return;
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_RESOLUTION;
	m.u.resolution.job_id = j->id;
	m.u.resolution.episode_id = ep->id;
	m.u.resolution.action = action;
	m.u.resolution.resolved_by = by;
	m.u.resolution.actor = *actor;
	m.u.resolution.hresult = hr;
	m.u.resolution.new_state = new_state;
	m.u.resolution.message = (char *)message;
	memset(&r, 0, sizeof(r));
	r.type = DOB_JREC_DECISION;
	r.u.decision.episode_id = ep->id;
	r.u.decision.resolution = m.u.resolution;
	rc = broker_journal(b, &r);
	/* Info level says what the broker and its subscribers did: an episode
	 * opened, a decision taken. A job that left the error state by itself
	 * (requeued, resumed outside the broker, removed: jobs_remove logs that
	 * at info) is a debug line, unless its decision was not journaled. At
	 * 100,000 episodes/s this line was half of the broker's logging cost
	 * (docs/performance.md). */
	dob_log(by == DOB_RESOLVED_JOB_LEFT_ERROR && !rc ? DOB_LOG_DEBUG : DOB_LOG_INFO,
		"episode %llu: resolved by %s (%s, %s): %s%s%s", (unsigned long long)ep->id,
		dob_resolved_by_name(by), dob_action_name(action),
		actor->client_name ? actor->client_name : "", message ? message : "",
		rc ? "; decision NOT journaled: " : "", rc ? dob_strerror(rc) : "");
	router_publish(b, &m, DOB_EVENT_RESOLUTION, j);
	history_add(b, ep->id, &j->id, action, by, new_state, actor, &j->owner);
	if (now > ep->ev.first_seen_us)
		broker_record_latency(b, (uint64_t)(now - ep->ev.first_seen_us));
	j->ep = NULL;
	j->settled_us = now;
	b->n_pending--;
	episode_free(b, ep);
}

/* ---------------------------------------------------------------- actions */

static enum dob_action backend_action(enum dob_action a)
{
	return a == DOB_ACTION_RESUME_AFTER_DELAY ? DOB_ACTION_RESUME : a;
}

/* Sends an action to the backend; the episode (if any) is claimed by it. */
static int issue_act(struct broker *b, struct mjob *j, struct episode *ep, enum dob_action action,
		     const struct dob_actor *actor, enum dob_resolved_by by, uint64_t session_id,
		     uint64_t corr)
{
	struct breq *q = breq_new(b, BR_ACT, &j->id);

	if (!q)
		return -DOB_ENOMEM;
	q->action = action;
	q->by = by;
	q->session_id = session_id;
	q->corr = corr;
	q->episode_id = ep ? ep->id : 0;
	q->actor.session_id = actor->session_id;
	q->actor.pid = actor->pid;
	q->actor.client_name = dob_strdup(actor->client_name);
	if (!q->actor.client_name) {
		breq_free(b, q);
		return -DOB_ENOMEM;
	}
	if (ep) {
		claim(ep, actor, action, by);
		ep->claim_req = q->id;
	}
	return breq_issue(b, q, NULL);
}

static void sched_fire(void *arg)
{
	struct sched *sc = arg;
	struct broker *b = sc->b;
	struct mjob *j = jobs_find(b, &sc->job);
	struct episode *ep = j ? j->ep : NULL;
	int rc;

	sc->t = NULL;
	if (!j || (sc->episode_id && (!ep || ep->id != sc->episode_id))) {
		log_info("scheduled %s: job or episode no longer pending; not run",
			 dob_action_name(sc->action));
		sched_free(b, sc);
		return;
	}
	if (!sc->episode_id)
		ep = NULL;
	if (ep)
		ep->claim_sched = NULL;
	rc = issue_act(b, j, ep, sc->action, &sc->actor, sc->by, 0, 0);
	if (rc) {
		log_warn("scheduled %s on '%s' could not be sent: %s", dob_action_name(sc->action),
			 j->display_name, dob_strerror(rc));
		if (j->ep)
			release(b, j, sc->by == DOB_RESOLVED_POLICY);
	}
	sched_free(b, sc);
}

static struct sched *sched_new(struct broker *b, struct mjob *j, struct episode *ep,
			       enum dob_action action, const struct dob_actor *actor,
			       enum dob_resolved_by by, uint64_t delay_ms)
{
	struct sched *sc = dob_calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->b = b;
	sc->job = j->id;
	sc->episode_id = ep ? ep->id : 0;
	sc->action = action;
	sc->by = by;
	sc->actor.session_id = actor->session_id;
	sc->actor.pid = actor->pid;
	sc->actor.client_name = dob_strdup(actor->client_name);
	if (!sc->actor.client_name ||
	    timer_add(b->timers, plat_now_ms() + (int64_t)delay_ms, sched_fire, sc, &sc->t)) {
		dob_actor_clear(&sc->actor);
		dob_free(sc);
		return NULL;
	}
	sc->next = b->scheds;
	b->scheds = sc;
	if (ep) {
		claim(ep, actor, action, by);
		ep->claim_sched = sc;
	}
	return sc;
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

	(void)b;
	if (!ep || ep->claimed)
		return;
	p = ep->ev.default_policy;
	kind = p.kind;
	if (kind == DOB_POLICY_RESUME) {
		if (j->resumes_used < p.max_resumes) {
			uint64_t delay = backoff(p.backoff_ms, j->resumes_used);
			j->resumes_used++;
			if ((rc = jobs_journal(b, j)))
				log_warn("job '%s': resumes_used not journaled: %s", j->display_name,
					 dob_strerror(rc));
			log_info("episode %llu: policy resume %u of %u in %llu ms",
				 (unsigned long long)ep->id, j->resumes_used, p.max_resumes,
				 (unsigned long long)delay);
			if (!sched_new(b, j, ep, DOB_ACTION_RESUME, &policy_actor,
				       DOB_RESOLVED_POLICY, delay))
				log_error("episode %llu: cannot schedule the resume (out of memory)",
					  (unsigned long long)ep->id);
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
	rc = issue_act(b, j, ep, action, &policy_actor, DOB_RESOLVED_POLICY, 0, 0);
	if (rc) {
		log_warn("episode %llu: policy %s could not be sent: %s", (unsigned long long)ep->id,
			 dob_action_name(action), dob_strerror(rc));
		release(b, j, false);
	}
}

/* ---------------------------------------------------------------- Act */

static void reply_resolved(struct session *s, uint64_t corr, const char *what,
			   const struct dob_actor *winner, enum dob_action action,
			   enum dob_resolved_by by, enum dob_job_state state)
{
	struct dob_msg m;
	char text[256];

	snprintf(text, sizeof(text), "episode %s %s: %s by %s (session %llu)", what,
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

void episode_on_act(struct session *s, uint64_t corr, const struct dob_act *a)
{
	struct broker *b = s->b;
	struct dob_actor me = { s->id, s->client_name, s->ident.pid };
	char gs[DOB_GUID_STR_LEN], reason[256], what[32];
	enum dob_job_state state;
	enum dob_status st;
	struct episode *ep;
	struct mjob *j;
	int rc;

	dob_guid_format(&a->job_id, gs);
	j = jobs_find(b, &a->job_id);
	st = authz_can_act(&s->ident, s->role, j ? &j->owner : &s->ident);
	if (st == DOB_STATUS_NOT_CONTROLLER) {
		session_reply_action(b, s->id, corr, st, 0, 0,
				     "observers may not act: connect as a controller");
		return;
	}
	if (!j && a->episode_id) {
		/* The job may be gone because the episode's winner ended it
		 * (cancel, complete): a later act on that episode is still told
		 * who won, if the caller could see the job. */
		const struct resolved *h = history_find(b, a->episode_id);

		if (h && memcmp(&h->job, &a->job_id, sizeof(h->job)) == 0 &&
		    (h->has_owner ? authz_can_act(&s->ident, s->role, &h->owner) == DOB_STATUS_OK
				  : s->ident.privileged)) {
			snprintf(what, sizeof(what), "%llu", (unsigned long long)a->episode_id);
			reply_resolved(s, corr, what, &h->actor, h->action, h->by, h->state);
			return;
		}
	}
	if (!j || st != DOB_STATUS_OK) {
		/* Invisible jobs are answered like missing ones. */
		session_reply_action(b, s->id, corr, DOB_STATUS_UNKNOWN_JOB, 0, 0,
				     "no managed job %s", gs);
		return;
	}
	if (a->action <= DOB_ACTION_UNSPECIFIED || a->action > DOB_ACTION_MAX) {
		session_reply_action(b, s->id, corr, DOB_STATUS_INVALID_ARGUMENT, 0, 0,
				     "act.action: %d is not an action", (int)a->action);
		return;
	}
	if (a->action == DOB_ACTION_RESUME_AFTER_DELAY &&
	    (a->delay_ms == 0 || a->delay_ms > DOB_MAX_DELAY_MS)) {
		session_reply_action(b, s->id, corr, DOB_STATUS_INVALID_ARGUMENT, 0, 0,
				     "act.delay_ms: %u is not in 1..%u", a->delay_ms,
				     DOB_MAX_DELAY_MS);
		return;
	}
	ep = j->ep;
	state = ep ? ep->ev.job.state : j->have_last ? j->last.info.state : DOB_STATE_QUEUED;
	snprintf(what, sizeof(what), "%llu", (unsigned long long)a->episode_id);
	if (a->episode_id) {
		if (!ep || ep->id != a->episode_id) {
			const struct resolved *h = history_find(b, a->episode_id);
			if (h && memcmp(&h->job, &j->id, sizeof(j->id)) == 0)
				reply_resolved(s, corr, what, &h->actor, h->action, h->by, state);
			else
				session_reply_action(b, s->id, corr, DOB_STATUS_NO_EPISODE, 0, state,
						     "episode %llu is not pending for job %s",
						     (unsigned long long)a->episode_id, gs);
			return;
		}
	}
	if (ep && ep->claimed) {
		snprintf(what, sizeof(what), "%llu", (unsigned long long)ep->id);
		reply_resolved(s, corr, what, &ep->claimant, ep->claim_action, ep->claim_by, state);
		return;
	}
	if (j->have_last || ep) {
		if (backend_action_allowed(backend_action(a->action), state, j->type, reason,
					   sizeof(reason))) {
			session_reply_action(b, s->id, corr, DOB_STATUS_FORBIDDEN_ACTION, 0, state,
					     "%s", reason);
			return;
		}
	}
	if (b->journal_full) {
		/* A decision that cannot be journaled would be replayed as
		 * pending after a crash and could be decided twice. */
		session_reply_action(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, state,
				     "journal: no space left; the broker takes no decisions until "
				     "it has room (the episode stays pending)");
		return;
	}
	if (a->action == DOB_ACTION_RESUME_AFTER_DELAY) {
		if (!sched_new(b, j, ep, a->action, &me, DOB_RESOLVED_CONTROLLER, a->delay_ms)) {
			session_reply_action(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, state,
					     "broker out of memory");
			return;
		}
		session_reply_action(b, s->id, corr, DOB_STATUS_OK, 0, state,
				     "resume scheduled in %u ms", a->delay_ms);
		return;
	}
	if (s->inflight >= b->cfg.max_inflight_requests) {
		session_reply_action(b, s->id, corr, DOB_STATUS_LIMIT_EXCEEDED, 0, state,
				     "%u requests in flight (limit %u)", s->inflight,
				     b->cfg.max_inflight_requests);
		return;
	}
	s->inflight++;
	rc = issue_act(b, j, ep, a->action, &me, DOB_RESOLVED_CONTROLLER, s->id, corr);
	if (rc) {
		s->inflight--;
		if (j->ep)
			release(b, j, true);
		session_reply_action(b, s->id, corr, DOB_STATUS_BACKEND_ERROR, 0, state,
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

void episode_act_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	struct mjob *j = jobs_find(b, &q->job);
	struct episode *ep = j && j->ep && j->ep->id == q->episode_id && q->episode_id ? j->ep : NULL;
	enum dob_job_state before = j && j->have_last ? j->last.info.state : DOB_STATE_ERROR;
	enum dob_job_state state;
	const char *hrname = broker_hr_name(b, r->hresult);
	char gs[DOB_GUID_STR_LEN], msg[512];

	dob_guid_format(&q->job, gs);
	session_request_done(b, q->session_id);
	if (r->err == 0 && hr_ok(r->hresult)) {
		state = r->has_job ? r->job.info.state : guess_state(q->action, before);
		if (j && r->has_job) {
			struct backend_job copy;
			if (backend_job_copy(&copy, &r->job) == 0) {
				copy.info.job_id = j->id;
				backend_job_clear(&j->last);
				j->last = copy;
				j->have_last = true;
			}
		} else if (j && j->have_last) {
			j->last.info.state = state;
		}
		snprintf(msg, sizeof(msg), "%s by %s: %s", dob_action_name(q->action),
			 q->actor.client_name ? q->actor.client_name : "",
			 hrname ? hrname : r->hresult ? "success code" : "S_OK");
		if (ep && ep->claimed && ep->claim_req == q->id)
			episode_resolve(b, j, q->by, q->action, &q->actor, r->hresult, state, msg);
		if (q->session_id)
			session_reply_action(b, q->session_id, q->corr, DOB_STATUS_OK, r->hresult,
					     state, "%s", msg);
		if (j && (state == DOB_STATE_CANCELLED || state == DOB_STATE_ACKNOWLEDGED))
			jobs_remove(b, j, state == DOB_STATE_CANCELLED ? "cancelled" : "acknowledged");
		return;
	}
	/* Failed: the episode stays pending. */
	if (r->err)
		snprintf(msg, sizeof(msg), "%s failed: %s%s%s", dob_action_name(q->action),
			 dob_strerror(r->err), r->message ? ": " : "", r->message ? r->message : "");
	else
		snprintf(msg, sizeof(msg), "%s failed: %s%s0x%08X%s%s%s", dob_action_name(q->action),
			 hrname ? hrname : "", hrname ? " (" : "", r->hresult, hrname ? ")" : "",
			 r->message && *r->message ? ": " : "", r->message ? r->message : "");
	log_warn("job %s: %s", gs, msg);
	if (ep && ep->claimed && ep->claim_req == q->id)
		release(b, j, q->by == DOB_RESOLVED_CONTROLLER ||
				      (q->by == DOB_RESOLVED_POLICY && q->action == DOB_ACTION_RESUME));
	if (q->session_id) {
		enum dob_status st;
		if (r->err)
			st = jobs_result_not_found(r) ? DOB_STATUS_UNKNOWN_JOB : DOB_STATUS_BACKEND_ERROR;
		else
			st = broker_status_of(b, r->hresult);
		if (st == DOB_STATUS_OK)
			st = DOB_STATUS_BACKEND_ERROR;
		session_reply_action(b, q->session_id, q->corr, st, r->hresult,
				     j && j->have_last ? j->last.info.state : before, "%s", msg);
	}
	/* Something else finished the job while our action was in flight. */
	if (j && j->have_last && !(j->ep && episode_busy(j->ep)) &&
	    (j->last.info.state == DOB_STATE_CANCELLED ||
	     j->last.info.state == DOB_STATE_ACKNOWLEDGED))
		jobs_remove(b, j, "final");
}

void episode_act_timeout(struct broker *b, struct breq *q)
{
	struct mjob *j = jobs_find(b, &q->job);
	char gs[DOB_GUID_STR_LEN];

	dob_guid_format(&q->job, gs);
	log_warn("job %s: %s by %s timed out after %u ms; a late result is ignored", gs,
		 dob_action_name(q->action), q->actor.client_name ? q->actor.client_name : "",
		 b->cfg.action_timeout_ms);
	session_request_done(b, q->session_id);
	if (j && j->ep && j->ep->claimed && j->ep->claim_req == q->id)
		release(b, j, q->by == DOB_RESOLVED_CONTROLLER);
	if (q->session_id)
		session_reply_action(b, q->session_id, q->corr, DOB_STATUS_TIMEOUT, 0,
				     j && j->have_last ? j->last.info.state : DOB_STATE_ERROR,
				     "the backend did not carry out the %s within %u ms",
				     dob_action_name(q->action), b->cfg.action_timeout_ms);
}
