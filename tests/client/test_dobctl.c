/*
 * tests/client/test_dobctl.c - the dobctl program (build/<target>/bin/dobctl,
 * found next to this test binary) against the scripted fake broker: output,
 * replies to errors (--on-error, --exec), exit codes and their messages.
 * JSON lines are checked with Python's json module, an independent parser.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_broker.h"

extern char **environ;

static struct fake fk;

struct run {
	int code;          /* exit status, or -1 when killed */
	char out[16384];   /* stdout */
	char err[4096];    /* stderr */
};

/* build/<target> (up = 0) or the source tree (up = 2), from this binary's
 * path build/<target>/tests/client. */
static void tree_dir(char *buf, size_t len, int up)
{
	char self[4096], *dir;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	cr_assert_gt(n, 0);
	self[n] = '\0';
	dir = dirname(dirname(self));
	while (up-- > 0)
		dir = dirname(dir);
	cr_assert_lt(strlen(dir), len);
	memcpy(buf, dir, strlen(dir) + 1);
}

static void dobctl_path(char *buf, size_t len)
{
	char dir[4096];

	tree_dir(dir, sizeof dir, 0);
	snprintf(buf, len, "%s/bin/dobctl", dir);
	cr_assert_eq(access(buf, X_OK), 0, "no dobctl at %s", buf);
}

static void drain(int fd, char *buf, size_t cap, size_t *have, bool *open)
{
	ssize_t n = read(fd, buf + *have, cap - 1 - *have);

	if (n <= 0) {
		*open = false;
		return;
	}
	*have += (size_t)n;
	buf[*have] = '\0';
	if (*have + 1 >= cap)
		*open = false; /* full: stop reading */
}

/* Runs prog with argv (argv[0] is set here), stdin from stdin_path
 * (NULL: /dev/null), within 10 s. */
static void run_prog_in(const char *prog, const char *const *args, const char *stdin_path,
			struct run *r)
{
	char *argv[32];
	int po[2], pe[2], st = 0;
	size_t ho = 0, he = 0, i;
	bool oo = true, eo = true;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	time_t t0 = time(NULL);

