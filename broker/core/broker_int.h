/*
 * broker/core/broker_int.h - the broker's internal state, shared by the core
 * modules (broker.c, request.c, session.c, router.c, jobs.c, history.c and
 * episode*.c). Not for use outside broker/core/ and its unit tests.
 *
 * Everything here lives on the loop thread. Objects refer to each other by
 * id where they can outlive each other (a backend request names its session
 * and job by id; a reply for a session that is gone is dropped).
 */
#ifndef DOB_BROKER_INT_H
#define DOB_BROKER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <stdatomic.h>

#include "backend.h"
#include "broker.h"
#include "decide.h"
#include "dob/codec.h"
#include "dob/msg.h"
#include "journal.h"
#include "outq.h"
#include "platform.h"
#include "timer.h"

#define HISTORY_MAX 4096      /* resolved episodes kept (ALREADY_RESOLVED, ListHistory) */
#define LATENCY_RING 1024     /* decisions kept for the latency percentiles */
#define EARLY_MAX 64          /* callbacks kept that beat their job's submit/adopt result */
#define BATCH_MAX (64u * 1024u) /* bytes handed to one plat_conn_write (one frame at least) */
#define EPISODE_ID_BLOCK 1024 /* episode ids reserved per JournalCounters record */

struct broker;
struct mjob;

/* ---------------------------------------------------------------- sessions */

struct replay_ref {
	struct dob_guid job;
	uint64_t episode_id;
};

enum session_state {
	SESS_HELLO = 0,   /* accepted, waiting for Hello */
	SESS_ACTIVE = 1,  /* Welcome sent */
	SESS_CLOSING = 2, /* failed or hung up: its last frame (if any) and the
			   * close are under way; freed at the close callback */
};

/* What a principal's closed connections left of their rate budget
 * (session.c), so that reconnecting does not refill it. */
struct rate_bucket;

struct session {
	struct broker *b;            /* borrowed */
	struct plat_conn *conn;      /* borrowed; the platform's until its last callback */
	struct session *next, *prev; /* the broker's list */
	uint64_t id;
	enum session_state state;
	struct dob_identity ident;   /* owned copy of the OS's word */
	char *client_name;           /* owned; "" before Hello */
	enum dob_role role;
	struct dob_filter filter;    /* owned */
	uint32_t version;
	struct dob_decoder dec;
	struct timer *hs_timer;      /* handshake timeout (HELLO) */
	struct timer *close_timer;   /* CLOSING: give up on the write in flight */
	struct rate_bucket *bucket;  /* a reference (session.c) */
	int64_t tokens;              /* this connection's bucket, in thousandths of a frame */
	int64_t tokens_ms;           /* when it was last filled */
	bool hello_charged;          /* its first frame took a token (refunded at close) */
	uint32_t inflight;           /* requests without a reply */
	/* output */
	struct outq *q;              /* owned */
	uint8_t *wbuf;               /* owned; the batch in flight (until sent()) */
	bool writing;                /* a plat_conn_write awaits its sent() */
	bool close_started;          /* plat_conn_close* called: the close callback frees it */
	struct frame *final;         /* owned; ProtocolError to write last (CLOSING) */
	uint64_t events_out;
	/* Pending episodes announced in Welcome, sent (replayed) as the
	 * queue has room so a long backlog never trips the hard limit. */
	struct replay_ref *replay;   /* owned array */
	size_t n_replay, replay_pos;
};

/* ---------------------------------------------------------------- jobs */

/* An action the broker runs later: RESUME_AFTER_DELAY, or the resume
 * policy's backoff. */
struct sched {
	struct sched *next;
	struct broker *b;            /* borrowed */
	struct dob_guid job;
	uint64_t episode_id;         /* claimed episode, 0 = none */
	enum dob_action action;      /* as reported (RESUME_AFTER_DELAY or RESUME) */
	struct dob_actor actor;      /* owned */
	enum dob_resolved_by by;
	int64_t due_us;              /* wall time it runs (journaled) */
	struct timer *t;
};

/* An Act that arrived while its episode's decision was in flight: answered
 * once the outcome is known (decide.h). */
