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
 *
 * Then the real thing: `dobrokerd.exe install --backend sim ...` (a separate
 * process, as an operator runs it), started through the SCM, not as a
 * console. Checked: the service's configuration (automatic start; delayed
 * start, recovery actions, required privileges and service SID type where
 * the SCM reports them back -- Wine's does not store every level: each one
 * it lacks is printed as SKIPPED with the reason, not counted); the pipe's
 * security descriptor read back is the service mode's (INTERACTIVE with
 * client rights, create-instance only for the service's own identity); a
 * client in a separate ordinary process (dobctl.exe) is admitted, submits a
 * job and acts on it, and is told UNKNOWN_JOB for a job that is not its own.
 *
 * The service's state directory: plat_service_state_dir creates
 * %ProgramData%\dobroker, and its security descriptor read back is O:SY
 * D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA); an existing directory with another
 * DACL is secured the same way; a file in its place is refused; and
 * `dobrokerd.exe --mode service` without --state-dir takes its journal
 * lock there. (Wine stores the descriptor; that it keeps users out is
 * Windows' to enforce.)
 */
#include "wtest.h"

#include <aclapi.h>
#include <sddl.h>

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

/* Runs cmd (UTF-8 command line) in a separate process, stdout and stderr
 * into out_path; returns its exit code (0xFFFFFFFF: could not start). */
static DWORD run(const char *cmd, const char *out_path)
{
	wchar_t w[2048];
	MultiByteToWideChar(CP_UTF8, 0, cmd, -1, w, 2048);
	SECURITY_ATTRIBUTES sa = {.nLength = sizeof(sa), .bInheritHandle = TRUE};
	HANDLE out = CreateFileA(out_path, GENERIC_WRITE, FILE_SHARE_READ, &sa, CREATE_ALWAYS, 0,
				 NULL);
	STARTUPINFOW si = {.cb = sizeof(si), .dwFlags = STARTF_USESTDHANDLES,
			   .hStdOutput = out, .hStdError = out,
			   .hStdInput = GetStdHandle(STD_INPUT_HANDLE)};
	PROCESS_INFORMATION pi;
	DWORD code = 0xFFFFFFFF;
	if (CreateProcessW(NULL, w, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
		if (WaitForSingleObject(pi.hProcess, 60000) == WAIT_OBJECT_0)
			GetExitCodeProcess(pi.hProcess, &code);
		else
			TerminateProcess(pi.hProcess, 0xFFFFFFFE);
		CloseHandle(pi.hProcess);
		CloseHandle(pi.hThread);
	}
	CloseHandle(out);
	return code;
}

static char *slurp(const char *path)
{
	static char buf[8192];
	buf[0] = 0;
	HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
			       OPEN_EXISTING, 0, NULL);
	DWORD n = 0;
	if (h != INVALID_HANDLE_VALUE) {
		ReadFile(h, buf, sizeof(buf) - 1, &n, NULL);
		buf[n] = 0;
		CloseHandle(h);
	}
	return buf;
}

static unsigned skipped;
static void skip(const char *what, DWORD err)
{
	printf("SKIPPED: %s (the service manager answers error %lu: Wine's SCM does not "
	       "store this level; checked on Windows by tests/windows/)\n",
	       what, (unsigned long)err);
	skipped++;
}

/* The service mode's DACL, read back through a client handle. */
static void check_service_dacl(const char *pipe)
{
	HANDLE h = wt_connect(pipe, 5000);
	if (!CHECK(h != INVALID_HANDLE_VALUE))
		return;
	PACL dacl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	if (CHECK_EQ(GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL,
				     &dacl, NULL, &sd),
		     ERROR_SUCCESS) &&
	    CHECK(dacl != NULL)) {
		int interactive = 0, creators = 0;
		for (DWORD i = 0; i < dacl->AceCount; i++) {
			void *p = NULL;
			char *s = NULL;
			if (!GetAce(dacl, i, &p) ||
			    !ConvertSidToStringSidA((PSID) & ((ACCESS_ALLOWED_ACE *)p)->SidStart, &s))
				continue;
			DWORD m = ((ACCESS_ALLOWED_ACE *)p)->Mask;
			if (strcmp(s, "S-1-5-4") == 0) {
				interactive++;
				CHECK_EQ(m, WIN_PIPE_CLIENT_ACCESS);
			} else if (strcmp(s, "S-1-5-18") != 0 && (m & FILE_CREATE_PIPE_INSTANCE)) {
				creators++;
				CHECK_EQ(m, WIN_PIPE_CLIENT_ACCESS | FILE_CREATE_PIPE_INSTANCE);
			}
			LocalFree(s);
		}
		CHECK_EQ(interactive, 1); /* the service mode's ACE */
		CHECK_EQ(creators, 1);    /* the service's own identity, nobody else */
	}
	if (sd)
		LocalFree(sd);
	CloseHandle(h);
}

