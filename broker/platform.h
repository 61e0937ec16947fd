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
 * buffers to write, and every write it starts ends in exactly one sent()
 * callback, with a status: 0 when the OS has all of it, -DOB_ECLOSED when
 * the connection closed first (the write is cancelled), or another error.
 * Closing takes a close callback, made after the cancelled write's sent().
 * So the core always knows when a buffer or its session may be freed: there
 * is no "linger" time after which a buffer is assumed free (libuv's uv_write
 * and uv_close). Timers live in broker/base (timer.c): the loop asks the
 * core how long it may sleep and calls tick() when it wakes.
 *
 * Callbacks are never made from inside a plat_* call the core made (a write
 * that completes at once reports it from the loop, later): a handler may
 * close or write freely.
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
	/* The write started by plat_conn_write is over: status 0 when the OS
	 * has all of it; -DOB_ECLOSED when the connection was closed (by the
	 * core or the peer) before it was; another code for an I/O error. Made
	 * exactly once per write the platform took, also after
	 * plat_conn_close (before its close callback). The buffer is the
	 * core's again. */
	void (*sent)(void *ctx, struct plat_conn *c, int status);
	/* The peer will send nothing more (it closed, or shut down its
	 * sending side). The connection is still the core's: it may write (a
	 * peer that only half-closed reads it) and must plat_conn_close() it.
	 * Optional: when NULL, end of stream is reported as closed(0). */
	void (*eof)(void *ctx, struct plat_conn *c);
	/* The connection broke (I/O error, or the peer is gone while the core
	 * had not closed it: err 0 or -DOB_ECLOSED for a hang-up). A write in
	 * flight has had its sent() first. After this the core must not use c;
	 * the platform frees it once the call returns. Never made for a conn
	 * the core closed with plat_conn_close*(): that one gets its close
	 * callback instead. */
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
 * calls plat_loop_stop(l), and SIGHUP (POSIX) handling that asks for a
 * reload (below). */
int plat_handle_signals(struct plat_loop *l);
/* Reload requests (SIGHUP on POSIX; SERVICE_CONTROL_PARAMCHANGE to the
 * Windows service) make plat_loop_run return 0 as plat_loop_stop does.
 * plat_take_reload() then answers true, once per request, and never once
 * a stop was requested: the program reloads its settings on the loop
 * thread and runs the loop again. Thread-safe. */
bool plat_take_reload(void);

/* Operator events (log.h, dob_log_event): installs the platform's sink
 * (Windows: the Event Log, when the event source "dobroker" is registered;
 * POSIX has none: events are log lines). 0, or an error with errbuf saying
 * why events stay log lines only. plat_events_close() removes the sink. */
int plat_events_open(char *errbuf, size_t errlen);
void plat_events_close(void);

/* ------------------------------------------------------------ connections */

/* Starts writing one buffer. The platform copies nothing: buf stays the
 * core's only after handlers.sent for this write, which always comes (see
 * above). At most one write in flight per connection: -DOB_EAGAIN if one
 * is; -DOB_ECLOSED once the conn is closing. On any error return no sent()
 * follows and buf is the caller's at once. */
int plat_conn_write(struct plat_conn *c, const uint8_t *buf, size_t n);

/* Made once per plat_conn_close*(), on the loop thread and never from
 * inside the close call, after the sent() of a write that was in flight.
 * plat_conn_get_data(c) still answers; c is freed when it returns. */
typedef void (*plat_close_cb)(struct plat_conn *c);
/* Closes now: a write in flight is cancelled (sent() with -DOB_ECLOSED
 * unless it had just finished), then cb (may be NULL). No data(), eof() or
 * closed() callback follows. */
void plat_conn_close(struct plat_conn *c, plat_close_cb cb);
/* Finishes the write in flight (if any), then closes; the peer reads every
 * byte it was sent and then end of stream. A peer that does not take the
 * rest within the platform's bound (a few seconds) is cut off: sent() then
 * says -DOB_ECLOSED. cb as for plat_conn_close. Used after a ProtocolError. */
