/*
 * client/dobctl.c - the command-line client of dobrokerd (docs/dobctl.md).
 *
 * Everything it knows of the OS comes through libdobclient (transport.h)
 * and spawn_cmd.h, so its files are the same on POSIX and Windows. This one
 * holds main, the usage text, the global options and what every command
 * uses (messages, options, connecting); the commands are in dobctl_watch.c,
 * dobctl_act.c and dobctl_jobs.c (dobctl_int.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/err.h"
#include "dobctl_int.h"
#include "dobctl_util.h"

/* The release, the same as the broker's (BROKER_VERSION). */
#define DOBCTL_VERSION "0.1.0"
#define DEFAULT_TIMEOUT_MS 5000
#define ENDPOINT_ENV "DOBROKER_ENDPOINT"

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

/* ---------------------------------------------------------------- messages */

void PRINTF_LIKE(1, 2) dobctl_say(const char *fmt, ...)
{
	va_list ap;

	fputs("dobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int PRINTF_LIKE(1, 2) dobctl_usage_error(const char *fmt, ...)
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
int dobctl_request_failed(struct dobc *c, const char *what, int r)
{
	const struct dobc_error *e = dobc_last_error(c);

	dobctl_say("%s: %s", what, e->message[0] ? e->message : dobc_strerror(r));
	return exit_for(r);
}

/* ---------------------------------------------------------------- options */

/* If argv[*i] is option name ("--name V" or "--name=V"), sets *val, moves
 * *i past it and returns 1; 0 when it is another word; -1 when the value is
 * missing. With val NULL the option takes no value. */
int dobctl_opt(int argc, char **argv, int *i, const char *name, const char **val)
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
		dobctl_usage_error("%s needs a value", name);
		return -1;
	}
	*val = argv[*i + 1];
	*i += 2;
	return 1;
}

int dobctl_parse_ms(const char *what, const char *s, uint32_t *out)
{
	if (dobctl_parse_u32(s, out) < 0)
		return dobctl_usage_error("%s wants a number of milliseconds, got '%s'", what, s);
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
	if ((r = dobctl_opt(argc, argv, i, "--version", NULL)) != 0) {
		g->version = true;
		return 1;
	}
	if ((r = dobctl_opt(argc, argv, i, "--json", NULL)) != 0) {
		g->json = true;
		return 1;
	}
	if ((r = dobctl_opt(argc, argv, i, "--endpoint", &v)) != 0) {
		if (r < 0)
			return -1;
		g->endpoint = *v ? v : NULL;
		return 1;
	}
	if ((r = dobctl_opt(argc, argv, i, "--name", &v)) != 0) {
		if (r < 0)
			return -1;
		g->name = v;
		return 1;
	}
	if ((r = dobctl_opt(argc, argv, i, "--timeout", &v)) != 0) {
		uint32_t ms;

		if (r < 0 || dobctl_parse_ms("--timeout", v, &ms))
			return -1;
		if (ms == 0 || ms > 0x7fffffff) {
			dobctl_usage_error("--timeout wants 1..2147483647 ms");
			return -1;
		}
		g->timeout_ms = (int)ms;
		return 1;
	}
	return 0;
}

/* What a command's parser does with a word it does not know: a global
 * option, else a usage error. Returns 0 (taken) or EXIT_USAGE. */
int dobctl_other_word(const char *cmd, int argc, char **argv, int *i, struct global *g)
{
	int r = global_opt(argc, argv, i, g);

	if (r > 0)
		return 0;
	if (r < 0)
		return EXIT_USAGE;
	if (argv[*i][0] == '-' && argv[*i][1] == '-')
		return dobctl_usage_error("%s: unknown option '%s'", cmd, argv[*i]);
	return dobctl_usage_error("%s: unexpected '%s'", cmd, argv[*i]);
}

int dobctl_parse_guid(const char *s, struct dob_guid *g)
{
	if (dob_guid_parse(s, g) < 0)
		return dobctl_usage_error("bad job id '%s': want a GUID like "
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
int dobctl_connect_quiet(const struct global *g, enum dob_role role, const struct dob_filter *f,
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

int dobctl_connect_as(const struct global *g, enum dob_role role, const struct dob_filter *f,
		      struct dobc **c)
{
	char msg[DOBC_MESSAGE_MAX + DOBC_ENDPOINT_MAX + 64];
	int err, code = dobctl_connect_quiet(g, role, f, c, &err, msg, sizeof msg);

	if (code == EXIT_USAGE)
		return dobctl_usage_error("%s", msg);
	if (code)
		dobctl_say("%s", msg);
	return code;
}

void dobctl_print_json(struct jsonw *w)
{
	const char *s = jsonw_finish(w);

	if (s)
		printf("%s\n", s);
	else
		dobctl_say("out of memory writing JSON");
	fflush(stdout);
	jsonw_reset(w);
}

/* A refusal as one phrase: the status named once, the broker's message,
 * and for ALREADY_RESOLVED the winner from the reply's fields, in the form
 * scripts match: (won by "NAME", session N: ACTION). */
void dobctl_refusal_text(const struct dob_action_result *res, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", dob_status_name(res->status));

	if (n >= 0 && (size_t)n < len && res->message && *res->message)
		n += snprintf(buf + n, len - (size_t)n, ": %s", res->message);
	if (n >= 0 && (size_t)n < len && res->status == DOB_STATUS_ALREADY_RESOLVED)
		snprintf(buf + n, len - (size_t)n, " (won by \"%s\", session %" PRIu64 ": %s)",
			 res->winner.client_name ? res->winner.client_name : "",
			 res->winner.session_id, dobctl_action_name(res->winner_action));
}
/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct global *, int, char **);
	} cmds[] = {
		{ "watch", dobctl_cmd_watch },	   { "act", dobctl_cmd_act },
		{ "submit", dobctl_cmd_submit },   { "adopt", dobctl_cmd_adopt },
		{ "jobs", dobctl_cmd_jobs },	   { "stats", dobctl_cmd_stats },
		{ "top", dobctl_cmd_top },	   { "ping", dobctl_cmd_ping },
		{ "history", dobctl_cmd_history }, { "unmanaged", dobctl_cmd_unmanaged },
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
			return dobctl_usage_error("unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return dobctl_usage_error("no command");
	for (k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
		if (strcmp(argv[i], cmds[k].name) == 0)
			return cmds[k].run(&g, argc - i - 1, argv + i + 1);
	return dobctl_usage_error("unknown command '%s'", argv[i]);
}
