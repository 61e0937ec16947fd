/*
 * dobclient.h - libdobclient, the C client of dobrokerd.
 *
 * A connection speaks the dobroker.v1 protocol (proto/dobroker.proto) over
 * the broker's endpoint: a Unix socket on POSIX, a named pipe on Windows.
 * Messages are the project's own structs from dob/msg.h; errors are negative
 * codes from dob/err.h (dobc_strerror() gives their text, dobc_last_error()
 * the details of the last failure).
 *
 * Usage, blocking style:
 *
 *	struct dobc *c;
 *	struct dobc_options o = { .client_name = "myapp", .role = DOB_ROLE_CONTROLLER };
 *	if (dobc_connect(&c, &o) < 0) ...
 *	for (;;) {
 *		struct dob_msg ev;
 *		int r = dobc_next_event(c, &ev, 1000);
 *		if (r == -DOB_ETIMEDOUT) continue;
 *		if (r < 0) break;                     // connection is over
 *		if (ev.type == DOB_MSG_JOB_ERROR) {
 *			struct dob_action_result res;
 *			r = dobc_act(c, &ev.u.job_error.job.job_id, ev.u.job_error.episode_id,
 *				     DOB_ACTION_RESUME, 0, &res, 5000);
 *			if (r == 0 || r == -DOB_EREMOTE) dobc_action_result_clear(&res);
 *		}
 *		dob_msg_clear(&ev);
 *	}
 *	dobc_close(c);
 *
 * Event-loop style: wait until dobc_poll_handle() is ready (poll() on the fd
 * on POSIX; WaitForMultipleObjects() on the event HANDLE on Windows), call
 * dobc_process(), then take events with dobc_next_event(c, &ev, 0) until it
 * returns -DOB_ETIMEDOUT. Events may also be queued by a request function
 * while it waits for its reply: check dobc_pending() before going back to
 * sleep on the handle.
 *
 * Events are JobError, JobTransferred, JobModified, Resolution and Gap.
 * Replies (ActionResult, JobReply, ...) are matched to their request by
 * correlation id and are never returned by dobc_next_event(); a reply that
 * arrives after its request timed out is discarded.
 *
 * Local queue: events that arrive while a request waits, or that dobc_process
 * reads, are kept until dobc_next_event takes them. The queue is bounded
 * (dobc_options.max_queued_events): past the bound, non-error events are
 * dropped and counted in a Gap that the library inserts itself (its
 * first_dropped_seq and last_dropped_seq are 0, which a broker's Gap never
 * has); JobError events are kept up to four times the bound, then dropped and
 * counted too (the episode stays pending at the broker, and a new connection
 * receives it again).
 *
 * Timeouts are in milliseconds: a negative value waits forever, 0 only
 * consumes what has already arrived.
 *
 * Threads: a connection is used by one thread at a time. Different
 * connections are independent.
 *
 * Security (Windows): the pipe is opened with SECURITY_SQOS_PRESENT |
 * SECURITY_IDENTIFICATION, so the broker may identify the client but never
 * impersonate it.
 */
#ifndef DOBCLIENT_H
#define DOBCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/err.h"
#include "dob/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A connection to the broker. Opaque. */
struct dobc;

#define DOBC_TIMEOUT_INFINITE (-1)
#define DOBC_CONNECT_TIMEOUT_DEFAULT 5000 /* ms, when options say 0 */
#define DOBC_QUEUE_DEFAULT 1024           /* events, when options say 0 */
#define DOBC_ENDPOINT_MAX 512             /* bytes, NUL included */
#define DOBC_MESSAGE_MAX 1024             /* bytes of dobc_error.message */

/* Details of a failure. */
struct dobc_error {
	int code;            /* the negative code returned; 0 when none */
	enum dob_perr perr;  /* with -DOB_EPROTO: the ProtocolError code the broker
			      * sent (DOB_PERR_UNSPECIFIED when the library itself
			      * found the broker's conversation broken) */
	bool from_broker;    /* message is the broker's own text (ProtocolError,
			      * or a reply's message with -DOB_EREMOTE) */
	char message[DOBC_MESSAGE_MAX]; /* what happened, NUL-terminated
					 * (truncated when longer) */
};