	memset(r, 0, sizeof *r);
	argv[0] = (char *)prog;
	for (i = 0; args[i]; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	cr_assert_eq(pipe(po), 0);
	cr_assert_eq(pipe(pe), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawn_file_actions_addclose(&fa, po[0]);
	posix_spawn_file_actions_addclose(&fa, pe[0]);
	cr_assert_eq(posix_spawn(&pid, prog, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	while ((oo || eo) && time(NULL) - t0 < 10) {
		struct pollfd p[2] = { { .fd = oo ? po[0] : -1, .events = POLLIN },
				       { .fd = eo ? pe[0] : -1, .events = POLLIN } };

		if (poll(p, 2, 500) <= 0)
			continue;
		if (p[0].revents)
			drain(po[0], r->out, sizeof r->out, &ho, &oo);
		if (p[1].revents)
			drain(pe[0], r->err, sizeof r->err, &he, &eo);
	}
	close(po[0]);
	close(pe[0]);
	if (oo || eo)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run_prog(const char *prog, const char *const *args, struct run *r)
{
	run_prog_in(prog, args, NULL, r);
}

static void dobctl(struct run *r, const char *const *args)
{
	char prog[4200];

	dobctl_path(prog, sizeof prog);
	run_prog(prog, args, r);
}

/* Checks JSON lines with Python: each line must parse; prints
 * "type,type,..." so the test can compare. */
static void json_types(const char *lines, char *types, size_t len)
{
	static const char script[] =
		"import json,sys\n"
		"t=[json.loads(l)['type'] for l in sys.stdin.read().splitlines()]\n"
		"print(','.join(t))\n";
	const char *args[] = { "-c", "exec /usr/bin/python3 -c \"$1\" < \"$2\"", "sh", script,
			       NULL, NULL };
	struct run *r = malloc(sizeof *r);
	char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "/tmp/dobctl-json-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs(lines, f);
	fclose(f);
	args[4] = path;
	run_prog("/bin/sh", args, r);
	unlink(path);
	cr_assert_eq(r->code, 0, "Python refused the JSON: %s\n%s", r->err, lines);
	r->out[strcspn(r->out, "\n")] = '\0';
	cr_assert_lt(strlen(r->out), len);
	memcpy(types, r->out, strlen(r->out) + 1);
	free(r);
}

/* Stops the fake; on its failure shows what dobctl said too. */
static void stop(const struct run *run)
{
	int r = fake_stop(&fk);

	cr_assert_eq(r, 0, "fake broker: %s\ndobctl exit %d, stdout:\n%s\nstderr:\n%s", fk.why,
		     run->code, run->out, run->err);
}

/* Runs dobctl args (args[1] is set to the fake's endpoint) against a fake
 * broker running script with arg. The result is the caller's to free. */
static struct run *against(fake_script script, const void *arg, const char **args)
{
	struct run *r = malloc(sizeof *r);

	cr_assert_not_null(r);
	cr_assert_eq(fake_start(&fk, script, (void *)arg), 0, "fake broker did not start");
	args[1] = fk.path;
	dobctl(r, args);
	stop(r);
	return r;
}

static void send_and_free(struct fake *f, struct dob_msg *m)
{
	fake_send(f, m);
	dob_msg_clear(m);
}

/* ---------------------------------------------------------------- watch */

static void s_watch(struct fake *f)
{
	struct dob_msg m;

	if (fake_handshake(f) < 0)
		return;
	fake_check(f, f->hello.u.hello.role == DOB_ROLE_OBSERVER, "role %d", f->hello.u.hello.role);
	fake_check(f, f->hello.u.hello.filter.kind_mask == ((1u << DOB_EVENT_JOB_ERROR) |
							    (1u << DOB_EVENT_RESOLUTION)),
		   "kinds 0x%x", f->hello.u.hello.filter.kind_mask);
	fake_check(f, f->hello.u.hello.filter.n_job_ids == 1 &&
			      f->hello.u.hello.filter.job_ids[0].b[0] == 0x67,
		   "job filter");
	fake_check(f, strcmp(f->hello.u.hello.client_name, "watcher-1") == 0, "name");
	/* In one write: dobctl may stop reading once it has printed two. */
	{
		uint8_t buf[8192];
		size_t len = 0;

		for (int i = 0; i < 3; i++) {
			struct dob_codec_error ce;
			uint8_t *fr = NULL;
			size_t n = 0;

			if (i == 0)
				fake_job_error(&m, 0x11, 11);
			else if (i == 1)
				fake_resolution(&m, 0x11, 11);
			else
				fake_job_modified(&m, 0x12); /* beyond --count: never printed */
			fake_check(f, dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &fr, &n, &ce) == 0 &&
					      len + n <= sizeof buf, "encode");
			if (fr && len + n <= sizeof buf) {
				memcpy(buf + len, fr, n);
				len += n;
			}
			dob_free(fr);
			dob_msg_clear(&m);
		}
		fake_send_raw(f, buf, len);
	}
	fake_wait_eof(f, 5000);
}

Test(dobctl, watch_json_prints_one_valid_object_per_event_and_stops_at_count, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "--name", "watcher-1", "watch", "--json",
			       "--kinds", "error,resolution", "--job",
			       "{01234567-89ab-cdef-0123-456789abcdef}", "--count", "2", NULL };
	struct run *r;
	char types[256];

	r = against(s_watch, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "job_error,resolution");
	cr_expect_str_eq(r->err, "", "JSON mode says nothing on stderr: %s", r->err);
	free(r);
}

static void s_watch_plain(struct fake *f)
{
	struct dob_msg m;

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 0x11, 11);
	send_and_free(f, &m);
	fake_wait_eof(f, 5000);
}

Test(dobctl, watch_prints_human_lines_and_a_header_on_stderr, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "watch", "--count", "1", NULL };
	struct run *r;

	r = against(s_watch_plain, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strncmp(r->out, "ERROR episode 11 {11111111-", 27) == 0, "%s", r->out);
	cr_expect(strstr(r->err, "dobroker fake, backend sim, session 42, 2 pending episodes") != NULL,
		  "%s", r->err);
	free(r);
}

struct expect_act {
	enum dob_action action;
	uint32_t delay;
	enum dob_status status;
};

static void s_controller(struct fake *f)
{
	const struct expect_act *want = f->arg;
	struct dob_msg m, req;

	if (fake_handshake(f) < 0)
		return;
	fake_check(f, f->hello.u.hello.role == DOB_ROLE_CONTROLLER, "role %d", f->hello.u.hello.role);
	fake_job_error(&m, 0x11, 11);
	send_and_free(f, &m);
	if (fake_expect(f, DOB_MSG_ACT, &req) < 0)
		return;
	fake_check(f, req.u.act.action == want->action && req.u.act.delay_ms == want->delay &&
			      req.u.act.episode_id == 11 && req.u.act.job_id.b[0] == 0x11,
		   "Act: action %d delay %u episode %llu", req.u.act.action, req.u.act.delay_ms,
		   (unsigned long long)req.u.act.episode_id);
	m.type = DOB_MSG_ACTION_RESULT;
	memset(&m.u, 0, sizeof m.u);
	m.correlation_id = req.correlation_id;
	m.u.action_result.status = want->status;
	m.u.action_result.new_state = DOB_STATE_QUEUED;
	m.u.action_result.message = dob_strdup(want->status ? "too late" : "");
	send_and_free(f, &m);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(dobctl, watch_exec_passes_the_event_in_env_and_sends_the_first_line_as_reply, .timeout = 30)
{
	static const struct expect_act want = { DOB_ACTION_RESUME_AFTER_DELAY, 1500, DOB_STATUS_OK };
	const char *cmd =
		"[ \"$DOB_HRESULT\" = 0x80190194 ] && [ \"$DOB_EPISODE_ID\" = 11 ] && "
		"[ \"$DOB_URL\" = http://127.0.0.1:1/missing.bin ] && "
		"[ \"$DOB_ERROR_CONTEXT\" = REMOTE_FILE ] && [ \"$DOB_REPEAT_COUNT\" = 3 ] && "
		"[ \"$DOB_STATE\" = ERROR ] && "
		"[ \"$DOB_LOCAL_NAME\" = /tmp/out/missing.bin ] && "
		"[ \"$DOB_JOB_ID\" = '{11111111-1111-1111-1111-111111111111}' ] && "
		"printf %s \"$DOB_EVENT_JSON\" | /usr/bin/python3 -c 'import json,sys; "
		"assert json.load(sys.stdin)[\"episode_id\"] == 11' && "
		"printf 'resume-after-delay 1500\\nsecond line ignored\\n' || echo none";
	const char *args[] = { "--endpoint", NULL, "watch", "--json", "--exec", cmd, "--count", "1",
			       NULL };
	struct run *r;
	char types[256];

	r = against(s_controller, &want, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "job_error,action_result");
	cr_expect(strstr(r->out, "\"action\":\"resume-after-delay\",\"status\":\"OK\"") != NULL, "%s",
		  r->out);
	free(r);
}

Test(dobctl, watch_on_error_answers_every_error_and_prints_refusals, .timeout = 30)
{
	static const struct expect_act want = { DOB_ACTION_CANCEL, 0, DOB_STATUS_NO_EPISODE };
	const char *args[] = { "--endpoint", NULL, "watch", "--on-error=cancel", "--count", "1", NULL };
	struct run *r;

	r = against(s_controller, &want, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->out, "  -> cancel: NO_EPISODE: too late") != NULL, "%s", r->out);
	free(r);
}

Test(dobctl, watch_on_error_ask_without_a_terminal_is_a_usage_error, .timeout = 30)
{
	const char *args[] = { "--endpoint", "/nonexistent/x.sock", "watch", "--on-error=ask", NULL };
	struct run *r = malloc(sizeof *r);

	dobctl(r, args);
	cr_expect_eq(r->code, 1);
	cr_expect(strstr(r->err, "needs a terminal") != NULL, "%s", r->err);
	free(r);
}

Test(dobctl, watch_on_error_ask_prompts_on_the_terminal_and_sends_the_chosen_action, .timeout = 30)
{
	static const struct expect_act want = { DOB_ACTION_CANCEL, 0, DOB_STATUS_OK };
	const char *args[] = { "--endpoint", NULL, "watch", "--on-error=ask", "--count", "1", NULL };
	struct run *r = malloc(sizeof *r);
	char prog[4200];
	int master;

	/* A pseudo-terminal as stdin; the answers wait in its input queue:
	 * no to resume, yes to cancel. */
	master = posix_openpt(O_RDWR | O_NOCTTY);
	cr_assert_geq(master, 0);
	cr_assert_eq(grantpt(master), 0);
	cr_assert_eq(unlockpt(master), 0);
	cr_assert_eq(write(master, "n\ny\n", 4), 4);
	dobctl_path(prog, sizeof prog);
	cr_assert_eq(fake_start(&fk, s_controller, (void *)&want), 0);
	args[1] = fk.path;
	run_prog_in(prog, args, ptsname(master), r);
	stop(r);
	close(master);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "episode 11 of {11111111-1111-1111-1111-111111111111}: resume? [y/n]") != NULL,
		  "%s", r->err);
	cr_expect(strstr(r->err, ": cancel? [y/n]") != NULL, "%s", r->err);
	cr_expect(strstr(r->err, "complete?") == NULL, "asked past the yes: %s", r->err);
	cr_expect(strstr(r->out, "  -> cancel: OK") != NULL, "%s", r->out);
	free(r);
}

