/*
 * client/src/dobctl_util.c - dobctl's pure helpers (see dobctl_util.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "dobctl_util.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int PRINTF_LIKE(3, 4) bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -DOB_EINVAL;
}

static bool ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
	return *a == *b;
}

/* ---------------------------------------------------------------- numbers */

int dobctl_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	*out = 0;
	if (!s || !*s)
		return -DOB_EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -DOB_EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -DOB_EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int dobctl_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	*out = 0;
	if (dobctl_parse_u64(s, &v) < 0 || v > UINT32_MAX)
		return -DOB_EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* ---------------------------------------------------------------- names */

static const char *const action_names[] = {
	[DOB_ACTION_UNSPECIFIED] = "none",
	[DOB_ACTION_CANCEL] = "cancel",
	[DOB_ACTION_COMPLETE] = "complete",
	[DOB_ACTION_RESUME] = "resume",
	[DOB_ACTION_SUSPEND] = "suspend",
	[DOB_ACTION_RESUME_AFTER_DELAY] = "resume-after-delay",
};

const char *dobctl_action_name(enum dob_action a)
{
	if ((unsigned)a <= DOB_ACTION_MAX)
		return action_names[a];
	return "unknown";
}

int dobctl_parse_action(const char *s)
{
	char norm[32];
	size_t i;

	if (!s || strlen(s) >= sizeof norm)
		return -DOB_EINVAL;
	for (i = 0; s[i]; i++)
		norm[i] = s[i] == '_' ? '-' : s[i];
	norm[i] = '\0';
	for (i = DOB_ACTION_CANCEL; i <= DOB_ACTION_MAX; i++)
		if (ieq(norm, action_names[i]))
			return (int)i;
	return -DOB_EINVAL;
}

int dobctl_parse_priority(const char *s)
{
	static const char *const names[] = { "foreground", "high", "normal", "low" };
	size_t i;

	for (i = 0; s && i < sizeof names / sizeof names[0]; i++)
		if (ieq(s, names[i]))
			return (int)i;
	return -DOB_EINVAL;
}

static const char *const policy_names[] = {
	[DOB_POLICY_UNSPECIFIED] = "default",
	[DOB_POLICY_NONE] = "none",
	[DOB_POLICY_RESUME] = "resume",
	[DOB_POLICY_CANCEL] = "cancel",
	[DOB_POLICY_COMPLETE] = "complete",
};

static const char *policy_name(enum dob_policy_kind k)
{
	return (unsigned)k <= DOB_POLICY_MAX ? policy_names[k] : "unknown";
}

