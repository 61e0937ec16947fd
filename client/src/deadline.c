/*
 * client/src/deadline.c - timeouts as deadlines (deadline.h).
 */
#include "deadline.h"
#include "transport.h"

int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : transport_now_us() + (int64_t)timeout_ms * 1000;
}

int deadline_left_ms(int64_t deadline_us)
{
	int64_t left;

	if (deadline_us < 0)
		return -1;
	left = deadline_us - transport_now_us();
	if (left <= 0)
		return 0;
	left = (left + 999) / 1000;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}
