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
#include "dobctl_top.h"
#include "dobctl_util.h"
#include "jsonw.h"
#include "spawn_cmd.h"
#include "transport.h"

/* The release, the same as the broker's (BROKER_VERSION). */
#define DOBCTL_VERSION "0.1.0"

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
#define ENDPOINT_ENV "DOBROKER_ENDPOINT"
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define EXEC_POLL_MS 20 /* how often running --exec commands are looked at */

static const char usage_text[] =
	"usage: dobctl [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Talks to dobrokerd, the Delivery Optimization / BITS job broker.\n"
	"Global options may stand anywhere on the line (before or after COMMAND).\n"
	"\n"
	"global options:\n"
	"  --endpoint E   the broker's socket path (POSIX) or pipe name (Windows);\n"
	"                 default: $" ENDPOINT_ENV " when set, else %s\n"
	"  --name N       client name shown by the broker (default: dobctl;\n"
	"                 after 'submit', --name is the job's display name)\n"
	"  --timeout MS   for connecting and for each request (default: 5000)\n"
	"  --json         output as JSON, one object per line, on every command\n"
	"  --help, -h     this text\n"
	"  --version      dobctl's version and protocol\n"
	"\n"
	"commands:\n"
	"  watch [--job GUID]... [--prefix P]\n"
	"        [--kinds error,transferred,modified,resolution]\n"
	"        [--on-error=ask|resume|cancel|complete|suspend|none]\n"
	"        [--exec CMD] [--exec-timeout MS] [--exec-concurrency N]\n"
	"        [--count N] [--reconnect]\n"
	"      print events, one line each.\n"
	"      --on-error answers every JobError with that action (ask: prompt on\n"
	"      the terminal, action by action). --exec runs CMD through the shell\n"
	"      for every JobError with the event in its environment (DOB_JOB_ID,\n"
	"      DOB_EPISODE_ID, DOB_HRESULT, DOB_STATE, DOB_DISPLAY_NAME, DOB_URL,\n"
	"      DOB_LOCAL_NAME, DOB_ERROR_DESCRIPTION, DOB_ERROR_CONTEXT,\n"
	"      DOB_REPEAT_COUNT, DOB_EVENT_JSON); the first line CMD prints is the\n"
	"      reply: resume, cancel, complete, suspend, resume-after-delay MS, or\n"
	"      none / nothing. CMD is killed after --exec-timeout (default 60000)\n"
	"      and when dobctl ends; at most --exec-concurrency commands (default 1,\n"
	"      at most 64) run at once, the other errors wait their turn.\n"
	"      --count N exits after N events. --reconnect: when the connection\n"
	"      ends, reconnect with backoff (0.1 s doubling to 5 s) and go on;\n"
	"      episodes already printed are not printed again when replayed.\n"
	"  act JOB ACTION [--episode ID] [--delay MS]\n"
	"      ACTION: cancel, complete, resume, suspend, resume-after-delay\n"
	"      (which needs --delay).\n"
	"  submit URL PATH [--name N] [--priority foreground|high|normal|low]\n"
	"        [--policy P] [--deadline MS]\n"
	"      have the broker create a download job; prints its id. URL: http://\n"
	"      or https://; PATH: absolute.\n"
	"      P: none, cancel, complete, or resume:MAX:BACKOFF_MS[:none|cancel|complete]\n"
	"  adopt JOB [--policy P] [--deadline MS]\n"
	"      have the broker manage an existing job (replaces its callback).\n"
	"  jobs              list the managed jobs you may see\n"
	"  stats             the broker's counters\n"
	"  top [--interval MS] [--once] [--count N]\n"
	"      a live view: managed jobs, pending episodes, subscribers, rates;\n"
	"      refreshed every --interval (default 1000) on a terminal (--count:\n"
	"      N screens), one snapshot when stdout is not a terminal (or --once).\n"
	"  history [--job GUID]... [--limit N]\n"
	"      resolved episodes you may see, newest first: when, who decided\n"
	"      what, the HRESULT and the job's state after it (N: 1..4096).\n"
	"  unmanaged\n"
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
	bool json;
	bool help, version;
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

/* A global option at argv[*i]: 1 taken, 0 not one, -1 usage error. */
static int global_opt(int argc, char **argv, int *i, struct global *g)
{
	const char *v;
	int r;

	if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
		g->help = true;
		*i += 1;
		return 1;
	}
	if ((r = opt(argc, argv, i, "--version", NULL)) != 0) {
		g->version = true;
		return 1;
	}
	if ((r = opt(argc, argv, i, "--json", NULL)) != 0) {
		g->json = true;
		return 1;
	}
	if ((r = opt(argc, argv, i, "--endpoint", &v)) != 0) {
		if (r < 0)
			return -1;
		g->endpoint = *v ? v : NULL;
		return 1;
	}
	if ((r = opt(argc, argv, i, "--name", &v)) != 0) {
		if (r < 0)
			return -1;
		g->name = v;
		return 1;
	}
	if ((r = opt(argc, argv, i, "--timeout", &v)) != 0) {
		uint32_t ms;

		if (r < 0 || parse_ms("--timeout", v, &ms))
			return -1;
		if (ms == 0 || ms > 0x7fffffff) {
			usage_error("--timeout wants 1..2147483647 ms");
			return -1;
		}
		g->timeout_ms = (int)ms;
		return 1;
	}
	return 0;
}

