/*
 * sd_test.exe - the pipe's security descriptor, read back from the live pipe
 * with GetSecurityInfo, holds exactly the intended owner and ACEs (type,
 * flags, SID, access mask, count, order), a protected DACL and the mandatory
 * label, in both deployment modes (per-user and service) with and without
 * the sandbox flag; and, whatever the mode, nobody but SYSTEM and the
 * broker's own identity holds FILE_CREATE_PIPE_INSTANCE, WRITE_DAC or
 * WRITE_OWNER (run under Wine by scripts/check.sh).
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

static char self_sid[200], logon_sid[200], creator_sid[200];

/* The test's own view of its user and logon session, not the platform's
 * code: TokenUser, and the group with SE_GROUP_LOGON_ID (the user SID stands
 * in when there is none, as sd_win32.c documents). */
static void get_self_sid(void)
{
	HANDLE tok;
	static uint8_t buf[8192];
	DWORD n;
	char *s = NULL;
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) &&
	    GetTokenInformation(tok, TokenUser, buf, sizeof(buf), &n) &&
	    ConvertSidToStringSidA(((TOKEN_USER *)buf)->User.Sid, &s)) {
		snprintf(self_sid, sizeof(self_sid), "%s", s);
		LocalFree(s);
	}
	snprintf(logon_sid, sizeof(logon_sid), "%s", self_sid);
	if (GetTokenInformation(tok, TokenGroups, buf, sizeof(buf), &n)) {
		TOKEN_GROUPS *g = (TOKEN_GROUPS *)buf;
		for (DWORD i = 0; i < g->GroupCount; i++)
			if ((g->Groups[i].Attributes & SE_GROUP_LOGON_ID) == SE_GROUP_LOGON_ID &&
			    ConvertSidToStringSidA(g->Groups[i].Sid, &s)) {
				snprintf(logon_sid, sizeof(logon_sid), "%s", s);
				LocalFree(s);
				break;
			}
	}
	/* Not a service: the service mode's creator ACE names the user. */
	snprintf(creator_sid, sizeof(creator_sid), "%s", self_sid);
	printf("user %s, logon session %s\n", self_sid, logon_sid);
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

/* Whatever the mode: the rights that let a process squat or rewrite the
 * pipe (FILE_CREATE_PIPE_INSTANCE, WRITE_DAC, WRITE_OWNER) belong to SYSTEM
 * and the broker's own identity only; OWNER RIGHTS limits the owner to
 * READ_CONTROL. */
static void check_no_one_else_creates(ACL *acl, const char *creator)
{
	for (DWORD i = 0; i < acl->AceCount; i++) {
		void *p = NULL;
		char *s = NULL;
		if (!CHECK(GetAce(acl, i, &p)) ||
		    !CHECK(ConvertSidToStringSidA((PSID) & ((ACCESS_ALLOWED_ACE *)p)->SidStart, &s)))
			continue;
		DWORD m = ((ACCESS_ALLOWED_ACE *)p)->Mask;
		bool may = strcmp(s, "S-1-5-18") == 0 || strcmp(s, creator) == 0;
		if (!may && !CHECK_EQ(m & (FILE_CREATE_PIPE_INSTANCE | WRITE_DAC | WRITE_OWNER), 0))
			printf("  ACE %lu (%s) grants 0x%lx\n", (unsigned long)i, s, (unsigned long)m);
		if (strcmp(s, "S-1-3-4") == 0)
			CHECK_EQ(m, READ_CONTROL);
		LocalFree(s);
	}
}

/* Listens with these options, reads the descriptor back from a client
 * handle, checks it against the owner, want/nwant and the label. */
