/*
 * tests/platform/test_posix_sock.c - listening and connections over real
 * Unix sockets: echo, taking over the endpoint, writes in flight, hang-ups,
 * close-after-write, 1000 connections.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "harness.h"

static char *dir;
static char *sock;
static struct tcore tc;

static void setup(void)
{
	dir = tdir_new();
	sock = tpath(dir, "b.sock");
}

static void teardown(void)
{
	if (tc.loop)
		tcore_free(&tc); /* after a failure; tests end with tcore_done */
	free(sock);
	tdir_free(dir);
}

static void start(enum tmode mode)
{
	char err[256];
	int rc;

	tcore_init(&tc, mode);
	rc = tcore_listen(&tc, sock, NULL, err, sizeof err);
	cr_assert_eq(rc, 0, "plat_listen: %d %s", rc, err);
	tcore_start(&tc);
}

/* start(), then one client: its fd, and the core's side of it. */
static struct tconn *start_one(enum tmode mode, int *fd)
{
	struct tconn *t;

	start(mode);
	*fd = tclient_connect(sock);
	cr_assert(*fd >= 0);
	t = tcore_conn(&tc, 0);
	cr_assert(t);
	return t;
}

/* The peer hung up: closed() once, with "hang-up" as the reason. */
static void expect_closed_once_by_hangup(struct tconn *t)
{
	int err;

	cr_assert(twait_int(&t->closed, 1, 5000), "closed() not called");
	tms_sleep(50);
	cr_expect_eq(atomic_load(&t->closed), 1);
	err = atomic_load(&t->closed_err);
	cr_expect(err == 0 || err == -DOB_ECLOSED, "err %d", err);
}

TestSuite(posix_sock, .init = setup, .fini = teardown, .timeout = 30);

Test(posix_sock, echoes_bytes_through_a_real_socket)
{
	char buf[64];
	int fd;

	start(TMODE_ECHO);
	fd = tclient_connect(sock);
	cr_assert(fd >= 0);
	tsend_all(fd, "hello, broker", 13);
	cr_assert_eq(trecv_exact(fd, buf, 13, 5000), 13);
	cr_expect_arr_eq(buf, "hello, broker", 13);
	tsend_all(fd, "again", 5);
	cr_assert_eq(trecv_exact(fd, buf, 5, 5000), 5);
	cr_expect_arr_eq(buf, "again", 5);
	cr_expect_eq(atomic_load(&tc.accepted), 1);
	close(fd);
	tcore_done(&tc);
}

