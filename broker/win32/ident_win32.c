/*
 * broker/win32/ident_win32.c - who is on the other end of a pipe, from the
 * OS only (DESIGN.md and docs/security.md, "Identity"). Nothing the client
 * says is used.
 *
 *   pid        GetNamedPipeClientProcessId
 *   token      the pipe client's token: ImpersonateNamedPipeClient +
 *              OpenThreadToken + RevertToSelf. This is the token of the
 *              client *thread* that opened the pipe (a client impersonating
 *              someone is taken for whom it impersonates, at the level it
 *              allowed: the client library connects with SECURITY_SQOS_PRESENT
 *              | SECURITY_IDENTIFICATION).
 *              Fallback, documented: where impersonation yields the server's
 *              own token -- Wine 8, whose FSCTL_PIPE_IMPERSONATE duplicates
 *              the server process's token -- the token of the client's
 *              process is used instead (OpenProcess(PROCESS_QUERY_LIMITED_
 *              INFORMATION) + OpenProcessToken). "The server's own token" is
 *              detected by comparing with this process's token: same user,
 *              same logon session (AuthenticationId), same integrity, same
 *              AppContainer. A real client with a token like ours gets its
 *              process token, which must then name the same user and no
 *              more privilege than ours (a service impersonating our user
 *              is refused, never taken for the service).
 *   user_sid   TokenUser, as a string
 *   appcontainer_sid  TokenAppContainerSid (NULL outside an AppContainer;
 *              always NULL under Wine)
 *   internet_client  TokenCapabilities holds internetClient (S-1-15-3-1) or
 *              internetClientServer (S-1-15-3-2); false when the token has
 *              no capabilities or they cannot be read
 *   integrity_rid     the last sub-authority of TokenIntegrityLevel
 *   sandboxed  in an AppContainer, or integrity below medium (0x2000):
 *              untrusted and low
 *   privileged not sandboxed, and the user is SYSTEM or the token is a member
 *              of BUILTIN\Administrators (CheckTokenMembership on an
 *              identification-level duplicate: a UAC-filtered token has the
 *              group deny-only and is therefore not privileged)
 *   uid        not meaningful on Windows: 0; the core goes by user_sid
 *
 * pid reuse (the fallback reads the process by pid): the process opened must
 * have existed at the moment of connection -- its creation time is not after
 * `connected`, the time the connect completion was taken off the port --
 * and the pipe must still be connected once the process handle is open
 * (from then on its pid cannot go to another process). A process that was
 * alive at the connection and still is, holding the client's pid, is the
 * client.
 *
 * Any failure refuses the connection (the caller logs why): no identity is
 * ever guessed or defaulted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/win.h"

#include <sddl.h>

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"

#define SID_SYSTEM "S-1-5-18"

static void say(char *why, size_t len, const char *what, DWORD e)
{
	char msg[256];
	snprintf(why, len, "%s: %s", what, win_strerror(e, msg, sizeof(msg)));
}

/* internetClient (S-1-15-3-1) or internetClientServer (S-1-15-3-2) among
 * the token's capabilities. */
static bool has_internet_capability(HANDLE token)
{
	DWORD n = 0;
	GetTokenInformation(token, TokenCapabilities, NULL, 0, &n);
	if (n == 0)
		return false;
	TOKEN_GROUPS *g = dob_malloc(n);
	bool yes = false;
	if (g && GetTokenInformation(token, TokenCapabilities, g, n, &n)) {
		for (DWORD i = 0; !yes && i < g->GroupCount; i++) {
			char *s = NULL;
			if (!ConvertSidToStringSidA(g->Groups[i].Sid, &s))
				continue;
			yes = strcmp(s, "S-1-15-3-1") == 0 || strcmp(s, "S-1-15-3-2") == 0;
			LocalFree(s);
		}
	}
	dob_free(g);
	return yes;
}

