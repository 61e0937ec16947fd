/*
 * broker/posix/path_posix.c - the confused-deputy check: could `who` itself
 * create or write the file at path?
 *
 * The answer comes from the kernel, not from reading mode bits: we try it.
 * A probe file is created (O_CREAT|O_EXCL, never following a symlink) in the
 * target directory and removed again; if the target already exists it must
 * be a regular file that `who` can open for writing (opened without O_TRUNC:
 * nothing is modified).
 *
 *  - who->uid is our own uid: the probe runs directly in this thread.
 *  - another uid, and we are root: the probe runs in a forked child that
 *    takes on the full credentials of that user (supplementary groups from
 *    the user database, primary gid, uid - setfsuid alone would keep our
 *    groups and so answer wrongly for group-writable directories), then
 *    reports by exit status. A fork costs about a millisecond and happens
 *    only on SubmitJob. A uid missing from the user database gets no groups
 *    and gid 65534 (nogroup): the least it could have.
 *  - another uid and we are not root: we cannot take on its rights, so we
 *    refuse (fail closed).
 *
 * plat_check_paths (the asynchronous form the core uses) runs the same
 * probes in the call, on the loop thread, and only defers the callback (a
 * posted message). Decided so because POSIX is the development and test
 * platform and the probe touches a local directory: a few system calls, or
 * one fork when root acts for another uid, bounded by PROBE_TIMEOUT_MS. A
 * worker thread would buy nothing there but a second copy of the loop's
 * shutdown rules. (Windows runs its check on a thread-pool worker, where
 * GetNamedSecurityInfo can wait on the file system: path_win32.c.)
 *
 * Limits: a check, then a use. A client that swaps the directory for a
 * symlink after the check is not caught here (the writer should open with
 * the same care). Sandbox restrictions (sandboxed, AppContainer) have no
 * POSIX meaning: only uid and groups count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "posix.h"

#define PROBE_TIMEOUT_MS 2000
#define NOGROUP 65534

/* Child exit statuses. */
enum {
	PROBE_OK = 0,
	PROBE_DENIED = 1,
	PROBE_NODIR = 2,
	PROBE_SETUP = 3, /* could not take on the user's credentials */
};

/* Runs in the forked child too: system calls only, no allocation, no
 * stdio. probe is a writable copy of "DIR/.dobroker-probe-...-0". */
static int probe(const char *path, char *probe_path)
{
	struct stat st;
	size_t last = strlen(probe_path) - 1;
	int fd;

	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return PROBE_DENIED; /* a download goes into a regular file */
		fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return PROBE_DENIED;
		close(fd);
	} else if (errno == ENOTDIR) {
		return PROBE_NODIR;
	} else if (errno != ENOENT) {
		return PROBE_DENIED; /* EACCES on a parent, ELOOP, ... */
	}
	/* The writer creates files in the directory (BITS: a temporary file
	 * renamed over the target): the directory must take a new file. */
	for (char c = '0'; c <= '9'; c++) {
		probe_path[last] = c;
		fd = open(probe_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			unlink(probe_path);
			return PROBE_OK;
		}
		if (errno == ENOENT || errno == ENOTDIR)
			return PROBE_NODIR;
		if (errno != EEXIST)
			return PROBE_DENIED;
	}
	return PROBE_DENIED; /* someone keeps our probe names taken */
}

static int probe_result(int r)
{
	switch (r) {
	case PROBE_OK:
		return 0;
	case PROBE_NODIR:
		return -DOB_ENOTFOUND;
	default:
		return -DOB_EACCES;
	}
}

/* Waits for the child, killing it if it takes longer than PROBE_TIMEOUT_MS
 * (a hung network file system must not hang the loop for good). */
static int reap(pid_t pid)
{
	int status, pidfd;

#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
	pidfd = -1;
#endif
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int64_t deadline = plat_now_ms() + PROBE_TIMEOUT_MS;
		int r;

		do {
			int64_t left = deadline - plat_now_ms();

			r = poll(&pfd, 1, left > 0 ? (int)left : 0);
		} while (r < 0 && errno == EINTR);
		close(pidfd);
		if (r == 0) {
			log_warn("path check: probe process %d took over %d ms; killed", (int)pid,
				 PROBE_TIMEOUT_MS);
			kill(pid, SIGKILL);
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_warn("path check: waitpid: %s", strerror(errno));
			return PROBE_DENIED;
		}
	}
	if (!WIFEXITED(status))
		return PROBE_DENIED;
	return WEXITSTATUS(status);
}

