/*
 * broker/core/config.c - settings: defaults, config file, flags, --help.
 * One table describes every option; the parser, the file reader and the
 * help text all walk it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "log.h"
#include "platform.h"

enum opt_type {
	T_STR,
	T_U32,
	T_U64,
	T_BOOL,
	T_POLICY,
	T_EXHAUSTED,
	T_LEVEL,
	T_BACKEND,
	T_LIST,
	T_EVLEVEL,
	T_MODE,
	T_SIDS,
};

/* Flags of an option. */
#define F_PROG 1u    /* in struct program_config, not the broker's */
#define F_RESTART 2u /* a reload cannot change it */
#define F_PATH 4u    /* a path: resolved against the config file's folder */
#define F_SOCK 8u    /* a path when it contains a '/' (else a pipe name) */

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	uint64_t min, max; /* numbers */
	const char *arg;   /* placeholder in --help */
	const char *help;
	unsigned flags;
};

#define OFF(f) offsetof(struct broker_config, f)
#define POFF(f) offsetof(struct program_config, f)
#define U32MAX 0xffffffffull

static const struct opt opts[] = {
	{ "endpoint", T_STR, OFF(endpoint), 0, 0, "PATH",
	  "socket path (POSIX) or pipe name (Windows) to listen on", F_RESTART | F_SOCK },
	{ "state-dir", T_STR, OFF(state_dir), 0, 0, "DIR", "directory of the journal",
	  F_RESTART | F_PATH },
	{ "backend", T_BACKEND, OFF(backend), 0, 0, "NAME", "job manager: sim, bits, do or auto",
	  F_RESTART },
	{ "do-clsid", T_BACKEND, OFF(backend), 0, 0, "GUID",
	  "the do backend on this COM class instead of DO's own (the DO emulator, "
	  "docs/do-emulator.md); implies --backend do", F_RESTART },
	{ "scenario", T_STR, OFF(scenario), 0, 0, "FILE", "sim backend: scenario file to play",
	  F_RESTART | F_PATH },
	{ "policy", T_POLICY, OFF(default_policy.kind), 0, 0, "KIND",
	  "default policy at an episode's deadline: none, resume, cancel or complete", 0 },
	{ "deadline-ms", T_U32, OFF(default_deadline_ms), 0, U32MAX, "MS",
	  "time a controller has before the policy applies (0 = never)", 0 },
	{ "policy-max-resumes", T_U32, OFF(default_policy.max_resumes), 0, 1000, "N",
	  "resume policy: resumes within one job's life", 0 },
	{ "policy-backoff-ms", T_U32, OFF(default_policy.backoff_ms), 0, DOB_MAX_DELAY_MS, "MS",
	  "resume policy: delay before the first resume, doubled each time", 0 },
	{ "policy-exhausted", T_EXHAUSTED, OFF(default_policy.exhausted), 0, 0, "KIND",
	  "resume policy: what to do after the last resume: none, cancel or complete", 0 },
	{ "sweep-interval-ms", T_U32, OFF(sweep_interval_ms), 10, U32MAX, "MS",
	  "interval of the reconcile sweep that reads every managed job", 0 },
	{ "action-timeout-ms", T_U32, OFF(action_timeout_ms), 1, U32MAX, "MS",
	  "time the backend has to carry out a request", 0 },
	{ "handshake-timeout-ms", T_U32, OFF(handshake_timeout_ms), 1, U32MAX, "MS",
	  "time a client has to send Hello", 0 },
	{ "max-frame", T_U32, OFF(max_frame), 1024, DOB_MAX_FRAME_CEILING, "BYTES",
	  "largest frame either side may send", F_RESTART },
	{ "queue-soft-limit", T_U32, OFF(queue_soft_limit), 1, U32MAX, "N",
	  "queued events past which non-error events are dropped (Gap)", 0 },
	{ "queue-hard-limit", T_U32, OFF(queue_hard_limit), 2, U32MAX, "N",
	  "queued events past which a subscriber is disconnected", 0 },
	{ "queue-soft-bytes", T_U64, OFF(queue_soft_bytes), 1, UINT64_MAX, "BYTES",
	  "queued bytes past which non-error events are dropped (Gap)", 0 },
	{ "queue-hard-bytes", T_U64, OFF(queue_hard_bytes), 2, UINT64_MAX, "BYTES",
	  "queued bytes past which a subscriber is disconnected", 0 },
	{ "max-inflight", T_U32, OFF(max_inflight_requests), 1, U32MAX, "N",
	  "requests without a reply per connection", 0 },
	{ "max-jobs", T_U32, OFF(max_jobs_per_identity), 1, U32MAX, "N",
	  "jobs one identity may submit or adopt", 0 },
	{ "max-conns", T_U32, OFF(max_conns_per_identity), 1, U32MAX, "N",
	  "connections per identity", 0 },
	{ "rate-limit", T_U32, OFF(rate_limit), 0, U32MAX, "N",
	  "frames per second per connection; a reconnect starts from the level its "
	  "identity left (0 = unlimited)", 0 },
	{ "rate-burst", T_U32, OFF(rate_burst), 1, U32MAX, "N",
	  "frames a connection may send at once above the rate", 0 },
	{ "journal-sync", T_BOOL, OFF(journal_sync), 0, 0, "BOOL",
	  "fsync the journal once per batch of work before its frames are sent (power-loss "
	  "safety; false: a killed broker still loses nothing, a power cut may)", F_RESTART },
	{ "journal-compact-bytes", T_U64, OFF(journal_compact_bytes), 0, UINT64_MAX, "BYTES",
	  "compact the journal past this size (0 = 4 MiB)", F_RESTART },
	{ "log-level", T_LEVEL, OFF(log_level), 0, 0, "LEVEL", "error, warn, info or debug", 0 },
	{ "log-file", T_STR, POFF(log_file), 0, 0, "FILE",
	  "write the log to FILE instead of stderr", F_PROG | F_PATH },
	{ "log-max-size", T_U64, POFF(log_max_size), 0, UINT64_MAX, "BYTES",
	  "rotate the log file before it grows past BYTES (0 = never)", F_PROG },
	{ "log-max-files", T_U32, POFF(log_max_files), 0, 1000, "N",
	  "rotated log files kept (FILE.1 newest .. FILE.N)", F_PROG },
	{ "eventlog", T_EVLEVEL, POFF(eventlog), 0, 0, "LEVEL",
	  "operator events (Windows Event Log, and log lines): off, service (start, stop, "
	  "failures, reloads) or episodes (also every error episode and its resolution)",
	  F_PROG },
	{ "allow-sandboxed", T_BOOL, OFF(allow_sandboxed), 0, 0, "BOOL",
	  "Windows: admit AppContainer and low-integrity clients", F_RESTART },
	{ "mode", T_MODE, OFF(service_mode), 0, 0, "MODE",
	  "deployment: user (per-user broker, the default) or service (machine service; "
	  "'install' sets it); chooses the pipe's DACL (docs/security.md)", F_RESTART },
	{ "pipe-instances", T_U32, OFF(pipe_instances), 1, 254, "N",
	  "Windows: fixed pool of pipe instances, all created at start (concurrent clients)",
	  F_RESTART },
	{ "sandboxed-submit-allow", T_SIDS, OFF(submit_allow), 0, 0, "SID",
	  "AppContainer SID (or, for low integrity outside one, user SID) whose sandboxed "
	  "callers may submit downloads without the internetClient capability (repeatable)",
	  F_RESTART },
	{ "test-listener", T_LIST, OFF(test_listeners), 0, 0, "SPEC",
	  "POSIX tests: extra socket with a fixed identity, PATH=uid:N,sid:S,appcontainer:A,"
	  "integrity:N,sandboxed:0|1,privileged:0|1 (repeatable)", F_RESTART },
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void say(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

void config_defaults(struct broker_config *c)
{
	memset(c, 0, sizeof(*c));
	c->default_policy.kind = DOB_POLICY_NONE;
	c->default_policy.max_resumes = 3;
	c->default_policy.backoff_ms = 1000;
	c->default_policy.exhausted = DOB_POLICY_NONE;
	c->default_deadline_ms = 300000;
	c->sweep_interval_ms = 5000;
	c->action_timeout_ms = 30000;
	c->handshake_timeout_ms = 5000;
	c->max_frame = DOB_MAX_FRAME_DEFAULT;
	c->queue_soft_limit = 1024;
	c->queue_hard_limit = 8192;
	c->queue_soft_bytes = 4u << 20;
	c->queue_hard_bytes = 16u << 20;
	c->max_inflight_requests = 64;
	c->max_jobs_per_identity = 256;
	c->max_conns_per_identity = 64;
	c->rate_limit = 2000;
	c->rate_burst = 4000;
	c->log_level = DOB_LOG_INFO;
	/* Durable by default: one fsync per batch of work (group commit)
	 * covers every record of it before its frames are sent. */
	c->journal_sync = true;
	c->pipe_instances = 128;
}

static void free_list(struct broker_config *c)
{
	for (size_t i = 0; i < c->n_test_listeners; i++)
		dob_free(c->test_listeners[i]);
	dob_free(c->test_listeners);
	c->test_listeners = NULL;
	c->n_test_listeners = 0;
	for (size_t i = 0; i < c->n_submit_allow; i++)
		dob_free(c->submit_allow[i]);
	dob_free(c->submit_allow);
	c->submit_allow = NULL;
	c->n_submit_allow = 0;
}

void config_clear(struct broker_config *c)
{
	if (!c)
		return;
	dob_free(c->endpoint);
	dob_free(c->state_dir);
	dob_free(c->backend);
	dob_free(c->scenario);
	free_list(c);
	memset(c, 0, sizeof(*c));
}

void config_prog_defaults(struct program_config *p)
{
	memset(p, 0, sizeof(*p));
	config_defaults(&p->broker);
	p->log_max_size = 10u * 1024 * 1024;
	p->log_max_files = 5;
	p->eventlog = DOB_EVENTS_SERVICE;
}

void config_prog_clear(struct program_config *p)
{
	if (!p)
		return;
	config_clear(&p->broker);
	dob_free(p->config_file);
	dob_free(p->log_file);
	memset(p, 0, sizeof(*p));
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = dob_strdup(src);
	return *dst ? 0 : -DOB_ENOMEM;
}

int config_copy(struct broker_config *dst, const struct broker_config *src)
{
	*dst = *src;
	dst->endpoint = dst->state_dir = dst->backend = dst->scenario = NULL;
	dst->test_listeners = NULL;
	dst->n_test_listeners = 0;
	dst->submit_allow = NULL;
	dst->n_submit_allow = 0;
	if (dup_opt(&dst->endpoint, src->endpoint) || dup_opt(&dst->state_dir, src->state_dir) ||
	    dup_opt(&dst->backend, src->backend) || dup_opt(&dst->scenario, src->scenario))
		goto fail;
	if (src->n_test_listeners) {
		dst->test_listeners = dob_calloc(src->n_test_listeners, sizeof(char *));
		if (!dst->test_listeners)
			goto fail;
		for (size_t i = 0; i < src->n_test_listeners; i++) {
			if (dup_opt(&dst->test_listeners[i], src->test_listeners[i]))
				goto fail;
			dst->n_test_listeners++;
		}
	}
	if (src->n_submit_allow) {
		dst->submit_allow = dob_calloc(src->n_submit_allow, sizeof(char *));
		if (!dst->submit_allow)
			goto fail;
		for (size_t i = 0; i < src->n_submit_allow; i++) {
			if (dup_opt(&dst->submit_allow[i], src->submit_allow[i]))
				goto fail;
			dst->n_submit_allow++;
		}
	}
	return 0;
fail:
	config_clear(dst);
	return -DOB_ENOMEM;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const t[] = { "1", "true", "yes", "on" };
	static const char *const f[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(v, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-' || *v == '+' || *v == ' ')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end)
		return -1;
	*out = x;
	return 0;
}

/* "S-1-" followed by digits and dashes, no empty part (the platform
 * compares it as text with the SIDs of tokens). */
static bool sid_text_ok(const char *v)
{
	size_t n = strlen(v);

	if (n < 5 || n > 184 || strncmp(v, "S-1-", 4) != 0 || v[n - 1] == '-')
		return false;
	for (const char *p = v + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p == '-' && p[1] != '-')))
			return false;
	return true;
}

static const struct opt *find(const char *key)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, key) == 0)
			return &opts[i];
	return NULL;
}

