/*
 * gen_seeds.c - writes the seed corpora of fuzz_journal, fuzz_scenario and
 * fuzz_broker:
 *   journal:  journal files (one record of every type, all of them, torn
 *             tails, a bad CRC, a damaged length, a zero-filled tail, a
 *             CRC-valid record that is not a JournalRecord, empty);
 *   scenario: every example of docs/sim-scenarios.md, one statement of each
 *             kind, and mistakes the parser must refuse;
 *   broker:   sessions in fuzz_broker's format (support/broker_input.h): each
 *             identity and role acting, submitting, adopting; timeouts, held
 *             and late results, policies at deadlines, a stalled reader, rate
 *             and connection limits, the sim, a restart, a full disk; and
 *             every sample message sent by a privileged controller.
 *   usage: gen_seeds JOURNAL_DIR SCENARIO_DIR DOCS_MD BROKER_DIR  (make fuzz-corpus)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "samples.h"
#include "support/broker_input.h"

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

/* ------------------------------------------------------------ broker */

static uint64_t corr = 1; /* correlation ids, from 1 in each seed */

static void op(struct buf *x, int code, int param)
{
	uint8_t b = (uint8_t)(code | param << 4);

	add(x, &b, 1);
}

static void op_arg(struct buf *x, int code, int param, uint8_t arg)
{
	op(x, code, param);
	add(x, &arg, 1);
}

static void hdr(struct buf *x, uint8_t who, uint8_t limits, uint8_t times, uint8_t state)
{
	uint8_t h[FB_HDR_LEN] = { who, limits, times, state };

	x->n = 0;
	corr = 1;
	add(x, h, sizeof h);
}

/* Bytes to the connection: one DATA_LONG, or DATA pieces of `piece` bytes. */
static void data(struct buf *x, const uint8_t *p, size_t n, size_t piece)
{
	if (!piece) {
		uint8_t len[2] = { (uint8_t)n, (uint8_t)(n >> 8) };

		op(x, FB_OP_DATA_LONG, 0);
		add(x, len, 2);
		add(x, p, n);
		return;
	}
	for (size_t off = 0; off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;

		op_arg(x, FB_OP_DATA, 0, (uint8_t)k);
		add(x, p + off, k);
	}
}

static void msg(struct buf *x, const struct dob_msg *m, size_t piece)
{
	uint8_t *f;
	size_t len;

	if (dob_encode(m, DOB_MAX_FRAME_CEILING, &f, &len, NULL) < 0) {
		fprintf(stderr, "gen_seeds: a seed message does not encode\n");
		exit(1);
	}
	data(x, f, len, piece);
	dob_free(f);
}

static struct dob_guid guid(unsigned n)
{
	struct dob_guid g;

	memset(&g, 0, sizeof g);
	g.b[0] = FB_GUID_TAG;
	g.b[15] = (uint8_t)n;
	return g;
}

static void hello(struct buf *x, enum dob_role role, size_t piece)
{
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_HELLO;
	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = "seed";
	m.u.hello.role = role;
	msg(x, &m, piece);
}

static void act(struct buf *x, unsigned job, uint64_t episode, enum dob_action a)
{
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_ACT;
	m.correlation_id = corr++;
	m.u.act.job_id = guid(job);
	m.u.act.episode_id = episode;
	m.u.act.action = a;
	m.u.act.delay_ms = a == DOB_ACTION_RESUME_AFTER_DELAY ? 1000 : 0;
	msg(x, &m, 0);
}

static void submit(struct buf *x, const char *name, const char *url, const char *path,
		   enum dob_job_type type)
{
	struct dob_file_spec f = { (char *)url, (char *)path };
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_SUBMIT_JOB;
	m.correlation_id = corr++;
	m.u.submit_job.display_name = (char *)name;
	m.u.submit_job.n_files = 1;
	m.u.submit_job.files = &f;
	m.u.submit_job.priority = DOB_PRIORITY_NORMAL;
	m.u.submit_job.type = type;
	msg(x, &m, 0);
}

