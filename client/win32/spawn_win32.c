/*
 * client/win32/spawn_win32.c - spawn_cmd.h on Windows: CreateProcessW of
 * %ComSpec% /d /s /c "CMD" (cmd.exe when ComSpec is unset) with stdout on an
 * anonymous pipe, inside a job object so that a timeout kills the shell and
 * whatever it started (TerminateJobObject).
 *
 * Anonymous pipes have no overlapped I/O, so the output is collected by
 * polling: PeekNamedPipe for bytes, and a short wait on the process between
 * polls; the deadline is checked on each turn.
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

/* deadline_left_ms() for the Wait functions. */
static DWORD remaining_ms(int64_t deadline_us)
{
	int ms = deadline_left_ms(deadline_us);

	return ms < 0 ? INFINITE : (DWORD)ms;
}

int spawn_capture(const char *cmd, const char *const *env, char *line, size_t cap,
		  int timeout_ms, int *exit_code, char *why, size_t whylen)
{
	int64_t deadline = deadline_after(timeout_ms);
	SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	HANDLE rd = NULL, wr = NULL, job = NULL;
	WCHAR *block = NULL, *cmdline = NULL;
	const char *comspec = getenv("ComSpec");
	char *narrow = NULL;
	struct spawn_line out;
	size_t nl;
	bool exited = false;
	DWORD code = 0;
	int r = -DOB_EIO;

	*exit_code = -1;
	spawn_line_init(&out, line, cap);
	memset(&pi, 0, sizeof pi);
	if (!comspec || !*comspec)
		comspec = "cmd.exe";
	nl = strlen(comspec) + strlen(cmd) + 32;
	narrow = dob_malloc(nl);
	if (!narrow) {
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
		goto out;
	}
	if (!CreatePipe(&rd, &wr, &sa, 0)) {
		win_why(why, whylen, "CreatePipe", GetLastError());
		goto out;
	}
	SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
	job = CreateJobObjectW(NULL, NULL);
	memset(&si, 0, sizeof si);
	si.cb = sizeof si;
	si.dwFlags = STARTF_USESTDHANDLES;
	si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
	si.hStdOutput = wr;
	si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
	if (!CreateProcessW(NULL, cmdline, NULL, NULL, TRUE,
			    CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED, block, NULL, &si, &pi)) {
		win_why(why, whylen, "CreateProcess", GetLastError());
		goto out;
	}
	if (job)
		AssignProcessToJobObject(job, pi.hProcess);
	ResumeThread(pi.hThread);
	CloseHandle(wr);
	wr = NULL;

	for (;;) {
		DWORD avail = 0, got = 0;
		char buf[4096];

		if (!PeekNamedPipe(rd, NULL, 0, NULL, &avail, NULL))
			break; /* every writer closed the pipe */
		if (avail > 0) {
			if (!ReadFile(rd, buf, avail < sizeof buf ? avail : sizeof buf, &got, NULL))
				break;
			spawn_line_feed(&out, buf, got);
			continue;
		}
		if (exited)
			break; /* exited and nothing left to read */
		if (remaining_ms(deadline) == 0)
			break;
		exited = WaitForSingleObject(pi.hProcess, 10) == WAIT_OBJECT_0;
	}
	if (WaitForSingleObject(pi.hProcess, remaining_ms(deadline)) != WAIT_OBJECT_0) {
		if (job)
			TerminateJobObject(job, 1);
		else
			TerminateProcess(pi.hProcess, 1);
		WaitForSingleObject(pi.hProcess, INFINITE);
		snprintf(why, whylen, "killed after %d ms", timeout_ms);
		r = -DOB_ETIMEDOUT;
		goto out;
	}
	GetExitCodeProcess(pi.hProcess, &code);
	*exit_code = (int)code;
	r = 0;
out:
	if (pi.hProcess)
		CloseHandle(pi.hProcess);
	if (pi.hThread)
		CloseHandle(pi.hThread);
	if (rd)
		CloseHandle(rd);
	if (wr)
		CloseHandle(wr);
	if (job)
		CloseHandle(job);
	dob_free(block);
	dob_free(cmdline);
	return r;
}
