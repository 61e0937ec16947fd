/*
 * client/src/client.c - libdobclient: the portable part (handshake, frame
 * reading, correlation of replies, the local event queue, requests). The
 * byte stream comes from transport.h; the codec from dob/codec.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "deadline.h"
#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "dob/msg.h"
#include "dobclient.h"
#include "transport.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define RBUF_SIZE 8192
#define ERROR_QUEUE_FACTOR 4 /* JobErrors are kept up to this many times the bound */

struct qnode {
	struct qnode *next; /* owned */
	struct dob_msg m;   /* owned */
	bool local_gap;     /* a Gap the library made for its own drops */
};

struct dobc {
	struct transport *t;      /* owned */
	struct dob_decoder dec;   /* owns a partial frame */
	struct dob_msg welcome;   /* owned; type DOB_MSG_WELCOME once welcomed */
	bool welcomed;
	uint32_t send_max;        /* the broker's frame limit for what we send */
	uint64_t next_cid;        /* correlation ids 1, 2, ...; never reused */
	int dead;                 /* 0 while alive; then the sticky error */
	struct dobc_error err;

	size_t qmax;              /* bound for non-error events */
	size_t qlen;              /* queued events, local Gaps not counted */
	size_t qtotal;            /* queued nodes, local Gaps counted */
	struct qnode *qhead;      /* owned list */
	struct qnode *qtail;      /* borrowed: last node of the list */

	size_t rpos, rlen;        /* rbuf[rpos..rlen) not yet fed to dec */
	uint8_t rbuf[RBUF_SIZE];
};

/* ---------------------------------------------------------------- errors */

static void verr(struct dobc_error *e, int code, bool from_broker, enum dob_perr perr,
		 const char *fmt, va_list ap)
{
	e->code = code;
	e->from_broker = from_broker;
	e->perr = perr;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
}

/* Records a failure that leaves the connection usable. Returns code. */
static int PRINTF_LIKE(3, 4) fail(struct dobc *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(&c->err, code, false, DOB_PERR_UNSPECIFIED, fmt, ap);
	va_end(ap);
	return code;
}

/* The connection is over: every later call returns code. Returns code. */
static int PRINTF_LIKE(3, 4) die(struct dobc *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->dead)
		return c->dead;
	va_start(ap, fmt);
	verr(&c->err, code, false, DOB_PERR_UNSPECIFIED, fmt, ap);
	va_end(ap);
	c->dead = code;
	return code;
}

/* Starts a public call: the dead stay dead, the living forget old errors. */
static int begin(struct dobc *c)
{
	if (c->dead)
		return c->dead;
	memset(&c->err, 0, sizeof c->err);
	return 0;
}

const char *dobc_strerror(int err)
{
	if (err == -DOBC_ESERVER_AUTH)
		return "the server failed authentication (not the expected broker)";
	return dob_strerror(err);
}

const struct dobc_error *dobc_last_error(const struct dobc *c)
{
	return &c->err;
}

/* ---------------------------------------------------------------- queue */

static bool is_event(enum dob_msg_type t)
{
	return t == DOB_MSG_JOB_ERROR || t == DOB_MSG_JOB_TRANSFERRED ||
	       t == DOB_MSG_JOB_MODIFIED || t == DOB_MSG_RESOLUTION || t == DOB_MSG_GAP;
}

static bool is_reply(enum dob_msg_type t)
{
	return t == DOB_MSG_ACTION_RESULT || t == DOB_MSG_JOB_REPLY ||
	       t == DOB_MSG_LIST_JOBS_REPLY || t == DOB_MSG_STATS || t == DOB_MSG_PONG ||
	       t == DOB_MSG_HISTORY_REPLY || t == DOB_MSG_UNMANAGED_REPLY;
}

static void append(struct dobc *c, struct qnode *n)
{
	if (c->qtail)
		c->qtail->next = n;
	else
		c->qhead = n;
	c->qtail = n;
	c->qtotal++;
}

/* Counts a dropped event in the local Gap at the tail (made if needed).
 * Returns 0 or -DOB_ENOMEM. */
static int count_drop(struct dobc *c)
{
	struct qnode *n = c->qtail;

	if (!n || !n->local_gap) {
		n = dob_calloc(1, sizeof *n);
		if (!n)
			return -DOB_ENOMEM;
		n->local_gap = true;
		n->m.type = DOB_MSG_GAP;
		append(c, n);
	}
	n->m.u.gap.dropped++;
	return 0;
}

