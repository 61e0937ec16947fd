/*
 * client/win32/spawn_win32.c - spawn_cmd.h on Windows: CreateProcessW of
 * %ComSpec% /d /s /c "CMD" (cmd.exe when ComSpec is unset) with stdout on an
 * anonymous pipe, inside a job object of its own with
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: a timeout kills the shell and whatever
 * it started (TerminateJobObject), and when dobctl ends, in any way, the
 * system closes its handle to the job and kills them. The process is
 * created suspended and assigned to the job before it runs, so nothing it
 * starts escapes the job.
 *
 * Anonymous pipes have no overlapped I/O, so the output is collected by
 * polling from spawn_check: PeekNamedPipe for bytes, then a zero wait on
 * the process.
 *
 * The environment block is dobctl's own (GetEnvironmentStringsW) with the
 * DOB_* variables replaced, sorted by name case-insensitively as
 * CreateProcess asks.
 */
#include <windows.h>

#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "deadline.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "spawn_cmd.h"

bool spawn_stdin_is_terminal(void)
{
	DWORD mode;
	HANDLE h = GetStdHandle(STD_INPUT_HANDLE);

	return h && h != INVALID_HANDLE_VALUE && GetConsoleMode(h, &mode);
}

static WCHAR *to_wide(const char *s)
{
	int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
	WCHAR *w;

	if (n <= 0)
		return NULL;
	w = dob_malloc((size_t)n * sizeof *w);
	if (w && !MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n)) {
		dob_free(w);
		return NULL;
	}
	return w;
}

/* Length of the name part of "NAME=value". Names may start with '='
 * (cmd.exe's per-drive directories): the first '=' is part of the name. */
static size_t name_len(const WCHAR *e)
{
	const WCHAR *eq = wcschr(e + 1, L'=');

	return eq ? (size_t)(eq - e) : wcslen(e);
}

static int cmp_env(const void *a, const void *b)
{
	const WCHAR *x = *(const WCHAR *const *)a, *y = *(const WCHAR *const *)b;
	size_t nx = name_len(x), ny = name_len(y);
	int r = _wcsnicmp(x, y, nx < ny ? nx : ny);

	return r ? r : (nx > ny) - (nx < ny);
}

/* A new environment block, or NULL. */
static WCHAR *make_block(const char *const *env)
{
	WCHAR *base = GetEnvironmentStringsW(), *block = NULL, **ent = NULL, **ours = NULL, *p;
	size_t n_base = 0, n_ours = 0, n = 0, total = 1, i, k;

	if (!base)
		return NULL;
	for (p = base; *p; p += wcslen(p) + 1)
		n_base++;
	for (k = 0; env && env[k]; k++)
		n_ours++;
	ours = dob_calloc(n_ours + 1, sizeof *ours);
	ent = dob_calloc(n_base + n_ours + 1, sizeof *ent);
	if (!ours || !ent)
		goto out;
	for (k = 0; k < n_ours; k++)
		if (!(ours[k] = to_wide(env[k])))
			goto out;
	for (p = base; *p; p += wcslen(p) + 1) {
		bool replaced = false;

		for (k = 0; k < n_ours && !replaced; k++)
			replaced = name_len(p) == name_len(ours[k]) &&
				   _wcsnicmp(p, ours[k], name_len(p)) == 0;
		if (!replaced)
			ent[n++] = p;
	}
	for (k = 0; k < n_ours; k++)
		ent[n++] = ours[k];
	qsort(ent, n, sizeof *ent, cmp_env);
	for (i = 0; i < n; i++)
		total += wcslen(ent[i]) + 1;
	block = dob_malloc(total * sizeof *block);
	if (!block)
		goto out;
	p = block;
	for (i = 0; i < n; i++) {
		size_t l = wcslen(ent[i]) + 1;

		memcpy(p, ent[i], l * sizeof *p);
		p += l;
	}
	*p = L'\0';
out:
	for (k = 0; ours && k < n_ours; k++)
		dob_free(ours[k]);
	dob_free(ours);
	dob_free(ent);
	FreeEnvironmentStringsW(base);
	return block;
}

static void win_why(char *why, size_t whylen, const char *what, DWORD e)
{
	char text[200];
	DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
				 e, 0, text, sizeof text, NULL);

	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (n == 0)
		snprintf(text, sizeof text, "error %lu", (unsigned long)e);
	snprintf(why, whylen, "%s: %s", what, text);
}

struct spawn_child {
	HANDLE process;   /* owned; NULL once finished */
	HANDLE job;       /* owned: closing it kills what is left */
	HANDLE rd;        /* owned: read end of its stdout; NULL at its end */
	int64_t deadline_us;
	struct spawn_line out;
	char line[256];
};

static int running;

bool spawn_stdout_is_terminal(void)
{
	DWORD mode;
	HANDLE h = GetStdHandle(STD_OUTPUT_HANDLE);

	return h && h != INVALID_HANDLE_VALUE && GetConsoleMode(h, &mode);
}

void spawn_stdout_ansi(void)
{
	HANDLE h = GetStdHandle(STD_OUTPUT_HANDLE);
	DWORD mode;

	if (h && h != INVALID_HANDLE_VALUE && GetConsoleMode(h, &mode))
		SetConsoleMode(h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING);
}

bool spawn_windows_paths(void)
{
	return true;
}

int64_t spawn_wall_us(void)
{
	FILETIME ft;
	ULARGE_INTEGER u;

	GetSystemTimeAsFileTime(&ft);
	u.LowPart = ft.dwLowDateTime;
	u.HighPart = ft.dwHighDateTime;
	/* 100 ns units since 1601 to microseconds since 1970. */
	return (int64_t)(u.QuadPart / 10) - 11644473600000000LL;
}

