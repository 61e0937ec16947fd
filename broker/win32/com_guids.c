/*
 * broker/win32/com_guids.c - the one place DO's GUIDs are instantiated
 * (do_guids.h). BITS GUIDs come from libbits.a; <bits.h> is included before
 * <initguid.h> so they stay declarations here.
 */
#include <windows.h>
#include <bits.h>
#include <initguid.h>

#include "do_guids.h"
