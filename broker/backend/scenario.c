/*
 * broker/backend/scenario.c - parser of the sim backend's scenario files
 * (docs/sim-scenarios.md is the grammar; keep the two in step).
 *
 * One statement per line: a directive, positional words, then key=value
 * attributes. Words are separated by blanks; a word may contain "quoted"
 * parts (with \" \\ \n \t escapes), so name="a b" is one word. A comment
 * starts at a '#' that begins the line, or at a "# " where a word would
 * begin ("#3" is a word: the third submitted job).
 *
 * Every error names the file, the line and the problem, and lists what was
 * expected, e.g. "scenario.txt:12: unknown outcome 'explode' (expected ok,
 * error, transient, hang)". The parser never trusts its input: it is fuzzed
 * (tests/fuzz/fuzz_scenario.c).
 *
 * This file holds the directives (each builds its part of the scenario),
 * the checks across lines, and the public functions; a line's words and
 * their values are read in scenario_lex.c (scenario_int.h).
 */
#include "scenario.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "platform.h"
#include "scenario_int.h"

#define DEFAULT_AFTER_MS 200
#define DEFAULT_SIZE (1024u * 1024u)
/* ------------------------------------------------------------ building */

static void error_clear(struct scn_error *e)
{
	dob_free(e->description);
	dob_free(e->context_description);
	dob_free(e->protocol);
	memset(e, 0, sizeof(*e));
}

/* Duplicates s, or NULL when absent; *oom set on allocation failure. */
static char *dup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = dob_strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* Builds the error of a job/rule/event from its attributes. */
static int build_error(struct parser *p, const struct attrs *a, const char *what,
		       bool required, struct scn_error *e)
{
	bool oom = false;

	memset(e, 0, sizeof(*e));
	if ((a->seen & BIT(A_HRESULT)) && (a->seen & BIT(A_HTTP)))
		return scn_fail(p, "give hresult= or http=, not both");
	if (!(a->seen & (BIT(A_HRESULT) | BIT(A_HTTP)))) {
		if (required)
			return scn_fail(p, "%s needs hresult= or http=", what);
		if (a->seen & ERROR_ATTRS)
			return scn_fail(p, "error attributes need hresult= or http=");
		return 0;
	}
	e->hresult = (a->seen & BIT(A_HTTP)) ? DOB_HTTP_E(a->http) : a->hresult;
	if ((e->hresult & 0x80000000u) == 0)
		return scn_fail(p, "hresult 0x%08X is a success code: an error needs a failure "
				"(high bit set)", (unsigned)e->hresult);
	e->context = a->context;
	e->description = dup_opt(a->desc, &oom);
	e->context_description = dup_opt(a->ctxdesc, &oom);
	e->protocol = dup_opt(a->protocol, &oom);
	if (oom) {
		error_clear(e);
		return -DOB_ENOMEM;
	}
	return 0;
}

/* arr (n elements of size) with room for one more, zeroed; NULL when the
 * allocation fails (arr is then unchanged). */
static void *grow(void *arr, size_t n, size_t size)
{
	char *a = dob_realloc(arr, (n + 1) * size);

	if (a)
		memset(a + n * size, 0, size);
	return a;
}

/* Appends a zeroed element to arr (count n): out points to it, or is NULL
 * when memory ran out. */
#define PUSH(arr, n, out)                                       \
	do {                                                    \
		void *g_ = grow((arr), (n), sizeof(*(arr)));   \
		(out) = NULL;                                   \
		if (g_) {                                       \
			(arr) = g_;                             \
			(out) = &(arr)[(n)++];                  \
		}                                               \
	} while (0)

/* ------------------------------------------------------------ directives */

static const char *const outcome_words[] = { NULL, "ok", "error", "transient", "hang" };

