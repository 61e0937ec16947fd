/*
 * tests/unit/test_episode.c - error episodes and decisions: one episode per
 * error, repeats counted, left-error resolution, racing controllers,
 * forbidden actions, deadlines with each policy, resume-after-delay, action
 * timeouts, the reconcile sweep, late subscribers and restarts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
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

/* A controller of alice's, a job of its own that enters ERROR, and the
 * JobError it receives; returns the episode id. */
static uint64_t controller_with_error(struct client *cl, const char *name, const char *job,
				      struct fb_job **j)
{
	cl_connect(cl, &h, &alice);
	cl_hello(cl, name, DOB_ROLE_CONTROLLER, NULL);
	*j = submitted(cl, job);
	fb_error(h.fb, *j, 0x80190194);
	return expect_job_error(cl, *j, 0x80190194);
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

	ep = controller_with_error(&ctl, "ctl", "a", &j);
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

	ep = controller_with_error(&ctl, "ctl", "a", &j);
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

Test(episode, a_second_act_is_held_until_the_first_succeeds_then_told_the_winner)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg ra, rb;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "race", &j);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(expect_job_error(&b, j, 0x80190194), ep);
	/* a's cancel is in the backend when b's resume arrives. */
	h.fb->hold_acts = true;
	send_act(&a, 50, j, ep, DOB_ACTION_CANCEL, 0);
	send_act(&b, 51, j, ep, DOB_ACTION_RESUME, 0);
	/* b is not told anything yet: a's call may still fail. */
	cl_expect_nothing(&b);
	cr_assert_eq(h.fb->n_act, 1, "exactly one action reached the backend");
	/* The backend answers a's cancel: a gets OK, both get the Resolution,
	 * and only then is b told who won. */
	fb_release(h.fb);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &ra);
	cr_assert_eq(ra.correlation_id, 50);
	cr_assert_eq(ra.u.action_result.status, DOB_STATUS_OK);
	cr_assert_eq(ra.u.action_result.new_state, DOB_STATE_CANCELLED);
	dob_msg_clear(&ra);
	expect_resolution(&b, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-a");
	cl_skip_to(&b, DOB_MSG_ACTION_RESULT, &rb);
	cr_assert_eq(rb.correlation_id, 51);
	cr_assert_eq(rb.u.action_result.status, DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(rb.u.action_result.winner.client_name, "ctl-a");
	cr_assert_eq(rb.u.action_result.winner.session_id, a.session_id);
	cr_assert_eq(rb.u.action_result.winner_action, DOB_ACTION_CANCEL);
	dob_msg_clear(&rb);
	/* Asked again later, b still hears who won (history), even though the
	 * cancelled job is no longer managed. */
	cr_assert_eq(cl_act(&b, &j->id, ep, DOB_ACTION_RESUME, &rb), DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(rb.u.action_result.winner.client_name, "ctl-a");
	cr_assert_eq(rb.u.action_result.winner_action, DOB_ACTION_CANCEL);
	dob_msg_clear(&rb);
	cr_assert_eq(h.fb->n_act, 1);
	cl_free(&a);
	cl_free(&b);
}

Test(episode, a_failed_decision_is_announced_and_the_held_act_takes_its_turn)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg m;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "turn", &j);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(expect_job_error(&b, j, 0x80190194), ep);
	h.fb->hold_acts = true;
	h.fb->act_hr = 0x80070005; /* a's complete fails (E_ACCESSDENIED) */
	send_act(&a, 60, j, ep, DOB_ACTION_COMPLETE, 0);
	send_act(&b, 61, j, ep, DOB_ACTION_CANCEL, 0);
	cl_expect_nothing(&b);
	h.fb->act_hr = 0;
	fb_release(h.fb);
	/* a is told its failure; everyone hears the episode is pending again,
	 * naming the decision that failed. */
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &m);
	cr_assert_eq(m.correlation_id, 60);
	cr_assert_neq(m.u.action_result.status, DOB_STATUS_OK);
	cr_assert_eq(m.u.action_result.hresult, 0x80070005);
	dob_msg_clear(&m);
	cl_skip_to(&b, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.episode_id, ep, "same episode, pending again");
	cr_assert(m.u.job_error.replayed);
	cr_assert(m.u.job_error.has_failed_decision);
	cr_assert_eq(m.u.job_error.failed_decision.action, DOB_ACTION_COMPLETE);
	cr_assert_str_eq(m.u.job_error.failed_decision.actor.client_name, "ctl-a");
	cr_assert_eq(m.u.job_error.failed_decision.hresult, 0x80070005);
	dob_msg_clear(&m);
	/* b's held cancel then ran, and won. */
	cr_assert_eq(h.fb->n_act, 2);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_CANCEL);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-b");
	cl_skip_to(&b, DOB_MSG_ACTION_RESULT, &m);
	cr_assert_eq(m.correlation_id, 61);
	cr_assert_eq(m.u.action_result.status, DOB_STATUS_OK);
	dob_msg_clear(&m);
	cl_free(&a);
	cl_free(&b);
}

Test(episode, a_late_act_on_a_decided_episode_names_the_winner_from_history)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "hist", &j);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
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

	ep = controller_with_error(&ctl, "ctl", "x", &j);
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


static void small_inflight(struct broker_config *c)
{
	c->max_inflight_requests = 2;
}

static void short_timeout(struct broker_config *c)
{
	c->action_timeout_ms = 2000;
}

