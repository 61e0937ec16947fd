/*
 * tests/platform/harness.c - see harness.h.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"

/* ------------------------------------------------------------ temp dirs */

char *tdir_new(void)
{
	char tmpl[] = "/tmp/dobplat-XXXXXX";
	char *d = mkdtemp(tmpl);

	cr_assert(d, "mkdtemp: %s", strerror(errno));
	return strdup(d);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

void tdir_free(char *dir)
{
	if (!dir)
		return;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *tpath(const char *dir, const char *name)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

void tms_sleep(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool twait(bool (*pred)(void *), void *arg, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (pred(arg))
			return true;
		tms_sleep(1);
	}
	return pred(arg);
}

bool twait_int(atomic_int *v, int at_least, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (atomic_load(v) >= at_least)
			return true;
		tms_sleep(1);
	}
	return atomic_load(v) >= at_least;
}

/* ------------------------------------------------------------ the core */

struct call {
	int kind; /* TMSG_CALL */
	void (*fn)(struct tcore *tc, void *arg);
	void *arg;
	atomic_int done;
};

static char *dupstr(const char *s)
{
	return strdup(s ? s : "");
}

static void h_accepted(void *ctx, struct plat_conn *c, const struct dob_identity *peer)
{
	struct tcore *tc = ctx;
	struct tconn *t = calloc(1, sizeof *t);
	int n = atomic_load(&tc->n_conns);

	LCHECK(tc, t && n < TCORE_MAX_CONNS, "conn %d", n);
	if (!t || n >= TCORE_MAX_CONNS) {
		free(t);
		plat_conn_close(c, NULL);
		return;
	}
	t->tc = tc;
	t->c = c;
	t->idx = n;
	t->id = *peer;
	t->id.user_sid = dupstr(peer->user_sid);
	t->id.appcontainer_sid = dupstr(peer->appcontainer_sid);
	plat_conn_set_data(c, t);
	tc->conns[n] = t;
	atomic_store(&tc->n_conns, n + 1);
	atomic_fetch_add(&tc->accepted, 1);
	if (tc->mode == TMODE_REFUSE) {
		/* The buffer is dob_malloc'd: the leak check sees it unless the
		 * write's sent() gives it back. */
		t->refusal = dob_malloc(2);
		LCHECK(tc, t->refusal != NULL, "out of memory");
		if (!t->refusal)
			return;
		memcpy(t->refusal, "NO", 2);
		t->writing = true;
		t->last_write_rc = plat_conn_write(c, t->refusal, 2);
		LCHECK(tc, t->last_write_rc == 0, "plat_conn_write: %d", t->last_write_rc);
		plat_conn_close_after_write(c, tconn_close_cb);
		t->c = NULL;
	}
}

static void flush(struct tcore *tc, struct tconn *t)
{
	free(t->out);
	t->out = t->pend;
	t->out_len = t->pend_len;
	t->pend = NULL;
	t->pend_len = 0;
	t->writing = true;
	t->last_write_rc = plat_conn_write(t->c, t->out, t->out_len);
	LCHECK(tc, t->last_write_rc == 0, "plat_conn_write: %d", t->last_write_rc);
}

static void h_data(void *ctx, struct plat_conn *c, const uint8_t *p, size_t n)
{
	struct tcore *tc = ctx;
	struct tconn *t = plat_conn_get_data(c);

	LCHECK(tc, t && t->c == c, "data() for an unknown conn");
	if (!t)
		return;
	atomic_fetch_add(&t->n_bytes, (long)n);
	switch (tc->mode) {
	case TMODE_SINK:
	case TMODE_REFUSE:
		break;
	case TMODE_CLOSE_ON_DATA:
		plat_conn_close(c, tconn_close_cb);
		t->c = NULL;
		break;
	case TMODE_ECHO:
	case TMODE_ECHO_EOF:
		t->pend = realloc(t->pend, t->pend_len + n);
		LCHECK(tc, t->pend != NULL, "out of memory");
		memcpy(t->pend + t->pend_len, p, n);
		t->pend_len += n;
		if (!t->writing)
			flush(tc, t);
		break;
	}
}

static void h_sent(void *ctx, struct plat_conn *c, int status)
{
	struct tcore *tc = ctx;
	struct tconn *t = plat_conn_get_data(c);

	LCHECK(tc, t && t->writing, "sent() without a write in flight");
	if (!t)
		return;
	t->writing = false;
	dob_free(t->refusal);
	t->refusal = NULL;
	atomic_store(&t->last_status, status);
	if (status == -DOB_ECLOSED)
		atomic_fetch_add(&t->n_cancelled, 1);
	atomic_fetch_add(&t->n_sent, 1);
	atomic_fetch_add(&tc->sent, 1);
	if (t->c && status == 0 && t->pend_len)
		flush(tc, t);
}

void tconn_close_cb(struct plat_conn *c)
{
	struct tconn *t = plat_conn_get_data(c);

	if (!t)
		return;
	LCHECK(t->tc, !t->writing, "close callback before the write's sent()");
	LCHECK(t->tc, atomic_load(&t->closed) == 0, "close callback after closed()");
	atomic_fetch_add(&t->n_close_cb, 1);
	atomic_fetch_add(&t->tc->close_cbs, 1);
	t->c = NULL;
}

static void h_eof(void *ctx, struct plat_conn *c)
{
	struct tcore *tc = ctx;
	struct tconn *t = plat_conn_get_data(c);

	LCHECK(tc, t && t->c == c, "eof() for an unknown conn");
	if (!t)
		return;
	atomic_fetch_add(&t->n_eof, 1);
	if (tc->mode == TMODE_ECHO_EOF && !t->writing) {
		static const char eof[] = "EOF";
		t->pend = realloc(t->pend, t->pend_len + 3);
		LCHECK(tc, t->pend != NULL, "out of memory");
		memcpy(t->pend + t->pend_len, eof, 3);
		t->pend_len += 3;
		flush(tc, t);
	}
	plat_conn_close_after_write(c, tconn_close_cb);
	t->c = NULL;
}

static void h_closed(void *ctx, struct plat_conn *c, int err)
{
	struct tcore *tc = ctx;
	struct tconn *t = plat_conn_get_data(c);

	LCHECK(tc, t && t->c == c, "closed() for an unknown conn");
	if (!t)
		return;
	LCHECK(tc, !t->writing, "closed() before the write's sent()");
	LCHECK(tc, atomic_load(&t->closed) == 0, "closed() twice for conn %d", t->idx);
	t->c = NULL;
	atomic_store(&t->closed_err, err);
	atomic_fetch_add(&t->closed, 1);
	atomic_fetch_add(&tc->closed, 1);
}

static void h_posted(void *ctx, void *msg)
{
	struct tcore *tc = ctx;
	struct call *call = msg;

	atomic_fetch_add(&tc->posted, 1);
	if (call->kind == TMSG_CALL) {
		call->fn(tc, call->arg);
		atomic_store(&call->done, 1);
	} else {
		LCHECK(tc, tc->on_post != NULL, "unexpected message kind %d", call->kind);
		if (tc->on_post)
			tc->on_post(tc, msg);
	}
}

static int64_t h_next_timeout(void *ctx)
{
	struct tcore *tc = ctx;

	atomic_fetch_add(&tc->timeouts_asked, 1);
	return tc->timeout_ms;
}

static void h_tick(void *ctx)
{
	struct tcore *tc = ctx;

	atomic_fetch_add(&tc->ticks, 1);
}

void tcore_init(struct tcore *tc, enum tmode mode)
{
	struct plat_handlers h = {
		.ctx = tc,
		.accepted = h_accepted,
		.data = h_data,
		.sent = h_sent,
		.closed = h_closed,
		.posted = h_posted,
		.next_timeout_ms = h_next_timeout,
		.tick = h_tick,
	};
	int rc;

	memset(tc, 0, sizeof *tc);
	tc->live0 = dob_alloc_live();
	tc->mode = mode;
	tc->timeout_ms = -1;
	/* Only this mode takes end of stream itself; the others keep the
	 * default (eof reported as closed(0)). */
	if (mode == TMODE_ECHO_EOF)
		h.eof = h_eof;
	rc = plat_loop_new(&tc->loop, &h);
	cr_assert_eq(rc, 0, "plat_loop_new: %d", rc);
}

int tcore_listen(struct tcore *tc, const char *path, const char *const *tests, char *errbuf,
		 size_t errlen)
{
	struct plat_listen_opts o = { .endpoint = path, .test_listeners = tests };

	return plat_listen(tc->loop, &o, errbuf, errlen);
}

static void *loop_main(void *arg)
{
	struct tcore *tc = arg;

	tc->run_rc = plat_loop_run(tc->loop);
	return NULL;
}

void tcore_start(struct tcore *tc)
{
	cr_assert_eq(pthread_create(&tc->th, NULL, loop_main, tc), 0);
	tc->running = true;
}

int tcore_stop(struct tcore *tc)
{
	if (tc->running) {
		plat_loop_stop(tc->loop);
		pthread_join(tc->th, NULL);
		tc->running = false;
	}
	return tc->run_rc;
}

void tcore_free(struct tcore *tc)
{
	tcore_stop(tc);
	cr_expect_eq(atomic_load(&tc->errors), 0, "%d checks failed on the loop thread",
		     atomic_load(&tc->errors));
	plat_loop_free(tc->loop);
	tc->loop = NULL;
	for (int i = 0; i < atomic_load(&tc->n_conns); i++) {
		struct tconn *t = tc->conns[i];

		free(t->id.user_sid);
		free(t->id.appcontainer_sid);
		free(t->pend);
		free(t->out);
		free(t);
		tc->conns[i] = NULL;
	}
	atomic_store(&tc->n_conns, 0);
}

void tcore_done(struct tcore *tc)
{
	tcore_free(tc);
	texpect_no_leak(tc->live0);
}

void tcore_call(struct tcore *tc, void (*fn)(struct tcore *tc, void *arg), void *arg)
{
	struct call *call = calloc(1, sizeof *call);

	cr_assert(call);
	call->kind = TMSG_CALL;
	call->fn = fn;
	call->arg = arg;
	cr_assert_eq(plat_post(tc->loop, call), 0);
	cr_assert(twait_int(&call->done, 1, 5000), "the loop did not run the call");
	free(call);
}

struct tconn *tcore_conn(struct tcore *tc, int idx)
{
	if (!twait_int(&tc->n_conns, idx + 1, 5000))
		return NULL;
	return tc->conns[idx];
}

/* ------------------------------------------------------------ clients */

int tclient_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void tsend_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		cr_assert(r > 0, "send: %s", strerror(errno));
		p += r;
		n -= (size_t)r;
	}
}

size_t trecv_exact(int fd, void *buf, size_t n, int timeout_ms)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			break;
		r = recv(fd, p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

int tread_one(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char b[4096];
	ssize_t r;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	r = recv(fd, b, sizeof b, MSG_DONTWAIT);
	if (r < 0)
		return -errno;
	return r > 0 ? 1 : 0;
}

/* ------------------------------------------------------------ leaks */

void texpect_no_leak(int64_t live0)
{
	cr_expect_eq(dob_alloc_live(), live0, "%lld dob_* blocks leaked",
		     (long long)(dob_alloc_live() - live0));
}
