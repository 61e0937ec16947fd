/*
 * broker/core/journal.c - append-only journal of JournalRecords with a CRC
 * per record, replay at open, compaction by snapshot + rename (journal.h).
 *
 * On disk: records of  u32 LE length N | u32 LE CRC-32C(body) | N bytes.
 * Every file operation goes through broker/platform.h (plat_file_*).
 *
 * Replay stops at the first bad record and keeps everything before it. A bad
 * record is one of:
 *  - a torn tail: the header or the body runs past the end of the file (a
 *    write cut short by a crash) and no record with a good CRC starts in the
 *    bytes that follow, or every byte from the record to the end of the file
 *    is zero (a zero-filled tail after power loss). It is dropped (the replay
 *    note says so).
 *  - corruption: a length of 0 or above JOURNAL_MAX_RECORD, a length that
 *    runs past the end while a good record follows (a damaged length field),
 *    a CRC that does not match, or a body whose CRC matches but which is not
 *    a valid JournalRecord. The whole file is first copied to journal.dob.corrupt for
 *    inspection, then cut there.
 * Nothing on disk changes until every good record has been applied, so an
 * open that fails (allocation, apply error, the copy cannot be written)
 * leaves the file as it was; the caller discards what apply built and may
 * retry.
 *
 * Appends: one plat_file_write of the whole record. When it fails (disk full,
 * I/O error) the file is cut back to its previous length at once, so it
 * always ends on a record boundary; if even that cut fails, the journal
 * remembers it and retries the cut before the next append (which fails with
 * -DOB_EIO while the cut is impossible), so a torn record never sits in front
 * of a good one.
 */
#include "journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "platform.h"

#define JOURNAL_NAME "journal.dob"
#define JOURNAL_HDR 8u
/* A record is one JobError at most (a few KiB; bounded strings keep it far
 * below this). A longer length field is corruption, not a record. */
#define JOURNAL_MAX_RECORD (16u * 1024u * 1024u)
#define JOURNAL_COMPACT_DEFAULT (4u * 1024u * 1024u)

struct journal {
	char *path;              /* owned: <dir>/journal.dob */
	char *tmp_path;          /* owned: <dir>/journal.dob.tmp (compaction) */
	struct plat_file *f;     /* owned; NULL after a failed reopen (append retries) */
	bool sync;
	bool dirty;              /* appended since the last journal_commit() */
	bool cut_pending;        /* a failed append left bytes past size: cut them first */
	uint64_t compact_bytes;
	uint64_t size;           /* bytes of whole records in the file */
	uint64_t base;           /* size right after the last compaction (0 at open) */
	uint64_t appends;
	struct plat_file *snap;  /* owned during journal_compact only */
	uint64_t snap_size;
};

/* ------------------------------------------------------------ helpers */

static char *path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	/* A directory written with backslashes only (Windows) keeps its style. */
	char sep = (strchr(dir, '\\') && !strchr(dir, '/')) ? '\\' : '/';
	bool has_sep = dl > 0 && (dir[dl - 1] == '/' || dir[dl - 1] == '\\');
	size_t n = dl + 1 + strlen(name) + 1;
	char *p = dob_malloc(n);

	if (!p)
		return NULL;
	if (has_sep)
		snprintf(p, n, "%s%s", dir, name);
	else
		snprintf(p, n, "%s%c%s", dir, sep, name);
	return p;
}

static char *path_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = dob_malloc(n);

	if (p)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

static int remove_if_present(const char *path)
{
	int rc = plat_file_remove(path);

	return rc == -DOB_ENOTFOUND ? 0 : rc;
}

/* Puts the record header (length, CRC) before body, which it takes over
 * (freed on failure). */
static int frame_record(uint8_t *body, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *rec;

	*out = NULL;
	*out_len = 0;
	if (len == 0 || len > JOURNAL_MAX_RECORD) {
		dob_free(body);
		return -DOB_EFIELD;
	}
	rec = dob_realloc(body, len + JOURNAL_HDR);
	if (!rec) {
		dob_free(body);
		return -DOB_ENOMEM;
	}
	memmove(rec + JOURNAL_HDR, rec, len);
	dob_put_u32le(rec, (uint32_t)len);
	dob_put_u32le(rec + 4, dob_crc32c(0, rec + JOURNAL_HDR, len));
	*out = rec;
	*out_len = len + JOURNAL_HDR;
	return 0;
}

/* Encodes r as one on-disk record (header + body) in a new buffer. */
static int encode_record(const struct dob_jrec *r, uint8_t **out, size_t *out_len)
{
	struct dob_codec_error cerr;
	uint8_t *body = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = dob_jrec_encode(r, &body, &len, &cerr);
	if (rc < 0)
		return rc == -DOB_ENOMEM ? rc : -DOB_EFIELD;
	return frame_record(body, len, out, out_len);
}

