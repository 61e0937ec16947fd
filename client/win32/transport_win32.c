/*
 * client/win32/transport_win32.c - the client's byte stream on Windows: a
 * named pipe opened for overlapped I/O.
 *
 * Opening: CreateFileW with SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
 * so the broker can learn who we are (ImpersonateNamedPipeClient gives it an
 * identification token, enough to read our SIDs and integrity level) but can
 * never act as us. With DOBC_IMPERSONATION=1 in the environment the level is
 * SECURITY_IMPERSONATION instead: the machine service may then create our
 * jobs as us (so BITS/DO write our files with our rights); the server is
 * still authenticated before a byte is written. ERROR_PIPE_BUSY (every instance taken) is retried with
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
 *
 * Server authentication (docs/security.md, "Clients authenticate the
 * server"): between CreateFileW and the first byte written, the process that
 * serves the pipe is checked, so a squatter that took the name (a
 * low-integrity process of the user, another user, anything that is not the
 * broker) never receives the Hello:
 *   1. GetNamedPipeServerProcessId, then that process's token
 *      (OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) + OpenProcessToken):
 *      its user must be the expected one and its integrity medium or higher,
 *      outside any AppContainer. Expected: the SID in the environment
 *      variable DOBC_SERVER_SID when set; else SYSTEM, LOCAL SERVICE,
 *      NETWORK SERVICE (a machine service) or this process's own user (a
 *      per-user broker).
 *   2. When that token cannot be read (a service's token is closed to
 *      standard users), the pipe object's owner, read through our handle
 *      (READ_CONTROL is a client right): it must be SYSTEM, LOCAL SERVICE,
 *      NETWORK SERVICE or DOBC_SERVER_SID. Only a process holding
 *      SeRestorePrivilege can name another owner than itself, and the broker
 *      names its owner explicitly (sd_win32.c).
 * Anything else closes the handle and fails with -DOBC_ESERVER_AUTH and a
 * sentence naming the server process and what was wrong.
 */
#include <windows.h>

#include <aclapi.h>
#include <sddl.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#include "deadline.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "dobclient.h"
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

/* ------------------------------------------------------------ server authentication */

static const char *const service_accounts[] = { "S-1-5-18", "S-1-5-19", "S-1-5-20" };

/* The SID the user named, or NULL. */
static const char *expected_sid(void)
{
	const char *e = getenv("DOBC_SERVER_SID");

	return e && *e ? e : NULL;
}

static bool sid_is(PSID sid, const char *want)
{
	char *s = NULL;
	bool yes;

	if (!sid || !ConvertSidToStringSidA(sid, &s))
		return false;
	yes = strcmp(s, want) == 0;
	LocalFree(s);
	return yes;
}

static bool service_account(PSID sid)
{
	for (size_t i = 0; i < sizeof service_accounts / sizeof service_accounts[0]; i++)
		if (sid_is(sid, service_accounts[i]))
			return true;
	return false;
}

