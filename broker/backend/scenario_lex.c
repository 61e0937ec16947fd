/*
 * broker/backend/scenario_lex.c - the scenario parser's words and values:
 * a line split into words (quotes unescaped, comments dropped), durations,
 * byte counts, states, contexts and texts checked, and key=value attributes
 * parsed against what a directive allows. Every error names the file, the
 * line and what was expected (scn_fail). The grammar: docs/sim-scenarios.md.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "scenario_int.h"

#define MAX_DURATION_MS (30LL * 24 * 3600 * 1000) /* 30 days: DO's own horizon */
#define MAX_BYTES (1ULL << 50)                     /* 1 PiB */

static const char *const attr_names[A_N] = {
	"after", "size", "bytes", "times", "for", "then", "hresult", "http", "context",
	"description", "context-description", "protocol", "name", "owner", "type", "state",
	"done", "delay", "count", "hang", "writes", "attempts", "exit",
};

/* Attributes written as a bare word (fault effects), not key=value. */
#define BARE_ATTRS (BIT(A_HANG) | BIT(A_EXIT))

/* ------------------------------------------------------------ words */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int scn_fail(struct parser *p, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s:%u: %s", p->name, p->line, msg);
	return -DOB_EINVAL;
}

/* Quotes a word for a message, cut to a readable length. */
const char *scn_shown(const char *s, char buf[48])
{
	size_t n = strlen(s);

	if (n <= 40)
		return s;
	snprintf(buf, 48, "%.37s...", s);
	return buf;
}

int scn_unknown_word(struct parser *p, const char *what, const char *got,
		     const char *expected)
{
	char b[48];

	return scn_fail(p, "unknown %s '%s' (expected %s)", what, scn_shown(got, b), expected);
}

/* Splits one line into words (unescaping quotes) in scratch. */
int scn_tokenize(struct parser *p, const char *line, size_t n, char *scratch)
{
	size_t i = 0, o = 0;

	p->n = 0;
	while (i < n) {
		struct word *w;

		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == n)
			break;
		if (line[i] == '#' && (p->n == 0 || i + 1 == n || line[i + 1] == ' ' ||
				       line[i + 1] == '\t'))
			break; /* comment */
		if (p->n == MAX_WORDS)
			return scn_fail(p, "too many words on one line (max %d)", MAX_WORDS);
		w = &p->w[p->n++];
		w->s = scratch + o;
		w->eq = -1;
		while (i < n && line[i] != ' ' && line[i] != '\t') {
			char c = line[i++];

			if (c == '=' && w->eq < 0) {
				w->eq = (int)(scratch + o - w->s);
			} else if (c == '"') {
				for (;;) {
					if (i == n)
						return scn_fail(p, "unterminated quoted string");
					c = line[i++];
					if (c == '"')
						break;
					if (c == '\\') {
						if (i == n)
							return scn_fail(p, "unterminated quoted string");
						c = line[i++];
						switch (c) {
						case '"': case '\\': break;
						case 'n': c = '\n'; break;
						case 't': c = '\t'; break;
						case 'r': c = '\r'; break;
						default:
							return scn_fail(p, "unknown escape '\\%c' in a quoted string "
									"(known: \\\" \\\\ \\n \\r \\t)",
									c >= 0x20 && c < 0x7F ? c : '?');
						}
					}
					scratch[o++] = c;
				}
				continue;
			}
			scratch[o++] = c;
		}
		scratch[o++] = '\0';
	}
	return 0;
}

/* ------------------------------------------------------------ values */

bool scn_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return false;
		v = v * (unsigned)base + d;
	}
	*out = v;
	return true;
}

struct unit {
	const char *suffix;
	uint64_t mul;
};

