/*
 * broker/backend/backend.c - helpers every backend and the core share:
 * freeing and copying what backends report, the one table of HRESULT names,
 * the folding of DO codes onto their BITS twins, and the table of actions DO
 * allows in each job state (../shared reference do-api.md sections 4 and 6).
 */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"

/* ------------------------------------------------------------ ownership */

static void field_errors_free(struct dob_field_error *fe, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dob_free(fe[i].field);
	dob_free(fe);
}

void backend_job_clear(struct backend_job *j)
{
	if (!j)
		return;
	dob_job_info_clear(&j->info);
	dob_error_info_clear(&j->error);
	field_errors_free(j->field_errors, j->n_field_errors);
	memset(j, 0, sizeof(*j));
}

int backend_job_copy(struct backend_job *dst, const struct backend_job *src)
{
	int rc;

	memset(dst, 0, sizeof(*dst));
	rc = dob_job_info_copy(&dst->info, &src->info);
	if (rc < 0)
		goto fail;
	dst->has_error = src->has_error;
	if (src->has_error) {
		rc = dob_error_info_copy(&dst->error, &src->error);
		if (rc < 0)
			goto fail;
	}
	if (src->n_field_errors > 0) {
		dst->field_errors = dob_calloc(src->n_field_errors, sizeof(*dst->field_errors));
		if (!dst->field_errors) {
			rc = -DOB_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < src->n_field_errors; i++) {
			/* count as we go so a failure frees exactly what was made */
			dst->n_field_errors = i + 1;
			dst->field_errors[i].hresult = src->field_errors[i].hresult;
			dst->field_errors[i].field = dob_strdup(src->field_errors[i].field);
			if (!dst->field_errors[i].field) {
				rc = -DOB_ENOMEM;
				goto fail;
			}
		}
	}
	dst->callback_us = src->callback_us;
	dst->seq = src->seq;
	return 0;
fail:
	backend_job_clear(dst);
	return rc;
}

void backend_event_free(struct backend_event *ev)
{
	if (!ev)
		return;
	backend_job_clear(&ev->job);
	dob_free(ev);
}

void backend_result_free(struct backend_result *r)
{
	if (!r)
		return;
	dob_free(r->message);
	backend_job_clear(&r->job);
	for (size_t i = 0; r->jobs && i < r->n_jobs; i++)
		backend_job_clear(&r->jobs[i]);
	dob_free(r->jobs);
	dob_free(r);
}

/* ------------------------------------------------------------ HRESULTs */

uint32_t backend_hresult_canonical(uint32_t hr)
{
	switch (hr) {
	case DOB_DO_E_INVALID_STATE: return DOB_BG_E_INVALID_STATE;
	case DOB_DO_E_JOB_EMPTY: return DOB_BG_E_EMPTY;
	case DOB_DO_E_JOB_NOT_FOUND: return DOB_BG_E_NOT_FOUND;
	case DOB_DO_E_ERROR_INFORMATION_UNAVAILABLE: return DOB_BG_E_ERROR_INFORMATION_UNAVAILABLE;
	case DOB_DO_E_FILE_NOT_AVAILABLE: return DOB_BG_E_FILE_NOT_AVAILABLE;
	case 0x80D05010u: return 0x8020002Bu; /* INVALID_RANGE */
	case 0x80D05012u: return 0x8020002Cu; /* OVERLAPPING_RANGES */
	case 0x80D05011u: return 0x80200013u; /* INSUFFICIENT_RANGE_SUPPORT */
	case DOB_DO_E_DOWNLOAD_NO_PROGRESS: return DOB_BG_E_NO_PROGRESS;
	default: return hr;
	}
}

struct hr_name {
	uint32_t hr;
	const char *name;
};

/* Codes named in do-api.md section 6, plus the COM/Win32 basics the
 * backends meet. Kept sorted by nothing in particular: it is short. */
