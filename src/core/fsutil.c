#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

int dits_write_all(int fd, const void *data, size_t len, const char *path)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dits_error_errno("%s: write failed", path);
		}
		if (n == 0) {
			errno = ENOSPC;
			return dits_error_errno("%s: write failed", path);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dits_pread_all(int fd, void *data, size_t len, uint64_t off, const char *path)
{
	uint8_t *p = data;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dits_error_errno("%s: read failed", path);
		}
		if (n == 0)
			return dits_error_set(DITS_ECORRUPT, "%s: truncated (short read at offset %llu)",
			                      path, (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int dits_read_file(const char *path, dits_buf *out)
{
	dits_buf_reset(out);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dits_error_errno("%s", path);
	for (;;) {
		if (dits_buf_grow(out, 65536)) {
			close(fd);
			return DITS_ENOMEM;
		}
		ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int rc = dits_error_errno("%s: read failed", path);
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	close(fd);
	return dits_buf_cstr(out);
}

int dits_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return dits_error_errno("%s", dir);
	int rc = 0;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = dits_error_errno("%s: fsync failed", dir);
	close(fd);
	return rc;
}

int dits_fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return dits_fsync_dir(".");
	if (slash == path)
		return dits_fsync_dir("/");
	char *dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_fsync_dir(dir);
	free(dir);
	return rc;
}

int dits_atomic_write(const char *path, const void *data, size_t len)
{
	char *tmp = dits_strfmt("%s.tmp-%ld", path, (long)getpid());
	if (!tmp)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int rc = dits_error_errno("%s", tmp);
		free(tmp);
		return rc;
	}
	int rc = dits_write_all(fd, data, len, path);
	if (!rc && fsync(fd) < 0)
		rc = dits_error_errno("%s: fsync failed", path);
	if (close(fd) < 0 && !rc)
		rc = dits_error_errno("%s: close failed", path);
	if (!rc && rename(tmp, path) < 0)
		rc = dits_error_errno("%s: rename failed", path);
	if (rc)
		unlink(tmp);
	free(tmp);
	if (!rc)
		rc = dits_fsync_parent(path);
	return rc;
}

int dits_mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	if (!p)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int rc = dits_error_errno("%s: cannot create directory", p);
			free(p);
			return rc;
		}
		*s = '/';
	}
	int rc = 0;
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		rc = dits_error_errno("%s: cannot create directory", p);
	free(p);
	return rc;
}

char *dits_strfmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

char *dits_path_join(const char *a, const char *b)
{
	if (!*a)
		return strdup(b);
	/* Called once per file by status and checkout: no printf machinery. */
	size_t la = strlen(a), lb = strlen(b);
	bool slash = a[la - 1] != '/';
	char *s = malloc(la + slash + lb + 1);
	if (!s)
		return NULL;
	memcpy(s, a, la);
	if (slash)
		s[la] = '/';
	memcpy(s + la + slash, b, lb + 1);
	return s;
}

bool dits_tmp_owner_alive(const char *name, const char *prefix)
{
	const char *p = strstr(name, prefix);
	if (!p)
		return false;
	char *end;
	long pid = strtol(p + strlen(prefix), &end, 10);
	if (end == p + strlen(prefix) || pid <= 0)
		return false;
	if (pid == (long)getpid())
		return true;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

double dits_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
