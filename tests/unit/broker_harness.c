/*
 * tests/unit/broker_harness.c - see broker_harness.h.
 */
#include "broker_harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unistd.h>

#include "config.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_files.h"
#include "fake_plat.h"
#include "log.h"
#include "platform.h"

/* ---------------------------------------------------------------- fake backend */

/* Posts of a backend that was freed are dropped, not delivered. */
static unsigned live_gen, next_gen;

struct fb_post {
	struct plat_msg hdr;
	unsigned gen;
	struct fake_backend *fb;
	struct backend_result *r;
	struct backend_event *ev;
};

static void fb_post_run(struct plat_msg *m)
{
	struct fb_post *p = (struct fb_post *)m;

	if (p->gen == live_gen && !p->fb->stopped) {
		if (p->r)
			p->fb->sink.done(p->fb->sink.ctx, p->r);
		else
			p->fb->sink.event(p->fb->sink.ctx, p->ev);
	} else {
		backend_result_free(p->r);
		backend_event_free(p->ev);
	}
	free(p);
}

static void fb_post(struct fake_backend *fb, struct backend_result *r, struct backend_event *ev)
{
	struct fb_post *p;

	if (!r && !ev)
		return; /* out of memory (allocation sweeps): never answered, as in sim */
	p = calloc(1, sizeof(*p));
	cr_assert_not_null(p);
	p->hdr.run = fb_post_run;
	p->gen = live_gen;
	p->fb = fb;
	p->r = r;
	p->ev = ev;
	cr_assert_eq(plat_post(fb->loop, p), 0);
}

struct fb_job *fb_find(struct fake_backend *fb, const struct dob_guid *id)
{
	for (size_t i = 0; i < fb->n_jobs; i++)
		if (memcmp(&fb->jobs[i].id, id, sizeof(*id)) == 0)
			return &fb->jobs[i];
	return NULL;
}

static void fill_job(const struct fb_job *j, struct backend_job *out)
{
	memset(out, 0, sizeof(*out));
	out->info.job_id = j->id;
	out->info.display_name = dob_strdup(j->name);
	out->info.type = j->type;
	out->info.state = j->state;
	out->info.owner = dob_strdup(j->owner);
	if (j->state == DOB_STATE_ERROR || j->state == DOB_STATE_TRANSIENT_ERROR) {
		char text[64];
		snprintf(text, sizeof(text), "fake error 0x%08X", j->hr);
		out->has_error = true;
		out->error.context = j->context;
		out->error.hresult = j->hr;
		out->error.description = dob_strdup(j->desc ? j->desc : text);
	}
	out->callback_us = plat_wall_us();
}

