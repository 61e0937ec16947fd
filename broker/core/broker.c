/*
 * broker/core/broker.c - the loop glue: platform handlers, the backend sink,
 * commit and flush after each batch of work (group commit), journal replay
 * and compaction, the reconcile sweep, statistics, lifecycle. Decisions are
 * in decide.c and episode.c, requests to the backend in request.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "broker_int.h"
#include "config.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

int64_t broker_wall_us(void)
{
	return plat_wall_us();
}

uint64_t broker_next_seq(struct broker *b)
{
	return atomic_fetch_add(&b->obs_seq, 1) + 1;
}

const char *broker_hr_name(const struct broker *b, uint32_t hr)
{
	const char *n = b->be->ops->hresult_name ? b->be->ops->hresult_name(hr) : NULL;

	return n ? n : backend_hresult_name(hr);
}

enum dob_status broker_status_of(const struct broker *b, uint32_t hr)
{
	return b->be->ops->status_of ? b->be->ops->status_of(hr) : backend_status_of(hr);
}

/* ---------------------------------------------------------------- journal */

static int snapshot(void *ctx, struct journal *jr, journal_emit_fn emit)
{
	struct broker *b = ctx;
	struct dob_jrec r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.type = DOB_JREC_COUNTERS;
	r.u.counters.next_episode_id = b->episode_id_reserved > b->next_episode_id
					       ? b->episode_id_reserved
					       : b->next_episode_id;
	if ((rc = emit(jr, &r)))
		return rc;
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next) {
			jobs_record(j, &r);
			if ((rc = emit(jr, &r)))
				return rc;
			if (!j->ep)
				continue;
			memset(&r, 0, sizeof(r));
			r.type = DOB_JREC_EPISODE;
			r.u.episode.episode_id = j->ep->id;
			r.u.episode.event = j->ep->ev;
			if ((rc = emit(jr, &r)))
				return rc;
			/* A delayed decision told OK survives compaction too. */
			if (episode_schedule_record(j->ep, &r) && (rc = emit(jr, &r)))
				return rc;
		}
	for (size_t k = 0; k < b->hist_n; k++) {
		history_record(history_at(b, k), &r);
		if ((rc = emit(jr, &r)))
			return rc;
	}
	return 0;
}

static void maybe_compact(struct broker *b)
{
	int rc;

	if (!b->jr || !journal_wants_compaction(b->jr))
		return;
	/* A live state larger than the threshold would compact on every
	 * append: wait until the file has doubled since the last snapshot. */
	if (journal_size(b->jr) < 2 * b->compacted_size)
		return;
	rc = journal_compact(b->jr, snapshot, b);
	if (rc) {
		log_warn("journal: compaction failed (%s); the old journal stays in use",
			 dob_strerror(rc));
		b->compacted_size = journal_size(b->jr);
		return;
	}
	b->compacted_size = journal_size(b->jr);
	log_info("journal: compacted to %llu bytes", (unsigned long long)b->compacted_size);
}

/* What an append's result means for the broker (full disk: new jobs are
 * refused until there is room). */
static int journal_result(struct broker *b, int rc)
{
	if (rc == -DOB_ENOSPC) {
		if (!b->journal_full)
			log_error("journal: no space left; new jobs are refused until there is room");
		b->journal_full = true;
	} else if (rc) {
		log_error("journal: append failed: %s", dob_strerror(rc));
	} else if (b->journal_full) {
		log_info("journal: writable again; taking new jobs");
		b->journal_full = false;
	}
	return rc;
}

int broker_journal(struct broker *b, const struct dob_jrec *r)
{
	if (!b->jr)
		return -DOB_EIO;
	return journal_result(b, journal_append(b->jr, r));
}

int broker_journal_body(struct broker *b, uint8_t *body, size_t len)
{
	if (!b->jr) {
		dob_free(body);
		return -DOB_EIO;
	}
	return journal_result(b, journal_append_body(b->jr, body, len));
}

