/*
 * tests/fuzz/fuzz_scenario.c - the sim scenario parser
 * (broker/backend/scenario.c) over arbitrary text, and the sim backend
 * (broker/backend/sim.c) running whatever parses: submit jobs, let the
 * script play for a bounded number of timer steps, act on every job, stop.
 * Files that Complete writes land in tests/fuzz/support/mem_files.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "support/check.h"
#include "support/mem_files.h"
#include "scenario.h"
#include "timer.h"

#define MAX_STEPS 400

static int64_t clock_ms;
static struct dob_guid ids[16];
static size_t n_ids;

static int64_t now(void *ctx) { return clock_ms; }

static void on_event(void *ctx, struct backend_event *ev)
{
	CHECK(ev->kind >= BACKEND_EV_ERROR && ev->kind <= BACKEND_EV_MODIFIED);
	CHECK(ev->job.info.state <= DOB_STATE_MAX);
	/* DO's rule, unless a scenario names a context */
	if (ev->kind == BACKEND_EV_ERROR)
		CHECK(ev->job.has_error && ev->job.info.state == DOB_STATE_ERROR);
	backend_event_free(ev);
}

static void on_done(void *ctx, struct backend_result *r)
{
	if (r->has_job && n_ids < 16)
		ids[n_ids++] = r->job.info.job_id;
	backend_result_free(r);
}

/* Runs due timers, jumping the clock, for at most MAX_STEPS runs. */
static void play(struct timers *t)
{
	for (int i = 0; i < MAX_STEPS; i++) {
		int64_t d = timers_next_timeout(t, clock_ms);

		if (d < 0)
			return;
		clock_ms += d;
		timers_run(t, clock_ms);
	}
}

/* Runs a sim on scn (taken); returns what start() said. */
static int run_sim(struct scenario *scn)
{
	static const char *const urls[] = {
		"https://example.com/a.zip", "file:///fuzz/src", "http://h/403", "x",
	};
	static const char *const paths[] = { "/fuzz/a", "/fuzz/b", "/fuzz/c", "/fuzz/d" };
	struct backend_sink sink = { .event = on_event, .done = on_done };
	struct backend *b = NULL;
	struct timers *t = NULL;
	uint64_t req = 1;
	int rc = -DOB_ENOMEM;

	if (timers_new(&t) < 0) {
		scenario_free(scn);
		return rc;
	}
	if (sim_backend_from_scenario(&b, scn) < 0)
		goto out;
	sink.clock.timers = t;
	sink.clock.now_ms = now;
	clock_ms = 0;
	n_ids = 0;
	rc = b->ops->start(b, NULL, &sink);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < scn->n_jobs && i < 4; i++)
		b->ops->attach(b, req++, &scn->jobs[i].id);
	for (size_t k = 0; k < 4; k++) {
		struct dob_file_spec f = { (char *)urls[k], (char *)paths[k] };
		struct dob_submit_job spec = { .display_name = "fuzz", .n_files = 1, .files = &f };

		b->ops->submit(b, req++, &spec);
	}
	play(t);
	for (size_t i = 0; i < n_ids; i++)
		for (int a = DOB_ACTION_CANCEL; a <= DOB_ACTION_MAX; a++)
			b->ops->act(b, req++, &ids[i], (enum dob_action)(((int)i + a) % DOB_ACTION_MAX + 1));
	play(t);
	b->ops->stop(b);
	CHECK(timers_count(t) == 0);
out:
	if (b)
		b->ops->free(b);
	timers_free(t);
	return rc;
}

/* The same text read in pieces (cut after every third line), as the sim
 * reads its persist file: the same answer as one scenario_parse, and with
 * a later job line replacing an earlier one, never a refusal that the
 * whole parse did not give. */
static void read_in_pieces(const uint8_t *data, size_t size, int whole_rc, const char *whole_err,
			   size_t whole_jobs, unsigned flags)
{
	struct scenario_reader *r;
	struct scenario *s = NULL;
	char err[512] = "";
	size_t pos = 0;
	int rc, lines = 0;

	if (scenario_read_begin("fuzz.txt", flags, &r) < 0)
		return;
	rc = 0;
	while (rc == 0 && pos < size) {
		size_t end = pos;

		while (end < size && (data[end++] != '\n' || ++lines % 3))
			;
		rc = scenario_read_feed(r, (const char *)data + pos, end - pos, err, sizeof(err));
		pos = end;
	}
	if (rc == 0) {
		rc = scenario_read_end(r, &s, err, sizeof(err));
	} else {
		scenario_read_free(r);
	}
	if (rc == -DOB_ENOMEM || whole_rc == -DOB_ENOMEM) {
		scenario_free(s);
		return;
	}
	if (!flags) {
		CHECK(rc == whole_rc);
		CHECK(rc == 0 || !strcmp(err, whole_err));
		CHECK(rc < 0 || s->n_jobs == whole_jobs);
	} else if (whole_rc == 0) {
		CHECK(rc == 0 && s->n_jobs == whole_jobs && s->n_job_lines == whole_jobs);
	}
	scenario_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *s = NULL;
	char err[512];
	int rc;

	dob_log_set_level(DOB_LOG_ERROR);
	mem_files_reset();
	mem_files_put("/fuzz/src", "source", 6);
	rc = scenario_parse((const char *)data, size, "fuzz.txt", &s, err, sizeof(err));
	read_in_pieces(data, size, rc, err, s ? s->n_jobs : 0, 0);
	read_in_pieces(data, size, rc, err, s ? s->n_jobs : 0, SCN_LATER_JOB_REPLACES);
	if (rc < 0) {
		CHECK(rc == -DOB_EINVAL || rc == -DOB_ENOMEM);
		CHECK(s == NULL);
		/* every refusal says where and why */
		CHECK(!strncmp(err, "fuzz.txt", 8) && strlen(err) > 10);
	} else {
		const char *u[1] = { "https://example.com/a.zip" };

		bool persists = s->persist != NULL;

		CHECK(scenario_outcome_for(s, u, 1) != NULL);
		rc = run_sim(s); /* takes s */
		/* A broker restart: what the sim kept must load again. */
		if (persists && rc == 0 &&
		    scenario_parse((const char *)data, size, "fuzz.txt", &s, err, sizeof(err)) == 0)
			CHECK(run_sim(s) != -DOB_EINVAL);
	}
	mem_files_reset();
	return 0;
}
