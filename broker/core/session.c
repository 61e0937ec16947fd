/*
 * broker/core/session.c - one connection's state machine.
 *
 *   HELLO  --Hello ok-->  ACTIVE  --ProtocolError / hang-up-->  CLOSING
 *
 * HELLO accepts only Hello within the handshake timeout; anything else is
 * UNEXPECTED_MESSAGE. ACTIVE accepts requests (Act, SubmitJob, AdoptJob,
 * ListJobs, GetStats, Ping); frames only the broker sends are
 * UNEXPECTED_MESSAGE. A decode error answers the codec's code and reason; a
 * peer that stops sending inside a frame gets TRUNCATED. Every fatal answer
 * is one ProtocolError and a close; the broker and other sessions go on.
 *
 * A session is freed only by the platform's last word on its connection:
 * the close callback (the core closed it) or closed() (the peer went). Both
 * come after the write in flight has reported (platform.h), and never from
 * inside a call the core made, so a handler may fail a session while its
 * caller still holds the pointer.
 *
 * Rate limit: a token bucket per connection (one flooding connection does
 * not take the service of its user's other connections), whose level is
 * handed on within the principal (authz_same_principal): a closing
 * connection leaves what it had (its Hello refunded) to the principal's
 * record as soon as it stops reading (cut or hung up, not when its close
 * completes), and a new connection starts from the lowest level left,
 * refilled since. So a client cut for RATE_LIMITED that reconnects is still limited,
 * while connect/Hello/close cycles cost nothing. The records are freed once
 * refilled.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "broker_int.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

static void hs_timeout(void *arg)
{
	struct session *s = arg;

	s->hs_timer = NULL;
	if (s->state == SESS_HELLO)
		session_fail(s, DOB_PERR_HANDSHAKE_TIMEOUT, "no Hello within %u ms",
			     s->b->cfg.handshake_timeout_ms);
}

void session_close_cb(struct plat_conn *c)
{
	struct session *s = plat_conn_get_data(c);

	if (s) {
		s->conn = NULL;
		session_free(s);
	}
}

static void close_timeout(void *arg)
{
	struct session *s = arg;

	s->close_timer = NULL;
	if (s->state != SESS_CLOSING || s->close_started)
		return;
	/* The write in flight never finished: cancel it (its sent() comes
	 * with -DOB_ECLOSED), then the close callback frees s. */
	log_debug("session %llu: closing without the final ProtocolError (peer not reading)",
		  (unsigned long long)s->id);
	frame_unref(s->final);
	s->final = NULL;
	s->close_started = true;
	plat_conn_close(s->conn, session_close_cb);
}

/* ---------------------------------------------------------------- rate buckets */

struct rate_bucket {
	struct rate_bucket *next;    /* in b->buckets */
	struct dob_identity who;     /* owned: the principal */
	unsigned refs;               /* sessions of it alive */
	int64_t tokens;              /* lowest level left, thousandths of a frame */
	int64_t tokens_ms;           /* when it was last filled */
};

static bool same_principal(const struct dob_identity *a, const struct dob_identity *b)
{
	return authz_same_principal(a, b) || (!a->user_sid && !b->user_sid && a->uid == b->uid);
}

static void refill_level(const struct broker_config *c, int64_t *tokens, int64_t *tokens_ms,
			 int64_t now)
{
	int64_t cap = (int64_t)c->rate_burst * 1000;

	if (now > *tokens_ms) {
		*tokens += (now - *tokens_ms) * (int64_t)c->rate_limit;
		if (*tokens > cap)
			*tokens = cap;
		*tokens_ms = now;
	}
}

static void refill(const struct broker_config *c, struct rate_bucket *k, int64_t now)
{
	refill_level(c, &k->tokens, &k->tokens_ms, now);
}

