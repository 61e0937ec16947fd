/*
 * do_subs.exe - the subscribers of the DO callback benchmark
 * (scripts/bench-do.sh): one process with many libdobclient subscribers
 * (64 dobctl.exe processes would not fit a small machine under Wine).
 *
 *   do_subs.exe ENDPOINT READERS WANT TIMEOUT_S
 *
 * Connects READERS observers, each reading its events on a thread of its
 * own, and one more that never reads (its queue in the broker fills up and
 * stays at its limit). Prints "do_subs: N connected" once all are in, then
 * waits until every reader has seen WANT JobError events (or TIMEOUT_S
 * passed) and prints the fewest and most any reader saw, and the episodes
 * per second from the first JobError any reader saw to the last one the
 * slowest reader needed. Exits 0 when every reader got WANT.
 */
#include <stdio.h>
#include <stdlib.h>

#include <windows.h>

#include "dobclient.h"
#include "dob/err.h"
#include "dob/msg.h"

#define MAX_READERS 256

struct reader {
	struct dobc *c; /* owned */
	HANDLE th;
	long errors;
	LONGLONG first, last; /* QueryPerformanceCounter at the first / WANT-th JobError */
	int err;
};

static long want;
static volatile LONG quit;

static DWORD WINAPI reader_thread(void *arg)
{
	struct reader *r = arg;

	while (r->errors < want && !InterlockedCompareExchange(&quit, 0, 0)) {
		struct dob_msg m;
		int rc = dobc_next_event(r->c, &m, 200);

		if (rc == 0) {
			if (m.type == DOB_MSG_JOB_ERROR) {
				LARGE_INTEGER t;
				QueryPerformanceCounter(&t);
				if (r->errors++ == 0)
					r->first = t.QuadPart;
				r->last = t.QuadPart;
			}
			dob_msg_clear(&m);
		} else if (rc != -DOB_ETIMEDOUT) {
			r->err = rc;
			break;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct reader rd[MAX_READERS + 1];
	struct dobc_options o = { 0 };
	char name[32];
	int n, rc, i;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 5 || (n = atoi(argv[2])) < 1 || n > MAX_READERS || (want = atol(argv[3])) < 1 ||
	    atoi(argv[4]) < 1) {
		fprintf(stderr, "usage: do_subs.exe ENDPOINT READERS(1-%d) WANT TIMEOUT_S\n",
			MAX_READERS);
		return 2;
	}
	o.endpoint = argv[1];
	o.client_name = name;
	o.role = DOB_ROLE_OBSERVER;
	o.connect_timeout_ms = 30000;
	for (i = 0; i <= n; i++) {
		snprintf(name, sizeof(name), i < n ? "sub%d" : "stuck", i);
		rc = dobc_connect(&rd[i].c, &o);
		if (rc) {
			printf("do_subs: subscriber %d: connect: %s\n", i, dob_strerror(rc));
			return 1;
		}
	}
	printf("do_subs: %d connected (%d reading, 1 never reading)\n", n + 1, n);
	for (i = 0; i < n; i++)
		rd[i].th = CreateThread(NULL, 0, reader_thread, &rd[i], 0, NULL);
	DWORD left = (DWORD)atoi(argv[4]) * 1000;
	for (i = 0; i < n; i++) {
		ULONGLONG t0 = GetTickCount64();
		if (WaitForSingleObject(rd[i].th, left) != WAIT_OBJECT_0)
			break;
		ULONGLONG spent = GetTickCount64() - t0;
		left = spent < left ? left - (DWORD)spent : 0;
	}
	InterlockedExchange(&quit, 1);
	long lo = want, hi = 0;
	LONGLONG first = 0, last = 0;
	int failed = 0;
	for (i = 0; i < n; i++) {
		WaitForSingleObject(rd[i].th, INFINITE);
		CloseHandle(rd[i].th);
		lo = rd[i].errors < lo ? rd[i].errors : lo;
		hi = rd[i].errors > hi ? rd[i].errors : hi;
		if (rd[i].errors && (!first || rd[i].first < first))
			first = rd[i].first;
		if (rd[i].last > last)
			last = rd[i].last;
		failed += rd[i].err != 0;
	}
	LARGE_INTEGER f;
	QueryPerformanceFrequency(&f);
	double secs = last > first ? (double)(last - first) / (double)f.QuadPart : 0;
	printf("do_subs: %d readers got %ld..%ld of %ld JobErrors (%d read errors); "
	       "%.1f episodes/s at the slowest reader\n", n, lo, hi, want, failed,
	       secs > 0 ? (double)(want - 1) / secs : 0.0);
	for (i = 0; i <= n; i++)
		dobc_close(rd[i].c);
	return lo == want && !failed ? 0 : 1;
}
