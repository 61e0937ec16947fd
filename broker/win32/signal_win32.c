/*
 * broker/win32/signal_win32.c - console control events (and, through
 * win_request_stop, the service's SERVICE_CONTROL_STOP and SHUTDOWN) stop
 * the loop; the service's SERVICE_CONTROL_PARAMCHANGE asks for a reload
 * through win_request_reload (the loop returns, plat_take_reload says why,
 * and dobrokerd runs it again after reloading). A console has no reload
 * event: Windows has no SIGHUP.
 *
 * Ctrl+C, Ctrl+Break, closing the console window and system shutdown call
 * plat_loop_stop. CTRL_LOGOFF_EVENT is not one of them: a service receives
 * it whenever any user logs off. The handler runs on a thread the system
 * creates; plat_loop_stop is thread-safe. For CTRL_CLOSE_EVENT the system
 * ends the process when the handler returns (or after a few seconds), so the
 * handler waits up to CLOSE_WAIT_MS for the loop to return first.
 */
#include "win32/win.h"

#include "log.h"
#include "dob/err.h"
#include "platform.h"
#include "win32/win_ops.h"

#define CLOSE_WAIT_MS 4000

static SRWLOCK stop_lock = SRWLOCK_INIT; /* protects stop_loop */
static struct plat_loop *stop_loop;      /* the loop to stop */
static volatile LONG stop_requested;     /* a stop came (before the loop, or at all) */
static volatile LONG reload_requested;   /* a reload came, not taken yet */

void win_request_reload(void)
{
	InterlockedExchange(&reload_requested, 1);
	AcquireSRWLockShared(&stop_lock);
	if (stop_loop)
		plat_loop_stop(stop_loop);
	ReleaseSRWLockShared(&stop_lock);
}

bool plat_take_reload(void)
{
	if (InterlockedCompareExchange(&stop_requested, 0, 0))
		return false;
	return InterlockedExchange(&reload_requested, 0) != 0;
}

void win_request_stop(void)
{
	InterlockedExchange(&stop_requested, 1);
	AcquireSRWLockShared(&stop_lock);
	if (stop_loop)
		plat_loop_stop(stop_loop);
	ReleaseSRWLockShared(&stop_lock);
}

void win_signal_forget(struct plat_loop *l)
{
	AcquireSRWLockExclusive(&stop_lock);
	if (stop_loop == l)
		stop_loop = NULL;
	ReleaseSRWLockExclusive(&stop_lock);
}

static BOOL WINAPI on_ctrl(DWORD ev)
{
	switch (ev) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		win_request_stop();
		return TRUE;
	case CTRL_CLOSE_EVENT:
		win_request_stop();
		Sleep(CLOSE_WAIT_MS);
		return TRUE;
	default:
		return FALSE;
	}
}

int plat_handle_signals(struct plat_loop *l)
{
	AcquireSRWLockExclusive(&stop_lock);
	stop_loop = l;
	ReleaseSRWLockExclusive(&stop_lock);
	/* No console (a service): SetConsoleCtrlHandler still succeeds, and
	 * the service control handler uses win_request_stop. */
	if (!SetConsoleCtrlHandler(on_ctrl, TRUE)) {
		DWORD e = GetLastError();
		char msg[256];
		log_error("SetConsoleCtrlHandler: %s", win_strerror(e, msg, sizeof(msg)));
		return win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
	}
	if (stop_requested || reload_requested)
		plat_loop_stop(l);
	return 0;
}
