/*
 * msg.c - helpers for struct dob_msg and struct dob_jrec (dob/msg.h): clear
 * and deep copy (through the layout tables of layout.c), names of every
 * enum value and their parsing, and GUID text.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "dob/err.h"
#include "dob/msg.h"
#include "internal.h"

/* ------------------------------------------------------------ clear, copy */

/* Frees the body of a oneof (found by its type in tab) and zeroes size bytes
 * at whole. */
static void clear(const struct layout_body *tab, size_t n, uint32_t type, void *body,
		  void *whole, size_t size)
{
	const struct layout_body *b = layout_find(tab, n, type);

	if (b)
		layout_clear(b->type, body);
	memset(whole, 0, size);
}

void dob_msg_clear(struct dob_msg *m)
{
	if (m)
		clear(layout_msgs, layout_n_msgs, m->type, &m->u, m, sizeof *m);
}

void dob_jrec_clear(struct dob_jrec *r)
{
	if (r)
		clear(layout_jrecs, layout_n_jrecs, r->type, &r->u, r, sizeof *r);
}

/* Deep copy of a struct of type t; on failure dst is cleared (zeroed). */
static int copy(const struct layout_type *t, void *dst, const void *src)
{
	int rc;

	memset(dst, 0, t->size);
	if ((rc = layout_copy(t, dst, src)) < 0)
		layout_clear(t, dst);
	return rc;
}

int dob_msg_copy(struct dob_msg *dst, const struct dob_msg *src)
{
	const struct layout_body *b = layout_find(layout_msgs, layout_n_msgs, src->type);
	int rc = 0;

	memset(dst, 0, sizeof *dst);
	dst->correlation_id = src->correlation_id;
	dst->type = src->type;
	if (b && (rc = copy(b->type, &dst->u, &src->u)) < 0)
		memset(dst, 0, sizeof *dst);
	return rc;
}

int dob_job_info_copy(struct dob_job_info *dst, const struct dob_job_info *src)
{
	return copy(&layout_job_info, dst, src);
}

int dob_error_info_copy(struct dob_error_info *dst, const struct dob_error_info *src)
{
	return copy(&layout_error_info, dst, src);
}

int dob_identity_copy(struct dob_identity *dst, const struct dob_identity *src)
{
	return copy(&layout_identity, dst, src);
}

void dob_job_info_clear(struct dob_job_info *j)
{
	if (j)
		layout_clear(&layout_job_info, j);
}

void dob_error_info_clear(struct dob_error_info *e)
{
	if (e)
		layout_clear(&layout_error_info, e);
}

void dob_identity_clear(struct dob_identity *id)
{
	if (id)
		layout_clear(&layout_identity, id);
}

void dob_actor_clear(struct dob_actor *a)
{
	if (a)
		layout_clear(&layout_actor, a);
}

/* ------------------------------------------------------------ names */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_in(const char *const *names, size_t n, unsigned v)
{
	return v < n && names[v] ? names[v] : "unknown";
}