/* Takes ownership of *m (moved out and zeroed). */
static int enqueue(struct dobc *c, struct dob_msg *m)
{
	size_t limit = c->qmax;
	struct qnode *n;

	if (m->type == DOB_MSG_JOB_ERROR)
		limit = c->qmax * ERROR_QUEUE_FACTOR;
	if (c->qlen >= limit) {
		dob_msg_clear(m);
		if (count_drop(c) < 0)
			return die(c, -DOB_ENOMEM, "out of memory queueing an event");
		return 0;
	}
	n = dob_calloc(1, sizeof *n);
	if (!n) {
		dob_msg_clear(m);
		return die(c, -DOB_ENOMEM, "out of memory queueing an event");
	}
	n->m = *m;
	memset(m, 0, sizeof *m);
	append(c, n);
	c->qlen++;
	return 0;
}

static void dequeue(struct dobc *c, struct dob_msg *out)
{
	struct qnode *n = c->qhead;

	c->qhead = n->next;
	if (!c->qhead)
		c->qtail = NULL;
	c->qtotal--;
	if (!n->local_gap)
		c->qlen--;
	*out = n->m;
	dob_free(n);
}

size_t dobc_pending(const struct dobc *c)
{
	return c->qtotal;
}

/* ---------------------------------------------------------------- reading */

/* What a wait is waiting for. */
struct want {
	uint64_t cid;               /* a reply with this id (0 = none) */
	enum dob_msg_type type;     /* ... of this type */
	bool welcome;               /* the handshake's Welcome */
	bool event;                 /* any queued event */
	struct dob_msg *reply;      /* where the awaited message goes */
};

/* Handles one decoded message (owned). Returns 1 when it is the awaited
 * one (moved to w->reply), 0 when handled, or the connection's error. */
static int dispatch(struct dobc *c, struct dob_msg *m, const struct want *w)
{
	const char *name = dob_msg_type_name(m->type);
	int r;

	if (m->type == DOB_MSG_PROTOCOL_ERROR) {
		c->err.code = -DOB_EPROTO;
		c->err.perr = m->u.protocol_error.code;
		c->err.from_broker = true;
		snprintf(c->err.message, sizeof c->err.message, "%s: %s",
			 dob_perr_name(m->u.protocol_error.code),
			 m->u.protocol_error.message ? m->u.protocol_error.message : "");
		c->dead = -DOB_EPROTO;
		dob_msg_clear(m);
		return -DOB_EPROTO;
	}
	if (!c->welcomed) {
		if (m->type == DOB_MSG_WELCOME && w->welcome) {
			*w->reply = *m;
			memset(m, 0, sizeof *m);
			return 1;
		}
		dob_msg_clear(m);
		return die(c, -DOB_EPROTO, "the broker sent %s before Welcome", name);
	}
	if (is_event(m->type))
		return enqueue(c, m);
	if (is_reply(m->type) && m->correlation_id != 0) {
		if (w->cid && m->correlation_id == w->cid) {
			if (m->type != w->type) {
				r = die(c, -DOB_EPROTO, "the broker answered %s to a request expecting %s",
					name, dob_msg_type_name(w->type));
				dob_msg_clear(m);
				return r;
			}
			*w->reply = *m;
			memset(m, 0, sizeof *m);
			return 1;
		}
		if (m->correlation_id < c->next_cid) {
			/* The reply to a request that timed out: nobody waits for it. */
			dob_msg_clear(m);
			return 0;
		}
	}
	r = die(c, -DOB_EPROTO, "unexpected %s from the broker (correlation id %llu)", name,
		(unsigned long long)m->correlation_id);
	dob_msg_clear(m);
	return r;
}

/* Feeds the buffered bytes to the decoder. Returns 1 when the awaited
 * message came, 0 when every byte is consumed, or the connection's error. */
