/*
 * client/dobctl.c - the command-line client of dobrokerd (docs/dobctl.md).
 *
 * Everything it knows of the OS comes through libdobclient (transport.h)
 * and spawn_cmd.h, so this file is the same on POSIX and Windows.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "dob/msg.h"
#include "dobclient.h"
#include "dobctl_util.h"
#include "jsonw.h"
#include "spawn_cmd.h"

/* Exit codes (documented in usage() and docs/dobctl.md). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_CONNECT = 2,
	EXIT_PROTOCOL = 3,
	EXIT_REFUSED = 4,
	EXIT_TIMEOUT = 5,
};

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_EXEC_TIMEOUT_MS 60000

static const char usage_text[] =
	"usage: dobctl [--endpoint E] [--name N] [--timeout MS] COMMAND [ARGS]\n"
	"\n"
	"Talks to dobrokerd, the Delivery Optimization / BITS job broker.\n"
	"\n"
	"global options:\n"
	"  --endpoint E   the broker's socket path (POSIX) or pipe name (Windows);\n"
	"                 default: %s\n"
	"  --name N       client name shown by the broker (default: dobctl)\n"
	"  --timeout MS   for connecting and for each request (default: 5000)\n"
	"\n"
	"commands:\n"
	"  watch [--json] [--job GUID]... [--prefix P]\n"
	"        [--kinds error,transferred,modified,resolution]\n"
	"        [--on-error=ask|resume|cancel|complete|suspend|none]\n"
	"        [--exec CMD] [--exec-timeout MS] [--count N]\n"
	"      print events, one line each (--json: one JSON object per line).\n"
	"      --on-error answers every JobError with that action (ask: prompt on\n"
	"      the terminal, action by action). --exec runs CMD through the shell\n"
	"      for every JobError with the event in its environment (DOB_JOB_ID,\n"
	"      DOB_EPISODE_ID, DOB_HRESULT, DOB_STATE, DOB_DISPLAY_NAME, DOB_URL,\n"
	"      DOB_LOCAL_NAME, DOB_ERROR_DESCRIPTION, DOB_ERROR_CONTEXT,\n"
	"      DOB_REPEAT_COUNT, DOB_EVENT_JSON); the first line CMD prints is the\n"
	"      reply: resume, cancel, complete, suspend, resume-after-delay MS, or\n"
	"      none / nothing. CMD is killed after --exec-timeout (default 60000).\n"
	"      --count N exits after N events.\n"
	"  act JOB ACTION [--episode ID] [--delay MS]\n"
	"      ACTION: cancel, complete, resume, suspend, resume-after-delay\n"
	"      (which needs --delay).\n"
	"  submit URL PATH [--name N] [--priority foreground|high|normal|low]\n"
	"        [--policy P] [--deadline MS]\n"
	"      have the broker create a download job; prints its id.\n"
	"      P: none, cancel, complete, or resume:MAX:BACKOFF_MS[:none|cancel|complete]\n"
	"  adopt JOB [--policy P] [--deadline MS]\n"
	"      have the broker manage an existing job (replaces its callback).\n"
	"  jobs [--json]     list the managed jobs you may see\n"
	"  stats [--json]    the broker's counters\n"
	"  history [--job GUID]... [--limit N] [--json]\n"
	"      resolved episodes you may see, newest first: when, who decided\n"
	"      what, the HRESULT and the job's state after it (N: 1..4096).\n"
	"  unmanaged [--json]\n"
	"      jobs the backend has that the broker does not manage (yours; every\n"
	"      user's for an administrator): the GUID to pass to adopt. The DO\n"
	"      backend cannot list them (exit 4).\n"
	"  ping              round trip to the broker\n"
	"\n"
	"exit codes:\n"
	"  0  success (watch: --count reached)\n"
	"  1  usage error\n"
	"  2  cannot connect to the broker\n"
	"  3  protocol error, or the broker closed the connection\n"
	"  4  the broker refused the request (its status and message are printed)\n"
	"  5  timeout waiting for the broker\n"
	"Messages go to stderr and say why.\n";

struct global {
	const char *endpoint; /* NULL = default */
	const char *name;
	int timeout_ms;
};