/* s closes: its level (Hello refunded) goes back to its principal's record. */
static void bucket_put(struct session *s)
{
	const struct broker_config *c = &s->b->cfg;
	struct rate_bucket *k = s->bucket;
	int64_t now = plat_now_ms(), cap = (int64_t)c->rate_burst * 1000;

	refill(c, k, now);
	refill_level(c, &s->tokens, &s->tokens_ms, now);
	if (s->hello_charged)
		s->tokens += 1000;
	if (s->tokens > cap)
		s->tokens = cap;
	if (s->tokens < k->tokens)
		k->tokens = s->tokens;
	k->refs--;
}

/* The session reads no more frames (cut, or its peer hung up): its level
 * goes back now, not when its connection is freed. A client cut for
 * RATE_LIMITED reconnects as soon as it reads the cut, while the old
 * connection may still be closing (its last frame in flight), and the new
 * connection must start from what the old one left, not from a burst. */
static void bucket_return(struct session *s)
{
	if (s->bucket) {
		bucket_put(s);
		s->bucket = NULL;
	}
}

/* Buckets nobody uses that have refilled are the same as new ones: freed,
 * so their number is bounded by the principals seen recently. */
static void buckets_prune(struct broker *b)
{
	int64_t now = plat_now_ms(), cap = (int64_t)b->cfg.rate_burst * 1000;

	for (struct rate_bucket **pp = &b->buckets; *pp;) {
		struct rate_bucket *k = *pp;
		if (k->refs == 0)
			refill(&b->cfg, k, now);
		if (k->refs == 0 && (k->tokens >= cap || b->cfg.rate_limit == 0)) {
			*pp = k->next;
			dob_identity_clear(&k->who);
			dob_free(k);
		} else {
			pp = &k->next;
		}
	}
}

static struct rate_bucket *bucket_get(struct broker *b, const struct dob_identity *who)
{
	struct rate_bucket *k;

	buckets_prune(b);
	for (k = b->buckets; k; k = k->next)
		if (same_principal(&k->who, who)) {
			k->refs++;
			return k;
		}
	k = dob_calloc(1, sizeof(*k));
	if (!k || dob_identity_copy(&k->who, who)) {
		dob_free(k);
		return NULL;
	}
	k->refs = 1;
	k->tokens = (int64_t)b->cfg.rate_burst * 1000;
	k->tokens_ms = plat_now_ms();
	k->next = b->buckets;
	b->buckets = k;
	return k;
}

void session_buckets_free(struct broker *b)
{
	while (b->buckets) {
		struct rate_bucket *k = b->buckets;
		b->buckets = k->next;
		dob_identity_clear(&k->who);
		dob_free(k);
	}
}

size_t session_count_principal(struct broker *b, const struct dob_identity *who)
{
	size_t n = 0;

	for (struct session *s = b->sessions; s; s = s->next)
		if ((s->state == SESS_HELLO || s->state == SESS_ACTIVE) &&
		    same_principal(&s->ident, who))
			n++;
	return n;
}

