/*
 * acceptance_test.exe - the trust model on a real Windows 10/11 machine
 * (docs/security.md, "What only Windows can verify").
 *
 * Meant to run as a standard user with the broker installed as a service
 * (`dobrokerd.exe install --allow-sandboxed=true`, started): it checks what
 * an ordinary app, an AppContainer child (AppContainer profile +
 * SECURITY_CAPABILITIES with internetClient) and a low-integrity child
 * (CreateProcessAsUser with a token labelled S-1-16-4096) may do; that a
 * squatter (a low-integrity process serving a pipe) is refused by the
 * client library; and that the DO backend reports the JobError of a 404
 * from a local HTTP server; and that a job the service creates for a
 * client is the client's (its owner, as the backend reads it, is the
 * client's SID: the service impersonated it with cloaking).
 * .github/workflows/windows.yml runs it on a hosted Windows runner.
 *
 * Every check prints one line: PASS name, FAIL name: why, or SKIPPED name:
 * why -- a check that cannot be made here is SKIPPED with the reason, never
 * counted as passed. Under Wine (make check) no broker service runs, so the
 * program installs dobrokerd.exe (next to it) as the service with the sim
 * backend on a pipe of its own, starts it through the SCM, and uninstalls
 * it at the end; Wine has no AppContainers, runs "low-integrity" children
 * at High, runs every process as an administrator and has no Delivery
 * Optimization, and each check that needs one of those says so.
 *
 *   acceptance_test.exe [PIPE]      PIPE default \\.\pipe\dobroker
 * Children (started by the program itself):
 *   acceptance_test.exe child ac|low PIPE JOB DIR [AC_SID]
 *   acceptance_test.exe squat NAME
 * The last line is "N passed, N failed" (skips are listed above it).
 */
#include <winsock2.h>
#include <windows.h>

#include <aclapi.h>
#include <process.h>
#include <sddl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/msg.h"
#include "dobclient.h"

#define CLIENT_RIGHTS 0x0012019Bu
#define AC_NAME L"dobroker.acceptance"
#define TIMEOUT 10000

static unsigned n_pass, n_fail, n_skip;

static void pass(const char *name)
{
	printf("PASS %s\n", name);
	n_pass++;
}

static void failf(const char *name, const char *fmt, ...)
{
	va_list ap;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	n_fail++;
}

static void skipf(const char *name, const char *fmt, ...)
{
	va_list ap;
	printf("SKIPPED %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	n_skip++;
}

static void check(bool ok, const char *name, const char *why)
{
	if (ok)
		pass(name);
	else
		failf(name, "%s", why);
}

static bool under_wine(void)
{
	return GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
}

static DWORD token_integrity(HANDLE tok)
{
	union {
		TOKEN_MANDATORY_LABEL ml;
		BYTE b[sizeof(TOKEN_MANDATORY_LABEL) + SECURITY_MAX_SID_SIZE];
	} u;
	DWORD n;
	if (!GetTokenInformation(tok, TokenIntegrityLevel, &u, sizeof(u), &n))
		return 0xFFFFFFFF;
	return *GetSidSubAuthority(u.ml.Label.Sid, *GetSidSubAuthorityCount(u.ml.Label.Sid) - 1u);
}

static DWORD own_integrity(void)
{
	HANDLE t;
	DWORD rid = 0xFFFFFFFF;
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &t)) {
		rid = token_integrity(t);
		CloseHandle(t);
	}
	return rid;
}

static struct dobc *connect_to(const char *pipe, const char *name, int *err, char *why,
			       size_t whylen)
{
	struct dobc_error e;
	struct dobc_options o = {.endpoint = pipe, .client_name = name,
				 .role = DOB_ROLE_CONTROLLER, .connect_timeout_ms = TIMEOUT,
				 .error = &e};
	struct dobc *c = NULL;
	memset(&e, 0, sizeof(e));
	*err = dobc_connect(&c, &o);
	snprintf(why, whylen, "%s (%s)", dobc_strerror(*err), e.message);
	return c;
}

static int submit(struct dobc *c, const char *url, const char *path, struct dob_guid *id,
		  enum dob_status *st, char *msg, size_t msglen)
{
	struct dob_file_spec f = {.remote_url = (char *)url, .local_path = (char *)path};
	struct dob_submit_job req = {.display_name = (char *)"acceptance", .n_files = 1,
				     .files = &f, .priority = DOB_PRIORITY_NORMAL};
	struct dob_job_reply r;
	memset(&r, 0, sizeof(r));
	int err = dobc_submit(c, &req, &r, TIMEOUT);
	*st = r.status;
	if (id && r.has_job)
		*id = r.job.job.job_id;
	snprintf(msg, msglen, "%s", r.message ? r.message : dobc_strerror(err));
	dobc_job_reply_clear(&r);
	return err;
}

