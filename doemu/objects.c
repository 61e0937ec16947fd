/*
 * doemu/objects.c - the COM objects of the emulated service, in plain C
 * after Wine's dlls/qmgr: IBackgroundCopyManager, IBackgroundCopyJob (and
 * Job5, on one vtable), IDeliveryOptimizationJob, IBackgroundCopyError,
 * IBackgroundCopyFile/File2/File5 (one vtable) and IEnumBackgroundCopyFiles.
 *
 * A job object holds only the job's id: every method asks the model
 * (model.c), so two objects for one job never disagree, and a job the
 * service forgot answers DO_E_JOB_NOT_FOUND. Methods DO does not document
 * answer E_NOTIMPL (../shared reference do-api.md section 2), never a
 * silent S_OK. Codes are DO's: DO_E_INVALID_STATE on final jobs,
 * DO_E_ERROR_INFORMATION_UNAVAILABLE from GetError outside ERROR and
 * TRANSIENT_ERROR, the error context REMOTE_FILE only for HTTP 403 (the
 * model's rule).
 */
#include <stdio.h>
#include <string.h>

#include "doemu.h"
#include "doemu_idl.h"

#include "dob/alloc.h"
#include "dob/err.h"
#include "log.h"

#define MAX_NAME_CHARS 256
#define NOTIFY_KNOWN 0x1Fu

static volatile LONG live_objects;

void server_lock(void)
{
	InterlockedIncrement(&live_objects);
}

void server_unlock(void)
{
	InterlockedDecrement(&live_objects);
}

/* ------------------------------------------------------------ helpers */

WCHAR *emu_wide(const char *s)
{
	int n;
	WCHAR *w;

	if (!s)
		return NULL;
	n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
	if (n <= 0 || !(w = CoTaskMemAlloc((size_t)n * sizeof(WCHAR))))
		return NULL;
	MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
	return w;
}

char *emu_utf8(const WCHAR *w)
{
	int n;
	char *s;

	if (!w)
		return NULL;
	n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	if (n <= 0 || !(s = dob_malloc((size_t)n)))
		return NULL;
	WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
	return s;
}

void emu_guid_to_dob(const GUID *g, struct dob_guid *out)
{
	memcpy(out->b, g, 16);
}

void emu_dob_to_guid(const struct dob_guid *g, GUID *out)
{
	memcpy(out, g->b, 16);
}

void emu_filetime(int64_t unix_us, FILETIME *out)
{
	uint64_t t = unix_us > 0 ? (uint64_t)unix_us * 10u + 116444736000000000ULL : 0;

	out->dwLowDateTime = (DWORD)t;
	out->dwHighDateTime = (DWORD)(t >> 32);
}

static HRESULT dup_out(const char *s, LPWSTR *out)
{
	*out = emu_wide(s ? s : "");
	return *out ? S_OK : E_OUTOFMEMORY;
}

static bool is_final(enum dob_job_state st)
{
	return st == DOB_STATE_ACKNOWLEDGED || st == DOB_STATE_CANCELLED;
}

/* ------------------------------------------------------------ IBackgroundCopyFile5 */

struct file {
	IBackgroundCopyFile5 IBackgroundCopyFile5_iface;
	LONG refs;
	GUID job;
	size_t index;        /* the job's file index, or SIZE_MAX: a snapshot only */
	char *url, *local;   /* owned */
	BG_FILE_PROGRESS progress;
	uint32_t error_hr;   /* a snapshot's: the error it was made for, or 0 */
};

static struct file *impl_from_file(IBackgroundCopyFile5 *iface)
{
	return CONTAINING_RECORD(iface, struct file, IBackgroundCopyFile5_iface);
}

/* DO lists File, File2 and File5; File3 and File4 are not documented for
 * it (their methods are on the vtable because File5 derives from them). */
