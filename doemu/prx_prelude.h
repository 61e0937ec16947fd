/*
 * doemu/prx_prelude.h - included before widl's generated proxy code
 * (doemuprx.dll). MinGW's <unknwnbase.h> declares the IUnknown proxy
 * functions rpcrt4 exports only for C++; the generated C proxy table names
 * them. Job5's and File5's proxies delegate their base interfaces' methods
 * to the system's BITS proxy/stub (doemu.idl): PROXY_DELEGATION makes
 * <rpcproxy.h> define the delegating stub's release, which the generated
 * stub tables name.
 */
#define PROXY_DELEGATION
#include <windows.h>
#include <objbase.h>

HRESULT STDMETHODCALLTYPE IUnknown_QueryInterface_Proxy(IUnknown *This, REFIID riid, void **ppv);
ULONG STDMETHODCALLTYPE IUnknown_AddRef_Proxy(IUnknown *This);
ULONG STDMETHODCALLTYPE IUnknown_Release_Proxy(IUnknown *This);
