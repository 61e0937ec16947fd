/*
 * broker/core/reload.h - a reloaded configuration applied to the running
 * broker (SIGHUP; the Windows service's SERVICE_CONTROL_PARAMCHANGE).
 */
#ifndef DOB_RELOAD_H
#define DOB_RELOAD_H

#include <stddef.h>

#include "config.h"

struct broker;

/*
 * Applies next (a fresh parse of the same command line and config file)
 * on the loop thread: every setting a reload may change (config_merge) is
 * copied into the broker's settings and prog, the log level, the Event
 * Log level and the log file take the new values, and one log line plus
 * a "reloaded" event name what changed and what needs a restart (kept at
 * its running value). What is read at the time of use takes effect at
 * once: the default policy and deadline of episodes opened from now on,
 * limits, timeouts, the sweep interval from the next sweep on. An episode
 * that is pending keeps the policy and deadline it was announced with.
 * Returns 0, or an error (config_check failed: nothing changed; the log
 * file could not be opened: the rest applied, the old file kept) with the
 * reason in err and a "reload-failed" event.
 */
int broker_reload(struct broker *b, struct program_config *prog,
		  const struct program_config *next, char *err, size_t errlen);

#endif
