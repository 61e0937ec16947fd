/*
 * doemu/jobs.c - what the emulator keeps per job beside the model: the
 * callback a client registered (not persisted, as in DO: a restart of the
 * service forgets it), the notify flags, the properties DO documents and
 * the ranges given to AddFileWithRanges. One lock; entries made on demand.
 *
 * When the scenario says `persist FILE`, the properties are kept too, in
 * FILE.props beside the model's FILE (the service keeps a job's settings
 * with the job: BITS_JOB_PROPERTY_NOTIFICATION_CLSID exists to survive the
 * client's process and a reboot). One line per job:
 *   {GUID} flags=0x3 priority=2 timeout=86400 cost=0x800000FF clsid={GUID}
 * rewritten through a temporary file and a rename at every change.
 */
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "doemu.h"

#include "dob/alloc.h"
#include "log.h"

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

static SRWLOCK lock = SRWLOCK_INIT; /* protects jobs, every entry and props_path */
static struct ejob *jobs;
static WCHAR *props_path;           /* owned (dob_malloc); NULL: not persisted */

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

/* Under the lock (exclusive). */
static void save_props(void)
{
	WCHAR tmp[MAX_PATH + 8];
	FILE *f;
	bool ok;

	if (!props_path || wcslen(props_path) >= MAX_PATH)
		return;
	swprintf(tmp, MAX_PATH + 8, L"%ls.tmp", props_path);
	if (!(f = _wfopen(tmp, L"wb"))) {
		log_warn("jobs: cannot write %ls: the properties are not kept", tmp);
		return;
	}
	for (struct ejob *e = jobs; e; e = e->next) {
		WCHAR g[40], c[40];

		StringFromGUID2(&e->id, g, 40);
		StringFromGUID2(&e->p.notification_clsid, c, 40);
		fprintf(f, "%ls flags=0x%lX priority=%d timeout=%lu cost=0x%08lX clsid=%ls\n", g,
			(unsigned long)e->p.notify_flags, (int)e->p.priority,
			(unsigned long)e->p.no_progress_timeout, (unsigned long)e->p.cost_flags, c);
	}
	ok = fflush(f) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || !MoveFileExW(tmp, props_path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
		log_warn("jobs: cannot replace %ls (error %lu): the properties are not kept",
			 props_path, (unsigned long)GetLastError());
}

void ejob_set_props(const GUID *id, const struct ejob_props *in)
{
	struct ejob *e;

	AcquireSRWLockExclusive(&lock);
	e = find(id, true);
	if (e) {
		e->p = *in;
		save_props();
	}
	ReleaseSRWLockExclusive(&lock);
}

/* One line of FILE.props into *e (id and props). false when it is not one. */
static bool parse_line(char *line, GUID *id, struct ejob_props *p)
{
	WCHAR wg[40], wc[40];
	char g[40], c[40];
	unsigned long flags, timeout, cost;
	int prio;

	if (sscanf(line, "%39s flags=0x%lx priority=%d timeout=%lu cost=0x%lx clsid=%39s", g, &flags,
		   &prio, &timeout, &cost, c) != 6)
		return false;
	MultiByteToWideChar(CP_UTF8, 0, g, -1, wg, 40);
	MultiByteToWideChar(CP_UTF8, 0, c, -1, wc, 40);
	if (FAILED(CLSIDFromString(wg, id)) || FAILED(CLSIDFromString(wc, &p->notification_clsid)) ||
	    prio < 0 || prio > BG_JOB_PRIORITY_LOW)
		return false;
	p->notify_flags = flags;
	p->priority = (BG_JOB_PRIORITY)prio;
	p->no_progress_timeout = timeout;
	p->cost_flags = cost;
	return true;
}

int ejob_persist(const char *model_file, GUID **with_clsid, size_t *n)
{
	char line[512];
	unsigned no = 0;
	size_t len;
	FILE *f;
	WCHAR *path;
	WCHAR *w;

	*with_clsid = NULL;
	*n = 0;
	if (!model_file)
		return 0;
	w = emu_wide(model_file);
	if (!w)
		return -1;
	len = wcslen(w) + 7;
	path = dob_malloc(len * sizeof(WCHAR));
	if (!path) {
		CoTaskMemFree(w);
		return -1;
	}
	swprintf(path, len, L"%ls.props", w);
	CoTaskMemFree(w);
	AcquireSRWLockExclusive(&lock);
	dob_free(props_path);
	props_path = path;
	f = _wfopen(path, L"rb");
	while (f && fgets(line, sizeof(line), f)) {
		struct ejob_props p;
		struct ejob *e;
		GUID id;

		no++;
		if (!parse_line(line, &id, &p)) {
			log_warn("jobs: %ls:%u: not a job's properties; skipped", path, no);
			continue;
		}
		if (!(e = find(&id, true)))
			break;
		e->p = p;
		if (!IsEqualGUID(&p.notification_clsid, &GUID_NULL)) {
			GUID *more = dob_realloc(*with_clsid, (*n + 1) * sizeof(**with_clsid));

			if (!more)
				break;
			*with_clsid = more;
			(*with_clsid)[(*n)++] = id;
		}
	}
	ReleaseSRWLockExclusive(&lock);
	if (f) {
		fclose(f);
		log_info("jobs: the properties of %u job(s) loaded from %ls", no, path);
	}
	return 0;
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
