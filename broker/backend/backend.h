/*
 * broker/backend/backend.h - the job manager behind the broker.
 *
 * Implementations: sim (broker/backend/sim.c, portable, scripted), and on
 * Windows bits and do (broker/win32/, COM). Every request is asynchronous:
 * the call queues it and returns; the result comes back through
 * sink->done() with the request id the core chose. Events (the COM callbacks
 * JobError/JobTransferred/JobModification, or the simulator's script) come
 * through sink->event(). Both sink functions are called ON THE LOOP THREAD
 * only: a backend whose work runs on other threads (COM workers) posts to the
 * loop first (plat_post) and delivers from there.
 *
 * A request that never completes (a hung COM call) is the core's to time out;
 * a late result for a timed-out request is delivered anyway and the core
 * ignores it.
 */
#ifndef DOB_BACKEND_H
#define DOB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "dob/msg.h"

struct backend;
struct plat_loop;
struct timers;

/* What the backend observed about a job. Owned by whoever holds it; free with
 * backend_job_clear(). */
struct backend_job {
	struct dob_job_info info;         /* id, name, type, state, progress, times, owner */
	bool has_error;                   /* error is set (job in ERROR/TRANSIENT_ERROR and the backend gave it) */
	struct dob_error_info error;
	size_t n_field_errors;            /* getters that failed while reading */
	struct dob_field_error *field_errors; /* owned array */
	int64_t callback_us;              /* wall-clock time the callback entered (events) */
	uint64_t seq;                     /* events: backend_clock.seq() when the callback
					   * entered; 0 = the core stamps it on arrival */
};

enum backend_event_kind {
	BACKEND_EV_ERROR = 1,        /* JobError callback */
	BACKEND_EV_TRANSFERRED = 2,  /* JobTransferred callback */
	BACKEND_EV_MODIFIED = 3,     /* JobModification callback */
	/* Callbacks were lost before they could be read (the COM backends'
	 * queue was full or out of memory; the callback still returned S_OK).
	 * job is empty. The core should reconcile every managed job now. */
	BACKEND_EV_MISSED = 4,
};

struct backend_event {
	enum backend_event_kind kind;
	struct backend_job job;
	/* BACKEND_EV_MISSED only: the service went away and the backend has
	 * reconnected (counted in GetStats' service_restarts). */
	bool service_restarted;
};

enum backend_req_kind {
	BACKEND_REQ_SUBMIT = 1,  /* create a job, add files, set callback, resume */
	BACKEND_REQ_ATTACH = 2,  /* GetJob + set our callback + notify flags (adopt, or re-attach after restart) */
	BACKEND_REQ_QUERY = 3,   /* read the job (state, progress, error when in error) */
	BACKEND_REQ_ACT = 4,     /* Cancel / Complete / Resume / Suspend */
	BACKEND_REQ_DETACH = 5,  /* clear our callback (SetNotifyInterface(NULL)) */
	/* The sim model's finer steps, for the DO service emulator (doemu/),
	 * which serves CreateJob and AddFileWithRanges one call at a time
	 * (sim_create / sim_add_file in scenario.h). The core never sends them. */
	BACKEND_REQ_CREATE = 6,  /* CreateJob: a SUSPENDED job without files, no callback */
	BACKEND_REQ_ADD_FILE = 7, /* add one file to a job that is not final */
	BACKEND_REQ_ENUMERATE = 8, /* list the jobs the service knows (EnumJobs) */
};

/* Result of a request. hresult is the COM call's (or the simulator's)
 * result; err is 0 when the call was made and returned (check hresult), or a
 * negative dob_err when it could not be made (-DOB_ENOTFOUND: no such job;
 * -DOB_EBACKEND: the service is unreachable; ...). */
struct backend_result {
	uint64_t req_id;
	enum backend_req_kind kind;
	int err;
	uint32_t hresult;
	char *message;          /* owned; optional human text */
	bool has_job;           /* job holds the job as read after the call */
	struct backend_job job;
	/* BACKEND_REQ_ENUMERATE: every job the service listed (info only;
	 * field_errors say which getters failed). */
	size_t n_jobs;
	struct backend_job *jobs; /* owned array */
};

/* Time for a backend that does its work on the loop thread (sim): the
 * core's timers (broker/core/timer.h) and the clock they run on. The core
 * fills it in the sink it gives to start(); a COM backend ignores it. */
struct backend_clock {
	struct timers *timers;          /* borrowed; valid until the backend is stopped */
	void *ctx;
	int64_t (*now_ms)(void *ctx);   /* monotonic ms, the clock timers_run() is given */
	int64_t (*wall_us)(void *ctx);  /* Unix microseconds for job times; NULL: now_ms * 1000 */
	/* The core's observation sequence (any thread): stamp each callback at
	 * entry so the core can tell a report older than its last decision
	 * from a new one, whatever the clocks do. NULL: not stamped. */
	uint64_t (*seq)(void *ctx);
};

struct backend_sink {
	void *ctx;
	/* ownership of ev / r passes to the callee (free with backend_event_free /
	 * backend_result_free) */
	void (*event)(void *ctx, struct backend_event *ev);
	void (*done)(void *ctx, struct backend_result *r);
	struct backend_clock clock;     /* the sim backend refuses to start without it */
};

struct backend_ops {
	const char *name;            /* "sim", "bits", "do" */
	enum dob_backend kind;
	/* Called once on the loop thread before any request. */
	int (*start)(struct backend *b, struct plat_loop *loop, const struct backend_sink *sink);
	/* Stops workers, detaches nothing (callbacks die with the process). */
	void (*stop)(struct backend *b);
	void (*free)(struct backend *b);