Test(episode, a_timed_out_action_keeps_its_claim_until_the_backend_answers)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	restart_with(short_timeout);
	ep = controller_with_error(&a, "ctl-a", "hung", &j);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(expect_job_error(&b, j, 0x80190194), ep);
	h.fb->hold_acts = true;
	send_act(&a, 7, j, ep, DOB_ACTION_RESUME, 0);
	fake_clock_advance(h.loop, 1999);
	cr_assert_eq(cl_recv(&a, &r), 0);
	fake_clock_advance(h.loop, 1);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.correlation_id, 7);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_TIMEOUT);
	cr_assert(strstr(r.u.action_result.message, "stays claimed"), "%s",
		  r.u.action_result.message);
	dob_msg_clear(&r);
	/* The call may still run in the service: b's cancel must not reach it. */
	send_act(&b, 8, j, ep, DOB_ACTION_CANCEL, 0);
	cl_expect_nothing(&b);
	cr_assert_eq(h.fb->n_act, 1);
	/* The late answer counts: the resume resolves the episode in a's name,
	 * and b is told a won. a hears no second reply. */
	fb_release(h.fb);
	expect_resolution(&b, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME, "ctl-a");
	cl_skip_to(&b, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.correlation_id, 8);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(r.u.action_result.winner.client_name, "ctl-a");
	dob_msg_clear(&r);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME, "ctl-a");
	cl_expect_nothing(&a);
	cr_assert_eq(h.fb->n_act, 1);
	cl_free(&a);
	cl_free(&b);
}

Test(episode, an_action_declared_lost_is_settled_by_reading_the_job)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;
	unsigned queries;
	uint64_t ep;

	restart_with(short_timeout);
	ep = controller_with_error(&a, "ctl-a", "lost", &j);
	h.fb->hold_acts = true;
	h.fb->act_hr = 0x800706BA; /* the call will fail, but never answers */
	send_act(&a, 9, j, ep, DOB_ACTION_SUSPEND, 0);
	fake_clock_advance(h.loop, 2000);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_TIMEOUT);
	dob_msg_clear(&r);
	queries = h.fb->n_query;
	cr_assert_eq(pending_of(&a, j), ep, "still claimed, still pending");
	/* Three timeouts later the call is declared lost: the job is read, is
	 * still in ERROR, and the episode is pending again, announced. */
	fake_clock_advance(h.loop, 6000);
	cr_assert_gt(h.fb->n_query, queries);
	cl_skip_to(&a, DOB_MSG_JOB_ERROR, &r);
	cr_assert_eq(r.u.job_error.episode_id, ep);
	cr_assert(r.u.job_error.has_failed_decision);
	cr_assert_eq(r.u.job_error.failed_decision.action, DOB_ACTION_SUSPEND);
	cr_assert(strstr(r.u.job_error.failed_decision.message, "never answered"), "%s",
		  r.u.job_error.failed_decision.message);
	dob_msg_clear(&r);
	/* The lost call's answer, if it ever comes, changes nothing. */
	h.fb->act_hr = 0;
	fb_release(h.fb);
	cl_expect_nothing(&a);
	cr_assert_eq(pending_of(&a, j), ep);
	cl_free(&a);
}

Test(episode, a_lost_action_whose_job_left_error_resolves_the_episode)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	restart_with(short_timeout);
	ep = controller_with_error(&a, "ctl-a", "late", &j);
	h.fb->hold_acts = true;
	send_act(&a, 9, j, ep, DOB_ACTION_SUSPEND, 0); /* the suspend happens, no answer */
	fake_clock_advance(h.loop, 2000);
	cl_skip_to(&a, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_TIMEOUT);
	dob_msg_clear(&r);
	fake_clock_advance(h.loop, 6000);
	expect_resolution(&a, ep, DOB_RESOLVED_JOB_LEFT_ERROR, DOB_ACTION_UNSPECIFIED, NULL);
	cr_assert_eq(pending_of(&a, j), 0);
	fb_release(h.fb);
	cl_expect_nothing(&a);
	cl_free(&a);
}


/* ---------------------------------------------------------------- policies */

static enum dob_policy_kind g_kind;

static void policy_cfg(struct broker_config *c)
{
	c->default_policy.kind = g_kind;
	c->default_policy.max_resumes = 2;
	c->default_policy.backoff_ms = 100;
	c->default_policy.exhausted = DOB_POLICY_CANCEL;
	c->default_deadline_ms = 10000;
	c->sweep_interval_ms = 1000000; /* out of the way */
}

static uint64_t error_with_policy(struct client *cl, struct fb_job **jp, enum dob_policy_kind k)
{
	struct dob_msg m;
	uint64_t ep;

	g_kind = k;
	restart_with(policy_cfg);
	cl_connect(cl, &h, &alice);
	cl_hello(cl, "watch", DOB_ROLE_OBSERVER, NULL);
	{
		struct client sub;
		cl_connect(&sub, &h, &alice);
		cl_hello(&sub, "submitter", DOB_ROLE_CONTROLLER, NULL);
		*jp = submitted(&sub, "policy-job");
		cl_free(&sub);
	}
	fb_error(h.fb, *jp, 0x80190194);
	cl_skip_to(cl, DOB_MSG_JOB_ERROR, &m);
	ep = m.u.job_error.episode_id;
	cr_assert_eq(m.u.job_error.default_policy.kind, k);
	if (k == DOB_POLICY_NONE)
		cr_assert_eq(m.u.job_error.deadline_us, 0);
	else
		cr_assert_eq(m.u.job_error.deadline_us - m.u.job_error.first_seen_us, 10000000);
	dob_msg_clear(&m);
	return ep;
}

