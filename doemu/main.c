/*
 * doemu/main.c - doemu.exe: registration and the COM local server.
 *
 *   doemu.exe --register [--as-do] [--machine] [--scenario FILE] [--log FILE]
 *   doemu.exe --unregister [--as-do] [--machine]
 *   doemu.exe --stop [--as-do]           ends a running emulator
 *   doemu.exe --stats [--as-do]          makes it log its callback figures
 *   doemu.exe [--clsid GUID] [--scenario FILE] [--log FILE] [-Embedding]
 *
 * --register writes the class (LocalServer32: this program with the
 * scenario and log on its command line) and the proxy/stub of
 * IDeliveryOptimizationJob, IBackgroundCopyJob5 and IBackgroundCopyFile5
 * (doemuprx.dll, next to the program) under HKCU\Software\Classes, or
 * HKLM\Software\Classes with --machine. The class is CLSID_DoEmulator;
 * --as-do registers CLSID_DeliveryOptimization instead, which the program
 * refuses outside Wine: it never takes the place of the real DO. Each
 * interface's proxy/stub is registered only when none is (Windows has DO's
 * and BITS's own; Wine's qmgrprxy has no Job5 or File5), and removed only
 * when it is ours.
 *
 * As a server it registers its class object (REGCLS_MULTIPLEUSE) and runs
 * until --stop, or until the scenario makes it exit.
 */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <wchar.h>

#include "doemu.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "platform.h"

/* The named events --stop and --stats signal (per class). */
static const WCHAR *event_name(const CLSID *clsid, const WCHAR *what)
{
	static WCHAR name[112];
	WCHAR g[40];

	StringFromGUID2(clsid, g, 40);
	swprintf(name, 112, L"Local\\dobroker-doemu-%ls%ls", what, g);
	return name;
}

static bool under_wine(void)
{
	return GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
}

/* ------------------------------------------------------------ registration */

static LONG set_value(HKEY root, const WCHAR *path, const WCHAR *name, const WCHAR *value)
{
	HKEY k;
	LONG rc = RegCreateKeyExW(root, path, 0, NULL, 0, KEY_WRITE, NULL, &k, NULL);

	if (rc != ERROR_SUCCESS)
		return rc;
	rc = RegSetValueExW(k, name, 0, REG_SZ, (const BYTE *)value,
			    (DWORD)((wcslen(value) + 1) * sizeof(WCHAR)));
	RegCloseKey(k);
	return rc;
}

static bool get_value(HKEY root, const WCHAR *path, WCHAR *out, DWORD chars)
{
	DWORD bytes = chars * sizeof(WCHAR);

	return RegGetValueW(root, path, NULL, RRF_RT_REG_SZ, NULL, out, &bytes) == ERROR_SUCCESS;
}

/* The interfaces doemuprx.dll carries (doemu/doemu.idl), each registered
 * only where the system has no proxy/stub for it. */
static const struct {
	const IID *iid;
	const WCHAR *name;
	const WCHAR *methods; /* NumMethods: IUnknown's three included */
} ifaces[] = {
	{ &IID_IDeliveryOptimizationJob, L"IDeliveryOptimizationJob", L"4" },
	{ &IID_IBackgroundCopyJob5, L"IBackgroundCopyJob5", L"55" },
	{ &IID_IBackgroundCopyFile5, L"IBackgroundCopyFile5", L"15" },
};
#define N_IFACES (sizeof(ifaces) / sizeof(ifaces[0]))

static void keys(const CLSID *clsid, WCHAR *cls, WCHAR *ps)
{
	WCHAR g[40];

	StringFromGUID2(clsid, g, 40);
	swprintf(cls, 160, L"Software\\Classes\\CLSID\\%ls", g);
	StringFromGUID2(&CLSID_DoEmulatorPS, g, 40);
	swprintf(ps, 160, L"Software\\Classes\\CLSID\\%ls", g);
}

static void iface_key(const IID *iid, WCHAR *out)
{
	WCHAR g[40];

	StringFromGUID2(iid, g, 40);
	swprintf(out, 160, L"Software\\Classes\\Interface\\%ls", g);
}

