/*
 * broker/core/history.c - what the broker has decided, and what it could
 * take on.
 *
 * The ring of the latest HISTORY_MAX resolved episodes: filled by
 * episode_resolve() and by the journal's DECISION records at start, written
 * back by compaction, read by ALREADY_RESOLVED (history_find) and by
 * ListHistory. And ListUnmanaged: the backend's jobs the broker does not
 * manage (BR_ENUMERATE), for AdoptJob.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "broker_int.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

/* ---------------------------------------------------------------- the ring */

static void entry_clear(struct resolved *h)
{
	dob_actor_clear(&h->actor);
	dob_identity_clear(&h->owner);
	dob_free(h->message);
	dob_free(h->display_name);
	memset(h, 0, sizeof(*h));
}

void history_add(struct broker *b, const struct dob_resolution *res, int64_t resolved_us,
		 int64_t first_seen_us, const struct dob_identity *owner, const char *display_name)
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
	entry_clear(h);
	h->episode_id = res->episode_id;
	h->job = res->job_id;
	h->action = res->action;
	h->by = res->resolved_by;
	h->state = res->new_state;
	h->hr = res->hresult;
	h->resolved_us = resolved_us;
	h->first_seen_us = first_seen_us;
	/* Without a copy of the owner (out of memory, or the job was gone at
	 * replay) only privileged callers are told who won. Texts lost to a
	 * failed allocation are only texts: the entry stays. */
	h->has_owner = owner && dob_identity_copy(&h->owner, owner) == 0;
	h->actor.session_id = res->actor.session_id;
	h->actor.pid = res->actor.pid;
	h->actor.client_name = dob_strdup(res->actor.client_name);
	h->message = res->message && *res->message ? dob_strdup(res->message) : NULL;
	h->display_name = display_name && *display_name ? dob_strdup(display_name) : NULL;
}

const struct resolved *history_at(const struct broker *b, size_t k)
{
	return &b->hist[(b->hist_head + k) % HISTORY_MAX];
}

const struct resolved *history_find(const struct broker *b, uint64_t episode_id)
{
	for (size_t k = 0; k < b->hist_n; k++) {
		const struct resolved *h = history_at(b, k);
		if (h->episode_id == episode_id)
			return h;
	}
	return NULL;
}

static void to_resolution(const struct resolved *h, struct dob_resolution *res)
{
	memset(res, 0, sizeof(*res));
	res->job_id = h->job;
	res->episode_id = h->episode_id;
	res->action = h->action;
	res->resolved_by = h->by;
	res->actor = h->actor;
	res->hresult = h->hr;
	res->new_state = h->state;
	res->message = h->message;
}

void history_record(const struct resolved *h, struct dob_jrec *r)
{
	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_DECISION;
	r->u.decision.episode_id = h->episode_id;
	to_resolution(h, &r->u.decision.resolution);
	r->u.decision.resolved_us = h->resolved_us;
	r->u.decision.first_seen_us = h->first_seen_us;
	r->u.decision.has_owner = h->has_owner;
	r->u.decision.owner = h->owner;
	r->u.decision.display_name = h->display_name;
}

void history_free(struct broker *b)
{
	if (!b->hist)
		return;
	for (size_t k = 0; k < HISTORY_MAX; k++)
		entry_clear(&b->hist[k]);
	dob_free(b->hist);
	b->hist = NULL;
	b->hist_n = b->hist_head = 0;
}

/* ---------------------------------------------------------------- ListHistory */

static bool may_see(const struct dob_identity *who, const struct resolved *h)
{
	return h->has_owner ? authz_can_see(who, &h->owner) : who->privileged;
}

static bool wanted(const struct dob_list_history *req, const struct resolved *h)
{
	if (!req->n_job_ids)
		return true;
	for (size_t i = 0; i < req->n_job_ids; i++)
		if (memcmp(&req->job_ids[i], &h->job, sizeof(h->job)) == 0)
			return true;
	return false;
}

void history_on_list(struct session *s, uint64_t corr, const struct dob_list_history *req)
{
	struct broker *b = s->b;
	size_t max = req->limit ? req->limit : DOB_MAX_HISTORY, n = 0;
	struct dob_history_entry *v;
	struct dob_history_reply *hr;
	struct frame *f;
	struct dob_msg m;

	if (max > b->hist_n)
		max = b->hist_n;
	v = dob_calloc(max ? max : 1, sizeof(*v));
	if (!v) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	/* Newest first; the entries borrow the ring's strings. */
	for (size_t k = b->hist_n; k-- > 0 && n < max;) {
		const struct resolved *h = history_at(b, k);

		if (!wanted(req, h) || !may_see(&s->ident, h))
			continue;
		to_resolution(h, &v[n].resolution);
		v[n].resolved_us = h->resolved_us;
		v[n].first_seen_us = h->first_seen_us;
		v[n].display_name = h->display_name;
		n++;
	}
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_HISTORY_REPLY;
	m.correlation_id = corr;
	hr = &m.u.history_reply;
	hr->status = DOB_STATUS_OK;
	hr->entries = v;
	hr->n_entries = n;
	/* Too many for one frame: the oldest are left out, and said so. */
	f = frame_encode_fit(b, &m, &hr->n_entries, &hr->message, "entries");
	dob_free(v);
	if (!f) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker could not encode the history");
		return;
	}
	session_push(s, f, 0, 0);
	frame_unref(f);
}

/* ---------------------------------------------------------------- ListUnmanaged */

static void reply_unmanaged(struct broker *b, uint64_t session_id, uint64_t corr,
			    enum dob_status st, uint32_t hr, struct dob_job_info *jobs,
			    size_t n, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 8, 9)))
#endif
	;

