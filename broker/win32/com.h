/*
 * broker/win32/com.h - internals shared by the COM files of the Windows
 * backends: the callback object (com_callback.c), the COM worker pool and the
 * job reader (com_worker.c), and the bits/do backends (backend_com.c).
 *
 * Threads:
 *   - RPC threads deliver callbacks into the callback object, which AddRefs
 *     its arguments, pushes them into the pool's event ring and returns S_OK.
 *   - Event workers (MTA) read the job of each ring slot (every getter is an
 *     RPC), Release it and post one event to the loop, in callback order per
 *     job (see com_worker.c).
 *   - Request workers (MTA) run the requests (submit, attach, query, act,
 *     detach) and post their results. They are a separate lane, so a slow
 *     call (Wine's Cancel blocks during a transfer) never delays the reading
 *     of a new error. Actions (urgent requests) go first: an action worker
 *     runs nothing else, and the other request workers take an action
 *     before any read (com_worker.c "Actions first").
 *   - The loop thread only queues requests and receives posted messages.
 */
#ifndef DOB_WIN32_COM_H
#define DOB_WIN32_COM_H

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>
#include <bits.h>
#include <bits3_0.h>

#include "backend.h"
#include "platform.h"
#include "win32/backend_win32.h"

struct com_pool;

/* What a callback reported. */
enum com_ev {
	COM_EV_ERROR = 1,            /* JobError(job, error) */
	COM_EV_TRANSFERRED = 2,      /* JobTransferred(job) */
	COM_EV_MODIFIED = 3,         /* JobModification(job) */
	COM_EV_FILE_TRANSFERRED = 4, /* FileTransferred(job, file): posted as BACKEND_EV_MODIFIED */
};

/* ------------------------------------------------------------ posted messages */

/* One message to the loop (platform.h's struct plat_msg: the core's posted()
 * runs msg.run, which calls the sink and frees the message), with a copy of
 * the sink, so delivery never touches the backend (which may be gone by
 * then). Exactly one of ev / res is set. */
struct com_post {
	struct plat_msg msg; /* first member */
	struct backend_sink sink;
	struct backend_event *ev;   /* owned until delivered */
	struct backend_result *res; /* owned until delivered */
};

/* Allocate a message carrying a zeroed event / result (dob_calloc'd, so the
 * core frees them with backend_event_free / backend_result_free). NULL when
 * out of memory. */
struct com_post *com_post_new_event(enum backend_event_kind kind);
struct com_post *com_post_new_result(uint64_t req, enum backend_req_kind kind);
/* Frees a message that will not be delivered (and what it carries). */
void com_post_discard(struct com_post *m);

/* ------------------------------------------------------------ worker pool */

struct com_pool_opts {
	unsigned event_workers;   /* >= 1; default 2 (DOBROKER_COM_EVENT_WORKERS) */
	unsigned request_workers; /* >= 1; default 2: urgent requests first, then the others */
	unsigned action_workers;  /* >= 1; default 1: urgent requests only */
	size_t ring_slots;        /* callbacks queued at most; default 1024 */
};

/* A request that is not urgent waits for at most this many urgent ones
 * taken by the request workers after it was queued (see com_worker.c). */
#define COM_POOL_ACTION_BURST 16

/* Starts the worker threads (each CoInitializeEx MTA; the first one sets
 * the process's COM security, see win_com_init_security). Returns 0 or
 * -DOB_ENOMEM / -DOB_EBACKEND. */
int com_pool_new(struct com_pool **out, const struct com_pool_opts *o);
/* References: the backend, the callback object and each worker thread hold
 * one; the pool is freed with the last. */
void com_pool_ref(struct com_pool *p);
void com_pool_unref(struct com_pool *p); /* NULL-safe */

/* From now on posted messages go to loop with this sink (loop thread). */
void com_pool_set_target(struct com_pool *p, struct plat_loop *loop,
			 const struct backend_sink *sink);
/* Stops the pool: queued requests are dropped (their drop function runs),
 * queued callbacks are released unread, nothing is posted any more. Waits up
 * to timeout_ms for the workers to exit; a worker stuck in a COM call is left
 * behind holding its own reference. Idempotent. */
void com_pool_stop(struct com_pool *p, DWORD timeout_ms);

/* Callback side, any thread, never blocks on COM, never allocates: takes
 * its own reference on job and extra (IBackgroundCopyError for ERROR,
 * IBackgroundCopyFile for FILE_TRANSFERRED, else NULL), queues them with a
 * sequence number and wakes an event worker. When the ring is full (or the
 * pool stopped) nothing is kept: the miss is counted, and the next event
 * worker posts BACKEND_EV_MISSED so the core reconciles every job. */
void com_pool_push_event(struct com_pool *p, enum com_ev kind, IBackgroundCopyJob *job,
			 IUnknown *extra, int64_t callback_us);

/* A request: run() is called once on a request worker (MTA) and owns the
 * item from then on (it frees it); drop() frees an item that will never run.
 * Embed this as the first member of a larger struct. */