/* ---------------------------------------------------------------- messages */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void PRINTF_LIKE(1, 2) say(const char *fmt, ...)
{
	va_list ap;

	fputs("dobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int PRINTF_LIKE(1, 2) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("dobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'dobctl --help'.\n", stderr);
	return EXIT_USAGE;
}

/* The exit code for an error on an established connection. */
static int exit_for(int err)
{
	if (err == -DOB_ETIMEDOUT)
		return EXIT_TIMEOUT;
	if (err == -DOB_EREMOTE)
		return EXIT_REFUSED;
	if (err == -DOB_EINVAL)
		return EXIT_USAGE;
	return EXIT_PROTOCOL;
}

/* Reports a failed request and returns its exit code. */
static int request_failed(struct dobc *c, const char *what, int r)
{
	const struct dobc_error *e = dobc_last_error(c);

	say("%s: %s", what, e->message[0] ? e->message : dobc_strerror(r));
	return exit_for(r);
}

/* ---------------------------------------------------------------- options */

/* If argv[*i] is option name ("--name V" or "--name=V"), sets *val, moves
 * *i past it and returns 1; 0 when it is another word; -1 when the value is
 * missing. With val NULL the option takes no value. */
static int opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (!val)
		return a[n] == '\0' ? (*i += 1, 1) : 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		*i += 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		usage_error("%s needs a value", name);
		return -1;
	}
	*val = argv[*i + 1];
	*i += 2;
	return 1;
}

static int parse_ms(const char *what, const char *s, uint32_t *out)
{
	if (dobctl_parse_u32(s, out) < 0)
		return usage_error("%s wants a number of milliseconds, got '%s'", what, s);
	return 0;
}

static int parse_guid(const char *s, struct dob_guid *g)
{
	if (dob_guid_parse(s, g) < 0)
		return usage_error("bad job id '%s': want a GUID like "
				   "{01234567-89ab-cdef-0123-456789abcdef}", s);
	return 0;
}

static int connect_as(const struct global *g, enum dob_role role, const struct dob_filter *f,
		      struct dobc **c)
{
	struct dobc_error e;
	struct dobc_options o = {
		.endpoint = g->endpoint,
		.client_name = g->name,
		.role = role,
		.filter = f,
		.connect_timeout_ms = g->timeout_ms,
		.error = &e,
	};
	char def[DOBC_ENDPOINT_MAX];
	int r;

	memset(&e, 0, sizeof e);
	r = dobc_connect(c, &o);
	if (r == 0)
		return 0;
	if (!g->endpoint && dobc_default_endpoint(def, sizeof def) < 0)
		def[0] = '\0';
	if (r == -DOB_EINVAL) {
		/* A bad filter or name: the Hello failed validation. */
		return usage_error("%s", e.message[0] ? e.message : dobc_strerror(r));
	}
	if (r == -DOB_EPROTO || r == -DOB_EVERSION) {
		say("the broker at %s refused the connection: %s", g->endpoint ? g->endpoint : def,
		    e.message[0] ? e.message : dobc_strerror(r));
		return EXIT_PROTOCOL;
	}
	say("cannot connect to %s: %s", g->endpoint ? g->endpoint : def,
	    e.message[0] ? e.message : dobc_strerror(r));
	return EXIT_CONNECT;
}

static void print_json(struct jsonw *w)
{
	const char *s = jsonw_finish(w);

	if (s)
		printf("%s\n", s);
	else
		say("out of memory writing JSON");
	fflush(stdout);
	jsonw_reset(w);
}

/* ---------------------------------------------------------------- watch */

enum reply_mode { REPLY_NONE, REPLY_FIXED, REPLY_ASK, REPLY_EXEC };

struct watch {
	bool json;
	enum reply_mode mode;
	enum dob_action action;   /* REPLY_FIXED */
	const char *exec;         /* REPLY_EXEC */
	int exec_timeout_ms;
	uint64_t count;           /* 0 = no limit */
	bool stdin_done;          /* REPLY_ASK: stdin hit end of file */
	struct jsonw w;
};

/* Asks yes/no on the terminal. Returns 1 yes, 0 no, -1 end of input. */
static int ask_yes_no(const char *question)
{
	char line[64];

	for (;;) {
		fprintf(stderr, "%s [y/n] ", question);
		fflush(stderr);
		if (!fgets(line, sizeof line, stdin))
			return -1;
		if (line[0] == 'y' || line[0] == 'Y')
			return 1;
		if (line[0] == 'n' || line[0] == 'N')
			return 0;
		fprintf(stderr, "please answer y or n\n");
	}
}