/* "OUTCOME [attrs]" from word `first`: the outcome of `default` and `rule`. */
static int parse_outcome(struct parser *p, int first, const char *what, struct scn_outcome *o)
{
	static const unsigned allowed[] = {
		0,
		BIT(A_AFTER) | BIT(A_SIZE),
		BIT(A_AFTER) | BIT(A_SIZE) | BIT(A_BYTES) | BIT(A_TIMES) | ERROR_ATTRS,
		BIT(A_AFTER) | BIT(A_SIZE) | BIT(A_BYTES) | BIT(A_TIMES) | ERROR_ATTRS |
			TRANSIENT_ATTRS,
		BIT(A_SIZE),
	};
	struct attrs a;
	int kind = 0, rc;

	if (first >= p->n)
		return scn_fail(p, "%s needs an outcome (expected ok, error, transient, hang)", what);
	for (int i = SCN_OK; i <= SCN_HANG; i++)
		if (!strcmp(p->w[first].s, outcome_words[i]))
			kind = i;
	if (!kind)
		return scn_unknown_word(p, "outcome", p->w[first].s, "ok, error, transient, hang");
	scn_attrs_init(&a);
	rc = scn_parse_attrs(p, first + 1, allowed[kind], outcome_words[kind], &a);
	if (rc < 0)
		return rc;
	memset(o, 0, sizeof(*o));
	o->kind = (enum scn_kind)kind;
	o->after_ms = (a.seen & BIT(A_AFTER)) ? a.after : DEFAULT_AFTER_MS;
	o->size = (a.seen & BIT(A_SIZE)) ? a.size : DEFAULT_SIZE;
	o->has_bytes = (a.seen & BIT(A_BYTES)) != 0;
	o->bytes = a.bytes;
	o->times = a.times;
	o->for_ms = (a.seen & BIT(A_FOR)) ? a.for_ms : 1000;
	o->then_error = a.then_error;
	if (kind == SCN_ERROR || kind == SCN_TRANSIENT)
		return build_error(p, &a, kind == SCN_ERROR ? "an error outcome" :
				   "a transient outcome", true, &o->err);
	return 0;
}

static int need_words(struct parser *p, int n, const char *usage)
{
	if (p->n < n)
		return scn_fail(p, "too few words: %s", usage);
	return 0;
}

static int parse_guid_word(struct parser *p, const char *v, struct dob_guid *g)
{
	char b[48];

	if (dob_guid_parse(v, g) < 0)
		return scn_fail(p, "bad job id '%s' (expected a GUID like "
				"{6B29FC40-CA47-1067-B31D-00DD010662DA})", scn_shown(v, b));
	return 0;
}

/* GUID, "#N" (submitted job N) or, when any_ok, "*". */
static int parse_target(struct parser *p, const char *v, bool any_ok, struct scn_target *t)
{
	uint64_t u;
	char b[48];

	memset(t, 0, sizeof(*t));
	if (any_ok && !strcmp(v, "*")) {
		t->who = SCN_WHO_ANY;
		return 0;
	}
	if (v[0] == '#') {
		if (!scn_parse_u64(v + 1, &u) || u < 1 || u > UINT32_MAX)
			return scn_fail(p, "bad job number '%s' (expected #1, #2, ...: the N-th job "
					"submitted)", scn_shown(v, b));
		t->who = SCN_WHO_INDEX;
		t->index = (uint32_t)u;
		return 0;
	}
	t->who = SCN_WHO_ID;
	if (dob_guid_parse(v, &t->id) < 0)
		return scn_fail(p, "bad job '%s' (expected a GUID, #N for the N-th job submitted%s)",
				scn_shown(v, b), any_ok ? ", or * for every job" : "");
	return 0;
}

static size_t job_slot(const struct dob_guid *id, size_t cap)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a: scenario ids need not be random */

	for (size_t i = 0; i < sizeof(id->b); i++)
		h = (h ^ id->b[i]) * 1099511628211ULL;
	return (size_t)h & (cap - 1);
}

