/*
 * broker/win32/do_guids.h - Delivery Optimization identifiers that MinGW-w64
 * lacks (it ships no deliveryoptimization.h), and the one DO interface the
 * broker calls. Values: ../shared reference do-api.md section 1.
 *
 * DO reuses the BITS IIDs unchanged (IBackgroundCopyManager/Job/Error/...),
 * which come from MinGW's bits*.h and libbits.a. Only the DO class and the
 * DO-only interfaces are declared here. The GUIDs are instantiated once, in
 * com_guids.c (which includes <initguid.h> first).
 */
#ifndef DOB_DO_GUIDS_H
#define DOB_DO_GUIDS_H

#include <windows.h>
#include <bits.h>

/* The DO server: hands out IBackgroundCopyManager (and IDOManager). */
DEFINE_GUID(CLSID_DeliveryOptimization, 0x5b99fa76, 0x721c, 0x423c, 0xad, 0xac, 0x56, 0xd0, 0x3c,
	    0x8a, 0x80, 0x07);
DEFINE_GUID(IID_IDeliveryOptimizationJob, 0xee2584cf, 0xa69c, 0x4848, 0xb6, 0x33, 0x26, 0x49, 0x96,
	    0x2b, 0x3e, 0xf7);
/* Declared for completeness and logs only: its AddFile takes no local name,
 * so the broker cannot honour a SubmitJob's local path through it (see
 * backend_com.c, add_file). */
DEFINE_GUID(IID_IDeliveryOptimizationJob2, 0x18995a26, 0xbf59, 0x4abe, 0x9f, 0x8b, 0xd5, 0x09, 0x2d,
	    0x5a, 0x24, 0x05);

/* DO_UNKNOWN_FILE_SIZE: value not documented; (UINT64)-1 like BG_SIZE_UNKNOWN
 * (unverified). */
#define DOB_DO_UNKNOWN_FILE_SIZE ((ULONG64)-1)

/*
 * IDeliveryOptimizationJob (Windows 10 1709+): IUnknown plus one method, so
 * its vtable layout is certain: slot 3 is AddFileWithRanges.
 */
typedef struct IDeliveryOptimizationJob IDeliveryOptimizationJob;
typedef struct IDeliveryOptimizationJobVtbl {
	HRESULT(STDMETHODCALLTYPE *QueryInterface)(IDeliveryOptimizationJob *This, REFIID riid,
						   void **ppv);
	ULONG(STDMETHODCALLTYPE *AddRef)(IDeliveryOptimizationJob *This);
	ULONG(STDMETHODCALLTYPE *Release)(IDeliveryOptimizationJob *This);
	HRESULT(STDMETHODCALLTYPE *AddFileWithRanges)(IDeliveryOptimizationJob *This,
						      LPCWSTR fileId, LPCWSTR remoteUrl,
						      LPCWSTR localName, DWORD rangeCount,
						      BG_FILE_RANGE ranges[], ULONG64 fileSize);
} IDeliveryOptimizationJobVtbl;
struct IDeliveryOptimizationJob {
	const IDeliveryOptimizationJobVtbl *lpVtbl;
};
#define IDeliveryOptimizationJob_Release(This) (This)->lpVtbl->Release(This)
#define IDeliveryOptimizationJob_AddFileWithRanges(This, id, url, local, n, r, size) \
	(This)->lpVtbl->AddFileWithRanges(This, id, url, local, n, r, size)

#endif
