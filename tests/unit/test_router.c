/*
 * tests/unit/test_router.c - fan-out, filters, per-subscriber queues with
 * drop-and-Gap backpressure, the hard limit, batched writes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/alloc.h"
#include "dob/codec.h"
#include "fake_plat.h"

static struct harness h;
static struct dob_identity alice;

static void small_queues(struct broker_config *c)
{
	c->queue_soft_limit = 8;
	c->queue_hard_limit = 40;
}

static void setup(void)
{
	h_setup(&h, small_queues);
	alice = h_user(1000);
}

static void teardown(void)
{
	h_teardown(&h);
}

TestSuite(router, .init = setup, .fini = teardown, .timeout = 30);

static struct fb_job *submitted(struct client *cl, const char *name)
{
	struct dob_guid id;

	cr_assert_eq(cl_submit(cl, name, "/home/alice/f", &id, NULL), DOB_STATUS_OK);
	return fb_find(h.fb, &id);
}

/* Drains every message; counts them by type into n[type]. */
static void drain(struct client *cl, unsigned n[32])
{
	struct dob_msg m;

	memset(n, 0, 32 * sizeof(unsigned));
	while (cl_recv(cl, &m)) {
		n[m.type]++;
		dob_msg_clear(&m);
	}
}

Test(router, every_subscriber_receives_each_event)
{
	enum { N = 6 };
	struct client ctl, subs[N];
	struct fb_job *j;
	unsigned n[32];

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < N; i++) {
		cl_connect(&subs[i], &h, &alice);
		cl_hello(&subs[i], "sub", DOB_ROLE_OBSERVER, NULL);
	}
	j = submitted(&ctl, "fan");
	fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	fb_event(h.fb, j, BACKEND_EV_TRANSFERRED);
	fb_error(h.fb, j, 0x80190194);
	fake_pump(h.loop);
	for (int i = 0; i < N; i++) {
		drain(&subs[i], n);
		cr_assert_eq(n[DOB_MSG_JOB_MODIFIED], 1);
		cr_assert_eq(n[DOB_MSG_JOB_TRANSFERRED], 1);
		cr_assert_eq(n[DOB_MSG_JOB_ERROR], 1);
		cl_free(&subs[i]);
	}
	cl_free(&ctl);
}

Test(router, filters_narrow_by_job_id_name_prefix_and_kind)
{
	struct client ctl, by_id, by_name, by_kind;
	struct fb_job *j1, *j2;
	struct dob_filter f;
	unsigned n[32];

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	j1 = submitted(&ctl, "app-update");
	j2 = submitted(&ctl, "other");
	cl_connect(&by_id, &h, &alice);
	memset(&f, 0, sizeof(f));
	f.n_job_ids = 1;
	f.job_ids = &j2->id;
	cl_hello(&by_id, "by-id", DOB_ROLE_OBSERVER, &f);
	cl_connect(&by_name, &h, &alice);
	memset(&f, 0, sizeof(f));
	f.display_name_prefix = "app-";
	cl_hello(&by_name, "by-name", DOB_ROLE_OBSERVER, &f);
	cl_connect(&by_kind, &h, &alice);
	memset(&f, 0, sizeof(f));
	f.kind_mask = 1u << DOB_EVENT_JOB_ERROR;
	cl_hello(&by_kind, "by-kind", DOB_ROLE_OBSERVER, &f);

	fb_event(h.fb, j1, BACKEND_EV_MODIFIED);
	fb_event(h.fb, j2, BACKEND_EV_MODIFIED);
	fb_error(h.fb, j1, 0x80190194);
	fake_pump(h.loop);
	drain(&by_id, n);
	cr_assert_eq(n[DOB_MSG_JOB_MODIFIED], 1, "only j2's");
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 0);
	drain(&by_name, n);
	cr_assert_eq(n[DOB_MSG_JOB_MODIFIED], 1, "only app-update's");
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 1);
	drain(&by_kind, n);
	cr_assert_eq(n[DOB_MSG_JOB_MODIFIED], 0);
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 1);
	cl_free(&ctl);
	cl_free(&by_id);
	cl_free(&by_name);
	cl_free(&by_kind);
}

