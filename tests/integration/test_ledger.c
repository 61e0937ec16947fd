/*
 * The crash-and-race checker: a ledger of what every client was told,
 * checked against everything that happens later, across SIGKILLs.
 *
 * Each life: dobrokerd (sim backend, persist file: the simulated service
 * outlives the broker) starts on the same state directory. An observer and
 * three controllers connect over raw sockets, so their requests really race
 * (pipelined, never waiting for each other). Controllers submit failing
 * jobs and answer pending episodes with random actions - cancel, complete,
 * resume, suspend, resume after a delay - often several at once on the same
 * episode. The broker is killed with SIGKILL at a random step: right after a
 * burst of submits, or with acts in flight. No sleep anywhere: every wait is
 * for a frame, bounded only to catch a hang.
 *
 * The ledger keeps, over all lives: every JobError (new or replayed, with
 * the failed decision it names), every Resolution the observer saw, every OK
 * and every ALREADY_RESOLVED a controller was told. It fails on:
 *   - an episode resolved twice;
 *   - an episode id reused;
 *   - an OK contradicted: a second OK on an episode whose OK'd decision was
 *     never announced as failed, a Resolution naming another decision, or
 *     the episode offered as pending again (replayed without a failure);
 *   - an ALREADY_RESOLVED naming a winner whose decision did not take
 *     effect (the Resolution names someone else, or that decision is later
 *     announced as failed);
 *   - a pending episode lost across a restart (neither replayed, nor
 *     resolved, nor known to the broker as decided);
 *   - at the end: a job the broker acknowledged that vanished without a
 *     final state, or a managed job that stays final (managed forever).
 *
 * DOB_LEDGER_LIVES sets the number of lives (default 100 in make check;
 * `make crashloop LIVES=N` runs more).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dob/msg.h"
#include "harness.h"

#define NCTL 3
#define WAIT_MS 20000 /* only catches a hang */

struct lep {
	bool announced;
	bool seen_this_life;  /* announced or replayed in the current life */
	bool replay_counted;  /* counted against this life's Welcome.pending_episodes */
	bool known_resolved;  /* a Resolution was seen, or an Act was told ALREADY_RESOLVED */
	struct dob_guid job;
	int resolutions;      /* Resolutions the observer saw, all lives */
	char res_actor[64];
	enum dob_action res_action;
	enum dob_resolved_by res_by;
	/* The decision a controller was told OK for, until a failure of it is
	 * announced. */
	bool ok;
	char ok_actor[64];
	enum dob_action ok_action;
	/* ALREADY_RESOLVED answers, checked against the Resolution. */
	int n_already;
	char already_actor[8][64];
	enum dob_action already_action[8];
};

struct ljob {
	struct dob_guid id;
	bool final_seen;
};

struct pend {          /* a request in flight on a controller */
	uint64_t corr;
	enum dob_msg_type type;
	uint64_t episode;
	enum dob_action action;
};

struct ctl {
	struct hr_conn c;
	char name[16];
	struct pend pend[64];
	int n_pend;
	uint64_t next_corr;
	bool dead;
};

static struct hb_broker B;
static struct lep *eps;
static uint64_t cap, max_id;
static struct ljob *jobs;
static size_t n_jobs, jobs_cap;
static unsigned n_ok, n_already, n_failed, n_replays, n_lives_killed_in_act;
static char last_status[256];
static unsigned by_status[DOB_STATUS_MAX + 1];

static struct lep *lep(uint64_t id)
{
	cr_assert(id > 0 && id < (1u << 26), "episode id %llu", (unsigned long long)id);
	if (id >= cap) {
		uint64_t ncap = cap ? cap : 64; /* small: it grows (moves) often, so a pointer kept across a pump shows */
		while (ncap <= id)
			ncap *= 2;
		eps = realloc(eps, ncap * sizeof *eps);
		cr_assert(eps);
		memset(eps + cap, 0, (ncap - cap) * sizeof *eps);
		cap = ncap;
	}
	if (id > max_id)
		max_id = id;
	return &eps[id];
}

static struct ljob *ljob(const struct dob_guid *id, bool add)
{
	for (size_t i = 0; i < n_jobs; i++)
		if (!memcmp(&jobs[i].id, id, sizeof *id))
			return &jobs[i];
	if (!add)
		return NULL;
	if (n_jobs == jobs_cap) {
		jobs_cap = jobs_cap ? 2 * jobs_cap : 256;
		jobs = realloc(jobs, jobs_cap * sizeof *jobs);
		cr_assert(jobs);
	}
	memset(&jobs[n_jobs], 0, sizeof jobs[0]);
	jobs[n_jobs].id = *id;
	return &jobs[n_jobs++];
}