static int drain(struct dobc *c, const struct want *w)
{
	while (c->rpos < c->rlen) {
		struct dob_codec_error ce;
		struct dob_msg m;
		size_t used = 0;
		int r;

		memset(&ce, 0, sizeof ce);
		r = dob_decoder_feed(&c->dec, c->rbuf + c->rpos, c->rlen - c->rpos, &used, &m, &ce);
		if (r < 0)
			return die(c, r, "bad frame from the broker: %s",
				   ce.reason[0] ? ce.reason : dob_strerror(r));
		if (r == 0) {
			c->rpos = c->rlen;
			break;
		}
		c->rpos += used;
		r = dispatch(c, &m, w);
		if (r != 0)
			return r;
	}
	c->rpos = c->rlen = 0;
	return 0;
}

/* Reads what has arrived. Returns > 0, -DOB_EAGAIN, or the connection's
 * error. */
static int fill(struct dobc *c)
{
	int n = transport_read(c->t, c->rbuf, sizeof c->rbuf);

	if (n > 0) {
		c->rpos = 0;
		c->rlen = (size_t)n;
		return n;
	}
	if (n == -DOB_EAGAIN)
		return n;
	if (n == -DOB_ECLOSED) {
		if (!dob_decoder_idle(&c->dec))
			return die(c, -DOB_ETRUNCATED, "the broker hung up inside a frame");
		return die(c, -DOB_ECLOSED, "the broker closed the connection");
	}
	return die(c, n, "reading from the broker: %s", dob_strerror(n));
}

/* Reads until what w wants has come (1), the deadline passed
 * (-DOB_ETIMEDOUT), or the connection is over (its error). */
static int await(struct dobc *c, const struct want *w, int64_t deadline_us)
{
	for (;;) {
		int r = drain(c, w);

		if (r != 0)
			return r;
		if (w->event && c->qhead)
			return 1;
		r = fill(c);
		if (r > 0)
			continue;
		if (r != -DOB_EAGAIN)
			return r;
		r = deadline_left_ms(deadline_us);
		if (r == 0)
			return -DOB_ETIMEDOUT;
		r = transport_wait(c->t, r);
		if (r < 0)
			return die(c, r, "waiting for the broker: %s", dob_strerror(r));
		if (r == 0 && deadline_left_ms(deadline_us) == 0)
			return -DOB_ETIMEDOUT;
	}
}

/* ---------------------------------------------------------------- events */

int dobc_next_event(struct dobc *c, struct dob_msg *out, int timeout_ms)
{
	struct want w = { .event = true };
	int r;

	memset(out, 0, sizeof *out);
	if (c->qhead) {
		dequeue(c, out);
		return 0;
	}
	r = begin(c);
	if (r < 0)
		return r;
	r = await(c, &w, deadline_after(timeout_ms));
	if (r == -DOB_ETIMEDOUT)
		return fail(c, r, "no event within %d ms", timeout_ms);
	if (r < 0)
		return r;
	dequeue(c, out);
	return 0;
}

int dobc_process(struct dobc *c)
{
	struct want w = { .cid = 0 };
	int r = begin(c);

	if (r < 0)
		return r;
	r = await(c, &w, 0);
	if (r < 0 && r != -DOB_ETIMEDOUT)
		return r;
	return c->qtotal > 0x7fffffff ? 0x7fffffff : (int)c->qtotal;
}

intptr_t dobc_poll_handle(const struct dobc *c)
{
	return transport_poll_handle(c->t);
}

const struct dob_welcome *dobc_welcome(const struct dobc *c)
{
	return &c->welcome.u.welcome;
}

/* ---------------------------------------------------------------- sending */

/* After a write failed because the broker hung up: reads what it sent
 * before (events are queued). Returns -DOB_EPROTO when that was a
 * ProtocolError (the connection's error is then the broker's reason), else
 * 0. The broker closes right after its ProtocolError (RATE_LIMITED,
 * TOO_SLOW, SHUTTING_DOWN, TOO_MANY_CONNECTIONS), so a write racing that
 * close fails with "broken pipe" while the reason waits to be read. */
static int pending_reason(struct dobc *c)
{
	struct dob_msg scratch;
	struct want w = { .welcome = !c->welcomed, .reply = &scratch };
	int r;

	memset(&scratch, 0, sizeof scratch);
	r = await(c, &w, 0);
	dob_msg_clear(&scratch);
	return r == -DOB_EPROTO && c->err.from_broker ? -DOB_EPROTO : 0;
}

/* Encodes and writes m. A write that fails or times out ends the
 * connection (part of a frame may be on the wire). */
