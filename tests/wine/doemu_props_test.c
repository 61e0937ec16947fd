/*
 * doemu_props_test.exe - IBackgroundCopyJob5 and IBackgroundCopyFile5 of the
 * DO service emulator (doemu/) across processes: Wine's qmgrprxy carries
 * neither, so every call below goes through doemuprx.dll's proxy/stub
 * (doemu/doemu.idl: the property values as switch_is unions; the base
 * interfaces' methods delegated to qmgrprxy).
 *
 * Job5: COST_FLAGS and NOTIFICATION_CLSID are set and read back; the ids DO
 * marks "not supported" and an id BITS does not define answer
 * DO_E_UNKNOWN_PROPERTY_ID; a final job answers DO_E_INVALID_STATE. File5:
 * HTTP_RESPONSE_HEADERS of a file that failed with HTTP 404 (also from
 * the error's GetFile) and of one that transferred; it is read-only
 * (DO_E_READ_ONLY_PROPERTY); other ids DO_E_UNKNOWN_PROPERTY_ID; File3 is
 * not served. The emulator is registered as DO in the prefix and stopped
 * and unregistered before the test returns, also on failure.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include <windows.h>
#include <bits.h>
#include <bits2_0.h>
#include <bits5_0.h>

#include "win32/do_guids.h"
#include "wtest.h"

#define DO_E_UNKNOWN_PROPERTY_ID ((HRESULT)0x80D02011L)
#define DO_E_READ_ONLY_PROPERTY ((HRESULT)0x80D02012L)
#define DO_E_INVALID_STATE ((HRESULT)0x80D02013L)
#define WAIT_MS 20000

#define CHECK_HR(got, want) CHECK_EQ((uint32_t)(got), (uint32_t)(want))

/* IBackgroundCopyFile5 as the SDK lays it out (MinGW has no declaration):
 * File 3-5, File2 6-7, File3 8-11, File4 12, File5 SetProperty 13 and
 * GetProperty 14 (../shared reference do-api.md section 1). */
static const IID IID_File3 = { 0x659cdeaa, 0x489e, 0x11d9,
			       { 0xa9, 0xcd, 0x00, 0x0d, 0x56, 0x96, 0x52, 0x51 } };
static const IID IID_File5 = { 0x85c1657f, 0xdafc, 0x40e8,
			       { 0x88, 0x34, 0xdf, 0x18, 0xea, 0x25, 0x71, 0x7e } };
#define HTTP_RESPONSE_HEADERS 1
typedef union {
	LPWSTR String;
} file_value;
typedef struct file5 file5;
struct file5_vtbl {
	HRESULT(STDMETHODCALLTYPE *QueryInterface)(file5 *, REFIID, void **);
	ULONG(STDMETHODCALLTYPE *AddRef)(file5 *);
	ULONG(STDMETHODCALLTYPE *Release)(file5 *);
	void *file_and_2_3_4[10];
	HRESULT(STDMETHODCALLTYPE *SetProperty)(file5 *, DWORD id, file_value v);
	HRESULT(STDMETHODCALLTYPE *GetProperty)(file5 *, DWORD id, file_value *v);
};
struct file5 {
	const struct file5_vtbl *lpVtbl;
};

static WCHAR dir[MAX_PATH], exe[MAX_PATH];

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

static const char scenario[] = "rule \"*/missing/*\" error http=404 after=50ms\n"
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
	swprintf(dir, MAX_PATH, L"%lsdoemu-props-%lu", path, (unsigned long)GetCurrentProcessId());
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

static BG_JOB_STATE state_of(IBackgroundCopyJob *j)
{
	BG_JOB_STATE st = (BG_JOB_STATE)-1;

	IBackgroundCopyJob_GetState(j, &st);
	return st;
}

/* A job with one file (url), resumed. */
static IBackgroundCopyJob *job_with(IBackgroundCopyManager *m, const WCHAR *url)
{
	IBackgroundCopyJob *j = NULL;
	IDeliveryOptimizationJob *dj = NULL;
	WCHAR local[MAX_PATH];
	GUID id;

	if (!CHECK_HR(IBackgroundCopyManager_CreateJob(m, L"props", BG_JOB_TYPE_DOWNLOAD, &id, &j),
		      S_OK))
		return NULL;
	swprintf(local, MAX_PATH, L"%ls\\f-%lu.bin", dir, (unsigned long)GetTickCount());
	if (CHECK_HR(IBackgroundCopyJob_QueryInterface(j, &IID_IDeliveryOptimizationJob,
						       (void **)&dj),
		     S_OK)) {
		CHECK_HR(dj->lpVtbl->AddFileWithRanges(dj, url, url, local, 0, NULL,
						       DOB_DO_UNKNOWN_FILE_SIZE),
			 S_OK);
		IDeliveryOptimizationJob_Release(dj);
	}
	CHECK_HR(IBackgroundCopyJob_Resume(j), S_OK);
	return j;
}

