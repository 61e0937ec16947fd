/*
 * doemu_test.exe - the DO service emulator (doemu/) as a client sees it:
 * every call below crosses a process boundary through COM's marshalling
 * (the BITS interfaces through Wine's qmgrprxy, IDeliveryOptimizationJob
 * through doemuprx.dll), and every callback comes back across it.
 *
 * The test registers doemu.exe (next to this program) as
 * CLSID_DeliveryOptimization in the Wine prefix with a scenario of its own,
 * lets COM start it, and checks DO's documented behaviour: CreateJob's
 * checks, GetJob's DO_E_JOB_NOT_FOUND, a new job SUSPENDED and empty
 * (DO_E_JOB_EMPTY), GetError outside ERROR (DO_E_ERROR_INFORMATION_-
 * UNAVAILABLE), AddFileWithRanges' range checks, EnumFiles and
 * GetFileRanges; JobError through the cross-process callback with DO's
 * error context (NONE for 404, REMOTE_FILE for 403) and called again while
 * the job stays in ERROR; JobTransferred; last SetNotifyInterface wins;
 * DO_E_INVALID_STATE on final jobs. It stops and unregisters the emulator
 * before it returns, also on failure.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <bits.h>
#include <bits2_0.h>

#include "win32/do_guids.h"
#include "wtest.h"

#define DO_E_JOB_NOT_FOUND ((HRESULT)0x80D02003L)
#define DO_E_JOB_EMPTY ((HRESULT)0x80D02004L)
#define DO_E_INVALID_STATE ((HRESULT)0x80D02013L)
#define DO_E_ERROR_INFORMATION_UNAVAILABLE ((HRESULT)0x80D02014L)
#define DO_E_INVALID_RANGE ((HRESULT)0x80D05010L)
#define DO_E_OVERLAPPING_RANGES ((HRESULT)0x80D05012L)
#define WAIT_MS 20000

#define CHECK_HR(got, want) CHECK_EQ((uint32_t)(got), (uint32_t)(want))

static WCHAR dir[MAX_PATH], exe[MAX_PATH];

/* ------------------------------------------------------------ a callback */

struct cb {
	IBackgroundCopyCallback IBackgroundCopyCallback_iface;
	volatile LONG refs;
	volatile LONG errors, transferred, modified;
	volatile LONG last_context;
	volatile LONG last_code;
	volatile LONG error_read_ok;
};

static struct cb *impl(IBackgroundCopyCallback *i)
{
	return CONTAINING_RECORD(i, struct cb, IBackgroundCopyCallback_iface);
}

