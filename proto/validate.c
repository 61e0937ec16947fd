/*
 * validate.c - every field of a message against the contract, with a reason
 * that names the field ("submit_job.files[2].remote_url: 2301 characters,
 * max 2200").
 *
 * The bounds of each field come from the layout tables (layout.c); the rules
 * that relate fields to each other are the validate_<type> functions below.
 * Validation runs on every decoded frame and before every encode: we never
 * emit a frame we would refuse.
 *
 * Enum values outside the values this version knows are refused everywhere,
 * although proto3 enums are open. Acting on an action, or trusting a state,
 * that we cannot interpret is unsafe; new values therefore come only with a
 * new protocol version, which Hello/Welcome negotiate, and a peer sends only
 * the values of the version chosen.
 *
 * Characters are counted as UTF-16 code units, as Windows counts them for
 * the limits they mirror (a display name, a URL, a path).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dob/codec.h"
#include "dob/err.h"
#include "dob/trust.h"
#include "internal.h"

/* ------------------------------------------------------------ UTF-8 */

/* Index of the first byte that does not start a well-formed UTF-8 sequence
 * (Unicode table 3-7: no overlongs, no surrogates, nothing above U+10FFFF),
 * or len when all are well formed. */
static size_t utf8_bad(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xBF;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* above U+10FFFF */
		} else
			return i; /* continuation byte, C0/C1 overlong, F5..FF */
		if (len - i <= n)
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += n + 1;
	}
	return len;
}

int dob_utf8_valid(const char *s, size_t len)
{
	return utf8_bad((const uint8_t *)s, len) == len;
}

/* UTF-16 code units of a well-formed UTF-8 string. */
static size_t utf16_units(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if ((c & 0xC0) != 0x80)
			n += c >= 0xF0 ? 2 : 1;
	}
	return n;
}

/* ------------------------------------------------------------ paths */

void validate_root(struct validate_path *p, const char *root)
{
	p->len = 0;
	validate_push(p, root, -1);
}

size_t validate_push(struct validate_path *p, const char *name, long i)
{
	size_t old = p->len;

	if (old < VALIDATE_DEPTH) {
		p->at[old].name = name;
		p->at[old].i = i;
	}
	p->len = old + 1;
	return old;
}

void validate_pop(struct validate_path *p, size_t len)
{
	p->len = len;
}

/* Appends n bytes of str to s (cap bytes, *len used), cut at the end. */
static void path_put(char *s, size_t cap, size_t *len, const char *str, size_t n)
{
	size_t room = cap - *len - 1;

	if (n > room)
		n = room;
	memcpy(s + *len, str, n);
	*len += n;
	s[*len] = '\0';
}

/* The dotted path, cut to fit s. */
static void path_spell(const struct validate_path *p, char *s, size_t cap)
{
	size_t len = 0;

	s[0] = '\0';
	for (size_t k = 0; k < p->len && k < VALIDATE_DEPTH; k++) {
		if (k)
			path_put(s, cap, &len, ".", 1);
		path_put(s, cap, &len, p->at[k].name, strlen(p->at[k].name));
		if (p->at[k].i >= 0) {
			char num[24];
			size_t d = sizeof num;
			unsigned long u = (unsigned long)p->at[k].i;

			num[--d] = ']';
			do
				num[--d] = (char)('0' + u % 10);
			while (u /= 10);
			num[--d] = '[';
			path_put(s, cap, &len, num + d, sizeof num - d);
		}
	}
}

static int vfail(const struct validate_path *p, struct dob_codec_error *err,
		 const char *fmt, va_list ap)
{
	char text[DOB_REASON_MAX], path[192];

	vsnprintf(text, sizeof text, fmt, ap);
	path_spell(p, path, sizeof path);
	return err_set(err, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "%s: %s", path, text);
}

int validate_fail(const struct validate_path *p, struct dob_codec_error *err,
		  const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(p, err, fmt, ap);
	va_end(ap);
	return rc;
}

int validate_fail_at(struct validate_path *p, struct dob_codec_error *err,
		     const char *name, const char *fmt, ...)
{
	size_t old = validate_push(p, name, -1);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(p, err, fmt, ap);
	va_end(ap);
	validate_pop(p, old);
	return rc;
}

/* ------------------------------------------------------------ fields */

