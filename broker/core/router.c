/*
 * broker/core/router.c - encoded frames, per-session output queues with
 * drop-and-Gap backpressure, batched writes, and event fan-out.
 *
 * An event is encoded once and the frame shared (refcounted) by every
 * session it is queued on. Each session has one bounded queue: at the soft
 * limit non-error events (JobTransferred, JobModified) are dropped and
 * counted until the queue drains below half the soft limit, when a Gap is
 * queued first; JobError, Resolution and replies are never dropped; past the
 * hard limit the session is closed with TOO_SLOW. Nothing here waits on a
 * subscriber: a queue only grows, and the platform takes one batch of
 * frames per write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "broker_int.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

/* ---------------------------------------------------------------- frames */

/* One pass of the codec (validate, convert, pack) into a buffer of the exact
 * size, then copied behind the frame's header: sizing the frame first with
 * dob_frame_size cost a second whole pass (docs/performance.md). */
static struct frame *encode_raw(const struct dob_msg *m, uint32_t max_frame,
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
		snprintf(e->reason, sizeof(e->reason), "out of memory");
		return NULL;
	}
	memcpy(f->data, buf, n);
	dob_free(buf);
	f->refs = 1;
	f->len = (uint32_t)n;
	return f;
}

/* Cuts s to at most max bytes on a UTF-8 boundary, marking the cut. */
static void shorten(char *s, size_t max)
{
	size_t n;

	if (!s || strlen(s) <= max)
		return;
	n = max - 3;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
}

static void shorten_error(struct dob_error_info *e, size_t max)
{
	shorten(e->description, max);
	shorten(e->context_description, max);
	shorten(e->protocol, 64);
	shorten(e->file.remote_url, max);
	shorten(e->file.local_name, max);
}

/* A copy of event m with every long text cut to max bytes. */
static int shortened_copy(struct dob_msg *dst, const struct dob_msg *m, size_t max)
{
	int rc = dob_msg_copy(dst, m);

	if (rc)
		return rc;
	switch (dst->type) {
	case DOB_MSG_JOB_ERROR:
		shorten_error(&dst->u.job_error.error, max);
		shorten(dst->u.job_error.job.display_name, max);
		break;
	case DOB_MSG_JOB_MODIFIED:
		shorten_error(&dst->u.job_modified.error, max);
		shorten(dst->u.job_modified.job.display_name, max);
		break;
	case DOB_MSG_RESOLUTION:
		shorten(dst->u.resolution.message, max);
		break;
	default:
		break;
	}
	return 0;
}

struct frame *frame_encode(struct broker *b, const struct dob_msg *m)
{
	struct dob_codec_error e;
	struct frame *f;

	memset(&e, 0, sizeof(e));
	f = encode_raw(m, b->cfg.max_frame, &e);
	if (f || e.code == -DOB_ENOMEM)
		goto out;
	/* Too large (a 32767-character local path, long descriptions): the
	 * event must still go out, with its long texts shortened. */
	for (size_t max = 1024; max >= 64 && !f; max /= 4) {
		struct dob_msg tmp;
		if (shortened_copy(&tmp, m, max))
			break;
		f = encode_raw(&tmp, b->cfg.max_frame, &e);
		dob_msg_clear(&tmp);
	}
	if (f)
		log_warn("%s shortened to fit max-frame %u", dob_msg_type_name(m->type),
			 b->cfg.max_frame);
out:
	if (!f)
		log_error("cannot encode %s: %s", dob_msg_type_name(m->type), e.reason);
	return f;
}

struct frame *frame_encode_fit(struct broker *b, struct dob_msg *m, size_t *n_items,
			       char **message, const char *what)
{
	size_t total = *n_items;
	char text[128];

	for (;;) {
		int64_t size;
		if (*n_items < total) {
			snprintf(text, sizeof(text), "truncated: %llu of %llu %s fit in one frame",
				 (unsigned long long)*n_items, (unsigned long long)total, what);
			*message = text;
		}
		size = dob_frame_size(m);
		if (size >= 0 && size <= (int64_t)b->cfg.max_frame + DOB_FRAME_HDR) {
			struct frame *f = frame_encode(b, m);
			*message = NULL;
			return f;
		}
		if (size < 0 || *n_items == 0)
			break;
		*n_items = *n_items * 3 / 4;
	}
	*message = NULL;
	return frame_encode(b, m); /* logs why */
}