static void fini(void)
{
	if (getenv("DOB_LEDGER_KEEP")) {
		/* Keep the broker's directory (log, journal) for a look. */
		fprintf(stderr, "ledger: kept %s\n", B.dir);
		B.dir[0] = '\0';
	}
	hb_cleanup(&B);
	free(eps);
	free(jobs);
	eps = NULL;
	jobs = NULL;
	cap = max_id = 0;
	n_jobs = jobs_cap = 0;
}

/* Long runs (make crashloop LIVES=N) take as long as they take; in make
 * check the suite's own limit (scripts/check.sh) catches a hang. */
TestSuite(ledger, .fini = fini, .timeout = 86400);

static bool sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#else
	return getenv("DOB_IT_BINDIR") && *getenv("DOB_IT_BINDIR");
#endif
}

static const char *nm(const char *s)
{
	return s ? s : "";
}

static bool is_final(enum dob_job_state s)
{
	return s == DOB_STATE_CANCELLED || s == DOB_STATE_ACKNOWLEDGED;
}

/* ---------------------------------------------------------------- ledger */

/* The observer's replay in this life: Welcome.pending_episodes, and how many
 * of those have come (docs/protocol.md, handshake): a replayed JobError of an
 * episode not yet seen in this life, or the Resolution of one that ended
 * before its turn. */
static uint32_t replay_due, replay_got;

static void count_replay(struct lep *x, bool replayed)
{
	if (replayed && !x->seen_this_life && !x->replay_counted) {
		x->replay_counted = true;
		replay_got++;
	}
}

static void on_job_error(const struct dob_job_error *e)
{
	struct lep *x = lep(e->episode_id);

	count_replay(x, e->replayed);

	if (!e->replayed) {
		cr_assert(!x->announced, "episode %llu announced again as new (id reused):\n%s",
			  (unsigned long long)e->episode_id, hb_log_tail(&B));
	} else {
		n_replays++;
		if (e->has_failed_decision) {
			const struct dob_resolution *f = &e->failed_decision;
			n_failed++;
			/* A failure announced for a decision somebody was told
			 * had won would contradict that answer. */
			for (int i = 0; i < x->n_already; i++)
				cr_assert(strcmp(x->already_actor[i], nm(f->actor.client_name)) ||
						  x->already_action[i] != f->action,
					  "episode %llu: %s was told %s won with %s, and that "
					  "decision then failed:\n%s",
					  (unsigned long long)e->episode_id, "a controller",
					  nm(f->actor.client_name), dob_action_name(f->action),
					  hb_log_tail(&B));
			if (x->ok && !strcmp(x->ok_actor, nm(f->actor.client_name)) &&
			    x->ok_action == f->action)
				x->ok = false; /* its failure is announced: pending again */
		}
		/* A failure of another decision is announced before the held
		 * Act that then won is answered; the observer's socket and the
		 * controller's are read in no particular order, so only a
		 * re-offer without any failure counts against an OK. */
		if (e->has_pending_decision && x->ok && !e->has_failed_decision)
			/* replayed as decided: the decision under way is the OK'd one */
			cr_assert(!strcmp(x->ok_actor, nm(e->pending_decision.actor.client_name)) &&
					  x->ok_action == e->pending_decision.action,
				  "episode %llu replayed as decided by %s %s, but %s was told OK "
				  "for %s:\n%s",
				  (unsigned long long)e->episode_id,
				  nm(e->pending_decision.actor.client_name),
				  dob_action_name(e->pending_decision.action), x->ok_actor,
				  dob_action_name(x->ok_action), hb_log_tail(&B));
		cr_assert(!x->ok || e->has_failed_decision || e->has_pending_decision,
			  "episode %llu offered as pending again after %s was told OK for %s "
			  "(no failure announced):\n%s",
			  (unsigned long long)e->episode_id, x->ok_actor,
			  dob_action_name(x->ok_action), hb_log_tail(&B));
		cr_assert_eq(x->resolutions, 0, "episode %llu replayed after its Resolution",
			     (unsigned long long)e->episode_id);
	}
	x->announced = true;
	x->seen_this_life = true;
	x->job = e->job.job_id;
}

