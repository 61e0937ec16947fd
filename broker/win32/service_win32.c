/*
 * broker/win32/service_win32.c - install, uninstall and run as a Windows
 * service (see win_service.h).
 *
 * Least privilege (docs/security.md, "The service"): the service runs as
 * LocalSystem -- BITS and DO keep jobs per user, and only a LocalSystem
 * client can impersonate every interactive user to create their jobs as
 * them -- but with only the privileges it needs
 * (SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO; the SCM removes every other one
 * from its token at start):
 *   SeChangeNotifyPrivilege  traverse checking (every process has it)
 *   SeImpersonatePrivilege   impersonate its pipe clients (identification of
 *                            their tokens; creating their jobs as them)
 *   SeCreateGlobalPrivilege  create the pipe and objects in the global
 *                            namespace from session 0
 * It has an unrestricted service SID (NT SERVICE\dobroker,
 * SERVICE_CONFIG_SERVICE_SID_INFO), which alone, with SYSTEM, may create
 * instances of its pipe (sd_win32.c). It starts automatically, delayed
 * (SERVICE_AUTO_START + SERVICE_CONFIG_DELAYED_AUTO_START_INFO): the name is
 * taken at boot before ordinary users' programs run, and clients
 * authenticate the server in any case (transport_win32.c). Recovery: the SCM
 * restarts it 5 s after a first and a second failure and 60 s after later
 * ones, counting afresh after a day without failure
 * (SERVICE_CONFIG_FAILURE_ACTIONS, with FAILURE_ACTIONS_FLAG so a non-zero
 * exit counts as a failure too).
 *
 * A setting the SCM does not take (Wine's SCM knows some of these levels
 * only) is reported by install as not applied, by name, never silently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/com_class.h"
#include "win32/win.h"
#include "win32/win_service.h"
#include "win32/win_ops.h"

#include <aclapi.h>
#include <sddl.h>
#include <shellapi.h>
#include <shlobj.h>

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

#define STOP_WAIT_MS 10000

static int fail_with(char *errbuf, size_t errlen, const char *what, DWORD e)
{
	char msg[256];
	snprintf(errbuf, errlen, "%s: %s", what, win_strerror(e, msg, sizeof(msg)));
	int r = win_error_to_err(e);
	return r ? r : -DOB_EIO;
}

/* The least-privilege settings of the top of this file. A level the SCM
 * answers ERROR_INVALID_LEVEL or ERROR_CALL_NOT_IMPLEMENTED for is named in
 * win_service_not_applied; any other failure fails the install. */
char win_service_not_applied[256];

static int setting(SC_HANDLE svc, DWORD level, void *info, const char *name, char *errbuf,
		   size_t errlen)
{
	if (ChangeServiceConfig2W(svc, level, info))
		return 0;
	DWORD e = GetLastError();
	if (e == ERROR_INVALID_LEVEL || e == ERROR_CALL_NOT_IMPLEMENTED ||
	    e == ERROR_INVALID_PARAMETER) {
		size_t n = strlen(win_service_not_applied);
		snprintf(win_service_not_applied + n, sizeof(win_service_not_applied) - n, "%s%s",
			 n ? ", " : "", name);
		log_warn("service: the service manager did not take %s (error %lu); not applied",
			 name, (unsigned long)e);
		return 0;
	}
	char what[96];
	snprintf(what, sizeof(what), "cannot set %s", name);
	return fail_with(errbuf, errlen, what, e);
}

