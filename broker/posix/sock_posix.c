/*
 * broker/posix/sock_posix.c - Unix stream socket listeners and connections.
 *
 * Listening. The endpoint is a socket file. Taking it over:
 *  1. an exclusive flock on "PATH.lock", held while we listen: two brokers
 *     starting at once cannot both decide the socket is stale and unlink
 *     each other's (the lock file is unlinked again when we stop);
 *  2. if PATH exists: not a socket -> refused (we never delete what we did
 *     not make); a socket that accepts a connect -> -DOB_EEXIST, "another
 *     broker is already listening on PATH"; refused -> stale, unlinked;
 *  3. bind, chmod 0666, listen.
 * Mode 0666 is deliberate: access control is by identity, not by file mode.
 * Every connection is tagged with the peer's uid from SO_PEERCRED, and the
 * core decides per job what that identity may see and do (a user sees its
 * own jobs, root all). Any user may subscribe to its own jobs, as on Windows
 * where the pipe's DACL admits users; a mode would only be a second, coarser
 * policy that cannot say "only your own jobs". The directory (per-user
 * $XDG_RUNTIME_DIR by default) still bounds who can reach the file.
 *
 * Connections. Level-triggered EPOLLIN always, EPOLLOUT only while a write
 * is in flight. Reads go into the loop's one 64 KiB buffer and straight to
 * handlers.data: the bytes are valid only during the call and every handler
 * runs on the loop thread, so a buffer per connection would cost 64 KiB per
 * idle subscriber for nothing. At most READ_BUDGET reads per connection per
 * wake-up, so one flooding client cannot starve the rest.
 *
 * Callbacks are never made from inside a plat_* call the core made: a write
 * that completes (or fails) inside plat_conn_write owes its sent() to the
 * loop, which delivers it right after the current event batch (the same
 * completion-port shape as Windows). Every write the core started ends in
 * one sent(status); a closed conn then gets its close callback (or closed()
 * when the peer broke it), and only then is it freed, at the end of the
 * loop iteration (an event later in the same batch may still point at it).
 *
 * close_after_write: we flush the buffer in flight, discard what the peer
 * sent meanwhile (so that it reads our last bytes and a clean EOF rather
 * than ECONNRESET) and close. A peer that never reads is given GRACE_MS,
 * then cut off (the write reports -DOB_ECLOSED).
 *
 * End of stream: the peer may only have shut down its sending side, so a
 * read of 0 is handlers.eof (the conn stays writable; the core answers, e.g.
 * TRUNCATED, and closes). We stop reading it; a hang-up reported after that
 * (EPOLLHUP) is closed().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"
#include "posix.h"

#define READ_BUDGET 4      /* reads of rbuf_len per conn per wake-up */
#define ACCEPT_BUDGET 128  /* accepts per listener per wake-up */
#define DRAIN_BUDGET 16    /* reads discarded before a graceful close */
#define GRACE_MS 5000     /* close_after_write: time given to a slow reader */

struct listener {
	struct pollable p;
	struct listener *next;
	char *path;                /* owned */
	bool bound;                /* we created the socket file (dev, ino) */
	dev_t dev;
	ino_t ino;
	char *lock_path;           /* owned */
	int lock_fd;
	struct ident_override *ov; /* owned; NULL: the OS's identity */
};

enum conn_state {
	CONN_OPEN,   /* the core's */
	CONN_LINGER, /* close_after_write: flushing the write in flight */
	CONN_DEAD,   /* fd closed; freed once its callbacks are made */
};

struct plat_conn {
	struct pollable p;
	struct plat_loop *loop;  /* borrowed */
	struct dlist link;       /* in loop->conns, lingering or zombies */
	struct dlist ready_link; /* in loop->ready while a callback is owed */
	void *data;              /* the core's */
	enum conn_state state;
	const uint8_t *wbuf;     /* borrowed from the core until sent() */
	size_t wlen, woff;
	bool writing;            /* from plat_conn_write until sent() */
	bool write_done;         /* over: sent(write_status) owed */
	int write_status;
	bool core_closed;        /* plat_conn_close*: close_cb owed at the end */
	plat_close_cb close_cb;
	bool broken;             /* failed under the core: closed(broken_err) owed */
	int broken_err;
	bool peer_eof;           /* read 0: eof() made, no more reads */
	bool released;           /* the last callback is made */
	uint32_t events;         /* epoll interest now */
	int64_t linger_deadline_ms;
};