static const struct unit time_units[] = {
	{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { NULL, 0 },
};
static const struct unit byte_units[] = {
	{ "", 1 }, { "K", 1024 }, { "M", 1024 * 1024 }, { "G", 1024 * 1024 * 1024 }, { NULL, 0 },
};

/* Decimal digits and one of the unit suffixes, scaled, at most max. */
static bool parse_scaled(const char *s, const struct unit *units, uint64_t max, uint64_t *out)
{
	char num[24];
	size_t i = 0;
	uint64_t v;

	while (s[i] >= '0' && s[i] <= '9' && i < sizeof(num) - 1) {
		num[i] = s[i];
		i++;
	}
	num[i] = '\0';
	if (i == 0 || !scn_parse_u64(num, &v))
		return false;
	for (const struct unit *u = units; u->suffix; u++)
		if (!strcmp(s + i, u->suffix)) {
			if (v > max / u->mul)
				return false;
			*out = v * u->mul;
			return true;
		}
	return false;
}

/* "250", "250ms", "2s", "1m", "1h" -> milliseconds. */
bool scn_parse_duration(const char *s, int64_t *out)
{
	uint64_t v;

	if (!parse_scaled(s, time_units, (uint64_t)MAX_DURATION_MS, &v))
		return false;
	*out = (int64_t)v;
	return true;
}

/* "1000", "64K", "2M", "1G" (powers of 1024) -> bytes. */
static bool parse_bytes(const char *s, uint64_t *out)
{
	return parse_scaled(s, byte_units, MAX_BYTES, out);
}

static const char *const state_words[] = {
	[DOB_STATE_QUEUED] = "queued", [DOB_STATE_CONNECTING] = "connecting",
	[DOB_STATE_TRANSFERRING] = "transferring", [DOB_STATE_SUSPENDED] = "suspended",
	[DOB_STATE_ERROR] = "error", [DOB_STATE_TRANSIENT_ERROR] = "transient",
	[DOB_STATE_TRANSFERRED] = "transferred", [DOB_STATE_ACKNOWLEDGED] = "acknowledged",
	[DOB_STATE_CANCELLED] = "cancelled",
};
#define STATES_EXPECTED "queued, transferring, suspended, error, transient, transferred, " \
	"acknowledged, cancelled"

static const char *const type_words[] = { "download", "upload", "upload-reply" };

const char *scenario_state_word(enum dob_job_state st)
{
	return (int)st >= 0 && st <= DOB_STATE_MAX ? state_words[st] : "?";
}

const char *scenario_type_word(enum dob_job_type t)
{
	return (int)t >= 0 && t <= DOB_JOB_TYPE_MAX ? type_words[t] : "?";
}

int scn_parse_state(struct parser *p, const char *v, int *out)
{
	for (int i = 0; i <= DOB_STATE_MAX; i++)
		if (i != DOB_STATE_CONNECTING && !strcmp(v, state_words[i])) {
			*out = i;
			return 0;
		}
	if (!strcmp(v, "connecting"))
		return scn_fail(p, "state 'connecting' is not used: DO never reports CONNECTING "
				"(expected " STATES_EXPECTED ")");
	return scn_unknown_word(p, "state", v, STATES_EXPECTED);
}

static const char *const context_words[] = {
	"none", "unknown", "general-queue-manager", "queue-manager-notification",
	"local-file", "remote-file", "general-transport", "remote-application",
};

const char *scenario_context_word(enum dob_error_context c)
{
	return (int)c >= 0 && c <= DOB_CONTEXT_MAX ? context_words[c] : "?";
}

static int parse_context(struct parser *p, const char *v, int *out)
{
	for (int i = 0; i <= DOB_CONTEXT_MAX; i++)
		if (!strcmp(v, context_words[i])) {
			*out = i;
			return 0;
		}
	return scn_unknown_word(p, "context", v,
				"none, unknown, general-queue-manager, queue-manager-notification, "
				"local-file, remote-file, general-transport, remote-application");
}

/* UTF-16 code units of a string that is valid UTF-8, as Windows counts. */
static size_t utf16_units(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c & 0xC0) != 0x80)
			n += c >= 0xF0 ? 2 : 1;
	}
	return n;
}

int scn_check_text(struct parser *p, const char *what, const char *v, size_t max)
{
	size_t n;

	if (!dob_utf8_valid(v, strlen(v)))
		return scn_fail(p, "%s is not valid UTF-8", what);
	n = utf16_units(v);
	if (n > max)
		return scn_fail(p, "%s has %" PRIu64 " characters (max %" PRIu64 ")", what, (uint64_t)n,
				(uint64_t)max);
	return 0;
}

static bool owner_ok(const char *v)
{
	const char *d;

	if (!*v)
		return true;
	if (!strncmp(v, "uid:", 4))
		d = v + 4;
	else if (!strncmp(v, "S-1-", 4))
		d = v + 4;
	else
		return false;
	if (!*d)
		return false;
	for (; *d; d++)
		if (!((*d >= '0' && *d <= '9') || (*d == '-' && v[0] == 'S')))
			return false;
	return true;
}

