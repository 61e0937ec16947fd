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
#include "decide.h"
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

/* The ring of resolved episodes (history_*) lives in history.c. */

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
	if (b->next_episode_id >= b->episode_id_reserved && !b->replaying) {
		/* Reserve a block so an id is never reused, even if the episode's
		 * own record is lost to a full disk. An id is handed out only
		 * below a journaled reservation: 0 (none) when it cannot be made. */
		struct dob_jrec r;
		memset(&r, 0, sizeof(r));
		r.type = DOB_JREC_COUNTERS;
		r.u.counters.next_episode_id = b->next_episode_id + EPISODE_ID_BLOCK;
		if (broker_journal(b, &r))
			return 0;
		b->episode_id_reserved = r.u.counters.next_episode_id;
	}
	return b->next_episode_id++;
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
	return ep->phase == CLAIM_INFLIGHT || ep->phase == CLAIM_LOST;
}

static void claim(struct episode *ep, const struct dob_actor *actor, enum dob_action action,
		  enum dob_resolved_by by, enum claim_phase phase)
{
	dob_actor_clear(&ep->claimant);
	ep->phase = phase;
	ep->claimant.session_id = actor->session_id;
	ep->claimant.pid = actor->pid;
	ep->claimant.client_name = dob_strdup(actor->client_name);
	ep->claim_action = action;
	ep->claim_by = by;
	ep->claim_req = 0;
	ep->lost_seq = 0;
	ep->claim_sched = NULL;
	ep->claim_journaled = false;
}

static void unclaim(struct episode *ep)
{
	ep->phase = CLAIM_NONE;
	ep->claim_req = 0;
	ep->claim_sched = NULL;
	ep->claim_journaled = false;
	dob_actor_clear(&ep->claimant);
}

static void held_free_all(struct held *h)
{
	while (h) {
		struct held *next = h->next;
		dob_free(h);
		h = next;
	}
}