/* ---------------------------------------------------------------- requests */

Test(dobctl, act_refused_exits_4_naming_the_status, .timeout = 30)
{
	static const struct expect_act want = { DOB_ACTION_RESUME, 0, DOB_STATUS_ALREADY_RESOLVED };
	const char *args[] = { "--endpoint", NULL, "act", "{11111111-1111-1111-1111-111111111111}",
			       "resume", "--episode", "11", NULL };
	struct run *r;

	/* s_controller sends a JobError first: dobctl act queues and ignores it. */
	r = against(s_controller, &want, args);
	cr_expect_eq(r->code, 4, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "refused: ALREADY_RESOLVED: too late") != NULL, "%s", r->err);
	free(r);
}

Test(dobctl, act_ok_exits_0, .timeout = 30)
{
	static const struct expect_act want = { DOB_ACTION_RESUME_AFTER_DELAY, 250, DOB_STATUS_OK };
	const char *args[] = { "--endpoint", NULL, "act", "11111111-1111-1111-1111-111111111111",
			       "resume-after-delay", "--delay", "250", "--episode=11", NULL };
	struct run *r;

	r = against(s_controller, &want, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->out, "resume-after-delay {11111111-1111-1111-1111-111111111111}: OK, now QUEUED") ==
			  r->out,
		  "%s", r->out);
	free(r);
}

static void s_submit(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_JOB_REPLY };
	struct dob_submit_job *s;

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_SUBMIT_JOB, &req) < 0)
		return;
	s = &req.u.submit_job;
	fake_check(f, strcmp(s->display_name, "nightly") == 0, "name %s", s->display_name);
	fake_check(f, s->n_files == 1 && strcmp(s->files[0].remote_url, "http://h/f.bin") == 0 &&
			      strcmp(s->files[0].local_path, "/tmp/f.bin") == 0,
		   "files");
	fake_check(f, s->priority == DOB_PRIORITY_LOW, "priority %d", s->priority);
	fake_check(f, s->policy.kind == DOB_POLICY_RESUME && s->policy.max_resumes == 2 &&
			      s->policy.backoff_ms == 1000 && s->policy.exhausted == DOB_POLICY_CANCEL &&
			      s->policy.deadline_ms == 30000,
		   "policy");
	fake_check(f, s->type == DOB_JOB_DOWNLOAD, "type");
	rep.correlation_id = req.correlation_id;
	rep.u.job_reply.has_job = true;
	memset(rep.u.job_reply.job.job.job_id.b, 0x42, DOB_GUID_LEN);
	rep.u.job_reply.job.job.display_name = dob_strdup("nightly");
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(dobctl, submit_prints_the_new_job_id, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "submit", "http://h/f.bin", "/tmp/f.bin",
			       "--name", "nightly", "--priority", "low",
			       "--policy", "resume:2:1000:cancel", "--deadline", "30000", NULL };
	struct run *r;

	r = against(s_submit, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect_str_eq(r->out, "{42424242-4242-4242-4242-424242424242}\n");
	free(r);
}

static void s_jobs(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_LIST_JOBS_REPLY };
	int i;

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_LIST_JOBS, &req) < 0)
		return;
	rep.correlation_id = req.correlation_id;
	rep.u.list_jobs_reply.n_jobs = 2;
	rep.u.list_jobs_reply.jobs = dob_calloc(2, sizeof *rep.u.list_jobs_reply.jobs);
	for (i = 0; i < 2; i++) {
		memset(rep.u.list_jobs_reply.jobs[i].job.job_id.b, 0x30 + i, DOB_GUID_LEN);
		rep.u.list_jobs_reply.jobs[i].job.display_name = dob_strdup("j\tx");
		rep.u.list_jobs_reply.jobs[i].owner.user_sid = dob_strdup("uid:1000");
	}
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(dobctl, jobs_json_prints_one_object_per_job, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "jobs", "--json", NULL };
	struct run *r;
	char types[256];

	r = against(s_jobs, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "job,job");
	free(r);
}

/* ---------------------------------------------------------------- failures */

Test(dobctl, request_without_reply_exits_5, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "--timeout", "300", "ping", NULL };
	struct run *r = against(s_watch_plain, NULL, args); /* never answers a Ping */

	cr_expect_eq(r->code, 5, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "no reply to ping within 300 ms") != NULL, "%s", r->err);
	free(r);
}

Test(dobctl, no_broker_exits_2_naming_the_endpoint, .timeout = 30)
{
	const char *args[] = { "--endpoint", "/nonexistent/dobroker.sock", "stats", NULL };
	struct run *r = malloc(sizeof *r);

	dobctl(r, args);
	cr_expect_eq(r->code, 2, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "cannot connect to /nonexistent/dobroker.sock") != NULL, "%s",
		  r->err);
	free(r);
}

static void s_refuse(struct fake *f)
{
	fake_refuse_hello(f, DOB_PERR_TOO_MANY_CONNECTIONS, "8 connections for uid 1000 already");
}

Test(dobctl, broker_protocol_error_exits_3_with_its_message, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "jobs", NULL };
	struct run *r;

	r = against(s_refuse, NULL, args);
	cr_expect_eq(r->code, 3, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "8 connections for uid 1000 already") != NULL, "%s", r->err);
	free(r);
}

Test(dobctl, usage_errors_exit_1, .timeout = 30)
{
	static const char *const cases[][6] = {
		{ "frobnicate", NULL },
		{ "act", "not-a-guid", "resume", NULL },
		{ "act", "{11111111-1111-1111-1111-111111111111}", "resume-after-delay", NULL },
		{ "act", "{11111111-1111-1111-1111-111111111111}", "resume", "--delay", "5", NULL },
		{ "submit", "http://h/x", NULL },
		{ "submit", "http://h/x", "/tmp/x", "--policy", "resume:0:1", NULL },
		{ "watch", "--kinds", "errors", NULL },
		{ "watch", "--on-error=resume", "--exec", "true", NULL },
		{ "--timeout", "0", "ping", NULL },
		{ "--endpoint", "/nonexistent/x.sock", "--name", "", "ping", NULL },
	};
	struct run *r = malloc(sizeof *r);
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		dobctl(r, (const char *const *)cases[i]);
		cr_expect_eq(r->code, 1, "case %zu (%s): exit %d", i, cases[i][0], r->code);
		cr_expect(strstr(r->err, "Try 'dobctl --help'") != NULL, "case %zu: %s", i, r->err);
	}
	free(r);
}