Test(episode, policy_none_keeps_the_episode_pending_past_any_deadline)
{
	struct client w;
	struct fb_job *j;
	uint64_t ep = error_with_policy(&w, &j, DOB_POLICY_NONE);

	fake_clock_advance(h.loop, 100000);
	cl_expect_nothing(&w);
	cr_assert_eq(h.fb->n_act, 0);
	cr_assert_eq(pending_of(&w, j), ep);
	cl_free(&w);
}

Test(episode, policy_cancel_cancels_at_the_deadline)
{
	struct client w;
	struct fb_job *j;
	struct dob_msg m;
	uint64_t ep = error_with_policy(&w, &j, DOB_POLICY_CANCEL);

	fake_clock_advance(h.loop, 9999);
	cr_assert_eq(h.fb->n_act, 0, "not before the deadline");
	fake_clock_advance(h.loop, 1);
	cr_assert_eq(h.fb->n_act, 1);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_CANCEL);
	cl_skip_to(&w, DOB_MSG_RESOLUTION, &m);
	cr_assert_eq(m.u.resolution.episode_id, ep);
	cr_assert_eq(m.u.resolution.resolved_by, DOB_RESOLVED_POLICY);
	cr_assert_eq(m.u.resolution.actor.session_id, 0);
	cr_assert_str_eq(m.u.resolution.actor.client_name, "policy");
	cr_assert_eq(m.u.resolution.new_state, DOB_STATE_CANCELLED);
	dob_msg_clear(&m);
	cr_assert_eq(pending_of(&w, j), UINT64_MAX, "cancelled: no longer managed");
	cl_free(&w);
}

Test(episode, policy_complete_completes_at_the_deadline)
{
	struct client w;
	struct fb_job *j;
	uint64_t ep = error_with_policy(&w, &j, DOB_POLICY_COMPLETE);

	fake_clock_advance(h.loop, 10000);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_COMPLETE);
	expect_resolution(&w, ep, DOB_RESOLVED_POLICY, DOB_ACTION_COMPLETE, "policy");
	cl_free(&w);
}

Test(episode, policy_resume_backs_off_then_applies_exhausted)
{
	struct client w;
	struct fb_job *j;
	uint64_t ep = error_with_policy(&w, &j, DOB_POLICY_RESUME), ep2, ep3;

	/* 1st episode: deadline, then resume after 100 ms. */
	fake_clock_advance(h.loop, 10000);
	cr_assert_eq(h.fb->n_act, 0, "the resume waits for its backoff");
	fake_clock_advance(h.loop, 100);
	cr_assert_eq(h.fb->n_act, 1);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_RESUME);
	expect_resolution(&w, ep, DOB_RESOLVED_POLICY, DOB_ACTION_RESUME, "policy");
	/* 2nd episode: backoff doubles. */
	fb_error(h.fb, j, 0x80190194);
	ep2 = expect_job_error(&w, j, 0x80190194);
	fake_clock_advance(h.loop, 10000 + 199);
	cr_assert_eq(h.fb->n_act, 1);
	fake_clock_advance(h.loop, 1);
	cr_assert_eq(h.fb->n_act, 2);
	expect_resolution(&w, ep2, DOB_RESOLVED_POLICY, DOB_ACTION_RESUME, "policy");
	/* 3rd: max_resumes (2) spent: exhausted = cancel, at the deadline. */
	fb_error(h.fb, j, 0x80190194);
	ep3 = expect_job_error(&w, j, 0x80190194);
	fake_clock_advance(h.loop, 10000);
	cr_assert_eq(h.fb->n_act, 3);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_CANCEL);
	expect_resolution(&w, ep3, DOB_RESOLVED_POLICY, DOB_ACTION_CANCEL, "policy");
	cl_free(&w);
}

Test(episode, a_controller_answer_before_the_deadline_stops_the_policy)
{
	struct client w, ctl;
	struct fb_job *j;
	uint64_t ep = error_with_policy(&w, &j, DOB_POLICY_CANCEL);

	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_act(&ctl, &j->id, ep, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	fake_clock_advance(h.loop, 20000);
	cr_assert_eq(h.fb->n_act, 1);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_RESUME);
	cl_free(&w);
	cl_free(&ctl);
}

static void job_policy_cfg(struct broker_config *c)
{
	c->default_policy.kind = DOB_POLICY_NONE;
}

Test(episode, a_job_policy_overrides_the_broker_default)
{
	struct client ctl;
	struct dob_msg m, rep;
	struct dob_file_spec f = { "http://127.0.0.1/a", "/home/alice/a" };
	struct fb_job *j;
	uint64_t ep;

	restart_with(job_policy_cfg);
	cl_connect(&ctl, &h, &alice);
	cl_hello(&ctl, "ctl", DOB_ROLE_CONTROLLER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_SUBMIT_JOB;
	m.u.submit_job.display_name = "own-policy";
	m.u.submit_job.n_files = 1;
	m.u.submit_job.files = &f;
	m.u.submit_job.policy.kind = DOB_POLICY_CANCEL;
	m.u.submit_job.policy.deadline_ms = 500;
	cl_request(&ctl, &m, DOB_MSG_JOB_REPLY, &rep);
	cr_assert_eq(rep.u.job_reply.status, DOB_STATUS_OK);
	cr_assert_eq(rep.u.job_reply.job.policy.kind, DOB_POLICY_CANCEL);
	j = fb_find(h.fb, &rep.u.job_reply.job.job.job_id);
	dob_msg_clear(&rep);
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&ctl, j, 0x80190194);
	fake_clock_advance(h.loop, 500);
	expect_resolution(&ctl, ep, DOB_RESOLVED_POLICY, DOB_ACTION_CANCEL, "policy");
	cl_free(&ctl);
}

