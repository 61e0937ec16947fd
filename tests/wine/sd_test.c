/*
 * sd_test.exe - the pipe's security descriptor, read back from the live pipe
 * with GetSecurityInfo, holds exactly the intended ACEs (type, flags, SID,
 * access mask, count, order), a protected DACL and the mandatory label, with
 * and without the sandbox flag (run under Wine by scripts/check.sh).
 *
 * Wine stores pipe descriptors but does not enforce them on open
 * (reference/do-api.md section 9), so this checks what the broker asks of
 * the system; enforcement is for real Windows.
 */
#include <aclapi.h>
#include <sddl.h>

#include "wtest.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"
#include "win32/win.h"

#define PKG1 "S-1-15-2-1111111111-2222222222-3333333333-444444444-555555555-666666666-777777777"
#define PKG2 "S-1-15-2-9-8-7-6-5-4-3"

static char self_sid[200];

/* The test's own view of its user, not the platform's code. */
static void get_self_sid(void)
{
	HANDLE tok;
	uint8_t buf[512];
	DWORD n;
	char *s = NULL;
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) &&
	    GetTokenInformation(tok, TokenUser, buf, sizeof(buf), &n) &&
	    ConvertSidToStringSidA(((TOKEN_USER *)buf)->User.Sid, &s)) {
		snprintf(self_sid, sizeof(self_sid), "%s", s);
		LocalFree(s);
	}
	CloseHandle(tok);
}

static const struct plat_handlers handlers = {0};

struct want_ace {
	const char *sid;
	DWORD mask;
};

static void check_ace(ACL *acl, DWORD i, const struct want_ace *w)
{
	void *p = NULL;
	if (!CHECK(GetAce(acl, i, &p)))
		return;
	ACE_HEADER *h = p;
	CHECK_EQ(h->AceType, ACCESS_ALLOWED_ACE_TYPE);
	CHECK_EQ(h->AceFlags, 0); /* not inherited, nothing to inherit */
	ACCESS_ALLOWED_ACE *a = p;
	char *s = NULL;
	CHECK(ConvertSidToStringSidA((PSID)&a->SidStart, &s));
	CHECK_STR(s, w->sid);
	if (!wt_check_eq(a->Mask, w->mask, "mask", __LINE__))
		printf("  (ACE %lu, %s)\n", (unsigned long)i, w->sid);
	LocalFree(s);
}

/* Listens with these options, reads the descriptor back from a client
 * handle, checks it against want/nwant and the label. */
static void check_live(bool sandboxed, const char *const *pkgs, const struct want_ace *want,
		       DWORD nwant)
{
	struct plat_loop *l = NULL;
	char name[200], err[512] = "";
	wt_unique_pipe(name, sizeof(name), sandboxed ? "sdsb" : "sd");
	CHECK_EQ(plat_loop_new(&l, &handlers), 0);
	struct plat_listen_opts o = {.endpoint = name, .allow_sandboxed = sandboxed,
				     .package_sids = pkgs};
	if (!CHECK_EQ(plat_listen(l, &o, err, sizeof(err)), 0)) {
		printf("plat_listen: %s\n", err);
		plat_loop_free(l);
		return;
	}
	HANDLE h = wt_connect(name, 2000);
	CHECK(h != INVALID_HANDLE_VALUE);
	PACL dacl = NULL, sacl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	DWORD e = GetSecurityInfo(h, SE_KERNEL_OBJECT,
				  DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION, NULL, NULL,
				  &dacl, &sacl, &sd);
	if (!CHECK_EQ(e, ERROR_SUCCESS) || !CHECK(dacl != NULL)) {
		CloseHandle(h);
		plat_loop_free(l);
		return;
	}
	SECURITY_DESCRIPTOR_CONTROL ctl = 0;
	DWORD rev = 0;
	CHECK(GetSecurityDescriptorControl(sd, &ctl, &rev));
	CHECK(ctl & SE_DACL_PROTECTED);
	CHECK(ctl & SE_DACL_PRESENT);
	CHECK_EQ(dacl->AceCount, nwant);
	for (DWORD i = 0; i < nwant && i < dacl->AceCount; i++)
		check_ace(dacl, i, &want[i]);

	/* The mandatory label: only with the sandbox flag. */
	DWORD labels = 0;
	for (DWORD i = 0; sacl && i < sacl->AceCount; i++) {
		void *p = NULL;
		if (!GetAce(sacl, i, &p) || ((ACE_HEADER *)p)->AceType != SYSTEM_MANDATORY_LABEL_ACE_TYPE)
			continue;
		labels++;
		SYSTEM_MANDATORY_LABEL_ACE *a = p;
		char *s = NULL;
		CHECK(ConvertSidToStringSidA((PSID)&a->SidStart, &s));
		CHECK_STR(s, "S-1-16-4096"); /* low */
		CHECK_EQ(a->Mask, SYSTEM_MANDATORY_LABEL_NO_WRITE_UP);
		CHECK_EQ(a->Header.AceFlags, 0);
		LocalFree(s);
	}
	CHECK_EQ(labels, sandboxed ? 1 : 0);
	LocalFree(sd);
	CloseHandle(h);
	plat_loop_free(l);
}

