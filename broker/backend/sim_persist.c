/*
 * broker/backend/sim_persist.c - the jobs of the simulated service across
 * runs. With `persist FILE`, every change of a job appends that job's
 * `job` line and its `file` lines (the scenario's grammar) to FILE; a later
 * `job` line of an id replaces the earlier one with its files. When the
 * file has grown to twice what it held after its last whole rewrite, it is
 * rewritten (through a temporary file and a rename) with each job once.
 * A start loads it back, then adds the scenario's own jobs that the file
 * does not have.
 *
 * Why a log: rewriting the whole file at every change made each change
 * cost the size of the file (10,000 jobs: 3.6 MB per change, a quarter of
 * an hour to submit them). Why the load runs in steps: a real service keeps
 * its jobs in its own process and the broker's start does not wait for it;
 * the sim runs inside the broker, and parsing 10,000 jobs at once held the
 * broker's first answer back by ~40% of its restart. A file of at most
 * LOAD_AT_ONCE bytes is still loaded inside the start (a damaged one stops
 * it, naming the line); a larger one is read in steps of LOAD_STEP bytes on
 * the loop's timers, and every request, timed event and job step that
 * comes due meanwhile waits (parked, in order) until the load ends. A
 * damaged large file is reported in the log and every request then fails
 * with the reason (the service could not start) until the broker restarts.
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

/* Each job once, newest first, after a header. */
static int rewrite(struct sim *s)
{
	struct text t = { 0 };
	int rc;

	puts_(&t, "# dobroker sim: the jobs of the simulated service; a change appends the job's "
		  "lines again, the last of a job counts\n");
	for (const struct sim_job *j = s->jobs; j; j = j->next)
		put_job(&t, j);
	sim_persist_close(s); /* the rename replaces the file the handle writes */
	rc = t.oom ? -DOB_ENOMEM : sim_write_whole(s->scn->persist, t.b, t.n);
	if (rc == 0) {
		s->persist_bytes = s->persist_base = t.n;
		s->persist_rewrite = false;
	}
	dob_free(t.b);
	return rc;
}

static int append(struct sim *s, const struct sim_job *j)
{
	struct text t = { 0 };
	int rc = 0;

	put_job(&t, j);
	if (t.oom)
		rc = -DOB_ENOMEM;
	else if (!s->persist_f)
		rc = plat_file_open_append(s->scn->persist, &s->persist_f);
	if (rc == 0) {
		rc = plat_file_write(s->persist_f, t.b, t.n, false);
		if (rc < 0) {
			/* Part of it may be there: cut it off now, and the next
			 * change rewrites the whole file in any case. */
			(void)plat_file_truncate(s->persist_f, s->persist_bytes);
			s->persist_rewrite = true;
		} else {
			s->persist_bytes += t.n;
		}
	}
	dob_free(t.b);
	return rc;
}

void sim_persist(struct sim *s, const struct sim_job *j)
{
	int rc;

	if (!s->scn->persist || !s->started || s->loading || s->load_failed)
		return;
	if (s->persist_rewrite || s->persist_bytes == 0 ||
	    (s->persist_bytes > 64 * 1024 && s->persist_bytes / 2 >= s->persist_base))
		rc = rewrite(s);
	else
		rc = append(s, j);
	if (rc < 0)
		log_warn("sim: cannot keep the jobs in %s: %s", s->scn->persist, dob_strerror(rc));
}