int win_service_harden(SC_HANDLE svc, char *errbuf, size_t errlen)
{
	win_service_not_applied[0] = 0;
	/* MULTI_SZ: each name NUL-terminated, an empty string at the end. */
	static wchar_t privs[] = L"SeChangeNotifyPrivilege\0SeImpersonatePrivilege\0"
				 L"SeCreateGlobalPrivilege\0";
	SERVICE_REQUIRED_PRIVILEGES_INFOW rp = {.pmszRequiredPrivileges = privs};
	SERVICE_SID_INFO sid = {.dwServiceSidType = SERVICE_SID_TYPE_UNRESTRICTED};
	SERVICE_DELAYED_AUTO_START_INFO delayed = {.fDelayedAutostart = TRUE};
	SC_ACTION acts[3] = {{SC_ACTION_RESTART, 5000},
			     {SC_ACTION_RESTART, 5000},
			     {SC_ACTION_RESTART, 60000}};
	SERVICE_FAILURE_ACTIONSW fa = {.dwResetPeriod = 86400, .cActions = 3, .lpsaActions = acts};
	SERVICE_FAILURE_ACTIONS_FLAG faf = {.fFailureActionsOnNonCrashFailures = TRUE};
	int r = setting(svc, SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, &rp, "required privileges",
			errbuf, errlen);
	if (r == 0)
		r = setting(svc, SERVICE_CONFIG_SERVICE_SID_INFO, &sid, "service SID type", errbuf,
			    errlen);
	if (r == 0)
		r = setting(svc, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed,
			    "delayed auto-start", errbuf, errlen);
	if (r == 0)
		r = setting(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa, "recovery actions", errbuf,
			    errlen);
	if (r == 0)
		r = setting(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &faf,
			    "recovery on non-crash failures", errbuf, errlen);
	return r;
}

int win_service_install(const wchar_t *exe_path, const char *args, char *errbuf, size_t errlen)
{
	char dummy[8];
	if (!errbuf || !errlen) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = 0;
	if (!exe_path || !exe_path[0] || wcschr(exe_path, L'"')) {
		snprintf(errbuf, errlen, "invalid program path");
		return -DOB_EINVAL;
	}
	wchar_t *wargs = NULL;
	int r = win_utf8_to_wide(args ? args : "", &wargs);
	if (r < 0) {
		snprintf(errbuf, errlen, "service arguments are not valid UTF-8");
		return r;
	}
	size_t n = wcslen(exe_path) + wcslen(wargs) + 32;
	wchar_t *cmd = dob_malloc(n * sizeof(wchar_t));
	if (!cmd) {
		dob_free(wargs);
		snprintf(errbuf, errlen, "out of memory");
		return -DOB_ENOMEM;
	}
	swprintf(cmd, n, L"\"%ls\" --service%ls%ls", exe_path, wargs[0] ? L" " : L"", wargs);
	dob_free(wargs);

	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
	if (!scm) {
		r = fail_with(errbuf, errlen, "cannot open the service control manager",
			      GetLastError());
		dob_free(cmd);
		return r;
	}
	SC_HANDLE svc = CreateServiceW(scm, WIN_SERVICE_NAME, WIN_SERVICE_DISPLAY,
				       SERVICE_CHANGE_CONFIG | SERVICE_QUERY_STATUS | SERVICE_START,
				       SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
				       SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
	dob_free(cmd);
	if (!svc) {
		DWORD e = GetLastError();
		if (e == ERROR_SERVICE_EXISTS) {
			snprintf(errbuf, errlen, "the service %ls is already installed",
				 WIN_SERVICE_NAME);
			r = -DOB_EEXIST;
		} else {
			r = fail_with(errbuf, errlen, "cannot create the service", e);
		}
		CloseServiceHandle(scm);
		return r;
	}
	SERVICE_DESCRIPTIONW d = {
		.lpDescription = L"Streams Delivery Optimization / BITS job errors to subscribers "
				 L"over \\\\.\\pipe\\dobroker and carries out their actions."};
	ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d); /* cosmetic */
	if (win_eventlog_register(exe_path, errbuf, errlen) < 0) /* events stay log lines */
		log_warn("service installed, but %s", errbuf);
	r = win_service_harden(svc, errbuf, errlen);
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return r;
}