static int do_register(const CLSID *clsid, HKEY root, const WCHAR *scenario, const WCHAR *logf)
{
	WCHAR exe[MAX_PATH], dll[MAX_PATH], cmd[3 * MAX_PATH + 64], cls[160], ps[160], iface[160];
	WCHAR path[200], have[64], psg[40];
	WCHAR *slash;
	bool ours = false;
	LONG rc;

	if (!GetModuleFileNameW(NULL, exe, MAX_PATH))
		return 2;
	wcscpy(dll, exe);
	slash = wcsrchr(dll, L'\\');
	wcscpy(slash ? slash + 1 : dll, L"doemuprx.dll");
	if (GetFileAttributesW(dll) == INVALID_FILE_ATTRIBUTES) {
		fwprintf(stderr, L"doemu: %ls is missing (it is built beside doemu.exe)\n", dll);
		return 2;
	}
	keys(clsid, cls, ps);
	StringFromGUID2(clsid, psg, 40);
	swprintf(cmd, sizeof(cmd) / sizeof(cmd[0]), L"\"%ls\" --clsid %ls%ls%ls%ls%ls%ls", exe,
		 psg, scenario ? L" --scenario \"" : L"", scenario ? scenario : L"",
		 scenario ? L"\"" : L"", logf ? L" --log \"" : L"", logf ? logf : L"");
	if (logf)
		wcscat(cmd, L"\"");
	rc = set_value(root, cls, NULL, L"Delivery Optimization service emulator (dobroker doemu)");
	swprintf(path, 200, L"%ls\\LocalServer32", cls);
	if (rc == ERROR_SUCCESS)
		rc = set_value(root, path, NULL, cmd);
	/* Each interface's proxy/stub, unless the system has one (DO's and
	 * BITS's own on Windows). */
	StringFromGUID2(&CLSID_DoEmulatorPS, psg, 40);
	for (size_t i = 0; i < N_IFACES && rc == ERROR_SUCCESS; i++) {
		iface_key(ifaces[i].iid, iface);
		swprintf(path, 200, L"%ls\\ProxyStubClsid32", iface);
		if (get_value(HKEY_CLASSES_ROOT, path + wcslen(L"Software\\Classes\\"), have, 64) &&
		    _wcsicmp(have, psg)) {
			fwprintf(stderr, L"doemu: %ls has a proxy/stub already (%ls); kept\n",
				 ifaces[i].name, have);
			continue;
		}
		rc = set_value(root, iface, NULL, ifaces[i].name);
		rc = rc ? rc : set_value(root, path, NULL, psg);
		swprintf(path, 200, L"%ls\\NumMethods", iface);
		rc = rc ? rc : set_value(root, path, NULL, ifaces[i].methods);
		ours = true;
	}
	if (rc == ERROR_SUCCESS && ours) {
		rc = set_value(root, ps, NULL, L"dobroker doemu proxy/stub");
		swprintf(path, 200, L"%ls\\InprocServer32", ps);
		rc = rc ? rc : set_value(root, path, NULL, dll);
		rc = rc ? rc : set_value(root, path, L"ThreadingModel", L"Both");
	}
	if (rc != ERROR_SUCCESS) {
		fwprintf(stderr, L"doemu: registration failed: error %ld\n", rc);
		return 1;
	}
	fwprintf(stdout, L"doemu: registered %ls\n", cmd);
	return 0;
}

static int do_unregister(const CLSID *clsid, HKEY root)
{
	WCHAR cls[160], ps[160], iface[160], path[200], have[64], psg[40];

	keys(clsid, cls, ps);
	RegDeleteTreeW(root, cls);
	StringFromGUID2(&CLSID_DoEmulatorPS, psg, 40);
	for (size_t i = 0; i < N_IFACES; i++) {
		iface_key(ifaces[i].iid, iface);
		swprintf(path, 200, L"%ls\\ProxyStubClsid32", iface);
		if (get_value(root, path, have, 64) && !_wcsicmp(have, psg))
			RegDeleteTreeW(root, iface);
	}
	RegDeleteTreeW(root, ps);
	fwprintf(stdout, L"doemu: unregistered\n");
	return 0;
}

/* ------------------------------------------------------------ the class object */

