/*
 * broker/win32/backend_com.c - the "do" and "bits" backends: struct
 * backend_ops over the BITS COM interfaces, which DO serves unchanged behind
 * CLSID_DeliveryOptimization. One code path; the class differs, and so does
 * the way files are added (add_file).
 *
 * The loop thread only builds requests (strings converted to UTF-16, the
 * result message allocated up front so a result can always be posted) and
 * queues them; a request worker (MTA) makes the COM calls and posts the
 * result, which the loop delivers to sink->done (com_worker.c). Every request
 * opens the job afresh with GetJob: the backend keeps no job pointers, so
 * nothing goes stale when a job ends or the service restarts. The manager
 * proxy is shared by the workers and re-created once when the service went
 * away (RPC_E_DISCONNECTED and friends).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "win32/com.h"
#include "win32/com_class.h"
#include "win32/do_guids.h"
#include "win32/win.h"

#include <bits5_0.h>

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"

#define PROBE_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 10000
#define NOTIFY_ALL (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR | BG_NOTIFY_JOB_MODIFICATION)
#define NOTIFY_NO_MODIFICATION (BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR)
#define DO_E_INVALID_RANGE ((HRESULT)0x80D05010L)

struct impl {
	volatile LONG refs;           /* the backend's, and one per queued request */
	enum dob_backend kind;
	const CLSID *clsid;           /* borrowed: the class of kind */
	const char *service;          /* "DO" or "BITS", for messages */
	struct com_pool *pool;        /* owned reference */
	IBackgroundCopyCallback2 *cb; /* owned reference: our callback object */
	SRWLOCK mgr_lock;             /* protects mgr */
	IBackgroundCopyManager *mgr;  /* owned MTA proxy; NULL until (re)connected */
	struct win_backend_info info;
	volatile LONG add_path_logged;
	/* The jobs our callback is registered on, to register it again when
	 * the service comes back (a restarted service forgot every callback). */
	SRWLOCK known_lock;           /* protects known, n_known, cap_known, service_lost */
	GUID *known;                  /* owned array */
	size_t n_known, cap_known;
	bool service_lost;            /* the manager was dropped: reattach on reconnect */
	bool try_do, try_bits;        /* what the constructor was asked for */
	CLSID do_clsid;               /* DO's class, or the one "do:{GUID}" named */
	bool stopped;
	/* --com-server (com_class.h): our class object, and the jobs whose
	 * notification class we set, with the one an adopted job had. */
	DWORD class_cookie;           /* 0: not registered */
	volatile LONG no_job5;        /* the service has no IBackgroundCopyJob5 */
	struct notify_class *nc;      /* owned array; under known_lock */
	size_t n_nc, cap_nc;
};

struct notify_class {
	GUID job;
	CLSID previous;               /* GUID_NULL: the job had none */
};

static void impl_unref(struct impl *im)
{
	if (!im || InterlockedDecrement(&im->refs) != 0)
		return;
	if (im->mgr)
		/* Only when a request reconnected after stop() let go of the
		 * manager; releasing a proxy here (maybe not in the MTA) is not
		 * allowed, and the process is on its way out. */
		log_debug("%s: manager proxy left unreleased at exit", im->service);
	if (im->cb)
		IBackgroundCopyCallback2_Release(im->cb);
	com_pool_unref(im->pool);
	dob_free(im->known);
	dob_free(im->nc);
	dob_free(im);
}

/* ------------------------------------------------------------ results */

static void set_message(struct backend_result *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dob_free(r->message);
	r->message = dob_strdup(buf);
}

/* The result of a failed step: "step: 0x80070057 E_INVALIDARG". */
static void step_failed(struct backend_result *r, int err, HRESULT hr, const char *step)
{
	const char *name = backend_hresult_name((uint32_t)hr);

	r->err = err;
	r->hresult = (uint32_t)hr;
	set_message(r, "%s: 0x%08lX%s%s", step, (unsigned long)hr, name ? " " : "", name ? name : "");
}

static void read_into(struct backend_result *r, IBackgroundCopyJob *job)
{
	backend_job_clear(&r->job);
	if (com_read_job(job, NULL, true, &r->job, NULL, NULL) < 0)
		log_warn("com: out of memory while reading a job; some fields are missing");
	r->has_job = true;
}

/* ------------------------------------------------------------ the manager */

static bool service_gone(HRESULT hr)
{
	return hr == RPC_E_DISCONNECTED || hr == RPC_E_SERVER_DIED || hr == RPC_E_SERVER_DIED_DNE ||
	       hr == CO_E_OBJNOTCONNECTED || hr == HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE) ||
	       hr == HRESULT_FROM_WIN32(RPC_S_CALL_FAILED);
}

static void reattach_all(struct impl *im, IBackgroundCopyManager *m);

/* An AddRef'd manager (connecting when there is none). */
static HRESULT get_manager(struct impl *im, IBackgroundCopyManager **out)
{
	IBackgroundCopyManager *m;

	AcquireSRWLockShared(&im->mgr_lock);
	m = im->mgr;
	if (m)
		IBackgroundCopyManager_AddRef(m);
	ReleaseSRWLockShared(&im->mgr_lock);
	if (!m) {
		HRESULT hr = CoCreateInstance(im->clsid, NULL, CLSCTX_LOCAL_SERVER,
					      &IID_IBackgroundCopyManager, (void **)&m);
		if (FAILED(hr))
			return hr;
		com_hold_rem_unknown((IUnknown *)m); /* Wine 8's release race (com.h) */
		log_info("%s: connected to the service", im->service);
		AcquireSRWLockExclusive(&im->mgr_lock);
		if (!im->mgr) {
			im->mgr = m;
			IBackgroundCopyManager_AddRef(m);
		}
		ReleaseSRWLockExclusive(&im->mgr_lock);
		reattach_all(im, m);
	}
	*out = m;
	return S_OK;
}

