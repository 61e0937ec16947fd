/*
 * broker/backend/sim_int.h - the sim backend's own structures (the simulated
 * service's jobs, its armed steps, the backend object) and what its files
 * share: sim.c (the backend interface, start and stop, the constructors),
 * sim_job.c (the job model: progress, callbacks, state changes, the steps
 * armed on timers), sim_action.c (what an action does to a job: Cancel,
 * Suspend, Resume, Complete writing the files, a file added), sim_request.c
 * (requests queued and answered, injected faults) and sim_persist.c (the
 * jobs the service keeps across runs, and the jobs it has at start). Not for
 * use outside these files: the rest of the tree sees backend.h and
 * scenario.h.
 */
#ifndef DOB_SIM_INT_H
#define DOB_SIM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "scenario.h"

struct sim_file {
	char *url;          /* owned */
	char *local;        /* owned */
	uint64_t size;
	uint64_t done;      /* settled bytes (see sim_job.moving) */
	bool completed;     /* visible to the user (after Complete) */
};

struct sim_op;
struct plat_file;

struct sim_job {
	struct sim_job *next;       /* sim.jobs; owned by the sim */
	struct dob_guid id;
	uint32_t index;             /* N-th submitted (1-based); 0 for scenario jobs */
	char *name;                 /* owned */
	char *owner;                /* owned */
	enum dob_job_type type;
	enum dob_job_state state;
	size_t n_files;
	struct sim_file *files;     /* owned array */
	int64_t created_us, modified_us, transferred_us;
	bool has_error;
	struct dob_error_info err;  /* owned strings; valid when has_error */
	const struct scn_outcome *outcome; /* borrowed from the scenario */
	uint32_t attempts;
	/* While moving, progress goes linearly from seg_b0 bytes at seg_t0 to
	 * seg_b1 at seg_t1; sim_settle() writes it back into files[].done. */
	bool moving;
	int64_t seg_t0, seg_t1;
	uint64_t seg_b0, seg_b1;
	uint64_t gen;               /* bumped at every state change: older ops are stale */
	bool attached;              /* the broker's callback is registered */
	struct sim_op *repeat;      /* armed JobError repeat, borrowed (in sim.ops), or NULL */
};

enum op_kind {
	OP_REQUEST = 1,       /* answer a request */
	OP_START = 2,         /* QUEUED -> TRANSFERRING, the attempt's course is set */
	OP_STRIKE = 3,        /* the attempt's outcome */
	OP_TRANSIENT_END = 4, /* TRANSIENT_ERROR ends: recovery or ERROR */
	OP_REPEAT = 5,        /* JobError again */
	OP_SCRIPT = 6,        /* "at T JOB STATE" */
	OP_LOAD = 7,          /* the next step of loading the persist file */
};

struct sim_op {
	struct sim_op *prev, *next; /* sim.ops: every armed op */
	struct sim *s;              /* borrowed */
	struct timer *h;            /* the armed timer; NULL once it fired */
	enum op_kind kind;
	struct sim_job *job;        /* borrowed (jobs live as long as the sim) */
	uint64_t gen;               /* job->gen when armed */
	bool ok;                    /* OP_STRIKE: the attempt succeeds */
	bool then_error;            /* OP_TRANSIENT_END */
	/* OP_REQUEST */
	uint64_t req;
	enum backend_req_kind rkind;
	enum dob_action action;
	struct dob_guid id;
	struct sim_job *fresh;      /* submit/create: the job to create; owned until it runs */
	char *url, *local;          /* add file: owned */
	uint64_t size;              /* add file: bytes, 0: the outcome's size */
	const struct scn_fault *fault; /* borrowed; answer its HRESULT instead */
	const struct scn_event *ev; /* OP_SCRIPT; borrowed */
};

struct sim {
	struct scenario *scn;       /* owned */
	struct backend_sink sink;   /* copy, clock included */
	bool started, stopped;
	int64_t t0;                 /* now_ms at start */
	uint64_t rng;               /* seeded: repeat intervals */
	uint64_t id_rng;            /* seed and start time: job ids never repeat across runs */
	uint32_t submitted;
	struct sim_job *jobs;       /* owned list */
	/* Indexes of the jobs (sim_link_job): by id (open addressing, a power
	 * of 2 slots, at most half full) and by submit index. A restart with
	 * 10,000 jobs looked each one up in the list for every request. When
	 * an index cannot grow (out of memory) it is dropped and lookups walk
	 * the list. */
	struct sim_job **by_id;     /* owned slots */
	size_t id_cap, n_linked;
	struct sim_job **by_index;  /* owned; by_index[i - 1] is the job of index i */
	size_t index_cap;
	bool no_index;
	struct sim_op *ops;         /* owned list of armed ops */
	uint32_t *fault_left;       /* owned; per scenario fault, calls it still hits */
	struct backend_event **pend; /* owned; events of the running step, delivered after it */
	void (*exit_hook)(void *ctx, unsigned line); /* `fault ... exit` (sim_set_exit_hook) */
	void *exit_ctx;
	size_t n_pend, cap_pend;
	/* The persist file (sim_persist.c): a log of job records, appended. */
	struct plat_file *persist_f; /* owned; opened at the first append */
	uint64_t persist_bytes;     /* bytes in the file */
	uint64_t persist_base;      /* bytes right after the last whole rewrite */
	bool persist_rewrite;       /* an append failed: rewrite the whole file next */
	/* Loading it at start, in steps, while the broker serves (a service
	 * starts on its own; requests wait for it). */
	bool loading;
	bool load_failed;           /* the load failed: every request fails with load_error */
	char load_error[400];
	struct plat_map *load_map;  /* owned: the file, mapped */
	const uint8_t *load_buf;    /* its bytes */
	size_t load_len, load_pos;
	struct scenario_reader *load_rd; /* owned: parsing */
	struct scenario *load_kept; /* owned: parsed, being added */
	size_t load_next;           /* next job of load_kept to add */
	bool load_superseded;       /* the file held older records of some jobs */
	int64_t load_t0;
	struct sim_op *parked, *parked_tail; /* owned FIFO: ops that fired while loading */
};

