/*
 * broker/win32/sd_win32.c - the security descriptors the broker puts on its
 * pipe and its state directory, built explicitly from SDDL.
 *
 * Who may open the pipe (DESIGN.md, "Security model"): SYSTEM,
 * Administrators and the broker's own user, with full access; sandboxed
 * callers only when enabled. The DACL is protected (D:P): nothing is
 * inherited, nobody else (not Everyone, not Authenticated Users, not other
 * interactive users) has an ACE.
 *
 * The broker's own user keeps FILE_CREATE_PIPE_INSTANCE: the broker needs it
 * to create the instances after the first when it runs as that user (the
 * check is made against this DACL). Other processes of the same user could
 * use it too; they could equally debug the broker, so this gives nothing new.
 *
 * Sandboxed callers (ALL APPLICATION PACKAGES, S-1-15-2-1, and each listed
 * package SID) get WIN_PIPE_CLIENT_ACCESS (0x0012019B: read and write data,
 * attributes and EAs, READ_CONTROL, SYNCHRONIZE; no FILE_CREATE_PIPE_INSTANCE,
 * no WRITE_DAC/WRITE_OWNER/DELETE) and the object gets a low mandatory label
 * with no-write-up, so low-integrity processes may open it for writing.
 * Without the flag there is no label: an unlabelled object counts as medium,
 * which keeps low-integrity processes from opening it for writing, and no
 * AppContainer ACE lets a package in.
 *
 * Rights are written as specific masks (FA = FILE_ALL_ACCESS, 0x1F01FF, not
 * GA), so the descriptor read back from the pipe equals the one set.
 */
#include <stdio.h>
#include <string.h>

#include "win32/win.h"

#include <sddl.h>

#include "dob/alloc.h"
#include "dob/err.h"

#define SID_SYSTEM "S-1-5-18"
#define PACKAGE_PREFIX "S-1-15-2-"