struct dobc_options {
	/* Socket path (POSIX) or pipe name (Windows). NULL or "" = the
	 * platform's default, the broker's rule (see dobc_default_endpoint).
	 * On Windows a name without a leading "\\" is taken as a pipe name
	 * under \\.\pipe\. */
	const char *endpoint;
	/* Free text shown in the broker's logs and in Resolution.actor,
	 * 1..64 characters. NULL = "libdobclient". */
	const char *client_name;
	/* DOB_ROLE_OBSERVER (the default when 0) or DOB_ROLE_CONTROLLER (may
	 * answer error episodes with dobc_act). */
	enum dob_role role;
	/* Which events to receive; NULL = every event the client may see.
	 * Borrowed: only read during dobc_connect. */
	const struct dob_filter *filter;
	/* Time for connecting and the Hello/Welcome handshake together.
	 * 0 = DOBC_CONNECT_TIMEOUT_DEFAULT; negative = forever. When the
	 * endpoint is busy (every pipe instance taken, socket backlog full)
	 * the connect retries until then; when nothing listens on it, it
	 * fails at once with -DOB_ENOTFOUND. */
	int connect_timeout_ms;
	/* Largest frame the client accepts. 0 = what the broker announces in
	 * Welcome.limits.max_frame_bytes (at most DOB_MAX_FRAME_CEILING).
	 * Frames the client sends are bounded by the broker's limit. */
	uint32_t max_frame;
	/* Bound of the local event queue; 0 = DOBC_QUEUE_DEFAULT. */
	size_t max_queued_events;
	/* Optional: where dobc_connect writes why it failed (it has no
	 * connection to ask dobc_last_error of then). */
	struct dobc_error *error;
};

/* Writes the platform's default endpoint into buf (len bytes, at least
 * DOBC_ENDPOINT_MAX is enough): POSIX $XDG_RUNTIME_DIR/dobroker.sock when
 * XDG_RUNTIME_DIR is set and not empty, else /tmp/dobroker-<uid>.sock;
 * Windows \\.\pipe\dobroker. Returns 0 or -DOB_EINVAL (buf too small). */
int dobc_default_endpoint(char *buf, size_t len);

/* Connects, sends Hello and waits for Welcome. On success *out is the
 * connection (dobc_close it). On failure *out is NULL and the code is:
 * -DOB_ENOTFOUND (nothing listens on the endpoint), -DOB_EACCES (not allowed
 * to open it), -DOBC_ESERVER_AUTH (Windows: the server is not the broker),
 * -DOB_ETIMEDOUT, -DOB_EIO (other connect/I/O failure),
 * -DOB_EPROTO (the broker answered with ProtocolError, details in
 * o->error), -DOB_ECLOSED / -DOB_ETRUNCATED (it hung up), -DOB_EVERSION (it
 * chose a version the client does not speak), -DOB_EINVAL (bad options),
 * -DOB_ENOMEM. o may be NULL (every default). */
int dobc_connect(struct dobc **out, const struct dobc_options *o);
/* Windows: dobc_connect's code (negated: -DOBC_ESERVER_AUTH) when the
 * process serving the pipe is not the broker it should be -- another user,
 * below medium integrity, in an AppContainer, or a pipe whose owner is
 * neither a service account nor DOBC_SERVER_SID -- checked before a byte is
 * sent (a squatter never sees the Hello). The environment variable
 * DOBC_SERVER_SID names the broker's account when it is not SYSTEM, LOCAL
 * SERVICE, NETWORK SERVICE or the client's own user. docs/security.md. */
#define DOBC_ESERVER_AUTH 100
/* Windows: the check dobc_connect makes on a connected pipe handle (a
 * HANDLE), for programs that open the pipe themselves. 0, or
 * -DOBC_ESERVER_AUTH with why (whylen bytes) naming the server and the
 * reason. */
int dobc_authenticate_server(void *pipe_handle, char *why, size_t whylen);

/* Closes the connection and frees everything, queued events included.
 * NULL-safe. */
void dobc_close(struct dobc *c);

/* The broker's Welcome: protocol version, session id, backend, limits, the
 * client's identity as the broker sees it, broker version, pending episodes.
 * Valid until dobc_close. */
const struct dob_welcome *dobc_welcome(const struct dobc *c);

/* The next event, waiting up to timeout_ms. Returns 0 with *out filled (the
 * caller owns it: dob_msg_clear it), -DOB_ETIMEDOUT when none came in time,
 * or the connection's error once it is over (-DOB_ECLOSED: the broker hung
 * up between frames; -DOB_ETRUNCATED: inside a frame; -DOB_EPROTO: the broker
 * sent ProtocolError, see dobc_last_error; -DOB_EMALFORMED, -DOB_EFIELD,
 * -DOB_EFRAME_TOO_LARGE, -DOB_EFRAME_EMPTY: the broker sent a bad frame;
 * -DOB_EIO). Events queued before the connection ended are returned first.
 * On error *out is zeroed. */
int dobc_next_event(struct dobc *c, struct dob_msg *out, int timeout_ms);

/* Something to wait on in an event loop: POSIX the socket's fd (readable
 * when bytes arrived); Windows an event HANDLE (signalled when bytes
 * arrived or the pipe broke; manual reset, and it stays signalled until
 * dobc_process has consumed what arrived). Valid until dobc_close. */
intptr_t dobc_poll_handle(const struct dobc *c);

