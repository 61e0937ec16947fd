/*
 * layout.c - the layout of every struct of dob/msg.h, field by field.
 *
 * Each entry names the .proto field it carries (name and number), its kind,
 * where it is in the struct and its bounds. The tables drive clear and copy
 * (here), validation (validate.c) and the protobuf-c conversion (codec.c);
 * dob_codec_selfcheck() proves them against the compiled schema, so a field
 * missing here, or a number that does not match its name, fails a unit test.
 * Field names in dob/msg.h are the .proto names, which lets #f name them.
 */
#include <stddef.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "internal.h"

#define U32(f, n) { .name = #f, .num = n, .kind = LK_U32, .off = offsetof(T, f) }
#define U64(f, n) { .name = #f, .num = n, .kind = LK_U64, .off = offsetof(T, f) }
#define I64(f, n) { .name = #f, .num = n, .kind = LK_I64, .off = offsetof(T, f) }
#define BOOL(f, n) { .name = #f, .num = n, .kind = LK_BOOL, .off = offsetof(T, f) }
#define GUID(f, n) { .name = #f, .num = n, .kind = LK_GUID, .off = offsetof(T, f) }
#define ENUM(f, n, e, hi) \
	{ .name = #f, .num = n, .kind = LK_ENUM, .off = offsetof(T, f), .max = hi, .ename = e }
#define STR(f, n, lo, hi) \
	{ .name = #f, .num = n, .kind = LK_STR, .off = offsetof(T, f), .min = lo, .max = hi }
#define GUIDS(f, n, hi) \
	{ .name = #f, .num = n, .kind = LK_GUIDS, .off = offsetof(T, f), \
	  .aux = offsetof(T, n_##f), .max = hi }
#define SUB(f, n, t) \
	{ .name = #f, .num = n, .kind = LK_SUB, .off = offsetof(T, f), .sub = &t }
#define OPT(f, n, has, t) \
	{ .name = #f, .num = n, .kind = LK_OPT, .off = offsetof(T, f), \
	  .aux = offsetof(T, has), .sub = &t }
#define ARR(f, n, lo, hi, t) \
	{ .name = #f, .num = n, .kind = LK_ARR, .off = offsetof(T, f), \
	  .aux = offsetof(T, n_##f), .min = lo, .max = hi, .sub = &t }

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
#define TYPE(T_, fields, chk) { sizeof(T_), NFIELDS(fields), fields, chk }

#define TEXT DOB_MAX_TEXT
#define NAME DOB_MAX_DISPLAY_NAME

/* ------------------------------------------------------------ pieces */

#define T struct dob_identity
static const struct layout_field identity_f[] = {
	U32(pid, 1), U32(uid, 2), STR(user_sid, 3, 0, TEXT),
	STR(appcontainer_sid, 4, 0, TEXT), U32(integrity_rid, 5),
	BOOL(sandboxed, 6), BOOL(privileged, 7), BOOL(internet_client, 8),
};
const struct layout_type layout_identity = TYPE(T, identity_f, NULL);
#undef T

#define T struct dob_filter
static const struct layout_field filter_f[] = {
	GUIDS(job_ids, 1, DOB_MAX_FILTER_JOBS),
	STR(display_name_prefix, 2, 0, NAME),
	{ .name = "kinds", .num = 3, .kind = LK_KINDS, .off = offsetof(T, kind_mask),
	  .max = DOB_MAX_FILTER_KINDS },
};
static const struct layout_type filter_t = TYPE(T, filter_f, NULL);
#undef T

#define T struct dob_limits
static const struct layout_field limits_f[] = {
	U32(max_frame_bytes, 1), U32(max_inflight_requests, 2), U32(max_jobs, 3),
	U32(queue_soft_limit, 4), U32(queue_hard_limit, 5),
	U32(handshake_timeout_ms, 6),
};
static const struct layout_type limits_t = TYPE(T, limits_f, NULL);
#undef T

#define T struct dob_job_progress
static const struct layout_field job_progress_f[] = {
	U64(bytes_total, 1), U64(bytes_transferred, 2),
	U32(files_total, 3), U32(files_transferred, 4),
};
static const struct layout_type job_progress_t = TYPE(T, job_progress_f, NULL);
#undef T

#define T struct dob_file_progress
static const struct layout_field file_progress_f[] = {
	U64(bytes_total, 1), U64(bytes_transferred, 2), BOOL(completed, 3),
};
static const struct layout_type file_progress_t = TYPE(T, file_progress_f, NULL);
#undef T

#define T struct dob_job_times
static const struct layout_field job_times_f[] = {
	I64(creation_us, 1), I64(modification_us, 2), I64(transfer_completion_us, 3),
};
static const struct layout_type job_times_t = TYPE(T, job_times_f, NULL);
#undef T

#define T struct dob_file_info
static const struct layout_field file_info_f[] = {
	STR(remote_url, 1, 0, DOB_MAX_URL), STR(local_name, 2, 0, DOB_MAX_PATH),
	SUB(progress, 3, file_progress_t),
};
static const struct layout_type file_info_t = TYPE(T, file_info_f, NULL);
#undef T

#define T struct dob_field_error
static const struct layout_field field_error_f[] = {
	STR(field, 1, 0, TEXT), U32(hresult, 2),
};
static const struct layout_type field_error_t = TYPE(T, field_error_f, NULL);
#undef T

#define T struct dob_job_info
static const struct layout_field job_info_f[] = {
	GUID(job_id, 1), STR(display_name, 2, 0, NAME),
	ENUM(type, 3, "JobType", DOB_JOB_TYPE_MAX),
	ENUM(state, 4, "JobState", DOB_STATE_MAX),
	SUB(progress, 5, job_progress_t), SUB(times, 6, job_times_t),
	STR(owner, 7, 0, TEXT),
};
const struct layout_type layout_job_info = TYPE(T, job_info_f, NULL);
#undef T

#define T struct dob_error_info
static const struct layout_field error_info_f[] = {
	ENUM(context, 1, "ErrorContext", DOB_CONTEXT_MAX), U32(hresult, 2),
	STR(description, 3, 0, TEXT), STR(context_description, 4, 0, TEXT),
	STR(protocol, 5, 0, TEXT), BOOL(has_file, 6), SUB(file, 7, file_info_t),
};
const struct layout_type layout_error_info = TYPE(T, error_info_f, NULL);
#undef T

#define T struct dob_policy
static const struct layout_field policy_f[] = {
	ENUM(kind, 1, "PolicyKind", DOB_POLICY_MAX), U32(deadline_ms, 2),
	U32(max_resumes, 3), U32(backoff_ms, 4),
	ENUM(exhausted, 5, "PolicyKind", DOB_POLICY_MAX),
};
static const struct layout_type policy_t = TYPE(T, policy_f, validate_policy);
#undef T

#define T struct dob_actor
static const struct layout_field actor_f[] = {
	U64(session_id, 1), STR(client_name, 2, 0, DOB_MAX_CLIENT_NAME), U32(pid, 3),
};
const struct layout_type layout_actor = TYPE(T, actor_f, NULL);
#undef T

/* ------------------------------------------------------------ bodies */

#define T struct dob_hello
static const struct layout_field hello_f[] = {
	U32(min_version, 1), U32(max_version, 2),
	STR(client_name, 3, 1, DOB_MAX_CLIENT_NAME),
	ENUM(role, 4, "Role", DOB_ROLE_MAX), SUB(filter, 5, filter_t),
};
static const struct layout_type hello_t = TYPE(T, hello_f, validate_hello);
#undef T

#define T struct dob_welcome
static const struct layout_field welcome_f[] = {
	U32(version, 1), U64(session_id, 2), ENUM(backend, 3, "Backend", DOB_BACKEND_MAX),
	SUB(limits, 4, limits_t), SUB(identity, 5, layout_identity),
	STR(broker_version, 6, 0, TEXT), U32(pending_episodes, 7),
};
static const struct layout_type welcome_t = TYPE(T, welcome_f, validate_welcome);
#undef T

#define T struct dob_protocol_error
static const struct layout_field protocol_error_f[] = {
	ENUM(code, 1, "ProtocolErrorCode", DOB_PERR_MAX), STR(message, 2, 0, TEXT),
};
static const struct layout_type protocol_error_t = TYPE(T, protocol_error_f, NULL);
#undef T

#define T struct dob_resolution
static const struct layout_field resolution_f[] = {
	GUID(job_id, 1), U64(episode_id, 2), ENUM(action, 3, "Action", DOB_ACTION_MAX),
	ENUM(resolved_by, 4, "ResolvedBy", DOB_RESOLVED_MAX), SUB(actor, 5, layout_actor),
	U32(hresult, 6), ENUM(new_state, 7, "JobState", DOB_STATE_MAX),
	STR(message, 8, 0, TEXT),
};
static const struct layout_type resolution_t = TYPE(T, resolution_f, NULL);
#undef T

#define T struct dob_job_error
static const struct layout_field job_error_f[] = {
	SUB(job, 1, layout_job_info), SUB(error, 2, layout_error_info),
	U64(episode_id, 3), I64(first_seen_us, 4), I64(last_seen_us, 5),
	U32(repeat_count, 6), ENUM(backend, 7, "Backend", DOB_BACKEND_MAX),
	I64(deadline_us, 8), SUB(default_policy, 9, policy_t), BOOL(replayed, 10),
	ARR(field_errors, 11, 0, DOB_MAX_FIELD_ERRORS, field_error_t),
	OPT(failed_decision, 12, has_failed_decision, resolution_t),
	OPT(pending_decision, 13, has_pending_decision, resolution_t),
};
static const struct layout_type job_error_t = TYPE(T, job_error_f, NULL);
#undef T

#define T struct dob_job_transferred
static const struct layout_field job_transferred_f[] = {
	SUB(job, 1, layout_job_info), ENUM(backend, 2, "Backend", DOB_BACKEND_MAX),
};
static const struct layout_type job_transferred_t = TYPE(T, job_transferred_f, NULL);
#undef T

#define T struct dob_job_modified
static const struct layout_field job_modified_f[] = {
	SUB(job, 1, layout_job_info), ENUM(backend, 2, "Backend", DOB_BACKEND_MAX),
	BOOL(transient, 3), OPT(error, 4, has_error, layout_error_info),
	ARR(field_errors, 5, 0, DOB_MAX_FIELD_ERRORS, field_error_t),
};
static const struct layout_type job_modified_t = TYPE(T, job_modified_f, NULL);
#undef T


#define T struct dob_gap
static const struct layout_field gap_f[] = {
	U64(dropped, 1), U64(first_dropped_seq, 2), U64(last_dropped_seq, 3),
};
static const struct layout_type gap_t = TYPE(T, gap_f, NULL);
#undef T

#define T struct dob_act
static const struct layout_field act_f[] = {
	GUID(job_id, 1), U64(episode_id, 2), ENUM(action, 3, "Action", DOB_ACTION_MAX),
	U32(delay_ms, 4),
};
static const struct layout_type act_t = TYPE(T, act_f, validate_act);
#undef T

#define T struct dob_action_result
static const struct layout_field action_result_f[] = {
	ENUM(status, 1, "Status", DOB_STATUS_MAX), STR(message, 2, 0, TEXT),
	U32(hresult, 3), ENUM(new_state, 4, "JobState", DOB_STATE_MAX),
	SUB(winner, 5, layout_actor), ENUM(winner_action, 6, "Action", DOB_ACTION_MAX),
};
static const struct layout_type action_result_t = TYPE(T, action_result_f, NULL);
#undef T

#define T struct dob_file_spec
static const struct layout_field file_spec_f[] = {
	STR(remote_url, 1, 1, DOB_MAX_URL), STR(local_path, 2, 1, DOB_MAX_PATH),
};
static const struct layout_type file_spec_t = TYPE(T, file_spec_f, NULL);
#undef T

#define T struct dob_submit_job
static const struct layout_field submit_job_f[] = {
	STR(display_name, 1, 1, NAME), ARR(files, 2, 1, DOB_MAX_FILES, file_spec_t),
	ENUM(priority, 3, "Priority", DOB_PRIORITY_MAX), SUB(policy, 4, policy_t),
	ENUM(type, 5, "JobType", DOB_JOB_TYPE_MAX),
};
static const struct layout_type submit_job_t = TYPE(T, submit_job_f, NULL);
#undef T

#define T struct dob_adopt_job
static const struct layout_field adopt_job_f[] = {
	GUID(job_id, 1), SUB(policy, 2, policy_t),
};
static const struct layout_type adopt_job_t = TYPE(T, adopt_job_f, NULL);
#undef T

#define T struct dob_job_summary
static const struct layout_field job_summary_f[] = {
	SUB(job, 1, layout_job_info), U64(pending_episode_id, 2),
	SUB(owner, 3, layout_identity), SUB(policy, 4, policy_t),
};
static const struct layout_type job_summary_t = TYPE(T, job_summary_f, NULL);
#undef T

#define T struct dob_job_reply
static const struct layout_field job_reply_f[] = {
	ENUM(status, 1, "Status", DOB_STATUS_MAX), STR(message, 2, 0, TEXT),
	U32(hresult, 3), OPT(job, 4, has_job, job_summary_t),
};
static const struct layout_type job_reply_t = TYPE(T, job_reply_f, NULL);
#undef T

#define T struct dob_list_jobs_reply
static const struct layout_field list_jobs_reply_f[] = {
	ENUM(status, 1, "Status", DOB_STATUS_MAX), STR(message, 2, 0, TEXT),
	ARR(jobs, 3, 0, DOB_MAX_LIST_JOBS, job_summary_t),
};
static const struct layout_type list_jobs_reply_t = TYPE(T, list_jobs_reply_f, NULL);
#undef T

#define T struct dob_subscriber_stats
static const struct layout_field subscriber_stats_f[] = {
	U64(session_id, 1), STR(client_name, 2, 0, DOB_MAX_CLIENT_NAME),
	ENUM(role, 3, "Role", DOB_ROLE_MAX), U32(queue_depth, 4), U64(events_out, 5),
	U64(dropped, 6),
};
static const struct layout_type subscriber_stats_t = TYPE(T, subscriber_stats_f, NULL);
#undef T

#define T struct dob_stats
static const struct layout_field stats_f[] = {
	ENUM(status, 1, "Status", DOB_STATUS_MAX), STR(message, 2, 0, TEXT),
	U32(subscribers, 3), U64(events_in, 4), U64(events_out, 5), U64(dropped, 6),
	U32(pending_episodes, 7), U32(managed_jobs, 8),
	U64(decision_latency_p50_us, 9), U64(decision_latency_p99_us, 10),
	ARR(sessions, 11, 0, DOB_MAX_SESSIONS_STATS, subscriber_stats_t),
	U64(uptime_ms, 12), U64(service_restarts, 13),
};
static const struct layout_type stats_t = TYPE(T, stats_f, NULL);
#undef T

#define T struct dob_ping
static const struct layout_field ping_f[] = { U64(nonce, 1) };
static const struct layout_type ping_t = TYPE(T, ping_f, NULL);
#undef T

#define T struct dob_list_history
static const struct layout_field list_history_f[] = {
	GUIDS(job_ids, 1, DOB_MAX_FILTER_JOBS), U32(limit, 2),
};
static const struct layout_type list_history_t =
	TYPE(T, list_history_f, validate_list_history);
#undef T

#define T struct dob_history_entry
static const struct layout_field history_entry_f[] = {
	SUB(resolution, 1, resolution_t), I64(resolved_us, 2), I64(first_seen_us, 3),
	STR(display_name, 4, 0, NAME),
};
static const struct layout_type history_entry_t = TYPE(T, history_entry_f, NULL);
#undef T

#define T struct dob_history_reply
static const struct layout_field history_reply_f[] = {
	ENUM(status, 1, "Status", DOB_STATUS_MAX), STR(message, 2, 0, TEXT),
	ARR(entries, 3, 0, DOB_MAX_HISTORY, history_entry_t),
};
static const struct layout_type history_reply_t = TYPE(T, history_reply_f, NULL);
#undef T

#define T struct dob_unmanaged_reply
static const struct layout_field unmanaged_reply_f[] = {
	ENUM(status, 1, "Status", DOB_STATUS_MAX), STR(message, 2, 0, TEXT),
	U32(hresult, 3), ARR(jobs, 4, 0, DOB_MAX_UNMANAGED, layout_job_info),
};
static const struct layout_type unmanaged_reply_t = TYPE(T, unmanaged_reply_f, NULL);
#undef T

/* ListJobs, GetStats and ListUnmanaged have no fields. */
static const struct layout_type empty_t = { 0, 0, NULL, NULL };

const struct layout_body layout_msgs[] = {
	{ DOB_MSG_HELLO, "hello", &hello_t, CORR_ZERO },
	{ DOB_MSG_WELCOME, "welcome", &welcome_t, CORR_ZERO },
	{ DOB_MSG_PROTOCOL_ERROR, "protocol_error", &protocol_error_t, CORR_ANY },
	{ DOB_MSG_JOB_ERROR, "job_error", &job_error_t, CORR_ZERO },
	{ DOB_MSG_JOB_TRANSFERRED, "job_transferred", &job_transferred_t, CORR_ZERO },
	{ DOB_MSG_JOB_MODIFIED, "job_modified", &job_modified_t, CORR_ZERO },
	{ DOB_MSG_RESOLUTION, "resolution", &resolution_t, CORR_ZERO },
	{ DOB_MSG_GAP, "gap", &gap_t, CORR_ZERO },
	{ DOB_MSG_ACT, "act", &act_t, CORR_REQUIRED },
	{ DOB_MSG_ACTION_RESULT, "action_result", &action_result_t, CORR_REQUIRED },
	{ DOB_MSG_SUBMIT_JOB, "submit_job", &submit_job_t, CORR_REQUIRED },
	{ DOB_MSG_ADOPT_JOB, "adopt_job", &adopt_job_t, CORR_REQUIRED },
	{ DOB_MSG_JOB_REPLY, "job_reply", &job_reply_t, CORR_REQUIRED },
	{ DOB_MSG_LIST_JOBS, "list_jobs", &empty_t, CORR_REQUIRED },
	{ DOB_MSG_LIST_JOBS_REPLY, "list_jobs_reply", &list_jobs_reply_t, CORR_REQUIRED },
	{ DOB_MSG_GET_STATS, "get_stats", &empty_t, CORR_REQUIRED },
	{ DOB_MSG_STATS, "stats", &stats_t, CORR_REQUIRED },
	{ DOB_MSG_PING, "ping", &ping_t, CORR_REQUIRED },
	{ DOB_MSG_PONG, "pong", &ping_t, CORR_REQUIRED },
	{ DOB_MSG_LIST_HISTORY, "list_history", &list_history_t, CORR_REQUIRED },
	{ DOB_MSG_HISTORY_REPLY, "history_reply", &history_reply_t, CORR_REQUIRED },
	{ DOB_MSG_LIST_UNMANAGED, "list_unmanaged", &empty_t, CORR_REQUIRED },
	{ DOB_MSG_UNMANAGED_REPLY, "unmanaged_reply", &unmanaged_reply_t, CORR_REQUIRED },
};
const size_t layout_n_msgs = NFIELDS(layout_msgs);

/* ------------------------------------------------------------ journal */

#define T struct dob_journal_job
static const struct layout_field journal_job_f[] = {
	GUID(job_id, 1), SUB(owner, 2, layout_identity), SUB(policy, 3, policy_t),
	STR(display_name, 4, 0, NAME), ENUM(type, 5, "JobType", DOB_JOB_TYPE_MAX),
	U32(resumes_used, 6),
};
static const struct layout_type journal_job_t = TYPE(T, journal_job_f, NULL);
#undef T

/* The other records are anonymous structs inside struct dob_jrec: their
 * offsets are taken from the start of the union. */
#define JR(m) (offsetof(struct dob_jrec, u.m) - offsetof(struct dob_jrec, u))
#define JRSIZE(m) sizeof(((struct dob_jrec *)0)->u.m)

static const struct layout_field journal_episode_f[] = {
	{ .name = "episode_id", .num = 1, .kind = LK_U64, .off = JR(episode.episode_id) },
	{ .name = "event", .num = 2, .kind = LK_SUB, .off = JR(episode.event),
	  .sub = &job_error_t },
};
static const struct layout_type journal_episode_t = {
	JRSIZE(episode), NFIELDS(journal_episode_f), journal_episode_f, NULL
};

static const struct layout_field journal_decision_f[] = {
	{ .name = "episode_id", .num = 1, .kind = LK_U64, .off = JR(decision.episode_id) },
	{ .name = "resolution", .num = 2, .kind = LK_SUB, .off = JR(decision.resolution),
	  .sub = &resolution_t },
	{ .name = "resolved_us", .num = 3, .kind = LK_I64, .off = JR(decision.resolved_us) },
	{ .name = "first_seen_us", .num = 4, .kind = LK_I64, .off = JR(decision.first_seen_us) },
	{ .name = "owner", .num = 5, .kind = LK_OPT, .off = JR(decision.owner),
	  .aux = JR(decision.has_owner), .sub = &layout_identity },
	{ .name = "display_name", .num = 6, .kind = LK_STR, .off = JR(decision.display_name),
	  .max = NAME },
};
static const struct layout_type journal_decision_t = {
	JRSIZE(decision), NFIELDS(journal_decision_f), journal_decision_f, NULL
};

static const struct layout_field journal_job_removed_f[] = {
	{ .name = "job_id", .num = 1, .kind = LK_GUID, .off = JR(job_removed) },
};
static const struct layout_type journal_job_removed_t = {
	JRSIZE(job_removed), NFIELDS(journal_job_removed_f), journal_job_removed_f, NULL
};

static const struct layout_field journal_counters_f[] = {
	{ .name = "next_episode_id", .num = 1, .kind = LK_U64,
	  .off = JR(counters.next_episode_id) },
};
static const struct layout_type journal_counters_t = {
	JRSIZE(counters), NFIELDS(journal_counters_f), journal_counters_f, NULL
};

static const struct layout_field journal_schedule_f[] = {
	{ .name = "episode_id", .num = 1, .kind = LK_U64, .off = JR(schedule.episode_id) },
	{ .name = "decision", .num = 2, .kind = LK_SUB, .off = JR(schedule.decision),
	  .sub = &resolution_t },
	{ .name = "due_us", .num = 3, .kind = LK_I64, .off = JR(schedule.due_us) },
	{ .name = "done", .num = 4, .kind = LK_BOOL, .off = JR(schedule.done) },
};
static const struct layout_type journal_schedule_t = {
	JRSIZE(schedule), NFIELDS(journal_schedule_f), journal_schedule_f, NULL
};

const struct layout_body layout_jrecs[] = {
	{ DOB_JREC_JOB, "job", &journal_job_t, CORR_ANY },
	{ DOB_JREC_EPISODE, "episode", &journal_episode_t, CORR_ANY },
	{ DOB_JREC_DECISION, "decision", &journal_decision_t, CORR_ANY },
	{ DOB_JREC_JOB_REMOVED, "job_removed", &journal_job_removed_t, CORR_ANY },
	{ DOB_JREC_COUNTERS, "counters", &journal_counters_t, CORR_ANY },
	{ DOB_JREC_SCHEDULE, "schedule", &journal_schedule_t, CORR_ANY },
};
const size_t layout_n_jrecs = NFIELDS(layout_jrecs);

/* ------------------------------------------------------------ walkers */

_Static_assert(sizeof(enum dob_job_state) == sizeof(int), "enums are int-sized");

const struct layout_body *layout_find(const struct layout_body *tab, size_t n,
				      uint32_t num)
{
	for (size_t i = 0; i < n; i++)
		if (tab[i].num == num)
			return &tab[i];
	return NULL;
}

size_t layout_scalar_size(enum layout_kind k)
{
	switch (k) {
	case LK_U32: case LK_KINDS: return sizeof(uint32_t);
	case LK_U64: return sizeof(uint64_t);
	case LK_I64: return sizeof(int64_t);
	case LK_BOOL: return sizeof(bool);
	case LK_ENUM: return sizeof(int);
	case LK_GUID: return sizeof(struct dob_guid);
	default: return 0;
	}
}

void layout_clear(const struct layout_type *t, void *s)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct layout_field *f = &t->fields[i];
		void *v = LAYOUT_AT(char, s, f->off);

		switch (f->kind) {
		case LK_STR:
			dob_free(*(char **)v);
			break;
		case LK_SUB:
		case LK_OPT:
			layout_clear(f->sub, v);
			break;
		case LK_ARR: {
			char *a = *(char **)v;
			size_t n = *LAYOUT_AT(size_t, s, f->aux);

			for (size_t j = 0; a && j < n; j++)
				layout_clear(f->sub, a + j * f->sub->size);
			dob_free(a);
			break;
		}
		case LK_GUIDS:
			dob_free(*(void **)v);
			break;
		default:
			break;
		}
	}
	memset(s, 0, t->size);
}

int layout_copy(const struct layout_type *t, void *dst, const void *src)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct layout_field *f = &t->fields[i];
		void *d = LAYOUT_AT(char, dst, f->off);
		const void *s = LAYOUT_CAT(char, src, f->off);
		int rc;

		switch (f->kind) {
		case LK_STR:
			if (*(char *const *)s &&
			    !(*(char **)d = dob_strdup(*(char *const *)s)))
				return -DOB_ENOMEM;
			break;
		case LK_OPT:
			*LAYOUT_AT(bool, dst, f->aux) = *LAYOUT_CAT(bool, src, f->aux);
			/* fall through */
		case LK_SUB:
			if ((rc = layout_copy(f->sub, d, s)) < 0)
				return rc;
			break;
		case LK_ARR:
		case LK_GUIDS: {
			size_t n = *LAYOUT_CAT(size_t, src, f->aux);
			size_t el = f->kind == LK_ARR ? f->sub->size : sizeof(struct dob_guid);
			const char *a = *(char *const *)s;
			char *b;

			if (!n || !a)
				break;
			if (!(b = dob_calloc(n, el)))
				return -DOB_ENOMEM;
			*(char **)d = b;
			*LAYOUT_AT(size_t, dst, f->aux) = n;
			if (f->kind == LK_GUIDS) {
				memcpy(b, a, n * el);
				break;
			}
			for (size_t j = 0; j < n; j++)
				if ((rc = layout_copy(f->sub, b + j * el, a + j * el)) < 0)
					return rc;
			break;
		}
		default:
			memcpy(d, s, layout_scalar_size(f->kind));
			break;
		}
	}
	return 0;
}