static int replay_apply(void *ctx, struct dob_jrec *r)
{
	struct broker *b = ctx;
	struct mjob *j;

	switch (r->type) {
	case DOB_JREC_JOB: {
		/* The record's owner and name are moved into the job, not
		 * copied (one record per job at a restart). */
		struct dob_journal_job *rj = &r->u.job;
		char *name = rj->display_name ? rj->display_name : dob_strdup("");

		if (!name)
			return -DOB_ENOMEM;
		rj->display_name = NULL;
		j = jobs_find(b, &rj->job_id);
		if (!j) {
			j = dob_calloc(1, sizeof(*j));
			if (j)
				j->id = rj->job_id;
			if (!j || jobs_insert(b, j)) {
				dob_free(j);
				dob_free(name);
				return -DOB_ENOMEM;
			}
		}
		/* else: a later record of the same job (resumes_used, policy) */
		dob_identity_clear(&j->owner);
		j->owner = rj->owner;
		memset(&rj->owner, 0, sizeof(rj->owner));
		dob_free(j->display_name);
		j->display_name = name;
		j->policy = rj->policy;
		j->type = rj->type;
		j->resumes_used = rj->resumes_used;
		break;
	}
	case DOB_JREC_EPISODE:
		j = jobs_find(b, &r->u.episode.event.job.job_id);
		if (!j) {
			log_warn("journal: episode %llu of an unknown job ignored",
				 (unsigned long long)r->u.episode.episode_id);
			break;
		}
		if (episode_restore(b, j, r->u.episode.episode_id, &r->u.episode.event))
			return -DOB_ENOMEM;
		if (r->u.episode.episode_id >= b->next_episode_id)
			b->next_episode_id = r->u.episode.episode_id + 1;
		break;
	case DOB_JREC_DECISION: {
		const struct dob_resolution *res = &r->u.decision.resolution;
		j = jobs_find(b, &res->job_id);
		if (j && j->ep && j->ep->id == r->u.decision.episode_id) {
			episode_free(b, j->ep);
			j->ep = NULL;
			b->n_pending--;
		}
		{
			/* Decided: a schedule of it is no longer to be honoured. */
			struct dob_jrec done;
			memset(&done, 0, sizeof(done));
			done.type = DOB_JREC_SCHEDULE;
			done.u.schedule.episode_id = r->u.decision.episode_id;
			done.u.schedule.done = true;
			episode_replay_schedule(b, &done);
		}
		{
			struct dob_resolution h = *res;
			h.episode_id = r->u.decision.episode_id;
			history_add(b, &h, r->u.decision.resolved_us, r->u.decision.first_seen_us,
				    r->u.decision.has_owner ? &r->u.decision.owner
				    : j ? &j->owner : NULL,
				    r->u.decision.display_name ? r->u.decision.display_name
				    : j ? j->display_name : NULL);
		}
		break;
	}
	case DOB_JREC_JOB_REMOVED:
		j = jobs_find(b, &r->u.job_removed);
		if (j)
			jobs_forget(b, j);
		break;
	case DOB_JREC_COUNTERS:
		if (r->u.counters.next_episode_id > b->next_episode_id)
			b->next_episode_id = r->u.counters.next_episode_id;
		break;
	case DOB_JREC_SCHEDULE:
		if (episode_replay_schedule(b, r))
			return -DOB_ENOMEM;
		break;
	default:
		break;
	}
	return 0;
}

/* ---------------------------------------------------------------- requests */

/* ---------------------------------------------------------------- backend sink */

static void ignore_event(struct backend_event *ev)
{
	char gs[DOB_GUID_STR_LEN];

	dob_guid_format(&ev->job.info.job_id, gs);
	log_debug("event %d for unmanaged job %s ignored", (int)ev->kind, gs);
	backend_event_free(ev);
}

static void deliver(struct broker *b, struct mjob *j, struct backend_event *ev)
{
	enum obs_src src;

	switch (ev->kind) {
	case BACKEND_EV_ERROR:
		src = OBS_EV_ERROR;
		break;
	case BACKEND_EV_TRANSFERRED:
		src = OBS_EV_TRANSFERRED;
		break;
	default:
		src = OBS_EV_MODIFIED;
		break;
	}
	jobs_observe_take(b, j, &ev->job, src,
			  ev->job.callback_us ? ev->job.callback_us : broker_wall_us(),
			  ev->job.seq ? ev->job.seq : broker_next_seq(b));
	backend_event_free(ev);
}

/* The callbacks kept by sink_event, once a request ended: those whose job
 * is now managed are delivered, in order; the rest wait while a submit or
 * adopt is still in flight, and are dropped when none is. A kept JobError
 * whose episode the submit's own read already opened is not a repeat. */
