/*
 * tests/tsan/tsan_loop.c - the POSIX loop (broker/posix) under
 * ThreadSanitizer: plat_post from several threads while the loop runs and
 * serves echo traffic on real Unix sockets from client threads; a stop from
 * another thread while posters are still posting (the leftovers are handed
 * over by plat_loop_free, each exactly once); a stop from SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"
#include "tt.h"

#define POSTERS 4
#define PER_POSTER 20000
#define CLIENTS 4
#define ROUNDS 300
#define MSG 200

struct pmsg {
	int thread;
	int seq;
};

/* Loop thread only, except the atomics. */
struct state {
	struct plat_loop *loop;
	int next[POSTERS];       /* next seq expected from each poster */
	long delivered;          /* posts delivered (loop thread, then main) */
	long out_of_order;
	atomic_int conns;        /* open echo conns */
	atomic_long delivered_a; /* posts delivered, for other threads to watch */
};

/* One echo connection: what came in and could not be written yet, and the
 * write in flight. */
struct econn {
	uint8_t *inflight;       /* owned, until sent/closed */
	uint8_t pend[8192];
	size_t npend;
};

static void flush(struct plat_conn *c, struct econn *e)
{
	if (e->inflight || !e->npend)
		return;
	e->inflight = dob_malloc(e->npend);
	if (!e->inflight)
		return;
	memcpy(e->inflight, e->pend, e->npend);
	if (plat_conn_write(c, e->inflight, e->npend) < 0) {
		dob_free(e->inflight);
		e->inflight = NULL;
		return;
	}
	e->npend = 0;
}

static void on_accepted(void *ctx, struct plat_conn *c, const struct dob_identity *peer)
{
	struct state *st = ctx;
	struct econn *e = dob_calloc(1, sizeof *e);

	(void)peer;
	if (!e) {
		plat_conn_close(c, NULL);
		return;
	}
	plat_conn_set_data(c, e);
	atomic_fetch_add(&st->conns, 1);
}

static void on_data(void *ctx, struct plat_conn *c, const uint8_t *p, size_t n)
{
	struct econn *e = plat_conn_get_data(c);

	(void)ctx;
	if (n > sizeof e->pend - e->npend)
		n = sizeof e->pend - e->npend; /* clients send one message at a time */
	memcpy(e->pend + e->npend, p, n);
	e->npend += n;
	flush(c, e);
}

static void on_sent(void *ctx, struct plat_conn *c, int status)
{
	struct econn *e = plat_conn_get_data(c);

	(void)ctx;
	dob_free(e->inflight);
	e->inflight = NULL;
	if (status == 0)
		flush(c, e);
}

static void on_closed(void *ctx, struct plat_conn *c, int err)
{
	struct state *st = ctx;
	struct econn *e = plat_conn_get_data(c);

	(void)err;
	dob_free(e->inflight); /* NULL: its sent() came first */
	dob_free(e);
	atomic_fetch_sub(&st->conns, 1);
}

static void on_posted(void *ctx, void *msg)
{
	struct state *st = ctx;
	struct pmsg *m = msg;

	if (m->thread < 0 || m->thread >= POSTERS || m->seq != st->next[m->thread])
		st->out_of_order++;
	else
		st->next[m->thread]++;
	st->delivered++;
	atomic_store(&st->delivered_a, st->delivered);
	dob_free(m);
}

static int64_t no_timeout(void *ctx)
{
	(void)ctx;
	return -1;
}

static void *loop_main(void *arg)
{
	struct state *st = arg;

	return (void *)(intptr_t)plat_loop_run(st->loop);
}

struct poster {
	struct state *st;
	int thread;
	int failed;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (int i = 0; i < PER_POSTER; i++) {
		struct pmsg *m = dob_malloc(sizeof *m);

		if (!m) {
			p->failed++;
			continue;
		}
		m->thread = p->thread;
		m->seq = i;
		if (plat_post(p->st->loop, m) != 0) {
			dob_free(m);
			p->failed++;
		}
		if (i % 1000 == 0)
			sched_yield();
	}
	return NULL;
}

static char sock_path[108];

