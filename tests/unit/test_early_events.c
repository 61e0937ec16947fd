/*
 * tests/unit/test_early_events.c - callbacks that reach the broker before
 * the result of the submit that makes their job managed. Seen under Wine:
 * BITS called JobTransferred for a small download while the broker's COM
 * worker was still reading the new job, the event found no managed job and
 * was dropped, and JobTransferred is never called twice.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/alloc.h"
#include "fake_plat.h"

static struct harness h;
static struct dob_identity alice;
static struct client app, watcher;

static void setup(void)
{
	h_setup(&h, NULL);
	alice = h_user(1000);
	cl_connect(&watcher, &h, &alice);
	cl_hello(&watcher, "watcher", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&app, &h, &alice);
	cl_hello(&app, "app", DOB_ROLE_CONTROLLER, NULL);
}

static void teardown(void)
{
	cl_free(&app);
	cl_free(&watcher);
	h_teardown(&h);
}

TestSuite(early_events, .init = setup, .fini = teardown, .timeout = 30);

/* Sends a SubmitJob whose result the fake backend holds back; returns the
 * backend's new job (created, not yet known to the broker). */
static struct fb_job *submit_held(const char *name)
{
	size_t before = h.fb->n_jobs;

	h.fb->hold_submits = true;
	cl_send_submit(&app, name, "/home/alice/f.bin");
	fake_pump(h.loop);
	cr_assert_eq(h.fb->n_jobs, before + 1, "the backend got the submit");
	return &h.fb->jobs[before];
}

static void expect_job_reply_ok(void)
{
	struct dob_msg m;

	cl_skip_to(&app, DOB_MSG_JOB_REPLY, &m);
	cr_assert_eq(m.u.job_reply.status, DOB_STATUS_OK);
	dob_msg_clear(&m);
}

Test(early_events, transferred_callback_before_the_submit_result_is_not_lost)
{
	struct fb_job *j = submit_held("fast");
	struct dob_msg m;

	j->state = DOB_STATE_TRANSFERRED;
	fb_event(h.fb, j, BACKEND_EV_TRANSFERRED);
	fake_pump(h.loop);
	fb_release(h.fb); /* the result, read before the transfer: QUEUED */
	expect_job_reply_ok();
	cl_skip_to(&watcher, DOB_MSG_JOB_TRANSFERRED, &m);
	cr_assert_eq(memcmp(&m.u.job_transferred.job.job_id, &j->id, sizeof(j->id)), 0);
	cr_assert_eq(m.u.job_transferred.job.state, DOB_STATE_TRANSFERRED);
	dob_msg_clear(&m);
}

Test(early_events, error_callback_before_the_submit_result_opens_one_episode)
{
	struct fb_job *j = submit_held("fails fast");
	struct dob_msg m;

	fb_error(h.fb, j, 0x80190194); /* the callback; the held result says QUEUED */
	fake_pump(h.loop);
	fb_release(h.fb);
	expect_job_reply_ok();
	cl_skip_to(&watcher, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(memcmp(&m.u.job_error.job.job_id, &j->id, sizeof(j->id)), 0);
	cr_assert_eq(m.u.job_error.error.hresult, 0x80190194);
	cr_assert_eq(m.u.job_error.repeat_count, 0);
	dob_msg_clear(&m);
	cl_expect_nothing(&watcher);
}

Test(early_events, error_seen_by_the_submit_read_is_not_counted_twice)
{
	struct fb_job *j = submit_held("fails faster");
	struct dob_msg m;

	fb_error(h.fb, j, 0x80190194);
	fake_pump(h.loop);
	/* The held result is re-read in ERROR, as when the worker's read came
	 * after the error: the submit's read opens the episode, and the early
	 * callback is that same error, not a repeat. */
	backend_job_clear(&h.fb->held[0]->job);
	h.fb->held[0]->job.info.job_id = j->id;
	h.fb->held[0]->job.info.state = DOB_STATE_ERROR;
	h.fb->held[0]->job.has_error = true;
	h.fb->held[0]->job.error.hresult = 0x80190194;
	h.fb->held[0]->job.error.context = DOB_CONTEXT_REMOTE_FILE;
	fb_release(h.fb);
	expect_job_reply_ok();
	cl_skip_to(&watcher, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.repeat_count, 0);
	dob_msg_clear(&m);
	cl_expect_nothing(&watcher);
}

Test(early_events, callback_for_a_job_never_managed_is_dropped)
{
	struct fb_job *other = fb_add(h.fb, "not ours", DOB_JOB_DOWNLOAD, DOB_STATE_TRANSFERRED);

	submit_held("ours");
	fb_event(h.fb, other, BACKEND_EV_TRANSFERRED);
	fake_pump(h.loop);
	fb_release(h.fb);
	expect_job_reply_ok();
	cl_expect_nothing(&watcher);
}