Test(router, a_slow_subscriber_gets_a_gap_and_never_loses_an_error)
{
	struct client ctl, fast, slow;
	struct fb_job *j;
	struct dob_msg m;
	unsigned errors = 0, modified = 0, gaps = 0;
	uint64_t dropped = 0;
	unsigned n[32];

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&fast, &h, &alice);
	cl_hello(&fast, "fast", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&slow, &h, &alice);
	cl_hello(&slow, "slow", DOB_ROLE_OBSERVER, NULL);
	j = submitted(&ctl, "busy");
	drain(&fast, n);
	fake_conn_stall(slow.c, true);
	/* 20 progress events, an error episode in the middle, 10 more. */
	for (int i = 0; i < 20; i++)
		fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	fb_error(h.fb, j, 0x80190194);
	j->state = DOB_STATE_ERROR;
	for (int i = 0; i < 10; i++)
		fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	fake_pump(h.loop);
	drain(&fast, n);
	cr_assert_eq(n[DOB_MSG_JOB_MODIFIED], 30, "the fast one is not delayed");
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 1);
	cr_assert_eq(n[DOB_MSG_GAP], 0);
	/* The slow one reads at last. */
	fake_conn_stall(slow.c, false);
	while (cl_recv(&slow, &m)) {
		if (m.type == DOB_MSG_JOB_ERROR)
			errors++;
		else if (m.type == DOB_MSG_JOB_MODIFIED)
			modified++;
		else if (m.type == DOB_MSG_GAP) {
			gaps++;
			dropped += m.u.gap.dropped;
			cr_assert_leq(m.u.gap.first_dropped_seq, m.u.gap.last_dropped_seq);
		}
		dob_msg_clear(&m);
	}
	cr_assert_eq(errors, 1, "the error is never dropped");
	cr_assert_eq(gaps, 1);
	cr_assert_gt(dropped, 0);
	cr_assert_eq(modified + dropped, 30, "each event was delivered or counted");
	cl_free(&ctl);
	cl_free(&fast);
	cl_free(&slow);
}

Test(router, past_the_hard_limit_a_subscriber_is_disconnected_too_slow)
{
	struct client ctl, slow, other;
	struct fb_job *jobs[45];
	struct dob_msg m;
	unsigned n[32];
	int last = -1;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 45; i++) {
		char name[16];
		snprintf(name, sizeof(name), "job%d", i);
		jobs[i] = submitted(&ctl, name);
	}
	cl_connect(&slow, &h, &alice);
	cl_hello(&slow, "slow", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&other, &h, &alice);
	cl_hello(&other, "other", DOB_ROLE_OBSERVER, NULL);
	fake_conn_stall(slow.c, true);
	/* Errors are never dropped, so they fill the queue to the hard limit. */
	for (int i = 0; i < 45; i++)
		fb_error(h.fb, jobs[i], 0x80190194);
	fake_pump(h.loop);
	cr_assert(!fake_conn_is_closed(slow.c), "TOO_SLOW waits a while for the stuck write");
	fake_clock_advance(h.loop, 5000);
	cr_assert(fake_conn_is_closed(slow.c), "disconnected past the hard limit");
	cr_assert_eq(broker_pending_count(h.b), 45, "the episodes stay pending in the broker");
	drain(&other, n);
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 45, "others are unaffected");
	cr_assert_eq(n[DOB_MSG_PROTOCOL_ERROR], 0);
	/* The slow one got no TOO_SLOW frame while its write was stuck, but a
	 * new connection of it gets every pending episode again. */
	(void)last;
	cl_free(&slow);
	cl_connect(&slow, &h, &alice);
	cr_assert_eq(cl_hello(&slow, "slow-again", DOB_ROLE_OBSERVER, NULL), 45);
	drain(&slow, n);
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 45);
	(void)m;
	cl_free(&slow);
	cl_free(&ctl);
	cl_free(&other);
}

Test(router, too_slow_is_sent_when_the_stuck_write_finishes_in_time)
{
	struct client ctl, slow;
	struct fb_job *jobs[45];
	struct dob_msg m;
	bool got = false;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 45; i++)
		jobs[i] = submitted(&ctl, "j");
	cl_connect(&slow, &h, &alice);
	cl_hello(&slow, "slow", DOB_ROLE_OBSERVER, NULL);
	fake_conn_stall(slow.c, true);
	for (int i = 0; i < 45; i++)
		fb_error(h.fb, jobs[i], 0x80190194);
	fake_pump(h.loop);
	cr_assert(!fake_conn_is_closed(slow.c), "closing waits for the write in flight");
	fake_conn_stall(slow.c, false);
	while (cl_recv(&slow, &m)) {
		if (m.type == DOB_MSG_PROTOCOL_ERROR) {
			cr_assert_eq(m.u.protocol_error.code, DOB_PERR_TOO_SLOW);
			got = true;
		}
		dob_msg_clear(&m);
	}
	cr_assert(got);
	cr_assert(fake_conn_is_closed(slow.c));
	cl_free(&slow);
	cl_free(&ctl);
}