/* ------------------------------------------------------------ conns */

static void set_events(struct plat_conn *c, uint32_t events)
{
	struct epoll_event ev;

	if (c->events == events || c->state == CONN_DEAD)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = &c->p;
	if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->p.fd, &ev) < 0)
		log_warn("epoll_ctl(MOD, conn fd %d): %s", c->p.fd, strerror(errno));
	else
		c->events = events;
}

static void owe_callback(struct plat_conn *c)
{
	if (c->ready_link.next == &c->ready_link)
		dl_push_back(&c->loop->ready, &c->ready_link);
}

/* The write in flight is over with status: its sent() is owed. */
static void write_over(struct plat_conn *c, int status)
{
	if (!c->writing || c->write_done)
		return;
	c->write_done = true;
	c->write_status = status;
	c->wbuf = NULL;
	owe_callback(c);
}

/* Closes the fd and makes c a zombie; a write still in flight is cancelled
 * (-DOB_ECLOSED) and the last callbacks are owed. graceful: discard what the
 * peer sent and we never read, so that it gets EOF after our last bytes
 * instead of ECONNRESET (Linux resets a Unix socket closed with unread data). */
static void conn_kill(struct plat_conn *c, bool graceful)
{
	struct plat_loop *l = c->loop;

	if (c->state == CONN_DEAD)
		return;
	if (graceful) {
		for (int i = 0; i < DRAIN_BUDGET; i++) {
			ssize_t r = recv(c->p.fd, l->rbuf, l->rbuf_len, MSG_DONTWAIT);

			if (r <= 0 && !(r < 0 && errno == EINTR))
				break;
		}
	}
	/* Explicit DEL: a forked child (path_posix.c) may briefly hold a copy
	 * of the fd, and epoll would keep reporting the open description. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->p.fd, NULL);
	close(c->p.fd);
	c->p.fd = -1;
	c->state = CONN_DEAD;
	write_over(c, -DOB_ECLOSED);
	dl_remove(&c->link);
	dl_push_back(&l->zombies, &c->link);
	l->n_conns--;
	owe_callback(c);
}

/* The conn broke under the core (err 0 or -DOB_ECLOSED: hang-up): closed()
 * is owed, after the sent() of a write in flight. */
static void conn_fail(struct plat_conn *c, int err)
{
	if (!c->core_closed && !c->broken) {
		c->broken = true;
		c->broken_err = err;
	}
	conn_kill(c, false);
}

/* 0: all written; -DOB_EAGAIN: the kernel's buffer is full; else an error. */
static int try_write(struct plat_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t r = send(c->p.fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r >= 0) {
			c->woff += (size_t)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -DOB_EAGAIN;
		return posix_err(errno); /* EPIPE, ECONNRESET -> -DOB_ECLOSED */
	}
	return 0;
}

/* The write in flight is all in the kernel (err 0), or failed. */
static void write_result(struct plat_conn *c, int err)
{
	if (err == -DOB_EAGAIN)
		return;
	if (c->state == CONN_LINGER) {
		write_over(c, err);
		conn_kill(c, err == 0);
		return;
	}
	write_over(c, err);
	if (err) {
		conn_fail(c, err);
		return;
	}
	set_events(c, c->peer_eof ? 0 : EPOLLIN);
}

int plat_conn_write(struct plat_conn *c, const uint8_t *buf, size_t n)
{
	int err;

	if (!c || (!buf && n))
		return -DOB_EINVAL;
	if (c->state != CONN_OPEN || c->core_closed || c->broken)
		return -DOB_ECLOSED;
	if (c->writing)
		return -DOB_EAGAIN;
	c->wbuf = buf;
	c->wlen = n;
	c->woff = 0;
	c->writing = true;
	c->write_done = false;
	err = try_write(c);
	if (err == -DOB_EAGAIN)
		set_events(c, c->peer_eof ? EPOLLOUT : EPOLLIN | EPOLLOUT);
	else
		write_result(c, err);
	return 0;
}

void plat_conn_close(struct plat_conn *c, plat_close_cb cb)
{
	if (!c || c->core_closed)
		return;
	c->core_closed = true;
	c->close_cb = cb;
	conn_kill(c, false);
	owe_callback(c); /* also when it was dead already */
}

void plat_conn_close_after_write(struct plat_conn *c, plat_close_cb cb)
{
	struct plat_loop *l;

	if (!c || c->core_closed)
		return;
	c->core_closed = true;
	c->close_cb = cb;
	if (c->state != CONN_OPEN) {
		owe_callback(c);
		return;
	}
	if (!c->writing || c->write_done) { /* nothing left for us to write */
		conn_kill(c, true);
		return;
	}
	l = c->loop;
	c->state = CONN_LINGER;
	dl_remove(&c->link);
	dl_push_back(&l->lingering, &c->link);
	c->linger_deadline_ms = plat_now_ms() + GRACE_MS;
	set_events(c, EPOLLOUT);
}

void plat_conn_set_data(struct plat_conn *c, void *data)
{
	c->data = data;
}

void *plat_conn_get_data(struct plat_conn *c)
{
	return c->data;
}

/* The callbacks owed by c: a write's sent(), then, once c is dead, its
 * close callback (the core closed it) or closed() (it broke). */
static void deliver(struct plat_loop *l, struct plat_conn *c)
{
	if (c->write_done) {
		c->write_done = false;
		c->writing = false;
		if (l->h.sent)
			l->h.sent(l->h.ctx, c, c->write_status);
	}
	if (c->state != CONN_DEAD || c->released || c->writing)
		return;
	c->released = true;
	if (c->core_closed) {
		if (c->close_cb)
			c->close_cb(c);
	} else if (l->h.closed) {
		l->h.closed(l->h.ctx, c, c->broken_err);
	}
}

void sock_run_ready(struct plat_loop *l)
{
	struct dlist todo;

	/* Callbacks owed from now on (a write completing inside sent()) wait
	 * for the next iteration, which then does not sleep. */
	dl_take_all(&todo, &l->ready);
	while (!dl_empty(&todo)) {
		struct plat_conn *c = container_of(todo.next, struct plat_conn, ready_link);

		dl_remove(&c->ready_link);
		deliver(l, c);
	}
}

static void read_some(struct plat_conn *c)
{
	struct plat_loop *l = c->loop;

	for (int i = 0; i < READ_BUDGET;) {
		ssize_t r = recv(c->p.fd, l->rbuf, l->rbuf_len, 0);

		if (r > 0) {
			if (l->h.data)
				l->h.data(l->h.ctx, c, l->rbuf, (size_t)r);
			if (c->state != CONN_OPEN || c->core_closed || c->broken)
				return;
			if ((size_t)r < l->rbuf_len)
				return; /* drained; level-triggered epoll says if not */
			i++;
		} else if (r == 0) {
			if (!l->h.eof) {
				conn_fail(c, 0);
				return;
			}
			/* Perhaps only a half-close: the peer may still read. */
			c->peer_eof = true;
			set_events(c, c->writing && !c->write_done ? EPOLLOUT : 0);
			l->h.eof(l->h.ctx, c);
			return;
		} else if (errno != EINTR) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_fail(c, posix_err(errno));
			return;
		}
	}
}

