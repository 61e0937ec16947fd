/*
 * doemu/jobs.c - what the emulator keeps per job beside the model: the
 * callback a client registered (not persisted, as in DO: a restart of the
 * service forgets it), the notify flags, the properties DO documents and
 * the ranges given to AddFileWithRanges. One lock; entries made on demand.
 */
#include <string.h>

#include "doemu.h"

#include "dob/alloc.h"

struct ranges {
	DWORD n;
	BG_FILE_RANGE *r; /* owned (dob_malloc) */
};

struct ejob {
	struct ejob *next;
	GUID id;
	IBackgroundCopyCallback *cb; /* owned reference, or NULL */
	struct ejob_props p;
	size_t n_ranges;
	struct ranges *ranges;       /* owned array, by file index */
};

static SRWLOCK lock = SRWLOCK_INIT; /* protects jobs and every entry */
static struct ejob *jobs;

/* Under the lock. NULL when out of memory. */
static struct ejob *find(const GUID *id, bool make)
{
	struct ejob *e;

	for (e = jobs; e; e = e->next)
		if (IsEqualGUID(&e->id, id))
			return e;
	if (!make || !(e = dob_calloc(1, sizeof(*e))))
		return NULL;
	e->id = *id;
	/* defaults: BITS's flags (TRANSFERRED|ERROR; DO's are not documented),
	 * NORMAL priority, DO's no-progress timeout for normal priority */
	e->p.notify_flags = BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR;
	e->p.priority = BG_JOB_PRIORITY_NORMAL;
	e->p.no_progress_timeout = 86400;
	e->p.cost_flags = BITS_COST_STATE_TRANSFER_ALWAYS;
	e->next = jobs;
	jobs = e;
	return e;
}

IBackgroundCopyCallback *ejob_callback(const GUID *id, ULONG *flags, GUID *clsid)
{
	IBackgroundCopyCallback *cb = NULL;
	struct ejob *e;

	AcquireSRWLockShared(&lock);
	e = find(id, false);
	if (e && e->cb) {
		cb = e->cb;
		IBackgroundCopyCallback_AddRef(cb); /* a proxy's AddRef is local */
	}
	if (flags)
		*flags = e ? e->p.notify_flags : BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR;
	if (clsid)
		*clsid = e ? e->p.notification_clsid : GUID_NULL;
	ReleaseSRWLockShared(&lock);
	return cb;
}

void ejob_set_callback(const GUID *id, IBackgroundCopyCallback *cb)
{
	IBackgroundCopyCallback *old = NULL;
	struct ejob *e;

	if (cb)
		IBackgroundCopyCallback_AddRef(cb);
	AcquireSRWLockExclusive(&lock);
	e = find(id, true);
	if (e) {
		old = e->cb;
		e->cb = cb;
	} else {
		old = cb; /* out of memory: not kept */
	}
	ReleaseSRWLockExclusive(&lock);
	if (old) /* outside the lock: releasing a proxy may be an RPC */
		IBackgroundCopyCallback_Release(old);
}

void ejob_drop_callback(const GUID *id, IBackgroundCopyCallback *cb)
{
	struct ejob *e;
	bool mine = false;

	AcquireSRWLockExclusive(&lock);
	e = find(id, false);
	if (e && e->cb == cb) {
		e->cb = NULL;
		mine = true;
	}
	ReleaseSRWLockExclusive(&lock);
	if (mine)
		IBackgroundCopyCallback_Release(cb);
}

void ejob_forget_callbacks(void)
{
	for (;;) {
		IBackgroundCopyCallback *cb = NULL;

		AcquireSRWLockExclusive(&lock);
		for (struct ejob *e = jobs; e && !cb; e = e->next)
			if (e->cb) {
				cb = e->cb;
				e->cb = NULL;
			}
		ReleaseSRWLockExclusive(&lock);
		if (!cb)
			return;
		IBackgroundCopyCallback_Release(cb);
	}
}

void ejob_props(const GUID *id, struct ejob_props *out)
{
	struct ejob *e;

	AcquireSRWLockExclusive(&lock);
	e = find(id, true);
	if (e)
		*out = e->p;
	else
		memset(out, 0, sizeof(*out));
	ReleaseSRWLockExclusive(&lock);
}

void ejob_set_props(const GUID *id, const struct ejob_props *in)
{
	struct ejob *e;

	AcquireSRWLockExclusive(&lock);
	e = find(id, true);
	if (e)
		e->p = *in;
	ReleaseSRWLockExclusive(&lock);
}

void ejob_set_ranges(const GUID *id, size_t file, const BG_FILE_RANGE *r, DWORD n)
{
	struct ejob *e;
	BG_FILE_RANGE *copy = NULL;

	if (n && !(copy = dob_malloc(n * sizeof(*copy))))
		return;
	if (n)
		memcpy(copy, r, n * sizeof(*copy));
	AcquireSRWLockExclusive(&lock);
	e = find(id, true);
	if (e && file >= e->n_ranges) {
		struct ranges *nr = dob_realloc(e->ranges, (file + 1) * sizeof(*nr));

		if (nr) {
			memset(nr + e->n_ranges, 0, (file + 1 - e->n_ranges) * sizeof(*nr));
			e->ranges = nr;
			e->n_ranges = file + 1;
		}
	}
	if (e && file < e->n_ranges) {
		dob_free(e->ranges[file].r);
		e->ranges[file].r = copy;
		e->ranges[file].n = n;
		copy = NULL;
	}
	ReleaseSRWLockExclusive(&lock);
	dob_free(copy);
}

HRESULT ejob_ranges(const GUID *id, size_t file, DWORD *n, BG_FILE_RANGE **out)
{
	struct ejob *e;
	HRESULT hr = S_FALSE;

	*n = 0;
	*out = NULL;
	AcquireSRWLockShared(&lock);
	e = find(id, false);
	if (e && file < e->n_ranges && e->ranges[file].n) {
		*out = CoTaskMemAlloc(e->ranges[file].n * sizeof(**out));
		if (*out) {
			memcpy(*out, e->ranges[file].r, e->ranges[file].n * sizeof(**out));
			*n = e->ranges[file].n;
			hr = S_OK;
		} else {
			hr = E_OUTOFMEMORY;
		}
	}
	ReleaseSRWLockShared(&lock);
	return hr;
}