int win_service_uninstall(char *errbuf, size_t errlen)
{
	char dummy[8];
	if (!errbuf || !errlen) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = 0;
	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	if (!scm)
		return fail_with(errbuf, errlen, "cannot open the service control manager",
				 GetLastError());
	SC_HANDLE svc = OpenServiceW(scm, WIN_SERVICE_NAME,
				     SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
	if (!svc) {
		DWORD e = GetLastError();
		int r;
		if (e == ERROR_SERVICE_DOES_NOT_EXIST) {
			snprintf(errbuf, errlen, "the service %ls is not installed",
				 WIN_SERVICE_NAME);
			r = -DOB_ENOTFOUND;
		} else {
			r = fail_with(errbuf, errlen, "cannot open the service", e);
		}
		CloseServiceHandle(scm);
		return r;
	}
	SERVICE_STATUS st;
	if (ControlService(svc, SERVICE_CONTROL_STOP, &st)) {
		ULONGLONG until = GetTickCount64() + STOP_WAIT_MS;
		while (QueryServiceStatus(svc, &st) && st.dwCurrentState != SERVICE_STOPPED &&
		       GetTickCount64() < until)
			Sleep(100);
		if (st.dwCurrentState != SERVICE_STOPPED)
			log_warn("service: still stopping after %d ms; deleting it anyway "
				 "(removed once it stops)",
				 STOP_WAIT_MS);
	}
	int r = 0;
	if (!DeleteService(svc)) {
		DWORD e = GetLastError();
		if (e != ERROR_SERVICE_MARKED_FOR_DELETE)
			r = fail_with(errbuf, errlen, "cannot delete the service", e);
	}
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	if (r == 0 && win_eventlog_unregister(errbuf, errlen) < 0) /* the service is gone */
		log_warn("service removed, but %s", errbuf);
	return r;
}

/* ------------------------------------------------------------ running */

/* Set once by win_service_run before the dispatcher starts; read by the
 * service thread it creates. */
static int (*svc_fn)(void *);
static void *svc_arg;
static int svc_rc;
static SERVICE_STATUS_HANDLE svc_handle;
static SERVICE_STATUS svc_status;
static CRITICAL_SECTION svc_lock; /* protects svc_status and its reporting */

static void report(DWORD state, DWORD win32, DWORD specific)
{
	EnterCriticalSection(&svc_lock);
	svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	svc_status.dwCurrentState = state;
	svc_status.dwControlsAccepted =
		state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN |
						   SERVICE_ACCEPT_PARAMCHANGE
					 : 0;
	svc_status.dwWin32ExitCode = win32;
	svc_status.dwServiceSpecificExitCode = specific;
	svc_status.dwWaitHint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING
					? STOP_WAIT_MS
					: 0;
	if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
		svc_status.dwCheckPoint++;
	else
		svc_status.dwCheckPoint = 0;
	SetServiceStatus(svc_handle, &svc_status);
	LeaveCriticalSection(&svc_lock);
}

static DWORD WINAPI on_control(DWORD ctl, DWORD type, void *data, void *ctx)
{
	switch (ctl) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		report(SERVICE_STOP_PENDING, NO_ERROR, 0);
		win_request_stop();
		return NO_ERROR;
	case SERVICE_CONTROL_PARAMCHANGE: /* reload, as SIGHUP */
		win_request_reload();
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
	svc_handle = RegisterServiceCtrlHandlerExW(WIN_SERVICE_NAME, on_control, NULL);
	if (!svc_handle) {
		log_error("service: RegisterServiceCtrlHandlerEx failed (error %lu)",
			  (unsigned long)GetLastError());
		svc_rc = -DOB_EIO;
		return;
	}
	report(SERVICE_START_PENDING, NO_ERROR, 0);
	report(SERVICE_RUNNING, NO_ERROR, 0);
	svc_rc = svc_fn(svc_arg);
	if (svc_rc == 0)
		report(SERVICE_STOPPED, NO_ERROR, 0);
	else
		report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR,
		       (DWORD)(svc_rc < 0 ? -svc_rc : svc_rc));
}

int win_service_run(int (*main_fn)(void *arg), void *arg)
{
	static wchar_t name[] = WIN_SERVICE_NAME;
	SERVICE_TABLE_ENTRYW table[] = {{name, service_main}, {NULL, NULL}};
	svc_fn = main_fn;
	svc_arg = arg;
	svc_rc = 0;
	InitializeCriticalSection(&svc_lock);
	if (!StartServiceCtrlDispatcherW(table)) {
		DWORD e = GetLastError();
		DeleteCriticalSection(&svc_lock);
		if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
			log_error("--service: not started by the service control manager (run "
				  "without --service for console mode)");
			return -DOB_ESTATE;
		}
		char msg[256];
		log_error("service: StartServiceCtrlDispatcher: %s",
			  win_strerror(e, msg, sizeof(msg)));
		return win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
	}
	DeleteCriticalSection(&svc_lock);
	return svc_rc;
}

