/*
 * tests/tsan/tsan_broker.c - a real broker in this process under
 * ThreadSanitizer: the core (sessions, router queues, episodes, journal) on
 * the POSIX loop in its own thread with the sim backend, driven by
 * libdobclient clients in other threads (controllers that submit failing
 * jobs and cancel each episode, observers that must see every error and
 * every resolution, a client asking for stats), while more threads
 * plat_post messages into the running broker. Then a stop from another
 * thread, a clean shutdown, and nothing of dob_* left allocated.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "broker.h"
#include "config.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "dobclient.h"
#include "log.h"
#include "platform.h"
#include "tt.h"

#define CONTROLLERS 3
#define JOBS 4          /* failing jobs per controller; as many that succeed */
#define OBSERVERS 2
#define POSTERS 2
#define PER_POSTER 5000
#define WAIT_MS 20000   /* for any one expected event (slow under TSan) */

static char dir[64], sock[128], files[128];
static struct plat_loop *loop;
static atomic_bool done;        /* the controllers are through */
static long posted_runs;        /* loop thread, then main after the join */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct dobc *connect_as(const char *name, enum dob_role role)
{
	struct dobc_options o = {
		.endpoint = sock,
		.client_name = name,
		.role = role,
		.connect_timeout_ms = WAIT_MS,
		.max_queued_events = 100000,
	};
	struct dobc *c = NULL;
	int err = dobc_connect(&c, &o);

	TT_CHECK(err == 0, "connect %s: %s", name, dobc_strerror(err));
	return err ? NULL : c;
}

