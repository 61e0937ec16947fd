/*
 * service_test.exe - install, start, stop and uninstall through Wine's
 * service control manager (run under Wine by scripts/check.sh).
 *
 * The test installs itself as the service (win_service_install: its command
 * line becomes "service_test.exe --service MARKER_DIR"). Started by the SCM,
 * that instance runs win_service_run with a body that creates a loop,
 * registers it with plat_handle_signals, listens on a pipe, writes
 * MARKER_DIR\running and runs the loop; SERVICE_CONTROL_STOP must make the
 * loop return, after which it writes MARKER_DIR\stopped. Run outside the
 * SCM, win_service_run must refuse (-DOB_ESTATE; checked on Windows only).
 */
#include "wtest.h"

#include "dob/err.h"
#include "platform.h"
#include "win32/win.h"
#include "win32/win_service.h"

static char marker_dir[600];

static void touch(const char *name)
{
	char p[700];
	snprintf(p, sizeof(p), "%s\\%s", marker_dir, name);
	HANDLE h = CreateFileA(p, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	CloseHandle(h);
}

static bool exists(const char *name)
{
	char p[700];
	snprintf(p, sizeof(p), "%s\\%s", marker_dir, name);
	return GetFileAttributesA(p) != INVALID_FILE_ATTRIBUTES;
}

static const struct plat_handlers handlers = {0};

static int service_body(void *arg)
{
	struct plat_loop *l = NULL;
	char name[200], err[512];
	int r = plat_loop_new(&l, &handlers);
	if (r < 0)
		return r;
	wt_unique_pipe(name, sizeof(name), "svc");
	struct plat_listen_opts o = {.endpoint = name};
	r = plat_listen(l, &o, err, sizeof(err));
	if (r == 0)
		r = plat_handle_signals(l);
	if (r == 0) {
		touch("running");
		r = plat_loop_run(l);
	}
	plat_loop_free(l);
	if (r == 0)
		touch("stopped");
	return r;
}

static DWORD state_of(SC_HANDLE svc)
{
	SERVICE_STATUS st;
	return QueryServiceStatus(svc, &st) ? st.dwCurrentState : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && strcmp(argv[1], "--service") == 0) {
		snprintf(marker_dir, sizeof(marker_dir), "%s", argv[2]);
		return win_service_run(service_body, NULL) == 0 ? 0 : 1;
	}

	/* Not started by the SCM: refused. Not under Wine, whose dispatcher
	 * attaches any caller to the control pipe of the service start last
	 * announced in the registry (measured: the test then ran as that
	 * service); Windows answers ERROR_FAILED_SERVICE_CONTROLLER_CONNECT. */
	bool wine = GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
	if (!wine)
		CHECK_EQ(win_service_run(service_body, NULL), -DOB_ESTATE);

	char tmp[MAX_PATH], err[512] = "";
	GetTempPathA(MAX_PATH, tmp);
	snprintf(marker_dir, sizeof(marker_dir), "%sdobtest-svc-%lu", tmp,
		 (unsigned long)GetCurrentProcessId());
	CreateDirectoryA(marker_dir, NULL);

	win_service_uninstall(NULL, 0); /* a leftover of an aborted run */
	wchar_t exe[MAX_PATH];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	if (!CHECK_EQ(win_service_install(exe, marker_dir, err, sizeof(err)), 0)) {
		printf("install: %s\n", err);
		return wt_finish("service_test");
	}
	CHECK_EQ(win_service_install(exe, marker_dir, err, sizeof(err)), -DOB_EEXIST);
	CHECK(strstr(err, "already installed") != NULL);

	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	SC_HANDLE svc = scm ? OpenServiceW(scm, WIN_SERVICE_NAME,
					   SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS |
						   SERVICE_QUERY_CONFIG)
			    : NULL;
	CHECK(svc != NULL);

	/* The command line it was given. */
	union {
		QUERY_SERVICE_CONFIGW c;
		uint8_t b[8192];
	} cfg;
	DWORD need = 0;
	if (CHECK(svc && QueryServiceConfigW(svc, &cfg.c, sizeof(cfg), &need))) {
		wchar_t want[MAX_PATH + 700];
		swprintf(want, MAX_PATH + 700, L"\"%ls\" --service %hs", exe, marker_dir);
		CHECK(wcscmp(cfg.c.lpBinaryPathName, want) == 0);
		CHECK_EQ(cfg.c.dwServiceType, SERVICE_WIN32_OWN_PROCESS);
		CHECK_EQ(cfg.c.dwStartType, SERVICE_DEMAND_START);
	}

	if (CHECK(svc && StartServiceW(svc, 0, NULL))) {
		WAIT_FOR(state_of(svc) == SERVICE_RUNNING && exists("running"), 20000);
		CHECK_EQ(state_of(svc), SERVICE_RUNNING);
		CHECK(exists("running"));
		CHECK(!exists("stopped"));
		SERVICE_STATUS st;
		CHECK(ControlService(svc, SERVICE_CONTROL_STOP, &st));
		WAIT_FOR(state_of(svc) == SERVICE_STOPPED, 20000);
		CHECK_EQ(state_of(svc), SERVICE_STOPPED);
		CHECK(exists("stopped")); /* the loop returned 0 on the stop */
		if (QueryServiceStatus(svc, &st))
			CHECK_EQ(st.dwWin32ExitCode, NO_ERROR);
	}
	if (svc)
		CloseServiceHandle(svc);
	if (scm)
		CloseServiceHandle(scm);

	CHECK_EQ(win_service_uninstall(err, sizeof(err)), 0);
	CHECK_EQ(win_service_uninstall(err, sizeof(err)), -DOB_ENOTFOUND);
	CHECK(strstr(err, "not installed") != NULL);

	char p[700];
	snprintf(p, sizeof(p), "%s\\running", marker_dir);
	DeleteFileA(p);
	snprintf(p, sizeof(p), "%s\\stopped", marker_dir);
	DeleteFileA(p);
	RemoveDirectoryA(marker_dir);
	return wt_finish("service_test");
}