static size_t visible_jobs(struct dobc *c)
{
	struct dob_list_jobs_reply l;
	memset(&l, 0, sizeof(l));
	size_t n = dobc_list_jobs(c, &l, TIMEOUT) == 0 ? l.n_jobs : (size_t)-1;
	dobc_list_jobs_reply_clear(&l);
	return n;
}

/* May this process create an instance of the broker's pipe? The broker
 * holds its whole pool, and its DACL gives FILE_CREATE_PIPE_INSTANCE to its
 * own identity alone: any attempt must fail. */
static bool can_create_instance(const char *pipe, DWORD *err)
{
	wchar_t w[300];
	MultiByteToWideChar(CP_UTF8, 0, pipe, -1, w, 300);
	HANDLE h = CreateNamedPipeW(w, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES,
				    4096, 4096, 0, NULL);
	*err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	return h != INVALID_HANDLE_VALUE;
}

/* ------------------------------------------------------------ children */

/* A child's verdicts travel in its exit code (its lines are for people):
 * fails << 16 | passes << 8 | skips. */
static int verdicts(void)
{
	return (int)((n_fail & 0xFF) << 16 | (n_pass & 0xFF) << 8 | (n_skip & 0xFF));
}

static void count_child(const char *what, DWORD code)
{
	if (code > 0xFFFFFF) {
		failf(what, "the child ended with 0x%08lx", (unsigned long)code);
		return;
	}
	n_fail += (code >> 16) & 0xFF;
	n_pass += (code >> 8) & 0xFF;
	n_skip += code & 0xFF;
}

/* A sandboxed child: what it may and may not do. */
static int child(const char *kind, const char *pipe, const char *job, const char *dir,
		 const char *ac_sid)
{
	char name[64], why[700], msg[512];
	bool ac = strcmp(kind, "ac") == 0;
	DWORD rid = own_integrity();
	struct dob_guid parent;
	int err;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!ac && rid != SECURITY_MANDATORY_LOW_RID) {
		skipf("low-integrity-child", "this system ran the child at integrity 0x%lx, not low "
			 "(Wine runs low-integrity children at High)", (unsigned long)rid);
		return verdicts();
	}
	snprintf(name, sizeof(name), "%s-child", kind);
	struct dobc *c = connect_to(pipe, name, &err, why, sizeof(why));
	snprintf(name, sizeof(name), "%s-child-admitted", kind);
	if (!c) {
		failf(name, "the broker (installed with --allow-sandboxed=true) refused it: %s", why);
		return verdicts();
	}
	pass(name);
	const struct dob_identity *id = &dobc_welcome(c)->identity;
	snprintf(name, sizeof(name), "%s-child-identity", kind);
	if (!id->sandboxed || id->privileged)
		failf(name, "Welcome says sandboxed=%d privileged=%d", id->sandboxed, id->privileged);
	else if (ac && (!id->appcontainer_sid || strcmp(id->appcontainer_sid, ac_sid) != 0))
		failf(name, "Welcome's AppContainer SID is %s, want %s",
		      id->appcontainer_sid ? id->appcontainer_sid : "(none)", ac_sid);
	else if (ac && !id->internet_client)
		failf(name, "Welcome does not report the internetClient capability");
	else if (!ac && id->integrity_rid != SECURITY_MANDATORY_LOW_RID)
		failf(name, "Welcome's integrity is 0x%lx", (unsigned long)id->integrity_rid);
	else
		pass(name);

	dob_guid_parse(job, &parent);
	snprintf(name, sizeof(name), "%s-child-sees-only-its-own-jobs", kind);
	size_t n = visible_jobs(c);
	check(n == 0, name, "it lists jobs of its user's medium-integrity app");
	struct dob_action_result ar;
	memset(&ar, 0, sizeof(ar));
	err = dobc_act(c, &parent, 0, DOB_ACTION_SUSPEND, 0, &ar, TIMEOUT);
	snprintf(name, sizeof(name), "%s-child-cannot-act-on-others", kind);
	check(err == -DOB_EREMOTE && ar.status == DOB_STATUS_UNKNOWN_JOB, name,
	      "acting on the parent's job was not answered UNKNOWN_JOB");
	dobc_action_result_clear(&ar);
	struct dob_job_reply jr;
	memset(&jr, 0, sizeof(jr));
	err = dobc_adopt(c, &parent, NULL, &jr, TIMEOUT);
	snprintf(name, sizeof(name), "%s-child-cannot-adopt", kind);
	check(err == -DOB_EREMOTE && jr.status == DOB_STATUS_ACCESS_DENIED, name,
	      "AdoptJob was not refused with ACCESS_DENIED");
	dobc_job_reply_clear(&jr);

	/* Downloads: the AppContainer has internetClient; a low-integrity
	 * process has no capabilities and is not in the allow-list. */
	char path[700];
	struct dob_guid mine;
	enum dob_status st = 0;
	snprintf(path, sizeof(path), "%s\\%s.bin", dir, kind);
	err = submit(c, "http://127.0.0.1:9/acceptance", path, &mine, &st, msg, sizeof(msg));
	snprintf(name, sizeof(name), ac ? "ac-child-submits-with-internetClient"
					: "low-child-cannot-make-the-broker-download");
	if (ac) {
		check(err == 0, name, msg);
		snprintf(name, sizeof(name), "ac-child-sees-its-own-job");
		check(err != 0 || visible_jobs(c) == 1, name, "its own job is not listed");
	} else {
		check(err == -DOB_EREMOTE && st == DOB_STATUS_ACCESS_DENIED, name, msg);
	}
	DWORD e = 0;
	snprintf(name, sizeof(name), "%s-child-cannot-create-a-pipe-instance", kind);
	if (can_create_instance(pipe, &e))
		failf(name, "CreateNamedPipe on the broker's name succeeded");
	else
		pass(name);
	dobc_close(c);
	return verdicts();
}

