/*
 * tests/client/fake_broker.h - a scripted fake broker for the client tests:
 * a thread listening on a Unix socket in a fresh temporary directory that
 * runs one script function, speaking frames with the project's codec.
 *
 * The script runs on the fake's thread and must not use Criterion's asserts
 * there: it records what went wrong with fake_check(), and the test asserts
 * fake_stop()'s result (and f->why) on its own thread.
 */
#ifndef TESTS_CLIENT_FAKE_BROKER_H
#define TESTS_CLIENT_FAKE_BROKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/codec.h"
#include "dob/msg.h"

struct fake;
typedef void (*fake_script)(struct fake *f);

struct fake {
	char dir[64];        /* the temporary directory */
	char path[100];      /* the socket: dir/broker.sock (fits sun_path) */
	int lfd;             /* listening socket */
	int cfd;             /* the accepted connection, -1 before */
	pthread_t thread;
	fake_script script;
	void *arg;           /* for the script, set by the test */
	struct dob_decoder dec;
	uint8_t buf[4096];
	size_t pos, len;
	struct dob_msg hello;   /* the Hello fake_handshake received */
	bool failed;
	char why[512];          /* the first failure */
};

/* Creates the socket and starts script on a thread. 0 or -1. */
int fake_start(struct fake *f, fake_script script, void *arg);
/* Joins the thread, closes everything, removes the directory. Returns 0
 * when the script recorded no failure. */
int fake_stop(struct fake *f);

/* For scripts. */
void fake_check(struct fake *f, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int fake_accept(struct fake *f);
/* Receives one message within timeout_ms: 0, or -1 (timeout, EOF, bad frame). */
int fake_recv(struct fake *f, struct dob_msg *m, int timeout_ms);
/* Receives a message of the given type (recorded as a failure otherwise). */
int fake_expect(struct fake *f, enum dob_msg_type type, struct dob_msg *m);
int fake_send(struct fake *f, const struct dob_msg *m);
int fake_send_raw(struct fake *f, const void *p, size_t n);
/* accept + Hello + Welcome (session 42, backend sim, uid 1000). 0 or -1. */
int fake_handshake(struct fake *f);
/* accept + Hello, answered with ProtocolError(code, message). */
void fake_refuse_hello(struct fake *f, enum dob_perr code, const char *message);
/* Closes the connection now. */
void fake_hangup(struct fake *f);
/* Waits until the client hangs up (EOF), at most timeout_ms. */
void fake_wait_eof(struct fake *f, int timeout_ms);

/* Builders of sample events (owned strings: dob_msg_clear them). */
void fake_job_error(struct dob_msg *m, uint8_t job_byte, uint64_t episode);
void fake_job_modified(struct dob_msg *m, uint8_t job_byte);
void fake_resolution(struct dob_msg *m, uint8_t job_byte, uint64_t episode);

#endif