Test(dobctl, help_documents_the_exit_codes, .timeout = 30)
{
	const char *args[] = { "--help", NULL };
	struct run *r = malloc(sizeof *r);

	dobctl(r, args);
	cr_expect_eq(r->code, 0);
	cr_expect(strstr(r->out, "5  timeout waiting for the broker") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "4  the broker refused the request") != NULL);
	free(r);
}

/* ---------------------------------------------------------------- Python example */

static void s_python(struct fake *f)
{
	static const enum dob_action want[2] = { DOB_ACTION_RESUME, DOB_ACTION_CANCEL };
	struct dob_msg m, req;
	int i;

	if (fake_handshake(f) < 0)
		return;
	fake_check(f, f->hello.u.hello.role == DOB_ROLE_CONTROLLER, "role %d", f->hello.u.hello.role);
	fake_check(f, strcmp(f->hello.u.hello.client_name, "py-test") == 0, "name %s",
		   f->hello.u.hello.client_name);
	for (i = 0; i < 2; i++) {
		fake_job_error(&m, 0x21, (uint64_t)(11 + i));
		send_and_free(f, &m);
		if (fake_expect(f, DOB_MSG_ACT, &req) < 0)
			return;
		fake_check(f, req.u.act.action == want[i] && req.u.act.episode_id == (uint64_t)(11 + i) &&
				      req.u.act.job_id.b[0] == 0x21,
			   "Act %d: action %d episode %llu", i, req.u.act.action,
			   (unsigned long long)req.u.act.episode_id);
		/* An event between the request and its reply: queued by the client. */
		fake_resolution(&m, 0x21, (uint64_t)(11 + i));
		send_and_free(f, &m);
		m.type = DOB_MSG_ACTION_RESULT;
		memset(&m.u, 0, sizeof m.u);
		m.correlation_id = req.correlation_id;
		m.u.action_result.new_state = DOB_STATE_QUEUED;
		send_and_free(f, &m);
		dob_msg_clear(&req);
	}
	fake_wait_eof(f, 5000);
}

Test(python, watch_and_resume_answers_by_its_rule_and_prints_json, .timeout = 30)
{
	char root[4096], script[4200], pb2[4200], types[256];
	const char *args[] = { script, "--endpoint", NULL, "--name", "py-test", "--json",
			       "--count", "4", "--max-resumes", "1", NULL };
	struct run *r = malloc(sizeof *r);

	tree_dir(root, sizeof root, 2);
	snprintf(script, sizeof script, "%s/examples/python/watch_and_resume.py", root);
	snprintf(pb2, sizeof pb2, "%s/build/py/dobroker_pb2.py", root);
	cr_assert_eq(access(pb2, R_OK), 0, "%s missing: run 'make pygen'", pb2);
	cr_assert_eq(fake_start(&fk, s_python, NULL), 0);
	args[2] = fk.path;
	run_prog("/usr/bin/python3", args, r);
	stop(r);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "job_error,action_result,resolution,job_error,action_result,resolution");
	cr_expect(strstr(r->out, "\"action\": \"cancel\", \"status\": \"OK\"") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "\"hresult\": \"0x80190194\"") != NULL, "%s", r->out);
	free(r);
}

Test(python, watch_and_resume_without_broker_exits_2, .timeout = 30)
{
	char root[4096], script[4200];
	const char *args[] = { script, "--endpoint", "/nonexistent/dobroker.sock", NULL };
	struct run *r = malloc(sizeof *r);

	tree_dir(root, sizeof root, 2);
	snprintf(script, sizeof script, "%s/examples/python/watch_and_resume.py", root);
	run_prog("/usr/bin/python3", args, r);
	cr_expect_eq(r->code, 2, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "cannot connect to /nonexistent/dobroker.sock") != NULL, "%s",
		  r->err);
	free(r);
}

/* ---------------------------------------------------------------- global options */

static void s_pong(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_PONG };

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_PING, &req) < 0)
		return;
	fake_check(f, strcmp(f->hello.u.hello.client_name, "late-name") == 0, "name %s",
		   f->hello.u.hello.client_name);
	rep.correlation_id = req.correlation_id;
	rep.u.ping.nonce = req.u.ping.nonce;
	fake_send(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(dobctl, global_options_after_the_command_are_accepted, .timeout = 30)
{
	const char *args[] = { "--json", NULL, "ping", "--endpoint", NULL, "--name=late-name",
			       "--timeout", "4000", NULL };
	struct run *r = malloc(sizeof *r);
	char types[256];

	cr_assert_eq(fake_start(&fk, s_pong, NULL), 0);
	args[1] = "--json"; /* twice is fine */
	args[4] = fk.path;
	dobctl(r, args);
	stop(r);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "pong");
	cr_expect(strstr(r->out, "\"backend\":\"sim\",\"session_id\":42") != NULL, "%s", r->out);
	free(r);
}

Test(dobctl, endpoint_comes_from_dobroker_endpoint_unless_given, .timeout = 30)
{
	const char *args[] = { "ping", "--name", "late-name", NULL };
	const char *missing[] = { "--endpoint", "/nonexistent/given.sock", "ping", NULL };
	struct run *r = malloc(sizeof *r);

	cr_assert_eq(fake_start(&fk, s_pong, NULL), 0);
	setenv("DOBROKER_ENDPOINT", fk.path, 1);
	dobctl(r, args);
	stop(r);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strncmp(r->out, "pong in ", 8) == 0, "%s", r->out);
	/* --endpoint wins over the variable. */
	dobctl(r, missing);
	unsetenv("DOBROKER_ENDPOINT");
	cr_expect_eq(r->code, 2, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "/nonexistent/given.sock") != NULL, "%s", r->err);
	free(r);
}

Test(dobctl, version_and_help_anywhere, .timeout = 30)
{
	const char *v[] = { "ping", "--version", NULL };
	const char *h[] = { "watch", "--help", NULL };
	struct run *r = malloc(sizeof *r);

	dobctl(r, v);
	cr_expect_eq(r->code, 0);
	cr_expect(strncmp(r->out, "dobctl 0.", 9) == 0 && strstr(r->out, "(protocol 1)"), "%s",
		  r->out);
	dobctl(r, h);
	cr_expect_eq(r->code, 0);
	cr_expect(strstr(r->out, "DOBROKER_ENDPOINT") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "--exec-concurrency") != NULL, "%s", r->out);
	free(r);
}