void frame_unref(struct frame *f)
{
	if (f && --f->refs == 0)
		dob_free(f);
}

/* ---------------------------------------------------------------- queues */

static bool droppable(enum dob_event_kind kind)
{
	return kind == DOB_EVENT_JOB_TRANSFERRED || kind == DOB_EVENT_JOB_MODIFIED;
}

static int q_push(struct session *s, struct frame *f, enum dob_event_kind kind)
{
	if (s->q_len == s->q_cap) {
		size_t cap = s->q_cap ? s->q_cap * 2 : 16;
		struct qent *q = dob_malloc(cap * sizeof(*q));
		if (!q)
			return -DOB_ENOMEM;
		for (size_t i = 0; i < s->q_len; i++)
			q[i] = s->q[(s->q_head + i) % s->q_cap];
		dob_free(s->q);
		s->q = q;
		s->q_cap = cap;
		s->q_head = 0;
	}
	f->refs++;
	s->q[(s->q_head + s->q_len) % s->q_cap] = (struct qent){ f, kind };
	s->q_len++;
	return 0;
}

static struct qent *q_at(struct session *s, size_t i)
{
	return &s->q[(s->q_head + i) % s->q_cap];
}

static void q_pop(struct session *s)
{
	frame_unref(q_at(s, 0)->f);
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
}

void session_drop_queue(struct session *s)
{
	while (s->q_len)
		q_pop(s);
	s->dropping = false;
	s->gap_count = 0;
}

static size_t gap_threshold(const struct session *s)
{
	size_t t = s->b->cfg.queue_soft_limit / 2;
	return t ? t : 1;
}

/* Once the queue has drained below half the soft limit, the Gap for what
 * was dropped goes out ahead of anything newer. */
static void maybe_gap(struct session *s)
{
	struct dob_msg m;
	struct frame *f;

	if (!s->dropping || s->q_len >= gap_threshold(s))
		return;
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_GAP;
	m.u.gap.dropped = s->gap_count;
	m.u.gap.first_dropped_seq = s->gap_first;
	m.u.gap.last_dropped_seq = s->gap_last;
	f = frame_encode(s->b, &m);
	if (!f)
		return; /* retried at the next drain */
	if (q_push(s, f, 0) == 0) {
		s->dropping = false;
		s->gap_count = 0;
	}
	frame_unref(f);
}

/* A droppable event seq is not sent to s: counted for its next Gap. */
static void note_drop(struct session *s, uint64_t seq)
{
	if (!s->dropping || s->gap_count == 0)
		s->gap_first = seq;
	s->dropping = true;
	s->gap_count++;
	s->gap_last = seq;
	s->dropped++;
	s->b->dropped++;
}

void session_push(struct session *s, struct frame *f, enum dob_event_kind kind, uint64_t seq)
{
	struct broker *b = s->b;

	if (s->state != SESS_ACTIVE && !(s->state == SESS_HELLO && kind == 0))
		return;
	maybe_gap(s);
	if (droppable(kind) && (s->dropping || s->q_len >= b->cfg.queue_soft_limit)) {
		note_drop(s, seq);
		return;
	}
	if (s->q_len >= b->cfg.queue_hard_limit) {
		session_fail(s, DOB_PERR_TOO_SLOW,
			     "the client did not read: %llu frames queued (hard limit %u)",
			     (unsigned long long)s->q_len,
			     b->cfg.queue_hard_limit);
		return;
	}
	if (q_push(s, f, kind)) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	if (kind) {
		s->events_out++;
		b->events_out++;
	}
	session_flush(s);
}

