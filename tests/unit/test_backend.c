/*
 * tests/unit/test_backend.c - broker/backend/backend.c: the action table of
 * do-api.md section 4, HRESULT folding and names (section 6), status
 * mapping, and copying/freeing what backends report.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "dob/alloc.h"
#include "dob/err.h"

static bool is_final(enum dob_job_state s)
{
	return s == DOB_STATE_ACKNOWLEDGED || s == DOB_STATE_CANCELLED;
}

/* The table written out independently of backend.c's code. */
static bool expect_allowed(enum dob_action a, enum dob_job_state s, enum dob_job_type t)
{
	if (is_final(s))
		return false;
	if (a == DOB_ACTION_COMPLETE && t != DOB_JOB_DOWNLOAD)
		return s == DOB_STATE_TRANSFERRED;
	return true;
}

Test(backend, action_table_covers_every_action_state_and_type)
{
	int checked = 0;

	for (int a = DOB_ACTION_CANCEL; a <= DOB_ACTION_MAX; a++)
		for (int s = 0; s <= DOB_STATE_MAX; s++)
			for (int t = 0; t <= DOB_JOB_TYPE_MAX; t++) {
				char why[256];
				int rc = backend_action_allowed(a, s, t, why, sizeof(why));
				bool want = expect_allowed(a, s, t);

				if (want) {
					cr_expect_eq(rc, 0, "%s on %s type %d: refused (%s)",
						     dob_action_name(a), dob_state_name(s), t, why);
					cr_expect_str_empty(why);
				} else {
					cr_expect_eq(rc, -DOB_ESTATE, "%s on %s type %d: rc %d",
						     dob_action_name(a), dob_state_name(s), t, rc);
					cr_expect(strlen(why) > 20, "refusal without a reason");
				}
				checked++;
			}
	cr_assert_eq(checked, 5 * 9 * 3);
}

Test(backend, final_states_refuse_everything_with_the_state_named)
{
	char why[256];

	cr_assert_eq(backend_action_allowed(DOB_ACTION_CANCEL, DOB_STATE_CANCELLED,
					    DOB_JOB_DOWNLOAD, why, sizeof(why)), -DOB_ESTATE);
	cr_expect(strstr(why, "cancel is not allowed"), "%s", why);
	cr_expect(strstr(why, "CANCELLED"), "%s", why);
	cr_expect(strstr(why, "final"), "%s", why);

	cr_assert_eq(backend_action_allowed(DOB_ACTION_RESUME, DOB_STATE_ACKNOWLEDGED,
					    DOB_JOB_DOWNLOAD, why, sizeof(why)), -DOB_ESTATE);
	cr_expect(strstr(why, "resume is not allowed"), "%s", why);
	cr_expect(strstr(why, "ACKNOWLEDGED"), "%s", why);
	cr_expect(strstr(why, "completed"), "%s", why);
}

Test(backend, complete_on_upload_refused_until_transferred_with_the_reason)
{
	char why[256];

	for (int t = DOB_JOB_UPLOAD; t <= DOB_JOB_UPLOAD_REPLY; t++) {
		cr_assert_eq(backend_action_allowed(DOB_ACTION_COMPLETE, DOB_STATE_ERROR, t,
						    why, sizeof(why)), -DOB_ESTATE);
		cr_expect_str_eq(why, "complete is not allowed on an upload job until it is "
				      "TRANSFERRED (an upload can never be partially completed)");
		cr_expect_eq(backend_action_allowed(DOB_ACTION_COMPLETE, DOB_STATE_TRANSFERRED, t,
						    why, sizeof(why)), 0);
	}
	/* A download may be completed partially, from ERROR. */
	cr_expect_eq(backend_action_allowed(DOB_ACTION_COMPLETE, DOB_STATE_ERROR,
					    DOB_JOB_DOWNLOAD, why, sizeof(why)), 0);
}

Test(backend, resume_after_delay_follows_resume)
{
	for (int s = 0; s <= DOB_STATE_MAX; s++)
		for (int t = 0; t <= DOB_JOB_TYPE_MAX; t++)
			cr_expect_eq(backend_action_allowed(DOB_ACTION_RESUME_AFTER_DELAY, s, t, NULL, 0),
				     backend_action_allowed(DOB_ACTION_RESUME, s, t, NULL, 0));
}

Test(backend, bad_enum_values_are_einval_with_reason)
{
	char why[128];

	cr_expect_eq(backend_action_allowed(DOB_ACTION_UNSPECIFIED, DOB_STATE_ERROR,
					    DOB_JOB_DOWNLOAD, why, sizeof(why)), -DOB_EINVAL);
	cr_expect(strstr(why, "unknown action 0"), "%s", why);
	cr_expect_eq(backend_action_allowed(99, DOB_STATE_ERROR, DOB_JOB_DOWNLOAD, why,
					    sizeof(why)), -DOB_EINVAL);
	cr_expect_eq(backend_action_allowed(DOB_ACTION_CANCEL, 42, DOB_JOB_DOWNLOAD, why,
					    sizeof(why)), -DOB_EINVAL);
	cr_expect(strstr(why, "unknown job state 42"), "%s", why);
	cr_expect_eq(backend_action_allowed(DOB_ACTION_CANCEL, DOB_STATE_ERROR, 7, why,
					    sizeof(why)), -DOB_EINVAL);
	cr_expect(strstr(why, "unknown job type 7"), "%s", why);
}

