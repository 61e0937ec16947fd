/*
 * broker/win32/program_win32.c - the program half of platform.h on Windows:
 * the entry hook and the COM backends (backend_win32.h).
 *
 * plat_main runs dobrokerd in the console; the service commands of
 * win_service.h (install, uninstall, --service) belong here too and are
 * the Windows platform's to wire in.
 */
#include "backend_win32.h"
#include "dob/err.h"
#include "platform.h"

int plat_main(int argc, char **argv, int (*run)(int argc, char **argv))
{
	return run(argc, argv);
}

int plat_backend_new(struct backend **out, const char *name, char *errbuf, size_t errlen)
{
	return win_backend_new(out, name, errbuf, errlen);
}

const char *plat_default_backend(void)
{
	return "auto";
}
