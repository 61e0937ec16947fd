/*
 * tests/client/test_dobctl_util.c - dobctl's pure helpers: the JSON writer's
 * escaping and structure, parsing of policies, actions, kinds and --exec
 * replies, event rendering and the --exec environment.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "dobctl_util.h"
#include "fake_broker.h"
#include "jsonw.h"

static const char *json_of_str(struct jsonw *w, const char *s, size_t n)
{
	jsonw_reset(w);
	jsonw_strn(w, s, n);
	return jsonw_finish(w);
}

Test(jsonw, escapes_quotes_backslashes_and_control_characters)
{
	struct jsonw w;
	const char in[] = "a\"b\\c\nd\re\tf\bg\fh\x01i\x1fj\x7fk";

	jsonw_init(&w);
	cr_expect_str_eq(json_of_str(&w, in, sizeof in - 1),
			 "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001fj\x7fk\"");
	jsonw_free(&w);
}

Test(jsonw, keeps_valid_utf8_and_escapes_line_separators)
{
	struct jsonw w;
	const char in[] = "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xa8 \xe2\x80\xa9 \xef\xbf\xbd";

	jsonw_init(&w);
	cr_expect_str_eq(json_of_str(&w, in, sizeof in - 1),
			 "\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\u2028 \\u2029 \xef\xbf\xbd\"");
	jsonw_free(&w);
}

Test(jsonw, replaces_invalid_utf8_with_u_fffd)
{
	struct jsonw w;
	/* a lone continuation byte, 0xFF, an overlong '/', a surrogate, a
	 * sequence cut short at the end */
	const char in[] = "a\x80" "b\xff" "c\xc0\xaf" "d\xed\xa0\x80" "e\xe2\x82";

	jsonw_init(&w);
	cr_expect_str_eq(json_of_str(&w, in, sizeof in - 1),
			 "\"a\\ufffdb\\ufffdc\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffde\\ufffd\\ufffd\"");
	jsonw_free(&w);
}

Test(jsonw, embedded_nul_is_escaped_not_a_terminator)
{
	struct jsonw w;

	jsonw_init(&w);
	cr_expect_str_eq(json_of_str(&w, "a\0b", 3), "\"a\\u0000b\"");
	jsonw_free(&w);
}

Test(jsonw, places_commas_in_nested_objects_and_arrays)
{
	struct jsonw w;

	jsonw_init(&w);
	jsonw_obj_open(&w);
	jsonw_ku64(&w, "a", 18446744073709551615u);
	jsonw_key(&w, "b");
	jsonw_arr_open(&w);
	jsonw_bool(&w, true);
	jsonw_bool(&w, false);
	jsonw_null(&w);
	jsonw_obj_open(&w);
	jsonw_obj_close(&w);
	jsonw_arr_close(&w);
	jsonw_key(&w, "c");
	jsonw_obj_open(&w);
	jsonw_kstr(&w, "d", NULL);
	jsonw_ki64(&w, "e", -5);
	jsonw_obj_close(&w);
	jsonw_key(&w, "empty");
	jsonw_arr_open(&w);
	jsonw_arr_close(&w);
	jsonw_obj_close(&w);
	cr_expect_str_eq(jsonw_finish(&w),
			 "{\"a\":18446744073709551615,\"b\":[true,false,null,{}],\"c\":{\"d\":\"\",\"e\":-5},\"empty\":[]}");
	jsonw_free(&w);
}

Test(jsonw, out_of_memory_is_reported_by_finish)
{
	struct jsonw w;

	jsonw_init(&w);
	dob_alloc_fail_at(1);
	jsonw_str(&w, "x");
	dob_alloc_fail_at(0);
	cr_expect_null(jsonw_finish(&w));
	jsonw_reset(&w);
	jsonw_str(&w, "y");
	cr_expect_str_eq(jsonw_finish(&w), "\"y\"");
	jsonw_free(&w);
}

/* ---------------------------------------------------------------- parsing */

