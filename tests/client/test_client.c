/*
 * tests/client/test_client.c - libdobclient against a scripted fake broker
 * (fake_broker.c) over a real Unix socket: handshake, events, the local
 * queue, correlation of replies, errors from the broker, hang-ups, timeouts.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "dobclient.h"
#include "fake_broker.h"

static struct fake fk;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start(fake_script s)
{
	cr_assert_eq(fake_start(&fk, s, NULL), 0, "fake broker did not start");
}

static void stop(void)
{
	int r = fake_stop(&fk);

	cr_assert_eq(r, 0, "fake broker: %s", fk.why);
}

static struct dobc *connect_ok(const struct dobc_options *base)
{
	struct dobc_options o = { .client_name = "tclient", .connect_timeout_ms = 3000 };
	struct dobc_error e;
	struct dobc *c = NULL;
	int r;

	if (base)
		o = *base;
	o.endpoint = fk.path;
	o.error = &e;
	memset(&e, 0, sizeof e);
	r = dobc_connect(&c, &o);
	cr_assert_eq(r, 0, "dobc_connect: %s (%s)", dobc_strerror(r), e.message);
	cr_assert_not_null(c);
	return c;
}

static void act_reply(struct fake *f, const struct dob_msg *req, enum dob_status st)
{
	struct dob_msg rep = { .type = DOB_MSG_ACTION_RESULT };

	rep.correlation_id = req->correlation_id;
	rep.u.action_result.status = st;
	rep.u.action_result.new_state = DOB_STATE_QUEUED;
	rep.u.action_result.message = dob_strdup(st == DOB_STATUS_OK ? "" : "somebody was faster");
	if (st == DOB_STATUS_ALREADY_RESOLVED) {
		rep.u.action_result.winner.session_id = 9;
		rep.u.action_result.winner.client_name = dob_strdup("winner");
		rep.u.action_result.winner_action = DOB_ACTION_CANCEL;
	}
	fake_send(f, &rep);
	dob_msg_clear(&rep);
}

/* ---------------------------------------------------------------- handshake */

static void s_handshake(struct fake *f)
{
	struct dob_hello *h;

	if (fake_handshake(f) < 0)
		return;
	h = &f->hello.u.hello;
	fake_check(f, h->min_version == 1 && h->max_version == 1, "versions %u..%u",
		   h->min_version, h->max_version);
	fake_check(f, h->client_name && strcmp(h->client_name, "tclient") == 0, "client name %s",
		   h->client_name);
	fake_check(f, h->role == DOB_ROLE_CONTROLLER, "role %d", h->role);
	fake_check(f, h->filter.n_job_ids == 1 && h->filter.job_ids[0].b[0] == 0xAB,
		   "filter job ids");
	fake_check(f, h->filter.display_name_prefix &&
			      strcmp(h->filter.display_name_prefix, "app-") == 0,
		   "filter prefix");
	fake_check(f, h->filter.kind_mask == ((1u << DOB_EVENT_JOB_ERROR) | (1u << DOB_EVENT_RESOLUTION)),
		   "filter kinds 0x%x", h->filter.kind_mask);
	fake_wait_eof(f, 5000);
}

Test(client, connect_sends_hello_with_filter_and_exposes_welcome, .timeout = 10)
{
	struct dob_guid job;
	struct dob_filter flt = { .n_job_ids = 1, .job_ids = &job, .display_name_prefix = "app-",
				  .kind_mask = (1u << DOB_EVENT_JOB_ERROR) | (1u << DOB_EVENT_RESOLUTION) };
	struct dobc_options o = { .client_name = "tclient", .role = DOB_ROLE_CONTROLLER,
				  .filter = &flt };
	const struct dob_welcome *w;
	struct dobc *c;

	memset(&job, 0xAB, sizeof job);
	start(s_handshake);
	c = connect_ok(&o);
	w = dobc_welcome(c);
	cr_expect_eq(w->version, 1);
	cr_expect_eq(w->session_id, 42);
	cr_expect_eq(w->backend, DOB_BACKEND_SIM);
	cr_expect_eq(w->identity.uid, 1000);
	cr_expect_str_eq(w->identity.user_sid, "uid:1000");
	cr_expect_str_eq(w->broker_version, "dobroker fake");
	cr_expect_eq(w->pending_episodes, 2);
	cr_expect_eq(w->limits.max_inflight_requests, 16);
	cr_expect_eq(dobc_pending(c), 0);
	dobc_close(c);
	stop();
}