static int send_msg(struct dobc *c, const struct dob_msg *m, uint32_t max_frame, int64_t deadline_us)
{
	struct dob_codec_error ce;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	memset(&ce, 0, sizeof ce);
	r = dob_encode(m, max_frame, &buf, &len, &ce);
	if (r < 0) {
		if (r == -DOB_EFIELD)
			r = -DOB_EINVAL;
		return fail(c, r, "%s not sent: %s", dob_msg_type_name(m->type),
			    ce.reason[0] ? ce.reason : dob_strerror(r));
	}
	r = transport_write(c->t, buf, len, deadline_left_ms(deadline_us));
	dob_free(buf);
	if (r == -DOB_ETIMEDOUT)
		return die(c, r, "sending %s: the broker did not read in time",
			   dob_msg_type_name(m->type));
	if (r < 0 && pending_reason(c) == -DOB_EPROTO)
		return -DOB_EPROTO;
	if (r < 0)
		return die(c, r, "sending %s: %s", dob_msg_type_name(m->type), dob_strerror(r));
	return 0;
}

/* Sends req (its correlation id is set here) and waits for its reply of
 * type reply_type into *reply. */
static int request(struct dobc *c, struct dob_msg *req, enum dob_msg_type reply_type,
		   struct dob_msg *reply, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	struct want w = { .type = reply_type, .reply = reply };
	int r;

	memset(reply, 0, sizeof *reply);
	r = begin(c);
	if (r < 0)
		return r;
	req->correlation_id = c->next_cid++;
	w.cid = req->correlation_id;
	r = send_msg(c, req, c->send_max, deadline);
	if (r < 0)
		return r;
	r = await(c, &w, deadline);
	if (r == -DOB_ETIMEDOUT)
		return fail(c, r, "no reply to %s within %d ms", dob_msg_type_name(req->type),
			    timeout_ms);
	return r < 0 ? r : 0;
}

/* A reply with a status: -DOB_EREMOTE when it is not OK. */
static int check_status(struct dobc *c, const char *what, enum dob_status st, const char *msg)
{
	if (st == DOB_STATUS_OK)
		return 0;
	c->err.code = -DOB_EREMOTE;
	c->err.from_broker = true;
	c->err.perr = DOB_PERR_UNSPECIFIED;
	snprintf(c->err.message, sizeof c->err.message, "%s refused: %s%s%s", what,
		 dob_status_name(st), msg && *msg ? ": " : "", msg ? msg : "");
	return -DOB_EREMOTE;
}

int dobc_act(struct dobc *c, const struct dob_guid *job_id, uint64_t episode_id,
	     enum dob_action action, uint32_t delay_ms, struct dob_action_result *out,
	     int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_ACT }, rep;
	int r;

	memset(out, 0, sizeof *out);
	req.u.act.job_id = *job_id;
	req.u.act.episode_id = episode_id;
	req.u.act.action = action;
	req.u.act.delay_ms = delay_ms;
	r = request(c, &req, DOB_MSG_ACTION_RESULT, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.action_result;
	return check_status(c, "Act", out->status, out->message);
}

int dobc_submit(struct dobc *c, const struct dob_submit_job *job, struct dob_job_reply *out,
		int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_SUBMIT_JOB }, rep;
	int r;

	memset(out, 0, sizeof *out);
	req.u.submit_job = *job; /* borrowed: req is never cleared */
	r = request(c, &req, DOB_MSG_JOB_REPLY, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.job_reply;
	return check_status(c, "SubmitJob", out->status, out->message);
}

int dobc_adopt(struct dobc *c, const struct dob_guid *job_id, const struct dob_policy *policy,
	       struct dob_job_reply *out, int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_ADOPT_JOB }, rep;
	int r;

	memset(out, 0, sizeof *out);
	req.u.adopt_job.job_id = *job_id;
	if (policy)
		req.u.adopt_job.policy = *policy;
	r = request(c, &req, DOB_MSG_JOB_REPLY, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.job_reply;
	return check_status(c, "AdoptJob", out->status, out->message);
}

int dobc_list_jobs(struct dobc *c, struct dob_list_jobs_reply *out, int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_LIST_JOBS }, rep;
	int r;

	memset(out, 0, sizeof *out);
	r = request(c, &req, DOB_MSG_LIST_JOBS_REPLY, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.list_jobs_reply;
	return check_status(c, "ListJobs", out->status, out->message);
}

