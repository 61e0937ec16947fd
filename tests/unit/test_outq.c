/*
 * tests/unit/test_outq.c - the output queue module (broker/core/outq.c):
 * soft and hard limits in frames and in bytes, drop-and-Gap, frames that
 * are never dropped, batches for writes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "broker.h"
#include "config.h"
#include "outq.h"

static int64_t live0;

static void setup(void)
{
	live0 = dob_alloc_live();
}

static void teardown(void)
{
	cr_expect_eq(dob_alloc_live(), live0, "outq leaked %lld blocks",
		     (long long)(dob_alloc_live() - live0));
}

TestSuite(outq, .init = setup, .fini = teardown, .timeout = 30);

/* A frame of exactly n bytes (content irrelevant to the queue). */
static struct frame *raw(size_t n, uint8_t fill)
{
	struct frame *f = dob_malloc(sizeof(*f) + n);

	cr_assert(f);
	f->refs = 1;
	f->len = (uint32_t)n;
	memset(f->data, fill, n);
	return f;
}

static struct outq *make(uint32_t sf, uint32_t hf, uint64_t sb, uint64_t hb)
{
	struct outq_limits lim = { sf, hf, sb, hb };
	struct outq *q = NULL;

	cr_assert_eq(outq_new(&q, &lim), 0);
	return q;
}

static int push_raw(struct outq *q, size_t n, bool droppable, uint64_t seq)
{
	struct frame *f = raw(n, (uint8_t)seq);
	int rc = outq_push(q, f, droppable, seq);

	frame_unref(f);
	return rc;
}

/* Takes everything queued; returns the Gap found in it (dropped count) or 0. */
static uint64_t drain_gap(struct outq *q, size_t *bytes)
{
	uint64_t gap = 0;
	uint8_t *buf;
	size_t n;

	*bytes = 0;
	while (outq_take(q, 1u << 20, &buf, &n) == 0) {
		struct dob_decoder d;
		size_t off = 0;
		*bytes += n;
		dob_decoder_init(&d, DOB_MAX_FRAME_CEILING);
		/* Only Gap frames decode (the raw ones are filler bytes): look
		 * for the Gap's encoding at frame boundaries we know. */
		while (off < n) {
			uint32_t len = dob_get_u32le(buf + off);
			struct dob_msg m;
			size_t used = 0;
			if (off + 4 + len <= n && len < 64 &&
			    dob_decoder_feed(&d, buf + off, 4 + len, &used, &m, NULL) == 1) {
				if (m.type == DOB_MSG_GAP)
					gap += m.u.gap.dropped;
				dob_msg_clear(&m);
			} else {
				dob_decoder_free(&d);
				dob_decoder_init(&d, DOB_MAX_FRAME_CEILING);
			}
			off += 4 + len;
		}
		dob_decoder_free(&d);
		dob_free(buf);
	}
	return gap;
}

/* A raw frame whose first 4 bytes are its own length prefix. */
static struct frame *framed(size_t body, uint8_t fill)
{
	struct frame *f = raw(4 + body, fill);

	dob_put_u32le(f->data, (uint32_t)body);
	return f;
}

static int push_framed(struct outq *q, size_t body, bool droppable, uint64_t seq)
{
	struct frame *f = framed(body, 0xEE);
	int rc = outq_push(q, f, droppable, seq);

	frame_unref(f);
	return rc;
}

Test(outq, counts_frames_and_bytes_and_shares_frames)
{
	struct outq *q = make(10, 20, 1000, 2000);
	struct frame *f = raw(100, 1);

	cr_assert_eq(outq_push(q, f, false, 0), OUTQ_QUEUED);
	cr_assert_eq(outq_push(q, f, false, 0), OUTQ_QUEUED);
	cr_assert_eq(f->refs, 3, "one reference per queued copy");
	cr_assert_eq(outq_frames(q), 2);
	cr_assert_eq(outq_bytes(q), 200);
	frame_unref(f);
	outq_clear(q);
	cr_assert_eq(outq_frames(q), 0);
	cr_assert_eq(outq_bytes(q), 0);
	outq_free(q);
}

Test(outq, soft_limit_in_bytes_drops_progress_but_never_errors)
{
	/* Soft: 1000 bytes (frames are generous: 100). */
	struct outq *q = make(100, 200, 1000, 100000);

	for (int i = 0; i < 10; i++)
		cr_assert_eq(push_framed(q, 96, true, (uint64_t)i + 1), OUTQ_QUEUED);
	cr_assert_eq(outq_bytes(q), 1000);
	cr_assert(!outq_below_soft(q));
	cr_assert_eq(push_framed(q, 96, true, 11), OUTQ_DROPPED, "progress past the soft bytes");
	cr_assert_eq(push_framed(q, 96, false, 0), OUTQ_QUEUED, "an error is never dropped");
	cr_assert_eq(outq_dropped(q), 1);
	outq_free(q);
}

Test(outq, soft_limit_in_frames_drops_progress_too)
{
	struct outq *q = make(4, 8, 1u << 20, 2u << 20);

	for (int i = 0; i < 4; i++)
		cr_assert_eq(push_framed(q, 8, true, (uint64_t)i + 1), OUTQ_QUEUED);
	cr_assert_eq(push_framed(q, 8, true, 5), OUTQ_DROPPED);
	cr_assert_eq(push_framed(q, 8, false, 0), OUTQ_QUEUED);
	outq_free(q);
}