static void test_dobrokerd_service(void)
{
	char dir[MAX_PATH], tmp[MAX_PATH], pipe[200], cmd[2048], out[700], path[700];
	wchar_t exe[MAX_PATH];
	char bin[MAX_PATH * 3];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	WideCharToMultiByte(CP_UTF8, 0, exe, -1, bin, sizeof(bin), NULL, NULL);
	*strrchr(bin, '\\') = 0;
	GetTempPathA(MAX_PATH, tmp);
	snprintf(dir, sizeof(dir), "%sdobtest-brk-svc-%lu", tmp, (unsigned long)GetCurrentProcessId());
	CreateDirectoryA(dir, NULL);
	wt_unique_pipe(pipe, sizeof(pipe), "brksvc");
	snprintf(out, sizeof(out), "%s\\cmd.log", dir);
	win_service_uninstall(NULL, 0);

	snprintf(cmd, sizeof(cmd),
		 "\"%s\\dobrokerd.exe\" install --backend sim --endpoint %s --state-dir \"%s\\state\" "
		 "--log-level debug",
		 bin, pipe, dir);
	if (!CHECK_EQ(run(cmd, out), 0)) {
		printf("  install said: %s\n", slurp(out));
		return;
	}
	printf("install said: %s", slurp(out));
	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	SC_HANDLE svc = scm ? OpenServiceW(scm, WIN_SERVICE_NAME,
					   SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS |
						   SERVICE_QUERY_CONFIG)
			    : NULL;
	if (!CHECK(svc != NULL))
		goto out;
	union {
		QUERY_SERVICE_CONFIGW c;
		SERVICE_DELAYED_AUTO_START_INFO d;
		SERVICE_FAILURE_ACTIONSW f;
		SERVICE_SID_INFO sid;
		SERVICE_REQUIRED_PRIVILEGES_INFOW rp;
		uint8_t b[8192];
	} cfg;
	DWORD need = 0;
	if (CHECK(QueryServiceConfigW(svc, &cfg.c, sizeof(cfg), &need))) {
		CHECK_EQ(cfg.c.dwStartType, SERVICE_AUTO_START);
		CHECK(wcsstr(cfg.c.lpBinaryPathName, L" --service --mode=service ") != NULL);
	}
	if (QueryServiceConfig2W(svc, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, cfg.b, sizeof(cfg),
				 &need))
		CHECK(cfg.d.fDelayedAutostart);
	else
		skip("delayed auto-start read back", GetLastError());
	if (QueryServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, cfg.b, sizeof(cfg), &need) &&
	    cfg.f.cActions > 0) {
		CHECK_EQ(cfg.f.cActions, 3);
		CHECK_EQ(cfg.f.lpsaActions[0].Type, SC_ACTION_RESTART);
	} else {
		skip("recovery actions read back", GetLastError());
	}
	if (QueryServiceConfig2W(svc, SERVICE_CONFIG_SERVICE_SID_INFO, cfg.b, sizeof(cfg), &need))
		CHECK_EQ(cfg.sid.dwServiceSidType, SERVICE_SID_TYPE_UNRESTRICTED);
	else
		skip("service SID type read back", GetLastError());
	if (QueryServiceConfig2W(svc, SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, cfg.b, sizeof(cfg),
				 &need) &&
	    cfg.rp.pmszRequiredPrivileges) {
		CHECK(wcscmp(cfg.rp.pmszRequiredPrivileges, L"SeChangeNotifyPrivilege") == 0);
	} else {
		skip("required privileges read back", GetLastError());
	}

	if (!CHECK(StartServiceW(svc, 0, NULL))) {
		printf("  StartService: %lu\n", (unsigned long)GetLastError());
		goto out;
	}
	WAIT_FOR(state_of(svc) == SERVICE_RUNNING, 20000);
	CHECK_EQ(state_of(svc), SERVICE_RUNNING);
	HANDLE probe = wt_connect(pipe, 20000); /* the service listens */
	if (!CHECK(probe != INVALID_HANDLE_VALUE))
		goto stop;
	CloseHandle(probe);
	check_service_dacl(pipe);

	/* A client in a separate ordinary process: admitted (Welcome), submits,
	 * acts on its own job. */
	snprintf(path, sizeof(path), "%s\\downloaded.bin", dir);
	snprintf(cmd, sizeof(cmd), "\"%s\\dobctl.exe\" --endpoint %s submit http://127.0.0.1:9/x \"%s\"",
		 bin, pipe, path);
	if (!CHECK_EQ(run(cmd, out), 0)) {
		printf("  dobctl submit said: %s\n", slurp(out));
		goto stop;
	}
	char job[64] = "";
	const char *g = strchr(slurp(out), '{');
	if (CHECK(g != NULL && strlen(g) >= 38)) {
		memcpy(job, g, 38);
		job[38] = 0;
	}
	snprintf(cmd, sizeof(cmd), "\"%s\\dobctl.exe\" --endpoint %s act %s cancel", bin, pipe, job);
	if (!CHECK_EQ(run(cmd, out), 0))
		printf("  dobctl act said: %s\n", slurp(out));
	snprintf(cmd, sizeof(cmd),
		 "\"%s\\dobctl.exe\" --endpoint %s act {6B29FC40-CA47-1067-B31D-00DD010662DA} cancel",
		 bin, pipe);
	CHECK_EQ(run(cmd, out), 4);
	CHECK(strstr(slurp(out), "UNKNOWN_JOB") != NULL);
