/*
 * tests/unit/test_session.c - the per-connection state machine: Hello
 * first, handshake timeout, version negotiation, unexpected and malformed
 * frames, rate and connection limits, Ping, shutdown.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "broker_harness.h"
#include "dob/alloc.h"
#include "fake_plat.h"

static struct harness h;

static void setup(void)
{
	h_setup(&h, NULL);
}

static void teardown(void)
{
	h_teardown(&h);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 30);

static void expect_perr(struct client *cl, enum dob_perr code, const char *needle)
{
	struct dob_msg m;

	cl_expect(cl, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert_eq(m.u.protocol_error.code, code, "code %s (%s), want %s",
		     dob_perr_name(m.u.protocol_error.code), m.u.protocol_error.message,
		     dob_perr_name(code));
	if (needle)
		cr_assert(strstr(m.u.protocol_error.message, needle), "message '%s' lacks '%s'",
			  m.u.protocol_error.message, needle);
	dob_msg_clear(&m);
	cr_assert(fake_conn_is_closed(cl->c), "the broker closes after a ProtocolError");
}

static void send_ping(struct client *cl, uint64_t corr, uint64_t nonce)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_PING;
	m.correlation_id = corr;
	m.u.ping.nonce = nonce;
	cl_send(cl, &m);
}

static void send_hello(struct client *cl, uint32_t min, uint32_t max, const char *name)
{
	struct dob_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_HELLO;
	m.u.hello.min_version = min;
	m.u.hello.max_version = max;
	m.u.hello.client_name = (char *)name;
	m.u.hello.role = DOB_ROLE_OBSERVER;
	cl_send(cl, &m);
}

Test(session, welcome_answers_hello_with_identity_limits_and_backend)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_msg w;

	cl_connect(&cl, &h, &id);
	send_hello(&cl, 1, 3, "watcher");
	cl_expect(&cl, DOB_MSG_WELCOME, &w);
	cr_assert_eq(w.u.welcome.version, 1, "highest common version");
	cr_assert_neq(w.u.welcome.session_id, 0);
	cr_assert_eq(w.u.welcome.backend, DOB_BACKEND_SIM);
	cr_assert_eq(w.u.welcome.limits.max_frame_bytes, 65536);
	cr_assert_eq(w.u.welcome.limits.queue_soft_limit, 1024);
	cr_assert_eq(w.u.welcome.limits.queue_hard_limit, 8192);
	cr_assert_eq(w.u.welcome.limits.handshake_timeout_ms, 5000);
	cr_assert_str_eq(w.u.welcome.identity.user_sid, "S-1-5-21-1000");
	cr_assert_eq(w.u.welcome.identity.pid, 1100);
	cr_assert_eq(w.u.welcome.pending_episodes, 0);
	cr_assert(strstr(w.u.welcome.broker_version, "dobroker"));
	dob_msg_clear(&w);
	cl_free(&cl);
}

Test(session, two_sessions_get_distinct_ids)
{
	struct dob_identity id = h_user(1000);
	struct client a, b;

	cl_connect(&a, &h, &id);
	cl_connect(&b, &h, &id);
	cl_hello(&a, "a", DOB_ROLE_OBSERVER, NULL);
	cl_hello(&b, "b", DOB_ROLE_OBSERVER, NULL);
	cr_assert_neq(a.session_id, b.session_id);
	cl_free(&a);
	cl_free(&b);
}

Test(session, anything_before_hello_is_unexpected)
{
	struct dob_identity id = h_user(1000);
	struct client cl;

	cl_connect(&cl, &h, &id);
	send_ping(&cl, 1, 7);
	expect_perr(&cl, DOB_PERR_UNEXPECTED_MESSAGE, "Hello");
	cl_free(&cl);
}

Test(session, no_hello_within_handshake_timeout_closes)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_msg m;

	cl_connect(&cl, &h, &id);
	fake_clock_advance(h.loop, 4999);
	cr_assert_eq(cl_recv(&cl, &m), 0, "not before the timeout");
	cr_assert(!fake_conn_is_closed(cl.c));
	fake_clock_advance(h.loop, 2);
	expect_perr(&cl, DOB_PERR_HANDSHAKE_TIMEOUT, "5000 ms");
	cr_assert_eq(broker_session_count(h.b), 0);
	cl_free(&cl);
}

Test(session, hello_in_time_disarms_the_handshake_timer)
{
	struct dob_identity id = h_user(1000);
	struct client cl;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	fake_clock_advance(h.loop, 60000);
	cl_expect_nothing(&cl);
	cr_assert(!fake_conn_is_closed(cl.c));
	cl_free(&cl);
}

Test(session, no_common_version_is_unsupported_version)
{
	struct dob_identity id = h_user(1000);
	struct client cl;


	cl_connect(&cl, &h, &id);
	send_hello(&cl, 2, 5, "future");
	expect_perr(&cl, DOB_PERR_UNSUPPORTED_VERSION, "2..5");
	cl_free(&cl);
}

Test(session, hello_twice_is_unexpected)
{
	struct dob_identity id = h_user(1000);
	struct client cl;


	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	send_hello(&cl, 1, 1, "again");
	expect_perr(&cl, DOB_PERR_UNEXPECTED_MESSAGE, "twice");
	cl_free(&cl);
}

Test(session, broker_only_frames_from_a_client_are_unexpected)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_msg m;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_CONTROLLER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_GAP;
	m.u.gap.dropped = 1;
	cl_send(&cl, &m);
	expect_perr(&cl, DOB_PERR_UNEXPECTED_MESSAGE, "sent by the broker");
	cl_free(&cl);
}

Test(session, malformed_frame_gets_protocol_error_and_others_keep_working)
{
	struct dob_identity id = h_user(1000);
	struct client bad, good;
	/* length 5, then bytes that are no Envelope (field 0 is invalid). */
	static const uint8_t junk[] = { 5, 0, 0, 0, 0x00, 0xff, 0xff, 0xff, 0xff };
	struct dob_msg m;

	cl_connect(&good, &h, &id);
	cl_hello(&good, "good", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&bad, &h, &id);
	cl_hello(&bad, "bad", DOB_ROLE_OBSERVER, NULL);
	cl_send_bytes(&bad, junk, sizeof(junk));
	cl_expect(&bad, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert(m.u.protocol_error.code == DOB_PERR_MALFORMED ||
			  m.u.protocol_error.code == DOB_PERR_INVALID_FIELD,
		  "code %s", dob_perr_name(m.u.protocol_error.code));
	cr_assert(m.u.protocol_error.message && *m.u.protocol_error.message);
	dob_msg_clear(&m);
	cr_assert(fake_conn_is_closed(bad.c));
	send_ping(&good, 9, 42);
	cl_expect(&good, DOB_MSG_PONG, &m);
	cr_assert_eq(m.correlation_id, 9);
	cr_assert_eq(m.u.ping.nonce, 42);
	dob_msg_clear(&m);
	cl_free(&bad);
	cl_free(&good);
}

