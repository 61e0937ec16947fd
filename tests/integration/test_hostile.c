/*
 * Bad input and slow peers over raw sockets: each malformed input gets its
 * ProtocolError (code and reason) and a closed connection, while an
 * established subscriber keeps being served. A subscriber that never reads
 * gets a Gap (or is cut off past the hard limit) and never delays the others.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "harness.h"
#include "wire.h"

static struct hb_broker B;

static void fini(void)
{
	hb_cleanup(&B);
}

TestSuite(hostile, .fini = fini, .timeout = 90);

static int raw_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert(strlen(path) < sizeof a.sun_path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void raw_send_msg(int fd, const struct dob_msg *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_DEFAULT, &buf, &len, NULL), 0);
	raw_send(fd, buf, len);
	dob_free(buf);
}

static void raw_hello(int fd)
{
	struct dob_msg m = {.type = DOB_MSG_HELLO};

	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = "raw";
	m.u.hello.role = DOB_ROLE_CONTROLLER;
	raw_send_msg(fd, &m);
}

/* Reads frames until one of type t arrives (others skipped), or the peer
 * closes / the time is up. Returns 0 and fills *out, or an error. */
static int raw_read_until(int fd, enum dob_msg_type t, struct dob_msg *out, int timeout_ms)
{
	struct dob_decoder d;
	uint8_t buf[8192];
	int ret = -DOB_ETIMEDOUT;

	dob_decoder_init(&d, 1u << 20);
	for (int waited = 0; waited < timeout_ms;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 50) <= 0) {
			waited += 50;
			continue;
		}
		ssize_t n = recv(fd, buf, sizeof buf, 0);

		if (n <= 0) {
			ret = -DOB_ECLOSED;
			break;
		}
		size_t off = 0;

		while (off < (size_t)n) {
			size_t used = 0;
			struct dob_msg m = {0};
			int r = dob_decoder_feed(&d, buf + off, (size_t)n - off, &used, &m, NULL);

			cr_assert(r >= 0, "broker sent a bad frame");
			off += used;
			if (r == 0)
				break;
			if (m.type == t) {
				*out = m;
				dob_decoder_free(&d);
				return 0;
			}
			dob_msg_clear(&m);
		}
	}
	dob_decoder_free(&d);
	return ret;
}