static void s_refuse_hello(struct fake *f)
{
	fake_refuse_hello(f, DOB_PERR_UNSUPPORTED_VERSION, "this broker speaks version 7 only");
}

Test(client, protocol_error_in_handshake_fails_connect_with_code_and_message, .timeout = 10)
{
	struct dobc_error e;
	struct dobc_options o = { .endpoint = NULL, .error = &e };
	struct dobc *c = (struct dobc *)&o; /* must be set to NULL */
	int r;

	start(s_refuse_hello);
	o.endpoint = fk.path;
	r = dobc_connect(&c, &o);
	cr_expect_eq(r, -DOB_EPROTO, "got %s", dobc_strerror(r));
	cr_expect_null(c);
	cr_expect_eq(e.code, -DOB_EPROTO);
	cr_expect_eq(e.perr, DOB_PERR_UNSUPPORTED_VERSION);
	cr_expect(e.from_broker);
	cr_expect(strstr(e.message, "version 7 only") != NULL, "message: %s", e.message);
	stop();
}

static void s_silent(struct fake *f)
{
	if (fake_accept(f) < 0 || fake_expect(f, DOB_MSG_HELLO, &f->hello) < 0)
		return;
	fake_wait_eof(f, 5000);
}

Test(client, connect_times_out_when_no_welcome_comes, .timeout = 10)
{
	struct dobc_error e;
	struct dobc_options o = { .connect_timeout_ms = 200, .error = &e };
	struct dobc *c = NULL;
	int64_t t0;
	int r;

	start(s_silent);
	o.endpoint = fk.path;
	t0 = now_ms();
	r = dobc_connect(&c, &o);
	cr_expect_eq(r, -DOB_ETIMEDOUT, "got %s", dobc_strerror(r));
	cr_expect_geq(now_ms() - t0, 190);
	cr_expect_lt(now_ms() - t0, 2000);
	cr_expect(strstr(e.message, "Welcome") != NULL, "message: %s", e.message);
	stop();
}

Test(client, connect_to_missing_endpoint_fails_at_once_naming_it, .timeout = 10)
{
	struct dobc_error e;
	struct dobc_options o = { .endpoint = "/nonexistent-dir/dobroker.sock", .error = &e };
	struct dobc *c = NULL;
	int r = dobc_connect(&c, &o);

	cr_expect_eq(r, -DOB_ENOTFOUND, "got %s", dobc_strerror(r));
	cr_expect_null(c);
	cr_expect(strstr(e.message, "/nonexistent-dir/dobroker.sock") != NULL, "message: %s",
		  e.message);
}

Test(client, bad_options_are_einval_before_any_connect, .timeout = 10)
{
	char prefix[300];
	struct dob_filter flt = { .display_name_prefix = prefix };
	struct dobc_error e;
	struct dobc_options o = { .endpoint = "/nonexistent-dir/dobroker.sock", .filter = &flt,
				  .error = &e };
	struct dobc *c = NULL;
	int r;

	memset(prefix, 'a', sizeof prefix - 1);
	prefix[sizeof prefix - 1] = '\0';
	r = dobc_connect(&c, &o);
	cr_expect_eq(r, -DOB_EINVAL, "got %s", dobc_strerror(r));
	cr_expect(strstr(e.message, "display_name_prefix") != NULL, "message: %s", e.message);
	flt.display_name_prefix = NULL;
	o.client_name = "";
	r = dobc_connect(&c, &o);
	cr_expect_eq(r, -DOB_EINVAL, "got %s", dobc_strerror(r));
	cr_expect(strstr(e.message, "client_name") != NULL, "message: %s", e.message);
	cr_expect_null(c);
}

