/*
 * codec.c - struct dob_msg / struct dob_jrec <-> protobuf-c, and whole-frame
 * encoding. The only file that includes the generated dobroker.pb-c.h.
 *
 * The conversion is driven by the layout tables (layout.c): one walker per
 * direction handles every message, reading and writing protobuf-c structs
 * through the field descriptors of the compiled schema. A decoded protobuf-c
 * tree lives only inside dob_decode/dob_jrec_decode.
 *
 * Decoding: protobuf-c unpacks into an arena whose chunks come from
 * dob_malloc (so tests can fail any allocation) and which records each
 * block's size, which is how an embedded NUL in a string is found:
 * protobuf-c allocates wire length + 1 for a string, and strlen() tells the
 * rest.
 * Unknown fields are ignored (a newer peer may add fields). Then the tree is
 * converted (GUIDs must be 16 bytes) and the result validated (validate.c).
 * protobuf-c builds the whole tree before entry counts can be checked: a
 * frame of N bytes of empty repeated messages costs a few tens of times N
 * bytes of short-lived allocations (20 N measured for Stats.sessions; a
 * field repeated on the wire keeps every copy in the arena until the end
 * of the decode, at most 16 bytes of block per wire byte), which max_frame
 * bounds.
 *
 * Encoding: validate, build a protobuf-c tree in an arena whose strings and
 * GUIDs point into the message (nothing copied), and pack it straight into
 * the caller's buffer after the length prefix.
 */
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "dobroker.pb-c.h"
#include "internal.h"

typedef ProtobufCMessage PMsg;
typedef ProtobufCMessageDescriptor PDesc;
typedef ProtobufCFieldDescriptor PField;

/* ------------------------------------------------------------ arena */

/* Blocks for a protobuf-c tree, freed all at once: the tree being encoded,
 * and the tree protobuf-c unpacks. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t mem[];
};

struct arena {
	struct chunk *head;
	size_t next_cap;
};

#define ARENA_FIRST 4096
#define ARENA_MAX_CHUNK (1u << 20)

/* n bytes, not zeroed, aligned for any type. */
static void *arena_take(struct arena *a, size_t n)
{
	struct chunk *c = a->head;
	void *p;

	if (n > SIZE_MAX - sizeof(struct chunk) - sizeof(max_align_t))
		return NULL;
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!c || c->cap - c->used < n) {
		size_t cap = a->next_cap ? a->next_cap : ARENA_FIRST;

		if (cap < n)
			cap = n;
		if (!(c = dob_malloc(sizeof *c + cap)))
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
		a->next_cap = cap < ARENA_MAX_CHUNK ? cap * 2 : cap;
	}
	p = (char *)c->mem + c->used;
	c->used += n;
	return p;
}

static void *arena_alloc(struct arena *a, size_t n)
{
	void *p = arena_take(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct chunk *c = a->head;

		a->head = c->next;
		dob_free(c);
	}
	a->next_cap = 0;
}

/* ------------------------------------------------------------ allocator */

/* protobuf-c unpacks into an arena: a journal record's or a frame's tree
 * is a few dozen blocks (messages, strings, arrays), and one malloc and
 * free for each, plus protobuf_c_message_free_unpacked's walk over the
 * tree, were a third of decoding a record at a restart's replay. The tree
 * lives only inside convert(), which drops the arena at once. Each block is
 * preceded by its size; HDR keeps the payload aligned. */
#define HDR sizeof(max_align_t)

struct pbc_alloc {
	ProtobufCAllocator base;
	struct arena a;
	bool failed; /* an allocation failed: a NULL unpack means ENOMEM */
};

static void *pa_alloc(void *data, size_t n)
{
	struct pbc_alloc *al = data;
	size_t *p = n <= SIZE_MAX - HDR ? arena_take(&al->a, HDR + n) : NULL;

	if (!p) {
		al->failed = true;
		return NULL;
	}
	*p = n;
	return (char *)p + HDR;
}

static void pa_free(void *data, void *p)
{
	(void)data; /* the arena goes as a whole (pa_done) */
	(void)p;
}

static size_t pa_size(const void *p)
{
	return *(const size_t *)(const void *)((const char *)p - HDR);
}

