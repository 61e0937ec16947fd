/*
 * Hostile clients against the per-client limits, each with its expected
 * outcome, while a well-behaved client keeps its service:
 *   - max-size frames as fast as a socket takes them: RATE_LIMITED and a
 *     disconnect; a subscriber keeps receiving and pings keep answering;
 *   - 10,000 connect/disconnect cycles (handshakes, silent peers, hang-ups
 *     mid-frame): the broker's fd count and RSS come back;
 *   - many connections from one identity: TOO_MANY_CONNECTIONS for it alone;
 *   - requests pipelined above max-inflight: LIMIT_EXCEEDED at once, the
 *     others carried out (submit and act);
 *   - jobs above max-jobs for one identity: LIMIT_EXCEEDED, for it alone.
 * Figures (frames before the cut, ping times, fds and RSS) go to stderr for
 * docs/reliability.md.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "harness.h"

static struct hb_broker B;

static void fini(void)
{
	hb_cleanup(&B);
}

TestSuite(limits, .fini = fini, .timeout = 120);

#define FAIL_RULE "rule \"*/missing/*\" error http=404 after=20ms\nrepeat off\n"

static void file_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.bin", B.files, name);
}

/* ---------------------------------------------------------------- flood */

struct flood {
	const char *sock;
	volatile bool stop;
	pthread_t t;
	/* over every connection of this flooder: */
	unsigned conns;         /* connections made */
	unsigned cut;           /* ... ended by RATE_LIMITED */
	uint64_t frames_sent;   /* whole frames written */
	uint64_t pongs;
	bool failed;            /* ended otherwise (reason says how) */
	enum dob_perr last;     /* the last ProtocolError's code */
	char reason[256];       /* ... and its message */
	/* prepared by the test's thread: */
	uint8_t *frame, *hello;
	size_t flen, hello_len;
	int64_t ms_max;         /* longest time from the first frame to the cut */
};

/* One frame of exactly max_frame envelope bytes: a Ping (correlation id,
 * nonce) padded with an unknown length-delimited field (number 1000), which
 * every reader must skip. */
static uint8_t *max_size_ping(uint32_t max_frame, size_t *len)
{
	struct dob_msg m = {.type = DOB_MSG_PING, .correlation_id = 1};
	uint8_t *small = NULL, *f;
	size_t n = 0;

	m.u.ping.nonce = 7;
	cr_assert_eq(dob_encode(&m, max_frame, &small, &n, NULL), 0);
	/* Envelope so far: small[4..n). Add tag (field 1000, type 2): 3 bytes
	 * of varint; the length: 3 bytes for anything below 2^21. */
	size_t env = n - DOB_FRAME_HDR, pad = max_frame - env - 3 - 3;

	f = malloc(DOB_FRAME_HDR + max_frame);
	cr_assert(f);
	memcpy(f, small, n);
	uint8_t *p = f + n;
	uint32_t tag = 1000u << 3 | 2;

	*p++ = (uint8_t)(tag | 0x80);
	*p++ = (uint8_t)((tag >> 7) | 0x80);
	*p++ = (uint8_t)(tag >> 14);
	*p++ = (uint8_t)(pad | 0x80);
	*p++ = (uint8_t)((pad >> 7) | 0x80);
	*p++ = (uint8_t)(pad >> 14);
	memset(p, 'A', pad);
	p += pad;
	cr_assert_eq((size_t)(p - f), DOB_FRAME_HDR + (size_t)max_frame);
	dob_put_u32le(f, max_frame);
	dob_free(small);
	*len = DOB_FRAME_HDR + max_frame;
	return f;
}

