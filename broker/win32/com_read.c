/*
 * broker/win32/com_read.c - reading a job (and its error) into a struct
 * backend_job, on a COM worker. Every getter is an RPC into the service; one
 * that fails is recorded as a field error ({"GetTimes", E_NOTIMPL} on Wine)
 * and the others are still read. Strings come back CoTaskMemAlloc'd and are
 * freed here; they are stored as UTF-8 (dob_malloc'd).
 */
#include <stdio.h>
#include <string.h>

#include "win32/com.h"
#include "win32/win.h"

#include "dob/alloc.h"
#include "dob/err.h"

/* ------------------------------------------------------------ conversions */

char *com_utf8(const WCHAR *w)
{
	char *s = NULL;

	if (!w)
		return NULL;
	int rc = win_wide_to_utf8(w, &s);
	if (rc != -DOB_EINVAL)
		return s;
	/* A service string with an unpaired surrogate: keep it, with U+FFFD
	 * in place of what cannot be encoded, rather than lose the field. */
	int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	if (n <= 0)
		return NULL;
	s = dob_malloc((size_t)n);
	if (s && WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
		dob_free(s);
		s = NULL;
	}
	return s;
}

/* 100 ns ticks from 1601-01-01 to 1970-01-01. */
#define EPOCH_DIFF_100NS 116444736000000000ULL

int64_t com_filetime_us(const FILETIME *ft)
{
	uint64_t t = ((uint64_t)ft->dwHighDateTime << 32) | ft->dwLowDateTime;

	if (t == 0)
		return 0;
	return ((int64_t)t - (int64_t)EPOCH_DIFF_100NS) / 10;
}

int64_t com_wall_us(void)
{
	FILETIME ft;

	GetSystemTimePreciseAsFileTime(&ft);
	return com_filetime_us(&ft);
}

void com_guid_to_dob(const GUID *g, struct dob_guid *out)
{
	_Static_assert(sizeof(GUID) == DOB_GUID_LEN, "GUID is 16 bytes");
	memcpy(out->b, g, DOB_GUID_LEN);
}

void com_dob_to_guid(const struct dob_guid *g, GUID *out)
{
	memcpy(out, g->b, DOB_GUID_LEN);
}

/* ------------------------------------------------------------ the broker's own text */

static char *trimmed(char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '.'))
		s[--n] = '\0';
	return s;
}

char *com_describe_hresult(uint32_t hr, DWORD langid)
{
	WCHAR *w = NULL;
	DWORD flags = FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS |
		      FORMAT_MESSAGE_ALLOCATE_BUFFER;

	if (!FormatMessageW(flags, NULL, hr, langid, (WCHAR *)&w, 0, NULL) &&
	    !FormatMessageW(flags, NULL, hr, 0, (WCHAR *)&w, 0, NULL))
		w = NULL;
	if (w) {
		char *s = trimmed(com_utf8(w));
		LocalFree(w);
		if (s && s[0])
			return s;
		dob_free(s);
	}
	const char *name = backend_hresult_name(hr);
	if (name)
		return dob_strdup(name);
	char buf[32];
	snprintf(buf, sizeof(buf), "HRESULT 0x%08lX", (unsigned long)hr);
	return dob_strdup(buf);
}

char *com_describe_context(uint32_t context)
{
	static const char *const text[] = {
		[BG_ERROR_CONTEXT_NONE] = "No error context",
		[BG_ERROR_CONTEXT_UNKNOWN] = "The error context is unknown",
		[BG_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER] =
			"The error occurred in the transfer queue manager",
		[BG_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION] =
			"The error occurred while the queue manager was notifying the application",
		[BG_ERROR_CONTEXT_LOCAL_FILE] = "The error occurred while processing the local file",
		[BG_ERROR_CONTEXT_REMOTE_FILE] = "The error occurred while processing the remote file",
		[BG_ERROR_CONTEXT_GENERAL_TRANSPORT] = "The error occurred in the transport layer",
		[BG_ERROR_CONTEXT_REMOTE_APPLICATION] =
			"The error occurred while the server application was processing the file",
	};

	if (context < sizeof(text) / sizeof(text[0]))
		return dob_strdup(text[context]);
	char buf[48];
	snprintf(buf, sizeof(buf), "Error context %lu", (unsigned long)context);
	return dob_strdup(buf);
}