Test(session, oversized_length_prefix_is_refused_before_allocation)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	static const uint8_t big[] = { 0x01, 0x00, 0x01, 0x00 }; /* 65537 */

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	dob_alloc_reset();
	cl_send_bytes(&cl, big, sizeof(big));
	cr_assert_lt(dob_alloc_largest(), 65536, "nothing near the claimed size was allocated");
	expect_perr(&cl, DOB_PERR_FRAME_TOO_LARGE, NULL);
	cl_free(&cl);
}

Test(session, frames_split_across_reads_are_reassembled)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_codec_error e;
	struct dob_msg m;
	uint8_t *buf;
	size_t len;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_PING;
	m.correlation_id = 3;
	m.u.ping.nonce = 77;
	cr_assert_eq(dob_encode(&m, 65536, &buf, &len, &e), 0);
	for (size_t i = 0; i < len; i++)
		cl_send_bytes(&cl, buf + i, 1);
	dob_free(buf);
	cl_expect(&cl, DOB_MSG_PONG, &m);
	cr_assert_eq(m.u.ping.nonce, 77);
	dob_msg_clear(&m);
	cl_free(&cl);
}

static void limit_conns(struct broker_config *c)
{
	c->max_conns_per_identity = 2;
}

Test(session, per_identity_connection_limit_refuses_the_next_one)
{
	struct dob_identity id = h_user(1000), other = h_user(2000);
	struct client a, b, c, d;

	h_teardown(&h);
	h_setup(&h, limit_conns);
	cl_connect(&a, &h, &id);
	cl_connect(&b, &h, &id);
	cl_connect(&c, &h, &id);
	expect_perr(&c, DOB_PERR_TOO_MANY_CONNECTIONS, "limit 2");
	cl_connect(&d, &h, &other);
	cl_hello(&d, "other user", DOB_ROLE_OBSERVER, NULL);
	cl_hello(&a, "a", DOB_ROLE_OBSERVER, NULL);
	cl_free(&a);
	cl_free(&b);
	cl_free(&c);
	cl_free(&d);
}