static int raw_socket(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One connection: floods until the broker cuts it. */
static void flood_once(struct flood *fl, struct hr_conn *r)
{
	struct dob_msg m = {0};
	size_t flen, sent = 0;
	uint8_t *frame;
	bool done = false, peer_gone = false;

	/* No cr_assert off the test's thread: failures are recorded. */
	memset(r, 0, sizeof *r);
	r->fd = raw_socket(fl->sock);
	if (r->fd < 0) {
		fl->failed = true;
		snprintf(fl->reason, sizeof fl->reason, "connect: %s", strerror(errno));
		return;
	}
	dob_decoder_init(&r->dec, DOB_MAX_FRAME_CEILING);
	fl->conns++;
	frame = fl->frame;
	flen = fl->flen;
	if (send(r->fd, fl->hello, fl->hello_len, MSG_NOSIGNAL) != (ssize_t)fl->hello_len) {
		fl->failed = true;
		snprintf(fl->reason, sizeof fl->reason, "send Hello: %s", strerror(errno));
		hr_close(r);
		return;
	}

	int64_t t0 = hp_now_ms();

	while (!done && hp_now_ms() - t0 < 30000) {
		/* Once a write found the broker gone, only its last words are
		 * left to read: its ProtocolError, then the end of the stream. */
		struct pollfd p = {.fd = r->fd, .events = peer_gone ? POLLIN : POLLIN | POLLOUT};

		if (poll(&p, 1, 100) <= 0)
			continue;
		if (p.revents & POLLIN) {
			ssize_t n = recv(r->fd, r->buf, sizeof r->buf, MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				fl->failed = true;
				snprintf(fl->reason, sizeof fl->reason, "closed without ProtocolError");
				break;
			}
			for (size_t off = 0; n > 0 && off < (size_t)n;) {
				size_t used = 0;
				int rc = dob_decoder_feed(&r->dec, r->buf + off, (size_t)n - off, &used,
							  &m, NULL);

				if (rc < 0) {
					fl->failed = true;
					snprintf(fl->reason, sizeof fl->reason, "the broker sent a bad frame");
					done = true;
					break;
				}
				off += used;
				if (rc == 0)
					break;
				if (m.type == DOB_MSG_PONG)
					fl->pongs++;
				if (m.type == DOB_MSG_PROTOCOL_ERROR) {
					int64_t ms = hp_now_ms() - t0;

					if (m.u.protocol_error.code == DOB_PERR_RATE_LIMITED)
						__atomic_add_fetch(&fl->cut, 1, __ATOMIC_RELAXED);
					else
						fl->failed = true;
					fl->last = m.u.protocol_error.code;
					if (ms > fl->ms_max)
						fl->ms_max = ms;
					snprintf(fl->reason, sizeof fl->reason, "%s",
						 m.u.protocol_error.message ? m.u.protocol_error.message
									    : "");
					done = true;
				}
				dob_msg_clear(&m);
			}
			continue;
		}
		if (p.revents & POLLOUT) {
			ssize_t n = send(r->fd, frame + sent, flen - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				/* The broker cut us between poll and send: its reason
				 * is waiting to be read (the race that made this test
				 * fail now and then). */
				peer_gone = true;
				continue;
			}
			if (n < 0) {
				snprintf(fl->reason, sizeof fl->reason, "send: %s", strerror(errno));
				fl->failed = true;
				break;
			}
			sent += (size_t)n;
			if (sent == flen) {
				sent = 0;
				fl->frames_sent++;
			}
		}
	}
	hr_close(r);
}

/* Floods, and comes back each time it is cut, until told to stop. */
static void *flood_main(void *arg)
{
	struct flood *fl = arg;
	struct hr_conn *r = malloc(sizeof *r);

	while (r && !fl->stop && !fl->failed)
		flood_once(fl, r);
	free(r);
	return NULL;
}

struct counter {
	struct dobc *c;
	volatile bool stop;
	pthread_t t;
	pthread_mutex_t mu;   /* protects errors and over */
	pthread_cond_t cv;    /* signalled when either changes */
	int errors;
	bool over;            /* the thread has ended */
};

static void *count_main(void *arg)
{
	struct counter *k = arg;
	struct dob_msg m = {0};

	while (!k->stop) {
		int rc = dobc_next_event(k->c, &m, 100);

		if (rc == -DOB_ETIMEDOUT)
			continue;
		if (rc < 0)
			break;
		if (m.type == DOB_MSG_JOB_ERROR) {
			pthread_mutex_lock(&k->mu);
			k->errors++;
			pthread_cond_broadcast(&k->cv);
			pthread_mutex_unlock(&k->mu);
		}
		dob_msg_clear(&m);
	}
	pthread_mutex_lock(&k->mu);
	k->over = true;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Waits until the counter has seen want errors, or its thread ended, or
 * timeout_ms (a bound that only catches a hang). Returns the count. */
static int counter_wait(struct counter *k, int want, int timeout_ms)
{
	struct timespec until;
	int n;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&k->mu);
	while (k->errors < want && !k->over &&
	       pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0)
		;
	n = k->errors;
	pthread_mutex_unlock(&k->mu);
	return n;
}

Test(limits, max_size_frame_flood_is_rate_limited_while_others_keep_their_service)
{
	/* The flood lasts until every flooder was cut CUTS times (not for a
	 * fixed time); HANG_MS only catches a broker that never cuts. */
	enum { FLOODERS = 2, CUTS = 2, HANG_MS = 120000 };
	struct flood fl[FLOODERS] = {0};
	struct counter good = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	char path[HB_PATH + 32];
	int submitted = 0, pings = 0;
	int64_t rtt_max_us = 0;

	/* The shipped rate limit (2000 frames/s, burst 4000) and frame limit. */
	hb_init(&B, FAIL_RULE, "--max-jobs=100000", NULL);
	hb_start(&B);
	good.c = hc_connect(B.sock, "good", DOB_ROLE_OBSERVER, NULL);
	struct dob_filter none = {.kind_mask = 1u << DOB_EVENT_RESOLUTION};
	struct dobc *pinger = hc_connect(B.sock, "pinger", DOB_ROLE_CONTROLLER, &none);

	cr_assert(pthread_create(&good.t, NULL, count_main, &good) == 0);

	struct dob_msg hello = {.type = DOB_MSG_HELLO};
	uint8_t *hbuf = NULL, *frame;
	size_t hlen = 0, flen;

	hello.u.hello.min_version = hello.u.hello.max_version = 1;
	hello.u.hello.client_name = "flood";
	hello.u.hello.role = DOB_ROLE_OBSERVER;
	cr_assert_eq(dob_encode(&hello, DOB_MAX_FRAME_DEFAULT, &hbuf, &hlen, NULL), 0);
	frame = max_size_ping(dobc_welcome(pinger)->limits.max_frame_bytes, &flen);
	for (int i = 0; i < FLOODERS; i++) {
		fl[i].sock = B.sock;
		fl[i].frame = frame;
		fl[i].flen = flen;
		fl[i].hello = hbuf;
		fl[i].hello_len = hlen;
		cr_assert(pthread_create(&fl[i].t, NULL, flood_main, &fl[i]) == 0);
	}

	/* While they flood (and reconnect each time they are cut): a ping
	 * every 20 ms (paced to stay far below the pinger's own rate limit)
	 * and a failing job every 5th ping, until each flooder was cut CUTS
	 * times. Every ping must be answered; the longest round trip is
	 * reported, not bounded (a loaded machine decides it, not the broker). */
	int64_t t0 = hp_now_ms();
	unsigned least = 0;

	file_path(path, sizeof path, "during-flood");
	while (least < CUTS) {
		int64_t rtt = 0;

		cr_assert(hp_now_ms() - t0 < HANG_MS, "the flooders were not cut %d times in %d ms",
			  CUTS, HANG_MS);
		cr_assert_eq(dobc_ping(pinger, &rtt, 30000), 0, "ping during the flood: %s",
			     dobc_last_error(pinger)->message);
		pings++;
		if (rtt > rtt_max_us)
			rtt_max_us = rtt;
		if (pings % 5 == 0) {
			hc_submit(pinger, "during-flood", "http://h/missing/f", path, NULL);
			submitted++;
		}
		least = CUTS;
		for (int i = 0; i < FLOODERS; i++) {
			unsigned cut = __atomic_load_n(&fl[i].cut, __ATOMIC_RELAXED);

			if (cut < least)
				least = cut;
			cr_assert(!fl[i].failed || cut >= CUTS, "a flood ended otherwise: %s (%s):\n%s",
				  dob_perr_name(fl[i].last), fl[i].reason, hb_log_tail(&B));
		}
		usleep(20000); /* pacing, not a barrier */
	}
	int64_t flood_ms = hp_now_ms() - t0;

	for (int i = 0; i < FLOODERS; i++) {
		fl[i].stop = true;
		pthread_join(fl[i].t, NULL);
	}

	unsigned conns = 0, cut = 0;
	uint64_t frames = 0;
	int64_t ms_max = 0;

	for (int i = 0; i < FLOODERS; i++) {
		cr_assert(!fl[i].failed, "a flood ended otherwise: %s (%s):\n%s",
			  dob_perr_name(fl[i].last), fl[i].reason, hb_log_tail(&B));
		cr_assert_eq(fl[i].cut, fl[i].conns, "%u of %u flood connections were cut (%s)",
			     fl[i].cut, fl[i].conns, fl[i].reason);
		cr_assert(strstr(fl[i].reason, "frames per second"), "reason: %s", fl[i].reason);
		conns += fl[i].conns;
		cut += fl[i].cut;
		frames += fl[i].frames_sent;
		if (fl[i].ms_max > ms_max)
			ms_max = fl[i].ms_max;
	}
	free(frame);
	dob_free(hbuf);
	/* A flooder's first connection spent the burst (4000 frames) before its
	 * cut; its reconnects got no new burst (issue 9 item 8: the bucket is
	 * handed on within the identity), only what the rate refilled. */
	cr_assert(frames >= 4000ull, "%llu frames over %u cuts", (unsigned long long)frames, cut);
	cr_assert(cut <= 2 * FLOODERS || frames < 4000ull * cut / 2,
		  "%llu frames over %u cuts: reconnects were given a new burst",
		  (unsigned long long)frames, cut);

	/* One more job after the flood; the good subscriber saw every error. */
	hc_submit(pinger, "after-flood", "http://h/missing/f", path, NULL);
	submitted++;
	int got = counter_wait(&good, submitted, 60000);

	good.stop = true;
	pthread_join(good.t, NULL);
	cr_assert_eq(got, submitted, "the good subscriber got %d of %d errors", got, submitted);
	cr_assert_eq(good.errors, submitted, "the good subscriber got %d of %d errors", good.errors,
		     submitted);

	/* Every flood connection was cut: the broker reaps them (it may still
	 * be finishing a cut connection's last write when the flooder stops). */
	hc_wait_subscribers(pinger, 1); /* "good": the asking client is not counted */
	fprintf(stderr,
		"flood: %d flooders for %lld ms: %u connections cut RATE_LIMITED after %llu frames "
		"of %u bytes (%.1f MiB; a cut within %lld ms of the first frame); meanwhile %d "
		"pings (max %.1f ms), %d/%d errors delivered\n",
		FLOODERS, (long long)flood_ms, cut, (unsigned long long)frames, DOB_MAX_FRAME_DEFAULT,
		(double)frames * DOB_MAX_FRAME_DEFAULT / 1048576.0, (long long)ms_max, pings,
		(double)rtt_max_us / 1000.0, good.errors, submitted);
	dobc_close(pinger);
	dobc_close(good.c);
}

/* ---------------------------------------------------------------- cycles */

/* One connection that ends one of four ways. */
static void cycle(int kind)
{
	struct hr_conn r;
	struct dob_msg m = {0};

	switch (kind) {
	case 0: { /* full handshake with libdobclient, then close */
		struct dobc *c = hc_connect(B.sock, "cycle", DOB_ROLE_OBSERVER, NULL);

		dobc_close(c);
		return;
	}
	case 1: /* connect and hang up at once */
		hr_open(&r, B.sock);
		break;
	case 2: /* Hello, then hang up without reading the Welcome */
		hr_open(&r, B.sock);
		hr_hello(&r, "cycle", DOB_ROLE_CONTROLLER);
		break;
	default: /* Hello, Welcome, then a frame cut in the middle */
		hr_open(&r, B.sock);
		hr_hello(&r, "cycle", DOB_ROLE_OBSERVER);
		cr_assert_eq(hr_until(&r, DOB_MSG_WELCOME, &m, 30000), 0);
		dob_msg_clear(&m);
		hr_send(&r, "\x40\x00\x00\x00\x0a\x01", 6);
		break;
	}
	hr_close(&r);
}

Test(limits, ten_thousand_connect_disconnect_cycles_leak_no_fd_or_memory)
{
	enum { WARMUP = 1000, CYCLES = 10000 };

	/* The info log would grow by a line per session: keep it to warnings. */
	hb_init(&B, NULL, "--log-level=warn", NULL);
	hb_start(&B);
	struct dobc *mon = hc_connect(B.sock, "monitor", DOB_ROLE_OBSERVER, NULL);

	for (int i = 0; i < WARMUP; i++)
		cycle(i % 4);
	hc_wait_subscribers(mon, 0); /* the monitor asks: not counted */
	int fds0 = hp_fd_count(B.pid);
	long rss0 = hp_rss_kb(B.pid);
	int64_t t0 = hp_now_ms();

	cr_assert(fds0 > 0 && rss0 > 0);
	for (int i = 0; i < CYCLES; i++)
		cycle(i % 4);
	int64_t took = hp_now_ms() - t0;

	hc_wait_subscribers(mon, 0); /* the monitor asks: not counted */
	int fds1 = hp_fd_count(B.pid);
	long rss1 = hp_rss_kb(B.pid);

	fprintf(stderr,
		"cycles: %d connect/disconnect cycles in %lld ms; broker fds %d -> %d, "
		"RSS %ld -> %ld KiB\n",
		CYCLES, (long long)took, fds0, fds1, rss0, rss1);
	cr_assert_eq(fds1, fds0, "the broker holds %d fds after %d cycles, %d before", fds1,
		     CYCLES, fds0);
	/* A leak of even 64 bytes a cycle would show as 625 KiB. Not under
	 * ASan or valgrind (make valgrind sets DOB_IT_VALGRIND), which hold
	 * freed blocks back (about 10 KiB a cycle): there LeakSanitizer or
	 * memcheck checks the broker at its clean stop (hb_stop). */
#ifndef __SANITIZE_ADDRESS__
	if (!getenv("DOB_IT_VALGRIND"))
		cr_assert(rss1 - rss0 < 512, "RSS grew by %ld KiB over %d cycles", rss1 - rss0,
			  CYCLES);
#endif

	/* And the broker still serves. */
	int64_t rtt = 0;

	cr_assert_eq(dobc_ping(mon, &rtt, 30000), 0);
	dobc_close(mon);
	cr_assert_eq(hb_stop(&B), 0, "unclean stop:\n%s", hb_log_tail(&B));
}

/* ---------------------------------------------------------------- identities */

Test(limits, many_connections_from_one_identity_hit_its_limit_not_the_others)
{
	enum { LIMIT = 8 };
	struct dobc *a[LIMIT + 1] = {0}, *extra = NULL, *b = NULL;
	struct dobc_error e = {0};

	hb_init(&B, NULL, "--max-conns=8", "--handshake-timeout-ms=1000", NULL);
	int A = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000");
	int Bid = hb_add_identity(&B, "uid:1001,sid:S-1-5-21-7-1001");

	hb_start(&B);
	for (int i = 0; i < LIMIT; i++)
		a[i] = hc_connect(B.listener_sock[A], "a", DOB_ROLE_OBSERVER, NULL);

	/* Refused each time, and told why: the broker may close before the
	 * client has written its Hello, the ProtocolError is read all the same
	 * (the library once reported only "connection closed"). */
	int err = 0;

	for (int i = 0; i < 20; i++) {
		err = hc_try_connect(B.listener_sock[A], "a-extra", DOB_ROLE_OBSERVER, NULL, &extra,
				     &e);
		cr_assert_eq(err, -DOB_EPROTO, "connection %d of one identity (try %d): %s (%s)",
			     LIMIT + 1, i + 1, dobc_strerror(err), e.message);
		cr_assert_eq(e.perr, DOB_PERR_TOO_MANY_CONNECTIONS, "%s: %s",
			     dob_perr_name(e.perr), e.message);
		cr_assert(strstr(e.message, "S-1-5-21-7-1000") && strstr(e.message, "limit 8"),
			  "the reason names neither identity nor limit: %s", e.message);
	}

	/* Connections that never say Hello count too, until their timeout.
	 * The privileged main socket (another identity) watches the count:
	 * LIMIT of A's (GetStats does not count the client asking). */
	struct hr_conn silent;
	struct dob_msg m = {0};
	struct dobc *root = hc_connect(B.sock, "root", DOB_ROLE_OBSERVER, NULL);

	hc_wait_subscribers(root, LIMIT);
	dobc_close(a[LIMIT - 1]);
	a[LIMIT - 1] = NULL;
	/* The broker has reaped the closed one: A has LIMIT - 1 connections. */
	hc_wait_subscribers(root, LIMIT - 1);
	/* The silent one takes the free place. The broker accepts in the
	 * order of connect(), so it is counted before the next one comes. */
	hr_open(&silent, B.listener_sock[A]);
	err = hc_try_connect(B.listener_sock[A], "a-extra", DOB_ROLE_OBSERVER, NULL, &extra, &e);
	cr_assert_eq(err, -DOB_EPROTO, "a silent connection was not counted: %s",
		     dobc_strerror(err));
	cr_assert_eq(e.perr, DOB_PERR_TOO_MANY_CONNECTIONS);
	cr_assert_eq(hr_until(&silent, DOB_MSG_PROTOCOL_ERROR, &m, 30000), 0);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_HANDSHAKE_TIMEOUT);
	dob_msg_clear(&m);
	hr_close(&silent);

	/* Another identity, and the privileged main socket, are unaffected. */
	b = hc_connect(B.listener_sock[Bid], "b", DOB_ROLE_OBSERVER, NULL);
	struct dob_stats st = hc_stats(root);

	dobc_stats_clear(&st);

	/* The identity gets its place back once a connection ends: the
	 * silent one was closed when its ProtocolError was sent, so the next
	 * connection is welcome at once. */
	err = hc_try_connect(B.listener_sock[A], "a-again", DOB_ROLE_OBSERVER, NULL, &a[LIMIT - 1],
			     &e);
	cr_assert_eq(err, 0, "the freed place was not given back: %s", e.message);
	for (int i = 0; i < LIMIT; i++)
		dobc_close(a[i]);
	dobc_close(b);
	dobc_close(root);
}