/* ------------------------------------------------------------ reading */

struct rd {
	struct backend_job *j;
	int rc;
};

static void field_error(struct rd *r, const char *field, HRESULT hr)
{
	struct backend_job *j = r->j;

	if (j->n_field_errors >= DOB_MAX_FIELD_ERRORS)
		return;
	struct dob_field_error *a =
		dob_realloc(j->field_errors, (j->n_field_errors + 1) * sizeof(*a));
	if (!a) {
		r->rc = -DOB_ENOMEM;
		return;
	}
	j->field_errors = a;
	a[j->n_field_errors].field = dob_strdup(field);
	a[j->n_field_errors].hresult = (uint32_t)hr;
	if (!a[j->n_field_errors].field) {
		r->rc = -DOB_ENOMEM;
		return;
	}
	j->n_field_errors++;
}

/* Stores the string a getter returned (and frees it), or records its failure. */
static void take_string(struct rd *r, const char *field, HRESULT hr, WCHAR *w, char **dst)
{
	if (FAILED(hr)) {
		field_error(r, field, hr);
		return;
	}
	if (!w)
		return;
	*dst = com_utf8(w);
	if (!*dst)
		r->rc = -DOB_ENOMEM;
	CoTaskMemFree(w);
}

static void read_file(struct rd *r, IBackgroundCopyFile *file, struct dob_file_info *f)
{
	WCHAR *w = NULL;
	HRESULT hr = IBackgroundCopyFile_GetRemoteName(file, &w);
	take_string(r, "File.GetRemoteName", hr, w, &f->remote_url);

	w = NULL;
	hr = IBackgroundCopyFile_GetLocalName(file, &w);
	take_string(r, "File.GetLocalName", hr, w, &f->local_name);

	BG_FILE_PROGRESS fp;
	memset(&fp, 0, sizeof(fp));
	hr = IBackgroundCopyFile_GetProgress(file, &fp);
	if (SUCCEEDED(hr)) {
		f->progress.bytes_total = fp.BytesTotal;
		f->progress.bytes_transferred = fp.BytesTransferred;
		f->progress.completed = fp.Completed != FALSE;
	} else {
		field_error(r, "File.GetProgress", hr);
	}
}

static enum dob_error_context context_of(BG_ERROR_CONTEXT c)
{
	if ((unsigned)c > DOB_CONTEXT_MAX)
		return DOB_CONTEXT_UNKNOWN;
	return (enum dob_error_context)c;
}

static void read_error(struct rd *r, IBackgroundCopyError *err)
{
	struct backend_job *j = r->j;
	struct dob_error_info *e = &j->error;
	DWORD lang = LANGIDFROMLCID(GetThreadLocale());
	BG_ERROR_CONTEXT ctx = BG_ERROR_CONTEXT_NONE;
	HRESULT code = S_OK;
	WCHAR *w = NULL;

	HRESULT hr = IBackgroundCopyError_GetError(err, &ctx, &code);
	if (SUCCEEDED(hr)) {
		j->has_error = true;
		e->context = context_of(ctx);
		e->hresult = (uint32_t)code;
	} else {
		field_error(r, "GetError", hr);
	}

	hr = IBackgroundCopyError_GetErrorDescription(err, lang, &w);
	take_string(r, "GetErrorDescription", hr, w, &e->description);
	if (FAILED(hr) && j->has_error) {
		e->description = com_describe_hresult(e->hresult, lang);
		if (!e->description)
			r->rc = -DOB_ENOMEM;
	}

	w = NULL;
	hr = IBackgroundCopyError_GetErrorContextDescription(err, lang, &w);
	take_string(r, "GetErrorContextDescription", hr, w, &e->context_description);
	if (FAILED(hr) && j->has_error) {
		e->context_description = com_describe_context((uint32_t)ctx);
		if (!e->context_description)
			r->rc = -DOB_ENOMEM;
	}

	w = NULL;
	hr = IBackgroundCopyError_GetProtocol(err, &w);
	take_string(r, "GetProtocol", hr, w, &e->protocol);

	IBackgroundCopyFile *file = NULL;
	hr = IBackgroundCopyError_GetFile(err, &file);
	if (SUCCEEDED(hr) && file) {
		e->has_file = true;
		read_file(r, file, &e->file);
		IBackgroundCopyFile_Release(file);
	} else if (FAILED(hr)) {
		field_error(r, "GetFile", hr);
	}
}