static HRESULT STDMETHODCALLTYPE cf_qi(IClassFactory *iface, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IClassFactory)) {
		*out = iface;
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE cf_addref(IClassFactory *iface)
{
	return 2;
}

static ULONG STDMETHODCALLTYPE cf_release(IClassFactory *iface)
{
	return 1;
}

static HRESULT STDMETHODCALLTYPE cf_create(IClassFactory *iface, IUnknown *outer, REFIID riid,
					   void **out)
{
	*out = NULL;
	if (outer)
		return CLASS_E_NOAGGREGATION;
	return manager_create(riid, out);
}

static HRESULT STDMETHODCALLTYPE cf_lock(IClassFactory *iface, BOOL lock)
{
	if (lock)
		server_lock();
	else
		server_unlock();
	return S_OK;
}

static const IClassFactoryVtbl cf_vtbl = { cf_qi, cf_addref, cf_release, cf_create, cf_lock };
static IClassFactory factory = { &cf_vtbl };

static DWORD class_cookie;

void server_revoke(void)
{
	if (class_cookie)
		CoRevokeClassObject(class_cookie);
	class_cookie = 0;
}

static int serve(const CLSID *clsid, const WCHAR *scenario)
{
	struct scenario *scn = NULL;
	char err[512], *path = NULL;
	GUID *watched = NULL;
	size_t n_watched = 0;
	DWORD cookie = 0;
	HANDLE stop, stats;
	HRESULT hr;
	int rc;

	if (scenario) {
		path = emu_utf8(scenario);
		rc = path ? scenario_load(path, &scn, err, sizeof(err)) : -DOB_ENOMEM;
		dob_free(path);
	} else {
		rc = scenario_parse("", 0, "(default scenario)", &scn, err, sizeof(err));
	}
	if (rc < 0) {
		log_error("%s", err);
		return 2;
	}
	stop = CreateEventW(NULL, TRUE, FALSE, event_name(clsid, L""));
	stats = CreateEventW(NULL, FALSE, FALSE, event_name(clsid, L"stats-"));
	if (!stop || !stats)
		return 2;
	hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
	if (SUCCEEDED(hr))
		/* Anyone may call, as the service allows any user; callbacks
		 * into the client are made at IMPERSONATE, what BITS asks. */
		hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_NONE,
					  RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_NONE, NULL);
	if (FAILED(hr)) {
		log_error("COM initialisation failed: 0x%08lX", (unsigned long)hr);
		return 2;
	}
	if (ejob_persist(scn->persist, &watched, &n_watched) < 0) {
		log_error("out of memory");
		return 2;
	}
	rc = model_start(scn, watched, n_watched);
	dob_free(watched);
	if (rc < 0) {
		log_error("cannot start the model");
		return 2;
	}
	/* The class object before the notifiers: a callback made at start
	 * (a scenario event at 0 s activating a job's notification class)
	 * may start a client that connects back to this service at once. */
	hr = CoRegisterClassObject(clsid, (IUnknown *)&factory, CLSCTX_LOCAL_SERVER,
				   REGCLS_MULTIPLEUSE, &cookie);
	if (FAILED(hr)) {
		log_error("CoRegisterClassObject: 0x%08lX", (unsigned long)hr);
		return 2;
	}
	class_cookie = cookie;
	if (notify_start() < 0) {
		log_error("cannot start the notifiers");
		return 2;
	}
	log_info("serving (pid %lu)", (unsigned long)GetCurrentProcessId());
	for (;;) {
		HANDLE ev[2] = { stop, stats };
		struct notify_stats st;

		if (WaitForMultipleObjects(2, ev, FALSE, INFINITE) != WAIT_OBJECT_0 + 1)
			break;
		uint64_t n;
		uint32_t p50, p99, max;

		notify_get_stats(&st);
		notify_hold_figures(&n, &p50, &p99, &max, true);
		log_info("callbacks so far: %llu made (%llu JobError), %llu not S_OK, %llu classes "
			 "activated, at most %llu in flight; JobError held the service's thread "
			 "p50 %lu us, p99 %lu us, max %lu us over the last %llu",
			 (unsigned long long)st.calls, (unsigned long long)st.job_errors,
			 (unsigned long long)st.failed, (unsigned long long)st.activated,
			 (unsigned long long)st.max_in_flight,
			 (unsigned long)p50, (unsigned long)p99, (unsigned long)max,
			 (unsigned long long)n);
	}
	log_info("stopping");
	server_revoke();
	notify_stop();
	ejob_forget_callbacks();
	model_stop();
	CloseHandle(stop);
	CloseHandle(stats);
	CoUninitialize();
	return 0;
}

/* ------------------------------------------------------------ main */

/* The log goes to stderr (log.h). COM starts a local server without
 * standard handles, and the C runtime then leaves its stderr stream closed
 * for good (freopen refuses a stream that is not open): so the log file is
 * made fd 2 and the stream is pointed at it. */