static void pa_init(struct pbc_alloc *a)
{
	a->base.alloc = pa_alloc;
	a->base.free = pa_free;
	a->base.allocator_data = a;
	a->a.head = NULL;
	a->a.next_cap = 0;
	a->failed = false;
}

static void pa_done(struct pbc_alloc *a)
{
	arena_free(&a->a);
}

static PMsg *new_msg(struct arena *a, const PDesc *d)
{
	PMsg *m = arena_alloc(a, d->sizeof_message);

	if (m)
		protobuf_c_message_init(d, m);
	return m;
}

/* ------------------------------------------------------------ fields */

static const PField *pfield(const PDesc *d, const struct layout_field *f)
{
	/* protobuf-c keeps a message's fields sorted by number; ours are
	 * mostly numbered 1..n, so the field is usually at index num - 1
	 * (the library's binary search over ranges was 5% of an event's
	 * instructions). */
	const PField *pf = f->num - 1 < d->n_fields && d->fields[f->num - 1].id == f->num
				   ? &d->fields[f->num - 1]
				   : protobuf_c_message_descriptor_get_field(d, f->num);

	assert(pf && "layout.c disagrees with dobroker.proto (dob_codec_selfcheck)");
	return pf;
}

static size_t pcount(const PMsg *m, const PField *pf)
{
	return *LAYOUT_CAT(size_t, m, pf->quantifier_offset);
}

/* ------------------------------------------------------------ decode */

static int guid_from_pb(const ProtobufCBinaryData *bd, struct dob_guid *g,
			struct validate_path *p, struct dob_codec_error *err,
			const char *name, long i)
{
	size_t old;
	int rc;

	if (bd->len == DOB_GUID_LEN) {
		memcpy(g->b, bd->data, DOB_GUID_LEN);
		return 0;
	}
	old = validate_push(p, name, i);
	rc = validate_fail(p, err, "%" PRIu64 " bytes, want %d", (uint64_t)bd->len, DOB_GUID_LEN);
	validate_pop(p, old);
	return rc;
}

static int str_from_pb(const char *s, char **out, struct validate_path *p,
		       struct dob_codec_error *err, const char *name)
{
	size_t wire, len;

	if (!s || s == protobuf_c_empty_string)
		return 0; /* absent */
	wire = pa_size(s) - 1;
	len = strlen(s);
	if (len != wire)
		return validate_fail_at(p, err, name, "NUL byte at %" PRIu64, (uint64_t)len);
	if (wire && !(*out = dob_strndup(s, wire)))
		return -DOB_ENOMEM;
	return 0;
}

static int from_pb(const struct layout_type *t, void *dst, const PMsg *src,
		   struct validate_path *p, struct dob_codec_error *err);

static int sub_from_pb(const struct layout_type *t, void *dst, const PMsg *src,
		       struct validate_path *p, struct dob_codec_error *err,
		       const char *name, long i)
{
	size_t old = validate_push(p, name, i);
	int rc = from_pb(t, dst, src, p, err);

	validate_pop(p, old);
	return rc;
}

/* Absent message fields (src NULL) convert as all-default: their GUIDs are
 * then 0 bytes long and refused. */
static int field_from_pb(const struct layout_field *f, void *dst, const PMsg *src,
			 struct validate_path *p, struct dob_codec_error *err)
{
	static const ProtobufCBinaryData none = { 0, NULL };
	const PField *pf = src ? pfield(src->descriptor, f) : NULL;
	const void *v = src ? LAYOUT_CAT(char, src, pf->offset) : NULL;
	void *d = LAYOUT_AT(char, dst, f->off);
	size_t n = src && pf->label == PROTOBUF_C_LABEL_REPEATED ? pcount(src, pf) : 0;
	int rc;

	if (!src && f->kind != LK_GUID && f->kind != LK_SUB)
		return 0;
	if ((f->kind == LK_ARR || f->kind == LK_GUIDS || f->kind == LK_KINDS) &&
	    (rc = validate_count(p, err, f, n, false)) < 0)
		return rc; /* before allocating anything for them */

