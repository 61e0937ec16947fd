/*
 * dobrokerd for operators, with the real program: SIGHUP reloads the config
 * file (a new default policy and log level take effect, what needs a
 * restart is named, the broker keeps serving on the same socket), a bad
 * file on SIGHUP keeps the running settings, a reload can move the log
 * into a file, the log file rotates by size keeping a bounded count
 * without losing or splitting a line, relative paths in a config file
 * resolve against its folder, --help and -h, --eventlog off.
 *
 * The broker is started here rather than by hb_start, which fixes the log
 * level and the paths with flags (flags win over the config file, so a
 * reload could not change them). It runs with / as its working directory
 * so that only the config file's folder can make its relative paths work.
 * Every broker dies with the test process (PR_SET_PDEATHSIG) and is
 * stopped in .fini.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dob/msg.h"
#include "harness.h"

#define WAIT_MS 20000 /* only catches hangs (sanitizers, a loaded machine) */

static struct {
	pid_t pid;
	char dir[64];
	char conf[256];
	char sock[256];
	char log[256]; /* the broker's stderr */
} O;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	memset(&O, 0, sizeof O);
	snprintf(O.dir, sizeof O.dir, "/tmp/dob-ops-XXXXXX");
	cr_assert(mkdtemp(O.dir));
	snprintf(O.conf, sizeof O.conf, "%s/broker.conf", O.dir);
	snprintf(O.sock, sizeof O.sock, "%s/broker.sock", O.dir);
	snprintf(O.log, sizeof O.log, "%s/stderr.log", O.dir);
}

static void teardown(void)
{
	char cmd[128];

	if (O.pid > 0) {
		kill(O.pid, SIGKILL);
		waitpid(O.pid, NULL, 0);
		O.pid = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", O.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_ops: could not remove %s\n", O.dir);
}

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 120);

static bool answers(void)
{
	struct dobc *c = NULL;

	if (hc_try_connect(O.sock, "probe", DOB_ROLE_OBSERVER, NULL, &c, NULL) != 0)
		return false;
	dobc_close(c);
	return true;
}

/* Starts dobrokerd with argv[1..] (argv[0] is filled in), cwd "/", and
 * waits until it answers on O.sock. */
static void start(const char **args)
{
	const char *argv[32];
	static char exe[PATH_MAX];
	pid_t parent = getpid();
	int n = 0;

	/* Absolute: the child changes directory before exec (the TSan run's
	 * $DOB_IT_BINDIR is relative). */
	cr_assert(realpath(hp_bin("dobrokerd"), exe), "%s: %s", hp_bin("dobrokerd"),
		  strerror(errno));
	argv[n++] = exe;
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	O.pid = fork();
	cr_assert(O.pid >= 0);
	if (O.pid == 0) {
		int fd = open(O.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || chdir("/") != 0)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int64_t until = hp_now_ms() + WAIT_MS; hp_now_ms() < until; usleep(10000)) {
		int st;

		if (waitpid(O.pid, &st, WNOHANG) == O.pid) {
			O.pid = 0;
			cr_assert_fail("dobrokerd exited at start (status %d):\n%s", st,
				       hp_read(O.log));
		}
		if (answers())
			return;
	}
	cr_assert_fail("dobrokerd did not answer on %s:\n%s", O.sock, hp_read(O.log));
}

/* SIGTERM; asserts a clean exit (0) and no sanitizer or valgrind report in
 * the broker's stderr (the sanitized and valgrind runs of make check). */
static void stop(void)
{
	static const char *const reports[] = { "Sanitizer", "runtime error:", "Invalid read",
					       "Invalid write", "definitely lost",
					       "indirectly lost" };
	const char *log;
	int st;

	cr_assert(O.pid > 0);
	kill(O.pid, SIGTERM);
	st = hp_wait(O.pid, WAIT_MS);
	O.pid = 0;
	log = hp_read(O.log);
	cr_assert_eq(st, 0, "dobrokerd did not stop cleanly (status %d):\n%s", st, log);
	for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
		cr_assert_null(strstr(log ? log : "", reports[i]), "a report in dobrokerd's log:\n%s",
			       log);
}