void session_accepted(struct broker *b, struct plat_conn *c, const struct dob_identity *peer)
{
	struct session *s = dob_calloc(1, sizeof(*s));
	struct outq_limits lim;
	size_t same;

	lim.soft_frames = b->cfg.queue_soft_limit;
	lim.hard_frames = b->cfg.queue_hard_limit;
	lim.soft_bytes = b->cfg.queue_soft_bytes;
	lim.hard_bytes = b->cfg.queue_hard_bytes;
	if (!s || dob_identity_copy(&s->ident, peer) ||
	    !(s->client_name = dob_strdup("")) || outq_new(&s->q, &lim) ||
	    !(s->bucket = bucket_get(b, peer))) {
		log_error("out of memory accepting a connection");
		if (s) {
			dob_identity_clear(&s->ident);
			dob_free(s->client_name);
			outq_free(s->q);
			dob_free(s);
		}
		plat_conn_close(c, NULL);
		return;
	}
	s->b = b;
	s->conn = c;
	s->id = ++b->next_session_id;
	s->state = SESS_HELLO;
	refill(&b->cfg, s->bucket, plat_now_ms());
	s->tokens = s->bucket->tokens; /* what the principal's last connections left */
	s->tokens_ms = s->bucket->tokens_ms;
	dob_decoder_init(&s->dec, b->cfg.max_frame);
	same = session_count_principal(b, peer);
	s->next = b->sessions;
	if (b->sessions)
		b->sessions->prev = s;
	b->sessions = s;
	plat_conn_set_data(c, s);
	log_debug("session %llu: accepted pid %u user %s%s%s", (unsigned long long)s->id, peer->pid,
		  peer->user_sid ? peer->user_sid : "?", peer->sandboxed ? " sandboxed" : "",
		  peer->privileged ? " privileged" : "");
	if (b->stopped) {
		session_fail(s, DOB_PERR_SHUTTING_DOWN, "the broker is stopping");
		return;
	}
	if (same >= b->cfg.max_conns_per_identity) {
		session_fail(s, DOB_PERR_TOO_MANY_CONNECTIONS,
			     "identity %s already has %llu connections (limit %u)",
			     peer->user_sid ? peer->user_sid : "?", (unsigned long long)same,
			     b->cfg.max_conns_per_identity);
		return;
	}
	if (timer_add(b->timers, plat_now_ms() + b->cfg.handshake_timeout_ms, hs_timeout, s,
		      &s->hs_timer))
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
}

void session_free(struct session *s)
{
	struct broker *b;

	if (!s)
		return;
	b = s->b;
	if (s->prev)
		s->prev->next = s->next;
	else if (b->sessions == s)
		b->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	/* s->conn is not touched: here it is being freed (close callback,
	 * closed()) or already gone (broker_free after plat_loop_free). */
	if (s->hs_timer)
		timer_cancel(b->timers, s->hs_timer);
	if (s->close_timer)
		timer_cancel(b->timers, s->close_timer);
	if (s->bucket)
		bucket_put(s);
	outq_free(s->q);
	frame_unref(s->final);
	/* The platform is done with it: its sent() came, or the loop is gone. */
	dob_free(s->wbuf);
	dob_decoder_free(&s->dec);
	dob_identity_clear(&s->ident);
	dob_free(s->client_name);
	dob_free(s->filter.job_ids);
	dob_free(s->filter.display_name_prefix);
	dob_free(s->replay);
	dob_free(s);
}

void session_free_all(struct broker *b)
{
	while (b->sessions)
		session_free(b->sessions);
}

struct session *session_find(struct broker *b, uint64_t id)
{
	for (struct session *s = b->sessions; s; s = s->next)
		if (s->id == id)
			return s->state == SESS_ACTIVE ? s : NULL;
	return NULL;
}