/* Sets key in c (broker keys) or p (program keys; NULL: such keys are
 * refused). file: the config file whose folder resolves relative paths,
 * or NULL. */
static int set_opt(struct broker_config *c, struct program_config *p, const char *key,
		   const char *value, const char *file, char *err, size_t errlen)
{
	const struct opt *o = find(key);
	char *base = (char *)c;
	uint64_t n;
	int k;

	if (!o) {
		say(err, errlen, "unknown option '%s' (see --help)", key);
		return -DOB_EINVAL;
	}
	if (o->flags & F_PROG) {
		if (!p) {
			say(err, errlen, "'%s' is a dobrokerd option, not a broker setting", key);
			return -DOB_EINVAL;
		}
		base = (char *)p;
	}
	if (!value) {
		say(err, errlen, "option '%s' needs a value (%s)", key, o->arg);
		return -DOB_EINVAL;
	}
	switch (o->type) {
	case T_BACKEND:
		if (!strcmp(o->name, "do-clsid")) { /* stored as backend "do:{GUID}" */
			struct dob_guid g;
			char gs[DOB_GUID_STR_LEN], *s;

			if (dob_guid_parse(value, &g) < 0) {
				say(err, errlen, "%s: '%s' is not a GUID", key, value);
				return -DOB_EINVAL;
			}
			dob_guid_format(&g, gs);
			s = dob_malloc(sizeof("do:") + strlen(gs));
			if (!s)
				return -DOB_ENOMEM;
			strcpy(s, "do:");
			strcat(s, gs);
			dob_free(c->backend);
			c->backend = s;
			return 0;
		}
		if (strcmp(value, "sim") && strcmp(value, "bits") && strcmp(value, "do") &&
		    strcmp(value, "auto")) {
			say(err, errlen, "%s: '%s' is not a backend (sim, bits, do or auto)", key,
			    value);
			return -DOB_EINVAL;
		}
		/* fall through */
	case T_STR: {
		char **sp = (char **)(base + o->off);
		char *s;
		if (!*value) {
			say(err, errlen, "%s: empty value", key);
			return -DOB_EINVAL;
		}
		if (file && ((o->flags & F_PATH) || ((o->flags & F_SOCK) && strchr(value, '/'))))
			s = config_resolve(file, value);
		else
			s = dob_strdup(value);
		if (!s)
			return -DOB_ENOMEM;
		dob_free(*sp);
		*sp = s;
		return 0;
	}
	case T_LIST: {
		char **l, *s;
		if (!*value || !strchr(value, '=')) {
			say(err, errlen, "%s: '%s' is not PATH=key:value,...", key, value);
			return -DOB_EINVAL;
		}
		s = dob_strdup(value);
		if (!s)
			return -DOB_ENOMEM;
		l = dob_realloc(c->test_listeners, (c->n_test_listeners + 1) * sizeof(*l));
		if (!l) {
			dob_free(s);
			return -DOB_ENOMEM;
		}
		c->test_listeners = l;
		l[c->n_test_listeners++] = s;
		return 0;
	}
	case T_MODE:
		if (strcmp(value, "user") && strcmp(value, "service")) {
			say(err, errlen, "%s: '%s' is not a mode (user or service)", key, value);
			return -DOB_EINVAL;
		}
		*(bool *)(base + o->off) = strcmp(value, "service") == 0;
		return 0;
	case T_SIDS: {
		char **l, *s;
		if (!sid_text_ok(value)) {
			say(err, errlen, "%s: '%s' is not a SID (S-1-...)", key, value);
			return -DOB_EINVAL;
		}
		s = dob_strdup(value);
		if (!s)
			return -DOB_ENOMEM;
		l = dob_realloc(c->submit_allow, (c->n_submit_allow + 1) * sizeof(*l));
		if (!l) {
			dob_free(s);
			return -DOB_ENOMEM;
		}
		c->submit_allow = l;
		l[c->n_submit_allow++] = s;
		return 0;
	}
	case T_U32:
	case T_U64:
		if (parse_u64(value, &n) || n < o->min || n > o->max) {
			say(err, errlen, "%s: '%s' is not a number from %llu to %llu", key, value,
			    (unsigned long long)o->min, (unsigned long long)o->max);
			return -DOB_EINVAL;
		}
		if (o->type == T_U32)
			*(uint32_t *)(base + o->off) = (uint32_t)n;
		else
			*(uint64_t *)(base + o->off) = n;
		return 0;
	case T_BOOL:
		if (parse_bool(value, (bool *)(base + o->off))) {
			say(err, errlen, "%s: '%s' is not a boolean (true/false, yes/no, 1/0)", key,
			    value);
			return -DOB_EINVAL;
		}
		return 0;
	case T_POLICY:
	case T_EXHAUSTED:
		k = dob_policy_parse(value);
		if (k <= DOB_POLICY_UNSPECIFIED ||
		    (o->type == T_EXHAUSTED && k == DOB_POLICY_RESUME)) {
			say(err, errlen, "%s: '%s' is not one of %s", key, value,
			    o->type == T_POLICY ? "none, resume, cancel, complete"
						: "none, cancel, complete");
			return -DOB_EINVAL;
		}
		*(enum dob_policy_kind *)(base + o->off) = (enum dob_policy_kind)k;
		return 0;
	case T_LEVEL:
		k = dob_log_parse_level(value);
		if (k < 0) {
			say(err, errlen, "%s: '%s' is not one of error, warn, info, debug", key, value);
			return -DOB_EINVAL;
		}
		*(int *)(base + o->off) = k;
		return 0;
	case T_EVLEVEL:
		k = dob_log_parse_event_level(value);
		if (k < 0) {
			say(err, errlen, "%s: '%s' is not one of off, service, episodes", key, value);
			return -DOB_EINVAL;
		}
		*(int *)(base + o->off) = k;
		return 0;
	}
	return -DOB_EINVAL;
}