/* ---------------------------------------------------------------- resume after delay */

Test(episode, resume_after_delay_answers_at_once_and_resumes_later)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "later", &j);
	cl_connect(&b, &h, &alice);
	cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(expect_job_error(&b, j, 0x80190194), ep);
	cr_assert_eq(cl_act(&a, &j->id, ep, DOB_ACTION_RESUME_AFTER_DELAY, &r), DOB_STATUS_OK);
	cr_assert(strstr(r.u.action_result.message, "resume scheduled in 1000 ms"), "%s",
		  r.u.action_result.message);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_act, 0);
	/* The episode is claimed meanwhile: b's cancel waits for the outcome. */
	send_act(&b, 70, j, ep, DOB_ACTION_CANCEL, 0);
	cl_expect_nothing(&b);
	fake_clock_advance(h.loop, 999);
	cr_assert_eq(h.fb->n_act, 0);
	fake_clock_advance(h.loop, 1);
	cr_assert_eq(h.fb->n_act, 1);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_RESUME);
	expect_resolution(&b, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME_AFTER_DELAY, "ctl-a");
	cl_skip_to(&b, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.correlation_id, 70);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_eq(r.u.action_result.winner_action, DOB_ACTION_RESUME_AFTER_DELAY);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_act, 1);
	cl_free(&a);
	cl_free(&b);
}

Test(episode, a_scheduled_resume_told_ok_survives_a_restart_and_is_replayed_as_decided)
{
	struct client a, late;
	struct fb_job *j;
	struct dob_msg r;
	struct dob_guid id;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "durable", &j);
	id = j->id;
	cr_assert_eq(cl_act(&a, &j->id, ep, DOB_ACTION_RESUME_AFTER_DELAY, &r), DOB_STATUS_OK);
	dob_msg_clear(&r);
	cl_free(&a);
	fake_clock_advance(h.loop, 400);
	h_restart(&h); /* the broker goes away before the resume */
	cr_assert_eq(h.fb->n_act, 0);
	/* A new controller hears of the episode, as decided: not offered as
	 * pending. */
	cl_connect(&late, &h, &alice);
	cr_assert_eq(cl_hello(&late, "ctl-late", DOB_ROLE_CONTROLLER, NULL), 1);
	cl_skip_to(&late, DOB_MSG_JOB_ERROR, &r);
	cr_assert_eq(r.u.job_error.episode_id, ep);
	cr_assert(r.u.job_error.replayed);
	cr_assert(r.u.job_error.has_pending_decision);
	cr_assert_eq(r.u.job_error.pending_decision.action, DOB_ACTION_RESUME_AFTER_DELAY);
	cr_assert_str_eq(r.u.job_error.pending_decision.actor.client_name, "ctl-a");
	dob_msg_clear(&r);
	j = fb_find(h.fb, &id);
	send_act(&late, 71, j, ep, DOB_ACTION_CANCEL, 0);
	cl_expect_nothing(&late);
	/* The resume runs when due, in a's name. */
	fake_clock_advance(h.loop, 599);
	cr_assert_eq(h.fb->n_act, 0);
	fake_clock_advance(h.loop, 1);
	cr_assert_eq(h.fb->n_act, 1);
	cr_assert_eq(h.fb->last_action, DOB_ACTION_RESUME);
	expect_resolution(&late, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME_AFTER_DELAY,
			  "ctl-a");
	cl_skip_to(&late, DOB_MSG_ACTION_RESULT, &r);
	cr_assert_eq(r.u.action_result.status, DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(r.u.action_result.winner.client_name, "ctl-a");
	dob_msg_clear(&r);
	/* And once it ran, a restart does not run it again. */
	h_restart(&h);
	fake_clock_advance(h.loop, 5000);
	cr_assert_eq(h.fb->n_act, 0);
	cl_free(&late);
}

Test(episode, an_overdue_scheduled_resume_runs_at_once_after_a_restart)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "overdue", &j);
	cr_assert_eq(cl_act(&a, &j->id, ep, DOB_ACTION_RESUME_AFTER_DELAY, &r), DOB_STATUS_OK);
	dob_msg_clear(&r);
	cl_free(&a);
	fake_wall_step(5 * 1000 * 1000); /* the broker is down for 5 s */
	h_restart(&h);
	fake_clock_advance(h.loop, 0);
	cr_assert_eq(h.fb->n_act, 1, "overdue: at once");
	cr_assert_eq(h.fb->last_action, DOB_ACTION_RESUME);
}

Test(episode, scheduled_resumes_count_against_the_in_flight_limit)
{
	struct client a;
	struct fb_job *jobs[4];
	struct dob_msg r;
	uint64_t eps[4];

	restart_with(small_inflight);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		jobs[i] = submitted(&a, name);
		fb_error(h.fb, jobs[i], 0x80190194);
		eps[i] = expect_job_error(&a, jobs[i], 0x80190194);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(cl_act(&a, &jobs[i]->id, eps[i], DOB_ACTION_RESUME_AFTER_DELAY, &r),
			     DOB_STATUS_OK);
		dob_msg_clear(&r);
	}
	cr_assert_eq(cl_act(&a, &jobs[2]->id, eps[2], DOB_ACTION_RESUME_AFTER_DELAY, &r),
		     DOB_STATUS_LIMIT_EXCEEDED);
	dob_msg_clear(&r);
	cl_free(&a);
}