int win_token_identity(HANDLE token, struct dob_identity *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	union {
		TOKEN_APPCONTAINER_INFORMATION ac;
		TOKEN_MANDATORY_LABEL ml;
		uint8_t b[sizeof(TOKEN_MANDATORY_LABEL) + SECURITY_MAX_SID_SIZE];
	} u;
	DWORD n = 0;
	HANDLE dup = NULL;
	char *s = NULL;
	int r = win_token_user_sid(token, &out->user_sid);
	if (r < 0) {
		say(why, whylen, "token user", GetLastError());
		goto fail;
	}

	if (!GetTokenInformation(token, TokenAppContainerSid, &u, sizeof(u), &n)) {
		say(why, whylen, "token AppContainer SID", GetLastError());
		r = -DOB_EACCES;
		goto fail;
	}
	if (u.ac.TokenAppContainer) {
		if (!ConvertSidToStringSidA(u.ac.TokenAppContainer, &s)) {
			say(why, whylen, "AppContainer SID", GetLastError());
			r = -DOB_EACCES;
			goto fail;
		}
		out->appcontainer_sid = dob_strdup(s);
		LocalFree(s);
		if (!out->appcontainer_sid) {
			snprintf(why, whylen, "out of memory");
			r = -DOB_ENOMEM;
			goto fail;
		}
	}

	if (!GetTokenInformation(token, TokenIntegrityLevel, &u, sizeof(u), &n)) {
		say(why, whylen, "token integrity level", GetLastError());
		r = -DOB_EACCES;
		goto fail;
	}
	PSID il = u.ml.Label.Sid;
	if (!il || !IsValidSid(il) || *GetSidSubAuthorityCount(il) == 0) {
		snprintf(why, whylen, "token integrity level: not a valid SID");
		r = -DOB_EACCES;
		goto fail;
	}
	out->integrity_rid = *GetSidSubAuthority(il, *GetSidSubAuthorityCount(il) - 1u);

	if (strcmp(out->user_sid, SID_SYSTEM) == 0) {
		out->privileged = true;
	} else {
		union {
			SID sid;
			uint8_t b[SECURITY_MAX_SID_SIZE];
		} admins;
		DWORD sz = sizeof(admins);
		BOOL member = FALSE;
		if (!CreateWellKnownSid(WinBuiltinAdministratorsSid, NULL, &admins, &sz)) {
			say(why, whylen, "Administrators SID", GetLastError());
			r = -DOB_EACCES;
			goto fail;
		}
		/* CheckTokenMembership wants an impersonation token. */
		TOKEN_TYPE type = TokenPrimary;
		if (!GetTokenInformation(token, TokenType, &type, sizeof(type), &n)) {
			say(why, whylen, "token type", GetLastError());
			r = -DOB_EACCES;
			goto fail;
		}
		if (type != TokenImpersonation &&
		    !DuplicateTokenEx(token, TOKEN_QUERY, NULL, SecurityIdentification,
				      TokenImpersonation, &dup)) {
			say(why, whylen, "duplicating the token", GetLastError());
			r = -DOB_EACCES;
			goto fail;
		}
		if (!CheckTokenMembership(dup ? dup : token, &admins, &member)) {
			say(why, whylen, "Administrators membership", GetLastError());
			r = -DOB_EACCES;
			goto fail;
		}
		out->privileged = member != FALSE;
	}
	out->sandboxed = out->appcontainer_sid != NULL ||
			 out->integrity_rid < SECURITY_MANDATORY_MEDIUM_RID;
	if (out->sandboxed)
		out->privileged = false;
	out->internet_client = has_internet_capability(token);
	if (dup)
		CloseHandle(dup);
	return 0;
fail:
	if (dup)
		CloseHandle(dup);
	dob_identity_clear(out);
	memset(out, 0, sizeof(*out));
	return r < 0 ? r : -DOB_EACCES;
}

static ULONGLONG ft64(FILETIME f)
{
	return ((ULONGLONG)f.dwHighDateTime << 32) | f.dwLowDateTime;
}

