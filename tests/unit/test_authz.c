/*
 * tests/unit/test_authz.c - who sees and acts on which job: the rules
 * (authz.c) and the broker applying them to events, Act, ListJobs,
 * AdoptJob and GetStats.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "broker_harness.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_plat.h"

/* ---------------------------------------------------------------- rules */

Test(authz_rules, owner_same_user_and_privileged_see_a_job)
{
	struct dob_identity owner = h_user(1000), same = h_user(1000), other = h_user(2000);
	struct dob_identity admin = h_admin();

	cr_assert(authz_can_see(&owner, &owner));
	cr_assert(authz_can_see(&same, &owner), "a non-sandboxed process of the owner's user");
	cr_assert(!authz_can_see(&other, &owner));
	cr_assert(authz_can_see(&admin, &owner));
}

Test(authz_rules, a_sandboxed_client_sees_only_its_own_jobs)
{
	struct dob_identity app = h_sandboxed(1000, "S-1-15-2-111");
	struct dob_identity app2 = h_sandboxed(1000, "S-1-15-2-222");
	struct dob_identity user = h_user(1000);

	cr_assert(authz_can_see(&app, &app), "same user, same AppContainer");
	cr_assert(!authz_can_see(&app, &user), "not the user's other jobs");
	cr_assert(!authz_can_see(&app, &app2), "not another AppContainer's");
	cr_assert(authz_can_see(&user, &app), "the user sees the sandboxed app's jobs");
}

Test(authz_rules, an_empty_user_sid_matches_nobody)
{
	struct dob_identity a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	cr_assert(!authz_can_see(&a, &b));
	cr_assert(!authz_same_principal(&a, &b));
}

Test(authz_rules, acting_needs_the_controller_role_and_sight)
{
	struct dob_identity owner = h_user(1000), other = h_user(2000);

	cr_assert_eq(authz_can_act(&owner, DOB_ROLE_CONTROLLER, &owner), DOB_STATUS_OK);
	cr_assert_eq(authz_can_act(&owner, DOB_ROLE_OBSERVER, &owner), DOB_STATUS_NOT_CONTROLLER);
	cr_assert_eq(authz_can_act(&other, DOB_ROLE_CONTROLLER, &owner), DOB_STATUS_UNKNOWN_JOB);
}

Test(authz_rules, sandboxed_callers_may_not_adopt_and_only_admins_see_sessions)
{
	struct dob_identity app = h_sandboxed(1000, "S-1-15-2-1"), user = h_user(1000);
	struct dob_identity admin = h_admin();

	cr_assert(!authz_can_adopt(&app));
	cr_assert(authz_can_adopt(&user));
	cr_assert(!authz_can_see_sessions(&user));
	cr_assert(authz_can_see_sessions(&admin));
}

/* ---------------------------------------------------------------- in the broker */

static struct harness h;

static void setup(void)
{
	h_setup(&h, NULL);
}

static void teardown(void)
{
	h_teardown(&h);
}

TestSuite(authz, .init = setup, .fini = teardown, .timeout = 30);

static size_t listed(struct client *cl)
{
	struct dob_msg m, r;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_JOBS;
	cl_request(cl, &m, DOB_MSG_LIST_JOBS_REPLY, &r);
	n = r.u.list_jobs_reply.n_jobs;
	dob_msg_clear(&r);
	return n;
}

static unsigned errors_received(struct client *cl)
{
	struct dob_msg m;
	unsigned n = 0;

	while (cl_recv(cl, &m)) {
		n += m.type == DOB_MSG_JOB_ERROR;
		dob_msg_clear(&m);
	}
	return n;
}