int com_read_job(IBackgroundCopyJob *job, IBackgroundCopyError *err, bool want_error,
		 struct backend_job *out, void (*on_id)(void *ctx, const GUID *id), void *ctx)
{
	struct rd r = { out, 0 };
	struct dob_job_info *info = &out->info;
	WCHAR *w = NULL;
	GUID id;

	/* First, so the worker pool can order this job's events. */
	HRESULT hr = IBackgroundCopyJob_GetId(job, &id);
	if (SUCCEEDED(hr))
		com_guid_to_dob(&id, &info->job_id);
	else
		field_error(&r, "GetId", hr);
	if (on_id)
		on_id(ctx, SUCCEEDED(hr) ? &id : NULL);

	hr = IBackgroundCopyJob_GetDisplayName(job, &w);
	take_string(&r, "GetDisplayName", hr, w, &info->display_name);

	BG_JOB_TYPE type = BG_JOB_TYPE_DOWNLOAD;
	hr = IBackgroundCopyJob_GetType(job, &type);
	if (SUCCEEDED(hr))
		info->type = (enum dob_job_type)type;
	else
		field_error(&r, "GetType", hr);

	BG_JOB_STATE state = BG_JOB_STATE_QUEUED;
	HRESULT state_hr = IBackgroundCopyJob_GetState(job, &state);
	if (SUCCEEDED(state_hr))
		info->state = (enum dob_job_state)state;
	else
		field_error(&r, "GetState", state_hr);

	BG_JOB_PROGRESS jp;
	memset(&jp, 0, sizeof(jp));
	hr = IBackgroundCopyJob_GetProgress(job, &jp);
	if (SUCCEEDED(hr)) {
		info->progress.bytes_total = jp.BytesTotal;
		info->progress.bytes_transferred = jp.BytesTransferred;
		info->progress.files_total = jp.FilesTotal;
		info->progress.files_transferred = jp.FilesTransferred;
	} else {
		field_error(&r, "GetProgress", hr);
	}

	BG_JOB_TIMES jt;
	memset(&jt, 0, sizeof(jt));
	hr = IBackgroundCopyJob_GetTimes(job, &jt);
	if (SUCCEEDED(hr)) {
		info->times.creation_us = com_filetime_us(&jt.CreationTime);
		info->times.modification_us = com_filetime_us(&jt.ModificationTime);
		info->times.transfer_completion_us = com_filetime_us(&jt.TransferCompletionTime);
	} else {
		field_error(&r, "GetTimes", hr);
	}

	w = NULL;
	hr = IBackgroundCopyJob_GetOwner(job, &w);
	take_string(&r, "GetOwner", hr, w, &info->owner);

	IBackgroundCopyError *own = NULL;
	if (!err && want_error && SUCCEEDED(state_hr) &&
	    (state == BG_JOB_STATE_ERROR || state == BG_JOB_STATE_TRANSIENT_ERROR)) {
		hr = IBackgroundCopyJob_GetError(job, &own);
		if (SUCCEEDED(hr) && own)
			err = own;
		else if (FAILED(hr))
			field_error(&r, "GetError", hr);
	}
	if (err)
		read_error(&r, err);
	if (own)
		IBackgroundCopyError_Release(own);
	return r.rc;
}
