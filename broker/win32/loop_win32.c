/*
 * broker/win32/loop_win32.c - the broker loop on an I/O completion port.
 *
 * One port per loop. Three kinds of packets arrive on it, told apart by the
 * completion key (enum win_key in win.h):
 *   WIN_KEY_IO    overlapped pipe I/O; lpOverlapped is &op->ov of a struct
 *                 win_op (first member), whose fn gets the Win32 result.
 *   WIN_KEY_POST  plat_post(): the message pointer itself travels in the
 *                 lpOverlapped field of the packet and is never dereferenced
 *                 as an OVERLAPPED; it goes to handlers.posted as is.
 *   WIN_KEY_STOP  plat_loop_stop(): a bare wake-up.
 * Packets posted by one thread come out in the order it posted them (the
 * port is a FIFO), so plat_post keeps each thread's order.
 *
 * Each turn: ask the core how long it may sleep (next_timeout_ms, bounded by
 * the pipe server's own deadlines), GetQueuedCompletionStatusEx for up to 64
 * packets, dispatch them, then tick(). plat_loop_stop sets a flag and posts a
 * wake-up; the loop returns at the end of the turn that saw the flag (the
 * flag is consumed, so the loop can be run again).
 */
#include <stdio.h>
#include <string.h>

#include "win32/win.h"

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

#define BATCH 64
/* plat_loop_free waits this long for cancelled I/O to come back. */
#define DRAIN_MS 5000

struct plat_loop {
	HANDLE port;
	struct plat_handlers h;
	volatile LONG stop;           /* set by plat_loop_stop from any thread */
	struct win_pipe_server *srv;  /* owned; NULL until plat_listen */
};

int plat_loop_new(struct plat_loop **out, const struct plat_handlers *h)
{
	*out = NULL;
	if (!h)
		return -DOB_EINVAL;
	struct plat_loop *l = dob_calloc(1, sizeof(*l));
	if (!l)
		return -DOB_ENOMEM;
	l->h = *h;
	l->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (!l->port) {
		DWORD e = GetLastError();
		char msg[256];
		log_error("loop: CreateIoCompletionPort: %s", win_strerror(e, msg, sizeof(msg)));
		dob_free(l);
		return win_error_to_err(e);
	}
	*out = l;
	return 0;
}

HANDLE win_loop_port(struct plat_loop *l)
{
	return l->port;
}

const struct plat_handlers *win_loop_handlers(struct plat_loop *l)
{
	return &l->h;
}

int win_loop_attach(struct plat_loop *l, HANDLE h)
{
	if (!CreateIoCompletionPort(h, l->port, WIN_KEY_IO, 0))
		return win_error_to_err(GetLastError());
	return 0;
}

int win_loop_complete(struct plat_loop *l, struct win_op *op, DWORD err, DWORD bytes)
{
	op->synth = true;
	op->synth_err = err;
	if (!PostQueuedCompletionStatus(l->port, bytes, WIN_KEY_IO, &op->ov)) {
		op->synth = false;
		return -DOB_ENOMEM;
	}
	return 0;
}

static void dispatch_io(OVERLAPPED_ENTRY *e)
{
	struct win_op *op = (struct win_op *)e->lpOverlapped;
	DWORD err = 0, bytes = e->dwNumberOfBytesTransferred;
	if (op->synth) {
		op->synth = false;
		err = op->synth_err;
	} else if (!GetOverlappedResult(op->h, &op->ov, &bytes, FALSE)) {
		err = GetLastError();
	}
	op->fn(op, err, bytes);
}

static void dispatch(struct plat_loop *l, OVERLAPPED_ENTRY *e)
{
	switch (e->lpCompletionKey) {
	case WIN_KEY_IO:
		dispatch_io(e);
		break;
	case WIN_KEY_POST:
		if (l->h.posted)
			l->h.posted(l->h.ctx, (void *)e->lpOverlapped);
		break;
	case WIN_KEY_STOP:
		break;
	default:
		log_error("loop: completion with unknown key %llu dropped",
			  (unsigned long long)e->lpCompletionKey);
		break;
	}
}

