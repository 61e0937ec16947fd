/*
 * broker/base/log.c - leveled logging to stderr or a rotated log file, and
 * operator events (log.h). Each line is formatted into one buffer and
 * written with one fwrite, so lines from different threads never
 * interleave. The loop thread may hold its info and
 * debug lines for the rest of its turn (dob_log_turn_end): they go out
 * whole, in one fwrite, before the loop sleeps and before any frame is
 * handed to the platform.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dob/err.h"

/* Read by every thread that logs, changed by a reload on the loop thread. */
static atomic_int g_level = DOB_LOG_INFO;
static const char *g_ident = "dobrokerd";
/* The pid in every line, read once (a getpid() per line was a system call
 * per log line on the hot path): when the ident is set, which a program
 * does at start, else at the first line. No program here logs from a
 * forked child (dobctl's --exec children are spawned, not forked). */
static unsigned long g_pid;
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
static atomic_bool g_has_file; /* lines go to g_file (log.h: dob_log_open_file) */

static bool holds(void)
{
	return held_gen == atomic_load(&g_gen) && atomic_load(&g_holding);
}

/* The log file (dob_log_open_file). g_file and its fields are protected by
 * file_lock, a spin lock: C11 has no portable mutex outside <threads.h>,
 * which MinGW lacks, and the critical section is one fwrite (a rotation,
 * a few renames, happens once per max_size bytes). */
static atomic_flag file_lock = ATOMIC_FLAG_INIT;
static FILE *g_file;              /* owned; NULL = stderr */
static char g_path[1024];
static uint64_t g_size, g_max_size;
static unsigned g_max_files;

static void lock(void)
{
	while (atomic_flag_test_and_set_explicit(&file_lock, memory_order_acquire))
		;
}

static void unlock(void)
{
	atomic_flag_clear_explicit(&file_lock, memory_order_release);
}

/* "path" or "path.K" into buf. */
static void numbered(char *buf, size_t len, const char *path, unsigned k)
{
	if (k)
		snprintf(buf, len, "%s.%u", path, k);
	else
		snprintf(buf, len, "%s", path);
}

/* Shifts path -> path.1 -> ... -> path.N (path.N removed) and opens a new
 * path. Under file_lock. On failure the old file stays in use (appended
 * past its size rather than losing lines). */
static void rotate(void)
{
	char from[1100], to[1100];
	FILE *f;

	fclose(g_file);
	g_file = NULL;
	numbered(to, sizeof(to), g_path, g_max_files);
	remove(to);
	for (unsigned k = g_max_files; k > 0; k--) {
		numbered(from, sizeof(from), g_path, k - 1);
		numbered(to, sizeof(to), g_path, k);
		rename(from, to); /* a missing path.K is no error */
	}
	/* With max_files 0 nothing is kept: path was removed above (as
	 * path.0), and a new one is started. */
	f = fopen(g_path, "ab");
	if (!f) {
		/* Keep writing somewhere: the rotated file, if it is there. */
		numbered(to, sizeof(to), g_path, g_max_files ? 1 : 0);
		f = fopen(to, "ab");
	}
	g_file = f;
	g_size = 0;
}

static void put(const char *p, size_t n)
{
	if (!atomic_load_explicit(&g_has_file, memory_order_acquire)) {
		fwrite(p, 1, n, stderr);
		/* The Windows C runtime buffers stderr when it is a file or a
		 * pipe: without this, a redirected log shows nothing until 4 KiB
		 * piled up, and a killed broker loses its last lines. */
		fflush(stderr);
		return;
	}
	lock();
	if (g_file && g_max_size && g_size && g_size + n > g_max_size)
		rotate();
	if (g_file) {
		fwrite(p, 1, n, g_file);
		fflush(g_file);
		g_size += n;
	} else {
		fwrite(p, 1, n, stderr);
		fflush(stderr);
	}
	unlock();
}

int dob_log_open_file(const char *path, uint64_t max_size, unsigned max_files, char *err,
		      size_t errlen)
{
	FILE *f, *old;
	long end;

	if (!path) {
		dob_log_close_file();
		return 0;
	}
	if (!*path || strlen(path) >= sizeof(g_path) - 16) {
		if (err && errlen)
			snprintf(err, errlen, "log file: %s path", *path ? "too long a" : "empty");
		return -DOB_EINVAL;
	}
	if (max_files > 1000) {
		if (err && errlen)
			snprintf(err, errlen, "log file: at most 1000 old files are kept");
		return -DOB_EINVAL;
	}
	f = fopen(path, "ab");
	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
		return errno == ENOENT ? -DOB_ENOTFOUND : errno == EACCES ? -DOB_EACCES : -DOB_EIO;
	}
	/* "ab" may report 0 before the first write: seek to learn the size. */
	end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
	lock();
	old = g_file;
	g_file = f;
	snprintf(g_path, sizeof(g_path), "%s", path);
	g_size = end > 0 ? (uint64_t)end : 0;
	g_max_size = max_size;
	g_max_files = max_files;
	atomic_store_explicit(&g_has_file, true, memory_order_release);
	unlock();
	if (old)
		fclose(old);
	return 0;
}

void dob_log_close_file(void)
{
	FILE *old;

	lock();
	old = g_file;
	g_file = NULL;
	atomic_store_explicit(&g_has_file, false, memory_order_release);
	unlock();
	if (old)
		fclose(old);
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
	atomic_store_explicit(&g_level, (int)lvl, memory_order_relaxed);
}