static int parse_in(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static const char *const state_names[] = {
	"QUEUED", "CONNECTING", "TRANSFERRING", "SUSPENDED", "ERROR",
	"TRANSIENT_ERROR", "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED",
};
static const char *const action_names[] = {
	"unspecified", "cancel", "complete", "resume", "suspend", "resume-after-delay",
};
static const char *const status_names[] = {
	"OK", "INVALID_ARGUMENT", "UNKNOWN_JOB", "ACCESS_DENIED", "NOT_CONTROLLER",
	"FORBIDDEN_ACTION", "ALREADY_RESOLVED", "NO_EPISODE", "BACKEND_ERROR",
	"TIMEOUT", "LIMIT_EXCEEDED", "UNAVAILABLE", "PATH_DENIED", "ALREADY_MANAGED",
};
static const char *const perr_names[] = {
	"UNSPECIFIED", "FRAME_TOO_LARGE", "FRAME_EMPTY", "TRUNCATED", "MALFORMED",
	"INVALID_FIELD", "UNEXPECTED_MESSAGE", "UNSUPPORTED_VERSION",
	"HANDSHAKE_TIMEOUT", "RATE_LIMITED", "TOO_SLOW", "TOO_MANY_CONNECTIONS",
	"SHUTTING_DOWN",
};
static const char *const backend_names[] = { "unspecified", "sim", "bits", "do" };
static const char *const policy_names[] = {
	"unspecified", "none", "resume", "cancel", "complete",
};
static const char *const context_names[] = {
	"NONE", "UNKNOWN", "GENERAL_QUEUE_MANAGER", "QUEUE_MANAGER_NOTIFICATION",
	"LOCAL_FILE", "REMOTE_FILE", "GENERAL_TRANSPORT", "REMOTE_APPLICATION",
};
static const char *const event_kind_names[] = {
	"unspecified", "job-error", "job-transferred", "job-modified", "resolution",
};
static const char *const resolved_by_names[] = {
	"unspecified", "controller", "policy", "job-left-error",
};
static const char *const role_names[] = { "unspecified", "observer", "controller" };

_Static_assert(COUNT(state_names) == DOB_STATE_MAX + 1, "state names");
_Static_assert(COUNT(action_names) == DOB_ACTION_MAX + 1, "action names");
_Static_assert(COUNT(status_names) == DOB_STATUS_MAX + 1, "status names");
_Static_assert(COUNT(perr_names) == DOB_PERR_MAX + 1, "perr names");
_Static_assert(COUNT(backend_names) == DOB_BACKEND_MAX + 1, "backend names");
_Static_assert(COUNT(policy_names) == DOB_POLICY_MAX + 1, "policy names");
_Static_assert(COUNT(context_names) == DOB_CONTEXT_MAX + 1, "context names");
_Static_assert(COUNT(event_kind_names) == DOB_EVENT_MAX + 1, "event kind names");
_Static_assert(COUNT(resolved_by_names) == DOB_RESOLVED_MAX + 1, "resolved-by names");
_Static_assert(COUNT(role_names) == DOB_ROLE_MAX + 1, "role names");

#define NAME(fn, type, names) \
	const char *fn(type v) { return name_in(names, COUNT(names), (unsigned)v); }

NAME(dob_state_name, enum dob_job_state, state_names)
NAME(dob_action_name, enum dob_action, action_names)
NAME(dob_status_name, enum dob_status, status_names)
NAME(dob_perr_name, enum dob_perr, perr_names)
NAME(dob_backend_name, enum dob_backend, backend_names)
NAME(dob_policy_name, enum dob_policy_kind, policy_names)
NAME(dob_context_name, enum dob_error_context, context_names)
NAME(dob_event_kind_name, enum dob_event_kind, event_kind_names)
NAME(dob_resolved_by_name, enum dob_resolved_by, resolved_by_names)
NAME(dob_role_name, enum dob_role, role_names)

/* "unspecified" is a name, not a value a user may ask for. */
#define PARSE(fn, names) \
	int fn(const char *s) { int v = parse_in(names, COUNT(names), s); return v > 0 ? v : -1; }

PARSE(dob_action_parse, action_names)
PARSE(dob_policy_parse, policy_names)
PARSE(dob_backend_parse, backend_names)
PARSE(dob_event_kind_parse, event_kind_names)
PARSE(dob_role_parse, role_names)

const char *dob_msg_type_name(enum dob_msg_type t)
{
	const struct layout_body *b = layout_find(layout_msgs, layout_n_msgs, t);

	return b ? b->name : t == DOB_MSG_NONE ? "none" : "unknown";
}

/* ------------------------------------------------------------ GUIDs */

/* Byte order of the text's 16 hex pairs in memory: Data1, Data2 and Data3
 * are little-endian, Data4 is in order. */
static const uint8_t guid_order[DOB_GUID_LEN] = {
	3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15,
};

/* Where a dash stands in the 36-character form, after each of these pairs. */
static bool dash_after(int pair)
{
	return pair == 3 || pair == 5 || pair == 7 || pair == 9;
}

void dob_guid_format(const struct dob_guid *g, char buf[DOB_GUID_STR_LEN])
{
	static const char hex[] = "0123456789ABCDEF";
	char *p = buf;

	*p++ = '{';
	for (int i = 0; i < DOB_GUID_LEN; i++) {
		uint8_t b = g->b[guid_order[i]];

		*p++ = hex[b >> 4];
		*p++ = hex[b & 15];
		if (dash_after(i))
			*p++ = '-';
	}
	*p++ = '}';
	*p = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int dob_guid_parse(const char *s, struct dob_guid *out)
{
	struct dob_guid g;
	size_t len = s ? strlen(s) : 0;

	if (len == DOB_GUID_STR_LEN - 1) {
		if (s[0] != '{' || s[len - 1] != '}')
			return -DOB_EINVAL;
		s++;
	} else if (len != DOB_GUID_STR_LEN - 3)
		return -DOB_EINVAL;
	for (int i = 0; i < DOB_GUID_LEN; i++) {
		int hi = hexval(s[0]), lo = hexval(s[1]);

		if (hi < 0 || lo < 0)
			return -DOB_EINVAL;
		g.b[guid_order[i]] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (dash_after(i) && *s++ != '-')
			return -DOB_EINVAL;
	}
	*out = g;
	return 0;
}

bool dob_guid_is_zero(const struct dob_guid *g)
{
	for (int i = 0; i < DOB_GUID_LEN; i++)
		if (g->b[i])
			return false;
	return true;
}