Test(posix_sock, socket_file_is_mode_0666_and_removed_with_its_lock_at_free)
{
	struct stat st;
	char *lock = tpath(dir, "b.sock.lock");

	start(TMODE_ECHO);
	cr_assert_eq(stat(sock, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0666, "mode %o", st.st_mode & 0777);
	cr_expect_eq(access(lock, F_OK), 0, "no lock file while listening");
	tcore_done(&tc);
	cr_expect_neq(access(sock, F_OK), 0, "socket file left behind");
	cr_expect_neq(access(lock, F_OK), 0, "lock file left behind");
	free(lock);
}

Test(posix_sock, peer_identity_is_the_test_process)
{
	struct tconn *t;
	int fd;

	t = start_one(TMODE_ECHO, &fd);
	cr_expect_eq(t->id.pid, (uint32_t)getpid());
	cr_expect_eq(t->id.uid, (uint32_t)getuid());
	{
		char want[32];

		snprintf(want, sizeof want, "uid:%u", (unsigned)getuid());
		cr_expect_str_eq(t->id.user_sid, want);
	}
	cr_expect_str_eq(t->id.appcontainer_sid, "");
	cr_expect_eq(t->id.integrity_rid, 0);
	cr_expect_eq(t->id.sandboxed, false);
	cr_expect_eq(t->id.privileged, getuid() == 0);
	close(fd);
	tcore_done(&tc);
}

Test(posix_sock, test_listener_gives_its_fixed_identity_but_the_real_pid)
{
	char err[256], spec[512];
	char *alt = tpath(dir, "alt.sock");
	const char *specs[] = { spec, NULL };
	struct tconn *t0, *t1;
	int a, b, rc;

	snprintf(spec, sizeof spec,
		 "%s=uid:1000,sid:S-1-5-21-1-2-3-1001,appcontainer:S-1-15-2-99,"
		 "integrity:0x1000,sandboxed:1,privileged:0",
		 alt);
	tcore_init(&tc, TMODE_ECHO);
	rc = tcore_listen(&tc, sock, specs, err, sizeof err);
	cr_assert_eq(rc, 0, "%s", err);
	tcore_start(&tc);
	a = tclient_connect(alt);
	cr_assert(a >= 0);
	t0 = tcore_conn(&tc, 0);
	cr_assert(t0);
	cr_expect_eq(t0->id.pid, (uint32_t)getpid());
	cr_expect_eq(t0->id.uid, 1000);
	cr_expect_str_eq(t0->id.user_sid, "S-1-5-21-1-2-3-1001");
	cr_expect_str_eq(t0->id.appcontainer_sid, "S-1-15-2-99");
	cr_expect_eq(t0->id.integrity_rid, 0x1000);
	cr_expect_eq(t0->id.sandboxed, true);
	cr_expect_eq(t0->id.privileged, false);
	/* The main endpoint still reports the OS's word. */
	b = tclient_connect(sock);
	cr_assert(b >= 0);
	t1 = tcore_conn(&tc, 1);
	cr_assert(t1);
	cr_expect_eq(t1->id.uid, (uint32_t)getuid());
	cr_expect_eq(t1->id.sandboxed, false);
	close(a);
	close(b);
	tcore_done(&tc);
	cr_expect_neq(access(alt, F_OK), 0, "test listener socket left behind");
	free(alt);
}

Test(posix_sock, test_listener_derives_unset_fields_from_the_ones_given)
{
	char err[256], s1[300], s2[300];
	char *p1 = tpath(dir, "u.sock"), *p2 = tpath(dir, "ac.sock");
	const char *specs[] = { s1, s2, NULL };
	struct tconn *t;
	int a, b, rc;

	snprintf(s1, sizeof s1, "%s=uid:1234", p1);
	snprintf(s2, sizeof s2, "%s=appcontainer:S-1-15-2-7", p2);
	tcore_init(&tc, TMODE_ECHO);
	rc = tcore_listen(&tc, sock, specs, err, sizeof err);
	cr_assert_eq(rc, 0, "%s", err);
	tcore_start(&tc);
	a = tclient_connect(p1);
	cr_assert(a >= 0);
	t = tcore_conn(&tc, 0);
	cr_assert(t);
	cr_expect_eq(t->id.uid, 1234);
	cr_expect_str_eq(t->id.user_sid, "uid:1234");
	cr_expect_eq(t->id.privileged, false);
	cr_expect_eq(t->id.sandboxed, false);
	b = tclient_connect(p2);
	cr_assert(b >= 0);
	t = tcore_conn(&tc, 1);
	cr_assert(t);
	cr_expect_eq(t->id.uid, (uint32_t)getuid());
	cr_expect_eq(t->id.sandboxed, true);
	cr_expect_eq(t->id.privileged, false, "a sandboxed root is not privileged");
	close(a);
	close(b);
	free(p1);
	free(p2);
	tcore_done(&tc);
}

Test(posix_sock, malformed_test_listener_spec_is_an_error_naming_it_and_listens_nowhere)
{
	static const char *const bad[] = {
		"no-equals-sign",
		"=uid:1",
		"%s=uid:abc",
		"%s=uid:-1",
		"%s=uid:99999999999",
		"%s=colour:blue",
		"%s=sandboxed:2",
		"%s=privileged:yes",
		"%s=uid:1,uid:2",
		"%s=uid:1,",
		"%s=uid",
		"%s=sid:",
		"%s=sid:has space",
		"%s=integrity:0xZZ",
	};
	char *alt = tpath(dir, "alt.sock");

	tcore_init(&tc, TMODE_ECHO);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char spec[300], err[512];
		const char *specs[] = { spec, NULL };
		int rc;

		snprintf(spec, sizeof spec, bad[i], alt);
		err[0] = '\0';
		rc = tcore_listen(&tc, sock, specs, err, sizeof err);
		cr_expect_eq(rc, -DOB_EINVAL, "'%s' accepted (%d)", spec, rc);
		cr_expect(strstr(err, spec) != NULL, "message '%s' does not name '%s'", err, spec);
		/* All or nothing: the main endpoint was given up again. */
		cr_expect_neq(access(sock, F_OK), 0, "'%s' left %s", spec, sock);
		cr_expect_neq(access(alt, F_OK), 0);
	}
	/* And the loop can still listen. */
	{
		char err[256];

		cr_expect_eq(tcore_listen(&tc, sock, NULL, err, sizeof err), 0, "%s", err);
	}
	free(alt);
	tcore_done(&tc);
}