stop:;
	SERVICE_STATUS st;
	ControlService(svc, SERVICE_CONTROL_STOP, &st);
	WAIT_FOR(state_of(svc) == SERVICE_STOPPED, 20000);
	CHECK_EQ(state_of(svc), SERVICE_STOPPED);
out:
	if (svc)
		CloseServiceHandle(svc);
	if (scm)
		CloseServiceHandle(scm);
	snprintf(cmd, sizeof(cmd), "\"%s\\dobrokerd.exe\" uninstall", bin);
	CHECK_EQ(run(cmd, out), 0);
	printf("%u check(s) SKIPPED under this service manager\n", skipped);
}

/* dir's security read back equals the service state directory's. Not
 * under Wine: it maps a file DACL onto Unix mode bits and back (measured:
 * O:<user> D:(A;OICI;FA;;;SY)(A;OICI;FA;;;<user>)(A;OICI;0x1200a9;;;WD),
 * whatever was set), so the match is Windows' to show. */
static void check_service_dir_sd(const wchar_t *dir)
{
	bool wine = GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
	if (wine) {
		printf("SKIPPED: the service state directory's security read back (O:SY "
		       "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)): Wine keeps file security as Unix "
		       "mode bits, not as set; checked by this test on Windows\n");
		skipped++;
		return;
	}
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID owner = NULL;
	PACL dacl = NULL;
	SECURITY_DESCRIPTOR_CONTROL ctl = 0;
	DWORD rev = 0;
	if (!CHECK_EQ(GetNamedSecurityInfoW(dir, SE_FILE_OBJECT,
					    OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
					    &owner, NULL, &dacl, NULL, &sd),
		      ERROR_SUCCESS))
		return;
	char *s = NULL;
	if (CHECK(owner && ConvertSidToStringSidA(owner, &s))) {
		CHECK_STR(s, "S-1-5-18");
		LocalFree(s);
	}
	CHECK(GetSecurityDescriptorControl(sd, &ctl, &rev));
	CHECK(ctl & SE_DACL_PROTECTED);
	if (CHECK(dacl != NULL) && CHECK_EQ(dacl->AceCount, 2)) {
		const char *want[2] = {"S-1-5-18", "S-1-5-32-544"};
		for (DWORD i = 0; i < 2; i++) {
			void *p = NULL;
			if (!CHECK(GetAce(dacl, i, &p)))
				continue;
			ACCESS_ALLOWED_ACE *a = p;
			CHECK_EQ(a->Header.AceType, ACCESS_ALLOWED_ACE_TYPE);
			CHECK_EQ(a->Header.AceFlags & (OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE),
				 OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE);
			CHECK_EQ(a->Mask, FILE_ALL_ACCESS);
			if (CHECK(ConvertSidToStringSidA((PSID)&a->SidStart, &s))) {
				CHECK_STR(s, want[i]);
				LocalFree(s);
			}
		}
	}
	LocalFree(sd);
}

