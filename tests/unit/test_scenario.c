/*
 * tests/unit/test_scenario.c - broker/backend/scenario.c: the examples of
 * docs/sim-scenarios.md parse, every syntax error has its message, defaults,
 * quoting, units, globs, and allocation failures.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "fake_files.h"
#include "scenario.h"

#define G1 "{6B29FC40-CA47-1067-B31D-00DD010662DA}"
#define G2 "{0F8FAD5B-D9CB-469F-A165-70867728950E}"

static struct scenario *parse_ok(const char *text)
{
	struct scenario *s = NULL;
	char err[512];
	int rc = scenario_parse(text, strlen(text), "t.txt", &s, err, sizeof(err));

	cr_assert_eq(rc, 0, "parse failed: %s\n--- input:\n%s", err, text);
	cr_assert_not_null(s);
	return s;
}

static void expect_error(const char *text, const char *want)
{
	struct scenario *s = (struct scenario *)1;
	char err[512];
	int rc = scenario_parse(text, strlen(text), "s.txt", &s, err, sizeof(err));

	cr_expect_eq(rc, -DOB_EINVAL, "accepted: %s", text);
	cr_expect_null(s);
	cr_expect_str_eq(err, want, "input: %s", text);
}

/* ------------------------------------------------------------ docs */

/* The fenced blocks of kind `kind` in docs/sim-scenarios.md. */
static size_t doc_blocks(const char *kind, char **out, size_t max)
{
	static const char *const where[] = {
		"docs/sim-scenarios.md", "../docs/sim-scenarios.md", "../../docs/sim-scenarios.md",
	};
	char open_fence[32];
	char line[4096];
	char *cur = NULL;
	size_t n = 0, len = 0;
	FILE *f = NULL;

	/* Relative to the source file first (make runs from the top). */
	{
		char path[512];
		const char *slash = strrchr(__FILE__, '/');

		snprintf(path, sizeof(path), "%.*s/../../docs/sim-scenarios.md",
			 (int)(slash ? slash - __FILE__ : 1), slash ? __FILE__ : ".");
		f = fopen(path, "r");
	}
	for (size_t i = 0; !f && i < sizeof(where) / sizeof(where[0]); i++)
		f = fopen(where[i], "r");
	cr_assert_not_null(f, "docs/sim-scenarios.md not found (run from the top of the tree)");
	snprintf(open_fence, sizeof(open_fence), "```%s\n", kind);
	while (fgets(line, sizeof(line), f)) {
		if (!cur && !strcmp(line, open_fence)) {
			cur = calloc(1, 65536);
			len = 0;
		} else if (cur && !strcmp(line, "```\n")) {
			cr_assert_lt(n, max);
			out[n++] = cur;
			cur = NULL;
		} else if (cur) {
			size_t l = strlen(line);

			cr_assert_lt(len + l, 65536);
			memcpy(cur + len, line, l);
			len += l;
		}
	}
	fclose(f);
	cr_assert_null(cur, "unterminated ```%s block", kind);
	return n;
}

Test(scenario, every_example_in_the_docs_parses)
{
	char *blocks[32];
	size_t n = doc_blocks("scenario", blocks, 32);

	cr_assert_geq(n, 5, "the docs have %zu examples", n);
	for (size_t i = 0; i < n; i++) {
		struct scenario *s = parse_ok(blocks[i]);

		scenario_free(s);
		free(blocks[i]);
	}
}