void broker_early_settle(struct broker *b)
{
	struct backend_event *evs[EARLY_MAX];
	size_t n = b->n_early;
	bool more = !b->stopped && breq_creating(b);

	/* Taken out first: delivering may issue requests, and a backend that
	 * answers at once would come back here. */
	memcpy(evs, b->early, n * sizeof(evs[0]));
	b->n_early = 0;
	for (size_t i = 0; i < n; i++) {
		struct backend_event *ev = evs[i];
		struct mjob *j = b->stopped ? NULL : jobs_find(b, &ev->job.info.job_id);

		if (j && ev->kind == BACKEND_EV_ERROR && j->ep)
			backend_event_free(ev);
		else if (j)
			deliver(b, j, ev);
		else if (more && b->n_early < EARLY_MAX)
			b->early[b->n_early++] = ev;
		else
			ignore_event(ev);
	}
}

static void sink_event(void *ctx, struct backend_event *ev)
{
	struct broker *b = ctx;
	struct mjob *j = jobs_find(b, &ev->job.info.job_id);

	b->events_in++;
	if (ev->kind == BACKEND_EV_MISSED) {
		if (ev->service_restarted)
			b->service_restarts++;
		/* Callbacks were lost: read every job now. */
		log_warn("backend lost callbacks; reconciling every managed job");
		backend_event_free(ev);
		if (!b->stopped)
			jobs_sweep(b, true);
		return;
	}
	if (!j && !b->stopped && b->n_early < EARLY_MAX && breq_creating(b)) {
		/* The service calls back as soon as a job runs, and may do so
		 * before the result of the submit (or adopt) that makes the job
		 * ours has reached the loop: a small download can be TRANSFERRED
		 * before the worker has read the new job, and JobTransferred is
		 * never called again. Keep it until that result is in. */
		b->early[b->n_early++] = ev;
		return;
	}
	if (!j || b->stopped) {
		ignore_event(ev);
		return;
	}
	deliver(b, j, ev);
}

static void sink_done(void *ctx, struct backend_result *r)
{
	struct broker *b = ctx;
	struct breq *q;

	q = breq_find(b, r->req_id);
	if (!q) {
		log_info("result of request %llu arrived after its timeout; ignored",
			 (unsigned long long)r->req_id);
		backend_result_free(r);
		return;
	}
	breq_unlink(b, q);
	if (q->timeout) {
		timer_cancel(b->timers, q->timeout);
		q->timeout = NULL;
	}
	switch (q->kind) {
	case BR_SUBMIT:
		jobs_submit_done(b, q, r);
		break;
	case BR_ADOPT_QUERY:
		jobs_adopt_query_done(b, q, r);
		break;
	case BR_ADOPT_ATTACH:
		jobs_adopt_attach_done(b, q, r);
		break;
	case BR_ATTACH:
		jobs_attach_done(b, q, r);
		break;
	case BR_QUERY:
		jobs_query_done(b, q, r);
		break;
	case BR_ACT:
		episode_act_done(b, q, r);
		break;
	case BR_DISCARD:
		log_info("cancel of an unjournaled job: %s", r->err ? dob_strerror(r->err) : "done");
		break;
	case BR_ENUMERATE:
		history_enumerate_done(b, q, r);
		break;
	}
	q->next = NULL;
	breq_free(b, q);
	backend_result_free(r);
	if (b->n_early)
		broker_early_settle(b);
}

/* ---------------------------------------------------------------- sweep */

static void sweep_fired(void *arg);

static void arm_sweep(struct broker *b)
{
	if (timer_add(b->timers, plat_now_ms() + b->cfg.sweep_interval_ms, sweep_fired, b,
		      &b->sweep_timer))
		log_error("cannot arm the reconcile sweep (out of memory)");
}

static void sweep_fired(void *arg)
{
	struct broker *b = arg;
	bool tried = false;

	b->sweep_timer = NULL;
	/* Episodes published while the journal could not take them. */
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			if (j->ep && !j->ep->journaled) {
				tried = true;
				if (episode_journal(b, j->ep) == 0)
					log_info("episode %llu: journaled at last",
						 (unsigned long long)j->ep->id);
			}
	if (b->journal_full && !tried) {
		struct dob_jrec r;
		memset(&r, 0, sizeof(r));
		r.type = DOB_JREC_COUNTERS;
		r.u.counters.next_episode_id = b->episode_id_reserved > b->next_episode_id
						       ? b->episode_id_reserved
						       : b->next_episode_id;
		broker_journal(b, &r);
	}
	jobs_sweep(b, false);
	arm_sweep(b);
}

/* ---------------------------------------------------------------- stats */

