/*
 * broker/core/jobs.c - the table of managed jobs, what the backend says
 * about them, and the job requests (SubmitJob, AdoptJob, ListJobs).
 *
 * A job is managed from a successful submit or adopt (journaled before the
 * reply) until it reaches a final state or the backend no longer knows it
 * (JournalJobRemoved). Every observation of a job (callback, sweep read,
 * action result) goes through jobs_observe(), which keeps episodes in step
 * with the job's state.
 */
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "dob/trust.h"
#include "broker_int.h"
#include "decide.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

/* ---------------------------------------------------------------- table */

static size_t slot(const struct broker *b, const struct dob_guid *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < DOB_GUID_LEN; i++)
		h = (h ^ id->b[i]) * 16777619u;
	return h & (b->jobs_cap - 1);
}

struct mjob *jobs_find(const struct broker *b, const struct dob_guid *id)
{
	if (!b->jobs_cap)
		return NULL;
	for (struct mjob *j = b->jobs[slot(b, id)]; j; j = j->next)
		if (memcmp(&j->id, id, sizeof(*id)) == 0)
			return j;
	return NULL;
}

static int grow(struct broker *b)
{
	size_t cap = b->jobs_cap ? b->jobs_cap * 2 : 64, old = b->jobs_cap;
	struct mjob **t = dob_calloc(cap, sizeof(*t)), **prev = b->jobs;

	if (!t)
		return -DOB_ENOMEM;
	b->jobs = t;
	b->jobs_cap = cap;
	for (size_t i = 0; i < old; i++) {
		struct mjob *j = prev[i], *next;
		for (; j; j = next) {
			size_t k = slot(b, &j->id);
			next = j->next;
			j->next = t[k];
			t[k] = j;
		}
	}
	dob_free(prev);
	return 0;
}

int jobs_insert(struct broker *b, struct mjob *j)
{
	size_t k;

	if ((!b->jobs_cap || (b->n_jobs + 1) * 4 > b->jobs_cap * 3) && grow(b)) /* load <= 3/4 */
		return -DOB_ENOMEM;
	k = slot(b, &j->id);
	j->next = b->jobs[k];
	b->jobs[k] = j;
	b->n_jobs++;
	return 0;
}

static void unlink_job(struct broker *b, struct mjob *j)
{
	struct mjob **pp = &b->jobs[slot(b, &j->id)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			b->n_jobs--;
			return;
		}
}

struct mjob *mjob_new(const struct dob_guid *id, const struct dob_identity *owner,
		      const struct dob_policy *policy, const char *display_name,
		      enum dob_job_type type)
{
	struct mjob *j = dob_calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->id = *id;
	if (policy)
		j->policy = *policy;
	j->type = type;
	if (dob_identity_copy(&j->owner, owner) || !(j->display_name = dob_strdup(display_name))) {
		mjob_free(j);
		return NULL;
	}
	return j;
}

void mjob_free(struct mjob *j)
{
	if (!j)
		return;
	dob_identity_clear(&j->owner);
	dob_free(j->display_name);
	backend_job_clear(&j->last);
	dob_free(j);
}

void jobs_forget(struct broker *b, struct mjob *j)
{
	unlink_job(b, j);
	if (j->ep) {
		episode_free(b, j->ep);
		b->n_pending--;
	}
	mjob_free(j);
}

void jobs_free_all(struct broker *b)
{
	for (size_t i = 0; i < b->jobs_cap; i++) {
		struct mjob *j = b->jobs[i], *next;
		for (; j; j = next) {
			next = j->next;
			episode_free(b, j->ep);
			mjob_free(j);
		}
	}
	dob_free(b->jobs);
	b->jobs = NULL;
	b->jobs_cap = b->n_jobs = 0;
}

size_t jobs_count_owned(const struct broker *b, const struct dob_identity *who)
{
	size_t n = 0;

	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			if (authz_same_principal(&j->owner, who))
				n++;
	return n;
}

int jobs_ids(const struct broker *b, struct dob_guid **out, size_t *n)
{
	struct dob_guid *ids = dob_malloc((b->n_jobs ? b->n_jobs : 1) * sizeof(*ids));
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!ids)
		return -DOB_ENOMEM;
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			ids[k++] = j->id;
	*out = ids;
	*n = k;
	return 0;
}

void jobs_record(const struct mjob *j, struct dob_jrec *r)
{
	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_JOB;
	r->u.job.job_id = j->id;
	r->u.job.owner = j->owner;
	r->u.job.policy = j->policy;
	r->u.job.display_name = j->display_name;
	r->u.job.type = j->type;
	r->u.job.resumes_used = j->resumes_used;
}

int jobs_journal(struct broker *b, const struct mjob *j)
{
	struct dob_jrec r;

	jobs_record(j, &r);
	return broker_journal(b, &r);
}

