/*
 * tests/unit/test_sim.c - the sim backend (broker/backend/sim.c) on the
 * core's timers (broker/core/timer.c) and a manual clock: DO's states and
 * codes, error contexts, JobError repeats, transient errors, faults (hang,
 * delay, HRESULT), fail-N-then-succeed, Complete writing files, final states.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_files.h"
#include "log.h"
#include "scenario.h"
#include "timer.h"

#define G1 "{6B29FC40-CA47-1067-B31D-00DD010662DA}"
#define G2 "{0F8FAD5B-D9CB-469F-A165-70867728950E}"
#define WALL0 1700000000000000LL

#define MAX_GOT 4096

static struct timers *T;
static struct backend *B;
static int64_t clock_ms;
static int64_t live0;
static bool in_call;
static uint64_t next_req;
static char dir[200];

static struct backend_result *res[MAX_GOT];
static uint64_t res_seq[MAX_GOT];
static size_t nres;
static struct backend_event *evs[MAX_GOT];
static int64_t ev_at[MAX_GOT];
static uint64_t ev_seq[MAX_GOT];
static size_t nev;
static uint64_t seq; /* order of every delivery */

static int64_t c_now(void *ctx) { return clock_ms; }
static int64_t c_wall(void *ctx) { return WALL0 + clock_ms * 1000; }

static void on_event(void *ctx, struct backend_event *ev)
{
	cr_assert_not(in_call, "a callback came from inside a request call");
	cr_assert_lt(nev, MAX_GOT);
	ev_at[nev] = clock_ms;
	ev_seq[nev] = ++seq;
	evs[nev++] = ev;
}

static void on_done(void *ctx, struct backend_result *r)
{
	cr_assert_not(in_call, "an answer came from inside the request call");
	cr_assert_lt(nres, MAX_GOT);
	res_seq[nres] = ++seq;
	res[nres++] = r;
}

static void setup(void)
{
	fake_files_reset();
	dob_log_set_level(DOB_LOG_ERROR);
	clock_ms = 1000;
	nres = nev = 0;
	seq = 0;
	next_req = 1;
	B = NULL;
	live0 = dob_alloc_live();
	cr_assert_eq(timers_new(&T), 0);
	cr_assert_eq(fake_files_tmpdir(dir, sizeof(dir), "dob-sim"), 0);
}

static void drop_results(void)
{
	for (size_t i = 0; i < nres; i++)
		backend_result_free(res[i]);
	for (size_t i = 0; i < nev; i++)
		backend_event_free(evs[i]);
	nres = nev = 0;
}

/* The end of every test: the backend goes, leaving no timer armed and no
 * block allocated (checked here: Criterion ignores failures in .fini). */
static void finish(void)
{
	if (B)
		B->ops->free(B);
	B = NULL;
	cr_assert_eq(timers_count(T), 0, "the backend left timers armed");
	timers_free(T);
	T = NULL;
	drop_results();
	cr_assert_eq(dob_alloc_live(), live0, "leak: %lld blocks",
		     (long long)(dob_alloc_live() - live0));
}

static void teardown(void)
{
	if (B)
		B->ops->free(B);
	timers_free(T);
	drop_results();
	fake_files_rm_tree(dir);
}

TestSuite(sim, .init = setup, .fini = teardown, .timeout = 30);

static struct backend_sink sink(void)
{
	struct backend_sink k = {
		.ctx = NULL, .event = on_event, .done = on_done,
		.clock = { .timers = T, .ctx = NULL, .now_ms = c_now, .wall_us = c_wall },
	};
	return k;
}

static void start_with(const char *text)
{
	struct scenario *scn = NULL;
	struct backend_sink k = sink();
	char err[512];

	cr_assert_eq(scenario_parse(text, strlen(text), "t.txt", &scn, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sim_backend_from_scenario(&B, scn), 0);
	cr_assert_str_eq(B->ops->name, "sim");
	cr_assert_eq(B->ops->kind, DOB_BACKEND_SIM);
	cr_assert_eq(B->ops->start(B, NULL, &k), 0);
}

/* Runs every timer due up to now + ms, in time order. */
static void advance(int64_t ms)
{
	int64_t end = clock_ms + ms;

	for (;;) {
		int64_t t = timers_next_timeout(T, clock_ms);

		if (t < 0 || clock_ms + t > end)
			break;
		clock_ms += t;
		timers_run(T, clock_ms);
	}
	clock_ms = end;
}

static uint64_t submit_files(const char *name, const char *const *urls, const char *const *paths,
			     size_t n)
{
	struct dob_file_spec files[8];
	struct dob_submit_job spec = { 0 };
	uint64_t id = next_req++;
	int rc;

	for (size_t i = 0; i < n; i++) {
		files[i].remote_url = (char *)urls[i];
		files[i].local_path = (char *)paths[i];
	}
	spec.display_name = (char *)name;
	spec.n_files = n;
	spec.files = n ? files : NULL;
	spec.type = DOB_JOB_DOWNLOAD;
	in_call = true;
	rc = B->ops->submit(B, id, &spec);
	in_call = false;
	cr_assert_eq(rc, 0, "submit: %s", dob_strerror(rc));
	return id;
}

static uint64_t submit(const char *url, const char *path)
{
	return submit_files("job", &url, &path, 1);
}

static uint64_t call(int (*fn)(struct backend *, uint64_t, const struct dob_guid *),
		     const struct dob_guid *g)
{
	uint64_t id = next_req++;
	int rc;

	in_call = true;
	rc = fn(B, id, g);
	in_call = false;
	cr_assert_eq(rc, 0);
	return id;
}

static uint64_t act(const struct dob_guid *g, enum dob_action a)
{
	uint64_t id = next_req++;
	int rc;

	in_call = true;
	rc = B->ops->act(B, id, g, a);
	in_call = false;
	cr_assert_eq(rc, 0);
	return id;
}

static struct backend_result *find_result(uint64_t req)
{
	for (size_t i = 0; i < nres; i++)
		if (res[i]->req_id == req)
			return res[i];
	return NULL;
}

/* The answer to req after the next tick. */
static struct backend_result *answer(uint64_t req)
{
	struct backend_result *r;

	cr_assert_null(find_result(req), "answered before the loop ran");
	advance(0);
	r = find_result(req);
	cr_assert_not_null(r, "request %llu not answered", (unsigned long long)req);
	return r;
}

static struct dob_guid submitted_id(const struct backend_result *r)
{
	cr_assert_not_null(r);
	cr_assert(r->has_job);
	return r->job.info.job_id;
}

static struct dob_guid guid(const char *s)
{
	struct dob_guid g;

	cr_assert_eq(dob_guid_parse(s, &g), 0);
	return g;
}

static enum dob_job_state state_of(const struct dob_guid *g)
{
	struct backend_result *r = answer(call(B->ops->query, g));

	cr_assert_eq(r->err, 0, "query: %s", r->message ? r->message : "");
	cr_assert(r->has_job);
	return r->job.info.state;
}

static size_t count_events(const struct dob_guid *g, enum backend_event_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < nev; i++)
		if (evs[i]->kind == k && (!g || !memcmp(&evs[i]->job.info.job_id, g, sizeof(*g))))
			n++;
	return n;
}

static const struct backend_event *last_event(enum backend_event_kind k)
{
	for (size_t i = nev; i-- > 0;)
		if (evs[i]->kind == k)
			return evs[i];
	return NULL;
}