int dobctl_parse_policy(const char *s, struct dob_policy *out, char *why, size_t whylen)
{
	char buf[96], *field[5], *p;
	size_t n = 0;

	memset(out, 0, sizeof *out);
	if (!s || !*s)
		return bad(why, whylen, "empty policy");
	if (ieq(s, "none") || ieq(s, "cancel") || ieq(s, "complete")) {
		out->kind = ieq(s, "none") ? DOB_POLICY_NONE
			  : ieq(s, "cancel") ? DOB_POLICY_CANCEL : DOB_POLICY_COMPLETE;
		return 0;
	}
	if (strlen(s) >= sizeof buf)
		return bad(why, whylen, "policy too long: %.40s...", s);
	memcpy(buf, s, strlen(s) + 1);
	for (p = buf; n < 5; n++) {
		field[n] = p;
		p = strchr(p, ':');
		if (!p) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (p || !ieq(field[0], "resume") || n < 3 || n > 4)
		return bad(why, whylen,
			   "bad policy '%s': want none, cancel, complete or resume:MAX:BACKOFF_MS[:none|cancel|complete]",
			   s);
	out->kind = DOB_POLICY_RESUME;
	out->exhausted = DOB_POLICY_NONE;
	if (dobctl_parse_u32(field[1], &out->max_resumes) < 0 || out->max_resumes == 0) {
		memset(out, 0, sizeof *out);
		return bad(why, whylen, "bad policy '%s': MAX must be a number of resumes >= 1", s);
	}
	if (dobctl_parse_u32(field[2], &out->backoff_ms) < 0) {
		memset(out, 0, sizeof *out);
		return bad(why, whylen, "bad policy '%s': BACKOFF_MS must be a number of milliseconds", s);
	}
	if (n == 4) {
		if (ieq(field[3], "none"))
			out->exhausted = DOB_POLICY_NONE;
		else if (ieq(field[3], "cancel"))
			out->exhausted = DOB_POLICY_CANCEL;
		else if (ieq(field[3], "complete"))
			out->exhausted = DOB_POLICY_COMPLETE;
		else {
			memset(out, 0, sizeof *out);
			return bad(why, whylen,
				   "bad policy '%s': after the resumes, want none, cancel or complete", s);
		}
	}
	return 0;
}

void dobctl_format_policy(const struct dob_policy *p, char *buf, size_t len)
{
	if (p->kind == DOB_POLICY_RESUME)
		snprintf(buf, len, "resume:%" PRIu32 ":%" PRIu32 ":%s", p->max_resumes, p->backoff_ms,
			 policy_name(p->exhausted));
	else
		snprintf(buf, len, "%s", policy_name(p->kind));
}

static const char *const kind_names[] = {
	[DOB_EVENT_UNSPECIFIED] = "",
	[DOB_EVENT_JOB_ERROR] = "error",
	[DOB_EVENT_JOB_TRANSFERRED] = "transferred",
	[DOB_EVENT_JOB_MODIFIED] = "modified",
	[DOB_EVENT_RESOLUTION] = "resolution",
};

int dobctl_parse_kinds(const char *s, uint32_t *mask, char *why, size_t whylen)
{
	const char *p = s;

	*mask = 0;
	if (!s || !*s)
		return bad(why, whylen, "empty list of kinds");
	while (*p) {
		size_t n = strcspn(p, ","), k;
		bool found = false;

		for (k = DOB_EVENT_JOB_ERROR; k <= DOB_EVENT_MAX; k++) {
			if (strlen(kind_names[k]) == n && strncmp(p, kind_names[k], n) == 0) {
				*mask |= 1u << k;
				found = true;
			}
		}
		if (!found) {
			*mask = 0;
			return bad(why, whylen,
				   "unknown event kind '%.*s': want error, transferred, modified, resolution",
				   (int)(n > 32 ? 32 : n), p);
		}
		p += n;
		if (*p == ',') {
			p++;
			if (!*p) {
				*mask = 0;
				return bad(why, whylen, "empty event kind at the end of '%s'", s);
			}
		}
	}
	return 0;
}

int dobctl_parse_reply(const char *line, enum dob_action *action, uint32_t *delay_ms,
		       char *why, size_t whylen)
{
	char buf[128], *word, *arg, *end;
	size_t n;
	int a;

	*action = DOB_ACTION_UNSPECIFIED;
	*delay_ms = 0;
	while (*line == ' ' || *line == '\t')
		line++;
	n = strlen(line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r' ||
			 line[n - 1] == '\n'))
		n--;
	if (n == 0)
		return 0;
	if (n >= sizeof buf)
		return bad(why, whylen, "reply too long: %.40s...", line);
	memcpy(buf, line, n);
	buf[n] = '\0';
	word = buf;
	arg = buf + strcspn(buf, " \t");
	if (*arg) {
		*arg++ = '\0';
		while (*arg == ' ' || *arg == '\t')
			arg++;
	}
	if (strcmp(word, "none") == 0 && !*arg)
		return 0;
	a = dobctl_parse_action(word);
	if (a < 0 || strcmp(word, dobctl_action_name((enum dob_action)a)) != 0)
		return bad(why, whylen,
			   "unknown reply '%s': want resume, cancel, complete, suspend, resume-after-delay MS or none",
			   buf);
	if (a == DOB_ACTION_RESUME_AFTER_DELAY) {
		end = arg + strcspn(arg, " \t");
		if (*end)
			return bad(why, whylen, "resume-after-delay takes one number of milliseconds");
		if (dobctl_parse_u32(arg, delay_ms) < 0 || *delay_ms == 0 ||
		    *delay_ms > DOB_MAX_DELAY_MS) {
			*delay_ms = 0;
			return bad(why, whylen, "resume-after-delay wants 1..%u ms, got '%s'",
				   DOB_MAX_DELAY_MS, arg);
		}
	} else if (*arg) {
		return bad(why, whylen, "reply '%s' takes no argument", word);
	}
	*action = (enum dob_action)a;
	return 0;
}

/* ---------------------------------------------------------------- JSON */

static const char *type_name(enum dob_job_type t)
{
	switch (t) {
	case DOB_JOB_DOWNLOAD: return "download";
	case DOB_JOB_UPLOAD: return "upload";
	case DOB_JOB_UPLOAD_REPLY: return "upload_reply";
	}
	return "unknown";
}

