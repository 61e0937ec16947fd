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

struct breq *breq_find(const struct broker *b, uint64_t id)
{
	for (struct breq *q = b->reqs; q; q = q->next)
		if (q->id == id)
			return q;
	return NULL;
}

void breq_unlink(struct broker *b, struct breq *q)
{
	for (struct breq **pp = &b->reqs; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			return;
		}
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

struct breq *breq_new(struct broker *b, enum breq_kind kind, const struct dob_guid *job)
{
	struct breq *q = dob_calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->b = b;
	q->id = ++b->next_req_id;
	q->kind = kind;
	q->job = *job;
	q->next = b->reqs;
	b->reqs = q;
	return q;
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
	q->next = NULL;
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
	if (rc) {
		struct breq *p;
		for (p = b->reqs; p && p != q; p = p->next)
			;
		if (p)
			breq_free(b, q);
	}
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