static char *local(const char *name)
{
	static char p[8][512];
	static int k;
	char *b = p[k++ % 8];

	snprintf(b, 512, "%s/%s", dir, name);
	return b;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* ------------------------------------------------------------ basics */

Test(sim, default_scenario_transfers_after_a_short_delay)
{
	struct backend_result *r;
	struct dob_guid g;
	uint64_t req;

	start_with("");
	req = submit("https://example.com/a.bin", local("a.bin"));
	r = answer(req);
	cr_expect_eq(r->kind, BACKEND_REQ_SUBMIT);
	cr_expect_eq(r->err, 0);
	cr_expect_eq(r->hresult, 0);
	cr_assert(r->has_job);
	cr_expect_eq(r->job.info.state, DOB_STATE_QUEUED, "submit = create + add + resume");
	cr_expect_str_eq(r->job.info.display_name, "job");
	cr_expect_eq(r->job.info.progress.files_total, 1);
	cr_expect_eq(r->job.info.times.creation_us, WALL0 + 1000 * 1000);
	g = r->job.info.job_id;
	cr_expect_not(dob_guid_is_zero(&g));
	/* the answer comes before the callbacks of the same step; the next
	 * tick (same instant) starts the transfer */
	cr_assert_eq(nev, 2);
	cr_expect_lt(res_seq[0], ev_seq[0]);
	cr_expect_eq(evs[0]->kind, BACKEND_EV_MODIFIED);
	cr_expect_eq(evs[0]->job.info.state, DOB_STATE_QUEUED);
	cr_expect_eq(evs[1]->kind, BACKEND_EV_MODIFIED);
	cr_expect_eq(evs[1]->job.info.state, DOB_STATE_TRANSFERRING);
	cr_expect_eq(evs[1]->job.callback_us, WALL0 + 1000 * 1000);
	advance(199);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRING);
	cr_expect_eq(count_events(&g, BACKEND_EV_TRANSFERRED), 0);
	advance(1);
	cr_expect_eq(count_events(&g, BACKEND_EV_TRANSFERRED), 1);
	cr_expect_eq(last_event(BACKEND_EV_TRANSFERRED)->job.info.state, DOB_STATE_TRANSFERRED);
	cr_expect_eq(last_event(BACKEND_EV_TRANSFERRED)->job.info.progress.bytes_transferred,
		     1024 * 1024);
	cr_expect_eq(last_event(BACKEND_EV_TRANSFERRED)->job.info.times.transfer_completion_us,
		     WALL0 + 1200 * 1000);
	cr_expect_eq(count_events(&g, BACKEND_EV_ERROR), 0);
	finish();
}

Test(sim, progress_moves_linearly_and_survives_suspend)
{
	struct backend_result *r;
	struct dob_guid g;

	start_with("rule * ok after=1000 size=1000");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	advance(500);
	r = answer(call(B->ops->query, &g));
	cr_expect_eq(r->job.info.progress.bytes_transferred, 500);
	cr_expect_eq(r->job.info.progress.bytes_total, 1000);
	r = answer(act(&g, DOB_ACTION_SUSPEND));
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(r->job.info.state, DOB_STATE_SUSPENDED);
	advance(5000);
	cr_expect_eq(state_of(&g), DOB_STATE_SUSPENDED, "nothing moves while suspended");
	r = answer(act(&g, DOB_ACTION_RESUME));
	cr_expect_eq(r->job.info.state, DOB_STATE_QUEUED);
	cr_expect_eq(r->job.info.progress.bytes_transferred, 500, "resumes where it stopped");
	advance(999);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRING);
	cr_expect_eq(answer(call(B->ops->query, &g))->job.info.progress.bytes_transferred, 999);
	advance(1);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRED);
	finish();
}

Test(sim, jobs_start_suspended_and_resume_without_files_is_job_empty)
{
	struct backend_result *r;
	struct dob_guid g;

	start_with("");
	r = answer(submit_files("empty", NULL, NULL, 0));
	cr_expect_eq(r->err, 0);
	cr_expect_eq(r->hresult, DOB_DO_E_JOB_EMPTY);
	cr_expect_eq(r->job.info.state, DOB_STATE_SUSPENDED);
	cr_expect_not_null(r->message);
	g = r->job.info.job_id;
	r = answer(act(&g, DOB_ACTION_RESUME));
	cr_expect_eq(r->hresult, DOB_DO_E_JOB_EMPTY);
	cr_expect_eq(B->ops->status_of(r->hresult), DOB_STATUS_FORBIDDEN_ACTION);
	cr_expect_eq(r->job.info.state, DOB_STATE_SUSPENDED);
	advance(10000);
	cr_expect_eq(state_of(&g), DOB_STATE_SUSPENDED);
	finish();
}

Test(sim, unknown_job_is_not_found)
{
	struct dob_guid g = guid(G1);
	struct backend_result *r;

	start_with("");
	r = answer(act(&g, DOB_ACTION_CANCEL));
	cr_expect_eq(r->err, -DOB_ENOTFOUND);
	cr_expect_eq(r->hresult, DOB_DO_E_JOB_NOT_FOUND);
	cr_expect_not(r->has_job);
	cr_expect(strstr(r->message, G1), "%s", r->message);
	r = answer(call(B->ops->attach, &g));
	cr_expect_eq(r->err, -DOB_ENOTFOUND);
	cr_expect_eq(B->ops->status_of(r->hresult), DOB_STATUS_UNKNOWN_JOB);
	finish();
}

Test(sim, guids_are_unique_and_follow_the_seed)
{
	struct dob_guid a[3], b[3];

	start_with("seed 7");
	for (int i = 0; i < 3; i++)
		a[i] = submitted_id(answer(submit("https://h/x", local("x"))));
	cr_expect_neq(memcmp(&a[0], &a[1], 16), 0);
	cr_expect_eq(a[0].b[7] >> 4, 4, "version 4");
	cr_expect_eq(a[0].b[8] & 0xC0, 0x80, "RFC 4122 variant");
	B->ops->free(B);
	B = NULL;
	start_with("seed 7");
	for (int i = 0; i < 3; i++)
		b[i] = submitted_id(answer(submit("https://h/x", local("x"))));
	cr_expect_eq(memcmp(a, b, sizeof(a)), 0, "same seed and start time, same ids");
	B->ops->free(B);
	B = NULL;
	clock_ms += 1; /* a later start: a broker restarted with the same scenario */
	start_with("seed 7");
	b[0] = submitted_id(answer(submit("https://h/x", local("x"))));
	cr_expect_neq(memcmp(&a[0], &b[0], 16), 0, "ids never repeat across runs");
	finish();
}

/* ------------------------------------------------------------ errors */

