/*
 * codec_test.exe - the codec and the cross-built protobuf-c runtime, on
 * Windows (run under Wine by scripts/check.sh).
 *
 * Round-trips every sample of tests/interop/samples.json (JobError with every
 * field, SubmitJob with files, Hello with a filter, ...), feeds bad frames
 * and checks their error codes, feeds a stream to the incremental decoder
 * one byte at a time, and checks that every allocation was freed. No
 * Criterion on MinGW: CHECK counts, and the last line is
 * "N passed, N failed" (exit 1 on any failure).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "dob/msg.h"
#include "interop_samples.h"

const char *protobuf_c_version(void); /* the runtime linked into libdobproto */

static int passed, failed;

#define CHECK(cond) check((cond), #cond, __LINE__)
#define CHECK_EQ(got, want) check_eq((int64_t)(got), (int64_t)(want), #got, __LINE__)

static int check(int ok, const char *what, int line)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		printf("FAIL line %d: %s\n", line, what);
	}
	return ok;
}

static int check_eq(int64_t got, int64_t want, const char *what, int line)
{
	if (got == want) {
		passed++;
		return 1;
	}
	failed++;
	printf("FAIL line %d: %s is %lld, want %lld\n", line, what, (long long)got, (long long)want);
	return 0;
}

/* Every sample: encode, check the prefix and size, decode, compare. */
static void round_trip_samples(void)
{
	for (int i = 0; i < DOB_SAMPLES_N; i++) {
		struct dob_msg m, out;
		struct dob_codec_error err;
		uint8_t *buf = NULL;
		size_t len = 0;

		dob_sample_fill(i, &m);
		if (!CHECK_EQ(dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &buf, &len, &err), 0)) {
			printf("  %s: %s\n", dob_sample_names[i], err.reason);
			dob_msg_clear(&m);
			continue;
		}
		CHECK_EQ(dob_frame_size(&m), len);
		CHECK_EQ(dob_get_u32le(buf), len - DOB_FRAME_HDR);
		if (CHECK_EQ(dob_decode(buf + DOB_FRAME_HDR, len - DOB_FRAME_HDR, &out, &err), 0)) {
			if (!CHECK_EQ(dob_sample_check(i, &out), 0))
				printf("  in sample %s\n", dob_sample_names[i]);
			dob_msg_clear(&out);
		} else {
			printf("  %s: %s\n", dob_sample_names[i], err.reason);
		}
		dob_free(buf);
		dob_msg_clear(&m);
	}
}

/* dob_encode_into: exactly enough room works, one byte less is -DOB_EFULL. */
static void encode_into_bounds(void)
{
	struct dob_msg m;
	uint8_t buf[4096];
	int64_t size;

	dob_sample_fill(3, &m); /* job_error, the largest */
	size = dob_frame_size(&m);
	if (CHECK(size > DOB_FRAME_HDR && size <= (int64_t)sizeof buf)) {
		CHECK_EQ(dob_encode_into(&m, DOB_MAX_FRAME_DEFAULT, buf, (size_t)size, NULL), size);
		CHECK_EQ(dob_encode_into(&m, DOB_MAX_FRAME_DEFAULT, buf, (size_t)size - 1, NULL),
			 -DOB_EFULL);
		CHECK_EQ(dob_encode_into(&m, (uint32_t)size - DOB_FRAME_HDR - 1, buf, sizeof buf, NULL),
			 -DOB_EFRAME_TOO_LARGE);
	}
	dob_msg_clear(&m);
}

/* Feeds bytes to a fresh decoder (max 64 KiB); returns the feed result. */
static int feed(struct dob_decoder *d, const uint8_t *b, size_t n, struct dob_codec_error *err)
{
	struct dob_msg m;
	size_t used = 0;
	int rc = dob_decoder_feed(d, b, n, &used, &m, err);
	if (rc == 1)
		dob_msg_clear(&m);
	return rc;
}

