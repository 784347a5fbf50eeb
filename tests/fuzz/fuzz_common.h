/*
 * fuzz_common.h - what the fuzz targets share: a scratch directory (removed
 * at exit) and writing an input to a file there. Each target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (-Dfuzz=true,
 * clang) or with replay_main.c, which feeds it the files named on its
 * command line (the corpus and the regressions, in the ordinary suite).
 */
#ifndef DITS_FUZZ_COMMON_H
#define DITS_FUZZ_COMMON_H

#include <fcntl.h>
#include <sys/stat.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[4096];

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static inline void fuzz_rm_dir(void)
{
	if (fuzz_dir_path[0])
		nftw(fuzz_dir_path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private scratch directory, made on first use (in /dev/shm when there is
 * one: the targets write a file per input), removed at exit. */
static inline const char *fuzz_dir(void)
{
	if (fuzz_dir_path[0])
		return fuzz_dir_path;
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/dits-fuzz.XXXXXX", base);
	if (!mkdtemp(fuzz_dir_path)) {
		perror(fuzz_dir_path);
		abort();
	}
	atexit(fuzz_rm_dir);
	return fuzz_dir_path;
}

/* Writes data to path (replacing it); aborts on a failure of the machine,
 * which is no finding about the code under test. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		abort();
	}
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			perror(path);
			abort();
		}
		off += (size_t)n;
	}
	close(fd);
}

#endif