/* The service went away: forget m (when it is still the shared one). */
static void drop_manager(struct impl *im, IBackgroundCopyManager *m, HRESULT why)
{
	bool mine = false;

	AcquireSRWLockExclusive(&im->mgr_lock);
	if (im->mgr == m) {
		im->mgr = NULL;
		mine = true;
	}
	ReleaseSRWLockExclusive(&im->mgr_lock);
	if (mine) {
		log_warn("%s: the service went away (0x%08lX); reconnecting", im->service,
			 (unsigned long)why);
		AcquireSRWLockExclusive(&im->known_lock);
		im->service_lost = true;
		ReleaseSRWLockExclusive(&im->known_lock);
		IBackgroundCopyManager_Release(m);
	}
}

/* A call on a job failed: when the service went away, forget the manager
 * so the next request reconnects (and registers our callback again). */
static void check_gone(struct impl *im, HRESULT hr)
{
	IBackgroundCopyManager *m;

	if (!service_gone(hr))
		return;
	AcquireSRWLockShared(&im->mgr_lock);
	m = im->mgr;
	if (m)
		IBackgroundCopyManager_AddRef(m);
	ReleaseSRWLockShared(&im->mgr_lock);
	if (m) {
		drop_manager(im, m, hr);
		IBackgroundCopyManager_Release(m);
	}
}

static void known_set(struct impl *im, const GUID *id, bool on)
{
	AcquireSRWLockExclusive(&im->known_lock);
	size_t i = 0;
	while (i < im->n_known && !IsEqualGUID(&im->known[i], id))
		i++;
	if (on && i == im->n_known) {
		if (im->n_known == im->cap_known) {
			size_t cap = im->cap_known ? 2 * im->cap_known : 16;
			GUID *k = dob_realloc(im->known, cap * sizeof(*k));
			if (k) {
				im->known = k;
				im->cap_known = cap;
			}
		}
		if (im->n_known < im->cap_known)
			im->known[im->n_known++] = *id;
		else
			log_warn("%s: out of memory: a job will not get its callback back after a "
				 "service restart (the sweep still reads it)", im->service);
	} else if (!on && i < im->n_known) {
		im->known[i] = im->known[--im->n_known];
	}
	ReleaseSRWLockExclusive(&im->known_lock);
}

static HRESULT register_callback(struct impl *im, IBackgroundCopyJob *job, const char **step);

/* The service is back after it went away: it forgot our callbacks (they are
 * not persisted), so register ours on every job again, then ask the core to
 * reconcile every job (BACKEND_EV_MISSED): a JobError the dead service
 * could not deliver is found by reading the state. On a request worker. */
static void reattach_all(struct impl *im, IBackgroundCopyManager *m)
{
	GUID *ids = NULL;
	size_t n = 0, ok = 0;

	AcquireSRWLockExclusive(&im->known_lock);
	if (im->service_lost && im->n_known &&
	    (ids = dob_malloc(im->n_known * sizeof(*ids)))) {
		n = im->n_known;
		memcpy(ids, im->known, n * sizeof(*ids));
	}
	bool lost = im->service_lost;
	im->service_lost = false;
	ReleaseSRWLockExclusive(&im->known_lock);
	if (!lost)
		return;
	for (size_t i = 0; i < n; i++) {
		IBackgroundCopyJob *job = NULL;
		const char *step;

		if (SUCCEEDED(IBackgroundCopyManager_GetJob(m, &ids[i], &job)) && job) {
			if (SUCCEEDED(register_callback(im, job, &step)))
				ok++;
			IBackgroundCopyJob_Release(job);
		}
	}
	dob_free(ids);
	log_warn("%s: the service is back; our callback registered again on %lu of %lu jobs; "
		 "reconciling every job", im->service, (unsigned long)ok, (unsigned long)n);
	struct com_post *p = com_post_new_event(BACKEND_EV_MISSED);
	if (p) {
		p->ev->job.callback_us = com_wall_us();
		p->ev->service_restarted = true; /* GetStats' service_restarts */
		com_pool_post(im->pool, p);
	}
}

/* GetJob (create_name == NULL) or CreateJob, reconnecting once. On failure
 * fills r and returns false. */
static bool manager_job(struct impl *im, const GUID *get_id, const WCHAR *create_name,
			BG_JOB_TYPE type, IBackgroundCopyJob **job, struct backend_result *r)
{
	const char *step = create_name ? "CreateJob" : "GetJob";
	HRESULT hr = E_FAIL;

	*job = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		IBackgroundCopyManager *m;
		GUID new_id;

		hr = get_manager(im, &m);
		if (FAILED(hr)) {
			char what[64];
			snprintf(what, sizeof(what), "CoCreateInstance (%s)", im->service);
			step_failed(r, -DOB_EBACKEND, hr, what);
			return false;
		}
		if (create_name)
			hr = IBackgroundCopyManager_CreateJob(m, create_name, type, &new_id, job);
		else
			hr = IBackgroundCopyManager_GetJob(m, get_id, job);
		if (FAILED(hr) && service_gone(hr))
			drop_manager(im, m, hr);
		IBackgroundCopyManager_Release(m);
		if (SUCCEEDED(hr) || !service_gone(hr))
			break;
	}
	if (SUCCEEDED(hr) && *job)
		return true;
	*job = NULL;
	int err = -DOB_EBACKEND;
	if (create_name && !service_gone(hr))
		err = 0; /* the service answered: hresult says why */
	else if (backend_hresult_canonical((uint32_t)hr) == DOB_BG_E_NOT_FOUND)
		err = -DOB_ENOTFOUND;
	else if (hr == E_ACCESSDENIED)
		err = -DOB_EACCES;
	step_failed(r, err, hr, step);
	return false;
}

/* ------------------------------------------------------------ steps */

static void log_add_path(struct impl *im, const char *how, HRESULT why)
{
	if (InterlockedExchange(&im->add_path_logged, 1) == 0)
		log_info("%s: files are added with %s (0x%08lX)", im->service, how, (unsigned long)why);
}

/*
 * DO documents IDeliveryOptimizationJob::AddFileWithRanges, not
 * IBackgroundCopyJob::AddFile. IDeliveryOptimizationJob2::AddFile would be
 * the newer way, but it takes no local name: the file would land where DO
 * chooses, not at the path the core checked against the requester's rights
 * (the confused-deputy check), so it is not used. AddFileWithRanges with no
 * range asks for the whole file (whether DO reads it so: unverified); where
 * DO refuses that or the interface is missing (BITS, Wine), AddFile.
 */
static HRESULT cloak(IUnknown *proxy);

