/*
 * dob/codec.h - frames and the Envelope codec.
 *
 * A frame is a u32 little-endian length N (1 <= N <= max_frame) followed by N
 * bytes of one serialized dobroker.v1.Envelope. The length is checked before
 * any allocation. Decoding validates every field (oneof set, enums in range,
 * GUIDs exactly 16 bytes, strings bounded and valid UTF-8, correlation ids
 * present where required) and converts to struct dob_msg (dob/msg.h);
 * protobuf-c types never leave proto/codec.c.
 */
#ifndef DOB_CODEC_H
#define DOB_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

#define DOB_FRAME_HDR 4
#define DOB_REASON_MAX 256

/* Why a decode failed: a negative dob_err code, the ProtocolError code to send
 * to the peer, and a human-readable reason naming the problem
 * ("job_error.job.job_id: 15 bytes, want 16"). */
struct dob_codec_error {
	int code;             /* -DOB_EFRAME_TOO_LARGE, -DOB_EMALFORMED, ... */
	enum dob_perr perr;   /* what to tell the peer */
	char reason[DOB_REASON_MAX];
};

/* --------------------------------------------------------- whole bodies */

/* Decode and validate one Envelope (the bytes after the length prefix).
 * On success *out owns its data (dob_msg_clear it); on failure *out is zeroed
 * and *err says why. err may be NULL. */
int dob_decode(const uint8_t *body, size_t len, struct dob_msg *out,
	       struct dob_codec_error *err);

/* Validate without encoding: 0 or -DOB_EFIELD with the reason in err. */
int dob_validate(const struct dob_msg *m, struct dob_codec_error *err);

/* Size of m's frame (prefix included) or a negative error (-DOB_EFIELD when
 * m is invalid). */
int64_t dob_frame_size(const struct dob_msg *m);

/* Validate m and write its frame into buf (cap bytes). Returns the frame size,
 * -DOB_EFIELD (invalid, reason in err), -DOB_EFRAME_TOO_LARGE (over max_frame)
 * or -DOB_EFULL (cap too small). */
int64_t dob_encode_into(const struct dob_msg *m, uint32_t max_frame, uint8_t *buf,
			size_t cap, struct dob_codec_error *err);

/* Same, into a new buffer (dob_free it). */
int dob_encode(const struct dob_msg *m, uint32_t max_frame, uint8_t **out,
	       size_t *out_len, struct dob_codec_error *err);

/* One encoding of an event for both the journal and the wire (codec.c says
 * why): dob_body_pack validates m (an event: correlation id 0) and packs its
 * body alone (dob_free it). dob_frame_wrap writes the frame an Envelope
 * holding that body would have, exactly as dob_encode_into would (same
 * returns); dob_frame_wrap_size is its size. dob_jrec_wrap_episode makes the
 * JournalRecord body of a JournalEpisode holding a packed JobError, exactly
 * as dob_jrec_encode would (dob_free it). */
int dob_body_pack(const struct dob_msg *m, uint8_t **out, size_t *out_len,
		  struct dob_codec_error *err);
int64_t dob_frame_wrap_size(uint32_t type, size_t body_len);
int64_t dob_frame_wrap(uint32_t type, const uint8_t *body, size_t body_len, uint32_t max_frame,
		       uint8_t *buf, size_t cap, struct dob_codec_error *err);
int dob_jrec_wrap_episode(uint64_t episode_id, const uint8_t *event, size_t event_len,
			  uint8_t **out, size_t *out_len, struct dob_codec_error *err);

/* --------------------------------------------------------- byte streams */

/* Incremental decoder: accepts bytes in any split, one at a time included. */
struct dob_decoder {
	uint32_t max_frame;
	uint8_t hdr[DOB_FRAME_HDR];
	size_t hdr_have;
	uint8_t *body;    /* owned; allocated once the length is known and checked */
	uint32_t body_len;
	uint32_t body_have;
	int failed;       /* 0, or the error that stopped it: sticky, after an
			   * error the decoder accepts nothing */
};

void dob_decoder_init(struct dob_decoder *d, uint32_t max_frame);
void dob_decoder_free(struct dob_decoder *d); /* frees a partial body */

/* Consume bytes from buf. Returns 1 when a message was completed (written to
 * *out; *used says how many bytes of buf were consumed, the rest is for the
 * next call), 0 when every byte was consumed and no message is complete yet,
 * or a negative error with *err filled (the decoder is then failed). */
int dob_decoder_feed(struct dob_decoder *d, const uint8_t *buf, size_t len,
		     size_t *used, struct dob_msg *out, struct dob_codec_error *err);

/* True when no partial frame is buffered. At end of stream, a decoder that
 * is not idle means the peer hung up mid-frame (-DOB_ETRUNCATED). */
int dob_decoder_idle(const struct dob_decoder *d);
int dob_decoder_finish(struct dob_decoder *d, struct dob_codec_error *err);

/* Little-endian length prefix helpers. */
void dob_put_u32le(uint8_t *p, uint32_t v);
uint32_t dob_get_u32le(const uint8_t *p);

/* --------------------------------------------------------- journal records */

/* JournalRecord body <-> struct dob_jrec (validated like messages). */
int dob_jrec_decode(const uint8_t *body, size_t len, struct dob_jrec *out,
		    struct dob_codec_error *err);
int dob_jrec_encode(const struct dob_jrec *r, uint8_t **out, size_t *out_len,
		    struct dob_codec_error *err);

/* Validate a record without encoding: 0 or -DOB_EFIELD. */
int dob_jrec_validate(const struct dob_jrec *r, struct dob_codec_error *err);

/* Checks the codec's field tables against the compiled schema (every field
 * present, names, numbers, types and enum ranges agreeing): 0, or -DOB_EINVAL
 * with the first disagreement in err. Run by the unit tests. */
int dob_codec_selfcheck(struct dob_codec_error *err);

/* CRC-32C (Castagnoli), as the journal stores it. */
uint32_t dob_crc32c(uint32_t crc, const void *data, size_t len);

/* UTF-8 check used by validation (exported for tests and the client). */
int dob_utf8_valid(const char *s, size_t len);

#endif
