/*
 * test_frame.c - the length prefix, the incremental decoder, CRC-32C.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "msgcmp.h"
#include "samples.h"
#include "wire.h"

TestSuite(frame, .timeout = 60);

/* A stream of one frame of every message type, back to back. */
struct stream {
	uint8_t *b;
	size_t n;
	struct dob_msg msgs[32];
	size_t nmsgs;
};

static void stream_make(struct stream *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg *m = &s->msgs[s->nmsgs++];
		uint8_t *f;
		size_t len;

		sample_msg(sample_types[i], m);
		cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_DEFAULT, &f, &len, NULL), 0);
		s->b = realloc(s->b, s->n + len);
		memcpy(s->b + s->n, f, len);
		s->n += len;
		dob_free(f);
	}
}

static void stream_free(struct stream *s)
{
	for (size_t i = 0; i < s->nmsgs; i++)
		dob_msg_clear(&s->msgs[i]);
	free(s->b);
}

/* Feeds the stream in chunks of the sizes next() gives and checks every
 * message comes out, in order and equal. */
static void feed_in_chunks(const struct stream *s, size_t (*next)(void))
{
	struct dob_decoder d;
	struct dob_codec_error err = { 0 };
	size_t pos = 0, got = 0;

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	while (pos < s->n) {
		size_t chunk = next(), off = 0;

		if (chunk > s->n - pos)
			chunk = s->n - pos;
		while (off < chunk) {
			struct dob_msg m;
			size_t used;
			int rc = dob_decoder_feed(&d, s->b + pos + off, chunk - off, &used, &m, &err);
			char why[256];

			cr_assert_geq(rc, 0, "%s", err.reason);
			cr_assert_leq(used, chunk - off);
			off += used;
			if (rc == 1) {
				cr_assert_lt(got, s->nmsgs);
				cr_assert(msgcmp_msg(&s->msgs[got], &m, why, sizeof why), "%s", why);
				got++;
				dob_msg_clear(&m);
			} else
				cr_assert_eq(off, chunk, "0 means every byte was taken");
		}
		pos += chunk;
	}
	cr_assert_eq(got, s->nmsgs);
	cr_assert(dob_decoder_idle(&d));
	cr_assert_eq(dob_decoder_finish(&d, &err), 0);
	dob_decoder_free(&d);
}

static size_t one(void)
{
	return 1;
}

static size_t random_split(void)
{
	/* Mostly small, sometimes a few frames at once. */
	return rand() % 4 ? 1 + (size_t)rand() % 64 : 1 + (size_t)rand() % 4096;
}

static size_t everything(void)
{
	return SIZE_MAX;
}

/* Feeds bytes to a fresh decoder; returns the first non-zero result. */
static int feed_all(struct dob_decoder *d, const uint8_t *b, size_t n,
		    struct dob_codec_error *err)
{
	struct dob_msg m;
	size_t used;
	int rc;

	while (n) {
		rc = dob_decoder_feed(d, b, n, &used, &m, err);
		if (rc < 0)
			return rc;
		if (rc == 1)
			dob_msg_clear(&m);
		b += used;
		n -= used;
	}
	return 0;
}

/* ------------------------------------------------------------ tests */

Test(frame, length_prefix_is_little_endian)
{
	uint8_t b[4];

	dob_put_u32le(b, 0x11223344u);
	cr_assert_eq(b[0], 0x44);
	cr_assert_eq(b[3], 0x11);
	cr_assert_eq(dob_get_u32le(b), 0x11223344u);
	dob_put_u32le(b, 0xFFFFFFFFu);
	cr_assert_eq(dob_get_u32le(b), 0xFFFFFFFFu);
}

