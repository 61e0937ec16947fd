/*
 * broker_pipe_test.exe - dobrokerd.exe itself over the real named pipe
 * under Wine (issue 4, tests 7 and 8, and the service mode):
 *
 *  - a second dobrokerd.exe on the same pipe name exits 1 with the
 *    documented squatting message (Wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE:
 *    this is the probe-before-create path);
 *  - malformed frames (length 0, a 4 GiB length, bytes that are no
 *    Envelope, a first message that is not Hello) each get a ProtocolError
 *    and a closed connection, while a good client keeps being served;
 *  - 100 concurrent clients are served (issue 5);
 *  - `dobrokerd.exe install ...`, start through the SCM, serve, stop, and
 *    `dobrokerd.exe uninstall`.
 *
 * dobrokerd.exe is looked for next to this program. Every broker runs with
 * the sim backend, its own pipe name and its own state directory.
 */
#include <process.h>
#include <stdlib.h>

#include "wtest.h"

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "dob/msg.h"

static wchar_t broker_exe[MAX_PATH];
static char tmpdir[MAX_PATH];

/* Starts dobrokerd.exe with args; its stderr (the log) goes to errfile. */
static bool spawn(const char *args, const char *errfile, PROCESS_INFORMATION *pi)
{
	wchar_t cmd[2048], wargs[1500], werr[MAX_PATH];
	MultiByteToWideChar(CP_UTF8, 0, args, -1, wargs, 1500);
	MultiByteToWideChar(CP_UTF8, 0, errfile, -1, werr, MAX_PATH);
	swprintf(cmd, 2048, L"\"%ls\" %ls", broker_exe, wargs);
	SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, TRUE};
	HANDLE e = CreateFileW(werr, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
			       CREATE_ALWAYS, 0, NULL);
	if (e == INVALID_HANDLE_VALUE)
		return false;
	STARTUPINFOW si = {.cb = sizeof(si), .dwFlags = STARTF_USESTDHANDLES};
	si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
	si.hStdOutput = e;
	si.hStdError = e;
	BOOL ok = CreateProcessW(broker_exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, pi);
	CloseHandle(e);
	return ok;
}

static char *slurp(const char *path)
{
	HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
			       OPEN_EXISTING, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return NULL;
	static char buf[65536];
	DWORD got = 0;
	ReadFile(h, buf, sizeof(buf) - 1, &got, NULL);
	buf[got] = 0;
	CloseHandle(h);
	return buf;
}

/* Reads one frame and decodes it; false on EOF/error. */
static bool read_msg(HANDLE h, struct dob_msg *m)
{
	uint8_t hdr[4];
	memset(m, 0, sizeof(*m));
	if (!wt_read_all(h, hdr, 4))
		return false;
	uint32_t n = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	if (n == 0 || n > (1u << 20))
		return false;
	uint8_t *b = malloc(n);
	bool ok = wt_read_all(h, b, n) && dob_decode(b, n, m, NULL) == 0;
	free(b);
	return ok;
}

static bool send_msg(HANDLE h, const struct dob_msg *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (dob_encode(m, DOB_MAX_FRAME_DEFAULT, &buf, &len, NULL) != 0)
		return false;
	bool ok = wt_write_all(h, buf, len);
	dob_free(buf);
	return ok;
}

static bool hello(HANDLE h, const char *name)
{
	struct dob_msg m = {.type = DOB_MSG_HELLO};
	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = (char *)name;
	m.u.hello.role = DOB_ROLE_OBSERVER;
	if (!send_msg(h, &m))
		return false;
	struct dob_msg r;
	bool ok = read_msg(h, &r) && r.type == DOB_MSG_WELCOME &&
		  r.u.welcome.identity.pid == GetCurrentProcessId();
	dob_msg_clear(&r);
	return ok;
}

static bool ping(HANDLE h, uint64_t id)
{
	struct dob_msg m = {.type = DOB_MSG_PING, .correlation_id = id};
	if (!send_msg(h, &m))
		return false;
	/* Events may come first; the Pong has our id. */
	for (int i = 0; i < 64; i++) {
		struct dob_msg r;
		if (!read_msg(h, &r))
			return false;
		bool pong = r.type == DOB_MSG_PONG && r.correlation_id == id;
		dob_msg_clear(&r);
		if (pong)
			return true;
	}
	return false;
}

/* Sends raw bytes; expects one ProtocolError with code perr, then EOF. */
static void expect_protocol_error(const char *pipe, const uint8_t *bytes, size_t n,
				  enum dob_perr perr, const char *what)
{
	HANDLE h = wt_connect(pipe, 5000);
	if (!CHECK(h != INVALID_HANDLE_VALUE))
		return;
	CHECK(wt_write_all(h, bytes, n));
	struct dob_msg r;
	bool got = read_msg(h, &r);
	if (!CHECK(got && r.type == DOB_MSG_PROTOCOL_ERROR))
		printf("  (%s: got %s)\n", what, got ? dob_msg_type_name(r.type) : "nothing");
	else if (!CHECK_EQ(r.u.protocol_error.code, perr))
		printf("  (%s)\n", what);
	else
		printf("%s -> ProtocolError %s: %s\n", what, dob_perr_name(r.u.protocol_error.code),
		       r.u.protocol_error.message ? r.u.protocol_error.message : "");
	dob_msg_clear(&r);
	char b;
	DWORD k = 0;
	CHECK(!ReadFile(h, &b, 1, &k, NULL)); /* then the broker hangs up */
	CloseHandle(h);
}

