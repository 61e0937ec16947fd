/*
 * broker/win32/pipe_win32.c - the named-pipe server.
 *
 * Byte-mode, overlapped instances of one pipe name, all on the loop's
 * completion port. BACKLOG instances always wait in ConnectNamedPipe; when
 * one connects it becomes a connection (identity read from the OS, then
 * handlers.accepted) and a new instance takes its place, so the name is never
 * without an instance of ours (a squatter could otherwise take it).
 *
 * Squatting: the first instance is created with FILE_FLAG_FIRST_PIPE_INSTANCE
 * (Windows then fails with ERROR_ACCESS_DENIED when the name exists). Wine
 * ignores the flag, so before creating it we also try to open the name as a
 * client: if anything answers (or all its instances are busy), plat_listen
 * fails with -DOB_EEXIST. Both paths give the same kind of message.
 *
 * A connection has one read outstanding at all times while open, and at most
 * one write (platform.h: -DOB_EAGAIN otherwise). Every write the core starts
 * ends in one handlers.sent with a status: 0 when the OS has taken all of
 * it, -DOB_ECLOSED when the instance was closed first, or the error. Closing
 * follows STYLE: close (CancelIoEx), wait for every completion of the
 * instance (struct plat_conn.pending), then make the last callback (the
 * core's close callback, or closed() when the pipe broke under the core),
 * then CloseHandle and free. plat_conn_close* queues a completion of its own
 * so that the close callback never runs inside the close call. A connection
 * whose pending count is non-zero is never freed.
 *
 * Named pipes have no half-close: a client that closes its end inside a
 * frame is gone, so nothing (TRUNCATED) can be sent to it; handlers.eof is
 * never made here.
 *
 * States of a plat_conn:
 *   LISTENING  waiting in ConnectNamedPipe (not visible to the core)
 *   OPEN       connected; the core knows it
 *   DRAINING   plat_conn_close_after_write: the read is cancelled, the write
 *              in flight goes on; when it is done the instance is closed.
 *              Bounded by DRAIN_MS: a peer that never reads does not pin it.
 *   CLOSED     no handler will be called again; freed when pending == 0
 * The server end is closed with CloseHandle only, never DisconnectNamedPipe,
 * which would throw away bytes the peer has not read yet (a ProtocolError
 * sent with close_after_write must reach the peer before the EOF).
 */
#include <stdio.h>
#include <string.h>

#include "win32/win.h"

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

#define BACKLOG 4              /* instances waiting in ConnectNamedPipe */
#define RBUF (16 * 1024)       /* read buffer per connection */
#define PIPE_BUF_SIZE (64 * 1024) /* the pipe's in and out quotas (advisory) */
#define MAX_WRITE_CHUNK (1u << 30)
#define DRAIN_MS 5000          /* close_after_write gives the peer this long */
#define RETRY_MS 1000          /* retry creating instances that failed */
#define PIPE_PREFIX L"\\\\.\\pipe\\"

enum cstate { C_LISTENING, C_OPEN, C_DRAINING, C_CLOSED };

struct plat_conn {
	struct win_pipe_server *srv;   /* borrowed: the server that owns it */
	struct plat_conn *prev, *next; /* in srv->conns */
	HANDLE h;                      /* owned: the server end of the instance */
	enum cstate st;
	unsigned pending;              /* overlapped operations in flight */
	struct win_op cop, rop, wop;   /* connect, read, write */
	struct win_op xop;             /* queued by plat_conn_close*: defers the close callback */
	bool reading, writing;
	bool core_write;               /* a plat_conn_write awaits its sent() */
	bool core_closed;              /* plat_conn_close*: close_cb at the last completion */
	plat_close_cb close_cb;
	bool closed_owed;              /* broke under the core: closed(closed_err) at the end */
	DWORD closed_err;
	const uint8_t *wbuf;           /* borrowed from the core until sent */
	size_t wlen, woff;
	ULONGLONG drain_until;         /* DRAINING: force-close after this tick */
	void *data;                    /* the core's */
	void *token_cookie;            /* win_token_register; owned */
	uint32_t pid;
	uint8_t rbuf[RBUF];
};