/* A squatter: serves a pipe of its own and waits for a client. */
static int squat(const char *name)
{
	wchar_t w[300];
	MultiByteToWideChar(CP_UTF8, 0, name, -1, w, 300);
	HANDLE h = CreateNamedPipeW(w, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 4096, 4096, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 2;
	ConnectNamedPipe(h, NULL);
	char b[16];
	DWORD n = 0, got = 0;
	while (ReadFile(h, b, sizeof(b), &n, NULL) && n)
		got += n;
	CloseHandle(h);
	return got == 0 ? 0 : 3; /* 3: the client sent it bytes */
}

/* Runs cmd with its stdout into a pipe we read and echo (a child's check
 * lines count as ours). token: CreateProcessAsUser with it; attrs: an
 * attribute list (AppContainer). */
static DWORD run_child(wchar_t *cmd, HANDLE token, LPPROC_THREAD_ATTRIBUTE_LIST attrs,
		       HANDLE *keep_process)
{
	SECURITY_ATTRIBUTES sa = {.nLength = sizeof(sa), .bInheritHandle = TRUE};
	HANDLE rd, wr;
	if (!CreatePipe(&rd, &wr, &sa, 0))
		return 0xFFFFFFFF;
	SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
	STARTUPINFOEXW si;
	memset(&si, 0, sizeof(si));
	si.StartupInfo.cb = attrs ? sizeof(si) : sizeof(si.StartupInfo);
	si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
	si.StartupInfo.hStdOutput = wr;
	si.StartupInfo.hStdError = wr;
	si.lpAttributeList = attrs;
	PROCESS_INFORMATION pi;
	BOOL ok = token ? CreateProcessAsUserW(token, NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL,
					       &si.StartupInfo, &pi)
			: CreateProcessW(NULL, cmd, NULL, NULL, TRUE,
					 attrs ? EXTENDED_STARTUPINFO_PRESENT : 0, NULL, NULL,
					 &si.StartupInfo, &pi);
	DWORD code = 0xFFFFFFFF;
	CloseHandle(wr);
	if (!ok) {
		printf("  CreateProcess: error %lu\n", (unsigned long)GetLastError());
		CloseHandle(rd);
		return code;
	}
	if (keep_process) {
		/* The caller talks to it; our reading would block. */
		CloseHandle(rd);
		CloseHandle(pi.hThread);
		*keep_process = pi.hProcess;
		return 0;
	}
	char buf[512];
	DWORD n;
	while (ReadFile(rd, buf, sizeof(buf) - 1, &n, NULL) && n) {
		buf[n] = 0;
		fputs(buf, stdout);
	}
	CloseHandle(rd);
	if (WaitForSingleObject(pi.hProcess, 120000) == WAIT_OBJECT_0)
		GetExitCodeProcess(pi.hProcess, &code);
	else
		TerminateProcess(pi.hProcess, 1);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	return code;
}

/* A primary token of ours labelled low integrity (NULL on failure). */
static HANDLE low_token(void)
{
	HANDLE self = NULL, low = NULL;
	PSID sid = NULL;
	if (!OpenProcessToken(GetCurrentProcess(),
			      TOKEN_DUPLICATE | TOKEN_QUERY | TOKEN_ADJUST_DEFAULT |
				      TOKEN_ASSIGN_PRIMARY,
			      &self))
		return NULL;
	if (DuplicateTokenEx(self, 0, NULL, SecurityImpersonation, TokenPrimary, &low) &&
	    ConvertStringSidToSidW(L"S-1-16-4096", &sid)) {
		TOKEN_MANDATORY_LABEL tml = {.Label = {.Sid = sid, .Attributes = SE_GROUP_INTEGRITY}};
		if (!SetTokenInformation(low, TokenIntegrityLevel, &tml,
					 sizeof(tml) + GetLengthSid(sid))) {
			CloseHandle(low);
			low = NULL;
		}
	}
	if (sid)
		LocalFree(sid);
	CloseHandle(self);
	return low;
}

/* Grants sid (text) access on path (inherited by what is inside). */
static bool grant(const wchar_t *path, PSID sid, DWORD rights)
{
	PACL old = NULL, acl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	if (GetNamedSecurityInfoW(path, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL,
				  &old, NULL, &sd) != ERROR_SUCCESS)
		return false;
	EXPLICIT_ACCESSW ea = {.grfAccessPermissions = rights, .grfAccessMode = GRANT_ACCESS,
			       .grfInheritance = SUB_CONTAINERS_AND_OBJECTS_INHERIT,
			       .Trustee = {.TrusteeForm = TRUSTEE_IS_SID,
					   .TrusteeType = TRUSTEE_IS_WELL_KNOWN_GROUP,
					   .ptstrName = (LPWSTR)sid}};
	bool ok = SetEntriesInAclW(1, &ea, old, &acl) == ERROR_SUCCESS &&
		  SetNamedSecurityInfoW((LPWSTR)path, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
					NULL, NULL, acl, NULL) == ERROR_SUCCESS;
	if (acl)
		LocalFree(acl);
	LocalFree(sd);
	return ok;
}

typedef HRESULT(WINAPI *create_profile_fn)(PCWSTR, PCWSTR, PCWSTR, PSID_AND_ATTRIBUTES, DWORD,
					   PSID *);
typedef HRESULT(WINAPI *derive_sid_fn)(PCWSTR, PSID *);
typedef HRESULT(WINAPI *delete_profile_fn)(PCWSTR);

static void ac_child(const char *pipe, const char *job, const wchar_t *dir)
{
	HMODULE ue = LoadLibraryW(L"userenv.dll");
	create_profile_fn create = ue ? (create_profile_fn)(void *)GetProcAddress(
						ue, "CreateAppContainerProfile")
				      : NULL;
	derive_sid_fn derive = ue ? (derive_sid_fn)(void *)GetProcAddress(
					    ue, "DeriveAppContainerSidFromAppContainerName")
				  : NULL;
	delete_profile_fn del = ue ? (delete_profile_fn)(void *)GetProcAddress(
					     ue, "DeleteAppContainerProfile")
				   : NULL;
	if (!create || !derive || !del) {
		skipf("ac-child", "no CreateAppContainerProfile in userenv.dll (Wine has no "
				  "AppContainers)");
		return;
	}
	PSID ac = NULL, cap = NULL;
	HRESULT hr = create(AC_NAME, L"dobroker acceptance", L"dobroker acceptance test", NULL,
			    0, &ac);
	if (hr == HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS))
		hr = derive(AC_NAME, &ac);
	if (FAILED(hr) || !ConvertStringSidToSidW(L"S-1-15-3-1", &cap)) {
		failf("ac-child", "AppContainer profile: 0x%08lx", (unsigned long)hr);
		return;
	}
	/* The child must read and run this program and write its download's
	 * directory. */
	wchar_t exe[MAX_PATH];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	wchar_t *slash = wcsrchr(exe, L'\\');
	*slash = 0;
	grant(exe, ac, GENERIC_READ | GENERIC_EXECUTE);
	*slash = L'\\';
	grant(dir, ac, GENERIC_ALL);
	SID_AND_ATTRIBUTES caps = {.Sid = cap, .Attributes = SE_GROUP_ENABLED};
	SECURITY_CAPABILITIES sc = {.AppContainerSid = ac, .Capabilities = &caps,
				    .CapabilityCount = 1};
	SIZE_T size = 0;
	InitializeProcThreadAttributeList(NULL, 1, 0, &size);
	LPPROC_THREAD_ATTRIBUTE_LIST attrs = malloc(size);
	char *acs = NULL;
	ConvertSidToStringSidA(ac, &acs);
	if (attrs && InitializeProcThreadAttributeList(attrs, 1, 0, &size) &&
	    UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES, &sc,
				      sizeof(sc), NULL, NULL)) {
		wchar_t cmd[2048];
		swprintf(cmd, 2048, L"\"%ls\" child ac %hs %hs \"%ls\" %hs", exe, pipe, job, dir,
			 acs ? acs : "?");
		count_child("ac-child", run_child(cmd, NULL, attrs, NULL));
		DeleteProcThreadAttributeList(attrs);
	} else {
		failf("ac-child", "cannot set SECURITY_CAPABILITIES: error %lu",
		      (unsigned long)GetLastError());
	}
	free(attrs);
	if (acs)
		LocalFree(acs);
	LocalFree(cap);
	FreeSid(ac);
	del(AC_NAME);
}

