/*
 * client/posix/spawn_posix.c - spawn_cmd.h on POSIX: posix_spawn of /bin/sh -c
 * CMD with stdout on a pipe, in a process group of its own so that a
 * timeout kills the shell and whatever it started. (Being outside the
 * terminal's foreground group, the command must not read the terminal.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "spawn_cmd.h"

extern char **environ;

bool spawn_stdin_is_terminal(void)
{
	return isatty(STDIN_FILENO) == 1;
}

/* Is the variable of entry ("NAME=value") set by env? */
static bool overridden(const char *entry, const char *const *env)
{
	size_t n = strcspn(entry, "=");

	for (; env && *env; env++)
		if (strncmp(*env, entry, n) == 0 && (*env)[n] == '=')
			return true;
	return false;
}

/* dobctl's environment with env on top. The strings are borrowed. */
static char **merge_env(const char *const *env)
{
	size_t n = 0, i = 0, k;
	char **out;

	for (k = 0; environ && environ[k]; k++)
		n++;
	for (k = 0; env && env[k]; k++)
		n++;
	out = dob_calloc(n + 1, sizeof *out);
	if (!out)
		return NULL;
	for (k = 0; environ && environ[k]; k++)
		if (!overridden(environ[k], env))
			out[i++] = environ[k];
	for (k = 0; env && env[k]; k++)
		out[i++] = (char *)env[k];
	out[i] = NULL;
	return out;
}

/* Waits for pid until the deadline. Returns 0 with *status, or -DOB_ETIMEDOUT. */
static int reap(pid_t pid, int64_t deadline_us, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -DOB_EIO;
		if (deadline_left_ms(deadline_us) == 0)
			return -DOB_ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

int spawn_capture(const char *cmd, const char *const *env, char *line, size_t cap,
		  int timeout_ms, int *exit_code, char *why, size_t whylen)
{
	int64_t deadline = deadline_after(timeout_ms);
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char **envp = NULL;
	struct spawn_line out;
	bool eof = false;
	int fds[2] = { -1, -1 }, status = 0, r;
	pid_t pid;

	*exit_code = -1;
	spawn_line_init(&out, line, cap);
	envp = merge_env(env);
	if (!envp) {
		snprintf(why, whylen, "out of memory");
		return -DOB_ENOMEM;
	}
	if (pipe(fds) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		dob_free(envp);
		return -DOB_EIO;
	}
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	r = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	dob_free(envp);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		snprintf(why, whylen, "cannot run /bin/sh: %s", strerror(r));
		return -DOB_EIO;
	}

	while (!eof) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		char buf[4096];
		ssize_t n;
		int w = poll(&p, 1, deadline_left_ms(deadline));

		if (w == 0)
			break; /* timed out */
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n = read(fds[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = true;
			break;
		}
		spawn_line_feed(&out, buf, (size_t)n);
	}
	close(fds[0]);

	r = eof ? reap(pid, deadline, &status) : -DOB_ETIMEDOUT;
	if (r == -DOB_ETIMEDOUT) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(why, whylen, "killed after %d ms", timeout_ms);
		return -DOB_ETIMEDOUT;
	}
	if (r < 0) {
		snprintf(why, whylen, "waitpid: %s", strerror(errno));
		return r;
	}
	if (WIFEXITED(status))
		*exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		*exit_code = 128 + WTERMSIG(status);
	return 0;
}