static HRESULT add_file(struct impl *im, IBackgroundCopyJob *job, const WCHAR *remote,
			const WCHAR *local, bool as_client)
{
	if (im->kind == DOB_BACKEND_DO) {
		IDeliveryOptimizationJob *dj = NULL;
		BG_FILE_RANGE none = { 0, BG_LENGTH_TO_EOF }; /* not read: count 0 */
		HRESULT hr = IBackgroundCopyJob_QueryInterface(job, &IID_IDeliveryOptimizationJob,
							       (void **)&dj);
		if (SUCCEEDED(hr) && dj && as_client && FAILED(hr = cloak((IUnknown *)dj))) {
			IDeliveryOptimizationJob_Release(dj);
			return hr; /* never added as the service */
		}
		if (SUCCEEDED(hr) && dj) {
			hr = IDeliveryOptimizationJob_AddFileWithRanges(dj, remote, remote, local, 0, &none,
									DOB_DO_UNKNOWN_FILE_SIZE);
			IDeliveryOptimizationJob_Release(dj);
			if (SUCCEEDED(hr)) {
				log_add_path(im, "IDeliveryOptimizationJob::AddFileWithRanges", hr);
				return hr;
			}
			if (hr != E_NOTIMPL && hr != E_INVALIDARG && hr != DO_E_INVALID_RANGE)
				return hr;
		} else if (hr != E_NOINTERFACE) {
			return hr;
		}
		log_add_path(im, "IBackgroundCopyJob::AddFile after IDeliveryOptimizationJob said", hr);
	}
	return IBackgroundCopyJob_AddFile(job, remote, local);
}

/* Is p our own callback object (a job we attached to before)? */
static bool is_ours(struct impl *im, IUnknown *p)
{
	IUnknown *a = NULL, *b = NULL;
	bool same;

	IUnknown_QueryInterface(p, &IID_IUnknown, (void **)&a);
	IBackgroundCopyCallback2_QueryInterface(im->cb, &IID_IUnknown, (void **)&b);
	same = a && a == b;
	if (a)
		IUnknown_Release(a);
	if (b)
		IUnknown_Release(b);
	return same;
}

/* Our callback on the job, and the flags. step names what failed. */
static HRESULT register_callback(struct impl *im, IBackgroundCopyJob *job, const char **step)
{
	*step = "SetNotifyInterface";
	HRESULT hr = IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)im->cb);
	if (FAILED(hr))
		return hr;
	*step = "SetNotifyFlags";
	hr = IBackgroundCopyJob_SetNotifyFlags(job, NOTIFY_ALL);
	if (hr == E_NOTIMPL || hr == E_INVALIDARG)
		hr = IBackgroundCopyJob_SetNotifyFlags(job, NOTIFY_NO_MODIFICATION);
	return hr;
}

/* ------------------------------------------------------------ notification class */

/* Records that we set the job's notification class (previous: what it had).
 * A job recorded already keeps its first previous class. */
static void nc_record(struct impl *im, const GUID *id, const CLSID *previous)
{
	AcquireSRWLockExclusive(&im->known_lock);
	size_t i = 0;
	while (i < im->n_nc && !IsEqualGUID(&im->nc[i].job, id))
		i++;
	if (i == im->n_nc) {
		if (im->n_nc == im->cap_nc) {
			size_t cap = im->cap_nc ? 2 * im->cap_nc : 16;
			struct notify_class *k = dob_realloc(im->nc, cap * sizeof(*k));
			if (k) {
				im->nc = k;
				im->cap_nc = cap;
			}
		}
		if (im->n_nc < im->cap_nc) {
			im->nc[im->n_nc].job = *id;
			im->nc[im->n_nc].previous = *previous;
			im->n_nc++;
		}
	}
	ReleaseSRWLockExclusive(&im->known_lock);
}

/* Takes the job's record: true when we had set its class (*previous). */
static bool nc_take(struct impl *im, const GUID *id, CLSID *previous)
{
	bool found = false;

	AcquireSRWLockExclusive(&im->known_lock);
	for (size_t i = 0; i < im->n_nc; i++)
		if (IsEqualGUID(&im->nc[i].job, id)) {
			*previous = im->nc[i].previous;
			im->nc[i] = im->nc[--im->n_nc];
			found = true;
			break;
		}
	ReleaseSRWLockExclusive(&im->known_lock);
	return found;
}

/* The job's IBackgroundCopyJob5, or NULL (logged once when the service has
 * none -- Wine's BITS, a DO without a Job5 proxy/stub -- and not asked
 * again). */
static IBackgroundCopyJob5 *job5_of(struct impl *im, IBackgroundCopyJob *job)
{
	IBackgroundCopyJob5 *j5 = NULL;
	HRESULT hr;

	if (im->no_job5)
		return NULL;
	hr = IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob5, (void **)&j5);
	if (SUCCEEDED(hr) && j5)
		return j5;
	if (hr != E_NOINTERFACE && hr != REGDB_E_IIDNOTREG) {
		/* Not an answer about the service (it went away, ...): next time. */
		check_gone(im, hr);
		log_info("%s: IBackgroundCopyJob5 not reached (0x%08lX); no notification class set",
			 im->service, (unsigned long)hr);
		return NULL;
	}
	if (InterlockedExchange(&im->no_job5, 1) == 0)
		log_warn("%s: the service has no IBackgroundCopyJob5 (QueryInterface: 0x%08lX): jobs "
			 "get no notification class, and a job that fails while the broker is not "
			 "running is found when it starts (journal and sweep)",
			 im->service, (unsigned long)hr);
	return NULL;
}

/*
 * --com-server: our class becomes the job's BITS_JOB_PROPERTY_NOTIFICATION_CLSID,
 * so the service starts the broker when the job fails while no broker runs.
 * Called once the job exists and our callback is registered (submit and
 * attach, also the re-attach at start). The class an adopted job had is
 * recorded (in memory) to be put back by notify_class_restore. Failing to
 * set it does not fail the request: the journal and the sweep still find
 * the job's errors when the broker runs again.
 */
