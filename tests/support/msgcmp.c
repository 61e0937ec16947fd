/*
 * msgcmp.c - deep equality of messages, by hand (see msgcmp.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "msgcmp.h"

struct cmp {
	char path[256];
	size_t len;
	bool differ;
	char *why;
	size_t n;
};

static size_t push(struct cmp *c, const char *name, long i)
{
	size_t old = c->len;
	size_t room = sizeof c->path - c->len;
	int k = i >= 0 ? snprintf(c->path + c->len, room, "%s%s[%ld]", old ? "." : "", name, i)
		       : snprintf(c->path + c->len, room, "%s%s", old ? "." : "", name);

	if (k > 0)
		c->len += (size_t)k < room ? (size_t)k : room - 1;
	return old;
}

static void pop(struct cmp *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

static void __attribute__((format(printf, 3, 4)))
differ(struct cmp *c, const char *name, const char *fmt, ...)
{
	char text[192];
	va_list ap;

	if (c->differ)
		return; /* keep the first difference */
	c->differ = true;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (c->why && c->n)
		snprintf(c->why, c->n, "%s%s%s: %s", c->path, c->len && *name ? "." : "",
			 name, text);
}

static void num(struct cmp *c, const char *name, uint64_t a, uint64_t b)
{
	if (a != b)
		differ(c, name, "%" PRIu64 " != %" PRIu64, a, b);
}

static void str(struct cmp *c, const char *name, const char *a, const char *b)
{
	if (strcmp(a ? a : "", b ? b : "") != 0)
		differ(c, name, "\"%.60s\" != \"%.60s\"", a ? a : "", b ? b : "");
}

static void guid(struct cmp *c, const char *name, const struct dob_guid *a,
		 const struct dob_guid *b)
{
	char sa[DOB_GUID_STR_LEN], sb[DOB_GUID_STR_LEN];

	if (memcmp(a->b, b->b, sizeof a->b) != 0) {
		dob_guid_format(a, sa);
		dob_guid_format(b, sb);
		differ(c, name, "%s != %s", sa, sb);
	}
}

