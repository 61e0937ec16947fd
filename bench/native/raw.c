/*
 * bench/native/raw.c - the baselines' transport: frames written to Unix
 * socket pairs by a child process and read back with epoll, with no broker
 * in between.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "dob/codec.h"
#include "native.h"

/* ---------------------------------------------------------------- raw transport */

/* A frame like the broker's: u32 LE length, then a body of len bytes whose
 * first 8 bytes carry the writer's CLOCK_REALTIME in ns. */
void raw_frame(uint8_t *buf, size_t size, int64_t t_ns)
{
	uint32_t len = (uint32_t)(size - 4);

	memset(buf, 0xA5, size);
	buf[0] = (uint8_t)len;
	buf[1] = (uint8_t)(len >> 8);
	buf[2] = (uint8_t)(len >> 16);
	buf[3] = (uint8_t)(len >> 24);
	memcpy(buf + 4, &t_ns, sizeof t_ns);
}

int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Protobuf wire format, just enough to read Envelope.job_error (10)
 * .first_seen_us (4) without decoding the frame. 0 if absent. */
static const uint8_t *varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; p < end && shift < 64; shift += 7) {
		uint8_t b = *p++;

		*v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			return p;
	}
	return NULL;
}

static int64_t peek_field(const uint8_t *p, const uint8_t *end, uint32_t field, int depth)
{
	while (p && p < end) {
		uint64_t key, v;

		if (!(p = varint(p, end, &key)))
			return 0;
		switch (key & 7) {
		case 0:
			if (!(p = varint(p, end, &v)))
				return 0;
			if (depth == 1 && key >> 3 == field)
				return (int64_t)v;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			if (!(p = varint(p, end, &v)) || v > (uint64_t)(end - p))
				return 0;
			if (depth == 0 && key >> 3 == 10)
				return peek_field(p, p + v, field, 1);
			p += v;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

int64_t peek_first_seen(const uint8_t *body, size_t len)
{
	return peek_field(body, body + len, 4, 0);
}

/* A reader of length-prefixed frames on n fds (nonblocking), one thread. */

#define RBUF (256 * 1024)


int rreader_init(struct rreader *r, const int *fds, int n, uint64_t want, bool stamp,
			struct bvec *lat)
{
	struct epoll_event ev;

	memset(r, 0, sizeof *r);
	r->n = n;
	r->want = want;
	r->stamp = stamp;
	r->lat = lat;
	r->c = calloc((size_t)n, sizeof *r->c);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!r->c || r->ep < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		r->c[i].fd = fds[i];
		r->c[i].buf = malloc(RBUF);
		if (!r->c[i].buf)
			return -1;
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return -1;
	}
	return 0;
}

void rreader_free(struct rreader *r)
{
	for (int i = 0; r->c && i < r->n; i++)
		free(r->c[i].buf);
	free(r->c);
	free(r->first);
	r->first = NULL;
	if (r->ep >= 0)
		close(r->ep);
	r->c = NULL;
	r->ep = -1;
}

/* Reads until every conn has want frames or deadline (mono ns). Returns 0
 * when all arrived, -1 otherwise. */
int rreader_run(struct rreader *r, int64_t deadline)
{
	struct epoll_event evs[128];
	int left = r->n;

	while (left > 0) {
		int64_t now = mono_ns();
		int k;

		if (now >= deadline)
			return -1;
		k = epoll_wait(r->ep, evs, 128, (int)((deadline - now) / 1000000) + 1);
		for (int e = 0; e < k; e++) {
			struct rconn *c = &r->c[evs[e].data.u32];
			ssize_t got = read(c->fd, c->buf + c->have, RBUF - c->have);
			size_t off = 0;
			int64_t t = 0;

			if (got <= 0) {
				if (got < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
				if (c->frames < r->want)
					return -1; /* closed early */
				continue;
			}
			c->have += (size_t)got;
			if (r->stamp || r->peek)
				t = wall_ns();
			while (c->have - off >= 4) {
				const uint8_t *p = c->buf + off;
				uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
					       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

				if (c->have - off < 4 + (size_t)len)
					break;
				if (!r->first && c == r->c && (r->first = malloc(len ? len : 1))) {
					memcpy(r->first, p + 4, len);
					r->first_len = len;
				}
				if (r->peek) {
					int64_t us = peek_first_seen(p + 4, len);

					if (us > 0)
						bvec_push(r->lat, t - us * 1000);
				}
				if (r->stamp) {
					int64_t ts;

					memcpy(&ts, p + 4, sizeof ts);
					bvec_push(r->lat, t - ts);
					if (!r->first_ns || ts < r->first_ns)
						r->first_ns = ts;
				}
				off += 4 + len;
				if (++c->frames == r->want) {
					left--;
					r->done_ns = wall_ns();
				}
			}
			memmove(c->buf, c->buf + off, c->have - off);
			c->have -= off;
		}
	}
	return 0;
}


int raw_pairs(struct raw_pair *p, int n)
{
	p->n = n;
	for (int i = 0; i < n; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return -1;
		p->rd[i] = sv[0];
		p->wr[i] = sv[1];
	}
	return 0;
}

void raw_close(struct raw_pair *p, bool rd, bool wr)
{
	for (int i = 0; i < p->n; i++) {
		if (rd && p->rd[i] >= 0)
			close(p->rd[i]);
		if (wr && p->wr[i] >= 0)
			close(p->wr[i]);
		if (rd)
			p->rd[i] = -1;
		if (wr)
			p->wr[i] = -1;
	}
}

/* Child: writes count frames of size bytes to every fd of p. Paced: frame i
 * at t0 + i * period (period 0: as fast as possible). batch > 0: frames are
 * gathered into writes of up to batch bytes per fd (no pacing then). */
pid_t raw_writer(struct raw_pair *p, size_t size, uint64_t count, int64_t t0,
			int64_t period, size_t batch)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	raw_close(p, true, false);
	uint8_t *buf = malloc(batch > size ? batch : size);
	if (!buf)
		_exit(3);
	if (batch) {
		size_t per = batch / size;
		uint64_t i = 0;

		while (i < count) {
			size_t k = 0;
			int64_t t = wall_ns();

			for (; k < per && i + k < count; k++)
				raw_frame(buf + k * size, size, t);
			for (int f = 0; f < p->n; f++)
				if (write_all(p->wr[f], buf, k * size) < 0)
					_exit(4);
			i += k;
		}
	} else {
		for (uint64_t i = 0; i < count; i++) {
			if (period)
				sleep_until_wall(t0 + (int64_t)i * period);
			raw_frame(buf, size, wall_ns());
			for (int f = 0; f < p->n; f++)
				if (write_all(p->wr[f], buf, size) < 0)
					_exit(4);
		}
	}
	_exit(0);
}

int wait_child(pid_t pid, struct rusage *ru)
{
	int st = 0;

	if (wait4(pid, &st, 0, ru) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
