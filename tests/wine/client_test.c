/*
 * client_test.exe - libdobclient's Win32 transport and dobctl.exe's command
 * runner under Wine, against a scripted fake broker: a thread serving a
 * named pipe and speaking frames with the codec.
 *
 * Checked: connect + handshake over the pipe; the poll handle is signalled
 * when bytes arrive and reset once dobc_process has consumed them; events
 * queued while a request waits; next_event timeout; broker hang-up; a
 * missing pipe; a busy pipe (every instance taken) waited for with
 * WaitNamedPipeW until the connect timeout; dobctl.exe watch --exec running
 * a command through cmd.exe with the event in its environment and sending
 * its first line as the reply.
 *
 * Server authentication: with DOBC_SERVER_SID naming another account
 * (SYSTEM) the library refuses the fake broker (a server of the wrong
 * identity, as a squatter is) with -DOBC_ESERVER_AUTH and a message naming
 * it, and the server receives not one byte; naming the test's own user
 * admits it again; dobctl.exe exits 2 saying why.
 *
 * Not checkable under Wine (it does not enforce them): that
 * SECURITY_IDENTIFICATION keeps the broker from impersonating the client; a
 * server below medium integrity or in an AppContainer (Wine runs every
 * process at one level, with no AppContainers): tests/windows/.
 */
#include <process.h>
#include <stdlib.h>

#include "wtest.h"

#include <sddl.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "dob/msg.h"
#include "dobclient.h"

struct fake {
	char name[128];
	HANDLE pipe;
	HANDLE thread;
	HANDLE ready;            /* set once the pipe instance exists */
	void (*script)(struct fake *f);
	struct dob_decoder dec;
	uint8_t buf[4096];
	DWORD pos, len;
	int failed;
	char why[256];
	enum dob_action want_action;
	uint32_t want_delay;
};

static void fail(struct fake *f, const char *why)
{
	if (!f->failed)
		snprintf(f->why, sizeof f->why, "%s", why);
	f->failed = 1;
}

static int fsend(struct fake *f, struct dob_msg *m)
{
	uint8_t *b = NULL;
	size_t n = 0;
	int r = dob_encode(m, DOB_MAX_FRAME_CEILING, &b, &n, NULL);

	dob_msg_clear(m);
	if (r < 0) {
		fail(f, "encode");
		return -1;
	}
	r = wt_write_all(f->pipe, b, n) ? 0 : -1;
	dob_free(b);
	return r;
}

static int frecv(struct fake *f, struct dob_msg *m)
{
	for (;;) {
		size_t used = 0;
		int r;

		while (f->pos < f->len) {
			r = dob_decoder_feed(&f->dec, f->buf + f->pos, f->len - f->pos, &used, m, NULL);
			if (r < 0)
				return -1;
			if (r == 0) {
				f->pos = f->len;
				break;
			}
			f->pos += (DWORD)used;
			return 0;
		}
		if (!ReadFile(f->pipe, f->buf, sizeof f->buf, &f->len, NULL) || f->len == 0)
			return -1;
		f->pos = 0;
	}
}

static int fexpect(struct fake *f, enum dob_msg_type t, struct dob_msg *m)
{
	if (frecv(f, m) < 0 || m->type != t) {
		fail(f, dob_msg_type_name(t));
		dob_msg_clear(m);
		return -1;
	}
	return 0;
}

