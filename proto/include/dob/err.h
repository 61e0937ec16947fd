/*
 * dob/err.h - the project's one error space.
 *
 * Core, codec and client functions return 0 or one of these negated
 * (e.g. -DOB_ENOMEM). Win32 errors, HRESULTs and errno values are converted
 * at the platform edge and never travel through the core.
 */
#ifndef DOB_ERR_H
#define DOB_ERR_H

enum dob_err {
	DOB_OK = 0,
	DOB_ENOMEM = 1,        /* allocation failed */
	DOB_EINVAL = 2,        /* invalid argument (a caller bug or bad input) */
	DOB_EFRAME_TOO_LARGE = 3, /* length prefix above the limit */
	DOB_EFRAME_EMPTY = 4,  /* length prefix 0 */
	DOB_ETRUNCATED = 5,    /* stream ended inside a frame */
	DOB_EMALFORMED = 6,    /* bytes are not a valid Envelope */
	DOB_EFIELD = 7,        /* a field failed validation */
	DOB_EIO = 8,           /* read/write/connect failed */
	DOB_ECLOSED = 9,       /* peer closed the connection */
	DOB_ETIMEDOUT = 10,    /* deadline passed */
	DOB_EAGAIN = 11,       /* would block; try again */
	DOB_EPROTO = 12,       /* the peer broke the conversation (unexpected message) */
	DOB_EVERSION = 13,     /* no common protocol version */
	DOB_ENOTFOUND = 14,    /* no such thing (job, episode, file) */
	DOB_EACCES = 15,       /* not allowed */
	DOB_ESTATE = 16,       /* not allowed in the current state */
	DOB_EEXIST = 17,       /* already there (e.g. a broker on the name) */
	DOB_EFULL = 18,        /* a queue or a limit is full */
	DOB_ECORRUPT = 19,     /* stored data failed its check (CRC) */
	DOB_EBACKEND = 20,     /* the backend (COM) call failed */
	DOB_EREMOTE = 21,      /* the broker answered with an error status */
	DOB_ENOSPC = 22,       /* no space left for the journal */
	DOB_ERR_MAX = DOB_ENOSPC
};

/* Text for a code, positive or negative. Never NULL. */
const char *dob_strerror(int err);

#endif