void jobs_remove(struct broker *b, struct mjob *j, const char *why)
{
	struct dob_jrec r;
	char gs[DOB_GUID_STR_LEN];
	int rc;

	dob_guid_format(&j->id, gs);
	if (j->ep) {
		/* Ended outside any decision of ours (a decision of ours that
		 * was journaled has resolved it already, also across a
		 * restart): the service did it. */
		static const struct dob_actor service_actor = { 0, "service", 0 };
		enum dob_job_state st = j->have_last ? j->last.info.state : DOB_STATE_CANCELLED;
		if (j->ep->claim_sched) {
			sched_free(b, j->ep->claim_sched);
		}
		episode_resolve(b, j, DOB_RESOLVED_JOB_LEFT_ERROR, DOB_ACTION_UNSPECIFIED,
				&service_actor, 0, st, why);
	}
	for (struct sched *sc = b->scheds, *next; sc; sc = next) {
		next = sc->next;
		if (memcmp(&sc->job, &j->id, sizeof(j->id)) == 0)
			sched_free(b, sc);
	}
	memset(&r, 0, sizeof(r));
	r.type = DOB_JREC_JOB_REMOVED;
	r.u.job_removed = j->id;
	rc = broker_journal(b, &r);
	log_info("job %s (%s): no longer managed: %s%s%s", gs, j->display_name, why,
		 rc ? "; journal: " : "", rc ? dob_strerror(rc) : "");
	unlink_job(b, j);
	mjob_free(j);
}

void jobs_summary(const struct broker *b, const struct mjob *j, struct dob_job_summary *out)
{
	memset(out, 0, sizeof(*out));
	if (j->have_last)
		out->job = j->last.info;
	out->job.job_id = j->id;
	if (!out->job.display_name || !*out->job.display_name)
		out->job.display_name = j->display_name;
	out->job.type = j->type;
	out->pending_episode_id = j->ep ? j->ep->id : 0;
	out->owner = j->owner;
	out->policy = episode_policy(b, j);
}

/* ---------------------------------------------------------------- observations */

static bool is_final(enum dob_job_state s)
{
	return s == DOB_STATE_ACKNOWLEDGED || s == DOB_STATE_CANCELLED;
}

static void publish_modified(struct broker *b, const struct mjob *j, const struct backend_job *bj)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_MODIFIED;
	m.u.job_modified.job = bj->info;
	if (!m.u.job_modified.job.display_name || !*m.u.job_modified.job.display_name)
		m.u.job_modified.job.display_name = j->display_name;
	m.u.job_modified.backend = b->be->ops->kind;
	m.u.job_modified.transient = bj->info.state == DOB_STATE_TRANSIENT_ERROR;
	if (m.u.job_modified.transient && bj->has_error) {
		m.u.job_modified.has_error = true;
		m.u.job_modified.error = bj->error;
	}
	m.u.job_modified.n_field_errors = bj->n_field_errors;
	m.u.job_modified.field_errors = bj->field_errors;
	router_publish(b, &m, DOB_EVENT_JOB_MODIFIED, j);
}

static void publish_transferred(struct broker *b, const struct mjob *j,
				const struct backend_job *bj)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_JOB_TRANSFERRED;
	m.u.job_transferred.job = bj->info;
	if (!m.u.job_transferred.job.display_name || !*m.u.job_transferred.job.display_name)
		m.u.job_transferred.job.display_name = j->display_name;
	m.u.job_transferred.backend = b->be->ops->kind;
	router_publish(b, &m, DOB_EVENT_JOB_TRANSFERRED, j);
}

/* jobs_observe, once j->last holds the observation bj (or, out of memory,
 * the one before): had_prev and prev say what was known before. */
static void observe(struct broker *b, struct mjob *j, const struct backend_job *bj, bool had_prev,
		    enum dob_job_state prev, enum obs_src src, int64_t at_us, uint64_t seq)
{
	enum dob_job_state st = bj->info.state;

	if (st == DOB_STATE_ERROR) {
		if (!j->ep) {
			if (decide_stale(seq, j->settled_seq)) {
				/* Older than the last decision: maybe a stale report
				 * of the error that decision ended, maybe a new one.
				 * A fresh read tells (an error is never dropped). */
				log_debug("job %s: error report older than the last decision; "
					  "reading the job again", j->display_name);
				jobs_read_now(b, j, j->settled_seq);
			} else {
				episode_open(b, j, bj, at_us, seq);
			}
		} else if (src == OBS_EV_ERROR) {
			episode_repeat(b, j->ep, at_us);
		} else if (j->ep->phase == CLAIM_LOST && src == OBS_READ &&
			   !decide_stale(seq, j->ep->lost_seq)) {
			episode_claim_input(b, j, CI_READ_ERROR, 0, st,
					    "the backend never answered the action, and the job is "
					    "still in ERROR");
		}
	} else if (j->ep && !decide_stale(seq, j->ep->opened_seq)) {
		char msg[160];
		bool lost_read = j->ep->phase == CLAIM_LOST && src == OBS_READ &&
				 !decide_stale(seq, j->ep->lost_seq);
		snprintf(msg, sizeof(msg), "the job left the error state (now %s)%s",
			 dob_state_name(st),
			 lost_read ? "; the action's call never answered" : "");
		episode_claim_input(b, j, lost_read ? CI_READ_OUT : CI_LEFT_ERROR, 0, st, msg);
	}
	switch (src) {
	case OBS_EV_TRANSFERRED:
		publish_transferred(b, j, bj);
		break;
	case OBS_EV_MODIFIED:
		publish_modified(b, j, bj);
		break;
	case OBS_READ:
		/* The sweep reports what no callback said: a transient spell
		 * (once), or a change of state. */
		if (st == DOB_STATE_TRANSIENT_ERROR) {
			if (!j->transient)
				publish_modified(b, j, bj);
		} else if (had_prev && st != prev && st != DOB_STATE_ERROR) {
			publish_modified(b, j, bj);
		}
		break;
	case OBS_EV_ERROR:
		break;
	}
	if (src != OBS_EV_ERROR)
		j->transient = st == DOB_STATE_TRANSIENT_ERROR;
	/* Final: no longer ours to manage, unless our own action on it is in
	 * flight; its result will end the episode in its name, then remove. */
	if (is_final(st) && !(j->ep && episode_busy(j->ep)))
		jobs_remove(b, j, st == DOB_STATE_CANCELLED ? "cancelled" : "acknowledged");
}

