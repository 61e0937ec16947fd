/*
 * kill -9 of the broker at random instants, in a loop, with a checker.
 *
 * Each life: the broker starts on the same state directory (its journal)
 * and the sim backend keeps its jobs in a persist file (the service outlives
 * the broker, as DO does). An observer and a controller connect; failing
 * jobs are submitted and random actions (cancel, complete, resume) race with
 * a SIGKILL fired at a random instant by another thread.
 *
 * What every life checks, over everything the clients saw in all lives:
 *   - an episode is never resolved twice: at most one Resolution and at most
 *     one successful ActionResult per episode id, ever;
 *   - episode ids are never reused: a JobError that is not a replay always
 *     carries an id never seen before;
 *   - no unresolved episode is lost: every episode that was announced and not
 *     seen resolved before a crash is, after the restart, either re-announced
 *     (replayed) or known to the broker as resolved (an Act on it is answered
 *     ALREADY_RESOLVED: the decision was journaled before the crash but its
 *     Resolution never went out).
 *
 * DOB_CRASH_ITERATIONS sets the number of lives (default 50; the longer run
 * of docs/reliability.md uses 500).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dob/msg.h"
#include "harness.h"


struct ep {
	bool announced;
	bool seen_this_life;
	int resolutions;   /* Resolution messages seen, all lives */
	int ok_acts;       /* successful ActionResults, all lives */
	bool silently_resolved;
	struct dob_guid job;
};

static struct hb_broker B;
static struct ep *eps; /* indexed by episode id; ids come in journaled blocks, so
			 * they jump after each crash: grown on demand */
static uint64_t cap, max_id;

static struct ep *ep_get(uint64_t id)
{
	cr_assert(id > 0 && id < (1u << 26), "episode id %llu", (unsigned long long)id);
	if (id >= cap) {
		uint64_t ncap = cap ? cap : 4096;

		while (ncap <= id)
			ncap *= 2;
		eps = realloc(eps, ncap * sizeof *eps);
		cr_assert(eps);
		memset(eps + cap, 0, (ncap - cap) * sizeof *eps);
		cap = ncap;
	}
	return &eps[id];
}
static unsigned replays, silent;

static void fini(void)
{
	hb_cleanup(&B);
	free(eps);
	eps = NULL;
	cap = max_id = 0;
}

TestSuite(crash, .fini = fini, .timeout = 600);

static void on_event(struct dob_msg *m)
{
	if (m->type == DOB_MSG_JOB_ERROR) {
		uint64_t id = m->u.job_error.episode_id;
		struct ep *e = ep_get(id);

		if (!m->u.job_error.replayed) {
			cr_assert(id > max_id || !e->announced,
				  "episode %llu announced again as new (ids reused?)",
				  (unsigned long long)id);
		} else {
			replays++;
		}
		if (id > max_id)
			max_id = id;
		e->announced = true;
		e->seen_this_life = true;
		e->job = m->u.job_error.job.job_id;
	} else if (m->type == DOB_MSG_RESOLUTION) {
		uint64_t id = m->u.resolution.episode_id;
		struct ep *e = ep_get(id);

		e->resolutions++;
		cr_assert(e->resolutions + (e->silently_resolved ? 1 : 0) <= 1,
			  "episode %llu resolved twice:\n%s", (unsigned long long)id,
			  hb_log_tail(&B));
	}
}

static void drain(struct dobc *c, int ms)
{
	struct dob_msg m = {0};
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);

		if (left <= 0 || dobc_next_event(c, &m, left) < 0)
			return;
		on_event(&m);
		dob_msg_clear(&m);
	}
}

struct killer {
	pid_t pid;
	int delay_ms;
};

static void *killer_main(void *arg)
{
	struct killer *k = arg;

	usleep((useconds_t)k->delay_ms * 1000);
	kill(k->pid, SIGKILL);
	return NULL;
}

/* After a restart: every episode announced earlier and never seen resolved
 * must be replayed now or known as resolved. */
static void check_nothing_lost(struct dobc *ctl)
{
	for (uint64_t id = 1; id <= max_id; id++) {
		struct ep *e = &eps[id];
		struct dob_action_result r = {0};

		if (!e->announced || e->resolutions || e->silently_resolved || e->seen_this_life)
			continue;
		int err = dobc_act(ctl, &e->job, id, DOB_ACTION_SUSPEND, 0, &r, 5000);

		cr_assert(err == -DOB_EREMOTE && r.status == DOB_STATUS_ALREADY_RESOLVED,
			  "episode %llu was pending before the crash and is neither replayed nor "
			  "resolved (act: %s, status %s):\n%s",
			  (unsigned long long)id, dobc_strerror(err), dob_status_name(r.status),
			  hb_log_tail(&B));
		e->silently_resolved = true;
		silent++;
		dobc_action_result_clear(&r);
	}
}

