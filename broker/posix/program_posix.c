/*
 * broker/posix/program_posix.c - the program half of platform.h on POSIX:
 * the entry hook, the backends (only the portable sim exists here), and
 * operator events (no platform sink: they are structured log lines, which
 * syslog/journald collectors pick up from the log).
 */
#include <stdio.h>

#include "dob/err.h"
#include "platform.h"

int plat_main(int argc, char **argv, int (*run)(int argc, char **argv))
{
	return run(argc, argv);
}

int plat_backend_new(struct backend **out, const char *name, char *errbuf, size_t errlen)
{
	*out = NULL;
	snprintf(errbuf, errlen,
		 "backend '%s' is not available on this platform (only 'sim' is; 'do', 'bits' "
		 "and 'auto' need Windows)",
		 name);
	return -DOB_ENOTFOUND;
}

const char *plat_default_backend(void)
{
	return "sim";
}

int plat_events_open(char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		errbuf[0] = '\0';
	return 0;
}

void plat_events_close(void)
{
}
