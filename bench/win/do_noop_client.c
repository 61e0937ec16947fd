/*
 * do_noop_client.exe - the baseline of the DO callback benchmark
 * (scripts/bench-do.sh): a process with a no-op IBackgroundCopyCallback
 * (S_OK, nothing else) as the DO service emulator's client.
 *
 *   do_noop_client.exe N
 *
 * Creates N jobs on CLSID_DeliveryOptimization (the emulator, with a
 * scenario that fails URLs under /bench/), registers the callback on each,
 * resumes them, and waits until every job's JobError has come; prints
 * "noop: N JobError in MS ms". The emulator measures how long each call
 * held its thread (doemu.exe --stats).
 */
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include <windows.h>
#include <bits.h>

#include "win32/do_guids.h"

static volatile LONG errors;

static HRESULT STDMETHODCALLTYPE qi(IBackgroundCopyCallback *i, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback)) {
		*out = i;
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE addref(IBackgroundCopyCallback *i) { return 2; }
static ULONG STDMETHODCALLTYPE release(IBackgroundCopyCallback *i) { return 1; }
static HRESULT STDMETHODCALLTYPE xfer(IBackgroundCopyCallback *i, IBackgroundCopyJob *j) { return S_OK; }
static HRESULT STDMETHODCALLTYPE mod(IBackgroundCopyCallback *i, IBackgroundCopyJob *j, DWORD r) { return S_OK; }

static HRESULT STDMETHODCALLTYPE err(IBackgroundCopyCallback *i, IBackgroundCopyJob *j,
				     IBackgroundCopyError *e)
{
	InterlockedIncrement(&errors);
	return S_OK;
}

static IBackgroundCopyCallbackVtbl vtbl = { qi, addref, release, xfer, err, mod };
static IBackgroundCopyCallback cb = { &vtbl };

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	IBackgroundCopyManager *m = NULL;
	IBackgroundCopyJob **jobs;
	ULONGLONG t0, until;
	HRESULT hr;

	if (n <= 0 || n > 100000 || !(jobs = calloc((size_t)n, sizeof(*jobs)))) {
		fprintf(stderr, "usage: do_noop_client.exe N\n");
		return 2;
	}
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_CONNECT,
			     RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_NONE, NULL);
	hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
			      &IID_IBackgroundCopyManager, (void **)&m);
	for (int i = 0; SUCCEEDED(hr) && i < n; i++) {
		IDeliveryOptimizationJob *dj = NULL;
		BG_FILE_RANGE none = { 0, BG_LENGTH_TO_EOF };
		WCHAR url[64], local[64];
		GUID id;

		swprintf(url, 64, L"http://127.0.0.1:1/bench/%d", i);
		swprintf(local, 64, L"C:\\bench-%d", i);
		hr = IBackgroundCopyManager_CreateJob(m, L"bench", BG_JOB_TYPE_DOWNLOAD, &id, &jobs[i]);
		if (SUCCEEDED(hr))
			hr = IBackgroundCopyJob_QueryInterface(jobs[i], &IID_IDeliveryOptimizationJob,
							       (void **)&dj);
		if (SUCCEEDED(hr)) {
			hr = IDeliveryOptimizationJob_AddFileWithRanges(dj, url, url, local, 0, &none,
									DOB_DO_UNKNOWN_FILE_SIZE);
			IDeliveryOptimizationJob_Release(dj);
		}
		if (SUCCEEDED(hr))
			hr = IBackgroundCopyJob_SetNotifyInterface(jobs[i], (IUnknown *)&cb);
	}
	if (FAILED(hr)) {
		printf("noop: setting up failed: 0x%08lX\n", (unsigned long)hr);
		return 1;
	}
	t0 = GetTickCount64();
	for (int i = 0; i < n; i++)
		IBackgroundCopyJob_Resume(jobs[i]);
	until = t0 + 120000; /* only catches a hang */
	while (errors < n && GetTickCount64() < until)
		Sleep(5);
	printf("noop: %ld JobError in %llu ms\n", (long)errors,
	       (unsigned long long)(GetTickCount64() - t0));
	for (int i = 0; i < n; i++) {
		IBackgroundCopyJob_Cancel(jobs[i]);
		IBackgroundCopyJob_Release(jobs[i]);
	}
	IBackgroundCopyManager_Release(m);
	CoUninitialize();
	return errors >= n ? 0 : 1;
}