void sim_persist_close(struct sim *s)
{
	plat_file_close(s->persist_f);
	s->persist_f = NULL;
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

/* ------------------------------------------------------------ loading */

#define LOAD_AT_ONCE (256u * 1024u) /* a file this small loads inside the start */
#define LOAD_STEP (128u * 1024u)    /* bytes parsed per step (~1 ms) */
#define LOAD_STEP_JOBS 1024u        /* jobs added per step */

void sim_park(struct sim *s, struct sim_op *op)
{
	op->next = NULL;
	op->prev = NULL;
	if (s->parked_tail)
		s->parked_tail->next = op;
	else
		s->parked = op;
	s->parked_tail = op;
}

void sim_load_free(struct sim *s)
{
	while (s->parked) {
		struct sim_op *op = s->parked;

		s->parked = op->next;
		sim_op_free(op);
	}
	s->parked_tail = NULL;
	plat_file_unmap(s->load_map);
	s->load_map = NULL;
	s->load_buf = NULL;
	scenario_read_free(s->load_rd);
	s->load_rd = NULL;
	scenario_free(s->load_kept);
	s->load_kept = NULL;
	s->loading = false;
}

/* The parked ops go back on the timers, due now, in the order they came. */
static void unpark(struct sim *s)
{
	while (s->parked) {
		struct sim_op *op = s->parked;

		s->parked = op->next;
		if (!s->parked)
			s->parked_tail = NULL;
		if (sim_arm(s, op, now_ms(s)) < 0)
			log_warn("sim: out of memory: a step that waited for the load is lost");
	}
}

/* One step: up to LOAD_STEP bytes parsed, or LOAD_STEP_JOBS jobs added.
 * Returns 1 when the load is done, 0 when steps remain, or a negative
 * error (err says why). */
static int step(struct sim *s, char *err, size_t errlen)
{
	int rc;

	if (s->load_rd) {
		size_t left = s->load_len - s->load_pos;
		const char *at = s->load_buf ? (const char *)s->load_buf + s->load_pos : "";
		size_t n = left;

		if (n > LOAD_STEP) {
			/* whole lines: up to the first newline past the step */
			const char *nl = memchr(at + LOAD_STEP, '\n', left - LOAD_STEP);

			n = nl ? (size_t)(nl - at) + 1 : left;
		}
		if (n == left && left && at[left - 1] != '\n') {
			/* The last line has no newline: a crash may have cut an
			 * append short. Parsed on its own; dropped if it fails. */
			size_t whole = n - 1;

			while (whole > 0 && at[whole - 1] != '\n')
				whole--;

			rc = scenario_read_feed(s->load_rd, at, whole, err, errlen);
			if (rc < 0)
				return rc;
			rc = scenario_read_feed(s->load_rd, at + whole, n - whole, err, errlen);
			if (rc == -DOB_EINVAL)
				log_warn("sim: %s (its last line has no newline: a write cut short; dropped)",
					 err);
			else if (rc < 0)
				return rc;
		} else {
			rc = scenario_read_feed(s->load_rd, at, n, err, errlen);
			if (rc < 0)
				return rc;
		}
		s->load_pos += n;
		if (s->load_pos < s->load_len)
			return 0;
		rc = scenario_read_end(s->load_rd, &s->load_kept, err, errlen);
		s->load_rd = NULL;
		plat_file_unmap(s->load_map); /* before any rewrite renames over it */
		s->load_map = NULL;
		s->load_buf = NULL;
		if (rc < 0)
			return rc;
		s->load_next = 0;
		return 0;
	}
	for (size_t k = 0; s->load_kept && k < LOAD_STEP_JOBS &&
	     s->load_next < s->load_kept->n_jobs; k++)
		if ((rc = add_job(s, &s->load_kept->jobs[s->load_next++])) < 0)
			return rc;
	if (s->load_kept && s->load_next < s->load_kept->n_jobs)
		return 0;
	if (s->load_kept)
		s->load_superseded = s->load_kept->n_job_lines > s->load_kept->n_jobs;
	scenario_free(s->load_kept);
	s->load_kept = NULL;
	for (size_t i = 0; i < s->scn->n_jobs; i++)
		if (!sim_find_job(s, &s->scn->jobs[i].id) && (rc = add_job(s, &s->scn->jobs[i])) < 0)
			return rc;
	return 1;
}

static int arm_load(struct sim *s)
{
	struct sim_op *op = dob_calloc(1, sizeof(*op));

	if (!op)
		return -DOB_ENOMEM;
	op->kind = OP_LOAD;
	return sim_arm(s, op, now_ms(s));
}

/* The load ended (done > 0) or failed. */
static void load_end(struct sim *s, int rc, const char *err)
{
	uint64_t jobs = 0;

	for (const struct sim_job *j = s->jobs; j; j = j->next)
		jobs++;
	s->loading = false;
	if (rc < 0) {
		s->load_failed = true;
		snprintf(s->load_error, sizeof(s->load_error), "%s",
			 rc == -DOB_ENOMEM ? "out of memory while loading the persist file" : err);
		log_error("sim: %s (remove the file to start afresh); the simulated service "
			  "fails every request until the broker restarts", s->load_error);
	} else {
		log_info("sim: %" PRIu64 " jobs loaded from %s in %lld ms", jobs, s->scn->persist,
			 (long long)(now_ms(s) - s->load_t0));
		s->persist_bytes = s->persist_base = s->load_len;
		/* Superseded records: one rewrite now keeps the file within
		 * twice the jobs' own size. */
		if (s->load_superseded && s->jobs) {
			s->persist_rewrite = true;
			sim_persist(s, s->jobs);
		}
	}
	unpark(s);
	sim_load_free(s);
}

void sim_load_step(struct sim *s)
{
	char err[384] = "";
	int rc = step(s, err, sizeof(err));

	if (rc == 0)
		rc = arm_load(s);
	if (rc != 0)
		load_end(s, rc, err);
}

/* Jobs kept in the persist file by an earlier run come first; then the
 * scenario's jobs that the file does not have. */
int sim_add_jobs(struct sim *s)
{
	char err[384] = "";
	struct plat_map *map = NULL;
	const uint8_t *buf = NULL;
	size_t n = 0;
	int rc = 0;

	s->load_t0 = now_ms(s);
	if (s->scn->persist) {
		rc = plat_file_map(s->scn->persist, &buf, &n, &map);
		if (rc == -DOB_ENOTFOUND) {
			rc = 0;
		} else if (rc < 0) {
			log_error("sim: cannot read the jobs kept in %s: %s", s->scn->persist,
				  dob_strerror(rc));
			return rc;
		} else if ((rc = scenario_read_begin(s->scn->persist, SCN_LATER_JOB_REPLACES,
						     &s->load_rd)) < 0) {
			plat_file_unmap(map);
			return rc;
		} else {
			s->load_map = map;
			s->load_buf = buf;
			s->load_len = n;
			s->load_pos = 0;
		}
	}
	if (n > LOAD_AT_ONCE) {
		s->loading = true;
		rc = arm_load(s);
		if (rc < 0)
			sim_load_free(s);
		return rc;
	}
	while ((rc = step(s, err, sizeof(err))) == 0)
		;
	if (rc < 0) {
		if (rc == -DOB_EINVAL)
			log_error("sim: %s (remove the file to start afresh)", err);
		sim_load_free(s);
		return rc;
	}
	s->persist_bytes = s->persist_base = s->load_len;
	sim_load_free(s);
	return 0;
}