static void one_life(unsigned iter, unsigned *seed)
{
	char path[HB_PATH + 32];
	struct killer k;
	pthread_t kt;

	for (uint64_t id = 1; id <= max_id; id++)
		eps[id].seen_this_life = false;
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dobc *ctl = hc_connect(B.sock, "controller", DOB_ROLE_CONTROLLER, NULL);

	drain(obs, 150); /* replays, and what the first sweep finds */
	check_nothing_lost(ctl);

	k.pid = B.pid;
	k.delay_ms = (int)(rand_r(seed) % 80);
	cr_assert(pthread_create(&kt, NULL, killer_main, &k) == 0);
	for (int step = 0; step < 40; step++) {
		int what = (int)(rand_r(seed) % 3);

		if (what == 0) {
			struct dob_job_reply r = {0};
			struct dob_submit_job req = {0};
			struct dob_file_spec f;

			snprintf(path, sizeof path, "%s/c%u-%d.bin", B.files, iter, step);
			f.remote_url = "http://h/missing/c";
			f.local_path = path;
			req.display_name = "crash";
			req.n_files = 1;
			req.files = &f;
			req.priority = DOB_PRIORITY_NORMAL;
			if (dobc_submit(ctl, &req, &r, 2000) == -DOB_ECLOSED)
				break;
			dobc_job_reply_clear(&r);
		} else {
			/* Act on a random pending episode with a random action. */
			static const enum dob_action acts[] = {DOB_ACTION_CANCEL, DOB_ACTION_COMPLETE,
							       DOB_ACTION_RESUME};
			uint64_t pick = 0;

			for (uint64_t id = max_id; id >= 1 && !pick; id--)
				if (eps[id].announced && !eps[id].resolutions &&
				    !eps[id].silently_resolved && rand_r(seed) % 2)
					pick = id;
			if (pick) {
				struct dob_action_result r = {0};
				int err = dobc_act(ctl, &eps[pick].job, pick, acts[rand_r(seed) % 3], 0,
						   &r, 2000);

				if (err == 0) {
					eps[pick].ok_acts++;
					cr_assert_eq(eps[pick].ok_acts, 1,
						     "two successful actions on episode %llu",
						     (unsigned long long)pick);
				}
				dobc_action_result_clear(&r);
				if (err != 0 && err != -DOB_EREMOTE && err != -DOB_ETIMEDOUT)
					break;
			}
		}
		drain(obs, 5);
	}
	pthread_join(kt, NULL);
	hb_kill9(&B); /* reaps it (and kills it if the steps ended first) */
	drain(obs, 50); /* what arrived before the kill */
	dobc_close(obs);
	dobc_close(ctl);
}

Test(crash, kill9_at_random_instants_loses_no_episode_and_resolves_none_twice)
{
	const char *env = getenv("DOB_CRASH_ITERATIONS");
	unsigned iterations = env ? (unsigned)atoi(env) : 50;
	unsigned seed = (unsigned)time(NULL);
	char scen[HB_PATH * 2];
	unsigned announced = 0, resolved = 0;

	ep_get(1);
	hb_init(&B, NULL, "--sweep-interval-ms=100", "--max-jobs=100000", NULL);
	/* The persist file lives in the broker's directory. */
	snprintf(scen, sizeof scen,
		 "persist %s/sim-state\n"
		 "rule \"*/missing/*\" error http=404 after=10ms\n"
		 "repeat 200ms..400ms\n"
		 "modifications off\n",
		 B.dir);
	snprintf(B.scenario, sizeof B.scenario, "%s/scenario.txt", B.dir);
	FILE *f = fopen(B.scenario, "w");

	cr_assert(f);
	fputs(scen, f);
	fclose(f);

	cr_log_info("crash loop: %u lives, seed %u", iterations, seed);
	for (unsigned i = 0; i < iterations; i++)
		one_life(i, &seed);

	/* A last, clean life: nothing lost, and the broker stops cleanly. */
	for (uint64_t id = 1; id <= max_id; id++)
		eps[id].seen_this_life = false;
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dobc *ctl = hc_connect(B.sock, "controller", DOB_ROLE_CONTROLLER, NULL);

	drain(obs, 300);
	check_nothing_lost(ctl);
	dobc_close(ctl);
	dobc_close(obs);
	int st = hb_stop(&B);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "clean stop failed (%d):\n%s", st,
		  hb_log_tail(&B));
	for (uint64_t id = 1; id <= max_id; id++) {
		announced += eps[id].announced;
		resolved += eps[id].resolutions + eps[id].silently_resolved;
	}
	/* How many episodes a life sees depends on the machine's speed (a
	 * TSan broker on a loaded machine sees few): only that the loop
	 * exercised episodes at all is a property of the broker. */
	cr_assert(announced > 0, "no episode in %u lives", iterations);
	fprintf(stderr,
		"crash loop: %u lives, %u episodes, %u resolved (%u only known from the "
		"journal), %u replays, seed %u\n",
		iterations, announced, resolved, silent, replays, seed);
}