static void on_resolution(const struct dob_resolution *r)
{
	struct lep *x = lep(r->episode_id);
	struct ljob *j = ljob(&r->job_id, false);

	count_replay(x, true);
	x->resolutions++;
	cr_assert_eq(x->resolutions, 1, "episode %llu resolved twice:\n%s",
		     (unsigned long long)r->episode_id, hb_log_tail(&B));
	snprintf(x->res_actor, sizeof x->res_actor, "%s", nm(r->actor.client_name));
	x->res_action = r->action;
	x->res_by = r->resolved_by;
	x->known_resolved = true;
	if (j && is_final(r->new_state))
		j->final_seen = true;
	if (x->ok && r->resolved_by != DOB_RESOLVED_JOB_LEFT_ERROR)
		cr_assert(!strcmp(x->ok_actor, x->res_actor) && x->ok_action == r->action,
			  "episode %llu: %s was told OK for %s, but the Resolution names %s %s:\n%s",
			  (unsigned long long)r->episode_id, x->ok_actor,
			  dob_action_name(x->ok_action), x->res_actor, dob_action_name(r->action),
			  hb_log_tail(&B));
	for (int i = 0; i < x->n_already; i++)
		cr_assert(r->resolved_by == DOB_RESOLVED_JOB_LEFT_ERROR
				  ? !strcmp(x->already_actor[i], "service")
				  : !strcmp(x->already_actor[i], x->res_actor) &&
					    x->already_action[i] == r->action,
			  "episode %llu: a controller was told %s won with %s, the Resolution names "
			  "%s %s:\n%s",
			  (unsigned long long)r->episode_id, x->already_actor[i],
			  dob_action_name(x->already_action[i]), x->res_actor,
			  dob_action_name(r->action), hb_log_tail(&B));
}

static void on_reply(struct ctl *c, const struct dob_msg *m)
{
	struct pend p;
	int i;

	for (i = 0; i < c->n_pend; i++)
		if (c->pend[i].corr == m->correlation_id)
			break;
	cr_assert(i < c->n_pend, "%s: a reply to request %llu it never sent or got twice",
		  c->name, (unsigned long long)m->correlation_id);
	p = c->pend[i];
	c->pend[i] = c->pend[--c->n_pend];
	if (m->type == DOB_MSG_JOB_REPLY) {
		if (m->u.job_reply.status == DOB_STATUS_OK && m->u.job_reply.has_job)
			ljob(&m->u.job_reply.job.job.job_id, true);
		return;
	}
	cr_assert_eq(m->type, DOB_MSG_ACTION_RESULT);
	const struct dob_action_result *r = &m->u.action_result;
	struct lep *x = lep(p.episode);

	snprintf(last_status, sizeof last_status, "%s: %s", dob_status_name(r->status),
		 nm(r->message));
	if ((unsigned)r->status <= DOB_STATUS_MAX)
		by_status[r->status]++;

	if (r->status == DOB_STATUS_OK) {
		struct ljob *j = ljob(&x->job, false);
		n_ok++;
		cr_assert(!x->ok,
			  "episode %llu: %s told OK for %s while %s's OK for %s stands:\n%s",
			  (unsigned long long)p.episode, c->name, dob_action_name(p.action),
			  x->ok_actor, dob_action_name(x->ok_action), hb_log_tail(&B));
		if (x->resolutions)
			cr_assert(!strcmp(x->res_actor, c->name) && x->res_action == p.action,
				  "episode %llu: %s told OK for %s after it was resolved by %s:\n%s",
				  (unsigned long long)p.episode, c->name,
				  dob_action_name(p.action), x->res_actor, hb_log_tail(&B));
		x->ok = true;
		snprintf(x->ok_actor, sizeof x->ok_actor, "%s", c->name);
		x->ok_action = p.action;
		if (j && is_final(r->new_state))
			j->final_seen = true;
	} else if (r->status == DOB_STATUS_ALREADY_RESOLVED) {
		struct ljob *j = ljob(&x->job, false);
		n_already++;
		x->known_resolved = true;
		if (j && is_final(r->new_state))
			j->final_seen = true;
		if (x->n_already < 8) {
			snprintf(x->already_actor[x->n_already], sizeof x->already_actor[0], "%s",
				 nm(r->winner.client_name));
			x->already_action[x->n_already++] = r->winner_action;
		}
		if (x->resolutions)
			cr_assert(x->res_by == DOB_RESOLVED_JOB_LEFT_ERROR ||
					  (!strcmp(x->res_actor, nm(r->winner.client_name)) &&
					   x->res_action == r->winner_action),
				  "episode %llu: told %s won, the Resolution names %s:\n%s",
				  (unsigned long long)p.episode, nm(r->winner.client_name),
				  x->res_actor, hb_log_tail(&B));
	}
}

