/*
 * broker/win32/com_class.c - the broker's COM class (com_class.h): its
 * registration for the user, and the class object that hands the service
 * the broker's callback object.
 */
/* lpVtbl is a pointer to const, so the one vtable can be static const. */
#define CONST_VTABLE
#include <stdio.h>
#include <string.h>

#include <windows.h>
#include <bits.h>
#include <bits3_0.h>
#include <initguid.h>

#include "win32/com_class.h"
#include "win32/win.h"

#include "dob/alloc.h"
#include "log.h"

static volatile LONG server_mode, embedding_mode;

void win_com_server_set(bool embedding)
{
	InterlockedExchange(&server_mode, 1);
	InterlockedExchange(&embedding_mode, embedding ? 1 : 0);
}

bool win_com_server_mode(void)
{
	return server_mode != 0;
}

bool win_com_server_embedding(void)
{
	return embedding_mode != 0;
}

/* ------------------------------------------------------------ registration */

static void class_key(WCHAR *out, size_t n)
{
	WCHAR g[40];

	StringFromGUID2(&CLSID_DobrokerNotify, g, 40);
	swprintf(out, n, L"Software\\Classes\\CLSID\\%ls", g);
}

static int reg_failed(char *err, size_t len, const char *what, LONG rc)
{
	char msg[256];

	snprintf(err, len, "%s: %s", what, win_strerror((DWORD)rc, msg, sizeof(msg)));
	return -1;
}

int win_com_register(const wchar_t *exe, const char *args, bool machine, char *err, size_t len)
{
	HKEY root = machine ? HKEY_LOCAL_MACHINE : HKEY_CURRENT_USER;
	WCHAR key[128], *wargs = NULL, *cmd;
	size_t n;
	HKEY k;
	LONG rc;

	if (win_utf8_to_wide(args ? args : "", &wargs) < 0) {
		snprintf(err, len, "the options are not valid UTF-8");
		return -1;
	}
	n = wcslen(exe) + wcslen(wargs) + 32;
	cmd = dob_malloc(n * sizeof(WCHAR));
	if (!cmd) {
		dob_free(wargs);
		snprintf(err, len, "out of memory");
		return -1;
	}
	swprintf(cmd, n, L"\"%ls\" --com-server%ls%ls", exe, wargs[0] ? L" " : L"", wargs);
	dob_free(wargs);
	class_key(key, 128);
	rc = RegCreateKeyExW(root, key, 0, NULL, 0, KEY_WRITE, NULL, &k, NULL);
	if (rc == ERROR_SUCCESS) {
		static const WCHAR name[] = L"dobroker (Delivery Optimization / BITS error broker)";

		rc = RegSetValueExW(k, NULL, 0, REG_SZ, (const BYTE *)name, sizeof(name));
		RegCloseKey(k);
	}
	if (rc == ERROR_SUCCESS) {
		wcscat(key, L"\\LocalServer32");
		rc = RegCreateKeyExW(root, key, 0, NULL, 0, KEY_WRITE, NULL, &k, NULL);
	}
	if (rc == ERROR_SUCCESS) {
		rc = RegSetValueExW(k, NULL, 0, REG_SZ, (const BYTE *)cmd,
				    (DWORD)((wcslen(cmd) + 1) * sizeof(WCHAR)));
		RegCloseKey(k);
	}
	if (rc == ERROR_SUCCESS && wcslen(cmd) >= MAX_PATH)
		fprintf(stderr,
			"dobrokerd register-com: warning: the command line is %lu characters; Wine's "
			"COM reads only %d (the class is then not found): put the options in a "
			"--config file\n",
			(unsigned long)wcslen(cmd), MAX_PATH - 1);
	if (rc == ERROR_SUCCESS) {
		char *u8 = NULL;

		win_wide_to_utf8(cmd, &u8);
		printf("registered the broker's class for %s: %s\n", machine ? "every user" : "this user",
		       u8 ? u8 : "");
		dob_free(u8);
	}
	dob_free(cmd);
	return rc == ERROR_SUCCESS ? 0 : reg_failed(err, len, "cannot write the class's key", rc);
}

