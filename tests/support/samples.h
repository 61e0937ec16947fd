/*
 * samples.h - one message of every type with every field set, for tests,
 * fuzz seeds and benchmarks.
 *
 * Every number differs from every other and from its default, strings are
 * non-empty (some beyond ASCII), arrays have more than one entry, flags are
 * set: a round trip that loses or swaps a field shows. Samples are valid
 * (dob_validate passes). Allocation goes through dob_malloc; a failure
 * aborts (build samples before injecting failures).
 */
#ifndef DOB_TEST_SAMPLES_H
#define DOB_TEST_SAMPLES_H

#include <stddef.h>

#include "dob/msg.h"

extern const enum dob_msg_type sample_types[];
extern const size_t sample_n_types;
extern const enum dob_jrec_type sample_jrec_types[];
extern const size_t sample_n_jrec_types;

void sample_msg(enum dob_msg_type t, struct dob_msg *out);
void sample_jrec(enum dob_jrec_type t, struct dob_jrec *out);

/* A ListJobsReply with n fully set jobs: a large message. */
void sample_list_jobs_reply(size_t n, struct dob_msg *out);

/* Pieces, for tests that build their own messages. */
void sample_job_info(struct dob_job_info *j);
void sample_error_info(struct dob_error_info *e);
void sample_identity(struct dob_identity *id);
void sample_policy(struct dob_policy *p);
void sample_actor(struct dob_actor *a);
struct dob_guid sample_guid(void);

#endif