Test(scenario, docs_examples_mean_what_they_say)
{
	char *blocks[32];
	size_t n = doc_blocks("scenario", blocks, 32);
	struct scenario *s;
	const char *urls[1];

	cr_assert_geq(n, 6);
	/* 1: 404 twice then success */
	s = parse_ok(blocks[0]);
	cr_expect_eq(s->n_rules, 1);
	cr_expect_str_eq(s->rules[0].glob, "https://cdn.example.com/*");
	cr_expect_eq(s->rules[0].o.kind, SCN_ERROR);
	cr_expect_eq(s->rules[0].o.err.hresult, 0x80190194u);
	cr_expect_eq(s->rules[0].o.times, 2);
	cr_expect_eq(s->rules[0].o.after_ms, 300);
	cr_expect(s->repeat);
	cr_expect_eq(s->repeat_min_ms, 2000);
	cr_expect_eq(s->repeat_max_ms, 6000);
	scenario_free(s);
	/* 2: 403, transient then ok / then error, default */
	s = parse_ok(blocks[1]);
	cr_expect_eq(s->seed, 42);
	cr_expect_eq(s->n_rules, 3);
	cr_expect_eq(s->rules[1].o.kind, SCN_TRANSIENT);
	cr_expect_eq(s->rules[1].o.for_ms, 5000);
	cr_expect_not(s->rules[1].o.then_error);
	cr_expect(s->rules[2].o.then_error);
	cr_expect_eq(s->dflt.size, 4u * 1024 * 1024);
	cr_expect_eq(s->dflt.after_ms, 500);
	urls[0] = "https://x.example/forbidden/a";
	cr_expect_eq(scenario_outcome_for(s, urls, 1), &s->rules[0].o);
	urls[0] = "https://x.example/other";
	cr_expect_eq(scenario_outcome_for(s, urls, 1), &s->dflt);
	scenario_free(s);
	/* 3: pre-existing jobs */
	s = parse_ok(blocks[2]);
	cr_assert_eq(s->n_jobs, 2);
	cr_expect_str_eq(s->jobs[0].name, "Nightly build");
	cr_expect_str_eq(s->jobs[0].owner, "uid:1000");
	cr_expect_eq(s->jobs[0].state, DOB_STATE_ERROR);
	cr_expect(s->jobs[0].has_error);
	cr_expect_str_eq(s->jobs[0].err.description, "Not Found");
	cr_expect_eq(s->jobs[0].files[0].size, 10u * 1024 * 1024);
	cr_expect_eq(s->jobs[0].files[0].done, 3u * 1024 * 1024);
	cr_expect_eq(s->jobs[1].type, DOB_JOB_UPLOAD);
	cr_expect_eq(s->jobs[1].files[0].done, 20u * 1024, "a transferred job's files are done");
	scenario_free(s);
	/* 4: events and faults */
	s = parse_ok(blocks[3]);
	cr_assert_eq(s->n_events, 3);
	cr_expect_eq(s->events[0].at_ms, 2000);
	cr_expect_eq(s->events[0].job.who, SCN_WHO_INDEX);
	cr_expect_eq(s->events[0].job.index, 1);
	cr_expect_eq(s->events[0].err.hresult, 0x801901F7u);
	cr_expect_eq(s->events[1].state, DOB_STATE_QUEUED);
	cr_expect_eq(s->events[2].for_ms, 3000);
	cr_assert_eq(s->n_faults, 4);
	cr_expect_eq(s->faults[0].req, SCN_REQ_CANCEL);
	cr_expect_eq(s->faults[0].job.who, SCN_WHO_ANY);
	cr_expect_eq(s->faults[0].effect, SCN_FAULT_HANG);
	cr_expect_eq(s->faults[1].effect, SCN_FAULT_HRESULT);
	cr_expect_eq(s->faults[1].hresult, 0x80070005u);
	cr_expect_eq(s->faults[1].count, 1);
	cr_expect_eq(s->faults[2].effect, SCN_FAULT_DELAY);
	cr_expect_eq(s->faults[2].delay_ms, 1500);
	cr_expect_eq(s->faults[3].req, SCN_REQ_SUSPEND);
	cr_expect_eq(s->faults[3].effect, SCN_FAULT_EXIT);
	cr_expect_eq(s->faults[3].hresult, 0x80010108u);
	cr_expect_eq(s->faults[3].count, 1);
	scenario_free(s);
	/* 5: persist */
	s = parse_ok(blocks[4]);
	cr_expect_str_eq(s->persist, "/tmp/dobroker-sim-jobs.txt");
	scenario_free(s);
	/* 6: demo */
	s = parse_ok(blocks[5]);
	cr_expect_eq(s->writes, SCN_WRITES_SOURCE);
	cr_expect_not(s->modifications);
	scenario_free(s);
	for (size_t i = 0; i < n; i++)
		free(blocks[i]);
}

/* The error messages the docs show, with the line that makes each. */
Test(scenario, docs_error_examples_are_the_real_messages)
{
	static const struct {
		unsigned line;
		const char *stmt;
	} makers[] = {
		{ 12, "rule * explode" },
		{ 3, "rule * ok colour=red" },
		{ 7, "rule * error after=1s" },
		{ 9, "rule * ok after=\"5 minutes\"" },
	};
	char *blocks[4];
	size_t n = doc_blocks("errors", blocks, 4);
	size_t checked = 0;

	cr_assert_eq(n, 1);
	for (char *line = strtok(blocks[0], "\n"); line; line = strtok(NULL, "\n")) {
		unsigned ln;
		char *colon;

		cr_assert_eq(strncmp(line, "scenario.txt:", 13), 0, "%s", line);
		ln = (unsigned)strtoul(line + 13, &colon, 10);
		for (size_t i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
			struct scenario *s = NULL;
			char text[512] = "";
			char err[512];

			if (makers[i].line != ln)
				continue;
			for (unsigned k = 1; k < ln; k++)
				strcat(text, k % 2 ? "\n" : "# filler\n");
			strcat(text, makers[i].stmt);
			cr_expect_eq(scenario_parse(text, strlen(text), "scenario.txt", &s, err,
						    sizeof(err)), -DOB_EINVAL);
			cr_expect_str_eq(err, line);
			checked++;
		}
	}
	cr_expect_eq(checked, sizeof(makers) / sizeof(makers[0]));
	free(blocks[0]);
}

/* ------------------------------------------------------------ defaults */

