/*
 * client/dobctl_int.h - what dobctl's files share: dobctl.c (main, the usage
 * text, global options, messages, connecting), dobctl_watch.c (the event
 * stream: watch, top), dobctl_act.c (what dobctl asks the broker to do: act,
 * submit, adopt) and dobctl_jobs.c (what the broker knows: jobs, stats,
 * history, unmanaged, ping). Not for use outside dobctl.
 */
#ifndef DOBC_DOBCTL_INT_H
#define DOBC_DOBCTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"
#include "dobclient.h"
#include "jsonw.h"

/* Exit codes (documented in usage() and docs/dobctl.md). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_CONNECT = 2,
	EXIT_PROTOCOL = 3,
	EXIT_REFUSED = 4,
	EXIT_TIMEOUT = 5,
};

struct global {
	const char *endpoint; /* NULL = default */
	const char *name;
	int timeout_ms;
	bool json;
	bool help, version;
};
#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* dobctl.c */
/* A message on stderr, "dobctl: " first. */
void PRINTF_LIKE(1, 2) dobctl_say(const char *fmt, ...);
/* A usage error on stderr; returns EXIT_USAGE. */
int PRINTF_LIKE(1, 2) dobctl_usage_error(const char *fmt, ...);
/* Reports a failed request and returns its exit code. */
int dobctl_request_failed(struct dobc *c, const char *what, int r);
/* If argv[*i] is option name ("--name V" or "--name=V"), sets *val, moves
 * *i past it and returns 1; 0 when it is another word; -1 when the value is
 * missing. With val NULL the option takes no value. */
int dobctl_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Milliseconds for option what: 0, or EXIT_USAGE (said). */
int dobctl_parse_ms(const char *what, const char *s, uint32_t *out);
/* What a command's parser does with a word it does not know: a global
 * option, else a usage error. Returns 0 (taken) or EXIT_USAGE. */
int dobctl_other_word(const char *cmd, int argc, char **argv, int *i, struct global *g);
/* A job id: 0, or EXIT_USAGE (said). */
int dobctl_parse_guid(const char *s, struct dob_guid *g);
/* Connects; on failure says why (unless quiet) and returns the exit code,
 * with the library's code in *err. */
int dobctl_connect_quiet(const struct global *g, enum dob_role role, const struct dob_filter *f,
			 struct dobc **c, int *err, char *msg, size_t msglen);
/* Connects, or says why and returns the exit code. */
int dobctl_connect_as(const struct global *g, enum dob_role role, const struct dob_filter *f,
		      struct dobc **c);
/* Prints w's object as one line on stdout, and empties w. */
void dobctl_print_json(struct jsonw *w);
/* A refusal as one phrase (the status, the broker's message, the winner). */
void dobctl_refusal_text(const struct dob_action_result *res, char *buf, size_t len);

/* The commands: each takes the words after its name and returns dobctl's
 * exit code. */
int dobctl_cmd_watch(struct global *g, int argc, char **argv);  /* dobctl_watch.c */
int dobctl_cmd_top(struct global *g, int argc, char **argv);
int dobctl_cmd_act(struct global *g, int argc, char **argv);    /* dobctl_act.c */
int dobctl_cmd_submit(struct global *g, int argc, char **argv);
int dobctl_cmd_adopt(struct global *g, int argc, char **argv);
int dobctl_cmd_jobs(struct global *g, int argc, char **argv);   /* dobctl_jobs.c */
int dobctl_cmd_stats(struct global *g, int argc, char **argv);
int dobctl_cmd_history(struct global *g, int argc, char **argv);
int dobctl_cmd_unmanaged(struct global *g, int argc, char **argv);
int dobctl_cmd_ping(struct global *g, int argc, char **argv);

#endif