static inline int64_t now_ms(const struct sim *s)
{
	return s->sink.clock.now_ms(s->sink.clock.ctx);
}

static inline int64_t wall_us(const struct sim *s)
{
	if (s->sink.clock.wall_us)
		return s->sink.clock.wall_us(s->sink.clock.ctx);
	return now_ms(s) * 1000;
}

static inline bool is_final(enum dob_job_state st)
{
	return st == DOB_STATE_ACKNOWLEDGED || st == DOB_STATE_CANCELLED;
}

/* sim_job.c */
struct sim_job *sim_find_job(const struct sim *s, const struct dob_guid *id);
/* Puts j at the head of s->jobs and in the indexes. */
void sim_link_job(struct sim *s, struct sim_job *j);
void sim_index_free(struct sim *s);
/* A fresh random (version 4) id that no job of s has. */
void sim_new_guid(struct sim *s, struct dob_guid *g);
/* A job with n_files zeroed files; strings are filled in by the caller. */
struct sim_job *sim_job_new(size_t n_files);
void sim_job_free(struct sim_job *j);
/* Bytes the job has moved at time t; of them, the bytes of file i. */
uint64_t sim_bytes_at(const struct sim_job *j, int64_t t);
uint64_t sim_file_done(const struct sim_job *j, size_t i, uint64_t bytes);
/* Progress so far is written back into the files; the job stops moving. */
void sim_settle(struct sim *s, struct sim_job *j);
/* The job as the backend reports it (owned strings in out). */
int sim_snapshot(struct sim *s, const struct sim_job *j, struct backend_job *out);
/* Queues a callback, delivered by sim_flush at the end of the step. */
void sim_note(struct sim *s, const struct sim_job *j, enum backend_event_kind kind);
void sim_flush(struct sim *s);
void sim_op_free(struct sim_op *op);
void sim_op_unlink(struct sim *s, struct sim_op *op);
/* Arms op at due (absolute ms). On failure op is freed. */
int sim_arm(struct sim *s, struct sim_op *op, int64_t due);
/* Arms a job step at now + delay, tied to the job's current generation. */
void sim_arm_step(struct sim *s, struct sim_job *j, enum op_kind kind, int64_t delay, bool ok,
		  bool then_error);
/* Arms the next JobError repeat of a job in ERROR. */
void sim_arm_repeat(struct sim *s, struct sim_job *j);
/* The job's error from a scenario error; the failing file is the first one
 * not finished. */
void sim_set_error(struct sim *s, struct sim_job *j, const struct scn_error *e);
/* Moves j to st and queues the callback DO would make; persisted. */
void sim_set_state(struct sim *s, struct sim_job *j, enum dob_job_state st);
/* Resume: a new attempt. */
void sim_begin_attempt(struct sim *s, struct sim_job *j);

/* sim_action.c: each returns the HRESULT, with msg saying why on failure. */
uint32_t sim_do_action(struct sim *s, struct sim_job *j, enum dob_action a, char *msg,
		       size_t len);
/* The file of op (url, local, size) added to j. */
uint32_t sim_do_add_file(struct sim *s, struct sim_job *j, struct sim_op *op, char *msg,
			 size_t len);
/* Writes buf to path through a temporary file renamed over it. */
int sim_write_whole(const char *path, const void *buf, size_t n);

/* sim_request.c */
/* Answers the request of op (sink.done). */
void sim_answer(struct sim *s, struct sim_op *op);
/* Queues a request; fresh (submit, create) passes to the op. */
int sim_request(struct backend *b, uint64_t req, enum backend_req_kind kind,
		const struct dob_guid *id, enum dob_action action, struct sim_job *fresh);
/* Queues a request op (filled in by the caller), which it takes. */
int sim_request_op(struct sim *s, struct sim_op *op);

/* sim_persist.c */
/* Records j's state in the persist file (when the scenario names one). */
void sim_persist(struct sim *s, const struct sim_job *j);
/* The jobs of the persist file, then the scenario's that it does not have:
 * at once when the file is small (a damaged file stops the start), else in
 * steps (OP_LOAD) while the broker serves, ops other than the load's own
 * parked until it ends (sim_park). */
int sim_add_jobs(struct sim *s);
void sim_load_step(struct sim *s);
/* An op that fired while loading waits for the load's end. */
void sim_park(struct sim *s, struct sim_op *op);
/* What loading holds (at stop). */
void sim_load_free(struct sim *s);
void sim_persist_close(struct sim *s);

#endif
