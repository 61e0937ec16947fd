/*
 * broker/core/episode.c - error episodes: their life from open to resolution.
 *
 * An episode opens when a managed job is seen in ERROR without one (callback
 * or sweep), is journaled, then published as JobError. Repeated callbacks
 * count on it. It ends exactly once: a controller's action that the backend
 * carried out, the default policy at its deadline, or the job leaving ERROR
 * by itself. An action being carried out "claims" the episode so a second
 * controller is told ALREADY_RESOLVED naming the first; a failed or timed
 * out action releases the claim and the episode stays pending.
 *
 * This file holds the episode itself (open, repeat, restore from the journal,
 * replay to a subscriber, resolve, free) and its claim. The decisions that
 * end it are carried out in episode_act.c; delayed ones in episode_sched.c.
 */
#include <stdio.h>
#include <string.h>

#include "decide.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "episode_int.h"
#include "log.h"

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

/* episode_journal from ep's JobError already packed (ev, n bytes: what its
 * subscribers are sent); without them, episode_journal. */
static int episode_journal_packed(struct broker *b, struct episode *ep, const uint8_t *ev,
				  size_t n)
{
	uint8_t *body;
	size_t len;
	int rc;

	if (!ev || dob_jrec_wrap_episode(ep->id, ev, n, &body, &len, NULL) < 0)
		return episode_journal(b, ep);
	rc = broker_journal_body(b, body, len);
	ep->journaled = rc == 0;
	return rc;
}

bool episode_busy(const struct episode *ep)
{
	return ep->phase == CLAIM_INFLIGHT || ep->phase == CLAIM_LOST;
}

void episode_claim(struct episode *ep, const struct dob_actor *actor, enum dob_action action,
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

void episode_unclaim(struct episode *ep)
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

int episode_copy_actor(struct dob_actor *dst, const struct dob_actor *src)
{
	dst->session_id = src->session_id;
	dst->pid = src->pid;
	dst->client_name = dob_strdup(src->client_name);
	return dst->client_name ? 0 : -DOB_ENOMEM;
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
	held_free_all(ep->held);
	ev_clear(&ep->ev);
	dob_free(ep);
}

int episode_restore(struct broker *b, struct mjob *j, uint64_t id, struct dob_job_error *ev)
{
	/* Moved, not copied: a restart replays one such record per pending
	 * episode, and the copy was a tenth of the replay. */
	struct dob_job_error taken = *ev;
	struct episode *ep;

	memset(ev, 0, sizeof(*ev));
	taken.episode_id = id;
	taken.replayed = false;
	if (j->ep && j->ep->id == id) {
		/* A later version of the same episode (repeat count). */
		ev_clear(&j->ep->ev);
		j->ep->ev = taken;
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
		ev_clear(&taken);
		return -DOB_ENOMEM;
	}
	ep->b = b;
	ep->job = j;
	ep->id = id;
	ep->ev = taken;
	ep->journaled = true;
	j->ep = ep;
	b->n_pending++;
	return 0;
}

/* ---------------------------------------------------------------- open */

void episode_open(struct broker *b, struct mjob *j, const struct backend_job *bj, int64_t at_us,
		  uint64_t seq)
{
	struct episode *ep = dob_calloc(1, sizeof(*ep));
	struct dob_job_error *ev;
	struct dob_msg m;
	char gs[DOB_GUID_STR_LEN];
	uint8_t *packed;
	size_t plen;
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
	/* Packed once for the journal and the subscribers (codec.c says why);
	 * if it cannot be (out of memory; invalid, a bug) each encodes on its
	 * own, and logs why. */
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_ERROR;
	m.u.job_error = *ev;
	if (dob_body_pack(&m, &packed, &plen, NULL) < 0)
		packed = NULL;
	/* Journaled before anyone hears of it; if the disk is full it is
	 * published anyway (never drop an error) and journaled at a later
	 * sweep. */
	rc = episode_journal_packed(b, ep, packed, plen);
	log_info("job %s ('%s'): error episode %llu: %s 0x%08X%s%s", gs, j->display_name,
		 (unsigned long long)ep->id, dob_context_name(ev->error.context), ev->error.hresult,
		 rc ? "; NOT journaled: " : "", rc ? dob_strerror(rc) : "");
	dob_log_event(DOB_EVENT_EPISODE_OPENED,
		      &(struct dob_event_info){ .job = gs, .episode = ep->id,
						.hr = ev->error.hresult,
						.text = ev->error.description });
	router_publish_packed(b, &m, packed, plen, DOB_EVENT_JOB_ERROR, j);
	dob_free(packed);
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
	episode_run_held(b, held);
}