void broker_record_latency(struct broker *b, uint64_t us)
{
	b->lat[b->lat_head] = us;
	b->lat_head = (b->lat_head + 1) % LATENCY_RING;
	if (b->lat_n < LATENCY_RING)
		b->lat_n++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned p)
{
	size_t i;

	if (!n)
		return 0;
	i = (n * p + 99) / 100;
	return sorted[i ? i - 1 : 0];
}

void broker_on_stats(struct session *s, uint64_t corr)
{
	struct broker *b = s->b;
	bool all = authz_can_see_sessions(&s->ident);
	struct dob_subscriber_stats *v = NULL;
	uint64_t sorted[LATENCY_RING];
	struct frame *f;
	struct dob_stats *st;
	struct dob_msg m;
	size_t n = 0;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_STATS;
	m.correlation_id = corr;
	st = &m.u.stats;
	st->status = DOB_STATUS_OK;
	st->events_in = b->events_in;
	st->events_out = b->events_out;
	st->dropped = b->dropped;
	st->uptime_ms = (uint64_t)(plat_now_ms() - b->start_ms);
	st->service_restarts = b->service_restarts;
	/* Subscribers: the asking client is not one of them (it asks). */
	for (struct session *x = b->sessions; x; x = x->next)
		if (x->state == SESS_ACTIVE && x != s)
			st->subscribers++;
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			if (authz_can_see(&s->ident, &j->owner)) {
				st->managed_jobs++;
				if (j->ep)
					st->pending_episodes++;
			}
	memcpy(sorted, b->lat, b->lat_n * sizeof(uint64_t));
	qsort(sorted, b->lat_n, sizeof(uint64_t), cmp_u64);
	st->decision_latency_p50_us = percentile(sorted, b->lat_n, 50);
	st->decision_latency_p99_us = percentile(sorted, b->lat_n, 99);
	if (all && st->subscribers) {
		v = dob_calloc(st->subscribers, sizeof(*v));
		if (!v) {
			session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
			return;
		}
		for (struct session *x = b->sessions; x && n < DOB_MAX_SESSIONS_STATS; x = x->next)
			if (x->state == SESS_ACTIVE && x != s) {
				v[n].session_id = x->id;
				v[n].client_name = x->client_name;
				v[n].role = x->role;
				v[n].queue_depth = (uint32_t)outq_frames(x->q);
				v[n].events_out = x->events_out;
				v[n].dropped = outq_dropped(x->q);
				n++;
			}
	}
	st->sessions = v;
	st->n_sessions = n;
	f = frame_encode_fit(b, &m, &st->n_sessions, &st->message, "sessions");
	dob_free(v);
	if (!f) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker could not encode its stats");
		return;
	}
	session_push(s, f, 0, 0);
	frame_unref(f);
}

size_t broker_session_count(const struct broker *b)
{
	size_t n = 0;

	for (const struct session *s = b->sessions; s; s = s->next)
		if (s->state == SESS_ACTIVE || s->state == SESS_HELLO)
			n++;
	return n;
}

size_t broker_job_count(const struct broker *b)
{
	return b->n_jobs;
}

size_t broker_pending_count(const struct broker *b)
{
	return b->n_pending;
}

/* ---------------------------------------------------------------- handlers */

static void commit_and_flush(struct broker *b);

void broker_reap(struct broker *b)
{
	/* The end of one handler's work (a client's bytes, a posted backend
	 * event, a tick's due timers): its records are made durable with one
	 * fsync (group commit over everything the handler did), then its
	 * frames start out. Committing per handler rather than once per loop
	 * wake-up keeps a burst of events flowing to fast subscribers instead
	 * of piling up behind the commit (and into their soft limit). */
	commit_and_flush(b);
	if (!b->stopped)
		maybe_compact(b);
}

static void h_accepted(void *ctx, struct plat_conn *c, const struct dob_identity *peer)
{
	struct broker *b = ctx;

	session_accepted(b, c, peer);
	broker_reap(b);
}

static void h_data(void *ctx, struct plat_conn *c, const uint8_t *p, size_t n)
{
	struct broker *b = ctx;
	struct session *s = plat_conn_get_data(c);

	if (s)
		session_data(s, p, n);
	broker_reap(b);
}

static void h_sent(void *ctx, struct plat_conn *c, int status)
{
	struct broker *b = ctx;
	struct session *s = plat_conn_get_data(c);

	if (s)
		session_sent(s, status);
	broker_reap(b);
}