int validate_count(struct validate_path *p, struct dob_codec_error *err,
		   const struct layout_field *f, size_t n, bool use_min)
{
	if (n > f->max)
		return validate_fail_at(p, err, f->name, "%" PRIu64 " entries, max %" PRIu32,
					(uint64_t)n, f->max);
	if (use_min && n < f->min)
		return validate_fail_at(p, err, f->name, "%" PRIu64 " entries, min %" PRIu32,
					(uint64_t)n, f->min);
	return 0;
}

int validate_event_kind(struct validate_path *p, struct dob_codec_error *err,
			const char *name, long i, int64_t v)
{
	size_t old;
	int rc;

	if (v >= 1 && v <= DOB_EVENT_MAX)
		return 0;
	old = validate_push(p, name, i);
	if (v == DOB_EVENT_UNSPECIFIED)
		rc = validate_fail(p, err, "EVENT_KIND_UNSPECIFIED is not allowed in a filter");
	else
		rc = validate_fail(p, err, "%" PRId64 " is not a valid EventKind", v);
	validate_pop(p, old);
	return rc;
}

static int check_str(struct validate_path *p, struct dob_codec_error *err,
		     const struct layout_field *f, const char *s)
{
	const uint8_t *u = (const uint8_t *)(s ? s : "");
	size_t len = 0, bad, chars;

	/* All ASCII, the common case: one pass, one byte one code unit. */
	while (u[len] && u[len] < 0x80)
		len++;
	if (!u[len]) {
		bad = chars = len;
	} else {
		len += strlen(s + len);
		bad = utf8_bad(u, len);
		chars = bad < len ? 0 : utf16_units(s, len);
	}
	if (bad < len)
		return validate_fail_at(p, err, f->name, "not valid UTF-8 (byte %" PRIu64 ")",
					(uint64_t)bad);
	if (chars > f->max)
		return validate_fail_at(p, err, f->name, "%" PRIu64 " characters, max %" PRIu32,
					(uint64_t)chars, f->max);
	if (chars < f->min)
		return validate_fail_at(p, err, f->name, "%" PRIu64 " characters, min %" PRIu32,
					(uint64_t)chars, f->min);
	return 0;
}

static int check_sub(const struct layout_type *t, const void *s, struct validate_path *p,
		     struct dob_codec_error *err, const char *name, long i)
{
	size_t old = validate_push(p, name, i);
	int rc = validate_struct(t, s, p, err);

	validate_pop(p, old);
	return rc;
}

static int check_field(const struct layout_field *f, const void *s,
		       struct validate_path *p, struct dob_codec_error *err)
{
	const void *v = LAYOUT_CAT(char, s, f->off);
	size_t n = 0;
	int rc;

	if (f->kind == LK_ARR || f->kind == LK_GUIDS) {
		n = *LAYOUT_CAT(size_t, s, f->aux);
		if ((rc = validate_count(p, err, f, n, true)) < 0)
			return rc;
		if (n && !*(void *const *)v)
			return validate_fail_at(p, err, f->name, "%" PRIu64 " entries but no array",
						(uint64_t)n);
	}
	switch (f->kind) {
	case LK_STR:
		return check_str(p, err, f, *(char *const *)v);
	case LK_ENUM: {
		int e = *(const int *)v;

		if (e < 0 || (uint32_t)e > f->max)
			return validate_fail_at(p, err, f->name, "%d is not a valid %s", e, f->ename);
		return 0;
	}
	case LK_KINDS: {
		uint32_t mask = *(const uint32_t *)v;

		for (int k = 0; k < 32; k++)
			if ((mask >> k) & 1u && (rc = validate_event_kind(p, err, f->name, -1, k)) < 0)
				return rc;
		return 0;
	}
	case LK_OPT:
		if (!*LAYOUT_CAT(bool, s, f->aux))
			return 0;
		/* fall through */
	case LK_SUB:
		return check_sub(f->sub, v, p, err, f->name, -1);
	case LK_ARR:
		for (size_t i = 0; i < n; i++) {
			const char *a = *(const char *const *)v;

			if ((rc = check_sub(f->sub, a + i * f->sub->size, p, err, f->name, (long)i)) < 0)
				return rc;
		}
		return 0;
	default:
		return 0; /* numbers, GUIDs: every value is valid */
	}
}

int validate_struct(const struct layout_type *t, const void *s,
		    struct validate_path *p, struct dob_codec_error *err)
{
	int rc;