/* The user's gid and supplementary groups (dob_free *groups). */
static int user_groups(uid_t uid, gid_t *gid, gid_t **groups, int *ngroups)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 32;

	*groups = NULL;
	*ngroups = 0;
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res) {
		*gid = NOGROUP;
		return 0;
	}
	*gid = res->pw_gid;
	for (;;) {
		gid_t *g = dob_malloc((size_t)n * sizeof *g);
		int want = n;

		if (!g)
			return -DOB_ENOMEM;
		if (getgrouplist(res->pw_name, res->pw_gid, g, &want) >= 0) {
			*groups = g;
			*ngroups = want;
			return 0;
		}
		dob_free(g);
		if (want <= n || want > 65536)
			return -DOB_EIO;
		n = want;
	}
}

static int probe_as(uid_t uid, const char *path, char *probe_path)
{
	gid_t gid, *groups;
	int ngroups, r, err;
	pid_t pid;

	err = user_groups(uid, &gid, &groups, &ngroups);
	if (err)
		return err == -DOB_ENOMEM ? -DOB_EACCES : err;
	pid = fork();
	if (pid == 0) {
		/* Raw system calls: they change this (only) thread's credentials,
		 * with none of libc's all-threads machinery in a forked child. */
		if (syscall(SYS_setgroups, (size_t)ngroups, groups) != 0 ||
		    syscall(SYS_setresgid, gid, gid, gid) != 0 ||
		    syscall(SYS_setresuid, uid, uid, uid) != 0)
			_exit(PROBE_SETUP);
		_exit(probe(path, probe_path));
	}
	dob_free(groups);
	if (pid < 0) {
		log_warn("path check: fork: %s", strerror(errno));
		return -DOB_EACCES;
	}
	r = reap(pid);
	if (r == PROBE_SETUP)
		log_error("path check: cannot take on the credentials of uid %u", (unsigned)uid);
	return probe_result(r);
}

int plat_check_path_writable(const struct dob_identity *who, const char *path)
{
	static unsigned counter; /* probe names; loop thread */
	const char *slash;
	char *probe_path;
	size_t dlen, plen;
	int err;

	if (!who || !path || path[0] != '/')
		return -DOB_EINVAL;
	slash = strrchr(path, '/');
	if (slash[1] == '\0')
		return -DOB_EINVAL; /* names a directory, not a file */
	dlen = (size_t)(slash - path) + 1; /* with the slash */
	plen = dlen + 64;
	probe_path = dob_malloc(plen);
	if (!probe_path)
		return -DOB_ENOMEM;
	memcpy(probe_path, path, dlen);
	snprintf(probe_path + dlen, plen - dlen, ".dobroker-probe-%ld-%u-0", (long)getpid(),
		 counter++);
	if ((uid_t)who->uid == geteuid()) {
		err = probe_result(probe(path, probe_path));
	} else if (geteuid() != 0) {
		log_warn("path check for uid %u: refused, a broker not run as root cannot act as "
			 "another user", (unsigned)who->uid);
		err = -DOB_EACCES;
	} else {
		err = probe_as((uid_t)who->uid, path, probe_path);
	}
	dob_free(probe_path);
	return err;
}

/* plat_check_paths: the result, delivered through the loop's post queue. */
struct check_done {
	struct plat_msg m; /* first member */
	plat_check_cb cb;
	void *ctx;
	int status;
	size_t index;
};

static void check_done_run(struct plat_msg *m)
{
	struct check_done *d = container_of(m, struct check_done, m);

	d->cb(d->ctx, d->status, d->index);
	dob_free(d);
}

int plat_check_paths(struct plat_loop *l, const struct dob_identity *who,
		     const char *const *paths, size_t n, plat_check_cb cb, void *ctx)
{
	struct check_done *d;
	int rc;

	if (!l || !cb || !paths || n == 0)
		return -DOB_EINVAL;
	d = dob_calloc(1, sizeof(*d));
	if (!d)
		return -DOB_ENOMEM;
	d->m.run = check_done_run;
	d->cb = cb;
	d->ctx = ctx;
	d->index = n;
	for (size_t i = 0; i < n; i++) {
		int r = plat_check_path_writable(who, paths[i] ? paths[i] : "");
		if (r) {
			d->status = r;
			d->index = i;
			break;
		}
	}
	rc = plat_post(l, d);
	if (rc) {
		dob_free(d);
		return rc;
	}
	return 0;
}