/* Issue 5: 100 concurrent clients of dobrokerd.exe, each Hello + Pings. */
#define NCLIENTS 100
static const char *many_pipe;
static volatile LONG many_ok, many_connected;

static unsigned __stdcall many_client(void *arg)
{
	HANDLE h = wt_connect(many_pipe, 30000);
	bool ok = h != INVALID_HANDLE_VALUE && hello(h, "one of many");
	InterlockedIncrement(&many_connected);
	/* Hold the connection until all are in, then ping. */
	for (int i = 0; ok && i < 3000 && many_connected < NCLIENTS; i++)
		Sleep(10);
	for (int i = 0; ok && i < 5; i++)
		ok = ping(h, 100 + (uint64_t)i);
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	if (ok)
		InterlockedIncrement(&many_ok);
	return 0;
}

static void test_many_clients(const char *pipe)
{
	HANDLE th[NCLIENTS];
	many_pipe = pipe;
	for (int i = 0; i < NCLIENTS; i++)
		th[i] = (HANDLE)_beginthreadex(NULL, 256 * 1024, many_client, NULL, 0, NULL);
	for (int i = 0; i < NCLIENTS; i += 50)
		WaitForMultipleObjects(50, th + i, TRUE, 90000);
	for (int i = 0; i < NCLIENTS; i++)
		CloseHandle(th[i]);
	CHECK_EQ(many_ok, NCLIENTS);
	printf("%ld of %d concurrent clients served by dobrokerd.exe\n", (long)many_ok, NCLIENTS);
}

static void wait_pipe(const char *name, DWORD ms)
{
	HANDLE h = wt_connect(name, ms);
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
}

static void test_second_broker_and_bad_frames(void)
{
	char pipe[200], args[1200], args2[1200], err1[700], err2[700];
	wt_unique_pipe(pipe, sizeof(pipe), "brk");
	snprintf(args, sizeof(args),
		 "--backend sim --endpoint %s --state-dir %s\\state1 --handshake-timeout-ms 20000 "
		 "--max-conns 256",
		 pipe, tmpdir);
	snprintf(args2, sizeof(args2), "--backend sim --endpoint %s --state-dir %s\\state2", pipe,
		 tmpdir);
	snprintf(err1, sizeof(err1), "%s\\broker1.log", tmpdir);
	snprintf(err2, sizeof(err2), "%s\\broker2.log", tmpdir);

	PROCESS_INFORMATION b1, b2;
	if (!CHECK(spawn(args, err1, &b1)))
		return;
	wait_pipe(pipe, 15000);
	HANDLE good = wt_connect(pipe, 5000);
	if (!CHECK(good != INVALID_HANDLE_VALUE))
		printf("  first broker said: %s\n", slurp(err1) ? slurp(err1) : "(nothing)");
	CHECK(hello(good, "good client"));

	/* Test 7: a second broker on the name refuses to start. */
	if (CHECK(spawn(args2, err2, &b2))) {
		CHECK_EQ(WaitForSingleObject(b2.hProcess, 20000), WAIT_OBJECT_0);
		DWORD code = 99;
		GetExitCodeProcess(b2.hProcess, &code);
		CHECK_EQ(code, 1);
		char want[400];
		snprintf(want, sizeof(want),
			 "another server is already listening on %s; refusing to start (pipe "
			 "squatting protection)",
			 pipe);
		char *log = slurp(err2);
		if (!CHECK(log && strstr(log, want)))
			printf("  second broker said: %s\n", log ? log : "(nothing)");
		CloseHandle(b2.hProcess);
		CloseHandle(b2.hThread);
	}
	CHECK(ping(good, 7)); /* the first one is unharmed */

	/* Test 8: malformed frames over the real pipe. */
	const uint8_t zero[4] = {0, 0, 0, 0};
	expect_protocol_error(pipe, zero, 4, DOB_PERR_FRAME_EMPTY, "length 0");
	const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
	expect_protocol_error(pipe, huge, 4, DOB_PERR_FRAME_TOO_LARGE, "length 4 GiB");
	const uint8_t junk[9] = {5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff};
	expect_protocol_error(pipe, junk, sizeof(junk), DOB_PERR_MALFORMED, "not an Envelope");
	CHECK(ping(good, 8));

	/* A first message that is not Hello. */
	struct dob_msg p = {.type = DOB_MSG_PING, .correlation_id = 1};
	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ(dob_encode(&p, DOB_MAX_FRAME_DEFAULT, &buf, &len, NULL), 0);
	HANDLE h = wt_connect(pipe, 5000);
	if (CHECK(h != INVALID_HANDLE_VALUE)) {
		CHECK(wt_write_all(h, buf, len));
		struct dob_msg r;
		CHECK(read_msg(h, &r) && r.type == DOB_MSG_PROTOCOL_ERROR);
		dob_msg_clear(&r);
		CloseHandle(h);
	}
	dob_free(buf);
	CHECK(ping(good, 9)); /* served all along */
	test_many_clients(pipe);
	CHECK(ping(good, 10));
	CloseHandle(good);

	TerminateProcess(b1.hProcess, 0);
	WaitForSingleObject(b1.hProcess, 5000);
	CloseHandle(b1.hProcess);
	CloseHandle(b1.hThread);
}