static int open_log(const WCHAR *path)
{
	int fd = _wopen(path, _O_WRONLY | _O_CREAT | _O_APPEND | _O_BINARY, _S_IREAD | _S_IWRITE);

	if (fd < 0)
		return -1;
	if (fd != 2) {
		if (_dup2(fd, 2) < 0) {
			_close(fd);
			return -1;
		}
		_close(fd);
	}
	SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
	stderr->_file = 2; /* may be -2, "no handle", from start-up */
	if (!(stderr->_flag & (_IOREAD | _IOWRT | _IORW)))
		stderr->_flag = _IOWRT;
	clearerr(stderr);
	setvbuf(stderr, NULL, _IONBF, 0); /* each line reaches the file when written */
	return 0;
}

static int usage(void)
{
	fputs("usage: doemu.exe --register [--as-do] [--machine] [--scenario FILE] [--log FILE]\n"
	      "       doemu.exe --unregister [--as-do] [--machine]\n"
	      "       doemu.exe --stop [--as-do]\n"
	      "       doemu.exe --stats [--as-do]\n"
	      "       doemu.exe [--clsid GUID] [--scenario FILE] [--log FILE]\n",
	      stderr);
	return 2;
}

int wmain(int argc, WCHAR **argv)
{
	enum { SERVE, REGISTER, UNREGISTER, STOP, STATS } mode = SERVE;
	const WCHAR *scenario = NULL, *logf = NULL;
	WCHAR full_scn[MAX_PATH], full_log[MAX_PATH];
	CLSID clsid = CLSID_DoEmulator;
	HKEY root = HKEY_CURRENT_USER;

	for (int i = 1; i < argc; i++) {
		const WCHAR *a = argv[i];

		if (!wcscmp(a, L"--register"))
			mode = REGISTER;
		else if (!wcscmp(a, L"--unregister"))
			mode = UNREGISTER;
		else if (!wcscmp(a, L"--stop"))
			mode = STOP;
		else if (!wcscmp(a, L"--stats"))
			mode = STATS;
		else if (!wcscmp(a, L"--as-do"))
			clsid = CLSID_DeliveryOptimization;
		else if (!wcscmp(a, L"--machine"))
			root = HKEY_LOCAL_MACHINE;
		else if (!wcscmp(a, L"--scenario") && i + 1 < argc)
			scenario = argv[++i];
		else if (!wcscmp(a, L"--log") && i + 1 < argc)
			logf = argv[++i];
		else if (!wcscmp(a, L"--clsid") && i + 1 < argc) {
			if (FAILED(CLSIDFromString(argv[++i], &clsid))) {
				fwprintf(stderr, L"doemu: bad --clsid %ls\n", argv[i]);
				return 2;
			}
		} else if (!_wcsicmp(a, L"-Embedding") || !_wcsicmp(a, L"/Embedding"))
			continue; /* COM starts local servers so */
		else
			return usage();
	}
	if (IsEqualGUID(&clsid, &CLSID_DeliveryOptimization) && !under_wine()) {
		fputs("doemu: --as-do (or DO's class) is refused outside Wine: the emulator never "
		      "takes the place of the real Delivery Optimization service\n", stderr);
		return 2;
	}
	if (scenario && GetFullPathNameW(scenario, MAX_PATH, full_scn, NULL))
		scenario = full_scn;
	if (logf && GetFullPathNameW(logf, MAX_PATH, full_log, NULL))
		logf = full_log;
	switch (mode) {
	case REGISTER:
		return do_register(&clsid, root, scenario, logf);
	case UNREGISTER:
		return do_unregister(&clsid, root);
	case STOP:
	case STATS: {
		HANDLE h = OpenEventW(EVENT_MODIFY_STATE, FALSE,
				      event_name(&clsid, mode == STOP ? L"" : L"stats-"));

		if (!h) {
			fputs("doemu: no emulator is running\n", stderr);
			return 1;
		}
		SetEvent(h);
		CloseHandle(h);
		return 0;
	}
	default:
		break;
	}
	if (logf && open_log(logf) < 0)
		return 2;
	dob_log_set_ident("doemu");
	dob_log_set_clock(plat_wall_us);
	dob_log_set_level(DOB_LOG_INFO);
	return serve(&clsid, scenario);
}
