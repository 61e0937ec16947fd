/*
 * test_msg.c - clear, copy, names, parsing, GUID text, error texts.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "dob/msg.h"
#include "msgcmp.h"
#include "samples.h"

TestSuite(msg, .timeout = 60);

static const struct dob_msg zero_msg;

Test(msg, names_every_value)
{
	cr_assert_str_eq(dob_state_name(DOB_STATE_ERROR), "ERROR");
	cr_assert_str_eq(dob_state_name(DOB_STATE_TRANSIENT_ERROR), "TRANSIENT_ERROR");
	cr_assert_str_eq(dob_state_name(DOB_STATE_QUEUED), "QUEUED");
	cr_assert_str_eq(dob_state_name(DOB_STATE_CANCELLED), "CANCELLED");
	cr_assert_str_eq(dob_action_name(DOB_ACTION_RESUME_AFTER_DELAY), "resume-after-delay");
	cr_assert_str_eq(dob_action_name(DOB_ACTION_CANCEL), "cancel");
	cr_assert_str_eq(dob_status_name(DOB_STATUS_ALREADY_RESOLVED), "ALREADY_RESOLVED");
	cr_assert_str_eq(dob_perr_name(DOB_PERR_FRAME_TOO_LARGE), "FRAME_TOO_LARGE");
	cr_assert_str_eq(dob_backend_name(DOB_BACKEND_DO), "do");
	cr_assert_str_eq(dob_policy_name(DOB_POLICY_COMPLETE), "complete");
	cr_assert_str_eq(dob_context_name(DOB_CONTEXT_REMOTE_FILE), "REMOTE_FILE");
	cr_assert_str_eq(dob_event_kind_name(DOB_EVENT_JOB_ERROR), "job-error");
	cr_assert_str_eq(dob_resolved_by_name(DOB_RESOLVED_JOB_LEFT_ERROR), "job-left-error");
	cr_assert_str_eq(dob_role_name(DOB_ROLE_CONTROLLER), "controller");
	cr_assert_str_eq(dob_msg_type_name(DOB_MSG_SUBMIT_JOB), "submit_job");
	cr_assert_str_eq(dob_msg_type_name(DOB_MSG_NONE), "none");
	/* Out of range: a name, never NULL. */
	cr_assert_str_eq(dob_state_name((enum dob_job_state)9), "unknown");
	cr_assert_str_eq(dob_state_name((enum dob_job_state)-1), "unknown");
	cr_assert_str_eq(dob_action_name((enum dob_action)6), "unknown");
	cr_assert_str_eq(dob_msg_type_name((enum dob_msg_type)5), "unknown");
	for (int v = 0; v <= DOB_STATE_MAX; v++)
		cr_assert_str_neq(dob_state_name(v), "unknown");
	for (int v = 0; v <= DOB_STATUS_MAX; v++)
		cr_assert_str_neq(dob_status_name(v), "unknown");
	for (int v = 0; v <= DOB_PERR_MAX; v++)
		cr_assert_str_neq(dob_perr_name(v), "unknown");
	for (int v = 0; v <= DOB_CONTEXT_MAX; v++)
		cr_assert_str_neq(dob_context_name(v), "unknown");
	for (size_t i = 0; i < sample_n_types; i++)
		cr_assert_str_neq(dob_msg_type_name(sample_types[i]), "unknown");
}

Test(msg, parses_every_name_back)
{
	for (int v = 1; v <= DOB_ACTION_MAX; v++)
		cr_assert_eq(dob_action_parse(dob_action_name(v)), v);
	for (int v = 1; v <= DOB_POLICY_MAX; v++)
		cr_assert_eq(dob_policy_parse(dob_policy_name(v)), v);
	for (int v = 1; v <= DOB_BACKEND_MAX; v++)
		cr_assert_eq(dob_backend_parse(dob_backend_name(v)), v);
	for (int v = 1; v <= DOB_EVENT_MAX; v++)
		cr_assert_eq(dob_event_kind_parse(dob_event_kind_name(v)), v);
	for (int v = 1; v <= DOB_ROLE_MAX; v++)
		cr_assert_eq(dob_role_parse(dob_role_name(v)), v);
	cr_assert_eq(dob_action_parse("resume-after-delay"), DOB_ACTION_RESUME_AFTER_DELAY);
	cr_assert_eq(dob_policy_parse("none"), DOB_POLICY_NONE);
	cr_assert_eq(dob_backend_parse("bits"), DOB_BACKEND_BITS);
	cr_assert_eq(dob_action_parse("unspecified"), -1);
	cr_assert_eq(dob_action_parse("Cancel"), -1);
	cr_assert_eq(dob_action_parse(""), -1);
	cr_assert_eq(dob_action_parse(NULL), -1);
	cr_assert_eq(dob_policy_parse("sometimes"), -1);
	cr_assert_eq(dob_backend_parse("com"), -1);
}