struct held {
	struct held *next;
	uint64_t session_id, corr;
	struct dob_act act;          /* episode_id bound to the episode it waited on */
};

struct episode {
	uint64_t id;
	struct broker *b;            /* borrowed */
	struct mjob *job;            /* borrowed: the job that owns this episode */
	struct dob_job_error ev;     /* owned: the event as published (replayed = false) */
	bool journaled;              /* the latest version is in the journal */
	uint64_t opened_seq;         /* observation sequence when it opened */
	enum claim_phase phase;      /* decide.h; CLAIM_NONE = pending */
	struct dob_actor claimant;   /* owned, while claimed */
	enum dob_action claim_action;
	enum dob_resolved_by claim_by;
	uint64_t claim_req;          /* backend request (INFLIGHT, LOST), 0 while scheduled */
	uint64_t lost_seq;           /* LOST: reads issued after this settle the claim */
	struct sched *claim_sched;   /* borrowed: the scheduled action, if any */
	bool claim_journaled;        /* the claim is a journaled schedule: until its outcome
				      * is journaled a restart runs it again */
	struct held *held, **held_tail; /* owned: Acts waiting for the outcome, in order */
	struct timer *deadline;
};

struct mjob {
	struct mjob *next;           /* hash chain */
	struct dob_guid id;
	struct dob_identity owner;   /* owned: who submitted or adopted it */
	struct dob_policy policy;    /* as requested; kind UNSPECIFIED = the broker's */
	char *display_name;          /* owned */
	enum dob_job_type type;
	uint32_t resumes_used;
	bool have_last;
	struct backend_job last;     /* owned: the backend's latest word */
	struct episode *ep;          /* owned: the pending episode, or NULL */
	bool attached;
	bool attach_inflight, query_inflight;
	bool transient;              /* a transient spell has been reported */
	uint64_t settled_seq;        /* observation sequence when the last episode ended */
};

/* ---------------------------------------------------------------- requests */

enum breq_kind {
	BR_SUBMIT = 1,
	BR_ADOPT_QUERY = 2,  /* AdoptJob, step 1: read the job (owner check) */
	BR_ADOPT_ATTACH = 3, /* AdoptJob, step 2: take its callback */
	BR_ATTACH = 4,       /* re-attach after restart */
	BR_QUERY = 5,        /* reconcile sweep */
	BR_ACT = 6,
	BR_DISCARD = 7,      /* cancel of a job we could not journal */
	BR_ENUMERATE = 8,    /* ListUnmanaged: the backend's jobs */
};

/* A request to the backend waiting for its result. */
struct breq {
	struct breq *next, *prev;    /* the table's list (newest first) */
	struct breq *hnext;          /* the table's hash chain by id */
	bool linked;                 /* in the table */
	bool sweep;                  /* BR_ATTACH/BR_QUERY: counted in sweep_inflight */
	struct broker *b;            /* borrowed */
	uint64_t id;
	enum breq_kind kind;
	uint64_t session_id;         /* who gets the reply; 0 = the broker itself */
	uint64_t corr;
	struct dob_guid job;
	int64_t issued_us;           /* wall time (event timestamps) */
	uint64_t issued_seq;         /* observation sequence, to tell stale observations */
	struct timer *timeout;
	bool answered;               /* BR_ACT: the requester has had its reply (TIMEOUT) */
	bool lost;                   /* BR_ACT: declared lost; a late result still counts */
	/* BR_ACT */
	enum dob_action action;      /* as asked (RESUME_AFTER_DELAY kept) */
	uint64_t episode_id;         /* claimed episode, 0 = none */
	struct dob_actor actor;      /* owned */
	enum dob_resolved_by by;
	/* BR_SUBMIT / BR_ADOPT_* */
	struct dob_identity requester; /* owned */
	struct dob_policy policy;
	char *display_name;          /* owned */
	enum dob_job_type type;
};

