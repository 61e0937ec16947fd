/*
 * broker/core/decide.h - the decision rules of an error episode, as pure
 * functions: (facts, input) -> verdict. No I/O, no allocation, no calls into
 * sessions, the journal or the backend: episode.c gathers the facts, asks,
 * and carries out the verdict. The rules are tested cell by cell in
 * tests/unit/test_decide.c (every claim phase x every input).
 *
 * The promise they keep (docs/protocol.md "Decisions"): no answer is ever
 * contradicted later.
 *   - An episode is *claimed* from the moment an action for it is accepted
 *     (sent to the backend, or scheduled) until the backend has answered.
 *   - While it is claimed, a second Act on it is *held*, neither refused nor
 *     sent: it is answered once the claim's outcome is known, truthfully -
 *     ALREADY_RESOLVED naming a winner whose call succeeded, or, if the call
 *     failed, it takes its own turn (the first held act may win).
 *   - A claim whose call times out stays claimed (the call may still run in
 *     the service); the actor is told TIMEOUT, which says "not known yet".
 *     Only when the call is declared lost is the job read again, and the
 *     read settles the claim: out of ERROR -> resolved; still in ERROR ->
 *     reopened.
 *   - A claim that fails reopens the episode, and the failure is announced
 *     to every subscriber (the JobError again, with failed_decision).
 */
#ifndef DOB_DECIDE_H
#define DOB_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

enum claim_phase {
	CLAIM_NONE = 0,      /* pending: the first valid action wins */
	CLAIM_SCHEDULED = 1, /* a delayed decision (journaled) waits for its time */
	CLAIM_INFLIGHT = 2,  /* the action is with the backend */
	CLAIM_LOST = 3,      /* the call never answered: the job is being read again */
};
#define CLAIM_PHASE_MAX CLAIM_LOST

/* What episode.c knows when an Act arrives (authorization and argument
 * checks come first; see decide_act). */
struct act_facts {
	enum dob_status access;   /* authz_can_act() for the job (or its history) */
	bool job_managed;         /* the job is managed now */
	bool in_history;          /* act.episode_id names a resolved episode of this job */
	bool has_episode;         /* the job has a pending episode */
	uint64_t episode_id;      /* its id */
	enum claim_phase phase;   /* its claim */
	bool have_state;          /* the job's state is known */
	enum dob_job_state state; /* the episode's (or the job's last known) state */
	enum dob_job_type type;
	bool journal_full;        /* a decision could not be journaled */
	uint32_t inflight;        /* the caller's requests without a reply */
	uint32_t max_inflight;
};

enum verdict_kind {
	V_REFUSE = 1,   /* reply `status` with `reason` */
	V_ALREADY = 2,  /* reply ALREADY_RESOLVED naming the winner from history */
	V_HOLD = 3,     /* keep the Act until the claim's outcome, then decide again */
	V_RUN = 4,      /* claim the episode (if any) and send the action */
	V_SCHEDULE = 5, /* claim the episode, journal the schedule, then reply OK */
};

struct verdict {
	enum verdict_kind kind;
	enum dob_status status;   /* V_REFUSE */
	char reason[256];         /* V_REFUSE */
};

void decide_act(const struct act_facts *f, const struct dob_act *a, struct verdict *v);

/* What happened to a claim. */
enum claim_input {
	CI_RESULT_OK = 1,      /* the backend carried the action out */
	CI_RESULT_FAILED = 2,  /* the backend answered with a failure */
	CI_TIMEOUT = 3,        /* no answer within the action timeout */
	CI_LOST = 4,           /* still no answer: declared lost, job re-read */
	CI_READ_OUT = 5,       /* a read issued after the claim was lost: job out of ERROR */
	CI_READ_ERROR = 6,     /* ... : job still in ERROR */
	CI_DUE = 7,            /* a scheduled decision's time came */
	CI_LEFT_ERROR = 8,     /* the job was seen out of ERROR by other means */
};
#define CI_MAX CI_LEFT_ERROR

enum claim_outcome {
	CO_NONE = 0,      /* nothing to do (input ignored in this phase) */
	CO_KEEP = 1,      /* still claimed (phase may change) */
	CO_RESOLVE = 2,   /* the episode ends in the claimant's name */
	CO_RESOLVE_LEFT = 3, /* the episode ends: the job left ERROR (claimant unknown to have done it) */
	CO_REOPEN = 4,    /* pending again; announce the failed decision; held Acts take their turn */
	CO_RUN = 5,       /* send the scheduled action now (phase INFLIGHT) */
};

/* The next phase for input `in` in phase `ph`, and what to do. */
enum claim_phase decide_claim(enum claim_phase ph, enum claim_input in, enum claim_outcome *out);

/* Whether an error observation made by a read issued at sequence `issued`
 * (or a callback stamped `issued`) is older than the last settlement of the
 * job's episodes (`settled`): such a report is stale and is verified by a
 * fresh read rather than opening an episode. Sequences are the broker's
 * monotonic observation counter, never a clock. */
bool decide_stale(uint64_t issued, uint64_t settled);

const char *claim_phase_name(enum claim_phase ph);

#endif