/* True when the broker closed the connection (EOF within timeout). */
static bool closed_by_broker(int fd, int timeout_ms)
{
	uint8_t buf[4096];

	for (int waited = 0; waited < timeout_ms; waited += 50) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

struct bad_case {
	const char *what;
	bool hello_first;
	uint8_t bytes[64];
	size_t n;
	enum dob_perr want;
	const char *reason; /* substring of the ProtocolError message */
};

static void expect_protocol_error(const struct bad_case *bc, int fd)
{
	struct dob_msg m = {0};

	cr_assert_eq(raw_read_until(fd, DOB_MSG_PROTOCOL_ERROR, &m, 3000), 0,
		     "%s: no ProtocolError:\n%s", bc->what, hb_log_tail(&B));
	cr_assert_eq(m.u.protocol_error.code, bc->want, "%s: code %s, want %s (%s)", bc->what,
		     dob_perr_name(m.u.protocol_error.code), dob_perr_name(bc->want),
		     m.u.protocol_error.message);
	if (bc->reason)
		cr_assert(m.u.protocol_error.message && strstr(m.u.protocol_error.message, bc->reason),
			  "%s: reason '%s' lacks '%s'", bc->what, m.u.protocol_error.message,
			  bc->reason);
	dob_msg_clear(&m);
	cr_assert(closed_by_broker(fd, 2000), "%s: connection left open", bc->what);
}

Test(hostile, malformed_frames_get_their_error_and_others_keep_working)
{
	static const struct bad_case cases[] = {
		{"zero length", false, {0, 0, 0, 0}, 4, DOB_PERR_FRAME_EMPTY, NULL},
		{"4 GiB length", false, {0xff, 0xff, 0xff, 0xff}, 4, DOB_PERR_FRAME_TOO_LARGE, NULL},
		{"70000-byte length", false, {0x70, 0x11, 0x01, 0x00}, 4, DOB_PERR_FRAME_TOO_LARGE,
		 "65536"},
		{"garbage body", false, {5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff}, 9,
		 DOB_PERR_MALFORMED, NULL},
		{"empty envelope", false, {2, 0, 0, 0, 0x08, 0x01}, 6, DOB_PERR_INVALID_FIELD, "no body"},
		/* Ping (field 29) with correlation id 1 before Hello. */
		{"request before Hello", false, {5, 0, 0, 0, 0x08, 0x01, 0xea, 0x01, 0x00}, 9,
		 DOB_PERR_UNEXPECTED_MESSAGE, NULL},
		/* After Hello: an Envelope carrying a Gap (field 14), an event. */
		{"event from a client", true, {2, 0, 0, 0, 0x72, 0x00}, 6,
		 DOB_PERR_UNEXPECTED_MESSAGE, NULL},
		/* Hello again. */
		{"second Hello", true, {0}, 0, DOB_PERR_UNEXPECTED_MESSAGE, NULL},
	};
	struct dob_msg m = {0};

	hb_init(&B, "rule \"*/missing/*\" error http=404 after=20ms\nrepeat off\n", NULL);
	hb_start(&B);
	struct dobc *good = hc_connect(B.sock, "good", DOB_ROLE_OBSERVER, NULL);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bad_case *bc = &cases[i];
		int fd = raw_connect(B.sock);

		if (bc->hello_first) {
			raw_hello(fd);
			cr_assert_eq(raw_read_until(fd, DOB_MSG_WELCOME, &m, 3000), 0);
			dob_msg_clear(&m);
		}
		if (bc->n)
			raw_send(fd, bc->bytes, bc->n);
		else
			raw_hello(fd);
		expect_protocol_error(bc, fd);
		close(fd);
	}

	/* Crafted with the wire helpers: a 15-byte GUID and an unknown action. */
	struct {
		const char *what;
		size_t guid_len;
		uint64_t action;
		const char *reason;
	} fields[] = {{"15-byte job id", 15, DOB_ACTION_CANCEL, "15"},
		      {"17-byte job id", 17, DOB_ACTION_CANCEL, "17"},
		      {"action 99", 16, 99, "action"}};

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		struct wire act = {0}, env = {0}, frame = {0};
		struct bad_case bc = {fields[i].what, true, {0}, 0, DOB_PERR_INVALID_FIELD,
				      fields[i].reason};
		int fd = raw_connect(B.sock);

		raw_hello(fd);
		cr_assert_eq(raw_read_until(fd, DOB_MSG_WELCOME, &m, 3000), 0);
		dob_msg_clear(&m);
		wire_act(&act, fields[i].guid_len, fields[i].action);
		wire_envelope(&env, 7, DOB_MSG_ACT, &act);
		wire_frame(&frame, &env);
		raw_send(fd, frame.b, frame.n);
		expect_protocol_error(&bc, fd);
		close(fd);
	}

	/* A client whose Hello names itself in invalid UTF-8. */
	{
		struct wire hello = {0}, env = {0}, frame = {0};
		struct bad_case bc = {"invalid UTF-8 name", false, {0}, 0, DOB_PERR_INVALID_FIELD,
				      "UTF-8"};
		int fd = raw_connect(B.sock);

		wire_hello(&hello, "\xc3\x28", 2);
		wire_envelope(&env, 0, DOB_MSG_HELLO, &hello);
		wire_frame(&frame, &env);
		raw_send(fd, frame.b, frame.n);
		expect_protocol_error(&bc, fd);
		close(fd);
	}

	/* A peer that hangs up mid-frame: nothing to answer, the broker goes on. */
	{
		int fd = raw_connect(B.sock);

		raw_send(fd, "\x40\x00\x00\x00\x0a\x01", 6);
		close(fd);
	}

	/* The good subscriber was never disturbed: it gets the next error. */
	struct dobc *sub = hc_connect(B.sock, "submitter", DOB_ROLE_OBSERVER, NULL);
	char path[HB_PATH + 16];

	snprintf(path, sizeof path, "%s/x.bin", B.files);
	hc_submit(sub, "after-the-storm", "http://h/missing/x", path, NULL);
	cr_assert_eq(hc_wait(good, DOB_MSG_JOB_ERROR, &m, 5000), 0);
	cr_assert_str_eq(m.u.job_error.job.display_name, "after-the-storm");
	dob_msg_clear(&m);
	dobc_close(sub);
	dobc_close(good);
}

Test(hostile, silent_client_is_dropped_at_the_handshake_timeout)
{
	struct dob_msg m = {0};

	hb_init(&B, NULL, "--handshake-timeout-ms=300", NULL);
	hb_start(&B);
	int fd = raw_connect(B.sock);

	cr_assert_eq(raw_read_until(fd, DOB_MSG_PROTOCOL_ERROR, &m, 3000), 0);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_HANDSHAKE_TIMEOUT);
	dob_msg_clear(&m);
	cr_assert(closed_by_broker(fd, 2000));
	close(fd);
}

