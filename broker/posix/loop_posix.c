/*
 * broker/posix/loop_posix.c - the broker loop on Linux: epoll + eventfd.
 *
 * Why epoll and not poll: the broker holds 1000+ subscriber connections
 * (issue 5) that are idle most of the time. poll() hands the kernel the
 * whole fd array on every wake-up and makes us scan it, O(connections) per
 * event; epoll keeps the interest set in the kernel and returns only the
 * ready fds. Level-triggered throughout: a connection that still has bytes
 * after its read budget is reported again, so one flooding client cannot
 * starve the others, and no edge can be lost.
 *
 * Wake-ups come through one eventfd: plat_post() writes to it when it turns
 * the FIFO from empty to non-empty, and plat_loop_stop() sets a flag and
 * writes to it (both write(2) and a lock-free atomic store are
 * async-signal-safe).
 *
 * One iteration: ask the core how long we may sleep (handlers.next_timeout_ms)
 * -> epoll_wait -> I/O events -> owed sent()/closed() callbacks -> posted
 * messages (those queued when the drain began, so posters cannot starve I/O)
 * -> lingering conns past their deadline -> handlers.tick -> free the conns
 * closed during the iteration (an event later in the same batch may still
 * point at one, so they are freed only here).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "posix.h"

#define MAX_EVENTS 256
#define POST_RING_MIN 64

/* ------------------------------------------------------------ wake-up */

static void wake(struct plat_loop *l)
{
	uint64_t one = 1;
	int saved = errno; /* plat_loop_stop may run in a signal handler */

	/* EAGAIN only if the counter is near 2^64: it is then readable anyway. */
	while (write(l->wake.fd, &one, sizeof one) < 0 && errno == EINTR)
		;
	errno = saved;
}

static void drain_wake(struct plat_loop *l)
{
	uint64_t v;

	while (read(l->wake.fd, &v, sizeof v) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ posting */

int plat_post(struct plat_loop *l, void *msg)
{
	bool was_empty;

	if (!l || !msg)
		return -DOB_EINVAL;
	pthread_mutex_lock(&l->post_mu);
	if (l->post_count == l->post_cap) {
		size_t ncap = l->post_cap ? l->post_cap * 2 : POST_RING_MIN;
		void **nr = dob_malloc(ncap * sizeof *nr);

		if (!nr) {
			pthread_mutex_unlock(&l->post_mu);
			return -DOB_ENOMEM;
		}
		for (size_t i = 0; i < l->post_count; i++)
			nr[i] = l->post_ring[(l->post_head + i) % l->post_cap];
		dob_free(l->post_ring);
		l->post_ring = nr;
		l->post_cap = ncap;
		l->post_head = 0;
	}
	l->post_ring[(l->post_head + l->post_count) % l->post_cap] = msg;
	was_empty = l->post_count++ == 0;
	pthread_mutex_unlock(&l->post_mu);

	/* A non-empty FIFO has a wake-up pending already (or the loop re-arms
	 * one itself when it leaves messages behind, see drain_posts). */
	if (was_empty)
		wake(l);
	return 0;
}

static void *pop_post(struct plat_loop *l)
{
	void *msg = NULL;

	pthread_mutex_lock(&l->post_mu);
	if (l->post_count) {
		msg = l->post_ring[l->post_head];
		l->post_head = (l->post_head + 1) % l->post_cap;
		l->post_count--;
	}
	pthread_mutex_unlock(&l->post_mu);
	return msg;
}

/* Delivers the messages queued now, not those posted meanwhile. Returns true
 * if some are left (the next wait must not sleep). */
static bool drain_posts(struct plat_loop *l)
{
	size_t n;
	bool left;

	pthread_mutex_lock(&l->post_mu);
	n = l->post_count;
	pthread_mutex_unlock(&l->post_mu);
	for (size_t i = 0; i < n; i++) {
		void *msg = pop_post(l); /* only this thread pops: never NULL here */

		if (l->h.posted)
			l->h.posted(l->h.ctx, msg);
	}
	pthread_mutex_lock(&l->post_mu);
	left = l->post_count != 0;
	pthread_mutex_unlock(&l->post_mu);
	return left;
}

/* ------------------------------------------------------------ loop */

int plat_loop_new(struct plat_loop **out, const struct plat_handlers *h)
{
	struct plat_loop *l = NULL;
	struct epoll_event ev;
	int err;

	if (!out || !h)
		return -DOB_EINVAL;
	*out = NULL;
	l = dob_calloc(1, sizeof *l);
	if (!l)
		return -DOB_ENOMEM;
	l->epfd = l->wake.fd = l->reserve_fd = -1;
	l->wake.kind = POLL_WAKE;
	l->h = *h;
	atomic_init(&l->stop, 0);
	dl_init(&l->conns);
	dl_init(&l->lingering);
	dl_init(&l->zombies);
	dl_init(&l->ready);
	if (pthread_mutex_init(&l->post_mu, NULL) != 0) {
		dob_free(l);
		return -DOB_ENOMEM;
	}
	l->rbuf_len = 64 * 1024;
	l->rbuf = dob_malloc(l->rbuf_len);
	if (!l->rbuf) {
		err = -DOB_ENOMEM;
		goto fail;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		err = posix_err(errno);
		log_error("epoll_create1: %s", strerror(errno));
		goto fail;
	}
	l->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake.fd < 0) {
		err = posix_err(errno);
		log_error("eventfd: %s", strerror(errno));
		goto fail;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &l->wake;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake.fd, &ev) < 0) {
		err = posix_err(errno);
		log_error("epoll_ctl(eventfd): %s", strerror(errno));
		goto fail;
	}
	/* Kept open so that accept() at the fd limit can still take the
	 * connection and close it, instead of spinning on it (sock_posix.c). */
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	*out = l;
	return 0;
fail:
	plat_loop_free(l);
	return err;
}

