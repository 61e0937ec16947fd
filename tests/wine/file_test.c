/*
 * file_test.exe - the Win32 file functions of broker/platform.h, the
 * clocks, the default locations and the UTF-8/UTF-16 and error helpers
 * (run under Wine by scripts/check.sh).
 */
#include <aclapi.h>
#include <sddl.h>

#include "wtest.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"
#include "win32/win.h"

static char base[600];

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s\\%s", base, name);
}

static void test_mkdir_private(void)
{
	char d[700], d2[700];
	path(d, sizeof(d), "state");
	CHECK_EQ(plat_mkdir_private(d), 0);
	CHECK_EQ(plat_mkdir_private(d), 0); /* exists: fine */
	DWORD a = GetFileAttributesA(d);
	CHECK(a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY));

	/* Owner-only, protected DACL: one ACE, the user, full access, inherited
	 * by files and subdirectories. Wine turns a DACL that only grants the
	 * owner into Unix mode bits and reports them back as SYSTEM + owner,
	 * unprotected (measured); so under Wine: no ACE for anybody else. */
	bool wine = GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != NULL;
	PACL dacl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	CHECK_EQ(GetNamedSecurityInfoA(d, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL,
				       &dacl, NULL, &sd),
		 ERROR_SUCCESS);
	char *me = NULL;
	win_self_user_sid(&me);
	if (CHECK(dacl != NULL)) {
		SECURITY_DESCRIPTOR_CONTROL ctl = 0;
		DWORD rev;
		GetSecurityDescriptorControl(sd, &ctl, &rev);
		if (!wine) {
			CHECK(ctl & SE_DACL_PROTECTED);
			CHECK_EQ(dacl->AceCount, 1);
		}
		int mine = 0;
		for (DWORD i = 0; i < dacl->AceCount; i++) {
			void *p = NULL;
			if (!CHECK(GetAce(dacl, i, &p)))
				continue;
			ACCESS_ALLOWED_ACE *ace = p;
			char *s = NULL;
			ConvertSidToStringSidA((PSID)&ace->SidStart, &s);
			CHECK_EQ(ace->Header.AceType, ACCESS_ALLOWED_ACE_TYPE);
			if (s && me && strcmp(s, me) == 0) {
				mine++;
				CHECK_EQ(ace->Header.AceFlags, OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE);
				CHECK_EQ(ace->Mask, FILE_ALL_ACCESS);
			} else {
				/* Only Wine's SYSTEM may be there besides the user. */
				if (!CHECK(wine && s && strcmp(s, "S-1-5-18") == 0))
					printf("  unexpected ACE for %s\n", s ? s : "?");
			}
			LocalFree(s);
		}
		CHECK_EQ(mine, 1);
	}
	dob_free(me);
	LocalFree(sd);

	/* Missing parents are created; forward slashes are accepted. */
	path(d2, sizeof(d2), "a/b/c");
	CHECK_EQ(plat_mkdir_private(d2), 0);
	path(d2, sizeof(d2), "a\\b\\c");
	a = GetFileAttributesA(d2);
	CHECK(a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY));
	/* A file in the way. */
	char f[700];
	path(f, sizeof(f), "plainfile");
	HANDLE h = CreateFileA(f, GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL);
	CloseHandle(h);
	CHECK_EQ(plat_mkdir_private(f), -DOB_EEXIST);
	DeleteFileA(f);
	CHECK_EQ(plat_mkdir_private(""), -DOB_EINVAL);
}

