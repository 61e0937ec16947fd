/*
 * tests/unit/test_episode.c - error episodes and decisions: one episode per
 * error, repeats counted, left-error resolution, racing controllers,
 * forbidden actions, deadlines with each policy, resume-after-delay, action
 * timeouts, the reconcile sweep, late subscribers and restarts.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_files.h"
#include "fake_plat.h"

static struct harness h;
static struct dob_identity alice;

static void setup(void)
{
	h_setup(&h, NULL);
	alice = h_user(1000);
}

static void teardown(void)
{
	h_teardown(&h);
}

TestSuite(episode, .init = setup, .fini = teardown, .timeout = 30);

static void restart_with(void (*tweak)(struct broker_config *c))
{
	h_teardown(&h);
	h_setup(&h, tweak);
	alice = h_user(1000);
}

/* A controller of alice's that submits a job; returns the backend's job. */
static struct fb_job *submitted(struct client *cl, const char *name)
{
	struct dob_guid id;

	cr_assert_eq(cl_submit(cl, name, "/home/alice/f.bin", &id, NULL), DOB_STATUS_OK);
	return fb_find(h.fb, &id);
}

static uint64_t expect_job_error(struct client *cl, const struct fb_job *j, uint32_t hr)
{
	struct dob_msg m;
	uint64_t ep;

	cl_skip_to(cl, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(memcmp(&m.u.job_error.job.job_id, &j->id, sizeof(j->id)), 0);
	cr_assert_eq(m.u.job_error.error.hresult, hr);
	cr_assert_neq(m.u.job_error.episode_id, 0);
	ep = m.u.job_error.episode_id;
	dob_msg_clear(&m);
	return ep;
}

static void expect_resolution(struct client *cl, uint64_t ep, enum dob_resolved_by by,
			      enum dob_action a, const char *actor)
{
	struct dob_msg m;

	cl_skip_to(cl, DOB_MSG_RESOLUTION, &m);
	cr_assert_eq(m.u.resolution.episode_id, ep);
	cr_assert_eq(m.u.resolution.resolved_by, by, "by %s",
		     dob_resolved_by_name(m.u.resolution.resolved_by));
	cr_assert_eq(m.u.resolution.action, a, "action %s", dob_action_name(m.u.resolution.action));
	if (actor)
		cr_assert_str_eq(m.u.resolution.actor.client_name, actor);
	dob_msg_clear(&m);
}

static uint64_t pending_of(struct client *cl, const struct fb_job *j)
{
	struct dob_msg m, r;
	uint64_t ep = UINT64_MAX;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_JOBS;
	cl_request(cl, &m, DOB_MSG_LIST_JOBS_REPLY, &r);
	for (size_t i = 0; i < r.u.list_jobs_reply.n_jobs; i++)
		if (!memcmp(&r.u.list_jobs_reply.jobs[i].job.job_id, &j->id, sizeof(j->id)))
			ep = r.u.list_jobs_reply.jobs[i].pending_episode_id;
	dob_msg_clear(&r);
	return ep; /* UINT64_MAX: not managed */
}

Test(episode, job_error_opens_an_episode_published_with_every_field)
{
	struct client ctl, obs;
	struct fb_job *j;
	struct dob_msg m;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&obs, &h, &alice);
	cl_hello(&obs, "obs", DOB_ROLE_OBSERVER, NULL);
	j = submitted(&ctl, "report.pdf");
	fb_error(h.fb, j, 0x80190194);
	cl_skip_to(&obs, DOB_MSG_JOB_ERROR, &m);
	cr_assert_str_eq(m.u.job_error.job.display_name, "report.pdf");
	cr_assert_eq(m.u.job_error.job.state, DOB_STATE_ERROR);
	cr_assert_eq(m.u.job_error.error.context, DOB_CONTEXT_REMOTE_FILE);
	cr_assert_eq(m.u.job_error.error.hresult, 0x80190194);
	cr_assert_eq(m.u.job_error.repeat_count, 0);
	cr_assert_eq(m.u.job_error.backend, DOB_BACKEND_SIM);
	cr_assert_eq(m.u.job_error.first_seen_us, m.u.job_error.last_seen_us);
	cr_assert_gt(m.u.job_error.first_seen_us, 0);
	cr_assert_eq(m.u.job_error.default_policy.kind, DOB_POLICY_NONE);
	cr_assert_eq(m.u.job_error.deadline_us, 0, "policy none never applies");
	cr_assert(!m.u.job_error.replayed);
	cr_assert_eq(pending_of(&ctl, j), m.u.job_error.episode_id);
	cr_assert_eq(broker_pending_count(h.b), 1);
	dob_msg_clear(&m);
	cl_free(&ctl);
	cl_free(&obs);
}