void plat_loop_free(struct plat_loop *l)
{
	void *msg;

	if (!l)
		return;
	signal_forget(l);
	/* Posted messages are owned by whoever holds them: hand the leftovers
	 * to the core (it is still alive; it frees us) rather than leak them. */
	while ((msg = pop_post(l)) != NULL) {
		if (l->h.posted)
			l->h.posted(l->h.ctx, msg);
	}
	sock_close_all(l);
	if (l->reserve_fd >= 0)
		close(l->reserve_fd);
	if (l->wake.fd >= 0)
		close(l->wake.fd);
	if (l->epfd >= 0)
		close(l->epfd);
	pthread_mutex_destroy(&l->post_mu);
	dob_free(l->post_ring);
	dob_free(l->rbuf);
	dob_free(l);
}

void plat_loop_stop(struct plat_loop *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, 1);
	wake(l);
}

static int clamp_timeout(int64_t t)
{
	if (t < 0)
		return -1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

/* The smaller of two timeouts where -1 means "none". */
static int64_t min_timeout(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

int plat_loop_run(struct plat_loop *l)
{
	struct epoll_event evs[MAX_EVENTS];
	bool busy = false; /* posted messages or callbacks left: don't sleep */

	if (!l)
		return -DOB_EINVAL;
	for (;;) {
		int64_t t = l->h.next_timeout_ms ? l->h.next_timeout_ms(l->h.ctx) : -1;
		int n;

		if (busy || !dl_empty(&l->ready))
			t = 0;
		else
			t = min_timeout(t, sock_linger_timeout_ms(l, plat_now_ms()));
		n = epoll_wait(l->epfd, evs, MAX_EVENTS, clamp_timeout(t));
		if (n < 0) {
			if (errno != EINTR) {
				int err = posix_err(errno);

				log_error("epoll_wait: %s", strerror(errno));
				return err;
			}
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			struct pollable *p = evs[i].data.ptr;

			switch (p->kind) {
			case POLL_WAKE:
				drain_wake(l);
				break;
			case POLL_LISTENER:
				sock_on_listener(l, p);
				break;
			case POLL_CONN:
				sock_on_conn(l, p, evs[i].events);
				break;
			}
		}
		sock_run_ready(l);
		busy = drain_posts(l);
		if (l->h.tick)
			l->h.tick(l->h.ctx);
		sock_reap(l, plat_now_ms());
		if (atomic_exchange(&l->stop, 0))
			return 0;
	}
}
