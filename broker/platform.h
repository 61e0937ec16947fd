/*
 * broker/platform.h - the one interface the portable core uses to reach the OS.
 *
 * Implemented once per platform: broker/posix/ (Unix sockets, poll loop,
 * SO_PEERCRED) and broker/win32/ (named pipes, IOCP, token identity). The core
 * never includes <windows.h> or <sys/socket.h>.
 *
 * Model (libuv-like, completion style, so IOCP and poll both fit): the
 * platform owns the listening endpoint and every connection, does all I/O,
 * and calls the core's handlers on the loop thread. The core hands whole
 * buffers to write; the platform reports when a write has been handed to the
 * OS in full (sent), so the core keeps its own bounded queue of frames and
 * decides what to drop. Timers live in the core (broker/core/timer.c): the
 * loop asks the core how long it may sleep and calls tick() when it wakes.
 *
 * Threads: every handler runs on the loop thread. plat_post() is the only
 * function that other threads (COM workers, RPC callback threads) may call.
 */
#ifndef DOB_PLATFORM_H
#define DOB_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/msg.h"

struct plat_loop;
struct plat_conn;

/* Where the broker listens and who may connect. */
struct plat_listen_opts {
	const char *endpoint;   /* socket path (POSIX) or pipe name (Windows) */
	bool allow_sandboxed;   /* Windows: admit AppContainer / low integrity callers */
	const char *const *package_sids; /* Windows: extra AppContainer package SIDs (NULL-terminated), optional */
	bool service_mode;      /* Windows: the machine service's pipe DACL (docs/security.md) */
	uint32_t pipe_instances; /* Windows: fixed pool size (1..254), all created at listen; 0 = 128 */
	/* POSIX test/dev facility ("identity override"): extra listening sockets
	 * whose connections are given a fixed identity instead of SO_PEERCRED's
	 * (pid still comes from the OS). Format of each entry:
	 *   PATH=key:value,key:value   keys: uid sid appcontainer integrity
	 *                              sandboxed(0|1) privileged(0|1) internet(0|1)
	 * Used by tests to play other users and sandboxed callers. NULL-terminated. */
	const char *const *test_listeners;
};

/* The core's side: called on the loop thread. */
struct plat_handlers {
	void *ctx;
	/* A client connected. *peer is the OS's word on who it is (pid, user SID
	 * or uid, AppContainer SID, integrity, sandboxed, privileged); it is only
	 * valid during the call (copy it). */
	void (*accepted)(void *ctx, struct plat_conn *c, const struct dob_identity *peer);
	/* Bytes arrived. Valid only during the call. */
	void (*data)(void *ctx, struct plat_conn *c, const uint8_t *p, size_t n);
	/* The last plat_conn_write has been handed to the OS in full; the core
	 * may write again. */
	void (*sent)(void *ctx, struct plat_conn *c);
	/* The connection is gone (peer hung up: err 0 or -DOB_ECLOSED; I/O error:
	 * another code). After this the core must not use c; the platform frees
	 * it once the call returns. Not called for conns the core closed with
	 * plat_conn_close(). */
	void (*closed)(void *ctx, struct plat_conn *c, int err);
	/* A message posted by plat_post() from any thread; ownership passes to
	 * the handler. */
	void (*posted)(void *ctx, void *msg);
	/* How long the loop may sleep (ms; -1 = until I/O or a post). */
	int64_t (*next_timeout_ms)(void *ctx);
	/* The loop woke up (I/O, post or timeout): run due timers. */
	void (*tick)(void *ctx);
};

/* ------------------------------------------------------------ loop */

int plat_loop_new(struct plat_loop **out, const struct plat_handlers *h);
void plat_loop_free(struct plat_loop *l); /* NULL-safe; closes everything */

/* Starts listening. Fails with -DOB_EEXIST when another server already owns
 * the endpoint (a live broker answers on it), and a specific message in
 * errbuf. */
int plat_listen(struct plat_loop *l, const struct plat_listen_opts *o, char *errbuf,
		size_t errlen);

/* Runs until plat_loop_stop() or a fatal error. Returns 0 or an error. */
int plat_loop_run(struct plat_loop *l);
/* Thread-safe and async-signal-safe: the loop returns after this wake-up. */
void plat_loop_stop(struct plat_loop *l);

/* Thread-safe: queue msg for handlers.posted on the loop thread. Returns 0 or
 * -DOB_ENOMEM (the caller keeps msg then). */
int plat_post(struct plat_loop *l, void *msg);

/* What plat_post() carries: every posted message is a heap object whose
 * first member is a struct plat_msg. The core's posted handler calls
 * m->run(m) on the loop thread; run owns m (frees it). A backend's worker
 * threads use this to hand events and results to the loop, and run() then
 * calls the backend sink. */
