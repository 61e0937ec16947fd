/*
 * The decision history and the jobs the broker does not manage, with the
 * real dobrokerd and dobctl: `dobctl history` lists who decided what, when,
 * the HRESULT and the state (filtered by job, limited, the same after a
 * restart); `dobctl unmanaged` lists the caller's own jobs that the broker
 * does not manage (an administrator sees every user's), and a job adopted
 * with the GUID it printed leaves the list. Bad options are usage errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dob/msg.h"
#include "harness.h"

#define WAIT_MS 20000 /* only catches hangs (sanitizers, a loaded machine) */

#define MINE "{11111111-2222-3333-4444-555555555555}"
#define THEIRS "{66666666-7777-8888-9999-AAAAAAAAAAAA}"

static struct hb_broker B;
static int ID_A;

static void fini(void)
{
	hb_cleanup(&B);
}

TestSuite(history, .fini = fini, .timeout = 120);

static void start(void)
{
	hb_init(&B,
		"rule \"*/missing/*\" error http=404 after=50ms\n"
		"repeat off\n"
		"default ok after=100ms\n"
		"job " MINE " name=\"Mine to adopt\" owner=S-1-5-21-7-1000 state=suspended\n"
		"job " THEIRS " name=\"Someone else's\" owner=S-1-5-21-7-1001 state=suspended\n",
		NULL);
	ID_A = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000");
	hb_start(&B);
}

/* Runs dobctl with argv (after the program name) against endpoint; returns
 * its exit status, its stdout in out (static buffer of hp_read). */
static int dobctl(const char *endpoint, const char **out, const char *a1, const char *a2,
		  const char *a3, const char *a4, const char *a5)
{
	char path[HB_PATH + 16];
	char *argv[10] = { "dobctl", "--endpoint", (char *)endpoint };
	const char *rest[] = { a1, a2, a3, a4, a5 };
	int n = 3, st;
	pid_t p;

	for (size_t i = 0; i < 5 && rest[i]; i++)
		argv[n++] = (char *)rest[i];
	argv[n] = NULL;
	snprintf(path, sizeof path, "%s/dobctl.out", B.dir);
	p = hp_spawn_dobctl(path, argv);
	st = hp_wait(p, WAIT_MS);
	cr_assert_neq(st, -1, "dobctl %s hung", a1);
	*out = hp_read(path);
	return st;
}

static uint64_t failing_episode(struct dobc *c, const char *name, struct dob_guid *id)
{
	char path[HB_PATH + 64];

	snprintf(path, sizeof path, "%s/%s.bin", B.files, name);
	*id = hc_submit(c, name, "http://h/missing/x", path, NULL);
	return hc_wait_error(c, id, WAIT_MS);
}