/* Waits until file holds needle n times or more; returns the text. */
static const char *wait_log(const char *file, const char *needle, int n)
{
	for (int64_t until = hp_now_ms() + WAIT_MS; hp_now_ms() < until; usleep(10000)) {
		const char *t = hp_read(file);

		if (t && hp_count(t, needle) >= n)
			return t;
	}
	cr_assert_fail("'%s' not %d times in %s:\n%s", needle, n, file, hp_read(file));
	return NULL;
}

#define SCENARIO                                           \
	"rule \"*/missing/*\" error http=404 after=20ms\n" \
	"repeat off\n"                                     \
	"default ok after=50ms\n"

/* Submits a failing download and returns its JobError (dob_msg_clear it). */
static struct dob_msg failing_job(struct dobc *c, const char *name)
{
	char path[512];
	struct dob_msg m = { 0 };
	struct dob_guid id;

	snprintf(path, sizeof path, "%s/%s.bin", O.dir, name);
	id = hc_submit(c, name, "http://h/missing/x", path, NULL);
	for (;;) {
		cr_assert_eq(hc_wait(c, DOB_MSG_JOB_ERROR, &m, WAIT_MS), 0, "no JobError:\n%s",
			     hp_read(O.log));
		if (!memcmp(&m.u.job_error.job.job_id, &id, sizeof id))
			return m;
		dob_msg_clear(&m);
	}
}

Test(ops, sighup_applies_a_new_policy_and_log_level_and_the_broker_keeps_serving)
{
	const char *args[] = { "--config", O.conf, NULL };
	struct dob_msg m, r = { 0 };
	struct dobc *c;
	struct stat sb;
	const char *log;
	int64_t rtt;

	/* Relative paths, to be read against the file's folder (cwd is /). */
	write_file(O.conf, "endpoint = ./broker.sock\n"
			   "state-dir = state\n"
			   "scenario = scenario.txt\n"
			   "backend = sim\n"
			   "policy = none\n"
			   "log-level = info\n");
	{
		char sc[300];

		snprintf(sc, sizeof sc, "%s/scenario.txt", O.dir);
		write_file(sc, SCENARIO);
	}
	start(args);
	c = hc_connect(O.sock, "ops", DOB_ROLE_CONTROLLER, NULL);
	m = failing_job(c, "before");
	cr_assert_eq(m.u.job_error.default_policy.kind, DOB_POLICY_NONE);
	dob_msg_clear(&m);
	log = hp_read(O.log);
	cr_assert_eq(hp_count(log, " debug "), 0, "info level: no debug line yet:\n%s", log);
	cr_assert_eq(stat(O.dir, &sb), 0);
	{
		char st[300];

		snprintf(st, sizeof st, "%s/state", O.dir);
		cr_assert_eq(stat(st, &sb), 0, "the state dir is beside the config file");
	}

	/* The new file: the cancel policy with a short deadline, debug lines,
	 * and a frame limit, which needs a restart. */
	write_file(O.conf, "endpoint = ./broker.sock\n"
			   "state-dir = state\n"
			   "scenario = scenario.txt\n"
			   "backend = sim\n"
			   "policy = cancel\n"
			   "deadline-ms = 50\n"
			   "max-frame = 2048\n"
			   "log-level = debug\n");
	kill(O.pid, SIGHUP);
	log = wait_log(O.log, "reload: settings from", 1);
	cr_assert(strstr(log, "policy=cancel"), "%s", log);
	cr_assert(strstr(log, "deadline-ms=50"), "%s", log);
	cr_assert(strstr(log, "log-level=debug"), "%s", log);
	cr_assert(strstr(log, "needing a restart, kept: max-frame"), "the restart-only key named:\n%s",
		  log);
	cr_assert(strstr(log, "event 1004 reloaded"), "%s", log);

	/* Still serving: the same connection, and a new one on the same socket. */
	cr_assert_eq(dobc_ping(c, &rtt, WAIT_MS), 0, "%s", hp_read(O.log));
	cr_assert_eq(stat(O.sock, &sb), 0, "the socket is still there");
	{
		struct dobc *c2 = hc_connect(O.sock, "after-reload", DOB_ROLE_OBSERVER, NULL);

		dobc_close(c2);
	}
	wait_log(O.log, " debug session", 1); /* the new level: per-connection debug lines */

	/* An episode opened now gets the new policy, which fires at its
	 * deadline: the broker cancels the job. */
	m = failing_job(c, "after");
	cr_assert_eq(m.u.job_error.default_policy.kind, DOB_POLICY_CANCEL);
	for (;;) {
		cr_assert_eq(hc_wait(c, DOB_MSG_RESOLUTION, &r, WAIT_MS), 0,
			     "the cancel policy did not resolve the episode:\n%s", hp_read(O.log));
		if (r.u.resolution.episode_id == m.u.job_error.episode_id)
			break;
		dob_msg_clear(&r);
	}
	cr_assert_eq(r.u.resolution.action, DOB_ACTION_CANCEL);
	cr_assert_eq(r.u.resolution.resolved_by, DOB_RESOLVED_POLICY);
	dob_msg_clear(&r);
	dob_msg_clear(&m);
	dobc_close(c);

	/* A second SIGHUP with the same file changes nothing. */
	kill(O.pid, SIGHUP);
	log = wait_log(O.log, "reload: settings from", 2);
	cr_assert(strstr(log, "nothing changed; needing a restart, kept: max-frame"), "%s", log);
	stop();
	cr_assert_neq(stat(O.sock, &sb), 0, "the socket is removed at a clean stop");
	log = hp_read(O.log);
	cr_assert(strstr(log, "event 1001 stopped"), "%s", log);
}

