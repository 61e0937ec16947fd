/*
 * Helpers of the generated sample header (gen_samples.py copies this file to
 * the top of build/<target>/gen/interop_samples.h). Fill helpers allocate
 * through dob/alloc.h so dob_msg_clear() frees what they made; check helpers
 * print one line per mismatch and count it.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/msg.h"

struct sample_chk {
	const char *sample;
	int mismatches;
};

static inline void *sample_calloc(size_t n, size_t size)
{
	void *p = dob_calloc(n, size);
	if (!p) {
		fprintf(stderr, "samples: out of memory\n");
		exit(2);
	}
	return p;
}

static inline char *sample_str(const char *s)
{
	char *p = dob_strdup(s);
	if (!p) {
		fprintf(stderr, "samples: out of memory\n");
		exit(2);
	}
	return p;
}

static inline void sample_miss(struct sample_chk *c, const char *path)
{
	c->mismatches++;
	printf("  %s: %s: ", c->sample, path);
}

static inline void chk_u(struct sample_chk *c, uint64_t got, uint64_t want, const char *path)
{
	if (got != want) {
		sample_miss(c, path);
		printf("got %" PRIu64 ", want %" PRIu64 "\n", got, want);
	}
}

static inline void chk_i(struct sample_chk *c, int64_t got, int64_t want, const char *path)
{
	if (got != want) {
		sample_miss(c, path);
		printf("got %" PRId64 ", want %" PRId64 "\n", got, want);
	}
}

/* A NULL string is the empty string (dob/msg.h). */
static inline void chk_s(struct sample_chk *c, const char *got, const char *want, const char *path)
{
	if (!got)
		got = "";
	if (strcmp(got, want) != 0) {
		sample_miss(c, path);
		printf("got \"%s\", want \"%s\"\n", got, want);
	}
}

static inline void chk_guid(struct sample_chk *c, const struct dob_guid *got, const char *want,
			    const char *path)
{
	if (memcmp(got->b, want, DOB_GUID_LEN) != 0) {
		char g[DOB_GUID_STR_LEN], w[DOB_GUID_STR_LEN];
		struct dob_guid wg;
		memcpy(wg.b, want, DOB_GUID_LEN);
		dob_guid_format(got, g);
		dob_guid_format(&wg, w);
		sample_miss(c, path);
		printf("got %s, want %s\n", g, w);
	}
}

/* An array's length; 1 when its elements may be compared. */
static inline int chk_n(struct sample_chk *c, size_t got, const void *arr, size_t want,
			const char *path)
{
	if (got == want && (want == 0 || arr))
		return 1;
	sample_miss(c, path);
	printf("got %" PRIu64 " elements%s, want %" PRIu64 "\n", (uint64_t)got,
	       arr ? "" : " (NULL array)", (uint64_t)want);
	return 0;
}
