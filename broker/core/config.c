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
#include "dob/err.h"
#include "log.h"
#include "platform.h"

enum opt_type { T_STR, T_U32, T_U64, T_BOOL, T_POLICY, T_EXHAUSTED, T_LEVEL, T_BACKEND, T_LIST };

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	uint64_t min, max; /* numbers */
	const char *arg;   /* placeholder in --help */
	const char *help;
};

#define OFF(f) offsetof(struct broker_config, f)
#define U32MAX 0xffffffffull

static const struct opt opts[] = {
	{ "endpoint", T_STR, OFF(endpoint), 0, 0, "PATH",
	  "socket path (POSIX) or pipe name (Windows) to listen on" },
	{ "state-dir", T_STR, OFF(state_dir), 0, 0, "DIR", "directory of the journal" },
	{ "backend", T_BACKEND, OFF(backend), 0, 0, "NAME", "job manager: sim, bits, do or auto" },
	{ "do-clsid", T_BACKEND, OFF(backend), 0, 0, "GUID",
	  "the do backend on this COM class instead of DO's own (the DO emulator, docs/do-emulator.md); "
	  "implies --backend do" },
	{ "scenario", T_STR, OFF(scenario), 0, 0, "FILE", "sim backend: scenario file to play" },
	{ "policy", T_POLICY, OFF(default_policy.kind), 0, 0, "KIND",
	  "default policy at an episode's deadline: none, resume, cancel or complete" },
	{ "deadline-ms", T_U32, OFF(default_deadline_ms), 0, U32MAX, "MS",
	  "time a controller has before the policy applies (0 = never)" },
	{ "policy-max-resumes", T_U32, OFF(default_policy.max_resumes), 0, 1000, "N",
	  "resume policy: resumes within one job's life" },
	{ "policy-backoff-ms", T_U32, OFF(default_policy.backoff_ms), 0, DOB_MAX_DELAY_MS, "MS",
	  "resume policy: delay before the first resume, doubled each time" },
	{ "policy-exhausted", T_EXHAUSTED, OFF(default_policy.exhausted), 0, 0, "KIND",
	  "resume policy: what to do after the last resume: none, cancel or complete" },
	{ "sweep-interval-ms", T_U32, OFF(sweep_interval_ms), 10, U32MAX, "MS",
	  "interval of the reconcile sweep that reads every managed job" },
	{ "action-timeout-ms", T_U32, OFF(action_timeout_ms), 1, U32MAX, "MS",
	  "time the backend has to carry out a request" },
	{ "handshake-timeout-ms", T_U32, OFF(handshake_timeout_ms), 1, U32MAX, "MS",
	  "time a client has to send Hello" },
	{ "max-frame", T_U32, OFF(max_frame), 1024, DOB_MAX_FRAME_CEILING, "BYTES",
	  "largest frame either side may send" },
	{ "queue-soft-limit", T_U32, OFF(queue_soft_limit), 1, U32MAX, "N",
	  "queued events past which non-error events are dropped (Gap)" },
	{ "queue-hard-limit", T_U32, OFF(queue_hard_limit), 2, U32MAX, "N",
	  "queued events past which a subscriber is disconnected" },
	{ "max-inflight", T_U32, OFF(max_inflight_requests), 1, U32MAX, "N",
	  "requests without a reply per connection" },
	{ "max-jobs", T_U32, OFF(max_jobs_per_identity), 1, U32MAX, "N",
	  "jobs one identity may submit or adopt" },
	{ "max-conns", T_U32, OFF(max_conns_per_identity), 1, U32MAX, "N",
	  "connections per identity" },
	{ "rate-limit", T_U32, OFF(rate_limit), 0, U32MAX, "N",
	  "frames per second per connection (0 = unlimited)" },
	{ "rate-burst", T_U32, OFF(rate_burst), 1, U32MAX, "N",
	  "frames a connection may send at once above the rate" },
	{ "journal-sync", T_BOOL, OFF(journal_sync), 0, 0, "BOOL",
	  "fsync every journal record (power-loss safety)" },
	{ "journal-compact-bytes", T_U64, OFF(journal_compact_bytes), 0, UINT64_MAX, "BYTES",
	  "compact the journal past this size (0 = 4 MiB)" },
	{ "log-level", T_LEVEL, OFF(log_level), 0, 0, "LEVEL", "error, warn, info or debug" },
	{ "allow-sandboxed", T_BOOL, OFF(allow_sandboxed), 0, 0, "BOOL",
	  "Windows: admit AppContainer and low-integrity clients" },
	{ "test-listener", T_LIST, OFF(test_listeners), 0, 0, "SPEC",
	  "POSIX tests: extra socket with a fixed identity, PATH=uid:N,sid:S,appcontainer:A,"
	  "integrity:N,sandboxed:0|1,privileged:0|1 (repeatable)" },
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
	c->max_inflight_requests = 64;
	c->max_jobs_per_identity = 256;
	c->max_conns_per_identity = 64;
	c->rate_limit = 2000;
	c->rate_burst = 4000;
	c->log_level = DOB_LOG_INFO;
}