/* ---------------------------------------------------------------- in flight */

struct reply {
	uint64_t corr;
	enum dob_msg_type type;
	enum dob_status status;
	struct dob_guid job;
	char message[256];
	int64_t at_ms;
	int order;              /* 0 for the first reply collected, 1, ... */
};

/* Reads frames until every correlation id in want[] has its reply (events
 * are counted in *errors when given). */
static void collect(struct hr_conn *r, const uint64_t *want, size_t n, struct reply *out,
		    int timeout_ms, int *errors, int64_t t0)
{
	size_t got = 0;
	int64_t end = hp_now_ms() + timeout_ms;
	int order = 0;

	memset(out, 0, n * sizeof *out);
	while (got < n) {
		struct dob_msg m = {0};
		int64_t left = end - hp_now_ms();

		cr_assert(left > 0, "only %zu of %zu replies:\n%s", got, n, hb_log_tail(&B));
		int rc = hr_next(r, &m, (int)left);

		cr_assert_eq(rc, 0, "reading replies: %s", dob_strerror(rc));
		if (m.type == DOB_MSG_JOB_ERROR && errors)
			(*errors)++;
		for (size_t i = 0; i < n; i++) {
			if (m.correlation_id != want[i] || out[i].corr)
				continue;
			out[i].corr = m.correlation_id;
			out[i].type = m.type;
			out[i].at_ms = hp_now_ms() - t0;
			out[i].order = order++;
			if (m.type == DOB_MSG_JOB_REPLY) {
				out[i].status = m.u.job_reply.status;
				if (m.u.job_reply.has_job)
					out[i].job = m.u.job_reply.job.job.job_id;
				snprintf(out[i].message, sizeof out[i].message, "%s",
					 m.u.job_reply.message ? m.u.job_reply.message : "");
			} else if (m.type == DOB_MSG_ACTION_RESULT) {
				out[i].status = m.u.action_result.status;
				snprintf(out[i].message, sizeof out[i].message, "%s",
					 m.u.action_result.message ? m.u.action_result.message : "");
			}
			got++;
		}
		dob_msg_clear(&m);
	}
}