Test(ops, a_bad_config_file_on_sighup_keeps_the_running_settings)
{
	const char *args[] = { "--config", O.conf, "--endpoint", O.sock, NULL };
	struct dobc *c;
	const char *log;
	int64_t rtt;

	write_file(O.conf, "state-dir = state\npolicy = resume\n");
	start(args);
	write_file(O.conf, "state-dir = state\npolicy = sometimes\n");
	kill(O.pid, SIGHUP);
	/* The operator event is logged after the warning: wait for it (waiting
	 * for the warning and then looking for the event raced the broker). */
	log = wait_log(O.log, "event 1005 reload-failed", 1);
	cr_assert(strstr(log, "the running settings are kept"), "%s", log);
	cr_assert(strstr(log, "'sometimes' is not one of"), "the reason is given:\n%s", log);
	c = hc_connect(O.sock, "still-there", DOB_ROLE_OBSERVER, NULL);
	cr_assert_eq(dobc_ping(c, &rtt, WAIT_MS), 0);
	dobc_close(c);
	/* Fixed, it applies. */
	write_file(O.conf, "state-dir = state\npolicy = complete\n");
	kill(O.pid, SIGHUP);
	log = wait_log(O.log, "reload: settings from", 1);
	cr_assert(strstr(log, "changed policy=complete"), "%s", log);
	stop();
}

Test(ops, sighup_moves_the_log_into_the_file_the_config_now_names)
{
	const char *args[] = { "--config", O.conf, "--endpoint", O.sock, NULL };
	char file[300];
	const char *log;
	struct dobc *c;

	snprintf(file, sizeof file, "%s/logs.txt", O.dir);
	write_file(O.conf, "state-dir = state\n");
	start(args);
	/* Relative, so against the file's folder. */
	write_file(O.conf, "state-dir = state\nlog-file = logs.txt\nlog-max-size = 100000\n");
	kill(O.pid, SIGHUP);
	log = wait_log(file, "reload: settings from", 1);
	cr_assert(strstr(log, "log-file="), "%s", log);
	c = hc_connect(O.sock, "to-the-file", DOB_ROLE_OBSERVER, NULL);
	dobc_close(c);
	stop();
	log = hp_read(O.log);
	cr_assert_eq(hp_count(log, "reload: settings from"), 0, "not on stderr:\n%s", log);
	cr_assert(strstr(log, "event 1000 started"), "the lines before the reload stay there:\n%s",
		  log);
	log = hp_read(file);
	cr_assert(strstr(log, "event 1001 stopped"), "the lines after go to the file:\n%s", log);
}

