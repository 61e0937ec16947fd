/*
 * tests/unit/test_journal.c - broker/core/journal.c on real files (through
 * tests/fakes/fake_files.c): append and replay of every record type, torn
 * tails at every byte, corruption in the middle, compaction, a full disk, and
 * allocation failures at every step.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "fake_files.h"
#include "journal.h"

static char dir[256];
static char jpath[300];
static char cpath[320];
static char tpath[320];

static void setup(void)
{
	fake_files_reset();
	dob_alloc_fail_at(0);
	cr_assert_eq(fake_files_tmpdir(dir, sizeof(dir) - 8, "dob-journal"), 0);
	/* the journal creates its state directory: give it one level to make */
	strcat(dir, "/state");
	snprintf(jpath, sizeof(jpath), "%s/journal.dob", dir);
	snprintf(cpath, sizeof(cpath), "%s.corrupt", jpath);
	snprintf(tpath, sizeof(tpath), "%s.tmp", jpath);
}

static void teardown(void)
{
	fake_files_reset();
	dob_alloc_fail_at(0);
	dir[strlen(dir) - strlen("/state")] = '\0';
	fake_files_rm_tree(dir);
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ records */

static void guid_n(struct dob_guid *g, int n)
{
	memset(g, 0, sizeof(*g));
	g->b[0] = (uint8_t)n;
	g->b[15] = 0xA5;
}

static void mk_job(struct dob_jrec *r, int n)
{
	char name[32];

	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_JOB;
	guid_n(&r->u.job.job_id, n);
	r->u.job.owner.pid = 4242;
	r->u.job.owner.uid = 1000;
	r->u.job.owner.user_sid = dob_strdup("uid:1000");
	r->u.job.policy.kind = DOB_POLICY_RESUME;
	r->u.job.policy.max_resumes = 3;
	r->u.job.policy.backoff_ms = 500;
	r->u.job.policy.exhausted = DOB_POLICY_CANCEL;
	snprintf(name, sizeof(name), "job %d", n);
	r->u.job.display_name = dob_strdup(name);
	r->u.job.type = DOB_JOB_DOWNLOAD;
	r->u.job.resumes_used = (uint32_t)n % 3;
}

static void mk_episode(struct dob_jrec *r, int n)
{
	struct dob_job_error *e;

	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_EPISODE;
	r->u.episode.episode_id = (uint64_t)n;
	e = &r->u.episode.event;
	guid_n(&e->job.job_id, n);
	e->job.display_name = dob_strdup("nightly");
	e->job.state = DOB_STATE_ERROR;
	e->job.progress.bytes_total = 1000;
	e->job.progress.bytes_transferred = 400;
	e->job.progress.files_total = 2;
	e->error.context = DOB_CONTEXT_REMOTE_FILE;
	e->error.hresult = 0x80190193u;
	e->error.description = dob_strdup("forbidden");
	e->error.protocol = dob_strdup("http");
	e->error.has_file = true;
	e->error.file.remote_url = dob_strdup("https://example.com/a.bin");
	e->error.file.local_name = dob_strdup("/tmp/a.bin");
	e->episode_id = (uint64_t)n;
	e->first_seen_us = 1700000000000000;
	e->last_seen_us = 1700000000500000;
	e->repeat_count = 2;
	e->backend = DOB_BACKEND_SIM;
	e->default_policy.kind = DOB_POLICY_NONE;
	e->n_field_errors = 1;
	e->field_errors = dob_calloc(1, sizeof(*e->field_errors));
	e->field_errors[0].field = dob_strdup("GetErrorDescription");
	e->field_errors[0].hresult = 0x80004001u;
}

static void mk_decision(struct dob_jrec *r, int n)
{
	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_DECISION;
	r->u.decision.episode_id = (uint64_t)n;
	guid_n(&r->u.decision.resolution.job_id, n);
	r->u.decision.resolution.episode_id = (uint64_t)n;
	r->u.decision.resolution.action = DOB_ACTION_CANCEL;
	r->u.decision.resolution.resolved_by = DOB_RESOLVED_CONTROLLER;
	r->u.decision.resolution.actor.session_id = 7;
	r->u.decision.resolution.actor.client_name = dob_strdup("ctl");
	r->u.decision.resolution.new_state = DOB_STATE_CANCELLED;
	r->u.decision.resolution.message = dob_strdup("bye");
}

static void mk_removed(struct dob_jrec *r, int n)
{
	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_JOB_REMOVED;
	guid_n(&r->u.job_removed, n);
}

static void mk_counters(struct dob_jrec *r, int n)
{
	memset(r, 0, sizeof(*r));
	r->type = DOB_JREC_COUNTERS;
	r->u.counters.next_episode_id = (uint64_t)n + 1000;
}

typedef void (*mk_fn)(struct dob_jrec *r, int n);
static const mk_fn makers[] = { mk_job, mk_episode, mk_decision, mk_removed, mk_counters };
#define N_MAKERS (sizeof(makers) / sizeof(makers[0]))

/* Record i of a test log: the types in turn. */
static void mk(struct dob_jrec *r, int i)
{
	makers[(size_t)i % N_MAKERS](r, i);
}

/* The encoding of a record, for comparisons. */
static char *enc_hex(const struct dob_jrec *r)
{
	uint8_t *b = NULL;
	size_t n = 0;
	char *s;

	cr_assert_eq(dob_jrec_encode(r, &b, &n, NULL), 0);
	s = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", b[i]);
	s[2 * n] = '\0';
	dob_free(b);
	return s;
}

/* ------------------------------------------------------------ collector */

struct got {
	size_t n;
	char *enc[256];
	int fail_at; /* apply fails on this record (1-based), 0 never */
	bool count_only; /* allocation sweeps: encoding would allocate */
};

static int collect(void *ctx, struct dob_jrec *r)
{
	struct got *g = ctx;

	if (g->fail_at && (int)g->n + 1 == g->fail_at)
		return -DOB_EINVAL;
	cr_assert_lt(g->n, 256);
	if (g->count_only) {
		g->n++;
		return 0;
	}
	g->enc[g->n++] = enc_hex(r);
	return 0;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->enc[i]);
	memset(g, 0, sizeof(*g));
}

