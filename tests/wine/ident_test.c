/*
 * ident_test.exe - the identity the platform gives handlers.accepted for a
 * client in another process, and the confused-deputy path check that uses
 * the token kept for it (run under Wine by scripts/check.sh).
 *
 * The test starts itself as a child ("ident_test.exe child PIPE"), which
 * connects as the client library does and waits. The identity must carry
 * the child's pid (from CreateProcess), the user SID and integrity level of
 * the child's token (read here independently), no AppContainer SID, and
 * sandboxed/privileged as computed here from the token's groups. Under Wine
 * the values are also checked against what Wine 8 is known to report
 * (S-1-5-21-0-0-0-1000, integrity 0x3000, member of Administrators).
 * plat_check_paths (the form the broker uses) answers on the loop thread
 * with the first refused path's index, and a check started on a stopped
 * loop is answered while plat_loop_free drains the workers.
 */
#include <process.h>
#include <stdlib.h>

#include <aclapi.h>
#include <sddl.h>

#include "wtest.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "dob/msg.h"
#include "platform.h"
#include "win32/win.h"

static struct plat_loop *loop;
static struct dob_identity seen;
static volatile LONG n_accepted, n_closed, child_pid_seen;
static HANDLE loop_done;

static void on_accepted(void *ctx, struct plat_conn *c, const struct dob_identity *peer)
{
	if (InterlockedIncrement(&n_accepted) == 1)
		dob_identity_copy(&seen, peer);
	InterlockedExchange(&child_pid_seen, (LONG)peer->pid);
}

static void on_data(void *ctx, struct plat_conn *c, const uint8_t *p, size_t n)
{
	static const uint8_t ok[1] = {'k'};
	plat_conn_write(c, ok, 1);
}

static void on_closed(void *ctx, struct plat_conn *c, int err)
{
	InterlockedIncrement(&n_closed);
}

static void on_sent(void *ctx, struct plat_conn *c, int status)
{
}

static void on_posted(void *ctx, void *msg)
{
	struct plat_msg *m = msg;
	m->run(m);
}

static const struct plat_handlers handlers = {
	.accepted = on_accepted, .data = on_data, .sent = on_sent, .closed = on_closed,
	.posted = on_posted};

/* plat_check_paths results. */
struct check_seen {
	volatile LONG done;
	int status;
	size_t index;
	DWORD thread;
};

static void check_cb(void *ctx, int status, size_t index)
{
	struct check_seen *c = ctx;
	c->status = status;
	c->index = index;
	c->thread = GetCurrentThreadId();
	InterlockedExchange(&c->done, 1);
}

static unsigned __stdcall loop_thread(void *arg)
{
	plat_loop_run(loop);
	SetEvent(loop_done);
	return 0;
}

static int child(const char *name)
{
	HANDLE h = wt_connect(name, 10000);
	if (h == INVALID_HANDLE_VALUE)
		return 3;
	char b;
	/* Say something, then wait for the parent to hang up. */
	if (!wt_write_all(h, "h", 1) || !wt_read_all(h, &b, 1))
		return 4;
	wt_read_all(h, &b, 1);
	CloseHandle(h);
	return 0;
}

static bool under_wine(void)
{
	return GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
}

/* What the test itself reads from a process's token. */
struct expect {
	char user[200];
	DWORD rid;
	bool admin;  /* Administrators enabled, not deny-only */
	bool system;
};

static bool read_expect(HANDLE proc, struct expect *x)
{
	HANDLE tok;
	union {
		TOKEN_USER tu;
		TOKEN_MANDATORY_LABEL ml;
		TOKEN_GROUPS tg;
		uint8_t b[8192];
	} u;
	DWORD n;
	char *s = NULL;
	memset(x, 0, sizeof(*x));
	if (!OpenProcessToken(proc, TOKEN_QUERY, &tok))
		return false;
	bool ok = GetTokenInformation(tok, TokenUser, &u, sizeof(u), &n) &&
		  ConvertSidToStringSidA(u.tu.User.Sid, &s);
	if (ok) {
		snprintf(x->user, sizeof(x->user), "%s", s);
		LocalFree(s);
		x->system = strcmp(x->user, "S-1-5-18") == 0;
	}
	ok = ok && GetTokenInformation(tok, TokenIntegrityLevel, &u, sizeof(u), &n);
	if (ok) {
		PSID sid = u.ml.Label.Sid;
		x->rid = *GetSidSubAuthority(sid, *GetSidSubAuthorityCount(sid) - 1);
	}
	ok = ok && GetTokenInformation(tok, TokenGroups, &u, sizeof(u), &n);
	for (DWORD i = 0; ok && i < u.tg.GroupCount; i++) {
		if (ConvertSidToStringSidA(u.tg.Groups[i].Sid, &s)) {
			if (strcmp(s, "S-1-5-32-544") == 0 &&
			    (u.tg.Groups[i].Attributes & SE_GROUP_ENABLED) &&
			    !(u.tg.Groups[i].Attributes & SE_GROUP_USE_FOR_DENY_ONLY))
				x->admin = true;
			LocalFree(s);
		}
	}
	CloseHandle(tok);
	return ok;
}

