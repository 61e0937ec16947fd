/*
 * client/src/dobctl_util.h - dobctl's pure helpers: parsing of command-line
 * values and --exec replies, and the rendering of events as JSON objects,
 * human-readable lines and --exec environments. No I/O here, so the tests
 * call them directly.
 */
#ifndef DOBC_DOBCTL_UTIL_H
#define DOBC_DOBCTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"
#include "jsonw.h"

#define DOBCTL_WHY_MAX 256

/* Decimal numbers, the whole string, no sign, no overflow. 0 or -DOB_EINVAL. */
int dobctl_parse_u32(const char *s, uint32_t *out);
int dobctl_parse_u64(const char *s, uint64_t *out);

/* "cancel", "complete", "resume", "suspend", "resume-after-delay" (also
 * with '_'), case-insensitive. Returns the action or -DOB_EINVAL. */
int dobctl_parse_action(const char *s);
/* The CLI spelling of an action ("resume-after-delay"). */
const char *dobctl_action_name(enum dob_action a);

/* "foreground", "high", "normal", "low". Returns it or -DOB_EINVAL. */
int dobctl_parse_priority(const char *s);

/* A default policy: "none", "cancel", "complete", or
 * "resume:MAX:BACKOFF_MS[:THEN]" with THEN one of none (the default),
 * cancel, complete. deadline_ms is left 0. 0 or -DOB_EINVAL with why. */
int dobctl_parse_policy(const char *s, struct dob_policy *out, char *why, size_t whylen);
/* The same text back ("resume:2:1000:cancel"); buf of at least 64 bytes. */
void dobctl_format_policy(const struct dob_policy *p, char *buf, size_t len);

/* A comma-separated list of error, transferred, modified, resolution into
 * a bit mask (1u << DOB_EVENT_*). 0 or -DOB_EINVAL with why. */
int dobctl_parse_kinds(const char *s, uint32_t *mask, char *why, size_t whylen);

/* The first line an --exec command printed: "resume", "cancel",
 * "complete", "suspend", "resume-after-delay MS", "none" or empty (no
 * reply: *action = DOB_ACTION_UNSPECIFIED). Leading and trailing blanks
 * (and a CR) are ignored, case is not. 0 or -DOB_EINVAL with why. */
int dobctl_parse_reply(const char *line, enum dob_action *action, uint32_t *delay_ms,
		       char *why, size_t whylen);

/* An event (JobError, JobTransferred, JobModified, Resolution, Gap) as one
 * JSON object appended to w: {"type":"job_error", ...} (docs/dobctl.md has
 * the fields). */
void dobctl_event_json(struct jsonw *w, const struct dob_msg *m);
/* An ActionResult that dobctl's controller got, as a JSON object:
 * {"type":"action_result","job_id":..,"episode_id":..,"action":..,...}. */
void dobctl_action_result_json(struct jsonw *w, const struct dob_guid *job, uint64_t episode,
			       enum dob_action action, const struct dob_action_result *r);
/* A managed job as ListJobs gives it. */
void dobctl_job_json(struct jsonw *w, const struct dob_job_summary *j);
void dobctl_stats_json(struct jsonw *w, const struct dob_stats *s);
/* A resolved episode as ListHistory gives it: {"type":"history",...}. */
void dobctl_history_json(struct jsonw *w, const struct dob_history_entry *e);
/* A job the broker does not manage: {"type":"unmanaged_job","job":{...}}. */
void dobctl_unmanaged_json(struct jsonw *w, const struct dob_job_info *j);
/* Unix microseconds as "2026-12-07T17:35:14Z" (UTC); "-" for 0 (unknown). */
void dobctl_time_text(int64_t us, char *buf, size_t len);
/* A resolved episode as one human-readable line (no newline). */
void dobctl_history_line(const struct dob_history_entry *e, char *buf, size_t len);

/* An event as one human-readable line (no newline), truncated to len. */
void dobctl_event_line(const struct dob_msg *m, char *buf, size_t len);

/* A duration for people: "850 us", "12.3 ms", "14.68 s", "2m 05s",
 * "1h 02m", "3d 04h". Negative durations get a leading '-'. */
void dobctl_format_duration_us(int64_t us, char *buf, size_t len);
/* A size for people: "512 B", "1.5 KiB", "3.2 MiB", "1.1 GiB", ...; "?"
 * for DOB_SIZE_UNKNOWN. */
void dobctl_format_bytes(uint64_t bytes, char *buf, size_t len);

/* What the broker accepts as a download's URL (checked before connecting,
 * so a refusal is a usage error): http:// or https:// (any case) with a
 * host, at most DOB_MAX_URL characters, no blanks or control characters.
 * 0 or -DOB_EINVAL with why. */
int dobctl_check_url(const char *url, char *why, size_t whylen);
/* A local path the broker accepts: absolute, at most DOB_MAX_PATH bytes.
 * POSIX rules: starts with '/'. Windows rules (windows = true): a drive
 * letter path "C:\..." (or "C:/..."); refused are relative and
 * drive-relative paths ("x", "C:x", "\x"), UNC paths ("\\server\share",
 * "//server/share"), device and long-path prefixes ("\\.\", "\\?\"),
 * alternate data streams ("C:\f.bin:stream") and reserved device names
 * (CON, NUL, COM1, ...) as a component. 0 or -DOB_EINVAL with why. */
int dobctl_check_local_path(const char *path, bool windows, char *why, size_t whylen);

/* The episodes `watch --reconnect` has printed, so that the replays after a
 * reconnection are not printed twice: the last DOBCTL_SEEN_MAX episode ids
 * (older ones are forgotten first), each with whether dobctl's own answer
 * was settled (OK or ALREADY_RESOLVED): a replay of an episode printed but
 * not settled is answered again, not printed again. */
#define DOBCTL_SEEN_MAX 4096
struct dobctl_seen {
	uint64_t ids[DOBCTL_SEEN_MAX];
	bool settled[DOBCTL_SEEN_MAX];
	size_t n;    /* entries in use */
	size_t next; /* where the next one goes once full (the oldest) */
};
void dobctl_seen_init(struct dobctl_seen *s);
/* Index of episode id, or -1. */
long dobctl_seen_find(const struct dobctl_seen *s, uint64_t id);
/* Adds id (when absent); returns its index. */
size_t dobctl_seen_add(struct dobctl_seen *s, uint64_t id);

/* The environment of an --exec command for a JobError: a NULL-terminated
 * array of "NAME=value" strings (DOB_JOB_ID, DOB_EPISODE_ID, DOB_HRESULT,
 * DOB_STATE, DOB_DISPLAY_NAME, DOB_URL, DOB_LOCAL_NAME,
 * DOB_ERROR_DESCRIPTION, DOB_ERROR_CONTEXT, DOB_REPEAT_COUNT,
 * DOB_EVENT_JSON) in *out; free with dobctl_env_free. 0 or -DOB_ENOMEM. */
int dobctl_exec_env(const struct dob_msg *job_error, char ***out);
void dobctl_env_free(char **env);

#endif
