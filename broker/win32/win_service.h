/*
 * broker/win32/win_service.h - dobrokerd as a Windows service.
 *
 * Console mode is the default; these helpers give the Windows entry point
 * (broker/win32/main_win32.c, once the portable main exposes one) its
 * `install`, `uninstall` and `--service` commands.
 *
 * The service is WIN_SERVICE_NAME, SERVICE_WIN32_OWN_PROCESS, started
 * automatically (delayed), running as LocalSystem with the privileges
 * service_win32.c lists and an unrestricted service SID, restarted on
 * failure, with the command line
 *   "<exe_path>" --service <args>
 * (`dobrokerd install` puts --mode=service first in args unless they name a
 * mode).
 * SERVICE_CONTROL_STOP and SERVICE_CONTROL_SHUTDOWN reach the loop through
 * win_request_stop() (signal_win32.c), i.e. plat_loop_stop on the loop that
 * main_fn registered with plat_handle_signals (a stop that comes before is
 * remembered and stops that loop at once).
 */
#ifndef DOB_WIN_SERVICE_H
#define DOB_WIN_SERVICE_H

#include <stddef.h>
#include <wchar.h>

#include <windows.h>

#define WIN_SERVICE_NAME L"dobroker"
#define WIN_SERVICE_DISPLAY L"dobroker (Delivery Optimization / BITS error broker)"

/* Registers the service. 0; -DOB_EEXIST when it is installed already;
 * -DOB_EACCES without the right to (not elevated); -DOB_EINVAL for args that
 * are not valid UTF-8; another code otherwise. errbuf gets the reason. */
int win_service_install(const wchar_t *exe_path, const char *args, char *errbuf,
			size_t errlen);
/* Applies the least-privilege settings (required privileges, service SID
 * type, delayed auto-start, recovery actions) to an open service handle
 * (SERVICE_CHANGE_CONFIG). Levels the SCM does not know are listed in
 * win_service_not_applied (and logged) instead of failing. */
int win_service_harden(SC_HANDLE svc, char *errbuf, size_t errlen);
extern char win_service_not_applied[256];
/* Stops the service if it runs (waits up to 10 s) and deletes it.
 * -DOB_ENOTFOUND when it is not installed. */
int win_service_uninstall(char *errbuf, size_t errlen);
/* Runs main_fn(arg) as the service's body, reporting RUNNING before it and
 * STOPPED (with main_fn's code: 0, or ERROR_SERVICE_SPECIFIC_ERROR and the
 * code's absolute value -- an exit status, or a negated dob_err -- as the
 * service-specific code) after it. Blocks until the service stops and
 * returns main_fn's result; -DOB_ESTATE when the process was not started by
 * the service control manager. */
int win_service_run(int (*main_fn)(void *arg), void *arg);

/* plat_main on Windows. The arguments are taken from GetCommandLineW (the
 * CRT's argv is in the ANSI code page) and handed to run in UTF-8. Commands:
 *   dobrokerd install [OPTIONS...]  registers the service; it will run
 *                                   "dobrokerd.exe" --service OPTIONS...
 *   dobrokerd uninstall             stops and deletes the service
 *   dobrokerd --service [OPTIONS...] the service's own start: run(OPTIONS)
 *                                   under the SCM; stderr (the log) goes
 *                                   to <default state dir>\dobrokerd.log
 *   dobrokerd register-com [--machine] [OPTIONS...]
 *                                   registers the broker's COM class
 *                                   (com_class.h), started as
 *                                   "dobrokerd.exe" --com-server OPTIONS...
 *   dobrokerd unregister-com [--machine]  removes it
 *   dobrokerd [OPTIONS...] --com-server [-Embedding]
 *                                   console mode serving the class:
 *                                   run(OPTIONS) without those two
 *   dobrokerd [OPTIONS...]           console mode: run(OPTIONS)
 * Returns the process exit status (install/uninstall: 0, or 1 with the
 * reason on stderr). */
int win_program_main(int argc, char **argv, int (*run)(int argc, char **argv));

#endif
