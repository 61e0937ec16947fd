/*
 * tests/unit/test_router_alloc.c - allocation-failure sweeps over the router
 * (encoded frames, per-session queues, batched writes, Gap) and the paths
 * that feed it: an error episode published to subscribers, its replay to a
 * late subscriber, a Resolution after an action, and a slow subscriber's
 * queue growing past its first capacity.
 *
 * For k = 1, 2, ... the k-th allocation of the broker's work fails, until a
 * run needs no more than k. Each failure must end cleanly: no crash, no
 * dob_* block leaked, and no event lost in silence: a subscriber receives
 * every error (and every resolution) it may see, or its connection is closed
 * so that it reconnects and is replayed what is pending; a dropped progress
 * event is counted in a Gap. The broker keeps serving: a subscriber that
 * connects afterwards receives every pending episode. Every request
 * (SubmitJob, AdoptJob, ListJobs, GetStats, Ping) gets its reply, an error
 * status included, or its session is closed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/alloc.h"
#include "fake_plat.h"

#define OBSERVERS 3
#define HR_404 0x80190194

TestSuite(router_alloc, .timeout = 120);

static struct dob_identity alice;

struct seen {
	unsigned n[32];     /* messages by type */
	uint64_t gap_dropped;
	uint64_t last_episode;
};

/* Every message the client has received so far, counted by type. */
static void take(struct client *cl, struct seen *s)
{
	struct dob_msg m;

	while (cl_recv(cl, &m)) {
		s->n[m.type]++;
		if (m.type == DOB_MSG_GAP)
			s->gap_dropped += m.u.gap.dropped;
		if (m.type == DOB_MSG_JOB_ERROR)
			s->last_episode = m.u.job_error.episode_id;
		dob_msg_clear(&m);
	}
}

static struct fb_job *submitted(struct harness *h, struct client *cl, const char *name)
{
	struct dob_guid id;

	cr_assert_eq(cl_submit(cl, name, "/home/alice/f", &id, NULL), DOB_STATUS_OK);
	return fb_find(h->fb, &id);
}

/* Runs fn with the k-th allocation from now failing; true when the
 * failure happened (fn needed at least k allocations). */
static bool with_failure(uint64_t k, void (*fn)(void *), void *arg)
{
	bool hit;

	dob_alloc_reset();
	dob_alloc_fail_at(k);
	fn(arg);
	hit = dob_alloc_count() >= k;
	dob_alloc_fail_at(0);
	return hit;
}

static void pump(void *arg)
{
	fake_pump(arg);
}

/* Bytes a client sends (data() runs at once), then the pump. */
struct sending {
	struct client *cl;
	const uint8_t *p;
	size_t n;
};

static void send_and_pump(void *arg)
{
	struct sending *sd = arg;

	fake_conn_send(sd->cl->c, sd->p, sd->n);
	fake_pump(sd->cl->h->loop);
}

/* After the sweep: k - 1 allocations were failed in turn. */
static void swept(const char *what, uint64_t k)
{
	cr_assert_geq(k - 1, 3, "%s: the sweep covered %llu allocations", what,
		      (unsigned long long)(k - 1));
	fprintf(stderr, "router_alloc: %s: each of %llu allocations failed in turn\n", what,
		(unsigned long long)(k - 1));
}

/* A new subscriber receives n pending episodes (the broker still serves,
 * and lost nothing). */
static void expect_late_subscriber_gets(struct harness *h, unsigned n)
{
	struct client late;
	struct seen s = { 0 };

	cl_connect(&late, h, &alice);
	cr_assert_eq(cl_hello(&late, "late", DOB_ROLE_OBSERVER, NULL), n);
	take(&late, &s);
	cr_assert_eq(s.n[DOB_MSG_JOB_ERROR], n, "replayed %u of %u episodes",
		     s.n[DOB_MSG_JOB_ERROR], n);
	cl_free(&late);
}

/* The start of one run: a broker, a controller and OBSERVERS observers,
 * and a job of the controller's whose error is posted (it runs at the next
 * pump). */
static struct fb_job *start_run(struct harness *h, struct client *ctl, struct client *obs)
{
	struct fb_job *j;

