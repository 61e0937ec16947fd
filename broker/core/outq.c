/*
 * broker/core/outq.c - output queues (outq.h): a ring of frame references
 * with frame and byte counts, drop-and-Gap, and batching for writes.
 */
#include "outq.h"

#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"

struct outq {
	struct outq_limits lim;
	struct frame **ring;       /* owned references */
	size_t head, len, cap;
	uint64_t bytes;            /* sum of the queued frames' len */
	bool dropping;             /* dropping until drained below half soft */
	uint64_t gap_count, gap_first, gap_last;
	uint64_t dropped;
};

/* ---------------------------------------------------------------- frames */

/* One pass of the codec (validate, convert, pack) into a buffer of the exact
 * size, then copied behind the frame's header: sizing the frame first with
 * dob_frame_size cost a second whole pass (docs/performance.md). */
struct frame *frame_from_msg(const struct dob_msg *m, uint32_t max_frame,
			     struct dob_codec_error *e)
{
	struct frame *f;
	uint8_t *buf;
	size_t n;
	int rc = dob_encode(m, max_frame, &buf, &n, e);

	if (rc < 0) {
		if (!e->code)
			e->code = rc;
		return NULL;
	}
	f = dob_malloc(sizeof(*f) + n);
	if (!f) {
		dob_free(buf);
		e->code = -DOB_ENOMEM;
		strcpy(e->reason, "out of memory");
		return NULL;
	}
	memcpy(f->data, buf, n);
	dob_free(buf);
	f->refs = 1;
	f->len = (uint32_t)n;
	return f;
}

struct frame *frame_from_body(uint32_t type, const uint8_t *body, size_t len, uint32_t max_frame,
			      struct dob_codec_error *e)
{
	int64_t n = dob_frame_wrap_size(type, len);
	struct frame *f = dob_malloc(sizeof(*f) + (size_t)n);

	if (!f) {
		e->code = -DOB_ENOMEM;
		strcpy(e->reason, "out of memory");
		return NULL;
	}
	n = dob_frame_wrap(type, body, len, max_frame, f->data, (size_t)n, e);
	if (n < 0) {
		dob_free(f);
		if (!e->code)
			e->code = (int)n;
		return NULL;
	}
	f->refs = 1;
	f->len = (uint32_t)n;
	return f;
}

void frame_unref(struct frame *f)
{
	if (f && --f->refs == 0)
		dob_free(f);
}

/* ---------------------------------------------------------------- queue */

int outq_new(struct outq **out, const struct outq_limits *lim)
{
	struct outq *q = dob_calloc(1, sizeof(*q));

	*out = NULL;
	if (!q)
		return -DOB_ENOMEM;
	q->lim = *lim;
	*out = q;
	return 0;
}

void outq_free(struct outq *q)
{
	if (!q)
		return;
	outq_clear(q);
	dob_free(q->ring);
	dob_free(q);
}

static struct frame **at(struct outq *q, size_t i)
{
	return &q->ring[(q->head + i) % q->cap];
}

static int append(struct outq *q, struct frame *f)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct frame **r = dob_malloc(cap * sizeof(*r));

		if (!r)
			return -DOB_ENOMEM;
		for (size_t i = 0; i < q->len; i++)
			r[i] = *at(q, i);
		dob_free(q->ring);
		q->ring = r;
		q->cap = cap;
		q->head = 0;
	}
	f->refs++;
	q->ring[(q->head + q->len) % q->cap] = f;
	q->len++;
	q->bytes += f->len;
	return 0;
}

static void pop(struct outq *q)
{
	struct frame *f = *at(q, 0);

	q->bytes -= f->len;
	frame_unref(f);
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

void outq_clear(struct outq *q)
{
	while (q->len)
		pop(q);
	q->dropping = false;
	q->gap_count = 0;
}

static bool past_soft(const struct outq *q)
{
	return q->len >= q->lim.soft_frames || q->bytes >= q->lim.soft_bytes;
}

bool outq_below_soft(const struct outq *q)
{
	return !past_soft(q);
}

/* Once the queue has drained below half its soft limits, the Gap for what
 * was dropped goes out ahead of anything newer. */
static void maybe_gap(struct outq *q)
{
	struct dob_codec_error e;
	struct dob_msg m;
	struct frame *f;
	size_t tf = q->lim.soft_frames / 2;
	uint64_t tb = q->lim.soft_bytes / 2;

	if (!q->dropping || q->len >= (tf ? tf : 1) || q->bytes >= (tb ? tb : 1))
		return;
	memset(&m, 0, sizeof(m));
	memset(&e, 0, sizeof(e));
	m.type = DOB_MSG_GAP;
	m.u.gap.dropped = q->gap_count;
	m.u.gap.first_dropped_seq = q->gap_first;
	m.u.gap.last_dropped_seq = q->gap_last;
	f = frame_from_msg(&m, DOB_MAX_FRAME_CEILING, &e);
	if (!f)
		return; /* out of memory: tried again at the next push or take */
	if (append(q, f) == 0) {
		q->dropping = false;
		q->gap_count = 0;
	}
	frame_unref(f);
}

void outq_note_drop(struct outq *q, uint64_t seq)
{
	if (!q->dropping || q->gap_count == 0)
		q->gap_first = seq;
	q->dropping = true;
	q->gap_count++;
	q->gap_last = seq;
	q->dropped++;
}

int outq_push(struct outq *q, struct frame *f, bool droppable, uint64_t seq)
{
	maybe_gap(q);
	if (droppable && (q->dropping || past_soft(q))) {
		outq_note_drop(q, seq);
		return OUTQ_DROPPED;
	}
	if (q->len >= q->lim.hard_frames || q->bytes + f->len > q->lim.hard_bytes)
		return -DOB_EFULL;
	return append(q, f);
}

int outq_take(struct outq *q, size_t max, uint8_t **buf, size_t *n)
{
	size_t total = 0, k = 0, off = 0;
	uint8_t *b;

	*buf = NULL;
	*n = 0;
	if (q->len == 0)
		return -DOB_EAGAIN;
	while (k < q->len) {
		size_t len = (*at(q, k))->len;
		if (k > 0 && total + len > max)
			break;
		total += len;
		k++;
	}
	b = dob_malloc(total);
	if (!b)
		return -DOB_ENOMEM;
	for (size_t i = 0; i < k; i++) {
		const struct frame *f = *at(q, 0);
		memcpy(b + off, f->data, f->len);
		off += f->len;
		pop(q);
	}
	maybe_gap(q);
	*buf = b;
	*n = total;
	return 0;
}

size_t outq_frames(const struct outq *q)
{
	return q->len;
}

uint64_t outq_bytes(const struct outq *q)
{
	return q->bytes;
}

uint64_t outq_dropped(const struct outq *q)
{
	return q->dropped;
}