static const struct hr_name hr_names[] = {
	{ 0x00000000u, "S_OK" },
	{ 0x00000001u, "S_FALSE" },
	{ 0x80004001u, "E_NOTIMPL" },
	{ 0x80004002u, "E_NOINTERFACE" },
	{ 0x80004003u, "E_POINTER" },
	{ 0x80004004u, "E_ABORT" },
	{ 0x80004005u, "E_FAIL" },
	{ 0x8000FFFFu, "E_UNEXPECTED" },
	{ 0x80070005u, "E_ACCESSDENIED" },
	{ 0x80070006u, "E_HANDLE" },
	{ 0x8007000Eu, "E_OUTOFMEMORY" },
	{ 0x80070057u, "E_INVALIDARG" },
	{ 0x80070002u, "HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)" },
	{ 0x80070003u, "HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)" },
	{ 0x80070070u, "HRESULT_FROM_WIN32(ERROR_DISK_FULL)" },
	{ 0x800704C7u, "HRESULT_FROM_WIN32(ERROR_CANCELLED)" },
	{ 0x80040154u, "REGDB_E_CLASSNOTREG" },
	{ 0x800401F0u, "CO_E_NOTINITIALIZED" },
	{ 0x80010108u, "RPC_E_DISCONNECTED" },
	{ 0x800706BAu, "RPC_S_SERVER_UNAVAILABLE" },
	{ 0x800706BEu, "RPC_S_CALL_FAILED" },
	/* BITS (bitsmsg.h, facility 0x20) */
	{ 0x80200001u, "BG_E_NOT_FOUND" },
	{ 0x80200002u, "BG_E_INVALID_STATE" },
	{ 0x80200003u, "BG_E_EMPTY" },
	{ 0x80200004u, "BG_E_FILE_NOT_AVAILABLE" },
	{ 0x80200005u, "BG_E_PROTOCOL_NOT_AVAILABLE" },
	{ 0x00200006u, "BG_S_ERROR_CONTEXT_NONE" },
	{ 0x8020000Fu, "BG_E_ERROR_INFORMATION_UNAVAILABLE" },
	{ 0x80200010u, "BG_E_NETWORK_DISCONNECTED" },
	{ 0x80200011u, "BG_E_MISSING_FILE_SIZE" },
	{ 0x80200013u, "BG_E_INSUFFICIENT_RANGE_SUPPORT" },
	{ 0x80200014u, "BG_E_REMOTE_NOT_SUPPORTED" },
	{ 0x00200017u, "BG_S_PARTIAL_COMPLETE" },
	{ 0x0020001Au, "BG_S_UNABLE_TO_DELETE_FILES" },
	{ 0x80200021u, "BG_E_STRING_TOO_LONG" },
	{ 0x80200024u, "BG_E_NO_PROGRESS" },
	{ 0x8020002Bu, "BG_E_INVALID_RANGE" },
	{ 0x8020002Cu, "BG_E_OVERLAPPING_RANGES" },
	{ 0x8020003Eu, "BG_E_BLOCKED_BY_POLICY" },
	{ 0x80200049u, "BG_E_TOO_MANY_JOBS_PER_USER" },
	{ 0x80200050u, "BG_E_TOO_MANY_JOBS_PER_MACHINE" },
	{ 0x80200051u, "BG_E_TOO_MANY_FILES_IN_JOB" },
	{ 0x80200052u, "BG_E_TOO_MANY_RANGES_IN_FILE" },
	{ 0x80200053u, "BG_E_VALIDATION_FAILED" },
	{ 0x80200054u, "BG_E_MAXDOWNLOAD_TIMEOUT" },
	{ 0x00200055u, "BG_S_OVERRIDDEN_BY_POLICY" },
	/* Delivery Optimization (facility 0xD0) */
	{ 0x80D01001u, "DO_E_NO_SERVICE" },
	{ 0x80D02002u, "DO_E_DOWNLOAD_NO_PROGRESS" },
	{ 0x80D02003u, "DO_E_JOB_NOT_FOUND" },
	{ 0x80D02004u, "DO_E_JOB_EMPTY" },
	{ 0x80D0200Du, "DO_E_LOCALPATH_NOT_SET" },
	{ 0x80D02010u, "DO_E_FILE_NOT_AVAILABLE" },
	{ 0x80D02011u, "DO_E_UNKNOWN_PROPERTY_ID" },
	{ 0x80D02012u, "DO_E_READ_ONLY_PROPERTY" },
	{ 0x80D02013u, "DO_E_INVALID_STATE" },
	{ 0x80D02014u, "DO_E_ERROR_INFORMATION_UNAVAILABLE" },
	{ 0x80D03002u, "DO_E_NO_DOWNLOAD_EXTSETTINGS" },
	{ 0x80D03801u, "DO_E_BLOCKED_BY_COST_TRANSFER_POLICY" },
	{ 0x80D03803u, "DO_E_BLOCKED_BY_CELLULAR_POLICY" },
	{ 0x80D03804u, "DO_E_BLOCKED_BY_POWER_STATE" },
	{ 0x80D03805u, "DO_E_BLOCKED_BY_NO_NETWORK" },
	{ 0x80D03807u, "DO_E_BLOCKED_BY_VPN_POLICY" },
	{ 0x80D03808u, "DO_E_BLOCKED_BY_CRITICAL_MEMORY_USAGE" },
	{ 0x80D05001u, "DO_E_HTTP_BLOCKSIZE_MISMATCH" },
	{ 0x80D05010u, "DO_E_INVALID_RANGE" },
	{ 0x80D05011u, "DO_E_INSUFFICIENT_RANGE_SUPPORT" },
	{ 0x80D05012u, "DO_E_OVERLAPPING_RANGES" },
	{ 0x80D06802u, "DO_E_FATAL_CORE_ERROR" },
};

