/*
 * Authorization end to end. The broker's test listeners give each socket a
 * fixed identity (another user, a sandboxed process of the same user, ...),
 * the way Windows tokens would; the main socket is root (privileged).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dob/msg.h"
#include "harness.h"

static struct hb_broker B;
static int ID_A, ID_B, ID_SA, ID_SA2;

static void init(void)
{
	hb_init(&B, "rule \"*/missing/*\" error http=404 after=30ms\nrepeat off\n", NULL);
	ID_A = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000");
	ID_B = hb_add_identity(&B, "uid:1001,sid:S-1-5-21-7-1001");
	ID_SA = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,appcontainer:S-1-15-2-1-7,"
				    "integrity:4096,sandboxed:1");
	ID_SA2 = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,appcontainer:S-1-15-2-1-8,"
				     "integrity:4096,sandboxed:1");
	hb_start(&B);
}

static void fini(void)
{
	hb_cleanup(&B);
}

TestSuite(authz, .init = init, .fini = fini, .timeout = 60);

static struct dobc *as(int id, const char *name)
{
	return hc_connect(B.listener_sock[id], name, DOB_ROLE_CONTROLLER, NULL);
}

static size_t visible_jobs(struct dobc *c)
{
	struct dob_list_jobs_reply l = {0};
	size_t n;

	cr_assert_eq(dobc_list_jobs(c, &l, 3000), 0);
	n = l.n_jobs;
	dobc_list_jobs_reply_clear(&l);
	return n;
}

static enum dob_status act_status(struct dobc *c, const struct dob_guid *id)
{
	struct dob_action_result r = {0};
	enum dob_status st;

	int err = dobc_act(c, id, 0, DOB_ACTION_SUSPEND, 0, &r, 3000);

	cr_assert(err == 0 || err == -DOB_EREMOTE, "act: %s", dobc_strerror(err));
	st = r.status;
	dobc_action_result_clear(&r);
	return st;
}

static struct dob_guid submit_in_files(struct dobc *c, const char *name)
{
	char path[HB_PATH + 32];

	snprintf(path, sizeof path, "%s/%s.bin", B.files, name);
	return hc_submit(c, name, "http://h/missing/x", path, NULL);
}

Test(authz, welcome_reports_the_identity_the_broker_sees)
{
	struct dobc *sa = as(ID_SA, "sa");
	const struct dob_welcome *w = dobc_welcome(sa);

	cr_assert_str_eq(w->identity.user_sid, "S-1-5-21-7-1000");
	cr_assert_str_eq(w->identity.appcontainer_sid, "S-1-15-2-1-7");
	cr_assert(w->identity.sandboxed);
	cr_assert(!w->identity.privileged);
	cr_assert(w->identity.pid > 0, "pid comes from the OS");
	dobc_close(sa);
}

Test(authz, another_user_neither_sees_nor_touches_a_job)
{
	struct dobc *a = as(ID_A, "alice");
	struct dobc *b = as(ID_B, "bob");
	struct dobc *root = hc_connect(B.sock, "root", DOB_ROLE_OBSERVER, NULL);
	struct dob_guid ja = submit_in_files(a, "alice-job");

	cr_assert_eq(hc_wait(a, DOB_MSG_JOB_ERROR, NULL, 5000), 0);
	cr_assert_eq(hc_wait(root, DOB_MSG_JOB_ERROR, NULL, 5000), 0, "privileged sees all");
	cr_assert_eq(hc_count(b, DOB_MSG_JOB_ERROR, 300, NULL), 0, "bob saw alice's error");
	cr_assert_eq(visible_jobs(b), 0);
	cr_assert_eq(visible_jobs(a), 1);
	cr_assert_eq(visible_jobs(root), 1);
	/* Invisible jobs are answered as unknown: their existence does not leak. */
	cr_assert_eq(act_status(b, &ja), DOB_STATUS_UNKNOWN_JOB);
	cr_assert_eq(act_status(a, &ja), DOB_STATUS_OK);
	/* A late connection of bob's is not told about alice's episode. */
	struct dobc *b2 = as(ID_B, "bob2");

	cr_assert_eq(dobc_welcome(b2)->pending_episodes, 0);
	dobc_close(b2);
	dobc_close(root);
	dobc_close(b);
	dobc_close(a);
}

Test(authz, sandboxed_client_sees_only_its_own_jobs)
{
	struct dobc *a = as(ID_A, "alice");
	struct dobc *sa = as(ID_SA, "sandboxed");
	struct dobc *sa2 = as(ID_SA2, "other-container");
	struct dob_guid ja = submit_in_files(a, "alice-job");

	cr_assert_eq(hc_wait(a, DOB_MSG_JOB_ERROR, NULL, 5000), 0);
	cr_assert_eq(hc_count(sa, DOB_MSG_JOB_ERROR, 300, NULL), 0,
		     "a sandboxed client saw its user's job");
	cr_assert_eq(act_status(sa, &ja), DOB_STATUS_UNKNOWN_JOB);

	struct dob_guid js = submit_in_files(sa, "sandbox-job");

	cr_assert_eq(hc_wait(sa, DOB_MSG_JOB_ERROR, NULL, 5000), 0, "own job's error");
	/* Its user, outside the sandbox, sees it; the other container does not. */
	cr_assert_eq(hc_wait(a, DOB_MSG_JOB_ERROR, NULL, 5000), 0);
	cr_assert_eq(hc_count(sa2, DOB_MSG_JOB_ERROR, 300, NULL), 0);
	cr_assert_eq(act_status(sa2, &js), DOB_STATUS_UNKNOWN_JOB);
	cr_assert_eq(visible_jobs(sa), 1);
	cr_assert_eq(visible_jobs(a), 2);
	cr_assert_eq(act_status(sa, &js), DOB_STATUS_OK);
	dobc_close(sa2);
	dobc_close(sa);
	dobc_close(a);
}

Test(authz, sandboxed_client_may_not_adopt)
{
	struct dobc *a = as(ID_A, "alice");
	struct dobc *sa = as(ID_SA, "sandboxed");
	struct dob_guid ja = submit_in_files(a, "alice-job");
	struct dob_job_reply r = {0};

	cr_assert_eq(dobc_adopt(sa, &ja, NULL, &r, 3000), -DOB_EREMOTE);
	cr_assert_eq(r.status, DOB_STATUS_ACCESS_DENIED, "%s", dob_status_name(r.status));
	dobc_job_reply_clear(&r);
	dobc_close(sa);
	dobc_close(a);
}

Test(authz, confused_deputy_local_path_checked_with_the_callers_rights)
{
	struct dobc *sa = as(ID_SA, "sandboxed");
	char denied[HB_PATH + 32], msg[512];

	/* B.dir is root's and 0700: uid 1000 could not write there itself. */
	snprintf(denied, sizeof denied, "%s/stolen.bin", B.dir);
	cr_assert_eq(hc_submit_status(sa, "deputy", "http://h/x", denied, msg, sizeof msg),
		     DOB_STATUS_PATH_DENIED, "%s", msg);
	cr_assert(strstr(msg, denied), "the refusal should name the path: %s", msg);
	cr_assert_eq(visible_jobs(sa), 0, "a job was created all the same");
	/* Where it can write, it may. */
	submit_in_files(sa, "allowed");
	cr_assert_eq(visible_jobs(sa), 1);
	dobc_close(sa);
}
