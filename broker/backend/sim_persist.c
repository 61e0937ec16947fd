/*
 * broker/backend/sim_persist.c - the jobs of the simulated service across
 * runs: with `persist FILE` every change rewrites FILE in the scenario's
 * grammar, and a start loads it back; then the scenario's own jobs that the
 * file does not have.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "platform.h"
#include "sim_int.h"

/* ------------------------------------------------------------ persistence */

/* The real service keeps its jobs when the broker dies; with `persist FILE`
 * the sim does too: every state change rewrites FILE as `job`/`file` lines
 * of the scenario grammar (through a temporary file and a rename), and a
 * start loads it back. */

struct text {
	char *b;      /* owned */
	size_t n, cap;
	bool oom;
};

static void put(struct text *t, const char *p, size_t n)
{
	if (t->oom)
		return;
	if (t->n + n > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		char *b;

		while (cap < t->n + n)
			cap *= 2;
		b = dob_realloc(t->b, cap);
		if (!b) {
			t->oom = true;
			return;
		}
		t->b = b;
		t->cap = cap;
	}
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void puts_(struct text *t, const char *str)
{
	put(t, str, strlen(str));
}

static void put_quoted(struct text *t, const char *str)
{
	const char *c = str ? str : "";

	put(t, "\"", 1);
	while (*c) {
		size_t run = strcspn(c, "\"\\\n\r\t"); /* plain bytes go in one copy */
		const char *esc;

		put(t, c, run);
		c += run;
		if (!*c)
			break;
		esc = *c == '"' ? "\\\"" : *c == '\\' ? "\\\\" : *c == '\n' ? "\\n" :
		      *c == '\r' ? "\\r" : "\\t";
		put(t, esc, 2);
		c++;
	}
	put(t, "\"", 1);
}

static void put_job(struct text *t, const struct sim_job *j)
{
	char gb[DOB_GUID_STR_LEN];
	char num[160];

	dob_guid_format(&j->id, gb);
	puts_(t, "job ");
	puts_(t, gb);
	puts_(t, " name=");
	put_quoted(t, j->name);
	puts_(t, " owner=");
	put_quoted(t, j->owner);
	snprintf(num, sizeof(num), " type=%s state=%s attempts=%u", scenario_type_word(j->type),
		 scenario_state_word(j->state), (unsigned)j->attempts);
	puts_(t, num);
	if (j->has_error) {
		snprintf(num, sizeof(num), " hresult=0x%08X context=%s description=",
			 (unsigned)j->err.hresult, scenario_context_word(j->err.context));
		puts_(t, num);
		put_quoted(t, j->err.description);
		puts_(t, " context-description=");
		put_quoted(t, j->err.context_description);
		puts_(t, " protocol=");
		put_quoted(t, j->err.protocol);
	}
	puts_(t, "\n");
	for (size_t i = 0; i < j->n_files; i++) {
		puts_(t, "file ");
		puts_(t, gb);
		puts_(t, " ");
		put_quoted(t, j->files[i].url);
		puts_(t, " ");
		put_quoted(t, j->files[i].local);
		snprintf(num, sizeof(num), " size=%" PRIu64 " done=%" PRIu64 "\n", j->files[i].size,
			 j->files[i].done);
		puts_(t, num);
	}
}

void sim_persist(struct sim *s)
{
	struct text t = { 0 };
	int rc;

	if (!s->scn->persist || !s->started)
		return;
	puts_(&t, "# dobroker sim: the jobs of the simulated service (rewritten on every change)\n");
	for (const struct sim_job *j = s->jobs; j; j = j->next) /* newest first */
		put_job(&t, j);
	rc = t.oom ? -DOB_ENOMEM : sim_write_whole(s->scn->persist, t.b, t.n);
	if (rc < 0)
		log_warn("sim: cannot keep the jobs in %s: %s", s->scn->persist, dob_strerror(rc));
	dob_free(t.b);
}
/* ------------------------------------------------------------ at start */

/* Adds a job the service has at start (a scenario `job`, or one kept in
 * the persist file). */
static int add_job(struct sim *s, const struct scn_job *sj)
{
	const char **urls = NULL;
	struct sim_job *j = sim_job_new(sj->n_files);
	bool running = sj->state == DOB_STATE_QUEUED || sj->state == DOB_STATE_TRANSFERRING;

	if (!j)
		return -DOB_ENOMEM;
	j->id = sj->id;
	sim_link_job(s, j);
	j->type = sj->type;
	j->state = sj->state;
	j->attempts = sj->attempts ? sj->attempts : running ? 1 : 0;
	j->created_us = j->modified_us = wall_us(s);
	j->name = dob_strdup(sj->name);
	j->owner = dob_strdup(sj->owner);
	urls = sj->n_files ? dob_calloc(sj->n_files, sizeof(*urls)) : NULL;
	if (!j->name || !j->owner || (sj->n_files && !urls)) {
		dob_free(urls);
		return -DOB_ENOMEM;
	}
	for (size_t k = 0; k < sj->n_files; k++) {
		j->files[k].url = dob_strdup(sj->files[k].url);
		j->files[k].local = dob_strdup(sj->files[k].path);
		j->files[k].size = sj->files[k].size;
		j->files[k].done = sj->files[k].done;
		j->files[k].completed = sj->state == DOB_STATE_ACKNOWLEDGED &&
					sj->files[k].done == sj->files[k].size;
		urls[k] = sj->files[k].url;
		if (!j->files[k].url || !j->files[k].local) {
			dob_free(urls);
			return -DOB_ENOMEM;
		}
	}
	/* the rules of the running scenario, also for jobs from the persist file */
	j->outcome = scenario_outcome_for(s->scn, urls, sj->n_files);
	dob_free(urls);
	if (sj->state == DOB_STATE_TRANSFERRED)
		j->transferred_us = j->created_us;
	if (sj->has_error)
		sim_set_error(s, j, &sj->err);
	if (running)
		sim_arm_step(s, j, OP_START, 0, false, false);
	return 0;
}

/* Jobs kept in the persist file by an earlier run come first; then the
 * scenario's jobs that the file does not have. */
int sim_add_jobs(struct sim *s)
{
	struct scenario *kept = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	char err[384];
	int rc = 0;

	if (s->scn->persist) {
		rc = plat_file_read_all(s->scn->persist, &buf, &n);
		if (rc == -DOB_ENOTFOUND) {
			rc = 0;
		} else if (rc < 0) {
			log_error("sim: cannot read the jobs kept in %s: %s", s->scn->persist,
				  dob_strerror(rc));
			return rc;
		} else {
			rc = scenario_parse((const char *)buf, n, s->scn->persist, &kept, err,
					    sizeof(err));
			dob_free(buf);
			if (rc < 0) {
				log_error("sim: %s (remove the file to start afresh)", err);
				return rc;
			}
		}
	}
	for (size_t i = 0; kept && rc == 0 && i < kept->n_jobs; i++)
		rc = add_job(s, &kept->jobs[i]);
	scenario_free(kept);
	for (size_t i = 0; rc == 0 && i < s->scn->n_jobs; i++)
		if (!sim_find_job(s, &s->scn->jobs[i].id))
			rc = add_job(s, &s->scn->jobs[i]);
	return rc;
}