void sock_on_conn(struct plat_loop *l, struct pollable *p, uint32_t events)
{
	struct plat_conn *c = container_of(p, struct plat_conn, p);

	(void)l; /* c->loop */
	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_LINGER) {
		if (events & (EPOLLERR | EPOLLHUP)) {
			conn_kill(c, false); /* the peer is gone: nobody to flush to */
			return;
		}
		if (events & EPOLLOUT)
			write_result(c, try_write(c));
		return;
	}
	if ((events & (EPOLLOUT | EPOLLERR)) && c->writing && !c->write_done) {
		write_result(c, try_write(c));
		if (c->state != CONN_OPEN || c->broken)
			return;
	}
	if (c->peer_eof) {
		if (events & (EPOLLHUP | EPOLLERR))
			conn_fail(c, -DOB_ECLOSED); /* gone for good, not just half-closed */
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_some(c);
}

int64_t sock_linger_timeout_ms(struct plat_loop *l, int64_t now_ms)
{
	int64_t best = -1;

	for (struct dlist *n = l->lingering.next; n != &l->lingering; n = n->next) {
		struct plat_conn *c = container_of(n, struct plat_conn, link);
		int64_t t = c->linger_deadline_ms > now_ms ? c->linger_deadline_ms - now_ms : 0;

		if (best < 0 || t < best)
			best = t;
	}
	return best;
}

