/*
 * broker/win32/path_win32.c - the confused-deputy check on Windows, and the
 * registry of client tokens it needs.
 *
 * Interface choice: platform.h's plat_check_path_writable(who, path) is kept
 * as it is (no plat_conn argument, no change to struct dob_identity). The
 * pipe server registers the identification-level token of every accepted
 * connection here, keyed by the pid the OS gave for it (and the user SID),
 * and unregisters it when the instance is freed. The check looks `who` up by
 * pid + user SID: a client whose connection is gone has no token any more and
 * is refused (-DOB_EACCES), never checked with a guessed one. Connections of
 * the same process share its token, so any of them will do.
 *
 * How the check is made: the client connects with SECURITY_IDENTIFICATION
 * (DESIGN: the client library opens the pipe with identification-level
 * impersonation only), and an identification-level token cannot open files
 * while impersonated (ERROR_BAD_IMPERSONATION_LEVEL). So instead of
 * impersonate-then-create the broker asks the system's own access check
 * (AccessCheck, which accepts identification-level tokens and evaluates
 * DACL, mandatory label and AppContainer/capability ACEs) against the
 * security descriptor of
 *   - the parent directory, for FILE_ADD_FILE (may the client create a file
 *     there), and
 *   - the file, when it exists, for FILE_WRITE_DATA (may it overwrite it).
 * A descriptor the broker cannot read is a refusal. The result is as of the
 * check (a later change of ACL or a junction swapped in between is outside
 * its reach, as with any check-then-use across processes).
 *
 * Off the loop thread: GetFileAttributes, GetNamedSecurityInfo and
 * AccessCheck may wait on the file system (a busy disk, a filter driver),
 * so the core asks through plat_check_paths: the checks of one request run
 * on a thread-pool worker (TrySubmitThreadpoolCallback), which posts the
 * result back to the loop like a COM worker posts a backend result. The
 * number of checks under way is counted process-wide; plat_loop_free waits
 * for it to reach 0 (win_path_checks_drain) before it delivers what is
 * still posted, so no worker ever posts to a freed loop.
 */
#include <stdio.h>
#include <string.h>

#include "win32/win.h"

#include <aclapi.h>

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "dob/trust.h"
#include "platform.h"

struct tok_entry {
	struct tok_entry *prev, *next;
	uint32_t pid;
	char *user_sid; /* owned */
	HANDLE token;   /* owned */
};

static SRWLOCK tok_lock = SRWLOCK_INIT; /* protects tok_head and the entries */
static struct tok_entry *tok_head;

int win_token_register(uint32_t pid, const char *user_sid, HANDLE token, void **cookie)
{
	*cookie = NULL;
	struct tok_entry *e = dob_calloc(1, sizeof(*e));
	if (!e)
		return -DOB_ENOMEM;
	e->user_sid = dob_strdup(user_sid);
	if (!e->user_sid) {
		dob_free(e);
		return -DOB_ENOMEM;
	}
	e->pid = pid;
	e->token = token;
	AcquireSRWLockExclusive(&tok_lock);
	e->next = tok_head;
	if (tok_head)
		tok_head->prev = e;
	tok_head = e;
	ReleaseSRWLockExclusive(&tok_lock);
	*cookie = e;
	return 0;
}

void win_token_unregister(void *cookie)
{
	struct tok_entry *e = cookie;
	if (!e)
		return;
	AcquireSRWLockExclusive(&tok_lock);
	if (e->prev)
		e->prev->next = e->next;
	else
		tok_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	ReleaseSRWLockExclusive(&tok_lock);
	CloseHandle(e->token);
	dob_free(e->user_sid);
	dob_free(e);
}

/* A duplicate of the token of who's live connection, or NULL. */
static HANDLE find_token(const struct dob_identity *who)
{
	HANDLE dup = NULL;
	AcquireSRWLockShared(&tok_lock);
	for (struct tok_entry *e = tok_head; e; e = e->next) {
		if (e->pid != who->pid || !who->user_sid || strcmp(e->user_sid, who->user_sid) != 0)
			continue;
		if (!DuplicateHandle(GetCurrentProcess(), e->token, GetCurrentProcess(), &dup, 0,
				     FALSE, DUPLICATE_SAME_ACCESS))
			dup = NULL;
		break;
	}
	ReleaseSRWLockShared(&tok_lock);
	return dup;
}

int win_client_token(const struct dob_identity *who, HANDLE *out)
{
	*out = who ? find_token(who) : NULL;
	return *out ? 0 : -DOB_ENOTFOUND;
}

int win_act_as_client(const struct dob_identity *who, bool *impersonating)
{
	HANDLE tok = NULL;

	*impersonating = false;
	if (win_client_token(who, &tok) < 0) {
		log_warn("acting as the client: no live connection of pid %lu (%s)",
			 (unsigned long)(who ? who->pid : 0),
			 who && who->user_sid ? who->user_sid : "?");
		return -DOB_ENOTFOUND;
	}
	bool ours = win_token_is_self(tok, true);
	CloseHandle(tok);
	if (ours) {
		/* The client is who we are (Wine gives the server's own token
		 * for every client of its user; on Windows, a client running as
		 * the service's account): our own calls are its calls. */
		log_debug("acting as the client: pid %lu has the broker's own token; no "
			  "impersonation needed",
			  (unsigned long)who->pid);
		return 0;
	}
	int r = win_impersonate_client(who);
	if (r == 0)
		*impersonating = true;
	return r;
}