/* Appends the framed record rec (n bytes, freed here) to f whose good length
 * is *size. On failure the file is cut back to *size; *cut_failed says the
 * cut failed too. */
static int write_framed(struct plat_file *f, uint64_t *size, bool sync, uint8_t *rec, size_t n,
			bool *cut_failed)
{
	int rc;

	*cut_failed = false;
	rc = plat_file_write(f, rec, n, sync);
	dob_free(rec);
	if (rc < 0) {
		/* Part of the record may be on disk: cut it off now. */
		if (plat_file_truncate(f, *size) < 0)
			*cut_failed = true;
		return rc == -DOB_ENOSPC ? -DOB_ENOSPC : -DOB_EIO;
	}
	*size += n;
	return 0;
}

/* Appends r to f whose good length is *size (write_framed). */
static int write_record(struct plat_file *f, uint64_t *size, bool sync,
			const struct dob_jrec *r, bool *cut_failed)
{
	uint8_t *rec;
	size_t n;
	int rc;

	*cut_failed = false;
	rc = encode_record(r, &rec, &n);
	if (rc < 0)
		return rc;
	return write_framed(f, size, sync, rec, n, cut_failed);
}

/* ------------------------------------------------------------ replay */

struct scan {
	uint64_t good;      /* bytes of good records */
	uint64_t records;
	bool bad;           /* a bad record was found at `good` */
	bool corrupt;       /* ... and it is not simply a torn tail */
	char why[160];
};

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* True when a record with a good CRC starts somewhere in p[1..n), or when
 * looking would cost too much (then the caller keeps a copy: when unsure,
 * keep the evidence). */
static bool record_follows(const uint8_t *p, size_t n)
{
	uint64_t budget = 64u * 1024u * 1024u; /* bytes of CRC work */

	for (size_t i = 1; i + JOURNAL_HDR < n; i++) {
		uint32_t len = dob_get_u32le(p + i);

		if (len == 0 || len > n - i - JOURNAL_HDR)
			continue;
		if (len > budget)
			return true;
		budget -= len;
		if (dob_crc32c(0, p + i + JOURNAL_HDR, len) == dob_get_u32le(p + i + 4))
			return true;
	}
	return false;
}

/* Walks buf, applying each good record. Returns 0 (scan filled in, bad or
 * not) or the first negative error of apply / the decoder's allocation. */
static int replay(const uint8_t *buf, size_t n, journal_apply_fn apply, void *ctx,
		  struct scan *s)
{
	size_t off = 0;

	memset(s, 0, sizeof(*s));
	while (off < n) {
		size_t rem = n - off;
		struct dob_codec_error cerr;
		struct dob_jrec rec;
		uint32_t len, crc;
		int rc;

		s->bad = true;
		if (all_zero(buf + off, rem)) {
			snprintf(s->why, sizeof(s->why), "torn tail: %" PRIu64 " zero bytes", (uint64_t)rem);
			return 0;
		}
		if (rem < JOURNAL_HDR) {
			snprintf(s->why, sizeof(s->why), "torn tail: header cut short (%" PRIu64 " of %u bytes)",
				 (uint64_t)rem, JOURNAL_HDR);
			return 0;
		}
		len = dob_get_u32le(buf + off);
		crc = dob_get_u32le(buf + off + 4);
		if (len == 0 || len > JOURNAL_MAX_RECORD) {
			s->corrupt = true;
			snprintf(s->why, sizeof(s->why), "record length %u out of range (1..%u)",
				 len, JOURNAL_MAX_RECORD);
			return 0;
		}
		if (len > rem - JOURNAL_HDR) {
			/* A torn write ends the file; a good record further on means
			 * this length field was damaged in the middle of the log. */
			s->corrupt = record_follows(buf + off, rem);
			snprintf(s->why, sizeof(s->why), "%s: record cut short (%" PRIu64 " of %u bytes)%s",
				 s->corrupt ? "damaged length" : "torn tail", (uint64_t)(rem - JOURNAL_HDR), len,
				 s->corrupt ? " but a valid record follows" : "");
			return 0;
		}
		if (dob_crc32c(0, buf + off + JOURNAL_HDR, len) != crc) {
			s->corrupt = true;
			snprintf(s->why, sizeof(s->why), "CRC mismatch in a %u-byte record", len);
			return 0;
		}
		memset(&rec, 0, sizeof(rec));
		rc = dob_jrec_decode(buf + off + JOURNAL_HDR, len, &rec, &cerr);
		if (rc == -DOB_ENOMEM)
			return rc;
		if (rc < 0) {
			s->corrupt = true;
			snprintf(s->why, sizeof(s->why), "CRC matches but the record is invalid: %.100s",
				 cerr.reason);
			return 0;
		}
		rc = apply ? apply(ctx, &rec) : 0;
		dob_jrec_clear(&rec);
		if (rc < 0)
			return rc;
		s->bad = false;
		off += JOURNAL_HDR + len;
		s->good = off;
		s->records++;
	}
	return 0;
}

