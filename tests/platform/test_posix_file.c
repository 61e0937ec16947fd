/*
 * tests/platform/test_posix_file.c - journal files, the state directory, the
 * defaults, the errno mapping and the clocks.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "harness.h"
#include "posix/posix.h"

static char *dir;
static int64_t live0; /* dob_alloc_live() before the test */

static void setup(void)
{
	live0 = dob_alloc_live();
	dir = tdir_new();
}

static void teardown(void)
{
	tdir_free(dir);
}

TestSuite(posix_file, .init = setup, .fini = teardown, .timeout = 30);

static void expect_content(const char *path, const char *want)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = plat_file_read_all(path, &buf, &len);

	cr_assert_eq(rc, 0, "read_all(%s): %d", path, rc);
	cr_expect_eq(len, strlen(want), "length %zu, want %zu", len, strlen(want));
	if (len == strlen(want))
		cr_expect_arr_eq(buf, want, len);
	dob_free(buf);
}

Test(posix_file, append_creates_then_appends_across_opens)
{
	char *p = tpath(dir, "j");
	struct plat_file *f;
	struct stat st;

	cr_assert_eq(plat_file_open_append(p, &f), 0);
	cr_expect_eq(plat_file_write(f, "abc", 3, false), 0);
	cr_expect_eq(plat_file_write(f, "def", 3, true), 0);
	plat_file_close(f);
	expect_content(p, "abcdef");
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "journal mode %o", st.st_mode & 0777);
	cr_assert_eq(plat_file_open_append(p, &f), 0);
	cr_expect_eq(plat_file_write(f, "g", 1, false), 0);
	plat_file_close(f);
	expect_content(p, "abcdefg");
	plat_file_close(NULL);
	free(p);
	texpect_no_leak(live0);
}

Test(posix_file, truncate_drops_the_tail_and_appends_continue_there)
{
	char *p = tpath(dir, "j");
	struct plat_file *f;

	cr_assert_eq(plat_file_open_append(p, &f), 0);
	cr_expect_eq(plat_file_write(f, "abcdef", 6, false), 0);
	cr_expect_eq(plat_file_truncate(f, 2), 0);
	cr_expect_eq(plat_file_write(f, "Z", 1, true), 0);
	plat_file_close(f);
	expect_content(p, "abZ");
	free(p);
	texpect_no_leak(live0);
}

Test(posix_file, read_all_missing_is_enotfound_and_empty_is_zero_length)
{
	char *p = tpath(dir, "none"), *e = tpath(dir, "empty");
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 99;
	struct plat_file *f;

	cr_expect_eq(plat_file_read_all(p, &buf, &len), -DOB_ENOTFOUND);
	cr_expect_null(buf);
	cr_expect_eq(len, 0);
	cr_assert_eq(plat_file_open_append(e, &f), 0);
	plat_file_close(f);
	cr_expect_eq(plat_file_read_all(e, &buf, &len), 0);
	cr_expect_eq(len, 0);
	dob_free(buf);
	free(p);
	free(e);
	texpect_no_leak(live0);
}

Test(posix_file, read_all_reads_a_large_file_whole)
{
	char *p = tpath(dir, "big");
	size_t n = 3u << 20;
	uint8_t *data = malloc(n), *buf;
	size_t len;
	struct plat_file *f;

	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	cr_assert_eq(plat_file_open_append(p, &f), 0);
	cr_assert_eq(plat_file_write(f, data, n, false), 0);
	plat_file_close(f);
	cr_assert_eq(plat_file_read_all(p, &buf, &len), 0);
	cr_expect_eq(len, n);
	cr_expect_eq(memcmp(buf, data, n), 0);
	dob_free(buf);
	free(data);
	free(p);
	texpect_no_leak(live0);
}

Test(posix_file, map_gives_the_whole_file_read_only_and_nothing_for_missing_empty_or_a_dir)
{
	char *p = tpath(dir, "mapped"), *e = tpath(dir, "empty"), *none = tpath(dir, "none");
	size_t n = (3u << 20) + 123; /* not a whole number of pages */
	uint8_t *data = malloc(n);
	const uint8_t *view = (const uint8_t *)"x";
	struct plat_map *m = NULL;
	struct plat_file *f;
	size_t len = 99;

	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 9));
	cr_assert_eq(plat_file_open_append(p, &f), 0);
	cr_assert_eq(plat_file_write(f, data, n, false), 0);
	cr_assert_eq(plat_file_map(p, &view, &len, &m), 0);
	cr_expect_eq(len, n);
	cr_expect_eq(memcmp(view, data, n), 0);
	/* appended while mapped: the view keeps the size it was given */
	cr_assert_eq(plat_file_write(f, "more", 4, false), 0);
	cr_expect_eq(view[n - 1], data[n - 1]);
	plat_file_close(f);
	plat_file_unmap(m);

	cr_expect_eq(plat_file_map(none, &view, &len, &m), -DOB_ENOTFOUND);
	cr_expect_null(view);
	cr_expect_null(m);
	cr_assert_eq(plat_file_open_append(e, &f), 0);
	plat_file_close(f);
	cr_assert_eq(plat_file_map(e, &view, &len, &m), 0);
	cr_expect_null(view, "an empty file has no view");
	cr_expect_eq(len, 0);
	cr_expect_not_null(m);
	plat_file_unmap(m);
	cr_expect_eq(plat_file_map(dir, &view, &len, &m), -DOB_EINVAL, "a directory is no file");
	plat_file_unmap(NULL);
	free(data);
	free(p);
	free(e);
	free(none);
	texpect_no_leak(live0);
}

