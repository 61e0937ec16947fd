/*
 * broker/posix/clock_posix.c - monotonic and wall clocks.
 */
#include <time.h>

#include "platform.h"

static int64_t read_us(clockid_t id)
{
	struct timespec ts;

	/* Cannot fail for these clocks on Linux; 0 would be a visible bug. */
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t plat_now_ms(void)
{
	return read_us(CLOCK_MONOTONIC) / 1000;
}

int64_t plat_now_us(void)
{
	return read_us(CLOCK_MONOTONIC);
}

int64_t plat_wall_us(void)
{
	return read_us(CLOCK_REALTIME);
}