void sock_reap(struct plat_loop *l, int64_t now_ms)
{
	struct dlist *n = l->lingering.next;

	while (n != &l->lingering) {
		struct plat_conn *c = container_of(n, struct plat_conn, link);

		n = n->next;
		if (c->linger_deadline_ms <= now_ms) {
			log_debug("conn fd %d: peer did not read our last %zu bytes in %d ms; closing",
				  c->p.fd, c->wlen - c->woff, GRACE_MS);
			conn_kill(c, false);
		}
	}
	/* Zombies whose last callbacks are made (the others wait for the
	 * next iteration's sock_run_ready). */
	n = l->zombies.next;
	while (n != &l->zombies) {
		struct plat_conn *c = container_of(n, struct plat_conn, link);

		n = n->next;
		if (c->ready_link.next != &c->ready_link && now_ms >= 0)
			continue;
		dl_remove(&c->ready_link);
		dl_remove(&c->link);
		dob_free(c);
	}
}

/* ------------------------------------------------------------ accepting */

static void new_conn(struct plat_loop *l, struct listener *ls, int fd)
{
	struct ident_buf ib;
	struct dob_identity id;
	struct plat_conn *c;
	struct epoll_event ev;
	int err;

	err = ident_of_peer(fd, ls->ov, &id, &ib);
	if (err) {
		log_warn("accept on %s: no peer credentials (%s); closing", ls->path,
			 dob_strerror(err));
		close(fd);
		return;
	}
	c = dob_calloc(1, sizeof *c);
	if (!c) {
		log_warn("accept on %s: out of memory; closing the connection of pid %u", ls->path,
			 (unsigned)id.pid);
		close(fd);
		return;
	}
	c->p.kind = POLL_CONN;
	c->p.fd = fd;
	c->loop = l;
	c->state = CONN_OPEN;
	c->events = EPOLLIN;
	dl_init(&c->link);
	dl_init(&c->ready_link);
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &c->p;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("accept on %s: epoll_ctl: %s; closing", ls->path, strerror(errno));
		close(fd);
		dob_free(c);
		return;
	}
	dl_push_back(&l->conns, &c->link);
	l->n_conns++;
	if (l->h.accepted)
		l->h.accepted(l->h.ctx, c, &id);
}

/* Out of fds: take the pending connection with the reserve fd and close it,
 * rather than leave it in the backlog where level-triggered epoll would
 * report it again at once, forever. */
static void shed_one(struct plat_loop *l, struct listener *ls, int why)
{
	static int64_t last_log_ms; /* loop thread; throttles the warning */
	int64_t now = plat_now_ms();
	int fd;

	if (now - last_log_ms >= 1000) {
		log_warn("accept on %s: %s with %zu connections open; refusing new ones", ls->path,
			 strerror(why), l->n_conns);
		last_log_ms = now;
	}
	if (l->reserve_fd < 0)
		return;
	close(l->reserve_fd);
	fd = accept4(ls->p.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void sock_on_listener(struct plat_loop *l, struct pollable *p)
{
	struct listener *ls = container_of(p, struct listener, p);

	for (int i = 0; i < ACCEPT_BUDGET; i++) {
		int fd = accept4(ls->p.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			new_conn(l, ls, fd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
			shed_one(l, ls, errno);
			return;
		default:
			log_warn("accept on %s: %s", ls->path, strerror(errno));
			return;
		}
	}
}

/* ------------------------------------------------------------ listening */

static void listener_free(struct plat_loop *l, struct listener *ls)
{
	struct stat st;

	if (!ls)
		return;
	if (ls->p.fd >= 0) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, ls->p.fd, NULL);
		close(ls->p.fd);
	}
	/* Unlink the socket file only if it is still the one we made. */
	if (ls->bound && lstat(ls->path, &st) == 0 && st.st_dev == ls->dev && st.st_ino == ls->ino)
		unlink(ls->path);
	if (ls->lock_fd >= 0) {
		unlink(ls->lock_path); /* while still holding the lock: see take_lock */
		close(ls->lock_fd);
	}
	dob_free(ls->path);
	dob_free(ls->lock_path);
	ident_override_free(ls->ov);
	dob_free(ls);
}

static int already_listening(const char *path, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "another broker is already listening on %s", path);
	return -DOB_EEXIST;
}