Test(sim, http_403_has_remote_file_context_and_other_errors_none)
{
	struct dob_guid g403, g404, gdo;
	const struct backend_event *e;

	start_with("repeat off\n"
		   "rule */403 error http=403 after=100\n"
		   "rule */404 error http=404 after=100\n"
		   "rule */slow error hresult=0x80D02002 after=100\n");
	g403 = submitted_id(answer(submit("https://h/403", local("a"))));
	g404 = submitted_id(answer(submit("https://h/404", local("b"))));
	gdo = submitted_id(answer(submit("https://h/slow", local("c"))));
	advance(101);
	cr_assert_eq(count_events(NULL, BACKEND_EV_ERROR), 3);
	for (size_t i = 0; i < nev; i++) {
		e = evs[i];
		if (e->kind != BACKEND_EV_ERROR)
			continue;
		cr_expect_eq(e->job.info.state, DOB_STATE_ERROR);
		cr_expect(e->job.has_error);
		cr_expect(e->job.error.has_file);
		cr_expect_str_eq(e->job.error.protocol, "http");
		if (!memcmp(&e->job.info.job_id, &g403, 16)) {
			cr_expect_eq(e->job.error.context, DOB_CONTEXT_REMOTE_FILE);
			cr_expect_eq(e->job.error.hresult, DOB_HTTP_E(403));
			cr_expect_str_eq(e->job.error.description, "HTTP 403 (BG_E_HTTP_ERROR_403)");
			cr_expect_str_eq(e->job.error.file.remote_url, "https://h/403");
		} else if (!memcmp(&e->job.info.job_id, &g404, 16)) {
			cr_expect_eq(e->job.error.context, DOB_CONTEXT_NONE);
			cr_expect_eq(e->job.error.hresult, DOB_HTTP_E(404));
		} else {
			cr_expect(!memcmp(&e->job.info.job_id, &gdo, 16));
			cr_expect_eq(e->job.error.context, DOB_CONTEXT_NONE);
			cr_expect_str_eq(e->job.error.description, "DO_E_DOWNLOAD_NO_PROGRESS");
		}
	}
	finish();
}

Test(sim, scenario_can_name_context_description_and_failing_file)
{
	const char *urls[] = { "file:///tmp/one", "https://h/two" };
	const char *paths[] = { "/tmp/a", "/tmp/b" };
	const struct backend_event *e;

	start_with("repeat off\nrule * error http=404 context=remote-file description=\"gone\" "
		   "context-description=\"server\" size=100 bytes=150 after=300\n");
	answer(submit_files("two", urls, paths, 2));
	advance(301);
	e = last_event(BACKEND_EV_ERROR);
	cr_assert_not_null(e);
	cr_expect_eq(e->job.error.context, DOB_CONTEXT_REMOTE_FILE);
	cr_expect_str_eq(e->job.error.description, "gone");
	cr_expect_str_eq(e->job.error.context_description, "server");
	cr_expect_eq(e->job.info.progress.bytes_transferred, 150);
	cr_expect_eq(e->job.info.progress.files_transferred, 1);
	/* the failing file is the first unfinished one */
	cr_expect_str_eq(e->job.error.file.remote_url, "https://h/two");
	cr_expect_eq(e->job.error.file.progress.bytes_transferred, 50);
	cr_expect_str_eq(e->job.error.protocol, "http");
	finish();
}

Test(sim, job_error_repeats_while_in_error_at_seeded_intervals_within_bounds)
{
	int64_t seen[64];
	size_t n = 0;
	struct dob_guid g;

	start_with("seed 99\nrepeat 1s..3s\nrule * error http=404 after=100\n");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	advance(60000);
	for (size_t i = 0; i < nev && n < 64; i++)
		if (evs[i]->kind == BACKEND_EV_ERROR)
			seen[n++] = ev_at[i];
	cr_assert_geq(n, 20, "about one a second or two for a minute (%zu)", n);
	cr_assert_leq(n, 61);
	cr_expect_eq(seen[0], 1000 + 100, "the first one when the job enters ERROR");
	{
		bool differ = false;

		for (size_t i = 1; i < n; i++) {
			int64_t d = seen[i] - seen[i - 1];

			cr_expect(d >= 1000 && d <= 3000, "interval %lld out of bounds", (long long)d);
			if (i > 1 && d != seen[i - 1] - seen[i - 2])
				differ = true;
		}
		cr_expect(differ, "intervals are arbitrary, not fixed");
	}
	/* leaving ERROR stops them */
	answer(act(&g, DOB_ACTION_SUSPEND));
	n = count_events(&g, BACKEND_EV_ERROR);
	advance(60000);
	cr_expect_eq(count_events(&g, BACKEND_EV_ERROR), n);
	finish();
}

Test(sim, repeat_off_calls_job_error_once)
{
	start_with("repeat off\nrule * error http=500 after=10\n");
	answer(submit("https://h/a", local("a")));
	advance(100000);
	cr_expect_eq(count_events(NULL, BACKEND_EV_ERROR), 1);
	finish();
}

Test(sim, transient_errors_never_produce_job_error)
{
	struct dob_guid ok, bad;
	size_t transient_mods = 0;

	start_with("repeat off\n"
		   "rule */ok transient hresult=0x80200010 after=100 for=2s then=ok\n"
		   "rule */bad transient hresult=0x80200010 after=100 for=2s then=error\n");
	ok = submitted_id(answer(submit("https://h/ok", local("a"))));
	bad = submitted_id(answer(submit("https://h/bad", local("b"))));
	advance(101);
	cr_expect_eq(state_of(&ok), DOB_STATE_TRANSIENT_ERROR);
	for (size_t i = 0; i < nev; i++)
		if (evs[i]->kind == BACKEND_EV_MODIFIED &&
		    evs[i]->job.info.state == DOB_STATE_TRANSIENT_ERROR) {
			transient_mods++;
			cr_expect(evs[i]->job.has_error);
			cr_expect_eq(evs[i]->job.error.hresult, 0x80200010u);
		}
	cr_expect_eq(transient_mods, 2, "JobModification, not JobError");
	advance(1800);
	cr_expect_eq(count_events(NULL, BACKEND_EV_ERROR), 0, "no JobError for TRANSIENT_ERROR");
	advance(200); /* for=2s is over */
	cr_expect_eq(count_events(&ok, BACKEND_EV_ERROR), 0);
	cr_expect_eq(state_of(&ok), DOB_STATE_TRANSFERRING, "recovered");
	cr_expect_eq(count_events(&bad, BACKEND_EV_ERROR), 1, "then=error: now JobError");
	cr_expect_eq(last_event(BACKEND_EV_ERROR)->job.error.hresult, 0x80200010u);
	advance(200);
	cr_expect_eq(count_events(&ok, BACKEND_EV_TRANSFERRED), 1);
	finish();
}

Test(sim, fail_first_n_attempts_then_succeed_on_resume)
{
	struct dob_guid g;

	start_with("repeat off\nrule * error http=503 after=50 times=2\n");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	advance(51);
	cr_expect_eq(state_of(&g), DOB_STATE_ERROR, "attempt 1 fails");
	answer(act(&g, DOB_ACTION_RESUME));
	advance(51);
	cr_expect_eq(state_of(&g), DOB_STATE_ERROR, "attempt 2 fails");
	cr_expect_eq(count_events(&g, BACKEND_EV_ERROR), 2);
	answer(act(&g, DOB_ACTION_RESUME_AFTER_DELAY)); /* the broker waited; it resumes */
	advance(51);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRED, "attempt 3 succeeds");
	cr_expect_eq(count_events(&g, BACKEND_EV_TRANSFERRED), 1);
	finish();
}

Test(sim, hang_outcome_stays_transferring)
{
	struct dob_guid g;

	start_with("rule * hang\n");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	advance(24 * 3600 * 1000LL);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRING);
	cr_expect_eq(answer(call(B->ops->query, &g))->job.info.progress.bytes_transferred, 0);
	cr_expect_eq(answer(act(&g, DOB_ACTION_CANCEL))->hresult, 0);
	finish();
}