/* ---------------------------------------------------------------- exit codes */

static void s_no_welcome(struct fake *f)
{
	struct dob_msg m;

	if (fake_accept(f) < 0 || fake_expect(f, DOB_MSG_HELLO, &m) < 0)
		return;
	dob_msg_clear(&m);
	fake_wait_eof(f, 10000);
}

Test(dobctl, handshake_timeout_exits_5, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "--timeout", "300", "jobs", NULL };
	struct run *r = against(s_no_welcome, NULL, args);

	cr_expect_eq(r->code, 5, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "no Welcome") != NULL, "%s", r->err);
	free(r);
}

static void s_not_a_broker(struct fake *f)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

	if (fake_accept(f) < 0)
		return;
	fake_send_raw(f, http, sizeof http - 1);
	fake_wait_eof(f, 5000);
}

Test(dobctl, peer_that_sends_no_frames_exits_3, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "stats", NULL };
	struct run *r = against(s_not_a_broker, NULL, args);

	cr_expect_eq(r->code, 3, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "does not speak the dobroker protocol") != NULL, "%s", r->err);
	free(r);
}

/* ALREADY_RESOLVED with the broker's own wording of the winner. */
static void s_already(struct fake *f)
{
	struct dob_msg m, req;

	if (fake_handshake(f) < 0)
		return;
	if (f->arg) {
		fake_job_error(&m, 0x11, 11);
		send_and_free(f, &m);
	}
	if (fake_expect(f, DOB_MSG_ACT, &req) < 0)
		return;
	memset(&m, 0, sizeof m);
	m.type = DOB_MSG_ACTION_RESULT;
	m.correlation_id = req.correlation_id;
	m.u.action_result.status = DOB_STATUS_ALREADY_RESOLVED;
	m.u.action_result.new_state = DOB_STATE_CANCELLED;
	m.u.action_result.message = dob_strdup("episode 11 was decided: cancel by other (session 7)");
	m.u.action_result.winner.session_id = 7;
	m.u.action_result.winner.client_name = dob_strdup("other");
	m.u.action_result.winner_action = DOB_ACTION_CANCEL;
	send_and_free(f, &m);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

static int occurrences(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

Test(dobctl, already_resolved_is_said_once, .timeout = 30)
{
	const char *act[] = { "--endpoint", NULL, "act", "{11111111-1111-1111-1111-111111111111}",
			      "resume", NULL };
	const char *watch[] = { "--endpoint", NULL, "watch", "--on-error=resume", "--count", "1",
				NULL };
	struct run *r;

	r = against(s_already, NULL, act);
	cr_expect_eq(r->code, 4, "exit %d: %s", r->code, r->err);
	cr_expect_eq(occurrences(r->err, "ALREADY_RESOLVED"), 1, "%s", r->err);
	cr_expect(strstr(r->err, "refused: ALREADY_RESOLVED: episode 11 was decided: cancel by other "
				 "(session 7) (won by \"other\", session 7: cancel)\n") != NULL,
		  "%s", r->err);
	free(r);
	r = against(s_already, "with an error first", watch);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect_eq(occurrences(r->out, "ALREADY_RESOLVED"), 1, "%s", r->out);
	cr_expect(strstr(r->out, "  -> resume: ALREADY_RESOLVED: episode 11 was decided") != NULL,
		  "%s", r->out);
	free(r);
}

Test(dobctl, submit_refuses_what_the_broker_would_before_connecting, .timeout = 30)
{
	static const char *const cases[][4] = {
		{ "ftp://h/f.bin", "/tmp/f.bin", "not http:// or https://" },
		{ "http://", "/tmp/f.bin", "no host" },
		{ "http://h/f.bin", "f.bin", "relative" },
		{ "http://h/f.bin", "../f.bin", "relative" },
	};
	const char *args[] = { "--endpoint", "/nonexistent/x.sock", "submit", NULL, NULL, NULL };
	struct run *r = malloc(sizeof *r);
	char *url = malloc(DOB_MAX_URL + 2);
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		args[3] = cases[i][0];
		args[4] = cases[i][1];
		dobctl(r, args);
		cr_expect_eq(r->code, 1, "case %zu: exit %d: %s", i, r->code, r->err);
		cr_expect(strstr(r->err, cases[i][2]) != NULL, "case %zu: %s", i, r->err);
		cr_expect(strstr(r->err, "cannot connect") == NULL, "case %zu connected: %s", i,
			  r->err);
	}
	memset(url, 'a', DOB_MAX_URL + 1);
	memcpy(url, "http://h/", 9);
	url[DOB_MAX_URL + 1] = '\0';
	args[3] = url;
	args[4] = "/tmp/f.bin";
	dobctl(r, args);
	cr_expect_eq(r->code, 1, "long URL: exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "too long") != NULL, "%s", r->err);
	free(url);
	free(r);
}

/* ---------------------------------------------------------------- --json everywhere, stats */

static void s_stats(struct fake *f)
{
	struct dob_msg req, rep = { .type = DOB_MSG_STATS };

	if (fake_handshake(f) < 0 || fake_expect(f, DOB_MSG_GET_STATS, &req) < 0)
		return;
	rep.correlation_id = req.correlation_id;
	rep.u.stats.subscribers = 3;
	rep.u.stats.events_in = 120;
	rep.u.stats.uptime_ms = 3723000;
	rep.u.stats.decision_latency_p50_us = 12345;
	rep.u.stats.decision_latency_p99_us = 14677275;
	rep.u.stats.service_restarts = 2;
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(dobctl, stats_are_shown_with_units, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "stats", NULL };
	const char *json[] = { "--endpoint", NULL, "stats", "--json", NULL };
	struct run *r;
	char types[64];

	r = against(s_stats, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->out, "uptime                 1h 02m\n") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "decision latency p50   12.3 ms\n") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "decision latency p99   14.68 s\n") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "service restarts       2\n") != NULL, "%s", r->out);
	free(r);
	r = against(s_stats, NULL, json);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "stats");
	cr_expect(strstr(r->out, "\"decision_latency_p99_us\":14677275") != NULL, "%s", r->out);
	free(r);
}