static void kguid(struct jsonw *w, const char *key, const struct dob_guid *g)
{
	char s[DOB_GUID_STR_LEN];

	dob_guid_format(g, s);
	jsonw_kstr(w, key, s);
}

static void khr(struct jsonw *w, const char *key, uint32_t hr)
{
	char s[16];

	snprintf(s, sizeof s, "0x%08" PRIX32, hr);
	jsonw_kstr(w, key, s);
}

static void job_info_json(struct jsonw *w, const char *key, const struct dob_job_info *j)
{
	jsonw_key(w, key);
	jsonw_obj_open(w);
	kguid(w, "job_id", &j->job_id);
	jsonw_kstr(w, "display_name", j->display_name);
	jsonw_kstr(w, "type", type_name(j->type));
	jsonw_kstr(w, "state", dob_state_name(j->state));
	jsonw_key(w, "progress");
	jsonw_obj_open(w);
	jsonw_ku64(w, "bytes_total", j->progress.bytes_total);
	jsonw_ku64(w, "bytes_transferred", j->progress.bytes_transferred);
	jsonw_ku64(w, "files_total", j->progress.files_total);
	jsonw_ku64(w, "files_transferred", j->progress.files_transferred);
	jsonw_obj_close(w);
	jsonw_key(w, "times");
	jsonw_obj_open(w);
	jsonw_ki64(w, "creation_us", j->times.creation_us);
	jsonw_ki64(w, "modification_us", j->times.modification_us);
	jsonw_ki64(w, "transfer_completion_us", j->times.transfer_completion_us);
	jsonw_obj_close(w);
	jsonw_kstr(w, "owner", j->owner);
	jsonw_obj_close(w);
}

static void error_info_json(struct jsonw *w, const char *key, const struct dob_error_info *e)
{
	jsonw_key(w, key);
	jsonw_obj_open(w);
	jsonw_kstr(w, "context", dob_context_name(e->context));
	khr(w, "hresult", e->hresult);
	jsonw_kstr(w, "description", e->description);
	jsonw_kstr(w, "context_description", e->context_description);
	jsonw_kstr(w, "protocol", e->protocol);
	jsonw_key(w, "file");
	if (e->has_file) {
		jsonw_obj_open(w);
		jsonw_kstr(w, "remote_url", e->file.remote_url);
		jsonw_kstr(w, "local_name", e->file.local_name);
		jsonw_ku64(w, "bytes_total", e->file.progress.bytes_total);
		jsonw_ku64(w, "bytes_transferred", e->file.progress.bytes_transferred);
		jsonw_kbool(w, "completed", e->file.progress.completed);
		jsonw_obj_close(w);
	} else {
		jsonw_null(w);
	}
	jsonw_obj_close(w);
}