Test(posix_file, replace_renames_over_and_remove_removes)
{
	char *p = tpath(dir, "journal"), *t = tpath(dir, "journal.tmp");
	struct plat_file *f;

	cr_assert_eq(plat_file_open_append(p, &f), 0);
	cr_assert_eq(plat_file_write(f, "old", 3, false), 0);
	plat_file_close(f);
	cr_assert_eq(plat_file_open_append(t, &f), 0);
	cr_assert_eq(plat_file_write(f, "snapshot", 8, true), 0);
	plat_file_close(f);
	cr_expect_eq(plat_file_replace(t, p), 0);
	expect_content(p, "snapshot");
	cr_expect_neq(access(t, F_OK), 0, "tmp still there");
	cr_expect_eq(plat_file_replace(t, p), -DOB_ENOTFOUND);
	cr_expect_eq(plat_file_remove(p), 0);
	cr_expect_eq(plat_file_remove(p), -DOB_ENOTFOUND);
	free(p);
	free(t);
	texpect_no_leak(live0);
}

Test(posix_file, write_on_a_full_device_is_enospc)
{
	struct plat_file *f;

	/* /dev/full fails every write with ENOSPC. */
	if (access("/dev/full", W_OK) != 0)
		cr_skip_test("no /dev/full");
	cr_assert_eq(plat_file_open_append("/dev/full", &f), 0);
	cr_expect_eq(plat_file_write(f, "record", 6, false), -DOB_ENOSPC);
	plat_file_close(f);
	texpect_no_leak(live0);
}

Test(posix_file, full_tmpfs_gives_enospc_and_leaves_no_partial_record)
{
	char *mnt = tpath(dir, "small"), *p;
	struct plat_file *f;
	uint8_t rec[3000];
	struct stat st;
	size_t written = 0;
	int rc = 0;

	mkdir(mnt, 0700);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0)
		cr_skip_test("cannot mount a tmpfs here: %s", strerror(errno));
	p = tpath(mnt, "journal");
	memset(rec, 'r', sizeof rec);
	cr_assert_eq(plat_file_open_append(p, &f), 0);
	for (int i = 0; i < 1000; i++) {
		rc = plat_file_write(f, rec, sizeof rec, false);
		if (rc)
			break;
		written += sizeof rec;
	}
	plat_file_close(f);
	cr_expect_eq(rc, -DOB_ENOSPC);
	cr_expect(written > 0);
	/* All or nothing: the failed record was cut off again. */
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq((size_t)st.st_size, written, "size %lld, records %zu bytes",
		     (long long)st.st_size, written);
	umount2(mnt, MNT_DETACH);
	free(p);
	free(mnt);
	texpect_no_leak(live0);
}

Test(posix_file, errno_mapping)
{
	cr_expect_eq(posix_err(0), 0);
	cr_expect_eq(posix_err(ENOSPC), -DOB_ENOSPC);
	cr_expect_eq(posix_err(EDQUOT), -DOB_ENOSPC);
	cr_expect_eq(posix_err(ENOENT), -DOB_ENOTFOUND);
	cr_expect_eq(posix_err(ENOTDIR), -DOB_ENOTFOUND);
	cr_expect_eq(posix_err(EACCES), -DOB_EACCES);
	cr_expect_eq(posix_err(EPERM), -DOB_EACCES);
	cr_expect_eq(posix_err(EROFS), -DOB_EACCES);
	cr_expect_eq(posix_err(EPIPE), -DOB_ECLOSED);
	cr_expect_eq(posix_err(ECONNRESET), -DOB_ECLOSED);
	cr_expect_eq(posix_err(EAGAIN), -DOB_EAGAIN);
	cr_expect_eq(posix_err(ENOMEM), -DOB_ENOMEM);
	cr_expect_eq(posix_err(EEXIST), -DOB_EEXIST);
	cr_expect_eq(posix_err(EIO), -DOB_EIO);
	cr_expect_eq(posix_err(12345), -DOB_EIO);
	texpect_no_leak(live0);
}