static struct scn_job *find_job(const struct parser *p, const struct dob_guid *id)
{
	const struct scenario *s = p->s;

	if (!p->job_ix) {
		for (size_t i = 0; i < s->n_jobs; i++)
			if (!memcmp(&s->jobs[i].id, id, sizeof(*id)))
				return &s->jobs[i];
		return NULL;
	}
	for (size_t i = job_slot(id, p->job_ix_cap); p->job_ix[i]; i = (i + 1) & (p->job_ix_cap - 1))
		if (!memcmp(&s->jobs[p->job_ix[i] - 1].id, id, sizeof(*id)))
			return &s->jobs[p->job_ix[i] - 1];
	return NULL;
}

static void ix_put(size_t *ix, size_t cap, const struct scn_job *jobs, size_t k)
{
	size_t i = job_slot(&jobs[k].id, cap);

	while (ix[i])
		i = (i + 1) & (cap - 1);
	ix[i] = k + 1;
}

/* Indexes the last job of p->s. Out of memory: the index is dropped and
 * find_job walks the array (slower, still right). */
static void index_last_job(struct parser *p)
{
	const struct scenario *s = p->s;

	if (s->n_jobs * 2 > p->job_ix_cap) {
		size_t cap = p->job_ix_cap ? p->job_ix_cap * 2 : 64;
		size_t *ix = dob_calloc(cap, sizeof(*ix));

		dob_free(p->job_ix);
		p->job_ix = NULL;
		p->job_ix_cap = 0;
		if (!ix)
			return;
		for (size_t k = 0; k + 1 < s->n_jobs; k++)
			ix_put(ix, cap, s->jobs, k);
		p->job_ix = ix;
		p->job_ix_cap = cap;
	} else if (!p->job_ix) {
		return;
	}
	ix_put(p->job_ix, p->job_ix_cap, s->jobs, s->n_jobs - 1);
}

static int d_seed(struct parser *p)
{
	uint64_t v;
	char b[48];

	if (p->n != 2)
		return scn_fail(p, "usage: seed N");
	if (!scn_parse_u64(p->w[1].s, &v))
		return scn_fail(p, "bad seed '%s' (expected a number)", scn_shown(p->w[1].s, b));
	p->s->seed = v;
	return 0;
}

static int d_repeat(struct parser *p)
{
	const char *v;
	const char *dots;
	char lo[32];
	char b[48];

	if (p->n != 2)
		return scn_fail(p, "usage: repeat MIN..MAX (e.g. repeat 5s..15s) or repeat off");
	v = p->w[1].s;
	if (!strcmp(v, "off")) {
		p->s->repeat = false;
		return 0;
	}
	dots = strstr(v, "..");
	if (!dots || (size_t)(dots - v) >= sizeof(lo))
		return scn_fail(p, "bad repeat bounds '%s' (expected MIN..MAX, e.g. 5s..15s, or off)",
				scn_shown(v, b));
	memcpy(lo, v, (size_t)(dots - v));
	lo[dots - v] = '\0';
	if (!scn_parse_duration(lo, &p->s->repeat_min_ms) ||
	    !scn_parse_duration(dots + 2, &p->s->repeat_max_ms))
		return scn_fail(p, "bad repeat bounds '%s' (expected MIN..MAX, e.g. 5s..15s, or off)",
				scn_shown(v, b));
	if (p->s->repeat_min_ms < 1)
		return scn_fail(p, "repeat MIN must be at least 1ms");
	if (p->s->repeat_min_ms > p->s->repeat_max_ms)
		return scn_fail(p, "repeat bounds '%s': MIN is above MAX", scn_shown(v, b));
	p->s->repeat = true;
	return 0;
}

static int d_modifications(struct parser *p)
{
	if (p->n != 2)
		return scn_fail(p, "usage: modifications on|off");
	if (!strcmp(p->w[1].s, "on"))
		p->s->modifications = true;
	else if (!strcmp(p->w[1].s, "off"))
		p->s->modifications = false;
	else
		return scn_unknown_word(p, "value for modifications", p->w[1].s, "on, off");
	return 0;
}

