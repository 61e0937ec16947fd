/*
 * err.c - text for the project's one error space (dob/err.h), and the
 * filling of struct dob_codec_error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dob/err.h"
#include "internal.h"

static const char *const texts[] = {
	[DOB_OK] = "success",
	[DOB_ENOMEM] = "out of memory",
	[DOB_EINVAL] = "invalid argument",
	[DOB_EFRAME_TOO_LARGE] = "frame larger than the limit",
	[DOB_EFRAME_EMPTY] = "empty frame",
	[DOB_ETRUNCATED] = "stream ended inside a frame",
	[DOB_EMALFORMED] = "malformed message",
	[DOB_EFIELD] = "invalid field",
	[DOB_EIO] = "input/output error",
	[DOB_ECLOSED] = "connection closed by the peer",
	[DOB_ETIMEDOUT] = "timed out",
	[DOB_EAGAIN] = "try again",
	[DOB_EPROTO] = "protocol violation",
	[DOB_EVERSION] = "no common protocol version",
	[DOB_ENOTFOUND] = "not found",
	[DOB_EACCES] = "access denied",
	[DOB_ESTATE] = "not allowed in the current state",
	[DOB_EEXIST] = "already exists",
	[DOB_EFULL] = "full",
	[DOB_ECORRUPT] = "stored data is corrupt",
	[DOB_EBACKEND] = "backend call failed",
	[DOB_EREMOTE] = "the broker answered with an error",
	[DOB_ENOSPC] = "no space left",
};

_Static_assert(sizeof texts / sizeof texts[0] == DOB_ERR_MAX + 1,
	       "every dob_err code has a text");

const char *dob_strerror(int err)
{
	/* Negate in unsigned arithmetic: -INT_MIN would overflow. */
	unsigned u = err < 0 ? 0u - (unsigned)err : (unsigned)err;

	if (u <= DOB_ERR_MAX && texts[u])
		return texts[u];
	return "unknown error";
}

int err_set(struct dob_codec_error *err, int code, enum dob_perr perr,
	    const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->perr = perr;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return code;
}