Test(backend, reason_is_truncated_safely_in_a_small_buffer)
{
	char why[8];

	memset(why, 'x', sizeof(why));
	cr_assert_eq(backend_action_allowed(DOB_ACTION_COMPLETE, DOB_STATE_QUEUED,
					    DOB_JOB_UPLOAD, why, sizeof(why)), -DOB_ESTATE);
	cr_expect_eq(why[7], '\0');
	cr_expect_str_eq(why, "complet");
}

Test(backend, do_codes_fold_onto_their_bits_twins)
{
	static const uint32_t twins[][2] = {
		{ 0x80D02013u, 0x80200002u }, { 0x80D02004u, 0x80200003u },
		{ 0x80D02003u, 0x80200001u }, { 0x80D02014u, 0x8020000Fu },
		{ 0x80D02010u, 0x80200004u }, { 0x80D05010u, 0x8020002Bu },
		{ 0x80D05012u, 0x8020002Cu }, { 0x80D05011u, 0x80200013u },
		{ 0x80D02002u, 0x80200024u },
	};
	for (size_t i = 0; i < sizeof(twins) / sizeof(twins[0]); i++) {
		cr_expect_eq(backend_hresult_canonical(twins[i][0]), twins[i][1]);
		cr_expect_eq(backend_hresult_canonical(twins[i][1]), twins[i][1]);
		cr_expect_eq(backend_status_of(twins[i][0]), backend_status_of(twins[i][1]));
	}
	/* Codes without a twin stay as they are. */
	cr_expect_eq(backend_hresult_canonical(0x80D01001u), 0x80D01001u);
	cr_expect_eq(backend_hresult_canonical(DOB_HTTP_E(404)), 0x80190194u);
}

Test(backend, names_of_bits_do_http_and_com_codes)
{
	cr_expect_str_eq(backend_hresult_name(0x80200002u), "BG_E_INVALID_STATE");
	cr_expect_str_eq(backend_hresult_name(0x80D02013u), "DO_E_INVALID_STATE");
	cr_expect_str_eq(backend_hresult_name(0x80D02004u), "DO_E_JOB_EMPTY");
	cr_expect_str_eq(backend_hresult_name(0x80D06802u), "DO_E_FATAL_CORE_ERROR");
	cr_expect_str_eq(backend_hresult_name(0x00200017u), "BG_S_PARTIAL_COMPLETE");
	cr_expect_str_eq(backend_hresult_name(0x80200054u), "BG_E_MAXDOWNLOAD_TIMEOUT");
	cr_expect_str_eq(backend_hresult_name(0), "S_OK");
	cr_expect_str_eq(backend_hresult_name(0x80070057u), "E_INVALIDARG");
	cr_expect_str_eq(backend_hresult_name(0x80070005u), "E_ACCESSDENIED");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(404)), "HTTP 404 (BG_E_HTTP_ERROR_404)");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(403)), "HTTP 403 (BG_E_HTTP_ERROR_403)");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(449)), "HTTP 449 (BG_E_HTTP_ERROR_449)");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(505)), "HTTP 505 (BG_E_HTTP_ERROR_505)");
	/* Statuses bitsmsg.h does not name still get their number. */
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(429)), "HTTP 429");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(100 + 0)), "HTTP 100 (BG_E_HTTP_ERROR_100)");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(599)), "HTTP 599");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(306)), "HTTP 306");
	cr_expect_str_eq(backend_hresult_name(DOB_HTTP_E(42)), "HTTP error (status out of range)");
	cr_expect_null(backend_hresult_name(0x81234567u));
}

Test(backend, every_http_status_has_a_name_with_its_number)
{
	for (unsigned st = 100; st <= 599; st++) {
		char want[16];
		const char *n = backend_hresult_name(DOB_HTTP_E(st));

		snprintf(want, sizeof(want), "HTTP %u", st);
		cr_assert_not_null(n);
		cr_expect_eq(strncmp(n, want, strlen(want)), 0, "%u: %s", st, n);
		cr_expect(n[strlen(want)] == '\0' || n[strlen(want)] == ' ', "%u: %s", st, n);
	}
}

