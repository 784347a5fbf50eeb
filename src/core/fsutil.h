/*
 * fsutil.h - file helpers that keep invariant 5: nothing half-written is
 * ever visible. Files are written to a temporary name beside the target,
 * fsynced, renamed over it, and the directory is fsynced.
 */
#ifndef DITS_FSUTIL_H
#define DITS_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* write(2) until done; on failure sets an error naming path. */
int dits_write_all(int fd, const void *data, size_t len, const char *path);
/* pread(2) exactly len bytes at off; short read is DITS_ECORRUPT. */
int dits_pread_all(int fd, void *data, size_t len, uint64_t off, const char *path);
/* Reads a whole (small) file into out (replacing its contents). */
int dits_read_file(const char *path, dits_buf *out);
/*
 * Atomically replaces path with data: PATH.tmp-PID is written, fsynced and
 * renamed over path; then the directory is fsynced.
 */
int dits_atomic_write(const char *path, const void *data, size_t len);
int dits_fsync_dir(const char *dir);
/* fsync of the directory that holds path. */
int dits_fsync_parent(const char *path);
int dits_mkdir_p(const char *path, mode_t mode);
/* Joins a and b with one '/' into a malloc'd string (NULL on ENOMEM). */
char *dits_path_join(const char *a, const char *b);
/* Formats into a malloc'd string. */
char *dits_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * True when name embeds the pid of a live process after prefix (e.g.
 * "tmp-1234-..." with prefix "tmp-"): its temporary files are in use.
 */
bool dits_tmp_owner_alive(const char *name, const char *prefix);

/* A monotonic clock in seconds. */
double dits_now(void);

#endif
