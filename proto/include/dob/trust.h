/*
 * dob/trust.h - the portable halves of the trust rules (docs/security.md):
 * which URLs the broker fetches for a client and which local path forms it
 * writes to. Pure functions (no I/O), shared by the broker core, the Windows
 * platform and the tests; implemented in proto/validate.c.
 */
#ifndef DOB_TRUST_H
#define DOB_TRUST_H

#include <stdbool.h>
#include <stddef.h>

/* An http:// or https:// URL (scheme case-insensitive) with a non-empty
 * host part. Nothing else is fetched for a client: no ftp://, file://,
 * \\server\share, or scheme-less text. */
bool dob_url_http(const char *url);

/* Why a Windows local path is refused, or DOB_WPATH_OK. Accepted: "X:\..."
 * (drive letter, colon, backslash or slash), every component a plain name.
 * Refused, each with its own kind:
 *   DOB_WPATH_EMPTY          ""
 *   DOB_WPATH_VERBATIM       \\?\... and \??\... (no normalisation: names
 *                            Windows' own rules would refuse)
 *   DOB_WPATH_DEVICE         \\.\... (devices, pipes, volumes)
 *   DOB_WPATH_UNC            \\server\share\... (the broker's own network
 *                            credentials would be used)
 *   DOB_WPATH_RELATIVE       "a\b", "\a" (current drive), "X:a" (current
 *                            directory of drive X)
 *   DOB_WPATH_DOTS           a "." or ".." component, or one ending in a dot
 *                            or space (Windows strips those)
 *   DOB_WPATH_STREAM         a ':' after the drive (alternate data stream)
 *   DOB_WPATH_RESERVED       a component that is a DOS device name (CON,
 *                            NUL, COM1, LPT1, ... with or without an
 *                            extension)
 *   DOB_WPATH_BAD_CHARACTER  control characters or one of < > " | * ?
 */
enum dob_wpath {
	DOB_WPATH_OK = 0,
	DOB_WPATH_EMPTY,
	DOB_WPATH_VERBATIM,
	DOB_WPATH_DEVICE,
	DOB_WPATH_UNC,
	DOB_WPATH_RELATIVE,
	DOB_WPATH_DOTS,
	DOB_WPATH_STREAM,
	DOB_WPATH_RESERVED,
	DOB_WPATH_BAD_CHARACTER,
};
enum dob_wpath dob_win_path_check(const char *path);
/* "UNC paths are refused", ...: one short English sentence per kind. */
const char *dob_win_path_reason(enum dob_wpath k);

#endif