Test(dobctl, json_on_act_and_submit, .timeout = 30)
{
	static const struct expect_act want = { DOB_ACTION_RESUME, 0, DOB_STATUS_NO_EPISODE };
	const char *act[] = { "--endpoint", NULL, "--json", "act",
			      "{11111111-1111-1111-1111-111111111111}", "resume", "--episode", "11",
			      NULL };
	const char *submit[] = { "--endpoint", NULL, "submit", "http://h/f.bin", "/tmp/f.bin",
				 "--name", "nightly", "--priority", "low", "--policy",
				 "resume:2:1000:cancel", "--deadline", "30000", "--json", NULL };
	struct run *r;
	char types[64];

	r = against(s_controller, &want, act);
	cr_expect_eq(r->code, 4, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "action_result");
	cr_expect(strstr(r->out, "\"status\":\"NO_EPISODE\"") != NULL, "%s", r->out);
	free(r);
	r = against(s_submit, NULL, submit);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "job_reply");
	cr_expect(strstr(r->out, "\"job_id\":\"{42424242-4242-4242-4242-424242424242}\"") != NULL,
		  "%s", r->out);
	free(r);
}

/* ---------------------------------------------------------------- --exec: lifetime, concurrency, messages */

static void temp_dir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/dobctl-exec-XXXXXX");
	cr_assert_not_null(mkdtemp(buf));
}

static void remove_dir(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

/* Waits (polling, bound 20 s that only catches a hang) until path exists. */
static bool wait_file(const char *path)
{
	for (int i = 0; i < 2000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (access(path, F_OK) == 0)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Gone, or a zombie nobody reaped yet (its parent was killed). */
static bool pid_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static bool wait_dead(pid_t pid)
{
	for (int i = 0; i < 2000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (pid_dead(pid))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Starts dobctl in the background, stdout and stderr to files in dir. */
static pid_t dobctl_bg(const char *const *args, const char *dir)
{
	char prog[4200], out[256], err[256];
	char *argv[32];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t i;

	dobctl_path(prog, sizeof prog);
	snprintf(out, sizeof out, "%s/stdout", dir);
	snprintf(err, sizeof err, "%s/stderr", dir);
	argv[0] = prog;
	for (i = 0; args[i]; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(posix_spawn(&pid, prog, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* waitpid with a bound that only catches a hang (SIGKILL then). */
static int wait_exit(pid_t pid)
{
	int st = 0;

	for (int i = 0; i < 3000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("dobctl did not end within 30 s");
	return st;
}

/* Sends one JobError; with arg (a directory) hangs up once the command
 * has written its pids there, else waits for dobctl to go. */
static void s_exec_lifetime(struct fake *f)
{
	const char *dir = f->arg;
	char path[256];
	struct dob_msg m;

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 0x11, 11);
	send_and_free(f, &m);
	snprintf(path, sizeof path, "%s/pids", dir);
	if (strstr(dir, "hangup")) {
		fake_check(f, wait_file(path), "the command did not start");
		fake_hangup(f);
		return;
	}
	fake_wait_eof(f, 30000);
}

/* The command starts a grandchild and writes "shell grandchild" pids. */
static void exec_lifetime(int sig, const char *tag)
{
	char dir[64], cmd[512], path[128];
	const char *args[] = { "--endpoint", NULL, "watch", "--exec", cmd, NULL };
	int shell = 0, grandchild = 0, st;
	FILE *f;
	pid_t pid;

	temp_dir(dir, sizeof dir);
	if (tag) {
		/* The fake hangs up: dobctl ends by itself (exit 3). */
		snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "-%s", tag);
		cr_assert_eq(mkdir(dir, 0700), 0);
	}
	snprintf(cmd, sizeof cmd,
		 "sleep 300 & echo \"$$ $!\" > %s/pids.tmp && mv %s/pids.tmp %s/pids; wait", dir,
		 dir, dir);
	cr_assert_eq(fake_start(&fk, s_exec_lifetime, dir), 0);
	args[1] = fk.path;
	pid = dobctl_bg(args, dir);
	snprintf(path, sizeof path, "%s/pids", dir);
	cr_assert(wait_file(path), "the command did not start");
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%d %d", &shell, &grandchild), 2);
	fclose(f);
	if (sig) {
		cr_assert(!pid_dead(shell) && !pid_dead(grandchild));
		kill(pid, sig);
	}
	st = wait_exit(pid);
	if (sig)
		cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == sig, "dobctl did not die of signal %d",
			  sig);
	else
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "dobctl status 0x%x", st);
	cr_expect(wait_dead(shell), "the command's shell outlived dobctl");
	cr_expect(wait_dead(grandchild), "what the command started outlived dobctl");
	if (!pid_dead(grandchild))
		kill(grandchild, SIGKILL);
	if (!pid_dead(shell))
		kill(shell, SIGKILL);
	fake_stop(&fk);
	remove_dir(dir);
	if (tag) {
		dir[strlen(dir) - strlen(tag) - 1] = '\0';
		remove_dir(dir);
	}
}

Test(dobctl, exec_command_dies_with_dobctl_on_sigterm, .timeout = 60)
{
	exec_lifetime(SIGTERM, NULL);
}

Test(dobctl, exec_command_dies_with_dobctl_on_sigint, .timeout = 60)
{
	exec_lifetime(SIGINT, NULL);
}

Test(dobctl, exec_command_dies_when_dobctl_exits, .timeout = 60)
{
	exec_lifetime(0, "hangup");
}

/* Two errors; both Acts must come (any order), action resume. */
static void s_two_errors(struct fake *f)
{
	struct dob_msg m, req;
	bool seen[2] = { false, false };

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 0x11, 11);
	send_and_free(f, &m);
	fake_job_error(&m, 0x12, 12);
	send_and_free(f, &m);
	for (int i = 0; i < 2; i++) {
		if (fake_recv(f, &req, 30000) < 0 || req.type != DOB_MSG_ACT) {
			fake_check(f, false, "Act %d did not come", i + 1);
			dob_msg_clear(&req);
			return;
		}
		fake_check(f, req.u.act.action == DOB_ACTION_RESUME, "action %d", req.u.act.action);
		if (req.u.act.episode_id == 11 || req.u.act.episode_id == 12)
			seen[req.u.act.episode_id - 11] = true;
		memset(&m, 0, sizeof m);
		m.type = DOB_MSG_ACTION_RESULT;
		m.correlation_id = req.correlation_id;
		m.u.action_result.new_state = DOB_STATE_QUEUED;
		send_and_free(f, &m);
		dob_msg_clear(&req);
	}
	fake_check(f, seen[0] && seen[1], "not both episodes were answered");
	fake_wait_eof(f, 5000);
}

Test(dobctl, exec_concurrency_runs_commands_side_by_side, .timeout = 60)
{
	char dir[64], cmd[512];
	const char *args[] = { "--endpoint", NULL, "watch", "--exec", cmd, "--exec-concurrency", "2",
			       "--count", "2", NULL };
	struct run *r;

	/* Each command waits for the other to have started: only two at
	 * once get past it (one at a time, the first gives up: none). */
	temp_dir(dir, sizeof dir);
	snprintf(cmd, sizeof cmd,
		 "touch %s/in.$DOB_EPISODE_ID; i=0; "
		 "while [ ! -e %s/in.11 ] || [ ! -e %s/in.12 ]; do "
		 "i=$((i+1)); [ $i -gt 2000 ] && { echo none; exit 0; }; sleep 0.01; done; "
		 "echo resume", dir, dir, dir);
	r = against(s_two_errors, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect_eq(occurrences(r->out, "  -> resume: OK"), 2, "%s", r->out);
	remove_dir(dir);
	free(r);
}

Test(dobctl, exec_commands_run_one_at_a_time_by_default, .timeout = 60)
{
	char dir[64], cmd[512], log[128];
	const char *args[] = { "--endpoint", NULL, "watch", "--exec", cmd, "--count", "2", NULL };
	struct run *r;

	temp_dir(dir, sizeof dir);
	snprintf(cmd, sizeof cmd,
		 "mkdir %s/lock 2>/dev/null || echo overlap >> %s/log; sleep 0.1; "
		 "rmdir %s/lock; echo resume", dir, dir, dir);
	r = against(s_two_errors, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	snprintf(log, sizeof log, "%s/log", dir);
	cr_expect_neq(access(log, F_OK), 0, "two commands ran at once");
	remove_dir(dir);
	free(r);
}

/* One JobError; no Act is expected. */
static void s_error_no_act(struct fake *f)
{
	struct dob_msg m;

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 0x11, 11);
	send_and_free(f, &m);
	if (fake_recv(f, &m, 30000) == 0) {
		fake_check(f, false, "unexpected %s", dob_msg_type_name(m.type));
		dob_msg_clear(&m);
	}
}

Test(dobctl, exec_failure_and_its_reply_are_said_once_without_contradiction, .timeout = 60)
{
	static const struct expect_act want = { DOB_ACTION_RESUME, 0, DOB_STATUS_OK };
	const char *bad[] = { "--endpoint", NULL, "watch", "--exec", "echo bogus; exit 3", "--count",
			      "1", NULL };
	const char *good[] = { "--endpoint", NULL, "watch", "--exec", "echo resume; exit 2",
			       "--count", "1", NULL };
	const char *none[] = { "--endpoint", NULL, "watch", "--exec", "exit 4", "--count", "1",
			       NULL };
	struct run *r;

	r = against(s_error_no_act, NULL, bad);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "exited with status 3 and printed 'bogus', which is not a reply") !=
			  NULL, "%s", r->err);
	cr_expect(strstr(r->err, "all the same") == NULL, "contradiction: %s", r->err);
	cr_expect_eq(occurrences(r->err, "--exec '"), 1, "%s", r->err);
	free(r);
	r = against(s_controller, &want, good);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "exited with status 2; its reply 'resume' is sent all the same") !=
			  NULL, "%s", r->err);
	cr_expect(strstr(r->out, "  -> resume: OK") != NULL, "%s", r->out);
	free(r);
	r = against(s_error_no_act, NULL, none);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "exited with status 4 without a reply; no reply sent") != NULL, "%s",
		  r->err);
	free(r);
}

