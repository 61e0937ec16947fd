/*
 * samples.c - fully set messages of every type (see samples.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "samples.h"

const enum dob_msg_type sample_types[] = {
	DOB_MSG_HELLO, DOB_MSG_WELCOME, DOB_MSG_PROTOCOL_ERROR, DOB_MSG_JOB_ERROR,
	DOB_MSG_JOB_TRANSFERRED, DOB_MSG_JOB_MODIFIED, DOB_MSG_RESOLUTION, DOB_MSG_GAP,
	DOB_MSG_ACT, DOB_MSG_ACTION_RESULT, DOB_MSG_SUBMIT_JOB, DOB_MSG_ADOPT_JOB,
	DOB_MSG_JOB_REPLY, DOB_MSG_LIST_JOBS, DOB_MSG_LIST_JOBS_REPLY, DOB_MSG_GET_STATS,
	DOB_MSG_STATS, DOB_MSG_PING, DOB_MSG_PONG, DOB_MSG_LIST_HISTORY,
	DOB_MSG_HISTORY_REPLY, DOB_MSG_LIST_UNMANAGED, DOB_MSG_UNMANAGED_REPLY,
};
const size_t sample_n_types = sizeof sample_types / sizeof sample_types[0];

const enum dob_jrec_type sample_jrec_types[] = {
	DOB_JREC_JOB, DOB_JREC_EPISODE, DOB_JREC_DECISION, DOB_JREC_JOB_REMOVED,
	DOB_JREC_COUNTERS,
	DOB_JREC_SCHEDULE,
};
const size_t sample_n_jrec_types = sizeof sample_jrec_types / sizeof sample_jrec_types[0];

/* Distinct values: each call returns a new one. */
static unsigned counter;

static uint32_t u32(void)
{
	return 1000u + 37u * ++counter;
}

static uint64_t u64(void)
{
	return 0x100000000ull * ++counter + 0xABCDu; /* above 2^32 */
}

static int64_t i64(void)
{
	return 1700000000000000ll + (int64_t)++counter * 1000003;
}

static char *str(const char *base)
{
	char buf[128];
	char *s;

	snprintf(buf, sizeof buf, "%s #%u", base, ++counter);
	if (!(s = dob_strdup(buf)))
		abort();
	return s;
}

static void *array(size_t n, size_t size)
{
	void *p = dob_calloc(n, size);

	if (!p)
		abort();
	return p;
}

struct dob_guid sample_guid(void)
{
	struct dob_guid g;

	++counter;
	for (int i = 0; i < DOB_GUID_LEN; i++)
		g.b[i] = (uint8_t)(counter * 31 + i * 7 + 1);
	return g;
}

void sample_job_info(struct dob_job_info *j)
{
	j->job_id = sample_guid();
	j->display_name = str("nightly update \xC3\xA9\xF0\x9F\x93\xA6");
	j->type = DOB_JOB_UPLOAD_REPLY;
	j->state = DOB_STATE_ERROR;
	j->progress.bytes_total = u64();
	j->progress.bytes_transferred = u64();
	j->progress.files_total = u32();
	j->progress.files_transferred = u32();
	j->times.creation_us = i64();
	j->times.modification_us = -i64(); /* before 1970: negative */
	j->times.transfer_completion_us = i64();
	j->owner = str("S-1-5-21-1004336348-1177238915-682003330-512");
}

void sample_error_info(struct dob_error_info *e)
{
	e->context = DOB_CONTEXT_REMOTE_FILE;
	e->hresult = 0x80190194u;
	e->description = str("HTTP 404: not found");
	e->context_description = str("remote file");
	e->protocol = str("http");
	e->has_file = true;
	e->file.remote_url = str("https://example.com/files/a.bin");
	e->file.local_name = str("C:\\Users\\me\\Downloads\\a.bin");
	e->file.progress.bytes_total = u64();
	e->file.progress.bytes_transferred = u64();
	e->file.progress.completed = true;
}

