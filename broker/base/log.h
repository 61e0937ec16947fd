/*
 * broker/core/log.h - leveled logging to stderr, one line per message:
 *   2026-11-23T23:54:31.123Z dobrokerd[1234] warn session 7: frame too large (70000 > 65536)
 * Thread-safe (one write per line, or per turn of the loop: see below). The
 * level is set once at start.
 */
#ifndef DOB_LOG_H
#define DOB_LOG_H

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

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void dob_log(enum dob_log_level lvl, const char *fmt, ...);

#define log_error(...) dob_log(DOB_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) dob_log(DOB_LOG_WARN, __VA_ARGS__)
#define log_info(...) dob_log(DOB_LOG_INFO, __VA_ARGS__)
#define log_debug(...) dob_log(DOB_LOG_DEBUG, __VA_ARGS__)

#endif