static int write_copy(const char *path, const uint8_t *buf, size_t n)
{
	struct plat_file *f = NULL;
	int rc;

	rc = remove_if_present(path);
	if (rc < 0)
		return rc;
	rc = plat_file_open_append(path, &f);
	if (rc < 0)
		return rc;
	rc = plat_file_write(f, buf, n, true);
	plat_file_close(f);
	if (rc < 0)
		plat_file_remove(path);
	return rc;
}

/* ------------------------------------------------------------ public */

int journal_open(const struct journal_opts *o, journal_apply_fn apply, void *ctx,
		 struct journal **out, struct journal_replay_info *info)
{
	struct journal *j = NULL;
	char *corrupt_path = NULL;
	struct plat_map *map = NULL;
	const uint8_t *buf = NULL;
	size_t n = 0;
	struct scan s;
	int rc;

	if (out)
		*out = NULL;
	if (info)
		memset(info, 0, sizeof(*info));
	if (!o || !o->dir || !o->dir[0] || !out)
		return -DOB_EINVAL;

	j = dob_calloc(1, sizeof(*j));
	if (!j)
		return -DOB_ENOMEM;
	j->sync = o->sync;
	j->compact_bytes = o->compact_bytes ? o->compact_bytes : JOURNAL_COMPACT_DEFAULT;
	j->path = path_join(o->dir, JOURNAL_NAME);
	j->tmp_path = j->path ? path_suffix(j->path, ".tmp") : NULL;
	if (!j->path || !j->tmp_path) {
		rc = -DOB_ENOMEM;
		goto fail;
	}

	rc = plat_mkdir_private(o->dir);
	if (rc < 0)
		goto fail;
	/* A compaction killed before its rename leaves a temporary file. */
	rc = remove_if_present(j->tmp_path);
	if (rc < 0)
		goto fail;

	/* Mapped, not read: a restart reads the whole journal once. */
	rc = plat_file_map(j->path, &buf, &n, &map);
	if (rc == -DOB_ENOTFOUND) {
		buf = NULL;
		n = 0;
	} else if (rc < 0) {
		goto fail;
	}

	rc = replay(buf, n, apply, ctx, &s);
	if (rc < 0)
		goto fail;

	if (s.bad && s.corrupt) {
		corrupt_path = path_suffix(j->path, ".corrupt");
		if (!corrupt_path) {
			rc = -DOB_ENOMEM;
			goto fail;
		}
		rc = write_copy(corrupt_path, buf, n);
		if (rc < 0)
			goto fail;
	}
	/* Before the cut: Windows truncates no file that has a view. */
	plat_file_unmap(map);
	map = NULL;
	buf = NULL;

	rc = plat_file_open_append(j->path, &j->f);
	if (rc < 0)
		goto fail;
	if (s.bad) {
		rc = plat_file_truncate(j->f, s.good);
		if (rc < 0)
			goto fail;
	}
	j->size = s.good;

	if (info) {
		info->records = s.records;
		info->bytes = s.good;
		info->dropped_bytes = n - s.good;
		if (s.bad)
			snprintf(info->note, sizeof(info->note),
				 "dropped %" PRIu64 " bytes at offset %" PRIu64 " after record %" PRIu64 ": %s%s",
				 (uint64_t)(n - s.good), s.good, s.records, s.why,
				 s.corrupt ? "; the whole file was kept as " JOURNAL_NAME ".corrupt" : "");
	}
	dob_free(corrupt_path);
	*out = j;
	return 0;
fail:
	if (info)
		memset(info, 0, sizeof(*info));
	plat_file_unmap(map);
	dob_free(corrupt_path);
	journal_close(j);
	return rc;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	plat_file_close(j->snap);
	plat_file_close(j->f);
	dob_free(j->path);
	dob_free(j->tmp_path);
	dob_free(j);
}

/* Makes the journal ready to append: reopens after a failed compaction
 * reopen, and cuts off what a failed append left. */