Test(frame, crc32c_matches_the_check_value)
{
	cr_assert_eq(dob_crc32c(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(dob_crc32c(0, "", 0), 0);
	/* Chained over pieces = over the whole. */
	cr_assert_eq(dob_crc32c(dob_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros, of 0xFF. */
	{
		uint8_t z[32] = { 0 }, f[32];

		memset(f, 0xFF, sizeof f);
		cr_assert_eq(dob_crc32c(0, z, sizeof z), 0x8A9136AAu);
		cr_assert_eq(dob_crc32c(0, f, sizeof f), 0x62A8AB43u);
	}
}

/* dob_crc32c takes 8 bytes a step where the CPU has SSE4.2, else a table:
 * either must agree with the definition, bit by bit, at every length and
 * alignment. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

Test(frame, crc32c_agrees_with_the_bitwise_definition_at_every_length_and_offset)
{
	uint8_t buf[80];

	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; off + n <= sizeof buf; n++)
			cr_assert_eq(dob_crc32c(0, buf + off, n), crc32c_bitwise(buf + off, n),
				     "offset %zu length %zu", off, n);
}

Test(frame, decodes_frames_fed_one_byte_at_a_time)
{
	struct stream s;

	stream_make(&s);
	feed_in_chunks(&s, one);
	stream_free(&s);
}

Test(frame, decodes_frames_fed_in_random_splits)
{
	struct stream s;

	stream_make(&s);
	srand(4242);
	for (int i = 0; i < 50; i++)
		feed_in_chunks(&s, random_split);
	stream_free(&s);
}

Test(frame, decodes_many_frames_from_one_buffer)
{
	struct stream s;

	stream_make(&s);
	feed_in_chunks(&s, everything);
	stream_free(&s);
}

Test(frame, rejects_zero_length)
{
	static const uint8_t z[4] = { 0 };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	cr_assert_eq(feed_all(&d, z, sizeof z, &err), -DOB_EFRAME_EMPTY);
	cr_assert_eq(err.perr, DOB_PERR_FRAME_EMPTY);
	cr_assert_str_eq(err.reason, "frame length 0");
	dob_decoder_free(&d);
}

Test(frame, rejects_length_over_max_without_allocating)
{
	static const uint8_t big[4] = { 0xFF, 0xFF, 0xFF, 0x7F };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	dob_alloc_reset();
	cr_assert_eq(feed_all(&d, big, sizeof big, &err), -DOB_EFRAME_TOO_LARGE);
	cr_assert_eq(err.perr, DOB_PERR_FRAME_TOO_LARGE);
	cr_assert_str_eq(err.reason, "frame length 2147483647 exceeds the limit of 65536 bytes");
	cr_assert_eq(dob_alloc_largest(), 0, "largest allocation %zu", dob_alloc_largest());
	cr_assert_eq(dob_alloc_count(), 0);
	dob_decoder_free(&d);
}

Test(frame, accepts_length_equal_to_max_and_not_one_more)
{
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;
	struct dob_msg m;
	uint8_t *f;
	size_t len, used;

	sample_msg(DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &f, &len, NULL), 0);
	dob_msg_clear(&m);
	dob_decoder_init(&d, (uint32_t)(len - DOB_FRAME_HDR));
	cr_assert_eq(dob_decoder_feed(&d, f, len, &used, &m, &err), 1, "%s", err.reason);
	dob_msg_clear(&m);
	dob_decoder_free(&d);
	dob_decoder_init(&d, (uint32_t)(len - DOB_FRAME_HDR - 1));
	cr_assert_eq(dob_decoder_feed(&d, f, len, &used, &m, &err), -DOB_EFRAME_TOO_LARGE);
	cr_assert_eq(used, DOB_FRAME_HDR, "only the prefix was read");
	dob_decoder_free(&d);
	dob_free(f);
}

Test(frame, failure_is_sticky)
{
	static const uint8_t z[4] = { 0 };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;
	struct dob_msg m;
	uint8_t *f;
	size_t len, used = 99;

	sample_msg(DOB_MSG_PING, &m);
	cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &f, &len, NULL), 0);
	dob_msg_clear(&m);
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	cr_assert_eq(feed_all(&d, z, sizeof z, &err), -DOB_EFRAME_EMPTY);
	cr_assert_eq(dob_decoder_feed(&d, f, len, &used, &m, &err), -DOB_EFRAME_EMPTY);
	cr_assert_eq(used, 0);
	cr_assert_eq(err.perr, DOB_PERR_FRAME_EMPTY);
	cr_assert_not_null(strstr(err.reason, "failed earlier"), "%s", err.reason);
	cr_assert_eq(dob_decoder_finish(&d, &err), -DOB_EFRAME_EMPTY);
	dob_decoder_free(&d);
	dob_free(f);
}

Test(frame, reports_truncated_length_at_end_of_stream)
{
	static const uint8_t part[3] = { 57, 0, 0 };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	cr_assert_eq(feed_all(&d, part, sizeof part, &err), 0);
	cr_assert_not(dob_decoder_idle(&d));
	cr_assert_eq(dob_decoder_finish(&d, &err), -DOB_ETRUNCATED);
	cr_assert_eq(err.perr, DOB_PERR_TRUNCATED);
	cr_assert_str_eq(err.reason, "stream ended after 3 of 4 length bytes");
	dob_decoder_free(&d);
}

Test(frame, reports_truncated_body_at_end_of_stream)
{
	uint8_t part[14] = { 57, 0, 0, 0, 0x08, 0x01 };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;
	int64_t live = dob_alloc_live();

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	cr_assert_eq(feed_all(&d, part, sizeof part, &err), 0);
	cr_assert_not(dob_decoder_idle(&d));
	cr_assert_eq(dob_decoder_finish(&d, &err), -DOB_ETRUNCATED);
	cr_assert_eq(err.perr, DOB_PERR_TRUNCATED);
	cr_assert_str_eq(err.reason, "stream ended after 10 of 57 body bytes");
	dob_decoder_free(&d);
	cr_assert_eq(dob_alloc_live(), live, "the partial body is freed");
}

Test(frame, free_releases_a_partial_body)
{
	uint8_t part[10] = { 200, 0, 0, 0 };
	struct dob_decoder d;
	int64_t live = dob_alloc_live();

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	cr_assert_eq(feed_all(&d, part, sizeof part, NULL), 0);
	cr_assert_gt(dob_alloc_live(), live);
	dob_decoder_free(&d);
	cr_assert_eq(dob_alloc_live(), live);
}

Test(frame, passes_on_the_reason_of_a_bad_body_and_stops)
{
	struct wire body = { 0 }, env = { 0 }, frame;
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;

	wire_guid(&body, 1, 15);
	wire_varint(&body, 3, DOB_ACTION_CANCEL);
	wire_varint(&env, 1, 1);
	wire_msg(&env, 20, &body);
	wire_frame(&frame, &env);
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	cr_assert_eq(feed_all(&d, frame.b, frame.n, &err), -DOB_EFIELD);
	cr_assert_eq(err.perr, DOB_PERR_INVALID_FIELD);
	cr_assert_str_eq(err.reason, "act.job_id: 15 bytes, want 16");
	cr_assert_eq(feed_all(&d, frame.b, frame.n, &err), -DOB_EFIELD);
	cr_assert_eq(err.perr, DOB_PERR_INVALID_FIELD);
	dob_decoder_free(&d);
}

Test(frame, out_of_memory_for_a_body_is_clean)
{
	uint8_t part[10] = { 200, 0, 0, 0 };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;
	int64_t live = dob_alloc_live();

	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	dob_alloc_fail_at(1);
	cr_assert_eq(feed_all(&d, part, sizeof part, &err), -DOB_ENOMEM);
	cr_assert_not_null(strstr(err.reason, "200"), "%s", err.reason);
	dob_decoder_free(&d);
	cr_assert_eq(dob_alloc_live(), live);
}

Test(frame, random_bytes_stop_the_decoder_cleanly)
{
	int64_t live = dob_alloc_live();

	srand(777);
	for (int round = 0; round < 2000; round++) {
		struct dob_codec_error err = { 0 };
		struct dob_decoder d;
		uint8_t buf[300];
		size_t len = (size_t)rand() % sizeof buf;
		int rc;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		if (round % 2 && len >= 4)
			dob_put_u32le(buf, (uint32_t)(len - 4)); /* a plausible length */
		dob_decoder_init(&d, 1024);
		rc = feed_all(&d, buf, len, &err);
		if (rc == 0)
			rc = dob_decoder_finish(&d, &err);
		cr_assert(rc == 0 || rc == -DOB_EFRAME_TOO_LARGE || rc == -DOB_EFRAME_EMPTY ||
			  rc == -DOB_ETRUNCATED || rc == -DOB_EMALFORMED || rc == -DOB_EFIELD,
			  "round %d: %d", round, rc);
		if (rc < 0) {
			cr_assert_eq(err.code, rc);
			cr_assert_neq(err.perr, DOB_PERR_UNSPECIFIED);
		}
		dob_decoder_free(&d);
	}
	cr_assert_eq(dob_alloc_live(), live);
}
