/*
 * Decisions end to end: racing controllers, default policies at the
 * deadline, resume after a delay, a controller killed mid-decision,
 * forbidden actions and unknown jobs.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dob/msg.h"
#include "harness.h"

static struct hb_broker B;

static void fini(void)
{
	hb_cleanup(&B);
}

TestSuite(decisions, .fini = fini, .timeout = 60);

#define FAIL_SCENARIO                                      \
	"rule \"*/missing/*\" error http=404 after=50ms\n" \
	"rule \"*/twice/*\" error http=404 after=50ms times=2\n" \
	"repeat off\n"                                     \
	"default ok after=100ms\n"

static struct dob_guid submit_failing(struct dobc *c, const char *name, const struct dob_policy *p)
{
	char path[HB_PATH + 64];

	snprintf(path, sizeof path, "%s/%s.bin", B.files, name);
	return hc_submit(c, name, "http://h/missing/x", path, p);
}

static uint64_t wait_error(struct dobc *c, const struct dob_guid *id)
{
	struct dob_msg m = {0};
	uint64_t ep;

	for (;;) {
		cr_assert_eq(hc_wait(c, DOB_MSG_JOB_ERROR, &m, 5000), 0, "no JobError:\n%s",
			     hb_log_tail(&B));
		if (!memcmp(&m.u.job_error.job.job_id, id, sizeof *id))
			break;
		dob_msg_clear(&m);
	}
	ep = m.u.job_error.episode_id;
	dob_msg_clear(&m);
	return ep;
}

/* Two controllers in two processes act on one episode at the same instant;
 * each reports its status through a pipe. */
Test(decisions, racing_controllers_exactly_one_wins_and_both_are_told)
{
	int fds[2][2];
	pid_t kids[2];
	int go[2], ready[2];

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dob_guid id = submit_failing(obs, "race", NULL);
	uint64_t ep = wait_error(obs, &id);

	cr_assert(pipe(go) == 0);
	cr_assert(pipe(ready) == 0);
	for (int k = 0; k < 2; k++) {
		cr_assert(pipe(fds[k]) == 0);
		kids[k] = fork();
		cr_assert(kids[k] >= 0);
		if (kids[k] == 0) {
			char name[16], c;
			struct dob_action_result r = {0};
			struct dob_msg m = {0};
			int got_resolution;

			snprintf(name, sizeof name, "ctl-%d", k);
			struct dobc *ctl = hc_connect(B.sock, name, DOB_ROLE_CONTROLLER, NULL);

			/* connected: tell the parent, then wait for the start */
			if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
				_exit(90);
			int err = dobc_act(ctl, &id, ep, k ? DOB_ACTION_CANCEL : DOB_ACTION_COMPLETE, 0,
					   &r, 5000);
			got_resolution = hc_wait(ctl, DOB_MSG_RESOLUTION, &m, 5000) == 0 &&
					 m.u.resolution.episode_id == ep;
			char line[256];
			int n = snprintf(line, sizeof line, "%d %d %s %llu %d\n", err, r.status,
					 r.winner.client_name ? r.winner.client_name : "-",
					 (unsigned long long)r.winner.session_id, got_resolution);
			if (write(fds[k][1], line, (size_t)n) != n)
				_exit(91);
			_exit(0);
		}
		close(fds[k][1]);
	}
	close(go[0]);
	close(ready[1]);
	/* Both controllers connected (no sleep as a barrier): then both go. */
	for (int k = 0; k < 2; k++) {
		char c;
		cr_assert(read(ready[0], &c, 1) == 1, "a controller died before it connected");
	}
	close(ready[0]);
	cr_assert(write(go[1], "gg", 2) == 2);
	close(go[1]);

	int ok = 0, already = 0;
	char winner[2][64];

	for (int k = 0; k < 2; k++) {
		char line[256] = "";
		int err, status, resolved;
		unsigned long long sess;

		cr_assert(read(fds[k][0], line, sizeof line - 1) > 0, "controller %d said nothing", k);
		cr_assert_eq(sscanf(line, "%d %d %63s %llu %d", &err, &status, winner[k], &sess,
				    &resolved),
			     5, "bad line '%s'", line);
		cr_assert(err == 0 || err == -DOB_EREMOTE, "controller %d: %s", k, dobc_strerror(err));
		cr_assert(resolved, "controller %d got no Resolution", k);
		if (status == DOB_STATUS_OK)
			ok++;
		else if (status == DOB_STATUS_ALREADY_RESOLVED) {
			already++;
			char want[16];

			snprintf(want, sizeof want, "ctl-%d", 1 - k);
			cr_assert_str_eq(winner[k], want, "loser was told the wrong winner");
		}
		waitpid(kids[k], NULL, 0);
	}
	cr_assert_eq(ok, 1, "exactly one controller must win (ok=%d already=%d)", ok, already);
	cr_assert_eq(already, 1);

	/* The observer is told once, and the job really had one action. */
	struct dob_msg m = {0};

	cr_assert_eq(hc_wait(obs, DOB_MSG_RESOLUTION, &m, 3000), 0);
	cr_assert_eq(m.u.resolution.episode_id, ep);
	cr_assert_eq(m.u.resolution.resolved_by, DOB_RESOLVED_CONTROLLER);
	dob_msg_clear(&m);
	cr_assert_eq(hc_count(obs, DOB_MSG_RESOLUTION, 300, NULL), 0, "resolved twice");
	cr_assert_eq(hp_count(hp_read(B.log), "resolved by controller"), 1, "%s", hb_log_tail(&B));
	dobc_close(obs);
}