	for (size_t i = 0; i < t->nfields; i++)
		if ((rc = check_field(&t->fields[i], s, p, err)) < 0)
			return rc;
	return t->check ? t->check(s, p, err) : 0;
}

/* ------------------------------------------------------------ rules */

int validate_hello(const void *s, struct validate_path *p, struct dob_codec_error *err)
{
	const struct dob_hello *h = s;

	if (h->min_version < 1)
		return validate_fail_at(p, err, "min_version", "0, min 1");
	if (h->max_version < h->min_version)
		return validate_fail_at(p, err, "max_version", "%" PRIu32 " is below min_version %" PRIu32,
					h->max_version, h->min_version);
	if (h->role == DOB_ROLE_UNSPECIFIED)
		return validate_fail_at(p, err, "role", "ROLE_UNSPECIFIED is not allowed");
	return 0;
}

int validate_welcome(const void *s, struct validate_path *p, struct dob_codec_error *err)
{
	const struct dob_welcome *w = s;

	if (w->version < 1)
		return validate_fail_at(p, err, "version", "0, min 1");
	return 0;
}

int validate_act(const void *s, struct validate_path *p, struct dob_codec_error *err)
{
	const struct dob_act *a = s;

	if (a->action == DOB_ACTION_UNSPECIFIED)
		return validate_fail_at(p, err, "action", "ACTION_UNSPECIFIED is not allowed");
	if (a->action == DOB_ACTION_RESUME_AFTER_DELAY) {
		if (a->delay_ms < 1 || a->delay_ms > DOB_MAX_DELAY_MS)
			return validate_fail_at(p, err, "delay_ms", "%" PRIu32 ", want 1..%" PRIu32,
						a->delay_ms, (uint32_t)DOB_MAX_DELAY_MS);
	} else if (a->delay_ms)
		return validate_fail_at(p, err, "delay_ms",
					"%" PRIu32 ", allowed only with ACTION_RESUME_AFTER_DELAY",
					a->delay_ms);
	return 0;
}

int validate_policy(const void *s, struct validate_path *p, struct dob_codec_error *err)
{
	const struct dob_policy *pol = s;

	if (pol->exhausted == DOB_POLICY_RESUME)
		return validate_fail_at(p, err, "exhausted", "POLICY_KIND_RESUME is not allowed");
	return 0;
}

int validate_list_history(const void *s, struct validate_path *p, struct dob_codec_error *err)
{
	const struct dob_list_history *h = s;

	if (h->limit > DOB_MAX_HISTORY)
		return validate_fail_at(p, err, "limit", "%" PRIu32 ", max %u", h->limit,
					(unsigned)DOB_MAX_HISTORY);
	return 0;
}

/* ------------------------------------------------------------ entry points */

/* The layout of a oneof body of that type, or NULL with the reason in err. */
static const struct layout_body *body_of(const struct layout_body *tab, size_t n,
					 uint32_t type, struct validate_path *p,
					 struct dob_codec_error *err)
{
	const struct layout_body *b = type ? layout_find(tab, n, type) : NULL;

	if (!type)
		validate_fail(p, err, "no body");
	else if (!b)
		validate_fail(p, err, "unknown type %" PRIu32, type);
	return b;
}

int dob_validate(const struct dob_msg *m, struct dob_codec_error *err)
{
	struct validate_path p;
	const struct layout_body *b;

	validate_root(&p, "envelope");
	if (!(b = body_of(layout_msgs, layout_n_msgs, m->type, &p, err)))
		return -DOB_EFIELD;
	if (b->corr == CORR_REQUIRED && !m->correlation_id)
		return validate_fail_at(&p, err, "correlation_id", "missing (0) on %s", b->name);
	if (b->corr == CORR_ZERO && m->correlation_id)
		return validate_fail_at(&p, err, "correlation_id", "%" PRIu64 " on %s, want 0",
					m->correlation_id, b->name);
	validate_root(&p, b->name);
	return validate_struct(b->type, &m->u, &p, err);
}

int dob_jrec_validate(const struct dob_jrec *r, struct dob_codec_error *err)
{
	struct validate_path p;
	const struct layout_body *b;

	validate_root(&p, "record");
	if (!(b = body_of(layout_jrecs, layout_n_jrecs, r->type, &p, err)))
		return -DOB_EFIELD;
	validate_root(&p, b->name);
	return validate_struct(b->type, &r->u, &p, err);
}

