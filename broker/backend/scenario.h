/*
 * broker/backend/scenario.h - the scenario files that drive the sim backend
 * (grammar and examples: docs/sim-scenarios.md).
 *
 * A scenario is parsed once into the structs below; the sim backend reads
 * them and never changes them. Every string is owned by the scenario and
 * freed by scenario_free().
 */
#ifndef DOB_SCENARIO_H
#define DOB_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

struct backend;

/* What a transfer attempt does. */
enum scn_kind {
	SCN_OK = 1,         /* every file transferred after `after_ms` */
	SCN_ERROR = 2,      /* ERROR after `after_ms` (JobError) */
	SCN_TRANSIENT = 3,  /* TRANSIENT_ERROR after `after_ms`, for `for_ms`, then recovery or ERROR */
	SCN_HANG = 4,       /* stays TRANSFERRING, no progress, forever */
};

/* What Complete writes to each finished file's local path. */
enum scn_writes {
	SCN_WRITES_SOURCE = 0,  /* the bytes of a file:// source, else the URL text */
	SCN_WRITES_URL = 1,     /* the URL text and a newline */
	SCN_WRITES_NOTHING = 2, /* no file appears */
};

/* The error a job reports (IBackgroundCopyError). */
struct scn_error {
	uint32_t hresult;
	int context;               /* enum dob_error_context, or -1: DO's rule (REMOTE_FILE for HTTP 403, else NONE) */
	char *description;         /* owned; NULL: the code's name */
	char *context_description; /* owned; NULL: empty */
	char *protocol;            /* owned; NULL: from the failing file's URL scheme */
};

struct scn_outcome {
	enum scn_kind kind;
	int64_t after_ms;   /* time from the start of an attempt to its outcome */
	uint64_t size;      /* bytes per file */
	bool has_bytes;
	uint64_t bytes;     /* error/transient: job bytes transferred when it strikes (default: no progress) */
	uint32_t times;     /* error/transient: only the first `times` attempts; 0 = every attempt */
	int64_t for_ms;     /* transient: how long the job stays in TRANSIENT_ERROR */
	bool then_error;    /* transient: ERROR afterwards instead of recovering */
	struct scn_error err;
};

struct scn_rule {
	char *glob;         /* owned; matched against every file's remote URL (* and ?) */
	struct scn_outcome o;
	unsigned line;
};

struct scn_file {
	char *url;          /* owned */
	char *path;         /* owned */
	uint64_t size;
	uint64_t done;      /* bytes already transferred */
};

/* A job that exists before the broker starts (AdoptJob, restart tests). */
struct scn_job {
	struct dob_guid id;
	char *name;         /* owned */
	char *owner;        /* owned; "uid:N", a SID, or "" */
	enum dob_job_type type;
	enum dob_job_state state;
	bool has_error;     /* state ERROR or TRANSIENT_ERROR */
	struct scn_error err;
	uint32_t attempts;  /* attempts already made (rules' times= counts them) */
	size_t n_files;
	struct scn_file *files; /* owned array */
	unsigned line;
};

/* Which job a timed event or a fault is about. */
enum scn_who {
	SCN_WHO_ANY = 0,    /* "*": every job (faults only) */
	SCN_WHO_ID = 1,     /* a GUID */
	SCN_WHO_INDEX = 2,  /* "#N": the N-th job submitted (1-based) */
};

struct scn_target {
	enum scn_who who;
	struct dob_guid id;
	uint32_t index;
};

/* "at T JOB STATE": the service moves the job by itself. */
struct scn_event {
	int64_t at_ms;      /* after the backend started */
	struct scn_target job;
	enum dob_job_state state;
	bool has_error;
	struct scn_error err;
	int64_t for_ms;     /* transient */
	bool then_error;    /* transient */
	unsigned line;
};

/* Requests a fault can hit. */
enum scn_req {
	SCN_REQ_CANCEL = 1,
	SCN_REQ_COMPLETE = 2,
	SCN_REQ_RESUME = 3,
	SCN_REQ_SUSPEND = 4,
	SCN_REQ_ACT = 5,     /* any action */
	SCN_REQ_SUBMIT = 6,
	SCN_REQ_ATTACH = 7,
	SCN_REQ_QUERY = 8,
	SCN_REQ_DETACH = 9,
	SCN_REQ_ANY = 10,
};

enum scn_effect {
	SCN_FAULT_HRESULT = 1, /* answer this HRESULT and do nothing */
	SCN_FAULT_HANG = 2,    /* never answer (a COM call that blocks forever) */
	SCN_FAULT_DELAY = 3,   /* carry it out and answer after delay_ms */
	/* The service goes away during the call and comes back without the
	 * callbacks it had (they are not persisted). The DO emulator's process
	 * exits (its clients see RPC_E_DISCONNECTED or RPC_S_SERVER_UNAVAILABLE,
	 * and COM starts it again on the next call); the sim answers
	 * RPC_E_DISCONNECTED (err -DOB_EBACKEND) and forgets every callback. */
	SCN_FAULT_EXIT = 4,
};

struct scn_fault {
	enum scn_req req;
	struct scn_target job;
	enum scn_effect effect;
	uint32_t hresult;
	int64_t delay_ms;
	uint32_t count;     /* calls it hits; 0 = every call */
	unsigned line;
};

