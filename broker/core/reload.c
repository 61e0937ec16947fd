/*
 * broker/core/reload.c - applying a reloaded configuration (reload.h).
 * Touches only the broker's settings (b->cfg, read by the other modules at
 * the time of use) and the log's.
 */
#include "reload.h"

#include <stdio.h>
#include <string.h>

#include "broker_int.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

static void failed(const char *why)
{
	struct dob_event_info ev = { .text = why };

	log_warn("reload: %s; the running settings are kept", why);
	dob_log_event(DOB_EVENT_RELOAD_FAILED, &ev);
}

int broker_reload(struct broker *b, struct program_config *prog,
		  const struct program_config *next, char *err, size_t errlen)
{
	char changed[1024], restart[512], why[600], text[1800];
	char *old_file = NULL;
	uint64_t old_size = prog->log_max_size;
	uint32_t old_files = prog->log_max_files;
	int rc;

	if (errlen)
		err[0] = '\0';
	rc = config_check(&next->broker, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "%s", why);
		failed(why);
		return rc;
	}
	if (prog->log_file && !(old_file = dob_strdup(prog->log_file))) {
		failed("out of memory");
		return -DOB_ENOMEM;
	}
	rc = config_merge(&b->cfg, prog, next, changed, sizeof(changed), restart,
			  sizeof(restart));
	dob_log_set_level((enum dob_log_level)b->cfg.log_level);
	dob_log_set_event_level((enum dob_event_level)prog->eventlog);
	if (rc == 0 && (!(old_file == prog->log_file ||
			  (old_file && prog->log_file && strcmp(old_file, prog->log_file) == 0)) ||
			old_size != prog->log_max_size || old_files != prog->log_max_files)) {
		if (prog->log_file)
			rc = dob_log_open_file(prog->log_file, prog->log_max_size,
					       prog->log_max_files, why, sizeof(why));
		else
			dob_log_close_file();
		if (rc) {
			/* Keep the file in use, and say so in its settings. */
			dob_free(prog->log_file);
			prog->log_file = old_file;
			old_file = NULL;
			prog->log_max_size = old_size;
			prog->log_max_files = old_files;
		}
	} else if (rc) {
		snprintf(why, sizeof(why), "out of memory");
	}
	dob_free(old_file);
	snprintf(text, sizeof(text), "settings from %s: %s%s; needing a restart, kept: %s",
		 next->config_file ? next->config_file : "the command line (no --config)",
		 changed[0] ? "changed " : "nothing changed", changed,
		 restart[0] ? restart : "none");
	if (rc) {
		snprintf(err, errlen, "%s", why);
		failed(why);
		log_info("reload: %s", text);
		return rc;
	}
	log_info("reload: %s", text);
	dob_log_event(DOB_EVENT_RELOADED, &(struct dob_event_info){ .text = text });
	return 0;
}