/* This process's user SID as text (LocalFree it), or NULL. */
static char *own_user(void)
{
	union {
		TOKEN_USER tu;
		uint8_t b[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
	} u;
	HANDLE tok;
	DWORD n;
	char *s = NULL;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return NULL;
	if (!GetTokenInformation(tok, TokenUser, &u, sizeof u, &n) ||
	    !ConvertSidToStringSidA(u.tu.User.Sid, &s))
		s = NULL;
	CloseHandle(tok);
	return s;
}

/* Step 1: the server process's token. 1 accepted, 0 refused (why says
 * why), -1 unreadable (go to step 2). */
static int check_server_token(ULONG pid, char *why, size_t whylen)
{
	union {
		TOKEN_USER tu;
		TOKEN_MANDATORY_LABEL ml;
		TOKEN_APPCONTAINER_INFORMATION ac;
		uint8_t b[sizeof(TOKEN_MANDATORY_LABEL) + SECURITY_MAX_SID_SIZE];
	} u;
	HANDLE proc, tok = NULL;
	DWORD n, rid = 0;
	char *user = NULL, *me = NULL;
	const char *want = expected_sid();
	int r = -1;

	proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
	if (!proc)
		return -1;
	if (!OpenProcessToken(proc, TOKEN_QUERY, &tok)) {
		CloseHandle(proc);
		return -1;
	}
	CloseHandle(proc);
	if (!GetTokenInformation(tok, TokenUser, &u, sizeof u, &n) ||
	    !ConvertSidToStringSidA(u.tu.User.Sid, &user))
		goto out;
	if (!GetTokenInformation(tok, TokenIntegrityLevel, &u, sizeof u, &n) || !u.ml.Label.Sid ||
	    *GetSidSubAuthorityCount(u.ml.Label.Sid) == 0)
		goto out;
	rid = *GetSidSubAuthority(u.ml.Label.Sid, *GetSidSubAuthorityCount(u.ml.Label.Sid) - 1u);
	if (rid < SECURITY_MANDATORY_MEDIUM_RID) {
		snprintf(why, whylen,
			 "the server (pid %lu, user %s) runs at integrity 0x%lx, below medium: not "
			 "the broker",
			 (unsigned long)pid, user, (unsigned long)rid);
		r = 0;
		goto out;
	}
	if (GetTokenInformation(tok, TokenAppContainerSid, &u, sizeof u, &n) &&
	    u.ac.TokenAppContainer) {
		snprintf(why, whylen, "the server (pid %lu, user %s) runs in an AppContainer: not "
				      "the broker",
			 (unsigned long)pid, user);
		r = 0;
		goto out;
	}
	if (want) {
		r = strcmp(user, want) == 0;
	} else {
		bool svc = false;
		for (size_t i = 0; i < sizeof service_accounts / sizeof service_accounts[0]; i++)
			svc = svc || strcmp(user, service_accounts[i]) == 0;
		me = own_user();
		r = svc || (me && strcmp(user, me) == 0);
	}
	if (!r)
		snprintf(why, whylen,
			 "the server (pid %lu) runs as %s, not as %s: not the broker (set "
			 "DOBC_SERVER_SID to the broker's account if it runs as another one)",
			 (unsigned long)pid, user,
			 want ? want : "a service account (SYSTEM, LOCAL SERVICE, NETWORK SERVICE) "
				       "or this user");
out:
	if (user)
		LocalFree(user);
	if (me)
		LocalFree(me);
	CloseHandle(tok);
	return r;
}

/* Step 2: the pipe object's owner. 1 accepted, 0 refused. */
static int check_pipe_owner(HANDLE h, ULONG pid, char *why, size_t whylen)
{
	PSID owner = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	const char *want = expected_sid();
	char *s = NULL;
	int r;
	DWORD e = GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner, NULL,
				  NULL, NULL, &sd);

	if (e != ERROR_SUCCESS || !owner) {
		snprintf(why, whylen,
			 "neither the server process's token (pid %lu) nor the pipe's owner can be "
			 "read (error %lu): the server cannot be authenticated",
			 (unsigned long)pid, (unsigned long)e);
		if (sd)
			LocalFree(sd);
		return 0;
	}
	r = want ? sid_is(owner, want) : service_account(owner);
	if (!r) {
		if (!ConvertSidToStringSidA(owner, &s))
			s = NULL;
		snprintf(why, whylen,
			 "the pipe is owned by %s, not by %s, and the server process (pid %lu) "
			 "cannot be read: not the broker",
			 s ? s : "?", want ? want : "a service account", (unsigned long)pid);
		if (s)
			LocalFree(s);
	}
	LocalFree(sd);
	return r;
}

static int authenticate(HANDLE h, char *why, size_t whylen)
{
	ULONG pid = 0;
	int r;

	if (!GetNamedPipeServerProcessId(h, &pid)) {
		snprintf(why, whylen, "GetNamedPipeServerProcessId failed (error %lu): the server "
				      "cannot be authenticated",
			 (unsigned long)GetLastError());
		return -DOBC_ESERVER_AUTH;
	}
	r = check_server_token(pid, why, whylen);
	if (r < 0)
		r = check_pipe_owner(h, pid, why, whylen);
	return r == 1 ? 0 : -DOBC_ESERVER_AUTH;
}

int dobc_authenticate_server(void *pipe_handle, char *why, size_t whylen)
{
	return authenticate((HANDLE)pipe_handle, why, whylen);
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
		const char *imp = getenv("DOBC_IMPERSONATION");
		DWORD level = imp && strcmp(imp, "1") == 0 ? SECURITY_IMPERSONATION
							    : SECURITY_IDENTIFICATION;
		h = CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
				FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | level, NULL);
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

	/* Who answers, before a byte is sent. */
	{
		char who[400];
		int r = authenticate(h, who, sizeof who);
		if (r < 0) {
			CloseHandle(h);
			snprintf(why, whylen, "connect %s: server authentication failed: %s", name,
				 who);
			return r;
		}
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
