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

#endif