enum dob_log_level dob_log_get_level(void)
{
	return (enum dob_log_level)atomic_load_explicit(&g_level, memory_order_relaxed);
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
	g_pid = (unsigned long)getpid();
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

	if ((int)lvl > atomic_load_explicit(&g_level, memory_order_relaxed))
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
	if (!g_pid)
		g_pid = (unsigned long)getpid();
	for (unsigned long pid = g_pid; k == sizeof(num) || pid; pid /= 10)
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

/* ------------------------------------------------------------ operator events */

static dob_event_sink_fn g_sink;
static void *g_sink_ctx;
static atomic_int g_event_level = DOB_EVENTS_SERVICE;

static const char *const ev_levels[] = { "off", "service", "episodes" };

void dob_log_set_event_sink(dob_event_sink_fn fn, void *ctx)
{
	g_sink = fn;
	g_sink_ctx = ctx;
}

void dob_log_set_event_level(enum dob_event_level lvl)
{
	atomic_store_explicit(&g_event_level, (int)lvl, memory_order_relaxed);
}

enum dob_event_level dob_log_get_event_level(void)
{
	return (enum dob_event_level)atomic_load_explicit(&g_event_level, memory_order_relaxed);
}

int dob_log_parse_event_level(const char *name)
{
	for (int i = 0; i <= DOB_EVENTS_EPISODES; i++)
		if (name && strcmp(name, ev_levels[i]) == 0)
			return i;
	return -1;
}

const char *dob_log_event_level_name(enum dob_event_level lvl)
{
	return (unsigned)lvl <= DOB_EVENTS_EPISODES ? ev_levels[lvl] : "unknown";
}

const char *dob_log_event_name(enum dob_log_event id)
{
	switch (id) {
	case DOB_EVENT_STARTED:
		return "started";
	case DOB_EVENT_STOPPED:
		return "stopped";
	case DOB_EVENT_START_FAILED:
		return "start-failed";
	case DOB_EVENT_FAILED:
		return "failed";
	case DOB_EVENT_RELOADED:
		return "reloaded";
	case DOB_EVENT_RELOAD_FAILED:
		return "reload-failed";
	case DOB_EVENT_EPISODE_OPENED:
		return "episode-opened";
	case DOB_EVENT_EPISODE_RESOLVED:
		return "episode-resolved";
	}
	return "unknown";
}

enum dob_log_level dob_log_event_severity(enum dob_log_event id)
{
	switch (id) {
	case DOB_EVENT_START_FAILED:
	case DOB_EVENT_FAILED:
		return DOB_LOG_ERROR;
	case DOB_EVENT_RELOAD_FAILED:
	case DOB_EVENT_EPISODE_OPENED:
		return DOB_LOG_WARN;
	default:
		return DOB_LOG_INFO;
	}
}

void dob_log_event_strings(const struct dob_event_info *info, char *buf, size_t len,
			   const char *strs[DOB_EVENT_NSTR])
{
	static const struct dob_event_info none;
	const char *src[DOB_EVENT_NSTR];
	char ep[24], hr[12];
	size_t pos = 0;

	if (!info)
		info = &none;
	snprintf(ep, sizeof(ep), "%llu", (unsigned long long)info->episode);
	snprintf(hr, sizeof(hr), "0x%08X", (unsigned)info->hr);
	src[0] = info->job ? info->job : "";
	src[1] = ep;
	src[2] = hr;
	src[3] = info->action ? info->action : "";
	src[4] = info->actor ? info->actor : "";
	src[5] = info->text ? info->text : "";
	for (int i = 0; i < DOB_EVENT_NSTR; i++) {
		size_t room = pos < len ? len - pos : 0, n = strlen(src[i]);

		/* Each string is cut to what is left (the text, last, gets the
		 * rest); buf is at least 1 KiB in every caller. */
		if (room == 0) {
			strs[i] = "";
			continue;
		}
		if (n >= room)
			n = room - 1;
		memcpy(buf + pos, src[i], n);
		buf[pos + n] = '\0';
		strs[i] = buf + pos;
		pos += n + 1;
	}
}

/* Copies s into a quoted value: '"' and '\\' become '\''. */
static void quoted(char *out, size_t len, const char *s)
{
	size_t o = 0;

	if (len < 3) {
		if (len)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (; *s && o + 2 < len; s++)
		out[o++] = (*s == '"' || *s == '\\') ? '\'' : *s;
	out[o++] = '"';
	out[o] = '\0';
}

void dob_log_event(enum dob_log_event id, const struct dob_event_info *info)
{
	bool episode = id == DOB_EVENT_EPISODE_OPENED || id == DOB_EVENT_EPISODE_RESOLVED;
	enum dob_log_level sev = dob_log_event_severity(id);
	const char *s[DOB_EVENT_NSTR];
	char buf[1536], action[80], actor[300], text[1200];

	int level = atomic_load_explicit(&g_event_level, memory_order_relaxed);

	if (level == DOB_EVENTS_OFF || (episode && level < DOB_EVENTS_EPISODES))
		return;
	dob_log_event_strings(info, buf, sizeof(buf), s);
	quoted(action, sizeof(action), s[3]);
	quoted(actor, sizeof(actor), s[4]);
	quoted(text, sizeof(text), s[5]);
	dob_log(sev, "event %d %s job=%s episode=%s hr=%s action=%s actor=%s text=%s", (int)id,
		dob_log_event_name(id), s[0][0] ? s[0] : "-", s[1], s[2], action, actor, text);
	if (g_sink)
		g_sink(g_sink_ctx, id, sev, s);
}