static void test_append_read_truncate(void)
{
	char f[700];
	path(f, sizeof(f), "state\\journal.dob");
	uint8_t *buf = NULL;
	size_t len = 1;
	CHECK_EQ(plat_file_read_all(f, &buf, &len), -DOB_ENOTFOUND);
	CHECK(buf == NULL && len == 0);

	struct plat_file *pf = NULL;
	CHECK_EQ(plat_file_open_append(f, &pf), 0);
	CHECK_EQ(plat_file_write(pf, "hello ", 6, false), 0);
	CHECK_EQ(plat_file_write(pf, "world", 5, true), 0);
	CHECK_EQ(plat_file_write(pf, "", 0, false), 0);
	CHECK_EQ(plat_file_read_all(f, &buf, &len), 0); /* readable while open */
	CHECK_EQ(len, 11);
	CHECK(buf && memcmp(buf, "hello world", 11) == 0);
	dob_free(buf);

	/* Truncate drops the tail; the next write appends at the new end. */
	CHECK_EQ(plat_file_truncate(pf, 5), 0);
	CHECK_EQ(plat_file_write(pf, "!", 1, true), 0);
	CHECK_EQ(plat_file_read_all(f, &buf, &len), 0);
	CHECK_EQ(len, 6);
	CHECK(buf && memcmp(buf, "hello!", 6) == 0);
	dob_free(buf);
	plat_file_close(pf);
	plat_file_close(NULL);

	/* Reopen appends after what is there. */
	CHECK_EQ(plat_file_open_append(f, &pf), 0);
	CHECK_EQ(plat_file_write(pf, "?", 1, false), 0);
	plat_file_close(pf);
	CHECK_EQ(plat_file_read_all(f, &buf, &len), 0);
	CHECK_EQ(len, 7);
	CHECK(buf && memcmp(buf, "hello!?", 7) == 0);
	dob_free(buf);

	/* An empty file reads as 0 bytes and a non-NULL buffer. */
	char e[700];
	path(e, sizeof(e), "state\\empty");
	CHECK_EQ(plat_file_open_append(e, &pf), 0);
	plat_file_close(pf);
	CHECK_EQ(plat_file_read_all(e, &buf, &len), 0);
	CHECK_EQ(len, 0);
	CHECK(buf != NULL);
	dob_free(buf);

	/* A larger file, written in pieces. */
	char big[700];
	path(big, sizeof(big), "state\\big");
	CHECK_EQ(plat_file_open_append(big, &pf), 0);
	uint8_t chunk[4096];
	for (int i = 0; i < 256; i++) {
		memset(chunk, i, sizeof(chunk));
		CHECK_EQ(plat_file_write(pf, chunk, sizeof(chunk), false), 0);
	}
	plat_file_close(pf);
	CHECK_EQ(plat_file_read_all(big, &buf, &len), 0);
	CHECK_EQ(len, 256 * 4096);
	size_t bad = 0;
	for (size_t i = 0; buf && i < len; i++)
		bad += buf[i] != (uint8_t)(i / 4096);
	CHECK_EQ(bad, 0);
	dob_free(buf);

	/* Mapped (the journal at a restart): the whole file, read-only, also
	 * while an append handle is open; once unmapped it can be cut and
	 * renamed over (Windows refuses both while a view exists). */
	const uint8_t *view = NULL;
	struct plat_map *map = NULL;
	CHECK_EQ(plat_file_open_append(big, &pf), 0);
	CHECK_EQ(plat_file_map(big, &view, &len, &map), 0);
	CHECK_EQ(len, 256 * 4096);
	bad = 0;
	for (size_t i = 0; view && i < len; i++)
		bad += view[i] != (uint8_t)(i / 4096);
	CHECK_EQ(bad, 0);
	plat_file_unmap(map);
	CHECK_EQ(plat_file_truncate(pf, 4096), 0);
	plat_file_close(pf);
	CHECK_EQ(plat_file_map(e, &view, &len, &map), 0); /* empty: no view */
	CHECK(view == NULL && len == 0 && map != NULL);
	plat_file_unmap(map);
	char nf[700];
	path(nf, sizeof(nf), "state\\nothing-here");
	CHECK_EQ(plat_file_map(nf, &view, &len, &map), -DOB_ENOTFOUND);
	CHECK_EQ(plat_file_remove(big), 0);
	CHECK_EQ(plat_file_remove(big), -DOB_ENOTFOUND);
	CHECK_EQ(plat_file_remove(e), 0);

	/* Open in a missing directory. */
	char m[700];
	path(m, sizeof(m), "nope\\journal.dob");
	pf = (struct plat_file *)1;
	CHECK_EQ(plat_file_open_append(m, &pf), -DOB_ENOTFOUND);
	CHECK(pf == NULL);
}