struct resolved {
	uint64_t episode_id;
	struct dob_guid job;
	enum dob_action action;
	enum dob_resolved_by by;
	enum dob_job_state state;    /* the job's state after the resolution */
	struct dob_actor actor;      /* owned */
	bool has_owner;              /* owner is set: who may be told about it once the job is gone */
	struct dob_identity owner;   /* owned */
	uint32_t hr;                 /* the action's HRESULT (0 when none was made) */
	char *message;               /* owned; may be NULL */
	char *display_name;          /* owned; may be NULL */
	int64_t resolved_us;         /* when it was decided (0 = unknown: an old journal) */
	int64_t first_seen_us;       /* when the episode began (0 = unknown) */
};

/* ---------------------------------------------------------------- broker */

struct broker {
	struct broker_config cfg;    /* owned copy */
	struct backend *be;          /* owned */
	struct plat_loop *loop;      /* borrowed */
	struct journal *jr;          /* owned */
	struct timers *timers;       /* owned */
	struct backend_sink sink;
	struct session *sessions;    /* owned list */
	struct mjob **jobs;          /* owned hash table of owned jobs */
	size_t jobs_cap, n_jobs, n_pending;
	struct breq *reqs;           /* owned list (request.c: also hashed by id) */
	struct breq **req_hash;      /* owned buckets, req_hcap of them (a power of 2) */
	size_t req_hcap, n_reqs;
	size_t n_creating;           /* submits and adopts in the table */
	/* The sweep in progress (jobs.c): the jobs to read, the next to issue,
	 * and how many of its reads are in flight (at most SWEEP_WINDOW). */
	struct dob_guid *sweep_ids;  /* owned */
	size_t sweep_n, sweep_pos, sweep_inflight;
	struct sched *scheds;        /* owned list */
	struct rate_bucket *buckets; /* owned list (session.c) */
	struct plat_lock *state_lock; /* owned: the state directory's, while started */
	struct resolved *hist;       /* owned ring of HISTORY_MAX */
	size_t hist_head, hist_n;
	uint64_t lat[LATENCY_RING];
	size_t lat_head, lat_n;
	uint64_t next_session_id, next_req_id, next_episode_id, episode_id_reserved;
	uint64_t event_seq;
	/* The observation sequence (decide_stale): every request issued, every
	 * callback and every settlement takes the next value. Atomic: backends
	 * may stamp callbacks on their own threads (backend_clock.seq). */
	atomic_uint_fast64_t obs_seq;
	/* Owned: schedules found in the journal, honoured at start. */
	struct dob_jrec *restored;
	size_t n_restored;
	uint64_t events_in, events_out, dropped;
	uint64_t service_restarts; /* BACKEND_EV_MISSED with service_restarted */
	int64_t start_ms;
	uint64_t compacted_size;     /* journal size after the last compaction */
	struct timer *sweep_timer;
	/* Owned: callbacks about jobs not managed yet, while a submit or adopt
	 * is in flight (see sink_event). */
	struct backend_event *early[EARLY_MAX];
	size_t n_early;
	bool started, stopped, replaying, journal_full;
};

/* ---------------------------------------------------------------- broker.c */

/* ---------------------------------------------------------------- request.c */

struct breq *breq_new(struct broker *b, enum breq_kind kind, const struct dob_guid *job);
struct breq *breq_find(const struct broker *b, uint64_t id);
void breq_unlink(struct broker *b, struct breq *q);
/* Sends q to the backend with its timeout armed; on failure q is freed and
 * the error returned. */
int breq_issue(struct broker *b, struct breq *q, const void *arg);
/* Unlinks and frees a request that was not issued (or is finished). NULL-safe. */
void breq_free(struct broker *b, struct breq *q);
bool breq_pending(const struct broker *b, enum breq_kind kind, const struct dob_guid *job);
size_t breq_count_for(const struct broker *b, const struct dob_identity *who);
bool breq_creating(const struct broker *b);
void breq_table_free(struct broker *b);

/* ---------------------------------------------------------------- broker.c */

/* Callbacks kept while a submit or adopt was in flight: deliver or drop. */
void broker_early_settle(struct broker *b);
/* Appends a journal record. -DOB_ENOSPC marks the journal full (new work
 * is refused) until an append succeeds again. */