	switch (f->kind) {
	case LK_U32: case LK_U64: case LK_I64:
	case LK_ENUM: /* in range or not: validation tells */
		memcpy(d, v, layout_scalar_size(f->kind));
		return 0;
	case LK_BOOL:
		*(bool *)d = *(const protobuf_c_boolean *)v != 0;
		return 0;
	case LK_STR:
		return str_from_pb(*(char *const *)v, (char **)d, p, err, f->name);
	case LK_GUID:
		return guid_from_pb(v ? v : &none, d, p, err, f->name, -1);
	case LK_GUIDS: {
		const ProtobufCBinaryData *a = *(ProtobufCBinaryData *const *)v;
		struct dob_guid *g;

		if (!n)
			return 0;
		if (!(g = dob_calloc(n, sizeof *g)))
			return -DOB_ENOMEM;
		*(struct dob_guid **)d = g;
		*LAYOUT_AT(size_t, dst, f->aux) = n;
		for (size_t i = 0; i < n; i++)
			if ((rc = guid_from_pb(&a[i], &g[i], p, err, f->name, (long)i)) < 0)
				return rc;
		return 0;
	}
	case LK_KINDS: {
		const int *a = *(int *const *)v;

		for (size_t i = 0; i < n; i++) {
			if ((rc = validate_event_kind(p, err, f->name, (long)i, a[i])) < 0)
				return rc;
			*(uint32_t *)d |= 1u << a[i];
		}
		return 0;
	}
	case LK_OPT:
		if (!*(PMsg *const *)v)
			return 0;
		*LAYOUT_AT(bool, dst, f->aux) = true;
		/* fall through */
	case LK_SUB:
		return sub_from_pb(f->sub, d, v ? *(PMsg *const *)v : NULL, p, err, f->name, -1);
	case LK_ARR: {
		PMsg *const *a = *(PMsg *const *const *)v;
		char *b;

		if (!n)
			return 0;
		if (!(b = dob_calloc(n, f->sub->size)))
			return -DOB_ENOMEM;
		*(char **)d = b;
		*LAYOUT_AT(size_t, dst, f->aux) = n;
		for (size_t i = 0; i < n; i++)
			if ((rc = sub_from_pb(f->sub, b + i * f->sub->size, a[i], p, err,
					      f->name, (long)i)) < 0)
				return rc;
		return 0;
	}
	}
	return 0;
}

static int from_pb(const struct layout_type *t, void *dst, const PMsg *src,
		   struct validate_path *p, struct dob_codec_error *err)
{
	int rc;

	for (size_t i = 0; i < t->nfields; i++)
		if ((rc = field_from_pb(&t->fields[i], dst, src, p, err)) < 0)
			return rc;
	return 0;
}

/* A root message (Envelope or JournalRecord) and its oneof body. */
struct root {
	const PDesc *desc;
	const char *name;   /* path root for reasons */
	const struct layout_body *bodies;
	const size_t *nbodies;
	size_t case_off;    /* offset of the oneof case in the protobuf-c struct */
};

static const struct root envelope_root = {
	&dobroker__v1__envelope__descriptor, "envelope", layout_msgs, &layout_n_msgs,
	offsetof(Dobroker__V1__Envelope, body_case),
};
static const struct root jrec_root = {
	&dobroker__v1__journal_record__descriptor, "record", layout_jrecs, &layout_n_jrecs,
	offsetof(Dobroker__V1__JournalRecord, body_case),
};

/* Unpacks a root message from buf and converts its body into body; *type is
 * set as soon as it is known, so the caller can clear a partial conversion.
 * The correlation id goes to *corr when corr is not NULL (Envelope). */