struct scenario {
	char *name;                /* owned; the file name used in messages */
	uint64_t seed;
	bool repeat;               /* JobError is called again while a job stays in ERROR */
	int64_t repeat_min_ms, repeat_max_ms;
	bool modifications;        /* JobModification events on state changes */
	char *persist;             /* owned; NULL: jobs live as long as the backend.
				    * Else the file where the sim keeps its jobs
				    * across broker restarts (scenario syntax). */
	enum scn_writes writes;
	struct scn_outcome dflt;   /* for submitted jobs no rule matches */
	size_t n_rules, n_jobs, n_events, n_faults;
	size_t n_job_lines;        /* `job` lines read: above n_jobs when later
				    * ones replaced earlier (SCN_LATER_JOB_REPLACES) */
	struct scn_rule *rules;    /* owned arrays, in file order */
	struct scn_job *jobs;
	struct scn_event *events;
	struct scn_fault *faults;
};

/* Parses text (len bytes, need not be NUL-terminated). name is used in
 * messages: "NAME:LINE: problem". Returns 0, -DOB_EINVAL (err says which
 * line and why) or -DOB_ENOMEM. An empty text gives the default scenario. */
int scenario_parse(const char *text, size_t len, const char *name, struct scenario **out,
		   char *err, size_t errlen);
/* The same, a piece at a time: the sim reads a long persist file in steps
 * while the broker already serves. begin, then feed pieces that each end
 * at a line's end (or at the text's end), then end, which gives the
 * scenario (or the error of the checks that need the whole text) and frees
 * the reader. A feed that fails leaves the reader to scenario_read_free.
 * Line numbers in messages count across pieces. */
struct scenario_reader;
#define SCN_LATER_JOB_REPLACES 1u /* a `job` line of an id already read replaces
				   * that job and its files (else: an error) */
int scenario_read_begin(const char *name, unsigned flags, struct scenario_reader **out);
int scenario_read_feed(struct scenario_reader *r, const char *text, size_t len, char *err,
		       size_t errlen);
int scenario_read_end(struct scenario_reader *r, struct scenario **out, char *err,
		      size_t errlen);
void scenario_read_free(struct scenario_reader *r); /* NULL-safe */
/* Reads path (plat_file_read_all) and parses it; the path names the file in
 * messages. -DOB_ENOTFOUND when the file is missing. */
int scenario_load(const char *path, struct scenario **out, char *err, size_t errlen);
void scenario_free(struct scenario *s); /* NULL-safe */

/* The words of the grammar for a state, an error context and a job type
 * ("transient", "remote-file", "upload-reply"); "?" when out of range. */
const char *scenario_state_word(enum dob_job_state st);
const char *scenario_context_word(enum dob_error_context c);
const char *scenario_type_word(enum dob_job_type t);

/* Glob match: '*' any run of characters, '?' one character; no escapes. */
bool scenario_glob(const char *pattern, const char *s);
/* The outcome for a job with these URLs: the first rule any URL matches,
 * else the default. */
const struct scn_outcome *scenario_outcome_for(const struct scenario *s,
					       const char *const *urls, size_t n);

/* The sim backend on a parsed scenario (sim.c); takes scn, also on failure. */
int sim_backend_from_scenario(struct backend **out, struct scenario *scn);

/*
 * The sim model one call at a time, for the DO service emulator (doemu/),
 * which serves the BITS-compatible COM API on the same model: one scenario
 * means the same thing in-process (the sim backend) and over COM. Called on
 * the thread that runs the backend's timers, like every backend op.
 *
 * sim_create: CreateJob. Answered through sink.done (kind BACKEND_REQ_CREATE)
 *   with the new SUSPENDED job, no file, no callback registered; the job is
 *   "#N" of the scenario's events and faults (faults on `submit` hit it).
 * sim_add_file: one file (size 0: the size of the outcome the job's URLs
 *   choose). Answered with kind BACKEND_REQ_ADD_FILE: DO_E_INVALID_STATE on
 *   a final job, DO_E_JOB_NOT_FOUND (err -DOB_ENOTFOUND) for an unknown id.
 * Callbacks are registered with the backend's attach and removed with
 * detach, as the sim backend does for the broker.
 * sim_read_files: the job's files as they are now, synchronously (no fault
 *   applies); free with sim_file_info_free. -DOB_ENOTFOUND for an unknown id.
 */
struct sim_file_info {
	char *url;         /* owned */
	char *local;       /* owned */
	uint64_t size;
	uint64_t done;     /* bytes transferred by now */
	bool completed;    /* visible at its local path (after Complete) */
};
int sim_create(struct backend *b, uint64_t req, const char *name, enum dob_job_type type,
	       const char *owner);
int sim_add_file(struct backend *b, uint64_t req, const struct dob_guid *job, const char *url,
		 const char *local, uint64_t size);
int sim_read_files(struct backend *b, const struct dob_guid *job, struct sim_file_info **out,
		   size_t *n);
void sim_file_info_free(struct sim_file_info *f, size_t n); /* NULL-safe */
/* What `fault ... exit` does instead of answering: fn(ctx, line) ends the
 * process (the emulator); without a hook the sim answers
 * RPC_E_DISCONNECTED and forgets every callback. */
void sim_set_exit_hook(struct backend *b, void (*fn)(void *ctx, unsigned line), void *ctx);

#endif
