/*
 * tests/wine/wtest.h - the few helpers the platform tests under Wine share
 * (no Criterion on MinGW): CHECK counts, the last line printed is
 * "N passed, N failed", and the exit code is 1 on any failure.
 */
#ifndef DOB_WTEST_H
#define DOB_WTEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <windows.h>

static int wt_passed, wt_failed;

#define CHECK(cond) wt_check((cond) ? 1 : 0, #cond, __LINE__)
#define CHECK_EQ(got, want) wt_check_eq((int64_t)(got), (int64_t)(want), #got, __LINE__)
#define CHECK_STR(got, want) wt_check_str((got), (want), #got, __LINE__)

static inline int wt_check(int ok, const char *what, int line)
{
	if (ok) {
		wt_passed++;
	} else {
		wt_failed++;
		printf("FAIL line %d: %s\n", line, what);
		fflush(stdout);
	}
	return ok;
}

static inline int wt_check_eq(int64_t got, int64_t want, const char *what, int line)
{
	if (got == want)
		return wt_check(1, what, line);
	printf("FAIL line %d: %s == %lld, want %lld\n", line, what, (long long)got,
	       (long long)want);
	wt_failed++;
	fflush(stdout);
	return 0;
}

static inline int wt_check_str(const char *got, const char *want, const char *what, int line)
{
	if (got && want && strcmp(got, want) == 0)
		return wt_check(1, what, line);
	printf("FAIL line %d: %s == \"%s\", want \"%s\"\n", line, what, got ? got : "(null)",
	       want ? want : "(null)");
	wt_failed++;
	fflush(stdout);
	return 0;
}

/* Polls cond every 2 ms until it holds or ms have passed (then CHECK it). */
#define WAIT_FOR(cond, ms)                                                  \
	do {                                                                \
		ULONGLONG wt_until_ = GetTickCount64() + (ms);              \
		while (!(cond) && GetTickCount64() < wt_until_)             \
			Sleep(2);                                           \
	} while (0)

static inline int wt_finish(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, wt_passed, wt_failed);
	printf("%d passed, %d failed\n", wt_passed, wt_failed);
	fflush(stdout);
	return wt_failed ? 1 : 0;
}

/* A pipe name no other run uses: dobtest-<what>-<pid>-<tick>. */
static inline void wt_unique_pipe(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "\\\\.\\pipe\\dobtest-%s-%lu-%llu", what,
		 (unsigned long)GetCurrentProcessId(), (unsigned long long)GetTickCount64());
}

/* Opens the pipe as the client library does (identification-level
 * impersonation only), waiting through ERROR_PIPE_BUSY for up to ms. */
static inline HANDLE wt_connect(const char *name, DWORD ms)
{
	wchar_t w[300];
	MultiByteToWideChar(CP_UTF8, 0, name, -1, w, 300);
	ULONGLONG until = GetTickCount64() + ms;
	for (;;) {
		HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
				       SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
		if (h != INVALID_HANDLE_VALUE)
			return h;
		DWORD e = GetLastError();
		if (GetTickCount64() >= until || (e != ERROR_PIPE_BUSY && e != ERROR_FILE_NOT_FOUND))
			return INVALID_HANDLE_VALUE;
		if (e == ERROR_PIPE_BUSY)
			WaitNamedPipeW(w, 50);
		else
			Sleep(5);
	}
}

/* Reads exactly n bytes (blocking handle); false on EOF or error. */
static inline int wt_read_all(HANDLE h, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		DWORD got = 0;
		if (!ReadFile(h, p, n > 65536 ? 65536 : (DWORD)n, &got, NULL) || got == 0)
			return 0;
		p += got;
		n -= got;
	}
	return 1;
}

static inline int wt_write_all(HANDLE h, const void *buf, size_t n)
{
	DWORD put = 0;
	return WriteFile(h, buf, (DWORD)n, &put, NULL) && put == n;
}

#endif
