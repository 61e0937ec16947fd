/*
 * broker/win32/com_callback.c - the IBackgroundCopyCallback2 object the
 * broker hands to SetNotifyInterface.
 *
 * The service calls it on an RPC thread. Each method takes its own reference
 * on what it was given (pJob, pError, pFile are the caller's, released by
 * the caller after we return), puts them in the worker pool's preallocated
 * ring, wakes an event worker and returns S_OK: no call on pJob or pError
 * (every getter is an RPC back into the service, and BITS lets only four
 * notifications per user be in flight), no allocation, no wait. When the ring
 * is full the callback is counted as missed (the core reconciles) and S_OK is
 * still returned: failing a callback is never the way to ask for a retry.
 */
/* lpVtbl is a pointer to const, so the one vtable can be static const. */
#define CONST_VTABLE
#include "win32/com.h"

#include "dob/alloc.h"

struct com_callback {
	/* Implements IBackgroundCopyCallback2, whose first slots are
	 * IBackgroundCopyCallback's: the same pointer answers both IIDs. */
	IBackgroundCopyCallback2 IBackgroundCopyCallback_iface;
	volatile LONG refs;
	struct com_pool *pool; /* owned reference */
};

static struct com_callback *impl_from(IBackgroundCopyCallback2 *iface)
{
	return CONTAINING_RECORD(iface, struct com_callback, IBackgroundCopyCallback_iface);
}

static HRESULT STDMETHODCALLTYPE cb_QueryInterface(IBackgroundCopyCallback2 *iface, REFIID riid,
						   void **ppv)
{
	if (!ppv)
		return E_POINTER;
	if (riid && (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IBackgroundCopyCallback) ||
		     IsEqualIID(riid, &IID_IBackgroundCopyCallback2))) {
		*ppv = iface;
		IBackgroundCopyCallback2_AddRef(iface);
		return S_OK;
	}
	*ppv = NULL;
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE cb_AddRef(IBackgroundCopyCallback2 *iface)
{
	return (ULONG)InterlockedIncrement(&impl_from(iface)->refs);
}

static ULONG STDMETHODCALLTYPE cb_Release(IBackgroundCopyCallback2 *iface)
{
	struct com_callback *cb = impl_from(iface);
	LONG n = InterlockedDecrement(&cb->refs);

	if (n == 0) {
		com_pool_unref(cb->pool);
		dob_free(cb);
	}
	return (ULONG)n;
}

static HRESULT STDMETHODCALLTYPE cb_JobTransferred(IBackgroundCopyCallback2 *iface,
						   IBackgroundCopyJob *pJob)
{
	int64_t now = com_wall_us();

	com_pool_push_event(impl_from(iface)->pool, COM_EV_TRANSFERRED, pJob, NULL, now);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_JobError(IBackgroundCopyCallback2 *iface,
					     IBackgroundCopyJob *pJob, IBackgroundCopyError *pError)
{
	int64_t now = com_wall_us();

	com_pool_push_event(impl_from(iface)->pool, COM_EV_ERROR, pJob, (IUnknown *)pError, now);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_JobModification(IBackgroundCopyCallback2 *iface,
						    IBackgroundCopyJob *pJob, DWORD dwReserved)
{
	int64_t now = com_wall_us();

	com_pool_push_event(impl_from(iface)->pool, COM_EV_MODIFIED, pJob, NULL, now);
	return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_FileTransferred(IBackgroundCopyCallback2 *iface,
						    IBackgroundCopyJob *pJob,
						    IBackgroundCopyFile *pFile)
{
	int64_t now = com_wall_us();

	com_pool_push_event(impl_from(iface)->pool, COM_EV_FILE_TRANSFERRED, pJob, (IUnknown *)pFile,
			    now);
	return S_OK;
}

static const IBackgroundCopyCallback2Vtbl callback_vtbl = {
	cb_QueryInterface,
	cb_AddRef,
	cb_Release,
	cb_JobTransferred,
	cb_JobError,
	cb_JobModification,
	cb_FileTransferred,
};

HRESULT com_callback_new(struct com_pool *pool, IBackgroundCopyCallback2 **out)
{
	struct com_callback *cb = dob_calloc(1, sizeof(*cb));

	*out = NULL;
	if (!cb)
		return E_OUTOFMEMORY;
	cb->IBackgroundCopyCallback_iface.lpVtbl = &callback_vtbl;
	cb->refs = 1;
	cb->pool = pool;
	com_pool_ref(pool);
	*out = &cb->IBackgroundCopyCallback_iface;
	return S_OK;
}
