/*
 * tests/unit/broker_harness.h - a broker on the fake platform
 * (tests/fakes/fake_plat.c) with a scriptable fake backend, and clients that
 * speak frames to it. Used by the broker core's unit tests.
 *
 * The fake backend keeps a small table of jobs, answers every request
 * through plat_post (so results arrive when the test pumps the loop, as from
 * a real worker), follows DO's action table (backend_action_allowed) and
 * can be told to hold action results back or fail them.
 */
#ifndef DOB_BROKER_HARNESS_H
#define DOB_BROKER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "broker.h"
#include "dob/codec.h"
#include "dob/msg.h"

#define FB_MAX_JOBS 64

struct fb_job {
	struct dob_guid id;
	char name[64];
	char owner[64];
	enum dob_job_type type;
	enum dob_job_state state;
	uint32_t hr;                   /* error code while in ERROR */
	enum dob_error_context context;
	bool gone;                     /* the backend no longer knows it */
	const char *desc;              /* the error's description (NULL: "fake error 0x...") */
};

struct fake_backend {
	struct backend base;
	struct backend_sink sink;
	struct plat_loop *loop;
	struct fb_job jobs[FB_MAX_JOBS];
	size_t n_jobs;
	bool hold_acts;                /* act results are held until fb_release() */
	bool hold_submits;             /* submit results are held until fb_release() */
	bool hold_enumerate;           /* enumerate results are held until fb_release() */
	uint32_t enum_hr;              /* when non-zero, enumerate fails with it */
	unsigned n_enumerate;
	bool enum_all_users;           /* the last enumerate's all_users */
	struct backend_result *held[16];
	size_t n_held;
	uint32_t act_hr;               /* when non-zero, every act fails with it */
	unsigned n_submit, n_attach, n_query, n_act;
	unsigned n_submit_as;          /* submits made through submit_as (service mode) */
	char submit_as_sid[64];        /* the requester of the last one */
	uint32_t submit_as_pid;
	int submit_as_err;             /* when non-zero, submit_as fails with it (no job) */
	enum dob_action last_action;
	struct dob_guid last_act_job;
	bool started, stopped;
};

struct harness {
	struct broker *b;
	struct plat_loop *loop;
	struct fake_backend *fb;       /* owned by b */
	struct broker_config cfg;
	char dir[256];                 /* state directory (mkdtemp) */
};

struct client {
	struct harness *h;
	struct plat_conn *c;
	struct dob_decoder dec;
	uint64_t next_corr;
	uint64_t session_id;
	uint8_t *rx;                   /* received, not yet decoded */
	size_t rx_n, rx_off;
	struct dob_msg *backlog;       /* decoded while waiting for a reply */
	size_t n_backlog;
};

/* Creates the state dir, a fake backend, the broker on the fake platform,
 * and starts it. tweak (optional) edits the config first. */
void h_setup(struct harness *h, void (*tweak)(struct broker_config *c));
/* The broker stops and a new one starts on the same state dir; the new
 * fake backend knows the same jobs. */
void h_restart(struct harness *h);
/* Same as h_setup with the real sim backend playing scenario (text written
 * to a file in the state dir's parent); h->fb is NULL. */
void h_setup_sim(struct harness *h, const char *scenario);
void h_teardown(struct harness *h);

/* Identities: a user (sid "S-1-5-21-<uid>"), optionally sandboxed with an
 * AppContainer SID, or privileged. Static storage: copy if kept. */
struct dob_identity h_user(uint32_t uid);
struct dob_identity h_sandboxed(uint32_t uid, const char *appcontainer);
struct dob_identity h_admin(void);

void cl_connect(struct client *cl, struct harness *h, const struct dob_identity *id);
void cl_free(struct client *cl);
void cl_send(struct client *cl, const struct dob_msg *m);
void cl_send_bytes(struct client *cl, const void *p, size_t n);
/* Next message the client received (pumps first): 1, or 0 when none. */
int cl_recv(struct client *cl, struct dob_msg *out);
/* Next message, asserted to be of type t (the test fails otherwise). */
void cl_expect(struct client *cl, enum dob_msg_type t, struct dob_msg *out);
/* Asserts nothing more has arrived. */
void cl_expect_nothing(struct client *cl);
/* Hello (name, role, optional filter) and the Welcome; returns the
 * Welcome's pending episode count. */
uint32_t cl_hello(struct client *cl, const char *name, enum dob_role role,
		  const struct dob_filter *filter);
/* Requests: send and wait for the reply (asserted to be type t). What
 * arrives before the reply is kept for the next cl_recv(). */
void cl_request(struct client *cl, struct dob_msg *req, enum dob_msg_type t,
		struct dob_msg *reply);
enum dob_status cl_act(struct client *cl, const struct dob_guid *job, uint64_t episode,
		       enum dob_action a, struct dob_msg *reply);
/* SubmitJob of one file; returns the status, *job the new id. */
enum dob_status cl_submit(struct client *cl, const char *name, const char *path,
			  struct dob_guid *job, struct dob_msg *reply);
/* Sends that SubmitJob without waiting for its reply. */
void cl_send_submit(struct client *cl, const char *name, const char *path);
enum dob_status cl_adopt(struct client *cl, const struct dob_guid *job, struct dob_msg *reply);
/* Skips messages until one of type t (asserted within max messages). */
void cl_skip_to(struct client *cl, enum dob_msg_type t, struct dob_msg *out);

/* Fake backend. */
struct fb_job *fb_add(struct fake_backend *fb, const char *name, enum dob_job_type type,
		      enum dob_job_state state);
struct fb_job *fb_find(struct fake_backend *fb, const struct dob_guid *id);
/* The job enters ERROR with hr and the JobError callback is posted. */
void fb_error(struct fake_backend *fb, struct fb_job *j, uint32_t hr);
/* Delivers the held act and submit results (hold_acts, hold_submits) in
 * order. */
void fb_release(struct fake_backend *fb);
/* Posts a callback of kind for j in its current state. */
void fb_event(struct fake_backend *fb, struct fb_job *j, enum backend_event_kind kind);

#endif