static void check_live(bool service, bool sandboxed, const char *const *pkgs,
		       const struct want_ace *want, DWORD nwant)
{
	struct plat_loop *l = NULL;
	char name[200], err[512] = "";
	wt_unique_pipe(name, sizeof(name), service ? (sandboxed ? "sdsvsb" : "sdsv")
						   : (sandboxed ? "sdsb" : "sd"));
	printf("-- %s mode%s\n", service ? "service" : "per-user",
	       sandboxed ? ", sandboxed callers admitted" : "");
	CHECK_EQ(plat_loop_new(&l, &handlers), 0);
	struct plat_listen_opts o = {.endpoint = name, .allow_sandboxed = sandboxed,
				     .package_sids = pkgs, .service_mode = service,
				     .pipe_instances = 4};
	if (!CHECK_EQ(plat_listen(l, &o, err, sizeof(err)), 0)) {
		printf("plat_listen: %s\n", err);
		plat_loop_free(l);
		return;
	}
	HANDLE h = wt_connect(name, 2000);
	CHECK(h != INVALID_HANDLE_VALUE);
	PACL dacl = NULL, sacl = NULL;
	PSID owner = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	DWORD e = GetSecurityInfo(h, SE_KERNEL_OBJECT,
				  OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION |
					  LABEL_SECURITY_INFORMATION,
				  &owner, NULL, &dacl, &sacl, &sd);
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
	char *os = NULL;
	if (CHECK(owner != NULL) && CHECK(ConvertSidToStringSidA(owner, &os))) {
		CHECK_STR(os, self_sid); /* named explicitly: the client checks it */
		LocalFree(os);
	}
	CHECK_EQ(dacl->AceCount, nwant);
	for (DWORD i = 0; i < nwant && i < dacl->AceCount; i++)
		check_ace(dacl, i, &want[i]);
	check_no_one_else_creates(dacl, service ? creator_sid : logon_sid);

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
	char *got = NULL;
	struct win_pipe_sids ids = {.user = "S-1-5-21-1-2-3-1001", .logon = "S-1-5-5-0-4242",
				    .service = NULL};

	/* Per-user: the user with client rights, create-instance for the
	 * broker's logon session only. */
	CHECK_EQ(win_pipe_sddl_for(&ids, false, false, NULL, &w), 0);
	win_wide_to_utf8(w, &got);
	CHECK_STR(got, "O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;SY)(A;;RC;;;S-1-3-4)"
		       "(A;;0x12019b;;;S-1-5-21-1-2-3-1001)(A;;0x4;;;S-1-5-5-0-4242)");
	dob_free(got);
	dob_free(w);

	/* Service: the service SID creates instances, interactive users are
	 * clients; with sandboxed callers, AC, packages and the low label. */
	ids.user = "S-1-5-18";
	ids.service = "S-1-5-80-1-2-3-4-5";
	const char *pkgs[] = {PKG1, PKG2, NULL};
	CHECK_EQ(win_pipe_sddl_for(&ids, true, true, pkgs, &w), 0);
	win_wide_to_utf8(w, &got);
	char want[1024];
	snprintf(want, sizeof(want),
		 "O:S-1-5-18D:P(A;;FA;;;SY)(A;;RC;;;S-1-3-4)(A;;0x12019f;;;S-1-5-80-1-2-3-4-5)"
		 "(A;;0x12019b;;;IU)(A;;0x12019b;;;AC)(A;;0x12019b;;;%s)(A;;0x12019b;;;%s)"
		 "S:(ML;;NW;;;LW)",
		 PKG1, PKG2);
	CHECK_STR(got, want);
	dob_free(got);
	dob_free(w);

	/* Service mode outside the SCM (no service SID): the process's user
	 * creates instances. */
	ids.user = "S-1-5-21-1-2-3-1001";
	ids.service = NULL;
	CHECK_EQ(win_pipe_sddl_for(&ids, true, false, NULL, &w), 0);
	win_wide_to_utf8(w, &got);
	CHECK_STR(got, "O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;SY)(A;;RC;;;S-1-3-4)"
		       "(A;;0x12019f;;;S-1-5-21-1-2-3-1001)(A;;0x12019b;;;IU)");
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
		CHECK_EQ(win_pipe_sddl(false, true, bad[i], &w), -DOB_EINVAL);
		CHECK(w == NULL);
	}
	struct win_pipe_sids evil = {.user = "S-1-5-21-1)(A;;FA;;;WD"};
	CHECK_EQ(win_pipe_sddl_for(&evil, false, false, NULL, &w), -DOB_EINVAL);
	/* Package SIDs without the flag: refused, not ignored. */
	CHECK_EQ(win_pipe_sddl(false, false, pkgs, &w), -DOB_EINVAL);
	CHECK_EQ(WIN_PIPE_CLIENT_ACCESS,
		 (FILE_GENERIC_READ | FILE_GENERIC_WRITE) & ~(DWORD)FILE_CREATE_PIPE_INSTANCE);
	CHECK_EQ(WIN_PIPE_CLIENT_ACCESS & FILE_CREATE_PIPE_INSTANCE, 0);
	CHECK_EQ(FILE_CREATE_PIPE_INSTANCE, FILE_APPEND_DATA);
	CHECK_EQ(WIN_PIPE_FULL_ACCESS, FILE_ALL_ACCESS);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	get_self_sid();
	CHECK(self_sid[0] != 0);
	test_sddl_strings();

	const char *pkgs[] = {PKG1, PKG2, NULL};
	const struct want_ace user[] = {
		{"S-1-5-18", FILE_ALL_ACCESS},
		{"S-1-3-4", READ_CONTROL},
		{self_sid, WIN_PIPE_CLIENT_ACCESS},
		{logon_sid, FILE_CREATE_PIPE_INSTANCE},
		{"S-1-15-2-1", WIN_PIPE_CLIENT_ACCESS},
		{PKG1, WIN_PIPE_CLIENT_ACCESS},
		{PKG2, WIN_PIPE_CLIENT_ACCESS},
	};
	check_live(false, false, NULL, user, 4);
	check_live(false, true, pkgs, user, 7);
	check_live(false, true, NULL, user, 5);

	const struct want_ace svc[] = {
		{"S-1-5-18", FILE_ALL_ACCESS},
		{"S-1-3-4", READ_CONTROL},
		{creator_sid, WIN_PIPE_CLIENT_ACCESS | FILE_CREATE_PIPE_INSTANCE},
		{"S-1-5-4", WIN_PIPE_CLIENT_ACCESS},
		{"S-1-15-2-1", WIN_PIPE_CLIENT_ACCESS},
		{PKG1, WIN_PIPE_CLIENT_ACCESS},
	};
	check_live(true, false, NULL, svc, 4);
	const char *one[] = {PKG1, NULL};
	check_live(true, true, one, svc, 6);
	return wt_finish("sd_test");
}