static int convert(const struct root *r, const uint8_t *buf, size_t len, void *body,
		   uint32_t *type, uint64_t *corr, struct dob_codec_error *err)
{
	struct pbc_alloc al;
	struct validate_path p;
	const struct layout_body *b;
	const PField *pf;
	PMsg *m;
	int rc;

	pa_init(&al);
	if (!(m = protobuf_c_message_unpack(r->desc, &al.base, len, buf))) {
		pa_done(&al);
		if (al.failed)
			return err_set(err, -DOB_ENOMEM, DOB_PERR_UNSPECIFIED,
				       "%s: out of memory", r->name);
		return err_set(err, -DOB_EMALFORMED, DOB_PERR_MALFORMED,
			       "%s: not a valid protobuf encoding of %s", r->name,
			       r->desc->short_name);
	}
	if (corr)
		*corr = ((Dobroker__V1__Envelope *)m)->correlation_id;
	*type = *LAYOUT_CAT(uint32_t, m, r->case_off);
	validate_root(&p, r->name);
	if (!(b = layout_find(r->bodies, *r->nbodies, *type))) {
		rc = validate_fail(&p, err, "no body");
		goto done;
	}
	pf = protobuf_c_message_descriptor_get_field(r->desc, *type);
	validate_root(&p, b->name);
	rc = from_pb(b->type, body, *LAYOUT_CAT(PMsg *, m, pf->offset), &p, err);
	if (rc == -DOB_ENOMEM)
		err_set(err, rc, DOB_PERR_UNSPECIFIED, "%s: out of memory", b->name);
done:
	pa_done(&al); /* the whole tree at once (protobuf_c_message_free_unpacked walks it) */
	return rc;
}

int dob_decode(const uint8_t *body, size_t len, struct dob_msg *out,
	       struct dob_codec_error *err)
{
	struct dob_codec_error tmp;
	uint32_t type = 0;
	int rc;

	err = err ? err : &tmp;
	memset(out, 0, sizeof *out);
	rc = convert(&envelope_root, body, len, &out->u, &type, &out->correlation_id, err);
	out->type = (enum dob_msg_type)type;
	if (rc == 0)
		rc = dob_validate(out, err);
	if (rc < 0)
		dob_msg_clear(out);
	return rc;
}

int dob_jrec_decode(const uint8_t *body, size_t len, struct dob_jrec *out,
		    struct dob_codec_error *err)
{
	struct dob_codec_error tmp;
	uint32_t type = 0;
	int rc;

	err = err ? err : &tmp;
	memset(out, 0, sizeof *out);
	rc = convert(&jrec_root, body, len, &out->u, &type, NULL, err);
	out->type = (enum dob_jrec_type)type;
	if (rc == 0)
		rc = dob_jrec_validate(out, err);
	if (rc < 0)
		dob_jrec_clear(out);
	return rc;
}

/* ------------------------------------------------------------ encode */

static int to_pb(const struct layout_type *t, const void *src, PMsg *dst, struct arena *a);

static int field_to_pb(const struct layout_field *f, const void *src, PMsg *dst,
		       struct arena *a)
{
	const PField *pf = pfield(dst->descriptor, f);
	const void *v = LAYOUT_CAT(char, src, f->off);
	void *d = LAYOUT_AT(char, dst, pf->offset);
	size_t *count = pf->label == PROTOBUF_C_LABEL_REPEATED ?
		LAYOUT_AT(size_t, dst, pf->quantifier_offset) : NULL;
	size_t n = f->kind == LK_ARR || f->kind == LK_GUIDS ? *LAYOUT_CAT(size_t, src, f->aux) : 0;

