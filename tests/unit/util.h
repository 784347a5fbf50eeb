/*
 * util.h - small helpers shared by the unit tests (all static inline).
 */
#ifndef DITS_TEST_UTIL_H
#define DITS_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads a whole file; NULL on failure. */
static inline uint8_t *util_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*len = n;
	return buf;
}

static inline int util_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	const uint8_t *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd);
}

/* Path of a fixture: $SRCDIR/tests/fixtures/name (SRCDIR defaults to "."). */
static inline char *util_fixture(const char *name)
{
	const char *src = getenv("SRCDIR");
	if (!src || !*src)
		src = ".";
	size_t n = strlen(src) + strlen(name) + 32;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/tests/fixtures/%s", src, name);
	return p;
}

/* A fresh temporary directory (malloc'd path), or NULL. */
static inline char *util_mkdtemp(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	size_t n = strlen(tmp) + strlen(tag) + 32;
	char *p = malloc(n);
	if (!p)
		return NULL;
	snprintf(p, n, "%s/dits-unit-%s-XXXXXX", tmp, tag);
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static inline int util_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void util_rm_rf(const char *path)
{
	if (path)
		nftw(path, util_rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

/* Counts the entries of a directory (without . and ..); -1 on error. */
#include <dirent.h>
static inline int util_count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* xorshift64*: deterministic pseudo-random bytes. */
typedef struct util_rng {
	uint64_t s;
} util_rng;

static inline uint64_t util_rng_next(util_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline void util_rng_fill(util_rng *r, uint8_t *p, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = util_rng_next(r);
		memcpy(p + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = util_rng_next(r);
		memcpy(p + i, &v, n - i);
	}
}

/* Flips one bit of the byte at off in a file. Returns 0 or -1. */
static inline int util_flip_byte(const char *path, off_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	uint8_t c;
	int rc = -1;
	if (pread(fd, &c, 1, off) == 1) {
		c ^= mask;
		if (pwrite(fd, &c, 1, off) == 1)
			rc = 0;
	}
	close(fd);
	return rc;
}

#endif