static void notify_class_set(struct impl *im, IBackgroundCopyJob *job, const GUID *id)
{
	BITS_JOB_PROPERTY_VALUE v;
	IBackgroundCopyJob5 *j5;
	CLSID previous = GUID_NULL;
	char gs[DOB_GUID_STR_LEN];
	struct dob_guid d;
	HRESULT hr;

	if (!win_com_server_mode() || !(j5 = job5_of(im, job)))
		return;
	com_guid_to_dob(id, &d);
	dob_guid_format(&d, gs);
	memset(&v, 0, sizeof(v));
	hr = IBackgroundCopyJob5_GetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &v);
	if (SUCCEEDED(hr) && !IsEqualGUID(&v.ClsID, &CLSID_DobrokerNotify))
		previous = v.ClsID;
	memset(&v, 0, sizeof(v));
	v.ClsID = CLSID_DobrokerNotify;
	hr = IBackgroundCopyJob5_SetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, v);
	IBackgroundCopyJob5_Release(j5);
	if (FAILED(hr)) {
		check_gone(im, hr);
		log_warn("%s: job %s: setting the broker's notification class failed: 0x%08lX",
			 im->service, gs, (unsigned long)hr);
		return;
	}
	nc_record(im, id, &previous);
	log_info("%s: job %s: the broker's class is its notification class%s", im->service, gs,
		 IsEqualGUID(&previous, &GUID_NULL) ? "" : " (its own is put back when we let go)");
}

/* We stop managing the job: the notification class it had before ours
 * (none for the jobs we made) is put back. */
static void notify_class_restore(struct impl *im, IBackgroundCopyJob *job, const GUID *id)
{
	BITS_JOB_PROPERTY_VALUE v;
	IBackgroundCopyJob5 *j5;
	CLSID previous;
	HRESULT hr;

	if (!nc_take(im, id, &previous) || !(j5 = job5_of(im, job)))
		return;
	memset(&v, 0, sizeof(v));
	v.ClsID = previous;
	hr = IBackgroundCopyJob5_SetProperty(j5, BITS_JOB_PROPERTY_NOTIFICATION_CLSID, v);
	IBackgroundCopyJob5_Release(j5);
	if (FAILED(hr))
		log_info("%s: the job's notification class could not be put back: 0x%08lX",
			 im->service, (unsigned long)hr);
}

/* On a worker (MTA): the class object, once events reach the loop. */
static void class_register_run(void *ctx)
{
	struct impl *im = ctx;
	WCHAR g[40];
	HRESULT hr = win_com_class_register(im->cb, &im->class_cookie);

	StringFromGUID2(&CLSID_DobrokerNotify, g, 40);
	if (FAILED(hr))
		log_warn("com: registering the broker's class %ls failed: 0x%08lX; the service cannot "
			 "start the broker",
			 g, (unsigned long)hr);
	else
		log_info("com: serving the broker's class %ls%s", g,
			 win_com_server_embedding() ? " (this broker was started by COM)" : "");
}

static void class_revoke_run(void *ctx)
{
	struct impl *im = ctx;

	win_com_class_revoke(im->class_cookie);
	im->class_cookie = 0;
}

/* ------------------------------------------------------------ requests */

struct req {
	struct com_req base;   /* first member */
	struct impl *im;       /* owned reference */
	struct com_post *post; /* owned: the result, allocated when queued */
	GUID job;
	enum dob_action action;
	bool all_users;        /* enumerate */
	/* submit */
	bool as_client;             /* service mode: create it as `as` */
	struct dob_identity as;     /* owned: the requester (submit_as) */
	WCHAR *name;
	BG_JOB_TYPE type;
	BG_JOB_PRIORITY priority;
	size_t n_files;
	WCHAR **remote; /* owned array of owned strings */
	WCHAR **local;  /* owned array of owned strings */
};

static void req_free(struct req *q)
{
	com_post_discard(q->post);
	dob_identity_clear(&q->as);
	dob_free(q->name);
	for (size_t i = 0; i < q->n_files; i++) {
		dob_free(q->remote[i]);
		dob_free(q->local[i]);
	}
	dob_free(q->remote);
	dob_free(q->local);
	impl_unref(q->im);
	dob_free(q);
}

/* Calls through proxy carry the identity of the thread that makes them:
 * impersonation level and dynamic cloaking (the thread's impersonation
 * token at each call), so the service sees the impersonated client as the
 * caller. Set on every proxy the job is made through while impersonating
 * (the manager's copy, the job, the DO job interface). */
static HRESULT cloak(IUnknown *proxy)
{
	return CoSetProxyBlanket(proxy, RPC_C_AUTHN_DEFAULT, RPC_C_AUTHZ_DEFAULT,
				 COLE_DEFAULT_PRINCIPAL, RPC_C_AUTHN_LEVEL_DEFAULT,
				 RPC_C_IMP_LEVEL_IMPERSONATE, NULL, EOAC_DYNAMIC_CLOAKING);
}

/* CreateJob as the impersonated client: through a private copy of the
 * manager's proxy (CoCopyProxy: the shared proxy's blanket stays as it is
 * for the other workers) with cloaking set. On failure fills r. */
static bool create_job_as_client(struct impl *im, struct req *q, IBackgroundCopyJob **job,
				 struct backend_result *r)
{
	IBackgroundCopyManager *m = NULL, *mine = NULL;
	const char *step = "CoCopyProxy (the manager, for cloaking)";
	GUID new_id;
	HRESULT hr;