/* Parses one key=value into a. */
static int parse_value(struct parser *p, enum attr id, const char *v, struct attrs *a)
{
	uint64_t u;
	char b[48];

	switch (id) {
	case A_AFTER:
	case A_FOR:
	case A_DELAY: {
		int64_t *dst = id == A_AFTER ? &a->after : id == A_FOR ? &a->for_ms : &a->delay;

		if (!scn_parse_duration(v, dst))
			return scn_fail(p, "bad duration '%s' for %s (expected milliseconds, or a number "
					"with ms, s, m or h: 250ms, 2s; at most 30 days)",
					scn_shown(v, b), attr_names[id]);
		return 0;
	}
	case A_SIZE:
	case A_BYTES:
	case A_DONE: {
		uint64_t *dst = id == A_SIZE ? &a->size : id == A_BYTES ? &a->bytes : &a->done;

		if (!parse_bytes(v, dst))
			return scn_fail(p, "bad byte count '%s' for %s (expected a number, optionally "
					"with K, M or G)", scn_shown(v, b), attr_names[id]);
		return 0;
	}
	case A_TIMES:
	case A_COUNT:
		if (!scn_parse_u64(v, &u) || u < 1 || u > UINT32_MAX)
			return scn_fail(p, "bad count '%s' for %s (expected a number from 1)",
					scn_shown(v, b), attr_names[id]);
		*(id == A_TIMES ? &a->times : &a->count) = (uint32_t)u;
		return 0;
	case A_ATTEMPTS:
		if (!scn_parse_u64(v, &u) || u > UINT32_MAX)
			return scn_fail(p, "bad count '%s' for attempts (expected a number from 0)",
					scn_shown(v, b));
		a->attempts = (uint32_t)u;
		return 0;
	case A_THEN:
		if (!strcmp(v, "ok"))
			a->then_error = false;
		else if (!strcmp(v, "error"))
			a->then_error = true;
		else
			return scn_unknown_word(p, "value for then", v, "ok, error");
		return 0;
	case A_HRESULT:
		if (!scn_parse_u64(v, &u) || u > UINT32_MAX)
			return scn_fail(p, "bad hresult '%s' (expected 32 bits: 0x80190194 or a decimal "
					"number)", scn_shown(v, b));
		a->hresult = (uint32_t)u;
		return 0;
	case A_HTTP:
		if (!scn_parse_u64(v, &u) || u < 100 || u > 599)
			return scn_fail(p, "bad http status '%s' (expected 100..599)", scn_shown(v, b));
		a->http = (uint32_t)u;
		return 0;
	case A_CONTEXT:
		return parse_context(p, v, &a->context);
	case A_DESC:
		a->desc = v;
		return scn_check_text(p, "description", v, DOB_MAX_TEXT);
	case A_CTXDESC:
		a->ctxdesc = v;
		return scn_check_text(p, "context-description", v, DOB_MAX_TEXT);
	case A_PROTOCOL:
		a->protocol = v;
		return scn_check_text(p, "protocol", v, DOB_MAX_TEXT);
	case A_NAME:
		a->name = v;
		return scn_check_text(p, "name", v, DOB_MAX_DISPLAY_NAME);
	case A_OWNER:
		if (!owner_ok(v))
			return scn_fail(p, "owner '%s' is not uid:N or a SID (S-1-...)", scn_shown(v, b));
		a->owner = v;
		return 0;
	case A_TYPE:
		for (int i = 0; i <= DOB_JOB_TYPE_MAX; i++)
			if (!strcmp(v, type_words[i])) {
				a->type = i;
				return 0;
			}
		return scn_unknown_word(p, "job type", v, "download, upload, upload-reply");
	case A_STATE:
		return scn_parse_state(p, v, &a->state);
	case A_WRITES:
		if (!strcmp(v, "source"))
			a->writes = SCN_WRITES_SOURCE;
		else if (!strcmp(v, "url"))
			a->writes = SCN_WRITES_URL;
		else if (!strcmp(v, "nothing"))
			a->writes = SCN_WRITES_NOTHING;
		else
			return scn_unknown_word(p, "value for writes", v, "source, url, nothing");
		return 0;
	default:
		return scn_fail(p, "attribute '%s' takes no value", attr_names[id]);
	}
}

static void list_attrs(unsigned allowed, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < A_N && o < len; i++)
		if (allowed & BIT(i)) {
			int k = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", attr_names[i]);

			if (k < 0)
				break;
			o += (size_t)k;
		}
}

/* Parses words [first, n) as attributes among `allowed` for `what`. */
int scn_parse_attrs(struct parser *p, int first, unsigned allowed, const char *what,
		    struct attrs *a)
{
	char b[48];

	for (int i = first; i < p->n; i++) {
		struct word *w = &p->w[i];
		int id = -1;

		if (allowed == 0)
			return scn_fail(p, "%s takes no attributes (got '%s')", what, scn_shown(w->s, b));
		if (w->eq < 0) {
			int bare = !strcmp(w->s, "hang") ? A_HANG : !strcmp(w->s, "exit") ? A_EXIT : -1;

			if (bare >= 0 && (allowed & BIT(bare))) {
				if (a->seen & BIT(bare))
					return scn_fail(p, "'%s' given twice", w->s);
				a->seen |= BIT(bare);
				continue;
			}
			return scn_fail(p, "unexpected '%s' (attributes are key=value%s)", scn_shown(w->s, b),
					w->s[0] == '#' ? "; a comment needs a blank after '#'" : "");
		}
		w->s[w->eq] = '\0';
		/* Only the allowed names, first letter first: a persist file of
		 * 10,000 jobs has 100,000 attributes to look up at a start. */
		for (int k = 0; k < A_N; k++)
			if ((allowed & ~BARE_ATTRS & BIT(k)) && w->s[0] == attr_names[k][0] &&
			    !strcmp(w->s, attr_names[k])) {
				id = k;
				break;
			}
		if (id < 0 || !(allowed & BIT(id))) {
			char list[256];

			list_attrs(allowed & ~BARE_ATTRS, list, sizeof(list));
			return scn_fail(p, "unknown attribute '%s' for %s (expected %s)", scn_shown(w->s, b),
					what, list);
		}
		if (a->seen & BIT(id))
			return scn_fail(p, "attribute '%s' given twice", attr_names[id]);
		a->seen |= BIT(id);
		if (parse_value(p, (enum attr)id, w->s + w->eq + 1, a) < 0)
			return -DOB_EINVAL;
	}
	return 0;
}

void scn_attrs_init(struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->context = -1;
}
