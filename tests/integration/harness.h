/*
 * harness.h - real processes over real sockets: start dobrokerd (sim
 * backend) in a private temporary directory, connect clients with
 * libdobclient, spawn dobctl, and wait for events.
 *
 * Every process a test starts is registered and stopped by hb_stop() /
 * hb_cleanup(), which every test calls from its .fini; a broker also dies with
 * the test process (PR_SET_PDEATHSIG), so a crashed test leaves nothing.
 */
#ifndef DOB_INTEG_HARNESS_H
#define DOB_INTEG_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dob/codec.h"
#include "dob/msg.h"
#include "dobclient.h"

#define HB_PATH 512
#define HB_MAX_ARGS 48
#define HB_MAX_LISTENERS 8

struct hb_broker {
	pid_t pid;
	char dir[64];           /* private temp dir (kept across restarts) */
	char sock[HB_PATH];     /* main endpoint (root: privileged) */
	char state[HB_PATH];    /* state directory */
	char log[HB_PATH];      /* broker stderr, appended across restarts */
	char scenario[HB_PATH]; /* scenario file, empty when none */
	char files[HB_PATH];    /* a 0777 directory for local paths of any uid */
	int n_args;
	char *args[HB_MAX_ARGS]; /* extra flags, owned */
	int n_listeners;
	char listener_sock[HB_MAX_LISTENERS][HB_PATH];
	char listener_spec[HB_MAX_LISTENERS][HB_PATH];
	bool unclean;           /* a stop was found unclean (already said) */
};

/* The exit status a sanitized dobrokerd ends with when it found an error or
 * a leak (the harness sets it in ASAN/UBSAN/TSAN_OPTIONS). Under valgrind
 * (make valgrind) the report in the broker's log is what counts. */
#define HB_SAN_EXIT 66
#define HB_SAN_EXIT_STR "66"

/* Sets up the directory and the scenario (NULL = none). Extra broker flags
 * follow as NULL-terminated strings ("--deadline-ms=300", ...). */
void hb_init(struct hb_broker *b, const char *scenario, ...);
/* Adds a test listener (identity override): returns the index; the socket
 * path is b->listener_sock[i]. spec is "uid:1000,sid:S-1-5-21-1,..." */
int hb_add_identity(struct hb_broker *b, const char *spec);
/* Starts dobrokerd and waits until it answers a handshake. */
void hb_start(struct hb_broker *b);
/* SIGTERM, wait (SIGKILL after 5 s). Returns the exit status as waitpid's.
 * Anything but exit 0, or a sanitizer report in the broker's log, is a
 * failed expectation (cr_expect) with the report printed on stderr: in a
 * test body the test fails; from a .fini (where Criterion counts no failure)
 * scripts/check.sh fails the suite on the printed report. */
int hb_stop(struct hb_broker *b);
/* SIGKILL and reap. */
void hb_kill9(struct hb_broker *b);
/* Stops the broker if running (hb_stop's checks; a log with a sanitizer
 * report from a killed broker is said the same way) and removes the
 * directory. */
void hb_cleanup(struct hb_broker *b);
/* The broker's log so far (static buffer) for assertion messages. */
const char *hb_log_tail(const struct hb_broker *b);

/* Connects to an endpoint (cr_assert on failure). */
struct dobc *hc_connect(const char *endpoint, const char *name, enum dob_role role,
			const struct dob_filter *filter);
/* Connect without asserting; returns the error code. */
int hc_try_connect(const char *endpoint, const char *name, enum dob_role role,
		   const struct dob_filter *filter, struct dobc **out,
		   struct dobc_error *err);

/* Waits for the next event of type t (others are skipped and cleared).
 * Returns 0, or -DOB_ETIMEDOUT. */
int hc_wait(struct dobc *c, enum dob_msg_type t, struct dob_msg *out, int timeout_ms);
/* Collects every event arriving within ms; returns how many of type t came
 * (all events are cleared; the last of type t is copied to *last if given). */
int hc_count(struct dobc *c, enum dob_msg_type t, int ms, struct dob_msg *last);

/* Waits for the JobError of job (others are skipped); asserts that it comes
 * and returns its episode id. */
uint64_t hc_wait_error(struct dobc *c, const struct dob_guid *job, int timeout_ms);
/* GetStats; asserts OK. The caller dobc_stats_clear()s the result. */
struct dob_stats hc_stats(struct dobc *c);
/* Waits until the broker counts want subscribers (GetStats, which does not
 * count the client asking); the deadline only catches a hang. */
void hc_wait_subscribers(struct dobc *mon, uint32_t want);

/* Submits one file; asserts OK and returns the job id. */
struct dob_guid hc_submit(struct dobc *c, const char *name, const char *url,
			  const char *local_path, const struct dob_policy *policy);
/* Submits and returns the reply status (reply cleared). */
enum dob_status hc_submit_status(struct dobc *c, const char *name, const char *url,
				 const char *local_path, char *msg, size_t msglen);

/* Runs a program (path relative to the build's bin dir for "dobctl"), with
 * stdout captured to a file; returns its pid. */
pid_t hp_spawn_dobctl(const char *out_path, char *const argv[]);
/* Waits for pid up to timeout_ms; returns the exit status or -1 on timeout
 * (the process is then killed). */
int hp_wait(pid_t pid, int timeout_ms);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t hp_now_ms(void);

/* Absolute path of a program in the build's bin dir (or in $DOB_IT_BINDIR:
 * the TSan run uses the programs of build/native-san-thread/). */
const char *hp_bin(const char *name);
/* Reads a whole small file into a static buffer. */
const char *hp_read(const char *path);
/* Counts occurrences of needle in hay. */
int hp_count(const char *hay, const char *needle);

/* ---------------------------------------------------------------- process
 * figures (Linux /proc): what the broker holds. */

/* VmRSS of pid in KiB, or -1. */
long hp_rss_kb(pid_t pid);
/* Open fds of pid (entries of /proc/PID/fd), or -1. */
int hp_fd_count(pid_t pid);
/* Raises this process's RLIMIT_NOFILE (soft, and hard when allowed) to at
 * least want; children (a broker started later) inherit it. Returns the soft
 * limit now in force. */
long hp_raise_nofile(long want);

/* ---------------------------------------------------------------- raw peer
 * A client that speaks frames by hand over a Unix socket: for pipelined
 * requests and floods libdobclient would never send. Bytes past a frame are
 * kept for the next read. */
struct hr_conn {
	int fd;
	struct dob_decoder dec;
	uint8_t buf[65536];
	size_t off, len; /* unread bytes of buf */
};

/* Connects (cr_assert on failure). */
void hr_open(struct hr_conn *r, const char *path);
void hr_close(struct hr_conn *r);
/* Sends all n bytes (cr_assert on failure). */
void hr_send(struct hr_conn *r, const void *p, size_t n);
/* Encodes m (default frame limit) and sends it. */
void hr_send_msg(struct hr_conn *r, const struct dob_msg *m);
/* Sends Hello (version 1, the name and role given). */
void hr_hello(struct hr_conn *r, const char *name, enum dob_role role);
/* The next frame within timeout_ms: 0 and *out filled (dob_msg_clear it),
 * -DOB_ETIMEDOUT, or -DOB_ECLOSED when the broker hung up. cr_asserts that
 * the broker's frames decode. */
int hr_next(struct hr_conn *r, struct dob_msg *out, int timeout_ms);
/* Skips frames until one of type t: 0, -DOB_ETIMEDOUT or -DOB_ECLOSED. */
int hr_until(struct hr_conn *r, enum dob_msg_type t, struct dob_msg *out, int timeout_ms);

#endif