/* Each default policy at the deadline. */
static void policy_case(const char *policy_flag, enum dob_action want_action,
			enum dob_job_state want_state)
{
	struct dob_msg m = {0};

	hb_init(&B, FAIL_SCENARIO, "--deadline-ms=300", policy_flag, NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dob_guid id = submit_failing(obs, "policy", NULL);
	uint64_t ep = wait_error(obs, &id);

	cr_assert_eq(hc_wait(obs, DOB_MSG_RESOLUTION, &m, 5000), 0, "no Resolution:\n%s",
		     hb_log_tail(&B));
	cr_assert_eq(m.u.resolution.episode_id, ep);
	cr_assert_eq(m.u.resolution.resolved_by, DOB_RESOLVED_POLICY);
	cr_assert_eq(m.u.resolution.action, want_action);
	cr_assert_eq(m.u.resolution.new_state, want_state, "state %s",
		     dob_state_name(m.u.resolution.new_state));
	cr_assert_eq(m.u.resolution.actor.session_id, 0);
	dob_msg_clear(&m);
	dobc_close(obs);
}

Test(decisions, deadline_applies_cancel_policy)
{
	policy_case("--policy=cancel", DOB_ACTION_CANCEL, DOB_STATE_CANCELLED);
}

Test(decisions, deadline_applies_complete_policy)
{
	policy_case("--policy=complete", DOB_ACTION_COMPLETE, DOB_STATE_ACKNOWLEDGED);
}

Test(decisions, deadline_with_none_policy_keeps_the_episode_pending)
{
	hb_init(&B, FAIL_SCENARIO, "--deadline-ms=200", "--policy=none", NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dob_guid id = submit_failing(obs, "none", NULL);
	uint64_t ep = wait_error(obs, &id);

	cr_assert_eq(hc_count(obs, DOB_MSG_RESOLUTION, 800, NULL), 0);
	struct dob_list_jobs_reply l = {0};

	cr_assert_eq(dobc_list_jobs(obs, &l, 3000), 0);
	cr_assert_eq(l.n_jobs, 1);
	cr_assert_eq(l.jobs[0].pending_episode_id, ep);
	dobc_list_jobs_reply_clear(&l);
	dobc_close(obs);
}

/* resume twice with backoff, then cancel: a job that always fails goes
 * through three episodes, the last one cancelled. Per-job policy. */
Test(decisions, resume_policy_retries_then_applies_exhausted)
{
	struct dob_policy p = {.kind = DOB_POLICY_RESUME,
			       .deadline_ms = 100,
			       .max_resumes = 2,
			       .backoff_ms = 50,
			       .exhausted = DOB_POLICY_CANCEL};
	struct dob_msg m = {0};
	int resumes = 0, cancels = 0;

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);

	submit_failing(obs, "retry", &p);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(hc_wait(obs, DOB_MSG_RESOLUTION, &m, 5000), 0, "resolution %d:\n%s", i,
			     hb_log_tail(&B));
		cr_assert_eq(m.u.resolution.resolved_by, DOB_RESOLVED_POLICY);
		if (m.u.resolution.action == DOB_ACTION_RESUME)
			resumes++;
		if (m.u.resolution.action == DOB_ACTION_CANCEL) {
			cancels++;
			cr_assert_eq(m.u.resolution.new_state, DOB_STATE_CANCELLED);
		}
		dob_msg_clear(&m);
	}
	cr_assert_eq(resumes, 2);
	cr_assert_eq(cancels, 1);
	dobc_close(obs);
}

/* A job that fails twice then succeeds is resumed by the policy and ends
 * TRANSFERRED. */
