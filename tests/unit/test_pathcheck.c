/*
 * tests/unit/test_pathcheck.c - SubmitJob's confused-deputy check runs off
 * the loop thread (plat_check_paths): while one client's check is held,
 * other clients are served; the held client gets its answer when the check
 * completes; a client that leaves meanwhile costs nothing (no crash, no
 * leak, no job); the checks count against the in-flight limit; limits that
 * changed meanwhile are checked again; refusals keep their specific codes.
 *
 * The fake platform (tests/fakes/fake_plat.c) holds the checks of paths
 * with a given prefix until the test releases them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/err.h"
#include "fake_plat.h"

static struct harness h;

static void setup(void)
{
	fake_plat_reset();
	h_setup(&h, NULL);
}

static void teardown(void)
{
	h_teardown(&h);
}

TestSuite(pathcheck, .init = setup, .fini = teardown, .timeout = 30);

static void restart_with(void (*tweak)(struct broker_config *c))
{
	h_teardown(&h);
	fake_plat_reset();
	h_setup(&h, tweak);
}

static void join(struct client *cl, uint32_t uid)
{
	struct dob_identity id = h_user(uid);

	cl_connect(cl, &h, &id);
	cl_hello(cl, "pathcheck", DOB_ROLE_CONTROLLER, NULL);
}

static void ping(struct client *cl)
{
	struct dob_msg m, r;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_PING;
	cl_request(cl, &m, DOB_MSG_PONG, &r);
	dob_msg_clear(&r);
}

/* The next JobReply's status (message copied into msg). */
static enum dob_status reply(struct client *cl, char *msg, size_t len)
{
	struct dob_msg m;
	enum dob_status st;

	cl_skip_to(cl, DOB_MSG_JOB_REPLY, &m);
	st = m.u.job_reply.status;
	snprintf(msg, len, "%s", m.u.job_reply.message ? m.u.job_reply.message : "");
	dob_msg_clear(&m);
	return st;
}

Test(pathcheck, a_held_check_does_not_stop_other_clients_and_answers_when_done)
{
	struct client a, b;
	char msg[256];

	fake_path_hold(h.loop, "/slow/");
	join(&a, 1000);
	join(&b, 2000);
	cl_send_submit(&a, "held", "/slow/f.bin");
	fake_pump(h.loop);
	cr_assert_eq(fake_path_pending(h.loop), 1);
	cl_expect_nothing(&a);
	cr_assert_eq(h.fb->n_submit, 0, "nothing reaches the backend before the check");

	/* Meanwhile B is served: a ping and a whole submit. */
	ping(&b);
	cr_assert_eq(cl_submit(&b, "quick", "/fast/g.bin", NULL, NULL), DOB_STATUS_OK);
	cr_assert_eq(h.fb->n_submit, 1);
	cl_expect_nothing(&a);

	fake_path_release(h.loop);
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_OK, "%s", msg);
	cr_assert_eq(h.fb->n_submit, 2);
	/* A's session is whole: it goes on being served. */
	ping(&a);
	cl_free(&a);
	cl_free(&b);
}

Test(pathcheck, a_held_refusal_keeps_its_specific_code_and_names_the_path)
{
	struct client a;
	char msg[256];

	fake_path_rule("/slow/denied/", -DOB_EACCES);
	fake_path_rule("/slow/missing/", -DOB_ENOTFOUND);
	fake_path_rule("/slow/unc", -DOB_EINVAL);
	fake_path_hold(h.loop, "/slow/");
	join(&a, 1000);

	cl_send_submit(&a, "d", "/slow/denied/f");
	cl_send_submit(&a, "m", "/slow/missing/f");
	cl_send_submit(&a, "u", "/slow/unc");
	fake_pump(h.loop);
	cr_assert_eq(fake_path_pending(h.loop), 3);
	fake_path_release(h.loop);
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_PATH_DENIED);
	cr_assert(strstr(msg, "files[0].local_path /slow/denied/f: the caller may not write there"),
		  "%s", msg);
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_PATH_DENIED);
	cr_assert(strstr(msg, "/slow/missing/f: its directory does not exist"), "%s", msg);
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_INVALID_ARGUMENT);
	cr_assert(strstr(msg, "/slow/unc: not an absolute local path"), "%s", msg);
	cr_assert_eq(h.fb->n_submit, 0);
	cl_free(&a);
}

