/*
 * broker/core/router.c - encoded frames, event fan-out onto the sessions'
 * output queues (outq.c), and the writes that drain them.
 *
 * An event is encoded once and the frame shared (refcounted) by every
 * session it is queued on. Pushing only queues: router_flush_all starts the
 * writes, once per turn after the journal is durable, so no peer ever reads
 * something the journal could still lose. Each write ends in one sent()
 * with a status (platform.h), which gives the batch buffer back.
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
	f = frame_from_msg(m, b->cfg.max_frame, &e);
	if (f || e.code == -DOB_ENOMEM)
		goto out;
	/* Too large (a 32767-character local path, long descriptions): the
	 * event must still go out, with its long texts shortened. */
	for (size_t max = 1024; max >= 64 && !f; max /= 4) {
		struct dob_msg tmp;
		if (shortened_copy(&tmp, m, max))
			break;
		f = frame_from_msg(&tmp, b->cfg.max_frame, &e);
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

/* ---------------------------------------------------------------- queues */

static bool droppable(enum dob_event_kind kind)
{
	return kind == DOB_EVENT_JOB_TRANSFERRED || kind == DOB_EVENT_JOB_MODIFIED;
}

void session_push(struct session *s, struct frame *f, enum dob_event_kind kind, uint64_t seq)
{
	struct broker *b = s->b;
	int rc;

	if (s->state != SESS_ACTIVE && !(s->state == SESS_HELLO && kind == 0))
		return;
	rc = outq_push(s->q, f, droppable(kind), seq);
	if (rc == OUTQ_DROPPED) {
		b->dropped++;
		return;
	}
	if (rc == -DOB_EFULL) {
		session_fail(s, DOB_PERR_TOO_SLOW,
			     "the client did not read: %llu frames, %llu bytes queued (hard limits "
			     "%u frames, %llu bytes)",
			     (unsigned long long)outq_frames(s->q),
			     (unsigned long long)outq_bytes(s->q), b->cfg.queue_hard_limit,
			     (unsigned long long)b->cfg.queue_hard_bytes);
		return;
	}
	if (rc) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	if (kind) {
		s->events_out++;
		b->events_out++;
	}
}

/* CLOSING and nothing in flight: the ProtocolError (if any) goes last,
 * then the close; the close callback frees the session. */
static void finish_close(struct session *s)
{
	struct frame *f = s->final;
	uint8_t *buf;

	s->final = NULL;
	s->close_started = true;
	if (s->close_timer) {
		timer_cancel(s->b->timers, s->close_timer);
		s->close_timer = NULL;
	}
	if (f && (buf = dob_malloc(f->len)) != NULL) {
		memcpy(buf, f->data, f->len);
		dob_log_flush(); /* the log shows what a peer is about to see */
		if (plat_conn_write(s->conn, buf, f->len) == 0) {
			s->wbuf = buf;
			s->writing = true;
		} else {
			dob_free(buf);
		}
	}
	frame_unref(f);
	plat_conn_close_after_write(s->conn, session_close_cb);
}

static void flush(struct session *s)
{
	uint8_t *buf;
	size_t n;
	int rc;

	if (s->writing || s->close_started)
		return;
	if (s->state == SESS_CLOSING) {
		finish_close(s);
		return;
	}
	rc = outq_take(s->q, BATCH_MAX, &buf, &n);
	if (rc == -DOB_EAGAIN)
		return;
	if (rc) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		finish_close(s);
		return;
	}
	dob_log_flush(); /* the log shows what a peer is about to see */
	rc = plat_conn_write(s->conn, buf, n);
	if (rc < 0) {
		/* The platform did not take it: the connection is broken. */
		dob_free(buf);
		log_debug("session %llu: write failed: %s", (unsigned long long)s->id,
			  dob_strerror(rc));
		outq_clear(s->q);
		s->state = SESS_CLOSING;
		finish_close(s);
		return;
	}
	s->wbuf = buf;
	s->writing = true;
}

void router_flush_all(struct broker *b)
{
	for (struct session *s = b->sessions; s; s = s->next)
		if (!s->writing && !s->close_started &&
		    (s->state == SESS_CLOSING || outq_frames(s->q)))
			flush(s);
}

void session_sent(struct session *s, int status)
{
	dob_free(s->wbuf);
	s->wbuf = NULL;
	s->writing = false;
	if (status < 0 && s->state != SESS_CLOSING) {
		/* The connection broke under the write: closed() or eof()
		 * follows, or the next flush finds it closed. */
		log_debug("session %llu: write failed: %s", (unsigned long long)s->id,
			  dob_strerror(status));
		outq_clear(s->q);
		s->state = SESS_CLOSING;
		return;
	}
	if (s->state == SESS_ACTIVE)
		session_replay_more(s);
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
		outq_note_drop(s->q, seq);
		s->b->dropped++;
		return;
	}
	session_fail(s, DOB_PERR_UNSPECIFIED,
		     "broker out of memory: a %s for you was lost; reconnect to be replayed "
		     "every pending episode",
		     dob_msg_type_name(type));
}

void router_publish_packed(struct broker *b, const struct dob_msg *m, const uint8_t *body,
			   size_t len, enum dob_event_kind kind, const struct mjob *j)
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
			struct dob_codec_error e = { 0 };

			/* Too large for max_frame: frame_encode shortens it. */
			if (body)
				f = frame_from_body(m->type, body, len, b->cfg.max_frame, &e);
			if (!f && e.code == -DOB_ENOMEM)
				log_error("cannot encode %s: %s", dob_msg_type_name(m->type),
					  e.reason);
			else if (!f)
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

void router_publish(struct broker *b, const struct dob_msg *m, enum dob_event_kind kind,
		    const struct mjob *j)
{
	router_publish_packed(b, m, NULL, 0, kind, j);
}