static void reply_unmanaged(struct broker *b, uint64_t session_id, uint64_t corr,
			    enum dob_status st, uint32_t hr, struct dob_job_info *jobs,
			    size_t n, const char *fmt, ...)
{
	struct session *s = session_find(b, session_id);
	char text[512] = "";
	struct dob_msg m;
	struct frame *f;
	va_list ap;

	if (!s || s->state != SESS_ACTIVE)
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
	}
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_UNMANAGED_REPLY;
	m.correlation_id = corr;
	m.u.unmanaged_reply.status = st;
	m.u.unmanaged_reply.hresult = hr;
	m.u.unmanaged_reply.jobs = jobs;
	m.u.unmanaged_reply.n_jobs = n;
	m.u.unmanaged_reply.message = text[0] ? text : NULL; /* borrowed */
	f = frame_encode_fit(b, &m, &m.u.unmanaged_reply.n_jobs, &m.u.unmanaged_reply.message,
			     "jobs");
	if (!f) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker could not encode the job list");
		return;
	}
	session_push(s, f, 0, 0);
	frame_unref(f);
}

void history_on_unmanaged(struct session *s, uint64_t corr)
{
	struct broker *b = s->b;
	static const struct dob_guid none;
	struct breq *q;
	int rc;

	if (!authz_can_adopt(&s->ident)) {
		reply_unmanaged(b, s->id, corr, DOB_STATUS_ACCESS_DENIED, 0, NULL, 0,
				"a sandboxed client cannot adopt jobs, so none are listed to it");
		return;
	}
	if (!b->be->ops->enumerate) {
		reply_unmanaged(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, NULL, 0,
				"the %s backend cannot list the jobs it has%s; adopt a job by its GUID",
				b->be->ops->name,
				b->be->ops->kind == DOB_BACKEND_DO
					? " (Delivery Optimization has no EnumJobs)" : "");
		return;
	}
	if (s->inflight >= b->cfg.max_inflight_requests) {
		reply_unmanaged(b, s->id, corr, DOB_STATUS_LIMIT_EXCEEDED, 0, NULL, 0,
				"%u requests in flight (limit %u)", s->inflight,
				b->cfg.max_inflight_requests);
		return;
	}
	q = breq_new(b, BR_ENUMERATE, &none);
	if (!q || dob_identity_copy(&q->requester, &s->ident)) {
		breq_free(b, q);
		reply_unmanaged(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, NULL, 0,
				"broker out of memory");
		return;
	}
	q->session_id = s->id;
	q->corr = corr;
	s->inflight++;
	if ((rc = breq_issue(b, q, NULL))) {
		s->inflight--;
		reply_unmanaged(b, s->id, corr, DOB_STATUS_BACKEND_ERROR, 0, NULL, 0,
				"the backend could not take the request: %s", dob_strerror(rc));
	}
}

static bool final_state(enum dob_job_state st)
{
	return st == DOB_STATE_ACKNOWLEDGED || st == DOB_STATE_CANCELLED;
}

/* The rule of AdoptJob's owner check (jobs.c): privileged callers adopt
 * any job, others their own user's, and a job whose owner the backend did
 * not say (the sim's jobs without owner=, a failed GetOwner) anyone's. */
static bool may_adopt(const struct dob_identity *who, const struct dob_job_info *j)
{
	if (who->privileged || !j->owner || !*j->owner)
		return true;
	return who->user_sid && strcmp(j->owner, who->user_sid) == 0;
}

void history_enumerate_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	struct dob_job_info *v = NULL;
	size_t n = 0;

	session_request_done(b, q->session_id);
	if (r->err) {
		reply_unmanaged(b, q->session_id, q->corr,
				r->err == -DOB_ETIMEDOUT ? DOB_STATUS_TIMEOUT
							 : DOB_STATUS_BACKEND_ERROR,
				r->hresult, NULL, 0, "the backend could not list its jobs: %s%s%s",
				dob_strerror(r->err), r->message ? ": " : "",
				r->message ? r->message : "");
		return;
	}
	if (r->hresult & 0x80000000u) {
		const char *name = broker_hr_name(b, r->hresult);
		reply_unmanaged(b, q->session_id, q->corr, DOB_STATUS_BACKEND_ERROR, r->hresult,
				NULL, 0, "EnumJobs failed: 0x%08X%s%s%s%s", r->hresult,
				name ? " " : "", name ? name : "", r->message ? ": " : "",
				r->message ? r->message : "");
		return;
	}
	if (r->n_jobs && !(v = dob_calloc(r->n_jobs, sizeof(*v)))) {
		reply_unmanaged(b, q->session_id, q->corr, DOB_STATUS_UNAVAILABLE, 0, NULL, 0,
				"broker out of memory");
		return;
	}
	/* The entries borrow the result's strings. */
	for (size_t i = 0; i < r->n_jobs && n < DOB_MAX_UNMANAGED; i++) {
		const struct dob_job_info *j = &r->jobs[i].info;

		if (jobs_find(b, &j->job_id) || final_state(j->state) ||
		    !may_adopt(&q->requester, j))
			continue;
		v[n++] = *j;
	}
	reply_unmanaged(b, q->session_id, q->corr, DOB_STATUS_OK, 0, v, n, NULL);
	dob_free(v);
}

void history_request_timeout(struct broker *b, struct breq *q)
{
	session_request_done(b, q->session_id);
	reply_unmanaged(b, q->session_id, q->corr, DOB_STATUS_TIMEOUT, 0, NULL, 0,
			"the backend did not list its jobs within %u ms",
			b->cfg.action_timeout_ms);
}

_Static_assert(HISTORY_MAX <= DOB_MAX_HISTORY, "one HistoryReply can carry the whole ring");