static enum dob_action ask_action(struct watch *wa, const struct dob_job_error *e)
{
	static const enum dob_action order[] = { DOB_ACTION_RESUME, DOB_ACTION_CANCEL,
						 DOB_ACTION_COMPLETE, DOB_ACTION_SUSPEND };
	char g[DOB_GUID_STR_LEN], q[160];
	size_t i;

	if (wa->stdin_done)
		return DOB_ACTION_UNSPECIFIED;
	dob_guid_format(&e->job.job_id, g);
	for (i = 0; i < sizeof order / sizeof order[0]; i++) {
		int r;

		snprintf(q, sizeof q, "episode %" PRIu64 " of %s: %s?", e->episode_id, g,
			 dobctl_action_name(order[i]));
		r = ask_yes_no(q);
		if (r < 0) {
			say("end of input: no more answers");
			wa->stdin_done = true;
			return DOB_ACTION_UNSPECIFIED;
		}
		if (r == 1)
			return order[i];
	}
	return DOB_ACTION_UNSPECIFIED;
}

static enum dob_action exec_action(struct watch *wa, const struct dob_msg *m, uint32_t *delay)
{
	char line[256], why[DOBCTL_WHY_MAX];
	char **env = NULL;
	enum dob_action a = DOB_ACTION_UNSPECIFIED;
	int code = 0, r;

	*delay = 0;
	if (dobctl_exec_env(m, &env) < 0) {
		say("--exec: out of memory");
		return a;
	}
	why[0] = '\0';
	r = spawn_capture(wa->exec, (const char *const *)env, line, sizeof line, wa->exec_timeout_ms,
			  &code, why, sizeof why);
	dobctl_env_free(env);
	if (r < 0) {
		say("--exec '%s': %s; no reply sent", wa->exec, why);
		return a;
	}
	if (code != 0)
		say("--exec '%s' exited with status %d; its reply is used all the same", wa->exec,
		    code);
	if (dobctl_parse_reply(line, &a, delay, why, sizeof why) < 0) {
		say("--exec '%s': %s; no reply sent", wa->exec, why);
		return DOB_ACTION_UNSPECIFIED;
	}
	return a;
}

/* Answers a JobError as the watch's mode says. Returns 0, or the exit
 * code when the connection is over. */
static int answer(struct dobc *c, const struct global *g, struct watch *wa, const struct dob_msg *m)
{
	const struct dob_job_error *e = &m->u.job_error;
	struct dob_action_result res;
	enum dob_action a = DOB_ACTION_UNSPECIFIED;
	uint32_t delay = 0;
	int r;

	switch (wa->mode) {
	case REPLY_FIXED:
		a = wa->action;
		break;
	case REPLY_ASK:
		a = ask_action(wa, e);
		break;
	case REPLY_EXEC:
		a = exec_action(wa, m, &delay);
		break;
	case REPLY_NONE:
		break;
	}
	if (a == DOB_ACTION_UNSPECIFIED)
		return 0;
	r = dobc_act(c, &e->job.job_id, e->episode_id, a, delay, &res, g->timeout_ms);
	if (r == 0 || r == -DOB_EREMOTE) {
		if (wa->json) {
			dobctl_action_result_json(&wa->w, &e->job.job_id, e->episode_id, a, &res);
			print_json(&wa->w);
		} else {
			printf("  -> %s: %s", dobctl_action_name(a), dob_status_name(res.status));
			if (r == 0)
				printf(", now %s (hr=0x%08" PRIX32 ")", dob_state_name(res.new_state),
				       res.hresult);
			if (res.message && *res.message)
				printf(": %s", res.message);
			if (res.status == DOB_STATUS_ALREADY_RESOLVED)
				printf(" (won by \"%s\", session %" PRIu64 ": %s)",
				       res.winner.client_name ? res.winner.client_name : "",
				       res.winner.session_id, dobctl_action_name(res.winner_action));
			printf("\n");
			fflush(stdout);
		}
		dobc_action_result_clear(&res);
		return 0;
	}
	if (r == -DOB_ETIMEDOUT || r == -DOB_EINVAL) {
		request_failed(c, "act", r);
		return 0;
	}
	return request_failed(c, "act", r);
}