void jobs_set_last(struct mjob *j, const struct backend_job *bj)
{
	struct backend_job copy;

	if (backend_job_copy(&copy, bj) == 0) {
		/* Keep the id even when the backend could not read it. */
		copy.info.job_id = j->id;
		backend_job_clear(&j->last);
		j->last = copy;
		j->have_last = true;
	}
}

void jobs_observe(struct broker *b, struct mjob *j, const struct backend_job *bj,
		  enum obs_src src, int64_t at_us, uint64_t seq)
{
	bool had_prev = j->have_last;
	enum dob_job_state prev = had_prev ? j->last.info.state : bj->info.state;

	jobs_set_last(j, bj);
	observe(b, j, bj, had_prev, prev, src, at_us, seq);
}

void jobs_observe_take(struct broker *b, struct mjob *j, struct backend_job *bj,
		       enum obs_src src, int64_t at_us, uint64_t seq)
{
	bool had_prev = j->have_last;
	enum dob_job_state prev = had_prev ? j->last.info.state : bj->info.state;

	/* Moved, not copied: the copy was a tenth of an event's instructions
	 * (docs/performance.md). bj is left empty. From here on the
	 * observation is j->last, which only this function and the results of
	 * backend requests (never delivered during it: they are posted) replace. */
	backend_job_clear(&j->last);
	j->last = *bj;
	memset(bj, 0, sizeof(*bj));
	j->last.info.job_id = j->id;
	j->last.callback_us = 0;
	j->last.seq = 0;
	j->have_last = true;
	observe(b, j, &j->last, had_prev, prev, src, at_us, seq);
}

void jobs_read_now(struct broker *b, struct mjob *j, uint64_t after)
{
	struct dob_guid id = j->id;
	struct breq *q;

	for (q = b->reqs; q; q = q->next)
		if (q->kind == BR_QUERY && memcmp(&q->job, &id, sizeof(id)) == 0 &&
		    !decide_stale(q->issued_seq, after))
			return; /* a read recent enough is on its way */
	q = breq_new(b, BR_QUERY, &id);
	if (!q)
		return;
	j->query_inflight = true; /* cleared by the result, also one that comes at once */
	if (breq_issue(b, q, NULL) != 0 && (j = jobs_find(b, &id)))
		j->query_inflight = false;
}

bool jobs_result_not_found(const struct backend_result *r)
{
	return r->err == -DOB_ENOTFOUND ||
	       (r->err == 0 && backend_hresult_canonical(r->hresult) == DOB_BG_E_NOT_FOUND);
}

static bool result_ok(const struct backend_result *r)
{
	return r->err == 0 && !(r->hresult & 0x80000000u);
}

/* "BG_E_INVALID_STATE (0x80200002): text" or the dob error. */
static void result_text(const struct broker *b, const struct backend_result *r, char *buf,
			size_t len)
{
	const char *name;

	if (r->err) {
		snprintf(buf, len, "%s%s%s", dob_strerror(r->err), r->message ? ": " : "",
			 r->message ? r->message : "");
		return;
	}
	name = broker_hr_name(b, r->hresult);
	snprintf(buf, len, "%s%s0x%08X%s%s%s", name ? name : "", name ? " (" : "", r->hresult,
		 name ? ")" : "", r->message && *r->message ? ": " : "",
		 r->message ? r->message : "");
}

/* ---------------------------------------------------------------- sweep */

static void sweep_read_over(struct broker *b, const struct breq *q);

