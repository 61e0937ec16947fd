/*
 * broker/win32/eventlog_win32.c - operator events in the Windows Event Log
 * (platform.h: plat_events_open; win_ops.h).
 *
 * `dobrokerd install` registers the source "dobroker" in the Application
 * log with dobrokerd.exe as its message file (the message table compiled
 * from dobrokerd_msg.mc); `uninstall` removes it. When the source is
 * registered, plat_events_open opens it and installs a sink in the log
 * module: every operator event (log.h, dob_log_event) becomes a ReportEventW
 * record with the event's id, type and six insertion strings, which Event
 * Viewer formats with the message table and Windows Event Forwarding or a
 * SIEM collect as structured EventData. Without the source (a console run
 * that was never installed) events stay log lines: an unregistered source
 * would write records that Event Viewer cannot format.
 */
#include <stdio.h>
#include <string.h>

#include "win32/win.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "dobrokerd_msg.h"
#include "log.h"
#include "platform.h"
#include "win32/win_ops.h"

/* The message table and the log module's ids are one list. */
_Static_assert(MSG_DOB_STARTED == DOB_EVENT_STARTED, "message ids");
_Static_assert(MSG_DOB_STOPPED == DOB_EVENT_STOPPED, "message ids");
_Static_assert(MSG_DOB_START_FAILED == DOB_EVENT_START_FAILED, "message ids");
_Static_assert(MSG_DOB_FAILED == DOB_EVENT_FAILED, "message ids");
_Static_assert(MSG_DOB_RELOADED == DOB_EVENT_RELOADED, "message ids");
_Static_assert(MSG_DOB_RELOAD_FAILED == DOB_EVENT_RELOAD_FAILED, "message ids");
_Static_assert(MSG_DOB_EPISODE_OPENED == DOB_EVENT_EPISODE_OPENED, "message ids");
_Static_assert(MSG_DOB_EPISODE_RESOLVED == DOB_EVENT_EPISODE_RESOLVED, "message ids");
_Static_assert(DOB_EVENT_NSTR == 6, "win_ops.h says six strings");

static HANDLE source; /* owned: RegisterEventSourceW; set and cleared on the program's thread */

static int fail(char *errbuf, size_t errlen, const char *what, LONG e)
{
	char msg[256];

	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s: %s", what, win_strerror((DWORD)e, msg, sizeof(msg)));
	return win_error_to_err((DWORD)e) ? win_error_to_err((DWORD)e) : -DOB_EIO;
}

int win_eventlog_register(const wchar_t *msg_file, char *errbuf, size_t errlen)
{
	HKEY key;
	DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
	LONG e;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!msg_file || !msg_file[0]) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "event source: no message file");
		return -DOB_EINVAL;
	}
	e = RegCreateKeyExW(HKEY_LOCAL_MACHINE, WIN_EVENT_SOURCE_KEY, 0, NULL, 0, KEY_SET_VALUE,
			    NULL, &key, NULL);
	if (e != ERROR_SUCCESS)
		return fail(errbuf, errlen, "cannot register the event source", e);
	e = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)msg_file,
			   (DWORD)((wcslen(msg_file) + 1) * sizeof(wchar_t)));
	if (e == ERROR_SUCCESS)
		e = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD, (const BYTE *)&types,
				   sizeof(types));
	RegCloseKey(key);
	if (e != ERROR_SUCCESS) {
		int r = fail(errbuf, errlen, "cannot write the event source's values", e);
		RegDeleteKeyW(HKEY_LOCAL_MACHINE, WIN_EVENT_SOURCE_KEY);
		return r;
	}
	return 0;
}

int win_eventlog_unregister(char *errbuf, size_t errlen)
{
	LONG e = RegDeleteKeyW(HKEY_LOCAL_MACHINE, WIN_EVENT_SOURCE_KEY);

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (e == ERROR_SUCCESS || e == ERROR_FILE_NOT_FOUND)
		return 0;
	return fail(errbuf, errlen, "cannot remove the event source", e);
}

int win_eventlog_registered(void)
{
	HKEY key;

	if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, WIN_EVENT_SOURCE_KEY, 0, KEY_QUERY_VALUE, &key) !=
	    ERROR_SUCCESS)
		return 0;
	RegCloseKey(key);
	return 1;
}

int win_eventlog_report(void *ctx, int id, int severity, const char *const strings[6])
{
	wchar_t *w[6] = { 0 };
	int r = -DOB_EINVAL;
	WORD type = severity == DOB_LOG_ERROR  ? EVENTLOG_ERROR_TYPE
		    : severity == DOB_LOG_WARN ? EVENTLOG_WARNING_TYPE
					       : EVENTLOG_INFORMATION_TYPE;
	int n = 0;

	for (; n < 6; n++)
		if (win_utf8_to_wide(strings[n] ? strings[n] : "", &w[n]) < 0)
			break;
	/* A string that is not UTF-8 (it never is: the log builds them) drops
	 * the event rather than report it half-filled. */
	if (n == 6) {
		if (ReportEventW((HANDLE)ctx, type, 0, (DWORD)id, NULL, 6, 0, (LPCWSTR *)w, NULL)) {
			r = 0;
		} else {
			DWORD e = GetLastError();
			log_debug("event log: ReportEvent(%d) failed (error %lu)", id,
				  (unsigned long)e);
			r = win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
		}
	}
	for (int i = 0; i < n; i++)
		dob_free(w[i]);
	return r;
}

static void sink(void *ctx, enum dob_log_event id, enum dob_log_level sev,
		 const char *const strings[DOB_EVENT_NSTR])
{
	win_eventlog_report(ctx, (int)id, (int)sev, strings);
}

int plat_events_open(char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (source)
		return 0;
	if (!win_eventlog_registered()) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen,
				 "the event source \"dobroker\" is not registered (dobrokerd "
				 "install registers it)");
		return -DOB_ENOTFOUND;
	}
	source = RegisterEventSourceW(NULL, WIN_EVENT_SOURCE);
	if (!source)
		return fail(errbuf, errlen, "RegisterEventSource", (LONG)GetLastError());
	dob_log_set_event_sink(sink, source);
	return 0;
}

void plat_events_close(void)
{
	if (!source)
		return;
	dob_log_set_event_sink(NULL, NULL);
	DeregisterEventSource(source);
	source = NULL;
}
