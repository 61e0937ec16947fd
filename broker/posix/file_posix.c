/*
 * broker/posix/file_posix.c - the journal's files, the state directory and
 * the default endpoint.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "posix.h"

struct plat_file {
	int fd;
};

/* ------------------------------------------------------------ directories */

/* mkdir -p with mode 0700 for every directory made. */
static int mkdir_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			int e = errno;

			*p = '/';
			return posix_err(e);
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return posix_err(errno);
	return 0;
}

int plat_mkdir_private(const char *dir)
{
	struct stat st;
	char *copy;
	int err;

	if (!dir || !*dir)
		return -DOB_EINVAL;
	copy = dob_strdup(dir);
	if (!copy)
		return -DOB_ENOMEM;
	err = mkdir_parents(copy);
	dob_free(copy);
	if (err) {
		log_error("cannot create state directory %s: %s", dir, dob_strerror(err));
		return err;
	}
	if (stat(dir, &st) < 0)
		return posix_err(errno);
	if (!S_ISDIR(st.st_mode)) {
		log_error("state directory %s is not a directory", dir);
		return -DOB_EEXIST;
	}
	/* Our journal in a directory someone else controls could be swapped
	 * under us: refuse it rather than fix its mode silently. */
	if (st.st_uid != geteuid()) {
		log_error("state directory %s belongs to uid %u, not to us (uid %u)", dir,
			  (unsigned)st.st_uid, (unsigned)geteuid());
		return -DOB_EACCES;
	}
	if (st.st_mode & 0077)
		log_warn("state directory %s is accessible to others (mode %04o)", dir,
			 (unsigned)(st.st_mode & 07777));
	return 0;
}

/* ------------------------------------------------------------ files */

/* The directory part of path ("." when there is none), in a new string. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return dob_strdup(".");
	if (slash == path)
		return dob_strdup("/");
	return dob_strndup(path, (size_t)(slash - path));
}

/* A new directory entry (a created file, a rename) is durable only once the
 * directory itself is synced. Best effort: a failure is logged. */
static void sync_dir_of(const char *path)
{
	char *dir = dir_of(path);
	int fd;

	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			log_warn("fsync(%s): %s", dir, strerror(errno));
		close(fd);
	}
	dob_free(dir);
}

int plat_file_open_append(const char *path, struct plat_file **out)
{
	struct plat_file *f;
	int fd;

	if (!path || !out)
		return -DOB_EINVAL;
	*out = NULL;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		sync_dir_of(path); /* created: its entry made durable */
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return posix_err(errno);
	f = dob_malloc(sizeof *f);
	if (!f) {
		close(fd);
		return -DOB_ENOMEM;
	}
	f->fd = fd;
	*out = f;
	return 0;
}

static int write_err(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? -DOB_ENOSPC : -DOB_EIO;
}

/* All of buf or nothing: a write that fails half-way is cut back off, so a
 * full disk never leaves a torn record for the next start to find. */
int plat_file_write(struct plat_file *f, const void *buf, size_t n, bool sync)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int err;

	if (!f || (!buf && n))
		return -DOB_EINVAL;
	while (done < n) {
		ssize_t r = write(f->fd, p + done, n - done);

		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		err = r < 0 ? write_err(errno) : -DOB_EIO;
		if (done) {
			off_t end = lseek(f->fd, 0, SEEK_CUR); /* O_APPEND: just past our bytes */

			if (end < (off_t)done)
				log_warn("could not cut off a partial write of %zu bytes", done);
			else if (ftruncate(f->fd, end - (off_t)done) < 0)
				log_warn("could not cut off a partial write of %zu bytes: %s", done,
					 strerror(errno));
		}
		return err;
	}
	if (sync && fdatasync(f->fd) < 0)
		return write_err(errno);
	return 0;
}

int plat_file_truncate(struct plat_file *f, uint64_t len)
{
	if (!f || len > (uint64_t)INT64_MAX)
		return -DOB_EINVAL;
	if (ftruncate(f->fd, (off_t)len) < 0)
		return write_err(errno);
	return 0;
}

void plat_file_close(struct plat_file *f)
{
	if (!f)
		return;
	close(f->fd);
	dob_free(f);
}

int plat_file_read_all(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *b = NULL;
	size_t cap, n = 0;
	int fd, err;

	if (!path || !buf || !len)
		return -DOB_EINVAL;
	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return posix_err(errno);
	if (fstat(fd, &st) < 0) {
		err = posix_err(errno);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -DOB_EINVAL;
		goto fail;
	}
	/* The size is a hint (the file may grow while we read); +1 so that a
	 * file that did not grow ends at a short read, not another realloc. */
	cap = (size_t)st.st_size + 1;
	b = dob_malloc(cap);
	if (!b) {
		err = -DOB_ENOMEM;
		goto fail;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : dob_realloc(b, cap * 2);

			if (!nb) {
				err = -DOB_ENOMEM;
				goto fail;
			}
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + n, cap - n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -DOB_EIO;
			goto fail;
		}
		n += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:
	dob_free(b);
	close(fd);
	return err;
}

struct plat_map {
	void *p;
	size_t n;
};

int plat_file_map(const char *path, const uint8_t **data, size_t *len, struct plat_map **out)
{
	struct plat_map *m;
	struct stat st;
	int fd, err;

	if (!path || !data || !len || !out)
		return -DOB_EINVAL;
	*data = NULL;
	*len = 0;
	*out = NULL;
	if (!(m = dob_calloc(1, sizeof(*m))))
		return -DOB_ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = posix_err(errno);
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		err = posix_err(errno);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX / 2) {
		err = !S_ISREG(st.st_mode) ? -DOB_EINVAL : -DOB_ENOMEM;
		goto fail;
	}
	if (st.st_size > 0) {
		/* MAP_POPULATE: every page mapped in this call, none faulted
		 * in one by one while reading. */
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);

		if (p == MAP_FAILED) {
			err = errno == ENOMEM ? -DOB_ENOMEM : -DOB_EIO;
			goto fail;
		}
		m->p = p;
		m->n = (size_t)st.st_size;
	}
	close(fd);
	*data = m->p;
	*len = m->n;
	*out = m;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	dob_free(m);
	return err;
}

