/*
 * Faults below the broker: a journal on a full disk, and backend calls that
 * fail, hang or answer late (the sim's `fault` directive).
 *
 *   - Full disk: the state directory is a small tmpfs (we run as root; the
 *     test is skipped, saying why, when mount is not permitted). Filled up,
 *     the broker refuses new work with UNAVAILABLE naming the journal, keeps
 *     serving, takes work again once there is room, and after a kill -9 on
 *     the full disk and a restart replays every episode it had accepted.
 *   - A failing call: ActionResult BACKEND_ERROR with the HRESULT, and the
 *     episode stays pending (replayed to a newcomer, resolvable later).
 *   - A hanging call: pings and other clients' events go on; the action gets
 *     TIMEOUT after --action-timeout-ms, then another action resolves it.
 *   - A slow call: carried out, late.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct hb_broker B;
static bool mounted;

static void fini(void)
{
	hb_stop(&B);
	if (mounted && umount2(B.state, MNT_DETACH) != 0)
		fprintf(stderr, "umount %s: %s\n", B.state, strerror(errno));
	mounted = false;
	hb_cleanup(&B);
}

TestSuite(faults, .fini = fini, .timeout = 120);

#define FAIL_RULE "rule \"*/missing/*\" error http=404 after=20ms\nrepeat off\nmodifications off\n"

static struct dob_guid submit_failing(struct dobc *c, const char *name)
{
	char path[HB_PATH + 64];

	snprintf(path, sizeof path, "%s/%s.bin", B.files, name);
	return hc_submit(c, name, "http://h/missing/x", path, NULL);
}

static uint64_t wait_error(struct dobc *c, const struct dob_guid *id)
{
	return hc_wait_error(c, id, 5000);
}

static uint32_t pending_of(struct dobc *c)
{
	struct dob_stats st = hc_stats(c);
	uint32_t n = st.pending_episodes;

	dobc_stats_clear(&st);
	return n;
}

/* Act, and return the reply (cleared by the caller). */
static int act(struct dobc *c, const struct dob_guid *job, uint64_t ep, enum dob_action a,
	       struct dob_action_result *r, int timeout_ms)
{
	int err = dobc_act(c, job, ep, a, 0, r, timeout_ms);

	cr_assert(err == 0 || err == -DOB_EREMOTE, "act: %s", dobc_strerror(err));
	return err;
}

/* ---------------------------------------------------------------- full disk */

#define MAX_JOBS 160

/* Writes filler until the file system says ENOSPC; returns the bytes. */
static long long fill(const char *path)
{
	static char block[4096];
	long long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	for (size_t sz = sizeof block; sz >= 1; sz /= 2) {
		for (;;) {
			ssize_t n = write(fd, block, sz);

			if (n > 0) {
				total += n;
				continue;
			}
			cr_assert(n < 0 && errno == ENOSPC, "filling: %s", strerror(errno));
			break;
		}
	}
	close(fd);
	return total;
}

/* Submits failing jobs until the broker refuses one (the journal's last
 * page may take a few records after the disk is full); appends the
 * accepted ones to jobs[] and returns how many there were. */
static int submit_until_refused(struct dobc *ctl, struct dob_guid *jobs, int *n_jobs,
				enum dob_status *st, char *msg, size_t msglen)
{
	int accepted = 0;

	*st = DOB_STATUS_OK;
	for (int i = 0; i < 64 && *st == DOB_STATUS_OK; i++) {
		char path[HB_PATH + 32];
		struct dob_submit_job req = {0};
		struct dob_file_spec fs;
		struct dob_job_reply r = {0};

		snprintf(path, sizeof path, "%s/full%d.bin", B.files, i);
		fs.remote_url = "http://h/missing/full";
		fs.local_path = path;
		req.display_name = "while-full";
		req.n_files = 1;
		req.files = &fs;
		int err = dobc_submit(ctl, &req, &r, 5000);

		cr_assert(err == 0 || err == -DOB_EREMOTE, "submit: %s", dobc_strerror(err));
		*st = r.status;
		snprintf(msg, msglen, "%s", r.message ? r.message : "");
		if (*st == DOB_STATUS_OK) {
			cr_assert(*n_jobs < MAX_JOBS);
			jobs[(*n_jobs)++] = r.job.job.job_id;
			accepted++;
		}
		dobc_job_reply_clear(&r);
	}
	return accepted;
}