/* flock(PATH.lock). A lock file unlinked by its previous holder between our
 * open and our flock is not the live one: check the inode and retry. */
static int take_lock(struct listener *ls, char *errbuf, size_t errlen)
{
	for (int tries = 0; tries < 8; tries++) {
		struct stat a, b;
		int fd = open(ls->lock_path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0) {
			int e = errno;

			snprintf(errbuf, errlen, "cannot open lock file %s: %s", ls->lock_path,
				 strerror(e));
			return posix_err(e);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(fd);
			if (e == EWOULDBLOCK)
				return already_listening(ls->path, errbuf, errlen);
			snprintf(errbuf, errlen, "cannot lock %s: %s", ls->lock_path, strerror(e));
			return posix_err(e);
		}
		if (fstat(fd, &a) == 0 && lstat(ls->lock_path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			ls->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	snprintf(errbuf, errlen, "cannot lock %s: it keeps being replaced", ls->lock_path);
	return -DOB_EIO;
}

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path)
		return -DOB_EINVAL;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* A socket file at path that nobody answers on is removed; one that answers
 * means another broker; anything else is left alone and refused. */
static int clear_stale(const char *path, char *errbuf, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int s, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		e = errno;
		snprintf(errbuf, errlen, "cannot stat %s: %s", path, strerror(e));
		return posix_err(e);
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(errbuf, errlen, "%s exists and is not a socket; refusing to replace it",
			 path);
		return -DOB_EEXIST;
	}
	make_addr(path, &sa);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		e = errno;
		snprintf(errbuf, errlen, "socket: %s", strerror(e));
		return posix_err(e);
	}
	r = connect(s, (struct sockaddr *)&sa, sizeof sa);
	e = errno;
	close(s);
	/* EAGAIN: a live listener whose backlog is full. */
	if (r == 0 || e == EAGAIN || e == EINPROGRESS)
		return already_listening(path, errbuf, errlen);
	if (e == ENOENT)
		return 0;
	if (e != ECONNREFUSED) {
		snprintf(errbuf, errlen, "cannot tell whether a broker listens on %s: %s", path,
			 strerror(e));
		return posix_err(e);
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		e = errno;
		snprintf(errbuf, errlen, "cannot remove stale socket %s: %s", path, strerror(e));
		return posix_err(e);
	}
	log_info("removed stale socket %s (nobody listening)", path);
	return 0;
}

/* Opens one listener; ov (owned from now on) is its fixed identity or NULL. */
static int listen_one(struct plat_loop *l, const char *path, struct ident_override *ov,
		      struct listener **out, char *errbuf, size_t errlen)
{
	struct listener *ls;
	struct sockaddr_un sa;
	struct epoll_event ev;
	struct stat st;
	size_t plen;
	int err, e;

