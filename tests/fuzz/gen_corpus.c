/*
 * gen_corpus.c - writes the seed corpus of fuzz_frame into a directory:
 * one valid frame of every message type, all of them back to back, a
 * catalogue of bad frames, and one journal record of every type (fuzz_frame
 * decodes its input as a record too). Each file starts with fuzz_frame's
 * control byte.
 *   usage: gen_corpus DIR      (make fuzz-corpus)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "samples.h"
#include "wire.h"

/* max_frame 65536 (3), fed in 7-byte pieces; or all at once. */
#define CTL_PIECES (3 | 7 << 2)
#define CTL_WHOLE 3

static const char *dir;

static void put(const char *name, uint8_t ctl, const void *b, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(&ctl, 1, 1, f) != 1 ||
	    (n && fwrite(b, 1, n, f) != n) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* A frame around the Envelope bytes in env. */
static void put_env(const char *name, const struct wire *env)
{
	struct wire frame;

	wire_frame(&frame, env);
	put(name, CTL_PIECES, frame.b, frame.n);
}

static void bad_frames(void)
{
	static const uint8_t zero[4] = { 0 }, huge[4] = { 0xFF, 0xFF, 0xFF, 0x7F };
	static const uint8_t part_len[3] = { 57, 0, 0 }, part_body[14] = { 57, 0, 0, 0, 8, 1 };
	struct wire body, env, extra = { 0 };

	put("bad-zero-length", CTL_WHOLE, zero, sizeof zero);
	put("bad-too-large", CTL_WHOLE, huge, sizeof huge);
	put("bad-truncated-length", CTL_WHOLE, part_len, sizeof part_len);
	put("bad-truncated-body", CTL_WHOLE, part_body, sizeof part_body);
	wire_act(&body, 15, 1);
	wire_envelope(&env, 1, 20, &body);
	put_env("bad-guid-15", &env);
	wire_act(&body, 17, 1);
	wire_envelope(&env, 1, 20, &body);
	put_env("bad-guid-17", &env);
	wire_act(&body, 16, 9);
	wire_envelope(&env, 1, 20, &body);
	put_env("bad-enum", &env);
	wire_act(&body, 16, 1);
	wire_envelope(&env, 0, 20, &body);
	put_env("bad-no-correlation", &env);
	wire_hello(&body, "ab\xC0\xAF", 4);
	wire_envelope(&env, 0, 2, &body);
	put_env("bad-utf8", &env);
	wire_hello(&body, "ab\0cd", 5);
	wire_envelope(&env, 0, 2, &body);
	put_env("bad-nul", &env);
	wire_hello(&body, "app", 3);
	put_env("bad-hello-not-envelope", &body);
	env.n = 0;
	wire_varint(&env, 1, 5);
	put_env("bad-no-body", &env);
	wire_act(&body, 16, 1);
	wire_varint(&body, 15, 99);
	wire_str(&extra, 1, "newer");
	wire_msg(&body, 16, &extra);
	wire_envelope(&env, 1, 20, &body);
	wire_msg(&env, 99, &extra);
	put_env("good-unknown-fields", &env);

	/* Inputs that made protobuf-c's runtime misbehave (undefined behaviour,
	 * scripts/patches/protobuf-c/0001-*.patch). */
	wire_act(&body, 16, 1);
	wire_varint(&body, (1u << 28) + 77, 1);
	wire_envelope(&env, 8, 20, &body);
	put_env("regress-large-field-number", &env);
	extra.n = 0;
	wire_bytes(&extra, 3, "", 0);
	wire_hello(&body, "app", 3);
	wire_msg(&body, 5, &extra);
	wire_envelope(&env, 0, 2, &body);
	put_env("regress-empty-packed-field", &env);
	body.n = 0;
	wire_envelope(&env, 3, 25, &body);
	put_env("regress-message-without-fields", &env);
}

int main(int argc, char **argv)
{
	uint8_t *all = NULL;
	size_t nall = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_codec_error err = { 0 };
		struct dob_msg m;
		char name[64];
		uint8_t *f;
		size_t len;

		sample_msg(sample_types[i], &m);
		if (dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &f, &len, &err) < 0) {
			fprintf(stderr, "gen_corpus: %s\n", err.reason);
			return 1;
		}
		snprintf(name, sizeof name, "valid-%s", dob_msg_type_name(m.type));
		put(name, CTL_PIECES, f, len);
		if (!(all = realloc(all, nall + len)))
			return 1;
		memcpy(all + nall, f, len);
		nall += len;
		dob_free(f);
		dob_msg_clear(&m);
	}
	put("valid-all-types-at-once", CTL_WHOLE, all, nall);
	put("valid-all-types-bytewise", 3 | 1 << 2, all, nall);
	free(all);
	for (size_t i = 0; i < sample_n_jrec_types; i++) {
		struct dob_codec_error err = { 0 };
		struct dob_jrec r;
		char name[64];
		uint8_t *b;
		size_t len;

		sample_jrec(sample_jrec_types[i], &r);
		if (dob_jrec_encode(&r, &b, &len, &err) < 0) {
			fprintf(stderr, "gen_corpus: %s\n", err.reason);
			return 1;
		}
		snprintf(name, sizeof name, "jrec-%d", (int)r.type);
		put(name, CTL_WHOLE, b, len);
		dob_free(b);
		dob_jrec_clear(&r);
	}
	bad_frames();
	return 0;
}