/* The pipe's impersonation token (identification level). */
static HANDLE impersonation_token(HANDLE pipe, char *why, size_t whylen)
{
	HANDLE tok = NULL;
	if (!ImpersonateNamedPipeClient(pipe)) {
		say(why, whylen, "ImpersonateNamedPipeClient", GetLastError());
		return NULL;
	}
	if (!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY | TOKEN_DUPLICATE, TRUE, &tok)) {
		say(why, whylen, "OpenThreadToken", GetLastError());
		tok = NULL;
	}
	if (!RevertToSelf()) {
		/* Going on as the client would be the worst outcome. */
		log_error("RevertToSelf failed (error %lu) after impersonating a pipe client; "
			  "stopping",
			  (unsigned long)GetLastError());
		abort();
	}
	return tok;
}

bool win_token_is_self(HANDLE tok, bool as_rights)
{
	HANDLE self = NULL;
	TOKEN_STATISTICS a, b;
	DWORD n = 0;
	bool same = false;
	struct dob_identity x, y;
	char why[128];

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | TOKEN_DUPLICATE, &self))
		return false;
	if (GetTokenInformation(tok, TokenStatistics, &a, sizeof(a), &n) &&
	    GetTokenInformation(self, TokenStatistics, &b, sizeof(b), &n) &&
	    a.AuthenticationId.LowPart == b.AuthenticationId.LowPart &&
	    a.AuthenticationId.HighPart == b.AuthenticationId.HighPart &&
	    win_token_identity(tok, &x, why, sizeof(why)) == 0) {
		if (win_token_identity(self, &y, why, sizeof(why)) == 0) {
			same = strcmp(x.user_sid, y.user_sid) == 0 &&
			       x.integrity_rid == y.integrity_rid;
			if (as_rights) /* no AppContainer, not sandboxed, no more privilege */
				same = same && !x.sandboxed && !y.sandboxed &&
				       !(x.appcontainer_sid && *x.appcontainer_sid) &&
				       !(y.appcontainer_sid && *y.appcontainer_sid) &&
				       (!x.privileged || y.privileged);
			else /* the same AppContainer, or none on both */
				same = same && !x.appcontainer_sid == !y.appcontainer_sid &&
				       (!x.appcontainer_sid ||
					strcmp(x.appcontainer_sid, y.appcontainer_sid) == 0);
			dob_identity_clear(&y);
		}
		dob_identity_clear(&x);
	}
	CloseHandle(self);
	return same;
}

/* The client process's token, pid reuse excluded (see the top). */
static HANDLE process_token(HANDLE pipe, ULONG pid, const FILETIME *connected, char *why,
			    size_t whylen)
{
	HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid), tok = NULL;
	if (!proc) {
		say(why, whylen, "OpenProcess", GetLastError());
		return NULL;
	}
	FILETIME created, x1, x2, x3;
	if (!GetProcessTimes(proc, &created, &x1, &x2, &x3)) {
		say(why, whylen, "GetProcessTimes", GetLastError());
		CloseHandle(proc);
		return NULL;
	}
	if (ft64(created) > ft64(*connected)) {
		snprintf(why, whylen,
			 "pid %lu belongs to a process started after the connection (the client is "
			 "gone and its pid was reused)",
			 (unsigned long)pid);
		CloseHandle(proc);
		return NULL;
	}
	DWORD avail = 0;
	if (!PeekNamedPipe(pipe, NULL, 0, NULL, &avail, NULL)) {
		DWORD e = GetLastError();
		if (e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA) {
			snprintf(why, whylen,
				 "the client (pid %lu) hung up before it could be identified",
				 (unsigned long)pid);
			CloseHandle(proc);
			return NULL;
		}
	}
	if (!OpenProcessToken(proc, TOKEN_QUERY | TOKEN_DUPLICATE, &tok)) {
		say(why, whylen, "OpenProcessToken", GetLastError());
		tok = NULL;
	}
	CloseHandle(proc);
	return tok;
}

