/*
 * broker/core/config.h - broker settings from defaults, an optional config
 * file and command-line flags (flags win over the file).
 *
 * Flags: --key=value or --key value; boolean keys also bare (--journal-sync)
 * or with true/false/1/0/yes/no. The config file has one `key = value` per
 * line with the same keys; blank lines and lines starting with '#' are
 * ignored. Errors name the bad key or value (and the file's line).
 */
#ifndef DOB_CONFIG_H
#define DOB_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "broker.h"

enum config_action {
	CONFIG_RUN = 0,
	CONFIG_HELP = 1,
	CONFIG_VERSION = 2,
};

void config_defaults(struct broker_config *c);
void config_clear(struct broker_config *c); /* frees strings, zeroes */
int config_copy(struct broker_config *dst, const struct broker_config *src);

/* Sets one key (a long flag name without "--"). 0 or -DOB_EINVAL with the
 * reason in err. */
int config_set(struct broker_config *c, const char *key, const char *value, char *err,
	       size_t errlen);
/* Parses config file text; name is used in messages ("FILE:LINE: ..."). */
int config_parse_text(struct broker_config *c, const char *text, size_t len, const char *name,
		      char *err, size_t errlen);
/* Reads and parses a config file. */
int config_load_file(struct broker_config *c, const char *path, char *err, size_t errlen);
/* Whole command line: --config FILE is loaded first, then every flag is
 * applied over it. *action says whether to run or print help/version. */
int config_parse_args(struct broker_config *c, int argc, char **argv, enum config_action *action,
		      char *err, size_t errlen);
/* Cross-field checks (soft < hard limit, ...). */
int config_check(const struct broker_config *c, char *err, size_t errlen);
/* --help text: every option with its default. */
void config_print_help(FILE *out, const char *prog);

#endif