static int d_complete(struct parser *p)
{
	struct attrs a;
	int rc;

	scn_attrs_init(&a);
	rc = scn_parse_attrs(p, 1, BIT(A_WRITES), "complete", &a);
	if (rc < 0)
		return rc;
	if (!(a.seen & BIT(A_WRITES)))
		return scn_fail(p, "usage: complete writes=source|url|nothing");
	p->s->writes = (enum scn_writes)a.writes;
	return 0;
}

static int d_default(struct parser *p)
{
	struct scn_outcome o;
	int rc = parse_outcome(p, 1, "default", &o);

	if (rc < 0)
		return rc;
	error_clear(&p->s->dflt.err);
	p->s->dflt = o;
	return 0;
}

static int d_rule(struct parser *p)
{
	struct scn_rule *r;
	struct scn_outcome o;
	int rc;

	if ((rc = need_words(p, 3, "rule URL-GLOB OUTCOME [attributes]")) < 0)
		return rc;
	if ((rc = scn_check_text(p, "the URL glob", p->w[1].s, DOB_MAX_URL)) < 0)
		return rc;
	rc = parse_outcome(p, 2, "rule", &o);
	if (rc < 0)
		return rc;
	PUSH(p->s->rules, p->s->n_rules, r);
	if (!r) {
		error_clear(&o.err);
		return -DOB_ENOMEM;
	}
	r->o = o;
	r->line = p->line;
	r->glob = dob_strdup(p->w[1].s);
	return r->glob ? 0 : -DOB_ENOMEM;
}

/* Frees what a job owns and empties it (its id stays). */
static void scn_job_clear(struct scn_job *j)
{
	dob_free(j->name);
	dob_free(j->owner);
	error_clear(&j->err);
	for (size_t k = 0; k < j->n_files; k++) {
		dob_free(j->files[k].url);
		dob_free(j->files[k].path);
	}
	dob_free(j->files);
	j->name = j->owner = NULL;
	j->files = NULL;
	j->n_files = 0;
	j->has_error = false;
}

static int d_job(struct parser *p)
{
	const unsigned allowed = BIT(A_NAME) | BIT(A_OWNER) | BIT(A_TYPE) | BIT(A_STATE) |
				 BIT(A_ATTEMPTS) | ERROR_ATTRS;
	struct dob_guid id;
	struct scn_job *j, *dup;
	struct scn_error e;
	struct attrs a;
	char gb[DOB_GUID_STR_LEN];
	int rc;

	if ((rc = need_words(p, 2, "job GUID [name=... owner=... type=... state=...]")) < 0)
		return rc;
	if ((rc = parse_guid_word(p, p->w[1].s, &id)) < 0)
		return rc;
	dup = find_job(p, &id);
	if (dup && !p->later_job_replaces) {
		dob_guid_format(&id, gb);
		return scn_fail(p, "job %s is defined twice (first on line %u)", gb, dup->line);
	}
	scn_attrs_init(&a);
	a.state = DOB_STATE_SUSPENDED;
	if ((rc = scn_parse_attrs(p, 2, allowed, "job", &a)) < 0)
		return rc;
	if (a.state == DOB_STATE_ERROR || a.state == DOB_STATE_TRANSIENT_ERROR)
		rc = build_error(p, &a, "state=error or state=transient", true, &e);
	else if (a.seen & ERROR_ATTRS)
		return scn_fail(p, "error attributes need state=error or state=transient");
	else
		rc = build_error(p, &a, "", false, &e);
	if (rc < 0)
		return rc;
	p->s->n_job_lines++;
	if (dup) {
		/* The persist log: this line is the job's newer state; its
		 * `file` lines follow it again. */
		j = dup;
		scn_job_clear(j);
	} else {
		PUSH(p->s->jobs, p->s->n_jobs, j);
		if (!j) {
			error_clear(&e);
			return -DOB_ENOMEM;
		}
		j->id = id;
		index_last_job(p);
	}
	j->line = p->line;
	j->type = (enum dob_job_type)a.type;
	j->state = (enum dob_job_state)a.state;
	j->has_error = a.state == DOB_STATE_ERROR || a.state == DOB_STATE_TRANSIENT_ERROR;
	j->err = e;
	j->attempts = a.attempts;
	j->name = dob_strdup(a.name ? a.name : "sim job");
	j->owner = dob_strdup(a.owner ? a.owner : "");
	return j->name && j->owner ? 0 : -DOB_ENOMEM;
}