void sample_identity(struct dob_identity *id)
{
	id->pid = u32();
	id->uid = u32();
	id->user_sid = str("S-1-5-21-1-2-3-1001");
	id->appcontainer_sid = str("S-1-15-2-1-2-3-4-5-6-7");
	id->integrity_rid = 0x1000;
	id->sandboxed = true;
	id->privileged = true;
}

void sample_policy(struct dob_policy *p)
{
	p->kind = DOB_POLICY_RESUME;
	p->deadline_ms = u32();
	p->max_resumes = u32();
	p->backoff_ms = u32();
	p->exhausted = DOB_POLICY_CANCEL;
}

void sample_actor(struct dob_actor *a)
{
	a->session_id = u64();
	a->client_name = str("dobctl");
	a->pid = u32();
}

static struct dob_field_error *field_errors(size_t n)
{
	struct dob_field_error *fe = array(n, sizeof *fe);

	for (size_t i = 0; i < n; i++) {
		fe[i].field = str("GetErrorDescription");
		fe[i].hresult = 0x80070000u + u32();
	}
	return fe;
}

static void job_summary(struct dob_job_summary *s)
{
	sample_job_info(&s->job);
	s->pending_episode_id = u64();
	sample_identity(&s->owner);
	sample_policy(&s->policy);
}

static void resolution(struct dob_resolution *r)
{
	r->job_id = sample_guid();
	r->episode_id = u64();
	r->action = DOB_ACTION_COMPLETE;
	r->resolved_by = DOB_RESOLVED_POLICY;
	sample_actor(&r->actor);
	r->hresult = 0x80200010u;
	r->new_state = DOB_STATE_ACKNOWLEDGED;
	r->message = str("completed by policy");
}

static void job_error(struct dob_job_error *e)
{
	sample_job_info(&e->job);
	sample_error_info(&e->error);
	e->episode_id = u64();
	e->first_seen_us = i64();
	e->last_seen_us = i64();
	e->repeat_count = u32();
	e->backend = DOB_BACKEND_DO;
	e->deadline_us = i64();
	sample_policy(&e->default_policy);
	e->replayed = true;
	e->n_field_errors = 2;
	e->field_errors = field_errors(2);
	e->has_failed_decision = true;
	resolution(&e->failed_decision);
	e->has_pending_decision = true;
	resolution(&e->pending_decision);
}

