/*
 * broker/posix/err_posix.c - errno to the project's error space, in one place.
 */
#include <errno.h>

#include "dob/err.h"
#include "posix.h"

int posix_err(int e)
{
	switch (e) {
	case 0:
		return 0;
	case ENOMEM:
	case ENOBUFS:
		return -DOB_ENOMEM;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return -DOB_ENOSPC;
	case ENOENT:
	case ENOTDIR:
		return -DOB_ENOTFOUND;
	case EACCES:
	case EPERM:
	case EROFS:
	case ELOOP: /* a symlink where we refuse to follow one */
		return -DOB_EACCES;
	case EEXIST:
	case EADDRINUSE:
		return -DOB_EEXIST;
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return -DOB_EAGAIN;
	case EPIPE:
	case ECONNRESET:
	case ECONNREFUSED:
	case ENOTCONN:
		return -DOB_ECLOSED;
	case ETIMEDOUT:
		return -DOB_ETIMEDOUT;
	case EINVAL:
	case ENAMETOOLONG:
	case EBADF:
		return -DOB_EINVAL;
	default:
		return -DOB_EIO;
	}
}