static void low_child(const char *pipe, const char *job, const wchar_t *dir)
{
	HANDLE low = low_token();
	if (!low) {
		failf("low-child", "cannot make a low-integrity token: error %lu",
		      (unsigned long)GetLastError());
		return;
	}
	wchar_t exe[MAX_PATH], cmd[2048];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	swprintf(cmd, 2048, L"\"%ls\" child low %hs %hs \"%ls\"", exe, pipe, job, dir);
	count_child("low-child", run_child(cmd, low, NULL, NULL));
	CloseHandle(low);
}

/* A low-integrity squatter on a name of its own: the client library must
 * refuse it before sending a byte. */
static void squatter(void)
{
	char name[128];
	snprintf(name, sizeof(name), "\\\\.\\pipe\\dobroker-squat-%lu",
		 (unsigned long)GetCurrentProcessId());
	HANDLE low = low_token(), proc = NULL;
	wchar_t exe[MAX_PATH], cmd[1024];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	swprintf(cmd, 1024, L"\"%ls\" squat %hs", exe, name);
	if (!low || run_child(cmd, low, NULL, &proc) != 0 || !proc) {
		failf("squatter-refused", "cannot start the squatter");
		if (low)
			CloseHandle(low);
		return;
	}
	HANDLE pt = NULL;
	DWORD rid = 0xFFFFFFFF;
	if (OpenProcessToken(proc, TOKEN_QUERY, &pt)) {
		rid = token_integrity(pt);
		CloseHandle(pt);
	}
	char why[700];
	int err = 0;
	/* Wait for its pipe, then connect through the library. */
	wchar_t w[200];
	MultiByteToWideChar(CP_UTF8, 0, name, -1, w, 200);
	for (int i = 0; i < 100 && !WaitNamedPipeW(w, 100); i++)
		Sleep(50);
	struct dobc *c = connect_to(name, "victim", &err, why, sizeof(why));
	if (rid != SECURITY_MANDATORY_LOW_RID) {
		skipf("squatter-refused", "the squatter ran at integrity 0x%lx, not low (Wine runs "
			 "low-integrity children at High), so it is this user's own process",
			 (unsigned long)rid);
	} else if (c) {
		failf("squatter-refused", "the library connected to a low-integrity server");
	} else if (err != -DOBC_ESERVER_AUTH) {
		failf("squatter-refused", "refused, but not by server authentication: %s", why);
	} else {
		pass("squatter-refused");
	}
	dobc_close(c);
	DWORD code = 99;
	if (WaitForSingleObject(proc, 10000) != WAIT_OBJECT_0)
		TerminateProcess(proc, 1);
	GetExitCodeProcess(proc, &code);
	if (rid == SECURITY_MANDATORY_LOW_RID)
		check(code == 0, "squatter-got-no-bytes", "the squatter received bytes");
	CloseHandle(proc);
	CloseHandle(low);
}

