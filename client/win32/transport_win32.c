/*
 * client/win32/transport_win32.c - the client's byte stream on Windows: a
 * named pipe opened for overlapped I/O.
 *
 * Opening: CreateFileW with SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
 * so the broker can learn who we are (ImpersonateNamedPipeClient gives it an
 * identification token, enough to read our SIDs and integrity level) but can
 * never act as us. ERROR_PIPE_BUSY (every instance taken) is retried with
 * WaitNamedPipeW until the connect deadline.
 *
 * Reading (the choice made here, over a blocking read with PeekNamedPipe):
 * one overlapped ReadFile is always outstanding into an internal buffer, and
 * its manual-reset event is the connection's poll handle. The event is
 * signalled while bytes wait in the buffer (or the pipe broke) and is reset
 * when the next read is issued after they are consumed, so it behaves like a
 * readable fd: an application can put it in WaitForMultipleObjects next to
 * its own handles, and timeouts are a WaitForSingleObject on it. Polling with
 * PeekNamedPipe would need a sleep loop and has no handle to offer.
 *
 * Writing: overlapped WriteFile waited on with the timeout; on timeout the
 * write is cancelled (CancelIoEx) and waited for, since the buffer must live
 * until the I/O completes.
 */
#include <windows.h>

#include <stdio.h>
#include <string.h>

#include "deadline.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "transport.h"

#define DEFAULT_PIPE "\\\\.\\pipe\\dobroker"
#define PIPE_PREFIX "\\\\.\\pipe\\"
#define RBUF_SIZE 16384

enum rstate { R_IDLE, R_PENDING, R_READY, R_EOF, R_ERR };

struct transport {
	HANDLE pipe;
	HANDLE read_ev;  /* owned; manual reset; the poll handle */
	HANDLE write_ev; /* owned; manual reset */
	OVERLAPPED rov;
	enum rstate rstate;
	DWORD rlen, rpos; /* READY: rbuf[rpos..rlen) is unread */
	uint8_t rbuf[RBUF_SIZE];
};

int64_t transport_now_us(void)
{
	static LARGE_INTEGER freq;
	LARGE_INTEGER now;

	if (!freq.QuadPart)
		QueryPerformanceFrequency(&freq);
	QueryPerformanceCounter(&now);
	return (int64_t)(now.QuadPart / freq.QuadPart) * 1000000 +
	       (int64_t)(now.QuadPart % freq.QuadPart) * 1000000 / freq.QuadPart;
}

int transport_default_endpoint(char *buf, size_t len)
{
	if (len < sizeof DEFAULT_PIPE)
		return -DOB_EINVAL;
	memcpy(buf, DEFAULT_PIPE, sizeof DEFAULT_PIPE);
	return 0;
}

static int win_code(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_BAD_PATHNAME:
		return -DOB_ENOTFOUND;
	case ERROR_ACCESS_DENIED:
		return -DOB_EACCES;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return -DOB_ENOMEM;
	case ERROR_BROKEN_PIPE:
	case ERROR_PIPE_NOT_CONNECTED:
	case ERROR_NO_DATA:
		return -DOB_ECLOSED;
	case ERROR_SEM_TIMEOUT:
		return -DOB_ETIMEDOUT;
	default:
		return -DOB_EIO;
	}
}

static void win_text(DWORD e, char *buf, size_t len)
{
	DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
				 e, 0, buf, (DWORD)len, NULL);

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n == 0)
		snprintf(buf, len, "error %lu", (unsigned long)e);
}

/* deadline_left_ms() for the Wait functions. */
static DWORD remaining_ms(int64_t deadline_us)
{
	int ms = deadline_left_ms(deadline_us);

	return ms < 0 ? INFINITE : (DWORD)ms;
}

/* Starts the next read into rbuf. */
static void issue_read(struct transport *t)
{
	DWORD n = 0, e;

	for (;;) {
		memset(&t->rov, 0, sizeof t->rov);
		t->rov.hEvent = t->read_ev;
		if (ReadFile(t->pipe, t->rbuf, RBUF_SIZE, NULL, &t->rov)) {
			GetOverlappedResult(t->pipe, &t->rov, &n, FALSE);
			if (n == 0)
				continue; /* an empty message: nothing to report */
			t->rstate = R_READY;
			t->rlen = n;
			t->rpos = 0;
			SetEvent(t->read_ev);
			return;
		}
		e = GetLastError();
		if (e == ERROR_IO_PENDING) {
			t->rstate = R_PENDING;
			return;
		}
		if (e == ERROR_MORE_DATA) {
			t->rstate = R_READY;
			t->rlen = RBUF_SIZE;
			t->rpos = 0;
		} else {
			t->rstate = win_code(e) == -DOB_ECLOSED ? R_EOF : R_ERR;
		}
		SetEvent(t->read_ev);
		return;
	}
}

/* Collects a finished read without waiting. */
static void check_read(struct transport *t)
{
	DWORD n = 0, e;

	if (t->rstate == R_IDLE)
		issue_read(t);
	if (t->rstate != R_PENDING)
		return;
	if (GetOverlappedResult(t->pipe, &t->rov, &n, FALSE)) {
		if (n == 0) {
			t->rstate = R_IDLE;
			issue_read(t);
			return;
		}
		t->rstate = R_READY;
		t->rlen = n;
		t->rpos = 0;
		return;
	}
	e = GetLastError();
	if (e == ERROR_IO_INCOMPLETE)
		return;
	if (e == ERROR_MORE_DATA) {
		t->rstate = R_READY;
		t->rlen = RBUF_SIZE;
		t->rpos = 0;
		return;
	}
	t->rstate = win_code(e) == -DOB_ECLOSED ? R_EOF : R_ERR;
	SetEvent(t->read_ev);
}