static void body(struct dob_msg *m)
{
	switch (m->type) {
	case DOB_MSG_HELLO: {
		struct dob_hello *h = &m->u.hello;

		h->min_version = 1;
		h->max_version = 3;
		h->client_name = str("app \xE2\x82\xAC");
		h->role = DOB_ROLE_CONTROLLER;
		h->filter.n_job_ids = 2;
		h->filter.job_ids = array(2, sizeof(struct dob_guid));
		h->filter.job_ids[0] = sample_guid();
		h->filter.job_ids[1] = sample_guid();
		h->filter.display_name_prefix = str("nightly");
		h->filter.kind_mask = 1u << DOB_EVENT_JOB_ERROR | 1u << DOB_EVENT_RESOLUTION;
		break;
	}
	case DOB_MSG_WELCOME: {
		struct dob_welcome *w = &m->u.welcome;

		w->version = 1;
		w->session_id = u64();
		w->backend = DOB_BACKEND_BITS;
		w->limits.max_frame_bytes = u32();
		w->limits.max_inflight_requests = u32();
		w->limits.max_jobs = u32();
		w->limits.queue_soft_limit = u32();
		w->limits.queue_hard_limit = u32();
		w->limits.handshake_timeout_ms = u32();
		sample_identity(&w->identity);
		w->broker_version = str("dobroker 0.1.0");
		w->pending_episodes = u32();
		break;
	}
	case DOB_MSG_PROTOCOL_ERROR:
		m->u.protocol_error.code = DOB_PERR_SHUTTING_DOWN;
		m->u.protocol_error.message = str("the broker is stopping");
		break;
	case DOB_MSG_JOB_ERROR:
		job_error(&m->u.job_error);
		break;
	case DOB_MSG_JOB_TRANSFERRED:
		sample_job_info(&m->u.job_transferred.job);
		m->u.job_transferred.backend = DOB_BACKEND_SIM;
		break;
	case DOB_MSG_JOB_MODIFIED: {
		struct dob_job_modified *jm = &m->u.job_modified;

		sample_job_info(&jm->job);
		jm->backend = DOB_BACKEND_BITS;
		jm->transient = true;
		jm->has_error = true;
		sample_error_info(&jm->error);
		jm->n_field_errors = 3;
		jm->field_errors = field_errors(3);
		break;
	}
	case DOB_MSG_RESOLUTION:
		resolution(&m->u.resolution);
		break;
	case DOB_MSG_GAP:
		m->u.gap.dropped = u64();
		m->u.gap.first_dropped_seq = u64();
		m->u.gap.last_dropped_seq = u64();
		break;
	case DOB_MSG_ACT:
		m->u.act.job_id = sample_guid();
		m->u.act.episode_id = u64();
		m->u.act.action = DOB_ACTION_RESUME_AFTER_DELAY;
		m->u.act.delay_ms = u32();
		break;
	case DOB_MSG_ACTION_RESULT: {
		struct dob_action_result *r = &m->u.action_result;

		r->status = DOB_STATUS_ALREADY_RESOLVED;
		r->message = str("another controller won");
		r->hresult = 0x80004005u;
		r->new_state = DOB_STATE_CANCELLED;
		sample_actor(&r->winner);
		r->winner_action = DOB_ACTION_CANCEL;
		break;
	}
	case DOB_MSG_SUBMIT_JOB: {
		struct dob_submit_job *s = &m->u.submit_job;

		s->display_name = str("my download");
		s->n_files = 3;
		s->files = array(3, sizeof *s->files);
		for (size_t i = 0; i < 3; i++) {
			s->files[i].remote_url = str("https://example.com/f");
			s->files[i].local_path = str("C:\\tmp\\f");
		}
		s->priority = DOB_PRIORITY_LOW;
		sample_policy(&s->policy);
		s->type = DOB_JOB_UPLOAD;
		break;
	}
	case DOB_MSG_ADOPT_JOB:
		m->u.adopt_job.job_id = sample_guid();
		sample_policy(&m->u.adopt_job.policy);
		break;
	case DOB_MSG_JOB_REPLY: {
		struct dob_job_reply *r = &m->u.job_reply;

		r->status = DOB_STATUS_ALREADY_MANAGED;
		r->message = str("already managed");
		r->hresult = 0x80070005u;
		r->has_job = true;
		job_summary(&r->job);
		break;
	}
	case DOB_MSG_LIST_JOBS_REPLY: {
		struct dob_list_jobs_reply *r = &m->u.list_jobs_reply;

		r->status = DOB_STATUS_UNAVAILABLE;
		r->message = str("partial list");
		r->n_jobs = 2;
		r->jobs = array(2, sizeof *r->jobs);
		job_summary(&r->jobs[0]);
		job_summary(&r->jobs[1]);
		break;
	}
	case DOB_MSG_STATS: {
		struct dob_stats *s = &m->u.stats;

		s->status = DOB_STATUS_ACCESS_DENIED;
		s->message = str("sessions hidden");
		s->subscribers = u32();
		s->events_in = u64();
		s->events_out = u64();
		s->dropped = u64();
		s->pending_episodes = u32();
		s->managed_jobs = u32();
		s->decision_latency_p50_us = u64();
		s->decision_latency_p99_us = u64();
		s->n_sessions = 2;
		s->sessions = array(2, sizeof *s->sessions);
		for (size_t i = 0; i < 2; i++) {
			s->sessions[i].session_id = u64();
			s->sessions[i].client_name = str("watcher");
			s->sessions[i].role = DOB_ROLE_OBSERVER;
			s->sessions[i].queue_depth = u32();
			s->sessions[i].events_out = u64();
			s->sessions[i].dropped = u64();
		}
		s->uptime_ms = u64();
		break;
	}
	case DOB_MSG_PING:
	case DOB_MSG_PONG:
		m->u.ping.nonce = u64();
		break;
	case DOB_MSG_LIST_HISTORY: {
		struct dob_list_history *l = &m->u.list_history;

		l->n_job_ids = 2;
		l->job_ids = array(2, sizeof(struct dob_guid));
		l->job_ids[0] = sample_guid();
		l->job_ids[1] = sample_guid();
		l->limit = 4000;
		break;
	}
	case DOB_MSG_HISTORY_REPLY: {
		struct dob_history_reply *r = &m->u.history_reply;

		r->status = DOB_STATUS_OK;
		r->message = str("truncated: 2 of 3 entries fit in one frame");
		r->n_entries = 2;
		r->entries = array(2, sizeof *r->entries);
		for (size_t i = 0; i < 2; i++) {
			resolution(&r->entries[i].resolution);
			r->entries[i].resolved_us = i64();
			r->entries[i].first_seen_us = i64();
			r->entries[i].display_name = str("nightly \xE2\x82\xAC");
		}
		break;
	}
	case DOB_MSG_UNMANAGED_REPLY: {
		struct dob_unmanaged_reply *r = &m->u.unmanaged_reply;

		r->status = DOB_STATUS_BACKEND_ERROR;
		r->message = str("EnumJobs failed");
		r->hresult = 0x80070005u;
		r->n_jobs = 2;
		r->jobs = array(2, sizeof *r->jobs);
		sample_job_info(&r->jobs[0]);
		sample_job_info(&r->jobs[1]);
		break;
	}
	case DOB_MSG_LIST_JOBS:
	case DOB_MSG_GET_STATS:
	case DOB_MSG_LIST_UNMANAGED:
	case DOB_MSG_NONE:
		break;
	}
}