#define N(f) num(c, #f, (uint64_t)a->f, (uint64_t)b->f)
#define S(f) str(c, #f, a->f, b->f)
#define G(f) guid(c, #f, &a->f, &b->f)
#define SUB(f, fn) do { size_t o_ = push(c, #f, -1); fn(c, &a->f, &b->f); pop(c, o_); } while (0)
#define ARR(f, fn) do { \
	N(n_##f); \
	for (size_t i_ = 0; !c->differ && i_ < a->n_##f; i_++) { \
		size_t o_ = push(c, #f, (long)i_); \
		fn(c, &a->f[i_], &b->f[i_]); \
		pop(c, o_); \
	} \
} while (0)

#define CMP(type) static void cmp_##type(struct cmp *c, const struct dob_##type *a, \
					 const struct dob_##type *b)

CMP(identity)
{
	N(pid); N(uid); S(user_sid); S(appcontainer_sid); N(integrity_rid);
	N(sandboxed); N(privileged);
}

CMP(filter)
{
	N(n_job_ids);
	for (size_t i = 0; !c->differ && i < a->n_job_ids; i++) {
		size_t o = push(c, "job_ids", (long)i);
		guid(c, "", &a->job_ids[i], &b->job_ids[i]);
		pop(c, o);
	}
	S(display_name_prefix); N(kind_mask);
}

CMP(limits)
{
	N(max_frame_bytes); N(max_inflight_requests); N(max_jobs);
	N(queue_soft_limit); N(queue_hard_limit); N(handshake_timeout_ms);
}

CMP(job_progress)
{
	N(bytes_total); N(bytes_transferred); N(files_total); N(files_transferred);
}

CMP(file_progress)
{
	N(bytes_total); N(bytes_transferred); N(completed);
}

CMP(job_times)
{
	N(creation_us); N(modification_us); N(transfer_completion_us);
}

CMP(file_info)
{
	S(remote_url); S(local_name); SUB(progress, cmp_file_progress);
}

CMP(field_error)
{
	S(field); N(hresult);
}

CMP(job_info)
{
	G(job_id); S(display_name); N(type); N(state);
	SUB(progress, cmp_job_progress); SUB(times, cmp_job_times); S(owner);
}

CMP(error_info)
{
	N(context); N(hresult); S(description); S(context_description); S(protocol);
	N(has_file); SUB(file, cmp_file_info);
}

CMP(policy)
{
	N(kind); N(deadline_ms); N(max_resumes); N(backoff_ms); N(exhausted);
}

CMP(actor)
{
	N(session_id); S(client_name); N(pid);
}

CMP(hello)
{
	N(min_version); N(max_version); S(client_name); N(role); SUB(filter, cmp_filter);
}

CMP(welcome)
{
	N(version); N(session_id); N(backend); SUB(limits, cmp_limits);
	SUB(identity, cmp_identity); S(broker_version); N(pending_episodes);
}

CMP(protocol_error)
{
	N(code); S(message);
}

CMP(resolution)
{
	G(job_id); N(episode_id); N(action); N(resolved_by); SUB(actor, cmp_actor);
	N(hresult); N(new_state); S(message);
}

CMP(job_error)
{
	SUB(job, cmp_job_info); SUB(error, cmp_error_info); N(episode_id);
	N(first_seen_us); N(last_seen_us); N(repeat_count); N(backend); N(deadline_us);
	SUB(default_policy, cmp_policy); N(replayed); ARR(field_errors, cmp_field_error);
	N(has_failed_decision); SUB(failed_decision, cmp_resolution);
	N(has_pending_decision); SUB(pending_decision, cmp_resolution);
}

CMP(job_transferred)
{
	SUB(job, cmp_job_info); N(backend);
}

CMP(job_modified)
{
	SUB(job, cmp_job_info); N(backend); N(transient); N(has_error);
	SUB(error, cmp_error_info); ARR(field_errors, cmp_field_error);
}

CMP(gap)
{
	N(dropped); N(first_dropped_seq); N(last_dropped_seq);
}

CMP(act)
{
	G(job_id); N(episode_id); N(action); N(delay_ms);
}

CMP(action_result)
{
	N(status); S(message); N(hresult); N(new_state); SUB(winner, cmp_actor);
	N(winner_action);
}

CMP(file_spec)
{
	S(remote_url); S(local_path);
}

CMP(submit_job)
{
	S(display_name); ARR(files, cmp_file_spec); N(priority); SUB(policy, cmp_policy);
	N(type);
}

CMP(adopt_job)
{
	G(job_id); SUB(policy, cmp_policy);
}

CMP(job_summary)
{
	SUB(job, cmp_job_info); N(pending_episode_id); SUB(owner, cmp_identity);
	SUB(policy, cmp_policy);
}

CMP(job_reply)
{
	N(status); S(message); N(hresult); N(has_job); SUB(job, cmp_job_summary);
}

CMP(list_jobs_reply)
{
	N(status); S(message); ARR(jobs, cmp_job_summary);
}

CMP(subscriber_stats)
{
	N(session_id); S(client_name); N(role); N(queue_depth); N(events_out); N(dropped);
}

CMP(stats)
{
	N(status); S(message); N(subscribers); N(events_in); N(events_out); N(dropped);
	N(pending_episodes); N(managed_jobs); N(decision_latency_p50_us);
	N(decision_latency_p99_us); ARR(sessions, cmp_subscriber_stats); N(uptime_ms);
}

CMP(ping)
{
	N(nonce);
}

CMP(list_history)
{
	N(n_job_ids);
	for (size_t i = 0; !c->differ && i < a->n_job_ids; i++) {
		size_t o = push(c, "job_ids", (long)i);
		guid(c, "", &a->job_ids[i], &b->job_ids[i]);
		pop(c, o);
	}
	N(limit);
}

CMP(history_entry)
{
	SUB(resolution, cmp_resolution); N(resolved_us); N(first_seen_us); S(display_name);
}

CMP(history_reply)
{
	N(status); S(message); ARR(entries, cmp_history_entry);
}

CMP(unmanaged_reply)
{
	N(status); S(message); N(hresult); ARR(jobs, cmp_job_info);
}

CMP(journal_job)
{
	G(job_id); SUB(owner, cmp_identity); SUB(policy, cmp_policy); S(display_name);
	N(type); N(resumes_used);
}

static bool done(struct cmp *c)
{
	if (!c->differ && c->why && c->n)
		c->why[0] = '\0';
	return !c->differ;
}

bool msgcmp_msg(const struct dob_msg *a, const struct dob_msg *b, char *why, size_t n)
{
	struct cmp cc = { .why = why, .n = n }, *c = &cc;

	push(c, "envelope", -1);
	N(correlation_id);
	N(type);
	pop(c, 0);
	if (c->differ)
		return done(c);
	push(c, dob_msg_type_name(a->type), -1);
	switch (a->type) {
	case DOB_MSG_HELLO: cmp_hello(c, &a->u.hello, &b->u.hello); break;
	case DOB_MSG_WELCOME: cmp_welcome(c, &a->u.welcome, &b->u.welcome); break;
	case DOB_MSG_PROTOCOL_ERROR:
		cmp_protocol_error(c, &a->u.protocol_error, &b->u.protocol_error);
		break;
	case DOB_MSG_JOB_ERROR: cmp_job_error(c, &a->u.job_error, &b->u.job_error); break;
	case DOB_MSG_JOB_TRANSFERRED:
		cmp_job_transferred(c, &a->u.job_transferred, &b->u.job_transferred);
		break;
	case DOB_MSG_JOB_MODIFIED:
		cmp_job_modified(c, &a->u.job_modified, &b->u.job_modified);
		break;
	case DOB_MSG_RESOLUTION: cmp_resolution(c, &a->u.resolution, &b->u.resolution); break;
	case DOB_MSG_GAP: cmp_gap(c, &a->u.gap, &b->u.gap); break;
	case DOB_MSG_ACT: cmp_act(c, &a->u.act, &b->u.act); break;
	case DOB_MSG_ACTION_RESULT:
		cmp_action_result(c, &a->u.action_result, &b->u.action_result);
		break;
	case DOB_MSG_SUBMIT_JOB: cmp_submit_job(c, &a->u.submit_job, &b->u.submit_job); break;
	case DOB_MSG_ADOPT_JOB: cmp_adopt_job(c, &a->u.adopt_job, &b->u.adopt_job); break;
	case DOB_MSG_JOB_REPLY: cmp_job_reply(c, &a->u.job_reply, &b->u.job_reply); break;
	case DOB_MSG_LIST_JOBS_REPLY:
		cmp_list_jobs_reply(c, &a->u.list_jobs_reply, &b->u.list_jobs_reply);
		break;
	case DOB_MSG_STATS: cmp_stats(c, &a->u.stats, &b->u.stats); break;
	case DOB_MSG_PING:
	case DOB_MSG_PONG: cmp_ping(c, &a->u.ping, &b->u.ping); break;
	case DOB_MSG_LIST_HISTORY:
		cmp_list_history(c, &a->u.list_history, &b->u.list_history);
		break;
	case DOB_MSG_HISTORY_REPLY:
		cmp_history_reply(c, &a->u.history_reply, &b->u.history_reply);
		break;
	case DOB_MSG_UNMANAGED_REPLY:
		cmp_unmanaged_reply(c, &a->u.unmanaged_reply, &b->u.unmanaged_reply);
		break;
	case DOB_MSG_LIST_JOBS:
	case DOB_MSG_GET_STATS:
	case DOB_MSG_LIST_UNMANAGED:
	case DOB_MSG_NONE:
		break;
	}
	return done(c);
}

bool msgcmp_jrec(const struct dob_jrec *a, const struct dob_jrec *b, char *why, size_t n)
{
	struct cmp cc = { .why = why, .n = n }, *c = &cc;

	push(c, "record", -1);
	N(type);
	if (c->differ)
		return done(c);
	switch (a->type) {
	case DOB_JREC_JOB:
		SUB(u.job, cmp_journal_job);
		break;
	case DOB_JREC_EPISODE:
		N(u.episode.episode_id);
		SUB(u.episode.event, cmp_job_error);
		break;
	case DOB_JREC_DECISION:
		N(u.decision.episode_id);
		SUB(u.decision.resolution, cmp_resolution);
		N(u.decision.resolved_us);
		N(u.decision.first_seen_us);
		N(u.decision.has_owner);
		SUB(u.decision.owner, cmp_identity);
		S(u.decision.display_name);
		break;
	case DOB_JREC_JOB_REMOVED:
		G(u.job_removed);
		break;
	case DOB_JREC_COUNTERS:
		N(u.counters.next_episode_id);
		break;
	case DOB_JREC_SCHEDULE:
		N(u.schedule.episode_id);
		SUB(u.schedule.decision, cmp_resolution);
		N(u.schedule.due_us);
		N(u.schedule.done);
		break;
	case DOB_JREC_NONE:
		break;
	}
	return done(c);
}