struct plat_msg {
	void (*run)(struct plat_msg *m);
};

/* Installs SIGINT/SIGTERM (POSIX) or console control (Windows) handling that
 * calls plat_loop_stop(l). */
int plat_handle_signals(struct plat_loop *l);

/* ------------------------------------------------------------ connections */

/* Queue one buffer for writing. The platform copies nothing: buf must stay
 * valid until handlers.sent (or closed) for this conn. At most one write in
 * flight per connection: -DOB_EAGAIN if one is. */
int plat_conn_write(struct plat_conn *c, const uint8_t *buf, size_t n);
/* Closes now; pending writes are dropped. No closed() callback follows. */
void plat_conn_close(struct plat_conn *c);
/* Write the remaining in-flight buffer (if any), then close. No closed()
 * callback follows; used after sending a ProtocolError. */
void plat_conn_close_after_write(struct plat_conn *c);
/* (Added by the POSIX layer.) Since no callback says when that last write is
 * over, the platform bounds it: a peer that has not taken the buffer within
 * PLAT_CLOSE_AFTER_WRITE_MAX_MS of plat_conn_close_after_write() is cut off,
 * and the platform never touches the buffer after that. The core may free
 * it once this much time has passed (or at plat_loop_free). */
#define PLAT_CLOSE_AFTER_WRITE_MAX_MS 10000
/* The core's pointer for this connection. */
void plat_conn_set_data(struct plat_conn *c, void *data);
void *plat_conn_get_data(struct plat_conn *c);

/* ------------------------------------------------------------ clock */

/* Monotonic milliseconds and microseconds, for timers and latency. */
int64_t plat_now_ms(void);
int64_t plat_now_us(void);
/* Wall clock, microseconds since 1970-01-01 UTC (event timestamps). */
int64_t plat_wall_us(void);

/* ------------------------------------------------------------ files */

struct plat_file;

/* The state directory: created if missing (mode 0700 / owner-only ACL).
 * Paths below are full paths. */
int plat_mkdir_private(const char *dir);
/* Opens for appending, creating if missing. */
int plat_file_open_append(const char *path, struct plat_file **out);
/* Writes all of buf (returns -DOB_ENOSPC when the disk is full, -DOB_EIO
 * otherwise) and, if sync, flushes to stable storage. */
int plat_file_write(struct plat_file *f, const void *buf, size_t n, bool sync);
/* Truncates to len (drops a torn tail). */
int plat_file_truncate(struct plat_file *f, uint64_t len);
void plat_file_close(struct plat_file *f); /* NULL-safe */
/* Reads a whole file (dob_free *buf). -DOB_ENOTFOUND when missing. */
int plat_file_read_all(const char *path, uint8_t **buf, size_t *len);
/* Atomically replaces path with tmp (rename / MoveFileEx REPLACE_EXISTING). */
int plat_file_replace(const char *tmp, const char *path);
int plat_file_remove(const char *path);

/* Confused-deputy check: could `who` itself create/write the file at path?
 * POSIX: probe-create in the target directory with the caller's fsuid/fsgid.
 * Windows: AccessCheck with the client's pipe token. Returns 0,
 * -DOB_EACCES (who may not), -DOB_ENOTFOUND (directory missing), or
 * -DOB_EINVAL for a path form that is refused whoever asks (relative; on
 * Windows also UNC, device, \\?\, alternate streams, DOS device names:
 * dob/trust.h), before any file system call. */
int plat_check_path_writable(const struct dob_identity *who, const char *path);

/* ------------------------------------------------------------ program */

struct backend;

/* dobrokerd's main() is `return plat_main(argc, argv, run);`. POSIX returns
 * run(argc, argv). Windows may first handle its own commands (install,
 * uninstall, --service: win_service.h) and then calls run, in a console or
 * as the service's body. run's arguments are UTF-8. */
int plat_main(int argc, char **argv, int (*run)(int argc, char **argv));
/* The backends this platform offers besides the portable "sim"
 * (sim_backend_new): "do", "bits" and "auto" on Windows, none on POSIX
 * (-DOB_ENOTFOUND with errbuf saying so). */
int plat_backend_new(struct backend **out, const char *name, char *errbuf, size_t errlen);
/* The backend used when none is configured: "sim" on POSIX, "auto" on
 * Windows. */
const char *plat_default_backend(void);

/* Default state directory for this user (per-user location). */
int plat_default_state_dir(char *buf, size_t len);
/* Default endpoint (socket path / pipe name). */
const char *plat_default_endpoint(void);

#endif