	*job = NULL;
	hr = get_manager(im, &m);
	if (FAILED(hr)) {
		char what[64];
		snprintf(what, sizeof(what), "CoCreateInstance (%s)", im->service);
		step_failed(r, -DOB_EBACKEND, hr, what);
		return false;
	}
	hr = CoCopyProxy((IUnknown *)m, (IUnknown **)&mine);
	if (SUCCEEDED(hr)) {
		step = "CoSetProxyBlanket (the manager: impersonation, dynamic cloaking)";
		hr = cloak((IUnknown *)mine);
	}
	if (SUCCEEDED(hr)) {
		step = "CreateJob";
		hr = IBackgroundCopyManager_CreateJob(mine, q->name, q->type, &new_id, job);
	}
	if (SUCCEEDED(hr) && *job) {
		step = "CoSetProxyBlanket (the job: impersonation, dynamic cloaking)";
		hr = cloak((IUnknown *)*job);
		if (FAILED(hr)) {
			/* Made, but the next calls could not be the client's. */
			IBackgroundCopyJob_Cancel(*job);
			IBackgroundCopyJob_Release(*job);
			*job = NULL;
		}
	}
	if (mine)
		IBackgroundCopyManager_Release(mine);
	if (FAILED(hr) && service_gone(hr))
		drop_manager(im, m, hr);
	IBackgroundCopyManager_Release(m);
	if (SUCCEEDED(hr) && *job)
		return true;
	*job = NULL;
	/* The service answered CreateJob: hresult says why (as in
	 * manager_job); anything before it means the call could not be made
	 * as the client: refused, never made as the service. */
	step_failed(r,
		    service_gone(hr) ? -DOB_EBACKEND
		    : strcmp(step, "CreateJob") == 0 ? 0
						     : -DOB_EACCES,
		    FAILED(hr) ? hr : E_FAIL, step);
	return false;
}

/*
 * Every COM call that makes the job (CreateJob through Resume) happens here,
 * on one request worker, and nowhere else. In service mode (q->as_client)
 * the worker acts as the requesting client from CreateJob to the last call
 * (win_act_as_client: impersonation, with cloaking on every proxy used), so
 * the service owns the job as the client's and writes its files with the
 * client's rights; when it cannot, the submit is refused with -DOB_EACCES
 * and nothing is created. The thread reverts on every path.
 */
static void make_job(struct req *q, struct backend_result *r, bool cloaked)
{
	struct impl *im = q->im;
	IBackgroundCopyJob *job;
	char step[64];
	HRESULT hr;

	if (cloaked ? !create_job_as_client(im, q, &job, r)
		    : !manager_job(im, NULL, q->name, q->type, &job, r))
		return;
	snprintf(step, sizeof(step), "SetPriority");
	hr = IBackgroundCopyJob_SetPriority(job, q->priority);
	if (hr == E_NOTIMPL) {
		log_warn("%s: SetPriority answered E_NOTIMPL, so the job keeps its default priority",
			 im->service);
		hr = S_OK;
	}
	for (size_t i = 0; i < q->n_files && SUCCEEDED(hr); i++) {
		snprintf(step, sizeof(step), "AddFile (file %zu of %zu)", i + 1, q->n_files);
		hr = add_file(im, job, q->remote[i], q->local[i], cloaked);
	}
	if (SUCCEEDED(hr)) {
		const char *s;
		hr = register_callback(im, job, &s);
		snprintf(step, sizeof(step), "%s", s);
	}
	if (SUCCEEDED(hr)) {
		snprintf(step, sizeof(step), "Resume");
		hr = IBackgroundCopyJob_Resume(job);
	}
	if (SUCCEEDED(hr)) {
		GUID id;

		r->hresult = (uint32_t)hr;
		read_into(r, job);
		if (SUCCEEDED(IBackgroundCopyJob_GetId(job, &id))) {
			known_set(im, &id, true);
			notify_class_set(im, job, &id);
		}
	} else {
		check_gone(im, hr);
		step_failed(r, 0, hr, step);
		HRESULT c = IBackgroundCopyJob_Cancel(job);
		if (FAILED(c))
			log_warn("%s: cancelling the half-made job after %s failed: 0x%08lX",
				 im->service, step, (unsigned long)c);
	}
	IBackgroundCopyJob_Release(job);
}

static void run_submit(struct req *q, struct backend_result *r)
{
	bool imp = false;

	if (q->as_client) {
		int rc = win_act_as_client(&q->as, &imp);
		if (rc < 0) {
			step_failed(r, -DOB_EACCES, E_ACCESSDENIED, "acting as the client");
			set_message(r, "cannot act as the client (pid %lu, %s): %s",
				    (unsigned long)q->as.pid, q->as.user_sid ? q->as.user_sid : "?",
				    rc == -DOB_ENOTFOUND ? "it has no live connection"
				    : rc == -DOB_EACCES
					    ? "it connected with identification only (connect with "
					      "SECURITY_IMPERSONATION: DOBC_IMPERSONATION=1)"
					    : dob_strerror(rc));
			return;
		}
	}
	make_job(q, r, imp);
	if (imp)
		win_revert_client();
}

static void run_attach(struct req *q, struct backend_result *r)
{
	IBackgroundCopyJob *job;
	const char *step;

	if (!manager_job(q->im, &q->job, NULL, 0, &job, r))
		return;
	/* Adopting without stealing: the callback the job has (the app that
	 * made it) keeps hearing of it; ours forwards to it (com_worker.c). */
	IUnknown *prev = NULL;
	if (SUCCEEDED(IBackgroundCopyJob_GetNotifyInterface(job, &prev)) && prev &&
	    !is_ours(q->im, prev)) {
		com_pool_set_previous(q->im->pool, &q->job, prev);
		log_info("%s: the job had a callback of its own; notifications are forwarded to it",
			 q->im->service);
	}
	if (prev)
		IUnknown_Release(prev);
	HRESULT hr = register_callback(q->im, job, &step);
	if (FAILED(hr)) {
		check_gone(q->im, hr);
		step_failed(r, 0, hr, step);
	} else {
		known_set(q->im, &q->job, true);
		notify_class_set(q->im, job, &q->job);
	}
	read_into(r, job);
	IBackgroundCopyJob_Release(job);
}

static void run_query(struct req *q, struct backend_result *r)
{
	IBackgroundCopyJob *job;

	if (!manager_job(q->im, &q->job, NULL, 0, &job, r))
		return;
	read_into(r, job);
	IBackgroundCopyJob_Release(job);
}

static void run_act(struct req *q, struct backend_result *r)
{
	IBackgroundCopyJob *job;
	const char *step = "?";
	HRESULT hr = E_INVALIDARG;

	if (!manager_job(q->im, &q->job, NULL, 0, &job, r))
		return;
	switch (q->action) {
	case DOB_ACTION_CANCEL:
		step = "Cancel";
		hr = IBackgroundCopyJob_Cancel(job);
		break;
	case DOB_ACTION_COMPLETE:
		step = "Complete";
		hr = IBackgroundCopyJob_Complete(job);
		break;
	case DOB_ACTION_RESUME:
		step = "Resume";
		hr = IBackgroundCopyJob_Resume(job);
		break;
	case DOB_ACTION_SUSPEND:
		step = "Suspend";
		hr = IBackgroundCopyJob_Suspend(job);
		break;
	default:
		break; /* refused when queued */
	}
	r->hresult = (uint32_t)hr;
	if (hr != S_OK)
		step_failed(r, 0, hr, step); /* also names BG_S_PARTIAL_COMPLETE & co. */
	check_gone(q->im, hr);
	read_into(r, job);
	IBackgroundCopyJob_Release(job);
}

