/*
 * broker/core/timer.h - one-shot timers on a min-heap.
 *
 * The clock is the caller's: every function that needs "now" takes it
 * (the broker passes plat_now_ms()), so the heap is pure and testable. The
 * platform loop asks timers_next_timeout() how long it may sleep and calls
 * timers_run() when it wakes. Loop thread only.
 *
 * A timer fires once. Its handle is valid from timer_add() until the
 * callback starts or timer_cancel() returns; the owner clears its copy of the
 * handle in the callback.
 */
#ifndef DOB_TIMER_H
#define DOB_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct timers;
struct timer;

typedef void (*timer_fn)(void *arg);

int timers_new(struct timers **out);
/* Frees every timer still armed without calling it. NULL-safe. */
void timers_free(struct timers *t);

/* Arms fn(arg) to run at due_ms (absolute, the caller's clock). Timers with
 * equal due times run in the order they were added. Returns 0 or
 * -DOB_ENOMEM; *out (optional) receives the handle. */
int timer_add(struct timers *t, int64_t due_ms, timer_fn fn, void *arg, struct timer **out);
/* Disarms and frees h. NULL-safe. */
void timer_cancel(struct timers *t, struct timer *h);
int64_t timer_due(const struct timer *h);

/* Milliseconds until the earliest timer (0 when one is due), or -1 when none
 * is armed. */
int64_t timers_next_timeout(const struct timers *t, int64_t now_ms);
/* Runs every timer due at now_ms that was armed before this call started
 * (a timer armed by a callback for "now" waits for the next call, so a
 * callback that re-arms itself cannot spin). Returns how many ran. */
size_t timers_run(struct timers *t, int64_t now_ms);
size_t timers_count(const struct timers *t);

#endif