/* The numbers n of "hello from 'rot-NNNN'" in one log file, in order;
 * asserts that every line is whole. */
static int hello_numbers(const char *path, int *out, int max, size_t max_size)
{
	const char *t = hp_read(path), *p;
	int n = 0;

	cr_assert(t, "%s missing", path);
	cr_assert_leq(strlen(t), max_size, "%s is %zu bytes, past the limit", path, strlen(t));
	cr_assert(strlen(t) > 0 && t[strlen(t) - 1] == '\n', "%s ends inside a line", path);
	for (p = t; *p;) {
		const char *eol = strchr(p, '\n'), *h;

		cr_assert(eol);
		/* A whole line starts with the timestamp and the ident. */
		cr_assert(p[0] == '2' && p[4] == '-' && p[10] == 'T', "split line in %s: %.60s",
			  path, p);
		cr_assert(strstr(p, " dobrokerd[") && strstr(p, " dobrokerd[") < eol,
			  "split line in %s: %.60s", path, p);
		h = strstr(p, "hello from 'rot-");
		if (h && h < eol) {
			cr_assert_lt(n, max);
			out[n++] = atoi(h + strlen("hello from 'rot-"));
		}
		p = eol + 1;
	}
	return n;
}

Test(ops, the_log_file_rotates_by_size_keeps_a_bounded_count_and_never_splits_a_line)
{
	enum { CLIENTS = 150, MAX_SIZE = 2048, FILES = 3 };
	char file[300], path[320], size[16], files[16];
	/* debug: the per-connection "hello from" lines are written at any
	 * level that shows them. */
	const char *args[] = { "--endpoint", O.sock, "--state-dir", O.dir, "--log-file", file,
			       "--log-max-size", size, "--log-max-files", files,
			       "--log-level=debug", NULL };
	static int seen[CLIENTS * 2];
	int n = 0;
	struct stat sb;

	snprintf(file, sizeof file, "%s/dobrokerd.log", O.dir);
	snprintf(size, sizeof size, "%d", MAX_SIZE);
	snprintf(files, sizeof files, "%d", FILES);
	start(args);
	for (int i = 0; i < CLIENTS; i++) {
		char name[16];
		struct dobc *c;

		snprintf(name, sizeof name, "rot-%04d", i);
		c = hc_connect(O.sock, name, DOB_ROLE_OBSERVER, NULL);
		dobc_close(c);
	}
	wait_log(file, "hello from 'rot-0149'", 1);
	stop();
	cr_assert_eq(hp_count(hp_read(O.log), "hello from"), 0,
		     "nothing went to stderr:\n%s", hp_read(O.log));
	/* Oldest first: FILE.3, FILE.2, FILE.1, FILE. */
	for (int k = FILES; k >= 0; k--) {
		if (k)
			snprintf(path, sizeof path, "%s.%d", file, k);
		else
			snprintf(path, sizeof path, "%s", file);
		cr_assert_eq(stat(path, &sb), 0, "%s missing: no rotation?", path);
		n += hello_numbers(path, seen + n, CLIENTS * 2 - n, MAX_SIZE);
	}
	snprintf(path, sizeof path, "%s.%d", file, FILES + 1);
	cr_assert_neq(stat(path, &sb), 0, "%s: more than %d old files kept", path, FILES);
	/* What is kept is the newest lines, each once, none missing between
	 * the first kept and the last written. */
	cr_assert_gt(n, 0);
	cr_assert_gt(seen[0], 0, "the oldest lines were rotated away");
	for (int i = 1; i < n; i++)
		cr_assert_eq(seen[i], seen[i - 1] + 1, "hello %d follows %d: a line lost or repeated",
			     seen[i], seen[i - 1]);
	cr_assert_eq(seen[n - 1], CLIENTS - 1);
}

/* Runs dobrokerd with argv (argv[0] is filled in), stdout and stderr to
 * out; returns hp_wait's answer (the exit status, -1 on a hang). */