Test(decisions, resume_policy_recovers_a_job_that_fails_twice)
{
	struct dob_policy p = {.kind = DOB_POLICY_RESUME,
			       .deadline_ms = 100,
			       .max_resumes = 3,
			       .backoff_ms = 20,
			       .exhausted = DOB_POLICY_CANCEL};
	char path[HB_PATH + 32];

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);

	snprintf(path, sizeof path, "%s/twice.bin", B.files);
	hc_submit(obs, "twice", "http://h/twice/x", path, &p);
	cr_assert_eq(hc_wait(obs, DOB_MSG_JOB_TRANSFERRED, NULL, 8000), 0, "%s", hb_log_tail(&B));
	dobc_close(obs);
}

Test(decisions, resume_after_delay_is_scheduled_by_the_broker)
{
	struct dob_action_result r = {0};
	struct dob_msg m = {0};

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *ctl = hc_connect(B.sock, "ctl", DOB_ROLE_CONTROLLER, NULL);
	struct dob_guid id = submit_failing(ctl, "delayed", NULL);
	uint64_t ep = wait_error(ctl, &id);

	cr_assert_eq(dobc_act(ctl, &id, ep, DOB_ACTION_RESUME_AFTER_DELAY, 400, &r, 3000), 0);
	cr_assert_eq(r.status, DOB_STATUS_OK, "%s", r.message ? r.message : "");
	dobc_action_result_clear(&r);
	/* Nothing happens before the delay... */
	cr_assert_eq(hc_count(ctl, DOB_MSG_RESOLUTION, 250, NULL), 0);
	/* ...then the resume runs and resolves the episode. */
	cr_assert_eq(hc_wait(ctl, DOB_MSG_RESOLUTION, &m, 3000), 0);
	cr_assert_eq(m.u.resolution.episode_id, ep);
	cr_assert_eq(m.u.resolution.action, DOB_ACTION_RESUME_AFTER_DELAY);
	dob_msg_clear(&m);
	/* Another controller cannot take the episode while it is scheduled. */
	dobc_close(ctl);
}

/* A controller that dies right after sending its action: the action is
 * carried out, the others are told, the broker goes on. */
Test(decisions, controller_killed_mid_decision)
{
	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dob_guid id = submit_failing(obs, "killed", NULL);
	uint64_t ep = wait_error(obs, &id);

	char job[DOB_GUID_STR_LEN], eps[32];

	dob_guid_format(&id, job);
	snprintf(eps, sizeof eps, "%llu", (unsigned long long)ep);
	char out[HB_PATH + 16];
	char *argv[] = {"dobctl", "--endpoint", B.sock, "act", job, "cancel", "--episode", eps, NULL};

	snprintf(out, sizeof out, "%s/act.out", B.dir);
	pid_t p = hp_spawn_dobctl(out, argv);
	/* Kill it as soon as the broker has the request (or before). */
	usleep(20000);
	kill(p, SIGKILL);
	hp_wait(p, 2000);

	struct dob_msg m = {0};
	int got = hc_wait(obs, DOB_MSG_RESOLUTION, &m, 2000);

	if (got == 0) {
		/* The act arrived: carried out once. */
		cr_assert_eq(m.u.resolution.episode_id, ep);
		cr_assert_eq(m.u.resolution.new_state, DOB_STATE_CANCELLED);
		dob_msg_clear(&m);
	} else {
		/* It died before its act left: the episode is still pending and
		 * another controller can resolve it. */
		struct dob_action_result r = {0};
		struct dobc *ctl = hc_connect(B.sock, "ctl2", DOB_ROLE_CONTROLLER, NULL);

		cr_assert_eq(dobc_act(ctl, &id, ep, DOB_ACTION_CANCEL, 0, &r, 3000), 0);
		cr_assert_eq(r.status, DOB_STATUS_OK);
		dobc_action_result_clear(&r);
		dobc_close(ctl);
	}
	/* The broker still serves. */
	int64_t rtt;

	cr_assert_eq(dobc_ping(obs, &rtt, 2000), 0);
	dobc_close(obs);
}

