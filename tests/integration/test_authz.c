/*
 * Authorization end to end (docs/security.md). The broker's test listeners
 * give each socket a fixed identity (another user, an AppContainer with or
 * without the internetClient capability, a low-integrity process of the
 * same user outside any AppContainer, ...), the way Windows tokens would;
 * the main socket is root (privileged).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dob/msg.h"
#include "harness.h"

static struct hb_broker B;
static int ID_A, ID_B, ID_SA, ID_SA2, ID_LOW, ID_LOW2, ID_NOINET;

static void init(void)
{
	/* Low integrity of user 1000 may submit through the allow-list (its
	 * user SID); S-1-15-2-1-9 has no capability and is not listed. */
	hb_init(&B, "rule \"*/missing/*\" error http=404 after=30ms\nrepeat off\n",
		"--sandboxed-submit-allow=S-1-5-21-7-1000", "--max-conns=2", NULL);
	ID_A = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,integrity:8192");
	ID_B = hb_add_identity(&B, "uid:1001,sid:S-1-5-21-7-1001");
	ID_SA = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,appcontainer:S-1-15-2-1-7,"
				    "integrity:4096,sandboxed:1,internet:1");
	ID_SA2 = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,appcontainer:S-1-15-2-1-8,"
				     "integrity:4096,sandboxed:1,internet:1");
	/* No sandboxed key: the integrity below medium makes it sandboxed. */
	ID_LOW = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,integrity:4096");
	ID_LOW2 = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,integrity:0x1000");
	ID_NOINET = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000,appcontainer:S-1-15-2-1-9,"
					"integrity:4096");
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

Test(authz, low_integrity_outside_a_container_is_its_own_principal)
{
	struct dobc *a = as(ID_A, "alice");
	struct dobc *low = as(ID_LOW, "low");
	struct dob_guid ja = submit_in_files(a, "alice-medium");

	cr_assert(dobc_welcome(low)->identity.sandboxed, "integrity 0x1000 is sandboxed");
	cr_assert_eq(dobc_welcome(low)->identity.integrity_rid, 0x1000);
	cr_assert_eq(hc_wait(a, DOB_MSG_JOB_ERROR, NULL, 5000), 0);
	cr_assert_eq(hc_count(low, DOB_MSG_JOB_ERROR, 300, NULL), 0,
		     "a low-integrity process saw its user's medium job");
	cr_assert_eq(visible_jobs(low), 0);
	cr_assert_eq(act_status(low, &ja), DOB_STATUS_UNKNOWN_JOB);

	/* Its own job (admitted by the allow-list): it and its user see it; a
	 * second low-integrity process of the user is the same principal. */
	struct dob_guid jl = submit_in_files(low, "low-job");
	struct dobc *low2 = as(ID_LOW2, "low2");

	cr_assert_eq(hc_wait(low, DOB_MSG_JOB_ERROR, NULL, 5000), 0);
	cr_assert_eq(hc_wait(a, DOB_MSG_JOB_ERROR, NULL, 5000), 0);
	cr_assert_eq(visible_jobs(low2), 1);
	cr_assert_eq(act_status(low2, &jl), DOB_STATUS_OK);
	cr_assert_eq(visible_jobs(a), 2);
	dobc_close(low2);
	dobc_close(low);
	dobc_close(a);
}

Test(authz, a_container_without_internet_client_may_not_make_the_broker_download)
{
	struct dobc *c = as(ID_NOINET, "no-internet");
	char path[HB_PATH + 32], msg[512];

	cr_assert(!dobc_welcome(c)->identity.internet_client);
	cr_assert(dobc_welcome(c)->identity.sandboxed);
	snprintf(path, sizeof path, "%s/noinet.bin", B.files);
	cr_assert_eq(hc_submit_status(c, "noinet", "http://h/x", path, msg, sizeof msg),
		     DOB_STATUS_ACCESS_DENIED, "%s", msg);
	cr_assert(strstr(msg, "internetClient"), "%s", msg);
	cr_assert_eq(visible_jobs(c), 0);
	dobc_close(c);
}

Test(authz, non_http_urls_and_relative_paths_are_refused)
{
	struct dobc *a = as(ID_A, "alice");
	char path[HB_PATH + 32], msg[512];

	snprintf(path, sizeof path, "%s/f.bin", B.files);
	cr_assert_eq(hc_submit_status(a, "ftp", "ftp://h/x", path, msg, sizeof msg),
		     DOB_STATUS_INVALID_ARGUMENT, "%s", msg);
	cr_assert(strstr(msg, "http"), "%s", msg);
	cr_assert_eq(hc_submit_status(a, "rel", "http://h/x", "relative/f.bin", msg, sizeof msg),
		     DOB_STATUS_INVALID_ARGUMENT, "%s", msg);
	cr_assert(strstr(msg, "relative/f.bin") && strstr(msg, "absolute"), "%s", msg);
	cr_assert_eq(visible_jobs(a), 0);
	dobc_close(a);
}

Test(authz, connection_limits_are_per_principal)
{
	/* --max-conns=2: two medium connections of user 1000 fill its quota;
	 * its low-integrity principal still gets in. */
	struct dobc *a1 = as(ID_A, "a1"), *a2 = as(ID_A, "a2");
	struct dobc *low = as(ID_LOW, "low");
	struct dobc *a3 = NULL;
	struct dobc_error e = {0};
	int err = hc_try_connect(B.listener_sock[ID_A], "a3", DOB_ROLE_OBSERVER, NULL, &a3, &e);

	cr_assert_neq(err, 0, "a third medium connection was admitted");
	cr_assert(strstr(e.message, "limit 2"), "%s", e.message);
	cr_assert_not_null(dobc_welcome(low));
	dobc_close(a3);
	dobc_close(low);
	dobc_close(a2);
	dobc_close(a1);
}