int transport_connect(struct transport **out, const char *endpoint, int timeout_ms,
		      char *why, size_t whylen)
{
	int64_t deadline = deadline_after(timeout_ms);
	char name[1024], reason[256];
	WCHAR wname[1024];
	struct transport *t = NULL;
	HANDLE h = INVALID_HANDLE_VALUE;
	DWORD e;
	int n;

	*out = NULL;
	if (strncmp(endpoint, "\\\\", 2) == 0)
		n = snprintf(name, sizeof name, "%s", endpoint);
	else
		n = snprintf(name, sizeof name, PIPE_PREFIX "%s", endpoint);
	if (n < 0 || (size_t)n >= sizeof name ||
	    !MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, name, -1, wname, 1024)) {
		snprintf(why, whylen, "bad pipe name: %s", endpoint);
		return -DOB_EINVAL;
	}

	for (;;) {
		h = CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
				FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
				NULL);
		if (h != INVALID_HANDLE_VALUE)
			break;
		e = GetLastError();
		if (e == ERROR_PIPE_BUSY) {
			DWORD left = remaining_ms(deadline);

			if (left == 0) {
				snprintf(why, whylen, "connect %s: busy until the timeout (%d ms)",
					 name, timeout_ms);
				return -DOB_ETIMEDOUT;
			}
			/* 0 would mean the server's default wait: ask for 1 ms at least. */
			if (!WaitNamedPipeW(wname, left == INFINITE ? NMPWAIT_WAIT_FOREVER : left)) {
				e = GetLastError();
				if (e != ERROR_SEM_TIMEOUT && e != ERROR_PIPE_BUSY)
					goto fail;
			}
			continue;
		}
		goto fail;
	}

	t = dob_calloc(1, sizeof *t);
	if (!t) {
		CloseHandle(h);
		snprintf(why, whylen, "out of memory");
		return -DOB_ENOMEM;
	}
	t->pipe = h;
	t->read_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	t->write_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!t->read_ev || !t->write_ev) {
		e = GetLastError();
		transport_close(t);
		win_text(e, reason, sizeof reason);
		snprintf(why, whylen, "CreateEvent: %s", reason);
		return -DOB_EIO;
	}
	t->rstate = R_IDLE;
	issue_read(t);
	*out = t;
	return 0;

fail:
	win_text(e, reason, sizeof reason);
	snprintf(why, whylen, "connect %s: %s%s", name, reason,
		 e == ERROR_FILE_NOT_FOUND ? " (is dobrokerd running?)" : "");
	return win_code(e);
}

int transport_wait(struct transport *t, int timeout_ms)
{
	DWORD w;

	check_read(t);
	if (t->rstate != R_PENDING)
		return 1;
	w = WaitForSingleObject(t->read_ev, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
	if (w == WAIT_TIMEOUT)
		return 0;
	if (w != WAIT_OBJECT_0)
		return -DOB_EIO;
	check_read(t);
	return 1;
}

int transport_read(struct transport *t, uint8_t *buf, size_t cap)
{
	DWORD n;

	check_read(t);
	switch (t->rstate) {
	case R_READY:
		n = t->rlen - t->rpos;
		if (n > cap)
			n = (DWORD)cap;
		memcpy(buf, t->rbuf + t->rpos, n);
		t->rpos += n;
		if (t->rpos == t->rlen) {
			t->rstate = R_IDLE;
			issue_read(t); /* resets the poll handle while it waits */
		}
		return (int)n;
	case R_EOF:
		return -DOB_ECLOSED;
	case R_ERR:
		return -DOB_EIO;
	default:
		return -DOB_EAGAIN;
	}
}

int transport_write(struct transport *t, const uint8_t *buf, size_t n, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	size_t done = 0;

	while (done < n) {
		OVERLAPPED ov;
		DWORD w = 0, chunk = n - done > 0x40000000 ? 0x40000000 : (DWORD)(n - done);

		memset(&ov, 0, sizeof ov);
		ov.hEvent = t->write_ev;
		if (!WriteFile(t->pipe, buf + done, chunk, NULL, &ov)) {
			DWORD e = GetLastError();

			if (e != ERROR_IO_PENDING)
				return win_code(e);
			if (WaitForSingleObject(t->write_ev, remaining_ms(deadline)) != WAIT_OBJECT_0) {
				CancelIoEx(t->pipe, &ov);
				GetOverlappedResult(t->pipe, &ov, &w, TRUE);
				return -DOB_ETIMEDOUT;
			}
		}
		if (!GetOverlappedResult(t->pipe, &ov, &w, TRUE))
			return win_code(GetLastError());
		done += w;
	}
	return 0;
}

intptr_t transport_poll_handle(const struct transport *t)
{
	return (intptr_t)t->read_ev;
}

void transport_close(struct transport *t)
{
	DWORD n;

	if (!t)
		return;
	if (t->rstate == R_PENDING) {
		CancelIoEx(t->pipe, &t->rov);
		GetOverlappedResult(t->pipe, &t->rov, &n, TRUE);
	}
	if (t->pipe && t->pipe != INVALID_HANDLE_VALUE)
		CloseHandle(t->pipe);
	if (t->read_ev)
		CloseHandle(t->read_ev);
	if (t->write_ev)
		CloseHandle(t->write_ev);
	dob_free(t);
}