/* ------------------------------------------------------------ trust rules */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool prefix_nocase(const char *s, const char *p)
{
	for (; *p; s++, p++)
		if (lower(*s) != *p)
			return false;
	return true;
}

bool dob_url_http(const char *url)
{
	const char *host;

	if (!url)
		return false;
	if (prefix_nocase(url, "http://"))
		host = url + 7;
	else if (prefix_nocase(url, "https://"))
		host = url + 8;
	else
		return false;
	return *host && *host != '/' && *host != '\\';
}

static bool sep(char c)
{
	return c == '\\' || c == '/';
}

/* CON, PRN, AUX, NUL, COM1-9, LPT1-9 (and the superscript-digit forms are
 * not plain ASCII, so they fall to the caller's UTF-8 as ordinary names;
 * Windows 11 no longer treats them as devices). An extension does not help:
 * "nul.txt" is the NUL device on every Windows before 11. */
static bool dos_device(const char *c, size_t n)
{
	static const char *const names[] = { "con", "prn", "aux", "nul" };
	size_t base = 0;

	while (base < n && c[base] != '.')
		base++;
	while (base > 0 && c[base - 1] == ' ')
		base--;
	if (base == 3) {
		for (size_t i = 0; i < 4; i++)
			if (lower(c[0]) == names[i][0] && lower(c[1]) == names[i][1] &&
			    lower(c[2]) == names[i][2])
				return true;
	}
	if (base == 4 && c[3] >= '1' && c[3] <= '9') {
		char a = lower(c[0]), b = lower(c[1]), d = lower(c[2]);
		if ((a == 'c' && b == 'o' && d == 'm') || (a == 'l' && b == 'p' && d == 't'))
			return true;
	}
	return false;
}

enum dob_wpath dob_win_path_check(const char *path)
{
	const char *p;

	if (!path || !*path)
		return DOB_WPATH_EMPTY;
	if (sep(path[0]) && sep(path[1])) {
		if ((path[2] == '?' || path[2] == '.') && (sep(path[3]) || !path[3]))
			return path[2] == '?' ? DOB_WPATH_VERBATIM : DOB_WPATH_DEVICE;
		return DOB_WPATH_UNC;
	}
	if (path[0] == '\\' && path[1] == '?' && path[2] == '?' && path[3] == '\\')
		return DOB_WPATH_VERBATIM;
	if (!(((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
	      path[1] == ':' && sep(path[2])))
		return DOB_WPATH_RELATIVE;
	for (p = path + 2; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || strchr("<>\"|*?", c))
			return DOB_WPATH_BAD_CHARACTER;
		if (c == ':')
			return DOB_WPATH_STREAM;
	}
	/* Components after "X:\". */
	p = path + 3;
	while (*p) {
		const char *e = p;
		size_t n;
		while (*e && !sep(*e))
			e++;
		n = (size_t)(e - p);
		if (n == 0) {
			/* "X:\a\\b": an empty component; a trailing separator
			 * names a directory, which the writable check refuses. */
			if (*e) {
				p = e + 1;
				continue;
			}
			break;
		}
		if (p[n - 1] == '.' || p[n - 1] == ' ')
			return DOB_WPATH_DOTS;
		if (dos_device(p, n))
			return DOB_WPATH_RESERVED;
		p = *e ? e + 1 : e;
	}
	return DOB_WPATH_OK;
}

const char *dob_win_path_reason(enum dob_wpath k)
{
	switch (k) {
	case DOB_WPATH_OK:
		return "an absolute local path";
	case DOB_WPATH_EMPTY:
		return "the path is empty";
	case DOB_WPATH_VERBATIM:
		return "\\\\?\\ (verbatim) paths are refused";
	case DOB_WPATH_DEVICE:
		return "device paths (\\\\.\\...) are refused";
	case DOB_WPATH_UNC:
		return "UNC (network) paths are refused";
	case DOB_WPATH_RELATIVE:
		return "relative paths are refused (want X:\\...)";
	case DOB_WPATH_DOTS:
		return "'.' and '..' components and names ending in a dot or space are refused";
	case DOB_WPATH_STREAM:
		return "alternate data streams (':' after the drive) are refused";
	case DOB_WPATH_RESERVED:
		return "DOS device names (CON, NUL, COM1, ...) are refused";
	case DOB_WPATH_BAD_CHARACTER:
		return "control characters and < > \" | * ? are refused";
	}
	return "refused";
}