Test(posix_sock, second_listen_on_a_live_endpoint_fails_eexist_with_the_message)
{
	struct tcore other;
	char err[512], want[512];
	int rc;

	start(TMODE_ECHO);
	tcore_init(&other, TMODE_ECHO);
	rc = tcore_listen(&other, sock, NULL, err, sizeof err);
	cr_expect_eq(rc, -DOB_EEXIST);
	snprintf(want, sizeof want, "another broker is already listening on %s", sock);
	cr_expect_str_eq(err, want);
	tcore_free(&other);
	/* The first broker is untouched: its socket is still there and serves. */
	{
		char buf[2];
		int fd = tclient_connect(sock);

		cr_assert(fd >= 0);
		tsend_all(fd, "ok", 2);
		cr_expect_eq(trecv_exact(fd, buf, 2, 5000), 2);
		close(fd);
	}
	tcore_done(&tc);
}

Test(posix_sock, a_foreign_server_on_the_path_is_detected_by_connecting)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[512], want[512];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	/* No lock file: only the connect probe can tell. */
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(s, 4), 0);
	tcore_init(&tc, TMODE_ECHO);
	cr_expect_eq(tcore_listen(&tc, sock, NULL, err, sizeof err), -DOB_EEXIST);
	snprintf(want, sizeof want, "another broker is already listening on %s", sock);
	cr_expect_str_eq(err, want);
	cr_expect_eq(access(sock, F_OK), 0, "a live socket was removed");
	close(s);
	tcore_done(&tc);
}

Test(posix_sock, a_stale_socket_file_is_replaced)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[5];
	int s = socket(AF_UNIX, SOCK_STREAM, 0), fd;

	/* A broker that died: its socket file stays, nobody listens. */
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(s, 4), 0);
	close(s);
	cr_assert_eq(tclient_connect(sock), -1, "the stale socket answers");
	start(TMODE_ECHO);
	/* (The new file may well get the old inode number back: only a
	 * working endpoint tells.) */
	fd = tclient_connect(sock);
	cr_assert(fd >= 0);
	tsend_all(fd, "fresh", 5);
	cr_expect_eq(trecv_exact(fd, buf, 5, 5000), 5);
	close(fd);
	tcore_done(&tc);
}

Test(posix_sock, a_file_that_is_not_a_socket_is_never_replaced)
{
	char err[512];
	FILE *f = fopen(sock, "w");

	cr_assert(f);
	fputs("precious", f);
	fclose(f);
	tcore_init(&tc, TMODE_ECHO);
	cr_expect_eq(tcore_listen(&tc, sock, NULL, err, sizeof err), -DOB_EEXIST);
	cr_expect(strstr(err, "not a socket"), "%s", err);
	f = fopen(sock, "r");
	cr_assert(f, "the file was removed");
	fclose(f);
	tcore_done(&tc);
}