static struct backend_result *result(uint64_t req, enum backend_req_kind kind, int err,
				     uint32_t hr, const struct fb_job *j)
{
	struct backend_result *r = dob_calloc(1, sizeof(*r));

	if (!r)
		return NULL; /* like sim: the request is never answered */
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

struct fb_job *fb_add(struct fake_backend *fb, const char *name, enum dob_job_type type,
		      enum dob_job_state state)
{
	struct fb_job *j;

	cr_assert_lt(fb->n_jobs, FB_MAX_JOBS);
	j = &fb->jobs[fb->n_jobs];
	memset(j, 0, sizeof(*j));
	j->id.b[0] = 0xA0;
	j->id.b[15] = (uint8_t)(fb->n_jobs + 1);
	j->id.b[14] = (uint8_t)((fb->n_jobs + 1) >> 8);
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->type = type;
	j->state = state;
	fb->n_jobs++;
	return j;
}

void fb_event(struct fake_backend *fb, struct fb_job *j, enum backend_event_kind kind)
{
	struct backend_event *ev = dob_calloc(1, sizeof(*ev));

	cr_assert_not_null(ev);
	ev->kind = kind;
	fill_job(j, &ev->job);
	fb_post(fb, NULL, ev);
}

void fb_error(struct fake_backend *fb, struct fb_job *j, uint32_t hr)
{
	j->state = DOB_STATE_ERROR;
	j->hr = hr;
	j->context = DOB_CONTEXT_REMOTE_FILE;
	fb_event(fb, j, BACKEND_EV_ERROR);
}

static int fb_start(struct backend *b, struct plat_loop *loop, const struct backend_sink *sink)
{
	struct fake_backend *fb = b->impl;

	fb->loop = loop;
	fb->sink = *sink;
	fb->started = true;
	cr_assert_not_null(sink->clock.timers, "the core hands its timers to backends");
	return 0;
}

static void fb_stop(struct backend *b)
{
	((struct fake_backend *)b->impl)->stopped = true;
}

static void fb_free(struct backend *b)
{
	struct fake_backend *fb = b->impl;

	for (size_t i = 0; i < fb->n_held; i++)
		backend_result_free(fb->held[i]);
	free(fb);
}

static int fb_submit(struct backend *b, uint64_t req, const struct dob_submit_job *spec)
{
	struct fake_backend *fb = b->impl;
	struct fb_job *j = fb_add(fb, spec->display_name, spec->type, DOB_STATE_QUEUED);
	struct backend_result *r = result(req, BACKEND_REQ_SUBMIT, 0, 0, j);

	fb->n_submit++;
	if (fb->hold_submits) {
		cr_assert_lt(fb->n_held, 16);
		if (r)
			fb->held[fb->n_held++] = r;
		return 0;
	}
	fb_post(fb, r, NULL);
	return 0;
}

/* Service mode: the requester is recorded; submit_as_err plays a backend
 * that cannot act as the client. */
static int fb_submit_as(struct backend *b, uint64_t req, const struct dob_submit_job *spec,
			const struct dob_identity *who)
{
	struct fake_backend *fb = b->impl;

	fb->n_submit_as++;
	snprintf(fb->submit_as_sid, sizeof(fb->submit_as_sid), "%s",
		 who->user_sid ? who->user_sid : "");
	fb->submit_as_pid = who->pid;
	if (fb->submit_as_err) {
		struct backend_result *r = result(req, BACKEND_REQ_SUBMIT, fb->submit_as_err,
						  0x80070005u, NULL);
		if (r)
			r->message = dob_strdup("impersonating the client (pid 7): no live connection");
		fb_post(fb, r, NULL);
		return 0;
	}
	return fb_submit(b, req, spec);
}

static int fb_lookup(struct backend *b, uint64_t req, const struct dob_guid *id,
		     enum backend_req_kind kind)
{
	struct fake_backend *fb = b->impl;
	struct fb_job *j = fb_find(fb, id);

	if (kind == BACKEND_REQ_ATTACH)
		fb->n_attach++;
	else
		fb->n_query++;
	if (!j || j->gone)
		fb_post(fb, result(req, kind, -DOB_ENOTFOUND, DOB_BG_E_NOT_FOUND, NULL), NULL);
	else if (kind == BACKEND_REQ_ATTACH &&
		 (j->state == DOB_STATE_CANCELLED || j->state == DOB_STATE_ACKNOWLEDGED))
		/* SetNotifyInterface on a final job: BG_E_INVALID_STATE (do-api.md). */
		fb_post(fb, result(req, kind, 0, DOB_BG_E_INVALID_STATE, NULL), NULL);
	else
		fb_post(fb, result(req, kind, 0, 0, j), NULL);
	return 0;
}

static int fb_attach(struct backend *b, uint64_t req, const struct dob_guid *id)
{
	return fb_lookup(b, req, id, BACKEND_REQ_ATTACH);
}

static int fb_query(struct backend *b, uint64_t req, const struct dob_guid *id)
{
	return fb_lookup(b, req, id, BACKEND_REQ_QUERY);
}

static void act_done(struct fake_backend *fb, struct backend_result *r)
{
	if (!fb->hold_acts) {
		fb_post(fb, r, NULL);
		return;
	}
	cr_assert_lt(fb->n_held, 16);
	if (r)
		fb->held[fb->n_held++] = r;
}

void fb_release(struct fake_backend *fb)
{
	for (size_t i = 0; i < fb->n_held; i++)
		fb_post(fb, fb->held[i], NULL);
	fb->n_held = 0;
	fb->hold_acts = false;
	fb->hold_submits = false;
	fb->hold_enumerate = false;
}

static int fb_act(struct backend *b, uint64_t req, const struct dob_guid *id,
		  enum dob_action action)
{
	struct fake_backend *fb = b->impl;
	struct fb_job *j = fb_find(fb, id);

	fb->n_act++;
	fb->last_action = action;
	fb->last_act_job = *id;
	if (!j || j->gone) {
		act_done(fb, result(req, BACKEND_REQ_ACT, -DOB_ENOTFOUND, 0, NULL));
		return 0;
	}
	if (fb->act_hr) {
		act_done(fb, result(req, BACKEND_REQ_ACT, 0, fb->act_hr, j));
		return 0;
	}
	if (backend_action_allowed(action, j->state, j->type, NULL, 0)) {
		act_done(fb, result(req, BACKEND_REQ_ACT, 0, DOB_BG_E_INVALID_STATE, j));
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
	act_done(fb, result(req, BACKEND_REQ_ACT, 0, 0, j));
	return 0;
}

static int fb_detach(struct backend *b, uint64_t req, const struct dob_guid *id)
{
	fb_post(b->impl, result(req, BACKEND_REQ_DETACH, 0, 0, NULL), NULL);
	return 0;
}

/* EnumJobs: every job the fake knows (gone ones excepted), or enum_hr. */
static int fb_enumerate(struct backend *b, uint64_t req, bool all_users)
{
	struct fake_backend *fb = b->impl;
	struct backend_result *r = result(req, BACKEND_REQ_ENUMERATE, 0, fb->enum_hr, NULL);

	fb->n_enumerate++;
	fb->enum_all_users = all_users;
	if (r && !fb->enum_hr) {
		r->jobs = dob_calloc(fb->n_jobs ? fb->n_jobs : 1, sizeof(*r->jobs));
		cr_assert_not_null(r->jobs);
		for (size_t i = 0; i < fb->n_jobs; i++)
			if (!fb->jobs[i].gone)
				fill_job(&fb->jobs[i], &r->jobs[r->n_jobs++]);
	}
	if (fb->hold_enumerate) {
		cr_assert_lt(fb->n_held, 16);
		if (r)
			fb->held[fb->n_held++] = r;
		return 0;
	}
	fb_post(fb, r, NULL);
	return 0;
}

static const struct backend_ops fb_ops = {
	.name = "fake",
	.kind = DOB_BACKEND_SIM,
	.start = fb_start,
	.stop = fb_stop,
	.free = fb_free,
	.submit = fb_submit,
	.submit_as = fb_submit_as,
	.attach = fb_attach,
	.query = fb_query,
	.act = fb_act,
	.detach = fb_detach,
	.enumerate = fb_enumerate,
	.status_of = backend_status_of,
	.hresult_name = backend_hresult_name,
};

static struct fake_backend *fb_new(void)
{
	struct fake_backend *fb = calloc(1, sizeof(*fb));

	cr_assert_not_null(fb);
	fb->base.ops = &fb_ops;
	fb->base.impl = fb;
	live_gen = ++next_gen;
	return fb;
}

/* ---------------------------------------------------------------- harness */

static void start_with(struct harness *h, struct backend *be)
{
	struct plat_handlers ph;
	char err[256] = "";

	cr_assert_eq(broker_new(&h->b, &h->cfg, be), 0);
	broker_handlers(h->b, &ph);
	cr_assert_eq(plat_loop_new(&h->loop, &ph), 0);
	cr_assert_eq(broker_start(h->b, h->loop, err, sizeof(err)), 0, "start: %s", err);
	fake_pump(h->loop);
}

static void start(struct harness *h, struct fake_backend *fb)
{
	h->fb = fb;
	start_with(h, &fb->base);
}

static void base_setup(struct harness *h, void (*tweak)(struct broker_config *c))
{
	const char *tmp = getenv("TMPDIR");

	memset(h, 0, sizeof(*h));
	fake_plat_reset();
	fake_files_reset();
	dob_log_set_level(getenv("DOB_TEST_LOG") ? DOB_LOG_DEBUG : DOB_LOG_ERROR);
	snprintf(h->dir, sizeof(h->dir), "%s/dob-broker-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(h->dir));
	config_defaults(&h->cfg);
	h->cfg.state_dir = dob_strdup(h->dir);
	h->cfg.endpoint = dob_strdup("test-endpoint");
	h->cfg.rate_limit = 0;
	if (tweak)
		tweak(&h->cfg);
}

void h_setup(struct harness *h, void (*tweak)(struct broker_config *c))
{
	base_setup(h, tweak);
	start(h, fb_new());
}

void h_setup_sim(struct harness *h, const char *scenario)
{
	struct backend *be = NULL;
	char path[300], err[256] = "";
	FILE *f;

	base_setup(h, NULL);
	snprintf(path, sizeof(path), "%s/scenario.txt", h->dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(scenario, f);
	fclose(f);
	cr_assert_eq(sim_backend_new(&be, path, err, sizeof(err)), 0, "sim: %s", err);
	unlink(path);
	h->fb = NULL;
	start_with(h, be);
}

static void stop(struct harness *h)
{
	if (h->loop) {
		fake_path_release(h->loop); /* their callbacks need the broker */
		fake_pump(h->loop);
	}
	broker_free(h->b);
	live_gen = 0; /* posts still queued die with their backend */
	plat_loop_free(h->loop);
	h->b = NULL;
	h->loop = NULL;
	h->fb = NULL;
}

void h_restart(struct harness *h)
{
	struct fake_backend *fb = fb_new();

	memcpy(fb->jobs, h->fb->jobs, sizeof(fb->jobs));
	fb->n_jobs = h->fb->n_jobs;
	live_gen = 0; /* the old backend's posts die with it */
	stop(h);
	live_gen = next_gen;
	start(h, fb);
}

static void rm_tree(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;

	if (!dp)
		return;
	while ((e = readdir(dp))) {
		char p[512];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
		unlink(p);
	}
	closedir(dp);
	rmdir(d);
}

void h_teardown(struct harness *h)
{
	stop(h);
	config_clear(&h->cfg);
	fake_files_reset();
	if (h->dir[0])
		rm_tree(h->dir);
}

/* ---------------------------------------------------------------- identities */

static char sids[16][64];
static unsigned sid_i;

static char *sid_str(const char *fmt, uint32_t n)
{
	char *s = sids[sid_i++ % 16];

	snprintf(s, 64, fmt, n);
	return s;
}

struct dob_identity h_user(uint32_t uid)
{
	struct dob_identity id;

	memset(&id, 0, sizeof(id));
	id.pid = 100 + uid;
	id.uid = uid;
	id.user_sid = sid_str("S-1-5-21-%u", uid);
	return id;
}

struct dob_identity h_sandboxed(uint32_t uid, const char *appcontainer)
{
	struct dob_identity id = h_user(uid);

	id.appcontainer_sid = sid_str(appcontainer, 0);
	id.sandboxed = true;
	id.integrity_rid = 0x1000;
	return id;
}

struct dob_identity h_admin(void)
{
	struct dob_identity id = h_user(0);

	id.privileged = true;
	id.user_sid = sid_str("S-1-5-18%.0u", 0);
	return id;
}

/* ---------------------------------------------------------------- clients */

void cl_connect(struct client *cl, struct harness *h, const struct dob_identity *id)
{
	memset(cl, 0, sizeof(*cl));
	cl->h = h;
	cl->next_corr = 1;
	dob_decoder_init(&cl->dec, DOB_MAX_FRAME_CEILING);
	cl->c = fake_connect(h->loop, id);
	cr_assert_not_null(cl->c);
}

void cl_free(struct client *cl)
{
	dob_decoder_free(&cl->dec);
	free(cl->rx);
	cl->rx = NULL;
	for (size_t i = 0; i < cl->n_backlog; i++)
		dob_msg_clear(&cl->backlog[i]);
	free(cl->backlog);
	cl->backlog = NULL;
	cl->n_backlog = 0;
}

void cl_send_bytes(struct client *cl, const void *p, size_t n)
{
	fake_conn_send(cl->c, p, n);
	fake_pump(cl->h->loop);
}

void cl_send(struct client *cl, const struct dob_msg *m)
{
	struct dob_codec_error e;
	uint8_t *buf;
	size_t len;

	cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_CEILING, &buf, &len, &e), 0, "encode: %s",
		     e.reason);
	cl_send_bytes(cl, buf, len);
	dob_free(buf);
}

static int recv_wire(struct client *cl, struct dob_msg *out)
{
	const uint8_t *p;
	size_t n;

	fake_pump(cl->h->loop);
	n = fake_conn_take(cl->c, &p);
	if (n) {
		if (cl->rx_n > cl->rx_off)
			memmove(cl->rx, cl->rx + cl->rx_off, cl->rx_n - cl->rx_off);
		cl->rx_n -= cl->rx_off;
		cl->rx_off = 0;
		cl->rx = realloc(cl->rx, cl->rx_n + n);
		memcpy(cl->rx + cl->rx_n, p, n);
		cl->rx_n += n;
	}
	while (cl->rx_off < cl->rx_n) {
		struct dob_codec_error e;
		size_t used = 0;
		int rc = dob_decoder_feed(&cl->dec, cl->rx + cl->rx_off, cl->rx_n - cl->rx_off,
					  &used, out, &e);
		cr_assert_geq(rc, 0, "the broker sent a bad frame: %s", e.reason);
		cl->rx_off += used;
		if (rc == 1)
			return 1;
	}
	memset(out, 0, sizeof(*out));
	return 0;
}

int cl_recv(struct client *cl, struct dob_msg *out)
{
	if (cl->n_backlog) {
		*out = cl->backlog[0];
		memmove(cl->backlog, cl->backlog + 1, --cl->n_backlog * sizeof(*out));
		return 1;
	}
	return recv_wire(cl, out);
}

void cl_expect(struct client *cl, enum dob_msg_type t, struct dob_msg *out)
{
	struct dob_msg m;

	cr_assert_eq(cl_recv(cl, &m), 1, "expected %s, got nothing", dob_msg_type_name(t));
	cr_assert_eq(m.type, t, "expected %s, got %s%s%s", dob_msg_type_name(t),
		     dob_msg_type_name(m.type), m.type == DOB_MSG_PROTOCOL_ERROR ? ": " : "",
		     m.type == DOB_MSG_PROTOCOL_ERROR ? m.u.protocol_error.message : "");
	if (out)
		*out = m;
	else
		dob_msg_clear(&m);
}

void cl_expect_nothing(struct client *cl)
{
	struct dob_msg m;

	if (cl_recv(cl, &m)) {
		enum dob_msg_type t = m.type;
		dob_msg_clear(&m);
		cr_assert_fail("expected nothing, got %s", dob_msg_type_name(t));
	}
}

void cl_skip_to(struct client *cl, enum dob_msg_type t, struct dob_msg *out)
{
	for (int i = 0; i < 10000; i++) {
		struct dob_msg m;
		cr_assert_eq(cl_recv(cl, &m), 1, "expected %s, ran out", dob_msg_type_name(t));
		if (m.type == t) {
			*out = m;
			return;
		}
		dob_msg_clear(&m);
	}
	cr_assert_fail("no %s", dob_msg_type_name(t));
}

uint32_t cl_hello(struct client *cl, const char *name, enum dob_role role,
		  const struct dob_filter *filter)
{
	struct dob_msg m, w;
	uint32_t pending;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_HELLO;
	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = (char *)name;
	m.u.hello.role = role;
	if (filter)
		m.u.hello.filter = *filter;
	cl_send(cl, &m);
	cl_expect(cl, DOB_MSG_WELCOME, &w);
	cl->session_id = w.u.welcome.session_id;
	pending = w.u.welcome.pending_episodes;
	dob_msg_clear(&w);
	return pending;
}

void cl_request(struct client *cl, struct dob_msg *req, enum dob_msg_type t,
		struct dob_msg *reply)
{
	struct dob_msg m;
	uint64_t corr = cl->next_corr++;

	req->correlation_id = corr;
	cl_send(cl, req);
	/* Events may come first. */
	for (int i = 0; i < 100000; i++) {
		cr_assert_eq(recv_wire(cl, &m), 1, "no reply to %s", dob_msg_type_name(req->type));
		if (m.correlation_id == corr) {
			cr_assert_eq(m.type, t, "reply %s, want %s", dob_msg_type_name(m.type),
				     dob_msg_type_name(t));
			*reply = m;
			return;
		}
		cr_assert_neq(m.type, DOB_MSG_PROTOCOL_ERROR, "protocol error: %s",
			      m.u.protocol_error.message);
		cl->backlog = realloc(cl->backlog, (cl->n_backlog + 1) * sizeof(m));
		cl->backlog[cl->n_backlog++] = m;
	}
}

enum dob_status cl_act(struct client *cl, const struct dob_guid *job, uint64_t episode,
		       enum dob_action a, struct dob_msg *reply)
{
	struct dob_msg m, r;
	enum dob_status st;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_ACT;
	m.u.act.job_id = *job;
	m.u.act.episode_id = episode;
	m.u.act.action = a;
	m.u.act.delay_ms = a == DOB_ACTION_RESUME_AFTER_DELAY ? 1000 : 0;
	cl_request(cl, &m, DOB_MSG_ACTION_RESULT, &r);
	st = r.u.action_result.status;
	if (reply)
		*reply = r;
	else
		dob_msg_clear(&r);
	return st;
}

/* A SubmitJob of one file into m; f holds the file and must outlive m. */
static void submit_msg(struct dob_msg *m, struct dob_file_spec *f, const char *name,
		       const char *path)
{
	f->remote_url = (char *)"http://127.0.0.1/file";
	f->local_path = (char *)path;
	memset(m, 0, sizeof(*m));
	m->type = DOB_MSG_SUBMIT_JOB;
	m->u.submit_job.display_name = (char *)name;
	m->u.submit_job.n_files = 1;
	m->u.submit_job.files = f;
	m->u.submit_job.priority = DOB_PRIORITY_NORMAL;
}

void cl_send_submit(struct client *cl, const char *name, const char *path)
{
	struct dob_file_spec f;
	struct dob_msg m;

	submit_msg(&m, &f, name, path);
	m.correlation_id = cl->next_corr++;
	cl_send(cl, &m);
}

enum dob_status cl_submit(struct client *cl, const char *name, const char *path,
			  struct dob_guid *job, struct dob_msg *reply)
{
	struct dob_file_spec f;
	struct dob_msg m, r;
	enum dob_status st;

	submit_msg(&m, &f, name, path);
	cl_request(cl, &m, DOB_MSG_JOB_REPLY, &r);
	st = r.u.job_reply.status;
	if (job && r.u.job_reply.has_job)
		*job = r.u.job_reply.job.job.job_id;
	if (reply)
		*reply = r;
	else
		dob_msg_clear(&r);
	return st;
}

enum dob_status cl_adopt(struct client *cl, const struct dob_guid *job, struct dob_msg *reply)
{
	struct dob_msg m, r;
	enum dob_status st;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_ADOPT_JOB;
	m.u.adopt_job.job_id = *job;
	cl_request(cl, &m, DOB_MSG_JOB_REPLY, &r);
	st = r.u.job_reply.status;
	if (reply)
		*reply = r;
	else
		dob_msg_clear(&r);
	return st;
}