Test(scenario, empty_text_is_the_default_scenario)
{
	struct scenario *s = parse_ok("");

	cr_expect_eq(s->seed, 1);
	cr_expect(s->repeat);
	cr_expect_eq(s->repeat_min_ms, 5000);
	cr_expect_eq(s->repeat_max_ms, 15000);
	cr_expect(s->modifications);
	cr_expect_eq(s->writes, SCN_WRITES_SOURCE);
	cr_expect_eq(s->dflt.kind, SCN_OK);
	cr_expect_eq(s->dflt.after_ms, 200);
	cr_expect_eq(s->dflt.size, 1024 * 1024);
	cr_expect_eq(s->n_rules + s->n_jobs + s->n_events + s->n_faults, 0);
	cr_expect_str_eq(s->name, "t.txt");
	scenario_free(s);
	scenario_free(NULL);
}

Test(scenario, comments_blank_lines_crlf_and_quotes)
{
	struct scenario *s = parse_ok(
		"# a comment\r\n"
		"\r\n"
		"   \t  \n"
		"job " G1 " name=\"say \\\"hi\\\"\\tnow\" # trailing comment\r\n"
		"rule \"https://a b/*\" ok after=1s # why not\n"
		"at 1s #2 cancelled\n"
		"rule https://x/?a=b&c=d ok\n");

	cr_expect_str_eq(s->jobs[0].name, "say \"hi\"\tnow");
	cr_expect_str_eq(s->rules[0].glob, "https://a b/*");
	cr_expect_eq(s->rules[0].o.after_ms, 1000);
	cr_expect_eq(s->events[0].job.index, 2, "#2 is a word, not a comment");
	cr_expect_str_eq(s->rules[1].glob, "https://x/?a=b&c=d", "= inside a positional word");
	scenario_free(s);
}

Test(scenario, persist_file_and_attempts)
{
	struct scenario *s = parse_ok("persist \"/var/tmp/sim jobs.txt\"\n"
				      "job " G1 " attempts=3 name=\"a\\r\\nb\"\n");

	cr_expect_str_eq(s->persist, "/var/tmp/sim jobs.txt");
	cr_expect_eq(s->jobs[0].attempts, 3);
	cr_expect_str_eq(s->jobs[0].name, "a\r\nb");
	scenario_free(s);
	s = parse_ok("");
	cr_expect_null(s->persist);
	scenario_free(s);
}

Test(scenario, words_of_the_grammar)
{
	cr_expect_str_eq(scenario_state_word(DOB_STATE_TRANSIENT_ERROR), "transient");
	cr_expect_str_eq(scenario_state_word(99), "?");
	cr_expect_str_eq(scenario_context_word(DOB_CONTEXT_REMOTE_FILE), "remote-file");
	cr_expect_str_eq(scenario_context_word(-1), "?");
	cr_expect_str_eq(scenario_type_word(DOB_JOB_UPLOAD_REPLY), "upload-reply");
}

Test(scenario, units_of_durations_and_sizes)
{
	struct scenario *s = parse_ok(
		"rule a ok after=250 size=17\n"
		"rule b ok after=250ms size=2K\n"
		"rule c ok after=3s size=5M\n"
		"rule d ok after=2m size=1G\n"
		"rule e ok after=1h\n"
		"repeat 1..1\n");

	cr_expect_eq(s->rules[0].o.after_ms, 250);
	cr_expect_eq(s->rules[0].o.size, 17);
	cr_expect_eq(s->rules[1].o.size, 2048);
	cr_expect_eq(s->rules[2].o.after_ms, 3000);
	cr_expect_eq(s->rules[2].o.size, 5u * 1024 * 1024);
	cr_expect_eq(s->rules[3].o.after_ms, 120000);
	cr_expect_eq(s->rules[3].o.size, 1024u * 1024 * 1024);
	cr_expect_eq(s->rules[4].o.after_ms, 3600000);
	cr_expect_eq(s->repeat_min_ms, 1);
	scenario_free(s);
	s = parse_ok("repeat off\nmodifications off\ncomplete writes=url\nseed 0xFF\n");
	cr_expect_not(s->repeat);
	cr_expect_not(s->modifications);
	cr_expect_eq(s->writes, SCN_WRITES_URL);
	cr_expect_eq(s->seed, 255);
	scenario_free(s);
}

Test(scenario, error_attributes_and_contexts)
{
	struct scenario *s = parse_ok(
		"rule a error http=403\n"
		"rule b error hresult=0x80D02002 context=general-transport description=\"slow\" "
		"context-description=\"net\" protocol=ftp bytes=10K times=3\n"
		"rule c error hresult=2149122452\n");

	cr_expect_eq(s->rules[0].o.err.hresult, DOB_HTTP_E(403));
	cr_expect_eq(s->rules[0].o.err.context, -1, "DO's rule decides the context");
	cr_expect_null(s->rules[0].o.err.description);
	cr_expect_eq(s->rules[1].o.err.context, DOB_CONTEXT_GENERAL_TRANSPORT);
	cr_expect_str_eq(s->rules[1].o.err.description, "slow");
	cr_expect_str_eq(s->rules[1].o.err.context_description, "net");
	cr_expect_str_eq(s->rules[1].o.err.protocol, "ftp");
	cr_expect(s->rules[1].o.has_bytes);
	cr_expect_eq(s->rules[1].o.bytes, 10240);
	cr_expect_eq(s->rules[1].o.times, 3);
	cr_expect_eq(s->rules[2].o.err.hresult, 0x80190194u, "decimal hresult");
	scenario_free(s);
}