static void field_errors_json(struct jsonw *w, size_t n, const struct dob_field_error *fe)
{
	size_t i;

	jsonw_key(w, "field_errors");
	jsonw_arr_open(w);
	for (i = 0; i < n; i++) {
		jsonw_obj_open(w);
		jsonw_kstr(w, "field", fe[i].field);
		khr(w, "hresult", fe[i].hresult);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
}

static void policy_json(struct jsonw *w, const char *key, const struct dob_policy *p)
{
	char text[64];

	dobctl_format_policy(p, text, sizeof text);
	jsonw_key(w, key);
	jsonw_obj_open(w);
	jsonw_kstr(w, "kind", policy_name(p->kind));
	jsonw_ku64(w, "deadline_ms", p->deadline_ms);
	jsonw_ku64(w, "max_resumes", p->max_resumes);
	jsonw_ku64(w, "backoff_ms", p->backoff_ms);
	jsonw_kstr(w, "exhausted", policy_name(p->exhausted));
	jsonw_kstr(w, "text", text);
	jsonw_obj_close(w);
}

static void actor_json(struct jsonw *w, const char *key, const struct dob_actor *a)
{
	jsonw_key(w, key);
	jsonw_obj_open(w);
	jsonw_ku64(w, "session_id", a->session_id);
	jsonw_kstr(w, "client_name", a->client_name);
	jsonw_ku64(w, "pid", a->pid);
	jsonw_obj_close(w);
}

void dobctl_event_json(struct jsonw *w, const struct dob_msg *m)
{
	jsonw_obj_open(w);
	switch (m->type) {
	case DOB_MSG_JOB_ERROR: {
		const struct dob_job_error *e = &m->u.job_error;

		jsonw_kstr(w, "type", "job_error");
		jsonw_ku64(w, "episode_id", e->episode_id);
		job_info_json(w, "job", &e->job);
		error_info_json(w, "error", &e->error);
		jsonw_ki64(w, "first_seen_us", e->first_seen_us);
		jsonw_ki64(w, "last_seen_us", e->last_seen_us);
		jsonw_ku64(w, "repeat_count", e->repeat_count);
		jsonw_kstr(w, "backend", dob_backend_name(e->backend));
		jsonw_ki64(w, "deadline_us", e->deadline_us);
		policy_json(w, "default_policy", &e->default_policy);
		jsonw_kbool(w, "replayed", e->replayed);
		field_errors_json(w, e->n_field_errors, e->field_errors);
		break;
	}
	case DOB_MSG_JOB_TRANSFERRED:
		jsonw_kstr(w, "type", "job_transferred");
		job_info_json(w, "job", &m->u.job_transferred.job);
		jsonw_kstr(w, "backend", dob_backend_name(m->u.job_transferred.backend));
		break;
	case DOB_MSG_JOB_MODIFIED: {
		const struct dob_job_modified *e = &m->u.job_modified;

		jsonw_kstr(w, "type", "job_modified");
		job_info_json(w, "job", &e->job);
		jsonw_kstr(w, "backend", dob_backend_name(e->backend));
		jsonw_kbool(w, "transient", e->transient);
		if (e->has_error) {
			error_info_json(w, "error", &e->error);
		} else {
			jsonw_key(w, "error");
			jsonw_null(w);
		}
		field_errors_json(w, e->n_field_errors, e->field_errors);
		break;
	}
	case DOB_MSG_RESOLUTION: {
		const struct dob_resolution *r = &m->u.resolution;

		jsonw_kstr(w, "type", "resolution");
		kguid(w, "job_id", &r->job_id);
		jsonw_ku64(w, "episode_id", r->episode_id);
		jsonw_kstr(w, "action", dobctl_action_name(r->action));
		jsonw_kstr(w, "resolved_by", dob_resolved_by_name(r->resolved_by));
		actor_json(w, "actor", &r->actor);
		khr(w, "hresult", r->hresult);
		jsonw_kstr(w, "new_state", dob_state_name(r->new_state));
		jsonw_kstr(w, "message", r->message);
		break;
	}
	case DOB_MSG_GAP:
		jsonw_kstr(w, "type", "gap");
		jsonw_ku64(w, "dropped", m->u.gap.dropped);
		jsonw_ku64(w, "first_dropped_seq", m->u.gap.first_dropped_seq);
		jsonw_ku64(w, "last_dropped_seq", m->u.gap.last_dropped_seq);
		jsonw_kbool(w, "local", m->u.gap.first_dropped_seq == 0 &&
				       m->u.gap.last_dropped_seq == 0);
		break;
	default:
		jsonw_kstr(w, "type", dob_msg_type_name(m->type));
		break;
	}
	jsonw_obj_close(w);
}

void dobctl_action_result_json(struct jsonw *w, const struct dob_guid *job, uint64_t episode,
			       enum dob_action action, const struct dob_action_result *r)
{
	jsonw_obj_open(w);
	jsonw_kstr(w, "type", "action_result");
	kguid(w, "job_id", job);
	jsonw_ku64(w, "episode_id", episode);
	jsonw_kstr(w, "action", dobctl_action_name(action));
	jsonw_kstr(w, "status", dob_status_name(r->status));
	jsonw_kstr(w, "message", r->message);
	khr(w, "hresult", r->hresult);
	jsonw_kstr(w, "new_state", dob_state_name(r->new_state));
	if (r->status == DOB_STATUS_ALREADY_RESOLVED) {
		actor_json(w, "winner", &r->winner);
		jsonw_kstr(w, "winner_action", dobctl_action_name(r->winner_action));
	}
	jsonw_obj_close(w);
}

static void identity_json(struct jsonw *w, const char *key, const struct dob_identity *id)
{
	jsonw_key(w, key);
	jsonw_obj_open(w);
	jsonw_ku64(w, "pid", id->pid);
	jsonw_ku64(w, "uid", id->uid);
	jsonw_kstr(w, "user_sid", id->user_sid);
	jsonw_kstr(w, "appcontainer_sid", id->appcontainer_sid);
	jsonw_ku64(w, "integrity_rid", id->integrity_rid);
	jsonw_kbool(w, "sandboxed", id->sandboxed);
	jsonw_kbool(w, "privileged", id->privileged);
	jsonw_obj_close(w);
}

void dobctl_job_json(struct jsonw *w, const struct dob_job_summary *j)
{
	jsonw_obj_open(w);
	jsonw_kstr(w, "type", "job");
	job_info_json(w, "job", &j->job);
	jsonw_ku64(w, "pending_episode_id", j->pending_episode_id);
	identity_json(w, "owner", &j->owner);
	policy_json(w, "policy", &j->policy);
	jsonw_obj_close(w);
}

void dobctl_history_json(struct jsonw *w, const struct dob_history_entry *e)
{
	const struct dob_resolution *r = &e->resolution;

	jsonw_obj_open(w);
	jsonw_kstr(w, "type", "history");
	kguid(w, "job_id", &r->job_id);
	jsonw_kstr(w, "display_name", e->display_name);
	jsonw_ku64(w, "episode_id", r->episode_id);
	jsonw_ki64(w, "first_seen_us", e->first_seen_us);
	jsonw_ki64(w, "resolved_us", e->resolved_us);
	jsonw_kstr(w, "action", dobctl_action_name(r->action));
	jsonw_kstr(w, "resolved_by", dob_resolved_by_name(r->resolved_by));
	actor_json(w, "actor", &r->actor);
	khr(w, "hresult", r->hresult);
	jsonw_kstr(w, "new_state", dob_state_name(r->new_state));
	jsonw_kstr(w, "message", r->message);
	jsonw_obj_close(w);
}

void dobctl_unmanaged_json(struct jsonw *w, const struct dob_job_info *j)
{
	jsonw_obj_open(w);
	jsonw_kstr(w, "type", "unmanaged_job");
	job_info_json(w, "job", j);
	jsonw_obj_close(w);
}

void dobctl_time_text(int64_t us, char *buf, size_t len)
{
	/* Days to civil date (Howard Hinnant's algorithm): gmtime() differs
	 * between C runtimes on negative and far times, this does not. */
	int64_t secs, days, rem, z, era, doe, yoe, y, doy, mp, d, m;

	if (us <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	secs = us / 1000000;
	days = secs / 86400;
	rem = secs % 86400;
	z = days + 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m, (int)d,
		 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

void dobctl_stats_json(struct jsonw *w, const struct dob_stats *s)
{
	size_t i;

	jsonw_obj_open(w);
	jsonw_kstr(w, "type", "stats");
	jsonw_ku64(w, "subscribers", s->subscribers);
	jsonw_ku64(w, "events_in", s->events_in);
	jsonw_ku64(w, "events_out", s->events_out);
	jsonw_ku64(w, "dropped", s->dropped);
	jsonw_ku64(w, "pending_episodes", s->pending_episodes);
	jsonw_ku64(w, "managed_jobs", s->managed_jobs);
	jsonw_ku64(w, "decision_latency_p50_us", s->decision_latency_p50_us);
	jsonw_ku64(w, "decision_latency_p99_us", s->decision_latency_p99_us);
	jsonw_ku64(w, "uptime_ms", s->uptime_ms);
	jsonw_ku64(w, "service_restarts", s->service_restarts);
	jsonw_key(w, "sessions");
	jsonw_arr_open(w);
	for (i = 0; i < s->n_sessions; i++) {
		const struct dob_subscriber_stats *ss = &s->sessions[i];

		jsonw_obj_open(w);
		jsonw_ku64(w, "session_id", ss->session_id);
		jsonw_kstr(w, "client_name", ss->client_name);
		jsonw_kstr(w, "role", dob_role_name(ss->role));
		jsonw_ku64(w, "queue_depth", ss->queue_depth);
		jsonw_ku64(w, "events_out", ss->events_out);
		jsonw_ku64(w, "dropped", ss->dropped);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
	jsonw_obj_close(w);
}

/* ---------------------------------------------------------------- lines */

struct line {
	char *buf;
	size_t len, pos;
};

static void PRINTF_LIKE(2, 3) add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->pos + 1 >= l->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->pos, l->len - l->pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	l->pos += (size_t)n;
	if (l->pos >= l->len)
		l->pos = l->len - 1;
}

static void add_job(struct line *l, const struct dob_job_info *j)
{
	char g[DOB_GUID_STR_LEN];

	dob_guid_format(&j->job_id, g);
	char done[24], total[24];

	add(l, "%s \"%s\" %s", g, j->display_name ? j->display_name : "", dob_state_name(j->state));
	dobctl_format_bytes(j->progress.bytes_transferred, done, sizeof done);
	dobctl_format_bytes(j->progress.bytes_total, total, sizeof total);
	add(l, " %s/%s", done, total);
}

static void add_error(struct line *l, const struct dob_error_info *e)
{
	add(l, " hr=0x%08" PRIX32 " context=%s", e->hresult, dob_context_name(e->context));
	if (e->description && *e->description)
		add(l, ": %s", e->description);
	if (e->has_file)
		add(l, " [%s -> %s]", e->file.remote_url ? e->file.remote_url : "",
		    e->file.local_name ? e->file.local_name : "");
}

void dobctl_event_line(const struct dob_msg *m, char *buf, size_t len)
{
	struct line l = { buf, len, 0 };
	char g[DOB_GUID_STR_LEN];

	if (len == 0)
		return;
	buf[0] = '\0';
	switch (m->type) {
	case DOB_MSG_JOB_ERROR: {
		const struct dob_job_error *e = &m->u.job_error;

		add(&l, "ERROR episode %" PRIu64 " ", e->episode_id);
		add_job(&l, &e->job);
		add_error(&l, &e->error);
		if (e->repeat_count)
			add(&l, " (repeated %" PRIu32 "x)", e->repeat_count);
		if (e->replayed)
			add(&l, " (replayed)");
		break;
	}
	case DOB_MSG_JOB_TRANSFERRED:
		add(&l, "TRANSFERRED ");
		add_job(&l, &m->u.job_transferred.job);
		break;
	case DOB_MSG_JOB_MODIFIED:
		add(&l, "MODIFIED ");
		add_job(&l, &m->u.job_modified.job);
		if (m->u.job_modified.transient)
			add(&l, " transient");
		if (m->u.job_modified.has_error)
			add_error(&l, &m->u.job_modified.error);
		break;
	case DOB_MSG_RESOLUTION: {
		const struct dob_resolution *r = &m->u.resolution;

		dob_guid_format(&r->job_id, g);
		add(&l, "RESOLVED episode %" PRIu64 " %s %s by %s", r->episode_id, g,
		    dobctl_action_name(r->action), dob_resolved_by_name(r->resolved_by));
		if (r->actor.session_id)
			add(&l, " \"%s\" (session %" PRIu64 ", pid %" PRIu32 ")",
			    r->actor.client_name ? r->actor.client_name : "", r->actor.session_id,
			    r->actor.pid);
		add(&l, " hr=0x%08" PRIX32 " now %s", r->hresult, dob_state_name(r->new_state));
		if (r->message && *r->message)
			add(&l, ": %s", r->message);
		break;
	}
	case DOB_MSG_GAP:
		add(&l, "GAP %" PRIu64 " events dropped", m->u.gap.dropped);
		if (m->u.gap.first_dropped_seq || m->u.gap.last_dropped_seq)
			add(&l, " (seq %" PRIu64 "..%" PRIu64 ")", m->u.gap.first_dropped_seq,
			    m->u.gap.last_dropped_seq);
		else
			add(&l, " (by dobctl's client queue)");
		break;
	default:
		add(&l, "%s", dob_msg_type_name(m->type));
		break;
	}
}

void dobctl_history_line(const struct dob_history_entry *e, char *buf, size_t len)
{
	const struct dob_resolution *r = &e->resolution;
	struct line l = { buf, len, 0 };
	char t[32], g[DOB_GUID_STR_LEN];

	if (len)
		buf[0] = '\0';
	dobctl_time_text(e->resolved_us, t, sizeof t);
	dob_guid_format(&r->job_id, g);
	add(&l, "%s episode %" PRIu64 " %s \"%s\" %s by %s", t, r->episode_id, g,
	    e->display_name ? e->display_name : "", dobctl_action_name(r->action),
	    dob_resolved_by_name(r->resolved_by));
	if (r->actor.session_id)
		add(&l, " \"%s\" (session %" PRIu64 ", pid %" PRIu32 ")",
		    r->actor.client_name ? r->actor.client_name : "", r->actor.session_id,
		    r->actor.pid);
	add(&l, " hr=0x%08" PRIX32 " now %s", r->hresult, dob_state_name(r->new_state));
	if (r->message && *r->message)
		add(&l, ": %s", r->message);
}

/* ---------------------------------------------------------------- --exec */

static char *kv(const char *name, const char *value)
{
	size_t a = strlen(name), b = value ? strlen(value) : 0;
	char *s = dob_malloc(a + b + 2);

	if (!s)
		return NULL;
	memcpy(s, name, a);
	s[a] = '=';
	if (b)
		memcpy(s + a + 1, value, b);
	s[a + 1 + b] = '\0';
	return s;
}

void dobctl_env_free(char **env)
{
	size_t i;

	if (!env)
		return;
	for (i = 0; env[i]; i++)
		dob_free(env[i]);
	dob_free(env);
}

int dobctl_exec_env(const struct dob_msg *m, char ***out)
{
	enum { N = 11 };
	const struct dob_job_error *e = &m->u.job_error;
	char guid[DOB_GUID_STR_LEN], episode[24], hr[16], repeats[16];
	const char *json;
	struct jsonw w;
	char **env;
	size_t i = 0;

	*out = NULL;
	env = dob_calloc(N + 1, sizeof *env);
	if (!env)
		return -DOB_ENOMEM;
	jsonw_init(&w);
	dobctl_event_json(&w, m);
	json = jsonw_finish(&w);
	dob_guid_format(&e->job.job_id, guid);
	snprintf(episode, sizeof episode, "%" PRIu64, e->episode_id);
	snprintf(hr, sizeof hr, "0x%08" PRIX32, e->error.hresult);
	snprintf(repeats, sizeof repeats, "%" PRIu32, e->repeat_count);

	env[i++] = kv("DOB_JOB_ID", guid);
	env[i++] = kv("DOB_EPISODE_ID", episode);
	env[i++] = kv("DOB_HRESULT", hr);
	env[i++] = kv("DOB_STATE", dob_state_name(e->job.state));
	env[i++] = kv("DOB_DISPLAY_NAME", e->job.display_name);
	env[i++] = kv("DOB_URL", e->error.has_file ? e->error.file.remote_url : "");
	env[i++] = kv("DOB_LOCAL_NAME", e->error.has_file ? e->error.file.local_name : "");
	env[i++] = kv("DOB_ERROR_DESCRIPTION", e->error.description);
	env[i++] = kv("DOB_ERROR_CONTEXT", dob_context_name(e->error.context));
	env[i++] = kv("DOB_REPEAT_COUNT", repeats);
	env[i++] = json ? kv("DOB_EVENT_JSON", json) : NULL;
	jsonw_free(&w);
	for (i = 0; i < N; i++) {
		if (!env[i]) {
			/* Free what was made; the NULL holes end the array early. */
			size_t j;

			for (j = 0; j < N; j++)
				dob_free(env[j]);
			dob_free(env);
			return -DOB_ENOMEM;
		}
	}
	*out = env;
	return 0;
}

/* ---------------------------------------------------------------- units */

void dobctl_format_duration_us(int64_t us, char *buf, size_t len)
{
	const char *sign = "";
	uint64_t u, s;

	if (us < 0) {
		sign = "-";
		u = (uint64_t)(-(us + 1)) + 1;
	} else {
		u = (uint64_t)us;
	}
	s = u / 1000000;
	if (u < 1000)
		snprintf(buf, len, "%s%" PRIu64 " us", sign, u);
	else if (u < 1000000)
		snprintf(buf, len, "%s%.1f ms", sign, (double)u / 1000.0);
	else if (s < 60)
		snprintf(buf, len, "%s%.2f s", sign, (double)u / 1e6);
	else if (s < 3600)
		snprintf(buf, len, "%s%" PRIu64 "m %02" PRIu64 "s", sign, s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%s%" PRIu64 "h %02" PRIu64 "m", sign, s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%s%" PRIu64 "d %02" PRIu64 "h", sign, s / 86400, s / 3600 % 24);
}

void dobctl_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t i = 0;

	if (bytes == DOB_SIZE_UNKNOWN) {
		snprintf(buf, len, "?");
		return;
	}
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return;
	}
	v /= 1024.0;
	while (v >= 1024.0 && i + 1 < sizeof unit / sizeof unit[0]) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[i]);
}