struct win_pipe_server {
	struct plat_loop *loop;        /* borrowed */
	wchar_t *name;                 /* owned: \\.\pipe\NAME */
	char *name_utf8;               /* owned, for messages */
	PSECURITY_DESCRIPTOR sd;       /* owned (LocalFree) */
	SECURITY_ATTRIBUTES sa;
	struct plat_conn *conns;       /* every instance (listening, open, closing) */
	size_t n_listening;
	size_t in_flight;              /* sum of pending over conns */
	size_t n_draining;
	ULONGLONG retry_at;            /* 0: no retry scheduled */
	bool shutdown;
};

static void on_connect(struct win_op *op, DWORD err, DWORD bytes);
static void on_read(struct win_op *op, DWORD err, DWORD bytes);
static void on_write(struct win_op *op, DWORD err, DWORD bytes);
static void tell_closed(struct plat_conn *c, DWORD err);

#define CONN_OF(op, field) ((struct plat_conn *)((char *)(op) - offsetof(struct plat_conn, field)))

static const struct plat_handlers *hs(struct plat_conn *c)
{
	return win_loop_handlers(c->srv->loop);
}

static void op_begin(struct plat_conn *c)
{
	c->pending++;
	c->srv->in_flight++;
}

static void conn_free(struct plat_conn *c)
{
	struct win_pipe_server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->h != INVALID_HANDLE_VALUE)
		CloseHandle(c->h);
	win_token_unregister(c->token_cookie);
	dob_free(c);
}

/* An operation of c has completed (its handler has run). The last one of a
 * closed conn makes the core's last callback (none at shutdown: the loop is
 * being freed) and frees it. */
static void op_end(struct plat_conn *c)
{
	c->pending--;
	c->srv->in_flight--;
	if (c->st != C_CLOSED || c->pending != 0)
		return;
	if (!c->srv->shutdown) {
		if (c->core_closed) {
			if (c->close_cb)
				c->close_cb(c);
		} else if (c->closed_owed) {
			tell_closed(c, c->closed_err);
		}
	}
	conn_free(c);
}

/* The core's write is over: sent(status), once. */
static void write_report(struct plat_conn *c, int status)
{
	if (!c->core_write)
		return;
	c->core_write = false;
	c->wbuf = NULL;
	if (c->srv->shutdown)
		return;
	const struct plat_handlers *h = win_loop_handlers(c->srv->loop);
	if (h->sent)
		h->sent(h->ctx, c, status);
}

/* Moves c to CLOSED and cancels what is in flight; freed at the last
 * completion (or now when nothing is in flight). */
static void conn_close(struct plat_conn *c)
{
	if (c->st == C_CLOSED)
		return;
	if (c->st == C_LISTENING)
		c->srv->n_listening--;
	if (c->st == C_DRAINING)
		c->srv->n_draining--;
	c->st = C_CLOSED;
	if (c->pending == 0) {
		conn_free(c);
		return;
	}
	CancelIoEx(c->h, NULL);
}

static int closed_code(DWORD err)
{
	switch (err) {
	case 0:
	case ERROR_BROKEN_PIPE:
	case ERROR_NO_DATA:
	case ERROR_PIPE_NOT_CONNECTED:
	case ERROR_HANDLE_EOF:
		return -DOB_ECLOSED;
	default: {
		int r = win_error_to_err(err);
		return r ? r : -DOB_EIO;
	}
	}
}

static void tell_closed(struct plat_conn *c, DWORD err)
{
	if (err != ERROR_BROKEN_PIPE && err != ERROR_NO_DATA && err != ERROR_PIPE_NOT_CONNECTED) {
		char msg[256];
		log_warn("pipe: connection of pid %lu: I/O error: %s", (unsigned long)c->pid,
			 win_strerror(err, msg, sizeof(msg)));
	}
	const struct plat_handlers *h = hs(c);
	if (h->closed)
		h->closed(h->ctx, c, closed_code(err));
}

/* The connection broke (I/O error or hang-up): the core is told once, after
 * the last completion (so after the sent() of a write in flight), unless it
 * had closed it. */
static void conn_fail(struct plat_conn *c, DWORD err)
{
	enum cstate was = c->st;
	op_begin(c); /* hold c: conn_close frees it when nothing is in flight */
	conn_close(c);
	if (was == C_OPEN && !c->core_closed) {
		c->closed_owed = true;
		c->closed_err = err;
	}
	op_end(c);
}