static int cmd_watch(const struct global *g, int argc, char **argv)
{
	struct dob_guid jobs[DOB_MAX_FILTER_JOBS];
	struct dob_filter f;
	struct watch wa;
	struct dobc *c = NULL;
	const char *v, *on_error = NULL;
	char why[DOBCTL_WHY_MAX];
	uint64_t seen = 0;
	int i = 0, r, code = EXIT_OK;

	memset(&f, 0, sizeof f);
	memset(&wa, 0, sizeof wa);
	wa.exec_timeout_ms = DEFAULT_EXEC_TIMEOUT_MS;
	while (i < argc) {
		if ((r = opt(argc, argv, &i, "--json", NULL)) != 0) {
			wa.json = true;
		} else if ((r = opt(argc, argv, &i, "--job", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (f.n_job_ids == DOB_MAX_FILTER_JOBS)
				return usage_error("at most %d --job", DOB_MAX_FILTER_JOBS);
			if (parse_guid(v, &jobs[f.n_job_ids]))
				return EXIT_USAGE;
			f.n_job_ids++;
		} else if ((r = opt(argc, argv, &i, "--prefix", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			f.display_name_prefix = (char *)v;
		} else if ((r = opt(argc, argv, &i, "--kinds", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_kinds(v, &f.kind_mask, why, sizeof why) < 0)
				return usage_error("--kinds: %s", why);
		} else if ((r = opt(argc, argv, &i, "--on-error", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			on_error = v;
		} else if ((r = opt(argc, argv, &i, "--exec", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (!*v)
				return usage_error("--exec needs a command");
			wa.exec = v;
		} else if ((r = opt(argc, argv, &i, "--exec-timeout", &v)) != 0) {
			uint32_t ms;

			if (r < 0 || parse_ms("--exec-timeout", v, &ms))
				return EXIT_USAGE;
			wa.exec_timeout_ms = ms > 0x7fffffff ? 0x7fffffff : (int)ms;
		} else if ((r = opt(argc, argv, &i, "--count", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(v, &wa.count) < 0 || wa.count == 0)
				return usage_error("--count wants a number >= 1, got '%s'", v);
		} else {
			return usage_error("watch: unexpected '%s'", argv[i]);
		}
	}
	if (on_error && strcmp(on_error, "none") != 0) {
		if (wa.exec)
			return usage_error("--on-error and --exec both answer errors: choose one");
		if (strcmp(on_error, "ask") == 0) {
			if (!spawn_stdin_is_terminal())
				return usage_error("--on-error=ask needs a terminal on stdin to ask on; "
						   "use --on-error=ACTION or --exec CMD in scripts");
			wa.mode = REPLY_ASK;
		} else {
			r = dobctl_parse_action(on_error);
			if (r < 0 || r == DOB_ACTION_RESUME_AFTER_DELAY)
				return usage_error("--on-error wants ask, resume, cancel, complete, suspend "
						   "or none, got '%s'", on_error);
			wa.mode = REPLY_FIXED;
			wa.action = (enum dob_action)r;
		}
	} else if (wa.exec) {
		wa.mode = REPLY_EXEC;
	}
	f.job_ids = f.n_job_ids ? jobs : NULL;

	code = connect_as(g, wa.mode == REPLY_NONE ? DOB_ROLE_OBSERVER : DOB_ROLE_CONTROLLER, &f, &c);
	if (code)
		return code;
	if (!wa.json) {
		const struct dob_welcome *w = dobc_welcome(c);

		say("watching: %s, backend %s, session %" PRIu64 ", %" PRIu32 " pending episode%s%s",
		    w->broker_version ? w->broker_version : "broker", dob_backend_name(w->backend),
		    w->session_id, w->pending_episodes, w->pending_episodes == 1 ? "" : "s",
		    wa.mode == REPLY_NONE ? "" : " (controller)");
	}
	jsonw_init(&wa.w);
	for (;;) {
		struct dob_msg m;

		r = dobc_next_event(c, &m, DOBC_TIMEOUT_INFINITE);
		if (r < 0) {
			code = request_failed(c, "watch", r);
			break;
		}
		if (wa.json) {
			dobctl_event_json(&wa.w, &m);
			print_json(&wa.w);
		} else {
			char line[2048];

			dobctl_event_line(&m, line, sizeof line);
			printf("%s\n", line);
			fflush(stdout);
		}
		if (m.type == DOB_MSG_JOB_ERROR && wa.mode != REPLY_NONE)
			code = answer(c, g, &wa, &m);
		dob_msg_clear(&m);
		if (code)
			break;
		if (wa.count && ++seen >= wa.count)
			break;
	}
	jsonw_free(&wa.w);
	dobc_close(c);
	return code;
}

/* ---------------------------------------------------------------- act */

static int cmd_act(const struct global *g, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *v;
	struct dob_action_result res;
	struct dob_guid job;
	struct dobc *c = NULL;
	uint64_t episode = 0;
	uint32_t delay = 0;
	bool have_delay = false;
	int i = 0, n = 0, r, action, code;
	char gs[DOB_GUID_STR_LEN];

	while (i < argc) {
		if ((r = opt(argc, argv, &i, "--episode", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(v, &episode) < 0)
				return usage_error("--episode wants an episode id, got '%s'", v);
		} else if ((r = opt(argc, argv, &i, "--delay", &v)) != 0) {
			if (r < 0 || parse_ms("--delay", v, &delay))
				return EXIT_USAGE;
			have_delay = true;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return usage_error("act: unknown option '%s'", argv[i]);
		} else {
			if (n == 2)
				return usage_error("act: unexpected '%s'", argv[i]);
			pos[n++] = argv[i++];
		}
	}
	if (n != 2)
		return usage_error("act needs JOB and ACTION");
	if (parse_guid(pos[0], &job))
		return EXIT_USAGE;
	action = dobctl_parse_action(pos[1]);
	if (action < 0)
		return usage_error("unknown action '%s': want cancel, complete, resume, suspend or "
				   "resume-after-delay", pos[1]);
	if (action == DOB_ACTION_RESUME_AFTER_DELAY &&
	    (!have_delay || delay == 0 || delay > DOB_MAX_DELAY_MS))
		return usage_error("resume-after-delay needs --delay MS (1..%u)", DOB_MAX_DELAY_MS);
	if (action != DOB_ACTION_RESUME_AFTER_DELAY && have_delay)
		return usage_error("--delay goes with resume-after-delay only");

	code = connect_as(g, DOB_ROLE_CONTROLLER, NULL, &c);
	if (code)
		return code;
	r = dobc_act(c, &job, episode, (enum dob_action)action, delay, &res, g->timeout_ms);
	dob_guid_format(&job, gs);
	if (r == 0) {
		printf("%s %s: OK, now %s (hr=0x%08" PRIX32 ")\n", dobctl_action_name(action), gs,
		       dob_state_name(res.new_state), res.hresult);
		code = EXIT_OK;
	} else if (r == -DOB_EREMOTE) {
		if (res.status == DOB_STATUS_ALREADY_RESOLVED)
			say("%s %s refused: %s%s%s (won by \"%s\", session %" PRIu64 ": %s)",
			    dobctl_action_name(action), gs, dob_status_name(res.status),
			    res.message && *res.message ? ": " : "", res.message ? res.message : "",
			    res.winner.client_name ? res.winner.client_name : "", res.winner.session_id,
			    dobctl_action_name(res.winner_action));
		else
			say("%s %s refused: %s%s%s (hr=0x%08" PRIX32 ")", dobctl_action_name(action),
			    gs, dob_status_name(res.status), res.message && *res.message ? ": " : "",
			    res.message ? res.message : "", res.hresult);
		code = EXIT_REFUSED;
	} else {
		code = request_failed(c, "act", r);
	}
	dobc_action_result_clear(&res);
	dobc_close(c);
	return code;
}

/* ---------------------------------------------------------------- submit, adopt */

/* --policy and --deadline, shared by submit and adopt. Returns 1 when
 * argv[*i] was one of them, 0 when not, -1 on a usage error. */
static int policy_opt(int argc, char **argv, int *i, struct dob_policy *p, uint32_t *deadline,
		      bool *have_deadline)
{
	char why[DOBCTL_WHY_MAX];
	const char *v;
	int r;

	if ((r = opt(argc, argv, i, "--policy", &v)) != 0) {
		if (r < 0)
			return -1;
		if (dobctl_parse_policy(v, p, why, sizeof why) < 0) {
			usage_error("--policy: %s", why);
			return -1;
		}
		return 1;
	}
	if ((r = opt(argc, argv, i, "--deadline", &v)) != 0) {
		if (r < 0 || parse_ms("--deadline", v, deadline))
			return -1;
		*have_deadline = true;
		return 1;
	}
	return 0;
}

static void print_reply_job(const struct dob_job_reply *rep, bool full)
{
	char gs[DOB_GUID_STR_LEN], pol[64];

	if (!rep->has_job) {
		say("the broker said OK but sent no job");
		return;
	}
	dob_guid_format(&rep->job.job.job_id, gs);
	if (!full) {
		printf("%s\n", gs);
		return;
	}
	dobctl_format_policy(&rep->job.policy, pol, sizeof pol);
	printf("%s %s policy %s \"%s\"\n", gs, dob_state_name(rep->job.job.state), pol,
	       rep->job.job.display_name ? rep->job.job.display_name : "");
}

static int job_request_done(struct dobc *c, const char *what, int r, struct dob_job_reply *rep,
			    bool full)
{
	int code = EXIT_OK;

	if (r == 0) {
		print_reply_job(rep, full);
	} else if (r == -DOB_EREMOTE) {
		say("%s refused: %s%s%s", what, dob_status_name(rep->status),
		    rep->message && *rep->message ? ": " : "", rep->message ? rep->message : "");
		if (rep->hresult)
			say("the backend's code: 0x%08" PRIX32, rep->hresult);
		code = EXIT_REFUSED;
	} else {
		code = request_failed(c, what, r);
	}
	dobc_job_reply_clear(rep);
	dobc_close(c);
	return code;
}

static int cmd_submit(const struct global *g, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *v, *name = "dobctl";
	struct dob_file_spec file;
	struct dob_submit_job job;
	struct dob_job_reply rep;
	struct dobc *c = NULL;
	bool have_deadline = false;
	uint32_t deadline = 0;
	int i = 0, n = 0, r, code;

	memset(&job, 0, sizeof job);
	job.priority = DOB_PRIORITY_NORMAL;
	job.type = DOB_JOB_DOWNLOAD;
	while (i < argc) {
		if ((r = policy_opt(argc, argv, &i, &job.policy, &deadline, &have_deadline)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
		} else if ((r = opt(argc, argv, &i, "--name", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			name = v;
		} else if ((r = opt(argc, argv, &i, "--priority", &v)) != 0) {
			int p;

			if (r < 0)
				return EXIT_USAGE;
			p = dobctl_parse_priority(v);
			if (p < 0)
				return usage_error("--priority wants foreground, high, normal or low, got '%s'",
						   v);
			job.priority = (enum dob_priority)p;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return usage_error("submit: unknown option '%s'", argv[i]);
		} else {
			if (n == 2)
				return usage_error("submit: unexpected '%s'", argv[i]);
			pos[n++] = argv[i++];
		}
	}
	if (n != 2)
		return usage_error("submit needs URL and PATH");
	if (have_deadline)
		job.policy.deadline_ms = deadline;
	file.remote_url = (char *)pos[0];
	file.local_path = (char *)pos[1];
	job.display_name = (char *)name;
	job.n_files = 1;
	job.files = &file;

	/* Observers may create and adopt jobs (docs/protocol.md, 2). */
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_submit(c, &job, &rep, g->timeout_ms);
	return job_request_done(c, "submit", r, &rep, false);
}

static int cmd_adopt(const struct global *g, int argc, char **argv)
{
	struct dob_policy policy;
	struct dob_job_reply rep;
	struct dob_guid job;
	struct dobc *c = NULL;
	const char *pos = NULL;
	bool have_deadline = false;
	uint32_t deadline = 0;
	int i = 0, r, code;

	memset(&policy, 0, sizeof policy);
	while (i < argc) {
		if ((r = policy_opt(argc, argv, &i, &policy, &deadline, &have_deadline)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return usage_error("adopt: unknown option '%s'", argv[i]);
		} else {
			if (pos)
				return usage_error("adopt: unexpected '%s'", argv[i]);
			pos = argv[i++];
		}
	}
	if (!pos)
		return usage_error("adopt needs JOB");
	if (parse_guid(pos, &job))
		return EXIT_USAGE;
	if (have_deadline)
		policy.deadline_ms = deadline;

	/* Observers may create and adopt jobs (docs/protocol.md, 2). */
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_adopt(c, &job, &policy, &rep, g->timeout_ms);
	return job_request_done(c, "adopt", r, &rep, true);
}

/* ---------------------------------------------------------------- jobs, stats, ping */

/* Parses "[--json]" for commands that take nothing else. */
static int json_only(const char *cmd, int argc, char **argv, bool *json)
{
	int i = 0;

	*json = false;
	while (i < argc) {
		if (opt(argc, argv, &i, "--json", NULL))
			*json = true;
		else
			return usage_error("%s: unexpected '%s'", cmd, argv[i]);
	}
	return 0;
}

static int cmd_jobs(const struct global *g, int argc, char **argv)
{
	struct dob_list_jobs_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	bool json;
	size_t k;
	int r, code;

	if (json_only("jobs", argc, argv, &json))
		return EXIT_USAGE;
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_list_jobs(c, &rep, g->timeout_ms);
	if (r < 0) {
		code = request_failed(c, "jobs", r);
		dobc_list_jobs_reply_clear(&rep);
		dobc_close(c);
		return code;
	}
	jsonw_init(&w);
	if (!json)
		printf("%-38s  %-16s %8s  %-22s %s\n", "JOB", "STATE", "EPISODE", "POLICY", "NAME");
	for (k = 0; k < rep.n_jobs; k++) {
		const struct dob_job_summary *j = &rep.jobs[k];
		char gs[DOB_GUID_STR_LEN], pol[64], ep[24];

		if (json) {
			dobctl_job_json(&w, j);
			print_json(&w);
			continue;
		}
		dob_guid_format(&j->job.job_id, gs);
		dobctl_format_policy(&j->policy, pol, sizeof pol);
		if (j->pending_episode_id)
			snprintf(ep, sizeof ep, "%" PRIu64, j->pending_episode_id);
		else
			snprintf(ep, sizeof ep, "-");
		printf("%-38s  %-16s %8s  %-22s %s\n", gs, dob_state_name(j->job.state), ep, pol,
		       j->job.display_name ? j->job.display_name : "");
	}
	jsonw_free(&w);
	dobc_list_jobs_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

static int cmd_stats(const struct global *g, int argc, char **argv)
{
	struct dob_stats s;
	struct dobc *c = NULL;
	struct jsonw w;
	bool json;
	size_t k;
	int r, code;

	if (json_only("stats", argc, argv, &json))
		return EXIT_USAGE;
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_stats(c, &s, g->timeout_ms);
	if (r < 0) {
		code = request_failed(c, "stats", r);
		dobc_stats_clear(&s);
		dobc_close(c);
		return code;
	}
	if (json) {
		jsonw_init(&w);
		dobctl_stats_json(&w, &s);
		print_json(&w);
		jsonw_free(&w);
	} else {
		printf("uptime_ms                %" PRIu64 "\n", s.uptime_ms);
		printf("subscribers              %" PRIu32 "\n", s.subscribers);
		printf("managed_jobs             %" PRIu32 "\n", s.managed_jobs);
		printf("pending_episodes         %" PRIu32 "\n", s.pending_episodes);
		printf("events_in                %" PRIu64 "\n", s.events_in);
		printf("events_out               %" PRIu64 "\n", s.events_out);
		printf("dropped                  %" PRIu64 "\n", s.dropped);
		printf("decision_latency_p50_us  %" PRIu64 "\n", s.decision_latency_p50_us);
		printf("decision_latency_p99_us  %" PRIu64 "\n", s.decision_latency_p99_us);
		for (k = 0; k < s.n_sessions; k++)
			printf("session %" PRIu64 " \"%s\" %s: queue %" PRIu32 ", out %" PRIu64
			       ", dropped %" PRIu64 "\n",
			       s.sessions[k].session_id,
			       s.sessions[k].client_name ? s.sessions[k].client_name : "",
			       dob_role_name(s.sessions[k].role), s.sessions[k].queue_depth,
			       s.sessions[k].events_out, s.sessions[k].dropped);
	}
	dobc_stats_clear(&s);
	dobc_close(c);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- history, unmanaged */

static int cmd_history(const struct global *g, int argc, char **argv)
{
	struct dob_guid jobs[DOB_MAX_FILTER_JOBS];
	struct dob_history_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t n_jobs = 0, k;
	uint32_t limit = 0;
	bool json = false;
	const char *v;
	int i = 0, r, code;

	while (i < argc) {
		if (opt(argc, argv, &i, "--json", NULL)) {
			json = true;
		} else if ((r = opt(argc, argv, &i, "--job", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (n_jobs == DOB_MAX_FILTER_JOBS)
				return usage_error("history: at most %d --job options",
						   DOB_MAX_FILTER_JOBS);
			if (parse_guid(v, &jobs[n_jobs]))
				return EXIT_USAGE;
			n_jobs++;
		} else if ((r = opt(argc, argv, &i, "--limit", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u32(v, &limit) < 0 || limit < 1 || limit > DOB_MAX_HISTORY)
				return usage_error("history: --limit wants 1..%d, got '%s'",
						   DOB_MAX_HISTORY, v);
		} else {
			return usage_error("history: unexpected '%s'", argv[i]);
		}
	}
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_list_history(c, n_jobs ? jobs : NULL, n_jobs, limit, &rep, g->timeout_ms);
	if (r < 0) {
		code = request_failed(c, "history", r);
		dobc_history_reply_clear(&rep);
		dobc_close(c);
		return code;
	}
	jsonw_init(&w);
	for (k = 0; k < rep.n_entries; k++) {
		char line[1024];

		if (json) {
			dobctl_history_json(&w, &rep.entries[k]);
			print_json(&w);
			continue;
		}
		dobctl_history_line(&rep.entries[k], line, sizeof line);
		printf("%s\n", line);
	}
	if (rep.message && *rep.message)
		say("history: %s", rep.message); /* e.g. truncated to one frame */
	jsonw_free(&w);
	dobc_history_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

static int cmd_unmanaged(const struct global *g, int argc, char **argv)
{
	struct dob_unmanaged_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	bool json;
	size_t k;
	int r, code;

	if (json_only("unmanaged", argc, argv, &json))
		return EXIT_USAGE;
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_list_unmanaged(c, &rep, g->timeout_ms);
	if (r < 0) {
		code = request_failed(c, "unmanaged", r);
		dobc_unmanaged_reply_clear(&rep);
		dobc_close(c);
		return code;
	}
	jsonw_init(&w);
	if (!json)
		printf("%-38s  %-16s %-24s %s\n", "JOB", "STATE", "OWNER", "NAME");
	for (k = 0; k < rep.n_jobs; k++) {
		const struct dob_job_info *j = &rep.jobs[k];
		char gs[DOB_GUID_STR_LEN];

		if (json) {
			dobctl_unmanaged_json(&w, j);
			print_json(&w);
			continue;
		}
		dob_guid_format(&j->job_id, gs);
		printf("%-38s  %-16s %-24s %s\n", gs, dob_state_name(j->state),
		       j->owner && *j->owner ? j->owner : "-",
		       j->display_name ? j->display_name : "");
	}
	if (rep.message && *rep.message)
		say("unmanaged: %s", rep.message);
	jsonw_free(&w);
	dobc_unmanaged_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

static int cmd_ping(const struct global *g, int argc, char **argv)
{
	const struct dob_welcome *w;
	struct dobc *c = NULL;
	int64_t rtt = 0;
	int r, code;

	if (argc > 0)
		return usage_error("ping: unexpected '%s'", argv[0]);
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_ping(c, &rtt, g->timeout_ms);
	if (r < 0) {
		code = request_failed(c, "ping", r);
	} else {
		w = dobc_welcome(c);
		printf("pong in %" PRId64 " us from %s (backend %s, session %" PRIu64 ")\n", rtt,
		       w->broker_version && *w->broker_version ? w->broker_version : "broker",
		       dob_backend_name(w->backend), w->session_id);
	}
	dobc_close(c);
	return code;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct global *, int, char **);
	} cmds[] = {
		{ "watch", cmd_watch }, { "act", cmd_act },	{ "submit", cmd_submit },
		{ "adopt", cmd_adopt }, { "jobs", cmd_jobs }, { "stats", cmd_stats },
		{ "ping", cmd_ping }, { "history", cmd_history }, { "unmanaged", cmd_unmanaged },
	};
	struct global g = { .name = "dobctl", .timeout_ms = DEFAULT_TIMEOUT_MS };
	const char *v;
	int i = 1, r;
	size_t k;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			char def[DOBC_ENDPOINT_MAX];

			if (dobc_default_endpoint(def, sizeof def) < 0)
				def[0] = '\0';
			printf(usage_text, def);
			return EXIT_OK;
		}
		if ((r = opt(argc, argv, &i, "--endpoint", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			g.endpoint = *v ? v : NULL;
		} else if ((r = opt(argc, argv, &i, "--name", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			g.name = v;
		} else if ((r = opt(argc, argv, &i, "--timeout", &v)) != 0) {
			uint32_t ms;

			if (r < 0 || parse_ms("--timeout", v, &ms))
				return EXIT_USAGE;
			if (ms == 0 || ms > 0x7fffffff)
				return usage_error("--timeout wants 1..2147483647 ms");
			g.timeout_ms = (int)ms;
		} else {
			return usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return usage_error("no command");
	for (k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
		if (strcmp(argv[i], cmds[k].name) == 0)
			return cmds[k].run(&g, argc - i - 1, argv + i + 1);
	return usage_error("unknown command '%s'", argv[i]);
}