static void rate_limited(struct broker_config *c)
{
	c->rate_limit = 10;
	c->rate_burst = 5;
}

Test(session, too_many_frames_too_fast_is_rate_limited)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_msg m;

	h_teardown(&h);
	h_setup(&h, rate_limited);
	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL); /* frame 1 */
	for (uint64_t i = 1; i <= 4; i++) {
		send_ping(&cl, i, i);
		cl_expect(&cl, DOB_MSG_PONG, NULL);
	}
	/* The bucket refills at 10 frames/s: 100 ms buys one more. */
	fake_clock_advance(h.loop, 100);
	send_ping(&cl, 5, 5);
	cl_expect(&cl, DOB_MSG_PONG, NULL);
	send_ping(&cl, 6, 6);
	cl_expect(&cl, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_RATE_LIMITED);
	dob_msg_clear(&m);
	cl_free(&cl);
}

Test(session, request_without_correlation_id_is_invalid)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_msg m;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	memset(&m, 0, sizeof(m));
	m.type = DOB_MSG_LIST_JOBS;
	m.correlation_id = 0;
	{
		/* the codec refuses to encode it: hand-make the frame */
		static const uint8_t frame[] = { 3, 0, 0, 0, 0xCA, 0x01, 0x00 }; /* field 25, len 0 */
		cl_send_bytes(&cl, frame, sizeof(frame));
	}
	cl_expect(&cl, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert(strstr(m.u.protocol_error.message, "correlation"), "%s",
		  m.u.protocol_error.message);
	dob_msg_clear(&m);
	cl_free(&cl);
}

Test(session, peer_hangup_frees_the_session)
{
	struct dob_identity id = h_user(1000);
	struct client cl;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	cr_assert_eq(broker_session_count(h.b), 1);
	fake_conn_hangup(cl.c);
	cr_assert_eq(broker_session_count(h.b), 0);
	cl_free(&cl);
}

Test(session, shutdown_tells_every_session_shutting_down)
{
	struct dob_identity id = h_user(1000);
	struct client a, b;

	cl_connect(&a, &h, &id);
	cl_hello(&a, "a", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&b, &h, &id);
	broker_shutdown(h.b);
	expect_perr(&a, DOB_PERR_SHUTTING_DOWN, NULL);
	expect_perr(&b, DOB_PERR_SHUTTING_DOWN, NULL);
	cl_free(&a);
	cl_free(&b);
}

/* Issue 9 item 8: a client cut for RATE_LIMITED that reconnects at once is
 * still limited (the bucket used to start full on every connection). */