/* ---------------------------------------------------------------- clients */

static void on_msg_ctl(struct ctl *c, const struct dob_msg *m)
{
	if (m->type == DOB_MSG_ACTION_RESULT || m->type == DOB_MSG_JOB_REPLY)
		on_reply(c, m);
}

static void on_msg_obs(const struct dob_msg *m)
{
	if (m->type == DOB_MSG_JOB_ERROR)
		on_job_error(&m->u.job_error);
	else if (m->type == DOB_MSG_RESOLUTION)
		on_resolution(&m->u.resolution);
}

/* Reads what is already there (timeout 0), or waits up to ms for one frame. */
static bool pump_one(struct hr_conn *c, int ms, void (*fn)(void *, const struct dob_msg *),
		     void *arg)
{
	struct dob_msg m;
	int rc = hr_next(c, &m, ms);

	if (rc == -DOB_ECLOSED)
		return false;
	if (rc == 0) {
		fn(arg, &m);
		dob_msg_clear(&m);
	}
	return rc == 0;
}

static void obs_fn(void *arg, const struct dob_msg *m)
{
	(void)arg;
	on_msg_obs(m);
}

static void ctl_fn(void *arg, const struct dob_msg *m)
{
	on_msg_ctl(arg, m);
}

static void drain_all(struct hr_conn *obs, struct ctl *ctls)
{
	/* hr_next reads the socket only with a timeout of 1 ms or more. */
	while (pump_one(obs, 1, obs_fn, NULL))
		;
	for (int i = 0; i < NCTL; i++)
		while (!ctls[i].dead && pump_one(&ctls[i].c, 1, ctl_fn, &ctls[i]))
			;
}

static void send_req(struct ctl *c, struct dob_msg *m, uint64_t episode, enum dob_action a)
{
	cr_assert_lt(c->n_pend, 64);
	m->correlation_id = ++c->next_corr;
	c->pend[c->n_pend++] = (struct pend){ m->correlation_id, m->type, episode, a };
	hr_send_msg(&c->c, m);
}

static void submit(struct ctl *c, unsigned life, int step)
{
	struct dob_msg m = { .type = DOB_MSG_SUBMIT_JOB };
	struct dob_file_spec f;
	char path[HB_PATH + 48];

	snprintf(path, sizeof path, "%s/l%u-%s-%d.bin", B.files, life, c->name, step);
	f.remote_url = "http://h/missing/l";
	f.local_path = path;
	m.u.submit_job.display_name = "ledger";
	m.u.submit_job.n_files = 1;
	m.u.submit_job.files = &f;
	m.u.submit_job.priority = DOB_PRIORITY_NORMAL;
	send_req(c, &m, 0, 0);
}

static void act(struct ctl *c, uint64_t ep, enum dob_action a, uint32_t delay)
{
	struct dob_msg m = { .type = DOB_MSG_ACT };

	m.u.act.job_id = eps[ep].job;
	m.u.act.episode_id = ep;
	m.u.act.action = a;
	m.u.act.delay_ms = delay;
	send_req(c, &m, ep, a);
}

/* A pending episode seen this life, chosen at random; 0 when none. */
static uint64_t pick(unsigned *seed)
{
	uint64_t n = 0, k;

	for (uint64_t id = 1; id <= max_id; id++)
		n += eps[id].seen_this_life && !eps[id].resolutions;
	if (!n)
		return 0;
	k = rand_r(seed) % n;
	for (uint64_t id = 1; id <= max_id; id++)
		if (eps[id].seen_this_life && !eps[id].resolutions && k-- == 0)
			return id;
	return 0;
}

