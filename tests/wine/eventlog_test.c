/*
 * eventlog_test.exe - the Windows side of dobrokerd for operators, under
 * Wine (run by scripts/check.sh):
 *
 *  1. The Event Log source: win_eventlog_register writes the Application
 *     log's key for "dobroker" (EventMessageFile, TypesSupported), read
 *     back from the registry; plat_events_open refuses while it is missing
 *     and opens it once it is there; every event id is reported with its
 *     six insertion strings (ReportEventW succeeds); unregister removes it.
 *  2. The message table is in dobrokerd.exe (next to this program): every
 *     event id formats with FormatMessage from that module, insertion
 *     strings in place, and an id outside the table does not.
 *  3. Reload: win_request_reload makes plat_loop_run return with
 *     plat_take_reload() true once; a stop is not a reload.
 *  4. The log file rotates with Windows' file semantics (log.h:
 *     dob_log_open_file): no line lost or split, the count bounded.
 *  5. Through Wine's service control manager: the test installs itself as
 *     the service (which also registers the event source, removed again by
 *     uninstall); SERVICE_CONTROL_PARAMCHANGE reaches the running service's
 *     loop as a reload, and SERVICE_CONTROL_STOP still stops it.
 *
 * Wine keeps no event log (ReadEventLog finds no record), so what a
 * reported event looks like in Event Viewer is not checked here: SKIPPED,
 * said on the output.
 */
#include "wtest.h"

#include <stdlib.h>

#include "dob/err.h"
#include "dobrokerd_msg.h"
#include "log.h"
#include "platform.h"
#include "win32/win.h"
#include "win32/win_ops.h"
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