int broker_journal(struct broker *b, const struct dob_jrec *r);
/* The same for a record body already encoded (journal_append_body; body is
 * taken over). */
int broker_journal_body(struct broker *b, uint8_t *body, size_t len);
/* End of a handler: starts the writes of the turn (router_flush_all) and
 * compacts the journal when due. */
void broker_reap(struct broker *b);
void broker_record_latency(struct broker *b, uint64_t us);
/* The next value of the observation sequence (any thread). */
uint64_t broker_next_seq(struct broker *b);
void broker_on_stats(struct session *s, uint64_t corr);
int64_t broker_wall_us(void);
const char *broker_hr_name(const struct broker *b, uint32_t hr);
enum dob_status broker_status_of(const struct broker *b, uint32_t hr);

/* ---------------------------------------------------------------- session.c */

void session_accepted(struct broker *b, struct plat_conn *c, const struct dob_identity *peer);
void session_data(struct session *s, const uint8_t *p, size_t n);
/* The peer sends no more: TRUNCATED if it stopped inside a frame, then
 * the session closes. */
void session_eof(struct session *s);
/* The platform gave the connection up (peer gone): s is unlinked and freed. */
void session_closed(struct session *s, int err);
/* Queues ProtocolError(code, message) as the session's last frame; it is
 * written and the connection closed at the next router_flush_all. Never
 * frees: the close callback does. */
void session_fail(struct session *s, enum dob_perr code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
/* The close callback of every session's connection: frees the session. */
void session_close_cb(struct plat_conn *c);
/* Unlinks s from the broker and frees it. */
void session_free(struct session *s);
void session_free_all(struct broker *b);
/* Rate-limit buckets of principals (broker_free). */
void session_buckets_free(struct broker *b);
struct session *session_find(struct broker *b, uint64_t id);
/* Reply helpers: status replies with a message. */
void session_reply(struct session *s, const struct dob_msg *m);
void session_reply_action(struct broker *b, uint64_t session_id, uint64_t corr,
			  enum dob_status st, uint32_t hr, enum dob_job_state state,
			  const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 7, 8)))
#endif
	;
void session_reply_job(struct broker *b, uint64_t session_id, uint64_t corr, enum dob_status st,
		       uint32_t hr, const struct mjob *j, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 7, 8)))
#endif
	;
/* A request's reply went out: one fewer in flight. */
void session_request_done(struct broker *b, uint64_t session_id);
size_t session_count_principal(struct broker *b, const struct dob_identity *who);

/* ---------------------------------------------------------------- router.c */

/* Encodes m into a new frame (refs = 1), or NULL (logged). Events too large
 * for max_frame have their long texts shortened rather than lost. */
struct frame *frame_encode(struct broker *b, const struct dob_msg *m);
/* Encodes a reply carrying a list of *n_items: drops items from the end
 * until it fits one frame, and then says so in *message ("truncated: ...
 * WHAT fit in one frame"). */
struct frame *frame_encode_fit(struct broker *b, struct dob_msg *m, size_t *n_items,
			       char **message, const char *what);
/* Queues f (a new reference) on s; kind 0 for non-events. Never starts a
 * write: router_flush_all does. */
void session_push(struct session *s, struct frame *f, enum dob_event_kind kind, uint64_t seq);
/* The write of s's batch is over (handlers.sent). */
void session_sent(struct session *s, int status);
/* Queues more of the Welcome's replay while the queue is below the soft limit. */
void session_replay_more(struct session *s);
/* Starts a write on every session with queued frames and none in flight,
 * and closes the sessions that failed (their ProtocolError last). Called
 * once the turn's journal records are durable: nothing reaches a peer
 * before that. */
void router_flush_all(struct broker *b);
bool router_filter_match(const struct dob_filter *f, const struct dob_guid *job,
			 const char *display_name, enum dob_event_kind kind);
/* Queues event m for every session that may see job j and whose filter
 * takes it. Encoded once. */
void router_publish(struct broker *b, const struct dob_msg *m, enum dob_event_kind kind,
		    const struct mjob *j);