/* ------------------------------------------------------------ actions */

Test(sim, final_states_refuse_every_action_with_invalid_state)
{
	static const enum dob_action all[] = {
		DOB_ACTION_CANCEL, DOB_ACTION_COMPLETE, DOB_ACTION_RESUME, DOB_ACTION_SUSPEND,
		DOB_ACTION_RESUME_AFTER_DELAY,
	};
	struct backend_result *r;
	struct dob_guid g;

	start_with("");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	r = answer(act(&g, DOB_ACTION_CANCEL));
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(r->job.info.state, DOB_STATE_CANCELLED);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		r = answer(act(&g, all[i]));
		cr_expect_eq(r->err, 0);
		cr_expect_eq(r->hresult, DOB_DO_E_INVALID_STATE, "%s", dob_action_name(all[i]));
		cr_expect_eq(r->job.info.state, DOB_STATE_CANCELLED);
		cr_expect(strstr(r->message, "CANCELLED"), "%s", r->message);
		cr_expect_eq(B->ops->status_of(r->hresult), DOB_STATUS_FORBIDDEN_ACTION);
	}
	r = answer(call(B->ops->attach, &g));
	cr_expect_eq(r->hresult, DOB_DO_E_INVALID_STATE, "callbacks cannot be set on final jobs");
	advance(10000);
	cr_expect_eq(state_of(&g), DOB_STATE_CANCELLED, "the transfer stopped");
	cr_expect_eq(count_events(&g, BACKEND_EV_TRANSFERRED), 0);
	finish();
}

Test(sim, resume_and_suspend_follow_the_state_table)
{
	struct backend_result *r;
	struct dob_guid g;

	start_with("rule * ok after=100\n");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	/* running: resume changes nothing */
	r = answer(act(&g, DOB_ACTION_RESUME));
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(r->job.info.state, DOB_STATE_TRANSFERRING);
	advance(100);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRED);
	/* transferred: resume changes nothing, suspend suspends */
	cr_expect_eq(answer(act(&g, DOB_ACTION_RESUME))->job.info.state, DOB_STATE_TRANSFERRED);
	r = answer(act(&g, DOB_ACTION_SUSPEND));
	cr_expect_eq(r->job.info.state, DOB_STATE_SUSPENDED);
	cr_expect_eq(answer(act(&g, DOB_ACTION_SUSPEND))->hresult, 0, "suspend twice is fine");
	r = answer(act(&g, 77));
	cr_expect_eq(r->hresult, DOB_E_INVALIDARG);
	finish();
}

Test(sim, complete_writes_the_url_text_and_acknowledges)
{
	struct backend_result *r;
	struct dob_guid g;
	char *path = local("out.txt");

	start_with("rule * ok after=100\n");
	g = submitted_id(answer(submit("https://example.com/file.txt", path)));
	advance(101);
	cr_expect_null(slurp(path), "files are invisible until Complete");
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(r->job.info.state, DOB_STATE_ACKNOWLEDGED);
	cr_expect_str_eq(slurp(path), "https://example.com/file.txt\n");
	cr_expect_eq(access(local("out.txt.sim-tmp"), F_OK), -1, "no temporary left");
	finish();
}

Test(sim, complete_copies_a_file_url_source)
{
	char *src = local("source data.bin");
	char *dst = local("copy.bin");
	char url[512];
	struct dob_guid g;
	FILE *f = fopen(src, "wb");

	fputs("the bytes of the source\n", f);
	fclose(f);
	snprintf(url, sizeof(url), "file://%s", dir);
	strcat(url, "/source%20data.bin");
	start_with("rule file://* ok after=10\n");
	g = submitted_id(answer(submit(url, dst)));
	advance(11);
	cr_expect_eq(answer(act(&g, DOB_ACTION_COMPLETE))->hresult, 0);
	cr_expect_str_eq(slurp(dst), "the bytes of the source\n");
	finish();
}

Test(sim, complete_reports_unreadable_sources_and_unwritable_targets)
{
	struct backend_result *r;
	struct dob_guid g;

	start_with("rule * ok after=10\n");
	g = submitted_id(answer(submit("file:///nonexistent/dob/source", local("x"))));
	advance(11);
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, 0x80070002u, "ERROR_FILE_NOT_FOUND");
	cr_expect(strstr(r->message, "cannot read"), "%s", r->message);
	cr_expect_eq(r->job.info.state, DOB_STATE_TRANSFERRED, "the job stays as it is");

	g = submitted_id(answer(submit("https://h/a", "/nonexistent/dob/dir/x")));
	advance(11);
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, 0x80070003u, "ERROR_PATH_NOT_FOUND");
	cr_expect(strstr(r->message, "cannot write /nonexistent/dob/dir/x"), "%s", r->message);
	cr_expect_eq(B->ops->status_of(r->hresult), DOB_STATUS_BACKEND_ERROR);

	fake_files_set_space(3);
	g = submitted_id(answer(submit("https://h/b", local("full"))));
	advance(11);
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, 0x80070070u, "ERROR_DISK_FULL");
	cr_expect_null(slurp(local("full")));
	finish();
}

Test(sim, complete_in_error_keeps_only_finished_files)
{
	const char *urls[] = { "https://h/one", "https://h/two" };
	const char *paths[] = { local("one"), local("two") };
	struct backend_result *r;
	struct dob_guid g;

	start_with("repeat off\nrule * error http=404 size=100 bytes=100 after=50\n");
	g = submitted_id(answer(submit_files("two", urls, paths, 2)));
	advance(51);
	cr_expect_eq(state_of(&g), DOB_STATE_ERROR);
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, DOB_BG_S_PARTIAL_COMPLETE);
	cr_expect_eq(B->ops->status_of(r->hresult), DOB_STATUS_OK);
	cr_expect_eq(r->job.info.state, DOB_STATE_ACKNOWLEDGED);
	cr_expect_str_eq(slurp(paths[0]), "https://h/one\n");
	cr_expect_null(slurp(paths[1]), "an unfinished file never appears");
	finish();
}

Test(sim, complete_writes_nothing_or_url_when_told)
{
	struct dob_guid g;
	char *src = local("src");
	char url[300];
	FILE *f = fopen(src, "w");

	fputs("bytes", f);
	fclose(f);
	snprintf(url, sizeof(url), "file://%s", src);
	start_with("complete writes=url\nrule * ok after=1\n");
	g = submitted_id(answer(submit(url, local("u"))));
	advance(2);
	answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(strncmp(slurp(local("u")), "file://", 7), 0);
	B->ops->free(B);
	B = NULL;
	start_with("complete writes=nothing\nrule * ok after=1\n");
	g = submitted_id(answer(submit(url, local("n"))));
	advance(2);
	cr_expect_eq(answer(act(&g, DOB_ACTION_COMPLETE))->hresult, 0);
	cr_expect_null(slurp(local("n")));
	finish();
}

/* ------------------------------------------------------------ scenario jobs */

#define EXISTING \
	"repeat 1s..1s\n" \
	"job " G1 " name=\"Nightly\" owner=uid:1000 state=error http=404\n" \
	"file " G1 " https://h/nightly /tmp/nightly size=100 done=30\n" \
	"job " G2 " type=upload state=error hresult=0x80004005\n" \
	"file " G2 " https://h/up /tmp/up size=10 done=5\n"