Test(authz, another_users_job_is_invisible_and_untouchable)
{
	struct dob_identity alice = h_user(1000), bob = h_user(2000), root = h_admin();
	struct client a, b, adm;
	struct dob_guid id;
	struct fb_job *j;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&b, &h, &bob);
	cl_hello(&b, "bob", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&adm, &h, &root);
	cl_hello(&adm, "admin", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_submit(&a, "alice's", "/home/alice/x", &id, NULL), DOB_STATUS_OK);
	j = fb_find(h.fb, &id);
	fb_error(h.fb, j, 0x80190194);
	fake_pump(h.loop);
	cr_assert_eq(errors_received(&a), 1);
	cr_assert_eq(errors_received(&b), 0, "bob hears nothing of alice's job");
	cr_assert_eq(errors_received(&adm), 1, "an administrator sees every job");
	cr_assert_eq(listed(&b), 0);
	cr_assert_eq(listed(&a), 1);
	cr_assert_eq(listed(&adm), 1);
	cr_assert_eq(cl_act(&b, &id, 0, DOB_ACTION_CANCEL, NULL), DOB_STATUS_UNKNOWN_JOB,
		     "invisible jobs are answered like missing ones");
	cr_assert_eq(h.fb->n_act, 0);
	cr_assert_eq(cl_act(&adm, &id, 0, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	cl_free(&a);
	cl_free(&b);
	cl_free(&adm);
}

Test(authz, a_sandboxed_app_sees_its_own_jobs_and_its_user_sees_them_too)
{
	struct dob_identity app = h_sandboxed(1000, "S-1-15-2-42"), user = h_user(1000);
	struct client sb, u;
	struct dob_guid mine, users;

	cl_connect(&sb, &h, &app);
	cl_hello(&sb, "sandboxed", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&u, &h, &user);
	cl_hello(&u, "user", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_submit(&sb, "app job", "/home/u/app", &mine, NULL), DOB_STATUS_OK);
	cr_assert_eq(cl_submit(&u, "user job", "/home/u/user", &users, NULL), DOB_STATUS_OK);
	cr_assert_eq(listed(&sb), 1, "only its own job");
	cr_assert_eq(listed(&u), 2, "the user sees both");
	fb_error(h.fb, fb_find(h.fb, &users), 0x80190194);
	fb_error(h.fb, fb_find(h.fb, &mine), 0x80190194);
	fake_pump(h.loop);
	cr_assert_eq(errors_received(&sb), 1);
	cr_assert_eq(errors_received(&u), 2);
	cr_assert_eq(cl_act(&sb, &users, 0, DOB_ACTION_CANCEL, NULL), DOB_STATUS_UNKNOWN_JOB);
	cr_assert_eq(cl_act(&sb, &mine, 0, DOB_ACTION_RESUME, NULL), DOB_STATUS_OK);
	cl_free(&sb);
	cl_free(&u);
}

Test(authz, a_sandboxed_client_may_not_adopt)
{
	struct dob_identity app = h_sandboxed(1000, "S-1-15-2-42");
	struct fb_job *j = fb_add(h.fb, "existing", DOB_JOB_DOWNLOAD, DOB_STATE_SUSPENDED);
	struct client sb;
	struct dob_msg r;

	cl_connect(&sb, &h, &app);
	cl_hello(&sb, "sandboxed", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_adopt(&sb, &j->id, &r), DOB_STATUS_ACCESS_DENIED);
	cr_assert(strstr(r.u.job_reply.message, "callback"), "%s", r.u.job_reply.message);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_attach + h.fb->n_query, 0, "refused before the backend");
	cl_free(&sb);
}

Test(authz, adopting_makes_the_adopter_the_owner)
{
	struct dob_identity alice = h_user(1000), bob = h_user(2000);
	struct fb_job *j = fb_add(h.fb, "existing", DOB_JOB_DOWNLOAD, DOB_STATE_ERROR);
	struct client a, b;
	struct dob_msg r;

	j->hr = 0x80190194;
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&b, &h, &bob);
	cl_hello(&b, "bob", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_adopt(&a, &j->id, &r), DOB_STATUS_OK);
	cr_assert_str_eq(r.u.job_reply.job.owner.user_sid, "S-1-5-21-1000");
	dob_msg_clear(&r);
	cr_assert_eq(errors_received(&a), 1, "adopting a job in error opens its episode");
	cr_assert_eq(cl_adopt(&a, &j->id, NULL), DOB_STATUS_ALREADY_MANAGED);
	cr_assert_eq(cl_adopt(&b, &j->id, NULL), DOB_STATUS_ACCESS_DENIED);
	cr_assert_eq(listed(&b), 0);
	cl_free(&a);
	cl_free(&b);
}