static void open_clients(struct hr_conn *obs, struct ctl *ctls)
{
	struct dob_msg m;

	hr_open(obs, B.sock);
	hr_hello(obs, "observer", DOB_ROLE_OBSERVER);
	cr_assert_eq(hr_until(obs, DOB_MSG_WELCOME, &m, WAIT_MS), 0);
	replay_due = m.u.welcome.pending_episodes;
	replay_got = 0;
	dob_msg_clear(&m);
	for (int i = 0; i < NCTL; i++) {
		struct ctl *c = &ctls[i];
		memset(c, 0, sizeof *c);
		snprintf(c->name, sizeof c->name, "ctl-%d", i);
		hr_open(&c->c, B.sock);
		hr_hello(&c->c, c->name, DOB_ROLE_CONTROLLER);
		cr_assert_eq(hr_until(&c->c, DOB_MSG_WELCOME, &m, WAIT_MS), 0);
		dob_msg_clear(&m);
	}
}

/* Every pending episode the observer's Welcome announced has come, or its
 * Resolution has (it ended before its turn). The broker sends a long replay
 * as the connection drains, so replies and live events may come between its
 * frames: a Ping's Pong alone does not say that the replay is over (a
 * 1000-life run found that once the pending episodes outgrew the queue's
 * soft limit). Then a Ping, so that whatever the broker had queued is read
 * too. */
static void wait_replays(struct hr_conn *obs, struct ctl *ctls)
{
	struct dob_msg p = { .type = DOB_MSG_PING }, m;

	while (replay_got < replay_due) {
		cr_assert_eq(hr_next(obs, &m, WAIT_MS), 0, "replay: %u of %u episodes came",
			     replay_got, replay_due);
		on_msg_obs(&m);
		dob_msg_clear(&m);
	}
	p.correlation_id = 424242;
	hr_send_msg(obs, &p);
	for (;;) {
		cr_assert_eq(hr_next(obs, &m, WAIT_MS), 0, "no Pong");
		if (m.type == DOB_MSG_PONG) {
			dob_msg_clear(&m);
			break;
		}
		on_msg_obs(&m);
		dob_msg_clear(&m);
	}
	drain_all(obs, ctls);
}

static void close_clients(struct hr_conn *obs, struct ctl *ctls)
{
	hr_close(obs);
	for (int i = 0; i < NCTL; i++)
		hr_close(&ctls[i].c);
}

/* After a restart: every episode announced earlier, never seen resolved and
 * not replayed now, must be known to the broker as decided: an Act on it is
 * answered ALREADY_RESOLVED (its decision was journaled, its Resolution
 * never went out) - or, for a delayed decision, answered once it ran. */
static void check_nothing_lost(struct hr_conn *obs, struct ctl *c)
{
	for (uint64_t id = 1; id <= max_id; id++) {
		struct lep *x = &eps[id];
		int64_t end;

		if (!x->announced || x->resolutions || x->seen_this_life || x->known_resolved)
			continue;
		if (!ljob(&x->job, false))
			ljob(&x->job, true);
		act(c, id, DOB_ACTION_SUSPEND, 0);
		end = hp_now_ms() + WAIT_MS;
		while (c->n_pend && hp_now_ms() < end) {
			pump_one(obs, 1, obs_fn, NULL);
			pump_one(&c->c, 10, ctl_fn, c);
		}
		cr_assert_eq(c->n_pend, 0, "no answer about episode %llu", (unsigned long long)id);
		/* Again: the frames pumped meanwhile may have announced new
		 * episodes, and growing the ledger moves it (realloc). */
		x = &eps[id];
		cr_assert(x->known_resolved || x->resolutions,
			  "episode %llu was pending before the crash and is neither replayed nor "
			  "resolved (an Act on it: %s):\n%s",
			  (unsigned long long)id, last_status, hb_log_tail(&B));
	}
}

