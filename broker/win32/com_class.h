/*
 * broker/win32/com_class.h - the broker as a COM class, so the service can
 * start it: BITS_JOB_PROPERTY_NOTIFICATION_CLSID (docs/do-emulator.md,
 * "The broker started by the service").
 *
 * CLSID_DobrokerNotify is the broker's own class. `dobrokerd register-com
 * [--machine] OPTIONS...` registers it for the user
 * (HKCU\Software\Classes\CLSID\{...}; HKLM with --machine), LocalServer32 =
 * "dobrokerd.exe" --com-server OPTIONS...; `dobrokerd unregister-com
 * [--machine]` removes it. A broker started with
 * --com-server (by hand, at logon, or by COM, which adds -Embedding):
 *   - registers its class object (CoRegisterClassObject, REGCLS_MULTIPLEUSE)
 *     once its backend delivers events, whose instances are the broker's
 *     own callback object (com_callback.c): a JobError on one is a JobError
 *     on the broker;
 *   - sets its class as the notification class of every job it submits or
 *     adopts, where the service has IBackgroundCopyJob5 (DO; not Wine's
 *     BITS), and puts back the class an adopted job had when it stops
 *     managing it (backend_com.c).
 * So when a job fails while no broker runs (no live callback), the service
 * creates the class: COM starts the broker with the registered options, it
 * starts as the normal broker (journal, pipe, re-attach), and the JobError
 * it receives opens an episode that subscribers get when they connect.
 */
#ifndef DOB_WIN32_COM_CLASS_H
#define DOB_WIN32_COM_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include <windows.h>
#include <bits.h>
#include <bits3_0.h>

/* {AFF11773-A2C5-4781-BB82-E2BE343E212C}, instantiated in com_class.c. */
DEFINE_GUID(CLSID_DobrokerNotify, 0xaff11773, 0xa2c5, 0x4781, 0xbb, 0x82, 0xe2, 0xbe, 0x34, 0x3e,
	    0x21, 0x2c);

/* --com-server mode, set by the entry point before run(); embedding: COM
 * started the process (-Embedding on the command line). */
void win_com_server_set(bool embedding);
bool win_com_server_mode(void);
bool win_com_server_embedding(void);

/* The class's registration for the user (HKCU\Software\Classes), or with
 * machine for every user (HKLM: an administrator; Wine 8's COM reads only
 * this one): LocalServer32 = "exe" --com-server args (args: the options,
 * each quoted as the command line needs). 0, or -1 with the reason in err. */
int win_com_register(const wchar_t *exe, const char *args, bool machine, char *err, size_t len);
/* Removes it. 0; -1 with the reason (not registered, or the registry
 * refused). */
int win_com_unregister(bool machine, char *err, size_t len);

/* The class object whose instances are cb (which it holds a reference on),
 * registered from an MTA thread. *cookie for win_com_class_revoke. */
HRESULT win_com_class_register(IBackgroundCopyCallback2 *cb, DWORD *cookie);
void win_com_class_revoke(DWORD cookie); /* 0 is ignored; on an MTA thread */

#endif