/* ------------------------------------------------------------ program */

/* The command line in UTF-8 (CommandLineToArgvW's rules); NULL on failure. */
static char **utf8_args(int *argc)
{
	int n = 0;
	LPWSTR *w = CommandLineToArgvW(GetCommandLineW(), &n);
	if (!w)
		return NULL;
	char **a = dob_calloc((size_t)n + 1, sizeof(*a));
	for (int i = 0; a && i < n; i++) {
		if (win_wide_to_utf8(w[i], &a[i]) < 0) {
			for (int j = 0; j < i; j++)
				dob_free(a[j]);
			dob_free(a);
			a = NULL;
		}
	}
	LocalFree(w);
	*argc = a ? n : 0;
	return a;
}

static void free_args(char **a, int n)
{
	for (int i = 0; a && i < n; i++)
		dob_free(a[i]);
	dob_free(a);
}

/* Appends one argument quoted so that CommandLineToArgvW gives it back. */
static int append_quoted(char **buf, size_t *len, const char *arg)
{
	size_t n = strlen(arg), cap = *len + 2 * n + 4;
	char *b = dob_realloc(*buf, cap);
	if (!b)
		return -DOB_ENOMEM;
	*buf = b;
	char *o = b + *len;
	if (*len)
		*o++ = ' ';
	if (n && !strpbrk(arg, " \t\n\v\"")) {
		memcpy(o, arg, n);
		o += n;
	} else {
		*o++ = '"';
		for (const char *p = arg;; p++) {
			size_t bs = 0;
			while (*p == '\\') {
				p++;
				bs++;
			}
			if (!*p) {
				/* Backslashes before the closing quote are doubled. */
				for (size_t k = 0; k < 2 * bs; k++)
					*o++ = '\\';
				break;
			}
			if (*p == '"') {
				for (size_t k = 0; k < 2 * bs + 1; k++)
					*o++ = '\\';
			} else {
				for (size_t k = 0; k < bs; k++)
					*o++ = '\\';
			}
			*o++ = *p;
		}
		*o++ = '"';
	}
	*o = 0;
	*len = (size_t)(o - b);
	return 0;
}

struct svc_body_ctx {
	int (*run)(int argc, char **argv);
	int argc;
	char **argv;
};

static int svc_body(void *p)
{
	struct svc_body_ctx *c = p;
	return c->run(c->argc, c->argv);
}

/* ------------------------------------------------------------ state directory */

/*
 * The machine service's state directory: %ProgramData%\dobroker, protected
 * and owned by SYSTEM:
 *   O:SY                 owner SYSTEM, not the account that happened to
 *                        create it (a standard user may create folders in
 *                        ProgramData and would keep WRITE_DAC as owner)
 *   D:P                  protected: nothing inherited from ProgramData (whose
 *                        ACEs let Users read and CREATOR OWNER write)
 *   (A;OICI;FA;;;SY)     SYSTEM, full control, inherited by files and
 *                        subdirectories: the service (LocalSystem)
 *   (A;OICI;FA;;;BA)     Administrators, full control, inherited: operators
 *                        read the journal and the log, and clear them
 * Nobody else has an ACE: users' processes cannot read the journal (which
 * names every user's jobs) or plant files in it.
 */
static const wchar_t service_dir_sddl[] = L"O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/* FOLDERID_ProgramData {62AB5D82-FDC1-4DC3-A9DD-070D1D495D97}, spelled here so
 * that no GUID library is needed for one constant. */
static const GUID folder_program_data = {
	0x62AB5D82, 0xFDC1, 0x4DC3, {0xA9, 0xDD, 0x07, 0x0D, 0x1D, 0x49, 0x5D, 0x97}};