static void adopt(struct buf *x, unsigned job)
{
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_ADOPT_JOB;
	m.correlation_id = corr++;
	m.u.adopt_job.job_id = guid(job);
	msg(x, &m, 0);
}

static void request(struct buf *x, enum dob_msg_type t)
{
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = t;
	m.correlation_id = corr++;
	if (t == DOB_MSG_PING)
		m.u.ping.nonce = 42;
	msg(x, &m, 0);
}

/* A backend callback on job index i (0-2 preloaded, 3.. submitted). */
static void event(struct buf *x, unsigned i, int kind, int param)
{
	op_arg(x, FB_OP_EVENT, param, (uint8_t)(i | kind << 4));
}

#define WHO_HC(id) (FB_WHO_HELLO | FB_WHO_CONTROLLER | (id))
#define LIM_DEFAULT 0x0A   /* max-frame 65536, queues 1024/8192 */
#define TIMES(sweep, act, hs, dl) ((sweep) | (act) << 2 | (hs) << 4 | (dl) << 6)
#define ALL_JOBS (FB_STATE_JOBS | FB_STATE_EP_0_2 | FB_STATE_EP_1)

static void broker_seeds(const char *dir)
{
	struct buf x = { 0 };
	char name[64];

	/* a privileged controller decides the preloaded episodes */
	hdr(&x, WHO_HC(FB_ID_PRIVILEGED) | FB_WHO_STILL_ERROR, LIM_DEFAULT, TIMES(1, 1, 2, 2),
	    ALL_JOBS);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	act(&x, FB_JOB1, 2, DOB_ACTION_RESUME);
	act(&x, FB_JOB2, 3, DOB_ACTION_COMPLETE);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	act(&x, FB_JOB0, FB_PAST_EPISODE, DOB_ACTION_RESUME);
	op(&x, FB_OP_CLOCK, 9);
	request(&x, DOB_MSG_LIST_JOBS);
	request(&x, DOB_MSG_GET_STATS);
	request(&x, DOB_MSG_PING);
	put(dir, "privileged-decides", x.b, x.n);

	/* a user submits; the job fails; the user resumes it later */
	hdr(&x, WHO_HC(FB_ID_USER) | FB_WHO_STILL_ERROR | FB_WHO_RESTART, LIM_DEFAULT,
	    TIMES(1, 2, 2, 3), FB_STATE_JOBS | FB_STATE_EP_0_2);
	submit(&x, "mine", "https://h/a.zip", "/tmp/a.zip", DOB_JOB_DOWNLOAD);
	op(&x, FB_OP_PUMP, 0);
	event(&x, 3, 0, 1);
	act(&x, 4, FB_NEXT_EPISODE, DOB_ACTION_RESUME_AFTER_DELAY);
	op(&x, FB_OP_CLOCK, 10);
	event(&x, 3, 2, 0);
	event(&x, 3, 0, 11);
	act(&x, 4, FB_NEXT_EPISODE + 1, DOB_ACTION_CANCEL);
	act(&x, FB_JOB0, 1, DOB_ACTION_SUSPEND);
	op(&x, FB_OP_CLOCK, 12);
	put(dir, "user-submits-and-resumes", x.b, x.n);

	/* a sandboxed client: refused path, its own job, others' jobs */
	hdr(&x, WHO_HC(FB_ID_SANDBOXED) | FB_WHO_STILL_ERROR, LIM_DEFAULT, TIMES(1, 1, 2, 0),
	    ALL_JOBS);
	submit(&x, "box", "https://h/b", "/denied/b", DOB_JOB_DOWNLOAD);
	submit(&x, "box", "https://h/b", "/missing/b", DOB_JOB_DOWNLOAD);
	submit(&x, "box", "https://h/b", "/tmp/b", DOB_JOB_UPLOAD);
	adopt(&x, FB_JOB0);
	act(&x, FB_JOB2, 3, DOB_ACTION_COMPLETE);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	request(&x, DOB_MSG_LIST_JOBS);
	event(&x, 3, 0, 2);
	act(&x, 4, FB_NEXT_EPISODE, DOB_ACTION_COMPLETE);
	put(dir, "sandboxed", x.b, x.n);

	/* an observer of another user, and a second (controller) connection */
	hdr(&x, FB_WHO_HELLO | FB_ID_OTHER, LIM_DEFAULT, TIMES(2, 1, 2, 0),
	    ALL_JOBS | FB_STATE_SECOND);
	act(&x, FB_JOB1, 2, DOB_ACTION_CANCEL);
	adopt(&x, FB_JOB1);
	op(&x, FB_OP_SWITCH, 1);
	adopt(&x, FB_JOB0);
	act(&x, FB_JOB1, 2, DOB_ACTION_CANCEL);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	op(&x, FB_OP_SWITCH, 0);
	request(&x, DOB_MSG_GET_STATS);
	put(dir, "observer-and-second", x.b, x.n);

	/* the client says Hello itself, byte by byte, then breaks the rules */
	hdr(&x, FB_ID_PRIVILEGED, LIM_DEFAULT, TIMES(1, 1, 2, 0), ALL_JOBS);
	hello(&x, DOB_ROLE_CONTROLLER, 1);
	request(&x, DOB_MSG_PING);
	hello(&x, DOB_ROLE_CONTROLLER, 3);
	put(dir, "hello-bytewise-twice", x.b, x.n);
	hdr(&x, FB_ID_USER, 0x00, TIMES(1, 1, 0, 0), 0);
	data(&x, (const uint8_t *)"\x00\x00\x00\x00", 4, 0);
	put(dir, "zero-length-frame", x.b, x.n);
	hdr(&x, FB_ID_USER, 0x00, TIMES(1, 1, 0, 0), 0);
	data(&x, (const uint8_t *)"\xff\xff\xff\x7f", 4, 0);
	put(dir, "huge-length", x.b, x.n);
	hdr(&x, FB_ID_USER, LIM_DEFAULT, TIMES(1, 1, 0, 0), FB_STATE_JOBS);
	op(&x, FB_OP_CLOCK, 7);
	put(dir, "handshake-timeout", x.b, x.n);

	/* acts held past their timeout, then delivered late */
	hdr(&x, WHO_HC(FB_ID_PRIVILEGED) | FB_WHO_HOLD_ACTS | FB_WHO_STILL_ERROR, LIM_DEFAULT,
	    TIMES(3, 0, 2, 0), ALL_JOBS);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	act(&x, FB_JOB1, 2, DOB_ACTION_RESUME);
	op(&x, FB_OP_CLOCK, 6);
	op(&x, FB_OP_RELEASE, 1);
	op(&x, FB_OP_HOLD, 3);
	act(&x, FB_JOB0, 1, DOB_ACTION_RESUME);
	op(&x, FB_OP_CLOCK, 2);
	op(&x, FB_OP_RELEASE, 0);
	op(&x, FB_OP_HOLD, 0);
	op(&x, FB_OP_CLOCK, 9);
	put(dir, "held-and-late", x.b, x.n);

	/* policies at the deadline, errors again, lost callbacks */
	for (int kind = 1; kind < 4; kind++) {
		hdr(&x, WHO_HC(FB_ID_USER) | FB_WHO_STILL_ERROR | FB_WHO_RESTART, LIM_DEFAULT,
		    TIMES(0, 1, 2, 1), (uint8_t)(ALL_JOBS | kind | (kind == 1 ? 4 : 0)));
		op(&x, FB_OP_CLOCK, 7);
		op(&x, FB_OP_CLOCK, 9);
		event(&x, 0, 0, 4);
		op(&x, FB_OP_CLOCK, 9);
		event(&x, 1, 3, 0);
		op(&x, FB_OP_CLOCK, 9);
		op_arg(&x, FB_OP_SET_STATE, 6, 2);
		op(&x, FB_OP_CLOCK, 9);
		snprintf(name, sizeof name, "policy-%d", kind);
		put(dir, name, x.b, x.n);
	}

	/* a client that stops reading while events pour in */
	hdr(&x, WHO_HC(FB_ID_PRIVILEGED) | FB_WHO_STILL_ERROR, 0x02, TIMES(1, 1, 1, 0),
	    ALL_JOBS);
	op(&x, FB_OP_STALL, 1);
	for (unsigned i = 0; i < 12; i++)
		event(&x, i % 3, 1 + i % 2, (int)i % 8);
	event(&x, 0, 0, 3);
	op(&x, FB_OP_CLOCK, 9);
	op(&x, FB_OP_STALL, 0);
	op(&x, FB_OP_RECONNECT, 4);
	request(&x, DOB_MSG_PING);
	put(dir, "stalled-reader", x.b, x.n);

	/* the sim plays the jobs */
	hdr(&x, WHO_HC(FB_ID_USER) | FB_WHO_STILL_ERROR, LIM_DEFAULT, TIMES(1, 1, 2, 2),
	    FB_STATE_SIM | FB_STATE_JOBS | FB_STATE_EP_0_2);
	submit(&x, "sim", "https://h/a", "/tmp/a", DOB_JOB_DOWNLOAD);
	submit(&x, "sim", "https://h/ok1", "/tmp/ok", DOB_JOB_DOWNLOAD);
	op(&x, FB_OP_CLOCK, 9);
	act(&x, 4, FB_NEXT_EPISODE, DOB_ACTION_RESUME);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	op(&x, FB_OP_CLOCK, 9);
	op(&x, FB_OP_CLOCK, 12);
	request(&x, DOB_MSG_LIST_JOBS);
	put(dir, "sim", x.b, x.n);

	/* compaction on every few appends, then a restart on the journal */
	hdr(&x, WHO_HC(FB_ID_PRIVILEGED) | FB_WHO_STILL_ERROR | FB_WHO_COMPACT | FB_WHO_RESTART,
	    LIM_DEFAULT, TIMES(1, 1, 2, 0), ALL_JOBS);
	for (unsigned i = 0; i < 6; i++)
		event(&x, i % 3, 0, (int)i);
	act(&x, FB_JOB1, 2, DOB_ACTION_CANCEL);
	submit(&x, "c", "https://h/c", "/tmp/c", DOB_JOB_DOWNLOAD);
	op(&x, FB_OP_CLOCK, 9);
	event(&x, 3, 0, 1);
	put(dir, "compact-restart", x.b, x.n);

	/* limits: rate, one request in flight, one job, one connection */
	hdr(&x, WHO_HC(FB_ID_USER), 0xF2, TIMES(1, 1, 2, 0), FB_STATE_JOBS);
	for (int i = 0; i < 6; i++)
		request(&x, DOB_MSG_PING);
	op(&x, FB_OP_RECONNECT, 4 | FB_ID_USER);
	op(&x, FB_OP_CLOCK, 9);
	op(&x, FB_OP_HOLD, 2);
	submit(&x, "l1", "https://h/l1", "/tmp/l1", DOB_JOB_DOWNLOAD);
	submit(&x, "l2", "https://h/l2", "/tmp/l2", DOB_JOB_DOWNLOAD);
	op(&x, FB_OP_RELEASE, 0);
	op(&x, FB_OP_CLOCK, 9);
	submit(&x, "l3", "https://h/l3", "/tmp/l3", DOB_JOB_DOWNLOAD);
	put(dir, "limits", x.b, x.n);

	/* the backend fails acts, forgets a job */
	hdr(&x, WHO_HC(FB_ID_PRIVILEGED) | FB_WHO_STILL_ERROR, LIM_DEFAULT, TIMES(1, 1, 2, 0),
	    ALL_JOBS);
	op(&x, FB_OP_ACT_HR, 4);
	act(&x, FB_JOB0, 1, DOB_ACTION_CANCEL);
	op(&x, FB_OP_ACT_HR, 0);
	op_arg(&x, FB_OP_GONE, 0, 1);
	act(&x, FB_JOB1, 2, DOB_ACTION_RESUME);
	op(&x, FB_OP_CLOCK, 9);
	act(&x, FB_JOB0, 1, DOB_ACTION_COMPLETE);
	put(dir, "backend-fails", x.b, x.n);

	/* the journal's disk fills up, then has room again; a restart */
	hdr(&x, WHO_HC(FB_ID_PRIVILEGED) | FB_WHO_STILL_ERROR | FB_WHO_RESTART, LIM_DEFAULT,
	    TIMES(1, 1, 2, 2), ALL_JOBS);
	op(&x, FB_OP_DISK, 3);
	event(&x, 0, 0, 1);
	submit(&x, "full", "https://h/full", "/tmp/full", DOB_JOB_DOWNLOAD);
	op(&x, FB_OP_DISK, 1);
	act(&x, FB_JOB1, 2, DOB_ACTION_CANCEL);
	submit(&x, "full", "https://h/full2", "/tmp/full2", DOB_JOB_DOWNLOAD);
	event(&x, 3, 0, 2);
	op(&x, FB_OP_CLOCK, 12);
	op(&x, FB_OP_DISK, 0);
	op(&x, FB_OP_CLOCK, 9);
	act(&x, FB_JOB1, 2, DOB_ACTION_CANCEL);
	put(dir, "disk-full", x.b, x.n);

	/* Found by fuzzing (the target's own check was too strict): with the
	 * disk nearly full, a policy decides an episode within one clock step and
	 * its decision is not journaled; after the restart the episode is back
	 * although no check had seen it pending. */
	{
		static const uint8_t found[] = { 0x63, 0x6f, 0x63, 0x6f, 0xdd, 0x6e, 0x74, 0x72, 0x9a,
						 0x92, 0x9a, 0x92, 0x1b, 0x20, 0x00, 0x00, 0x02, 0x92 };

		put(dir, "regress-decided-while-disk-full", found, sizeof found);
	}

	/* Found by fuzzing (the target kept at most 512 episode ids): a backend
	 * whose acts succeed without changing the job makes the resume policy
	 * cancel, the sweep find the job in error again, and a new episode
	 * every few hundred ms: more than 512 in two simulated minutes. */
	hdr(&x, WHO_HC(FB_ID_USER) | FB_WHO_STILL_ERROR | FB_WHO_RESTART, LIM_DEFAULT,
	    TIMES(0, 1, 2, 1), ALL_JOBS | 1 | 4);
	op(&x, FB_OP_ACT_HR, 7);
	for (int i = 0; i < 4; i++)
		op(&x, FB_OP_CLOCK, 14);
	put(dir, "regress-more-than-512-episodes", x.b, x.n);

	/* a frame over a small max-frame */
	hdr(&x, WHO_HC(FB_ID_USER), 0x08, TIMES(1, 1, 2, 0), 0);
	{
		char longpath[2000];

		memcpy(longpath, "/tmp/", 5);
		memset(longpath + 5, 'p', sizeof longpath - 6);
		longpath[sizeof longpath - 1] = '\0';
		submit(&x, "big", "https://h/big", longpath, DOB_JOB_DOWNLOAD);
	}
	put(dir, "frame-too-large", x.b, x.n);

	/* every sample message, from a privileged controller */
	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg m;

		hdr(&x, WHO_HC(FB_ID_PRIVILEGED), LIM_DEFAULT, TIMES(1, 1, 2, 0), ALL_JOBS);
		sample_msg(sample_types[i], &m);
		msg(&x, &m, 0);
		dob_msg_clear(&m);
		request(&x, DOB_MSG_PING);
		snprintf(name, sizeof name, "sample-%s", dob_msg_type_name(sample_types[i]));
		put(dir, name, x.b, x.n);
	}
	free(x.b);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: gen_seeds JOURNAL_DIR SCENARIO_DIR DOCS_MD BROKER_DIR\n");
		return 2;
	}
	journal_seeds(argv[1]);
	doc_seeds(argv[2], argv[3]);
	for (size_t i = 0; i < sizeof snippets / sizeof snippets[0]; i++)
		put(argv[2], snippets[i][0], snippets[i][1], strlen(snippets[i][1]));
	broker_seeds(argv[4]);
	return 0;
}
