/*
 * broker/core/timer.c - one-shot timers on a binary min-heap ordered by
 * (due, seq); seq breaks ties in arming order and marks timers armed during
 * timers_run().
 */
#include "timer.h"

#include <assert.h>

#include "dob/alloc.h"
#include "dob/err.h"

struct timer {
	int64_t due;
	uint64_t seq;
	size_t idx; /* position in the heap */
	timer_fn fn;
	void *arg; /* borrowed */
};

struct timers {
	struct timer **heap; /* owned array of owned timers */
	size_t n, cap;
	uint64_t next_seq;
};

static int before(const struct timer *a, const struct timer *b)
{
	if (a->due != b->due)
		return a->due < b->due;
	return a->seq < b->seq;
}

static void place(struct timers *t, size_t i, struct timer *x)
{
	t->heap[i] = x;
	x->idx = i;
}

static void sift_up(struct timers *t, size_t i)
{
	struct timer *x = t->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(x, t->heap[parent]))
			break;
		place(t, i, t->heap[parent]);
		i = parent;
	}
	place(t, i, x);
}

static void sift_down(struct timers *t, size_t i)
{
	struct timer *x = t->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct timer *best = x;
		if (l < t->n && before(t->heap[l], best)) {
			m = l;
			best = t->heap[l];
		}
		if (r < t->n && before(t->heap[r], best))
			m = r;
		if (m == i)
			break;
		place(t, i, t->heap[m]);
		i = m;
	}
	place(t, i, x);
}

/* Removes the timer at heap position i (does not free it). */
static void remove_at(struct timers *t, size_t i)
{
	struct timer *last = t->heap[--t->n];

	if (i == t->n)
		return;
	place(t, i, last);
	sift_down(t, i);
	sift_up(t, last->idx);
}

int timers_new(struct timers **out)
{
	struct timers *t = dob_calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -DOB_ENOMEM;
	*out = t;
	return 0;
}

void timers_free(struct timers *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		dob_free(t->heap[i]);
	dob_free(t->heap);
	dob_free(t);
}

int timer_add(struct timers *t, int64_t due_ms, timer_fn fn, void *arg, struct timer **out)
{
	struct timer *x;

	if (out)
		*out = NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct timer **h = dob_realloc(t->heap, cap * sizeof(*h));
		if (!h)
			return -DOB_ENOMEM;
		t->heap = h;
		t->cap = cap;
	}
	x = dob_malloc(sizeof(*x));
	if (!x)
		return -DOB_ENOMEM;
	x->due = due_ms;
	x->seq = t->next_seq++;
	x->fn = fn;
	x->arg = arg;
	place(t, t->n++, x);
	sift_up(t, t->n - 1);
	if (out)
		*out = x;
	return 0;
}

void timer_cancel(struct timers *t, struct timer *h)
{
	if (!h)
		return;
	assert(h->idx < t->n && t->heap[h->idx] == h);
	remove_at(t, h->idx);
	dob_free(h);
}

int64_t timer_due(const struct timer *h)
{
	return h->due;
}

int64_t timers_next_timeout(const struct timers *t, int64_t now_ms)
{
	int64_t d;

	if (!t || t->n == 0)
		return -1;
	d = t->heap[0]->due - now_ms;
	return d < 0 ? 0 : d;
}

size_t timers_run(struct timers *t, int64_t now_ms)
{
	uint64_t limit = t->next_seq;
	size_t ran = 0;

	/* A timer armed during this run with a due time in the past sits at
	 * the top with seq >= limit: it waits for the next call. Older due
	 * timers below it are still run by scanning past it would cost a
	 * heap walk; they run on the next call too (next_timeout is then 0). */
	while (t->n > 0 && t->heap[0]->due <= now_ms && t->heap[0]->seq < limit) {
		struct timer *x = t->heap[0];
		timer_fn fn = x->fn;
		void *arg = x->arg;
		remove_at(t, 0);
		dob_free(x);
		fn(arg);
		ran++;
	}
	return ran;
}

size_t timers_count(const struct timers *t)
{
	return t ? t->n : 0;
}