/* A directory only SYSTEM may use (the test's user has no ACE). */
static bool make_locked_dir(const wchar_t *path)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;OICI;FA;;;SY)",
								  SDDL_REVISION_1, &sd, NULL))
		return false;
	SECURITY_ATTRIBUTES sa = {sizeof(sa), sd, FALSE};
	BOOL ok = CreateDirectoryW(path, &sa);
	LocalFree(sd);
	return ok;
}

static void test_path_checks(const struct dob_identity *who)
{
	wchar_t tmpw[MAX_PATH], dirw[MAX_PATH], lockw[MAX_PATH];
	char *tmp = NULL, dir[600], file[700], lockfile[700];
	GetTempPathW(MAX_PATH, tmpw);
	swprintf(dirw, MAX_PATH, L"%lsdobtest-path-%lu", tmpw, (unsigned long)GetCurrentProcessId());
	swprintf(lockw, MAX_PATH, L"%ls\\locked", dirw);
	CHECK(CreateDirectoryW(dirw, NULL));
	win_wide_to_utf8(dirw, &tmp);
	snprintf(dir, sizeof(dir), "%s", tmp);
	dob_free(tmp);
	snprintf(file, sizeof(file), "%s\\out.bin", dir);
	snprintf(lockfile, sizeof(lockfile), "%s\\locked\\out.bin", dir);

	CHECK_EQ(plat_check_path_writable(who, file), 0);
	/* An existing file it may write. */
	HANDLE f = CreateFileA(file, GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL);
	CHECK(f != INVALID_HANDLE_VALUE);
	CloseHandle(f);
	CHECK_EQ(plat_check_path_writable(who, file), 0);
	/* Missing directory; a directory; not absolute; "..". */
	char missing[700];
	snprintf(missing, sizeof(missing), "%s\\nope\\out.bin", dir);
	CHECK_EQ(plat_check_path_writable(who, missing), -DOB_ENOTFOUND);
	CHECK_EQ(plat_check_path_writable(who, dir), -DOB_EACCES);
	/* Forms refused whoever asks (-DOB_EINVAL: the core answers
	 * INVALID_ARGUMENT), before any file system call: relative, "..",
	 * UNC (no SMB with the broker's credentials), device, \\?\, an
	 * alternate stream, a DOS device name. */
	CHECK_EQ(plat_check_path_writable(who, "out.bin"), -DOB_EINVAL);
	char dotdot[700], stream[700], dev[700];
	snprintf(dotdot, sizeof(dotdot), "%s\\..\\out.bin", dir);
	CHECK_EQ(plat_check_path_writable(who, dotdot), -DOB_EINVAL);
	CHECK_EQ(plat_check_path_writable(who, "\\\\server\\share\\out.bin"), -DOB_EINVAL);
	CHECK_EQ(plat_check_path_writable(who, "\\\\.\\pipe\\dobroker"), -DOB_EINVAL);
	snprintf(stream, sizeof(stream), "\\\\?\\%s", file);
	CHECK_EQ(plat_check_path_writable(who, stream), -DOB_EINVAL);
	snprintf(stream, sizeof(stream), "%s:evil", file);
	CHECK_EQ(plat_check_path_writable(who, stream), -DOB_EINVAL);
	snprintf(dev, sizeof(dev), "%s\\nul.txt", dir);
	CHECK_EQ(plat_check_path_writable(who, dev), -DOB_EINVAL);
	CHECK_EQ(plat_check_path_writable(who, "C:out.bin"), -DOB_EINVAL);
	/* A drive letter with no drive behind it: not found, before any other
	 * call (a network drive is refused the same way, as UNC: Windows). */
	for (wchar_t d = L'Q'; d <= L'Y'; d++) {
		wchar_t r[4] = {d, L':', L'\\', 0};
		if (GetDriveTypeW(r) != DRIVE_NO_ROOT_DIR)
			continue;
		char nod[16];
		snprintf(nod, sizeof(nod), "%lc:\\x\\f.bin", d);
		CHECK_EQ(plat_check_path_writable(who, nod), -DOB_ENOTFOUND);
		break;
	}
	/* Another pid, or the right pid with another user: no token, refused. */
	struct dob_identity other = *who;
	other.pid = who->pid + 4;
	CHECK_EQ(plat_check_path_writable(&other, file), -DOB_EACCES);
	other = *who;
	other.user_sid = "S-1-5-21-1-2-3-1001";
	CHECK_EQ(plat_check_path_writable(&other, file), -DOB_EACCES);
	/* A directory whose DACL does not let the client add a file. */
	if (CHECK(make_locked_dir(lockw)))
		CHECK_EQ(plat_check_path_writable(who, lockfile), -DOB_EACCES);

	/* Acting as the client (service mode's job creation) fails closed: no
	 * live connection; a token that is not impersonation level (the child
	 * connects with SECURITY_IDENTIFICATION, and under Wine the identity
	 * comes from the process-token fallback, never more than that). */
	other = *who;
	other.pid = who->pid + 4;
	CHECK_EQ(win_impersonate_client(&other), -DOB_ENOTFOUND);
	CHECK_EQ(win_impersonate_client(who), -DOB_EACCES);
	HANDLE still = NULL;
	CHECK(!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &still));
	if (still)
		CloseHandle(still);

	DeleteFileA(file);
	RemoveDirectoryW(lockw);
	RemoveDirectoryW(dirw);
}