static void test_job5(IBackgroundCopyManager *m)
{
	static const GUID some = { 0x0badc0de, 0x1234, 0x5678,
				   { 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78 } };
	static const BITS_JOB_PROPERTY_ID unsupported[] = {
		BITS_JOB_PROPERTY_DYNAMIC_CONTENT, BITS_JOB_PROPERTY_HIGH_PERFORMANCE,
		BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, BITS_JOB_PROPERTY_USE_STORED_CREDENTIALS,
		BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, BITS_JOB_PROPERTY_ON_DEMAND_MODE,
		(BITS_JOB_PROPERTY_ID)6, (BITS_JOB_PROPERTY_ID)99,
	};
	IBackgroundCopyJob *j = NULL;
	IBackgroundCopyJob5 *j5 = NULL;
	BITS_JOB_PROPERTY_VALUE v;
	GUID id;

	if (!CHECK_HR(IBackgroundCopyManager_CreateJob(m, L"job5", BG_JOB_TYPE_DOWNLOAD, &id, &j),
		      S_OK))
		return;
	if (!CHECK_HR(IBackgroundCopyJob_QueryInterface(j, &IID_IBackgroundCopyJob5, (void **)&j5),
		      S_OK)) {
		IBackgroundCopyJob_Release(j);
		return;
	}
	/* A base method through Job5's proxy (delegated to qmgrprxy's Job4). */
	BG_JOB_STATE st = (BG_JOB_STATE)-1;
	CHECK_HR(IBackgroundCopyJob5_GetState(j5, &st), S_OK);
	CHECK_EQ(st, BG_JOB_STATE_SUSPENDED);

	memset(&v, 0xAA, sizeof(v));
	CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &v), S_OK);
	CHECK_EQ(v.Dword, BITS_COST_STATE_TRANSFER_ALWAYS);
	v.Dword = 0x80000021u; /* UNRESTRICTED */
	CHECK_HR(IBackgroundCopyJob5_SetProperty(j5, BITS_JOB_PROPERTY_ID_COST_FLAGS, v), S_OK);
	memset(&v, 0, sizeof(v));
	CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &v), S_OK);
	CHECK_EQ(v.Dword, 0x80000021u);

	memset(&v, 0xAA, sizeof(v));
	CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &v), S_OK);
	CHECK(IsEqualGUID(&v.ClsID, &GUID_NULL));
	v.ClsID = some;
	CHECK_HR(IBackgroundCopyJob5_SetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, v), S_OK);
	memset(&v, 0, sizeof(v));
	CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &v), S_OK);
	CHECK(IsEqualGUID(&v.ClsID, &some));
	v.ClsID = GUID_NULL; /* clears it */
	CHECK_HR(IBackgroundCopyJob5_SetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, v), S_OK);
	CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &v), S_OK);
	CHECK(IsEqualGUID(&v.ClsID, &GUID_NULL));

	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		memset(&v, 0, sizeof(v));
		v.Dword = 1;
		if (!CHECK_HR(IBackgroundCopyJob5_SetProperty(j5, unsupported[i], v),
			      DO_E_UNKNOWN_PROPERTY_ID) ||
		    !CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, unsupported[i], &v),
			      DO_E_UNKNOWN_PROPERTY_ID))
			printf("     (property id %d)\n", (int)unsupported[i]);
	}
	/* The supported ones were not disturbed by the refused calls. */
	CHECK_HR(IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_ID_COST_FLAGS, &v), S_OK);
	CHECK_EQ(v.Dword, 0x80000021u);

	CHECK_HR(IBackgroundCopyJob_Cancel(j), S_OK);
	v.Dword = 0x800000FFu;
	CHECK_HR(IBackgroundCopyJob5_SetProperty(j5, BITS_JOB_PROPERTY_ID_COST_FLAGS, v),
		 DO_E_INVALID_STATE);
	IBackgroundCopyJob5_Release(j5);
	IBackgroundCopyJob_Release(j);
}

