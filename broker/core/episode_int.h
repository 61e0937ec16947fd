/*
 * broker/core/episode_int.h - what the three files of the episode module
 * share, and nothing else includes: episode.c (an episode's life: opened,
 * repeated, restored, replayed to a subscriber, resolved), episode_act.c
 * (decisions carried out: Acts, held Acts, the default policy, claims settled
 * by the backend's answers) and episode_sched.c (delayed decisions: journaled,
 * armed, honoured after a restart). The rest of the core sees the episode_*
 * functions of broker_int.h.
 */
#ifndef DOB_EPISODE_INT_H
#define DOB_EPISODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_int.h"

static inline int64_t now_wall(void)
{
	return broker_wall_us();
}

/* episode.c */
/* ep is claimed by actor's action (phase INFLIGHT or SCHEDULED); the claim
 * keeps its own copy of the actor. */
void episode_claim(struct episode *ep, const struct dob_actor *actor, enum dob_action action,
		   enum dob_resolved_by by, enum claim_phase phase);
/* ep is pending again, with no claim. */
void episode_unclaim(struct episode *ep);
/* dst gets its own copy of src's name: 0 or -DOB_ENOMEM. */
int episode_copy_actor(struct dob_actor *dst, const struct dob_actor *src);

/* episode_act.c */
/* Sends an action to the backend; the episode (if any) is claimed by it. */
int episode_issue_act(struct broker *b, struct mjob *j, struct episode *ep,
		      enum dob_action action, const struct dob_actor *actor,
		      enum dob_resolved_by by, uint64_t session_id, uint64_t corr, bool journaled);
/* The held Acts h take their turn, in order; h is freed. */
void episode_run_held(struct broker *b, struct held *h);

/* episode_sched.c */
/* A delayed decision: journaled before anyone is told, claimed, and honoured
 * after a restart. NULL when it could not be journaled or armed (nothing
 * claimed then). */
struct sched *sched_new(struct broker *b, struct mjob *j, struct episode *ep,
			enum dob_action action, const struct dob_actor *actor,
			enum dob_resolved_by by, uint64_t delay_ms, int64_t due_us);
/* Journals sc (done: carried out or dropped, not to be run after a restart). */
void sched_journal(struct broker *b, const struct sched *sc, bool done, int *rc);
/* Journals that the schedule of episode_id is done. */
void sched_journal_done(struct broker *b, uint64_t episode_id, const struct dob_guid *job);

#endif