/* Checks that g holds exactly records first..first+n-1 of the test log. */
static void expect_records(const struct got *g, int first, size_t n)
{
	cr_assert_eq(g->n, n, "replayed %zu records, want %zu", g->n, n);
	for (size_t i = 0; i < n; i++) {
		struct dob_jrec r;
		char *want;

		mk(&r, first + (int)i);
		want = enc_hex(&r);
		dob_jrec_clear(&r);
		cr_assert_str_eq(g->enc[i], want, "record %zu differs", i);
		free(want);
	}
}

static struct journal_opts opts(void)
{
	struct journal_opts o = { .dir = dir, .sync = false, .compact_bytes = 0 };

	return o;
}

static struct journal *open_ok(struct got *g, struct journal_replay_info *info)
{
	struct journal_opts o = opts();
	struct journal *j = NULL;
	int rc = journal_open(&o, collect, g, &j, info);

	cr_assert_eq(rc, 0, "journal_open: %s", dob_strerror(rc));
	cr_assert_not_null(j);
	return j;
}

static void append_n(struct journal *j, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		struct dob_jrec r;
		int rc;

		mk(&r, i);
		rc = journal_append(j, &r);
		dob_jrec_clear(&r);
		cr_assert_eq(rc, 0, "append %d: %s", i, dob_strerror(rc));
	}
}

static int64_t file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

static uint8_t *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	uint8_t *b;
	long sz;

	cr_assert_not_null(f, "%s", p);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)sz + 1);
	cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return b;
}

