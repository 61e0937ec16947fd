/*
 * broker/backend/scenario_int.h - what the scenario parser's two files
 * share: scenario_lex.c (a line into words, words into values and
 * attributes, and the error messages) and scenario.c (the directives that
 * build the scenario, and the public functions of scenario.h). Not for use
 * outside these two files.
 */
#ifndef DOB_SCENARIO_INT_H
#define DOB_SCENARIO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

#define MAX_WORDS 64

enum attr {
	A_AFTER, A_SIZE, A_BYTES, A_TIMES, A_FOR, A_THEN, A_HRESULT, A_HTTP, A_CONTEXT,
	A_DESC, A_CTXDESC, A_PROTOCOL, A_NAME, A_OWNER, A_TYPE, A_STATE, A_DONE, A_DELAY,
	A_COUNT, A_HANG, A_WRITES, A_ATTEMPTS, A_EXIT, A_N
};

#define BIT(a) (1u << (a))
#define ERROR_ATTRS (BIT(A_HRESULT) | BIT(A_HTTP) | BIT(A_CONTEXT) | BIT(A_DESC) | \
		     BIT(A_CTXDESC) | BIT(A_PROTOCOL))
#define TRANSIENT_ATTRS (BIT(A_FOR) | BIT(A_THEN))

struct attrs {
	unsigned seen;
	int64_t after, for_ms, delay;
	uint64_t size, bytes, done;
	uint32_t times, count, hresult, http, attempts;
	int context, type, state, writes;
	bool then_error;
	const char *name, *owner, *desc, *ctxdesc, *protocol; /* borrowed from the line */
};


struct word {
	char *s;    /* unquoted text, in the line's scratch buffer */
	int eq;     /* offset of the first '=' outside quotes, or -1 */
};

struct parser {
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
	struct scenario *s;
	struct word w[MAX_WORDS];
	int n;
	/* The jobs by id (scenario.c: find_job): open addressing over
	 * s->jobs, index + 1 per slot, at most half full. A persist file with
	 * 10,000 jobs made the lookup per `job` and `file` line quadratic. */
	size_t *job_ix;  /* owned */
	size_t job_ix_cap;
	/* A `job` line of an id already read replaces that job and its
	 * files (SCN_LATER_JOB_REPLACES: the sim's persist log). */
	bool later_job_replaces;
	char *scratch;   /* owned: the current line's words */
	size_t scratch_cap;
};


/* scenario_lex.c */
/* Writes "NAME:LINE: message" to p->err; returns -DOB_EINVAL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int scn_fail(struct parser *p, const char *fmt, ...);
/* Quotes a word for a message, cut to a readable length. */
const char *scn_shown(const char *s, char buf[48]);
int scn_unknown_word(struct parser *p, const char *what, const char *got, const char *expected);
/* Splits one line into words (unescaping quotes) in scratch. */
int scn_tokenize(struct parser *p, const char *line, size_t n, char *scratch);
bool scn_parse_u64(const char *s, uint64_t *out);
bool scn_parse_duration(const char *s, int64_t *out);
int scn_parse_state(struct parser *p, const char *v, int *out);
/* A text attribute: valid UTF-8, at most max UTF-16 units. */
int scn_check_text(struct parser *p, const char *what, const char *v, size_t max);
/* Parses words [first, n) as attributes among `allowed` (BIT(A_x)) for `what`. */
int scn_parse_attrs(struct parser *p, int first, unsigned allowed, const char *what,
		    struct attrs *a);
void scn_attrs_init(struct attrs *a);

#endif
