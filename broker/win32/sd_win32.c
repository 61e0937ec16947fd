/*
 * broker/win32/sd_win32.c - the security descriptors the broker puts on its
 * pipe and its state directory, built explicitly from SDDL.
 *
 * Two deployment modes (docs/security.md, "Pipe DACLs"), each with its own
 * DACL. Every ACE and the reason for it:
 *
 *   both modes
 *     O:<broker's user>   the owner is named, not left to the token's default
 *                         owner (Administrators for an elevated token), so a
 *                         client can check who made the pipe
 *                         (transport_win32.c): a squatter cannot make itself
 *                         look like SYSTEM or another user without
 *                         SeRestorePrivilege.
 *     D:P                 protected: nothing inherited; nobody without an ACE
 *                         (not Everyone, not Anonymous, not the network).
 *     (A;;FA;;;SY)        SYSTEM: the operating system itself (and the
 *                         service's account when it runs as LocalSystem).
 *     (A;;RC;;;S-1-3-4)   OWNER RIGHTS: the owner keeps READ_CONTROL only,
 *                         losing its implicit WRITE_DAC, so no process of the
 *                         broker's user (a low-integrity one, when the label
 *                         admits it) can rewrite this DACL.
 *   per-user mode (a broker run as the user: console, or started at logon)
 *     (A;;0x12019b;;;<user>)   the user's apps: client rights only.
 *     (A;;0x4;;;<logon SID>)   FILE_CREATE_PIPE_INSTANCE for the broker's own
 *                              logon session (S-1-5-5-X-Y); the user SID when
 *                              the token has no logon SID. The broker needs it
 *                              for the instances after the first.
 *   service mode (the machine service, `dobrokerd install`)
 *     (A;;0x12019f;;;<service SID>)  the service's own SID (NT SERVICE\dobroker,
 *                              S-1-5-80-...): client rights and
 *                              FILE_CREATE_PIPE_INSTANCE. The process's user
 *                              SID instead when the token carries no service
 *                              SID (run as `--mode service` outside the SCM).
 *     (A;;0x12019b;;;IU)       INTERACTIVE: every interactive user's apps,
 *                              client rights only; each is held to its own
 *                              jobs by the core (authz.c).
 *   sandboxed callers, only with --allow-sandboxed (either mode)
 *     (A;;0x12019b;;;AC)       ALL APPLICATION PACKAGES, and each listed
 *     (A;;0x12019b;;;<pkg>)    package SID: client rights. An AppContainer
 *                              needs both a user/group ACE and a package ACE
 *                              for a right, so no AppContainer ever gets
 *                              FILE_CREATE_PIPE_INSTANCE.
 *     S:(ML;;NW;;;LW)          low mandatory label, no-write-up: low-integrity
 *                              processes may open the pipe for writing.
 *                              Without the flag there is no label: an
 *                              unlabelled object counts as medium, which keeps
 *                              low-integrity processes from writing to it (and
 *                              from creating instances).
 *
 * Client rights, WIN_PIPE_CLIENT_ACCESS (0x0012019B): read and write data,
 * attributes and EAs, READ_CONTROL, SYNCHRONIZE. Not FILE_GENERIC_WRITE: on a
 * pipe FILE_APPEND_DATA is FILE_CREATE_PIPE_INSTANCE (0x4), so the bits are
 * granted one by one. No WRITE_DAC, WRITE_OWNER or DELETE.
 *
 * What the DACL cannot do: with --allow-sandboxed in per-user mode, a
 * low-integrity process outside an AppContainer carries the same user and
 * logon SIDs as the broker, so FILE_CREATE_PIPE_INSTANCE cannot be kept from
 * it by an ACE. The fixed pool (pipe_win32.c: nMaxInstances equals the
 * pool, every instance held by the broker) leaves no instance to create, and
 * clients check the server process's integrity (transport_win32.c).
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

/* The SID of the first group of the token whose attributes have `attr`
 * (SE_GROUP_LOGON_ID) or whose text starts with `prefix` (dob_free it);
 * -DOB_ENOTFOUND when there is none. */
static int token_group_sid(HANDLE tok, DWORD attr, const char *prefix, char **out)
{
	*out = NULL;
	DWORD n = 0;
	GetTokenInformation(tok, TokenGroups, NULL, 0, &n);
	if (n == 0)
		return win_error_to_err(GetLastError()) ? win_error_to_err(GetLastError())
							: -DOB_EIO;
	TOKEN_GROUPS *g = dob_malloc(n);
	if (!g)
		return -DOB_ENOMEM;
	int r = -DOB_ENOTFOUND;
	if (!GetTokenInformation(tok, TokenGroups, g, n, &n)) {
		r = win_error_to_err(GetLastError()) ? win_error_to_err(GetLastError()) : -DOB_EIO;
		goto out;
	}
	for (DWORD i = 0; i < g->GroupCount; i++) {
		char *s = NULL;
		if (attr && (g->Groups[i].Attributes & attr) != attr)
			continue;
		if (!ConvertSidToStringSidA(g->Groups[i].Sid, &s))
			continue;
		if (!prefix || strncmp(s, prefix, strlen(prefix)) == 0) {
			*out = dob_strdup(s);
			r = *out ? 0 : -DOB_ENOMEM;
			LocalFree(s);
			break;
		}
		LocalFree(s);
	}
out:
	dob_free(g);
	return r;
}

