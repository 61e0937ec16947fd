/*
 * fuzz_frame.c - libFuzzer target: the incremental frame decoder and codec.
 *
 * Input: one control byte, then the byte stream. The control byte picks the
 * decoder's max_frame (low 2 bits) and how many bytes each feed gets (the
 * other 6 bits; 0 = everything at once). Every message that comes out is
 * copied, re-encoded and decoded again, and each result must equal it
 * (msgcmp): a decoded message is valid, so it must encode, and the codec
 * must not lose or change a field on the way. The same bytes (after the
 * control byte) are also decoded as one journal record, checked the same way.
 * An event's body packed alone and wrapped (dob_body_pack, dob_frame_wrap)
 * must be the same bytes as its whole encoding, and so must a JournalEpisode
 * record wrapped around its packed JobError (dob_jrec_wrap_episode).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "msgcmp.h"

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_frame: %s: %s\n", what, why);
	abort();
}

static void check(const struct dob_msg *m)
{
	struct dob_codec_error err = { 0 };
	struct dob_msg again, copy;
	uint8_t *buf;
	size_t len;
	char why[256];

	if (dob_msg_copy(&copy, m) < 0)
		die("copy", "out of memory");
	if (!msgcmp_msg(m, &copy, why, sizeof why))
		die("copy differs", why);
	dob_msg_clear(&copy);

	if (dob_encode(m, DOB_MAX_FRAME_CEILING, &buf, &len, &err) < 0)
		die("a decoded message does not encode", err.reason);
	if (dob_frame_size(m) != (int64_t)len)
		die("dob_frame_size", "differs from the encoded length");
	if (dob_decode(buf + DOB_FRAME_HDR, len - DOB_FRAME_HDR, &again, &err) < 0)
		die("a re-encoded message does not decode", err.reason);
	if (!msgcmp_msg(m, &again, why, sizeof why))
		die("round trip differs", why);
	dob_msg_clear(&again);
	if (m->correlation_id == 0) {
		uint8_t *body, *w;
		size_t blen;

		if (dob_body_pack(m, &body, &blen, &err) < 0) {
			/* Only the handshake and errors are not events. */
			if (m->type == DOB_MSG_JOB_ERROR || m->type == DOB_MSG_RESOLUTION)
				die("an event's body does not pack", err.reason);
		} else {
			if (dob_frame_wrap_size(m->type, blen) != (int64_t)len)
				die("dob_frame_wrap_size", "differs from the encoded length");
			if (!(w = malloc(len)))
				die("wrap", "out of memory");
			if (dob_frame_wrap(m->type, body, blen, DOB_MAX_FRAME_CEILING, w, len, &err) !=
				    (int64_t)len ||
			    memcmp(w, buf, len) != 0)
				die("a wrapped body differs from the encoded frame", err.reason);
			free(w);
			dob_free(body);
		}
	}
	dob_free(buf);
}

static void check_jrec(const uint8_t *b, size_t n)
{
	struct dob_codec_error err = { 0 };
	struct dob_jrec r, again;
	uint8_t *buf;
	size_t len;
	char why[256];

	if (dob_jrec_decode(b, n, &r, &err) < 0) {
		if (!err.reason[0])
			die("journal record error without its reason", dob_strerror(err.code));
		return;
	}
	if (dob_jrec_encode(&r, &buf, &len, &err) < 0)
		die("a decoded record does not encode", err.reason);
	if (dob_jrec_decode(buf, len, &again, &err) < 0)
		die("a re-encoded record does not decode", err.reason);
	if (!msgcmp_jrec(&r, &again, why, sizeof why))
		die("record round trip differs", why);
	if (r.type == DOB_JREC_EPISODE) {
		struct dob_msg m = { .type = DOB_MSG_JOB_ERROR };
		uint8_t *body, *w;
		size_t blen, wlen;

		m.u.job_error = r.u.episode.event;
		if (dob_body_pack(&m, &body, &blen, &err) < 0)
			die("a journaled JobError does not pack", err.reason);
		if (dob_jrec_wrap_episode(r.u.episode.episode_id, body, blen, &w, &wlen, &err) < 0)
			die("wrap", err.reason);
		if (wlen != len || memcmp(w, buf, len) != 0)
			die("a wrapped JobError differs from the encoded record", "bytes");
		dob_free(w);
		dob_free(body);
	}
	dob_jrec_clear(&again);
	dob_jrec_clear(&r);
	dob_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t maxes[4] = { 16, 300, 4096, DOB_MAX_FRAME_DEFAULT };
	struct dob_codec_error err = { 0 };
	struct dob_decoder d;
	size_t split, pos = 1;
	int rc = 0;

	if (size < 1)
		return 0;
	check_jrec(data + 1, size - 1);
	split = data[0] >> 2 ? (size_t)(data[0] >> 2) : SIZE_MAX;
	dob_decoder_init(&d, maxes[data[0] & 3]);
	while (rc >= 0 && pos < size) {
		size_t chunk = size - pos < split ? size - pos : split, off = 0;

		while (rc >= 0 && off < chunk) {
			struct dob_msg m;
			size_t used;

			rc = dob_decoder_feed(&d, data + pos + off, chunk - off, &used, &m, &err);
			off += used;
			if (rc == 1) {
				check(&m);
				dob_msg_clear(&m);
			}
		}
		pos += chunk;
	}
	if (rc >= 0)
		rc = dob_decoder_finish(&d, &err);
	if (rc < 0 && (err.code != rc || !err.reason[0]))
		die("error without its reason", dob_strerror(rc));
	dob_decoder_free(&d);
	return 0;
}
