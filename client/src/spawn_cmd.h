/*
 * client/src/spawn_cmd.h - runs a command for dobctl watch --exec and reads its
 * answer; and the one other thing dobctl asks of the OS, whether stdin is a
 * terminal.
 *
 * Implemented once per platform: client/posix/spawn_posix.c (posix_spawn of
 * /bin/sh -c CMD in its own process group) and client/win32/spawn_win32.c
 * (CreateProcessW of %ComSpec% /d /s /c "CMD" inside a job object).
 */
#ifndef DOBC_SPAWN_CMD_H
#define DOBC_SPAWN_CMD_H

#include <stdbool.h>
#include <stddef.h>

/* Runs cmd through the platform's shell with env ("NAME=value" strings,
 * NULL-terminated; they replace variables of the same name) added to
 * dobctl's own environment. stdin and stderr are dobctl's; stdout is
 * captured: its first line (without the line end, truncated to cap - 1
 * bytes) goes to line, the rest is read and discarded. Waits up to
 * timeout_ms (negative = forever), then kills the command and everything
 * it started.
 *
 * Returns 0 when the command ran to its end (*exit_code: its exit status,
 * or 128 + the signal that ended it), -DOB_ETIMEDOUT (killed; line holds
 * what came before), -DOB_EIO or -DOB_ENOMEM (could not run it; why says
 * so). */
int spawn_capture(const char *cmd, const char *const *env, char *line, size_t cap,
		  int timeout_ms, int *exit_code, char *why, size_t whylen);

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

/* True when dobctl's stdin is an interactive terminal (console). */
bool spawn_stdin_is_terminal(void);

#endif
