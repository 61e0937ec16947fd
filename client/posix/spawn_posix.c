/*
 * client/posix/spawn_posix.c - spawn_cmd.h on POSIX: posix_spawn of /bin/sh -c
 * CMD with stdout on a non-blocking pipe, in a process group of its own so
 * that a timeout, or dobctl's end, kills the shell and whatever it started.
 * (Being outside the terminal's foreground group, the command must not read
 * the terminal.)
 *
 * The groups of the running commands are kept in a small table that the
 * signal handlers read: the handler kills each group, restores the default
 * action and raises the signal again, so dobctl still dies of it. Signals
 * are blocked while a command is started and entered in the table, so no
 * command escapes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
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

struct spawn_child {
	pid_t pid;            /* the shell, leader of the command's group */
	int fd;               /* read end of its stdout; -1 once at its end */
	int slot;             /* its entry in groups[] */
	int64_t deadline_us;
	struct spawn_line out;
	char line[256];
};

/* Process groups of the running commands (0 = free). Written with signals
 * blocked, read by the handlers. */
static volatile pid_t groups[SPAWN_MAX];
static const int guarded[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };

bool spawn_stdin_is_terminal(void)
{
	return isatty(STDIN_FILENO) == 1;
}

bool spawn_stdout_is_terminal(void)
{
	return isatty(STDOUT_FILENO) == 1;
}

void spawn_stdout_ansi(void)
{
}

bool spawn_windows_paths(void)
{
	return false;
}

int64_t spawn_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void spawn_pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void kill_all(void)
{
	size_t i;

	for (i = 0; i < SPAWN_MAX; i++)
		if (groups[i] > 0)
			kill(-groups[i], SIGKILL);
}

static void on_signal(int sig)
{
	kill_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void spawn_guard(void)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof guarded / sizeof guarded[0]; i++)
		sigaddset(&sa.sa_mask, guarded[i]);
	for (i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
		struct sigaction old;

		/* A signal ignored by whoever started dobctl stays ignored. */
		if (sigaction(guarded[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(guarded[i], &sa, NULL);
	}
	atexit(kill_all);
}

static void block_guarded(sigset_t *old)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof guarded / sizeof guarded[0]; i++)
		sigaddset(&set, guarded[i]);
	sigprocmask(SIG_BLOCK, &set, old);
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

int spawn_start(const char *cmd, const char *const *env, int timeout_ms,
		struct spawn_child **out, char *why, size_t whylen)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct spawn_child *ch;
	sigset_t old, none, deflt;
	char **envp;
	int fds[2] = { -1, -1 }, slot, r;
	size_t i;

	*out = NULL;
	for (slot = 0; slot < SPAWN_MAX && groups[slot]; slot++)
		;
	if (slot == SPAWN_MAX) {
		snprintf(why, whylen, "%d commands already running", SPAWN_MAX);
		return -DOB_EFULL;
	}
	ch = dob_calloc(1, sizeof *ch);
	envp = merge_env(env);
	if (!ch || !envp) {
		dob_free(ch);
		dob_free(envp);
		snprintf(why, whylen, "out of memory");
		return -DOB_ENOMEM;
	}
	if (pipe(fds) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		dob_free(envp);
		dob_free(ch);
		return -DOB_EIO;
	}
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawnattr_init(&at);
	/* The command gets an empty signal mask and default actions for the
	 * signals dobctl handles. */
	sigemptyset(&none);
	sigemptyset(&deflt);
	for (i = 0; i < sizeof guarded / sizeof guarded[0]; i++)
		sigaddset(&deflt, guarded[i]);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &deflt);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	block_guarded(&old);
	r = posix_spawn(&ch->pid, "/bin/sh", &fa, &at, argv, envp);
	if (r == 0)
		groups[slot] = ch->pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	dob_free(envp);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		dob_free(ch);
		snprintf(why, whylen, "cannot run /bin/sh: %s", strerror(r));
		return -DOB_EIO;
	}
	ch->fd = fds[0];
	ch->slot = slot;
	ch->deadline_us = deadline_after(timeout_ms);
	spawn_line_init(&ch->out, ch->line, sizeof ch->line);
	*out = ch;
	return 0;
}

/* Reads what is there; at the end of the stream closes the fd. */
static void slurp(struct spawn_child *ch)
{
	char buf[4096];

	while (ch->fd >= 0) {
		ssize_t n = read(ch->fd, buf, sizeof buf);

		if (n > 0) {
			spawn_line_feed(&ch->out, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(ch->fd);
		ch->fd = -1;
	}
}

/* Kills the group, reaps the shell and frees the group's entry. */
static void finish(struct spawn_child *ch, int *status)
{
	sigset_t old;
	int st = 0;

	/* The shell is not reaped yet, so its group id cannot have been
	 * given to anyone else. */
	kill(-ch->pid, SIGKILL);
	while (waitpid(ch->pid, &st, 0) < 0 && errno == EINTR)
		;
	block_guarded(&old);
	groups[ch->slot] = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	ch->pid = 0;
	if (status)
		*status = st;
}

int spawn_check(struct spawn_child *ch, int *exit_code)
{
	siginfo_t si;
	int st = 0;

	*exit_code = -1;
	if (ch->pid == 0)
		return -DOB_EINVAL;
	slurp(ch);
	memset(&si, 0, sizeof si);
	/* WNOWAIT: seen to have ended, but not reaped until its group is
	 * killed (what it left in the background goes with it). */
	if (waitid(P_PID, (id_t)ch->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0) {
		slurp(ch);
		finish(ch, &st);
		if (WIFEXITED(st))
			*exit_code = WEXITSTATUS(st);
		else if (WIFSIGNALED(st))
			*exit_code = 128 + WTERMSIG(st);
		return 1;
	}
	if (deadline_left_ms(ch->deadline_us) == 0) {
		finish(ch, NULL);
		return -DOB_ETIMEDOUT;
	}
	return 0;
}

const char *spawn_first_line(const struct spawn_child *ch)
{
	return ch->line;
}

void spawn_free(struct spawn_child *ch)
{
	if (!ch)
		return;
	if (ch->pid)
		finish(ch, NULL);
	if (ch->fd >= 0)
		close(ch->fd);
	dob_free(ch);
}
