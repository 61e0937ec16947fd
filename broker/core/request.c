/*
 * broker/core/request.c - the request table: every call the broker has made
 * to the backend and not yet heard back about (struct breq, request.h),
 * with its timeout. Results come back through the backend sink
 * (broker.c: sink_done), which finds the request by id here.
 */
#include <string.h>

#include "authz.h"
#include "broker_int.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

/* The table is a list (for walks) and a hash of chains by id (for the
 * result of each request: with 10,000 re-attaches in flight at a restart,
 * a walk per result made the start quadratic). Ids are sequential, so the
 * low bits are the hash. */
#define REQ_HASH_MIN 64u

static size_t slot_of(const struct broker *b, uint64_t id)
{
	return (size_t)id & (b->req_hcap - 1);
}

static bool creates(enum breq_kind k)
{
	return k == BR_SUBMIT || k == BR_ADOPT_QUERY || k == BR_ADOPT_ATTACH;
}

/* Doubles the buckets when the table holds more requests than buckets; a
 * failed allocation keeps the old ones (longer chains, still correct). */
static int grow(struct broker *b)
{
	size_t cap = b->req_hcap ? b->req_hcap * 2 : REQ_HASH_MIN;
	struct breq **h;

	if (b->req_hcap && b->n_reqs < b->req_hcap)
		return 0;
	h = dob_calloc(cap, sizeof(*h));
	if (!h)
		return b->req_hcap ? 0 : -DOB_ENOMEM;
	for (size_t i = 0; i < b->req_hcap; i++)
		for (struct breq *q = b->req_hash[i], *n; q; q = n) {
			n = q->hnext;
			q->hnext = h[(size_t)q->id & (cap - 1)];
			h[(size_t)q->id & (cap - 1)] = q;
		}
	dob_free(b->req_hash);
	b->req_hash = h;
	b->req_hcap = cap;
	return 0;
}

struct breq *breq_find(const struct broker *b, uint64_t id)
{
	if (!b->req_hcap)
		return NULL;
	for (struct breq *q = b->req_hash[slot_of(b, id)]; q; q = q->hnext)
		if (q->id == id)
			return q;
	return NULL;
}

void breq_unlink(struct broker *b, struct breq *q)
{
	if (!q->linked)
		return;
	for (struct breq **pp = &b->req_hash[slot_of(b, q->id)]; *pp; pp = &(*pp)->hnext)
		if (*pp == q) {
			*pp = q->hnext;
			break;
		}
	if (q->prev)
		q->prev->next = q->next;
	else
		b->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->next = q->prev = q->hnext = NULL;
	q->linked = false;
	b->n_reqs--;
	if (creates(q->kind))
		b->n_creating--;
}

void breq_free(struct broker *b, struct breq *q)
{
	if (!q)
		return;
	breq_unlink(b, q);
	if (q->timeout)
		timer_cancel(b->timers, q->timeout);
	dob_actor_clear(&q->actor);
	dob_identity_clear(&q->requester);
	dob_free(q->display_name);
	dob_free(q);
}

void breq_table_free(struct broker *b)
{
	while (b->reqs)
		breq_free(b, b->reqs);
	dob_free(b->req_hash);
	b->req_hash = NULL;
	b->req_hcap = 0;
}

struct breq *breq_new(struct broker *b, enum breq_kind kind, const struct dob_guid *job)
{
	struct breq *q;

	if (grow(b))
		return NULL;
	q = dob_calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->b = b;
	q->id = ++b->next_req_id;
	q->kind = kind;
	q->job = *job;
	q->next = b->reqs;
	if (b->reqs)
		b->reqs->prev = q;
	b->reqs = q;
	q->hnext = b->req_hash[slot_of(b, q->id)];
	b->req_hash[slot_of(b, q->id)] = q;
	q->linked = true;
	b->n_reqs++;
	if (creates(kind))
		b->n_creating++;
	return q;
}

bool breq_creating(const struct broker *b)
{
	return b->n_creating > 0;
}

static void breq_timed_out(void *arg)
{
	struct breq *q = arg;
	struct broker *b = q->b;

	q->timeout = NULL;
	if (q->kind == BR_ACT && episode_act_timeout(b, q))
		return; /* kept: its claim holds until the backend answers */
	breq_unlink(b, q);
	if (q->kind == BR_ACT)
		;
	else if (q->kind == BR_DISCARD)
		log_warn("cancel of an unjournaled job timed out");
	else if (q->kind == BR_ENUMERATE)
		history_request_timeout(b, q);
	else
		jobs_request_timeout(b, q);
	breq_free(b, q);
	if (b->n_early)
		broker_early_settle(b);
}

int breq_issue(struct broker *b, struct breq *q, const void *arg)
{
	const struct backend_ops *ops = b->be->ops;
	struct backend *be = b->be;
	uint64_t id = q->id;
	int rc;

	q->issued_us = broker_wall_us();
	q->issued_seq = broker_next_seq(b);
	if (timer_add(b->timers, plat_now_ms() + b->cfg.action_timeout_ms, breq_timed_out, q,
		      &q->timeout)) {
		breq_free(b, q);
		return -DOB_ENOMEM;
	}
	switch (q->kind) {
	case BR_SUBMIT:
		if (!arg)
			rc = -DOB_EINVAL;
		else if (b->cfg.service_mode && ops->submit_as) /* as the client */
			rc = ops->submit_as(be, id, arg, &q->requester);
		else
			rc = ops->submit(be, id, arg);
		break;
	case BR_ADOPT_QUERY:
	case BR_QUERY:
		rc = ops->query(be, id, &q->job);
		break;
	case BR_ADOPT_ATTACH:
	case BR_ATTACH:
		rc = ops->attach(be, id, &q->job);
		break;
	case BR_ACT:
	case BR_DISCARD:
		rc = ops->act(be, id, &q->job,
			      q->action == DOB_ACTION_RESUME_AFTER_DELAY ? DOB_ACTION_RESUME
									 : q->action);
		break;
	case BR_ENUMERATE:
		/* Every user's: the core shows each caller only what it may see. */
		rc = ops->enumerate ? ops->enumerate(be, id, true) : -DOB_ESTATE;
		break;
	default:
		rc = -DOB_EINVAL;
		break;
	}
	/* On success q may already be answered and freed (a backend that
	 * answers synchronously): do not touch it. */
	if (rc && (q = breq_find(b, id)) != NULL)
		breq_free(b, q);
	return rc;
}

bool breq_pending(const struct broker *b, enum breq_kind kind, const struct dob_guid *job)
{
	for (const struct breq *q = b->reqs; q; q = q->next)
		if (q->kind == kind && memcmp(&q->job, job, sizeof(*job)) == 0)
			return true;
	return false;
}

size_t breq_count_for(const struct broker *b, const struct dob_identity *who)
{
	size_t n = 0;

	for (const struct breq *q = b->reqs; q; q = q->next)
		if ((q->kind == BR_SUBMIT || q->kind == BR_ADOPT_QUERY ||
		     q->kind == BR_ADOPT_ATTACH) &&
		    authz_same_principal(&q->requester, who))
			n++;
	return n;
}