/* HTTP statuses bitsmsg.h names as BG_E_HTTP_ERROR_<status>. */
static const char *http_bits_name(unsigned st)
{
#define BN(n) case n: return "HTTP " #n " (BG_E_HTTP_ERROR_" #n ")";
	switch (st) {
	BN(100) BN(101)
	BN(200) BN(201) BN(202) BN(203) BN(204) BN(205) BN(206)
	BN(300) BN(301) BN(302) BN(303) BN(304) BN(305) BN(307)
	BN(400) BN(401) BN(402) BN(403) BN(404) BN(405) BN(406) BN(407) BN(408)
	BN(409) BN(410) BN(411) BN(412) BN(413) BN(414) BN(415) BN(416) BN(417)
	BN(449)
	BN(500) BN(501) BN(502) BN(503) BN(504) BN(505)
	default: return NULL;
	}
#undef BN
}

/* "HTTP <n>" for every status 100..599 that bitsmsg.h does not name,
 * spelled out by the preprocessor so the strings are static. */
#define HX(n) "HTTP " #n,
#define HX10(a) HX(a##0) HX(a##1) HX(a##2) HX(a##3) HX(a##4) HX(a##5) HX(a##6) HX(a##7) HX(a##8) HX(a##9)
#define HX100(a) HX10(a##0) HX10(a##1) HX10(a##2) HX10(a##3) HX10(a##4) \
	HX10(a##5) HX10(a##6) HX10(a##7) HX10(a##8) HX10(a##9)
static const char *const http_plain[500] = { HX100(1) HX100(2) HX100(3) HX100(4) HX100(5) };
#undef HX100
#undef HX10
#undef HX

const char *backend_hresult_name(uint32_t hr)
{
	for (size_t i = 0; i < sizeof(hr_names) / sizeof(hr_names[0]); i++)
		if (hr_names[i].hr == hr)
			return hr_names[i].name;
	if ((hr & 0xFFFF0000u) == 0x80190000u) {
		unsigned st = hr & 0xFFFFu;
		const char *n = http_bits_name(st);

		if (n)
			return n;
		if (st >= 100 && st <= 599)
			return http_plain[st - 100];
		return "HTTP error (status out of range)";
	}
	return NULL;
}

enum dob_status backend_status_of(uint32_t hr)
{
	hr = backend_hresult_canonical(hr);
	if ((hr & 0x80000000u) == 0)
		return DOB_STATUS_OK; /* S_OK, S_FALSE, BG_S_PARTIAL_COMPLETE, ... */
	switch (hr) {
	case DOB_BG_E_INVALID_STATE:
	case DOB_BG_E_EMPTY: /* Resume of a job without files: illegal in that state */
		return DOB_STATUS_FORBIDDEN_ACTION;
	case DOB_BG_E_NOT_FOUND:
		return DOB_STATUS_UNKNOWN_JOB;
	default:
		return DOB_STATUS_BACKEND_ERROR;
	}
}

/* ------------------------------------------------------------ state table */

static const char *final_why(enum dob_job_state s)
{
	return s == DOB_STATE_ACKNOWLEDGED ? "it was completed" : "it was cancelled";
}

int backend_action_allowed(enum dob_action action, enum dob_job_state state,
			   enum dob_job_type type, char *reason, size_t len)
{
	char dummy[1];

	if (!reason || len == 0) {
		reason = dummy;
		len = sizeof(dummy);
	}
	reason[0] = '\0';
	if ((int)action <= DOB_ACTION_UNSPECIFIED || action > DOB_ACTION_MAX) {
		snprintf(reason, len, "unknown action %d", (int)action);
		return -DOB_EINVAL;
	}
	if ((int)state < 0 || state > DOB_STATE_MAX) {
		snprintf(reason, len, "unknown job state %d", (int)state);
		return -DOB_EINVAL;
	}
	if ((int)type < 0 || type > DOB_JOB_TYPE_MAX) {
		snprintf(reason, len, "unknown job type %d", (int)type);
		return -DOB_EINVAL;
	}
	if (state == DOB_STATE_ACKNOWLEDGED || state == DOB_STATE_CANCELLED) {
		snprintf(reason, len,
			 "%s is not allowed on a job in state %s: the job is final (%s); "
			 "the service answers INVALID_STATE",
			 dob_action_name(action), dob_state_name(state), final_why(state));
		return -DOB_ESTATE;
	}
	if (action == DOB_ACTION_COMPLETE && type != DOB_JOB_DOWNLOAD &&
	    state != DOB_STATE_TRANSFERRED) {
		snprintf(reason, len,
			 "complete is not allowed on an upload job until it is TRANSFERRED "
			 "(an upload can never be partially completed)");
		return -DOB_ESTATE;
	}
	/* Every other cell of the table is legal: Resume on a running job is a
	 * no-op, Suspend on a suspended one stays, Cancel and Complete work from
	 * any state that is not final. RESUME_AFTER_DELAY follows RESUME. */
	return 0;
}