static void run_detach(struct req *q, struct backend_result *r)
{
	IBackgroundCopyJob *job;

	if (!manager_job(q->im, &q->job, NULL, 0, &job, r))
		return;
	/* The callback the job had before we adopted it gets its place back,
	 * and so does its notification class. */
	notify_class_restore(q->im, job, &q->job);
	IUnknown *prev = com_pool_take_previous(q->im->pool, &q->job);
	HRESULT hr = IBackgroundCopyJob_SetNotifyInterface(job, prev);
	if (prev && FAILED(hr) && !service_gone(hr)) {
		log_info("%s: the job's own callback could not be put back (0x%08lX); cleared",
			 q->im->service, (unsigned long)hr);
		hr = IBackgroundCopyJob_SetNotifyInterface(job, NULL);
	}
	if (prev)
		IUnknown_Release(prev);
	r->hresult = (uint32_t)hr;
	known_set(q->im, &q->job, false);
	check_gone(q->im, hr);
	if (FAILED(hr))
		step_failed(r, 0, hr, "SetNotifyInterface(NULL)");
	IBackgroundCopyJob_Release(job);
}

/* EnumJobs: every user's jobs when asked (BG_JOB_ENUM_ALL_USERS needs an
 * administrator: refused with E_ACCESSDENIED, the broker's own user's are
 * listed instead), each read like a query (no GetError: the list is for
 * adopting, not for deciding). DO has no EnumJobs: do_ops has no enumerate. */
static void run_enumerate(struct req *q, struct backend_result *r)
{
	struct impl *im = q->im;
	IEnumBackgroundCopyJobs *e = NULL;
	IBackgroundCopyManager *m;
	DWORD flags = q->all_users ? BG_JOB_ENUM_ALL_USERS : 0;
	ULONG n = 0, fetched = 0;
	IBackgroundCopyJob *job;
	HRESULT hr;

	for (int attempt = 0; attempt < 2; attempt++) {
		hr = get_manager(im, &m);
		if (FAILED(hr)) {
			char what[64];
			snprintf(what, sizeof(what), "CoCreateInstance (%s)", im->service);
			step_failed(r, -DOB_EBACKEND, hr, what);
			return;
		}
		hr = IBackgroundCopyManager_EnumJobs(m, flags, &e);
		if (hr == E_ACCESSDENIED && flags) {
			log_info("%s: EnumJobs(BG_JOB_ENUM_ALL_USERS) refused (not an administrator): "
				 "listing the broker's own user's jobs", im->service);
			flags = 0;
			hr = IBackgroundCopyManager_EnumJobs(m, flags, &e);
		}
		if (FAILED(hr) && service_gone(hr))
			drop_manager(im, m, hr);
		IBackgroundCopyManager_Release(m);
		if (SUCCEEDED(hr) || !service_gone(hr))
			break;
	}
	if (FAILED(hr) || !e) {
		step_failed(r, service_gone(hr) ? -DOB_EBACKEND : 0, hr, "EnumJobs");
		return;
	}
	hr = IEnumBackgroundCopyJobs_GetCount(e, &n);
	if (FAILED(hr))
		n = 0; /* Next tells the end anyway */
	if (n > DOB_MAX_UNMANAGED)
		n = DOB_MAX_UNMANAGED;
	if (n && !(r->jobs = dob_calloc(n, sizeof(*r->jobs)))) {
		r->err = -DOB_ENOMEM;
		IEnumBackgroundCopyJobs_Release(e);
		return;
	}
	/* The enumerator is a snapshot: a job that ended since is still read
	 * (its getters may fail; field_errors say which). */
	while (r->n_jobs < n && IEnumBackgroundCopyJobs_Next(e, 1, &job, &fetched) == S_OK &&
	       fetched == 1) {
		if (com_read_job(job, NULL, false, &r->jobs[r->n_jobs], NULL, NULL) < 0)
			log_warn("com: out of memory while reading a job; some fields are missing");
		r->n_jobs++;
		IBackgroundCopyJob_Release(job);
	}
	IEnumBackgroundCopyJobs_Release(e);
}

static void req_run(struct com_req *base)
{
	struct req *q = (struct req *)base;
	struct backend_result *r = q->post->res;

	switch (r->kind) {
	case BACKEND_REQ_SUBMIT: run_submit(q, r); break;
	case BACKEND_REQ_ATTACH: run_attach(q, r); break;
	case BACKEND_REQ_QUERY: run_query(q, r); break;
	case BACKEND_REQ_ACT: run_act(q, r); break;
	case BACKEND_REQ_DETACH: run_detach(q, r); break;
	case BACKEND_REQ_ENUMERATE: run_enumerate(q, r); break;
	default: /* the sim model's own steps: never queued here */
		step_failed(r, -DOB_EINVAL, E_INVALIDARG, "request");
		break;
	}
	com_pool_post(q->im->pool, q->post);
	q->post = NULL;
	req_free(q);
}

static void req_drop(struct com_req *base)
{
	req_free((struct req *)base);
}

static struct req *req_new(struct backend *b, uint64_t id, enum backend_req_kind kind,
			   const struct dob_guid *job)
{
	struct impl *im = b->impl;
	struct req *q = dob_calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->post = com_post_new_result(id, kind);
	if (!q->post) {
		dob_free(q);
		return NULL;
	}
	q->base.run = req_run;
	q->base.drop = req_drop;
	q->base.urgent = kind == BACKEND_REQ_ACT; /* actions first (com_worker.c) */
	q->im = im;
	InterlockedIncrement(&im->refs);
	if (job)
		com_dob_to_guid(job, &q->job);
	return q;
}

