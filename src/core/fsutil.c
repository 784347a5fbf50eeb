#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

#if defined(__linux__) && defined(SYS_openat2)
#include <linux/openat2.h>
#endif

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

/* ---- writes beneath the worktree root --------------------------------- */

/* Why the component rel[0..len) (a child of dirfd named comp) cannot be
 * opened as a directory. */
static int beneath_fail(int dirfd, const char *comp, const char *rel, size_t len, int err)
{
	struct stat st;
	if ((err == ELOOP || err == ENOTDIR || err == EEXIST) &&
	    fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return dits_error_set(DITS_ECONFLICT,
			                      "%.*s: is a symbolic link; dits does not write through it (remove or move it first)",
			                      (int)len, rel);
		if (!S_ISDIR(st.st_mode))
			return dits_error_set(DITS_ECONFLICT, "%.*s: is not a directory", (int)len, rel);
	}
	errno = err;
	if (err == ENOENT)
		return dits_error_set(DITS_ENOTFOUND, "%.*s: no such directory", (int)len, rel);
	return dits_error_errno("%.*s", (int)len, rel);
}

/* One openat2 call; -1 with errno when it fails, ENOSYS when the kernel (or
 * a seccomp filter) does not have it. */
static int open_resolved(int rootfd, const char *rel)
{
#if defined(__linux__) && defined(SYS_openat2) && defined(RESOLVE_BENEATH)
	static int missing; /* set once openat2 is known not to work here */
	if (!__atomic_load_n(&missing, __ATOMIC_RELAXED)) {
		struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
		long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS && errno != EPERM && errno != E2BIG && errno != EINVAL)
			return -1;
		__atomic_store_n(&missing, 1, __ATOMIC_RELAXED);
	}
#else
	(void)rootfd;
	(void)rel;
#endif
	errno = ENOSYS;
	return -1;
}

int dits_open_beneath(int rootfd, const char *rel, bool create, int *out)
{
	*out = -1;
	if (!*rel) {
		int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return dits_error_errno("the worktree root");
		*out = fd;
		return 0;
	}
	/* The common case, every directory there: one call. Anything else
	 * (missing, a link, no openat2) takes the walk, which names the
	 * component and creates what is missing. */
	int fd = open_resolved(rootfd, rel);
	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	int cur = rootfd;
	const char *p = rel;
	int rc = 0;
	char comp[256];
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t upto = (size_t)(p - rel) + n;
		if (n == 0 || n >= sizeof comp || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			rc = dits_error_set(DITS_EINVALID, "%s: not a path inside the worktree", rel);
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		int nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
				rc = beneath_fail(cur, comp, rel, upto, errno);
				break;
			}
			nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		}
		if (nfd < 0) {
			rc = beneath_fail(cur, comp, rel, upto, errno);
			break;
		}
		if (cur != rootfd)
			close(cur);
		cur = nfd;
		p += n;
		if (*p == '/')
			p++;
	}
	if (rc) {
		if (cur != rootfd)
			close(cur);
		return rc;
	}
	*out = cur;
	return 0;
}

int dits_check_beneath(int rootfd, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	if (!slash)
		return 0;
	char *dir = strndup(rel, (size_t)(slash - rel));
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = 0, fd = open_resolved(rootfd, dir);
	if (fd >= 0) { /* all of them directories */
		close(fd);
		free(dir);
		return 0;
	}
	/* Shallowest first: every component before the one looked at is a
	 * real directory, so fstatat resolves no link on the way. */
	for (char *s = dir;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		struct stat st;
		bool stat_ok = fstatat(rootfd, dir, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (stat_ok && S_ISLNK(st.st_mode))
			rc = dits_error_set(DITS_ECONFLICT,
			                    "%s: is a symbolic link; dits does not write through it (remove or move it first)",
			                    dir);
		/* Missing: made later. A file: removed first by a checkout, or
		 * refused when the write gets there. */
		bool stop = !stat_ok || !S_ISDIR(st.st_mode);
		*s = c;
		if (stop || !c)
			break;
	}
	free(dir);
	return rc;
}

void dits_dircache_init(dits_dircache *c, int rootfd)
{
	c->rootfd = rootfd;
	c->rel = NULL;
	c->fd = -1;
}

void dits_dircache_close(dits_dircache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->rel);
	c->rel = NULL;
	c->fd = -1;
}

int dits_dircache_parent(dits_dircache *c, const char *rel, bool create, int *fd, const char **name)
{
	const char *slash = strrchr(rel, '/');
	size_t dl = slash ? (size_t)(slash - rel) : 0;
	*name = slash ? slash + 1 : rel;
	if (!**name)
		return dits_error_set(DITS_EINVALID, "%s: not a file path", rel);
	if (c->fd >= 0 && strlen(c->rel) == dl && !memcmp(c->rel, rel, dl)) {
		*fd = c->fd;
		return 0;
	}
	dits_dircache_close(c);
	char *dir = strndup(rel, dl);
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_open_beneath(c->rootfd, dir, create, &c->fd);
	if (rc) {
		free(dir);
		return rc;
	}
	c->rel = dir;
	*fd = c->fd;
	return 0;
}

double dits_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dits_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int dits_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
		return dits_error_errno("%s: cannot remove", path);
	return 0;
}