	switch (f->kind) {
	case LK_U32: case LK_U64: case LK_I64: case LK_ENUM:
		memcpy(d, v, layout_scalar_size(f->kind));
		return 0;
	case LK_BOOL:
		*(protobuf_c_boolean *)d = *(const bool *)v;
		return 0;
	case LK_STR:
		/* Borrowed: packing only reads it. NULL packs as "". */
		*(char **)d = *(char *const *)v;
		return 0;
	case LK_GUID:
		((ProtobufCBinaryData *)d)->len = DOB_GUID_LEN;
		((ProtobufCBinaryData *)d)->data = (uint8_t *)((const struct dob_guid *)v)->b;
		return 0;
	case LK_GUIDS: {
		const struct dob_guid *g = *(struct dob_guid *const *)v;
		ProtobufCBinaryData *b;

		if (!n)
			return 0;
		if (!(b = arena_alloc(a, n * sizeof *b)))
			return -DOB_ENOMEM;
		for (size_t i = 0; i < n; i++) {
			b[i].len = DOB_GUID_LEN;
			b[i].data = (uint8_t *)g[i].b;
		}
		*(ProtobufCBinaryData **)d = b;
		*count = n;
		return 0;
	}
	case LK_KINDS: {
		uint32_t mask = *(const uint32_t *)v;
		int *k;

		if (!mask)
			return 0;
		if (!(k = arena_alloc(a, 32 * sizeof *k)))
			return -DOB_ENOMEM;
		for (int bit = 0; bit < 32; bit++)
			if ((mask >> bit) & 1u)
				k[n++] = bit;
		*(int **)d = k;
		*count = n;
		return 0;
	}
	case LK_OPT:
		if (!*LAYOUT_CAT(bool, src, f->aux))
			return 0;
		/* fall through */
	case LK_SUB: {
		PMsg *m = new_msg(a, pf->descriptor);

		if (!m)
			return -DOB_ENOMEM;
		*(PMsg **)d = m;
		return to_pb(f->sub, v, m, a);
	}
	case LK_ARR: {
		const char *s = *(const char *const *)v;
		PMsg **ms;
		int rc;

		if (!n)
			return 0;
		if (!(ms = arena_alloc(a, n * sizeof *ms)))
			return -DOB_ENOMEM;
		*(PMsg ***)d = ms;
		*count = n;
		for (size_t i = 0; i < n; i++) {
			if (!(ms[i] = new_msg(a, pf->descriptor)))
				return -DOB_ENOMEM;
			if ((rc = to_pb(f->sub, s + i * f->sub->size, ms[i], a)) < 0)
				return rc;
		}
		return 0;
	}
	}
	return 0;
}

static int to_pb(const struct layout_type *t, const void *src, PMsg *dst, struct arena *a)
{
	int rc;

	for (size_t i = 0; i < t->nfields; i++)
		if ((rc = field_to_pb(&t->fields[i], src, dst, a)) < 0)
			return rc;
	return 0;
}

/* Builds the body of root message m from a validated body of type num. */
static int body_to_pb(const struct root *r, PMsg *m, uint32_t num, const void *body,
		      struct arena *a, struct dob_codec_error *err)
{
	const struct layout_body *b = layout_find(r->bodies, *r->nbodies, num);
	const PField *pf = protobuf_c_message_descriptor_get_field(r->desc, num);
	PMsg *sub;
	int rc;

	assert(b && pf); /* validated */
	if (!(sub = new_msg(a, pf->descriptor)))
		rc = -DOB_ENOMEM;
	else {
		*LAYOUT_AT(uint32_t, m, r->case_off) = num;
		*LAYOUT_AT(PMsg *, m, pf->offset) = sub;
		rc = to_pb(b->type, body, sub, a);
	}
	if (rc < 0)
		err_set(err, rc, DOB_PERR_UNSPECIFIED, "%s: out of memory", b->name);
	return rc;
}

/*
 * Encodes m. With buf: writes the frame there (cap bytes). With out: into a
 * new buffer of exactly the frame's size. With neither: only the size.
 * Returns the frame size (prefix included) or a negative error.
 */
static int64_t encode_msg(const struct dob_msg *m, uint32_t max_frame, uint8_t *buf,
			  size_t cap, uint8_t **out, struct dob_codec_error *err)
{
	Dobroker__V1__Envelope env = DOBROKER__V1__ENVELOPE__INIT;
	struct arena a = { 0 };
	size_t len;
	int64_t rc;

	if ((rc = dob_validate(m, err)) < 0)
		return rc;
	env.correlation_id = m->correlation_id;
	if ((rc = body_to_pb(&envelope_root, &env.base, m->type, &m->u, &a, err)) < 0)
		goto done;
	len = protobuf_c_message_get_packed_size(&env.base);
	if (len > max_frame) {
		rc = err_set(err, -DOB_EFRAME_TOO_LARGE, DOB_PERR_FRAME_TOO_LARGE,
			     "%s: frame of %" PRIu64 " bytes, limit %" PRIu32,
			     dob_msg_type_name(m->type), (uint64_t)len, max_frame);
		goto done;
	}
	if (out) {
		cap = DOB_FRAME_HDR + len;
		if (!(buf = *out = dob_malloc(cap))) {
			rc = err_set(err, -DOB_ENOMEM, DOB_PERR_UNSPECIFIED, "frame: out of memory");
			goto done;
		}
	}
	if (buf) {
		if (cap < DOB_FRAME_HDR + len) {
			rc = err_set(err, -DOB_EFULL, DOB_PERR_UNSPECIFIED,
				     "frame of %" PRIu64 " bytes, buffer of %" PRIu64,
				     (uint64_t)(DOB_FRAME_HDR + len), (uint64_t)cap);
			goto done;
		}
		dob_put_u32le(buf, (uint32_t)len);
		protobuf_c_message_pack(&env.base, buf + DOB_FRAME_HDR);
	}
	rc = (int64_t)(DOB_FRAME_HDR + len);
done:
	arena_free(&a);
	return rc;
}