static void one_life(unsigned life, unsigned *seed)
{
	struct hr_conn obs;
	struct ctl ctls[NCTL];
	int kill_at = 2 + (int)(rand_r(seed) % 24);
	bool killed = false;

	for (uint64_t id = 1; id <= max_id; id++)
		eps[id].seen_this_life = eps[id].replay_counted = false;
	hb_start(&B);
	open_clients(&obs, ctls);
	/* Replays come right after each Welcome; what the first sweep finds
	 * follows. Wait for the observer to be quiet for a moment is not
	 * needed: anything late is checked when it comes. */
	wait_replays(&obs, ctls);
	check_nothing_lost(&obs, &ctls[0]);
	for (int step = 0; step < 30 && !killed; step++) {
		for (int i = 0; i < NCTL; i++) {
			struct ctl *c = &ctls[i];
			unsigned r = rand_r(seed) % 10;
			uint64_t ep;

			if (r < 3 || !(ep = pick(seed))) {
				submit(c, life, step);
				continue;
			}
			/* Often the same episode for everyone: a race. */
			switch (rand_r(seed) % 6) {
			case 0: act(c, ep, DOB_ACTION_CANCEL, 0); break;
			case 1: act(c, ep, DOB_ACTION_COMPLETE, 0); break;
			case 2: act(c, ep, DOB_ACTION_SUSPEND, 0); break;
			case 3: act(c, ep, DOB_ACTION_RESUME, 0); break;
			default:
				act(c, ep, DOB_ACTION_RESUME_AFTER_DELAY, 20 + rand_r(seed) % 200);
				break;
			}
		}
		if (step == kill_at) {
			/* Right after a burst of requests: some are mid-way. */
			hb_kill9(&B);
			killed = true;
			n_lives_killed_in_act++;
		}
		/* Wait for something to come back (a frame on any connection),
		 * then take everything that is there. */
		pump_one(&obs, killed ? 1 : 20, obs_fn, NULL);
		drain_all(&obs, ctls);
	}
	if (!killed)
		hb_kill9(&B);
	/* What reached the sockets before the kill. */
	drain_all(&obs, ctls);
	close_clients(&obs, ctls);
}