static void spit(const char *p, const uint8_t *b, size_t n)
{
	FILE *f = fopen(p, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* Makes a journal holding records 0..n-1 and returns the size after each
 * record (sizes[0] = 0, sizes[i] = end of record i-1). */
static void make_log(int n, uint64_t *sizes)
{
	struct got g = { 0 };
	struct journal *j = open_ok(&g, NULL);

	sizes[0] = 0;
	for (int i = 0; i < n; i++) {
		append_n(j, i, 1);
		sizes[i + 1] = journal_size(j);
	}
	journal_close(j);
	got_free(&g);
	cr_assert_eq(file_size(jpath), (int64_t)sizes[n]);
}

/* ------------------------------------------------------------ tests */

Test(journal, new_directory_and_empty_log)
{
	struct journal_replay_info info;
	struct got g = { 0 };
	struct journal *j = open_ok(&g, &info);
	struct stat st;

	cr_assert_eq(stat(dir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	cr_expect_eq(info.records, 0);
	cr_expect_eq(info.dropped_bytes, 0);
	cr_expect_str_empty(info.note);
	cr_expect_eq(journal_size(j), 0);
	cr_expect_eq(journal_appends(j), 0);
	cr_expect_not(journal_wants_compaction(j));
	journal_close(j);
	got_free(&g);
}

Test(journal, append_and_replay_every_record_type_in_order)
{
	struct journal_replay_info info;
	struct got g = { 0 };
	struct journal *j = open_ok(&g, NULL);
	int n = 3 * (int)N_MAKERS;

	append_n(j, 0, n);
	cr_expect_eq(journal_appends(j), (uint64_t)n);
	cr_expect_eq(journal_size(j), (uint64_t)file_size(jpath));
	journal_close(j);
	got_free(&g);

	j = open_ok(&g, &info);
	expect_records(&g, 0, (size_t)n);
	cr_expect_eq(info.records, (uint64_t)n);
	cr_expect_eq(info.bytes, (uint64_t)file_size(jpath));
	cr_expect_eq(info.dropped_bytes, 0);
	cr_expect_str_empty(info.note);
	cr_expect_eq(file_size(cpath), -1, "no .corrupt copy for a clean log");
	/* Appending continues after the replayed records. */
	append_n(j, n, 2);
	journal_close(j);
	got_free(&g);
	j = open_ok(&g, NULL);
	expect_records(&g, 0, (size_t)n + 2);
	journal_close(j);
	got_free(&g);
}

Test(journal, record_format_is_length_crc_body)
{
	struct got g = { 0 };
	struct journal *j = open_ok(&g, NULL);
	struct dob_jrec r;
	uint8_t *want, *file;
	size_t wn, fn;

	append_n(j, 4, 1); /* a counters record */
	journal_close(j);
	mk(&r, 4);
	cr_assert_eq(dob_jrec_encode(&r, &want, &wn, NULL), 0);
	dob_jrec_clear(&r);
	file = slurp(jpath, &fn);
	cr_assert_eq(fn, wn + 8);
	cr_expect_eq(dob_get_u32le(file), (uint32_t)wn);
	cr_expect_eq(dob_get_u32le(file + 4), dob_crc32c(0, want, wn));
	cr_expect_eq(memcmp(file + 8, want, wn), 0);
	free(file);
	dob_free(want);
	got_free(&g);
}

Test(journal, torn_tail_at_every_byte_of_the_last_record)
{
	uint64_t sizes[8];
	uint8_t *whole;
	size_t n;

	make_log(7, sizes);
	whole = slurp(jpath, &n);
	for (uint64_t cut = sizes[6] + 1; cut < sizes[7]; cut++) {
		struct journal_replay_info info;
		struct got g = { 0 };
		struct journal *j;

		spit(jpath, whole, (size_t)cut);
		j = open_ok(&g, &info);
		expect_records(&g, 0, 6);
		cr_assert_eq(info.records, 6);
		cr_assert_eq(info.bytes, sizes[6]);
		cr_assert_eq(info.dropped_bytes, cut - sizes[6], "cut %llu", (unsigned long long)cut);
		cr_assert(strstr(info.note, "torn tail"), "cut %llu: %s", (unsigned long long)cut,
			  info.note);
		cr_assert_eq(file_size(jpath), (int64_t)sizes[6], "file truncated to the last good record");
		cr_assert_eq(file_size(cpath), -1, "a torn tail is not kept as corrupt");
		/* the log goes on from there */
		append_n(j, 6, 1);
		journal_close(j);
		got_free(&g);
		j = open_ok(&g, &info);
		expect_records(&g, 0, 7);
		cr_assert_eq(info.dropped_bytes, 0);
		journal_close(j);
		got_free(&g);
	}
	free(whole);
}

Test(journal, zero_filled_tail_is_dropped_as_torn)
{
	uint64_t sizes[4];
	uint8_t zeros[100] = { 0 };
	struct journal_replay_info info;
	struct got g = { 0 };
	struct journal *j;
	FILE *f;

	make_log(3, sizes);
	f = fopen(jpath, "ab");
	fwrite(zeros, 1, sizeof(zeros), f);
	fclose(f);
	j = open_ok(&g, &info);
	expect_records(&g, 0, 3);
	cr_expect_eq(info.dropped_bytes, sizeof(zeros));
	cr_expect(strstr(info.note, "zero bytes"), "%s", info.note);
	cr_expect_eq(file_size(cpath), -1);
	cr_expect_eq(file_size(jpath), (int64_t)sizes[3]);
	journal_close(j);
	got_free(&g);
}

/* Flips one byte at off, opens, and checks that records before the damaged
 * one (index bad) are kept, the file is cut there, and a copy of the whole
 * damaged file is kept. */
static void expect_corruption_caught(size_t off, int bad, const uint64_t *sizes,
				     const char *why)
{
	struct journal_replay_info info;
	struct got g = { 0 };
	struct journal *j;
	uint8_t *whole, *copy;
	size_t n, cn;

	whole = slurp(jpath, &n);
	whole[off] ^= 0x5A;
	spit(jpath, whole, n);
	j = open_ok(&g, &info);
	expect_records(&g, 0, (size_t)bad);
	cr_expect_eq(info.records, (uint64_t)bad);
	cr_expect_eq(info.bytes, sizes[bad]);
	cr_expect_eq(info.dropped_bytes, n - sizes[bad]);
	cr_expect(strstr(info.note, why), "note: %s", info.note);
	cr_expect(strstr(info.note, "journal.dob.corrupt"), "note: %s", info.note);
	cr_expect_eq(file_size(jpath), (int64_t)sizes[bad]);
	copy = slurp(cpath, &cn);
	cr_assert_eq(cn, n);
	cr_expect_eq(memcmp(copy, whole, n), 0, "the copy is the damaged file as found");
	free(copy);
	free(whole);
	journal_close(j);
	got_free(&g);
}

Test(journal, corrupted_body_byte_in_the_middle_is_caught_by_crc)
{
	uint64_t sizes[8];

	make_log(7, sizes);
	expect_corruption_caught((size_t)sizes[3] + 8 + 3, 3, sizes, "CRC mismatch");
}

Test(journal, corrupted_crc_field_is_caught)
{
	uint64_t sizes[8];

	make_log(7, sizes);
	expect_corruption_caught((size_t)sizes[2] + 5, 2, sizes, "CRC mismatch");
}

Test(journal, corrupted_length_field_in_the_middle_is_corruption_not_a_torn_tail)
{
	uint64_t sizes[8];

	make_log(7, sizes);
	/* bit flip in the length's third byte: far past the end of the file */
	expect_corruption_caught((size_t)sizes[1] + 2, 1, sizes, "damaged length");
}

Test(journal, length_out_of_range_is_corruption)
{
	uint64_t sizes[4];

	make_log(3, sizes);
	/* bit flip in the length's top byte: above the 16 MiB record limit */
	expect_corruption_caught((size_t)sizes[1] + 3, 1, sizes, "out of range");
}

Test(journal, crc_valid_but_undecodable_record_is_corruption)
{
	uint64_t sizes[3];
	uint8_t junk[8 + 3] = { 3, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF };
	struct journal_replay_info info;
	struct got g = { 0 };
	struct journal *j;
	FILE *f;

	make_log(2, sizes);
	dob_put_u32le(junk + 4, dob_crc32c(0, junk + 8, 3));
	f = fopen(jpath, "ab");
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	j = open_ok(&g, &info);
	expect_records(&g, 0, 2);
	cr_expect(strstr(info.note, "CRC matches but the record is invalid"), "%s", info.note);
	cr_expect_eq(file_size(cpath), (int64_t)(sizes[2] + sizeof(junk)));
	journal_close(j);
	got_free(&g);
}

Test(journal, apply_error_aborts_open_and_leaves_the_file_alone)
{
	uint64_t sizes[6];
	struct journal_opts o = opts();
	struct journal_replay_info info;
	struct got g = { .fail_at = 3 };
	struct journal *j = (struct journal *)1;
	uint8_t *before, *after;
	size_t nb, na;

	make_log(5, sizes);
	/* damage the tail too: the failed open must not cut it */
	before = slurp(jpath, &nb);
	before[nb - 1] ^= 1;
	spit(jpath, before, nb);
	cr_assert_eq(journal_open(&o, collect, &g, &j, &info), -DOB_EINVAL);
	cr_expect_null(j);
	cr_expect_eq(info.records, 0);
	after = slurp(jpath, &na);
	cr_expect_eq(na, nb);
	cr_expect_eq(memcmp(before, after, nb), 0);
	cr_expect_eq(file_size(cpath), -1);
	free(before);
	free(after);
	got_free(&g);
}

Test(journal, stale_compaction_tmp_is_removed_at_open)
{
	struct got g = { 0 };
	struct journal *j;

	cr_assert_eq(mkdir(dir, 0700), 0);
	spit(tpath, (const uint8_t *)"half a snapshot", 15);
	j = open_ok(&g, NULL);
	cr_expect_eq(file_size(tpath), -1);
	journal_close(j);
	got_free(&g);
}

Test(journal, bad_arguments_and_invalid_records)
{
	struct journal_opts o = opts();
	struct journal_opts empty = { .dir = "" };
	struct journal *j = NULL;
	struct got g = { 0 };
	struct dob_jrec r;

	cr_expect_eq(journal_open(NULL, collect, &g, &j, NULL), -DOB_EINVAL);
	cr_expect_eq(journal_open(&empty, collect, &g, &j, NULL), -DOB_EINVAL);
	cr_expect_eq(journal_open(&o, collect, &g, NULL, NULL), -DOB_EINVAL);
	j = open_ok(&g, NULL);
	memset(&r, 0, sizeof(r)); /* type NONE */
	cr_expect_eq(journal_append(j, &r), -DOB_EFIELD);
	cr_expect_eq(journal_append(j, NULL), -DOB_EINVAL);
	cr_expect_eq(journal_append(NULL, &r), -DOB_EINVAL);
	r.type = 99;
	cr_expect_eq(journal_append(j, &r), -DOB_EFIELD);
	cr_expect_eq(journal_size(j), 0);
	cr_expect_eq(file_size(jpath), 0);
	cr_expect_eq(journal_compact(j, NULL, NULL), -DOB_EINVAL);
	journal_close(j);
	journal_close(NULL);
	cr_expect_eq(journal_size(NULL), 0);
	got_free(&g);
}

Test(journal, sync_option_flushes_once_per_commit_covering_every_append)
{
	struct journal_opts o = opts();
	struct journal *j = NULL;
	struct got g = { 0 };

	o.sync = true;
	cr_assert_eq(journal_open(&o, collect, &g, &j, NULL), 0);
	append_n(j, 0, 3);
	cr_expect_eq(fake_files_syncs(), 0, "appends are written, not yet synced");
	cr_expect(journal_commits_pending(j));
	cr_assert_eq(journal_commit(j), 0);
	cr_expect_eq(fake_files_syncs(), 1, "one fsync for the whole turn (group commit)");
	cr_expect_not(journal_commits_pending(j));
	cr_assert_eq(journal_commit(j), 0);
	cr_expect_eq(fake_files_syncs(), 1, "nothing new: no fsync");
	append_n(j, 3, 1);
	cr_assert_eq(journal_commit(j), 0);
	cr_expect_eq(fake_files_syncs(), 2);
	journal_close(j);
	o.sync = false;
	fake_files_reset();
	cr_assert_eq(journal_open(&o, collect, &g, &j, NULL), 0);
	append_n(j, 4, 2);
	cr_assert_eq(journal_commit(j), 0);
	cr_expect_eq(fake_files_syncs(), 0);
	journal_close(j);
	got_free(&g);
}

/* ------------------------------------------------------------ compaction */

struct live {
	int first, n;        /* emit records first..first+n-1 */
	int fail_after;      /* return -DOB_EIO after emitting this many (-1 never) */
	int emitted;
	int last_rc;
	bool try_append;     /* call journal_append from inside: must be refused */
	int64_t space;       /* > 0: the disk fills after this many bytes of snapshot */
	struct dob_jrec *pre; /* records built beforehand (allocation sweeps), or NULL */
};

static int snapshot(void *ctx, struct journal *j, journal_emit_fn emit)
{
	struct live *l = ctx;

	if (l->space > 0)
		fake_files_set_space(l->space);
	if (l->try_append) {
		struct dob_jrec r;

		mk(&r, 0);
		cr_expect_eq(journal_append(j, &r), -DOB_ESTATE);
		dob_jrec_clear(&r);
	}
	for (int i = l->first; i < l->first + l->n; i++) {
		struct dob_jrec r;
		int rc;

		if (l->fail_after >= 0 && l->emitted == l->fail_after)
			return -DOB_EIO;
		if (l->pre) {
			rc = emit(j, &l->pre[i - l->first]);
		} else {
			mk(&r, i);
			rc = emit(j, &r);
			dob_jrec_clear(&r);
		}
		l->last_rc = rc;
		if (rc < 0)
			return rc;
		l->emitted++;
	}
	return 0;
}

Test(journal, compaction_keeps_live_state_and_shrinks_the_file)
{
	struct journal_opts o = opts();
	struct live l = { .first = 100, .n = 5, .fail_after = -1, .try_append = true };
	struct journal *j = NULL;
	struct got g = { 0 };
	uint64_t before;

	o.compact_bytes = 2000;
	cr_assert_eq(journal_open(&o, collect, &g, &j, NULL), 0);
	cr_expect_not(journal_wants_compaction(j));
	append_n(j, 0, 60);
	before = journal_size(j);
	cr_assert_gt(before, 2000);
	cr_expect(journal_wants_compaction(j));
	cr_assert_eq(journal_compact(j, snapshot, &l), 0);
	cr_expect_eq(l.emitted, 5);
	cr_expect_lt(journal_size(j), before);
	cr_expect_eq(journal_size(j), (uint64_t)file_size(jpath));
	cr_expect_eq(file_size(tpath), -1);
	cr_expect_not(journal_wants_compaction(j));
	append_n(j, 105, 3); /* appends go to the new file */
	journal_close(j);
	got_free(&g);

	j = open_ok(&g, NULL);
	expect_records(&g, 100, 8);
	journal_close(j);
	got_free(&g);
}

Test(journal, wants_compaction_only_when_grown_past_twice_the_last_snapshot)
{
	struct journal_opts o = opts();
	struct live l = { .first = 0, .n = 40, .fail_after = -1 };
	struct journal *j = NULL;
	struct got g = { 0 };
	uint64_t snap;

	o.compact_bytes = 1000;
	cr_assert_eq(journal_open(&o, collect, &g, &j, NULL), 0);
	append_n(j, 0, 40);
	cr_assert(journal_wants_compaction(j));
	cr_assert_eq(journal_compact(j, snapshot, &l), 0);
	snap = journal_size(j);
	cr_assert_gt(snap, 1000, "live state larger than the threshold");
	cr_expect_not(journal_wants_compaction(j), "a fresh snapshot does not want compaction");
	while (journal_size(j) < 2 * snap) {
		cr_expect_not(journal_wants_compaction(j));
		append_n(j, 3, 1);
	}
	cr_expect(journal_wants_compaction(j));
	journal_close(j);
	got_free(&g);
}

static void expect_compaction_failure_keeps_old_log(int rc_want, struct live *l)
{
	struct got g = { 0 };
	struct journal *j = open_ok(&g, NULL);
	uint8_t *before, *after;
	size_t nb, na;
	int rc;

	append_n(j, 0, 10);
	before = slurp(jpath, &nb);
	rc = journal_compact(j, snapshot, l);
	cr_expect_eq(rc, rc_want, "compact: %s", dob_strerror(rc));
	cr_expect_eq(file_size(tpath), -1, "the temporary file is removed");
	after = slurp(jpath, &na);
	cr_assert_eq(na, nb);
	cr_expect_eq(memcmp(before, after, nb), 0, "the old journal is intact");
	cr_expect_eq(journal_size(j), nb);
	fake_files_reset();
	append_n(j, 10, 1); /* and still in use */
	journal_close(j);
	got_free(&g);
	j = open_ok(&g, NULL);
	expect_records(&g, 0, 11);
	journal_close(j);
	got_free(&g);
	free(before);
	free(after);
}

Test(journal, failed_snapshot_keeps_the_old_journal)
{
	struct live l = { .first = 0, .n = 5, .fail_after = 2 };

	expect_compaction_failure_keeps_old_log(-DOB_EIO, &l);
}

Test(journal, failed_rename_keeps_the_old_journal)
{
	struct live l = { .first = 0, .n = 5, .fail_after = -1 };

	fake_files_fail_replace(-DOB_EACCES);
	expect_compaction_failure_keeps_old_log(-DOB_EACCES, &l);
}

Test(journal, full_disk_during_snapshot_keeps_the_old_journal)
{
	struct live l = { .first = 0, .n = 5, .fail_after = -1, .space = 50 };

	expect_compaction_failure_keeps_old_log(-DOB_ENOSPC, &l);
	cr_expect_eq(l.last_rc, -DOB_ENOSPC);
}

Test(journal, unopenable_tmp_fails_compaction_and_keeps_the_journal)
{
	struct live l = { .first = 0, .n = 3, .fail_after = -1 };

	fake_files_fail_open(-DOB_EACCES, 1); /* the journal opens, the tmp file does not */
	expect_compaction_failure_keeps_old_log(-DOB_EACCES, &l);
	cr_expect_eq(l.emitted, 0);
}

Test(journal, reopen_failure_after_compaction_is_retried_by_append)
{
	struct live l = { .first = 0, .n = 3, .fail_after = -1 };
	struct got g = { 0 };
	struct journal *j = open_ok(&g, NULL);
	struct dob_jrec r;

	append_n(j, 0, 10);
	/* open 1: the tmp file; open 2: the journal after the rename */
	fake_files_fail_open(-DOB_EIO, 1);
	cr_expect_eq(journal_compact(j, snapshot, &l), 0, "the rename happened: compaction is done");
	/* the next append reopens; when that fails too, the append fails */
	fake_files_fail_open(-DOB_EIO, 0);
	mk(&r, 3);
	cr_expect_eq(journal_append(j, &r), -DOB_EIO);
	cr_expect_eq(journal_append(j, &r), 0);
	dob_jrec_clear(&r);
	journal_close(j);
	got_free(&g);
	j = open_ok(&g, NULL);
	expect_records(&g, 0, 4);
	journal_close(j);
	got_free(&g);
}

/* ------------------------------------------------------------ disk full */

Test(journal, disk_full_at_every_byte_of_an_append_leaves_a_replayable_log)
{
	uint64_t sizes[5];
	uint64_t rec_len;

	make_log(4, sizes);
	{
		/* length of record 4 */
		struct dob_jrec r;
		uint8_t *b;
		size_t n;

		mk(&r, 4);
		cr_assert_eq(dob_jrec_encode(&r, &b, &n, NULL), 0);
		dob_jrec_clear(&r);
		dob_free(b);
		rec_len = n + 8;
	}
	for (uint64_t space = 0; space < rec_len; space++) {
		struct journal_replay_info info;
		struct got g = { 0 };
		struct journal *j = open_ok(&g, NULL);
		struct dob_jrec r;

		got_free(&g);
		fake_files_set_space((int64_t)space);
		mk(&r, 4);
		cr_assert_eq(journal_append(j, &r), -DOB_ENOSPC, "space %llu", (unsigned long long)space);
		cr_assert_eq(journal_size(j), sizes[4]);
		cr_assert_eq(file_size(jpath), (int64_t)sizes[4], "partial record cut off");
		cr_assert_eq(journal_appends(j), 0);
		/* space comes back: the same append works */
		fake_files_set_space(-1);
		cr_assert_eq(journal_append(j, &r), 0);
		dob_jrec_clear(&r);
		journal_close(j);
		j = open_ok(&g, &info);
		expect_records(&g, 0, 5);
		cr_assert_eq(info.dropped_bytes, 0);
		journal_close(j);
		got_free(&g);
		/* back to four records for the next round */
		cr_assert_eq(truncate(jpath, (off_t)sizes[4]), 0);
	}
}

Test(journal, disk_full_and_failed_cut_is_repaired_before_the_next_append)
{
	uint64_t sizes[4];
	struct journal_replay_info info;
	struct got g = { 0 };
	struct journal *j;
	struct dob_jrec r;

	make_log(3, sizes);
	j = open_ok(&g, NULL);
	got_free(&g);
	fake_files_set_space(10);
	fake_files_fail_truncate(-DOB_EIO);
	mk(&r, 3);
	cr_expect_eq(journal_append(j, &r), -DOB_ENOSPC);
	cr_expect_eq(file_size(jpath), (int64_t)sizes[3] + 10, "the cut failed: 10 torn bytes");
	/* space is back but the cut still fails: the append is refused */
	fake_files_set_space(-1);
	cr_expect_eq(journal_append(j, &r), -DOB_EIO);
	cr_expect_eq(file_size(jpath), (int64_t)sizes[3] + 10);
	/* the cut works again: the torn bytes go before the record is written */
	fake_files_fail_truncate(0);
	cr_expect_eq(journal_append(j, &r), 0);
	dob_jrec_clear(&r);
	journal_close(j);
	j = open_ok(&g, &info);
	expect_records(&g, 0, 4);
	cr_expect_eq(info.dropped_bytes, 0);
	journal_close(j);
	got_free(&g);
}

Test(journal, disk_full_during_open_corrupt_copy_fails_the_open_untouched)
{
	uint64_t sizes[4];
	struct journal_opts o = opts();
	struct got g = { 0 };
	struct journal *j = NULL;
	uint8_t *whole, *after;
	size_t n, na;

	make_log(3, sizes);
	whole = slurp(jpath, &n);
	whole[sizes[1] + 9] ^= 1;
	spit(jpath, whole, n);
	fake_files_set_space(5);
	cr_expect_eq(journal_open(&o, collect, &g, &j, NULL), -DOB_ENOSPC);
	cr_expect_null(j);
	after = slurp(jpath, &na);
	cr_expect_eq(na, n, "not cut without its copy");
	cr_expect_eq(file_size(cpath), -1, "no partial copy left behind");
	free(whole);
	free(after);
	got_free(&g);
}

/* ------------------------------------------------------------ allocation */

Test(journal, allocation_failure_sweep_over_open_and_replay)
{
	uint64_t sizes[8];
	struct journal_opts o = opts();
	uint8_t *whole;
	size_t n;
	uint64_t k;

	make_log(7, sizes);
	/* a corrupt record in the middle so the copy path is swept too */
	whole = slurp(jpath, &n);
	whole[sizes[5] + 10] ^= 1;
	for (k = 1; k < 10000; k++) {
		struct journal_replay_info info;
		struct got g = { .count_only = true };
		struct journal *j = NULL;
		int64_t live0;
		int rc;

		spit(jpath, whole, n);
		unlink(cpath);
		live0 = dob_alloc_live();
		dob_alloc_fail_at(k);
		rc = journal_open(&o, collect, &g, &j, &info);
		dob_alloc_fail_at(0);
		got_free(&g);
		if (rc == 0) {
			cr_expect_eq(info.records, 5);
			cr_expect_eq(file_size(jpath), (int64_t)sizes[5]);
			journal_close(j);
			cr_assert_eq(dob_alloc_live(), live0);
			break;
		}
		cr_assert_eq(rc, -DOB_ENOMEM, "k=%llu: %s", (unsigned long long)k, dob_strerror(rc));
		cr_assert_null(j);
		cr_assert_eq(dob_alloc_live(), live0, "leak when allocation %llu fails",
			     (unsigned long long)k);
		cr_assert_eq(file_size(jpath), (int64_t)n, "k=%llu: file cut by a failed open",
			     (unsigned long long)k);
	}
	cr_assert_gt(k, 20, "open allocates (decoder, buffers)");
	cr_assert_lt(k, 10000);
	free(whole);
}

Test(journal, allocation_failure_sweep_over_append)
{
	uint64_t k;
	int appended = 0;

	for (k = 1; k < 10000; k++) {
		struct got g = { 0 };
		struct journal *j = open_ok(&g, NULL);
		uint64_t size0 = journal_size(j);
		struct dob_jrec r;
		int64_t live0;
		int rc;

		got_free(&g);
		mk(&r, 1); /* the episode: the biggest record */
		live0 = dob_alloc_live();
		dob_alloc_fail_at(k);
		rc = journal_append(j, &r);
		dob_alloc_fail_at(0);
		cr_assert_eq(dob_alloc_live(), live0, "leak when allocation %llu fails",
			     (unsigned long long)k);
		dob_jrec_clear(&r);
		if (rc == 0) {
			appended = 1;
			journal_close(j);
			break;
		}
		cr_assert_eq(rc, -DOB_ENOMEM, "k=%llu: %s", (unsigned long long)k, dob_strerror(rc));
		cr_assert_eq(journal_size(j), size0);
		cr_assert_eq(file_size(jpath), (int64_t)size0);
		journal_close(j);
	}
	cr_assert(appended);
	cr_assert_gt(k, 1);
	{
		struct got g = { 0 };
		struct journal *j = open_ok(&g, NULL);

		expect_records(&g, 1, 1);
		journal_close(j);
		got_free(&g);
	}
}

Test(journal, allocation_failure_sweep_over_compaction)
{
	struct dob_jrec pre[4];
	uint64_t k;

	{
		struct got g = { 0 };
		struct journal *j = open_ok(&g, NULL);

		append_n(j, 0, 10);
		journal_close(j);
		got_free(&g);
	}
	for (int i = 0; i < 4; i++)
		mk(&pre[i], i);
	for (k = 1; k < 10000; k++) {
		struct live l = { .first = 0, .n = 4, .fail_after = -1, .pre = pre };
		struct got g = { 0 };
		int64_t live0 = dob_alloc_live();
		struct journal *j = open_ok(&g, NULL);
		int rc;

		got_free(&g);
		dob_alloc_fail_at(k);
		rc = journal_compact(j, snapshot, &l);
		dob_alloc_fail_at(0);
		journal_close(j);
		cr_assert_eq(dob_alloc_live(), live0, "leak when allocation %llu fails",
			     (unsigned long long)k);
		j = open_ok(&g, NULL);
		if (rc == 0) {
			expect_records(&g, 0, 4);
			journal_close(j);
			got_free(&g);
			break;
		}
		cr_assert_eq(rc, -DOB_ENOMEM, "k=%llu: %s", (unsigned long long)k, dob_strerror(rc));
		expect_records(&g, 0, 10);
		cr_assert_eq(file_size(tpath), -1);
		journal_close(j);
		got_free(&g);
	}
	cr_assert_gt(k, 1);
	for (int i = 0; i < 4; i++)
		dob_jrec_clear(&pre[i]);
}
