/*
 * msgcmp.h - deep equality of struct dob_msg and struct dob_jrec, for tests.
 *
 * Written field by field by hand, independently of the codec's layout
 * tables, so that a round trip compared with it can catch a table that
 * drops or mixes up a field. A NULL string equals "". Flags (has_error,
 * has_job) are compared, and so is the struct behind them.
 */
#ifndef DOB_TEST_MSGCMP_H
#define DOB_TEST_MSGCMP_H

#include <stdbool.h>
#include <stddef.h>

#include "dob/msg.h"

/* True when equal. Otherwise why (n bytes, may be NULL) gets the path of
 * the first difference and both values: "job_error.job.state: 4 != 5". */
bool msgcmp_msg(const struct dob_msg *a, const struct dob_msg *b, char *why, size_t n);
bool msgcmp_jrec(const struct dob_jrec *a, const struct dob_jrec *b, char *why, size_t n);

#endif