/* The service's body: a loop that counts reloads until it is stopped. */
static int service_body(void *arg)
{
	struct plat_loop *l = NULL;
	int r = plat_loop_new(&l, &handlers);
	if (r < 0)
		return r;
	r = plat_handle_signals(l);
	if (r == 0) {
		touch("running");
		while ((r = plat_loop_run(l)) == 0 && plat_take_reload())
			touch("reloaded");
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

static void test_source(void)
{
	wchar_t exe[MAX_PATH], got[MAX_PATH + 8];
	char err[512] = "";
	DWORD types = 0, n;
	HKEY key;

	CHECK_EQ(win_eventlog_unregister(err, sizeof(err)), 0); /* leftovers; absent is fine */
	CHECK_EQ(win_eventlog_unregister(err, sizeof(err)), 0);
	CHECK(!win_eventlog_registered());
	CHECK_EQ(plat_events_open(err, sizeof(err)), -DOB_ENOTFOUND);
	CHECK(strstr(err, "dobrokerd install") != NULL);
	CHECK_EQ(win_eventlog_register(L"", err, sizeof(err)), -DOB_EINVAL);

	GetModuleFileNameW(NULL, exe, MAX_PATH);
	CHECK_EQ(win_eventlog_register(exe, err, sizeof(err)), 0);
	CHECK(win_eventlog_registered());
	if (CHECK(RegOpenKeyExW(HKEY_LOCAL_MACHINE, WIN_EVENT_SOURCE_KEY, 0, KEY_QUERY_VALUE,
				&key) == ERROR_SUCCESS)) {
		DWORD type = 0;
		n = sizeof(got);
		CHECK(RegQueryValueExW(key, L"EventMessageFile", NULL, &type, (BYTE *)got, &n) ==
		      ERROR_SUCCESS);
		CHECK_EQ(type, REG_EXPAND_SZ);
		CHECK(wcscmp(got, exe) == 0);
		n = sizeof(types);
		CHECK(RegQueryValueExW(key, L"TypesSupported", NULL, &type, (BYTE *)&types, &n) ==
		      ERROR_SUCCESS);
		CHECK_EQ(type, REG_DWORD);
		CHECK_EQ(types,
			 EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE);
		RegCloseKey(key);
	}

	/* Registered: the sink opens, and every event is reported. */
	CHECK_EQ(plat_events_open(err, sizeof(err)), 0);
	HANDLE h = RegisterEventSourceW(NULL, WIN_EVENT_SOURCE);
	CHECK(h != NULL);
	static const int ids[] = {
		DOB_EVENT_STARTED,	   DOB_EVENT_STOPPED,	    DOB_EVENT_START_FAILED,
		DOB_EVENT_FAILED,	   DOB_EVENT_RELOADED,	    DOB_EVENT_RELOAD_FAILED,
		DOB_EVENT_EPISODE_OPENED, DOB_EVENT_EPISODE_RESOLVED,
	};
	struct dob_event_info info = {.job = "{6B29FC40-CA47-1067-B31D-00DD010662DA}",
				      .episode = 42,
				      .hr = 0x80190194,
				      .action = "resume",
				      .actor = "ctl \xc3\xa9", /* UTF-8 */
				      .text = "a test event"};
	char buf[1024];
	const char *strs[DOB_EVENT_NSTR];
	dob_log_event_strings(&info, buf, sizeof(buf), strs);
	CHECK_STR(strs[1], "42");
	CHECK_STR(strs[2], "0x80190194");
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		CHECK_EQ(win_eventlog_report(h, ids[i], dob_log_event_severity(ids[i]), strs), 0);
	/* Through the log module's sink as dobrokerd reports them. */
	dob_log_set_event_level(DOB_EVENTS_EPISODES);
	dob_log_event(DOB_EVENT_EPISODE_RESOLVED, &info);
	plat_events_close();
	if (h)
		DeregisterEventSource(h);
	/* Read back: only where the system keeps an event log. */
	HANDLE rd = OpenEventLogW(NULL, L"Application");
	static BYTE rec[1 << 16];
	DWORD nread = 0, need = 0;
	if (rd && ReadEventLogW(rd, EVENTLOG_SEQUENTIAL_READ | EVENTLOG_BACKWARDS_READ, 0, rec,
				sizeof(rec), &nread, &need) &&
	    nread >= sizeof(EVENTLOGRECORD)) {
		const EVENTLOGRECORD *e = (const EVENTLOGRECORD *)rec;
		CHECK_EQ(e->EventID & 0xffff, DOB_EVENT_EPISODE_RESOLVED);
		CHECK(wcscmp((const wchar_t *)(e + 1), WIN_EVENT_SOURCE) == 0);
		CHECK_EQ(e->NumStrings, 6);
	} else {
		printf("SKIPPED: reading the records back: this system keeps no event log "
		       "(ReadEventLog: error %lu; Wine's is a stub); checked on real Windows "
		       "only\n",
		       (unsigned long)GetLastError());
	}
	if (rd)
		CloseEventLog(rd);

	CHECK_EQ(win_eventlog_unregister(err, sizeof(err)), 0);
	CHECK(!win_eventlog_registered());
}

static void test_message_table(void)
{
	wchar_t path[MAX_PATH];
	GetModuleFileNameW(NULL, path, MAX_PATH);
	wchar_t *slash = wcsrchr(path, L'\\');
	if (!CHECK(slash != NULL))
		return;
	wcscpy(slash + 1, L"dobrokerd.exe");
	HMODULE m = LoadLibraryExW(path, NULL, LOAD_LIBRARY_AS_DATAFILE);
	if (!CHECK(m != NULL)) {
		printf("cannot load dobrokerd.exe as data (error %lu)\n",
		       (unsigned long)GetLastError());
		return;
	}
	static const struct {
		DWORD id;
		const wchar_t *want; /* a piece of the formatted text */
	} msgs[] = {
		{MSG_DOB_STARTED, L"started: TEXT"},
		{MSG_DOB_STOPPED, L"stopped: TEXT"},
		{MSG_DOB_START_FAILED, L"could not start: TEXT"},
		{MSG_DOB_FAILED, L"failed: TEXT"},
		{MSG_DOB_RELOADED, L"reloaded its configuration: TEXT"},
		{MSG_DOB_RELOAD_FAILED, L"keeps the running settings: TEXT"},
		{MSG_DOB_EPISODE_OPENED, L"job JOB is in error: episode 7, HRESULT 0x80190194. TEXT"},
		{MSG_DOB_EPISODE_RESOLVED,
		 L"episode 7 of download job JOB was resolved: action resume by ACTOR, HRESULT "
		 L"0x80190194. TEXT"},
	};
	const wchar_t *args[6] = {L"JOB", L"7", L"0x80190194", L"resume", L"ACTOR", L"TEXT"};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		wchar_t *out = NULL;
		DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ALLOCATE_BUFFER |
						 FORMAT_MESSAGE_ARGUMENT_ARRAY,
					 m, msgs[i].id, 0x409, (LPWSTR)&out, 0, (va_list *)args);
		if (!CHECK(n > 0 && out && wcsstr(out, msgs[i].want))) {
			printf("message %lu: %ls (error %lu)\n", (unsigned long)msgs[i].id,
			       out ? out : L"(none)", (unsigned long)GetLastError());
		}
		LocalFree(out);
	}
	/* An id that is not in the table. */
	wchar_t *out = NULL;
	CHECK_EQ(FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ALLOCATE_BUFFER |
					FORMAT_MESSAGE_IGNORE_INSERTS,
				m, 1999, 0x409, (LPWSTR)&out, 0, NULL),
		 0);
	LocalFree(out);
	FreeLibrary(m);
}

/* The rotated log file with Windows' file semantics (an open file cannot
 * be renamed, rename does not replace): 300 numbered lines into FILE with
 * max-size 2048 and 2 old files kept; the files left hold whole lines,
 * consecutive up to the last, and FILE.3 never exists. */