/* HTTP_RESPONSE_HEADERS of f: the first line of the block, and the rest. */
static void check_headers(file5 *f, const WCHAR *status_line)
{
	file_value v = { NULL };

	if (!CHECK_HR(f->lpVtbl->GetProperty(f, HTTP_RESPONSE_HEADERS, &v), S_OK))
		return;
	if (!CHECK(v.String && !wcsncmp(v.String, status_line, wcslen(status_line))))
		printf("     got \"%ls\"\n", v.String ? v.String : L"(null)");
	CHECK(v.String && wcsstr(v.String, L"\r\n\r\n"));
	CoTaskMemFree(v.String);
}

static file5 *first_file5(IBackgroundCopyJob *j)
{
	IEnumBackgroundCopyFiles *e = NULL;
	IBackgroundCopyFile *f = NULL;
	file5 *f5 = NULL;
	ULONG got = 0;

	if (!CHECK_HR(IBackgroundCopyJob_EnumFiles(j, &e), S_OK))
		return NULL;
	CHECK_HR(IEnumBackgroundCopyFiles_Next(e, 1, &f, &got), S_OK);
	IEnumBackgroundCopyFiles_Release(e);
	if (!f)
		return NULL;
	CHECK_HR(IBackgroundCopyFile_QueryInterface(f, &IID_File5, (void **)&f5), S_OK);
	IBackgroundCopyFile_Release(f);
	return f5;
}

static void test_file5(IBackgroundCopyManager *m)
{
	IBackgroundCopyJob *bad = job_with(m, L"http://127.0.0.1:1/missing/a.bin");
	IBackgroundCopyJob *good = job_with(m, L"http://127.0.0.1:1/fine/b.bin");
	file5 *f5;
	file_value v;
	void *other = NULL;

	if (!bad || !good)
		goto out;
	WAIT_FOR(state_of(bad) == BG_JOB_STATE_ERROR, WAIT_MS);
	CHECK_EQ(state_of(bad), BG_JOB_STATE_ERROR);
	WAIT_FOR(state_of(good) == BG_JOB_STATE_TRANSFERRED, WAIT_MS);
	CHECK_EQ(state_of(good), BG_JOB_STATE_TRANSFERRED);

	if ((f5 = first_file5(bad))) {
		check_headers(f5, L"HTTP/1.1 404 Not Found\r\n");
		v.String = (LPWSTR)L"X-Made-Up: 1\r\n\r\n";
		CHECK_HR(f5->lpVtbl->SetProperty(f5, HTTP_RESPONSE_HEADERS, v),
			 DO_E_READ_ONLY_PROPERTY);
		v.String = NULL;
		CHECK_HR(f5->lpVtbl->GetProperty(f5, 7, &v), DO_E_UNKNOWN_PROPERTY_ID);
		CHECK(v.String == NULL);
		CHECK_HR(f5->lpVtbl->SetProperty(f5, 7, v), DO_E_UNKNOWN_PROPERTY_ID);
		/* DO documents File, File2 and File5; not File3. */
		CHECK_HR(f5->lpVtbl->QueryInterface(f5, &IID_File3, &other), E_NOINTERFACE);
		f5->lpVtbl->Release(f5);
	}
	/* The error's file, a snapshot of the failing one. */
	IBackgroundCopyError *err = NULL;
	IBackgroundCopyFile *ef = NULL;
	if (CHECK_HR(IBackgroundCopyJob_GetError(bad, &err), S_OK) &&
	    CHECK_HR(IBackgroundCopyError_GetFile(err, &ef), S_OK) &&
	    CHECK_HR(IBackgroundCopyFile_QueryInterface(ef, &IID_File5, (void **)&f5), S_OK)) {
		check_headers(f5, L"HTTP/1.1 404 Not Found\r\n");
		f5->lpVtbl->Release(f5);
	}
	if (ef)
		IBackgroundCopyFile_Release(ef);
	if (err)
		IBackgroundCopyError_Release(err);
	if ((f5 = first_file5(good))) {
		check_headers(f5, L"HTTP/1.1 200 OK\r\n");
		f5->lpVtbl->Release(f5);
	}
out:
	if (bad) {
		IBackgroundCopyJob_Cancel(bad);
		IBackgroundCopyJob_Release(bad);
	}
	if (good) {
		IBackgroundCopyJob_Cancel(good);
		IBackgroundCopyJob_Release(good);
	}
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
		hr = CoCreateInstance(&CLSID_DeliveryOptimization, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&m);
		if (CHECK_HR(hr, S_OK)) {
			test_job5(m);
			test_file5(m);
			IBackgroundCopyManager_Release(m);
		}
	}
	teardown();
	CoUninitialize();
	return wt_finish("doemu_props_test");
}
