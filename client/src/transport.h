/*
 * client/src/transport.h - the byte stream under libdobclient.
 *
 * Implemented once per platform: client/posix/transport_posix.c (Unix
 * socket, non-blocking, poll) and client/win32/transport_win32.c (named pipe,
 * overlapped I/O). client.c and dobctl use only this interface, so they hold
 * no platform code.
 *
 * Not part of the public API: these symbols live in libdobclient.a for the
 * library's and dobctl's own use.
 */
#ifndef DOBC_TRANSPORT_H
#define DOBC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct transport;

/* Writes the platform's default endpoint into buf. 0 or -DOB_EINVAL. */
int transport_default_endpoint(char *buf, size_t len);

/* Connects to endpoint within timeout_ms (negative = forever). Returns 0,
 * -DOB_ENOTFOUND (nothing listens), -DOB_EACCES, -DOB_ETIMEDOUT (busy until
 * the deadline), -DOB_EINVAL (bad endpoint), -DOB_EIO or -DOB_ENOMEM; why
 * (whylen bytes) receives a sentence naming the endpoint and the OS's
 * reason. */
int transport_connect(struct transport **out, const char *endpoint, int timeout_ms,
		      char *why, size_t whylen);

/* Waits until bytes (or end of stream, or an error) can be read, up to
 * timeout_ms (negative = forever). Returns 1 ready, 0 timed out, or a
 * negative error. */
int transport_wait(struct transport *t, int timeout_ms);

/* Reads what has arrived without blocking: returns n > 0 bytes,
 * -DOB_EAGAIN (nothing now), -DOB_ECLOSED (end of stream) or -DOB_EIO. */
int transport_read(struct transport *t, uint8_t *buf, size_t cap);

/* Writes all n bytes, waiting up to timeout_ms (negative = forever) for
 * room. Returns 0, -DOB_ETIMEDOUT (the stream is then unusable: part of a
 * frame may be written), -DOB_ECLOSED or -DOB_EIO. */
int transport_write(struct transport *t, const uint8_t *buf, size_t n, int timeout_ms);

/* POSIX: the fd. Windows: an event HANDLE, signalled while bytes are
 * readable (level-triggered, like the fd). */
intptr_t transport_poll_handle(const struct transport *t);

/* NULL-safe. */
void transport_close(struct transport *t);

/* Monotonic clock. */
int64_t transport_now_us(void);

#endif
