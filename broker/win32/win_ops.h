/*
 * broker/win32/win_ops.h - what the Windows service offers operators
 * besides running: a reload request (SERVICE_CONTROL_PARAMCHANGE) and the
 * Event Log source "dobroker" with its message table (eventlog_win32.c,
 * broker/win32/dobrokerd_msg.mc, linked into dobrokerd.exe).
 */
#ifndef DOB_WIN_OPS_H
#define DOB_WIN_OPS_H

#include <stddef.h>
#include <wchar.h>

/* The event source: HKLM\SYSTEM\CurrentControlSet\Services\EventLog\
 * Application\dobroker. */
#define WIN_EVENT_SOURCE L"dobroker"
#define WIN_EVENT_SOURCE_KEY \
	L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\dobroker"

/* signal_win32.c: asks the loop registered by plat_handle_signals for a
 * reload (plat_take_reload then answers true). Safe from any thread; a
 * request that comes before the loop is registered is kept for it. */
void win_request_reload(void);

/* Registers the event source with msg_file (the program holding the
 * message table: dobrokerd.exe) as EventMessageFile and the types it
 * reports (error, warning, information). Needs the right to write HKLM
 * (an elevated install). 0, or an error with errbuf saying why. */
int win_eventlog_register(const wchar_t *msg_file, char *errbuf, size_t errlen);
/* Removes the source's key; 0 also when it was not there. */
int win_eventlog_unregister(char *errbuf, size_t errlen);
/* Whether the source's key exists (install ran). */
int win_eventlog_registered(void);
/* What the sink plat_events_open installs does: ReportEventW with the
 * event's id, its type (error, warning, information, from the log.h
 * severity) and the six insertion strings (log.h). ctx is the event source
 * handle. 0, or the ReportEventW error. */
int win_eventlog_report(void *ctx, int id, int severity, const char *const strings[6]);

#endif