Test(ledger, racing_controllers_and_kill9_never_contradict_what_a_client_was_told)
{
	const char *env = getenv("DOB_LEDGER_LIVES");
	/* 100 lives natively; the sanitizer variants of make check (an ASan
	 * build of this test, a TSan dobrokerd: DOB_IT_BINDIR) run a fifth as
	 * many, their brokers being several times slower. */
	unsigned lives = env ? (unsigned)atoi(env) : sanitized() ? 20 : 100;
	unsigned seed = (unsigned)time(NULL);
	char scen[HB_PATH * 2];
	unsigned announced = 0, resolved = 0;
	struct hr_conn obs;
	struct ctl ctls[NCTL];
	struct dob_msg m, r;
	FILE *f;

	if (getenv("DOB_LEDGER_SEED"))
		seed = (unsigned)atoi(getenv("DOB_LEDGER_SEED"));
	lep(1);
	hb_init(&B, NULL, "--sweep-interval-ms=100", "--max-jobs=100000", "--max-inflight=64",
		"--action-timeout-ms=300",
		/* A small soft limit: the replay after each restart goes out
		 * as the connections drain, between replies and live events,
		 * as it does for a broker with thousands of pending episodes. */
		"--queue-soft-limit=16",
		/* The final ListJobs names every job of every life in one frame. */
		"--max-frame=4194304", NULL);
	snprintf(scen, sizeof scen,
		 "persist %s/sim-state\n"
		 "rule \"*/missing/*\" error http=404 after=5ms\n"
		 "repeat 200ms..400ms\n"
		 "modifications off\n"
		 /* Failing, slow and hung calls each life: decisions that
		  * fail are announced, late answers still count, hung ones
		  * are declared lost and settled by a read. */
		 "fault complete * hresult=0x80070005 count=4\n"
		 "fault suspend * delay=400ms count=3\n"
		 "fault cancel * hang count=1\n",
		 B.dir);
	snprintf(B.scenario, sizeof B.scenario, "%s/scenario.txt", B.dir);
	f = fopen(B.scenario, "w");
	cr_assert(f);
	fputs(scen, f);
	fclose(f);

	/* On stderr, not only in the verbose log: a failure or a crash in
	 * make check must leave the seed that replays it. */
	fprintf(stderr, "ledger: %u lives, seed %u (DOB_LEDGER_SEED replays it)\n", lives, seed);
	/* Lives go on (up to three times as many) until controllers have
	 * raced at least once: a slow machine (a TSan broker) races less. */
	for (unsigned i = 0; i < lives || (n_already == 0 && i < 3 * lives); i++)
		one_life(i, &seed);

	/* A last, clean life: nothing lost; then every acknowledged job is
	 * managed or was seen final, and no managed job stays final. */
	for (uint64_t id = 1; id <= max_id; id++)
		eps[id].seen_this_life = eps[id].replay_counted = false;
	hb_start(&B);
	open_clients(&obs, ctls);
	wait_replays(&obs, ctls);
	check_nothing_lost(&obs, &ctls[0]);
	/* Two sweeps' worth of reads settle what the service finished: a
	 * Ping round trip after each lets every earlier frame arrive. */
	for (int k = 0; k < 2; k++) {
		struct dob_msg p = { .type = DOB_MSG_GET_STATS };
		int64_t end = hp_now_ms() + 250;
		while (hp_now_ms() < end)
			pump_one(&obs, 10, obs_fn, NULL);
		p.correlation_id = 1000 + (uint64_t)k;
		hr_send_msg(&obs, &p);
		cr_assert_eq(hr_until(&obs, DOB_MSG_STATS, &r, WAIT_MS), 0);
		dob_msg_clear(&r);
	}
	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_LIST_JOBS;
	m.correlation_id = 7;
	hr_send_msg(&ctls[1].c, &m);
	for (;;) {
		cr_assert_eq(hr_next(&ctls[1].c, &r, WAIT_MS), 0);
		if (r.type == DOB_MSG_LIST_JOBS_REPLY)
			break;
		dob_msg_clear(&r);
	}
	for (size_t i = 0; i < r.u.list_jobs_reply.n_jobs; i++) {
		const struct dob_job_summary *s = &r.u.list_jobs_reply.jobs[i];
		struct ljob *j = ljob(&s->job.job_id, false);
		cr_assert(!is_final(s->job.state), "job managed forever in final state %s:\n%s",
			  dob_state_name(s->job.state), hb_log_tail(&B));
		if (j)
			j->final_seen = true; /* still managed: accounted for */
	}
	/* Past DOB_MAX_LIST_JOBS (a long run) the reply says it is cut; the
	 * jobs it leaves out are asked about one by one: adopting a job the
	 * broker manages is answered ALREADY_MANAGED. (A 1000-life run found
	 * that the list used to be cut silently.) */
	bool cut = r.u.list_jobs_reply.message && *r.u.list_jobs_reply.message;
	cr_assert(!cut || strstr(r.u.list_jobs_reply.message, "truncated"), "%s",
		  r.u.list_jobs_reply.message);
	cr_assert(!cut || r.u.list_jobs_reply.n_jobs == DOB_MAX_LIST_JOBS, "cut at %zu",
		  r.u.list_jobs_reply.n_jobs);
	dob_msg_clear(&r);
	for (size_t i = 0; i < n_jobs; i++) {
		char gs[DOB_GUID_STR_LEN];

		if (!jobs[i].final_seen && cut) {
			memset(&m, 0, sizeof m);
			m.type = DOB_MSG_ADOPT_JOB;
			m.correlation_id = 100 + i;
			m.u.adopt_job.job_id = jobs[i].id;
			hr_send_msg(&ctls[1].c, &m);
			for (;;) {
				cr_assert_eq(hr_next(&ctls[1].c, &r, WAIT_MS), 0);
				if (r.type == DOB_MSG_JOB_REPLY && r.correlation_id == 100 + i)
					break;
				dob_msg_clear(&r);
			}
			jobs[i].final_seen = r.u.job_reply.status == DOB_STATUS_ALREADY_MANAGED;
			dob_msg_clear(&r);
		}
		dob_guid_format(&jobs[i].id, gs);
		cr_expect(jobs[i].final_seen,
			  "job %s was acknowledged and is neither managed nor seen final", gs);
	}
	drain_all(&obs, ctls);
	close_clients(&obs, ctls);
	{
		int st = hb_stop(&B);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "clean stop failed (%d):\n%s", st,
			  hb_log_tail(&B));
	}
	for (uint64_t id = 1; id <= max_id; id++) {
		announced += eps[id].announced;
		resolved += eps[id].resolutions > 0 || eps[id].known_resolved;
	}
	cr_assert(announced > 0, "no episode in %u lives", lives);
	for (int k = 0; k <= DOB_STATUS_MAX; k++)
		if (by_status[k])
			fprintf(stderr, "ledger: %u acts answered %s (last: %s)\n", by_status[k],
				dob_status_name(k), k ? "" : "");
	cr_assert(n_ok > 0 && n_already > 0, "no race happened (%u OK, %u ALREADY_RESOLVED)", n_ok,
		  n_already);
	fprintf(stderr,
		"ledger: %u lives, %u episodes, %u resolved, %u OK, %u ALREADY_RESOLVED, %u failed "
		"decisions announced, %u replays, %zu jobs, seed %u\n",
		lives, announced, resolved, n_ok, n_already, n_failed, n_replays, n_jobs, seed);
}
