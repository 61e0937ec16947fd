/*
 * dob/alloc.h - the one allocation hook.
 *
 * Every allocation in the codec, broker core, journal and client goes through
 * these functions, so tests can fail the k-th allocation (dob_alloc_fail_at)
 * or count them. protobuf-c is given the same hook through its
 * ProtobufCAllocator (see codec.c).
 */
#ifndef DOB_ALLOC_H
#define DOB_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *dob_malloc(size_t n);
void *dob_calloc(size_t count, size_t size);
void *dob_realloc(void *p, size_t n);
void dob_free(void *p);
char *dob_strdup(const char *s);             /* NULL in -> "" copy */
char *dob_strndup(const char *s, size_t n);

/* Test hooks. The counters are atomic (any thread may allocate) and
 * process-wide: failure injection is meant for single-threaded tests. */
void dob_alloc_fail_at(uint64_t k); /* 0 disables; else the k-th call from now fails, once */
uint64_t dob_alloc_count(void);     /* calls since the last dob_alloc_reset */
void dob_alloc_reset(void);         /* zeroes count and largest, cancels fail_at */
size_t dob_alloc_largest(void);     /* largest single request since reset */
int64_t dob_alloc_live(void);       /* blocks allocated and not yet freed (never reset) */

#endif