Test(episode, repeated_callbacks_are_counted_not_resent)
{
	struct client ctl, late;
	struct fb_job *j;
	struct dob_msg m;
	uint64_t ep;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&ctl, "a");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&ctl, j, 0x80190194);
	fake_clock_advance(h.loop, 10);
	fb_error(h.fb, j, 0x80190194);
	fake_clock_advance(h.loop, 10);
	fb_error(h.fb, j, 0x80190194);
	cl_expect_nothing(&ctl);
	/* A late subscriber sees the count. */
	cl_connect(&late, &h, &alice);
	cr_assert_eq(cl_hello(&late, "late", DOB_ROLE_OBSERVER, NULL), 1);
	cl_expect(&late, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.episode_id, ep);
	cr_assert_eq(m.u.job_error.repeat_count, 2);
	cr_assert_eq(m.u.job_error.last_seen_us - m.u.job_error.first_seen_us, 20000);
	cr_assert(m.u.job_error.replayed);
	dob_msg_clear(&m);
	cl_free(&ctl);
	cl_free(&late);
}

Test(episode, job_leaving_error_by_itself_resolves_the_episode)
{
	struct client ctl;
	struct fb_job *j;
	uint64_t ep;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&ctl, "a");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&ctl, j, 0x80190194);
	fake_clock_advance(h.loop, 5);
	j->state = DOB_STATE_TRANSFERRING;
	fb_event(h.fb, j, BACKEND_EV_MODIFIED);
	expect_resolution(&ctl, ep, DOB_RESOLVED_JOB_LEFT_ERROR, DOB_ACTION_UNSPECIFIED, NULL);
	cr_assert_eq(pending_of(&ctl, j), 0);
	/* A new error is a new episode with a new id. */
	fake_clock_advance(h.loop, 5);
	fb_error(h.fb, j, 0x80190195);
	cr_assert_gt(expect_job_error(&ctl, j, 0x80190195), ep);
	cl_free(&ctl);
}

Test(episode, two_controllers_race_one_wins_the_other_is_told_the_winner)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg ra, rb;
	uint64_t ep;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "race");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&a, j, 0x80190194);
	cr_assert_eq(expect_job_error(&b, j, 0x80190194), ep);
	/* a's cancel is in the backend when b's resume arrives. */
	h.fb->hold_acts = true;
	{
		struct dob_msg m;
		memset(&m, 0, sizeof(m));
		m.type = DOB_MSG_ACT;
		m.correlation_id = 50;
		m.u.act.job_id = j->id;
		m.u.act.episode_id = ep;
		m.u.act.action = DOB_ACTION_CANCEL;
		cl_send(&a, &m);
	}
	cr_assert_eq(cl_act(&b, &j->id, ep, DOB_ACTION_RESUME, &rb), DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(rb.u.action_result.winner.client_name, "ctl-a");
	cr_assert_eq(rb.u.action_result.winner.session_id, a.session_id);
	cr_assert_eq(rb.u.action_result.winner_action, DOB_ACTION_CANCEL);
	dob_msg_clear(&rb);
	cr_assert_eq(h.fb->n_act, 1, "exactly one action reached the backend");
	/* The backend answers a's cancel: a gets OK, both get the Resolution. */
	fb_release(h.fb);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &ra);
	cr_assert_eq(ra.correlation_id, 50);
	cr_assert_eq(ra.u.action_result.status, DOB_STATUS_OK);
	cr_assert_eq(ra.u.action_result.new_state, DOB_STATE_CANCELLED);
	dob_msg_clear(&ra);
	expect_resolution(&b, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-a");
	/* Asked again later, b still hears who won (history). */
	cr_assert_eq(cl_act(&b, &j->id, ep, DOB_ACTION_RESUME, &rb), DOB_STATUS_UNKNOWN_JOB,
		     "a cancelled job is no longer managed");
	dob_msg_clear(&rb);
	cr_assert_eq(h.fb->n_act, 1);
	cl_free(&a);
	cl_free(&b);
}