int64_t dob_frame_size(const struct dob_msg *m)
{
	return encode_msg(m, UINT32_MAX, NULL, 0, NULL, NULL);
}

int64_t dob_encode_into(const struct dob_msg *m, uint32_t max_frame, uint8_t *buf,
			size_t cap, struct dob_codec_error *err)
{
	return encode_msg(m, max_frame, buf, cap, NULL, err);
}

int dob_encode(const struct dob_msg *m, uint32_t max_frame, uint8_t **out,
	       size_t *out_len, struct dob_codec_error *err)
{
	int64_t rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = encode_msg(m, max_frame, NULL, 0, out, err)) < 0)
		return (int)rc;
	*out_len = (size_t)rc;
	return 0;
}

int dob_jrec_encode(const struct dob_jrec *r, uint8_t **out, size_t *out_len,
		    struct dob_codec_error *err)
{
	Dobroker__V1__JournalRecord rec = DOBROKER__V1__JOURNAL_RECORD__INIT;
	struct arena a = { 0 };
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = dob_jrec_validate(r, err)) < 0)
		return rc;
	if ((rc = body_to_pb(&jrec_root, &rec.base, r->type, &r->u, &a, err)) == 0) {
		size_t len = protobuf_c_message_get_packed_size(&rec.base);

		if ((*out = dob_malloc(len))) {
			*out_len = protobuf_c_message_pack(&rec.base, *out);
		} else
			rc = err_set(err, -DOB_ENOMEM, DOB_PERR_UNSPECIFIED, "record: out of memory");
	}
	arena_free(&a);
	return rc;
}

/* ------------------------------------------------------------ one encoding, two wrappers */

/*
 * An opened episode's JobError goes to two places: the journal (inside a
 * JournalEpisode record) and every subscriber (inside an Envelope). Encoding
 * and validating it once for each was a fifth of the broker's instructions
 * per event (docs/performance.md), so it is packed once and the two wrappers
 * are written around those bytes here. By hand because protobuf-c cannot
 * embed a message that is already packed; the wrappers are a tag and a
 * length each, written in field-number order as protobuf-c writes them, so
 * the result is byte for byte what dob_encode and dob_jrec_encode give for
 * the same message (test_codec compares the two).
 */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Tag of a length-delimited field (wire type 2). */
static uint64_t len_tag(uint32_t num)
{
	return ((uint64_t)num << 3) | 2u;
}

int dob_body_pack(const struct dob_msg *m, uint8_t **out, size_t *out_len,
		  struct dob_codec_error *err)
{
	struct arena a = { 0 };
	const PField *pf;
	PMsg *sub;
	size_t len;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = dob_validate(m, err)) < 0)
		return rc;
	if (m->correlation_id)
		return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
			       "%s: only an event's body is packed alone", dob_msg_type_name(m->type));
	pf = protobuf_c_message_descriptor_get_field(envelope_root.desc, m->type);
	assert(pf); /* validated */
	if (!(sub = new_msg(&a, pf->descriptor)))
		rc = -DOB_ENOMEM;
	else if ((rc = to_pb(layout_find(layout_msgs, layout_n_msgs, m->type)->type, &m->u, sub,
			     &a)) == 0) {
		len = protobuf_c_message_get_packed_size(sub);
		/* dob_malloc(0) may give NULL: one byte more. */
		if ((*out = dob_malloc(len + 1)))
			*out_len = protobuf_c_message_pack(sub, *out);
		else
			rc = -DOB_ENOMEM;
	}
	if (rc == -DOB_ENOMEM)
		err_set(err, rc, DOB_PERR_UNSPECIFIED, "%s: out of memory", dob_msg_type_name(m->type));
	arena_free(&a);
	return rc;
}