/* What a command's parser does with a word it does not know: a global
 * option, else a usage error. Returns 0 (taken) or EXIT_USAGE. */
static int other_word(const char *cmd, int argc, char **argv, int *i, struct global *g)
{
	int r = global_opt(argc, argv, i, g);

	if (r > 0)
		return 0;
	if (r < 0)
		return EXIT_USAGE;
	if (argv[*i][0] == '-' && argv[*i][1] == '-')
		return usage_error("%s: unknown option '%s'", cmd, argv[*i]);
	return usage_error("%s: unexpected '%s'", cmd, argv[*i]);
}

static int parse_guid(const char *s, struct dob_guid *g)
{
	if (dob_guid_parse(s, g) < 0)
		return usage_error("bad job id '%s': want a GUID like "
				   "{01234567-89ab-cdef-0123-456789abcdef}", s);
	return 0;
}

static const char *endpoint_name(const struct global *g, char *def, size_t len)
{
	if (g->endpoint)
		return g->endpoint;
	if (dobc_default_endpoint(def, len) < 0)
		def[0] = '\0';
	return def;
}

/* Connects; on failure says why (unless quiet) and returns the exit code,
 * with the library's code in *err. */
static int connect_quiet(const struct global *g, enum dob_role role, const struct dob_filter *f,
			 struct dobc **c, int *err, char *msg, size_t msglen)
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
	const char *ep = endpoint_name(g, def, sizeof def);
	int r;

	memset(&e, 0, sizeof e);
	r = dobc_connect(c, &o);
	*err = r;
	if (r == 0)
		return 0;
	switch (r) {
	case -DOB_EINVAL:
		/* A bad filter or name: the Hello failed validation. */
		snprintf(msg, msglen, "%s", e.message[0] ? e.message : dobc_strerror(r));
		return EXIT_USAGE;
	case -DOB_ETIMEDOUT:
		snprintf(msg, msglen, "timed out connecting to %s: %s", ep,
			 e.message[0] ? e.message : dobc_strerror(r));
		return EXIT_TIMEOUT;
	case -DOB_ENOTFOUND:
	case -DOB_EACCES:
	case -DOB_ENOMEM:
	case -DOB_EIO:
		snprintf(msg, msglen, "cannot connect to %s: %s", ep,
			 e.message[0] ? e.message : dobc_strerror(r));
		return EXIT_CONNECT;
	case -DOBC_ESERVER_AUTH:
		/* Not the broker (a squatter, or another account than the
		 * one expected): nothing was sent to it; "cannot connect". */
		snprintf(msg, msglen, "cannot connect to %s: %s", ep,
			 e.message[0] ? e.message : dobc_strerror(r));
		return EXIT_CONNECT;
	default:
		break;
	}
	if (e.from_broker || r == -DOB_EVERSION) {
		snprintf(msg, msglen, "the broker at %s refused the connection: %s", ep,
			 e.message[0] ? e.message : dobc_strerror(r));
		return EXIT_PROTOCOL;
	}
	/* Something answered, but not in the protocol (a bad frame, a
	 * hang-up, an unexpected message). */
	snprintf(msg, msglen, "%s does not speak the dobroker protocol: %s", ep,
		 e.message[0] ? e.message : dobc_strerror(r));
	return EXIT_PROTOCOL;
}

static int connect_as(const struct global *g, enum dob_role role, const struct dob_filter *f,
		      struct dobc **c)
{
	char msg[DOBC_MESSAGE_MAX + DOBC_ENDPOINT_MAX + 64];
	int err, code = connect_quiet(g, role, f, c, &err, msg, sizeof msg);