int config_set(struct broker_config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	return set_opt(c, NULL, key, value, NULL, err, errlen);
}

int config_prog_set(struct program_config *p, const char *key, const char *value,
		    const char *file, char *err, size_t errlen)
{
	return set_opt(&p->broker, p, key, value, file, err, errlen);
}

static bool is_absolute(const char *path)
{
	unsigned char c0 = (unsigned char)path[0];

	return c0 == '/' || c0 == '\\' ||
	       (((c0 | 0x20) >= 'a' && (c0 | 0x20) <= 'z') && path[1] == ':');
}

char *config_resolve(const char *file, const char *rel)
{
	const char *slash = NULL;
	size_t n;
	char *out;

	for (const char *q = file; q && *q; q++)
		if (*q == '/' || *q == '\\')
			slash = q;
	if (!slash || is_absolute(rel))
		return dob_strdup(rel);
	while ((rel[0] == '.' && (rel[1] == '/' || rel[1] == '\\')))
		rel += 2; /* "./x" is "x" */
	n = (size_t)(slash - file) + 1; /* the folder with its separator */
	out = dob_malloc(n + strlen(rel) + 1);
	if (!out)
		return NULL;
	memcpy(out, file, n);
	memcpy(out + n, rel, strlen(rel) + 1);
	return out;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

int config_parse_text(struct program_config *pc, const char *text, size_t len, const char *name,
		      char *err, size_t errlen)
{
	size_t pos = 0;
	unsigned line_no = 0;
	char line[8192];

	while (pos < len) {
		size_t end = pos, n;
		char *key, *eq, *value, *p;
		char why[512];
		int rc;

		while (end < len && text[end] != '\n')
			end++;
		line_no++;
		n = end - pos;
		if (n >= sizeof(line)) {
			say(err, errlen, "%s:%u: line too long", name, line_no);
			return -DOB_EINVAL;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos = end < len ? end + 1 : end;
		if (memchr(line, '\0', n)) {
			say(err, errlen, "%s:%u: NUL byte in line", name, line_no);
			return -DOB_EINVAL;
		}
		key = line;
		while (is_space(*key))
			key++;
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			say(err, errlen, "%s:%u: expected 'key = value', got '%s'", name, line_no, key);
			return -DOB_EINVAL;
		}
		value = eq + 1;
		p = eq;
		while (p > key && is_space(p[-1]))
			p--;
		*p = '\0';
		while (is_space(*value))
			value++;
		p = value + strlen(value);
		while (p > value && is_space(p[-1]))
			p--;
		*p = '\0';
		if (!*key) {
			say(err, errlen, "%s:%u: missing key before '='", name, line_no);
			return -DOB_EINVAL;
		}
		if (strcmp(key, "config") == 0) {
			say(err, errlen, "%s:%u: 'config' cannot be set in a config file", name,
			    line_no);
			return -DOB_EINVAL;
		}
		rc = config_prog_set(pc, key, value, name, why, sizeof(why));
		if (rc) {
			say(err, errlen, "%s:%u: %s", name, line_no, why);
			return rc;
		}
	}
	return 0;
}

int config_load_file(struct program_config *p, const char *path, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = plat_file_read_all(path, &buf, &len);

	if (rc) {
		say(err, errlen, "config file %s: %s", path, dob_strerror(rc));
		return rc;
	}
	rc = config_parse_text(p, (const char *)buf, len, path, err, errlen);
	dob_free(buf);
	return rc;
}

/* Splits "--key=value" / "--key value"; returns the number of argv entries
 * used (1 or 2) or a negative error. */
static int split_flag(int argc, char **argv, int i, char *key, size_t keylen,
		      const char **value, char *err, size_t errlen)
{
	const char *a = argv[i] + 2, *eq = strchr(a, '=');
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	const struct opt *o;

	if (n == 0 || n >= keylen) {
		say(err, errlen, "bad option '%s'", argv[i]);
		return -DOB_EINVAL;
	}
	memcpy(key, a, n);
	key[n] = '\0';
	if (eq) {
		*value = eq + 1;
		return 1;
	}
	o = find(key);
	if (!o && strcmp(key, "help") && strcmp(key, "version") && strcmp(key, "config")) {
		say(err, errlen, "unknown option '--%s' (see --help)", key);
		return -DOB_EINVAL;
	}
	if (o && o->type == T_BOOL) {
		*value = "true";
		return 1;
	}
	if (strcmp(key, "help") == 0 || strcmp(key, "version") == 0) {
		*value = NULL;
		return 1;
	}
	if (i + 1 >= argc) {
		say(err, errlen, "option '--%s' needs a value%s%s", key, o ? " " : "",
		    o ? o->arg : "");
		return -DOB_EINVAL;
	}
	*value = argv[i + 1];
	return 2;
}

int config_parse_args(struct program_config *p, int argc, char **argv,
		      enum config_action *action, char *err, size_t errlen)
{
	char key[64];
	const char *value;
	int i, used, rc;

	*action = CONFIG_RUN;
	/* Pass 1: --help (-h), --version, --config. */
	for (i = 1; i < argc; i += used) {
		if (strcmp(argv[i], "-h") == 0) {
			*action = CONFIG_HELP;
			return 0;
		}
		if (strcmp(argv[i], "install") == 0 || strcmp(argv[i], "uninstall") == 0) {
			say(err, errlen, "'%s' is a Windows command (dobrokerd.exe %s)", argv[i],
			    argv[i]);
			return -DOB_EINVAL;
		}
		if (strncmp(argv[i], "--", 2) != 0) {
			say(err, errlen, "unexpected argument '%s' (options start with --)", argv[i]);
			return -DOB_EINVAL;
		}
		used = split_flag(argc, argv, i, key, sizeof(key), &value, err, errlen);
		if (used < 0)
			return used;
		if (strcmp(key, "help") == 0) {
			*action = CONFIG_HELP;
			return 0;
		}
		if (strcmp(key, "version") == 0) {
			*action = CONFIG_VERSION;
			return 0;
		}
		if (strcmp(key, "config") == 0) {
			char *f = dob_strdup(value);

			if (!f)
				return -DOB_ENOMEM;
			dob_free(p->config_file);
			p->config_file = f;
			rc = config_load_file(p, value, err, errlen);
			if (rc)
				return rc;
		}
	}
	/* Pass 2: every other flag, over the file's values. */
	for (i = 1; i < argc; i += used) {
		used = split_flag(argc, argv, i, key, sizeof(key), &value, err, errlen);
		if (strcmp(key, "config") == 0)
			continue;
		rc = config_prog_set(p, key, value, NULL, err, errlen);
		if (rc)
			return rc;
	}
	return config_check(&p->broker, err, errlen);
}

int config_check(const struct broker_config *c, char *err, size_t errlen)
{
	if (c->queue_soft_limit >= c->queue_hard_limit) {
		say(err, errlen, "queue-soft-limit (%u) must be below queue-hard-limit (%u)",
		    c->queue_soft_limit, c->queue_hard_limit);
		return -DOB_EINVAL;
	}
	if (c->queue_soft_bytes >= c->queue_hard_bytes) {
		say(err, errlen, "queue-soft-bytes (%llu) must be below queue-hard-bytes (%llu)",
		    (unsigned long long)c->queue_soft_bytes,
		    (unsigned long long)c->queue_hard_bytes);
		return -DOB_EINVAL;
	}
	if (c->queue_hard_bytes < (uint64_t)c->max_frame + DOB_FRAME_HDR) {
		say(err, errlen, "queue-hard-bytes (%llu) must hold one frame of max-frame (%u)",
		    (unsigned long long)c->queue_hard_bytes, c->max_frame);
		return -DOB_EINVAL;
	}
	if (c->default_policy.kind == DOB_POLICY_RESUME &&
	    c->default_policy.exhausted == DOB_POLICY_RESUME) {
		say(err, errlen, "policy-exhausted cannot be resume");
		return -DOB_EINVAL;
	}
	return 0;
}

/* The value of option o in base (a broker_config or, for F_PROG options, a
 * program_config) as text. */
static void value_text(const struct opt *o, const char *base, char *buf, size_t len)
{
	switch (o->type) {
	case T_STR:
	case T_BACKEND: {
		const char *s = *(char *const *)(base + o->off);
		snprintf(buf, len, "%s", s ? s : "platform default");
		if ((!s && strcmp(o->name, "scenario") == 0) || strcmp(o->name, "do-clsid") == 0)
			snprintf(buf, len, "none");
		if (!s && strcmp(o->name, "log-file") == 0)
			snprintf(buf, len, "none: stderr");
		break;
	}
	case T_LIST:
	case T_SIDS:
		snprintf(buf, len, "none");
		break;
	case T_MODE:
		snprintf(buf, len, "%s", *(const bool *)(base + o->off) ? "service" : "user");
		break;
	case T_U32:
		snprintf(buf, len, "%u", *(const uint32_t *)(base + o->off));
		break;
	case T_U64:
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)(base + o->off));
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", *(const bool *)(base + o->off) ? "true" : "false");
		break;
	case T_POLICY:
	case T_EXHAUSTED:
		snprintf(buf, len, "%s", dob_policy_name(*(const enum dob_policy_kind *)(base + o->off)));
		break;
	case T_LEVEL: {
		static const char *const lv[] = { "error", "warn", "info", "debug" };
		int l = *(const int *)(base + o->off);
		snprintf(buf, len, "%s", lv[l >= 0 && l <= 3 ? l : 2]);
		break;
	}
	case T_EVLEVEL:
		snprintf(buf, len, "%s",
			 dob_log_event_level_name((enum dob_event_level) * (const int *)(base + o->off)));
		break;
	}
}