int64_t dob_frame_wrap_size(uint32_t type, size_t body_len)
{
	return (int64_t)(DOB_FRAME_HDR + varint_size(len_tag(type)) + varint_size(body_len) +
			 body_len);
}

int64_t dob_frame_wrap(uint32_t type, const uint8_t *body, size_t body_len, uint32_t max_frame,
		       uint8_t *buf, size_t cap, struct dob_codec_error *err)
{
	int64_t size = dob_frame_wrap_size(type, body_len);
	size_t n = DOB_FRAME_HDR;

	if (!layout_find(layout_msgs, layout_n_msgs, type))
		return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED, "unknown type %" PRIu32, type);
	if ((uint64_t)size - DOB_FRAME_HDR > max_frame)
		return err_set(err, -DOB_EFRAME_TOO_LARGE, DOB_PERR_FRAME_TOO_LARGE,
			       "%s: frame of %" PRIu64 " bytes, limit %" PRIu32,
			       dob_msg_type_name((enum dob_msg_type)type),
			       (uint64_t)size - DOB_FRAME_HDR, max_frame);
	if (cap < (uint64_t)size)
		return err_set(err, -DOB_EFULL, DOB_PERR_UNSPECIFIED,
			       "frame of %" PRIu64 " bytes, buffer of %" PRIu64, (uint64_t)size,
			       (uint64_t)cap);
	dob_put_u32le(buf, (uint32_t)(size - DOB_FRAME_HDR));
	/* Envelope: correlation_id (1) is 0 on an event, so not written. */
	n += put_varint(buf + n, len_tag(type));
	n += put_varint(buf + n, body_len);
	if (body_len)
		memcpy(buf + n, body, body_len);
	return size;
}

int dob_jrec_wrap_episode(uint64_t episode_id, const uint8_t *event, size_t event_len,
			  uint8_t **out, size_t *out_len, struct dob_codec_error *err)
{
	/* JournalRecord { episode (2): JournalEpisode { episode_id (1), event (2) } } */
	size_t inner = (episode_id ? 1 + varint_size(episode_id) : 0) + 1 +
		       varint_size(event_len) + event_len;
	size_t len = 1 + varint_size(inner) + inner;
	uint8_t *p;
	size_t n = 0;

	*out = NULL;
	*out_len = 0;
	if (!(p = dob_malloc(len)))
		return err_set(err, -DOB_ENOMEM, DOB_PERR_UNSPECIFIED, "record: out of memory");
	n += put_varint(p + n, len_tag(DOB_JREC_EPISODE));
	n += put_varint(p + n, inner);
	if (episode_id) {
		n += put_varint(p + n, 1u << 3); /* varint field 1 */
		n += put_varint(p + n, episode_id);
	}
	n += put_varint(p + n, len_tag(2));
	n += put_varint(p + n, event_len);
	if (event_len)
		memcpy(p + n, event, event_len);
	assert(n + event_len == len);
	*out = p;
	*out_len = len;
	return 0;
}

/* ------------------------------------------------------------ self-check */

/* The protobuf-c types a layout kind may map to. */
static bool kind_fits(enum layout_kind k, const PField *pf)
{
	bool rep = pf->label == PROTOBUF_C_LABEL_REPEATED;

	switch (k) {
	case LK_U32: return !rep && (pf->type == PROTOBUF_C_TYPE_UINT32 ||
				     pf->type == PROTOBUF_C_TYPE_FIXED32);
	case LK_U64: return !rep && pf->type == PROTOBUF_C_TYPE_UINT64;
	case LK_I64: return !rep && pf->type == PROTOBUF_C_TYPE_INT64;
	case LK_BOOL: return !rep && pf->type == PROTOBUF_C_TYPE_BOOL;
	case LK_ENUM: return !rep && pf->type == PROTOBUF_C_TYPE_ENUM;
	case LK_STR: return !rep && pf->type == PROTOBUF_C_TYPE_STRING;
	case LK_GUID: return !rep && pf->type == PROTOBUF_C_TYPE_BYTES;
	case LK_GUIDS: return rep && pf->type == PROTOBUF_C_TYPE_BYTES;
	case LK_KINDS: return rep && pf->type == PROTOBUF_C_TYPE_ENUM;
	case LK_SUB: case LK_OPT: return !rep && pf->type == PROTOBUF_C_TYPE_MESSAGE;
	case LK_ARR: return rep && pf->type == PROTOBUF_C_TYPE_MESSAGE;
	}
	return false;
}

