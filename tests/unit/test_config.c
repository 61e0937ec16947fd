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
	char buf[16384];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	static const char *const keys[] = {
		"--endpoint", "--state-dir", "--backend", "--scenario", "--policy", "--deadline-ms",
		"--sweep-interval-ms", "--action-timeout-ms", "--handshake-timeout-ms",
		"--max-frame", "--queue-soft-limit", "--queue-hard-limit", "--max-inflight",
		"--max-jobs", "--max-conns", "--rate-limit", "--rate-burst", "--journal-sync",
		"--log-level", "--allow-sandboxed", "--test-listener", "--config", "--version",
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