Test(faults, journal_on_a_full_disk_refuses_new_work_and_loses_nothing_accepted)
{
	enum { K = 5 };
	char filler[HB_PATH + 16], spare[HB_PATH + 16], scen[HB_PATH * 2], msg[512];
	struct dob_guid jobs[MAX_JOBS];
	uint64_t eps[K] = {0};
	int n_jobs = 0, accepted_while_full = 0;
	struct dob_action_result ar = {0};

	hb_init(&B, NULL, "--sweep-interval-ms=200", NULL);
	snprintf(scen, sizeof scen, "persist %s/sim-state\n" FAIL_RULE, B.dir);
	snprintf(B.scenario, sizeof B.scenario, "%s/scenario.txt", B.dir);
	FILE *f = fopen(B.scenario, "w");

	cr_assert(f);
	fputs(scen, f);
	fclose(f);
	cr_assert(mkdir(B.state, 0700) == 0);
	if (mount("dobroker-test", B.state, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") !=
	    0)
		cr_skip_test("mount -t tmpfs on %s is not permitted (%s): the full-disk test needs "
			     "root or CAP_SYS_ADMIN; skipped",
			     B.state, strerror(errno));
	mounted = true;
	snprintf(filler, sizeof filler, "%s/filler", B.state);
	snprintf(spare, sizeof spare, "%s/spare.bin", B.files);

	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dobc *ctl = hc_connect(B.sock, "controller", DOB_ROLE_CONTROLLER, NULL);

	for (int i = 0; i < K; i++) {
		jobs[n_jobs] = submit_failing(ctl, "before");
		eps[i] = wait_error(obs, &jobs[n_jobs]);
		n_jobs++;
	}

	/* The disk fills up. The journal's last page may still take a record
	 * or two: submit until the broker says no. */
	long long filled = fill(filler);
	enum dob_status st;

	accepted_while_full = submit_until_refused(ctl, jobs, &n_jobs, &st, msg, sizeof msg);
	cr_assert_eq(st, DOB_STATUS_UNAVAILABLE, "a full disk: %s %s", dob_status_name(st), msg);
	cr_assert(strstr(msg, "journal") && strstr(msg, "space"), "unclear refusal: %s", msg);
	/* ... and again at once, without asking the backend. */
	cr_assert_eq(hc_submit_status(ctl, "while-full", "http://h/missing/x", spare, msg,
				      sizeof msg),
		     DOB_STATUS_UNAVAILABLE, "%s", msg);
	cr_assert(strstr(msg, "journal") && strstr(msg, "no space left"), "%s", msg);

	/* A decision could not be journaled either: it is refused, and the
	 * episode stays pending. */
	cr_assert_eq(act(ctl, &jobs[0], eps[0], DOB_ACTION_CANCEL, &ar, 5000), -DOB_EREMOTE,
		     "an action was acknowledged without its journal record");
	cr_assert_eq(ar.status, DOB_STATUS_UNAVAILABLE, "%s: %s", dob_status_name(ar.status),
		     ar.message);
	cr_assert(strstr(ar.message, "journal"), "%s", ar.message);
	dobc_action_result_clear(&ar);

	/* The broker keeps serving what it has. */
	int64_t rtt;

	cr_assert_eq(dobc_ping(obs, &rtt, 3000), 0);
	/* Conditions, not time: the deadline only catches a hang. */
	for (int64_t until = hp_now_ms() + 60000;
	     pending_of(ctl) < (uint32_t)n_jobs && hp_now_ms() < until;)
		usleep(20000); /* polling interval, not a barrier */
	cr_assert_eq(pending_of(ctl), (uint32_t)n_jobs);

	/* Room again: new work is taken (the sweep finds the journal writable). */
	cr_assert(unlink(filler) == 0);
	st = DOB_STATUS_UNAVAILABLE;
	for (int64_t until = hp_now_ms() + 60000;
	     st == DOB_STATUS_UNAVAILABLE && hp_now_ms() < until;) {
		st = hc_submit_status(ctl, "recovered", "http://h/ok/x", spare, msg, sizeof msg);
		if (st == DOB_STATUS_UNAVAILABLE)
			usleep(50000); /* polling interval, not a barrier */
	}
	cr_assert_eq(st, DOB_STATUS_OK, "no new work after the disk had room: %s", msg);

	/* Full again, and the broker dies on it. */
	fill(filler);
	accepted_while_full += submit_until_refused(ctl, jobs, &n_jobs, &st, msg, sizeof msg);
	cr_assert_eq(st, DOB_STATUS_UNAVAILABLE, "full again: %s %s", dob_status_name(st), msg);
	dobc_close(ctl);
	dobc_close(obs);
	hb_kill9(&B);
	cr_assert(unlink(filler) == 0);
	hb_start(&B);

	/* Every episode accepted before is replayed, with its id; the jobs
	 * accepted while the disk was full have theirs too. */
	obs = hc_connect(B.sock, "observer-again", DOB_ROLE_OBSERVER, NULL);
	bool seen[K] = {false};
	bool job_seen[MAX_JOBS] = {false};
	int replayed = 0, with_episode = 0;
	struct dob_msg m = {0};

	while (with_episode < n_jobs && hc_wait(obs, DOB_MSG_JOB_ERROR, &m, 3000) == 0) {
		for (int i = 0; i < K; i++)
			if (m.u.job_error.episode_id == eps[i] && !seen[i]) {
				seen[i] = true;
				replayed++;
			}
		for (int i = 0; i < n_jobs; i++)
			if (!memcmp(&m.u.job_error.job.job_id, &jobs[i], sizeof jobs[i]) &&
			    !job_seen[i]) {
				job_seen[i] = true;
				with_episode++;
			}
		dob_msg_clear(&m);
	}
	cr_assert_eq(replayed, K, "%d of the %d episodes accepted before the disk filled were "
				  "replayed:\n%s",
		     replayed, K, hb_log_tail(&B));
	cr_assert_eq(with_episode, n_jobs, "%d of %d failed jobs have an episode after restart",
		     with_episode, n_jobs);
	ctl = hc_connect(B.sock, "controller-again", DOB_ROLE_CONTROLLER, NULL);
	cr_assert_eq(act(ctl, &jobs[0], eps[0], DOB_ACTION_CANCEL, &ar, 5000), 0, "%s",
		     ar.message);
	dobc_action_result_clear(&ar);
	fprintf(stderr,
		"full disk: %lld bytes of filler; %d jobs accepted before, %d while filling, then "
		"UNAVAILABLE; after kill -9 and restart %d/%d episodes replayed\n",
		filled, K, accepted_while_full, replayed, K);
	dobc_close(ctl);
	dobc_close(obs);
}

/* ---------------------------------------------------------------- failing */

Test(faults, failing_backend_call_is_a_backend_error_and_the_episode_stays_pending)
{
	struct dob_action_result ar = {0};
	struct dob_msg m = {0};

	hb_init(&B, FAIL_RULE "fault cancel * hresult=0x800706BA count=2\n", NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dobc *ctl = hc_connect(B.sock, "controller", DOB_ROLE_CONTROLLER, NULL);
	struct dob_guid job = submit_failing(ctl, "fails");
	uint64_t ep = wait_error(obs, &job);

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(act(ctl, &job, ep, DOB_ACTION_CANCEL, &ar, 5000), -DOB_EREMOTE);
		cr_assert_eq(ar.status, DOB_STATUS_BACKEND_ERROR, "%s: %s",
			     dob_status_name(ar.status), ar.message);
		cr_assert_eq(ar.hresult, 0x800706BAu, "hresult 0x%08X", ar.hresult);
		cr_assert(strstr(ar.message, "800706BA"), "the message lacks the HRESULT: %s",
			  ar.message);
		dobc_action_result_clear(&ar);
	}
	cr_assert_eq(hc_count(obs, DOB_MSG_RESOLUTION, 300, NULL), 0,
		     "a failed action resolved the episode");
	cr_assert_eq(pending_of(ctl), 1);

	/* A newcomer is told of it, with the same id. */
	struct dobc *late = hc_connect(B.sock, "late", DOB_ROLE_OBSERVER, NULL);

	cr_assert_eq(dobc_welcome(late)->pending_episodes, 1);
	cr_assert_eq(hc_wait(late, DOB_MSG_JOB_ERROR, &m, 3000), 0);
	cr_assert_eq(m.u.job_error.episode_id, ep);
	cr_assert(m.u.job_error.replayed);
	dob_msg_clear(&m);

	/* The backend recovers: the next action resolves it, once. */
	cr_assert_eq(act(ctl, &job, ep, DOB_ACTION_CANCEL, &ar, 5000), 0, "%s", ar.message);
	dobc_action_result_clear(&ar);
	cr_assert_eq(hc_wait(obs, DOB_MSG_RESOLUTION, &m, 3000), 0);
	cr_assert_eq(m.u.resolution.episode_id, ep);
	cr_assert_eq(m.u.resolution.action, DOB_ACTION_CANCEL);
	dob_msg_clear(&m);
	cr_assert_eq(pending_of(ctl), 0);
	dobc_close(late);
	dobc_close(ctl);
	dobc_close(obs);
}

/* ---------------------------------------------------------------- hanging */

struct actor_thread {
	struct dobc *c;
	struct dob_guid job;
	uint64_t ep;
	enum dob_action action;
	int err;
	struct dob_action_result r;
	int64_t ms;
	pthread_t t;
};

static void *actor_main(void *arg)
{
	struct actor_thread *a = arg;
	int64_t t0 = hp_now_ms();

	a->err = dobc_act(a->c, &a->job, a->ep, a->action, 0, &a->r, 10000);
	a->ms = hp_now_ms() - t0;
	return NULL;
}

Test(faults, hanging_backend_call_times_out_while_the_loop_keeps_serving)
{
	enum { TIMEOUT_MS = 800 };
	struct actor_thread a = {0};
	struct dob_action_result ar = {0};
	struct dob_msg m = {0};
	int64_t rtt_max = 0;
	int pings = 0;

	hb_init(&B, FAIL_RULE "fault cancel * hang\nfault submit * hang count=1\n",
		"--action-timeout-ms=800", NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dobc *ctl = hc_connect(B.sock, "controller", DOB_ROLE_CONTROLLER, NULL);
	struct dobc *other = hc_connect(B.sock, "other", DOB_ROLE_CONTROLLER, NULL);

	/* A submit that hangs times out too. */
	char msg[256];
	int64_t t0 = hp_now_ms();

	char path[HB_PATH + 16];

	snprintf(path, sizeof path, "%s/hangs.bin", B.files);
	cr_assert_eq(hc_submit_status(ctl, "hangs", "http://h/missing/x", path, msg, sizeof msg),
		     DOB_STATUS_TIMEOUT, "%s", msg);
	cr_assert(hp_now_ms() - t0 >= TIMEOUT_MS - 50);

	struct dob_guid job = submit_failing(ctl, "to-cancel");

	a.ep = wait_error(obs, &job);
	a.c = ctl;
	a.job = job;
	a.action = DOB_ACTION_CANCEL;
	cr_assert(pthread_create(&a.t, NULL, actor_main, &a) == 0);

	/* While the cancel hangs: pings answer, another client's job fails and
	 * its error reaches the observer. */
	usleep(50000);
	struct dob_guid job2 = submit_failing(other, "meanwhile");

	cr_assert_eq(wait_error(obs, &job2) > a.ep, true);
	for (t0 = hp_now_ms(); hp_now_ms() - t0 < TIMEOUT_MS / 2; pings++) {
		int64_t rtt = 0;

		cr_assert_eq(dobc_ping(other, &rtt, 1000), 0);
		if (rtt > rtt_max)
			rtt_max = rtt;
		usleep(10000);
	}
	pthread_join(a.t, NULL);
	cr_assert_eq(a.err, -DOB_EREMOTE, "the hanging cancel: %s", dobc_strerror(a.err));
	cr_assert_eq(a.r.status, DOB_STATUS_TIMEOUT, "%s: %s", dob_status_name(a.r.status),
		     a.r.message);
	cr_assert(a.ms >= TIMEOUT_MS - 50 && a.ms < TIMEOUT_MS + 1500, "TIMEOUT after %lld ms",
		  (long long)a.ms);
	cr_assert(strstr(a.r.message, "800 ms"), "%s", a.r.message);
	dobc_action_result_clear(&a.r);
	cr_assert(rtt_max < 200000, "a ping took %lld us while the backend hung",
		  (long long)rtt_max);

	/* Still pending; another action resolves it. */
	cr_assert_eq(pending_of(other), 2);
	cr_assert_eq(act(other, &job, a.ep, DOB_ACTION_RESUME, &ar, 5000), 0, "%s", ar.message);
	dobc_action_result_clear(&ar);
	for (;;) {
		cr_assert_eq(hc_wait(obs, DOB_MSG_RESOLUTION, &m, 3000), 0);
		if (m.u.resolution.episode_id == a.ep)
			break;
		dob_msg_clear(&m);
	}
	cr_assert_eq(m.u.resolution.action, DOB_ACTION_RESUME);
	cr_assert_str_eq(m.u.resolution.actor.client_name, "other");
	dob_msg_clear(&m);
	fprintf(stderr,
		"hang: cancel answered TIMEOUT after %lld ms (--action-timeout-ms=%d); %d pings "
		"meanwhile, max %.2f ms\n",
		(long long)a.ms, TIMEOUT_MS, pings, (double)rtt_max / 1000.0);
	dobc_close(other);
	dobc_close(ctl);
	dobc_close(obs);
}

/* ---------------------------------------------------------------- slow */

Test(faults, slow_backend_call_still_succeeds)
{
	struct dob_action_result ar = {0};
	struct dob_msg m = {0};

	hb_init(&B, FAIL_RULE "fault resume * delay=400ms\nfault submit * delay=300ms\n",
		"--action-timeout-ms=2000", NULL);
	hb_start(&B);
	struct dobc *ctl = hc_connect(B.sock, "controller", DOB_ROLE_CONTROLLER, NULL);
	int64_t t0 = hp_now_ms();
	struct dob_guid job = submit_failing(ctl, "slow");

	cr_assert(hp_now_ms() - t0 >= 290, "the slow submit took %lld ms", (long long)(hp_now_ms() - t0));
	uint64_t ep = wait_error(ctl, &job);

	t0 = hp_now_ms();
	cr_assert_eq(act(ctl, &job, ep, DOB_ACTION_RESUME, &ar, 5000), 0, "%s", ar.message);
	cr_assert(hp_now_ms() - t0 >= 390, "the slow resume took %lld ms", (long long)(hp_now_ms() - t0));
	dobc_action_result_clear(&ar);
	cr_assert_eq(hc_wait(ctl, DOB_MSG_RESOLUTION, &m, 3000), 0);
	cr_assert_eq(m.u.resolution.episode_id, ep);
	dob_msg_clear(&m);
	dobc_close(ctl);
}