static int check_enum(const struct layout_field *f, const PField *pf, const char *where,
		      struct dob_codec_error *err)
{
	const ProtobufCEnumDescriptor *e = pf->descriptor;
	const char *ename = f->kind == LK_KINDS ? "EventKind" : f->ename;
	uint32_t max = f->kind == LK_KINDS ? DOB_EVENT_MAX : f->max;

	if (strcmp(e->short_name, ename) != 0)
		return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
			       "%s.%s: enum %s in the schema, %s in the layout", where,
			       f->name, e->short_name, ename);
	/* values[] is sorted by value and the schema's values are contiguous
	 * from 0, so the last one is the largest. */
	if (e->n_values != max + 1 || e->values[e->n_values - 1].value != (int)max)
		return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
			       "%s.%s: %s has %u values in the schema, the layout allows 0..%"
			       PRIu32, where, f->name, e->short_name, e->n_values, max);
	return 0;
}

static int check_type(const struct layout_type *t, const PDesc *d, struct dob_codec_error *err)
{
	int rc;

	if (d->n_fields != t->nfields)
		return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
			       "%s: %u fields in the schema, %" PRIu64 " in the layout",
			       d->short_name, d->n_fields, (uint64_t)t->nfields);
	for (size_t i = 0; i < t->nfields; i++) {
		const struct layout_field *f = &t->fields[i];
		const PField *pf = protobuf_c_message_descriptor_get_field(d, f->num);

		if (!pf || strcmp(pf->name, f->name) != 0)
			return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
				       "%s: field %" PRIu32 " is %s in the schema, %s in the layout",
				       d->short_name, f->num, pf ? pf->name : "missing", f->name);
		if (!kind_fits(f->kind, pf))
			return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
				       "%s.%s: layout kind %d does not fit the schema's type",
				       d->short_name, f->name, f->kind);
		if ((f->kind == LK_ENUM || f->kind == LK_KINDS) &&
		    (rc = check_enum(f, pf, d->short_name, err)) < 0)
			return rc;
		if (pf->type == PROTOBUF_C_TYPE_MESSAGE &&
		    (rc = check_type(f->sub, pf->descriptor, err)) < 0)
			return rc;
	}
	return 0;
}

static int check_root(const struct root *r, struct dob_codec_error *err)
{
	size_t members = 0;
	int rc;

	for (unsigned i = 0; i < r->desc->n_fields; i++)
		members += (r->desc->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
	if (members != *r->nbodies)
		return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
			       "%s: %" PRIu64 " oneof members in the schema, %" PRIu64
			       " in the layout", r->desc->short_name, (uint64_t)members,
			       (uint64_t)*r->nbodies);
	for (size_t i = 0; i < *r->nbodies; i++) {
		const struct layout_body *b = &r->bodies[i];
		const PField *pf = protobuf_c_message_descriptor_get_field(r->desc, b->num);

		if (!pf || !(pf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
		    strcmp(pf->name, b->name) != 0)
			return err_set(err, -DOB_EINVAL, DOB_PERR_UNSPECIFIED,
				       "%s: body %" PRIu32 " (%s) is not that oneof member",
				       r->desc->short_name, b->num, b->name);
		if ((rc = check_type(b->type, pf->descriptor, err)) < 0)
			return rc;
	}
	return 0;
}

int dob_codec_selfcheck(struct dob_codec_error *err)
{
	int rc = check_root(&envelope_root, err);

	return rc < 0 ? rc : check_root(&jrec_root, err);
}