Test(router, frames_are_batched_into_few_writes)
{
	struct client ctl, w;
	struct fb_job *j;
	unsigned n[32];
	uint64_t before;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&w, &h, &alice);
	cl_hello(&w, "w", DOB_ROLE_OBSERVER, NULL);
	j = submitted(&ctl, "batch");
	drain(&w, n);
	before = fake_conn_writes(w.c);
	fake_conn_stall(w.c, true);
	for (int i = 0; i < 5; i++)
		fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	fake_pump(h.loop);
	fake_conn_stall(w.c, false);
	drain(&w, n);
	cr_assert_eq(n[DOB_MSG_JOB_MODIFIED], 5);
	cr_assert_leq(fake_conn_writes(w.c) - before, 2, "one write in flight, then one batch");
	cl_free(&ctl);
	cl_free(&w);
}

Test(router, stats_count_subscribers_events_and_drops)
{
	struct client ctl, w;
	struct dob_msg m, r;
	struct fb_job *j;

	cl_connect(&w, &h, &alice);
	cl_hello(&w, "watcher", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&ctl, "s");
	fb_error(h.fb, j, 0x80190194);
	fake_pump(h.loop);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_GET_STATS;
	cl_request(&ctl, &m, DOB_MSG_STATS, &r);
	cr_assert_eq(r.u.stats.status, DOB_STATUS_OK);
	cr_assert_eq(r.u.stats.subscribers, 1, "the watcher, not the asking client");
	cr_assert_eq(r.u.stats.events_in, 1);
	cr_assert_geq(r.u.stats.events_out, 1);
	cr_assert_eq(r.u.stats.pending_episodes, 1);
	cr_assert_eq(r.u.stats.managed_jobs, 1);
	cr_assert_eq(r.u.stats.n_sessions, 0, "per-session stats are for privileged callers");
	dob_msg_clear(&r);
	cl_free(&ctl);
	cl_free(&w);
}

/* Regression (issue 12): `dobctl stats` alone counted itself as a
 * subscriber, and listed itself among the sessions. */
Test(router, stats_do_not_count_the_asking_client)
{
	struct dob_identity root = h_admin();
	struct client adm;
	struct dob_msg m, r;

	cl_connect(&adm, &h, &root);
	cl_hello(&adm, "dobctl", DOB_ROLE_OBSERVER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_GET_STATS;
	cl_request(&adm, &m, DOB_MSG_STATS, &r);
	cr_assert_eq(r.u.stats.subscribers, 0);
	cr_assert_eq(r.u.stats.n_sessions, 0);
	dob_msg_clear(&r);
	cl_free(&adm);
}

static void small_byte_queues(struct broker_config *c)
{
	/* Frames are plenty; bytes are not: the hard limit holds two 4 KiB
	 * frames, some twenty JobErrors. */
	c->max_frame = 4096;
	c->queue_soft_limit = 1000;
	c->queue_hard_limit = 2000;
	c->queue_soft_bytes = 2048;
	c->queue_hard_bytes = 8192;
}

/* Issue 9 item 8: queues were bounded in frames only (8192 x 64 KiB = 512 MiB
 * a connection). Past the hard limit in bytes, errors included, the
 * subscriber is disconnected; the others are unaffected. */
Test(router, past_the_hard_byte_limit_a_subscriber_is_disconnected_too_slow)
{
	struct client ctl, slow, other;
	struct fb_job *jobs[60];
	unsigned n[32];

	h_teardown(&h);
	h_setup(&h, small_byte_queues);
	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 60; i++) {
		char name[300];
		/* Long names: each JobError is some 400 bytes; 60 of them are
		 * more than the 8 KiB hard limit, far fewer than its frames. */
		snprintf(name, sizeof(name), "%0240d-%d", 0, i);
		jobs[i] = submitted(&ctl, name);
	}
	cl_connect(&slow, &h, &alice);
	cl_hello(&slow, "slow", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&other, &h, &alice);
	cl_hello(&other, "other", DOB_ROLE_OBSERVER, NULL);
	fake_conn_stall(slow.c, true);
	for (int i = 0; i < 60; i++)
		fb_error(h.fb, jobs[i], 0x80190194);
	fake_pump(h.loop);
	fake_clock_advance(h.loop, 5000);
	cr_assert(fake_conn_is_closed(slow.c), "not disconnected past the hard byte limit");
	drain(&other, n);
	cr_assert_eq(n[DOB_MSG_JOB_ERROR], 60, "others are unaffected");
	cr_assert_eq(n[DOB_MSG_PROTOCOL_ERROR], 0);
	cr_assert_eq(broker_pending_count(h.b), 60, "the episodes stay pending");
	cl_free(&slow);
	cl_free(&ctl);
	cl_free(&other);
}

