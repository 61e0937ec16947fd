/*
 * dob/msg.h - the project's own representation of every dobroker.v1 message.
 *
 * The codec (proto/codec.c) is the only code that sees protobuf-c types: it
 * decodes a frame into a struct dob_msg, validated field by field, and encodes
 * a struct dob_msg into a frame. Everything else (broker core, client library,
 * dobctl) works with these structs.
 *
 * Ownership: every pointer inside a struct dob_msg is owned by it and freed by
 * dob_msg_clear(). Strings are NUL-terminated valid UTF-8; a NULL string means
 * the empty string. Enum values equal the .proto values (which equal the
 * Windows BG_* constants where one exists).
 */
#ifndef DOB_MSG_H
#define DOB_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOB_PROTOCOL_VERSION 1u
#define DOB_GUID_LEN 16

/* Bounds checked by validation (see docs/protocol.md). */
#define DOB_MAX_FRAME_DEFAULT (64u * 1024u)
#define DOB_MAX_FRAME_CEILING (16u * 1024u * 1024u) /* a setting can't go above */
#define DOB_MAX_CLIENT_NAME 64       /* characters */
#define DOB_MAX_DISPLAY_NAME 256     /* characters, as CreateJob allows */
#define DOB_MAX_URL 2200             /* characters, as SetRemoteName allows */
#define DOB_MAX_PATH 32767           /* characters, a Windows long path */
#define DOB_MAX_TEXT 4096            /* characters: descriptions, messages, SIDs */
#define DOB_MAX_FILTER_JOBS 64
#define DOB_MAX_FILTER_KINDS 8
#define DOB_MAX_FILES 64             /* files per SubmitJob */
#define DOB_MAX_FIELD_ERRORS 32
#define DOB_MAX_LIST_JOBS 4096       /* jobs in one ListJobsReply */
#define DOB_MAX_SESSIONS_STATS 4096
#define DOB_MAX_HISTORY 4096         /* entries in one HistoryReply; ListHistory.limit */
#define DOB_MAX_UNMANAGED 4096       /* jobs in one UnmanagedReply */
#define DOB_MAX_DELAY_MS 86400000u   /* RESUME_AFTER_DELAY: one day */
#define DOB_SIZE_UNKNOWN UINT64_MAX  /* BG_SIZE_UNKNOWN */

struct dob_guid {
	uint8_t b[DOB_GUID_LEN];
};

enum dob_job_state {
	DOB_STATE_QUEUED = 0,
	DOB_STATE_CONNECTING = 1,
	DOB_STATE_TRANSFERRING = 2,
	DOB_STATE_SUSPENDED = 3,
	DOB_STATE_ERROR = 4,
	DOB_STATE_TRANSIENT_ERROR = 5,
	DOB_STATE_TRANSFERRED = 6,
	DOB_STATE_ACKNOWLEDGED = 7,
	DOB_STATE_CANCELLED = 8,
};
#define DOB_STATE_MAX DOB_STATE_CANCELLED

enum dob_job_type {
	DOB_JOB_DOWNLOAD = 0,
	DOB_JOB_UPLOAD = 1,
	DOB_JOB_UPLOAD_REPLY = 2,
};
#define DOB_JOB_TYPE_MAX DOB_JOB_UPLOAD_REPLY

enum dob_priority {
	DOB_PRIORITY_FOREGROUND = 0,
	DOB_PRIORITY_HIGH = 1,
	DOB_PRIORITY_NORMAL = 2,
	DOB_PRIORITY_LOW = 3,
};
#define DOB_PRIORITY_MAX DOB_PRIORITY_LOW

enum dob_error_context {
	DOB_CONTEXT_NONE = 0,
	DOB_CONTEXT_UNKNOWN = 1,
	DOB_CONTEXT_GENERAL_QUEUE_MANAGER = 2,
	DOB_CONTEXT_QUEUE_MANAGER_NOTIFICATION = 3,
	DOB_CONTEXT_LOCAL_FILE = 4,
	DOB_CONTEXT_REMOTE_FILE = 5,
	DOB_CONTEXT_GENERAL_TRANSPORT = 6,
	DOB_CONTEXT_REMOTE_APPLICATION = 7,
};
#define DOB_CONTEXT_MAX DOB_CONTEXT_REMOTE_APPLICATION

