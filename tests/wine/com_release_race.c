/*
 * com_release_race.exe - the smallest program that shows the proxy release
 * race of Wine 8.0's combase (see broker/win32/com_worker.c "Wine's proxy
 * release race" and docs/do-emulator.md), with Wine's BITS service as the
 * out-of-process server and nothing of the broker but the workaround.
 *
 *   com_release_race.exe [--hold] [THREADS] [ROUNDS]
 *
 * THREADS (default 4) MTA threads each make ROUNDS (default 2000) proxies
 * and release them: IBackgroundCopyManager::EnumJobs returns a new
 * enumerator object each time, so each Release destroys a proxy manager,
 * which fetches the service's IRemUnknown proxy and releases it again.
 * Without --hold nothing else holds that IRemUnknown proxy, which is the
 * state in which Wine 8.0's find_proxy_manager can revive a dying one
 * (the broker crashed so inside combase: IUnknown_Release_Proxy ->
 * proxy_manager_destroy -> ifproxy_release_public_refs). With --hold the
 * manager proxy keeps it (com_hold_rem_unknown). The window is narrow: on
 * the development machine 4 x 2000 rounds without --hold did not crash,
 * while the broker's storm (tests/e2e/stress/do_storm.sh) did within a
 * minute; see docs/do-emulator.md. Prints "com_release_race: N rounds
 * done" and exits 0 when nothing crashed. By hand only (not a *_test.exe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/com.h"

static IBackgroundCopyManager *mgr; /* owned MTA proxy, shared */
static int rounds = 2000;
static volatile LONG done, failed;

static DWORD WINAPI releaser(void *arg)
{
	(void)arg;
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	for (int i = 0; i < rounds; i++) {
		IEnumBackgroundCopyJobs *e = NULL;
		HRESULT hr = IBackgroundCopyManager_EnumJobs(mgr, 0, &e);

		if (FAILED(hr) || !e) {
			InterlockedIncrement(&failed);
			continue;
		}
		IEnumBackgroundCopyJobs_Release(e); /* the proxy manager's last reference */
		InterlockedIncrement(&done);
	}
	CoUninitialize();
	return 0;
}

int main(int argc, char **argv)
{
	bool hold = false;
	int threads = 4, a = 1;
	HANDLE h[64];

	setvbuf(stdout, NULL, _IONBF, 0);
	if (a < argc && !strcmp(argv[a], "--hold")) {
		hold = true;
		a++;
	}
	if (a < argc)
		threads = atoi(argv[a++]);
	if (a < argc)
		rounds = atoi(argv[a++]);
	if (threads < 1 || threads > 64 || rounds < 1) {
		fprintf(stderr, "usage: com_release_race.exe [--hold] [THREADS 1-64] [ROUNDS]\n");
		return 2;
	}
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	HRESULT hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&mgr);
	if (FAILED(hr)) {
		printf("com_release_race: CoCreateInstance(BITS): 0x%08lX\n", (unsigned long)hr);
		return 2;
	}
	if (hold)
		com_hold_rem_unknown((IUnknown *)mgr);
	printf("com_release_race: %d threads x %d proxies released, IRemUnknown %s\n", threads,
	       rounds, hold ? "held by the manager proxy" : "not held");
	for (int i = 0; i < threads; i++)
		h[i] = CreateThread(NULL, 0, releaser, NULL, 0, NULL);
	WaitForMultipleObjects((DWORD)threads, h, TRUE, INFINITE);
	for (int i = 0; i < threads; i++)
		CloseHandle(h[i]);
	IBackgroundCopyManager_Release(mgr);
	CoUninitialize();
	printf("com_release_race: %ld rounds done, %ld calls failed\n", (long)done, (long)failed);
	return failed ? 1 : 0;
}
