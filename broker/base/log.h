/*
 * broker/base/log.h - leveled logging to stderr or a log file, one line per
 * message:
 *   2026-11-23T23:54:31.123Z dobrokerd[1234] warn session 7: frame too large (70000 > 65536)
 * Thread-safe (one write per line, or per turn of the loop: see below). The
 * level is set at start and again when the configuration is reloaded.
 *
 * Operator events (dob_log_event, below) are the few things an operator's
 * tools collect: the broker started, stopped or failed, a reload, and (at
 * the "episodes" level) every error episode and its resolution. Each is a
 * structured log line and, where the platform installed a sink (the Windows
 * Event Log), a record there too.
 */
#ifndef DOB_LOG_H
#define DOB_LOG_H

#include <stddef.h>
#include <stdint.h>

enum dob_log_level {
	DOB_LOG_ERROR = 0,
	DOB_LOG_WARN = 1,
	DOB_LOG_INFO = 2,
	DOB_LOG_DEBUG = 3,
};

void dob_log_set_level(enum dob_log_level lvl);
enum dob_log_level dob_log_get_level(void);
/* Returns -1 for an unknown name ("error", "warn", "info", "debug"). */
int dob_log_parse_level(const char *name);
void dob_log_set_ident(const char *ident); /* "dobrokerd" by default */
/* Wall clock for the timestamps (microseconds since 1970, UTC); by default
 * whole seconds from time(). dobrokerd installs plat_wall_us. */
void dob_log_set_clock(int64_t (*wall_us)(void));

/*
 * Held lines: a loop thread calls dob_log_turn_end() once per turn, before
 * it sleeps. The first call makes it the holder (one thread per process;
 * on any other thread, and until then, every line is written at once);
 * from then on its info and debug lines are kept and written, whole and in
 * one write, at its next dob_log_turn_end(), at dob_log_flush() (the
 * router calls it before handing frames to the platform, so a peer never
 * sees what the log does not show yet), when 16 KiB piled up, or before
 * its next error or warning line, which are never held. A broker killed
 * with SIGKILL loses at most the info lines of the turn it was in.
 * dob_log_release() writes what is held and ends the holding: call it
 * after the loop has returned (broker_shutdown and broker_free do).
 */
void dob_log_turn_end(void);
void dob_log_flush(void);
void dob_log_release(void);

/*
 * Log file with size-bounded rotation. From this call on, lines go to path
 * (appended; created if missing) instead of stderr. With max_size > 0, a
 * write that would take the file past max_size bytes first rotates: path.N
 * is removed, path.K is renamed path.K+1 (K = N-1 .. 1), path becomes
 * path.1, and a new path is started; N = max_files (0: no old file is
 * kept). Writes are whole lines (a turn's held lines together), so no line
 * is ever split between two files, and a file passes max_size only when
 * one write alone is larger. Calling it again switches files (a reload);
 * NULL path goes back to stderr. On failure (err says why) the previous
 * destination stays. The path goes to fopen: on Windows it must be in the
 * ANSI code page.
 */
int dob_log_open_file(const char *path, uint64_t max_size, unsigned max_files, char *err,
		      size_t errlen);
/* Back to stderr; closes the file. */
void dob_log_close_file(void);

/* ------------------------------------------------------------ operator events */

/* The ids are the Windows Event Log's event ids (the message table in
 * broker/win32/dobrokerd_msg.mc has the same numbers; docs/operators.md
 * lists them). */
enum dob_log_event {
	DOB_EVENT_STARTED = 1000,          /* info: listening; text: endpoint, backend */
	DOB_EVENT_STOPPED = 1001,          /* info: clean stop */
	DOB_EVENT_START_FAILED = 1002,     /* error: text: the reason */
	DOB_EVENT_FAILED = 1003,           /* error: the running broker failed; text: reason */
	DOB_EVENT_RELOADED = 1004,         /* info: text: what changed, what needs a restart */
	DOB_EVENT_RELOAD_FAILED = 1005,    /* warn: text: the reason (old settings kept) */
	DOB_EVENT_EPISODE_OPENED = 2000,   /* warn: job, episode, hr (the job's error), text */
	DOB_EVENT_EPISODE_RESOLVED = 2001, /* info: job, episode, hr (the action's), action, actor */
};

/* Which events are reported (--eventlog). */
enum dob_event_level {
	DOB_EVENTS_OFF = 0,      /* none */
	DOB_EVENTS_SERVICE = 1,  /* start, stop, failures, reloads (default) */
	DOB_EVENTS_EPISODES = 2, /* also every error episode and its resolution */
};

/* What an event carries; unused fields NULL / 0. */
struct dob_event_info {
	const char *job;     /* the job's GUID as text */
	uint64_t episode;    /* episode id */
	uint32_t hr;         /* HRESULT: the job's error (opened), the action's (resolved) */
	const char *action;  /* resolved: the action's name */
	const char *actor;   /* resolved: who decided (client name, "policy", ...) */
	const char *text;    /* free text: the reason, the endpoint and backend, ... */
};

/* The insertion strings every event has, in this order (%1..%6 in the
 * message table): job, episode, HRESULT (0xXXXXXXXX), action, actor,
 * text; "" where the event has none, "0" for no episode. */
#define DOB_EVENT_NSTR 6

/* A platform sink (the Windows Event Log) gets every event at or under the
 * configured level, with its severity and its insertion strings. Set before
 * the loop starts (and cleared after it ends); the sink is called on the
 * thread that reports, usually the loop thread. */
typedef void (*dob_event_sink_fn)(void *ctx, enum dob_log_event id, enum dob_log_level sev,
				  const char *const strings[DOB_EVENT_NSTR]);
void dob_log_set_event_sink(dob_event_sink_fn fn, void *ctx);
void dob_log_set_event_level(enum dob_event_level lvl);
enum dob_event_level dob_log_get_event_level(void);
/* "off", "service", "episodes"; -1 for anything else. */
int dob_log_parse_event_level(const char *name);
const char *dob_log_event_level_name(enum dob_event_level lvl);
/* "started", "episode-opened", ...; "unknown" for other values. */
const char *dob_log_event_name(enum dob_log_event id);
enum dob_log_level dob_log_event_severity(enum dob_log_event id);
/* Fills the insertion strings into buf (bufs[i] points into it). */
void dob_log_event_strings(const struct dob_event_info *info, char *buf, size_t len,
			   const char *strs[DOB_EVENT_NSTR]);

/*
 * Reports an event when the event level admits it (service events at
 * "service", episode events at "episodes"): one structured line at the
 * event's severity (subject to the log level like any line), e.g.
 *   ... warn event 2000 episode-opened job={...} episode=7 hr=0x80190194 action="" actor="" text="..."
 * then the platform sink, if any.
 */
void dob_log_event(enum dob_log_event id, const struct dob_event_info *info);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void dob_log(enum dob_log_level lvl, const char *fmt, ...);

#define log_error(...) dob_log(DOB_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) dob_log(DOB_LOG_WARN, __VA_ARGS__)
#define log_info(...) dob_log(DOB_LOG_INFO, __VA_ARGS__)
#define log_debug(...) dob_log(DOB_LOG_DEBUG, __VA_ARGS__)

#endif