Test(history, dobctl_history_lists_decisions_by_job_and_after_a_restart)
{
	struct dobc *ctl;
	struct dob_action_result r = { 0 };
	struct dob_guid a, b;
	char ga[DOB_GUID_STR_LEN], gb[DOB_GUID_STR_LEN], want[96];
	uint64_t ea, eb;
	const char *out;

	start();
	ctl = hc_connect(B.sock, "ctl-it", DOB_ROLE_CONTROLLER, NULL);
	ea = failing_episode(ctl, "first", &a);
	cr_assert_eq(dobc_act(ctl, &a, ea, DOB_ACTION_CANCEL, 0, &r, WAIT_MS), 0);
	dobc_action_result_clear(&r);
	eb = failing_episode(ctl, "second", &b);
	cr_assert_eq(dobc_act(ctl, &b, eb, DOB_ACTION_SUSPEND, 0, &r, WAIT_MS), 0);
	dobc_action_result_clear(&r);
	dobc_close(ctl);
	dob_guid_format(&a, ga);
	dob_guid_format(&b, gb);

	cr_assert_eq(dobctl(B.sock, &out, "history", NULL, NULL, NULL, NULL), 0);
	cr_assert_eq(hp_count(out, "\n"), 2, "%s", out);
	/* Newest first: the suspend, then the cancel; who, what, hr, state. */
	cr_assert(strstr(out, gb) < strstr(out, ga), "%s", out);
	snprintf(want, sizeof want, "episode %llu %s \"second\" suspend by controller \"ctl-it\"",
		 (unsigned long long)eb, gb);
	cr_assert(strstr(out, want), "want '%s' in:\n%s", want, out);
	cr_assert(strstr(out, "hr=0x00000000 now SUSPENDED"), "%s", out);
	cr_assert(strstr(out, "hr=0x00000000 now CANCELLED"), "%s", out);

	cr_assert_eq(dobctl(B.sock, &out, "history", "--job", ga, "--json", NULL), 0);
	cr_assert_eq(hp_count(out, "\n"), 1, "%s", out);
	snprintf(want, sizeof want, "\"episode_id\":%llu,", (unsigned long long)ea);
	cr_assert(strstr(out, want), "%s", out);
	cr_assert(strstr(out, "\"action\":\"cancel\""), "%s", out);
	cr_assert(strstr(out, "\"resolved_by\":\"controller\""), "%s", out);
	cr_assert(strstr(out, "\"new_state\":\"CANCELLED\""), "%s", out);
	cr_assert(strstr(out, "\"resolved_us\":1"), "a time, not 0: %s", out);

	cr_assert_eq(dobctl(B.sock, &out, "history", "--limit", "1", NULL, NULL), 0);
	cr_assert_eq(hp_count(out, "\n"), 1, "%s", out);
	cr_assert(strstr(out, gb), "the newest: %s", out);

	/* Another user sees none of root's jobs' decisions. */
	cr_assert_eq(dobctl(B.listener_sock[ID_A], &out, "history", NULL, NULL, NULL, NULL), 0);
	cr_assert_str_eq(out, "");

	/* After a restart the journal gives the same history. */
	cr_assert_eq(hb_stop(&B), 0, "%s", hb_log_tail(&B));
	hb_start(&B);
	cr_assert_eq(dobctl(B.sock, &out, "history", "--json", NULL, NULL, NULL), 0);
	cr_assert_eq(hp_count(out, "\n"), 2, "%s", out);
	cr_assert(strstr(out, gb) < strstr(out, ga), "%s", out);
	cr_assert(strstr(out, "\"client_name\":\"ctl-it\""), "%s", out);
}

Test(history, dobctl_unmanaged_lists_what_the_caller_can_adopt)
{
	const char *out;
	char want[96];

	start();
	/* User 1000 sees its own job only, with the GUID to adopt. */
	cr_assert_eq(dobctl(B.listener_sock[ID_A], &out, "unmanaged", NULL, NULL, NULL, NULL), 0);
	snprintf(want, sizeof want, "%s  SUSPENDED", MINE);
	cr_assert(strstr(out, want), "%s", out);
	cr_assert(strstr(out, "Mine to adopt"), "%s", out);
	cr_assert_null(strstr(out, THEIRS), "%s", out);
	/* root sees both. */
	cr_assert_eq(dobctl(B.sock, &out, "unmanaged", "--json", NULL, NULL, NULL), 0);
	cr_assert_eq(hp_count(out, "\"type\":\"unmanaged_job\""), 2, "%s", out);
	cr_assert(strstr(out, "\"owner\":\"S-1-5-21-7-1001\""), "%s", out);
	/* Adopted with that GUID, it leaves the list. */
	cr_assert_eq(dobctl(B.listener_sock[ID_A], &out, "adopt", MINE, NULL, NULL, NULL), 0,
		     "%s\n%s", out, hb_log_tail(&B));
	cr_assert_eq(dobctl(B.listener_sock[ID_A], &out, "unmanaged", NULL, NULL, NULL, NULL), 0);
	cr_assert_null(strstr(out, MINE), "%s", out);
}

Test(history, bad_options_are_usage_errors_before_connecting)
{
	const char *out;

	char none[HB_PATH + 16];

	start();
	/* An endpoint nobody listens on: connecting would exit 2, so 1 says
	 * the options were refused first. */
	snprintf(none, sizeof none, "%s/nobody.sock", B.dir);
	cr_assert_eq(dobctl(none, &out, "history", NULL, NULL, NULL, NULL), 2);
	cr_assert_eq(dobctl(none, &out, "history", "--limit", "0", NULL, NULL), 1);
	cr_assert_eq(dobctl(none, &out, "history", "--limit", "4097", NULL, NULL), 1);
	cr_assert_eq(dobctl(none, &out, "history", "--job", "nonsense", NULL, NULL), 1);
	cr_assert_eq(dobctl(none, &out, "unmanaged", "extra", NULL, NULL, NULL), 1);
}