void plat_file_unmap(struct plat_map *m)
{
	if (!m)
		return;
	if (m->p)
		munmap(m->p, m->n);
	dob_free(m);
}

int plat_file_replace(const char *tmp, const char *path)
{
	if (!tmp || !path)
		return -DOB_EINVAL;
	if (rename(tmp, path) < 0)
		return posix_err(errno);
	sync_dir_of(path);
	return 0;
}

int plat_file_remove(const char *path)
{
	if (!path)
		return -DOB_EINVAL;
	if (unlink(path) < 0)
		return posix_err(errno);
	return 0;
}

/* ------------------------------------------------------------ defaults */

/* An XDG variable, used only if set to an absolute path (the spec says to
 * ignore relative ones). */
static const char *xdg(const char *name)
{
	const char *v = getenv(name);

	return (v && v[0] == '/') ? v : NULL;
}

int plat_default_state_dir(char *buf, size_t len)
{
	const char *base = xdg("XDG_STATE_HOME");
	const char *home;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	int n;

	if (!buf || !len)
		return -DOB_EINVAL;
	buf[0] = '\0';
	if (base) {
		n = snprintf(buf, len, "%s/dobroker", base);
	} else {
		home = getenv("HOME");
		if (!home || home[0] != '/') {
			if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &res) != 0 || !res ||
			    !res->pw_dir || res->pw_dir[0] != '/')
				return -DOB_ENOTFOUND;
			home = res->pw_dir;
		}
		n = snprintf(buf, len, "%s/.local/state/dobroker", home);
	}
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -DOB_EINVAL;
	}
	return 0;
}

int plat_service_state_dir(char *buf, size_t len, char *errbuf, size_t errlen)
{
	/* No machine service on POSIX (development and tests): --mode service
	 * keeps the per-user default. */
	int rc = plat_default_state_dir(buf, len);

	if (rc) {
		snprintf(errbuf, errlen, "no default state directory: %s (use --state-dir)",
			 dob_strerror(rc));
		return rc;
	}
	rc = plat_mkdir_private(buf);
	if (rc)
		snprintf(errbuf, errlen, "state directory %s: %s", buf, dob_strerror(rc));
	return rc;
}

static char endpoint[sizeof(((struct sockaddr_un *)0)->sun_path)];
static pthread_once_t endpoint_once = PTHREAD_ONCE_INIT;

static void endpoint_init(void)
{
	const char *run = xdg("XDG_RUNTIME_DIR");
	int n = -1;

	if (run)
		n = snprintf(endpoint, sizeof endpoint, "%s/dobroker.sock", run);
	if (n < 0 || (size_t)n >= sizeof endpoint)
		snprintf(endpoint, sizeof endpoint, "/tmp/dobroker-%u.sock", (unsigned)geteuid());
}

/* Computed once per process: later changes to the environment are ignored. */
const char *plat_default_endpoint(void)
{
	pthread_once(&endpoint_once, endpoint_init);
	return endpoint;
}

/* ------------------------------------------------------------ state lock */

/* flock on DIR/lock: released by the kernel when the process ends, however
 * it ends, so a broker killed with SIGKILL leaves no stale lock. The file is
 * never unlinked (unlinking a lock file lets two processes hold locks on two
 * different files of the same name); only its content, the holder's pid,
 * changes, and only while the lock is held. */
struct plat_lock {
	int fd;
};

#define LOCK_NAME "/lock"

int plat_dir_lock(const char *dir, struct plat_lock **out, char *errbuf, size_t errlen)
{
	struct plat_lock *lk;
	char path[4096], pid[32], held[32];
	ssize_t n;
	int fd, e;

	*out = NULL;
	if (!dir || strlen(dir) + sizeof LOCK_NAME > sizeof path) {
		snprintf(errbuf, errlen, "state directory path too long");
		return -DOB_EINVAL;
	}
	snprintf(path, sizeof path, "%s" LOCK_NAME, dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(e));
		return posix_err(e);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		if (e == EWOULDBLOCK) {
			n = pread(fd, held, sizeof held - 1, 0);
			held[n > 0 ? n : 0] = '\0';
			held[strcspn(held, "\r\n")] = '\0';
			snprintf(errbuf, errlen,
				 "state directory %s is in use by another broker (pid %s, holding %s)",
				 dir, held[0] ? held : "unknown", path);
			close(fd);
			return -DOB_EEXIST;
		}
		close(fd);
		snprintf(errbuf, errlen, "cannot lock %s: %s", path, strerror(e));
		return posix_err(e);
	}
	snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid)) {
		e = errno;
		close(fd);
		snprintf(errbuf, errlen, "cannot write %s: %s", path, strerror(e));
		return posix_err(e);
	}
	lk = dob_malloc(sizeof *lk);
	if (!lk) {
		close(fd);
		snprintf(errbuf, errlen, "out of memory");
		return -DOB_ENOMEM;
	}
	lk->fd = fd;
	*out = lk;
	return 0;
}

void plat_dir_unlock(struct plat_lock *lk)
{
	if (!lk)
		return;
	/* Empty while still held: the next broker finds no stale pid. */
	if (ftruncate(lk->fd, 0) < 0)
		log_debug("state lock: cannot empty it: %s", strerror(errno));
	close(lk->fd);
	dob_free(lk);
}