/* ---------------------------------------------------------------- acting without episode */

Test(episode, act_with_episode_zero_acts_on_a_running_job)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "running");
	j->state = DOB_STATE_TRANSFERRING;
	cr_assert_eq(cl_act(&a, &j->id, 0, DOB_ACTION_SUSPEND, &r), DOB_STATUS_OK);
	cr_assert_eq(r.u.action_result.new_state, DOB_STATE_SUSPENDED);
	dob_msg_clear(&r);
	cr_assert_eq(j->state, DOB_STATE_SUSPENDED);
	cl_free(&a);
}

Test(episode, act_with_episode_zero_resolves_the_pending_episode)
{
	struct client a;
	struct fb_job *j;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "x", &j);
	cr_assert_eq(cl_act(&a, &j->id, 0, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME, "ctl-a");
	cl_free(&a);
}

/* ---------------------------------------------------------------- sweep */

Test(episode, the_sweep_finds_an_error_no_callback_reported)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg m;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "wine");
	/* Wine's BITS never calls JobError: the state just changes. */
	j->state = DOB_STATE_ERROR;
	j->hr = 0x80190194;
	j->context = DOB_CONTEXT_REMOTE_FILE;
	cl_expect_nothing(&a);
	fake_clock_advance(h.loop, 5000);
	cl_skip_to(&a, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.error.hresult, 0x80190194);
	cr_assert_eq(m.u.job_error.error.context, DOB_CONTEXT_REMOTE_FILE);
	dob_msg_clear(&m);
	/* Next sweeps see the same error: not a new episode. */
	fake_clock_advance(h.loop, 5000);
	fake_clock_advance(h.loop, 5000);
	cl_expect_nothing(&a);
	cr_assert_eq(broker_pending_count(h.b), 1);
	cl_free(&a);
}

Test(episode, the_sweep_reports_a_transient_error_once_per_spell)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg m;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "flaky");
	j->state = DOB_STATE_TRANSIENT_ERROR;
	j->hr = 0x80200010;
	fake_clock_advance(h.loop, 5000);
	cl_expect(&a, DOB_MSG_JOB_MODIFIED, &m);
	cr_assert(m.u.job_modified.transient);
	cr_assert(m.u.job_modified.has_error);
	cr_assert_eq(m.u.job_modified.error.hresult, 0x80200010);
	dob_msg_clear(&m);
	fake_clock_advance(h.loop, 5000);
	cl_expect_nothing(&a);
	/* Out of the spell and into it again: reported again. */
	j->state = DOB_STATE_TRANSFERRING;
	fake_clock_advance(h.loop, 5000);
	cl_expect(&a, DOB_MSG_JOB_MODIFIED, &m);
	cr_assert(!m.u.job_modified.transient);
	dob_msg_clear(&m);
	j->state = DOB_STATE_TRANSIENT_ERROR;
	fake_clock_advance(h.loop, 5000);
	cl_expect(&a, DOB_MSG_JOB_MODIFIED, &m);
	cr_assert(m.u.job_modified.transient);
	dob_msg_clear(&m);
	cr_assert_eq(broker_pending_count(h.b), 0, "transient errors are no episodes");
	cl_free(&a);
}

Test(episode, a_job_the_backend_forgot_is_removed_and_its_episode_ends)
{
	struct client a;
	struct fb_job *j;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "gone", &j);
	j->gone = true;
	fake_clock_advance(h.loop, 5000);
	expect_resolution(&a, ep, DOB_RESOLVED_JOB_LEFT_ERROR, DOB_ACTION_UNSPECIFIED, NULL);
	cr_assert_eq(pending_of(&a, j), UINT64_MAX);
	cr_assert_eq(broker_job_count(h.b), 0);
	cl_free(&a);
}

Test(episode, events_for_unmanaged_jobs_are_ignored)
{
	struct client a;
	struct fb_job *j = fb_add(h.fb, "stranger", DOB_JOB_DOWNLOAD, DOB_STATE_QUEUED);

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	fb_error(h.fb, j, 0x80190194);
	cl_expect_nothing(&a);
	cr_assert_eq(broker_pending_count(h.b), 0);
	cl_free(&a);
}

/* ---------------------------------------------------------------- subscribers and restarts */

Test(episode, a_late_subscriber_receives_every_pending_episode_marked_replayed)
{
	struct client a, late;
	struct fb_job *j1, *j2, *j3;
	struct dob_msg m;
	uint64_t seen = 0;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j1 = submitted(&a, "one");
	j2 = submitted(&a, "two");
	j3 = submitted(&a, "three");
	fb_error(h.fb, j1, 0x80190194);
	fb_error(h.fb, j2, 0x80190194);
	fb_error(h.fb, j3, 0x80190194);
	fake_pump(h.loop);
	cl_connect(&late, &h, &alice);
	cr_assert_eq(cl_hello(&late, "late", DOB_ROLE_OBSERVER, NULL), 3);
	for (int i = 0; i < 3; i++) {
		cl_expect(&late, DOB_MSG_JOB_ERROR, &m);
		cr_assert(m.u.job_error.replayed);
		seen |= 1u << m.u.job_error.job.job_id.b[15];
		dob_msg_clear(&m);
	}
	cr_assert_eq(seen, (1u << j1->id.b[15]) | (1u << j2->id.b[15]) | (1u << j3->id.b[15]));
	cl_expect_nothing(&late);
	cl_free(&a);
	cl_free(&late);
}

