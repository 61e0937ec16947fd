/*
 * Events end to end: fan-out to many subscribers (in-process clients and
 * dobctl processes), filters, late subscribers, repeats.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dob/msg.h"
#include "harness.h"

static struct hb_broker B;

#define FAIL_SCENARIO                                          \
	"rule \"*/missing/*\" error http=404 after=50ms\n"     \
	"repeat off\n"                                         \
	"default ok after=100ms\n"

static void fini(void)
{
	hb_cleanup(&B);
}

TestSuite(events, .fini = fini, .timeout = 60);

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", B.files, name);
}

Test(events, every_subscriber_receives_the_error_once)
{
	enum { N = 8, NCTL = 3 };
	struct dobc *subs[N];
	pid_t ctl[NCTL];
	char out[NCTL][HB_PATH + 16];
	char path[HB_PATH + 32];
	struct dob_msg m = {0};
	uint64_t episode;

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	for (int i = 0; i < N; i++)
		subs[i] = hc_connect(B.sock, "sub", DOB_ROLE_OBSERVER, NULL);
	for (int i = 0; i < NCTL; i++) {
		char *argv[] = {"dobctl", "--endpoint", B.sock, "watch", "--json", "--kinds", "error",
				"--count", "1", NULL};

		snprintf(out[i], sizeof out[i], "%s/watch%d.out", B.dir, i);
		ctl[i] = hp_spawn_dobctl(out[i], argv);
	}
	{
		/* The dobctl watchers have said Hello (waited for, not slept). */
		struct dobc *probe = hc_connect(B.sock, "probe", DOB_ROLE_OBSERVER, NULL);
		int64_t until = hp_now_ms() + 20000;
		int said = 0;

		while (said < NCTL && hp_now_ms() < until) {
			struct dob_stats st = hc_stats(probe);
			said = 0;
			for (size_t k = 0; k < st.n_sessions; k++)
				said += st.sessions[k].client_name &&
					!strcmp(st.sessions[k].client_name, "dobctl");
			dobc_stats_clear(&st);
		}
		cr_assert_eq(said, NCTL, "%d of %d dobctl watchers connected", said, NCTL);
		dobc_close(probe);
	}

	struct dobc *c = hc_connect(B.sock, "submitter", DOB_ROLE_OBSERVER, NULL);
	path_in(path, sizeof path, "a.bin");
	struct dob_guid id = hc_submit(c, "fanout", "http://h/missing/a.bin", path, NULL);

	cr_assert_eq(hc_wait(subs[0], DOB_MSG_JOB_ERROR, &m, 5000), 0, "no JobError:\n%s",
		     hb_log_tail(&B));
	episode = m.u.job_error.episode_id;
	cr_assert(episode != 0);
	cr_assert_eq(memcmp(&m.u.job_error.job.job_id, &id, sizeof id), 0);
	cr_assert_eq(m.u.job_error.error.hresult, 0x80190194u);
	cr_assert_eq(m.u.job_error.job.state, DOB_STATE_ERROR);
	cr_assert_str_eq(m.u.job_error.error.file.remote_url, "http://h/missing/a.bin");
	cr_assert_eq(m.u.job_error.backend, DOB_BACKEND_SIM);
	cr_assert_eq(m.u.job_error.replayed, false);
	dob_msg_clear(&m);

	for (int i = 1; i < N; i++) {
		cr_assert_eq(hc_wait(subs[i], DOB_MSG_JOB_ERROR, &m, 5000), 0, "subscriber %d", i);
		cr_assert_eq(m.u.job_error.episode_id, episode);
		dob_msg_clear(&m);
	}
	/* Exactly once: nothing more for anyone within a while. */
	for (int i = 0; i < N; i++) {
		cr_assert_eq(hc_count(subs[i], DOB_MSG_JOB_ERROR, i == 0 ? 500 : 20, NULL), 0);
		dobc_close(subs[i]);
	}
	char want[64];

	snprintf(want, sizeof want, "\"episode_id\":%llu", (unsigned long long)episode);
	for (int i = 0; i < NCTL; i++) {
		cr_assert_eq(hp_wait(ctl[i], 5000), 0, "dobctl watch %d exit", i);
		cr_assert_eq(hp_count(hp_read(out[i]), want), 1, "watch %d: %s", i, hp_read(out[i]));
	}
	dobc_close(c);
}

