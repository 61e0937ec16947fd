/*
 * adopt_probe.exe - an app with a job and a callback of its own, for
 * tests/e2e/adopt.sh (adopting without stealing):
 *
 *   adopt_probe.exe bits|do URL LOCALPATH
 *
 * Creates a download job on BITS or DO (CLSID_DeliveryOptimization: the
 * emulator in the test prefix), adds the file (AddFile, or DO's
 * AddFileWithRanges), registers its own IBackgroundCopyCallback and prints
 * "JOB {GUID}". Then it reads commands on stdin, one a line:
 *   resume    Resume the job
 *   wait      wait (up to 60 s) until its callback is called; prints
 *             "GOT transferred" or "GOT error 0xHRESULT"
 *   owner     prints "OWNER self" when GetNotifyInterface returns its own
 *             callback, "OWNER other" or "OWNER none"
 *   quit
 * Exits 0 unless a step fails.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <bits.h>

#include "win32/do_guids.h"

static HANDLE called;
static volatile LONG transferred, errors, last_code;

static HRESULT STDMETHODCALLTYPE qi(IBackgroundCopyCallback *i, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback)) {
		*out = i;
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE addref(IBackgroundCopyCallback *i)
{
	return 2;
}

static ULONG STDMETHODCALLTYPE release(IBackgroundCopyCallback *i)
{
	return 1;
}

static HRESULT STDMETHODCALLTYPE on_transferred(IBackgroundCopyCallback *i, IBackgroundCopyJob *j)
{
	InterlockedIncrement(&transferred);
	SetEvent(called);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE on_error(IBackgroundCopyCallback *i, IBackgroundCopyJob *j,
					  IBackgroundCopyError *e)
{
	BG_ERROR_CONTEXT ctx;
	HRESULT code = 0;

	if (e && SUCCEEDED(IBackgroundCopyError_GetError(e, &ctx, &code)))
		InterlockedExchange(&last_code, (LONG)code);
	InterlockedIncrement(&errors);
	SetEvent(called);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE on_modified(IBackgroundCopyCallback *i, IBackgroundCopyJob *j,
					     DWORD r)
{
	return S_OK;
}

static IBackgroundCopyCallbackVtbl vtbl = { qi, addref, release, on_transferred, on_error,
					     on_modified };
static IBackgroundCopyCallback cb = { &vtbl };

int main(int argc, char **argv)
{
	IBackgroundCopyManager *m = NULL;
	IBackgroundCopyJob *job = NULL;
	WCHAR url[1024], local[1024];
	char line[64], gs[64];
	bool do_ = argc > 1 && !strcmp(argv[1], "do");
	GUID id;
	HRESULT hr;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 4) {
		fprintf(stderr, "usage: adopt_probe.exe bits|do URL LOCALPATH\n");
		return 2;
	}
	MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, url, 1024);
	MultiByteToWideChar(CP_UTF8, 0, argv[3], -1, local, 1024);
	called = CreateEventW(NULL, FALSE, FALSE, NULL);
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_CONNECT,
			     RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_NONE, NULL);
	hr = CoCreateInstance(do_ ? &CLSID_DeliveryOptimization : &CLSID_BackgroundCopyManager, NULL,
			      CLSCTX_LOCAL_SERVER, &IID_IBackgroundCopyManager, (void **)&m);
	if (SUCCEEDED(hr))
		hr = IBackgroundCopyManager_CreateJob(m, L"probe", BG_JOB_TYPE_DOWNLOAD, &id, &job);
	if (SUCCEEDED(hr) && do_) {
		IDeliveryOptimizationJob *dj = NULL;
		BG_FILE_RANGE none = { 0, BG_LENGTH_TO_EOF };

		hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob, (void **)&dj);
		if (SUCCEEDED(hr)) {
			hr = IDeliveryOptimizationJob_AddFileWithRanges(dj, url, url, local, 0, &none,
									DOB_DO_UNKNOWN_FILE_SIZE);
			IDeliveryOptimizationJob_Release(dj);
		}
	} else if (SUCCEEDED(hr)) {
		hr = IBackgroundCopyJob_AddFile(job, url, local);
	}
	if (SUCCEEDED(hr))
		hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&cb);
	if (FAILED(hr)) {
		printf("FAILED 0x%08lX\n", (unsigned long)hr);
		return 1;
	}
	snprintf(gs, sizeof(gs), "{%08lX-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
		 (unsigned long)id.Data1, id.Data2, id.Data3, id.Data4[0], id.Data4[1], id.Data4[2],
		 id.Data4[3], id.Data4[4], id.Data4[5], id.Data4[6], id.Data4[7]);
	printf("JOB %s\n", gs);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "resume", 6)) {
			hr = IBackgroundCopyJob_Resume(job);
			printf("RESUMED 0x%08lX\n", (unsigned long)hr);
		} else if (!strncmp(line, "wait", 4)) {
			if (WaitForSingleObject(called, 60000) != WAIT_OBJECT_0)
				printf("GOT nothing\n");
			else if (transferred)
				printf("GOT transferred\n");
			else
				printf("GOT error 0x%08lX\n", (unsigned long)last_code);
		} else if (!strncmp(line, "owner", 5)) {
			IUnknown *now = NULL;

			hr = IBackgroundCopyJob_GetNotifyInterface(job, &now);
			printf("OWNER %s\n", FAILED(hr) ? "?" : !now ? "none" :
					      now == (IUnknown *)&cb ? "self" : "other");
			if (now)
				IUnknown_Release(now);
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	IBackgroundCopyJob_Release(job);
	IBackgroundCopyManager_Release(m);
	CoUninitialize();
	return 0;
}