enum dob_backend {
	DOB_BACKEND_UNSPECIFIED = 0,
	DOB_BACKEND_SIM = 1,
	DOB_BACKEND_BITS = 2,
	DOB_BACKEND_DO = 3,
};
#define DOB_BACKEND_MAX DOB_BACKEND_DO

enum dob_role {
	DOB_ROLE_UNSPECIFIED = 0,
	DOB_ROLE_OBSERVER = 1,
	DOB_ROLE_CONTROLLER = 2,
};
#define DOB_ROLE_MAX DOB_ROLE_CONTROLLER

enum dob_event_kind {
	DOB_EVENT_UNSPECIFIED = 0,
	DOB_EVENT_JOB_ERROR = 1,
	DOB_EVENT_JOB_TRANSFERRED = 2,
	DOB_EVENT_JOB_MODIFIED = 3,
	DOB_EVENT_RESOLUTION = 4,
};
#define DOB_EVENT_MAX DOB_EVENT_RESOLUTION

enum dob_action {
	DOB_ACTION_UNSPECIFIED = 0,
	DOB_ACTION_CANCEL = 1,
	DOB_ACTION_COMPLETE = 2,
	DOB_ACTION_RESUME = 3,
	DOB_ACTION_SUSPEND = 4,
	DOB_ACTION_RESUME_AFTER_DELAY = 5,
};
#define DOB_ACTION_MAX DOB_ACTION_RESUME_AFTER_DELAY

enum dob_policy_kind {
	DOB_POLICY_UNSPECIFIED = 0,
	DOB_POLICY_NONE = 1,
	DOB_POLICY_RESUME = 2,
	DOB_POLICY_CANCEL = 3,
	DOB_POLICY_COMPLETE = 4,
};
#define DOB_POLICY_MAX DOB_POLICY_COMPLETE

enum dob_status {
	DOB_STATUS_OK = 0,
	DOB_STATUS_INVALID_ARGUMENT = 1,
	DOB_STATUS_UNKNOWN_JOB = 2,
	DOB_STATUS_ACCESS_DENIED = 3,
	DOB_STATUS_NOT_CONTROLLER = 4,
	DOB_STATUS_FORBIDDEN_ACTION = 5,
	DOB_STATUS_ALREADY_RESOLVED = 6,
	DOB_STATUS_NO_EPISODE = 7,
	DOB_STATUS_BACKEND_ERROR = 8,
	DOB_STATUS_TIMEOUT = 9,
	DOB_STATUS_LIMIT_EXCEEDED = 10,
	DOB_STATUS_UNAVAILABLE = 11,
	DOB_STATUS_PATH_DENIED = 12,
	DOB_STATUS_ALREADY_MANAGED = 13,
};
#define DOB_STATUS_MAX DOB_STATUS_ALREADY_MANAGED

enum dob_perr {
	DOB_PERR_UNSPECIFIED = 0,
	DOB_PERR_FRAME_TOO_LARGE = 1,
	DOB_PERR_FRAME_EMPTY = 2,
	DOB_PERR_TRUNCATED = 3,
	DOB_PERR_MALFORMED = 4,
	DOB_PERR_INVALID_FIELD = 5,
	DOB_PERR_UNEXPECTED_MESSAGE = 6,
	DOB_PERR_UNSUPPORTED_VERSION = 7,
	DOB_PERR_HANDSHAKE_TIMEOUT = 8,
	DOB_PERR_RATE_LIMITED = 9,
	DOB_PERR_TOO_SLOW = 10,
	DOB_PERR_TOO_MANY_CONNECTIONS = 11,
	DOB_PERR_SHUTTING_DOWN = 12,
};
#define DOB_PERR_MAX DOB_PERR_SHUTTING_DOWN

enum dob_resolved_by {
	DOB_RESOLVED_UNSPECIFIED = 0,
	DOB_RESOLVED_CONTROLLER = 1,
	DOB_RESOLVED_POLICY = 2,
	DOB_RESOLVED_JOB_LEFT_ERROR = 3,
};
#define DOB_RESOLVED_MAX DOB_RESOLVED_JOB_LEFT_ERROR

/* ------------------------------------------------------------ pieces */

struct dob_identity {
	uint32_t pid;
	uint32_t uid;
	char *user_sid;         /* owned */
	char *appcontainer_sid; /* owned; NULL/empty when not in one */
	uint32_t integrity_rid;
	bool sandboxed;
	bool privileged;
	bool internet_client;   /* AppContainer capability internetClient(Server) */
};