Test(msg, every_error_code_has_its_own_text)
{
	for (int e = 0; e <= DOB_ERR_MAX; e++) {
		cr_assert_not_null(dob_strerror(e));
		cr_assert_str_eq(dob_strerror(-e), dob_strerror(e));
		cr_assert_str_neq(dob_strerror(e), "unknown error");
		for (int f = 0; f < e; f++)
			cr_assert_str_neq(dob_strerror(e), dob_strerror(f), "%d and %d", e, f);
	}
	cr_assert_str_eq(dob_strerror(DOB_ERR_MAX + 1), "unknown error");
	cr_assert_str_eq(dob_strerror(-1000), "unknown error");
	cr_assert_str_eq(dob_strerror(-2147483647 - 1), "unknown error");
}

/* {4991D34B-80A1-4291-83B6-3328366B9097}, CLSID_BackgroundCopyManager. */
static const struct dob_guid bits = { { 0x4B, 0xD3, 0x91, 0x49, 0xA1, 0x80, 0x91, 0x42,
					0x83, 0xB6, 0x33, 0x28, 0x36, 0x6B, 0x90, 0x97 } };

Test(msg, formats_guid_in_windows_layout)
{
	char s[DOB_GUID_STR_LEN];

	dob_guid_format(&bits, s);
	cr_assert_str_eq(s, "{4991D34B-80A1-4291-83B6-3328366B9097}");
}

Test(msg, parses_guid_with_or_without_braces_in_any_case)
{
	static const char *const good[] = {
		"{4991D34B-80A1-4291-83B6-3328366B9097}",
		"4991D34B-80A1-4291-83B6-3328366B9097",
		"{4991d34b-80a1-4291-83b6-3328366b9097}",
		"4991d34B-80A1-4291-83b6-3328366B9097",
	};
	static const char *const bad[] = {
		"", "{}", "{4991D34B-80A1-4291-83B6-3328366B9097",
		"4991D34B-80A1-4291-83B6-3328366B9097}", "[4991D34B-80A1-4291-83B6-3328366B9097]",
		"4991D34B80A1-4291-83B6-3328366B9097X", "4991D34B-80A1-4291-83B6-3328366B909",
		"4991D34B-80A1-4291-83B6-3328366B90977", "4991D34G-80A1-4291-83B6-3328366B9097",
		"4991D34B-80A1-4291-83B6+3328366B9097", "{4991D34B-80A1-4291-83B6-3328366B9097}x",
		" 4991D34B-80A1-4291-83B6-3328366B9097",
	};
	struct dob_guid g;

	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		memset(&g, 0, sizeof g);
		cr_assert_eq(dob_guid_parse(good[i], &g), 0, "%s", good[i]);
		cr_assert(memcmp(&g, &bits, sizeof g) == 0, "%s", good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memset(&g, 0xAB, sizeof g);
		cr_assert_eq(dob_guid_parse(bad[i], &g), -DOB_EINVAL, "%s", bad[i]);
		cr_assert_eq(g.b[0], 0xAB, "out untouched on failure");
	}
	cr_assert_eq(dob_guid_parse(NULL, &g), -DOB_EINVAL);
}

Test(msg, guid_text_round_trips)
{
	for (int k = 0; k < 64; k++) {
		struct dob_guid g = sample_guid(), back;
		char s[DOB_GUID_STR_LEN];

		dob_guid_format(&g, s);
		cr_assert_eq(dob_guid_parse(s, &back), 0);
		cr_assert(memcmp(&g, &back, sizeof g) == 0);
	}
}

Test(msg, guid_is_zero)
{
	struct dob_guid g = { { 0 } };

	cr_assert(dob_guid_is_zero(&g));
	g.b[15] = 1;
	cr_assert_not(dob_guid_is_zero(&g));
}