Test(client, default_endpoint_follows_xdg_runtime_dir, .timeout = 10)
{
	char buf[DOBC_ENDPOINT_MAX], want[64];
	const char *old = getenv("XDG_RUNTIME_DIR");
	char *saved = old ? strdup(old) : NULL;

	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	cr_assert_eq(dobc_default_endpoint(buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/run/user/4242/dobroker.sock");
	unsetenv("XDG_RUNTIME_DIR");
	cr_assert_eq(dobc_default_endpoint(buf, sizeof buf), 0);
	snprintf(want, sizeof want, "/tmp/dobroker-%u.sock", (unsigned)getuid());
	cr_expect_str_eq(buf, want);
	cr_expect_eq(dobc_default_endpoint(buf, 8), -DOB_EINVAL);
	if (saved) {
		setenv("XDG_RUNTIME_DIR", saved, 1);
		free(saved);
	}
}

/* ---------------------------------------------------------------- events */

static void s_idle(struct fake *f)
{
	if (fake_handshake(f) < 0)
		return;
	fake_wait_eof(f, 5000);
}

Test(client, next_event_times_out_when_nothing_arrives, .timeout = 10)
{
	struct dob_msg m;
	struct dobc *c;
	int64_t t0;
	int r;

	start(s_idle);
	c = connect_ok(NULL);
	t0 = now_ms();
	r = dobc_next_event(c, &m, 150);
	cr_expect_eq(r, -DOB_ETIMEDOUT, "got %s", dobc_strerror(r));
	cr_expect_geq(now_ms() - t0, 145);
	cr_expect_lt(now_ms() - t0, 1500);
	cr_expect_eq(m.type, DOB_MSG_NONE);
	cr_expect_eq(dobc_last_error(c)->code, -DOB_ETIMEDOUT);
	/* 0 only looks at what has arrived. */
	t0 = now_ms();
	cr_expect_eq(dobc_next_event(c, &m, 0), -DOB_ETIMEDOUT);
	cr_expect_lt(now_ms() - t0, 100);
	/* A timeout does not end the connection. */
	cr_expect_eq(dobc_ping(c, NULL, 50), -DOB_ETIMEDOUT);
	dobc_close(c);
	stop();
}

static void s_three_events_then_close(struct fake *f)
{
	struct dob_msg m;

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 1, 11);
	fake_send(f, &m);
	dob_msg_clear(&m);
	fake_job_modified(&m, 2);
	fake_send(f, &m);
	dob_msg_clear(&m);
	fake_resolution(&m, 1, 11);
	fake_send(f, &m);
	dob_msg_clear(&m);
	fake_hangup(f); /* between frames */
}

Test(client, events_come_in_order_then_the_hangup_between_frames_is_eclosed, .timeout = 10)
{
	struct dob_msg m;
	struct dobc *c;
	int r;

	start(s_three_events_then_close);
	c = connect_ok(NULL);
	cr_assert_eq(dobc_next_event(c, &m, 3000), 0);
	cr_expect_eq(m.type, DOB_MSG_JOB_ERROR);
	cr_expect_eq(m.u.job_error.episode_id, 11);
	cr_expect_eq(m.u.job_error.error.hresult, 0x80190194u);
	cr_expect_str_eq(m.u.job_error.error.file.remote_url, "http://127.0.0.1:1/missing.bin");
	dob_msg_clear(&m);
	cr_assert_eq(dobc_next_event(c, &m, 3000), 0);
	cr_expect_eq(m.type, DOB_MSG_JOB_MODIFIED);
	dob_msg_clear(&m);
	cr_assert_eq(dobc_next_event(c, &m, 3000), 0);
	cr_expect_eq(m.type, DOB_MSG_RESOLUTION);
	cr_expect_str_eq(m.u.resolution.actor.client_name, "other");
	dob_msg_clear(&m);
	r = dobc_next_event(c, &m, 3000);
	cr_expect_eq(r, -DOB_ECLOSED, "got %s", dobc_strerror(r));
	/* Sticky: every later call says the same. */
	cr_expect_eq(dobc_next_event(c, &m, 0), -DOB_ECLOSED);
	cr_expect_eq(dobc_ping(c, NULL, 1000), -DOB_ECLOSED);
	cr_expect_eq(dobc_process(c), -DOB_ECLOSED);
	dobc_close(c);
	stop();
}

static void s_hangup_mid_frame(struct fake *f)
{
	uint8_t part[14] = { 50, 0, 0, 0, 0x08, 0x01 };

	if (fake_handshake(f) < 0)
		return;
	fake_send_raw(f, part, sizeof part); /* a 50-byte frame, 10 bytes of it */
	fake_hangup(f);
}

Test(client, hangup_inside_a_frame_is_etruncated, .timeout = 10)
{
	struct dob_msg m;
	struct dobc *c;
	int r;

	start(s_hangup_mid_frame);
	c = connect_ok(NULL);
	r = dobc_next_event(c, &m, 3000);
	cr_expect_eq(r, -DOB_ETRUNCATED, "got %s", dobc_strerror(r));
	cr_expect(strstr(dobc_last_error(c)->message, "inside a frame") != NULL, "message: %s",
		  dobc_last_error(c)->message);
	dobc_close(c);
	stop();
}

static void s_huge_frame(struct fake *f)
{
	uint8_t hdr[4];

	if (fake_handshake(f) < 0)
		return;
	dob_put_u32le(hdr, DOB_MAX_FRAME_DEFAULT + 1);
	fake_send_raw(f, hdr, sizeof hdr);
	fake_wait_eof(f, 5000);
}

Test(client, frame_above_the_limit_ends_the_connection, .timeout = 10)
{
	struct dob_msg m;
	struct dobc *c;
	int r;

	start(s_huge_frame);
	c = connect_ok(NULL);
	r = dobc_next_event(c, &m, 3000);
	cr_expect_eq(r, -DOB_EFRAME_TOO_LARGE, "got %s", dobc_strerror(r));
	dobc_close(c);
	stop();
}

/* ---------------------------------------------------------------- requests */

static void s_events_during_act(struct fake *f)
{
	struct dob_msg req, m;

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_ACT, &req) < 0)
		return;
	fake_check(f, req.correlation_id != 0, "Act without a correlation id");
	fake_check(f, req.u.act.job_id.b[0] == 5 && req.u.act.episode_id == 77 &&
			      req.u.act.action == DOB_ACTION_RESUME_AFTER_DELAY &&
			      req.u.act.delay_ms == 1500,
		   "Act fields");
	fake_job_error(&m, 3, 12);
	fake_send(f, &m);
	dob_msg_clear(&m);
	fake_resolution(&m, 5, 77);
	fake_send(f, &m);
	dob_msg_clear(&m);
	act_reply(f, &req, DOB_STATUS_OK);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(client, events_arriving_while_a_request_waits_are_queued_in_order, .timeout = 10)
{
	struct dob_action_result res;
	struct dob_guid job;
	struct dob_msg m;
	struct dobc *c;
	int r;

	memset(&job, 5, sizeof job);
	start(s_events_during_act);
	c = connect_ok(NULL);
	r = dobc_act(c, &job, 77, DOB_ACTION_RESUME_AFTER_DELAY, 1500, &res, 3000);
	cr_assert_eq(r, 0, "dobc_act: %s (%s)", dobc_strerror(r), dobc_last_error(c)->message);
	cr_expect_eq(res.status, DOB_STATUS_OK);
	cr_expect_eq(res.new_state, DOB_STATE_QUEUED);
	dobc_action_result_clear(&res);
	cr_expect_eq(dobc_pending(c), 2);
	cr_assert_eq(dobc_next_event(c, &m, 0), 0);
	cr_expect_eq(m.type, DOB_MSG_JOB_ERROR);
	cr_expect_eq(m.u.job_error.episode_id, 12);
	dob_msg_clear(&m);
	cr_assert_eq(dobc_next_event(c, &m, 0), 0);
	cr_expect_eq(m.type, DOB_MSG_RESOLUTION);
	dob_msg_clear(&m);
	cr_expect_eq(dobc_next_event(c, &m, 0), -DOB_ETIMEDOUT);
	dobc_close(c);
	stop();
}

