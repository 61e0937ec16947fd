/*
 * client/src/spawn_cmd.h - runs the commands of dobctl watch --exec and reads
 * their answers; and the few other things dobctl asks of the OS (is stdin or
 * stdout a terminal, which path rules apply, a wall clock, a pause).
 *
 * Implemented once per platform: client/posix/spawn_posix.c (posix_spawn of
 * /bin/sh -c CMD in a process group of its own) and
 * client/win32/spawn_win32.c (CreateProcessW of %ComSpec% /d /s /c "CMD"
 * inside a job object that kills it when dobctl's handle to it closes).
 *
 * A command dies with dobctl: on POSIX spawn_guard() installs handlers for
 * SIGTERM, SIGINT, SIGHUP and SIGPIPE and an atexit hook that kill the
 * process group of every command still running (a command runs in a group
 * of its own, so the terminal's Ctrl-C reaches dobctl only, which passes it
 * on this way); on Windows the job object has
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, so the system kills the commands when
 * dobctl ends in any way. (A SIGKILL of dobctl on POSIX cannot be caught:
 * the commands then run on to their own end.)
 */
#ifndef DOBC_SPAWN_CMD_H
#define DOBC_SPAWN_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Commands running at once, at most (bounds --exec-concurrency). */
#define SPAWN_MAX 64

struct spawn_child;

/* Installs what kills the running commands when dobctl ends (see above).
 * Call once, before the first spawn_start. */
void spawn_guard(void);

/* Starts cmd through the platform's shell with env ("NAME=value" strings,
 * NULL-terminated; they replace variables of the same name) added to
 * dobctl's own environment. stdin and stderr are dobctl's; stdout is read
 * by spawn_check. It is killed, with everything it started, timeout_ms
 * after its start (negative = never). Returns 0 with *out, -DOB_EFULL
 * (SPAWN_MAX running), -DOB_EIO or -DOB_ENOMEM (could not run it; why says
 * so). */
int spawn_start(const char *cmd, const char *const *env, int timeout_ms,
		struct spawn_child **out, char *why, size_t whylen);

/* Reads what the command printed and whether it ended, without blocking.
 * Returns 0 while it runs; 1 when it has ended (*exit_code: its exit
 * status, or 128 + the signal that ended it; what it left running in the
 * background is killed); -DOB_ETIMEDOUT when its time was up (it has been
 * killed with everything it started). */
int spawn_check(struct spawn_child *ch, int *exit_code);

/* The first line the command printed (without the line end, truncated to
 * 255 bytes); the rest of its output is read and discarded. */
const char *spawn_first_line(const struct spawn_child *ch);

/* Kills the command (and what it started) if it still runs, and frees.
 * NULL-safe. */
void spawn_free(struct spawn_child *ch);

/* The first-line capture both runners share: feed it stdout's bytes as
 * they come; buf holds the first line (no line end, NUL-terminated,
 * truncated to cap - 1 bytes), the rest is ignored. */
struct spawn_line {
	char *buf;   /* borrowed */
	size_t cap;
	size_t have;
	bool done;   /* the first line ended */
};
void spawn_line_init(struct spawn_line *l, char *buf, size_t cap);
void spawn_line_feed(struct spawn_line *l, const char *p, size_t n);

/* True when dobctl's stdin (stdout) is an interactive terminal (console). */
bool spawn_stdin_is_terminal(void);
bool spawn_stdout_is_terminal(void);

/* Prepares the terminal on stdout for ANSI escapes (`top` clears the
 * screen with them): nothing to do on POSIX; on Windows the console needs
 * ENABLE_VIRTUAL_TERMINAL_PROCESSING (Windows 10 and later). */
void spawn_stdout_ansi(void);

/* True when local paths follow Windows rules (drive letters, UNC, ...). */
bool spawn_windows_paths(void);

/* The wall clock in Unix microseconds. */
int64_t spawn_wall_us(void);

/* Waits ms milliseconds (reconnection backoff, the refresh of `top`). */
void spawn_pause_ms(int ms);

#endif
