/*
 * tests/fuzz/support/fuzz_backend.h - a scripted backend for fuzz_broker
 * (fuzz_backend.c). The jobs live in a "world" that outlives the backend
 * objects, so a broker restarted on its journal finds the same service.
 * Every request is answered through plat_post (as from a COM worker), or
 * held until fzb_release(); acts follow DO's action table.
 */
#ifndef DOB_FUZZ_BACKEND_H
#define DOB_FUZZ_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

#define FZB_MAX_JOBS 16
#define FZB_MAX_HELD 64

struct fzb_job {
	struct dob_guid id;
	char name[64];
	enum dob_job_type type;
	enum dob_job_state state;
	uint32_t hr;   /* error code while in ERROR */
	bool gone;     /* the service no longer knows it */
};

struct fzb_world {
	struct fzb_job jobs[FZB_MAX_JOBS];
	unsigned n_jobs;
	bool hold_acts, hold_other;
	uint32_t act_hr;                 /* non-zero: acts return it */
	struct backend_result *held[FZB_MAX_HELD];
	unsigned n_held;
	/* the live backend object's view */
	struct plat_loop *loop;          /* borrowed */
	struct backend_sink sink;
	bool live;                       /* started and not stopped */
	unsigned gen;                    /* posts of older objects are dropped */
};

/* Forgets everything (call between inputs, after the last backend is freed). */
void fzb_world_reset(struct fzb_world *w);
/* A new backend object on w; w->gen moves on. */
struct backend *fzb_new(struct fzb_world *w);
/* Adds a job (the id from its index unless id is given). NULL when full. */
struct fzb_job *fzb_add(struct fzb_world *w, const struct dob_guid *id, const char *name,
			enum dob_job_type type, enum dob_job_state state);
/* Posts a callback of kind for job i (its current state). */
void fzb_event(struct fzb_world *w, unsigned i, enum backend_event_kind kind);
/* Posts the held results (newest first if reverse). */
void fzb_release(struct fzb_world *w, bool reverse);

#endif
