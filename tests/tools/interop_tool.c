/*
 * interop_tool - the C side of the interop test (tests/interop/interop.py).
 *
 *   interop_tool encode FILE [NAME...]
 *       writes the sample frames to FILE (all of them in order, or the named
 *       ones), each a u32 LE length + Envelope as on the wire.
 *   interop_tool check FILE
 *       decodes the frames of FILE (written by another protobuf runtime) with
 *       the incremental decoder and compares every field of frame i with
 *       sample i. Prints "ok NAME" or one line per mismatched field, then
 *       "N passed, N failed"; exits 1 on any mismatch or decode error.
 *
 * The samples are defined once, in tests/interop/samples.json (read there for
 * what each one holds); the Makefile generates interop_samples.h from it.
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

static int find(const char *name)
{
	for (int i = 0; i < DOB_SAMPLES_N; i++)
		if (strcmp(dob_sample_names[i], name) == 0)
			return i;
	return -1;
}

static int encode_one(FILE *f, int i)
{
	struct dob_msg m;
	struct dob_codec_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	dob_sample_fill(i, &m);
	rc = dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &buf, &len, &err);
	dob_msg_clear(&m);
	if (rc < 0) {
		fprintf(stderr, "interop_tool: encoding %s: %s (%s)\n", dob_sample_names[i],
			err.reason, dob_strerror(rc));
		return -1;
	}
	if (fwrite(buf, 1, len, f) != len) {
		perror("interop_tool: write");
		dob_free(buf);
		return -1;
	}
	dob_free(buf);
	return 0;
}

static int cmd_encode(const char *path, int nnames, char **names)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f) {
		perror(path);
		return 2;
	}
	if (nnames == 0) {
		for (int i = 0; i < DOB_SAMPLES_N && rc == 0; i++)
			rc = encode_one(f, i);
	}
	for (int k = 0; k < nnames && rc == 0; k++) {
		int i = find(names[k]);
		if (i < 0) {
			fprintf(stderr, "interop_tool: no sample named %s\n", names[k]);
			rc = -1;
		} else {
			rc = encode_one(f, i);
		}
	}
	if (fclose(f) != 0)
		rc = -1;
	return rc < 0 ? 1 : 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f) {
		perror(path);
		return NULL;
	}
	do {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

static int cmd_check(const char *path)
{
	struct dob_decoder d;
	struct dob_codec_error err;
	size_t len, off = 0;
	uint8_t *buf = read_file(path, &len);
	int passed = 0, failed = 0, frame = 0;

	if (!buf)
		return 2;
	dob_decoder_init(&d, DOB_MAX_FRAME_DEFAULT);
	while (off < len) {
		struct dob_msg m;
		size_t used = 0;
		int rc = dob_decoder_feed(&d, buf + off, len - off, &used, &m, &err);

		if (rc < 0) {
			printf("FAIL frame %d: %s (%s)\n", frame, err.reason, dob_strerror(rc));
			failed++;
			break;
		}
		off += used;
		if (rc == 0)
			break;
		if (frame >= DOB_SAMPLES_N) {
			printf("FAIL frame %d: more frames than the %d samples\n", frame, DOB_SAMPLES_N);
			failed++;
		} else if (dob_sample_check(frame, &m) == 0) {
			printf("ok %s\n", dob_sample_names[frame]);
			passed++;
		} else {
			printf("FAIL %s\n", dob_sample_names[frame]);
			failed++;
		}
		dob_msg_clear(&m);
		frame++;
	}
	if (failed == 0 && dob_decoder_finish(&d, &err) < 0) {
		printf("FAIL end of file: %s\n", err.reason);
		failed++;
	}
	if (failed == 0 && frame != DOB_SAMPLES_N) {
		printf("FAIL %d frames, want %d\n", frame, DOB_SAMPLES_N);
		failed++;
	}
	dob_decoder_free(&d);
	free(buf);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "encode") == 0)
		return cmd_encode(argv[2], argc - 3, argv + 3);
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2]);
	fprintf(stderr, "usage: %s encode FILE [NAME...] | check FILE\n", argv[0]);
	return 2;
}