struct dob_filter {
	size_t n_job_ids;
	struct dob_guid *job_ids;    /* owned array */
	char *display_name_prefix;   /* owned */
	uint32_t kind_mask;          /* bit (1u << kind); 0 = all kinds */
};

struct dob_limits {
	uint32_t max_frame_bytes;
	uint32_t max_inflight_requests;
	uint32_t max_jobs;
	uint32_t queue_soft_limit;
	uint32_t queue_hard_limit;
	uint32_t handshake_timeout_ms;
};

struct dob_job_progress {
	uint64_t bytes_total;
	uint64_t bytes_transferred;
	uint32_t files_total;
	uint32_t files_transferred;
};

struct dob_file_progress {
	uint64_t bytes_total;
	uint64_t bytes_transferred;
	bool completed;
};

struct dob_job_times {
	int64_t creation_us;
	int64_t modification_us;
	int64_t transfer_completion_us;
};

struct dob_file_info {
	char *remote_url; /* owned */
	char *local_name; /* owned */
	struct dob_file_progress progress;
};

struct dob_field_error {
	char *field; /* owned */
	uint32_t hresult;
};

struct dob_job_info {
	struct dob_guid job_id;
	char *display_name; /* owned */
	enum dob_job_type type;
	enum dob_job_state state;
	struct dob_job_progress progress;
	struct dob_job_times times;
	char *owner; /* owned */
};

struct dob_error_info {
	enum dob_error_context context;
	uint32_t hresult;
	char *description;         /* owned */
	char *context_description; /* owned */
	char *protocol;            /* owned */
	bool has_file;
	struct dob_file_info file;
};

struct dob_policy {
	enum dob_policy_kind kind;
	uint32_t deadline_ms;
	uint32_t max_resumes;
	uint32_t backoff_ms;
	enum dob_policy_kind exhausted;
};

struct dob_actor {
	uint64_t session_id;
	char *client_name; /* owned */
	uint32_t pid;
};

/* ------------------------------------------------------------ bodies */

struct dob_hello {
	uint32_t min_version;
	uint32_t max_version;
	char *client_name; /* owned */
	enum dob_role role;
	struct dob_filter filter;
};

struct dob_welcome {
	uint32_t version;
	uint64_t session_id;
	enum dob_backend backend;
	struct dob_limits limits;
	struct dob_identity identity;
	char *broker_version; /* owned */
	uint32_t pending_episodes;
};

struct dob_protocol_error {
	enum dob_perr code;
	char *message; /* owned */
};

struct dob_resolution {
	struct dob_guid job_id;
	uint64_t episode_id;
	enum dob_action action;
	enum dob_resolved_by resolved_by;
	struct dob_actor actor;
	uint32_t hresult;
	enum dob_job_state new_state;
	char *message; /* owned */
};

struct dob_job_error {
	struct dob_job_info job;
	struct dob_error_info error;
	uint64_t episode_id;
	int64_t first_seen_us;
	int64_t last_seen_us;
	uint32_t repeat_count;
	enum dob_backend backend;
	int64_t deadline_us;
	struct dob_policy default_policy;
	bool replayed;
	size_t n_field_errors;
	struct dob_field_error *field_errors; /* owned array */
	bool has_failed_decision;             /* the episode is pending again: */
	struct dob_resolution failed_decision; /* the decision that failed */
	bool has_pending_decision;            /* replay of a decided episode: */
	struct dob_resolution pending_decision; /* the decision under way */
};

struct dob_job_transferred {
	struct dob_job_info job;
	enum dob_backend backend;
};

struct dob_job_modified {
	struct dob_job_info job;
	enum dob_backend backend;
	bool transient;
	bool has_error;               /* error is set (wire: field present) */
	struct dob_error_info error;
	size_t n_field_errors;
	struct dob_field_error *field_errors; /* owned array */
};


struct dob_gap {
	uint64_t dropped;
	uint64_t first_dropped_seq;
	uint64_t last_dropped_seq;
};

struct dob_act {
	struct dob_guid job_id;
	uint64_t episode_id;
	enum dob_action action;
	uint32_t delay_ms;
};

struct dob_action_result {
	enum dob_status status;
	char *message; /* owned */
	uint32_t hresult;
	enum dob_job_state new_state;
	struct dob_actor winner;
	enum dob_action winner_action;
};

