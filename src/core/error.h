/*
 * error.h - error codes and the per-thread "last error" message.
 *
 * Every library call returns 0 on success or one of the negative DITS_E*
 * codes below. The human-readable reason is kept aside per thread and read
 * with dits_error_last(), so a caller can print one line naming the thing
 * that failed and why.
 */
#ifndef DITS_ERROR_H
#define DITS_ERROR_H

#include "dits/error.h"

/* Records the message for this thread and returns code. */
int dits_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Records "<what>: <strerror(errno)>" and returns the code that fits errno
 * (DITS_ENOSPC for ENOSPC/EFBIG/EDQUOT, DITS_ENOTFOUND for ENOENT, DITS_EIO
 * otherwise). errno is preserved.
 */
int dits_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefixes the current message with "<prefix>: ". Returns code. */
int dits_error_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