static void free_list(struct broker_config *c)
{
	for (size_t i = 0; i < c->n_test_listeners; i++)
		dob_free(c->test_listeners[i]);
	dob_free(c->test_listeners);
	c->test_listeners = NULL;
	c->n_test_listeners = 0;
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

static const struct opt *find(const char *key)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, key) == 0)
			return &opts[i];
	return NULL;
}

int config_set(struct broker_config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	const struct opt *o = find(key);
	char *base = (char *)c;
	uint64_t n;
	int k;

	if (!o) {
		say(err, errlen, "unknown option '%s' (see --help)", key);
		return -DOB_EINVAL;
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
		char **p = (char **)(base + o->off);
		char *s;
		if (!*value) {
			say(err, errlen, "%s: empty value", key);
			return -DOB_EINVAL;
		}
		s = dob_strdup(value);
		if (!s)
			return -DOB_ENOMEM;
		dob_free(*p);
		*p = s;
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
	}
	return -DOB_EINVAL;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

int config_parse_text(struct broker_config *c, const char *text, size_t len, const char *name,
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
		rc = config_set(c, key, value, why, sizeof(why));
		if (rc) {
			say(err, errlen, "%s:%u: %s", name, line_no, why);
			return rc;
		}
	}
	return 0;
}

int config_load_file(struct broker_config *c, const char *path, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = plat_file_read_all(path, &buf, &len);

	if (rc) {
		say(err, errlen, "config file %s: %s", path, dob_strerror(rc));
		return rc;
	}
	rc = config_parse_text(c, (const char *)buf, len, path, err, errlen);
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

int config_parse_args(struct broker_config *c, int argc, char **argv, enum config_action *action,
		      char *err, size_t errlen)
{
	char key[64];
	const char *value;
	int i, used, rc;

	*action = CONFIG_RUN;
	/* Pass 1: --help, --version, --config. */
	for (i = 1; i < argc; i += used) {
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
			rc = config_load_file(c, value, err, errlen);
			if (rc)
				return rc;
		}
	}
	/* Pass 2: every other flag, over the file's values. */
	for (i = 1; i < argc; i += used) {
		used = split_flag(argc, argv, i, key, sizeof(key), &value, err, errlen);
		if (strcmp(key, "config") == 0)
			continue;
		rc = config_set(c, key, value, err, errlen);
		if (rc)
			return rc;
	}
	return config_check(c, err, errlen);
}

int config_check(const struct broker_config *c, char *err, size_t errlen)
{
	if (c->queue_soft_limit >= c->queue_hard_limit) {
		say(err, errlen, "queue-soft-limit (%u) must be below queue-hard-limit (%u)",
		    c->queue_soft_limit, c->queue_hard_limit);
		return -DOB_EINVAL;
	}
	if (c->default_policy.kind == DOB_POLICY_RESUME &&
	    c->default_policy.exhausted == DOB_POLICY_RESUME) {
		say(err, errlen, "policy-exhausted cannot be resume");
		return -DOB_EINVAL;
	}
	return 0;
}

static void default_text(const struct opt *o, const struct broker_config *d, char *buf,
			 size_t len)
{
	const char *base = (const char *)d;

	switch (o->type) {
	case T_STR:
	case T_BACKEND: {
		const char *s = *(char *const *)(base + o->off);
		snprintf(buf, len, "%s", s ? s : "platform default");
		if ((!s && strcmp(o->name, "scenario") == 0) || strcmp(o->name, "do-clsid") == 0)
			snprintf(buf, len, "none");
		break;
	}
	case T_LIST:
		snprintf(buf, len, "none");
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
	}
}

void config_print_help(FILE *out, const char *prog)
{
	struct broker_config d;

	config_defaults(&d);
	d.backend = "sim";
	fprintf(out,
		"Usage: %s [--config FILE] [--OPTION=VALUE ...]\n"
		"\n"
		"dobrokerd owns the Delivery Optimization / BITS job callbacks and streams\n"
		"job errors to subscribers over %s, who answer with actions.\n"
		"\n"
		"Options (each may also be set in the config file as `option = value`;\n"
		"flags win over the file):\n"
		"  --config FILE                      read settings from FILE first\n"
		"  --help                             print this text and exit\n"
		"  --version                          print the version and exit\n",
		prog, "a local socket or named pipe");
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[64], def[64];
		snprintf(left, sizeof(left), "--%s %s", opts[i].name, opts[i].arg);
		default_text(&opts[i], &d, def, sizeof(def));
		if (strcmp(opts[i].name, "backend") == 0)
			snprintf(def, sizeof(def), "sim (native), auto (Windows)");
		fprintf(out, "  %-34s %s (default: %s)\n", left, opts[i].help, def);
	}
	fprintf(out, "\nExit status: 0 after a clean shutdown (SIGINT/SIGTERM), 1 on a start\n"
		     "failure, 2 on a bad option.\n");
}