/* ---------------------------------------------------------------- watch --reconnect */

/* Accepts a second connection after a first one ended. */
static int fake_again(struct fake *f)
{
	fake_hangup(f);
	dob_msg_clear(&f->hello);
	f->pos = f->len = 0;
	dob_decoder_free(&f->dec);
	dob_decoder_init(&f->dec, DOB_MAX_FRAME_DEFAULT);
	return fake_handshake(f);
}

static void reply_ok(struct fake *f, const struct dob_msg *req)
{
	struct dob_msg m = { .type = DOB_MSG_ACTION_RESULT };

	m.correlation_id = req->correlation_id;
	m.u.action_result.new_state = DOB_STATE_QUEUED;
	fake_send(f, &m);
}

/* Life 1: episode 11; with arg, its Act is left unanswered. Life 2:
 * episode 11 replayed, then 12. */
static void s_two_lives(struct fake *f)
{
	bool controller = f->arg != NULL;
	struct dob_msg m, req;

	if (fake_handshake(f) < 0)
		return;
	fake_job_error(&m, 0x11, 11);
	send_and_free(f, &m);
	if (controller && fake_expect(f, DOB_MSG_ACT, &req) == 0)
		dob_msg_clear(&req); /* the broker goes before it answers */
	if (fake_again(f) < 0)
		return;
	fake_job_error(&m, 0x11, 11);
	m.u.job_error.replayed = true;
	send_and_free(f, &m);
	if (controller) {
		/* Not settled in life 1: answered again. */
		if (fake_expect(f, DOB_MSG_ACT, &req) < 0)
			return;
		fake_check(f, req.u.act.episode_id == 11, "Act for episode %llu",
			   (unsigned long long)req.u.act.episode_id);
		reply_ok(f, &req);
		dob_msg_clear(&req);
	}
	fake_job_error(&m, 0x12, 12);
	send_and_free(f, &m);
	if (controller) {
		if (fake_expect(f, DOB_MSG_ACT, &req) < 0)
			return;
		fake_check(f, req.u.act.episode_id == 12, "Act for episode %llu",
			   (unsigned long long)req.u.act.episode_id);
		reply_ok(f, &req);
		dob_msg_clear(&req);
	}
	fake_wait_eof(f, 10000);
}

Test(dobctl, watch_reconnect_goes_on_and_prints_a_replayed_episode_once, .timeout = 60)
{
	const char *args[] = { "--endpoint", NULL, "watch", "--reconnect", "--json", "--count", "2",
			       NULL };
	struct run *r;
	char types[256];

	r = against(s_two_lives, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "job_error,disconnected,reconnected,job_error");
	cr_expect_eq(occurrences(r->out, "\"episode_id\":11"), 1, "%s", r->out);
	cr_expect_eq(occurrences(r->out, "\"episode_id\":12"), 1, "%s", r->out);
	free(r);
}

