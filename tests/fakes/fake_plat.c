/*
 * tests/fakes/fake_plat.c - the loop, connection, clock and identity half of
 * broker/platform.h, in memory, for the unit tests (see fake_plat.h).
 */
#include "fake_plat.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

#define WALL_BASE_US 1767225600000000LL /* 2026-01-01T00:00:00Z */

struct plat_conn {
	struct plat_loop *loop;
	struct plat_conn *next;
	void *data;
	bool closed, stalled, peer_gone, peer_eof;
	bool sent_owed;      /* a write is over: sent(sent_status) not yet made */
	int sent_status;
	bool close_owed;     /* closed by the core: close_cb not yet made */
	bool released;       /* the platform's last word was said */
	plat_close_cb close_cb;
	const uint8_t *wbuf; /* borrowed from the core until sent */
	size_t wlen;
	uint64_t writes;
	uint8_t *rx;         /* bytes the client received */
	size_t rx_len, rx_taken, rx_cap;
};

struct post {
	struct post *next;
	void *msg;
};

/* plat_check_paths: an answer, posted or held (fake_path_hold). */
struct path_check {
	struct plat_msg m; /* first member: posted */
	struct path_check *next;
	plat_check_cb cb;
	void *ctx;
	int status;
	size_t index;
};


struct plat_loop {
	struct plat_handlers h;
	struct path_check *held, **held_tail; /* fake_path_hold: answers waiting */
	char hold_prefix[256]; /* fake_path_hold; "" = none */
	size_t n_held, n_checks;
	struct plat_conn *conns;
	pthread_mutex_t mu; /* protects posts */
	struct post *posts, **posts_tail;
	bool stopped;
	char endpoint[256];
	size_t n_test_listeners;
};

static int64_t now_ms = 1000;

struct rule {
	char prefix[256];
	int err;
};
static struct rule rules[8];
static size_t n_rules;

static int64_t wall_step_us; /* fake_wall_step(): the wall clock jumped */

void fake_plat_reset(void)
{
	wall_step_us = 0;
	now_ms = 1000;
	n_rules = 0;
}

int64_t fake_now_ms(void)
{
	return now_ms;
}

void fake_path_rule(const char *prefix, int err)
{
	if (n_rules < 8) {
		snprintf(rules[n_rules].prefix, sizeof(rules[n_rules].prefix), "%s", prefix);
		rules[n_rules++].err = err;
	}
}

/* ---------------------------------------------------------------- clock */

int64_t plat_now_ms(void)
{
	return now_ms;
}

int64_t plat_now_us(void)
{
	return now_ms * 1000;
}

int64_t plat_wall_us(void)
{
	return WALL_BASE_US + now_ms * 1000 + wall_step_us;
}

void fake_wall_step(int64_t us)
{
	wall_step_us += us;
}

/* ---------------------------------------------------------------- loop */

int plat_loop_new(struct plat_loop **out, const struct plat_handlers *h)
{
	struct plat_loop *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -DOB_ENOMEM;
	l->h = *h;
	pthread_mutex_init(&l->mu, NULL);
	l->posts_tail = &l->posts;
	l->held_tail = &l->held;
	*out = l;
	return 0;
}

