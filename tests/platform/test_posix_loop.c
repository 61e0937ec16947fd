/*
 * tests/platform/test_posix_loop.c - the loop: posting from threads, stop
 * (from a signal too), timeouts and tick.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dob/err.h"
#include "harness.h"

TestSuite(posix_loop, .timeout = 30);

#define POSTERS 4
#define PER_POSTER 10000

struct seq_msg {
	int kind; /* 100 */
	int thread;
	int seq;
};

struct seq_state {
	int next[POSTERS];     /* loop thread */
	atomic_int delivered;
	atomic_int out_of_order;
};

static void on_seq(struct tcore *tc, void *msg)
{
	struct seq_state *st = tc->user;
	struct seq_msg *m = msg;

	if (m->kind != 100 || m->thread < 0 || m->thread >= POSTERS ||
	    m->seq != st->next[m->thread]) {
		atomic_fetch_add(&st->out_of_order, 1);
	} else {
		st->next[m->thread]++;
	}
	atomic_fetch_add(&st->delivered, 1);
	free(m);
}

struct poster {
	struct tcore *tc;
	int thread;
	int failures;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (int i = 0; i < PER_POSTER; i++) {
		struct seq_msg *m = malloc(sizeof *m);

		m->kind = 100;
		m->thread = p->thread;
		m->seq = i;
		if (plat_post(p->tc->loop, m) != 0) {
			free(m);
			p->failures++;
		}
	}
	return NULL;
}

static void noop(struct tcore *tc, void *arg)
{
	(void)tc;
	(void)arg;
}

Test(posix_loop, post_from_4_threads_delivers_each_message_once_in_per_thread_order)
{
	struct tcore tc;
	struct seq_state st;
	struct poster ps[POSTERS];
	pthread_t th[POSTERS];

	memset(&st, 0, sizeof st);
	tcore_init(&tc, TMODE_SINK);
	tc.user = &st;
	tc.on_post = on_seq;
	tcore_start(&tc);
	for (int i = 0; i < POSTERS; i++) {
		ps[i] = (struct poster){ .tc = &tc, .thread = i };
		cr_assert_eq(pthread_create(&th[i], NULL, poster_main, &ps[i]), 0);
	}
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(ps[i].failures, 0);
	}
	cr_assert(twait_int(&st.delivered, POSTERS * PER_POSTER, 20000), "delivered %d of %d",
		  atomic_load(&st.delivered), POSTERS * PER_POSTER);
	tms_sleep(20);
	cr_expect_eq(atomic_load(&st.delivered), POSTERS * PER_POSTER, "more than posted");
	cr_expect_eq(atomic_load(&st.out_of_order), 0);
	for (int i = 0; i < POSTERS; i++)
		cr_expect_eq(st.next[i], PER_POSTER, "thread %d: %d in order", i, st.next[i]);
	cr_expect_eq(tcore_stop(&tc), 0);
	tcore_done(&tc);
}

Test(posix_loop, messages_left_at_free_are_handed_to_the_core)
{
	struct tcore tc;
	struct seq_state st;

	memset(&st, 0, sizeof st);
	tcore_init(&tc, TMODE_SINK);
	tc.user = &st;
	tc.on_post = on_seq;
	for (int i = 0; i < 3; i++) {
		struct seq_msg *m = malloc(sizeof *m);

		*m = (struct seq_msg){ .kind = 100, .thread = 0, .seq = i };
		cr_assert_eq(plat_post(tc.loop, m), 0);
	}
	tcore_done(&tc); /* never ran */
	cr_expect_eq(atomic_load(&st.delivered), 3);
	cr_expect_eq(st.next[0], 3);
}

Test(posix_loop, post_rejects_null)
{
	struct tcore tc;

	tcore_init(&tc, TMODE_SINK);
	cr_expect_eq(plat_post(tc.loop, NULL), -DOB_EINVAL);
	tcore_done(&tc);
}

Test(posix_loop, stop_before_run_returns_at_the_first_wakeup)
{
	struct tcore tc;

	tcore_init(&tc, TMODE_SINK);
	plat_loop_stop(tc.loop);
	cr_expect_eq(plat_loop_run(tc.loop), 0);
	/* The stop is consumed: the loop can run again. */
	tcore_start(&tc);
	tms_sleep(50);
	cr_expect_eq(atomic_load(&tc.ticks) >= 1, true);
	cr_expect_eq(tcore_stop(&tc), 0);
	tcore_done(&tc);
}

Test(posix_loop, sleeps_as_long_as_next_timeout_says_and_ticks_after_each_wakeup)
{
	struct tcore tc;
	int ticks;

	tcore_init(&tc, TMODE_SINK);
	tc.timeout_ms = 20;
	tcore_start(&tc);
	tms_sleep(300);
	ticks = atomic_load(&tc.ticks);
	/* About 15 wake-ups; neither a busy loop nor a sleep until I/O. */
	cr_expect(ticks >= 5 && ticks <= 40, "%d ticks in 300 ms at 20 ms", ticks);
	cr_expect(atomic_load(&tc.timeouts_asked) >= ticks);
	cr_expect_eq(tcore_stop(&tc), 0);
	tcore_done(&tc);
}

Test(posix_loop, infinite_timeout_sleeps_until_a_post)
{
	struct tcore tc;
	int before;

	tcore_init(&tc, TMODE_SINK);
	tc.timeout_ms = -1;
	tcore_start(&tc);
	tms_sleep(50);
	before = atomic_load(&tc.ticks);
	tms_sleep(200);
	cr_expect_eq(atomic_load(&tc.ticks), before, "woke up without a reason");
	tcore_call(&tc, noop, NULL);
	cr_expect(atomic_load(&tc.ticks) > before, "a post did not wake the loop");
	cr_expect_eq(tcore_stop(&tc), 0);
	tcore_done(&tc);
}

Test(posix_loop, sigterm_stops_the_loop)
{
	struct tcore tc;
	struct sigaction old;

	tcore_init(&tc, TMODE_SINK);
	cr_assert_eq(plat_handle_signals(tc.loop), 0);
	tcore_start(&tc);
	tcore_call(&tc, noop, NULL); /* the loop is running */
	cr_assert_eq(kill(getpid(), SIGTERM), 0);
	pthread_join(tc.th, NULL); /* hangs (test timeout) if the loop did not stop */
	tc.running = false;
	cr_expect_eq(tc.run_rc, 0);
	/* SIGPIPE is ignored. */
	cr_assert_eq(sigaction(SIGPIPE, NULL, &old), 0);
	cr_expect(old.sa_handler == SIG_IGN);
	tcore_done(&tc);
}

Test(posix_loop, sigint_delivered_to_the_loop_thread_stops_it)
{
	struct tcore tc;

	tcore_init(&tc, TMODE_SINK);
	cr_assert_eq(plat_handle_signals(tc.loop), 0);
	tcore_start(&tc);
	tcore_call(&tc, noop, NULL);
	/* Interrupts epoll_wait itself (EINTR path). */
	cr_assert_eq(pthread_kill(tc.th, SIGINT), 0);
	pthread_join(tc.th, NULL);
	tc.running = false;
	cr_expect_eq(tc.run_rc, 0);
	tcore_done(&tc);
}

Test(posix_loop, a_signal_after_free_reaches_no_loop)
{
	struct tcore tc;

	tcore_init(&tc, TMODE_SINK);
	cr_assert_eq(plat_handle_signals(tc.loop), 0);
	tcore_done(&tc);
	/* The handler stays installed and finds no loop: the process lives. */
	cr_expect_eq(raise(SIGTERM), 0);
}
