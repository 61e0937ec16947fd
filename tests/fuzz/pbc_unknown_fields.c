/*
 * tests/fuzz/pbc_unknown_fields.c - does protobuf-c's unpack leave
 * unknown_fields uninitialised on our decode path? (protobuf-c issue #690,
 * pull request #703, released in 1.5.1: protobuf_c_message_unpack set
 * rv->unknown_fields only when the message had unknown fields, and
 * protobuf_c_message_free_unpacked tests and frees that pointer.)
 *
 * Built standalone, everything instrumented, by tests/fuzz/pbc-sanitize.sh:
 * once with MemorySanitizer (a branch on the uninitialised pointer is a
 * report), once with AddressSanitizer (freeing it is a bad free). It
 * decodes, through dob_decode / dob_jrec_decode only, messages with unknown
 * fields of every wire type at every depth: the Envelope, its body, nested
 * messages two and four levels down, nested messages given twice (which
 * protobuf-c merges), nested messages that fail to parse after their
 * unknown fields, and journal records; each also with the k-th allocation
 * failing, for every k. Exits 0 and prints "N passed, 0 failed" when no
 * sanitizer spoke.
 *
 *   --control  frees, through protobuf-c, a message whose unknown_fields was
 *              never set (what #690 describes): the sanitizer must report it,
 *              which shows the build would see the defect if it were reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "dobroker.pb-c.h"
#include "wire.h"

/* Unknown fields of every wire type, numbers far above the schema's. */
static void unknowns(struct wire *w)
{
	struct wire inner = { 0 };

	wire_varint(w, 900, 7);
	wire_fixed64(w, 901, 0x0102030405060708ull);
	wire_str(w, 902, "unknown");
	wire_fixed32(w, 903, 0xdeadbeef);
	wire_varint(&inner, 1, 1);
	wire_msg(w, 904, &inner);
}

static struct wire filter(bool unk)
{
	struct wire f = { 0 };

	wire_str(&f, 2, "pre");
	if (unk)
		unknowns(&f);
	return f;
}

static struct wire policy(bool unk)
{
	struct wire p = { 0 };

	wire_varint(&p, 1, 2);
	wire_varint(&p, 3, 2);
	if (unk)
		unknowns(&p);
	return p;
}

static struct wire hello_with(const struct wire *f1, const struct wire *f2, bool unk)
{
	struct wire h = { 0 };

	wire_varint(&h, 1, 1);
	wire_varint(&h, 2, 1);
	wire_str(&h, 3, "app");
	wire_varint(&h, 4, 1);
	if (f1)
		wire_msg(&h, 5, f1);
	if (unk)
		unknowns(&h);
	if (f2)
		wire_msg(&h, 5, f2);
	return h;
}

enum kind { ENVELOPE, JREC };

struct input {
	const char *name;
	enum kind kind;
	struct wire w;
};

static struct input inputs[32];
static size_t n_inputs;

static void add_env(const char *name, uint64_t corr, uint32_t num, const struct wire *body,
		    bool unk)
{
	struct input *in = &inputs[n_inputs++];

	in->name = name;
	in->kind = ENVELOPE;
	wire_envelope(&in->w, corr, num, body);
	if (unk)
		unknowns(&in->w);
}

static void add_jrec(const char *name, const struct wire *w)
{
	struct input *in = &inputs[n_inputs++];

	in->name = name;
	in->kind = JREC;
	in->w = *w;
}