static void s_late_reply(struct fake *f)
{
	struct dob_msg ping, list, pong = { .type = DOB_MSG_PONG };
	struct dob_msg rep = { .type = DOB_MSG_LIST_JOBS_REPLY };

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_PING, &ping) < 0)
		return;
	/* Say nothing until the client has given up and asks something else. */
	if (fake_expect(f, DOB_MSG_LIST_JOBS, &list) < 0)
		return;
	fake_check(f, list.correlation_id > ping.correlation_id, "correlation ids %llu then %llu",
		   (unsigned long long)ping.correlation_id, (unsigned long long)list.correlation_id);
	pong.correlation_id = ping.correlation_id;
	pong.u.ping.nonce = ping.u.ping.nonce;
	fake_send(f, &pong); /* the late reply: to be discarded */
	rep.correlation_id = list.correlation_id;
	rep.u.list_jobs_reply.n_jobs = 1;
	rep.u.list_jobs_reply.jobs = dob_calloc(1, sizeof *rep.u.list_jobs_reply.jobs);
	memset(rep.u.list_jobs_reply.jobs[0].job.job_id.b, 9, DOB_GUID_LEN);
	rep.u.list_jobs_reply.jobs[0].job.display_name = dob_strdup("listed");
	rep.u.list_jobs_reply.jobs[0].pending_episode_id = 31;
	fake_send(f, &rep);
	dob_msg_clear(&rep);
	dob_msg_clear(&ping);
	dob_msg_clear(&list);
	fake_wait_eof(f, 5000);
}