Test(hostile, unsupported_version_is_refused)
{
	struct dob_msg m = {.type = DOB_MSG_HELLO};

	hb_init(&B, NULL, NULL);
	hb_start(&B);
	int fd = raw_connect(B.sock);

	m.u.hello.min_version = 7;
	m.u.hello.max_version = 9;
	m.u.hello.client_name = "future";
	m.u.hello.role = DOB_ROLE_OBSERVER;
	raw_send_msg(fd, &m);
	memset(&m, 0, sizeof m);
	cr_assert_eq(raw_read_until(fd, DOB_MSG_PROTOCOL_ERROR, &m, 3000), 0);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_UNSUPPORTED_VERSION);
	dob_msg_clear(&m);
	close(fd);
}

/* A subscriber that reads as fast as it can, on its own thread. */
struct reader {
	struct dobc *c;
	int want_transferred;
	int want_errors; /* stop after this many errors, when set */
	int transferred;
	int errors;
	pthread_t thread;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct dob_msg m = {0};

	while (r->want_errors ? r->errors < r->want_errors
			      : r->transferred < r->want_transferred) {
		if (dobc_next_event(r->c, &m, 8000) < 0)
			break;
		if (m.type == DOB_MSG_JOB_TRANSFERRED)
			r->transferred++;
		else if (m.type == DOB_MSG_JOB_ERROR)
			r->errors++;
		dob_msg_clear(&m);
	}
	/* Late errors after the last transfer. */
	if (!r->want_errors)
		r->errors += hc_count(r->c, DOB_MSG_JOB_ERROR, 1000, NULL);
	return NULL;
}

static void reader_start(struct reader *r, struct dobc *c, int want_transferred, int want_errors)
{
	memset(r, 0, sizeof *r);
	r->c = c;
	r->want_transferred = want_transferred;
	r->want_errors = want_errors;
	cr_assert(pthread_create(&r->thread, NULL, reader_main, r) == 0);
}

/* Many non-error events while one subscriber never reads: it later finds a
 * Gap and every error; a fast subscriber gets every event and the backend
 * never waits. */
Test(hostile, slow_subscriber_gets_gap_and_every_error_others_unaffected)
{
	enum { JOBS = 700 };
	char path[HB_PATH + 16];
	struct dob_msg m = {0};

	hb_init(&B,
		"rule \"*/missing/*\" error http=404 after=300ms\n"
		"repeat off\ndefault ok after=30ms size=1K\n",
		"--queue-soft-limit=256", "--queue-hard-limit=1000000", "--rate-limit=0",
		"--max-jobs=100000", NULL);
	hb_start(&B);
	int slow = raw_connect(B.sock);
	int small = 4096;

	setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	raw_hello(slow);
	struct dobc *fast = hc_connect(B.sock, "fast", DOB_ROLE_OBSERVER, NULL);
	struct dobc *sub = hc_connect(B.sock, "submitter", DOB_ROLE_CONTROLLER, NULL);
	struct reader rd;
	struct dob_filter only_errors = {.kind_mask = 1u << DOB_EVENT_JOB_ERROR};

	/* The submitter wants no events: it is busy submitting. */
	dobc_close(sub);
	sub = hc_connect(B.sock, "submitter", DOB_ROLE_CONTROLLER, &only_errors);
	reader_start(&rd, fast, JOBS, 0);
	snprintf(path, sizeof path, "%s/y.bin", B.files);
	for (int i = 0; i < JOBS; i++)
		hc_submit(sub, "bulk", "http://h/ok/y", path, NULL);
	hc_submit(sub, "the-error", "http://h/missing/y", path, NULL);

	/* The fast subscriber sees all JOBS transfers and the error. */
	pthread_join(rd.thread, NULL);
	cr_assert_eq(rd.transferred, JOBS, "fast subscriber got %d of %d", rd.transferred, JOBS);
	cr_assert_eq(rd.errors, 1);

	/* Now the slow one reads what it was sent: until it has seen both the
	 * Gap (queued once its queue drains, so possibly after the error) and
	 * the error; then a Ping, whose Pong is queued behind anything still
	 * to come, shows that no second error (nor anything else unread)
	 * was on its way. The bound only catches a hang. */
	struct dob_decoder d;
	uint8_t buf[65536];
	uint64_t gaps = 0, dropped = 0, slow_errors = 0;
	bool pinged = false, ponged = false;
	int64_t end = hp_now_ms() + 60000;

	dob_decoder_init(&d, 1u << 20);
	while (!ponged) {
		struct pollfd p = {.fd = slow, .events = POLLIN};
		int64_t left = end - hp_now_ms();

		cr_assert(left > 0, "the slow subscriber saw %llu Gap(s) and %llu error(s) in 60 s",
			  (unsigned long long)gaps, (unsigned long long)slow_errors);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = recv(slow, buf, sizeof buf, 0);

		cr_assert(n > 0, "the slow subscriber was disconnected below the hard limit");
		for (size_t off = 0; off < (size_t)n;) {
			size_t used = 0;
			int r = dob_decoder_feed(&d, buf + off, (size_t)n - off, &used, &m, NULL);

			cr_assert(r >= 0);
			off += used;
			if (r == 0)
				break;
			if (m.type == DOB_MSG_GAP) {
				gaps++;
				dropped += m.u.gap.dropped;
			} else if (m.type == DOB_MSG_JOB_ERROR) {
				slow_errors++;
			} else if (m.type == DOB_MSG_PONG) {
				cr_assert(pinged && m.correlation_id == 77, "unexpected Pong");
				ponged = true;
			}
			dob_msg_clear(&m);
		}
		if (!pinged && gaps >= 1 && slow_errors >= 1) {
			struct dob_msg ping = {.type = DOB_MSG_PING, .correlation_id = 77};

			ping.u.ping.nonce = 77;
			raw_send_msg(slow, &ping);
			pinged = true;
		}
	}
	dob_decoder_free(&d);
	cr_assert(gaps >= 1, "no Gap for the slow subscriber");
	cr_assert(dropped > 0);
	cr_assert_eq(slow_errors, 1, "the error episode was dropped for the slow subscriber");

	struct dob_stats st = {0};

	cr_assert_eq(dobc_stats(sub, &st, 3000), 0);
	cr_assert(st.dropped >= dropped);
	dobc_stats_clear(&st);
	close(slow);
	dobc_close(sub);
	dobc_close(fast);
}

