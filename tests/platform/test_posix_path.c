/*
 * tests/platform/test_posix_path.c - the confused-deputy check, for our own
 * uid (direct probe) and for another user (forked probe; needs root), and
 * plat_check_paths: answered later, on the loop thread, with the index of
 * the first refused path.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "harness.h"

#define NOBODY 65534

static char *dir;
static int64_t live0; /* dob_alloc_live() before the test */

static void setup(void)
{
	live0 = dob_alloc_live();
	dir = tdir_new();
	/* mkdtemp makes it 0700: let other users reach what is inside. */
	chmod(dir, 0755);
}

static void teardown(void)
{
	tdir_free(dir);
}

TestSuite(posix_path, .init = setup, .fini = teardown, .timeout = 30);

static struct dob_identity as_uid(uint32_t uid)
{
	return (struct dob_identity){ .pid = 1, .uid = uid };
}

static int check(uint32_t uid, const char *name)
{
	struct dob_identity who = as_uid(uid);
	char *p = tpath(dir, name);
	int rc = plat_check_path_writable(&who, p);

	free(p);
	return rc;
}

static char *mkdir_mode(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	char *p = tpath(dir, name);

	cr_assert_eq(mkdir(p, 0700), 0);
	cr_assert_eq(chown(p, uid, gid), 0);
	cr_assert_eq(chmod(p, mode), 0);
	return p;
}

static int entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	cr_assert(dp);
	while ((e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	}
	closedir(dp);
	return n;
}

Test(posix_path, own_uid_writable_dir_is_ok_and_leaves_no_probe_behind)
{
	cr_expect_eq(check(getuid(), "download.bin"), 0);
	cr_expect_eq(entries(dir), 0, "probe file left behind");
	texpect_no_leak(live0);
}

Test(posix_path, own_uid_missing_dir_is_enotfound)
{
	cr_expect_eq(check(getuid(), "missing/download.bin"), -DOB_ENOTFOUND);
	cr_expect_eq(check(getuid(), "missing/deeper/download.bin"), -DOB_ENOTFOUND);
	texpect_no_leak(live0);
}

Test(posix_path, own_uid_a_file_as_directory_is_enotfound)
{
	char *f = tpath(dir, "plain");
	FILE *fp = fopen(f, "w");

	cr_assert(fp);
	fclose(fp);
	cr_expect_eq(check(getuid(), "plain/download.bin"), -DOB_ENOTFOUND);
	free(f);
	texpect_no_leak(live0);
}

Test(posix_path, own_uid_existing_regular_file_is_ok_and_untouched)
{
	char *f = tpath(dir, "exists.bin");
	FILE *fp = fopen(f, "w");
	struct stat st;

	cr_assert(fp);
	fputs("content", fp);
	fclose(fp);
	cr_expect_eq(check(getuid(), "exists.bin"), 0);
	cr_assert_eq(stat(f, &st), 0);
	cr_expect_eq(st.st_size, 7, "the check modified the file");
	free(f);
	texpect_no_leak(live0);
}

Test(posix_path, a_directory_or_a_fifo_is_not_a_download_target)
{
	char *d = tpath(dir, "sub"), *fifo = tpath(dir, "fifo");

	cr_assert_eq(mkdir(d, 0700), 0);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_expect_eq(check(getuid(), "sub"), -DOB_EACCES);
	cr_expect_eq(check(getuid(), "fifo"), -DOB_EACCES); /* and did not block */
	free(d);
	free(fifo);
	texpect_no_leak(live0);
}

Test(posix_path, relative_or_directory_paths_are_invalid)
{
	struct dob_identity who = as_uid(getuid());
	char *d = tpath(dir, "");

	cr_expect_eq(plat_check_path_writable(&who, "relative/file"), -DOB_EINVAL);
	cr_expect_eq(plat_check_path_writable(&who, d), -DOB_EINVAL);
	cr_expect_eq(plat_check_path_writable(NULL, "/tmp/x"), -DOB_EINVAL);
	free(d);
	texpect_no_leak(live0);
}

Test(posix_path, other_user_root_0700_dir_is_eacces)
{
	char *d;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	d = mkdir_mode("private", 0700, 0, 0);
	cr_expect_eq(check(NOBODY, "private/download.bin"), -DOB_EACCES);
	/* Not even whether a subdirectory exists leaks through. */
	cr_expect_eq(check(NOBODY, "private/missing/download.bin"), -DOB_EACCES);
	/* ... while root itself may. */
	cr_expect_eq(check(0, "private/download.bin"), 0);
	free(d);
	texpect_no_leak(live0);
}

