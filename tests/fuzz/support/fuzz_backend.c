/*
 * tests/fuzz/support/fuzz_backend.c - see fuzz_backend.h.
 */
#include "fuzz_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"
#include "check.h"

struct fzb {
	struct fzb_world *w; /* borrowed */
	unsigned gen;
};

struct fzb_post {
	struct plat_msg hdr;
	struct fzb_world *w;
	unsigned gen;
	struct backend_result *r; /* owned, or */
	struct backend_event *ev; /* owned */
};

static void post_run(struct plat_msg *m)
{
	struct fzb_post *p = (struct fzb_post *)m;

	if (p->gen == p->w->gen && p->w->live) {
		if (p->r)
			p->w->sink.done(p->w->sink.ctx, p->r);
		else
			p->w->sink.event(p->w->sink.ctx, p->ev);
	} else {
		backend_result_free(p->r);
		backend_event_free(p->ev);
	}
	free(p);
}

static void post(struct fzb_world *w, struct backend_result *r, struct backend_event *ev)
{
	struct fzb_post *p = calloc(1, sizeof(*p));

	CHECK(p);
	p->hdr.run = post_run;
	p->w = w;
	p->gen = w->gen;
	p->r = r;
	p->ev = ev;
	CHECK(plat_post(w->loop, p) == 0);
}

static void fill_job(const struct fzb_job *j, struct backend_job *out)
{
	memset(out, 0, sizeof(*out));
	out->info.job_id = j->id;
	out->info.display_name = dob_strdup(j->name);
	out->info.type = j->type;
	out->info.state = j->state;
	out->info.owner = dob_strdup("S-1-5-21-1000");
	CHECK(out->info.display_name && out->info.owner);
	if (j->state == DOB_STATE_ERROR || j->state == DOB_STATE_TRANSIENT_ERROR) {
		char text[64];

		snprintf(text, sizeof(text), "fuzz error 0x%08X", j->hr);
		out->has_error = true;
		out->error.context = DOB_CONTEXT_REMOTE_FILE;
		out->error.hresult = j->hr;
		out->error.description = dob_strdup(text);
		CHECK(out->error.description);
	}
	out->callback_us = plat_wall_us();
}

static struct backend_result *result(uint64_t req, enum backend_req_kind kind, int err,
				     uint32_t hr, const struct fzb_job *j)
{
	struct backend_result *r = dob_calloc(1, sizeof(*r));

	CHECK(r);
	r->req_id = req;
	r->kind = kind;
	r->err = err;
	r->hresult = hr;
	if (j) {
		r->has_job = true;
		fill_job(j, &r->job);
	}
	return r;
}

/* Posts r, or holds it. */
static void answer(struct fzb_world *w, struct backend_result *r)
{
	bool hold = r->kind == BACKEND_REQ_ACT ? w->hold_acts : w->hold_other;

	if (hold && w->n_held < FZB_MAX_HELD) {
		w->held[w->n_held++] = r;
		return;
	}
	post(w, r, NULL);
}

static struct fzb_job *find(struct fzb_world *w, const struct dob_guid *id)
{
	for (unsigned i = 0; i < w->n_jobs; i++)
		if (!memcmp(&w->jobs[i].id, id, sizeof(*id)))
			return w->jobs[i].gone ? NULL : &w->jobs[i];
	return NULL;
}

void fzb_world_reset(struct fzb_world *w)
{
	for (unsigned i = 0; i < w->n_held; i++)
		backend_result_free(w->held[i]);
	memset(w, 0, sizeof(*w));
}

struct fzb_job *fzb_add(struct fzb_world *w, const struct dob_guid *id, const char *name,
			enum dob_job_type type, enum dob_job_state state)
{
	struct fzb_job *j;

	if (w->n_jobs == FZB_MAX_JOBS)
		return NULL;
	j = &w->jobs[w->n_jobs++];
	memset(j, 0, sizeof(*j));
	if (id) {
		j->id = *id;
	} else {
		j->id.b[0] = 0xA0;
		j->id.b[15] = (uint8_t)w->n_jobs;
	}
	snprintf(j->name, sizeof(j->name), "%s", name ? name : "");
	j->type = type;
	j->state = state;
	j->hr = state == DOB_STATE_ERROR ? 0x80190194u : 0;
	return j;
}

void fzb_event(struct fzb_world *w, unsigned i, enum backend_event_kind kind)
{
	struct backend_event *ev;

	if (!w->live)
		return;
	ev = dob_calloc(1, sizeof(*ev));
	CHECK(ev);
	ev->kind = kind;
	if (kind != BACKEND_EV_MISSED && i < w->n_jobs)
		fill_job(&w->jobs[i], &ev->job);
	post(w, NULL, ev);
}

void fzb_release(struct fzb_world *w, bool reverse)
{
	unsigned n = w->n_held;

	w->n_held = 0;
	for (unsigned k = 0; k < n; k++) {
		struct backend_result *r = w->held[reverse ? n - 1 - k : k];

		if (w->live)
			post(w, r, NULL);
		else
			backend_result_free(r);
	}
}

