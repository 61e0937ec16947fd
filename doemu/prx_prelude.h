/*
 * doemu/prx_prelude.h - included before widl's generated proxy code
 * (doemuprx.dll). MinGW's <unknwnbase.h> declares the IUnknown proxy
 * functions rpcrt4 exports only for C++; the generated C proxy table names
 * them.
 */
#include <windows.h>
#include <objbase.h>

HRESULT STDMETHODCALLTYPE IUnknown_QueryInterface_Proxy(IUnknown *This, REFIID riid, void **ppv);
ULONG STDMETHODCALLTYPE IUnknown_AddRef_Proxy(IUnknown *This);
ULONG STDMETHODCALLTYPE IUnknown_Release_Proxy(IUnknown *This);