Test(posix_path, other_user_0777_dir_is_ok_and_leaves_no_probe_behind)
{
	char *d;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	d = mkdir_mode("open", 0777, 0, 0);
	cr_expect_eq(check(NOBODY, "open/download.bin"), 0);
	cr_expect_eq(entries(d), 0, "probe file left behind");
	free(d);
	texpect_no_leak(live0);
}

Test(posix_path, other_user_missing_dir_is_enotfound)
{
	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	cr_expect_eq(check(NOBODY, "missing/download.bin"), -DOB_ENOTFOUND);
	texpect_no_leak(live0);
}

Test(posix_path, other_user_cannot_overwrite_a_file_it_may_not_write)
{
	char *d, *f;
	FILE *fp;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	d = mkdir_mode("open", 0777, 0, 0);
	f = tpath(d, "roots.bin");
	fp = fopen(f, "w");
	cr_assert(fp);
	fclose(fp);
	cr_assert_eq(chmod(f, 0644), 0);
	cr_expect_eq(check(NOBODY, "open/roots.bin"), -DOB_EACCES);
	cr_expect_eq(check(NOBODY, "open/new.bin"), 0);
	free(f);
	free(d);
	texpect_no_leak(live0);
}

Test(posix_path, other_user_gets_its_own_groups_not_ours)
{
	char *mine, *theirs;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	/* Group-writable by root's group: a probe that kept our groups (as
	 * setfsuid alone would) would wrongly pass. */
	mine = mkdir_mode("rootgroup", 0770, 0, 0);
	cr_expect_eq(check(NOBODY, "rootgroup/download.bin"), -DOB_EACCES);
	/* Group-writable by nobody's primary group (nogroup, 65534): passes. */
	theirs = mkdir_mode("nogroup", 0770, 0, 65534);
	cr_expect_eq(check(NOBODY, "nogroup/download.bin"), 0);
	free(mine);
	free(theirs);
	texpect_no_leak(live0);
}

/* ---------------------------------------------------------------- plat_check_paths */

struct async_seen {
	atomic_int done;
	int status;
	size_t index;
	pthread_t thread;
};

struct async_call {
	const char *const *paths;
	size_t n;
	struct async_seen *seen;
	int rc;
	bool answered_inside; /* the callback came from inside the call */
};

static void async_cb(void *ctx, int status, size_t index)
{
	struct async_seen *s = ctx;

	s->status = status;
	s->index = index;
	s->thread = pthread_self();
	atomic_store(&s->done, 1);
}

/* On the loop thread: start the check. */
static void start_check(struct tcore *tc, void *arg)
{
	struct async_call *a = arg;
	struct dob_identity who = as_uid((uint32_t)geteuid());

	(void)tc;
	a->rc = plat_check_paths(tc->loop, &who, a->paths, a->n, async_cb, a->seen);
	a->answered_inside = atomic_load(&a->seen->done) != 0;
}

/* The check's answer is a struct plat_msg (its first member a function
 * pointer, never the harness's TMSG_CALL): run it. */
static void run_plat_msg(struct tcore *tc, void *msg)
{
	struct plat_msg *m = msg;

	(void)tc;
	m->run(m);
}

Test(posix_path, check_paths_answers_on_the_loop_thread_never_from_inside_the_call)
{
	struct tcore tc;
	struct async_seen s1, s2;
	char *ok = tpath(dir, "ok.bin");
	const char *paths[3] = { ok, "relative/x", ok };
	struct async_call a = { paths, 1, &s1, -1, false };
	struct async_call b = { paths, 3, &s2, -1, false };

	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	tcore_init(&tc, TMODE_ECHO);
	tc.on_post = run_plat_msg;
	tcore_start(&tc);
	tcore_call(&tc, start_check, &a);
	cr_assert_eq(a.rc, 0);
	cr_assert(!a.answered_inside, "the callback came from inside plat_check_paths");
	cr_assert(twait_int(&s1.done, 1, 5000), "no answer");
	cr_expect_eq(s1.status, 0);
	cr_expect_eq(s1.index, 1, "index n when every path passes");
	cr_expect(pthread_equal(s1.thread, tc.th), "answered on another thread than the loop's");

	/* The first refusal stops the check and is named by its index. */
	tcore_call(&tc, start_check, &b);
	cr_assert_eq(b.rc, 0);
	cr_assert(twait_int(&s2.done, 1, 5000), "no answer");
	cr_expect_eq(s2.status, -DOB_EINVAL);
	cr_expect_eq(s2.index, 1);
	cr_expect_eq(access(ok, F_OK), -1, "the probe leaves nothing behind");

	b.n = 0;
	tcore_call(&tc, start_check, &b);
	cr_expect_eq(b.rc, -DOB_EINVAL);
	tcore_done(&tc);
	free(ok);
}
