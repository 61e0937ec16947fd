/*
 * client/src/dobctl_top.c - the view of `dobctl top` (dobctl_top.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dobctl_top.h"
#include "dobctl_util.h"

void top_init(struct top_view *v)
{
	memset(v, 0, sizeof *v);
}

static long find(const struct top_view *v, uint64_t episode)
{
	size_t i;

	for (i = 0; i < v->n_episodes; i++)
		if (v->episodes[i].episode_id == episode)
			return (long)i;
	return -1;
}

bool top_has_episode(const struct top_view *v, uint64_t episode_id)
{
	return find(v, episode_id) >= 0;
}

void top_on_event(struct top_view *v, const struct dob_msg *m)
{
	struct top_episode *e;
	long at;

	if (m->type == DOB_MSG_RESOLUTION) {
		v->decisions++;
		at = find(v, m->u.resolution.episode_id);
		if (at >= 0) {
			v->episodes[at] = v->episodes[v->n_episodes - 1];
			v->n_episodes--;
		}
		return;
	}
	if (m->type != DOB_MSG_JOB_ERROR)
		return;
	at = find(v, m->u.job_error.episode_id);
	if (at < 0) {
		if (v->n_episodes == TOP_MAX_EPISODES) {
			v->episodes_dropped++;
			return;
		}
		at = (long)v->n_episodes++;
	}
	e = &v->episodes[at];
	memset(e, 0, sizeof *e);
	e->episode_id = m->u.job_error.episode_id;
	e->job_id = m->u.job_error.job.job_id;
	snprintf(e->name, sizeof e->name, "%s",
		 m->u.job_error.job.display_name ? m->u.job_error.job.display_name : "");
	e->hresult = m->u.job_error.error.hresult;
	e->first_seen_us = m->u.job_error.first_seen_us;
	e->deadline_us = m->u.job_error.deadline_us;
	e->repeat_count = m->u.job_error.repeat_count;
	dobctl_format_policy(&m->u.job_error.default_policy, e->policy, sizeof e->policy);
}

static void progress_text(const struct dob_job_progress *p, char *buf, size_t len)
{
	char done[24], total[24];

	dobctl_format_bytes(p->bytes_transferred, done, sizeof done);
	dobctl_format_bytes(p->bytes_total, total, sizeof total);
	if (p->bytes_total != DOB_SIZE_UNKNOWN && p->bytes_total > 0)
		snprintf(buf, len, "%s/%s (%u%%)", done, total,
			 (unsigned)(p->bytes_transferred * 100 / p->bytes_total));
	else
		snprintf(buf, len, "%s/%s", done, total);
}

static void deadline_text(const struct top_episode *e, int64_t now_us, char *buf, size_t len)
{
	char d[32];

	if (!e->deadline_us) {
		snprintf(buf, len, "none");
	} else if (e->deadline_us >= now_us) {
		dobctl_format_duration_us(e->deadline_us - now_us, d, sizeof d);
		snprintf(buf, len, "in %s", d);
	} else {
		dobctl_format_duration_us(now_us - e->deadline_us, d, sizeof d);
		snprintf(buf, len, "due %s ago", d);
	}
}

void top_print(FILE *out, const struct top_view *v)
{
	const struct dob_stats *s = v->stats;
	char a[32], b[32];
	size_t i;

	fprintf(out, "%s, backend %s", v->broker_version ? v->broker_version : "broker",
		dob_backend_name(v->backend));
	if (s) {
		dobctl_format_duration_us((int64_t)s->uptime_ms * 1000, a, sizeof a);
		fprintf(out, ", up %s; %" PRIu32 " subscriber%s, %" PRIu32 " managed job%s, %" PRIu32
			" pending episode%s\n", a, s->subscribers, s->subscribers == 1 ? "" : "s",
			s->managed_jobs, s->managed_jobs == 1 ? "" : "s", s->pending_episodes,
			s->pending_episodes == 1 ? "" : "s");
		if (v->interval_ms > 0) {
			fprintf(out, "events in %" PRIu64 " (%.1f/s), out %" PRIu64 " (%.1f/s), dropped %"
				PRIu64 "; decisions seen %" PRIu64 " (%.1f/s)", s->events_in,
				v->events_in_per_s, s->events_out, v->events_out_per_s, s->dropped,
				v->decisions, v->decisions_per_s);
		} else {
			double up = s->uptime_ms ? (double)s->uptime_ms / 1000.0 : 1.0;

			fprintf(out, "events in %" PRIu64 " (%.1f/s since start), out %" PRIu64
				" (%.1f/s), dropped %" PRIu64, s->events_in, (double)s->events_in / up,
				s->events_out, (double)s->events_out / up, s->dropped);
		}
		dobctl_format_duration_us((int64_t)s->decision_latency_p50_us, a, sizeof a);
		dobctl_format_duration_us((int64_t)s->decision_latency_p99_us, b, sizeof b);
		fprintf(out, "; decision latency p50 %s, p99 %s\n", a, b);
	} else {
		fprintf(out, "\n");
	}

	fprintf(out, "\n%-38s  %-16s %-28s %8s  %s\n", "JOB", "STATE", "PROGRESS", "EPISODE",
		"NAME");
	for (i = 0; v->jobs && i < v->jobs->n_jobs; i++) {
		const struct dob_job_summary *j = &v->jobs->jobs[i];
		char gs[DOB_GUID_STR_LEN], prog[96], ep[24];

		dob_guid_format(&j->job.job_id, gs);
		progress_text(&j->job.progress, prog, sizeof prog);
		if (j->pending_episode_id)
			snprintf(ep, sizeof ep, "%" PRIu64, j->pending_episode_id);
		else
			snprintf(ep, sizeof ep, "-");
		fprintf(out, "%-38s  %-16s %-28s %8s  %s\n", gs, dob_state_name(j->job.state), prog,
			ep, j->job.display_name ? j->job.display_name : "");
	}
	if (!v->jobs || v->jobs->n_jobs == 0)
		fprintf(out, "(no managed job you may see)\n");

	fprintf(out, "\n%-8s %-38s  %-10s %-10s %-16s %7s  %s\n", "EPISODE", "JOB", "HRESULT", "AGE",
		"DEADLINE", "REPEATS", "POLICY");
	for (i = 0; i < v->n_episodes; i++) {
		const struct top_episode *e = &v->episodes[i];
		char gs[DOB_GUID_STR_LEN], hr[16], age[32], dl[48];

		dob_guid_format(&e->job_id, gs);
		snprintf(hr, sizeof hr, "0x%08" PRIX32, e->hresult);
		dobctl_format_duration_us(v->now_us - e->first_seen_us, age, sizeof age);
		deadline_text(e, v->now_us, dl, sizeof dl);
		fprintf(out, "%-8" PRIu64 " %-38s  %-10s %-10s %-16s %7" PRIu32 "  %s\n", e->episode_id,
			gs, hr, age, dl, e->repeat_count, e->policy);
	}
	if (v->n_episodes == 0)
		fprintf(out, "(no pending episode)\n");
	if (v->episodes_dropped)
		fprintf(out, "(%llu more episodes not shown)\n",
			(unsigned long long)v->episodes_dropped);

	if (s && s->n_sessions) {
		fprintf(out, "\n%-8s %-11s %6s %10s %8s  %s\n", "SESSION", "ROLE", "QUEUE", "OUT",
			"DROPPED", "NAME");
		for (i = 0; i < s->n_sessions; i++) {
			const struct dob_subscriber_stats *ss = &s->sessions[i];

			fprintf(out, "%-8" PRIu64 " %-11s %6" PRIu32 " %10" PRIu64 " %8" PRIu64 "  %s\n",
				ss->session_id, dob_role_name(ss->role), ss->queue_depth, ss->events_out,
				ss->dropped, ss->client_name ? ss->client_name : "");
		}
	}
}

void top_json(struct jsonw *w, const struct top_view *v)
{
	size_t i;

	jsonw_obj_open(w);
	jsonw_kstr(w, "type", "top");
	jsonw_kstr(w, "broker_version", v->broker_version);
	jsonw_kstr(w, "backend", dob_backend_name(v->backend));
	jsonw_ki64(w, "now_us", v->now_us);
	jsonw_ki64(w, "interval_ms", v->interval_ms);
	if (v->interval_ms > 0) {
		/* Rates as thousandths per second: JSON integers, like every
		 * other number dobctl writes. */
		jsonw_ku64(w, "events_in_per_ks", (uint64_t)(v->events_in_per_s * 1000.0));
		jsonw_ku64(w, "events_out_per_ks", (uint64_t)(v->events_out_per_s * 1000.0));
		jsonw_ku64(w, "decisions_per_ks", (uint64_t)(v->decisions_per_s * 1000.0));
	}
	jsonw_ku64(w, "decisions_seen", v->decisions);
	jsonw_key(w, "stats");
	if (v->stats)
		dobctl_stats_json(w, v->stats);
	else
		jsonw_null(w);
	jsonw_key(w, "jobs");
	jsonw_arr_open(w);
	for (i = 0; v->jobs && i < v->jobs->n_jobs; i++)
		dobctl_job_json(w, &v->jobs->jobs[i]);
	jsonw_arr_close(w);
	jsonw_key(w, "episodes");
	jsonw_arr_open(w);
	for (i = 0; i < v->n_episodes; i++) {
		const struct top_episode *e = &v->episodes[i];
		char gs[DOB_GUID_STR_LEN], hr[16];

		dob_guid_format(&e->job_id, gs);
		snprintf(hr, sizeof hr, "0x%08" PRIX32, e->hresult);
		jsonw_obj_open(w);
		jsonw_ku64(w, "episode_id", e->episode_id);
		jsonw_kstr(w, "job_id", gs);
		jsonw_kstr(w, "display_name", e->name);
		jsonw_kstr(w, "hresult", hr);
		jsonw_ki64(w, "first_seen_us", e->first_seen_us);
		jsonw_ki64(w, "age_us", v->now_us - e->first_seen_us);
		jsonw_ki64(w, "deadline_us", e->deadline_us);
		jsonw_ku64(w, "repeat_count", e->repeat_count);
		jsonw_kstr(w, "policy", e->policy);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
	jsonw_obj_close(w);
}