/* Frames are gathered and sent in one write, so the broker reads them in
 * one go: what it answers at once then comes before what it answers
 * later, whatever the machine's load. */
static uint8_t batch_buf[4096];
static size_t batch_len;

static void emit(struct hr_conn *r, const struct dob_msg *m)
{
	uint8_t *f = NULL;
	size_t n = 0;

	(void)r;
	cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_DEFAULT, &f, &n, NULL), 0);
	cr_assert(batch_len + n <= sizeof batch_buf);
	memcpy(batch_buf + batch_len, f, n);
	batch_len += n;
	dob_free(f);
}

static void flush_batch(struct hr_conn *r)
{
	hr_send(r, batch_buf, batch_len);
	batch_len = 0;
}

static void send_submit(struct hr_conn *r, uint64_t corr, const char *name)
{
	char path[HB_PATH + 32];
	struct dob_file_spec f = {.remote_url = "http://h/missing/i", .local_path = path};
	struct dob_msg m = {.type = DOB_MSG_SUBMIT_JOB, .correlation_id = corr};

	file_path(path, sizeof path, name);
	m.u.submit_job.display_name = (char *)name;
	m.u.submit_job.n_files = 1;
	m.u.submit_job.files = &f;
	m.u.submit_job.priority = DOB_PRIORITY_NORMAL;
	emit(r, &m);
}

