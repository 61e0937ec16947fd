/*
 * tests/platform/harness.h - a small "core" for testing broker/posix/ through
 * broker/platform.h: the loop runs on its own thread, the test thread plays
 * the clients over real Unix sockets and runs code on the loop thread with
 * tcore_call().
 */
#ifndef TEST_PLATFORM_HARNESS_H
#define TEST_PLATFORM_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "platform.h"

#define TCORE_MAX_CONNS 10240

enum tmode {
	TMODE_ECHO,          /* write back whatever arrives */
	TMODE_SINK,          /* count what arrives, write nothing */
	TMODE_CLOSE_ON_DATA, /* plat_conn_close() inside data() */
	TMODE_ECHO_EOF,      /* echo; at end of stream write "EOF" and close after it */
	TMODE_REFUSE,        /* at accept: write "NO" and close after it (a refusal) */
};

/* The core's side of one connection. Loop thread only, except the atomics. */
struct tcore;

struct tconn {
	struct tcore *tc;        /* borrowed: the owner */
	struct plat_conn *c;     /* NULL once closed (by either side) */
	int idx;
	struct dob_identity id;  /* copied at accept; strings malloc'd */
	uint8_t *pend;           /* echo: received, not yet written */
	size_t pend_len;
	uint8_t *out;            /* the buffer in flight (or last written) */
	uint8_t *refusal;        /* TMODE_REFUSE: dob_malloc'd, freed at sent() */
	size_t out_len;
	bool writing;
	atomic_int n_sent;       /* sent() calls */
	atomic_int n_cancelled;  /* of which with -DOB_ECLOSED */
	atomic_int last_status;  /* of the last sent() */
	atomic_int n_close_cb;   /* close callbacks (tconn_close_cb) */
	atomic_int n_eof;        /* eof() calls */
	atomic_int closed;       /* closed() calls */
	atomic_int closed_err;
	atomic_long n_bytes;     /* bytes received */
	int last_write_rc;
};

struct tcore {
	struct plat_loop *loop;
	pthread_t th;
	bool running;
	int run_rc;
	enum tmode mode;
	int64_t timeout_ms;      /* what next_timeout_ms answers */
	atomic_int accepted, closed, sent, ticks, timeouts_asked, posted, close_cbs;
	atomic_int errors;       /* checks failed on the loop thread (LCHECK) */
	int64_t live0;           /* dob_alloc_live() at tcore_init */
	struct tconn *conns[TCORE_MAX_CONNS]; /* by accept order; loop thread writes */
	atomic_int n_conns;
	/* Messages posted by tests that are not calls (test_posix_loop.c). */
	void (*on_post)(struct tcore *tc, void *msg);
	void *user;
};

/* The close callback the tests give plat_conn_close*: counts, and checks
 * that the write in flight reported first. */
void tconn_close_cb(struct plat_conn *c);

/* A temporary directory (mkdtemp) removed with everything in it by tdir_free. */
char *tdir_new(void);
void tdir_free(char *dir);
/* dir "/" name, malloc'd. */
char *tpath(const char *dir, const char *name);

void tcore_init(struct tcore *tc, enum tmode mode);
/* plat_listen on path (and the test listener specs, NULL-terminated or
 * NULL); returns its result, errbuf filled. */
int tcore_listen(struct tcore *tc, const char *path, const char *const *tests, char *errbuf,
		 size_t errlen);
void tcore_start(struct tcore *tc);   /* runs plat_loop_run on a thread */
int tcore_stop(struct tcore *tc);     /* stop, join; returns run's result */
void tcore_free(struct tcore *tc);    /* stop if running, plat_loop_free, free conns */
/* tcore_free, then expect nothing of dob_* leaked since tcore_init. */
void tcore_done(struct tcore *tc);

/* Runs fn(tc, arg) on the loop thread (through plat_post) and waits. */
void tcore_call(struct tcore *tc, void (*fn)(struct tcore *tc, void *arg), void *arg);
/* The tconn accepted idx-th, waiting for it up to 5 s (NULL if none). */
struct tconn *tcore_conn(struct tcore *tc, int idx);

/* Assertions on the loop thread: Criterion's cr_assert may only fail on the
 * test's thread, so record the failure and let tcore_free() report it. */
#define LCHECK(tc, cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "loop thread: check failed: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			atomic_fetch_add(&(tc)->errors, 1);                    \
		}                                                              \
	} while (0)

/* Message kinds on plat_post; a test's own messages start with int kind >= 100. */
#define TMSG_CALL 1

/* Wait up to ms (polling each millisecond) for pred(arg) / for *v >= at_least. */
bool twait(bool (*pred)(void *), void *arg, int ms);
bool twait_int(atomic_int *v, int at_least, int ms);

/* Clients. */
int tclient_connect(const char *path);  /* blocking Unix socket; -1 on error */
void tsend_all(int fd, const void *buf, size_t n);
/* Reads exactly n bytes or until EOF/error/timeout; returns bytes read. */
size_t trecv_exact(int fd, void *buf, size_t n, int timeout_ms);
/* 0 at EOF, -errno on error, 1 if data, -ETIMEDOUT: waits for one read. */
int tread_one(int fd, int timeout_ms);

void tms_sleep(int ms);

/* Expects as many dob_* blocks live as live0 (dob_alloc_live() earlier):
 * every allocation of the platform layer goes through dob_malloc. */
void texpect_no_leak(int64_t live0);

#endif