static int handshake(struct fake *f)
{
	struct dob_msg m;

	if (!ConnectNamedPipe(f->pipe, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
		fail(f, "ConnectNamedPipe");
		return -1;
	}
	if (fexpect(f, DOB_MSG_HELLO, &m) < 0)
		return -1;
	dob_msg_clear(&m);
	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_WELCOME;
	m.u.welcome.version = 1;
	m.u.welcome.session_id = 42;
	m.u.welcome.backend = DOB_BACKEND_BITS;
	m.u.welcome.limits.max_frame_bytes = DOB_MAX_FRAME_DEFAULT;
	m.u.welcome.broker_version = dob_strdup("dobroker wine fake");
	return fsend(f, &m);
}

static void job_error(struct dob_msg *m, uint64_t episode)
{
	memset(m, 0, sizeof *m);
	m->type = DOB_MSG_JOB_ERROR;
	memset(m->u.job_error.job.job_id.b, 0x11, DOB_GUID_LEN);
	m->u.job_error.job.display_name = dob_strdup("wine job");
	m->u.job_error.job.state = DOB_STATE_ERROR;
	m->u.job_error.episode_id = episode;
	m->u.job_error.error.context = DOB_CONTEXT_REMOTE_FILE;
	m->u.job_error.error.hresult = 0x80190194u;
	m->u.job_error.error.description = dob_strdup("not found");
}

static void reply_ok(struct fake *f, const struct dob_msg *req)
{
	struct dob_msg m = { .type = DOB_MSG_ACTION_RESULT };

	m.correlation_id = req->correlation_id;
	m.u.action_result.new_state = DOB_STATE_QUEUED;
	fsend(f, &m);
}

static void wait_eof(struct fake *f)
{
	struct dob_msg m;

	while (frecv(f, &m) == 0)
		dob_msg_clear(&m);
}

static unsigned __stdcall fake_main(void *p)
{
	struct fake *f = p;
	wchar_t w[200];

	MultiByteToWideChar(CP_UTF8, 0, f->name, -1, w, 200);
	f->pipe = CreateNamedPipeW(w, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
				   1, 65536, 65536, 0, NULL);
	SetEvent(f->ready);
	if (f->pipe == INVALID_HANDLE_VALUE) {
		fail(f, "CreateNamedPipe");
		return 0;
	}
	f->script(f);
	FlushFileBuffers(f->pipe);
	DisconnectNamedPipe(f->pipe);
	CloseHandle(f->pipe);
	return 0;
}

/* f is zeroed by the caller, who may set want_* first. */
static void fake_start(struct fake *f, const char *what, void (*script)(struct fake *))
{
	wt_unique_pipe(f->name, sizeof f->name, what);
	f->script = script;
	dob_decoder_init(&f->dec, DOB_MAX_FRAME_DEFAULT);
	f->ready = CreateEventW(NULL, TRUE, FALSE, NULL);
	f->thread = (HANDLE)_beginthreadex(NULL, 0, fake_main, f, 0, NULL);
	WaitForSingleObject(f->ready, 5000);
}

static int fake_stop(struct fake *f)
{
	CHECK(WaitForSingleObject(f->thread, 10000) == WAIT_OBJECT_0);
	CloseHandle(f->thread);
	CloseHandle(f->ready);
	dob_decoder_free(&f->dec);
	if (f->failed)
		printf("fake broker %s: %s\n", f->name, f->why);
	return CHECK(!f->failed);
}

static struct dobc *connect_to(struct fake *f, int timeout_ms)
{
	struct dobc_error e;
	struct dobc_options o = { .endpoint = f->name, .client_name = "wine-client",
				  .role = DOB_ROLE_CONTROLLER, .connect_timeout_ms = timeout_ms,
				  .error = &e };
	struct dobc *c = NULL;
	int r;

	memset(&e, 0, sizeof e);
	r = dobc_connect(&c, &o);
	if (!CHECK_EQ(r, 0))
		printf("  dobc_connect: %s\n", e.message);
	return c;
}

/* ------------------------------------------------------------ the library */

static void s_session(struct fake *f)
{
	struct dob_msg m, req;

	if (handshake(f) < 0)
		return;
	Sleep(100); /* the client waits on its poll handle meanwhile */
	job_error(&m, 11);
	fsend(f, &m);
	if (fexpect(f, DOB_MSG_ACT, &req) < 0)
		return;
	if (req.u.act.action != DOB_ACTION_RESUME || req.u.act.episode_id != 11)
		fail(f, "Act fields");
	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_RESOLUTION;
	memset(m.u.resolution.job_id.b, 0x11, DOB_GUID_LEN);
	m.u.resolution.episode_id = 11;
	m.u.resolution.action = DOB_ACTION_RESUME;
	fsend(f, &m);
	reply_ok(f, &req);
	dob_msg_clear(&req);
	if (fexpect(f, DOB_MSG_PING, &req) < 0)
		return;
	dob_msg_clear(&req);
	/* Hang up without answering. */
}

static void test_session(void)
{
	struct dob_action_result res;
	struct fake f;
	struct dob_msg m;
	struct dobc *c;
	HANDLE h;
	ULONGLONG t0;
	int r, n = 0;

	memset(&f, 0, sizeof f);
	fake_start(&f, "session", s_session);
	c = connect_to(&f, 5000);
	if (!c) {
		fake_stop(&f);
		return;
	}
	CHECK_EQ(dobc_welcome(c)->session_id, 42);
	CHECK_EQ(dobc_welcome(c)->backend, DOB_BACKEND_BITS);
	CHECK_STR(dobc_welcome(c)->broker_version, "dobroker wine fake");

	h = (HANDLE)dobc_poll_handle(c);
	CHECK(WaitForSingleObject(h, 0) == WAIT_TIMEOUT);
	while (n == 0 && WaitForSingleObject(h, 3000) == WAIT_OBJECT_0) {
		n = dobc_process(c);
		if (n < 0)
			break;
	}
	CHECK_EQ(n, 1);
	CHECK(WaitForSingleObject(h, 0) == WAIT_TIMEOUT); /* consumed: reset */
	CHECK_EQ(dobc_next_event(c, &m, 0), 0);
	CHECK_EQ(m.type, DOB_MSG_JOB_ERROR);
	CHECK_EQ(m.u.job_error.error.hresult, 0x80190194u);
	r = dobc_act(c, &m.u.job_error.job.job_id, m.u.job_error.episode_id, DOB_ACTION_RESUME, 0,
		     &res, 3000);
	CHECK_EQ(r, 0);
	CHECK_EQ(res.new_state, DOB_STATE_QUEUED);
	dobc_action_result_clear(&res);
	dob_msg_clear(&m);
	CHECK_EQ(dobc_pending(c), 1); /* the Resolution that came before the reply */
	CHECK_EQ(dobc_next_event(c, &m, 0), 0);
	CHECK_EQ(m.type, DOB_MSG_RESOLUTION);
	dob_msg_clear(&m);
	t0 = GetTickCount64();
	CHECK_EQ(dobc_next_event(c, &m, 150), -DOB_ETIMEDOUT);
	CHECK(GetTickCount64() - t0 >= 140);
	r = dobc_ping(c, NULL, 5000);
	CHECK_EQ(r, -DOB_ECLOSED);
	CHECK_EQ(dobc_next_event(c, &m, 0), -DOB_ECLOSED);
	dobc_close(c);
	fake_stop(&f);
}

static void s_occupied(struct fake *f);
static DWORD run_dobctl(const char *args);

/* A server that says nothing and counts what it receives until the client
 * hangs up. */
static volatile LONG silent_got = -1;
static void s_silent(struct fake *f)
{
	DWORD n = 0;
	LONG got = 0;
	char b[64];

	if (!ConnectNamedPipe(f->pipe, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
		fail(f, "ConnectNamedPipe");
		return;
	}
	while (ReadFile(f->pipe, b, sizeof b, &n, NULL) && n > 0)
		got += (LONG)n;
	InterlockedExchange(&silent_got, got);
}

static void own_sid(char *buf, size_t len)
{
	HANDLE tok;
	uint8_t b[512];
	DWORD n;
	char *s = NULL;

	buf[0] = 0;
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) {
		if (GetTokenInformation(tok, TokenUser, b, sizeof b, &n) &&
		    ConvertSidToStringSidA(((TOKEN_USER *)b)->User.Sid, &s)) {
			snprintf(buf, len, "%s", s);
			LocalFree(s);
		}
		CloseHandle(tok);
	}
}

static void test_server_authentication(void)
{
	struct dobc_error e;
	struct dobc_options o = { .connect_timeout_ms = 5000, .error = &e };
	struct fake f;
	struct dobc *c = NULL;
	char env[300], me[200];
	int r;

	/* The fake broker runs as this user; the library is told to expect
	 * SYSTEM: it must refuse before sending anything. */
	memset(&f, 0, sizeof f);
	memset(&e, 0, sizeof e);
	fake_start(&f, "impostor", s_silent);
	o.endpoint = f.name;
	_putenv("DOBC_SERVER_SID=S-1-5-18");
	r = dobc_connect(&c, &o);
	CHECK_EQ(r, -DOBC_ESERVER_AUTH);
	CHECK(c == NULL);
	if (!CHECK(strstr(e.message, "server authentication failed") &&
		   strstr(e.message, "not the broker") && strstr(e.message, "S-1-5-18")))
		printf("  message: %s\n", e.message);
	CHECK_STR(dobc_strerror(-DOBC_ESERVER_AUTH),
		  "the server failed authentication (not the expected broker)");
	fake_stop(&f);
	CHECK_EQ(silent_got, 0); /* not one byte reached the impostor */

	/* Naming the account it does run as admits it. */
	own_sid(me, sizeof me);
	CHECK(me[0] != 0);
	snprintf(env, sizeof env, "DOBC_SERVER_SID=%s", me);
	_putenv(env);
	memset(&f, 0, sizeof f);
	fake_start(&f, "named", s_occupied);
	c = connect_to(&f, 5000);
	CHECK(c != NULL);
	dobc_close(c);
	fake_stop(&f);

	/* dobctl.exe refuses the same way (exit 2, connect failure). */
	_putenv("DOBC_SERVER_SID=S-1-5-18");
	memset(&f, 0, sizeof f);
	silent_got = -1;
	fake_start(&f, "impostor2", s_silent);
	char args[400];
	snprintf(args, sizeof args, "--endpoint %s ping", f.name);
	CHECK_EQ(run_dobctl(args), 2);
	fake_stop(&f);
	CHECK_EQ(silent_got, 0);
	_putenv("DOBC_SERVER_SID=");
}

static void test_missing_pipe(void)
{
	struct dobc_error e;
	struct dobc_options o = { .endpoint = "dobtest-nobody-listens-here", .error = &e };
	struct dobc *c = NULL;
	ULONGLONG t0 = GetTickCount64();
	int r = dobc_connect(&c, &o);

	CHECK_EQ(r, -DOB_ENOTFOUND);
	CHECK(c == NULL);
	CHECK(strstr(e.message, "\\\\.\\pipe\\dobtest-nobody-listens-here") != NULL);
	CHECK(GetTickCount64() - t0 < 2000);
}

static void s_occupied(struct fake *f)
{
	if (handshake(f) < 0)
		return;
	wait_eof(f);
}

static void test_busy_pipe(void)
{
	struct dobc_error e;
	struct dobc_options o = { .connect_timeout_ms = 300, .error = &e };
	struct fake f;
	struct dobc *first, *c = NULL;
	ULONGLONG t0;
	int r;

	memset(&f, 0, sizeof f);
	fake_start(&f, "busy", s_occupied);
	first = connect_to(&f, 5000); /* takes the only instance */
	o.endpoint = f.name;
	t0 = GetTickCount64();
	r = dobc_connect(&c, &o);
	CHECK_EQ(r, -DOB_ETIMEDOUT);
	CHECK(GetTickCount64() - t0 >= 250);
	CHECK(GetTickCount64() - t0 < 5000);
	dobc_close(first);
	fake_stop(&f);
}

/* ------------------------------------------------------------ dobctl.exe --exec */

static void s_exec(struct fake *f)
{
	struct dob_msg m, req;

	if (handshake(f) < 0)
		return;
	job_error(&m, 21);
	fsend(f, &m);
	if (fexpect(f, DOB_MSG_ACT, &req) < 0)
		return;
	if (req.u.act.action != f->want_action || req.u.act.delay_ms != f->want_delay ||
	    req.u.act.episode_id != 21)
		fail(f, "Act from dobctl.exe: wrong action, delay or episode");
	reply_ok(f, &req);
	dob_msg_clear(&req);
	wait_eof(f);
}

static DWORD run_dobctl(const char *args)
{
	char exe[MAX_PATH], *slash, cmd[2048];
	wchar_t wcmd[2048];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	DWORD code = 99;

	GetModuleFileNameA(NULL, exe, sizeof exe);
	slash = strrchr(exe, '\\');
	if (slash)
		slash[1] = '\0';
	snprintf(cmd, sizeof cmd, "\"%sdobctl.exe\" %s", exe, args);
	MultiByteToWideChar(CP_UTF8, 0, cmd, -1, wcmd, 2048);
	memset(&si, 0, sizeof si);
	si.cb = sizeof si;
	if (!CreateProcessW(NULL, wcmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
		printf("CreateProcess %s: %lu\n", cmd, (unsigned long)GetLastError());
		return code;
	}
	if (WaitForSingleObject(pi.hProcess, 30000) != WAIT_OBJECT_0)
		TerminateProcess(pi.hProcess, 98);
	GetExitCodeProcess(pi.hProcess, &code);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	return code;
}

static void test_dobctl_exec(const char *what, const char *exec, enum dob_action want,
			     uint32_t delay)
{
	char args[1024];
	struct fake f;

	memset(&f, 0, sizeof f);
	f.want_action = want;
	f.want_delay = delay;
	fake_start(&f, what, s_exec);
	snprintf(args, sizeof args, "--endpoint %s watch --json --count 1 --exec \"%s\"", f.name, exec);
	CHECK_EQ(run_dobctl(args), 0);
	fake_stop(&f);
}

int main(void)
{
	test_session();
	test_missing_pipe();
	test_busy_pipe();
	test_server_authentication();
	test_dobctl_exec("exec-echo", "echo resume", DOB_ACTION_RESUME, 0);
	/* The event reaches the command's environment. */
	test_dobctl_exec("exec-env",
			 "if %DOB_HRESULT%==0x80190194 (if %DOB_EPISODE_ID%==21 (echo resume-after-delay 700)) else echo none",
			 DOB_ACTION_RESUME_AFTER_DELAY, 700);
	return wt_finish("client_test");
}
