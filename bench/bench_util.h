/*
 * bench/bench_util.h - what the benchmarks share, native and Windows:
 * sample vectors and their percentiles, and a small JSON writer.
 *
 * Portable C11: no POSIX, no Win32. Times are kept in nanoseconds as
 * int64_t; tables print microseconds.
 */
#ifndef DOB_BENCH_UTIL_H
#define DOB_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dob/msg.h"

struct dobc;
/* A growing vector of samples (ns). */
struct bvec {
	int64_t *v;   /* owned */
	size_t n, cap;
};

int bvec_push(struct bvec *b, int64_t x); /* 0, or -1 out of memory */
void bvec_free(struct bvec *b);

/* Percentiles of a set of samples, in microseconds. */
struct bstats {
	size_t n;
	double min, p50, p99, p999, max, mean;
};

/* Sorts b->v and summarizes it (ns in, us out). n = 0 gives zeros. */
struct bstats bstats_of(struct bvec *b);

/* a / b, or 0 when b is 0. */
double bratio(double a, double b);

/* JSON written as it goes: objects and arrays nest, commas are placed.
 * Keys are NULL inside arrays. Strings are escaped. */
struct bjson {
	FILE *f;
	int depth;
	bool first[32];
	char kind[32]; /* closing bracket per depth */
};

void bj_begin(struct bjson *j, FILE *f);     /* the outer object */
void bj_end(struct bjson *j);                /* closes the outer object */
void bj_obj(struct bjson *j, const char *key);
void bj_arr(struct bjson *j, const char *key);
void bj_close(struct bjson *j);              /* closes the innermost obj/arr */
void bj_num(struct bjson *j, const char *key, double v);
void bj_int(struct bjson *j, const char *key, int64_t v);
void bj_str(struct bjson *j, const char *key, const char *s);
void bj_bool(struct bjson *j, const char *key, bool v);
/* {"n":..,"p50":..,"p99":..,"p999":..,"max":..,"mean":..} in us */
void bj_stats(struct bjson *j, const char *key, const struct bstats *s);

/* A growing string. */
struct sb {
	char *p;   /* owned */
	size_t n, cap;
};

void sb_printf(struct sb *s, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
/* Writes n bytes of text to path: 0 or -1. */
int bench_write_file(const char *path, const char *text, size_t n);

/* The paced scenario both benches play: events JobErrors, event i makes job
 * (i % n_jobs) + 1 fail at t0_ms + i * period_ms and requeues it half a turn
 * later, which ends its episode (docs/sim-scenarios.md). */
void bench_scenario_paced(struct sb *s, int events, int n_jobs, int period_ms, int t0_ms);

/* Connects with libdobclient; kind_mask 0 = every event. NULL on failure. */
struct dobc *bench_connect(const char *endpoint, const char *name, enum dob_role role,
			   uint32_t kind_mask, int timeout_ms);

/* Submits a one-file download. 0 when accepted; else a negative code and
 * the reason in why. */
int bench_submit(struct dobc *c, const char *url, const char *local, const char *name,
		 int timeout_ms, char *why, size_t whylen);

/* Frame sizes (prefix included) of the Act and of its ActionResult, and of
 * a Ping / Pong. */
void bench_act_sizes(const struct dob_guid *job, uint64_t episode,
		     const struct dob_action_result *res, size_t *req, size_t *resp);
void bench_ping_sizes(size_t *req, size_t *resp);

/* Polling at 1 s (out[0]) and 5 s (out[1]): an error at a uniformly random
 * instant is seen at the next poll; 100,000 errors simulated in virtual
 * time (not measured). */
void bench_polling(struct bstats out[2]);

#endif
