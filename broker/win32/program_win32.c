/*
 * broker/win32/program_win32.c - the program half of platform.h on Windows:
 * the entry hook and the COM backends (backend_win32.h).
 *
 * plat_main runs dobrokerd in the console, or handles the service commands
 * of win_service.h (install, uninstall, --service): win_program_main.
 */
#include "backend_win32.h"
#include "dob/err.h"
#include "platform.h"
#include "win32/win_service.h"

int plat_main(int argc, char **argv, int (*run)(int argc, char **argv))
{
	/* install / uninstall / --service, UTF-8 arguments: service_win32.c */
	return win_program_main(argc, argv, run);
}

int plat_backend_new(struct backend **out, const char *name, char *errbuf, size_t errlen)
{
	return win_backend_new(out, name, errbuf, errlen);
}

const char *plat_default_backend(void)
{
	return "auto";
}