Test(events, filters_narrow_by_job_prefix_and_kind)
{
	char pa[HB_PATH + 32], pb[HB_PATH + 32];
	struct dob_msg m = {0};

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *c = hc_connect(B.sock, "submitter", DOB_ROLE_OBSERVER, NULL);

	path_in(pa, sizeof pa, "alpha.bin");
	path_in(pb, sizeof pb, "beta.bin");
	/* A job submitted first so a job-id filter can name it. */
	struct dob_guid beta = hc_submit(c, "beta-1", "http://h/missing/beta", pb, NULL);
	cr_assert_eq(hc_wait(c, DOB_MSG_JOB_ERROR, NULL, 5000), 0);

	struct dob_filter by_prefix = {.display_name_prefix = "alpha"};
	struct dob_filter by_job = {.n_job_ids = 1, .job_ids = &beta};
	struct dob_filter by_kind = {.kind_mask = 1u << DOB_EVENT_JOB_TRANSFERRED};
	struct dobc *fp = hc_connect(B.sock, "prefix", DOB_ROLE_OBSERVER, &by_prefix);
	struct dobc *fj = hc_connect(B.sock, "job", DOB_ROLE_OBSERVER, &by_job);
	struct dobc *fk = hc_connect(B.sock, "kind", DOB_ROLE_OBSERVER, &by_kind);

	/* The job filter sees beta's pending episode replayed; the others not. */
	cr_assert_eq(hc_wait(fj, DOB_MSG_JOB_ERROR, &m, 3000), 0);
	cr_assert_eq(memcmp(&m.u.job_error.job.job_id, &beta, sizeof beta), 0);
	cr_assert(m.u.job_error.replayed);
	dob_msg_clear(&m);

	hc_submit(c, "alpha-1", "http://h/missing/alpha", pa, NULL);
	hc_submit(c, "gamma-ok", "http://h/fine/gamma", pa, NULL);

	cr_assert_eq(hc_wait(fp, DOB_MSG_JOB_ERROR, &m, 5000), 0);
	cr_assert_str_eq(m.u.job_error.job.display_name, "alpha-1");
	dob_msg_clear(&m);
	cr_assert_eq(hc_wait(fk, DOB_MSG_JOB_TRANSFERRED, &m, 5000), 0);
	cr_assert_str_eq(m.u.job_transferred.job.display_name, "gamma-ok");
	dob_msg_clear(&m);

	/* Nothing outside each filter arrives. */
	cr_assert_eq(hc_count(fp, DOB_MSG_JOB_TRANSFERRED, 600, NULL), 0,
		     "prefix filter let gamma's JobTransferred through");
	cr_assert_eq(hc_count(fj, DOB_MSG_JOB_ERROR, 10, NULL), 0, "job filter let alpha through");
	cr_assert_eq(hc_count(fk, DOB_MSG_JOB_ERROR, 10, NULL), 0, "kind filter let an error through");
	dobc_close(fp);
	dobc_close(fj);
	dobc_close(fk);
	dobc_close(c);
}

Test(events, late_subscriber_receives_every_pending_episode)
{
	char path[HB_PATH + 32];
	struct dob_msg m = {0};
	bool seen[3] = {false, false, false};
	struct dob_guid ids[3];

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *c = hc_connect(B.sock, "submitter", DOB_ROLE_OBSERVER, NULL);

	path_in(path, sizeof path, "late.bin");
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof name, "late-%d", i);
		ids[i] = hc_submit(c, name, "http://h/missing/late", path, NULL);
	}
	for (int i = 0; i < 3; i++)
		cr_assert_eq(hc_wait(c, DOB_MSG_JOB_ERROR, NULL, 5000), 0);

	struct dobc *late = hc_connect(B.sock, "late", DOB_ROLE_OBSERVER, NULL);

	cr_assert_eq(dobc_welcome(late)->pending_episodes, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(hc_wait(late, DOB_MSG_JOB_ERROR, &m, 3000), 0, "replay %d", i);
		cr_assert(m.u.job_error.replayed);
		for (int k = 0; k < 3; k++)
			if (!memcmp(&m.u.job_error.job.job_id, &ids[k], sizeof ids[k]))
				seen[k] = true;
		dob_msg_clear(&m);
	}
	cr_assert(seen[0] && seen[1] && seen[2]);
	cr_assert_eq(hc_count(late, DOB_MSG_JOB_ERROR, 300, NULL), 0, "an episode came twice");
	dobc_close(late);
	dobc_close(c);
}

Test(events, repeated_callbacks_are_counted_not_resent)
{
	char path[HB_PATH + 32];
	struct dob_msg m = {0};

	hb_init(&B,
		"rule \"*/missing/*\" error http=404 after=50ms\n"
		"repeat 50ms..100ms\n",
		NULL);
	hb_start(&B);
	struct dobc *c = hc_connect(B.sock, "watcher", DOB_ROLE_OBSERVER, NULL);

	path_in(path, sizeof path, "rep.bin");
	hc_submit(c, "repeats", "http://h/missing/rep", path, NULL);
	cr_assert_eq(hc_wait(c, DOB_MSG_JOB_ERROR, &m, 5000), 0);
	uint64_t episode = m.u.job_error.episode_id;

	dob_msg_clear(&m);
	/* ~10 more JobError callbacks in 1.2 s: none re-sent. */
	cr_assert_eq(hc_count(c, DOB_MSG_JOB_ERROR, 1200, NULL), 0);

	/* A late subscriber sees the same episode with the repeats counted. */
	struct dobc *late = hc_connect(B.sock, "late", DOB_ROLE_OBSERVER, NULL);

	cr_assert_eq(hc_wait(late, DOB_MSG_JOB_ERROR, &m, 3000), 0);
	cr_assert_eq(m.u.job_error.episode_id, episode);
	cr_assert(m.u.job_error.repeat_count >= 3, "repeat_count %u", m.u.job_error.repeat_count);
	cr_assert(m.u.job_error.last_seen_us > m.u.job_error.first_seen_us);
	dob_msg_clear(&m);
	dobc_close(late);
	dobc_close(c);
}