Test(client, request_times_out_then_its_late_reply_is_discarded_by_correlation_id, .timeout = 10)
{
	struct dob_list_jobs_reply list;
	struct dobc *c;
	int64_t t0, rtt = -1;
	int r;

	start(s_late_reply);
	c = connect_ok(NULL);
	t0 = now_ms();
	r = dobc_ping(c, &rtt, 200);
	cr_expect_eq(r, -DOB_ETIMEDOUT, "got %s", dobc_strerror(r));
	cr_expect_geq(now_ms() - t0, 195);
	cr_expect_eq(rtt, 0);
	cr_expect(strstr(dobc_last_error(c)->message, "ping") != NULL, "message: %s",
		  dobc_last_error(c)->message);
	r = dobc_list_jobs(c, &list, 3000);
	cr_assert_eq(r, 0, "dobc_list_jobs: %s (%s)", dobc_strerror(r), dobc_last_error(c)->message);
	cr_expect_eq(list.n_jobs, 1);
	cr_expect_str_eq(list.jobs[0].job.display_name, "listed");
	cr_expect_eq(list.jobs[0].pending_episode_id, 31);
	dobc_list_jobs_reply_clear(&list);
	cr_expect_eq(list.n_jobs, 0);
	cr_expect_eq(dobc_pending(c), 0);
	dobc_close(c);
	stop();
}

static void s_refuse_act(struct fake *f)
{
	struct dob_msg req;

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_ACT, &req) < 0)
		return;
	act_reply(f, &req, DOB_STATUS_ALREADY_RESOLVED);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(client, refused_request_is_eremote_with_the_reply_filled, .timeout = 10)
{
	struct dob_action_result res;
	struct dob_guid job;
	struct dobc *c;
	int r;

	memset(&job, 1, sizeof job);
	start(s_refuse_act);
	c = connect_ok(NULL);
	r = dobc_act(c, &job, 3, DOB_ACTION_RESUME, 0, &res, 3000);
	cr_expect_eq(r, -DOB_EREMOTE, "got %s", dobc_strerror(r));
	cr_expect_eq(res.status, DOB_STATUS_ALREADY_RESOLVED);
	cr_expect_str_eq(res.winner.client_name, "winner");
	cr_expect_eq(res.winner_action, DOB_ACTION_CANCEL);
	cr_expect(dobc_last_error(c)->from_broker);
	cr_expect(strstr(dobc_last_error(c)->message, "somebody was faster") != NULL, "message: %s",
		  dobc_last_error(c)->message);
	dobc_action_result_clear(&res);
	/* Still usable. */
	cr_expect_eq(dobc_process(c), 0);
	dobc_close(c);
	stop();
}

static void s_protocol_error_on_request(struct fake *f)
{
	struct dob_msg req, m = { .type = DOB_MSG_PROTOCOL_ERROR };

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_GET_STATS, &req) < 0)
		return;
	m.u.protocol_error.code = DOB_PERR_RATE_LIMITED;
	m.u.protocol_error.message = dob_strdup("slow down: 1000 frames in 1 s");
	fake_send(f, &m);
	dob_msg_clear(&m);
	dob_msg_clear(&req);
}

Test(client, protocol_error_from_the_broker_is_eproto_with_its_code_and_message, .timeout = 10)
{
	const struct dobc_error *e;
	struct dob_stats st;
	struct dob_msg m;
	struct dobc *c;
	int r;

	start(s_protocol_error_on_request);
	c = connect_ok(NULL);
	r = dobc_stats(c, &st, 3000);
	cr_expect_eq(r, -DOB_EPROTO, "got %s", dobc_strerror(r));
	e = dobc_last_error(c);
	cr_expect_eq(e->code, -DOB_EPROTO);
	cr_expect_eq(e->perr, DOB_PERR_RATE_LIMITED);
	cr_expect(e->from_broker);
	cr_expect(strstr(e->message, "slow down: 1000 frames in 1 s") != NULL, "message: %s",
		  e->message);
	cr_expect_eq(st.n_sessions, 0);
	/* The connection is over, and says why each time. */
	cr_expect_eq(dobc_next_event(c, &m, 100), -DOB_EPROTO);
	cr_expect_eq(dobc_last_error(c)->perr, DOB_PERR_RATE_LIMITED);
	dobc_close(c);
	stop();
}