Test(scenario, jobs_files_and_targets)
{
	struct scenario *s = parse_ok(
		"job " G1 " state=acknowledged\n"
		"job " G2 " type=upload-reply state=transient hresult=0x80200010 owner=S-1-5-21-9\n"
		"file " G2 " https://h/u /tmp/u size=100 done=40\n"
		"file " G2 " https://h/v /tmp/v\n"
		"at 1m " G1 " suspended\n"
		"fault any " G2 " delay=2s count=4\n"
		"fault act #7 http=500\n");

	cr_expect_eq(s->jobs[0].state, DOB_STATE_ACKNOWLEDGED);
	cr_expect_eq(s->jobs[0].n_files, 0, "final jobs may have no file");
	cr_expect_str_eq(s->jobs[0].name, "sim job");
	cr_expect_str_eq(s->jobs[0].owner, "");
	cr_expect_eq(s->jobs[1].type, DOB_JOB_UPLOAD_REPLY);
	cr_expect(s->jobs[1].has_error);
	cr_expect_eq(s->jobs[1].n_files, 2);
	cr_expect_eq(s->jobs[1].files[0].done, 40);
	cr_expect_eq(s->jobs[1].files[1].size, 1024 * 1024);
	cr_expect_eq(s->jobs[1].files[1].done, 0);
	cr_expect_eq(s->events[0].job.who, SCN_WHO_ID);
	cr_expect_eq(s->events[0].at_ms, 60000);
	cr_expect_eq(s->faults[0].req, SCN_REQ_ANY);
	cr_expect_eq(s->faults[0].count, 4);
	cr_expect_eq(s->faults[1].req, SCN_REQ_ACT);
	cr_expect_eq(s->faults[1].job.index, 7);
	cr_expect_eq(s->faults[1].hresult, DOB_HTTP_E(500));
	scenario_free(s);
}

/* ------------------------------------------------------------ errors */