static void bad_frames(void)
{
	struct dob_decoder d;
	struct dob_codec_error err;
	struct dob_msg m;

	/* Length prefix 0. */
	static const uint8_t zero[] = { 0, 0, 0, 0 };
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	CHECK_EQ(feed(&d, zero, sizeof zero, &err), -DOB_EFRAME_EMPTY);
	CHECK_EQ(err.perr, DOB_PERR_FRAME_EMPTY);
	CHECK(feed(&d, zero, 1, &err) < 0); /* failed for good */
	dob_decoder_free(&d);

	/* One byte over the limit: refused before any allocation of its size. */
	uint8_t big[4];
	dob_put_u32le(big, DOB_MAX_FRAME_DEFAULT + 1);
	dob_alloc_reset();
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	CHECK_EQ(feed(&d, big, sizeof big, &err), -DOB_EFRAME_TOO_LARGE);
	CHECK_EQ(err.perr, DOB_PERR_FRAME_TOO_LARGE);
	CHECK(dob_alloc_largest() <= DOB_MAX_FRAME_DEFAULT);
	dob_decoder_free(&d);

	/* Exactly the limit is a valid header; the stream then ends inside the
	 * body, and inside a header. */
	dob_put_u32le(big, DOB_MAX_FRAME_DEFAULT);
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	CHECK_EQ(feed(&d, big, sizeof big, &err), 0);
	CHECK(!dob_decoder_idle(&d));
	CHECK_EQ(dob_decoder_finish(&d, &err), -DOB_ETRUNCATED);
	CHECK_EQ(err.perr, DOB_PERR_TRUNCATED);
	dob_decoder_free(&d);
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	CHECK_EQ(feed(&d, big, 2, &err), 0);
	CHECK_EQ(dob_decoder_finish(&d, &err), -DOB_ETRUNCATED);
	dob_decoder_free(&d);

	/* Not protobuf: the hello field claims 5 bytes, 1 follows. */
	static const uint8_t cut[] = { 0x12, 0x05, 0x08 };
	CHECK_EQ(dob_decode(cut, sizeof cut, &m, &err), -DOB_EMALFORMED);
	CHECK_EQ(err.perr, DOB_PERR_MALFORMED);

	/* Valid protobuf, invalid field: a Hello whose filter holds a 15-byte
	 * job id. The reason must name the field. */
	static const uint8_t guid15[] = {
		0x12, 0x1c,                   /* hello, 28 bytes */
		0x08, 0x01, 0x10, 0x01,       /* min_version 1, max_version 1 */
		0x1a, 0x01, 'x',              /* client_name "x" */
		0x20, 0x01,                   /* role OBSERVER */
		0x2a, 0x11, 0x0a, 0x0f,       /* filter { job_ids: 15 bytes } */
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	};
	CHECK_EQ(dob_decode(guid15, sizeof guid15, &m, &err), -DOB_EFIELD);
	CHECK_EQ(err.perr, DOB_PERR_INVALID_FIELD);
	CHECK(strstr(err.reason, "job_ids") != NULL);
	/* The same bytes with a 16th byte of id decode (the test frame is sound). */
	static const uint8_t guid16[] = {
		0x12, 0x1d, 0x08, 0x01, 0x10, 0x01, 0x1a, 0x01, 'x', 0x20, 0x01,
		0x2a, 0x12, 0x0a, 0x10,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	};
	if (CHECK_EQ(dob_decode(guid16, sizeof guid16, &m, &err), 0)) {
		CHECK_EQ(m.type, DOB_MSG_HELLO);
		CHECK_EQ(m.u.hello.filter.n_job_ids, 1);
		dob_msg_clear(&m);
	}

	/* The encoder validates too: a Hello without a role is refused. */
	uint8_t *buf = NULL;
	size_t len = 0;
	dob_sample_fill(0, &m);
	m.u.hello.role = DOB_ROLE_UNSPECIFIED;
	CHECK_EQ(dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &buf, &len, &err), -DOB_EFIELD);
	CHECK(buf == NULL);
	dob_msg_clear(&m);
}

/* Every sample's frame in one stream, fed one byte at a time, then all at
 * once: the same messages come out, in order. */
static void stream_decoding(void)
{
	uint8_t *stream = NULL;
	size_t len = 0;

	for (int i = 0; i < DOB_SAMPLES_N; i++) {
		struct dob_msg m;
		uint8_t *buf = NULL, *grown;
		size_t n = 0;

		dob_sample_fill(i, &m);
		int rc = dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &buf, &n, NULL);
		dob_msg_clear(&m);
		if (!CHECK_EQ(rc, 0))
			continue;
		grown = realloc(stream, len + n);
		if (!CHECK(grown != NULL)) {
			dob_free(buf);
			break;
		}
		stream = grown;
		memcpy(stream + len, buf, n);
		len += n;
		dob_free(buf);
	}

	for (int pass = 0; pass < 2; pass++) {
		struct dob_decoder d;
		struct dob_codec_error err;
		size_t off = 0;
		int frame = 0, bad = 0;

		dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
		while (off < len) {
			struct dob_msg m;
			size_t used = 0, n = pass == 0 ? 1 : len - off;
			int rc = dob_decoder_feed(&d, stream + off, n, &used, &m, &err);

			if (rc < 0 || used == 0 || used > n) {
				printf("FAIL pass %d at byte %u: rc %d used %u (%s)\n", pass,
				       (unsigned)off, rc, (unsigned)used, rc < 0 ? err.reason : "");
				bad++;
				break;
			}
			off += used;
			if (rc == 1) {
				if (frame >= DOB_SAMPLES_N || dob_sample_check(frame, &m) != 0)
					bad++;
				dob_msg_clear(&m);
				frame++;
			}
		}
		CHECK_EQ(bad, 0);
		CHECK_EQ(frame, DOB_SAMPLES_N);
		CHECK(dob_decoder_idle(&d));
		CHECK_EQ(dob_decoder_finish(&d, &err), 0);
		dob_decoder_free(&d);
	}
	free(stream);
}

int main(void)
{
	int64_t live = dob_alloc_live();

	printf("protobuf-c runtime %s, %d samples\n", protobuf_c_version(), DOB_SAMPLES_N);
	round_trip_samples();
	encode_into_bounds();
	bad_frames();
	stream_decoding();
	CHECK_EQ(dob_alloc_live(), live); /* everything allocated was freed */
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
