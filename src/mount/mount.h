/*
 * mount.h - a commit's tree served read-only through FUSE (libfuse3, the
 * low-level API), straight from the store, with a live proxy/master toggle.
 *
 * Every file is served from one manifest: its master's, or in proxy mode
 * its ready proxy variant's (falling back to the master where none is
 * ready). Bytes are read on demand, chunk by chunk, through a dits_blob per
 * open file handle; nothing is materialized. A hidden control file at the
 * mount root, DITS_MOUNT_CONTROL, switches what paths serve:
 *
 *   write "proxy PATH..." or "master PATH...\n"  (relative to the mount root;
 *         a directory means everything under it; no PATH means everything;
 *         a space or backslash in a path is escaped with a backslash)
 *   read  one line per file: "P PATH" (proxy), "M PATH" (master),
 *         "~ PATH" (proxy requested, none ready: serving the master)
 *
 * The write returns once the switch is done: every path switched now leads
 * the kernel to the new content (its directory entry was invalidated); the
 * old content's cached pages and attributes are dropped right after. It
 * fails with ENOENT (unknown path), EINVAL (bad line) or EIO. docs/MOUNT.md
 * explains the cache rules. Every function returns 0 or a negative DITS_E* code and
 * leaves a one-line message in dits_error_last().
 */
#ifndef DITS_MOUNT_H
#define DITS_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "repo.h"

#define DITS_MOUNT_CONTROL ".dits-control"

typedef struct dits_mount_opts {
	const char *mountpoint; /* an existing empty directory */
	const char *rev;        /* the revision served; NULL: HEAD */
	bool proxy;             /* start in proxy mode (default: master) */
	const char *variant;    /* proxy variant type; NULL: the configured one (proxy.resolution) */
	bool foreground;        /* serve in this process until unmounted */
} dits_mount_opts;

typedef struct dits_mount dits_mount;

/*
 * Checks that FUSE can be used here (/dev/fuse exists and opens).
 * DITS_EINVALID with "FUSE is not available: ..." otherwise.
 */
int dits_mount_fuse_available(void);

/*
 * Resolves the revision, flattens its tree, looks up the ready proxies and
 * checks the mount point (exists, is a directory, is empty, is not mounted).
 * r must stay open until dits_mount_free().
 */
int dits_mount_new(dits_mount **out, dits_repo *r, const dits_mount_opts *opts);

/*
 * Mounts and serves. In the foreground it returns after the file system
 * is unmounted (or on SIGINT/SIGTERM, unmounting first). Otherwise it
 * forks a server in its own session and returns in the caller as soon as
 * the mount is live, with the server's pid in *server_pid (may be NULL).
 * The server records itself in .dits/mounts/ and removes the record when
 * it ends. Must be called before any other thread exists.
 */
int dits_mount_serve(dits_mount *m, pid_t *server_pid);

/* The absolute mount point (valid until dits_mount_free). */
const char *dits_mount_point(const dits_mount *m);
/* Files served, and of those, how many have a ready proxy. */
void dits_mount_counts(const dits_mount *m, size_t *files, size_t *with_proxy);
void dits_mount_free(dits_mount *m);

/* ---- records of live mounts (.dits/mounts/) ---------------------------- */

typedef struct dits_mount_record {
	char *mountpoint;
	pid_t pid;
	char *rev;     /* the commit id served, hex */
	char *variant; /* proxy variant type */
} dits_mount_record;

/*
 * The live mounts of r's repository. Records whose server is gone or whose
 * mount point is no longer mounted are removed on the way.
 */
int dits_mount_list(dits_repo *r, dits_mount_record **out, size_t *count);
void dits_mount_list_free(dits_mount_record *list, size_t count);

/*
 * Unmounts a Dits mount (umount2 as root, else fusermount3 -u; lazy: detach
 * even when files are open) and waits for its server to end.
 * DITS_EINVALID when mountpoint is not a Dits mount, DITS_ELOCKED when it
 * is busy (a file inside is open) and lazy is false.
 */
int dits_umount(const char *mountpoint, bool lazy);

/* ---- the control file, from a client ----------------------------------- */

/*
 * Finds the root of the Dits mount that contains path (absolute or
 * relative to the cwd), by walking up to the directory holding
 * DITS_MOUNT_CONTROL on a FUSE file system. *root (malloc'd, absolute,
 * lexically normalized) is NULL when path is not inside a Dits mount.
 * *rel (may be NULL) gets path relative to the root ("" for the root).
 */
int dits_mount_find_root(const char *path, char **root, char **rel);

/*
 * Switches paths (relative to the mount root; n == 0: everything) of the
 * mount at root to proxy or master, through its control file.
 */
int dits_mount_control_set(const char *root, bool proxy, const char *const *rels, size_t n);

/*
 * The repository (its worktree, *workdir) and the commit (*rev_hex, hex)
 * served by the Dits mount at root (as found by dits_mount_find_root).
 */
int dits_mount_source(const char *root, char **workdir, char **rev_hex);

/* Reads the control file's listing ("MODE PATH" lines) into out (replacing it). */
int dits_mount_control_list(const char *root, dits_buf *out);

#endif