Test(scenario, every_syntax_error_has_its_message)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "explode", "s.txt:1: unknown directive 'explode' (expected seed, repeat, default, "
			     "modifications, complete, job, file, rule, at, fault, persist)" },
		{ "rule * explode", "s.txt:1: unknown outcome 'explode' (expected ok, error, "
				    "transient, hang)" },
		{ "rule *", "s.txt:1: too few words: rule URL-GLOB OUTCOME [attributes]" },
		{ "default", "s.txt:1: default needs an outcome (expected ok, error, transient, hang)" },
		{ "rule * ok colour=red", "s.txt:1: unknown attribute 'colour' for ok (expected "
					  "after, size)" },
		{ "rule * ok for=1s", "s.txt:1: unknown attribute 'for' for ok (expected after, size)" },
		{ "rule * error http=404 then=ok",
		  "s.txt:1: unknown attribute 'then' for error (expected after, size, bytes, times, "
		  "hresult, http, context, description, context-description, protocol)" },
		{ "rule * hang after=1s", "s.txt:1: unknown attribute 'after' for hang (expected size)" },
		{ "rule * ok after=1s after=2s", "s.txt:1: attribute 'after' given twice" },
		{ "rule * ok fast", "s.txt:1: unexpected 'fast' (attributes are key=value)" },
		{ "rule * ok #fast", "s.txt:1: unexpected '#fast' (attributes are key=value; a "
				     "comment needs a blank after '#')" },
		{ "rule * error", "s.txt:1: an error outcome needs hresult= or http=" },
		{ "rule * transient for=1s", "s.txt:1: a transient outcome needs hresult= or http=" },
		{ "rule * error http=404 hresult=0x80004005", "s.txt:1: give hresult= or http=, not both" },
		{ "rule * error http=99", "s.txt:1: bad http status '99' (expected 100..599)" },
		{ "rule * error hresult=xyz", "s.txt:1: bad hresult 'xyz' (expected 32 bits: "
					      "0x80190194 or a decimal number)" },
		{ "rule * error hresult=0x100000000", "s.txt:1: bad hresult '0x100000000' (expected "
						      "32 bits: 0x80190194 or a decimal number)" },
		{ "rule * error hresult=0x00200017", "s.txt:1: hresult 0x00200017 is a success "
						     "code: an error needs a failure (high bit set)" },
		{ "rule * ok after=5x", "s.txt:1: bad duration '5x' for after (expected milliseconds, "
					"or a number with ms, s, m or h: 250ms, 2s; at most 30 days)" },
		{ "rule * ok after=2592000001", "s.txt:1: bad duration '2592000001' for after "
						"(expected milliseconds, or a number with ms, s, m or "
						"h: 250ms, 2s; at most 30 days)" },
		{ "rule * ok size=1T", "s.txt:1: bad byte count '1T' for size (expected a number, "
				       "optionally with K, M or G)" },
		{ "rule * error http=404 times=0", "s.txt:1: bad count '0' for times (expected a "
						   "number from 1)" },
		{ "rule * transient http=404 then=maybe", "s.txt:1: unknown value for then 'maybe' "
							  "(expected ok, error)" },
		{ "rule * error http=404 context=space",
		  "s.txt:1: unknown context 'space' (expected none, unknown, general-queue-manager, "
		  "queue-manager-notification, local-file, remote-file, general-transport, "
		  "remote-application)" },
		{ "rule \"abc", "s.txt:1: unterminated quoted string" },
		{ "rule \"abc\\", "s.txt:1: unterminated quoted string" },
		{ "rule \"a\\qb\" ok", "s.txt:1: unknown escape '\\q' in a quoted string (known: "
				       "\\\" \\\\ \\n \\r \\t)" },
		{ "persist", "s.txt:1: usage: persist FILE (where the sim keeps its jobs across "
			     "restarts)" },
		{ "persist a b", "s.txt:1: usage: persist FILE (where the sim keeps its jobs across "
				 "restarts)" },
		{ "persist \"\"", "s.txt:1: usage: persist FILE (where the sim keeps its jobs across "
				  "restarts)" },
		{ "job " G1 " attempts=x", "s.txt:1: bad count 'x' for attempts (expected a number "
					   "from 0)" },
		{ "seed", "s.txt:1: usage: seed N" },
		{ "seed x", "s.txt:1: bad seed 'x' (expected a number)" },
		{ "repeat", "s.txt:1: usage: repeat MIN..MAX (e.g. repeat 5s..15s) or repeat off" },
		{ "repeat 5s-10s", "s.txt:1: bad repeat bounds '5s-10s' (expected MIN..MAX, e.g. "
				   "5s..15s, or off)" },
		{ "repeat 10s..5s", "s.txt:1: repeat bounds '10s..5s': MIN is above MAX" },
		{ "repeat 0..5s", "s.txt:1: repeat MIN must be at least 1ms" },
		{ "modifications maybe", "s.txt:1: unknown value for modifications 'maybe' (expected "
					 "on, off)" },
		{ "complete", "s.txt:1: usage: complete writes=source|url|nothing" },
		{ "complete writes=all", "s.txt:1: unknown value for writes 'all' (expected source, "
					 "url, nothing)" },
		{ "job", "s.txt:1: too few words: job GUID [name=... owner=... type=... state=...]" },
		{ "job xyz", "s.txt:1: bad job id 'xyz' (expected a GUID like "
			     "{6B29FC40-CA47-1067-B31D-00DD010662DA})" },
		{ "job " G1 "\njob " G1, "s.txt:2: job " G1 " is defined twice (first on line 1)" },
		{ "job " G1 " state=connecting", "s.txt:1: state 'connecting' is not used: DO never "
						 "reports CONNECTING (expected queued, transferring, "
						 "suspended, error, transient, transferred, "
						 "acknowledged, cancelled)" },
		{ "job " G1 " state=sleeping", "s.txt:1: unknown state 'sleeping' (expected queued, "
					       "transferring, suspended, error, transient, "
					       "transferred, acknowledged, cancelled)" },
		{ "job " G1 " state=error", "s.txt:1: state=error or state=transient needs hresult= "
					    "or http=" },
		{ "job " G1 " http=404", "s.txt:1: error attributes need state=error or "
					 "state=transient" },
		{ "job " G1 " state=error http=404 then=ok", "s.txt:1: unknown attribute 'then' for "
							     "job (expected hresult, http, context, "
							     "description, context-description, "
							     "protocol, name, owner, type, state, "
							     "attempts)" },
		{ "job " G1 " type=sideload", "s.txt:1: unknown job type 'sideload' (expected "
					      "download, upload, upload-reply)" },
		{ "job " G1 " owner=bob", "s.txt:1: owner 'bob' is not uid:N or a SID (S-1-...)" },
		{ "job " G1 " owner=uid:", "s.txt:1: owner 'uid:' is not uid:N or a SID (S-1-...)" },
		{ "job " G1 " owner=uid:12-3", "s.txt:1: owner 'uid:12-3' is not uid:N or a SID "
					       "(S-1-...)" },
		{ "job " G1 " name=\"\xff\"", "s.txt:1: name is not valid UTF-8" },
		{ "job " G1 " state=queued", "s.txt:1: job " G1 " is queued but has no file (add a "
					     "'file' line; only suspended, cancelled and "
					     "acknowledged jobs may have none)" },
		{ "file " G1 " u p", "s.txt:1: file for unknown job " G1 " (define it with a 'job' "
				     "line first)" },
		{ "job " G1 "\nfile " G1, "s.txt:2: too few words: file GUID URL PATH [size=N done=N]" },
		{ "job " G1 "\nfile " G1 " u p done=2 size=1", "s.txt:2: done=2 is above size=1" },
		{ "job " G1 "\nfile " G1 " \"\" p", "s.txt:2: a file needs a non-empty URL and path" },
		{ "job " G1 "\nfile " G1 " u p colour=red", "s.txt:2: unknown attribute 'colour' for "
							    "file (expected size, done)" },
		{ "job " G1 " state=transferred\nfile " G1 " u p done=1 size=2",
		  "s.txt:2: a file of a transferred job must be complete (done=size)" },
		{ "at", "s.txt:1: too few words: at TIME JOB STATE [attributes]" },
		{ "at soon #1 error", "s.txt:1: bad time 'soon' (expected milliseconds after start, "
				      "or with a unit: 250ms, 2s, 1m)" },
		{ "at 1s #0 error", "s.txt:1: bad job number '#0' (expected #1, #2, ...: the N-th job "
				    "submitted)" },
		{ "at 1s xyz error", "s.txt:1: bad job 'xyz' (expected a GUID, #N for the N-th job "
				     "submitted)" },
		{ "at 1s * error", "s.txt:1: bad job '*' (expected a GUID, #N for the N-th job "
				   "submitted)" },
		{ "at 1s #1 error", "s.txt:1: error needs hresult= or http=" },
		{ "at 1s #1 transient for=1s", "s.txt:1: transient needs hresult= or http=" },
		{ "at 1s #1 error http=404 for=1s", "s.txt:1: unknown attribute 'for' for error "
						    "(expected hresult, http, context, description, "
						    "context-description, protocol)" },
		{ "at 1s #1 cancelled http=404", "s.txt:1: cancelled takes no attributes (got "
						 "'http=404')" },
		{ "at 1s #1 flying", "s.txt:1: unknown state 'flying' (expected queued, transferring, "
				     "suspended, error, transient, transferred, acknowledged, "
				     "cancelled)" },
		{ "rule * ok\nat 1s " G1 " error http=500",
		  "s.txt:2: 'at' names job " G1 ", which no 'job' line defines (use #N for the N-th "
		  "submitted job)" },
		{ "fault", "s.txt:1: too few words: fault REQUEST JOB hang|exit|hresult=H|http=N|"
			   "delay=D [count=N]" },
		{ "fault explode * hang", "s.txt:1: unknown request 'explode' (expected cancel, "
					  "complete, resume, suspend, act, submit, attach, query, "
					  "detach, any)" },
		{ "fault cancel * count=2", "s.txt:1: a fault needs exactly one of hang, exit, "
					    "hresult=, http=, delay=" },
		{ "fault cancel * hang delay=1s", "s.txt:1: a fault needs exactly one of hang, "
						  "exit, hresult=, http=, delay=" },
		{ "fault cancel * hang exit", "s.txt:1: a fault needs exactly one of hang, exit, "
					      "hresult=, http=, delay=" },
		{ "fault cancel * hang hang", "s.txt:1: 'hang' given twice" },
		{ "fault cancel * exit exit", "s.txt:1: 'exit' given twice" },
		{ "fault cancel * exit=1", "s.txt:1: unknown attribute 'exit' for fault (expected "
					   "hresult, http, delay, count)" },
		{ "fault cancel * pause", "s.txt:1: unexpected 'pause' (attributes are key=value)" },
		{ "fault cancel * hang count=0", "s.txt:1: bad count '0' for count (expected a number "
						 "from 1)" },
		{ "fault cancel " G2 " hang", "s.txt:1: 'fault' names job " G2 ", which no 'job' line "
					      "defines (use #N for the N-th submitted job, or *)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].in, cases[i].want);
}