	*out = NULL;
	if (!path || !*path || make_addr(path, &sa) < 0) {
		snprintf(errbuf, errlen, "bad socket path '%.200s': empty or longer than %zu bytes",
			 path ? path : "", sizeof sa.sun_path - 1);
		ident_override_free(ov);
		return -DOB_EINVAL;
	}
	ls = dob_calloc(1, sizeof *ls);
	if (!ls) {
		ident_override_free(ov);
		goto nomem;
	}
	ls->p.kind = POLL_LISTENER;
	ls->p.fd = ls->lock_fd = -1;
	ls->ov = ov;
	plen = strlen(path);
	ls->path = dob_strdup(path);
	ls->lock_path = dob_malloc(plen + sizeof ".lock");
	if (!ls->path || !ls->lock_path) {
		listener_free(l, ls);
		goto nomem;
	}
	memcpy(ls->lock_path, path, plen);
	memcpy(ls->lock_path + plen, ".lock", sizeof ".lock");

	err = take_lock(ls, errbuf, errlen);
	if (err)
		goto fail;
	err = clear_stale(path, errbuf, errlen);
	if (err)
		goto fail;
	ls->p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ls->p.fd < 0) {
		e = errno;
		snprintf(errbuf, errlen, "socket: %s", strerror(e));
		err = posix_err(e);
		goto fail;
	}
	if (bind(ls->p.fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		e = errno;
		if (e == EADDRINUSE) {
			err = already_listening(path, errbuf, errlen);
		} else {
			snprintf(errbuf, errlen, "cannot bind %s: %s", path, strerror(e));
			err = posix_err(e);
		}
		goto fail;
	}
	if (lstat(path, &st) == 0) {
		ls->bound = true;
		ls->dev = st.st_dev;
		ls->ino = st.st_ino;
	}
	if (chmod(path, 0666) < 0 || listen(ls->p.fd, SOMAXCONN) < 0) {
		e = errno;
		snprintf(errbuf, errlen, "cannot listen on %s: %s", path, strerror(e));
		err = posix_err(e);
		goto fail;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &ls->p;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, ls->p.fd, &ev) < 0) {
		e = errno;
		snprintf(errbuf, errlen, "epoll_ctl(%s): %s", path, strerror(e));
		err = posix_err(e);
		goto fail;
	}
	*out = ls;
	return 0;
nomem:
	snprintf(errbuf, errlen, "out of memory listening on %s", path);
	return -DOB_ENOMEM;
fail:
	listener_free(l, ls);
	return err;
}

int plat_listen(struct plat_loop *l, const struct plat_listen_opts *o, char *errbuf,
		size_t errlen)
{
	struct listener *added = NULL, **tail = &added, *ls;
	char local[256];
	int err;

	if (!errbuf || !errlen) {
		errbuf = local;
		errlen = sizeof local;
	}
	errbuf[0] = '\0';
	if (!l || !o) {
		snprintf(errbuf, errlen, "plat_listen: no loop or no options");
		return -DOB_EINVAL;
	}
	err = listen_one(l, o->endpoint ? o->endpoint : plat_default_endpoint(), NULL, &ls,
			 errbuf, errlen);
	if (err)
		return err;
	*tail = ls;
	tail = &ls->next;
	for (size_t i = 0; o->test_listeners && o->test_listeners[i]; i++) {
		struct ident_override *ov;
		char *path;

		err = ident_parse_spec(o->test_listeners[i], &path, &ov, errbuf, errlen);
		if (err)
			goto fail;
		err = listen_one(l, path, ov, &ls, errbuf, errlen);
		dob_free(path);
		if (err)
			goto fail;
		log_warn("test listener on %s: its clients get a fixed identity (%s)", ls->path,
			 o->test_listeners[i]);
		*tail = ls;
		tail = &ls->next;
	}
	*tail = l->listeners;
	l->listeners = added;
	return 0;
fail:
	while (added) {
		ls = added->next;
		listener_free(l, added);
		added = ls;
	}
	return err;
}

void sock_close_all(struct plat_loop *l)
{
	while (!dl_empty(&l->conns))
		conn_kill(container_of(l->conns.next, struct plat_conn, link), false);
	while (!dl_empty(&l->lingering))
		conn_kill(container_of(l->lingering.next, struct plat_conn, link), false);
	sock_reap(l, -1); /* -1: every zombie, with no callback (the loop is going) */
	while (l->listeners) {
		struct listener *ls = l->listeners;

		l->listeners = ls->next;
		listener_free(l, ls);
	}
}