static int d_file(struct parser *p)
{
	struct dob_guid id;
	struct scn_job *j;
	struct scn_file *f;
	struct attrs a;
	char gb[DOB_GUID_STR_LEN];
	int rc;

	if ((rc = need_words(p, 4, "file GUID URL PATH [size=N done=N]")) < 0)
		return rc;
	if ((rc = parse_guid_word(p, p->w[1].s, &id)) < 0)
		return rc;
	j = find_job(p, &id);
	if (!j) {
		dob_guid_format(&id, gb);
		return scn_fail(p, "file for unknown job %s (define it with a 'job' line first)", gb);
	}
	if (j->n_files == DOB_MAX_FILES)
		return scn_fail(p, "too many files in one job (max %d)", DOB_MAX_FILES);
	if ((rc = scn_check_text(p, "the URL", p->w[2].s, DOB_MAX_URL)) < 0 ||
	    (rc = scn_check_text(p, "the path", p->w[3].s, DOB_MAX_PATH)) < 0)
		return rc;
	if (!p->w[2].s[0] || !p->w[3].s[0])
		return scn_fail(p, "a file needs a non-empty URL and path");
	scn_attrs_init(&a);
	if ((rc = scn_parse_attrs(p, 4, BIT(A_SIZE) | BIT(A_DONE), "file", &a)) < 0)
		return rc;
	if (!(a.seen & BIT(A_SIZE)))
		a.size = DEFAULT_SIZE;
	if (!(a.seen & BIT(A_DONE)) &&
	    (j->state == DOB_STATE_TRANSFERRED || j->state == DOB_STATE_ACKNOWLEDGED))
		a.done = a.size;
	if (a.done > a.size)
		return scn_fail(p, "done=%" PRIu64 " is above size=%" PRIu64, a.done, a.size);
	if (j->state == DOB_STATE_TRANSFERRED && a.done != a.size)
		return scn_fail(p, "a file of a transferred job must be complete (done=size)");
	PUSH(j->files, j->n_files, f);
	if (!f)
		return -DOB_ENOMEM;
	f->size = a.size;
	f->done = a.done;
	f->url = dob_strdup(p->w[2].s);
	f->path = dob_strdup(p->w[3].s);
	return f->url && f->path ? 0 : -DOB_ENOMEM;
}