Test(episode, a_late_act_on_a_decided_episode_names_the_winner_from_history)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "hist");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&a, j, 0x80190194);
	cr_assert_eq(cl_act(&a, &j->id, ep, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	expect_resolution(&b, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME, "ctl-a");
	cr_assert_eq(cl_act(&b, &j->id, ep, DOB_ACTION_CANCEL, &r), DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(r.u.action_result.winner.client_name, "ctl-a");
	cr_assert_eq(r.u.action_result.winner_action, DOB_ACTION_RESUME);
	dob_msg_clear(&r);
	cr_assert_eq(cl_act(&b, &j->id, ep + 100, DOB_ACTION_CANCEL, NULL), DOB_STATUS_NO_EPISODE);
	cr_assert_eq(h.fb->n_act, 1);
	cl_free(&a);
	cl_free(&b);
}

Test(episode, observers_may_not_act)
{
	struct client ctl, obs;
	struct fb_job *j;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&obs, &h, &alice);
	cl_hello(&obs, "obs", DOB_ROLE_OBSERVER, NULL);
	j = submitted(&ctl, "x");
	fb_error(h.fb, j, 0x80190194);
	cr_assert_eq(cl_act(&obs, &j->id, 0, DOB_ACTION_CANCEL, NULL), DOB_STATUS_NOT_CONTROLLER);
	cr_assert_eq(h.fb->n_act, 0);
	cl_free(&ctl);
	cl_free(&obs);
}

Test(episode, complete_on_an_upload_job_is_refused_before_the_backend)
{
	struct client ctl;
	struct fb_job *j;
	struct dob_msg r, m, rep;
	struct dob_file_spec f = { "http://127.0.0.1/up", "/home/alice/up.bin" };
	uint64_t ep;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_SUBMIT_JOB;
	m.u.submit_job.display_name = "upload";
	m.u.submit_job.n_files = 1;
	m.u.submit_job.files = &f;
	m.u.submit_job.type = DOB_JOB_UPLOAD;
	cl_request(&ctl, &m, DOB_MSG_JOB_REPLY, &rep);
	cr_assert_eq(rep.u.job_reply.status, DOB_STATUS_OK);
	j = fb_find(h.fb, &rep.u.job_reply.job.job.job_id);
	dob_msg_clear(&rep);
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&ctl, j, 0x80190194);
	cr_assert_eq(cl_act(&ctl, &j->id, ep, DOB_ACTION_COMPLETE, &r), DOB_STATUS_FORBIDDEN_ACTION);
	cr_assert(strstr(r.u.action_result.message, "upload"), "%s", r.u.action_result.message);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_act, 0, "no backend call");
	cr_assert_eq(pending_of(&ctl, j), ep, "the episode stays pending");
	cr_assert_eq(cl_act(&ctl, &j->id, ep, DOB_ACTION_CANCEL, NULL), DOB_STATUS_OK);
	cl_free(&ctl);
}

Test(episode, a_failed_action_leaves_the_episode_pending)
{
	struct client ctl;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&ctl, "x");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&ctl, j, 0x80190194);
	h.fb->act_hr = 0x80070005; /* E_ACCESSDENIED */
	cr_assert_eq(cl_act(&ctl, &j->id, ep, DOB_ACTION_RESUME, &r), DOB_STATUS_BACKEND_ERROR);
	cr_assert_eq(r.u.action_result.hresult, 0x80070005);
	cr_assert(strstr(r.u.action_result.message, "0x80070005"), "%s",
		  r.u.action_result.message);
	dob_msg_clear(&r);
	cr_assert_eq(pending_of(&ctl, j), ep);
	h.fb->act_hr = 0;
	cr_assert_eq(cl_act(&ctl, &j->id, ep, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK,
		     "the claim was released");
	cl_free(&ctl);
}

static void send_act(struct client *cl, uint64_t corr, const struct fb_job *j, uint64_t ep,
		     enum dob_action a, uint32_t delay)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_ACT;
	m.correlation_id = corr;
	m.u.act.job_id = j->id;
	m.u.act.episode_id = ep;
	m.u.act.action = a;
	m.u.act.delay_ms = delay;
	cl_send(cl, &m);
}

static void short_timeout(struct broker_config *c)
{
	c->action_timeout_ms = 2000;
}

Test(episode, a_backend_that_never_answers_times_out_and_releases_the_claim)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	restart_with(short_timeout);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "hung");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&a, j, 0x80190194);
	h.fb->hold_acts = true;
	send_act(&a, 7, j, ep, DOB_ACTION_RESUME, 0);
	fake_clock_advance(h.loop, 1999);
	cr_assert_eq(cl_recv(&a, &r), 0);
	fake_clock_advance(h.loop, 1);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.correlation_id, 7);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_TIMEOUT);
	dob_msg_clear(&r);
	/* The late result is ignored: no Resolution for it. */
	h.fb->hold_acts = false;
	{
		size_t n = h.fb->n_held;
		h.fb->n_held = 0;
		for (size_t i = 0; i < n; i++)
			backend_result_free(h.fb->held[i]);
	}
	cr_assert_eq(pending_of(&b, j), ep);
	cr_assert_eq(cl_act(&b, &j->id, ep, DOB_ACTION_CANCEL, NULL), DOB_STATUS_OK);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-b");
	cl_free(&a);
	cl_free(&b);
}

Test(episode, a_late_success_is_ignored_and_the_sweep_resolves_the_episode)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	restart_with(short_timeout);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "late");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&a, j, 0x80190194);
	h.fb->hold_acts = true;
	send_act(&a, 9, j, ep, DOB_ACTION_SUSPEND, 0);
	fake_clock_advance(h.loop, 2000);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_TIMEOUT);
	dob_msg_clear(&r);
	fb_release(h.fb); /* the suspend did happen */
	cl_expect_nothing(&a);
	cr_assert_eq(pending_of(&a, j), ep);
	fake_clock_advance(h.loop, 5000); /* sweep */
	expect_resolution(&a, ep, DOB_RESOLVED_JOB_LEFT_ERROR, DOB_ACTION_UNSPECIFIED, NULL);
	cl_free(&a);
}
