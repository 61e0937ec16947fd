/*
 * broker/core/broker.h - the portable broker: sessions, routing, episodes,
 * decisions, policies, journal and authorization on one loop thread.
 *
 * Use (dobrokerd.c):
 *   struct broker_config cfg; config_defaults(&cfg); ...parse...
 *   broker_new(&b, &cfg, backend);          // takes the backend
 *   struct plat_handlers h; broker_handlers(b, &h);
 *   plat_loop_new(&loop, &h); plat_handle_signals(loop);
 *   broker_start(b, loop, err, sizeof(err)); // journal replay, backend start,
 *                                            // re-attach, listen, first sweep
 *   plat_loop_run(loop);
 *   broker_shutdown(b); plat_loop_free(loop); broker_free(b);
 */
#ifndef DOB_BROKER_H
#define DOB_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

struct backend;
struct broker;
struct plat_handlers;
struct plat_loop;

#define BROKER_VERSION "dobroker 0.1.0"

/* Settings. Strings are owned (config_clear frees them); NULL means the
 * platform's default. Every field has a flag and a config-file key of the
 * same name (config.h). */
struct broker_config {
	char *endpoint;            /* socket path / pipe name; NULL = plat_default_endpoint() */
	char *state_dir;           /* journal directory; NULL = plat_default_state_dir() */
	char *backend;             /* "sim", "bits", "do", "auto" */
	char *scenario;            /* sim scenario file, optional */
	struct dob_policy default_policy; /* kind NONE by default */
	uint32_t default_deadline_ms;     /* deadline when a policy says 0; 0 = never */
	uint32_t sweep_interval_ms;
	uint32_t action_timeout_ms;
	uint32_t handshake_timeout_ms;
	uint32_t max_frame;
	uint32_t queue_soft_limit;       /* events */
	uint32_t queue_hard_limit;       /* events, errors included */
	uint64_t queue_soft_bytes;       /* as queue_soft_limit, in bytes */
	uint64_t queue_hard_bytes;       /* as queue_hard_limit, in bytes */
	uint32_t max_inflight_requests;  /* per session */
	uint32_t max_jobs_per_identity;
	uint32_t max_conns_per_identity;
	uint32_t rate_limit;             /* frames per second per identity; 0 = unlimited */
	uint32_t rate_burst;             /* frames */
	uint64_t journal_compact_bytes;  /* 0 = the journal's default */
	bool journal_sync;
	int log_level;                   /* enum dob_log_level */
	bool allow_sandboxed;
	size_t n_test_listeners;
	char **test_listeners;           /* owned array of owned strings */
};

/* Creates a broker. cfg is copied; be is owned by the broker from this call
 * on, also on failure. */
int broker_new(struct broker **out, const struct broker_config *cfg, struct backend *be);
/* The handlers to give plat_loop_new(). */
void broker_handlers(struct broker *b, struct plat_handlers *h);
/* Opens and replays the journal, starts the backend, re-attaches every
 * managed job, listens, and runs a first reconcile sweep. On failure errbuf
 * says what went wrong. */
int broker_start(struct broker *b, struct plat_loop *loop, char *errbuf, size_t errlen);
/* Closes every session with ProtocolError SHUTTING_DOWN, stops the backend,
 * closes the journal (consistent). Idempotent. */
void broker_shutdown(struct broker *b);
void broker_free(struct broker *b); /* NULL-safe */

/* For tests and stats. */
size_t broker_session_count(const struct broker *b);
size_t broker_job_count(const struct broker *b);
size_t broker_pending_count(const struct broker *b);

#endif