/* ---------------------------------------------------------------- submit checks */

static bool iprefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (tolower((unsigned char)*s) != *prefix)
			return false;
	return true;
}

int dobctl_check_url(const char *url, char *why, size_t whylen)
{
	size_t n = strlen(url), i, skip;

	if (n > DOB_MAX_URL)
		return bad(why, whylen, "URL too long: %llu characters, at most %u", (unsigned long long)n,
			   DOB_MAX_URL);
	if (iprefix(url, "http://"))
		skip = 7;
	else if (iprefix(url, "https://"))
		skip = 8;
	else
		return bad(why, whylen, "URL '%.80s' is not http:// or https:// (the only schemes the "
			   "broker accepts)", url);
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
			return bad(why, whylen, "URL '%.80s' has a blank or control character at %llu "
				   "(escape it as %%XX)", url, (unsigned long long)i);
	if (url[skip] == '\0' || url[skip] == '/' || url[skip] == '?' || url[skip] == '#')
		return bad(why, whylen, "URL '%.80s' has no host", url);
	return 0;
}

/* Is the component [p, p + n) a reserved DOS device name (CON, PRN, AUX,
 * NUL, COM1-9, LPT1-9), with or without an extension? */
static bool dos_device(const char *p, size_t n)
{
	static const char *const names[] = { "con", "prn", "aux", "nul" };
	size_t stem = 0, i;

	while (stem < n && p[stem] != '.')
		stem++;
	while (stem > 0 && p[stem - 1] == ' ')
		stem--;
	if (stem == 3) {
		for (i = 0; i < sizeof names / sizeof names[0]; i++)
			if (tolower((unsigned char)p[0]) == names[i][0] &&
			    tolower((unsigned char)p[1]) == names[i][1] &&
			    tolower((unsigned char)p[2]) == names[i][2])
				return true;
	}
	if (stem == 4 && (iprefix(p, "com") || iprefix(p, "lpt")) && p[3] >= '1' && p[3] <= '9')
		return true;
	return false;
}

