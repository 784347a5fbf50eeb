/*
 * worktree.h - what a user does to a worktree: add, rm, status, commit,
 * checkout; and the flattened view of a tree used to compare them.
 */
#ifndef DITS_WORKTREE_H
#define DITS_WORKTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "fsutil.h"
#include "index.h"
#include "ingest.h"
#include "repo.h"

/* Progress over a known number of bytes; every member may be NULL. */
typedef struct dits_progress {
	void (*start)(void *ctx, const char *what, uint64_t total_bytes, uint64_t total_files);
	void (*advance)(void *ctx, uint64_t bytes);
	void (*file_done)(void *ctx);
	void (*finish)(void *ctx);
	void *ctx;
} dits_progress;

/* A tree flattened to its files, sorted by path. */
typedef struct dits_flat_entry {
	char *path;
	uint32_t mode;
	uint64_t size;
	dits_id id;
} dits_flat_entry;

typedef struct dits_flat {
	dits_flat_entry *e;
	size_t n, cap;
} dits_flat;

/* Flattens the tree of commit (a zero id gives an empty list). */
int dits_flat_from_commit(dits_repo *r, const dits_id *commit, dits_flat *out);
int dits_flat_from_tree(dits_repo *r, const dits_id *tree, dits_flat *out);
/* The tree of HEAD, empty when there is no commit yet. */
int dits_flat_from_head(dits_repo *r, dits_flat *out, bool *has_head, dits_id *head);
const dits_flat_entry *dits_flat_find(const dits_flat *f, const char *path);
void dits_flat_free(dits_flat *f);

/* True when path is dir or lies below it ("" is the whole worktree). */
bool dits_path_is_under(const char *path, const char *dir);

/* ---- add / rm ------------------------------------------------------ */

typedef struct dits_add_result {
	uint64_t files, bytes;          /* files staged and their total size */
	uint64_t hashed_files, hashed_bytes; /* of those, read because their stat changed */
	uint64_t new_chunks, new_bytes; /* chunk bytes newly stored */
	uint64_t removed;               /* deletions staged */
	uint64_t new_masters;           /* files in proxy mode the user really changed */
} dits_add_result;

/* Stages paths (relative to the cwd); directories recurse and honour .ditsignore. */
int dits_add(dits_repo *r, const char *const *paths, size_t n, const dits_progress *p,
             dits_add_result *res);

typedef void (*dits_path_fn)(void *ctx, const char *path);
int dits_rm(dits_repo *r, const char *const *paths, size_t n, bool cached, dits_path_fn fn, void *ctx);

/* ---- status -------------------------------------------------------- */

enum { DITS_ST_ADDED = 'A', DITS_ST_MODIFIED = 'M', DITS_ST_DELETED = 'D', DITS_ST_UNTRACKED = '?' };

typedef struct dits_status_item {
	char *path;
	char status;
} dits_status_item;

typedef struct dits_status_list {
	dits_status_item *v;
	size_t n, cap;
} dits_status_list;

typedef struct dits_status {
	char *branch;   /* "main", or NULL when HEAD is detached */
	bool has_head;
	dits_id head;
	dits_status_list staged, unstaged, untracked;
	uint64_t hashed_files; /* files whose content had to be read */
	dits_index *idx;       /* the index as compared (with fresh stat data), for the caller */
} dits_status;

int dits_status_compute(dits_repo *r, dits_status *st);
void dits_status_free(dits_status *st);

/* ---- commit -------------------------------------------------------- */

/*
 * Records the index as a commit on the current branch (or detached HEAD).
 * Progress counts the staged bytes whose chunks are confirmed present.
 * DITS_EINVALID "nothing to commit" when the tree equals the parent's.
 */
int dits_commit_create(dits_repo *r, const char *message, bool allow_empty, dits_id *out,
                       const dits_progress *p);

/*
 * Writes (to w) the trees of base (a tree id; NULL: an empty tree) with the
 * file at path ("renders/cut.mov") added or replaced by manifest, creating
 * the directories it needs; *out receives the new root tree's id. For a
 * repository without an index (a server's). A file where a directory must
 * go, or the other way round, is DITS_ECONFLICT; a refused name
 * DITS_EINVALID.
 */
int dits_tree_put_file(dits_odb *odb, dits_pack_writer *w, const dits_id *base, const char *path, uint32_t mode,
                       uint64_t size, const dits_id *manifest, dits_id *out);

/* One file put on top of a commit by dits_commit_put_file. */
typedef struct dits_file_commit {
	const char *path;        /* where in the tree ("renders/cut.mov") */
	uint64_t size;           /* the file's size in bytes */
	const dits_id *manifest; /* its manifest, in w or already in the store */
	const char *message;     /* the commit message, trailers included */
} dits_file_commit;