void jobs_attach_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	struct mjob *j;
	char text[512];

	sweep_read_over(b, q); /* first: it may issue requests */
	j = jobs_find(b, &q->job);
	if (!j)
		return;
	j->attach_inflight = false;
	if (jobs_result_not_found(r)) {
		jobs_remove(b, j, "the backend no longer knows the job");
		return;
	}
	if (!result_ok(r)) {
		result_text(b, r, text, sizeof(text));
		/* The service may refuse because the job is final (CANCELLED,
		 * ACKNOWLEDGED: a callback cannot be set on it). A read tells:
		 * a final job is settled and forgotten, not retried forever. */
		log_warn("job %s: re-attach failed (%s); reading the job, retrying at the next "
			 "sweep", j->display_name, text);
		if (r->has_job)
			jobs_observe(b, j, &r->job, OBS_READ, q->issued_us, q->issued_seq);
		else
			jobs_read_now(b, j, q->issued_seq);
		return;
	}
	j->attached = true;
	if (r->has_job)
		jobs_observe(b, j, &r->job, OBS_READ, q->issued_us, q->issued_seq);
}

void jobs_query_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	struct mjob *j;
	char text[512];

	sweep_read_over(b, q); /* first: it may issue requests */
	j = jobs_find(b, &q->job);
	if (!j)
		return;
	j->query_inflight = false;
	if (jobs_result_not_found(r)) {
		jobs_remove(b, j, "the backend no longer knows the job");
		return;
	}
	if (!result_ok(r) || !r->has_job) {
		result_text(b, r, text, sizeof(text));
		log_debug("job %s: sweep read failed: %s", j->display_name, text);
		return;
	}
	jobs_observe(b, j, &r->job, OBS_READ, q->issued_us, q->issued_seq);
}

/* At most this many sweep reads in flight: a restart with 10,000 managed
 * jobs re-attaches them a window at a time, so the loop answers clients
 * (the first handshake) between windows instead of after all of them. */
#define SWEEP_WINDOW 64

static void sweep_pump(struct broker *b)
{
	while (b->sweep_pos < b->sweep_n && b->sweep_inflight < SWEEP_WINDOW) {
		struct dob_guid id = b->sweep_ids[b->sweep_pos++];
		struct mjob *j = jobs_find(b, &id);
		struct breq *q;
		bool attach;

		if (!j || j->attach_inflight || j->query_inflight)
			continue;
		attach = !j->attached;
		q = breq_new(b, attach ? BR_ATTACH : BR_QUERY, &j->id);
		if (!q) {
			b->sweep_pos = b->sweep_n; /* out of memory: the next sweep retries */
			break;
		}
		q->sweep = true;
		b->sweep_inflight++;
		/* Marked before the issue: a backend that answers at once clears
		 * it in the result's handler. (Looking the request up afterwards
		 * made a restart with 10,000 jobs quadratic.) */
		if (attach)
			j->attach_inflight = true;
		else
			j->query_inflight = true;
		if (breq_issue(b, q, NULL) != 0) {
			b->sweep_inflight--;
			if ((j = jobs_find(b, &id)) != NULL) {
				if (attach)
					j->attach_inflight = false;
				else
					j->query_inflight = false;
			}
		}
	}
	if (b->sweep_pos >= b->sweep_n && b->sweep_ids) {
		dob_free(b->sweep_ids);
		b->sweep_ids = NULL;
		b->sweep_n = b->sweep_pos = 0;
	}
}

/* A sweep read is over (answered, failed or timed out): the next goes out. */
static void sweep_read_over(struct broker *b, const struct breq *q)
{
	if (!q->sweep)
		return;
	b->sweep_inflight--;
	sweep_pump(b);
}

void jobs_sweep(struct broker *b, bool again)
{
	struct dob_guid *ids;
	size_t n;

	if (b->sweep_ids && !again)
		return; /* the last one is still going: let it finish */
	if (jobs_ids(b, &ids, &n))
		return;
	dob_free(b->sweep_ids);
	b->sweep_ids = ids;
	b->sweep_n = n;
	b->sweep_pos = 0;
	sweep_pump(b);
}

void jobs_sweep_free(struct broker *b)
{
	dob_free(b->sweep_ids);
	b->sweep_ids = NULL;
	b->sweep_n = b->sweep_pos = b->sweep_inflight = 0;
}

void jobs_request_timeout(struct broker *b, struct breq *q)
{
	struct mjob *j = jobs_find(b, &q->job);
	char gs[DOB_GUID_STR_LEN];

	dob_guid_format(&q->job, gs);
	switch (q->kind) {
	case BR_ATTACH:
		if (j)
			j->attach_inflight = false;
		sweep_read_over(b, q);
		log_warn("job %s: re-attach timed out after %u ms", gs, b->cfg.action_timeout_ms);
		break;
	case BR_QUERY:
		if (j)
			j->query_inflight = false;
		sweep_read_over(b, q);
		log_warn("job %s: sweep read timed out after %u ms", gs, b->cfg.action_timeout_ms);
		break;
	case BR_SUBMIT:
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_TIMEOUT, 0, NULL,
				  "the backend did not create the job within %u ms",
				  b->cfg.action_timeout_ms);
		session_request_done(b, q->session_id);
		log_warn("submit of '%s' timed out; a late result is ignored", q->display_name);
		break;
	case BR_ADOPT_QUERY:
	case BR_ADOPT_ATTACH:
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_TIMEOUT, 0, NULL,
				  "the backend did not answer within %u ms",
				  b->cfg.action_timeout_ms);
		session_request_done(b, q->session_id);
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- requests */