void spawn_pause_ms(int ms)
{
	Sleep(ms < 0 ? 0 : (DWORD)ms);
}

void spawn_guard(void)
{
	/* Nothing to install: KILL_ON_JOB_CLOSE does it (see above). */
}

int spawn_start(const char *cmd, const char *const *env, int timeout_ms,
		struct spawn_child **out, char *why, size_t whylen)
{
	SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
	JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim;
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	HANDLE wr = NULL;
	WCHAR *block = NULL, *cmdline = NULL;
	const char *comspec = getenv("ComSpec");
	char *narrow = NULL;
	struct spawn_child *ch = NULL;
	size_t nl;
	int r = -DOB_EIO;

	*out = NULL;
	memset(&pi, 0, sizeof pi);
	if (running >= SPAWN_MAX) {
		snprintf(why, whylen, "%d commands already running", SPAWN_MAX);
		return -DOB_EFULL;
	}
	if (!comspec || !*comspec)
		comspec = "cmd.exe";
	nl = strlen(comspec) + strlen(cmd) + 32;
	narrow = dob_malloc(nl);
	ch = dob_calloc(1, sizeof *ch);
	if (!narrow || !ch) {
		dob_free(narrow);
		dob_free(ch);
		snprintf(why, whylen, "out of memory");
		return -DOB_ENOMEM;
	}
	/* /s: cmd strips the outer quotes and runs CMD exactly as written. */
	snprintf(narrow, nl, "\"%s\" /d /s /c \"%s\"", comspec, cmd);
	cmdline = to_wide(narrow);
	dob_free(narrow);
	block = make_block(env);
	if (!cmdline || !block) {
		snprintf(why, whylen, "out of memory (or a command that is not UTF-8)");
		r = -DOB_ENOMEM;
		goto fail;
	}
	ch->job = CreateJobObjectW(NULL, NULL);
	if (!ch->job) {
		win_why(why, whylen, "CreateJobObject", GetLastError());
		goto fail;
	}
	memset(&lim, 0, sizeof lim);
	lim.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
	if (!SetInformationJobObject(ch->job, JobObjectExtendedLimitInformation, &lim,
				     sizeof lim)) {
		win_why(why, whylen, "SetInformationJobObject", GetLastError());
		goto fail;
	}
	if (!CreatePipe(&ch->rd, &wr, &sa, 0)) {
		win_why(why, whylen, "CreatePipe", GetLastError());
		goto fail;
	}
	SetHandleInformation(ch->rd, HANDLE_FLAG_INHERIT, 0);
	memset(&si, 0, sizeof si);
	si.cb = sizeof si;
	si.dwFlags = STARTF_USESTDHANDLES;
	si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
	si.hStdOutput = wr;
	si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
	if (!CreateProcessW(NULL, cmdline, NULL, NULL, TRUE,
			    CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED, block, NULL, &si, &pi)) {
		win_why(why, whylen, "CreateProcess", GetLastError());
		goto fail;
	}
	if (!AssignProcessToJobObject(ch->job, pi.hProcess)) {
		win_why(why, whylen, "AssignProcessToJobObject", GetLastError());
		TerminateProcess(pi.hProcess, 1);
		CloseHandle(pi.hThread);
		CloseHandle(pi.hProcess);
		goto fail;
	}
	ResumeThread(pi.hThread);
	CloseHandle(pi.hThread);
	CloseHandle(wr);
	dob_free(block);
	dob_free(cmdline);
	ch->process = pi.hProcess;
	ch->deadline_us = deadline_after(timeout_ms);
	spawn_line_init(&ch->out, ch->line, sizeof ch->line);
	running++;
	*out = ch;
	return 0;

fail:
	if (wr)
		CloseHandle(wr);
	if (ch->rd)
		CloseHandle(ch->rd);
	if (ch->job)
		CloseHandle(ch->job);
	dob_free(ch);
	dob_free(block);
	dob_free(cmdline);
	return r;
}

static void slurp(struct spawn_child *ch)
{
	while (ch->rd) {
		DWORD avail = 0, got = 0;
		char buf[4096];

		if (!PeekNamedPipe(ch->rd, NULL, 0, NULL, &avail, NULL)) {
			/* Every writer closed the pipe. */
			CloseHandle(ch->rd);
			ch->rd = NULL;
			return;
		}
		if (avail == 0)
			return;
		if (!ReadFile(ch->rd, buf, avail < sizeof buf ? avail : sizeof buf, &got, NULL))
			return;
		spawn_line_feed(&ch->out, buf, got);
	}
}

/* Kills what is left in the job and lets go of the process. */
static void finish(struct spawn_child *ch)
{
	TerminateJobObject(ch->job, 1);
	CloseHandle(ch->process);
	ch->process = NULL;
	running--;
}

int spawn_check(struct spawn_child *ch, int *exit_code)
{
	DWORD code = 0;

	*exit_code = -1;
	if (!ch->process)
		return -DOB_EINVAL;
	slurp(ch);
	if (WaitForSingleObject(ch->process, 0) == WAIT_OBJECT_0) {
		slurp(ch);
		GetExitCodeProcess(ch->process, &code);
		*exit_code = (int)code;
		finish(ch);
		return 1;
	}
	if (deadline_left_ms(ch->deadline_us) == 0) {
		TerminateJobObject(ch->job, 1);
		WaitForSingleObject(ch->process, INFINITE);
		finish(ch);
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
	if (ch->process)
		finish(ch);
	if (ch->rd)
		CloseHandle(ch->rd);
	CloseHandle(ch->job);
	dob_free(ch);
}