/* The same for an event whose body is already packed (dob_body_pack of m):
 * its frame is made from those bytes (m is encoded only if they do not fit
 * max_frame, to be shortened). */
void router_publish_packed(struct broker *b, const struct dob_msg *m, const uint8_t *body,
			   size_t len, enum dob_event_kind kind, const struct mjob *j);

/* ---------------------------------------------------------------- jobs.c */

struct mjob *jobs_find(const struct broker *b, const struct dob_guid *id);
int jobs_insert(struct broker *b, struct mjob *j);
struct mjob *mjob_new(const struct dob_guid *id, const struct dob_identity *owner,
		      const struct dob_policy *policy, const char *display_name,
		      enum dob_job_type type);
void mjob_free(struct mjob *j);
/* Unlinks and frees j; a pending episode is resolved first (job left
 * error) with why; journals JournalJobRemoved. */
void jobs_remove(struct broker *b, struct mjob *j, const char *why);
void jobs_free_all(struct broker *b);
/* Unlinks and frees j and its episode without journaling (replay). */
void jobs_forget(struct broker *b, struct mjob *j);
size_t jobs_count_owned(const struct broker *b, const struct dob_identity *who);
/* Collects the ids of every managed job (dob_free the array). */
int jobs_ids(const struct broker *b, struct dob_guid **out, size_t *n);
/* The JournalJob record of j (borrows j's fields). */
void jobs_record(const struct mjob *j, struct dob_jrec *r);
int jobs_journal(struct broker *b, const struct mjob *j);
void jobs_summary(const struct broker *b, const struct mjob *j, struct dob_job_summary *out);

enum obs_src {
	OBS_EV_ERROR = 1,
	OBS_EV_TRANSFERRED = 2,
	OBS_EV_MODIFIED = 3,
	OBS_READ = 4, /* a query/attach/submit result */
};
/* The backend said this about j (observed at wall time at_us, observation
 * sequence seq: a read's issue, a callback's entry). Opens, counts or closes
 * episodes, settles claims, publishes events, removes finished jobs. j may
 * be freed on return. */
/* j->last becomes a copy of bj (its id kept); unchanged when out of memory. */
void jobs_set_last(struct mjob *j, const struct backend_job *bj);
void jobs_observe(struct broker *b, struct mjob *j, const struct backend_job *bj,
		  enum obs_src src, int64_t at_us, uint64_t seq);
/* The same for an observation the caller gives up (an event's job, freed
 * right after): it becomes j->last without a copy, and *bj is left empty. */
void jobs_observe_take(struct broker *b, struct mjob *j, struct backend_job *bj,
		       enum obs_src src, int64_t at_us, uint64_t seq);
/* Reads j now (a BR_QUERY) unless a read issued at or after `after` is in
 * flight. */
void jobs_read_now(struct broker *b, struct mjob *j, uint64_t after);

void jobs_on_submit(struct session *s, uint64_t corr, const struct dob_submit_job *req);
void jobs_on_adopt(struct session *s, uint64_t corr, const struct dob_adopt_job *req);
void jobs_on_list(struct session *s, uint64_t corr);
void jobs_submit_done(struct broker *b, struct breq *q, struct backend_result *r);
void jobs_adopt_query_done(struct broker *b, struct breq *q, struct backend_result *r);
void jobs_adopt_attach_done(struct broker *b, struct breq *q, struct backend_result *r);
void jobs_attach_done(struct broker *b, struct breq *q, struct backend_result *r);
void jobs_query_done(struct broker *b, struct breq *q, struct backend_result *r);
void jobs_request_timeout(struct broker *b, struct breq *q);
/* Reconcile: attach or query every managed job. */
/* Reads (or re-attaches) every managed job, SWEEP_WINDOW at a time. again:
 * start over even if a sweep is in progress (callbacks were lost); else a
 * sweep in progress is left to finish. */
void jobs_sweep(struct broker *b, bool again);
void jobs_sweep_free(struct broker *b);
bool jobs_result_not_found(const struct backend_result *r);