static void send_act(struct hr_conn *r, uint64_t corr, const struct dob_guid *job,
		     enum dob_action a)
{
	struct dob_msg m = {.type = DOB_MSG_ACT, .correlation_id = corr};

	m.u.act.job_id = *job;
	m.u.act.action = a;
	emit(r, &m);
}

static void send_ping(struct hr_conn *r, uint64_t corr)
{
	struct dob_msg m = {.type = DOB_MSG_PING, .correlation_id = corr};

	m.u.ping.nonce = corr;
	emit(r, &m);
}

Test(limits, requests_above_max_inflight_get_limit_exceeded_at_once)
{
	struct hr_conn *r = calloc(1, sizeof *r);
	struct dob_msg m = {0};
	struct reply rep[4];
	int errors = 0;

	hb_init(&B,
		FAIL_RULE "fault submit * delay=600ms\n"
			  "fault suspend * hang\n",
		"--max-inflight=2", "--action-timeout-ms=1500", NULL);
	hb_start(&B);
	hr_open(r, B.sock);
	hr_hello(r, "pipeliner", DOB_ROLE_CONTROLLER);
	cr_assert_eq(hr_until(r, DOB_MSG_WELCOME, &m, 30000), 0);
	cr_assert_eq(m.u.welcome.limits.max_inflight_requests, 2);
	dob_msg_clear(&m);

	/* Three submits and a ping in one write: the third submit is over the
	 * limit and answered at once, and the ping is not a backend request:
	 * both replies come before those of the two submits the backend
	 * delays (600 ms). Order, not a time bound, says "at once". */
	int64_t t0 = hp_now_ms();
	uint64_t want[4] = {1, 2, 3, 4};

	send_submit(r, 1, "i1");
	send_submit(r, 2, "i2");
	send_submit(r, 3, "i3");
	send_ping(r, 4);
	flush_batch(r);
	collect(r, want, 4, rep, 30000, &errors, t0);
	cr_assert_eq(rep[2].status, DOB_STATUS_LIMIT_EXCEEDED, "third submit: %s %s",
		     dob_status_name(rep[2].status), rep[2].message);
	cr_assert(strstr(rep[2].message, "limit 2"), "%s", rep[2].message);
	cr_assert_eq(rep[3].type, DOB_MSG_PONG);
	for (int i = 0; i < 2; i++) {
		cr_assert(rep[2].order < rep[i].order, "LIMIT_EXCEEDED came after submit %d's reply",
			  i + 1);
		cr_assert(rep[3].order < rep[i].order, "Pong came after submit %d's reply", i + 1);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(rep[i].status, DOB_STATUS_OK, "submit %d: %s %s", i + 1,
			     dob_status_name(rep[i].status), rep[i].message);
		cr_assert(rep[i].at_ms >= 550, "submit %d answered in %lld ms despite the delay",
			  i + 1, (long long)rep[i].at_ms);
	}

	/* Slots free again: a third job. */
	uint64_t want3[1] = {5};
	struct reply third;

	send_submit(r, 5, "i3");
	flush_batch(r);
	collect(r, want3, 1, &third, 30000, &errors, t0);
	cr_assert_eq(third.status, DOB_STATUS_OK, "%s", third.message);

	/* Acts in one write: two suspends hang (two slots), the third is
	 * refused at once, before the hanging ones end in TIMEOUT. */
	struct dob_guid jobs[3] = {rep[0].job, rep[1].job, third.job};
	uint64_t want4[3] = {6, 7, 8};
	struct reply acts[3];

	while (errors < 3) {
		cr_assert_eq(hr_until(r, DOB_MSG_JOB_ERROR, &m, 30000), 0, "only %d errors", errors);
		dob_msg_clear(&m);
		errors++;
	}
	t0 = hp_now_ms();
	for (int i = 0; i < 3; i++)
		send_act(r, 6 + (uint64_t)i, &jobs[i], DOB_ACTION_SUSPEND);
	flush_batch(r);
	collect(r, want4, 3, acts, 30000, NULL, t0);
	cr_assert_eq(acts[2].status, DOB_STATUS_LIMIT_EXCEEDED, "third act: %s %s",
		     dob_status_name(acts[2].status), acts[2].message);
	for (int i = 0; i < 2; i++) {
		cr_assert(acts[2].order < acts[i].order, "LIMIT_EXCEEDED came after act %d's reply",
			  i + 1);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(acts[i].status, DOB_STATUS_TIMEOUT, "act %d: %s %s", i + 1,
			     dob_status_name(acts[i].status), acts[i].message);
		cr_assert(acts[i].at_ms >= 1400, "act %d timed out after %lld ms", i + 1,
			  (long long)acts[i].at_ms);
	}

	/* After the timeouts the slots are free: the third episode is resolved. */
	uint64_t want5[1] = {9};
	struct reply last;

	send_act(r, 9, &jobs[2], DOB_ACTION_RESUME);
	flush_batch(r);
	collect(r, want5, 1, &last, 30000, NULL, t0);
	cr_assert_eq(last.status, DOB_STATUS_OK, "%s %s", dob_status_name(last.status), last.message);
	hr_close(r);
	free(r);
}

