/*
 * tests/unit/test_config.c - settings from defaults, config files and
 * flags; errors name the key, the value and the line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

static struct program_config p;
static char err[512];

static void setup(void)
{
	config_prog_defaults(&p);
	err[0] = '\0';
}

static void teardown(void)
{
	config_prog_clear(&p);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 10);

static int parse(const char *text)
{
	return config_parse_text(&p, text, strlen(text), "dob.conf", err, sizeof(err));
}

Test(config, defaults_are_the_documented_ones)
{
	cr_assert_eq(p.broker.sweep_interval_ms, 5000);
	cr_assert_eq(p.broker.action_timeout_ms, 30000);
	cr_assert_eq(p.broker.handshake_timeout_ms, 5000);
	cr_assert_eq(p.broker.max_frame, 65536);
	cr_assert_eq(p.broker.queue_soft_limit, 1024);
	cr_assert_eq(p.broker.queue_hard_limit, 8192);
	cr_assert_eq(p.broker.max_inflight_requests, 64);
	cr_assert_eq(p.broker.max_jobs_per_identity, 256);
	cr_assert_eq(p.broker.max_conns_per_identity, 64);
	cr_assert_eq(p.broker.rate_limit, 2000);
	cr_assert_eq(p.broker.rate_burst, 4000);
	cr_assert_eq(p.broker.default_policy.kind, DOB_POLICY_NONE);
	cr_assert_eq(config_check(&p.broker, err, sizeof(err)), 0);
}

Test(config, a_file_sets_keys_with_comments_blanks_and_spaces)
{
	cr_assert_eq(parse("# broker settings\n"
			   "\n"
			   "endpoint = /run/dob.sock\n"
			   "  policy=resume  \n"
			   "policy-max-resumes = 5\r\n"
			   "policy-exhausted = cancel\n"
			   "journal-sync = yes\n"
			   "log-level = debug\n"
			   "test-listener = /tmp/x=uid:5\n"
			   "test-listener = /tmp/y=sandboxed:1"),
		     0, "%s", err);
	cr_assert_str_eq(p.broker.endpoint, "/run/dob.sock");
	cr_assert_eq(p.broker.default_policy.kind, DOB_POLICY_RESUME);
	cr_assert_eq(p.broker.default_policy.max_resumes, 5);
	cr_assert_eq(p.broker.default_policy.exhausted, DOB_POLICY_CANCEL);
	cr_assert(p.broker.journal_sync);
	cr_assert_eq(p.broker.log_level, DOB_LOG_DEBUG);
	cr_assert_eq(p.broker.n_test_listeners, 2);
	cr_assert_str_eq(p.broker.test_listeners[1], "/tmp/y=sandboxed:1");
}

Test(config, an_unknown_key_is_named_with_its_line)
{
	cr_assert_eq(parse("sweep-interval-ms = 100\nsweep-intervl = 5\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "dob.conf:2"), "%s", err);
	cr_assert(strstr(err, "sweep-intervl"), "%s", err);
}

Test(config, a_bad_number_names_the_key_the_value_and_the_range)
{
	cr_assert_eq(parse("max-frame = 12x\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "dob.conf:1"), "%s", err);
	cr_assert(strstr(err, "max-frame"), "%s", err);
	cr_assert(strstr(err, "'12x'"), "%s", err);
	cr_assert_eq(parse("max-frame = 100\n"), -DOB_EINVAL, "below the 1024 floor");
	cr_assert_eq(parse("max-frame = 99999999999\n"), -DOB_EINVAL);
	cr_assert_eq(parse("queue-soft-limit = -1\n"), -DOB_EINVAL);
}

Test(config, a_line_without_equals_is_refused)
{
	cr_assert_eq(parse("\n\nendpoint /run/x\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "dob.conf:3"), "%s", err);
	cr_assert(strstr(err, "key = value"), "%s", err);
}

Test(config, enumerations_list_their_choices)
{
	cr_assert_eq(parse("policy = sometimes\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "none, resume, cancel, complete"), "%s", err);
	cr_assert_eq(parse("policy-exhausted = resume\n"), -DOB_EINVAL);
	cr_assert_eq(parse("log-level = loud\n"), -DOB_EINVAL);
	cr_assert_eq(parse("backend = com\n"), -DOB_EINVAL);
	cr_assert_eq(parse("journal-sync = maybe\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "journal-sync"), "%s", err);
}

Test(config, flags_win_over_the_config_file)
{
	const char *tmp = getenv("TMPDIR");
	char path[256];
	enum config_action act;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/dob-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs("sweep-interval-ms = 100\nmax-conns = 3\n", f);
	fclose(f);
	{
		char *argv[] = { "dobrokerd", "--sweep-interval-ms=250", "--config", path,
				 "--journal-sync", "--endpoint", "/run/e", NULL };
		cr_assert_eq(config_parse_args(&p, 7, argv, &act, err, sizeof(err)), 0, "%s", err);
	}
	unlink(path);
	cr_assert_eq(act, CONFIG_RUN);
	cr_assert_eq(p.broker.sweep_interval_ms, 250, "the flag wins, wherever it stands");
	cr_assert_eq(p.broker.max_conns_per_identity, 3, "the file's value where no flag says");
	cr_assert(p.broker.journal_sync, "a bare boolean flag is true");
	cr_assert_str_eq(p.broker.endpoint, "/run/e");
}

Test(config, help_and_version_flags_ask_for_them)
{
	enum config_action act;
	char *h[] = { "dobrokerd", "--log-level=info", "--help", NULL };
	char *v[] = { "dobrokerd", "--version", NULL };

	cr_assert_eq(config_parse_args(&p, 3, h, &act, err, sizeof(err)), 0);
	cr_assert_eq(act, CONFIG_HELP);
	cr_assert_eq(config_parse_args(&p, 2, v, &act, err, sizeof(err)), 0);
	cr_assert_eq(act, CONFIG_VERSION);
}

Test(config, bad_command_lines_are_refused_with_the_reason)
{
	enum config_action act;
	char *a[] = { "dobrokerd", "--max-jobs", NULL };
	char *b[] = { "dobrokerd", "stray", NULL };
	char *d[] = { "dobrokerd", "--config", "/nonexistent/dob.conf", NULL };
	char *e[] = { "dobrokerd", "--queue-soft-limit=10", "--queue-hard-limit=10", NULL };
	char *u[] = { "dobrokerd", "--bogus", NULL };
	char *u2[] = { "dobrokerd", "--bogus=1", NULL };

	cr_assert_eq(config_parse_args(&p, 2, a, &act, err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "'--max-jobs' needs a value"), "%s", err);
	cr_assert_eq(config_parse_args(&p, 2, b, &act, err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "stray"), "%s", err);
	cr_assert_lt(config_parse_args(&p, 3, d, &act, err, sizeof(err)), 0);
	cr_assert(strstr(err, "/nonexistent/dob.conf"), "%s", err);
	cr_assert_eq(config_parse_args(&p, 3, e, &act, err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "queue-soft-limit"), "%s", err);
	cr_assert_eq(config_parse_args(&p, 2, u, &act, err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "unknown option '--bogus'"), "%s", err);
	cr_assert_eq(config_parse_args(&p, 2, u2, &act, err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "unknown option 'bogus'"), "%s", err);
}

Test(config, help_lists_every_option_with_its_default)
{
	char buf[32768];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	static const char *const keys[] = {
		"--endpoint", "--state-dir", "--backend", "--scenario", "--policy", "--deadline-ms",
		"--sweep-interval-ms", "--action-timeout-ms", "--handshake-timeout-ms",
		"--max-frame", "--queue-soft-limit", "--queue-hard-limit", "--max-inflight",
		"--max-jobs", "--max-conns", "--rate-limit", "--rate-burst", "--journal-sync",
		"--log-level", "--allow-sandboxed", "--test-listener", "--config", "--version",
		"--log-file", "--log-max-size", "--log-max-files", "--eventlog", "install",
		"uninstall", "-h", "SIGHUP", "[restart]",
	};

	config_print_help(f, "dobrokerd");
	fclose(f);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert(strstr(buf, keys[i]), "--help lacks %s", keys[i]);
	cr_assert(strstr(buf, "(default: 5000)"), "defaults shown");
	cr_assert(strstr(buf, "(default: 65536)"));
}

Test(config, copy_is_deep)
{
	struct broker_config d;

	cr_assert_eq(parse("endpoint = /a\ntest-listener = /b=uid:1\n"), 0);
	cr_assert_eq(config_copy(&d, &p.broker), 0);
	cr_assert_neq(d.endpoint, p.broker.endpoint);
	cr_assert_str_eq(d.endpoint, "/a");
	cr_assert_str_eq(d.test_listeners[0], "/b=uid:1");
	config_clear(&d);
}

static int parse_as(const char *name, const char *text)
{
	return config_parse_text(&p, text, strlen(text), name, err, sizeof(err));
}

Test(config, relative_paths_in_a_file_resolve_against_its_folder)
{
	cr_assert_eq(parse_as("/etc/dob/broker.conf", "state-dir = state\n"
						      "scenario = ./sc/fail.txt\n"
						      "log-file = logs/dobrokerd.log\n"
						      "endpoint = ./dob.sock\n"),
		     0, "%s", err);
	cr_assert_str_eq(p.broker.state_dir, "/etc/dob/state");
	cr_assert_str_eq(p.broker.scenario, "/etc/dob/sc/fail.txt");
	cr_assert_str_eq(p.log_file, "/etc/dob/logs/dobrokerd.log");
	cr_assert_str_eq(p.broker.endpoint, "/etc/dob/dob.sock");
}

Test(config, absolute_paths_and_pipe_names_in_a_file_stay_as_they_are)
{
	cr_assert_eq(parse_as("/etc/dob/broker.conf", "state-dir = /var/lib/dob\n"
						      "scenario = C:\\dob\\sc.txt\n"
						      "log-file = \\\\server\\share\\x.log\n"
						      "endpoint = dobroker\n"),
		     0, "%s", err);
	cr_assert_str_eq(p.broker.state_dir, "/var/lib/dob");
	cr_assert_str_eq(p.broker.scenario, "C:\\dob\\sc.txt");
	cr_assert_str_eq(p.log_file, "\\\\server\\share\\x.log");
	cr_assert_str_eq(p.broker.endpoint, "dobroker", "a bare name is a pipe name");
	config_prog_clear(&p);
	config_prog_defaults(&p);
	cr_assert_eq(parse_as("C:\\ProgramData\\dob\\b.conf", "state-dir = state\n"
							      "endpoint = \\\\.\\pipe\\dob\n"),
		     0, "%s", err);
	cr_assert_str_eq(p.broker.state_dir, "C:\\ProgramData\\dob\\state",
			 "a Windows folder with backslashes");
	cr_assert_str_eq(p.broker.endpoint, "\\\\.\\pipe\\dob");
}

Test(config, relative_flags_stay_relative_to_the_working_directory)
{
	enum config_action act;
	char *argv[] = { "dobrokerd", "--state-dir", "st", "--log-file=x.log", NULL };

	cr_assert_eq(config_parse_args(&p, 4, argv, &act, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(p.broker.state_dir, "st");
	cr_assert_str_eq(p.log_file, "x.log");
}

Test(config, config_resolve_joins_folder_and_name)
{
	char *r = config_resolve("conf/b.conf", "state");

	cr_assert_str_eq(r, "conf/state");
	dob_free(r);
	r = config_resolve("b.conf", "state");
	cr_assert_str_eq(r, "state", "a file in the working directory: no folder to add");
	dob_free(r);
}

Test(config, dash_h_asks_for_help_and_install_is_a_windows_command)
{
	enum config_action act = CONFIG_RUN;
	char *h[] = { "dobrokerd", "-h", NULL };
	char *i[] = { "dobrokerd", "install", "--policy=cancel", NULL };

	cr_assert_eq(config_parse_args(&p, 2, h, &act, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(act, CONFIG_HELP);
	cr_assert_eq(config_parse_args(&p, 3, i, &act, err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "Windows command"), "%s", err);
}

Test(config, log_and_event_options_parse_and_name_bad_values)
{
	cr_assert_eq(p.log_max_size, 10u * 1024 * 1024, "documented default");
	cr_assert_eq(p.log_max_files, 5);
	cr_assert_eq(p.eventlog, DOB_EVENTS_SERVICE);
	cr_assert_eq(parse("log-max-size = 4096\nlog-max-files = 2\neventlog = episodes\n"), 0,
		     "%s", err);
	cr_assert_eq(p.log_max_size, 4096);
	cr_assert_eq(p.log_max_files, 2);
	cr_assert_eq(p.eventlog, DOB_EVENTS_EPISODES);
	cr_assert_eq(parse("eventlog = loud\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "off, service, episodes"), "%s", err);
	cr_assert_eq(parse("log-max-files = 1001\n"), -DOB_EINVAL);
	cr_assert(strstr(err, "log-max-files"), "%s", err);
}

Test(config, config_set_refuses_program_options)
{
	cr_assert_eq(config_set(&p.broker, "log-file", "/x", err, sizeof(err)), -DOB_EINVAL);
	cr_assert(strstr(err, "dobrokerd option"), "%s", err);
}

Test(config, merge_copies_what_may_change_and_names_what_needs_a_restart)
{
	struct program_config next;
	struct broker_config run;
	char changed[512], restart[256];
	const char *text = "endpoint = /b.sock\npolicy = cancel\ndeadline-ms = 100\n"
			   "max-frame = 2048\nlog-level = debug\nlog-file = /l.log\n";

	cr_assert_eq(parse("endpoint = /a.sock\npolicy = none\n"), 0, "%s", err);
	cr_assert_eq(config_copy(&run, &p.broker), 0);
	config_prog_defaults(&next);
	cr_assert_eq(config_parse_text(&next, text, strlen(text), "n.conf", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(config_merge(&run, &p, &next, changed, sizeof(changed), restart,
				  sizeof(restart)),
		     0);
	cr_assert_eq(run.default_policy.kind, DOB_POLICY_CANCEL);
	cr_assert_eq(run.default_deadline_ms, 100);
	cr_assert_eq(run.log_level, DOB_LOG_DEBUG);
	cr_assert_str_eq(p.log_file, "/l.log");
	cr_assert_str_eq(run.endpoint, "/a.sock", "restart-only: the running value stays");
	cr_assert_eq(run.max_frame, 65536);
	cr_assert(strstr(changed, "policy=cancel"), "%s", changed);
	cr_assert(strstr(changed, "deadline-ms=100"), "%s", changed);
	cr_assert(strstr(changed, "log-file=/l.log"), "%s", changed);
	cr_assert(strstr(restart, "endpoint"), "%s", restart);
	cr_assert(strstr(restart, "max-frame"), "%s", restart);
	cr_assert_null(strstr(restart, "policy"), "%s", restart);
	cr_assert(config_needs_restart("state-dir"));
	cr_assert_not(config_needs_restart("rate-limit"));
	/* Merged again: what was copied no longer differs, what needs a
	 * restart still does. */
	cr_assert_eq(config_merge(&run, &p, &next, changed, sizeof(changed), restart,
				  sizeof(restart)),
		     0);
	cr_assert_str_eq(restart, "endpoint, max-frame", "still differ, still kept");
	cr_assert_str_eq(changed, "");
	config_prog_clear(&next);
	config_clear(&run);
}
