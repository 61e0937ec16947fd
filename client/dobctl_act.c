/*
 * client/dobctl_act.c - dobctl's commands that ask the broker to do
 * something: act (a decision on a job's error episode), submit (a new job
 * for the broker to manage) and adopt (a job that exists already).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/err.h"
#include "dobctl_int.h"
#include "dobctl_util.h"
#include "spawn_cmd.h"

/* ---------------------------------------------------------------- act */

int dobctl_cmd_act(struct global *g, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *v;
	struct dob_action_result res;
	struct dob_guid job;
	struct dobc *c = NULL;
	uint64_t episode = 0;
	uint32_t delay = 0;
	bool have_delay = false;
	int i = 0, n = 0, r, action, code;
	char gs[DOB_GUID_STR_LEN], text[1024];

	while (i < argc) {
		if ((r = dobctl_opt(argc, argv, &i, "--episode", &v)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			if (dobctl_parse_u64(v, &episode) < 0)
				return dobctl_usage_error("--episode wants an episode id, got '%s'", v);
		} else if ((r = dobctl_opt(argc, argv, &i, "--delay", &v)) != 0) {
			if (r < 0 || dobctl_parse_ms("--delay", v, &delay))
				return EXIT_USAGE;
			have_delay = true;
		} else if (argv[i][0] != '-' && n < 2) {
			pos[n++] = argv[i++];
		} else if ((code = dobctl_other_word("act", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (n != 2)
		return dobctl_usage_error("act needs JOB and ACTION");
	if (dobctl_parse_guid(pos[0], &job))
		return EXIT_USAGE;
	action = dobctl_parse_action(pos[1]);
	if (action < 0)
		return dobctl_usage_error("unknown action '%s': want cancel, complete, resume, suspend or "
					  "resume-after-delay", pos[1]);
	if (action == DOB_ACTION_RESUME_AFTER_DELAY &&
	    (!have_delay || delay == 0 || delay > DOB_MAX_DELAY_MS))
		return dobctl_usage_error("resume-after-delay needs --delay MS (1..%u)", DOB_MAX_DELAY_MS);
	if (action != DOB_ACTION_RESUME_AFTER_DELAY && have_delay)
		return dobctl_usage_error("--delay goes with resume-after-delay only");

	code = dobctl_connect_as(g, DOB_ROLE_CONTROLLER, NULL, &c);
	if (code)
		return code;
	r = dobc_act(c, &job, episode, (enum dob_action)action, delay, &res, g->timeout_ms);
	dob_guid_format(&job, gs);
	if (r == 0 || r == -DOB_EREMOTE) {
		if (g->json) {
			struct jsonw w;

			jsonw_init(&w);
			dobctl_action_result_json(&w, &job, episode, (enum dob_action)action, &res);
			dobctl_print_json(&w);
			jsonw_free(&w);
		}
	}
	if (r == 0) {
		if (!g->json)
			printf("%s %s: OK, now %s (hr=0x%08" PRIX32 ")\n", dobctl_action_name(action), gs,
			       dob_state_name(res.new_state), res.hresult);
		code = EXIT_OK;
	} else if (r == -DOB_EREMOTE) {
		dobctl_refusal_text(&res, text, sizeof text);
		if (res.status == DOB_STATUS_ALREADY_RESOLVED || !res.hresult)
			dobctl_say("%s %s refused: %s", dobctl_action_name(action), gs, text);
		else
			dobctl_say("%s %s refused: %s (hr=0x%08" PRIX32 ")", dobctl_action_name(action), gs,
				   text, res.hresult);
		code = EXIT_REFUSED;
	} else {
		code = dobctl_request_failed(c, "act", r);
	}
	dobc_action_result_clear(&res);
	dobc_close(c);
	return code;
}

/* ---------------------------------------------------------------- submit, adopt */

/* --policy and --deadline, shared by submit and adopt. Returns 1 when
 * argv[*i] was one of them, 0 when not, -1 on a usage error. */
static int policy_opt(int argc, char **argv, int *i, struct dob_policy *p, uint32_t *deadline,
		      bool *have_deadline)
{
	char why[DOBCTL_WHY_MAX];
	const char *v;
	int r;

	if ((r = dobctl_opt(argc, argv, i, "--policy", &v)) != 0) {
		if (r < 0)
			return -1;
		if (dobctl_parse_policy(v, p, why, sizeof why) < 0) {
			dobctl_usage_error("--policy: %s", why);
			return -1;
		}
		return 1;
	}
	if ((r = dobctl_opt(argc, argv, i, "--deadline", &v)) != 0) {
		if (r < 0 || dobctl_parse_ms("--deadline", v, deadline))
			return -1;
		*have_deadline = true;
		return 1;
	}
	return 0;
}

static void job_reply_json(const struct dob_job_reply *rep)
{
	struct jsonw w;
	char hr[16];

	jsonw_init(&w);
	jsonw_obj_open(&w);
	jsonw_kstr(&w, "type", "job_reply");
	jsonw_kstr(&w, "status", dob_status_name(rep->status));
	jsonw_kstr(&w, "message", rep->message);
	snprintf(hr, sizeof hr, "0x%08" PRIX32, rep->hresult);
	jsonw_kstr(&w, "hresult", hr);
	jsonw_key(&w, "job");
	if (rep->has_job)
		dobctl_job_json(&w, &rep->job);
	else
		jsonw_null(&w);
	jsonw_obj_close(&w);
	dobctl_print_json(&w);
	jsonw_free(&w);
}

static void print_reply_job(const struct dob_job_reply *rep, bool full)
{
	char gs[DOB_GUID_STR_LEN], pol[64];

	if (!rep->has_job) {
		dobctl_say("the broker said OK but sent no job");
		return;
	}
	dob_guid_format(&rep->job.job.job_id, gs);
	if (!full) {
		printf("%s\n", gs);
		return;
	}
	dobctl_format_policy(&rep->job.policy, pol, sizeof pol);
	printf("%s %s policy %s \"%s\"\n", gs, dob_state_name(rep->job.job.state), pol,
	       rep->job.job.display_name ? rep->job.job.display_name : "");
}

static int job_request_done(const struct global *g, struct dobc *c, const char *what, int r,
			    struct dob_job_reply *rep, bool full)
{
	int code = EXIT_OK;

	if ((r == 0 || r == -DOB_EREMOTE) && g->json)
		job_reply_json(rep);
	if (r == 0) {
		if (!g->json)
			print_reply_job(rep, full);
	} else if (r == -DOB_EREMOTE) {
		dobctl_say("%s refused: %s%s%s", what, dob_status_name(rep->status),
			   rep->message && *rep->message ? ": " : "", rep->message ? rep->message : "");
		if (rep->hresult)
			dobctl_say("the backend's code: 0x%08" PRIX32, rep->hresult);
		code = EXIT_REFUSED;
	} else {
		code = dobctl_request_failed(c, what, r);
	}
	dobc_job_reply_clear(rep);
	dobc_close(c);
	return code;
}

int dobctl_cmd_submit(struct global *g, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *v, *name = "dobctl";
	struct dob_file_spec file;
	struct dob_submit_job job;
	struct dob_job_reply rep;
	struct dobc *c = NULL;
	bool have_deadline = false;
	uint32_t deadline = 0;
	char why[DOBCTL_WHY_MAX];
	int i = 0, n = 0, r, code;

	memset(&job, 0, sizeof job);
	job.priority = DOB_PRIORITY_NORMAL;
	job.type = DOB_JOB_DOWNLOAD;
	while (i < argc) {
		if ((r = policy_opt(argc, argv, &i, &job.policy, &deadline, &have_deadline)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
		} else if ((r = dobctl_opt(argc, argv, &i, "--name", &v)) != 0) {
			/* After 'submit', --name is the job's display name. */
			if (r < 0)
				return EXIT_USAGE;
			name = v;
		} else if ((r = dobctl_opt(argc, argv, &i, "--priority", &v)) != 0) {
			int p;

			if (r < 0)
				return EXIT_USAGE;
			p = dobctl_parse_priority(v);
			if (p < 0)
				return dobctl_usage_error("--priority wants foreground, high, normal or low, got '%s'",
							  v);
			job.priority = (enum dob_priority)p;
		} else if (argv[i][0] != '-' && n < 2) {
			pos[n++] = argv[i++];
		} else if (argv[i][0] == '-' && argv[i][1] != '-' && n < 2) {
			/* "-" or "-x": a value, not an option; the checks say. */
			pos[n++] = argv[i++];
		} else if ((code = dobctl_other_word("submit", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (n != 2)
		return dobctl_usage_error("submit needs URL and PATH");
	/* What the broker would refuse is a usage error, said before
	 * connecting. */
	if (dobctl_check_url(pos[0], why, sizeof why) < 0)
		return dobctl_usage_error("submit: %s", why);
	if (dobctl_check_local_path(pos[1], spawn_windows_paths(), why, sizeof why) < 0)
		return dobctl_usage_error("submit: %s", why);
	if (have_deadline)
		job.policy.deadline_ms = deadline;
	file.remote_url = (char *)pos[0];
	file.local_path = (char *)pos[1];
	job.display_name = (char *)name;
	job.n_files = 1;
	job.files = &file;

	/* Observers may create and adopt jobs (docs/protocol.md, 2). */
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_submit(c, &job, &rep, g->timeout_ms);
	return job_request_done(g, c, "submit", r, &rep, false);
}

int dobctl_cmd_adopt(struct global *g, int argc, char **argv)
{
	struct dob_policy policy;
	struct dob_job_reply rep;
	struct dob_guid job;
	struct dobc *c = NULL;
	const char *pos = NULL;
	bool have_deadline = false;
	uint32_t deadline = 0;
	int i = 0, r, code;

	memset(&policy, 0, sizeof policy);
	while (i < argc) {
		if ((r = policy_opt(argc, argv, &i, &policy, &deadline, &have_deadline)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
		} else if (argv[i][0] != '-' && !pos) {
			pos = argv[i++];
		} else if ((code = dobctl_other_word("adopt", argc, argv, &i, g)) != 0) {
			return code;
		}
	}
	if (!pos)
		return dobctl_usage_error("adopt needs JOB");
	if (dobctl_parse_guid(pos, &job))
		return EXIT_USAGE;
	if (have_deadline)
		policy.deadline_ms = deadline;

	/* Observers may create and adopt jobs (docs/protocol.md, 2). */
	code = dobctl_connect_as(g, DOB_ROLE_OBSERVER, NULL, &c);
	if (code)
		return code;
	r = dobc_adopt(c, &job, &policy, &rep, g->timeout_ms);
	return job_request_done(g, c, "adopt", r, &rep, true);
}