static void build(void)
{
	struct wire a = { 0 }, b, f1 = filter(true), f2 = filter(false), p1 = policy(true),
		    p2 = policy(false), tmp, tmp2;

	/* depth 0 and 1 */
	wire_act(&a, 16, 1);
	add_env("envelope", 1, 20, &a, true);
	unknowns(&a);
	add_env("body", 1, 20, &a, false);
	/* depth 2: Envelope > Hello > Filter */
	b = hello_with(&f1, NULL, false);
	add_env("hello.filter", 0, 2, &b, false);
	b = hello_with(&f1, NULL, true);
	add_env("hello+filter", 0, 2, &b, true);
	/* nested messages given twice are merged */
	b = hello_with(&f1, &f2, false);
	add_env("filter-twice-unknown-first", 0, 2, &b, false);
	b = hello_with(&f2, &f1, false);
	add_env("filter-twice-unknown-last", 0, 2, &b, false);
	b = hello_with(&f1, &f1, true);
	add_env("filter-twice-both", 0, 2, &b, false);
	b = hello_with(&f2, &f2, false);
	add_env("filter-twice-none", 0, 2, &b, false);
	/* the oneof body twice */
	b = hello_with(&f1, NULL, true);
	tmp = (struct wire){ 0 };
	wire_msg(&tmp, 2, &b);
	wire_msg(&tmp, 2, &b);
	inputs[n_inputs].name = "hello-body-twice";
	inputs[n_inputs].kind = ENVELOPE;
	inputs[n_inputs++].w = tmp;
	/* SubmitJob: repeated FileSpec and Policy with unknown fields, policy twice */
	tmp = (struct wire){ 0 };
	wire_str(&tmp, 1, "https://h/a");
	wire_str(&tmp, 2, "/tmp/a");
	unknowns(&tmp);
	b = (struct wire){ 0 };
	wire_str(&b, 1, "job");
	wire_msg(&b, 2, &tmp);
	wire_msg(&b, 2, &tmp);
	wire_msg(&b, 4, &p1);
	wire_msg(&b, 4, &p2);
	wire_msg(&b, 4, &p1);
	add_env("submit.files+policy", 3, 22, &b, false);
	/* AdoptJob: a policy with unknown fields */
	b = (struct wire){ 0 };
	wire_guid(&b, 1, 16);
	wire_msg(&b, 2, &p1);
	add_env("adopt.policy", 4, 23, &b, true);
	/* failures after unknown fields were taken: in the nested message (a
	 * truncated packed varint), and in its parent (a string sent as varint) */
	tmp = filter(true);
	wire_bytes(&tmp, 3, "\x81", 1);
	b = hello_with(&tmp, NULL, true);
	add_env("bad-after-unknown-nested", 0, 2, &b, false);
	b = hello_with(&f1, NULL, true);
	wire_varint(&b, 3, 5);
	add_env("bad-after-unknown-parent", 0, 2, &b, true);
	b = (struct wire){ 0 };
	unknowns(&b);
	wire_fixed32(&b, 1, 3);
	add_env("bad-wire-type", 0, 20, &b, false);

	/* journal: JournalRecord > JournalEpisode > JobError > ErrorInfo > FileInfo,
	 * JobInfo > JobProgress, Policy; unknown fields everywhere */
	{
		struct wire file = { 0 }, err = { 0 }, info = { 0 }, prog = { 0 }, ev = { 0 },
			    ep = { 0 }, rec = { 0 }, job = { 0 }, id = { 0 };

		wire_str(&file, 1, "https://h/f");
		unknowns(&file);
		wire_varint(&err, 1, 5);
		wire_fixed32(&err, 2, 0x80190194u);
		wire_varint(&err, 6, 1);
		wire_msg(&err, 7, &file);
		unknowns(&err);
		wire_varint(&prog, 1, 10);
		unknowns(&prog);
		wire_guid(&info, 1, 16);
		wire_str(&info, 2, "name");
		wire_varint(&info, 4, 4);
		wire_msg(&info, 5, &prog);
		wire_msg(&info, 5, &prog);
		unknowns(&info);
		wire_msg(&ev, 1, &info);
		wire_msg(&ev, 2, &err);
		wire_varint(&ev, 3, 9);
		wire_msg(&ev, 9, &p1);
		unknowns(&ev);
		wire_varint(&ep, 1, 9);
		wire_msg(&ep, 2, &ev);
		unknowns(&ep);
		wire_msg(&rec, 2, &ep);
		unknowns(&rec);
		add_jrec("journal-episode", &rec);
		wire_varint(&id, 1, 5);
		wire_str(&id, 3, "S-1-5-21-1");
		unknowns(&id);
		wire_guid(&job, 1, 16);
		wire_msg(&job, 2, &id);
		wire_msg(&job, 2, &id);
		wire_msg(&job, 3, &p1);
		wire_str(&job, 4, "name");
		unknowns(&job);
		tmp2 = (struct wire){ 0 };
		wire_msg(&tmp2, 1, &job);
		add_jrec("journal-job", &tmp2);
	}
}

/* Decodes in once; returns the result code. */
static int decode(const struct input *in)
{
	struct dob_codec_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	if (in->kind == ENVELOPE) {
		struct dob_msg m;

		rc = dob_decode(in->w.b, in->w.n, &m, &err);
		if (rc == 0)
			dob_msg_clear(&m);
	} else {
		struct dob_jrec r;

		rc = dob_jrec_decode(in->w.b, in->w.n, &r, &err);
		if (rc == 0)
			dob_jrec_clear(&r);
	}
	return rc;
}

/* What #690 describes: a message freed by protobuf-c whose unknown_fields
 * pointer was never written. */
static int control(void)
{
	Dobroker__V1__Ping *p = malloc(sizeof(*p));
	volatile int sink;

	if (!p)
		return 1;
	memset(&p->nonce, 0, sizeof(p->nonce));
	p->base.descriptor = &dobroker__v1__ping__descriptor;
	p->base.n_unknown_fields = 0;
	/* p->base.unknown_fields left as malloc gave it */
	sink = p->base.unknown_fields != NULL; /* MSan: use of uninitialised value */
	(void)sink;
	protobuf_c_message_free_unpacked(&p->base, NULL);
	fprintf(stderr, "control: no sanitizer report (this build would not see the defect)\n");
	return 1;
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;

	if (argc > 1 && !strcmp(argv[1], "--control"))
		return control();
	build();
	for (size_t i = 0; i < n_inputs; i++) {
		const struct input *in = &inputs[i];
		int64_t live = dob_alloc_live();
		int rc = decode(in);
		uint64_t k;

		printf("%-28s %s\n", in->name, rc ? dob_strerror(rc) : "decoded");
		/* every allocation failing in turn */
		for (k = 1; k < 100000; k++) {
			dob_alloc_reset();
			dob_alloc_fail_at(k);
			rc = decode(in);
			dob_alloc_fail_at(0);
			if (rc != -DOB_ENOMEM)
				break;
		}
		if (dob_alloc_live() != live) {
			printf("  %s: %lld blocks leaked\n", in->name,
			       (long long)(dob_alloc_live() - live));
			failed++;
		} else {
			passed++;
		}
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed != 0;
}