/* The broker says why and hangs up before the client writes again: the
 * next write fails (broken pipe), and the reason must still be what the
 * client reports (issue: it used to say "connection closed"). An event
 * sent before the reason stays available. */
static void s_reason_then_hangup(struct fake *f)
{
	enum dob_perr code = (enum dob_perr)(intptr_t)f->arg;
	struct dob_msg m = { .type = DOB_MSG_PROTOCOL_ERROR };

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 0x31, 31);
	fake_send(f, &m);
	dob_msg_clear(&m);
	m.type = DOB_MSG_PROTOCOL_ERROR;
	m.u.protocol_error.code = code;
	m.u.protocol_error.message = dob_strdup("the reason the broker gave");
	fake_send(f, &m);
	dob_msg_clear(&m);
	fake_hangup(f);
}

Test(client, write_after_the_broker_said_why_and_hung_up_reports_its_reason, .timeout = 10)
{
	static const enum dob_perr codes[] = { DOB_PERR_RATE_LIMITED, DOB_PERR_TOO_SLOW,
					       DOB_PERR_SHUTTING_DOWN };
	size_t i;

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const struct dobc_error *e;
		struct dob_msg m;
		struct dobc *c;
		int r;

		cr_assert_eq(fake_start(&fk, s_reason_then_hangup, (void *)(intptr_t)codes[i]), 0);
		c = connect_ok(NULL);
		/* Joining the fake's thread: it has sent, and closed its end. */
		stop();
		r = dobc_ping(c, NULL, 3000);
		e = dobc_last_error(c);
		cr_expect_eq(r, -DOB_EPROTO, "%s: got %s (%s)", dob_perr_name(codes[i]),
			     dobc_strerror(r), e->message);
		cr_expect_eq(e->perr, codes[i], "perr %s, want %s", dob_perr_name(e->perr),
			     dob_perr_name(codes[i]));
		cr_expect(e->from_broker);
		cr_expect(strstr(e->message, "the reason the broker gave") != NULL, "message: %s",
			  e->message);
		/* What came before the reason is still delivered, then the reason. */
		r = dobc_next_event(c, &m, 0);
		cr_expect_eq(r, 0, "the JobError sent before the reason: %s", dobc_strerror(r));
		if (r == 0) {
			cr_expect_eq(m.type, DOB_MSG_JOB_ERROR);
			cr_expect_eq(m.u.job_error.episode_id, 31);
			dob_msg_clear(&m);
		}
		cr_expect_eq(dobc_next_event(c, &m, 0), -DOB_EPROTO);
		cr_expect_eq(dobc_last_error(c)->perr, codes[i]);
		dobc_close(c);
	}
}

/* A broker that hangs up without a word: the write's failure is reported. */
static void s_silent_hangup(struct fake *f)
{
	if (fake_handshake(f) < 0)
		return;
	fake_hangup(f);
}

Test(client, write_after_a_silent_hangup_is_eclosed, .timeout = 10)
{
	struct dobc *c;
	int r;

	start(s_silent_hangup);
	c = connect_ok(NULL);
	stop();
	r = dobc_ping(c, NULL, 3000);
	cr_expect(r == -DOB_ECLOSED, "got %s (%s)", dobc_strerror(r), dobc_last_error(c)->message);
	cr_expect(!dobc_last_error(c)->from_broker);
	dobc_close(c);
}