static HRESULT STDMETHODCALLTYPE cb_qi(IBackgroundCopyCallback *i, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyCallback)) {
		*out = i;
		InterlockedIncrement(&impl(i)->refs);
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE cb_addref(IBackgroundCopyCallback *i)
{
	return InterlockedIncrement(&impl(i)->refs);
}

static ULONG STDMETHODCALLTYPE cb_release(IBackgroundCopyCallback *i)
{
	return InterlockedDecrement(&impl(i)->refs); /* static objects */
}

static HRESULT STDMETHODCALLTYPE cb_transferred(IBackgroundCopyCallback *i, IBackgroundCopyJob *j)
{
	InterlockedIncrement(&impl(i)->transferred);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_error(IBackgroundCopyCallback *i, IBackgroundCopyJob *j,
					  IBackgroundCopyError *e)
{
	struct cb *c = impl(i);
	BG_ERROR_CONTEXT ctx = 0;
	HRESULT code = 0;

	/* A test may read the error here; the broker never does (DESIGN). */
	if (e && SUCCEEDED(IBackgroundCopyError_GetError(e, &ctx, &code))) {
		InterlockedExchange(&c->last_context, (LONG)ctx);
		InterlockedExchange(&c->last_code, (LONG)code);
		InterlockedIncrement(&c->error_read_ok);
	}
	InterlockedIncrement(&c->errors);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_modified(IBackgroundCopyCallback *i, IBackgroundCopyJob *j,
					     DWORD r)
{
	InterlockedIncrement(&impl(i)->modified);
	return S_OK;
}

static IBackgroundCopyCallbackVtbl cb_vtbl = {
	cb_qi, cb_addref, cb_release, cb_transferred, cb_error, cb_modified,
};

static struct cb cb1, cb2;

static void cb_reset(struct cb *c)
{
	memset(c, 0, sizeof(*c));
	c->IBackgroundCopyCallback_iface.lpVtbl = &cb_vtbl;
	c->refs = 1;
}

/* ------------------------------------------------------------ the emulator */

static int run(const WCHAR *args)
{
	WCHAR cmd[4 * MAX_PATH];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	DWORD code = 99;

	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	swprintf(cmd, sizeof(cmd) / sizeof(cmd[0]), L"\"%ls\" %ls", exe, args);
	if (!CreateProcessW(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
		return -1;
	WaitForSingleObject(pi.hProcess, WAIT_MS);
	GetExitCodeProcess(pi.hProcess, &code);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	return (int)code;
}

static const char scenario[] =
	"repeat 300ms..500ms\n"
	"modifications on\n"
	"complete writes=url\n"
	"rule \"*/missing/*\" error http=404 after=50ms\n"
	"rule \"*/forbidden/*\" error http=403 after=50ms\n"
	"rule \"*/storm/*\" error http=500 after=200ms\n"
	"default ok after=50ms size=4K\n";

static bool setup(void)
{
	WCHAR path[MAX_PATH], args[3 * MAX_PATH], *slash;
	HANDLE f;
	DWORD put;

	GetModuleFileNameW(NULL, exe, MAX_PATH);
	slash = wcsrchr(exe, L'\\');
	wcscpy(slash + 1, L"doemu.exe");
	GetTempPathW(MAX_PATH, path);
	swprintf(dir, MAX_PATH, L"%lsdoemu-test-%lu", path, (unsigned long)GetCurrentProcessId());
	CreateDirectoryW(dir, NULL);
	swprintf(path, MAX_PATH, L"%ls\\scenario.txt", dir);
	f = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	if (f == INVALID_HANDLE_VALUE)
		return false;
	WriteFile(f, scenario, sizeof(scenario) - 1, &put, NULL);
	CloseHandle(f);
	swprintf(args, sizeof(args) / sizeof(args[0]),
		 L"--register --as-do --machine --scenario \"%ls\" --log \"%ls\\doemu.log\"", path, dir);
	return CHECK_EQ(run(args), 0);
}

/* Stops and unregisters the emulator; shows its log when a check failed;
 * removes the test's directory. */
static void teardown(void)
{
	WCHAR pat[MAX_PATH], path[MAX_PATH];
	WIN32_FIND_DATAW fd;
	HANDLE h;

	run(L"--stop --as-do");
	run(L"--unregister --as-do --machine");
	swprintf(pat, MAX_PATH, L"%ls\\*", dir);
	h = FindFirstFileW(pat, &fd);
	while (h != INVALID_HANDLE_VALUE) {
		swprintf(path, MAX_PATH, L"%ls\\%ls", dir, fd.cFileName);
		if (wt_failed && !wcscmp(fd.cFileName, L"doemu.log")) {
			FILE *f = _wfopen(path, L"r");
			char line[512];

			printf("--- the emulator's log:\n");
			while (f && fgets(line, sizeof(line), f))
				fputs(line, stdout);
			if (f)
				fclose(f);
		}
		if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
			DeleteFileW(path);
		if (!FindNextFileW(h, &fd)) {
			FindClose(h);
			break;
		}
	}
	RemoveDirectoryW(dir);
}

/* ------------------------------------------------------------ helpers */

static BG_JOB_STATE state_of(IBackgroundCopyJob *j)
{
	BG_JOB_STATE st = (BG_JOB_STATE)-1;

	IBackgroundCopyJob_GetState(j, &st);
	return st;
}

static HRESULT add(IBackgroundCopyJob *job, const WCHAR *url, DWORD n, BG_FILE_RANGE *r)
{
	IDeliveryOptimizationJob *dj = NULL;
	WCHAR local[MAX_PATH];
	HRESULT hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob,
						       (void **)&dj);

	if (FAILED(hr))
		return hr;
	swprintf(local, MAX_PATH, L"%ls\\file-%lu.bin", dir, (unsigned long)GetTickCount());
	hr = dj->lpVtbl->AddFileWithRanges(dj, url, url, local, n, r, DOB_DO_UNKNOWN_FILE_SIZE);
	IDeliveryOptimizationJob_Release(dj);
	return hr;
}

static IBackgroundCopyJob *new_job(IBackgroundCopyManager *m, const WCHAR *name)
{
	IBackgroundCopyJob *j = NULL;
	GUID id;

	if (!CHECK_HR(IBackgroundCopyManager_CreateJob(m, name, BG_JOB_TYPE_DOWNLOAD, &id, &j), S_OK))
		return NULL;
	return j;
}

/* ------------------------------------------------------------ the tests */

static void test_manager(IBackgroundCopyManager *m)
{
	IBackgroundCopyJob *j = NULL;
	WCHAR longname[300];
	GUID id = { 0x12345678, 1, 2, { 3, 4, 5, 6, 7, 8, 9, 10 } };

	CHECK_HR(IBackgroundCopyManager_GetJob(m, &id, &j), DO_E_JOB_NOT_FOUND);
	CHECK(j == NULL);
	CHECK_HR(IBackgroundCopyManager_CreateJob(m, L"up", BG_JOB_TYPE_UPLOAD, &id, &j), E_INVALIDARG);
	for (int i = 0; i < 299; i++)
		longname[i] = L'x';
	longname[299] = 0;
	CHECK_HR(IBackgroundCopyManager_CreateJob(m, longname, BG_JOB_TYPE_DOWNLOAD, &id, &j),
		 E_INVALIDARG);
	IEnumBackgroundCopyJobs *e = NULL;
	CHECK_HR(IBackgroundCopyManager_EnumJobs(m, 0, &e), E_NOTIMPL);
}

static void test_new_job(IBackgroundCopyManager *m)
{
	IBackgroundCopyJob *j = new_job(m, L"empty"), *again = NULL;
	IBackgroundCopyError *err = NULL;
	GUID id;
	LPWSTR name = NULL;

	if (!j)
		return;
	CHECK_EQ(state_of(j), BG_JOB_STATE_SUSPENDED);
	CHECK_HR(IBackgroundCopyJob_Resume(j), DO_E_JOB_EMPTY);
	CHECK_EQ(state_of(j), BG_JOB_STATE_SUSPENDED);
	CHECK_HR(IBackgroundCopyJob_GetError(j, &err), DO_E_ERROR_INFORMATION_UNAVAILABLE);
	CHECK_HR(IBackgroundCopyJob_GetDisplayName(j, &name), S_OK);
	CHECK(name && !wcscmp(name, L"empty"));
	CoTaskMemFree(name);
	CHECK_HR(IBackgroundCopyJob_GetId(j, &id), S_OK);
	CHECK_HR(IBackgroundCopyManager_GetJob(m, &id, &again), S_OK);
	if (again) {
		CHECK_EQ(state_of(again), BG_JOB_STATE_SUSPENDED);
		IBackgroundCopyJob_Release(again);
	}
	/* ranges, as DO checks them */
	BG_FILE_RANGE eof[1] = { { BG_LENGTH_TO_EOF, 10 } };
	BG_FILE_RANGE overlap[2] = { { 0, 100 }, { 50, 10 } };
	BG_FILE_RANGE reversed[2] = { { 100, 10 }, { 0, 10 } };
	BG_FILE_RANGE good[2] = { { 0, 1000 }, { 4096, 1000 } };
	CHECK_HR(add(j, L"http://127.0.0.1:1/x", 1, eof), DO_E_INVALID_RANGE);
	CHECK_HR(add(j, L"http://127.0.0.1:1/x", 2, overlap), DO_E_OVERLAPPING_RANGES);
	CHECK_HR(add(j, L"http://127.0.0.1:1/x", 2, reversed), DO_E_OVERLAPPING_RANGES);
	CHECK_HR(add(j, L"http://127.0.0.1:1/ranged", 2, good), S_OK);

	IEnumBackgroundCopyFiles *files = NULL;
	IBackgroundCopyFile *f = NULL;
	ULONG n = 0;
	if (CHECK_HR(IBackgroundCopyJob_EnumFiles(j, &files), S_OK)) {
		CHECK_HR(IEnumBackgroundCopyFiles_GetCount(files, &n), S_OK);
		CHECK_EQ(n, 1);
		if (CHECK_HR(IEnumBackgroundCopyFiles_Next(files, 1, &f, NULL), S_OK)) {
			LPWSTR url = NULL;
			IBackgroundCopyFile2 *f2 = NULL;
			BG_FILE_PROGRESS p;

			CHECK_HR(IBackgroundCopyFile_GetRemoteName(f, &url), S_OK);
			CHECK(url && !wcscmp(url, L"http://127.0.0.1:1/ranged"));
			CoTaskMemFree(url);
			CHECK_HR(IBackgroundCopyFile_GetProgress(f, &p), S_OK);
			CHECK_EQ(p.BytesTotal, 2000); /* the ranges' total */
			if (CHECK_HR(IBackgroundCopyFile_QueryInterface(f, &IID_IBackgroundCopyFile2,
									(void **)&f2), S_OK)) {
				DWORD count = 0;
				BG_FILE_RANGE *r = NULL;

				CHECK_HR(IBackgroundCopyFile2_GetFileRanges(f2, &count, &r), S_OK);
				CHECK_EQ(count, 2);
				CHECK(r && r[1].InitialOffset == 4096 && r[1].Length == 1000);
				CoTaskMemFree(r);
				IBackgroundCopyFile2_Release(f2);
			}
			IBackgroundCopyFile_Release(f);
		}
		IEnumBackgroundCopyFiles_Release(files);
	}
	/* final: DO_E_INVALID_STATE everywhere */
	CHECK_HR(IBackgroundCopyJob_Cancel(j), S_OK);
	CHECK_EQ(state_of(j), BG_JOB_STATE_CANCELLED);
	CHECK_HR(IBackgroundCopyJob_Cancel(j), DO_E_INVALID_STATE);
	CHECK_HR(IBackgroundCopyJob_Resume(j), DO_E_INVALID_STATE);
	CHECK_HR(IBackgroundCopyJob_Complete(j), DO_E_INVALID_STATE);
	CHECK_HR(IBackgroundCopyJob_SetNotifyFlags(j, BG_NOTIFY_JOB_ERROR), DO_E_INVALID_STATE);
	CHECK_HR(add(j, L"http://127.0.0.1:1/late", 0, NULL), DO_E_INVALID_STATE);
	IBackgroundCopyJob_Release(j);
}

/* JobError through the cross-process callback, DO's context rule, the
 * repeats while the job stays in ERROR. */
static void test_job_error(IBackgroundCopyManager *m, const WCHAR *url, HRESULT code,
			   BG_ERROR_CONTEXT ctx)
{
	IBackgroundCopyJob *j = new_job(m, L"failing");
	IUnknown *got = NULL;

	if (!j)
		return;
	cb_reset(&cb1);
	CHECK_HR(add(j, url, 0, NULL), S_OK);
	CHECK_HR(IBackgroundCopyJob_SetNotifyInterface(j, (IUnknown *)&cb1.IBackgroundCopyCallback_iface),
		 S_OK);
	CHECK_HR(IBackgroundCopyJob_GetNotifyInterface(j, &got), S_OK);
	CHECK(got != NULL);
	if (got)
		IUnknown_Release(got);
	CHECK_HR(IBackgroundCopyJob_Resume(j), S_OK);
	WAIT_FOR(cb1.errors >= 1, WAIT_MS);
	CHECK(cb1.errors >= 1);
	CHECK(cb1.error_read_ok >= 1);
	CHECK_HR(cb1.last_code, code);
	CHECK_EQ(cb1.last_context, ctx);
	CHECK_EQ(state_of(j), BG_JOB_STATE_ERROR);
	/* called again while it stays in ERROR (the scenario's repeat) */
	WAIT_FOR(cb1.errors >= 2, WAIT_MS);
	CHECK(cb1.errors >= 2);
	/* GetError from the job agrees */
	IBackgroundCopyError *e = NULL;
	if (CHECK_HR(IBackgroundCopyJob_GetError(j, &e), S_OK)) {
		BG_ERROR_CONTEXT c = 0;
		HRESULT h = 0;
		IBackgroundCopyFile *f = NULL;

		CHECK_HR(IBackgroundCopyError_GetError(e, &c, &h), S_OK);
		CHECK_HR(h, code);
		CHECK_EQ(c, ctx);
		LPWSTR d = NULL;
		HRESULT dh = IBackgroundCopyError_GetErrorDescription(e, 0x409, &d);
		/* Wine's qmgrprxy fails the string getters (RPC_X_NULL_REF_POINTER):
		 * shown, not checked (docs/do-emulator.md) */
		printf("GetErrorDescription through the proxy: 0x%08lX %ls\n", (unsigned long)dh,
		       d ? d : L"(null)");
		CoTaskMemFree(d);
		CHECK_HR(IBackgroundCopyError_GetFile(e, &f), S_OK);
		if (f)
			IBackgroundCopyFile_Release(f);
		IBackgroundCopyError_Release(e);
	}
	CHECK_HR(IBackgroundCopyJob_Cancel(j), S_OK);
	IBackgroundCopyJob_Release(j);
}

/* JobTransferred; the last SetNotifyInterface wins; Complete. */
static void test_transferred(IBackgroundCopyManager *m)
{
	IBackgroundCopyJob *j = new_job(m, L"fine");

	if (!j)
		return;
	cb_reset(&cb1);
	cb_reset(&cb2);
	CHECK_HR(add(j, L"http://127.0.0.1:1/fine.bin", 0, NULL), S_OK);
	CHECK_HR(IBackgroundCopyJob_SetNotifyInterface(j, (IUnknown *)&cb1.IBackgroundCopyCallback_iface),
		 S_OK);
	CHECK_HR(IBackgroundCopyJob_SetNotifyInterface(j, (IUnknown *)&cb2.IBackgroundCopyCallback_iface),
		 S_OK);
	CHECK_HR(IBackgroundCopyJob_Resume(j), S_OK);
	WAIT_FOR(cb2.transferred >= 1, WAIT_MS);
	CHECK_EQ(cb2.transferred, 1);
	CHECK_EQ(cb1.transferred, 0);
	CHECK_EQ(state_of(j), BG_JOB_STATE_TRANSFERRED);
	CHECK_HR(IBackgroundCopyJob_Complete(j), S_OK);
	CHECK_EQ(state_of(j), BG_JOB_STATE_ACKNOWLEDGED);
	IBackgroundCopyJob_Release(j);
}

/* ------------------------------------------------------------ a storm */

#define STORM 300

/* A slow callback (20 ms in JobError) that records which jobs it heard of
 * and how many calls were inside it at once. */
static SRWLOCK storm_lock = SRWLOCK_INIT;
static GUID storm_seen[STORM];
static int storm_distinct;
static volatile LONG storm_inside, storm_max, storm_calls;

static HRESULT STDMETHODCALLTYPE storm_error(IBackgroundCopyCallback *i, IBackgroundCopyJob *j,
					     IBackgroundCopyError *e)
{
	LONG now = InterlockedIncrement(&storm_inside), max;
	GUID id;

	while ((max = storm_max) < now && InterlockedCompareExchange(&storm_max, now, max) != max)
		;
	InterlockedIncrement(&storm_calls);
	if (SUCCEEDED(IBackgroundCopyJob_GetId(j, &id))) {
		AcquireSRWLockExclusive(&storm_lock);
		int k = 0;
		while (k < storm_distinct && !IsEqualGUID(&storm_seen[k], &id))
			k++;
		if (k == storm_distinct && storm_distinct < STORM)
			storm_seen[storm_distinct++] = id;
		ReleaseSRWLockExclusive(&storm_lock);
	}
	Sleep(20); /* holds the service's thread: the others must wait */
	InterlockedDecrement(&storm_inside);
	return S_OK;
}

static int storm_count(void)
{
	int n;

	AcquireSRWLockShared(&storm_lock);
	n = storm_distinct;
	ReleaseSRWLockShared(&storm_lock);
	return n;
}

/* Hundreds of jobs fail together: every one gets its JobError, and never
 * more than four callbacks are in flight (BITS's and DO's limit). */
static void test_storm(IBackgroundCopyManager *m)
{
	static IBackgroundCopyCallbackVtbl vt;
	static struct cb storm;
	IBackgroundCopyJob *jobs[STORM] = { 0 };
	int made = 0;

	vt = cb_vtbl;
	vt.JobError = storm_error;
	memset(&storm, 0, sizeof(storm));
	storm.IBackgroundCopyCallback_iface.lpVtbl = &vt;
	storm.refs = 1;
	for (int i = 0; i < STORM; i++) {
		WCHAR url[64];
		GUID id;

		if (FAILED(IBackgroundCopyManager_CreateJob(m, L"storm", BG_JOB_TYPE_DOWNLOAD, &id,
							    &jobs[i])))
			break;
		swprintf(url, 64, L"http://127.0.0.1:1/storm/%d", i);
		if (FAILED(add(jobs[i], url, 0, NULL)) ||
		    FAILED(IBackgroundCopyJob_SetNotifyInterface(
			    jobs[i], (IUnknown *)&storm.IBackgroundCopyCallback_iface)))
			break;
		made++;
	}
	CHECK_EQ(made, STORM);
	for (int i = 0; i < made; i++)
		IBackgroundCopyJob_Resume(jobs[i]);
	WAIT_FOR(storm_count() >= made, 60000);
	CHECK_EQ(storm_count(), made);
	printf("storm: %d jobs, %ld JobError calls, at most %ld in flight\n", made,
	       (long)storm_calls, (long)storm_max);
	CHECK(storm_max <= 4);
	CHECK(storm_max >= 2); /* they do overlap */
	for (int i = 0; i < STORM; i++)
		if (jobs[i]) {
			IBackgroundCopyJob_Cancel(jobs[i]);
			IBackgroundCopyJob_Release(jobs[i]);
		}
}

/* SetNotifyInterface(NULL) removes the callback. */
static void test_no_callback(IBackgroundCopyManager *m)
{
	IBackgroundCopyJob *j = new_job(m, L"quiet");
	IUnknown *got = (IUnknown *)1;

	if (!j)
		return;
	cb_reset(&cb1);
	CHECK_HR(add(j, L"http://127.0.0.1:1/missing/q.bin", 0, NULL), S_OK);
	CHECK_HR(IBackgroundCopyJob_SetNotifyInterface(j, (IUnknown *)&cb1.IBackgroundCopyCallback_iface),
		 S_OK);
	CHECK_HR(IBackgroundCopyJob_SetNotifyInterface(j, NULL), S_OK);
	CHECK_HR(IBackgroundCopyJob_GetNotifyInterface(j, &got), S_OK);
	CHECK(got == NULL);
	CHECK_HR(IBackgroundCopyJob_Resume(j), S_OK);
	WAIT_FOR(state_of(j) == BG_JOB_STATE_ERROR, WAIT_MS);
	CHECK_EQ(state_of(j), BG_JOB_STATE_ERROR);
	CHECK_EQ(cb1.errors, 0);
	/* then registering calls it at once (at least once) */
	CHECK_HR(IBackgroundCopyJob_SetNotifyInterface(j, (IUnknown *)&cb1.IBackgroundCopyCallback_iface),
		 S_OK);
	WAIT_FOR(cb1.errors >= 1, WAIT_MS);
	CHECK(cb1.errors >= 1);
	IBackgroundCopyJob_Cancel(j);
	IBackgroundCopyJob_Release(j);
}

/* Bad command lines get exit code 2 and change nothing. */
static void test_bad_arguments(void)
{
	CHECK_EQ(run(L"--clsid not-a-guid"), 2);
	CHECK_EQ(run(L"--frobnicate"), 2);
	CHECK_EQ(run(L"--scenario"), 2); /* no value */
	/* On real Windows `--as-do` is refused (exit 2): the emulator never
	 * takes DO's place. Under Wine it is how the test prefix gets a DO. */
	if (GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version"))
		printf("SKIPPED: --as-do is refused outside Wine; that cannot be shown under Wine\n");
	else
		CHECK_EQ(run(L"--register --as-do"), 2);
}

int main(void)
{
	IBackgroundCopyManager *m = NULL;
	HRESULT hr;

	setvbuf(stdout, NULL, _IONBF, 0);
	CoInitializeEx(NULL, COINIT_MULTITHREADED);
	CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_CONNECT,
			     RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_NONE, NULL);
	if (setup()) {
		test_bad_arguments();
		hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&m);
		if (CHECK_HR(hr, S_OK)) {
			test_manager(m);
			test_new_job(m);
			test_job_error(m, L"http://127.0.0.1:1/missing/a.bin",
				       (HRESULT)0x80190194L, BG_ERROR_CONTEXT_NONE);
			test_job_error(m, L"http://127.0.0.1:1/forbidden/b.bin",
				       (HRESULT)0x80190193L, BG_ERROR_CONTEXT_REMOTE_FILE);
			test_transferred(m);
			test_no_callback(m);
			test_storm(m);
			IBackgroundCopyManager_Release(m);
		}
	}
	teardown();
	CoUninitialize();
	return wt_finish("doemu_test");
}