	h_setup(h, NULL);
	cl_connect(ctl, h, &alice);
	cl_hello(ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < OBSERVERS; i++) {
		cl_connect(&obs[i], h, &alice);
		cl_hello(&obs[i], "obs", DOB_ROLE_OBSERVER, NULL);
	}
	j = submitted(h, ctl, "doomed");
	fb_error(h->fb, j, HR_404);
	return j;
}

/* The end of one run: the broker still serves (a new subscriber receives
 * the pending episodes), then nothing of dob_* is left. */
static void end_run(struct harness *h, struct client *ctl, unsigned pending, uint64_t k,
		    int64_t live0)
{
	expect_late_subscriber_gets(h, pending);
	cl_free(ctl);
	h_teardown(h);
	cr_assert_eq(dob_alloc_live(), live0, "allocation %llu: %lld blocks leaked",
		     (unsigned long long)k, (long long)(dob_alloc_live() - live0));
}

Test(router_alloc, an_error_reaches_each_subscriber_or_closes_it_at_every_allocation_failure)
{
	uint64_t k;
	bool hit = true;

	alice = h_user(1000);
	for (k = 1; hit; k++) {
		int64_t live0 = dob_alloc_live();
		struct harness h;
		struct client ctl, obs[OBSERVERS];

		start_run(&h, &ctl, obs); /* the error runs in the pump */
		hit = with_failure(k, pump, h.loop);
		/* An episode the failure kept from opening is found by the next
		 * reconcile sweep. */
		fake_clock_advance(h.loop, h.cfg.sweep_interval_ms + 1);
		for (int i = 0; i < OBSERVERS; i++) {
			struct seen s = { 0 };

			take(&obs[i], &s);
			cr_assert(s.n[DOB_MSG_JOB_ERROR] == 1 || fake_conn_is_closed(obs[i].c),
				  "allocation %llu: observer %d got %u JobError and is not closed",
				  (unsigned long long)k, i, s.n[DOB_MSG_JOB_ERROR]);
			cl_free(&obs[i]);
		}
		end_run(&h, &ctl, 1, k, live0);
	}
	swept("error published", k);
}

Test(router_alloc, the_replay_to_a_late_subscriber_is_whole_or_the_subscriber_is_closed)
{
	enum { PENDING = 5 };
	uint64_t k;
	bool hit = true;
	uint8_t *hello;
	size_t hello_len;
	struct dob_msg m;

	alice = h_user(1000);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_HELLO;
	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = "late";
	m.u.hello.role = DOB_ROLE_OBSERVER;
	cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_CEILING, &hello, &hello_len, NULL), 0);
	for (k = 1; hit; k++) {
		int64_t live0 = dob_alloc_live();
		struct harness h;
		struct client ctl, late;
		struct seen s = { 0 };

		h_setup(&h, NULL);
		cl_connect(&ctl, &h, &alice);
		cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
		for (int i = 0; i < PENDING; i++) {
			char name[16];

			snprintf(name, sizeof(name), "j%d", i);
			fb_error(h.fb, submitted(&h, &ctl, name), HR_404);
		}
		fake_pump(h.loop);
		cl_connect(&late, &h, &alice);
		/* The Hello's bytes are made beforehand: only the broker's
		 * allocations are counted from here. */
		hit = with_failure(k, send_and_pump, &(struct sending){ &late, hello, hello_len });
		take(&late, &s);
		cr_assert(s.n[DOB_MSG_WELCOME] == 1 || fake_conn_is_closed(late.c),
			  "allocation %llu: no Welcome and not closed", (unsigned long long)k);
		cr_assert(s.n[DOB_MSG_JOB_ERROR] == PENDING || fake_conn_is_closed(late.c),
			  "allocation %llu: %u of %d episodes replayed and not closed",
			  (unsigned long long)k, s.n[DOB_MSG_JOB_ERROR], PENDING);
		cl_free(&late);
		end_run(&h, &ctl, PENDING, k, live0);
	}
	dob_free(hello);
	swept("replay to a late subscriber", k);
}