static bool policy_valid(const struct dob_policy *p, char *why, size_t len)
{
	if (p->kind == DOB_POLICY_RESUME && p->exhausted == DOB_POLICY_RESUME) {
		snprintf(why, len, "policy.exhausted cannot be resume");
		return false;
	}
	if (p->backoff_ms > DOB_MAX_DELAY_MS) {
		snprintf(why, len, "policy.backoff_ms: %u is above %u", p->backoff_ms,
			 DOB_MAX_DELAY_MS);
		return false;
	}
	return true;
}

/* Common refusals of SubmitJob and AdoptJob; true when refused. */
static bool refuse_new_job(struct session *s, uint64_t corr, const struct dob_policy *p)
{
	struct broker *b = s->b;
	size_t owned;
	char why[128];

	if (!policy_valid(p, why, sizeof(why))) {
		session_reply_job(b, s->id, corr, DOB_STATUS_INVALID_ARGUMENT, 0, NULL, "%s", why);
		return true;
	}
	if (b->journal_full) {
		session_reply_job(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
				  "journal: no space left; the broker takes no new jobs until it has room");
		return true;
	}
	if (s->inflight >= b->cfg.max_inflight_requests) {
		session_reply_job(b, s->id, corr, DOB_STATUS_LIMIT_EXCEEDED, 0, NULL,
				  "%u requests in flight (limit %u)", s->inflight,
				  b->cfg.max_inflight_requests);
		return true;
	}
	owned = jobs_count_owned(b, &s->ident) + breq_count_for(b, &s->ident);
	if (owned >= b->cfg.max_jobs_per_identity) {
		session_reply_job(b, s->id, corr, DOB_STATUS_LIMIT_EXCEEDED, 0, NULL,
				  "this identity already has %llu jobs (limit %u)", (unsigned long long)owned,
				  b->cfg.max_jobs_per_identity);
		return true;
	}
	return false;
}

static int fill_requester(struct breq *q, struct session *s, uint64_t corr,
			  const struct dob_policy *p, const char *name, enum dob_job_type type)
{
	q->session_id = s->id;
	q->corr = corr;
	q->policy = *p;
	q->type = type;
	if (dob_identity_copy(&q->requester, &s->ident))
		return -DOB_ENOMEM;
	q->display_name = dob_strdup(name);
	return q->display_name ? 0 : -DOB_ENOMEM;
}

/*
 * SubmitJob runs in two steps, because the confused-deputy check of the
 * local paths may block (Windows reads security descriptors and asks
 * AccessCheck) and must not stall the loop:
 *   jobs_on_submit  validates what needs no file system, counts the request
 *                   in flight (so a session's checks are bounded by
 *                   max_inflight_requests) and starts plat_check_paths with
 *                   a copy of the request;
 *   submit_checked  on the loop thread, when the check is done: finds the
 *                   session by id (it may have gone meanwhile: nothing is
 *                   sent then), answers a refusal, or re-checks the limits
 *                   that may have changed meanwhile and issues the backend
 *                   request.
 * Other clients are served while a check runs.
 */
struct path_check {
	struct broker *b;           /* borrowed: outlives the loop's callbacks */
	uint64_t session_id, corr;
	struct dob_msg req;         /* owned copy; u.submit_job */
	const char **paths;         /* owned array of borrowed strings (req's) */
};

static void path_check_free(struct path_check *pc)
{
	if (!pc)
		return;
	dob_msg_clear(&pc->req);
	dob_free(pc->paths);
	dob_free(pc);
}

/* A refused path: the same specific codes and texts whatever the platform. */
static void reply_path_refused(struct broker *b, uint64_t session_id, uint64_t corr, int rc,
			       size_t i, const char *path)
{
	if (rc == -DOB_EINVAL)
		session_reply_job(b, session_id, corr, DOB_STATUS_INVALID_ARGUMENT, 0, NULL,
				  "files[%llu].local_path %s: not an absolute local path "
				  "(relative, UNC, device, \\\\?\\, alternate-stream and "
				  "reserved-name paths are refused)",
				  (unsigned long long)i, path);
	else if (rc == -DOB_EACCES)
		session_reply_job(b, session_id, corr, DOB_STATUS_PATH_DENIED, 0, NULL,
				  "files[%llu].local_path %s: the caller may not write there",
				  (unsigned long long)i, path);
	else
		session_reply_job(b, session_id, corr, DOB_STATUS_PATH_DENIED, 0, NULL,
				  "files[%llu].local_path %s: %s", (unsigned long long)i, path,
				  rc == -DOB_ENOTFOUND ? "its directory does not exist"
						       : dob_strerror(rc));
}