static void test_replace(void)
{
	char f[700], t[700];
	path(f, sizeof(f), "state\\journal.dob");
	path(t, sizeof(t), "state\\journal.dob.tmp");
	struct plat_file *pf = NULL;
	/* The journal's compaction: write the snapshot, close, replace (the
	 * journal closes its own handle first: Windows cannot replace an open
	 * file). */
	CHECK_EQ(plat_file_open_append(t, &pf), 0);
	CHECK_EQ(plat_file_write(pf, "snapshot", 8, true), 0);
	plat_file_close(pf);
	CHECK_EQ(plat_file_replace(t, f), 0);
	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ(plat_file_read_all(f, &buf, &len), 0);
	CHECK(len == 8 && buf && memcmp(buf, "snapshot", 8) == 0);
	dob_free(buf);
	CHECK_EQ(plat_file_read_all(t, &buf, &len), -DOB_ENOTFOUND);
	CHECK_EQ(plat_file_replace(t, f), -DOB_ENOTFOUND);
	CHECK_EQ(plat_file_remove(f), 0);
}

static void test_utf8_paths(void)
{
	/* Non-ASCII names go through UTF-16 and back. */
	char f[700];
	path(f, sizeof(f), "state\\\xc3\xa9t\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x93\xa6.dob");
	struct plat_file *pf = NULL;
	CHECK_EQ(plat_file_open_append(f, &pf), 0);
	CHECK_EQ(plat_file_write(pf, "x", 1, false), 0);
	plat_file_close(pf);
	wchar_t *w = NULL;
	CHECK_EQ(win_utf8_to_wide(f, &w), 0);
	CHECK(w && GetFileAttributesW(w) != INVALID_FILE_ATTRIBUTES);
	CHECK(w && wcsstr(w, L"\x00e9t\x00e9-\x20ac-\xd83d\xdce6.dob") != NULL);
	char *back = NULL;
	CHECK_EQ(win_wide_to_utf8(w, &back), 0);
	CHECK_STR(back, f);
	dob_free(back);
	dob_free(w);
	CHECK_EQ(plat_file_remove(f), 0);

	/* Invalid input is refused, not replaced. */
	CHECK_EQ(win_utf8_to_wide("bad \xc3 byte", &w), -DOB_EINVAL);
	CHECK(w == NULL);
	const wchar_t lone[] = {L'a', 0xd800, L'b', 0};
	CHECK_EQ(win_wide_to_utf8(lone, &back), -DOB_EINVAL);
	CHECK(back == NULL);
	CHECK_EQ(win_utf8_to_wide("", &w), 0);
	CHECK(w && w[0] == 0);
	dob_free(w);
}

static void test_errors(void)
{
	CHECK_EQ(win_error_to_err(ERROR_DISK_FULL), -DOB_ENOSPC);
	CHECK_EQ(win_error_to_err(ERROR_HANDLE_DISK_FULL), -DOB_ENOSPC);
	CHECK_EQ(win_error_to_err(ERROR_FILE_NOT_FOUND), -DOB_ENOTFOUND);
	CHECK_EQ(win_error_to_err(ERROR_ACCESS_DENIED), -DOB_EACCES);
	CHECK_EQ(win_error_to_err(ERROR_BROKEN_PIPE), -DOB_ECLOSED);
	CHECK_EQ(win_error_to_err(ERROR_PIPE_BUSY), -DOB_EEXIST);
	CHECK_EQ(win_error_to_err(ERROR_GEN_FAILURE), -DOB_EIO);
	CHECK_EQ(win_error_to_err(0), 0);
	CHECK_EQ(win_hresult_to_err(S_OK), 0);
	CHECK_EQ(win_hresult_to_err(S_FALSE), 0);
	CHECK_EQ(win_hresult_to_err(E_OUTOFMEMORY), -DOB_ENOMEM);
	CHECK_EQ(win_hresult_to_err(E_ACCESSDENIED), -DOB_EACCES);
	CHECK_EQ(win_hresult_to_err(HRESULT_FROM_WIN32(ERROR_DISK_FULL)), -DOB_ENOSPC);
	CHECK_EQ(win_hresult_to_err(E_POINTER), -DOB_EINVAL);
	CHECK_EQ(win_hresult_to_err((HRESULT)0x80190194), -DOB_EBACKEND); /* BG_E_HTTP_ERROR_404 */
	char b[256];
	const char *t = win_strerror(ERROR_FILE_NOT_FOUND, b, sizeof(b));
	CHECK(t == b && b[0] != 0 && b[strlen(b) - 1] != '\n');
	printf("win_strerror(2) = \"%s\"\n", b);
	win_strerror(0x7ffffff0, b, sizeof(b));
	CHECK(b[0] != 0);
}

