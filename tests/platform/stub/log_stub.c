/*
 * tests/platform/stub/log_stub.c - log.h for the platform tests while
 * broker/core/log.c does not exist (the Makefile picks one or the other).
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void dob_log(enum dob_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[%d] ", (int)lvl);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