/* ---------------------------------------------------------------- jobs */

#define PRE_JOB "{6B29FC40-CA47-1067-B31D-00DD010662DA}"

Test(limits, jobs_above_max_jobs_are_refused_for_that_identity_only)
{
	char path[HB_PATH + 32], msg[256];
	struct dob_job_reply jr = {0};
	struct dob_guid ids[3], pre;

	hb_init(&B,
		"modifications off\ndefault ok after=10s\n"
		"job " PRE_JOB " name=pre owner=S-1-5-21-7-1000 state=suspended\n",
		"--max-jobs=3", NULL);
	int A = hb_add_identity(&B, "uid:1000,sid:S-1-5-21-7-1000");
	int Bid = hb_add_identity(&B, "uid:1001,sid:S-1-5-21-7-1001");

	hb_start(&B);
	struct dobc *a = hc_connect(B.listener_sock[A], "a", DOB_ROLE_CONTROLLER, NULL);
	struct dobc *b = hc_connect(B.listener_sock[Bid], "b", DOB_ROLE_CONTROLLER, NULL);

	cr_assert_eq(dobc_welcome(a)->limits.max_jobs, 3);
	for (int i = 0; i < 3; i++) {
		file_path(path, sizeof path, "a");
		ids[i] = hc_submit(a, "a", "http://h/a", path, NULL);
	}
	cr_assert_eq(hc_submit_status(a, "a4", "http://h/a", path, msg, sizeof msg),
		     DOB_STATUS_LIMIT_EXCEEDED, "%s", msg);
	cr_assert(strstr(msg, "3 jobs") && strstr(msg, "limit 3"), "%s", msg);

	/* Adopting counts as well. */
	cr_assert_eq(dob_guid_parse(PRE_JOB, &pre), 0);
	int err = dobc_adopt(a, &pre, NULL, &jr, 30000);

	cr_assert(err == -DOB_EREMOTE && jr.status == DOB_STATUS_LIMIT_EXCEEDED, "adopt: %s %s",
		  dob_status_name(jr.status), jr.message ? jr.message : "");
	dobc_job_reply_clear(&jr);

	/* Another identity has its own count. */
	file_path(path, sizeof path, "b");
	for (int i = 0; i < 3; i++)
		hc_submit(b, "b", "http://h/b", path, NULL);
	cr_assert_eq(hc_submit_status(b, "b4", "http://h/b", path, msg, sizeof msg),
		     DOB_STATUS_LIMIT_EXCEEDED, "%s", msg);

	/* A job that ends gives its place back. */
	struct dob_action_result ar = {0};

	cr_assert_eq(dobc_act(a, &ids[0], 0, DOB_ACTION_CANCEL, 0, &ar, 30000), 0, "cancel: %s",
		     ar.message ? ar.message : "");
	dobc_action_result_clear(&ar);
	cr_assert_eq(dobc_adopt(a, &pre, NULL, &jr, 30000), 0, "adopt after a cancel: %s",
		     jr.message ? jr.message : "");
	dobc_job_reply_clear(&jr);
	dobc_close(a);
	dobc_close(b);
}
