/*
 * tests/fakes/fake_files.c - plat_mkdir_private and plat_file_* of
 * broker/platform.h on real files with POSIX calls, for the unit tests
 * (linked instead of the platform library). Failure injection through
 * fake_files.h. Only the file functions live here; the loop, connections
 * and clock fakes are in tests/fakes/fake_plat.c.
 */
#include "fake_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

struct plat_file {
	int fd;
};

static int64_t space = -1;
static int truncate_err, replace_err, open_err, open_skip, sync_err;
static uint64_t syncs;

void fake_files_reset(void)
{
	space = -1;
	truncate_err = replace_err = open_err = open_skip = sync_err = 0;
	syncs = 0;
}

void fake_files_set_space(int64_t bytes) { space = bytes; }
void fake_files_fail_truncate(int err) { truncate_err = err; }
void fake_files_fail_replace(int err) { replace_err = err; }
void fake_files_fail_sync(int err) { sync_err = err; }
void fake_files_fail_open(int err, int skip)
{
	open_err = err;
	open_skip = skip;
}
uint64_t fake_files_syncs(void) { return syncs; }

static int from_errno(int e)
{
	switch (e) {
	case ENOENT: case ENOTDIR: return -DOB_ENOTFOUND;
	case EACCES: case EPERM: case EROFS: return -DOB_EACCES;
	case ENOSPC: case EDQUOT: return -DOB_ENOSPC;
	case ENOMEM: return -DOB_ENOMEM;
	case EEXIST: return -DOB_EEXIST;
	default: return -DOB_EIO;
	}
}

int plat_mkdir_private(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	return from_errno(errno);
}

int plat_file_open_append(const char *path, struct plat_file **out)
{
	struct plat_file *f;
	int fd;

	*out = NULL;
	if (open_err) {
		if (open_skip-- == 0) {
			int rc = open_err;

			open_err = 0;
			return rc;
		}
	}
	f = dob_malloc(sizeof(*f));
	if (!f)
		return -DOB_ENOMEM;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = from_errno(errno);

		dob_free(f);
		return rc;
	}
	f->fd = fd;
	*out = f;
	return 0;
}

int plat_file_write(struct plat_file *f, const void *buf, size_t n, bool sync)
{
	const char *p = buf;
	size_t want = n;
	bool full = false;

	if (space >= 0 && (uint64_t)space < n) {
		want = (size_t)space;
		full = true;
	}
	while (want > 0) {
		ssize_t w = write(f->fd, p, want);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return from_errno(errno);
		}
		p += w;
		want -= (size_t)w;
		if (space >= 0)
			space -= w;
	}
	if (full)
		return -DOB_ENOSPC;
	if (sync) {
		syncs++;
		if (sync_err)
			return sync_err;
		if (fsync(f->fd) < 0)
			return from_errno(errno);
	}
	return 0;
}

int plat_file_truncate(struct plat_file *f, uint64_t len)
{
	if (truncate_err)
		return truncate_err;
	if (ftruncate(f->fd, (off_t)len) < 0)
		return from_errno(errno);
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
	uint8_t *p;
	size_t got = 0;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return from_errno(errno);
	if (fstat(fd, &st) < 0) {
		rc = from_errno(errno);
		close(fd);
		return rc;
	}
	p = dob_malloc((size_t)st.st_size + 1);
	if (!p) {
		close(fd);
		return -DOB_ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}

/* plat_file_map as a copy read with plat_file_read_all above. */
#include "map_by_copy.h"

int plat_file_replace(const char *tmp, const char *path)
{
	if (replace_err)
		return replace_err;
	if (rename(tmp, path) < 0)
		return from_errno(errno);
	return 0;
}

int plat_file_remove(const char *path)
{
	if (unlink(path) < 0)
		return from_errno(errno);
	return 0;
}

/* ------------------------------------------------------------ test helpers */

int fake_files_tmpdir(char *buf, size_t len, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(buf, len, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);

	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

void fake_files_rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		unlink(dir);
		return;
	}
	while ((e = readdir(d))) {
		char p[4096];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			fake_files_rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}
