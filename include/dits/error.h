/*
 * dits/error.h - error codes and the per-thread "last error" message.
 *
 * Every library call returns 0 on success or one of the negative DITS_E*
 * codes below. The human-readable reason is kept aside per thread and read
 * with dits_error_last(), so a caller can print one line naming the thing
 * that failed and why.
 */
#ifndef DITS_PUBLIC_ERROR_H
#define DITS_PUBLIC_ERROR_H

enum {
	DITS_OK = 0,
	DITS_ERROR = -1,     /* generic failure */
	DITS_ENOTFOUND = -2, /* object, ref, path or revision does not exist */
	DITS_EEXISTS = -3,   /* something is already there */
	DITS_EAMBIGUOUS = -4,/* a short id matches more than one object */
	DITS_ECORRUPT = -5,  /* stored bytes do not match their hash or format */
	DITS_EVERSION = -6,  /* repository written by a newer format version */
	DITS_ECONFLICT = -7, /* compare-and-swap lost, or local changes in the way */
	DITS_EINVALID = -8,  /* bad argument or input */
	DITS_EIO = -9,       /* an I/O call failed */
	DITS_ENOSPC = -10,   /* disk full or file size limit reached */
	DITS_ENOMEM = -11,
	DITS_ELOCKED = -12,  /* another process holds the repository lock */
};

/* The last message set on this thread ("" when none). */
const char *dits_error_last(void);
void dits_error_clear(void);

#endif