Test(posix_sock, a_path_too_long_for_a_socket_is_refused_clearly)
{
	char err[512], path[300];

	memset(path, 'x', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	tcore_init(&tc, TMODE_ECHO);
	cr_expect_eq(tcore_listen(&tc, path, NULL, err, sizeof err), -DOB_EINVAL);
	cr_expect(strstr(err, "longer than"), "%s", err);
	tcore_done(&tc);
}

/* ---------------------------------------------------------- writes in flight */

#define BIG (8u << 20)

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n);

	cr_assert(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 31u + seed) ^ (i >> 9));
	return b;
}

struct write_arg {
	int idx;
	uint8_t *buf; /* handed to the tconn (freed with it) */
	size_t n;
	bool close_after;
	int rc, rc2;
};

static void do_write(struct tcore *c, void *arg)
{
	struct write_arg *w = arg;
	struct tconn *t = c->conns[w->idx];

	free(t->out);
	t->out = w->buf;
	t->out_len = w->n;
	t->writing = true;
	w->rc = plat_conn_write(t->c, w->buf, w->n);
	/* A second write while one is in flight. */
	w->rc2 = plat_conn_write(t->c, w->buf, 1);
	if (w->close_after) {
		plat_conn_close_after_write(t->c, tconn_close_cb);
		t->c = NULL; /* the core lets go of it */
	}
}

Test(posix_sock, a_peer_that_never_reads_keeps_its_write_in_flight_and_others_are_served)
{
	struct write_arg w = { .idx = 0, .n = BIG };
	uint8_t *expect = pattern(BIG, 7), *got;
	struct tconn *slow;
	char buf[4];
	int a, b;

	w.buf = pattern(BIG, 7);
	start(TMODE_ECHO);
	a = tclient_connect(sock);
	cr_assert(a >= 0);
	slow = tcore_conn(&tc, 0);
	cr_assert(slow);
	b = tclient_connect(sock);
	cr_assert(b >= 0);
	cr_assert(tcore_conn(&tc, 1));
	tcore_call(&tc, do_write, &w);
	cr_expect_eq(w.rc, 0);
	cr_expect_eq(w.rc2, -DOB_EAGAIN, "a second write was accepted while one is in flight");
	tms_sleep(200);
	cr_expect_eq(atomic_load(&slow->n_sent), 0, "sent() before the peer read 8 MiB");
	/* The loop still serves the other conn. */
	for (int i = 0; i < 20; i++) {
		tsend_all(b, "ping", 4);
		cr_assert_eq(trecv_exact(b, buf, 4, 5000), 4);
		cr_expect_arr_eq(buf, "ping", 4);
	}
	cr_expect_eq(atomic_load(&slow->n_sent), 0);
	/* Now the slow peer reads everything, in order, and sent() follows. */
	got = malloc(BIG);
	cr_assert_eq(trecv_exact(a, got, BIG, 10000), BIG);
	cr_expect_eq(memcmp(got, expect, BIG), 0, "bytes differ");
	cr_expect(twait_int(&slow->n_sent, 1, 5000), "no sent() after the peer read all");
	cr_expect_eq(atomic_load(&slow->closed), 0);
	free(got);
	free(expect);
	close(a);
	close(b);
	tcore_done(&tc);
}

Test(posix_sock, peer_hangup_calls_closed_once_with_no_error)
{
	struct tconn *t;
	int fd;

	t = start_one(TMODE_ECHO, &fd);
	close(fd);
	expect_closed_once_by_hangup(t);
	tcore_done(&tc);
}

/* The write always completes (libuv style): cancelled, then closed(). */
Test(posix_sock, peer_hangup_with_a_write_in_flight_reports_it_cancelled_then_closed)
{
	struct write_arg w = { .idx = 0, .n = BIG };
	struct tconn *t;
	int fd;

	w.buf = pattern(BIG, 1);
	t = start_one(TMODE_ECHO, &fd);
	tcore_call(&tc, do_write, &w);
	cr_expect_eq(w.rc, 0);
	close(fd);
	expect_closed_once_by_hangup(t);
	cr_expect_eq(atomic_load(&t->n_sent), 1, "the write did not report");
	cr_expect_eq(atomic_load(&t->last_status), -DOB_ECLOSED);
	tcore_done(&tc);
}