static void small_frames(struct broker_config *c)
{
	c->max_frame = 1024;
}

/* The length of the description in the last JournalEpisode record of the
 * harness's journal (records: u32 length, u32 CRC, JournalRecord). */
static size_t journaled_description_len(void)
{
	char path[300];
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, got, len = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/journal.dob", h.dir);
	cr_assert_not_null(f = fopen(path, "rb"), "%s", path);
	do {
		if (n == cap)
			cr_assert_not_null(buf = realloc(buf, cap = cap ? cap * 2 : 65536));
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	for (size_t off = 0; off + 8 <= n;) {
		uint32_t rl = dob_get_u32le(buf + off);
		struct dob_jrec r;

		cr_assert_leq(off + 8 + rl, n);
		cr_assert_eq(dob_jrec_decode(buf + off + 8, rl, &r, NULL), 0, "record at %zu", off);
		if (r.type == DOB_JREC_EPISODE)
			len = strlen(r.u.episode.event.error.description);
		dob_jrec_clear(&r);
		off += 8 + rl;
	}
	free(buf);
	return len;
}

/* An opened episode's JobError is packed once for the journal and the
 * subscribers; one too large for max-frame still goes out, its long texts
 * shortened, and the journal keeps it whole (a restart replays it whole). */
Test(router, a_job_error_too_large_for_max_frame_goes_out_shortened_and_is_journaled_whole)
{
	static char desc[2001];
	struct client ctl, sub;
	struct fb_job *j;
	struct dob_msg m;
	size_t len;

	memset(desc, 'd', sizeof desc - 1);
	h_teardown(&h);
	h_setup(&h, small_frames);
	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&ctl, "big");
	cl_connect(&sub, &h, &alice);
	cl_hello(&sub, "sub", DOB_ROLE_OBSERVER, NULL);
	j->desc = desc;
	fb_error(h.fb, j, 0x80190194);
	fake_pump(h.loop);
	cl_expect(&sub, DOB_MSG_JOB_ERROR, &m);
	len = strlen(m.u.job_error.error.description);
	cr_assert(len > 0 && len < sizeof desc - 1, "shortened: %zu characters", len);
	cr_assert_eq(m.u.job_error.error.hresult, 0x80190194);
	dob_msg_clear(&m);
	cr_assert_eq(journaled_description_len(), sizeof desc - 1, "journaled whole");
	cl_free(&sub);

	h_restart(&h);
	cl_connect(&sub, &h, &alice);
	cl_hello(&sub, "sub", DOB_ROLE_OBSERVER, NULL);
	cl_expect(&sub, DOB_MSG_JOB_ERROR, &m);
	cr_assert(m.u.job_error.replayed);
	cr_assert_lt(strlen(m.u.job_error.error.description), sizeof desc - 1,
		     "a replay is shortened too");
	dob_msg_clear(&m);
	cr_assert_eq(broker_pending_count(h.b), 1);
	cl_free(&sub);
	cl_free(&ctl);
}

/* Past the soft limit in bytes, progress is dropped and a Gap follows. */
Test(router, past_the_soft_byte_limit_progress_is_dropped_with_a_gap)
{
	struct client ctl, w;
	struct fb_job *j;
	struct dob_msg m;
	uint64_t gap = 0;
	unsigned modified = 0;

	h_teardown(&h);
	h_setup(&h, small_byte_queues);
	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	{
		char name[300];
		snprintf(name, sizeof(name), "%0250d", 0);
		j = submitted(&ctl, name);
	}
	cl_connect(&w, &h, &alice);
	cl_hello(&w, "w", DOB_ROLE_OBSERVER, NULL);
	fake_conn_stall(w.c, true);
	for (int i = 0; i < 40; i++)
		fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	fake_pump(h.loop);
	fake_conn_stall(w.c, false);
	while (cl_recv(&w, &m)) {
		if (m.type == DOB_MSG_GAP)
			gap += m.u.gap.dropped;
		if (m.type == DOB_MSG_JOB_MODIFIED)
			modified++;
		dob_msg_clear(&m);
	}
	cr_assert_gt(gap, 0, "no Gap: %u of 40 delivered", modified);
	cr_assert_eq(modified + gap, 40, "%u delivered + %llu dropped", modified,
		     (unsigned long long)gap);
	cr_assert(!fake_conn_is_closed(w.c));
	cl_free(&ctl);
	cl_free(&w);
}