static void start_read(struct plat_conn *c)
{
	c->rop.h = c->h;
	c->rop.fn = on_read;
	memset(&c->rop.ov, 0, sizeof(c->rop.ov));
	if (!ReadFile(c->h, c->rbuf, RBUF, NULL, &c->rop.ov)) {
		DWORD e = GetLastError();
		if (e != ERROR_IO_PENDING) {
			conn_fail(c, e);
			return;
		}
	}
	c->reading = true;
	op_begin(c);
}

/* Issues the rest of the current write. Returns 0 or the Win32 error. */
static DWORD issue_write(struct plat_conn *c)
{
	size_t left = c->wlen - c->woff;
	DWORD chunk = left > MAX_WRITE_CHUNK ? MAX_WRITE_CHUNK : (DWORD)left;
	c->wop.h = c->h;
	c->wop.fn = on_write;
	memset(&c->wop.ov, 0, sizeof(c->wop.ov));
	if (!WriteFile(c->h, c->wbuf + c->woff, chunk, NULL, &c->wop.ov)) {
		DWORD e = GetLastError();
		if (e != ERROR_IO_PENDING)
			return e;
	}
	c->writing = true;
	op_begin(c);
	return 0;
}

/* ------------------------------------------------------------ instances */

static int create_instance(struct win_pipe_server *s, bool first, char *errbuf, size_t errlen)
{
	struct plat_conn *c = dob_calloc(1, sizeof(*c));
	if (!c) {
		snprintf(errbuf, errlen, "out of memory");
		return -DOB_ENOMEM;
	}
	c->srv = s;
	c->h = CreateNamedPipeW(s->name,
				PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
					(first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
				PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
					PIPE_REJECT_REMOTE_CLIENTS,
				PIPE_UNLIMITED_INSTANCES, PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0, &s->sa);
	if (c->h == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();
		dob_free(c);
		if (first && e == ERROR_ACCESS_DENIED) {
			/* What FILE_FLAG_FIRST_PIPE_INSTANCE does on Windows
			 * when the name exists. */
			snprintf(errbuf, errlen,
				 "another server already owns %s (creating the first pipe "
				 "instance was denied); refusing to start (pipe squatting "
				 "protection)",
				 s->name_utf8);
			return -DOB_EEXIST;
		}
		char msg[256];
		snprintf(errbuf, errlen, "CreateNamedPipe %s: %s", s->name_utf8,
			 win_strerror(e, msg, sizeof(msg)));
		return win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
	}
	int r = win_loop_attach(s->loop, c->h);
	if (r < 0) {
		CloseHandle(c->h);
		dob_free(c);
		snprintf(errbuf, errlen, "%s: cannot attach to the completion port", s->name_utf8);
		return r;
	}
	c->st = C_LISTENING;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_listening++;

	c->cop.h = c->h;
	c->cop.fn = on_connect;
	if (!ConnectNamedPipe(c->h, &c->cop.ov)) {
		DWORD e = GetLastError();
		if (e == ERROR_PIPE_CONNECTED) {
			/* A client came between create and connect: no packet is
			 * queued for this case, so queue one ourselves (handlers
			 * run only from the loop). */
			if (win_loop_complete(s->loop, &c->cop, 0, 0) < 0) {
				conn_close(c);
				snprintf(errbuf, errlen, "%s: cannot queue a completion",
					 s->name_utf8);
				return -DOB_ENOMEM;
			}
		} else if (e != ERROR_IO_PENDING) {
			conn_close(c);
			char msg[256];
			snprintf(errbuf, errlen, "ConnectNamedPipe %s: %s", s->name_utf8,
				 win_strerror(e, msg, sizeof(msg)));
			return win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
		}
	}
	op_begin(c);
	return 0;
}

/* Brings the waiting instances back to BACKLOG; on failure, retries later. */
static void refill(struct win_pipe_server *s)
{
	while (!s->shutdown && s->n_listening < BACKLOG) {
		char err[512];
		if (create_instance(s, false, err, sizeof(err)) < 0) {
			log_error("pipe: %s (%lu instances waiting; retrying in %d ms)", err,
				  (unsigned long)s->n_listening, RETRY_MS);
			s->retry_at = GetTickCount64() + RETRY_MS;
			return;
		}
	}
	s->retry_at = 0;
}

static void on_connect(struct win_op *op, DWORD err, DWORD bytes)
{
	struct plat_conn *c = CONN_OF(op, cop);
	struct win_pipe_server *s = c->srv;
	if (c->st != C_LISTENING) {
		op_end(c);
		return;
	}
	s->n_listening--;
	c->st = C_OPEN;
	if (err && err != ERROR_PIPE_CONNECTED) {
		/* ERROR_NO_DATA: the client came and went before we got to it. */
		if (err != ERROR_NO_DATA) {
			char msg[256];
			log_warn("pipe: ConnectNamedPipe %s: %s", s->name_utf8,
				 win_strerror(err, msg, sizeof(msg)));
		}
		c->st = C_CLOSED;
		op_end(c);
		refill(s);
		return;
	}

	struct dob_identity id;
	HANDLE tok = NULL;
	char why[512];
	int r = win_pipe_client_identity(c->h, &id, &tok, why, sizeof(why));
	if (r == 0) {
		c->pid = id.pid;
		r = win_token_register(id.pid, id.user_sid, tok, &c->token_cookie);
		if (r < 0) {
			CloseHandle(tok);
			snprintf(why, sizeof(why), "pid %lu: cannot keep its token: %s",
				 (unsigned long)id.pid, dob_strerror(r));
			dob_identity_clear(&id);
		}
	}
	if (r < 0) {
		/* Never guess who a client is: no identity, no connection. */
		log_warn("pipe: refused a connection on %s: %s", s->name_utf8, why);
		c->st = C_CLOSED;
		op_end(c);
		refill(s);
		return;
	}
	/* The replacement first, so the next client finds an instance. */
	refill(s);
	const struct plat_handlers *h = hs(c);
	if (h->accepted)
		h->accepted(h->ctx, c, &id);
	dob_identity_clear(&id);
	if (c->st == C_OPEN)
		start_read(c);
	op_end(c);
}

static void on_read(struct win_op *op, DWORD err, DWORD bytes)
{
	struct plat_conn *c = CONN_OF(op, rop);
	c->reading = false;
	if (c->st != C_OPEN) {
		op_end(c);
		return;
	}
	if (err) {
		conn_fail(c, err);
		op_end(c);
		return;
	}
	if (bytes > 0) {
		const struct plat_handlers *h = hs(c);
		if (h->data)
			h->data(h->ctx, c, c->rbuf, bytes);
	}
	if (c->st == C_OPEN)
		start_read(c);
	op_end(c);
}

static void on_write(struct win_op *op, DWORD err, DWORD bytes)
{
	struct plat_conn *c = CONN_OF(op, wop);
	c->writing = false;
	if (c->st == C_CLOSED || c->st == C_LISTENING) {
		write_report(c, -DOB_ECLOSED); /* cancelled by the close */
		op_end(c);
		return;
	}
	if (err) {
		write_report(c, closed_code(err));
		conn_fail(c, err);
		op_end(c);
		return;
	}
	c->woff += bytes;
	if (c->woff < c->wlen) {
		DWORD e = issue_write(c);
		if (e) {
			write_report(c, closed_code(e));
			conn_fail(c, e);
		}
		op_end(c);
		return;
	}
	write_report(c, 0);
	if (c->st == C_DRAINING)
		conn_close(c);
	op_end(c);
}

/* The completion plat_conn_close* queued: only holds c until the loop runs. */
static void on_close_op(struct win_op *op, DWORD err, DWORD bytes)
{
	(void)err;
	(void)bytes;
	op_end(CONN_OF(op, xop));
}

/* ------------------------------------------------------------ listen */

/* "dobroker" -> \\.\pipe\dobroker; a full \\.\pipe\ name is kept. */
static int pipe_name(const char *endpoint, wchar_t **out)
{
	*out = NULL;
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(endpoint, &w);
	if (r < 0)
		return r;
	size_t plen = wcslen(PIPE_PREFIX);
	if (_wcsnicmp(w, PIPE_PREFIX, plen) == 0) {
		if (w[plen] == 0 || wcschr(w + plen, L'\\') || wcslen(w) > 256) {
			dob_free(w);
			return -DOB_EINVAL;
		}
		*out = w;
		return 0;
	}
	if (w[0] == 0 || wcschr(w, L'\\') || wcschr(w, L'/') || wcslen(w) + plen > 256) {
		dob_free(w);
		return -DOB_EINVAL;
	}
	wchar_t *full = dob_malloc((plen + wcslen(w) + 1) * sizeof(wchar_t));
	if (!full) {
		dob_free(w);
		return -DOB_ENOMEM;
	}
	wcscpy(full, PIPE_PREFIX);
	wcscat(full, w);
	dob_free(w);
	*out = full;
	return 0;
}

/* Is a server already answering on the name? Opening it as a client tells
 * (Wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE, so this is the check that
 * works there; on Windows it is a second line). */
static int squat_check(struct win_pipe_server *s, char *errbuf, size_t errlen)
{
	HANDLE h = CreateFileW(s->name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			       SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
	DWORD e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	if (h != INVALID_HANDLE_VALUE || e == ERROR_PIPE_BUSY || e == ERROR_ACCESS_DENIED) {
		snprintf(errbuf, errlen,
			 "another server is already listening on %s; refusing to start (pipe "
			 "squatting protection)",
			 s->name_utf8);
		return -DOB_EEXIST;
	}
	if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
		return 0;
	char msg[256];
	snprintf(errbuf, errlen, "cannot probe %s for another server: %s", s->name_utf8,
		 win_strerror(e, msg, sizeof(msg)));
	return win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
}

int win_pipe_listen(struct plat_loop *l, const struct plat_listen_opts *o,
		    struct win_pipe_server **out, char *errbuf, size_t errlen)
{
	char dummy[8];
	if (!errbuf || errlen == 0) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = 0;
	*out = NULL;
	struct win_pipe_server *s = dob_calloc(1, sizeof(*s));
	if (!s) {
		snprintf(errbuf, errlen, "out of memory");
		return -DOB_ENOMEM;
	}
	s->loop = l;
	const char *ep = o && o->endpoint ? o->endpoint : plat_default_endpoint();
	int r = pipe_name(ep, &s->name);
	if (r < 0) {
		snprintf(errbuf, errlen,
			 "invalid pipe name \"%s\" (want \\\\.\\pipe\\NAME or NAME, NAME without "
			 "backslashes, at most 256 characters)",
			 ep);
		goto fail;
	}
	r = win_wide_to_utf8(s->name, &s->name_utf8);
	if (r < 0) {
		snprintf(errbuf, errlen, "out of memory");
		goto fail;
	}
	r = win_pipe_security(o && o->allow_sandboxed, o ? o->package_sids : NULL, &s->sd,
			      errbuf, errlen);
	if (r < 0)
		goto fail;
	s->sa.nLength = sizeof(s->sa);
	s->sa.lpSecurityDescriptor = s->sd;
	s->sa.bInheritHandle = FALSE;

	r = squat_check(s, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = create_instance(s, true, errbuf, errlen);
	if (r < 0)
		goto fail;
	while (s->n_listening < BACKLOG) {
		r = create_instance(s, false, errbuf, errlen);
		if (r < 0)
			goto fail;
	}
	log_info("pipe: listening on %s%s", s->name_utf8,
		 o && o->allow_sandboxed ? " (sandboxed callers admitted)" : "");
	*out = s;
	return 0;
fail:
	if (s->conns) {
		/* Listening instances have a ConnectNamedPipe in flight: cancel
		 * and collect them before freeing (nothing else can be on the
		 * port yet that concerns them). */
		win_pipe_shutdown(s);
		HANDLE port = win_loop_port(l);
		while (s->in_flight > 0) {
			OVERLAPPED_ENTRY e;
			ULONG n = 0;
			if (!GetQueuedCompletionStatusEx(port, &e, 1, &n, 5000, FALSE) || n == 0)
				break;
			if (e.lpCompletionKey == WIN_KEY_IO) {
				struct win_op *op = (struct win_op *)e.lpOverlapped;
				op->synth = false;
				op->fn(op, ERROR_OPERATION_ABORTED, 0);
			} else if (e.lpCompletionKey == WIN_KEY_POST || e.lpCompletionKey == WIN_KEY_STOP) {
				/* Not ours: put it back for the loop. */
				PostQueuedCompletionStatus(port, 0, e.lpCompletionKey, e.lpOverlapped);
			}
		}
		if (s->in_flight > 0) {
			log_error("pipe: instances did not complete after cancellation; left allocated");
			return r;
		}
	}
	win_pipe_free(s);
	return r;
}

int64_t win_pipe_maintain(struct win_pipe_server *s)
{
	ULONGLONG now = GetTickCount64();
	int64_t wait = -1;
	if (s->retry_at) {
		if (now >= s->retry_at)
			refill(s);
		if (s->retry_at)
			wait = (int64_t)(s->retry_at - now);
		if (wait < 0)
			wait = 0;
	}
	if (s->n_draining) {
		struct plat_conn *next;
		for (struct plat_conn *c = s->conns; c; c = next) {
			next = c->next;
			if (c->st != C_DRAINING)
				continue;
			if (now >= c->drain_until) {
				log_warn("pipe: connection of pid %lu did not read its last %lu bytes "
					 "within %d ms; closed",
					 (unsigned long)c->pid, (unsigned long)(c->wlen - c->woff), DRAIN_MS);
				conn_close(c);
				continue;
			}
			int64_t left = (int64_t)(c->drain_until - now);
			if (wait < 0 || left < wait)
				wait = left;
		}
	}
	return wait;
}

void win_pipe_shutdown(struct win_pipe_server *s)
{
	s->shutdown = true;
	struct plat_conn *c = s->conns;
	while (c) {
		struct plat_conn *next = c->next;
		conn_close(c); /* may free c */
		c = next;
	}
}

size_t win_pipe_in_flight(const struct win_pipe_server *s)
{
	return s->in_flight;
}

void win_pipe_free(struct win_pipe_server *s)
{
	if (!s)
		return;
	/* Only instances with nothing in flight can remain here. */
	while (s->conns)
		conn_free(s->conns);
	if (s->sd)
		LocalFree(s->sd);
	dob_free(s->name);
	dob_free(s->name_utf8);
	dob_free(s);
}

/* ------------------------------------------------------------ connections */

/* As on POSIX, the outcome always comes as a callback: sent() with the
 * status (even when WriteFile fails at once: a completion carrying the error
 * is queued for it), then closed() when the pipe broke. */
int plat_conn_write(struct plat_conn *c, const uint8_t *buf, size_t n)
{
	if (!c || (!buf && n))
		return -DOB_EINVAL;
	if (c->st != C_OPEN || c->core_closed)
		return -DOB_ECLOSED;
	if (c->writing || c->core_write)
		return -DOB_EAGAIN;
	c->wbuf = buf;
	c->wlen = n;
	c->woff = 0;
	DWORD e = n ? issue_write(c) : ERROR_SUCCESS;
	if (e || n == 0) {
		c->wop.h = c->h;
		c->wop.fn = on_write;
		if (win_loop_complete(c->srv->loop, &c->wop, e, 0) < 0) {
			c->wbuf = NULL;
			return e ? closed_code(e) : -DOB_ENOMEM;
		}
		c->writing = true;
		op_begin(c);
	}
	c->core_write = true;
	return 0;
}

/* Marks c closed by the core and queues the completion that defers its
 * close callback to the loop. */
static void core_close(struct plat_conn *c, plat_close_cb cb)
{
	c->core_closed = true;
	c->close_cb = cb;
	c->xop.h = c->h;
	c->xop.fn = on_close_op;
	if (win_loop_complete(c->srv->loop, &c->xop, 0, 0) < 0) {
		/* Calling cb now would free the core's object under its
		 * caller: keep the conn (a leak, logged) instead. */
		log_error("pipe: connection of pid %lu: cannot queue its close; left allocated",
			  (unsigned long)c->pid);
		op_begin(c);
		return;
	}
	op_begin(c);
}

void plat_conn_close(struct plat_conn *c, plat_close_cb cb)
{
	if (!c || c->core_closed)
		return;
	core_close(c, cb);
	conn_close(c);
}

void plat_conn_close_after_write(struct plat_conn *c, plat_close_cb cb)
{
	if (!c || c->core_closed)
		return;
	core_close(c, cb);
	if (c->st != C_OPEN || !c->writing) {
		conn_close(c);
		return;
	}
	c->st = C_DRAINING;
	c->srv->n_draining++;
	c->drain_until = GetTickCount64() + DRAIN_MS;
	if (c->reading)
		CancelIoEx(c->h, &c->rop.ov);
}

void plat_conn_set_data(struct plat_conn *c, void *data)
{
	c->data = data;
}

void *plat_conn_get_data(struct plat_conn *c)
{
	return c->data;
}
