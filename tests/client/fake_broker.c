/*
 * tests/client/fake_broker.c - the scripted fake broker (fake_broker.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_broker.h"

void fake_check(struct fake *f, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok || f->failed)
		return;
	f->failed = true;
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof f->why, fmt, ap);
	va_end(ap);
}

static void *run(void *p)
{
	struct fake *f = p;

	f->script(f);
	return NULL;
}

int fake_start(struct fake *f, fake_script script, void *arg)
{
	struct sockaddr_un sa;
	const char *tmp = getenv("TMPDIR");

	memset(f, 0, sizeof *f);
	f->cfd = -1;
	f->lfd = -1;
	f->script = script;
	f->arg = arg;
	dob_decoder_init(&f->dec, DOB_MAX_FRAME_DEFAULT);
	snprintf(f->dir, sizeof f->dir, "%s/dobc-test-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/broker.sock", f->dir);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(f->lfd, 8) < 0)
		return -1;
	if (pthread_create(&f->thread, NULL, run, f) != 0)
		return -1;
	return 0;
}

int fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	if (f->cfd >= 0)
		close(f->cfd);
	if (f->lfd >= 0)
		close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	dob_decoder_free(&f->dec);
	dob_msg_clear(&f->hello);
	return f->failed ? -1 : 0;
}

int fake_accept(struct fake *f)
{
	struct pollfd p = { .fd = f->lfd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1) {
		fake_check(f, false, "no client connected within 5 s");
		return -1;
	}
	f->cfd = accept(f->lfd, NULL, NULL);
	fake_check(f, f->cfd >= 0, "accept: %s", strerror(errno));
	return f->cfd >= 0 ? 0 : -1;
}

int fake_recv(struct fake *f, struct dob_msg *m, int timeout_ms)
{
	memset(m, 0, sizeof *m);
	for (;;) {
		struct dob_codec_error ce;
		size_t used = 0;
		struct pollfd p = { .fd = f->cfd, .events = POLLIN };
		ssize_t n;
		int r;

		while (f->pos < f->len) {
			r = dob_decoder_feed(&f->dec, f->buf + f->pos, f->len - f->pos, &used, m, &ce);
			if (r < 0) {
				fake_check(f, false, "bad frame from the client: %s", ce.reason);
				return -1;
			}
			if (r == 0) {
				f->pos = f->len;
				break;
			}
			f->pos += used;
			return 0;
		}
		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		n = read(f->cfd, f->buf, sizeof f->buf);
		if (n <= 0)
			return -1;
		f->pos = 0;
		f->len = (size_t)n;
	}
}

int fake_expect(struct fake *f, enum dob_msg_type type, struct dob_msg *m)
{
	if (fake_recv(f, m, 5000) < 0) {
		fake_check(f, false, "no %s from the client", dob_msg_type_name(type));
		return -1;
	}
	if (m->type != type) {
		fake_check(f, false, "got %s from the client, want %s", dob_msg_type_name(m->type),
			   dob_msg_type_name(type));
		dob_msg_clear(m);
		return -1;
	}
	return 0;
}

int fake_send_raw(struct fake *f, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = send(f->cfd, b, n, MSG_NOSIGNAL);

		if (w <= 0) {
			fake_check(f, false, "send: %s", strerror(errno));
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int fake_send(struct fake *f, const struct dob_msg *m)
{
	struct dob_codec_error ce;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = dob_encode(m, DOB_MAX_FRAME_CEILING, &buf, &len, &ce);

	if (r < 0) {
		fake_check(f, false, "encode %s: %s", dob_msg_type_name(m->type), ce.reason);
		return -1;
	}
	r = fake_send_raw(f, buf, len);
	dob_free(buf);
	return r;
}

int fake_handshake(struct fake *f)
{
	struct dob_msg w = { .type = DOB_MSG_WELCOME };
	int r;

	if (fake_accept(f) < 0 || fake_expect(f, DOB_MSG_HELLO, &f->hello) < 0)
		return -1;
	w.u.welcome.version = 1;
	w.u.welcome.session_id = 42;
	w.u.welcome.backend = DOB_BACKEND_SIM;
	w.u.welcome.limits.max_frame_bytes = DOB_MAX_FRAME_DEFAULT;
	w.u.welcome.limits.max_inflight_requests = 16;
	w.u.welcome.identity.pid = 1234;
	w.u.welcome.identity.uid = 1000;
	w.u.welcome.identity.user_sid = dob_strdup("uid:1000");
	w.u.welcome.broker_version = dob_strdup("dobroker fake");
	w.u.welcome.pending_episodes = 2;
	r = fake_send(f, &w);
	dob_msg_clear(&w);
	return r;
}

void fake_refuse_hello(struct fake *f, enum dob_perr code, const char *message)
{
	struct dob_msg m = { .type = DOB_MSG_PROTOCOL_ERROR };

	if (fake_accept(f) < 0 || fake_expect(f, DOB_MSG_HELLO, &f->hello) < 0)
		return;
	m.u.protocol_error.code = code;
	m.u.protocol_error.message = dob_strdup(message);
	fake_send(f, &m);
	dob_msg_clear(&m);
}

void fake_hangup(struct fake *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	f->cfd = -1;
}

void fake_wait_eof(struct fake *f, int timeout_ms)
{
	struct dob_msg m;

	while (fake_recv(f, &m, timeout_ms) == 0)
		dob_msg_clear(&m);
}

static void job_info(struct dob_job_info *j, uint8_t job_byte, enum dob_job_state st)
{
	memset(j->job_id.b, job_byte, sizeof j->job_id.b);
	j->display_name = dob_strdup("test job \"quoted\"");
	j->type = DOB_JOB_DOWNLOAD;
	j->state = st;
	j->progress.bytes_total = DOB_SIZE_UNKNOWN;
	j->progress.files_total = 1;
}

void fake_job_error(struct dob_msg *m, uint8_t job_byte, uint64_t episode)
{
	memset(m, 0, sizeof *m);
	m->type = DOB_MSG_JOB_ERROR;
	job_info(&m->u.job_error.job, job_byte, DOB_STATE_ERROR);
	m->u.job_error.episode_id = episode;
	m->u.job_error.error.context = DOB_CONTEXT_REMOTE_FILE;
	m->u.job_error.error.hresult = 0x80190194u;
	m->u.job_error.error.description = dob_strdup("HTTP 404: not found\nsecond line");
	m->u.job_error.error.context_description = dob_strdup("remote file");
	m->u.job_error.error.protocol = dob_strdup("http");
	m->u.job_error.error.has_file = true;
	m->u.job_error.error.file.remote_url = dob_strdup("http://127.0.0.1:1/missing.bin");
	m->u.job_error.error.file.local_name = dob_strdup("/tmp/out/missing.bin");
	m->u.job_error.error.file.progress.bytes_total = DOB_SIZE_UNKNOWN;
	m->u.job_error.repeat_count = 3;
	m->u.job_error.backend = DOB_BACKEND_SIM;
	m->u.job_error.default_policy.kind = DOB_POLICY_RESUME;
	m->u.job_error.default_policy.max_resumes = 2;
	m->u.job_error.default_policy.backoff_ms = 1000;
	m->u.job_error.default_policy.exhausted = DOB_POLICY_CANCEL;
}

void fake_job_modified(struct dob_msg *m, uint8_t job_byte)
{
	memset(m, 0, sizeof *m);
	m->type = DOB_MSG_JOB_MODIFIED;
	job_info(&m->u.job_modified.job, job_byte, DOB_STATE_TRANSFERRING);
	m->u.job_modified.backend = DOB_BACKEND_SIM;
}

void fake_resolution(struct dob_msg *m, uint8_t job_byte, uint64_t episode)
{
	memset(m, 0, sizeof *m);
	m->type = DOB_MSG_RESOLUTION;
	memset(m->u.resolution.job_id.b, job_byte, DOB_GUID_LEN);
	m->u.resolution.episode_id = episode;
	m->u.resolution.action = DOB_ACTION_RESUME;
	m->u.resolution.resolved_by = DOB_RESOLVED_CONTROLLER;
	m->u.resolution.actor.session_id = 7;
	m->u.resolution.actor.client_name = dob_strdup("other");
	m->u.resolution.actor.pid = 99;
	m->u.resolution.new_state = DOB_STATE_QUEUED;
	m->u.resolution.message = dob_strdup("");
}
