/*
 * tests/fakes/fake_plat.h - an in-memory broker/platform.h for unit tests
 * (tests/fakes/fake_plat.c): fake connections whose written bytes are
 * captured, a manual clock, and posts delivered on demand. The files half of
 * platform.h is tests/fakes/fake_files.c.
 *
 * Nothing happens by itself: a test drives the loop with fake_pump() (writes
 * complete, posts run, due timers fire) and moves time with
 * fake_clock_advance(). Single-threaded except plat_post().
 */
#ifndef DOB_FAKE_PLAT_H
#define DOB_FAKE_PLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

struct plat_loop;
struct plat_conn;

/* Clock back to its start (monotonic 1000 ms; wall clock 2026-01-01),
 * path rules cleared. Call before creating a loop. */
void fake_plat_reset(void);
int64_t fake_now_ms(void);
/* Moves the clock forward and lets the loop run (fake_pump). */
void fake_clock_advance(struct plat_loop *l, int64_t ms);
/* The wall clock (only) jumps by us, e.g. backwards as an NTP step does;
 * reset by fake_plat_reset(). */
void fake_wall_step(int64_t us);

/* A client connects with the given OS identity (the handlers' accepted()
 * runs). The conn belongs to the loop; it stays readable after close. */
struct plat_conn *fake_connect(struct plat_loop *l, const struct dob_identity *peer);
/* The client sends bytes (data() runs at once). */
void fake_conn_send(struct plat_conn *c, const void *p, size_t n);
/* The client hangs up (a write in flight reports -DOB_ECLOSED, then
 * closed() runs with err 0). */
void fake_conn_hangup(struct plat_conn *c);
/* The client shuts down its sending side (eof() runs); it still reads. */
void fake_conn_shutdown(struct plat_conn *c);
/* The platform's last word on c was said (closed() or the close callback):
 * the core has let go of it. */
bool fake_conn_released(const struct plat_conn *c);
/* A stalled conn's writes never complete (a client that does not read). */
void fake_conn_stall(struct plat_conn *c, bool stalled);
/* Bytes the client has received and not yet taken; returns them in *p
 * (valid until the next call on c) and marks them taken. */
size_t fake_conn_take(struct plat_conn *c, const uint8_t **p);
bool fake_conn_is_closed(const struct plat_conn *c);  /* by the core (close requested) */
bool fake_conn_write_pending(const struct plat_conn *c);
uint64_t fake_conn_writes(const struct plat_conn *c); /* plat_conn_write calls */

/* Completes the writes of every conn that is not stalled, runs every post
 * and every due timer, until nothing is left to do. Returns the number of
 * callbacks made. */
size_t fake_pump(struct plat_loop *l);
/* The endpoint the core listens on ("" before plat_listen). */
const char *fake_listen_endpoint(const struct plat_loop *l);
size_t fake_listen_test_listeners(const struct plat_loop *l);

/* plat_check_path_writable answers err for every path starting with
 * prefix (up to 8 rules; fake_plat_reset clears them). */
void fake_path_rule(const char *prefix, int err);
/* plat_check_paths answers from the rules above, through a post (its
 * callback runs at the next fake_pump). A check with a path starting with
 * the prefix given to fake_path_hold(l, prefix) is held instead (NULL: none
 * is), until fake_path_release(l) posts every held answer, in order;
 * fake_path_pending(l) counts those waiting, fake_path_started(l) every
 * check started on l. Checks still held when the loop is freed are
 * answered -DOB_ECLOSED. */
void fake_path_hold(struct plat_loop *l, const char *prefix);
void fake_path_release(struct plat_loop *l);
size_t fake_path_pending(const struct plat_loop *l);
size_t fake_path_started(const struct plat_loop *l);

#endif