Test(dobctl, watch_reconnect_answers_again_an_episode_whose_answer_was_lost, .timeout = 60)
{
	const char *args[] = { "--endpoint", NULL, "watch", "--reconnect", "--on-error=resume",
			       "--count", "2", NULL };
	struct run *r;

	r = against(s_two_lives, "controller", args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect_eq(occurrences(r->out, "ERROR episode 11 "), 1, "%s", r->out);
	cr_expect_eq(occurrences(r->out, "ERROR episode 12 "), 1, "%s", r->out);
	cr_expect_eq(occurrences(r->out, "  -> resume: OK"), 2, "%s", r->out);
	cr_expect(strstr(r->err, "reconnected: dobroker fake") != NULL, "%s", r->err);
	free(r);
}

static void s_reason_hangup(struct fake *f)
{
	struct dob_msg m = { .type = DOB_MSG_PROTOCOL_ERROR };

	if (fake_handshake(f) < 0)
		return;
	m.u.protocol_error.code = DOB_PERR_SHUTTING_DOWN;
	m.u.protocol_error.message = dob_strdup("the broker is stopping");
	send_and_free(f, &m);
	fake_hangup(f);
}

Test(dobctl, watch_without_reconnect_exits_3_when_the_broker_goes, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "watch", NULL };
	struct run *r;

	r = against(s_reason_hangup, NULL, args);
	cr_expect_eq(r->code, 3, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->err, "SHUTTING_DOWN: the broker is stopping") != NULL, "%s", r->err);
	free(r);
}

/* ---------------------------------------------------------------- top */

static void s_top(struct fake *f)
{
	struct dob_msg m, req, rep;
	int64_t now = (int64_t)time(NULL) * 1000000;

	if (fake_handshake(f) < 0) /* announces 2 pending episodes */
		return;
	fake_check(f, f->hello.u.hello.role == DOB_ROLE_OBSERVER, "role %d", f->hello.u.hello.role);
	for (int i = 0; i < 2; i++) {
		fake_job_error(&m, (uint8_t)(0x11 + i), (uint64_t)(11 + i));
		m.u.job_error.replayed = true;
		m.u.job_error.first_seen_us = now - 12000000;
		m.u.job_error.deadline_us = i ? 0 : now + 48000000;
		send_and_free(f, &m);
	}
	if (fake_expect(f, DOB_MSG_LIST_JOBS, &req) < 0)
		return;
	memset(&rep, 0, sizeof rep);
	rep.type = DOB_MSG_LIST_JOBS_REPLY;
	rep.correlation_id = req.correlation_id;
	rep.u.list_jobs_reply.n_jobs = 1;
	rep.u.list_jobs_reply.jobs = dob_calloc(1, sizeof *rep.u.list_jobs_reply.jobs);
	memset(rep.u.list_jobs_reply.jobs[0].job.job_id.b, 0x30, DOB_GUID_LEN);
	rep.u.list_jobs_reply.jobs[0].job.display_name = dob_strdup("nightly");
	rep.u.list_jobs_reply.jobs[0].job.state = DOB_STATE_TRANSFERRING;
	rep.u.list_jobs_reply.jobs[0].job.progress.bytes_total = 3u << 20;
	rep.u.list_jobs_reply.jobs[0].job.progress.bytes_transferred = 3u << 19;
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	if (fake_expect(f, DOB_MSG_GET_STATS, &req) < 0)
		return;
	memset(&rep, 0, sizeof rep);
	rep.type = DOB_MSG_STATS;
	rep.correlation_id = req.correlation_id;
	rep.u.stats.subscribers = 3;
	rep.u.stats.managed_jobs = 1;
	rep.u.stats.pending_episodes = 2;
	rep.u.stats.uptime_ms = 125000;
	rep.u.stats.events_in = 250;
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

/* Two episodes pending at the Welcome; the second ends before its turn in
 * the replay, so it comes as its Resolution, not as a replayed JobError. */
static void s_top_one_ended(struct fake *f)
{
	struct dob_msg m, req, rep;

	if (fake_handshake(f) < 0) /* announces 2 pending episodes */
		return;
	fake_job_error(&m, 0x11, 11);
	m.u.job_error.replayed = true;
	send_and_free(f, &m);
	fake_resolution(&m, 0x12, 12);
	send_and_free(f, &m);
	/* dobctl was given --timeout=600000: a LIST_JOBS now means it saw
	 * the replay was over instead of waiting for its timeout. */
	if (fake_expect(f, DOB_MSG_LIST_JOBS, &req) < 0)
		return;
	memset(&rep, 0, sizeof rep);
	rep.type = DOB_MSG_LIST_JOBS_REPLY;
	rep.correlation_id = req.correlation_id;
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	if (fake_expect(f, DOB_MSG_GET_STATS, &req) < 0)
		return;
	memset(&rep, 0, sizeof rep);
	rep.type = DOB_MSG_STATS;
	rep.correlation_id = req.correlation_id;
	rep.u.stats.pending_episodes = 1;
	send_and_free(f, &rep);
	dob_msg_clear(&req);
	fake_wait_eof(f, 5000);
}

Test(dobctl, top_counts_an_episode_that_ended_before_its_replay_turn, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "--timeout", "600000", "top", NULL };
	struct run *r = against(s_top_one_ended, NULL, args);

	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->out, "\n11       {11111111-") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "{12121212-") == NULL, "the ended episode is not shown: %s",
		  r->out);
	free(r);
}

Test(dobctl, top_prints_one_snapshot_when_stdout_is_not_a_terminal, .timeout = 30)
{
	const char *args[] = { "--endpoint", NULL, "top", NULL };
	const char *json[] = { "--endpoint", NULL, "top", "--json", NULL };
	struct run *r;
	char types[64];

	r = against(s_top, NULL, args);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	cr_expect(strstr(r->out, "\033[") == NULL, "a terminal control sequence in a snapshot");
	cr_expect(strstr(r->out, "dobroker fake, backend sim, up 2m 05s; 3 subscribers, 1 managed "
				 "job, 2 pending episodes\n") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "events in 250 (2.0/s since start)") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "{30303030-3030-3030-3030-303030303030}  TRANSFERRING     "
				 "1.5 MiB/3.0 MiB (50%)") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "\n11       {11111111-1111-1111-1111-111111111111}  0x80190194 1") !=
			  NULL, "%s", r->out);
	cr_expect(strstr(r->out, " in 4") != NULL, "deadline of episode 11: %s", r->out);
	cr_expect(strstr(r->out, "\n12       {12121212-") != NULL, "%s", r->out);
	cr_expect(strstr(r->out, "resume:2:1000:cancel") != NULL, "%s", r->out);
	free(r);
	r = against(s_top, NULL, json);
	cr_expect_eq(r->code, 0, "exit %d: %s", r->code, r->err);
	json_types(r->out, types, sizeof types);
	cr_expect_str_eq(types, "top");
	cr_expect_eq(occurrences(r->out, "\"episode_id\":"), 2, "%s", r->out);
	free(r);
}
