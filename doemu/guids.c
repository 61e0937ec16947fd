/*
 * doemu/guids.c - the emulator's own identifiers. DO's class and the
 * IDeliveryOptimizationJob IID come from broker/win32/com_guids.c; the BITS
 * IIDs from MinGW's libbits.a.
 */
#include <windows.h>
#include <initguid.h>

/* The emulator's class on a real Windows machine (never DO's own). */
DEFINE_GUID(CLSID_DoEmulator, 0xc95e7682, 0x6fe9, 0x4e6a, 0xae, 0xc0, 0x7a, 0x04, 0xaa, 0x31,
	    0x59, 0x73);
/* The proxy/stub class of doemuprx.dll (IDeliveryOptimizationJob). */
DEFINE_GUID(CLSID_DoEmulatorPS, 0x60c0e9bd, 0x0b31, 0x4f32, 0x94, 0x29, 0x92, 0xd6, 0x5d, 0xc1,
	    0xb0, 0x2b);
/* IBackgroundCopyFile5 (bits5_0.h in the SDK; MinGW has no declaration). */
DEFINE_GUID(IID_IBackgroundCopyFile5, 0x85c1657f, 0xdafc, 0x40e8, 0x88, 0x34, 0xdf, 0x18, 0xea, 0x25,
	    0x71, 0x7e);