Test(posix_sock, close_after_write_delivers_the_last_bytes_then_a_clean_eof)
{
	struct write_arg w = { .idx = 0, .n = BIG, .close_after = true };
	uint8_t *expect = pattern(BIG, 3), *got = malloc(BIG + 1);
	struct tconn *t;
	int fd;

	w.buf = pattern(BIG, 3);
	t = start_one(TMODE_SINK, &fd);
	tcore_call(&tc, do_write, &w);
	cr_expect_eq(w.rc, 0);
	/* Bytes the broker will never read: they must not turn our EOF into a
	 * reset. */
	tsend_all(fd, "unread bytes", 12);
	tms_sleep(50);
	cr_assert_eq(trecv_exact(fd, got, BIG, 10000), BIG);
	cr_expect_eq(memcmp(got, expect, BIG), 0);
	cr_expect_eq(tread_one(fd, 5000), 0, "no clean EOF after the last bytes");
	/* The write reports success, then the close callback comes. */
	cr_expect(twait_int(&t->n_close_cb, 1, 5000), "no close callback");
	cr_expect_eq(atomic_load(&t->n_sent), 1, "the write did not report once");
	cr_expect_eq(atomic_load(&t->last_status), 0);
	cr_expect_eq(atomic_load(&t->closed), 0, "closed() after close_after_write");
	free(got);
	free(expect);
	close(fd);
	tcore_done(&tc);
}