static void test_clocks_and_defaults(void)
{
	int64_t a = plat_now_us(), am = plat_now_ms();
	Sleep(50);
	int64_t b = plat_now_us(), bm = plat_now_ms();
	CHECK(b - a >= 40000 && b - a < 2000000);
	CHECK(bm - am >= 40 && bm - am < 2000);
	/* Wall clock in Unix microseconds: the same second as time(). */
	FILETIME ft;
	GetSystemTimeAsFileTime(&ft);
	int64_t ref = (int64_t)((((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime) / 10) -
		      INT64_C(11644473600000000);
	int64_t w = plat_wall_us();
	CHECK(w - ref > -1000000 && w - ref < 1000000);
	CHECK(w > INT64_C(1700000000) * 1000000); /* after 2023 */

	CHECK_STR(plat_default_endpoint(), "\\\\.\\pipe\\dobroker");
	char d[600];
	CHECK_EQ(plat_default_state_dir(d, sizeof(d)), 0);
	wchar_t lad[600];
	char *ladu = NULL, want[700];
	GetEnvironmentVariableW(L"LOCALAPPDATA", lad, 600);
	win_wide_to_utf8(lad, &ladu);
	snprintf(want, sizeof(want), "%s\\dobroker", ladu ? ladu : "?");
	CHECK_STR(d, want);
	dob_free(ladu);
	char small[4];
	CHECK_EQ(plat_default_state_dir(small, sizeof(small)), -DOB_EINVAL);
}

static void rmtree(const char *dir)
{
	char pat[800];
	snprintf(pat, sizeof(pat), "%s\\*", dir);
	WIN32_FIND_DATAA fd;
	HANDLE h = FindFirstFileA(pat, &fd);
	if (h != INVALID_HANDLE_VALUE) {
		do {
			if (!strcmp(fd.cFileName, ".") || !strcmp(fd.cFileName, ".."))
				continue;
			char p[800];
			snprintf(p, sizeof(p), "%s\\%s", dir, fd.cFileName);
			if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
				rmtree(p);
			else
				DeleteFileA(p);
		} while (FindNextFileA(h, &fd));
		FindClose(h);
	}
	RemoveDirectoryA(dir);
}

/* The state directory's lock (issue 9 item 7): exclusive (LockFileEx is per
 * handle, so a second open in this process conflicts like a second broker),
 * the holder's pid readable in the file and named in the refusal. */
static void test_dir_lock(void)
{
	char d[700], lockf[760], err[512], pid[32];
	struct plat_lock *a = NULL, *b = NULL;
	path(d, sizeof(d), "locked");
	CHECK_EQ(plat_mkdir_private(d), 0);
	CHECK_EQ(plat_dir_lock(d, &a, err, sizeof(err)), 0);
	CHECK(a != NULL);
	snprintf(lockf, sizeof(lockf), "%s\\lock", d);
	snprintf(pid, sizeof(pid), "%lu", (unsigned long)GetCurrentProcessId());
	uint8_t *buf = NULL;
	size_t len = 0;
	CHECK_EQ(plat_file_read_all(lockf, &buf, &len), 0);
	CHECK(buf && len >= strlen(pid) && memcmp(buf, pid, strlen(pid)) == 0);
	dob_free(buf);
	CHECK_EQ(plat_dir_lock(d, &b, err, sizeof(err)), -DOB_EEXIST);
	CHECK(b == NULL);
	CHECK(strstr(err, pid) != NULL);
	CHECK(strstr(err, "in use by another broker") != NULL);
	plat_dir_unlock(a);
	CHECK_EQ(plat_dir_lock(d, &b, err, sizeof(err)), 0);
	plat_dir_unlock(b);
	plat_dir_unlock(NULL);
	char missing[760];
	snprintf(missing, sizeof(missing), "%s\\nope", d);
	CHECK_EQ(plat_dir_lock(missing, &a, err, sizeof(err)), -DOB_ENOTFOUND);
	CHECK(strstr(err, "nope") != NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char tmp[MAX_PATH];
	GetTempPathA(MAX_PATH, tmp);
	snprintf(base, sizeof(base), "%sdobtest-file-%lu", tmp, (unsigned long)GetCurrentProcessId());
	if (!CHECK(CreateDirectoryA(base, NULL)))
		return wt_finish("file_test");
	test_mkdir_private();
	test_append_read_truncate();
	test_replace();
	test_utf8_paths();
	test_errors();
	test_clocks_and_defaults();
	test_dir_lock();
	rmtree(base);
	return wt_finish("file_test");
}