static void s_wrong_reply_type(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_PONG };

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_GET_STATS, &req) < 0)
		return;
	rep.correlation_id = req.correlation_id;
	fake_send(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(client, reply_of_the_wrong_type_is_a_protocol_error, .timeout = 10)
{
	struct dob_stats st;
	struct dobc *c;
	int r;

	start(s_wrong_reply_type);
	c = connect_ok(NULL);
	r = dobc_stats(c, &st, 3000);
	cr_expect_eq(r, -DOB_EPROTO, "got %s", dobc_strerror(r));
	cr_expect_not(dobc_last_error(c)->from_broker);
	cr_expect(strstr(dobc_last_error(c)->message, "pong") != NULL, "message: %s",
		  dobc_last_error(c)->message);
	dobc_close(c);
	stop();
}

static void s_unknown_correlation(struct fake *f)
{
	struct dob_msg rep = { .type = DOB_MSG_PONG, .correlation_id = 1000 };

	if (fake_handshake(f) < 0)
		return;
	fake_send(f, &rep);
	fake_wait_eof(f, 5000);
}

Test(client, reply_to_a_request_never_sent_is_a_protocol_error, .timeout = 10)
{
	struct dob_msg m;
	struct dobc *c;
	int r;

	start(s_unknown_correlation);
	c = connect_ok(NULL);
	r = dobc_next_event(c, &m, 3000);
	cr_expect_eq(r, -DOB_EPROTO, "got %s", dobc_strerror(r));
	dobc_close(c);
	stop();
}

static void s_submit(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_JOB_REPLY };
	struct dob_submit_job *s;

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_SUBMIT_JOB, &req) < 0)
		return;
	s = &req.u.submit_job;
	fake_check(f, s->display_name && strcmp(s->display_name, "fetch") == 0, "display name");
	fake_check(f, s->n_files == 1 && strcmp(s->files[0].remote_url, "http://h/a") == 0 &&
			      strcmp(s->files[0].local_path, "/tmp/a") == 0,
		   "files");
	fake_check(f, s->policy.kind == DOB_POLICY_RESUME && s->policy.max_resumes == 2 &&
			      s->policy.exhausted == DOB_POLICY_CANCEL && s->policy.deadline_ms == 900,
		   "policy");
	fake_check(f, s->priority == DOB_PRIORITY_HIGH, "priority %d", s->priority);
	rep.correlation_id = req.correlation_id;
	rep.u.job_reply.has_job = true;
	memset(rep.u.job_reply.job.job.job_id.b, 0x42, DOB_GUID_LEN);
	rep.u.job_reply.job.job.display_name = dob_strdup("fetch");
	rep.u.job_reply.job.job.state = DOB_STATE_QUEUED;
	fake_send(f, &rep);
	dob_msg_clear(&rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(client, submit_sends_the_job_and_returns_its_id, .timeout = 10)
{
	struct dob_file_spec file = { .remote_url = "http://h/a", .local_path = "/tmp/a" };
	struct dob_submit_job job = {
		.display_name = "fetch", .n_files = 1, .files = &file,
		.priority = DOB_PRIORITY_HIGH,
		.policy = { .kind = DOB_POLICY_RESUME, .max_resumes = 2, .backoff_ms = 10,
			    .exhausted = DOB_POLICY_CANCEL, .deadline_ms = 900 },
	};
	struct dob_job_reply rep;
	struct dobc *c;
	int r;

	start(s_submit);
	c = connect_ok(NULL);
	r = dobc_submit(c, &job, &rep, 3000);
	cr_assert_eq(r, 0, "dobc_submit: %s (%s)", dobc_strerror(r), dobc_last_error(c)->message);
	cr_expect(rep.has_job);
	cr_expect_eq(rep.job.job.job_id.b[0], 0x42);
	dobc_job_reply_clear(&rep);
	dobc_close(c);
	stop();
}

Test(client, invalid_request_is_einval_and_nothing_is_sent, .timeout = 10)
{
	struct dob_action_result res;
	struct dob_guid job;
	struct dobc *c;
	int r;

	memset(&job, 1, sizeof job);
	start(s_idle);
	c = connect_ok(NULL);
	r = dobc_act(c, &job, 0, DOB_ACTION_RESUME_AFTER_DELAY, 0, &res, 1000);
	cr_expect_eq(r, -DOB_EINVAL, "got %s", dobc_strerror(r));
	cr_expect(strstr(dobc_last_error(c)->message, "delay_ms") != NULL, "message: %s",
		  dobc_last_error(c)->message);
	cr_expect_eq(res.status, 0);
	/* The connection goes on. */
	cr_expect_eq(dobc_process(c), 0);
	dobc_close(c);
	stop();
}

static void s_ping_wrong_nonce(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_PONG };

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_PING, &req) < 0)
		return;
	rep.correlation_id = req.correlation_id;
	rep.u.ping.nonce = req.u.ping.nonce + 1;
	fake_send(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(client, pong_with_another_nonce_is_a_protocol_error, .timeout = 10)
{
	struct dobc *c;
	int r;

	start(s_ping_wrong_nonce);
	c = connect_ok(NULL);
	r = dobc_ping(c, NULL, 3000);
	cr_expect_eq(r, -DOB_EPROTO, "got %s", dobc_strerror(r));
	dobc_close(c);
	stop();
}

static void s_echo_ping(struct fake *f)
{
	struct dob_msg req;

	if (fake_handshake(f) < 0)
		return;
	while (fake_recv(f, &req, 5000) == 0) {
		if (req.type == DOB_MSG_PING) {
			req.type = DOB_MSG_PONG;
			fake_send(f, &req);
		}
		dob_msg_clear(&req);
	}
}

Test(client, ping_measures_the_round_trip, .timeout = 10)
{
	struct dobc *c;
	int64_t rtt = -1;

	start(s_echo_ping);
	c = connect_ok(NULL);
	cr_expect_eq(dobc_ping(c, &rtt, 3000), 0);
	cr_expect_gt(rtt, 0);
	cr_expect_lt(rtt, 3000000);
	cr_expect_eq(dobc_ping(c, NULL, 3000), 0);
	dobc_close(c);
	stop();
}

/* ---------------------------------------------------------------- queue bound */

static void s_flood(struct fake *f)
{
	struct dob_msg req, m;
	int i;

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_PING, &req) < 0)
		return;
	for (i = 0; i < 10; i++) {
		fake_job_modified(&m, (uint8_t)i);
		fake_send(f, &m);
		dob_msg_clear(&m);
	}
	for (i = 0; i < 2; i++) {
		fake_job_error(&m, 0x70, (uint64_t)(100 + i));
		fake_send(f, &m);
		dob_msg_clear(&m);
	}
	req.type = DOB_MSG_PONG;
	fake_send(f, &req);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(client, full_local_queue_drops_non_errors_into_a_gap_and_keeps_errors, .timeout = 10)
{
	struct dobc_options o = { .client_name = "tclient", .max_queued_events = 4 };
	struct dob_msg m;
	struct dobc *c;
	int i;

	start(s_flood);
	c = connect_ok(&o);
	cr_assert_eq(dobc_ping(c, NULL, 3000), 0, "%s", dobc_last_error(c)->message);
	cr_expect_eq(dobc_pending(c), 4 + 1 + 2);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(dobc_next_event(c, &m, 0), 0);
		cr_expect_eq(m.type, DOB_MSG_JOB_MODIFIED);
		cr_expect_eq(m.u.job_modified.job.job_id.b[0], i);
		dob_msg_clear(&m);
	}
	cr_assert_eq(dobc_next_event(c, &m, 0), 0);
	cr_expect_eq(m.type, DOB_MSG_GAP);
	cr_expect_eq(m.u.gap.dropped, 6);
	cr_expect_eq(m.u.gap.first_dropped_seq, 0);
	dob_msg_clear(&m);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(dobc_next_event(c, &m, 0), 0);
		cr_expect_eq(m.type, DOB_MSG_JOB_ERROR);
		cr_expect_eq(m.u.job_error.episode_id, (uint64_t)(100 + i));
		dob_msg_clear(&m);
	}
	cr_expect_eq(dobc_pending(c), 0);
	dobc_close(c);
	stop();
}