static void submit_checked(void *ctx, int status, size_t index)
{
	struct path_check *pc = ctx;
	struct broker *b = pc->b;
	const struct dob_submit_job *req = &pc->req.u.submit_job;
	struct session *s = session_find(b, pc->session_id);
	static const struct dob_guid none;
	struct breq *q;
	size_t owned;
	int rc;

	if (!s || b->stopped || status == -DOB_ECLOSED) {
		/* Gone while its paths were checked (or the broker is
		 * stopping): nobody to answer, and nothing is created. */
		if (s)
			session_request_done(b, pc->session_id);
		path_check_free(pc);
		return;
	}
	if (status) {
		reply_path_refused(b, s->id, pc->corr, status, index,
				   index < req->n_files ? pc->paths[index] : "");
		goto done;
	}
	/* What may have changed while the check ran. */
	if (b->journal_full) {
		session_reply_job(b, s->id, pc->corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
				  "journal: no space left; the broker takes no new jobs until it has room");
		goto done;
	}
	owned = jobs_count_owned(b, &s->ident) + breq_count_for(b, &s->ident);
	if (owned >= b->cfg.max_jobs_per_identity) {
		session_reply_job(b, s->id, pc->corr, DOB_STATUS_LIMIT_EXCEEDED, 0, NULL,
				  "this identity already has %llu jobs (limit %u)",
				  (unsigned long long)owned, b->cfg.max_jobs_per_identity);
		goto done;
	}
	q = breq_new(b, BR_SUBMIT, &none);
	if (!q || fill_requester(q, s, pc->corr, &req->policy, req->display_name, req->type)) {
		breq_free(b, q);
		session_reply_job(b, s->id, pc->corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
				  "broker out of memory");
		goto done;
	}
	/* Still counted in flight (since jobs_on_submit): jobs_submit_done or
	 * the request's timeout ends it. */
	rc = breq_issue(b, q, req);
	if (rc) {
		session_reply_job(b, s->id, pc->corr, DOB_STATUS_BACKEND_ERROR, 0, NULL,
				  "the backend could not take the job: %s", dob_strerror(rc));
		goto done;
	}
	path_check_free(pc);
	return;
done:
	session_request_done(b, pc->session_id);
	path_check_free(pc);
}

void jobs_on_submit(struct session *s, uint64_t corr, const struct dob_submit_job *req)
{
	struct broker *b = s->b;
	struct path_check *pc;
	struct dob_msg m;
	int rc;

	if (refuse_new_job(s, corr, &req->policy))
		return;
	if (req->n_files == 0 || !req->display_name || !*req->display_name) {
		session_reply_job(b, s->id, corr, DOB_STATUS_INVALID_ARGUMENT, 0, NULL,
				  "submit_job needs a display name and at least one file");
		return;
	}
	/* Trust rules (docs/security.md, "Confused deputy"): http(s) only; a
	 * sandboxed caller needs the internet capability or the allow-list. */
	for (size_t i = 0; i < req->n_files; i++) {
		if (!dob_url_http(req->files[i].remote_url)) {
			session_reply_job(b, s->id, corr, DOB_STATUS_INVALID_ARGUMENT, 0, NULL,
					  "files[%llu].remote_url: only http:// and https:// URLs "
					  "are accepted",
					  (unsigned long long)i);
			return;
		}
	}
	{
		char why[256];
		if (!authz_can_submit(&s->ident, b->cfg.submit_allow, b->cfg.n_submit_allow, why,
				      sizeof(why))) {
			session_reply_job(b, s->id, corr, DOB_STATUS_ACCESS_DENIED, 0, NULL, "%s",
					  why);
			return;
		}
	}
	/* Confused deputy: the client must be able to write each path itself.
	 * Checked off the loop thread; submit_checked goes on from there. */
	pc = dob_calloc(1, sizeof(*pc));
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_SUBMIT_JOB;
	m.u.submit_job = *req; /* borrowed for the copy */
	if (!pc || dob_msg_copy(&pc->req, &m) ||
	    !(pc->paths = dob_calloc(req->n_files, sizeof(*pc->paths)))) {
		path_check_free(pc);
		session_reply_job(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
				  "broker out of memory");
		return;
	}
	pc->b = b;
	pc->session_id = s->id;
	pc->corr = corr;
	for (size_t i = 0; i < req->n_files; i++) {
		const char *p = pc->req.u.submit_job.files[i].local_path;
		pc->paths[i] = p ? p : "";
	}
	s->inflight++;
	rc = plat_check_paths(b->loop, &s->ident, pc->paths, req->n_files, submit_checked, pc);
	if (rc) {
		s->inflight--;
		path_check_free(pc);
		session_reply_job(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
				  "cannot check the local paths: %s", dob_strerror(rc));
	}
}

