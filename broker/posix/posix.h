/*
 * broker/posix/posix.h - what the files of the POSIX platform share.
 *
 * Private to broker/posix/ (and to tests/platform/, which tests the errno
 * mapping directly). The core sees only broker/platform.h.
 *
 * Files and what they own:
 *   loop_posix.c    struct plat_loop, the epoll loop, plat_post, plat_loop_stop
 *   sock_posix.c    listeners and connections (struct plat_conn), plat_listen
 *   ident_posix.c   SO_PEERCRED -> struct dob_identity, test-listener specs
 *   file_posix.c    plat_file_*, state dir, default endpoint
 *   path_posix.c    plat_check_path_writable, plat_check_paths (the confused-deputy probe)
 *   clock_posix.c   plat_now_ms/us, plat_wall_us
 *   signal_posix.c  plat_handle_signals
 *   err_posix.c     errno -> -DOB_E*
 */
#ifndef DOB_POSIX_H
#define DOB_POSIX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* ------------------------------------------------------------ lists */

/* Intrusive circular doubly-linked list; a node that is in no list points to
 * itself, so removing it twice is harmless. */
struct dlist {
	struct dlist *prev, *next;
};

static inline void dl_init(struct dlist *n)
{
	n->prev = n->next = n;
}
static inline bool dl_empty(const struct dlist *head)
{
	return head->next == head;
}
static inline void dl_remove(struct dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	dl_init(n);
}
static inline void dl_push_back(struct dlist *head, struct dlist *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}
/* Moves every node of from to the (empty) list to. */
static inline void dl_take_all(struct dlist *to, struct dlist *from)
{
	dl_init(to);
	if (dl_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	dl_init(from);
}

/* ------------------------------------------------------------ loop */

/* What an epoll event's data.ptr points to. */
enum pollkind {
	POLL_WAKE,     /* the loop's eventfd */
	POLL_LISTENER, /* struct listener */
	POLL_CONN,     /* struct plat_conn */
};

struct pollable {
	enum pollkind kind;
	int fd;
};

struct listener;

struct plat_loop {
	int epfd;
	struct pollable wake;     /* eventfd: plat_post and plat_loop_stop */
	struct plat_handlers h;   /* copied at plat_loop_new */
	atomic_int stop;          /* set by plat_loop_stop (signal-safe) */

	pthread_mutex_t post_mu;  /* protects post_ring/cap/head/count */
	void **post_ring;         /* owned array; the messages are in transit */
	size_t post_cap, post_head, post_count;

	/* Connections, by the state they are in (loop thread only). */
	struct dlist conns;       /* open: the core holds them */
	struct dlist lingering;   /* close_after_write: flushing, then closed */
	struct dlist zombies;     /* closed; freed at the end of the iteration */
	struct dlist ready;       /* conns with a sent/closed callback owed */
	size_t n_conns;           /* in conns and lingering */

	struct listener *listeners; /* owned list */
	uint8_t *rbuf;            /* owned; the one read buffer (see sock_posix.c) */
	size_t rbuf_len;
	int reserve_fd;           /* spare fd released when accept hits EMFILE */
};

/* ------------------------------------------------------------ sock_posix.c */

/* An epoll event for a listener / a connection (p is the one registered). */
void sock_on_listener(struct plat_loop *l, struct pollable *p);
void sock_on_conn(struct plat_loop *l, struct pollable *p, uint32_t events);
/* Delivers the sent()/closed() callbacks owed by conns in l->ready. */
void sock_run_ready(struct plat_loop *l);
/* Milliseconds until the next lingering conn must be given up (-1: none). */
int64_t sock_linger_timeout_ms(struct plat_loop *l, int64_t now_ms);
/* Closes lingering conns past their deadline and frees the zombies whose
 * last callbacks are made (now_ms < 0: every zombie, with no callback). */
void sock_reap(struct plat_loop *l, int64_t now_ms);
/* Closes every conn and listener (plat_loop_free). */
void sock_close_all(struct plat_loop *l);

/* ------------------------------------------------------------ ident_posix.c */

/* The fixed identity of a test listener; a field not given in the spec is
 * taken from the OS (uid) or derived (see ident_posix.c). */
struct ident_override;

/* Parses "PATH=key:value,..." (platform.h). On success *path (dob_free) and
 * *ov (ident_override_free) are the caller's. On failure -DOB_EINVAL and a
 * message naming the spec in errbuf. */
int ident_parse_spec(const char *spec, char **path, struct ident_override **ov, char *errbuf,
		     size_t errlen);
void ident_override_free(struct ident_override *ov); /* NULL-safe */

/* Buffers the strings of an identity point into (valid as long as it). */
struct ident_buf {
	char sid[32];
	char empty[1];
};

/* Who is on the other end of the connected Unix socket fd: SO_PEERCRED,
 * then the override if ov. The strings of *id point into *b or *ov. */
int ident_of_peer(int fd, const struct ident_override *ov, struct dob_identity *id,
		  struct ident_buf *b);

/* ------------------------------------------------------------ signal_posix.c */

/* plat_loop_free: stop routing signals to l. */
void signal_forget(struct plat_loop *l);

/* ------------------------------------------------------------ err_posix.c */

/* errno value -> -DOB_E* (ENOSPC/EDQUOT -> -DOB_ENOSPC, ENOENT -> -DOB_ENOTFOUND,
 * EACCES/EPERM/EROFS -> -DOB_EACCES, ...; unknown -> -DOB_EIO). */
int posix_err(int e);

#endif