static int dial(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct client {
	int id;
	int echoed;   /* round trips that came back intact */
};

static void *client_main(void *arg)
{
	struct client *cl = arg;
	char out[MSG], in[MSG];
	int fd = -1;

	for (int r = 0; r < ROUNDS; r++) {
		size_t got = 0;

		if (fd < 0 && (fd = dial()) < 0)
			break;
		memset(out, 'a' + (cl->id + r) % 26, sizeof out);
		if (write(fd, out, sizeof out) != (ssize_t)sizeof out)
			break;
		while (got < sizeof in) {
			ssize_t n = read(fd, in + got, sizeof in - got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got == sizeof in && memcmp(in, out, sizeof in) == 0)
			cl->echoed++;
		if (r % 50 == 49) { /* hang up now and then: closed() on the loop */
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static struct plat_handlers handlers(struct state *st)
{
	struct plat_handlers h = {
		.ctx = st,
		.accepted = on_accepted,
		.data = on_data,
		.sent = on_sent,
		.closed = on_closed,
		.posted = on_posted,
		.next_timeout_ms = no_timeout,
	};
	return h;
}

/* Posters and echo clients together while the loop runs; a stop from this
 * thread once everything arrived. */
static void posts_and_echo_while_running(const char *dir)
{
	struct state st = { 0 };
	struct plat_handlers h = handlers(&st);
	struct plat_listen_opts o = { 0 };
	struct poster ps[POSTERS];
	struct client cs[CLIENTS];
	pthread_t pt[POSTERS], ct[CLIENTS], lt;
	char err[256] = "";
	int echoed = 0, failed = 0;
	void *rc;

	snprintf(sock_path, sizeof sock_path, "%s/echo.sock", dir);
	o.endpoint = sock_path;
	TT_CHECK(plat_loop_new(&st.loop, &h) == 0, "plat_loop_new");
	TT_CHECK(plat_listen(st.loop, &o, err, sizeof err) == 0, "plat_listen: %s", err);
	pthread_create(&lt, NULL, loop_main, &st);
	for (int i = 0; i < POSTERS; i++) {
		ps[i] = (struct poster){ &st, i, 0 };
		pthread_create(&pt[i], NULL, poster_main, &ps[i]);
	}
	for (int i = 0; i < CLIENTS; i++) {
		cs[i] = (struct client){ i, 0 };
		pthread_create(&ct[i], NULL, client_main, &cs[i]);
	}
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(pt[i], NULL);
		failed += ps[i].failed;
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(ct[i], NULL);
		echoed += cs[i].echoed;
	}
	/* Every post delivered and every client's hang-up seen: then stop. */
	for (int i = 0; i < 2000; i++) {
		if (atomic_load(&st.delivered_a) == POSTERS * PER_POSTER &&
		    atomic_load(&st.conns) == 0)
			break;
		tt_sleep_ms(5);
	}
	plat_loop_stop(st.loop);
	pthread_join(lt, &rc);
	TT_CHECK(rc == NULL, "plat_loop_run returned %ld", (long)(intptr_t)rc);
	TT_CHECK(failed == 0, "%d posts failed", failed);
	TT_CHECK(st.delivered == POSTERS * PER_POSTER, "%ld of %d posts delivered",
		 st.delivered, POSTERS * PER_POSTER);
	TT_CHECK(st.out_of_order == 0, "%ld posts out of their thread's order", st.out_of_order);
	TT_CHECK(echoed == CLIENTS * ROUNDS, "%d of %d round trips echoed", echoed,
		 CLIENTS * ROUNDS);
	TT_CHECK(atomic_load(&st.conns) == 0, "%d conns not closed", atomic_load(&st.conns));
	plat_loop_free(st.loop);
}

/* plat_loop_stop from another thread while the posters go on: what the
 * loop did not take, plat_loop_free hands over; each post exactly once. */
static void stop_while_posting(void)
{
	struct state st = { 0 };
	struct plat_handlers h = handlers(&st);
	struct poster ps[POSTERS];
	pthread_t pt[POSTERS], lt;
	int failed = 0;

	TT_CHECK(plat_loop_new(&st.loop, &h) == 0, "plat_loop_new");
	pthread_create(&lt, NULL, loop_main, &st);
	for (int i = 0; i < POSTERS; i++) {
		ps[i] = (struct poster){ &st, i, 0 };
		pthread_create(&pt[i], NULL, poster_main, &ps[i]);
	}
	while (atomic_load(&st.delivered_a) < PER_POSTER / 2)
		tt_sleep_ms(1);
	plat_loop_stop(st.loop);
	pthread_join(lt, NULL);
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(pt[i], NULL);
		failed += ps[i].failed;
	}
	plat_loop_free(st.loop); /* delivers the leftovers */
	TT_CHECK(failed == 0, "%d posts failed", failed);
	TT_CHECK(st.delivered == POSTERS * PER_POSTER, "%ld of %d posts delivered",
		 st.delivered, POSTERS * PER_POSTER);
	TT_CHECK(st.out_of_order == 0, "%ld posts out of order", st.out_of_order);
}

static void *sigterm_main(void *arg)
{
	(void)arg;
	tt_sleep_ms(50);
	kill(getpid(), SIGTERM);
	return NULL;
}

/* SIGTERM stops the loop (the handler runs plat_loop_stop). */
static void sigterm_stops_the_loop(void)
{
	struct state st = { 0 };
	struct plat_handlers h = handlers(&st);
	struct poster p = { &st, 0, 0 };
	pthread_t lt, kt, pt;
	void *rc;

	TT_CHECK(plat_loop_new(&st.loop, &h) == 0, "plat_loop_new");
	TT_CHECK(plat_handle_signals(st.loop) == 0, "plat_handle_signals");
	pthread_create(&lt, NULL, loop_main, &st);
	pthread_create(&pt, NULL, poster_main, &p);
	pthread_create(&kt, NULL, sigterm_main, NULL);
	pthread_join(kt, NULL);
	pthread_join(lt, &rc);
	pthread_join(pt, NULL);
	TT_CHECK(rc == NULL, "plat_loop_run returned %ld", (long)(intptr_t)rc);
	plat_loop_free(st.loop);
	TT_CHECK(st.delivered == PER_POSTER, "%ld of %d posts delivered", st.delivered,
		 PER_POSTER);
}

int main(void)
{
	char dir[] = "/tmp/dob-tsan-loop-XXXXXX";
	int64_t live0 = dob_alloc_live();

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	posts_and_echo_while_running(dir);
	stop_while_posting();
	sigterm_stops_the_loop();
	TT_CHECK(dob_alloc_live() == live0, "%lld dob_* blocks leaked",
		 (long long)(dob_alloc_live() - live0));
	unlink(sock_path);
	rmdir(dir);
	return tt_done();
}