void plat_conn_close_after_write(struct plat_conn *c, plat_close_cb cb);
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
/* A read-only view of a whole file, for reading megabytes once from start
 * to end (the journal at a restart, the sim's persist file): the pages come
 * from the file cache in one go instead of being copied into fresh memory
 * page by page (each page of a fresh buffer is one page fault, which on a
 * virtual machine costs microseconds). *data is NULL when the file is
 * empty. The file must not shrink or be replaced while mapped; on Windows
 * it cannot be truncated or renamed over until plat_file_unmap. Returns 0,
 * -DOB_ENOTFOUND when missing, -DOB_EINVAL for a file that is not a
 * regular one, -DOB_EIO, -DOB_ENOMEM. */
struct plat_map;
int plat_file_map(const char *path, const uint8_t **data, size_t *len, struct plat_map **out);
void plat_file_unmap(struct plat_map *m); /* NULL-safe */
/* Atomically replaces path with tmp (rename / MoveFileEx REPLACE_EXISTING). */
int plat_file_replace(const char *tmp, const char *path);
int plat_file_remove(const char *path);

/* The state directory's lock, held for the broker's life so that two
 * brokers never share one journal: an exclusive, non-blocking lock
 * (flock / LockFileEx) on the file `lock` in dir, which also holds the
 * holder's process id (text). -DOB_EEXIST when another process holds it,
 * with errbuf naming its pid; other errors as for files. Released by
 * plat_dir_unlock (NULL-safe) or when the process ends, however it ends. */
struct plat_lock;
int plat_dir_lock(const char *dir, struct plat_lock **out, char *errbuf, size_t errlen);
void plat_dir_unlock(struct plat_lock *lk);

/* Confused-deputy check: could `who` itself create/write the file at path?
 * POSIX: probe-create in the target directory with the caller's fsuid/fsgid.
 * Windows: AccessCheck with the client's pipe token. Returns 0,
 * -DOB_EACCES (who may not), -DOB_ENOTFOUND (directory missing), or
 * -DOB_EINVAL for a path form that is refused whoever asks (relative; on
 * Windows also UNC, device, \\?\, alternate streams, DOS device names:
 * dob/trust.h), before any file system call. */
int plat_check_path_writable(const struct dob_identity *who, const char *path);

/* The same check for every path of a request, without blocking the loop
 * (on Windows GetNamedSecurityInfo and AccessCheck may wait on the file
 * system): the platform copies who and paths[0..n-1], checks them in order
 * and stops at the first refusal. cb(ctx, status, index) follows exactly
 * once, on the loop thread, never from inside this call: status as
 * plat_check_path_writable's for paths[index] (0 and index n when all
 * pass), or -DOB_ECLOSED when the loop was freed before the check could be
 * delivered. It arrives as a posted message (handlers.posted runs
 * struct plat_msg): plat_loop_free waits for checks under way and
 * delivers their callbacks, so free the loop before what ctx refers to.
 * Returns 0, or -DOB_ENOMEM / -DOB_EINVAL (n == 0) with no callback.
 * Windows: a thread-pool worker runs the checks. POSIX: the probe runs in
 * the call (local file systems; see path_posix.c) and only the callback
 * is deferred. */
typedef void (*plat_check_cb)(void *ctx, int status, size_t index);
int plat_check_paths(struct plat_loop *l, const struct dob_identity *who,
		     const char *const *paths, size_t n, plat_check_cb cb, void *ctx);

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
/* The machine service's state directory (--mode service without
 * --state-dir), created if missing and secured: Windows
 * %ProgramData%\dobroker, owned by SYSTEM, a protected DACL admitting
 * SYSTEM and Administrators only (service_win32.c lists the ACEs); an
 * existing one has that security set again, and one that is a junction or
 * link is refused. POSIX has no machine service: the per-user default,
 * created. 0, or an error with errbuf saying why. */
int plat_service_state_dir(char *buf, size_t len, char *errbuf, size_t errlen);
/* Default endpoint (socket path / pipe name). */
const char *plat_default_endpoint(void);

#endif