struct dob_file_spec {
	char *remote_url; /* owned */
	char *local_path; /* owned */
};

struct dob_submit_job {
	char *display_name; /* owned */
	size_t n_files;
	struct dob_file_spec *files; /* owned array */
	enum dob_priority priority;
	struct dob_policy policy;
	enum dob_job_type type;
};

struct dob_adopt_job {
	struct dob_guid job_id;
	struct dob_policy policy;
};

struct dob_job_summary {
	struct dob_job_info job;
	uint64_t pending_episode_id;
	struct dob_identity owner;
	struct dob_policy policy;
};

struct dob_job_reply {
	enum dob_status status;
	char *message; /* owned */
	uint32_t hresult;
	bool has_job;
	struct dob_job_summary job;
};

struct dob_list_jobs_reply {
	enum dob_status status;
	char *message; /* owned */
	size_t n_jobs;
	struct dob_job_summary *jobs; /* owned array */
};

struct dob_subscriber_stats {
	uint64_t session_id;
	char *client_name; /* owned */
	enum dob_role role;
	uint32_t queue_depth;
	uint64_t events_out;
	uint64_t dropped;
};

struct dob_stats {
	enum dob_status status;
	char *message; /* owned */
	uint32_t subscribers;
	uint64_t events_in;
	uint64_t events_out;
	uint64_t dropped;
	uint32_t pending_episodes;
	uint32_t managed_jobs;
	uint64_t decision_latency_p50_us;
	uint64_t decision_latency_p99_us;
	size_t n_sessions;
	struct dob_subscriber_stats *sessions; /* owned array */
	uint64_t uptime_ms;
	uint64_t service_restarts; /* the backend reconnected to its service */
};

struct dob_ping {
	uint64_t nonce;
};

struct dob_list_history {
	size_t n_job_ids;
	struct dob_guid *job_ids;     /* owned array; none = every job */
	uint32_t limit;               /* 0 = as many as fit */
};

struct dob_history_entry {
	struct dob_resolution resolution;
	int64_t resolved_us;
	int64_t first_seen_us;
	char *display_name;           /* owned */
};

struct dob_history_reply {
	enum dob_status status;
	char *message;                /* owned */
	size_t n_entries;
	struct dob_history_entry *entries; /* owned array, newest first */
};

struct dob_unmanaged_reply {
	enum dob_status status;
	char *message;                /* owned */
	uint32_t hresult;
	size_t n_jobs;
	struct dob_job_info *jobs;    /* owned array */
};

/* Message types: the Envelope oneof field numbers. */
enum dob_msg_type {
	DOB_MSG_NONE = 0,
	DOB_MSG_HELLO = 2,
	DOB_MSG_WELCOME = 3,
	DOB_MSG_PROTOCOL_ERROR = 4,
	DOB_MSG_JOB_ERROR = 10,
	DOB_MSG_JOB_TRANSFERRED = 11,
	DOB_MSG_JOB_MODIFIED = 12,
	DOB_MSG_RESOLUTION = 13,
	DOB_MSG_GAP = 14,
	DOB_MSG_ACT = 20,
	DOB_MSG_ACTION_RESULT = 21,
	DOB_MSG_SUBMIT_JOB = 22,
	DOB_MSG_ADOPT_JOB = 23,
	DOB_MSG_JOB_REPLY = 24,
	DOB_MSG_LIST_JOBS = 25,
	DOB_MSG_LIST_JOBS_REPLY = 26,
	DOB_MSG_GET_STATS = 27,
	DOB_MSG_STATS = 28,
	DOB_MSG_PING = 29,
	DOB_MSG_PONG = 30,
	DOB_MSG_LIST_HISTORY = 40,
	DOB_MSG_HISTORY_REPLY = 41,
	DOB_MSG_LIST_UNMANAGED = 42,
	DOB_MSG_UNMANAGED_REPLY = 43,
};