static bool same(const struct dob_guid *a, const struct dob_guid *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

/* ------------------------------------------------------------ controllers */

struct ctl {
	int id;
	struct dob_guid fail[JOBS];
	uint64_t episode[JOBS];
	int errors, cancelled, resolutions, submitted;
};

static int submit(struct dobc *c, const char *name, const char *url, struct dob_guid *id)
{
	struct dob_file_spec f = { 0 };
	struct dob_submit_job req = { 0 };
	struct dob_job_reply r = { 0 };
	char path[256];
	int err;

	snprintf(path, sizeof path, "%s/%s.bin", files, name);
	f.remote_url = (char *)url;
	f.local_path = path;
	req.display_name = (char *)name;
	req.n_files = 1;
	req.files = &f;
	req.priority = DOB_PRIORITY_NORMAL;
	req.type = DOB_JOB_DOWNLOAD;
	err = dobc_submit(c, &req, &r, WAIT_MS);
	if (err == 0 && r.status == DOB_STATUS_OK && r.has_job)
		*id = r.job.job.job_id;
	else
		err = err ? err : -DOB_EREMOTE;
	dobc_job_reply_clear(&r);
	return err;
}

static int own_job(const struct ctl *k, const struct dob_guid *id)
{
	for (int i = 0; i < JOBS; i++)
		if (same(&k->fail[i], id))
			return i;
	return -1;
}

static void *ctl_main(void *arg)
{
	struct ctl *k = arg;
	char name[32];
	struct dobc *c;
	int64_t end;

	snprintf(name, sizeof name, "ctl-%d", k->id);
	c = connect_as(name, DOB_ROLE_CONTROLLER);
	if (!c)
		return NULL;
	for (int i = 0; i < JOBS; i++) {
		char jn[32], url[64];
		struct dob_guid ok;

		snprintf(jn, sizeof jn, "f-%d-%d", k->id, i);
		snprintf(url, sizeof url, "http://h/missing/%s", jn);
		if (submit(c, jn, url, &k->fail[i]) == 0)
			k->submitted++;
		snprintf(jn, sizeof jn, "ok-%d-%d", k->id, i);
		snprintf(url, sizeof url, "http://h/fine/%s", jn);
		submit(c, jn, url, &ok);
	}
	/* Each own error is cancelled as it comes; then its resolution. */
	end = now_ms() + WAIT_MS;
	while ((k->errors < JOBS || k->resolutions < JOBS) && now_ms() < end) {
		struct dob_msg m = { 0 };
		int i;

		if (dobc_next_event(c, &m, 200) != 0)
			continue;
		if (m.type == DOB_MSG_JOB_ERROR &&
		    (i = own_job(k, &m.u.job_error.job.job_id)) >= 0 && !k->episode[i]) {
			struct dob_action_result r = { 0 };

			k->episode[i] = m.u.job_error.episode_id;
			k->errors++;
			if (dobc_act(c, &k->fail[i], k->episode[i], DOB_ACTION_CANCEL, 0, &r,
				     WAIT_MS) == 0 &&
			    r.status == DOB_STATUS_OK)
				k->cancelled++;
			dobc_action_result_clear(&r);
		} else if (m.type == DOB_MSG_RESOLUTION &&
			   own_job(k, &m.u.resolution.job_id) >= 0) {
			k->resolutions++;
		}
		dob_msg_clear(&m);
	}
	dobc_close(c);
	return NULL;
}

/* ------------------------------------------------------------ observers */

struct obs {
	int id;
	int errors, resolutions; /* distinct episodes seen */
	uint64_t seen_err[CONTROLLERS * JOBS], seen_res[CONTROLLERS * JOBS];
};

static bool note(uint64_t *seen, int *n, uint64_t ep)
{
	for (int i = 0; i < *n; i++)
		if (seen[i] == ep)
			return false;
	if (*n < CONTROLLERS * JOBS)
		seen[(*n)++] = ep;
	return true;
}

static void *obs_main(void *arg)
{
	struct obs *o = arg;
	char name[32];
	struct dobc *c;
	int64_t end;

	snprintf(name, sizeof name, "obs-%d", o->id);
	c = connect_as(name, DOB_ROLE_OBSERVER);
	if (!c)
		return NULL;
	end = now_ms() + 2 * WAIT_MS;
	while ((o->errors < CONTROLLERS * JOBS || o->resolutions < CONTROLLERS * JOBS) &&
	       now_ms() < end) {
		struct dob_msg m = { 0 };

		if (dobc_next_event(c, &m, 200) != 0)
			continue;
		if (m.type == DOB_MSG_JOB_ERROR)
			note(o->seen_err, &o->errors, m.u.job_error.episode_id);
		else if (m.type == DOB_MSG_RESOLUTION)
			note(o->seen_res, &o->resolutions, m.u.resolution.episode_id);
		dob_msg_clear(&m);
	}
	dobc_close(c);
	return NULL;
}

/* ------------------------------------------------------------ stats, posts */

static void *stats_main(void *arg)
{
	int *ok = arg;
	struct dobc *c = connect_as("stats", DOB_ROLE_OBSERVER);

	if (!c)
		return NULL;
	while (!atomic_load(&done)) {
		struct dob_stats st = { 0 };
		int64_t rtt;

		if (dobc_stats(c, &st, WAIT_MS) == 0 && dobc_ping(c, &rtt, WAIT_MS) == 0)
			(*ok)++;
		dobc_stats_clear(&st);
		tt_sleep_ms(5);
	}
	dobc_close(c);
	return NULL;
}

struct counted_msg {
	struct plat_msg base;
};

static void counted_run(struct plat_msg *m)
{
	posted_runs++; /* the loop thread only */
	dob_free(m);
}

static void *poster_main(void *arg)
{
	int *failed = arg;

	for (int i = 0; i < PER_POSTER; i++) {
		struct counted_msg *m = dob_malloc(sizeof *m);

		if (!m) {
			(*failed)++;
			continue;
		}
		m->base.run = counted_run;
		if (plat_post(loop, m) != 0) {
			dob_free(m);
			(*failed)++;
		}
		if (i % 500 == 0)
			tt_sleep_ms(1);
	}
	return NULL;
}

static void *loop_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)plat_loop_run(loop);
}

/* ------------------------------------------------------------ main */

static int write_scenario(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs("rule \"*/missing/*\" error http=404 after=20ms\n"
	      "repeat off\n"
	      "default ok after=30ms\n",
	      f);
	return fclose(f);
}