void config_print_help(FILE *out, const char *prog)
{
	struct program_config d;

	config_prog_defaults(&d);
	fprintf(out,
		"Usage: %s [--config FILE] [--OPTION=VALUE ...]\n"
		"       %s install [--config FILE] [--OPTION=VALUE ...]   (Windows)\n"
		"       %s uninstall                                      (Windows)\n"
		"\n"
		"dobrokerd owns the Delivery Optimization / BITS job callbacks and streams\n"
		"job errors to subscribers over %s, who answer with actions.\n"
		"\n"
		"Commands (Windows only; run elevated):\n"
		"  install [OPTIONS]   register the service \"dobroker\" (started on demand,\n"
		"                      LocalSystem) to run with OPTIONS, and the Event Log\n"
		"                      source \"dobroker\"; use absolute paths in OPTIONS\n"
		"  uninstall           stop and delete the service, remove the event source\n"
		"\n"
		"Options (each may also be set in the config file as `option = value`;\n"
		"flags win over the file; relative paths in the file are relative to the\n"
		"file's folder):\n"
		"  --config FILE                      read settings from FILE first\n"
		"  --help, -h                         print this text and exit\n"
		"  --version                          print the version and exit\n",
		prog, prog, prog, "a local socket or named pipe");
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[64], def[64];
		const char *base = (opts[i].flags & F_PROG) ? (const char *)&d
							    : (const char *)&d.broker;
		snprintf(left, sizeof(left), "--%s %s", opts[i].name, opts[i].arg);
		value_text(&opts[i], base, def, sizeof(def));
		if (strcmp(opts[i].name, "backend") == 0)
			snprintf(def, sizeof(def), "sim (native), auto (Windows)");
		fprintf(out, "  %-34s %s (default: %s)%s\n", left, opts[i].help, def,
			(opts[i].flags & F_RESTART) ? " [restart]" : "");
	}
	config_prog_clear(&d);
	fprintf(out,
		"\n"
		"Reload: SIGHUP (Windows service: SERVICE_CONTROL_PARAMCHANGE, `sc control\n"
		"dobroker paramchange`) reads the config file and the flags again and applies\n"
		"every setting not marked [restart]; the log names what changed and what\n"
		"waits for a restart.\n"
		"\n"
		"Exit status: 0 after a clean shutdown (SIGINT/SIGTERM), 1 on a start\n"
		"failure, 2 on a bad option.\n");
}