Test(pathcheck, the_refused_file_of_several_is_named_by_its_index)
{
	struct client a;
	struct dob_file_spec f[3] = {
		{ (char *)"http://h/1", (char *)"/ok/1" },
		{ (char *)"http://h/2", (char *)"/ok/2" },
		{ (char *)"http://h/3", (char *)"/no/3" },
	};
	struct dob_msg m, r;

	fake_path_rule("/no/", -DOB_EACCES);
	join(&a, 1000);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_SUBMIT_JOB;
	m.u.submit_job.display_name = (char *)"three";
	m.u.submit_job.n_files = 3;
	m.u.submit_job.files = f;
	cl_request(&a, &m, DOB_MSG_JOB_REPLY, &r);
	cr_assert_eq(r.u.job_reply.status, DOB_STATUS_PATH_DENIED);
	cr_assert(strstr(r.u.job_reply.message, "files[2].local_path /no/3"), "%s",
		  r.u.job_reply.message);
	dob_msg_clear(&r);
	cr_assert_eq(h.fb->n_submit, 0);
	cl_free(&a);
}

Test(pathcheck, a_client_that_leaves_during_its_check_gets_nothing_and_nothing_is_created)
{
	struct client a, b;

	fake_path_hold(h.loop, "/slow/");
	join(&a, 1000);
	join(&b, 2000);
	cl_send_submit(&a, "left", "/slow/f.bin");
	cl_send_submit(&a, "left too", "/slow/g.bin");
	fake_pump(h.loop);
	cr_assert_eq(fake_path_pending(h.loop), 2);
	fake_conn_hangup(a.c);
	fake_pump(h.loop);
	cr_assert(fake_conn_released(a.c));
	ping(&b);

	/* The checks end after their session: dropped, freed (ASan's leak
	 * check runs over this suite), never sent to the backend. */
	fake_path_release(h.loop);
	fake_pump(h.loop);
	cr_assert_eq(h.fb->n_submit, 0);
	cr_assert_eq(broker_job_count(h.b), 0);
	ping(&b);
	cl_free(&a);
	cl_free(&b);
}

static void inflight_two(struct broker_config *c)
{
	c->max_inflight_requests = 2;
}

Test(pathcheck, checks_count_against_the_in_flight_limit)
{
	struct client a, b;
	char msg[256];

	restart_with(inflight_two);
	fake_path_hold(h.loop, "/slow/");
	join(&a, 1000);
	join(&b, 2000);
	cl_send_submit(&a, "1", "/slow/1");
	cl_send_submit(&a, "2", "/slow/2");
	cl_send_submit(&a, "3", "/slow/3");
	fake_pump(h.loop);
	/* The third is refused at once and starts no check. */
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_LIMIT_EXCEEDED, "%s", msg);
	cr_assert(strstr(msg, "2 requests in flight (limit 2)"), "%s", msg);
	cr_assert_eq(fake_path_started(h.loop), 2);
	cr_assert_eq(fake_path_pending(h.loop), 2);
	/* Another session's limit is its own. */
	cr_assert_eq(cl_submit(&b, "b", "/fast/b", NULL, NULL), DOB_STATUS_OK);

	fake_path_release(h.loop);
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_OK, "%s", msg);
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_OK, "%s", msg);
	/* Answered: the slots are free again. */
	cr_assert_eq(cl_submit(&a, "4", "/fast/4", NULL, NULL), DOB_STATUS_OK);
	cl_free(&a);
	cl_free(&b);
}

static void one_job(struct broker_config *c)
{
	c->max_jobs_per_identity = 1;
}

