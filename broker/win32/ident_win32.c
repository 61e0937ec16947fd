/*
 * broker/win32/ident_win32.c - who is on the other end of a pipe, from the
 * OS only (DESIGN.md, "Security model"). Nothing the client says is used.
 *
 *   pid        GetNamedPipeClientProcessId
 *   token      the client process's token: OpenProcess(PROCESS_QUERY_LIMITED_
 *              INFORMATION) + OpenProcessToken(TOKEN_QUERY | TOKEN_DUPLICATE);
 *              when the process cannot be opened (another user's elevated
 *              process, a protected process), the pipe's impersonation token:
 *              ImpersonateNamedPipeClient + OpenThreadToken + RevertToSelf
 *              (identification level: the client library connects with
 *              SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION). Under Wine
 *              8 that fallback yields the server's own token, which is why it
 *              is only the fallback.
 *   user_sid   TokenUser, as a string
 *   appcontainer_sid  TokenAppContainerSid (NULL outside an AppContainer;
 *              always NULL under Wine)
 *   integrity_rid     the last sub-authority of TokenIntegrityLevel
 *   sandboxed  in an AppContainer, or integrity below medium (0x2000)
 *   privileged the user is SYSTEM, or the token is a member of BUILTIN\
 *              Administrators (CheckTokenMembership on an identification-
 *              level duplicate: a UAC-filtered token has the group deny-only
 *              and is therefore not privileged)
 *   uid        not meaningful on Windows: 0; the core goes by user_sid
 *
 * pid reuse: the process opened must not have started after the connection
 * completed (its creation time is compared with the time identification
 * began), so a client that exited and whose pid went to a new process is not
 * mistaken for it.
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

int win_pipe_client_identity(HANDLE pipe, struct dob_identity *out, HANDLE *token, char *why,
			     size_t whylen)
{
	memset(out, 0, sizeof(*out));
	*token = NULL;
	FILETIME began;
	GetSystemTimeAsFileTime(&began);
	ULONG pid = 0;
	if (!GetNamedPipeClientProcessId(pipe, &pid)) {
		say(why, whylen, "GetNamedPipeClientProcessId", GetLastError());
		return -DOB_EACCES;
	}
	HANDLE src = NULL, imp = NULL;
	const char *from = "process token";
	HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
	if (proc) {
		FILETIME created, x1, x2, x3;
		if (!GetProcessTimes(proc, &created, &x1, &x2, &x3)) {
			say(why, whylen, "GetProcessTimes", GetLastError());
			CloseHandle(proc);
			return -DOB_EACCES;
		}
		if (ft64(created) > ft64(began)) {
			snprintf(why, whylen,
				 "pid %lu belongs to a process started after the connection (the "
				 "client is gone and its pid was reused)",
				 (unsigned long)pid);
			CloseHandle(proc);
			return -DOB_EACCES;
		}
		if (!OpenProcessToken(proc, TOKEN_QUERY | TOKEN_DUPLICATE, &src))
			src = NULL;
		CloseHandle(proc);
	}
	if (!src) {
		char why2[256];
		from = "pipe impersonation token";
		src = impersonation_token(pipe, why2, sizeof(why2));
		if (!src) {
			snprintf(why, whylen, "pid %lu: cannot open its process token nor %s",
				 (unsigned long)pid, why2);
			return -DOB_EACCES;
		}
	}
	if (!DuplicateTokenEx(src, TOKEN_QUERY | TOKEN_DUPLICATE, NULL, SecurityIdentification,
			      TokenImpersonation, &imp)) {
		say(why, whylen, "DuplicateTokenEx", GetLastError());
		CloseHandle(src);
		return -DOB_EACCES;
	}
	CloseHandle(src);
	char why2[384];
	int r = win_token_identity(imp, out, why2, sizeof(why2));
	if (r < 0) {
		snprintf(why, whylen, "pid %lu (%s): %s", (unsigned long)pid, from, why2);
		CloseHandle(imp);
		return r;
	}
	out->pid = pid;
	*token = imp;
	log_debug("pipe: client pid %lu user %s%s%s integrity 0x%lx%s%s (from its %s)",
		  (unsigned long)pid, out->user_sid,
		  out->appcontainer_sid ? " appcontainer " : "",
		  out->appcontainer_sid ? out->appcontainer_sid : "",
		  (unsigned long)out->integrity_rid, out->sandboxed ? " sandboxed" : "",
		  out->privileged ? " privileged" : "", from);
	return 0;
}