Test(scenario, limits_have_messages)
{
	char *text = malloc(64 * 1024);
	char name[300];
	size_t o;

	/* 65 words */
	o = (size_t)sprintf(text, "rule");
	for (int i = 0; i < 64; i++)
		o += (size_t)sprintf(text + o, " w");
	expect_error(text, "s.txt:1: too many words on one line (max 64)");
	/* 257-character name */
	memset(name, 'n', 257);
	name[257] = '\0';
	sprintf(text, "job " G1 " name=%s", name);
	expect_error(text, "s.txt:1: name has 257 characters (max 256)");
	/* 256 characters of 2 bytes each are fine: characters, not bytes */
	o = (size_t)sprintf(text, "job " G1 " name=");
	for (int i = 0; i < 256; i++)
		o += (size_t)sprintf(text + o, "\xc3\xa9");
	scenario_free(parse_ok(text));
	/* 65 files */
	o = (size_t)sprintf(text, "job " G1 "\n");
	for (int i = 0; i < 65; i++)
		o += (size_t)sprintf(text + o, "file " G1 " u%d p\n", i);
	expect_error(text, "s.txt:66: too many files in one job (max 64)");
	free(text);
}

Test(scenario, nul_byte_is_refused)
{
	static const char text[] = "rule * ok\nrule *\0 ok\n";
	struct scenario *s = NULL;
	char err[256];

	cr_expect_eq(scenario_parse(text, sizeof(text) - 1, "s.txt", &s, err, sizeof(err)),
		     -DOB_EINVAL);
	cr_expect_str_eq(err, "s.txt:2: NUL byte in the line");
}

