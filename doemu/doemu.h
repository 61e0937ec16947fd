/*
 * doemu/doemu.h - the Delivery Optimization service emulator: a COM local
 * server that serves DO's BITS-compatible API (../README "DO service
 * emulator", docs/do-emulator.md) on the sim backend's model and scenario
 * language (broker/backend/sim.c, scenario.c), so every DO call and every
 * callback crosses a process boundary through COM's marshalling.
 *
 * Threads:
 *   - the model thread owns the sim backend and its timers; COM methods
 *     reach it only through model_call (model.c);
 *   - RPC threads run the COM methods (MTA) and wait for the model;
 *   - four notifier threads (MTA) call the clients' callbacks (notify.c): at
 *     most four notifications in flight, as BITS and DO allow per user.
 */
#ifndef DOB_DOEMU_H
#define DOB_DOEMU_H

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>
#include <bits.h>
#include <bits2_0.h>
#include <bits5_0.h>

#include "backend.h"
#include "scenario.h"

/* ------------------------------------------------------------ identity */

/* The class the emulator serves: CLSID_DeliveryOptimization in a test
 * prefix (--as-do), its own CLSID_DoEmulator everywhere else (never over the
 * real DO). The proxy/stub of IDeliveryOptimizationJob is doemuprx.dll,
 * class CLSID_DoEmulatorPS. Instantiated in guids.c. */
extern const CLSID CLSID_DoEmulator;
extern const CLSID CLSID_DoEmulatorPS;
extern const CLSID CLSID_DeliveryOptimization;
extern const IID IID_IDeliveryOptimizationJob;
/* IBackgroundCopyFile5, which MinGW lacks (declared by the generated
 * doemu_idl.h, instantiated in guids.c). */
extern const IID IID_IBackgroundCopyFile5;

/* DO's codes (../shared reference do-api.md section 6), as HRESULTs. */
#define DO_E_JOB_NOT_FOUND ((HRESULT)0x80D02003L)
#define DO_E_JOB_EMPTY ((HRESULT)0x80D02004L)
#define DO_E_FILE_NOT_AVAILABLE ((HRESULT)0x80D02010L)
#define DO_E_UNKNOWN_PROPERTY_ID ((HRESULT)0x80D02011L)
#define DO_E_READ_ONLY_PROPERTY ((HRESULT)0x80D02012L)
#define DO_E_INVALID_STATE ((HRESULT)0x80D02013L)
#define DO_E_ERROR_INFORMATION_UNAVAILABLE ((HRESULT)0x80D02014L)
#define DO_E_INVALID_RANGE ((HRESULT)0x80D05010L)
#define DO_E_OVERLAPPING_RANGES ((HRESULT)0x80D05012L)
#define DOEMU_UNKNOWN_FILE_SIZE ((ULONG64)-1)

/* ------------------------------------------------------------ the model (model.c) */

/* Starts the model thread on a parsed scenario (taken, also on failure).
 * The n jobs of attach have a notification class (persisted properties,
 * jobs.c): the model reports their events as if a callback were
 * registered, from before its first timer, so a scenario event at 0 s
 * is not missed. */
int model_start(struct scenario *scn, const GUID *attach, size_t n);
void model_stop(void);

/* What a synchronous call to the model returns: the sim's result. */
struct model_answer {
	int err;              /* 0, or a negative dob_err (-DOB_ENOTFOUND: no such job) */
	HRESULT hr;           /* the sim's HRESULT when err is 0 */
	bool has_job;
	struct backend_job job; /* owned; free with model_answer_clear */
};
void model_answer_clear(struct model_answer *a);

/* Each call blocks until the model answers: forever when the scenario
 * says the call hangs, late when it says delay=, as a COM call to the
 * service would. */
int model_create(const char *name, enum dob_job_type type, struct model_answer *out);
int model_add_file(const struct dob_guid *job, const char *url, const char *local,
		   uint64_t size, struct model_answer *out);