static bool is_sep(char c)
{
	return c == '\\' || c == '/';
}

int dobctl_check_local_path(const char *path, bool windows, char *why, size_t whylen)
{
	size_t n = strlen(path), i;

	if (n == 0)
		return bad(why, whylen, "empty local path");
	if (n > DOB_MAX_PATH)
		return bad(why, whylen, "local path too long: %llu bytes, at most %u",
			   (unsigned long long)n, DOB_MAX_PATH);
	if (!windows) {
		if (path[0] != '/')
			return bad(why, whylen, "local path '%.80s' is relative: give an absolute path "
				   "(the broker does not know your current directory)", path);
		return 0;
	}
	if (is_sep(path[0]) && is_sep(path[1])) {
		if ((path[2] == '.' || path[2] == '?') && is_sep(path[3]))
			return bad(why, whylen, "local path '%.80s' is a device or \\\\?\\ path: give a "
				   "drive path like C:\\dir\\file", path);
		return bad(why, whylen, "local path '%.80s' is a UNC path: the broker writes local "
			   "drives only", path);
	}
	if (!isalpha((unsigned char)path[0]) || path[1] != ':' || !is_sep(path[2]))
		return bad(why, whylen, "local path '%.80s' is not absolute: give a drive path like "
			   "C:\\dir\\file", path);
	for (i = 2; i < n; i++) {
		if (path[i] == ':')
			return bad(why, whylen, "local path '%.80s' names an alternate data stream "
				   "(':' after the drive)", path);
		if ((unsigned char)path[i] < 0x20 || strchr("<>\"|?*", path[i]))
			return bad(why, whylen, "local path '%.80s' has a character Windows does not "
				   "allow in names at %llu", path, (unsigned long long)i);
	}
	for (i = 3; i < n;) {
		size_t k = i;

		while (k < n && !is_sep(path[k]))
			k++;
		if (dos_device(path + i, k - i))
			return bad(why, whylen, "local path '%.80s' names a device (%.*s)", path,
				   (int)(k - i), path + i);
		i = k + 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- seen episodes */

void dobctl_seen_init(struct dobctl_seen *s)
{
	s->n = 0;
	s->next = 0;
}

long dobctl_seen_find(const struct dobctl_seen *s, uint64_t id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return (long)i;
	return -1;
}

size_t dobctl_seen_add(struct dobctl_seen *s, uint64_t id)
{
	long at = dobctl_seen_find(s, id);
	size_t i;

	if (at >= 0)
		return (size_t)at;
	if (s->n < DOBCTL_SEEN_MAX) {
		i = s->n++;
	} else {
		i = s->next;
		s->next = (s->next + 1) % DOBCTL_SEEN_MAX;
	}
	s->ids[i] = id;
	s->settled[i] = false;
	return i;
}