Test(scenario, text_need_not_be_nul_terminated_and_long_words_are_cut_in_messages)
{
	char text[200];
	struct scenario *s = NULL;
	char err[512];

	memset(text, 'x', sizeof(text));
	cr_expect_eq(scenario_parse(text, sizeof(text), "s.txt", &s, err, sizeof(err)), -DOB_EINVAL);
	cr_expect_str_eq(err, "s.txt:1: unknown directive 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' "
			      "(expected seed, repeat, default, modifications, complete, job, file, "
			      "rule, at, fault, persist)");
	/* a tiny error buffer is filled safely */
	cr_expect_eq(scenario_parse("x", 1, "s.txt", &s, err, 8), -DOB_EINVAL);
	cr_expect_str_eq(err, "s.txt:1");
	cr_expect_eq(scenario_parse("x", 1, "s.txt", &s, NULL, 0), -DOB_EINVAL);
}

/* ------------------------------------------------------------ globs */

Test(scenario, glob_matches_star_and_question_mark)
{
	cr_expect(scenario_glob("*", ""));
	cr_expect(scenario_glob("*", "anything"));
	cr_expect(scenario_glob("https://*/a?c", "https://host/x/abc"));
	cr_expect_not(scenario_glob("https://*/a?c", "https://host/x/abcd"));
	cr_expect(scenario_glob("*.zip", "a.zip.zip"));
	cr_expect_not(scenario_glob("*.zip", "a.zip.tar"));
	cr_expect(scenario_glob("a**b", "ab"));
	cr_expect(scenario_glob("", ""));
	cr_expect_not(scenario_glob("", "a"));
	cr_expect_not(scenario_glob("?", ""));
	cr_expect(scenario_glob("*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
	cr_expect_not(scenario_glob("*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	cr_expect(scenario_glob("exact", "exact"));
	cr_expect_not(scenario_glob("exact", "Exact"));
}

Test(scenario, first_matching_rule_wins_over_any_file)
{
	struct scenario *s = parse_ok("rule *.iso error http=404\nrule *.zip ok after=1s\n"
				      "rule * hang\n");
	const char *a[] = { "https://h/a.txt", "https://h/b.zip" };
	const char *b[] = { "https://h/b.zip", "https://h/c.iso" };

	cr_expect_eq(scenario_outcome_for(s, a, 2), &s->rules[1].o);
	cr_expect_eq(scenario_outcome_for(s, b, 2), &s->rules[0].o, "rule order, not file order");
	cr_expect_eq(scenario_outcome_for(s, NULL, 0), &s->dflt, "no file: the default");
	scenario_free(s);
}

/* ------------------------------------------------------------ files */

Test(scenario, load_names_the_file_in_messages)
{
	char dir[256];
	char path[300];
	struct scenario *s = NULL;
	char err[512];
	FILE *f;

	cr_assert_eq(fake_files_tmpdir(dir, sizeof(dir), "dob-scn"), 0);
	snprintf(path, sizeof(path), "%s/missing.txt", dir);
	cr_expect_eq(scenario_load(path, &s, err, sizeof(err)), -DOB_ENOTFOUND);
	cr_expect(strstr(err, path) && strstr(err, "cannot read"), "%s", err);
	snprintf(path, sizeof(path), "%s/bad.txt", dir);
	f = fopen(path, "w");
	fputs("seed 3\n\nrule * ok after=forever\n", f);
	fclose(f);
	cr_expect_eq(scenario_load(path, &s, err, sizeof(err)), -DOB_EINVAL);
	cr_expect_null(s);
	cr_expect_eq(strncmp(err, path, strlen(path)), 0, "%s", err);
	cr_expect(strstr(err, ":3: bad duration 'forever'"), "%s", err);
	f = fopen(path, "w");
	fputs("seed 3\n", f);
	fclose(f);
	cr_expect_eq(scenario_load(path, &s, err, sizeof(err)), 0);
	cr_expect_eq(s->seed, 3);
	cr_expect_str_eq(s->name, path);
	scenario_free(s);
	fake_files_rm_tree(dir);
}

Test(scenario, allocation_failure_sweep_gives_enomem_and_no_leak)
{
	char *blocks[32];
	size_t n = doc_blocks("scenario", blocks, 32);

	for (size_t b = 0; b < n; b++) {
		uint64_t k;

		for (k = 1; k < 100000; k++) {
			struct scenario *s = NULL;
			int64_t live0 = dob_alloc_live();
			char err[256];
			int rc;

			dob_alloc_fail_at(k);
			rc = scenario_parse(blocks[b], strlen(blocks[b]), "t", &s, err, sizeof(err));
			dob_alloc_fail_at(0);
			if (rc == 0) {
				scenario_free(s);
				cr_assert_eq(dob_alloc_live(), live0);
				break;
			}
			cr_assert_eq(rc, -DOB_ENOMEM, "block %zu k=%llu: %s", b, (unsigned long long)k,
				     err);
			cr_assert_null(s);
			cr_assert_str_eq(err, "t: out of memory while reading the scenario");
			cr_assert_eq(dob_alloc_live(), live0, "block %zu: leak when allocation %llu "
				     "fails", b, (unsigned long long)k);
		}
		cr_assert_gt(k, 2);
		free(blocks[b]);
	}
}

Test(scenario, many_jobs_find_their_files_and_a_late_duplicate)
{
	/* Past several growths of the parser's id index: a file line finds
	 * its job wherever it is, and a duplicate id far from the first is
	 * still caught with the first one's line. */
	enum { N = 500 };
	static char text[N * 120 + 512];
	struct scenario *s;
	char want[160];
	size_t n = 0;

	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "job {%08X-0000-4000-8000-000000000000}\n", (unsigned)i * 2654435761u);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "file {%08X-0000-4000-8000-000000000000} https://h/a C:\\a\n",
			      0u);
	s = parse_ok(text);
	cr_assert_eq(s->n_jobs, (size_t)N);
	cr_expect_eq(s->jobs[0].n_files, 1u);
	scenario_free(s);
	snprintf(text + n, sizeof(text) - n, "job {%08X-0000-4000-8000-000000000000}\n",
		 (unsigned)(N - 1) * 2654435761u);
	snprintf(want, sizeof(want),
		 "s.txt:%d: job {%08X-0000-4000-8000-000000000000} is defined twice (first on line %d)",
		 N + 2, (unsigned)(N - 1) * 2654435761u, N);
	expect_error(text, want);
}

/* ------------------------------------------------------------ reading in pieces */

Test(scenario, read_in_pieces_counts_lines_across_pieces_and_gives_the_same_scenario)
{
	static const char *const pieces[] = {
		"seed 7\nrepeat off\n",
		"job " G1 " state=error http=404\n",
		"file " G1 " https://h/a /tmp/a size=10\n",
		"job " G2 " state=flying\n",
	};
	struct scenario_reader *r;
	struct scenario *s = NULL;
	char err[256];

	cr_assert_eq(scenario_read_begin("p.txt", 0, &r), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(scenario_read_feed(r, pieces[i], strlen(pieces[i]), err, sizeof(err)), 0,
			     "%s", err);
	cr_expect_eq(scenario_read_feed(r, pieces[3], strlen(pieces[3]), err, sizeof(err)),
		     -DOB_EINVAL);
	cr_expect(strstr(err, "p.txt:5: unknown state 'flying'"), "line numbers go on: %s", err);
	scenario_read_free(r);

	cr_assert_eq(scenario_read_begin("p.txt", 0, &r), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(scenario_read_feed(r, pieces[i], strlen(pieces[i]), err, sizeof(err)), 0);
	cr_assert_eq(scenario_read_end(r, &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(s->seed, 7u);
	cr_expect_not(s->repeat);
	cr_assert_eq(s->n_jobs, 1u);
	cr_expect_eq(s->jobs[0].state, DOB_STATE_ERROR);
	cr_expect_eq(s->jobs[0].n_files, 1u);
	cr_expect_eq(s->jobs[0].line, 3u);
	scenario_free(s);
}

Test(scenario, a_later_job_line_replaces_the_job_and_its_files_only_when_asked)
{
	static const char text[] =
		"job " G1 " name=\"old\" state=error http=500\n"
		"file " G1 " https://h/a /tmp/a size=10\n"
		"file " G1 " https://h/b /tmp/b size=10\n"
		"job " G2 " state=suspended\n"
		"job " G1 " name=\"new\" state=cancelled attempts=3\n"
		"file " G1 " https://h/c /tmp/c size=20 done=5\n";
	struct scenario_reader *r;
	struct scenario *s = NULL;
	char err[256];

	expect_error(text, "s.txt:5: job " G1 " is defined twice (first on line 1)");
	cr_assert_eq(scenario_read_begin("log", SCN_LATER_JOB_REPLACES, &r), 0);
	cr_assert_eq(scenario_read_feed(r, text, strlen(text), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(scenario_read_end(r, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s->n_jobs, 2u, "one job per id");
	cr_expect_eq(s->n_job_lines, 3u);
	cr_expect_str_eq(s->jobs[0].name, "new");
	cr_expect_eq(s->jobs[0].state, DOB_STATE_CANCELLED);
	cr_expect_not(s->jobs[0].has_error, "the old error went with the old line");
	cr_expect_eq(s->jobs[0].attempts, 3u);
	cr_assert_eq(s->jobs[0].n_files, 1u, "the old files went with the old line");
	cr_expect_str_eq(s->jobs[0].files[0].url, "https://h/c");
	cr_expect_eq(s->jobs[0].files[0].done, 5u);
	cr_expect_eq(s->jobs[0].line, 5u);
	cr_expect_eq(s->jobs[1].state, DOB_STATE_SUSPENDED);
	scenario_free(s);
}
