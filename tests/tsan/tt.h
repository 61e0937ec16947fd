/*
 * tests/tsan/tt.h - the little every standalone TSan program shares.
 *
 * Criterion cannot run under ThreadSanitizer ("Could not initialize
 * inheritable arena"), so these programs check with TT_CHECK and end with
 * the count line scripts/check.sh reads: "N passed, N failed". A data race
 * is TSan's to report (TSAN_OPTIONS=halt_on_error=1 exitcode=66 in check.sh;
 * any report in the output also fails the suite).
 */
#ifndef DOB_TSAN_TT_H
#define DOB_TSAN_TT_H

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

/* TT_CHECK may run on any thread. */
static atomic_uint tt_passed, tt_failed;

#define TT_CHECK(cond, ...)                                            \
	do {                                                           \
		if (cond) {                                            \
			tt_passed++;                                   \
		} else {                                               \
			tt_failed++;                                   \
			fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, \
				__LINE__, #cond);                      \
			fprintf(stderr, __VA_ARGS__);                  \
			fputc('\n', stderr);                           \
		}                                                      \
	} while (0)

/* Prints the count line; the program's exit status. */
static inline int tt_done(void)
{
	printf("%u passed, %u failed\n", atomic_load(&tt_passed), atomic_load(&tt_failed));
	return atomic_load(&tt_failed) ? 1 : 0;
}

static inline void tt_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

#endif
