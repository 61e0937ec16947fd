/*
 * test_alloc.c - the allocation hook: counting, failure injection, threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "dob/alloc.h"

TestSuite(alloc, .timeout = 60);

Test(alloc, fail_at_fails_the_kth_call_once)
{
	void *p[5];

	dob_alloc_fail_at(3);
	p[0] = dob_malloc(8);
	p[1] = dob_calloc(2, 8);
	p[2] = dob_malloc(8);
	p[3] = dob_malloc(8);
	p[4] = dob_strdup("x");
	cr_assert_not_null(p[0]);
	cr_assert_not_null(p[1]);
	cr_assert_null(p[2], "the third call fails");
	cr_assert_not_null(p[3], "once");
	cr_assert_not_null(p[4]);
	for (int i = 0; i < 5; i++)
		dob_free(p[i]);
}

Test(alloc, fail_at_counts_from_now_and_zero_disables)
{
	void *a = dob_malloc(1), *b, *c;

	dob_alloc_fail_at(1);
	b = dob_realloc(a, 64);
	cr_assert_null(b, "realloc counts and fails");
	dob_alloc_fail_at(2);
	dob_alloc_fail_at(0);
	b = dob_malloc(1);
	c = dob_malloc(1);
	cr_assert_not_null(b);
	cr_assert_not_null(c);
	dob_free(a);
	dob_free(b);
	dob_free(c);
}

Test(alloc, counts_calls_and_the_largest_request_since_reset)
{
	void *a, *b, *c;

	a = dob_malloc(100);
	dob_alloc_reset();
	cr_assert_eq(dob_alloc_count(), 0);
	cr_assert_eq(dob_alloc_largest(), 0);
	b = dob_malloc(10);
	c = dob_calloc(3, 1000);
	a = dob_realloc(a, 500);
	cr_assert_eq(dob_alloc_count(), 3);
	cr_assert_eq(dob_alloc_largest(), 3000);
	dob_free(a);
	dob_free(b);
	dob_free(c);
	cr_assert_eq(dob_alloc_count(), 3, "free is not an allocation");
}

Test(alloc, reset_cancels_a_pending_failure)
{
	void *p;

	dob_alloc_fail_at(1);
	dob_alloc_reset();
	p = dob_malloc(1);
	cr_assert_not_null(p);
	dob_free(p);
}

Test(alloc, live_counts_blocks_not_yet_freed)
{
	int64_t live = dob_alloc_live();
	void *a = dob_malloc(1), *b = dob_calloc(1, 1), *c = dob_realloc(NULL, 4);
	char *s = dob_strndup("abc", 2);

	cr_assert_eq(dob_alloc_live(), live + 4);
	a = dob_realloc(a, 4096);
	cr_assert_eq(dob_alloc_live(), live + 4, "a moved block is still one block");
	dob_alloc_fail_at(1);
	cr_assert_null(dob_malloc(1));
	cr_assert_eq(dob_alloc_live(), live + 4, "a failed allocation is no block");
	dob_free(a);
	dob_free(b);
	dob_free(c);
	dob_free(s);
	dob_free(NULL);
	cr_assert_eq(dob_alloc_live(), live);
}

Test(alloc, string_helpers)
{
	char *a = dob_strdup(NULL), *b = dob_strdup("hello"), *c = dob_strndup("hello", 3);
	char *d = dob_strndup("hi", 10), *e = dob_strndup(NULL, 5);

	cr_assert_str_eq(a, "");
	cr_assert_str_eq(b, "hello");
	cr_assert_str_eq(c, "hel");
	cr_assert_str_eq(d, "hi");
	cr_assert_str_eq(e, "");
	dob_free(a);
	dob_free(b);
	dob_free(c);
	dob_free(d);
	dob_free(e);
	dob_alloc_fail_at(1);
	cr_assert_null(dob_strdup("x"));
}

Test(alloc, zero_sizes_and_overflow)
{
	void *a = dob_malloc(0), *b = dob_calloc(0, 8), *c = dob_realloc(NULL, 0);

	cr_assert_not_null(a, "a zero-size block is still a block, never NULL");
	cr_assert_not_null(b);
	cr_assert_not_null(c);
	cr_assert_null(dob_calloc(SIZE_MAX / 2, 4), "count * size overflows");
	dob_free(a);
	dob_free(b);
	dob_free(c);
}

#define THREADS 4
#define ROUNDS 20000

static void *churn(void *arg)
{
	int *nulls = arg;

	for (int i = 0; i < ROUNDS; i++) {
		void *p = dob_malloc((size_t)(i % 64) + 1);

		if (!p)
			(*nulls)++;
		dob_free(p);
	}
	return NULL;
}

Test(alloc, threads_allocate_concurrently_with_exact_counts)
{
	pthread_t t[THREADS];
	int nulls[THREADS] = { 0 }, total = 0;
	int64_t live = dob_alloc_live();

	dob_alloc_reset();
	dob_alloc_fail_at(ROUNDS);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, churn, &nulls[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += nulls[i];
	}
	cr_assert_eq(dob_alloc_count(), (uint64_t)THREADS * ROUNDS);
	cr_assert_eq(total, 1, "exactly one allocation failed");
	cr_assert_eq(dob_alloc_largest(), 64);
	cr_assert_eq(dob_alloc_live(), live);
}