Test(session, reconnecting_does_not_refill_the_rate_bucket)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	struct dob_msg m;
	int pongs = 0;

	h_teardown(&h);
	h_setup(&h, rate_limited);
	for (int round = 0; round < 5; round++) {
		cl_connect(&cl, &h, &id);
		cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
		for (uint64_t i = 1; i <= 10; i++) {
			send_ping(&cl, i, i);
			cl_expect(&cl, round == 0 && i <= 4 ? DOB_MSG_PONG : DOB_MSG_PROTOCOL_ERROR, &m);
			if (m.type == DOB_MSG_PONG) {
				pongs++;
				dob_msg_clear(&m);
				continue;
			}
			cr_assert_eq(m.u.protocol_error.code, DOB_PERR_RATE_LIMITED, "round %d", round);
			dob_msg_clear(&m);
			break;
		}
		cl_free(&cl);
		fake_pump(h.loop);
	}
	cr_assert_eq(pongs, 4, "the reconnect loop got %d pongs, the burst allows 4", pongs);
	/* Time refills it, as for one connection. */
	fake_clock_advance(h.loop, 1000);
	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	send_ping(&cl, 1, 1);
	cl_expect(&cl, DOB_MSG_PONG, NULL);
	cl_free(&cl);
}

/* The level goes back when the connection is cut, not when its close
 * completes: a reconnect accepted while the cut connection still closes
 * (its last frames in flight) gets no new burst. Without it the two
 * flooders of limits::max_size_frame_flood_... were now and then given a
 * fresh burst on reconnecting. */
Test(session, a_reconnect_while_the_cut_connection_still_closes_gets_no_new_burst)
{
	struct dob_identity id = h_user(1000);
	struct client a, b;
	struct dob_msg m;

	h_teardown(&h);
	h_setup(&h, rate_limited);
	cl_connect(&a, &h, &id);
	cl_hello(&a, "a", DOB_ROLE_OBSERVER, NULL); /* frame 1 of the burst of 5 */
	fake_conn_stall(a.c, true); /* the broker's writes to a stay in flight */
	for (uint64_t i = 1; i <= 5; i++) /* 4 more, then one over: cut */
		send_ping(&a, i, i);
	fake_pump(h.loop);
	cr_assert_eq(broker_session_count(h.b), 0, "a was cut");
	cr_assert_not(fake_conn_released(a.c), "a is still closing (its writes in flight)");
	cl_connect(&b, &h, &id);
	cl_hello(&b, "b", DOB_ROLE_OBSERVER, NULL); /* a's Hello refunded: 1 frame */
	send_ping(&b, 1, 1);
	cl_expect(&b, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_RATE_LIMITED, "b was given a new burst");
	dob_msg_clear(&m);
	fake_conn_stall(a.c, false);
	cl_free(&a);
	cl_free(&b);
}

/* Other connections of the same user keep their own budget. */
Test(session, a_flooding_connection_leaves_its_users_other_connections_served)
{
	struct dob_identity id = h_user(1000);
	struct client a, b;
	struct dob_msg m;

	h_teardown(&h);
	h_setup(&h, rate_limited);
	cl_connect(&a, &h, &id);
	cl_hello(&a, "a", DOB_ROLE_OBSERVER, NULL);
	cl_connect(&b, &h, &id);
	cl_hello(&b, "b", DOB_ROLE_OBSERVER, NULL);
	for (uint64_t i = 1; i <= 5; i++)
		send_ping(&a, i, i);
	for (int i = 0; i < 4; i++)
		cl_expect(&a, DOB_MSG_PONG, NULL);
	cl_expect(&a, DOB_MSG_PROTOCOL_ERROR, &m);
	cr_assert_eq(m.u.protocol_error.code, DOB_PERR_RATE_LIMITED);
	dob_msg_clear(&m);
	send_ping(&b, 1, 1);
	cl_expect(&b, DOB_MSG_PONG, NULL);
	cl_free(&a);
	cl_free(&b);
}

/* Issue 9 item 8: each connection refused with TOO_MANY_CONNECTIONS kept
 * about 105 bytes (its last buffer, "lingering") until shutdown. Counted
 * with the allocation hook: nothing may be left per refusal. */