int plat_listen(struct plat_loop *l, const struct plat_listen_opts *o, char *errbuf,
		size_t errlen)
{
	if (errbuf && errlen)
		errbuf[0] = 0;
	if (l->srv) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "this loop is already listening");
		return -DOB_ESTATE;
	}
	return win_pipe_listen(l, o, &l->srv, errbuf, errlen);
}

int plat_loop_run(struct plat_loop *l)
{
	OVERLAPPED_ENTRY ents[BATCH];
	for (;;) {
		if (InterlockedCompareExchange(&l->stop, 0, 1) == 1)
			return 0;
		int64_t t = l->h.next_timeout_ms ? l->h.next_timeout_ms(l->h.ctx) : -1;
		int64_t m = l->srv ? win_pipe_maintain(l->srv) : -1;
		if (m >= 0 && (t < 0 || m < t))
			t = m;
		DWORD ms = t < 0 ? INFINITE : t >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)t;
		ULONG n = 0;
		if (!GetQueuedCompletionStatusEx(l->port, ents, BATCH, &n, ms, FALSE)) {
			DWORD e = GetLastError();
			if (e != WAIT_TIMEOUT) {
				char msg[256];
				log_error("loop: GetQueuedCompletionStatusEx: %s",
					  win_strerror(e, msg, sizeof(msg)));
				return win_error_to_err(e);
			}
			n = 0;
		}
		for (ULONG i = 0; i < n; i++)
			dispatch(l, &ents[i]);
		if (l->h.tick)
			l->h.tick(l->h.ctx);
	}
}

void plat_loop_stop(struct plat_loop *l)
{
	if (!l)
		return;
	InterlockedExchange(&l->stop, 1);
	/* If the port is full (no memory), the flag is still seen at the end
	 * of the turn that is running or at the next wake-up. */
	PostQueuedCompletionStatus(l->port, 0, WIN_KEY_STOP, NULL);
}

int plat_post(struct plat_loop *l, void *msg)
{
	if (!l || !msg)
		return -DOB_EINVAL; /* as on POSIX */
	if (!PostQueuedCompletionStatus(l->port, 0, WIN_KEY_POST, (LPOVERLAPPED)msg))
		return -DOB_ENOMEM;
	return 0;
}

/*
 * Closes everything: every pipe instance's I/O is cancelled and its
 * completion awaited before its memory is freed (a completion into freed
 * memory is the one bug this must never have). No handler is called for the
 * connections. Messages still queued by plat_post are handed to
 * handlers.posted, whose owner they are, so that nothing leaks: the core
 * calls plat_loop_free before it frees what posted() needs.
 */
void plat_loop_free(struct plat_loop *l)
{
	if (!l)
		return;
	OVERLAPPED_ENTRY ents[BATCH];
	win_signal_forget(l);
	win_path_checks_drain(); /* their results are posted: delivered below */
	if (l->srv)
		win_pipe_shutdown(l->srv);
	ULONGLONG until = GetTickCount64() + DRAIN_MS;
	for (;;) {
		bool io_left = l->srv && win_pipe_in_flight(l->srv) > 0;
		ULONGLONG now = GetTickCount64();
		if (io_left && now >= until)
			break;
		ULONG n = 0;
		DWORD ms = io_left ? (DWORD)(until - now) : 0;
		if (!GetQueuedCompletionStatusEx(l->port, ents, BATCH, &n, ms, FALSE))
			n = 0;
		if (n == 0 && !io_left)
			break;
		for (ULONG i = 0; i < n; i++)
			dispatch(l, &ents[i]);
	}
	if (l->srv) {
		if (win_pipe_in_flight(l->srv) > 0)
			/* Freeing now would let the kernel write into freed
			 * memory: keep it (a leak, logged) instead. */
			log_error("loop: %lu pipe operations did not complete within %d ms after "
				  "cancellation; their memory is left allocated",
				  (unsigned long)win_pipe_in_flight(l->srv), DRAIN_MS);
		else
			win_pipe_free(l->srv);
	}
	CloseHandle(l->port);
	dob_free(l);
}