int dobc_stats(struct dobc *c, struct dob_stats *out, int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_GET_STATS }, rep;
	int r;

	memset(out, 0, sizeof *out);
	r = request(c, &req, DOB_MSG_STATS, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.stats;
	return check_status(c, "GetStats", out->status, out->message);
}

int dobc_list_history(struct dobc *c, const struct dob_guid *job_ids, size_t n_job_ids,
		      uint32_t limit, struct dob_history_reply *out, int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_LIST_HISTORY }, rep;
	int r;

	memset(out, 0, sizeof *out);
	/* Borrowed for the encode only. */
	req.u.list_history.job_ids = (struct dob_guid *)job_ids;
	req.u.list_history.n_job_ids = job_ids ? n_job_ids : 0;
	req.u.list_history.limit = limit;
	r = request(c, &req, DOB_MSG_HISTORY_REPLY, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.history_reply;
	return check_status(c, "ListHistory", out->status, out->message);
}

int dobc_list_unmanaged(struct dobc *c, struct dob_unmanaged_reply *out, int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_LIST_UNMANAGED }, rep;
	int r;

	memset(out, 0, sizeof *out);
	r = request(c, &req, DOB_MSG_UNMANAGED_REPLY, &rep, timeout_ms);
	if (r < 0)
		return r;
	*out = rep.u.unmanaged_reply;
	return check_status(c, "ListUnmanaged", out->status, out->message);
}

int dobc_ping(struct dobc *c, int64_t *rtt_us, int timeout_ms)
{
	struct dob_msg req = { .type = DOB_MSG_PING }, rep;
	int64_t t0 = transport_now_us();
	int r;

	if (rtt_us)
		*rtt_us = 0;
	req.u.ping.nonce = ((uint64_t)t0 << 16) ^ c->next_cid;
	r = request(c, &req, DOB_MSG_PONG, &rep, timeout_ms);
	if (r < 0)
		return r;
	if (rep.u.ping.nonce != req.u.ping.nonce)
		return die(c, -DOB_EPROTO, "Pong carries nonce %llu, Ping sent %llu",
			   (unsigned long long)rep.u.ping.nonce,
			   (unsigned long long)req.u.ping.nonce);
	if (rtt_us)
		*rtt_us = transport_now_us() - t0;
	return 0;
}

/* Clears a reply body by lending it to a dob_msg of its type. */
static void clear_body(enum dob_msg_type type, void *body, size_t size)
{
	struct dob_msg m = { .type = type };

	if (!body)
		return;
	memcpy(&m.u, body, size);
	dob_msg_clear(&m);
	memset(body, 0, size);
}

void dobc_action_result_clear(struct dob_action_result *r)
{
	clear_body(DOB_MSG_ACTION_RESULT, r, sizeof *r);
}

void dobc_job_reply_clear(struct dob_job_reply *r)
{
	clear_body(DOB_MSG_JOB_REPLY, r, sizeof *r);
}

void dobc_list_jobs_reply_clear(struct dob_list_jobs_reply *r)
{
	clear_body(DOB_MSG_LIST_JOBS_REPLY, r, sizeof *r);
}

void dobc_stats_clear(struct dob_stats *s)
{
	clear_body(DOB_MSG_STATS, s, sizeof *s);
}

void dobc_history_reply_clear(struct dob_history_reply *r)
{
	clear_body(DOB_MSG_HISTORY_REPLY, r, sizeof *r);
}

void dobc_unmanaged_reply_clear(struct dob_unmanaged_reply *r)
{
	clear_body(DOB_MSG_UNMANAGED_REPLY, r, sizeof *r);
}

/* ---------------------------------------------------------------- connect */

int dobc_default_endpoint(char *buf, size_t len)
{
	return transport_default_endpoint(buf, len);
}

static void report(const struct dobc_options *o, const struct dobc_error *e)
{
	if (o && o->error)
		*o->error = *e;
}

