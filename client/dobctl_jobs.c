/*
 * client/dobctl_jobs.c - dobctl's commands that read what the broker knows:
 * jobs (the managed jobs), stats, history (resolved episodes), unmanaged
 * (jobs the caller could adopt) and ping.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dobctl_int.h"
#include "dobctl_util.h"

/* ---------------------------------------------------------------- jobs, stats, ping */

/* Parses the arguments of a command that takes none but global options. */
static int no_args(const char *cmd, int argc, char **argv, struct global *g)
{
	int i = 0, code;

	while (i < argc)
		if ((code = dobctl_other_word(cmd, argc, argv, &i, g)) != 0)
			return code;
	return 0;
}

int dobctl_cmd_jobs(struct global *g, int argc, char **argv)
{
	struct dob_list_jobs_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t k;
	int r, code;

	if (no_args("jobs", argc, argv, g))
		return EXIT_USAGE;
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_list_jobs(c, &rep, g->timeout_ms);
	if (r < 0) {
		code = dobctl_request_failed(c, "jobs", r);
		dobc_list_jobs_reply_clear(&rep);
		dobc_close(c);
		return code;
	}
	jsonw_init(&w);
	if (!g->json)
		printf("%-38s  %-16s %-28s %8s  %-22s %s\n", "JOB", "STATE", "PROGRESS", "EPISODE",
		       "POLICY", "NAME");
	for (k = 0; k < rep.n_jobs; k++) {
		const struct dob_job_summary *j = &rep.jobs[k];
		char gs[DOB_GUID_STR_LEN], pol[64], ep[24], done[24], total[24], prog[64];

		if (g->json) {
			dobctl_job_json(&w, j);
			dobctl_print_json(&w);
			continue;
		}
		dob_guid_format(&j->job.job_id, gs);
		dobctl_format_policy(&j->policy, pol, sizeof pol);
		dobctl_format_bytes(j->job.progress.bytes_transferred, done, sizeof done);
		dobctl_format_bytes(j->job.progress.bytes_total, total, sizeof total);
		snprintf(prog, sizeof prog, "%s/%s", done, total);
		if (j->pending_episode_id)
			snprintf(ep, sizeof ep, "%" PRIu64, j->pending_episode_id);
		else
			snprintf(ep, sizeof ep, "-");
		printf("%-38s  %-16s %-28s %8s  %-22s %s\n", gs, dob_state_name(j->job.state), prog, ep,
		       pol, j->job.display_name ? j->job.display_name : "");
	}
	jsonw_free(&w);
	if (rep.message && *rep.message)
		dobctl_say("jobs: %s", rep.message); /* e.g. truncated at the per-reply limit */
	dobc_list_jobs_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

static void print_stats(const struct dob_stats *s)
{
	char up[32], p50[32], p99[32];
	size_t k;

	dobctl_format_duration_us((int64_t)s->uptime_ms * 1000, up, sizeof up);
	dobctl_format_duration_us((int64_t)s->decision_latency_p50_us, p50, sizeof p50);
	dobctl_format_duration_us((int64_t)s->decision_latency_p99_us, p99, sizeof p99);
	printf("uptime                 %s\n", up);
	printf("subscribers            %" PRIu32 "\n", s->subscribers);
	printf("managed jobs           %" PRIu32 "\n", s->managed_jobs);
	printf("pending episodes       %" PRIu32 "\n", s->pending_episodes);
	printf("events in              %" PRIu64 "\n", s->events_in);
	printf("events out             %" PRIu64 "\n", s->events_out);
	printf("events dropped         %" PRIu64 "\n", s->dropped);
	printf("service restarts       %" PRIu64 "\n", s->service_restarts);
	printf("decision latency p50   %s\n", p50);
	printf("decision latency p99   %s\n", p99);
	for (k = 0; k < s->n_sessions; k++)
		printf("session %" PRIu64 " \"%s\" %s: queue %" PRIu32 " frames, out %" PRIu64
		       " events, dropped %" PRIu64 "\n",
		       s->sessions[k].session_id,
		       s->sessions[k].client_name ? s->sessions[k].client_name : "",
		       dob_role_name(s->sessions[k].role), s->sessions[k].queue_depth,
		       s->sessions[k].events_out, s->sessions[k].dropped);
}

int dobctl_cmd_stats(struct global *g, int argc, char **argv)
{
	struct dob_stats s;
	struct dobc *c = NULL;
	struct jsonw w;
	int r, code;

	if (no_args("stats", argc, argv, g))
		return EXIT_USAGE;
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_stats(c, &s, g->timeout_ms);
	if (r < 0) {
		code = dobctl_request_failed(c, "stats", r);
		dobc_stats_clear(&s);
		dobc_close(c);
		return code;
	}
	if (g->json) {
		jsonw_init(&w);
		dobctl_stats_json(&w, &s);
		dobctl_print_json(&w);
		jsonw_free(&w);
	} else {
		print_stats(&s);
	}
	dobc_stats_clear(&s);
	dobc_close(c);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- history, unmanaged */

int dobctl_cmd_history(struct global *g, int argc, char **argv)
{
	struct dob_guid jobs[DOB_MAX_FILTER_JOBS];
	struct dob_history_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t n_jobs = 0, k;
	uint32_t limit = 0;
	const char *v;
	int i = 0, r, code;

	while (i < argc) {
		if ((r = dobctl_opt(argc, argv, &i, "--job", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (n_jobs == DOB_MAX_FILTER_JOBS)
				return dobctl_usage_error("history: at most %d --job options",
							  DOB_MAX_FILTER_JOBS);
			if (dobctl_parse_guid(v, &jobs[n_jobs]))
				return EXIT_USAGE;
			n_jobs++;
		} else if ((r = dobctl_opt(argc, argv, &i, "--limit", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u32(v, &limit) < 0 || limit < 1 || limit > DOB_MAX_HISTORY)
				return dobctl_usage_error("history: --limit wants 1..%d, got '%s'",
							  DOB_MAX_HISTORY, v);
		} else if ((code = dobctl_other_word("history", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_list_history(c, n_jobs ? jobs : NULL, n_jobs, limit, &rep, g->timeout_ms);
	if (r < 0) {
		code = dobctl_request_failed(c, "history", r);
		dobc_history_reply_clear(&rep);
		dobc_close(c);
		return code;
	}
	jsonw_init(&w);
	for (k = 0; k < rep.n_entries; k++) {
		char line[1024];

		if (g->json) {
			dobctl_history_json(&w, &rep.entries[k]);
			dobctl_print_json(&w);
			continue;
		}
		dobctl_history_line(&rep.entries[k], line, sizeof line);
		printf("%s\n", line);
	}
	if (rep.message && *rep.message)
		dobctl_say("history: %s", rep.message); /* e.g. truncated to one frame */
	jsonw_free(&w);
	dobc_history_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

int dobctl_cmd_unmanaged(struct global *g, int argc, char **argv)
{
	struct dob_unmanaged_reply rep;
	struct dobc *c = NULL;
	struct jsonw w;
	size_t k;
	int r, code;

	if (no_args("unmanaged", argc, argv, g))
		return EXIT_USAGE;
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_list_unmanaged(c, &rep, g->timeout_ms);
	if (r < 0) {
		code = dobctl_request_failed(c, "unmanaged", r);
		dobc_unmanaged_reply_clear(&rep);
		dobc_close(c);
		return code;
	}
	jsonw_init(&w);
	if (!g->json)
		printf("%-38s  %-16s %-24s %s\n", "JOB", "STATE", "OWNER", "NAME");
	for (k = 0; k < rep.n_jobs; k++) {
		const struct dob_job_info *j = &rep.jobs[k];
		char gs[DOB_GUID_STR_LEN];

		if (g->json) {
			dobctl_unmanaged_json(&w, j);
			dobctl_print_json(&w);
			continue;
		}
		dob_guid_format(&j->job_id, gs);
		printf("%-38s  %-16s %-24s %s\n", gs, dob_state_name(j->state),
		       j->owner && *j->owner ? j->owner : "-",
		       j->display_name ? j->display_name : "");
	}
	if (rep.message && *rep.message)
		dobctl_say("unmanaged: %s", rep.message);
	jsonw_free(&w);
	dobc_unmanaged_reply_clear(&rep);
	dobc_close(c);
	return EXIT_OK;
}

int dobctl_cmd_ping(struct global *g, int argc, char **argv)
{
	const struct dob_welcome *w;
	struct dobc *c = NULL;
	int64_t rtt = 0;
	int r, code;

	if (no_args("ping", argc, argv, g))
		return EXIT_USAGE;
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_ping(c, &rtt, g->timeout_ms);
	if (r < 0) {
		code = dobctl_request_failed(c, "ping", r);
	} else {
		char t[32];

		w = dobc_welcome(c);
		if (g->json) {
			struct jsonw jw;

			jsonw_init(&jw);
			jsonw_obj_open(&jw);
			jsonw_kstr(&jw, "type", "pong");
			jsonw_ki64(&jw, "rtt_us", rtt);
			jsonw_kstr(&jw, "broker_version", w->broker_version);
			jsonw_kstr(&jw, "backend", dob_backend_name(w->backend));
			jsonw_ku64(&jw, "session_id", w->session_id);
			jsonw_obj_close(&jw);
			dobctl_print_json(&jw);
			jsonw_free(&jw);
		} else {
			dobctl_format_duration_us(rtt, t, sizeof t);
			printf("pong in %s from %s (backend %s, session %" PRIu64 ")\n", t,
			       w->broker_version && *w->broker_version ? w->broker_version : "broker",
			       dob_backend_name(w->backend), w->session_id);
		}
	}
	dobc_close(c);
	return code;
}