/* May the token have `want` on the object at path? 0, -DOB_EACCES. */
static int access_check(HANDLE token, const wchar_t *path, DWORD want, const char *what)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	DWORD e = GetNamedSecurityInfoW(path, SE_FILE_OBJECT,
					OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION |
						DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION,
					NULL, NULL, NULL, NULL, &sd);
	char msg[256];
	if (e != ERROR_SUCCESS) {
		log_warn("path check: cannot read the security of the %s: %s", what,
			 win_strerror(e, msg, sizeof(msg)));
		return -DOB_EACCES;
	}
	GENERIC_MAPPING map = {FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE,
			       FILE_ALL_ACCESS};
	union {
		PRIVILEGE_SET ps;
		uint8_t b[sizeof(PRIVILEGE_SET) + 8 * sizeof(LUID_AND_ATTRIBUTES)];
	} priv;
	DWORD plen = sizeof(priv), granted = 0;
	BOOL ok = FALSE;
	int r = 0;
	MapGenericMask(&want, &map);
	if (!AccessCheck(sd, token, want, &map, &priv.ps, &plen, &granted, &ok)) {
		log_warn("path check: AccessCheck on the %s: %s", what,
			 win_strerror(GetLastError(), msg, sizeof(msg)));
		r = -DOB_EACCES;
	} else if (!ok || (granted & want) != want) {
		r = -DOB_EACCES;
	}
	LocalFree(sd);
	return r;
}

/* Absolute drive path "X:\..." of a form dob_win_path_check accepts (no
 * UNC, device, \\?\, stream, DOS device name, dot components), with '/'
 * turned into '\', that GetFullPathName gives back unchanged. */
static int absolute_path(const char *path, wchar_t **out)
{
	*out = NULL;
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(path, &w);
	if (r < 0)
		return r;
	for (wchar_t *p = w; *p; p++)
		if (*p == L'/')
			*p = L'\\';
	bool drive = ((w[0] >= L'A' && w[0] <= L'Z') || (w[0] >= L'a' && w[0] <= L'z')) &&
		     w[1] == L':' && w[2] == L'\\';
	DWORD need = drive ? GetFullPathNameW(w, 0, NULL, NULL) : 0;
	wchar_t *full = need ? dob_malloc((size_t)need * sizeof(wchar_t)) : NULL;
	DWORD n = full ? GetFullPathNameW(w, need, full, NULL) : 0;
	if (n == 0 || n >= need || _wcsicmp(full, w) != 0) {
		dob_free(full);
		dob_free(w);
		return -DOB_EINVAL;
	}
	dob_free(full);
	*out = w;
	return 0;
}

int plat_check_path_writable(const struct dob_identity *who, const char *path)
{
	if (!who || !path)
		return -DOB_EACCES;
	/* Forms refused whoever asks, before any file system call: no SMB
	 * traffic with the broker's credentials, no device opened. */
	enum dob_wpath k = dob_win_path_check(path);
	if (k != DOB_WPATH_OK) {
		log_info("path check: \"%s\": %s", path, dob_win_path_reason(k));
		return -DOB_EINVAL;
	}
	wchar_t *w = NULL;
	if (absolute_path(path, &w) < 0) {
		log_info("path check: \"%s\" is not an absolute, normalized local path; refused",
			 path);
		return -DOB_EINVAL;
	}
	/* A drive letter mapped to a network share is UNC in disguise: the
	 * checks below would talk SMB with the broker's credentials, on the
	 * loop thread. GetDriveType asks the mount manager, not the network. */
	wchar_t root[4] = {w[0], L':', L'\\', 0};
	UINT dt = GetDriveTypeW(root);
	if (dt == DRIVE_REMOTE || dt == DRIVE_UNKNOWN || dt == DRIVE_NO_ROOT_DIR) {
		log_info("path check: \"%s\": drive %lc: is %s; refused", path, w[0],
			 dt == DRIVE_REMOTE ? "a network drive" : "not a local drive");
		dob_free(w);
		return dt == DRIVE_REMOTE ? -DOB_EINVAL : -DOB_ENOTFOUND;
	}
	HANDLE tok = find_token(who);
	if (!tok) {
		log_warn("path check: no live connection of pid %lu (%s) to check \"%s\" with; "
			 "refused",
			 (unsigned long)who->pid, who->user_sid ? who->user_sid : "?", path);
		dob_free(w);
		return -DOB_EACCES;
	}
	int r = 0;
	wchar_t *slash = wcsrchr(w, L'\\');
	if (!slash || slash[1] == 0) {
		r = -DOB_EACCES; /* names a directory, not a file */
		goto out;
	}
	DWORD fa = GetFileAttributesW(w);
	*slash = 0;
	/* "X:" -> "X:\" for a file at the root of a drive: root. */
	const wchar_t *dir = (slash == w + 2 && w[1] == L':') ? root : w;
	DWORD da = GetFileAttributesW(dir);
	if (da == INVALID_FILE_ATTRIBUTES || !(da & FILE_ATTRIBUTE_DIRECTORY)) {
		r = -DOB_ENOTFOUND;
		goto out;
	}
	r = access_check(tok, dir, FILE_ADD_FILE, "directory");
	if (r == 0 && fa != INVALID_FILE_ATTRIBUTES) {
		*slash = L'\\';
		if (fa & FILE_ATTRIBUTE_DIRECTORY)
			r = -DOB_EACCES;
		else
			r = access_check(tok, w, FILE_WRITE_DATA, "file");
	}
out:
	log_debug("path check: pid %lu \"%s\": %s", (unsigned long)who->pid, path,
		  r == 0 ? "writable" : dob_strerror(r));
	CloseHandle(tok);
	dob_free(w);
	return r;
}