Test(backend, status_of_maps_success_state_notfound_and_other_failures)
{
	cr_expect_eq(backend_status_of(0), DOB_STATUS_OK);
	cr_expect_eq(backend_status_of(1), DOB_STATUS_OK); /* S_FALSE */
	cr_expect_eq(backend_status_of(DOB_BG_S_PARTIAL_COMPLETE), DOB_STATUS_OK);
	cr_expect_eq(backend_status_of(DOB_BG_S_UNABLE_TO_DELETE_FILES), DOB_STATUS_OK);
	cr_expect_eq(backend_status_of(DOB_DO_E_INVALID_STATE), DOB_STATUS_FORBIDDEN_ACTION);
	cr_expect_eq(backend_status_of(DOB_BG_E_INVALID_STATE), DOB_STATUS_FORBIDDEN_ACTION);
	cr_expect_eq(backend_status_of(DOB_DO_E_JOB_EMPTY), DOB_STATUS_FORBIDDEN_ACTION);
	cr_expect_eq(backend_status_of(DOB_DO_E_JOB_NOT_FOUND), DOB_STATUS_UNKNOWN_JOB);
	cr_expect_eq(backend_status_of(DOB_BG_E_NOT_FOUND), DOB_STATUS_UNKNOWN_JOB);
	cr_expect_eq(backend_status_of(DOB_E_FAIL), DOB_STATUS_BACKEND_ERROR);
	cr_expect_eq(backend_status_of(DOB_E_ACCESSDENIED), DOB_STATUS_BACKEND_ERROR);
	cr_expect_eq(backend_status_of(DOB_HTTP_E(404)), DOB_STATUS_BACKEND_ERROR);
}

static void fill_job(struct backend_job *j)
{
	memset(j, 0, sizeof(*j));
	j->info.job_id.b[0] = 0x42;
	j->info.display_name = dob_strdup("nightly");
	j->info.owner = dob_strdup("uid:1000");
	j->info.state = DOB_STATE_ERROR;
	j->info.progress.bytes_total = 100;
	j->has_error = true;
	j->error.hresult = DOB_HTTP_E(404);
	j->error.description = dob_strdup("not found");
	j->error.protocol = dob_strdup("http");
	j->error.has_file = true;
	j->error.file.remote_url = dob_strdup("https://example.com/a");
	j->error.file.local_name = dob_strdup("/tmp/a");
	j->n_field_errors = 2;
	j->field_errors = dob_calloc(2, sizeof(*j->field_errors));
	j->field_errors[0].field = dob_strdup("GetErrorDescription");
	j->field_errors[0].hresult = DOB_E_NOTIMPL;
	j->field_errors[1].field = dob_strdup("GetProtocol");
	j->field_errors[1].hresult = DOB_E_FAIL;
	j->callback_us = 1234;
}

Test(backend, job_copy_is_deep_and_clear_zeroes)
{
	struct backend_job a, b;

	fill_job(&a);
	cr_assert_eq(backend_job_copy(&b, &a), 0);
	cr_expect_str_eq(b.info.display_name, "nightly");
	cr_expect_neq(b.info.display_name, a.info.display_name);
	cr_expect_str_eq(b.error.file.remote_url, "https://example.com/a");
	cr_expect_eq(b.n_field_errors, 2);
	cr_expect_str_eq(b.field_errors[1].field, "GetProtocol");
	cr_expect_neq(b.field_errors, a.field_errors);
	cr_expect_eq(b.field_errors[0].hresult, DOB_E_NOTIMPL);
	cr_expect_eq(b.callback_us, 1234);
	cr_expect_eq(b.info.job_id.b[0], 0x42);
	backend_job_clear(&a);
	cr_expect_null(a.info.display_name);
	cr_expect_eq(a.n_field_errors, 0);
	cr_expect_str_eq(b.error.description, "not found"); /* b survives a */
	backend_job_clear(&b);
	backend_job_clear(NULL);
}

Test(backend, job_copy_fails_cleanly_at_every_allocation)
{
	struct backend_job a, b;
	int64_t live0;
	uint64_t k;

	fill_job(&a);
	live0 = dob_alloc_live();
	for (k = 1; k < 100; k++) {
		int rc;

		dob_alloc_fail_at(k);
		rc = backend_job_copy(&b, &a);
		dob_alloc_fail_at(0);
		if (rc == 0)
			break;
		cr_assert_eq(rc, -DOB_ENOMEM, "k=%llu rc=%d", (unsigned long long)k, rc);
		cr_assert_null(b.info.display_name);
		cr_assert_null(b.field_errors);
		cr_assert_eq(dob_alloc_live(), live0, "leak after failing allocation %llu",
			     (unsigned long long)k);
	}
	cr_assert_gt(k, 5, "the copy allocates more than that");
	backend_job_clear(&b);
	cr_assert_eq(dob_alloc_live(), live0);
	backend_job_clear(&a);
}

Test(backend, event_and_result_free_are_null_safe_and_free_everything)
{
	struct backend_event *ev = dob_calloc(1, sizeof(*ev));
	struct backend_result *r = dob_calloc(1, sizeof(*r));
	int64_t live0;

	backend_event_free(NULL);
	backend_result_free(NULL);
	live0 = dob_alloc_live();
	fill_job(&ev->job);
	fill_job(&r->job);
	r->has_job = true;
	r->message = dob_strdup("done");
	cr_assert_gt(dob_alloc_live(), live0);
	backend_event_free(ev);
	backend_result_free(r);
	cr_assert_eq(dob_alloc_live(), live0 - 2);
}