bool config_needs_restart(const char *key)
{
	const struct opt *o = find(key);

	return o && (o->flags & F_RESTART);
}

/* Appends "item" to a comma-separated list in buf. */
static void list_add(char *buf, size_t len, const char *item)
{
	size_t n = strlen(buf);

	if (n + 1 >= len)
		return;
	snprintf(buf + n, len - n, "%s%s", n ? ", " : "", item);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same(const struct opt *o, const char *a, const char *b)
{
	switch (o->type) {
	case T_STR:
	case T_BACKEND:
		return str_eq(*(char *const *)(a + o->off), *(char *const *)(b + o->off));
	case T_LIST: {
		const struct broker_config *x = (const void *)a, *y = (const void *)b;
		if (x->n_test_listeners != y->n_test_listeners)
			return false;
		for (size_t i = 0; i < x->n_test_listeners; i++)
			if (!str_eq(x->test_listeners[i], y->test_listeners[i]))
				return false;
		return true;
	}
	case T_SIDS: {
		const struct broker_config *x = (const void *)a, *y = (const void *)b;
		if (x->n_submit_allow != y->n_submit_allow)
			return false;
		for (size_t i = 0; i < x->n_submit_allow; i++)
			if (!str_eq(x->submit_allow[i], y->submit_allow[i]))
				return false;
		return true;
	}
	case T_MODE:
		return *(const bool *)(a + o->off) == *(const bool *)(b + o->off);
	case T_U32:
		return *(const uint32_t *)(a + o->off) == *(const uint32_t *)(b + o->off);
	case T_U64:
		return *(const uint64_t *)(a + o->off) == *(const uint64_t *)(b + o->off);
	case T_BOOL:
		return *(const bool *)(a + o->off) == *(const bool *)(b + o->off);
	case T_POLICY:
	case T_EXHAUSTED:
		return *(const enum dob_policy_kind *)(a + o->off) ==
		       *(const enum dob_policy_kind *)(b + o->off);
	case T_LEVEL:
	case T_EVLEVEL:
		return *(const int *)(a + o->off) == *(const int *)(b + o->off);
	}
	return true;
}

int config_merge(struct broker_config *rb, struct program_config *rp,
		 const struct program_config *next, char *changed, size_t clen, char *restart,
		 size_t rlen)
{
	int rc = 0;

	if (clen)
		changed[0] = '\0';
	if (rlen)
		restart[0] = '\0';
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		char *run = (o->flags & F_PROG) ? (char *)rp : (char *)rb;
		const char *nx = (o->flags & F_PROG) ? (const char *)next
						     : (const char *)&next->broker;
		char item[600], val[512];

		if (same(o, run, nx))
			continue;
		if (o->flags & F_RESTART) {
			list_add(restart, rlen, o->name);
			continue;
		}
		value_text(o, nx, val, sizeof(val));
		snprintf(item, sizeof(item), "%s=%s", o->name, val);
		list_add(changed, clen, item);
		if (o->type == T_STR) {
			/* Only program strings (log-file) can change while running. */
			char **dst = (char **)(run + o->off);
			const char *src = *(char *const *)(nx + o->off);
			char *copy = NULL;

			if (src && !(copy = dob_strdup(src))) {
				rc = -DOB_ENOMEM;
				continue;
			}
			dob_free(*dst);
			*dst = copy;
			continue;
		}
		switch (o->type) {
		case T_U32:
			*(uint32_t *)(run + o->off) = *(const uint32_t *)(nx + o->off);
			break;
		case T_U64:
			*(uint64_t *)(run + o->off) = *(const uint64_t *)(nx + o->off);
			break;
		case T_BOOL:
			*(bool *)(run + o->off) = *(const bool *)(nx + o->off);
			break;
		case T_POLICY:
		case T_EXHAUSTED:
			*(enum dob_policy_kind *)(run + o->off) =
				*(const enum dob_policy_kind *)(nx + o->off);
			break;
		case T_LEVEL:
		case T_EVLEVEL:
			*(int *)(run + o->off) = *(const int *)(nx + o->off);
			break;
		default:
			break; /* strings and lists above, or restart-only */
		}
	}
	return rc;
}