	/* Requests: return 0 when queued (the result follows through done()), or
	 * a negative error when it could not even be queued. */
	int (*submit)(struct backend *b, uint64_t req, const struct dob_submit_job *spec);
	/* Optional. The machine service (--mode service) creates jobs as the
	 * client that asked: the core calls this instead of submit, with the
	 * requester's identity (borrowed for the call), when the broker runs
	 * in service mode and the backend has it. The backend acts with the
	 * requester's own rights (Windows: impersonation with cloaking), so
	 * the service sees the requester as the job's owner; when it cannot,
	 * the result says err -DOB_EACCES and no job is created, never one as
	 * the broker. NULL (sim): submit. */
	int (*submit_as)(struct backend *b, uint64_t req, const struct dob_submit_job *spec,
			 const struct dob_identity *requester);
	int (*attach)(struct backend *b, uint64_t req, const struct dob_guid *job);
	int (*query)(struct backend *b, uint64_t req, const struct dob_guid *job);
	int (*act)(struct backend *b, uint64_t req, const struct dob_guid *job, enum dob_action action);
	int (*detach)(struct backend *b, uint64_t req, const struct dob_guid *job);
	/* Lists the jobs the service knows: every user's when all_users (BITS:
	 * BG_JOB_ENUM_ALL_USERS, which needs an administrator), else the
	 * broker's own user's. NULL when the backend cannot enumerate (DO has
	 * no EnumJobs): the core answers STATUS_UNAVAILABLE. */
	int (*enumerate)(struct backend *b, uint64_t req, bool all_users);

	/* Map a backend HRESULT to one meaning (DO and BITS twins are equal):
	 * returns a DOB_STATUS_* for an action's result. */
	enum dob_status (*status_of)(uint32_t hresult);
	/* Text for an HRESULT, for messages ("BG_E_INVALID_STATE", ...). */
	const char *(*hresult_name)(uint32_t hresult);
};

struct backend {
	const struct backend_ops *ops;
	void *impl; /* owned by the implementation */
};

/* Helpers (backend.c). */
void backend_job_clear(struct backend_job *j);
int backend_job_copy(struct backend_job *dst, const struct backend_job *src);
void backend_event_free(struct backend_event *ev);   /* NULL-safe */
void backend_result_free(struct backend_result *r);  /* NULL-safe */

/* HRESULTs the backends share (values from bitsmsg.h / DO's list; see
 * docs and ../shared reference). DO and BITS twins map to one meaning. */
#define DOB_S_OK 0x00000000u
#define DOB_E_FAIL 0x80004005u
#define DOB_E_NOTIMPL 0x80004001u
#define DOB_E_INVALIDARG 0x80070057u
#define DOB_E_ACCESSDENIED 0x80070005u
#define DOB_BG_E_NOT_FOUND 0x80200001u
#define DOB_BG_E_INVALID_STATE 0x80200002u
#define DOB_BG_E_EMPTY 0x80200003u
#define DOB_BG_E_FILE_NOT_AVAILABLE 0x80200004u
#define DOB_BG_E_ERROR_INFORMATION_UNAVAILABLE 0x8020000Fu
#define DOB_BG_S_PARTIAL_COMPLETE 0x00200017u
#define DOB_BG_S_UNABLE_TO_DELETE_FILES 0x0020001Au
#define DOB_BG_E_NO_PROGRESS 0x80200024u
#define DOB_DO_E_JOB_NOT_FOUND 0x80D02003u
#define DOB_DO_E_JOB_EMPTY 0x80D02004u
#define DOB_DO_E_FILE_NOT_AVAILABLE 0x80D02010u
#define DOB_DO_E_INVALID_STATE 0x80D02013u
#define DOB_DO_E_ERROR_INFORMATION_UNAVAILABLE 0x80D02014u
#define DOB_DO_E_DOWNLOAD_NO_PROGRESS 0x80D02002u
#define DOB_HTTP_E(status) (0x80190000u | (uint32_t)(status))
#define DOB_RPC_E_DISCONNECTED 0x80010108u        /* the service's process went away */
#define DOB_RPC_S_SERVER_UNAVAILABLE 0x800706BAu  /* HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) */

/* The canonical meaning of an HRESULT: DO codes are folded onto their BITS
 * twins (DO_E_INVALID_STATE -> BG_E_INVALID_STATE, ...); others unchanged. */
uint32_t backend_hresult_canonical(uint32_t hr);
/* Name for an HRESULT the project knows ("BG_E_INVALID_STATE",
 * "HTTP 404 (BG_E_HTTP_ERROR_404)", ...), or NULL. */
const char *backend_hresult_name(uint32_t hr);
/* A DOB_STATUS for an action's HRESULT (success codes -> OK, invalid state ->
 * FORBIDDEN_ACTION, not found -> UNKNOWN_JOB, else BACKEND_ERROR). */
enum dob_status backend_status_of(uint32_t hr);

/* Would DO allow this action on a job in this state/type? Returns 0, or
 * -DOB_ESTATE with a reason (e.g. "complete is not allowed on an upload
 * job"). The core refuses before any backend call. */
int backend_action_allowed(enum dob_action action, enum dob_job_state state,
			   enum dob_job_type type, char *reason, size_t len);

/* Constructors. The sim backend runs a scenario file (docs/sim-scenarios.md);
 * NULL or "" runs the default scenario (every submitted job transfers after
 * a short delay). A bad file fails with -DOB_EINVAL and errbuf naming the
 * file, the line and the problem. */
int sim_backend_new(struct backend **out, const char *scenario_path, char *errbuf, size_t errlen);

#endif
