/*
 * bench/native/native.h - what the native benchmark's parts share: the
 * clocks, running dobrokerd (bench/native/broker.c), the raw Unix-socket
 * transport of the baselines (bench/native/raw.c), and failure reporting
 * (bench/native_bench.c, which measures and reports).
 */
#ifndef DOB_BENCH_NATIVE_H
#define DOB_BENCH_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "bench_util.h"
#include "dob/msg.h"
#include "dobclient.h"

/* A measurement that did not work (counted; the run exits 1). */
void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where dobrokerd is (find_bindir() sets it from /proc/self/exe). */
extern char bindir[4096];

struct bk {
	pid_t pid;
	char dir[200];
	char sock[300], state[300], scen[300], log[300], files[300];
	char *argv[64];                 /* kept for bk_restart */
	char a_ep[320], a_st[320], a_sc[320], prog[4200];
};

struct rconn {
	int fd;
	uint8_t *buf; /* owned, RBUF bytes */
	size_t have;
	uint64_t frames;
};

struct rreader {
	struct rconn *c;
	int n, ep;
	uint64_t want;       /* frames per conn */
	bool stamp;          /* frames carry a timestamp: record latencies */
	bool peek;           /* frames are the broker's JobErrors: latency from
			      * their first_seen_us, read off the wire */
	struct bvec *lat;    /* latency samples (ns) when stamp */
	int64_t first_ns;    /* earliest timestamp seen (stamp) */
	int64_t done_ns;     /* wall time the last conn got its last frame */
	uint8_t *first;      /* owned: body of conn 0's first frame */
	size_t first_len;
};

struct raw_pair {
	int n;
	int rd[256], wr[256];
};

int64_t wall_ns(void);
int64_t mono_ns(void);
void sleep_until_wall(int64_t t_ns);
void sleep_ms(int ms);
void find_bindir(void);
const char *log_tail(const struct bk *b);
int bk_start(struct bk *b, const char *scenario, size_t scenario_len,
		    const char *const *extra);
int bk_spawn(struct bk *b);
void bk_stop(struct bk *b);
int64_t rss_of(pid_t pid);
int64_t cpu_of(pid_t pid);
int64_t self_cpu_ns(void);
int64_t journal_bytes(const struct bk *b);
pid_t prof_start(const char *name, pid_t target);
void prof_stop(pid_t p);
int submit(struct dobc *c, const struct bk *b, const char *kind, int i);
int submit_many(const struct bk *b, const char *kind, int n);
int get_stats(const struct bk *b, struct dob_stats *st);
int64_t settled_rss(pid_t pid);
int wait_pending(const struct bk *b, uint32_t want, int timeout_ms);
void raw_frame(uint8_t *buf, size_t size, int64_t t_ns);
int write_all(int fd, const uint8_t *p, size_t n);
int read_all(int fd, uint8_t *p, size_t n);
int64_t peek_first_seen(const uint8_t *body, size_t len);
int rreader_init(struct rreader *r, const int *fds, int n, uint64_t want, bool stamp,
			struct bvec *lat);
void rreader_free(struct rreader *r);
int rreader_run(struct rreader *r, int64_t deadline);
int raw_pairs(struct raw_pair *p, int n);
void raw_close(struct raw_pair *p, bool rd, bool wr);
pid_t raw_writer(struct raw_pair *p, size_t size, uint64_t count, int64_t t0,
			int64_t period, size_t batch);
int wait_child(pid_t pid, struct rusage *ru);

#endif