void session_flush(struct session *s)
{
	size_t total = 0, k = 0, off = 0;
	uint8_t *buf;
	int rc;

	if (s->writing || !s->conn || s->state == SESS_DEAD || s->state == SESS_CLOSING)
		return;
	if (s->q_len == 0)
		return;
	while (k < s->q_len) {
		size_t len = q_at(s, k)->f->len;
		if (k > 0 && total + len > BATCH_MAX)
			break;
		total += len;
		k++;
	}
	buf = dob_malloc(total);
	if (!buf) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	for (size_t i = 0; i < k; i++) {
		const struct frame *f = q_at(s, 0)->f;
		memcpy(buf + off, f->data, f->len);
		off += f->len;
		q_pop(s);
	}
	s->wbuf = buf;
	s->writing = true;
	dob_log_flush(); /* the log shows what a peer is about to see */
	rc = plat_conn_write(s->conn, buf, total);
	if (rc < 0) {
		/* The platform did not take it: the connection is broken. */
		if (s->wbuf == buf) {
			s->wbuf = NULL;
			s->writing = false;
			dob_free(buf);
		}
		log_warn("session %llu: write failed: %s", (unsigned long long)s->id,
			 dob_strerror(rc));
		plat_conn_set_data(s->conn, NULL);
		plat_conn_close(s->conn);
		s->conn = NULL;
		s->state = SESS_DEAD;
		return;
	}
	maybe_gap(s);
}

void session_write_last(struct session *s, const struct frame *f)
{
	if (f && s->conn) {
		uint8_t *buf = dob_malloc(f->len);
		if (buf) {
			memcpy(buf, f->data, f->len);
			dob_log_flush();
			/* The platform finishes this write after we let go of
			 * the connection: the buffer lingers. */
			if (plat_conn_write(s->conn, buf, f->len) == 0)
				broker_linger(s->b, buf);
			else
				dob_free(buf);
		}
	}
	if (s->conn) {
		plat_conn_set_data(s->conn, NULL);
		plat_conn_close_after_write(s->conn);
		s->conn = NULL;
	}
	s->state = SESS_DEAD;
}

void session_sent(struct session *s)
{
	dob_free(s->wbuf);
	s->wbuf = NULL;
	s->writing = false;
	if (s->state == SESS_CLOSING) {
		struct frame *f = s->final;
		s->final = NULL;
		if (s->close_timer) {
			timer_cancel(s->b->timers, s->close_timer);
			s->close_timer = NULL;
		}
		session_write_last(s, f);
		frame_unref(f);
		return;
	}
	maybe_gap(s);
	session_replay_more(s);
	session_flush(s);
}

/* ---------------------------------------------------------------- routing */

bool router_filter_match(const struct dob_filter *f, const struct dob_guid *job,
			 const char *display_name, enum dob_event_kind kind)
{
	if (f->kind_mask && !(f->kind_mask & (1u << kind)))
		return false;
	if (f->n_job_ids) {
		size_t i;
		for (i = 0; i < f->n_job_ids; i++)
			if (memcmp(&f->job_ids[i], job, sizeof(*job)) == 0)
				break;
		if (i == f->n_job_ids)
			return false;
	}
	if (f->display_name_prefix && *f->display_name_prefix) {
		size_t n = strlen(f->display_name_prefix);
		if (!display_name || strncmp(display_name, f->display_name_prefix, n) != 0)
			return false;
	}
	return true;
}

/* Event seq of kind could not be encoded for s (out of memory). Progress
 * is counted in the session's next Gap like any dropped event. An error or
 * a resolution is never dropped in silence: the session is closed with the
 * reason, and the subscriber that reconnects is replayed every pending
 * episode. */
static void session_lost(struct session *s, enum dob_event_kind kind, uint64_t seq,
			 enum dob_msg_type type)
{
	if (droppable(kind)) {
		note_drop(s, seq);
		maybe_gap(s);
		session_flush(s);
		return;
	}
	session_fail(s, DOB_PERR_UNSPECIFIED,
		     "broker out of memory: a %s for you was lost; reconnect to be replayed "
		     "every pending episode",
		     dob_msg_type_name(type));
}

void router_publish(struct broker *b, const struct dob_msg *m, enum dob_event_kind kind,
		    const struct mjob *j)
{
	struct frame *f = NULL;
	bool encoded = false;
	uint64_t seq = ++b->event_seq;

	for (struct session *s = b->sessions; s; s = s->next) {
		if (s->state != SESS_ACTIVE)
			continue;
		if (!authz_can_see(&s->ident, &j->owner))
			continue;
		if (!router_filter_match(&s->filter, &j->id, j->display_name, kind))
			continue;
		if (!encoded) {
			f = frame_encode(b, m); /* logs why when it cannot */
			encoded = true;
		}
		if (f)
			session_push(s, f, kind, seq);
		else
			session_lost(s, kind, seq, m->type);
	}
	frame_unref(f);
}