/* ---------------------------------------------------------------- episode*.c
 * An episode's life in episode.c; episode_arm_deadline, episode_on_act,
 * episode_act_done, episode_act_timeout and episode_claim_input (Acts,
 * held Acts, the policy, claims) in episode_act.c; the delayed decisions
 * (episode_restore_schedules, sched_*) in episode_sched.c. */

/* The policy that applies to j, with deadline_ms resolved (0 = never). */
struct dob_policy episode_policy(const struct broker *b, const struct mjob *j);
void episode_open(struct broker *b, struct mjob *j, const struct backend_job *bj, int64_t at_us,
		  uint64_t seq);
void episode_repeat(struct broker *b, struct episode *ep, int64_t at_us);
/* Appends ep's current version; records whether it is journaled. */
int episode_journal(struct broker *b, struct episode *ep);
/* Replay: the pending episode id of j from its journal record, whose
 * decoded event ev it takes over (ev is left zeroed, also on failure). */
int episode_restore(struct broker *b, struct mjob *j, uint64_t id, struct dob_job_error *ev);
/* Ends j's pending episode: journals the decision, publishes Resolution,
 * records history and latency. */
void episode_resolve(struct broker *b, struct mjob *j, enum dob_resolved_by by,
		     enum dob_action action, const struct dob_actor *actor, uint32_t hr,
		     enum dob_job_state new_state, const char *message);
/* True while an action sent to the backend decides the episode. */
bool episode_busy(const struct episode *ep);
/* Something happened to ep's claim (decide_claim): carries out the outcome.
 * j may be freed on return only when the outcome removes it (never here). */
void episode_claim_input(struct broker *b, struct mjob *j, enum claim_input in, uint32_t hr,
			 enum dob_job_state state, const char *why);
/* Replay: a JournalSchedule record; start: honour the schedules found. */
int episode_replay_schedule(struct broker *b, const struct dob_jrec *r);
/* The JournalSchedule record that keeps ep's journaled claim (scheduled, or
 * sent and not yet answered) across a compaction; false when it has none.
 * Borrows ep's fields. */
bool episode_schedule_record(const struct episode *ep, struct dob_jrec *r);
void episode_restore_schedules(struct broker *b);
void episode_free(struct broker *b, struct episode *ep);
/* Arms the deadline timer from ev.deadline_us (replayed episodes too). */
void episode_arm_deadline(struct broker *b, struct episode *ep);
void episode_send_replay(struct session *s, const struct episode *ep);
void episode_on_act(struct session *s, uint64_t corr, const struct dob_act *a);
void episode_act_done(struct broker *b, struct breq *q, struct backend_result *r);
/* The action of q timed out: true when q stays (its claim is kept until the
 * backend answers or q is declared lost). */
bool episode_act_timeout(struct broker *b, struct breq *q);
/* Scheduled decisions of a session (they count as in flight). */
size_t sched_count_session(const struct broker *b, uint64_t session_id);
void sched_free(struct broker *b, struct sched *sc);
/* Reserves episode ids in the journal ahead of use. */
uint64_t episode_next_id(struct broker *b);

/* ---------------------------------------------------------------- history.c */

/* Records a resolved episode in the ring of the latest HISTORY_MAX (res:
 * episode, job, action, resolved_by, actor, hresult, new_state, message).
 * owner may be NULL (unknown): then only privileged callers see it;
 * display_name may be NULL. */
void history_add(struct broker *b, const struct dob_resolution *res, int64_t resolved_us,
		 int64_t first_seen_us, const struct dob_identity *owner, const char *display_name);
const struct resolved *history_find(const struct broker *b, uint64_t episode_id);
/* The k-th entry, oldest first (k < b->hist_n). */
const struct resolved *history_at(const struct broker *b, size_t k);
/* The JournalDecision record of h (borrows h's fields). */
void history_record(const struct resolved *h, struct dob_jrec *r);
void history_free(struct broker *b);
void history_on_list(struct session *s, uint64_t corr, const struct dob_list_history *req);
void history_on_unmanaged(struct session *s, uint64_t corr);
void history_enumerate_done(struct broker *b, struct breq *q, struct backend_result *r);
void history_request_timeout(struct broker *b, struct breq *q);

#endif