static void h_eof(void *ctx, struct plat_conn *c)
{
	struct broker *b = ctx;
	struct session *s = plat_conn_get_data(c);

	if (s)
		session_eof(s);
	else
		plat_conn_close(c, NULL);
	broker_reap(b);
}

static void h_closed(void *ctx, struct plat_conn *c, int err)
{
	struct broker *b = ctx;
	struct session *s = plat_conn_get_data(c);

	if (s)
		session_closed(s, err);
	broker_reap(b);
}

static void h_posted(void *ctx, void *msg)
{
	struct broker *b = ctx;
	struct plat_msg *m = msg;

	if (m && m->run)
		m->run(m);
	broker_reap(b);
}

/* The applier's fixed order. Every journal record was written as it was
 * decided, and every frame queued as it was published or answered; one
 * fsync now makes the records durable (group commit), and only then do the
 * frames start out. Backend requests went out as they were decided: none
 * depends on a frame. */
static void commit_and_flush(struct broker *b)
{
	int rc;

	if (b->jr && (rc = journal_commit(b->jr))) {
		/* Not durable: nothing that depends on it may go out. The
		 * frames wait in their queues; the next turn retries. */
		log_error("journal: commit (fsync) failed: %s; replies and events wait, "
			  "retried next turn", dob_strerror(rc));
		return;
	}
	router_flush_all(b);
}

static int64_t h_next_timeout(void *ctx)
{
	struct broker *b = ctx;

	/* Called once per turn, before the loop sleeps: anything still queued
	 * (a commit that failed and is retried) and the turn's held log lines
	 * go out now (log.h). */
	commit_and_flush(b);
	dob_log_turn_end();
	return timers_next_timeout(b->timers, plat_now_ms());
}

static void h_tick(void *ctx)
{
	struct broker *b = ctx;

	timers_run(b->timers, plat_now_ms());
	broker_reap(b);
}

void broker_handlers(struct broker *b, struct plat_handlers *h)
{
	memset(h, 0, sizeof(*h));
	h->ctx = b;
	h->accepted = h_accepted;
	h->data = h_data;
	h->sent = h_sent;
	h->eof = h_eof;
	h->closed = h_closed;
	h->posted = h_posted;
	h->next_timeout_ms = h_next_timeout;
	h->tick = h_tick;
}

/* ---------------------------------------------------------------- lifecycle */

static int64_t clock_now_ms(void *ctx)
{
	(void)ctx;
	return plat_now_ms();
}

static int64_t clock_wall_us(void *ctx)
{
	(void)ctx;
	return plat_wall_us();
}

static uint64_t clock_seq(void *ctx)
{
	return broker_next_seq(ctx);
}

int broker_new(struct broker **out, const struct broker_config *cfg, struct backend *be)
{
	struct broker *b = dob_calloc(1, sizeof(*b));

	*out = NULL;
	if (!b || config_copy(&b->cfg, cfg) || timers_new(&b->timers)) {
		if (b) {
			config_clear(&b->cfg);
			dob_free(b);
		}
		if (be && be->ops && be->ops->free)
			be->ops->free(be);
		return -DOB_ENOMEM;
	}
	b->be = be;
	b->next_episode_id = 1;
	b->sink.ctx = b;
	b->sink.event = sink_event;
	b->sink.done = sink_done;
	b->sink.clock.timers = b->timers;
	b->sink.clock.ctx = b;
	b->sink.clock.now_ms = clock_now_ms;
	b->sink.clock.wall_us = clock_wall_us;
	b->sink.clock.seq = clock_seq;
	b->start_ms = plat_now_ms();
	*out = b;
	return 0;
}