int win_com_unregister(bool machine, char *err, size_t len)
{
	WCHAR key[128];
	LONG rc;

	class_key(key, 128);
	rc = RegDeleteTreeW(machine ? HKEY_LOCAL_MACHINE : HKEY_CURRENT_USER, key);
	if (rc == ERROR_FILE_NOT_FOUND) {
		snprintf(err, len, "the broker's class is not registered for %s",
			 machine ? "the machine" : "this user");
		return -1;
	}
	if (rc != ERROR_SUCCESS)
		return reg_failed(err, len, "cannot remove the class's key", rc);
	printf("removed the broker's class for %s\n", machine ? "the machine" : "this user");
	return 0;
}

/* ------------------------------------------------------------ the class object */

struct factory {
	IClassFactory IClassFactory_iface;
	volatile LONG refs;
	IBackgroundCopyCallback2 *cb; /* owned reference: every instance is it */
};

static struct factory *impl_from(IClassFactory *iface)
{
	return CONTAINING_RECORD(iface, struct factory, IClassFactory_iface);
}

static HRESULT STDMETHODCALLTYPE cf_QueryInterface(IClassFactory *iface, REFIID riid, void **ppv)
{
	if (!ppv)
		return E_POINTER;
	if (riid && (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IClassFactory))) {
		*ppv = iface;
		IClassFactory_AddRef(iface);
		return S_OK;
	}
	*ppv = NULL;
	return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE cf_AddRef(IClassFactory *iface)
{
	return (ULONG)InterlockedIncrement(&impl_from(iface)->refs);
}

static ULONG STDMETHODCALLTYPE cf_Release(IClassFactory *iface)
{
	struct factory *f = impl_from(iface);
	LONG n = InterlockedDecrement(&f->refs);

	if (n == 0) {
		IBackgroundCopyCallback2_Release(f->cb);
		dob_free(f);
	}
	return (ULONG)n;
}

/* The service asks for a callback: the broker's own (one object for every
 * job, as SetNotifyInterface gets). */
static HRESULT STDMETHODCALLTYPE cf_CreateInstance(IClassFactory *iface, IUnknown *outer,
						   REFIID riid, void **ppv)
{
	struct factory *f = impl_from(iface);

	if (!ppv)
		return E_POINTER;
	*ppv = NULL;
	if (outer)
		return CLASS_E_NOAGGREGATION;
	log_info("com: the service created the broker's class (a job's notification class)");
	return IBackgroundCopyCallback2_QueryInterface(f->cb, riid, ppv);
}

/* The broker lives as long as it runs, not as long as COM holds objects:
 * nothing to count. */
static HRESULT STDMETHODCALLTYPE cf_LockServer(IClassFactory *iface, BOOL lock)
{
	return S_OK;
}

static const IClassFactoryVtbl factory_vtbl = {
	cf_QueryInterface, cf_AddRef, cf_Release, cf_CreateInstance, cf_LockServer,
};

HRESULT win_com_class_register(IBackgroundCopyCallback2 *cb, DWORD *cookie)
{
	struct factory *f = dob_calloc(1, sizeof(*f));
	HRESULT hr;

	*cookie = 0;
	if (!f)
		return E_OUTOFMEMORY;
	f->IClassFactory_iface.lpVtbl = &factory_vtbl;
	f->refs = 1;
	f->cb = cb;
	IBackgroundCopyCallback2_AddRef(cb);
	hr = CoRegisterClassObject(&CLSID_DobrokerNotify, (IUnknown *)&f->IClassFactory_iface,
				   CLSCTX_LOCAL_SERVER, REGCLS_MULTIPLEUSE, cookie);
	IClassFactory_Release(&f->IClassFactory_iface); /* COM holds its own */
	return hr;
}

void win_com_class_revoke(DWORD cookie)
{
	if (cookie)
		CoRevokeClassObject(cookie);
}