Test(sim, preexisting_jobs_call_back_only_once_attached)
{
	struct dob_guid g = guid(G1);
	struct backend_result *r;
	const struct backend_event *e;

	start_with(EXISTING);
	advance(10000);
	cr_expect_eq(nev, 0, "no callback is registered on them yet");
	r = answer(call(B->ops->query, &g));
	cr_expect_eq(r->job.info.state, DOB_STATE_ERROR);
	cr_expect_str_eq(r->job.info.owner, "uid:1000");
	cr_expect_str_eq(r->job.info.display_name, "Nightly");
	cr_expect_eq(r->job.info.progress.bytes_transferred, 30);
	r = answer(call(B->ops->attach, &g));
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(count_events(&g, BACKEND_EV_ERROR), 1, "at once on attach");
	e = last_event(BACKEND_EV_ERROR);
	cr_expect_eq(e->job.error.hresult, DOB_HTTP_E(404));
	cr_expect_eq(e->job.error.file.progress.bytes_transferred, 30);
	advance(1000);
	cr_expect_eq(count_events(&g, BACKEND_EV_ERROR), 2, "and repeats");
	answer(call(B->ops->detach, &g));
	advance(10000);
	cr_expect_eq(count_events(&g, BACKEND_EV_ERROR), 2, "not after detach");
	finish();
}

Test(sim, complete_on_upload_refused_unless_transferred)
{
	struct dob_guid g = guid(G2);
	struct backend_result *r;

	start_with(EXISTING "job {11111111-2222-3333-4444-555555555555} type=upload "
		   "state=transferred\nfile {11111111-2222-3333-4444-555555555555} "
		   "https://h/u2 /tmp/u2 size=7\n");
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, DOB_DO_E_INVALID_STATE);
	cr_expect_str_eq(r->message, "complete is not allowed on an upload job until it is "
				     "TRANSFERRED (an upload can never be partially completed)");
	cr_expect_eq(r->job.info.state, DOB_STATE_ERROR);
	g = guid("{11111111-2222-3333-4444-555555555555}");
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(r->job.info.state, DOB_STATE_ACKNOWLEDGED);
	cr_expect_eq(r->job.info.type, DOB_JOB_UPLOAD);
	finish();
}

Test(sim, attach_to_a_transferred_job_delivers_job_transferred)
{
	struct dob_guid g = guid(G1);

	start_with("job " G1 " state=transferred\nfile " G1 " https://h/a /tmp/a size=5\n");
	answer(call(B->ops->attach, &g));
	cr_expect_eq(count_events(&g, BACKEND_EV_TRANSFERRED), 1);
	cr_expect_eq(last_event(BACKEND_EV_TRANSFERRED)->job.info.progress.bytes_transferred, 5);
	finish();
}

Test(sim, preexisting_running_job_follows_its_rule)
{
	struct dob_guid g = guid(G1);

	start_with("rule */slow ok after=5s size=10\n"
		   "job " G1 " state=transferring\nfile " G1 " https://h/slow /tmp/a size=10\n");
	answer(call(B->ops->attach, &g));
	advance(4000);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRING);
	advance(1001);
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRED);
	cr_expect_eq(count_events(&g, BACKEND_EV_TRANSFERRED), 1);
	finish();
}

/* ------------------------------------------------------------ timed events */

Test(sim, timed_events_move_jobs_by_themselves)
{
	struct dob_guid j1, j2 = guid(G1);

	start_with("repeat off\n"
		   "rule * ok after=1h\n"
		   "job " G1 " state=suspended\nfile " G1 " https://h/x /tmp/x\n"
		   "at 2s #1 error http=503 description=\"Service Unavailable\"\n"
		   "at 4s #1 queued\n"
		   "at 5s #9 error http=500\n"
		   "at 6s " G1 " transferred\n");
	j1 = submitted_id(answer(submit("https://h/a", local("a"))));
	answer(call(B->ops->attach, &j2));
	advance(999); /* the clock started at 1 s: events are due at 1 s + T */
	cr_expect_eq(state_of(&j1), DOB_STATE_TRANSFERRING);
	advance(1001); /* 2 s after the start */
	cr_expect_eq(state_of(&j1), DOB_STATE_ERROR);
	cr_expect_eq(count_events(&j1, BACKEND_EV_ERROR), 1);
	cr_assert_not_null(last_event(BACKEND_EV_ERROR));
	cr_expect_str_eq(last_event(BACKEND_EV_ERROR)->job.error.description, "Service Unavailable");
	advance(2000); /* 4 s: left ERROR through "another tool" */
	cr_expect_eq(state_of(&j1), DOB_STATE_TRANSFERRING);
	advance(2000); /* 5 s: #9 does not exist, skipped; 6 s: G1 transferred */
	cr_expect_eq(count_events(&j2, BACKEND_EV_TRANSFERRED), 1);
	cr_expect_eq(state_of(&j2), DOB_STATE_TRANSFERRED);
	finish();
}

Test(sim, modifications_off_silences_job_modification)
{
	start_with("modifications off\nrule * ok after=10\n");
	answer(submit("https://h/a", local("a")));
	advance(11);
	cr_expect_eq(count_events(NULL, BACKEND_EV_MODIFIED), 0);
	cr_expect_eq(count_events(NULL, BACKEND_EV_TRANSFERRED), 1);
	finish();
}

/* ------------------------------------------------------------ faults */

Test(sim, hang_fault_never_answers_and_others_go_on)
{
	struct dob_guid g;
	uint64_t hung;

	start_with("rule * ok after=1h\nfault cancel * hang\n");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	hung = act(&g, DOB_ACTION_CANCEL);
	advance(7 * 24 * 3600 * 1000LL);
	cr_expect_null(find_result(hung), "a hung call never answers");
	cr_expect_eq(state_of(&g), DOB_STATE_TRANSFERRED, "and did nothing; the loop goes on");
	finish();
}

Test(sim, delay_fault_answers_late_and_carries_out)
{
	struct backend_result *r;
	struct dob_guid g;
	uint64_t req;

	start_with("rule * ok after=1h\nfault suspend * delay=1500ms\n");
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	req = act(&g, DOB_ACTION_SUSPEND);
	advance(1499);
	cr_expect_null(find_result(req));
	advance(1);
	r = find_result(req);
	cr_assert_not_null(r);
	cr_expect_eq(r->hresult, 0);
	cr_expect_eq(r->job.info.state, DOB_STATE_SUSPENDED);
	finish();
}

