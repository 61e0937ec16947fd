/*
 * tests/wine/com_tests.h - what the COM backend tests under Wine share
 * (header only: each .c file in tests/wine is a program of its own).
 *
 *   CHECK / CHECK_EQ / CHECK_STR / wt_finish come from wtest.h; CHECK_HR
 *   compares HRESULTs.
 *   struct tl drives the REAL Win32 loop of libdobplat (loop_win32.c) as a
 *   minimal core would: posted() runs the message, the sink records what the
 *   backend delivers, tl_run() returns when a condition holds or a deadline
 *   passes.
 */
#ifndef DOB_TESTS_WINE_COM_TESTS_H
#define DOB_TESTS_WINE_COM_TESTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <windows.h>

#include "backend.h"
#include "platform.h"

/* CHECK, CHECK_EQ, CHECK_STR, wt_finish: the platform tests' helpers. */
#include "wtest.h"

#define CHECK_HR(got, want) check_hr_((uint32_t)(got), (uint32_t)(want), #got, __LINE__)

static inline int check_hr_(uint32_t got, uint32_t want, const char *what, int line)
{
	if (got == want)
		return wt_check(1, what, line);
	printf("FAIL line %d: %s == 0x%08lX, want 0x%08lX\n", line, what, (unsigned long)got,
	       (unsigned long)want);
	wt_failed++;
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------ the loop */

#define TL_MAX 512

struct tl {
	struct plat_loop *loop;
	struct backend_sink sink;
	struct backend_event *ev[TL_MAX]; /* delivered events, in order (owned) */
	int n_ev;
	struct backend_result *res[TL_MAX]; /* delivered results, in order (owned) */
	int n_res;
	int dropped;                        /* deliveries past TL_MAX (freed) */
	int ev_total;                       /* events delivered since tl_clear */
	bool (*until)(struct tl *t, void *arg);
	void *arg;
	ULONGLONG deadline;
};

static inline void tl_event(void *ctx, struct backend_event *ev)
{
	struct tl *t = ctx;

	t->ev_total++;
	if (t->n_ev < TL_MAX) {
		t->ev[t->n_ev++] = ev;
	} else {
		t->dropped++;
		backend_event_free(ev);
	}
}

static inline void tl_done(void *ctx, struct backend_result *r)
{
	struct tl *t = ctx;

	if (t->n_res < TL_MAX) {
		t->res[t->n_res++] = r;
	} else {
		t->dropped++;
		backend_result_free(r);
	}
}

/* The core's posted(): every message a backend posts is a struct plat_msg. */
static inline void tl_posted(void *ctx, void *msg)
{
	struct plat_msg *m = msg;

	m->run(m);
}

static inline int64_t tl_next_timeout(void *ctx)
{
	return 10;
}

static inline void tl_tick(void *ctx)
{
	struct tl *t = ctx;

	if ((t->until && t->until(t, t->arg)) || GetTickCount64() >= t->deadline)
		plat_loop_stop(t->loop);
}

static inline int tl_init(struct tl *t)
{
	struct plat_handlers h;

	memset(t, 0, sizeof(*t));
	memset(&h, 0, sizeof(h));
	h.ctx = t;
	h.posted = tl_posted;
	h.next_timeout_ms = tl_next_timeout;
	h.tick = tl_tick;
	t->sink.ctx = t;
	t->sink.event = tl_event;
	t->sink.done = tl_done;
	return plat_loop_new(&t->loop, &h);
}

/* Runs the loop until until(t, arg) holds (checked every 10 ms) or
 * timeout_ms passed; returns until's last answer. until NULL: just run. */
static inline bool tl_run(struct tl *t, bool (*until)(struct tl *t, void *arg), void *arg,
			  DWORD timeout_ms)
{
	t->until = until;
	t->arg = arg;
	t->deadline = GetTickCount64() + timeout_ms;
	plat_loop_run(t->loop);
	t->until = NULL;
	return until ? until(t, arg) : true;
}

static inline bool tl_has_events(struct tl *t, void *arg)
{
	return t->ev_total >= (int)(intptr_t)arg;
}

static inline bool tl_has_results(struct tl *t, void *arg)
{
	return t->n_res >= (int)(intptr_t)arg;
}

/* Forgets (frees) what was delivered so far. */
static inline void tl_clear(struct tl *t)
{
	for (int i = 0; i < t->n_ev; i++)
		backend_event_free(t->ev[i]);
	for (int i = 0; i < t->n_res; i++)
		backend_result_free(t->res[i]);
	t->n_ev = t->n_res = t->ev_total = t->dropped = 0;
}

static inline void tl_free(struct tl *t)
{
	plat_loop_free(t->loop); /* delivers what is still queued */
	tl_clear(t);
}

/* The field error recorded for a getter, or NULL. */
static inline const struct dob_field_error *field_error_of(const struct backend_job *j,
							   const char *field)
{
	for (size_t i = 0; i < j->n_field_errors; i++)
		if (j->field_errors[i].field && strcmp(j->field_errors[i].field, field) == 0)
			return &j->field_errors[i];
	return NULL;
}

#endif