int win_self_pipe_sids(struct win_pipe_sids *out)
{
	memset(out, 0, sizeof(*out));
	HANDLE tok = NULL;
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return win_error_to_err(GetLastError());
	int r = win_token_user_sid(tok, &out->user);
	if (r == 0) {
		r = token_group_sid(tok, SE_GROUP_LOGON_ID, NULL, &out->logon);
		if (r == -DOB_ENOTFOUND || r == -DOB_EIO)
			r = 0; /* documented: the user SID stands in */
	}
	if (r == 0) {
		/* A service started with SERVICE_SID_TYPE_UNRESTRICTED carries
		 * NT SERVICE\<name> in its groups. */
		r = token_group_sid(tok, 0, "S-1-5-80-", &out->service);
		if (r == -DOB_ENOTFOUND || r == -DOB_EIO)
			r = 0;
	}
	CloseHandle(tok);
	if (r < 0)
		win_pipe_sids_clear(out);
	return r;
}

void win_pipe_sids_clear(struct win_pipe_sids *s)
{
	dob_free(s->user);
	dob_free(s->logon);
	dob_free(s->service);
	memset(s, 0, sizeof(*s));
}

/* A SID from the token, checked the same way as a package SID is before it
 * goes into SDDL: "S-1-" and digits and dashes only. */
static bool sid_text(const char *s)
{
	if (!s || strncmp(s, "S-1-", 4) != 0 || strlen(s) > 184)
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == 'S' || *p == '-' || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

int win_pipe_sddl_for(const struct win_pipe_sids *ids, bool service_mode, bool allow_sandboxed,
		      const char *const *package_sids, wchar_t **out)
{
	*out = NULL;
	if (!allow_sandboxed && package_sids && package_sids[0])
		return -DOB_EINVAL; /* a package list means nothing without the flag */
	if (!sid_text(ids->user) || (ids->logon && !sid_text(ids->logon)) ||
	    (ids->service && !sid_text(ids->service)))
		return -DOB_EINVAL;
	char *s = NULL;
	size_t len = 0;
	char client[32], creator[32];
	snprintf(client, sizeof(client), "(A;;0x%lx;;;", (unsigned long)WIN_PIPE_CLIENT_ACCESS);
	int r = append(&s, &len, "O:", ids->user, "D:P(A;;FA;;;SY)(A;;RC;;;S-1-3-4)");
	if (service_mode) {
		snprintf(creator, sizeof(creator), "(A;;0x%lx;;;",
			 (unsigned long)(WIN_PIPE_CLIENT_ACCESS | FILE_CREATE_PIPE_INSTANCE));
		const char *own = ids->service ? ids->service : ids->user;
		if (r == 0 && strcmp(own, SID_SYSTEM) != 0)
			r = append(&s, &len, creator, own, ")");
		if (r == 0)
			r = append(&s, &len, client, "IU", ")");
	} else {
		snprintf(creator, sizeof(creator), "(A;;0x%lx;;;",
			 (unsigned long)FILE_CREATE_PIPE_INSTANCE);
		if (r == 0 && strcmp(ids->user, SID_SYSTEM) != 0)
			r = append(&s, &len, client, ids->user, ")");
		if (r == 0 && strcmp(ids->logon ? ids->logon : ids->user, SID_SYSTEM) != 0)
			r = append(&s, &len, creator, ids->logon ? ids->logon : ids->user, ")");
	}
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
	return r;
}

int win_pipe_sddl(bool service_mode, bool allow_sandboxed, const char *const *package_sids,
		  wchar_t **out)
{
	*out = NULL;
	struct win_pipe_sids ids;
	int r = win_self_pipe_sids(&ids);
	if (r < 0)
		return r;
	r = win_pipe_sddl_for(&ids, service_mode, allow_sandboxed, package_sids, out);
	win_pipe_sids_clear(&ids);
	return r;
}

int win_pipe_security(bool service_mode, bool allow_sandboxed, const char *const *package_sids,
		      PSECURITY_DESCRIPTOR *out, char *errbuf, size_t errlen)
{
	*out = NULL;
	wchar_t *sddl = NULL;
	int r = win_pipe_sddl(service_mode, allow_sandboxed, package_sids, &sddl);
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