static DWORD run_broker_cmd(const char *args, const char *errfile)
{
	PROCESS_INFORMATION pi;
	DWORD code = 99;
	if (!spawn(args, errfile, &pi))
		return code;
	WaitForSingleObject(pi.hProcess, 30000);
	GetExitCodeProcess(pi.hProcess, &code);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	return code;
}

static DWORD state_of(SC_HANDLE svc)
{
	SERVICE_STATUS st;
	return QueryServiceStatus(svc, &st) ? st.dwCurrentState : 0;
}

static void test_service_mode(void)
{
	char pipe[200], args[1200], log[700];
	wt_unique_pipe(pipe, sizeof(pipe), "brksvc");
	snprintf(log, sizeof(log), "%s\\svc-cmd.log", tmpdir);
	run_broker_cmd("uninstall", log); /* a leftover of an aborted run */
	snprintf(args, sizeof(args), "install --backend sim --endpoint %s --state-dir \"%s\\svc state\"",
		 pipe, tmpdir);
	if (!CHECK_EQ(run_broker_cmd(args, log), 0)) {
		printf("  install said: %s\n", slurp(log) ? slurp(log) : "");
		return;
	}
	CHECK_EQ(run_broker_cmd(args, log), 1); /* twice: already installed */
	char *out = slurp(log);
	CHECK(out && strstr(out, "already installed"));

	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	SC_HANDLE svc = scm ? OpenServiceW(scm, L"dobroker",
					   SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS)
			    : NULL;
	if (CHECK(svc != NULL) && CHECK(StartServiceW(svc, 0, NULL))) {
		WAIT_FOR(state_of(svc) == SERVICE_RUNNING, 20000);
		CHECK_EQ(state_of(svc), SERVICE_RUNNING);
		HANDLE h = wt_connect(pipe, 20000);
		if (CHECK(h != INVALID_HANDLE_VALUE)) {
			CHECK(hello(h, "service client"));
			CHECK(ping(h, 42));
			CloseHandle(h);
		}
		/* The quoted state directory with a space reached the service. */
		char sd[700];
		snprintf(sd, sizeof(sd), "%s\\svc state", tmpdir);
		DWORD a = GetFileAttributesA(sd);
		CHECK(a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY));
		SERVICE_STATUS st;
		CHECK(ControlService(svc, SERVICE_CONTROL_STOP, &st));
		WAIT_FOR(state_of(svc) == SERVICE_STOPPED, 20000);
		CHECK_EQ(state_of(svc), SERVICE_STOPPED);
		if (QueryServiceStatus(svc, &st))
			CHECK_EQ(st.dwWin32ExitCode, NO_ERROR); /* a clean stop: exit 0 */
		/* Stopped means gone from the pipe. */
		HANDLE gone = wt_connect(pipe, 500);
		CHECK(gone == INVALID_HANDLE_VALUE);
		if (gone != INVALID_HANDLE_VALUE)
			CloseHandle(gone);
	}
	if (svc)
		CloseServiceHandle(svc);
	if (scm)
		CloseServiceHandle(scm);
	CHECK_EQ(run_broker_cmd("uninstall", log), 0);
	CHECK_EQ(run_broker_cmd("uninstall", log), 1);
	out = slurp(log);
	CHECK(out && strstr(out, "not installed"));
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	GetModuleFileNameW(NULL, broker_exe, MAX_PATH);
	wchar_t *slash = wcsrchr(broker_exe, L'\\');
	if (slash)
		wcscpy(slash + 1, L"dobrokerd.exe");
	if (!CHECK(GetFileAttributesW(broker_exe) != INVALID_FILE_ATTRIBUTES)) {
		printf("no dobrokerd.exe next to this program\n");
		return wt_finish("broker_pipe_test");
	}
	char t[MAX_PATH];
	GetTempPathA(MAX_PATH, t);
	snprintf(tmpdir, sizeof(tmpdir), "%sdobtest-brk-%lu", t, (unsigned long)GetCurrentProcessId());
	CreateDirectoryA(tmpdir, NULL);

	test_second_broker_and_bad_frames();
	test_service_mode();
	return wt_finish("broker_pipe_test");
}