/* Non-blocking pump: reads what has arrived, queues the events, discards
 * stale replies. Returns the number of queued events (>= 0), or the
 * connection's error once it is over (the events queued before that remain
 * available from dobc_next_event). */
int dobc_process(struct dobc *c);

/* Events in the local queue (taken by dobc_next_event without waiting). */
size_t dobc_pending(const struct dobc *c);

/* ---------------------------------------------------------------- requests
 *
 * Each sends one request and blocks until its reply or timeout_ms, queueing
 * the events that arrive meanwhile. Returns:
 *   0              the broker did it (reply status OK); *out is the reply,
 *                  the caller clears it with the matching *_clear below;
 *   -DOB_EREMOTE   the broker refused (status != OK); *out is filled all the
 *                  same (status, message, winner, ...) and must be cleared;
 *                  dobc_last_error says "STATUS_NAME: message";
 *   -DOB_ETIMEDOUT no reply in time; the connection stays usable and a late
 *                  reply is discarded; *out is zeroed;
 *   -DOB_EINVAL    the request failed validation before it was sent (the
 *                  reason is in dobc_last_error); *out is zeroed;
 *   another code   the connection is over (as for dobc_next_event); *out
 *                  is zeroed.
 * A broker that ends a connection says why first (ProtocolError:
 * RATE_LIMITED, TOO_SLOW, SHUTTING_DOWN, ...) and hangs up; when a request's
 * write then fails (broken pipe), the library reads what the broker sent
 * before reporting, so the result is -DOB_EPROTO with the broker's code and
 * message in dobc_last_error, not -DOB_ECLOSED. dobc_connect does the same
 * for a refusal that races the Hello.
 */

/* Act on a job: action, for episode_id (0 = whatever its episode);
 * delay_ms only with DOB_ACTION_RESUME_AFTER_DELAY (1..DOB_MAX_DELAY_MS).
 * Needs the controller role. */
int dobc_act(struct dobc *c, const struct dob_guid *job_id, uint64_t episode_id,
	     enum dob_action action, uint32_t delay_ms, struct dob_action_result *out,
	     int timeout_ms);

/* Have the broker create a job (req is borrowed). out->job.job.job_id is the
 * new job's id when out->has_job. */
int dobc_submit(struct dobc *c, const struct dob_submit_job *req, struct dob_job_reply *out,
		int timeout_ms);

/* Have the broker manage an existing job (this replaces the job's
 * callback). policy NULL = the broker's default. */
int dobc_adopt(struct dobc *c, const struct dob_guid *job_id, const struct dob_policy *policy,
	       struct dob_job_reply *out, int timeout_ms);

/* The managed jobs the caller may see. */
int dobc_list_jobs(struct dobc *c, struct dob_list_jobs_reply *out, int timeout_ms);

/* The broker's counters. */
int dobc_stats(struct dobc *c, struct dob_stats *out, int timeout_ms);

/* Resolved episodes the caller may see, newest first: who decided what,
 * when, the HRESULT and the resulting state. job_ids (n_job_ids of them, at
 * most 64; NULL = every job) narrows the list; limit 0 = as many as the
 * broker keeps (4096). A refusal is -DOB_EREMOTE with *out's status and
 * message set (clear it either way). */
int dobc_list_history(struct dobc *c, const struct dob_guid *job_ids, size_t n_job_ids,
		      uint32_t limit, struct dob_history_reply *out, int timeout_ms);

/* Jobs the backend knows that the broker does not manage, among those the
 * caller may adopt (its own user's; every user's for privileged callers).
 * The DO backend cannot enumerate: -DOB_EREMOTE with status UNAVAILABLE. */
int dobc_list_unmanaged(struct dobc *c, struct dob_unmanaged_reply *out, int timeout_ms);

/* Round trip. rtt_us (optional) receives the round-trip time in
 * microseconds. A Pong with another nonce is -DOB_EPROTO. */
int dobc_ping(struct dobc *c, int64_t *rtt_us, int timeout_ms);

/* Free what a reply owns and zero it. NULL-safe. */
void dobc_action_result_clear(struct dob_action_result *r);
void dobc_job_reply_clear(struct dob_job_reply *r);
void dobc_list_jobs_reply_clear(struct dob_list_jobs_reply *r);
void dobc_stats_clear(struct dob_stats *s);
void dobc_history_reply_clear(struct dob_history_reply *r);
void dobc_unmanaged_reply_clear(struct dob_unmanaged_reply *r);

/* ---------------------------------------------------------------- errors */

/* Text for a code (negative or positive). Never NULL. */
const char *dobc_strerror(int err);

/* The last failure on this connection (code 0 when none); valid until the
 * next call on c. With -DOB_EPROTO from the broker: perr and message are the
 * broker's ProtocolError. */
const struct dobc_error *dobc_last_error(const struct dobc *c);

#ifdef __cplusplus
}
#endif

#endif