static int d_at(struct parser *p)
{
	struct scn_target t;
	struct scn_event *ev;
	struct scn_error e;
	struct attrs a;
	int64_t at;
	int state, rc;
	char b[48];

	if ((rc = need_words(p, 4, "at TIME JOB STATE [attributes]")) < 0)
		return rc;
	if (!scn_parse_duration(p->w[1].s, &at))
		return scn_fail(p, "bad time '%s' (expected milliseconds after start, or with a unit: "
				"250ms, 2s, 1m)", scn_shown(p->w[1].s, b));
	if ((rc = parse_target(p, p->w[2].s, false, &t)) < 0)
		return rc;
	if ((rc = scn_parse_state(p, p->w[3].s, &state)) < 0)
		return rc;
	scn_attrs_init(&a);
	if (state == DOB_STATE_ERROR || state == DOB_STATE_TRANSIENT_ERROR) {
		rc = scn_parse_attrs(p, 4, ERROR_ATTRS | (state == DOB_STATE_TRANSIENT_ERROR ?
						       TRANSIENT_ATTRS : 0u),
				 scenario_state_word(state), &a);
		if (rc == 0)
			rc = build_error(p, &a, scenario_state_word(state), true, &e);
	} else {
		rc = scn_parse_attrs(p, 4, 0, scenario_state_word(state), &a);
		memset(&e, 0, sizeof(e));
	}
	if (rc < 0)
		return rc;
	PUSH(p->s->events, p->s->n_events, ev);
	if (!ev) {
		error_clear(&e);
		return -DOB_ENOMEM;
	}
	ev->at_ms = at;
	ev->job = t;
	ev->state = (enum dob_job_state)state;
	ev->has_error = state == DOB_STATE_ERROR || state == DOB_STATE_TRANSIENT_ERROR;
	ev->err = e;
	ev->for_ms = (a.seen & BIT(A_FOR)) ? a.for_ms : 1000;
	ev->then_error = a.then_error;
	ev->line = p->line;
	return 0;
}

static const char *const req_words[] = {
	NULL, "cancel", "complete", "resume", "suspend", "act", "submit", "attach", "query",
	"detach", "any",
};

static int d_fault(struct parser *p)
{
	struct scn_fault *f;
	struct scn_target t;
	struct attrs a;
	int req = 0, rc;
	unsigned effects;

	if ((rc = need_words(p, 4, "fault REQUEST JOB hang|exit|hresult=H|http=N|delay=D [count=N]")) < 0)
		return rc;
	for (int i = SCN_REQ_CANCEL; i <= SCN_REQ_ANY; i++)
		if (!strcmp(p->w[1].s, req_words[i]))
			req = i;
	if (!req)
		return scn_unknown_word(p, "request", p->w[1].s,
					"cancel, complete, resume, suspend, act, submit, attach, query, "
					"detach, any");
	if ((rc = parse_target(p, p->w[2].s, true, &t)) < 0)
		return rc;
	scn_attrs_init(&a);
	rc = scn_parse_attrs(p, 3, BIT(A_HANG) | BIT(A_EXIT) | BIT(A_HRESULT) | BIT(A_HTTP) |
				       BIT(A_DELAY) | BIT(A_COUNT), "fault", &a);
	if (rc < 0)
		return rc;
	effects = a.seen & (BIT(A_HANG) | BIT(A_EXIT) | BIT(A_HRESULT) | BIT(A_HTTP) | BIT(A_DELAY));
	if (effects == 0 || (effects & (effects - 1)) != 0)
		return scn_fail(p, "a fault needs exactly one of hang, exit, hresult=, http=, delay=");
	PUSH(p->s->faults, p->s->n_faults, f);
	if (!f)
		return -DOB_ENOMEM;
	f->req = (enum scn_req)req;
	f->job = t;
	f->count = a.count;
	f->line = p->line;
	if (a.seen & BIT(A_HANG)) {
		f->effect = SCN_FAULT_HANG;
	} else if (a.seen & BIT(A_EXIT)) {
		f->effect = SCN_FAULT_EXIT;
		f->hresult = DOB_RPC_E_DISCONNECTED;
	} else if (a.seen & BIT(A_DELAY)) {
		f->effect = SCN_FAULT_DELAY;
		f->delay_ms = a.delay;
	} else {
		f->effect = SCN_FAULT_HRESULT;
		f->hresult = (a.seen & BIT(A_HTTP)) ? DOB_HTTP_E(a.http) : a.hresult;
	}
	return 0;
}