static void test_service_state_dir(void)
{
	char dir[MAX_PATH * 3], err[512] = "", want[MAX_PATH + 32], tmp[MAX_PATH];
	wchar_t w[MAX_PATH * 2];

	/* %ProgramData%\dobroker, created and secured. */
	if (!CHECK_EQ(plat_service_state_dir(dir, sizeof(dir), err, sizeof(err)), 0)) {
		printf("  plat_service_state_dir: %s\n", err);
		return;
	}
	DWORD n = GetEnvironmentVariableA("ProgramData", want, MAX_PATH);
	if (CHECK(n > 0 && n < MAX_PATH)) {
		strcat(want, "\\dobroker");
		CHECK(_stricmp(dir, want) == 0);
	}
	printf("service state directory: %s\n", dir);
	MultiByteToWideChar(CP_UTF8, 0, dir, -1, w, MAX_PATH * 2);
	DWORD a = GetFileAttributesW(w);
	CHECK(a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY));
	check_service_dir_sd(w);
	/* Again: the same answer, the same security. */
	CHECK_EQ(plat_service_state_dir(dir, sizeof(dir), err, sizeof(err)), 0);
	check_service_dir_sd(w);

	/* A directory someone made first, open to Everyone: made ours. */
	GetTempPathA(MAX_PATH, tmp);
	wchar_t pre[MAX_PATH * 2], file[MAX_PATH * 2];
	swprintf(pre, MAX_PATH * 2, L"%hsdobtest-svcdir-%lu", tmp,
		 (unsigned long)GetCurrentProcessId());
	PSECURITY_DESCRIPTOR open_sd = NULL;
	CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorW(
		L"D:(A;OICI;FA;;;WD)(A;OICI;FA;;;BU)", SDDL_REVISION_1, &open_sd, NULL));
	SECURITY_ATTRIBUTES sa = {sizeof(sa), open_sd, FALSE};
	CHECK(CreateDirectoryW(pre, &sa));
	LocalFree(open_sd);
	CHECK_EQ(win_service_dir_secure(pre, err, sizeof(err)), 0);
	check_service_dir_sd(pre);
	RemoveDirectoryW(pre);

	/* A file where the directory should be: refused, named. */
	swprintf(file, MAX_PATH * 2, L"%hsdobtest-svcfile-%lu", tmp,
		 (unsigned long)GetCurrentProcessId());
	HANDLE h = CreateFileW(file, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	if (CHECK(h != INVALID_HANDLE_VALUE))
		CloseHandle(h);
	CHECK_EQ(win_service_dir_secure(file, err, sizeof(err)), -DOB_EEXIST);
	CHECK(strstr(err, "not a directory") != NULL);
	DeleteFileW(file);
}

/* dobrokerd --mode service without --state-dir uses the service's
 * directory: it takes its lock there, then stops because the endpoint is
 * taken (a server of ours holds it). */
static void test_dobrokerd_service_dir(void)
{
	char pipe[200], cmd[2048], out[MAX_PATH + 64], tmp[MAX_PATH], bin[MAX_PATH * 3];
	char dir[MAX_PATH * 3], err[512], lock[MAX_PATH * 3 + 16];
	wchar_t exe[MAX_PATH], wp[256];

	GetModuleFileNameW(NULL, exe, MAX_PATH);
	WideCharToMultiByte(CP_UTF8, 0, exe, -1, bin, sizeof(bin), NULL, NULL);
	*strrchr(bin, '\\') = 0;
	if (!CHECK_EQ(plat_service_state_dir(dir, sizeof(dir), err, sizeof(err)), 0))
		return;
	snprintf(lock, sizeof(lock), "%s\\lock", dir);
	DeleteFileA(lock);
	wt_unique_pipe(pipe, sizeof(pipe), "svcdir");
	MultiByteToWideChar(CP_UTF8, 0, pipe, -1, wp, 256);
	HANDLE squat = CreateNamedPipeW(wp, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
					PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, 512, 512, 0, NULL);
	if (!CHECK(squat != INVALID_HANDLE_VALUE))
		return;
	GetTempPathA(MAX_PATH, tmp);
	snprintf(out, sizeof(out), "%sdobtest-svcdir-%lu.log", tmp,
		 (unsigned long)GetCurrentProcessId());
	snprintf(cmd, sizeof(cmd),
		 "\"%s\\dobrokerd.exe\" --mode service --backend sim --endpoint %s", bin, pipe);
	CHECK_EQ(run(cmd, out), 1);
	const char *said = slurp(out);
	if (!CHECK(GetFileAttributesA(lock) != INVALID_FILE_ATTRIBUTES))
		printf("  dobrokerd said: %s\n", said);
	CloseHandle(squat);
	DeleteFileA(out);
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
		CHECK_EQ(cfg.c.dwStartType, SERVICE_AUTO_START);
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
	test_dobrokerd_service();
	test_service_state_dir();
	test_dobrokerd_service_dir();
	return wt_finish("service_test");
}