static int req_queue(struct req *q)
{
	int rc = com_pool_push_request(q->im->pool, &q->base);

	if (rc < 0)
		req_free(q);
	return rc;
}

/* ------------------------------------------------------------ backend_ops */

static int b_start(struct backend *b, struct plat_loop *loop, const struct backend_sink *sink)
{
	struct impl *im = b->impl;

	com_pool_set_target(im->pool, loop, sink);
	/* Now a callback reaches the loop: the service may create our class. */
	if (win_com_server_mode() &&
	    com_pool_run_sync(im->pool, class_register_run, im, STOP_TIMEOUT_MS) < 0)
		log_warn("com: the broker's class could not be registered in time");
	return 0;
}

static void release_manager(void *ctx)
{
	IBackgroundCopyManager_Release((IBackgroundCopyManager *)ctx);
}

static void b_stop(struct backend *b)
{
	struct impl *im = b->impl;

	if (im->stopped)
		return;
	im->stopped = true;
	if (im->class_cookie &&
	    com_pool_run_sync(im->pool, class_revoke_run, im, STOP_TIMEOUT_MS) < 0)
		log_warn("com: the broker's class could not be withdrawn before stopping");
	AcquireSRWLockExclusive(&im->mgr_lock);
	IBackgroundCopyManager *m = im->mgr;
	im->mgr = NULL;
	ReleaseSRWLockExclusive(&im->mgr_lock);
	/* A proxy is released in the MTA, on a worker. */
	if (m && com_pool_run_sync(im->pool, release_manager, m, STOP_TIMEOUT_MS) < 0)
		log_warn("%s: the manager could not be released before stopping", im->service);
	com_pool_stop(im->pool, STOP_TIMEOUT_MS);
}

static void b_free(struct backend *b)
{
	if (!b)
		return;
	b_stop(b);
	impl_unref(b->impl);
	dob_free(b);
}

/* UTF-8 from the core -> UTF-16 for COM (invalid UTF-8 is refused). */
static int wide(const char *s, WCHAR **out)
{
	return win_utf8_to_wide(s ? s : "", out);
}

/* The submit request of spec, not queued yet. */
static int build_submit(struct backend *b, uint64_t id, const struct dob_submit_job *spec,
			struct req **out)
{
	*out = NULL;
	if (!spec || spec->n_files > DOB_MAX_FILES || (unsigned)spec->type > DOB_JOB_TYPE_MAX ||
	    (unsigned)spec->priority > DOB_PRIORITY_MAX)
		return -DOB_EINVAL;
	struct req *q = req_new(b, id, BACKEND_REQ_SUBMIT, NULL);
	if (!q)
		return -DOB_ENOMEM;
	q->type = (BG_JOB_TYPE)spec->type;
	q->priority = (BG_JOB_PRIORITY)spec->priority;
	int rc = wide(spec->display_name, &q->name);
	if (rc == 0 && spec->n_files > 0) {
		q->remote = dob_calloc(spec->n_files, sizeof(*q->remote));
		q->local = dob_calloc(spec->n_files, sizeof(*q->local));
		if (!q->remote || !q->local)
			rc = -DOB_ENOMEM;
	}
	for (size_t i = 0; i < spec->n_files && rc == 0; i++) {
		q->n_files = i + 1;
		rc = wide(spec->files[i].remote_url, &q->remote[i]);
		if (rc == 0)
			rc = wide(spec->files[i].local_path, &q->local[i]);
	}
	if (rc < 0) {
		req_free(q);
		return rc;
	}
	*out = q;
	return 0;
}

static int b_submit(struct backend *b, uint64_t id, const struct dob_submit_job *spec)
{
	struct req *q = NULL;
	int rc = build_submit(b, id, spec, &q);

	return rc < 0 ? rc : req_queue(q);
}

/* Service mode (backend.h): the job is made as the requester. */
static int b_submit_as(struct backend *b, uint64_t id, const struct dob_submit_job *spec,
		       const struct dob_identity *requester)
{
	struct req *q = NULL;
	int rc;

	if (!requester)
		return -DOB_EINVAL;
	rc = build_submit(b, id, spec, &q);
	if (rc < 0)
		return rc;
	q->as_client = true;
	if (dob_identity_copy(&q->as, requester) < 0) {
		req_free(q);
		return -DOB_ENOMEM;
	}
	return req_queue(q);
}

static int job_request(struct backend *b, uint64_t id, enum backend_req_kind kind,
		       const struct dob_guid *job, enum dob_action action)
{
	if (!job)
		return -DOB_EINVAL;
	struct req *q = req_new(b, id, kind, job);
	if (!q)
		return -DOB_ENOMEM;
	q->action = action;
	return req_queue(q);
}

static int b_attach(struct backend *b, uint64_t id, const struct dob_guid *job)
{
	return job_request(b, id, BACKEND_REQ_ATTACH, job, DOB_ACTION_UNSPECIFIED);
}

static int b_query(struct backend *b, uint64_t id, const struct dob_guid *job)
{
	return job_request(b, id, BACKEND_REQ_QUERY, job, DOB_ACTION_UNSPECIFIED);
}

static int b_act(struct backend *b, uint64_t id, const struct dob_guid *job, enum dob_action action)
{
	switch (action) {
	case DOB_ACTION_CANCEL:
	case DOB_ACTION_COMPLETE:
	case DOB_ACTION_RESUME:
	case DOB_ACTION_SUSPEND:
		return job_request(b, id, BACKEND_REQ_ACT, job, action);
	default:
		return -DOB_EINVAL; /* UNSPECIFIED; RESUME_AFTER_DELAY is the core's timer */
	}
}

static int b_detach(struct backend *b, uint64_t id, const struct dob_guid *job)
{
	return job_request(b, id, BACKEND_REQ_DETACH, job, DOB_ACTION_UNSPECIFIED);
}

static int b_enumerate(struct backend *b, uint64_t id, bool all_users)
{
	struct req *q = req_new(b, id, BACKEND_REQ_ENUMERATE, NULL);

	if (!q)
		return -DOB_ENOMEM;
	q->all_users = all_users;
	return req_queue(q);
}