void session_fail(struct session *s, enum dob_perr code, const char *fmt, ...)
{
	struct dob_msg m;
	char text[DOB_REASON_MAX + 64];
	va_list ap;

	if (s->state == SESS_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_info("session %llu (%s): %s: %s", (unsigned long long)s->id,
		 *s->client_name ? s->client_name : "no hello", dob_perr_name(code), text);
	if (s->hs_timer) {
		timer_cancel(s->b->timers, s->hs_timer);
		s->hs_timer = NULL;
	}
	outq_clear(s->q);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_PROTOCOL_ERROR;
	m.u.protocol_error.code = code;
	m.u.protocol_error.message = text;
	s->final = frame_encode(s->b, &m); /* NULL: closed without it */
	s->state = SESS_CLOSING;
	bucket_return(s);
	/* router_flush_all writes it and closes once nothing is in flight. A
	 * batch in flight is given the handshake timeout to finish. */
	if (s->writing &&
	    timer_add(s->b->timers, plat_now_ms() + s->b->cfg.handshake_timeout_ms, close_timeout,
		      s, &s->close_timer))
		close_timeout(s);
}

void session_eof(struct session *s)
{
	if (s->state == SESS_CLOSING)
		return;
	if (!dob_decoder_idle(&s->dec)) {
		struct dob_codec_error e;

		memset(&e, 0, sizeof(e));
		dob_decoder_finish(&s->dec, &e);
		session_fail(s, DOB_PERR_TRUNCATED, "%s",
			     e.reason[0] ? e.reason : "the stream ended inside a frame");
		return;
	}
	log_debug("session %llu: peer hung up", (unsigned long long)s->id);
	if (s->hs_timer) {
		timer_cancel(s->b->timers, s->hs_timer);
		s->hs_timer = NULL;
	}
	outq_clear(s->q);
	s->state = SESS_CLOSING; /* no last frame: router_flush_all closes it */
	bucket_return(s);
	/* A batch in flight to a peer that does not read is given up, as in
	 * session_fail. */
	if (s->writing &&
	    timer_add(s->b->timers, plat_now_ms() + s->b->cfg.handshake_timeout_ms, close_timeout,
		      s, &s->close_timer))
		close_timeout(s);
}

void session_closed(struct session *s, int err)
{
	log_debug("session %llu: peer gone (%s)", (unsigned long long)s->id,
		  err ? dob_strerror(err) : "hung up");
	plat_conn_set_data(s->conn, NULL);
	s->conn = NULL; /* the platform frees it when we return */
	session_free(s);
}

/* ---------------------------------------------------------------- replies */

void session_reply(struct session *s, const struct dob_msg *m)
{
	struct frame *f = frame_encode(s->b, m);

	if (!f) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker could not encode its %s",
			     dob_msg_type_name(m->type));
		return;
	}
	session_push(s, f, 0, 0);
	frame_unref(f);
}

void session_request_done(struct broker *b, uint64_t session_id)
{
	struct session *s = session_find(b, session_id);

	if (s && s->inflight)
		s->inflight--;
}

/* ActionResult or JobReply with a status and a message. */
static void reply_status(struct broker *b, uint64_t session_id, uint64_t corr,
			 enum dob_msg_type type, enum dob_status st, uint32_t hr,
			 enum dob_job_state state, const struct mjob *j, const char *fmt, va_list ap)
{
	struct session *s = session_find(b, session_id);
	char text[1024];
	struct dob_msg m;

	if (!s)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.correlation_id = corr;
	if (type == DOB_MSG_ACTION_RESULT) {
		m.u.action_result.status = st;
		m.u.action_result.message = text;
		m.u.action_result.hresult = hr;
		m.u.action_result.new_state = state;
	} else {
		m.u.job_reply.status = st;
		m.u.job_reply.message = text;
		m.u.job_reply.hresult = hr;
		if (j) {
			m.u.job_reply.has_job = true;
			jobs_summary(b, j, &m.u.job_reply.job);
		}
	}
	session_reply(s, &m);
}

void session_reply_action(struct broker *b, uint64_t session_id, uint64_t corr,
			  enum dob_status st, uint32_t hr, enum dob_job_state state,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_status(b, session_id, corr, DOB_MSG_ACTION_RESULT, st, hr, state, NULL, fmt, ap);
	va_end(ap);
}