/* After a submit or adopt succeeded: manage the job, journal it, reply. */
static void take_job(struct broker *b, struct breq *q, const struct backend_job *bj)
{
	char gs[DOB_GUID_STR_LEN], text[128];
	const char *name = bj->info.display_name && *bj->info.display_name
				   ? bj->info.display_name
				   : q->display_name;
	struct mjob *j;
	int rc;

	dob_guid_format(&bj->info.job_id, gs);
	if (jobs_find(b, &bj->info.job_id)) {
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_ALREADY_MANAGED, 0,
				  jobs_find(b, &bj->info.job_id), "job %s is already managed", gs);
		return;
	}
	j = mjob_new(&bj->info.job_id, &q->requester, &q->policy, name,
		     q->kind == BR_SUBMIT ? q->type : bj->info.type);
	if (!j || jobs_insert(b, j)) {
		mjob_free(j);
		rc = -DOB_ENOMEM;
		goto refuse;
	}
	j->attached = true;
	rc = jobs_journal(b, j);
	if (rc) {
		unlink_job(b, j);
		mjob_free(j);
		goto refuse;
	}
	log_info("job %s ('%s'): %s by %s (pid %u)", gs, name,
		 q->kind == BR_SUBMIT ? "submitted" : "adopted",
		 q->requester.user_sid ? q->requester.user_sid : "?", q->requester.pid);
	/* Observed first, so the reply carries the state the backend read
	 * (an adopted job in ERROR is answered ERROR, with its episode). */
	jobs_observe(b, j, bj, OBS_READ, q->issued_us, q->issued_seq);
	j = jobs_find(b, &bj->info.job_id);
	if (!j) {
		/* Final already: settled and forgotten by the observation. */
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_OK, 0, NULL,
				  "%s; it is already %s and no longer managed",
				  q->kind == BR_SUBMIT ? "job created" : "job adopted",
				  dob_state_name(bj->info.state));
		return;
	}
	session_reply_job(b, q->session_id, q->corr, DOB_STATUS_OK, 0, j, "%s",
			  q->kind == BR_SUBMIT ? "job created" : "job adopted");
	return;
refuse:
	snprintf(text, sizeof(text), "%s", rc == -DOB_ENOSPC ? "no space left" : dob_strerror(rc));
	log_error("job %s: cannot journal it (%s): refusing it", gs, text);
	session_reply_job(b, q->session_id, q->corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
			  "journal: %s", text);
	if (q->kind == BR_SUBMIT) {
		/* We created it and nobody will manage it: cancel it. */
		struct breq *c = breq_new(b, BR_DISCARD, &bj->info.job_id);
		if (c) {
			c->action = DOB_ACTION_CANCEL;
			breq_issue(b, c, NULL);
		}
	}
}

void jobs_submit_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	char text[512];

	session_request_done(b, q->session_id);
	if (r->err == -DOB_EACCES) {
		/* Service mode: the backend could not act as the client
		 * (backend.h, submit_as); nothing was created. */
		result_text(b, r, text, sizeof(text));
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_ACCESS_DENIED, r->hresult,
				  NULL, "the job cannot be created as the client: %s", text);
		return;
	}
	if (!result_ok(r) || !r->has_job) {
		result_text(b, r, text, sizeof(text));
		session_reply_job(b, q->session_id, q->corr,
				  r->err ? DOB_STATUS_BACKEND_ERROR : broker_status_of(b, r->hresult) ==
						  DOB_STATUS_OK ? DOB_STATUS_BACKEND_ERROR
								: broker_status_of(b, r->hresult),
				  r->hresult, NULL, "the backend could not create the job: %s",
				  r->has_job || !result_ok(r) ? text : "no job returned");
		return;
	}
	take_job(b, q, &r->job);
}

void jobs_on_adopt(struct session *s, uint64_t corr, const struct dob_adopt_job *req)
{
	struct broker *b = s->b;
	char gs[DOB_GUID_STR_LEN];
	struct mjob *j;
	struct breq *q;
	int rc;

	dob_guid_format(&req->job_id, gs);
	if (!authz_can_adopt(&s->ident)) {
		session_reply_job(b, s->id, corr, DOB_STATUS_ACCESS_DENIED, 0, NULL,
				  "sandboxed callers may not adopt jobs: adopting replaces the "
				  "callback of a job they may not own");
		return;
	}
	j = jobs_find(b, &req->job_id);
	if (j) {
		if (authz_can_see(&s->ident, &j->owner))
			session_reply_job(b, s->id, corr, DOB_STATUS_ALREADY_MANAGED, 0, j,
					  "job %s is already managed", gs);
		else
			session_reply_job(b, s->id, corr, DOB_STATUS_ACCESS_DENIED, 0, NULL,
					  "job %s is managed for another identity", gs);
		return;
	}
	if (breq_pending(b, BR_ADOPT_QUERY, &req->job_id) ||
	    breq_pending(b, BR_ADOPT_ATTACH, &req->job_id)) {
		session_reply_job(b, s->id, corr, DOB_STATUS_ALREADY_MANAGED, 0, NULL,
				  "job %s is being adopted by another request", gs);
		return;
	}
	if (refuse_new_job(s, corr, &req->policy))
		return;
	q = breq_new(b, BR_ADOPT_QUERY, &req->job_id);
	if (!q || fill_requester(q, s, corr, &req->policy, "", DOB_JOB_DOWNLOAD)) {
		breq_free(b, q);
		session_reply_job(b, s->id, corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
				  "broker out of memory");
		return;
	}
	s->inflight++;
	rc = breq_issue(b, q, NULL);
	if (rc) {
		s->inflight--;
		session_reply_job(b, s->id, corr, DOB_STATUS_BACKEND_ERROR, 0, NULL,
				  "the backend could not read job %s: %s", gs, dob_strerror(rc));
	}
}