Test(parse, policy_resume_with_count_backoff_and_then)
{
	struct dob_policy p;
	char why[DOBCTL_WHY_MAX], text[64];

	cr_assert_eq(dobctl_parse_policy("resume:2:1000:cancel", &p, why, sizeof why), 0, "%s", why);
	cr_expect_eq(p.kind, DOB_POLICY_RESUME);
	cr_expect_eq(p.max_resumes, 2);
	cr_expect_eq(p.backoff_ms, 1000);
	cr_expect_eq(p.exhausted, DOB_POLICY_CANCEL);
	cr_expect_eq(p.deadline_ms, 0);
	dobctl_format_policy(&p, text, sizeof text);
	cr_expect_str_eq(text, "resume:2:1000:cancel");

	cr_assert_eq(dobctl_parse_policy("resume:5:0", &p, why, sizeof why), 0, "%s", why);
	cr_expect_eq(p.exhausted, DOB_POLICY_NONE);
	cr_expect_eq(p.backoff_ms, 0);
	cr_assert_eq(dobctl_parse_policy("resume:1:10:complete", &p, why, sizeof why), 0);
	cr_expect_eq(p.exhausted, DOB_POLICY_COMPLETE);
}

Test(parse, policy_plain_kinds)
{
	struct dob_policy p;

	cr_assert_eq(dobctl_parse_policy("none", &p, NULL, 0), 0);
	cr_expect_eq(p.kind, DOB_POLICY_NONE);
	cr_assert_eq(dobctl_parse_policy("cancel", &p, NULL, 0), 0);
	cr_expect_eq(p.kind, DOB_POLICY_CANCEL);
	cr_assert_eq(dobctl_parse_policy("complete", &p, NULL, 0), 0);
	cr_expect_eq(p.kind, DOB_POLICY_COMPLETE);
}

Test(parse, policy_refuses_malformed_text_with_a_reason)
{
	static const char *const bad[] = {
		"", "resume", "resume:2", "resume:0:10", "resume:x:10", "resume:2:-1",
		"resume:2:10:resume", "resume:2:10:cancel:more", "cancel:1:2", "bogus",
		"resume:4294967296:1", "resume::10",
	};
	struct dob_policy p;
	char why[DOBCTL_WHY_MAX];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		cr_expect_eq(dobctl_parse_policy(bad[i], &p, why, sizeof why), -DOB_EINVAL,
			     "'%s' accepted", bad[i]);
		cr_expect_neq(why[0], '\0', "no reason for '%s'", bad[i]);
		cr_expect_eq(p.kind, DOB_POLICY_UNSPECIFIED, "'%s' left a kind", bad[i]);
	}
}

Test(parse, actions_by_cli_name)
{
	cr_expect_eq(dobctl_parse_action("cancel"), DOB_ACTION_CANCEL);
	cr_expect_eq(dobctl_parse_action("complete"), DOB_ACTION_COMPLETE);
	cr_expect_eq(dobctl_parse_action("resume"), DOB_ACTION_RESUME);
	cr_expect_eq(dobctl_parse_action("Suspend"), DOB_ACTION_SUSPEND);
	cr_expect_eq(dobctl_parse_action("resume-after-delay"), DOB_ACTION_RESUME_AFTER_DELAY);
	cr_expect_eq(dobctl_parse_action("resume_after_delay"), DOB_ACTION_RESUME_AFTER_DELAY);
	cr_expect_eq(dobctl_parse_action("none"), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_action(""), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_action("resumex"), -DOB_EINVAL);
	cr_expect_str_eq(dobctl_action_name(DOB_ACTION_RESUME_AFTER_DELAY), "resume-after-delay");
	cr_expect_eq(dobctl_parse_priority("high"), DOB_PRIORITY_HIGH);
	cr_expect_eq(dobctl_parse_priority("LOW"), DOB_PRIORITY_LOW);
	cr_expect_eq(dobctl_parse_priority("urgent"), -DOB_EINVAL);
}

Test(parse, numbers_refuse_signs_junk_and_overflow)
{
	uint32_t v32;
	uint64_t v64;

	cr_expect_eq(dobctl_parse_u32("4294967295", &v32), 0);
	cr_expect_eq(v32, 4294967295u);
	cr_expect_eq(dobctl_parse_u32("4294967296", &v32), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_u32("-1", &v32), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_u32("12ms", &v32), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_u32("", &v32), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_u64("18446744073709551615", &v64), 0);
	cr_expect_eq(dobctl_parse_u64("18446744073709551616", &v64), -DOB_EINVAL);
}

