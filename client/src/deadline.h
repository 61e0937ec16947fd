/*
 * client/src/deadline.h - timeouts as deadlines on the transport's
 * monotonic clock, shared by the client, the transports and the command
 * runner.
 */
#ifndef DOBC_DEADLINE_H
#define DOBC_DEADLINE_H

#include <stdint.h>

/* The deadline timeout_ms from now, in microseconds of transport_now_us();
 * -1 (never) when timeout_ms is negative. */
int64_t deadline_after(int timeout_ms);

/* Milliseconds left until the deadline, rounded up: -1 when it is never,
 * 0 when it has passed, else 1..INT32_MAX. */
int deadline_left_ms(int64_t deadline_us);

#endif