int main(void)
{
	struct broker_config cfg;
	struct plat_handlers h;
	struct backend *be = NULL;
	struct broker *b = NULL;
	struct ctl ctls[CONTROLLERS];
	struct obs obss[OBSERVERS];
	pthread_t ct[CONTROLLERS], ot[OBSERVERS], pt[POSTERS], lt, st;
	int post_failed[POSTERS] = { 0 }, stats_ok = 0;
	char scen[160], state[128], err[512] = "", cmd[128];
	int64_t live0 = dob_alloc_live();
	void *rc = NULL;
	int brc;

	snprintf(dir, sizeof dir, "/tmp/dob-tsan-broker-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(sock, sizeof sock, "%s/broker.sock", dir);
	snprintf(state, sizeof state, "%s/state", dir);
	snprintf(files, sizeof files, "%s/files", dir);
	snprintf(scen, sizeof scen, "%s/scenario.txt", dir);
	if (mkdir(files, 0700) != 0 || write_scenario(scen) != 0) {
		perror(dir);
		return 2;
	}
	dob_log_set_level(DOB_LOG_WARN);

	config_defaults(&cfg);
	cfg.endpoint = dob_strdup(sock);
	cfg.state_dir = dob_strdup(state);
	cfg.backend = dob_strdup("sim");
	TT_CHECK(sim_backend_new(&be, scen, err, sizeof err) == 0, "sim: %s", err);
	brc = broker_new(&b, &cfg, be);
	config_clear(&cfg);
	TT_CHECK(brc == 0, "broker_new: %s", dob_strerror(brc));
	if (brc)
		return tt_done();
	broker_handlers(b, &h);
	TT_CHECK(plat_loop_new(&loop, &h) == 0, "plat_loop_new");
	brc = broker_start(b, loop, err, sizeof err);
	TT_CHECK(brc == 0, "broker_start: %s", err);
	if (brc)
		return tt_done();
	pthread_create(&lt, NULL, loop_main, NULL);

	for (int i = 0; i < POSTERS; i++)
		pthread_create(&pt[i], NULL, poster_main, &post_failed[i]);
	pthread_create(&st, NULL, stats_main, &stats_ok);
	for (int i = 0; i < OBSERVERS; i++) {
		memset(&obss[i], 0, sizeof obss[i]);
		obss[i].id = i;
		pthread_create(&ot[i], NULL, obs_main, &obss[i]);
	}
	tt_sleep_ms(100); /* the observers are in before the first error */
	for (int i = 0; i < CONTROLLERS; i++) {
		memset(&ctls[i], 0, sizeof ctls[i]);
		ctls[i].id = i;
		pthread_create(&ct[i], NULL, ctl_main, &ctls[i]);
	}
	for (int i = 0; i < CONTROLLERS; i++)
		pthread_join(ct[i], NULL);
	for (int i = 0; i < OBSERVERS; i++)
		pthread_join(ot[i], NULL);
	atomic_store(&done, true);
	pthread_join(st, NULL);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(pt[i], NULL);
	/* Every post is queued by now: one more, whose run() stops the loop,
	 * would do; a stop from this thread is the cross-thread case. */
	tt_sleep_ms(200);
	plat_loop_stop(loop);
	pthread_join(lt, &rc);
	TT_CHECK(rc == NULL, "plat_loop_run returned %ld", (long)(intptr_t)rc);

	for (int i = 0; i < CONTROLLERS; i++) {
		TT_CHECK(ctls[i].submitted == JOBS, "ctl %d submitted %d of %d", i,
			 ctls[i].submitted, JOBS);
		TT_CHECK(ctls[i].errors == JOBS, "ctl %d saw %d of %d errors", i,
			 ctls[i].errors, JOBS);
		TT_CHECK(ctls[i].cancelled == JOBS, "ctl %d cancelled %d of %d", i,
			 ctls[i].cancelled, JOBS);
		TT_CHECK(ctls[i].resolutions >= JOBS, "ctl %d saw %d of %d resolutions", i,
			 ctls[i].resolutions, JOBS);
	}
	for (int i = 0; i < OBSERVERS; i++) {
		TT_CHECK(obss[i].errors == CONTROLLERS * JOBS, "observer %d saw %d of %d errors",
			 i, obss[i].errors, CONTROLLERS * JOBS);
		TT_CHECK(obss[i].resolutions == CONTROLLERS * JOBS,
			 "observer %d saw %d of %d resolutions", i, obss[i].resolutions,
			 CONTROLLERS * JOBS);
	}
	TT_CHECK(stats_ok > 0, "no stats answered");
	TT_CHECK(post_failed[0] + post_failed[1] == 0, "%d posts failed",
		 post_failed[0] + post_failed[1]);

	broker_shutdown(b);
	plat_loop_free(loop); /* runs what was still queued */
	broker_free(b);
	TT_CHECK(posted_runs == POSTERS * PER_POSTER, "%ld of %d posts ran", posted_runs,
		 POSTERS * PER_POSTER);
	TT_CHECK(dob_alloc_live() == live0, "%lld dob_* blocks leaked",
		 (long long)(dob_alloc_live() - live0));
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return tt_done();
}