static void adopt_failed(struct broker *b, struct breq *q, struct backend_result *r,
			 const char *step)
{
	char gs[DOB_GUID_STR_LEN], text[512];

	dob_guid_format(&q->job, gs);
	session_request_done(b, q->session_id);
	if (jobs_result_not_found(r)) {
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_UNKNOWN_JOB, r->hresult,
				  NULL, "the backend has no job %s", gs);
		return;
	}
	result_text(b, r, text, sizeof(text));
	session_reply_job(b, q->session_id, q->corr,
			  backend_hresult_canonical(r->hresult) == DOB_E_ACCESSDENIED
				  ? DOB_STATUS_ACCESS_DENIED
				  : DOB_STATUS_BACKEND_ERROR,
			  r->hresult, NULL, "%s job %s failed: %s", step, gs, text);
}

void jobs_adopt_query_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	const char *owner;
	struct breq *a;
	char gs[DOB_GUID_STR_LEN];
	int rc;

	if (!result_ok(r) || !r->has_job) {
		adopt_failed(b, q, r, "reading");
		return;
	}
	dob_guid_format(&q->job, gs);
	/* The broker may be more privileged than the caller: adopting a job
	 * the service says belongs to another user is refused. */
	owner = r->job.info.owner;
	if (!q->requester.privileged && (!owner || !*owner)) {
		/* Fails closed: an owner that cannot be read is nobody's. */
		session_request_done(b, q->session_id);
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_ACCESS_DENIED, 0, NULL,
				  "the owner of job %s cannot be read; adopting it is refused", gs);
		return;
	}
	if (!q->requester.privileged && owner && *owner && q->requester.user_sid &&
	    strcmp(owner, q->requester.user_sid) != 0) {
		session_request_done(b, q->session_id);
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_ACCESS_DENIED, 0, NULL,
				  "job %s belongs to %s, not to the caller", gs, owner);
		return;
	}
	if (jobs_find(b, &q->job)) {
		session_request_done(b, q->session_id);
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_ALREADY_MANAGED, 0, NULL,
				  "job %s is already managed", gs);
		return;
	}
	a = breq_new(b, BR_ADOPT_ATTACH, &q->job);
	if (!a)
		goto nomem;
	a->session_id = q->session_id;
	a->corr = q->corr;
	a->policy = q->policy;
	a->type = r->job.info.type;
	if (dob_identity_copy(&a->requester, &q->requester) ||
	    !(a->display_name = dob_strdup(r->job.info.display_name))) {
		breq_free(b, a);
		goto nomem;
	}
	rc = breq_issue(b, a, NULL);
	if (rc) {
		session_request_done(b, q->session_id);
		session_reply_job(b, q->session_id, q->corr, DOB_STATUS_BACKEND_ERROR, 0, NULL,
				  "the backend could not attach job %s: %s", gs, dob_strerror(rc));
	}
	return;
nomem:
	session_request_done(b, q->session_id);
	session_reply_job(b, q->session_id, q->corr, DOB_STATUS_UNAVAILABLE, 0, NULL,
			  "broker out of memory");
}

void jobs_adopt_attach_done(struct broker *b, struct breq *q, struct backend_result *r)
{
	if (!result_ok(r) || !r->has_job) {
		adopt_failed(b, q, r, "attaching");
		return;
	}
	session_request_done(b, q->session_id);
	take_job(b, q, &r->job);
}

void jobs_on_list(struct session *s, uint64_t corr)
{
	struct broker *b = s->b;
	struct dob_job_summary *v;
	struct dob_msg m;
	struct frame *f;
	size_t n = 0, visible = 0;
	char cut[128];

	v = dob_calloc(b->n_jobs ? b->n_jobs : 1, sizeof(*v));
	if (!v) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			if (authz_can_see(&s->ident, &j->owner) && visible++ < DOB_MAX_LIST_JOBS)
				jobs_summary(b, j, &v[n++]);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_JOBS_REPLY;
	m.correlation_id = corr;
	m.u.list_jobs_reply.status = DOB_STATUS_OK;
	m.u.list_jobs_reply.jobs = v;
	m.u.list_jobs_reply.n_jobs = n;
	if (visible > n) {
		/* A reply holds DOB_MAX_LIST_JOBS at most: say so rather than
		 * present a part of the list as the whole. */
		snprintf(cut, sizeof(cut), "truncated: %llu of %llu jobs (at most %d in one reply)",
			 (unsigned long long)n, (unsigned long long)visible, DOB_MAX_LIST_JOBS);
		m.u.list_jobs_reply.message = cut;
	}
	f = frame_encode_fit(b, &m, &m.u.list_jobs_reply.n_jobs, &m.u.list_jobs_reply.message,
			     "jobs");
	dob_free(v);
	if (!f) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker could not encode the job list");
		return;
	}
	session_push(s, f, 0, 0);
	frame_unref(f);
}