void plat_loop_free(struct plat_loop *l)
{
	if (!l)
		return;
	while (l->conns) {
		struct plat_conn *c = l->conns;
		l->conns = c->next;
		free(c->rx);
		free(c);
	}
	while (l->held) {
		struct path_check *k = l->held;
		l->held = k->next;
		k->cb(k->ctx, -DOB_ECLOSED, 0);
		free(k);
	}
	while (l->posts) {
		struct post *p = l->posts;
		l->posts = p->next;
		/* Undelivered: run them so their owners free them. */
		((struct plat_msg *)p->msg)->run(p->msg);
		free(p);
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int plat_listen(struct plat_loop *l, const struct plat_listen_opts *o, char *errbuf,
		size_t errlen)
{
	snprintf(l->endpoint, sizeof(l->endpoint), "%s", o->endpoint ? o->endpoint : "");
	l->n_test_listeners = 0;
	for (const char *const *t = o->test_listeners; t && *t; t++)
		l->n_test_listeners++;
	if (strcmp(l->endpoint, "busy") == 0) {
		snprintf(errbuf, errlen, "another broker answers on busy");
		return -DOB_EEXIST;
	}
	return 0;
}

const char *fake_listen_endpoint(const struct plat_loop *l)
{
	return l->endpoint;
}

size_t fake_listen_test_listeners(const struct plat_loop *l)
{
	return l->n_test_listeners;
}

int plat_loop_run(struct plat_loop *l)
{
	l->stopped = false;
	while (!l->stopped) {
		int64_t t;
		if (fake_pump(l))
			continue;
		t = l->h.next_timeout_ms(l->h.ctx);
		if (t < 0)
			break;
		now_ms += t;
	}
	return 0;
}

void plat_loop_stop(struct plat_loop *l)
{
	l->stopped = true;
}

int plat_post(struct plat_loop *l, void *msg)
{
	struct post *p = malloc(sizeof(*p));

	if (!p)
		return -DOB_ENOMEM;
	p->msg = msg;
	p->next = NULL;
	pthread_mutex_lock(&l->mu);
	*l->posts_tail = p;
	l->posts_tail = &p->next;
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int plat_handle_signals(struct plat_loop *l)
{
	return 0;
}

static bool run_one_post(struct plat_loop *l)
{
	struct post *p;

	pthread_mutex_lock(&l->mu);
	p = l->posts;
	if (p) {
		l->posts = p->next;
		if (!l->posts)
			l->posts_tail = &l->posts;
	}
	pthread_mutex_unlock(&l->mu);
	if (!p)
		return false;
	l->h.posted(l->h.ctx, p->msg);
	free(p);
	return true;
}

static void rx_append(struct plat_conn *c, const uint8_t *p, size_t n)
{
	if (c->rx_len + n > c->rx_cap) {
		size_t cap = (c->rx_len + n) * 2;
		c->rx = realloc(c->rx, cap);
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, p, n);
	c->rx_len += n;
}

/* Makes the callbacks owed by c: a write's sent(), then a close callback. */
static size_t owed_callbacks(struct plat_loop *l, struct plat_conn *c)
{
	size_t calls = 0;

	if (c->sent_owed) {
		c->sent_owed = false;
		l->h.sent(l->h.ctx, c, c->sent_status);
		calls++;
	}
	if (c->close_owed && !c->sent_owed && !c->wbuf) {
		c->close_owed = false;
		c->released = true;
		if (c->close_cb)
			c->close_cb(c);
		calls++;
	}
	return calls;
}

static size_t complete_writes(struct plat_loop *l)
{
	size_t calls = 0;
	bool again = true;

	while (again) {
		again = false;
		for (struct plat_conn *c = l->conns; c; c = c->next) {
			size_t n = owed_callbacks(l, c);
			if (n) {
				calls += n;
				again = true;
			}
			if (c->closed || c->peer_gone || c->stalled || !c->wbuf)
				continue;
			rx_append(c, c->wbuf, c->wlen);
			c->wbuf = NULL;
			c->wlen = 0;
			l->h.sent(l->h.ctx, c, 0);
			calls++;
			again = true;
		}
	}
	return calls;
}

size_t fake_pump(struct plat_loop *l)
{
	size_t calls = 0;

	/* Bounded, so a callback that re-arms itself for "now" forever
	 * shows up as a stuck test rather than a hung one. */
	for (int round = 0; round < 100000; round++) {
		bool progress = false;
		/* Clients that read keep up: their writes complete between
		 * any two posts. */
		calls += complete_writes(l);
		while (run_one_post(l)) {
			calls++;
			progress = true;
			calls += complete_writes(l);
		}
		if (l->h.next_timeout_ms(l->h.ctx) == 0) {
			l->h.tick(l->h.ctx);
			calls++;
			progress = true;
		}
		if (!progress)
			break;
	}
	return calls;
}

void fake_clock_advance(struct plat_loop *l, int64_t ms)
{
	/* Step through every due timer in order, as a real loop would. */
	int64_t end = now_ms + ms;

	fake_pump(l);
	for (;;) {
		int64_t t = l->h.next_timeout_ms(l->h.ctx);
		if (t < 0 || now_ms + t > end)
			break;
		now_ms += t;
		l->h.tick(l->h.ctx);
		fake_pump(l);
	}
	now_ms = end;
	l->h.tick(l->h.ctx);
	fake_pump(l);
}

/* ---------------------------------------------------------------- conns */

struct plat_conn *fake_connect(struct plat_loop *l, const struct dob_identity *peer)
{
	struct plat_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->loop = l;
	c->next = l->conns;
	l->conns = c;
	l->h.accepted(l->h.ctx, c, peer);
	return c;
}

void fake_conn_send(struct plat_conn *c, const void *p, size_t n)
{
	if (c->closed || c->peer_gone)
		return;
	c->loop->h.data(c->loop->h.ctx, c, p, n);
}

void fake_conn_hangup(struct plat_conn *c)
{
	struct plat_loop *l = c->loop;

	if (c->closed || c->peer_gone)
		return;
	c->peer_gone = true;
	if (c->wbuf) {
		/* The write in flight reports first (platform.h). */
		c->wbuf = NULL;
		l->h.sent(l->h.ctx, c, -DOB_ECLOSED);
	}
	if (c->closed)
		return; /* the core closed it meanwhile: its close callback follows */
	c->released = true;
	l->h.closed(l->h.ctx, c, 0);
}

void fake_conn_shutdown(struct plat_conn *c)
{
	struct plat_loop *l = c->loop;

	if (c->closed || c->peer_gone || c->peer_eof)
		return;
	c->peer_eof = true;
	if (l->h.eof)
		l->h.eof(l->h.ctx, c);
	else
		fake_conn_hangup(c);
}

bool fake_conn_released(const struct plat_conn *c)
{
	return c->released;
}

void fake_conn_stall(struct plat_conn *c, bool stalled)
{
	c->stalled = stalled;
}

size_t fake_conn_take(struct plat_conn *c, const uint8_t **p)
{
	size_t n = c->rx_len - c->rx_taken;

	*p = c->rx ? c->rx + c->rx_taken : NULL; /* nothing received yet */
	c->rx_taken = c->rx_len;
	return n;
}

bool fake_conn_is_closed(const struct plat_conn *c)
{
	return c->closed;
}

bool fake_conn_write_pending(const struct plat_conn *c)
{
	return c->wbuf != NULL;
}

uint64_t fake_conn_writes(const struct plat_conn *c)
{
	return c->writes;
}

int plat_conn_write(struct plat_conn *c, const uint8_t *buf, size_t n)
{
	if (c->closed || c->peer_gone)
		return -DOB_ECLOSED;
	if (c->wbuf || c->sent_owed)
		return -DOB_EAGAIN;
	c->wbuf = buf;
	c->wlen = n;
	c->writes++;
	return 0;
}

/* The write in flight is cancelled: its sent() is owed with -DOB_ECLOSED. */
static void cancel_write(struct plat_conn *c)
{
	if (!c->wbuf)
		return;
	c->wbuf = NULL;
	c->sent_owed = true;
	c->sent_status = -DOB_ECLOSED;
}

void plat_conn_close(struct plat_conn *c, plat_close_cb cb)
{
	if (c->closed)
		return;
	c->closed = true;
	c->close_cb = cb;
	c->close_owed = true;
	cancel_write(c);
}

void plat_conn_close_after_write(struct plat_conn *c, plat_close_cb cb)
{
	if (c->closed)
		return;
	/* The rest of the buffer in flight reaches the client (unless it
	 * stopped reading: then it is cancelled), then the conn closes. */
	if (c->wbuf && !c->stalled && !c->peer_gone) {
		rx_append(c, c->wbuf, c->wlen);
		c->wbuf = NULL;
		c->sent_owed = true;
		c->sent_status = 0;
	}
	cancel_write(c);
	c->closed = true;
	c->close_cb = cb;
	c->close_owed = true;
}

void plat_conn_set_data(struct plat_conn *c, void *data)
{
	c->data = data;
}

void *plat_conn_get_data(struct plat_conn *c)
{
	return c->data;
}

/* ---------------------------------------------------------------- state lock */

/* Directories locked in this process (a second broker of a unit test). */
struct plat_lock {
	struct plat_lock *next;
	char dir[512];
};
static struct plat_lock *locks;
static pthread_mutex_t locks_mu = PTHREAD_MUTEX_INITIALIZER;

int plat_dir_lock(const char *dir, struct plat_lock **out, char *errbuf, size_t errlen)
{
	struct plat_lock *k;

	*out = NULL;
	pthread_mutex_lock(&locks_mu);
	for (k = locks; k; k = k->next)
		if (strcmp(k->dir, dir) == 0) {
			pthread_mutex_unlock(&locks_mu);
			snprintf(errbuf, errlen,
				 "state directory %s is in use by another broker (pid %d)", dir,
				 4242);
			return -DOB_EEXIST;
		}
	k = calloc(1, sizeof(*k));
	if (!k) {
		pthread_mutex_unlock(&locks_mu);
		return -DOB_ENOMEM;
	}
	snprintf(k->dir, sizeof(k->dir), "%s", dir);
	k->next = locks;
	locks = k;
	pthread_mutex_unlock(&locks_mu);
	*out = k;
	return 0;
}

void plat_dir_unlock(struct plat_lock *lk)
{
	if (!lk)
		return;
	pthread_mutex_lock(&locks_mu);
	for (struct plat_lock **pp = &locks; *pp; pp = &(*pp)->next)
		if (*pp == lk) {
			*pp = lk->next;
			break;
		}
	pthread_mutex_unlock(&locks_mu);
	free(lk);
}

/* ---------------------------------------------------------------- identity, paths */

int plat_check_path_writable(const struct dob_identity *who, const char *path)
{
	for (size_t i = 0; i < n_rules; i++)
		if (strncmp(path, rules[i].prefix, strlen(rules[i].prefix)) == 0)
			return rules[i].err;
	return 0;
}

static void path_check_run(struct plat_msg *m)
{
	struct path_check *k = (struct path_check *)m;

	k->cb(k->ctx, k->status, k->index);
	free(k);
}

int plat_check_paths(struct plat_loop *l, const struct dob_identity *who,
		     const char *const *paths, size_t n, plat_check_cb cb, void *ctx)
{
	struct path_check *k;
	bool hold = false;

	if (!l || !cb || !paths || n == 0)
		return -DOB_EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -DOB_ENOMEM;
	k->m.run = path_check_run;
	k->cb = cb;
	k->ctx = ctx;
	k->index = n;
	for (size_t i = 0; i < n; i++) {
		int r = plat_check_path_writable(who, paths[i] ? paths[i] : "");
		if (r) {
			k->status = r;
			k->index = i;
			break;
		}
	}
	for (size_t i = 0; i < n && l->hold_prefix[0]; i++)
		if (paths[i] && strncmp(paths[i], l->hold_prefix, strlen(l->hold_prefix)) == 0)
			hold = true;
	l->n_checks++;
	if (hold) {
		*l->held_tail = k;
		l->held_tail = &k->next;
		l->n_held++;
		return 0;
	}
	if (plat_post(l, k)) {
		free(k);
		return -DOB_ENOMEM;
	}
	return 0;
}

void fake_path_hold(struct plat_loop *l, const char *prefix)
{
	snprintf(l->hold_prefix, sizeof(l->hold_prefix), "%s", prefix ? prefix : "");
}

void fake_path_release(struct plat_loop *l)
{
	while (l->held) {
		struct path_check *k = l->held;
		l->held = k->next;
		k->next = NULL;
		if (plat_post(l, k))
			abort(); /* out of memory in a test */
	}
	l->held_tail = &l->held;
	l->n_held = 0;
}

size_t fake_path_pending(const struct plat_loop *l)
{
	return l->n_held;
}

size_t fake_path_started(const struct plat_loop *l)
{
	return l->n_checks;
}

int plat_default_state_dir(char *buf, size_t len)
{
	return -DOB_ENOTFOUND;
}

const char *plat_default_endpoint(void)
{
	return "fake-endpoint";
}