int broker_start(struct broker *b, struct plat_loop *loop, char *errbuf, size_t errlen)
{
	struct journal_replay_info info;
	struct journal_opts jo;
	struct plat_listen_opts lo;
	char dir[1024];
	int rc;

	b->loop = loop;
	b->start_ms = plat_now_ms();
	if (b->cfg.state_dir) {
		snprintf(dir, sizeof(dir), "%s", b->cfg.state_dir);
	} else if ((rc = plat_default_state_dir(dir, sizeof(dir)))) {
		snprintf(errbuf, errlen, "no state directory: %s (use --state-dir)",
			 dob_strerror(rc));
		return rc;
	}
	/* One broker per state directory: a second one would replay the same
	 * journal and hand out the same episode ids. */
	if ((rc = plat_mkdir_private(dir))) {
		snprintf(errbuf, errlen, "state directory %s: %s", dir, dob_strerror(rc));
		return rc;
	}
	if ((rc = plat_dir_lock(dir, &b->state_lock, errbuf, errlen)))
		return rc;
	memset(&jo, 0, sizeof(jo));
	memset(&info, 0, sizeof(info));
	jo.dir = dir;
	jo.sync = b->cfg.journal_sync;
	jo.compact_bytes = b->cfg.journal_compact_bytes;
	b->replaying = true;
	rc = journal_open(&jo, replay_apply, b, &b->jr, &info);
	b->replaying = false;
	if (rc) {
		snprintf(errbuf, errlen, "journal in %s: %s", dir, dob_strerror(rc));
		return rc;
	}
	b->episode_id_reserved = b->next_episode_id;
	log_info("journal %s: %llu records replayed, %llu jobs, %llu pending episodes%s%s", dir,
		 (unsigned long long)info.records, (unsigned long long)b->n_jobs,
		 (unsigned long long)b->n_pending,
		 info.note[0] ? "; " : "", info.note);
	rc = b->be->ops->start(b->be, loop, &b->sink);
	if (rc) {
		snprintf(errbuf, errlen, "backend %s: %s", b->be->ops->name, dob_strerror(rc));
		return rc;
	}
	memset(&lo, 0, sizeof(lo));
	lo.endpoint = b->cfg.endpoint ? b->cfg.endpoint : plat_default_endpoint();
	lo.allow_sandboxed = b->cfg.allow_sandboxed;
	lo.service_mode = b->cfg.service_mode;
	lo.pipe_instances = b->cfg.pipe_instances;
	lo.test_listeners = (const char *const *)b->cfg.test_listeners;
	{
		/* test_listeners must be NULL-terminated for the platform. */
		const char **tl = NULL;
		if (b->cfg.n_test_listeners) {
			tl = dob_calloc(b->cfg.n_test_listeners + 1, sizeof(*tl));
			if (!tl)
				return -DOB_ENOMEM;
			for (size_t i = 0; i < b->cfg.n_test_listeners; i++)
				tl[i] = b->cfg.test_listeners[i];
		}
		lo.test_listeners = tl;
		rc = plat_listen(loop, &lo, errbuf, errlen);
		dob_free(tl);
	}
	if (rc) {
		b->be->ops->stop(b->be);
		return rc;
	}
	b->started = true;
	log_info("%s listening on %s, backend %s", BROKER_VERSION, lo.endpoint, b->be->ops->name);
	/* Delayed decisions told OK before the restart run when due (at once
	 * if overdue); their episodes stay claimed meanwhile. */
	episode_restore_schedules(b);
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			if (j->ep)
				episode_arm_deadline(b, j->ep);
	/* Re-attach every managed job; the results are the first sweep. */
	jobs_sweep(b, false);
	arm_sweep(b);
	return 0;
}

void broker_shutdown(struct broker *b)
{
	if (!b || b->stopped)
		return;
	dob_log_release(); /* the loop has returned */
	b->stopped = true;
	for (struct session *s = b->sessions; s; s = s->next)
		session_fail(s, DOB_PERR_SHUTTING_DOWN, "the broker is stopping");
	broker_reap(b);
	if (b->sweep_timer) {
		timer_cancel(b->timers, b->sweep_timer);
		b->sweep_timer = NULL;
	}
	if (b->started && b->be->ops->stop)
		b->be->ops->stop(b->be);
	journal_close(b->jr);
	b->jr = NULL;
	plat_dir_unlock(b->state_lock);
	b->state_lock = NULL;
	log_info("stopped: %llu jobs managed, %llu episodes pending",
		 (unsigned long long)b->n_jobs, (unsigned long long)b->n_pending);
}

void broker_free(struct broker *b)
{
	if (!b)
		return;
	broker_shutdown(b);
	session_free_all(b);
	session_buckets_free(b);
	breq_table_free(b);
	jobs_sweep_free(b);
	while (b->n_early)
		backend_event_free(b->early[--b->n_early]);
	while (b->scheds)
		sched_free(b, b->scheds);
	jobs_free_all(b);
	history_free(b);
	for (size_t k = 0; k < b->n_restored; k++)
		dob_jrec_clear(&b->restored[k]);
	dob_free(b->restored);
	plat_dir_unlock(b->state_lock); /* never started, or shutdown skipped */
	if (b->be && b->be->ops && b->be->ops->free)
		b->be->ops->free(b->be);
	timers_free(b->timers);
	config_clear(&b->cfg);
	dob_free(b);
}