Test(episode, a_restarted_broker_reannounces_a_pending_episode)
{
	struct client a, b;
	struct fb_job *j;
	struct dob_guid id;
	struct dob_msg m;
	uint64_t ep, ep2;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "survivor");
	id = j->id;
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&a, j, 0x80190194);
	cl_free(&a);
	h_restart(&h);
	cr_assert_eq(broker_job_count(h.b), 1);
	cr_assert_eq(broker_pending_count(h.b), 1);
	cr_assert_geq(h.fb->n_attach, 1, "the job was re-attached");
	cl_connect(&b, &h, &alice);
	cr_assert_eq(cl_hello(&b, "ctl-b", DOB_ROLE_CONTROLLER, NULL), 1);
	cl_expect(&b, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.episode_id, ep);
	cr_assert(m.u.job_error.replayed);
	cr_assert_str_eq(m.u.job_error.job.display_name, "survivor");
	dob_msg_clear(&m);
	/* It can be resolved, and a new episode never reuses an id. */
	j = fb_find(h.fb, &id);
	cr_assert_eq(cl_act(&b, &id, ep, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	expect_resolution(&b, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME, "ctl-b");
	fake_clock_advance(h.loop, 10);
	fb_error(h.fb, j, 0x80190194);
	ep2 = expect_job_error(&b, j, 0x80190194);
	cr_assert_gt(ep2, ep);
	cl_free(&b);
	/* After another restart, the decision is remembered. */
	h_restart(&h);
	cl_connect(&b, &h, &alice);
	cr_assert_eq(cl_hello(&b, "ctl-c", DOB_ROLE_CONTROLLER, NULL), 1);
	cl_expect(&b, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.episode_id, ep2);
	dob_msg_clear(&m);
	{
		struct dob_msg r;
		cr_assert_eq(cl_act(&b, &id, ep, DOB_ACTION_CANCEL, &r), DOB_STATUS_ALREADY_RESOLVED);
		cr_assert_str_eq(r.u.action_result.winner.client_name, "ctl-b");
		dob_msg_clear(&r);
	}
	cl_free(&b);
}

Test(episode, a_full_journal_hands_out_no_episode_id_and_the_error_comes_when_it_has_room)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "before");
	fake_files_set_space(0);
	fb_error(h.fb, j, 0x80190194);
	/* No id could be reserved in the journal: none is handed out (it could
	 * be reused after a crash), and the error is not lost: */
	cl_expect_nothing(&a);
	cr_assert_eq(broker_pending_count(h.b), 0);
	cr_assert_eq(cl_submit(&a, "after", "/home/alice/g", NULL, &r), DOB_STATUS_UNAVAILABLE);
	cr_assert(strstr(r.u.job_reply.message, "no space left"), "%s", r.u.job_reply.message);
	dob_msg_clear(&r);
	/* Space again: the sweep finds the job in ERROR and opens the episode,
	 * journaled; new jobs come in. */
	fake_files_set_space(-1);
	fake_clock_advance(h.loop, 5000);
	expect_job_error(&a, j, 0x80190194);
	cr_assert_eq(cl_submit(&a, "later", "/home/alice/h", NULL, NULL), DOB_STATUS_OK);
	cl_free(&a);
	h_restart(&h);
	cr_assert_eq(broker_pending_count(h.b), 1, "the episode reached the journal");
}

Test(episode, a_job_found_final_after_a_restart_is_settled_not_retried_forever)
{
	struct client a, w;
	struct fb_job *j;
	struct dob_guid id;
	struct dob_msg r;
	uint64_t ep;
	unsigned attaches;

	ep = controller_with_error(&a, "ctl-a", "final", &j);
	id = j->id;
	cl_free(&a);
	/* The service cancelled it while the broker was away. */
	j->state = DOB_STATE_CANCELLED;
	h_restart(&h);
	fake_clock_advance(h.loop, 0);
	/* Re-attach is refused (final job); a read settles it: the episode is
	 * resolved in the service's name and the job forgotten. */
	cr_assert_eq(broker_job_count(h.b), 0);
	cr_assert_eq(broker_pending_count(h.b), 0);
	cl_connect(&w, &h, &alice);
	cr_assert_eq(cl_hello(&w, "w", DOB_ROLE_CONTROLLER, NULL), 0);
	cr_assert_eq(cl_act(&w, &id, ep, DOB_ACTION_RESUME, &r), DOB_STATUS_ALREADY_RESOLVED);
	cr_assert_str_eq(r.u.action_result.winner.client_name, "service");
	cr_assert_eq(r.u.action_result.new_state, DOB_STATE_CANCELLED);
	dob_msg_clear(&r);
	attaches = h.fb->n_attach;
	fake_clock_advance(h.loop, 20000); /* four sweeps */
	cr_assert_eq(h.fb->n_attach, attaches, "no re-attach retried forever");
	cr_assert_eq(cl_act(&w, &id, 0, DOB_ACTION_CANCEL, &r), DOB_STATUS_UNKNOWN_JOB);
	dob_msg_clear(&r);
	h_restart(&h);
	cr_assert_eq(broker_job_count(h.b), 0, "forgotten in the journal too");
	cl_free(&w);
}