#define COM_BACKEND_OPS(NAME, KIND, ENUMERATE)                                         \
	{                                                                              \
		.name = NAME, .kind = KIND, .start = b_start, .stop = b_stop,          \
		.free = b_free, .submit = b_submit, .submit_as = b_submit_as,        \
		.attach = b_attach,                                                    \
		.query = b_query, .act = b_act, .detach = b_detach,                    \
		.enumerate = ENUMERATE,                                                \
		.status_of = backend_status_of, .hresult_name = backend_hresult_name,  \
	}

/* DO's IBackgroundCopyManager documents CreateJob and GetJob only: no
 * EnumJobs (docs/protocol.md, ListUnmanaged). */
static const struct backend_ops do_ops = COM_BACKEND_OPS("do", DOB_BACKEND_DO, NULL);
static const struct backend_ops bits_ops = COM_BACKEND_OPS("bits", DOB_BACKEND_BITS, b_enumerate);

/* ------------------------------------------------------------ construction */

/* On a worker: connect to DO and/or BITS as the constructor asked. */
static void probe_run(void *ctx)
{
	struct impl *im = ctx;
	IBackgroundCopyManager *m = NULL;
	HRESULT hr;

	if (im->try_do) {
		hr = CoCreateInstance(&im->do_clsid, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&m);
		im->info.do_hresult = (uint32_t)hr;
		if (SUCCEEDED(hr)) {
			im->kind = DOB_BACKEND_DO;
			im->clsid = &im->do_clsid;
			im->service = "DO";
		} else {
			m = NULL;
		}
	}
	if (!m && im->try_bits) {
		hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
				      &IID_IBackgroundCopyManager, (void **)&m);
		im->info.bits_hresult = (uint32_t)hr;
		if (SUCCEEDED(hr)) {
			im->kind = DOB_BACKEND_BITS;
			im->clsid = &CLSID_BackgroundCopyManager;
			im->service = "BITS";
		} else {
			m = NULL;
		}
	}
	if (m)
		com_hold_rem_unknown((IUnknown *)m); /* Wine 8's release race (com.h) */
	im->mgr = m;
}

static const char *hr_text(uint32_t hr, char *buf, size_t len)
{
	const char *name = backend_hresult_name(hr);

	snprintf(buf, len, "0x%08lX%s%s", (unsigned long)hr, name ? " " : "", name ? name : "");
	return buf;
}

int win_backend_new(struct backend **out, const char *which, char *err, size_t len)
{
	char a[96], c[96];
	int rc;

	CLSID do_clsid = CLSID_DeliveryOptimization;
	struct dob_guid named;

	*out = NULL;
	if (err && len)
		err[0] = '\0';
	/* "do:{GUID}" (dobrokerd --do-clsid): the do backend on another class,
	 * e.g. the DO service emulator registered under its own CLSID. */
	if (which && !strncmp(which, "do:", 3)) {
		if (dob_guid_parse(which + 3, &named) < 0) {
			if (err)
				snprintf(err, len, "bad class in backend \"%s\" (do:{GUID})", which);
			return -DOB_EINVAL;
		}
		com_dob_to_guid(&named, &do_clsid);
		log_info("backend do: on the class %s instead of CLSID_DeliveryOptimization", which + 3);
		which = "do";
	}
	if (!which || (strcmp(which, "do") && strcmp(which, "bits") && strcmp(which, "auto"))) {
		if (err)
			snprintf(err, len, "unknown backend \"%s\" (do, bits or auto)", which ? which : "");
		return -DOB_EINVAL;
	}
	struct impl *im = dob_calloc(1, sizeof(*im));
	struct backend *b = dob_calloc(1, sizeof(*b));
	if (!im || !b) {
		dob_free(im);
		dob_free(b);
		return -DOB_ENOMEM;
	}
	im->refs = 1;
	im->service = "?";
	im->do_clsid = do_clsid;
	InitializeSRWLock(&im->mgr_lock);
	InitializeSRWLock(&im->known_lock);
	rc = com_pool_new(&im->pool, NULL);
	if (rc < 0) {
		if (err)
			snprintf(err, len, "cannot start the COM workers: %s", dob_strerror(rc));
		goto fail;
	}
	if (FAILED(com_callback_new(im->pool, &im->cb))) {
		rc = -DOB_ENOMEM;
		goto fail;
	}
	im->try_do = strcmp(which, "bits") != 0;
	im->try_bits = strcmp(which, "do") != 0;
	rc = com_pool_run_sync(im->pool, probe_run, im, PROBE_TIMEOUT_MS);
	if (rc == -DOB_ETIMEDOUT) {
		/* The probe may still write into im: leave it allocated. */
		if (err)
			snprintf(err, len, "the %s service did not answer within %d s", which,
				 PROBE_TIMEOUT_MS / 1000);
		com_pool_stop(im->pool, 0);
		dob_free(b);
		return rc;
	}
	if (rc == 0 && !im->mgr) {
		rc = -DOB_EBACKEND;
		if (err && !strcmp(which, "do"))
			snprintf(err, len, "Delivery Optimization is not available: CoCreateInstance: %s",
				 hr_text(im->info.do_hresult, a, sizeof(a)));
		else if (err && !strcmp(which, "bits"))
			snprintf(err, len, "BITS is not available: CoCreateInstance: %s",
				 hr_text(im->info.bits_hresult, a, sizeof(a)));
		else if (err)
			snprintf(err, len, "neither DO (%s) nor BITS (%s) is available",
				 hr_text(im->info.do_hresult, a, sizeof(a)),
				 hr_text(im->info.bits_hresult, c, sizeof(c)));
	}
	if (rc < 0)
		goto fail;
	im->info.kind = im->kind;
	if (!strcmp(which, "auto") && im->kind == DOB_BACKEND_BITS)
		log_info("backend auto: Delivery Optimization is not available (CoCreateInstance: %s); "
			 "using BITS",
			 hr_text(im->info.do_hresult, a, sizeof(a)));
	else
		log_info("backend %s: using %s", which, im->service);
	b->ops = im->kind == DOB_BACKEND_DO ? &do_ops : &bits_ops;
	b->impl = im;
	*out = b;
	return 0;
fail:
	b->impl = im;
	b_free(b);
	return rc;
}

void win_backend_info(const struct backend *b, struct win_backend_info *out)
{
	const struct impl *im = b->impl;

	*out = im->info;
}