static void test_sddl_strings(void)
{
	wchar_t *w = NULL;
	char want[1024];
	char *got = NULL;

	CHECK_EQ(win_pipe_sddl(false, NULL, &w), 0);
	win_wide_to_utf8(w, &got);
	snprintf(want, sizeof(want), "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;%s)", self_sid);
	CHECK_STR(got, want);
	dob_free(got);
	dob_free(w);

	const char *pkgs[] = {PKG1, PKG2, NULL};
	CHECK_EQ(win_pipe_sddl(true, pkgs, &w), 0);
	win_wide_to_utf8(w, &got);
	snprintf(want, sizeof(want),
		 "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;%s)(A;;0x12019b;;;AC)(A;;0x12019b;;;%s)"
		 "(A;;0x12019b;;;%s)S:(ML;;NW;;;LW)",
		 self_sid, PKG1, PKG2);
	CHECK_STR(got, want);
	dob_free(got);
	dob_free(w);

	/* Nothing unchecked reaches the SDDL. */
	const char *bad[][2] = {
		{"S-1-15-2-1)(A;;FA;;;WD", NULL}, /* injection */
		{"S-1-5-32-544", NULL},           /* not a package */
		{"S-1-15-2-1", NULL},             /* ALL APPLICATION PACKAGES is not a package */
		{"S-1-15-2-", NULL},
		{"s-1-15-2-5", NULL},
		{"", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = (wchar_t *)1;
		CHECK_EQ(win_pipe_sddl(true, bad[i], &w), -DOB_EINVAL);
		CHECK(w == NULL);
	}
	/* Package SIDs without the flag: refused, not ignored. */
	CHECK_EQ(win_pipe_sddl(false, pkgs, &w), -DOB_EINVAL);
	CHECK_EQ(WIN_PIPE_CLIENT_ACCESS,
		 (FILE_GENERIC_READ | FILE_GENERIC_WRITE) & ~(DWORD)FILE_CREATE_PIPE_INSTANCE);
	CHECK_EQ(WIN_PIPE_CLIENT_ACCESS & FILE_CREATE_PIPE_INSTANCE, 0);
	CHECK_EQ(WIN_PIPE_FULL_ACCESS, FILE_ALL_ACCESS);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	get_self_sid();
	CHECK(self_sid[0] != 0);
	test_sddl_strings();

	const struct want_ace base[] = {
		{"S-1-5-18", FILE_ALL_ACCESS},
		{"S-1-5-32-544", FILE_ALL_ACCESS},
		{self_sid, FILE_ALL_ACCESS},
	};
	check_live(false, NULL, base, 3);

	const char *pkgs[] = {PKG1, PKG2, NULL};
	const struct want_ace sb[] = {
		{"S-1-5-18", FILE_ALL_ACCESS},
		{"S-1-5-32-544", FILE_ALL_ACCESS},
		{self_sid, FILE_ALL_ACCESS},
		{"S-1-15-2-1", 0x0012019B},
		{PKG1, 0x0012019B},
		{PKG2, 0x0012019B},
	};
	check_live(true, pkgs, sb, 6);
	check_live(true, NULL, sb, 4);
	return wt_finish("sd_test");
}