Test(msg, clear_is_null_safe_and_zeroes)
{
	struct dob_msg m;
	struct dob_jrec r;
	int64_t live = dob_alloc_live();

	dob_msg_clear(NULL);
	dob_jrec_clear(NULL);
	dob_job_info_clear(NULL);
	dob_error_info_clear(NULL);
	dob_identity_clear(NULL);
	dob_actor_clear(NULL);
	for (size_t i = 0; i < sample_n_types; i++) {
		sample_msg(sample_types[i], &m);
		dob_msg_clear(&m);
		cr_assert(memcmp(&m, &zero_msg, sizeof m) == 0);
		dob_msg_clear(&m); /* twice is fine */
	}
	for (size_t i = 0; i < sample_n_jrec_types; i++) {
		sample_jrec(sample_jrec_types[i], &r);
		dob_jrec_clear(&r);
	}
	cr_assert_eq(dob_alloc_live(), live);
}

Test(msg, copy_is_deep_and_equal_for_every_type)
{
	int64_t live = dob_alloc_live();

	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg m, c;
		char why[256];

		sample_msg(sample_types[i], &m);
		cr_assert_eq(dob_msg_copy(&c, &m), 0);
		cr_assert(msgcmp_msg(&m, &c, why, sizeof why), "%s", why);
		if (m.type == DOB_MSG_JOB_ERROR) {
			cr_assert_neq(c.u.job_error.job.display_name, m.u.job_error.job.display_name);
			cr_assert_neq(c.u.job_error.field_errors, m.u.job_error.field_errors);
			c.u.job_error.job.display_name[0] = '#';
			cr_assert_not(msgcmp_msg(&m, &c, why, sizeof why));
			const char *want = "job_error.job.display_name: \"nightly";

			cr_assert(strncmp(why, want, strlen(want)) == 0, "%s", why);
		}
		dob_msg_clear(&m);
		dob_msg_clear(&c);
	}
	cr_assert_eq(dob_alloc_live(), live);
}

Test(msg, copy_out_of_memory_leaves_dst_zeroed_and_leaks_nothing)
{
	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg m, c;
		uint64_t k;
		char why[256];

		sample_msg(sample_types[i], &m);
		for (k = 1;; k++) {
			int64_t live = dob_alloc_live();
			int rc;

			dob_alloc_fail_at(k);
			rc = dob_msg_copy(&c, &m);
			dob_alloc_fail_at(0);
			if (rc == 0)
				break;
			cr_assert_eq(rc, -DOB_ENOMEM);
			cr_assert(memcmp(&c, &zero_msg, sizeof c) == 0);
			cr_assert_eq(dob_alloc_live(), live);
		}
		cr_assert(msgcmp_msg(&m, &c, why, sizeof why), "%s", why);
		dob_msg_clear(&c);
		dob_msg_clear(&m);
	}
}

Test(msg, copies_and_clears_the_parts)
{
	struct dob_job_info j = { 0 }, jc;
	struct dob_error_info e = { 0 }, ec;
	struct dob_identity id = { 0 }, idc;
	struct dob_actor a = { 0 };
	int64_t live = dob_alloc_live();

	sample_job_info(&j);
	sample_error_info(&e);
	sample_identity(&id);
	sample_actor(&a);
	cr_assert_eq(dob_job_info_copy(&jc, &j), 0);
	cr_assert_str_eq(jc.display_name, j.display_name);
	cr_assert_eq(jc.progress.bytes_total, j.progress.bytes_total);
	cr_assert(memcmp(&jc.job_id, &j.job_id, sizeof j.job_id) == 0);
	cr_assert_eq(dob_error_info_copy(&ec, &e), 0);
	cr_assert_str_eq(ec.file.remote_url, e.file.remote_url);
	cr_assert_eq(ec.has_file, true);
	cr_assert_eq(dob_identity_copy(&idc, &id), 0);
	cr_assert_str_eq(idc.appcontainer_sid, id.appcontainer_sid);
	cr_assert_eq(idc.sandboxed, true);
	dob_identity_clear(&idc);

	dob_alloc_fail_at(1);
	cr_assert_eq(dob_identity_copy(&idc, &id), -DOB_ENOMEM, "a failed copy");
	cr_assert_null(idc.user_sid, "leaves dst zeroed");
	dob_identity_copy(&idc, &id);

	dob_job_info_clear(&j);
	dob_job_info_clear(&jc);
	dob_error_info_clear(&e);
	dob_error_info_clear(&ec);
	dob_identity_clear(&id);
	dob_identity_clear(&idc);
	dob_actor_clear(&a);
	cr_assert_null(j.display_name);
	cr_assert_null(a.client_name);
	cr_assert_eq(dob_alloc_live(), live);
}
