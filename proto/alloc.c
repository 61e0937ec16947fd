/*
 * alloc.c - the one allocation hook (dob/alloc.h).
 *
 * Every allocation of the codec, the broker and the client passes through
 * here, so tests can count allocations, see the largest request, and make
 * one chosen allocation fail. The counters are C11 atomics: any thread may
 * allocate. Failure injection is a test tool; it is process-wide.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"

static atomic_uint_fast64_t calls;   /* allocation calls since the last reset */
static atomic_uint_fast64_t fail_on; /* value of `calls` that fails; 0 = none */
static atomic_size_t largest;        /* largest single request since reset */
static atomic_int_fast64_t live;     /* blocks allocated and not yet freed */

/* Counts one allocation call of n bytes; false when this one must fail. */
static int admit(size_t n)
{
	uint_fast64_t k = atomic_fetch_add(&calls, 1) + 1;
	size_t big = atomic_load(&largest);

	while (n > big && !atomic_compare_exchange_weak(&largest, &big, n))
		;
	if (atomic_load(&fail_on) == k) {
		uint_fast64_t want = k;
		/* Exactly one caller wins the failure, even under races. */
		if (atomic_compare_exchange_strong(&fail_on, &want, 0))
			return 0;
	}
	return 1;
}

static void *counted(void *p)
{
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

void *dob_malloc(size_t n)
{
	if (!admit(n))
		return NULL;
	return counted(malloc(n ? n : 1));
}

void *dob_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	if (!admit(count * size))
		return NULL;
	return counted(calloc(count ? count : 1, size ? size : 1));
}

void *dob_realloc(void *p, size_t n)
{
	void *q;

	if (!admit(n))
		return NULL;
	q = realloc(p, n ? n : 1);
	/* A moved or grown block is still one block; only a new one counts. */
	return p ? q : counted(q);
}

void dob_free(void *p)
{
	if (!p)
		return;
	atomic_fetch_sub(&live, 1);
	free(p);
}

char *dob_strndup(const char *s, size_t n)
{
	size_t len = s ? strnlen(s, n) : 0;
	char *d = dob_malloc(len + 1);

	if (!d)
		return NULL;
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *dob_strdup(const char *s)
{
	return dob_strndup(s, s ? strlen(s) : 0);
}

void dob_alloc_fail_at(uint64_t k)
{
	atomic_store(&fail_on, k ? atomic_load(&calls) + k : 0);
}

uint64_t dob_alloc_count(void)
{
	return atomic_load(&calls);
}

size_t dob_alloc_largest(void)
{
	return atomic_load(&largest);
}

int64_t dob_alloc_live(void)
{
	return atomic_load(&live);
}

void dob_alloc_reset(void)
{
	atomic_store(&fail_on, 0);
	atomic_store(&calls, 0);
	atomic_store(&largest, 0);
}