int win_pipe_client_identity(HANDLE pipe, const FILETIME *connected, struct dob_identity *out,
			     HANDLE *token, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	*token = NULL;
	ULONG pid = 0;
	if (!GetNamedPipeClientProcessId(pipe, &pid)) {
		say(why, whylen, "GetNamedPipeClientProcessId", GetLastError());
		return -DOB_EACCES;
	}
	HANDLE src = NULL, imp = NULL;
	bool fallback = false, looked_like_self = false;
	char why1[256] = "", why2[256] = "";
	src = impersonation_token(pipe, why1, sizeof(why1));
	if (src && win_token_is_self(src, false)) {
		/* Wine: impersonation gave our own token back. */
		CloseHandle(src);
		src = NULL;
		looked_like_self = true;
		snprintf(why1, sizeof(why1), "impersonation yields the server's own token");
	}
	if (!src) {
		fallback = true;
		src = process_token(pipe, pid, connected, why2, sizeof(why2));
		if (!src) {
			snprintf(why, whylen, "pid %lu: %s; %s", (unsigned long)pid, why1, why2);
			return -DOB_EACCES;
		}
	}
	/* Kept at the level the client allowed (the pipe's token): a client
	 * that connected with SECURITY_IMPERSONATION lets the service create its
	 * jobs as it (win_impersonate_client). The fallback's process token is
	 * never more than identification: the client allowed nothing. */
	SECURITY_IMPERSONATION_LEVEL lvl = SecurityIdentification;
	DWORD ln = 0;
	if (!fallback && GetTokenInformation(src, TokenImpersonationLevel, &lvl, sizeof(lvl), &ln) &&
	    lvl >= SecurityImpersonation)
		lvl = SecurityImpersonation;
	else
		lvl = SecurityIdentification;
	if (!DuplicateTokenEx(src, TOKEN_QUERY | TOKEN_DUPLICATE | TOKEN_IMPERSONATE, NULL, lvl,
			      TokenImpersonation, &imp)) {
		say(why, whylen, "DuplicateTokenEx", GetLastError());
		CloseHandle(src);
		return -DOB_EACCES;
	}
	CloseHandle(src);
	char why3[384];
	int r = win_token_identity(imp, out, why3, sizeof(why3));
	if (r < 0) {
		snprintf(why, whylen, "pid %lu (%s%s%s): %s", (unsigned long)pid,
			 fallback ? "process token, fallback: " : "pipe impersonation token",
			 fallback ? why1 : "", "", why3);
		CloseHandle(imp);
		return r;
	}
	if (looked_like_self) {
		/* On Windows a real client may connect with a token just like
		 * ours (same user, session and integrity) while its process is
		 * someone else -- a service impersonating our user. The process
		 * token must then not lend it another user or more privilege
		 * than the token it connected with: refused, never elevated. */
		struct dob_identity self;
		HANDLE st = NULL;
		bool same = false;
		if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | TOKEN_DUPLICATE, &st)) {
			if (win_token_identity(st, &self, why3, sizeof(why3)) == 0) {
				same = strcmp(self.user_sid, out->user_sid) == 0 &&
				       (!out->privileged || self.privileged);
				dob_identity_clear(&self);
			}
			CloseHandle(st);
		}
		if (!same) {
			snprintf(why, whylen,
				 "pid %lu: connected with a token like the broker's own, but its "
				 "process runs as %s%s: ambiguous identity, refused",
				 (unsigned long)pid, out->user_sid,
				 out->privileged ? " (privileged)" : "");
			dob_identity_clear(out);
			memset(out, 0, sizeof(*out));
			CloseHandle(imp);
			return -DOB_EACCES;
		}
	}
	out->pid = pid;
	*token = imp;
	log_debug("pipe: client pid %lu user %s%s%s integrity 0x%lx%s%s%s (from its %s%s)",
		  (unsigned long)pid, out->user_sid,
		  out->appcontainer_sid ? " appcontainer " : "",
		  out->appcontainer_sid ? out->appcontainer_sid : "",
		  (unsigned long)out->integrity_rid, out->sandboxed ? " sandboxed" : "",
		  out->privileged ? " privileged" : "", out->internet_client ? " internet" : "",
		  fallback ? "process token, fallback: " : "pipe impersonation token",
		  fallback ? why1 : "");
	return 0;
}
