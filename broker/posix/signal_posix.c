/*
 * broker/posix/signal_posix.c - SIGINT/SIGTERM stop the loop; SIGHUP asks for
 * a reload (the loop returns, plat_take_reload() says why, and the program
 * runs it again after reloading); SIGPIPE is ignored (writes also pass
 * MSG_NOSIGNAL; this covers any other write to a pipe or socket in the
 * process).
 *
 * The handler only stores a flag, loads one pointer and calls
 * plat_loop_stop(), which is an atomic store and a write(2):
 * async-signal-safe. One loop per process gets the signals (the last one
 * that asked).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "dob/err.h"
#include "log.h"
#include "posix.h"

static _Atomic(struct plat_loop *) sig_loop;
static atomic_int stop_asked;   /* SIGINT or SIGTERM came */
static atomic_int reload_asked; /* SIGHUP came, not taken yet */

static void on_signal(int sig)
{
	struct plat_loop *l = atomic_load(&sig_loop);

	if (sig == SIGHUP)
		atomic_store(&reload_asked, 1);
	else
		atomic_store(&stop_asked, 1);
	if (l)
		plat_loop_stop(l);
}

bool plat_take_reload(void)
{
	if (atomic_load(&stop_asked))
		return false;
	return atomic_exchange(&reload_asked, 0) != 0;
}

int plat_handle_signals(struct plat_loop *l)
{
	struct sigaction sa;
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP };

	if (!l)
		return -DOB_EINVAL;
	atomic_store(&sig_loop, l);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
		if (sigaction(stops[i], &sa, NULL) < 0) {
			log_error("sigaction(%s): %s", strsignal(stops[i]), strerror(errno));
			return -DOB_EIO;
		}
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) < 0) {
		log_error("sigaction(SIGPIPE): %s", strerror(errno));
		return -DOB_EIO;
	}
	return 0;
}

/* After this no signal reaches l, except one whose handler had already
 * loaded the pointer: the handlers stay installed (a second SIGTERM during
 * shutdown must not kill the process half-way through closing the
 * journal), they just find no loop. */
void signal_forget(struct plat_loop *l)
{
	struct plat_loop *expected = l;

	atomic_compare_exchange_strong(&sig_loop, &expected, NULL);
}