Test(episode, a_wall_clock_step_backwards_does_not_hide_a_new_error)
{
	struct client a;
	struct fb_job *j;
	uint64_t ep, ep2;

	ep = controller_with_error(&a, "ctl-a", "ntp", &j);
	cr_assert_eq(cl_act(&a, &j->id, ep, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME, "ctl-a");
	fake_wall_step(-3600LL * 1000 * 1000); /* NTP steps the clock back an hour */
	fb_error(h.fb, j, 0x80190194);
	ep2 = expect_job_error(&a, j, 0x80190194);
	cr_assert_neq(ep2, ep);
	cl_free(&a);
}

Test(episode, adopting_a_job_in_error_answers_its_real_state)
{
	struct client a;
	struct fb_job *j;
	struct dob_msg r;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = fb_add(h.fb, "outside", DOB_JOB_DOWNLOAD, DOB_STATE_ERROR);
	snprintf(j->owner, sizeof(j->owner), "%s", alice.user_sid);
	j->hr = 0x80190194;
	cr_assert_eq(cl_adopt(&a, &j->id, &r), DOB_STATUS_OK);
	cr_assert(r.u.job_reply.has_job);
	cr_assert_eq(r.u.job_reply.job.job.state, DOB_STATE_ERROR, "not QUEUED");
	cr_assert_neq(r.u.job_reply.job.pending_episode_id, 0);
	dob_msg_clear(&r);
	cl_free(&a);
}

Test(episode, a_controller_gone_mid_decision_still_resolves_for_the_others)
{
	struct client a, obs;
	struct fb_job *j;
	uint64_t ep;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&obs, &h, &alice);
	cl_hello(&obs, "obs", DOB_ROLE_OBSERVER, NULL);
	j = submitted(&a, "orphan");
	fb_error(h.fb, j, 0x80190194);
	ep = expect_job_error(&obs, j, 0x80190194);
	h.fb->hold_acts = true;
	send_act(&a, 5, j, ep, DOB_ACTION_CANCEL, 0);
	fake_conn_hangup(a.c);
	fb_release(h.fb);
	expect_resolution(&obs, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-a");
	cl_free(&a);
	cl_free(&obs);
}

Test(episode, lost_callbacks_make_the_broker_read_every_job_at_once)
{
	struct client a;
	struct fb_job *j;
	struct backend_event *ev = dob_calloc(1, sizeof(*ev));
	unsigned before;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "missed");
	j->state = DOB_STATE_ERROR;
	j->hr = 0x80190194;
	before = h.fb->n_query;
	ev->kind = BACKEND_EV_MISSED;
	h.fb->sink.event(h.fb->sink.ctx, ev);
	fake_pump(h.loop);
	cr_assert_gt(h.fb->n_query, before);
	expect_job_error(&a, j, 0x80190194);
	cl_free(&a);
}

static void tiny_journal(struct broker_config *c)
{
	c->journal_compact_bytes = 1024;
}

Test(episode, a_compacted_journal_keeps_jobs_pending_episodes_and_decisions)
{
	struct client a;
	struct fb_job *jobs[12];
	struct dob_guid first;
	uint64_t eps[12];
	struct dob_msg r;

	restart_with(tiny_journal);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 12; i++) {
		jobs[i] = submitted(&a, "compact-me");
		fb_error(h.fb, jobs[i], 0x80190194);
		eps[i] = expect_job_error(&a, jobs[i], 0x80190194);
	}
	/* Resolve half of them; the rest stay pending. */
	for (int i = 0; i < 12; i += 2)
		cr_assert_eq(cl_act(&a, &jobs[i]->id, eps[i], DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	first = jobs[0]->id; /* the restart replaces the fake backend's table */
	cl_free(&a);
	h_restart(&h);
	cr_assert_eq(broker_job_count(h.b), 12);
	cr_assert_eq(broker_pending_count(h.b), 6);
	cl_connect(&a, &h, &alice);
	cr_assert_eq(cl_hello(&a, "ctl-b", DOB_ROLE_CONTROLLER, NULL), 6);
	cr_assert_eq(cl_act(&a, &first, eps[0], DOB_ACTION_CANCEL, &r),
		     DOB_STATUS_ALREADY_RESOLVED, "%s: %s", dob_status_name(r.u.action_result.status),
		     r.u.action_result.message);
	cr_assert_str_eq(r.u.action_result.winner.client_name, "ctl-a");
	dob_msg_clear(&r);
	cl_free(&a);
}

Test(episode, a_compacted_journal_keeps_the_delayed_decisions_told_ok)
{
	struct client a;
	struct fb_job *jobs[12];
	uint64_t eps[12];
	struct dob_msg r;

	restart_with(tiny_journal);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	for (int i = 0; i < 12; i++) {
		jobs[i] = submitted(&a, "compact-me");
		fb_error(h.fb, jobs[i], 0x80190194);
		eps[i] = expect_job_error(&a, jobs[i], 0x80190194);
	}
	/* The first resume is scheduled before the journal compacts (the many
	 * episodes after it grow the file past its 1 KiB threshold). */
	cr_assert_eq(cl_act(&a, &jobs[0]->id, eps[0], DOB_ACTION_RESUME_AFTER_DELAY, &r),
		     DOB_STATUS_OK);
	dob_msg_clear(&r);
	for (int i = 1; i < 12; i++)
		cr_assert_eq(cl_act(&a, &jobs[i]->id, eps[i], DOB_ACTION_SUSPEND, NULL),
			     DOB_STATUS_OK);
	cl_free(&a);
	h_restart(&h);
	cr_assert_eq(broker_pending_count(h.b), 1);
	cl_connect(&a, &h, &alice);
	cr_assert_eq(cl_hello(&a, "ctl-b", DOB_ROLE_CONTROLLER, NULL), 1);
	cl_skip_to(&a, DOB_MSG_JOB_ERROR, &r);
	cr_assert(r.u.job_error.has_pending_decision, "still decided: not offered as pending");
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_act, 0);
	fake_clock_advance(h.loop, 1000);
	cr_assert_eq(h.fb->n_act, 1, "the resume told OK ran after the compaction and restart");
	cr_assert_eq(h.fb->last_action, DOB_ACTION_RESUME);
	expect_resolution(&a, eps[0], DOB_RESOLVED_CONTROLLER, DOB_ACTION_RESUME_AFTER_DELAY,
			  "ctl-a");
	cl_free(&a);
}