int dobc_connect(struct dobc **out, const struct dobc_options *o)
{
	static const struct dobc_options defaults;
	char endpoint[DOBC_ENDPOINT_MAX];
	struct dob_msg hello = { .type = DOB_MSG_HELLO };
	struct want w = { .welcome = true };
	struct dob_codec_error ce;
	struct dobc_error e;
	struct dobc *c = NULL;
	const struct dob_welcome *wel;
	int64_t deadline;
	uint32_t announced;
	int timeout, r;

	*out = NULL;
	memset(&e, 0, sizeof e);
	if (!o)
		o = &defaults;
	timeout = o->connect_timeout_ms ? o->connect_timeout_ms : DOBC_CONNECT_TIMEOUT_DEFAULT;
	deadline = deadline_after(timeout);

	if (o->endpoint && *o->endpoint) {
		r = snprintf(endpoint, sizeof endpoint, "%s", o->endpoint);
		r = r < 0 || (size_t)r >= sizeof endpoint ? -DOB_EINVAL : 0;
	} else {
		r = transport_default_endpoint(endpoint, sizeof endpoint);
	}
	if (r < 0 || o->max_frame > DOB_MAX_FRAME_CEILING || o->role > DOB_ROLE_MAX) {
		e.code = -DOB_EINVAL;
		snprintf(e.message, sizeof e.message, "%s",
			 r < 0 ? "endpoint too long" : o->role > DOB_ROLE_MAX ? "bad role"
									    : "max_frame above the ceiling");
		report(o, &e);
		return -DOB_EINVAL;
	}

	c = dob_calloc(1, sizeof *c);
	if (!c) {
		e.code = -DOB_ENOMEM;
		snprintf(e.message, sizeof e.message, "out of memory");
		report(o, &e);
		return -DOB_ENOMEM;
	}
	c->next_cid = 1;
	c->qmax = o->max_queued_events ? o->max_queued_events : DOBC_QUEUE_DEFAULT;
	dob_decoder_init(&c->dec, o->max_frame ? o->max_frame : DOB_MAX_FRAME_DEFAULT);

	hello.u.hello.min_version = DOB_PROTOCOL_VERSION;
	hello.u.hello.max_version = DOB_PROTOCOL_VERSION;
	hello.u.hello.client_name = (char *)(o->client_name ? o->client_name : "libdobclient");
	hello.u.hello.role = o->role ? o->role : DOB_ROLE_OBSERVER;
	if (o->filter)
		hello.u.hello.filter = *o->filter; /* borrowed: hello is never cleared */
	/* A bad name or filter is the caller's: say so before connecting. */
	memset(&ce, 0, sizeof ce);
	r = dob_validate(&hello, &ce);
	if (r < 0) {
		r = fail(c, -DOB_EINVAL, "bad options: %s", ce.reason);
		goto fail;
	}

	r = transport_connect(&c->t, endpoint, timeout, c->err.message, sizeof c->err.message);
	if (r < 0) {
		c->err.code = r;
		goto fail;
	}
	w.reply = &c->welcome;
	/* A broker that refuses the connection at once (too many connections,
	 * shutting down) may close before Hello is written: send_msg then
	 * reports the ProtocolError already here. */
	r = send_msg(c, &hello, DOB_MAX_FRAME_DEFAULT, deadline);
	if (r < 0)
		goto fail;

	r = await(c, &w, deadline);
	if (r == -DOB_ETIMEDOUT) {
		fail(c, r, "no Welcome from %s within %d ms", endpoint, timeout);
		goto fail;
	}
	if (r < 0)
		goto fail;
	c->welcomed = true;
	wel = &c->welcome.u.welcome;
	if (wel->version != DOB_PROTOCOL_VERSION) {
		r = fail(c, -DOB_EVERSION, "the broker chose protocol version %u, this client speaks %u",
			 wel->version, DOB_PROTOCOL_VERSION);
		goto fail;
	}
	announced = wel->limits.max_frame_bytes ? wel->limits.max_frame_bytes : DOB_MAX_FRAME_DEFAULT;
	if (announced > DOB_MAX_FRAME_CEILING)
		announced = DOB_MAX_FRAME_CEILING;
	c->send_max = announced;
	c->dec.max_frame = o->max_frame ? o->max_frame : announced;
	*out = c;
	return 0;

fail:
	report(o, &c->err);
	dobc_close(c);
	return r;
}

void dobc_close(struct dobc *c)
{
	struct dob_msg m;

	if (!c)
		return;
	while (c->qhead) {
		dequeue(c, &m);
		dob_msg_clear(&m);
	}
	transport_close(c->t);
	dob_decoder_free(&c->dec);
	dob_msg_clear(&c->welcome);
	dob_free(c);
}