static void noop_call(struct tcore *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void close_after_now(struct tcore *c, void *arg)
{
	struct tconn *t = c->conns[*(int *)arg];

	plat_conn_close_after_write(t->c, tconn_close_cb);
	t->c = NULL;
}

Test(posix_sock, close_after_write_with_nothing_in_flight_closes_at_once)
{
	int fd, idx = 0;

	start_one(TMODE_SINK, &fd);
	tcore_call(&tc, close_after_now, &idx);
	cr_expect_eq(tread_one(fd, 5000), 0, "not closed");
	cr_expect_eq(atomic_load(&tc.closed), 0);
	close(fd);
	tcore_done(&tc);
}

Test(posix_sock, close_after_write_gives_up_on_a_peer_that_never_reads, .timeout = 30)
{
	struct write_arg w = { .idx = 0, .n = BIG, .close_after = true };
	struct pollfd pfd;
	int64_t t0;
	int fd, r;

	w.buf = pattern(BIG, 5);
	start_one(TMODE_SINK, &fd);
	t0 = plat_now_ms();
	tcore_call(&tc, do_write, &w);
	/* POLLHUP once the broker has closed its end. */
	pfd = (struct pollfd){ .fd = fd, .events = 0 };
	r = poll(&pfd, 1, 15000);
	cr_expect_eq(r, 1, "the broker kept a non-reading peer for 15 s");
	cr_expect(pfd.revents & POLLHUP);
	cr_expect(plat_now_ms() - t0 >= 4000, "gave up after %lld ms",
		  (long long)(plat_now_ms() - t0));
	{
		struct tconn *t = tcore_conn(&tc, 0);
		/* The abandoned write reports cancelled, then the close callback. */
		cr_expect(twait_int(&t->n_close_cb, 1, 5000), "no close callback");
		cr_expect_eq(atomic_load(&t->n_sent), 1);
		cr_expect_eq(atomic_load(&t->last_status), -DOB_ECLOSED);
	}
	close(fd);
	tcore_done(&tc);
}

Test(posix_sock, core_closing_in_data_gets_no_more_callbacks_and_peer_sees_eof)
{
	struct tconn *t;
	int fd;

	t = start_one(TMODE_CLOSE_ON_DATA, &fd);
	tsend_all(fd, "x", 1);
	cr_expect_eq(tread_one(fd, 5000), 0, "no EOF after plat_conn_close");
	/* Whatever follows (it may fail: EPIPE) must not reach the core. */
	(void)!send(fd, "more", 4, MSG_NOSIGNAL);
	tms_sleep(100);
	cr_expect_eq(atomic_load(&t->closed), 0);
	cr_expect_eq(atomic_load(&t->n_bytes), 1);
	cr_expect(twait_int(&t->n_close_cb, 1, 5000), "no close callback");
	close(fd);
	tcore_done(&tc);
}

/* Issue 9 item 12: a peer that only shuts down its sending side still
 * reads: eof() lets the core answer before closing. */
Test(posix_sock, half_close_is_eof_and_the_peer_still_reads_the_answer)
{
	struct tconn *t;
	char got[16];
	int fd;

	t = start_one(TMODE_ECHO_EOF, &fd);
	tsend_all(fd, "abc", 3);
	cr_assert_eq(trecv_exact(fd, got, 3, 5000), 3);
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	cr_assert_eq(trecv_exact(fd, got, 3, 5000), 3, "no answer after the half-close");
	cr_expect_arr_eq(got, "EOF", 3);
	cr_expect_eq(tread_one(fd, 5000), 0, "no EOF after the answer");
	cr_expect(twait_int(&t->n_close_cb, 1, 5000), "no close callback");
	cr_expect_eq(atomic_load(&t->n_eof), 1);
	cr_expect_eq(atomic_load(&t->closed), 0, "closed() for a conn the core closed");
	close(fd);
	tcore_done(&tc);
}

/* Issue 9 item 8: every refused connection's buffer and conn are given back
 * (sent(), then the close callback): nothing kept per refusal. Counted
 * through the dob_alloc hook, not by RSS. */
Test(posix_sock, thousands_of_refusals_keep_no_memory, .timeout = 120)
{
	int64_t live_mid = 0;
	char got[2];

	start(TMODE_REFUSE);
	for (int i = 0; i < 3000; i++) {
		int fd = tclient_connect(sock);

		cr_assert(fd >= 0, "connect %d: %s", i, strerror(errno));
		cr_assert_eq(trecv_exact(fd, got, 2, 5000), 2, "refusal %d not read", i);
		cr_assert_eq(tread_one(fd, 5000), 0, "no EOF after refusal %d", i);
		close(fd);
		if (i == 99) {
			cr_assert(twait_int(&tc.close_cbs, 100, 10000));
			tcore_call(&tc, noop_call, NULL); /* the post ring exists now */
			live_mid = dob_alloc_live();
		}
	}
	cr_assert(twait_int(&tc.close_cbs, 3000, 20000), "close callbacks %d",
		  atomic_load(&tc.close_cbs));
	/* Conns are freed at the end of a loop iteration: one more turn. */
	tcore_call(&tc, noop_call, NULL);
	cr_expect_leq(dob_alloc_live(), live_mid, "%lld blocks live after 3000 refusals, %lld after 100",
		      (long long)dob_alloc_live(), (long long)live_mid);
	for (int i = 0; i < 3000; i++) {
		struct tconn *t = tc.conns[i];
		cr_assert_eq(atomic_load(&t->n_sent), 1, "conn %d: sent() %d times", i,
			     atomic_load(&t->n_sent));
		cr_assert_eq(atomic_load(&t->last_status), 0, "conn %d", i);
	}
	tcore_done(&tc);
}

/* ---------------------------------------------------------- many conns */

#define MANY 1000

Test(posix_sock, accepts_and_serves_1000_simultaneous_connections, .timeout = 60)
{
	struct rlimit rl;
	static int fds[MANY];

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * MANY + 64) {
		rl.rlim_cur = rl.rlim_max < 4 * MANY ? rl.rlim_max : 4 * MANY;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
		cr_assert(rl.rlim_cur >= 2 * MANY + 64, "RLIMIT_NOFILE too low: %llu",
			  (unsigned long long)rl.rlim_cur);
	}
	start(TMODE_ECHO);
	for (int i = 0; i < MANY; i++) {
		fds[i] = tclient_connect(sock);
		cr_assert(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
	}
	cr_assert(twait_int(&tc.accepted, MANY, 10000), "accepted %d",
		  atomic_load(&tc.accepted));
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MANY; i++) {
			char msg[16];

			snprintf(msg, sizeof msg, "%c%07u", 'a' + round, (unsigned)i % 10000000u);
			tsend_all(fds[i], msg, 8);
		}
		for (int i = 0; i < MANY; i++) {
			char msg[16], got[8];

			snprintf(msg, sizeof msg, "%c%07u", 'a' + round, (unsigned)i % 10000000u);
			cr_assert_eq(trecv_exact(fds[i], got, 8, 5000), 8, "conn %d round %d", i,
				     round);
			cr_assert_arr_eq(got, msg, 8, "conn %d", i);
		}
	}
	for (int i = 0; i < MANY; i++)
		close(fds[i]);
	cr_expect(twait_int(&tc.closed, MANY, 10000), "closed %d", atomic_load(&tc.closed));
	tcore_done(&tc);
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 65536; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	}
	return n;
}