struct dob_msg {
	uint64_t correlation_id;
	enum dob_msg_type type;
	union {
		struct dob_hello hello;
		struct dob_welcome welcome;
		struct dob_protocol_error protocol_error;
		struct dob_job_error job_error;
		struct dob_job_transferred job_transferred;
		struct dob_job_modified job_modified;
		struct dob_resolution resolution;
		struct dob_gap gap;
		struct dob_act act;
		struct dob_action_result action_result;
		struct dob_submit_job submit_job;
		struct dob_adopt_job adopt_job;
		struct dob_job_reply job_reply;
		/* list_jobs and get_stats have no fields */
		struct dob_list_jobs_reply list_jobs_reply;
		struct dob_stats stats;
		struct dob_ping ping; /* also pong */
		struct dob_list_history list_history;
		struct dob_history_reply history_reply;
		/* list_unmanaged has no fields */
		struct dob_unmanaged_reply unmanaged_reply;
	} u;
};

/* ------------------------------------------------------------ journal */

struct dob_journal_job {
	struct dob_guid job_id;
	struct dob_identity owner;
	struct dob_policy policy;
	char *display_name; /* owned */
	enum dob_job_type type;
	uint32_t resumes_used;
};

enum dob_jrec_type {
	DOB_JREC_NONE = 0,
	DOB_JREC_JOB = 1,
	DOB_JREC_EPISODE = 2,
	DOB_JREC_DECISION = 3,
	DOB_JREC_JOB_REMOVED = 4,
	DOB_JREC_COUNTERS = 5,
	DOB_JREC_SCHEDULE = 6,
};

struct dob_jrec {
	enum dob_jrec_type type;
	union {
		struct dob_journal_job job;
		struct {
			uint64_t episode_id;
			struct dob_job_error event;
		} episode;
		struct {
			uint64_t episode_id;
			struct dob_resolution resolution;
			int64_t resolved_us;
			int64_t first_seen_us;
			bool has_owner;
			struct dob_identity owner;
			char *display_name; /* owned */
		} decision;
		struct dob_guid job_removed;
		struct {
			uint64_t next_episode_id;
		} counters;
		struct {
			uint64_t episode_id;
			struct dob_resolution decision;
			int64_t due_us;
			bool done;
		} schedule;
	} u;
};

/* ------------------------------------------------------------ helpers */

/* Frees everything a message owns and zeroes it. NULL-safe. */
void dob_msg_clear(struct dob_msg *m);
void dob_jrec_clear(struct dob_jrec *r);

/* Deep copies (strings and arrays duplicated). Return 0 or -DOB_ENOMEM;
 * on failure *dst is zeroed. */
int dob_msg_copy(struct dob_msg *dst, const struct dob_msg *src);
int dob_job_info_copy(struct dob_job_info *dst, const struct dob_job_info *src);
int dob_error_info_copy(struct dob_error_info *dst, const struct dob_error_info *src);
int dob_identity_copy(struct dob_identity *dst, const struct dob_identity *src);
void dob_job_info_clear(struct dob_job_info *j);
void dob_error_info_clear(struct dob_error_info *e);
void dob_identity_clear(struct dob_identity *id);
void dob_actor_clear(struct dob_actor *a);

/* Names for logs, docs and dobctl ("cancel", "ERROR", ...). Never NULL. */
const char *dob_msg_type_name(enum dob_msg_type t);
const char *dob_state_name(enum dob_job_state s);
const char *dob_action_name(enum dob_action a);
const char *dob_status_name(enum dob_status s);
const char *dob_perr_name(enum dob_perr c);
const char *dob_backend_name(enum dob_backend b);
const char *dob_policy_name(enum dob_policy_kind k);
const char *dob_context_name(enum dob_error_context c);
const char *dob_event_kind_name(enum dob_event_kind k);
const char *dob_resolved_by_name(enum dob_resolved_by r);
const char *dob_role_name(enum dob_role r);
/* Parse a lower-case name back; return -1 when unknown. */
int dob_action_parse(const char *name);
int dob_policy_parse(const char *name);
int dob_backend_parse(const char *name);
int dob_event_kind_parse(const char *name); /* "job-error", ... */
int dob_role_parse(const char *name);       /* "observer", "controller" */

/* GUID text form "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" (Windows layout:
 * first three groups little-endian in memory). buf must hold 39 bytes. */
#define DOB_GUID_STR_LEN 39
void dob_guid_format(const struct dob_guid *g, char buf[DOB_GUID_STR_LEN]);
/* Accepts with or without braces, any case. Returns 0 or -DOB_EINVAL. */
int dob_guid_parse(const char *s, struct dob_guid *out);
bool dob_guid_is_zero(const struct dob_guid *g);

#endif