struct com_req {
	struct com_req *next; /* the pool's */
	void (*run)(struct com_req *r);
	void (*drop)(struct com_req *r);
	bool urgent; /* an action on a job (Cancel, Complete, Resume, Suspend):
		      * taken before every request that is not */
};
/* Queue a request (any thread). -DOB_ESTATE when the pool is stopped (the
 * caller keeps r). */
int com_pool_push_request(struct com_pool *p, struct com_req *r);
/* Run fn(ctx) on a request worker and wait for it up to timeout_ms. Returns
 * 0 when it ran, -DOB_ETIMEDOUT (it may still run later: ctx must stay valid
 * or be owned by fn), -DOB_ENOMEM, -DOB_ESTATE. For set-up and tear-down
 * outside the loop (the backend probe, releasing the manager). */
int com_pool_run_sync(struct com_pool *p, void (*fn)(void *ctx), void *ctx, DWORD timeout_ms);
/* Post a message to the loop (any thread); discarded when the pool has no
 * target yet or was stopped. Takes ownership of m. */
void com_pool_post(struct com_pool *p, struct com_post *m);

/* Adopting without stealing: the callback a job had before ours (its
 * GetNotifyInterface when we registered). Each notification about the job
 * is forwarded to it by the event worker after the job has been read; it
 * is dropped when it answers with a disconnected client, and handed back
 * (take) when we stop managing the job, to be registered again.
 * set: takes its own reference (prev NULL removes). take: the caller owns
 * the reference returned (NULL: none). Any thread. */
void com_pool_set_previous(struct com_pool *p, const GUID *job, IUnknown *prev);
IUnknown *com_pool_take_previous(struct com_pool *p, const GUID *job);

/* Counters for tests and stats. */
struct com_pool_stats {
	uint64_t callbacks;     /* pushes accepted */
	uint64_t missed;        /* pushes refused (ring full / stopped / no memory) */
	uint64_t events_posted;
	uint64_t results_posted;
	uint64_t forwarded;     /* notifications forwarded to a previous callback */
	uint64_t forward_dropped; /* previous callbacks dropped (disconnected) */
	uint64_t actions_first;   /* urgent requests taken while others were waiting */
	uint64_t repeats_short;   /* JobErrors posted from the job's last full read (repeats) */
};
void com_pool_stats(struct com_pool *p, struct com_pool_stats *out);

/* ------------------------------------------------------------ Wine's proxy release race */

/* Makes proxy (an MTA proxy of a service object, e.g. the manager) hold the
 * service's IRemUnknown proxy for as long as proxy lives, so that proxy
 * managers of that service, released on several threads at once, never
 * bring it to zero references: under Wine 8 that is a use-after-free
 * (combase's find_proxy_manager revives a dying IRemUnknown proxy; see
 * docs/do-emulator.md "A crash in Wine's combase"). One QueryInterface
 * for an interface nobody implements (E_NOINTERFACE), which makes COM fetch
 * the IRemUnknown and keep it on the proxy; harmless on Windows (one RPC). */
void com_hold_rem_unknown(IUnknown *proxy);

/* ------------------------------------------------------------ reading a job */

/* Reads every field of job (GetId first, then the rest) into *out, and, when
 * err is given, the error (GetError, both descriptions, protocol, file). When
 * err is NULL and want_error is true, the job's state decides: in ERROR or
 * TRANSIENT_ERROR its GetError is read too. A getter that fails is recorded
 * in out->field_errors ({"GetTimes", hr}) and does not stop the others.
 * on_id (optional) is called right after GetId with the id (or NULL when
 * GetId failed). Never Releases job or err. Returns 0, or -DOB_ENOMEM when a
 * string could not be stored (the fields read are kept). */
int com_read_job(IBackgroundCopyJob *job, IBackgroundCopyError *err, bool want_error,
		 struct backend_job *out, void (*on_id)(void *ctx, const GUID *id), void *ctx);

/* The broker's own text for an HRESULT / an error context, used when the
 * service gives none (Wine's GetErrorDescription is E_NOTIMPL): FormatMessage
 * in langid, else backend_hresult_name, else "HRESULT 0xXXXXXXXX". Returns a
 * dob_malloc'd UTF-8 string or NULL when out of memory. */
char *com_describe_hresult(uint32_t hr, DWORD langid);
char *com_describe_context(uint32_t context);

/* Conversions. */
/* UTF-16 from a service -> UTF-8 (dob_malloc'd; NULL in -> NULL). Unlike
 * win_wide_to_utf8 it keeps a string with an unpaired surrogate (as U+FFFD):
 * a field is not lost over one bad character. */
char *com_utf8(const WCHAR *w);
int64_t com_filetime_us(const FILETIME *ft); /* Unix microseconds; 0 stays 0 */
int64_t com_wall_us(void);
void com_guid_to_dob(const GUID *g, struct dob_guid *out); /* memory order */
void com_dob_to_guid(const struct dob_guid *g, GUID *out);

/* ------------------------------------------------------------ callback object */

/* The IBackgroundCopyCallback2 object handed to SetNotifyInterface. It holds
 * a reference on pool. Returned with one reference (Release it). */
HRESULT com_callback_new(struct com_pool *pool, IBackgroundCopyCallback2 **out);

#endif
