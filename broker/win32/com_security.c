/*
 * broker/win32/com_security.c - the process's COM security, set once.
 *
 * Why these values (see also backend_win32.h):
 *   - Impersonation level IMPERSONATE for outgoing calls: BITS and DO open
 *     and write the job's files as the calling user, and BITS refuses some
 *     calls (Job5 cost flags) below IMPERSONATE; COM's default without
 *     CoInitializeSecurity is IDENTIFY. Microsoft's BITS samples use the same.
 *   - Authentication level CONNECT: the lowest level at which the caller of
 *     an incoming call is known, which the access check below needs.
 *   - Incoming calls (the callbacks) are admitted from LocalSystem (the BITS
 *     service), NetworkService (DoSvc's account; unverified on real Windows:
 *     if DoSvc ran as another account its callbacks would be refused with
 *     E_ACCESSDENIED and the reconcile sweep would still find errors) and
 *     the broker's own user, and nobody else: any other process could
 *     otherwise call JobError on us with objects of its own making and
 *     inject fake errors into every subscriber.
 * Wine 8 enforces none of this: its CoInitializeSecurity accepts and ignores
 * the descriptor and levels, and every process runs as the same user.
 */
#include <stdio.h>

#include <windows.h>
#include <objbase.h>
#include <sddl.h>

#include "win32/backend_win32.h"
#include "win32/win.h"

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"

/* COM_RIGHTS_EXECUTE | COM_RIGHTS_EXECUTE_LOCAL */
#define CALL_RIGHTS "0x3"

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static int once_rc;
/* Kept for the life of the process: COM may refer to it. */
static PSECURITY_DESCRIPTOR absolute_sd;

/* Absolute-format copy of a self-relative descriptor, in one block. */
static PSECURITY_DESCRIPTOR make_absolute(PSECURITY_DESCRIPTOR rel)
{
	DWORD sd_n = 0, dacl_n = 0, sacl_n = 0, owner_n = 0, group_n = 0;

	MakeAbsoluteSD(rel, NULL, &sd_n, NULL, &dacl_n, NULL, &sacl_n, NULL, &owner_n, NULL, &group_n);
	size_t total = (size_t)sd_n + dacl_n + sacl_n + owner_n + group_n;
	/* 8-byte alignment for every part */
	total += 5 * 8;
	/* Process heap, not dob_malloc: it lives as long as the process. */
	BYTE *block = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, total);
	if (!block)
		return NULL;
	BYTE *at = block;
#define TAKE(n) (at = (BYTE *)(((uintptr_t)at + 7) & ~(uintptr_t)7), at += (n), at - (n))
	PSECURITY_DESCRIPTOR sd = TAKE(sd_n);
	PACL dacl = dacl_n ? (PACL)TAKE(dacl_n) : NULL;
	PACL sacl = sacl_n ? (PACL)TAKE(sacl_n) : NULL;
	PSID owner = owner_n ? (PSID)TAKE(owner_n) : NULL;
	PSID group = group_n ? (PSID)TAKE(group_n) : NULL;
#undef TAKE
	if (!MakeAbsoluteSD(rel, sd, &sd_n, dacl, &dacl_n, sacl, &sacl_n, owner, &owner_n, group,
			    &group_n)) {
		HeapFree(GetProcessHeap(), 0, block);
		return NULL;
	}
	return sd;
}

static int init_security(void)
{
	char *self = NULL;
	wchar_t *wsddl = NULL;
	PSECURITY_DESCRIPTOR rel = NULL;
	int rc = win_self_user_sid(&self);

	if (rc < 0) {
		log_error("com security: cannot read this process's user SID: %s", dob_strerror(rc));
		return -DOB_EBACKEND;
	}
	char sddl[512];
	snprintf(sddl, sizeof(sddl),
		 "O:%sG:%sD:(A;;" CALL_RIGHTS ";;;SY)(A;;" CALL_RIGHTS ";;;NS)(A;;" CALL_RIGHTS ";;;%s)",
		 self, self, self);
	dob_free(self);
	rc = win_utf8_to_wide(sddl, &wsddl);
	if (rc < 0)
		return rc;
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(wsddl, SDDL_REVISION_1, &rel,
								  NULL)) {
		log_error("com security: bad descriptor %s: error %lu", sddl,
			  (unsigned long)GetLastError());
		dob_free(wsddl);
		return -DOB_EBACKEND;
	}
	dob_free(wsddl);
	absolute_sd = make_absolute(rel);
	LocalFree(rel);
	if (!absolute_sd) {
		log_error("com security: MakeAbsoluteSD failed: error %lu", (unsigned long)GetLastError());
		return -DOB_EBACKEND;
	}
	HRESULT hr = CoInitializeSecurity(absolute_sd, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_CONNECT,
					  RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_NONE, NULL);
	if (hr == RPC_E_TOO_LATE) {
		log_info("com security: already set in this process; keeping it (callers must "
			 "allow IMPERSONATE for outgoing calls)");
		return 0;
	}
	if (FAILED(hr)) {
		log_error("com security: CoInitializeSecurity: 0x%08lX", (unsigned long)hr);
		return -DOB_EBACKEND;
	}
	log_debug("com security: %s, impersonate, authn connect", sddl);
	return 0;
}

static BOOL CALLBACK run_once(PINIT_ONCE o, void *param, void **ctx)
{
	once_rc = init_security();
	return TRUE;
}

int win_com_init_security(void)
{
	InitOnceExecuteOnce(&once, run_once, NULL, NULL);
	return once_rc;
}
