/* bench/bench_util.c - see bench_util.h. */
#include "bench_util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dob/codec.h"
#include "dob/err.h"
#include "dobclient.h"

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

/* ---------------------------------------------------------------- text */

void sb_printf(struct sb *s, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		size_t room = s->cap - s->n;

		va_start(ap, fmt);
		k = vsnprintf(s->p ? s->p + s->n : NULL, room, fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < room) {
			s->n += (size_t)k;
			return;
		}
		size_t cap = s->cap ? s->cap * 2 : 4096;
		while (cap < s->n + (size_t)k + 1)
			cap *= 2;
		char *p = realloc(s->p, cap);
		if (!p) {
			fprintf(stderr, "bench: out of memory\n");
			exit(2);
		}
		s->p = p;
		s->cap = cap;
	}
}

int bench_write_file(const char *path, const char *text, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	fwrite(text, 1, n, f);
	return fclose(f);
}

void bench_scenario_paced(struct sb *s, int events, int n_jobs, int period_ms, int t0_ms)
{
	sb_printf(s, "# bench: paced JobErrors\nseed 1\nrepeat off\nmodifications on\n"
		     "default hang\n");
	for (int i = 0; i < events; i++) {
		int job = i % n_jobs + 1;
		int t = t0_ms + i * period_ms;

		sb_printf(s, "at %dms #%d error http=404\n", t, job);
		sb_printf(s, "at %dms #%d queued\n", t + (n_jobs / 2) * period_ms, job);
	}
}

/* ---------------------------------------------------------------- client */

struct dobc *bench_connect(const char *endpoint, const char *name, enum dob_role role,
			   uint32_t kind_mask, int timeout_ms)
{
	struct dob_filter f;
	struct dobc_options o;
	struct dobc *c = NULL;

	memset(&f, 0, sizeof f);
	memset(&o, 0, sizeof o);
	f.kind_mask = kind_mask;
	o.endpoint = endpoint;
	o.client_name = name;
	o.role = role;
	o.filter = kind_mask ? &f : NULL;
	o.connect_timeout_ms = timeout_ms;
	o.max_queued_events = 1 << 20;
	if (dobc_connect(&c, &o) < 0)
		return NULL;
	return c;
}

int bench_submit(struct dobc *c, const char *url, const char *local, const char *name,
		 int timeout_ms, char *why, size_t whylen)
{
	struct dob_submit_job req;
	struct dob_file_spec f;
	struct dob_job_reply r;
	int err;

	memset(&req, 0, sizeof req);
	memset(&r, 0, sizeof r);
	f.remote_url = (char *)url;
	f.local_path = (char *)local;
	req.display_name = (char *)name;
	req.n_files = 1;
	req.files = &f;
	req.priority = DOB_PRIORITY_FOREGROUND;
	req.type = DOB_JOB_DOWNLOAD;
	err = dobc_submit(c, &req, &r, timeout_ms);
	if (err == 0 || err == -DOB_EREMOTE) {
		if (r.status != DOB_STATUS_OK) {
			snprintf(why, whylen, "%s %s", dob_status_name(r.status),
				 r.message ? r.message : "");
			err = -DOB_EREMOTE;
		}
		dobc_job_reply_clear(&r);
		return err;
	}
	snprintf(why, whylen, "%s", dobc_strerror(err));
	return err;
}

void bench_act_sizes(const struct dob_guid *job, uint64_t episode,
		     const struct dob_action_result *res, size_t *req, size_t *resp)
{
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_ACT;
	m.correlation_id = 1000;
	m.u.act.job_id = *job;
	m.u.act.episode_id = episode;
	m.u.act.action = DOB_ACTION_RESUME;
	*req = (size_t)dob_frame_size(&m);
	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_ACTION_RESULT;
	m.correlation_id = 1000;
	m.u.action_result = *res;
	*resp = (size_t)dob_frame_size(&m);
}

void bench_ping_sizes(size_t *req, size_t *resp)
{
	struct dob_msg m;

	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_PING;
	m.correlation_id = 1000;
	m.u.ping.nonce = 0x123456789ull;
	*req = (size_t)dob_frame_size(&m);
	m.type = DOB_MSG_PONG;
	*resp = (size_t)dob_frame_size(&m);
}

/* ---------------------------------------------------------------- polling */

void bench_polling(struct bstats out[2])
{
	static const double iv[2] = { 1.0, 5.0 };
	uint64_t x = 0x9E3779B97F4A7C15ull;

	for (int k = 0; k < 2; k++) {
		struct bvec v = { 0 };
		int64_t T = (int64_t)(iv[k] * 1e9);

		for (int i = 0; i < 100000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			int64_t at = (int64_t)(x % (uint64_t)(T * 1000)); /* the error */
			bvec_push(&v, (at / T + 1) * T - at);             /* the next poll */
		}
		out[k] = bstats_of(&v);
		bvec_free(&v);
	}
}