static HRESULT STDMETHODCALLTYPE file_qi(IBackgroundCopyFile5 *iface, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyFile) ||
	    IsEqualGUID(riid, &IID_IBackgroundCopyFile2) ||
	    IsEqualGUID(riid, &IID_IBackgroundCopyFile5)) {
		*out = iface;
		IBackgroundCopyFile5_AddRef(iface);
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE file_addref(IBackgroundCopyFile5 *iface)
{
	return InterlockedIncrement(&impl_from_file(iface)->refs);
}

static ULONG STDMETHODCALLTYPE file_release(IBackgroundCopyFile5 *iface)
{
	struct file *f = impl_from_file(iface);
	LONG r = InterlockedDecrement(&f->refs);

	if (r == 0) {
		dob_free(f->url);
		dob_free(f->local);
		dob_free(f);
		server_unlock();
	}
	return r;
}

static HRESULT STDMETHODCALLTYPE file_remote(IBackgroundCopyFile5 *iface, LPWSTR *out)
{
	if (!out)
		return E_INVALIDARG;
	return dup_out(impl_from_file(iface)->url, out);
}

static HRESULT STDMETHODCALLTYPE file_local(IBackgroundCopyFile5 *iface, LPWSTR *out)
{
	if (!out)
		return E_INVALIDARG;
	return dup_out(impl_from_file(iface)->local, out);
}

/* The file's progress now (a snapshot's as it was made). */
static HRESULT progress_now(struct file *f, BG_FILE_PROGRESS *out)
{
	struct sim_file_info *fi;
	struct dob_guid id;
	size_t n;

	*out = f->progress;
	if (f->index == SIZE_MAX)
		return S_OK;
	emu_guid_to_dob(&f->job, &id);
	if (model_files(&id, &fi, &n) < 0)
		return DO_E_JOB_NOT_FOUND;
	if (f->index < n) {
		out->BytesTotal = fi[f->index].size;
		out->BytesTransferred = fi[f->index].done;
		out->Completed = fi[f->index].completed;
	}
	sim_file_info_free(fi, n);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE file_progress(IBackgroundCopyFile5 *iface, BG_FILE_PROGRESS *out)
{
	if (!out)
		return E_INVALIDARG;
	return progress_now(impl_from_file(iface), out);
}

static HRESULT STDMETHODCALLTYPE file_ranges(IBackgroundCopyFile5 *iface, DWORD *count,
					     BG_FILE_RANGE **ranges)
{
	struct file *f = impl_from_file(iface);

	if (!count || !ranges)
		return E_INVALIDARG;
	if (f->index == SIZE_MAX) {
		*count = 0;
		*ranges = NULL;
		return S_FALSE;
	}
	return ejob_ranges(&f->job, f->index, count, ranges);
}

/* Not implemented by the emulator (docs/do-emulator.md): DO restarts or
 * continues the file from another server, which the model does not have. */
static HRESULT STDMETHODCALLTYPE file_set_remote(IBackgroundCopyFile5 *iface, LPCWSTR url)
{
	return E_NOTIMPL;
}

/* IBackgroundCopyFile3 and 4: not documented for DO. */
static HRESULT STDMETHODCALLTYPE f3_temp_name(IBackgroundCopyFile5 *i, LPWSTR *n) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE f3_set_valid(IBackgroundCopyFile5 *i, WINBOOL s) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE f3_get_valid(IBackgroundCopyFile5 *i, WINBOOL *s) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE f3_from_peer(IBackgroundCopyFile5 *i, WINBOOL *v) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE f4_peer_stats(IBackgroundCopyFile5 *i, UINT64 *o, UINT64 *p) { return E_NOTIMPL; }

static const char *reason_phrase(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 407: return "Proxy Authentication Required";
	case 416: return "Range Not Satisfiable";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

/* The HTTP status of an error code (BG_E_HTTP_ERROR_xxx = 0x80190000 |
 * status), or 0 when the error is not an HTTP answer. */
static unsigned http_status_of(uint32_t hr)
{
	return (hr & 0xFFFF0000u) == 0x80190000u && (hr & 0xFFFFu) >= 100 && (hr & 0xFFFFu) < 600
		       ? hr & 0xFFFFu
		       : 0;
}

/* The headers of the file's last HTTP response, as the emulator makes them
 * up (it transfers nothing): the error's status when the job failed on
 * this file with an HTTP error, 200 (206 with ranges) once bytes came,
 * else none yet (""). dob_malloc'd. */
static char *response_headers(struct file *f)
{
	char buf[256];
	unsigned status = http_status_of(f->error_hr);
	BG_FILE_PROGRESS p;
	uint64_t length = 0;

	if (f->index != SIZE_MAX) {
		struct model_answer a;
		struct dob_guid id;

		emu_guid_to_dob(&f->job, &id);
		model_query(&id, &a);
		if (SUCCEEDED(model_hr(&a)) && a.has_job &&
		    (a.job.info.state == DOB_STATE_ERROR ||
		     a.job.info.state == DOB_STATE_TRANSIENT_ERROR) &&
		    (!a.job.error.has_file || !a.job.error.file.remote_url ||
		     !strcmp(a.job.error.file.remote_url, f->url)))
			status = http_status_of(a.job.error.hresult);
		model_answer_clear(&a);
	}
	if (!status && SUCCEEDED(progress_now(f, &p)) && (p.BytesTransferred > 0 || p.Completed)) {
		DWORD n = 0;
		BG_FILE_RANGE *r = NULL;

		status = 200;
		length = p.BytesTotal;
		if (f->index != SIZE_MAX && ejob_ranges(&f->job, f->index, &n, &r) == S_OK && n)
			status = 206;
		CoTaskMemFree(r);
	}
	if (!status)
		return dob_strdup("");
	snprintf(buf, sizeof(buf), "HTTP/1.1 %u %s\r\nContent-Length: %llu\r\nServer: doemu\r\n\r\n",
		 status, reason_phrase(status), (unsigned long long)length);
	return dob_strdup(buf);
}

/* File5: DO supports BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS, which the
 * service writes and a client only reads. The value is the SDK's
 * BITS_FILE_PROPERTY_VALUE, whose one member is this string (doemu.idl). */
static HRESULT STDMETHODCALLTYPE file_set_property(IBackgroundCopyFile5 *iface,
						   BITS_FILE_PROPERTY_ID id, WCHAR *v)
{
	if (id == BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS)
		return DO_E_READ_ONLY_PROPERTY;
	return DO_E_UNKNOWN_PROPERTY_ID;
}

static HRESULT STDMETHODCALLTYPE file_get_property(IBackgroundCopyFile5 *iface,
						   BITS_FILE_PROPERTY_ID id,
						   DOEMU_FILE_PROPERTY_OUT *v)
{
	char *h;
	HRESULT hr;

	if (!v)
		return E_INVALIDARG;
	v->String = NULL;
	if (id != BITS_FILE_PROPERTY_ID_HTTP_RESPONSE_HEADERS)
		return DO_E_UNKNOWN_PROPERTY_ID;
	if (!(h = response_headers(impl_from_file(iface))))
		return E_OUTOFMEMORY;
	hr = dup_out(h, &v->String);
	log_debug("file: GetProperty(HTTP_RESPONSE_HEADERS): %lu characters", (unsigned long)strlen(h));
	dob_free(h);
	return hr;
}

static const IBackgroundCopyFile5Vtbl file_vtbl = {
	file_qi, file_addref, file_release, file_remote, file_local, file_progress,
	file_ranges, file_set_remote,
	f3_temp_name, f3_set_valid, f3_get_valid, f3_from_peer, f4_peer_stats,
	file_set_property, file_get_property,
};

static HRESULT file_create(const GUID *job, size_t index, const char *url, const char *local,
			   uint64_t size, uint64_t done, bool completed, uint32_t error_hr,
			   IBackgroundCopyFile **out)
{
	struct file *f = dob_calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return E_OUTOFMEMORY;
	f->IBackgroundCopyFile5_iface.lpVtbl = &file_vtbl;
	f->refs = 1;
	f->job = *job;
	f->index = index;
	f->url = dob_strdup(url ? url : "");
	f->local = dob_strdup(local ? local : "");
	f->progress.BytesTotal = size;
	f->progress.BytesTransferred = done;
	f->progress.Completed = completed;
	f->error_hr = error_hr;
	server_lock();
	if (!f->url || !f->local) {
		file_release(&f->IBackgroundCopyFile5_iface);
		return E_OUTOFMEMORY;
	}
	*out = (IBackgroundCopyFile *)&f->IBackgroundCopyFile5_iface;
	return S_OK;
}

/* ------------------------------------------------------------ IEnumBackgroundCopyFiles */

struct files_enum {
	IEnumBackgroundCopyFiles IEnumBackgroundCopyFiles_iface;
	LONG refs;
	ULONG n, pos;
	IBackgroundCopyFile **files; /* owned references */
};

static struct files_enum *impl_from_enum(IEnumBackgroundCopyFiles *iface)
{
	return CONTAINING_RECORD(iface, struct files_enum, IEnumBackgroundCopyFiles_iface);
}

static HRESULT STDMETHODCALLTYPE enum_qi(IEnumBackgroundCopyFiles *iface, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IEnumBackgroundCopyFiles)) {
		*out = iface;
		IEnumBackgroundCopyFiles_AddRef(iface);
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE enum_addref(IEnumBackgroundCopyFiles *iface)
{
	return InterlockedIncrement(&impl_from_enum(iface)->refs);
}

static ULONG STDMETHODCALLTYPE enum_release(IEnumBackgroundCopyFiles *iface)
{
	struct files_enum *e = impl_from_enum(iface);
	LONG r = InterlockedDecrement(&e->refs);

	if (r == 0) {
		for (ULONG i = 0; i < e->n; i++)
			if (e->files[i])
				IBackgroundCopyFile_Release(e->files[i]);
		dob_free(e->files);
		dob_free(e);
		server_unlock();
	}
	return r;
}

static HRESULT STDMETHODCALLTYPE enum_next(IEnumBackgroundCopyFiles *iface, ULONG celt,
					   IBackgroundCopyFile **out, ULONG *fetched)
{
	struct files_enum *e = impl_from_enum(iface);
	ULONG got = 0;

	if (!out || (celt > 1 && !fetched))
		return E_INVALIDARG;
	while (got < celt && e->pos < e->n) {
		out[got] = e->files[e->pos++];
		IBackgroundCopyFile_AddRef(out[got]);
		got++;
	}
	if (fetched)
		*fetched = got;
	return got == celt ? S_OK : S_FALSE;
}

static HRESULT STDMETHODCALLTYPE enum_skip(IEnumBackgroundCopyFiles *iface, ULONG celt)
{
	struct files_enum *e = impl_from_enum(iface);
	ULONG left = e->n - e->pos;

	if (celt > left) {
		e->pos = e->n;
		return S_FALSE;
	}
	e->pos += celt;
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE enum_reset(IEnumBackgroundCopyFiles *iface)
{
	impl_from_enum(iface)->pos = 0;
	return S_OK;
}

/* DO lists GetCount, Next, Reset and Skip; Clone is not documented. */
static HRESULT STDMETHODCALLTYPE enum_clone(IEnumBackgroundCopyFiles *iface,
					    IEnumBackgroundCopyFiles **out)
{
	if (out)
		*out = NULL;
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE enum_count(IEnumBackgroundCopyFiles *iface, ULONG *out)
{
	if (!out)
		return E_INVALIDARG;
	*out = impl_from_enum(iface)->n;
	return S_OK;
}

static const IEnumBackgroundCopyFilesVtbl enum_vtbl = {
	enum_qi, enum_addref, enum_release, enum_next, enum_skip, enum_reset, enum_clone, enum_count,
};

/* ------------------------------------------------------------ IBackgroundCopyError */

struct error {
	IBackgroundCopyError IBackgroundCopyError_iface;
	LONG refs;
	GUID job;
	struct dob_error_info e; /* owned copy */
};

static struct error *impl_from_error(IBackgroundCopyError *iface)
{
	return CONTAINING_RECORD(iface, struct error, IBackgroundCopyError_iface);
}

static HRESULT STDMETHODCALLTYPE error_qi(IBackgroundCopyError *iface, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyError)) {
		*out = iface;
		IBackgroundCopyError_AddRef(iface);
		return S_OK;
	}
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE error_addref(IBackgroundCopyError *iface)
{
	return InterlockedIncrement(&impl_from_error(iface)->refs);
}

static ULONG STDMETHODCALLTYPE error_release(IBackgroundCopyError *iface)
{
	struct error *e = impl_from_error(iface);
	LONG r = InterlockedDecrement(&e->refs);

	if (r == 0) {
		dob_error_info_clear(&e->e);
		dob_free(e);
		server_unlock();
	}
	return r;
}

static HRESULT STDMETHODCALLTYPE error_get(IBackgroundCopyError *iface, BG_ERROR_CONTEXT *ctx,
					   HRESULT *code)
{
	struct error *e = impl_from_error(iface);

	if (!ctx || !code)
		return E_INVALIDARG;
	*ctx = (BG_ERROR_CONTEXT)e->e.context;
	*code = (HRESULT)e->e.hresult;
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE error_file(IBackgroundCopyError *iface, IBackgroundCopyFile **out)
{
	struct error *e = impl_from_error(iface);

	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	if (!e->e.has_file)
		return DO_E_FILE_NOT_AVAILABLE;
	return file_create(&e->job, SIZE_MAX, e->e.file.remote_url, e->e.file.local_name,
			   e->e.file.progress.bytes_total, e->e.file.progress.bytes_transferred,
			   false, e->e.hresult, out);
}

static HRESULT STDMETHODCALLTYPE error_desc(IBackgroundCopyError *iface, DWORD lang, LPWSTR *out)
{
	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	if (lang == 0)
		return E_INVALIDARG; /* BITS's rule */
	return dup_out(impl_from_error(iface)->e.description, out);
}

static HRESULT STDMETHODCALLTYPE error_ctx_desc(IBackgroundCopyError *iface, DWORD lang,
						LPWSTR *out)
{
	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	if (lang == 0)
		return E_INVALIDARG;
	return dup_out(impl_from_error(iface)->e.context_description, out);
}

static HRESULT STDMETHODCALLTYPE error_protocol(IBackgroundCopyError *iface, LPWSTR *out)
{
	struct error *e = impl_from_error(iface);

	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	if (!e->e.protocol || !e->e.protocol[0])
		return (HRESULT)0x80200005L; /* BG_E_PROTOCOL_NOT_AVAILABLE */
	return dup_out(e->e.protocol, out);
}

static const IBackgroundCopyErrorVtbl error_vtbl = {
	error_qi, error_addref, error_release, error_get, error_file, error_desc, error_ctx_desc,
	error_protocol,
};

HRESULT error_create(const struct backend_job *snap, IBackgroundCopyError **out)
{
	struct error *e = dob_calloc(1, sizeof(*e));

	*out = NULL;
	if (!e)
		return E_OUTOFMEMORY;
	e->IBackgroundCopyError_iface.lpVtbl = &error_vtbl;
	e->refs = 1;
	emu_dob_to_guid(&snap->info.job_id, &e->job);
	server_lock();
	if (dob_error_info_copy(&e->e, &snap->error) < 0) {
		error_release(&e->IBackgroundCopyError_iface);
		return E_OUTOFMEMORY;
	}
	*out = &e->IBackgroundCopyError_iface;
	return S_OK;
}

/* ------------------------------------------------------------ IBackgroundCopyJob5 */

struct job {
	IBackgroundCopyJob5 IBackgroundCopyJob5_iface;
	IDeliveryOptimizationJob IDeliveryOptimizationJob_iface;
	LONG refs;
	GUID id;
	struct dob_guid did;
};

static struct job *impl_from_job(IBackgroundCopyJob5 *iface)
{
	return CONTAINING_RECORD(iface, struct job, IBackgroundCopyJob5_iface);
}

static HRESULT STDMETHODCALLTYPE job_qi(IBackgroundCopyJob5 *iface, REFIID riid, void **out)
{
	struct job *j = impl_from_job(iface);

	*out = NULL;
	/* DO lists Job and Job5, not Job2/3/4. */
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyJob) ||
	    IsEqualGUID(riid, &IID_IBackgroundCopyJob5))
		*out = &j->IBackgroundCopyJob5_iface;
	else if (IsEqualGUID(riid, &IID_IDeliveryOptimizationJob))
		*out = &j->IDeliveryOptimizationJob_iface;
	else
		return E_NOINTERFACE;
	InterlockedIncrement(&j->refs);
	return S_OK;
}

static ULONG STDMETHODCALLTYPE job_addref(IBackgroundCopyJob5 *iface)
{
	return InterlockedIncrement(&impl_from_job(iface)->refs);
}

static ULONG STDMETHODCALLTYPE job_release(IBackgroundCopyJob5 *iface)
{
	struct job *j = impl_from_job(iface);
	LONG r = InterlockedDecrement(&j->refs);

	if (r == 0) {
		dob_free(j);
		server_unlock();
	}
	return r;
}

/* The job as the model has it now; fails with the COM error. */
static HRESULT read_job(struct job *j, struct model_answer *a)
{
	HRESULT hr;

	model_query(&j->did, a);
	hr = model_hr(a);
	if (FAILED(hr) || !a->has_job) {
		model_answer_clear(a);
		return FAILED(hr) ? hr : E_FAIL;
	}
	return S_OK;
}

static HRESULT act(struct job *j, enum dob_action action)
{
	struct model_answer a;
	char gs[DOB_GUID_STR_LEN];
	HRESULT hr;

	model_act(&j->did, action, &a);
	hr = model_hr(&a);
	dob_guid_format(&j->did, gs);
	log_info("job %s: %s: 0x%08lX%s%s", gs, dob_action_name(action), (unsigned long)hr,
		 a.has_job ? ", now " : "", a.has_job ? dob_state_name(a.job.info.state) : "");
	model_answer_clear(&a);
	return hr;
}

/* Not documented for DO: E_NOTIMPL. */
static HRESULT STDMETHODCALLTYPE job_add_file_set(IBackgroundCopyJob5 *iface, ULONG n,
						  BG_FILE_INFO *set)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_add_file(IBackgroundCopyJob5 *iface, LPCWSTR url,
					      LPCWSTR local)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_enum_files(IBackgroundCopyJob5 *iface,
						IEnumBackgroundCopyFiles **out)
{
	struct job *j = impl_from_job(iface);
	struct sim_file_info *fi = NULL;
	struct files_enum *e;
	size_t n = 0;
	HRESULT hr = S_OK;

	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	if (model_files(&j->did, &fi, &n) < 0)
		return DO_E_JOB_NOT_FOUND;
	e = dob_calloc(1, sizeof(*e));
	if (!e || (n && !(e->files = dob_calloc(n, sizeof(*e->files))))) {
		dob_free(e);
		sim_file_info_free(fi, n);
		return E_OUTOFMEMORY;
	}
	e->IEnumBackgroundCopyFiles_iface.lpVtbl = &enum_vtbl;
	e->refs = 1;
	server_lock();
	for (size_t i = 0; i < n && SUCCEEDED(hr); i++) {
		hr = file_create(&j->id, i, fi[i].url, fi[i].local, fi[i].size, fi[i].done,
				 fi[i].completed, 0, &e->files[i]);
		e->n = (ULONG)i + (SUCCEEDED(hr) ? 1 : 0);
	}
	sim_file_info_free(fi, n);
	if (FAILED(hr)) {
		enum_release(&e->IEnumBackgroundCopyFiles_iface);
		return hr;
	}
	*out = &e->IEnumBackgroundCopyFiles_iface;
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_suspend(IBackgroundCopyJob5 *iface)
{
	return act(impl_from_job(iface), DOB_ACTION_SUSPEND);
}

static HRESULT STDMETHODCALLTYPE job_resume(IBackgroundCopyJob5 *iface)
{
	return act(impl_from_job(iface), DOB_ACTION_RESUME);
}

static HRESULT STDMETHODCALLTYPE job_cancel(IBackgroundCopyJob5 *iface)
{
	return act(impl_from_job(iface), DOB_ACTION_CANCEL);
}

static HRESULT STDMETHODCALLTYPE job_complete(IBackgroundCopyJob5 *iface)
{
	return act(impl_from_job(iface), DOB_ACTION_COMPLETE);
}

static HRESULT STDMETHODCALLTYPE job_get_id(IBackgroundCopyJob5 *iface, GUID *out)
{
	if (!out)
		return E_INVALIDARG;
	*out = impl_from_job(iface)->id;
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_get_type(IBackgroundCopyJob5 *iface, BG_JOB_TYPE *out)
{
	struct model_answer a;
	HRESULT hr;

	if (!out)
		return E_INVALIDARG;
	hr = read_job(impl_from_job(iface), &a);
	if (SUCCEEDED(hr))
		*out = (BG_JOB_TYPE)a.job.info.type;
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_get_progress(IBackgroundCopyJob5 *iface,
						  BG_JOB_PROGRESS *out)
{
	struct model_answer a;
	HRESULT hr;

	if (!out)
		return E_INVALIDARG;
	hr = read_job(impl_from_job(iface), &a);
	if (SUCCEEDED(hr)) {
		out->BytesTotal = a.job.info.progress.bytes_total;
		out->BytesTransferred = a.job.info.progress.bytes_transferred;
		out->FilesTotal = a.job.info.progress.files_total;
		out->FilesTransferred = a.job.info.progress.files_transferred;
	}
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_get_times(IBackgroundCopyJob5 *iface, BG_JOB_TIMES *out)
{
	struct model_answer a;
	HRESULT hr;

	if (!out)
		return E_INVALIDARG;
	hr = read_job(impl_from_job(iface), &a);
	if (SUCCEEDED(hr)) {
		emu_filetime(a.job.info.times.creation_us, &out->CreationTime);
		emu_filetime(a.job.info.times.modification_us, &out->ModificationTime);
		emu_filetime(a.job.info.times.transfer_completion_us, &out->TransferCompletionTime);
	}
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_get_state(IBackgroundCopyJob5 *iface, BG_JOB_STATE *out)
{
	struct model_answer a;
	HRESULT hr;

	if (!out)
		return E_INVALIDARG;
	hr = read_job(impl_from_job(iface), &a);
	if (SUCCEEDED(hr))
		*out = (BG_JOB_STATE)a.job.info.state;
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_get_error(IBackgroundCopyJob5 *iface,
					       IBackgroundCopyError **out)
{
	struct model_answer a;
	HRESULT hr;

	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	hr = read_job(impl_from_job(iface), &a);
	if (FAILED(hr))
		return hr;
	if (!a.job.has_error || (a.job.info.state != DOB_STATE_ERROR &&
				 a.job.info.state != DOB_STATE_TRANSIENT_ERROR))
		hr = DO_E_ERROR_INFORMATION_UNAVAILABLE;
	else
		hr = error_create(&a.job, out);
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_get_owner(IBackgroundCopyJob5 *iface, LPWSTR *out)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_set_display_name(IBackgroundCopyJob5 *iface, LPCWSTR v)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_get_display_name(IBackgroundCopyJob5 *iface, LPWSTR *out)
{
	struct model_answer a;
	HRESULT hr;

	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	hr = read_job(impl_from_job(iface), &a);
	if (SUCCEEDED(hr))
		hr = dup_out(a.job.info.display_name, out);
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_set_description(IBackgroundCopyJob5 *iface, LPCWSTR v)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_get_description(IBackgroundCopyJob5 *iface, LPWSTR *out)
{
	return E_NOTIMPL;
}

/* The job must exist and not be final: DO_E_INVALID_STATE otherwise. */
static HRESULT not_final(struct job *j)
{
	struct model_answer a;
	HRESULT hr = read_job(j, &a);

	if (SUCCEEDED(hr) && is_final(a.job.info.state))
		hr = DO_E_INVALID_STATE;
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_set_priority(IBackgroundCopyJob5 *iface, BG_JOB_PRIORITY v)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;
	HRESULT hr;

	if ((unsigned)v > BG_JOB_PRIORITY_LOW)
		return E_INVALIDARG;
	hr = not_final(j);
	if (FAILED(hr))
		return hr;
	ejob_props(&j->id, &p);
	p.priority = v;
	ejob_set_props(&j->id, &p);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_get_priority(IBackgroundCopyJob5 *iface, BG_JOB_PRIORITY *out)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;

	if (!out)
		return E_INVALIDARG;
	ejob_props(&j->id, &p);
	*out = p.priority;
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_set_notify_flags(IBackgroundCopyJob5 *iface, ULONG v)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;
	HRESULT hr;

	if (v & ~NOTIFY_KNOWN)
		return E_NOTIMPL; /* BITS's answer for unknown bits */
	hr = not_final(j);
	if (FAILED(hr))
		return hr;
	ejob_props(&j->id, &p);
	p.notify_flags = v;
	ejob_set_props(&j->id, &p);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_get_notify_flags(IBackgroundCopyJob5 *iface, ULONG *out)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;

	if (!out)
		return E_INVALIDARG;
	ejob_props(&j->id, &p);
	*out = p.notify_flags;
	return S_OK;
}

/* One callback per job, the last caller's; NULL removes it. The model is
 * told (attach), so a job already in ERROR or TRANSFERRED calls the new
 * callback at once (at-least-once delivery). */
static HRESULT STDMETHODCALLTYPE job_set_notify_interface(IBackgroundCopyJob5 *iface, IUnknown *v)
{
	struct job *j = impl_from_job(iface);
	IBackgroundCopyCallback *cb = NULL;
	struct model_answer a;
	HRESULT hr = not_final(j);

	if (FAILED(hr))
		return hr;
	if (v) {
		hr = IUnknown_QueryInterface(v, &IID_IBackgroundCopyCallback, (void **)&cb);
		if (FAILED(hr))
			return hr;
	}
	ejob_set_callback(&j->id, cb);
	if (cb)
		IBackgroundCopyCallback_Release(cb);
	{
		GUID clsid;
		IBackgroundCopyCallback *now = ejob_callback(&j->id, NULL, &clsid);

		if (now)
			IBackgroundCopyCallback_Release(now);
		/* NULL with a notification class: the model keeps watching. */
		if (cb || IsEqualGUID(&clsid, &GUID_NULL)) {
			model_attach(&j->did, cb != NULL, &a);
			hr = model_hr(&a);
			model_answer_clear(&a);
		}
	}
	{
		char gs[DOB_GUID_STR_LEN];

		dob_guid_format(&j->did, gs);
		log_info("job %s: SetNotifyInterface(%s): 0x%08lX", gs, cb ? "a callback" : "NULL",
			 (unsigned long)hr);
	}
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_get_notify_interface(IBackgroundCopyJob5 *iface,
							  IUnknown **out)
{
	struct job *j = impl_from_job(iface);
	IBackgroundCopyCallback *cb;
	HRESULT hr = S_OK;

	if (!out)
		return E_INVALIDARG;
	*out = NULL;
	cb = ejob_callback(&j->id, NULL, NULL);
	if (cb) {
		hr = IBackgroundCopyCallback_QueryInterface(cb, &IID_IUnknown, (void **)out);
		IBackgroundCopyCallback_Release(cb);
	}
	return hr;
}

static HRESULT STDMETHODCALLTYPE job_set_min_retry(IBackgroundCopyJob5 *iface, ULONG s)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_get_min_retry(IBackgroundCopyJob5 *iface, ULONG *s)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_set_no_progress(IBackgroundCopyJob5 *iface, ULONG s)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;
	HRESULT hr = not_final(j);

	if (FAILED(hr))
		return hr;
	ejob_props(&j->id, &p);
	p.no_progress_timeout = s;
	ejob_set_props(&j->id, &p);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_get_no_progress(IBackgroundCopyJob5 *iface, ULONG *s)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;

	if (!s)
		return E_INVALIDARG;
	ejob_props(&j->id, &p);
	*s = p.no_progress_timeout;
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE job_get_error_count(IBackgroundCopyJob5 *iface, ULONG *n)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_set_proxy(IBackgroundCopyJob5 *iface, BG_JOB_PROXY_USAGE u,
					       const WCHAR *list, const WCHAR *bypass)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_get_proxy(IBackgroundCopyJob5 *iface,
					       BG_JOB_PROXY_USAGE *u, LPWSTR *list, LPWSTR *bypass)
{
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE job_take_ownership(IBackgroundCopyJob5 *iface)
{
	return E_NOTIMPL;
}

/* IBackgroundCopyJob2, 3 and 4: DO documents none of them (the vtable
 * carries them because Job5 derives from Job4; QI refuses Job2/3/4). */
static HRESULT STDMETHODCALLTYPE j2_set_cmd(IBackgroundCopyJob5 *i, LPCWSTR p, LPCWSTR a) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_get_cmd(IBackgroundCopyJob5 *i, LPWSTR *p, LPWSTR *a) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_reply_progress(IBackgroundCopyJob5 *i, BG_JOB_REPLY_PROGRESS *p) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_reply_data(IBackgroundCopyJob5 *i, byte **b, UINT64 *n) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_set_reply_name(IBackgroundCopyJob5 *i, LPCWSTR f) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_get_reply_name(IBackgroundCopyJob5 *i, LPWSTR *f) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_set_cred(IBackgroundCopyJob5 *i, BG_AUTH_CREDENTIALS *c) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j2_remove_cred(IBackgroundCopyJob5 *i, BG_AUTH_TARGET t, BG_AUTH_SCHEME s) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j3_replace_prefix(IBackgroundCopyJob5 *i, LPCWSTR o, LPCWSTR n) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j3_add_ranges(IBackgroundCopyJob5 *i, LPCWSTR u, LPCWSTR l, DWORD n, BG_FILE_RANGE r[]) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j3_set_acl(IBackgroundCopyJob5 *i, DWORD f) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j3_get_acl(IBackgroundCopyJob5 *i, DWORD *f) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j4_set_peer(IBackgroundCopyJob5 *i, DWORD f) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j4_get_peer(IBackgroundCopyJob5 *i, DWORD *f) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j4_integrity(IBackgroundCopyJob5 *i, ULONG *l) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j4_elevation(IBackgroundCopyJob5 *i, WINBOOL *e) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j4_set_max_time(IBackgroundCopyJob5 *i, ULONG t) { return E_NOTIMPL; }
static HRESULT STDMETHODCALLTYPE j4_get_max_time(IBackgroundCopyJob5 *i, ULONG *t) { return E_NOTIMPL; }

/* Job5: DO supports COST_FLAGS (1) and NOTIFICATION_CLSID (2) only; the
 * other ids BITS defines are "not supported" (DO_E_UNKNOWN_PROPERTY_ID).
 * A job with a notification class is watched by the model even without a
 * callback, so its JobError activates the class (notify.c). */
static HRESULT STDMETHODCALLTYPE job_set_property(IBackgroundCopyJob5 *iface, BITS_JOB_PROPERTY_ID id,
						  BITS_JOB_PROPERTY_VALUE v)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;
	char gs[DOB_GUID_STR_LEN];
	bool had, has;
	HRESULT hr = not_final(j);

	if (FAILED(hr))
		return hr;
	dob_guid_format(&j->did, gs);
	ejob_props(&j->id, &p);
	switch ((int)id) {
	case BITS_JOB_PROPERTY_ID_COST_FLAGS:
		p.cost_flags = v.Dword;
		ejob_set_props(&j->id, &p);
		log_info("job %s: SetProperty(COST_FLAGS, 0x%08lX)", gs, (unsigned long)v.Dword);
		return S_OK;
	case BITS_JOB_PROPERTY_NOTIFICATION_CLSID:
		had = !IsEqualGUID(&p.notification_clsid, &GUID_NULL);
		has = !IsEqualGUID(&v.ClsID, &GUID_NULL);
		p.notification_clsid = v.ClsID;
		ejob_set_props(&j->id, &p);
		{
			WCHAR w[40];

			StringFromGUID2(&v.ClsID, w, 40);
			log_info("job %s: SetProperty(NOTIFICATION_CLSID, %ls)", gs, w);
		}
		if (had != has) {
			IBackgroundCopyCallback *cb = ejob_callback(&j->id, NULL, NULL);
			struct model_answer a;

			if (cb) { /* the model is watching it for the callback already */
				IBackgroundCopyCallback_Release(cb);
			} else {
				model_attach(&j->did, has, &a);
				model_answer_clear(&a);
			}
		}
		return S_OK;
	default:
		return DO_E_UNKNOWN_PROPERTY_ID;
	}
}

static HRESULT STDMETHODCALLTYPE job_get_property(IBackgroundCopyJob5 *iface, BITS_JOB_PROPERTY_ID id,
						  BITS_JOB_PROPERTY_VALUE *v)
{
	struct job *j = impl_from_job(iface);
	struct ejob_props p;

	if (!v)
		return E_INVALIDARG;
	ejob_props(&j->id, &p);
	memset(v, 0, sizeof(*v));
	switch ((int)id) {
	case BITS_JOB_PROPERTY_ID_COST_FLAGS:
		v->Dword = p.cost_flags;
		return S_OK;
	case BITS_JOB_PROPERTY_NOTIFICATION_CLSID:
		v->ClsID = p.notification_clsid;
		return S_OK;
	default:
		return DO_E_UNKNOWN_PROPERTY_ID;
	}
}

static const IBackgroundCopyJob5Vtbl job_vtbl = {
	job_qi, job_addref, job_release,
	job_add_file_set, job_add_file, job_enum_files, job_suspend, job_resume, job_cancel,
	job_complete, job_get_id, job_get_type, job_get_progress, job_get_times, job_get_state,
	job_get_error, job_get_owner, job_set_display_name, job_get_display_name,
	job_set_description, job_get_description, job_set_priority, job_get_priority,
	job_set_notify_flags, job_get_notify_flags, job_set_notify_interface,
	job_get_notify_interface, job_set_min_retry, job_get_min_retry, job_set_no_progress,
	job_get_no_progress, job_get_error_count, job_set_proxy, job_get_proxy, job_take_ownership,
	j2_set_cmd, j2_get_cmd, j2_reply_progress, j2_reply_data, j2_set_reply_name,
	j2_get_reply_name, j2_set_cred, j2_remove_cred,
	j3_replace_prefix, j3_add_ranges, j3_set_acl, j3_get_acl,
	j4_set_peer, j4_get_peer, j4_integrity, j4_elevation, j4_set_max_time, j4_get_max_time,
	job_set_property, job_get_property,
};

/* ------------------------------------------------------------ IDeliveryOptimizationJob */

static struct job *impl_from_dojob(IDeliveryOptimizationJob *iface)
{
	return CONTAINING_RECORD(iface, struct job, IDeliveryOptimizationJob_iface);
}

static HRESULT STDMETHODCALLTYPE dojob_qi(IDeliveryOptimizationJob *iface, REFIID riid, void **out)
{
	return job_qi(&impl_from_dojob(iface)->IBackgroundCopyJob5_iface, riid, out);
}

static ULONG STDMETHODCALLTYPE dojob_addref(IDeliveryOptimizationJob *iface)
{
	return job_addref(&impl_from_dojob(iface)->IBackgroundCopyJob5_iface);
}

static ULONG STDMETHODCALLTYPE dojob_release(IDeliveryOptimizationJob *iface)
{
	return job_release(&impl_from_dojob(iface)->IBackgroundCopyJob5_iface);
}

/* Ranges are checked as DO documents (sorted by offset, no overlap, no
 * BG_LENGTH_TO_EOF offset); the model transfers their total length. */
static HRESULT check_ranges(DWORD n, const BG_FILE_RANGE *r, ULONG64 file_size, uint64_t *total)
{
	*total = 0;
	for (DWORD i = 0; i < n; i++) {
		if (r[i].InitialOffset == BG_LENGTH_TO_EOF)
			return DO_E_INVALID_RANGE;
		if (i > 0) {
			const BG_FILE_RANGE *p = &r[i - 1];

			if (r[i].InitialOffset <= p->InitialOffset || p->Length == BG_LENGTH_TO_EOF ||
			    p->InitialOffset + p->Length > r[i].InitialOffset)
				return DO_E_OVERLAPPING_RANGES;
		}
		if (r[i].Length == BG_LENGTH_TO_EOF) {
			if (file_size == DOEMU_UNKNOWN_FILE_SIZE || file_size < r[i].InitialOffset) {
				*total = 0; /* unknown: the scenario's size */
				return S_OK;
			}
			*total += file_size - r[i].InitialOffset;
		} else {
			*total += r[i].Length;
		}
	}
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE dojob_add_file_with_ranges(IDeliveryOptimizationJob *iface,
							    LPCWSTR file_id, LPCWSTR url,
							    LPCWSTR local, DWORD n,
							    BG_FILE_RANGE ranges[], ULONG64 size)
{
	struct job *j = impl_from_dojob(iface);
	struct model_answer a;
	uint64_t total = 0;
	char *u8url = NULL, *u8local = NULL;
	HRESULT hr;

	if (!local || !local[0] || !url || !url[0] || (n && !ranges))
		return E_INVALIDARG;
	hr = check_ranges(n, ranges, size, &total);
	if (FAILED(hr))
		return hr;
	if (!n && size != DOEMU_UNKNOWN_FILE_SIZE)
		total = size;
	u8url = emu_utf8(url);
	u8local = emu_utf8(local);
	if (!u8url || !u8local) {
		dob_free(u8url);
		dob_free(u8local);
		return E_OUTOFMEMORY;
	}
	model_add_file(&j->did, u8url, u8local, total, &a);
	dob_free(u8url);
	dob_free(u8local);
	hr = model_hr(&a);
	if (SUCCEEDED(hr) && a.has_job && n && a.job.info.progress.files_total > 0)
		ejob_set_ranges(&j->id, a.job.info.progress.files_total - 1, ranges, n);
	model_answer_clear(&a);
	return hr;
}

static const IDeliveryOptimizationJobVtbl dojob_vtbl = {
	dojob_qi, dojob_addref, dojob_release, dojob_add_file_with_ranges,
};

HRESULT job_create(const GUID *id, IBackgroundCopyJob **out)
{
	struct job *j = dob_calloc(1, sizeof(*j));

	*out = NULL;
	if (!j)
		return E_OUTOFMEMORY;
	j->IBackgroundCopyJob5_iface.lpVtbl = &job_vtbl;
	j->IDeliveryOptimizationJob_iface.lpVtbl = &dojob_vtbl;
	j->refs = 1;
	j->id = *id;
	emu_guid_to_dob(id, &j->did);
	server_lock();
	*out = (IBackgroundCopyJob *)&j->IBackgroundCopyJob5_iface;
	return S_OK;
}

/* ------------------------------------------------------------ IBackgroundCopyManager */

static HRESULT STDMETHODCALLTYPE mgr_qi(IBackgroundCopyManager *iface, REFIID riid, void **out)
{
	*out = NULL;
	if (IsEqualGUID(riid, &IID_IUnknown) || IsEqualGUID(riid, &IID_IBackgroundCopyManager)) {
		*out = iface;
		return S_OK;
	}
	return E_NOINTERFACE;
}

/* One manager for the process, never freed (like Wine's qmgr). */
static ULONG STDMETHODCALLTYPE mgr_addref(IBackgroundCopyManager *iface)
{
	return 2;
}

static ULONG STDMETHODCALLTYPE mgr_release(IBackgroundCopyManager *iface)
{
	return 1;
}

static HRESULT STDMETHODCALLTYPE mgr_create_job(IBackgroundCopyManager *iface, LPCWSTR name,
						BG_JOB_TYPE type, GUID *id,
						IBackgroundCopyJob **out)
{
	struct model_answer a;
	char *u8;
	HRESULT hr;

	if (!out || !id)
		return E_INVALIDARG;
	*out = NULL;
	if (!name || wcslen(name) > MAX_NAME_CHARS)
		return E_INVALIDARG;
	if (type != BG_JOB_TYPE_DOWNLOAD)
		return E_INVALIDARG; /* DO defines only downloads */
	if (!(u8 = emu_utf8(name)))
		return E_OUTOFMEMORY;
	model_create(u8, DOB_JOB_DOWNLOAD, &a);
	dob_free(u8);
	hr = model_hr(&a);
	if (SUCCEEDED(hr) && a.has_job) {
		emu_dob_to_guid(&a.job.info.job_id, id);
		hr = job_create(id, out);
	} else if (SUCCEEDED(hr)) {
		hr = E_FAIL;
	}
	model_answer_clear(&a);
	return hr;
}

static HRESULT STDMETHODCALLTYPE mgr_get_job(IBackgroundCopyManager *iface, REFGUID id,
					     IBackgroundCopyJob **out)
{
	struct model_answer a;
	struct dob_guid d;
	HRESULT hr;

	if (!out || !id)
		return E_INVALIDARG;
	*out = NULL;
	emu_guid_to_dob(id, &d);
	model_query(&d, &a);
	hr = model_hr(&a);
	model_answer_clear(&a);
	if (FAILED(hr))
		return hr;
	return job_create(id, out);
}

/* Not documented for DO: the broker must keep its own job ids. */
static HRESULT STDMETHODCALLTYPE mgr_enum_jobs(IBackgroundCopyManager *iface, DWORD flags,
					       IEnumBackgroundCopyJobs **out)
{
	if (out)
		*out = NULL;
	return E_NOTIMPL;
}

static HRESULT STDMETHODCALLTYPE mgr_error_description(IBackgroundCopyManager *iface, HRESULT hr,
						       DWORD lang, LPWSTR *out)
{
	if (out)
		*out = NULL;
	return E_NOTIMPL;
}

static const IBackgroundCopyManagerVtbl mgr_vtbl = {
	mgr_qi, mgr_addref, mgr_release, mgr_create_job, mgr_get_job, mgr_enum_jobs,
	mgr_error_description,
};

static IBackgroundCopyManager manager = { &mgr_vtbl };

HRESULT manager_create(REFIID riid, void **out)
{
	return mgr_qi(&manager, riid, out);
}