Test(hostile, never_reading_subscriber_is_cut_at_the_hard_limit)
{
	/* Error episodes are never dropped, so a subscriber that never reads
	 * while errors keep coming must be cut off at the hard limit. */
	enum { JOBS = 1500 };
	char path[HB_PATH + 16];

	hb_init(&B, "repeat off\ndefault error http=404 after=20ms size=1K\n",
		"--queue-soft-limit=64", "--queue-hard-limit=256", "--rate-limit=0",
		"--max-jobs=100000", NULL);
	hb_start(&B);
	int stuck = raw_connect(B.sock);
	int small = 4096;

	setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	raw_hello(stuck);
	struct dob_filter only_resolutions = {.kind_mask = 1u << DOB_EVENT_RESOLUTION};
	struct dobc *sub = hc_connect(B.sock, "submitter", DOB_ROLE_CONTROLLER, &only_resolutions);
	struct dobc *fast = hc_connect(B.sock, "fast", DOB_ROLE_OBSERVER, NULL);
	struct reader rd;

	reader_start(&rd, fast, 0, JOBS);
	snprintf(path, sizeof path, "%s/z.bin", B.files);
	for (int i = 0; i < JOBS; i++)
		hc_submit(sub, "bulk", "http://h/z", path, NULL);
	pthread_join(rd.thread, NULL);
	cr_assert_eq(rd.errors, JOBS, "fast subscriber got %d of %d errors", rd.errors, JOBS);

	struct dob_stats st = {0};

	cr_assert_eq(dobc_stats(sub, &st, 3000), 0);
	/* "fast" (the asking client is not counted: issue 12). */
	cr_assert_eq(st.subscribers, 1, "stuck subscriber still connected (%u)", st.subscribers);
	cr_assert_eq(st.pending_episodes, JOBS, "an episode was lost");
	dobc_stats_clear(&st);
	cr_assert(hp_count(hp_read(B.log), "TOO_SLOW") + hp_count(hp_read(B.log), "too slow") >= 1,
		  "%s", hb_log_tail(&B));
	close(stuck);

	/* It comes back, and finds every pending episode replayed. */
	struct dobc *back = hc_connect(B.sock, "back", DOB_ROLE_OBSERVER, NULL);

	cr_assert_eq(dobc_welcome(back)->pending_episodes, JOBS);
	/* Counted until all came (the bound only catches a hang), then a
	 * Ping: its Pong comes behind anything else on its way, so nothing
	 * queued meanwhile means no episode was replayed twice. */
	int replayed = 0;
	int64_t end = hp_now_ms() + 60000;

	while (replayed < JOBS && hp_now_ms() < end) {
		struct dob_msg m = {0};
		int rc = dobc_next_event(back, &m, (int)(end - hp_now_ms()));

		if (rc < 0)
			break;
		if (m.type == DOB_MSG_JOB_ERROR)
			replayed++;
		dob_msg_clear(&m);
	}
	cr_assert_eq(replayed, JOBS, "%d of %d episodes replayed", replayed, JOBS);
	cr_assert_eq(dobc_ping(back, NULL, 30000), 0);
	cr_assert_eq(dobc_pending(back), 0, "%zu more events after the replay",
		     dobc_pending(back));
	dobc_close(back);
	dobc_close(sub);
	dobc_close(fast);
}