Test(posix_sock, ten_thousand_connect_disconnect_cycles_leak_no_fd_and_no_memory,
     .timeout = 120)
{
	int fds0, fds1;

	start(TMODE_ECHO);
	fds0 = open_fds();
	for (int i = 0; i < 10000; i++) {
		int fd = tclient_connect(sock);

		cr_assert(fd >= 0, "connect %d: %s", i, strerror(errno));
		close(fd);
		/* Keep the backlog short: wait for the broker now and then. */
		if (i % 100 == 99)
			cr_assert(twait_int(&tc.closed, i + 1, 10000), "closed %d of %d",
				  atomic_load(&tc.closed), i + 1);
	}
	cr_assert(twait_int(&tc.closed, 10000, 10000));
	cr_expect_eq(atomic_load(&tc.accepted), 10000);
	tcore_call(&tc, noop_call, NULL); /* one more iteration: zombies freed */
	fds1 = open_fds();
	cr_expect_eq(fds1, fds0, "%d fds before, %d after", fds0, fds1);
	tcore_done(&tc);
}

Test(posix_sock, out_of_fds_the_broker_sheds_new_conns_without_spinning_and_serves_the_rest)
{
	enum { CLIENTS = 40, ROOM = 6 };
	int fds[CLIENTS];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rlimit old, rl;
	int accepted = 0, ticks, lowest, shed = 0;
	char buf[4];

	start(TMODE_ECHO);
	/* The client sockets exist before the limit drops (the limit only
	 * stops new fds): then only the broker's accepts run out. */
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert(fds[i] >= 0);
	}
	lowest = dup(0);
	cr_assert(lowest >= 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)lowest + ROOM;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	for (int i = 0; i < CLIENTS; i++)
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0, "%s",
			     strerror(errno));
	/* The ones the broker could not take are closed, not left hanging. */
	for (int waited = 0; waited < 5000; waited += 10) {
		accepted = atomic_load(&tc.accepted);
		shed = 0;
		for (int i = 0; i < CLIENTS; i++) {
			if (tread_one(fds[i], 0) == 0)
				shed++;
		}
		if (accepted + shed == CLIENTS)
			break;
		tms_sleep(10);
	}
	cr_expect(accepted > 0 && accepted <= ROOM, "accepted %d with room for %d", accepted,
		  ROOM);
	cr_expect_eq(shed, CLIENTS - accepted, "%d shed, %d accepted of %d", shed, accepted,
		     CLIENTS);
	/* Not spinning on the backlog: the loop sleeps. */
	ticks = atomic_load(&tc.ticks);
	tms_sleep(200);
	cr_expect(atomic_load(&tc.ticks) - ticks < 5, "%d wake-ups in 200 ms while idle",
		  atomic_load(&tc.ticks) - ticks);
	/* The accepted ones are served. */
	for (int i = 0; i < CLIENTS; i++) {
		if (tread_one(fds[i], 0) == 0)
			continue;
		tsend_all(fds[i], "live", 4);
		cr_expect_eq(trecv_exact(fds[i], buf, 4, 5000), 4);
	}
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (int i = 0; i < CLIENTS; i++)
		close(fds[i]);
	tcore_done(&tc);
}