/* Requests and replies carry a correlation id; the rest must not. */
static bool correlated(enum dob_msg_type t)
{
	return t >= DOB_MSG_ACT || t == DOB_MSG_PROTOCOL_ERROR;
}

void sample_msg(enum dob_msg_type t, struct dob_msg *out)
{
	memset(out, 0, sizeof *out);
	out->type = t;
	out->correlation_id = correlated(t) ? u64() : 0;
	body(out);
}

void sample_list_jobs_reply(size_t n, struct dob_msg *out)
{
	struct dob_list_jobs_reply *r = &out->u.list_jobs_reply;

	memset(out, 0, sizeof *out);
	out->type = DOB_MSG_LIST_JOBS_REPLY;
	out->correlation_id = u64();
	r->message = str("all jobs");
	r->n_jobs = n;
	r->jobs = array(n, sizeof *r->jobs);
	for (size_t i = 0; i < n; i++)
		job_summary(&r->jobs[i]);
}

void sample_jrec(enum dob_jrec_type t, struct dob_jrec *out)
{
	memset(out, 0, sizeof *out);
	out->type = t;
	switch (t) {
	case DOB_JREC_JOB: {
		struct dob_journal_job *j = &out->u.job;

		j->job_id = sample_guid();
		sample_identity(&j->owner);
		sample_policy(&j->policy);
		j->display_name = str("journaled job");
		j->type = DOB_JOB_UPLOAD;
		j->resumes_used = u32();
		break;
	}
	case DOB_JREC_EPISODE:
		out->u.episode.episode_id = u64();
		job_error(&out->u.episode.event);
		break;
	case DOB_JREC_DECISION:
		out->u.decision.episode_id = u64();
		resolution(&out->u.decision.resolution);
		out->u.decision.resolved_us = i64();
		out->u.decision.first_seen_us = i64();
		out->u.decision.has_owner = true;
		sample_identity(&out->u.decision.owner);
		out->u.decision.display_name = str("nightly");
		break;
	case DOB_JREC_JOB_REMOVED:
		out->u.job_removed = sample_guid();
		break;
	case DOB_JREC_COUNTERS:
		out->u.counters.next_episode_id = u64();
		break;
	case DOB_JREC_SCHEDULE:
		out->u.schedule.episode_id = u64();
		resolution(&out->u.schedule.decision);
		out->u.schedule.due_us = i64();
		out->u.schedule.done = true;
		break;
	case DOB_JREC_NONE:
		break;
	}
}