Test(sim, hresult_fault_answers_it_and_changes_nothing_count_times)
{
	struct backend_result *r;
	struct dob_guid g = guid(G1);

	start_with("job " G1 " state=suspended\nfile " G1 " https://h/a /tmp/a\n"
		   "fault complete " G1 " hresult=0x80070005 count=1\n"
		   "fault act * http=500 count=1\n");
	r = answer(act(&g, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, DOB_E_ACCESSDENIED);
	cr_expect(strstr(r->message, "injected fault (t.txt:3)"), "%s", r->message);
	cr_expect_eq(r->job.info.state, DOB_STATE_SUSPENDED, "nothing happened");
	r = answer(act(&g, DOB_ACTION_CANCEL));
	cr_expect_eq(r->hresult, DOB_HTTP_E(500), "the second fault, once");
	r = answer(act(&g, DOB_ACTION_CANCEL));
	cr_expect_eq(r->hresult, 0, "faults used up");
	cr_expect_eq(r->job.info.state, DOB_STATE_CANCELLED);
	finish();
}

Test(sim, faults_on_submit_attach_and_query)
{
	struct backend_result *r;
	struct dob_guid g = guid(G1);

	start_with("job " G1 "\nfault submit #1 hresult=0x80200049\nfault attach " G1 " hang\n"
		   "fault query * delay=10s count=1\n");
	r = answer(submit("https://h/a", local("a")));
	cr_expect_eq(r->hresult, 0x80200049u);
	cr_expect_not(r->has_job, "nothing was created");
	r = answer(submit("https://h/b", local("b")));
	cr_expect_eq(r->hresult, 0, "#2 is not #1");
	{
		uint64_t req = call(B->ops->attach, &g);

		advance(60000);
		cr_expect_null(find_result(req));
	}
	{
		uint64_t req = call(B->ops->query, &g);

		advance(9999);
		cr_expect_null(find_result(req));
		advance(1);
		cr_expect_not_null(find_result(req));
	}
	finish();
}

/* ------------------------------------------------------------ persist */

static void restart(const char *text)
{
	B->ops->free(B); /* the broker dies: the simulated service keeps its jobs */
	B = NULL;
	drop_results();
	clock_ms += 10000;
	start_with(text);
}

Test(sim, persist_keeps_jobs_states_errors_and_attempts_across_a_restart)
{
	char text[1024];
	const char *name = "quote \" back \\ new\nline";
	struct dob_guid bad, ok, gone, slow;
	struct backend_result *r;
	const char *url = "https://h/bad";
	const char *path = local("bad");

	snprintf(text, sizeof(text), "persist \"%s\"\nrepeat off\n"
		 "rule */bad error http=404 after=50 times=2 description=\"not here\"\n"
		 "rule */slow ok after=1h\nrule * ok after=50\n", local("jobs.txt"));
	start_with(text);
	bad = submitted_id(answer(submit_files(name, &url, &path, 1)));
	ok = submitted_id(answer(submit("https://h/ok", local("ok"))));
	gone = submitted_id(answer(submit("https://h/gone", local("gone"))));
	slow = submitted_id(answer(submit("https://h/slow", local("slow"))));
	advance(51);
	answer(act(&gone, DOB_ACTION_CANCEL));
	cr_assert_eq(state_of(&bad), DOB_STATE_ERROR);
	cr_assert_eq(state_of(&ok), DOB_STATE_TRANSFERRED);
	cr_assert_not_null(slurp(local("jobs.txt")));
	cr_expect(strstr(slurp(local("jobs.txt")), "state=error"), "%s", slurp(local("jobs.txt")));
	restart(text);
	r = answer(call(B->ops->query, &bad));
	cr_expect_eq(r->job.info.state, DOB_STATE_ERROR);
	cr_expect_str_eq(r->job.info.display_name, name);
	cr_expect_eq(r->job.error.hresult, DOB_HTTP_E(404));
	cr_expect_str_eq(r->job.error.description, "not here");
	cr_expect_str_eq(r->job.error.file.remote_url, "https://h/bad");
	cr_expect_eq(state_of(&ok), DOB_STATE_TRANSFERRED);
	cr_expect_eq(state_of(&gone), DOB_STATE_CANCELLED);
	cr_expect_eq(state_of(&slow), DOB_STATE_TRANSFERRING, "a running job runs again");
	/* the broker re-attaches: JobError again (at least once) */
	answer(call(B->ops->attach, &bad));
	cr_expect_eq(count_events(&bad, BACKEND_EV_ERROR), 1);
	/* attempt 1 was before the restart: attempt 2 fails, attempt 3 succeeds */
	answer(act(&bad, DOB_ACTION_RESUME));
	advance(51);
	cr_expect_eq(state_of(&bad), DOB_STATE_ERROR);
	answer(act(&bad, DOB_ACTION_RESUME));
	advance(51);
	cr_expect_eq(state_of(&bad), DOB_STATE_TRANSFERRED);
	r = answer(act(&ok, DOB_ACTION_COMPLETE));
	cr_expect_eq(r->hresult, 0);
	cr_expect_str_eq(slurp(local("ok")), "https://h/ok\n");
	restart(text);
	cr_expect_eq(state_of(&ok), DOB_STATE_ACKNOWLEDGED);
	cr_expect_eq(state_of(&bad), DOB_STATE_TRANSFERRED);
	finish();
}

Test(sim, persisted_jobs_replace_scenario_jobs_of_the_same_id)
{
	char text[512];
	struct dob_guid g = guid(G1);

	snprintf(text, sizeof(text), "persist %s\nrepeat off\njob " G1 " state=error http=500\n"
		 "file " G1 " https://h/a /tmp/a\n", local("kept.txt"));
	start_with(text);
	cr_expect_eq(state_of(&g), DOB_STATE_ERROR);
	answer(act(&g, DOB_ACTION_CANCEL));
	restart(text);
	cr_expect_eq(state_of(&g), DOB_STATE_CANCELLED, "not back to the scenario's ERROR");
	finish();
}

Test(sim, a_damaged_persist_file_stops_the_start_with_its_line)
{
	char text[512];
	struct scenario *scn = NULL;
	struct backend_sink k = sink();
	FILE *f = fopen(local("bad.txt"), "w");

	fputs("job " G1 " state=flying\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "persist %s\n", local("bad.txt"));
	cr_assert_eq(scenario_parse(text, strlen(text), "t.txt", &scn, NULL, 0), 0);
	cr_assert_eq(sim_backend_from_scenario(&B, scn), 0);
	cr_expect_eq(B->ops->start(B, NULL, &k), -DOB_EINVAL);
	cr_expect_eq(timers_count(T), 0);
	finish();
}

/* ------------------------------------------------------------ lifecycle */

Test(sim, start_needs_a_clock_and_requests_need_a_started_backend)
{
	struct backend_sink k = sink();
	struct dob_guid g = guid(G1);
	char err[256];

	cr_assert_eq(sim_backend_new(&B, NULL, err, sizeof(err)), 0);
	cr_expect_eq(B->ops->act(B, 1, &g, DOB_ACTION_CANCEL), -DOB_ESTATE, "not started");
	k.clock.timers = NULL;
	cr_expect_eq(B->ops->start(B, NULL, &k), -DOB_EINVAL);
	k = sink();
	cr_expect_eq(B->ops->start(B, NULL, &k), 0);
	cr_expect_eq(B->ops->start(B, NULL, &k), -DOB_ESTATE, "started twice");
	cr_expect_eq(B->ops->act(B, 1, NULL, DOB_ACTION_CANCEL), -DOB_EINVAL);
	B->ops->stop(B);
	cr_expect_eq(B->ops->act(B, 1, &g, DOB_ACTION_CANCEL), -DOB_ESTATE, "stopped");
	finish();
}

Test(sim, stop_cancels_every_timer_and_delivers_nothing_more)
{
	start_with("repeat 1s..2s\nrule * error http=404 after=10\nat 1h #1 cancelled\n");
	answer(submit("https://h/a", local("a")));
	advance(5000);
	cr_expect_gt(timers_count(T), 0);
	B->ops->stop(B);
	cr_expect_eq(timers_count(T), 0);
	{
		size_t n = nev;

		advance(100000);
		cr_expect_eq(nev, n);
	}
	finish();
}

Test(sim, scenario_file_errors_name_the_file_and_line)
{
	char path[300];
	char err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/scenario.txt", dir);
	f = fopen(path, "w");
	fputs("seed 1\nrule * explode\n", f);
	fclose(f);
	cr_expect_eq(sim_backend_new(&B, path, err, sizeof(err)), -DOB_EINVAL);
	cr_expect_null(B);
	cr_expect(strstr(err, "scenario.txt:2: unknown outcome 'explode' (expected ok, error, "
			      "transient, hang)"), "%s", err);
	f = fopen(path, "w");
	fputs("seed 1\nrule * ok\n", f);
	fclose(f);
	cr_expect_eq(sim_backend_new(&B, path, err, sizeof(err)), 0);
	finish();
}

Test(sim, hresult_names_come_from_the_shared_table)
{
	start_with("");
	cr_expect_str_eq(B->ops->hresult_name(DOB_DO_E_INVALID_STATE), "DO_E_INVALID_STATE");
	cr_expect_eq(B->ops->status_of(DOB_DO_E_INVALID_STATE), DOB_STATUS_FORBIDDEN_ACTION);
	finish();
}

Test(sim, many_jobs_and_a_callback_that_acts_back)
{
	/* 200 jobs, each failing once; everything settles and nothing leaks */
	struct dob_guid ids[200];

	start_with("repeat 500ms..900ms\nrule * error http=404 after=20 times=1\n");
	for (int i = 0; i < 200; i++)
		ids[i] = submitted_id(answer(submit("https://h/x", local("x"))));
	advance(21);
	cr_expect_eq(count_events(NULL, BACKEND_EV_ERROR), 200);
	for (int i = 0; i < 200; i++)
		act(&ids[i], DOB_ACTION_RESUME);
	advance(100);
	cr_expect_eq(count_events(NULL, BACKEND_EV_TRANSFERRED), 200);
	for (int i = 0; i < 200; i++)
		act(&ids[i], i % 2 ? DOB_ACTION_COMPLETE : DOB_ACTION_CANCEL);
	advance(1);
	cr_expect_eq(nres, 200 + 200 + 200);
	finish();
}

/* ------------------------------------------------------------ the model's finer steps (doemu) */

Test(sim, create_makes_a_suspended_empty_job_without_callback)
{
	struct backend_result *r;
	struct dob_guid g;
	struct sim_file_info *f = NULL;
	size_t n = 9;
	uint64_t id;

	start_with("rule \"*/bad/*\" error http=404 after=100ms\ndefault ok after=100ms size=2K\n");
	id = next_req++;
	cr_assert_eq(sim_create(B, id, "made", DOB_JOB_DOWNLOAD, ""), 0);
	r = answer(id);
	cr_assert_eq(r->kind, BACKEND_REQ_CREATE);
	cr_assert_eq(r->hresult, DOB_S_OK);
	g = submitted_id(r);
	cr_assert_eq(r->job.info.state, DOB_STATE_SUSPENDED);
	cr_assert_eq(r->job.info.progress.files_total, 0);
	cr_assert_eq(sim_read_files(B, &g, &f, &n), 0);
	cr_assert_eq(n, 0);
	/* Resume of the empty job: DO_E_JOB_EMPTY, still suspended. */
	r = answer(act(&g, DOB_ACTION_RESUME));
	cr_assert_eq(r->hresult, DOB_DO_E_JOB_EMPTY);
	cr_assert_eq(state_of(&g), DOB_STATE_SUSPENDED);
	/* A file whose URL matches a rule: the rule's outcome, given size kept. */
	id = next_req++;
	cr_assert_eq(sim_add_file(B, id, &g, "https://x/bad/a", "/tmp/a", 5000), 0);
	r = answer(id);
	cr_assert_eq(r->kind, BACKEND_REQ_ADD_FILE);
	cr_assert_eq(r->hresult, DOB_S_OK);
	cr_assert_eq(r->job.info.progress.files_total, 1);
	cr_assert_eq(r->job.info.progress.bytes_total, 5000);
	cr_assert_eq(sim_read_files(B, &g, &f, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(f[0].url, "https://x/bad/a");
	cr_assert_str_eq(f[0].local, "/tmp/a");
	cr_assert_eq(f[0].size, 5000);
	sim_file_info_free(f, n);
	r = answer(act(&g, DOB_ACTION_RESUME));
	cr_assert_eq(r->hresult, DOB_S_OK);
	advance(200);
	cr_assert_eq(state_of(&g), DOB_STATE_ERROR);
	/* No callback was registered: no event. */
	cr_assert_eq(count_events(&g, BACKEND_EV_ERROR), 0);
}

Test(sim, add_file_is_refused_on_final_and_unknown_jobs)
{
	struct backend_result *r;
	struct dob_guid g, nobody = guid(G2);
	uint64_t id;

	start_with("");
	id = next_req++;
	cr_assert_eq(sim_create(B, id, "made", DOB_JOB_DOWNLOAD, ""), 0);
	g = submitted_id(answer(id));
	answer(act(&g, DOB_ACTION_CANCEL));
	id = next_req++;
	cr_assert_eq(sim_add_file(B, id, &g, "https://x/a", "/tmp/a", 0), 0);
	cr_assert_eq(answer(id)->hresult, DOB_DO_E_INVALID_STATE);
	id = next_req++;
	cr_assert_eq(sim_add_file(B, id, &nobody, "https://x/a", "/tmp/a", 0), 0);
	r = answer(id);
	cr_assert_eq(r->err, -DOB_ENOTFOUND);
	cr_assert_eq(r->hresult, DOB_DO_E_JOB_NOT_FOUND);
	cr_assert_eq(sim_add_file(B, next_req++, &g, NULL, "/tmp/a", 0), -DOB_EINVAL);
}

Test(sim, exit_fault_answers_disconnected_and_forgets_every_callback)
{
	struct backend_result *r;
	struct dob_guid g;

	start_with("rule * error http=404 after=100ms\nrepeat 1s..1s\nfault cancel * exit count=1\n");
	g = submitted_id(answer(submit("https://x/a", "/tmp/a")));
	advance(200);
	cr_assert_eq(count_events(&g, BACKEND_EV_ERROR), 1);
	r = answer(act(&g, DOB_ACTION_CANCEL));
	cr_assert_eq(r->err, -DOB_EBACKEND);
	cr_assert_eq(r->hresult, DOB_RPC_E_DISCONNECTED);
	cr_assert_eq(state_of(&g), DOB_STATE_ERROR, "nothing was done");
	/* The restarted service forgot the callback: no repeat reaches it. */
	advance(5000);
	cr_assert_eq(count_events(&g, BACKEND_EV_ERROR), 1);
	/* Registering again brings it back (at least once: at once). */
	answer(call(B->ops->attach, &g));
	cr_assert_eq(count_events(&g, BACKEND_EV_ERROR), 2);
	/* count=1: the next Cancel goes through. */
	cr_assert_eq(answer(act(&g, DOB_ACTION_CANCEL))->hresult, DOB_S_OK);
}

/* A persist file of n jobs ({XXXXXXXX-0000-4000-8000-000000000001} for
 * i = 0..n-1), each QUEUED with one file, then `tail` (not NUL-terminated
 * lines may follow). Returns the bytes written. */
static long write_kept(const char *path, int n, const char *tail)
{
	FILE *f = fopen(path, "wb");
	long len;

	cr_assert_not_null(f);
	for (int i = 0; i < n; i++)
		fprintf(f, "job {%08X-0000-4000-8000-000000000001} name=\"kept %d\" owner=\"\" "
			   "type=download state=suspended attempts=0\n"
			   "file {%08X-0000-4000-8000-000000000001} \"https://h/kept/%d\" "
			   "\"/tmp/kept/%d\" size=1000 done=0\n", (unsigned)i, i, (unsigned)i, i, i);
	fputs(tail, f);
	len = ftell(f);
	fclose(f);
	return len;
}

static struct dob_guid kept_id(int i)
{
	char b[64];

	snprintf(b, sizeof(b), "{%08X-0000-4000-8000-000000000001}", (unsigned)i);
	return guid(b);
}

static off_t size_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_size;
}

Test(sim, a_change_appends_the_jobs_record_and_the_last_record_counts)
{
	char text[512];
	struct dob_guid g;
	off_t s1, s2;
	char head[4096];

	snprintf(text, sizeof(text), "persist %s\nrepeat off\nrule * ok after=1h\n", local("log.txt"));
	start_with(text);
	g = submitted_id(answer(submit("https://h/a", local("a"))));
	s1 = size_of(local("log.txt"));
	memcpy(head, slurp(local("log.txt")), (size_t)s1 + 1);
	answer(act(&g, DOB_ACTION_SUSPEND));
	s2 = size_of(local("log.txt"));
	cr_expect_gt(s2, s1, "the change was appended");
	cr_expect_lt(s2, 2 * s1 + 200, "one record, not the whole file again");
	cr_expect_eq(strncmp(slurp(local("log.txt")), head, (size_t)s1), 0,
		     "what was there stays as it was");
	restart(text);
	cr_expect_eq(state_of(&g), DOB_STATE_SUSPENDED, "the last record counts");
	finish();
}

Test(sim, a_cut_last_line_of_the_persist_file_is_dropped_and_the_rest_loads)
{
	char text[512];
	struct dob_guid g0 = kept_id(0), g1 = kept_id(1), gone = guid(G2);
	struct backend_result *r;

	write_kept(local("cut.txt"), 2, "job " G2 " name=\"cut\" state=que");
	snprintf(text, sizeof(text), "persist %s\nrepeat off\n", local("cut.txt"));
	start_with(text);
	cr_expect_eq(state_of(&g0), DOB_STATE_SUSPENDED);
	cr_expect_eq(state_of(&g1), DOB_STATE_SUSPENDED);
	r = answer(call(B->ops->query, &gone));
	cr_expect_eq(r->err, -DOB_ENOTFOUND, "the cut record is not a job");
	finish();
}

Test(sim, a_large_persist_file_loads_in_steps_and_requests_wait_for_it_in_order)
{
	/* Past the size loaded inside the start: the start returns at once,
	 * the load goes on in steps on the timers, and requests (and the
	 * broker's answers to them) wait for it, in the order they came. */
	enum { N = 1500 };
	char text[512];
	struct dob_guid last = kept_id(N - 1), first = kept_id(0);
	uint64_t q, a;
	struct backend_result *rq, *ra;
	long len = write_kept(local("big.txt"), N, "");

	cr_assert_gt(len, 256 * 1024, "the file must be past the size loaded at once");
	snprintf(text, sizeof(text), "persist %s\nrepeat off\nmodifications off\n"
		 "rule * ok after=1h\n", local("big.txt"));
	start_with(text);
	cr_expect_gt(timers_count(T), 0, "the load goes on on the timers");
	q = call(B->ops->query, &last);
	a = act(&first, DOB_ACTION_RESUME);
	timers_run(T, clock_ms); /* one pass: one step of the load */
	cr_expect_null(find_result(q), "answered before the service had loaded its jobs");
	advance(0);
	rq = find_result(q);
	ra = find_result(a);
	cr_assert_not_null(rq);
	cr_assert_not_null(ra);
	cr_expect_eq(rq->err, 0, "%s", rq->message ? rq->message : "");
	cr_expect_eq(rq->job.info.state, DOB_STATE_SUSPENDED);
	cr_expect_str_eq(rq->job.info.display_name, "kept 1499");
	cr_expect_eq(ra->hresult, 0);
	{
		size_t iq = 0, ia = 0;

		for (size_t i = 0; i < nres; i++) {
			if (res[i] == rq)
				iq = i;
			if (res[i] == ra)
				ia = i;
		}
		cr_expect_lt(res_seq[iq], res_seq[ia], "answered in the order they came");
	}
	cr_expect_eq(state_of(&first), DOB_STATE_TRANSFERRING, "the resume ran after the load");
	finish();
}

Test(sim, a_damaged_large_persist_file_fails_every_request_with_its_line)
{
	enum { N = 1500 };
	char text[512], want[64];
	struct dob_guid g = kept_id(3);
	struct backend_result *r;
	long len = write_kept(local("bad-big.txt"), N, "job " G2 " state=flying\n");

	cr_assert_gt(len, 256 * 1024);
	snprintf(text, sizeof(text), "persist %s\nrepeat off\n", local("bad-big.txt"));
	start_with(text); /* the start returned before the damage was read */
	r = answer(call(B->ops->query, &g));
	cr_expect_eq(r->err, -DOB_EBACKEND);
	cr_assert_not_null(r->message);
	snprintf(want, sizeof(want), "bad-big.txt:%d: unknown state 'flying'", 2 * N + 1);
	cr_expect(strstr(r->message, want), "%s", r->message);
	cr_expect(strstr(r->message, "could not load its jobs"), "%s", r->message);
	cr_expect_eq(size_of(local("bad-big.txt")), len, "the damaged file is kept as it was");
	finish();
}

/* ------------------------------------------------------------ many jobs (the indexes) */

Test(sim, hundreds_of_jobs_are_found_by_id_and_by_index_and_survive_a_restart)
{
	/* Past several growths of the id and index tables: every job is found
	 * (requests by id, timed events by submit index), and the persist
	 * file brings every one back. */
	enum { N = 2000 }; /* past the size loaded inside the start: the restart loads in steps */
	static struct dob_guid ids[N];
	char text[1024];

	snprintf(text, sizeof(text), "persist %s\nrepeat off\nmodifications off\n"
		 "rule * ok after=1h\nat 10ms #%d error http=500\nat 10ms #1 error http=404\n",
		 local("many.txt"), N);
	start_with(text);
	for (int i = 0; i < N; i++)
		ids[i] = submitted_id(answer(submit("https://h/x", local("x"))));
	advance(11);
	cr_expect_eq(state_of(&ids[N - 1]), DOB_STATE_ERROR, "#%d by its index", N);
	cr_expect_eq(state_of(&ids[0]), DOB_STATE_ERROR, "#1 by its index");
	cr_expect_eq(state_of(&ids[N / 2]), DOB_STATE_TRANSFERRING);
	answer(act(&ids[N / 2], DOB_ACTION_CANCEL));
	restart(text);
	for (int i = 0; i < N; i++) {
		enum dob_job_state want = i == 0 || i == N - 1 ? DOB_STATE_ERROR
					  : i == N / 2	       ? DOB_STATE_CANCELLED
								 : DOB_STATE_TRANSFERRING;
		cr_assert_eq(state_of(&ids[i]), want, "job %d after the restart", i);
	}
	finish();
}