static int d_persist(struct parser *p)
{
	int rc;

	if (p->n != 2 || !p->w[1].s[0])
		return scn_fail(p, "usage: persist FILE (where the sim keeps its jobs across restarts)");
	if ((rc = scn_check_text(p, "the persist file", p->w[1].s, DOB_MAX_PATH)) < 0)
		return rc;
	dob_free(p->s->persist);
	p->s->persist = dob_strdup(p->w[1].s);
	return p->s->persist ? 0 : -DOB_ENOMEM;
}

struct directive {
	const char *name;
	int (*fn)(struct parser *p);
};

static const struct directive directives[] = {
	{ "seed", d_seed }, { "repeat", d_repeat }, { "default", d_default },
	{ "modifications", d_modifications }, { "complete", d_complete }, { "job", d_job },
	{ "file", d_file }, { "rule", d_rule }, { "at", d_at }, { "fault", d_fault },
	{ "persist", d_persist },
};

static int statement(struct parser *p)
{
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
		if (!strcmp(p->w[0].s, directives[i].name))
			return directives[i].fn(p);
	return scn_unknown_word(p, "directive", p->w[0].s,
				"seed, repeat, default, modifications, complete, job, file, rule, at, "
				"fault, persist");
}

/* Checks what only the whole file shows: ids in `at` and `fault` name jobs
 * the scenario defines, and a job that has run has files. */
