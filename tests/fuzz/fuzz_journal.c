/*
 * tests/fuzz/fuzz_journal.c - journal replay (broker/core/journal.c) over
 * arbitrary bytes, on the in-memory files of tests/fuzz/support/mem_files.c.
 *
 * Beyond "no crash, no leak", it checks what the journal promises: the kept
 * bytes and the dropped bytes add up to the file; the file is cut to the
 * kept bytes; a .corrupt copy, when made, is the file as found; the log then
 * takes an append that a second open replays with nothing dropped; and a
 * compaction leaves exactly the snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/codec.h"
#include "dob/err.h"
#include "journal.h"
#include "support/check.h"
#include "support/mem_files.h"

#define DIR "/fuzz"
#define PATH DIR "/journal.dob"

static int count(void *ctx, struct dob_jrec *r)
{
	/* whatever replay hands out passed validation: it must encode again */
	CHECK(dob_jrec_validate(r, NULL) == 0);
	(*(uint64_t *)ctx)++;
	return 0;
}

static int snap(void *ctx, struct journal *j, journal_emit_fn emit)
{
	struct dob_jrec r = { .type = DOB_JREC_COUNTERS };

	r.u.counters.next_episode_id = 7;
	return emit(j, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_opts o = { .dir = DIR };
	struct journal_replay_info info, info2;
	struct dob_jrec r = { .type = DOB_JREC_COUNTERS };
	struct journal *j = NULL;
	const uint8_t *p;
	uint64_t n = 0, n2 = 0;
	size_t len;
	int rc;

	mem_files_reset();
	if (mem_files_put(PATH, data, size) < 0)
		return 0;
	rc = journal_open(&o, count, &n, &j, &info);
	if (rc < 0) {
		CHECK(rc == -DOB_ENOMEM); /* nothing else can fail in memory */
		goto out;
	}
	CHECK(info.records == n);
	CHECK(info.bytes + info.dropped_bytes == size);
	CHECK(journal_size(j) == info.bytes);
	p = mem_files_get(PATH, &len);
	CHECK(p && len == info.bytes && (len == 0 || !memcmp(p, data, len)));
	CHECK((info.dropped_bytes == 0) == (info.note[0] == '\0'));
	p = mem_files_get(PATH ".corrupt", &len);
	if (p)
		CHECK(len == size && !memcmp(p, data, size) && strstr(info.note, ".corrupt"));

	/* the log goes on from its last good record */
	r.u.counters.next_episode_id = 42;
	CHECK(journal_append(j, &r) == 0);
	journal_close(j);
	j = NULL;
	CHECK(journal_open(&o, count, &n2, &j, &info2) == 0);
	CHECK(n2 == n + 1 && info2.dropped_bytes == 0);

	/* compaction leaves exactly the snapshot */
	CHECK(journal_compact(j, snap, NULL) == 0);
	journal_close(j);
	j = NULL;
	n2 = 0;
	CHECK(journal_open(&o, count, &n2, &j, &info2) == 0);
	CHECK(n2 == 1 && info2.dropped_bytes == 0);
	CHECK(mem_files_get(PATH ".tmp", &len) == NULL);
out:
	journal_close(j);
	mem_files_reset();
	return 0;
}