Test(session, thousands_of_refused_connections_keep_no_memory)
{
	struct dob_identity id = h_user(1000);
	struct client a, b, c;
	int64_t live0 = 0;

	h_teardown(&h);
	h_setup(&h, limit_conns);
	cl_connect(&a, &h, &id);
	cl_connect(&b, &h, &id);
	for (int i = 0; i < 3000; i++) {
		cl_connect(&c, &h, &id);
		expect_perr(&c, DOB_PERR_TOO_MANY_CONNECTIONS, "limit 2");
		cr_assert(fake_conn_released(c.c), "refusal %d: the session is kept", i);
		cl_free(&c);
		if (i == 9)
			live0 = dob_alloc_live();
	}
	cr_expect_eq(dob_alloc_live(), live0, "%lld blocks live after 3000 refusals, %lld after 10",
		     (long long)dob_alloc_live(), (long long)live0);
	cr_expect_eq(broker_session_count(h.b), 2);
	cl_free(&a);
	cl_free(&b);
}

/* Issue 9 item 12: a peer that stops sending inside a frame is told
 * TRUNCATED (docs/protocol.md) before the close. */
Test(session, half_close_inside_a_frame_gets_truncated)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	static const uint8_t part[] = { 16, 0, 0, 0, 0x0a, 0x01 }; /* 2 of 16 bytes */

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	cl_send_bytes(&cl, part, sizeof(part));
	fake_conn_shutdown(cl.c);
	expect_perr(&cl, DOB_PERR_TRUNCATED, NULL);
	cr_assert(fake_conn_released(cl.c));
	cr_assert_eq(broker_session_count(h.b), 0);
	cl_free(&cl);
}

Test(session, half_close_inside_the_length_prefix_gets_truncated)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	static const uint8_t part[] = { 16, 0 };

	cl_connect(&cl, &h, &id);
	cl_send_bytes(&cl, part, sizeof(part));
	fake_conn_shutdown(cl.c);
	expect_perr(&cl, DOB_PERR_TRUNCATED, NULL);
	cl_free(&cl);
}

Test(session, half_close_between_frames_closes_without_an_error)
{
	struct dob_identity id = h_user(1000);
	struct client cl;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	fake_conn_shutdown(cl.c);
	fake_pump(h.loop);
	cl_expect_nothing(&cl);
	cr_assert(fake_conn_is_closed(cl.c));
	cr_assert(fake_conn_released(cl.c));
	cr_assert_eq(broker_session_count(h.b), 0);
	cl_free(&cl);
}

/* A write in flight when the peer hangs up reports cancelled and frees its
 * buffer: no leak, no use after free (run under ASan in make check). */
Test(session, hangup_with_a_write_in_flight_frees_everything)
{
	struct dob_identity id = h_user(1000);
	struct client cl;
	int64_t live0;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	live0 = dob_alloc_live();
	fake_conn_stall(cl.c, true);
	send_ping(&cl, 1, 1);
	cr_assert(fake_conn_write_pending(cl.c));
	fake_conn_hangup(cl.c);
	fake_pump(h.loop);
	cr_assert_eq(broker_session_count(h.b), 0);
	cr_expect_lt(dob_alloc_live(), live0, "the session and its buffer are freed");
	cl_free(&cl);
}

/* A peer that half-closes and never reads the batch in flight does not pin
 * its session: the write is given up after the handshake timeout. */
Test(session, half_close_with_a_stuck_write_is_given_up)
{
	struct dob_identity id = h_user(1000);
	struct client cl;

	cl_connect(&cl, &h, &id);
	cl_hello(&cl, "w", DOB_ROLE_OBSERVER, NULL);
	fake_conn_stall(cl.c, true);
	send_ping(&cl, 1, 1);
	cr_assert(fake_conn_write_pending(cl.c));
	fake_conn_shutdown(cl.c);
	fake_pump(h.loop);
	cr_assert(!fake_conn_released(cl.c), "closed before the write had its chance");
	fake_clock_advance(h.loop, 5000);
	cr_assert(fake_conn_released(cl.c), "the stuck write pins the session");
	cr_assert_eq(broker_session_count(h.b), 0);
	cl_free(&cl);
}
