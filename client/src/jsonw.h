/*
 * client/src/jsonw.h - a small JSON writer for dobctl's output.
 *
 * Hand-written on purpose: dobctl only ever writes JSON (one object per
 * line), never parses it, so a library would bring a dependency for a
 * hundred lines of code. What matters is the escaping, which is done
 * completely: '"' and '\\', every control character (short forms \b \f \n
 * \r \t, the rest \u00XX), U+2028 and U+2029 (so a line is also valid
 * JavaScript), and bytes that are not valid UTF-8 become U+FFFD, so the
 * output is always valid UTF-8 JSON whatever the input.
 *
 * Commas are placed by the writer. Out of memory is sticky and reported by
 * jsonw_finish().
 */
#ifndef DOBC_JSONW_H
#define DOBC_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
	char *buf;       /* owned; NUL-terminated after each call */
	size_t len, cap;
	bool oom;        /* sticky */
	bool comma;      /* a value was written at this level: next one needs ',' */
};

void jsonw_init(struct jsonw *w);
void jsonw_free(struct jsonw *w);   /* NULL-safe; the writer can be reused after init */
void jsonw_reset(struct jsonw *w);  /* empties the text, keeps the buffer */

void jsonw_obj_open(struct jsonw *w);
void jsonw_obj_close(struct jsonw *w);
void jsonw_arr_open(struct jsonw *w);
void jsonw_arr_close(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s);     /* NULL writes "" */
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_i64(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* key + value in one call. */
void jsonw_kstr(struct jsonw *w, const char *key, const char *s);
void jsonw_ku64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_ki64(struct jsonw *w, const char *key, int64_t v);
void jsonw_kbool(struct jsonw *w, const char *key, bool v);

/* The text (valid until the next call), or NULL after an allocation
 * failure. */
const char *jsonw_finish(const struct jsonw *w);

#endif