Test(outq, hard_limit_in_bytes_refuses_even_errors)
{
	struct outq *q = make(100, 200, 1000, 2000);

	for (int i = 0; i < 19; i++)
		cr_assert_eq(push_framed(q, 96, false, 0), OUTQ_QUEUED, "frame %d", i);
	cr_assert_eq(outq_bytes(q), 1900);
	cr_assert_eq(push_framed(q, 196, false, 0), -DOB_EFULL, "2100 bytes > 2000");
	cr_assert_eq(outq_frames(q), 19, "nothing queued past the hard limit");
	cr_assert_eq(push_framed(q, 96, false, 0), OUTQ_QUEUED, "2000 bytes fit");
	outq_free(q);
}

Test(outq, hard_limit_in_frames_refuses_even_errors)
{
	struct outq *q = make(2, 4, 1u << 20, 2u << 20);

	for (int i = 0; i < 4; i++)
		cr_assert_eq(push_framed(q, 8, false, 0), OUTQ_QUEUED);
	cr_assert_eq(push_framed(q, 8, false, 0), -DOB_EFULL);
	outq_free(q);
}

Test(outq, gap_goes_out_once_drained_below_half_soft_and_names_what_was_dropped)
{
	struct outq *q = make(100, 200, 1000, 100000);
	size_t bytes;

	for (int i = 0; i < 10; i++)
		push_framed(q, 96, true, (uint64_t)i + 1);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(push_framed(q, 96, true, (uint64_t)i + 11), OUTQ_DROPPED);
	cr_assert_eq(outq_dropped(q), 7);
	/* Still dropping while not drained: */
	cr_assert_eq(drain_gap(q, &bytes), 7, "the Gap counts the 7 dropped");
	cr_assert_eq(outq_frames(q), 0);
	/* After the Gap, progress is queued again. */
	cr_assert_eq(push_framed(q, 96, true, 30), OUTQ_QUEUED);
	outq_free(q);
}

Test(outq, take_batches_up_to_max_bytes_but_one_frame_at_least)
{
	struct outq *q = make(100, 200, 1u << 20, 2u << 20);
	uint8_t *buf;
	size_t n;

	push_raw(q, 3000, false, 0);
	push_raw(q, 100, false, 0);
	push_raw(q, 100, false, 0);
	cr_assert_eq(outq_take(q, 1000, &buf, &n), 0);
	cr_assert_eq(n, 3000, "a frame larger than max goes alone");
	dob_free(buf);
	cr_assert_eq(outq_take(q, 1000, &buf, &n), 0);
	cr_assert_eq(n, 200, "the rest in one batch");
	dob_free(buf);
	cr_assert_eq(outq_take(q, 1000, &buf, &n), -DOB_EAGAIN);
	cr_assert_null(buf);
	cr_assert_eq(outq_bytes(q), 0);
	outq_free(q);
}

Test(outq, out_of_memory_at_every_allocation_loses_nothing_silently)
{
	for (uint64_t k = 1; k < 40; k++) {
		struct outq *q = make(4, 8, 1u << 20, 2u << 20);
		struct frame *f[6];
		int queued = 0;

		for (int i = 0; i < 6; i++)
			f[i] = framed(8, (uint8_t)i);
		dob_alloc_fail_at(k);
		for (int i = 0; i < 6; i++) {
			int rc = outq_push(q, f[i], i % 2 == 0, (uint64_t)i + 1);
			cr_assert(rc == OUTQ_QUEUED || rc == OUTQ_DROPPED || rc == -DOB_ENOMEM,
				  "k=%llu: %d", (unsigned long long)k, rc);
			if (rc == OUTQ_QUEUED)
				queued++;
		}
		dob_alloc_fail_at(0);
		cr_assert_eq((size_t)queued, outq_frames(q), "k=%llu", (unsigned long long)k);
		for (int i = 0; i < 6; i++)
			frame_unref(f[i]);
		outq_free(q);
	}
}

/* The byte limits are settings with their own checks (bad input gets a
 * specific error). */
Test(outq, byte_limit_settings_are_checked)
{
	struct broker_config c;
	char err[256];

	config_defaults(&c);
	cr_assert_eq(c.queue_soft_bytes, 4u << 20);
	cr_assert_eq(c.queue_hard_bytes, 16u << 20);
	cr_assert_eq(config_check(&c, err, sizeof err), 0, "%s", err);
	c.queue_soft_bytes = c.queue_hard_bytes;
	cr_assert_eq(config_check(&c, err, sizeof err), -DOB_EINVAL);
	cr_assert(strstr(err, "queue-soft-bytes"), "%s", err);
	config_defaults(&c);
	c.queue_soft_bytes = 1000;
	c.queue_hard_bytes = 2000; /* below one 64 KiB frame */
	cr_assert_eq(config_check(&c, err, sizeof err), -DOB_EINVAL);
	cr_assert(strstr(err, "max-frame"), "%s", err);
	config_clear(&c);
}