/* ------------------------------------------------------------ DO: a 404 */

static SOCKET http_sock = INVALID_SOCKET;

static unsigned __stdcall http_404(void *arg)
{
	for (;;) {
		SOCKET s = accept(http_sock, NULL, NULL);
		if (s == INVALID_SOCKET)
			return 0;
		char b[2048];
		recv(s, b, sizeof(b), 0);
		static const char r[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
					"Connection: close\r\n\r\n";
		send(s, r, (int)sizeof(r) - 1, 0);
		closesocket(s);
	}
}

static void do_404(struct dobc *c, const wchar_t *dir)
{
	enum dob_backend be = dobc_welcome(c)->backend;
	if (be != DOB_BACKEND_DO) {
		skipf("do-404-joberror", "the broker's backend is %s, not Delivery Optimization%s",
		      dob_backend_name(be), under_wine() ? " (Wine has no DO)" : "");
		return;
	}
	WSADATA wd;
	WSAStartup(MAKEWORD(2, 2), &wd);
	http_sock = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int alen = sizeof(a);
	if (bind(http_sock, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(http_sock, 8) != 0 ||
	    getsockname(http_sock, (struct sockaddr *)&a, &alen) != 0) {
		failf("do-404-joberror", "cannot start the local HTTP server");
		return;
	}
	HANDLE th = (HANDLE)_beginthreadex(NULL, 0, http_404, NULL, 0, NULL);
	char url[128], path[700], msg[512];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/missing.bin", ntohs(a.sin_port));
	snprintf(path, sizeof(path), "%ls\\do-404.bin", dir);
	struct dob_guid id;
	enum dob_status st;
	if (submit(c, url, path, &id, &st, msg, sizeof(msg)) != 0) {
		failf("do-404-joberror", "submit: %s", msg);
	} else {
		/* DO retries transient errors for a while before JobError. */
		ULONGLONG until = GetTickCount64() + 300000;
		bool seen = false;
		while (!seen && GetTickCount64() < until) {
			struct dob_msg m;
			if (dobc_next_event(c, &m, 5000) != 0)
				continue;
			if (m.type == DOB_MSG_JOB_ERROR &&
			    memcmp(&m.u.job_error.job.job_id, &id, sizeof(id)) == 0) {
				seen = true;
				if (m.u.job_error.error.hresult == 0x80190194u)
					pass("do-404-joberror");
				else
					failf("do-404-joberror", "JobError with 0x%08lx, want 0x80190194",
					      (unsigned long)m.u.job_error.error.hresult);
			}
			dob_msg_clear(&m);
		}
		if (!seen)
			failf("do-404-joberror", "no JobError within 300 s");
		struct dob_action_result ar;
		dobc_act(c, &id, 0, DOB_ACTION_CANCEL, 0, &ar, TIMEOUT);
		dobc_action_result_clear(&ar);
	}
	closesocket(http_sock);
	WaitForSingleObject(th, 5000);
	CloseHandle(th);
	WSACleanup();
}

/* Service mode creates a client's job as the client (docs/security.md,
 * "Service mode: jobs created as the client"): a client that allows
 * impersonation (DOBC_IMPERSONATION=1) submits, and the job's owner as the
 * backend reads it (BITS/DO GetOwner) must be the client's user SID, not
 * SYSTEM. */
static void owner_is_client(const char *pipe, const char *dir)
{
	const char *name = "job-owner-is-client";
	if (under_wine()) {
		skipf(name, "Wine hands every pipe client the server's own token, so the service "
			    "never impersonates here, and its BITS reports no owner");
		return;
	}
	SetEnvironmentVariableA("DOBC_IMPERSONATION", "1");
	_putenv("DOBC_IMPERSONATION=1");
	int err = 0;
	char why[700], path[700], msg[512];
	struct dobc *c = connect_to(pipe, "acceptance-owner", &err, why, sizeof(why));
	_putenv("DOBC_IMPERSONATION=");
	SetEnvironmentVariableA("DOBC_IMPERSONATION", NULL);
	if (!c) {
		failf(name, "connect allowing impersonation: %s", why);
		return;
	}
	const struct dob_welcome *w = dobc_welcome(c);
	if (w->backend != DOB_BACKEND_DO && w->backend != DOB_BACKEND_BITS) {
		skipf(name, "the broker's backend is %s: no service owns its jobs",
		      dob_backend_name(w->backend));
		dobc_close(c);
		return;
	}
	struct dob_file_spec f = {.remote_url = (char *)"http://127.0.0.1:9/owner",
				  .local_path = path};
	struct dob_submit_job req = {.display_name = (char *)"acceptance owner", .n_files = 1,
				     .files = &f, .priority = DOB_PRIORITY_NORMAL};
	struct dob_job_reply r;
	snprintf(path, sizeof(path), "%s\\owner.bin", dir);
	memset(&r, 0, sizeof(r));
	err = dobc_submit(c, &req, &r, TIMEOUT);
	snprintf(msg, sizeof(msg), "%s", r.message ? r.message : dobc_strerror(err));
	if (err != 0 || r.status != DOB_STATUS_OK || !r.has_job) {
		failf(name, "submit: %s", msg);
	} else {
		const char *owner = r.job.job.owner ? r.job.job.owner : "";
		const char *me = w->identity.user_sid ? w->identity.user_sid : "?";
		if (strcmp(owner, me) == 0)
			pass(name);
		else
			failf(name, "the job's owner is '%s', the client is %s (is the broker the "
				    "machine service, --mode service?)",
			      owner, me);
		struct dob_action_result ar;
		dobc_act(c, &r.job.job.job_id, 0, DOB_ACTION_CANCEL, 0, &ar, TIMEOUT);
		dobc_action_result_clear(&ar);
	}
	dobc_job_reply_clear(&r);
	dobc_close(c);
}

/* ------------------------------------------------------------ the broker */

static void check_dacl(const char *pipe)
{
	wchar_t w[300];
	MultiByteToWideChar(CP_UTF8, 0, pipe, -1, w, 300);
	HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			       SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
	PACL dacl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	if (h == INVALID_HANDLE_VALUE ||
	    GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl,
			    NULL, &sd) != ERROR_SUCCESS ||
	    !dacl) {
		failf("pipe-dacl-service-mode", "cannot read the pipe's DACL: error %lu",
		      (unsigned long)GetLastError());
		if (h != INVALID_HANDLE_VALUE)
			CloseHandle(h);
		return;
	}
	int interactive = 0, creators = 0, others = 0;
	for (DWORD i = 0; i < dacl->AceCount; i++) {
		void *p = NULL;
		char *s = NULL;
		if (!GetAce(dacl, i, &p) ||
		    !ConvertSidToStringSidA((PSID) & ((ACCESS_ALLOWED_ACE *)p)->SidStart, &s))
			continue;
		DWORD m = ((ACCESS_ALLOWED_ACE *)p)->Mask;
		if (strcmp(s, "S-1-5-4") == 0 && m == CLIENT_RIGHTS)
			interactive++;
		else if (strcmp(s, "S-1-5-18") != 0 && (m & (FILE_CREATE_PIPE_INSTANCE | WRITE_DAC)))
			creators += (m & WRITE_DAC) ? 100 : 1;
		else if (strcmp(s, "S-1-5-18") != 0 && strcmp(s, "S-1-3-4") != 0 &&
			 m != CLIENT_RIGHTS)
			others++;
		LocalFree(s);
	}
	LocalFree(sd);
	CloseHandle(h);
	if (interactive == 1 && creators == 1 && others == 0)
		pass("pipe-dacl-service-mode");
	else
		failf("pipe-dacl-service-mode",
		      "INTERACTIVE client ACEs %d (want 1), create-instance holders besides SYSTEM "
		      "%d (want 1), other ACEs with more than client rights %d (want 0)",
		      interactive, creators, others);
}

static DWORD run_quiet(const char *cmd)
{
	wchar_t w[2048];
	MultiByteToWideChar(CP_UTF8, 0, cmd, -1, w, 2048);
	STARTUPINFOW si = {.cb = sizeof(si)};
	PROCESS_INFORMATION pi;
	DWORD code = 0xFFFFFFFF;
	if (CreateProcessW(NULL, w, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
		if (WaitForSingleObject(pi.hProcess, 60000) == WAIT_OBJECT_0)
			GetExitCodeProcess(pi.hProcess, &code);
		CloseHandle(pi.hProcess);
		CloseHandle(pi.hThread);
	}
	return code;
}

/* Under Wine: install and start dobrokerd.exe as the service on a pipe of
 * our own (Windows CI installs it beforehand). */
static bool wine_service(char *pipe, size_t len, const char *dir)
{
	char bin[MAX_PATH * 3], cmd[2048];
	wchar_t exe[MAX_PATH];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	WideCharToMultiByte(CP_UTF8, 0, exe, -1, bin, sizeof(bin), NULL, NULL);
	*strrchr(bin, '\\') = 0;
	snprintf(pipe, len, "\\\\.\\pipe\\dobroker-acceptance-%lu",
		 (unsigned long)GetCurrentProcessId());
	snprintf(cmd, sizeof(cmd), "\"%s\\dobrokerd.exe\" uninstall", bin);
	run_quiet(cmd);
	snprintf(cmd, sizeof(cmd),
		 "\"%s\\dobrokerd.exe\" install --backend sim --allow-sandboxed=true --endpoint %s "
		 "--state-dir \"%s\\state\"",
		 bin, pipe, dir);
	if (run_quiet(cmd) != 0)
		return false;
	SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
	SC_HANDLE svc = scm ? OpenServiceW(scm, L"dobroker", SERVICE_START | SERVICE_QUERY_STATUS)
			    : NULL;
	bool ok = svc && StartServiceW(svc, 0, NULL);
	if (!ok)
		printf("  starting the service: error %lu\n", (unsigned long)GetLastError());
	wchar_t w[200];
	MultiByteToWideChar(CP_UTF8, 0, pipe, -1, w, 200);
	ULONGLONG until = GetTickCount64() + 60000;
	while (ok && !WaitNamedPipeW(w, 100) && GetTickCount64() < until)
		Sleep(50);
	SERVICE_STATUS st;
	if (ok && svc && QueryServiceStatus(svc, &st) && st.dwCurrentState != SERVICE_RUNNING)
		printf("  the service is in state %lu (exit %lu/%lu)\n",
		       (unsigned long)st.dwCurrentState, (unsigned long)st.dwWin32ExitCode,
		       (unsigned long)st.dwServiceSpecificExitCode);
	if (svc)
		CloseServiceHandle(svc);
	if (scm)
		CloseServiceHandle(scm);
	return ok;
}

static void wine_service_remove(void)
{
	char bin[MAX_PATH * 3], cmd[1024];
	wchar_t exe[MAX_PATH];
	GetModuleFileNameW(NULL, exe, MAX_PATH);
	WideCharToMultiByte(CP_UTF8, 0, exe, -1, bin, sizeof(bin), NULL, NULL);
	*strrchr(bin, '\\') = 0;
	snprintf(cmd, sizeof(cmd), "\"%s\\dobrokerd.exe\" uninstall", bin);
	run_quiet(cmd);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 6 && strcmp(argv[1], "child") == 0)
		return child(argv[2], argv[3], argv[4], argv[5], argc > 6 ? argv[6] : "");
	if (argc == 3 && strcmp(argv[1], "squat") == 0)
		return squat(argv[2]);

	char pipe[200], dir[MAX_PATH], tmp[MAX_PATH];
	wchar_t wdir[MAX_PATH];
	bool installed_here = false;
	GetTempPathA(MAX_PATH, tmp);
	snprintf(dir, sizeof(dir), "%sdobroker-acceptance-%lu", tmp,
		 (unsigned long)GetCurrentProcessId());
	CreateDirectoryA(dir, NULL);
	MultiByteToWideChar(CP_UTF8, 0, dir, -1, wdir, MAX_PATH);
	snprintf(pipe, sizeof(pipe), "%s", argc > 1 ? argv[1] : "\\\\.\\pipe\\dobroker");

	int err = 0;
	char why[700];
	struct dobc *c = connect_to(pipe, "acceptance", &err, why, sizeof(why));
	if (!c && under_wine() && argc == 1) {
		installed_here = wine_service(pipe, sizeof(pipe), dir);
		if (installed_here)
			c = connect_to(pipe, "acceptance", &err, why, sizeof(why));
	}
	if (!c) {
		skipf("all", "no broker service answers on %s (%s): install it with "
			     "`dobrokerd.exe install --allow-sandboxed=true` and start it",
		      pipe, why);
		goto out;
	}
	pass("app-admitted");
	const struct dob_identity *me = &dobc_welcome(c)->identity;
	if (me->privileged || me->integrity_rid != SECURITY_MANDATORY_MEDIUM_RID)
		skipf("standard-user-admitted", "this program runs as %s at integrity 0x%lx%s; run "
			 "it as a standard user", me->privileged ? "an administrator" : "a user",
		      (unsigned long)me->integrity_rid,
		      under_wine() ? " (under Wine every process is an administrator)" : "");
	else
		pass("standard-user-admitted");
	check_dacl(pipe);
	DWORD e = 0;
	if (can_create_instance(pipe, &e))
		failf("no-extra-instance", "CreateNamedPipe on the broker's name succeeded");
	else
		pass("no-extra-instance");

	/* A job of this (medium) app, which the sandboxed children must not
	 * see, act on or adopt. */
	char path[700], msg[512], job[64];
	struct dob_guid id;
	enum dob_status st;
	snprintf(path, sizeof(path), "%s\\parent.bin", dir);
	if (submit(c, "http://127.0.0.1:9/parent", path, &id, &st, msg, sizeof(msg)) != 0) {
		failf("parent-submits", "%s", msg);
	} else {
		pass("parent-submits");
		dob_guid_format(&id, job);
		ac_child(pipe, job, wdir);
		low_child(pipe, job, wdir);
		struct dob_action_result ar;
		dobc_act(c, &id, 0, DOB_ACTION_CANCEL, 0, &ar, TIMEOUT);
		dobc_action_result_clear(&ar);
	}
	squatter();
	owner_is_client(pipe, dir);
	do_404(c, wdir);
	dobc_close(c);
out:
	if (installed_here)
		wine_service_remove();
	printf("%u check(s) SKIPPED (not counted)\n", n_skip);
	printf("acceptance_test: %u passed, %u failed\n", n_pass, n_fail);
	printf("%u passed, %u failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