Test(episode, no_event_or_reply_leaves_before_its_journal_records_are_durable)
{
	struct client a;
	struct fb_job *j;
	uint64_t syncs, ep;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "ctl-a", DOB_ROLE_CONTROLLER, NULL);
	j = submitted(&a, "durable");
	/* The disk takes the write but cannot make it durable: the JobError
	 * (journaled first) must wait. */
	fake_files_fail_sync(-DOB_EIO);
	fb_error(h.fb, j, 0x80190194);
	fake_pump(h.loop);
	cl_expect_nothing(&a);
	/* The fsync works again: one commit covers the record, then the event
	 * goes out. */
	syncs = fake_files_syncs();
	fake_files_fail_sync(0);
	fake_pump(h.loop);
	ep = expect_job_error(&a, j, 0x80190194);
	cr_assert_gt(fake_files_syncs(), syncs);
	/* The same for a decision: no Resolution and no OK before its record
	 * is durable. */
	fake_files_fail_sync(-DOB_EIO);
	send_act(&a, 77, j, ep, DOB_ACTION_CANCEL, 0);
	fake_pump(h.loop);
	cl_expect_nothing(&a);
	fake_files_fail_sync(0);
	fake_pump(h.loop);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-a");
	cl_free(&a);
}

Test(episode, a_final_state_seen_while_our_cancel_is_in_flight_is_credited_to_the_cancel)
{
	struct client a;
	struct fb_job *j;
	uint64_t ep;

	ep = controller_with_error(&a, "ctl-a", "cancel-race", &j);
	h.fb->hold_acts = true;
	send_act(&a, 3, j, ep, DOB_ACTION_CANCEL, 0);
	fake_clock_advance(h.loop, 5);
	fb_event(h.fb, j, BACKEND_EV_MODIFIED); /* the service already says CANCELLED */
	fake_pump(h.loop);
	cr_assert_eq(broker_job_count(h.b), 1, "kept until the cancel's result");
	fb_release(h.fb);
	expect_resolution(&a, ep, DOB_RESOLVED_CONTROLLER, DOB_ACTION_CANCEL, "ctl-a");
	cr_assert_eq(broker_job_count(h.b), 0);
	cl_free(&a);
}

/* ---------------------------------------------------------------- with the sim backend */

TestSuite(episode_sim, .timeout = 30);

Test(episode_sim, a_sim_404_reaches_a_subscriber_and_a_resume_fixes_it)
{
	struct dob_identity me = h_user(1000);
	struct harness hs;
	struct client a;
	struct dob_guid id;
	struct dob_msg m;
	uint64_t ep;

	h_setup_sim(&hs, "rule \"*/missing/*\" error http=404 after=100ms times=1\nrepeat off\n"
			  "complete writes=nothing\n");
	cl_connect(&a, &hs, &me);
	cl_hello(&a, "ctl", DOB_ROLE_CONTROLLER, NULL);
	{
		struct dob_file_spec f = { "http://127.0.0.1/missing/x", "/home/u/x" };
		struct dob_msg r;
		memset(&m, 0, sizeof(m));
		m.type = DOB_MSG_SUBMIT_JOB;
		m.u.submit_job.display_name = "sim job";
		m.u.submit_job.n_files = 1;
		m.u.submit_job.files = &f;
		cl_request(&a, &m, DOB_MSG_JOB_REPLY, &r);
		cr_assert_eq(r.u.job_reply.status, DOB_STATUS_OK, "%s", r.u.job_reply.message);
		id = r.u.job_reply.job.job.job_id;
		dob_msg_clear(&r);
	}
	fake_clock_advance(hs.loop, 500);
	cl_skip_to(&a, DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(m.u.job_error.error.hresult, 0x80190194);
	cr_assert_eq(memcmp(&m.u.job_error.job.job_id, &id, sizeof(id)), 0);
	ep = m.u.job_error.episode_id;
	dob_msg_clear(&m);
	cr_assert_eq(cl_act(&a, &id, ep, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	fake_clock_advance(hs.loop, 1000);
	cl_skip_to(&a, DOB_MSG_JOB_TRANSFERRED, &m);
	dob_msg_clear(&m);
	{
		struct dob_msg r;
		cr_assert_eq(cl_act(&a, &id, 0, DOB_ACTION_COMPLETE, &r), DOB_STATUS_OK, "%s: %s",
			     dob_status_name(r.u.action_result.status), r.u.action_result.message);
		dob_msg_clear(&r);
	}
	cr_assert_eq(broker_job_count(hs.b), 0);
	cl_free(&a);
	h_teardown(&hs);
}
