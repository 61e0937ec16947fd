/*
 * broker/win32/clock_win32.c - monotonic time from QueryPerformanceCounter,
 * wall time from GetSystemTimePreciseAsFileTime.
 */
#include "win32/win.h"

#include "platform.h"

/* Microseconds of the performance counter, without overflow: the counter
 * frequency is fixed at boot and never 0 on Windows XP and later (asked
 * each time: it is a read of a shared page, and no static is shared). */
int64_t plat_now_us(void)
{
	LARGE_INTEGER freq, c;
	QueryPerformanceFrequency(&freq);
	QueryPerformanceCounter(&c);
	int64_t f = freq.QuadPart;
	return c.QuadPart / f * 1000000 + c.QuadPart % f * 1000000 / f;
}

int64_t plat_now_ms(void)
{
	return plat_now_us() / 1000;
}

/* FILETIME counts 100 ns since 1601-01-01 UTC; 11644473600 s to 1970. */
int64_t plat_wall_us(void)
{
	FILETIME ft;
	GetSystemTimePreciseAsFileTime(&ft);
	uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	return (int64_t)(t / 10) - INT64_C(11644473600000000);
}