int win_service_dir_secure(const wchar_t *dir, char *errbuf, size_t errlen)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(service_dir_sddl, SDDL_REVISION_1,
								  &sd, NULL))
		return fail_with(errbuf, errlen, "service state directory: security descriptor",
				 GetLastError());
	SECURITY_ATTRIBUTES sa = {sizeof(sa), sd, FALSE};
	int r = 0;
	if (!CreateDirectoryW(dir, &sa)) {
		DWORD e = GetLastError();
		if (e != ERROR_ALREADY_EXISTS) {
			r = fail_with(errbuf, errlen, "cannot create the service state directory", e);
			goto out;
		}
		/* There already: whoever made it, it is made ours (a squatter's
		 * directory, or one left by an older version). A junction or
		 * symbolic link would send the journal elsewhere: refused. */
		DWORD a = GetFileAttributesW(dir);
		if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY) ||
		    (a & FILE_ATTRIBUTE_REPARSE_POINT)) {
			snprintf(errbuf, errlen,
				 "the service state directory %ls exists but is %s; remove it", dir,
				 a == INVALID_FILE_ATTRIBUTES ? "unreadable"
				 : !(a & FILE_ATTRIBUTE_DIRECTORY) ? "not a directory"
								   : "a junction or link");
			r = -DOB_EEXIST;
			goto out;
		}
		PSID owner = NULL;
		PACL dacl = NULL;
		BOOL present = FALSE, def = FALSE;
		if (!GetSecurityDescriptorOwner(sd, &owner, &def) ||
		    !GetSecurityDescriptorDacl(sd, &present, &dacl, &def)) {
			r = fail_with(errbuf, errlen, "service state directory: security descriptor",
				      GetLastError());
			goto out;
		}
		wchar_t *w = (wchar_t *)dir;
		e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT,
					  OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION |
						  PROTECTED_DACL_SECURITY_INFORMATION,
					  owner, NULL, dacl, NULL);
		if (e != ERROR_SUCCESS) {
			char what[MAX_PATH * 3 + 64];
			snprintf(what, sizeof(what),
				 "cannot secure the existing service state directory %ls", dir);
			r = fail_with(errbuf, errlen, what, e);
			goto out;
		}
	}
out:
	LocalFree(sd);
	return r;
}

int plat_service_state_dir(char *buf, size_t len, char *errbuf, size_t errlen)
{
	wchar_t base[MAX_PATH + 1], dir[MAX_PATH + 16];
	PWSTR known = NULL;
	char *u = NULL;

	if (len)
		buf[0] = 0;
	if (SUCCEEDED(SHGetKnownFolderPath(&folder_program_data, 0, NULL, &known)) && known &&
	    wcslen(known) <= MAX_PATH) {
		wcscpy(base, known);
	} else {
		DWORD n = GetEnvironmentVariableW(L"ProgramData", base, MAX_PATH + 1);
		if (n == 0 || n > MAX_PATH) {
			CoTaskMemFree(known);
			snprintf(errbuf, errlen,
				 "no ProgramData folder (SHGetKnownFolderPath and %%ProgramData%% "
				 "both failed); use --state-dir");
			return -DOB_ENOTFOUND;
		}
	}
	CoTaskMemFree(known);
	_snwprintf(dir, sizeof(dir) / sizeof(dir[0]), L"%ls\\dobroker", base);
	dir[sizeof(dir) / sizeof(dir[0]) - 1] = 0;
	int r = win_service_dir_secure(dir, errbuf, errlen);
	if (r < 0)
		return r;
	r = win_wide_to_utf8(dir, &u);
	if (r < 0)
		return r;
	if (strlen(u) + 1 > len) {
		dob_free(u);
		snprintf(errbuf, errlen, "service state directory: path too long");
		return -DOB_EINVAL;
	}
	memcpy(buf, u, strlen(u) + 1);
	dob_free(u);
	return 0;
}

/* The state directory the service's options give: --state-dir, else the
 * service's (--mode service), else the per-user default. */