/*
 * Commits f on top of parent (a zero id: a root commit holding only f) and
 * moves ref to it if ref still holds *old (a zero id: ref must not exist),
 * for a repository without an index (a server's). Writes, with w, the
 * trees and the commit (parent as its only parent, the default signature),
 * finishes w and compare-and-swaps ref with log_msg in its reflog; the
 * caller holds the repository lock. *made receives the commit's id.
 * DITS_ECONFLICT when ref moved: w is finished by then, so the caller takes
 * a new writer for another try. When unchanged is not NULL and parent's
 * tree already has f, *unchanged is set and nothing is written or moved.
 */
int dits_commit_put_file(dits_repo *r, dits_pack_writer *w, const dits_file_commit *f, const dits_id *parent,
                         const char *ref, const dits_id *old, const char *log_msg, dits_id *made,
                         bool *unchanged);

/* ---- checkout ------------------------------------------------------ */

/*
 * Switches the worktree, index and HEAD to commit. branch_ref
 * ("refs/heads/x") makes HEAD point at the branch, NULL detaches it.
 * Refuses (DITS_ECONFLICT, nothing changed) when local changes would be lost.
 */
int dits_checkout_commit(dits_repo *r, const dits_id *commit, const char *branch_ref,
                         const dits_progress *p);

/* How dits_checkout_commit_opts writes files; every member may be zero. */
typedef struct dits_checkout_opts {
	/*
	 * Write this ready variant (e.g. proxy_1080p), when all of its bytes
	 * are local, at the master's path in proxy mode instead of the master:
	 * a partial clone materializes proxies without the masters.
	 */
	const char *proxy_variant;
	/* Called per file written: DITS_MODE_SWAPPED (proxy) or DITS_MODE_KEPT_MASTER. */
	void (*report)(void *ctx, const char *path, int outcome, const char *why);
	void *ctx;
} dits_checkout_opts;

int dits_checkout_commit_opts(dits_repo *r, const dits_id *commit, const char *branch_ref,
                              const dits_progress *p, const dits_checkout_opts *o);

/* Restores paths from commit (NULL: from the index) into worktree and index. */
int dits_checkout_paths(dits_repo *r, const dits_id *commit, const char *const *paths, size_t n,
                        const dits_progress *p);

/* ---- proxy mode ---------------------------------------------------- */

enum {
	DITS_MODE_SWAPPED = 1,     /* the file now holds the requested content */
	DITS_MODE_ALREADY = 2,     /* it already did */
	DITS_MODE_KEPT_MASTER = 3, /* no ready proxy: the master stays (why says so) */
};
typedef void (*dits_mode_report_fn)(void *ctx, const char *path, int outcome, const char *why);

/*
 * Puts, at each tracked file's own path under paths (user paths; n == 0:
 * every tracked file), its ready variant of variant_type (proxy true) or
 * its master (proxy false). Files without a ready variant keep the master.
 * Refuses with DITS_ECONFLICT, changing nothing, when a selected file has
 * uncommitted changes. Crash-safe: see mode.c.
 */
int dits_worktree_set_mode(dits_repo *r, const char *const *paths, size_t n, bool proxy,
                           const char *variant_type, const dits_progress *p, dits_mode_report_fn fn,
                           void *ctx);

/* ---- shared with checkout ----------------------------------------- */

/*
 * Compares the worktree with idx: state[k] becomes 0, 'M' or 'D' for each
 * index entry; untracked files are appended to untracked (may be NULL).
 */
int dits_worktree_state(dits_repo *r, dits_index *idx, char *state, dits_status_list *untracked);
/* Removes the now-empty parent directories of rel (never through a link). */
void dits_prune_empty_dirs(dits_repo *r, const char *rel);

/*
 * The directories a worktree write goes through (fsutil.h): the worktree
 * root, .dits/tmp where files are staged (-1: staged beside the target),
 * and the directory of the last file. No write follows a symbolic link.
 */
typedef struct dits_wt_fds {
	int root, tmp;
	dits_dircache dir;
} dits_wt_fds;

int dits_wt_fds_open(dits_repo *r, dits_wt_fds *f);
void dits_wt_fds_close(dits_wt_fds *f);
/*
 * Refuses (DITS_ECONFLICT, "<dir>: is a symbolic link; ...") a worktree
 * path whose leading directories hold a symbolic link or a file; missing
 * ones are fine. Every path a command writes or removes is checked before
 * the first change.
 */
int dits_wt_check(dits_wt_fds *f, const char *rel);
/* Removes the worktree file rel (gone already is fine). */
int dits_wt_unlink(dits_wt_fds *f, const char *rel);

#endif
