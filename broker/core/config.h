/*
 * broker/core/config.h - broker settings from defaults, an optional config
 * file and command-line flags (flags win over the file).
 *
 * Flags: --key=value or --key value; boolean keys also bare (--journal-sync)
 * or with true/false/1/0/yes/no. The config file has one `key = value` per
 * line with the same keys; blank lines and lines starting with '#' are
 * ignored. Errors name the bad key or value (and the file's line).
 *
 * Relative paths in a config file (state-dir, scenario, log-file, and an
 * endpoint that contains a '/') are resolved against the file's folder;
 * on the command line they stay relative to the working directory.
 *
 * Two structures: struct broker_config (broker.h) holds the broker core's
 * settings; struct program_config wraps it with dobrokerd's own (log file,
 * Event Log level). config_set() takes only broker keys.
 */
#ifndef DOB_CONFIG_H
#define DOB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "broker.h"

enum config_action {
	CONFIG_RUN = 0,
	CONFIG_HELP = 1,
	CONFIG_VERSION = 2,
};

/* dobrokerd's settings: the broker's, and the program's own. Strings owned. */
struct program_config {
	struct broker_config broker;
	char *config_file;      /* --config FILE as given; NULL = none */
	char *log_file;         /* --log-file; NULL = stderr */
	uint64_t log_max_size;  /* --log-max-size bytes; 0 = never rotated */
	uint32_t log_max_files; /* --log-max-files: rotated files kept */
	int eventlog;           /* --eventlog: enum dob_event_level */
};

void config_defaults(struct broker_config *c);
void config_clear(struct broker_config *c); /* frees strings, zeroes */
int config_copy(struct broker_config *dst, const struct broker_config *src);

/* Sets one key (a long flag name without "--"). 0 or -DOB_EINVAL with the
 * reason in err. */
int config_set(struct broker_config *c, const char *key, const char *value, char *err,
	       size_t errlen);
void config_prog_defaults(struct program_config *p);
void config_prog_clear(struct program_config *p); /* frees strings, zeroes */
/* Sets any key, broker's or program's. dir: the folder relative paths are
 * resolved against (NULL: left as they are). */
int config_prog_set(struct program_config *p, const char *key, const char *value,
		    const char *dir, char *err, size_t errlen);
/* Parses config file text; name is used in messages ("FILE:LINE: ...") and
 * its folder resolves relative paths. */
int config_parse_text(struct program_config *p, const char *text, size_t len, const char *name,
		      char *err, size_t errlen);
/* Reads and parses a config file. */
int config_load_file(struct program_config *p, const char *path, char *err, size_t errlen);
/* Whole command line: --config FILE is loaded first, then every flag is
 * applied over it. *action says whether to run or print help/version
 * (--help, -h, --version). */
int config_parse_args(struct program_config *p, int argc, char **argv,
		      enum config_action *action, char *err, size_t errlen);
/* "dir/rel" when rel is relative and file (a path) names a folder; else a
 * copy of rel. Absolute: starts with '/' or '\', or a drive ("C:").
 * NULL on no memory. */
char *config_resolve(const char *file, const char *rel);

/*
 * Reload: compares the running settings (rb: the broker's, rp: the
 * program's; rp->broker is not used) with next. Every option whose value
 * differs is copied into rb/rp when it can change while the broker runs
 * (policies, deadlines, limits, timeouts, sweep interval, log settings,
 * Event Log level) and named in changed ("policy=resume, log-level=debug");
 * an option that needs a restart (endpoint, state-dir, backend, scenario,
 * max-frame, journal settings, allow-sandboxed, test listeners) keeps its
 * running value and is named in restart. "" when none. -DOB_ENOMEM leaves
 * some options copied and others not.
 */
int config_merge(struct broker_config *rb, struct program_config *rp,
		 const struct program_config *next, char *changed, size_t clen, char *restart,
		 size_t rlen);
/* Names of the options that need a restart, for --help and the docs. */
bool config_needs_restart(const char *key);
/* Cross-field checks (soft < hard limit, ...). */
int config_check(const struct broker_config *c, char *err, size_t errlen);
/* --help text: every option with its default. */
void config_print_help(FILE *out, const char *prog);

#endif