static void test_log_rotation(void)
{
	char tmp[MAX_PATH], file[MAX_PATH + 64], path[MAX_PATH + 80], err[256];
	GetTempPathA(MAX_PATH, tmp);
	snprintf(file, sizeof(file), "%sdobtest-log-%lu.log", tmp,
		 (unsigned long)GetCurrentProcessId());
	for (int k = 0; k <= 3; k++) {
		snprintf(path, sizeof(path), k ? "%s.%d" : "%s", file, k);
		DeleteFileA(path);
	}
	if (!CHECK_EQ(dob_log_open_file(file, 2048, 2, err, sizeof(err)), 0)) {
		printf("open: %s\n", err);
		return;
	}
	for (int i = 0; i < 300; i++)
		log_warn("rotation line %04d", i); /* warnings are written at once */
	dob_log_close_file();
	int last = -1, lines = 0;
	for (int k = 2; k >= 0; k--) {
		snprintf(path, sizeof(path), k ? "%s.%d" : "%s", file, k);
		FILE *f = fopen(path, "rb");
		if (!CHECK(f != NULL))
			continue;
		char line[512];
		long size = 0;
		while (fgets(line, sizeof(line), f)) {
			size += (long)strlen(line);
			char *p = strstr(line, "rotation line ");
			if (!CHECK(p && line[strlen(line) - 1] == '\n' && line[0] == '2'))
				break;
			int n = atoi(p + 14);
			if (last >= 0 && !CHECK_EQ(n, last + 1))
				break;
			last = n;
			lines++;
		}
		fclose(f);
		CHECK(size <= 2048);
		DeleteFileA(path);
	}
	CHECK_EQ(last, 299);
	CHECK(lines > 0 && lines < 300); /* the oldest were rotated away */
	snprintf(path, sizeof(path), "%s.3", file);
	CHECK(GetFileAttributesA(path) == INVALID_FILE_ATTRIBUTES);
}

static void test_reload_plumbing(void)
{
	struct plat_loop *l = NULL;
	if (!CHECK_EQ(plat_loop_new(&l, &handlers), 0))
		return;
	CHECK(!plat_take_reload());
	win_request_reload(); /* before the loop: kept for it */
	CHECK_EQ(plat_handle_signals(l), 0);
	CHECK_EQ(plat_loop_run(l), 0);
	CHECK(plat_take_reload());
	CHECK(!plat_take_reload()); /* once per request */
	/* A reload and a stop together: the stop wins. */
	win_request_reload();
	win_request_stop();
	CHECK_EQ(plat_loop_run(l), 0);
	CHECK(!plat_take_reload());
	plat_loop_free(l);
}

static void test_service(void)
{
	char tmp[MAX_PATH], err[512] = "";
	GetTempPathA(MAX_PATH, tmp);
	snprintf(marker_dir, sizeof(marker_dir), "%sdobtest-evsvc-%lu", tmp,
		 (unsigned long)GetCurrentProcessId());
	CreateDirectoryA(marker_dir, NULL);

	win_service_uninstall(NULL, 0); /* a leftover of an aborted run */
	wchar_t exe[MAX_PATH];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	if (!CHECK_EQ(win_service_install(exe, marker_dir, err, sizeof(err)), 0)) {
		printf("install: %s\n", err);
		return;
	}
	CHECK(win_eventlog_registered()); /* install registers the source */

	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	SC_HANDLE svc = scm ? OpenServiceW(scm, WIN_SERVICE_NAME,
					   SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS |
						   SERVICE_PAUSE_CONTINUE)
			    : NULL;
	CHECK(svc != NULL);
	if (CHECK(svc && StartServiceW(svc, 0, NULL))) {
		SERVICE_STATUS st;
		WAIT_FOR(state_of(svc) == SERVICE_RUNNING && exists("running"), 20000);
		CHECK(exists("running"));
		if (CHECK(QueryServiceStatus(svc, &st)))
			CHECK(st.dwControlsAccepted & SERVICE_ACCEPT_PARAMCHANGE);
		CHECK(ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &st));
		WAIT_FOR(exists("reloaded"), 20000);
		CHECK(exists("reloaded"));
		CHECK_EQ(state_of(svc), SERVICE_RUNNING); /* a reload is not a stop */
		CHECK(!exists("stopped"));
		CHECK(ControlService(svc, SERVICE_CONTROL_STOP, &st));
		WAIT_FOR(state_of(svc) == SERVICE_STOPPED, 20000);
		CHECK_EQ(state_of(svc), SERVICE_STOPPED);
		CHECK(exists("stopped"));
	}
	if (svc)
		CloseServiceHandle(svc);
	if (scm)
		CloseServiceHandle(scm);
	CHECK_EQ(win_service_uninstall(err, sizeof(err)), 0);
	CHECK(!win_eventlog_registered()); /* uninstall removes the source */

	static const char *const names[] = {"running", "reloaded", "stopped"};
	for (size_t i = 0; i < 3; i++) {
		char p[700];
		snprintf(p, sizeof(p), "%s\\%s", marker_dir, names[i]);
		DeleteFileA(p);
	}
	RemoveDirectoryA(marker_dir);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && strcmp(argv[1], "--service") == 0) {
		snprintf(marker_dir, sizeof(marker_dir), "%s", argv[2]);
		return win_service_run(service_body, NULL) == 0 ? 0 : 1;
	}
	test_source();
	test_message_table();
	test_service();
	test_log_rotation();
	test_reload_plumbing(); /* last: its stop request stays for the process */
	return wt_finish("eventlog_test");
}
