/*
 * client/src/dobctl_top.h - what `dobctl top` shows, kept apart from how it
 * gets it: the view is filled from ListJobs, GetStats and the event stream
 * (JobError adds a pending episode, Resolution removes it), and printed as
 * text or as one JSON object. No I/O but the FILE it prints to, so the tests
 * call it directly.
 */
#ifndef DOBC_DOBCTL_TOP_H
#define DOBC_DOBCTL_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dob/msg.h"
#include "jsonw.h"

/* A pending episode as its JobError told it. */
struct top_episode {
	uint64_t episode_id;
	struct dob_guid job_id;
	char name[64];          /* display name, truncated */
	uint32_t hresult;
	int64_t first_seen_us;  /* Unix microseconds */
	int64_t deadline_us;    /* Unix microseconds; 0 = none */
	char policy[64];        /* the default policy, as --policy writes it */
	uint32_t repeat_count;
};

#define TOP_MAX_EPISODES 1024

struct top_view {
	/* Set by the caller. */
	const char *broker_version;          /* borrowed */
	enum dob_backend backend;
	const struct dob_stats *stats;       /* borrowed; NULL before the first */
	const struct dob_list_jobs_reply *jobs; /* borrowed; NULL before the first */
	int64_t now_us;                      /* wall clock of this snapshot */
	/* Rates over the last interval (live view); interval_ms 0 = a snapshot:
	 * the event rates are then averages since the broker started and the
	 * decision rate is not shown. */
	int64_t interval_ms;
	double events_in_per_s, events_out_per_s, decisions_per_s;
	uint64_t decisions;                  /* Resolutions seen since dobctl connected */
	/* Pending episodes: kept by top_on_event. */
	struct top_episode episodes[TOP_MAX_EPISODES];
	size_t n_episodes;
	size_t episodes_dropped;             /* past TOP_MAX_EPISODES */
};

void top_init(struct top_view *v);
/* Whether the view holds the pending episode (its JobError came, no
 * Resolution yet). */
bool top_has_episode(const struct top_view *v, uint64_t episode_id);
/* Takes in one event: a JobError adds (or updates) its episode, a
 * Resolution removes it and counts a decision. */
void top_on_event(struct top_view *v, const struct dob_msg *m);
/* Prints the view as text: a summary, then tables of jobs, pending
 * episodes and (for privileged callers) sessions. */
void top_print(FILE *out, const struct top_view *v);
/* The view as one JSON object {"type":"top", ...} appended to w. */
void top_json(struct jsonw *w, const struct top_view *v);

#endif