int model_query(const struct dob_guid *job, struct model_answer *out);
int model_act(const struct dob_guid *job, enum dob_action action, struct model_answer *out);
int model_attach(const struct dob_guid *job, bool on, struct model_answer *out);
int model_files(const struct dob_guid *job, struct sim_file_info **files, size_t *n);

/* HRESULT of an answer as a COM method returns it. */
HRESULT model_hr(const struct model_answer *a);

/* ------------------------------------------------------------ per-job COM state (jobs.c) */

/* What the model does not keep: the callback a client registered, its
 * flags, and the DO properties. One entry per job id; created on demand. */
struct ejob_props {
	ULONG notify_flags;
	BG_JOB_PRIORITY priority;
	ULONG no_progress_timeout;
	DWORD cost_flags;
	GUID notification_clsid;
};
/* The callback of a job, AddRef'd (NULL when none), and its flags. */
IBackgroundCopyCallback *ejob_callback(const GUID *id, ULONG *flags, GUID *clsid);
/* Sets (cb may be NULL) the callback; the old one is released. */
void ejob_set_callback(const GUID *id, IBackgroundCopyCallback *cb);
/* Drops cb when it is still the job's callback (a dead client). */
void ejob_drop_callback(const GUID *id, IBackgroundCopyCallback *cb);
void ejob_props(const GUID *id, struct ejob_props *out);
void ejob_set_props(const GUID *id, const struct ejob_props *in);
/* Ranges given to AddFileWithRanges for file index i (copy, CoTaskMemAlloc'd). */
void ejob_set_ranges(const GUID *id, size_t file, const BG_FILE_RANGE *r, DWORD n);
HRESULT ejob_ranges(const GUID *id, size_t file, DWORD *n, BG_FILE_RANGE **out);
/* Every job's callback released (a restart forgetting them). */
void ejob_forget_callbacks(void);
/* The scenario's `persist FILE` (model_file; NULL: nothing is kept): the
 * properties are kept in FILE.props from now on, and those it has are
 * loaded. *with_clsid (dob_malloc'd, *n of them) lists the jobs that have a
 * notification class. 0, or -1 when out of memory. */
int ejob_persist(const char *model_file, GUID **with_clsid, size_t *n);

/* ------------------------------------------------------------ COM objects (objects.c) */

HRESULT job_create(const GUID *id, IBackgroundCopyJob **out);
HRESULT error_create(const struct backend_job *snap, IBackgroundCopyError **out);
HRESULT manager_create(REFIID riid, void **out);
/* Server lifetime: live objects (LockServer counts too). */
void server_lock(void);
void server_unlock(void);
/* Withdraws the class object (main.c), so COM starts a new process. */
void server_revoke(void);

/* ------------------------------------------------------------ notifications (notify.c) */

int notify_start(void);
void notify_stop(void);
/* Takes ev (from the model thread): the callback for it is made by a
 * notifier thread. */
void notify_push(struct backend_event *ev);

struct notify_stats {
	uint64_t calls, job_errors, failed, dropped, activated;
	uint64_t coalesced;       /* JobErrors not queued: one for the job was waiting */
	uint64_t max_in_flight;   /* most callbacks in flight at once (at most 4) */
};
void notify_get_stats(struct notify_stats *out);
/* JobError hold times (the caller's view: from the call to its return,
 * marshalling included) since the last reset: how many, p50, p99, max in
 * microseconds. */
void notify_hold_figures(uint64_t *n, uint32_t *p50, uint32_t *p99, uint32_t *max, bool reset);

/* ------------------------------------------------------------ helpers (util in objects.c) */

WCHAR *emu_wide(const char *utf8);        /* CoTaskMemAlloc'd; NULL for NULL */
char *emu_utf8(const WCHAR *w);           /* dob_malloc'd; NULL for NULL */
void emu_guid_to_dob(const GUID *g, struct dob_guid *out);
void emu_dob_to_guid(const struct dob_guid *g, GUID *out);
void emu_filetime(int64_t unix_us, FILETIME *out);

#endif