Test(decisions, observer_unknown_job_and_forbidden_action_are_refused)
{
	struct dob_action_result r = {0};
	struct dob_guid nobody = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};

	hb_init(&B, FAIL_SCENARIO, NULL);
	hb_start(&B);
	struct dobc *obs = hc_connect(B.sock, "observer", DOB_ROLE_OBSERVER, NULL);
	struct dobc *ctl = hc_connect(B.sock, "ctl", DOB_ROLE_CONTROLLER, NULL);
	struct dob_guid id = submit_failing(obs, "refusals", NULL);
	uint64_t ep = wait_error(obs, &id);

	cr_assert_eq(dobc_act(obs, &id, ep, DOB_ACTION_CANCEL, 0, &r, 3000), -DOB_EREMOTE);
	cr_assert_eq(r.status, DOB_STATUS_NOT_CONTROLLER);
	dobc_action_result_clear(&r);

	cr_assert_eq(dobc_act(ctl, &nobody, 0, DOB_ACTION_CANCEL, 0, &r, 3000), -DOB_EREMOTE);
	cr_assert_eq(r.status, DOB_STATUS_UNKNOWN_JOB);
	cr_assert(r.message && r.message[0], "UNKNOWN_JOB without a reason");
	dobc_action_result_clear(&r);

	cr_assert_eq(dobc_act(ctl, &id, ep + 1000, DOB_ACTION_CANCEL, 0, &r, 3000), -DOB_EREMOTE);
	cr_assert_eq(r.status, DOB_STATUS_NO_EPISODE);
	dobc_action_result_clear(&r);

	/* Resolve it, then a late act names the winner. */
	cr_assert_eq(dobc_act(ctl, &id, ep, DOB_ACTION_CANCEL, 0, &r, 3000), 0);
	cr_assert_eq(r.status, DOB_STATUS_OK);
	dobc_action_result_clear(&r);
	struct dobc *ctl2 = hc_connect(B.sock, "ctl2", DOB_ROLE_CONTROLLER, NULL);

	/* (Regression: the cancelled job had left management, and the late
	 * act was answered UNKNOWN_JOB instead of naming the winner.) */
	cr_assert_eq(dobc_act(ctl2, &id, ep, DOB_ACTION_RESUME, 0, &r, 3000), -DOB_EREMOTE);
	cr_assert_eq(r.status, DOB_STATUS_ALREADY_RESOLVED, "status %s", dob_status_name(r.status));
	cr_assert_str_eq(r.winner.client_name, "ctl");
	cr_assert_eq(r.winner_action, DOB_ACTION_CANCEL);
	cr_assert_eq(r.new_state, DOB_STATE_CANCELLED);
	dobc_action_result_clear(&r);
	dobc_close(ctl2);
	dobc_close(ctl);
	dobc_close(obs);
}

/* Complete on an upload job in ERROR is refused before any backend call
 * (the fault makes a call that did happen fail with E_ACCESSDENIED instead). */
Test(decisions, complete_on_an_upload_job_is_refused_before_the_backend)
{
	const char *guid = "{0F8FAD5B-D9CB-469F-A165-70867728950E}";
	char scen[1024];
	struct dob_guid id;
	struct dob_job_reply jr = {0};
	struct dob_action_result r = {0};

	snprintf(scen, sizeof scen,
		 "repeat off\n"
		 "job %s name=\"logs upload\" owner=uid:0 type=upload state=error http=503\n"
		 "file %s https://example.com/upload/logs /tmp/logs.txt size=20K\n"
		 "fault complete * hresult=0x80070005\n",
		 guid, guid);
	hb_init(&B, scen, NULL);
	hb_start(&B);
	cr_assert_eq(dob_guid_parse(guid, &id), 0);
	struct dobc *ctl = hc_connect(B.sock, "ctl", DOB_ROLE_CONTROLLER, NULL);

	cr_assert_eq(dobc_adopt(ctl, &id, NULL, &jr, 3000), 0, "%s", hb_log_tail(&B));
	cr_assert_eq(jr.status, DOB_STATUS_OK);
	dobc_job_reply_clear(&jr);
	uint64_t ep = wait_error(ctl, &id);

	cr_assert_eq(dobc_act(ctl, &id, ep, DOB_ACTION_COMPLETE, 0, &r, 3000), -DOB_EREMOTE);
	cr_assert_eq(r.status, DOB_STATUS_FORBIDDEN_ACTION, "status %s", dob_status_name(r.status));
	cr_assert_eq(r.hresult, 0, "a backend call was made (hr 0x%08X)", r.hresult);
	cr_assert(r.message && strstr(r.message, "upload"), "reason: %s", r.message);
	dobc_action_result_clear(&r);

	/* Adopting it again is refused as already managed. */
	cr_assert_eq(dobc_adopt(ctl, &id, NULL, &jr, 3000), -DOB_EREMOTE);
	cr_assert_eq(jr.status, DOB_STATUS_ALREADY_MANAGED);
	dobc_job_reply_clear(&jr);
	/* Cancel is allowed and resolves it. */
	cr_assert_eq(dobc_act(ctl, &id, ep, DOB_ACTION_CANCEL, 0, &r, 3000), 0);
	cr_assert_eq(r.new_state, DOB_STATE_CANCELLED);
	dobc_action_result_clear(&r);
	dobc_close(ctl);
}
