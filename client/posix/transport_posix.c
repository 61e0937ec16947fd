/*
 * client/posix/transport_posix.c - the client's byte stream on POSIX: a Unix
 * stream socket, non-blocking, with poll() for every wait.
 *
 * connect() on a Unix socket completes at once or fails; EAGAIN means the
 * listener's backlog is full, which is retried every 10 ms until the
 * deadline (like WaitNamedPipeW for a busy pipe on Windows).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "deadline.h"
#include "dob/err.h"
#include "transport.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

struct transport {
	int fd;
};

int64_t transport_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int transport_default_endpoint(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg && *xdg)
		n = snprintf(buf, len, "%s/dobroker.sock", xdg);
	else
		n = snprintf(buf, len, "/tmp/dobroker-%u.sock", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len)
		return -DOB_EINVAL;
	return 0;
}

static int errno_code(int e)
{
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		return -DOB_ENOTFOUND;
	case EACCES:
	case EPERM:
		return -DOB_EACCES;
	case ENOMEM:
	case ENOBUFS:
		return -DOB_ENOMEM;
	case EPIPE:
	case ECONNRESET:
		return -DOB_ECLOSED;
	default:
		return -DOB_EIO;
	}
}

int transport_connect(struct transport **out, const char *endpoint, int timeout_ms,
		      char *why, size_t whylen)
{
	struct sockaddr_un sa;
	struct transport *t = NULL;
	int64_t deadline = deadline_after(timeout_ms);
	int fd = -1, r;

	*out = NULL;
	if (strlen(endpoint) >= sizeof sa.sun_path) {
		snprintf(why, whylen, "socket path too long (%zu bytes, at most %zu): %s",
			 strlen(endpoint), sizeof sa.sun_path - 1, endpoint);
		return -DOB_EINVAL;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, endpoint, strlen(endpoint) + 1);

	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = errno;
			snprintf(why, whylen, "socket: %s", strerror(r));
			return errno_code(r);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			break;
		r = errno;
		if (r == EINPROGRESS) {
			/* Not seen with Unix sockets on Linux, but allowed. */
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int so = 0;
			socklen_t sl = sizeof so;

			if (poll(&p, 1, deadline_left_ms(deadline)) == 0) {
				r = ETIMEDOUT;
			} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0) {
				break;
			} else {
				r = so ? so : errno;
			}
		}
		close(fd);
		fd = -1;
		if (r == EINTR)
			continue;
		if (r == EAGAIN && deadline_left_ms(deadline) != 0) {
			/* Backlog full: the broker is busy. Retry shortly. */
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			continue;
		}
		if (r == EAGAIN || r == ETIMEDOUT) {
			snprintf(why, whylen, "connect %s: busy until the timeout (%d ms)",
				 endpoint, timeout_ms);
			return -DOB_ETIMEDOUT;
		}
		snprintf(why, whylen, "connect %s: %s%s", endpoint, strerror(r),
			 r == ENOENT || r == ECONNREFUSED ? " (is dobrokerd running?)" : "");
		return errno_code(r);
	}

	t = dob_calloc(1, sizeof *t);
	if (!t) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return -DOB_ENOMEM;
	}
	t->fd = fd;
	*out = t;
	return 0;
}

int transport_wait(struct transport *t, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	struct pollfd p = { .fd = t->fd, .events = POLLIN };
	int r;

	for (;;) {
		r = poll(&p, 1, deadline_left_ms(deadline));
		if (r > 0)
			return 1; /* POLLIN, POLLHUP or POLLERR: read() says which */
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return errno_code(errno);
	}
}

int transport_read(struct transport *t, uint8_t *buf, size_t cap)
{
	ssize_t n;

	for (;;) {
		n = recv(t->fd, buf, cap, MSG_DONTWAIT);
		if (n > 0)
			return n > 0x7fffffff ? 0x7fffffff : (int)n;
		if (n == 0)
			return -DOB_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -DOB_EAGAIN;
		return errno_code(errno);
	}
}

int transport_write(struct transport *t, const uint8_t *buf, size_t n, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	size_t done = 0;

	while (done < n) {
		ssize_t w = send(t->fd, buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = t->fd, .events = POLLOUT };
			int r = poll(&p, 1, deadline_left_ms(deadline));

			if (r == 0)
				return -DOB_ETIMEDOUT;
			if (r < 0 && errno != EINTR)
				return errno_code(errno);
			continue;
		}
		return w < 0 ? errno_code(errno) : -DOB_EIO;
	}
	return 0;
}

intptr_t transport_poll_handle(const struct transport *t)
{
	return t->fd;
}

void transport_close(struct transport *t)
{
	if (!t)
		return;
	close(t->fd);
	dob_free(t);
}