/* ------------------------------------------------------------ plat_check_paths */

struct check_work {
	struct plat_msg m;        /* first member: posted back to the loop */
	struct plat_loop *loop;   /* borrowed: plat_loop_free waits for us */
	struct dob_identity who;  /* owned copy */
	char **paths;             /* owned array of owned strings */
	size_t n;
	plat_check_cb cb;
	void *ctx;
	int status;
	size_t index;
};

static SRWLOCK checks_lock = SRWLOCK_INIT;   /* protects checks_busy */
static CONDITION_VARIABLE checks_idle = CONDITION_VARIABLE_INIT;
static size_t checks_busy;                   /* checks not yet posted back */

static void check_work_free(struct check_work *w)
{
	for (size_t i = 0; w->paths && i < w->n; i++)
		dob_free(w->paths[i]);
	dob_free(w->paths);
	dob_identity_clear(&w->who);
	dob_free(w);
}

static void check_work_run(struct plat_msg *m)
{
	struct check_work *w = (struct check_work *)m;

	w->cb(w->ctx, w->status, w->index);
	check_work_free(w);
}

static void checks_done_one(void)
{
	AcquireSRWLockExclusive(&checks_lock);
	if (--checks_busy == 0)
		WakeAllConditionVariable(&checks_idle);
	ReleaseSRWLockExclusive(&checks_lock);
}

static VOID CALLBACK check_work_pool(PTP_CALLBACK_INSTANCE inst, PVOID arg)
{
	struct check_work *w = arg;
	bool said = false;

	(void)inst;
	for (size_t i = 0; i < w->n; i++) {
		int r = plat_check_path_writable(&w->who, w->paths[i]);
		if (r) {
			w->status = r;
			w->index = i;
			break;
		}
	}
	/* The answer must arrive (the core counts the request in flight
	 * until it does): a port out of memory is waited out. */
	while (plat_post(w->loop, w) < 0) {
		if (!said)
			log_error("path check: the loop refused the result (out of memory); "
				  "retrying");
		said = true;
		Sleep(50);
	}
	checks_done_one();
}

int plat_check_paths(struct plat_loop *l, const struct dob_identity *who,
		     const char *const *paths, size_t n, plat_check_cb cb, void *ctx)
{
	if (!l || !cb || !paths || n == 0 || !who)
		return -DOB_EINVAL;
	struct check_work *w = dob_calloc(1, sizeof(*w));
	if (!w)
		return -DOB_ENOMEM;
	w->m.run = check_work_run;
	w->loop = l;
	w->cb = cb;
	w->ctx = ctx;
	w->index = n;
	w->paths = dob_calloc(n, sizeof(*w->paths));
	int r = w->paths && dob_identity_copy(&w->who, who) == 0 ? 0 : -DOB_ENOMEM;
	w->n = w->paths ? n : 0;
	for (size_t i = 0; i < n && r == 0; i++)
		if (!(w->paths[i] = dob_strdup(paths[i] ? paths[i] : "")))
			r = -DOB_ENOMEM;
	if (r < 0) {
		check_work_free(w);
		return r;
	}
	AcquireSRWLockExclusive(&checks_lock);
	checks_busy++;
	ReleaseSRWLockExclusive(&checks_lock);
	if (!TrySubmitThreadpoolCallback(check_work_pool, w, NULL)) {
		char msg[128];
		log_warn("path check: no thread-pool worker: %s",
			 win_strerror(GetLastError(), msg, sizeof(msg)));
		checks_done_one();
		check_work_free(w);
		return -DOB_ENOMEM;
	}
	return 0;
}

void win_path_checks_drain(void)
{
	AcquireSRWLockExclusive(&checks_lock);
	while (checks_busy > 0)
		SleepConditionVariableSRW(&checks_idle, &checks_lock, INFINITE, 0);
	ReleaseSRWLockExclusive(&checks_lock);
}