int win_token_user_sid(HANDLE token, char **out)
{
	*out = NULL;
	union {
		TOKEN_USER tu;
		uint8_t b[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
	} u;
	DWORD n = 0;
	if (!GetTokenInformation(token, TokenUser, &u, sizeof(u), &n))
		return win_error_to_err(GetLastError());
	char *s = NULL;
	if (!ConvertSidToStringSidA(u.tu.User.Sid, &s))
		return win_error_to_err(GetLastError());
	*out = dob_strdup(s);
	LocalFree(s);
	return *out ? 0 : -DOB_ENOMEM;
}

int win_self_user_sid(char **out)
{
	*out = NULL;
	HANDLE tok = NULL;
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return win_error_to_err(GetLastError());
	int r = win_token_user_sid(tok, out);
	CloseHandle(tok);
	return r;
}

/* A package SID from the command line, checked and put in canonical form:
 * only S-1-15-2-<digits>-..., a valid SID, re-printed by the system. */
static int package_sid(const char *in, char **out)
{
	*out = NULL;
	if (!in || strncmp(in, PACKAGE_PREFIX, strlen(PACKAGE_PREFIX)) != 0 ||
	    strlen(in) > 184)
		return -DOB_EINVAL;
	for (const char *p = in; *p; p++)
		if (!(*p == 'S' || *p == '-' || (*p >= '0' && *p <= '9')))
			return -DOB_EINVAL;
	PSID sid = NULL;
	if (!ConvertStringSidToSidA(in, &sid))
		return -DOB_EINVAL;
	char *s = NULL;
	int r = 0;
	if (!IsValidSid(sid) || !ConvertSidToStringSidA(sid, &s))
		r = -DOB_EINVAL;
	LocalFree(sid);
	if (r < 0)
		return r;
	if (strncmp(s, PACKAGE_PREFIX, strlen(PACKAGE_PREFIX)) != 0 ||
	    strcmp(s, "S-1-15-2-1") == 0 || strcmp(s, "S-1-15-2-2") == 0) {
		/* ALL (RESTRICTED) APPLICATION PACKAGES are not packages. */
		LocalFree(s);
		return -DOB_EINVAL;
	}
	*out = dob_strdup(s);
	LocalFree(s);
	return *out ? 0 : -DOB_ENOMEM;
}

/* Appends text to a growing string; on failure *buf is freed and NULL. */
static int append(char **buf, size_t *len, const char *a, const char *b, const char *c)
{
	size_t add = strlen(a) + (b ? strlen(b) : 0) + (c ? strlen(c) : 0);
	char *n = dob_realloc(*buf, *len + add + 1);
	if (!n) {
		dob_free(*buf);
		*buf = NULL;
		return -DOB_ENOMEM;
	}
	n[*len] = 0;
	strcat(n, a);
	if (b)
		strcat(n, b);
	if (c)
		strcat(n, c);
	*len += add;
	*buf = n;
	return 0;
}

int win_pipe_sddl(bool allow_sandboxed, const char *const *package_sids, wchar_t **out)
{
	*out = NULL;
	if (!allow_sandboxed && package_sids && package_sids[0])
		return -DOB_EINVAL; /* a package list means nothing without the flag */
	char *user = NULL, *s = NULL;
	size_t len = 0;
	int r = win_self_user_sid(&user);
	if (r < 0)
		return r;
	char client[32];
	snprintf(client, sizeof(client), "(A;;0x%lx;;;", (unsigned long)WIN_PIPE_CLIENT_ACCESS);
	r = append(&s, &len, "D:P(A;;FA;;;SY)(A;;FA;;;BA)", NULL, NULL);
	if (r == 0 && strcmp(user, SID_SYSTEM) != 0)
		r = append(&s, &len, "(A;;FA;;;", user, ")");
	if (r == 0 && allow_sandboxed) {
		r = append(&s, &len, client, "AC", ")");
		for (size_t i = 0; r == 0 && package_sids && package_sids[i]; i++) {
			char *p = NULL;
			r = package_sid(package_sids[i], &p);
			if (r == 0)
				r = append(&s, &len, client, p, ")");
			dob_free(p);
		}
		if (r == 0)
			r = append(&s, &len, "S:(ML;;NW;;;LW)", NULL, NULL);
	}
	if (r == 0)
		r = win_utf8_to_wide(s, out);
	dob_free(s);
	dob_free(user);
	return r;
}

int win_pipe_security(bool allow_sandboxed, const char *const *package_sids,
		      PSECURITY_DESCRIPTOR *out, char *errbuf, size_t errlen)
{
	*out = NULL;
	wchar_t *sddl = NULL;
	int r = win_pipe_sddl(allow_sandboxed, package_sids, &sddl);
	if (r == -DOB_EINVAL && !allow_sandboxed) {
		snprintf(errbuf, errlen, "package SIDs are given but sandboxed callers are not "
					 "admitted (enable them to use package SIDs)");
		return r;
	}
	if (r == -DOB_EINVAL) {
		snprintf(errbuf, errlen,
			 "invalid package SID (want an AppContainer package SID, S-1-15-2-...)");
		return r;
	}
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot build the pipe's security descriptor: %s",
			 dob_strerror(r));
		return r;
	}
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, out,
								  NULL)) {
		DWORD e = GetLastError();
		char msg[256];
		snprintf(errbuf, errlen, "cannot build the pipe's security descriptor: %s",
			 win_strerror(e, msg, sizeof(msg)));
		r = win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
	}
	dob_free(sddl);
	return r;
}

int win_private_dir_security(PSECURITY_DESCRIPTOR *out)
{
	*out = NULL;
	char *user = NULL, *s = NULL;
	size_t len = 0;
	int r = win_self_user_sid(&user);
	if (r == 0)
		r = append(&s, &len, "D:P(A;OICI;FA;;;", user, ")");
	wchar_t *w = NULL;
	if (r == 0)
		r = win_utf8_to_wide(s, &w);
	if (r == 0 &&
	    !ConvertStringSecurityDescriptorToSecurityDescriptorW(w, SDDL_REVISION_1, out, NULL))
		r = win_error_to_err(GetLastError()) ? win_error_to_err(GetLastError()) : -DOB_EIO;
	dob_free(w);
	dob_free(s);
	dob_free(user);
	return r;
}