Test(authz, adopting_a_job_the_service_says_is_another_users_is_refused)
{
	struct dob_identity alice = h_user(1000);
	struct fb_job *j = fb_add(h.fb, "bob's", DOB_JOB_DOWNLOAD, DOB_STATE_QUEUED);
	struct client a;

	snprintf(j->owner, sizeof(j->owner), "S-1-5-21-2000");
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_adopt(&a, &j->id, NULL), DOB_STATUS_ACCESS_DENIED);
	cr_assert_eq(h.fb->n_attach, 0, "its callback was left alone");
	cr_assert_eq(broker_job_count(h.b), 0);
	cl_free(&a);
}

Test(authz, adopting_an_unknown_job_is_unknown_job)
{
	struct dob_identity alice = h_user(1000);
	struct dob_guid none = { { 1, 2, 3 } };
	struct client a;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_adopt(&a, &none, NULL), DOB_STATUS_UNKNOWN_JOB);
	cl_free(&a);
}

Test(authz, a_path_the_caller_cannot_write_is_refused_naming_it)
{
	struct dob_identity alice = h_user(1000);
	struct client a;
	struct dob_msg r;

	fake_path_rule("/etc/", -DOB_EACCES);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_submit(&a, "sneaky", "/etc/passwd", NULL, &r), DOB_STATUS_PATH_DENIED);
	cr_assert(strstr(r.u.job_reply.message, "/etc/passwd"), "%s", r.u.job_reply.message);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_submit, 0);
	cl_free(&a);
}

static void two_jobs(struct broker_config *c)
{
	c->max_jobs_per_identity = 2;
}

Test(authz, the_per_identity_job_limit_refuses_the_next_job)
{
	struct dob_identity alice = h_user(1000), bob = h_user(2000);
	struct client a, b;
	struct dob_msg r;

	h_teardown(&h);
	h_setup(&h, two_jobs);
	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_CONTROLLER, NULL);
	cl_connect(&b, &h, &bob);
	cl_hello(&b, "bob", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_submit(&a, "1", "/home/alice/1", NULL, NULL), DOB_STATUS_OK);
	cr_assert_eq(cl_submit(&a, "2", "/home/alice/2", NULL, NULL), DOB_STATUS_OK);
	cr_assert_eq(cl_submit(&a, "3", "/home/alice/3", NULL, &r), DOB_STATUS_LIMIT_EXCEEDED);
	cr_assert(strstr(r.u.job_reply.message, "limit 2"), "%s", r.u.job_reply.message);
	dob_msg_clear(&r);
	cr_assert_eq(cl_submit(&b, "b1", "/home/bob/1", NULL, NULL), DOB_STATUS_OK);
	cl_free(&a);
	cl_free(&b);
}

Test(authz, per_session_stats_are_for_privileged_callers_only)
{
	struct dob_identity alice = h_user(1000), root = h_admin();
	struct client a, adm;
	struct dob_msg m, r;

	cl_connect(&a, &h, &alice);
	cl_hello(&a, "alice", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&adm, &h, &root);
	cl_hello(&adm, "admin", DOB_ROLE_OBSERVER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_GET_STATS;
	cl_request(&adm, &m, DOB_MSG_STATS, &r);
	/* The asking client is not a subscriber (issue 12): alice only. */
	cr_assert_eq(r.u.stats.n_sessions, 1);
	dob_msg_clear(&r);
	cl_request(&a, &m, DOB_MSG_STATS, &r);
	cr_assert_eq(r.u.stats.n_sessions, 0);
	cr_assert_eq(r.u.stats.subscribers, 1);
	dob_msg_clear(&r);
	cl_free(&a);
	cl_free(&adm);
}