static int run_capture(const char *out, char **argv)
{
	pid_t parent = getpid(), pid;

	argv[0] = (char *)hp_bin("dobrokerd");
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return hp_wait(pid, WAIT_MS);
}

Test(ops, help_and_h_list_the_commands_and_every_option)
{
	char out[300], out2[300];
	char *h[] = { "dobrokerd", "--help", NULL };
	char *hh[] = { "dobrokerd", "-h", NULL };
	char *inst[] = { "dobrokerd", "install", NULL };
	const char *t;
	static char first[32768];
	int st;

	snprintf(out, sizeof out, "%s/help.txt", O.dir);
	snprintf(out2, sizeof out2, "%s/h.txt", O.dir);
	st = run_capture(out, h);
	cr_assert_eq(st, 0, "--help: status %d", st);
	t = hp_read(out);
	snprintf(first, sizeof first, "%s", t);
	for (const char *const *k = (const char *const[]){ "install [OPTIONS]", "uninstall",
							   "--log-file", "--log-max-size",
							   "--log-max-files", "--eventlog",
							   "SIGHUP", "[restart]", NULL };
	     *k; k++)
		cr_assert(strstr(first, *k), "--help lacks %s:\n%s", *k, first);
	st = run_capture(out2, hh);
	cr_assert_eq(st, 0, "-h: status %d", st);
	cr_assert_str_eq(hp_read(out2), first, "-h prints the same text");
	st = run_capture(out2, inst);
	cr_assert_eq(st, 2, "install is refused as a usage error: status %d", st);
	cr_assert(strstr(hp_read(out2), "Windows command"), "%s", hp_read(out2));
}

Test(ops, eventlog_off_silences_the_operator_event_lines)
{
	const char *on[] = { "--endpoint", O.sock, "--state-dir", O.dir, NULL };
	const char *off[] = { "--endpoint", O.sock, "--state-dir", O.dir, "--eventlog=off",
			      NULL };

	start(on);
	stop();
	cr_assert_eq(hp_count(hp_read(O.log), "event 1000 started"), 1, "%s", hp_read(O.log));
	cr_assert_eq(hp_count(hp_read(O.log), "event 1001 stopped"), 1, "%s", hp_read(O.log));
	start(off);
	stop();
	cr_assert_eq(hp_count(hp_read(O.log), "event 1000 started"), 1, "none more:\n%s",
		     hp_read(O.log));
}

Test(ops, eventlog_episodes_reports_each_episode_and_its_resolution)
{
	const char *args[] = { "--endpoint", O.sock, "--state-dir", O.dir, "--backend=sim",
			       "--scenario", O.conf, "--eventlog=episodes", NULL };
	struct dob_action_result r = { 0 };
	struct dob_msg m;
	struct dobc *c;
	char gs[DOB_GUID_STR_LEN], want[128];
	const char *log;

	write_file(O.conf, SCENARIO); /* the scenario, in the config's place */
	start(args);
	c = hc_connect(O.sock, "ops-ctl", DOB_ROLE_CONTROLLER, NULL);
	m = failing_job(c, "evented");
	dob_guid_format(&m.u.job_error.job.job_id, gs);
	cr_assert_eq(dobc_act(c, &m.u.job_error.job.job_id, m.u.job_error.episode_id,
			      DOB_ACTION_CANCEL, 0, &r, WAIT_MS),
		     0);
	dobc_action_result_clear(&r);
	snprintf(want, sizeof want, "event 2000 episode-opened job=%s episode=%llu hr=0x80190194",
		 gs, (unsigned long long)m.u.job_error.episode_id);
	log = wait_log(O.log, want, 1);
	snprintf(want, sizeof want, "event 2001 episode-resolved job=%s episode=%llu", gs,
		 (unsigned long long)m.u.job_error.episode_id);
	log = wait_log(O.log, want, 1);
	cr_assert(strstr(log, "action=\"cancel\" actor=\"ops-ctl\""), "%s", log);
	dob_msg_clear(&m);
	dobc_close(c);
	stop();
}
