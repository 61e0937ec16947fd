/*
 * broker/win32/backend_win32.h - the Windows backends: "do" (Delivery
 * Optimization, CLSID_DeliveryOptimization) and "bits" (CLSID_BackgroundCopy-
 * Manager), one code path over the BITS COM interfaces DO shares, and "auto".
 *
 * Results (struct backend_result) of these backends:
 *   err 0          the COM calls were made; hresult is the one that decides
 *                  (S_OK, or the first failing step, named in message as
 *                  "AddFile (file 2 of 3): 0x80070057 E_INVALIDARG").
 *   -DOB_ENOTFOUND GetJob said BG_E_NOT_FOUND / DO_E_JOB_NOT_FOUND.
 *   -DOB_EACCES    GetJob said E_ACCESSDENIED (someone else's job).
 *   -DOB_EBACKEND  the service could not be reached (CoCreateInstance or
 *                  GetJob/CreateJob failed otherwise); hresult says why.
 *   -DOB_ENOMEM    out of memory in the worker.
 * submit: has_job and the job as read after Resume when it worked; when a
 *   step failed, the half-made job was cancelled and has_job is false.
 * attach: GetJob, SetNotifyInterface(our callback), SetNotifyFlags
 *   (TRANSFERRED|ERROR|MODIFICATION, or TRANSFERRED|ERROR where the service
 *   refuses MODIFICATION); has_job with the job as read (also when a final
 *   job refused the callback with BG_E_INVALID_STATE).
 * query: has_job; job.error is read when the job is in ERROR/TRANSIENT_ERROR.
 * act: hresult of Cancel/Complete/Resume/Suspend, and has_job with the job
 *   read after the call. RESUME_AFTER_DELAY is the core's (a timer, then
 *   RESUME): the backend refuses it, like UNSPECIFIED, with -DOB_EINVAL.
 * detach: SetNotifyInterface(NULL); no job.
 * Events: BACKEND_EV_ERROR / TRANSFERRED / MODIFIED from the callbacks
 * (FileTransferred is reported as MODIFIED), BACKEND_EV_MISSED when
 * callbacks could not be queued.
 */
#ifndef DOB_BACKEND_WIN32_H
#define DOB_BACKEND_WIN32_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* which: "do", "bits" or "auto" (DO when CoCreateInstance of
 * CLSID_DeliveryOptimization succeeds, else BITS; the choice is logged and is
 * b->ops->kind, what Welcome reports). Starts the COM workers and connects to
 * the service before returning (blocking, at most about a minute: call it
 * before the loop runs). On failure returns a negative code and writes why
 * into err. */
int win_backend_new(struct backend **out, const char *which, char *err, size_t len);

/* What the constructor found. */
struct win_backend_info {
	enum dob_backend kind; /* DOB_BACKEND_DO or DOB_BACKEND_BITS */
	/* HRESULT of CoCreateInstance(CLSID_DeliveryOptimization) when it was
	 * tried ("do" or "auto"), else 0. */
	uint32_t do_hresult;
	/* HRESULT of CoCreateInstance(CLSID_BackgroundCopyManager) when it was
	 * tried, else 0. */
	uint32_t bits_hresult;
};
void win_backend_info(const struct backend *b, struct win_backend_info *out);

/*
 * COM security of the process, set once (CoInitializeSecurity) before any
 * interface is marshalled; the COM workers call it. Call it yourself, after
 * CoInitializeEx on the calling thread, when the process makes COM calls of
 * its own first. Returns 0 or -DOB_EBACKEND; RPC_E_TOO_LATE (the host set
 * security first) is logged and counts as success.
 *   Outgoing: RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_IMP_LEVEL_IMPERSONATE (BITS and
 *   DO act on files as the broker's user; IDENTIFY, COM's default, is too low
 *   for some calls).
 *   Incoming (the callbacks): an explicit access descriptor admitting
 *   LocalSystem (BITS), NetworkService (DoSvc) and the broker's own user,
 *   nobody else, so no other process can inject fake JobError calls.
 */
int win_com_init_security(void);

#endif