Test(pathcheck, the_job_limit_is_checked_again_when_the_check_completes)
{
	struct client a;
	char msg[256];
	int limited = 0;

	restart_with(one_job);
	fake_path_hold(h.loop, "/slow/");
	join(&a, 1000);
	/* Both pass the limit at arrival (no job yet) and wait on their check. */
	cl_send_submit(&a, "1", "/slow/1");
	cl_send_submit(&a, "2", "/slow/2");
	fake_pump(h.loop);
	cr_assert_eq(fake_path_pending(h.loop), 2);
	fake_path_release(h.loop);
	/* The refusal may overtake the first one's backend result. */
	for (int i = 0; i < 2; i++) {
		enum dob_status st = reply(&a, msg, sizeof(msg));
		cr_assert(st == DOB_STATUS_OK || st == DOB_STATUS_LIMIT_EXCEEDED, "%s", msg);
		if (st == DOB_STATUS_LIMIT_EXCEEDED) {
			cr_assert(strstr(msg, "already has 1 jobs (limit 1)"), "%s", msg);
			limited++;
		}
	}
	cr_assert_eq(limited, 1);
	cr_assert_eq(h.fb->n_submit, 1);
	cl_free(&a);
}

Test(pathcheck, a_broker_stopped_with_a_check_held_frees_it)
{
	struct client a;

	fake_path_hold(h.loop, "/slow/");
	join(&a, 1000);
	cl_send_submit(&a, "held at stop", "/slow/f");
	fake_pump(h.loop);
	cr_assert_eq(fake_path_pending(h.loop), 1);
	/* The teardown releases it before the broker goes (its callback
	 * needs the broker), as plat_loop_free does for a real loop. */
	cl_free(&a);
}

/* ---------------------------------------------------------------- service mode */

static void service_mode(struct broker_config *c)
{
	c->service_mode = true;
}

Test(pathcheck, per_user_mode_creates_jobs_as_the_broker)
{
	struct client a;

	join(&a, 1000);
	cr_assert_eq(cl_submit(&a, "mine", "/d/f", NULL, NULL), DOB_STATUS_OK);
	cr_assert_eq(h.fb->n_submit, 1);
	cr_assert_eq(h.fb->n_submit_as, 0, "no impersonation in per-user mode");
	cl_free(&a);
}

Test(pathcheck, service_mode_asks_the_backend_to_create_the_job_as_the_requester)
{
	struct client a;
	struct dob_identity id;

	restart_with(service_mode);
	id = h_user(1234);
	cl_connect(&a, &h, &id);
	cl_hello(&a, "svc", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(cl_submit(&a, "theirs", "/d/f", NULL, NULL), DOB_STATUS_OK);
	cr_assert_eq(h.fb->n_submit_as, 1);
	cr_assert_str_eq(h.fb->submit_as_sid, "S-1-5-21-1234");
	cr_assert_eq(h.fb->submit_as_pid, 100 + 1234);
	/* The path check still runs first in service mode. */
	fake_path_rule("/etc/", -DOB_EACCES);
	cr_assert_eq(cl_submit(&a, "x", "/etc/x", NULL, NULL), DOB_STATUS_PATH_DENIED);
	cr_assert_eq(h.fb->n_submit_as, 1);
	cl_free(&a);
}

Test(pathcheck, service_mode_refuses_a_submit_the_backend_cannot_make_as_the_client)
{
	struct client a;
	char msg[256];

	restart_with(service_mode);
	h.fb->submit_as_err = -DOB_EACCES;
	join(&a, 1000);
	cl_send_submit(&a, "refused", "/d/f");
	cr_assert_eq(reply(&a, msg, sizeof(msg)), DOB_STATUS_ACCESS_DENIED, "%s", msg);
	cr_assert(strstr(msg, "the job cannot be created as the client") &&
		  strstr(msg, "no live connection"), "%s", msg);
	cr_assert_eq(broker_job_count(h.b), 0);
	/* Its slot in flight is free again. */
	h.fb->submit_as_err = 0;
	cr_assert_eq(cl_submit(&a, "now", "/d/f", NULL, NULL), DOB_STATUS_OK);
	cl_free(&a);
}
