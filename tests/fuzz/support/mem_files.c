/*
 * tests/fuzz/support/mem_files.c - plat_mkdir_private and plat_file_* of
 * broker/platform.h on an in-memory table of files, for the fuzz build
 * (which links the files of tests/fuzz/support/ instead of a platform library).
 * Directories are not modelled: every path is a file name. Single-threaded.
 *
 * The table itself uses malloc: it is the "disk", outside the allocation
 * hook. What the platform hands to its callers (struct plat_file, the
 * buffer of plat_file_read_all) comes from dob_malloc, as in the real
 * implementations.
 */
#include "mem_files.h"

#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

struct mfile {
	struct mfile *next;
	char *path;   /* owned (malloc) */
	uint8_t *b;   /* owned (malloc) */
	size_t n, cap;
};

struct plat_file {
	char *path;   /* owned (dob_malloc): the handle follows the name, like O_APPEND */
};

static struct mfile *files;
static int64_t space = -1; /* bytes writes may still add; < 0 unlimited */

static struct mfile *find(const char *path)
{
	for (struct mfile *f = files; f; f = f->next)
		if (!strcmp(f->path, path))
			return f;
	return NULL;
}

static struct mfile *create(const char *path)
{
	struct mfile *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	f->next = files;
	files = f;
	return f;
}

static void unlink_file(struct mfile *f)
{
	struct mfile **pp = &files;

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	free(f->path);
	free(f->b);
	free(f);
}

void mem_files_reset(void)
{
	while (files)
		unlink_file(files);
	space = -1;
}

void mem_files_set_space(int64_t bytes)
{
	space = bytes;
}

static int reserve(struct mfile *f, size_t n)
{
	uint8_t *b;
	size_t cap;

	if (n <= f->cap)
		return 0;
	cap = f->cap ? f->cap : 64;
	while (cap < n)
		cap *= 2;
	b = realloc(f->b, cap);
	if (!b)
		return -1;
	f->b = b;
	f->cap = cap;
	return 0;
}

int mem_files_put(const char *path, const void *p, size_t n)
{
	struct mfile *f = find(path);

	if (!f && !(f = create(path)))
		return -1;
	if (reserve(f, n) < 0)
		return -1;
	if (n)
		memcpy(f->b, p, n);
	f->n = n;
	return 0;
}

const uint8_t *mem_files_get(const char *path, size_t *n)
{
	struct mfile *f = find(path);

	*n = f ? f->n : 0;
	return f ? (f->b ? f->b : (const uint8_t *)"") : NULL;
}

int plat_mkdir_private(const char *dir)
{
	return dir && *dir ? 0 : -DOB_EINVAL;
}

int plat_file_open_append(const char *path, struct plat_file **out)
{
	struct plat_file *h;

	*out = NULL;
	h = dob_malloc(sizeof(*h));
	if (!h)
		return -DOB_ENOMEM;
	h->path = dob_strdup(path);
	if (!h->path || (!find(path) && !create(path))) {
		dob_free(h->path);
		dob_free(h);
		return -DOB_ENOMEM;
	}
	*out = h;
	return 0;
}

int plat_file_write(struct plat_file *h, const void *buf, size_t n, bool sync)
{
	struct mfile *f = find(h->path);
	size_t fit = n;

	if (!f && !(f = create(h->path)))
		return -DOB_EIO;
	if (space >= 0 && (uint64_t)space < n)
		fit = (size_t)space;
	if (reserve(f, f->n + fit) < 0)
		return -DOB_ENOSPC;
	if (fit)
		memcpy(f->b + f->n, buf, fit);
	f->n += fit;
	if (space >= 0)
		space -= (int64_t)fit;
	return fit < n ? -DOB_ENOSPC : 0;
}

int plat_file_truncate(struct plat_file *h, uint64_t len)
{
	struct mfile *f = find(h->path);

	if (!f)
		return -DOB_EIO;
	if (len > f->n) {
		if (reserve(f, (size_t)len) < 0)
			return -DOB_ENOSPC;
		memset(f->b + f->n, 0, (size_t)len - f->n);
	}
	f->n = (size_t)len;
	return 0;
}

void plat_file_close(struct plat_file *h)
{
	if (!h)
		return;
	dob_free(h->path);
	dob_free(h);
}

int plat_file_read_all(const char *path, uint8_t **buf, size_t *len)
{
	struct mfile *f = find(path);

	*buf = NULL;
	*len = 0;
	if (!f)
		return -DOB_ENOTFOUND;
	*buf = dob_malloc(f->n + 1);
	if (!*buf)
		return -DOB_ENOMEM;
	if (f->n)
		memcpy(*buf, f->b, f->n);
	*len = f->n;
	return 0;
}

/* plat_file_map as a copy read with plat_file_read_all above. */
#include "../../fakes/map_by_copy.h"

int plat_file_replace(const char *tmp, const char *path)
{
	struct mfile *src = find(tmp), *dst = find(path);
	char *name;

	if (!src)
		return -DOB_ENOTFOUND;
	name = strdup(path);
	if (!name)
		return -DOB_ENOMEM;
	if (dst && dst != src)
		unlink_file(dst);
	free(src->path);
	src->path = name;
	return 0;
}

int plat_file_remove(const char *path)
{
	struct mfile *f = find(path);

	if (!f)
		return -DOB_ENOTFOUND;
	unlink_file(f);
	return 0;
}
