/*
 * broker/core/outq.h - one subscriber's output queue: encoded frames waiting
 * for the connection, bounded in frames and in bytes, with drop-and-Gap for
 * non-error traffic.
 *
 * Limits (Redis's client-output-buffer-limit counts bytes; so do we, and
 * frames too):
 *   soft  (frames or bytes): droppable frames (JobTransferred, JobModified)
 *         are dropped and counted until the queue drains below half the
 *         soft limits; then a Gap naming what was lost goes out first.
 *   hard  (frames or bytes): a frame that would go past it is refused
 *         (-DOB_EFULL): the owner disconnects the subscriber (TOO_SLOW).
 * Frames that are not droppable (JobError, Resolution, replies, Welcome)
 * are never dropped: they are queued or the subscriber is disconnected.
 *
 * The queue never writes: its owner takes batches (outq_take) when it
 * starts a write (router_flush_all).
 */
#ifndef DOB_OUTQ_H
#define DOB_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/codec.h"
#include "dob/msg.h"

/* One encoded frame (length prefix included), shared by every queue it is
 * on. */
struct frame {
	uint32_t refs;
	uint32_t len;
	uint8_t data[];
};

/* Encodes m into a new frame (refs = 1), or NULL with *e filled. */
struct frame *frame_from_msg(const struct dob_msg *m, uint32_t max_frame,
			     struct dob_codec_error *e);
/* The frame of an event whose body is already packed (dob_body_pack), or
 * NULL with e set (too large for max_frame, out of memory). */
struct frame *frame_from_body(uint32_t type, const uint8_t *body, size_t len, uint32_t max_frame,
			      struct dob_codec_error *e);
void frame_unref(struct frame *f); /* NULL-safe */

struct outq_limits {
	uint32_t soft_frames, hard_frames; /* soft < hard */
	uint64_t soft_bytes, hard_bytes;   /* soft < hard; hard >= one frame */
};

struct outq;

int outq_new(struct outq **out, const struct outq_limits *lim);
void outq_free(struct outq *q); /* NULL-safe */

enum outq_push_result {
	OUTQ_QUEUED = 0,  /* on the queue (a new reference to f taken) */
	OUTQ_DROPPED = 1, /* droppable and the queue is past its soft limit:
			   * counted for the next Gap */
};
/* Queues f, or drops it when droppable (seq is its event sequence number,
 * named in the Gap). Negative: -DOB_EFULL (past a hard limit, nothing
 * queued) or -DOB_ENOMEM. */
int outq_push(struct outq *q, struct frame *f, bool droppable, uint64_t seq);
/* Counts an event that could not even be encoded as dropped. */
void outq_note_drop(struct outq *q, uint64_t seq);

/* Moves frames from the head into one new buffer (dob_free it): at most
 * max bytes, but one frame at least. 0 with *buf, *n; -DOB_EAGAIN when
 * the queue is empty; -DOB_ENOMEM (nothing taken). */
int outq_take(struct outq *q, size_t max, uint8_t **buf, size_t *n);
/* Drops every queued frame and forgets pending drops. */
void outq_clear(struct outq *q);

size_t outq_frames(const struct outq *q);
uint64_t outq_bytes(const struct outq *q);
/* Below both soft limits (room for a replayed episode). */
bool outq_below_soft(const struct outq *q);
/* Droppable frames dropped so far. */
uint64_t outq_dropped(const struct outq *q);

#endif
