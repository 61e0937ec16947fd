/*
 * gen_seeds.c - writes the seed corpora of fuzz_journal and fuzz_scenario:
 *   journal:  journal files (one record of every type, all of them, torn
 *             tails, a bad CRC, a damaged length, a zero-filled tail, a
 *             CRC-valid record that is not a JournalRecord, empty);
 *   scenario: every example of docs/sim-scenarios.md, one statement of each
 *             kind, and mistakes the parser must refuse.
 *   usage: gen_seeds JOURNAL_DIR SCENARIO_DIR DOCS_MD      (make fuzz-corpus)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "samples.h"

static void put(const char *dir, const char *name, const void *b, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || (n && fwrite(b, 1, n, f) != n) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* ------------------------------------------------------------ journal */

struct buf {
	uint8_t *b;
	size_t n, cap;
};

static void add(struct buf *x, const void *p, size_t n)
{
	if (x->n + n > x->cap) {
		x->cap = (x->n + n) * 2;
		x->b = realloc(x->b, x->cap);
		if (!x->b)
			abort();
	}
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

/* Appends one on-disk record: length, CRC-32C, body. */
static void add_record(struct buf *x, const uint8_t *body, size_t n)
{
	uint8_t hdr[8];

	dob_put_u32le(hdr, (uint32_t)n);
	dob_put_u32le(hdr + 4, dob_crc32c(0, body, n));
	add(x, hdr, 8);
	add(x, body, n);
}

static void add_sample(struct buf *x, enum dob_jrec_type t)
{
	struct dob_jrec r;
	uint8_t *body;
	size_t n;

	sample_jrec(t, &r);
	if (dob_jrec_encode(&r, &body, &n, NULL) < 0) {
		fprintf(stderr, "gen_seeds: a sample record does not encode\n");
		exit(1);
	}
	add_record(x, body, n);
	dob_free(body);
	dob_jrec_clear(&r);
}

static void journal_seeds(const char *dir)
{
	static const uint8_t junk[3] = { 0xFF, 0xFF, 0xFF };
	struct buf all = { 0 }, x;
	size_t last = 0;
	char name[64];

	put(dir, "empty", "", 0);
	for (size_t i = 0; i < sample_n_jrec_types; i++) {
		struct buf one = { 0 };

		add_sample(&one, sample_jrec_types[i]);
		snprintf(name, sizeof name, "one-type-%d", (int)sample_jrec_types[i]);
		put(dir, name, one.b, one.n);
		free(one.b);
		last = all.n;
		add_sample(&all, sample_jrec_types[i]);
	}
	put(dir, "all-types", all.b, all.n);
	put(dir, "torn-header", all.b, last + 5);
	put(dir, "torn-body", all.b, last + 8 + (all.n - last - 8) / 2);

	x = (struct buf){ 0 };
	add(&x, all.b, all.n);
	x.b[8 + 3] ^= 0x40; /* a body byte of the first record */
	put(dir, "bad-crc-first", x.b, x.n);
	x.b[8 + 3] ^= 0x40;
	x.b[last + 2] ^= 0x10; /* the last record's length runs past the end */
	put(dir, "damaged-length", x.b, x.n);
	free(x.b);

	x = (struct buf){ 0 };
	add(&x, all.b, all.n);
	add(&x, (const uint8_t[16]){ 0 }, 16);
	put(dir, "zero-tail", x.b, x.n);
	free(x.b);

	x = (struct buf){ 0 };
	add(&x, all.b, last);
	add_record(&x, junk, sizeof junk);
	add(&x, all.b + last, all.n - last);
	put(dir, "crc-ok-not-a-record", x.b, x.n);
	free(x.b);
	free(all.b);
}

/* ------------------------------------------------------------ scenario */

static const char *const snippets[][2] = {
	{ "every-directive",
	  "seed 5\nrepeat 10ms..20ms\nmodifications on\ncomplete writes=url\n"
	  "default transient hresult=0x80200010 after=5 for=5 then=error\n"
	  "rule https://* error http=404 after=5 times=1 bytes=1K size=2K\n"
	  "rule file://* ok after=1\nrule x hang\n"
	  "job {6B29FC40-CA47-1067-B31D-00DD010662DA} name=\"a b\" owner=uid:1 state=error "
	  "http=403 context=remote-file description=d context-description=c protocol=p\n"
	  "file {6B29FC40-CA47-1067-B31D-00DD010662DA} https://h/a /fuzz/x size=10 done=3\n"
	  "job {0F8FAD5B-D9CB-469F-A165-70867728950E} type=upload state=transferred\n"
	  "file {0F8FAD5B-D9CB-469F-A165-70867728950E} https://h/u /fuzz/u\n"
	  "at 3 #1 error http=500\nat 6 #1 queued\nat 9 #2 transient hresult=0x80200010 for=3\n"
	  "at 12 {0F8FAD5B-D9CB-469F-A165-70867728950E} cancelled\n"
	  "fault cancel * hang count=1\nfault act #2 http=500\nfault query * delay=5\n"
	  "fault submit #4 hresult=0x80200049\nfault any * delay=1 count=3\n" },
	{ "running-preexisting",
	  "rule * ok after=1\njob {11111111-2222-3333-4444-555555555555} state=transferring\n"
	  "file {11111111-2222-3333-4444-555555555555} file:///fuzz/src /fuzz/out\n" },
	{ "persist",
	  "persist /fuzz/kept\nrule * error http=404 after=5 times=1\n"
	  "job {11111111-2222-3333-4444-555555555555} name=\"q \\\" \\r\" state=error http=500 "
	  "attempts=2\nfile {11111111-2222-3333-4444-555555555555} https://h/a /fuzz/a\n" },
	{ "quotes-and-comments",
	  "# comment\r\nrule \"a \\\"b\\\" \\\\ \\n \\t\" ok # trailing\r\n\r\n  \t\n" },
	{ "bad-outcome", "rule * explode\n" },
	{ "bad-attribute", "rule * ok colour=red\n" },
	{ "bad-quote", "rule \"unterminated\n" },
	{ "bad-escape", "rule \"\\q\" ok\n" },
	{ "bad-duration", "rule * ok after=99999999999999h\n" },
	{ "bad-guid", "job {not-a-guid}\n" },
	{ "bad-file-first", "file {6B29FC40-CA47-1067-B31D-00DD010662DA} u p\n" },
	{ "bad-reference", "at 1s {6B29FC40-CA47-1067-B31D-00DD010662DA} error http=500\n" },
	{ "bad-repeat", "repeat 9s..1s\n" },
	{ "bad-fault", "fault cancel * hang delay=1\n" },
};

/* The ```scenario blocks of the docs, one seed each. */
static void doc_seeds(const char *dir, const char *docs)
{
	FILE *f = fopen(docs, "r");
	struct buf cur = { 0 };
	char line[4096];
	int in = 0, k = 0;

	if (!f) {
		perror(docs);
		exit(1);
	}
	while (fgets(line, sizeof line, f)) {
		if (!in && !strcmp(line, "```scenario\n")) {
			in = 1;
			cur.n = 0;
		} else if (in && !strcmp(line, "```\n")) {
			char name[32];

			snprintf(name, sizeof name, "docs-example-%d", ++k);
			put(dir, name, cur.b, cur.n);
			in = 0;
		} else if (in) {
			add(&cur, line, strlen(line));
		}
	}
	fclose(f);
	free(cur.b);
	if (k == 0) {
		fprintf(stderr, "gen_seeds: no ```scenario block in %s\n", docs);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: gen_seeds JOURNAL_DIR SCENARIO_DIR DOCS_MD\n");
		return 2;
	}
	journal_seeds(argv[1]);
	doc_seeds(argv[2], argv[3]);
	for (size_t i = 0; i < sizeof snippets / sizeof snippets[0]; i++)
		put(argv[2], snippets[i][0], snippets[i][1], strlen(snippets[i][1]));
	return 0;
}
