/*
 * client/src/jsonw.c - a small JSON writer (see jsonw.h for why it exists).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "jsonw.h"

void jsonw_init(struct jsonw *w)
{
	memset(w, 0, sizeof *w);
}

void jsonw_free(struct jsonw *w)
{
	if (!w)
		return;
	dob_free(w->buf);
	memset(w, 0, sizeof *w);
}

void jsonw_reset(struct jsonw *w)
{
	w->len = 0;
	w->oom = false;
	w->comma = false;
	if (w->buf)
		w->buf[0] = '\0';
}

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *b;

		while (cap < w->len + n + 1)
			cap *= 2;
		b = dob_realloc(w->buf, cap);
		if (!b) {
			w->oom = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void putc1(struct jsonw *w, char c)
{
	put(w, &c, 1);
}

/* Before a value or a key. */
static void sep(struct jsonw *w)
{
	if (w->comma)
		putc1(w, ',');
	w->comma = true;
}

void jsonw_obj_open(struct jsonw *w)
{
	sep(w);
	putc1(w, '{');
	w->comma = false;
}

void jsonw_obj_close(struct jsonw *w)
{
	putc1(w, '}');
	w->comma = true;
}

void jsonw_arr_open(struct jsonw *w)
{
	sep(w);
	putc1(w, '[');
	w->comma = false;
}

void jsonw_arr_close(struct jsonw *w)
{
	putc1(w, ']');
	w->comma = true;
}

void jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_str(w, key);
	putc1(w, ':');
	w->comma = false;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
 * *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		len = 2, c &= 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, c &= 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

void jsonw_strn(struct jsonw *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0; /* s[run..i) is copied as is */
	char esc[16]; /* "\\u%04x" needs 7; gcc -O1 (SAN=thread) cannot tell cp < 0x10000 */

	sep(w);
	putc1(w, '"');
	while (i < n) {
		uint32_t cp = 0;
		size_t l = utf8_seq(s + i, n - i, &cp);
		const char *rep = NULL;

		if (l == 1 && cp >= 0x20 && cp != '"' && cp != '\\') {
			i++;
			continue;
		}
		if (l > 1 && cp != 0x2028 && cp != 0x2029) {
			i += l;
			continue;
		}
		put(w, (const char *)s + run, i - run);
		switch (l == 0 ? 0xFFFD : cp) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		case 0xFFFD: rep = "\\ufffd"; break;
		default:
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
			rep = esc;
		}
		put(w, rep, strlen(rep));
		i += l == 0 ? 1 : l;
		run = i;
	}
	put(w, (const char *)s + run, i - run);
	putc1(w, '"');
	w->comma = true;
}

void jsonw_str(struct jsonw *w, const char *s)
{
	jsonw_strn(w, s ? s : "", s ? strlen(s) : 0);
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof b, "%" PRIu64, v);

	sep(w);
	put(w, b, (size_t)n);
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof b, "%" PRId64, v);

	sep(w);
	put(w, b, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
	sep(w);
	put(w, "null", 4);
}

void jsonw_kstr(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_ku64(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_u64(w, v);
}

void jsonw_ki64(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_i64(w, v);
}

void jsonw_kbool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

const char *jsonw_finish(const struct jsonw *w)
{
	if (w->oom)
		return NULL;
	return w->buf ? w->buf : "";
}
