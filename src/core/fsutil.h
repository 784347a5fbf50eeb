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
/* Removes path and everything under it (symlinks are not followed); 0 when
 * it is gone or was never there, else an error naming what stayed. */
int dits_remove_tree(const char *path);
/* Joins a and b with one '/' into a malloc'd string (NULL on ENOMEM). */
char *dits_path_join(const char *a, const char *b);
/* Formats into a malloc'd string. */
char *dits_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * True when name embeds the pid of a live process after prefix (e.g.
 * "tmp-1234-..." with prefix "tmp-"): its temporary files are in use.
 */
bool dits_tmp_owner_alive(const char *name, const char *prefix);

/*
 * Worktree writes never follow a symbolic link. A directory below the
 * worktree root is opened one component at a time with
 * openat(O_DIRECTORY | O_NOFOLLOW) from rootfd (in one openat2 call with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it), and every
 * create, rename and unlink is done relative to the fd of the directory
 * that holds the name. rel is "/"-separated, relative, without "." or ".."
 * components; "" is the root itself.
 *
 * dits_open_beneath opens rel and stores a new fd in *fd. With create,
 * missing directories are made (0755). A component that is a symbolic link
 * fails with DITS_ECONFLICT and "<component>: is a symbolic link; ...",
 * one that is another non-directory with DITS_ECONFLICT and "<component>:
 * is not a directory"; a missing one (without create) with DITS_ENOTFOUND.
 * The messages name the worktree-relative path of the component.
 */
int dits_open_beneath(int rootfd, const char *rel, bool create, int *fd);

/*
 * Checks that no leading directory of the worktree-relative file path rel
 * is a symbolic link (DITS_ECONFLICT, the message as dits_open_beneath's).
 * Missing directories and files in the way are not refused here.
 */
int dits_check_beneath(int rootfd, const char *rel);

/*
 * The directory of the last file written, kept open: a checkout writes the
 * files of one directory one after another (paths are sorted).
 */
typedef struct dits_dircache {
	int rootfd; /* not owned */
	char *rel;  /* the directory fd is open on */
	int fd;     /* -1: none */
} dits_dircache;

void dits_dircache_init(dits_dircache *c, int rootfd);
/*
 * The fd of the directory that holds the worktree-relative file path rel
 * (opened as dits_open_beneath does, with create); *name receives the
 * file's last component (a pointer into rel). The fd stays owned by c.
 */
int dits_dircache_parent(dits_dircache *c, const char *rel, bool create, int *fd, const char **name);
void dits_dircache_close(dits_dircache *c);

/* A monotonic clock in seconds. */
double dits_now(void);
/* Sleeps ms milliseconds, through signals. */
void dits_sleep_ms(unsigned ms);

#endif