Test(posix_file, mkdir_private_makes_parents_0700_and_accepts_an_existing_dir)
{
	char *d = tpath(dir, "a/b/state");
	char *a = tpath(dir, "a");
	struct stat st;

	cr_assert_eq(plat_mkdir_private(d), 0);
	cr_assert_eq(stat(d, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0700);
	cr_assert_eq(stat(a, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	cr_expect_eq(plat_mkdir_private(d), 0);
	free(d);
	free(a);
	texpect_no_leak(live0);
}

Test(posix_file, mkdir_private_refuses_a_file_and_a_dir_of_another_user)
{
	char *f = tpath(dir, "file"), *o = tpath(dir, "theirs");
	FILE *fp = fopen(f, "w");

	cr_assert(fp);
	fclose(fp);
	cr_expect_eq(plat_mkdir_private(f), -DOB_EEXIST);
	if (geteuid() != 0)
		cr_skip_test("chown needs root");
	cr_assert_eq(mkdir(o, 0700), 0);
	cr_assert_eq(chown(o, 65534, 65534), 0);
	cr_expect_eq(plat_mkdir_private(o), -DOB_EACCES);
	free(f);
	free(o);
	texpect_no_leak(live0);
}

Test(posix_file, default_state_dir_follows_xdg_then_home)
{
	char buf[512], small[8];

	setenv("XDG_STATE_HOME", "/x/state", 1);
	cr_assert_eq(plat_default_state_dir(buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/x/state/dobroker");
	setenv("XDG_STATE_HOME", "relative/ignored", 1);
	setenv("HOME", "/home/someone", 1);
	cr_assert_eq(plat_default_state_dir(buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/home/someone/.local/state/dobroker");
	unsetenv("XDG_STATE_HOME");
	cr_assert_eq(plat_default_state_dir(buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/home/someone/.local/state/dobroker");
	cr_expect_eq(plat_default_state_dir(small, sizeof small), -DOB_EINVAL);
	texpect_no_leak(live0);
}

Test(posix_file, default_endpoint_is_in_xdg_runtime_dir)
{
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	cr_expect_str_eq(plat_default_endpoint(), "/run/user/4242/dobroker.sock");
	texpect_no_leak(live0);
}

Test(posix_file, default_endpoint_without_xdg_runtime_dir_is_per_uid_in_tmp)
{
	char want[64];

	unsetenv("XDG_RUNTIME_DIR");
	snprintf(want, sizeof want, "/tmp/dobroker-%u.sock", (unsigned)geteuid());
	cr_expect_str_eq(plat_default_endpoint(), want);
	texpect_no_leak(live0);
}

Test(posix_file, monotonic_and_wall_clocks)
{
	int64_t ms0 = plat_now_ms(), us0 = plat_now_us(), wall = plat_wall_us();
	int64_t ms1, us1;

	tms_sleep(20);
	ms1 = plat_now_ms();
	us1 = plat_now_us();
	cr_expect(ms1 - ms0 >= 19 && ms1 - ms0 < 2000, "%lld ms", (long long)(ms1 - ms0));
	cr_expect(us1 - us0 >= 19000, "%lld us", (long long)(us1 - us0));
	cr_expect(llabs(us0 / 1000 - ms0) <= 1);
	cr_expect(llabs(wall / 1000000 - (int64_t)time(NULL)) <= 2);
	texpect_no_leak(live0);
}

/* Issue 9 item 7: one broker per state directory. */
Test(posix_file, dir_lock_is_exclusive_names_the_holder_pid_and_is_released)
{
	struct plat_lock *a = NULL, *b = NULL;
	char err[512], pid[32], *path = tpath(dir, "lock");
	int rc;

	rc = plat_dir_lock(dir, &a, err, sizeof err);
	cr_assert_eq(rc, 0, "%d %s", rc, err);
	snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	expect_content(path, pid);
	/* A second holder, even in this process (flock is per open file). */
	rc = plat_dir_lock(dir, &b, err, sizeof err);
	cr_assert_eq(rc, -DOB_EEXIST, "%d %s", rc, err);
	cr_assert_null(b);
	pid[strlen(pid) - 1] = '\0';
	cr_expect(strstr(err, pid), "no pid in '%s'", err);
	cr_expect(strstr(err, "in use by another broker"), "%s", err);
	plat_dir_unlock(a);
	rc = plat_dir_lock(dir, &b, err, sizeof err);
	cr_assert_eq(rc, 0, "not released: %d %s", rc, err);
	plat_dir_unlock(b);
	plat_dir_unlock(NULL);
	free(path);
	texpect_no_leak(live0);
}

Test(posix_file, dir_lock_in_a_missing_dir_fails_with_the_path)
{
	struct plat_lock *a = NULL;
	char err[512], *missing = tpath(dir, "nope");
	int rc;

	rc = plat_dir_lock(missing, &a, err, sizeof err);
	cr_expect_eq(rc, -DOB_ENOTFOUND, "%d %s", rc, err);
	cr_expect(strstr(err, "nope"), "%s", err);
	cr_expect_null(a);
	free(missing);
}
