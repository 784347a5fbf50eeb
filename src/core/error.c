#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

int dits_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	return code;
}

int dits_error_errno(const char *fmt, ...)
{
	int saved = errno;
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	int code = DITS_EIO;
	const char *reason = strerror(saved);
	switch (saved) {
	case ENOSPC:
	case EDQUOT:
		code = DITS_ENOSPC;
		reason = "no space left on device";
		break;
	case EFBIG:
		code = DITS_ENOSPC;
		reason = "file size limit reached (no space for the write)";
		break;
	case ENOENT:
		code = DITS_ENOTFOUND;
		reason = "no such file or directory";
		break;
	case ENOMEM:
		code = DITS_ENOMEM;
		break;
	default:
		break;
	}
	snprintf(last_error, sizeof last_error, "%s: %s", what, reason);
	errno = saved;
	return code;
}

int dits_error_wrap(int code, const char *fmt, ...)
{
	char old[sizeof last_error];
	memcpy(old, last_error, sizeof old);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof last_error - 3)
		return code;
	/* Append ": <old message>", cut to fit. */
	size_t room = sizeof last_error - (size_t)n;
	last_error[n] = ':';
	last_error[n + 1] = ' ';
	size_t ol = strnlen(old, sizeof old - 1);
	if (ol > room - 3)
		ol = room - 3;
	memcpy(last_error + n + 2, old, ol);
	last_error[n + 2 + ol] = '\0';
	return code;
}

const char *dits_error_last(void)
{
	return last_error;
}

void dits_error_clear(void)
{
	last_error[0] = '\0';
}
