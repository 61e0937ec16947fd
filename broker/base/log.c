/*
 * broker/core/log.c - leveled logging to stderr (log.h). Each line is
 * formatted into one buffer and written with one fwrite, so lines from
 * different threads never interleave. The loop thread may hold its info and
 * debug lines for the rest of its turn (dob_log_turn_end): they go out
 * whole, in one fwrite, before the loop sleeps and before any frame is
 * handed to the platform.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum dob_log_level g_level = DOB_LOG_INFO;
static const char *g_ident = "dobrokerd";
static int64_t (*g_clock)(void);

static const char *const names[] = { "error", "warn", "info", "debug" };

/* The held lines of the one thread that holds (the loop thread): the
 * holder is the thread whose held_gen equals g_gen while g_holding is set.
 * Only the holder touches held[]; dob_log_release runs after its loop has
 * returned. */
static char held[16384];
static size_t held_len;
static atomic_bool g_holding;
static atomic_uint g_gen = 1;
static _Thread_local unsigned held_gen;

static bool holds(void)
{
	return held_gen == atomic_load(&g_gen) && atomic_load(&g_holding);
}

static void put(const char *p, size_t n)
{
	fwrite(p, 1, n, stderr);
	/* The Windows C runtime buffers stderr when it is a file or a pipe:
	 * without this, a redirected log shows nothing until 4 KiB piled up,
	 * and a killed broker loses its last lines. */
	fflush(stderr);
}

void dob_log_flush(void)
{
	if (held_len && holds()) {
		put(held, held_len);
		held_len = 0;
	}
}

void dob_log_turn_end(void)
{
	bool no = false;

	if (holds()) {
		if (held_len) {
			put(held, held_len);
			held_len = 0;
		}
	} else if (atomic_compare_exchange_strong(&g_holding, &no, true)) {
		held_gen = atomic_load(&g_gen);
	}
}

void dob_log_release(void)
{
	if (!atomic_load(&g_holding))
		return;
	if (held_len)
		put(held, held_len);
	held_len = 0;
	atomic_fetch_add(&g_gen, 1);
	atomic_store(&g_holding, false);
}

void dob_log_set_level(enum dob_log_level lvl)
{
	g_level = lvl;
}

enum dob_log_level dob_log_get_level(void)
{
	return g_level;
}

int dob_log_parse_level(const char *name)
{
	for (int i = 0; i <= DOB_LOG_DEBUG; i++)
		if (name && strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void dob_log_set_ident(const char *ident)
{
	g_ident = ident ? ident : "dobrokerd";
}

void dob_log_set_clock(int64_t (*wall_us)(void))
{
	g_clock = wall_us;
}

/* Civil date from days since 1970-01-01 (H. Hinnant's algorithm), so no
 * gmtime_r/gmtime_s split between platforms. */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Appends s to line at *len (the header: never near the line's end). */
static void add(char *line, size_t *len, const char *s)
{
	size_t n = strlen(s);

	memcpy(line + *len, s, n);
	*len += n;
}

void dob_log(enum dob_log_level lvl, const char *fmt, ...)
{
	/* The date and time to the second, formatted once a second (per
	 * thread): at 100,000 lines/s the header's snprintf was a third of the
	 * log's cost. */
	static _Thread_local int64_t stamp_secs = INT64_MIN;
	static _Thread_local char stamp[40];
	char line[2048], num[24];
	int64_t us, secs, days, rem;
	int y, n, ms;
	unsigned mo, d;
	size_t len, k;
	va_list ap;

	if (lvl > g_level)
		return;
	us = g_clock ? g_clock() : (int64_t)time(NULL) * 1000000;
	secs = us / 1000000;
	if (secs != stamp_secs) {
		days = secs / 86400;
		rem = secs % 86400;
		if (rem < 0) {
			rem += 86400;
			days--;
		}
		civil(days, &y, &mo, &d);
		n = snprintf(stamp, sizeof(stamp), "%04d-%02u-%02uT%02d:%02d:%02d.", y, mo, d,
			     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
		if (n < 0 || (size_t)n >= sizeof(stamp))
			return;
		stamp_secs = secs;
	}
	len = 0;
	add(line, &len, stamp);
	ms = (int)(us / 1000 % 1000);
	if (ms < 0)
		ms += 1000;
	line[len++] = (char)('0' + ms / 100);
	line[len++] = (char)('0' + ms / 10 % 10);
	line[len++] = (char)('0' + ms % 10);
	add(line, &len, "Z ");
	/* The ident is a program name: bounded so the header stays short. */
	k = strlen(g_ident);
	if (k > 64)
		k = 64;
	memcpy(line + len, g_ident, k);
	len += k;
	line[len++] = '[';
	k = sizeof(num);
	for (unsigned long pid = (unsigned long)getpid(); k == sizeof(num) || pid; pid /= 10)
		num[--k] = (char)('0' + pid % 10);
	memcpy(line + len, num + k, sizeof(num) - k);
	len += sizeof(num) - k;
	add(line, &len, "] ");
	add(line, &len, names[lvl <= DOB_LOG_DEBUG ? lvl : DOB_LOG_DEBUG]);
	line[len++] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	/* Keep one line per message: control characters from peers' strings
	 * (client names, error texts) would forge lines. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	if (holds()) {
		/* Errors and warnings are not held: they go out at once, after
		 * what was held before them. */
		if (held_len && (lvl <= DOB_LOG_WARN || held_len + len > sizeof(held))) {
			put(held, held_len);
			held_len = 0;
		}
		if (lvl > DOB_LOG_WARN) {
			memcpy(held + held_len, line, len);
			held_len += len;
			return;
		}
	}
	put(line, len);
}