static void policy_run(struct broker *b, struct mjob *j);
void episode_free(struct broker *b, struct episode *ep)
{
	if (!ep)
		return;
	if (ep->deadline)
		timer_cancel(b->timers, ep->deadline);
	if (ep->claim_sched)
		sched_free(b, ep->claim_sched);
	dob_actor_clear(&ep->claimant);
	held_free_all(ep->held);
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

void episode_open(struct broker *b, struct mjob *j, const struct backend_job *bj, int64_t at_us,
		  uint64_t seq)
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
	if (!ep->id) {
		/* No id covered by a journaled reservation: none is handed out
		 * (it could be reused after a crash). The job stays in ERROR in
		 * the service; the sweep opens the episode once the journal has
		 * room, so nothing is lost, only late. */
		log_error("job %s: error episode not opened: the journal cannot reserve its id; "
			  "retried at the next sweep", gs);
		episode_free(b, ep);
		return;
	}
	ep->opened_seq = seq;
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
	dob_log_event(DOB_EVENT_EPISODE_OPENED,
		      &(struct dob_event_info){ .job = gs, .episode = ep->id,
						.hr = ev->error.hresult,
						.text = ev->error.description });
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
	if (ep->phase != CLAIM_NONE) {
		/* Decided, not yet carried out: not offered as pending. */
		struct dob_resolution *d = &m.u.job_error.pending_decision;
		m.u.job_error.has_pending_decision = true;
		d->job_id = ep->ev.job.job_id;
		d->episode_id = ep->id;
		d->action = ep->claim_action;
		d->resolved_by = ep->claim_by;
		d->actor = ep->claimant;
		d->new_state = ep->ev.job.state;
		d->message = (char *)claim_phase_name(ep->phase);
	}
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

static void run_held(struct broker *b, struct held *h);

void episode_resolve(struct broker *b, struct mjob *j, enum dob_resolved_by by,
		     enum dob_action action, const struct dob_actor *actor, uint32_t hr,
		     enum dob_job_state new_state, const char *message)
{
	struct episode *ep = j->ep;
	struct held *held;
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
	r.u.decision.resolved_us = now;
	r.u.decision.first_seen_us = ep->ev.first_seen_us;
	r.u.decision.has_owner = true;
	r.u.decision.owner = j->owner;
	r.u.decision.display_name = j->display_name;
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
	{
		char gs[DOB_GUID_STR_LEN];
		dob_guid_format(&j->id, gs);
		dob_log_event(DOB_EVENT_EPISODE_RESOLVED,
			      &(struct dob_event_info){
				      .job = gs, .episode = ep->id, .hr = hr,
				      .action = dob_action_name(action),
				      .actor = by == DOB_RESOLVED_CONTROLLER ? actor->client_name
									  : dob_resolved_by_name(by),
				      .text = message });
	}
	router_publish(b, &m, DOB_EVENT_RESOLUTION, j);
	history_add(b, &m.u.resolution, now, ep->ev.first_seen_us, &j->owner, j->display_name);
	if (now > ep->ev.first_seen_us)
		broker_record_latency(b, (uint64_t)(now - ep->ev.first_seen_us));
	held = ep->held;
	ep->held = NULL;
	j->ep = NULL;
	j->settled_seq = broker_next_seq(b);
	b->n_pending--;
	episode_free(b, ep);
	/* Acts that waited on this decision: now it is known who won. */
	run_held(b, held);
}

/* ---------------------------------------------------------------- actions */

static int copy_actor(struct dob_actor *dst, const struct dob_actor *src)
{
	dst->session_id = src->session_id;
	dst->pid = src->pid;
	dst->client_name = dob_strdup(src->client_name);
	return dst->client_name ? 0 : -DOB_ENOMEM;
}

/* Sends an action to the backend; the episode (if any) is claimed by it. */
static int issue_act(struct broker *b, struct mjob *j, struct episode *ep, enum dob_action action,
		     const struct dob_actor *actor, enum dob_resolved_by by, uint64_t session_id,
		     uint64_t corr, bool journaled)
{
	struct breq *q = breq_new(b, BR_ACT, &j->id);

	if (!q)
		return -DOB_ENOMEM;
	q->action = action;
	q->by = by;
	q->session_id = session_id;
	q->corr = corr;
	q->episode_id = ep ? ep->id : 0;
	if (copy_actor(&q->actor, actor)) {
		breq_free(b, q);
		return -DOB_ENOMEM;
	}
	if (ep) {
		claim(ep, actor, action, by, CLAIM_INFLIGHT);
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

static void journal_schedule_done(struct broker *b, uint64_t episode_id,
				  const struct dob_guid *job)
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

static void journal_schedule(struct broker *b, const struct sched *sc, bool done, int *rc)
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
		journal_schedule(b, sc, true, &rc);
		sched_free(b, sc);
		return;
	}
	if (!sc->episode_id)
		ep = NULL;
	if (ep) {
		ep->phase = decide_claim(ep->phase, CI_DUE, &out);
		ep->claim_sched = NULL;
	}
	rc = issue_act(b, j, ep, sc->action, &sc->actor, sc->by, 0, 0, ep != NULL);
	if (rc) {
		char why[160];
		snprintf(why, sizeof(why), "the scheduled %s could not be sent: %s",
			 dob_action_name(sc->action), dob_strerror(rc));
		log_warn("job '%s': %s", j->display_name, why);
		journal_schedule(b, sc, true, &rc);
		j = jobs_find(b, &sc->job);
		if (j && j->ep && j->ep->id == sc->episode_id && j->ep->phase != CLAIM_NONE)
			episode_claim_input(b, j, CI_RESULT_FAILED, 0, j->ep->ev.job.state, why);
	} else if (!ep) {
		journal_schedule(b, sc, true, &rc);
	}
	sched_free(b, sc);
}

/* A delayed decision: journaled before anyone is told (the OK, or the
 * policy's log line), claimed, and honoured after a restart. NULL when it
 * could not be journaled or armed (nothing claimed then). */
static struct sched *sched_new(struct broker *b, struct mjob *j, struct episode *ep,
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
	if (copy_actor(&sc->actor, actor))
		goto fail;
	if (!b->replaying)
		journal_schedule(b, sc, false, &rc);
	if (rc || timer_add(b->timers, plat_now_ms() + (int64_t)delay_ms, sched_fire, sc, &sc->t))
		goto fail;
	sc->next = b->scheds;
	b->scheds = sc;
	if (ep) {
		claim(ep, actor, action, by, CLAIM_SCHEDULED);
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
	if (copy_actor(&v[b->n_restored].u.schedule.decision.actor, &r->u.schedule.decision.actor))
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
	rc = issue_act(b, j, ep, action, &policy_actor, DOB_RESOLVED_POLICY, 0, 0, false);
	if (rc) {
		log_warn("episode %llu: policy %s could not be sent: %s", (unsigned long long)ep->id,
			 dob_action_name(action), dob_strerror(rc));
		if (j->ep == ep && ep->phase != CLAIM_NONE)
			unclaim(ep);
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
		journal_schedule_done(b, ep->id, &j->id); /* failed: not to be run again */
	dob_actor_clear(&f->actor);
	dob_free(f->message);
	memset(f, 0, sizeof(*f));
	ep->ev.has_failed_decision = true;
	f->job_id = j->id;
	f->episode_id = ep->id;
	f->action = ep->claim_action;
	f->resolved_by = ep->claim_by;
	copy_actor(&f->actor, &ep->claimant);
	f->hresult = hr;
	f->new_state = ep->ev.job.state;
	f->message = dob_strdup(why);
	unclaim(ep);
	/* Journaled as the episode's newest version (a restart replays it
	 * pending, with the failure). */
	episode_journal(b, ep);
	log_info("episode %llu: pending again: %s", (unsigned long long)ep->id, why);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_ERROR;
	m.u.job_error = ep->ev;
	m.u.job_error.replayed = true;
	router_publish(b, &m, DOB_EVENT_JOB_ERROR, j);
	run_held(b, held);
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
		copy_actor(&actor, &ep->claimant);
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
			journal_schedule(b, ep->claim_sched, true, &rc);
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

static void run_held(struct broker *b, struct held *h)
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
	rc = issue_act(b, j, ep, a->action, &me, DOB_RESOLVED_CONTROLLER, s->id, corr, false);
	if (rc) {
		s->inflight--;
		if (j->ep && j->ep == ep && ep->phase != CLAIM_NONE)
			unclaim(ep);
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
	if (j && r->has_job && r->job.info.state) {
		struct backend_job copy;
		if (backend_job_copy(&copy, &r->job) == 0) {
			copy.info.job_id = j->id;
			backend_job_clear(&j->last);
			j->last = copy;
			j->have_last = true;
		}
	}
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