Test(router_alloc, a_resolution_reaches_each_subscriber_or_closes_it_at_every_allocation_failure)
{
	uint64_t k;
	bool hit = true;
	uint8_t *act;
	size_t act_len;

	alice = h_user(1000);
	for (k = 1; hit; k++) {
		int64_t live0 = dob_alloc_live();
		struct harness h;
		struct client ctl, obs[OBSERVERS];
		struct seen sc = { 0 };
		struct fb_job *j;
		struct dob_msg m;

		j = start_run(&h, &ctl, obs);
		fake_pump(h.loop);
		take(&ctl, &sc);
		cr_assert_eq(sc.n[DOB_MSG_JOB_ERROR], 1);
		for (int i = 0; i < OBSERVERS; i++) {
			struct seen s = { 0 };
			take(&obs[i], &s);
		}
		memset(&m, 0, sizeof(m));
		m.type = DOB_MSG_ACT;
		m.correlation_id = 7;
		m.u.act.job_id = j->id;
		m.u.act.episode_id = sc.last_episode;
		m.u.act.action = DOB_ACTION_CANCEL;
		cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_CEILING, &act, &act_len, NULL), 0);
		hit = with_failure(k, send_and_pump, &(struct sending){ &ctl, act, act_len });
		dob_free(act);
		/* A result the failure lost times out, the call is declared lost
		 * three timeouts later and the job read again; the episode stays
		 * pending or is resolved, never half of it. */
		fake_clock_advance(h.loop, 4 * (int64_t)h.cfg.action_timeout_ms + 1);
		memset(&sc, 0, sizeof(sc));
		take(&ctl, &sc);
		cr_assert(sc.n[DOB_MSG_ACTION_RESULT] == 1 || fake_conn_is_closed(ctl.c),
			  "allocation %llu: the controller got no ActionResult and is not closed",
			  (unsigned long long)k);
		for (int i = 0; i < OBSERVERS; i++) {
			struct seen s = { 0 };

			take(&obs[i], &s);
			if (broker_pending_count(h.b) == 0)
				cr_assert(s.n[DOB_MSG_RESOLUTION] == 1 || fake_conn_is_closed(obs[i].c),
					  "allocation %llu: observer %d got no Resolution and is not "
					  "closed",
					  (unsigned long long)k, i);
			cl_free(&obs[i]);
		}
		end_run(&h, &ctl, (unsigned)broker_pending_count(h.b), k, live0);
	}
	swept("resolution published", k);
}

/* A subscriber that reads nothing while 40 progress events and an error
 * come: its queue grows past its first capacity, progress is dropped into a
 * Gap at the soft limit. */
Test(router_alloc, a_stalled_queue_loses_no_error_and_counts_every_drop_at_every_allocation_failure)
{
	enum { PROGRESS = 40 };
	uint64_t k;
	bool hit = true;

	alice = h_user(1000);
	for (k = 1; hit; k++) {
		int64_t live0 = dob_alloc_live();
		struct harness h;
		struct client ctl, slow;
		struct seen s = { 0 };
		struct fb_job *j;

		h_setup(&h, NULL);
		cl_connect(&ctl, &h, &alice);
		cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
		cl_connect(&slow, &h, &alice);
		cl_hello(&slow, "slow", DOB_ROLE_OBSERVER, NULL);
		j = submitted(&h, &ctl, "busy");
		take(&slow, &s);
		memset(&s, 0, sizeof(s));
		fake_conn_stall(slow.c, true);
		for (int i = 0; i < PROGRESS / 2; i++)
			fb_event(h.fb, j, BACKEND_EV_MODIFIED);
		fb_error(h.fb, j, HR_404);
		for (int i = 0; i < PROGRESS / 2; i++)
			fb_event(h.fb, j, BACKEND_EV_MODIFIED);
		hit = with_failure(k, pump, h.loop);
		fake_conn_stall(slow.c, false);
		fake_clock_advance(h.loop, h.cfg.sweep_interval_ms + 1);
		take(&slow, &s);
		if (!fake_conn_is_closed(slow.c)) {
			cr_assert_eq(s.n[DOB_MSG_JOB_ERROR], 1, "allocation %llu: the error is lost",
				     (unsigned long long)k);
			cr_assert_eq(s.n[DOB_MSG_JOB_MODIFIED] + s.gap_dropped, PROGRESS,
				     "allocation %llu: %u delivered + %llu in Gaps of %d",
				     (unsigned long long)k, s.n[DOB_MSG_JOB_MODIFIED],
				     (unsigned long long)s.gap_dropped, PROGRESS);
		}
		cl_free(&slow);
		end_run(&h, &ctl, 1, k, live0);
	}
	swept("stalled queue with progress and an error", k);
}