static int ready(struct journal *j)
{
	int rc;

	if (!j->f) {
		rc = plat_file_open_append(j->path, &j->f);
		if (rc < 0)
			return -DOB_EIO;
		j->cut_pending = true; /* whatever the file holds past size goes */
	}
	if (j->cut_pending) {
		if (plat_file_truncate(j->f, j->size) < 0)
			return -DOB_EIO;
		j->cut_pending = false;
	}
	return 0;
}

/* Written to the OS now (a killed broker loses nothing); made durable by
 * journal_commit(), once for every record of the batch of work. Takes rec
 * (framed, n bytes) over. */
static int append_framed(struct journal *j, uint8_t *rec, size_t n)
{
	bool cut_failed;
	int rc;

	if (j->snap) {
		dob_free(rec);
		return -DOB_ESTATE; /* appends during a snapshot would be lost by the rename */
	}
	rc = ready(j);
	if (rc < 0) {
		dob_free(rec);
		return rc;
	}
	rc = write_framed(j->f, &j->size, false, rec, n, &cut_failed);
	if (cut_failed)
		j->cut_pending = true;
	if (rc < 0)
		return rc;
	j->appends++;
	j->dirty = true;
	return 0;
}

int journal_append(struct journal *j, const struct dob_jrec *r)
{
	uint8_t *rec;
	size_t n;
	int rc;

	if (!j || !r)
		return -DOB_EINVAL;
	if (j->snap)
		return -DOB_ESTATE;
	if ((rc = encode_record(r, &rec, &n)) < 0)
		return rc;
	return append_framed(j, rec, n);
}

int journal_append_body(struct journal *j, uint8_t *body, size_t len)
{
	uint8_t *rec;
	size_t n;
	int rc;

	if (!j || !body) {
		dob_free(body);
		return -DOB_EINVAL;
	}
	if ((rc = frame_record(body, len, &rec, &n)) < 0)
		return rc;
	return append_framed(j, rec, n);
}

int journal_commit(struct journal *j)
{
	int rc;

	if (!j || !j->dirty || !j->f)
		return 0;
	j->dirty = false;
	if (!j->sync)
		return 0;
	/* Writing nothing with sync set flushes the file to stable storage. */
	rc = plat_file_write(j->f, "", 0, true);
	if (rc < 0)
		j->dirty = true; /* retried at the next commit */
	return rc;
}

uint64_t journal_commits_pending(const struct journal *j)
{
	return j && j->dirty;
}

static int emit(struct journal *j, const struct dob_jrec *r)
{
	bool cut_failed;

	if (!j || !r)
		return -DOB_EINVAL;
	if (!j->snap)
		return -DOB_ESTATE; /* only valid inside journal_compact */
	return write_record(j->snap, &j->snap_size, false, r, &cut_failed);
}

bool journal_wants_compaction(const struct journal *j)
{
	/* Past the threshold, and at least twice the last snapshot: a live state
	 * larger than the threshold does not make every append compact. */
	return j && j->size > j->compact_bytes && j->size / 2 >= j->base;
}

int journal_compact(struct journal *j, journal_snapshot_fn fn, void *ctx)
{
	int rc;

	if (!j || !fn)
		return -DOB_EINVAL;
	if (j->snap)
		return -DOB_ESTATE;
	rc = remove_if_present(j->tmp_path);
	if (rc < 0)
		return rc;
	rc = plat_file_open_append(j->tmp_path, &j->snap);
	if (rc < 0)
		return rc;
	j->snap_size = 0;
	rc = fn(ctx, j, emit);
	/* Writing nothing with sync set flushes the snapshot to stable storage
	 * before the rename makes it the journal. */
	if (rc == 0 && j->sync)
		rc = plat_file_write(j->snap, "", 0, true);
	plat_file_close(j->snap);
	j->snap = NULL;
	if (rc < 0)
		goto drop_tmp;

	/* Close first: Windows cannot replace a file that is open. */
	plat_file_close(j->f);
	j->f = NULL;
	rc = plat_file_replace(j->tmp_path, j->path);
	if (rc < 0) {
		/* The old journal is still in place and intact. */
		if (plat_file_open_append(j->path, &j->f) < 0)
			j->f = NULL; /* append reopens */
		goto drop_tmp;
	}
	j->size = j->snap_size;
	j->base = j->snap_size;
	j->cut_pending = false;
	/* The snapshot is the journal now: compaction succeeded. If it cannot
	 * be reopened here, the next append reopens it (or fails with EIO). */
	if (plat_file_open_append(j->path, &j->f) < 0)
		j->f = NULL;
	return 0;
drop_tmp:
	plat_file_remove(j->tmp_path);
	return rc;
}

uint64_t journal_size(const struct journal *j)
{
	return j ? j->size : 0;
}

uint64_t journal_appends(const struct journal *j)
{
	return j ? j->appends : 0;
}