	if (code == EXIT_USAGE)
		return usage_error("%s", msg);
	if (code)
		say("%s", msg);
	return code;
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

/* A refusal as one phrase: the status named once, the broker's message,
 * and for ALREADY_RESOLVED the winner from the reply's fields, in the form
 * scripts match: (won by "NAME", session N: ACTION). */
static void refusal_text(const struct dob_action_result *res, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", dob_status_name(res->status));

	if (n >= 0 && (size_t)n < len && res->message && *res->message)
		n += snprintf(buf + n, len - (size_t)n, ": %s", res->message);
	if (n >= 0 && (size_t)n < len && res->status == DOB_STATUS_ALREADY_RESOLVED)
		snprintf(buf + n, len - (size_t)n, " (won by \"%s\", session %" PRIu64 ": %s)",
			 res->winner.client_name ? res->winner.client_name : "",
			 res->winner.session_id, dobctl_action_name(res->winner_action));
}

/* ---------------------------------------------------------------- watch */

enum reply_mode { REPLY_NONE, REPLY_FIXED, REPLY_ASK, REPLY_EXEC };

/* A JobError waiting for its --exec command, or whose command runs. */
struct job {
	struct job *next;         /* owned */
	struct dob_msg ev;        /* owned: the JobError */
	struct spawn_child *ch;   /* owned; NULL while it waits */
};

struct watch {
	const struct global *g;
	enum reply_mode mode;
	enum dob_action action;   /* REPLY_FIXED */
	const char *exec;         /* REPLY_EXEC */
	int exec_timeout_ms;
	int exec_concurrency;
	uint64_t count;           /* 0 = no limit */
	uint64_t printed;
	bool reconnect;
	bool stdin_done;          /* REPLY_ASK: stdin hit end of file */
	struct dob_filter filter;
	struct dobc *c;           /* owned; NULL while reconnecting */
	struct dobctl_seen *seen; /* owned */
	struct job *running;      /* owned list: commands running */
	struct job *waiting;      /* owned list: errors waiting for a command */
	int n_running;
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

/* Marks episode as settled: the broker answered dobctl's reply, or it was
 * resolved. */
static void settle(struct watch *wa, uint64_t episode)
{
	long at = dobctl_seen_find(wa->seen, episode);

	if (at >= 0)
		wa->seen->settled[at] = true;
}

/* Sends action for the JobError e and prints the broker's answer. Returns
 * 0, or the exit code when the connection is over (without --reconnect). */
static int send_reply(struct watch *wa, const struct dob_job_error *e, enum dob_action a,
		      uint32_t delay)
{
	struct dob_action_result res;
	char text[1024];
	int r;

	if (!wa->c)
		return 0; /* reconnecting: the replay brings it back */
	r = dobc_act(wa->c, &e->job.job_id, e->episode_id, a, delay, &res, wa->g->timeout_ms);
	if (r == 0 || r == -DOB_EREMOTE) {
		settle(wa, e->episode_id);
		if (wa->g->json) {
			dobctl_action_result_json(&wa->w, &e->job.job_id, e->episode_id, a, &res);
			print_json(&wa->w);
		} else if (r == 0) {
			printf("  -> %s: OK, now %s (hr=0x%08" PRIX32 ")\n", dobctl_action_name(a),
			       dob_state_name(res.new_state), res.hresult);
		} else {
			refusal_text(&res, text, sizeof text);
			printf("  -> %s: %s\n", dobctl_action_name(a), text);
		}
		fflush(stdout);
		dobc_action_result_clear(&res);
		return 0;
	}
	if (r == -DOB_ETIMEDOUT || r == -DOB_EINVAL) {
		request_failed(wa->c, "act", r);
		return 0;
	}
	/* The connection is over: the main loop finds out and says why. */
	return 0;
}

/* The result of an --exec command, said in one message. Returns the
 * action to send (UNSPECIFIED: none) and its delay. */
static enum dob_action exec_result(struct watch *wa, int r, int code, const char *line,
				   uint32_t *delay)
{
	enum dob_action a = DOB_ACTION_UNSPECIFIED;
	char why[DOBCTL_WHY_MAX];

	*delay = 0;
	if (r == -DOB_ETIMEDOUT) {
		say("--exec '%s' was killed after %d ms; no reply sent", wa->exec,
		    wa->exec_timeout_ms);
		return a;
	}
	if (dobctl_parse_reply(line, &a, delay, why, sizeof why) < 0) {
		if (code != 0)
			say("--exec '%s' exited with status %d and printed '%s', which is not a reply "
			    "(%s); no reply sent", wa->exec, code, line, why);
		else
			say("--exec '%s': %s; no reply sent", wa->exec, why);
		return DOB_ACTION_UNSPECIFIED;
	}
	if (code != 0 && a != DOB_ACTION_UNSPECIFIED)
		say("--exec '%s' exited with status %d; its reply '%s' is sent all the same",
		    wa->exec, code, dobctl_action_name(a));
	else if (code != 0)
		say("--exec '%s' exited with status %d without a reply; no reply sent", wa->exec,
		    code);
	return a;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	spawn_free(j->ch);
	dob_msg_clear(&j->ev);
	dob_free(j);
}

/* Is episode waiting or running already? */
static bool queued(const struct watch *wa, uint64_t episode)
{
	const struct job *j;

	for (j = wa->running; j; j = j->next)
		if (j->ev.u.job_error.episode_id == episode)
			return true;
	for (j = wa->waiting; j; j = j->next)
		if (j->ev.u.job_error.episode_id == episode)
			return true;
	return false;
}

/* Starts waiting commands while there is room. */
static void start_commands(struct watch *wa)
{
	while (wa->waiting && wa->n_running < wa->exec_concurrency) {
		struct job *j = wa->waiting;
		char why[DOBCTL_WHY_MAX];
		char **env = NULL;
		int r;

		wa->waiting = j->next;
		j->next = NULL;
		if (dobctl_exec_env(&j->ev, &env) < 0) {
			say("--exec: out of memory; no reply sent");
			job_free(j);
			continue;
		}
		why[0] = '\0';
		r = spawn_start(wa->exec, (const char *const *)env, wa->exec_timeout_ms, &j->ch, why,
				sizeof why);
		dobctl_env_free(env);
		if (r < 0) {
			say("--exec '%s': %s; no reply sent", wa->exec, why);
			job_free(j);
			continue;
		}
		j->next = wa->running;
		wa->running = j;
		wa->n_running++;
	}
}

/* Looks at the running commands; answers for those that ended. */
static void check_commands(struct watch *wa)
{
	struct job **pp = &wa->running;

	while (*pp) {
		struct job *j = *pp;
		enum dob_action a;
		uint32_t delay;
		int code = 0, r = spawn_check(j->ch, &code);

		if (r == 0) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		wa->n_running--;
		a = exec_result(wa, r, code, r == 1 ? spawn_first_line(j->ch) : "", &delay);
		if (a != DOB_ACTION_UNSPECIFIED)
			send_reply(wa, &j->ev.u.job_error, a, delay);
		else
			settle(wa, j->ev.u.job_error.episode_id);
		job_free(j);
	}
	start_commands(wa);
}

/* Answers a JobError as the watch's mode says (m is moved for --exec). */
static void answer(struct watch *wa, struct dob_msg *m)
{
	const struct dob_job_error *e = &m->u.job_error;
	enum dob_action a = DOB_ACTION_UNSPECIFIED;
	struct job *j, **tail;

	switch (wa->mode) {
	case REPLY_FIXED:
		a = wa->action;
		break;
	case REPLY_ASK:
		a = ask_action(wa, e);
		break;
	case REPLY_EXEC:
		if (queued(wa, e->episode_id))
			return;
		j = dob_calloc(1, sizeof *j);
		if (!j) {
			say("--exec: out of memory; no reply sent");
			return;
		}
		j->ev = *m;
		memset(m, 0, sizeof *m);
		for (tail = &wa->waiting; *tail; tail = &(*tail)->next)
			;
		*tail = j;
		start_commands(wa);
		return;
	case REPLY_NONE:
		return;
	}
	if (a == DOB_ACTION_UNSPECIFIED) {
		settle(wa, e->episode_id);
		return;
	}
	send_reply(wa, e, a, 0);
}

static void print_event(struct watch *wa, const struct dob_msg *m)
{
	if (wa->g->json) {
		dobctl_event_json(&wa->w, m);
		print_json(&wa->w);
	} else {
		char line[2048];

		dobctl_event_line(m, line, sizeof line);
		printf("%s\n", line);
		fflush(stdout);
	}
}

/* Takes one event. Returns true when it was printed (and counts). */
static bool on_event(struct watch *wa, struct dob_msg *m)
{
	if (m->type == DOB_MSG_JOB_ERROR) {
		uint64_t ep = m->u.job_error.episode_id;
		long at = dobctl_seen_find(wa->seen, ep);

		if (at >= 0) {
			/* A replay of an episode printed before (after a
			 * reconnection): not printed again; answered again only
			 * when dobctl's answer did not reach the broker. */
			if (!wa->seen->settled[at] && wa->mode != REPLY_NONE)
				answer(wa, m);
			return false;
		}
		dobctl_seen_add(wa->seen, ep);
		print_event(wa, m);
		if (wa->mode != REPLY_NONE)
			answer(wa, m);
		return true;
	}
	if (m->type == DOB_MSG_RESOLUTION)
		settle(wa, m->u.resolution.episode_id);
	print_event(wa, m);
	return true;
}

static void say_connected(struct watch *wa, bool again)
{
	const struct dob_welcome *w = dobc_welcome(wa->c);

	if (wa->g->json) {
		if (!again)
			return;
		jsonw_obj_open(&wa->w);
		jsonw_kstr(&wa->w, "type", "reconnected");
		jsonw_ku64(&wa->w, "session_id", w->session_id);
		jsonw_ku64(&wa->w, "pending_episodes", w->pending_episodes);
		jsonw_obj_close(&wa->w);
		print_json(&wa->w);
		return;
	}
	say("%s: %s, backend %s, session %" PRIu64 ", %" PRIu32 " pending episode%s%s",
	    again ? "reconnected" : "watching", w->broker_version ? w->broker_version : "broker",
	    dob_backend_name(w->backend), w->session_id, w->pending_episodes,
	    w->pending_episodes == 1 ? "" : "s", wa->mode == REPLY_NONE ? "" : " (controller)");
}

/* Connects, and with --reconnect keeps trying with backoff. Returns 0 or
 * the exit code. */
static int watch_connect(struct watch *wa, bool again)
{
	enum dob_role role = wa->mode == REPLY_NONE ? DOB_ROLE_OBSERVER : DOB_ROLE_CONTROLLER;
	char msg[DOBC_MESSAGE_MAX + DOBC_ENDPOINT_MAX + 64];
	int backoff = BACKOFF_FIRST_MS;

	for (;;) {
		int err, code = connect_quiet(wa->g, role, &wa->filter, &wa->c, &err, msg, sizeof msg);

		if (code == 0) {
			say_connected(wa, again);
			return 0;
		}
		if (code == EXIT_USAGE)
			return usage_error("%s", msg);
		if (!wa->reconnect) {
			say("%s", msg);
			return code;
		}
		say("%s; trying again in %d ms", msg, backoff);
		/* Commands keep running meanwhile; their answers wait. */
		for (int left = backoff; left > 0; left -= EXEC_POLL_MS) {
			spawn_pause_ms(left < EXEC_POLL_MS ? left : EXEC_POLL_MS);
			if (wa->n_running)
				check_commands(wa);
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		again = true;
	}
}

/* The connection ended with r: say so. */
static void say_lost(struct watch *wa, int r)
{
	const struct dobc_error *e = dobc_last_error(wa->c);
	const char *why = e->message[0] ? e->message : dobc_strerror(r);

	if (wa->g->json) {
		jsonw_obj_open(&wa->w);
		jsonw_kstr(&wa->w, "type", "disconnected");
		jsonw_kstr(&wa->w, "message", why);
		jsonw_obj_close(&wa->w);
		print_json(&wa->w);
	}
	say("watch: %s; reconnecting", why);
}

static int cmd_watch(struct global *g, int argc, char **argv)
{
	struct dob_guid jobs[DOB_MAX_FILTER_JOBS];
	struct watch wa;
	const char *v, *on_error = NULL;
	char why[DOBCTL_WHY_MAX];
	int i = 0, r, code = EXIT_OK;

	memset(&wa, 0, sizeof wa);
	wa.g = g;
	wa.exec_timeout_ms = DEFAULT_EXEC_TIMEOUT_MS;
	wa.exec_concurrency = 1;
	while (i < argc) {
		if ((r = opt(argc, argv, &i, "--job", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (wa.filter.n_job_ids == DOB_MAX_FILTER_JOBS)
				return usage_error("at most %d --job", DOB_MAX_FILTER_JOBS);
			if (parse_guid(v, &jobs[wa.filter.n_job_ids]))
				return EXIT_USAGE;
			wa.filter.n_job_ids++;
		} else if ((r = opt(argc, argv, &i, "--prefix", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			wa.filter.display_name_prefix = (char *)v;
		} else if ((r = opt(argc, argv, &i, "--kinds", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_kinds(v, &wa.filter.kind_mask, why, sizeof why) < 0)
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
		} else if ((r = opt(argc, argv, &i, "--exec-concurrency", &v)) != 0) {
			uint32_t n;

			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u32(v, &n) < 0 || n < 1 || n > SPAWN_MAX)
				return usage_error("--exec-concurrency wants 1..%d, got '%s'", SPAWN_MAX, v);
			wa.exec_concurrency = (int)n;
		} else if ((r = opt(argc, argv, &i, "--count", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(v, &wa.count) < 0 || wa.count == 0)
				return usage_error("--count wants a number >= 1, got '%s'", v);
		} else if ((r = opt(argc, argv, &i, "--reconnect", NULL)) != 0) {
			wa.reconnect = true;
		} else if ((code = other_word("watch", argc, argv, &i, g)) != 0) {
			return code;
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
		spawn_guard();
	}
	wa.filter.job_ids = wa.filter.n_job_ids ? jobs : NULL;
	wa.seen = dob_calloc(1, sizeof *wa.seen);
	if (!wa.seen) {
		say("out of memory");
		return EXIT_CONNECT;
	}
	dobctl_seen_init(wa.seen);
	jsonw_init(&wa.w);

	code = watch_connect(&wa, false);
	while (code == 0) {
		struct dob_msg m;
		bool done = wa.count && wa.printed >= wa.count;

		if (done && !wa.running && !wa.waiting)
			break;
		/* With commands running, look at them every EXEC_POLL_MS. */
		r = dobc_next_event(wa.c, &m, wa.n_running ? EXEC_POLL_MS : DOBC_TIMEOUT_INFINITE);
		if (r == 0 && done) {
			/* --count reached: only the answers still due matter. */
			dob_msg_clear(&m);
		} else if (r == 0) {
			if (on_event(&wa, &m))
				wa.printed++;
			dob_msg_clear(&m);
		} else if (r != -DOB_ETIMEDOUT) {
			if (!wa.reconnect) {
				code = request_failed(wa.c, "watch", r);
				break;
			}
			say_lost(&wa, r);
			dobc_close(wa.c);
			wa.c = NULL;
			code = watch_connect(&wa, true);
		}
		if (wa.n_running)
			check_commands(&wa);
	}
	while (wa.running) {
		struct job *j = wa.running;

		wa.running = j->next;
		job_free(j);
	}
	while (wa.waiting) {
		struct job *j = wa.waiting;

		wa.waiting = j->next;
		job_free(j);
	}
	jsonw_free(&wa.w);
	dob_free(wa.seen);
	dobc_close(wa.c);
	return code;
}

/* ---------------------------------------------------------------- act */

static int cmd_act(struct global *g, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *v;
	struct dob_action_result res;
	struct dob_guid job;
	struct dobc *c = NULL;
	uint64_t episode = 0;
	uint32_t delay = 0;
	bool have_delay = false;
	int i = 0, n = 0, r, action, code;
	char gs[DOB_GUID_STR_LEN], text[1024];

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
		} else if (argv[i][0] != '-' && n < 2) {
			pos[n++] = argv[i++];
		} else if ((code = other_word("act", argc, argv, &i, g)) != 0) {
			return code;
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
	if (r == 0 || r == -DOB_EREMOTE) {
		if (g->json) {
			struct jsonw w;

			jsonw_init(&w);
			dobctl_action_result_json(&w, &job, episode, (enum dob_action)action, &res);
			print_json(&w);
			jsonw_free(&w);
		}
	}
	if (r == 0) {
		if (!g->json)
			printf("%s %s: OK, now %s (hr=0x%08" PRIX32 ")\n", dobctl_action_name(action), gs,
			       dob_state_name(res.new_state), res.hresult);
		code = EXIT_OK;
	} else if (r == -DOB_EREMOTE) {
		refusal_text(&res, text, sizeof text);
		if (res.status == DOB_STATUS_ALREADY_RESOLVED || !res.hresult)
			say("%s %s refused: %s", dobctl_action_name(action), gs, text);
		else
			say("%s %s refused: %s (hr=0x%08" PRIX32 ")", dobctl_action_name(action), gs,
			    text, res.hresult);
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

static void job_reply_json(const struct dob_job_reply *rep)
{
	struct jsonw w;
	char hr[16];

	jsonw_init(&w);
	jsonw_obj_open(&w);
	jsonw_kstr(&w, "type", "job_reply");
	jsonw_kstr(&w, "status", dob_status_name(rep->status));
	jsonw_kstr(&w, "message", rep->message);
	snprintf(hr, sizeof hr, "0x%08" PRIX32, rep->hresult);
	jsonw_kstr(&w, "hresult", hr);
	jsonw_key(&w, "job");
	if (rep->has_job)
		dobctl_job_json(&w, &rep->job);
	else
		jsonw_null(&w);
	jsonw_obj_close(&w);
	print_json(&w);
	jsonw_free(&w);
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

static int job_request_done(const struct global *g, struct dobc *c, const char *what, int r,
			    struct dob_job_reply *rep, bool full)
{
	int code = EXIT_OK;

	if ((r == 0 || r == -DOB_EREMOTE) && g->json)
		job_reply_json(rep);
	if (r == 0) {
		if (!g->json)
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

static int cmd_submit(struct global *g, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *v, *name = "dobctl";
	struct dob_file_spec file;
	struct dob_submit_job job;
	struct dob_job_reply rep;
	struct dobc *c = NULL;
	bool have_deadline = false;
	uint32_t deadline = 0;
	char why[DOBCTL_WHY_MAX];
	int i = 0, n = 0, r, code;

	memset(&job, 0, sizeof job);
	job.priority = DOB_PRIORITY_NORMAL;
	job.type = DOB_JOB_DOWNLOAD;
	while (i < argc) {
		if ((r = policy_opt(argc, argv, &i, &job.policy, &deadline, &have_deadline)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
		} else if ((r = opt(argc, argv, &i, "--name", &v)) != 0) {
			/* After 'submit', --name is the job's display name. */
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
		} else if (argv[i][0] != '-' && n < 2) {
			pos[n++] = argv[i++];
		} else if (argv[i][0] == '-' && argv[i][1] != '-' && n < 2) {
			/* "-" or "-x": a value, not an option; the checks say. */
			pos[n++] = argv[i++];
		} else if ((code = other_word("submit", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (n != 2)
		return usage_error("submit needs URL and PATH");
	/* What the broker would refuse is a usage error, said before
	 * connecting. */
	if (dobctl_check_url(pos[0], why, sizeof why) < 0)
		return usage_error("submit: %s", why);
	if (dobctl_check_local_path(pos[1], spawn_windows_paths(), why, sizeof why) < 0)
		return usage_error("submit: %s", why);
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
	return job_request_done(g, c, "submit", r, &rep, false);
}

static int cmd_adopt(struct global *g, int argc, char **argv)
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
		} else if (argv[i][0] != '-' && !pos) {
			pos = argv[i++];
		} else if ((code = other_word("adopt", argc, argv, &i, g)) != 0) {
			return code;
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
	return job_request_done(g, c, "adopt", r, &rep, true);
}

/* ---------------------------------------------------------------- jobs, stats, ping */

/* Parses the arguments of a command that takes none but global options. */
static int no_args(const char *cmd, int argc, char **argv, struct global *g)
{
	int i = 0, code;

	while (i < argc)
		if ((code = other_word(cmd, argc, argv, &i, g)) != 0)
			return code;
	return 0;
}

static int cmd_jobs(struct global *g, int argc, char **argv)
{
	struct dob_list_jobs_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t k;
	int r, code;

	if (no_args("jobs", argc, argv, g))
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
	if (!g->json)
		printf("%-38s  %-16s %-28s %8s  %-22s %s\n", "JOB", "STATE", "PROGRESS", "EPISODE",
		       "POLICY", "NAME");
	for (k = 0; k < rep.n_jobs; k++) {
		const struct dob_job_summary *j = &rep.jobs[k];
		char gs[DOB_GUID_STR_LEN], pol[64], ep[24], done[24], total[24], prog[64];

		if (g->json) {
			dobctl_job_json(&w, j);
			print_json(&w);
			continue;
		}
		dob_guid_format(&j->job.job_id, gs);
		dobctl_format_policy(&j->policy, pol, sizeof pol);
		dobctl_format_bytes(j->job.progress.bytes_transferred, done, sizeof done);
		dobctl_format_bytes(j->job.progress.bytes_total, total, sizeof total);
		snprintf(prog, sizeof prog, "%s/%s", done, total);
		if (j->pending_episode_id)
			snprintf(ep, sizeof ep, "%" PRIu64, j->pending_episode_id);
		else
			snprintf(ep, sizeof ep, "-");
		printf("%-38s  %-16s %-28s %8s  %-22s %s\n", gs, dob_state_name(j->job.state), prog, ep,
		       pol, j->job.display_name ? j->job.display_name : "");
	}
	jsonw_free(&w);
	dobc_list_jobs_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

static void print_stats(const struct dob_stats *s)
{
	char up[32], p50[32], p99[32];
	size_t k;

	dobctl_format_duration_us((int64_t)s->uptime_ms * 1000, up, sizeof up);
	dobctl_format_duration_us((int64_t)s->decision_latency_p50_us, p50, sizeof p50);
	dobctl_format_duration_us((int64_t)s->decision_latency_p99_us, p99, sizeof p99);
	printf("uptime                 %s\n", up);
	printf("subscribers            %" PRIu32 "\n", s->subscribers);
	printf("managed jobs           %" PRIu32 "\n", s->managed_jobs);
	printf("pending episodes       %" PRIu32 "\n", s->pending_episodes);
	printf("events in              %" PRIu64 "\n", s->events_in);
	printf("events out             %" PRIu64 "\n", s->events_out);
	printf("events dropped         %" PRIu64 "\n", s->dropped);
	printf("decision latency p50   %s\n", p50);
	printf("decision latency p99   %s\n", p99);
	for (k = 0; k < s->n_sessions; k++)
		printf("session %" PRIu64 " \"%s\" %s: queue %" PRIu32 " frames, out %" PRIu64
		       " events, dropped %" PRIu64 "\n",
		       s->sessions[k].session_id,
		       s->sessions[k].client_name ? s->sessions[k].client_name : "",
		       dob_role_name(s->sessions[k].role), s->sessions[k].queue_depth,
		       s->sessions[k].events_out, s->sessions[k].dropped);
}

static int cmd_stats(struct global *g, int argc, char **argv)
{
	struct dob_stats s;
	struct dobc *c = NULL;
	struct jsonw w;
	int r, code;

	if (no_args("stats", argc, argv, g))
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
	if (g->json) {
		jsonw_init(&w);
		dobctl_stats_json(&w, &s);
		print_json(&w);
		jsonw_free(&w);
	} else {
		print_stats(&s);
	}
	dobc_stats_clear(&s);
	dobc_close(c);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- history, unmanaged */

static int cmd_history(struct global *g, int argc, char **argv)
{
	struct dob_guid jobs[DOB_MAX_FILTER_JOBS];
	struct dob_history_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t n_jobs = 0, k;
	uint32_t limit = 0;
	const char *v;
	int i = 0, r, code;

	while (i < argc) {
		if ((r = opt(argc, argv, &i, "--job", &v)) != 0) {
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
		} else if ((code = other_word("history", argc, argv, &i, g)) != 0) {
			return code;
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

		if (g->json) {
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

static int cmd_unmanaged(struct global *g, int argc, char **argv)
{
	struct dob_unmanaged_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t k;
	int r, code;

	if (no_args("unmanaged", argc, argv, g))
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
	if (!g->json)
		printf("%-38s  %-16s %-24s %s\n", "JOB", "STATE", "OWNER", "NAME");
	for (k = 0; k < rep.n_jobs; k++) {
		const struct dob_job_info *j = &rep.jobs[k];
		char gs[DOB_GUID_STR_LEN];

		if (g->json) {
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

static int cmd_ping(struct global *g, int argc, char **argv)
{
	const struct dob_welcome *w;
	struct dobc *c = NULL;
	int64_t rtt = 0;
	int r, code;

	if (no_args("ping", argc, argv, g))
		return EXIT_USAGE;
	code = connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_ping(c, &rtt, g->timeout_ms);
	if (r < 0) {
		code = request_failed(c, "ping", r);
	} else {
		char t[32];

		w = dobc_welcome(c);
		if (g->json) {
			struct jsonw jw;

			jsonw_init(&jw);
			jsonw_obj_open(&jw);
			jsonw_kstr(&jw, "type", "pong");
			jsonw_ki64(&jw, "rtt_us", rtt);
			jsonw_kstr(&jw, "broker_version", w->broker_version);
			jsonw_kstr(&jw, "backend", dob_backend_name(w->backend));
			jsonw_ku64(&jw, "session_id", w->session_id);
			jsonw_obj_close(&jw);
			print_json(&jw);
			jsonw_free(&jw);
		} else {
			dobctl_format_duration_us(rtt, t, sizeof t);
			printf("pong in %s from %s (backend %s, session %" PRIu64 ")\n", t,
			       w->broker_version && *w->broker_version ? w->broker_version : "broker",
			       dob_backend_name(w->backend), w->session_id);
		}
	}
	dobc_close(c);
	return code;
}

/* ---------------------------------------------------------------- top */

/* Takes the events that arrive within timeout_ms (0: those already here)
 * into the view; with replayed, stops early once *replayed (the replayed
 * JobErrors counted) reaches want. Returns 0 or the connection's error. */
static int top_events(struct dobc *c, struct top_view *v, int timeout_ms, uint32_t *replayed,
		      uint32_t want)
{
	int64_t end = transport_now_us() + (int64_t)timeout_ms * 1000;

	for (;;) {
		if (replayed && *replayed >= want)
			return 0;
		int64_t left = end - transport_now_us();
		struct dob_msg m;
		int r = dobc_next_event(c, &m, left > 0 ? (int)((left + 999) / 1000) : 0);

		if (r == -DOB_ETIMEDOUT)
			return 0;
		if (r < 0)
			return r;
		if (replayed && m.type == DOB_MSG_JOB_ERROR && m.u.job_error.replayed)
			(*replayed)++;
		top_on_event(v, &m);
		dob_msg_clear(&m);
		if (left <= 0 && !dobc_pending(c))
			return 0;
	}
}

static int cmd_top(struct global *g, int argc, char **argv)
{
	struct dob_filter f = { .kind_mask = (1u << DOB_EVENT_JOB_ERROR) |
					     (1u << DOB_EVENT_RESOLUTION) };
	struct dob_list_jobs_reply jobs;
	struct dob_stats st;
	struct top_view *v = NULL;
	struct dobc *c = NULL;
	struct jsonw w;
	const char *val;
	uint32_t interval = 1000, replayed = 0;
	uint64_t count = 0, shown = 0, decisions0 = 0;
	int64_t t_prev = 0;
	uint64_t in_prev = 0, out_prev = 0;
	bool once = false, have_prev = false;
	int i = 0, r, code;

	while (i < argc) {
		if ((r = opt(argc, argv, &i, "--interval", &val)) != 0) {
			if (r < 0 || parse_ms("--interval", val, &interval))
				return EXIT_USAGE;
			if (interval < 100)
				return usage_error("--interval wants at least 100 ms, got %" PRIu32, interval);
		} else if ((r = opt(argc, argv, &i, "--once", NULL)) != 0) {
			once = true;
		} else if ((r = opt(argc, argv, &i, "--count", &val)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(val, &count) < 0 || count == 0)
				return usage_error("--count wants a number >= 1, got '%s'", val);
		} else if ((code = other_word("top", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (!spawn_stdout_is_terminal())
		once = true;
	else if (!once && !g->json)
		spawn_stdout_ansi();
	v = dob_calloc(1, sizeof *v);
	if (!v) {
		say("out of memory");
		return EXIT_CONNECT;
	}
	top_init(v);
	code = connect_as(g, DOB_ROLE_OBSERVER, &f, &c);
	if (code) {
		dob_free(v);
		return code;
	}
	v->broker_version = dobc_welcome(c)->broker_version;
	v->backend = dobc_welcome(c)->backend;
	/* The pending episodes come first, as replays: wait for those the
	 * Welcome announced (ages and deadlines are in them). */
	top_events(c, v, g->timeout_ms, &replayed, dobc_welcome(c)->pending_episodes);
	jsonw_init(&w);
	for (;;) {
		r = dobc_list_jobs(c, &jobs, g->timeout_ms);
		if (r < 0) {
			code = request_failed(c, "top: jobs", r);
			dobc_list_jobs_reply_clear(&jobs);
			break;
		}
		r = dobc_stats(c, &st, g->timeout_ms);
		if (r < 0) {
			code = request_failed(c, "top: stats", r);
			dobc_list_jobs_reply_clear(&jobs);
			dobc_stats_clear(&st);
			break;
		}
		r = top_events(c, v, 0, NULL, 0);
		if (r < 0) {
			code = request_failed(c, "top", r);
			dobc_list_jobs_reply_clear(&jobs);
			dobc_stats_clear(&st);
			break;
		}
		v->stats = &st;
		v->jobs = &jobs;
		v->now_us = spawn_wall_us();
		v->interval_ms = 0;
		if (have_prev) {
			int64_t now = transport_now_us();
			double secs = (double)(now - t_prev) / 1e6;

			if (secs > 0) {
				v->interval_ms = (now - t_prev) / 1000;
				v->events_in_per_s = (double)(st.events_in - in_prev) / secs;
				v->events_out_per_s = (double)(st.events_out - out_prev) / secs;
				v->decisions_per_s = (double)(v->decisions - decisions0) / secs;
			}
		}
		if (g->json) {
			top_json(&w, v);
			print_json(&w);
		} else {
			if (!once)
				fputs("\033[H\033[2J", stdout); /* home, clear screen */
			top_print(stdout, v);
			fflush(stdout);
		}
		v->stats = NULL;
		v->jobs = NULL;
		dobc_list_jobs_reply_clear(&jobs);
		in_prev = st.events_in;
		out_prev = st.events_out;
		dobc_stats_clear(&st);
		have_prev = true;
		t_prev = transport_now_us();
		decisions0 = v->decisions;
		if (once || (count && ++shown >= count))
			break;
		r = top_events(c, v, (int)interval, NULL, 0);
		if (r < 0) {
			code = request_failed(c, "top", r);
			break;
		}
	}
	jsonw_free(&w);
	dobc_close(c);
	dob_free(v);
	return code;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct global *, int, char **);
	} cmds[] = {
		{ "watch", cmd_watch }, { "act", cmd_act },	{ "submit", cmd_submit },
		{ "adopt", cmd_adopt }, { "jobs", cmd_jobs }, { "stats", cmd_stats },
		{ "top", cmd_top },     { "ping", cmd_ping },	{ "history", cmd_history },
		{ "unmanaged", cmd_unmanaged },
	};
	struct global g = { .name = "dobctl", .timeout_ms = DEFAULT_TIMEOUT_MS };
	const char *env = getenv(ENDPOINT_ENV);
	int i, r;
	size_t k;

	/* --help and --version win wherever they stand. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			char def[DOBC_ENDPOINT_MAX];

			if (dobc_default_endpoint(def, sizeof def) < 0)
				def[0] = '\0';
			printf(usage_text, def);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("dobctl %s (protocol %u)\n", DOBCTL_VERSION, DOB_PROTOCOL_VERSION);
			return EXIT_OK;
		}
	}
	if (env && *env)
		g.endpoint = env;
	i = 1;
	while (i < argc && argv[i][0] == '-') {
		r = global_opt(argc, argv, &i, &g);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0)
			return usage_error("unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return usage_error("no command");
	for (k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
		if (strcmp(argv[i], cmds[k].name) == 0)
			return cmds[k].run(&g, argc - i - 1, argv + i + 1);
	return usage_error("unknown command '%s'", argv[i]);
}