/* ---------------------------------------------------------------- requests */

/* One request of each kind a subscriber sends, made into bytes beforehand. */
static size_t request_bytes(enum dob_msg_type t, const struct dob_guid *job, uint8_t **out)
{
	struct dob_file_spec f = { .remote_url = "http://h/x", .local_path = "/home/alice/r" };
	struct dob_msg m;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.type = t;
	m.correlation_id = 9;
	switch (t) {
	case DOB_MSG_SUBMIT_JOB:
		m.u.submit_job.display_name = "req";
		m.u.submit_job.n_files = 1;
		m.u.submit_job.files = &f;
		m.u.submit_job.priority = DOB_PRIORITY_NORMAL;
		m.u.submit_job.type = DOB_JOB_DOWNLOAD;
		break;
	case DOB_MSG_ADOPT_JOB:
		m.u.adopt_job.job_id = *job;
		break;
	case DOB_MSG_PING:
		m.u.ping.nonce = 42;
		break;
	default:
		break;
	}
	cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_CEILING, out, &len, NULL), 0);
	return len;
}

static enum dob_msg_type reply_type(enum dob_msg_type t)
{
	switch (t) {
	case DOB_MSG_SUBMIT_JOB:
	case DOB_MSG_ADOPT_JOB:
		return DOB_MSG_JOB_REPLY;
	case DOB_MSG_LIST_JOBS:
		return DOB_MSG_LIST_JOBS_REPLY;
	case DOB_MSG_GET_STATS:
		return DOB_MSG_STATS;
	default:
		return DOB_MSG_PONG;
	}
}

Test(router_alloc, every_request_gets_its_reply_or_a_closed_session_at_every_allocation_failure)
{
	static const enum dob_msg_type reqs[] = {
		DOB_MSG_SUBMIT_JOB, DOB_MSG_ADOPT_JOB, DOB_MSG_LIST_JOBS, DOB_MSG_GET_STATS,
		DOB_MSG_PING,
	};

	alice = h_user(1000);
	for (size_t r = 0; r < sizeof(reqs) / sizeof(reqs[0]); r++) {
		uint64_t k;
		bool hit = true;

		for (k = 1; hit; k++) {
			int64_t live0 = dob_alloc_live();
			struct harness h;
			struct client ctl;
			struct seen s = { 0 };
			struct fb_job *other;
			uint8_t *req;
			size_t len;

			h_setup(&h, NULL);
			cl_connect(&ctl, &h, &alice);
			cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
			submitted(&h, &ctl, "one");
			submitted(&h, &ctl, "two");
			/* A job the broker does not manage yet, to adopt. */
			other = fb_add(h.fb, "other", DOB_JOB_DOWNLOAD, DOB_STATE_TRANSFERRING);
			len = request_bytes(reqs[r], &other->id, &req);
			hit = with_failure(k, send_and_pump, &(struct sending){ &ctl, req, len });
			dob_free(req);
			/* A backend result the failure lost: the action timeout answers. */
			fake_clock_advance(h.loop, h.cfg.action_timeout_ms + 1);
			take(&ctl, &s);
			cr_assert(s.n[reply_type(reqs[r])] == 1 || fake_conn_is_closed(ctl.c),
				  "%s, allocation %llu: no %s and the session is not closed",
				  dob_msg_type_name(reqs[r]), (unsigned long long)k,
				  dob_msg_type_name(reply_type(reqs[r])));
			end_run(&h, &ctl, 0, k, live0);
		}
		swept(dob_msg_type_name(reqs[r]), k);
	}
}
