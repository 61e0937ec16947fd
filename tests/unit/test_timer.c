/*
 * tests/unit/test_timer.c - the min-heap timers of broker/core/timer.c.
 */
#include <criterion/criterion.h>

#include "dob/alloc.h"
#include "timer.h"

static struct timers *t;
static int order[64];
static int n_order;

static void setup(void)
{
	n_order = 0;
	cr_assert_eq(timers_new(&t), 0);
}

static void teardown(void)
{
	timers_free(t);
}

TestSuite(timer, .init = setup, .fini = teardown, .timeout = 10);

static void record(void *arg)
{
	order[n_order++] = (int)(intptr_t)arg;
}

Test(timer, nothing_armed_means_sleep_forever)
{
	cr_assert_eq(timers_next_timeout(t, 0), -1);
	cr_assert_eq(timers_run(t, 1000), 0);
}

Test(timer, fires_in_due_order_then_arming_order)
{
	timer_add(t, 300, record, (void *)3, NULL);
	timer_add(t, 100, record, (void *)1, NULL);
	timer_add(t, 200, record, (void *)2, NULL);
	timer_add(t, 200, record, (void *)22, NULL);
	cr_assert_eq(timers_next_timeout(t, 50), 50);
	cr_assert_eq(timers_run(t, 99), 0);
	cr_assert_eq(timers_run(t, 250), 3);
	cr_assert_eq(order[0], 1);
	cr_assert_eq(order[1], 2);
	cr_assert_eq(order[2], 22);
	cr_assert_eq(timers_count(t), 1);
	cr_assert_eq(timers_next_timeout(t, 1000), 0, "overdue is 0, never negative");
	cr_assert_eq(timers_run(t, 1000), 1);
	cr_assert_eq(order[3], 3);
}

Test(timer, a_cancelled_timer_never_fires)
{
	struct timer *a, *b;

	timer_add(t, 100, record, (void *)1, &a);
	timer_add(t, 100, record, (void *)2, &b);
	timer_cancel(t, a);
	timer_cancel(t, NULL);
	cr_assert_eq(timers_run(t, 100), 1);
	cr_assert_eq(order[0], 2);
}

static struct timers *rearm_t;

static void rearm_now(void *arg)
{
	record(arg);
	timer_add(rearm_t, 0, rearm_now, arg, NULL);
}

Test(timer, a_callback_rearming_for_now_waits_for_the_next_run)
{
	rearm_t = t;
	timer_add(t, 10, rearm_now, (void *)7, NULL);
	cr_assert_eq(timers_run(t, 10), 1);
	cr_assert_eq(timers_run(t, 10), 1);
	cr_assert_eq(n_order, 2);
}

Test(timer, many_timers_with_random_cancels_fire_sorted)
{
	struct timer *h[500];
	int64_t last = -1;
	unsigned seed = 12345;

	for (int i = 0; i < 500; i++) {
		seed = seed * 1103515245u + 12345u;
		timer_add(t, (seed >> 8) % 10000, record, (void *)(intptr_t)i, &h[i]);
	}
	for (int i = 0; i < 500; i += 3)
		timer_cancel(t, h[i]);
	cr_assert_eq(timers_count(t), 500 - 167);
	while (timers_count(t)) {
		int64_t next = timers_next_timeout(t, 0);
		cr_assert_geq(next, last);
		last = next;
		n_order = 0;
		timers_run(t, next);
		cr_assert_geq(n_order, 1);
		for (int k = 0; k < n_order; k++)
			cr_assert_neq(order[k] % 3, 0, "cancelled timer %d fired", order[k]);
	}
}

Test(timer, out_of_memory_is_reported_and_nothing_leaks)
{
	int64_t live = dob_alloc_live();

	dob_alloc_fail_at(1);
	cr_assert_lt(timer_add(t, 1, record, NULL, NULL), 0);
	dob_alloc_fail_at(0);
	cr_assert_eq(timers_count(t), 0);
	cr_assert_eq(dob_alloc_live(), live);
}