/* ---------------------------------------------------------------- ops */

static int fzb_start(struct backend *b, struct plat_loop *loop, const struct backend_sink *sink)
{
	struct fzb *f = b->impl;

	CHECK(sink->clock.timers);
	f->w->loop = loop;
	f->w->sink = *sink;
	f->w->live = f->gen == f->w->gen;
	return 0;
}

static void fzb_stop(struct backend *b)
{
	struct fzb *f = b->impl;

	if (f->gen == f->w->gen)
		f->w->live = false;
}

static void fzb_free(struct backend *b)
{
	struct fzb *f = b->impl;

	if (f->gen == f->w->gen) {
		f->w->live = false;
		/* what it held dies with it */
		for (unsigned i = 0; i < f->w->n_held; i++)
			backend_result_free(f->w->held[i]);
		f->w->n_held = 0;
	}
	free(f);
	free(b);
}

static int fzb_submit(struct backend *b, uint64_t req, const struct dob_submit_job *spec)
{
	struct fzb_world *w = ((struct fzb *)b->impl)->w;
	struct fzb_job *j = fzb_add(w, NULL, spec->display_name, spec->type, DOB_STATE_QUEUED);

	if (!j)
		answer(w, result(req, BACKEND_REQ_SUBMIT, 0, 0x80070008u, NULL)); /* out of memory */
	else
		answer(w, result(req, BACKEND_REQ_SUBMIT, 0, 0, j));
	return 0;
}

static int lookup(struct backend *b, uint64_t req, const struct dob_guid *id,
		  enum backend_req_kind kind)
{
	struct fzb_world *w = ((struct fzb *)b->impl)->w;
	struct fzb_job *j = find(w, id);

	if (!j)
		answer(w, result(req, kind, -DOB_ENOTFOUND, DOB_BG_E_NOT_FOUND, NULL));
	else
		answer(w, result(req, kind, 0, 0, j));
	return 0;
}

static int fzb_attach(struct backend *b, uint64_t req, const struct dob_guid *id)
{
	return lookup(b, req, id, BACKEND_REQ_ATTACH);
}

static int fzb_query(struct backend *b, uint64_t req, const struct dob_guid *id)
{
	return lookup(b, req, id, BACKEND_REQ_QUERY);
}

static int fzb_act(struct backend *b, uint64_t req, const struct dob_guid *id,
		   enum dob_action action)
{
	struct fzb_world *w = ((struct fzb *)b->impl)->w;
	struct fzb_job *j = find(w, id);

	if (!j) {
		answer(w, result(req, BACKEND_REQ_ACT, -DOB_ENOTFOUND, DOB_BG_E_NOT_FOUND, NULL));
		return 0;
	}
	if (w->act_hr) {
		answer(w, result(req, BACKEND_REQ_ACT, 0, w->act_hr, j));
		return 0;
	}
	if (backend_action_allowed(action, j->state, j->type, NULL, 0)) {
		answer(w, result(req, BACKEND_REQ_ACT, 0, DOB_BG_E_INVALID_STATE, j));
		return 0;
	}
	switch (action) {
	case DOB_ACTION_CANCEL:
		j->state = DOB_STATE_CANCELLED;
		break;
	case DOB_ACTION_COMPLETE:
		j->state = DOB_STATE_ACKNOWLEDGED;
		break;
	case DOB_ACTION_SUSPEND:
		j->state = DOB_STATE_SUSPENDED;
		break;
	default:
		j->state = DOB_STATE_QUEUED;
		break;
	}
	answer(w, result(req, BACKEND_REQ_ACT, 0, 0, j));
	return 0;
}

static int fzb_detach(struct backend *b, uint64_t req, const struct dob_guid *id)
{
	struct fzb_world *w = ((struct fzb *)b->impl)->w;

	answer(w, result(req, BACKEND_REQ_DETACH, 0, 0, NULL));
	return 0;
}

static const struct backend_ops fzb_ops = {
	.name = "fuzz",
	.kind = DOB_BACKEND_SIM,
	.start = fzb_start,
	.stop = fzb_stop,
	.free = fzb_free,
	.submit = fzb_submit,
	.attach = fzb_attach,
	.query = fzb_query,
	.act = fzb_act,
	.detach = fzb_detach,
	.status_of = backend_status_of,
	.hresult_name = backend_hresult_name,
};

struct backend *fzb_new(struct fzb_world *w)
{
	struct backend *b = calloc(1, sizeof(*b));
	struct fzb *f = calloc(1, sizeof(*f));

	CHECK(b && f);
	/* results held for an older object die with it */
	for (unsigned i = 0; i < w->n_held; i++)
		backend_result_free(w->held[i]);
	w->n_held = 0;
	f->w = w;
	f->gen = ++w->gen;
	w->live = false;
	b->ops = &fzb_ops;
	b->impl = f;
	return b;
}