static int options_state_dir(int argc, char **argv, char *dir, size_t len)
{
	const char *named = NULL;
	bool service = false;
	char err[256];
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--state-dir=", 12) == 0)
			named = argv[i] + 12;
		else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
			named = argv[++i];
		else if (strcmp(argv[i], "--mode=service") == 0 ||
			 (strcmp(argv[i], "--mode") == 0 && i + 1 < argc &&
			  strcmp(argv[i + 1], "service") == 0))
			service = true;
	}
	if (named) {
		snprintf(dir, len, "%s", named);
		return plat_mkdir_private(dir);
	}
	if (service)
		return plat_service_state_dir(dir, len, err, sizeof(err));
	if (plat_default_state_dir(dir, len) < 0)
		return -DOB_ENOTFOUND;
	return plat_mkdir_private(dir);
}

/* Under the SCM, stderr leads nowhere: the log goes to a file in the state
 * directory. */
static void log_to_state_dir(int argc, char **argv)
{
	char dir[MAX_PATH * 3];
	wchar_t *w = NULL;
	if (options_state_dir(argc, argv, dir, sizeof(dir)) < 0)
		return;
	size_t n = strlen(dir);
	if (n + 16 > sizeof(dir))
		return;
	memcpy(dir + n, "\\dobrokerd.log", 15);
	/* Rotated like --log-file (docs/operators.md): 10 MiB, 5 files kept.
	 * A --log-file among the service's options takes over at start. The
	 * log module opens through fopen (ANSI code page): where the state
	 * directory's name cannot be said in it, the log still goes there,
	 * without rotation. */
	char err[256];
	if (dob_log_open_file(dir, 10u << 20, 5, err, sizeof(err)) == 0)
		return;
	if (win_utf8_to_wide(dir, &w) == 0 && _wfreopen(w, L"a", stderr))
		setvbuf(stderr, NULL, _IONBF, 0);
	dob_free(w);
}

/* dobrokerd register-com [--machine] [OPTIONS...] / unregister-com
 * [--machine] (com_class.h). The options are the broker's, checked when COM
 * starts it (its log says what was wrong); a command word among them is
 * refused here. */