void session_reply_job(struct broker *b, uint64_t session_id, uint64_t corr, enum dob_status st,
		       uint32_t hr, const struct mjob *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_status(b, session_id, corr, DOB_MSG_JOB_REPLY, st, hr, 0, j, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- handshake */

static void on_hello(struct session *s, struct dob_msg *m)
{
	struct broker *b = s->b;
	struct dob_hello *h = &m->u.hello;
	struct dob_msg w;
	uint32_t pending = 0;

	if (h->role != DOB_ROLE_OBSERVER && h->role != DOB_ROLE_CONTROLLER) {
		session_fail(s, DOB_PERR_INVALID_FIELD, "hello.role: %d is not observer or controller",
			     (int)h->role);
		return;
	}
	if (h->min_version > DOB_PROTOCOL_VERSION || h->max_version < DOB_PROTOCOL_VERSION ||
	    h->min_version > h->max_version) {
		session_fail(s, DOB_PERR_UNSUPPORTED_VERSION,
			     "client speaks versions %u..%u, broker speaks %u..%u", h->min_version,
			     h->max_version, DOB_PROTOCOL_VERSION, DOB_PROTOCOL_VERSION);
		return;
	}
	if (s->hs_timer) {
		timer_cancel(b->timers, s->hs_timer);
		s->hs_timer = NULL;
	}
	/* Take the client's name and filter from the decoded message. */
	dob_free(s->client_name);
	s->client_name = h->client_name ? h->client_name : dob_strdup("");
	h->client_name = NULL;
	s->filter = h->filter;
	memset(&h->filter, 0, sizeof(h->filter));
	s->role = h->role;
	s->version = DOB_PROTOCOL_VERSION;
	s->state = SESS_ACTIVE;
	if (!s->client_name) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	s->replay = dob_calloc(b->n_pending ? b->n_pending : 1, sizeof(*s->replay));
	if (!s->replay) {
		session_fail(s, DOB_PERR_UNSPECIFIED, "broker out of memory");
		return;
	}
	for (size_t i = 0; i < b->jobs_cap; i++)
		for (struct mjob *j = b->jobs[i]; j; j = j->next)
			/* Every pending episode; a decided one (its action with
			 * the backend, or scheduled) is replayed with its
			 * pending_decision (episode_send_replay). */
			if (j->ep && s->n_replay < b->n_pending &&
			    authz_can_see(&s->ident, &j->owner) &&
			    router_filter_match(&s->filter, &j->id, j->display_name,
						DOB_EVENT_JOB_ERROR)) {
				s->replay[s->n_replay].job = j->id;
				s->replay[s->n_replay++].episode_id = j->ep->id;
			}
	pending = (uint32_t)s->n_replay;
	memset(&w, 0, sizeof(w));
	w.type = DOB_MSG_WELCOME;
	w.u.welcome.version = s->version;
	w.u.welcome.session_id = s->id;
	w.u.welcome.backend = b->be->ops->kind;
	w.u.welcome.limits.max_frame_bytes = b->cfg.max_frame;
	w.u.welcome.limits.max_inflight_requests = b->cfg.max_inflight_requests;
	w.u.welcome.limits.max_jobs = b->cfg.max_jobs_per_identity;
	w.u.welcome.limits.queue_soft_limit = b->cfg.queue_soft_limit;
	w.u.welcome.limits.queue_hard_limit = b->cfg.queue_hard_limit;
	w.u.welcome.limits.handshake_timeout_ms = b->cfg.handshake_timeout_ms;
	w.u.welcome.identity = s->ident;
	w.u.welcome.broker_version = BROKER_VERSION;
	w.u.welcome.pending_episodes = pending;
	log_debug("session %llu: hello from '%s' (%s, pid %u), %u pending episodes to replay",
		 (unsigned long long)s->id, s->client_name, dob_role_name(s->role), s->ident.pid,
		 pending);
	session_reply(s, &w);
	/* Then every pending episode this client may see, marked replayed. */
	session_replay_more(s);
}

void session_replay_more(struct session *s)
{
	struct broker *b = s->b;

	while (s->replay_pos < s->n_replay && s->state == SESS_ACTIVE &&
	       outq_below_soft(s->q)) {
		const struct replay_ref *r = &s->replay[s->replay_pos++];
		struct mjob *j = jobs_find(b, &r->job);
		/* Skipped when it ended meanwhile (its Resolution was sent). */
		if (j && j->ep && j->ep->id == r->episode_id)
			episode_send_replay(s, j->ep);
	}
	if (s->replay_pos == s->n_replay && s->replay) {
		dob_free(s->replay);
		s->replay = NULL;
		s->n_replay = s->replay_pos = 0;
	}
}

/* ---------------------------------------------------------------- requests */

static void on_ping(struct session *s, const struct dob_msg *m)
{
	struct dob_msg r;

	memset(&r, 0, sizeof(r));
	r.type = DOB_MSG_PONG;
	r.correlation_id = m->correlation_id;
	r.u.ping.nonce = m->u.ping.nonce;
	session_reply(s, &r);
}

static void dispatch(struct session *s, struct dob_msg *m)
{
	if (s->state == SESS_HELLO) {
		if (m->type == DOB_MSG_HELLO)
			on_hello(s, m);
		else
			session_fail(s, DOB_PERR_UNEXPECTED_MESSAGE, "expected Hello first, got %s",
				     dob_msg_type_name(m->type));
		return;
	}
	switch (m->type) {
	case DOB_MSG_HELLO:
		session_fail(s, DOB_PERR_UNEXPECTED_MESSAGE, "Hello sent twice");
		return;
	case DOB_MSG_ACT:
	case DOB_MSG_SUBMIT_JOB:
	case DOB_MSG_ADOPT_JOB:
	case DOB_MSG_LIST_JOBS:
	case DOB_MSG_GET_STATS:
	case DOB_MSG_PING:
	case DOB_MSG_LIST_HISTORY:
	case DOB_MSG_LIST_UNMANAGED:
		break;
	default:
		session_fail(s, DOB_PERR_UNEXPECTED_MESSAGE,
			     "%s is sent by the broker, never by a client",
			     dob_msg_type_name(m->type));
		return;
	}
	if (m->correlation_id == 0) {
		session_fail(s, DOB_PERR_INVALID_FIELD, "%s: correlation_id must be set",
			     dob_msg_type_name(m->type));
		return;
	}
	switch (m->type) {
	case DOB_MSG_ACT:
		episode_on_act(s, m->correlation_id, &m->u.act);
		break;
	case DOB_MSG_SUBMIT_JOB:
		jobs_on_submit(s, m->correlation_id, &m->u.submit_job);
		break;
	case DOB_MSG_ADOPT_JOB:
		jobs_on_adopt(s, m->correlation_id, &m->u.adopt_job);
		break;
	case DOB_MSG_LIST_JOBS:
		jobs_on_list(s, m->correlation_id);
		break;
	case DOB_MSG_GET_STATS:
		broker_on_stats(s, m->correlation_id);
		break;
	case DOB_MSG_LIST_HISTORY:
		history_on_list(s, m->correlation_id, &m->u.list_history);
		break;
	case DOB_MSG_LIST_UNMANAGED:
		history_on_unmanaged(s, m->correlation_id);
		break;
	default:
		on_ping(s, m);
		break;
	}
}

/* Token bucket: rate_limit frames per second, rate_burst at once. */
static bool rate_ok(struct session *s)
{
	const struct broker_config *c = &s->b->cfg;

	if (c->rate_limit == 0)
		return true;
	refill_level(c, &s->tokens, &s->tokens_ms, plat_now_ms());
	if (s->tokens < 1000)
		return false;
	s->tokens -= 1000;
	if (s->state == SESS_HELLO)
		s->hello_charged = true;
	return true;
}

void session_data(struct session *s, const uint8_t *p, size_t n)
{
	while (n > 0 && (s->state == SESS_HELLO || s->state == SESS_ACTIVE)) {
		struct dob_codec_error e;
		struct dob_msg m;
		size_t used = 0;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = dob_decoder_feed(&s->dec, p, n, &used, &m, &e);
		if (rc < 0) {
			session_fail(s, e.perr ? e.perr : DOB_PERR_MALFORMED, "%s",
				     e.reason[0] ? e.reason : dob_strerror(rc));
			return;
		}
		if (used > n)
			used = n;
		p += used;
		n -= used;
		if (rc == 0)
			return;
		if (!rate_ok(s)) {
			dob_msg_clear(&m);
			session_fail(s, DOB_PERR_RATE_LIMITED,
				     "more than %u frames per second (burst %u)",
				     s->b->cfg.rate_limit, s->b->cfg.rate_burst);
			return;
		}
		dispatch(s, &m);
		dob_msg_clear(&m);
	}
}