/* ---------------------------------------------------------------- event loop */

static void s_events_later(struct fake *f)
{
	struct dob_msg m;
	int i;

	if (fake_handshake(f) < 0)
		return;
	usleep(100 * 1000);
	for (i = 0; i < 3; i++) {
		fake_job_modified(&m, (uint8_t)(0x10 + i));
		fake_send(f, &m);
		dob_msg_clear(&m);
	}
	fake_wait_eof(f, 5000);
}

Test(client, poll_handle_becomes_readable_and_process_queues_events, .timeout = 10)
{
	struct pollfd p;
	struct dob_msg m;
	struct dobc *c;
	int64_t t0;
	int r = 0, i;

	start(s_events_later);
	c = connect_ok(NULL);
	p.fd = (int)dobc_poll_handle(c);
	p.events = POLLIN;
	cr_expect_eq(dobc_process(c), 0);
	t0 = now_ms();
	while (dobc_pending(c) < 3 && now_ms() - t0 < 3000) {
		cr_assert_eq(poll(&p, 1, 3000), 1);
		r = dobc_process(c);
		cr_assert_geq(r, 0, "dobc_process: %s", dobc_strerror(r));
	}
	cr_expect_eq(r, 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(dobc_next_event(c, &m, 0), 0);
		cr_expect_eq(m.u.job_modified.job.job_id.b[0], 0x10 + i);
		dob_msg_clear(&m);
	}
	cr_expect_eq(poll(&p, 1, 0), 0, "the handle stays readable with nothing left");
	dobc_close(c);
	stop();
}
