/* bench/bench_util.c - see bench_util.h. */
#include "bench_util.h"

#include <stdlib.h>

int bvec_push(struct bvec *b, int64_t x)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		int64_t *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -1;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = x;
	return 0;
}

void bvec_free(struct bvec *b)
{
	free(b->v);
	b->v = NULL;
	b->n = b->cap = 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile: the smallest sample with at least p of them at
 * or below it. */
static double rank(const int64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1000.0;
}

struct bstats bstats_of(struct bvec *b)
{
	struct bstats s = { 0 };
	double sum = 0;

	if (!b->n)
		return s;
	qsort(b->v, b->n, sizeof(*b->v), cmp_i64);
	for (size_t i = 0; i < b->n; i++)
		sum += (double)b->v[i];
	s.n = b->n;
	s.min = (double)b->v[0] / 1000.0;
	s.p50 = rank(b->v, b->n, 0.50);
	s.p99 = rank(b->v, b->n, 0.99);
	s.p999 = rank(b->v, b->n, 0.999);
	s.max = (double)b->v[b->n - 1] / 1000.0;
	s.mean = sum / (double)b->n / 1000.0;
	return s;
}

double bratio(double a, double b)
{
	return b != 0 ? a / b : 0;
}

/* ---------------------------------------------------------------- JSON */

static void sep(struct bjson *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
	if (key)
		fprintf(j->f, "\"%s\": ", key);
}

static void open_(struct bjson *j, const char *key, char c)
{
	sep(j, key);
	fputc(c, j->f);
	if (j->depth < (int)(sizeof(j->first) / sizeof(j->first[0])) - 1)
		j->depth++;
	j->first[j->depth] = true;
	j->kind[j->depth] = c == '{' ? '}' : ']';
}

void bj_begin(struct bjson *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = true;
	fputc('{', f);
	j->depth = 1;
	j->first[1] = true;
}

void bj_end(struct bjson *j)
{
	fputs("\n}\n", j->f);
}

void bj_obj(struct bjson *j, const char *key)
{
	open_(j, key, '{');
}

void bj_arr(struct bjson *j, const char *key)
{
	open_(j, key, '[');
}

void bj_close(struct bjson *j)
{
	char c = j->kind[j->depth];

	if (j->depth <= 1)
		return; /* the outer object is bj_end's */
	j->depth--;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
	fputc(c, j->f);
}

void bj_num(struct bjson *j, const char *key, double v)
{
	sep(j, key);
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", j->f);
	else
		fprintf(j->f, "%.6g", v);
}

void bj_int(struct bjson *j, const char *key, int64_t v)
{
	sep(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void bj_str(struct bjson *j, const char *key, const char *s)
{
	sep(j, key);
	fputc('"', j->f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(j->f, "\\%c", c);
		else if (c < 0x20)
			fprintf(j->f, "\\u%04x", c);
		else
			fputc(c, j->f);
	}
	fputc('"', j->f);
}

void bj_bool(struct bjson *j, const char *key, bool v)
{
	sep(j, key);
	fputs(v ? "true" : "false", j->f);
}

void bj_stats(struct bjson *j, const char *key, const struct bstats *s)
{
	bj_obj(j, key);
	bj_int(j, "n", (int64_t)s->n);
	bj_num(j, "p50_us", s->p50);
	bj_num(j, "p99_us", s->p99);
	bj_num(j, "p999_us", s->p999);
	bj_num(j, "max_us", s->max);
	bj_num(j, "mean_us", s->mean);
	bj_close(j);
}