static int com_verb(const char *cmd, int n, char **a)
{
	char err[512] = "", *args = NULL;
	size_t len = 0;
	int rc = 0, first = 2;
	bool machine = n > 2 && strcmp(a[2], "--machine") == 0;

	if (machine)
		first = 3;
	if (strcmp(cmd, "unregister-com") == 0) {
		if (n > first)
			snprintf(err, sizeof(err), "takes no arguments but --machine");
		else if (win_com_unregister(machine, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "dobrokerd unregister-com: %s\n", err);
		return 1;
	}
	wchar_t exe[MAX_PATH + 1];
	DWORD m = GetModuleFileNameW(NULL, exe, MAX_PATH + 1);
	if (m == 0 || m > MAX_PATH) {
		fprintf(stderr, "dobrokerd register-com: cannot read the program's path\n");
		return 1;
	}
	for (int i = first; rc == 0 && i < n; i++) {
		static const char *const verbs[] = { "install", "uninstall", "register-com",
						     "unregister-com", "--service", "--com-server",
						     "-Embedding", "/Embedding" };
		for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
			if (_stricmp(a[i], verbs[v]) == 0) {
				snprintf(err, sizeof(err),
					 "'%s' is a command, not a broker option: give the options "
					 "the broker is to start with",
					 a[i]);
				rc = -1;
			}
		if (rc == 0 && append_quoted(&args, &len, a[i]) < 0) {
			snprintf(err, sizeof(err), "out of memory");
			rc = -1;
		}
	}
	if (rc == 0)
		rc = win_com_register(exe, args ? args : "", machine, err, sizeof(err));
	dob_free(args);
	if (rc == 0)
		return 0;
	fprintf(stderr, "dobrokerd register-com: %s\n", err);
	return 1;
}

/* Console mode with --com-server among the options (the service is
 * started by the service manager, never as a COM server). */
static bool com_server_args(int n, char **a)
{
	if (n > 1 && strcmp(a[1], "--service") == 0)
		return false;
	for (int i = 1; i < n; i++)
		if (strcmp(a[i], "--com-server") == 0)
			return true;
	return false;
}

int win_program_main(int argc, char **argv, int (*run)(int argc, char **argv))
{
	int n = 0, rc;
	char **a = utf8_args(&n);
	char err[512] = "";
	if (!a || n < 1) {
		fprintf(stderr, "dobrokerd: cannot read the command line\n");
		free_args(a, n);
		return 1;
	}
	const char *cmd = n > 1 ? a[1] : "";
	if (strcmp(cmd, "install") == 0 && n > 2 &&
	    (strcmp(a[2], "-h") == 0 || strcmp(a[2], "--help") == 0)) {
		/* Help, not a service installed with --help among its options. */
		char *help[3] = { a[0], a[2], NULL };
		rc = run(2, help);
	} else if (strcmp(cmd, "install") == 0) {
		char *args = NULL;
		size_t len = 0;
		wchar_t exe[MAX_PATH + 1];
		DWORD m = GetModuleFileNameW(NULL, exe, MAX_PATH + 1);
		rc = (m == 0 || m > MAX_PATH) ? -DOB_EINVAL : 0;
		/* The machine service's DACL (docs/security.md) unless the
		 * options name a mode themselves. */
		bool has_mode = false;
		for (int i = 2; i < n; i++)
			has_mode = has_mode || strcmp(a[i], "--mode") == 0 ||
				   strncmp(a[i], "--mode=", 7) == 0;
		if (rc == 0 && !has_mode)
			rc = append_quoted(&args, &len, "--mode=service");
		for (int i = 2; rc == 0 && i < n; i++)
			rc = append_quoted(&args, &len, a[i]);
		if (rc == 0)
			rc = win_service_install(exe, args ? args : "", err, sizeof(err));
		if (rc == 0)
			printf("installed the service %ls (automatic, delayed start; start it now "
			       "with: sc start %ls)\n",
			       WIN_SERVICE_NAME, WIN_SERVICE_NAME);
		if (rc == 0 && win_service_not_applied[0])
			printf("not applied by this service manager: %s\n",
			       win_service_not_applied);
		else if (rc)
			fprintf(stderr, "dobrokerd install: %s\n",
				err[0] ? err : dob_strerror(rc));
		dob_free(args);
		rc = rc ? 1 : 0;
	} else if (strcmp(cmd, "register-com") == 0 || strcmp(cmd, "unregister-com") == 0) {
		rc = com_verb(cmd, n, a);
	} else if (com_server_args(n, a)) {
		/* The broker as a COM class (com_class.h): the options without
		 * --com-server and the -Embedding COM adds when it starts it. */
		bool embedding = false;
		int m = 1;
		for (int i = 1; i < n; i++) {
			bool embed = _stricmp(a[i], "-Embedding") == 0 || _stricmp(a[i], "/Embedding") == 0;
			embedding = embedding || embed;
			if (embed || strcmp(a[i], "--com-server") == 0)
				dob_free(a[i]);
			else
				a[m++] = a[i];
		}
		for (int i = m; i < n; i++)
			a[i] = NULL;
		n = m;
		win_com_server_set(embedding);
		rc = run(n, a);
	} else if (strcmp(cmd, "uninstall") == 0) {
		rc = n > 2 ? -DOB_EINVAL : win_service_uninstall(err, sizeof(err));
		if (rc == 0)
			printf("removed the service %ls\n", WIN_SERVICE_NAME);
		else
			fprintf(stderr, "dobrokerd uninstall: %s\n",
				n > 2 ? "takes no arguments" : err[0] ? err : dob_strerror(rc));
		rc = rc ? 1 : 0;
	} else if (strcmp(cmd, "--service") == 0) {
		/* argv[0], then the options after --service. */
		dob_free(a[1]);
		for (int i = 1; i + 1 < n; i++)
			a[i] = a[i + 1];
		a[--n] = NULL;
		struct svc_body_ctx c = {run, n, a};
		log_to_state_dir(n, a);
		rc = win_service_run(svc_body, &c);
		if (rc < 0)
			rc = 1;
	} else {
		rc = run(n, a);
	}
	free_args(a, n);
	return rc;
}