static int check_refs(struct parser *p)
{
	char gb[DOB_GUID_STR_LEN];

	for (size_t i = 0; i < p->s->n_jobs; i++) {
		const struct scn_job *j = &p->s->jobs[i];

		if (j->n_files == 0 && j->state != DOB_STATE_SUSPENDED &&
		    j->state != DOB_STATE_CANCELLED && j->state != DOB_STATE_ACKNOWLEDGED) {
			p->line = j->line;
			dob_guid_format(&j->id, gb);
			return scn_fail(p, "job %s is %s but has no file (add a 'file' line; only "
					"suspended, cancelled and acknowledged jobs may have none)",
					gb, scenario_state_word(j->state));
		}
	}

	for (size_t i = 0; i < p->s->n_events; i++) {
		const struct scn_event *ev = &p->s->events[i];

		if (ev->job.who == SCN_WHO_ID && !find_job(p, &ev->job.id)) {
			p->line = ev->line;
			dob_guid_format(&ev->job.id, gb);
			return scn_fail(p, "'at' names job %s, which no 'job' line defines "
					"(use #N for the N-th submitted job)", gb);
		}
	}
	for (size_t i = 0; i < p->s->n_faults; i++) {
		const struct scn_fault *f = &p->s->faults[i];

		if (f->job.who == SCN_WHO_ID && !find_job(p, &f->job.id)) {
			p->line = f->line;
			dob_guid_format(&f->job.id, gb);
			return scn_fail(p, "'fault' names job %s, which no 'job' line defines "
					"(use #N for the N-th submitted job, or *)", gb);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ public */

void scenario_free(struct scenario *s)
{
	if (!s)
		return;
	dob_free(s->name);
	dob_free(s->persist);
	error_clear(&s->dflt.err);
	for (size_t i = 0; i < s->n_rules; i++) {
		dob_free(s->rules[i].glob);
		error_clear(&s->rules[i].o.err);
	}
	for (size_t i = 0; i < s->n_jobs; i++)
		scn_job_clear(&s->jobs[i]);
	for (size_t i = 0; i < s->n_events; i++)
		error_clear(&s->events[i].err);
	dob_free(s->rules);
	dob_free(s->jobs);
	dob_free(s->events);
	dob_free(s->faults);
	dob_free(s);
}

struct scenario_reader {
	struct parser p;
};

int scenario_read_begin(const char *name, unsigned flags, struct scenario_reader **out)
{
	struct scenario_reader *r = dob_calloc(1, sizeof(*r));
	struct scenario *s = dob_calloc(1, sizeof(*s));

	*out = NULL;
	if (!r || !s || !(s->name = dob_strdup(name ? name : "scenario"))) {
		dob_free(r);
		scenario_free(s);
		return -DOB_ENOMEM;
	}
	r->p.name = s->name;
	r->p.s = s;
	r->p.later_job_replaces = flags & SCN_LATER_JOB_REPLACES;
	s->seed = 1;
	s->repeat = true;
	s->repeat_min_ms = 5000;
	s->repeat_max_ms = 15000;
	s->modifications = true;
	s->writes = SCN_WRITES_SOURCE;
	s->dflt.kind = SCN_OK;
	s->dflt.after_ms = DEFAULT_AFTER_MS;
	s->dflt.size = DEFAULT_SIZE;
	s->dflt.err.context = -1;
	*out = r;
	return 0;
}

void scenario_read_free(struct scenario_reader *r)
{
	if (!r)
		return;
	dob_free(r->p.job_ix);
	dob_free(r->p.scratch);
	scenario_free(r->p.s);
	dob_free(r);
}

static int read_fail(struct parser *p, int rc)
{
	if (rc == -DOB_ENOMEM && p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s: out of memory while reading the scenario", p->name);
	return rc;
}

int scenario_read_feed(struct scenario_reader *r, const char *text, size_t len, char *err,
		       size_t errlen)
{
	struct parser *p = &r->p;
	size_t pos = 0;
	int rc;

	p->err = err;
	p->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl ? 1 : 0);
		p->line++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (memchr(line, '\0', n))
			return scn_fail(p, "NUL byte in the line");
		if (n + 1 > p->scratch_cap) {
			/* one buffer for every line's words (a malloc per line was
			 * a tenth of reading a long persist file) */
			size_t cap = p->scratch_cap ? p->scratch_cap : 256;
			char *b;

			while (cap < n + 1)
				cap *= 2;
			if (!(b = dob_realloc(p->scratch, cap)))
				return read_fail(p, -DOB_ENOMEM);
			p->scratch = b;
			p->scratch_cap = cap;
		}
		rc = scn_tokenize(p, line, n, p->scratch);
		if (rc == 0 && p->n > 0)
			rc = statement(p);
		if (rc < 0)
			return read_fail(p, rc);
	}
	return 0;
}

int scenario_read_end(struct scenario_reader *r, struct scenario **out, char *err,
		      size_t errlen)
{
	struct parser *p = &r->p;
	int rc;

	*out = NULL;
	p->err = err;
	p->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	rc = check_refs(p);
	if (rc == 0) {
		*out = p->s;
		p->s = NULL;
	}
	scenario_read_free(r);
	return rc;
}

int scenario_parse(const char *text, size_t len, const char *name, struct scenario **out,
		   char *err, size_t errlen)
{
	struct scenario_reader *r;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	rc = scenario_read_begin(name, 0, &r);
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory while reading the scenario",
				 name ? name : "scenario");
		return rc;
	}
	rc = scenario_read_feed(r, text, len, err, errlen);
	if (rc < 0) {
		scenario_read_free(r);
		return rc;
	}
	return scenario_read_end(r, out, err, errlen);
}

int scenario_load(const char *path, struct scenario **out, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	rc = plat_file_read_all(path, &buf, &n);
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read the scenario: %s", path,
				 dob_strerror(rc));
		return rc;
	}
	rc = scenario_parse((const char *)buf, n, path, out, err, errlen);
	dob_free(buf);
	return rc;
}

bool scenario_glob(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* Iterative matcher with one backtrack point: linear in practice and
	 * never recursive, whatever the pattern. */
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == '?' || *pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

const struct scn_outcome *scenario_outcome_for(const struct scenario *s,
					       const char *const *urls, size_t n)
{
	for (size_t r = 0; r < s->n_rules; r++)
		for (size_t i = 0; i < n; i++)
			if (scenario_glob(s->rules[r].glob, urls[i] ? urls[i] : ""))
				return &s->rules[r].o;
	return &s->dflt;
}