Test(parse, kinds_list)
{
	uint32_t m;
	char why[DOBCTL_WHY_MAX];

	cr_assert_eq(dobctl_parse_kinds("error,resolution", &m, why, sizeof why), 0);
	cr_expect_eq(m, (1u << DOB_EVENT_JOB_ERROR) | (1u << DOB_EVENT_RESOLUTION));
	cr_assert_eq(dobctl_parse_kinds("transferred,modified", &m, why, sizeof why), 0);
	cr_expect_eq(m, (1u << DOB_EVENT_JOB_TRANSFERRED) | (1u << DOB_EVENT_JOB_MODIFIED));
	cr_expect_eq(dobctl_parse_kinds("error,", &m, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_kinds("error,,modified", &m, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_kinds("errors", &m, why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "errors") != NULL, "why: %s", why);
	cr_expect_eq(m, 0);
}

Test(parse, exec_replies)
{
	enum dob_action a;
	uint32_t d;
	char why[DOBCTL_WHY_MAX];

	cr_assert_eq(dobctl_parse_reply("resume\r\n", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_RESUME);
	cr_assert_eq(dobctl_parse_reply("  cancel \t", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_CANCEL);
	cr_assert_eq(dobctl_parse_reply("complete", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_COMPLETE);
	cr_assert_eq(dobctl_parse_reply("suspend", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_SUSPEND);
	cr_assert_eq(dobctl_parse_reply("resume-after-delay  1500", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_RESUME_AFTER_DELAY);
	cr_expect_eq(d, 1500);
	cr_assert_eq(dobctl_parse_reply("", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_UNSPECIFIED);
	cr_assert_eq(dobctl_parse_reply("none", &a, &d, why, sizeof why), 0);
	cr_expect_eq(a, DOB_ACTION_UNSPECIFIED);

	cr_expect_eq(dobctl_parse_reply("resume-after-delay", &a, &d, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("resume-after-delay 0", &a, &d, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("resume-after-delay 86400001", &a, &d, why, sizeof why),
		     -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("resume-after-delay 10 20", &a, &d, why, sizeof why),
		     -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("resume now", &a, &d, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("RESUME", &a, &d, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("none please", &a, &d, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_parse_reply("retry", &a, &d, why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "retry") != NULL, "why: %s", why);
	cr_expect_eq(a, DOB_ACTION_UNSPECIFIED);
}

/* ---------------------------------------------------------------- rendering */

Test(render, job_error_json_carries_the_fields_escaped)
{
	struct dob_msg m;
	struct jsonw w;
	const char *s;

	fake_job_error(&m, 0xAB, 11);
	jsonw_init(&w);
	dobctl_event_json(&w, &m);
	s = jsonw_finish(&w);
	cr_assert_not_null(s);
	cr_expect(strncmp(s, "{\"type\":\"job_error\",\"episode_id\":11,", 36) == 0, "%s", s);
	cr_expect(strstr(s, "\"job_id\":\"{ABABABAB-ABAB-ABAB-ABAB-ABABABABABAB}\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"display_name\":\"test job \\\"quoted\\\"\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"hresult\":\"0x80190194\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"description\":\"HTTP 404: not found\\nsecond line\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"remote_url\":\"http://127.0.0.1:1/missing.bin\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"bytes_total\":18446744073709551615") != NULL, "%s", s);
	cr_expect(strstr(s, "\"text\":\"resume:2:1000:cancel\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"state\":\"ERROR\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"repeat_count\":3") != NULL, "%s", s);
	cr_expect(strchr(s, '\n') == NULL, "a JSON line holds no newline");
	jsonw_free(&w);
	dob_msg_clear(&m);
}

Test(render, event_lines_are_one_line)
{
	struct dob_msg m;
	char line[512];

	fake_job_error(&m, 1, 11);
	dobctl_event_line(&m, line, sizeof line);
	cr_expect(strncmp(line, "ERROR episode 11 {01010101-", 27) == 0, "%s", line);
	cr_expect(strstr(line, "hr=0x80190194") != NULL, "%s", line);
	cr_expect(strstr(line, "(repeated 3x)") != NULL, "%s", line);
	dob_msg_clear(&m);
	fake_resolution(&m, 1, 11);
	dobctl_event_line(&m, line, sizeof line);
	cr_expect(strstr(line, "RESOLVED episode 11") == line, "%s", line);
	cr_expect(strstr(line, "resume by controller \"other\"") != NULL, "%s", line);
	dobctl_event_line(&m, line, 10);
	cr_expect_eq(strlen(line), 9, "truncated to the buffer");
	dob_msg_clear(&m);
}

static const char *env_get(char **env, const char *name)
{
	size_t n = strlen(name);

	for (; *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

Test(render, exec_environment_names_every_field)
{
	struct dob_msg m;
	char **env = NULL;
	size_t n = 0;

	fake_job_error(&m, 0x01, 11);
	cr_assert_eq(dobctl_exec_env(&m, &env), 0);
	while (env[n])
		n++;
	cr_expect_eq(n, 11);
	cr_expect_str_eq(env_get(env, "DOB_JOB_ID"), "{01010101-0101-0101-0101-010101010101}");
	cr_expect_str_eq(env_get(env, "DOB_EPISODE_ID"), "11");
	cr_expect_str_eq(env_get(env, "DOB_HRESULT"), "0x80190194");
	cr_expect_str_eq(env_get(env, "DOB_STATE"), "ERROR");
	cr_expect_str_eq(env_get(env, "DOB_DISPLAY_NAME"), "test job \"quoted\"");
	cr_expect_str_eq(env_get(env, "DOB_URL"), "http://127.0.0.1:1/missing.bin");
	cr_expect_str_eq(env_get(env, "DOB_LOCAL_NAME"), "/tmp/out/missing.bin");
	cr_expect_str_eq(env_get(env, "DOB_ERROR_DESCRIPTION"), "HTTP 404: not found\nsecond line");
	cr_expect_str_eq(env_get(env, "DOB_ERROR_CONTEXT"), "REMOTE_FILE");
	cr_expect_str_eq(env_get(env, "DOB_REPEAT_COUNT"), "3");
	cr_expect(strncmp(env_get(env, "DOB_EVENT_JSON"), "{\"type\":\"job_error\"", 19) == 0);
	dobctl_env_free(env);
	dob_msg_clear(&m);
}

Test(render, exec_environment_survives_allocation_failure)
{
	struct dob_msg m;
	char **env = NULL;
	uint64_t k;

	fake_job_error(&m, 0x01, 11);
	for (k = 1; k < 40; k++) {
		int r;

		dob_alloc_fail_at(k);
		r = dobctl_exec_env(&m, &env);
		dob_alloc_fail_at(0);
		if (r == 0) {
			dobctl_env_free(env);
			continue;
		}
		cr_expect_eq(r, -DOB_ENOMEM);
		cr_expect_null(env);
	}
	dob_msg_clear(&m);
}

Test(render, times_are_utc_iso_8601_and_unknown_is_a_dash)
{
	char t[32];

	dobctl_time_text(0, t, sizeof t);
	cr_expect_str_eq(t, "-");
	dobctl_time_text(1, t, sizeof t);
	cr_expect_str_eq(t, "1970-01-01T00:00:00Z");
	dobctl_time_text(951782400000000, t, sizeof t); /* a leap day */
	cr_expect_str_eq(t, "2000-02-29T00:00:00Z");
	dobctl_time_text(1796665120101571, t, sizeof t);
	cr_expect_str_eq(t, "2026-12-07T17:38:40Z");
	dobctl_time_text(4102444799999999, t, sizeof t);
	cr_expect_str_eq(t, "2099-12-31T23:59:59Z");
}

static void history_entry(struct dob_history_entry *e)
{
	memset(e, 0, sizeof *e);
	memset(e->resolution.job_id.b, 0x11, DOB_GUID_LEN);
	e->resolution.episode_id = 42;
	e->resolution.action = DOB_ACTION_RESUME_AFTER_DELAY;
	e->resolution.resolved_by = DOB_RESOLVED_CONTROLLER;
	e->resolution.actor.session_id = 7;
	e->resolution.actor.client_name = (char *)"ctl \"one\"";
	e->resolution.actor.pid = 99;
	e->resolution.hresult = 0x80190194;
	e->resolution.new_state = DOB_STATE_QUEUED;
	e->resolution.message = (char *)"resume in 1000 ms";
	e->resolved_us = 1796665120101571;
	e->first_seen_us = 1796665119000000;
	e->display_name = (char *)"nightly";
}

Test(render, history_line_says_when_who_what_hresult_and_state)
{
	struct dob_history_entry e;
	char line[512];

	history_entry(&e);
	dobctl_history_line(&e, line, sizeof line);
	cr_expect_str_eq(line, "2026-12-07T17:38:40Z episode 42 "
			       "{11111111-1111-1111-1111-111111111111} \"nightly\" resume-after-delay "
			       "by controller \"ctl \"one\"\" (session 7, pid 99) hr=0x80190194 now "
			       "QUEUED: resume in 1000 ms");
	cr_expect_null(strchr(line, '\n'));
	e.resolution.actor.session_id = 0;
	e.resolution.resolved_by = DOB_RESOLVED_POLICY;
	e.resolution.message = NULL;
	e.resolved_us = 0;
	dobctl_history_line(&e, line, sizeof line);
	cr_expect_str_eq(line, "- episode 42 {11111111-1111-1111-1111-111111111111} \"nightly\" "
			       "resume-after-delay by policy hr=0x80190194 now QUEUED");
	dobctl_history_line(&e, line, 16);
	cr_expect_eq(strlen(line), 15, "truncated to the buffer");
}

Test(render, history_and_unmanaged_json)
{
	struct dob_history_entry e;
	struct dob_job_info j;
	struct jsonw w;

	history_entry(&e);
	jsonw_init(&w);
	dobctl_history_json(&w, &e);
	cr_expect_str_eq(jsonw_finish(&w),
			 "{\"type\":\"history\",\"job_id\":\"{11111111-1111-1111-1111-111111111111}\","
			 "\"display_name\":\"nightly\",\"episode_id\":42,"
			 "\"first_seen_us\":1796665119000000,\"resolved_us\":1796665120101571,"
			 "\"action\":\"resume-after-delay\",\"resolved_by\":\"controller\","
			 "\"actor\":{\"session_id\":7,\"client_name\":\"ctl \\\"one\\\"\",\"pid\":99},"
			 "\"hresult\":\"0x80190194\",\"new_state\":\"QUEUED\","
			 "\"message\":\"resume in 1000 ms\"}");
	memset(&j, 0, sizeof j);
	j.job_id = e.resolution.job_id;
	j.state = DOB_STATE_SUSPENDED;
	j.owner = (char *)"S-1-5-21-1";
	jsonw_reset(&w);
	dobctl_unmanaged_json(&w, &j);
	cr_expect_not_null(strstr(jsonw_finish(&w), "{\"type\":\"unmanaged_job\",\"job\":{\"job_id\":"
						    "\"{11111111-1111-1111-1111-111111111111}\""));
	cr_expect_not_null(strstr(jsonw_finish(&w), "\"state\":\"SUSPENDED\""));
	cr_expect_not_null(strstr(jsonw_finish(&w), "\"owner\":\"S-1-5-21-1\"}}"));
	jsonw_free(&w);
}

/* ---------------------------------------------------------------- units */

Test(units, durations_for_people)
{
	static const struct {
		int64_t us;
		const char *text;
	} cases[] = {
		{ 0, "0 us" },
		{ 850, "850 us" },
		{ 12345, "12.3 ms" },
		{ 14677275, "14.68 s" },
		{ 125000000, "2m 05s" },
		{ 3723000000LL, "1h 02m" },
		{ 273600000000LL, "3d 04h" },
		{ -1500000, "-1.50 s" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		dobctl_format_duration_us(cases[i].us, buf, sizeof buf);
		cr_expect_str_eq(buf, cases[i].text, "%lld us", (long long)cases[i].us);
	}
}

Test(units, sizes_for_people)
{
	char buf[32];

	dobctl_format_bytes(0, buf, sizeof buf);
	cr_expect_str_eq(buf, "0 B");
	dobctl_format_bytes(1023, buf, sizeof buf);
	cr_expect_str_eq(buf, "1023 B");
	dobctl_format_bytes(1536, buf, sizeof buf);
	cr_expect_str_eq(buf, "1.5 KiB");
	dobctl_format_bytes(3u << 20, buf, sizeof buf);
	cr_expect_str_eq(buf, "3.0 MiB");
	dobctl_format_bytes(5ull << 40, buf, sizeof buf);
	cr_expect_str_eq(buf, "5.0 TiB");
	dobctl_format_bytes(DOB_SIZE_UNKNOWN, buf, sizeof buf);
	cr_expect_str_eq(buf, "?");
}

/* ---------------------------------------------------------------- submit checks */

Test(check, urls_the_broker_accepts)
{
	char why[DOBCTL_WHY_MAX], long_url[DOB_MAX_URL + 16];

	cr_expect_eq(dobctl_check_url("http://h/f.bin", why, sizeof why), 0);
	cr_expect_eq(dobctl_check_url("HTTPS://example.com:8443/a?b=c", why, sizeof why), 0);
	cr_expect_eq(dobctl_check_url("ftp://h/f", why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "not http:// or https://") != NULL, "%s", why);
	cr_expect_eq(dobctl_check_url("file:///etc/passwd", why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_check_url("h/f.bin", why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_check_url("http://", why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "no host") != NULL, "%s", why);
	cr_expect_eq(dobctl_check_url("http:///path", why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_check_url("http://h/a b", why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "blank or control") != NULL, "%s", why);
	cr_expect_eq(dobctl_check_url("http://h/a\nb", why, sizeof why), -DOB_EINVAL);
	memset(long_url, 'a', sizeof long_url);
	memcpy(long_url, "http://h/", 9);
	long_url[DOB_MAX_URL] = '\0';
	cr_expect_eq(dobctl_check_url(long_url, why, sizeof why), 0, "%s", why);
	long_url[DOB_MAX_URL] = 'a';
	long_url[DOB_MAX_URL + 1] = '\0';
	cr_expect_eq(dobctl_check_url(long_url, why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "too long") != NULL, "%s", why);
}

Test(check, posix_local_paths_must_be_absolute)
{
	char why[DOBCTL_WHY_MAX];

	cr_expect_eq(dobctl_check_local_path("/tmp/f.bin", false, why, sizeof why), 0);
	cr_expect_eq(dobctl_check_local_path("f.bin", false, why, sizeof why), -DOB_EINVAL);
	cr_expect(strstr(why, "relative") != NULL, "%s", why);
	cr_expect_eq(dobctl_check_local_path("./f.bin", false, why, sizeof why), -DOB_EINVAL);
	cr_expect_eq(dobctl_check_local_path("", false, why, sizeof why), -DOB_EINVAL);
}

Test(check, windows_local_paths_refuse_unc_devices_streams_and_relative)
{
	static const struct {
		const char *path;
		const char *why; /* NULL: accepted */
	} cases[] = {
		{ "C:\\data\\f.bin", NULL },
		{ "d:/data/f.bin", NULL },
		{ "C:\\console\\con1.bin", NULL },
		{ "C:\\con.d\\f.bin", "names a device" },
		{ "f.bin", "not absolute" },
		{ "C:f.bin", "not absolute" },
		{ "\\data\\f.bin", "not absolute" },
		{ "\\\\server\\share\\f.bin", "UNC" },
		{ "//server/share/f.bin", "UNC" },
		{ "\\\\.\\PhysicalDrive0", "device" },
		{ "\\\\?\\C:\\data\\f.bin", "device" },
		{ "C:\\data\\f.bin:hidden", "alternate data stream" },
		{ "C:\\data\\NUL", "names a device" },
		{ "C:\\data\\com1.txt", "names a device" },
		{ "C:\\data\\LPT9", "names a device" },
		{ "C:\\data\\a|b", "does not allow" },
	};
	char why[DOBCTL_WHY_MAX];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = dobctl_check_local_path(cases[i].path, true, why, sizeof why);

		if (!cases[i].why) {
			cr_expect_eq(r, 0, "%s: %s", cases[i].path, why);
			continue;
		}
		cr_expect_eq(r, -DOB_EINVAL, "%s was accepted", cases[i].path);
		cr_expect(strstr(why, cases[i].why) != NULL, "%s: %s", cases[i].path, why);
	}
}

/* ---------------------------------------------------------------- seen episodes */

Test(seen, remembers_the_last_episodes_and_forgets_the_oldest_first)
{
	struct dobctl_seen *s = calloc(1, sizeof *s);
	size_t i, at;

	cr_assert_not_null(s);
	dobctl_seen_init(s);
	cr_expect_eq(dobctl_seen_find(s, 1), -1);
	at = dobctl_seen_add(s, 1);
	cr_expect_eq(dobctl_seen_find(s, 1), (long)at);
	cr_expect(!s->settled[at]);
	s->settled[at] = true;
	cr_expect_eq(dobctl_seen_add(s, 1), at, "added twice");
	cr_expect(s->settled[at], "adding again forgot the answer");
	for (i = 2; i <= DOBCTL_SEEN_MAX; i++)
		dobctl_seen_add(s, i);
	cr_expect_eq(s->n, DOBCTL_SEEN_MAX);
	cr_expect_geq(dobctl_seen_find(s, 1), 0);
	/* One more: the oldest (1) goes, the newest stay. */
	dobctl_seen_add(s, DOBCTL_SEEN_MAX + 1);
	cr_expect_eq(dobctl_seen_find(s, 1), -1);
	cr_expect_geq(dobctl_seen_find(s, 2), 0);
	cr_expect_geq(dobctl_seen_find(s, DOBCTL_SEEN_MAX + 1), 0);
	cr_expect_eq(s->n, DOBCTL_SEEN_MAX);
	free(s);
}