/* plat_check_paths: the checks run on a worker, the answer comes on the
 * loop thread; a check started on a loop that is not running is answered
 * while plat_loop_free drains (never posted to a freed loop). */
static void test_async_checks(const struct dob_identity *who, DWORD loop_tid)
{
	char tmp[MAX_PATH], ok[MAX_PATH + 64];
	GetTempPathA(MAX_PATH, tmp);
	snprintf(ok, sizeof(ok), "%sdobtest-async-%lu.bin", tmp, (unsigned long)GetCurrentProcessId());
	const char *paths[3] = {ok, "\\\\server\\share\\x.bin", ok};
	struct check_seen a = {0}, b = {0};

	CHECK_EQ(plat_check_paths(loop, who, paths, 1, check_cb, &a), 0);
	WAIT_FOR(a.done, 10000);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.index, 1);
	CHECK_EQ(a.thread, loop_tid);
	CHECK_EQ(plat_check_paths(loop, who, paths, 3, check_cb, &b), 0);
	WAIT_FOR(b.done, 10000);
	CHECK_EQ(b.status, -DOB_EINVAL);
	CHECK_EQ(b.index, 1);
	CHECK_EQ(b.thread, loop_tid);
	CHECK_EQ(plat_check_paths(loop, who, paths, 0, check_cb, &b), -DOB_EINVAL);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && strcmp(argv[1], "child") == 0)
		return child(argv[2]);

	char name[200], err[512] = "";
	wt_unique_pipe(name, sizeof(name), "ident");
	loop_done = CreateEventW(NULL, TRUE, FALSE, NULL);
	CHECK_EQ(plat_loop_new(&loop, &handlers), 0);
	struct plat_listen_opts o = {.endpoint = name};
	if (!CHECK_EQ(plat_listen(loop, &o, err, sizeof(err)), 0)) {
		printf("plat_listen: %s\n", err);
		return wt_finish("ident_test");
	}
	unsigned loop_tid = 0;
	HANDLE lt = (HANDLE)_beginthreadex(NULL, 0, loop_thread, NULL, 0, &loop_tid);

	/* The identity fields from the test's own token. */
	struct dob_identity self;
	char why[512] = "";
	HANDLE tok = NULL, imp = NULL;
	CHECK(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | TOKEN_DUPLICATE, &tok));
	CHECK(DuplicateTokenEx(tok, TOKEN_QUERY, NULL, SecurityIdentification, TokenImpersonation,
			       &imp));
	if (!CHECK_EQ(win_token_identity(imp, &self, why, sizeof(why)), 0))
		printf("  %s\n", why);
	CloseHandle(imp);
	/* The same from the primary token (duplicated inside). */
	struct dob_identity prim;
	CHECK_EQ(win_token_identity(tok, &prim, why, sizeof(why)), 0);
	CHECK_STR(prim.user_sid, self.user_sid);
	CHECK_EQ(prim.integrity_rid, self.integrity_rid);
	CHECK_EQ(prim.privileged, self.privileged);
	dob_identity_clear(&prim);
	CloseHandle(tok);

	wchar_t exe[MAX_PATH], cmd[MAX_PATH + 300], wname[200];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	MultiByteToWideChar(CP_UTF8, 0, name, -1, wname, 200);
	swprintf(cmd, MAX_PATH + 300, L"\"%ls\" child %ls", exe, wname);
	STARTUPINFOW si = {.cb = sizeof(si)};
	PROCESS_INFORMATION pi;
	if (!CHECK(CreateProcessW(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)))
		return wt_finish("ident_test");

	WAIT_FOR(n_accepted >= 1, 10000);
	CHECK_EQ(n_accepted, 1);
	struct expect x;
	CHECK(read_expect(pi.hProcess, &x));
	CHECK_EQ(seen.pid, pi.dwProcessId);
	CHECK(seen.pid != GetCurrentProcessId());
	CHECK_STR(seen.user_sid, x.user);
	CHECK_EQ(seen.integrity_rid, x.rid);
	CHECK(seen.appcontainer_sid == NULL || seen.appcontainer_sid[0] == 0);
	CHECK_EQ(seen.sandboxed, x.rid < SECURITY_MANDATORY_MEDIUM_RID);
	CHECK_EQ(seen.privileged, x.admin || x.system);
	CHECK_STR(self.user_sid, x.user);
	CHECK_EQ(self.integrity_rid, x.rid);
	printf("identity: pid %lu user %s integrity 0x%lx sandboxed %d privileged %d\n",
	       (unsigned long)seen.pid, seen.user_sid ? seen.user_sid : "(null)",
	       (unsigned long)seen.integrity_rid, seen.sandboxed, seen.privileged);
	if (under_wine()) {
		/* What Wine 8 is measured to report (reference/do-api.md 9). */
		CHECK_STR(seen.user_sid, "S-1-5-21-0-0-0-1000");
		CHECK_EQ(seen.integrity_rid, 0x3000);
		CHECK_EQ(seen.sandboxed, false);
		CHECK_EQ(seen.privileged, true);
	}

	test_path_checks(&seen);
	test_async_checks(&seen, loop_tid);

	/* The child hangs up when the loop is freed; its token goes with it. */
	plat_loop_stop(loop);
	CHECK_EQ(WaitForSingleObject(loop_done, 5000), WAIT_OBJECT_0);
	/* A check started now is answered while the loop is freed. */
	struct check_seen late = {0};
	const char *late_path[1] = {"relative\\x.bin"};
	CHECK_EQ(plat_check_paths(loop, &seen, late_path, 1, check_cb, &late), 0);
	plat_loop_free(loop);
	CHECK_EQ(late.done, 1);
	CHECK_EQ(late.status, -DOB_EINVAL);
	CHECK_EQ(WaitForSingleObject(pi.hProcess, 10000), WAIT_OBJECT_0);
	DWORD code = 99;
	GetExitCodeProcess(pi.hProcess, &code);
	CHECK_EQ(code, 0);
	char file[700];
	wchar_t tmpw[MAX_PATH];
	char *tmp = NULL;
	GetTempPathW(MAX_PATH, tmpw);
	win_wide_to_utf8(tmpw, &tmp);
	snprintf(file, sizeof(file), "%sdobtest-after.bin", tmp);
	dob_free(tmp);
	CHECK_EQ(plat_check_path_writable(&seen, file), -DOB_EACCES);

	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	CloseHandle(lt);
	dob_identity_clear(&seen);
	dob_identity_clear(&self);
	return wt_finish("ident_test");
}
